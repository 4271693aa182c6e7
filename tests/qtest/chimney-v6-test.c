/*
 * QTest testcase for chimney-nic: IPv6 and 802.1Q (ABI 1.3)
 *
 * The same matrix as the IPv4 tests, for an untagged IPv6 connection, a
 * tagged IPv6 one (VLAN, priority, flow label) and a tagged IPv4 one:
 * sends complete only on the ACK of their last byte, receive, the peer's
 * FIN and RST, TERMINATE and fault rules; frames carry the family, tag
 * and header fields the state says.  Then what only IPv6 or VLANs have:
 * Microsoft's 802.1Q receive rules, extension headers left to the host,
 * ICMPv6 Packet Too Big, UPDATE of the new fields, migration, and every
 * bad input with its error completion and guest-error log.  Real peers:
 * libslirp's TCP over IPv6, and (Linux, root) the kernel's TCP over IPv6
 * and on a VLAN behind the lossy relay, byte-exact.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "libqos/chimney-host.h"
#include "libqos/chimney-slirp.h"
#include "libqos/chimney-kernel.h"

typedef struct V6Variant {
    const char *name;
    bool ipv6;
    uint16_t vlan;
    uint8_t prio;
    uint32_t flow_label;
} V6Variant;

static const V6Variant variants[] = {
    { "ipv6", true, 0, 0, 0 },
    { "ipv6-vlan", true, 10, 5, 0x12345 },
    { "ipv4-vlan", false, 20, 3, 0 },
};

static const uint8_t dev_ip6[16] = {
    0xfd, 0x09, [15] = 0x01,
};
static const uint8_t peer_ip6[16] = {
    0xfd, 0x09, [15] = 0x02,
};

#define V6_REMOTE_MSS   1460
#define V6_RTO_NS       (1000 * 1000 * 1000LL)

static void v6_tweak(QChimneyFixture *f, ChimneyTcpOffload *o)
{
    /* a peer MSS above what the path allows: the MTU sets the MSS */
    o->remote_mss = cpu_to_le16(V6_REMOTE_MSS);
}

static void v6_addr(QChimneyConn *hc, const V6Variant *v)
{
    hc->ipv6 = v->ipv6;
    memcpy(hc->ip6, dev_ip6, 16);
    memcpy(hc->peer_ip6, peer_ip6, 16);
    hc->vlan = v->vlan;
    hc->prio = v->prio;
    hc->flow_label = v->flow_label;
}

/* A connection of @v established and offloaded; @rq: with an RQ */
static void v6_fixture(QChimneyFixture *f, QChimneyConn *hc,
                       const V6Variant *v, uint32_t iss, bool rq,
                       const char *extra)
{
    uint64_t ring;

    qchimney_fx_init(f, extra);
    qchimney_fx_start(f, &(QChimneyConfig) { .rx_buffers = 8 });
    ring = QEMU_ALIGN_UP(guest_alloc(&f->alloc, 256 * 32 + 64), 64);
    qtest_memset(f->qts, ring, 0, 256 * 32);
    g_assert_cmpuint(qchimney_create_cq(&f->c, 2, ring, 256, 2, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    qchimney_conn_setup(f, hc, 5, 2, 16);
    v6_addr(hc, v);
    if (rq) {
        hc->rq_size = 16;
        hc->rq_base = QEMU_ALIGN_UP(guest_alloc(&f->alloc, 16 * 32 + 64), 64);
    }
    f->tweak = v6_tweak;
    qchimney_establish(f, hc, iss, 777);
}

static uint32_t v6_mss(const V6Variant *v, uint32_t mtu)
{
    return MIN(V6_REMOTE_MSS, mtu - (v->ipv6 ? 60 : 40));
}

/* A segment of the connection: family, tag and header fields */
static void check_frame(const QChimneyPeerSeg *ps, const QChimneyConn *hc)
{
    g_assert_cmpint(ps->ipv6, ==, hc->ipv6);
    g_assert_cmpint(ps->tagged, ==, hc->vlan || hc->prio);
    if (ps->tagged) {
        g_assert_cmphex(ps->tci, ==, hc->prio << 13 | hc->vlan);
    }
    g_assert_cmpuint(ps->hop_limit, ==, 64);
    if (hc->ipv6) {
        g_assert_cmphex(ps->flow_label, ==, hc->flow_label);
        g_assert_cmpuint(ps->frame_len, ==,
                         (ps->tagged ? 18 : 14) + 40 + 20 + ps->len);
    } else {
        g_assert_cmphex(ps->ip_off, ==, 0x4000);
        g_assert_cmphex(ps->ip_id, >=, 0x8000);
    }
}

/* Read segments of @hc until @total bytes from @start; the largest */
static uint32_t read_stream(QChimneyFixture *f, QChimneyConn *hc,
                            uint32_t start, uint32_t total, uint64_t cookie)
{
    uint32_t got = 0, largest = 0;
    QChimneyPeerSeg ps;

    while (got < total) {
        qchimney_peer_read(f, &ps);
        check_frame(&ps, hc);
        g_assert_cmpuint(ps.seq, ==, start + got);
        for (uint32_t i = 0; i < ps.len; i++) {
            g_assert_cmphex(ps.data[i], ==,
                            (uint8_t)(cookie * 131 + (got + i) * 7));
        }
        largest = MAX(largest, ps.len);
        got += ps.len;
    }
    g_assert_cmpuint(got, ==, total);
    return largest;
}

/* Sends complete on the ACK of their last byte; FIN; TERMINATE; stats */
static void test_v6_send(const void *opaque)
{
    const V6Variant *v = opaque;
    static const uint32_t s1[] = { 3000 };
    static const uint32_t s2[] = { 200 };
    QChimneyFixture f;
    QChimneyConn hc;
    QChimneyPeerSeg ps;
    ChimneyOffloadStats st;
    ChimneyTcpDelegated d;
    ChimneyCqe cqe;
    uint64_t qbuf;
    uint32_t start;

    v6_fixture(&f, &hc, v, 0xfffff000, false, NULL);
    start = hc.iss + 1;
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, CHIMNEY_SQF_PUSH, 1, s1, 1,
                     NULL);
    qchimney_sq_kick(&f.c, &hc);
    /* MSS = path MTU - 60 for IPv6, - 40 for IPv4 */
    g_assert_cmpuint(read_stream(&f, &hc, start, 3000, 1), ==,
                     v6_mss(v, 1500));
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, CHIMNEY_SQF_PUSH, 2, s2, 1,
                     NULL);
    qchimney_sq_kick(&f.c, &hc);
    read_stream(&f, &hc, start + 3000, 200, 2);
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_peer_ack(&f, &hc, start + 2999);
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_peer_ack(&f, &hc, start + 3200);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 1);
    g_assert_cmpuint(cqe.bytes, ==, 3000);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 2);
    g_assert_cmpuint(cqe.bytes, ==, 200);

    /* QUERY_STATS counts the connection whatever its family */
    st = qchimney_query_stats(&f);
    g_assert_cmpuint(le64_to_cpu(st.out_octets), ==, 3200);
    g_assert_cmpuint(le64_to_cpu(st.out_segments), >=, 4);
    g_assert_cmpuint(le32_to_cpu(st.established), ==, 1);

    /* Graceful disconnect: done when the FIN is acknowledged */
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_DISCONNECT, 0, 3, NULL, 0, NULL);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_read(&f, &ps);
    check_frame(&ps, &hc);
    g_assert(ps.flags & 0x01);
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_peer_ack(&f, &hc, ps.seq + 1);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_DISCONNECT,
                              CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 3);
    qbuf = guest_alloc(&f.alloc, sizeof(d));
    g_assert_cmpuint(qchimney_conn_cmd(&f.c, &hc, CHIMNEY_CMD_TERMINATE,
                                       qbuf, &cqe), ==, CHIMNEY_ST_SUCCESS);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.state), ==, CHIMNEY_TCP_FIN_WAIT2);
    g_assert_cmpuint(le32_to_cpu(d.snd_una), ==, start + 3201);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_QUERY_TCP, hc.id, qbuf, 0,
                                  0, 0, 0), ==, CHIMNEY_ST_INVALID_ID);
    qchimney_fx_end(&f);
}

