/*
 * QTest testcase for chimney-nic: ABI 1.4's economies, the doorbell hint
 * and lazy send completions
 *
 * The test is the guest and the TCP peer on the wire.  A connection
 * offloaded with CHIMNEY_TCPO_DB_HINT reads SKIP in its doorbell record
 * while two full segments are in flight; a request published then
 * without a doorbell goes out with the peer's next ACK, and none is lost
 * when those ACKs are lost (the retransmission timer reads the record),
 * when the hint turns to RING without an ACK (the device reads the
 * record again), at TERMINATE (sq_head says where fetching stopped), on
 * a reset by the peer or by fault injection, when received data or an
 * indication waits for the driver, or across migration; a receive
 * posted under SKIP takes the next data.  A connection without the flag
 * never has its record's third word written.  Under CQ holdoff a send
 * completion with two requests or more behind it waits for company.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "libqos/chimney-host.h"
#include "libqos/pci.h"
#include "standard-headers/linux/pci_regs.h"

#define ISS     1000
#define START   (ISS + 1)   /* the first byte's sequence number */
#define MSS     1000        /* the scripted peer's */
#define SECOND_NS (1000 * 1000 * 1000LL)

static void set_hint(QChimneyFixture *f, uint64_t record, uint32_t hint)
{
    hint = cpu_to_le32(hint);
    qtest_memwrite(f->qts, record + offsetof(ChimneyDbRecord, hint), &hint,
                   sizeof(hint));
}

/* The flag, and SKIP in the record: the device must write RING */
static void tweak_hint(QChimneyFixture *f, ChimneyTcpOffload *o)
{
    o->offload_flags = cpu_to_le16(CHIMNEY_TCPO_DB_HINT);
    set_hint(f, le64_to_cpu(o->db_record), CHIMNEY_HINT_SKIP);
}

static uint32_t hint_of(QChimneyFixture *f, const QChimneyConn *hc)
{
    uint32_t v;

    qtest_memread(f->qts, hc->db_record + offsetof(ChimneyDbRecord, hint),
                  &v, sizeof(v));
    return le32_to_cpu(v);
}

static void hint_fixture(QChimneyFixture *f, QChimneyConn *hc,
                         void (*tweak)(QChimneyFixture *, ChimneyTcpOffload *))
{
    qchimney_tcp_fixture_tweak(f, hc, ISS, 256, NULL, tweak);
    hc->db_hint = true;
    /* the record said SKIP before (tweak_hint): the device wrote RING */
    g_assert_cmpuint(hint_of(f, hc), ==, CHIMNEY_HINT_RING);
}

/* A request of @len bytes of @cookie's pattern; the doorbell if asked */
static bool post(QChimneyFixture *f, QChimneyConn *hc, uint64_t cookie,
                 uint32_t len)
{
    qchimney_sq_post(&f->c, hc, CHIMNEY_SQ_SEND, CHIMNEY_SQF_PUSH, cookie,
                     &len, 1, NULL);
    return qchimney_sq_kick_hinted(&f->c, hc);
}

/* The peer reads @len bytes of @cookie's request, from @seq */
static void peer_expect(QChimneyFixture *f, uint32_t seq, uint64_t cookie,
                        uint32_t len)
{
    uint32_t got = 0;
    QChimneyPeerSeg ps;

    while (got < len) {
        qchimney_peer_read(f, &ps);
        g_assert_cmpuint(ps.seq, ==, seq + got);
        g_assert_cmpuint(ps.len, <=, len - got);
        for (uint32_t i = 0; i < ps.len; i++) {
            g_assert_cmphex(ps.data[i], ==,
                            (uint8_t)(cookie * 131 + (got + i) * 7));
        }
        got += ps.len;
    }
}

static void expect_send(QChimneyFixture *f, uint64_t cookie, uint8_t status,
                        uint32_t bytes)
{
    ChimneyCqe cqe = qchimney_expect_cqe(f, 2, CHIMNEY_CQE_SEND, status);

    g_assert_cmphex(cqe.cookie, ==, cookie);
    g_assert_cmpuint(cqe.bytes, ==, bytes);
}

/* Three segments in flight: the device asks for no doorbell */
static void three_in_flight(QChimneyFixture *f, QChimneyConn *hc)
{
    g_assert(post(f, hc, 0xa, 3 * MSS));
    peer_expect(f, START, 0xa, 3 * MSS);
    g_assert_cmpuint(hint_of(f, hc), ==, CHIMNEY_HINT_SKIP);
}

