/*
 * chimney-nic: offloaded objects and their send and receive queues
 *
 * The admin commands OFFLOAD / UPDATE / QUERY / INVALIDATE / TERMINATE /
 * FORWARD build, run and tear down the chimney state tree: neighbors,
 * paths and TCP connections.  Each connection has a send queue and a
 * receive queue in guest memory whose requests feed the TCP engine
 * (chimney-tcp.c, chimney-tcp-rx.c); data with no receive posted goes to
 * the shared generic-buffer queue as indications.  Every completion of
 * the connection (sends, disconnects, receives, indications, events, its
 * commands) goes through one FIFO to its CQ, so they reach the driver in
 * causal order and a full CQ only delays them.  Frames of offloaded
 * 4-tuples are steered here by the receive classifier.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "migration/blocker.h"
#include "hw/net/chimney/chimney.h"
#include "hw/net/chimney/chimney-offload.h"
#include "trace.h"

/* Extra room in a connection's completion FIFO beyond one per SQ entry */
#define CHIMNEY_PEND_EXTRA  8

static uint64_t chimney_conn_key(uint32_t remote_ip, uint16_t remote_port,
                                 uint16_t local_port)
{
    return (uint64_t)remote_ip << 32 | (uint32_t)remote_port << 16 |
           local_port;
}

static uint32_t chimney_conn_id(ChimneyConn *conn)
{
    return CHIMNEY_CONN_ID(conn->index, conn->gen);
}

static void chimney_tcp_event(void *opaque, ChimneyTcpConn *c, int event,
                              uint32_t info);
static void chimney_sq_process(ChimneyConn *conn);
static void chimney_rq_process(ChimneyConn *conn);

/* --- completions, in order, through the connection's FIFO --- */

bool chimney_conn_can_push(ChimneyConn *conn)
{
    return conn->pend_count < conn->pend_cap;
}

void chimney_conn_flush(ChimneyConn *conn)
{
    ChimneyState *s = conn->dev;

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
                QTAILQ_INSERT_TAIL(&s->wait_list, conn, wait_link);
            }
            break;
        }
        if (!chimney_cq_post_flags(s, conn->cq, &cqe,
                                   pe->irq ? CHIMNEY_POST_NO_IRQ : 0)) {
            break;      /* full: the CQ head doorbell brings us back */
        }
        chimney_fault_posted(s, conn, pe);
        conn->pend_head = (conn->pend_head + 1) % conn->pend_cap;
        conn->pend_count--;
    }
    conn->flushing = false;
    if (conn->pend_count && !conn->on_flush_list && !conn->on_wait_list) {
        conn->on_flush_list = true;
        QTAILQ_INSERT_TAIL(&s->flush_list[conn->cq], conn, flush_link);
    } else if (!conn->pend_count && conn->on_flush_list) {
        conn->on_flush_list = false;
        QTAILQ_REMOVE(&s->flush_list[conn->cq], conn, flush_link);
    }
}

bool chimney_conn_push(ChimneyConn *conn, const ChimneyPending *pe)
{
    ChimneyPending *slot;

    if (!chimney_conn_can_push(conn)) {
        /* Cannot happen: the FIFO has a place for every SQ entry. */
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: connection %u has too "
                      "many completions pending\n", conn->index);
        return false;
    }
    slot = &conn->pend[(conn->pend_head + conn->pend_count) % conn->pend_cap];
    *slot = *pe;
    chimney_fault_decide(conn->dev, conn, slot);
    conn->pend_count++;
    if (!conn->flushing) {
        chimney_conn_flush(conn);
    }
    return true;
}

/* An injected failure acts on the connection as a real one would. */
void chimney_conn_fault_consequence(ChimneyConn *conn)
{
    switch (conn->fault_status) {
    case CHIMNEY_ST_REQUEST_ABORTED:
        chimney_tcp_reset(&conn->tcp);
        break;
    case CHIMNEY_ST_UPLOAD_IN_PROGRESS:
        chimney_tcp_freeze(&conn->tcp);
        chimney_tcp_event(conn->dev, &conn->tcp,
                          CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                          CHIMNEY_UPLOAD_REQUESTED);
        break;
    default:
        chimney_tcp_freeze(&conn->tcp);
        chimney_tcp_event(conn->dev, &conn->tcp,
                          CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                          CHIMNEY_UPLOAD_HW_FAILURE);
        break;
    }
}

/* --- the engine's view of the device --- */

static int64_t chimney_tcp_now(void *opaque)
{
    return qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
}

static void chimney_tcp_timer_mod(void *opaque, ChimneyTcpConn *c,
                                  int64_t expire)
{
    ChimneyConn *conn = c->owner;

    if (expire < 0) {
        timer_del(conn->timer);
    } else {
        timer_mod(conn->timer, expire);
    }
}

/*
 * Move @len bytes at @off of a request's data between @buf and its SGL.
 * The slot remembers where the previous transfer ended, so streaming a
 * request reads each SGL entry once.
 */
static bool chimney_sgl_xfer(ChimneyState *s, ChimneySlot *sl, uint32_t off,
                             uint8_t *buf, uint32_t len, bool to_guest)
{
    if (off < sl->cur_off) {
        sl->cur_sge = 0;
        sl->cur_off = 0;
        sl->cur_len = 0;
    }
    while (len) {
        uint32_t n;
        bool ok;

        if (!sl->cur_len || off >= sl->cur_off + sl->cur_len) {
            ChimneySge sge;

            if (sl->cur_len) {
                sl->cur_off += sl->cur_len;
                sl->cur_sge++;
                sl->cur_len = 0;
            }
            if (sl->cur_sge >= sl->nsge ||
                !chimney_dma_read(s, sl->sgl + sl->cur_sge * sizeof(sge),
                                  &sge, sizeof(sge))) {
                return false;
            }
            sl->cur_addr = le64_to_cpu(sge.addr);
            sl->cur_len = le32_to_cpu(sge.len);
            if (!sl->cur_len) {
                return false;
            }
            continue;
        }
        n = MIN(len, sl->cur_off + sl->cur_len - off);
        ok = to_guest ?
             chimney_dma_write(s, sl->cur_addr + (off - sl->cur_off), buf, n) :
             chimney_dma_read(s, sl->cur_addr + (off - sl->cur_off), buf, n);
        if (!ok) {
            return false;
        }
        buf += n;
        off += n;
        len -= n;
    }
    return true;
}

static bool chimney_tcp_read(void *opaque, ChimneyTcpConn *c,
                             const ChimneyTcpReq *req, uint32_t off,
                             uint8_t *buf, uint32_t len)
{
    ChimneyConn *conn = c->owner;

    return chimney_sgl_xfer(opaque, &conn->slots[req->tag], off, buf, len,
                            false);
}

static bool chimney_tcp_write(void *opaque, ChimneyTcpConn *c,
                              const ChimneyTcpRecv *rcv, uint32_t off,
                              const uint8_t *buf, uint32_t len)
{
    ChimneyConn *conn = c->owner;

    return chimney_sgl_xfer(opaque, &conn->rslots[rcv->tag], off,
                            (uint8_t *)buf, len, true);
}

static void chimney_tcp_emit(void *opaque, ChimneyTcpConn *c,
                             const uint8_t *frame, size_t len)
{
    ChimneyState *s = opaque;

    trace_chimney_tcp_segment(((ChimneyConn *)c->owner)->index, len);
    qemu_send_packet(qemu_get_queue(s->nic), frame, len);
}

static uint8_t chimney_tcp_status(int status)
{
    switch (status) {
    case CHIMNEY_TCP_OK:
        return CHIMNEY_ST_SUCCESS;
    case CHIMNEY_TCP_ABORTED:
        return CHIMNEY_ST_REQUEST_ABORTED;
    case CHIMNEY_TCP_INVALID_STATE:
        return CHIMNEY_ST_INVALID_STATE;
    case CHIMNEY_TCP_DMA_ERROR:
        return CHIMNEY_ST_DMA_ERROR;
    default:
        return CHIMNEY_ST_UPLOAD_IN_PROGRESS;
    }
}

