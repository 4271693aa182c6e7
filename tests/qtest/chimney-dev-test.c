/*
 * QTest testcase for chimney-nic: the device, its queues, the plain NIC
 *
 * Bring-up, properties, the L2 TX and RX queues against the test's wire
 * (a socket netdev), link, interrupts (MSI-X, INTx, moderation), ring
 * wrap-around, a full CQ, reset and migration; then bad input on the
 * admin and L2 paths: each case answers with an error completion or a
 * latched fatal status, and QEMU stays alive.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qobject/qdict.h"
#include "libqtest.h"
#include "libqos/pci-pc.h"
#include "libqos/chimney-host.h"

static void make_frame(uint8_t *buf, size_t len, uint32_t seed)
{
    static const uint8_t dst[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

    memcpy(buf, dst, 6);
    memset(buf + 6, 0x02, 6);
    buf[12] = 0x88;             /* local experimental ethertype */
    buf[13] = 0xb5;
    for (size_t i = 14; i < len; i++) {
        buf[i] = (uint8_t)(seed * 31 + i * 7);
    }
}

static void assert_fatal(QChimneyFixture *f, uint32_t code, uint32_t info)
{
    g_assert(qchimney_wait_status(&f->c, CHIMNEY_STATUS_FATAL,
                                  CHIMNEY_STATUS_FATAL));
    g_assert_cmpuint(qchimney_readl(&f->c, CHIMNEY_REG_FATAL_CODE), ==, code);
    g_assert_cmphex(qchimney_readl(&f->c, CHIMNEY_REG_FATAL_INFO), ==, info);
}

static void test_bringup(void)
{
    QChimneyFixture f;
    static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, NULL);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_VERSION), ==,
                    CHIMNEY_VERSION);
    g_assert_cmpmem(f.c.id.mac, 6, mac, 6);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_MAC_LO), ==, 0x12005452);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_MAC_HI), ==, 0x5634);
    g_assert_cmpuint(f.c.id.num_cqs, ==, 8);
    g_assert_cmpuint(f.c.id.num_vectors, ==, 8);
    g_assert_cmpuint(f.c.id.max_conns, ==, 1024);
    g_assert_cmpuint(f.c.id.max_frame, ==, CHIMNEY_L2_MAX_FRAME);
    g_assert(f.c.id.features & CHIMNEY_FEAT_L2);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_STATUS), ==,
                    CHIMNEY_STATUS_READY | CHIMNEY_STATUS_LINK_UP);
    /* Admin completions arrived on vector 0 */
    g_assert(qchimney_msi_fired(&f.c, 0));
    qchimney_fx_end(&f);
}

static void test_properties(void)
{
    QChimneyFixture f;

    qchimney_fx_init(&f,
                     "-global chimney-nic.cqs=4 -global chimney-nic.vectors=2 "
                     "-global chimney-nic.max-conns=77");
    qchimney_fx_start(&f, &(QChimneyConfig) { .no_l2 = true });
    g_assert_cmpuint(f.c.id.num_cqs, ==, 4);
    g_assert_cmpuint(f.c.id.num_vectors, ==, 2);
    g_assert_cmpuint(f.c.id.max_conns, ==, 77);
    qchimney_fx_end(&f);
}

static void test_l2_tx(void)
{
    QChimneyFixture f;
    uint8_t frame[CHIMNEY_L2_MAX_FRAME], got[CHIMNEY_L2_MAX_FRAME];
    static const size_t lens[] = { 14, 60, 1514, 4000, CHIMNEY_L2_MAX_FRAME };

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, NULL);
    for (int i = 0; i < ARRAY_SIZE(lens); i++) {
        for (int segs = 1; segs <= 3; segs++) {
            uint64_t cookie;
            ChimneyCqe cqe;

            make_frame(frame, lens[i], i * 10 + segs);
            cookie = qchimney_l2_send(&f.c, frame, lens[i], segs);
            g_assert_cmpuint(qchimney_wire_recv(&f, got, sizeof(got)), ==,
                             lens[i]);
            g_assert_cmpmem(got, lens[i], frame, lens[i]);
            cqe = qchimney_expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX,
                                      CHIMNEY_ST_SUCCESS);
            g_assert_cmphex(cqe.cookie, ==, cookie);
            g_assert_cmpuint(cqe.bytes, ==, lens[i]);
            g_assert_cmpuint(cqe.queue, ==, CHIMNEY_QUEUE_L2_TX);
            g_assert_cmpuint(cqe.sq_head, ==, f.c.txq.tail);
        }
    }
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-tx-frames"), ==,
                     ARRAY_SIZE(lens) * 3);
    qchimney_fx_end(&f);
}

static void test_l2_rx(void)
{
    QChimneyFixture f;
    uint8_t frame[CHIMNEY_L2_MAX_FRAME], got[CHIMNEY_L2_MAX_FRAME];
    static const size_t lens[] = { 14, 60, 1514, 2048 };
    ChimneyCqe cqe;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, &(QChimneyConfig) { .rx_buffers = 8 });
    for (int i = 0; i < ARRAY_SIZE(lens); i++) {
        make_frame(frame, lens[i], i);
        qchimney_wire_send(&f, frame, lens[i]);
        g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==,
                         lens[i]);
        g_assert_cmpmem(got, lens[i], frame, lens[i]);
        g_assert_cmpuint(cqe.queue, ==, CHIMNEY_QUEUE_L2_RX);
    }
    /* Too long for the buffer at the head: dropped and counted */
    make_frame(frame, 3000, 99);
    qchimney_wire_send(&f, frame, 3000);
    make_frame(frame, 100, 100);
    qchimney_wire_send(&f, frame, 100);
    g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==, 100);
    g_assert_cmpmem(got, 100, frame, 100);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-rx-dropped"), ==, 1);
    g_assert_cmpuint(qchimney_qom_stat(&f, "x-stat-rx-frames"), ==, 5);
    qchimney_fx_end(&f);
}

static void send_one(QChimneyFixture *f, int seed)
{
    uint8_t frame[64], got[64];

    make_frame(frame, 64, seed);
    qchimney_l2_send(&f->c, frame, 64, 1);
    qchimney_wire_recv(f, got, sizeof(got));
}

