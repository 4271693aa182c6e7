/*
 * QTest testcase for chimney-nic: offloaded TCP connections, sending
 *
 * The test is the guest and the TCP peer on the wire: sends complete
 * only once acknowledged, retransmission on the RTO, TERMINATE and
 * INVALIDATE with requests outstanding, the offload state tree, peer and
 * abortive resets, handover of in-flight data, many connections at once,
 * and bad input on the offload and send paths.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "libqos/chimney-host.h"

/* Read segments until @total payload bytes arrived; check the pattern. */
static void peer_read_data(QChimneyFixture *f, uint32_t start, uint32_t total,
                           const uint64_t *cookies, const uint32_t *lens,
                           int nreq)
{
    uint32_t got = 0;
    int r = 0;
    uint32_t roff = 0;
    QChimneyPeerSeg ps;

    while (got < total) {
        qchimney_peer_read(f, &ps);
        g_assert_cmpuint(ps.seq, ==, start + got);
        g_assert_cmphex(ps.ip_off, ==, 0x4000);             /* DF */
        g_assert_cmphex(ps.ip_id, >=, 0x8000);
        g_assert_cmpuint(ps.len, <=, 1000);
        for (uint32_t i = 0; i < ps.len; i++) {
            g_assert_cmpint(r, <, nreq);
            g_assert_cmphex(ps.data[i], ==,
                            (uint8_t)(cookies[r] * 131 + roff * 7));
            if (++roff == lens[r]) {
                r++;
                roff = 0;
                /* PSH where a request ends */
                if (i + 1 == ps.len) {
                    g_assert(ps.flags & 0x08);
                }
            }
        }
        got += ps.len;
    }
}

/*
 * Payload scattered over many SGL entries, in one doorbell and within
 * the first window (4 MSS): a segment of 64 entries of 15 bytes (more
 * parts than a frame maps: the last are copied), one across 59 entries
 * of 8 bytes, and three in one entry of 2 500 bytes (mapped once, the
 * later segments inside it).  Every byte arrives in order, and each
 * request completes with the ACK of its last byte.
 */
static void test_tcp_send_scattered(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t tiny[CHIMNEY_MAX_SGE], small[CHIMNEY_MAX_SGE];
    static const uint32_t big[] = { 2500 };
    const uint64_t cookies[] = { 0x51, 0x52, 0x53 };
    uint32_t lens[3], start, total;
    ChimneyCqe cqe;

    for (int i = 0; i < CHIMNEY_MAX_SGE; i++) {
        tiny[i] = 15;
        small[i] = 8;
    }
    qchimney_tcp_fixture(&f, &hc, 1000);
    start = hc.iss + 1;
    lens[0] = qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, CHIMNEY_SQF_PUSH,
                               cookies[0], tiny, CHIMNEY_MAX_SGE, NULL);
    lens[1] = qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, CHIMNEY_SQF_PUSH,
                               cookies[1], small, CHIMNEY_MAX_SGE, NULL);
    lens[2] = qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, CHIMNEY_SQF_PUSH,
                               cookies[2], big, ARRAY_SIZE(big), NULL);
    total = lens[0] + lens[1] + lens[2];
    qchimney_sq_kick(&f.c, &hc);
    peer_read_data(&f, start, total, cookies, lens, 3);
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_peer_ack(&f, &hc, start + total);
    for (int i = 0; i < 3; i++) {
        cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
        g_assert_cmphex(cqe.cookie, ==, cookies[i]);
        g_assert_cmpuint(cqe.bytes, ==, lens[i]);
    }
    qchimney_fx_quit(&f);
}

/* Sends complete only with the ACK of their last byte, in order. */
static void test_tcp_send(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 1500 };
    static const uint32_t s2[] = { 100, 200, 1700 };
    static const uint32_t s3[] = { 1, 2, 3, 5, 7, 11, 13, 17, 19 };
    const uint64_t cookies[] = { 0x11, 0x22, 0x33 };
    uint32_t lens[3], start;
    ChimneyCqe cqe;
    uint64_t qbuf;
    ChimneyTcpDelegated d;
    QChimneyPeerSeg ps;

    qchimney_tcp_fixture(&f, &hc, 0xfffffc00);       /* crosses 2^32 */
    start = hc.iss + 1;
    lens[0] = qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, CHIMNEY_SQF_PUSH,
                               cookies[0], s1, 1, NULL);
    lens[1] = qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, CHIMNEY_SQF_PUSH,
                               cookies[1], s2, 3, NULL);
    lens[2] = qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, CHIMNEY_SQF_PUSH,
                               cookies[2], s3, ARRAY_SIZE(s3), NULL);
    qchimney_msi_clear(&f.c, 2);
    qchimney_sq_kick(&f.c, &hc);
    peer_read_data(&f, start, lens[0] + lens[1] + lens[2], cookies, lens, 3);
    /* Sent is not done: nothing until the peer acknowledges */
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_peer_ack(&f, &hc, start + lens[0] - 1);
    g_assert(qchimney_cq_quiet(&f, 2));
    g_assert(!qchimney_msi_fired(&f.c, 2));
    qchimney_peer_ack(&f, &hc, start + lens[0]);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, cookies[0]);
    g_assert_cmpuint(cqe.bytes, ==, lens[0]);
    g_assert_cmpuint(cqe.sq_head, ==, 1);
    g_assert_cmphex(cqe.obj, ==, hc.id);
    g_assert_cmpuint(cqe.queue, ==, CHIMNEY_QUEUE_CONN_SQ);
    g_assert(qchimney_msi_fired(&f.c, 2));
    /* One ACK for the rest: two completions, in order */
    qchimney_peer_ack(&f, &hc, start + lens[0] + lens[1] + lens[2]);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, cookies[1]);
    g_assert_cmpuint(cqe.bytes, ==, lens[1]);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, cookies[2]);
    g_assert_cmpuint(cqe.bytes, ==, lens[2]);
    g_assert_cmpuint(cqe.sq_head, ==, 3);

    /* QUERY: the delegated state, and the connection keeps running */
    qbuf = guest_alloc(&f.alloc, sizeof(d));
    g_assert_cmpuint(qchimney_conn_cmd(&f.c, &hc, CHIMNEY_CMD_QUERY_TCP, qbuf,
                                       &cqe), ==, CHIMNEY_ST_SUCCESS);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.state), ==, CHIMNEY_TCP_ESTABLISHED);
    g_assert_cmpuint(le32_to_cpu(d.snd_una), ==,
                     start + lens[0] + lens[1] + lens[2]);
    g_assert_cmpuint(le32_to_cpu(d.rcv_nxt), ==, 778);
    g_assert_cmpint((int32_t)le32_to_cpu(d.rexmit_timeout_delta), ==, -1);

    /* Graceful disconnect: FIN, done when the FIN is acknowledged */
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_DISCONNECT, 0, 0x44, NULL, 0,
                     NULL);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_read(&f, &ps);
    g_assert(ps.flags & 0x01);
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_peer_ack(&f, &hc, ps.seq + 1);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_DISCONNECT,
                              CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x44);

    /* TERMINATE, then the id is free */
    g_assert_cmpuint(qchimney_conn_cmd(&f.c, &hc, CHIMNEY_CMD_TERMINATE,
                                       qbuf, &cqe), ==, CHIMNEY_ST_SUCCESS);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.state), ==, CHIMNEY_TCP_FIN_WAIT2);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_QUERY_TCP, hc.id, qbuf, 0, 0,
                                  0,
                                  0), ==, CHIMNEY_ST_INVALID_ID);
    qchimney_fx_end(&f);
}

