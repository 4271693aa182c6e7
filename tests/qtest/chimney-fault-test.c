/*
 * QTest testcase for chimney-nic: fault injection on completions
 *
 * The x-fault-rules language over QMP: delayed, held, failed, coalesced
 * and reordered completions, late or lost interrupts, seeded randomness,
 * every selector, reset with held completions, bad rules; on send and on
 * receive completions, with the test as the TCP peer on the wire and
 * QEMU's virtual clock.  Then migration with connections offloaded, to a
 * file and live over a socket, mid-stream with held completions and
 * out-of-order data, and corrupted or truncated streams refused.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qobject/qdict.h"
#include "libqtest.h"
#include "qemu/bswap.h"
#include "libqos/chimney-host.h"

/* Post @n sends of @len bytes on @hc, read them off the wire. */
static uint32_t send_n(QChimneyFixture *f, QChimneyConn *hc, uint64_t cookie0,
                       int n,
                       uint32_t len)
{
    uint32_t sge[] = { len };
    uint32_t start = 0;
    QChimneyPeerSeg ps;

    for (int i = 0; i < n; i++) {
        qchimney_sq_post(&f->c, hc, CHIMNEY_SQ_SEND, 0, cookie0 + i, sge, 1,
                         NULL);
    }
    qchimney_sq_kick(&f->c, hc);
    for (uint32_t got = 0; got < n * len; got += ps.len) {
        qchimney_peer_read(f, &ps);
        if (!got) {
            start = ps.seq;
        }
    }
    return start;
}

/* A completion delayed by D is not there at D - 1 ns and is there at D. */
static void test_fault_delay(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;

    qchimney_tcp_fixture(&f, &hc, 1);
    qchimney_set_rules(&f, "type=send delay=5ms");
    start = send_n(&f, &hc, 1, 2, 500);
    qchimney_peer_ack_sync(&f, &hc, start + 500);
    g_assert(qchimney_cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 2 * QCHIMNEY_MS_NS);
    qchimney_peer_ack_sync(&f, &hc, start + 1000);        /* ready 2 ms later */
    qtest_clock_step(f.qts, 3 * QCHIMNEY_MS_NS - 1);
    g_assert(qchimney_cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 1);
    g_assert(qchimney_cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 2 * QCHIMNEY_MS_NS - 1);
    g_assert(qchimney_cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 2);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-fault-delayed"), ==, 2);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-fault-seen"), ==, 2);
    /* Rules changed at run time: none now */
    qchimney_set_rules(&f, "");
    start = send_n(&f, &hc, 3, 1, 100);
    qchimney_peer_ack_sync(&f, &hc, start + 100);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 3);
    qchimney_fx_end(&f);
}

/* Held until released over QMP: one, then all; order kept */
static void test_fault_hold(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;

    qchimney_tcp_fixture(&f, &hc, 1);
    qchimney_set_rules(&f, "conn=5 type=send hold");
    start = send_n(&f, &hc, 1, 3, 300);
    qchimney_peer_ack_sync(&f, &hc, start + 900);
    qtest_clock_step(f.qts, 10LL * 1000 * QCHIMNEY_MS_NS);
    g_assert(qchimney_cq_quiet(&f, 2));
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-fault-held"), ==, 3);
    qchimney_fault_release(&f, "one");
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 1);
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_fault_release(&f, "conn=5");
    for (int i = 2; i <= 3; i++) {
        cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
        g_assert_cmphex(cqe.cookie, ==, i);
    }
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-fault-released"), ==, 3);
    qchimney_fx_end(&f);
}

/*
 * TERMINATE while a held completion keeps the connection in the table:
 * the id is gone at once (a second TERMINATE, a QUERY or a doorbell find
 * none), and its counters are in QUERY_STATS once.
 */
static void test_fault_hold_terminate(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyAdminCmd term = {
        .opcode = CHIMNEY_CMD_TERMINATE, .cookie = 0x99,
        .param = { CHIMNEY_OBJ_TCP },
    };
    ChimneyOffloadStats st;
    uint64_t buf;
    uint32_t start;
    ChimneyCqe cqe;

    qchimney_tcp_fixture(&f, &hc, 1);
    qchimney_set_rules(&f, "conn=5 type=send hold");
    start = send_n(&f, &hc, 1, 1, 300);
    qchimney_peer_ack_sync(&f, &hc, start + 300);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-fault-held"), ==, 1);
    buf = guest_alloc(&f.alloc, 4096);
    term.id = hc.id;
    term.addr = buf;
    qchimney_admin_submit(&f.c, &term);
    /* behind the held completion, on the connection's CQ */
    g_assert(qchimney_cq_quiet(&f, 2));
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_TERMINATE, hc.id, buf, 0,
                                  CHIMNEY_OBJ_TCP, 0, 0), ==,
                     CHIMNEY_ST_INVALID_ID);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_QUERY_TCP, hc.id, buf, 0,
                                  0, 0, 0), ==, CHIMNEY_ST_INVALID_ID);
    qchimney_sq_kick(&f.c, &hc);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-stale-doorbells"), ==, 1);
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_fault_release(&f, "all");
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 1);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x99);
    st = qchimney_query_stats(&f);
    g_assert_cmpuint(le64_to_cpu(st.out_octets), ==, 300);
    g_assert_cmpuint(le32_to_cpu(st.established), ==, 0);
    qchimney_fx_end(&f);
}