static void set_link(QChimneyFixture *f, bool up)
{
    qtest_qmp_assert_success(f->qts, "{'execute': 'set_link', 'arguments': "
                             "{'name': 'nic0', 'up': %i}}", up);
}

/* Link changes show in STATUS and as an EVENT on the admin CQ. */
static void test_link(void)
{
    QChimneyFixture f;
    ChimneyCqe cqe;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, NULL);
    for (int round = 0; round < 2; round++) {
        set_link(&f, false);
        cqe = qchimney_expect_cqe(&f, 0, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_LINK);
        g_assert_cmpuint(cqe.info, ==, 0);
        g_assert(!(qchimney_readl(&f.c, CHIMNEY_REG_STATUS) &
                   CHIMNEY_STATUS_LINK_UP));
        set_link(&f, true);
        cqe = qchimney_expect_cqe(&f, 0, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(cqe.info, ==, 1);
        g_assert(qchimney_readl(&f.c, CHIMNEY_REG_STATUS) &
                 CHIMNEY_STATUS_LINK_UP);
    }
    qchimney_fx_end(&f);
}

/* A doorbell rung before the device is enabled does nothing. */
static void test_bad_doorbell_disabled(void)
{
    QChimneyFixture f;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_map(&f);
    qchimney_writel(&f.c, CHIMNEY_DB_ASQ_TAIL, 3);
    qchimney_writel(&f.c, CHIMNEY_DB_CQ_HEAD(1), 3);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_STATUS), ==,
                    CHIMNEY_STATUS_LINK_UP);
    /* and the device still comes up normally afterwards */
    qchimney_stop(&f.c);
    qchimney_fx_start(&f, NULL);
    send_one(&f, 1);
    qchimney_expect_cqe(&f, 1, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_SUCCESS);
    qchimney_fx_end(&f);
}

/* With no buffers posted, frames wait in the net queue, none is lost. */
static void test_l2_rx_backpressure(void)
{
    QChimneyFixture f;
    uint8_t frame[256], got[256];
    ChimneyCqe cqe;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, NULL);
    for (int i = 0; i < 6; i++) {
        make_frame(frame, 200, i);
        qchimney_wire_send(&f, frame, 200);
    }
    g_assert(!qchimney_cq_wait_timeout(&f.c, QCHIMNEY_L2_CQ, &cqe,
                                       100 * 1000));
    qchimney_l2_post_rx(&f.c, 6, 2048);
    for (int i = 0; i < 6; i++) {
        make_frame(frame, 200, i);
        g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==,
                         200);
        g_assert_cmpmem(got, 200, frame, 200);
    }
    qchimney_fx_end(&f);
}

static void test_msix_masked_pending(void)
{
    QChimneyFixture f;
    uint8_t frame[64], got[64];
    ChimneyCqe cqe;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, NULL);
    qchimney_msi_clear(&f.c, 1);
    qchimney_msi_mask(&f.c, 1, true);
    make_frame(frame, 64, 1);
    qchimney_l2_send(&f.c, frame, 64, 1);
    qchimney_wire_recv(&f, got, sizeof(got));
    qchimney_expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX,
                        CHIMNEY_ST_SUCCESS);
    g_assert(!qchimney_msi_fired(&f.c, 1));
    g_assert(qpci_msix_pending(f.c.pdev, 1));
    /* Unmasking delivers the pending message */
    qchimney_msi_mask(&f.c, 1, false);
    g_assert(qchimney_msi_fired(&f.c, 1));
    g_assert(!qpci_msix_pending(f.c.pdev, 1));
    (void)cqe;
    qchimney_fx_end(&f);
}

static void test_intx(void)
{
    QChimneyFixture f;
    uint8_t frame[64], got[64];

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, &(QChimneyConfig) { .no_msix = true });
    g_assert(qchimney_readl(&f.c, CHIMNEY_REG_INTR_CAUSE) & 1);
    qchimney_writel(&f.c, CHIMNEY_REG_INTR_CAUSE, 0xffffffff);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_INTR_CAUSE), ==, 0);
    make_frame(frame, 64, 1);
    qchimney_l2_send(&f.c, frame, 64, 1);
    qchimney_wire_recv(&f, got, sizeof(got));
    qchimney_expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX,
                        CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_INTR_CAUSE), ==,
                    1u << QCHIMNEY_L2_CQ);
    qchimney_fx_end(&f);
}

/* Several laps of every ring, so the phase bit flips back and forth. */
static void test_phase_wrap(void)
{
    QChimneyFixture f;
    uint8_t frame[128], got[128];
    ChimneyCqe cqe;
    const int laps = 3, n = 4;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, &(QChimneyConfig) {
        .admin_entries = n, .l2_entries = n, .cq_entries = n,
    });
    for (int i = 0; i < laps * n; i++) {
        uint64_t buf = guest_alloc(&f.alloc, CHIMNEY_IDENTIFY_SIZE);

        g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_IDENTIFY, 0, buf,
                                      CHIMNEY_IDENTIFY_SIZE, 0, 0, 0), ==,
                         CHIMNEY_ST_SUCCESS);
    }
    for (int i = 0; i < laps * n; i++) {
        make_frame(frame, 100 + i, i);
        qchimney_l2_send(&f.c, frame, 100 + i, 1);
        g_assert_cmpuint(qchimney_wire_recv(&f, got, sizeof(got)), ==, 100 + i);
        g_assert_cmpmem(got, 100 + i, frame, 100 + i);
        qchimney_expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX,
                            CHIMNEY_ST_SUCCESS);
        qchimney_l2_post_rx(&f.c, 1, 256);
        qchimney_wire_send(&f, frame, 100 + i);
        g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==,
                         100 + i);
        g_assert_cmpmem(got, 100 + i, frame, 100 + i);
    }
    qchimney_fx_end(&f);
}