/* One request of @len bytes, sent, acknowledged and completed */
static void send_one(QChimneyFixture *f, QChimneyConn *hc, uint64_t cookie,
                     uint32_t len, bool check_arrays)
{
    const uint32_t lens[] = { len };
    QChimneyPeerSeg ps;
    ChimneyCqe cqe;

    qchimney_sq_post(&f->c, hc, CHIMNEY_SQ_SEND, CHIMNEY_SQF_PUSH, cookie,
                     lens, 1, NULL);
    qchimney_sq_kick(&f->c, hc);
    qchimney_peer_read(f, &ps);
    g_assert_cmpuint(ps.len, ==, len);
    if (check_arrays) {
        /* in flight: the send queue's arrays are there */
        g_assert_cmpuint(qchimney_qom_stat(f, "x-stat-conn-queue-bytes"), >,
                         0);
    }
    qchimney_peer_ack(f, hc, ps.seq + ps.len);
    cqe = qchimney_expect_cqe(f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, cookie);
    g_assert_cmpuint(cqe.bytes, ==, len);
}

/*
 * An idle connection holds no per-request arrays: they come with a send,
 * go once it completes, stay absent across migration and come back on
 * the destination's next send.  The connection itself stays compact.
 */
static void test_tcp_idle_arrays(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint64_t idle;

    qchimney_tcp_fixture(&f, &hc, 1000);
    idle = qchimney_qom_stat(&f, "x-stat-conn-bytes");
    g_assert_cmpuint(idle, >, 0);
    /*
     * issue 16 asks for 512: the connection is under 480 B, and its
     * path's route (under 80 B) counts once for all of the path's
     * connections, here only one
     */
    g_assert_cmpuint(idle, <=, 480 + 80);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-conn-queue-bytes"), ==, 0);
    send_one(&f, &hc, 0x51, 300, true);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-conn-queue-bytes"), ==, 0);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-conn-bytes"), ==, idle);

    qchimney_fx_migrate(&f, "file", NULL, NULL, NULL);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-conn-queue-bytes"), ==, 0);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-conn-bytes"), ==, idle);
    send_one(&f, &hc, 0x52, 200, true);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-conn-queue-bytes"), ==, 0);
    qchimney_fx_end(&f);
}

/* Lost segment: retransmitted on the RTO, on QEMU's virtual clock */
static void test_tcp_retransmit(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 800 };
    QChimneyPeerSeg ps, again;
    ChimneyCqe cqe;
    g_autofree char *stats = NULL;

    qchimney_tcp_fixture(&f, &hc, 1000);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 9, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_read(&f, &ps);
    qtest_clock_step(f.qts, 1000 * 1000 * 1000 - 1);
    g_assert(qchimney_cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1);
    qchimney_peer_read(&f, &again);
    g_assert_cmpuint(again.seq, ==, ps.seq);
    g_assert_cmpuint(again.len, ==, 800);
    g_assert_cmpmem(again.data, 800, ps.data, 800);
    qchimney_peer_ack(&f, &hc, ps.seq + 800);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.bytes, ==, 800);
    stats = qchimney_qom_str(&f, "x-conn-stats");
    g_assert(strstr(stats, "retransmits=1 "));
    qchimney_fx_end(&f);
}

/* TERMINATE with requests outstanding: returned first, then the command */
static void test_tcp_terminate(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 1000, 1000 };
    static const uint32_t s2[] = { 500 };
    uint64_t qbuf;
    ChimneyCqe cqe;
    ChimneyTcpDelegated d;
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_TERMINATE,
                            .param = { CHIMNEY_OBJ_TCP } };
    ChimneyNdisTcpDelegated nd = { 0 };
    QChimneyPeerSeg ps;

    qchimney_tcp_fixture(&f, &hc, 50000);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, s1, 2, NULL);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 2, s2, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    for (int i = 0; i < 3; i++) {
        qchimney_peer_read(&f, &ps);
    }
    qchimney_peer_ack(&f, &hc, 50001 + 700);
    g_assert(qchimney_cq_quiet(&f, 2));
    qbuf = guest_alloc(&f.alloc, sizeof(d));
    cmd.id = hc.id;
    cmd.addr = qbuf;
    cmd.cookie = 0xabc;
    qchimney_admin_submit(&f.c, &cmd);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    g_assert_cmphex(cqe.cookie, ==, 1);
    g_assert_cmpuint(cqe.bytes, ==, 700);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    g_assert_cmphex(cqe.cookie, ==, 2);
    g_assert_cmpuint(cqe.bytes, ==, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0xabc);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.snd_una), ==, 50001 + 700);
    g_assert_cmpuint(le32_to_cpu(d.snd_max), ==, 50001 + 2500);
    g_assert_cmpuint(le32_to_cpu(d.sq_head), ==, 2);
    g_assert_cmpint((int32_t)le32_to_cpu(d.rexmit_timeout_delta), >, 0);
    /* What the miniport hands NDIS, through the driver core */
    chimney_guest_tcp_delegated(&nd, &d);
    g_assert_cmpuint(nd.state, ==, CHIMNEY_TCP_ESTABLISHED);
    g_assert_cmpuint(nd.snd_una, ==, 50001 + 700);
    g_assert_cmpuint(nd.rcv_nxt, ==, 778);
    g_assert_cmpint((int32_t)nd.rexmit_timeout_delta, >, 0);
    g_assert_cmpint((int32_t)nd.ka_timeout_delta, ==, -1);
    /* TERMINATE twice: the id is gone */
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_TERMINATE, hc.id, qbuf, 0,
                                  CHIMNEY_OBJ_TCP, 0, 0), ==,
                     CHIMNEY_ST_INVALID_ID);
    qchimney_fx_end(&f);
}

/*
 * The miniport's walk of NDIS's state tree (the driver core's), against
 * the device.  Initiate goes parents first: a path the device refuses
 * takes its connection along unattempted and leaves its neighbor a
 * partial success.  Terminate goes dependents first, the only order the
 * device accepts.
 */
enum { TREE_N, TREE_P0, TREE_T, TREE_P1, TREE_BLOCKS };

