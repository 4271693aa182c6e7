/*
 * chimney-nic: the TCP engine of offloaded connections
 *
 * See chimney-tcp.h for what it does and how it is driven.  References:
 * RFC 9293 (TCP), RFC 6298 (retransmission timer), RFC 5681 (congestion
 * control), RFC 6582 (NewReno), RFC 7323 (timestamps, window scale),
 * RFC 5961 (blind reset mitigation).
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/eth.h"
#include "hw/net/chimney/chimney-tcp-int.h"

int64_t chimney_tcp_now(ChimneyTcpConn *c)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);

    return s->ops->now_ns(s->opaque);
}


void chimney_tcp_stack_init(ChimneyTcpStack *s, const ChimneyTcpOps *ops,
                            void *opaque)
{
    s->ops = ops;
    s->opaque = opaque;
    s->dup_ack_thresh = 3;
    s->max_retransmit = 5;
    s->ack_frequency = 2;
    s->delack_ns = 200 * NS_PER_MS;
    s->push_ns = 500 * NS_PER_MS;
    s->tick_ns = NS_PER_MS;
    s->rto_min_ns = 1000 * NS_PER_MS;       /* RFC 6298 2.4 */
    s->rto_max_ns = 60000 * NS_PER_MS;
    s->rto_initial_ns = 1000 * NS_PER_MS;   /* RFC 6298 2.1 */
    s->sws_ns = SWS_OVERRIDE_NS;
    s->ip_id = IP_ID_BASE;
}

void chimney_tcp_conn_init(ChimneyTcpConn *c, ChimneyTcpStack *stack,
                           const ChimneyTcpState *st, ChimneyTcpRoute *route,
                           ChimneyTcpReq *reqs, uint32_t cap,
                           ChimneyTcpRecv *recvs, uint32_t rcap)
{
    uint32_t hdr = chimney_tcp_ip_hlen(st->ipv6) + TCP_HDR_LEN +
                   (st->ts_enabled ? TCP_TS_OPT_LEN : 0);

    memset(c, 0, sizeof(*c));
    route->stack = stack;
    c->route = route;
    chimney_tcp_vars_load(c, st);
    c->reqs = reqs;
    c->cap = cap;
    c->end_seq = st->snd_una;
    c->mss = MIN(st->remote_mss, st->path_mtu - hdr);
    c->snd_wl2 = st->snd_una;
    c->recover = st->snd_una;
    c->recvs = recvs;
    c->rcap = rcap;
    c->timer_ns = -1;
    c->rexmit_ns = -1;
    c->delack_ns = -1;
    c->push_ns = -1;
    /* Until chimney_tcp_start: the delay to the first probe, or -1 */
    c->ka_ns = -1;
    if (st->keepalive) {
        c->ka_ns = st->ka_delta >= 0 ?
                   chimney_tcp_ticks_to_ns(c, st->ka_delta) :
                   chimney_tcp_ka_timeout(c);
    }
    c->fw2_ns = -1;
    c->challenge_ns = -SYN_CHALLENGE_NS;
    if (st->srtt_x8) {
        c->srtt_ns = chimney_tcp_ticks_to_ns(c, st->srtt_x8) / 8;
        c->rttvar_ns = chimney_tcp_ticks_to_ns(c, st->rttvar_x4) / 4;
        chimney_tcp_update_rto(c);
    } else {
        c->rto_ns = stack->rto_initial_ns;
    }
    if (!c->st.cwnd) {
        c->st.cwnd = MIN(4 * c->mss, MAX(2 * c->mss, 4380)); /* RFC 5681 */
    }
    if (!c->st.ssthresh) {
        c->st.ssthresh = UINT32_MAX;
    }
    c->backoff = st->rexmit_count;
    c->ts_base_ns = 0;
    c->ts_base = st->ts_time;
    chimney_tcp_rx_init(c);
}

ChimneyTcpRare *chimney_tcp_rare(ChimneyTcpConn *c)
{
    if (!c->rare) {
        c->rare = g_new0(ChimneyTcpRare, 1);
    }
    return c->rare;
}

void chimney_tcp_ctr_set(ChimneyTcpConn *c, int which, uint64_t value)
{
    c->ctr_lo[which] = value;
    if (value >> 32 || c->rare) {
        chimney_tcp_rare(c)->ctr_hi[which] = value >> 32;
    }
}

void chimney_tcp_conn_destroy(ChimneyTcpConn *c)
{
    g_free(c->rbuf);
    c->rbuf = NULL;
    g_free(c->ooo);
    c->ooo = NULL;
    g_free(c->rare);
    c->rare = NULL;
}