/* A full CQ holds completions back and never overwrites. */
static void test_cq_full(void)
{
    QChimneyFixture f;
    uint8_t frame[64], got[64];
    ChimneyCqe cqe;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f,
                      &(QChimneyConfig) { .cq_entries = 4, .l2_entries = 16 });
    for (int i = 0; i < 6; i++) {
        make_frame(frame, 64, i);
        qchimney_l2_send(&f.c, frame, 64, 1);
        qchimney_wire_recv(&f, got, sizeof(got));
        if (i == 2) {
            break;  /* a 4-entry CQ holds 3 */
        }
    }
    for (int i = 3; i < 6; i++) {
        make_frame(frame, 64, i);
        qchimney_l2_send(&f.c, frame, 64, 1);
    }
    /* Three entries, then nothing: the fourth frame was not even sent */
    for (int i = 0; i < 3; i++) {
        g_assert(qchimney_cq_poll(&f.c, QCHIMNEY_L2_CQ, &cqe));
        g_assert_cmpuint(cqe.bytes, ==, 64);
    }
    g_assert(!qchimney_cq_poll(&f.c, QCHIMNEY_L2_CQ, &cqe));
    qchimney_cq_ack(&f.c, QCHIMNEY_L2_CQ);
    for (int i = 3; i < 6; i++) {
        qchimney_wire_recv(&f, got, sizeof(got));
        make_frame(frame, 64, i);
        g_assert_cmpmem(got, 64, frame, 64);
        cqe = qchimney_expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX,
                                  CHIMNEY_ST_SUCCESS);
    }
    qchimney_fx_end(&f);
}

static void test_moderation_count(void)
{
    QChimneyFixture f;
    ChimneyCqe cqe;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, &(QChimneyConfig) { .mod_count = 4 });
    qchimney_msi_clear(&f.c, 1);
    for (int i = 0; i < 3; i++) {
        send_one(&f, i);
        qchimney_cq_wait(&f.c, QCHIMNEY_L2_CQ, &cqe);
    }
    g_assert(!qchimney_msi_fired(&f.c, 1));
    send_one(&f, 3);
    qchimney_cq_wait(&f.c, QCHIMNEY_L2_CQ, &cqe);
    g_assert(qchimney_msi_fired(&f.c, 1));
    qchimney_fx_end(&f);
}

static void test_moderation_time(void)
{
    QChimneyFixture f;
    ChimneyCqe cqe;
    const int64_t usec = 250;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f,
                      &(QChimneyConfig) { .mod_count = 100, .mod_usec = usec });
    qchimney_msi_clear(&f.c, 1);
    send_one(&f, 0);
    qchimney_cq_wait(&f.c, QCHIMNEY_L2_CQ, &cqe);
    qtest_clock_step(f.qts, usec * 1000 - 1);
    g_usleep(20 * 1000);
    g_assert(!qchimney_msi_fired(&f.c, 1));
    qtest_clock_step(f.qts, 1);
    /* The timer hands off to the bottom half; give it a moment. */
    for (int i = 0; i < 1000 && !qchimney_msi_fired(&f.c, 1); i++) {
        g_usleep(1000);
    }
    g_assert(qchimney_msi_fired(&f.c, 1));
    qchimney_fx_end(&f);
}

/* The next entry of the L2 CQ, read without writing CQ_HEAD */
static void poll_l2_cq(QChimneyFixture *f)
{
    ChimneyCqe cqe;

    for (int i = 0; i < 5000; i++) {
        if (qchimney_cq_poll(&f->c, QCHIMNEY_L2_CQ, &cqe)) {
            return;
        }
        g_usleep(200);
    }
    g_assert_not_reached();
}

static void write_l2_cq_head(QChimneyFixture *f, uint32_t behind)
{
    QChimneyCQ *cq = &f->c.cq[QCHIMNEY_L2_CQ];

    qchimney_writel(&f->c, CHIMNEY_DB_CQ_HEAD(QCHIMNEY_L2_CQ),
                    (cq->ring.head - behind) & (cq->ring.size - 1));
}

static bool msi_fires(QChimneyFixture *f)
{
    for (int i = 0; i < 200 && !qchimney_msi_fired(&f->c, 1); i++) {
        g_usleep(1000);
    }
    return qchimney_msi_fired(&f->c, 1);
}

/*
 * irq-holdoff (mod_count 0): an entry interrupts at once while the
 * driver is idle; entries written while it has not consumed the last
 * interrupt's wait until CQ_HEAD says it has, and those it found by
 * itself before that are not announced again.
 */
/*
 * Holdoff, by the irq-holdoff property for every CQ or by
 * CHIMNEY_CQF_HOLDOFF for one
 */
static void moderation_holdoff(const char *args, uint32_t cq_flags)
{
    QChimneyFixture f;

    qchimney_fx_init(&f, args);
    qchimney_fx_start(&f, &(QChimneyConfig) { .cq_flags = cq_flags });
    write_l2_cq_head(&f, 0);
    qchimney_msi_clear(&f.c, 1);
    send_one(&f, 0);
    poll_l2_cq(&f);
    g_assert(msi_fires(&f));
    qchimney_msi_clear(&f.c, 1);
    /* Busy with the first: two more wait */
    for (int i = 1; i < 3; i++) {
        send_one(&f, i);
        poll_l2_cq(&f);
    }
    g_usleep(20 * 1000);
    g_assert(!qchimney_msi_fired(&f.c, 1));
    /* Done with the first: one interrupt for the two */
    write_l2_cq_head(&f, 2);
    g_assert(msi_fires(&f));
    qchimney_msi_clear(&f.c, 1);
    /* Everything consumed: the next interrupts at once */
    write_l2_cq_head(&f, 0);
    send_one(&f, 3);
    poll_l2_cq(&f);
    g_assert(msi_fires(&f));
    qchimney_msi_clear(&f.c, 1);
    /* One found by polling before CQ_HEAD: no interrupt for it */
    send_one(&f, 4);
    poll_l2_cq(&f);
    write_l2_cq_head(&f, 0);
    g_usleep(20 * 1000);
    g_assert(!qchimney_msi_fired(&f.c, 1));
    send_one(&f, 5);
    poll_l2_cq(&f);
    g_assert(msi_fires(&f));
    qchimney_fx_end(&f);
}

static void test_moderation_holdoff(void)
{
    moderation_holdoff("-global chimney-nic.irq-holdoff=on", 0);
}

