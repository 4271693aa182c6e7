/*
 * chimney-nic: the tables of offloaded objects and each connection's
 * completion FIFO
 *
 * Neighbors and paths live in arrays by id; connections in an array by
 * index (the id carries a generation) and in a hash by 4-tuple, so both
 * lookups are O(1).  Every completion of a connection (sends,
 * disconnects, receives, indications, events, its commands) goes
 * through one FIFO to its CQ, so the driver sees them in causal order
 * and a full CQ only delays them.  Connections wait on lists, never
 * found by scanning the table, so the work per event does not grow with
 * the number of connections.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "hw/net/chimney/chimney.h"
#include "trace.h"

/* The key of an offloaded connection */
void chimney_conn_key(ChimneyConnKey *k, const ChimneyTcpConn *c)
{
    const ChimneyTcpRoute *r = c->route;

    memset(k, 0, sizeof(*k));
    k->ipv6 = r->ipv6;
    k->remote_port = c->st.remote_port;
    k->local_port = c->st.local_port;
    if (r->ipv6) {
        memcpy(k->remote_ip, r->dst_ip6, 16);
        memcpy(k->local_ip, r->src_ip6, 16);
    } else {
        memcpy(k->remote_ip, &r->dst_ip, 4);
        memcpy(k->local_ip, &r->src_ip, 4);
    }
}

/*
 * The classifier's probe for a received segment: the key fields of a
 * connection state, its source being the remote end
 */
void chimney_conn_key_rx(ChimneyConnProbe *k, const ChimneyTcpTuple *t)
{
    ChimneyTcpRoute *r = &k->route;

    k->tcp.route = r;
    r->ipv6 = t->ipv6;
    k->tcp.st.remote_port = t->src_port;
    k->tcp.st.local_port = t->dst_port;
    if (t->ipv6) {
        memcpy(r->dst_ip6, t->src_ip6, 16);
        memcpy(r->src_ip6, t->dst_ip6, 16);
    } else {
        r->dst_ip = t->src_ip;
        r->src_ip = t->dst_ip;
    }
}

/*
 * The table's keys are the engine's connections (a key of their own
 * would cost each connection 40 bytes): hashed and compared through the
 * ChimneyConnKey their ports and route give.  The fields of the key do
 * not change while a connection is in the table (a relink changes only
 * the MACs and the VLAN, which are not part of it).
 */
static guint chimney_conn_key_hash(gconstpointer p)
{
    ChimneyConnKey k;
    const uint8_t *b = (const uint8_t *)&k;
    uint32_t h = 2166136261u;           /* FNV-1a */

    QEMU_BUILD_BUG_ON(sizeof(ChimneyConnKey) != 38);

    chimney_conn_key(&k, p);
    for (size_t i = 0; i < sizeof(ChimneyConnKey); i++) {
        h = (h ^ b[i]) * 16777619u;
    }
    return h;
}

static gboolean chimney_conn_key_equal(gconstpointer a, gconstpointer b)
{
    ChimneyConnKey ka, kb;

    chimney_conn_key(&ka, a);
    chimney_conn_key(&kb, b);
    return !memcmp(&ka, &kb, sizeof(ChimneyConnKey));
}

uint32_t chimney_conn_id(const ChimneyConn *conn)
{
    return CHIMNEY_CONN_ID(conn->index, conn->gen);
}

/* --- completions, in order, through the connection's FIFO --- */

bool chimney_conn_can_push(ChimneyConn *conn)
{
    return conn->pend_count < chimney_conn_pend_cap(conn);
}

/*
 * A send that succeeded while its connection still has requests to spare
 * is lazy: the driver is not running dry, its interrupt can wait
 */
static unsigned chimney_conn_post_flags(ChimneyConn *conn,
                                        const ChimneyPending *pe)
{
    if (pe->irq) {
        return CHIMNEY_POST_NO_IRQ;
    }
    if (pe->type == CHIMNEY_CQE_SEND && pe->status == CHIMNEY_ST_SUCCESS &&
        chimney_tcp_queued(&conn->tcp) >= CHIMNEY_CONN_LAZY_REQS) {
        return CHIMNEY_POST_LAZY;
    }
    return 0;
}

