/*
 * QTest testcase for chimney-nic: the receive path of offloaded TCP
 *
 * Posted receives in push and no-push mode, delayed ACK and the push
 * timer on QEMU's virtual clock, the out-of-order queue, indications
 * into generic buffers, FIN, RST and upload, FORWARD and BufferedData,
 * keepalive, UPDATE, urgent data, segments that are the host's, and bad
 * receive-side input.  The test is the TCP peer on the wire.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "libqos/chimney-host.h"

/* Receives fill in order; delayed ACK and the push timer on the clock */
static void test_tcp_recv_posted(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t s;
    uint64_t b1, b2;
    QChimneyPeerSeg ps;

    qchimney_rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x100, 0);
    b1 = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x101, 3000);
    b2 = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x102, 3000);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_expect_recv(&f, 0x100, CHIMNEY_ST_SUCCESS,
                         0);      /* zero-length */
    for (int i = 0; i < 5; i++) {
        qchimney_peer_data(&f, &hc, s + i * 1000, 1001, 0, 1000);
    }
    /* Every second segment is ACKed at once (TcpAckFrequency 2) */
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 2000);
    g_assert_cmpuint(ps.wnd, ==, 65535);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 4000);
    qchimney_expect_recv(&f, 0x101, CHIMNEY_ST_SUCCESS, 3000);
    qchimney_check_rx(&f, b1, s, 3000);
    /* The fifth waits for TcpDelayedAckTicks (200 ms) */
    qchimney_wait_segs_in(&f, &hc, 5);
    g_assert(qchimney_wire_quiet(&f, 50));
    qtest_clock_step(f.qts, 199 * QCHIMNEY_MS_NS);
    g_assert(qchimney_wire_quiet(&f, 50));
    qtest_clock_step(f.qts, 1 * QCHIMNEY_MS_NS);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 5000);
    /* The partly filled request completes on TcpPushTicks (500 ms) */
    g_assert(qchimney_cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 299 * QCHIMNEY_MS_NS);
    g_assert(qchimney_cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1 * QCHIMNEY_MS_NS);
    qchimney_expect_recv(&f, 0x102, CHIMNEY_ST_SUCCESS, 2000);
    qchimney_check_rx(&f, b2, s + 3000, 2000);
    qchimney_fx_end(&f);
}

/* Out of order: duplicate ACKs at once; delivered when the gap fills */
static void test_tcp_recv_out_of_order(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t s;
    uint64_t b;
    QChimneyPeerSeg ps;

    qchimney_rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    b = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, CHIMNEY_RQF_NO_PUSH,
                         0x1, 3000);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_data(&f, &hc, s + 2000, 1001, 0, 1000);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s);
    qchimney_peer_data(&f, &hc, s + 1000, 1001, 0, 1000);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s);
    g_assert(qchimney_cq_quiet(&f, 2));
    /* The gap fills: everything ACKed at once and delivered */
    qchimney_peer_data(&f, &hc, s, 1001, 0, 1000);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 3000);
    qchimney_expect_recv(&f, 0x1, CHIMNEY_ST_SUCCESS, 3000);
    qchimney_check_rx(&f, b, s, 3000);
    /* An old duplicate is ACKed again */
    qchimney_peer_data(&f, &hc, s + 500, 1001, 0, 1000);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 3000);
    qchimney_fx_end(&f);
}

