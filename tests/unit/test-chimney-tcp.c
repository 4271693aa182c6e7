/*
 * Unit tests of the chimney-nic TCP engine
 *
 * The engine runs with a fake clock; the test is the peer.  Frames the
 * engine emits are parsed (checksums included) and kept; the peer answers
 * with ACKs, windows, RSTs and FINs.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/eth.h"
#include "net/checksum.h"
#include "qemu/iov.h"
#include "hw/net/chimney/chimney-tcp.h"

#define MS  1000000LL
#define SEC (1000 * MS)

typedef struct Sent {
    uint32_t seq, len, ack;
    uint8_t flags;
    uint16_t ip_id, ip_off, wnd;
    uint32_t ts_val;
    bool has_ts;
    uint8_t first_byte, last_byte;
} Sent;

typedef struct Done {
    uint64_t cookie;
    int status;
    uint32_t bytes;
    uint16_t type;
} Done;

/* A receive request that left the engine */
typedef struct RDone {
    uint64_t cookie;
    int status;
    uint32_t filled;
} RDone;

#define RQ_SLOTS    64
#define RQ_BUF_MAX  65536

typedef struct Peer {
    ChimneyTcpStack stack;
    ChimneyTcpConn conn;
    ChimneyTcpRoute route;      /* the owner's, as a device's path has it */
    ChimneyTcpReq reqs[256];
    ChimneyTcpRecv recvs[RQ_SLOTS];
    uint8_t *rmem[RQ_SLOTS];    /* the buffer of each receive, by tag */
    uint32_t next_tag;
    GArray *rdone;              /* RDone */
    GByteArray *stream;         /* every byte delivered, in order */
    GByteArray *offered;        /* the bytes of the last indication */
    uint32_t ind_room;          /* a generic buffer's size; 0: none */
    uint32_t indications;
    uint32_t ind_seq;
    uint64_t bad_rcv_cookie;
    int64_t now;
    int64_t timer;
    uint32_t timer_mods;
    GArray *sent;       /* Sent */
    GArray *done;       /* Done */
    GArray *events;     /* int: event << 16 | info */
    uint64_t bad_cookie;
    uint32_t tx_waits;  /* output held by the stack's tx_blocked */
} Peer;

static uint8_t pattern(uint64_t cookie, uint32_t off)
{
    return cookie * 131 + off * 7;
}

static int64_t p_now(void *opaque)
{
    return ((Peer *)opaque)->now;
}

static void p_timer(void *opaque, ChimneyTcpConn *c, int64_t expire)
{
    ((Peer *)opaque)->timer = expire;
    ((Peer *)opaque)->timer_mods++;
}

static bool p_read(void *opaque, ChimneyTcpConn *c, const ChimneyTcpReq *req,
                   uint32_t off, uint8_t *buf, uint32_t len)
{
    Peer *p = opaque;

    g_assert_cmpuint(off + len, <=, req->len);
    if (p->bad_cookie && req->cookie == p->bad_cookie) {
        return false;
    }
    for (uint32_t i = 0; i < len; i++) {
        buf[i] = pattern(req->cookie, off + i);
    }
    return true;
}

static void p_emit(void *opaque, ChimneyTcpConn *c, const uint8_t *frame,
                   size_t len)
{
    Peer *p = opaque;
    ChimneyTcpTuple t;
    ChimneyTcpSegment seg;
    const uint8_t *payload;
    Sent s = { 0 };

    /* Every frame must parse, checksums included */
    g_assert(chimney_tcp_parse(frame, len, &t, &seg, &payload));
    g_assert_cmpuint(t.src_port, ==, 1234);
    g_assert_cmpuint(t.dst_port, ==, 80);
    s.seq = seg.seq;
    s.len = seg.len;
    s.ack = seg.ack;
    s.flags = seg.flags;
    s.wnd = seg.wnd;
    s.has_ts = seg.has_ts;
    s.ts_val = seg.ts_val;
    s.ip_id = lduw_be_p(frame + ETH_HLEN + 4);
    s.ip_off = lduw_be_p(frame + ETH_HLEN + 6);
    if (seg.len) {
        s.first_byte = payload[0];
        s.last_byte = payload[seg.len - 1];
    }
    g_array_append_val(p->sent, s);
}

static void p_complete(void *opaque, ChimneyTcpConn *c,
                       const ChimneyTcpReq *req, int status, uint32_t bytes)
{
    Peer *p = opaque;
    Done d = { req->cookie, status, bytes, req->type };

    g_array_append_val(p->done, d);
}

static void p_event(void *opaque, ChimneyTcpConn *c, int event, uint32_t info)
{
    int e = event << 16 | info;

    g_array_append_val(((Peer *)opaque)->events, e);
}

static bool p_write(void *opaque, ChimneyTcpConn *c,
                    const ChimneyTcpRecv *rcv, uint32_t off,
                    const uint8_t *buf, uint32_t len)
{
    Peer *p = opaque;

    g_assert_cmpuint(off + len, <=, rcv->len);
    if (p->bad_rcv_cookie && rcv->cookie == p->bad_rcv_cookie) {
        return false;
    }
    memcpy(p->rmem[rcv->tag] + off, buf, len);
    return true;
}

static void p_recv_complete(void *opaque, ChimneyTcpConn *c,
                            const ChimneyTcpRecv *rcv, int status)
{
    Peer *p = opaque;
    RDone d = { rcv->cookie, status, rcv->filled };

    g_array_append_val(p->rdone, d);
    if (status == CHIMNEY_TCP_OK || status == CHIMNEY_TCP_ABORTED ||
        status == CHIMNEY_TCP_UPLOADED) {
        g_byte_array_append(p->stream, p->rmem[rcv->tag], rcv->filled);
    }
    g_free(p->rmem[rcv->tag]);
    p->rmem[rcv->tag] = NULL;
}

static uint32_t p_indicate(void *opaque, ChimneyTcpConn *c,
                           const uint8_t *data, uint32_t len, uint32_t seq)
{
    Peer *p = opaque;
    uint32_t n = MIN(len, p->ind_room);

    if (!n) {
        return 0;
    }
    p->indications++;
    p->ind_seq = seq;
    g_byte_array_set_size(p->offered, 0);
    g_byte_array_append(p->offered, data, n);
    return n;
}

static void p_tx_wait(void *opaque, ChimneyTcpConn *c)
{
    ((Peer *)opaque)->tx_waits++;
}

static const ChimneyTcpOps peer_ops = {
    .now_ns = p_now,
    .timer_mod = p_timer,
    .read_data = p_read,
    .emit = p_emit,
    .complete = p_complete,
    .event = p_event,
    .write_data = p_write,
    .recv_complete = p_recv_complete,
    .indicate = p_indicate,
    .tx_wait = p_tx_wait,
};

static ChimneyTcpState default_state(uint32_t isn)
{
    ChimneyTcpState st = {
        .src_mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
        .dst_mac = { 0x52, 0x55, 0, 0, 0, 1 },
        .src_ip = cpu_to_be32(0x0a00020f),
        .dst_ip = cpu_to_be32(0x0a000202),
        .path_mtu = 1500,
        .local_port = 1234,
        .remote_port = 80,
        .remote_mss = 1000,
        .ttl = 64,
        .initial_rcv_wnd = 65535,
        .state = CHIMNEY_TCPS_ESTABLISHED,
        .rcv_nxt = 5000,
        .rcv_wnd = 65535,
        .snd_una = isn,
        .snd_nxt = isn,
        .snd_max = isn,
        .snd_wnd = 1 << 20,
        .max_snd_wnd = 1 << 20,
        .snd_wl1 = 4999,
        .cwnd = 1 << 20,
        .ssthresh = 1 << 20,
        .rexmit_delta = -1,
    };
    return st;
}

static Peer *peer_new_state(const ChimneyTcpState *st)
{
    Peer *p = g_new0(Peer, 1);

    p->sent = g_array_new(false, true, sizeof(Sent));
    p->done = g_array_new(false, true, sizeof(Done));
    p->events = g_array_new(false, true, sizeof(int));
    p->rdone = g_array_new(false, true, sizeof(RDone));
    p->stream = g_byte_array_new();
    p->offered = g_byte_array_new();
    p->timer = -1;
    p->now = 1000 * SEC;
    chimney_tcp_stack_init(&p->stack, &peer_ops, p);
    g_assert_null(chimney_tcp_state_check(st));
    chimney_tcp_route_init(&p->route, st);
    chimney_tcp_conn_init(&p->conn, &p->stack, st, &p->route, p->reqs,
                          ARRAY_SIZE(p->reqs), p->recvs, RQ_SLOTS);
    return p;
}

static Peer *peer_new(uint32_t isn)
{
    ChimneyTcpState st = default_state(isn);
    Peer *p = peer_new_state(&st);

    chimney_tcp_start(&p->conn);
    return p;
}

static void peer_free(Peer *p)
{
    chimney_tcp_conn_destroy(&p->conn);
    for (int i = 0; i < RQ_SLOTS; i++) {
        g_free(p->rmem[i]);
    }
    g_array_free(p->rdone, true);
    g_byte_array_free(p->stream, true);
    g_byte_array_free(p->offered, true);
    g_array_free(p->sent, true);
    g_array_free(p->done, true);
    g_array_free(p->events, true);
    g_free(p);
}

static Sent *sent(Peer *p, guint i)
{
    g_assert_cmpuint(i, <, p->sent->len);
    return &g_array_index(p->sent, Sent, i);
}

static Done *done(Peer *p, guint i)
{
    g_assert_cmpuint(i, <, p->done->len);
    return &g_array_index(p->done, Done, i);
}

static void post(Peer *p, uint64_t cookie, uint32_t len, uint16_t flags)
{
    ChimneyTcpReq r = {
        .cookie = cookie, .len = len, .type = CHIMNEY_TCP_REQ_SEND,
        .flags = flags,
    };

    g_assert(chimney_tcp_post(&p->conn, &r));
}

static void disconnect(Peer *p, uint64_t cookie, bool abortive)
{
    ChimneyTcpReq r = {
        .cookie = cookie, .type = CHIMNEY_TCP_REQ_DISCONNECT,
        .flags = abortive ? CHIMNEY_TCP_REQ_ABORTIVE : 0,
    };

    g_assert(chimney_tcp_post(&p->conn, &r));
}

/* The peer sends a segment: seq is its own, rcv_nxt of the engine. */
static void segment(Peer *p, uint32_t ack, uint32_t wnd, uint8_t flags,
                    uint32_t seq, uint32_t len)
{
    ChimneyTcpSegment s = {
        .seq = seq, .ack = ack, .flags = flags, .wnd = wnd, .len = len,
    };

    g_assert(!len);
    chimney_tcp_input(&p->conn, &s, NULL);
}

static uint8_t peer_byte(uint32_t seq)
{
    return seq * 13 + 7;
}

/* The peer sends @len bytes of its stream at @seq, acking our SndUna. */
static bool data(Peer *p, uint32_t seq, uint32_t len, uint8_t flags)
{
    g_autofree uint8_t *buf = g_malloc(len + 1);
    ChimneyTcpSegment s = {
        .seq = seq, .ack = p->conn.st.snd_una, .flags = TH_ACK | flags,
        .wnd = 65535, .len = len,
    };

    for (uint32_t i = 0; i < len; i++) {
        buf[i] = peer_byte(seq + i);
    }
    return chimney_tcp_input(&p->conn, &s, buf);
}

static void rpost(Peer *p, uint64_t cookie, uint32_t len, bool no_push)
{
    uint32_t tag = p->next_tag++ % RQ_SLOTS;
    ChimneyTcpRecv r = {
        .cookie = cookie, .len = len, .tag = tag, .no_push = no_push,
    };

    g_assert_null(p->rmem[tag]);
    p->rmem[tag] = g_malloc0(MAX(len, 1));
    g_assert(chimney_tcp_recv_post(&p->conn, &r));
}

static RDone *rdone(Peer *p, guint i)
{
    g_assert_cmpuint(i, <, p->rdone->len);
    return &g_array_index(p->rdone, RDone, i);
}

/* What was delivered is the peer's stream from @seq, byte for byte. */
static void check_stream(Peer *p, uint32_t seq, uint32_t len)
{
    g_assert_cmpuint(p->stream->len, ==, len);
    for (uint32_t i = 0; i < len; i++) {
        g_assert_cmpuint(p->stream->data[i], ==, peer_byte(seq + i));
    }
}

static Sent *last_sent(Peer *p)
{
    return sent(p, p->sent->len - 1);
}

static int event(Peer *p, guint i)
{
    g_assert_cmpuint(i, <, p->events->len);
    return g_array_index(p->events, int, i);
}

static void ack(Peer *p, uint32_t ack, uint32_t wnd)
{
    segment(p, ack, wnd, TH_ACK, p->conn.st.rcv_nxt, 0);
}

/* Run the clock forward, firing the timer when it is due. */
static void advance(Peer *p, int64_t ns)
{
    int64_t end = p->now + ns;

    while (p->timer >= 0 && p->timer <= end) {
        p->now = p->timer;
        p->timer = -1;
        chimney_tcp_timer(&p->conn);
    }
    p->now = end;
}

