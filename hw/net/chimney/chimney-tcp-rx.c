/*
 * chimney-nic: the receive side of the TCP engine
 *
 * Data from the peer is acknowledged once it is in the connection's
 * receive buffer: a ring of rbuf_cap bytes, allocated with the first byte,
 * that holds the in-order bytes not yet delivered and, at their offsets
 * beyond them, out-of-order ranges.  The advertised window is the room
 * left in it, so its memory is bounded.
 *
 * Delivery follows chimney's algorithm (PV/delivery-algorithm), strictly
 * in sequence order: bytes go into the posted receive requests, FIFO; a
 * request completes when full, or, in push mode, on a PSH or when the push
 * timer expires.  With no request posted the bytes are indicated; the
 * driver answers with how many it took and the rest stays here, to be
 * delivered first once it posts a request.  The peer's FIN is indicated
 * (DISCONNECT) only after every byte before it was delivered.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/eth.h"
#include "hw/net/chimney/chimney-tcp-int.h"

void chimney_tcp_rx_init(ChimneyTcpConn *c)
{
    uint32_t want = MAX(c->st.initial_rcv_wnd, c->st.rcv_wnd);

    c->rbuf_cap = want ? MIN(want, CHIMNEY_TCP_RCVBUF_MAX) : 65535;
    c->rcv_deliv = c->st.rcv_nxt;
    c->rcv_adv = c->st.rcv_nxt + c->st.rcv_wnd;
}

/*
 * Zeroed: a migration carries the gaps between out-of-order ranges too,
 * and they must not be whatever the heap held before
 */
static void rx_alloc(ChimneyTcpConn *c)
{
    if (!c->rbuf) {
        c->rbuf = g_malloc0(c->rbuf_cap);
    }
}

/* Copy @len bytes into the ring, @off bytes after its first held byte. */
static void rx_ring_write(ChimneyTcpConn *c, uint32_t off, const uint8_t *data,
                          uint32_t len)
{
    while (len) {
        uint32_t pos = (c->rbuf_head + off) % c->rbuf_cap;
        uint32_t n = MIN(len, c->rbuf_cap - pos);

        memcpy(c->rbuf + pos, data, n);
        off += n;
        data += n;
        len -= n;
    }
}

/* Data handed over at offload (BufferedData): the bytes just before RcvNxt */
bool chimney_tcp_preload(ChimneyTcpConn *c, const uint8_t *data, uint32_t len)
{
    if (len > c->rbuf_cap || c->held) {
        return false;
    }
    if (len) {
        rx_alloc(c);
        rx_ring_write(c, 0, data, len);
    }
    c->held = len;
    c->rcv_deliv = c->st.rcv_nxt - len;
    return true;
}

static void rx_consume(ChimneyTcpConn *c, uint32_t n)
{
    c->rbuf_head = (c->rbuf_head + n) % c->rbuf_cap;
    c->held -= n;
    c->rcv_deliv += n;
    chimney_tcp_count(c, CHIMNEY_TCP_BYTES_DELIVERED, n);
}

static uint32_t rx_space(ChimneyTcpConn *c)
{
    return c->rbuf_cap - c->held;
}

/* What the peer was last told it may send beyond RcvNxt */
static uint32_t rx_advertised(ChimneyTcpConn *c)
{
    return chimney_seq_gt(c->rcv_adv, c->st.rcv_nxt) ?
           c->rcv_adv - c->st.rcv_nxt : 0;
}

uint16_t chimney_tcp_rx_window(ChimneyTcpConn *c)
{
    uint32_t scale = c->st.rcv_wscale;
    uint32_t edge = rx_advertised(c);
    uint32_t wnd = rx_space(c);
    uint16_t field;

    /*
     * Never move the right edge back (RFC 9293 3.8.6.2.2), and open it in
     * steps worth a segment (receiver SWS avoidance, RFC 1122 4.2.3.3).
     */
    if (wnd <= edge || wnd - edge < MIN(c->rbuf_cap / 2, c->mss)) {
        wnd = edge;
    }
    wnd = MIN(wnd, (uint32_t)0xffff << scale);
    field = wnd >> scale;
    c->st.rcv_wnd = (uint32_t)field << scale;
    c->rcv_adv = c->st.rcv_nxt + c->st.rcv_wnd;
    return field;
}

