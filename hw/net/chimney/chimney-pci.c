/*
 * chimney-nic: a PCI Ethernet function that is a TCP chimney offload target
 *
 * This file is the PCI function: registers and doorbells in BAR0, MSI-X
 * in BAR2 with INTx as fallback, enable/disable/reset, properties and
 * migration.  Queue mechanics live in chimney-queue.c, admin commands in
 * chimney-admin.c, the plain NIC path in chimney-l2.c.  The programming
 * model is docs/specs/chimney-nic.rst; the ABI is chimney-abi.h.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qapi/error.h"
#include "hw/pci/msix.h"
#include "hw/pci/pci.h"
#include "standard-headers/linux/virtio_net.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "hw/net/chimney/chimney.h"
#include "hw/net/chimney/chimney-io.h"
#include "hw/net/chimney/chimney-offload.h"
#include "trace.h"

/* Drop every queue and all queued work; registers stay. */
static void chimney_stop_queues(ChimneyState *s)
{
    NetClientState *nc = qemu_get_queue(s->nic);

    chimney_offload_reset(s);
    chimney_fault_reset(s);
    chimney_l2_rx_backlog_clear(s);
    memset(&s->asq, 0, sizeof(s->asq));
    memset(&s->l2_txq, 0, sizeof(s->l2_txq));
    memset(&s->ind_q, 0, sizeof(s->ind_q));
    memset(&s->l2_rxq, 0, sizeof(s->l2_rxq));
    for (int i = 0; i < CHIMNEY_MAX_CQS; i++) {
        chimney_cq_clear(&s->cq[i]);
    }
    memset(s->params, 0, sizeof(s->params));
    s->params_set = false;
    s->link_event_pending = false;
    s->status &= ~(CHIMNEY_STATUS_READY | CHIMNEY_STATUS_FATAL);
    s->fatal_code = CHIMNEY_FATAL_NONE;
    s->fatal_info = 0;
    s->intr_cause = 0;
    chimney_irq_update_intx(s);
    qemu_bh_cancel(s->bh);
    s->bh_scheduled = false;
    /* A stopped NIC holds no frames, in either direction. */
    qemu_purge_queued_packets(nc);
    if (nc->peer) {
        qemu_purge_queued_packets(nc->peer);
    }
    s->tx_in_flight = false;
    chimney_io_tx_turn(s);
}

/* Everything the driver set up goes away; link state is the host's. */
static void chimney_reset_state(ChimneyState *s)
{
    chimney_stop_queues(s);
    s->ctrl = 0;
    s->intr_mask = 0;
    s->asq_base = 0;
    s->asq_size = 0;
    s->acq_base = 0;
    s->acq_size = 0;
}

/*
 * The register to name in FATAL_INFO for an admin ring that fails the
 * geometry check: its size register when the size alone is invalid,
 * else its base (misaligned, or the ring wraps).  0: the ring is fine.
 */
static uint32_t chimney_ring_bad_reg(uint64_t base, uint32_t size,
                                     uint32_t esize, uint32_t base_reg,
                                     uint32_t size_reg)
{
    if (chimney_ring_geometry_valid(base, size, esize)) {
        return 0;
    }
    return chimney_ring_geometry_valid(0, size, esize) ? base_reg : size_reg;
}

static void chimney_enable(ChimneyState *s)
{
    uint32_t bad;

    bad = chimney_ring_bad_reg(s->asq_base, s->asq_size,
                               CHIMNEY_ADMIN_CMD_SIZE,
                               CHIMNEY_REG_ASQ_BASE_LO, CHIMNEY_REG_ASQ_SIZE);
    if (!bad) {
        bad = chimney_ring_bad_reg(s->acq_base, s->acq_size, CHIMNEY_CQE_SIZE,
                                   CHIMNEY_REG_ACQ_BASE_LO,
                                   CHIMNEY_REG_ACQ_SIZE);
    }
    if (bad) {
        CHIMNEY_GUEST_ERR(chimney_err_admin_config, "admin queue base/size "
                          "invalid (register 0x%" PRIx32 ")", bad);
        chimney_fatal(s, CHIMNEY_FATAL_ADMIN_CONFIG, bad);
        return;
    }
    s->asq = (ChimneyRing) {
        .base = s->asq_base, .size = s->asq_size, .cq = CHIMNEY_ADMIN_CQ_ID,
    };
    chimney_cq_init(&s->cq[CHIMNEY_ADMIN_CQ_ID], s->acq_base, s->acq_size,
                    0, 0, 0, 0);
    s->status |= CHIMNEY_STATUS_READY;
    trace_chimney_enable(s->asq_base, s->asq_size, s->acq_base, s->acq_size);
}