/* Completions come only with the ACK that covers the last byte. */
static void test_complete_on_ack(void)
{
    Peer *p = peer_new(1000);

    post(p, 1, 3000, CHIMNEY_TCP_REQ_PUSH);
    g_assert_cmpuint(p->sent->len, ==, 3);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpuint(sent(p, i)->seq, ==, 1000 + i * 1000);
        g_assert_cmpuint(sent(p, i)->len, ==, 1000);
        g_assert_cmpuint(sent(p, i)->first_byte, ==, pattern(1, i * 1000));
        g_assert_cmpuint(sent(p, i)->ack, ==, 5000);
        /* PSH only on the request's last segment */
        g_assert_cmpint(!!(sent(p, i)->flags & TH_PUSH), ==, i == 2);
    }
    ack(p, 2000, 65535);
    ack(p, 3999, 65535);
    g_assert_cmpuint(p->done->len, ==, 0);
    ack(p, 4000, 65535);
    g_assert_cmpuint(p->done->len, ==, 1);
    g_assert_cmpuint(done(p, 0)->cookie, ==, 1);
    g_assert_cmpint(done(p, 0)->status, ==, CHIMNEY_TCP_OK);
    g_assert_cmpuint(done(p, 0)->bytes, ==, 3000);
    g_assert_cmpint(p->timer, ==, -1);
    peer_free(p);
}

/*
 * While the owner's backend holds a frame (tx_blocked) no data goes out
 * and the owner is told; output afterwards sends it all.  The
 * retransmission timer still runs: a timeout while held sends nothing
 * and backs off.
 */
static void test_tx_blocked(void)
{
    Peer *p = peer_new(1000);

    post(p, 1, 2000, 0);
    g_assert_cmpuint(p->sent->len, ==, 2);
    p->stack.tx_blocked = true;
    post(p, 2, 3000, CHIMNEY_TCP_REQ_PUSH);
    g_assert_cmpuint(p->sent->len, ==, 2);
    g_assert_cmpuint(p->tx_waits, ==, 1);
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 3000);
    /* an ACK still comes in; the data still waits */
    ack(p, 3000, 65535);
    g_assert_cmpuint(p->done->len, ==, 1);
    g_assert_cmpuint(p->sent->len, ==, 2);
    g_assert_cmpuint(p->tx_waits, ==, 2);
    p->stack.tx_blocked = false;
    chimney_tcp_output(&p->conn);
    g_assert_cmpuint(p->sent->len, ==, 5);
    g_assert_cmpuint(sent(p, 2)->seq, ==, 3000);
    g_assert_cmpuint(sent(p, 4)->first_byte, ==, pattern(2, 2000));
    /* a timeout while held: nothing sent, the timer backs off */
    p->stack.tx_blocked = true;
    advance(p, 2 * SEC);
    g_assert_cmpuint(p->sent->len, ==, 5);
    g_assert_cmpuint(p->conn.backoff, ==, 1);
    g_assert_cmpint(p->timer, >, p->now);
    p->stack.tx_blocked = false;
    chimney_tcp_output(&p->conn);
    g_assert_cmpuint(p->sent->len, ==, 6);
    g_assert_cmpuint(sent(p, 5)->seq, ==, 3000);
    ack(p, 6000, 65535);
    g_assert_cmpuint(p->done->len, ==, 2);
    g_assert_cmpint(done(p, 1)->status, ==, CHIMNEY_TCP_OK);
    peer_free(p);
}

/* Many requests: each completes in order, exactly when covered. */
static void test_ordering(void)
{
    Peer *p = peer_new(1);
    uint32_t end[60], seq = 1, acked = 1;
    GRand *r = g_rand_new_with_seed(7);
    guint expect = 0;

    for (int i = 0; i < 60; i++) {
        uint32_t len = g_rand_int_range(r, 1, 4000);

        post(p, 100 + i, len, 0);
        seq += len;
        end[i] = seq;
    }
    while (acked != seq) {
        acked = MIN(seq, acked + g_rand_int_range(r, 1, 3000));
        ack(p, acked, 65535);
        while (expect < 60 && chimney_seq_leq(end[expect], acked)) {
            expect++;
        }
        g_assert_cmpuint(p->done->len, ==, expect);
    }
    for (int i = 0; i < 60; i++) {
        g_assert_cmpuint(done(p, i)->cookie, ==, 100 + i);
        g_assert_cmpuint(done(p, i)->bytes, ==,
                         end[i] - (i ? end[i - 1] : 1));
    }
    g_rand_free(r);
    peer_free(p);
}

/*
 * The traffic counters count on past 2^32 (their upper halves come with
 * the rare-event block), and a connection that never lost a segment
 * holds no rare-event block.
 */
static void test_counters(void)
{
    Peer *p = peer_new(0);

    post(p, 1, 3000, CHIMNEY_TCP_REQ_PUSH);
    ack(p, 3000, 65535);
    g_assert_cmpuint(p->done->len, ==, 1);
    g_assert_null(p->conn.rare);
    g_assert_cmpuint(chimney_tcp_ctr(&p->conn, CHIMNEY_TCP_BYTES_ACKED), ==,
                     3000);
    g_assert_cmpuint(chimney_tcp_ctr(&p->conn, CHIMNEY_TCP_SEGS_OUT), ==, 3);
    g_assert_cmpuint(chimney_tcp_ctr(&p->conn, CHIMNEY_TCP_SEGS_IN), ==, 1);
    chimney_tcp_ctr_set(&p->conn, CHIMNEY_TCP_BYTES_ACKED, 0xfffff000);
    g_assert_null(p->conn.rare);
    post(p, 2, 8192, CHIMNEY_TCP_REQ_PUSH);
    ack(p, 3000 + 8192, 65535);
    g_assert_cmpuint(p->done->len, ==, 2);
    g_assert_nonnull(p->conn.rare);
    g_assert_cmphex(chimney_tcp_ctr(&p->conn, CHIMNEY_TCP_BYTES_ACKED), ==,
                    0xfffff000ull + 8192);
    g_assert_cmpuint(chimney_tcp_rare_get(&p->conn)->retransmits, ==, 0);
    chimney_tcp_ctr_set(&p->conn, CHIMNEY_TCP_SEGS_OUT, 5ull << 32 | 7);
    g_assert_cmphex(chimney_tcp_ctr(&p->conn, CHIMNEY_TCP_SEGS_OUT), ==,
                    5ull << 32 | 7);
    peer_free(p);
}

/* Segment size: min(remote MSS, path MTU - headers), timestamps counted */
static void test_segmentation(void)
{
    ChimneyTcpState st = default_state(0);
    Peer *p;

    st.remote_mss = 1460;
    st.path_mtu = 1400;
    st.ts_enabled = true;
    st.ts_time = 777;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    post(p, 9, 5000, 0);
    g_assert_cmpuint(p->conn.mss, ==, 1400 - 20 - 20 - 12);
    g_assert_cmpuint(sent(p, 0)->len, ==, 1348);
    g_assert(sent(p, 0)->has_ts);
    g_assert_cmpuint(sent(p, 0)->ts_val, ==, 777);
    for (guint i = 0; i < p->sent->len; i++) {
        /* DF, no fragments, IDs from the target's half */
        g_assert_cmphex(sent(p, i)->ip_off, ==, IP_DF);
        g_assert_cmphex(sent(p, i)->ip_id, >=, 0x8000);
    }
    peer_free(p);
}

static void test_ip_id_wrap(void)
{
    Peer *p = peer_new(0);

    p->stack.ip_id = 0xfffe;
    post(p, 1, 3000, 0);
    g_assert_cmphex(sent(p, 0)->ip_id, ==, 0xfffe);
    g_assert_cmphex(sent(p, 1)->ip_id, ==, 0xffff);
    g_assert_cmphex(sent(p, 2)->ip_id, ==, 0x8000);
    peer_free(p);
}

/* The peer's window limits what is in flight; a window update sends more */
static void test_window_limit(void)
{
    ChimneyTcpState st = default_state(0);
    Peer *p;

    st.snd_wnd = 2500;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    post(p, 1, 10000, 0);
    /* the window's 500-byte tail is silly (RFC 1122 4.2.3.4): it waits */
    g_assert_cmpuint(p->sent->len, ==, 2);
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 2000);
    ack(p, 2000, 2500);
    g_assert_cmpuint(p->sent->len, ==, 4);
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 4000);
    peer_free(p);
}

/*
 * Sender SWS avoidance with Nagle off: a peer window that is not a
 * multiple of the MSS never splits the stream into a short segment and a
 * sliver; only the end of the data may be short.
 */
static void test_sws_window_edge(void)
{
    ChimneyTcpState st = default_state(0);
    uint32_t total = 4 * 65536, mss = 1460;
    Peer *p;

    st.remote_mss = mss;
    st.snd_wnd = st.max_snd_wnd = 65535;        /* 44 MSS + 1295 */
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    for (int i = 0; i < 4; i++) {
        post(p, i + 1, 65536, CHIMNEY_TCP_REQ_PUSH);
    }
    while (p->conn.st.snd_una != total) {
        g_assert_cmpuint(p->conn.st.snd_nxt, !=, p->conn.st.snd_una);
        ack(p, p->conn.st.snd_nxt, 65535);
    }
    g_assert_cmpuint(p->done->len, ==, 4);
    g_assert_cmpuint(chimney_tcp_rare_get(&p->conn)->retransmits, ==, 0);
    for (guint i = 0; i < p->sent->len; i++) {
        Sent *s = sent(p, i);

        if (s->len != mss) {
            /* the last byte of all the data, nothing else */
            g_assert_cmpuint(i, ==, p->sent->len - 1);
            g_assert_cmpuint(s->seq + s->len, ==, total);
        }
    }
    g_assert_cmpuint(p->sent->len, ==, DIV_ROUND_UP(total, mss));
    peer_free(p);
}

/*
 * Nothing in flight and a window too small to be worth it: the override
 * timer sends what fits; a later ACK that opens the window sends the rest.
 */
static void test_sws_override(void)
{
    ChimneyTcpState st = default_state(0);
    Peer *p;

    st.snd_wnd = st.max_snd_wnd = 8000;
    p = peer_new_state(&st);
    p->stack.sws_ns = 300 * MS;
    chimney_tcp_start(&p->conn);
    post(p, 1, 10000, 0);
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 8000);
    /* all acknowledged, but the window is down to 600 of 2000 pending */
    ack(p, 8000, 600);
    g_assert_cmpuint(p->sent->len, ==, 8);
    g_assert_cmpint(p->timer, ==, p->now + 300 * MS);
    /* an ACK that leaves the window small does not restart it */
    advance(p, 100 * MS);
    ack(p, 8000, 700);
    g_assert_cmpuint(p->sent->len, ==, 8);
    advance(p, 199 * MS);
    g_assert_cmpuint(p->sent->len, ==, 8);
    advance(p, 1 * MS);
    g_assert_cmpuint(p->sent->len, ==, 9);
    g_assert_cmpuint(last_sent(p)->seq, ==, 8000);
    g_assert_cmpuint(last_sent(p)->len, ==, 700);
    /* in flight now: the retransmission timer, not SWS's */
    g_assert_cmpint(p->timer, ==, p->now + SEC);
    g_assert_false(p->conn.persist);
    ack(p, 8700, 8000);
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 10000);
    ack(p, 10000, 8000);
    g_assert_cmpuint(p->done->len, ==, 1);
    g_assert_cmpuint(done(p, 0)->bytes, ==, 10000);
    peer_free(p);
}

/*
 * A congestion window is not the peer's: its remainder goes, so a loss
 * still finds enough segments behind it for three duplicate ACKs.
 */
static void test_sws_cwnd(void)
{
    ChimneyTcpState st = default_state(0);
    Peer *p;

    st.cwnd = 2500;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    post(p, 1, 10000, 0);
    g_assert_cmpuint(p->sent->len, ==, 3);
    g_assert_cmpuint(sent(p, 2)->len, ==, 500);
    peer_free(p);
}

/* A zero window opening to a small one: the probe timer becomes SWS's */
static void test_sws_after_zero_window(void)
{
    ChimneyTcpState st = default_state(0);
    Peer *p;

    st.snd_wnd = 0;
    st.max_snd_wnd = 8000;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    post(p, 1, 5000, 0);
    g_assert_cmpuint(p->sent->len, ==, 0);
    g_assert_true(p->conn.persist);
    ack(p, 0, 100);
    /* 100 bytes of 5000: silly; waits for the override, no probe */
    g_assert_cmpuint(p->sent->len, ==, 0);
    g_assert_cmpint(p->timer, ==, p->now + p->stack.sws_ns);
    advance(p, p->stack.sws_ns);
    g_assert_cmpuint(p->sent->len, ==, 1);
    g_assert_cmpuint(sent(p, 0)->len, ==, 100);
    g_assert_cmpuint(chimney_tcp_rare_get(&p->conn)->probes_sent, ==, 0);
    ack(p, 100, 8000);
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 5000);
    peer_free(p);
}

