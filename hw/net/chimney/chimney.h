/*
 * chimney-nic: device state shared by the files of the model
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_H
#define HW_NET_CHIMNEY_H

#include "hw/pci/pci_device.h"
#include "net/net.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qom/object.h"
#include "hw/net/chimney/chimney-abi.h"
#include "hw/net/chimney/chimney-irq.h"
#include "hw/net/chimney/chimney-queue.h"
#include "hw/net/chimney/chimney-conn.h"
#include "hw/net/chimney/chimney-fault.h"

#define TYPE_CHIMNEY_NIC "chimney-nic"
OBJECT_DECLARE_SIMPLE_TYPE(ChimneyState, CHIMNEY_NIC)

#define CHIMNEY_DEFAULT_CQS         8
#define CHIMNEY_DEFAULT_VECTORS     8
#define CHIMNEY_DEFAULT_MAX_CONNS   1024
#define CHIMNEY_DEFAULT_NEIGHBORS   256
#define CHIMNEY_DEFAULT_PATHS       1024
#define CHIMNEY_DEFAULT_SQ_ENTRIES  (256 * 1024)
#define CHIMNEY_MAX_CONNS_LIMIT     (1u << 20)
#define CHIMNEY_NUM_PARAMS          9
#define CHIMNEY_FEATURES (CHIMNEY_FEAT_L2 | CHIMNEY_FEAT_INTX | \
                          CHIMNEY_FEAT_MODERATION | CHIMNEY_FEAT_TCP_OFFLOAD | \
                          CHIMNEY_FEAT_TCP_RECEIVE | CHIMNEY_FEAT_TCP_IPV6 | \
                          CHIMNEY_FEAT_8021Q | CHIMNEY_FEAT_IRQ_HOLDOFF | \
                          CHIMNEY_FEAT_DB_HINT | CHIMNEY_FEAT_LAZY_CQ)
/* Admin commands and TX frames handled per bottom-half run. */
#define CHIMNEY_BH_BUDGET           64

/*
 * A guest mistake: one call emits the named trace event and the
 * LOG_GUEST_ERROR line (after NVMe's NVME_GUEST_ERR).  The trace event
 * takes exactly the arguments of the format.
 */
#define CHIMNEY_GUEST_ERR(trace, fmt, ...)                                 \
    do {                                                                   \
        (trace_##trace)(__VA_ARGS__);                                      \
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: " #trace " in %s: "    \
                      fmt "\n", __func__, ## __VA_ARGS__);                 \
    } while (0)

/* Counters readable over QMP (migrated with offloaded objects) */
typedef struct ChimneyStats {
    uint64_t tx_frames;
    uint64_t rx_frames;
    uint64_t rx_dropped;
    uint64_t stale_doorbells;
    uint64_t to_host;           /* offloaded 4-tuple, the host's segment */
    uint64_t indications;
    uint64_t forwarded;
    uint64_t rx_backlogged;     /* host frames that waited for a buffer */
    uint64_t rx_backlog_dropped;    /* and those that found it full */
    uint64_t rx_vlan_dropped;   /* offloaded 4-tuple, not its VLAN */
    uint64_t tx_held;           /* the backend queued a connection's frame */
} ChimneyStats;

struct ChimneyState {
    PCIDevice parent_obj;

    /* Properties */
    NICConf conf;
    uint32_t num_cqs;
    uint32_t num_vectors;
    uint32_t max_conns;
    uint32_t max_neighbors;
    uint32_t max_paths;
    uint32_t max_sq_entries;    /* all connections' send queues together */
    uint32_t tx_burst;          /* offloaded frames per bottom-half run */

    NICState *nic;
    MemoryRegion mmio;
    QEMUBH *bh;
    bool bh_scheduled;      /* chimney_schedule: bh is, until it runs */

    /* Registers */
    uint32_t ctrl;
    uint32_t status;
    uint32_t fatal_code;
    uint32_t fatal_info;
    uint32_t intr_cause;
    uint32_t intr_mask;
    uint64_t asq_base;
    uint32_t asq_size;
    uint64_t acq_base;
    uint32_t acq_size;

    /* Queues; a size of zero means "not created" */
    ChimneyRing asq;
    ChimneyRing l2_txq;
    ChimneyRing l2_rxq;
    ChimneyRing ind_q;          /* generic buffers for indications */
    ChimneyCQ cq[CHIMNEY_MAX_CQS];

    uint32_t params[CHIMNEY_NUM_PARAMS];
    bool params_set;

    /*
     * Host frames waiting for an L2 RX buffer while connections are
     * offloaded (chimney-l2.c), oldest at rx_backlog_head
     */
    uint8_t *rx_backlog[CHIMNEY_L2_RX_BACKLOG];
    uint32_t rx_backlog_len[CHIMNEY_L2_RX_BACKLOG];
    uint32_t rx_backlog_head, rx_backlog_count;

    /* A frame handed to the netdev that it has queued, not yet sent */
    bool tx_in_flight;
    /* Frames to and from the netdev carry a virtio-net header this long */
    uint32_t vnet_hdr_len;
    bool vnet_hdr_allowed;      /* property x-vnet-hdr */
    /* A link change not yet reported on the admin CQ */
    bool link_event_pending;

    /* Offloaded objects and their connections (chimney-conn.c) */
    ChimneyOffloadState offload;
    /* Fault injection (chimney-fault.c) */
    ChimneyFault fault;
    /* Interrupts wait for chimney_cq_batch_end (chimney-queue.c), nested */
    uint32_t irq_batch;
    /* property irq-holdoff: see "Interrupts and moderation" in the spec */
    bool irq_holdoff;

    ChimneyStats stats;

    uint8_t tx_frame[CHIMNEY_L2_MAX_FRAME];
};

static inline bool chimney_running(ChimneyState *s)
{
    return (s->status & (CHIMNEY_STATUS_READY | CHIMNEY_STATUS_FATAL)) ==
           CHIMNEY_STATUS_READY;
}

/*
 * Run the device's bottom half soon.  qemu_bh_schedule notifies the main
 * loop (an eventfd write while it dispatches) even when the half is
 * already scheduled: a burst of received frames paid one per frame.
 */
static inline void chimney_schedule(ChimneyState *s)
{
    if (!s->bh_scheduled) {
        s->bh_scheduled = true;
        qemu_bh_schedule(s->bh);
    }
}

/* chimney-admin.c */
void chimney_admin_process(ChimneyState *s);
bool chimney_params_valid(const uint32_t *params);

/* chimney-l2.c */
void chimney_l2_tx_process(ChimneyState *s);
void chimney_l2_rx_kick(ChimneyState *s);
bool chimney_l2_rx_ready(ChimneyState *s);
bool chimney_l2_rx_frame(ChimneyState *s, const uint8_t *buf, size_t size);
bool chimney_l2_rx_host(ChimneyState *s, const uint8_t *buf, size_t size);
void chimney_l2_rx_backlog_clear(ChimneyState *s);

/* chimney-migrate.c: the subsection of offloaded objects */
extern const VMStateDescription vmstate_chimney_offload;
void chimney_migrate_pre_load(ChimneyState *s);
int chimney_migrate_install(ChimneyState *s);

/* chimney-qom.c: the front's run-time properties */
void chimney_qom_add_properties(Object *obj);

#endif /* HW_NET_CHIMNEY_H */