static void test_moderation_holdoff_flag(void)
{
    QChimneyFixture f;

    moderation_holdoff(NULL, CHIMNEY_CQF_HOLDOFF);
    /* Without the flag or the property, every entry interrupts */
    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, NULL);
    g_assert(qchimney_readl(&f.c, CHIMNEY_REG_FEATURES) &
             CHIMNEY_FEAT_IRQ_HOLDOFF);
    write_l2_cq_head(&f, 0);
    qchimney_msi_clear(&f.c, 1);
    send_one(&f, 0);
    poll_l2_cq(&f);
    g_assert(msi_fires(&f));
    qchimney_msi_clear(&f.c, 1);
    send_one(&f, 1);
    poll_l2_cq(&f);
    g_assert(msi_fires(&f));
    /* An unknown flag is refused, and the CQ is not created */
    f.c.cq_flags = 4;
    g_assert_cmpuint(qchimney_create_cq(&f.c, 4, guest_alloc(&f.alloc,
                                                             64 * 32),
                                        64, 0, 0, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    /* and LAZY without HOLDOFF */
    f.c.cq_flags = CHIMNEY_CQF_LAZY;
    g_assert_cmpuint(qchimney_create_cq(&f.c, 4, guest_alloc(&f.alloc,
                                                             64 * 32),
                                        64, 0, 0, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    f.c.cq_flags = CHIMNEY_CQF_HOLDOFF;
    g_assert_cmpuint(qchimney_create_cq(&f.c, 4, guest_alloc(&f.alloc,
                                                             64 * 32),
                                        64, 0, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    qchimney_fx_end(&f);
}

static void test_reset_in_traffic(void)
{
    QChimneyFixture f;
    uint8_t frame[1500];

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, &(QChimneyConfig) { .rx_buffers = 4 });
    for (int i = 0; i < 8; i++) {
        make_frame(frame, sizeof(frame), i);
        qchimney_l2_send(&f.c, frame, sizeof(frame), 2);
        qchimney_wire_send(&f, frame, sizeof(frame));
    }
    /* Soft reset through CTRL: everything the driver set up is gone */
    qchimney_writel(&f.c, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_RESET);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_STATUS), ==,
                    CHIMNEY_STATUS_LINK_UP);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_ASQ_SIZE), ==, 0);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_CTRL), ==, 0);
    /* Drain what reached the wire before the reset */
    while (recv(f.sock, frame, sizeof(frame), MSG_DONTWAIT) > 0) {
        continue;
    }
    qchimney_stop(&f.c);
    qchimney_fx_start(&f, NULL);
    send_one(&f, 42);
    qchimney_expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX,
                        CHIMNEY_ST_SUCCESS);

    /* Machine reset in the middle of traffic */
    for (int i = 0; i < 4; i++) {
        make_frame(frame, 200, i);
        qchimney_l2_send(&f.c, frame, 200, 1);
    }
    qtest_qmp_assert_success(f.qts, "{'execute': 'system_reset'}");
    while (recv(f.sock, frame, sizeof(frame), MSG_DONTWAIT) > 0) {
        continue;
    }
    qchimney_stop(&f.c);
    qchimney_fx_start(&f, NULL);
    send_one(&f, 43);
    qchimney_expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX,
                        CHIMNEY_ST_SUCCESS);
    qchimney_fx_end(&f);
}

static void wait_migration(QTestState *qts)
{
    for (int i = 0; i < 5000; i++) {
        QDict *rsp = qtest_qmp(qts, "{'execute': 'query-migrate'}");
        QDict *ret = qdict_get_qdict(rsp, "return");
        const char *st = qdict_haskey(ret, "status") ?
                         qdict_get_str(ret, "status") : "";
        bool done = !strcmp(st, "completed");

        g_assert(strcmp(st, "failed"));
        qobject_unref(rsp);
        if (done) {
            return;
        }
        g_usleep(1000);
    }
    g_assert_not_reached();
}

/* Migrate a configured idle device; its queues work afterwards. */
static void test_migration(void)
{
    QChimneyFixture f;
    g_autofree char *dir = g_dir_make_tmp("chimney-XXXXXX", NULL);
    g_autofree char *file = g_strdup_printf("%s/vmstate", dir);
    g_autofree char *uri = g_strdup_printf("file:%s", file);
    g_autofree char *incoming = g_strdup_printf("-incoming %s", uri);
    uint8_t frame[300], got[300];
    QTestState *dst;
    QPCIBus *dst_bus;
    int dst_sock;
    ChimneyCqe cqe;
    size_t len;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, &(QChimneyConfig) { .rx_buffers = 2, .l2_entries = 4,
                                     .cq_entries = 4,
                                     .cq_flags = CHIMNEY_CQF_HOLDOFF });
    qchimney_ind_create(&f.c, 4, 512);      /* its own subsection */
    send_one(&f, 1);
    qchimney_expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX,
                        CHIMNEY_ST_SUCCESS);
    qtest_qmp_assert_success(f.qts, "{'execute': 'migrate', 'arguments': "
                             "{'uri': %s}}", uri);
    wait_migration(f.qts);
    qtest_quit(f.qts);
    close(f.sock);

    dst = qchimney_fx_qemu(&dst_sock, incoming);
    wait_migration(dst);
    f.qts = dst;
    f.sock = dst_sock;
    dst_bus = qpci_new_pc(dst, &f.alloc);
    qpci_free_pc(f.bus);
    f.bus = dst_bus;
    qchimney_rebind(&f.c, dst, dst_bus);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_STATUS), ==,
                    CHIMNEY_STATUS_READY | CHIMNEY_STATUS_LINK_UP);
    /* Ring indices carried over: several laps past the migration point */
    for (int i = 0; i < 6; i++) {
        make_frame(frame, sizeof(frame), i);
        qchimney_l2_send(&f.c, frame, sizeof(frame), 1);
        /* QEMU announces the NIC after migration with RARP frames */
        do {
            len = qchimney_wire_recv(&f, got, sizeof(got));
        } while (len == 60 && got[12] == 0x80 && got[13] == 0x35);
        g_assert_cmpuint(len, ==, sizeof(frame));
        g_assert_cmpmem(got, sizeof(got), frame, sizeof(frame));
        qchimney_expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX,
                            CHIMNEY_ST_SUCCESS);
        qchimney_wire_send(&f, frame, sizeof(frame));
        g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==,
                         sizeof(frame));
        g_assert_cmpmem(got, sizeof(got), frame, sizeof(frame));
        qchimney_l2_post_rx(&f.c, 1, 2048);
    }
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_IDENTIFY, 0,
                                  guest_alloc(&f.alloc, 128), 128, 0, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    /* The generic-buffer queue came along */
    g_assert_cmpuint(qchimney_create_l2q(&f.c, CHIMNEY_QUEUE_INDICATE,
                                         f.c.indq.base, 4, 0), ==,
                     CHIMNEY_ST_INVALID_STATE);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_DESTROY_L2Q,
                                  CHIMNEY_QUEUE_INDICATE, 0, 0, 0, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    qchimney_fx_end(&f);
    unlink(file);
    rmdir(dir);
}