/*
 * SKIP while ACKs are due: a request published then, unrung, waits for
 * the next ACK, which has the device read the record and send it.  With
 * nothing in flight the hint is RING again, and a post rings.
 */
static void test_hint_skip_until_ack(void)
{
    QChimneyFixture f;
    QChimneyConn hc;

    hint_fixture(&f, &hc, tweak_hint);
    three_in_flight(&f, &hc);
    g_assert(!post(&f, &hc, 0xb, 500));
    g_assert(qchimney_wire_quiet(&f, 100));
    /* a partial ACK: the device reads the record and sends B */
    qchimney_peer_ack(&f, &hc, START + MSS);
    peer_expect(&f, START + 3 * MSS, 0xb, 500);
    g_assert(qchimney_cq_quiet(&f, 2));
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_SKIP);
    /* all of it: both complete in order, and the pipe is empty */
    qchimney_peer_ack(&f, &hc, START + 3 * MSS + 500);
    expect_send(&f, 0xa, CHIMNEY_ST_SUCCESS, 3 * MSS);
    expect_send(&f, 0xb, CHIMNEY_ST_SUCCESS, 500);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_RING);
    /* one segment in flight is not enough for SKIP */
    g_assert(post(&f, &hc, 0xc, MSS));
    peer_expect(&f, START + 3 * MSS + 500, 0xc, MSS);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_RING);
    qchimney_peer_ack(&f, &hc, START + 4 * MSS + 500);
    expect_send(&f, 0xc, CHIMNEY_ST_SUCCESS, MSS);
    qchimney_fx_end(&f);
}

/*
 * TERMINATE: A (0xa, @a_bytes of it acknowledged) is returned, then B
 * (0xb) when the device took it, then the command completes; sq_head is
 * the first entry the device did not complete
 */
static void terminate_expect(QChimneyFixture *f, QChimneyConn *hc,
                             uint32_t a_bytes, bool b_taken)
{
    ChimneyTcpDelegated d;
    ChimneyCqe cqe;
    uint64_t qbuf = guest_alloc(&f->alloc, sizeof(d));
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_TERMINATE, .id = hc->id,
                            .addr = qbuf, .param = { CHIMNEY_OBJ_TCP },
                            .cookie = 0xabc };

    qchimney_admin_submit(&f->c, &cmd);
    expect_send(f, 0xa, CHIMNEY_ST_UPLOAD_IN_PROGRESS, a_bytes);
    if (b_taken) {
        expect_send(f, 0xb, CHIMNEY_ST_UPLOAD_IN_PROGRESS, 0);
    }
    cqe = qchimney_expect_cqe(f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0xabc);
    qtest_memread(f->qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.sq_head), ==, b_taken ? 2 : 1);
}

/*
 * The ACKs due never come (lost): the retransmission timer reads the
 * record, so an unrung request published under SKIP is the device's from
 * the first timeout on, and TERMINATE then completes it with the others
 * (sq_head is past it).
 */
static void test_hint_timeout_reads(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    QChimneyPeerSeg ps;

    hint_fixture(&f, &hc, tweak_hint);
    three_in_flight(&f, &hc);
    g_assert(!post(&f, &hc, 0xb, 500));
    /* the first RTO (1 s) retransmits one segment; still SKIP */
    qtest_clock_step(f.qts, SECOND_NS);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.seq, ==, START);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_SKIP);
    terminate_expect(&f, &hc, 0, true);
    qchimney_fx_end(&f);
}

/*
 * TERMINATE while an unrung request waits under SKIP: the device never
 * fetched it, so it does not complete it; sq_head points at it, and it
 * is the driver's to return.
 */
static void test_hint_terminate_unrung(void)
{
    QChimneyFixture f;
    QChimneyConn hc;

    hint_fixture(&f, &hc, tweak_hint);
    three_in_flight(&f, &hc);
    g_assert(!post(&f, &hc, 0xb, 500));
    qchimney_peer_ack_sync(&f, &hc, START + 1);
    /* the ACK had the device take B first: both are returned */
    terminate_expect(&f, &hc, 1, true);
    qchimney_fx_end(&f);

    /* without an ACK in between, B stays the driver's */
    hint_fixture(&f, &hc, tweak_hint);
    three_in_flight(&f, &hc);
    g_assert(!post(&f, &hc, 0xb, 500));
    terminate_expect(&f, &hc, 0, false);
    g_assert(qchimney_cq_quiet(&f, 2));
    qchimney_fx_end(&f);
}