/* Receive into posted buffers, then the peer's FIN: DISCONNECT */
static void test_v6_recv_fin(const void *opaque)
{
    const V6Variant *v = opaque;
    QChimneyFixture f;
    QChimneyConn hc;
    QChimneyPeerSeg ps;
    ChimneyCqe cqe;
    uint64_t b1;
    uint32_t s;

    v6_fixture(&f, &hc, v, 1000, true, NULL);
    s = hc.irs + 1;
    b1 = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x301, 2000);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_data(&f, &hc, s, 1001, 0, 1200);
    qchimney_peer_data(&f, &hc, s + 1200, 1001, 0x08, 300);
    qchimney_expect_recv(&f, 0x301, CHIMNEY_ST_SUCCESS, 1500);
    qchimney_check_rx(&f, b1, s, 1500);
    /* the ACK goes out on the connection's family and VLAN */
    do {
        qchimney_peer_read(&f, &ps);
        check_frame(&ps, &hc);
    } while (ps.ack != s + 1500);
    qchimney_peer_send(&f, &hc, s + 1500, 1001, 0x11, 65535, NULL, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_DISCONNECT);
    qchimney_peer_read(&f, &ps);
    check_frame(&ps, &hc);
    g_assert_cmpuint(ps.ack, ==, s + 1501);
    qchimney_fx_end(&f);
}

/* The peer's RST: every request aborted, then ABORT */
static void test_v6_rst(const void *opaque)
{
    const V6Variant *v = opaque;
    static const uint32_t s1[] = { 300 };
    QChimneyFixture f;
    QChimneyConn hc;
    QChimneyPeerSeg ps;
    ChimneyCqe cqe;

    v6_fixture(&f, &hc, v, 9, false, NULL);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, s1, 1, NULL);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 2, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    /* one doorbell's requests leave together */
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.len, ==, 600);
    qchimney_peer_send(&f, &hc, hc.irs + 1, 0, 0x04, 0, NULL, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 1);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 2);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_ABORT);
    g_assert_cmpuint(qchimney_conn_cmd(&f.c, &hc, CHIMNEY_CMD_TERMINATE,
                                       guest_alloc(&f.alloc, 96), &cqe), ==,
                     CHIMNEY_ST_SUCCESS);
    qchimney_fx_end(&f);
}

/* Fault rules apply to the connection whatever its family */
static void test_v6_fault(const void *opaque)
{
    const V6Variant *v = opaque;
    static const uint32_t s1[] = { 400 };
    QChimneyFixture f;
    QChimneyConn hc;
    QChimneyPeerSeg ps;
    ChimneyCqe cqe;
    uint32_t start;

    v6_fixture(&f, &hc, v, 1, false, NULL);
    qchimney_set_rules(&f, "type=send nth=2 fail=upload bytes=100");
    start = hc.iss + 1;
    for (int i = 1; i <= 3; i++) {
        qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, i, s1, 1, NULL);
    }
    qchimney_sq_kick(&f.c, &hc);
    /* the three requests leave together, in as many segments as fit */
    for (uint32_t got = 0; got < 1200; got += ps.len) {
        qchimney_peer_read(&f, &ps);
        check_frame(&ps, &hc);
        g_assert_cmpuint(ps.seq, ==, start + got);
    }
    qchimney_peer_ack_sync(&f, &hc, start + 1200);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.bytes, ==, 400);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    g_assert_cmphex(cqe.cookie, ==, 2);
    g_assert_cmpuint(cqe.bytes, ==, 100);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    g_assert_cmphex(cqe.cookie, ==, 3);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-fault-failed"), ==, 1);
    qchimney_fx_end(&f);
}

/*
 * An IPv6 segment of the connection behind an extension header is not
 * the device's: it goes to the host.
 */
static void test_v6_rx_match(const void *opaque)
{
    const V6Variant *v = opaque;
    QChimneyFixture f;
    QChimneyConn hc;
    uint8_t fr[256], got[2048];
    uint8_t hbh[8] = { 6, 0, 1, 4 };        /* hop-by-hop, PadN */
    QChimneyTcpAddr from;
    ChimneyCqe cqe;
    uint64_t segs;
    size_t len, l3;
    uint16_t type;

    v6_fixture(&f, &hc, v, 1000, true, NULL);
    segs = qchimney_conn_segs_in(&f, 5);
    from = qchimney_conn_addr(&hc, true);
    from.src_mac = (const uint8_t *)QCHIMNEY_PEER_MAC;
    len = qchimney_tcp_frame(fr, &from, hc.irs + 1, 1001, 0x10, 65535,
                             NULL, 0);
    l3 = qchimney_l3(fr, &type, NULL);
    memmove(fr + l3 + 48, fr + l3 + 40, len - l3 - 40);
    memcpy(fr + l3 + 40, hbh, 8);
    fr[l3 + 6] = 0;
    stw_be_p(fr + l3 + 4, lduw_be_p(fr + l3 + 4) + 8);
    qchimney_wire_send(&f, fr, len + 8);
    len = qchimney_l2_recv(&f.c, got, sizeof(got), &cqe);
    qchimney_l2_post_rx(&f.c, 1, 2048);
    g_assert_cmpuint(got[l3 + 6], ==, 0);
    g_assert_cmpuint(qchimney_conn_segs_in(&f, 5), ==, segs);
    /* and its own still reach it */
    qchimney_peer_send(&f, &hc, hc.irs + 1, 1001, 0x10, 65535, NULL, 0);
    qchimney_wait_segs_in(&f, &hc, segs + 1);
    qchimney_fx_end(&f);
}

#define NO_TAG  (-1)

/*
 * A pure ACK of @hc's peer to port @port, with the 802.1Q TCI @tci
 * (NO_TAG: untagged) whatever @hc's VLAN.
 */