static bool tcp_append(ChimneyTcpConn *c, const ChimneyTcpReq *req)
{
    ChimneyTcpReq *r;

    if (c->count == c->cap || (c->fin_queued && !c->send_failed)) {
        return false;
    }
    r = &c->reqs[(c->head + c->count) % c->cap];
    *r = *req;
    if (c->send_failed) {
        /* Never sent: it takes no sequence space and fails in its turn */
        r->flags |= CHIMNEY_TCP_REQ_FAILED;
        r->end_seq = c->end_seq + r->len +
                     (r->type == CHIMNEY_TCP_REQ_DISCONNECT);
        c->count++;
        return true;
    }
    c->end_seq += r->len;
    if (r->type == CHIMNEY_TCP_REQ_DISCONNECT) {
        c->end_seq++;
        c->fin_queued = true;
    }
    r->end_seq = c->end_seq;
    c->count++;
    return true;
}

/*
 * A request the connection's state refuses.  With none queued the owner
 * completes it now (false); behind queued ones it waits, taking no
 * sequence space, and fails in its turn (INVALID_STATE), so that the
 * completions stay in order.
 */
static bool tcp_refuse(ChimneyTcpConn *c, const ChimneyTcpReq *req)
{
    ChimneyTcpReq *r;

    if (!c->count || c->count == c->cap) {
        return false;
    }
    r = &c->reqs[(c->head + c->count) % c->cap];
    *r = *req;
    r->flags |= CHIMNEY_TCP_REQ_FAILED | CHIMNEY_TCP_REQ_REFUSED;
    r->end_seq = c->end_seq + r->len + (r->type == CHIMNEY_TCP_REQ_DISCONNECT);
    c->count++;
    return true;
}

/* Requests outstanding at offload time, in order, before the start. */
bool chimney_tcp_handover(ChimneyTcpConn *c, const ChimneyTcpReq *req)
{
    if (req->type != CHIMNEY_TCP_REQ_SEND) {
        return false;
    }
    return tcp_append(c, req);
}

static void tcp_note(ChimneyTcpConn *c, int what, uint32_t a, uint32_t b)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);

    if (s->ops->note) {
        s->ops->note(s->opaque, c, what, a, b);
    }
}

void chimney_tcp_set_state(ChimneyTcpConn *c, uint32_t state)
{
    tcp_note(c, CHIMNEY_TCP_NOTE_STATE, c->st.state, state);
    c->st.state = state;
    /* FIN_WAIT_2 is bounded while the peer keeps its half open */
    c->fw2_ns = state == CHIMNEY_TCPS_FIN_WAIT2 && !c->fin_rcvd ?
                chimney_tcp_now(c) + FIN_WAIT2_NS : -1;
    chimney_tcp_timers_sync(c);
}

static void tcp_complete_head(ChimneyTcpConn *c, int status, uint32_t bytes)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);
    ChimneyTcpReq r = *chimney_tcp_req(c, 0);

    c->head = (c->head + 1) % c->cap;
    c->count--;
    s->ops->complete(s->opaque, c, &r, status, bytes);
}

static int tcp_failure(const ChimneyTcpReq *r)
{
    return (r->flags & CHIMNEY_TCP_REQ_REFUSED) ? CHIMNEY_TCP_INVALID_STATE :
                                                  CHIMNEY_TCP_DMA_ERROR;
}

/* Every request leaves with @status; the first may be partly acked. */
static void tcp_flush(ChimneyTcpConn *c, int status)
{
    bool first = true;

    while (c->count) {
        ChimneyTcpReq *r = chimney_tcp_req(c, 0);
        uint32_t acked = 0;

        if (first && chimney_seq_gt(c->st.snd_una, chimney_tcp_req_start(r))) {
            acked = MIN(c->st.snd_una - chimney_tcp_req_start(r), r->len);
        }
        first = false;
        /* A request that failed keeps its failure */
        tcp_complete_head(c, (r->flags & CHIMNEY_TCP_REQ_FAILED) ?
                          tcp_failure(r) : status, acked);
    }
}

void chimney_tcp_raise(ChimneyTcpConn *c, int event, uint32_t info)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);

    s->ops->event(s->opaque, c, event, info);
}


void chimney_tcp_request_upload(ChimneyTcpConn *c, uint32_t reason)
{
    if (!c->upload_requested) {
        c->upload_requested = true;
        chimney_tcp_raise(c, CHIMNEY_TCP_EV_UPLOAD_REQUEST, reason);
    }
}

uint32_t chimney_tcp_ts_now(ChimneyTcpConn *c)
{
    return c->ts_base + (chimney_tcp_now(c) - c->ts_base_ns) / NS_PER_MS;
}

void chimney_tcp_send_ack(ChimneyTcpConn *c)
{
    chimney_tcp_send_segment(c, c->st.snd_nxt, 0, TH_ACK);
}


static void tcp_abort(ChimneyTcpConn *c, int status)
{
    c->aborted = true;
    chimney_tcp_set_state(c, CHIMNEY_TCPS_CLOSED);
    chimney_tcp_timers_stop(c);
    tcp_flush(c, status);
    chimney_tcp_rx_flush(c, status);
}

