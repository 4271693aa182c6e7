/*
 * chimney-nic miniport: the adapter, shared by the driver's files
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_MINIPORT_H
#define CHIMNEY_MINIPORT_H

#include "chimney-ndis.h"
#include "guest/common/chimney-guest.h"
#include "guest/common/chimney-guest-ndis.h"

/* The driver core reads NDIS's TCP state through its own mirrors */
#define CHIMNEY_SAME_FIELD(a, fa, b, fb) \
    _Static_assert(offsetof(a, fa) == offsetof(b, fb), #fa " of " #a)
_Static_assert(sizeof(TCP_OFFLOAD_STATE_CONST) == sizeof(ChimneyNdisTcpConst),
               "TCP const state");
_Static_assert(sizeof(TCP_OFFLOAD_STATE_CACHED) ==
               sizeof(ChimneyNdisTcpCached), "TCP cached state");
_Static_assert(sizeof(TCP_OFFLOAD_STATE_DELEGATED) ==
               sizeof(ChimneyNdisTcpDelegated), "TCP delegated state");
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_CONST, RemotePort,
                   ChimneyNdisTcpConst, remote_port);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_CONST, RemoteMss,
                   ChimneyNdisTcpConst, remote_mss);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_CACHED, KaProbeCount,
                   ChimneyNdisTcpCached, ka_probe_count);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_CACHED, MaxRT,
                   ChimneyNdisTcpCached, max_rt);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_CACHED, TosOrTrafficClass,
                   ChimneyNdisTcpCached, tos_or_traffic_class);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, SendWL1,
                   ChimneyNdisTcpDelegated, send_wl1);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, TotalRT,
                   ChimneyNdisTcpDelegated, total_rt);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, KeepAlive.TimeoutDelta,
                   ChimneyNdisTcpDelegated, ka_timeout_delta);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, Retransmit.TimeoutDelta,
                   ChimneyNdisTcpDelegated, rexmit_timeout_delta);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, BufferedData,
                   ChimneyNdisTcpDelegated, buffered_data);

_Static_assert(sizeof(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST) ==
               sizeof(ChimneyNdisBlock), "offload block list");
CHIMNEY_SAME_FIELD(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST, NextBlock,
                   ChimneyNdisBlock, next);
CHIMNEY_SAME_FIELD(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST, DependentBlockList,
                   ChimneyNdisBlock, dependents);
CHIMNEY_SAME_FIELD(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST, Status,
                   ChimneyNdisBlock, status);
CHIMNEY_SAME_FIELD(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST, MiniportReserved,
                   ChimneyNdisBlock, miniport_reserved);

#define CHIMNEY_POOL_TAG        0x796d6843      /* "Chmy" */
#define CHIMNEY_ADMIN_ENTRIES   16

/*
 * Shared memory, in two blocks: the rings (admin SQ and CQ, IDENTIFY,
 * the L2 CQ and the L2 TX and RX rings), reached by the driver core
 * through ChimneyGuestMem; and the frame buffers, a 2 KiB slot per TX
 * ring entry (frames are copied in) and per RX buffer.
 */
#define CHIMNEY_L2_ENTRIES      64
#define CHIMNEY_L2_CQ_ENTRIES   128
#define CHIMNEY_L2_CQ           1
#define CHIMNEY_SLOT            2048

#define CHIMNEY_SHM_SIZE        16384
#define CHIMNEY_SHM_ASQ         0
#define CHIMNEY_SHM_ACQ         (CHIMNEY_SHM_ASQ + \
                                 CHIMNEY_ADMIN_ENTRIES * CHIMNEY_ADMIN_CMD_SIZE)
#define CHIMNEY_SHM_IDENTIFY    (CHIMNEY_SHM_ACQ + \
                                 CHIMNEY_ADMIN_ENTRIES * CHIMNEY_CQE_SIZE)
#define CHIMNEY_SHM_L2CQ        4096
#define CHIMNEY_SHM_TXQ         (CHIMNEY_SHM_L2CQ + \
                                 CHIMNEY_L2_CQ_ENTRIES * CHIMNEY_CQE_SIZE)
#define CHIMNEY_SHM_RXQ         (CHIMNEY_SHM_TXQ + \
                                 CHIMNEY_L2_ENTRIES * CHIMNEY_L2_DESC_SIZE)
#define CHIMNEY_DATA_TX         0
#define CHIMNEY_DATA_RX         (CHIMNEY_L2_ENTRIES * CHIMNEY_SLOT)
#define CHIMNEY_DATA_SIZE       (2 * CHIMNEY_L2_ENTRIES * CHIMNEY_SLOT)

