/*
 * chimney-nic: the TCP engine of offloaded connections
 *
 * The engine continues a TCP connection that a guest stack established
 * and then offloaded: it segments the guest's send requests, processes
 * the peer's ACKs, windows and RSTs, runs the retransmission (RFC 6298)
 * and persist timers and congestion control (RFC 5681 with NewReno
 * recovery, RFC 6582), and completes each request only once the peer has
 * acknowledged all of its bytes.  Its receive side (chimney-tcp-rx.c)
 * holds in-order and out-of-order data in a bounded buffer, fills posted
 * receive requests or indicates data, and runs the delayed-ACK and push
 * timers; keepalive and FIN_WAIT_2 timers run here.
 *
 * It knows nothing of PCI, memory regions or QEMU's net layer.  It talks
 * to its owner through ChimneyTcpOps (clock, timer, request data, frame
 * output, completions and events), so tests/unit/ drives it with a fake
 * clock and a scripted peer.  It keeps no copy of payload: every
 * (re)transmission reads the request's bytes again through read_data.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_TCP_H
#define HW_NET_CHIMNEY_TCP_H

/* Sequence-space comparisons, correct across 2^32 wrap (RFC 9293 3.4). */
static inline bool chimney_seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static inline bool chimney_seq_leq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}

#define chimney_seq_gt(a, b)  chimney_seq_lt(b, a)
#define chimney_seq_geq(a, b) chimney_seq_leq(b, a)

/* TCP_OFFLOAD_CONNECTION_STATE */
enum {
    CHIMNEY_TCPS_CLOSED = 0,
    CHIMNEY_TCPS_ESTABLISHED = 4,
    CHIMNEY_TCPS_FIN_WAIT1 = 5,
    CHIMNEY_TCPS_FIN_WAIT2 = 6,
    CHIMNEY_TCPS_CLOSE_WAIT = 7,
    CHIMNEY_TCPS_CLOSING = 8,
    CHIMNEY_TCPS_LAST_ACK = 9,
    CHIMNEY_TCPS_TIME_WAIT = 10,
};

/* What the engine reports through ChimneyTcpOps.complete */
enum {
    CHIMNEY_TCP_OK = 0,
    CHIMNEY_TCP_ABORTED,        /* peer RST or abortive disconnect */
    CHIMNEY_TCP_UPLOADED,       /* returned by terminate */
    CHIMNEY_TCP_INVALID_STATE,  /* a receive posted after the peer's FIN */
    CHIMNEY_TCP_DMA_ERROR,      /* a receive buffer could not be written */
};

/* Events through ChimneyTcpOps.event */
enum {
    CHIMNEY_TCP_EV_ABORT = 1,           /* peer reset the connection */
    CHIMNEY_TCP_EV_UPLOAD_REQUEST,      /* info: CHIMNEY_TCP_UPLOAD_* */
    CHIMNEY_TCP_EV_DISCONNECT,          /* the peer closed its half */
};

/* Upload reasons (TCP_UPLOAD_REASON) */
enum {
    CHIMNEY_TCP_UPLOAD_URGENT_DATA = 5,
    CHIMNEY_TCP_UPLOAD_TIMEOUT = 8,     /* rexmit, persist, keepalive, */
                                        /* FIN_WAIT_2, TIME_WAIT */
    CHIMNEY_TCP_UPLOAD_INVALID_STATE = 9,
    CHIMNEY_TCP_UPLOAD_REQUESTED = 10,  /* e.g. data it cannot take yet */
    CHIMNEY_TCP_UPLOAD_HW_FAILURE = 11,
};

#define CHIMNEY_TCP_REQ_SEND        0
#define CHIMNEY_TCP_REQ_DISCONNECT  1

#define CHIMNEY_TCP_REQ_PUSH        (1u << 0)
#define CHIMNEY_TCP_REQ_ABORTIVE    (1u << 1)   /* disconnect with RST */
/* Set by the engine: its data could not be read, or an earlier one's */
#define CHIMNEY_TCP_REQ_FAILED      (1u << 15)
/* Set by the engine: the state refused it (INVALID_STATE in its turn) */
#define CHIMNEY_TCP_REQ_REFUSED     (1u << 14)

