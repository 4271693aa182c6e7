/*
 * libqos driver for chimney-nic: a model guest driver
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "hw/pci/pci_regs.h"
#include "../libqtest.h"
#include "chimney.h"

static void qchimney_found(QPCIDevice *dev, int devfn, void *data)
{
    *(QPCIDevice **)data = dev;
}

QPCIDevice *qchimney_find(QPCIBus *bus)
{
    QPCIDevice *dev = NULL;

    qpci_device_foreach(bus, CHIMNEY_PCI_VENDOR_ID, CHIMNEY_PCI_DEVICE_ID,
                        qchimney_found, &dev);
    g_assert(dev);
    return dev;
}

uint32_t qchimney_readl(QChimney *c, uint32_t reg)
{
    return qpci_io_readl(c->pdev, c->bar, reg);
}

void qchimney_writel(QChimney *c, uint32_t reg, uint32_t val)
{
    qpci_io_writel(c->pdev, c->bar, reg, val);
}

bool qchimney_wait_status(QChimney *c, uint32_t mask, uint32_t value)
{
    gint64 deadline = g_get_monotonic_time() + QCHIMNEY_TIMEOUT_US;

    while ((qchimney_readl(c, CHIMNEY_REG_STATUS) & mask) != value) {
        if (g_get_monotonic_time() > deadline) {
            return false;
        }
        g_usleep(100);
    }
    return true;
}

void qchimney_ring_doorbell(QChimney *c, QChimneyRing *r)
{
    qchimney_writel(c, r->doorbell, r->tail);
}

/* Point vector @v's MSI-X message at its word in msi_page. */
static void qchimney_msix_setup(QChimney *c)
{
    QPCIDevice *d = c->pdev;

    qpci_msix_enable(d);
    for (uint32_t v = 0; v < c->id.num_vectors; v++) {
        uint64_t entry = d->msix_table_off + v * PCI_MSIX_ENTRY_SIZE;
        uint64_t addr = c->msi_page + 4 * v;

        qpci_io_writel(d, d->msix_table_bar, entry + PCI_MSIX_ENTRY_LOWER_ADDR,
                       addr);
        qpci_io_writel(d, d->msix_table_bar, entry + PCI_MSIX_ENTRY_UPPER_ADDR,
                       addr >> 32);
        qpci_io_writel(d, d->msix_table_bar, entry + PCI_MSIX_ENTRY_DATA,
                       0x100 + v);
        qchimney_msi_mask(c, v, false);
    }
}

void qchimney_msi_mask(QChimney *c, uint32_t vector, bool masked)
{
    QPCIDevice *d = c->pdev;
    uint64_t ctrl = d->msix_table_off + vector * PCI_MSIX_ENTRY_SIZE +
                    PCI_MSIX_ENTRY_VECTOR_CTRL;

    qpci_io_writel(d, d->msix_table_bar, ctrl,
                   masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0);
}

bool qchimney_msi_fired(QChimney *c, uint32_t vector)
{
    return qtest_readl(c->qts, c->msi_page + 4 * vector) == 0x100 + vector;
}

void qchimney_msi_clear(QChimney *c, uint32_t vector)
{
    qtest_writel(c->qts, c->msi_page + 4 * vector, 0);
}

static uint64_t qchimney_alloc_zeroed(QChimney *c, size_t bytes)
{
    uint64_t addr = guest_alloc(c->alloc, bytes + CHIMNEY_RING_ALIGN);

    addr = QEMU_ALIGN_UP(addr, CHIMNEY_RING_ALIGN);
    qtest_memset(c->qts, addr, 0, bytes);
    return addr;
}

bool qchimney_cq_poll(QChimney *c, uint32_t cqid, ChimneyCqe *cqe)
{
    QChimneyCQ *cq = &c->cq[cqid];
    uint64_t addr = cq->base + (uint64_t)cq->head * CHIMNEY_CQE_SIZE;
    uint32_t last = qtest_readl(c->qts,
                                addr + offsetof(ChimneyCqe, type_status));

    if (!!(last & CHIMNEY_CQE_PHASE) != cq->phase) {
        return false;
    }
    qtest_memread(c->qts, addr, cqe, sizeof(*cqe));
    cqe->obj = le32_to_cpu(cqe->obj);
    cqe->sq_head = le32_to_cpu(cqe->sq_head);
    cqe->cookie = le64_to_cpu(cqe->cookie);
    cqe->bytes = le32_to_cpu(cqe->bytes);
    cqe->aux = le32_to_cpu(cqe->aux);
    cqe->queue = le16_to_cpu(cqe->queue);
    cqe->info = le16_to_cpu(cqe->info);
    cqe->type_status = le32_to_cpu(cqe->type_status);
    cq->head = (cq->head + 1) & (cq->size - 1);
    if (cq->head == 0) {
        cq->phase ^= 1;
    }
    return true;
}