/* Window scaling: the peer's 16-bit window is shifted */
static void test_window_scale(void)
{
    ChimneyTcpState st = default_state(0);
    Peer *p;

    st.wscale_enabled = true;
    st.snd_wscale = 2;
    st.rcv_wscale = 3;
    st.snd_wnd = 4000;
    st.rcv_wnd = 80000;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    post(p, 1, 20000, 0);
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 4000);
    g_assert_cmpuint(sent(p, 0)->wnd, ==, 80000 >> 3);
    ack(p, 4000, 2000);             /* 2000 << 2 = 8000 */
    g_assert_cmpuint(p->conn.st.snd_wnd, ==, 8000);
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 12000);
    peer_free(p);
}

/* Zero window: nothing sent, probes on the persist timer with backoff */
static void test_persist(void)
{
    ChimneyTcpState st = default_state(0);
    Peer *p;
    int64_t t0;

    st.snd_wnd = 0;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    post(p, 1, 3000, 0);
    g_assert_cmpuint(p->sent->len, ==, 0);
    g_assert_cmpint(p->timer, ==, p->now + SEC);
    t0 = p->now;
    advance(p, SEC - 1);
    g_assert_cmpuint(p->sent->len, ==, 0);
    advance(p, 1);
    g_assert_cmpuint(p->sent->len, ==, 1);
    g_assert_cmpuint(sent(p, 0)->len, ==, 1);
    g_assert_cmpuint(sent(p, 0)->seq, ==, 0);
    /* Next probe after twice the interval; the peer still says zero */
    ack(p, 0, 0);
    g_assert_cmpint(p->timer, ==, t0 + SEC + 2 * SEC);
    advance(p, 2 * SEC);
    g_assert_cmpuint(p->sent->len, ==, 2);
    g_assert_cmpuint(p->conn.st.snd_wnd_probe_count, ==, 2);
    /* The window opens: the probe byte and the rest go */
    ack(p, 1, 8000);
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 3000);
    ack(p, 3000, 8000);
    g_assert_cmpuint(p->done->len, ==, 1);
    g_assert_cmpuint(done(p, 0)->bytes, ==, 3000);
    peer_free(p);
}

/* Too many probes: the host is asked to take the connection back */
static void test_persist_limit(void)
{
    ChimneyTcpState st = default_state(0);
    Peer *p;

    st.snd_wnd = 0;
    p = peer_new_state(&st);
    p->stack.max_retransmit = 3;
    chimney_tcp_start(&p->conn);
    post(p, 1, 100, 0);
    advance(p, 200 * SEC);
    g_assert_cmpuint(p->events->len, ==, 1);
    g_assert_cmphex(g_array_index(p->events, int, 0), ==,
                    CHIMNEY_TCP_EV_UPLOAD_REQUEST << 16 |
                    CHIMNEY_TCP_UPLOAD_TIMEOUT);
    g_assert_cmpuint(chimney_tcp_rare_get(&p->conn)->probes_sent, ==, 3);
    peer_free(p);
}

/* RFC 6298: initial RTO 1 s, doubling, and a measured RTO */
static void test_rto(void)
{
    Peer *p = peer_new(0);
    int64_t t;

    post(p, 1, 1000, 0);
    t = p->now;
    g_assert_cmpint(p->timer, ==, t + SEC);
    advance(p, SEC - 1);
    g_assert_cmpuint(p->sent->len, ==, 1);
    advance(p, 1);
    g_assert_cmpuint(p->sent->len, ==, 2);          /* retransmitted */
    g_assert_cmpuint(sent(p, 1)->seq, ==, 0);
    g_assert_cmpint(p->timer, ==, t + SEC + 2 * SEC);
    advance(p, 2 * SEC);
    g_assert_cmpuint(p->sent->len, ==, 3);
    g_assert_cmpint(p->timer, ==, t + 3 * SEC + 4 * SEC);
    /* Karn: the ACK of a retransmitted segment gives no RTT sample */
    ack(p, 1000, 65535);
    g_assert_cmpint(p->conn.srtt_ns, ==, 0);
    g_assert_cmpuint(chimney_tcp_rare_get(&p->conn)->timeouts, ==, 2);

    /* A clean 300 ms round trip: SRTT 300, RTTVAR 150, RTO 1 s floor */
    post(p, 2, 1000, 0);
    advance(p, 300 * MS);
    ack(p, 2000, 65535);
    g_assert_cmpint(p->conn.srtt_ns, ==, 300 * MS);
    g_assert_cmpint(p->conn.rttvar_ns, ==, 150 * MS);
    g_assert_cmpint(p->conn.rto_ns, ==, SEC);
    /* A slower one (900 ms, under the RTO) lifts the RTO above 1 s */
    post(p, 3, 1000, 0);
    advance(p, 900 * MS);
    ack(p, 3000, 65535);
    /* srtt = 300 + (900 - 300) / 8, rttvar = 150 + (600 - 150) / 4 */
    g_assert_cmpint(p->conn.srtt_ns, ==, 375 * MS);
    g_assert_cmpint(p->conn.rttvar_ns, ==, 262500 * 1000LL);
    g_assert_cmpint(p->conn.rto_ns, ==, 375 * MS + 4 * 262500 * 1000LL);
    g_assert_cmpuint(chimney_tcp_rare_get(&p->conn)->timeouts, ==, 2);
    peer_free(p);
}

/* Retransmission limit: upload request, no more retransmissions */
static void test_rexmit_limit(void)
{
    Peer *p = peer_new(0);

    p->stack.max_retransmit = 2;
    post(p, 1, 500, 0);
    advance(p, 100 * SEC);
    g_assert_cmpuint(chimney_tcp_rare_get(&p->conn)->timeouts, ==, 2);
    g_assert_cmpuint(p->sent->len, ==, 3);
    g_assert_cmpuint(p->events->len, ==, 1);
    g_assert_cmphex(g_array_index(p->events, int, 0), ==,
                    CHIMNEY_TCP_EV_UPLOAD_REQUEST << 16 |
                    CHIMNEY_TCP_UPLOAD_TIMEOUT);
    g_assert_cmpuint(p->done->len, ==, 0);
    peer_free(p);
}

/* Three duplicate ACKs: fast retransmit and NewReno recovery */
static void test_fast_retransmit(void)
{
    ChimneyTcpState st = default_state(0);
    Peer *p;
    guint n;
    uint32_t flight;

    st.cwnd = 10000;
    st.ssthresh = 10000;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    post(p, 1, 20000, 0);
    g_assert_cmpuint(p->sent->len, ==, 10);
    ack(p, 1000, 65535);                /* then segment 1000 is lost */
    n = p->sent->len;
    ack(p, 1000, 65535);
    ack(p, 1000, 65535);
    g_assert_cmpuint(p->sent->len, ==, n);
    flight = p->conn.st.snd_max - 1000;
    ack(p, 1000, 65535);
    g_assert_cmpuint(chimney_tcp_rare_get(&p->conn)->fast_retransmits, ==, 1);
    g_assert_cmpuint(sent(p, n)->seq, ==, 1000);
    g_assert_cmpuint(sent(p, n)->len, ==, 1000);
    /* ssthresh is half the flight, cwnd inflated by three segments */
    g_assert_cmpuint(p->conn.st.ssthresh, ==, flight / 2);
    g_assert_cmpuint(p->conn.st.cwnd, ==, flight / 2 + 3000);
    g_assert(p->conn.in_recovery);
    /* Partial ACK: the next hole is retransmitted at once */
    n = p->sent->len;
    ack(p, 3000, 65535);
    g_assert_cmpuint(sent(p, n)->seq, ==, 3000);
    /* Full ACK ends recovery */
    ack(p, p->conn.recover, 65535);
    g_assert(!p->conn.in_recovery);
    g_assert_cmpuint(p->conn.st.cwnd, <=, flight / 2 + 1000);
    peer_free(p);
}

/*
 * cwnd stops at the largest window a peer can offer: neither a cwnd
 * handed over near 4 GiB nor growth past the top wraps it to nothing
 */
static void test_cwnd_cap(void)
{
    ChimneyTcpState st = default_state(0);
    const uint32_t top = 65535u << 14;
    Peer *p;

    st.cwnd = UINT32_MAX - 100;
    st.ssthresh = 0;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    g_assert_cmpuint(p->conn.st.cwnd, ==, top);
    post(p, 1, 20000, 0);
    ack(p, 10000, 65535);
    g_assert_cmpuint(p->conn.st.cwnd, ==, top);
    /* congestion avoidance at the top stays there */
    p->conn.st.ssthresh = 10000;
    ack(p, 20000, 65535);
    g_assert_cmpuint(p->conn.st.cwnd, ==, top);
    post(p, 2, 1000, 0);
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 21000);
    peer_free(p);
}

/*
 * Congestion avoidance counts the bytes an ACK covers: two ACKs of five
 * segments grow cwnd by about one MSS, as ten ACKs of one would (per-ACK
 * counting gave 0.2)
 */
static void test_ca_stretch_ack(void)
{
    ChimneyTcpState st = default_state(0);
    Peer *p;

    st.cwnd = 10000;
    st.ssthresh = 10000;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    post(p, 1, 20000, 0);
    ack(p, 5000, 65535);
    ack(p, 10000, 65535);
    g_assert(!p->conn.in_recovery);
    g_assert_cmpuint(p->conn.st.cwnd, >=, 10900);
    g_assert_cmpuint(p->conn.st.cwnd, <=, 11000);
    peer_free(p);
}

/* RST: exact sequence aborts everything; in window gets a challenge */
static void test_rst(void)
{
    Peer *p = peer_new(0);
    guint n;

    post(p, 1, 1500, 0);
    post(p, 2, 1500, 0);
    disconnect(p, 3, false);
    ack(p, 1000, 65535);
    n = p->sent->len;
    segment(p, 0, 0, TH_RST, 5000 + 10, 0);     /* blind, in window */
    g_assert_cmpuint(p->sent->len, ==, n + 1);  /* challenge ACK */
    g_assert_cmpuint(sent(p, n)->flags, ==, TH_ACK);
    g_assert_cmpuint(p->done->len, ==, 0);
    segment(p, 0, 0, TH_RST, 5000 + 100000, 0); /* out of window */
    g_assert_cmpuint(p->sent->len, ==, n + 1);
    segment(p, 0, 0, TH_RST, 5000, 0);          /* exact */
    g_assert_cmpuint(p->done->len, ==, 3);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpuint(done(p, i)->cookie, ==, i + 1);
        g_assert_cmpint(done(p, i)->status, ==, CHIMNEY_TCP_ABORTED);
    }
    g_assert_cmpuint(done(p, 0)->bytes, ==, 1000);  /* the acked part */
    g_assert_cmpuint(done(p, 1)->bytes, ==, 0);
    g_assert_cmphex(g_array_index(p->events, int, 0), ==,
                    CHIMNEY_TCP_EV_ABORT << 16);
    g_assert_cmpint(p->timer, ==, -1);
    /* Later posts are refused, later ACKs ignored */
    g_assert(!chimney_tcp_post(&p->conn, &(ChimneyTcpReq) { .len = 1 }));
    ack(p, 3000, 65535);
    g_assert_cmpuint(p->done->len, ==, 3);
    peer_free(p);
}

/* Graceful close: FIN after the data, completed once the FIN is acked */
static void test_graceful_disconnect(void)
{
    Peer *p = peer_new(0);
    Sent *last;
    guint n;

    post(p, 1, 1500, 0);
    disconnect(p, 2, false);
    g_assert_cmpuint(p->conn.st.state, ==, CHIMNEY_TCPS_FIN_WAIT1);
    last = sent(p, p->sent->len - 1);
    g_assert(last->flags & TH_FIN);
    g_assert_cmpuint(last->seq + last->len, ==, 1500);
    /* Sends may not follow a disconnect: one fails in its turn */
    n = p->sent->len;
    g_assert(chimney_tcp_post(&p->conn, &(ChimneyTcpReq) {
                              .cookie = 3, .len = 1 }));
    g_assert_cmpuint(p->sent->len, ==, n);
    ack(p, 1500, 65535);
    g_assert_cmpuint(p->done->len, ==, 1);
    g_assert_cmpuint(done(p, 0)->cookie, ==, 1);
    ack(p, 1501, 65535);
    g_assert_cmpuint(p->done->len, ==, 3);
    g_assert_cmpuint(done(p, 1)->cookie, ==, 2);
    g_assert_cmpuint(done(p, 1)->type, ==, CHIMNEY_TCP_REQ_DISCONNECT);
    g_assert_cmpuint(done(p, 2)->cookie, ==, 3);
    g_assert_cmpint(done(p, 2)->status, ==, CHIMNEY_TCP_INVALID_STATE);
    g_assert_cmpuint(p->conn.st.state, ==, CHIMNEY_TCPS_FIN_WAIT2);
    /* The peer's FIN: acknowledged, TIME_WAIT asks for the upload */
    segment(p, 1501, 65535, TH_ACK | TH_FIN, 5000, 0);
    g_assert_cmpuint(p->conn.st.rcv_nxt, ==, 5001);
    g_assert_cmpuint(sent(p, p->sent->len - 1)->ack, ==, 5001);
    g_assert_cmpuint(p->conn.st.state, ==, CHIMNEY_TCPS_TIME_WAIT);
    /* A RST in TIME_WAIT (a late duplicate reached a closed peer) */
    segment(p, 1501, 0, TH_RST, 5001, 0);
    g_assert_cmpuint(p->conn.st.state, ==, CHIMNEY_TCPS_TIME_WAIT);
    g_assert(!p->conn.aborted);
    g_assert_cmphex(event(p, 0), ==, CHIMNEY_TCP_EV_DISCONNECT << 16);
    g_assert_cmphex(event(p, 1), ==, CHIMNEY_TCP_EV_UPLOAD_REQUEST << 16 |
                    CHIMNEY_TCP_UPLOAD_TIMEOUT);
    /* A new connection's SYN in TIME_WAIT is the host's */
    g_assert(!chimney_tcp_input(&p->conn, &(ChimneyTcpSegment) {
                                .seq = 90000, .flags = TH_SYN }, NULL));
    peer_free(p);
}