static void chimney_tcp_complete(void *opaque, ChimneyTcpConn *c,
                                 const ChimneyTcpReq *req, int status,
                                 uint32_t bytes)
{
    ChimneyConn *conn = c->owner;
    ChimneySlot *sl = &conn->slots[req->tag];
    ChimneyPending pe = {
        .cookie = req->cookie,
        .bytes = bytes,
        .sq_head = (req->tag + 1) & (conn->sq.size - 1),
        .type = req->type == CHIMNEY_TCP_REQ_DISCONNECT ?
                CHIMNEY_CQE_DISCONNECT : CHIMNEY_CQE_SEND,
        .status = chimney_tcp_status(status),
        .queue = CHIMNEY_QUEUE_CONN_SQ,
    };

    /* A request refused at fetch time keeps its own error */
    if (sl->status != CHIMNEY_ST_SUCCESS && status == CHIMNEY_TCP_OK) {
        pe.status = sl->status;
    }
    trace_chimney_tcp_complete(conn->index, req->cookie, pe.status, bytes);
    chimney_conn_push(conn, &pe);
}

static void chimney_tcp_recv_complete(void *opaque, ChimneyTcpConn *c,
                                      const ChimneyTcpRecv *rcv, int status)
{
    ChimneyConn *conn = c->owner;
    ChimneySlot *sl = &conn->rslots[rcv->tag];
    ChimneyPending pe = {
        .cookie = rcv->cookie,
        .bytes = rcv->filled,
        .sq_head = conn->rq.head,
        .type = CHIMNEY_CQE_RECV,
        .status = chimney_tcp_status(status),
        .queue = CHIMNEY_QUEUE_CONN_RQ,
    };

    /* An entry refused at fetch time keeps its own error */
    if (sl->status != CHIMNEY_ST_SUCCESS && status == CHIMNEY_TCP_OK) {
        pe.status = sl->status;
    }
    trace_chimney_tcp_recv_complete(conn->index, rcv->cookie, pe.status,
                                    rcv->filled);
    chimney_conn_push(conn, &pe);
}

static void chimney_ind_wait(ChimneyConn *conn)
{
    if (!conn->on_ind_list) {
        conn->on_ind_list = true;
        QTAILQ_INSERT_TAIL(&conn->dev->ind_list, conn, ind_link);
    }
}

/*
 * No receive is posted: copy what we can into the next generic buffer and
 * tell the driver on the connection's CQ.  Returns the bytes offered.
 */
static uint32_t chimney_tcp_indicate(void *opaque, ChimneyTcpConn *c,
                                     const uint8_t *data, uint32_t len,
                                     uint32_t seq)
{
    ChimneyState *s = opaque;
    ChimneyConn *conn = c->owner;
    ChimneyRing *q = &s->ind_q;

    if (!conn->rq.size) {
        /* Nobody could answer an indication: the host takes the data */
        if (!conn->rq_upload_asked) {
            conn->rq_upload_asked = true;
            chimney_tcp_event(s, c, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                              CHIMNEY_UPLOAD_REQUESTED);
        }
        return 0;
    }
    while (q->size && !chimney_ring_empty(q) && chimney_running(s) &&
           chimney_conn_can_push(conn)) {
        uint32_t idx = q->head;
        ChimneyL2RxDesc d;
        ChimneyPending pe = {
            .type = CHIMNEY_CQE_INDICATE,
            .queue = CHIMNEY_QUEUE_INDICATE,
            .aux = seq,
        };
        uint32_t n;

        if (!chimney_dma_read(s, chimney_ring_entry(q, idx, sizeof(d)), &d,
                              sizeof(d))) {
            chimney_fatal(s, CHIMNEY_FATAL_QUEUE_DMA, CHIMNEY_DB_IND_TAIL);
            return 0;
        }
        q->head = chimney_ring_next(q, idx);
        pe.sq_head = q->head;
        pe.cookie = le64_to_cpu(d.cookie);
        n = MIN(len, le32_to_cpu(d.len));
        if (!n) {
            qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: generic buffer %u "
                          "has no room\n", idx);
            pe.status = CHIMNEY_ST_BAD_DESCRIPTOR;
        } else if (!chimney_dma_write(s, le64_to_cpu(d.addr), data, n)) {
            pe.status = CHIMNEY_ST_DMA_ERROR;
        } else {
            pe.bytes = n;
        }
        chimney_conn_push(conn, &pe);
        if (pe.bytes) {
            s->stat_indications++;
            trace_chimney_tcp_indicate(conn->index, seq, n);
            return n;
        }
    }
    /* None now: the generic-buffer doorbell brings it back */
    chimney_ind_wait(conn);
    return 0;
}

static void chimney_tcp_event(void *opaque, ChimneyTcpConn *c, int event,
                              uint32_t info)
{
    ChimneyConn *conn = c->owner;
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
    trace_chimney_tcp_event(conn->index, pe.aux, info);
    chimney_conn_push(conn, &pe);
}

static void chimney_tcp_note(void *opaque, ChimneyTcpConn *c, int what,
                             uint32_t a, uint32_t b)
{
    uint32_t index = ((ChimneyConn *)c->owner)->index;

    switch (what) {
    case CHIMNEY_TCP_NOTE_STATE:
        trace_chimney_tcp_state(index, a, b);
        break;
    case CHIMNEY_TCP_NOTE_REXMIT:
        trace_chimney_tcp_rexmit(index, a, b);
        break;
    default:
        trace_chimney_tcp_timeout(index, a, b);
        break;
    }
}

static const ChimneyTcpOps chimney_tcp_ops = {
    .now_ns = chimney_tcp_now,
    .timer_mod = chimney_tcp_timer_mod,
    .read_data = chimney_tcp_read,
    .emit = chimney_tcp_emit,
    .complete = chimney_tcp_complete,
    .event = chimney_tcp_event,
    .note = chimney_tcp_note,
    .write_data = chimney_tcp_write,
    .recv_complete = chimney_tcp_recv_complete,
    .indicate = chimney_tcp_indicate,
};

/* Timers only queue work; it runs in the guarded bottom half. */
static void chimney_conn_timer_cb(void *opaque)
{
    ChimneyConn *conn = opaque;
    ChimneyState *s = conn->dev;

    if (!conn->on_timer_list) {
        conn->on_timer_list = true;
        QTAILQ_INSERT_TAIL(&s->timer_list, conn, timer_link);
    }
    qemu_bh_schedule(s->bh);
}

/* --- object tables --- */

static void chimney_update_blocker(ChimneyState *s)
{
    bool busy = s->num_objects > 0;

    if (busy && !s->migration_blocker) {
        error_setg(&s->migration_blocker, "chimney-nic: offloaded TCP "
                   "connections cannot be migrated; terminate them first");
        migrate_add_blocker(&s->migration_blocker, &error_warn);
    } else if (!busy && s->migration_blocker) {
        migrate_del_blocker(&s->migration_blocker);
    }
}

static void chimney_conn_release_memory(ChimneyConn *conn)
{
    chimney_tcp_conn_destroy(&conn->tcp);
    g_free(conn->slots);
    g_free(conn->reqs);
    g_free(conn->rslots);
    g_free(conn->recvs);
    g_free(conn->pend);
    g_free(conn);
}

static void chimney_conn_free(ChimneyState *s, ChimneyConn *conn)
{
    if (conn->on_flush_list) {
        QTAILQ_REMOVE(&s->flush_list[conn->cq], conn, flush_link);
    }
    if (conn->on_kick_list) {
        QTAILQ_REMOVE(&s->kick_list, conn, kick_link);
    }
    if (conn->on_timer_list) {
        QTAILQ_REMOVE(&s->timer_list, conn, timer_link);
    }
    if (conn->on_wait_list) {
        QTAILQ_REMOVE(&s->wait_list, conn, wait_link);
    }
    if (conn->on_ind_list) {
        QTAILQ_REMOVE(&s->ind_list, conn, ind_link);
    }
    g_hash_table_remove(s->conn_by_key, &conn->key);
    s->paths[conn->path].refs--;
    s->sq_entries_used -= conn->sq.size + conn->rq.size;
    s->conns[conn->index] = NULL;
    s->num_objects--;
    timer_free(conn->timer);
    chimney_conn_release_memory(conn);
}