void chimney_tcp_fail_from(ChimneyTcpConn *c, uint32_t i)
{
    for (; i < c->count; i++) {
        chimney_tcp_req(c, i)->flags |= CHIMNEY_TCP_REQ_FAILED;
    }
}

static void tcp_complete_covered(ChimneyTcpConn *c);

/*
 * The data of a request could not be read: a hardware failure, not a
 * reset (only an abortive disconnect sends a RST).  Nothing more is
 * sent; the failed request and every one after it complete with
 * DMA_ERROR in their turn, those before it as the peer acknowledges
 * them, and the host is asked to take the connection (HW_FAILURE).
 */
static void tcp_send_failed(ChimneyTcpConn *c)
{
    c->send_failed = true;
    c->persist = false;
    chimney_tcp_timer_set(c, -1);
    tcp_complete_covered(c);
    chimney_tcp_request_upload(c, CHIMNEY_TCP_UPLOAD_HW_FAILURE);
}

/* Reset the connection: RST out, every request aborted, ABORT event */
void chimney_tcp_reset(ChimneyTcpConn *c)
{
    if (c->aborted) {
        return;
    }
    chimney_tcp_send_segment(c, c->st.snd_nxt, 0, TH_RST | TH_ACK);
    tcp_abort(c, CHIMNEY_TCP_ABORTED);
    chimney_tcp_raise(c, CHIMNEY_TCP_EV_ABORT, 0);
}

/* Sequence number of our FIN, if one is queued. */
static bool tcp_fin_seq(ChimneyTcpConn *c, uint32_t *fin)
{
    if (!c->fin_queued) {
        return false;
    }
    *fin = c->end_seq - 1;
    return true;
}

/*
 * Send one segment of at most @max payload bytes at @seq; returns the
 * sequence space it used, 0 when there was nothing to send.
 */
static uint32_t tcp_transmit(ChimneyTcpConn *c, uint32_t seq, uint32_t max)
{
    uint32_t fin_seq, data_end = c->end_seq;
    bool has_fin = tcp_fin_seq(c, &fin_seq);
    uint32_t len;
    uint8_t flags = TH_ACK;

    if (has_fin) {
        data_end = fin_seq;
    }
    len = chimney_seq_lt(seq, data_end) ? MIN(data_end - seq, max) : 0;
    if (has_fin && seq + len == fin_seq &&
        chimney_seq_lt(seq + len, c->end_seq)) {
        flags |= TH_FIN;
    }
    if (!len && !(flags & TH_FIN)) {
        return 0;
    }
    /* PSH when the segment ends a request that asked for it, or the data */
    if (seq + len == data_end) {
        flags |= TH_PUSH;
    } else {
        for (uint32_t i = 0; i < c->count; i++) {
            ChimneyTcpReq *r = chimney_tcp_req(c, i);

            if (r->end_seq == seq + len) {
                if (r->flags & CHIMNEY_TCP_REQ_PUSH) {
                    flags |= TH_PUSH;
                }
                break;
            }
            if (chimney_seq_gt(r->end_seq, seq + len)) {
                break;
            }
        }
    }
    if (!chimney_tcp_send_segment(c, seq, len, flags)) {
        tcp_send_failed(c);
        return 0;
    }
    if (flags & TH_FIN) {
        c->fin_sent = true;
    }
    return len + !!(flags & TH_FIN);
}

/*
 * Sender silly-window avoidance (RFC 1122 4.2.3.4): when the peer's window
 * is what limits it, a segment of at most @max bytes goes out if it is
 * full, or at least half the largest window the peer offered, or all the
 * data queued (whether that may leave with data in flight is Nagle's
 * call).  Else the ACKs in flight bring us back, or with none the
 * override timer does.  Neither a congestion window nor a loss being
 * repaired is the peer's window: holding a remainder back there would
 * leave fewer segments to draw the duplicate ACKs that recovery needs.
 */
static bool tcp_sws_send(ChimneyTcpConn *c, uint32_t max)
{
    uint32_t fin_seq, data_end = c->end_seq, data, len;

    if (c->st.cwnd < c->st.snd_wnd || c->in_recovery ||
        c->st.dup_ack_count) {
        return true;
    }
    if (tcp_fin_seq(c, &fin_seq)) {
        data_end = fin_seq;
    }
    data = chimney_seq_lt(c->st.snd_nxt, data_end) ?
           data_end - c->st.snd_nxt : 0;
    len = MIN(data, max);
    return c->sws_override || len >= c->mss || len == data ||
           len >= MAX(c->st.max_snd_wnd, c->st.snd_wnd) / 2;
}