/* Indications: one at a time; the driver takes part, posts get the rest */
static void test_tcp_recv_indicate(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    uint32_t s;
    uint64_t b;

    qchimney_rx_fixture(&f, &hc, true, NULL);
    s = hc.irs + 1;
    qchimney_peer_data(&f, &hc, s, 1001, 0x08, 1000);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_INDICATE, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.bytes, ==, 1000);
    g_assert_cmpuint(cqe.aux, ==, s);
    g_assert_cmpuint(cqe.queue, ==, CHIMNEY_QUEUE_INDICATE);
    g_assert_cmphex(cqe.obj, ==, hc.id);
    qchimney_check_rx(&f, cqe.cookie, s, 1000);
    qchimney_peer_data(&f, &hc, s + 1000, 1001, 0, 500);
    qchimney_wait_segs_in(&f, &hc, 2);
    g_assert(qchimney_cq_quiet(&f,
                               2));                  /* one offer at a time */
    /* 600 taken; the rest waits for a post */
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_INDICATE_DONE, 0, cqe.cookie,
                     600);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_ind_post(&f.c, cqe.cookie);
    g_assert(qchimney_cq_quiet(&f, 2));
    b = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x201, 2000);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_expect_recv(&f, 0x201, CHIMNEY_ST_SUCCESS,
                         900);    /* PSH passed */
    qchimney_check_rx(&f, b, s + 600, 900);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-indications"), ==, 1);
    /* An answer with no indication outstanding is refused */
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_INDICATE_DONE, 0, 0x333, 5);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_expect_recv(&f, 0x333, CHIMNEY_ST_INVALID_PARAM, 0);
    /* A refusal of everything: kept, offered again after a post */
    qchimney_peer_data(&f, &hc, s + 1500, 1001, 0, 300);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_INDICATE, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, s + 1500);
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_INDICATE_DONE, 0, cqe.cookie, 0);
    qchimney_ind_post(&f.c, cqe.cookie);
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x202, 0);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_expect_recv(&f, 0x202, CHIMNEY_ST_SUCCESS, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_INDICATE, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.bytes, ==, 300);
    qchimney_check_rx(&f, cqe.cookie, s + 1500, 300);
    qchimney_fx_end(&f);
}

/* FIN: DISCONNECT after the data before it; our half still sends */
static void test_tcp_recv_fin(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 500 };
    ChimneyCqe cqe;
    uint32_t s;
    uint64_t b1, b2;
    QChimneyPeerSeg ps;

    qchimney_rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    qchimney_peer_data(&f, &hc, s, 1001, 0, 1000);
    qchimney_peer_data(&f, &hc, s + 1000, 1001, 0x01, 0);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 1001);
    g_assert(qchimney_cq_quiet(&f, 2));
    b1 = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x301, 600);
    b2 = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, CHIMNEY_RQF_NO_PUSH,
                          0x302, 600);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_expect_recv(&f, 0x301, CHIMNEY_ST_SUCCESS, 600);
    qchimney_expect_recv(&f, 0x302, CHIMNEY_ST_SUCCESS, 400);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_DISCONNECT);
    qchimney_check_rx(&f, b1, s, 600);
    qchimney_check_rx(&f, b2, s + 600, 400);
    /* Posted after the DISCONNECT: INVALID_STATE */
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x303, 100);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_expect_recv(&f, 0x303, CHIMNEY_ST_INVALID_STATE, 0);
    /* Half-closed: our data still goes, then our FIN */
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 0x401, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.len, ==, 500);
    g_assert_cmpuint(ps.ack, ==, s + 1001);
    qchimney_peer_send(&f, &hc, s + 1001, 1501, 0x10, 65535, NULL, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x401);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_DISCONNECT, 0, 0x402, NULL, 0,
                     NULL);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_read(&f, &ps);
    g_assert(ps.flags & 0x01);
    qchimney_peer_send(&f, &hc, s + 1001, 1502, 0x10, 65535, NULL, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_DISCONNECT,
                              CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x402);
    qchimney_fx_end(&f);
}

/* RST: the send, the partly filled receive (with its bytes), ABORT */
static void test_tcp_recv_rst(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 300 };
    ChimneyCqe cqe;
    uint32_t s;
    QChimneyPeerSeg ps;

    qchimney_rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, CHIMNEY_RQF_NO_PUSH,
                     0x501, 4000);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 0x601, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_read(&f, &ps);
    qchimney_peer_data(&f, &hc, s, 1001, 0, 1000);
    qchimney_wait_segs_in(&f, &hc, 1);
    /* A RST in the window but not at RcvNxt: a challenge ACK only */
    qchimney_peer_send(&f, &hc, s + 1500, 0, 0x04, 0, NULL, 0);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 1000);
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_peer_send(&f, &hc, s + 1000, 0, 0x04, 0, NULL, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 0x601);
    qchimney_expect_recv(&f, 0x501, CHIMNEY_ST_REQUEST_ABORTED, 1000);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_ABORT);
    /* Posted after the reset: aborted too */
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x502, 100);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_expect_recv(&f, 0x502, CHIMNEY_ST_REQUEST_ABORTED, 0);
    qchimney_fx_end(&f);
}