/* A terminated connection goes once its last completion is in its CQ. */
void chimney_conn_release(ChimneyConn *conn)
{
    if (conn->terminated && !conn->pend_count) {
        trace_chimney_tcp_released(conn->index);
        chimney_conn_free(conn->dev, conn);
    }
}

void chimney_offload_init(ChimneyState *s)
{
    s->neighbors = g_new0(ChimneyNeighbor, s->max_neighbors);
    s->paths = g_new0(ChimneyPath, s->max_paths);
    s->conns = g_new0(ChimneyConn *, s->max_conns);
    s->conn_by_key = g_hash_table_new(g_int64_hash, g_int64_equal);
    s->tcp = g_new0(ChimneyTcpStack, 1);
    chimney_tcp_stack_init(s->tcp, &chimney_tcp_ops, s);
    for (int i = 0; i < CHIMNEY_MAX_CQS; i++) {
        QTAILQ_INIT(&s->flush_list[i]);
    }
    QTAILQ_INIT(&s->kick_list);
    QTAILQ_INIT(&s->timer_list);
    QTAILQ_INIT(&s->ind_list);
    s->tcp_rx_frames = g_malloc(CHIMNEY_TCP_RX_SLOTS * CHIMNEY_L2_MAX_FRAME);
}

void chimney_offload_reset(ChimneyState *s)
{
    for (uint32_t i = 0; i < s->max_conns; i++) {
        if (s->conns[i]) {
            chimney_conn_free(s, s->conns[i]);
        }
    }
    memset(s->neighbors, 0, sizeof(*s->neighbors) * s->max_neighbors);
    memset(s->paths, 0, sizeof(*s->paths) * s->max_paths);
    s->num_objects = 0;
    s->sq_entries_used = 0;
    s->tcp_rx_head = 0;
    s->tcp_rx_count = 0;
    chimney_update_blocker(s);
    chimney_tcp_stack_init(s->tcp, &chimney_tcp_ops, s);
}

void chimney_offload_exit(ChimneyState *s)
{
    chimney_offload_reset(s);
    g_hash_table_destroy(s->conn_by_key);
    g_free(s->neighbors);
    g_free(s->paths);
    g_free(s->conns);
    g_free(s->tcp);
    g_free(s->tcp_rx_frames);
}

void chimney_offload_set_params(ChimneyState *s)
{
    s->tcp->tick_ns = NANOSECONDS_PER_SECOND /
                      s->params[CHIMNEY_PARAM_TICKS_PER_SECOND];
    s->tcp->dup_ack_thresh = s->params[CHIMNEY_PARAM_DUP_ACK_THRESH];
    s->tcp->max_retransmit = s->params[CHIMNEY_PARAM_MAX_RETRANSMIT];
    s->tcp->ack_frequency = s->params[CHIMNEY_PARAM_ACK_FREQUENCY];
    s->tcp->delack_ns = s->params[CHIMNEY_PARAM_DELAYED_ACK_TICKS] *
                        s->tcp->tick_ns;
    /* Windows' default push time when the host gives none */
    s->tcp->push_ns = s->params[CHIMNEY_PARAM_PUSH_TICKS] ?
                      s->params[CHIMNEY_PARAM_PUSH_TICKS] * s->tcp->tick_ns :
                      500 * SCALE_MS;
}

bool chimney_offload_cq_in_use(ChimneyState *s, uint32_t cq)
{
    for (uint32_t i = 0; i < s->max_conns; i++) {
        if (s->conns[i] && s->conns[i]->cq == cq) {
            return true;
        }
    }
    return false;
}

bool chimney_offload_active(ChimneyState *s)
{
    return g_hash_table_size(s->conn_by_key) > 0;
}

/* The live connection named by @id, with its status when there is none. */
static ChimneyConn *chimney_conn_lookup(ChimneyState *s, uint32_t id,
                                        uint8_t *status)
{
    uint32_t index = CHIMNEY_CONN_INDEX(id);
    ChimneyConn *conn;

    if (index >= s->max_conns || (id & 0x00f00000) || !s->conns[index]) {
        *status = CHIMNEY_ST_INVALID_ID;
        return NULL;
    }
    conn = s->conns[index];
    if (conn->gen != CHIMNEY_CONN_GEN(id)) {
        *status = CHIMNEY_ST_STALE_GENERATION;
        return NULL;
    }
    return conn;
}

/* --- commands --- */

static uint8_t chimney_offload_neighbor(ChimneyState *s, uint32_t id,
                                        uint64_t addr)
{
    ChimneyNeighborState st;
    ChimneyNeighbor *n;

    if (id >= s->max_neighbors || s->neighbors[id].valid) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: neighbor %u unusable\n",
                      id);
        return id >= s->max_neighbors ? CHIMNEY_ST_INVALID_ID :
                                        CHIMNEY_ST_INVALID_STATE;
    }
    if (!chimney_dma_read(s, addr, &st, sizeof(st))) {
        return CHIMNEY_ST_DMA_ERROR;
    }
    if (le16_to_cpu(st.vlan_id) > 4094) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: VLAN %u\n",
                      le16_to_cpu(st.vlan_id));
        return CHIMNEY_ST_INVALID_PARAM;
    }
    n = &s->neighbors[id];
    *n = (ChimneyNeighbor) { .valid = true, .vlan = le16_to_cpu(st.vlan_id) };
    memcpy(n->src_mac, st.src_mac, 6);
    memcpy(n->dst_mac, st.dst_mac, 6);
    s->num_objects++;
    chimney_update_blocker(s);
    return CHIMNEY_ST_SUCCESS;
}

static uint8_t chimney_offload_path(ChimneyState *s, uint32_t id,
                                    uint64_t addr)
{
    ChimneyPathState st;
    uint32_t nb, mtu;

    if (id >= s->max_paths) {
        return CHIMNEY_ST_INVALID_ID;
    }
    if (s->paths[id].valid) {
        return CHIMNEY_ST_INVALID_STATE;
    }
    if (!chimney_dma_read(s, addr, &st, sizeof(st))) {
        return CHIMNEY_ST_DMA_ERROR;
    }
    nb = le32_to_cpu(st.neighbor);
    mtu = le32_to_cpu(st.path_mtu);
    if (nb >= s->max_neighbors || !s->neighbors[nb].valid ||
        mtu < 68 || mtu > 9000) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: path %u: neighbor %u "
                      "MTU %u refused\n", id, nb, mtu);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    s->paths[id] = (ChimneyPath) { .valid = true, .neighbor = nb, .mtu = mtu };
    memcpy(&s->paths[id].src_ip, st.src_ip, 4);
    memcpy(&s->paths[id].dst_ip, st.dst_ip, 4);
    s->neighbors[nb].refs++;
    s->num_objects++;
    chimney_update_blocker(s);
    return CHIMNEY_ST_SUCCESS;
}

static void chimney_delegated_to_le(ChimneyTcpDelegated *d,
                                    const ChimneyTcpState *st, uint32_t head,
                                    uint32_t held)
{
    *d = (ChimneyTcpDelegated) {
        .state = cpu_to_le32(st->state),
        .rcv_nxt = cpu_to_le32(st->rcv_nxt),
        .rcv_wnd = cpu_to_le32(st->rcv_wnd),
        .snd_una = cpu_to_le32(st->snd_una),
        .snd_nxt = cpu_to_le32(st->snd_nxt),
        .snd_max = cpu_to_le32(st->snd_max),
        .snd_wnd = cpu_to_le32(st->snd_wnd),
        .max_snd_wnd = cpu_to_le32(st->max_snd_wnd),
        .snd_wl1 = cpu_to_le32(st->snd_wl1),
        .cwnd = cpu_to_le32(st->cwnd),
        .ssthresh = cpu_to_le32(st->ssthresh),
        .srtt = cpu_to_le16(st->srtt_x8),
        .rttvar = cpu_to_le16(st->rttvar_x4),
        .ts_recent = cpu_to_le32(st->ts_recent),
        .ts_recent_age = cpu_to_le32(st->ts_recent_age),
        .ts_time = cpu_to_le32(st->ts_time),
        .total_rt = cpu_to_le32(st->total_rt),
        .dup_ack_count = st->dup_ack_count,
        .snd_wnd_probe_count = st->snd_wnd_probe_count,
        .rexmit_count = st->rexmit_count,
        .ka_probe_count = st->ka_probes,
        .ka_timeout_delta = cpu_to_le32(st->ka_delta),
        .rexmit_timeout_delta = cpu_to_le32(st->rexmit_delta),
        .send_backlog = cpu_to_le32(0xffffffff),
        .sq_head = cpu_to_le32(head),
        .rcv_held = cpu_to_le32(held),
    };
}

