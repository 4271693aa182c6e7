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

/* The bits of TCP_OFFLOAD_STATE_CACHED's bitfields in their storage units */
#define CHIMNEY_NDIS_FLOW_LABEL_MASK    0xfffffu        /* FlowLabel:20 */
#define CHIMNEY_NDIS_USER_PRIORITY_MASK 0x7u            /* UserPriority:3 */

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
_Static_assert(offsetof(ChimneyNdisTcpCached, flow_label) == 0x24,
               "TCP cached state");
_Static_assert(offsetof(ChimneyNdisTcpCached, user_priority) == 0x2A,
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
    bool ipv6;                      /* on an IPv6 path: FlowLabel is sent */
    bool db_hint;                   /* 1.4: a 12-byte record, hint read */
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
uint32_t chimney_guest_tcp_cached_unsupported(const ChimneyNdisTcpCached *k,
                                              uint32_t features);
void chimney_guest_tcp_delegated(ChimneyNdisTcpDelegated *out,
                                 const ChimneyTcpDelegated *in);

/*
 * OFFLOAD_STATE_TYPE (ndischimney.h): NDIS_MINIPORT_OFFLOAD_BLOCK_LIST's
 * Header.Type names the state after the block.  A path block says its
 * family this way: Ip4OffloadState or Ip6OffloadState, each followed by
 * PATH_OFFLOAD_STATE_CONST, _CACHED and _DELEGATED (learn.microsoft.com,
 * "NDIS_MINIPORT_OFFLOAD_BLOCK_LIST structure (ndischimney.h)", Header).
 */
#define CHIMNEY_NDIS_NEIGHBOR_STATE     4   /* NeighborOffloadState */
#define CHIMNEY_NDIS_IP4_STATE          8   /* Ip4OffloadState */
#define CHIMNEY_NDIS_IP6_STATE          12  /* Ip6OffloadState */
#define CHIMNEY_NDIS_TCP_STATE          17  /* TcpOffloadState */

/*
 * NEIGHBOR_OFFLOAD_STATE_CONST and _CACHED ("NEIGHBOR_OFFLOAD_STATE_CONST
 * structure (ndischimney.h)", "..._CACHED"): DlSourceAddress all zero
 * means the interface's own MAC; VlanId:12 is the low 12 bits of the
 * ULONG after it, 0 for untagged.
 */
typedef struct ChimneyNdisNeighborConst {
    ChimneyNdisStateHeader header;
    uint8_t dl_source[32];
    uint32_t vlan_id;               /* VlanId:12 */
} ChimneyNdisNeighborConst;

typedef struct ChimneyNdisNeighborCached {
    ChimneyNdisStateHeader header;
    uint8_t dl_destination[32];
    uint32_t host_reachability_delta;
} ChimneyNdisNeighborCached;

#define CHIMNEY_NDIS_VLAN_ID_MASK       0xfffu

/*
 * PATH_OFFLOAD_STATE_CONST and _CACHED ("PATH_OFFLOAD_STATE_CONST
 * structure (ndischimney.h)", "..._CACHED"): pointers to the source and
 * destination addresses, 4 bytes for IPv4 and 16 for IPv6, always in
 * network byte order; the path MTU (RFC 1191 / RFC 1981).
 */
typedef struct ChimneyNdisPathConst {
    ChimneyNdisStateHeader header;
    const uint8_t *source;
    const uint8_t *destination;
} ChimneyNdisPathConst;

typedef struct ChimneyNdisPathCached {
    ChimneyNdisStateHeader header;
    uint32_t path_mtu;
} ChimneyNdisPathCached;

_Static_assert(sizeof(ChimneyNdisNeighborConst) == 0x2C, "neighbor const");
_Static_assert(offsetof(ChimneyNdisNeighborConst, vlan_id) == 0x28,
               "neighbor const");
_Static_assert(sizeof(ChimneyNdisNeighborCached) == 0x2C, "neighbor cached");
_Static_assert(offsetof(ChimneyNdisNeighborCached, host_reachability_delta) ==
               0x28, "neighbor cached");
_Static_assert(sizeof(ChimneyNdisPathCached) == 0xC, "path cached");
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(ChimneyNdisPathConst) == 0x18, "path const");
_Static_assert(offsetof(ChimneyNdisPathConst, destination) == 0x10,
               "path const");
#endif

/* What the translation of a neighbor or path block came to */
enum {
    CHIMNEY_GUEST_STATE_OK = 0,
    CHIMNEY_GUEST_BAD_FAMILY,       /* not a path's type, or IPv6 unoffered */
    CHIMNEY_GUEST_BAD_ADDRESS,      /* an address no TCP connection has */
    CHIMNEY_GUEST_BAD_MTU,          /* outside the family's path MTUs */
    CHIMNEY_GUEST_BAD_VLAN,         /* VLAN id 4095, reserved */
    CHIMNEY_GUEST_NO_VLAN,          /* a VLAN id, no CHIMNEY_FEAT_8021Q */
};

/* Path MTUs the device takes (spec, OFFLOAD_PATH) */
#define CHIMNEY_GUEST_IPV4_MIN_MTU      68
#define CHIMNEY_GUEST_MAX_MTU           9000
#define CHIMNEY_GUEST_VLAN_RESERVED     0xfff

/* The largest block OFFLOAD_PATH takes: room for either family's */
#define CHIMNEY_GUEST_PATH_BLOCK        sizeof(ChimneyPath6State)

int chimney_guest_neighbor(ChimneyNeighborState *out,
                           const ChimneyNdisNeighborConst *k,
                           const ChimneyNdisNeighborCached *c,
                           const uint8_t *own_mac, uint32_t features);
int chimney_guest_path(void *out, uint32_t *family, uint32_t type,
                       uint32_t neighbor, const ChimneyNdisPathConst *k,
                       const ChimneyNdisPathCached *c, uint32_t features);
int chimney_guest_path_update(void *out, uint32_t family, uint32_t neighbor,
                              const ChimneyNdisPathCached *c);
bool chimney_guest_ipv6_unicast(const uint8_t *addr);

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