static void chimney_write_ctrl(ChimneyState *s, uint32_t val)
{
    if (val & CHIMNEY_CTRL_RESET) {
        trace_chimney_soft_reset();
        chimney_reset_state(s);
        return;
    }
    val &= CHIMNEY_CTRL_ENABLE;
    if ((val ^ s->ctrl) & CHIMNEY_CTRL_ENABLE) {
        s->ctrl = val;
        if (val & CHIMNEY_CTRL_ENABLE) {
            chimney_enable(s);
        } else {
            chimney_stop_queues(s);
        }
    }
}

static uint32_t chimney_mmio_read32(ChimneyState *s, hwaddr addr)
{
    const uint8_t *mac = s->conf.macaddr.a;
    uint32_t val;

    switch (addr) {
    case CHIMNEY_REG_ID:
        val = CHIMNEY_ID_MAGIC;
        break;
    case CHIMNEY_REG_VERSION:
        val = CHIMNEY_VERSION;
        break;
    case CHIMNEY_REG_CAP_QUEUES:
        val = s->num_cqs | (s->num_vectors << 8);
        break;
    case CHIMNEY_REG_CAP_MAX_CONNS:
        val = s->max_conns;
        break;
    case CHIMNEY_REG_CAP_RING:
        val = CHIMNEY_RING_LOG2_MAX | (CHIMNEY_RING_LOG2_MIN << 8);
        break;
    case CHIMNEY_REG_FEATURES:
        val = CHIMNEY_FEATURES;
        break;
    case CHIMNEY_REG_CTRL:
        val = s->ctrl;
        break;
    case CHIMNEY_REG_STATUS:
        val = s->status;
        break;
    case CHIMNEY_REG_FATAL_CODE:
        val = s->fatal_code;
        break;
    case CHIMNEY_REG_FATAL_INFO:
        val = s->fatal_info;
        break;
    case CHIMNEY_REG_MAC_LO:
        val = ldl_le_p(mac);
        break;
    case CHIMNEY_REG_MAC_HI:
        val = lduw_le_p(mac + 4);
        break;
    case CHIMNEY_REG_ASQ_BASE_LO:
        val = s->asq_base;
        break;
    case CHIMNEY_REG_ASQ_BASE_HI:
        val = s->asq_base >> 32;
        break;
    case CHIMNEY_REG_ASQ_SIZE:
        val = s->asq_size;
        break;
    case CHIMNEY_REG_ACQ_BASE_LO:
        val = s->acq_base;
        break;
    case CHIMNEY_REG_ACQ_BASE_HI:
        val = s->acq_base >> 32;
        break;
    case CHIMNEY_REG_ACQ_SIZE:
        val = s->acq_size;
        break;
    case CHIMNEY_REG_INTR_CAUSE:
        val = s->intr_cause;
        break;
    case CHIMNEY_REG_INTR_MASK:
        val = s->intr_mask;
        break;
    default:
        val = 0;
        if (addr < CHIMNEY_DOORBELL_BASE) {
            CHIMNEY_GUEST_ERR(chimney_err_reg_read, "read of reserved "
                              "register 0x%" PRIx64, (uint64_t)addr);
        }
        break;
    }
    trace_chimney_mmio_read(addr, val);
    return val;
}

static void chimney_write_admin_reg(ChimneyState *s, hwaddr addr, uint32_t val)
{
    if (s->ctrl & CHIMNEY_CTRL_ENABLE) {
        CHIMNEY_GUEST_ERR(chimney_err_admin_reg, "admin queue register 0x%"
                          PRIx64 " written while enabled", (uint64_t)addr);
        return;
    }
    switch (addr) {
    case CHIMNEY_REG_ASQ_BASE_LO:
        s->asq_base = deposit64(s->asq_base, 0, 32, val);
        break;
    case CHIMNEY_REG_ASQ_BASE_HI:
        s->asq_base = deposit64(s->asq_base, 32, 32, val);
        break;
    case CHIMNEY_REG_ASQ_SIZE:
        s->asq_size = val;
        break;
    case CHIMNEY_REG_ACQ_BASE_LO:
        s->acq_base = deposit64(s->acq_base, 0, 32, val);
        break;
    case CHIMNEY_REG_ACQ_BASE_HI:
        s->acq_base = deposit64(s->acq_base, 32, 32, val);
        break;
    case CHIMNEY_REG_ACQ_SIZE:
        s->acq_size = val;
        break;
    default:
        /*
         * Not guest-reachable: chimney_mmio_write32 calls this only for the
         * six offsets above.
         */
        g_assert_not_reached();
    }
}