_Static_assert(CHIMNEY_SHM_IDENTIFY + CHIMNEY_IDENTIFY_SIZE <=
               CHIMNEY_SHM_L2CQ, "admin area overlaps the L2 CQ");
_Static_assert(CHIMNEY_SHM_RXQ + CHIMNEY_L2_ENTRIES * CHIMNEY_L2_DESC_SIZE <=
               CHIMNEY_SHM_SIZE, "rings exceed the shared block");

/*
 * TCP chimney: offloaded objects live in fixed tables (the capacity the
 * adapter reports), each connection with its own block of shared memory:
 * send queue, receive queue, doorbell record and the scatter-gather lists
 * of its requests.  All connections complete on CQ 2; the generic-buffer
 * queue holds the buffers of receive indications.
 */
#define CHIMNEY_MAX_NEIGHBORS   16
#define CHIMNEY_MAX_PATHS       32
#define CHIMNEY_MAX_OFFLOADS    64      /* TcpConnectionOffloadCapacity */
#define CHIMNEY_CONN_CQ         2
#define CHIMNEY_CONN_CQ_ENTRIES 1024
#define CHIMNEY_CONN_SQ_ENTRIES 32
#define CHIMNEY_CONN_RCVS       16      /* receive requests outstanding */
#define CHIMNEY_REQ_SGE         32      /* SGL entries of one request */
#define CHIMNEY_IND_ENTRIES     64
#define CHIMNEY_IND_SLOT        4096
#define CHIMNEY_FWD_SLOTS       4       /* FORWARD commands in flight */
#define CHIMNEY_FWD_SLOT        CHIMNEY_FORWARD_MAX

#define CHIMNEY_CONN_SQ         0
#define CHIMNEY_CONN_RQ         (CHIMNEY_CONN_SQ + CHIMNEY_CONN_SQ_ENTRIES * \
                                 sizeof(ChimneySqDesc))
#define CHIMNEY_CONN_DB         (CHIMNEY_CONN_RQ + \
                                 CHIMNEY_CONN_RCVS * sizeof(ChimneySqDesc))
#define CHIMNEY_CONN_SGL        (CHIMNEY_CONN_DB + 64)
#define CHIMNEY_SGL_BYTES       (CHIMNEY_REQ_SGE * sizeof(ChimneySge))
#define CHIMNEY_CONN_MEM        (CHIMNEY_CONN_SGL + (CHIMNEY_CONN_SQ_ENTRIES + \
                                 CHIMNEY_CONN_RCVS) * CHIMNEY_SGL_BYTES)

/* The adapter's chimney block: conn CQ, generic buffers, forward slots */
#define CHIMNEY_CH_CQ           0
#define CHIMNEY_CH_INDQ         (CHIMNEY_CONN_CQ_ENTRIES * CHIMNEY_CQE_SIZE)
#define CHIMNEY_CH_IND_BUF      (CHIMNEY_CH_INDQ + \
                                 CHIMNEY_IND_ENTRIES * CHIMNEY_L2_DESC_SIZE)
#define CHIMNEY_CH_FWD          (CHIMNEY_CH_IND_BUF + \
                                 CHIMNEY_IND_ENTRIES * CHIMNEY_IND_SLOT)
#define CHIMNEY_CH_MEM          (CHIMNEY_CH_FWD + \
                                 CHIMNEY_FWD_SLOTS * CHIMNEY_FWD_SLOT)

/*
 * The job area: the state block of the command the running offload job
 * submitted (ChimneyTcpOffload, ChimneyTcpDelegated, neighbor and path
 * blocks), then BufferedData given at offload or the received bytes
 * TERMINATE returns, at most the device's 1 MiB receive buffer.
 */
#define CHIMNEY_JOB_STATE       0
#define CHIMNEY_JOB_DATA        4096
#define CHIMNEY_JOB_DATA_MAX    (1024 * 1024)
#define CHIMNEY_JOB_MEM         (CHIMNEY_JOB_DATA + CHIMNEY_JOB_DATA_MAX)

typedef struct ChimneyAdapter ChimneyAdapter;

/* What MiniportOffloadContext points at: one of these, by kind */
enum { CHIMNEY_KIND_NEIGHBOR = 1, CHIMNEY_KIND_PATH, CHIMNEY_KIND_TCP };

typedef struct ChimneyObj {
    ULONG kind;
    ULONG id;                   /* the device's id (TCP: with generation) */
    BOOLEAN used;
    struct ChimneyObj *parent;  /* TCP: its path; path: its neighbor */
    NDIS_HANDLE ndis;           /* NdisOffloadHandle */
} ChimneyObj;