/* A send or disconnect request, in posting order. */
typedef struct ChimneyTcpReq {
    uint64_t cookie;
    uint32_t len;           /* payload bytes (a graceful disconnect: 0) */
    uint32_t end_seq;       /* sequence after it, its FIN included */
    uint32_t tag;           /* the owner's handle, e.g. its SQ index */
    uint16_t type;          /* CHIMNEY_TCP_REQ_* */
    uint16_t flags;
} ChimneyTcpReq;

/* A posted receive request (MiniportTcpOffloadReceive), in posting order. */
typedef struct ChimneyTcpRecv {
    uint64_t cookie;
    uint32_t len;           /* buffer bytes; 0 re-enables indications */
    uint32_t filled;        /* bytes placed so far */
    uint32_t tag;           /* the owner's handle */
    bool no_push;           /* complete only when full */
} ChimneyTcpRecv;

typedef struct ChimneyTcpConn ChimneyTcpConn;

/* Segmentation a backend does for a frame handed to emitv */
enum {
    CHIMNEY_TCP_GSO_NONE = 0,
    CHIMNEY_TCP_GSO_TCPV4,
    CHIMNEY_TCP_GSO_TCPV6,
};

/*
 * How the backend finishes a frame handed to emitv, as a virtio-net
 * header says it: the TCP checksum from csum_start (the field holds the
 * pseudo-header sum), and segments of gso_size payload bytes, each with
 * a copy of the first hdr_len bytes (sequence, IP ID and length fixed up,
 * FIN and PSH on the last).
 */
typedef struct ChimneyTcpTxInfo {
    uint16_t hdr_len;           /* Ethernet through the TCP options */
    uint16_t csum_start;        /* 0: the checksums are complete */
    uint16_t csum_offset;       /* of the checksum, from csum_start */
    uint16_t gso_size;          /* 0: one segment */
    uint8_t gso_type;           /* CHIMNEY_TCP_GSO_* */
} ChimneyTcpTxInfo;

/* Payload of one frame handed to emitv: at most 64 KiB less headers */
#define CHIMNEY_TCP_GSO_MAX     (65535 - 40 - 60)
/* Parts of one frame handed to emitv, at most */
#define CHIMNEY_TCP_TX_IOV      64

typedef struct ChimneyTcpOps {
    int64_t (*now_ns)(void *opaque);
    /* Arm the connection's one timer at @expire_ns, or cancel it (-1). */
    void (*timer_mod)(void *opaque, ChimneyTcpConn *c, int64_t expire_ns);
    /* Copy @len bytes at @offset of @req's data; false on a DMA error. */
    bool (*read_data)(void *opaque, ChimneyTcpConn *c,
                      const ChimneyTcpReq *req, uint32_t offset,
                      uint8_t *buf, uint32_t len);
    void (*emit)(void *opaque, ChimneyTcpConn *c, const uint8_t *frame,
                 size_t len);
    /*
     * Optional, no copy: the bytes at @offset of @req's data, mapped for
     * reading, with *@len cut to what is contiguous; valid until
     * unmap_data, which the engine calls before it returns.  NULL when
     * they are not plain RAM: the engine then uses read_data, which
     * checks every access.
     */
    const void *(*map_data)(void *opaque, ChimneyTcpConn *c,
                            const ChimneyTcpReq *req, uint32_t offset,
                            uint32_t *len);
    void (*unmap_data)(void *opaque, const void *ptr, uint32_t len);
    /*
     * Optional: a frame in @iovcnt parts that the backend finishes as
     * @info says (only when the stack's tx_offload is set), or sends as
     * it is (@info NULL), its payload then summed where it lies in
     * guest memory instead of copied.  The parts need not outlive the
     * call.
     */
    void (*emitv)(void *opaque, ChimneyTcpConn *c, const struct iovec *iov,
                  int iovcnt, const ChimneyTcpTxInfo *info);
    /* @req left the queue with @status; @bytes were acknowledged. */
    void (*complete)(void *opaque, ChimneyTcpConn *c,
                     const ChimneyTcpReq *req, int status, uint32_t bytes);
    void (*event)(void *opaque, ChimneyTcpConn *c, int event, uint32_t info);
    /* Copy @len received bytes into @rcv at @offset; false on DMA error. */
    bool (*write_data)(void *opaque, ChimneyTcpConn *c,
                       const ChimneyTcpRecv *rcv, uint32_t offset,
                       const uint8_t *buf, uint32_t len);
    /* @rcv left the queue with @status and rcv->filled bytes. */
    void (*recv_complete)(void *opaque, ChimneyTcpConn *c,
                          const ChimneyTcpRecv *rcv, int status);
    /*
     * No receive is posted: offer @len bytes starting at sequence @seq.
     * Returns how many were copied out for the driver (0: no buffer now;
     * the owner calls chimney_tcp_deliver when one comes).  The bytes stay
     * held until chimney_tcp_indicate_done says how many were taken.
     */
    uint32_t (*indicate)(void *opaque, ChimneyTcpConn *c, const uint8_t *data,
                         uint32_t len, uint32_t seq);
    /* Optional, for tracing: CHIMNEY_TCP_NOTE_* with two values */
    void (*note)(void *opaque, ChimneyTcpConn *c, int what, uint32_t a,
                 uint32_t b);
    /*
     * Optional: @c has data to send but the stack's tx_blocked holds it;
     * the owner calls chimney_tcp_output once it has cleared the flag.
     */
    void (*tx_wait)(void *opaque, ChimneyTcpConn *c);
} ChimneyTcpOps;