/*
 * The path is invalidated with an unrung request published under SKIP:
 * nothing more goes out, so the hint turns to RING without any ACK or
 * timer, and the device reads the record again behind it: the request
 * is the device's, and TERMINATE completes it with the others.
 */
static void test_hint_invalidate_rereads(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;

    hint_fixture(&f, &hc, tweak_hint);
    three_in_flight(&f, &hc);
    g_assert(!post(&f, &hc, 0xb, 500));
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_INVALIDATE, 0, 0, 0,
                                  CHIMNEY_OBJ_PATH, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_RING);
    terminate_expect(&f, &hc, 0, true);
    qchimney_fx_end(&f);
}

/* The next send completion of @cookie; events and others in between */
static ChimneyCqe expect_send_of(QChimneyFixture *f, uint64_t cookie)
{
    for (int i = 0; i < 8; i++) {
        ChimneyCqe cqe;

        qchimney_cq_wait(&f->c, 2, &cqe);
        if (CHIMNEY_CQE_TYPE(cqe.type_status) == CHIMNEY_CQE_SEND &&
            cqe.cookie == cookie) {
            return cqe;
        }
    }
    g_assert_not_reached();
}

/*
 * The peer resets the connection with an unrung request published under
 * SKIP: the burst that takes the RST reads the record, the request
 * completes aborted, and the hint is RING.
 */
static void test_hint_peer_reset(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;

    hint_fixture(&f, &hc, tweak_hint);
    three_in_flight(&f, &hc);
    g_assert(!post(&f, &hc, 0xb, 500));
    qchimney_peer_send(&f, &hc, hc.irs + 1, START, 0x14, 65535, NULL, 0);
    expect_send(&f, 0xa, CHIMNEY_ST_REQUEST_ABORTED, 0);
    cqe = expect_send_of(&f, 0xb);
    g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                     CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_RING);
    qchimney_fx_end(&f);
}

/*
 * Fault injection fails a completion with REQUEST_ABORTED while data is
 * in flight: the connection resets, no ACK will come, and the hint turns
 * to RING, so the next post rings and completes aborted.
 */
static void test_hint_fault_abort(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t len = 3 * MSS;
    ChimneyCqe cqe;

    hint_fixture(&f, &hc, tweak_hint);
    qchimney_set_rules(&f, "conn=5 type=send fail=aborted");
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 0xa, &len, 1, NULL);
    len = 4 * MSS;
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 0xc, &len, 1, NULL);
    g_assert(qchimney_sq_kick_hinted(&f.c, &hc));
    peer_expect(&f, START, 0xa, 3 * MSS);
    peer_expect(&f, START + 3 * MSS, 0xc, 3 * MSS);
    /* A's ACK: A fails by the rule, C is still in flight */
    qchimney_peer_ack(&f, &hc, START + 3 * MSS);
    expect_send(&f, 0xa, CHIMNEY_ST_REQUEST_ABORTED, 0);
    cqe = expect_send_of(&f, 0xc);
    g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                     CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_RING);
    g_assert(post(&f, &hc, 0xb, 500));
    cqe = expect_send_of(&f, 0xb);
    g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                     CHIMNEY_ST_REQUEST_ABORTED);
    qchimney_fx_end(&f);
}

/* An indication waits for its answer: RING, though data is in flight */
static void test_hint_indication_rings(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;

    qchimney_rx_fixture(&f, &hc, true, tweak_hint);
    hc.db_hint = true;
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_RING);
    three_in_flight(&f, &hc);
    qchimney_peer_data(&f, &hc, hc.irs + 1, START, 0x08, 700);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_INDICATE,
                              CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.bytes, ==, 700);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_RING);
    /* taken whole: SKIP again */
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_INDICATE_DONE, 0, cqe.cookie, 700);
    g_assert(qchimney_sq_kick_hinted(&f.c, &hc));
    qchimney_ind_post(&f.c, cqe.cookie);
    qchimney_peer_ack_sync(&f, &hc, START + 1);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_SKIP);
    qchimney_fx_end(&f);
}