static void peer_ack_tci(QChimneyFixture *f, const QChimneyConn *hc,
                         int tci, uint16_t port)
{
    QChimneyTcpAddr from = qchimney_conn_addr(hc, true);
    uint8_t fr[160];

    from.src_mac = (const uint8_t *)QCHIMNEY_PEER_MAC;
    from.tagged = tci != NO_TAG;
    from.tci = tci != NO_TAG ? tci : 0;
    from.dst_port = port;
    qchimney_wire_send(f, fr, qchimney_tcp_frame(fr, &from, hc->irs + 1,
                                                 hc->iss + 1, 0x10, 65535,
                                                 NULL, 0));
}

/*
 * The host's L2 RX queue got nothing since the last call: a segment of a
 * 4-tuple that is not offloaded, sent now, is the first frame it gets
 * (the device takes the wire's frames in order).
 */
static void host_got_nothing(QChimneyFixture *f, const QChimneyConn *hc)
{
    uint32_t th = hc->ipv6 ? 40 : 20;
    uint8_t got[2048];
    ChimneyCqe cqe;
    uint16_t type;
    size_t len, l3;

    peer_ack_tci(f, hc, NO_TAG, hc->port + 1);
    len = qchimney_l2_recv(&f->c, got, sizeof(got), &cqe);
    qchimney_l2_post_rx(&f->c, 1, 2048);
    l3 = qchimney_l3(got, &type, NULL);
    g_assert_cmpuint(len, >=, l3 + th + 20);
    g_assert_cmphex(type, ==, hc->ipv6 ? 0x86dd : 0x0800);
    g_assert_cmpuint(lduw_be_p(got + l3 + th + 2), ==, hc->port + 1);
}

/*
 * Microsoft's rules for receiving 802.1Q-tagged packets on an offloaded
 * TCP connection ("Receiving 802.1Q-Marked and 802.1p-Marked Packets on
 * an Offloaded TCP Connection", learn.microsoft.com/previous-versions/
 * windows/hardware/network/receiving-802-1q-marked-and-802-1p-marked-
 * packets-on-an-offloaded-tcp-): with neighbor VlanId 0 the offload
 * target does not filter by VLAN (no tag, VLAN id 0 or another id all
 * reach the connection); with a non-zero VlanId it accepts a tag with
 * that id and drops a packet without a tag or with another id.  Dropped:
 * neither the connection nor the host's L2 RX queue gets it, and
 * x-stat-rx-vlan-dropped counts it.  A 4-tuple is offloaded once
 * whatever its VLAN; the counter and the rules survive migration.
 */
static void test_v6_rx_vlan(const void *opaque)
{
    const V6Variant *v = opaque;
    const struct {
        int tci;
        bool own;
    } tags[] = {
        { NO_TAG, !v->vlan },
        { 5 << 13, !v->vlan },              /* priority-tagged: VLAN id 0 */
        { 7, !v->vlan },                    /* VLAN 7: never a variant's */
        { 3 << 13 | 4094, !v->vlan },
        { 2 << 13 | v->vlan, true },        /* its own VLAN id */
    };
    QChimneyFixture f;
    QChimneyConn hc, dup;
    ChimneyTcpOffload o;
    uint64_t segs, dropped = 0;

    v6_fixture(&f, &hc, v, 1000, true, NULL);
    for (int round = 0; round < (v->vlan ? 2 : 1); round++) {
        if (round) {
            qchimney_fx_migrate(&f, "file", NULL, NULL, NULL);
            g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-rx-vlan-dropped"),
                             ==, dropped);
        }
        for (size_t i = 0; i < ARRAY_SIZE(tags); i++) {
            segs = qchimney_conn_segs_in(&f, 5);
            peer_ack_tci(&f, &hc, tags[i].tci, hc.port);
            if (tags[i].own) {
                qchimney_wait_segs_in(&f, &hc, segs + 1);
            } else {
                dropped++;
            }
            host_got_nothing(&f, &hc);
            g_assert_cmpuint(qchimney_conn_segs_in(&f, 5), ==,
                             segs + tags[i].own);
            g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-rx-vlan-dropped"),
                             ==, dropped);
        }
    }
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-to-host"), ==, 0);

    /* The same 4-tuple on another VLAN is the same connection: refused */
    qchimney_conn_setup(&f, &dup, 6, hc.cq, 16);
    v6_addr(&dup, v);
    memcpy(dup.peer_mac, hc.peer_mac, 6);
    dup.vlan = v->vlan ? 0 : 30;
    dup.port = hc.port;
    dup.peer_port = hc.peer_port;
    dup.iss = hc.iss;
    dup.irs = hc.irs;
    dup.peer_mss = hc.peer_mss;
    dup.peer_wnd = hc.peer_wnd;
    qchimney_offload_route(&f.c, &dup, 1, 1, 1500);
    qchimney_tcp_block(&dup, 1, hc.cq, &o);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &dup, &o, 0), ==,
                     CHIMNEY_ST_INVALID_STATE);
    dup.port = hc.port + 2;
    qchimney_tcp_block(&dup, 1, hc.cq, &o);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &dup, &o, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    qchimney_fx_end(&f);
}

/*
 * An ICMPv6 Packet Too Big from a router on the path: @mtu, quoting a
 * segment of @hc at @seq (from @hc's address and ports, @tamper not 0:
 * something wrong in it, 3: on VLAN 7, wrong unless @hc's VlanId is 0).
 */
static void send_ptb(QChimneyFixture *f, QChimneyConn *hc, uint32_t mtu,
                     uint32_t seq, int tamper)
{
    static const uint8_t router[16] = { 0xfd, 0x09, [15] = 0xfe };
    uint8_t msg[8 + 40 + 20] = { 2 }, fr[256];
    uint8_t *q = msg + 8, *qth = q + 40;
    QChimneyTcpAddr from = qchimney_conn_addr(hc, true);
    size_t len;

    from.src_mac = (const uint8_t *)QCHIMNEY_PEER_MAC;
    from.src_ip6 = router;
    if (tamper == 3) {
        from.tagged = true;
        from.tci = 7;
    }
    stl_be_p(msg + 4, mtu);
    stl_be_p(q, 6u << 28);
    stw_be_p(q + 4, 1440 + 20);
    q[6] = 6;
    q[7] = 64;
    memcpy(q + 8, hc->ip6, 16);
    memcpy(q + 24, hc->peer_ip6, 16);
    stw_be_p(qth, tamper == 1 ? hc->port + 1 : hc->port);
    stw_be_p(qth + 2, hc->peer_port);
    stl_be_p(qth + 4, seq);
    len = qchimney_icmp6_frame(fr, &from, msg, sizeof(msg));
    if (tamper == 2) {
        fr[len - 1] ^= 1;                       /* bad checksum */
    }
    qchimney_wire_send(f, fr, len);
}

/* The Packet Too Big the host sees too */
static void expect_ptb_at_host(QChimneyFixture *f)
{
    uint8_t got[2048];
    ChimneyCqe cqe;
    uint16_t type;
    size_t l3;

    qchimney_l2_recv(&f->c, got, sizeof(got), &cqe);
    qchimney_l2_post_rx(&f->c, 1, 2048);
    l3 = qchimney_l3(got, &type, NULL);
    g_assert_cmphex(type, ==, 0x86dd);
    g_assert_cmpuint(got[l3 + 6], ==, 58);
    g_assert_cmpuint(got[l3 + 40], ==, 2);
}