enum {
    CHIMNEY_TCP_NOTE_STATE = 1,     /* old state, new state */
    CHIMNEY_TCP_NOTE_REXMIT,        /* sequence, length */
    CHIMNEY_TCP_NOTE_TIMEOUT,       /* backoff, RTO in microseconds */
};

/* Settings shared by every connection (SET_PARAMS and device limits). */
typedef struct ChimneyTcpStack {
    const ChimneyTcpOps *ops;
    void *opaque;
    uint32_t dup_ack_thresh;        /* TcpDuplicateAckThreshold */
    uint32_t max_retransmit;        /* TcpMaximumRetransmissions */
    uint32_t ack_frequency;         /* TcpAckFrequency */
    int64_t delack_ns;              /* TcpDelayedAckTicks; 0: no delay */
    int64_t push_ns;                /* TcpPushTicks */
    int64_t tick_ns;                /* 1 / TicksPerSecond */
    int64_t rto_min_ns;
    int64_t rto_max_ns;
    int64_t rto_initial_ns;
    int64_t sws_ns;                 /* sender SWS override timeout */
    uint16_t ip_id;                 /* next IPv4 ID, 0x8000-0xffff */
    /* The backend computes TCP checksums and segments (emitv) */
    bool tx_offload;
    /*
     * Set by the owner while the backend holds a frame it could not take:
     * no data segment goes out (ACKs and RSTs still do) until it clears it
     */
    bool tx_blocked;
    uint8_t frame[14 + 4 + 60 + 60 + 65536];
    /* the parts of the frame being built (chimney-tcp-wire.c) */
    struct iovec tx_iov[CHIMNEY_TCP_TX_IOV];
    bool tx_mapped[CHIMNEY_TCP_TX_IOV];
} ChimneyTcpStack;

/* Everything OFFLOAD hands over: neighbor, path, TCP const/cached/delegated */
typedef struct ChimneyTcpState {
    /* neighbor */
    uint8_t src_mac[6];
    uint8_t dst_mac[6];
    uint16_t vlan;                  /* 802.1Q VLAN id, 0: none */
    /* path */
    bool ipv6;                      /* the addresses are src/dst_ip6 */
    uint8_t rexmit_count;           /* delegated, here it fills padding */
    uint32_t src_ip;                /* IPv4, network order, as on the wire */
    uint32_t dst_ip;
    uint8_t src_ip6[16];            /* IPv6, network order */
    uint8_t dst_ip6[16];
    uint32_t path_mtu;
    /* const */
    uint16_t local_port;            /* host order */
    uint16_t remote_port;
    uint16_t remote_mss;
    uint8_t snd_wscale;             /* the peer's shift of its window */
    uint8_t rcv_wscale;             /* our shift of the window we send */
    bool ts_enabled;
    bool sack_enabled;
    bool wscale_enabled;
    /* cached */
    uint8_t ttl;                    /* IPv6: the hop limit */
    uint8_t tos;                    /* IPv6: the traffic class */
    uint8_t user_priority;          /* 802.1p: tagged frames when non-zero */
    uint8_t ka_probe_count;         /* unanswered probes before upload */
    uint8_t ka_probes;              /* delegated: keepalive probes sent */
                                    /* unanswered */
    uint32_t flow_label;            /* IPv6, below 2^20 */
    uint32_t initial_rcv_wnd;
    uint32_t max_rt;                /* retransmissions; 0: stack default */
    bool nagle;
    bool keepalive;
    /* delegated bytes, here where they leave no padding */
    uint8_t dup_ack_count, snd_wnd_probe_count;
    uint32_t ka_timeout;            /* ticks of idleness before a probe */
    uint32_t ka_interval;           /* ticks between probes */
    uint32_t rcv_indication_size;   /* bytes per indication, 0: any */
    /* delegated */
    uint32_t state;
    uint32_t rcv_nxt, rcv_wnd;
    uint32_t snd_una, snd_nxt, snd_max;
    uint32_t snd_wnd, max_snd_wnd, snd_wl1;
    uint32_t cwnd, ssthresh;
    uint16_t srtt_x8, rttvar_x4;    /* in ticks as chimney passes them */
    uint32_t ts_recent, ts_recent_age, ts_time;
    uint32_t total_rt;
    int32_t rexmit_delta;           /* ticks; -1 idle */
    int32_t ka_delta;               /* ticks to the next probe; -1 idle */
} ChimneyTcpState;