/* A held CQ filling up: released entries stop at a full CQ, none lost */
static void test_fault_hold_cq_full(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;

    qchimney_tcp_fixture_cq(&f, &hc, 1, 4, NULL);
    qchimney_set_rules(&f, "hold type=send");
    start = send_n(&f, &hc, 1, 6, 100);
    qchimney_peer_ack_sync(&f, &hc, start + 600);
    qchimney_fault_release(&f, "all");
    /* A 4-entry CQ holds 3: read them without freeing the slots */
    for (int i = 1; i <= 3; i++) {
        gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

        while (!qchimney_cq_poll(&f.c, 2, &cqe)) {
            g_assert(g_get_monotonic_time() < deadline);
            g_usleep(100);
        }
        g_assert_cmphex(cqe.cookie, ==, i);
    }
    g_usleep(50 * 1000);
    /* The fourth entry waits for room: nothing beyond the three yet */
    g_assert_cmphex(qtest_readl(f.qts, f.c.cq[2].ring.base + 3 * 32 + 28) &
                    CHIMNEY_CQE_PHASE, ==, 0);
    qchimney_cq_ack(&f.c, 2);
    for (int i = 4; i <= 6; i++) {
        cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
        g_assert_cmphex(cqe.cookie, ==, i);
    }
    qchimney_fx_end(&f);
}

/* The 2nd send fails UPLOAD_IN_PROGRESS with partial bytes; the rest too */
static void test_fault_fail_upload(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;

    qchimney_tcp_fixture(&f, &hc, 1);
    qchimney_set_rules(&f, "type=send nth=2 fail=upload bytes=100");
    start = send_n(&f, &hc, 1, 3, 400);
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
    g_assert_cmpuint(cqe.bytes, ==, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-fault-failed"), ==, 1);
    qchimney_fx_end(&f);
}

/* REQUEST_ABORTED: the connection resets, as for a peer RST */
static void test_fault_fail_aborted(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;
    QChimneyPeerSeg ps;

    qchimney_tcp_fixture(&f, &hc, 1);
    qchimney_set_rules(&f, "type=send once fail=aborted");
    start = send_n(&f, &hc, 1, 2, 400);
    qchimney_peer_ack_sync(&f, &hc, start + 400);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 1);
    g_assert_cmpuint(cqe.bytes, ==, 0);
    qchimney_peer_read(&f, &ps);
    g_assert(ps.flags & 0x04);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
                              CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 2);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_ABORT);
    qchimney_fx_end(&f);
}

/* Coalescing: released 3 at a time, behind one interrupt */
static void test_fault_coalesce(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;

    qchimney_tcp_fixture(&f, &hc, 1);
    qchimney_set_rules(&f, "type=send coalesce=3");
    start = send_n(&f, &hc, 1, 3, 200);
    qchimney_msi_clear(&f.c, 2);
    qchimney_peer_ack_sync(&f, &hc, start + 200);
    qchimney_peer_ack_sync(&f, &hc, start + 400);
    g_assert(qchimney_cq_quiet(&f, 2));
    g_assert(!qchimney_msi_fired(&f.c, 2));
    qchimney_peer_ack_sync(&f, &hc, start + 600);
    for (int i = 1; i <= 3; i++) {
        cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
        g_assert_cmphex(cqe.cookie, ==, i);
    }
    g_assert(qchimney_msi_fired(&f.c, 2));
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-fault-coalesced"), ==, 3);
    /* Every T: one completion goes after 1 ms */
    qchimney_set_rules(&f, "type=send coalesce=8:1ms");
    start = send_n(&f, &hc, 4, 1, 100);
    qchimney_peer_ack_sync(&f, &hc, start + 100);
    qtest_clock_step(f.qts, QCHIMNEY_MS_NS - 1);
    g_assert(qchimney_cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 4);
    qchimney_fx_end(&f);
}

/* The entry at once, its interrupt 1 ms later; or never, left pending */
static void test_fault_irq(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;

    qchimney_tcp_fixture(&f, &hc, 1);
    qchimney_set_rules(&f, "type=send irq-delay=1ms");
    start = send_n(&f, &hc, 1, 1, 100);
    qchimney_msi_clear(&f.c, 2);
    qchimney_peer_ack_sync(&f, &hc, start + 100);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    qtest_clock_step(f.qts, QCHIMNEY_MS_NS - 1);
    g_usleep(20 * 1000);
    g_assert(!qchimney_msi_fired(&f.c, 2));
    qtest_clock_step(f.qts, 1);
    for (int i = 0; i < 1000 && !qchimney_msi_fired(&f.c, 2); i++) {
        g_usleep(1000);
    }
    g_assert(qchimney_msi_fired(&f.c, 2));

    qchimney_set_rules(&f, "type=send irq-drop");
    start = send_n(&f, &hc, 2, 1, 100);
    qchimney_msi_clear(&f.c, 2);
    qchimney_peer_ack_sync(&f, &hc, start + 100);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 2);
    qtest_clock_step(f.qts, 100 * QCHIMNEY_MS_NS);
    g_usleep(20 * 1000);
    g_assert(!qchimney_msi_fired(&f.c, 2));
    g_assert(qpci_msix_pending(f.c.pdev, 2));
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-fault-irq-dropped"), ==, 1);
    qchimney_fx_end(&f);
}

/*
 * Random delays: the same seed gives the same completion trace, another
 * seed another one.  Two connections; completions are recorded with the
 * virtual time at which they appear.
 */