void qchimney_cq_ack(QChimney *c, uint32_t cqid)
{
    qchimney_writel(c, CHIMNEY_DB_CQ_HEAD(cqid), c->cq[cqid].head);
}

bool qchimney_cq_wait_timeout(QChimney *c, uint32_t cqid, ChimneyCqe *cqe,
                              int64_t timeout_us)
{
    gint64 deadline = g_get_monotonic_time() + timeout_us;

    for (;;) {
        if (qchimney_cq_poll(c, cqid, cqe)) {
            qchimney_cq_ack(c, cqid);
            return true;
        }
        if (g_get_monotonic_time() > deadline) {
            return false;
        }
        g_usleep(50);
    }
}

void qchimney_cq_wait(QChimney *c, uint32_t cqid, ChimneyCqe *cqe)
{
    g_assert(qchimney_cq_wait_timeout(c, cqid, cqe, QCHIMNEY_TIMEOUT_US));
}

void qchimney_admin_submit(QChimney *c, ChimneyAdminCmd *cmd)
{
    QChimneyRing *r = &c->asq;
    ChimneyAdminCmd le = *cmd;

    le.id = cpu_to_le32(cmd->id);
    le.cookie = cpu_to_le64(cmd->cookie);
    le.addr = cpu_to_le64(cmd->addr);
    le.len = cpu_to_le32(cmd->len);
    for (int i = 0; i < ARRAY_SIZE(le.param); i++) {
        le.param[i] = cpu_to_le32(cmd->param[i]);
    }
    qtest_memwrite(c->qts, r->base + (uint64_t)r->tail * sizeof(le),
                   &le, sizeof(le));
    r->tail = (r->tail + 1) & (r->size - 1);
    qchimney_ring_doorbell(c, r);
}

uint8_t qchimney_admin(QChimney *c, ChimneyAdminCmd *cmd, ChimneyCqe *cqe)
{
    ChimneyCqe local;

    cqe = cqe ? cqe : &local;
    cmd->cookie = ++c->next_cookie;
    qchimney_admin_submit(c, cmd);
    qchimney_cq_wait(c, CHIMNEY_ADMIN_CQ_ID, cqe);
    g_assert_cmpuint(CHIMNEY_CQE_TYPE(cqe->type_status), ==,
                     CHIMNEY_CQE_ADMIN);
    g_assert_cmphex(cqe->cookie, ==, cmd->cookie);
    g_assert_cmpuint(cqe->info, ==, cmd->opcode);
    g_assert_cmpuint(cqe->sq_head, ==, c->asq.tail);
    return CHIMNEY_CQE_STATUS(cqe->type_status);
}

uint8_t qchimney_create_cq(QChimney *c, uint32_t id, uint64_t base,
                           uint32_t size, uint32_t vector,
                           uint32_t mod_count, uint32_t mod_usec)
{
    ChimneyAdminCmd cmd = {
        .opcode = CHIMNEY_CMD_CREATE_CQ, .id = id, .addr = base, .len = size,
    };
    uint8_t st;

    cmd.param[CHIMNEY_CQ_PARAM_VECTOR] = vector;
    cmd.param[CHIMNEY_CQ_PARAM_MOD_COUNT] = mod_count;
    cmd.param[CHIMNEY_CQ_PARAM_MOD_USEC] = mod_usec;
    st = qchimney_admin(c, &cmd, NULL);
    if (st == CHIMNEY_ST_SUCCESS) {
        c->cq[id] = (QChimneyCQ) {
            .base = base, .size = size, .phase = 1, .vector = vector,
        };
    }
    return st;
}

uint8_t qchimney_destroy_cq(QChimney *c, uint32_t id)
{
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_DESTROY_CQ, .id = id };

    return qchimney_admin(c, &cmd, NULL);
}

uint8_t qchimney_create_l2q(QChimney *c, uint32_t queue, uint64_t base,
                            uint32_t size, uint32_t cq)
{
    ChimneyAdminCmd cmd = {
        .opcode = CHIMNEY_CMD_CREATE_L2Q, .id = queue, .addr = base,
        .len = size,
    };
    QChimneyRing *r = queue == CHIMNEY_QUEUE_L2_TX ? &c->txq : &c->rxq;
    uint8_t st;

    cmd.param[CHIMNEY_L2Q_PARAM_CQ] = cq;
    st = qchimney_admin(c, &cmd, NULL);
    if (st == CHIMNEY_ST_SUCCESS) {
        *r = (QChimneyRing) {
            .base = base, .size = size,
            .doorbell = queue == CHIMNEY_QUEUE_L2_TX ?
                        CHIMNEY_DB_L2_TXQ_TAIL : CHIMNEY_DB_L2_RXQ_TAIL,
        };
    }
    return st;
}

