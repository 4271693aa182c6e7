/*
 * chimney-nic miniport: the adapter, shared by the driver's files
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MP_ADAPTER_H
#define MP_ADAPTER_H

#include "chimney-ndis.h"
#include "guest/common/chimney-guest.h"
#include "guest/common/chimney-guest-ndis.h"

/* The driver core reads NDIS's TCP state through its own mirrors */
#define MP_SAME_FIELD(a,      fa, b, fb) \
    _Static_assert(offsetof(a, fa) == offsetof(b, fb), #fa " of " #a)
_Static_assert(sizeof(TCP_OFFLOAD_STATE_CONST) == sizeof(ChimneyNdisTcpConst),
               "TCP const state");
_Static_assert(sizeof(TCP_OFFLOAD_STATE_CACHED) ==
               sizeof(ChimneyNdisTcpCached), "TCP cached state");
_Static_assert(sizeof(TCP_OFFLOAD_STATE_DELEGATED) ==
               sizeof(ChimneyNdisTcpDelegated), "TCP delegated state");
MP_SAME_FIELD(TCP_OFFLOAD_STATE_CONST, RemotePort,
              ChimneyNdisTcpConst, remote_port);
MP_SAME_FIELD(TCP_OFFLOAD_STATE_CONST, RemoteMss,
              ChimneyNdisTcpConst, remote_mss);
MP_SAME_FIELD(TCP_OFFLOAD_STATE_CACHED, KaProbeCount,
              ChimneyNdisTcpCached, ka_probe_count);
MP_SAME_FIELD(TCP_OFFLOAD_STATE_CACHED, MaxRT,
              ChimneyNdisTcpCached, max_rt);
MP_SAME_FIELD(TCP_OFFLOAD_STATE_CACHED, TosOrTrafficClass,
              ChimneyNdisTcpCached, tos_or_traffic_class);
MP_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, SendWL1,
              ChimneyNdisTcpDelegated, send_wl1);
MP_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, TotalRT,
              ChimneyNdisTcpDelegated, total_rt);
MP_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, KeepAlive.TimeoutDelta,
              ChimneyNdisTcpDelegated, ka_timeout_delta);
MP_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, Retransmit.TimeoutDelta,
              ChimneyNdisTcpDelegated, rexmit_timeout_delta);
MP_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, BufferedData,
              ChimneyNdisTcpDelegated, buffered_data);

/* ... and its neighbor and path state (IPv4 and IPv6 alike) */
_Static_assert(sizeof(NEIGHBOR_OFFLOAD_STATE_CONST) ==
               sizeof(ChimneyNdisNeighborConst), "neighbor const state");
_Static_assert(sizeof(NEIGHBOR_OFFLOAD_STATE_CACHED) ==
               sizeof(ChimneyNdisNeighborCached), "neighbor cached state");
_Static_assert(sizeof(PATH_OFFLOAD_STATE_CONST) ==
               sizeof(ChimneyNdisPathConst), "path const state");
_Static_assert(sizeof(PATH_OFFLOAD_STATE_CACHED) ==
               sizeof(ChimneyNdisPathCached), "path cached state");
MP_SAME_FIELD(NEIGHBOR_OFFLOAD_STATE_CACHED, DlDestinationAddress,
              ChimneyNdisNeighborCached, dl_destination);
MP_SAME_FIELD(PATH_OFFLOAD_STATE_CONST, DestinationAddress,
              ChimneyNdisPathConst, destination);
MP_SAME_FIELD(PATH_OFFLOAD_STATE_CACHED, PathMtu,
              ChimneyNdisPathCached, path_mtu);
_Static_assert(Ip4OffloadState == CHIMNEY_NDIS_IP4_STATE &&
               Ip6OffloadState == CHIMNEY_NDIS_IP6_STATE &&
               NeighborOffloadState == CHIMNEY_NDIS_NEIGHBOR_STATE &&
               TcpOffloadState == CHIMNEY_NDIS_TCP_STATE,
               "OFFLOAD_STATE_TYPE");