void chimney_conn_flush(ChimneyConn *conn)
{
    ChimneyState *s = chimney_conn_dev(conn);
    ChimneyOffloadState *o = &s->offload;

    conn->flushing = true;
    while (conn->pend_count && chimney_running(s)) {
        ChimneyPending *pe = &conn->pend[conn->pend_head];
        ChimneyCqe cqe = {
            .obj = chimney_conn_id(conn),
            .sq_head = pe->sq_head,
            .cookie = pe->cookie,
            .bytes = pe->bytes,
            .aux = pe->aux,
            .queue = pe->queue,
            .info = pe->info,
            .type_status = CHIMNEY_CQE_MAKE(pe->type, pe->status, 0),
        };

        if (!chimney_fault_ready(s, conn, pe)) {
            if (!conn->on_wait_list) {
                conn->on_wait_list = true;
                chimney_conn_list_append(s, &o->wait_list, conn,
                                         CHIMNEY_LINK_WAIT);
            }
            break;
        }
        if (!chimney_cq_post_flags(s, chimney_conn_cq(conn), &cqe,
                                   chimney_conn_post_flags(conn, pe))) {
            break;      /* full: the CQ head doorbell brings us back */
        }
        chimney_fault_posted(s, conn, pe);
        conn->pend_head = (conn->pend_head + 1) %
                          chimney_conn_pend_cap(conn);
        conn->pend_count--;
    }
    conn->flushing = false;
    if (!conn->pend_count) {
        /* An idle connection holds no FIFO: it comes with a completion */
        g_free(conn->pend);
        conn->pend = NULL;
        conn->pend_head = 0;
    }
    if (conn->pend_count && !conn->on_flush_list && !conn->on_wait_list) {
        conn->on_flush_list = true;
        chimney_conn_list_append(s, &o->flush_list[chimney_conn_cq(conn)],
                                 conn, CHIMNEY_LINK_FLUSH);
    } else if (!conn->pend_count && conn->on_flush_list) {
        /* its entry on the CQ's flush list goes stale */
        conn->on_flush_list = false;
    }
}

bool chimney_conn_push(ChimneyConn *conn, const ChimneyPending *pe)
{
    ChimneyOffloadState *o = &chimney_conn_dev(conn)->offload;
    ChimneyPending *slot;

    if (!chimney_conn_can_push(conn)) {
        /*
         * The FIFO has a place for every SQ and RQ entry, and callers
         * check for room; should that bound ever be wrong, the
         * completion is dropped rather than QEMU stopped.
         */
        trace_chimney_conn_fifo_full(conn->index,
                                     chimney_conn_pend_cap(conn));
        return false;
    }
    if (!conn->pend) {
        conn->pend = g_new(ChimneyPending, chimney_conn_pend_cap(conn));
        conn->pend_head = 0;
    }
    slot = &conn->pend[(conn->pend_head + conn->pend_count) %
                       chimney_conn_pend_cap(conn)];
    *slot = *pe;
    chimney_fault_decide(chimney_conn_dev(conn), conn, slot);
    if (conn->fault_consequence && !conn->on_consequence_list) {
        conn->on_consequence_list = true;
        chimney_conn_list_append(chimney_conn_dev(conn), &o->consequence_list,
                                 conn, CHIMNEY_LINK_CONSEQUENCE);
    }
    conn->pend_count++;
    if (!conn->flushing) {
        chimney_conn_flush(conn);
    }
    return true;
}

/* An event of the connection (abort, disconnect, upload request) */
void chimney_conn_push_event(ChimneyConn *conn, int event, uint32_t info)
{
    ChimneyPending pe = {
        .type = CHIMNEY_CQE_EVENT,
        .info = info,
        .queue = CHIMNEY_QUEUE_CONN_SQ,
        .sq_head = conn->sq.head,
    };

    switch (event) {
    case CHIMNEY_TCP_EV_ABORT:
        pe.aux = CHIMNEY_EVENT_ABORT;
        break;
    case CHIMNEY_TCP_EV_DISCONNECT:
        pe.aux = CHIMNEY_EVENT_DISCONNECT;
        break;
    default:
        pe.aux = CHIMNEY_EVENT_UPLOAD_REQUEST;
        break;
    }
    trace_chimney_conn_event(conn->index, pe.aux, info);
    chimney_conn_push(conn, &pe);
}