static GString *fault_trace(uint64_t seed, const char *rules)
{
    QChimneyFixture f;
    QChimneyConn hc, h2;
    ChimneyTcpOffload o;
    GString *trace = g_string_new("");
    uint32_t s1, s2;
    ChimneyCqe cqe;

    qchimney_tcp_fixture(&f, &hc, 1);
    qtest_qmp_assert_success(f.qts, "{'execute': 'qom-set', 'arguments': "
                             "{'path': '/machine/peripheral/nic0', "
                             "'property': 'x-fault-seed', 'value': %u}}",
                             (unsigned)seed);
    qchimney_set_rules(&f, rules);
    qchimney_conn_setup(&f, &h2, 6, 2, 16);
    memcpy(h2.peer_mac, QCHIMNEY_PEER_MAC, 6);
    h2.iss = 70000;
    h2.irs = 8000;
    h2.peer_mss = 1000;
    h2.peer_wnd = 65535;
    qchimney_tcp_block(&h2, 0, 2, &o);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &h2, &o, 0), ==, 0);
    s1 = send_n(&f, &hc, 10, 4, 100);
    s2 = send_n(&f, &h2, 20, 4, 100);
    for (int i = 1; i <= 4; i++) {
        qchimney_peer_ack_sync(&f, &hc, s1 + 100 * i);
        qchimney_peer_send_sync(&f, &h2, h2.irs + 1, s2 + 100 * i);
    }
    for (int t = 0; t <= 10; t++) {
        while (qchimney_cq_wait_timeout(&f.c, 2, &cqe, 20 * 1000)) {
            g_string_append_printf(trace, "%d:%" PRIu64 " ", t, cqe.cookie);
        }
        qtest_clock_step(f.qts, QCHIMNEY_MS_NS);
    }
    qchimney_fx_end(&f);
    return trace;
}

static void test_fault_seed(void)
{
    const char *rules = "type=send delay=uniform:0ms:9ms";
    g_autoptr(GString) a = fault_trace(1, rules);
    g_autoptr(GString) b = fault_trace(1, rules);
    g_autoptr(GString) c = fault_trace(2, rules);
    int last[2] = { 0, 0 };
    g_auto(GStrv) items = g_strsplit(a->str, " ", -1);

    g_test_message("seed 1: %s", a->str);
    g_test_message("seed 2: %s", c->str);
    g_assert_cmpstr(a->str, ==, b->str);
    g_assert_cmpstr(a->str, !=, c->str);
    /* All eight arrived, each connection in its own order */
    g_assert_cmpuint(g_strv_length(items), ==, 9);
    for (int i = 0; items[i] && *items[i]; i++) {
        int cookie = atoi(strchr(items[i], ':') + 1);

        g_assert_cmpint(cookie, >, last[cookie / 20]);
        last[cookie / 20] = cookie;
    }
}

/* Reorder across connections within a window, never within one */
static void test_fault_reorder(void)
{
    g_autoptr(GString) t = fault_trace(3, "reorder=4ms");

    /* fault_trace checks nothing itself: the order check is here */
    g_auto(GStrv) items = g_strsplit(t->str, " ", -1);
    int last[2] = { 0, 0 };

    for (int i = 0; items[i] && *items[i]; i++) {
        int cookie = atoi(strchr(items[i], ':') + 1);

        g_assert_cmpint(cookie, >, last[cookie / 20]);
        last[cookie / 20] = cookie;
    }
    g_assert_cmpuint(g_strv_length(items), ==, 9);
}

/* How many of @n sends a rule delays, by the x-fault-delayed counter */
static uint64_t delayed_count(QChimneyFixture *f, QChimneyConn *hc,
                              const char *rules,
                              int n, uint64_t cookie0)
{
    uint64_t before = qchimney_qom_stat(f, "x-fault-delayed");
    uint32_t start;
    ChimneyCqe cqe;

    qchimney_set_rules(f, rules);
    start = send_n(f, hc, cookie0, n, 100);
    qchimney_peer_ack_sync(f, hc, start + 100 * n);
    qtest_clock_step(f->qts, 2 * QCHIMNEY_MS_NS);
    for (int i = 0; i < n; i++) {
        cqe = qchimney_expect_cqe(f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(cqe.cookie, ==, cookie0 + i);
    }
    return qchimney_qom_stat(f, "x-fault-delayed") - before;
}

/* Every selector and every way of counting matches */
static void test_fault_selectors(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint64_t k;

    qchimney_tcp_fixture(&f, &hc, 1);
    g_assert_cmpuint(delayed_count(&f, &hc, "lport=40005 delay=1ms", 4, 10),
                     ==, 4);
    g_assert_cmpuint(delayed_count(&f, &hc, "lport=40006 delay=1ms", 4, 20),
                     ==, 0);
    g_assert_cmpuint(delayed_count(&f, &hc, "rport=5001 every=2 delay=1ms",
                                   6, 30), ==, 3);
    g_assert_cmpuint(delayed_count(&f, &hc, "cq=2 max=2 delay=1ms", 5, 40),
                     ==, 2);
    g_assert_cmpuint(delayed_count(&f, &hc, "cq=3 delay=1ms", 3, 50), ==, 0);
    g_assert_cmpuint(delayed_count(&f, &hc, "conn=5 nth=3 delay=1ms", 5, 60),
                     ==, 1);
    g_assert_cmpuint(delayed_count(&f, &hc, "type=event delay=1ms", 3, 70),
                     ==, 0);
    g_assert_cmpuint(delayed_count(&f, &hc, "once delay=1ms", 3, 80), ==, 1);
    k = delayed_count(&f, &hc, "prob=0.5 delay=1ms", 14, 100);
    g_assert_cmpuint(k, >, 0);
    g_assert_cmpuint(k, <, 14);
    qchimney_fx_end(&f);
}

/* Reset with held completions: they go, the rules stay */
static void test_fault_reset(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t start;

    qchimney_tcp_fixture(&f, &hc, 1);
    qchimney_set_rules(&f, "hold");
    start = send_n(&f, &hc, 1, 2, 100);
    qchimney_peer_ack_sync(&f, &hc, start + 200);
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_writel(&f.c, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_RESET);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_STATUS), ==,
                    CHIMNEY_STATUS_LINK_UP);
    {
        g_autofree char *rules = qchimney_qom_str(&f, "x-fault-rules");

        g_assert_cmpstr(rules, ==, "hold");
    }
    qchimney_fault_release(&f, "all");
    qchimney_fx_end(&f);
}