_Static_assert(sizeof(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST) ==
               sizeof(ChimneyNdisBlock), "offload block list");
MP_SAME_FIELD(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST, NextBlock,
              ChimneyNdisBlock, next);
MP_SAME_FIELD(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST, DependentBlockList,
              ChimneyNdisBlock, dependents);
MP_SAME_FIELD(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST, Status,
              ChimneyNdisBlock, status);
MP_SAME_FIELD(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST, MiniportReserved,
              ChimneyNdisBlock, miniport_reserved);

#define MP_POOL_TAG             0x796d6843      /* "Chmy" */
#define MP_ADMIN_ENTRIES        16

/*
 * Shared memory, in two blocks: the rings (admin SQ and CQ, IDENTIFY,
 * the L2 CQ and the L2 TX and RX rings), reached by the driver core
 * through ChimneyGuestMem; and the frame buffers, a 2 KiB slot per TX
 * ring entry (frames are copied in) and per RX buffer.
 */
#define MP_L2_ENTRIES           64
#define MP_L2_CQ_ENTRIES        128
#define MP_L2_CQ                1
#define MP_SLOT                 2048

#define MP_SHM_SIZE             16384
#define MP_SHM_ASQ              0
#define MP_SHM_ACQ              (MP_SHM_ASQ + \
                                 MP_ADMIN_ENTRIES * CHIMNEY_ADMIN_CMD_SIZE)
#define MP_SHM_IDENTIFY         (MP_SHM_ACQ + \
                                 MP_ADMIN_ENTRIES * CHIMNEY_CQE_SIZE)
#define MP_SHM_L2CQ             4096
#define MP_SHM_TXQ              (MP_SHM_L2CQ + \
                                 MP_L2_CQ_ENTRIES * CHIMNEY_CQE_SIZE)
#define MP_SHM_RXQ              (MP_SHM_TXQ + \
                                 MP_L2_ENTRIES * CHIMNEY_L2_DESC_SIZE)
#define MP_DATA_TX              0
#define MP_DATA_RX              (MP_L2_ENTRIES * MP_SLOT)
#define MP_DATA_SIZE            (2 * MP_L2_ENTRIES * MP_SLOT)

#define MP_SHM_STATS            (MP_SHM_IDENTIFY + CHIMNEY_IDENTIFY_SIZE)

_Static_assert(MP_SHM_STATS + CHIMNEY_STATS_SIZE <=
               MP_SHM_L2CQ, "admin area overlaps the L2 CQ");
_Static_assert(MP_SHM_RXQ + MP_L2_ENTRIES * CHIMNEY_L2_DESC_SIZE <=
               MP_SHM_SIZE, "rings exceed the shared block");

/*
 * TCP chimney: neighbors and paths live in fixed tables; connections in
 * tables allocated at initialize, as many as the device's max_conns
 * (IDENTIFY) and the MaxOffloadConnections keyword allow (the capacity
 * the adapter reports), each connection with its own block of shared
 * memory:
 * send queue, receive queue, doorbell record and the scatter-gather lists
 * of its requests.  All connections complete on CQ 2; the generic-buffer
 * queue holds the buffers of receive indications.
 */
#define MP_MAX_NEIGHBORS        16
#define MP_MAX_PATHS            32
#define MP_DEFAULT_OFFLOADS     256     /* MaxOffloadConnections default */
#define MP_MAX_OFFLOADS_LIMIT   4096    /* its largest value */
#define MP_CONN_CQ              2
#define MP_CONN_CQ_ENTRIES      1024
#define MP_CONN_SQ_ENTRIES      32
#define MP_CONN_RCVS            16      /* receive requests outstanding */
#define MP_REQ_SGE              CHIMNEY_MAX_SGE /* SGL entries of a slot */
/*
 * A send longer than one slot's SGL takes several SQ entries in a row;
 * at most this many (4 MiB in 4 KiB pages), the most NDIS is asked to
 * map of one NET_BUFFER.
 */
