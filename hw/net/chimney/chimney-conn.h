/*
 * chimney-nic: the tables of offloaded objects and each connection's
 * completion FIFO
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_CONN_H
#define HW_NET_CHIMNEY_CONN_H

#include "qemu/queue.h"
#include "hw/net/chimney/chimney-queue.h"
#include "hw/net/chimney/chimney-tcp.h"
#include "hw/net/chimney/chimney-fault.h"
#include "hw/net/chimney/chimney-timer.h"
#include "hw/net/chimney/chimney-dmamap.h"

typedef struct ChimneyNeighbor {
    bool valid;
    bool invalidated;
    uint8_t src_mac[6];
    uint8_t dst_mac[6];
    uint16_t vlan;
    uint32_t refs;              /* paths that use it */
} ChimneyNeighbor;

typedef struct ChimneyPath {
    bool valid;
    bool invalidated;
    uint32_t neighbor;
    uint32_t src_ip;            /* IPv4, network order */
    uint32_t dst_ip;
    uint32_t mtu;
    uint32_t refs;              /* connections that use it */
    bool ipv6;                  /* the addresses are src_ip6, dst_ip6 */
    uint8_t src_ip6[16];        /* network order */
    uint8_t dst_ip6[16];
    bool mtu_event;             /* a PATH_MTU event waits for admin CQ room */
    /*
     * What its connections send with, while the path is valid:
     * chimney_offload_route (the stream does not carry it)
     */
    ChimneyTcpRoute *route;
} ChimneyPath;

/*
 * The receive classifier's key: family and the full 4-tuple.  The VLAN
 * is checked after the lookup (chimney_conn_vlan_accepts), so a 4-tuple
 * is offloaded once whatever its VLAN.  No padding: the hash reads its
 * bytes.
 */
typedef struct ChimneyConnKey {
    uint8_t remote_ip[16];      /* network order; IPv4 in the first 4 */
    uint8_t local_ip[16];
    uint16_t remote_port;
    uint16_t local_port;
    uint8_t ipv6;
    uint8_t zero;
} ChimneyConnKey;

#define CHIMNEY_FAULT_IRQ_DELAY 1
#define CHIMNEY_FAULT_IRQ_DROP  2

/* A completion waiting for its turn, in the connection's causal order. */
typedef struct ChimneyPending {
    uint64_t cookie;
    uint32_t bytes;
    uint32_t sq_head;
    uint32_t aux;
    uint16_t info;
    uint8_t type;
    uint8_t status;
    uint16_t queue;
    /* what fault injection decided (chimney-fault.c) */
    uint64_t seq;
    int64_t release_ns;
    uint64_t coalesce_gen;
    int64_t irq_delay_ns;
    bool hold;
    bool hold_released;
    bool coalesce;
    uint8_t irq;
} ChimneyPending;

/*
 * The device's work lists: a FIFO each of connections, so a connection
 * holds no links, only its on_*_list bit and a 4-bit generation per list
 * (ChimneyConn.list_gen).  An entry is index + 1 and the generation the
 * connection had when it was appended: leaving a list (or the table)
 * leaves the entry behind, stale, and coming back appends a new one
 * with the next generation, so each connection is served at its latest
 * place.  Stale entries are dropped when reached, and compacted away
 * before the FIFO grows; an empty FIFO holds no memory.  Every
 * connection on a list is in the table (a terminated one too, until it
 * is freed).
 */
#define CHIMNEY_LINK_BITS   21      /* CHIMNEY_MAX_CONNS_LIMIT is 2^20 */

typedef struct ChimneyConnList {
    uint32_t *ent;              /* a ring of @cap entries; NULL: empty */
    uint32_t head, count, cap;
} ChimneyConnList;

enum {
    CHIMNEY_LINK_FLUSH,
    CHIMNEY_LINK_KICK,
    CHIMNEY_LINK_TIMER,
    CHIMNEY_LINK_WAIT,
    CHIMNEY_LINK_IND,
    CHIMNEY_LINK_CONSEQUENCE,
    CHIMNEY_LINKS,
};

/* What the device keeps of each SQ or RQ entry it has taken. */
typedef struct ChimneySlot {
    uint64_t sgl;
    uint16_t nsge;
    uint8_t status;             /* a request refused at fetch time */
    bool disconnect;            /* a DISCONNECT entry, even refused */
    /* where the last read ended, so sequential reads do not rescan */
    uint16_t cur_sge;
    uint32_t cur_off;
    uint64_t cur_addr;
    uint32_t cur_len;
} ChimneySlot;