/* An injected failure acts on the connection as a real one would. */
static void chimney_conn_fault_consequence(ChimneyConn *conn)
{
    switch (conn->fault_status) {
    case CHIMNEY_ST_REQUEST_ABORTED:
        chimney_tcp_reset(&conn->tcp);
        break;
    case CHIMNEY_ST_UPLOAD_IN_PROGRESS:
        chimney_tcp_freeze(&conn->tcp);
        chimney_conn_push_event(conn, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                                CHIMNEY_UPLOAD_REQUESTED);
        break;
    default:
        chimney_tcp_freeze(&conn->tcp);
        chimney_conn_push_event(conn, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                                CHIMNEY_UPLOAD_HW_FAILURE);
        break;
    }
}

/* Bottom half: connections act on the failures injected into them */
void chimney_conn_fault_consequences(ChimneyState *s)
{
    ChimneyOffloadState *o = &s->offload;
    ChimneyConn *conn;

    while ((conn = chimney_conn_list_pop(s, &o->consequence_list,
                                         CHIMNEY_LINK_CONSEQUENCE))) {
        conn->on_consequence_list = false;
        if (conn->fault_consequence) {
            conn->fault_consequence = false;
            chimney_conn_fault_consequence(conn);
            /*
             * No ACK may come now: a connection whose driver skips
             * doorbells goes through its queues, as after one, and its
             * doorbell hint turns to RING (chimney_io_work)
             */
            if (conn->db_hint) {
                chimney_conn_kick(s, conn);
                chimney_schedule(s);
            }
        }
    }
}

/*
 * Bottom half: completions that a fault rule held back, released
 * together behind one interrupt per CQ.  Those still not ready go back
 * on the wait list, so take the list first.
 */
void chimney_conn_flush_waiting(ChimneyState *s)
{
    ChimneyOffloadState *o = &s->offload;
    ChimneyConnList waiting = o->wait_list;
    ChimneyConn *conn;

    o->wait_list = (ChimneyConnList) { 0 };
    chimney_cq_batch_begin(s);
    while ((conn = chimney_conn_list_pop(s, &waiting, CHIMNEY_LINK_WAIT))) {
        conn->on_wait_list = false;
        chimney_conn_flush(conn);
        chimney_conn_release(conn);
    }
    chimney_cq_batch_end(s);
}

/*
 * Release held completions: every one (of connection @index, or of all
 * when @index is negative), or with @one the oldest held completion that
 * heads its connection.
 */
void chimney_conn_release_held(ChimneyState *s, bool one, int64_t index)
{
    ChimneyOffloadState *o = &s->offload;
    ChimneyConn *best = NULL;
    uint64_t best_seq = 0;

    for (uint32_t i = 0; i < s->max_conns; i++) {
        ChimneyConn *conn = o->conns[i];

        if (!conn || (index >= 0 && i != index)) {
            continue;
        }
        for (uint32_t k = 0; k < conn->pend_count; k++) {
            ChimneyPending *pe = &conn->pend[(conn->pend_head + k) %
                                             chimney_conn_pend_cap(conn)];

            if (!pe->hold) {
                continue;
            }
            if (!one) {
                pe->hold = false;
                pe->hold_released = true;
                continue;
            }
            if (!best || pe->seq < best_seq) {
                best = conn;
                best_seq = pe->seq;
            }
            break;
        }
    }
    if (best) {
        ChimneyPending *pe = &best->pend[best->pend_head];

        for (uint32_t k = 0; k < best->pend_count; k++) {
            pe = &best->pend[(best->pend_head + k) %
                             chimney_conn_pend_cap(best)];
            if (pe->hold) {
                break;
            }
        }
        pe->hold = false;
        pe->hold_released = true;
    }
    chimney_schedule(s);
}

/* --- the tables --- */

/*
 * The device's timer: connections whose deadline came queue their work
 * for the guarded bottom half.  An entry may be early (its connection's
 * deadline moved later since): it goes back in at the real deadline.
 */
static void chimney_conn_timer_cb(void *opaque)
{
    ChimneyState *s = opaque;
    ChimneyOffloadState *o = &s->offload;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    ChimneyTimerEntry *e;
    bool due = false;

    o->timer_ns = -1;
    while ((e = chimney_timer_expire(&o->timers, now))) {
        ChimneyConn *conn = container_of(e, ChimneyConn, timer);
        int64_t when = conn->tcp.timer_ns;

        if (when > now) {
            chimney_timer_set(&o->timers, e, when);
        } else if (when >= 0 && !conn->on_timer_list) {
            conn->on_timer_list = true;
            chimney_conn_list_append(s, &o->timer_list, conn,
                                     CHIMNEY_LINK_TIMER);
            due = true;
        }
    }
    if (chimney_timer_next(&o->timers) >= 0) {
        o->timer_ns = chimney_timer_next(&o->timers);
        timer_mod(o->timer, o->timer_ns);
    }
    if (due) {
        chimney_schedule(s);
    }
}