static void test_guest_state_tree(void)
{
    static const uint32_t kind[TREE_BLOCKS] = {
        CHIMNEY_OBJ_NEIGHBOR, CHIMNEY_OBJ_PATH, CHIMNEY_OBJ_TCP,
        CHIMNEY_OBJ_PATH,
    };
    static const uint32_t mtu[TREE_BLOCKS] = { 0, 10, 0, 1500 };
    static const int bottom_up[TREE_BLOCKS] = {
        TREE_T, TREE_P0, TREE_P1, TREE_N,
    };
    ChimneyNdisBlock b[TREE_BLOCKS];
    ChimneyNdisBlock *cur;
    uint32_t id[TREE_BLOCKS];
    ChimneyAdminCmd cmd;
    QChimneyConn hc;
    uint64_t qbuf;
    QChimneyFixture f;
    int n = 0;

    qchimney_tcp_fixture(&f, &hc, 50000);
    g_assert_cmpuint(qchimney_offload_path(&f.c, 1, 0, hc.ip, hc.peer_ip,
                                           1500), ==, CHIMNEY_ST_SUCCESS);

    /* Initiate: neighbor 1, its path 2 (a bad MTU) with a TCP, path 3 */
    memset(b, 0, sizeof(b));
    b[TREE_N].dependents = &b[TREE_P0];
    b[TREE_P0].next = &b[TREE_P1];
    b[TREE_P0].dependents = &b[TREE_T];
    id[TREE_N] = 1;
    id[TREE_P0] = 2;
    id[TREE_P1] = 3;
    for (cur = chimney_guest_walk_first(&b[TREE_N], false); cur;
         cur = chimney_guest_walk_next(cur, false, cur->status >= 0)) {
        int i = cur - b;
        ChimneyNdisBlock *parent = chimney_guest_block_parent(cur);
        uint8_t st;

        g_assert_cmpint(i, !=, TREE_T);     /* its path failed first */
        if (kind[i] == CHIMNEY_OBJ_NEIGHBOR) {
            st = qchimney_offload_neighbor(&f.c, id[i], hc.mac, hc.peer_mac);
        } else {
            st = qchimney_offload_path(&f.c, id[i], id[parent - b], hc.ip,
                                       hc.peer_ip, mtu[i]);
        }
        if (st != CHIMNEY_ST_SUCCESS) {
            chimney_guest_block_failed(cur, CHIMNEY_NDIS_STATUS_FAILURE,
                                       true);
        }
        n++;
    }
    g_assert_cmpint(n, ==, 3);
    g_assert_cmphex((uint32_t)b[TREE_N].status, ==,
                    CHIMNEY_NDIS_STATUS_PARTIAL_SUCCESS);
    g_assert_cmphex((uint32_t)b[TREE_P0].status, ==,
                    CHIMNEY_NDIS_STATUS_FAILURE);
    g_assert_cmphex((uint32_t)b[TREE_T].status, ==,
                    CHIMNEY_NDIS_STATUS_FAILURE);
    g_assert_cmphex((uint32_t)b[TREE_P1].status, ==,
                    CHIMNEY_NDIS_STATUS_SUCCESS);

    /* Terminate the first tree: neighbor 0, paths 0 and 1, the TCP */
    memset(b, 0, sizeof(b));
    b[TREE_N].dependents = &b[TREE_P0];
    b[TREE_P0].next = &b[TREE_P1];
    b[TREE_P0].dependents = &b[TREE_T];
    id[TREE_N] = 0;
    id[TREE_P0] = 0;
    id[TREE_T] = hc.id;
    id[TREE_P1] = 1;
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_TERMINATE, 0, 0, 0,
                                  CHIMNEY_OBJ_NEIGHBOR, 0, 0), ==,
                     CHIMNEY_ST_IN_USE);    /* parents first: refused */
    qbuf = guest_alloc(&f.alloc, sizeof(ChimneyTcpDelegated));
    n = 0;
    for (cur = chimney_guest_walk_first(&b[TREE_N], true); cur;
         cur = chimney_guest_walk_next(cur, true, true)) {
        int i = cur - b;

        g_assert_cmpint(i, ==, bottom_up[n++]);
        if (kind[i] != CHIMNEY_OBJ_TCP) {
            g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_TERMINATE, id[i], 0,
                                          0,
                                          kind[i], 0, 0), ==,
                             CHIMNEY_ST_SUCCESS);
            continue;
        }
        cmd = (ChimneyAdminCmd) {
            .opcode = CHIMNEY_CMD_TERMINATE, .id = id[i], .addr = qbuf,
            .cookie = 0x7e, .param = { CHIMNEY_OBJ_TCP },
        };
        qchimney_admin_submit(&f.c, &cmd);
        g_assert_cmphex(qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN,
                                            CHIMNEY_ST_SUCCESS).cookie, ==,
                        0x7e);
    }
    g_assert_cmpint(n, ==, TREE_BLOCKS);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_TERMINATE, 0, 0, 0,
                                  CHIMNEY_OBJ_NEIGHBOR, 0, 0), ==,
                     CHIMNEY_ST_INVALID_ID);
    qchimney_fx_end(&f);
}

/* Peer RST: outstanding requests abort, then the ABORT event */
static void test_tcp_rst(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 300 };
    ChimneyCqe cqe;
    QChimneyPeerSeg ps;

    qchimney_tcp_fixture(&f, &hc, 9);
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
    /* Resources stay until TERMINATE; a later send is aborted too */
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 3, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 3);
    g_assert_cmpuint(qchimney_conn_cmd(&f.c, &hc, CHIMNEY_CMD_TERMINATE,
                                       guest_alloc(&f.alloc, 96), &cqe), ==,
                     CHIMNEY_ST_SUCCESS);
    qchimney_fx_end(&f);
}

static uint64_t qemu_rss_kib(QChimneyFixture *f)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status",
                                            qtest_pid(f->qts));
    g_autofree char *text = NULL;
    char *line;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return 0;
    }
    line = strstr(text, "VmRSS:");
    return line ? g_ascii_strtoull(line + 6, NULL, 10) : 0;
}

/*
 * Many connections offloaded at once (HCK's Support1024Connections), with
 * their traffic interleaved.  Their handshakes are not replayed: the
 * state is what the host stack would hand over.  CHIMNEY_TEST_CONNS sets
 * the number (scripts/bench-conns.sh runs 65536), and the test reports
 * QEMU's memory per connection and the time per phase.
 */
