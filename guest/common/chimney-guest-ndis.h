/*
 * chimney-nic: NDIS's chimney structures, translated for the device
 *
 * What a Windows driver of the device turns from NDIS's terms into the
 * device's and back: NDIS's TCP offload state (const, cached, delegated)
 * into an OFFLOAD_TCP block and the delegated state QUERY_TCP and
 * TERMINATE return back into NDIS's structure, the
 * OID_TCP_CONNECTION_OFFLOAD_PARAMETERS buffer into SET_PARAMS, the walk
 * of the offload state trees NDIS hands a chimney target, and the
 * NDIS_STATUS of each completion.  NDIS's structures are mirrored here in
 * their documented x64 layout, so this file builds without NDIS's
 * headers: the Windows miniport compiles it, and the unit tests and
 * qtests run it.  Like the driver core (chimney-guest.h) it needs
 * nothing but the C library's freestanding headers, memset and
 * chimney-abi.h.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef GUEST_COMMON_CHIMNEY_GUEST_NDIS_H
#define GUEST_COMMON_CHIMNEY_GUEST_NDIS_H

#include "chimney-guest.h"

/*
 * NDIS's TCP offload state (TCP_OFFLOAD_STATE_CONST, _CACHED, _DELEGATED
 * of ndischimney.h) with its documented x64 layout in fixed-width fields
 * and no bitfields, so this file can translate it on any compiler.  The
 * miniport checks that its NDIS declarations have the same layout.
 * Ports are taken to be in network byte order there, like the IP
 * addresses; the DDI page does not say, so a driver checks them against
 * the connection's segments it saw in the host path (ChimneyGuestFlows).
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
#define CHIMNEY_NDIS_TCP_KA_RESTART     0x0004  /* cached, in an update */
#define CHIMNEY_NDIS_TCP_MAX_RT_RESTART 0x0008
#define CHIMNEY_NDIS_TCP_UPDATE_RCV_WND 0x0010
#define CHIMNEY_NDIS_TCP_USER_PRIORITY  0x8000  /* UserPriority not 0 */

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
    bool ports_host_order;          /* TCP const ports not in network order */
} ChimneyGuestTcpQueues;

/*
 * The TCP flows a driver saw go out through the plain NIC path (the host
 * stack's handshake and segments before an offload), by their ports as
 * on the wire: what decides the byte order of TCP_OFFLOAD_STATE_CONST's
 * ports when a connection is offloaded.
 */
#define CHIMNEY_GUEST_FLOWS     32

typedef struct ChimneyGuestFlows {
    struct {
        uint16_t local_port, remote_port;   /* host values */
    } flow[CHIMNEY_GUEST_FLOWS];
    uint32_t next;
} ChimneyGuestFlows;

enum {
    CHIMNEY_PORTS_UNKNOWN,      /* no segment of the connection was seen */
    CHIMNEY_PORTS_NETWORK,      /* as documented for the addresses */
    CHIMNEY_PORTS_HOST,         /* byte-swapped: the CPU's order */
};

void chimney_guest_flow_seen(ChimneyGuestFlows *f, const uint8_t *frame,
                             uint32_t len);
int chimney_guest_port_order(const ChimneyGuestFlows *f,
                             const ChimneyNdisTcpConst *c);

void chimney_guest_tcp_offload(ChimneyTcpOffload *out,
                               const ChimneyNdisTcpConst *c,
                               const ChimneyNdisTcpCached *k,
                               const ChimneyNdisTcpDelegated *d,
                               const ChimneyGuestTcpQueues *q);
uint32_t chimney_guest_tcp_cached_unsupported(const ChimneyNdisTcpCached *k);
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

#endif /* GUEST_COMMON_CHIMNEY_GUEST_NDIS_H */