/* Upload: received data not delivered goes back to the host */
static void test_tcp_recv_terminate(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyTcpDelegated d;
    ChimneyAdminCmd cmd;
    ChimneyCqe cqe;
    uint64_t qbuf, held;
    uint32_t s;
    QChimneyPeerSeg ps;

    qchimney_rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    qchimney_peer_data(&f, &hc, s, 1001, 0, 1000);
    qchimney_peer_data(&f, &hc, s + 1000, 1001, 0, 500);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 1500);
    qbuf = guest_alloc(&f.alloc, sizeof(d));
    held = guest_alloc(&f.alloc, 4096);
    /* Too small a buffer: refused, the connection runs on */
    cmd = (ChimneyAdminCmd) {
        .opcode = CHIMNEY_CMD_TERMINATE, .id = hc.id, .addr = qbuf,
        .cookie = 0x71,
        .param = { CHIMNEY_OBJ_TCP, (uint32_t)held, held >> 32, 1000 },
    };
    qchimney_admin_submit(&f.c, &cmd);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN,
                              CHIMNEY_ST_NO_RESOURCES);
    g_assert_cmphex(cqe.cookie, ==, 0x71);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.rcv_held), ==, 1500);
    qchimney_peer_data(&f, &hc, s + 1500, 1001, 0, 100);
    qchimney_peer_data(&f, &hc, s + 1600, 1001, 0, 100);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 1700);
    /* Room enough: the bytes come back with the state */
    cmd.cookie = 0x72;
    cmd.param[3] = 4096;
    qchimney_admin_submit(&f.c, &cmd);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x72);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.rcv_held), ==, 1700);
    g_assert_cmpuint(le32_to_cpu(d.rcv_nxt), ==, s + 1700);
    qchimney_check_rx(&f, held, s, 1700);
    qchimney_fx_end(&f);
}

/* BufferedData handed over at offload is delivered first */
static void buffered_tweak(QChimneyFixture *f, ChimneyTcpOffload *o)
{
    uint32_t rcv_nxt = le32_to_cpu(o->delegated.rcv_nxt);
    uint8_t data[200];
    uint64_t addr = guest_alloc(&f->alloc, sizeof(data));

    for (int i = 0; i < sizeof(data); i++) {
        data[i] = qchimney_rx_byte(rcv_nxt - sizeof(data) + i);
    }
    qtest_memwrite(f->qts, addr, data, sizeof(data));
    o->buffered_addr = cpu_to_le64(addr);
    o->buffered_len = cpu_to_le32(sizeof(data));
}

/* FORWARD: segments the host received go in; bad ones are refused */
static void test_tcp_recv_forward(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    uint8_t seg[20 + 300];
    uint64_t b, sbuf;
    uint32_t s;
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_FORWARD };

    qchimney_rx_fixture(&f, &hc, false, buffered_tweak);
    s = hc.irs + 1;
    b = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x801, 1000);
    qchimney_sq_kick(&f.c, &hc);
    /* A TCP segment without an IP header, as the host forwards it */
    memset(seg, 0, sizeof(seg));
    stw_be_p(seg, hc.peer_port);
    stw_be_p(seg + 2, hc.port);
    stl_be_p(seg + 4, s);
    stl_be_p(seg + 8, 1001);
    seg[12] = 5 << 4;
    seg[13] = 0x18;
    stw_be_p(seg + 14, 65535);
    for (int i = 0; i < 300; i++) {
        seg[20 + i] = qchimney_rx_byte(s + i);
    }
    sbuf = guest_alloc(&f.alloc, sizeof(seg));
    qtest_memwrite(f.qts, sbuf, seg, sizeof(seg));
    cmd.id = hc.id;
    cmd.addr = sbuf;
    cmd.len = sizeof(seg);
    cmd.cookie = 0x91;
    qchimney_admin_submit(&f.c, &cmd);
    /* The buffered 200 bytes first, then the forwarded 300, pushed */
    qchimney_expect_recv(&f, 0x801, CHIMNEY_ST_SUCCESS, 500);
    qchimney_check_rx(&f, b, s - 200, 500);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x91);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-forwarded"), ==, 1);
    /* Malformed: too short, a bad data offset, another connection's */
    cmd.len = 10;
    qchimney_admin_submit(&f.c, &cmd);
    qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_INVALID_PARAM);
    cmd.len = sizeof(seg);
    seg[12] = 15 << 4;
    qtest_memwrite(f.qts, sbuf, seg, 20);
    qchimney_admin_submit(&f.c, &cmd);
    qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_INVALID_PARAM);
    seg[12] = 5 << 4;
    stw_be_p(seg, hc.peer_port + 1);
    qtest_memwrite(f.qts, sbuf, seg, 20);
    qchimney_admin_submit(&f.c, &cmd);
    qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_INVALID_PARAM);
    cmd.addr = QCHIMNEY_FAR_AWAY;
    qchimney_admin_submit(&f.c, &cmd);
    qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_DMA_ERROR);
    /* After a reset the host keeps what it would forward */
    qchimney_peer_send(&f, &hc, s + 300, 0, 0x04, 0, NULL, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_ABORT);
    cmd.addr = sbuf;
    qchimney_admin_submit(&f.c, &cmd);
    qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_REQUEST_ABORTED);
    qchimney_fx_end(&f);
}