static void test_bad_admin_config(void)
{
    static const struct {
        uint32_t reg, val, info;
    } cases[] = {
        /* FATAL_INFO names the register found bad: base or size */
        { CHIMNEY_REG_ASQ_BASE_LO, 0x100020, CHIMNEY_REG_ASQ_BASE_LO },
        { CHIMNEY_REG_ASQ_SIZE, 3, CHIMNEY_REG_ASQ_SIZE },
        { CHIMNEY_REG_ASQ_SIZE, 1u << 16, CHIMNEY_REG_ASQ_SIZE },
        { CHIMNEY_REG_ACQ_SIZE, 0, CHIMNEY_REG_ACQ_SIZE },
        /* 0xffffffff_ffffffc0 + 16 entries wraps past 2^64 */
        { CHIMNEY_REG_ACQ_BASE_LO, 0xffffffc0, CHIMNEY_REG_ACQ_BASE_LO },
        { CHIMNEY_REG_ACQ_BASE_LO, 0x200010, CHIMNEY_REG_ACQ_BASE_LO },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        QChimneyFixture f;

        qchimney_fx_init(&f, NULL);
        qchimney_fx_map(&f);
        qchimney_writel(&f.c, CHIMNEY_REG_ASQ_BASE_LO, 0x100000);
        qchimney_writel(&f.c, CHIMNEY_REG_ASQ_SIZE, 16);
        qchimney_writel(&f.c, CHIMNEY_REG_ACQ_BASE_LO, 0x200000);
        qchimney_writel(&f.c, CHIMNEY_REG_ACQ_SIZE, 16);
        qchimney_writel(&f.c, cases[i].reg, cases[i].val);
        if (cases[i].reg == CHIMNEY_REG_ACQ_BASE_LO) {
            qchimney_writel(&f.c, CHIMNEY_REG_ACQ_BASE_HI, 0xffffffff);
        }
        qchimney_writel(&f.c, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_ENABLE);
        assert_fatal(&f, CHIMNEY_FATAL_ADMIN_CONFIG, cases[i].info);
        g_assert(!(qchimney_readl(&f.c, CHIMNEY_REG_STATUS) &
                   CHIMNEY_STATUS_READY));
        /* Disable clears the fatal status */
        qchimney_writel(&f.c, CHIMNEY_REG_CTRL, 0);
        g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_STATUS), ==,
                        CHIMNEY_STATUS_LINK_UP);
        qchimney_fx_end(&f);
    }
}

static void test_bad_asq_outside_ram(void)
{
    QChimneyFixture f;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_map(&f);
    qchimney_writel(&f.c, CHIMNEY_REG_ASQ_BASE_LO, 0);
    qchimney_writel(&f.c, CHIMNEY_REG_ASQ_BASE_HI, QCHIMNEY_FAR_AWAY >> 32);
    qchimney_writel(&f.c, CHIMNEY_REG_ASQ_SIZE, 16);
    qchimney_writel(&f.c, CHIMNEY_REG_ACQ_BASE_LO, 0x200000);
    qchimney_writel(&f.c, CHIMNEY_REG_ACQ_SIZE, 16);
    qchimney_writel(&f.c, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_ENABLE);
    g_assert(qchimney_wait_status(&f.c, CHIMNEY_STATUS_READY,
                                  CHIMNEY_STATUS_READY));
    qchimney_writel(&f.c, CHIMNEY_DB_ASQ_TAIL, 1);
    assert_fatal(&f, CHIMNEY_FATAL_ASQ_DMA, 0);
    qchimney_fx_end(&f);
}

static void test_bad_doorbells(void)
{
    static const uint32_t bells[] = {
        CHIMNEY_DB_ASQ_TAIL, CHIMNEY_DB_L2_TXQ_TAIL, CHIMNEY_DB_L2_RXQ_TAIL,
    };

    for (int i = 0; i < ARRAY_SIZE(bells); i++) {
        QChimneyFixture f;

        qchimney_fx_init(&f, NULL);
        qchimney_fx_start(&f, NULL);
        /* Index equal to the ring size is one beyond the ring */
        qchimney_writel(&f.c, bells[i], bells[i] == CHIMNEY_DB_ASQ_TAIL ?
                        f.c.dev.asq.size : f.c.txq.size);
        assert_fatal(&f, CHIMNEY_FATAL_DOORBELL, bells[i]);
        qchimney_fx_end(&f);
    }
}

static void test_bad_cq_doorbell(void)
{
    QChimneyFixture f;

    /* CQ head beyond what the device wrote */
    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, NULL);
    qchimney_writel(&f.c, CHIMNEY_DB_CQ_HEAD(QCHIMNEY_L2_CQ), 5);
    assert_fatal(&f, CHIMNEY_FATAL_DOORBELL,
                 CHIMNEY_DB_CQ_HEAD(QCHIMNEY_L2_CQ));
    qchimney_fx_end(&f);

    /* Doorbell of a CQ that does not exist */
    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, NULL);
    qchimney_writel(&f.c, CHIMNEY_DB_CQ_HEAD(5), 0);
    assert_fatal(&f, CHIMNEY_FATAL_DOORBELL, CHIMNEY_DB_CQ_HEAD(5));
    qchimney_fx_end(&f);

    /* Doorbell beyond the last CQ */
    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, NULL);
    qchimney_writel(&f.c, CHIMNEY_DB_CQ_HEAD(CHIMNEY_MAX_CQS), 0);
    assert_fatal(&f, CHIMNEY_FATAL_DOORBELL,
                 CHIMNEY_DB_CQ_HEAD(CHIMNEY_MAX_CQS));
    qchimney_fx_end(&f);
}