/*
 * A deadline moved later, or went away, costs nothing now: the entry
 * stays where it is and re-checks when it comes due.  Only an earlier
 * one moves the entry, and the QEMUTimer when it is the first.
 */
void chimney_conn_timer_mod(ChimneyConn *conn, int64_t expire_ns)
{
    ChimneyOffloadState *o = &chimney_conn_dev(conn)->offload;

    if (expire_ns < 0 ||
        !chimney_timer_advance(&o->timers, &conn->timer, expire_ns)) {
        return;
    }
    if (o->timer_ns < 0 || expire_ns < o->timer_ns) {
        o->timer_ns = expire_ns;
        timer_mod(o->timer, expire_ns);
    }
}

/* A connection built by OFFLOAD_TCP joins the tables */
void chimney_conn_insert(ChimneyState *s, ChimneyConn *conn)
{
    ChimneyOffloadState *o = &s->offload;

    chimney_timer_entry_init(&conn->timer);
    if (!conn->pend_count) {
        /* allocated with its first completion (chimney_conn_push) */
        g_free(conn->pend);
        conn->pend = NULL;
        conn->pend_head = 0;
    }
    o->conns[conn->index] = conn;
    g_hash_table_insert(o->by_key, &conn->tcp, conn);
    o->paths[conn->path].refs++;
    o->sq_entries_used += conn->sq.size + conn->rq.size;
    o->num_objects++;
}

/* --- the work lists --- */

static bool chimney_conn_on_list(const ChimneyConn *conn, int which)
{
    switch (which) {
    case CHIMNEY_LINK_FLUSH:
        return conn->on_flush_list;
    case CHIMNEY_LINK_KICK:
        return conn->on_kick_list;
    case CHIMNEY_LINK_TIMER:
        return conn->on_timer_list;
    case CHIMNEY_LINK_WAIT:
        return conn->on_wait_list;
    case CHIMNEY_LINK_IND:
        return conn->on_ind_list;
    default:
        return conn->on_consequence_list;
    }
}

static unsigned chimney_conn_list_gen(const ChimneyConn *conn, int which)
{
    return conn->list_gen[which / 2] >> (which % 2 * 4) & 0xf;
}

/* The connection of entry @e of a list of kind @which, NULL if stale */
static ChimneyConn *chimney_conn_list_entry(ChimneyState *s, uint32_t e,
                                            int which)
{
    uint32_t index = (e & MAKE_64BIT_MASK(0, CHIMNEY_LINK_BITS)) - 1;
    ChimneyConn *conn = index < s->max_conns ? s->offload.conns[index] :
                                               NULL;

    if (!conn || !chimney_conn_on_list(conn, which) ||
        chimney_conn_list_gen(conn, which) != e >> CHIMNEY_LINK_BITS) {
        return NULL;
    }
    return conn;
}

/* Room for one more entry: the stale ones go first, then it grows */
static void chimney_conn_list_room(ChimneyState *s, ChimneyConnList *l,
                                   int which)
{
    uint32_t kept = 0;
    uint32_t *ent;

    if (l->count < l->cap) {
        return;
    }
    for (uint32_t i = 0; i < l->count; i++) {
        uint32_t e = l->ent[(l->head + i) % l->cap];

        if (chimney_conn_list_entry(s, e, which)) {
            l->ent[(l->head + kept++) % l->cap] = e;
        }
    }
    l->count = kept;
    if (kept <= l->cap / 2 && l->cap) {
        return;
    }
    /* at least half full: twice the room, from its head */
    ent = g_new(uint32_t, MAX(l->cap * 2, 16));
    for (uint32_t i = 0; i < l->count; i++) {
        ent[i] = l->ent[(l->head + i) % l->cap];
    }
    g_free(l->ent);
    l->ent = ent;
    l->head = 0;
    l->cap = MAX(l->cap * 2, 16);
}

static void chimney_conn_list_free(ChimneyConnList *l)
{
    g_free(l->ent);
    *l = (ChimneyConnList) { 0 };
}