/*
 * A receive published under SKIP, unrung, with generic buffers there
 * too: the burst that brings data reads the RQ first, so the data goes
 * into the posted receive, not up as an indication.
 */
static void test_hint_receive_under_skip(void)
{
    QChimneyFixture f;
    QChimneyConn hc;

    qchimney_rx_fixture(&f, &hc, true, tweak_hint);
    hc.db_hint = true;
    three_in_flight(&f, &hc);
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x302, 2000);
    g_assert(!qchimney_sq_kick_hinted(&f.c, &hc));
    qchimney_peer_data(&f, &hc, hc.irs + 1, START, 0x08, 700);
    qchimney_expect_recv(&f, 0x302, CHIMNEY_ST_SUCCESS, 700);
    qchimney_fx_end(&f);
}

/*
 * Received data with no buffer for it: the hint turns to RING while
 * data is in flight, since only the driver's next post frees the data;
 * that post rings and the data is delivered, and SKIP comes back.
 */
static void test_hint_receive_rings(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t rcv;

    qchimney_rx_fixture(&f, &hc, false, tweak_hint);
    hc.db_hint = true;
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_RING);
    rcv = hc.irs + 1;
    three_in_flight(&f, &hc);
    qchimney_peer_data(&f, &hc, rcv, START, 0x08, 700);
    qchimney_wait_segs_in(&f, &hc, 1);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_RING);
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x301, 2000);
    g_assert(qchimney_sq_kick_hinted(&f.c, &hc));
    qchimney_expect_recv(&f, 0x301, CHIMNEY_ST_SUCCESS, 700);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_SKIP);
    qchimney_peer_ack(&f, &hc, START + 3 * MSS);
    expect_send(&f, 0xa, CHIMNEY_ST_SUCCESS, 3 * MSS);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_RING);
    qchimney_fx_end(&f);
}

/*
 * Across migration: SKIP with an unrung request on the source; the
 * destination takes it on the peer's next ACK and writes the hint again.
 */
static void test_hint_migrate(void)
{
    QChimneyFixture f;
    QChimneyConn hc;

    hint_fixture(&f, &hc, tweak_hint);
    three_in_flight(&f, &hc);
    g_assert(!post(&f, &hc, 0xb, 500));
    qchimney_fx_migrate(&f, "file", NULL, NULL, NULL);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_SKIP);
    qchimney_peer_ack(&f, &hc, START + MSS);
    peer_expect(&f, START + 3 * MSS, 0xb, 500);
    qchimney_peer_ack(&f, &hc, START + 3 * MSS + 500);
    expect_send(&f, 0xa, CHIMNEY_ST_SUCCESS, 3 * MSS);
    expect_send(&f, 0xb, CHIMNEY_ST_SUCCESS, 500);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_RING);
    qchimney_fx_end(&f);
}

/* Without the flag the device never writes the record's third word */
static void test_hint_off_unchanged(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    uint32_t canary = cpu_to_le32(0x5a5a5a5a);

    qchimney_tcp_fixture(&f, &hc, ISS);
    qtest_memwrite(f.qts, hc.db_record + offsetof(ChimneyDbRecord, hint),
                   &canary, sizeof(canary));
    g_assert(post(&f, &hc, 0xa, 3 * MSS));
    peer_expect(&f, START, 0xa, 3 * MSS);
    qchimney_peer_ack(&f, &hc, START + 3 * MSS);
    expect_send(&f, 0xa, CHIMNEY_ST_SUCCESS, 3 * MSS);
    g_assert_cmphex(hint_of(&f, &hc), ==, 0x5a5a5a5a);
    qchimney_fx_end(&f);
}

/* The next entry of CQ 2, read as a driver would, without CQ_HEAD */
static ChimneyCqe cq_peek(QChimneyFixture *f)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    ChimneyCqe cqe;

    while (!qchimney_cq_poll(&f->c, 2, &cqe)) {
        g_assert(g_get_monotonic_time() < deadline);
        g_usleep(1000);
    }
    return cqe;
}

static bool msi_within(QChimneyFixture *f, int ms)
{
    for (int i = 0; i < ms; i++) {
        if (qchimney_msi_fired(&f->c, 2)) {
            return true;
        }
        g_usleep(1000);
    }
    return qchimney_msi_fired(&f->c, 2);
}