typedef struct ChimneyConn {
    uint32_t index;
    uint32_t path;
    uint8_t gen;
    uint8_t sq_failed;          /* status of the first refused SQ entry */
    /* fault injection: an injected failure, later ones fail too */
    uint8_t fault_status;
    /* one bit each (the stream has them as booleans: ChimneyMigConn) */
    bool poisoned:1;            /* the SQ is not fetched any more */
    bool terminated:1;          /* freed once its completions are out */
    bool rq_upload_asked:1;     /* data came and there is no RQ */
    bool in_burst:1;            /* its received segments are being input */
    bool flushing:1;
    bool on_flush_list:1;
    bool on_kick_list:1;
    bool on_timer_list:1;
    bool on_wait_list:1;        /* its head waits for a fault rule */
    bool on_ind_list:1;         /* it waits for a generic buffer */
    bool on_consequence_list:1; /* an injected failure to act on */
    bool fault_consequence:1;   /* the connection must act on it */
    /* CHIMNEY_TCPO_DB_HINT: the device writes the record's hint word */
    bool db_hint:1;
    bool hint_known:1;          /* hint_skip is what the record holds */
    bool hint_skip:1;           /* it holds CHIMNEY_HINT_SKIP */
    /* by CHIMNEY_LINK_*, 4 bits each: chimney_conn_list_append */
    uint8_t list_gen[CHIMNEY_LINKS / 2];
    ChimneyRing sq;             /* head: next entry to fetch; its CQ's */
    uint64_t db_record;

    /*
     * The per-request arrays, absent while the queue holds no request,
     * are the engine's (tcp.reqs, tcp.recvs) with the device's slots after
     * them in the same block: chimney_conn_slots, chimney_conn_rslots
     */
    ChimneyRing rq;             /* receive queue; size 0: none */
    /*
     * completions not yet in the CQ; NULL while there are none, else
     * chimney_conn_pend_cap entries
     */
    ChimneyPending *pend;
    uint32_t pend_head, pend_count;

    ChimneyTimerEntry timer;    /* in the device's heap of deadlines */
    ChimneyTcpConn tcp;
} ChimneyConn;

/* The engine's one-bit flags and rare counters as the stream has them */
typedef struct ChimneyMigTcp {
    bool in_recovery, fin_queued, fin_sent, aborted, upload_requested;
    bool frozen, send_failed, rtt_timing, persist, ka_forced;
    bool ooo_fin, fin_rcvd, rcv_shut, rcv_urgent, psh_pending, ind_refused;
    ChimneyTcpRare rare;        /* its ctr_hi unused: ctr has them */
    uint64_t ctr[CHIMNEY_TCP_CTRS];
    uint32_t ooo_count;
} ChimneyMigTcp;

/* The device's one-bit flags as the stream has them */
typedef struct ChimneyMigFlags {
    bool poisoned, terminated, rq_upload_asked;
    bool on_flush_list, on_kick_list, on_timer_list;
    bool on_wait_list, on_ind_list, on_consequence_list;
    bool fault_consequence;
    bool db_hint;               /* in a subsection: 1.4 */
} ChimneyMigFlags;

/*
 * A connection as a migration stream carries it (chimney-migrate.c): the
 * live structure first, then what only the stream has, so a live
 * connection does not carry it.
 */
typedef struct ChimneyMigConn {
    ChimneyConn c;
    int32_t mig_nsq, mig_nrq;   /* 0: the queue's arrays are absent */
    uint32_t mig_cq;            /* the stream's copy of sq.cq */
    uint32_t mig_pend_cap;      /* of chimney_conn_pend_cap */
    ChimneySlot *mig_slots;     /* the stream's own copies of the slots */
    ChimneySlot *mig_rslots;
    int32_t mig_npend;
    uint32_t mig_rbuf_len;      /* 0: no receive buffer allocated yet */
    uint64_t mig_key4;          /* the pre-1.3 key of an IPv4 connection */
    int64_t mig_last_release;   /* chimney_conn_last_release, or 0 */
    /* the engine's state as the stream has it: chimney_tcp_query's */
    ChimneyTcpState mig_st;
    ChimneyMigTcp mig_tcp;
    ChimneyMigFlags mig_flags;
    bool mig_keyed;             /* in the classifier */
} ChimneyMigConn;

/* The device's connection around an engine connection (no pointer back) */
static inline ChimneyConn *chimney_conn_of(ChimneyTcpConn *c)
{
    return container_of(c, ChimneyConn, tcp);
}

/* The CQ of the connection's completions: its SQ's (and RQ's) */
static inline uint32_t chimney_conn_cq(const ChimneyConn *conn)
{
    return conn->sq.cq;
}