void chimney_conn_list_append(ChimneyState *s, ChimneyConnList *l,
                              ChimneyConn *conn, int which)
{
    unsigned gen = (chimney_conn_list_gen(conn, which) + 1) & 0xf;
    uint8_t *g = &conn->list_gen[which / 2];

    QEMU_BUILD_BUG_ON(CHIMNEY_MAX_CONNS_LIMIT >= 1u << CHIMNEY_LINK_BITS);
    *g = (*g & ~(0xf << (which % 2 * 4))) | gen << (which % 2 * 4);
    chimney_conn_list_room(s, l, which);
    l->ent[(l->head + l->count++) % l->cap] =
        (conn->index + 1) | gen << CHIMNEY_LINK_BITS;
}

ChimneyConn *chimney_conn_list_pop(ChimneyState *s, ChimneyConnList *l,
                                   int which)
{
    ChimneyConn *conn = NULL;

    while (!conn && l->count) {
        conn = chimney_conn_list_entry(s, l->ent[l->head], which);
        l->head = (l->head + 1) % l->cap;
        l->count--;
    }
    if (!l->count) {
        chimney_conn_list_free(l);
    }
    return conn;
}

/*
 * The bottom half takes @conn's queues and sends what it may, once the
 * backend takes frames (chimney_io_work)
 */
void chimney_conn_kick(ChimneyState *s, ChimneyConn *conn)
{
    if (!conn->on_kick_list) {
        conn->on_kick_list = true;
        chimney_conn_list_append(s, &s->offload.kick_list, conn,
                                 CHIMNEY_LINK_KICK);
    }
}

bool chimney_conn_list_empty(ChimneyState *s, ChimneyConnList *l, int which)
{
    while (l->count && !chimney_conn_list_entry(s, l->ent[l->head], which)) {
        l->head = (l->head + 1) % l->cap;
        l->count--;
    }
    if (!l->count) {
        chimney_conn_list_free(l);
    }
    return !l->count;
}

void chimney_conn_lists_clear(ChimneyState *s)
{
    ChimneyOffloadState *o = &s->offload;

    for (int i = 0; i < CHIMNEY_MAX_CQS; i++) {
        chimney_conn_list_free(&o->flush_list[i]);
    }
    chimney_conn_list_free(&o->kick_list);
    chimney_conn_list_free(&o->timer_list);
    chimney_conn_list_free(&o->ind_list);
    chimney_conn_list_free(&o->wait_list);
    chimney_conn_list_free(&o->consequence_list);
}

/*
 * The per-request arrays of a queue exist only while it holds requests,
 * so an idle connection keeps none.  Their size is the queue's, checked
 * and counted against max-sq-entries at OFFLOAD: a doorbell never makes
 * the device allocate more than that.
 */
void chimney_conn_sq_arrays(ChimneyConn *conn)
{
    /* one block: no pointer of the device's own, no second header */
    QEMU_BUILD_BUG_ON(sizeof(ChimneyTcpReq) % __alignof__(ChimneySlot));
    if (!conn->tcp.reqs) {
        conn->tcp.reqs = g_malloc0((sizeof(ChimneyTcpReq) +
                                    sizeof(ChimneySlot)) * conn->sq.size);
    }
}

void chimney_conn_rq_arrays(ChimneyConn *conn)
{
    QEMU_BUILD_BUG_ON(sizeof(ChimneyTcpRecv) % __alignof__(ChimneySlot));
    if (!conn->tcp.recvs && conn->rq.size) {
        conn->tcp.recvs = g_malloc0((sizeof(ChimneyTcpRecv) +
                                     sizeof(ChimneySlot)) * conn->rq.size);
    }
}

/* Free the arrays of a queue that drained; never inside the engine */
void chimney_conn_trim(ChimneyConn *conn)
{
    ChimneyTcpConn *c = &conn->tcp;

    if (conn->in_burst || c->in_input || c->batching) {
        return;
    }
    if (c->reqs && !c->count) {
        g_clear_pointer(&c->reqs, g_free);
    }
    if (c->recvs && !c->rcount) {
        g_clear_pointer(&c->recvs, g_free);
    }
}