static void rx_advance(ChimneyTcpConn *c, uint32_t n)
{
    c->held += n;
    c->st.rcv_nxt += n;
    chimney_tcp_count(c, CHIMNEY_TCP_BYTES_RCVD, n);
}

/*
 * The first check of RFC 9293 3.10.7.4, as Linux makes it: a segment is
 * acceptable when it ends at or after the RcvNxt last advertised and
 * starts at or before the right edge last advertised.  One that is not
 * gets an ACK and nothing else: its ACK field and window are not looked
 * at, so a segment injected blindly can neither complete a send nor move
 * the send window.
 */
bool chimney_tcp_rx_acceptable(ChimneyTcpConn *c,
                                const ChimneyTcpSegment *seg)
{
    uint32_t wup = c->rcv_adv - c->st.rcv_wnd;
    uint32_t edge = c->rcv_adv;
    uint32_t end = seg->seq + seg->len + !!(seg->flags & TH_FIN);

    if (chimney_seq_gt(wup, c->st.rcv_nxt)) {
        wup = c->st.rcv_nxt;
    }
    if (chimney_seq_lt(edge, c->st.rcv_nxt)) {
        edge = c->st.rcv_nxt;
    }
    return chimney_seq_leq(wup, end) && chimney_seq_leq(seg->seq, edge);
}

/* Record [start, end) as held out of order; false when the table is full */
static bool rx_ooo_add(ChimneyTcpConn *c, uint32_t start, uint32_t end)
{
    ChimneyTcpRange *r;
    uint32_t i = 0, j;

    if (!c->ooo) {
        /*
         * only while data is out of order (rx_ooo_merge frees it);
         * zeroed: the migration stream carries all of its entries
         */
        c->ooo = g_new0(ChimneyTcpRange, CHIMNEY_TCP_OOO_MAX);
    }
    r = c->ooo;

    while (i < c->ooo_count && chimney_seq_lt(r[i].end, start)) {
        i++;
    }
    if (i < c->ooo_count && chimney_seq_leq(r[i].start, end)) {
        /* It touches range i: merge, and whatever it now reaches */
        if (chimney_seq_lt(start, r[i].start)) {
            r[i].start = start;
        }
        if (chimney_seq_gt(end, r[i].end)) {
            r[i].end = end;
        }
        for (j = i + 1; j < c->ooo_count &&
                        chimney_seq_leq(r[j].start, r[i].end); j++) {
            if (chimney_seq_gt(r[j].end, r[i].end)) {
                r[i].end = r[j].end;
            }
        }
        memmove(&r[i + 1], &r[j], (c->ooo_count - j) * sizeof(*r));
        c->ooo_count -= j - i - 1;
        return true;
    }
    if (c->ooo_count == CHIMNEY_TCP_OOO_MAX) {
        return false;
    }
    memmove(&r[i + 1], &r[i], (c->ooo_count - i) * sizeof(*r));
    r[i] = (ChimneyTcpRange) { start, end };
    c->ooo_count++;
    return true;
}

/* The gap before the first held range closed: it is in order now */
static bool rx_ooo_merge(ChimneyTcpConn *c)
{
    bool merged = false;

    while (c->ooo_count && chimney_seq_leq(c->ooo[0].start, c->st.rcv_nxt)) {
        if (chimney_seq_gt(c->ooo[0].end, c->st.rcv_nxt)) {
            rx_advance(c, c->ooo[0].end - c->st.rcv_nxt);
        }
        c->ooo_count--;
        memmove(&c->ooo[0], &c->ooo[1], c->ooo_count * sizeof(c->ooo[0]));
        merged = true;
    }
    if (!c->ooo_count) {
        g_free(c->ooo);
        c->ooo = NULL;
    }
    return merged;
}

/* The peer's FIN is in sequence: its half is closed. */
static void rx_peer_fin(ChimneyTcpConn *c)
{
    c->fin_rcvd = true;
    c->st.rcv_nxt++;
    switch (c->st.state) {
    case CHIMNEY_TCPS_ESTABLISHED:
        chimney_tcp_set_state(c, CHIMNEY_TCPS_CLOSE_WAIT);
        break;
    case CHIMNEY_TCPS_FIN_WAIT1:
        chimney_tcp_set_state(c, CHIMNEY_TCPS_CLOSING);
        break;
    case CHIMNEY_TCPS_FIN_WAIT2:
        chimney_tcp_set_state(c, CHIMNEY_TCPS_TIME_WAIT);
        break;
    }
}