/* A doorbell for ring @q: a new producer index. */
static bool chimney_ring_doorbell(ChimneyState *s, ChimneyRing *q,
                                  hwaddr addr, uint32_t val)
{
    if (!q->size || val >= q->size) {
        CHIMNEY_GUEST_ERR(chimney_err_doorbell_value, "doorbell 0x%" PRIx64
                          " value %" PRIu32 " for a ring of %" PRIu32
                          " entries", (uint64_t)addr, val, q->size);
        chimney_fatal(s, CHIMNEY_FATAL_DOORBELL, addr);
        return false;
    }
    q->tail = val;
    return true;
}

static void chimney_doorbell(ChimneyState *s, hwaddr addr, uint32_t val)
{
    trace_chimney_doorbell(addr, val);
    if (!chimney_running(s)) {
        CHIMNEY_GUEST_ERR(chimney_err_doorbell_not_ready, "doorbell 0x%"
                          PRIx64 " rung while the device is not ready",
                          (uint64_t)addr);
        return;
    }
    switch (addr) {
    case CHIMNEY_DB_ASQ_TAIL:
        chimney_ring_doorbell(s, &s->asq, addr, val);
        break;
    case CHIMNEY_DB_L2_TXQ_TAIL:
        chimney_ring_doorbell(s, &s->l2_txq, addr, val);
        break;
    case CHIMNEY_DB_L2_RXQ_TAIL:
        chimney_ring_doorbell(s, &s->l2_rxq, addr, val);
        break;
    case CHIMNEY_DB_CONN_SQ:
        chimney_io_doorbell(s, val);
        return;
    case CHIMNEY_DB_IND_TAIL:
        /* the bottom half serves the connections that wait for buffers */
        chimney_ring_doorbell(s, &s->ind_q, addr, val);
        break;
    default:
        if (addr >= CHIMNEY_DB_CQ_HEAD(0) &&
            addr < CHIMNEY_DB_CQ_HEAD(s->num_cqs)) {
            uint32_t cqid = (addr - CHIMNEY_DB_CQ_HEAD(0)) / 4;

            if (!chimney_cq_set_head(s, cqid, val)) {
                chimney_fatal(s, CHIMNEY_FATAL_DOORBELL, addr);
            }
        } else {
            CHIMNEY_GUEST_ERR(chimney_err_doorbell_unknown, "write to unknown "
                              "doorbell 0x%" PRIx64, (uint64_t)addr);
            chimney_fatal(s, CHIMNEY_FATAL_DOORBELL, addr);
        }
        break;
    }
    chimney_schedule(s);
}

static void chimney_mmio_write32(ChimneyState *s, hwaddr addr, uint32_t val)
{
    trace_chimney_mmio_write(addr, val);
    if (addr >= CHIMNEY_DOORBELL_BASE) {
        chimney_doorbell(s, addr, val);
        return;
    }
    switch (addr) {
    case CHIMNEY_REG_CTRL:
        chimney_write_ctrl(s, val);
        break;
    case CHIMNEY_REG_ASQ_BASE_LO:
    case CHIMNEY_REG_ASQ_BASE_HI:
    case CHIMNEY_REG_ASQ_SIZE:
    case CHIMNEY_REG_ACQ_BASE_LO:
    case CHIMNEY_REG_ACQ_BASE_HI:
    case CHIMNEY_REG_ACQ_SIZE:
        chimney_write_admin_reg(s, addr, val);
        break;
    case CHIMNEY_REG_INTR_CAUSE:
        s->intr_cause &= ~val;
        chimney_irq_update_intx(s);
        break;
    case CHIMNEY_REG_INTR_MASK:
        s->intr_mask = val & MAKE_64BIT_MASK(0, s->num_cqs);
        chimney_irq_update_intx(s);
        break;
    default:
        CHIMNEY_GUEST_ERR(chimney_err_reg_write, "write 0x%" PRIx32 " to "
                          "read-only or reserved register 0x%" PRIx64, val,
                          (uint64_t)addr);
        break;
    }
}