/* Keepalive from the cached parameters: probes, an answer, then silence */
static void keepalive_tweak(QChimneyFixture *f, ChimneyTcpOffload *o)
{
    o->cached_flags = cpu_to_le16(CHIMNEY_TCPC_KEEPALIVE);
    o->ka_timeout = cpu_to_le32(10000);             /* ticks of 1 ms */
    o->ka_interval = cpu_to_le32(1000);
    o->ka_probe_count = 2;
}

static void test_tcp_recv_keepalive(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    QChimneyPeerSeg ps;

    qchimney_rx_fixture(&f, &hc, false, keepalive_tweak);
    qtest_clock_step(f.qts, 9999 * QCHIMNEY_MS_NS);
    g_assert(qchimney_wire_quiet(&f, 50));
    qtest_clock_step(f.qts, 1 * QCHIMNEY_MS_NS);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.seq, ==, hc.iss);           /* SndUna - 1 */
    g_assert_cmpuint(ps.len, ==, 0);
    qchimney_peer_ack_sync(&f, &hc, hc.iss + 1);
    qtest_clock_step(f.qts, 10000 * QCHIMNEY_MS_NS);
    qchimney_peer_read(&f, &ps);
    qtest_clock_step(f.qts, 1000 * QCHIMNEY_MS_NS);
    qchimney_peer_read(&f, &ps);
    g_assert(qchimney_cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1000 * QCHIMNEY_MS_NS);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_TIMEOUT);
    qchimney_fx_end(&f);
}

/* A small receive window at offload */
static void small_window_tweak(QChimneyFixture *f, ChimneyTcpOffload *o)
{
    o->initial_rcv_wnd = cpu_to_le32(4000);
    o->delegated.rcv_wnd = cpu_to_le32(4000);
}

/* UPDATE of the cached state: a larger window opens, keepalive starts */
static void test_tcp_recv_update(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyTcpOffload o;
    ChimneyCqe cqe;
    uint64_t block;
    uint32_t s;
    QChimneyPeerSeg ps;

    qchimney_rx_fixture(&f, &hc, false, small_window_tweak);
    s = hc.irs + 1;
    qchimney_peer_data(&f, &hc, s, 1001, 0, 2000);
    qchimney_peer_data(&f, &hc, s + 2000, 1001, 0, 2000);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 4000);
    g_assert_cmpuint(ps.wnd, ==, 0);                /* full: no receives */
    /* TCP_FLAG_UPDATE_RCV_WND: InitialRcvWnd 16000, keepalive every 1 s */
    qchimney_tcp_block(&hc, 0, hc.cq, &o);
    o.initial_rcv_wnd = cpu_to_le32(16000);
    o.cached_flags = cpu_to_le16(CHIMNEY_TCPC_KEEPALIVE);
    o.ka_timeout = cpu_to_le32(1000);
    o.ka_interval = cpu_to_le32(1000);
    o.ka_probe_count = 3;
    block = guest_alloc(&f.alloc, sizeof(o));
    qtest_memwrite(f.qts, block, &o, sizeof(o));
    g_assert_cmpuint(qchimney_conn_cmd(&f.c, &hc, CHIMNEY_CMD_UPDATE, block,
                                       &cqe), ==, CHIMNEY_ST_SUCCESS);
    qchimney_peer_read(&f,
                       &ps);                             /* the window update */
    g_assert_cmpuint(ps.ack, ==, s + 4000);
    g_assert_cmpuint(ps.wnd, ==, 12000);
    /* The 4000 held bytes are still there, in order */
    qchimney_peer_data(&f, &hc, s + 4000, 1001, 0x08, 1000);
    qchimney_wait_segs_in(&f, &hc, 3);
    qtest_clock_step(f.qts,
                     200 * QCHIMNEY_MS_NS);           /* the delayed ACK */
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 5000);
    /* Keepalive runs from the update: a probe after 1 s of silence */
    qtest_clock_step(f.qts, 800 * QCHIMNEY_MS_NS);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.seq, ==, hc.iss);
    g_assert_cmpuint(ps.len, ==, 0);
    qchimney_fx_end(&f);
}