#define MP_REQ_MAX_SLOTS        16
#define MP_MAX_MAPPING          (4u * 1024 * 1024)
#define MP_IND_ENTRIES          64
#define MP_IND_SLOT             4096
#define MP_FWD_SLOTS            4       /* FORWARD commands in flight */
#define MP_FWD_SLOT             CHIMNEY_FORWARD_MAX
#define MP_HELD_EVENTS          4       /* abort, disconnect, retrieve */

#define MP_CONN_SQ              0
#define MP_CONN_RQ              (MP_CONN_SQ + MP_CONN_SQ_ENTRIES * \
                                 sizeof(ChimneySqDesc))
#define MP_CONN_DB              (MP_CONN_RQ + \
                                 MP_CONN_RCVS * sizeof(ChimneySqDesc))
#define MP_CONN_SGL             (MP_CONN_DB + 64)
#define MP_SGL_BYTES            (MP_REQ_SGE * sizeof(ChimneySge))
#define MP_CONN_MEM             (MP_CONN_SGL + (MP_CONN_SQ_ENTRIES + \
                                 MP_CONN_RCVS) * MP_SGL_BYTES)

/* The adapter's chimney block: conn CQ, generic buffers, forward slots */
#define MP_CH_CQ                0
#define MP_CH_INDQ              (MP_CONN_CQ_ENTRIES * CHIMNEY_CQE_SIZE)
#define MP_CH_IND_BUF           (MP_CH_INDQ + \
                                 MP_IND_ENTRIES * CHIMNEY_L2_DESC_SIZE)
#define MP_CH_FWD               (MP_CH_IND_BUF + \
                                 MP_IND_ENTRIES * MP_IND_SLOT)
#define MP_CH_MEM               (MP_CH_FWD + \
                                 MP_FWD_SLOTS * MP_FWD_SLOT)

/*
 * The job area: the state block of the command the running offload job
 * submitted (ChimneyTcpOffload, ChimneyTcpDelegated, neighbor and path
 * blocks), then BufferedData given at offload or the received bytes
 * TERMINATE returns, at most the device's 1 MiB receive buffer.
 */
#define MP_JOB_STATE            0
#define MP_JOB_DATA             4096
#define MP_JOB_DATA_MAX         (1024 * 1024)
#define MP_JOB_MEM              (MP_JOB_DATA + MP_JOB_DATA_MAX)

typedef struct MpAdapter MpAdapter;

/* What MiniportOffloadContext points at: one of these, by kind */
enum { MP_KIND_NEIGHBOR = 1, MP_KIND_PATH, MP_KIND_TCP };

typedef struct MpObj {
    ULONG kind;
    ULONG id;                   /* the device's id (TCP: with generation) */
    BOOLEAN used;
    struct MpObj *parent;       /* TCP: its path; path: its neighbor */
    NDIS_HANDLE ndis;           /* NdisOffloadHandle */
    ULONG64 progress_ms;        /* neighbor: last forward progress seen */
    ULONG family;               /* path: CHIMNEY_PATH_IPV4 or _IPV6 */
    ULONG path_mtu;             /* path: as the device has it */
} MpObj;

/*
 * A send, disconnect or receive on its way to a queue.  A send may take
 * several SQ slots in a row: the first holds the request (@nslots); each
 * slot its own part of the SGL (@nsge entries, @len bytes); every slot
 * names the NBL, which completes with the last.
 */
typedef struct MpReq {
    PNET_BUFFER_LIST nbl;
    struct MpConn *conn;
    PNET_BUFFER nb;             /* the NB being mapped */
    ChimneySge *sgl;            /* this slot's SGL */
    ULONG64 sgl_pa;
    ULONG len;
    USHORT nsge;
    UCHAR type, flags;
    BOOLEAN ready, failed;
    UCHAR nslots;               /* first slot: how many the request has */
    BOOLEAN last;               /* the request's last slot */
    ULONG filled;               /* first slot: SGL entries so far */
} MpReq;