/* ACK now, or once TcpAckFrequency segments wait or the delay ends. */
static void rx_ack_later(ChimneyTcpConn *c)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);

    if (++c->segs_unacked >= s->ack_frequency || !s->delack_ns) {
        chimney_tcp_ack_due(c);
    } else if (c->delack_ns < 0) {
        c->acks_delayed++;
        c->delack_ns = chimney_tcp_now(c) + s->delack_ns;
        chimney_tcp_timers_sync(c);
    }
}

void chimney_tcp_rx_segment(ChimneyTcpConn *c, const ChimneyTcpSegment *seg,
                            const uint8_t *payload)
{
    uint32_t seq = seg->seq, len = seg->len, off, room;
    bool fin = seg->flags & TH_FIN;
    bool gap_filled;

    if (c->frozen || c->rcv_urgent) {
        /* Frozen or urgent: nothing is acknowledged; the host takes it */
        return;
    }
    if (!len && !fin) {
        /*
         * A bare ACK outside the window is a probe (zero window, keepalive)
         * and gets an ACK with our window (RFC 9293 3.10.7.4): that is how
         * a peer learns of a window update that was lost.
         */
        uint32_t edge = c->st.rcv_nxt + c->st.rcv_wnd;

        if (c->st.rcv_wnd ? !chimney_seq_leq(c->st.rcv_nxt, seq) ||
                            !chimney_seq_lt(seq, edge) :
                            seq != c->st.rcv_nxt) {
            chimney_tcp_send_ack(c);
        }
        return;
    }
    if (c->fin_rcvd) {
        chimney_tcp_send_ack(c);            /* a retransmission: re-ACK */
        return;
    }
    /* Old duplicate: re-ACK it (RFC 9293 3.10.7.4) */
    if (chimney_seq_leq(seq + len, c->st.rcv_nxt) &&
        !(fin && seq + len == c->st.rcv_nxt)) {
        chimney_tcp_rare(c)->dup_segs++;
        chimney_tcp_send_ack(c);
        return;
    }
    if (chimney_seq_lt(seq, c->st.rcv_nxt)) {
        uint32_t d = c->st.rcv_nxt - seq;

        seq += d;
        payload += d;
        len -= d;
    }
    if ((seg->flags & TH_URG) && len) {
        /* Urgent data is the host's: not ACKed, upload (mandatory) */
        c->rcv_urgent = true;
        chimney_tcp_request_upload(c, CHIMNEY_TCP_UPLOAD_URGENT_DATA);
        return;
    }
    off = seq - c->st.rcv_nxt;
    room = rx_space(c);
    if (off > room || (off == room && len)) {
        chimney_tcp_send_ack(c);            /* beyond the window */
        return;
    }
    if (len > room - off) {
        len = room - off;                   /* the rest comes again */
        fin = false;
    }
    if (len) {
        rx_alloc(c);
        rx_ring_write(c, c->held + off, payload, len);
    }
    if (off) {
        /* Out of order: keep it, answer with a duplicate ACK (RFC 5681) */
        chimney_tcp_rare(c)->ooo_segs++;
        if ((!len || rx_ooo_add(c, seq, seq + len)) && fin) {
            c->ooo_fin = true;
            c->ooo_fin_seq = seq + len;
        }
        chimney_tcp_send_ack(c);
        return;
    }
    rx_advance(c, len);
    if (seg->flags & TH_PUSH) {
        c->psh_pending = true;
        c->psh_seq = c->st.rcv_nxt;
    }
    gap_filled = rx_ooo_merge(c);
    if (c->ooo_fin && c->ooo_fin_seq == c->st.rcv_nxt) {
        c->ooo_fin = false;
        fin = true;
    } else if (fin && seq + len != c->st.rcv_nxt) {
        fin = false;
    }
    if (fin) {
        rx_peer_fin(c);
    }
    chimney_tcp_deliver(c);
    /* A FIN or a filled gap is ACKed at once (RFC 5681 4.2) */
    if (fin || gap_filled) {
        chimney_tcp_send_ack(c);
    } else {
        rx_ack_later(c);
    }
}