/*
 * BAR0 takes aligned 32-bit accesses; an 8-byte-aligned 64-bit access is
 * two of them, the lower address first.  Anything else is ignored (a
 * read returns 0) and reported: every access reaches these handlers, so
 * TCG, KVM and qtest see the same rule and the guest error its name.
 */
static bool chimney_mmio_width_ok(hwaddr addr, unsigned size, bool write)
{
    if ((size == 4 && !(addr & 3)) || (size == 8 && !(addr & 7))) {
        return true;
    }
    CHIMNEY_GUEST_ERR(chimney_err_reg_width, "%u-byte %s at 0x%" PRIx64
                      " ignored (aligned 32- or 64-bit accesses only)", size,
                      write ? "write" : "read", (uint64_t)addr);
    return false;
}

static uint64_t chimney_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    ChimneyState *s = opaque;
    uint64_t val;

    if (!chimney_mmio_width_ok(addr, size, false)) {
        return 0;
    }
    val = chimney_mmio_read32(s, addr);
    if (size == 8) {
        val |= (uint64_t)chimney_mmio_read32(s, addr + 4) << 32;
    }
    return val;
}

static void chimney_mmio_write(void *opaque, hwaddr addr, uint64_t val,
                               unsigned size)
{
    ChimneyState *s = opaque;

    if (!chimney_mmio_width_ok(addr, size, true)) {
        return;
    }
    chimney_mmio_write32(s, addr, val);
    if (size == 8) {
        chimney_mmio_write32(s, addr + 4, val >> 32);
    }
}

static const MemoryRegionOps chimney_mmio_ops = {
    .read = chimney_mmio_read,
    .write = chimney_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
    .impl = {
        .min_access_size = 1,
        .max_access_size = 8,
        .unaligned = true,
    },
};

/* --- the net client --- */

static bool chimney_can_receive(NetClientState *nc)
{
    ChimneyState *s = qemu_get_nic_opaque(nc);

    return chimney_l2_rx_ready(s) ||
           (chimney_running(s) && chimney_conn_any(s));
}

static ssize_t chimney_receive(NetClientState *nc, const uint8_t *buf,
                               size_t size)
{
    ChimneyState *s = qemu_get_nic_opaque(nc);
    size_t all = size;

    /* No offloads are enabled on the tap: the header says nothing */
    if (s->vnet_hdr_len) {
        if (size < s->vnet_hdr_len) {
            return size;
        }
        buf += s->vnet_hdr_len;
        size -= s->vnet_hdr_len;
    }

    /* The classifier: segments of offloaded 4-tuples go to the engine */
    if (chimney_running(s)) {
        int taken = chimney_io_classify(s, buf, size);

        if (taken >= 0) {
            return taken ? all : 0;
        }
        /* The host's: a buffer, the backlog, or back-pressure */
        if (s->l2_rxq.size && !chimney_l2_rx_host(s, buf, size)) {
            return 0;
        }
    }
    /* A stopped NIC or one without an RX queue drops */
    return all;
}

/*
 * A backend that takes a virtio-net header (a tap with vnet_hdr) sums
 * and segments the engine's frames, as it does igb's and virtio-net's;
 * every frame in either direction then carries the header.
 */
static void chimney_net_vnet_hdr(ChimneyState *s)
{
    NetClientState *nc = qemu_get_queue(s->nic);

    if (!s->vnet_hdr_allowed || !nc->peer || !qemu_has_vnet_hdr(nc->peer) ||
        !qemu_has_vnet_hdr_len(nc->peer, sizeof(struct virtio_net_hdr))) {
        return;
    }
    qemu_set_vnet_hdr_len(nc->peer, sizeof(struct virtio_net_hdr));
    s->vnet_hdr_len = sizeof(struct virtio_net_hdr);
    /* the engine's stack learns it */
    chimney_io_stack_init(s);
}

static void chimney_link_status_changed(NetClientState *nc)
{
    ChimneyState *s = qemu_get_nic_opaque(nc);

    if (nc->link_down) {
        s->status &= ~CHIMNEY_STATUS_LINK_UP;
    } else {
        s->status |= CHIMNEY_STATUS_LINK_UP;
    }
    trace_chimney_link(!nc->link_down);
    s->link_event_pending = true;
    chimney_schedule(s);
}