typedef struct MpConn {
    MpObj obj;
    MpAdapter *adapter;
    ULONG index;
    PUCHAR mem;
    NDIS_PHYSICAL_ADDRESS mem_pa;
    ChimneyGuestSq sq;
    uint64_t sq_cookie[MP_CONN_SQ_ENTRIES];
    ULONG sq_reserved;          /* next SQ slot a request takes */
    MpReq sq_req[MP_CONN_SQ_ENTRIES];
    ChimneyGuestRing rq;
    ChimneyGuestRecvFifo rcv;
    uint64_t rcv_cookie[MP_CONN_RCVS];
    MpReq rcv_req[MP_CONN_RCVS];
    ULONG rcv_next;             /* cookie of the next receive request */
    ULONG rcv_posted;           /* cookies below it are on the RQ */
    PNET_BUFFER_LIST rcv_wait, *rcv_wait_tail;  /* no slot yet */
    PNET_BUFFER_LIST sq_wait, *sq_wait_tail;    /* no SQ slot yet */
    BOOLEAN more;               /* in an MpDeliveries' more[] */
    BOOLEAN starved;            /* a mapping failed: the rest is uploaded */
    BOOLEAN want_upload;        /* TcpIndicateRetrieve still to be made */
    BOOLEAN upload_asked;       /* TcpIndicateRetrieve made: never twice */
    BOOLEAN offloaded;          /* OFFLOAD_TCP succeeded */
    BOOLEAN announced;          /* NdisMInitiateOffloadComplete returned */
    BOOLEAN aborted;            /* reset: no longer established */
    BOOLEAN has_ind;            /* an INDICATE waits for @announced */
    /*
     * INDICATE_DONE has no completion: the RQ view learns that the device
     * took it from the next INDICATE (the device indicates again only then)
     */
    BOOLEAN ind_done_posted;
    ULONG ind_done_pos;         /* RQ index after the last INDICATE_DONE */
    BOOLEAN ind_answer_due;     /* no RQ room for it yet: @ind_answer_took */
    ULONG ind_answer_took;
    /* what completed before @announced, for NDIS once it is */
    PNET_BUFFER_LIST held_send, *held_send_tail;
    PNET_BUFFER_LIST held_disc, *held_disc_tail;
    PNET_BUFFER_LIST held_rcv, *held_rcv_tail;
    struct {
        ULONG type, info;
    } held_event[MP_HELD_EVENTS];
    ULONG nheld_event;
    ChimneyCqe ind;
    struct MpJob *job;          /* waiting for the handover to be mapped */
    struct MpJob *tag;          /* the initiate that offloads it */
} MpConn;

/* One initiate, terminate, update, invalidate or query call of NDIS */
enum {
    MP_JOB_INITIATE, MP_JOB_TERMINATE, MP_JOB_UPDATE,
    MP_JOB_INVALIDATE, MP_JOB_QUERY,
};

typedef struct MpJob {
    struct MpJob *next;
    ULONG op;
    PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST root;
    PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST cur;  /* the block being worked on */
    MpObj *obj;                             /* what @cur acts on */
    ChimneyAdminCmd cmd;                    /* @cur's, opcode 0: none */
    uint64_t cookie;
    BOOLEAN inflight;                       /* @cmd is with the device */
    BOOLEAN mapping;                        /* handed-over sends mapping */
    ULONG buffered;                         /* BufferedData bytes */
} MpJob;

/* What the DPC hands NDIS once it has dropped the lock */
typedef struct MpDeliveries {
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
    MpJob *done[MP_ADMIN_ENTRIES];
    ULONG ndone;
    MpConn *ind[16];            /* connections with an indication */
    ULONG nind;
    MpConn *more[16];           /* slots came free for waiting requests */
    ULONG nmore;
    BOOLEAN full;               /* something is left for another pass */
} MpDeliveries;

#define MP_DELIVERIES_INIT(d) \
    { .disc_tail = &(d).disc, .fwd_tail = &(d).fwd }