/* Bytes a connection holds; @queues: its per-request arrays only */
static size_t chimney_conn_bytes_one(const ChimneyConn *conn, bool queues)
{
    size_t n = 0;

    if (conn->tcp.reqs) {
        n += (sizeof(ChimneySlot) + sizeof(ChimneyTcpReq)) * conn->sq.size;
    }
    if (conn->tcp.recvs) {
        n += (sizeof(ChimneySlot) + sizeof(ChimneyTcpRecv)) * conn->rq.size;
    }
    if (queues) {
        return n;
    }
    n += sizeof(*conn);
    n += conn->pend ? sizeof(ChimneyPending) * chimney_conn_pend_cap(conn)
                    : 0;
    n += conn->tcp.rbuf ? conn->tcp.rbuf_cap : 0;
    n += conn->tcp.ooo ? sizeof(ChimneyTcpRange) * CHIMNEY_TCP_OOO_MAX : 0;
    n += conn->tcp.rare ? sizeof(ChimneyTcpRare) : 0;
    return n;
}

uint64_t chimney_conn_bytes(ChimneyState *s, bool queues)
{
    uint64_t n = 0;

    for (uint32_t i = 0; s->offload.conns && i < s->max_conns; i++) {
        if (s->offload.conns[i]) {
            n += chimney_conn_bytes_one(s->offload.conns[i], queues);
        }
    }
    /* the work lists' entries (none while they are empty) */
    for (int i = 0; !queues && i < CHIMNEY_MAX_CQS; i++) {
        n += s->offload.flush_list[i].cap * sizeof(uint32_t);
    }
    if (!queues) {
        n += (s->offload.kick_list.cap + s->offload.timer_list.cap +
              s->offload.ind_list.cap + s->offload.wait_list.cap +
              s->offload.consequence_list.cap) * sizeof(uint32_t);
    }
    /* the route of a path, once for all of its connections */
    for (uint32_t i = 0; !queues && s->offload.paths && i < s->max_paths;
         i++) {
        if (s->offload.paths[i].refs) {
            n += sizeof(ChimneyTcpRoute);
        }
    }
    return n;
}

/* The memory of a connection that is in no table (any more) */
void chimney_conn_destroy(ChimneyConn *conn)
{
    chimney_tcp_conn_destroy(&conn->tcp);
    g_free(conn->tcp.reqs);
    g_free(conn->tcp.recvs);
    g_free(conn->pend);
    g_free(conn);
}

static void chimney_conn_free(ChimneyState *s, ChimneyConn *conn)
{
    ChimneyOffloadState *o = &s->offload;

    /* Its work-list entries go stale with it (chimney_conn_list_entry) */
    /*
     * A terminated connection left the classifier at TERMINATE; its
     * 4-tuple may belong to a newer connection by now.
     */
    if (g_hash_table_lookup(o->by_key, &conn->tcp) == conn) {
        g_hash_table_remove(o->by_key, &conn->tcp);
    }
    o->paths[conn->path].refs--;
    o->sq_entries_used -= conn->sq.size + conn->rq.size;
    o->conns[conn->index] = NULL;
    o->num_objects--;
    chimney_timer_cancel(&o->timers, &conn->timer);
    chimney_conn_destroy(conn);
}

/* A terminated connection goes once its last completion is in its CQ. */
void chimney_conn_release(ChimneyConn *conn)
{
    if (conn->terminated && !conn->pend_count) {
        trace_chimney_conn_released(conn->index);
        chimney_conn_free(chimney_conn_dev(conn), conn);
    }
}

void chimney_conn_table_init(ChimneyState *s)
{
    ChimneyOffloadState *o = &s->offload;

    o->neighbors = g_new0(ChimneyNeighbor, s->max_neighbors);
    o->paths = g_new0(ChimneyPath, s->max_paths);
    o->conns = g_new0(ChimneyConn *, s->max_conns);
    o->by_key = g_hash_table_new(chimney_conn_key_hash,
                                 chimney_conn_key_equal);
    o->tcp = g_new0(ChimneyTcpStack, 1);
    chimney_timer_init(&o->timers);
    o->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, chimney_conn_timer_cb, s);
    o->timer_ns = -1;
    /* the work lists start empty: all zeroes */
    o->rx_frames = g_malloc(CHIMNEY_CONN_RX_SLOTS * CHIMNEY_L2_MAX_FRAME);
}