/* The FIN is retransmitted like data */
static void test_fin_retransmit(void)
{
    Peer *p = peer_new(0);

    disconnect(p, 1, false);
    g_assert_cmpuint(p->sent->len, ==, 1);
    g_assert(sent(p, 0)->flags & TH_FIN);
    advance(p, SEC);
    g_assert_cmpuint(p->sent->len, ==, 2);
    g_assert(sent(p, 1)->flags & TH_FIN);
    g_assert_cmpuint(sent(p, 1)->seq, ==, 0);
    ack(p, 1, 65535);
    g_assert_cmpuint(p->done->len, ==, 1);
    peer_free(p);
}

/* Abortive close: RST now; sends abort before the disconnect completes */
static void test_abortive_disconnect(void)
{
    Peer *p = peer_new(0);
    Sent *rst;

    post(p, 1, 1500, 0);
    post(p, 2, 700, 0);
    ack(p, 500, 65535);
    disconnect(p, 3, true);
    rst = sent(p, p->sent->len - 1);
    g_assert(rst->flags & TH_RST);
    g_assert_cmpuint(p->done->len, ==, 3);
    g_assert_cmpint(done(p, 0)->status, ==, CHIMNEY_TCP_ABORTED);
    g_assert_cmpuint(done(p, 0)->bytes, ==, 500);
    g_assert_cmpint(done(p, 1)->status, ==, CHIMNEY_TCP_ABORTED);
    g_assert_cmpuint(done(p, 2)->cookie, ==, 3);
    g_assert_cmpint(done(p, 2)->status, ==, CHIMNEY_TCP_OK);
    g_assert_cmpint(p->timer, ==, -1);
    peer_free(p);
}

/* Terminate: state back, every request returned, first partly acked */
static void test_terminate(void)
{
    Peer *p = peer_new(100);
    ChimneyTcpState out;

    post(p, 1, 2000, 0);
    post(p, 2, 2000, 0);
    advance(p, 40 * MS);
    ack(p, 100 + 1200, 65535);
    chimney_tcp_terminate(&p->conn, &out);
    g_assert_cmpuint(out.snd_una, ==, 1300);
    g_assert_cmpuint(out.snd_nxt, ==, 4100);
    g_assert_cmpuint(out.snd_max, ==, 4100);
    g_assert_cmpuint(out.rcv_nxt, ==, 5000);
    /* SRTT x8 and RTTVAR x4 in ticks (1 ms) */
    g_assert_cmpuint(out.srtt_x8, ==, 8 * 40);
    g_assert_cmpuint(out.rttvar_x4, ==, 4 * 20);
    g_assert_cmpint(out.rexmit_delta, >, 0);
    g_assert_cmpuint(p->done->len, ==, 2);
    g_assert_cmpint(done(p, 0)->status, ==, CHIMNEY_TCP_UPLOADED);
    g_assert_cmpuint(done(p, 0)->bytes, ==, 1200);
    g_assert_cmpint(done(p, 1)->status, ==, CHIMNEY_TCP_UPLOADED);
    g_assert_cmpuint(done(p, 1)->bytes, ==, 0);
    g_assert_cmpint(p->timer, ==, -1);
    peer_free(p);
}

/* Query: an idle timer reads -1, never 0 */
static void test_query_idle(void)
{
    Peer *p = peer_new(0);
    ChimneyTcpState out;

    chimney_tcp_query(&p->conn, &out);
    g_assert_cmpint(out.rexmit_delta, ==, -1);
    g_assert_cmpuint(out.state, ==, CHIMNEY_TCPS_ESTABLISHED);
    peer_free(p);
}

/* Offload with data the host had already sent */
static void test_handover(void)
{
    ChimneyTcpState st = default_state(7000);
    Peer *p;
    ChimneyTcpReq r1 = { .cookie = 11, .len = 1500 };
    ChimneyTcpReq r2 = { .cookie = 12, .len = 1500 };

    st.snd_nxt = 7000 + 1000;       /* [7000, 8000) sent, unacked */
    st.snd_max = 7000 + 2000;       /* [8000, 9000) to be sent first */
    p = peer_new_state(&st);
    g_assert(chimney_tcp_handover(&p->conn, &r1));
    g_assert(chimney_tcp_handover(&p->conn, &r2));
    chimney_tcp_start(&p->conn);
    /* Sending resumes at SndNxt; a segment spans the two requests */
    g_assert_cmpuint(sent(p, 0)->seq, ==, 8000);
    g_assert_cmpuint(sent(p, 0)->len, ==, 1000);
    g_assert_cmpuint(sent(p, 0)->first_byte, ==, pattern(11, 1000));
    g_assert_cmpuint(sent(p, 0)->last_byte, ==, pattern(12, 499));
    g_assert_cmpuint(sent(p, 1)->seq, ==, 9000);
    g_assert_cmpuint(sent(p, 1)->first_byte, ==, pattern(12, 500));
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 10000);
    g_assert_cmpint(p->timer, >, 0);
    ack(p, 8500, 65535);
    g_assert_cmpuint(p->done->len, ==, 1);
    g_assert_cmpuint(done(p, 0)->cookie, ==, 11);
    /* Unacked handed-over data is retransmitted from SndUna */
    advance(p, SEC);
    g_assert_cmpuint(sent(p, p->sent->len - 1)->seq, ==, 8500);
    ack(p, 10000, 65535);
    g_assert_cmpuint(done(p, 1)->cookie, ==, 12);
    g_assert_cmpuint(done(p, 1)->bytes, ==, 1500);
    peer_free(p);
}

/* Sequence numbers wrap at 2^32 */
static void test_wrap(void)
{
    Peer *p = peer_new(0xfffff000);

    post(p, 1, 3000, 0);
    post(p, 2, 6000, 0);
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 0xfffff000 + 9000);
    ack(p, 0xfffff000 + 2999, 65535);
    g_assert_cmpuint(p->done->len, ==, 0);
    ack(p, 0xfffff000 + 3000, 65535);       /* wraps: 0x00000bb8 */
    g_assert_cmpuint(p->done->len, ==, 1);
    ack(p, 0xfffff000 + 9000, 65535);
    g_assert_cmpuint(p->done->len, ==, 2);
    g_assert_cmpuint(done(p, 1)->bytes, ==, 6000);
    /* An ACK beyond SndMax is answered and ignored */
    ack(p, 0xfffff000 + 9001, 65535);
    g_assert_cmpuint(p->done->len, ==, 2);
    peer_free(p);
}

/* A request whose memory cannot be read resets the connection */
static void test_dma_failure(void)
{
    Peer *p = peer_new(0);
    uint32_t una = p->conn.st.snd_una;
    guint nsent;

    p->bad_cookie = 2;
    post(p, 1, 500, 0);
    post(p, 2, 500, 0);
    /* Data it cannot read is a hardware failure: no RST, an upload */
    nsent = p->sent->len;
    for (guint i = 0; i < nsent; i++) {
        g_assert(!(sent(p, i)->flags & TH_RST));
    }
    g_assert_cmpuint(p->events->len, ==, 1);
    g_assert_cmphex(event(p, 0), ==, CHIMNEY_TCP_EV_UPLOAD_REQUEST << 16 |
                    CHIMNEY_TCP_UPLOAD_HW_FAILURE);
    /* The request before it completes when acknowledged, then it fails */
    g_assert_cmpuint(p->done->len, ==, 0);
    ack(p, una + 500, 65535);
    g_assert_cmpuint(p->done->len, ==, 2);
    g_assert_cmpint(done(p, 0)->status, ==, CHIMNEY_TCP_OK);
    g_assert_cmpint(done(p, 1)->status, ==, CHIMNEY_TCP_DMA_ERROR);
    g_assert_cmpuint(done(p, 1)->bytes, ==, 0);
    /* Nothing later is sent; it fails the same way */
    post(p, 3, 500, 0);
    g_assert_cmpuint(p->done->len, ==, 3);
    g_assert_cmpint(done(p, 2)->status, ==, CHIMNEY_TCP_DMA_ERROR);
    advance(p, 10 * SEC);
    for (guint i = nsent; i < p->sent->len; i++) {
        g_assert_cmpuint(sent(p, i)->len, ==, 0);
        g_assert(!(sent(p, i)->flags & TH_RST));
    }
    peer_free(p);
}

/*
 * A send range no queued request covers (a state the device refuses at
 * offload) fails like unreadable data instead of stopping QEMU.
 */
static void test_uncovered_send(void)
{
    Peer *p = peer_new(0);

    /* Sequence space queued with no request behind it (white box) */
    p->conn.end_seq += 100;
    chimney_tcp_output(&p->conn);
    g_assert_cmpuint(p->events->len, ==, 1);
    g_assert_cmphex(event(p, 0), ==, CHIMNEY_TCP_EV_UPLOAD_REQUEST << 16 |
                    CHIMNEY_TCP_UPLOAD_HW_FAILURE);
    for (guint i = 0; i < p->sent->len; i++) {
        g_assert(!(sent(p, i)->flags & TH_RST));
    }
    peer_free(p);
}

/* Posted requests fill in order; a partly filled one waits for the push */
static void test_rx_posted(void)
{
    Peer *p = peer_new(0);

    rpost(p, 1, 3000, false);
    rpost(p, 2, 3000, false);
    for (int i = 0; i < 5; i++) {
        g_assert(data(p, 5000 + i * 1000, 1000, 0));
    }
    g_assert_cmpuint(p->rdone->len, ==, 1);
    g_assert_cmpuint(rdone(p, 0)->cookie, ==, 1);
    g_assert_cmpint(rdone(p, 0)->status, ==, CHIMNEY_TCP_OK);
    g_assert_cmpuint(rdone(p, 0)->filled, ==, 3000);
    /* Every second segment is ACKed (TcpAckFrequency 2); the fifth waits */
    g_assert_cmpuint(p->sent->len, ==, 2);
    g_assert_cmpuint(last_sent(p)->ack, ==, 9000);
    g_assert_cmpuint(last_sent(p)->wnd, ==, 65535);
    advance(p, 200 * MS);
    g_assert_cmpuint(p->sent->len, ==, 3);
    g_assert_cmpuint(last_sent(p)->ack, ==, 10000);
    /* The push timer (500 ms) completes the partly filled request */
    advance(p, 299 * MS);
    g_assert_cmpuint(p->rdone->len, ==, 1);
    advance(p, 1 * MS);
    g_assert_cmpuint(p->rdone->len, ==, 2);
    g_assert_cmpuint(rdone(p, 1)->filled, ==, 2000);
    check_stream(p, 5000, 5000);
    g_assert_cmpint(p->timer, ==, -1);
    peer_free(p);
}

/* PSH completes a push-mode request at once; a no-push one only when full */
static void test_rx_push(void)
{
    Peer *p = peer_new(0);

    rpost(p, 1, 4000, true);
    rpost(p, 2, 4000, false);
    data(p, 5000, 1000, TH_PUSH);
    g_assert_cmpuint(p->rdone->len, ==, 0);
    advance(p, 10 * SEC);
    g_assert_cmpuint(p->rdone->len, ==, 0);
    data(p, 6000, 3500, TH_PUSH);
    g_assert_cmpuint(p->rdone->len, ==, 2);
    g_assert_cmpuint(rdone(p, 0)->filled, ==, 4000);
    g_assert_cmpuint(rdone(p, 1)->filled, ==, 500);
    check_stream(p, 5000, 4500);
    peer_free(p);
}

