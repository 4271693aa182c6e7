/*
 * chimney-nic: the driver's side of the guest ABI, free of any OS
 *
 * What every driver of the device does the same way: consume completion
 * queues by their phase tag, produce into submission rings, encode admin
 * commands and queue entries in little-endian, hand out connection ids
 * with generations, map completion statuses to NDIS_STATUS values and
 * batch send completions.  The qtest libqos driver and the Windows
 * miniport both compile this file, so the qtests exercise the miniport's
 * own logic against the device.  It needs nothing but <stdint.h>,
 * <stdbool.h>, <stddef.h>, <string.h>'s memcpy and chimney-abi.h; guest
 * memory is reached through ChimneyGuestMem, so it works on a mapped
 * pointer as well as through qtest.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_GUEST_H
#define HW_NET_CHIMNEY_GUEST_H

#include <stdbool.h>
#include "hw/net/chimney/chimney-abi.h"

/* Access to guest memory: DMA addresses as the device sees them. */
typedef struct ChimneyGuestMem {
    void *opaque;
    void (*read)(void *opaque, uint64_t addr, void *buf, size_t len);
    void (*write)(void *opaque, uint64_t addr, const void *buf, size_t len);
} ChimneyGuestMem;

/* A ring the driver produces into: admin SQ, L2 queues, SQs, RQs. */
typedef struct ChimneyGuestRing {
    uint64_t base;
    uint32_t size;          /* entries, a power of two */
    uint32_t esize;         /* bytes per entry */
    uint32_t tail;          /* next entry the driver fills */
    uint32_t head;          /* first entry the device may still read */
} ChimneyGuestRing;

void chimney_guest_ring_init(ChimneyGuestRing *r, uint64_t base,
                             uint32_t size, uint32_t esize);
uint32_t chimney_guest_ring_space(const ChimneyGuestRing *r);
uint32_t chimney_guest_ring_put(ChimneyGuestRing *r,
                                const ChimneyGuestMem *m, const void *entry);
bool chimney_guest_ring_consumed(ChimneyGuestRing *r, uint32_t head);

/* A completion queue the driver consumes. */
typedef struct ChimneyGuestCq {
    uint64_t base;
    uint32_t size;          /* entries, a power of two */
    uint32_t head;          /* next entry to read */
    uint32_t phase;         /* phase bit of valid entries on this lap */
} ChimneyGuestCq;

void chimney_guest_cq_init(ChimneyGuestCq *cq, uint64_t base, uint32_t size);
bool chimney_guest_cq_next(ChimneyGuestCq *cq, const ChimneyGuestMem *m,
                           ChimneyCqe *cqe);

/*
 * The device as a driver's OS reaches it: its registers, a busy-wait, and
 * guest memory.  The admin SQ lives here; the admin CQ is the caller's
 * (it may read other entries of it too, such as link events).
 */
typedef struct ChimneyGuestDev {
    void *opaque;
    uint32_t (*readl)(void *opaque, uint32_t reg);
    void (*writel)(void *opaque, uint32_t reg, uint32_t val);
    void (*delay_us)(void *opaque, uint32_t us);
    ChimneyGuestMem mem;
    ChimneyGuestRing asq;
    ChimneyGuestCq *acq;
    uint64_t next_cookie;
} ChimneyGuestDev;

/* What chimney_guest_enable found */
enum {
    CHIMNEY_GUEST_OK = 0,
    CHIMNEY_GUEST_NOT_CHIMNEY,      /* no CHIMNEY_ID_MAGIC */
    CHIMNEY_GUEST_BAD_VERSION,      /* another major interface version */
    CHIMNEY_GUEST_FATAL,            /* the device latched a fatal error */
    CHIMNEY_GUEST_TIMEOUT,          /* READY did not come */
};

/* An admin command that got no completion in time */
#define CHIMNEY_GUEST_ST_TIMEOUT    0xff

int chimney_guest_enable(ChimneyGuestDev *d, uint64_t asq_base,
                         uint64_t acq_base, uint32_t entries,
                         uint32_t timeout_us);
bool chimney_guest_admin_submit(ChimneyGuestDev *d,
                                const ChimneyAdminCmd *cmd);
bool chimney_guest_admin_wait(ChimneyGuestDev *d, ChimneyCqe *cqe,
                              uint32_t timeout_us);
uint8_t chimney_guest_admin(ChimneyGuestDev *d, ChimneyAdminCmd *cmd,
                            ChimneyCqe *cqe, uint32_t timeout_us);

/*
 * Admin commands in flight once the interrupt drives the admin CQ: each
 * completion is matched to its caller's context by cookie.  The caller
 * provides the arrays, @cap entries each.
 */