/*
 * Packet Too Big about an offloaded connection: believed only when it
 * quotes an in-flight segment of it; the MTU goes down, never below
 * 1280 and never up; PATH_MTU on the admin CQ; the host sees the frame.
 */
static void test_v6_ptb(const void *opaque)
{
    const V6Variant *v = opaque;
    static const uint32_t s1[] = { 2880 };
    QChimneyFixture f;
    QChimneyConn hc;
    QChimneyPeerSeg ps;
    ChimneyCqe cqe;
    uint32_t start;

    v6_fixture(&f, &hc, v, 5000, false, NULL);
    start = hc.iss + 1;
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    g_assert_cmpuint(read_stream(&f, &hc, start, 2880, 1), ==, 1440);

    /* not believed: no event, the frame still goes to the host */
    send_ptb(&f, &hc, 1300, start + 2880, 0);       /* not in flight */
    expect_ptb_at_host(&f);
    send_ptb(&f, &hc, 1300, start - 1, 0);          /* acknowledged */
    expect_ptb_at_host(&f);
    send_ptb(&f, &hc, 1300, start, 1);              /* another port */
    expect_ptb_at_host(&f);
    send_ptb(&f, &hc, 1500, start, 0);              /* not lower */
    expect_ptb_at_host(&f);
    send_ptb(&f, &hc, 1300, start, 2);              /* bad checksum */
    expect_ptb_at_host(&f);
    if (v->vlan) {
        send_ptb(&f, &hc, 1300, start, 3);          /* not its VLAN */
        expect_ptb_at_host(&f);
    }
    g_assert(qchimney_cq_quiet(&f, CHIMNEY_ADMIN_CQ_ID));

    /* believed (VlanId 0: from any VLAN): MTU 1300, the retransmission */
    send_ptb(&f, &hc, 1300, start + 1440, v->vlan ? 0 : 3);
    cqe = qchimney_expect_cqe(&f, CHIMNEY_ADMIN_CQ_ID, CHIMNEY_CQE_EVENT,
                              CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_PATH_MTU);
    g_assert_cmpuint(cqe.obj, ==, 0);
    g_assert_cmpuint(cqe.bytes, ==, 1300);
    expect_ptb_at_host(&f);
    qtest_clock_step(f.qts, V6_RTO_NS);
    qchimney_peer_read(&f, &ps);
    check_frame(&ps, &hc);
    g_assert_cmpuint(ps.seq, ==, start);
    g_assert_cmpuint(ps.len, ==, 1300 - 60);

    /* below 1280: 1280; then a higher one changes nothing */
    send_ptb(&f, &hc, 600, start, 0);
    cqe = qchimney_expect_cqe(&f, CHIMNEY_ADMIN_CQ_ID, CHIMNEY_CQE_EVENT,
                              CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_PATH_MTU);
    g_assert_cmpuint(cqe.bytes, ==, CHIMNEY_IPV6_MIN_MTU);
    expect_ptb_at_host(&f);
    send_ptb(&f, &hc, 1400, start, 0);
    expect_ptb_at_host(&f);
    g_assert(qchimney_cq_quiet(&f, CHIMNEY_ADMIN_CQ_ID));

    /* everything acknowledged: the send completes in full */
    qchimney_peer_ack(&f, &hc, start + 2880);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.bytes, ==, 2880);
    qchimney_fx_end(&f);
}

static ChimneyCqe wait_conn_cqe(QChimneyFixture *f, uint32_t cq)
{
    ChimneyCqe cqe;

    qchimney_cq_wait(&f->c, cq, &cqe);
    return cqe;
}

/*
 * Packet Too Big while the admin CQ is full: the path's event waits, with
 * the latest MTU, and is posted once the driver makes room.
 */
static void test_v6_ptb_cq_full(void)
{
    static const uint32_t s1[] = { 2880 };
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    uint32_t start, last = 1500, events = 0;
    const int n = 40;

    v6_fixture(&f, &hc, &variants[0], 5000, false, NULL);
    start = hc.iss + 1;
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    read_stream(&f, &hc, start, 2880, 1);
    /* more believed messages than the admin CQ has entries */
    for (int i = 1; i <= n; i++) {
        send_ptb(&f, &hc, 1450 - i, start, 0);
    }
    /* each one's frame reaches the host: all were processed */
    for (int i = 0; i < n; i++) {
        expect_ptb_at_host(&f);
    }
    while (qchimney_cq_wait_timeout(&f.c, CHIMNEY_ADMIN_CQ_ID, &cqe,
                                    200 * 1000)) {
        g_assert_cmpuint(CHIMNEY_CQE_TYPE(cqe.type_status), ==,
                         CHIMNEY_CQE_EVENT);
        g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_PATH_MTU);
        g_assert_cmpuint(cqe.bytes, <, last);
        last = cqe.bytes;
        events++;
    }
    /* fewer events than messages, the last with the latest MTU */
    g_assert_cmpuint(events, <, n);
    g_assert_cmpuint(last, ==, 1450 - n);
    qchimney_peer_ack(&f, &hc, start + 2880);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    qchimney_fx_end(&f);
}

/* UPDATE of a connection: a block of @len bytes; its CQ has the answer */
static uint8_t update_tcp_status(QChimneyFixture *f, QChimneyConn *hc,
                                 const ChimneyTcpOffload *o, uint32_t len)
{
    uint64_t buf = guest_alloc(&f->alloc, sizeof(*o));
    ChimneyAdminCmd cmd = {
        .opcode = CHIMNEY_CMD_UPDATE, .id = hc->id, .addr = buf, .len = len,
        .param = { CHIMNEY_OBJ_TCP }, .cookie = 0x5150,
    };
    ChimneyCqe cqe;

    qtest_memwrite(f->qts, buf, o, sizeof(*o));
    qchimney_admin_submit(&f->c, &cmd);
    cqe = wait_conn_cqe(f, hc->cq);
    g_assert_cmpuint(CHIMNEY_CQE_TYPE(cqe.type_status), ==,
                     CHIMNEY_CQE_ADMIN);
    g_assert_cmphex(cqe.cookie, ==, 0x5150);
    return CHIMNEY_CQE_STATUS(cqe.type_status);
}

static uint8_t update_path6(QChimneyFixture *f, QChimneyConn *hc,
                            uint32_t mtu)
{
    ChimneyPath6State st = {
        .neighbor = 0, .path_mtu = cpu_to_le32(mtu),
    };
    uint64_t buf = guest_alloc(&f->alloc, sizeof(st));

    memcpy(st.src_ip, hc->ip6, 16);
    memcpy(st.dst_ip, hc->peer_ip6, 16);
    qtest_memwrite(f->qts, buf, &st, sizeof(st));
    return qchimney_cmd(f, CHIMNEY_CMD_UPDATE, 0, buf, sizeof(st),
                        CHIMNEY_OBJ_PATH, 0, 0);
}