/* Out of order and overlapping data: held, delivered once the gap fills */
static void test_rx_out_of_order(void)
{
    Peer *p = peer_new(0);
    guint n;

    rpost(p, 1, 10000, true);
    data(p, 6000, 1000, 0);
    g_assert_cmpuint(last_sent(p)->ack, ==, 5000);    /* duplicate ACK */
    data(p, 8000, 1000, 0);
    data(p, 7500, 1000, 0);
    g_assert_cmpuint(p->conn.ooo_count, ==, 2);
    g_assert_cmpuint(p->conn.ooo[1].start, ==, 7500);
    g_assert_cmpuint(p->conn.ooo[1].end, ==, 9000);
    g_assert_cmpuint(p->sent->len, ==, 3);
    g_assert_cmpuint(last_sent(p)->ack, ==, 5000);
    /* An old duplicate is ACKed again and dropped */
    data(p, 4000, 500, 0);
    g_assert_cmpuint(chimney_tcp_rare_get(&p->conn)->dup_segs, ==, 1);
    g_assert_cmpuint(p->sent->len, ==, 4);
    /* Overlapping old and new bytes: the new part fills the first gap */
    data(p, 4500, 2000, 0);
    g_assert_cmpuint(p->conn.st.rcv_nxt, ==, 7000);
    g_assert_cmpuint(last_sent(p)->ack, ==, 7000);
    g_assert_cmpuint(p->sent->len, ==, 5);
    n = p->sent->len;
    data(p, 7000, 500, 0);
    g_assert_cmpuint(p->conn.st.rcv_nxt, ==, 9000);
    g_assert_cmpuint(p->sent->len, ==, n + 1);        /* ACKed at once */
    g_assert_cmpuint(p->conn.ooo_count, ==, 0);
    data(p, 9000, 6000, 0);
    g_assert_cmpuint(p->rdone->len, ==, 1);
    g_assert_cmpuint(rdone(p, 0)->filled, ==, 10000);
    check_stream(p, 5000, 10000);
    peer_free(p);
}

/* The out-of-order table is bounded; what does not fit comes again */
static void test_rx_ooo_bound(void)
{
    Peer *p = peer_new(0);

    rpost(p, 1, 15000, true);
    for (int i = 0; i < 20; i++) {
        data(p, 6000 + i * 200, 100, 0);
    }
    g_assert_cmpuint(p->conn.ooo_count, ==, CHIMNEY_TCP_OOO_MAX);
    data(p, 5000, 5000, 0);
    g_assert_cmpuint(p->conn.st.rcv_nxt, ==, 10000);
    data(p, 10000, 10000, 0);
    check_stream(p, 5000, 15000);
    g_assert_cmpuint(p->rdone->len, ==, 1);
    peer_free(p);
}

/* The window is the room left: it closes, and reopens with a post */
static void test_rx_window(void)
{
    ChimneyTcpState st = default_state(0);
    Peer *p;

    st.initial_rcv_wnd = 8000;
    st.rcv_wnd = 8000;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    for (int i = 0; i < 4; i++) {
        data(p, 5000 + i * 2000, 2000, 0);
        if (i == 1) {
            g_assert_cmpuint(last_sent(p)->wnd, ==, 4000);
        }
    }
    g_assert_cmpuint(p->conn.held, ==, 8000);
    g_assert_cmpuint(last_sent(p)->ack, ==, 13000);
    g_assert_cmpuint(last_sent(p)->wnd, ==, 0);
    /* Beyond the window: dropped, and the ACK says so */
    data(p, 13000, 1000, 0);
    g_assert_cmpuint(p->conn.held, ==, 8000);
    g_assert_cmpuint(last_sent(p)->ack, ==, 13000);
    g_assert_cmpuint(last_sent(p)->wnd, ==, 0);
    /* A post takes the data; a window update follows at once */
    rpost(p, 1, 8000, false);
    g_assert_cmpuint(rdone(p, 0)->filled, ==, 8000);
    check_stream(p, 5000, 8000);
    g_assert_cmpuint(last_sent(p)->ack, ==, 13000);
    g_assert_cmpuint(last_sent(p)->wnd, ==, 8000);
    peer_free(p);
}

/* Indications: one at a time; what is refused waits for a post */
static void test_rx_indicate(void)
{
    Peer *p = peer_new(0);

    p->ind_room = 1500;
    data(p, 5000, 1000, 0);
    g_assert_cmpuint(p->indications, ==, 1);
    g_assert_cmpuint(p->offered->len, ==, 1000);
    g_assert_cmpuint(p->ind_seq, ==, 5000);
    data(p, 6000, 1000, 0);
    g_assert_cmpuint(p->indications, ==, 1);
    /* Partly accepted: the rest stays, no offer until a post */
    g_assert(!chimney_tcp_indicate_done(&p->conn, 1001));
    g_assert(chimney_tcp_indicate_done(&p->conn, 600));
    g_byte_array_append(p->stream, p->offered->data, 600);
    g_assert_cmpuint(p->indications, ==, 1);
    g_assert_cmpuint(p->conn.held, ==, 1400);
    g_assert(!chimney_tcp_indicate_done(&p->conn, 0));   /* none offered */
    /* A post takes the refused bytes first; the rest is offered again */
    rpost(p, 1, 1000, false);
    g_assert_cmpuint(rdone(p, 0)->filled, ==, 1000);
    g_assert_cmpuint(p->indications, ==, 2);
    g_assert_cmpuint(p->ind_seq, ==, 6600);
    g_assert(chimney_tcp_indicate_done(&p->conn, 0));    /* not accepted */
    /* A zero-byte post completes at once and allows offers again */
    rpost(p, 2, 0, false);
    g_assert_cmpuint(p->rdone->len, ==, 2);
    g_assert_cmpint(rdone(p, 1)->status, ==, CHIMNEY_TCP_OK);
    g_assert_cmpuint(rdone(p, 1)->filled, ==, 0);
    g_assert_cmpuint(p->indications, ==, 3);
    g_assert(chimney_tcp_indicate_done(&p->conn, 400));
    g_byte_array_append(p->stream, p->offered->data, 400);
    check_stream(p, 5000, 2000);
    g_assert_cmpuint(chimney_tcp_ctr(&p->conn, CHIMNEY_TCP_BYTES_INDICATED),
                     ==, 1000);
    /* No generic buffer: held until the owner has one */
    p->ind_room = 0;
    data(p, 7000, 100, 0);
    g_assert_cmpuint(p->indications, ==, 3);
    p->ind_room = 1000;
    chimney_tcp_deliver(&p->conn);
    g_assert_cmpuint(p->indications, ==, 4);
    g_assert_cmpuint(p->ind_seq, ==, 7000);
    peer_free(p);
}

/* Delayed ACK: TcpDelayedAckTicks and TcpAckFrequency on the fake clock */
static void test_rx_delayed_ack(void)
{
    Peer *p = peer_new(0);

    rpost(p, 1, 60000, true);
    data(p, 5000, 1000, 0);
    g_assert_cmpuint(p->sent->len, ==, 0);
    advance(p, 199 * MS);
    g_assert_cmpuint(p->sent->len, ==, 0);
    advance(p, 1 * MS);
    g_assert_cmpuint(p->sent->len, ==, 1);
    g_assert_cmpuint(last_sent(p)->ack, ==, 6000);
    data(p, 6000, 1000, 0);
    g_assert_cmpuint(p->sent->len, ==, 1);
    data(p, 7000, 1000, 0);
    g_assert_cmpuint(p->sent->len, ==, 2);
    g_assert_cmpuint(last_sent(p)->ack, ==, 8000);
    /* Data we send carries the pending ACK: the timer stops */
    data(p, 8000, 1000, 0);
    g_assert_cmpint(p->timer, >=, 0);
    post(p, 7, 10, 0);
    g_assert_cmpuint(last_sent(p)->ack, ==, 9000);
    g_assert_cmpuint(p->conn.delack_ns, ==, -1);
    ack(p, 10, 65535);
    /* Every segment with frequency 1, or with no delay */
    p->stack.ack_frequency = 1;
    data(p, 9000, 1000, 0);
    g_assert_cmpuint(last_sent(p)->ack, ==, 10000);
    p->stack.ack_frequency = 5;
    p->stack.delack_ns = 0;
    data(p, 10000, 1000, 0);
    g_assert_cmpuint(last_sent(p)->ack, ==, 11000);
    peer_free(p);
}

/* The peer's data with its own ACK and window */
static void data_ack(Peer *p, uint32_t seq, uint32_t len, uint32_t ack,
                     uint16_t wnd)
{
    g_autofree uint8_t *buf = g_malloc(len + 1);
    ChimneyTcpSegment s = {
        .seq = seq, .ack = ack, .flags = TH_ACK, .wnd = wnd, .len = len,
    };

    for (uint32_t i = 0; i < len; i++) {
        buf[i] = peer_byte(seq + i);
    }
    g_assert(chimney_tcp_input(&p->conn, &s, buf));
}

/* The ACK owed for TcpAckFrequency segments rides on the data it frees */
static void test_rx_ack_on_data(void)
{
    ChimneyTcpState st = default_state(0);
    Peer *p;

    st.snd_wnd = 1000;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    rpost(p, 1, 60000, true);
    post(p, 1, 3000, 0);
    g_assert_cmpuint(p->sent->len, ==, 1);
    data_ack(p, 5000, 100, 0, 1000);
    g_assert_cmpuint(p->sent->len, ==, 1);      /* delayed */
    /* the second segment: an ACK is owed, and it frees the window */
    data_ack(p, 5100, 100, 1000, 1000);
    g_assert_cmpuint(p->sent->len, ==, 2);
    g_assert_cmpuint(last_sent(p)->len, ==, 1000);
    g_assert_cmpuint(last_sent(p)->ack, ==, 5200);
    g_assert_cmpint(p->conn.delack_ns, ==, -1);
    /* nothing to send: the owed ACK goes on its own */
    data_ack(p, 5200, 100, 1000, 0);
    data_ack(p, 5300, 100, 1000, 0);
    g_assert_cmpuint(p->sent->len, ==, 3);
    g_assert_cmpuint(last_sent(p)->len, ==, 0);
    g_assert_cmpuint(last_sent(p)->ack, ==, 5400);
    peer_free(p);
}

/*
 * A burst of segments between input_begin and input_end: the ACKs are
 * processed and complete requests at once, but output and the timer run
 * once, at the end; an owed ACK still leaves before the next segment.
 */
static void test_input_burst(void)
{
    ChimneyTcpState st = default_state(0);
    uint32_t mods;
    Peer *p;

    st.snd_wnd = 4000;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    for (int i = 0; i < 10; i++) {
        post(p, i + 1, 1000, 0);
    }
    g_assert_cmpuint(p->sent->len, ==, 4);
    mods = p->timer_mods;
    chimney_tcp_input_begin(&p->conn);
    for (uint32_t a = 1000; a <= 4000; a += 1000) {
        ack(p, a, 4000);
    }
    /* completions are the ACKs', in order, right away */
    g_assert_cmpuint(p->done->len, ==, 4);
    for (int i = 0; i < 4; i++) {
        g_assert_cmpuint(done(p, i)->cookie, ==, i + 1);
    }
    g_assert_cmpuint(p->sent->len, ==, 4);
    g_assert_cmpuint(p->timer_mods, ==, mods);
    chimney_tcp_input_end(&p->conn);
    g_assert_cmpuint(p->sent->len, ==, 8);
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 8000);
    g_assert_cmpuint(p->timer_mods, <=, mods + 1);
    g_assert_cmpint(p->timer, ==, p->now + SEC);

    /* data in a burst: ACK every second segment, the last on our data */
    rpost(p, 1, 60000, true);
    chimney_tcp_input_begin(&p->conn);
    data_ack(p, 5000, 100, 8000, 4000);
    data_ack(p, 5100, 100, 8000, 4000);
    g_assert_cmpuint(p->sent->len, ==, 8);      /* owed, not yet sent */
    data_ack(p, 5200, 100, 8000, 4000);
    g_assert_cmpuint(p->sent->len, ==, 9);      /* before the third */
    g_assert_cmpuint(last_sent(p)->len, ==, 0);
    g_assert_cmpuint(last_sent(p)->ack, ==, 5200);
    data_ack(p, 5300, 100, 8000, 4000);
    chimney_tcp_input_end(&p->conn);
    /* the window took two more segments; they carry the ACK of 5400 */
    g_assert_cmpuint(p->sent->len, ==, 11);
    g_assert_cmpuint(last_sent(p)->len, ==, 1000);
    g_assert_cmpuint(sent(p, 9)->ack, ==, 5400);
    peer_free(p);
}

/* FIN: DISCONNECT once the data before it is delivered; half-close */
static void test_rx_fin(void)
{
    Peer *p = peer_new(0);
    guint n;

    data(p, 5000, 1000, 0);
    data(p, 6000, 0, TH_FIN);
    g_assert_cmpuint(p->conn.st.state, ==, CHIMNEY_TCPS_CLOSE_WAIT);
    g_assert_cmpuint(last_sent(p)->ack, ==, 6001);
    g_assert_cmpuint(p->events->len, ==, 0);
    rpost(p, 1, 600, false);
    g_assert_cmpuint(p->events->len, ==, 0);
    rpost(p, 2, 600, true);
    /* The data ended: the partly filled request completes, then the FIN */
    g_assert_cmpuint(p->rdone->len, ==, 2);
    g_assert_cmpuint(rdone(p, 1)->filled, ==, 400);
    g_assert_cmphex(event(p, 0), ==, CHIMNEY_TCP_EV_DISCONNECT << 16);
    check_stream(p, 5000, 1000);
    /* Posted after the DISCONNECT: INVALID_STATE */
    rpost(p, 3, 100, false);
    g_assert_cmpint(rdone(p, 2)->status, ==, CHIMNEY_TCP_INVALID_STATE);
    /* The FIN again: ACKed again */
    n = p->sent->len;
    data(p, 6000, 0, TH_FIN);
    g_assert_cmpuint(p->sent->len, ==, n + 1);
    g_assert_cmpuint(last_sent(p)->ack, ==, 6001);
    /* Our half still sends, then closes */
    post(p, 10, 500, 0);
    g_assert_cmpuint(last_sent(p)->len, ==, 500);
    ack(p, 500, 65535);
    g_assert_cmpuint(done(p, 0)->cookie, ==, 10);
    disconnect(p, 11, false);
    g_assert_cmpuint(p->conn.st.state, ==, CHIMNEY_TCPS_LAST_ACK);
    ack(p, 501, 65535);
    g_assert_cmpuint(p->conn.st.state, ==, CHIMNEY_TCPS_CLOSED);
    g_assert_cmpuint(p->events->len, ==, 1);
    peer_free(p);
}