typedef struct ChimneyGuestInflight {
    uint64_t *cookie;
    void **ctx;
    uint32_t cap;
} ChimneyGuestInflight;

void chimney_guest_inflight_init(ChimneyGuestInflight *f, uint64_t *cookie,
                                 void **ctx, uint32_t cap);
bool chimney_guest_inflight_add(ChimneyGuestInflight *f, uint64_t cookie,
                                void *ctx);
void *chimney_guest_inflight_take(ChimneyGuestInflight *f, uint64_t cookie);

/* Entries, in host order in, little-endian out. */
void chimney_guest_admin_cmd(ChimneyAdminCmd *out, const ChimneyAdminCmd *cmd);
void chimney_guest_sq_desc(ChimneySqDesc *out, uint8_t type, uint8_t flags,
                           uint16_t nsge, uint32_t len, uint64_t cookie,
                           uint64_t sgl);
void chimney_guest_sge(ChimneySge *out, uint64_t addr, uint32_t len);
void chimney_guest_l2_tx_desc(ChimneyL2TxDesc *out, uint64_t addr,
                              uint32_t len, bool eop, uint64_t cookie);
void chimney_guest_l2_rx_desc(ChimneyL2RxDesc *out, uint64_t addr,
                              uint32_t len, uint64_t cookie);

/*
 * Connection ids: an index and a generation that changes on every reuse,
 * so the device refuses a stale id.  The caller provides @gen, one byte
 * per index, and @next, one word per index (the free list).
 */
typedef struct ChimneyGuestConnTable {
    uint32_t size;
    uint8_t *gen;
    uint32_t *next;
    uint32_t free_head;     /* size: none free */
    uint32_t used;
} ChimneyGuestConnTable;

void chimney_guest_conns_init(ChimneyGuestConnTable *t, uint32_t size,
                              uint8_t *gen, uint32_t *next);
bool chimney_guest_conn_alloc(ChimneyGuestConnTable *t, uint32_t *id);
bool chimney_guest_conn_free(ChimneyGuestConnTable *t, uint32_t id);

/*
 * A connection's send queue.  Its requests complete in posting order, so
 * the outstanding ones are the ring's [head, tail): a completion must be
 * for the slot at the head, with that slot's cookie, and its sq_head
 * must be the next slot.  The caller keeps its own context per slot (the
 * NBL, for the miniport) and provides @cookie, one per ring entry.
 */
typedef struct ChimneyGuestSq {
    ChimneyGuestRing ring;
    uint64_t *cookie;
} ChimneyGuestSq;

void chimney_guest_sq_init(ChimneyGuestSq *q, uint64_t base, uint32_t size,
                           uint64_t *cookie);
int chimney_guest_sq_post(ChimneyGuestSq *q, const ChimneyGuestMem *m,
                          uint8_t type, uint8_t flags, uint16_t nsge,
                          uint32_t len, uint64_t cookie, uint64_t sgl);
int chimney_guest_sq_complete(ChimneyGuestSq *q, const ChimneyCqe *cqe);

/*
 * Receive requests complete in posting order too, but their RQ slots are
 * free once fetched, so the order is kept by cookie: a FIFO of @cap.
 */
typedef struct ChimneyGuestRecvFifo {
    uint64_t *cookie;
    uint32_t cap, head, count;
} ChimneyGuestRecvFifo;

void chimney_guest_recv_init(ChimneyGuestRecvFifo *f, uint64_t *cookie,
                             uint32_t cap);
bool chimney_guest_recv_posted(ChimneyGuestRecvFifo *f, uint64_t cookie);
bool chimney_guest_recv_complete(ChimneyGuestRecvFifo *f,
                                 const ChimneyCqe *cqe);

/*
 * NDIS's TCP offload state (TCP_OFFLOAD_STATE_CONST, _CACHED, _DELEGATED
 * of ndischimney.h) with its documented x64 layout in fixed-width fields
 * and no bitfields, so this file can translate it on any compiler.  The
 * miniport checks that its NDIS declarations have the same layout.
 * Ports are in network byte order there, like the IP addresses.
 */
typedef struct ChimneyNdisStateHeader {
    uint32_t length;
    uint32_t recognized_options;
} ChimneyNdisStateHeader;

typedef struct ChimneyNdisTcpConst {
    ChimneyNdisStateHeader header;
    uint16_t flags;                 /* TCP_FLAG_TIMESTAMP_ENABLED ... */
    uint16_t remote_port;
    uint16_t local_port;
    uint8_t wnd_scales;             /* SndWindScale:4, RcvWindScale:4 */
    uint8_t pad0;
    uint16_t remote_mss;
    uint16_t pad1;
    uint32_t hash_value;
} ChimneyNdisTcpConst;