/* Urgent data: not ACKed, upload requested; the host takes it over */
static void test_tcp_recv_urgent(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;

    qchimney_rx_fixture(&f, &hc, true, NULL);
    qchimney_peer_data(&f, &hc, hc.irs + 1, 1001, 0x20, 100);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_URGENT_DATA);
    g_assert(qchimney_wire_quiet(&f, 100));
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-indications"), ==, 0);
    qchimney_fx_end(&f);
}

/* Segments of an offloaded 4-tuple that are the host's go to the L2 RX queue */
static void test_tcp_recv_host_path(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    QChimneyTcpAddr from;
    uint8_t fr[256], opt[260], got[300];
    const uint8_t data[] = "the host's";
    ChimneyCqe cqe;
    size_t len;
    uint32_t s;

    qchimney_rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    from = (QChimneyTcpAddr) {
        .src_mac = (const uint8_t *)QCHIMNEY_PEER_MAC, .dst_mac = hc.mac,
        .src_ip = hc.peer_ip, .dst_ip = hc.ip,
        .src_port = hc.peer_port, .dst_port = hc.port,
    };
    len = qchimney_tcp_data_frame(fr, &from, s, 1001, 0x18, 65535, NULL, 0,
                                  data, sizeof(data));
    /* IPv4 options (4 bytes of NOP): the host strips them and forwards */
    memcpy(opt, fr, 34);
    memset(opt + 34, 1, 4);
    memcpy(opt + 38, fr + 34, len - 34);
    opt[14] = 0x46;
    stw_be_p(opt + 16, lduw_be_p(fr + 16) + 4);
    stw_be_p(opt + 24, 0);
    stw_be_p(opt + 24, qchimney_csum(opt + 14, 24, 0));
    qchimney_wire_send(&f, opt, len + 4);
    g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==,
                     len + 4);
    g_assert_cmpmem(got, len + 4, opt, len + 4);
    /* A fragment: the host reassembles */
    stw_be_p(fr + 20, 0x2000);
    stw_be_p(fr + 24, 0);
    stw_be_p(fr + 24, qchimney_csum(fr + 14, 20, 0));
    qchimney_wire_send(&f, fr, len);
    g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==, len);
    g_assert_cmpmem(got, len, fr, len);
    g_assert(qchimney_cq_quiet(&f, 2));
    /* Reset: CLOSED, so what comes next is the host's to answer */
    qchimney_peer_send(&f, &hc, s, 0, 0x04, 0, NULL, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_ABORT);
    len = qchimney_tcp_data_frame(fr, &from, s, 1001, 0x18, 65535, NULL, 0,
                                  data, sizeof(data));
    qchimney_wire_send(&f, fr, len);
    g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==, len);
    g_assert_cmpmem(got, len, fr, len);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-to-host"), ==, 1);
    qchimney_fx_end(&f);
}