/*
 * Held back by SWS avoidance with nothing in flight: the persist timer,
 * on its own short deadline, is the override (as BSD does); on a window
 * that is not zero it sends what the window takes.
 */
static void tcp_sws_wait(ChimneyTcpConn *c)
{
    if (c->st.snd_una == c->st.snd_max && !c->persist) {
        c->persist = true;
        c->probes = 0;
        c->probes_unanswered = 0;
        chimney_tcp_timer_set(c, chimney_tcp_now(c) +
                              chimney_tcp_stack(c)->sws_ns);
    }
}

/*
 * Payload of one frame: an MSS, or as many whole MSS as fit a 64 KiB
 * super-frame when the backend segments (the segments on the wire are
 * the same either way)
 */
static uint32_t tcp_frame_max(ChimneyTcpConn *c)
{
    if (!chimney_tcp_stack(c)->tx_offload || c->mss >= CHIMNEY_TCP_GSO_MAX) {
        return c->mss;
    }
    return CHIMNEY_TCP_GSO_MAX / c->mss * c->mss;
}

void chimney_tcp_output(ChimneyTcpConn *c)
{
    if (c->aborted || c->upload_requested || c->frozen || c->send_failed) {
        return;
    }
    for (;;) {
        uint32_t flight = c->st.snd_nxt - c->st.snd_una;
        uint32_t win = MIN(c->st.snd_wnd, c->st.cwnd);
        uint32_t avail = win > flight ? win - flight : 0;
        uint32_t unsent = c->end_seq - c->st.snd_nxt;
        uint32_t max = MIN(avail, tcp_frame_max(c));
        uint32_t seq = c->st.snd_nxt;
        uint32_t used;

        /* A super-frame holds whole MSS; a smaller tail is decided alone */
        if (max > c->mss) {
            max -= max % c->mss;
        }

        if (!unsent) {
            break;
        }
        if (!avail) {
            /* Zero window with nothing in flight: probe it (RFC 9293). */
            if (!c->st.snd_wnd && c->st.snd_una == c->st.snd_max &&
                !c->persist) {
                c->probes = 0;
                c->probes_unanswered = 0;
                chimney_tcp_arm_persist(c);
            }
            /* A lone FIN needs no window. */
            if (unsent != 1 || !c->fin_queued) {
                break;
            }
        }
        /* Nagle (RFC 896): no small segment while data is in flight */
        if (c->st.nagle && flight && max < c->mss && unsent - 1 > max) {
            break;
        }
        /* SWS avoidance holds new data only, never a retransmission */
        if (avail && chimney_seq_geq(seq, c->st.snd_max) &&
            !tcp_sws_send(c, max)) {
            tcp_sws_wait(c);
            break;
        }
        /* The backend holds a frame: wait for it, do not pile more up */
        if (chimney_tcp_stack(c)->tx_blocked) {
            ChimneyTcpStack *stack = chimney_tcp_stack(c);

            if (stack->ops->tx_wait) {
                stack->ops->tx_wait(stack->opaque, c);
            }
            break;
        }
        used = tcp_transmit(c, seq, max);
        if (!used) {
            break;
        }
        c->st.snd_nxt = seq + used;
        if (chimney_seq_gt(c->st.snd_nxt, c->st.snd_max)) {
            /* New data: time it, unless a sample is already running */
            if (!c->rtt_timing && chimney_seq_geq(seq, c->st.snd_max)) {
                c->rtt_timing = true;
                c->rtt_seq = seq;
                c->rtt_start_ns = chimney_tcp_now(c);
            }
            c->st.snd_max = c->st.snd_nxt;
        } else {
            chimney_tcp_rare(c)->retransmits++;
            tcp_note(c, CHIMNEY_TCP_NOTE_REXMIT, seq, used);
        }
        if (c->rexmit_ns < 0 || c->persist) {
            chimney_tcp_arm_rexmit(c);
        }
    }
}

/* Send the queued and handed-over data; the connection is live. */
void chimney_tcp_start(ChimneyTcpConn *c)
{
    c->ts_base_ns = chimney_tcp_now(c);
    if (c->ka_ns >= 0) {
        c->ka_ns += c->ts_base_ns;      /* the delay conn_init set */
    }
    if (c->st.state == CHIMNEY_TCPS_FIN_WAIT2) {
        c->fw2_ns = c->ts_base_ns + FIN_WAIT2_NS;
    }
    chimney_tcp_timers_sync(c);
    if (c->st.snd_max != c->st.snd_una) {
        /* [SndUna, SndMax) was sent by the host: it needs a timer */
        chimney_tcp_arm_rexmit(c);
    }
    chimney_tcp_output(c);
    /* Data handed over at offload goes first */
    chimney_tcp_deliver(c);
}