/* Bad rule strings: refused with a message at start and at run time */
static void test_fault_bad_rules(void)
{
    static const char *const bad[] = {
        "delay=5", "delay=5xs", "hold delay=1ms", "type=sent hold",
        "prob=2 hold", "conn=x hold", "fail=maybe", "coalesce=0",
        "bytes=3 hold", "conn=1", "delay=uniform:9ms:1ms", "frobnicate",
    };
    QChimneyFixture f;
    QDict *rsp;

    qchimney_fx_init(&f, "-global chimney-nic.x-fault-rules=irq-drop");
    qchimney_fx_start(&f, NULL);
    {
        g_autofree char *rules = qchimney_qom_str(&f, "x-fault-rules");

        g_assert_cmpstr(rules, ==, "irq-drop");
    }
    for (int i = 0; i < ARRAY_SIZE(bad); i++) {
        if (!strcmp(bad[i], "delay=5")) {
            continue;       /* plain nanoseconds are fine */
        }
        rsp = qtest_qmp(f.qts, "{'execute': 'qom-set', 'arguments': "
                        "{'path': '/machine/peripheral/nic0', "
                        "'property': 'x-fault-rules', 'value': %s}}", bad[i]);
        g_assert(qdict_haskey(rsp, "error"));
        g_assert(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"),
                        "fault rule"));
        qobject_unref(rsp);
        {
            g_autofree char *rules = qchimney_qom_str(&f, "x-fault-rules");

            g_assert_cmpstr(rules, ==, "irq-drop");  /* unchanged */
        }
    }
    rsp = qtest_qmp(f.qts, "{'execute': 'qom-set', 'arguments': "
                    "{'path': '/machine/peripheral/nic0', "
                    "'property': 'x-fault-release', 'value': 'some'}}");
    g_assert(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    /* At start: a device with a bad rule is not created */
    rsp = qtest_qmp(f.qts, "{'execute': 'device_add', 'arguments': "
                    "{'driver': 'chimney-nic', 'id': 'x', "
                    "'x-fault-rules': 'hold delay=1ms'}}");
    g_assert(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    qchimney_fx_end(&f);
}

/* Fault rules act on receive completions too */
static void test_fault_recv(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t s;

    qchimney_rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    qchimney_set_rules(&f, "type=recv delay=5ms");
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x1, 1000);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_data(&f, &hc, s, 1001, 0x08, 500);
    qchimney_wait_segs_in(&f, &hc, 1);
    g_assert(qchimney_cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 5 * QCHIMNEY_MS_NS - 1);
    g_assert(qchimney_cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1);
    qchimney_expect_recv(&f, 0x1, CHIMNEY_ST_SUCCESS, 500);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-fault-delayed"), ==, 1);
    qchimney_fx_end(&f);
}

/*
 * Empty values are refused, never dereferenced: g_strsplit("") is an
 * empty vector.  At run time (qom-set) and at start (-device).
 */
static void test_fault_empty_values(void)
{
    static const char *const bad[] = {
        "type=send delay=", "delay=", "delay=uniform:", "delay=exp:",
        "delay=uniform::", "coalesce=", "coalesce=:", "reorder=",
        "irq-delay=", "fail=", "type=",
    };
    QChimneyFixture f;
    QDict *rsp;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, NULL);
    for (int i = 0; i < ARRAY_SIZE(bad); i++) {
        rsp = qtest_qmp(f.qts, "{'execute': 'qom-set', 'arguments': "
                        "{'path': '/machine/peripheral/nic0', "
                        "'property': 'x-fault-rules', 'value': %s}}", bad[i]);
        g_assert(qdict_haskey(rsp, "error"));
        qobject_unref(rsp);
    }
    rsp = qtest_qmp(f.qts, "{'execute': 'device_add', 'arguments': "
                    "{'driver': 'chimney-nic', 'id': 'x', "
                    "'x-fault-rules': 'type=send delay='}}");
    g_assert(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    qchimney_fx_assert_alive(&f);
    qchimney_fx_end(&f);
}

/* A delay near INT64_MAX saturates: the completion never comes early. */
static void test_fault_huge_delay(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t start;

    qchimney_tcp_fixture(&f, &hc, 1);
    qtest_clock_step(f.qts, QCHIMNEY_MS_NS);      /* now + delay overflows */
    qchimney_set_rules(&f, "type=send delay=9223372036854775807ns");
    start = send_n(&f, &hc, 1, 1, 100);
    qchimney_peer_ack_sync(&f, &hc, start + 100);
    g_assert(qchimney_cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1000 * QCHIMNEY_MS_NS);
    g_assert(qchimney_cq_quiet(&f, 2));
    /* The same with the largest delay in seconds, and as irq-delay */
    qchimney_set_rules(&f, "type=send delay=9223372036s");
    qchimney_set_rules(&f, "irq-delay=9223372036854775807ns");
    qchimney_fx_assert_alive(&f);
    qchimney_fx_end(&f);
}