/* Bad receive-side input: error completions, QEMU stays alive */
static void test_bad_tcp_receives(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    ChimneySqDesc d;
    ChimneySge sge = { .addr = cpu_to_le64(QCHIMNEY_FAR_AWAY), .len = 100 };
    ChimneyTcpOffload o;
    uint64_t sgl;
    uint32_t tail;

    qchimney_rx_fixture(&f, &hc, false, NULL);
    /* A buffer outside guest RAM */
    sgl = guest_alloc(&f.alloc, sizeof(sge));
    qtest_memwrite(f.qts, sgl, &sge, sizeof(sge));
    d = (ChimneySqDesc) {
        .type = CHIMNEY_RQ_RECEIVE, .nsge = 1, .len = 100, .cookie = 0xb1,
        .sgl = sgl,
    };
    qtest_memwrite(f.qts, hc.rq_base, &d, sizeof(d));
    /* An unknown type, then too many SGL entries */
    d.type = 9;
    d.cookie = 0xb2;
    qtest_memwrite(f.qts, hc.rq_base + 32, &d, sizeof(d));
    d.type = CHIMNEY_RQ_RECEIVE;
    d.nsge = CHIMNEY_MAX_SGE + 1;
    d.cookie = 0xb3;
    qtest_memwrite(f.qts, hc.rq_base + 64, &d, sizeof(d));
    hc.rq_tail = 3;
    tail = cpu_to_le32(3);
    qtest_memwrite(f.qts, hc.db_record + 4, &tail, 4);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_expect_recv(&f, 0xb1, CHIMNEY_ST_DMA_ERROR, 0);
    qchimney_expect_recv(&f, 0xb2, CHIMNEY_ST_BAD_DESCRIPTOR, 0);
    qchimney_expect_recv(&f, 0xb3, CHIMNEY_ST_BAD_DESCRIPTOR, 0);
    /* Zero-length generic buffers: each returned with an error */
    qchimney_ind_create(&f.c, 4, 0);
    qchimney_peer_data(&f, &hc, hc.irs + 1, 1001, 0, 100);
    for (int i = 0; i < 3; i++) {
        cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_INDICATE,
                                  CHIMNEY_ST_BAD_DESCRIPTOR);
        g_assert_cmpuint(cqe.bytes, ==, 0);
    }
    /* A good receive takes the held bytes */
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, CHIMNEY_RQF_NO_PUSH,
                     0xb4, 1000);
    qchimney_sq_kick(&f.c, &hc);
    g_assert(qchimney_cq_quiet(&f, 2));
    /* The RQ producer index beyond the ring: the host must take over */
    tail = cpu_to_le32(hc.rq_size + 3);
    qtest_memwrite(f.qts, hc.db_record + 4, &tail, 4);
    qchimney_sq_kick(&f.c, &hc);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_REQUESTED);
    /* Terminated: the pending receive leaves with its bytes */
    qchimney_admin_submit(&f.c, &(ChimneyAdminCmd) {
        .opcode = CHIMNEY_CMD_TERMINATE, .id = hc.id, .cookie = 0xb5,
        .addr = guest_alloc(&f.alloc, 96), .param = { CHIMNEY_OBJ_TCP } });
    qchimney_expect_recv(&f, 0xb4, CHIMNEY_ST_UPLOAD_IN_PROGRESS, 100);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0xb5);
    /* A receive doorbell for it now is a stale one */
    qchimney_sq_kick(&f.c, &hc);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-stale-doorbells"), ==, 1);
    /* OFFLOAD with a bad RQ, too much or unreadable BufferedData */
    hc.id = CHIMNEY_CONN_ID(6, 1);
    hc.rq_size = 3;
    qchimney_tcp_block(&hc, 0, 2, &o);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &hc, &o, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    hc.rq_size = 16;
    qchimney_tcp_block(&hc, 0, 2, &o);
    o.buffered_len = cpu_to_le32(2 << 20);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &hc, &o, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    o.buffered_len = cpu_to_le32(100);
    o.buffered_addr = cpu_to_le64(QCHIMNEY_FAR_AWAY);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &hc, &o, 0), ==,
                     CHIMNEY_ST_DMA_ERROR);
    /* A generic-buffer queue must not name a CQ */
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_DESTROY_L2Q,
                                  CHIMNEY_QUEUE_INDICATE, 0, 0, 0, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_create_l2q(&f.c, CHIMNEY_QUEUE_INDICATE,
                                         f.c.indq.base, 4, 2), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    qchimney_fx_end(&f);
}