/*
 * Where a connection's frames go: its neighbor's MACs and VLAN id, its
 * path's addresses and MTU, and the stack it runs in.  The owner keeps
 * one per path, shared by the path's connections (a neighbor -> path ->
 * TCP tree, as NDIS has it), and changes it for all of them at once
 * (UPDATE, relink, Packet Too Big).
 */
typedef struct ChimneyTcpRoute {
    ChimneyTcpStack *stack;         /* set by chimney_tcp_conn_init */
    uint8_t src_mac[6];
    uint8_t dst_mac[6];
    uint16_t vlan;                  /* 802.1Q VLAN id, 0: none */
    bool ipv6;                      /* the addresses are src/dst_ip6 */
    uint32_t src_ip;                /* IPv4, network order, as on the wire */
    uint32_t dst_ip;
    uint8_t src_ip6[16];            /* IPv6, network order */
    uint8_t dst_ip6[16];
    uint32_t path_mtu;
} ChimneyTcpRoute;

/*
 * What a live connection keeps of a ChimneyTcpState: the route is
 * shared (ChimneyTcpRoute), what the engine keeps in a form of its own
 * (RTT estimates, deadlines, backoff, the timestamp clock) is not here,
 * and the rest is as narrow as its range allows.  chimney_tcp_query
 * gives the whole state back.
 */
typedef struct ChimneyTcpVars {
    /* delegated */
    uint32_t rcv_nxt, rcv_wnd;
    uint32_t snd_una, snd_nxt, snd_max;
    uint32_t snd_wnd, max_snd_wnd, snd_wl1;
    uint32_t cwnd, ssthresh;
    uint32_t ts_recent, ts_recent_age;
    uint32_t total_rt;
    /* cached */
    uint32_t flow_label;            /* IPv6, below 2^20 */
    uint32_t initial_rcv_wnd;
    uint32_t max_rt;                /* retransmissions; 0: stack default */
    uint32_t ka_timeout;            /* ticks of idleness before a probe */
    uint32_t ka_interval;           /* ticks between probes */
    uint32_t rcv_indication_size;   /* bytes per indication, 0: any */
    /* const */
    uint16_t local_port;            /* host order */
    uint16_t remote_port;
    uint16_t remote_mss;
    uint8_t snd_wscale;             /* the peer's shift of its window */
    uint8_t rcv_wscale;             /* our shift of the window we send */
    /* cached */
    uint8_t ttl;                    /* IPv6: the hop limit */
    uint8_t tos;                    /* IPv6: the traffic class */
    uint8_t user_priority;          /* 802.1p: tagged frames when non-zero */
    uint8_t ka_probe_count;         /* unanswered probes before upload */
    /* delegated */
    uint8_t ka_probes;              /* keepalive probes sent unanswered */
    uint8_t dup_ack_count, snd_wnd_probe_count;
    uint8_t state;                  /* CHIMNEY_TCPS_* */
    bool ts_enabled:1;
    bool sack_enabled:1;
    bool wscale_enabled:1;
    bool nagle:1;
    bool keepalive:1;
} ChimneyTcpVars;

/* Out-of-order data held, as sequence ranges [start, end) */
#define CHIMNEY_TCP_OOO_MAX     16
/* Largest receive buffer of one connection */
#define CHIMNEY_TCP_RCVBUF_MAX  (1u << 20)