static void tcp_fin_acked(ChimneyTcpConn *c)
{
    switch (c->st.state) {
    case CHIMNEY_TCPS_FIN_WAIT1:
        chimney_tcp_set_state(c, CHIMNEY_TCPS_FIN_WAIT2);
        break;
    case CHIMNEY_TCPS_CLOSING:
        chimney_tcp_set_state(c, CHIMNEY_TCPS_TIME_WAIT);
        chimney_tcp_rx_time_wait(c);
        break;
    case CHIMNEY_TCPS_LAST_ACK:
        chimney_tcp_set_state(c, CHIMNEY_TCPS_CLOSED);
        break;
    }
}

/*
 * Complete every request that SndUna has passed, in order; a failed one
 * at the head completes with DMA_ERROR and the bytes of it acknowledged.
 */
static void tcp_complete_covered(ChimneyTcpConn *c)
{
    while (c->count) {
        ChimneyTcpReq *r = chimney_tcp_req(c, 0);
        bool fin = r->type == CHIMNEY_TCP_REQ_DISCONNECT;

        if (r->flags & CHIMNEY_TCP_REQ_FAILED) {
            uint32_t start = chimney_tcp_req_start(r);

            tcp_complete_head(c, tcp_failure(r),
                              chimney_seq_gt(c->st.snd_una, start) ?
                              MIN(c->st.snd_una - start, r->len) : 0);
            continue;
        }
        if (!chimney_seq_leq(r->end_seq, c->st.snd_una)) {
            break;
        }
        tcp_complete_head(c, CHIMNEY_TCP_OK, chimney_tcp_req(c, 0)->len);
        if (fin) {
            tcp_fin_acked(c);
        }
    }
}

/*
 * Take a request without sending: a caller with several runs
 * chimney_tcp_output once after them, so that super-frames and full
 * segments span request boundaries instead of each request ending in a
 * short segment of its own.
 */
bool chimney_tcp_queue(ChimneyTcpConn *c, const ChimneyTcpReq *req)
{
    if (c->aborted || c->st.state == CHIMNEY_TCPS_CLOSED) {
        return tcp_refuse(c, req);
    }
    if (req->type == CHIMNEY_TCP_REQ_DISCONNECT &&
        (req->flags & CHIMNEY_TCP_REQ_ABORTIVE)) {
        /* RST now; what was queued is aborted, then the disconnect ends */
        ChimneyTcpReq r = *req;

        chimney_tcp_send_segment(c, c->st.snd_nxt, 0, TH_RST | TH_ACK);
        tcp_abort(c, CHIMNEY_TCP_ABORTED);
        r.end_seq = c->st.snd_nxt;
        chimney_tcp_stack(c)->ops->complete(chimney_tcp_stack(c)->opaque, c,
                                            &r, CHIMNEY_TCP_OK, 0);
        return true;
    }
    if (req->type == CHIMNEY_TCP_REQ_DISCONNECT &&
        c->st.state != CHIMNEY_TCPS_ESTABLISHED &&
        c->st.state != CHIMNEY_TCPS_CLOSE_WAIT) {
        return tcp_refuse(c, req);
    }
    if (!tcp_append(c, req)) {
        return tcp_refuse(c, req);
    }
    if (req->type == CHIMNEY_TCP_REQ_DISCONNECT && !c->send_failed) {
        chimney_tcp_set_state(c, c->st.state == CHIMNEY_TCPS_ESTABLISHED ?
                         CHIMNEY_TCPS_FIN_WAIT1 : CHIMNEY_TCPS_LAST_ACK);
    }
    /* An empty request behind acknowledged data is done at once */
    tcp_complete_covered(c);
    return true;
}

bool chimney_tcp_post(ChimneyTcpConn *c, const ChimneyTcpReq *req)
{
    bool taken = chimney_tcp_queue(c, req);

    chimney_tcp_output(c);
    return taken;
}

/* cwnd grows by @inc up to TCP_CWND_MAX: 3 million ACKs would wrap it */
static void tcp_cwnd_grow(ChimneyTcpConn *c, uint64_t inc)
{
    c->st.cwnd = MIN(c->st.cwnd + inc, TCP_CWND_MAX);
}