/* The TCP block: everything but the engine's own fields, checked. */
static uint8_t chimney_tcp_block(ChimneyState *s, const ChimneyTcpOffload *o,
                                 ChimneyTcpState *st)
{
    const ChimneyTcpDelegated *d = &o->delegated;
    uint16_t cflags = le16_to_cpu(o->const_flags);
    uint32_t path = le32_to_cpu(o->path);
    const ChimneyPath *p;
    const ChimneyNeighbor *n;
    const char *why;

    if (path >= s->max_paths || !s->paths[path].valid ||
        s->paths[path].invalidated) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: OFFLOAD_TCP path %u\n",
                      path);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    p = &s->paths[path];
    n = &s->neighbors[p->neighbor];
    *st = (ChimneyTcpState) {
        .vlan = n->vlan,
        .src_ip = p->src_ip,
        .dst_ip = p->dst_ip,
        .path_mtu = p->mtu,
        .local_port = le16_to_cpu(o->local_port),
        .remote_port = le16_to_cpu(o->remote_port),
        .remote_mss = le16_to_cpu(o->remote_mss),
        .snd_wscale = o->snd_wscale,
        .rcv_wscale = o->rcv_wscale,
        .ts_enabled = cflags & CHIMNEY_TCPF_TIMESTAMPS,
        .sack_enabled = cflags & CHIMNEY_TCPF_SACK,
        .wscale_enabled = cflags & CHIMNEY_TCPF_WINDOW_SCALING,
        .ttl = o->ttl ? o->ttl : 128,
        .tos = o->tos,
        .initial_rcv_wnd = le32_to_cpu(o->initial_rcv_wnd),
        .max_rt = le32_to_cpu(o->max_rt),
        .nagle = le16_to_cpu(o->cached_flags) & CHIMNEY_TCPC_NAGLE,
        .keepalive = le16_to_cpu(o->cached_flags) & CHIMNEY_TCPC_KEEPALIVE,
        .ka_timeout = le32_to_cpu(o->ka_timeout),
        .ka_interval = le32_to_cpu(o->ka_interval),
        .ka_probe_count = o->ka_probe_count,
        .rcv_indication_size = le32_to_cpu(o->rcv_indication_size),
        .state = le32_to_cpu(d->state),
        .rcv_nxt = le32_to_cpu(d->rcv_nxt),
        .rcv_wnd = le32_to_cpu(d->rcv_wnd),
        .snd_una = le32_to_cpu(d->snd_una),
        .snd_nxt = le32_to_cpu(d->snd_nxt),
        .snd_max = le32_to_cpu(d->snd_max),
        .snd_wnd = le32_to_cpu(d->snd_wnd),
        .max_snd_wnd = le32_to_cpu(d->max_snd_wnd),
        .snd_wl1 = le32_to_cpu(d->snd_wl1),
        .cwnd = le32_to_cpu(d->cwnd),
        .ssthresh = le32_to_cpu(d->ssthresh),
        .srtt_x8 = le16_to_cpu(d->srtt),
        .rttvar_x4 = le16_to_cpu(d->rttvar),
        .ts_recent = le32_to_cpu(d->ts_recent),
        .ts_recent_age = le32_to_cpu(d->ts_recent_age),
        .ts_time = le32_to_cpu(d->ts_time),
        .total_rt = le32_to_cpu(d->total_rt),
        .dup_ack_count = d->dup_ack_count,
        .snd_wnd_probe_count = d->snd_wnd_probe_count,
        .rexmit_count = d->rexmit_count,
        .rexmit_delta = le32_to_cpu(d->rexmit_timeout_delta),
        .ka_probes = d->ka_probe_count,
        .ka_delta = le32_to_cpu(d->ka_timeout_delta),
    };
    memcpy(st->src_mac, n->src_mac, 6);
    memcpy(st->dst_mac, n->dst_mac, 6);
    why = chimney_tcp_state_check(st);
    if (why) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: OFFLOAD_TCP: %s\n", why);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    return CHIMNEY_ST_SUCCESS;
}

/*
 * The SGL of a request of @len bytes: every entry readable, non-empty, in
 * guest memory, and their sum @len.  Returns a completion status.
 */
static uint8_t chimney_sgl_check(ChimneyState *s, const ChimneySlot *sl,
                                 uint32_t len, DMADirection dir)
{
    uint32_t sum = 0;

    if (sl->nsge > CHIMNEY_MAX_SGE || !sl->nsge != !len || len > (1u << 30)) {
        return CHIMNEY_ST_BAD_DESCRIPTOR;
    }
    for (uint32_t i = 0; i < sl->nsge; i++) {
        ChimneySge sge;
        uint64_t a;
        uint32_t l;

        if (!chimney_dma_read(s, sl->sgl + i * sizeof(sge), &sge,
                              sizeof(sge))) {
            return CHIMNEY_ST_DMA_ERROR;
        }
        a = le64_to_cpu(sge.addr);
        l = le32_to_cpu(sge.len);
        if (!l || l > len - sum) {
            return CHIMNEY_ST_BAD_DESCRIPTOR;
        }
        if (a + l < a ||
            !dma_memory_valid(pci_get_address_space(PCI_DEVICE(s)), a, l,
                              dir, MEMTXATTRS_UNSPECIFIED)) {
            return CHIMNEY_ST_DMA_ERROR;
        }
        sum += l;
    }
    return sum == len ? CHIMNEY_ST_SUCCESS : CHIMNEY_ST_BAD_DESCRIPTOR;
}

/*
 * Read SQ entry @index and check it.  Returns the request for the engine
 * and, in the slot, what the device needs to read its data later; a
 * request that fails the checks gets a non-zero slot status and no data.
 */
static bool chimney_sq_fetch(ChimneyConn *conn, uint32_t index,
                             ChimneyTcpReq *req)
{
    ChimneyState *s = conn->dev;
    ChimneySlot *sl = &conn->slots[index];
    ChimneySqDesc d;
    uint32_t len, nsge;

    if (!chimney_dma_read(s, chimney_ring_entry(&conn->sq, index, sizeof(d)),
                          &d, sizeof(d))) {
        return false;
    }
    len = le32_to_cpu(d.len);
    nsge = le16_to_cpu(d.nsge);
    *sl = (ChimneySlot) { .sgl = le64_to_cpu(d.sgl), .nsge = nsge };
    *req = (ChimneyTcpReq) {
        .cookie = le64_to_cpu(d.cookie),
        .len = len,
        .tag = index,
        .type = d.type == CHIMNEY_SQ_DISCONNECT ? CHIMNEY_TCP_REQ_DISCONNECT :
                                                  CHIMNEY_TCP_REQ_SEND,
        .flags = ((d.flags & CHIMNEY_SQF_PUSH) ? CHIMNEY_TCP_REQ_PUSH : 0) |
                 ((d.flags & CHIMNEY_SQF_ABORTIVE) ?
                  CHIMNEY_TCP_REQ_ABORTIVE : 0),
    };
    if ((d.type != CHIMNEY_SQ_SEND && d.type != CHIMNEY_SQ_DISCONNECT) ||
        (d.type == CHIMNEY_SQ_SEND && !len) ||
        (d.flags & ~(CHIMNEY_SQF_PUSH | CHIMNEY_SQF_URGENT |
                     CHIMNEY_SQF_ABORTIVE))) {
        sl->status = CHIMNEY_ST_BAD_DESCRIPTOR;
    } else {
        sl->status = chimney_sgl_check(s, sl, len, DMA_DIRECTION_TO_DEVICE);
    }
    if (sl->status) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: connection %u SQ entry "
                      "%u refused (status 0x%x)\n", conn->index, index,
                      sl->status);
        /* It keeps its place in the order, with nothing to send */
        req->len = 0;
        req->type = CHIMNEY_TCP_REQ_SEND;
        req->flags = 0;
        sl->nsge = 0;
    }
    return true;
}