typedef struct ChimneyTcpRange {
    uint32_t start, end;
} ChimneyTcpRange;

/* The traffic counters: 64-bit, by chimney_tcp_ctr */
enum {
    CHIMNEY_TCP_SEGS_OUT,
    CHIMNEY_TCP_SEGS_IN,
    CHIMNEY_TCP_BYTES_ACKED,
    CHIMNEY_TCP_BYTES_RCVD,
    CHIMNEY_TCP_BYTES_DELIVERED,
    CHIMNEY_TCP_BYTES_INDICATED,
    CHIMNEY_TCP_CTRS,
};

/* Counters of rare events, allocated with the first one */
typedef struct ChimneyTcpRare {
    uint32_t retransmits, timeouts, fast_retransmits, dup_acks, probes_sent;
    uint32_t ooo_segs, dup_segs, ka_probes_sent, challenge_acks;
    /* the traffic counters' upper halves: a carry out of 32 bits is rare */
    uint32_t ctr_hi[CHIMNEY_TCP_CTRS];
} ChimneyTcpRare;

struct ChimneyTcpConn {
    /* the owner embeds the connection; its stack is the route's */
    ChimneyTcpRoute *route;         /* the owner's, shared per path */
    ChimneyTcpVars st;

    /* Request queue: a ring of @cap entries, [head, head + count) */
    ChimneyTcpReq *reqs;            /* the owner's; NULL while idle */
    uint32_t cap;
    uint32_t head;
    uint32_t count;
    uint32_t end_seq;               /* end_seq of the last posted request */

    uint32_t mss;                   /* payload per segment */
    uint32_t snd_wl2;
    uint32_t recover;               /* NewReno: snd_max at loss */
    uint32_t backoff;               /* RTO doublings */
    /*
     * One bit each (the migration stream has them as booleans:
     * chimney-migrate.c)
     */
    bool in_recovery:1;
    bool fin_queued:1;              /* a graceful disconnect is queued */
    bool fin_sent:1;                /* our FIN, at end_seq - 1, is out */
    bool aborted:1;
    bool upload_requested:1;
    bool frozen:1;                  /* invalidated: nothing more is sent */
    bool send_failed:1;             /* request data unreadable: ditto */
    bool rtt_timing:1;              /* Karn: timing rtt_seq */
    bool persist:1;                 /* rexmit_ns is the persist deadline */
    /* keepalive; blind-reset mitigation arms it even when not enabled */
    bool ka_forced:1;
    /*
     * Not migrated: input in progress (only inside the owner's work) and
     * the SWS timer's verdict
     */
    bool in_input:1;
    bool batching:1;                /* between input_begin and input_end */
    bool output_due:1;
    bool ack_due:1;
    bool sync_due:1;
    bool sws_override:1;            /* the SWS timer fired: send anyway */
    /* receive side state */
    bool ooo_fin:1;                 /* a FIN beyond a gap, at ooo_fin_seq */
    bool fin_rcvd:1;                /* the peer's FIN is in sequence */
    bool rcv_shut:1;                /* DISCONNECT indicated */
    bool rcv_urgent:1;              /* urgent data: nothing more accepted */
    bool psh_pending:1;             /* a PSH up to psh_seq not yet pushed */
    bool ind_refused:1;             /* no indication until a post */
    uint8_t ooo_count;              /* of ooo, CHIMNEY_TCP_OOO_MAX at most */
    uint32_t segs_unacked;          /* in-order segments not yet ACKed */

    /* RTT estimation (RFC 6298), nanoseconds */
    int64_t srtt_ns;
    int64_t rttvar_ns;
    int64_t rto_ns;
    int64_t rtt_start_ns;
    uint32_t rtt_seq;

    /* timestamp clock: milliseconds, ts_base at ts_base_ns */
    uint32_t ts_base;
    int64_t ts_base_ns;

    /*
     * Deadlines, -1 when idle; the owner's one timer is armed at the
     * earliest (timer_ns).
     */
    int64_t timer_ns;
    int64_t rexmit_ns;              /* retransmission or persist */
    int64_t delack_ns;
    int64_t push_ns;
    int64_t ka_ns;
    int64_t fw2_ns;
    int64_t challenge_ns;           /* last challenge ACK for a SYN */
    uint32_t probes;                /* zero-window probes: the backoff */
    uint32_t probes_unanswered;     /* since the peer last answered */

