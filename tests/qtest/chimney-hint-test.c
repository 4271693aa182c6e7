/*
 * QTest testcase for chimney-nic: the doorbell hint (ABI 1.4)
 *
 * The test is the guest and the TCP peer on the wire.  A connection
 * offloaded with CHIMNEY_TCPO_DB_HINT reads SKIP in its doorbell record
 * while two full segments are in flight; a request published then
 * without a doorbell goes out with the peer's next ACK, and none is lost
 * when the hint turns to RING on a timer (the device reads the record
 * again), at TERMINATE (sq_head says where fetching stopped), when
 * received data waits for a buffer, or across migration.  A connection
 * without the flag never has its record's third word written.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "libqos/chimney-host.h"

#define ISS     1000
#define START   (ISS + 1)   /* the first byte's sequence number */
#define MSS     1000        /* the scripted peer's */
#define SECOND_NS (1000 * 1000 * 1000LL)

static void tweak_hint(QChimneyFixture *f, ChimneyTcpOffload *o)
{
    o->offload_flags = cpu_to_le16(CHIMNEY_TCPO_DB_HINT);
}

/* ... and give up (upload, TIMEOUT) at the second retransmission */
static void tweak_hint_one_rexmit(QChimneyFixture *f, ChimneyTcpOffload *o)
{
    tweak_hint(f, o);
    o->max_rt = cpu_to_le32(1);
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
    /* the record was zero (SKIP) before: the device wrote RING */
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
 * The retransmission timer gives up with an unrung request published
 * under SKIP: the hint turns to RING and the device reads the record
 * again, so the request is the device's when the host terminates the
 * connection (it completes with the others, and sq_head is past it).
 */
static void test_hint_timeout_rereads(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    QChimneyPeerSeg ps;
    ChimneyTcpDelegated d;
    ChimneyCqe cqe;
    uint64_t qbuf;
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_TERMINATE,
                            .param = { CHIMNEY_OBJ_TCP }, .cookie = 0xabc };

    hint_fixture(&f, &hc, tweak_hint_one_rexmit);
    three_in_flight(&f, &hc);
    g_assert(!post(&f, &hc, 0xb, 500));
    /* the first RTO (1 s) retransmits one segment, still SKIP */
    qtest_clock_step(f.qts, SECOND_NS);
    qchimney_peer_read(&f, &ps);
    g_assert_cmpuint(ps.seq, ==, START);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_SKIP);
    /* the second (2 s, backed off) is one too many: upload */
    qtest_clock_step(f.qts, 2 * SECOND_NS);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_TIMEOUT);
    g_assert_cmpuint(hint_of(&f, &hc), ==, CHIMNEY_HINT_RING);

    qbuf = guest_alloc(&f.alloc, sizeof(d));
    cmd.id = hc.id;
    cmd.addr = qbuf;
    qchimney_admin_submit(&f.c, &cmd);
    expect_send(&f, 0xa, CHIMNEY_ST_UPLOAD_IN_PROGRESS, 0);
    expect_send(&f, 0xb, CHIMNEY_ST_UPLOAD_IN_PROGRESS, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0xabc);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.sq_head), ==, 2);
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
    ChimneyTcpDelegated d;
    ChimneyCqe cqe;
    uint64_t qbuf;
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_TERMINATE,
                            .param = { CHIMNEY_OBJ_TCP }, .cookie = 0xabd };

    hint_fixture(&f, &hc, tweak_hint);
    three_in_flight(&f, &hc);
    g_assert(!post(&f, &hc, 0xb, 500));
    qchimney_peer_ack_sync(&f, &hc, START + 1);
    qbuf = guest_alloc(&f.alloc, sizeof(d));
    cmd.id = hc.id;
    cmd.addr = qbuf;
    qchimney_admin_submit(&f.c, &cmd);
    /* the ACK had the device take B first: both are returned */
    expect_send(&f, 0xa, CHIMNEY_ST_UPLOAD_IN_PROGRESS, 1);
    expect_send(&f, 0xb, CHIMNEY_ST_UPLOAD_IN_PROGRESS, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0xabd);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.sq_head), ==, 2);
    qchimney_fx_end(&f);

    /* without an ACK in between, B stays the driver's */
    hint_fixture(&f, &hc, tweak_hint);
    three_in_flight(&f, &hc);
    g_assert(!post(&f, &hc, 0xb, 500));
    qbuf = guest_alloc(&f.alloc, sizeof(d));
    cmd.id = hc.id;
    cmd.addr = qbuf;
    qchimney_admin_submit(&f.c, &cmd);
    expect_send(&f, 0xa, CHIMNEY_ST_UPLOAD_IN_PROGRESS, 0);
    cqe = qchimney_expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0xabd);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.sq_head), ==, 1);
    g_assert(qchimney_cq_quiet(&f, 2));
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
        qchimney_tcp_block(&other, 0, other.cq, &o);
        tweaks[i](&f, &o);
        g_assert_cmpuint(qchimney_offload_tcp(&f.c, &other, &o, 0), ==,
                         want[i]);
        g_assert_cmpuint(hint_of(&f, &other), ==, 0);
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
    qtest_add_func("/chimney/hint/timeout-rereads",
                   test_hint_timeout_rereads);
    qtest_add_func("/chimney/hint/terminate-unrung",
                   test_hint_terminate_unrung);
    qtest_add_func("/chimney/hint/receive-rings", test_hint_receive_rings);
    qtest_add_func("/chimney/hint/migrate", test_hint_migrate);
    qtest_add_func("/chimney/hint/off-unchanged", test_hint_off_unchanged);
    qtest_add_func("/chimney/bad/hint-offload", test_bad_hint_offload);
    return g_test_run();
}