/* A connection on CQ 2 of @entries, created with @cq_flags */
static void cq_fixture(QChimneyFixture *f, QChimneyConn *hc,
                       uint32_t cq_flags, uint32_t entries)
{
    uint64_t ring;

    qchimney_fx_init(f, NULL);
    qchimney_fx_start(f, &(QChimneyConfig) { .rx_buffers = 8,
                                             .cq_flags = cq_flags });
    ring = QEMU_ALIGN_UP(guest_alloc(&f->alloc, entries * 32 + 64), 64);
    qtest_memset(f->qts, ring, 0, entries * 32);
    g_assert_cmpuint(qchimney_create_cq(&f->c, 2, ring, entries, 2, 0, 0),
                     ==, CHIMNEY_ST_SUCCESS);
    qchimney_conn_setup(f, hc, 5, 2, 16);
    qchimney_establish(f, hc, ISS, 777);
}

/* @n requests of one segment each, sent and read by the peer */
static void sends_in_flight(QChimneyFixture *f, QChimneyConn *hc, int n)
{
    uint32_t len = MSS;

    for (int i = 0; i < n; i++) {
        qchimney_sq_post(&f->c, hc, CHIMNEY_SQ_SEND, 0, 0x10 + i, &len, 1,
                         NULL);
    }
    qchimney_sq_kick(&f->c, hc);
    for (int i = 0; i < n; i++) {
        peer_expect(f, START + i * MSS, 0x10 + i, MSS);
    }
    qchimney_msi_clear(&f->c, 2);
}

/*
 * Lazy completions (CHIMNEY_CQF_LAZY with HOLDOFF, ABI 1.4): a send that
 * completes while its connection still holds two requests or more does
 * not interrupt at once; it waits for company or for 2 ms (a CQ_HEAD that
 * consumes it ends the wait).  One that leaves fewer behind interrupts
 * at once, with those that waited, and so does a lone send on an idle
 * connection.
 */
static void test_lazy_completions(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;

    cq_fixture(&f, &hc, CHIMNEY_CQF_HOLDOFF | CHIMNEY_CQF_LAZY, 256);
    sends_in_flight(&f, &hc, 6);
    /* the first: five left, lazy; its timer gives the interrupt */
    qchimney_peer_ack(&f, &hc, START + MSS);
    cqe = cq_peek(&f);
    g_assert_cmphex(cqe.cookie, ==, 0x10);
    g_assert(!msi_within(&f, 50));
    qtest_clock_step(f.qts, CHIMNEY_CQ_LAZY_USEC * 1000 - 1);
    g_assert(!msi_within(&f, 50));
    qtest_clock_step(f.qts, 1);
    g_assert(msi_within(&f, 1000));
    qchimney_cq_ack(&f.c, 2);
    qchimney_msi_clear(&f.c, 2);
    /* the next three leave four, three and two (lazy) ... */
    for (int i = 1; i < 4; i++) {
        qchimney_peer_ack(&f, &hc, START + (i + 1) * MSS);
        cqe = cq_peek(&f);
        g_assert_cmphex(cqe.cookie, ==, 0x10 + i);
        g_assert(!msi_within(&f, 50));
    }
    /* ... the fifth one: at once, for all four; no second one later */
    qchimney_peer_ack(&f, &hc, START + 5 * MSS);
    cqe = cq_peek(&f);
    g_assert_cmphex(cqe.cookie, ==, 0x14);
    g_assert(msi_within(&f, 1000));
    qchimney_cq_ack(&f.c, 2);
    qchimney_msi_clear(&f.c, 2);
    qtest_clock_step(f.qts, CHIMNEY_CQ_LAZY_USEC * 1000);
    g_assert(!msi_within(&f, 50));
    /* the last, then a lone send: each interrupts at once */
    qchimney_peer_ack(&f, &hc, START + 6 * MSS);
    cqe = cq_peek(&f);
    g_assert_cmphex(cqe.cookie, ==, 0x15);
    g_assert(msi_within(&f, 1000));
    qchimney_cq_ack(&f.c, 2);
    qchimney_msi_clear(&f.c, 2);
    g_assert(post(&f, &hc, 0x20, 100));
    peer_expect(&f, START + 6 * MSS, 0x20, 100);
    qchimney_peer_ack(&f, &hc, START + 6 * MSS + 100);
    cqe = cq_peek(&f);
    g_assert_cmphex(cqe.cookie, ==, 0x20);
    g_assert(msi_within(&f, 1000));
    qchimney_fx_end(&f);
}