/* A send, disconnect or receive on its way to a queue */
typedef struct ChimneyReq {
    PNET_BUFFER_LIST nbl;
    struct ChimneyConn *conn;
    PNET_BUFFER nb;             /* the NB being mapped */
    ChimneySge *sgl;
    ULONG64 sgl_pa;
    ULONG len;
    USHORT nsge;
    UCHAR type, flags;
    BOOLEAN ready, failed;
} ChimneyReq;

typedef struct ChimneyConn {
    ChimneyObj obj;
    ChimneyAdapter *adapter;
    ULONG index;
    PUCHAR mem;
    NDIS_PHYSICAL_ADDRESS mem_pa;
    ChimneyGuestSq sq;
    uint64_t sq_cookie[CHIMNEY_CONN_SQ_ENTRIES];
    ULONG sq_reserved;          /* next SQ slot a request takes */
    ChimneyReq sq_req[CHIMNEY_CONN_SQ_ENTRIES];
    ChimneyGuestRing rq;
    ChimneyGuestRecvFifo rcv;
    uint64_t rcv_cookie[CHIMNEY_CONN_RCVS];
    ChimneyReq rcv_req[CHIMNEY_CONN_RCVS];
    ULONG rcv_next;             /* cookie of the next receive request */
    ULONG rcv_posted;           /* cookies below it are on the RQ */
    PNET_BUFFER_LIST rcv_wait, *rcv_wait_tail;  /* no slot yet */
    PNET_BUFFER_LIST sq_wait, *sq_wait_tail;    /* no SQ slot yet */
    BOOLEAN more;               /* in a ChimneyDeliveries' more[] */
    BOOLEAN starved;            /* a mapping failed: the rest is uploaded */
    BOOLEAN want_upload;        /* TcpIndicateRetrieve still to be made */
    BOOLEAN offloaded;          /* OFFLOAD_TCP succeeded */
    BOOLEAN announced;          /* NdisMInitiateOffloadComplete returned */
    BOOLEAN has_ind;            /* an INDICATE waits for @announced */
    ChimneyCqe ind;
    struct ChimneyJob *job;     /* waiting for the handover to be mapped */
    struct ChimneyJob *tag;     /* the initiate that offloads it */
} ChimneyConn;

/* One initiate, terminate, update, invalidate or query call of NDIS */
enum {
    CHIMNEY_JOB_INITIATE, CHIMNEY_JOB_TERMINATE, CHIMNEY_JOB_UPDATE,
    CHIMNEY_JOB_INVALIDATE, CHIMNEY_JOB_QUERY,
};

typedef struct ChimneyJob {
    struct ChimneyJob *next;
    ULONG op;
    PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST root;
    PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST cur;  /* the block being worked on */
    ChimneyObj *obj;                        /* what @cur acts on */
    ChimneyAdminCmd cmd;                    /* @cur's, opcode 0: none */
    uint64_t cookie;
    BOOLEAN inflight;                       /* @cmd is with the device */
    BOOLEAN mapping;                        /* handed-over sends mapping */
    ULONG buffered;                         /* BufferedData bytes */
} ChimneyJob;

/* What the DPC hands NDIS once it has dropped the lock */
typedef struct ChimneyDeliveries {
    PNET_BUFFER_LIST send[16];
    ULONG nsend;
    PNET_BUFFER_LIST disc, *disc_tail;
    PNET_BUFFER_LIST rcv[16];
    ULONG nrcv;
    PNET_BUFFER_LIST fwd, *fwd_tail;
    struct {
        NDIS_HANDLE ndis;
        ULONG type, info;
    } event[16];
    ULONG nevent;
    ChimneyJob *done[CHIMNEY_ADMIN_ENTRIES];
    ULONG ndone;
    ChimneyConn *ind[16];       /* connections with an indication */
    ULONG nind;
    ChimneyConn *more[16];      /* slots came free for waiting requests */
    ULONG nmore;
    BOOLEAN full;               /* something is left for another pass */
} ChimneyDeliveries;

#define CHIMNEY_DELIVERIES_INIT(d) \
    { .disc_tail = &(d).disc, .fwd_tail = &(d).fwd }

/* Every NDIS_STATISTICS_FLAGS_VALID_* flag: all of them are counted */
#define CHIMNEY_STATS_SUPPORTED 0x003f87ff

/* The plain path's counters, for OID_GEN_STATISTICS: by destination */
enum { CHIMNEY_UCAST, CHIMNEY_MCAST, CHIMNEY_BCAST };