/* One send of @len bytes, read and acknowledged: its largest segment */
static uint32_t send_one(QChimneyFixture *f, QChimneyConn *hc,
                         uint32_t *seq, uint32_t len, uint64_t cookie)
{
    uint32_t sge[] = { len }, largest;
    ChimneyCqe cqe;

    qchimney_sq_post(&f->c, hc, CHIMNEY_SQ_SEND, 0, cookie, sge, 1, NULL);
    qchimney_sq_kick(&f->c, hc);
    largest = read_stream(f, hc, *seq, len, cookie);
    *seq += len;
    qchimney_peer_ack(f, hc, *seq);
    cqe = qchimney_expect_cqe(f, hc->cq, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, cookie);
    return largest;
}

/*
 * UPDATE: the flow label and priority of a 224-byte block go on the
 * next frames, a block of len 0 clears them; an IPv6 path's MTU update
 * sets the MSS to MTU - 60.
 */
static void test_v6_update(const void *opaque)
{
    const V6Variant *v = opaque;
    QChimneyFixture f;
    QChimneyConn hc, want;
    ChimneyTcpOffload o;
    uint32_t seq;

    v6_fixture(&f, &hc, v, 7000, false, NULL);
    seq = hc.iss + 1;
    send_one(&f, &hc, &seq, 100, 1);
    want = hc;
    want.flow_label = v->ipv6 ? 0xabcde : 0;
    want.prio = 6;
    qchimney_tcp_block(&want, 0, 2, &o);
    g_assert_cmpuint(update_tcp_status(&f, &hc, &o, CHIMNEY_TCP_OFFLOAD_SIZE),
                     ==, CHIMNEY_ST_SUCCESS);
    hc = want;
    send_one(&f, &hc, &seq, 100, 2);
    g_assert_cmpuint(update_tcp_status(&f, &hc, &o, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    hc.flow_label = 0;
    hc.prio = 0;
    send_one(&f, &hc, &seq, 100, 3);
    if (v->ipv6) {
        g_assert_cmpuint(update_path6(&f, &hc, 1280), ==, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(send_one(&f, &hc, &seq, 3000, 4), ==, 1280 - 60);
    }
    qchimney_fx_end(&f);
}

/* Migration: the IPv6 and 802.1Q state comes along */
static void test_v6_migrate(const void *opaque)
{
    const V6Variant *v = opaque;
    static const uint32_t s1[] = { 2000 };
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    uint32_t start;

    v6_fixture(&f, &hc, v, 3000, false, NULL);
    start = hc.iss + 1;
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    read_stream(&f, &hc, start, 2000, 1);
    qchimney_fx_migrate(&f, "file", NULL, NULL, NULL);
    /* the destination retransmits on its RTO, with the same headers */
    qtest_clock_step(f.qts, V6_RTO_NS);
    read_stream(&f, &hc, start, v6_mss(v, 1500), 1);
    qchimney_peer_ack(&f, &hc, start + 2000);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.bytes, ==, 2000);
    /* and receives on its VLAN and family only */
    qchimney_peer_send(&f, &hc, hc.irs + 1, start + 2000, 0x10, 65535, NULL,
                       0);
    qchimney_wait_segs_in(&f, &hc, 1);
    qchimney_fx_end(&f);
}

/*
 * A relink of the path to a neighbor on another VLAN: the connection
 * sends with the new tag and takes segments only from the new VLAN; the
 * old VLAN's are dropped, as any other VLAN's (test_v6_rx_vlan).
 */
static void test_v6_relink_vlan(const void *opaque)
{
    const V6Variant *v = opaque;
    QChimneyFixture f;
    QChimneyConn hc, old;
    ChimneyPath6State p6 = { .neighbor = cpu_to_le32(1) };
    ChimneyPathState p4 = { .neighbor = cpu_to_le32(1) };
    uint64_t buf, segs;
    uint32_t seq;

    v6_fixture(&f, &hc, v, 2000, false, NULL);
    seq = hc.iss + 1;
    send_one(&f, &hc, &seq, 100, 1);
    g_assert_cmpuint(qchimney_offload_neighbor_vlan(&f.c, 1, hc.mac,
                                                    hc.peer_mac, 30), ==,
                     CHIMNEY_ST_SUCCESS);
    buf = guest_alloc(&f.alloc, 64);
    if (v->ipv6) {
        p6.path_mtu = cpu_to_le32(1500);
        memcpy(p6.src_ip, hc.ip6, 16);
        memcpy(p6.dst_ip, hc.peer_ip6, 16);
        qtest_memwrite(f.qts, buf, &p6, sizeof(p6));
    } else {
        p4.path_mtu = cpu_to_le32(1500);
        memcpy(p4.src_ip, &hc.ip, 4);
        memcpy(p4.dst_ip, &hc.peer_ip, 4);
        qtest_memwrite(f.qts, buf, &p4, sizeof(p4));
    }
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_UPDATE, 0, buf, 64,
                                  CHIMNEY_OBJ_PATH,
                                  CHIMNEY_UPDATE_PATH_RELINK, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    old = hc;
    hc.vlan = 30;
    send_one(&f, &hc, &seq, 100, 2);
    /* the old VLAN's segment is dropped now, the new one's is taken */
    segs = qchimney_conn_segs_in(&f, 5);
    qchimney_peer_send(&f, &old, hc.irs + 1, seq, 0x10, 65535, NULL, 0);
    host_got_nothing(&f, &hc);
    g_assert_cmpuint(qchimney_conn_segs_in(&f, 5), ==, segs);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-rx-vlan-dropped"), ==, 1);
    qchimney_peer_send(&f, &hc, hc.irs + 1, seq, 0x10, 65535, NULL, 0);
    qchimney_wait_segs_in(&f, &hc, segs + 1);
    qchimney_fx_end(&f);
}

/*
 * A connection terminated while its completions wait for CQ room stays,
 * no longer the classifier's, until they are written.  Its 4-tuple
 * offloaded again meanwhile, on another VLAN and under a lower index,
 * is the new connection's, also after a migration of the two.
 */
static void test_v6_tuple_reuse_migrate(void)
{
    static const uint32_t one[] = { 100 };
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_TERMINATE,
                            .param = { CHIMNEY_OBJ_TCP } };
    QChimneyFixture f;
    QChimneyConn hc, again;
    ChimneyTcpOffload o;
    ChimneyCqe cqe;
    QChimneyPeerSeg ps;
    uint32_t start, got = 0;

    qchimney_tcp_fixture_cq(&f, &hc, 100, 4, NULL);
    start = hc.iss + 1;
    for (int i = 0; i < 3; i++) {
        qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, i + 1, one, 1, NULL);
    }
    qchimney_sq_kick(&f.c, &hc);
    while (got < 300) {
        qchimney_peer_read(&f, &ps);
        got += ps.len;
    }
    /* three completions fill CQ 2 (four entries); TERMINATE waits */
    qchimney_peer_ack_sync(&f, &hc, start + 300);
    cmd.id = hc.id;
    cmd.addr = guest_alloc(&f.alloc, sizeof(ChimneyTcpDelegated));
    cmd.cookie = 0xabc;
    qchimney_admin_submit(&f.c, &cmd);

    qchimney_conn_setup(&f, &again, 4, hc.cq, 16);
    memcpy(again.peer_mac, hc.peer_mac, 6);
    again.vlan = 20;
    again.iss = start + 299;
    again.irs = hc.irs;
    again.peer_mss = hc.peer_mss;
    again.peer_wnd = hc.peer_wnd;
    again.port = hc.port;
    again.peer_port = hc.peer_port;
    qchimney_offload_route(&f.c, &again, 1, 1, 1500);
    qchimney_tcp_block(&again, 1, hc.cq, &o);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &again, &o, 0), ==,
                     CHIMNEY_ST_SUCCESS);

    /* a second TERMINATE of the old one leaves the 4-tuple alone too */
    cmd.cookie = 0xabd;
    qchimney_admin_submit(&f.c, &cmd);
    qchimney_peer_ack_sync(&f, &again, again.iss + 1);
    qchimney_fx_migrate(&f, "file", NULL, NULL, NULL);
    qchimney_peer_ack_sync(&f, &again, again.iss + 1);
    for (int i = 0; i < 3; i++) {
        cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
        g_assert_cmphex(cqe.cookie, ==, i + 1);
    }
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.obj, ==, hc.id);
    /* the old one freed, the new one keeps its 4-tuple */
    qchimney_peer_ack_sync(&f, &again, again.iss + 1);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-to-host"), ==, 0);
    qchimney_fx_end(&f);
}