/*
 * A lazy entry the driver consumed by itself (CQ_HEAD up to it) gets no
 * interrupt when its timer would have fired.
 */
static void test_lazy_consumed(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;

    cq_fixture(&f, &hc, CHIMNEY_CQF_HOLDOFF | CHIMNEY_CQF_LAZY, 256);
    sends_in_flight(&f, &hc, 4);
    qchimney_peer_ack(&f, &hc, START + MSS);
    cqe = cq_peek(&f);
    g_assert_cmphex(cqe.cookie, ==, 0x10);
    qchimney_cq_ack(&f.c, 2);
    qtest_clock_step(f.qts, CHIMNEY_CQ_LAZY_USEC * 1000);
    g_assert(!msi_within(&f, 50));
    qchimney_fx_end(&f);
}

/*
 * A small CQ: lazy entries fill at most half of it, then interrupt (8
 * entries: the fourth).  Without LAZY (a 1.3 driver's holdoff) every
 * send interrupts at once.
 */
static void test_lazy_small_cq(void)
{
    QChimneyFixture f;
    QChimneyConn hc;

    cq_fixture(&f, &hc, CHIMNEY_CQF_HOLDOFF | CHIMNEY_CQF_LAZY, 8);
    sends_in_flight(&f, &hc, 7);
    for (int i = 0; i < 3; i++) {
        qchimney_peer_ack(&f, &hc, START + (i + 1) * MSS);
        g_assert_cmphex(cq_peek(&f).cookie, ==, 0x10 + i);
        g_assert(!msi_within(&f, 50));
    }
    qchimney_peer_ack(&f, &hc, START + 4 * MSS);
    g_assert_cmphex(cq_peek(&f).cookie, ==, 0x13);
    g_assert(msi_within(&f, 1000));
    qchimney_fx_end(&f);

    cq_fixture(&f, &hc, CHIMNEY_CQF_HOLDOFF, 256);
    sends_in_flight(&f, &hc, 6);
    qchimney_peer_ack(&f, &hc, START + MSS);
    g_assert_cmphex(cq_peek(&f).cookie, ==, 0x10);
    g_assert(msi_within(&f, 1000));
    qchimney_fx_end(&f);
}

/* ivshmem's RAM BAR, which the test can take out of the address space */
#define SHM_ARGS "-object memory-backend-ram,id=hm,size=1M " \
                 "-device ivshmem-plain,memdev=hm"
static QPCIDevice *shm_dev;
static uint64_t shm_addr;

static void shm_found(QPCIDevice *dev, int devfn, void *data)
{
    *(QPCIDevice **)data = dev;
}

static void tweak_hint_shm(QChimneyFixture *f, ChimneyTcpOffload *o)
{
    QPCIBar bar;

    shm_dev = NULL;
    qpci_device_foreach(f->bus, 0x1af4, 0x1110, shm_found, &shm_dev);
    g_assert(shm_dev);
    qpci_device_enable(shm_dev);
    bar = qpci_iomap(shm_dev, 2, NULL);
    shm_addr = bar.addr;
    o->db_record = cpu_to_le64(shm_addr);
    tweak_hint(f, o);
}

/*
 * The doorbell record goes away after the offload (the BAR it lives in
 * stops decoding): the hint the device must write when the path is
 * invalidated cannot be written, and the connection asks for its upload
 * with reason HW_FAILURE; QEMU lives on.
 */
static void test_hint_record_lost(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    uint16_t cmd;

    if (!qtest_has_device("ivshmem-plain")) {
        g_test_skip("ivshmem-plain is not built in");
        return;
    }
    qchimney_tcp_fixture_tweak(&f, &hc, ISS, 256, SHM_ARGS, tweak_hint_shm);
    hc.db_record = shm_addr;
    hc.db_hint = true;
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_RING);
    three_in_flight(&f, &hc);
    cmd = qpci_config_readw(shm_dev, PCI_COMMAND);
    qpci_config_writew(shm_dev, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_INVALIDATE, 0, 0, 0,
                                  CHIMNEY_OBJ_PATH, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_INVALID_STATE);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_HW_FAILURE);
    qchimney_fx_end(&f);
    g_free(shm_dev);
}