static uint8_t chimney_offload_tcp(ChimneyState *s, uint32_t id,
                                   uint64_t addr)
{
    uint32_t index = CHIMNEY_CONN_INDEX(id);
    ChimneyTcpOffload o;
    ChimneyTcpState st;
    ChimneyConn *conn;
    uint64_t sq_base, dbr, rq_base;
    uint32_t sq_size, cq, handover, end, rq_size, buffered;
    uint8_t status;

    if (!s->params_set) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: OFFLOAD_TCP before "
                      "SET_PARAMS\n");
        return CHIMNEY_ST_INVALID_STATE;
    }
    if (index >= s->max_conns || (id & 0x00f00000)) {
        return CHIMNEY_ST_INVALID_ID;
    }
    if (s->conns[index]) {
        return CHIMNEY_ST_INVALID_STATE;
    }
    if (!chimney_dma_read(s, addr, &o, sizeof(o))) {
        return CHIMNEY_ST_DMA_ERROR;
    }
    status = chimney_tcp_block(s, &o, &st);
    if (status) {
        return status;
    }
    sq_base = le64_to_cpu(o.sq_base);
    sq_size = le32_to_cpu(o.sq_size);
    handover = le32_to_cpu(o.handover);
    dbr = le64_to_cpu(o.db_record);
    cq = le32_to_cpu(o.cq);
    rq_base = le64_to_cpu(o.rq_base);
    rq_size = le32_to_cpu(o.rq_size);
    buffered = le32_to_cpu(o.buffered_len);
    if (!chimney_ring_geometry_valid(sq_base, sq_size, sizeof(ChimneySqDesc)) ||
        handover >= sq_size || !QEMU_IS_ALIGNED(dbr, 4) ||
        (rq_size &&
         !chimney_ring_geometry_valid(rq_base, rq_size,
                                      sizeof(ChimneySqDesc))) ||
        buffered > CHIMNEY_TCP_RCVBUF_MAX ||
        cq == CHIMNEY_ADMIN_CQ_ID || cq >= s->num_cqs || !s->cq[cq].size) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: OFFLOAD_TCP queues "
                      "refused (SQ 0x%" PRIx64 "/%u handover %u RQ 0x%"
                      PRIx64 "/%u buffered %u CQ %u)\n", sq_base, sq_size,
                      handover, rq_base, rq_size, buffered, cq);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    /* Device memory follows the queue sizes: keep their sum bounded */
    if (sq_size + rq_size > s->max_sq_entries - s->sq_entries_used) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: OFFLOAD_TCP: %u queue "
                      "entries over the device's budget (%u of %u used)\n",
                      sq_size + rq_size, s->sq_entries_used,
                      s->max_sq_entries);
        return CHIMNEY_ST_NO_RESOURCES;
    }

    conn = g_new0(ChimneyConn, 1);
    conn->dev = s;
    conn->index = index;
    conn->gen = CHIMNEY_CONN_GEN(id);
    conn->path = le32_to_cpu(o.path);
    conn->cq = cq;
    conn->key = chimney_conn_key(st.dst_ip, st.remote_port, st.local_port);
    conn->sq = (ChimneyRing) { .base = sq_base, .size = sq_size, .cq = cq };
    conn->db_record = dbr;
    conn->slots = g_new0(ChimneySlot, sq_size);
    conn->reqs = g_new0(ChimneyTcpReq, sq_size);
    conn->rq = (ChimneyRing) { .base = rq_base, .size = rq_size, .cq = cq };
    conn->rslots = g_new0(ChimneySlot, rq_size);
    conn->recvs = g_new0(ChimneyTcpRecv, rq_size);
    conn->pend_cap = sq_size + rq_size + CHIMNEY_PEND_EXTRA;
    conn->pend = g_new0(ChimneyPending, conn->pend_cap);
    chimney_tcp_conn_init(&conn->tcp, s->tcp, conn, &st, conn->reqs,
                          sq_size, conn->recvs, rq_size);

    /* The data outstanding at offload: [SndUna, SndMax) must lie in it */
    status = CHIMNEY_ST_SUCCESS;
    end = st.snd_una;
    for (uint32_t i = 0; i < handover; i++) {
        ChimneyTcpReq req;

        if (!chimney_sq_fetch(conn, i, &req)) {
            status = CHIMNEY_ST_DMA_ERROR;
            break;
        }
        if (conn->slots[i].status || req.type != CHIMNEY_TCP_REQ_SEND ||
            !chimney_tcp_handover(&conn->tcp, &req)) {
            status = CHIMNEY_ST_INVALID_PARAM;
            break;
        }
        end += req.len;
    }
    if (!status && !chimney_seq_leq(st.snd_max, end)) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: OFFLOAD_TCP: SndMax "
                      "beyond the handed-over data\n");
        status = CHIMNEY_ST_INVALID_PARAM;
    }
    if (!status && buffered) {
        /* Received data the host buffered: ours before the offload ends */
        g_autofree uint8_t *data = g_malloc(buffered);

        if (!chimney_dma_read(s, le64_to_cpu(o.buffered_addr), data,
                              buffered)) {
            status = CHIMNEY_ST_DMA_ERROR;
        } else if (!chimney_tcp_preload(&conn->tcp, data, buffered)) {
            qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: OFFLOAD_TCP: %u "
                          "buffered bytes exceed the receive buffer\n",
                          buffered);
            status = CHIMNEY_ST_INVALID_PARAM;
        }
    }
    if (!status && g_hash_table_contains(s->conn_by_key, &conn->key)) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: OFFLOAD_TCP: 4-tuple "
                      "already offloaded\n");
        status = CHIMNEY_ST_INVALID_STATE;
    }
    if (status) {
        /* Never touched, never completed: the host keeps those requests */
        chimney_conn_release_memory(conn);
        return status;
    }
    conn->sq.head = handover;
    conn->sq.tail = handover;
    conn->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, chimney_conn_timer_cb,
                               conn);
    s->conns[index] = conn;
    g_hash_table_insert(s->conn_by_key, &conn->key, conn);
    s->paths[conn->path].refs++;
    s->sq_entries_used += sq_size + rq_size;
    s->num_objects++;
    chimney_update_blocker(s);
    trace_chimney_tcp_offload(index, st.local_port, st.remote_port,
                              st.snd_una, handover);
    chimney_tcp_start(&conn->tcp);
    return CHIMNEY_ST_SUCCESS;
}

static uint8_t chimney_update(ChimneyState *s, uint32_t type, uint32_t id,
                              uint64_t addr)
{
    switch (type) {
    case CHIMNEY_OBJ_NEIGHBOR: {
        ChimneyNeighborState st;

        if (id >= s->max_neighbors || !s->neighbors[id].valid) {
            return CHIMNEY_ST_INVALID_ID;
        }
        if (!chimney_dma_read(s, addr, &st, sizeof(st))) {
            return CHIMNEY_ST_DMA_ERROR;
        }
        memcpy(s->neighbors[id].dst_mac, st.dst_mac, 6);
        for (uint32_t i = 0; i < s->max_conns; i++) {
            ChimneyConn *conn = s->conns[i];

            if (conn && s->paths[conn->path].neighbor == id) {
                memcpy(conn->tcp.st.dst_mac, st.dst_mac, 6);
            }
        }
        return CHIMNEY_ST_SUCCESS;
    }
    case CHIMNEY_OBJ_PATH: {
        ChimneyPathState st;
        uint32_t mtu;

        if (id >= s->max_paths || !s->paths[id].valid) {
            return CHIMNEY_ST_INVALID_ID;
        }
        if (!chimney_dma_read(s, addr, &st, sizeof(st))) {
            return CHIMNEY_ST_DMA_ERROR;
        }
        mtu = le32_to_cpu(st.path_mtu);
        if (mtu < 68 || mtu > 9000) {
            return CHIMNEY_ST_INVALID_PARAM;
        }
        s->paths[id].mtu = mtu;
        for (uint32_t i = 0; i < s->max_conns; i++) {
            if (s->conns[i] && s->conns[i]->path == id) {
                chimney_tcp_set_path_mtu(&s->conns[i]->tcp, mtu);
            }
        }
        return CHIMNEY_ST_SUCCESS;
    }
    default:
        return CHIMNEY_ST_INVALID_PARAM;
    }
}