/* Room in the completion FIFO: one per SQ and RQ entry, and some extra */
#define CHIMNEY_PEND_EXTRA  8
/*
 * A send completion with this many requests behind it is
 * CHIMNEY_POST_LAZY: its driver still has two in flight
 */
#define CHIMNEY_CONN_LAZY_REQS 2
static inline uint32_t chimney_conn_pend_cap(const ChimneyConn *conn)
{
    return conn->sq.size + conn->rq.size + CHIMNEY_PEND_EXTRA;
}

/* One per SQ entry, after the engine's; NULL while the queue is idle */
static inline ChimneySlot *chimney_conn_slots(ChimneyConn *conn)
{
    return conn->tcp.reqs ? (ChimneySlot *)(conn->tcp.reqs + conn->sq.size)
                          : NULL;
}

/* One per engine receive, by its tag; NULL while none is posted */
static inline ChimneySlot *chimney_conn_rslots(ChimneyConn *conn)
{
    return conn->tcp.recvs ?
           (ChimneySlot *)(conn->tcp.recvs + conn->rq.size) : NULL;
}

/*
 * When the completion pushed last may be written (fault injection): a new
 * one never goes before it.  Completions leave the FIFO from its head and
 * only once released, and each is released no earlier than the one ahead
 * of it, so the FIFO's tail has that time; an empty FIFO holds back none.
 */
static inline int64_t chimney_conn_last_release(const ChimneyConn *conn)
{
    if (!conn->pend_count) {
        return INT64_MIN;
    }
    return conn->pend[(conn->pend_head + conn->pend_count - 1) %
                      chimney_conn_pend_cap(conn)].release_ns;
}

/* A connection's device is its engine stack's owner (no pointer of its own) */
static inline ChimneyState *chimney_conn_dev(const ChimneyConn *conn)
{
    return chimney_tcp_stack(&conn->tcp)->opaque;
}

/*
 * Segments of offloaded connections wait here for the bottom half, so the
 * engine never answers from inside the backend's own output path (libslirp
 * must not be re-entered).
 */
#define CHIMNEY_CONN_RX_SLOTS 256
typedef struct ChimneyRxSeg {
    uint32_t conn_id;           /* CHIMNEY_CONN_ID, checked again later */
    ChimneyTcpSegment seg;
    uint32_t payload;           /* offset of the payload in the frame */
    uint32_t len;               /* the frame, in tcp_rx_frames */
} ChimneyRxSeg;

/*
 * The offloaded objects as a migration stream carries them: filled by
 * pre_save from the tables, or by a load and then validated before they
 * become the tables (chimney-migrate.c).
 */
typedef struct ChimneyMigStage {
    int32_t nneighbors, npaths, nconns;
    ChimneyNeighbor *neighbors;
    ChimneyPath *paths;
    ChimneyMigConn *conns;      /* by value, in index order */
    uint16_t ip_id;
    uint32_t fault_text_len;    /* with its NUL; 0: no rules */
    char *fault_text;
    uint64_t fault_rng, fault_seq;
    uint64_t rule_matched[CHIMNEY_FAULT_MAX_RULES];
    uint64_t rule_fired[CHIMNEY_FAULT_MAX_RULES];
} ChimneyMigStage;

/* Everything the device holds for offloaded objects */
typedef struct ChimneyOffloadState {
    ChimneyNeighbor *neighbors;
    ChimneyPath *paths;
    ChimneyConn **conns;        /* by index, max-conns of them */
    GHashTable *by_key;         /* live connections by &conn->tcp */
    uint32_t num_objects;       /* neighbors, paths and connections */
    uint32_t sq_entries_used;   /* bounds what the guest makes us allocate */
    ChimneyTcpStack *tcp;
    /*
     * Every connection's earliest deadline, behind one QEMUTimer armed at
     * the first of them (timer_ns, -1 when not armed).  Entries are only
     * moved earlier: one that comes due re-checks its connection.
     */
    ChimneyTimers timers;
    QEMUTimer *timer;
    int64_t timer_ns;
    ChimneyRxSeg rx[CHIMNEY_CONN_RX_SLOTS];
    uint8_t *rx_frames;         /* CHIMNEY_L2_MAX_FRAME bytes per slot */
    uint32_t rx_head, rx_count;
    /* frames sent this bottom-half run; tx_paused: x-tx-burst reached */
    uint32_t tx_burst_used;
    bool tx_paused;
    ChimneyDmaMaps maps;        /* payload mapped in this run */
    /* connections with completions waiting for room, per CQ */
    ChimneyConnList flush_list[CHIMNEY_MAX_CQS];
    ChimneyConnList kick_list;      /* send doorbells to serve */
    ChimneyConnList timer_list;     /* expired timers */
    ChimneyConnList ind_list;       /* waiting for generic buffers */
    ChimneyConnList wait_list;      /* heads held by a fault rule */
    ChimneyConnList consequence_list;   /* injected failures */
    /* QUERY_STATS: counters of the connections terminated since reset */
    uint64_t closed_segs_in, closed_segs_out, closed_bytes_in,
             closed_bytes_out, closed_retransmits;
    bool mtu_event_waiting;     /* a PATH_MTU event may wait for room */
    ChimneyMigStage mig;
} ChimneyOffloadState;