static void tweak_hint_far(QChimneyFixture *f, ChimneyTcpOffload *o)
{
    tweak_hint(f, o);
    o->db_record = cpu_to_le64(QCHIMNEY_FAR_AWAY);
}

static void tweak_unknown_flag(QChimneyFixture *f, ChimneyTcpOffload *o)
{
    o->offload_flags = cpu_to_le16(CHIMNEY_TCPO_DB_HINT | 0x8000);
}

/*
 * OFFLOAD_TCP asking for the hint with a record the device cannot write
 * fails with DMA_ERROR; an unknown offload flag with INVALID_PARAM.
 * Neither leaves a connection: the same OFFLOAD, mended, succeeds.
 */
static void test_bad_hint_offload(void)
{
    void (*tweaks[])(QChimneyFixture *, ChimneyTcpOffload *) = {
        tweak_hint_far, tweak_unknown_flag,
    };
    static const uint8_t want[] = {
        CHIMNEY_ST_DMA_ERROR, CHIMNEY_ST_INVALID_PARAM,
    };
    QChimneyFixture f;
    QChimneyConn hc, other;
    ChimneyTcpOffload o;

    qchimney_tcp_fixture(&f, &hc, ISS);
    for (int i = 0; i < ARRAY_SIZE(tweaks); i++) {
        /* a connection of its own: another index, port and queues */
        other = hc;
        other.id = CHIMNEY_CONN_ID(6 + i, 1);
        other.port = hc.port + 1 + i;
        other.sq_base = QEMU_ALIGN_UP(guest_alloc(&f.alloc, 16 * 32 + 64),
                                      64);
        other.db_record = guest_alloc(&f.alloc, sizeof(ChimneyDbRecord));
        qtest_memset(f.qts, other.db_record, 0, sizeof(ChimneyDbRecord));
        set_hint(&f, other.db_record, CHIMNEY_HINT_SKIP);
        qchimney_tcp_block(&other, 0, other.cq, &o);
        tweaks[i](&f, &o);
        g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &o, 0), ==,
                         want[i]);
        /* refused: the block's record (this one, or far away) untouched */
        g_assert_cmpuint(hint_of(&f, &other), ==, CHIMNEY_HINT_SKIP);
        qchimney_tcp_block(&other, 0, other.cq, &o);
        tweak_hint(&f, &o);
        g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &o, 0), ==,
                         CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(hint_of(&f, &other), ==, CHIMNEY_HINT_RING);
    }
    qchimney_fx_end(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_device("chimney-nic")) {
        g_test_skip("chimney-nic is not built in");
        return g_test_run();
    }
    qtest_add_func("/chimney/hint/skip-until-ack", test_hint_skip_until_ack);
    qtest_add_func("/chimney/hint/timeout-reads", test_hint_timeout_reads);
    qtest_add_func("/chimney/hint/terminate-unrung",
                   test_hint_terminate_unrung);
    qtest_add_func("/chimney/hint/invalidate-rereads",
                   test_hint_invalidate_rereads);
    qtest_add_func("/chimney/hint/peer-reset", test_hint_peer_reset);
    qtest_add_func("/chimney/hint/fault-abort", test_hint_fault_abort);
    qtest_add_func("/chimney/hint/indication-rings",
                   test_hint_indication_rings);
    qtest_add_func("/chimney/hint/receive-rings", test_hint_receive_rings);
    qtest_add_func("/chimney/hint/receive-under-skip",
                   test_hint_receive_under_skip);
    qtest_add_func("/chimney/hint/migrate", test_hint_migrate);
    qtest_add_func("/chimney/hint/off-unchanged", test_hint_off_unchanged);
    qtest_add_func("/chimney/irq/lazy-completions", test_lazy_completions);
    qtest_add_func("/chimney/irq/lazy-consumed", test_lazy_consumed);
    qtest_add_func("/chimney/irq/lazy-small-cq", test_lazy_small_cq);
    qtest_add_func("/chimney/bad/hint-offload", test_bad_hint_offload);
    qtest_add_func("/chimney/bad/hint-record-lost", test_hint_record_lost);
    return g_test_run();
}