static void tcp_new_ack(ChimneyTcpConn *c, const ChimneyTcpSegment *seg)
{
    uint32_t acked = seg->ack - c->st.snd_una;
    uint32_t mss = c->mss;

    /* RTT: timestamps if negotiated, else the timed segment (Karn) */
    if (c->st.ts_enabled && seg->has_ts && seg->ts_ecr) {
        chimney_tcp_rtt_sample(c, (int64_t)(chimney_tcp_ts_now(c) -
                                            seg->ts_ecr) * NS_PER_MS);
    } else if (c->rtt_timing && chimney_seq_gt(seg->ack, c->rtt_seq)) {
        chimney_tcp_rtt_sample(c, chimney_tcp_now(c) - c->rtt_start_ns);
    }
    if (c->rtt_timing && chimney_seq_gt(seg->ack, c->rtt_seq)) {
        c->rtt_timing = false;
    }
    c->backoff = 0;
    c->st.dup_ack_count = 0;

    if (c->in_recovery) {
        if (chimney_seq_geq(seg->ack, c->recover)) {
            /* Full ACK (RFC 6582 3.2 step 3) */
            uint32_t flight = c->st.snd_max - seg->ack;

            c->st.cwnd = MIN(c->st.ssthresh, MAX(flight, mss) + mss);
            c->in_recovery = false;
        } else {
            /* Partial ACK: retransmit the next hole, deflate */
            c->st.snd_una = seg->ack;
            chimney_tcp_rare(c)->fast_retransmits++;
            chimney_tcp_rare(c)->retransmits++;
            tcp_note(c, CHIMNEY_TCP_NOTE_REXMIT, seg->ack, mss);
            tcp_transmit(c, seg->ack, mss);
            c->st.cwnd = c->st.cwnd > acked ? c->st.cwnd - acked : 0;
            tcp_cwnd_grow(c, mss);
        }
    } else if (c->st.cwnd < c->st.ssthresh) {
        tcp_cwnd_grow(c, MIN(acked, mss));              /* slow start */
    } else {
        /*
         * Congestion avoidance by the bytes acknowledged (RFC 5681 3.1):
         * one MSS per window's worth, so that an ACK covering a whole
         * super-frame counts as the per-segment ACKs it stands for
         */
        tcp_cwnd_grow(c, MAX(1, (uint64_t)mss * MIN(acked, c->st.cwnd) /
                                c->st.cwnd));
    }

    c->st.snd_una = seg->ack;
    chimney_tcp_count(c, CHIMNEY_TCP_BYTES_ACKED, acked);
    if (chimney_seq_lt(c->st.snd_nxt, c->st.snd_una)) {
        c->st.snd_nxt = c->st.snd_una;
    }
    tcp_complete_covered(c);
    if (c->st.snd_una == c->st.snd_max) {
        chimney_tcp_timer_set(c, -1);
        c->persist = false;
    } else {
        chimney_tcp_arm_rexmit(c);
    }
}

static void tcp_dup_ack(ChimneyTcpConn *c)
{
    uint32_t mss = c->mss;

    chimney_tcp_rare(c)->dup_acks++;
    if (c->st.dup_ack_count < 255) {
        c->st.dup_ack_count++;
    }
    if (c->in_recovery) {
        tcp_cwnd_grow(c, mss);                  /* RFC 5681 3.2 step 4 */
        return;
    }
    if (c->st.dup_ack_count == chimney_tcp_stack(c)->dup_ack_thresh &&
        chimney_seq_gt(c->st.snd_una, c->recover - 1)) {
        uint32_t flight = c->st.snd_max - c->st.snd_una;

        /* Fast retransmit, then recovery (RFC 5681 3.2, RFC 6582) */
        c->st.ssthresh = MAX(flight / 2, 2 * mss);
        c->recover = c->st.snd_max;
        c->in_recovery = true;
        c->rtt_timing = false;
        chimney_tcp_rare(c)->fast_retransmits++;
        chimney_tcp_rare(c)->retransmits++;
        tcp_note(c, CHIMNEY_TCP_NOTE_REXMIT, c->st.snd_una, mss);
        tcp_transmit(c, c->st.snd_una, mss);
        c->st.cwnd = MIN(c->st.ssthresh + 3 * mss, TCP_CWND_MAX);
        chimney_tcp_arm_rexmit(c);
    }
}

static bool tcp_in_window(ChimneyTcpConn *c, uint32_t seq)
{
    return chimney_seq_leq(c->st.rcv_nxt, seq) &&
           chimney_seq_lt(seq, c->st.rcv_nxt + MAX(c->st.rcv_wnd, 1));
}

/*
 * The ACK that TcpAckFrequency asks for: it leaves once the input is
 * processed, so data sent in the meantime carries it instead.  In a
 * burst it leaves before the next segment is looked at, at the latest,
 * so a peer still gets one for every TcpAckFrequency segments.
 */
void chimney_tcp_ack_due(ChimneyTcpConn *c)
{
    if (c->in_input) {
        c->ack_due = true;
    } else {
        chimney_tcp_send_ack(c);
    }
}

static void tcp_ack_flush(ChimneyTcpConn *c)
{
    if (c->ack_due) {
        c->ack_due = false;
        /* any segment since carried it (and reset the count) */
        if (c->segs_unacked && !c->aborted && !c->frozen) {
            chimney_tcp_send_ack(c);
        }
    }
}