/* A FIN beyond a gap counts when the gap fills; posts wait for the data */
static void test_rx_fin_out_of_order(void)
{
    Peer *p = peer_new(0);

    rpost(p, 1, 5000, true);
    rpost(p, 2, 5000, true);
    data(p, 6000, 500, TH_FIN);
    g_assert_cmpuint(p->conn.st.state, ==, CHIMNEY_TCPS_ESTABLISHED);
    g_assert_cmpuint(last_sent(p)->ack, ==, 5000);
    data(p, 5000, 1000, 0);
    g_assert_cmpuint(p->conn.st.state, ==, CHIMNEY_TCPS_CLOSE_WAIT);
    g_assert_cmpuint(last_sent(p)->ack, ==, 6501);
    /* A no-push request completes at the end of the data, the rest empty */
    g_assert_cmpuint(p->rdone->len, ==, 2);
    g_assert_cmpuint(rdone(p, 0)->filled, ==, 1500);
    g_assert_cmpuint(rdone(p, 1)->filled, ==, 0);
    g_assert_cmphex(event(p, 0), ==, CHIMNEY_TCP_EV_DISCONNECT << 16);
    check_stream(p, 5000, 1500);
    peer_free(p);
}

/* RST: sends and receives aborted, with the bytes they hold, then ABORT */
static void test_rx_rst_pending(void)
{
    Peer *p = peer_new(0);

    post(p, 1, 500, 0);
    rpost(p, 2, 4000, true);
    rpost(p, 3, 4000, true);
    data(p, 5000, 1000, 0);
    segment(p, 0, 0, TH_RST, 6000, 0);
    g_assert_cmpint(done(p, 0)->status, ==, CHIMNEY_TCP_ABORTED);
    g_assert_cmpuint(p->rdone->len, ==, 2);
    g_assert_cmpint(rdone(p, 0)->status, ==, CHIMNEY_TCP_ABORTED);
    g_assert_cmpuint(rdone(p, 0)->filled, ==, 1000);
    g_assert_cmpint(rdone(p, 1)->status, ==, CHIMNEY_TCP_ABORTED);
    g_assert_cmpuint(rdone(p, 1)->filled, ==, 0);
    g_assert_cmphex(event(p, p->events->len - 1), ==,
                    CHIMNEY_TCP_EV_ABORT << 16);
    /* CLOSED: what comes now is the host's, and posts are aborted */
    g_assert(!data(p, 6000, 100, 0));
    rpost(p, 4, 10, false);
    g_assert_cmpint(rdone(p, 2)->status, ==, CHIMNEY_TCP_ABORTED);
    peer_free(p);
}

/* Our FIN first: the peer still sends; FIN_WAIT_2 is bounded at 120 s */
static void test_rx_half_close_local(void)
{
    Peer *p = peer_new(0);

    disconnect(p, 1, false);
    ack(p, 1, 65535);
    g_assert_cmpuint(p->conn.st.state, ==, CHIMNEY_TCPS_FIN_WAIT2);
    rpost(p, 2, 3000, false);
    data(p, 5000, 1000, TH_PUSH);
    g_assert_cmpuint(rdone(p, 0)->filled, ==, 1000);
    advance(p, 119 * SEC);
    g_assert_cmpuint(p->events->len, ==, 0);
    /* A segment from the peer restarts the timer */
    rpost(p, 3, 3000, false);
    data(p, 6000, 1000, TH_PUSH);
    advance(p, 119 * SEC);
    g_assert_cmpuint(p->events->len, ==, 0);
    advance(p, 1 * SEC);
    g_assert_cmphex(event(p, 0), ==, CHIMNEY_TCP_EV_UPLOAD_REQUEST << 16 |
                    CHIMNEY_TCP_UPLOAD_TIMEOUT);
    g_assert_cmpuint(p->conn.st.state, ==, CHIMNEY_TCPS_CLOSED);
    check_stream(p, 5000, 2000);
    peer_free(p);
}

/* Keepalive: probes after idleness, an answer restarts, silence uploads */
static void test_keepalive(void)
{
    ChimneyTcpState st = default_state(100);
    ChimneyTcpState q;
    Peer *p;

    st.keepalive = true;
    st.ka_timeout = 10000;                      /* ticks of 1 ms */
    st.ka_interval = 1000;
    st.ka_probe_count = 3;
    st.ka_delta = -1;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    advance(p, 9999 * MS);
    g_assert_cmpuint(p->sent->len, ==, 0);
    chimney_tcp_query(&p->conn, &q);
    g_assert_cmpint(q.ka_delta, ==, 1);
    advance(p, 1 * MS);
    g_assert_cmpuint(p->sent->len, ==, 1);
    g_assert_cmpuint(last_sent(p)->seq, ==, 99);   /* SndUna - 1 */
    g_assert_cmpuint(last_sent(p)->len, ==, 0);
    ack(p, 100, 65535);
    advance(p, 9999 * MS);
    g_assert_cmpuint(p->sent->len, ==, 1);
    advance(p, 1 * MS);
    g_assert_cmpuint(p->sent->len, ==, 2);
    advance(p, 1 * SEC);
    advance(p, 1 * SEC);
    g_assert_cmpuint(p->sent->len, ==, 4);
    g_assert_cmpuint(p->events->len, ==, 0);
    chimney_tcp_query(&p->conn, &q);
    g_assert_cmpuint(q.ka_probes, ==, 3);
    advance(p, 1 * SEC);
    g_assert_cmphex(event(p, 0), ==, CHIMNEY_TCP_EV_UPLOAD_REQUEST << 16 |
                    CHIMNEY_TCP_UPLOAD_TIMEOUT);
    g_assert_cmpuint(chimney_tcp_rare_get(&p->conn)->ka_probes_sent, ==, 4);
    peer_free(p);
}

/* A bare ACK below RcvNxt is a probe: answered with our window */
static void test_rx_probe_answered(void)
{
    Peer *p = peer_new(0);

    data(p, 5000, 1000, TH_PUSH);
    advance(p, 200 * MS);
    g_assert_cmpuint(p->sent->len, ==, 1);
    segment(p, 0, 65535, TH_ACK, 5999, 0);      /* keepalive / window probe */
    g_assert_cmpuint(p->sent->len, ==, 2);
    g_assert_cmpuint(last_sent(p)->ack, ==, 6000);
    g_assert_cmpuint(last_sent(p)->wnd, ==, 65535 - 1000);
    segment(p, 0, 65535, TH_ACK, 6000, 0);      /* an ordinary ACK */
    g_assert_cmpuint(p->sent->len, ==, 2);
    segment(p, 0, 65535, TH_ACK, 6000 + 70000, 0);  /* beyond the window */
    g_assert_cmpuint(p->sent->len, ==, 3);
    peer_free(p);
}

/*
 * A segment outside the receive window gets an ACK and nothing else
 * (RFC 9293 3.10.7.4): its ACK field and window are not looked at, so a
 * blind injection cannot complete a send or move the send window.  One
 * that ends at the right edge last advertised is acceptable, as is one
 * that ends at RcvNxt (a retransmission with the ACK of new data).
 */
static void test_ack_out_of_window(void)
{
    Peer *p = peer_new(1000);
    uint8_t old[1000] = { 0 };
    ChimneyTcpSegment s;
    uint32_t n;

    post(p, 1, 3000, CHIMNEY_TCP_REQ_PUSH);
    post(p, 2, 1000, CHIMNEY_TCP_REQ_PUSH);
    n = p->sent->len;
    segment(p, 4000, 0, TH_ACK, 5000 + 0x40000000, 0);
    segment(p, 4000, 0, TH_ACK, 5000 - 70000, 0);
    segment(p, 4000, 0, TH_ACK, 5000 + 65536, 0);
    g_assert_cmpuint(p->done->len, ==, 0);
    g_assert_cmpuint(p->conn.st.snd_una, ==, 1000);
    g_assert_cmpuint(p->conn.st.snd_wnd, ==, 1 << 20);
    g_assert_cmpuint(p->sent->len, ==, n + 3);
    g_assert_cmpuint(last_sent(p)->ack, ==, 5000);

    segment(p, 4000, 65535, TH_ACK, 5000 + 65535, 0);
    g_assert_cmpuint(p->done->len, ==, 1);
    g_assert_cmpuint(done(p, 0)->cookie, ==, 1);
    s = (ChimneyTcpSegment) {
        .seq = 4000, .ack = 5000, .flags = TH_ACK, .wnd = 65535, .len = 1000,
    };
    chimney_tcp_input(&p->conn, &s, old);       /* ends at RcvNxt */
    g_assert_cmpuint(p->done->len, ==, 2);
    peer_free(p);
}

/*
 * A request the state refuses completes in its turn: after a SYN at
 * RcvNxt the connection is CLOSED and waits for its upload; a DISCONNECT
 * posted then waits behind the SEND still outstanding and fails after
 * it.  With nothing outstanding a refused request is the owner's to
 * complete at once.
 */
static void test_refused_in_order(void)
{
    Peer *p = peer_new(1000);
    ChimneyTcpReq r = { .cookie = 2, .type = CHIMNEY_TCP_REQ_DISCONNECT };
    ChimneyTcpState out;

    post(p, 1, 3000, CHIMNEY_TCP_REQ_PUSH);
    segment(p, 0, 0, TH_SYN, 5000, 0);
    g_assert_cmpuint(p->conn.st.state, ==, CHIMNEY_TCPS_CLOSED);
    g_assert(chimney_tcp_post(&p->conn, &r));
    g_assert_cmpuint(p->done->len, ==, 0);
    chimney_tcp_terminate(&p->conn, &out);
    g_assert_cmpuint(p->done->len, ==, 2);
    g_assert_cmpuint(done(p, 0)->cookie, ==, 1);
    g_assert_cmpint(done(p, 0)->status, ==, CHIMNEY_TCP_UPLOADED);
    g_assert_cmpuint(done(p, 1)->cookie, ==, 2);
    g_assert_cmpint(done(p, 1)->status, ==, CHIMNEY_TCP_INVALID_STATE);
    r.cookie = 3;
    g_assert(!chimney_tcp_post(&p->conn, &r));
    peer_free(p);
}

/* Urgent data: not ACKed, not delivered, upload requested */
static void test_rx_urgent(void)
{
    Peer *p = peer_new(0);

    rpost(p, 1, 1000, false);
    data(p, 5000, 100, TH_URG);
    g_assert_cmpuint(p->conn.st.rcv_nxt, ==, 5000);
    g_assert_cmpuint(p->sent->len, ==, 0);
    g_assert_cmphex(event(p, 0), ==, CHIMNEY_TCP_EV_UPLOAD_REQUEST << 16 |
                    CHIMNEY_TCP_UPLOAD_URGENT_DATA);
    data(p, 5100, 100, 0);
    g_assert_cmpuint(p->conn.st.rcv_nxt, ==, 5000);
    g_assert_cmpuint(p->rdone->len, ==, 0);
    peer_free(p);
}

/* SYNs per the blind-reset rules: ACK, rate-limited challenge, upload */
static void test_rx_syn(void)
{
    Peer *p = peer_new(0);

    segment(p, 0, 0, TH_SYN, 5000 + 100000, 0);   /* outside the window */
    g_assert_cmpuint(p->sent->len, ==, 1);
    segment(p, 0, 0, TH_SYN, 5010, 0);            /* in window: challenge */
    g_assert_cmpuint(p->sent->len, ==, 2);
    g_assert_cmpuint(last_sent(p)->ack, ==, 5000);
    g_assert_cmpint(p->conn.ka_ns, ==, p->now + 300 * SEC);
    segment(p, 0, 0, TH_SYN, 5020, 0);            /* within 3 s: silent */
    g_assert_cmpuint(p->sent->len, ==, 2);
    advance(p, 3 * SEC);
    segment(p, 0, 0, TH_SYN, 5020, 0);
    g_assert_cmpuint(p->sent->len, ==, 3);
    g_assert_cmpuint(p->events->len, ==, 0);
    g_assert(!p->conn.aborted);
    /* A SYN at RcvNxt: the peer started over; CLOSED and upload */
    segment(p, 0, 0, TH_SYN, 5000, 0);
    g_assert_cmpuint(p->conn.st.state, ==, CHIMNEY_TCPS_CLOSED);
    g_assert_cmphex(event(p, 0), ==, CHIMNEY_TCP_EV_UPLOAD_REQUEST << 16 |
                    CHIMNEY_TCP_UPLOAD_REQUESTED);
    peer_free(p);
}