typedef struct ChimneyNdisTcpCached {
    ChimneyNdisStateHeader header;
    uint16_t flags;                 /* TCP_FLAG_KEEP_ALIVE_ENABLED ... */
    uint16_t pad0;
    uint32_t initial_rcv_wnd;
    uint32_t rcv_indication_size;
    uint8_t ka_probe_count;
    uint8_t pad1[3];
    uint32_t ka_timeout;
    uint32_t ka_interval;
    uint32_t max_rt;
    uint32_t flow_label;            /* FlowLabel:20 */
    uint8_t ttl_or_hop_limit;
    uint8_t tos_or_traffic_class;
    uint8_t user_priority;          /* UserPriority:3 */
    uint8_t pad2;
} ChimneyNdisTcpCached;

typedef struct ChimneyNdisTcpDelegated {
    ChimneyNdisStateHeader header;
    uint32_t state;                 /* TCP_OFFLOAD_CONNECTION_STATE */
    uint16_t flags;
    uint16_t pad0;
    uint32_t rcv_nxt, rcv_wnd;
    uint32_t snd_una, snd_nxt, snd_max, snd_wnd, max_snd_wnd, send_wl1;
    uint32_t cwnd, ssthresh;
    uint16_t srtt, rttvar;
    uint32_t ts_recent, ts_recent_age, ts_time, total_rt;
    uint8_t dup_ack_count, snd_wnd_probe_count;
    uint16_t pad1;
    uint8_t ka_probe_count;
    uint8_t pad2[3];
    uint32_t ka_timeout_delta;
    uint8_t rexmit_count;
    uint8_t pad3[3];
    uint32_t rexmit_timeout_delta;
    uint64_t send_data_head;        /* or SendBacklogSize */
    uint64_t send_data_tail;
    uint64_t buffered_data;         /* or ReceiveBacklogSize */
    uint32_t dwnd;
    uint32_t pad4;
} ChimneyNdisTcpDelegated;

#define CHIMNEY_NDIS_TCP_TIMESTAMPS     0x0001  /* const flags */
#define CHIMNEY_NDIS_TCP_SACK           0x0002
#define CHIMNEY_NDIS_TCP_WINDOW_SCALING 0x0004
#define CHIMNEY_NDIS_TCP_KEEPALIVE      0x0001  /* cached flags */
#define CHIMNEY_NDIS_TCP_NAGLING        0x0002

_Static_assert(sizeof(ChimneyNdisTcpConst) == 0x18, "TCP const state");
_Static_assert(offsetof(ChimneyNdisTcpConst, remote_mss) == 0x10,
               "TCP const state");
_Static_assert(sizeof(ChimneyNdisTcpCached) == 0x2C, "TCP cached state");
_Static_assert(offsetof(ChimneyNdisTcpCached, ttl_or_hop_limit) == 0x28,
               "TCP cached state");
_Static_assert(sizeof(ChimneyNdisTcpDelegated) == 0x80, "TCP delegated");
_Static_assert(offsetof(ChimneyNdisTcpDelegated, srtt) == 0x38,
               "TCP delegated state");
_Static_assert(offsetof(ChimneyNdisTcpDelegated, ka_probe_count) == 0x50,
               "TCP delegated state");
_Static_assert(offsetof(ChimneyNdisTcpDelegated, rexmit_count) == 0x58,
               "TCP delegated state");
_Static_assert(offsetof(ChimneyNdisTcpDelegated, send_data_head) == 0x60,
               "TCP delegated state");
_Static_assert(offsetof(ChimneyNdisTcpDelegated, dwnd) == 0x78,
               "TCP delegated state");

/* Where the device finds a connection's queues, for OFFLOAD_TCP */
typedef struct ChimneyGuestTcpQueues {
    uint32_t path;
    uint32_t cq;
    uint64_t sq_base;
    uint32_t sq_size;
    uint32_t handover;              /* SQ entries posted before offload */
    uint64_t db_record;
    uint64_t rq_base;
    uint32_t rq_size;
    uint32_t buffered_len;
    uint64_t buffered_addr;
} ChimneyGuestTcpQueues;

void chimney_guest_tcp_offload(ChimneyTcpOffload *out,
                               const ChimneyNdisTcpConst *c,
                               const ChimneyNdisTcpCached *k,
                               const ChimneyNdisTcpDelegated *d,
                               const ChimneyGuestTcpQueues *q);
void chimney_guest_tcp_delegated(ChimneyNdisTcpDelegated *out,
                                 const ChimneyTcpDelegated *in);