static bool tcp_input(ChimneyTcpConn *c, const ChimneyTcpSegment *seg,
                      const uint8_t *payload)
{
    chimney_tcp_count(c, CHIMNEY_TCP_SEGS_IN, 1);
    if (c->aborted || c->st.state == CHIMNEY_TCPS_CLOSED) {
        return false;                       /* CLOSED: the host answers */
    }
    if (seg->flags & TH_RST) {
        /* RFC 1337: TIME_WAIT is not assassinated by a RST */
        if (c->st.state == CHIMNEY_TCPS_TIME_WAIT) {
            return true;
        }
        /* RFC 5961 3.2: exact match resets, in window gets a challenge */
        if (seg->seq == c->st.rcv_nxt) {
            tcp_abort(c, CHIMNEY_TCP_ABORTED);
            chimney_tcp_raise(c, CHIMNEY_TCP_EV_ABORT, 0);
        } else if (tcp_in_window(c, seg->seq)) {
            chimney_tcp_challenge(c);
        }
        return true;
    }
    if (seg->flags & TH_SYN) {
        int64_t now = chimney_tcp_now(c);

        if (c->st.state == CHIMNEY_TCPS_TIME_WAIT) {
            return false;                   /* a new connection: the host's */
        }
        if (seg->seq == c->st.rcv_nxt) {
            /* The peer started over: the host takes it back, CLOSED */
            chimney_tcp_set_state(c, CHIMNEY_TCPS_CLOSED);
            chimney_tcp_freeze(c);
            chimney_tcp_request_upload(c, CHIMNEY_TCP_UPLOAD_REQUESTED);
        } else if (!tcp_in_window(c, seg->seq)) {
            chimney_tcp_send_ack(c);                /* RFC 5961 4.2 */
        } else if (now - c->challenge_ns >= SYN_CHALLENGE_NS) {
            c->challenge_ns = now;
            chimney_tcp_challenge(c);
        }
        return true;
    }
    if (!(seg->flags & TH_ACK)) {
        return true;
    }
    /* PAWS (RFC 7323 5.3): an old timestamp marks an old duplicate */
    if (c->st.ts_enabled && seg->has_ts && c->st.ts_recent &&
        chimney_seq_lt(seg->ts_val, c->st.ts_recent)) {
        chimney_tcp_rare(c)->dup_segs++;
        chimney_tcp_send_ack(c);
        return true;
    }
    if (!chimney_tcp_rx_acceptable(c, seg)) {
        chimney_tcp_rare(c)->dup_segs++;
        if (!c->frozen) {
            chimney_tcp_send_ack(c);
        }
        return true;
    }
    if (chimney_seq_gt(seg->ack, c->st.snd_max)) {
        chimney_tcp_send_ack(c);                    /* acks unsent data */
        return true;
    }
    c->probes_unanswered = 0;
    if (c->st.ts_enabled && seg->has_ts &&
        chimney_seq_leq(seg->seq, c->st.rcv_nxt) &&
        chimney_seq_leq(c->st.rcv_nxt, seg->seq + seg->len)) {
        c->st.ts_recent = seg->ts_val;              /* RFC 7323 4.3 */
    }

    if (chimney_seq_gt(seg->ack, c->st.snd_una)) {
        tcp_new_ack(c, seg);
    } else if (seg->ack == c->st.snd_una && !seg->len &&
               !(seg->flags & TH_FIN) &&
               ((uint32_t)seg->wnd << c->st.snd_wscale) == c->st.snd_wnd &&
               c->st.snd_max != c->st.snd_una && !c->persist) {
        tcp_dup_ack(c);
    }
    /* Window update (RFC 9293 3.10.7.4) */
    if (chimney_seq_lt(c->st.snd_wl1, seg->seq) ||
        (c->st.snd_wl1 == seg->seq && chimney_seq_leq(c->snd_wl2, seg->ack))) {
        /* A window that was open: the persist timer is SWS's, it runs on */
        bool was_zero = !c->st.snd_wnd;

        c->st.snd_wnd = (uint32_t)seg->wnd << c->st.snd_wscale;
        c->st.snd_wl1 = seg->seq;
        c->snd_wl2 = seg->ack;
        c->st.max_snd_wnd = MAX(c->st.max_snd_wnd, c->st.snd_wnd);
        if (c->st.snd_wnd && c->persist && was_zero) {
            c->persist = false;
            c->probes = 0;
            c->probes_unanswered = 0;
            c->st.snd_wnd_probe_count = 0;
            chimney_tcp_timer_set(c, -1);
            if (c->st.snd_una != c->st.snd_max) {
                chimney_tcp_arm_rexmit(c);
            }
        }
    }
    if (c->aborted) {
        return true;
    }
    chimney_tcp_ka_restart(c);
    if (c->fw2_ns >= 0) {
        c->fw2_ns = chimney_tcp_now(c) + FIN_WAIT2_NS;
        chimney_tcp_timers_sync(c);
    }
    chimney_tcp_rx_segment(c, seg, payload);
    c->output_due = true;
    return true;
}