/* The blind RST that got a challenge arms keepalive; silence uploads */
static void test_rx_rst_challenge_keepalive(void)
{
    Peer *p = peer_new(0);

    segment(p, 0, 0, TH_RST, 5010, 0);
    g_assert_cmpuint(p->sent->len, ==, 1);
    g_assert(!p->conn.aborted);
    advance(p, 300 * SEC);
    g_assert_cmpuint(p->sent->len, ==, 2);         /* the first probe */
    for (int i = 0; i < 10; i++) {
        advance(p, 1 * SEC);                        /* default 10 x 1 s */
    }
    g_assert_cmphex(event(p, 0), ==, CHIMNEY_TCP_EV_UPLOAD_REQUEST << 16 |
                    CHIMNEY_TCP_UPLOAD_TIMEOUT);
    peer_free(p);
}

/* Data buffered by the host at offload is delivered first */
static void test_rx_preload(void)
{
    ChimneyTcpState st = default_state(0);
    uint8_t buf[300];
    Peer *p = peer_new_state(&st);

    for (int i = 0; i < sizeof(buf); i++) {
        buf[i] = peer_byte(4700 + i);
    }
    g_assert(!chimney_tcp_preload(&p->conn, buf, 70000));
    g_assert(chimney_tcp_preload(&p->conn, buf, sizeof(buf)));
    chimney_tcp_start(&p->conn);
    rpost(p, 1, 1000, false);
    g_assert_cmpuint(p->rdone->len, ==, 0);
    data(p, 5000, 200, TH_PUSH);
    g_assert_cmpuint(rdone(p, 0)->filled, ==, 500);
    check_stream(p, 4700, 500);
    peer_free(p);
}

/* Upload: held bytes go back; posted requests leave with what they hold */
static void test_rx_terminate(void)
{
    Peer *p = peer_new(0);
    ChimneyTcpState out;
    g_autofree uint8_t *held = NULL;

    data(p, 5000, 5000, 0);
    rpost(p, 1, 3000, true);
    g_assert_cmpuint(chimney_tcp_held(&p->conn), ==, 2000);
    chimney_tcp_terminate(&p->conn, &out);
    g_assert_cmpuint(out.rcv_nxt, ==, 10000);
    held = g_malloc(chimney_tcp_held(&p->conn));
    chimney_tcp_copy_held(&p->conn, held);
    g_byte_array_append(p->stream, held, 2000);
    check_stream(p, 5000, 5000);
    peer_free(p);

    p = peer_new(0);
    rpost(p, 1, 3000, true);
    data(p, 5000, 2000, 0);
    chimney_tcp_terminate(&p->conn, &out);
    g_assert_cmpint(rdone(p, 0)->status, ==, CHIMNEY_TCP_UPLOADED);
    g_assert_cmpuint(rdone(p, 0)->filled, ==, 2000);
    g_assert_cmpuint(chimney_tcp_held(&p->conn), ==, 0);
    peer_free(p);
}

/* A receive buffer that cannot be written fails; the data goes on */
static void test_rx_dma_error(void)
{
    Peer *p = peer_new(0);

    p->bad_rcv_cookie = 1;
    rpost(p, 1, 1000, false);
    rpost(p, 2, 1000, false);
    data(p, 5000, 500, TH_PUSH);
    g_assert_cmpint(rdone(p, 0)->status, ==, CHIMNEY_TCP_DMA_ERROR);
    g_assert_cmpint(rdone(p, 1)->status, ==, CHIMNEY_TCP_OK);
    check_stream(p, 5000, 500);
    peer_free(p);
}

/* PAWS: a segment with an older timestamp is an old duplicate */
static void test_rx_paws(void)
{
    ChimneyTcpState st = default_state(0);
    ChimneyTcpSegment s = {
        .seq = 5000, .flags = TH_ACK, .wnd = 65535, .len = 100,
        .has_ts = true, .ts_val = 999,
    };
    uint8_t buf[100] = { 0 };
    Peer *p;

    st.ts_enabled = true;
    st.ts_recent = 1000;
    p = peer_new_state(&st);
    chimney_tcp_start(&p->conn);
    chimney_tcp_input(&p->conn, &s, buf);
    g_assert_cmpuint(p->conn.st.rcv_nxt, ==, 5000);
    g_assert_cmpuint(chimney_tcp_rare_get(&p->conn)->dup_segs, ==, 1);
    g_assert_cmpuint(p->sent->len, ==, 1);
    s.ts_val = 1001;
    chimney_tcp_input(&p->conn, &s, buf);
    g_assert_cmpuint(p->conn.st.rcv_nxt, ==, 5100);
    g_assert_cmpuint(p->conn.st.ts_recent, ==, 1001);
    peer_free(p);
}

static void test_state_check(void)
{
    ChimneyTcpState st = default_state(0);

    st.remote_mss = 0;
    g_assert_nonnull(chimney_tcp_state_check(&st));
    st = default_state(0);
    st.wscale_enabled = true;
    st.snd_wscale = 15;
    g_assert_nonnull(chimney_tcp_state_check(&st));
    st = default_state(0);
    st.snd_nxt = st.snd_una - 1;
    g_assert_nonnull(chimney_tcp_state_check(&st));
    st = default_state(0);
    st.state = CHIMNEY_TCPS_TIME_WAIT;
    g_assert_nonnull(chimney_tcp_state_check(&st));
    st = default_state(0);
    st.path_mtu = 20;
    g_assert_nonnull(chimney_tcp_state_check(&st));
    /* 2^31 apart: chimney_seq_leq holds both ways, distances do not */
    st = default_state(0);
    st.snd_una = 0x80001388;
    st.snd_nxt = 0x1388;
    st.snd_max = 0x1388;
    g_assert_nonnull(chimney_tcp_state_check(&st));
    st.snd_nxt = 0x80001388;
    g_assert_nonnull(chimney_tcp_state_check(&st));
    st = default_state(0);
    st.snd_nxt = st.snd_una + 0x10;
    st.snd_max = st.snd_una + 0x7fffffff;
    g_assert_null(chimney_tcp_state_check(&st));
    st.snd_max = st.snd_una + 0x80000000u;
    g_assert_nonnull(chimney_tcp_state_check(&st));
}

/* The parser refuses what must go to the host's path */
static void test_parse(void)
{
    Peer *p = peer_new(0);
    ChimneyTcpTuple t;
    ChimneyTcpSegment seg;
    uint8_t f[200];
    size_t len;

    post(p, 1, 50, 0);
    len = 14 + 20 + 20 + 50;
    memcpy(f, p->stack.frame, len);
    g_assert(chimney_tcp_parse(f, len, &t, &seg, NULL));
    g_assert_cmpuint(seg.len, ==, 50);
    f[60] ^= 1;                                     /* payload bit flip */
    g_assert(!chimney_tcp_parse(f, len, &t, &seg, NULL));
    f[60] ^= 1;
    stw_be_p(f + 14 + 6, 0x2000);                   /* more fragments */
    g_assert(!chimney_tcp_parse(f, len, &t, &seg, NULL));
    stw_be_p(f + 14 + 6, IP_DF);
    f[14] = 0x46;                                   /* IP options */
    g_assert(!chimney_tcp_parse(f, len, &t, &seg, NULL));
    f[14] = 0x45;
    g_assert(!chimney_tcp_parse(f, 40, &t, &seg, NULL));    /* runt */
    peer_free(p);
}

/*
 * QEMU's byte-at-a-time sum, finished, in runs of 64 KiB: its 32-bit
 * sums of bytes overflow beyond about 128 KiB
 */