void chimney_conn_table_reset(ChimneyState *s)
{
    ChimneyOffloadState *o = &s->offload;

    for (uint32_t i = 0; i < s->max_conns; i++) {
        if (o->conns[i]) {
            chimney_conn_free(s, o->conns[i]);
        }
    }
    chimney_conn_lists_clear(s);
    chimney_timer_clear(&o->timers);
    timer_del(o->timer);
    o->timer_ns = -1;
    for (uint32_t i = 0; i < s->max_paths; i++) {
        g_free(o->paths[i].route);
    }
    memset(o->neighbors, 0, sizeof(*o->neighbors) * s->max_neighbors);
    memset(o->paths, 0, sizeof(*o->paths) * s->max_paths);
    o->num_objects = 0;
    o->sq_entries_used = 0;
    o->rx_head = 0;
    o->rx_count = 0;
}

void chimney_conn_table_exit(ChimneyState *s)
{
    ChimneyOffloadState *o = &s->offload;

    chimney_conn_table_reset(s);
    g_hash_table_destroy(o->by_key);
    g_free(o->neighbors);
    g_free(o->paths);
    g_free(o->conns);
    g_free(o->tcp);
    g_free(o->rx_frames);
    chimney_timer_destroy(&o->timers);
    timer_free(o->timer);
}

bool chimney_conn_cq_in_use(ChimneyState *s, uint32_t cq)
{
    for (uint32_t i = 0; i < s->max_conns; i++) {
        ChimneyConn *conn = s->offload.conns[i];

        if (conn && chimney_conn_cq(conn) == cq) {
            return true;
        }
    }
    return false;
}

/* Is any 4-tuple offloaded, so that frames need classifying? */
bool chimney_conn_any(ChimneyState *s)
{
    return g_hash_table_size(s->offload.by_key) > 0;
}

/* The live connection named by @id, with its status when there is none. */
ChimneyConn *chimney_conn_lookup(ChimneyState *s, uint32_t id,
                                 uint8_t *status)
{
    uint32_t index = CHIMNEY_CONN_INDEX(id);
    ChimneyConn *conn;

    if (index >= s->max_conns || (id & 0x00f00000) ||
        !s->offload.conns[index]) {
        *status = CHIMNEY_ST_INVALID_ID;
        return NULL;
    }
    conn = s->offload.conns[index];
    if (conn->gen != CHIMNEY_CONN_GEN(id)) {
        *status = CHIMNEY_ST_STALE_GENERATION;
        return NULL;
    }
    if (conn->terminated) {
        /* the id is gone once TERMINATE ran, its completions still out */
        *status = CHIMNEY_ST_INVALID_ID;
        return NULL;
    }
    return conn;
}

/* One line of TCP counters per offloaded connection */
char *chimney_conn_stats(ChimneyState *s)
{
    GString *out = g_string_new("");

    for (uint32_t i = 0; i < s->max_conns; i++) {
        ChimneyConn *conn = s->offload.conns[i];
        ChimneyTcpConn *c;
        const ChimneyTcpRare *r;

        if (!conn) {
            continue;
        }
        c = &conn->tcp;
        r = chimney_tcp_rare_get(c);
        g_string_append_printf(out, "%u: state=%u segs_out=%" PRIu64
                               " segs_in=%" PRIu64 " bytes_acked=%" PRIu64
                               " retransmits=%u timeouts=%u"
                               " fast_retransmits=%u dup_acks=%u probes=%u"
                               " bytes_rcvd=%" PRIu64 " bytes_delivered=%"
                               PRIu64 " bytes_indicated=%" PRIu64
                               " ooo_segs=%u dup_segs=%u acks_delayed=%u"
                               " ka_probes=%u challenge_acks=%u held=%u"
                               " rcv_wnd=%u\n", i,
                               c->st.state,
                               chimney_tcp_ctr(c, CHIMNEY_TCP_SEGS_OUT),
                               chimney_tcp_ctr(c, CHIMNEY_TCP_SEGS_IN),
                               chimney_tcp_ctr(c, CHIMNEY_TCP_BYTES_ACKED),
                               r->retransmits, r->timeouts,
                               r->fast_retransmits, r->dup_acks,
                               r->probes_sent,
                               chimney_tcp_ctr(c, CHIMNEY_TCP_BYTES_RCVD),
                               chimney_tcp_ctr(c, CHIMNEY_TCP_BYTES_DELIVERED),
                               chimney_tcp_ctr(c, CHIMNEY_TCP_BYTES_INDICATED),
                               r->ooo_segs, r->dup_segs, c->acks_delayed,
                               r->ka_probes_sent, r->challenge_acks, c->held,
                               c->st.rcv_wnd);
    }
    return g_string_free(out, false);
}