/*
 * A segment from the peer.  Returns false when it is not the engine's
 * (the owner gives it to the host).  Between chimney_tcp_input_begin and
 * _end, output and the timer are left to _end: a burst of ACKs sends
 * once and re-arms once.
 */
bool chimney_tcp_input(ChimneyTcpConn *c, const ChimneyTcpSegment *seg,
                       const uint8_t *payload)
{
    bool ours;

    tcp_ack_flush(c);
    c->in_input = true;
    ours = tcp_input(c, seg, payload);
    if (!c->batching) {
        c->in_input = false;
        if (c->output_due) {
            c->output_due = false;
            chimney_tcp_output(c);
        }
        tcp_ack_flush(c);
    }
    return ours;
}

void chimney_tcp_input_begin(ChimneyTcpConn *c)
{
    c->batching = true;
    c->in_input = true;
}

void chimney_tcp_input_end(ChimneyTcpConn *c)
{
    c->batching = false;
    c->in_input = false;
    if (c->output_due) {
        c->output_due = false;
        chimney_tcp_output(c);
    }
    tcp_ack_flush(c);
    if (c->sync_due) {
        c->sync_due = false;
        chimney_tcp_timers_sync(c);
    }
}

void chimney_tcp_rexmit_timeout(ChimneyTcpConn *c)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);
    uint32_t limit = c->st.max_rt ? c->st.max_rt : s->max_retransmit;

    if (c->upload_requested) {
        return;
    }
    if (c->persist && c->st.snd_wnd) {
        /* The SWS override: what the window takes goes now */
        c->persist = false;
        c->sws_override = true;
        chimney_tcp_output(c);
        c->sws_override = false;
        return;
    }
    if (c->persist) {
        /*
         * Zero-window probe: one byte beyond what the peer allows.  A peer
         * that answers keeps the connection (RFC 9293 3.8.6.1); only
         * unanswered probes count towards the limit.
         */
        if (++c->probes_unanswered > limit) {
            chimney_tcp_request_upload(c, CHIMNEY_TCP_UPLOAD_TIMEOUT);
            return;
        }
        c->probes++;
        c->st.snd_wnd_probe_count = MIN(c->probes, 255);
        chimney_tcp_rare(c)->probes_sent++;
        if (tcp_transmit(c, c->st.snd_una, 1) && c->st.snd_max ==
            c->st.snd_una) {
            c->st.snd_nxt = c->st.snd_max = c->st.snd_una + 1;
        }
        chimney_tcp_arm_persist(c);
        return;
    }
    if (c->st.snd_una == c->st.snd_max) {
        return;
    }
    /* Retransmission timeout (RFC 6298 5.4-5.7, RFC 5681 3.1) */
    if (++c->backoff > limit) {
        chimney_tcp_request_upload(c, CHIMNEY_TCP_UPLOAD_TIMEOUT);
        return;
    }
    chimney_tcp_rare(c)->timeouts++;
    c->st.total_rt++;
    tcp_note(c, CHIMNEY_TCP_NOTE_TIMEOUT, c->backoff, c->rto_ns / 1000);
    c->st.ssthresh = MAX((c->st.snd_max - c->st.snd_una) / 2, 2 * c->mss);
    c->st.cwnd = c->mss;
    c->in_recovery = false;
    c->recover = c->st.snd_max;
    c->rtt_timing = false;                          /* Karn */
    c->st.snd_nxt = c->st.snd_una;
    c->st.dup_ack_count = 0;
    chimney_tcp_arm_rexmit(c);
    chimney_tcp_output(c);
}

/*
 * Upload: the delegated state goes back and every request still queued
 * completes with CHIMNEY_TCP_UPLOADED, the first one with the bytes of it
 * the peer already acknowledged.
 */
void chimney_tcp_terminate(ChimneyTcpConn *c, ChimneyTcpState *out)
{
    chimney_tcp_query(c, out);
    chimney_tcp_timers_stop(c);
    tcp_flush(c, CHIMNEY_TCP_UPLOADED);
    chimney_tcp_rx_flush(c, CHIMNEY_TCP_UPLOADED);
    c->aborted = true;
}

/* Invalidated: the connection sends nothing more until terminated. */
void chimney_tcp_freeze(ChimneyTcpConn *c)
{
    c->frozen = true;
    chimney_tcp_timers_stop(c);
}

/* UPDATE of the path or the cached variables */
void chimney_tcp_set_path_mtu(ChimneyTcpConn *c, uint32_t mtu)
{
    uint32_t hdr = chimney_tcp_ip_hlen(c->route->ipv6) + TCP_HDR_LEN +
                   (c->st.ts_enabled ? TCP_TS_OPT_LEN : 0);

    c->route->path_mtu = mtu;           /* the same for the whole path */
    c->mss = MIN(c->st.remote_mss, mtu - hdr);
}
