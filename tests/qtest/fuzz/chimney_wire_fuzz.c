/*
 * chimney-nic: libFuzzer target for what the network sends the device
 *
 *   chimney-wire  each input starts from a device brought up as a driver
 *       does, with four offloaded connections (IPv4 with timestamps and
 *       window scaling, IPv6, IPv4 on VLAN 10, IPv4 with a receive queue
 *       and two RECEIVEs posted), each with two SENDs in flight, the
 *       first and the last with the doorbell hint (ABI 1.4).  The
 *       input is a sequence of 16-byte records (WireRec), each a frame
 *       from the network (a TCP segment of a connection built with the
 *       right addresses and checksums, an ICMPv6 Packet Too Big, or raw
 *       bytes) or a guest action (SEND, RECEIVE, DISCONNECT, CQ head),
 *       then a step of the virtual clock.  The harness reads every frame
 *       the device sends and every completion, and aborts when the
 *       device breaks its contract: a SEND completed before the peer
 *       ACKed all its bytes, completions out of order, data on the wire
 *       or in a receive buffer that is not the stream's, a latched fatal
 *       status.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include <sys/socket.h>
#include "qemu/bswap.h"
#include "tests/qtest/libqtest.h"
#include "tests/qtest/libqos/pci-pc.h"
#include "tests/qtest/libqos/malloc-pc.h"
#include "tests/qtest/libqos/chimney-host.h"
#include "fuzz.h"

#define WIRE_CONNS      4
#define WIRE_CQ         2
#define WIRE_CQ_SIZE    256
#define WIRE_QUEUE      16      /* SQ and RQ entries of each connection */
#define WIRE_MAX_REQS   256     /* requests a connection takes per input */
#define WIRE_PORT       40001   /* local port of connection 0 */
#define WIRE_TS_BASE    5000

enum { WIRE_V4_TS, WIRE_V6, WIRE_VLAN, WIRE_RQ };

/* One input record: a frame or a guest action, then a clock step */
typedef struct WireRec {
    uint8_t op;         /* % 8: 0-4 segment, 5 ICMPv6 PTB, 6 guest, 7 raw */
    uint8_t sel;        /* WIRE_SEL_* */
    uint8_t flags;      /* TCP flags; for guest actions WIRE_GUEST_* */
    uint8_t shape;      /* WIRE_SHAPE_* */
    uint8_t seq[2];     /* little-endian int16 deltas */
    uint8_t ack[2];
    uint8_t wnd[2];
    uint8_t len[2];     /* payload bytes */
    uint8_t clock;      /* virtual time after the record, see wire_clock */
    int8_t ts;          /* TSval relative to the peer's clock */
    uint8_t urg[2];     /* urgent pointer */
} WireRec;

#define WIRE_SEL_CONN(s)        ((s) & 3)
#define WIRE_SEL_SEQ(s)         (((s) >> 2) & 3)
#define WIRE_SEL_ACK_ACKED      (1u << 4)   /* ack from the highest sent */
#define WIRE_SEL_BAD_CSUM       (1u << 5)
#define WIRE_SEL_VLAN           (1u << 6)   /* the other tagging */
#define WIRE_SEL_TS             (1u << 7)   /* a timestamp option */
#define WIRE_SHAPE_OPT_WORDS(s) ((s) & 3)   /* option words from the input */
#define WIRE_SHAPE_WRONG_VID    (1u << 2)   /* with VLAN: tagged with 11 */

enum { WIRE_GUEST_SEND, WIRE_GUEST_RECV, WIRE_GUEST_CQ, WIRE_GUEST_DISC };

typedef struct WireReq {
    uint64_t cookie;
    uint8_t type;
    uint32_t start, end;        /* stream offsets of its data */
    uint64_t buf;               /* RECEIVE: its buffer */
} WireReq;

typedef struct WireConn {
    QChimneyConn hc;
    uint32_t snd_base;          /* iss + 1: stream offset 0 of the SENDs */
    uint32_t dev_max;           /* highest seq + len the device sent */
    uint32_t dev_ack;           /* highest ack the device sent */
    uint32_t dev_tsval;
    uint32_t acked;             /* highest ack sent to it with ACK set */
    uint32_t peer_nxt;          /* highest seq + len sent to it */
    uint32_t peer_ts;
    WireReq sq[WIRE_MAX_REQS];
    uint32_t sq_posted, sq_done, send_off;
    WireReq rq[WIRE_MAX_REQS];
    uint32_t rq_posted, rq_done, delivered;
    bool disconnected;          /* a DISCONNECT was posted */
    bool broken;                /* a SEND failed: the stream is not known */
} WireConn;