static NetClientInfo chimney_net_info = {
    .type = NET_CLIENT_DRIVER_NIC,
    .size = sizeof(NICState),
    .can_receive = chimney_can_receive,
    .receive = chimney_receive,
    .link_status_changed = chimney_link_status_changed,
};

static void chimney_post_link_event(ChimneyState *s)
{
    ChimneyCqe cqe = {
        .queue = CHIMNEY_QUEUE_ADMIN,
        .aux = CHIMNEY_EVENT_LINK,
        .info = !!(s->status & CHIMNEY_STATUS_LINK_UP),
        .type_status = CHIMNEY_CQE_MAKE(CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS,
                                        0),
    };

    if (chimney_cq_post(s, CHIMNEY_ADMIN_CQ_ID, &cqe)) {
        s->link_event_pending = false;
    }
}

/* All queue work runs here, under the device's re-entrancy guard. */
static void chimney_bh(void *opaque)
{
    ChimneyState *s = opaque;

    s->bh_scheduled = false;
    if (!chimney_running(s)) {
        return;
    }
    chimney_io_tx_turn(s);
    chimney_dmamap_begin(s);
    /* One interrupt per CQ for all this run writes */
    chimney_cq_batch_begin(s);
    if (s->link_event_pending) {
        chimney_post_link_event(s);
    }
    chimney_admin_process(s);
    chimney_io_work(s);
    chimney_conn_fault_consequences(s);
    chimney_fault_work(s);
    chimney_conn_flush_waiting(s);
    chimney_l2_tx_process(s);
    chimney_l2_rx_kick(s);
    chimney_cq_batch_end(s);
    chimney_dmamap_end(s);
}

static void chimney_write_config(PCIDevice *pdev, uint32_t addr, uint32_t val,
                                 int len)
{
    ChimneyState *s = CHIMNEY_NIC(pdev);

    pci_default_write_config(pdev, addr, val, len);
    if (range_covers_byte(addr, len, PCI_COMMAND) &&
        (pdev->config[PCI_COMMAND] & PCI_COMMAND_MASTER)) {
        chimney_schedule(s);
    }
    /* MSI-X on or off moves interrupts between MSI-X and INTx. */
    chimney_irq_update_intx(s);
}

static void chimney_realize(PCIDevice *pdev, Error **errp)
{
    ChimneyState *s = CHIMNEY_NIC(pdev);
    DeviceState *dev = DEVICE(pdev);

    if (s->num_cqs < 2 || s->num_cqs > CHIMNEY_MAX_CQS) {
        error_setg(errp, "cqs must be between 2 and %d", CHIMNEY_MAX_CQS);
        return;
    }
    if (s->num_vectors < 1 || s->num_vectors > CHIMNEY_MAX_CQS) {
        error_setg(errp, "vectors must be between 1 and %d", CHIMNEY_MAX_CQS);
        return;
    }
    if (s->max_conns < 1 || s->max_conns > CHIMNEY_MAX_CONNS_LIMIT) {
        error_setg(errp, "max-conns must be between 1 and %u",
                   CHIMNEY_MAX_CONNS_LIMIT);
        return;
    }
    if (s->max_sq_entries < 4 || s->max_sq_entries > (1u << 24)) {
        error_setg(errp, "max-sq-entries must be between 4 and %u",
                   1u << 24);
        return;
    }
    if (s->tx_burst < 1 || s->tx_burst > 65536) {
        error_setg(errp, "x-tx-burst must be between 1 and 65536");
        return;
    }
    if (s->max_neighbors < 1 || s->max_neighbors > 65536 ||
        s->max_paths < 1 || s->max_paths > CHIMNEY_MAX_CONNS_LIMIT) {
        error_setg(errp, "max-neighbors must be between 1 and 65536 and "
                   "max-paths between 1 and %u", CHIMNEY_MAX_CONNS_LIMIT);
        return;
    }

    pdev->config_write = chimney_write_config;
    pci_config_set_interrupt_pin(pdev->config, 1);

    memory_region_init_io(&s->mmio, OBJECT(s), &chimney_mmio_ops, s,
                          "chimney-nic-mmio", CHIMNEY_MMIO_SIZE);
    pci_register_bar(pdev, CHIMNEY_BAR_MMIO, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->mmio);
    if (msix_init_exclusive_bar(pdev, s->num_vectors, CHIMNEY_BAR_MSIX,
                                errp)) {
        return;
    }
    for (uint32_t i = 0; i < s->num_vectors; i++) {
        msix_vector_use(pdev, i);
    }

    s->bh = qemu_bh_new_guarded(chimney_bh, s, &dev->mem_reentrancy_guard);
    s->bh_scheduled = false;
    chimney_offload_init(s);
    chimney_fault_init(s);
    for (int i = 0; i < CHIMNEY_MAX_CQS; i++) {
        s->cq[i].owner = s;
        s->cq[i].mod_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL,
                                          chimney_cq_timer_cb, &s->cq[i]);
    }

    qemu_macaddr_default_if_unset(&s->conf.macaddr);
    s->nic = qemu_new_nic(&chimney_net_info, &s->conf,
                          object_get_typename(OBJECT(s)), dev->id,
                          &dev->mem_reentrancy_guard, s);
    qemu_format_nic_info_str(qemu_get_queue(s->nic), s->conf.macaddr.a);
    chimney_net_vnet_hdr(s);
    if (!qemu_get_queue(s->nic)->link_down) {
        s->status |= CHIMNEY_STATUS_LINK_UP;
    }
}