/* UPDATE of a connection's cached variables */
static uint8_t chimney_update_tcp(ChimneyConn *conn, uint64_t addr)
{
    ChimneyTcpOffload o;
    ChimneyTcpState *st = &conn->tcp.st;

    if (!chimney_dma_read(conn->dev, addr, &o, sizeof(o))) {
        return CHIMNEY_ST_DMA_ERROR;
    }
    st->ttl = o.ttl ? o.ttl : 128;
    st->tos = o.tos;
    st->max_rt = le32_to_cpu(o.max_rt);
    st->nagle = le16_to_cpu(o.cached_flags) & CHIMNEY_TCPC_NAGLE;
    st->ka_timeout = le32_to_cpu(o.ka_timeout);
    st->ka_interval = le32_to_cpu(o.ka_interval);
    st->ka_probe_count = o.ka_probe_count;
    st->rcv_indication_size = le32_to_cpu(o.rcv_indication_size);
    chimney_tcp_set_keepalive(&conn->tcp, le16_to_cpu(o.cached_flags) &
                                          CHIMNEY_TCPC_KEEPALIVE);
    /* TCP_FLAG_UPDATE_RCV_WND: a larger window opens at once */
    chimney_tcp_set_rcv_wnd(&conn->tcp, le32_to_cpu(o.initial_rcv_wnd));
    return CHIMNEY_ST_SUCCESS;
}

static uint8_t chimney_query_tcp(ChimneyConn *conn, uint64_t addr,
                                 bool terminate)
{
    ChimneyState *s = conn->dev;
    ChimneyTcpState st;
    ChimneyTcpDelegated d;

    if (terminate) {
        chimney_tcp_terminate(&conn->tcp, &st);
    } else {
        chimney_tcp_query(&conn->tcp, &st);
    }
    chimney_delegated_to_le(&d, &st, conn->sq.head,
                            chimney_tcp_held(&conn->tcp));
    return chimney_dma_write(s, addr, &d, sizeof(d)) ? CHIMNEY_ST_SUCCESS :
                                                       CHIMNEY_ST_DMA_ERROR;
}

/*
 * TERMINATE: the received bytes not yet delivered go back to the host, into
 * the buffer the command names.  Too small a buffer fails the command
 * before anything changes; the state written says how much is needed.
 */
static uint8_t chimney_return_held(ChimneyConn *conn, uint64_t addr,
                                   const uint32_t *p)
{
    ChimneyState *s = conn->dev;
    uint32_t held = chimney_tcp_held(&conn->tcp);
    uint64_t buf = p[CHIMNEY_TERM_PARAM_HELD_LO] |
                   (uint64_t)p[CHIMNEY_TERM_PARAM_HELD_HI] << 32;
    g_autofree uint8_t *data = NULL;

    if (!held) {
        return CHIMNEY_ST_SUCCESS;
    }
    if (held > p[CHIMNEY_TERM_PARAM_HELD_LEN]) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: TERMINATE of connection "
                      "%u: %u received bytes need a buffer of that size\n",
                      conn->index, held);
        chimney_query_tcp(conn, addr, false);
        return CHIMNEY_ST_NO_RESOURCES;
    }
    data = g_malloc(held);
    chimney_tcp_copy_held(&conn->tcp, data);
    return chimney_dma_write(s, buf, data, held) ? CHIMNEY_ST_SUCCESS :
                                                   CHIMNEY_ST_DMA_ERROR;
}

/* FORWARD: a TCP segment the host received for the connection */
static uint8_t chimney_forward(ChimneyConn *conn, uint64_t addr, uint32_t len)
{
    ChimneyState *s = conn->dev;
    g_autofree uint8_t *buf = NULL;
    ChimneyTcpSegment seg;
    uint32_t doff;

    if (conn->tcp.frozen || conn->tcp.upload_requested) {
        return CHIMNEY_ST_UPLOAD_IN_PROGRESS;
    }
    if (conn->tcp.aborted) {
        return CHIMNEY_ST_REQUEST_ABORTED;
    }
    if (len < 20 || len > CHIMNEY_FORWARD_MAX) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: FORWARD of %u bytes\n",
                      len);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    buf = g_malloc(len);
    if (!chimney_dma_read(s, addr, buf, len)) {
        return CHIMNEY_ST_DMA_ERROR;
    }
    if (!chimney_tcp_parse_header(buf, len, &seg, &doff) ||
        lduw_be_p(buf) != conn->tcp.st.remote_port ||
        lduw_be_p(buf + 2) != conn->tcp.st.local_port) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: FORWARD to connection "
                      "%u: not a segment of it\n", conn->index);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    s->stat_forwarded++;
    trace_chimney_tcp_forward(conn->index, seg.seq, seg.len);
    if (!chimney_tcp_input(&conn->tcp, &seg, buf + doff)) {
        return CHIMNEY_ST_REQUEST_ABORTED;
    }
    chimney_sq_process(conn);
    return CHIMNEY_ST_SUCCESS;
}

static void chimney_invalidate_dependents(ChimneyState *s, uint32_t type,
                                          uint32_t id)
{
    for (uint32_t i = 0; i < s->max_conns; i++) {
        ChimneyConn *conn = s->conns[i];

        if (conn && !conn->tcp.frozen &&
            (type == CHIMNEY_OBJ_PATH ? conn->path == id :
             s->paths[conn->path].neighbor == id)) {
            chimney_tcp_freeze(&conn->tcp);
            chimney_tcp_event(s, &conn->tcp, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                              CHIMNEY_UPLOAD_INVALID_STATE);
        }
    }
}

static uint8_t chimney_invalidate_or_terminate(ChimneyState *s, bool term,
                                               uint32_t type, uint32_t id)
{
    switch (type) {
    case CHIMNEY_OBJ_NEIGHBOR:
        if (id >= s->max_neighbors || !s->neighbors[id].valid) {
            return CHIMNEY_ST_INVALID_ID;
        }
        if (!term) {
            s->neighbors[id].invalidated = true;
            chimney_invalidate_dependents(s, type, id);
        } else if (s->neighbors[id].refs) {
            return CHIMNEY_ST_IN_USE;
        } else {
            s->neighbors[id].valid = false;
            s->num_objects--;
        }
        break;
    case CHIMNEY_OBJ_PATH:
        if (id >= s->max_paths || !s->paths[id].valid) {
            return CHIMNEY_ST_INVALID_ID;
        }
        if (!term) {
            s->paths[id].invalidated = true;
            chimney_invalidate_dependents(s, type, id);
        } else if (s->paths[id].refs) {
            return CHIMNEY_ST_IN_USE;
        } else {
            s->neighbors[s->paths[id].neighbor].refs--;
            s->paths[id].valid = false;
            s->num_objects--;
        }
        break;
    default:
        return CHIMNEY_ST_INVALID_PARAM;
    }
    chimney_update_blocker(s);
    return CHIMNEY_ST_SUCCESS;
}

/*
 * The connection a command acts on, when its completion belongs on that
 * connection's CQ; NULL for commands that complete on the admin CQ.
 */
ChimneyConn *chimney_offload_cmd_target(ChimneyState *s, uint8_t opcode,
                                        uint32_t id, const uint32_t *p)
{
    uint8_t status;

    switch (opcode) {
    case CHIMNEY_CMD_QUERY_TCP:
    case CHIMNEY_CMD_FORWARD:
        return chimney_conn_lookup(s, id, &status);
    case CHIMNEY_CMD_UPDATE:
    case CHIMNEY_CMD_INVALIDATE:
    case CHIMNEY_CMD_TERMINATE:
        return p[0] == CHIMNEY_OBJ_TCP ? chimney_conn_lookup(s, id, &status) :
                                         NULL;
    default:
        return NULL;
    }
}