/*
 * Two layouts of "what is counted".  NDIS_STATISTICS_INFO's
 * SupportedStatistics takes NDIS_STATISTICS_FLAGS_VALID_* bits: all of
 * them.  The general attributes' SupportedStatistics takes the
 * NDIS_STATISTICS_*_SUPPORTED bits: all but RCV_CRC_ERROR (0x20000) and
 * TRANSMIT_QUEUE_LENGTH (0x40000), which the device does not count.
 */
#define MP_STATS_VALID          0x003f87ff
#define MP_STATS_SUPPORTED      0x0879ffff

/* The plain path's counters, for OID_GEN_STATISTICS: by destination */
enum { MP_UCAST, MP_MCAST, MP_BCAST };

typedef struct MpL2Stats {
    ULONG64 rx_frames[3], rx_bytes[3];
    ULONG64 tx_frames[3], tx_bytes[3];
    ULONG64 rx_errors, rx_discards;     /* bad frames; no room or paused */
    ULONG64 tx_errors, tx_discards;     /* refused by the device; not sent */
} MpL2Stats;

/* Shared memory the device reaches: where the driver core may read/write */
typedef struct MpDmaRegion {
    PUCHAR va;
    ULONG64 pa;
    ULONG len;
} MpDmaRegion;

#define MP_DMA_FIXED            8       /* before the connections' */

struct MpAdapter {
    NDIS_HANDLE miniport;
    PUCHAR regs;                /* BAR0, read through READ_REGISTER_* */
    ULONG regs_len;
    PUCHAR shm;
    NDIS_PHYSICAL_ADDRESS shm_pa;
    PUCHAR data;
    NDIS_PHYSICAL_ADDRESS data_pa;
    ChimneyGuestDev dev;        /* registers, admin SQ, shared memory */
    MpDmaRegion dma_fixed[MP_DMA_FIXED];
    MpDmaRegion *dma_region;    /* dma_fixed, then room for connections */
    ULONG dma_max;
    ULONG ndma;
    ChimneyGuestCq acq;
    ChimneyIdentify id;
    BOOLEAN link_up;

    /* the L2 data path (mp-datapath.c), under @lock */
    NDIS_SPIN_LOCK lock;
    BOOLEAN lock_ready;
    NDIS_HANDLE interrupt;
    NDIS_INTERRUPT_TYPE irq_type;
    ChimneyGuestCq l2cq;
    ChimneyGuestRing txq;
    ChimneyGuestRing rxq;
    PNET_BUFFER_LIST tx_nbl[MP_L2_ENTRIES];         /* per TX slot */
    NDIS_HANDLE rx_pool;
    PNET_BUFFER_LIST rx_nbl[MP_L2_ENTRIES];         /* per RX buffer */
    PMDL rx_mdl[MP_L2_ENTRIES];
    LONG rx_indicated;          /* with the stack, not yet returned */
    MpL2Stats stats;
    LONG tx_pending;            /* NBLs not yet completed */
    BOOLEAN paused;
    BOOLEAN pause_pending;

    /* admin commands completed by the DPC: their OID requests */
    ChimneyGuestInflight admin_wait;
    uint64_t admin_cookie[MP_ADMIN_ENTRIES];
    void *admin_ctx[MP_ADMIN_ENTRIES];
    BOOLEAN dpc_running, dpc_again;