static void chimney_exit(PCIDevice *pdev)
{
    ChimneyState *s = CHIMNEY_NIC(pdev);

    /* Frames the backend holds call back into the offload state: now */
    qemu_purge_queued_packets(qemu_get_queue(s->nic));
    chimney_offload_exit(s);
    chimney_fault_exit(s);
    chimney_l2_rx_backlog_clear(s);
    qemu_del_nic(s->nic);
    for (int i = 0; i < CHIMNEY_MAX_CQS; i++) {
        timer_free(s->cq[i].mod_timer);
    }
    qemu_bh_delete(s->bh);
    msix_unuse_all_vectors(pdev);
    msix_uninit_exclusive_bar(pdev);
}

static void chimney_reset_hold(Object *obj, ResetType type)
{
    ChimneyState *s = CHIMNEY_NIC(obj);

    trace_chimney_reset();
    chimney_reset_state(s);
}

static bool chimney_ring_state_valid(ChimneyState *s, const ChimneyRing *q,
                                     uint32_t esize)
{
    if (!q->size) {
        return !q->base && !q->head && !q->tail && !q->cq;
    }
    return chimney_ring_geometry_valid(q->base, q->size, esize) &&
           q->head < q->size && q->tail < q->size &&
           q->cq < s->num_cqs && s->cq[q->cq].size;
}

static bool chimney_cq_state_valid(ChimneyState *s, const ChimneyCQ *cq)
{
    if (!cq->size) {
        return !cq->tail && !cq->head && !cq->unsignalled && !cq->holdoff &&
               !cq->lazy;
    }
    if (cq->lazy && !cq->holdoff) {
        return false;
    }
    return chimney_ring_geometry_valid(cq->base, cq->size, CHIMNEY_CQE_SIZE) &&
           cq->head < cq->size && cq->tail < cq->size && cq->phase <= 1 &&
           cq->vector < s->num_vectors &&
           cq->mod_usec <= CHIMNEY_CQ_MOD_USEC_MAX;
}

/* A bad stream: say what, and fail the load */
static int chimney_load_refused(const char *what)
{
    error_report("chimney-nic: the stream's %s is invalid", what);
    return -EINVAL;
}