uint8_t chimney_offload_cmd(ChimneyState *s, const ChimneyAdminCmd *cmd,
                            uint32_t id, uint64_t addr, const uint32_t *p,
                            ChimneyConn **target)
{
    ChimneyConn *conn = NULL;
    uint8_t status = CHIMNEY_ST_SUCCESS;

    *target = NULL;
    switch (cmd->opcode) {
    case CHIMNEY_CMD_OFFLOAD_NEIGHBOR:
        return chimney_offload_neighbor(s, id, addr);
    case CHIMNEY_CMD_OFFLOAD_PATH:
        return chimney_offload_path(s, id, addr);
    case CHIMNEY_CMD_OFFLOAD_TCP:
        return chimney_offload_tcp(s, id, addr);
    case CHIMNEY_CMD_UPDATE:
    case CHIMNEY_CMD_INVALIDATE:
    case CHIMNEY_CMD_TERMINATE:
        if (p[0] != CHIMNEY_OBJ_TCP) {
            if (cmd->opcode == CHIMNEY_CMD_UPDATE) {
                return chimney_update(s, p[0], id, addr);
            }
            return chimney_invalidate_or_terminate(
                s, cmd->opcode == CHIMNEY_CMD_TERMINATE, p[0], id);
        }
        /* fall through */
    case CHIMNEY_CMD_QUERY_TCP:
    case CHIMNEY_CMD_FORWARD:
        conn = chimney_conn_lookup(s, id, &status);
        if (!conn) {
            qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: command 0x%x for "
                          "connection 0x%x: status 0x%x\n", cmd->opcode, id,
                          status);
            return status;
        }
        *target = conn;
        break;
    default:
        return CHIMNEY_ST_INVALID_OPCODE;
    }

    switch (cmd->opcode) {
    case CHIMNEY_CMD_UPDATE:
        return chimney_update_tcp(conn, addr);
    case CHIMNEY_CMD_QUERY_TCP:
        return chimney_query_tcp(conn, addr, false);
    case CHIMNEY_CMD_FORWARD:
        return chimney_forward(conn, addr, le32_to_cpu(cmd->len));
    case CHIMNEY_CMD_INVALIDATE:
        chimney_tcp_freeze(&conn->tcp);
        conn->poisoned = true;
        return CHIMNEY_ST_SUCCESS;
    default:
        /* TERMINATE: answers to indications first; received data back */
        chimney_rq_process(conn);
        status = chimney_return_held(conn, addr, p);
        if (status) {
            return status;
        }
        /* outstanding requests complete first, then this */
        status = chimney_query_tcp(conn, addr, true);
        conn->poisoned = true;
        conn->terminated = true;
        g_hash_table_remove(s->conn_by_key, &conn->key);
        trace_chimney_tcp_terminate(conn->index, conn->pend_count);
        return status;
    }
}

/* --- send queue --- */

static void chimney_sq_process(ChimneyConn *conn)
{
    ChimneyState *s = conn->dev;
    uint32_t tail;

    if (conn->poisoned || !chimney_running(s)) {
        return;
    }
    if (!chimney_dma_read(s, conn->db_record, &tail, sizeof(tail))) {
        tail = UINT32_MAX;
    }
    tail = le32_to_cpu(tail);
    if (tail >= conn->sq.size) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: connection %u SQ tail %u "
                      "for %u entries\n", conn->index, tail, conn->sq.size);
        conn->poisoned = true;
        chimney_tcp_event(s, &conn->tcp, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                          CHIMNEY_UPLOAD_REQUESTED);
        return;
    }
    conn->sq.tail = tail;
    while (!chimney_ring_empty(&conn->sq) &&
           chimney_tcp_queued(&conn->tcp) < conn->sq.size - 1 &&
           chimney_conn_can_push(conn)) {
        uint32_t index = conn->sq.head;
        ChimneyTcpReq req;

        if (!chimney_sq_fetch(conn, index, &req)) {
            conn->poisoned = true;
            chimney_tcp_event(s, &conn->tcp, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                              CHIMNEY_UPLOAD_HW_FAILURE);
            return;
        }
        conn->sq.head = chimney_ring_next(&conn->sq, index);
        if (!chimney_tcp_post(&conn->tcp, &req)) {
            /* After a reset or a disconnect no request can be sent */
            ChimneyPending pe = {
                .cookie = req.cookie,
                .sq_head = conn->sq.head,
                .type = req.type == CHIMNEY_TCP_REQ_DISCONNECT ?
                        CHIMNEY_CQE_DISCONNECT : CHIMNEY_CQE_SEND,
                .status = conn->tcp.aborted && !conn->tcp.upload_requested ?
                          CHIMNEY_ST_REQUEST_ABORTED :
                          CHIMNEY_ST_INVALID_STATE,
                .queue = CHIMNEY_QUEUE_CONN_SQ,
            };

            chimney_conn_push(conn, &pe);
        }
    }
}

/*
 * Read RQ entry @index: a receive buffer for the engine, or the answer to
 * the connection's last indication.  A bad entry keeps its place in the
 * order as an empty receive that completes with its error.
 */
static void chimney_rq_take(ChimneyConn *conn, uint32_t index,
                            const ChimneySqDesc *d)
{
    ChimneyTcpConn *c = &conn->tcp;
    uint32_t tag = (c->rhead + c->rcount) % conn->rq.size;
    ChimneySlot *sl = &conn->rslots[tag];
    uint32_t len = le32_to_cpu(d->len);
    ChimneyTcpRecv r = {
        .cookie = le64_to_cpu(d->cookie),
        .len = len,
        .tag = tag,
        .no_push = d->flags & CHIMNEY_RQF_NO_PUSH,
    };

    *sl = (ChimneySlot) {
        .sgl = le64_to_cpu(d->sgl), .nsge = le16_to_cpu(d->nsge),
    };
    if (d->type == CHIMNEY_RQ_INDICATE_DONE && !(d->flags) && !sl->nsge) {
        if (chimney_tcp_indicate_done(c, len)) {
            return;
        }
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: connection %u took %u "
                      "bytes of an indication of %u\n", conn->index, len,
                      c->ind_outstanding);
        sl->status = CHIMNEY_ST_INVALID_PARAM;
    } else if (d->type != CHIMNEY_RQ_RECEIVE ||
               (d->flags & ~CHIMNEY_RQF_NO_PUSH)) {
        sl->status = CHIMNEY_ST_BAD_DESCRIPTOR;
    } else {
        sl->status = chimney_sgl_check(conn->dev, sl, len,
                                       DMA_DIRECTION_FROM_DEVICE);
    }
    if (sl->status) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: connection %u RQ entry "
                      "%u refused (status 0x%x)\n", conn->index, index,
                      sl->status);
        r.len = 0;
        sl->nsge = 0;
    }
    chimney_tcp_recv_post(c, &r);
}

static void chimney_rq_process(ChimneyConn *conn)
{
    ChimneyState *s = conn->dev;
    uint32_t tail;

    if (conn->poisoned || !conn->rq.size || !chimney_running(s)) {
        return;
    }
    if (!chimney_dma_read(s, conn->db_record + 4, &tail, sizeof(tail))) {
        tail = UINT32_MAX;
    }
    tail = le32_to_cpu(tail);
    if (tail >= conn->rq.size) {
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: connection %u RQ tail %u "
                      "for %u entries\n", conn->index, tail, conn->rq.size);
        conn->poisoned = true;
        chimney_tcp_event(s, &conn->tcp, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                          CHIMNEY_UPLOAD_REQUESTED);
        return;
    }
    conn->rq.tail = tail;
    /* The engine holds at most rq.size receives; the rest wait in the RQ */
    while (!chimney_ring_empty(&conn->rq) &&
           conn->tcp.rcount < conn->rq.size && chimney_conn_can_push(conn)) {
        uint32_t index = conn->rq.head;
        ChimneySqDesc d;

        if (!chimney_dma_read(s, chimney_ring_entry(&conn->rq, index,
                                                    sizeof(d)),
                              &d, sizeof(d))) {
            conn->poisoned = true;
            chimney_tcp_event(s, &conn->tcp, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                              CHIMNEY_UPLOAD_HW_FAILURE);
            return;
        }
        conn->rq.head = chimney_ring_next(&conn->rq, index);
        chimney_rq_take(conn, index, &d);
    }
}