static void test_tcp_many(void)
{
    const char *env = g_getenv("CHIMNEY_TEST_CONNS");
    const uint32_t n = env ? atoi(env) : g_test_slow() ? 4096 : 1024;
    const uint32_t batch = 256;
    const bool migrate = g_getenv("CHIMNEY_TEST_MIGRATE") != NULL;
    uint64_t base = 0;
    QChimneyFixture f;
    g_autofree QChimneyConn *hc = g_new0(QChimneyConn, n);
    g_autofree uint32_t *seen = g_new0(uint32_t, n);
    static const uint32_t s1[] = { 100 };
    uint64_t ring, rss0, rss1, pool;
    ChimneyTcpOffload o = { 0 };
    g_autofree char *args = g_strdup_printf("-m 1G -global "
                                            "chimney-nic.max-conns=%u "
                                            "-global chimney-nic."
                                            "max-sq-entries=%u", n,
                                            MAX(n * 4, 4));
    gint64 t0, t1, t2;

    g_assert_cmpuint(n, >=, 1);
    qchimney_fx_init(&f, args);
    qchimney_fx_start(&f, &(QChimneyConfig) { .rx_buffers = 8 });
    ring = QEMU_ALIGN_UP(guest_alloc(&f.alloc, 8192 * 32 + 64), 64);
    qtest_memset(f.qts, ring, 0, 8192 * 32);
    g_assert_cmpuint(qchimney_create_cq(&f.c, 2, ring, 8192, 2, 64, 100), ==,
                     CHIMNEY_ST_SUCCESS);
    if (migrate) {      /* the stream of the idle device, to compare */
        qchimney_fx_migrate(&f, "file", args, NULL, NULL);
        base = f.mig_bytes;
    }
    qchimney_conn_setup(&f, &hc[0], 0, 2, 4);
    memcpy(hc[0].peer_mac, QCHIMNEY_PEER_MAC, 6);
    g_assert_cmpuint(qchimney_offload_neighbor(&f.c, 0, hc[0].mac,
                                               hc[0].peer_mac), ==, 0);
    g_assert_cmpuint(qchimney_offload_path(&f.c, 0, 0, hc[0].ip,
                                           hc[0].peer_ip, 1500), ==, 0);
    /* Guest memory for every send queue, touched before measuring */
    pool = QEMU_ALIGN_UP(guest_alloc(&f.alloc, n * 192 + 64), 64);
    qtest_memset(f.qts, pool, 0, n * 192);
    qchimney_offload_tcp(&f.c, &hc[0], &o, 0);      /* refused: no SQ */
    rss0 = qemu_rss_kib(&f);
    t0 = g_get_monotonic_time();
    for (uint32_t i = 0; i < n; i++) {
        hc[i] = hc[0];
        hc[i].id = CHIMNEY_CONN_ID(i, 1);
        hc[i].sq_base = pool + i * 192;
        hc[i].db_record = pool + i * 192 + 128;
        hc[i].port = 10000 + i % 50000;
        hc[i].peer_port = 5001 + i / 50000;
        hc[i].iss = i * 100000;
        hc[i].irs = i;
        hc[i].peer_mss = 1000;
        hc[i].peer_wnd = 65535;
        qchimney_tcp_block(&hc[i], 0, 2, &o);
        g_assert_cmpuint(qchimney_offload_tcp(&f.c, &hc[i], &o, 0), ==, 0);
    }
    rss1 = qemu_rss_kib(&f);
    t1 = g_get_monotonic_time();
    if (migrate) {
        /* live over a socket, then to a file; the sends run afterwards */
        qchimney_fx_migrate(&f, "unix", args, NULL, NULL);
        g_test_message("# migrate %u connections live: downtime %" PRId64
                       " ms, total %" PRId64 " ms, destination load %.1f ms",
                       n, f.mig_downtime_ms, f.mig_total_ms,
                       f.mig_load_us / 1000.0);
        qchimney_fx_migrate(&f, "file", args, NULL, NULL);
        g_test_message("# migrate %u connections to a file: stream %" PRIu64
                       " bytes, %.0f bytes per connection over the idle "
                       "device's %" PRIu64 "; save %" PRId64 " ms, load %.1f "
                       "ms", n, f.mig_bytes,
                       (double)(f.mig_bytes - base) / n, base,
                       f.mig_total_ms, f.mig_load_us / 1000.0);
        t1 = g_get_monotonic_time();
    }
    /* Batches, so the wire never holds more than the socket takes */
    for (uint32_t b = 0; b < n; b += batch) {
        uint32_t end = MIN(n, b + batch);

        for (uint32_t i = b; i < end; i++) {
            qchimney_sq_post(&f.c, &hc[i], CHIMNEY_SQ_SEND, 0, i, s1, 1,
                             NULL);
            qchimney_sq_kick(&f.c, &hc[i]);
        }
        for (uint32_t i = b; i < end; i++) {
            uint8_t fr[256];
            size_t len = qchimney_wire_recv(&f, fr, sizeof(fr));
            uint32_t idx = lduw_be_p(fr + 34) - 10000 +
                           (lduw_be_p(fr + 36) - 5001) * 50000;

            qchimney_wire_expect_ip(fr, len);
            g_assert_cmpuint(idx, >=, b);
            g_assert_cmpuint(idx, <, end);
            g_assert_cmpuint(len, ==, 14 + 40 + 100);
            seen[idx]++;
        }
        /* ACKs in reverse order, so completions interleave */
        for (uint32_t i = end; i-- > b;) {
            g_assert_cmpuint(seen[i], ==, 1);
            qchimney_peer_ack(&f, &hc[i], hc[i].iss + 1 + 100);
        }
        for (uint32_t i = b; i < end; i++) {
            ChimneyCqe cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                                                 CHIMNEY_ST_SUCCESS);
            uint32_t idx = CHIMNEY_CONN_INDEX(cqe.obj);

            g_assert_cmpuint(idx, >=, b);
            g_assert_cmpuint(idx, <, end);
            g_assert_cmpuint(cqe.cookie, ==, idx);
            g_assert_cmpuint(cqe.bytes, ==, 100);
            seen[idx]++;
        }
    }
    t2 = g_get_monotonic_time();
    for (uint32_t i = 0; i < n; i++) {
        g_assert_cmpuint(seen[i], ==, 2);
    }
    /* Idle again: every request completed, no per-request arrays left */
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-conn-queue-bytes"), ==, 0);
    /* and each connection as small as an idle one (see idle-arrays) */
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-conn-bytes"), <=,
                     480 * (uint64_t)n + 80);
    g_test_message("%u connections: offload %.1f us each, send+ACK+complete "
                   "%.1f us each; QEMU RSS %+" PRId64 " KiB (%.2f KiB per "
                   "connection); idle after a send: %.0f B per connection "
                   "(x-stat-conn-bytes)", n, (double)(t1 - t0) / n,
                   (double)(t2 - t1) / n, (int64_t)(rss1 - rss0),
                   (double)(int64_t)(rss1 - rss0) / n,
                   (double)qchimney_qom_stat(&f, "x-stat-conn-bytes") / n);
    qchimney_fx_end(&f);
}

/*
 * Offload with data the host had sent: SQ entries [0, handover) carry
 * it, [SndUna, SndNxt) is in flight, sending resumes at SndNxt.
 */
static void test_tcp_handover(void)
{
    QChimneyFixture f;
    QChimneyConn hc, h2;
    static const uint32_t s1[] = { 1500 };
    const uint64_t cookies[] = { 0x61, 0x62 };
    const uint32_t lens[] = { 1500, 1500 };
    ChimneyTcpOffload o;
    ChimneyCqe cqe;
    uint8_t expect[1000];
    QChimneyPeerSeg ps;

    qchimney_tcp_fixture(&f, &hc, 100);
    qchimney_conn_setup(&f, &h2, 6, 2, 16);
    memcpy(h2.peer_mac, QCHIMNEY_PEER_MAC, 6);
    h2.iss = 1000;
    h2.irs = 3000;
    h2.peer_mss = 1000;
    h2.peer_wnd = 65535;
    qchimney_sq_post(&f.c, &h2, CHIMNEY_SQ_SEND, 0, cookies[0], s1, 1, NULL);
    qchimney_sq_post(&f.c, &h2, CHIMNEY_SQ_SEND, 0, cookies[1], s1, 1, NULL);

    /* Refused (SndMax beyond the data): those requests are not touched */
    qchimney_tcp_block(&h2, 0, 2, &o);
    o.delegated.snd_nxt = cpu_to_le32(1001 + 1000);
    o.delegated.snd_max = cpu_to_le32(1001 + 5000);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &h2, &o, 2), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    g_assert(qchimney_cq_quiet(&f, 2));

    o.delegated.snd_max = cpu_to_le32(1001 + 2000);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &h2, &o, 2), ==,
                     CHIMNEY_ST_SUCCESS);
    /* [SndNxt, SndMax) first, then the rest of the data */
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.seq, ==, 2001);
    g_assert_cmpuint(ps.len, ==, 1000);
    for (int i = 0; i < 1000; i++) {
        expect[i] = i < 500 ? cookies[0] * 131 + (1000 + i) * 7 :
                              cookies[1] * 131 + (i - 500) * 7;
    }
    g_assert_cmpmem(ps.data, 1000, expect, 1000);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.seq, ==, 3001);
    qchimney_peer_send(&f, &h2, h2.irs + 1, 2501, 0x10, 65535, NULL, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, cookies[0]);
    g_assert_cmpuint(cqe.bytes, ==, lens[0]);
    g_assert_cmpuint(cqe.sq_head, ==, 1);
    qchimney_peer_send(&f, &h2, h2.irs + 1, 4001, 0x10, 65535, NULL, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, cookies[1]);
    g_assert_cmpuint(cqe.sq_head, ==, 2);
    qchimney_fx_end(&f);
}