/*
 * TIME_WAIT is the host's to run: once the peer's FIN was indicated, ask
 * for the connection back.
 */
void chimney_tcp_rx_time_wait(ChimneyTcpConn *c)
{
    if (c->st.state == CHIMNEY_TCPS_TIME_WAIT && c->rcv_shut) {
        chimney_tcp_request_upload(c, CHIMNEY_TCP_UPLOAD_TIMEOUT);
    }
}

static void rx_complete_head(ChimneyTcpConn *c, int status)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);
    ChimneyTcpRecv r = c->recvs[c->rhead];

    c->rhead = (c->rhead + 1) % c->rcap;
    c->rcount--;
    if (c->push_ns >= 0) {
        c->push_ns = -1;                    /* it was that request's */
        chimney_tcp_timers_sync(c);
    }
    s->ops->recv_complete(s->opaque, c, &r, status);
}

/* Copy @n held bytes into @r, after what it holds already. */
static bool rx_place(ChimneyTcpConn *c, ChimneyTcpRecv *r, uint32_t n)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);
    uint32_t first = MIN(n, c->rbuf_cap - c->rbuf_head);

    return s->ops->write_data(s->opaque, c, r, r->filled,
                              c->rbuf + c->rbuf_head, first) &&
           (first == n ||
            s->ops->write_data(s->opaque, c, r, r->filled + first,
                               c->rbuf, n - first));
}

/* Run the delivery algorithm until it can go no further. */
void chimney_tcp_deliver(ChimneyTcpConn *c)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);

    if (c->aborted) {
        return;
    }
    while (c->rcount && !c->ind_outstanding) {
        ChimneyTcpRecv *r = &c->recvs[c->rhead];
        uint32_t n;

        if (!r->len) {
            rx_complete_head(c, CHIMNEY_TCP_OK);
            continue;
        }
        if (!c->held) {
            break;
        }
        n = MIN(c->held, r->len - r->filled);
        if (!rx_place(c, r, n)) {
            rx_complete_head(c, CHIMNEY_TCP_DMA_ERROR);
            continue;
        }
        r->filled += n;
        rx_consume(c, n);
        if (r->filled == r->len) {
            rx_complete_head(c, CHIMNEY_TCP_OK);
            continue;
        }
        /* Partly filled: more data, a PSH or the push timer ends it */
        if (!r->no_push) {
            if (c->psh_pending && chimney_seq_geq(c->rcv_deliv, c->psh_seq)) {
                c->psh_pending = false;
                rx_complete_head(c, CHIMNEY_TCP_OK);
                continue;
            }
            c->push_ns = chimney_tcp_now(c) + s->push_ns;
            chimney_tcp_timers_sync(c);
        }
        break;
    }
    if (c->psh_pending && chimney_seq_geq(c->rcv_deliv, c->psh_seq)) {
        c->psh_pending = false;
    }
    /* Nothing posted: indicate, one offer at a time */
    if (c->held && !c->rcount && !c->ind_outstanding && !c->ind_refused) {
        uint32_t n = MIN(c->held, c->rbuf_cap - c->rbuf_head);

        if (c->st.rcv_indication_size) {
            n = MIN(n, c->st.rcv_indication_size);
        }
        c->ind_outstanding = s->ops->indicate(s->opaque, c,
                                              c->rbuf + c->rbuf_head, n,
                                              c->rcv_deliv);
    }
    /* The data before the peer's FIN is all delivered: DISCONNECT */
    if (c->fin_rcvd && !c->held && !c->ind_outstanding && !c->rcv_shut) {
        c->rcv_shut = true;
        while (c->rcount) {
            rx_complete_head(c, CHIMNEY_TCP_OK);
        }
        chimney_tcp_raise(c, CHIMNEY_TCP_EV_DISCONNECT, 0);
        chimney_tcp_rx_time_wait(c);
        return;
    }
    /*
     * Window update when the room is at least twice what the peer was
     * told and a segment more: a peer held back by a small window learns
     * at once, a streaming one from the ACKs it gets anyway.
     */
    if (!c->fin_rcvd && !c->frozen && !c->rcv_urgent &&
        rx_space(c) / 2 >= rx_advertised(c) &&
        rx_space(c) - rx_advertised(c) >= c->mss) {
        chimney_tcp_send_ack(c);
    }
}