static int chimney_post_load(void *opaque, int version_id)
{
    ChimneyState *s = opaque;
    const uint32_t known = CHIMNEY_STATUS_READY | CHIMNEY_STATUS_FATAL |
                           CHIMNEY_STATUS_LINK_UP;

    if ((s->status & ~known) || (s->ctrl & ~CHIMNEY_CTRL_ENABLE) ||
        (s->intr_cause | s->intr_mask) & ~MAKE_64BIT_MASK(0, s->num_cqs) ||
        (s->params_set && !chimney_params_valid(s->params))) {
        return chimney_load_refused("register or SET_PARAMS state");
    }
    for (int i = 0; i < CHIMNEY_MAX_CQS; i++) {
        if (!chimney_cq_state_valid(s, &s->cq[i]) ||
            (i >= s->num_cqs && s->cq[i].size)) {
            return chimney_load_refused("a completion queue");
        }
    }
    if ((s->status & CHIMNEY_STATUS_READY) &&
        (!s->asq.size || !s->cq[CHIMNEY_ADMIN_CQ_ID].size ||
         s->asq.cq != CHIMNEY_ADMIN_CQ_ID)) {
        return chimney_load_refused("the admin queues");
    }
    if (!chimney_ring_state_valid(s, &s->asq, CHIMNEY_ADMIN_CMD_SIZE) ||
        !chimney_ring_state_valid(s, &s->l2_txq, CHIMNEY_L2_DESC_SIZE) ||
        !chimney_ring_state_valid(s, &s->l2_rxq, CHIMNEY_L2_DESC_SIZE) ||
        !chimney_ring_state_valid(s, &s->ind_q, CHIMNEY_L2_DESC_SIZE) ||
        (s->l2_txq.size && s->l2_txq.cq == CHIMNEY_ADMIN_CQ_ID) ||
        (s->l2_rxq.size && s->l2_rxq.cq == CHIMNEY_ADMIN_CQ_ID)) {
        return chimney_load_refused("a ring");
    }
    if (s->params_set) {
        chimney_offload_set_params(s);
    }
    if (chimney_migrate_install(s) < 0) {
        return -EINVAL;
    }
    /* The link is the backend's; the status bit follows it. */
    qemu_get_queue(s->nic)->link_down =
        !(s->status & CHIMNEY_STATUS_LINK_UP);
    s->tx_in_flight = false;
    chimney_schedule(s);
    return 0;
}

static int chimney_pre_load(void *opaque)
{
    ChimneyState *s = opaque;

    /* a stream without the holdoff or lazy subsection means none */
    for (uint32_t i = 0; i < CHIMNEY_MAX_CQS; i++) {
        s->cq[i].holdoff = false;
        s->cq[i].lazy = false;
        s->cq[i].urgent_held = false;
    }
    chimney_migrate_pre_load(s);
    return 0;
}

static bool chimney_cq_holdoff_needed(void *opaque)
{
    return ((ChimneyCQ *)opaque)->holdoff;
}

static const VMStateDescription vmstate_chimney_cq_holdoff = {
    .name = "chimney-nic/cq/holdoff",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = chimney_cq_holdoff_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(holdoff, ChimneyCQ),
        VMSTATE_END_OF_LIST()
    },
};

/* CHIMNEY_CQF_LAZY (1.4): only sent for a CQ created with it */
static bool chimney_cq_lazy_needed(void *opaque)
{
    return ((ChimneyCQ *)opaque)->lazy;
}

static const VMStateDescription vmstate_chimney_cq_lazy = {
    .name = "chimney-nic/cq/lazy",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = chimney_cq_lazy_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(lazy, ChimneyCQ),
        VMSTATE_BOOL(urgent_held, ChimneyCQ),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_chimney_cq = {
    .name = "chimney-nic/cq",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(base, ChimneyCQ),
        VMSTATE_UINT32(size, ChimneyCQ),
        VMSTATE_UINT32(tail, ChimneyCQ),
        VMSTATE_UINT32(head, ChimneyCQ),
        VMSTATE_UINT32(phase, ChimneyCQ),
        VMSTATE_UINT32(vector, ChimneyCQ),
        VMSTATE_UINT32(mod_count, ChimneyCQ),
        VMSTATE_UINT32(mod_usec, ChimneyCQ),
        VMSTATE_UINT32(unsignalled, ChimneyCQ),
        VMSTATE_BOOL(irq_due, ChimneyCQ),
        VMSTATE_TIMER_PTR(mod_timer, ChimneyCQ),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_chimney_cq_holdoff,
        &vmstate_chimney_cq_lazy,
        NULL
    },
};

static bool chimney_ind_q_needed(void *opaque)
{
    ChimneyState *s = opaque;

    return s->ind_q.size != 0;
}