/* Abortive disconnect: RST now, the sends abort, then the disconnect */
static void test_tcp_abortive(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 400 };
    ChimneyCqe cqe;
    QChimneyPeerSeg ps;

    qchimney_tcp_fixture(&f, &hc, 77);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_read(&f, &ps);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_DISCONNECT, CHIMNEY_SQF_ABORTIVE,
                     2, NULL, 0, NULL);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_read(&f, &ps);
    g_assert(ps.flags & 0x04);
    g_assert_cmpuint(ps.seq, ==, 78 + 400);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 1);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_DISCONNECT,
                              CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 2);
    qchimney_fx_end(&f);
}

/* An invalidated path: its connections stop and ask for an upload */
static void test_tcp_invalidate(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 100 };
    ChimneyCqe cqe;
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_TERMINATE, .cookie = 0x77,
                            .param = { CHIMNEY_OBJ_TCP } };

    qchimney_tcp_fixture(&f, &hc, 5);
    cmd.id = hc.id;
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_INVALIDATE, 0, 0, 0,
                                  CHIMNEY_OBJ_PATH, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_INVALID_STATE);
    g_assert_cmphex(cqe.obj, ==, hc.id);
    /* Again: no second event */
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_INVALIDATE, 0, 0, 0,
                                  CHIMNEY_OBJ_PATH, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert(qchimney_cq_quiet(&f, 2));
    /* Nothing is sent any more; TERMINATE returns the request */
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    g_assert(qchimney_cq_quiet(&f, 2));
    {
        uint8_t b;

        g_assert_cmpint(recv(f.sock, &b, 1, MSG_DONTWAIT), ==, -1);
    }
    cmd.addr = guest_alloc(&f.alloc, 96);
    qchimney_admin_submit(&f.c, &cmd);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    g_assert_cmphex(cqe.cookie, ==, 1);
    g_assert_cmpuint(cqe.bytes, ==, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x77);
    qchimney_fx_end(&f);
}

/* UPDATE of path 0, moved to @neighbor when @flags says so */
static uint8_t update_path(QChimneyFixture *f, uint32_t path,
                           uint32_t neighbor, uint32_t flags)
{
    ChimneyPathState st = {
        .neighbor = cpu_to_le32(neighbor), .path_mtu = cpu_to_le32(1500),
    };
    uint64_t buf = guest_alloc(&f->alloc, sizeof(st));

    qtest_memwrite(f->qts, buf, &st, sizeof(st));
    return qchimney_cmd(f, CHIMNEY_CMD_UPDATE, path, buf, sizeof(st),
                        CHIMNEY_OBJ_PATH, flags, 0);
}

/*
 * A next-hop change: the path moves to a new neighbor, the connection's
 * frames go to the new router's MAC, the old neighbor terminates once no
 * path uses it.  Bad neighbors and flags are refused, changing nothing.
 */
static void test_tcp_relink(void)
{
    static const uint8_t new_mac[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };
    static const uint32_t s1[] = { 100 };
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    uint8_t fr[2048];

    qchimney_tcp_fixture(&f, &hc, 300);
    g_assert_cmpuint(qchimney_offload_neighbor(&f.c, 1, hc.mac, new_mac), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_offload_neighbor(&f.c, 2, hc.mac, new_mac), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_INVALIDATE, 2, 0, 0,
                                  CHIMNEY_OBJ_NEIGHBOR, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    /* No such neighbor, an invalidated one, a bad flag, no such path */
    g_assert_cmpuint(update_path(&f, 0, 7, CHIMNEY_UPDATE_PATH_RELINK), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(update_path(&f, 0, 100000, CHIMNEY_UPDATE_PATH_RELINK),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(update_path(&f, 0, 2, CHIMNEY_UPDATE_PATH_RELINK), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(update_path(&f, 0, 1, 2), ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(update_path(&f, 9, 1, CHIMNEY_UPDATE_PATH_RELINK), ==,
                     CHIMNEY_ST_INVALID_ID);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_UPDATE, 1, 0, 0,
                                  CHIMNEY_OBJ_NEIGHBOR,
                                  CHIMNEY_UPDATE_PATH_RELINK, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    /* Without the flag the neighbor field changes nothing */
    g_assert_cmpuint(update_path(&f, 0, 1, 0), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_TERMINATE, 0, 0, 0,
                                  CHIMNEY_OBJ_NEIGHBOR, 0, 0), ==,
                     CHIMNEY_ST_IN_USE);

    g_assert_cmpuint(update_path(&f, 0, 1, CHIMNEY_UPDATE_PATH_RELINK), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_TERMINATE, 1, 0, 0,
                                  CHIMNEY_OBJ_NEIGHBOR, 0, 0), ==,
                     CHIMNEY_ST_IN_USE);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_TERMINATE, 0, 0, 0,
                                  CHIMNEY_OBJ_NEIGHBOR, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    /* The connection's data goes to the new next hop */
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    g_assert_cmpuint(qchimney_wire_recv(&f, fr, sizeof(fr)), ==,
                     14 + 40 + 100);
    g_assert_cmpmem(fr, 6, new_mac, 6);
    g_assert_cmpmem(fr + 6, 6, hc.mac, 6);
    qchimney_peer_send(&f, &hc, hc.irs + 1, 301 + 100, 0x10, 65535, NULL, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 1);
    qchimney_fx_end(&f);
}

/*
 * QUERY_STATS sums the connections' counters, a terminated one's too;
 * a short or unwritable buffer is refused.
 */
static void test_tcp_query_stats(void)
{
    static const uint32_t s1[] = { 300 };
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyOffloadStats st;
    QChimneyPeerSeg ps;
    ChimneyAdminCmd term = {
        .opcode = CHIMNEY_CMD_TERMINATE, .cookie = 0x78,
        .param = { CHIMNEY_OBJ_TCP, 0, 0, 4096 },
    };
    ChimneyCqe cqe;
    uint64_t held;

    qchimney_tcp_fixture(&f, &hc, 400);
    st = qchimney_query_stats(&f);
    g_assert_cmpuint(le32_to_cpu(st.established), ==, 1);
    g_assert_cmpuint(le64_to_cpu(st.out_segments), ==, 0);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.len, ==, 300);
    qchimney_peer_data(&f, &hc, hc.irs + 1, 401 + 300, 0, 50);
    qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    qchimney_wait_segs_in(&f, &hc, 1);
    st = qchimney_query_stats(&f);
    g_assert_cmpuint(le64_to_cpu(st.out_segments), >=, 1);
    g_assert_cmpuint(le64_to_cpu(st.in_segments), ==, 1);
    g_assert_cmpuint(le64_to_cpu(st.in_octets), ==, 50);
    g_assert_cmpuint(le64_to_cpu(st.out_octets), ==, 300);
    g_assert_cmpuint(le64_to_cpu(st.retransmitted), ==, 0);

    /* Terminated, the connection still counts */
    held = guest_alloc(&f.alloc, 4096);
    term.id = hc.id;
    term.addr = guest_alloc(&f.alloc, 96);
    term.param[CHIMNEY_TERM_PARAM_HELD_LO] = (uint32_t)held;
    term.param[CHIMNEY_TERM_PARAM_HELD_HI] = held >> 32;
    qchimney_admin_submit(&f.c, &term);
    do {                        /* after the events of the held data */
        qchimney_cq_wait(&f.c, 2, &cqe);
    } while (CHIMNEY_CQE_TYPE(cqe.type_status) != CHIMNEY_CQE_ADMIN);
    g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x78);
    st = qchimney_query_stats(&f);
    g_assert_cmpuint(le32_to_cpu(st.established), ==, 0);
    g_assert_cmpuint(le64_to_cpu(st.in_octets), ==, 50);
    g_assert_cmpuint(le64_to_cpu(st.out_octets), ==, 300);

    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_QUERY_STATS, 0,
                                  guest_alloc(&f.alloc, 64), 63, 0, 0, 0),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_QUERY_STATS, 0,
                                  QCHIMNEY_FAR_AWAY, 64, 0, 0, 0), ==,
                     CHIMNEY_ST_DMA_ERROR);
    qchimney_fx_end(&f);
}