static void test_bad_admin_commands(void)
{
    QChimneyFixture f;
    uint64_t ring;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, &(QChimneyConfig) { .no_l2 = true });
    ring = guest_alloc(&f.alloc, 64 * 32);
    ring = QEMU_ALIGN_UP(ring, 64);

    /* Unknown opcode, nonzero flags */
    g_assert_cmpuint(qchimney_cmd(&f, 0x7f, 0, 0, 0, 0, 0, 0), ==,
                     CHIMNEY_ST_INVALID_OPCODE);
    {
        ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_IDENTIFY, .flags = 1 };

        g_assert_cmpuint(qchimney_admin(&f.c, &cmd, NULL), ==,
                         CHIMNEY_ST_INVALID_PARAM);
    }
    /* IDENTIFY: short buffer, buffer outside guest RAM */
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_IDENTIFY, 0, ring, 64, 0, 0,
                                  0),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_IDENTIFY, 0,
                                  QCHIMNEY_FAR_AWAY, 128, 0, 0,
                                  0), ==, CHIMNEY_ST_DMA_ERROR);
    /* SET_PARAMS out of range */
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_SET_PARAMS, 0, 0, 0, 7, 2,
                                  200),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    /* CREATE_CQ: bad ids */
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_CQ, 0, ring, 64, 0, 0,
                                  0),
                     ==, CHIMNEY_ST_INVALID_ID);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_CQ, 8, ring, 64, 0, 0,
                                  0),
                     ==, CHIMNEY_ST_INVALID_ID);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_CQ, 0xffffffff, ring,
                                  64, 0,
                                  0, 0), ==, CHIMNEY_ST_INVALID_ID);
    /* CREATE_CQ: geometry and vector */
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring + 8, 64, 0,
                                  0,
                                  0), ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring, 48, 0, 0,
                                  0),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring, 1u << 16,
                                  0, 0,
                                  0), ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring, 2, 0, 0,
                                  0),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_CQ, 2, -64ull, 64, 0,
                                  0, 0),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring, 64, 8, 0,
                                  0),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring, 64, 1, 0,
                                  CHIMNEY_CQ_MOD_USEC_MAX + 1),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    /* DESTROY_CQ of the admin CQ or a CQ that does not exist */
    g_assert_cmpuint(qchimney_destroy_cq(&f.c, 0), ==, CHIMNEY_ST_INVALID_ID);
    g_assert_cmpuint(qchimney_destroy_cq(&f.c, 3), ==, CHIMNEY_ST_INVALID_ID);
    /* A good CQ, then twice */
    g_assert_cmpuint(qchimney_create_cq(&f.c, 2, ring, 64, 1, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring, 64, 0, 0,
                                  0),
                     ==, CHIMNEY_ST_INVALID_STATE);
    /* CREATE_L2Q: bad queue, CQ that does not exist, the admin CQ */
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_L2Q, 9, ring, 64, 2, 0,
                                  0),
                     ==, CHIMNEY_ST_INVALID_ID);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_L2Q,
                                  CHIMNEY_QUEUE_L2_TX,
                                  ring, 64, 4, 0, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_L2Q,
                                  CHIMNEY_QUEUE_L2_TX,
                                  ring, 64, 0, 0, 0), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_DESTROY_L2Q,
                                  CHIMNEY_QUEUE_L2_RX,
                                  0, 0, 0, 0, 0), ==, CHIMNEY_ST_INVALID_ID);
    /* A CQ destroyed while a queue posts to it */
    g_assert_cmpuint(qchimney_create_l2q(&f.c, CHIMNEY_QUEUE_L2_TX,
                                         ring + 64 * 32 / 2, 32, 2), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_destroy_cq(&f.c, 2), ==, CHIMNEY_ST_IN_USE);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_DESTROY_L2Q,
                                  CHIMNEY_QUEUE_L2_TX,
                                  0, 0, 0, 0, 0), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_destroy_cq(&f.c, 2), ==, CHIMNEY_ST_SUCCESS);
    /* The device still works */
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_IDENTIFY, 0, ring, 128, 0, 0,
                                  0),
                     ==, CHIMNEY_ST_SUCCESS);
    g_assert(!(qchimney_readl(&f.c, CHIMNEY_REG_STATUS) &
               CHIMNEY_STATUS_FATAL));
    qchimney_fx_end(&f);
}

static void post_tx_desc(QChimneyFixture *f, uint64_t addr, uint32_t len,
                         uint16_t flags, uint64_t cookie)
{
    QChimneyRing *r = &f->c.txq;
    ChimneyL2TxDesc d = {
        .addr = cpu_to_le64(addr), .len = cpu_to_le32(len),
        .flags = cpu_to_le16(flags), .cookie = cpu_to_le64(cookie),
    };

    qtest_memwrite(f->qts, r->base + (uint64_t)r->tail * sizeof(d), &d,
                   sizeof(d));
    r->tail = (r->tail + 1) & (r->size - 1);
}