/*
 * NDIS_TCP_CONNECTION_OFFLOAD_PARAMETERS, the buffer of
 * OID_TCP_CONNECTION_OFFLOAD_PARAMETERS, in its documented x64 layout;
 * revision 1 ends before congestion_algorithm.
 */
typedef struct ChimneyNdisOffloadParams {
    uint8_t header[4];              /* NDIS_OBJECT_HEADER */
    uint8_t encapsulation[28];      /* NDIS_OFFLOAD_ENCAPSULATION */
    uint32_t ticks_per_second;
    uint8_t ack_frequency;
    uint8_t delayed_ack_ticks;
    uint8_t max_retransmissions;
    uint8_t doubt_reachability;
    uint32_t sws_prevention_ticks;
    uint32_t dup_ack_threshold;
    uint32_t push_ticks;
    uint32_t nce_stale_ticks;
    uint32_t congestion_algorithm;
} ChimneyNdisOffloadParams;

#define CHIMNEY_NDIS_OFFLOAD_PARAMS_REV1_SIZE \
    offsetof(ChimneyNdisOffloadParams, congestion_algorithm)

_Static_assert(offsetof(ChimneyNdisOffloadParams, ticks_per_second) == 0x20,
               "offload parameters");
_Static_assert(sizeof(ChimneyNdisOffloadParams) == 0x3C,
               "offload parameters");

bool chimney_guest_offload_params(uint32_t *param,
                                  const ChimneyNdisOffloadParams *n,
                                  uint32_t len);

/*
 * NDIS_MINIPORT_OFFLOAD_BLOCK_LIST (ndischimney.h), the node of the state
 * trees NDIS hands a chimney target, in its documented x64 layout.  A
 * target visits the tree depth first, parents before their dependents
 * (initiate, update, invalidate, query), or dependents first (terminate:
 * the device refuses to terminate an object others depend on).
 * miniport_reserved[0] is the walk's: the parent of each block reached.
 */
typedef struct ChimneyNdisBlock ChimneyNdisBlock;
struct ChimneyNdisBlock {
    uint8_t header[8];              /* NDIS_OBJECT_HEADER, Type: state */
    ChimneyNdisBlock *next;         /* NextBlock: same layer */
    ChimneyNdisBlock *dependents;   /* DependentBlockList */
    int32_t status;
    uint32_t pad0;
    void *ndis_reserved[2];
    void **miniport_context;        /* *: the target's object */
    void *ndis_offload_handle;
    void *protocol_reserved[2];
    void *miniport_reserved[2];
    void *im_reserved[2];
    void *scratch[2];
    void *source_handle;
    uint32_t port_number;
    uint32_t pad1;
    void *nbl_chain;                /* NetBufferListChain */
};

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(ChimneyNdisBlock) == 0x98, "offload block list");
_Static_assert(offsetof(ChimneyNdisBlock, status) == 0x18, "block status");
_Static_assert(offsetof(ChimneyNdisBlock, miniport_context) == 0x30,
               "block MiniportOffloadContext");
_Static_assert(offsetof(ChimneyNdisBlock, miniport_reserved) == 0x50,
               "block MiniportReserved");
_Static_assert(offsetof(ChimneyNdisBlock, nbl_chain) == 0x90,
               "block NetBufferListChain");
#endif

#define CHIMNEY_NDIS_STATUS_PARTIAL_SUCCESS     0x40020004u

ChimneyNdisBlock *chimney_guest_walk_first(ChimneyNdisBlock *root,
                                           bool bottom_up);
ChimneyNdisBlock *chimney_guest_walk_next(ChimneyNdisBlock *b,
                                          bool bottom_up, bool enter);
ChimneyNdisBlock *chimney_guest_block_parent(const ChimneyNdisBlock *b);
void chimney_guest_block_failed(ChimneyNdisBlock *b, uint32_t status,
                                bool initiate);

/* The NDIS_STATUS a completion becomes (spec: "Types and statuses"). */
uint32_t chimney_guest_ndis_status(uint8_t type, uint8_t status);

/*
 * Send completions of one connection in a row go to NDIS as one chain
 * (NdisTcpOffloadSendComplete takes a list).  Feed each SEND completion
 * to chimney_guest_batch_add: when it returns true the batch so far must
 * be handed over first, then the completion starts a new one.
 */
typedef struct ChimneyGuestBatch {
    uint32_t obj;           /* the connection, when count > 0 */
    uint32_t count;
    uint32_t max;           /* at most this many per call; 0: no limit */
} ChimneyGuestBatch;

bool chimney_guest_batch_add(ChimneyGuestBatch *b, const ChimneyCqe *cqe);
void chimney_guest_batch_reset(ChimneyGuestBatch *b);

#endif /* HW_NET_CHIMNEY_GUEST_H */