void chimney_conn_table_init(ChimneyState *s);
void chimney_conn_table_reset(ChimneyState *s);
void chimney_conn_table_exit(ChimneyState *s);
void chimney_conn_key(ChimneyConnKey *k, const ChimneyTcpConn *c);

/* The classifier's probe: what it reads of a connection, on its own */
typedef struct ChimneyConnProbe {
    ChimneyTcpConn tcp;
    ChimneyTcpRoute route;
} ChimneyConnProbe;

void chimney_conn_key_rx(ChimneyConnProbe *k, const ChimneyTcpTuple *t);

/*
 * Whether @conn takes a frame whose 802.1Q tag has VLAN id @vid (0: no
 * tag, or a priority tag).  Microsoft's "Receiving 802.1Q-Marked and
 * 802.1p-Marked Packets on an Offloaded TCP Connection": with neighbor
 * VlanId 0 the target does not filter by VLAN; with a non-zero one it
 * accepts only a tag with that id and drops the rest.
 */
static inline bool chimney_conn_vlan_accepts(const ChimneyConn *conn,
                                             uint16_t vid)
{
    return !conn->tcp.route->vlan || vid == conn->tcp.route->vlan;
}

uint32_t chimney_conn_id(const ChimneyConn *conn);
ChimneyConn *chimney_conn_lookup(ChimneyState *s, uint32_t id,
                                 uint8_t *status);
bool chimney_conn_cq_in_use(ChimneyState *s, uint32_t cq);
bool chimney_conn_any(ChimneyState *s);
void chimney_conn_insert(ChimneyState *s, ChimneyConn *conn);
void chimney_conn_destroy(ChimneyConn *conn);
/* The engine's timer_mod: the connection is due at @expire_ns (-1: never) */
void chimney_conn_timer_mod(ChimneyConn *conn, int64_t expire_ns);
char *chimney_conn_stats(ChimneyState *s);
/* Per-request arrays: allocated when a queue is used, freed when idle */
void chimney_conn_sq_arrays(ChimneyConn *conn);
void chimney_conn_rq_arrays(ChimneyConn *conn);
void chimney_conn_trim(ChimneyConn *conn);
/* Bytes held by the live connections; @queues: their arrays only */
uint64_t chimney_conn_bytes(ChimneyState *s, bool queues);

/*
 * The work lists, @which being CHIMNEY_LINK_*.  The caller sets the
 * connection's on_*_list bit before it appends, and clears it after it
 * pops and before it removes (unless the connection leaves the table).
 */
void chimney_conn_list_append(ChimneyState *s, ChimneyConnList *l,
                              ChimneyConn *conn, int which);
/* Take the first connection off @l; NULL when it is empty */
ChimneyConn *chimney_conn_list_pop(ChimneyState *s, ChimneyConnList *l,
                                   int which);
bool chimney_conn_list_empty(ChimneyState *s, ChimneyConnList *l,
                             int which);
/* On the kick list: its queues are taken in the next bottom half */
void chimney_conn_kick(ChimneyState *s, ChimneyConn *conn);
/* Every list's memory goes (its connections are gone) */
void chimney_conn_lists_clear(ChimneyState *s);

/* The completion FIFO: every completion of a connection, in order */
bool chimney_conn_can_push(ChimneyConn *conn);
bool chimney_conn_push(ChimneyConn *conn, const ChimneyPending *pe);
void chimney_conn_push_event(ChimneyConn *conn, int event, uint32_t info);
void chimney_conn_flush(ChimneyConn *conn);
void chimney_conn_release(ChimneyConn *conn);

/* Fault injection's effects on connections, in the bottom half */
void chimney_conn_fault_consequences(ChimneyState *s);
void chimney_conn_flush_waiting(ChimneyState *s);
void chimney_conn_release_held(ChimneyState *s, bool one, int64_t index);

#endif /* HW_NET_CHIMNEY_CONN_H */