static void test_bad_l2_descriptors(void)
{
    QChimneyFixture f;
    uint64_t buf;
    ChimneyCqe cqe;
    QChimneyRing *rx;
    ChimneyL2RxDesc d = { 0 };
    uint8_t frame[100];

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, NULL);
    buf = guest_alloc(&f.alloc, 4096);

    /* TX buffer outside guest RAM */
    post_tx_desc(&f, QCHIMNEY_FAR_AWAY, 64, CHIMNEY_L2TX_EOP, 1);
    qchimney_ring_doorbell(&f.c, &f.c.txq);
    cqe = qchimney_expect_cqe(&f, 1, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(cqe.cookie, ==, 1);
    /* Zero-length segment; runt frame; frame over the limit */
    post_tx_desc(&f, buf, 0, CHIMNEY_L2TX_EOP, 2);
    post_tx_desc(&f, buf, 10, CHIMNEY_L2TX_EOP, 3);
    for (int i = 0; i < 3; i++) {
        post_tx_desc(&f, buf, 4000, i == 2 ? CHIMNEY_L2TX_EOP : 0, 4);
    }
    qchimney_ring_doorbell(&f.c, &f.c.txq);
    for (int i = 2; i <= 4; i++) {
        cqe = qchimney_expect_cqe(&f, 1, CHIMNEY_CQE_L2_TX,
                                  CHIMNEY_ST_BAD_DESCRIPTOR);
        g_assert_cmphex(cqe.cookie, ==, i);
        g_assert_cmpuint(cqe.bytes, ==, 0);
    }
    g_assert_cmpuint(cqe.sq_head, ==, f.c.txq.tail);
    /* More descriptors than a frame may have, none with EOP */
    for (int i = 0; i < CHIMNEY_L2_MAX_TX_SGE; i++) {
        post_tx_desc(&f, buf, 64, 0, 5);
    }
    qchimney_ring_doorbell(&f.c, &f.c.txq);
    cqe = qchimney_expect_cqe(&f, 1, CHIMNEY_CQE_L2_TX,
                              CHIMNEY_ST_BAD_DESCRIPTOR);
    g_assert_cmpuint(cqe.sq_head, ==, f.c.txq.tail);

    /* RX: a zero-length buffer and one outside guest RAM */
    rx = &f.c.rxq;
    d.len = 0;
    d.cookie = cpu_to_le64(0xaa);
    qtest_memwrite(f.qts, rx->base + rx->tail * sizeof(d), &d, sizeof(d));
    rx->tail++;
    d.addr = cpu_to_le64(QCHIMNEY_FAR_AWAY);
    d.len = cpu_to_le32(2048);
    d.cookie = cpu_to_le64(0xbb);
    qtest_memwrite(f.qts, rx->base + rx->tail * sizeof(d), &d, sizeof(d));
    rx->tail++;
    qchimney_ring_doorbell(&f.c, rx);
    make_frame(frame, sizeof(frame), 7);
    qchimney_wire_send(&f, frame, sizeof(frame));
    cqe = qchimney_expect_cqe(&f, 1, CHIMNEY_CQE_L2_RX,
                              CHIMNEY_ST_BAD_DESCRIPTOR);
    g_assert_cmphex(cqe.cookie, ==, 0xaa);
    cqe = qchimney_expect_cqe(&f, 1, CHIMNEY_CQE_L2_RX, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(cqe.cookie, ==, 0xbb);
    /* Still a working NIC */
    send_one(&f, 9);
    qchimney_expect_cqe(&f, 1, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_SUCCESS);
    qchimney_fx_end(&f);
}

static void test_bad_cq_outside_ram(void)
{
    QChimneyFixture f;
    uint8_t frame[64], got[64];
    uint64_t txq;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, &(QChimneyConfig) { .no_l2 = true });
    g_assert_cmpuint(qchimney_create_cq(&f.c, 1, QCHIMNEY_FAR_AWAY, 64, 1, 0,
                                        0), ==, CHIMNEY_ST_SUCCESS);
    f.c.tx_area = guest_alloc(&f.alloc, 64 * QCHIMNEY_TX_SLOT);
    txq = QEMU_ALIGN_UP(guest_alloc(&f.alloc, 64 * 33), 64);
    g_assert_cmpuint(qchimney_create_l2q(&f.c, CHIMNEY_QUEUE_L2_TX, txq, 64,
                                         1), ==, CHIMNEY_ST_SUCCESS);
    make_frame(frame, 64, 1);
    qchimney_l2_send(&f.c, frame, 64, 1);
    qchimney_wire_recv(&f, got, sizeof(got));
    assert_fatal(&f, CHIMNEY_FATAL_CQ_DMA, 1);
    qchimney_fx_end(&f);
}

static void test_bad_register_access(void)
{
    QChimneyFixture f;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, NULL);
    /* Read-only and reserved registers ignore writes */
    qchimney_writel(&f.c, CHIMNEY_REG_ID, 0);
    qchimney_writel(&f.c, CHIMNEY_REG_STATUS, 0);
    qchimney_writel(&f.c, 0xffc, 1);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_ID), ==,
                    CHIMNEY_ID_MAGIC);
    g_assert_cmphex(qchimney_readl(&f.c, 0xffc), ==, 0);
    /* Admin queue registers cannot move while enabled */
    qchimney_writel(&f.c, CHIMNEY_REG_ASQ_SIZE, 4);
    g_assert_cmpuint(qchimney_readl(&f.c, CHIMNEY_REG_ASQ_SIZE), ==, 16);
    /* Byte access is refused by the bus, nothing changes */
    qtest_writeb(f.qts, f.c.bar.addr + CHIMNEY_REG_CTRL, 0);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_CTRL), ==,
                    CHIMNEY_CTRL_ENABLE);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_IDENTIFY, 0,
                                  guest_alloc(&f.alloc, 128), 128, 0, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    qchimney_fx_end(&f);
}

static void test_bad_properties(void)
{
    static const struct {
        int cqs, vectors, max_conns;
    } bad[] = {
        { 1, 8, 16 }, { 33, 8, 16 }, { 8, 0, 16 }, { 8, 33, 16 }, { 8, 8, 0 },
        { 8, 8, (1 << 20) + 1 },
    };
    QTestState *qts = qtest_init("-M pc -nodefaults");

    for (int i = 0; i < ARRAY_SIZE(bad); i++) {
        QDict *rsp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                               "{'driver': 'chimney-nic', 'id': 'x', "
                               "'cqs': %d, 'vectors': %d, 'max-conns': %d}}",
                               bad[i].cqs, bad[i].vectors, bad[i].max_conns);

        g_assert(qdict_haskey(rsp, "error"));
        qobject_unref(rsp);
    }
    qtest_quit(qts);
}

/*
 * BAR0 access widths: aligned 32-bit accesses are the registers;
 * an aligned 64-bit access is two of them, the lower address first;
 * anything else is ignored (reads 0) and reported as a guest error
 * under its trace event name.
 */