static uint16_t csum_ref(const uint8_t *buf, size_t len, int seq)
{
    uint64_t sum = 0;

    for (size_t k = 0; k < len; k += 65536) {
        sum += net_checksum_add_cont(MIN(len - k, 65536), (uint8_t *)buf + k,
                                     seq + k);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

/* The fast checksum against QEMU's byte-at-a-time one */
static void test_csum(void)
{
    /* the last is longer than a run of vector blocks (512 KiB) */
    size_t big[] = { 65536, 65535, 69999, 600001 };
    g_autofree uint8_t *buf = g_malloc(600016);
    g_autofree uint8_t *dst = g_malloc(600016);

    for (size_t i = 0; i < 600016; i++) {
        buf[i] = g_test_rand_int();
    }
    for (size_t a = 0; a < 8; a++) {
        for (size_t len = 0; len < 300; len++) {
            for (size_t off = 0; off < 4; off++) {
                uint16_t want = ~net_checksum_finish(
                    net_checksum_add_cont(len, buf + a, off));
                uint16_t got = ~net_checksum_finish(
                    chimney_tcp_csum(buf + a, len, off));

                g_assert_cmphex(got, ==, want);
                memset(dst, 0, len + 16);
                got = ~net_checksum_finish(
                    chimney_tcp_csum_copy(dst + 7 - a, buf + a, len, off));
                g_assert_cmphex(got, ==, want);
                g_assert_cmpmem(dst + 7 - a, len, buf + a, len);
                /* nothing beyond the copy is written */
                g_assert_cmpuint(dst[7 - a + len], ==, 0);
            }
        }
    }
    /* Carries: long runs of 0xff, and long random ones */
    for (size_t i = 0; i < ARRAY_SIZE(big); i++) {
        for (int fill = 0; fill < 2; fill++) {
            if (fill) {
                memset(buf, 0xff, big[i]);
            }
            g_assert_cmphex(net_checksum_finish(chimney_tcp_csum(buf, big[i],
                                                                 1)), ==,
                            csum_ref(buf, big[i], 1));
            g_assert_cmphex(net_checksum_finish(
                                chimney_tcp_csum_copy(dst, buf + 3, big[i],
                                                      0)), ==,
                            csum_ref(buf + 3, big[i], 0));
            g_assert_cmpmem(dst, big[i], buf + 3, big[i]);
        }
    }
}

/* Guest memory as the fake maps it: each request's bytes, by cookie */
#define GSO_REQ_MAX 40000
static uint8_t gso_mem[4][GSO_REQ_MAX];
static int gso_mapped;
static unsigned gso_maps, gso_finished;

static const void *p_map(void *opaque, ChimneyTcpConn *c,
                         const ChimneyTcpReq *req, uint32_t off,
                         uint32_t *len)
{
    g_assert_cmpuint(off + *len, <=, req->len);
    /* cookie 2 is never RAM; cookie 3 maps in pieces of 1000 bytes */
    if (req->cookie == 2 || req->cookie >= ARRAY_SIZE(gso_mem)) {
        return NULL;
    }
    if (req->cookie == 3) {
        *len = MIN(*len, 1000 - off % 1000);
    }
    gso_mapped++;
    gso_maps++;
    return gso_mem[req->cookie] + off;
}

static void p_unmap(void *opaque, const void *ptr, uint32_t len)
{
    g_assert_cmpint(gso_mapped, >, 0);
    gso_mapped--;
}

/*
 * What the host does with a super-frame: segments of gso_size, the
 * headers copied with sequence, IP ID and lengths fixed up, FIN and PSH
 * on the last, each TCP checksum completed from the pseudo-header sum.
 */
static void p_emitv(void *opaque, ChimneyTcpConn *c, const struct iovec *iov,
                    int iovcnt, const ChimneyTcpTxInfo *info)
{
    size_t len = iov_size(iov, iovcnt);
    g_autofree uint8_t *f = g_malloc(len);
    uint32_t hl, pay, mss, off = 0;
    uint8_t seg[2048];

    g_assert_cmpuint(iovcnt, <=, CHIMNEY_TCP_TX_IOV);
    iov_to_buf(iov, iovcnt, 0, f, len);
    if (!info) {
        /* a finished frame: only the backend's stack to offload it */
        g_assert_false(((Peer *)opaque)->stack.tx_offload);
        gso_finished++;
        p_emit(opaque, c, f, len);
        return;
    }
    hl = info->hdr_len;
    pay = len - hl;
    g_assert_cmpuint(info->csum_start, ==, ETH_HLEN + 20);
    g_assert_cmpuint(info->csum_offset, ==, 16);
    g_assert_cmpuint(pay, <=, CHIMNEY_TCP_GSO_MAX);
    g_assert_cmpuint(lduw_be_p(f + ETH_HLEN + 2), ==, len - ETH_HLEN);
    if (info->gso_size) {
        g_assert_cmpint(info->gso_type, ==, CHIMNEY_TCP_GSO_TCPV4);
        g_assert_cmpuint(info->gso_size, ==, c->mss);
        g_assert_cmpuint(pay, >, c->mss);
    }
    mss = info->gso_size ? info->gso_size : pay;
    do {
        uint32_t n = MIN(mss, pay - off);
        uint8_t *ip = seg + ETH_HLEN, *th = seg + info->csum_start;
        bool last = off + n == pay;
        uint32_t sum;

        memcpy(seg, f, hl);
        memcpy(seg + hl, f + hl + off, n);
        stw_be_p(ip + 2, hl - ETH_HLEN + n);
        stw_be_p(ip + 4, lduw_be_p(ip + 4) + off / mss);
        stw_be_p(ip + 10, 0);
        stw_be_p(ip + 10, net_checksum_finish(net_checksum_add(20, ip)));
        stl_be_p(th + 4, ldl_be_p(th + 4) + off);
        if (!last) {
            th[13] &= ~(TH_FIN | TH_PUSH);
        }
        /* the pseudo-header sum, its length that of this segment */
        sum = net_checksum_add(8, ip + 12) + IP_PROTO_TCP + (hl -
              info->csum_start) + n;
        if (info->gso_size) {
            g_assert_cmphex(lduw_be_p(th + 16), ==,
                            (uint16_t)~net_checksum_finish(
                                net_checksum_add(8, ip + 12) + IP_PROTO_TCP +
                                (hl - info->csum_start) + pay));
        }
        stw_be_p(th + 16, 0);
        sum += net_checksum_add(hl - info->csum_start + n, th);
        stw_be_p(th + 16, net_checksum_finish(sum));
        p_emit(opaque, c, seg, hl + n);
        off += n;
    } while (off < pay);
}

static const ChimneyTcpOps gso_ops = {
    .now_ns = p_now,
    .timer_mod = p_timer,
    .read_data = p_read,
    .emit = p_emit,
    .map_data = p_map,
    .unmap_data = p_unmap,
    .emitv = p_emitv,
    .complete = p_complete,
    .event = p_event,
    .write_data = p_write,
    .recv_complete = p_recv_complete,
    .indicate = p_indicate,
};

static Peer *gso_peer(void)
{
    Peer *p = peer_new(0);

    p->stack.ops = &gso_ops;
    p->stack.tx_offload = true;
    for (uint32_t c = 0; c < ARRAY_SIZE(gso_mem); c++) {
        for (uint32_t i = 0; i < GSO_REQ_MAX; i++) {
            gso_mem[c][i] = pattern(c, i);
        }
    }
    gso_mapped = 0;
    gso_maps = 0;
    gso_finished = 0;
    return p;
}

/*
 * A backend without offloads: each segment finished here, its payload
 * summed where it lies in guest memory, not copied; what cannot be
 * mapped (cookie 2) is copied and summed; checksums verified by p_emit.
 */
static void test_finished_frames(void)
{
    Peer *p = gso_peer();
    uint32_t seq = 0, total = 3 * 5000;

    p->stack.tx_offload = false;
    for (uint64_t c = 1; c <= 3; c++) {
        post(p, c, 5000, c == 3 ? CHIMNEY_TCP_REQ_PUSH : 0);
    }
    g_assert_cmpint(gso_mapped, ==, 0);
    /* cookies 1 and 3, 3 in pieces of 1000 bytes */
    g_assert_cmpuint(gso_maps, >=, 6);
    g_assert_cmpuint(p->sent->len, ==, DIV_ROUND_UP(total, 1000));
    g_assert_cmpuint(gso_finished, ==, p->sent->len);
    for (guint i = 0; i < p->sent->len; i++) {
        Sent *s = sent(p, i);
        uint64_t cookie = 1 + s->seq / 5000;

        g_assert_cmpuint(s->seq, ==, seq);
        g_assert_cmpuint(s->first_byte, ==, pattern(cookie, s->seq % 5000));
        g_assert_cmpuint(s->last_byte, ==,
                         pattern(cookie, (s->seq + s->len - 1) % 5000));
        seq += s->len;
    }
    g_assert_cmpuint(seq, ==, total);
    ack(p, total, 1 << 16);
    g_assert_cmpuint(p->done->len, ==, 3);
    peer_free(p);
}

/*
 * With the backend segmenting, payload goes out in super-frames of whole
 * MSS, mapped where it can be and copied where not; segmented, they are
 * the segments the engine would have sent itself.
 */
static void test_gso(void)
{
    Peer *p = gso_peer();
    uint32_t seq = 0, total = 3 * GSO_REQ_MAX;

    for (uint64_t c = 1; c <= 3; c++) {
        post(p, c, GSO_REQ_MAX, c == 3 ? CHIMNEY_TCP_REQ_PUSH : 0);
    }
    g_assert_cmpint(gso_mapped, ==, 0);
    g_assert_cmpuint(gso_maps, >, 0);
    g_assert_cmpuint(chimney_tcp_ctr(&p->conn, CHIMNEY_TCP_SEGS_OUT), ==,
                     DIV_ROUND_UP(total, 1000));
    g_assert_cmpuint(p->sent->len, ==,
                     chimney_tcp_ctr(&p->conn, CHIMNEY_TCP_SEGS_OUT));
    for (guint i = 0; i < p->sent->len; i++) {
        Sent *s = sent(p, i);
        uint64_t cookie = 1 + s->seq / GSO_REQ_MAX;

        g_assert_cmpuint(s->seq, ==, seq);
        g_assert_cmpuint(s->len, ==, MIN(1000, total - seq));
        g_assert_cmpuint(s->first_byte, ==,
                         pattern(cookie, s->seq % GSO_REQ_MAX));
        g_assert_cmpuint(s->last_byte, ==,
                         pattern(cookie, (s->seq + s->len - 1) %
                                 GSO_REQ_MAX));
        /* IDs run on across super-frames */
        g_assert_cmphex(s->ip_id, ==, 0x8000 + i);
        /* each post found the rest sent: the end of the data, pushed */
        g_assert_cmpuint(!!(s->flags & TH_PUSH), ==,
                         (seq + s->len) % GSO_REQ_MAX == 0);
        seq += s->len;
    }
    g_assert_cmpuint(seq, ==, total);
    /* Acknowledged, every request completes */
    ack(p, total, 1 << 16);
    g_assert_cmpuint(p->done->len, ==, 3);
    /*
     * A window not a multiple of the MSS: whole MSS, and the 500 bytes
     * left of the window wait (sender SWS avoidance, as without GSO)
     */
    g_array_set_size(p->sent, 0);
    p->conn.st.snd_wnd = 2500;
    post(p, 1, 5000, 0);
    g_assert_cmpuint(p->sent->len, ==, 2);
    g_assert_cmpuint(sent(p, 0)->len, ==, 1000);
    g_assert_cmpuint(sent(p, 1)->len, ==, 1000);
    g_assert_cmpint(gso_mapped, ==, 0);
    peer_free(p);
}

/*
 * A super-frame's segments take consecutive IP IDs from the backend; one
 * that would run past 0xffff starts over at the target's half.
 */
static void test_gso_ip_id_wrap(void)
{
    Peer *p = gso_peer();

    p->stack.ip_id = 0xfff0;
    post(p, 1, 20000, 0);
    g_assert_cmpuint(p->sent->len, ==, 20);
    for (guint i = 0; i < p->sent->len; i++) {
        g_assert_cmphex(sent(p, i)->ip_id, ==, 0x8000 + i);
    }
    g_assert_cmphex(p->stack.ip_id, ==, 0x8000 + 20);
    /* ending exactly at 0xffff is fine */
    p->stack.ip_id = 0xffff - 19;
    post(p, 2, 20000, 0);
    g_assert_cmphex(sent(p, 20)->ip_id, ==, 0xffff - 19);
    g_assert_cmphex(sent(p, 39)->ip_id, ==, 0xffff);
    g_assert_cmphex(p->stack.ip_id, ==, 0x8000);
    peer_free(p);
}

/* Unreadable memory still fails the request with nothing left mapped */
static void test_gso_dma_failure(void)
{
    Peer *p = gso_peer();

    p->bad_cookie = 2;
    post(p, 1, 3000, 0);
    post(p, 2, 3000, 0);
    g_assert_cmpint(gso_mapped, ==, 0);
    g_assert_cmpuint(p->conn.st.snd_nxt, ==, 3000);
    g_assert_cmpuint(p->events->len, ==, 1);
    g_assert_cmphex(event(p, 0), ==, CHIMNEY_TCP_EV_UPLOAD_REQUEST << 16 |
                    CHIMNEY_TCP_UPLOAD_HW_FAILURE);
    ack(p, 3000, 65535);
    g_assert_cmpuint(p->done->len, ==, 2);
    g_assert_cmpint(done(p, 1)->status, ==, CHIMNEY_TCP_DMA_ERROR);
    peer_free(p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chimney-tcp/complete-on-ack", test_complete_on_ack);
    g_test_add_func("/chimney-tcp/ordering", test_ordering);
    g_test_add_func("/chimney-tcp/tx-blocked", test_tx_blocked);
    g_test_add_func("/chimney-tcp/segmentation", test_segmentation);
    g_test_add_func("/chimney-tcp/counters", test_counters);
    g_test_add_func("/chimney-tcp/ip-id-wrap", test_ip_id_wrap);
    g_test_add_func("/chimney-tcp/window-limit", test_window_limit);
    g_test_add_func("/chimney-tcp/window-scale", test_window_scale);
    g_test_add_func("/chimney-tcp/sws/window-edge", test_sws_window_edge);
    g_test_add_func("/chimney-tcp/sws/override", test_sws_override);
    g_test_add_func("/chimney-tcp/sws/cwnd", test_sws_cwnd);
    g_test_add_func("/chimney-tcp/ca-stretch-ack", test_ca_stretch_ack);
    g_test_add_func("/chimney-tcp/cwnd-cap", test_cwnd_cap);
    g_test_add_func("/chimney-tcp/sws/after-zero-window",
                    test_sws_after_zero_window);
    g_test_add_func("/chimney-tcp/persist", test_persist);
    g_test_add_func("/chimney-tcp/persist-limit", test_persist_limit);
    g_test_add_func("/chimney-tcp/rto", test_rto);
    g_test_add_func("/chimney-tcp/rexmit-limit", test_rexmit_limit);
    g_test_add_func("/chimney-tcp/fast-retransmit", test_fast_retransmit);
    g_test_add_func("/chimney-tcp/rst", test_rst);
    g_test_add_func("/chimney-tcp/graceful-disconnect",
                    test_graceful_disconnect);
    g_test_add_func("/chimney-tcp/fin-retransmit", test_fin_retransmit);
    g_test_add_func("/chimney-tcp/abortive-disconnect",
                    test_abortive_disconnect);
    g_test_add_func("/chimney-tcp/terminate", test_terminate);
    g_test_add_func("/chimney-tcp/query-idle", test_query_idle);
    g_test_add_func("/chimney-tcp/handover", test_handover);
    g_test_add_func("/chimney-tcp/wrap", test_wrap);
    g_test_add_func("/chimney-tcp/dma-failure", test_dma_failure);
    g_test_add_func("/chimney-tcp/uncovered-send", test_uncovered_send);
    g_test_add_func("/chimney-tcp/rx/posted", test_rx_posted);
    g_test_add_func("/chimney-tcp/rx/push", test_rx_push);
    g_test_add_func("/chimney-tcp/rx/out-of-order", test_rx_out_of_order);
    g_test_add_func("/chimney-tcp/rx/ooo-bound", test_rx_ooo_bound);
    g_test_add_func("/chimney-tcp/rx/window", test_rx_window);
    g_test_add_func("/chimney-tcp/rx/indicate", test_rx_indicate);
    g_test_add_func("/chimney-tcp/rx/delayed-ack", test_rx_delayed_ack);
    g_test_add_func("/chimney-tcp/rx/ack-on-data", test_rx_ack_on_data);
    g_test_add_func("/chimney-tcp/input-burst", test_input_burst);
    g_test_add_func("/chimney-tcp/rx/fin", test_rx_fin);
    g_test_add_func("/chimney-tcp/rx/fin-out-of-order",
                    test_rx_fin_out_of_order);
    g_test_add_func("/chimney-tcp/rx/rst-pending", test_rx_rst_pending);
    g_test_add_func("/chimney-tcp/rx/half-close-local",
                    test_rx_half_close_local);
    g_test_add_func("/chimney-tcp/rx/keepalive", test_keepalive);
    g_test_add_func("/chimney-tcp/rx/urgent", test_rx_urgent);
    g_test_add_func("/chimney-tcp/rx/probe-answered", test_rx_probe_answered);
    g_test_add_func("/chimney-tcp/rx/ack-out-of-window",
                    test_ack_out_of_window);
    g_test_add_func("/chimney-tcp/refused-in-order", test_refused_in_order);
    g_test_add_func("/chimney-tcp/rx/syn", test_rx_syn);
    g_test_add_func("/chimney-tcp/rx/rst-challenge-keepalive",
                    test_rx_rst_challenge_keepalive);
    g_test_add_func("/chimney-tcp/rx/preload", test_rx_preload);
    g_test_add_func("/chimney-tcp/rx/terminate", test_rx_terminate);
    g_test_add_func("/chimney-tcp/rx/dma-error", test_rx_dma_error);
    g_test_add_func("/chimney-tcp/rx/paws", test_rx_paws);
    g_test_add_func("/chimney-tcp/state-check", test_state_check);
    g_test_add_func("/chimney-tcp/parse", test_parse);
    g_test_add_func("/chimney-tcp/csum", test_csum);
    g_test_add_func("/chimney-tcp/gso", test_gso);
    g_test_add_func("/chimney-tcp/gso-dma-failure", test_gso_dma_failure);
    g_test_add_func("/chimney-tcp/gso-ip-id-wrap", test_gso_ip_id_wrap);
    g_test_add_func("/chimney-tcp/finished-frames", test_finished_frames);
    return g_test_run();
}