/* --- migration with connections offloaded --- */

#define MIG_REQS 4
#define MIG_LEN 700

/* What the peer has of the device's stream, byte by byte */
typedef struct MigStream {
    uint32_t start;
    uint8_t got[MIG_REQS * MIG_LEN];
    bool have[MIG_REQS * MIG_LEN];
} MigStream;

static void mig_take(MigStream *ms, const QChimneyPeerSeg *ps)
{
    for (uint32_t i = 0; i < ps->len; i++) {
        uint32_t off = ps->seq + i - ms->start;

        g_assert_cmpuint(off, <, sizeof(ms->got));
        if (ms->have[off]) {
            g_assert_cmphex(ms->got[off], ==, ps->data[i]);   /* a resend */
        }
        ms->got[off] = ps->data[i];
        ms->have[off] = true;
    }
}

/* Every byte of every request, once, in order (what the data hash shows) */
static void mig_check_stream(MigStream *ms)
{
    for (uint32_t k = 0; k < MIG_REQS; k++) {
        for (uint32_t j = 0; j < MIG_LEN; j++) {
            g_assert(ms->have[k * MIG_LEN + j]);
            g_assert_cmphex(ms->got[k * MIG_LEN + j], ==,
                            (uint8_t)((k + 1) * 131 + j * 7));
        }
    }
}

/* The peer sends the gap of its stream again, in case it was lost */
static void mig_during(QChimneyFixture *f, void *opaque)
{
    QChimneyConn *hc = opaque;

    for (int i = 0; i < 20; i++) {
        qchimney_peer_data(f, hc, hc->irs + 1 + 2000, hc->iss + 1, 0, 1000);
        g_usleep(500);
    }
}

/*
 * Mid-stream: sends in flight (two acknowledged with their completions
 * held by a fault rule, two not acknowledged), a receive posted and
 * out-of-order data queued.  On the destination: held completions stay
 * held until released, the retransmission timer fires, nothing completes
 * before its ACK, every request completes once with its byte count, the
 * peer gets the stream byte-exact and the receive is filled.
 */
static void mig_midstream(const char *how, bool during)
{
    uint32_t len = MIG_LEN;
    QChimneyFixture f;
    QChimneyConn hc;
    QChimneyPeerSeg ps;
    g_autofree MigStream *ms = g_new0(MigStream, 1);
    uint32_t s, sent = 0;
    uint64_t b;
    ChimneyCqe cqe;
    int steps = 0;

    qchimney_rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    qchimney_set_rules(&f, "type=send hold max=2");
    b = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, CHIMNEY_RQF_NO_PUSH,
                         0x77, 3000);
    for (int i = 0; i < MIG_REQS; i++) {
        qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1 + i, &len, 1, NULL);
    }
    qchimney_sq_kick(&f.c, &hc);
    ms->start = hc.iss + 1;
    while (sent < MIG_REQS * MIG_LEN) {
        qchimney_peer_read(&f, &ps);
        mig_take(ms, &ps);
        sent += ps.len;
    }
    /* The first two are acknowledged: their completions are held */
    qchimney_peer_ack_sync(&f, &hc, ms->start + 2 * MIG_LEN);
    /* Out of order: [s + 1000, s + 2000) and [s + 2000, s + 3000) wait */
    qchimney_peer_data(&f, &hc, s + 1000, ms->start + 2 * MIG_LEN, 0, 1000);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s);
    qchimney_peer_data(&f, &hc, s + 2000, ms->start + 2 * MIG_LEN, 0, 1000);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s);
    g_assert(qchimney_cq_quiet(&f, 2));
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-fault-held"), ==, 2);

    qchimney_fx_migrate(&f, how, NULL, during ? mig_during : NULL, &hc);

    /* The counters and the held completions came along */
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-fault-held"), ==, 2);
    g_assert(qchimney_cq_quiet(&f, 2));
    /* The retransmission timer fires on the destination */
    while (qchimney_wire_quiet(&f, 20)) {
        g_assert_cmpint(++steps, <, 200);
        qtest_clock_step(f.qts, 100 * QCHIMNEY_MS_NS);
    }
    do {
        qchimney_peer_read(&f, &ps);
    } while (!ps.len);      /* announcements and ACKs are not data */
    g_assert_cmpuint(ps.seq, ==, ms->start + 2 * MIG_LEN);
    mig_take(ms, &ps);
    /* Released: the two held ones, in order, with their byte counts */
    qchimney_fault_release(&f, "all");
    for (int i = 1; i <= 2; i++) {
        cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
        g_assert_cmphex(cqe.cookie, ==, i);
        g_assert_cmpuint(cqe.bytes, ==, MIG_LEN);
    }
    /* No completion before its ACK */
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_peer_ack_sync(&f, &hc, ms->start + 3 * MIG_LEN);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 3);
    g_assert_cmpuint(cqe.bytes, ==, MIG_LEN);
    g_assert(qchimney_cq_quiet(&f, 2));
    /* The peer may still retransmit into the old stream: read the rest */
    while (!qchimney_wire_quiet(&f, 20)) {
        qchimney_peer_read(&f, &ps);
        if (ps.len) {
            mig_take(ms, &ps);
        }
    }
    while (!ms->have[MIG_REQS * MIG_LEN - 1]) {
        g_assert_cmpint(++steps, <, 400);
        qtest_clock_step(f.qts, 500 * QCHIMNEY_MS_NS);
        while (!qchimney_wire_quiet(&f, 20)) {
            qchimney_peer_read(&f, &ps);
            if (ps.len) {
                mig_take(ms, &ps);
            }
        }
    }
    qchimney_peer_ack_sync(&f, &hc, ms->start + MIG_REQS * MIG_LEN);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 4);
    g_assert_cmpuint(cqe.bytes, ==, MIG_LEN);
    g_assert(qchimney_cq_quiet(&f, 2));
    mig_check_stream(ms);
    /* The gap fills: the queued out-of-order data completes the receive */
    qchimney_peer_data(&f, &hc, s, ms->start + MIG_REQS * MIG_LEN, 0, 1000);
    qchimney_expect_recv(&f, 0x77, CHIMNEY_ST_SUCCESS, 3000);
    qchimney_check_rx(&f, b, s, 3000);
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_fx_end(&f);
}