typedef struct ChimneyL2Stats {
    ULONG64 rx_frames[3], rx_bytes[3];
    ULONG64 tx_frames[3], tx_bytes[3];
    ULONG64 rx_errors, rx_discards;     /* bad frames; no room or paused */
    ULONG64 tx_errors, tx_discards;     /* refused by the device; not sent */
} ChimneyL2Stats;

/* Shared memory the device reaches: where the driver core may read/write */
typedef struct ChimneyDmaRegion {
    PUCHAR va;
    ULONG64 pa;
    ULONG len;
} ChimneyDmaRegion;

#define CHIMNEY_DMA_REGIONS     (4 + CHIMNEY_MAX_OFFLOADS)

struct ChimneyAdapter {
    NDIS_HANDLE miniport;
    PUCHAR regs;                /* BAR0, read through READ_REGISTER_* */
    ULONG regs_len;
    PUCHAR shm;
    NDIS_PHYSICAL_ADDRESS shm_pa;
    PUCHAR data;
    NDIS_PHYSICAL_ADDRESS data_pa;
    ChimneyGuestDev dev;        /* registers, admin SQ, shared memory */
    ChimneyDmaRegion dma_region[CHIMNEY_DMA_REGIONS];
    ULONG ndma;
    ChimneyGuestCq acq;
    ChimneyIdentify id;
    BOOLEAN link_up;

    /* the L2 data path (chimney-datapath.c), under @lock */
    NDIS_SPIN_LOCK lock;
    BOOLEAN lock_ready;
    NDIS_HANDLE interrupt;
    NDIS_INTERRUPT_TYPE irq_type;
    ChimneyGuestCq l2cq;
    ChimneyGuestRing txq;
    ChimneyGuestRing rxq;
    PNET_BUFFER_LIST tx_nbl[CHIMNEY_L2_ENTRIES];    /* per TX slot */
    NDIS_HANDLE rx_pool;
    PNET_BUFFER_LIST rx_nbl[CHIMNEY_L2_ENTRIES];    /* per RX buffer */
    PMDL rx_mdl[CHIMNEY_L2_ENTRIES];
    LONG rx_indicated;          /* with the stack, not yet returned */
    ChimneyL2Stats stats;
    LONG tx_pending;            /* NBLs not yet completed */
    BOOLEAN paused;
    BOOLEAN pause_pending;

    /* admin commands completed by the DPC: their OID requests */
    ChimneyGuestInflight admin_wait;
    uint64_t admin_cookie[CHIMNEY_ADMIN_ENTRIES];
    void *admin_ctx[CHIMNEY_ADMIN_ENTRIES];
    BOOLEAN dpc_running, dpc_again;

    /* TCP chimney (chimney-offload.c, chimney-tcp-io.c), under @lock */
    NDIS_TCP_OFFLOAD_EVENT_HANDLERS tcp;
    BOOLEAN chimney;            /* the handlers are there: offload works */
    NDIS_HANDLE dma;
    ChimneyObj neighbor[CHIMNEY_MAX_NEIGHBORS];
    ChimneyObj path[CHIMNEY_MAX_PATHS];
    ChimneyConn *conn[CHIMNEY_MAX_OFFLOADS];
    ChimneyGuestConnTable conn_ids;
    uint8_t conn_gen[CHIMNEY_MAX_OFFLOADS];
    uint32_t conn_next[CHIMNEY_MAX_OFFLOADS];
    ChimneyGuestCq conn_cq;
    ChimneyJob *jobs, **jobs_tail;      /* the first one is running */
    PUCHAR job_mem;
    NDIS_PHYSICAL_ADDRESS job_pa;
    PUCHAR chimney_mem;         /* conn CQ, generic-buffer ring, buffers */
    NDIS_PHYSICAL_ADDRESS chimney_pa;
    ChimneyGuestRing indq;
    NDIS_HANDLE ind_pool;
    PNET_BUFFER_LIST ind_nbl[CHIMNEY_IND_ENTRIES];
    PMDL ind_mdl[CHIMNEY_IND_ENTRIES];
    PNET_BUFFER_LIST fwd_wait, *fwd_wait_tail;
    PNET_BUFFER_LIST fwd_nbl[CHIMNEY_FWD_SLOTS];
    uint64_t fwd_cookie[CHIMNEY_FWD_SLOTS];
};

NDIS_STATUS chimney_adapter_start(ChimneyAdapter *a,
                                  PNDIS_RESOURCE_LIST resources);