static void qchimney_identify(QChimney *c)
{
    uint64_t buf = qchimney_alloc_zeroed(c, sizeof(c->id));
    ChimneyAdminCmd cmd = {
        .opcode = CHIMNEY_CMD_IDENTIFY, .addr = buf, .len = sizeof(c->id),
    };

    g_assert_cmpuint(qchimney_admin(c, &cmd, NULL), ==, CHIMNEY_ST_SUCCESS);
    qtest_memread(c->qts, buf, &c->id, sizeof(c->id));
    c->id.magic = le32_to_cpu(c->id.magic);
    c->id.version = le32_to_cpu(c->id.version);
    c->id.num_cqs = le16_to_cpu(c->id.num_cqs);
    c->id.num_vectors = le16_to_cpu(c->id.num_vectors);
    c->id.max_conns = le32_to_cpu(c->id.max_conns);
    c->id.features = le32_to_cpu(c->id.features);
    c->id.max_frame = le32_to_cpu(c->id.max_frame);
    g_assert_cmphex(c->id.magic, ==, CHIMNEY_ID_MAGIC);
    g_assert_cmpuint(c->id.version >> 16, ==, CHIMNEY_VERSION_MAJOR);
}

static void qchimney_set_params(QChimney *c)
{
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_SET_PARAMS };

    /* Windows' defaults */
    cmd.param[CHIMNEY_PARAM_TICKS_PER_SECOND] = 1000;
    cmd.param[CHIMNEY_PARAM_ACK_FREQUENCY] = 2;
    cmd.param[CHIMNEY_PARAM_DELAYED_ACK_TICKS] = 200;
    cmd.param[CHIMNEY_PARAM_MAX_RETRANSMIT] = 5;
    cmd.param[CHIMNEY_PARAM_DOUBT_REACH] = 3;
    cmd.param[CHIMNEY_PARAM_DUP_ACK_THRESH] = 3;
    cmd.param[CHIMNEY_PARAM_PUSH_TICKS] = 500;
    g_assert_cmpuint(qchimney_admin(c, &cmd, NULL), ==, CHIMNEY_ST_SUCCESS);
}

void qchimney_start(QChimney *c, QTestState *qts, QPCIBus *bus,
                    QGuestAllocator *alloc, const QChimneyConfig *cfg)
{
    QChimneyConfig def = { 0 };
    uint32_t n;

    cfg = cfg ? cfg : &def;
    memset(c, 0, sizeof(*c));
    c->qts = qts;
    c->alloc = alloc;
    c->bus = bus;
    c->pdev = qchimney_find(bus);
    qpci_device_enable(c->pdev);
    c->bar = qpci_iomap(c->pdev, CHIMNEY_BAR_MMIO, NULL);
    g_assert_cmphex(qchimney_readl(c, CHIMNEY_REG_ID), ==, CHIMNEY_ID_MAGIC);
    c->msi_page = qchimney_alloc_zeroed(c, 4 * CHIMNEY_MAX_CQS);
    /* Vectors from the register, before IDENTIFY can be issued. */
    c->id.num_vectors =
        CHIMNEY_CAPQ_VECTORS(qchimney_readl(c, CHIMNEY_REG_CAP_QUEUES));
    if (!cfg->no_msix) {
        qchimney_msix_setup(c);
    }

    n = cfg->admin_entries ? cfg->admin_entries : 16;
    c->admin_ring = n;
    c->asq = (QChimneyRing) {
        .base = qchimney_alloc_zeroed(c, n * CHIMNEY_ADMIN_CMD_SIZE),
        .size = n, .doorbell = CHIMNEY_DB_ASQ_TAIL,
    };
    c->cq[0] = (QChimneyCQ) {
        .base = qchimney_alloc_zeroed(c, n * CHIMNEY_CQE_SIZE),
        .size = n, .phase = 1,
    };
    qchimney_writel(c, CHIMNEY_REG_ASQ_BASE_LO, c->asq.base);
    qchimney_writel(c, CHIMNEY_REG_ASQ_BASE_HI, c->asq.base >> 32);
    qchimney_writel(c, CHIMNEY_REG_ASQ_SIZE, n);
    qchimney_writel(c, CHIMNEY_REG_ACQ_BASE_LO, c->cq[0].base);
    qchimney_writel(c, CHIMNEY_REG_ACQ_BASE_HI, c->cq[0].base >> 32);
    qchimney_writel(c, CHIMNEY_REG_ACQ_SIZE, n);
    qchimney_writel(c, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_ENABLE);
    g_assert(qchimney_wait_status(c, CHIMNEY_STATUS_READY,
                                  CHIMNEY_STATUS_READY));

    qchimney_identify(c);
    qchimney_set_params(c);
    if (cfg->no_l2) {
        return;
    }

    n = cfg->cq_entries ? cfg->cq_entries : 64;
    g_assert_cmpuint(qchimney_create_cq(c, QCHIMNEY_L2_CQ,
                                        qchimney_alloc_zeroed(c, n * 32), n,
                                        1 % c->id.num_vectors, cfg->mod_count,
                                        cfg->mod_usec),
                     ==, CHIMNEY_ST_SUCCESS);
    n = cfg->l2_entries ? cfg->l2_entries : 64;
    c->tx_area = guest_alloc(c->alloc, (uint64_t)n * QCHIMNEY_TX_SLOT);
    g_assert_cmpuint(qchimney_create_l2q(c, CHIMNEY_QUEUE_L2_TX,
                                         qchimney_alloc_zeroed(c, n * 32), n,
                                         QCHIMNEY_L2_CQ),
                     ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_create_l2q(c, CHIMNEY_QUEUE_L2_RX,
                                         qchimney_alloc_zeroed(c, n * 32), n,
                                         QCHIMNEY_L2_CQ),
                     ==, CHIMNEY_ST_SUCCESS);
    if (cfg->rx_buffers) {
        qchimney_l2_post_rx(c, cfg->rx_buffers,
                            cfg->rx_buffer_size ? cfg->rx_buffer_size : 2048);
    }
}