    /* Receive side: posted requests, a ring of @rcap */
    ChimneyTcpRecv *recvs;
    uint32_t rcap, rhead, rcount;
    /*
     * Received bytes not yet delivered: @held in-order bytes from
     * rbuf_head, then out-of-order ranges at their offset from rcv_nxt.
     */
    uint32_t rbuf_cap;
    uint8_t *rbuf;                  /* allocated with the first byte */
    uint32_t rbuf_head;
    uint32_t held;
    uint32_t rcv_deliv;             /* sequence of the first held byte */
    uint32_t rcv_adv;               /* right edge last advertised */
    ChimneyTcpRange *ooo;           /* CHIMNEY_TCP_OOO_MAX, or NULL */
    uint32_t ooo_fin_seq;
    uint32_t psh_seq;
    uint32_t ind_outstanding;       /* bytes indicated, answer awaited */

    /*
     * The traffic counters' lower halves, by CHIMNEY_TCP_SEGS_OUT etc.:
     * chimney_tcp_ctr gives them whole
     */
    uint32_t ctr_lo[CHIMNEY_TCP_CTRS];
    /*
     * Counters of events, 32-bit to keep a connection small: they wrap
     * after 2^32 events (modulo 2^32 is what QUERY_STATS and the
     * per-connection statistics then show; the stream carries 64 bits).
     * Those of rare events come with the first (NULL: all zero), so a
     * connection that never lost a segment holds none.
     */
    uint32_t acks_delayed;
    ChimneyTcpRare *rare;
};

/* The stack a connection runs in */
static inline ChimneyTcpStack *chimney_tcp_stack(const ChimneyTcpConn *c)
{
    return c->route->stack;
}

/* The rare-event counters, to read (all zero when none came yet) */
static inline const ChimneyTcpRare *
chimney_tcp_rare_get(const ChimneyTcpConn *c)
{
    static const ChimneyTcpRare none;

    return c->rare ? c->rare : &none;
}

/* The rare-event counters, to count one (allocated with the first) */
ChimneyTcpRare *chimney_tcp_rare(ChimneyTcpConn *c);

/* Traffic counter @which (CHIMNEY_TCP_SEGS_OUT...), 64-bit */
static inline uint64_t chimney_tcp_ctr(const ChimneyTcpConn *c, int which)
{
    return (uint64_t)chimney_tcp_rare_get(c)->ctr_hi[which] << 32 |
           c->ctr_lo[which];
}

/* Add @n to traffic counter @which */
static inline void chimney_tcp_count(ChimneyTcpConn *c, int which,
                                     uint32_t n)
{
    uint32_t lo = c->ctr_lo[which] + n;

    if (lo < c->ctr_lo[which]) {
        chimney_tcp_rare(c)->ctr_hi[which]++;
    }
    c->ctr_lo[which] = lo;
}

/* Set traffic counter @which, e.g. from a migration stream */
void chimney_tcp_ctr_set(ChimneyTcpConn *c, int which, uint64_t value);

/* A segment from the wire, parsed and checksummed by the owner. */
typedef struct ChimneyTcpSegment {
    uint32_t seq;
    uint32_t ack;
    uint8_t flags;                  /* TH_* */
    uint16_t wnd;
    uint16_t urg;
    bool has_ts;
    uint32_t ts_val, ts_ecr;
    uint32_t len;                   /* payload bytes */
} ChimneyTcpSegment;

/* The 4-tuple of a received frame, network order as on the wire. */
typedef struct ChimneyTcpTuple {
    bool ipv6;
    uint16_t vlan;                  /* the 802.1Q tag's VLAN id, 0: none */
    uint32_t src_ip, dst_ip;        /* IPv4 */
    uint8_t src_ip6[16], dst_ip6[16];
    uint16_t src_port, dst_port;
} ChimneyTcpTuple;

#define CHIMNEY_TCP_IPV6_MIN_MTU    1280
#define CHIMNEY_TCP_FLOW_LABEL_MAX  0xfffff

void chimney_tcp_stack_init(ChimneyTcpStack *s, const ChimneyTcpOps *ops,
                            void *opaque);