    /* TCP chimney (mp-state-tree.c, mp-conn-io.c), under @lock */
    NDIS_TCP_OFFLOAD_EVENT_HANDLERS tcp;
    BOOLEAN chimney;            /* the handlers are there: offload works */
    BOOLEAN offload_off;        /* turned off (keyword or OID): no initiate */
    BOOLEAN offload_off_v6;     /* IPv6 turned off, or not the device's */
    ULONG ticks_per_second;     /* the host's TCP tick (SET_PARAMS) */
    ChimneyGuestFlows flows;    /* TCP segments sent on the plain path */
    ULONG64 dpc_now_ms;         /* when the DPC's drain began */
    ULONG reset_established;    /* TCP_OFFLOAD_STATS, since the last reset */
    ULONG out_resets;
    ChimneyOffloadStats stats_base;     /* QUERY_STATS at the last reset */
    NDIS_HANDLE dma;
    MpObj neighbor[MP_MAX_NEIGHBORS];
    MpObj path[MP_MAX_PATHS];
    ULONG max_conns;            /* TcpConnectionOffloadCapacity */
    MpConn **conn;              /* max_conns of each, from initialize */
    ChimneyGuestConnTable conn_ids;
    uint8_t *conn_gen;
    uint32_t *conn_next;
    ChimneyGuestCq conn_cq;
    MpJob *jobs, **jobs_tail;           /* the first one is running */
    PUCHAR job_mem;
    NDIS_PHYSICAL_ADDRESS job_pa;
    PUCHAR chimney_mem;         /* conn CQ, generic-buffer ring, buffers */
    NDIS_PHYSICAL_ADDRESS chimney_pa;
    ChimneyGuestRing indq;
    NDIS_HANDLE ind_pool;
    PNET_BUFFER_LIST ind_nbl[MP_IND_ENTRIES];
    PMDL ind_mdl[MP_IND_ENTRIES];
    PNET_BUFFER_LIST fwd_wait, *fwd_wait_tail;
    PNET_BUFFER_LIST fwd_nbl[MP_FWD_SLOTS];
    uint64_t fwd_cookie[MP_FWD_SLOTS];
};

NDIS_STATUS mp_adapter_start(MpAdapter *a,
                             PNDIS_RESOURCE_LIST resources);
VOID mp_adapter_stop(MpAdapter *a);
UCHAR mp_admin(MpAdapter *a, ChimneyAdminCmd *cmd);
ULONG mp_readl(MpAdapter *a, ULONG reg);
VOID mp_writel(MpAdapter *a, ULONG reg, ULONG val);
PVOID mp_shared_alloc(MpAdapter *a, ULONG len,
                      PNDIS_PHYSICAL_ADDRESS pa);

/* mp-datapath.c */
NDIS_HANDLE mp_nbl_pool(MpAdapter *a);
NDIS_STATUS mp_create_cq(MpAdapter *a, ChimneyGuestCq *cq, ULONG id,
                         ULONG64 pa, ULONG entries);
NDIS_STATUS mp_create_l2q(MpAdapter *a, ChimneyGuestRing *r,
                          ULONG id, ULONG64 pa, ULONG entries, ULONG cq);
NDIS_STATUS mp_datapath_start(MpAdapter *a);
VOID mp_datapath_stop(MpAdapter *a);
VOID mp_datapath_send(MpAdapter *a, PNET_BUFFER_LIST nbl,
                      ULONG flags);
VOID mp_datapath_return(MpAdapter *a, PNET_BUFFER_LIST nbl);
NDIS_STATUS mp_datapath_pause(MpAdapter *a);
NDIS_STATUS mp_datapath_admin(MpAdapter *a, ChimneyAdminCmd *cmd,
                              PNDIS_OID_REQUEST request);
VOID mp_datapath_restart(MpAdapter *a);
VOID mp_link_indicate(MpAdapter *a);
BOOLEAN mp_copy_nb(PNET_BUFFER nb, PUCHAR dst);
ULONG mp_frame_kind(const UCHAR *dst);

/* mp-main.c */
NDIS_STATUS mp_chimney_oid(MpAdapter *a, PNDIS_OID_REQUEST request);

static inline ULONG64 mp_now_ms(VOID)
{
    LARGE_INTEGER t;

    NdisGetSystemUpTimeEx(&t);
    return t.QuadPart;
}