/* A host frame for port @port with TCP sequence number @seq */
static size_t host_frame(QChimneyConn *hc, uint8_t *fr, uint16_t port,
                         uint32_t seq)
{
    const uint8_t data[] = "for the host";
    QChimneyTcpAddr from = {
        .src_mac = (const uint8_t *)QCHIMNEY_PEER_MAC, .dst_mac = hc->mac,
        .src_ip = hc->peer_ip, .dst_ip = hc->ip,
        .src_port = hc->peer_port, .dst_port = port,
    };

    return qchimney_tcp_data_frame(fr, &from, seq, 1, 0x18, 65535, NULL, 0,
                                   data, sizeof(data));
}

/* The next L2 RX frame is the host frame with sequence number @seq */
static void expect_host_frame(QChimneyFixture *f, uint32_t seq)
{
    uint8_t got[300];
    ChimneyCqe cqe;

    g_assert_cmpuint(qchimney_l2_recv(&f->c, got, sizeof(got), &cqe), >,
                     14 + 40);
    g_assert_cmpuint(ldl_be_p(got + 14 + 20 + 4), ==, seq);
}

/*
 * Frames of offloaded connections never wait behind a host frame that
 * has no L2 RX buffer: host frames wait in a bounded backlog of their
 * own (64 frames, drops counted) and drain, in order, into buffers
 * posted later.
 */
static void test_tcp_recv_host_backlog(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint8_t fr[256];
    uint16_t port;
    uint32_t s;

    qchimney_rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    port = hc.port + 100;
    /* The host's 8 buffers are used up */
    for (uint32_t i = 0; i < 8; i++) {
        qchimney_wire_send(&f, fr, host_frame(&hc, fr, port, i));
        expect_host_frame(&f, i);
    }
    /* 70 host frames with no buffer: 64 wait, 6 are dropped */
    for (uint32_t i = 0; i < 70; i++) {
        qchimney_wire_send(&f, fr, host_frame(&hc, fr, port, 1000 + i));
    }
    /* The offloaded connection still receives and is acknowledged */
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x1, 1000);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_data(&f, &hc, s, 1001, 0x08, 500);
    qchimney_expect_recv(&f, 0x1, CHIMNEY_ST_SUCCESS, 500);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-rx-backlog-dropped"), ==,
                     6);
    /* Buffers come: the backlog drains in order, the dropped never come */
    qchimney_l2_post_rx(&f.c, 32, 2048);
    for (uint32_t i = 0; i < 32; i++) {
        expect_host_frame(&f, 1000 + i);
    }
    qchimney_l2_post_rx(&f.c, 40, 2048);
    for (uint32_t i = 32; i < 64; i++) {
        expect_host_frame(&f, 1000 + i);
    }
    /* Then the host's frames go straight to its buffers again */
    qchimney_wire_send(&f, fr, host_frame(&hc, fr, port, 5000));
    expect_host_frame(&f, 5000);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-rx-backlog-dropped"), ==,
                     6);
    qchimney_fx_end(&f);
}

/* Reset drops the host frames that waited in the device for a buffer */
static void test_tcp_recv_host_backlog_reset(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint8_t fr[256];
    uint16_t port;
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    qchimney_rx_fixture(&f, &hc, false, NULL);
    port = hc.port + 100;
    for (uint32_t i = 0; i < 8; i++) {
        qchimney_wire_send(&f, fr, host_frame(&hc, fr, port, i));
        expect_host_frame(&f, i);
    }
    for (uint32_t i = 0; i < 3; i++) {
        qchimney_wire_send(&f, fr, host_frame(&hc, fr, port, 1000 + i));
    }
    while (qchimney_qom_stat(&f, "x-stat-rx-backlogged") < 3) {
        g_assert(g_get_monotonic_time() < deadline);
        g_usleep(1000);
    }
    qchimney_writel(&f.c, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_RESET);
    qchimney_stop(&f.c);
    qchimney_fx_start(&f, &(QChimneyConfig) { .rx_buffers = 8 });
    /* The new driver's first frame is a new one, not a stale one */
    qchimney_wire_send(&f, fr, host_frame(&hc, fr, port, 5000));
    expect_host_frame(&f, 5000);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-rx-backlog-dropped"), ==,
                     0);
    qchimney_fx_end(&f);
}