static int wire_sv[2];          /* ours, QEMU's dgram netdev's */
static QChimneyFixture wire_fx;
static WireConn wire_conn[WIRE_CONNS];
static uint64_t wire_cookie;

static const uint8_t wire_dev_ip6[16] = {
    0x20, 0x01, 0x0d, 0xb8, [15] = 1,
};
static const uint8_t wire_peer_ip6[16] = {
    0x20, 0x01, 0x0d, 0xb8, [15] = 2,
};

static G_NORETURN G_GNUC_PRINTF(2, 3)
void wire_fail(WireConn *wc, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "chimney-wire: connection %u: ",
            (unsigned)(wc - wire_conn));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

static bool wire_after(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

/* --- the wire --- */

static bool wire_send(const uint8_t *buf, size_t len)
{
    /*
     * A full socket is a lossy wire: the frame is lost.  An empty
     * datagram is the end of the connection to the dgram netdev, which
     * then reads no more: not a frame.
     */
    return len && send(wire_sv[0], buf, len, MSG_DONTWAIT) == (ssize_t)len;
}

/* Payload bytes from stream offset @off: what the SENDs there hold */
static void wire_check_bytes(WireConn *wc, uint32_t off, const uint8_t *p,
                             uint32_t len)
{
    uint32_t k = 0;

    for (uint32_t i = 0; i < len; i++, off++) {
        WireReq *r;

        if ((int32_t)off < 0 || wc->broken) {
            continue;   /* a keepalive probe's byte, or an unknown stream */
        }
        while (k < wc->sq_posted &&
               (wc->sq[k].type != CHIMNEY_SQ_SEND || off >= wc->sq[k].end)) {
            k++;
        }
        if (k == wc->sq_posted || off < wc->sq[k].start) {
            wire_fail(wc, "sent a byte at offset %u, beyond the %u bytes "
                      "queued", off, wc->send_off);
        }
        r = &wc->sq[k];
        if (p[i] != (uint8_t)(r->cookie * 131 + (off - r->start) * 7)) {
            wire_fail(wc, "sent 0x%02x at offset %u, not what SEND %"
                      PRIu64 " holds there", p[i], off, r->cookie);
        }
    }
}

/* A frame from the device: follow its connection's state */
static void wire_seen(const uint8_t *f, size_t n)
{
    uint16_t type;
    size_t l3 = qchimney_l3(f, &type, NULL);
    const uint8_t *ip = f + l3, *th;
    uint32_t tcp_len, doff, plen, seq, end, idx;
    WireConn *wc;

    if (type == 0x0800 && n >= l3 + 20 && ip[9] == 6 &&
        n >= l3 + (ip[0] & 15) * 4 + 20 &&
        lduw_be_p(ip + 2) >= (ip[0] & 15) * 4) {
        th = ip + (ip[0] & 15) * 4;
        tcp_len = lduw_be_p(ip + 2) - (th - ip);
    } else if (type == 0x86dd && n >= l3 + 60 && ip[6] == 6) {
        th = ip + 40;
        tcp_len = lduw_be_p(ip + 4);
    } else {
        return;
    }
    if (tcp_len < 20 || tcp_len > f + n - th) {
        return;
    }
    idx = lduw_be_p(th) - WIRE_PORT;
    if (idx >= WIRE_CONNS || wire_conn[idx].hc.ipv6 != (type == 0x86dd)) {
        return;
    }
    wc = &wire_conn[idx];
    doff = (th[12] >> 4) * 4;
    if (doff < 20 || doff > tcp_len) {
        wire_fail(wc, "sent a TCP header of %u bytes", doff);
    }
    for (uint32_t i = 20; i + 1 < doff && th[i];) {
        if (th[i] == 1) {
            i++;
            continue;
        }
        if (th[i] == 8 && th[i + 1] == 10 && i + 10 <= doff) {
            wc->dev_tsval = ldl_be_p(th + i + 2);
        }
        i += MAX(th[i + 1], 2);
    }
    seq = ldl_be_p(th + 4);
    plen = tcp_len - doff;
    if ((th[13] & 0x10) && wire_after(ldl_be_p(th + 8), wc->dev_ack)) {
        wc->dev_ack = ldl_be_p(th + 8);
    }
    end = seq + plen + !!(th[13] & 0x02) + !!(th[13] & 0x01);
    if (wire_after(end, wc->dev_max)) {
        wc->dev_max = end;
    }
    wire_check_bytes(wc, seq - wc->snd_base, th + doff, plen);
}

/* Read what the device sent; false when there was nothing */
static bool wire_drain(void)
{
    static uint8_t buf[65536];
    bool any = false;
    ssize_t n;

    while ((n = recv(wire_sv[0], buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
        wire_seen(buf, n);
        any = true;
    }
    return any;
}

/* --- completions --- */

static void wire_sq_done(WireConn *wc, const ChimneyCqe *cqe)
{
    uint8_t st = CHIMNEY_CQE_STATUS(cqe->type_status);
    WireReq *r;
    uint32_t end;

    if (wc->sq_done == wc->sq_posted) {
        wire_fail(wc, "completed SQ cookie %" PRIu64 " never posted",
                  cqe->cookie);
    }
    r = &wc->sq[wc->sq_done++];
    if (cqe->cookie != r->cookie) {
        wire_fail(wc, "completed SQ cookie %" PRIu64 " before %" PRIu64,
                  cqe->cookie, r->cookie);
    }
    if (st != CHIMNEY_ST_SUCCESS) {
        wc->broken = true;
        return;
    }
    /* The FIN of a DISCONNECT is the byte after its stream */
    end = wc->snd_base + r->end + (r->type == CHIMNEY_SQ_DISCONNECT);
    if (wire_after(end, wc->acked) || wire_after(end, wc->dev_max)) {
        wire_fail(wc, "completed cookie %" PRIu64 " (up to %u) with the "
                  "peer's ACK at %u and %u sent", r->cookie, end,
                  wc->acked, wc->dev_max);
    }
}

static void wire_rq_done(WireConn *wc, const ChimneyCqe *cqe)
{
    g_autofree uint8_t *data = NULL;
    WireReq *r;

    if (wc->rq_done == wc->rq_posted) {
        wire_fail(wc, "completed RQ cookie %" PRIu64 " never posted",
                  cqe->cookie);
    }
    r = &wc->rq[wc->rq_done++];
    if (cqe->cookie != r->cookie || cqe->bytes > r->end) {
        wire_fail(wc, "RECEIVE %" PRIu64 " of %u bytes completed as %"
                  PRIu64 " with %u", r->cookie, r->end, cqe->cookie,
                  cqe->bytes);
    }
    data = g_malloc(cqe->bytes + 1);
    qtest_memread(wire_fx.qts, r->buf, data, cqe->bytes);
    for (uint32_t i = 0; i < cqe->bytes; i++) {
        uint32_t seq = wc->hc.irs + 1 + wc->delivered + i;

        if (data[i] != qchimney_rx_byte(seq)) {
            wire_fail(wc, "RECEIVE %" PRIu64 " byte %u is 0x%02x, the "
                      "stream's 0x%02x", r->cookie, i, data[i],
                      qchimney_rx_byte(seq));
        }
    }
    wc->delivered += cqe->bytes;
}

static void wire_poll(void)
{
    uint32_t l2_rx = 0;
    ChimneyCqe cqe;

    while (qchimney_cq_poll(&wire_fx.c, WIRE_CQ, &cqe)) {
        uint32_t idx = (cqe.obj & 0xffffff) - 1;
        uint8_t type = CHIMNEY_CQE_TYPE(cqe.type_status);

        if (idx >= WIRE_CONNS) {
            continue;
        }
        if (type == CHIMNEY_CQE_SEND || type == CHIMNEY_CQE_DISCONNECT) {
            wire_sq_done(&wire_conn[idx], &cqe);
        } else if (type == CHIMNEY_CQE_RECV) {
            wire_rq_done(&wire_conn[idx], &cqe);
        }
    }
    /* L2 frames for the host: taken, their buffers given back */
    while (qchimney_cq_poll(&wire_fx.c, QCHIMNEY_L2_CQ, &cqe)) {
        if (CHIMNEY_CQE_TYPE(cqe.type_status) == CHIMNEY_CQE_L2_RX) {
            l2_rx++;
        }
    }
    qchimney_cq_ack(&wire_fx.c, QCHIMNEY_L2_CQ);
    if (l2_rx) {
        qchimney_l2_post_rx(&wire_fx.c, l2_rx, 2048);
    }
}

/* Let the device run, and read all it did */
static void wire_pump(void)
{
    for (int i = 0; i < 16; i++) {
        flush_events(wire_fx.qts);
        if (!wire_drain()) {
            break;
        }
    }
    wire_poll();
}

/* --- the guest --- */

static void wire_post_send(WireConn *wc, uint8_t type, uint8_t flags,
                           uint32_t len)
{
    WireReq *r;

    if (wc->disconnected || wc->sq_posted == WIRE_MAX_REQS ||
        wc->sq_posted - wc->sq_done >= WIRE_QUEUE - 1) {
        return;
    }
    r = &wc->sq[wc->sq_posted++];
    *r = (WireReq) {
        .cookie = ++wire_cookie, .type = type, .start = wc->send_off,
        .end = wc->send_off + len,
    };
    qchimney_sq_post(&wire_fx.c, &wc->hc, type, flags, r->cookie, &len,
                     len ? 1 : 0, NULL);
    wc->send_off += len;
    wc->disconnected = type == CHIMNEY_SQ_DISCONNECT;
    qchimney_sq_kick_hinted(&wire_fx.c, &wc->hc);
}

static void wire_post_recv(WireConn *wc, uint32_t len)
{
    WireReq *r;

    if (!wc->hc.rq_size || wc->rq_posted == WIRE_MAX_REQS ||
        wc->rq_posted - wc->rq_done >= WIRE_QUEUE - 1) {
        return;
    }
    r = &wc->rq[wc->rq_posted++];
    *r = (WireReq) { .cookie = ++wire_cookie, .end = len };
    r->buf = qchimney_rq_post(&wire_fx.c, &wc->hc, CHIMNEY_RQ_RECEIVE, 0,
                              r->cookie, len);
    qchimney_sq_kick_hinted(&wire_fx.c, &wc->hc);
}

static void wire_guest(const WireRec *rec)
{
    WireConn *wc = &wire_conn[WIRE_SEL_CONN(rec->sel)];
    uint32_t len = lduw_le_p(rec->len);

    switch (rec->flags & 3) {
    case WIRE_GUEST_SEND:
        wire_post_send(wc, CHIMNEY_SQ_SEND, rec->shape & CHIMNEY_SQF_PUSH,
                       len % 8192 + 1);
        break;
    case WIRE_GUEST_RECV:
        wire_post_recv(wc, len % 4096 + 1);
        break;
    case WIRE_GUEST_CQ:
        wire_poll();
        qchimney_cq_ack(&wire_fx.c, WIRE_CQ);
        break;
    case WIRE_GUEST_DISC:
        /* graceful only: an abortive one fails the SENDs before it */
        wire_post_send(wc, CHIMNEY_SQ_DISCONNECT, 0, 0);
        break;
    }
}

/* --- frames from the peer --- */

static uint16_t wire_csum_add(uint16_t csum, uint16_t word)
{
    uint32_t sum = (uint16_t)~csum + word;

    return ~((sum & 0xffff) + (sum >> 16));
}

/* The frame's addresses: @wc's from the peer, tagged as @sel says */
static QChimneyTcpAddr wire_addr(WireConn *wc, uint8_t sel, uint8_t shape,
                                 bool *accepted)
{
    QChimneyTcpAddr a = qchimney_conn_addr(&wc->hc, true);

    if (sel & WIRE_SEL_VLAN) {
        if (shape & WIRE_SHAPE_WRONG_VID) {
            a.tagged = true;
            a.tci = 11 | (shape >> 5) << 13;
        } else {
            a.tagged = !a.tagged;
            a.tci = wc->hc.vlan ? 0 : 10;
        }
    }
    /* a connection with a VLAN id takes only its own */
    *accepted = !wc->hc.vlan || (a.tagged && (a.tci & 0xfff) == wc->hc.vlan);
    return a;
}

/*
 * Whether the device may look at the ACK of a segment [@seq, @end): not
 * when it ends before the device's last ACK (RcvNxt when it last said
 * its window) or starts beyond any window it can have offered (RFC 9293
 * 3.10.7.4, as Linux applies it).  The input's data moves RcvNxt by 2 MiB
 * at most, a window is 8 MiB at most.
 */
static bool wire_acceptable(WireConn *wc, uint32_t seq, uint32_t end)
{
    return !wire_after(wc->dev_ack, end) &&
           (int32_t)(seq - wc->dev_ack) < (1 << 26);
}

static void wire_segment(const WireRec *rec, const uint8_t *opt_in,
                         size_t opt_avail)
{
    WireConn *wc = &wire_conn[WIRE_SEL_CONN(rec->sel)];
    int16_t sd = lduw_le_p(rec->seq), ad = lduw_le_p(rec->ack);
    uint32_t len = lduw_le_p(rec->len) % 2048, seq, ack, end;
    uint8_t opt[40], fr[18 + 40 + 60 + 2048], data[2048], *th;
    size_t optlen = 0, words = WIRE_SHAPE_OPT_WORDS(rec->shape), n;
    bool accepted;
    QChimneyTcpAddr a = wire_addr(wc, rec->sel, rec->shape, &accepted);

    switch (WIRE_SEL_SEQ(rec->sel)) {
    case 0:
        seq = wc->peer_nxt + sd;
        break;
    case 1:
        seq = wc->dev_ack + sd;
        break;
    case 2:
        seq = wc->dev_ack + sd * 1024;
        break;
    default:
        seq = wc->peer_nxt + ((uint32_t)sd << 16);
        break;
    }
    ack = ((rec->sel & WIRE_SEL_ACK_ACKED) ? wc->acked : wc->dev_max) + ad;
    wc->peer_ts++;
    if (rec->sel & WIRE_SEL_TS) {
        opt[0] = opt[1] = 1;
        opt[2] = 8;
        opt[3] = 10;
        stl_be_p(opt + 4, wc->peer_ts + rec->ts * 64);
        stl_be_p(opt + 8, wc->dev_tsval);
        optlen = 12;
    }
    words = MIN(words, opt_avail / 4);
    memcpy(opt + optlen, opt_in, words * 4);
    optlen += words * 4;
    for (uint32_t i = 0; i < len; i++) {
        data[i] = qchimney_rx_byte(seq + i);
    }
    n = qchimney_tcp_data_frame(fr, &a, seq, ack, rec->flags,
                                lduw_le_p(rec->wnd), opt, optlen, data, len);
    th = fr + (a.tagged ? 18 : 14) + (a.ipv6 ? 40 : 20);
    if (lduw_le_p(rec->urg)) {
        stw_be_p(th + 18, lduw_le_p(rec->urg));
        stw_be_p(th + 16, wire_csum_add(lduw_be_p(th + 16),
                                        lduw_le_p(rec->urg)));
    }
    if (rec->sel & WIRE_SEL_BAD_CSUM) {
        th[16] ^= 0x5a;
        accepted = false;
    }
    if (!wire_send(fr, n) || !accepted) {
        return;
    }
    end = seq + len + !!(rec->flags & 0x02) + !!(rec->flags & 0x01);
    if ((rec->flags & 0x10) && wire_after(ack, wc->acked) &&
        wire_acceptable(wc, seq, end)) {
        wc->acked = ack;
    }
    if (wire_after(end, wc->peer_nxt)) {
        wc->peer_nxt = end;
    }
}

/* An ICMPv6 Packet Too Big about the IPv6 connection's segment */
static void wire_ptb(const WireRec *rec)
{
    WireConn *wc = &wire_conn[WIRE_V6];
    uint8_t msg[8 + 40 + 20 + 64], fr[18 + 40 + sizeof(msg)], *q = msg + 8;
    size_t mlen = 8 + 40 + 8 + lduw_le_p(rec->len) % 64, n;
    bool accepted;
    QChimneyTcpAddr a = wire_addr(wc, rec->sel, rec->shape, &accepted);

    memset(msg, 0, sizeof(msg));
    msg[0] = 2;                                 /* Packet Too Big */
    msg[1] = rec->flags & 0x80 ? rec->flags : 0;
    stl_be_p(msg + 4, 1200 + lduw_le_p(rec->wnd) % 400);
    stl_be_p(q, 6u << 28);
    stw_be_p(q + 4, 20);
    q[6] = rec->flags & 0x40 ? 17 : 6;
    q[7] = 64;
    memcpy(q + 8, wc->hc.ip6, 16);
    memcpy(q + 24, wc->hc.peer_ip6, 16);
    stw_be_p(q + 40, wc->hc.port);
    stw_be_p(q + 42, wc->hc.peer_port);
    stl_be_p(q + 44, wc->acked + (int16_t)lduw_le_p(rec->seq));
    n = qchimney_icmp6_frame(fr, &a, msg, mlen);
    if (rec->sel & WIRE_SEL_BAD_CSUM) {
        fr[n - mlen + 2] ^= 0x5a;
    }
    wire_send(fr, n);
}

/* Advance virtual time by up to hours, in a few steps */
static void wire_clock(uint8_t v)
{
    int64_t ns = (int64_t)((v & 7) + 1) << ((v >> 3) + 10);

    if (!v) {
        return;
    }
    for (int i = 0; i < 4; i++) {
        qtest_clock_step(wire_fx.qts, ns / 4);
        wire_pump();
    }
}

/* --- setup, per input --- */

static void wire_offload(QChimneyFixture *f, WireConn *wc, int i)
{
    QChimneyConn *hc = &wc->hc;
    ChimneyTcpOffload o;

    qchimney_conn_setup(f, hc, i + 1, WIRE_CQ, WIRE_QUEUE);
    g_assert_cmpuint(hc->port, ==, WIRE_PORT + i);
    memcpy(hc->peer_mac, QCHIMNEY_PEER_MAC, 6);
    /* one connection's sequence numbers wrap soon */
    hc->iss = i == WIRE_VLAN ? 0xfffff000u : 1000 + i * 0x10000;
    hc->irs = i == WIRE_RQ ? 0xffffff00u : 777 + i * 0x10000;
    hc->peer_mss = 1000;
    hc->peer_wnd = 65535;
    if (i == WIRE_V6) {
        hc->ipv6 = true;
        memcpy(hc->ip6, wire_dev_ip6, 16);
        memcpy(hc->peer_ip6, wire_peer_ip6, 16);
    } else if (i == WIRE_VLAN) {
        hc->vlan = 10;
    } else if (i == WIRE_RQ) {
        hc->rq_size = WIRE_QUEUE;
        hc->rq_base = QEMU_ALIGN_UP(guest_alloc(&f->alloc,
                                                WIRE_QUEUE * 32 + 64), 64);
    }
    /* two with the doorbell hint (ABI 1.4): posts may go unrung */
    hc->db_hint = i == WIRE_V4_TS || i == WIRE_RQ;
    qchimney_offload_route(&f->c, hc, i, i, 1500);
    qchimney_tcp_block(hc, i, WIRE_CQ, &o);
    if (i == WIRE_V4_TS) {
        o.const_flags |= cpu_to_le16(CHIMNEY_TCPF_TIMESTAMPS |
                                     CHIMNEY_TCPF_WINDOW_SCALING);
        o.snd_wscale = 2;
        o.rcv_wscale = 7;
        o.delegated.ts_recent = cpu_to_le32(WIRE_TS_BASE);
    }
    g_assert_cmpuint(qchimney_offload_tcp(&f->c, hc, &o, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    wc->snd_base = wc->dev_max = wc->acked = hc->iss + 1;
    wc->dev_ack = wc->peer_nxt = hc->irs + 1;
    wc->peer_ts = WIRE_TS_BASE;
    wire_post_send(wc, CHIMNEY_SQ_SEND, 0, 3000);
    wire_post_send(wc, CHIMNEY_SQ_SEND, CHIMNEY_SQF_PUSH, 1200);
    wire_post_recv(wc, 4096);
    wire_post_recv(wc, 1500);
}

static void wire_start(QTestState *s)
{
    QChimneyFixture *f = &wire_fx;
    uint8_t junk[65536];
    uint64_t ring;

    /* What the last input's device sent or was sent and nobody read */
    while (recv(wire_sv[0], junk, sizeof(junk), MSG_DONTWAIT) > 0) {
        continue;
    }
    while (recv(wire_sv[1], junk, sizeof(junk), MSG_DONTWAIT) > 0) {
        continue;
    }
    memset(f, 0, sizeof(*f));
    memset(wire_conn, 0, sizeof(wire_conn));
    wire_cookie = 0;
    f->qts = s;
    f->sock = wire_sv[0];
    pc_alloc_init(&f->alloc, s, ALLOC_NO_FLAGS);
    f->bus = qpci_new_pc(s, NULL);
    qchimney_start(&f->c, s, f->bus, &f->alloc, &(QChimneyConfig) {
        .rx_buffers = 32, .idle = flush_events,
    });
    ring = QEMU_ALIGN_UP(guest_alloc(&f->alloc, WIRE_CQ_SIZE * 32 + 64), 64);
    qtest_memset(s, ring, 0, WIRE_CQ_SIZE * 32);
    g_assert_cmpuint(qchimney_create_cq(&f->c, WIRE_CQ, ring, WIRE_CQ_SIZE,
                                        WIRE_CQ, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    for (int i = 0; i < WIRE_CONNS; i++) {
        wire_offload(f, &wire_conn[i], i);
    }
    wire_pump();
}

static void wire_end(QTestState *s)
{
    QChimneyFixture *f = &wire_fx;
    uint32_t status;
    int unread;

    wire_pump();
    /* With RX buffers posted and CQs read, every frame must be taken */
    if (ioctl(wire_sv[0], TIOCOUTQ, &unread) == 0 && unread) {
        fprintf(stderr, "chimney-wire: the device left %d bytes of frames "
                "on the wire\n", unread);
        abort();
    }
    status = qchimney_readl(&f->c, CHIMNEY_REG_STATUS);
    if (status & CHIMNEY_STATUS_FATAL) {
        fprintf(stderr, "chimney-wire: fatal status, code %u info 0x%x\n",
                qchimney_readl(&f->c, CHIMNEY_REG_FATAL_CODE),
                qchimney_readl(&f->c, CHIMNEY_REG_FATAL_INFO));
        abort();
    }
    qchimney_stop(&f->c);
    qpci_free_pc(f->bus);
    alloc_destroy(&f->alloc);
    fuzz_reset(s);
}

static void wire_fuzz(QTestState *s, const unsigned char *data, size_t size)
{
    WireRec rec;

    wire_start(s);
    while (size >= sizeof(rec)) {
        memcpy(&rec, data, sizeof(rec));
        data += sizeof(rec);
        size -= sizeof(rec);
        switch (rec.op % 8) {
        case 5:
            wire_ptb(&rec);
            break;
        case 6:
            wire_guest(&rec);
            break;
        case 7: {
            size_t n = MIN(lduw_le_p(rec.len) % 2048, size);

            wire_send(data, n);
            data += n;
            size -= n;
            break;
        }
        default: {
            size_t n = MIN(WIRE_SHAPE_OPT_WORDS(rec.shape) * 4, size);

            wire_segment(&rec, data, n);
            data += n;
            size -= n;
            break;
        }
        }
        wire_pump();
        wire_clock(rec.clock);
    }
    wire_end(s);
}

static GString *wire_cmdline(FuzzTarget *t)
{
    GString *cmd = g_string_new(NULL);

    g_assert_cmpint(socketpair(PF_UNIX, SOCK_DGRAM, 0, wire_sv), ==, 0);
    /* No PIT or HPET: hours of virtual time pass without their ticks */
    g_string_printf(cmd, "%s -machine pc,accel=qtest,pit=off,hpet=off "
                    "-display none "
                    "-nodefaults -m 512M "
                    "-netdev dgram,id=n0,local.type=fd,local.str=%d "
                    "-device chimney-nic,netdev=n0,mac=" QCHIMNEY_MAC,
                    TARGET_NAME, wire_sv[1]);
    if (getenv("CHIMNEY_FUZZ_TRACE")) {
        /* to reproduce a crash: e.g. CHIMNEY_FUZZ_TRACE='chimney_*' */
        g_string_append_printf(cmd, " -trace '%s'",
                               getenv("CHIMNEY_FUZZ_TRACE"));
    }
    return cmd;
}

static void register_chimney_wire_fuzz_target(void)
{
    fuzz_add_target(&(FuzzTarget){
        .name = "chimney-wire",
        .description = "chimney-nic: frames from the network for "
                       "offloaded connections, with guest requests",
        .get_init_cmdline = wire_cmdline,
        .fuzz = wire_fuzz,
    });
}

fuzz_target_init(register_chimney_wire_fuzz_target);