bool chimney_tcp_recv_post(ChimneyTcpConn *c, const ChimneyTcpRecv *rcv)
{
    ChimneyTcpRecv r = *rcv;

    r.filled = 0;
    if (c->aborted || c->rcv_shut) {
        /* After an abort, or posted after the DISCONNECT indication */
        chimney_tcp_stack(c)->ops->recv_complete(
            chimney_tcp_stack(c)->opaque, c, &r,
            c->aborted ? CHIMNEY_TCP_ABORTED : CHIMNEY_TCP_INVALID_STATE);
        return true;
    }
    if (c->rcount == c->rcap) {
        return false;
    }
    c->recvs[(c->rhead + c->rcount) % c->rcap] = r;
    c->rcount++;
    c->ind_refused = false;                 /* a post re-enables indications */
    chimney_tcp_deliver(c);
    return true;
}

/*
 * The driver took @taken of the bytes last indicated; it keeps them.  The
 * rest stays held and no indication follows until a request is posted.
 */
bool chimney_tcp_indicate_done(ChimneyTcpConn *c, uint32_t taken)
{
    uint32_t offered = c->ind_outstanding;

    if (!offered || taken > offered) {
        return false;
    }
    c->ind_outstanding = 0;
    rx_consume(c, taken);
    chimney_tcp_count(c, CHIMNEY_TCP_BYTES_INDICATED, taken);
    if (taken < offered) {
        c->ind_refused = true;
    }
    chimney_tcp_deliver(c);
    return true;
}

/* Abort or upload: every posted request leaves with what it holds. */
void chimney_tcp_rx_flush(ChimneyTcpConn *c, int status)
{
    while (c->rcount) {
        rx_complete_head(c, status);
    }
}

void chimney_tcp_rx_timers(ChimneyTcpConn *c, int64_t now)
{
    if (c->delack_ns >= 0 && c->delack_ns <= now) {
        c->delack_ns = -1;
        chimney_tcp_send_ack(c);
    }
    if (c->push_ns >= 0 && c->push_ns <= now) {
        c->push_ns = -1;
        if (c->rcount && c->recvs[c->rhead].filled &&
            !c->recvs[c->rhead].no_push) {
            rx_complete_head(c, CHIMNEY_TCP_OK);
            chimney_tcp_deliver(c);
        }
    }
}

/*
 * UPDATE of InitialRcvWnd (TCP_FLAG_UPDATE_RCV_WND): a larger buffer opens
 * the window at once.  The buffer never shrinks, so neither does the
 * window already advertised.
 */
void chimney_tcp_set_rcv_wnd(ChimneyTcpConn *c, uint32_t wnd)
{
    uint32_t cap = MIN(wnd, CHIMNEY_TCP_RCVBUF_MAX);

    c->st.initial_rcv_wnd = wnd;
    if (cap <= c->rbuf_cap) {
        return;
    }
    if (c->rbuf) {
        /* Unroll the ring: held bytes and out-of-order ranges keep offsets */
        uint8_t *n = g_malloc(cap);
        uint32_t first = c->rbuf_cap - c->rbuf_head;

        memcpy(n, c->rbuf + c->rbuf_head, first);
        memcpy(n + first, c->rbuf, c->rbuf_head);
        g_free(c->rbuf);
        c->rbuf = n;
        c->rbuf_head = 0;
    }
    c->rbuf_cap = cap;
    chimney_tcp_deliver(c);
}

/* Received data not yet delivered: it goes back to the host on upload. */
uint32_t chimney_tcp_held(const ChimneyTcpConn *c)
{
    return c->held;
}

void chimney_tcp_copy_held(const ChimneyTcpConn *c, uint8_t *buf)
{
    uint32_t first = MIN(c->held, c->rbuf_cap - c->rbuf_head);

    if (!c->held) {
        return;
    }
    memcpy(buf, c->rbuf + c->rbuf_head, first);
    memcpy(buf + first, c->rbuf, c->held - first);
}