/* New generic buffers: connections that waited for one indicate now. */
void chimney_offload_ind_doorbell(ChimneyState *s)
{
    ChimneyConn *conn;

    while ((conn = QTAILQ_FIRST(&s->ind_list)) &&
           !chimney_ring_empty(&s->ind_q)) {
        QTAILQ_REMOVE(&s->ind_list, conn, ind_link);
        conn->on_ind_list = false;
        chimney_tcp_deliver(&conn->tcp);
        chimney_sq_process(conn);
    }
}

void chimney_offload_doorbell(ChimneyState *s, uint32_t conn_id)
{
    uint8_t status;
    ChimneyConn *conn = chimney_conn_lookup(s, conn_id, &status);

    if (!conn) {
        /* A late doorbell after terminate is a normal race: ignore it */
        qemu_log_mask(LOG_GUEST_ERROR, "chimney-nic: send doorbell for "
                      "connection 0x%x ignored (status 0x%x)\n", conn_id,
                      status);
        s->stat_stale_doorbells++;
        return;
    }
    /* The send queue is read in the bottom half */
    if (!conn->on_kick_list) {
        conn->on_kick_list = true;
        QTAILQ_INSERT_TAIL(&s->kick_list, conn, kick_link);
    }
    qemu_bh_schedule(s->bh);
}

/* Bottom half: the queued segments, each to its connection if still live */
static void chimney_offload_rx_work(ChimneyState *s)
{
    bool was_full = s->tcp_rx_count == CHIMNEY_TCP_RX_SLOTS;

    while (s->tcp_rx_count) {
        ChimneyRxSeg *slot = &s->tcp_rx[s->tcp_rx_head];
        uint8_t status;
        ChimneyConn *conn = chimney_conn_lookup(s, slot->conn_id, &status);
        uint8_t *frame;

        s->tcp_rx_head = (s->tcp_rx_head + 1) % CHIMNEY_TCP_RX_SLOTS;
        s->tcp_rx_count--;
        if (!conn || conn->terminated) {
            continue;
        }
        frame = s->tcp_rx_frames + (slot - s->tcp_rx) * CHIMNEY_L2_MAX_FRAME;
        trace_chimney_tcp_input(conn->index, slot->seg.seq, slot->seg.ack,
                                slot->seg.flags, slot->seg.len);
        if (!chimney_tcp_input(&conn->tcp, &slot->seg,
                               frame + slot->payload)) {
            /* Not the engine's (CLOSED, or a SYN in TIME_WAIT) */
            s->stat_to_host++;
            if (!chimney_l2_rx_frame(s, frame, slot->len)) {
                s->stat_rx_dropped++;
            }
        }
        chimney_sq_process(conn);
        chimney_rq_process(conn);
        chimney_conn_release(conn);
    }
    if (was_full) {
        qemu_flush_queued_packets(qemu_get_queue(s->nic));
    }
}

/*
 * Bottom half: expired timers, send doorbells, then completions that
 * waited for room.  Each CQ's waiting connections are served in turn
 * until the CQ is full, so the work per completion does not grow with
 * the number of connections.
 */
void chimney_offload_work(ChimneyState *s)
{
    ChimneyConn *conn;

    chimney_offload_rx_work(s);
    while ((conn = QTAILQ_FIRST(&s->timer_list))) {
        QTAILQ_REMOVE(&s->timer_list, conn, timer_link);
        conn->on_timer_list = false;
        chimney_tcp_timer(&conn->tcp);
    }
    while ((conn = QTAILQ_FIRST(&s->kick_list))) {
        QTAILQ_REMOVE(&s->kick_list, conn, kick_link);
        conn->on_kick_list = false;
        chimney_sq_process(conn);
        chimney_rq_process(conn);
    }
    for (uint32_t cq = 1; cq < s->num_cqs; cq++) {
        while ((conn = QTAILQ_FIRST(&s->flush_list[cq])) &&
               !chimney_cq_full(&s->cq[cq]) && chimney_running(s)) {
            /* to the back of the line, unless it empties */
            QTAILQ_REMOVE(&s->flush_list[cq], conn, flush_link);
            conn->on_flush_list = false;
            chimney_conn_flush(conn);
            if (!conn->pend_count) {
                /* room again in its FIFO: take what waited on the queues */
                chimney_sq_process(conn);
                chimney_rq_process(conn);
            }
            chimney_conn_release(conn);
        }
    }
}

/*
 * A frame of an offloaded 4-tuple is queued for its connection: returns 1
 * when taken, 0 when the queue is full (the net layer keeps the frame
 * until chimney_offload_work drains it), -1 when it is not ours.
 */
int chimney_offload_receive(ChimneyState *s, const uint8_t *buf, size_t size)
{
    ChimneyTcpTuple t;
    ChimneyTcpSegment seg;
    ChimneyConn *conn;
    ChimneyRxSeg *slot;
    const uint8_t *payload;
    uint64_t key;

    if (!chimney_offload_active(s) || size > CHIMNEY_L2_MAX_FRAME ||
        !chimney_tcp_parse(buf, size, &t, &seg, &payload)) {
        return -1;
    }
    key = chimney_conn_key(t.src_ip, t.src_port, t.dst_port);
    conn = g_hash_table_lookup(s->conn_by_key, &key);
    if (!conn || conn->tcp.st.src_ip != t.dst_ip) {
        return -1;
    }
    if (s->tcp_rx_count == CHIMNEY_TCP_RX_SLOTS) {
        return 0;
    }
    slot = &s->tcp_rx[(s->tcp_rx_head + s->tcp_rx_count++) %
                      CHIMNEY_TCP_RX_SLOTS];
    slot->conn_id = chimney_conn_id(conn);
    slot->seg = seg;
    slot->payload = payload - buf;
    slot->len = size;
    memcpy(s->tcp_rx_frames + (slot - s->tcp_rx) * CHIMNEY_L2_MAX_FRAME, buf,
           size);
    qemu_bh_schedule(s->bh);
    return 1;
}

char *chimney_offload_stats(ChimneyState *s)
{
    GString *out = g_string_new("");

    for (uint32_t i = 0; i < s->max_conns; i++) {
        ChimneyConn *conn = s->conns[i];
        ChimneyTcpConn *c;

        if (!conn) {
            continue;
        }
        c = &conn->tcp;
        g_string_append_printf(out, "%u: state=%u segs_out=%" PRIu64
                               " segs_in=%" PRIu64 " bytes_acked=%" PRIu64
                               " retransmits=%" PRIu64 " timeouts=%" PRIu64
                               " fast_retransmits=%" PRIu64 " dup_acks=%"
                               PRIu64 " probes=%" PRIu64 " bytes_rcvd=%"
                               PRIu64 " bytes_delivered=%" PRIu64
                               " bytes_indicated=%" PRIu64 " ooo_segs=%"
                               PRIu64 " dup_segs=%" PRIu64 " acks_delayed=%"
                               PRIu64 " ka_probes=%" PRIu64
                               " challenge_acks=%" PRIu64 " held=%u"
                               " rcv_wnd=%u\n", i,
                               c->st.state, c->segs_out, c->segs_in,
                               c->bytes_acked, c->retransmits, c->timeouts,
                               c->fast_retransmits, c->dup_acks,
                               c->probes_sent, c->bytes_rcvd,
                               c->bytes_delivered, c->bytes_indicated,
                               c->ooo_segs, c->dup_segs, c->acks_delayed,
                               c->ka_probes_sent, c->challenge_acks, c->held,
                               c->st.rcv_wnd);
    }
    return g_string_free(out, false);
}