/* Find @name (a subsection's) in a stream: the offset just after it */
static size_t stream_find(const char *buf, size_t size, const char *name)
{
    g_autofree char *want = g_strdup_printf("%c%s", (int)strlen(name),
                                            name);
    const char *hit = memmem(buf, size, want, strlen(want));

    g_assert(hit);
    g_assert_cmphex((uint8_t)hit[-1], ==, 0x05);   /* QEMU_VM_SUBSECTION */
    return hit - buf + strlen(want);
}

/*
 * A stream whose IPv6 or 802.1Q state is out of range is refused by the
 * destination: flow label, priority, family, path MTU.
 */
static void test_v6_bad_stream(void)
{
    g_autofree char *dir = g_dir_make_tmp("chimney-v6bad-XXXXXX", NULL);
    g_autofree char *good = g_strdup_printf("%s/good", dir);
    g_autofree char *bad = g_strdup_printf("%s/bad", dir);
    g_autofree char *uri = g_strdup_printf("file:%s", good);
    g_autofree gchar *buf = NULL;
    QChimneyFixture f;
    QChimneyConn hc;
    size_t size, tcp, path;
    struct {
        size_t *base;
        int off, size;
        uint32_t expect, value;
    } cases[] = {
        { &tcp, 4 + 1 + 32, 4, 0x12345, 1u << 20 },    /* flow label */
        { &tcp, 4 + 1 + 32 + 4, 1, 5, 8 },             /* priority */
        { &tcp, 4, 1, 1, 0 },                          /* not IPv6 */
        { &path, -2 - 4, 4, 1500, 1279 },              /* path MTU */
    };

    v6_fixture(&f, &hc, &variants[1], 1, false, NULL);
    qtest_qmp_assert_success(f.qts, "{'execute': 'migrate', "
                             "'arguments': {'uri': %s}}", uri);
    qchimney_migrate_wait(f.qts, "completed");
    qchimney_fx_end(&f);
    g_assert(g_file_get_contents(good, &buf, &size, NULL));
    tcp = stream_find(buf, size, "chimney-nic/tcp-state/ipv6-8021q");
    path = stream_find(buf, size, "chimney-nic/path/ipv6") -
           strlen("chimney-nic/path/ipv6");
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *copy = g_memdup2(buf, size);
        uint8_t *at = (uint8_t *)copy + *cases[i].base + cases[i].off;
        /* the layout is what the test thinks it is */
        if (cases[i].size == 4) {
            g_assert_cmphex(ldl_be_p(at), ==, cases[i].expect);
            stl_be_p(at, cases[i].value);
        } else {
            g_assert_cmphex(at[0], ==, cases[i].expect);
            at[0] = cases[i].value;
        }
        g_assert(g_file_set_contents(bad, copy, size, NULL));
        qchimney_migrate_refused(bad, NULL);
    }
    unlink(good);
    unlink(bad);
    rmdir(dir);
}

static uint8_t offload_path_raw(QChimneyFixture *f, uint32_t id,
                                uint32_t family, const void *block,
                                size_t size)
{
    uint64_t buf = guest_alloc(&f->alloc, 64);

    qtest_memwrite(f->qts, buf, block, size);
    return qchimney_cmd(f, CHIMNEY_CMD_OFFLOAD_PATH, id, buf, size, family,
                        0, 0);
}

/*
 * Bad input: each refused with an error completion and a guest error
 * naming it, and nothing changes.
 */