/* The generic-buffer queue came with interface 1.1 */
static const VMStateDescription vmstate_chimney_ind_q = {
    .name = "chimney-nic/ind-q",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = chimney_ind_q_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT(ind_q, ChimneyState, 1, vmstate_chimney_ring,
                       ChimneyRing),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_chimney = {
    .name = "chimney-nic",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_load = chimney_pre_load,
    .post_load = chimney_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, ChimneyState),
        VMSTATE_MSIX(parent_obj, ChimneyState),
        VMSTATE_UINT32(ctrl, ChimneyState),
        VMSTATE_UINT32(status, ChimneyState),
        VMSTATE_UINT32(fatal_code, ChimneyState),
        VMSTATE_UINT32(fatal_info, ChimneyState),
        VMSTATE_UINT32(intr_cause, ChimneyState),
        VMSTATE_UINT32(intr_mask, ChimneyState),
        VMSTATE_UINT64(asq_base, ChimneyState),
        VMSTATE_UINT32(asq_size, ChimneyState),
        VMSTATE_UINT64(acq_base, ChimneyState),
        VMSTATE_UINT32(acq_size, ChimneyState),
        VMSTATE_STRUCT(asq, ChimneyState, 1, vmstate_chimney_ring,
                       ChimneyRing),
        VMSTATE_STRUCT(l2_txq, ChimneyState, 1, vmstate_chimney_ring,
                       ChimneyRing),
        VMSTATE_STRUCT(l2_rxq, ChimneyState, 1, vmstate_chimney_ring,
                       ChimneyRing),
        VMSTATE_STRUCT_ARRAY(cq, ChimneyState, CHIMNEY_MAX_CQS, 1,
                             vmstate_chimney_cq, ChimneyCQ),
        VMSTATE_UINT32_ARRAY(params, ChimneyState, CHIMNEY_NUM_PARAMS),
        VMSTATE_BOOL(params_set, ChimneyState),
        VMSTATE_BOOL(link_event_pending, ChimneyState),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_chimney_ind_q,
        &vmstate_chimney_offload,
        NULL
    },
};

static const Property chimney_properties[] = {
    DEFINE_NIC_PROPERTIES(ChimneyState, conf),
    DEFINE_PROP_UINT32("cqs", ChimneyState, num_cqs, CHIMNEY_DEFAULT_CQS),
    DEFINE_PROP_BOOL("irq-holdoff", ChimneyState, irq_holdoff, false),
    /* off: frames without a virtio-net header, the device sums them */
    DEFINE_PROP_BOOL("x-vnet-hdr", ChimneyState, vnet_hdr_allowed, true),
    DEFINE_PROP_UINT32("vectors", ChimneyState, num_vectors,
                       CHIMNEY_DEFAULT_VECTORS),
    DEFINE_PROP_UINT32("max-conns", ChimneyState, max_conns,
                       CHIMNEY_DEFAULT_MAX_CONNS),
    DEFINE_PROP_UINT32("max-neighbors", ChimneyState, max_neighbors,
                       CHIMNEY_DEFAULT_NEIGHBORS),
    DEFINE_PROP_UINT32("max-paths", ChimneyState, max_paths,
                       CHIMNEY_DEFAULT_PATHS),
    DEFINE_PROP_UINT32("max-sq-entries", ChimneyState, max_sq_entries,
                       CHIMNEY_DEFAULT_SQ_ENTRIES),
    /* offloaded frames per bottom-half run, as virtio-net's x-txburst */
    DEFINE_PROP_UINT32("x-tx-burst", ChimneyState, tx_burst,
                       CHIMNEY_BH_BUDGET),
};

static void chimney_instance_init(Object *obj)
{
    chimney_qom_add_properties(obj);
}

static void chimney_instance_finalize(Object *obj)
{
    chimney_fault_finalize(CHIMNEY_NIC(obj));
}

static void chimney_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    k->realize = chimney_realize;
    k->exit = chimney_exit;
    k->vendor_id = CHIMNEY_PCI_VENDOR_ID;
    k->device_id = CHIMNEY_PCI_DEVICE_ID;
    k->revision = CHIMNEY_PCI_REVISION;
    k->class_id = PCI_CLASS_NETWORK_ETHERNET;
    rc->phases.hold = chimney_reset_hold;
    dc->desc = "TCP chimney offload NIC";
    dc->vmsd = &vmstate_chimney;
    device_class_set_props(dc, chimney_properties);
    set_bit(DEVICE_CATEGORY_NETWORK, dc->categories);
}

static const TypeInfo chimney_info = {
    .name = TYPE_CHIMNEY_NIC,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(ChimneyState),
    .instance_init = chimney_instance_init,
    .instance_finalize = chimney_instance_finalize,
    .class_init = chimney_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { }
    },
};

static void chimney_register_types(void)
{
    type_register_static(&chimney_info);
}

type_init(chimney_register_types)