static void test_migrate_file(void)
{
    mig_midstream("file", false);
}

static void test_migrate_live(void)
{
    mig_midstream("unix", true);
}

/*
 * A corrupted or truncated stream is refused and the destination lives.
 * Offsets into the stream of a device with max-neighbors=4 and
 * max-paths=4 and one connection (SQ 16, no RQ): from the subsection's
 * QEMU_VM_SUBSECTION byte, and from the connection's first byte.
 */
#define BAD_ARGS "-global chimney-nic.max-neighbors=4 " \
                 "-global chimney-nic.max-paths=4"
#define SUB_NNEIGHBORS  25
#define SUB_NCONNS      33
#define SUB_CONN0       173
#define C_INDEX         0
#define C_PATH          5
#define C_CQ            9
#define C_SQ_SIZE       30
#define C_SQ_HEAD       34
#define C_PEND_CAP      82
#define C_PEND_HEAD     86
#define C_PEND_COUNT    90
#define C_NSQ           110
#define C_SLOT0_NSGE    (122 + 8)
#define C_REQ1_TAG      (602 + 24 + 16)
#define C_TCP           1048    /* one completion in the FIFO */
#define T_STATE         62
#define T_CWND          98
#define T_SSTHRESH      102
#define T_MSS           (138 + 16)
#define T_CAP           138
#define T_RTO           (138 + 28 + 7 + 16)
#define T_TIMER_NS      226
#define T_RBUF_CAP      304
#define T_OOO_COUNT     (304 + 20 + 128)
#define C_RBUF_LEN      (C_TCP + 606)
#define BAD_ANY         0xa5a5a5a5a5a5a5a5ull  /* not checked */
#define C_PEND0_TYPE    (986 + 22)
#define C_FAULT         (C_RBUF_LEN + 4)    /* no receive buffer */
#define F_TEXT_LEN      (C_FAULT + 2 + 8 + 8 + 128 + 128)
#define F_TEXT          (F_TEXT_LEN + 4)
#define F_IRQ_DUE0      (F_TEXT + 15 + 9 * 8)

typedef struct BadStream {
    const char *what;
    int off;                /* from the connection, or the subsection */
    bool in_conn;
    int size;
    uint64_t expect;        /* what the good stream holds there */
    uint64_t value;
} BadStream;

static const BadStream bad_streams[] = {
    { "neighbors", SUB_NNEIGHBORS, false, 4, 4, 5 },
    { "connections", SUB_NCONNS, false, 4, 1, 0x7fffffff },
    { "negative count", SUB_NCONNS, false, 4, 1, 0xffffffff },
    { "index", C_INDEX, true, 4, 5, 0xffffffff },
    { "path", C_PATH, true, 4, 0, 99 },
    { "admin CQ", C_CQ, true, 4, 2, 0 },
    { "CQ", C_CQ, true, 4, 2, 200 },
    { "SQ size", C_SQ_SIZE, true, 4, 16, 1u << 30 },
    { "SQ head", C_SQ_HEAD, true, 4, 2, 16 },
    { "FIFO size", C_PEND_CAP, true, 4, 24, 0xffffff },
    { "FIFO head", C_PEND_HEAD, true, 4, 0, 24 },
    { "FIFO count", C_PEND_COUNT, true, 4, 1, 25 },
    { "array size", C_NSQ, true, 4, 16, 0x7fffffff },
    { "SGE count", C_SLOT0_NSGE, true, 2, 1, 0xffff },
    { "request tag", C_REQ1_TAG, true, 4, 1, 0x10000 },
    { "TCP state", C_TCP + T_STATE, true, 4, 4, 3 },
    { "engine SQ size", C_TCP + T_CAP, true, 4, 16, 32 },
    { "MSS", C_TCP + T_MSS, true, 4, 1000, 0 },
    { "congestion window", C_TCP + T_CWND, true, 4, BAD_ANY, 0 },
    { "slow-start threshold", C_TCP + T_SSTHRESH, true, 4, BAD_ANY, 0 },
    { "RTO", C_TCP + T_RTO, true, 8, 1000000000, 0x7fffffffffffffffull },
    { "deadline", C_TCP + T_TIMER_NS, true, 8, BAD_ANY, -5ll },
    { "receive buffer", C_TCP + T_RBUF_CAP, true, 4, BAD_ANY, 0x7fffffff },
    { "OOO ranges", C_TCP + T_OOO_COUNT, true, 4, 0, 17 },
    { "buffer bytes", C_RBUF_LEN, true, 4, 0, 0x7fffffff },
    { "completion type", C_PEND0_TYPE, true, 1, CHIMNEY_CQE_SEND, 0 },
    { "fault rules size", F_TEXT_LEN, true, 4, 15, 0x7fffffff },
    { "fault rules", F_TEXT, true, 1, 't', 'Z' },
    { "fault rules end", F_TEXT + 14, true, 1, 0, 'x' },
    { "late interrupt", F_IRQ_DUE0, true, 8, UINT64_MAX, -5ll },
};