static void test_bad_tcp_offload(void)
{
    QChimneyFixture f;
    QChimneyConn hc, other;
    ChimneyTcpOffload o, bad;
    ChimneyCqe cqe;
    uint64_t qbuf;

    qchimney_tcp_fixture_cq(&f, &hc, 100, 256,
                            "-global chimney-nic.max-sq-entries=32");
    qbuf = guest_alloc(&f.alloc, 256);
    qchimney_conn_setup(&f, &other, 6, 2, 16);
    memcpy(other.peer_mac, QCHIMNEY_PEER_MAC, 6);
    other.iss = 5;
    other.irs = 6;
    other.peer_mss = 1000;
    other.peer_wnd = 1000;
    qchimney_tcp_block(&other, 0, 2, &o);

    /* Inconsistent state: each refused, nothing created */
    bad = o;
    bad.snd_wscale = 15;
    bad.const_flags = cpu_to_le16(CHIMNEY_TCPF_WINDOW_SCALING);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &bad, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    bad = o;
    bad.remote_mss = 0;
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &bad, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    bad = o;
    bad.delegated.snd_nxt = cpu_to_le32(other.iss + 100);
    bad.delegated.snd_max = cpu_to_le32(other.iss + 100);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &bad, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    bad = o;
    bad.delegated.state = cpu_to_le32(10);              /* TIME_WAIT */
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &bad, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    bad = o;
    bad.path = cpu_to_le32(77);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &bad, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    bad = o;
    bad.cq = cpu_to_le32(0);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &bad, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    bad = o;
    bad.sq_size = cpu_to_le32(12);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &bad, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    /* The 4-tuple of a connection already offloaded */
    bad = o;
    bad.local_port = cpu_to_le16(hc.port);
    bad.remote_port = cpu_to_le16(hc.peer_port);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &bad, 0), ==,
                     CHIMNEY_ST_INVALID_STATE);
    /* An index in use, one out of range */
    other.id = hc.id;
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &o, 0), ==,
                     CHIMNEY_ST_INVALID_STATE);
    other.id = CHIMNEY_CONN_ID(5000, 0);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &o, 0), ==,
                     CHIMNEY_ST_INVALID_ID);
    /* Send queues over the device's budget (32 entries, 16 in use) */
    other.id = CHIMNEY_CONN_ID(6, 1);
    bad = o;
    bad.sq_size = cpu_to_le32(32);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &bad, 0), ==,
                     CHIMNEY_ST_NO_RESOURCES);
    /* Block outside guest RAM, of either version's length */
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_OFFLOAD_TCP,
                                  CHIMNEY_CONN_ID(7, 0), QCHIMNEY_FAR_AWAY,
                                  CHIMNEY_TCP_OFFLOAD_SIZE, 0, 0, 0), ==,
                     CHIMNEY_ST_DMA_ERROR);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_OFFLOAD_TCP,
                                  CHIMNEY_CONN_ID(7, 0), QCHIMNEY_FAR_AWAY,
                                  CHIMNEY_TCP_OFFLOAD_SIZE_1_2, 0, 0, 0), ==,
                     CHIMNEY_ST_DMA_ERROR);
    /* A block length that is neither the 1.2 nor the 1.3 block */
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_OFFLOAD_TCP,
                                  CHIMNEY_CONN_ID(7, 0),
                                  QCHIMNEY_FAR_AWAY, 200, 0, 0, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    /* Unknown connection, stale generation */
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_QUERY_TCP, CHIMNEY_CONN_ID(9,
                                                                             1),
                                  qbuf, 0, 0, 0, 0), ==, CHIMNEY_ST_INVALID_ID);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_QUERY_TCP, CHIMNEY_CONN_ID(5,
                                                                             2),
                                  qbuf, 0, 0, 0, 0), ==,
                     CHIMNEY_ST_STALE_GENERATION);
    /* Neighbor and path in use cannot be terminated */
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_TERMINATE, 0, 0, 0,
                                  CHIMNEY_OBJ_PATH, 0, 0), ==,
                     CHIMNEY_ST_IN_USE);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_TERMINATE, 0, 0, 0,
                                  CHIMNEY_OBJ_NEIGHBOR, 0, 0), ==,
                     CHIMNEY_ST_IN_USE);
    /* The CQ of a connection cannot be destroyed */
    g_assert_cmpuint(qchimney_destroy_cq(&f.c, 2), ==, CHIMNEY_ST_IN_USE);
    /* The good connection still works */
    g_assert_cmpuint(qchimney_conn_cmd(&f.c, &hc, CHIMNEY_CMD_QUERY_TCP, qbuf,
                                       &cqe), ==, CHIMNEY_ST_SUCCESS);
    qchimney_fx_end(&f);
}