/* After migration: the same guest, seen through a new QEMU. */
void qchimney_rebind(QChimney *c, QTestState *qts, QPCIBus *bus)
{
    QPCIDevice *old = c->pdev;

    c->qts = qts;
    c->bus = bus;
    c->pdev = qchimney_find(bus);
    c->pdev->msix_enabled = old->msix_enabled;
    c->pdev->msix_table_bar = old->msix_table_bar;
    c->pdev->msix_pba_bar = old->msix_pba_bar;
    c->pdev->msix_table_off = old->msix_table_off;
    c->pdev->msix_pba_off = old->msix_pba_off;
    g_free(old);
}

uint64_t qchimney_l2_send(QChimney *c, const void *frame, size_t len,
                          int segments)
{
    QChimneyRing *r = &c->txq;
    size_t min_segs = DIV_ROUND_UP(len, QCHIMNEY_TX_SLOT);
    size_t nseg = MAX((size_t)segments, min_segs);
    size_t off = 0;
    uint64_t cookie = ++c->next_cookie;

    g_assert(nseg <= len);
    for (size_t i = 0; i < nseg; i++) {
        size_t seg = i + 1 == nseg ? len - off : len / nseg;
        uint64_t buf = c->tx_area + (uint64_t)r->tail * QCHIMNEY_TX_SLOT;
        ChimneyL2TxDesc d = {
            .addr = cpu_to_le64(buf),
            .len = cpu_to_le32(seg),
            .flags = cpu_to_le16(i + 1 == nseg ? CHIMNEY_L2TX_EOP : 0),
            .cookie = cpu_to_le64(cookie),
        };

        g_assert(seg <= QCHIMNEY_TX_SLOT);
        qtest_memwrite(c->qts, buf, (const uint8_t *)frame + off, seg);
        qtest_memwrite(c->qts, r->base + (uint64_t)r->tail * sizeof(d),
                       &d, sizeof(d));
        r->tail = (r->tail + 1) & (r->size - 1);
        off += seg;
    }
    qchimney_ring_doorbell(c, r);
    return cookie;
}

/* Each buffer's cookie is its guest address. */
void qchimney_l2_post_rx(QChimney *c, uint32_t count, uint32_t size)
{
    QChimneyRing *r = &c->rxq;

    for (uint32_t i = 0; i < count; i++) {
        uint64_t buf = guest_alloc(c->alloc, size);
        ChimneyL2RxDesc d = {
            .addr = cpu_to_le64(buf),
            .len = cpu_to_le32(size),
            .cookie = cpu_to_le64(buf),
        };

        qtest_memwrite(c->qts, r->base + (uint64_t)r->tail * sizeof(d),
                       &d, sizeof(d));
        r->tail = (r->tail + 1) & (r->size - 1);
    }
    qchimney_ring_doorbell(c, r);
}

/* Wait for the next L2 RX completion and copy its frame out. */
size_t qchimney_l2_recv(QChimney *c, void *buf, size_t bufsize,
                        ChimneyCqe *cqe)
{
    qchimney_cq_wait(c, QCHIMNEY_L2_CQ, cqe);
    g_assert_cmpuint(CHIMNEY_CQE_TYPE(cqe->type_status), ==,
                     CHIMNEY_CQE_L2_RX);
    g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe->type_status), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe->bytes, <=, bufsize);
    qtest_memread(c->qts, cqe->cookie, buf, cqe->bytes);
    return cqe->bytes;
}

void qchimney_stop(QChimney *c)
{
    g_free(c->pdev);
    c->pdev = NULL;
}