static void test_v6_bad(void)
{
    g_autofree char *log = NULL, *extra = NULL, *text = NULL;
    static const char *const errs[] = {
        "chimney_err_path_family", "chimney_err_path ",
        "chimney_err_path_addr", "chimney_err_neighbor_vlan",
        "chimney_err_tcp_state", "chimney_err_tcp_block_len",
        "chimney_err_tcp_cached",
    };
    QChimneyFixture f;
    QChimneyConn hc, other;
    ChimneyPath6State p6 = { .path_mtu = cpu_to_le32(1500) };
    ChimneyTcpOffload o;
    uint8_t nb;
    uint32_t seq;
    int fd;

    fd = g_file_open_tmp("chimney-v6-XXXXXX.log", &log, NULL);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    extra = g_strdup_printf("-d guest_errors -D %s", log);
    v6_fixture(&f, &hc, &variants[1], 100, false, extra);
    /* 1.3: both features advertised, in the register and IDENTIFY */
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_FEATURES) &
                    (CHIMNEY_FEAT_TCP_IPV6 | CHIMNEY_FEAT_8021Q), ==,
                    CHIMNEY_FEAT_TCP_IPV6 | CHIMNEY_FEAT_8021Q);
    g_assert_cmphex(le32_to_cpu(f.c.id.features), ==,
                    qchimney_readl(&f.c, CHIMNEY_REG_FEATURES));
    g_assert_cmphex(le32_to_cpu(f.c.id.version), ==, CHIMNEY_VERSION);

    /* OFFLOAD_PATH: unknown family; MTU below 1280; bad addresses */
    memcpy(p6.src_ip, dev_ip6, 16);
    memcpy(p6.dst_ip, peer_ip6, 16);
    for (uint32_t fam = 1; fam < 10; fam++) {
        if (fam != CHIMNEY_PATH_IPV4 && fam != CHIMNEY_PATH_IPV6) {
            g_assert_cmpuint(offload_path_raw(&f, 1, fam, &p6, sizeof(p6)),
                             ==, CHIMNEY_ST_INVALID_PARAM);
        }
    }
    p6.path_mtu = cpu_to_le32(CHIMNEY_IPV6_MIN_MTU - 1);
    g_assert_cmpuint(offload_path_raw(&f, 1, CHIMNEY_PATH_IPV6, &p6,
                                      sizeof(p6)), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    p6.path_mtu = cpu_to_le32(9001);
    g_assert_cmpuint(offload_path_raw(&f, 1, CHIMNEY_PATH_IPV6, &p6,
                                      sizeof(p6)), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    p6.path_mtu = cpu_to_le32(CHIMNEY_IPV6_MIN_MTU);
    p6.dst_ip[0] = 0xff;                            /* multicast */
    g_assert_cmpuint(offload_path_raw(&f, 1, CHIMNEY_PATH_IPV6, &p6,
                                      sizeof(p6)), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    memset(p6.dst_ip, 0, 16);                       /* unspecified */
    g_assert_cmpuint(offload_path_raw(&f, 1, CHIMNEY_PATH_IPV6, &p6,
                                      sizeof(p6)), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    p6.neighbor = cpu_to_le32(3);                   /* not offloaded */
    memcpy(p6.dst_ip, peer_ip6, 16);
    g_assert_cmpuint(offload_path_raw(&f, 1, CHIMNEY_PATH_IPV6, &p6,
                                      sizeof(p6)), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    /* the good one, to check it was only the values */
    p6.neighbor = 0;
    g_assert_cmpuint(offload_path_raw(&f, 1, CHIMNEY_PATH_IPV6, &p6,
                                      sizeof(p6)), ==, CHIMNEY_ST_SUCCESS);

    /* OFFLOAD_NEIGHBOR: VLAN 4095 */
    g_assert_cmpuint(qchimney_offload_neighbor_vlan(&f.c, 1, hc.mac,
                                                    hc.peer_mac, 4095), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    nb = qchimney_offload_neighbor_vlan(&f.c, 1, hc.mac, hc.peer_mac, 4094);
    g_assert_cmpuint(nb, ==, CHIMNEY_ST_SUCCESS);

    /* OFFLOAD_TCP: flow label, priority, block length */
    other = hc;
    other.id = CHIMNEY_CONN_ID(6, 1);
    other.port = hc.port + 1;
    other.flow_label = 1u << 20;
    qchimney_tcp_block(&other, 1, 2, &o);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &o, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    other.flow_label = 0xfffff;
    other.prio = 8;
    qchimney_tcp_block(&other, 1, 2, &o);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &o, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    other.prio = 7;
    qchimney_tcp_block(&other, 1, 2, &o);
    qtest_memwrite(f.qts, f.c.block_buf, &o, sizeof(o));
    for (uint32_t len = 1; len < 300; len += 37) {
        g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_OFFLOAD_TCP, other.id,
                                      f.c.block_buf, len, 0, 0, 0), ==,
                         CHIMNEY_ST_INVALID_PARAM);
    }
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_OFFLOAD_TCP, other.id,
                                  f.c.block_buf,
                                  CHIMNEY_TCP_OFFLOAD_SIZE + 32, 0, 0, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);

    /* UPDATE of the IPv6 path below 1280, of the connection out of range */
    g_assert_cmpuint(update_path6(&f, &hc, 1279), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    other = hc;
    other.flow_label = 1u << 20;
    qchimney_tcp_block(&other, 0, 2, &o);
    g_assert_cmpuint(update_tcp_status(&f, &hc, &o, CHIMNEY_TCP_OFFLOAD_SIZE),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    other.flow_label = 1;
    other.prio = 200;
    qchimney_tcp_block(&other, 0, 2, &o);
    g_assert_cmpuint(update_tcp_status(&f, &hc, &o, CHIMNEY_TCP_OFFLOAD_SIZE),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(update_tcp_status(&f, &hc, &o, 100), ==,
                     CHIMNEY_ST_INVALID_PARAM);

    /* nothing changed: the connection sends as it was offloaded */
    seq = hc.iss + 1;
    g_assert_cmpuint(send_one(&f, &hc, &seq, 2000, 1), ==, 1440);
    qchimney_fx_end(&f);
    g_assert(g_file_get_contents(log, &text, NULL, NULL));
    for (size_t i = 0; i < ARRAY_SIZE(errs); i++) {
        if (!strstr(text, errs[i])) {
            g_test_message("no %s in the log", errs[i]);
            g_assert_not_reached();
        }
    }
    unlink(log);
}


/*
 * libslirp's TCP over IPv6: offloaded connections to fec0::2, which
 * libslirp connects to a server of the test's on ::1; one way, then both
 * ways (echo), every byte hashed at the far end.
 */
static void test_v6_slirp(void)
{
    const int nconns = 4, sends = 64;           /* 4 MiB a connection */
    QChimneyServer srv = { 0 }, esrv = { 0 };
    QChimneyFixture f;
    QChimneyConn hc[QCHIMNEY_STREAM_CONNS], tmpl = {
        .ipv6 = true, .flow_label = 0x5000,
    };
    uint64_t buf[QCHIMNEY_STREAM_CONNS], sgl[QCHIMNEY_STREAM_CONNS];
    QChimneyEchoConn ec[2];
    gint64 t0 = g_get_monotonic_time();

    qchimney_server_listen6(&srv, nconns);
    qchimney_slirp_start(&f, NULL);
    qchimney_slirp_connect_as(&f, &srv, hc, nconns, 0, &tmpl);
    for (int i = 0; i < nconns; i++) {
        qchimney_stream_buffer(&f, i, &buf[i], &sgl[i]);
        qchimney_server_start(&srv, i, false);
    }
    qchimney_stream_run(&f, hc, nconns, sends, buf, sgl, false);
    for (int i = 0; i < nconns; i++) {
        g_autofree char *sha = qchimney_stream_sha(i, sends);

        qchimney_server_join(&srv, i);
        g_assert_cmpuint(srv.bytes[i], ==,
                         (uint64_t)sends * QCHIMNEY_STREAM_CHUNK);
        g_assert_cmpstr(srv.sha[i], ==, sha);
        g_free(srv.sha[i]);
    }
    close(srv.listen_fd);
    qchimney_fx_quit(&f);
    g_test_message("libslirp over IPv6: %d x %d MiB byte-exact in %.2f s",
                   nconns, sends * QCHIMNEY_STREAM_CHUNK >> 20,
                   (g_get_monotonic_time() - t0) / 1e6);

    t0 = g_get_monotonic_time();
    qchimney_server_listen6(&esrv, 2);
    qchimney_slirp_start(&f, NULL);
    qchimney_slirp_connect_as(&f, &esrv, hc, 2, QCHIMNEY_ECHO_RQ, &tmpl);
    for (int i = 0; i < 2; i++) {
        qchimney_echo_prepare(&f, &hc[i], &ec[i], i);
        qchimney_server_start(&esrv, i, true);
    }
    qchimney_echo_run(&f, hc, ec, 2, sends, false);
    for (int i = 0; i < 2; i++) {
        g_autofree char *sha = qchimney_stream_sha(i, sends);

        qchimney_server_join(&esrv, i);
        g_assert_cmpstr(esrv.sha[i], ==, sha);
        g_free(esrv.sha[i]);
    }
    close(esrv.listen_fd);
    qchimney_fx_quit(&f);
    g_test_message("libslirp over IPv6, echo: 2 x %d MiB each way, checked "
                   "at both ends in %.2f s",
                   sends * QCHIMNEY_STREAM_CHUNK >> 20,
                   (g_get_monotonic_time() - t0) / 1e6);
}

#ifdef CONFIG_LINUX

typedef struct V6KernelRun {
    const char *name;
    bool ipv6;
    uint16_t vlan;
    uint8_t prio;
    int conns;
    uint32_t mib_per_conn;
    double loss, dup, reorder;
    bool echo;
} V6KernelRun;

static const V6KernelRun v6_kernel_runs[] = {
    { "ipv6", true, 0, 0, 2, 8, 0.01, 0.005, 0.01 },
    { "ipv4-vlan", false, 10, 5, 2, 8, 0.01, 0.005, 0.01 },
    { "ipv6-vlan-echo", true, 10, 3, 2, 4, 0.01, 0, 0.01, true },
};

/*
 * The Linux kernel's TCP in a namespace behind the lossy relay, over
 * IPv6 (fd09::2) or on a VLAN: the relay is the VLAN's access port (this
 * machine's kernel may have no 802.1Q module, so the tag is the relay's
 * to add and remove), refusing any frame of QEMU's without the tag.
 * Byte-exact at the sink.
 */
static void test_v6_kernel(const void *opaque)
{
    const V6KernelRun *k = opaque;
    const uint32_t sends = k->mib_per_conn * 1024 * 1024 /
                           QCHIMNEY_STREAM_CHUNK;
    const char *why = qchimney_kernel_peer_unusable();
    QChimneyKernelPeer peer;
    QChimneyRelay relay;
    QChimneyFixture f = { 0 };
    QChimneyConn hc[QCHIMNEY_STREAM_CONNS], tmpl = {
        .ipv6 = k->ipv6, .vlan = k->vlan, .prio = k->prio,
        .flow_label = k->ipv6 ? 0x9000 : 0,
    };
    uint64_t buf[QCHIMNEY_STREAM_CONNS], sgl[QCHIMNEY_STREAM_CONNS];
    QChimneyEchoConn ec[QCHIMNEY_STREAM_CONNS];
    g_autofree char *stats = NULL;
    gint64 t0;

    if (why) {
        g_test_skip(why);
        return;
    }
    qchimney_kernel_peer_start(&peer, k->conns, 0, "0", k->echo);
    qchimney_kernel_fx_start(&f, &relay, &peer, k->loss, k->dup, k->reorder,
                             g_test_rand_int());
    qchimney_relay_set_vlan(&relay, k->vlan);
    qchimney_kernel_connect_as(&f, hc, k->conns, k->echo ? QCHIMNEY_ECHO_RQ :
                               0, &tmpl);
    for (int i = 0; i < k->conns; i++) {
        qchimney_stream_buffer(&f, i, &buf[i], &sgl[i]);
        if (k->echo) {
            qchimney_echo_prepare(&f, &hc[i], &ec[i], i);
        }
    }
    qchimney_relay_set_lossy(&relay, true);
    t0 = g_get_monotonic_time();
    if (k->echo) {
        qchimney_echo_run(&f, hc, ec, k->conns, sends, true);
    } else {
        qchimney_stream_run(&f, hc, k->conns, sends, buf, sgl, true);
    }
    for (int n = 0; n < k->conns; n++) {
        unsigned port;
        uint64_t bytes;
        char sha[80];
        g_autofree char *want = NULL;
        int i;

        qchimney_kernel_peer_result(&peer, &port, &bytes, sha, sizeof(sha));
        i = port - 40000;
        g_assert_cmpint(i, >=, 0);
        g_assert_cmpint(i, <, k->conns);
        want = qchimney_stream_sha(i, sends);
        g_assert_cmpuint(bytes, ==, (uint64_t)sends * QCHIMNEY_STREAM_CHUNK);
        g_assert_cmpstr(sha, ==, want);
    }
    stats = qchimney_qom_str(&f, "x-conn-stats");
    g_test_message("kernel TCP (%s): %d x %u MiB byte-exact in %.2f s; relay "
                   "dropped %" PRIu64 ", duplicated %" PRIu64 ", reordered %"
                   PRIu64 ", mistagged %" PRIu64 ", TCP priorities 0x%x; "
                   "device:\n%s", k->name, k->conns, k->mib_per_conn,
                   (g_get_monotonic_time() - t0) / 1e6, relay.dropped,
                   relay.duplicated, relay.reordered, relay.mistagged,
                   relay.tcp_pcp_seen, stats);
    g_assert(relay.dropped > 0);
    g_assert_null(strstr(stats, " retransmits=0 "));
    if (k->vlan) {
        g_assert_cmpuint(relay.mistagged, ==, 0);
        /* the segments carry the connection's priority */
        g_assert(relay.tcp_pcp_seen & 1u << k->prio);
    }
    qchimney_kernel_fx_quit(&f, &relay, &peer);
}

#endif /* CONFIG_LINUX */

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(const void *);
        bool ipv6_only;
    } tests[] = {
        { "send", test_v6_send },
        { "recv-fin", test_v6_recv_fin },
        { "rst", test_v6_rst },
        { "fault", test_v6_fault },
        { "rx-match", test_v6_rx_match, true },
        { "rx-vlan", test_v6_rx_vlan },
        { "update", test_v6_update },
        { "migrate", test_v6_migrate },
        { "relink-vlan", test_v6_relink_vlan },
        { "packet-too-big", test_v6_ptb, true },
    };

    g_test_init(&argc, &argv, NULL);
    for (size_t t = 0; t < ARRAY_SIZE(tests); t++) {
        for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
            g_autofree char *path = NULL;

            if (tests[t].ipv6_only && !variants[i].ipv6) {
                continue;
            }
            path = g_strdup_printf("/chimney/v6/%s/%s", tests[t].name,
                                   variants[i].name);
            qtest_add_data_func(path, &variants[i], tests[t].fn);
        }
    }
    qtest_add_func("/chimney/bad/v6", test_v6_bad);
    qtest_add_func("/chimney/bad/v6-stream", test_v6_bad_stream);
    qtest_add_func("/chimney/v6/packet-too-big-cq-full", test_v6_ptb_cq_full);
    qtest_add_func("/chimney/v6/tuple-reuse-migrate",
                   test_v6_tuple_reuse_migrate);
    qtest_add_func("/chimney/v6/slirp", test_v6_slirp);
#ifdef CONFIG_LINUX
    for (size_t i = 0; i < ARRAY_SIZE(v6_kernel_runs); i++) {
        g_autofree char *path = g_strdup_printf("/chimney/v6/kernel/%s",
                                                v6_kernel_runs[i].name);

        qtest_add_data_func(path, &v6_kernel_runs[i], test_v6_kernel);
    }
#endif
    return g_test_run();
}