static void test_bad_tcp_sends(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    static const uint32_t one[] = { 10 };
    g_autofree uint32_t *many = g_new0(uint32_t, CHIMNEY_MAX_SGE + 1);
    ChimneyCqe cqe;
    ChimneySqDesc d = { 0 };
    ChimneySge far = {
        .addr = cpu_to_le64(QCHIMNEY_FAR_AWAY), .len = cpu_to_le32(64),
    };
    uint64_t sgl;
    uint32_t tail;

    qchimney_tcp_fixture(&f, &hc, 100);
    for (int i = 0; i <= CHIMNEY_MAX_SGE; i++) {
        many[i] = 1;
    }
    /* SGL pointing outside guest RAM */
    sgl = guest_alloc(&f.alloc, sizeof(far));
    qtest_memwrite(f.qts, sgl, &far, sizeof(far));
    d = (ChimneySqDesc) { .type = CHIMNEY_SQ_SEND, .nsge = cpu_to_le16(1),
                          .len = cpu_to_le32(64), .cookie = cpu_to_le64(1),
                          .sgl = cpu_to_le64(sgl) };
    qtest_memwrite(f.qts, hc.sq_base, &d, sizeof(d));
    /* Zero-length send; unknown type; length not the SGL's sum */
    d = (ChimneySqDesc) { .type = CHIMNEY_SQ_SEND, .cookie = cpu_to_le64(2) };
    qtest_memwrite(f.qts, hc.sq_base + 32, &d, sizeof(d));
    d = (ChimneySqDesc) { .type = 9, .cookie = cpu_to_le64(3) };
    qtest_memwrite(f.qts, hc.sq_base + 64, &d, sizeof(d));
    hc.sq_tail = 3;
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 4, many,
                     CHIMNEY_MAX_SGE + 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(cqe.cookie, ==, 1);
    /* After a failed request the connection asks to be uploaded */
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_HW_FAILURE);
    for (int i = 2; i <= 4; i++) {
        cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                                  CHIMNEY_ST_BAD_DESCRIPTOR);
        g_assert_cmphex(cqe.cookie, ==, i);
        g_assert_cmpuint(cqe.bytes, ==, 0);
    }
    /*
     * Trap 4: a good request after a failed one is not sent; it fails
     * the way the first failed request did, with no bytes
     */
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 5, one, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(cqe.cookie, ==, 5);
    g_assert_cmpuint(cqe.bytes, ==, 0);
    g_assert(qchimney_wire_quiet(&f, 200));
    /* A stale doorbell is ignored and counted */
    qchimney_writel(&f.c, CHIMNEY_DB_CONN_SQ, CHIMNEY_CONN_ID(5, 9));
    qchimney_writel(&f.c, CHIMNEY_DB_CONN_SQ, CHIMNEY_CONN_ID(900000, 0));
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-stale-doorbells"), ==, 2);
    /* A producer index beyond the send queue: an upload request */
    tail = cpu_to_le32(hc.sq_size);
    qtest_memwrite(f.qts, hc.db_record, &tail, sizeof(tail));
    qchimney_sq_kick(&f.c, &hc);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert(!(qchimney_readl(&f.c, CHIMNEY_REG_STATUS) &
               CHIMNEY_STATUS_FATAL));
    qchimney_fx_end(&f);
}

/* A second connection on @f with @hc's 4-tuple, under index @index */
static void same_tuple(QChimneyFixture *f, QChimneyConn *nc,
                       const QChimneyConn *hc, uint32_t index, uint32_t iss)
{
    qchimney_conn_setup(f, nc, index, hc->cq, 16);
    memcpy(nc->peer_mac, hc->peer_mac, 6);
    nc->port = hc->port;
    nc->peer_port = hc->peer_port;
    nc->iss = iss;
    nc->irs = hc->irs;
    nc->peer_mss = hc->peer_mss;
    nc->peer_wnd = hc->peer_wnd;
}

/*
 * A connection terminated while its completions wait for CQ room stays
 * until they are written.  Its 4-tuple offloaded again meanwhile belongs
 * to the new connection, and freeing the old one leaves it alone: the
 * new one keeps receiving, and a third OFFLOAD of the 4-tuple is refused.
 */
static void test_tcp_terminate_tuple_reuse(void)
{
    QChimneyFixture f;
    QChimneyConn hc, again, third;
    static const uint32_t one[] = { 100 };
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_TERMINATE,
                            .param = { CHIMNEY_OBJ_TCP } };
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
    /* Three completions fill CQ 2 (four entries); nobody consumes them */
    qchimney_peer_ack_sync(&f, &hc, start + 300);
    cmd.id = hc.id;
    cmd.addr = guest_alloc(&f.alloc, sizeof(ChimneyTcpDelegated));
    cmd.cookie = 0xabc;
    qchimney_admin_submit(&f.c, &cmd);
    /* The terminated connection still posts to CQ 2 */
    g_assert_cmpuint(qchimney_destroy_cq(&f.c, 2), ==, CHIMNEY_ST_IN_USE);
    /* The 4-tuple offloaded again, under another index */
    same_tuple(&f, &again, &hc, 6, start + 299);
    qchimney_tcp_block(&again, 0, 2, &o);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &again, &o, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    /* The old connection's completions go out, then it is freed */
    for (int i = 0; i < 3; i++) {
        cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
        g_assert_cmphex(cqe.cookie, ==, i + 1);
    }
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0xabc);
    g_assert_cmphex(cqe.obj, ==, hc.id);
    /* The 4-tuple is still offloaded: a third OFFLOAD is refused */
    same_tuple(&f, &third, &hc, 7, start + 299);
    qchimney_tcp_block(&third, 0, 2, &o);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &third, &o, 0), ==,
                     CHIMNEY_ST_INVALID_STATE);
    /* and the live connection still gets its segments */
    qchimney_peer_ack_sync(&f, &again, again.iss + 1);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-to-host"), ==, 0);
    qchimney_fx_end(&f);
}

/*
 * SndNxt - SndUna = 2^31 with nothing handed over: chimney_seq_leq holds
 * both ways at that distance, so the state once passed and 2 GiB were
 * "in flight" with no request behind them; a bare ACK of SndMax then
 * aborted QEMU in the segment builder.  Distances are unsigned now.
 */
static void test_bad_tcp_offload_half_space(void)
{
    QChimneyFixture f;
    QChimneyConn hc, other;
    ChimneyTcpOffload o, bad;
    uint8_t th[20] = { 0 };
    uint64_t seg;
    static const uint32_t one[] = { 100 };

    qchimney_tcp_fixture(&f, &hc, 100);
    same_tuple(&f, &other, &hc, 6, 5);
    other.port = hc.port + 1;
    qchimney_tcp_block(&other, 0, 2, &o);
    bad = o;
    bad.delegated.snd_una = cpu_to_le32(0x80001388);
    bad.delegated.snd_nxt = cpu_to_le32(0x1388);
    bad.delegated.snd_max = cpu_to_le32(0x1388);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &bad, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    /* What QEMU died of: a bare ACK of SndMax, forwarded */
    stw_be_p(th, other.peer_port);
    stw_be_p(th + 2, other.port);
    stl_be_p(th + 4, other.irs + 1);
    stl_be_p(th + 8, 0x1388);
    th[12] = 5 << 4;
    th[13] = 0x10;
    stw_be_p(th + 14, 65535);
    seg = guest_alloc(&f.alloc, sizeof(th));
    qtest_memwrite(f.qts, seg, th, sizeof(th));
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_FORWARD, other.id, seg,
                                  sizeof(th), 0, 0, 0), ==,
                     CHIMNEY_ST_INVALID_ID);
    /* Less than 2^31 in flight, but more than was handed over */
    bad = o;
    bad.delegated.snd_nxt = cpu_to_le32(other.iss + 1 + 0x7fffffff);
    bad.delegated.snd_max = cpu_to_le32(other.iss + 1 + 0x7fffffff);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &bad, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    /* SndMax covered by the handed-over request exactly: accepted */
    qchimney_sq_post(&f.c, &other, CHIMNEY_SQ_SEND, 0, 9, one, 1, NULL);
    bad = o;
    bad.delegated.snd_nxt = cpu_to_le32(other.iss + 1 + 100);
    bad.delegated.snd_max = cpu_to_le32(other.iss + 1 + 100);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &bad, 1), ==,
                     CHIMNEY_ST_SUCCESS);
    qchimney_fx_assert_alive(&f);
    qchimney_fx_end(&f);
}

/*
 * QUERY_TCP's sq_head is the first SQ entry not yet completed, not the
 * next one the device fetches.
 */