static uint64_t bad_get(const uint8_t *p, int size)
{
    return size == 8 ? ldq_be_p(p) : size == 4 ? ldl_be_p(p) :
           size == 2 ? lduw_be_p(p) : p[0];
}

static void bad_put(uint8_t *p, int size, uint64_t v)
{
    if (size == 8) {
        stq_be_p(p, v);
    } else if (size == 4) {
        stl_be_p(p, v);
    } else if (size == 2) {
        stw_be_p(p, v);
    } else {
        p[0] = v;
    }
}

static void test_migrate_bad_stream(void)
{
    static const char name[] = "\x13" "chimney-nic/offload";
    g_autofree char *dir = g_dir_make_tmp("chimney-bad-XXXXXX", NULL);
    g_autofree char *good = g_strdup_printf("%s/good", dir);
    g_autofree char *bad = g_strdup_printf("%s/bad", dir);
    g_autofree char *uri = g_strdup_printf("file:%s", good);
    g_autofree uint8_t *copy = NULL;
    g_autofree gchar *buf = NULL;
    uint32_t len = 300, start;
    QChimneyFixture f;
    QChimneyConn hc;
    QChimneyPeerSeg ps;
    const uint8_t *hit;
    size_t size, sub, conn;

    qchimney_tcp_fixture_cq(&f, &hc, 1, 256, BAD_ARGS);
    qchimney_set_rules(&f, "type=send hold");
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, &len, 1, NULL);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 2, &len, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_read(&f, &ps);        /* both requests, one segment */
    g_assert_cmpuint(ps.len, ==, 600);
    start = ps.seq;
    qchimney_peer_ack_sync(&f, &hc, start + 300);
    qtest_qmp_assert_success(f.qts, "{'execute': 'migrate', "
                             "'arguments': {'uri': %s}}", uri);
    qchimney_migrate_wait(f.qts, "completed");
    qchimney_fx_end(&f);

    g_assert(g_file_get_contents(good, &buf, &size, NULL));
    hit = memmem(buf, size, name, sizeof(name) - 1);
    g_assert(hit);
    sub = hit - (const uint8_t *)buf - 1;
    g_assert_cmphex(buf[sub], ==, 0x05);        /* QEMU_VM_SUBSECTION */
    conn = sub + SUB_CONN0;
    copy = g_malloc(size);
    for (int i = 0; i < ARRAY_SIZE(bad_streams); i++) {
        const BadStream *b = &bad_streams[i];
        size_t at = (b->in_conn ? conn : sub) + b->off;

        /* the layout is what the test thinks it is */
        g_assert(b->expect == BAD_ANY ||
                 bad_get((uint8_t *)buf + at, b->size) == b->expect);
        memcpy(copy, buf, size);
        bad_put(copy + at, b->size, b->value);
        g_assert(g_file_set_contents(bad, (char *)copy, size, NULL));
        qchimney_migrate_refused(bad, BAD_ARGS);
    }
    /* A destination with other table sizes refuses the stream */
    qchimney_migrate_refused(good, "-global chimney-nic.max-neighbors=8");
    /* Truncated: in the header, the tables, a connection, the rest */
    {
        size_t cuts[] = {
            sub + 27, sub + 60, conn + 50, conn + C_TCP + 100,
            conn + C_RBUF_LEN + 100,
        };

        for (int i = 0; i < ARRAY_SIZE(cuts); i++) {
            g_assert(g_file_set_contents(bad, buf, cuts[i], NULL));
            qchimney_migrate_refused(bad, BAD_ARGS);
        }
    }
    /* And the good stream loads */
    {
        g_autofree char *args = g_strdup_printf("-incoming defer %s",
                                                BAD_ARGS);
        QTestState *dst;
        int sock;

        dst = qchimney_fx_qemu(&sock, args);
        qtest_qmp_assert_success(dst, "{'execute': 'migrate-incoming', "
                                 "'arguments': {'uri': %s}}", uri);
        qchimney_migrate_wait(dst, "completed");
        qtest_quit(dst);
        close(sock);
    }
    unlink(good);
    unlink(bad);
    rmdir(dir);
}