/* mp-state-tree.c: the state tree and the admin commands it takes */
NDIS_STATUS mp_offload_start(MpAdapter *a);
VOID mp_offload_stop(MpAdapter *a);
w_initiate_offload_handler_fn mp_initiate_offload;
w_terminate_offload_handler_fn mp_terminate_offload;
w_update_offload_handler_fn mp_update_offload;
w_invalidate_offload_handler_fn mp_invalidate_offload;
w_query_offload_handler_fn mp_query_offload;
BOOLEAN mp_job_admin_done(MpAdapter *a, const ChimneyCqe *cqe,
                          MpDeliveries *out);
VOID mp_job_mapped(MpAdapter *a, MpConn *c);
VOID mp_jobs_deliver(MpAdapter *a, MpDeliveries *out);
VOID mp_jobs_run(MpAdapter *a, MpDeliveries *out);
VOID mp_path_mtu_event(MpAdapter *a, const ChimneyCqe *cqe);

/* A request's NBL: its request; an NB: its scatter-gather list */
#define NBL_REQ(n)              ((n)->MiniportReserved[0])
#define NBL_KIND(n)             ((n)->MiniportReserved[1])
#define NB_SGL(nb)              ((nb)->MiniportReserved[0])

/* What a receive-returned NBL is: BufferedData or generic buffer i */
#define MP_NBL_BUFFERED         ((PVOID)1)
#define MP_NBL_IND(i)           ((PVOID)(ULONG_PTR)(0x100 + (i)))
#define MP_NBL_IND_INDEX(v)      ((ULONG)((ULONG_PTR)(v) - 0x100))

/* mp-conn-io.c: I/O on offloaded connections, going down */
VOID mp_append(PNET_BUFFER_LIST **tail, PNET_BUFFER_LIST nbl);
VOID mp_unmap(MpAdapter *a, PNET_BUFFER_LIST nbl);
VOID mp_conn_more(MpAdapter *a, MpConn *c);
NDIS_STATUS mp_conn_io_start(MpAdapter *a);
ULONG mp_keyword(MpAdapter *a, PNDIS_STRING key, ULONG def);
VOID mp_offload_stats_done(MpAdapter *a, PNDIS_OID_REQUEST request);
VOID mp_conn_io_stop(MpAdapter *a);
w_tcp_offload_send_handler_fn mp_tcp_offload_send;
w_tcp_offload_receive_handler_fn mp_tcp_offload_receive;
w_tcp_offload_disconnect_handler_fn mp_tcp_offload_disconnect;
w_tcp_offload_forward_handler_fn mp_tcp_offload_forward;
w_tcp_offload_receive_return_handler_fn mp_tcp_offload_receive_return;
MpConn *mp_conn_new(MpAdapter *a);
VOID mp_conn_free(MpAdapter *a, MpConn *c);
VOID mp_conn_terminated(MpAdapter *a, MpConn *c,
                        MpDeliveries *out);
BOOLEAN mp_conn_handover(MpConn *c, PNET_BUFFER_LIST chain,
                         ULONG *count);

/* mp-conn-cq.c: their completions, from the DPC */
VOID mp_conn_cq_drain(MpAdapter *a, MpDeliveries *out);
BOOLEAN mp_fwd_done(MpAdapter *a, const ChimneyCqe *cqe, MpDeliveries *out);
VOID mp_nbl_done(MpAdapter *a, PNET_BUFFER_LIST nbl, ULONG bytes,
                 NDIS_STATUS status);
VOID mp_conn_deliver(MpAdapter *a, MpDeliveries *out);
VOID mp_deliver(MpAdapter *a, MpDeliveries *out);
VOID mp_conn_doorbell(MpAdapter *a, MpConn *c);
VOID mp_announce(MpAdapter *a, struct MpJob *job);
VOID mp_ind_post(MpAdapter *a, ULONG i);
BOOLEAN mp_ind_answer_post(MpAdapter *a, MpConn *c);
VOID mp_fwd_kick(MpAdapter *a, PNET_BUFFER_LIST **failed);
PNET_BUFFER_LIST mp_buffered_nbl(MpAdapter *a, const VOID *data,
                                 ULONG len);

#endif /* MP_ADAPTER_H */
