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
#include "qom/object.h"
#include "hw/net/chimney/chimney-abi.h"
#include "hw/net/chimney/chimney-queue.h"
#include "hw/net/chimney/chimney-offload.h"
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
                          CHIMNEY_FEAT_TCP_RECEIVE)
/* Admin commands and TX frames handled per bottom-half run. */
#define CHIMNEY_BH_BUDGET           64

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

    NICState *nic;
    MemoryRegion mmio;
    QEMUBH *bh;

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

    /* A frame handed to the netdev that it has queued, not yet sent */
    bool tx_in_flight;
    /* A link change not yet reported on the admin CQ */
    bool link_event_pending;

    /* Offloaded objects (chimney-offload.c); their presence blocks migration */
    ChimneyNeighbor *neighbors;
    ChimneyPath *paths;
    ChimneyConn **conns;
    GHashTable *conn_by_key;
    uint32_t num_objects;
    uint32_t sq_entries_used;   /* bounds what the guest makes us allocate */
    ChimneyRxSeg tcp_rx[CHIMNEY_TCP_RX_SLOTS];
    uint8_t *tcp_rx_frames;     /* CHIMNEY_L2_MAX_FRAME bytes per slot */
    uint32_t tcp_rx_head, tcp_rx_count;
    ChimneyTcpStack *tcp;
    /* connections with completions waiting for room, per CQ */
    QTAILQ_HEAD(, ChimneyConn) flush_list[CHIMNEY_MAX_CQS];
    QTAILQ_HEAD(, ChimneyConn) kick_list;   /* send doorbells to serve */
    QTAILQ_HEAD(, ChimneyConn) timer_list;  /* expired timers */
    QTAILQ_HEAD(, ChimneyConn) ind_list;    /* waiting for generic buffers */
    Error *migration_blocker;

    /* Fault injection (chimney-fault.c) */
    ChimneyFault fault;
    QTAILQ_HEAD(, ChimneyConn) wait_list;
    bool irq_batch;             /* interrupts wait for chimney_cq_fire_due */

    /* Statistics (not migrated) */
    uint64_t stat_tx_frames;
    uint64_t stat_rx_frames;
    uint64_t stat_rx_dropped;
    uint64_t stat_stale_doorbells;
    uint64_t stat_to_host;      /* offloaded 4-tuple, the host's segment */
    uint64_t stat_indications;
    uint64_t stat_forwarded;

    uint8_t tx_frame[CHIMNEY_L2_MAX_FRAME];
};

/* chimney-pci.c */
void chimney_fatal(ChimneyState *s, uint32_t code, uint32_t info);
void chimney_get_stat(Object *obj, Visitor *v, const char *name,
                      void *opaque, Error **errp);
static inline bool chimney_running(ChimneyState *s)
{
    return (s->status & (CHIMNEY_STATUS_READY | CHIMNEY_STATUS_FATAL)) ==
           CHIMNEY_STATUS_READY;
}

/* chimney-admin.c */
void chimney_admin_process(ChimneyState *s);
bool chimney_params_valid(const uint32_t *params);

/* chimney-l2.c */
void chimney_l2_tx_process(ChimneyState *s);
void chimney_l2_rx_kick(ChimneyState *s);
bool chimney_l2_rx_frame(ChimneyState *s, const uint8_t *buf, size_t size);
extern NetClientInfo chimney_net_info;

#endif /* HW_NET_CHIMNEY_H */