/* After loadvm: the held completion once, the timer, the ACK-gated one */
static void snap_continue(QChimneyFixture *f, QChimneyConn *hc,
                          uint32_t start)
{
    QChimneyPeerSeg ps;
    ChimneyCqe cqe;
    int steps = 0;

    g_assert(qchimney_cq_quiet(f, 2));
    qchimney_fault_release(f, "all");
    cqe = qchimney_expect_cqe(f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 1);
    g_assert_cmpuint(cqe.bytes, ==, 300);
    g_assert(qchimney_cq_quiet(f, 2));
    /* the second is not acknowledged: the retransmission timer fires */
    do {
        g_assert_cmpint(++steps, <, 100);
        qtest_clock_step(f->qts, 200 * QCHIMNEY_MS_NS);
    } while (qchimney_wire_quiet(f, 20));
    qchimney_peer_read(f, &ps);
    g_assert_cmpuint(ps.seq, ==, start + 300);
    g_assert_cmpuint(ps.len, ==, 300);
    for (uint32_t j = 0; j < ps.len; j++) {
        g_assert_cmphex(ps.data[j], ==, (uint8_t)(2 * 131 + j * 7));
    }
    qchimney_set_rules(f, "");
    qchimney_peer_ack_sync(f, hc, start + 600);
    cqe = qchimney_expect_cqe(f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 2);
    g_assert_cmpuint(cqe.bytes, ==, 300);
    g_assert(qchimney_cq_quiet(f, 2));
    while (!qchimney_wire_quiet(f, 20)) {
        qchimney_peer_read(f, &ps);     /* resends the ACK overtook */
    }
}

/*
 * savevm with a connection offloaded (a completion held, a send not yet
 * acknowledged), go on, loadvm, and the same again: the snapshot gives
 * back the same state both times.
 */
static void test_migrate_savevm(void)
{
    g_autofree char *dir = g_dir_make_tmp("chimney-snap-XXXXXX", NULL);
    g_autofree char *img = g_strdup_printf("%s/disk.qcow2", dir);
    g_autofree char *qdir = g_path_get_dirname(
        g_getenv("QTEST_QEMU_BINARY") ?: ".");
    g_autofree char *built = g_strdup_printf("%s/qemu-img", qdir);
    g_autofree char *qemu_img = g_file_test(built, G_FILE_TEST_IS_EXECUTABLE) ?
                                g_strdup(built) :
                                g_find_program_in_path("qemu-img");
    g_autofree char *cmd = NULL;
    g_autofree char *args = g_strdup_printf("-drive file=%s,if=none,"
                                            "id=d0,format=qcow2", img);
    g_autofree char *out = NULL;
    uint32_t len = 300, start;
    QChimneyFixture f;
    QChimneyConn hc, hc_saved;
    QChimney c_saved;
    QChimneyPeerSeg ps;

    if (!qemu_img) {
        g_test_skip("no qemu-img to make the snapshot's qcow2 image");
        rmdir(dir);
        return;
    }
    cmd = g_strdup_printf("%s create -q -f qcow2 %s 16M", qemu_img, img);
    g_assert_cmpint(system(cmd), ==, 0);
    qchimney_tcp_fixture_cq(&f, &hc, 1, 256, args);
    qchimney_set_rules(&f, "type=send hold");
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, &len, 1, NULL);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 2, &len, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_peer_read(&f, &ps);        /* both requests, one segment */
    g_assert_cmpuint(ps.len, ==, 600);
    start = ps.seq;
    qchimney_peer_ack_sync(&f, &hc, start + 300);
    out = qtest_hmp(f.qts, "savevm s1");
    g_assert_cmpstr(out, ==, "");
    c_saved = f.c;
    hc_saved = hc;
    snap_continue(&f, &hc, start);
    for (int round = 0; round < 2; round++) {
        g_free(out);
        out = qtest_hmp(f.qts, "loadvm s1");
        g_assert_cmpstr(out, ==, "");
        f.c = c_saved;
        hc = hc_saved;
        g_assert_cmpuint(qchimney_qom_stat(&f, "x-fault-held"), ==, 1);
        {
            g_autofree char *rules = qchimney_qom_str(&f, "x-fault-rules");

            g_assert_cmpstr(rules, ==, "type=send hold");
        }
        snap_continue(&f, &hc, start);
    }
    qchimney_fx_end(&f);
    unlink(img);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_device("chimney-nic")) {
        g_test_skip("chimney-nic is not built in");
        return g_test_run();
    }
    qtest_add_func("/chimney/fault/delay", test_fault_delay);
    qtest_add_func("/chimney/fault/hold", test_fault_hold);
    qtest_add_func("/chimney/fault/hold-cq-full", test_fault_hold_cq_full);
    qtest_add_func("/chimney/fault/hold-terminate",
                   test_fault_hold_terminate);
    qtest_add_func("/chimney/fault/fail-upload", test_fault_fail_upload);
    qtest_add_func("/chimney/fault/fail-aborted", test_fault_fail_aborted);
    qtest_add_func("/chimney/fault/coalesce", test_fault_coalesce);
    qtest_add_func("/chimney/fault/irq", test_fault_irq);
    qtest_add_func("/chimney/fault/seed", test_fault_seed);
    qtest_add_func("/chimney/fault/selectors", test_fault_selectors);
    qtest_add_func("/chimney/fault/reorder", test_fault_reorder);
    qtest_add_func("/chimney/fault/reset", test_fault_reset);
    qtest_add_func("/chimney/fault/bad-rules", test_fault_bad_rules);
    qtest_add_func("/chimney/fault/recv", test_fault_recv);
    qtest_add_func("/chimney/fault/empty-values", test_fault_empty_values);
    qtest_add_func("/chimney/fault/huge-delay", test_fault_huge_delay);
    qtest_add_func("/chimney/migrate/file", test_migrate_file);
    qtest_add_func("/chimney/migrate/live", test_migrate_live);
    qtest_add_func("/chimney/migrate/bad-stream", test_migrate_bad_stream);
    qtest_add_func("/chimney/migrate/savevm", test_migrate_savevm);
    return g_test_run();
}