static void test_bad_register_width(void)
{
    g_autofree char *log = NULL;
    g_autofree char *extra = NULL;
    g_autofree char *text = NULL;
    QChimneyFixture f;
    int fd;

    fd = g_file_open_tmp("chimney-width-XXXXXX.log", &log, NULL);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    extra = g_strdup_printf("-d guest_errors -D %s", log);
    qchimney_fx_init(&f, extra);
    qchimney_fx_map(&f);
    /* 64-bit: two registers, low dword first */
    qtest_writeq(f.qts, f.c.bar.addr + CHIMNEY_REG_ASQ_BASE_LO,
                 0x0000000100100000ull);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_ASQ_BASE_LO), ==,
                    0x00100000);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_ASQ_BASE_HI), ==, 1);
    g_assert_cmphex(qtest_readq(f.qts, f.c.bar.addr + CHIMNEY_REG_ID), ==,
                    (uint64_t)CHIMNEY_VERSION << 32 | CHIMNEY_ID_MAGIC);
    /* INTR_CAUSE and INTR_MASK are one 64-bit pair */
    qtest_writeq(f.qts, f.c.bar.addr + CHIMNEY_REG_INTR_CAUSE,
                 0x0000000300000000ull);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_INTR_MASK), ==, 3);
    /* Byte, word and unaligned accesses: nothing changes, reads are 0 */
    qtest_writeb(f.qts, f.c.bar.addr + CHIMNEY_REG_INTR_MASK, 0);
    qtest_writew(f.qts, f.c.bar.addr + CHIMNEY_REG_INTR_MASK, 0);
    qtest_writel(f.qts, f.c.bar.addr + CHIMNEY_REG_INTR_MASK + 1, 0);
    qtest_writeq(f.qts, f.c.bar.addr + CHIMNEY_REG_INTR_MASK, 0);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_INTR_MASK), ==, 3);
    g_assert_cmphex(qtest_readw(f.qts, f.c.bar.addr + CHIMNEY_REG_ID), ==, 0);
    g_assert_cmphex(qtest_readl(f.qts, f.c.bar.addr + CHIMNEY_REG_ID + 2), ==,
                    0);
    qchimney_fx_end(&f);
    g_assert(g_file_get_contents(log, &text, NULL, NULL));
    g_assert(strstr(text, "chimney_err_reg_width"));
    unlink(log);
}

/*
 * CREATE_L2Q: ids 1 (TX) and 2 (RX) name a CQ other than 0; the
 * generic-buffer queue (5) names none (param[0] 0); others are INVALID_ID.
 */
static void test_bad_create_l2q(void)
{
    QChimneyFixture f;
    uint64_t ring;

    qchimney_fx_init(&f, NULL);
    qchimney_fx_start(&f, &(QChimneyConfig) { .no_l2 = true });
    ring = QEMU_ALIGN_UP(guest_alloc(&f.alloc, 64 * 32 + 64), 64);
    g_assert_cmpuint(qchimney_create_cq(&f.c, 2, ring, 32, 1, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    ring += 32 * 32;
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_L2Q,
                                  CHIMNEY_QUEUE_INDICATE, ring, 16, 2, 0, 0),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_L2Q,
                                  CHIMNEY_QUEUE_L2_RX, ring, 16, 0, 0, 0),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    for (uint32_t id = 0; id < 8; id++) {
        if (id == CHIMNEY_QUEUE_L2_TX || id == CHIMNEY_QUEUE_L2_RX ||
            id == CHIMNEY_QUEUE_INDICATE) {
            continue;
        }
        g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_L2Q, id, ring,
                                      16, 0, 0, 0), ==, CHIMNEY_ST_INVALID_ID);
    }
    g_assert_cmpuint(qchimney_cmd(&f, CHIMNEY_CMD_CREATE_L2Q,
                                  CHIMNEY_QUEUE_INDICATE, ring, 16, 0, 0, 0),
                     ==, CHIMNEY_ST_SUCCESS);
    /* The generic-buffer queue posts to no CQ: CQ 2 can go */
    g_assert_cmpuint(qchimney_destroy_cq(&f.c, 2), ==, CHIMNEY_ST_SUCCESS);
    qchimney_fx_end(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_device("chimney-nic")) {
        g_test_skip("chimney-nic is not built in");
        return g_test_run();
    }
    qtest_add_func("/chimney/bringup", test_bringup);
    qtest_add_func("/chimney/properties", test_properties);
    qtest_add_func("/chimney/l2/tx", test_l2_tx);
    qtest_add_func("/chimney/l2/rx", test_l2_rx);
    qtest_add_func("/chimney/l2/rx-backpressure", test_l2_rx_backpressure);
    qtest_add_func("/chimney/msix/masked-pending", test_msix_masked_pending);
    qtest_add_func("/chimney/intx", test_intx);
    qtest_add_func("/chimney/link", test_link);
    qtest_add_func("/chimney/phase-wrap", test_phase_wrap);
    qtest_add_func("/chimney/cq-full", test_cq_full);
    qtest_add_func("/chimney/moderation/count", test_moderation_count);
    qtest_add_func("/chimney/moderation/time", test_moderation_time);
    qtest_add_func("/chimney/moderation/holdoff", test_moderation_holdoff);
    qtest_add_func("/chimney/moderation/holdoff-flag",
                   test_moderation_holdoff_flag);
    qtest_add_func("/chimney/reset-in-traffic", test_reset_in_traffic);
    qtest_add_func("/chimney/migration", test_migration);
    qtest_add_func("/chimney/bad/admin-config", test_bad_admin_config);
    qtest_add_func("/chimney/bad/asq-outside-ram", test_bad_asq_outside_ram);
    qtest_add_func("/chimney/bad/doorbells", test_bad_doorbells);
    qtest_add_func("/chimney/bad/doorbell-disabled",
                   test_bad_doorbell_disabled);
    qtest_add_func("/chimney/bad/cq-doorbell", test_bad_cq_doorbell);
    qtest_add_func("/chimney/bad/admin-commands", test_bad_admin_commands);
    qtest_add_func("/chimney/bad/l2-descriptors", test_bad_l2_descriptors);
    qtest_add_func("/chimney/bad/cq-outside-ram", test_bad_cq_outside_ram);
    qtest_add_func("/chimney/bad/register-access", test_bad_register_access);
    qtest_add_func("/chimney/bad/properties", test_bad_properties);
    qtest_add_func("/chimney/bad/register-width", test_bad_register_width);
    qtest_add_func("/chimney/bad/create-l2q", test_bad_create_l2q);
    return g_test_run();
}