static void test_tcp_query_sq_head(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    static const uint32_t one[] = { 100 };
    ChimneyTcpDelegated d;
    ChimneyCqe cqe;
    QChimneyPeerSeg ps;
    uint64_t qbuf;
    uint32_t start, got = 0;

    qchimney_tcp_fixture(&f, &hc, 100);
    start = hc.iss + 1;
    qbuf = guest_alloc(&f.alloc, sizeof(d));
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, one, 1, NULL);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 2, one, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    while (got < 200) {
        qchimney_peer_read(&f, &ps);
        got += ps.len;
    }
    g_assert_cmpuint(qchimney_conn_cmd(&f.c, &hc, CHIMNEY_CMD_QUERY_TCP, qbuf,
                                       &cqe), ==, CHIMNEY_ST_SUCCESS);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.sq_head), ==, 0);
    qchimney_peer_ack(&f, &hc, start + 100);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.sq_head, ==, 1);
    g_assert_cmpuint(qchimney_conn_cmd(&f.c, &hc, CHIMNEY_CMD_QUERY_TCP, qbuf,
                                       &cqe), ==, CHIMNEY_ST_SUCCESS);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.sq_head), ==, 1);
    qchimney_peer_ack(&f, &hc, start + 200);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_conn_cmd(&f.c, &hc, CHIMNEY_CMD_QUERY_TCP, qbuf,
                                       &cqe), ==, CHIMNEY_ST_SUCCESS);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.sq_head), ==, 2);
    qchimney_fx_end(&f);
}

/* Put one SEND of @len bytes whose single SGE is @addr on @hc's SQ */
static void post_raw_send(QChimneyFixture *f, QChimneyConn *hc,
                          uint64_t cookie, uint64_t addr, uint32_t len)
{
    ChimneySge e = { .addr = cpu_to_le64(addr), .len = cpu_to_le32(len) };
    uint64_t sgl = guest_alloc(&f->alloc, sizeof(e));
    ChimneySqDesc d = {
        .type = CHIMNEY_SQ_SEND, .nsge = cpu_to_le16(1),
        .len = cpu_to_le32(len), .cookie = cpu_to_le64(cookie),
        .sgl = cpu_to_le64(sgl),
    };
    uint32_t tail;

    qtest_memwrite(f->qts, sgl, &e, sizeof(e));
    qtest_memwrite(f->qts, hc->sq_base + hc->sq_tail * sizeof(d), &d,
                   sizeof(d));
    hc->sq_tail = (hc->sq_tail + 1) & (hc->sq_size - 1);
    tail = cpu_to_le32(hc->sq_tail);
    qtest_memwrite(f->qts, hc->db_record, &tail, sizeof(tail));
}

/*
 * Send data the device cannot read (its own registers) is a hardware
 * failure, not a reset: no RST on the wire, DMA_ERROR, and an upload
 * request with reason HW_FAILURE.
 */
static void test_tcp_send_unreadable(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;

    qchimney_tcp_fixture(&f, &hc, 100);
    post_raw_send(&f, &hc, 1, f.c.bar.addr, 64);
    qchimney_sq_kick(&f.c, &hc);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(cqe.cookie, ==, 1);
    g_assert_cmpuint(cqe.bytes, ==, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_HW_FAILURE);
    /* Only an abortive disconnect sends a RST */
    g_assert(qchimney_wire_quiet(&f, 200));
    /* A later request is not sent and fails the same way */
    post_raw_send(&f, &hc, 2, guest_alloc(&f.alloc, 64), 64);
    qchimney_sq_kick(&f.c, &hc);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(cqe.cookie, ==, 2);
    g_assert(qchimney_wire_quiet(&f, 200));
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_fx_end(&f);
}

/*
 * A request's length is at most CHIMNEY_MAX_REQUEST_LEN (1 GiB): longer
 * is BAD_DESCRIPTOR, checked on the descriptor alone; at the limit, its
 * memory decides (here DMA_ERROR: outside guest RAM).
 */
static void test_bad_tcp_send_length(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;

    qchimney_tcp_fixture(&f, &hc, 100);
    post_raw_send(&f, &hc, 1, QCHIMNEY_FAR_AWAY, CHIMNEY_MAX_REQUEST_LEN);
    qchimney_sq_kick(&f.c, &hc);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(cqe.cookie, ==, 1);
    qchimney_fx_end(&f);

    qchimney_tcp_fixture(&f, &hc, 100);
    post_raw_send(&f, &hc, 2, QCHIMNEY_FAR_AWAY, CHIMNEY_MAX_REQUEST_LEN + 1);
    qchimney_sq_kick(&f.c, &hc);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_BAD_DESCRIPTOR);
    g_assert_cmphex(cqe.cookie, ==, 2);
    qchimney_fx_end(&f);
}

/* A doorbell record the device cannot read: upload for HW_FAILURE */
static void test_bad_tcp_db_record(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    uint64_t ring;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, &(QChimneyConfig) { .rx_buffers = 8 });
    ring = QEMU_ALIGN_UP(guest_alloc(&f.alloc, 64 * 32 + 64), 64);
    qtest_memset(f.qts, ring, 0, 64 * 32);
    g_assert_cmpuint(qchimney_create_cq(&f.c, 2, ring, 64, 2, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    qchimney_conn_setup(&f, &hc, 5, 2, 16);
    hc.db_record = QCHIMNEY_FAR_AWAY;
    qchimney_establish(&f, &hc, 100, 777);
    qchimney_sq_kick(&f.c, &hc);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_HW_FAILURE);
    qchimney_fx_end(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_device("chimney-nic")) {
        g_test_skip("chimney-nic is not built in");
        return g_test_run();
    }
    qtest_add_func("/chimney/tcp/send", test_tcp_send);
    qtest_add_func("/chimney/tcp/send-scattered", test_tcp_send_scattered);
    qtest_add_func("/chimney/tcp/idle-arrays", test_tcp_idle_arrays);
    qtest_add_func("/chimney/tcp/retransmit", test_tcp_retransmit);
    qtest_add_func("/chimney/tcp/terminate", test_tcp_terminate);
    qtest_add_func("/chimney/guest/state-tree", test_guest_state_tree);
    qtest_add_func("/chimney/tcp/rst", test_tcp_rst);
    qtest_add_func("/chimney/tcp/many", test_tcp_many);
    qtest_add_func("/chimney/tcp/handover", test_tcp_handover);
    qtest_add_func("/chimney/tcp/abortive", test_tcp_abortive);
    qtest_add_func("/chimney/tcp/invalidate", test_tcp_invalidate);
    qtest_add_func("/chimney/tcp/relink", test_tcp_relink);
    qtest_add_func("/chimney/tcp/query-stats", test_tcp_query_stats);
    qtest_add_func("/chimney/bad/tcp-offload", test_bad_tcp_offload);
    qtest_add_func("/chimney/bad/tcp-sends", test_bad_tcp_sends);
    qtest_add_func("/chimney/tcp/terminate-tuple-reuse",
                   test_tcp_terminate_tuple_reuse);
    qtest_add_func("/chimney/bad/tcp-offload-half-space",
                   test_bad_tcp_offload_half_space);
    qtest_add_func("/chimney/tcp/query-sq-head", test_tcp_query_sq_head);
    qtest_add_func("/chimney/tcp/send-unreadable", test_tcp_send_unreadable);
    qtest_add_func("/chimney/bad/tcp-send-length", test_bad_tcp_send_length);
    qtest_add_func("/chimney/bad/tcp-db-record", test_bad_tcp_db_record);
    return g_test_run();
}