const char *chimney_tcp_state_check(const ChimneyTcpState *st);
/* The route fields of @st */
void chimney_tcp_route_init(ChimneyTcpRoute *r, const ChimneyTcpState *st);
/* @route: the route of @st, kept by the owner while the connection lives */
void chimney_tcp_conn_init(ChimneyTcpConn *c, ChimneyTcpStack *stack,
                           const ChimneyTcpState *st, ChimneyTcpRoute *route,
                           ChimneyTcpReq *reqs, uint32_t cap,
                           ChimneyTcpRecv *recvs, uint32_t rcap);
void chimney_tcp_conn_destroy(ChimneyTcpConn *c);
bool chimney_tcp_preload(ChimneyTcpConn *c, const uint8_t *data,
                         uint32_t len);
bool chimney_tcp_handover(ChimneyTcpConn *c, const ChimneyTcpReq *req);
void chimney_tcp_start(ChimneyTcpConn *c);
bool chimney_tcp_queue(ChimneyTcpConn *c, const ChimneyTcpReq *req);
bool chimney_tcp_post(ChimneyTcpConn *c, const ChimneyTcpReq *req);
void chimney_tcp_output(ChimneyTcpConn *c);
bool chimney_tcp_input(ChimneyTcpConn *c, const ChimneyTcpSegment *seg,
                       const uint8_t *payload);
/* A burst of segments to one connection: output and timers once, at end */
void chimney_tcp_input_begin(ChimneyTcpConn *c);
void chimney_tcp_input_end(ChimneyTcpConn *c);
bool chimney_tcp_recv_post(ChimneyTcpConn *c, const ChimneyTcpRecv *rcv);
bool chimney_tcp_indicate_done(ChimneyTcpConn *c, uint32_t taken);
void chimney_tcp_deliver(ChimneyTcpConn *c);
uint32_t chimney_tcp_held(const ChimneyTcpConn *c);
void chimney_tcp_copy_held(const ChimneyTcpConn *c, uint8_t *buf);
void chimney_tcp_timer(ChimneyTcpConn *c);
void chimney_tcp_query(const ChimneyTcpConn *c, ChimneyTcpState *out);
/* The variables of @st, as a migration stream gives them back */
void chimney_tcp_vars_load(ChimneyTcpConn *c, const ChimneyTcpState *st);
void chimney_tcp_terminate(ChimneyTcpConn *c, ChimneyTcpState *out);
void chimney_tcp_freeze(ChimneyTcpConn *c);
/* Ask the host to take the connection (once): nothing more is sent */
void chimney_tcp_request_upload(ChimneyTcpConn *c, uint32_t reason);
void chimney_tcp_reset(ChimneyTcpConn *c);
void chimney_tcp_set_path_mtu(ChimneyTcpConn *c, uint32_t mtu);
void chimney_tcp_set_keepalive(ChimneyTcpConn *c, bool on);
void chimney_tcp_set_rcv_wnd(ChimneyTcpConn *c, uint32_t wnd);
bool chimney_tcp_parse(const uint8_t *frame, size_t len,
                       ChimneyTcpTuple *tuple, ChimneyTcpSegment *seg,
                       const uint8_t **payload);
bool chimney_tcp_parse_header(const uint8_t *th, uint32_t len,
                              ChimneyTcpSegment *seg, uint32_t *doff);
/* The IP header's bytes: 20 (IPv4, no options) or 40 (IPv6) */
static inline uint32_t chimney_tcp_ip_hlen(bool ipv6)
{
    return ipv6 ? 40 : 20;
}
/*
 * The Internet checksum of @len bytes at @buf that sit at @offset of
 * what is summed (its parity matters), folded to 16 bits, to add to
 * net_checksum_add()'s; _copy also copies them to @dst in the same pass.
 */
uint16_t chimney_tcp_csum(const void *buf, size_t len, size_t offset);
uint32_t chimney_tcp_ip6_pseudo_sum(const uint8_t *ip6, uint8_t proto,
                                    uint32_t len);
uint16_t chimney_tcp_csum_copy(void *dst, const void *src, size_t len,
                               size_t offset);

static inline uint32_t chimney_tcp_queued(const ChimneyTcpConn *c)
{
    return c->count;
}

/* The owner's tag of the oldest request not completed; false: none */
static inline bool chimney_tcp_first_tag(const ChimneyTcpConn *c,
                                         uint32_t *tag)
{
    if (!c->count) {
        return false;
    }
    *tag = c->reqs[c->head].tag;
    return true;
}

#endif /* HW_NET_CHIMNEY_TCP_H */