/*
 * A connection waiting for a generic buffer whose completion FIFO is full
 * (its completions held) must not make the IND_TAIL doorbell spin: the
 * vCPU's write returns, and the indication comes once there is room.
 */
static void test_tcp_recv_ind_fifo_full(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    uint32_t s, pend_cap = 16 + 16 + 8, n = 0, recvs = 0;

    qchimney_rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    /* A generic-buffer queue with no buffer in it yet */
    f.c.ind_buf_size = 2048;
    g_assert_cmpuint(qchimney_create_l2q(&f.c, CHIMNEY_QUEUE_INDICATE,
                                         QEMU_ALIGN_UP(guest_alloc(&f.alloc,
                                                                   16 * 32 +
                                                                   64), 64),
                                         16, 0), ==, CHIMNEY_ST_SUCCESS);
    qchimney_set_rules(&f, "hold");
    /* Zero-length receives complete at once, into the held FIFO */
    while (n < pend_cap) {
        for (int i = 0; i < 8 && n < pend_cap; i++, n++) {
            qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x100 + n, 0);
        }
        qchimney_sq_kick(&f.c, &hc);
        qchimney_fx_assert_alive(&f);
    }
    /* Data with no receive posted: the connection waits for room */
    qchimney_peer_data(&f, &hc, s, 1001, 0x08, 300);
    qchimney_wait_segs_in(&f, &hc, 1);
    /* A generic buffer's doorbell: must return */
    qchimney_ind_post(&f.c, guest_alloc(&f.alloc, 2048));
    qchimney_fx_assert_alive(&f);
    /* Released: the receives, then the indication */
    qchimney_set_rules(&f, "");
    qchimney_fault_release(&f, "all");
    for (;;) {
        qchimney_cq_wait(&f.c, 2, &cqe);
        if (CHIMNEY_CQE_TYPE(cqe.type_status) != CHIMNEY_CQE_RECV) {
            break;
        }
        recvs++;
    }
    g_assert_cmpuint(recvs, ==, pend_cap);
    g_assert_cmpuint(CHIMNEY_CQE_TYPE(cqe.type_status), ==,
                     CHIMNEY_CQE_INDICATE);
    g_assert_cmpuint(cqe.bytes, ==, 300);
    g_assert_cmpuint(cqe.aux, ==, s);
    qchimney_fx_end(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_device("chimney-nic")) {
        g_test_skip("chimney-nic is not built in");
        return g_test_run();
    }
    qtest_add_func("/chimney/tcp/recv/posted", test_tcp_recv_posted);
    qtest_add_func("/chimney/tcp/recv/out-of-order",
                   test_tcp_recv_out_of_order);
    qtest_add_func("/chimney/tcp/recv/indicate", test_tcp_recv_indicate);
    qtest_add_func("/chimney/tcp/recv/fin", test_tcp_recv_fin);
    qtest_add_func("/chimney/tcp/recv/rst", test_tcp_recv_rst);
    qtest_add_func("/chimney/tcp/recv/terminate", test_tcp_recv_terminate);
    qtest_add_func("/chimney/tcp/recv/forward", test_tcp_recv_forward);
    qtest_add_func("/chimney/tcp/recv/keepalive", test_tcp_recv_keepalive);
    qtest_add_func("/chimney/tcp/recv/urgent", test_tcp_recv_urgent);
    qtest_add_func("/chimney/tcp/recv/update", test_tcp_recv_update);
    qtest_add_func("/chimney/tcp/recv/host-path", test_tcp_recv_host_path);
    qtest_add_func("/chimney/tcp/recv/host-backlog",
                   test_tcp_recv_host_backlog);
    qtest_add_func("/chimney/tcp/recv/host-backlog-reset",
                   test_tcp_recv_host_backlog_reset);
    qtest_add_func("/chimney/tcp/recv/ind-fifo-full",
                   test_tcp_recv_ind_fifo_full);
    qtest_add_func("/chimney/bad/tcp-receives", test_bad_tcp_receives);
    return g_test_run();
}