VOID chimney_adapter_stop(ChimneyAdapter *a);
UCHAR chimney_admin(ChimneyAdapter *a, ChimneyAdminCmd *cmd);
ULONG chimney_readl(ChimneyAdapter *a, ULONG reg);
VOID chimney_writel(ChimneyAdapter *a, ULONG reg, ULONG val);
PVOID chimney_shared_alloc(ChimneyAdapter *a, ULONG len,
                           PNDIS_PHYSICAL_ADDRESS pa);

/* chimney-datapath.c */
NDIS_HANDLE chimney_nbl_pool(ChimneyAdapter *a);
NDIS_STATUS chimney_create_cq(ChimneyAdapter *a, ChimneyGuestCq *cq, ULONG id,
                              ULONG64 pa, ULONG entries);
NDIS_STATUS chimney_create_l2q(ChimneyAdapter *a, ChimneyGuestRing *r,
                               ULONG id, ULONG64 pa, ULONG entries, ULONG cq);
NDIS_STATUS chimney_datapath_start(ChimneyAdapter *a);
VOID chimney_datapath_stop(ChimneyAdapter *a);
VOID chimney_datapath_send(ChimneyAdapter *a, PNET_BUFFER_LIST nbl,
                           ULONG flags);
VOID chimney_datapath_return(ChimneyAdapter *a, PNET_BUFFER_LIST nbl);
NDIS_STATUS chimney_datapath_pause(ChimneyAdapter *a);
NDIS_STATUS chimney_datapath_admin(ChimneyAdapter *a, ChimneyAdminCmd *cmd,
                                   PNDIS_OID_REQUEST request);
VOID chimney_datapath_restart(ChimneyAdapter *a);
VOID chimney_link_indicate(ChimneyAdapter *a);
BOOLEAN chimney_copy_nb(PNET_BUFFER nb, PUCHAR dst);
ULONG chimney_frame_kind(const UCHAR *dst);

/* chimney-offload.c: the state tree and the admin commands it takes */
NDIS_STATUS chimney_offload_start(ChimneyAdapter *a);
VOID chimney_offload_stop(ChimneyAdapter *a);
w_initiate_offload_handler_fn chimney_initiate_offload;
w_terminate_offload_handler_fn chimney_terminate_offload;
w_update_offload_handler_fn chimney_update_offload;
w_invalidate_offload_handler_fn chimney_invalidate_offload;
w_query_offload_handler_fn chimney_query_offload;
BOOLEAN chimney_job_admin_done(ChimneyAdapter *a, const ChimneyCqe *cqe,
                               ChimneyDeliveries *out);
VOID chimney_job_mapped(ChimneyAdapter *a, ChimneyConn *c);
VOID chimney_jobs_deliver(ChimneyAdapter *a, ChimneyDeliveries *out);
VOID chimney_jobs_run(ChimneyAdapter *a, ChimneyDeliveries *out);

/* chimney-tcp-io.c: I/O on offloaded connections and its completions */
NDIS_STATUS chimney_tcp_io_start(ChimneyAdapter *a);
VOID chimney_tcp_io_stop(ChimneyAdapter *a);
w_tcp_offload_send_handler_fn chimney_tcp_send;
w_tcp_offload_receive_handler_fn chimney_tcp_receive;
w_tcp_offload_disconnect_handler_fn chimney_tcp_disconnect;
w_tcp_offload_forward_handler_fn chimney_tcp_forward;
w_tcp_offload_receive_return_handler_fn chimney_tcp_receive_return;
ChimneyConn *chimney_conn_new(ChimneyAdapter *a);
VOID chimney_conn_free(ChimneyAdapter *a, ChimneyConn *c);
VOID chimney_conn_terminated(ChimneyAdapter *a, ChimneyConn *c,
                             ChimneyDeliveries *out);
BOOLEAN chimney_conn_handover(ChimneyConn *c, PNET_BUFFER_LIST chain,
                              ULONG *count);
VOID chimney_conn_cq_drain(ChimneyAdapter *a, ChimneyDeliveries *out);
VOID chimney_tcp_deliver(ChimneyAdapter *a, ChimneyDeliveries *out);
VOID chimney_deliver(ChimneyAdapter *a, ChimneyDeliveries *out);
VOID chimney_conn_doorbell(ChimneyAdapter *a, ChimneyConn *c);
VOID chimney_announce(ChimneyAdapter *a, struct ChimneyJob *job);
VOID chimney_ind_post(ChimneyAdapter *a, ULONG i);
VOID chimney_fwd_kick(ChimneyAdapter *a, PNET_BUFFER_LIST **failed);
PNET_BUFFER_LIST chimney_buffered_nbl(ChimneyAdapter *a, const VOID *data,
                                      ULONG len);

#endif /* CHIMNEY_MINIPORT_H */
