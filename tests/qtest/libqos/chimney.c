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

/* A wait of @us: a sleep, or a turn of the in-process QEMU's main loop */
static void qchimney_idle(QChimney *c, uint32_t us)
{
    if (c->idle) {
        c->idle(c->qts);
    } else {
        g_usleep(us);
    }
}

bool qchimney_wait_status(QChimney *c, uint32_t mask, uint32_t value)
{
    gint64 deadline = g_get_monotonic_time() + QCHIMNEY_TIMEOUT_US;

    while ((qchimney_readl(c, CHIMNEY_REG_STATUS) & mask) != value) {
        if (g_get_monotonic_time() > deadline) {
            return false;
        }
        qchimney_idle(c, 100);
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

/* The driver core reaches the registers through BAR0, time by sleeping */
static uint32_t qchimney_dev_readl(void *opaque, uint32_t reg)
{
    return qchimney_readl(opaque, reg);
}

static void qchimney_dev_writel(void *opaque, uint32_t reg, uint32_t val)
{
    qchimney_writel(opaque, reg, val);
}

static void qchimney_dev_delay(void *opaque, uint32_t us)
{
    qchimney_idle(opaque, us);
}

/* The driver core reaches guest memory through qtest */
static void qchimney_mem_read(void *opaque, uint64_t addr, void *buf,
                              size_t len)
{
    qtest_memread(opaque, addr, buf, len);
}

static void qchimney_mem_write(void *opaque, uint64_t addr, const void *buf,
                               size_t len)
{
    qtest_memwrite(opaque, addr, buf, len);
}

/* An admin completion, on whatever CQ, frees admin SQ entries. */
bool qchimney_cq_poll(QChimney *c, uint32_t cqid, ChimneyCqe *cqe)
{
    if (!chimney_guest_cq_next(&c->cq[cqid].ring, &c->mem, cqe)) {
        return false;
    }
    if (CHIMNEY_CQE_TYPE(cqe->type_status) == CHIMNEY_CQE_ADMIN &&
        cqe->queue == CHIMNEY_QUEUE_ADMIN) {
        chimney_guest_ring_consumed(&c->dev.asq, cqe->sq_head);
    }
    return true;
}

void qchimney_cq_ack(QChimney *c, uint32_t cqid)
{
    qchimney_writel(c, CHIMNEY_DB_CQ_HEAD(cqid), c->cq[cqid].ring.head);
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
        qchimney_idle(c, 50);
    }
}

void qchimney_cq_wait(QChimney *c, uint32_t cqid, ChimneyCqe *cqe)
{
    g_assert(qchimney_cq_wait_timeout(c, cqid, cqe, QCHIMNEY_TIMEOUT_US));
}

void qchimney_admin_submit(QChimney *c, ChimneyAdminCmd *cmd)
{
    g_assert(chimney_guest_admin_submit(&c->dev, cmd));
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
    g_assert_cmpuint(cqe->sq_head, ==, c->dev.asq.tail);
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
    cmd.param[CHIMNEY_CQ_PARAM_FLAGS] = c->cq_flags;
    st = qchimney_admin(c, &cmd, NULL);
    if (st == CHIMNEY_ST_SUCCESS) {
        chimney_guest_cq_init(&c->cq[id].ring, base, size);
        c->cq[id].vector = vector;
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
    QChimneyRing *r;
    uint32_t db;
    uint8_t st;

    switch (queue) {
    case CHIMNEY_QUEUE_L2_TX:
        r = &c->txq;
        db = CHIMNEY_DB_L2_TXQ_TAIL;
        break;
    case CHIMNEY_QUEUE_INDICATE:
        r = &c->indq;
        db = CHIMNEY_DB_IND_TAIL;
        break;
    default:
        r = &c->rxq;
        db = CHIMNEY_DB_L2_RXQ_TAIL;
        break;
    }
    cmd.param[CHIMNEY_L2Q_PARAM_CQ] = cq;
    st = qchimney_admin(c, &cmd, NULL);
    if (st == CHIMNEY_ST_SUCCESS) {
        *r = (QChimneyRing) { .base = base, .size = size, .doorbell = db };
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

/* Windows' defaults, but for the retransmission limit */
/* SET_PARAMS from the OID's parameters, as the miniport translates them */
void qchimney_set_params(QChimney *c, uint32_t max_retransmit)
{
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_SET_PARAMS };
    ChimneyNdisOffloadParams n = {
        .ticks_per_second = 1000, .ack_frequency = 2,
        .delayed_ack_ticks = 200, .max_retransmissions = max_retransmit,
        .doubt_reachability = 3, .dup_ack_threshold = 3, .push_ticks = 500,
    };

    g_assert(chimney_guest_offload_params(cmd.param, &n, sizeof(n)));
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
    c->mem = (ChimneyGuestMem) {
        .opaque = qts, .read = qchimney_mem_read, .write = qchimney_mem_write,
    };
    c->alloc = alloc;
    c->bus = bus;
    c->cq_flags = cfg->cq_flags;
    c->idle = cfg->idle;
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

    /* The bring-up every driver does, by the shared driver core */
    n = cfg->admin_entries ? cfg->admin_entries : 16;
    c->admin_ring = n;
    c->dev = (ChimneyGuestDev) {
        .opaque = c, .readl = qchimney_dev_readl,
        .writel = qchimney_dev_writel, .delay_us = qchimney_dev_delay,
        .mem = c->mem, .acq = &c->cq[0].ring,
    };
    g_assert_cmpint(chimney_guest_enable(&c->dev,
                        qchimney_alloc_zeroed(c, n * CHIMNEY_ADMIN_CMD_SIZE),
                        qchimney_alloc_zeroed(c, n * CHIMNEY_CQE_SIZE), n,
                        QCHIMNEY_TIMEOUT_US), ==, CHIMNEY_GUEST_OK);

    qchimney_identify(c);
    qchimney_set_params(c, 5);
    if (cfg->no_l2) {
        return;
    }

    n = cfg->cq_entries ? cfg->cq_entries : 64;
    g_assert_cmpuint(qchimney_create_cq(c, QCHIMNEY_L2_CQ,
                                        qchimney_alloc_zeroed(c, n * 32), n,
                                        1 % c->id.num_vectors, cfg->mod_count,
                                        cfg->mod_usec),
                     ==, CHIMNEY_ST_SUCCESS);
    c->rx_cq = QCHIMNEY_L2_CQ;
    if (cfg->rx_own_cq) {
        n = cfg->cq_entries ? cfg->cq_entries : 64;
        g_assert_cmpuint(qchimney_create_cq(c, QCHIMNEY_RX_CQ,
                                            qchimney_alloc_zeroed(c, n * 32),
                                            n, QCHIMNEY_RX_CQ %
                                            c->id.num_vectors, 0, 0),
                         ==, CHIMNEY_ST_SUCCESS);
        c->rx_cq = QCHIMNEY_RX_CQ;
    }
    n = cfg->l2_entries ? cfg->l2_entries : 64;
    c->tx_area = guest_alloc(c->alloc, (uint64_t)n * QCHIMNEY_TX_SLOT);
    g_assert_cmpuint(qchimney_create_l2q(c, CHIMNEY_QUEUE_L2_TX,
                                         qchimney_alloc_zeroed(c, n * 32), n,
                                         QCHIMNEY_L2_CQ),
                     ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_create_l2q(c, CHIMNEY_QUEUE_L2_RX,
                                         qchimney_alloc_zeroed(c, n * 32), n,
                                         c->rx_cq),
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
    c->mem.opaque = qts;
    c->dev.mem.opaque = qts;
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
        ChimneyL2TxDesc d;

        chimney_guest_l2_tx_desc(&d, buf, seg, i + 1 == nseg, cookie);

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
        ChimneyL2RxDesc d;

        chimney_guest_l2_rx_desc(&d, buf, size, buf);

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
    qchimney_cq_wait(c, c->rx_cq, cqe);
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

/* --- a minimal host stack and the offload commands --- */

uint16_t qchimney_csum(const void *buf, size_t len, uint32_t sum)
{
    const uint8_t *p = buf;

    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += p[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

void qchimney_l2_send_raw(QChimney *c, const uint8_t *frame, size_t len)
{
    ChimneyCqe cqe;

    qchimney_l2_send(c, frame, len, 1);
    qchimney_cq_wait(c, QCHIMNEY_L2_CQ, &cqe);
    g_assert_cmpuint(CHIMNEY_CQE_TYPE(cqe.type_status), ==,
                     CHIMNEY_CQE_L2_TX);
    g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                     CHIMNEY_ST_SUCCESS);
}

/* ARP for peer_ip, on the connection's VLAN when it has one */
void qchimney_arp_request(QChimney *c, QChimneyConn *hc)
{
    uint8_t f[64] = { 0 }, *a = f + (hc->vlan ? 18 : 14);

    memset(f, 0xff, 6);
    memcpy(f + 6, hc->mac, 6);
    if (hc->vlan) {
        stw_be_p(f + 12, 0x8100);
        stw_be_p(f + 14, hc->vlan);
    }
    stw_be_p(a - 2, 0x0806);
    stw_be_p(a, 1);
    stw_be_p(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    stw_be_p(a + 6, 1);
    memcpy(a + 8, hc->mac, 6);
    memcpy(a + 14, &hc->ip, 4);
    memcpy(a + 24, &hc->peer_ip, 4);
    qchimney_l2_send_raw(c, f, hc->vlan ? 64 : 60);
}

/* The ARP reply for peer_ip; a host stack ignores other frames meanwhile */
void qchimney_arp_reply_wait(QChimney *c, QChimneyConn *hc)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    uint8_t f[2048], *a;
    ChimneyCqe cqe;
    size_t len;
    uint16_t type;

    for (;;) {
        len = qchimney_l2_recv(c, f, sizeof(f), &cqe);
        a = f + qchimney_l3(f, &type, NULL);
        qchimney_l2_post_rx(c, 1, 2048);
        if (type == 0x0806) {
            break;
        }
        g_assert(g_get_monotonic_time() < deadline);
    }
    g_assert_cmpuint(len, >=, a - f + 28);
    g_assert_cmphex(lduw_be_p(a + 6), ==, 2);
    g_assert_cmpmem(a + 14, 4, &hc->peer_ip, 4);
    memcpy(hc->peer_mac, a + 8, 6);
}

/*
 * Build an Ethernet + IPv4 + TCP frame with @optlen bytes of options and
 * no payload into @buf (at least 128 bytes); returns its length.
 */
size_t qchimney_tcp_frame(uint8_t *buf, const QChimneyTcpAddr *a,
                          uint32_t seq, uint32_t ack, uint8_t flags,
                          uint16_t wnd, const uint8_t *opt, size_t optlen)
{
    return qchimney_tcp_data_frame(buf, a, seq, ack, flags, wnd, opt, optlen,
                                   NULL, 0);
}

/* Ethernet, with an 802.1Q tag when @a says; returns where IP starts */
static size_t qchimney_l2_header(uint8_t *buf, const QChimneyTcpAddr *a)
{
    size_t l2 = a->tagged ? 18 : 14;

    memcpy(buf, a->dst_mac, 6);
    memcpy(buf + 6, a->src_mac, 6);
    if (a->tagged) {
        stw_be_p(buf + 12, 0x8100);
        stw_be_p(buf + 14, a->tci);
    }
    stw_be_p(buf + l2 - 2, a->ipv6 ? 0x86dd : 0x0800);
    return l2;
}

/* An IPv6 header for @plen bytes of @proto; returns its pseudo-header sum */
static uint32_t qchimney_ip6_header(uint8_t *ip, const QChimneyTcpAddr *a,
                                    uint8_t proto, size_t plen)
{
    stl_be_p(ip, 6u << 28);
    stw_be_p(ip + 4, plen);
    ip[6] = proto;
    ip[7] = 64;
    memcpy(ip + 8, a->src_ip6, 16);
    memcpy(ip + 24, a->dst_ip6, 16);
    return (uint16_t)~qchimney_csum(ip + 8, 32, 0) + proto + plen;
}

size_t qchimney_l3(const uint8_t *f, uint16_t *type, uint16_t *tci)
{
    size_t l2 = lduw_be_p(f + 12) == 0x8100 ? 18 : 14;

    if (tci) {
        *tci = l2 == 18 ? lduw_be_p(f + 14) : 0;
    }
    *type = lduw_be_p(f + l2 - 2);
    return l2;
}

QChimneyTcpAddr qchimney_conn_addr(const QChimneyConn *hc, bool from_peer)
{
    QChimneyTcpAddr a = {
        .src_mac = hc->mac, .dst_mac = hc->peer_mac,
        .src_ip = hc->ip, .dst_ip = hc->peer_ip,
        .src_port = hc->port, .dst_port = hc->peer_port,
        .ipv6 = hc->ipv6, .src_ip6 = hc->ip6, .dst_ip6 = hc->peer_ip6,
        .tagged = hc->vlan || hc->prio,
        .tci = hc->prio << 13 | hc->vlan,
    };

    if (from_peer) {
        a = (QChimneyTcpAddr) {
            .src_mac = hc->peer_mac, .dst_mac = hc->mac,
            .src_ip = hc->peer_ip, .dst_ip = hc->ip,
            .src_port = hc->peer_port, .dst_port = hc->port,
            .ipv6 = hc->ipv6, .src_ip6 = hc->peer_ip6, .dst_ip6 = hc->ip6,
            .tagged = hc->vlan, .tci = hc->vlan,
        };
    }
    return a;
}

/*
 * A TCP frame (IPv4 or IPv6, tagged or not) with @len payload bytes;
 * @buf has room for it all.
 */
size_t qchimney_tcp_data_frame(uint8_t *buf, const QChimneyTcpAddr *a,
                               uint32_t seq, uint32_t ack, uint8_t flags,
                               uint16_t wnd, const uint8_t *opt,
                               size_t optlen, const uint8_t *data,
                               size_t len)
{
    size_t l2 = a->tagged ? 18 : 14, iphl = a->ipv6 ? 40 : 20;
    uint8_t *ip = buf + l2, *th = ip + iphl;
    size_t tcp_len = 20 + optlen + len;
    uint32_t sum;

    g_assert(optlen <= 40 && !(optlen & 3));
    memset(buf, 0, l2 + iphl + tcp_len);
    qchimney_l2_header(buf, a);
    if (a->ipv6) {
        sum = qchimney_ip6_header(ip, a, 6, tcp_len);
    } else {
        ip[0] = 0x45;
        stw_be_p(ip + 2, 20 + tcp_len);
        stw_be_p(ip + 4, 0x1234);       /* host-stack IDs: the lower half */
        stw_be_p(ip + 6, 0x4000);
        ip[8] = 64;
        ip[9] = 6;
        memcpy(ip + 12, &a->src_ip, 4);
        memcpy(ip + 16, &a->dst_ip, 4);
        stw_be_p(ip + 10, qchimney_csum(ip, 20, 0));
        sum = qchimney_csum(ip + 12, 8, 0);
        sum = (uint16_t)~sum + 6 + tcp_len;
    }
    stw_be_p(th, a->src_port);
    stw_be_p(th + 2, a->dst_port);
    stl_be_p(th + 4, seq);
    stl_be_p(th + 8, ack);
    th[12] = ((20 + optlen) / 4) << 4;
    th[13] = flags;
    stw_be_p(th + 14, wnd);
    if (optlen) {
        memcpy(th + 20, opt, optlen);
    }
    if (len) {
        memcpy(th + 20 + optlen, data, len);
    }
    stw_be_p(th + 16, qchimney_csum(th, tcp_len, sum));
    return l2 + iphl + tcp_len;
}

/* An ICMPv6 message @msg of @len bytes (its checksum is filled in) */
size_t qchimney_icmp6_frame(uint8_t *buf, const QChimneyTcpAddr *a,
                            const uint8_t *msg, size_t len)
{
    size_t l2 = qchimney_l2_header(buf, a);
    uint8_t *ip = buf + l2, *icmp = ip + 40;
    uint32_t sum = qchimney_ip6_header(ip, a, 58, len);

    memcpy(icmp, msg, len);
    stw_be_p(icmp + 2, 0);
    ip[7] = 255;                        /* as neighbor discovery needs */
    stw_be_p(icmp + 2, qchimney_csum(icmp, len, sum));
    return l2 + 40 + len;
}

/* A segment of the host stack's own, through the L2 queue. */
static void qchimney_host_segment(QChimney *c, QChimneyConn *hc,
                                  uint32_t seq, uint32_t ack, uint8_t flags,
                                  const uint8_t *opt, size_t optlen)
{
    uint8_t f[160];
    QChimneyTcpAddr a = qchimney_conn_addr(hc, false);

    qchimney_l2_send_raw(c, f, qchimney_tcp_data_frame(f, &a, seq, ack, flags,
                                                       65535, opt, optlen,
                                                       NULL, 0));
}

/* IPv6 neighbor discovery (RFC 4861): who has peer_ip6 */
void qchimney_ndp_solicit(QChimney *c, QChimneyConn *hc)
{
    static const uint8_t mcast_mac[6] = { 0x33, 0x33, 0xff };
    uint8_t f[128], msg[32] = { 135 }, dmac[6], dip[16] = { 0xff, 0x02 };
    QChimneyTcpAddr a = qchimney_conn_addr(hc, false);

    /* the solicited-node multicast address and its MAC */
    dip[11] = 1;
    dip[12] = 0xff;
    memcpy(dip + 13, hc->peer_ip6 + 13, 3);
    memcpy(dmac, mcast_mac, 3);
    memcpy(dmac + 3, hc->peer_ip6 + 13, 3);
    a.dst_mac = dmac;
    a.dst_ip6 = dip;
    a.tagged = hc->vlan;
    a.tci = hc->vlan;
    memcpy(msg + 8, hc->peer_ip6, 16);
    msg[24] = 1;                        /* source link-layer address */
    msg[25] = 1;
    memcpy(msg + 26, hc->mac, 6);
    qchimney_l2_send_raw(c, f, qchimney_icmp6_frame(f, &a, msg, sizeof(msg)));
}

/*
 * The advertisement for peer_ip6: its target link-layer address is the
 * peer's MAC.  Other frames (router advertisements, ...) are skipped.
 */
void qchimney_ndp_advert_wait(QChimney *c, QChimneyConn *hc)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (;;) {
        uint8_t f[2048];
        ChimneyCqe cqe;
        size_t len = qchimney_l2_recv(c, f, sizeof(f), &cqe);
        uint16_t type;
        size_t l3 = qchimney_l3(f, &type, NULL);
        uint8_t *icmp = f + l3 + 40;

        qchimney_l2_post_rx(c, 1, 2048);
        if (type == 0x86dd && len >= l3 + 40 + 32 && f[l3 + 6] == 58 &&
            icmp[0] == 136 && !memcmp(icmp + 8, hc->peer_ip6, 16)) {
            for (size_t o = 24; o + 8 <= len - l3 - 40 && icmp[o + 1];
                 o += icmp[o + 1] * 8) {
                if (icmp[o] == 2) {
                    memcpy(hc->peer_mac, icmp + o + 2, 6);
                    return;
                }
            }
            g_assert_not_reached();
        }
        g_assert(g_get_monotonic_time() < deadline);
    }
}

void qchimney_resolve(QChimney *c, QChimneyConn *hc)
{
    if (hc->ipv6) {
        qchimney_ndp_solicit(c, hc);
        qchimney_ndp_advert_wait(c, hc);
    } else {
        qchimney_arp_request(c, hc);
        qchimney_arp_reply_wait(c, hc);
    }
}

void qchimney_tcp_syn(QChimney *c, QChimneyConn *hc)
{
    uint8_t mss[4] = { 2, 4 };

    stw_be_p(mss + 2, hc->ipv6 ? 1440 : 1460);      /* MTU 1500 */
    qchimney_host_segment(c, hc, hc->iss, 0, 0x02, mss, sizeof(mss));
}

/*
 * The peer's SYN|ACK through the L2 RX queue.  Other frames before it
 * (router advertisements, neighbor discovery) are skipped.
 */
void qchimney_tcp_synack_wait(QChimney *c, QChimneyConn *hc)
{
    uint8_t f[2048], *th;
    ChimneyCqe cqe;
    size_t len, l3, doff;
    uint16_t type;

    for (;;) {
        len = qchimney_l2_recv(c, f, sizeof(f), &cqe);
        l3 = qchimney_l3(f, &type, NULL);
        if (hc->ipv6 ? type == 0x86dd && f[l3 + 6] == 6 :
                       type == 0x0800 && f[l3 + 9] == 6) {
            break;
        }
        qchimney_l2_post_rx(c, 1, 2048);
    }
    g_assert_cmpuint(len, >=, l3 + (hc->ipv6 ? 40 : 20) + 20);
    g_assert_cmphex(type, ==, hc->ipv6 ? 0x86dd : 0x0800);
    th = f + l3 + (hc->ipv6 ? 40 : 20);
    g_assert_cmphex(th[13], ==, 0x12);                     /* SYN|ACK */
    g_assert_cmpuint((uint32_t)ldl_be_p(th + 8), ==, hc->iss + 1);
    hc->irs = ldl_be_p(th + 4);
    hc->peer_wnd = lduw_be_p(th + 14);
    hc->peer_mss = 536;
    doff = (th[12] >> 4) * 4;
    for (size_t i = 20; i + 3 < doff; i += th[i] < 2 ? 1 : th[i + 1]) {
        if (th[i] == 2) {
            hc->peer_mss = lduw_be_p(th + i + 2);
        }
        if (th[i] == 0) {
            break;
        }
    }
    qchimney_l2_post_rx(c, 1, 2048);
    qchimney_host_segment(c, hc, hc->iss + 1, hc->irs + 1, 0x10, NULL, 0);
}

uint8_t qchimney_offload_neighbor_vlan(QChimney *c, uint32_t id,
                                       const uint8_t *src, const uint8_t *dst,
                                       uint16_t vlan)
{
    ChimneyNeighborState st = { .vlan_id = cpu_to_le16(vlan) };
    uint64_t buf = guest_alloc(c->alloc, sizeof(st));
    ChimneyAdminCmd cmd = {
        .opcode = CHIMNEY_CMD_OFFLOAD_NEIGHBOR, .id = id, .addr = buf,
        .len = sizeof(st),
    };

    memcpy(st.src_mac, src, 6);
    memcpy(st.dst_mac, dst, 6);
    qtest_memwrite(c->qts, buf, &st, sizeof(st));
    return qchimney_admin(c, &cmd, NULL);
}

uint8_t qchimney_offload_neighbor(QChimney *c, uint32_t id,
                                  const uint8_t *src, const uint8_t *dst)
{
    return qchimney_offload_neighbor_vlan(c, id, src, dst, 0);
}

uint8_t qchimney_offload_path(QChimney *c, uint32_t id, uint32_t neighbor,
                              uint32_t src_ip, uint32_t dst_ip, uint32_t mtu)
{
    ChimneyPathState st = {
        .neighbor = cpu_to_le32(neighbor), .path_mtu = cpu_to_le32(mtu),
    };
    uint64_t buf = guest_alloc(c->alloc, sizeof(st));
    ChimneyAdminCmd cmd = {
        .opcode = CHIMNEY_CMD_OFFLOAD_PATH, .id = id, .addr = buf,
        .len = sizeof(st),
    };

    memcpy(st.src_ip, &src_ip, 4);
    memcpy(st.dst_ip, &dst_ip, 4);
    qtest_memwrite(c->qts, buf, &st, sizeof(st));
    return qchimney_admin(c, &cmd, NULL);
}

uint8_t qchimney_offload_path6(QChimney *c, uint32_t id, uint32_t neighbor,
                               const uint8_t *src, const uint8_t *dst,
                               uint32_t mtu)
{
    ChimneyPath6State st = {
        .neighbor = cpu_to_le32(neighbor), .path_mtu = cpu_to_le32(mtu),
    };
    uint64_t buf = guest_alloc(c->alloc, sizeof(st));
    ChimneyAdminCmd cmd = {
        .opcode = CHIMNEY_CMD_OFFLOAD_PATH, .id = id, .addr = buf,
        .len = sizeof(st), .param = { CHIMNEY_PATH_IPV6 },
    };

    memcpy(st.src_ip, src, 16);
    memcpy(st.dst_ip, dst, 16);
    qtest_memwrite(c->qts, buf, &st, sizeof(st));
    return qchimney_admin(c, &cmd, NULL);
}

void qchimney_offload_route(QChimney *c, QChimneyConn *hc, uint32_t nb,
                            uint32_t path, uint32_t mtu)
{
    g_assert_cmpuint(qchimney_offload_neighbor_vlan(c, nb, hc->mac,
                                                    hc->peer_mac, hc->vlan),
                     ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(hc->ipv6 ?
                     qchimney_offload_path6(c, path, nb, hc->ip6,
                                            hc->peer_ip6, mtu) :
                     qchimney_offload_path(c, path, nb, hc->ip, hc->peer_ip,
                                           mtu), ==, CHIMNEY_ST_SUCCESS);
}

/* The offload block for a connection the host stack established */
/*
 * The OFFLOAD_TCP block of a connection the host stack established: built
 * from NDIS-shaped state by the driver core, as the miniport builds it.
 */
void qchimney_tcp_block(QChimneyConn *hc, uint32_t path, uint32_t cq,
                        ChimneyTcpOffload *o)
{
    ChimneyNdisTcpConst c = {
        .header.length = sizeof(c),
        .remote_port = htons(hc->peer_port),
        .local_port = htons(hc->port),
        .remote_mss = hc->peer_mss,
    };
    ChimneyNdisTcpCached k = {
        .header.length = sizeof(k),
        .initial_rcv_wnd = 65535,
        .ttl_or_hop_limit = 64,
    };
    ChimneyNdisTcpDelegated d = {
        .header.length = sizeof(d),
        .state = CHIMNEY_TCP_ESTABLISHED,
        .rcv_nxt = hc->irs + 1,
        .rcv_wnd = 65535,
        .snd_una = hc->iss + 1,
        .snd_nxt = hc->iss + 1,
        .snd_max = hc->iss + 1,
        .snd_wnd = hc->peer_wnd,
        .max_snd_wnd = hc->peer_wnd,
        .send_wl1 = hc->irs,
        .cwnd = 10 * hc->peer_mss,
        .ssthresh = 0xffffffff,
        .ka_timeout_delta = UINT32_MAX,         /* -1: idle */
        .rexmit_timeout_delta = UINT32_MAX,
    };
    ChimneyGuestTcpQueues q = {
        .path = path, .cq = cq, .sq_base = hc->sq_base, .sq_size = hc->sq_size,
        .db_record = hc->db_record, .rq_base = hc->rq_base,
        .rq_size = hc->rq_size, .db_hint = hc->db_hint,
    };

    chimney_guest_tcp_offload(o, &c, &k, &d, &q);
    /* ABI 1.3's cached fields; the driver core may fill them already */
    o->flow_label = cpu_to_le32(hc->flow_label);
    o->user_priority = hc->prio;
}

uint8_t qchimney_offload_tcp(QChimney *c, QChimneyConn *hc,
                             const ChimneyTcpOffload *o, uint32_t handover)
{
    ChimneyTcpOffload copy = *o;
    ChimneyAdminCmd cmd = {
        .opcode = CHIMNEY_CMD_OFFLOAD_TCP, .id = hc->id, .len = sizeof(copy),
    };

    if (!c->block_buf) {
        c->block_buf = guest_alloc(c->alloc, sizeof(copy));
    }
    cmd.addr = c->block_buf;
    qtest_memwrite(c->qts, c->block_buf, &copy, sizeof(copy));

    copy.handover = cpu_to_le32(handover);
    qtest_memwrite(c->qts, c->block_buf, &copy, sizeof(copy));
    return qchimney_admin(c, &cmd, NULL);
}

/*
 * Post a request whose data is @nsge guest buffers of the sizes in @sge,
 * filled with a pattern of @cookie; *data (if given) gets the address of
 * the first buffer.  Returns the number of bytes.
 */
uint64_t qchimney_sq_post(QChimney *c, QChimneyConn *hc, uint8_t type,
                          uint8_t flags, uint64_t cookie, const uint32_t *sge,
                          int nsge, uint64_t *data)
{
    uint64_t sgl = nsge ? guest_alloc(c->alloc, nsge * sizeof(ChimneySge)) :
                          0;
    uint32_t total = 0;
    ChimneySqDesc d;
    uint32_t tail_le;

    for (int i = 0; i < nsge; i++) {
        uint64_t buf = guest_alloc(c->alloc, sge[i]);
        g_autofree uint8_t *bytes = g_malloc(sge[i]);
        ChimneySge e;

        chimney_guest_sge(&e, buf, sge[i]);

        for (uint32_t j = 0; j < sge[i]; j++) {
            bytes[j] = cookie * 131 + (total + j) * 7;
        }
        qtest_memwrite(c->qts, buf, bytes, sge[i]);
        qtest_memwrite(c->qts, sgl + i * sizeof(e), &e, sizeof(e));
        if (data && i == 0) {
            *data = buf;
        }
        total += sge[i];
    }
    chimney_guest_sq_desc(&d, type, flags, nsge, total, cookie, sgl);
    qtest_memwrite(c->qts, hc->sq_base + hc->sq_tail * sizeof(d), &d,
                   sizeof(d));
    hc->sq_tail = (hc->sq_tail + 1) & (hc->sq_size - 1);
    tail_le = cpu_to_le32(hc->sq_tail);
    qtest_memwrite(c->qts, hc->db_record, &tail_le, sizeof(tail_le));
    return total;
}

void qchimney_sq_kick(QChimney *c, QChimneyConn *hc)
{
    qchimney_writel(c, CHIMNEY_DB_CONN_SQ, hc->id);
}

/*
 * Ring unless the connection's doorbell hint says the device will read
 * the record itself (CHIMNEY_TCPO_DB_HINT); returns whether it rang.
 * qtest serializes the record's accesses with the device's, so no
 * barrier is needed between the index and the hint here.
 */
bool qchimney_sq_kick_hinted(QChimney *c, QChimneyConn *hc)
{
    uint32_t hint;

    if (hc->db_hint) {
        qtest_memread(c->qts, hc->db_record + offsetof(ChimneyDbRecord, hint),
                      &hint, sizeof(hint));
        if (le32_to_cpu(hint) == CHIMNEY_HINT_SKIP) {
            return false;
        }
    }
    qchimney_sq_kick(c, hc);
    return true;
}

/*
 * Put an entry on the connection's receive queue and publish it in the
 * doorbell record (the caller rings with qchimney_sq_kick).  A RECEIVE
 * gets a zeroed buffer of @len bytes in one SGL entry, whose address is
 * returned; an INDICATE_DONE says @len bytes were taken.
 */
uint64_t qchimney_rq_post(QChimney *c, QChimneyConn *hc, uint8_t type,
                          uint8_t flags, uint64_t cookie, uint32_t len)
{
    uint64_t buf = 0, sgl = 0;
    ChimneySqDesc d;
    uint32_t tail_le;

    if (type == CHIMNEY_RQ_RECEIVE && len) {
        ChimneySge e;

        buf = guest_alloc(c->alloc, len);
        sgl = guest_alloc(c->alloc, sizeof(e));
        chimney_guest_sge(&e, buf, len);
        qtest_memset(c->qts, buf, 0, len);
        qtest_memwrite(c->qts, sgl, &e, sizeof(e));
    }
    chimney_guest_sq_desc(&d, type, flags, sgl ? 1 : 0, len, cookie, sgl);
    qtest_memwrite(c->qts, hc->rq_base + hc->rq_tail * sizeof(d), &d,
                   sizeof(d));
    hc->rq_tail = (hc->rq_tail + 1) & (hc->rq_size - 1);
    tail_le = cpu_to_le32(hc->rq_tail);
    qtest_memwrite(c->qts, hc->db_record + 4, &tail_le, sizeof(tail_le));
    return buf;
}

/* Give a generic buffer back to the device's generic-buffer queue. */
void qchimney_ind_post(QChimney *c, uint64_t buf)
{
    ChimneyL2RxDesc d;

    chimney_guest_l2_rx_desc(&d, buf, c->ind_buf_size, buf);

    qtest_memwrite(c->qts, c->indq.base + c->indq.tail * sizeof(d), &d,
                   sizeof(d));
    c->indq.tail = (c->indq.tail + 1) & (c->indq.size - 1);
    qchimney_ring_doorbell(c, &c->indq);
}

/* The generic-buffer queue, every slot but one holding a buffer. */
void qchimney_ind_create(QChimney *c, uint32_t entries, uint32_t buf_size)
{
    uint64_t ring = QEMU_ALIGN_UP(guest_alloc(c->alloc, entries *
                                              CHIMNEY_L2_DESC_SIZE + 64), 64);

    c->ind_buf_size = buf_size;
    g_assert_cmpuint(qchimney_create_l2q(c, CHIMNEY_QUEUE_INDICATE, ring,
                                         entries, 0), ==, CHIMNEY_ST_SUCCESS);
    for (uint32_t i = 0; i + 1 < entries; i++) {
        qchimney_ind_post(c, guest_alloc(c->alloc, buf_size));
    }
}

/*
 * A command on an offloaded connection: its completion arrives on the
 * connection's CQ, after the connection's earlier completions, which the
 * caller must already have taken.
 */
uint8_t qchimney_conn_cmd(QChimney *c, QChimneyConn *hc, uint8_t opcode,
                          uint64_t addr, ChimneyCqe *cqe)
{
    ChimneyAdminCmd cmd = {
        .opcode = opcode, .id = hc->id, .addr = addr,
        .cookie = ++c->next_cookie,
    };

    if (opcode != CHIMNEY_CMD_QUERY_TCP) {
        cmd.param[0] = CHIMNEY_OBJ_TCP;
    }
    qchimney_admin_submit(c, &cmd);
    qchimney_cq_wait(c, hc->cq, cqe);
    g_assert_cmpuint(CHIMNEY_CQE_TYPE(cqe->type_status), ==,
                     CHIMNEY_CQE_ADMIN);
    g_assert_cmphex(cqe->cookie, ==, cmd.cookie);
    return CHIMNEY_CQE_STATUS(cqe->type_status);
}
