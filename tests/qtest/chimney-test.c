/*
 * QTest testcase for chimney-nic
 *
 * The test is the guest (through the libqos driver) and, on a socket
 * netdev, the wire.  Bad-input cases check that the device answers with an
 * error completion or a latched fatal status and that QEMU stays alive.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include "qemu/sockets.h"
#include "qemu/iov.h"
#include "qemu/bswap.h"
#include "qemu/atomic.h"
#include "qemu/cutils.h"
#include "qobject/qdict.h"
#include "libqtest.h"
#include "libqos/pci-pc.h"
#include "libqos/malloc-pc.h"
#include "libqos/chimney.h"

#define MAC "52:54:00:12:34:56"
#define FAR_AWAY (1ull << 40)   /* no RAM or MMIO there */

typedef struct Fixture {
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QChimney c;
    int sock;                   /* our end of the socket netdev */
    /* changes establish() makes to the OFFLOAD_TCP block */
    void (*tweak)(struct Fixture *f, ChimneyTcpOffload *o);
} Fixture;

static QTestState *fx_qemu(int *sock, const char *extra)
{
    int sv[2];
    QTestState *qts;

    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    qts = qtest_initf("-M pc -m 256M -nodefaults "
                      "-netdev socket,fd=%d,id=n0 "
                      "-device chimney-nic,netdev=n0,id=nic0,mac=" MAC " %s",
                      sv[1], extra ? extra : "");
    close(sv[1]);
    *sock = sv[0];
    return qts;
}

static void fx_init(Fixture *f, const char *extra)
{
    memset(f, 0, sizeof(*f));
    f->qts = fx_qemu(&f->sock, extra);
    pc_alloc_init(&f->alloc, f->qts, ALLOC_NO_FLAGS);
    f->bus = qpci_new_pc(f->qts, &f->alloc);
}

static void fx_start(Fixture *f, const QChimneyConfig *cfg)
{
    qchimney_start(&f->c, f->qts, f->bus, &f->alloc, cfg);
}

/* Only find the function and map BAR0: the bring-up is the test's. */
static void fx_map(Fixture *f)
{
    f->c.qts = f->qts;
    f->c.pdev = qchimney_find(f->bus);
    qpci_device_enable(f->c.pdev);
    f->c.bar = qpci_iomap(f->c.pdev, CHIMNEY_BAR_MMIO, NULL);
}

/* QEMU must still answer QMP after whatever the test did. */
static void fx_assert_alive(Fixture *f)
{
    QDict *rsp = qtest_qmp(f->qts, "{'execute': 'query-status'}");

    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
}

static void fx_end(Fixture *f)
{
    fx_assert_alive(f);
    qchimney_stop(&f->c);
    qpci_free_pc(f->bus);
    alloc_destroy(&f->alloc);
    qtest_quit(f->qts);
    close(f->sock);
}

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

static void wire_send(Fixture *f, const uint8_t *buf, size_t len)
{
    uint32_t be = htonl(len);
    struct iovec iov[] = {
        { .iov_base = &be, .iov_len = sizeof(be) },
        { .iov_base = (void *)buf, .iov_len = len },
    };

    g_assert_cmpint(iov_send(f->sock, iov, 2, 0, sizeof(be) + len), ==,
                    sizeof(be) + len);
}

static size_t wire_recv(Fixture *f, uint8_t *buf, size_t max)
{
    uint32_t be;

    g_assert_cmpint(recv(f->sock, &be, sizeof(be), MSG_WAITALL), ==,
                    sizeof(be));
    g_assert_cmpuint(ntohl(be), <=, max);
    g_assert_cmpint(recv(f->sock, buf, ntohl(be), MSG_WAITALL), ==,
                    ntohl(be));
    return ntohl(be);
}

static ChimneyCqe expect_cqe(Fixture *f, uint32_t cq, uint8_t type,
                             uint8_t status)
{
    ChimneyCqe cqe;

    qchimney_cq_wait(&f->c, cq, &cqe);
    g_assert_cmpuint(CHIMNEY_CQE_TYPE(cqe.type_status), ==, type);
    g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==, status);
    return cqe;
}

static uint8_t admin(Fixture *f, uint8_t opcode, uint32_t id, uint64_t addr,
                     uint32_t len, uint32_t p0, uint32_t p1, uint32_t p2)
{
    ChimneyAdminCmd cmd = {
        .opcode = opcode, .id = id, .addr = addr, .len = len,
        .param = { p0, p1, p2 },
    };

    return qchimney_admin(&f->c, &cmd, NULL);
}

static uint64_t qom_stat(Fixture *f, const char *name)
{
    QDict *rsp = qtest_qmp(f->qts, "{'execute': 'qom-get', 'arguments': "
                           "{'path': '/machine/peripheral/nic0', "
                           "'property': %s}}", name);
    uint64_t v = qdict_get_int(rsp, "return");

    qobject_unref(rsp);
    return v;
}

static char *qom_str(Fixture *f, const char *name)
{
    QDict *rsp = qtest_qmp(f->qts, "{'execute': 'qom-get', 'arguments': "
                           "{'path': '/machine/peripheral/nic0', "
                           "'property': %s}}", name);
    char *v = g_strdup(qdict_get_str(rsp, "return"));

    qobject_unref(rsp);
    return v;
}

static void assert_fatal(Fixture *f, uint32_t code, uint32_t info)
{
    g_assert(qchimney_wait_status(&f->c, CHIMNEY_STATUS_FATAL,
                                  CHIMNEY_STATUS_FATAL));
    g_assert_cmpuint(qchimney_readl(&f->c, CHIMNEY_REG_FATAL_CODE), ==, code);
    g_assert_cmphex(qchimney_readl(&f->c, CHIMNEY_REG_FATAL_INFO), ==, info);
}

static void test_bringup(void)
{
    Fixture f;
    static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

    fx_init(&f, NULL);
    fx_start(&f, NULL);
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
    fx_end(&f);
}

static void test_properties(void)
{
    Fixture f;

    fx_init(&f, "-global chimney-nic.cqs=4 -global chimney-nic.vectors=2 "
            "-global chimney-nic.max-conns=77");
    fx_start(&f, &(QChimneyConfig) { .no_l2 = true });
    g_assert_cmpuint(f.c.id.num_cqs, ==, 4);
    g_assert_cmpuint(f.c.id.num_vectors, ==, 2);
    g_assert_cmpuint(f.c.id.max_conns, ==, 77);
    fx_end(&f);
}

static void test_l2_tx(void)
{
    Fixture f;
    uint8_t frame[CHIMNEY_L2_MAX_FRAME], got[CHIMNEY_L2_MAX_FRAME];
    static const size_t lens[] = { 14, 60, 1514, 4000, CHIMNEY_L2_MAX_FRAME };

    fx_init(&f, NULL);
    fx_start(&f, NULL);
    for (int i = 0; i < ARRAY_SIZE(lens); i++) {
        for (int segs = 1; segs <= 3; segs++) {
            uint64_t cookie;
            ChimneyCqe cqe;

            make_frame(frame, lens[i], i * 10 + segs);
            cookie = qchimney_l2_send(&f.c, frame, lens[i], segs);
            g_assert_cmpuint(wire_recv(&f, got, sizeof(got)), ==, lens[i]);
            g_assert_cmpmem(got, lens[i], frame, lens[i]);
            cqe = expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX,
                             CHIMNEY_ST_SUCCESS);
            g_assert_cmphex(cqe.cookie, ==, cookie);
            g_assert_cmpuint(cqe.bytes, ==, lens[i]);
            g_assert_cmpuint(cqe.queue, ==, CHIMNEY_QUEUE_L2_TX);
            g_assert_cmpuint(cqe.sq_head, ==, f.c.txq.tail);
        }
    }
    g_assert_cmpuint(qom_stat(&f, "x-stat-tx-frames"), ==,
                     ARRAY_SIZE(lens) * 3);
    fx_end(&f);
}

static void test_l2_rx(void)
{
    Fixture f;
    uint8_t frame[CHIMNEY_L2_MAX_FRAME], got[CHIMNEY_L2_MAX_FRAME];
    static const size_t lens[] = { 14, 60, 1514, 2048 };
    ChimneyCqe cqe;

    fx_init(&f, NULL);
    fx_start(&f, &(QChimneyConfig) { .rx_buffers = 8 });
    for (int i = 0; i < ARRAY_SIZE(lens); i++) {
        make_frame(frame, lens[i], i);
        wire_send(&f, frame, lens[i]);
        g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==,
                         lens[i]);
        g_assert_cmpmem(got, lens[i], frame, lens[i]);
        g_assert_cmpuint(cqe.queue, ==, CHIMNEY_QUEUE_L2_RX);
    }
    /* Too long for the buffer at the head: dropped and counted */
    make_frame(frame, 3000, 99);
    wire_send(&f, frame, 3000);
    make_frame(frame, 100, 100);
    wire_send(&f, frame, 100);
    g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==, 100);
    g_assert_cmpmem(got, 100, frame, 100);
    g_assert_cmpuint(qom_stat(&f, "x-stat-rx-dropped"), ==, 1);
    g_assert_cmpuint(qom_stat(&f, "x-stat-rx-frames"), ==, 5);
    fx_end(&f);
}

static void send_one(Fixture *f, int seed)
{
    uint8_t frame[64], got[64];

    make_frame(frame, 64, seed);
    qchimney_l2_send(&f->c, frame, 64, 1);
    wire_recv(f, got, sizeof(got));
}

static void set_link(Fixture *f, bool up)
{
    qtest_qmp_assert_success(f->qts, "{'execute': 'set_link', 'arguments': "
                             "{'name': 'nic0', 'up': %i}}", up);
}

/* Link changes show in STATUS and as an EVENT on the admin CQ. */
static void test_link(void)
{
    Fixture f;
    ChimneyCqe cqe;

    fx_init(&f, NULL);
    fx_start(&f, NULL);
    for (int round = 0; round < 2; round++) {
        set_link(&f, false);
        cqe = expect_cqe(&f, 0, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_LINK);
        g_assert_cmpuint(cqe.info, ==, 0);
        g_assert(!(qchimney_readl(&f.c, CHIMNEY_REG_STATUS) &
                   CHIMNEY_STATUS_LINK_UP));
        set_link(&f, true);
        cqe = expect_cqe(&f, 0, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(cqe.info, ==, 1);
        g_assert(qchimney_readl(&f.c, CHIMNEY_REG_STATUS) &
                 CHIMNEY_STATUS_LINK_UP);
    }
    fx_end(&f);
}

/* A doorbell rung before the device is enabled does nothing. */
static void test_bad_doorbell_disabled(void)
{
    Fixture f;

    fx_init(&f, NULL);
    fx_map(&f);
    qchimney_writel(&f.c, CHIMNEY_DB_ASQ_TAIL, 3);
    qchimney_writel(&f.c, CHIMNEY_DB_CQ_HEAD(1), 3);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_STATUS), ==,
                    CHIMNEY_STATUS_LINK_UP);
    /* and the device still comes up normally afterwards */
    qchimney_stop(&f.c);
    fx_start(&f, NULL);
    send_one(&f, 1);
    expect_cqe(&f, 1, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_SUCCESS);
    fx_end(&f);
}

/* With no buffers posted, frames wait in the net queue, none is lost. */
static void test_l2_rx_backpressure(void)
{
    Fixture f;
    uint8_t frame[256], got[256];
    ChimneyCqe cqe;

    fx_init(&f, NULL);
    fx_start(&f, NULL);
    for (int i = 0; i < 6; i++) {
        make_frame(frame, 200, i);
        wire_send(&f, frame, 200);
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
    fx_end(&f);
}

static void test_msix_masked_pending(void)
{
    Fixture f;
    uint8_t frame[64], got[64];
    ChimneyCqe cqe;

    fx_init(&f, NULL);
    fx_start(&f, NULL);
    qchimney_msi_clear(&f.c, 1);
    qchimney_msi_mask(&f.c, 1, true);
    make_frame(frame, 64, 1);
    qchimney_l2_send(&f.c, frame, 64, 1);
    wire_recv(&f, got, sizeof(got));
    expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_SUCCESS);
    g_assert(!qchimney_msi_fired(&f.c, 1));
    g_assert(qpci_msix_pending(f.c.pdev, 1));
    /* Unmasking delivers the pending message */
    qchimney_msi_mask(&f.c, 1, false);
    g_assert(qchimney_msi_fired(&f.c, 1));
    g_assert(!qpci_msix_pending(f.c.pdev, 1));
    (void)cqe;
    fx_end(&f);
}

static void test_intx(void)
{
    Fixture f;
    uint8_t frame[64], got[64];

    fx_init(&f, NULL);
    fx_start(&f, &(QChimneyConfig) { .no_msix = true });
    g_assert(qchimney_readl(&f.c, CHIMNEY_REG_INTR_CAUSE) & 1);
    qchimney_writel(&f.c, CHIMNEY_REG_INTR_CAUSE, 0xffffffff);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_INTR_CAUSE), ==, 0);
    make_frame(frame, 64, 1);
    qchimney_l2_send(&f.c, frame, 64, 1);
    wire_recv(&f, got, sizeof(got));
    expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_INTR_CAUSE), ==,
                    1u << QCHIMNEY_L2_CQ);
    fx_end(&f);
}

/* Several laps of every ring, so the phase bit flips back and forth. */
static void test_phase_wrap(void)
{
    Fixture f;
    uint8_t frame[128], got[128];
    ChimneyCqe cqe;
    const int laps = 3, n = 4;

    fx_init(&f, NULL);
    fx_start(&f, &(QChimneyConfig) {
        .admin_entries = n, .l2_entries = n, .cq_entries = n,
    });
    for (int i = 0; i < laps * n; i++) {
        uint64_t buf = guest_alloc(&f.alloc, CHIMNEY_IDENTIFY_SIZE);

        g_assert_cmpuint(admin(&f, CHIMNEY_CMD_IDENTIFY, 0, buf,
                               CHIMNEY_IDENTIFY_SIZE, 0, 0, 0), ==,
                         CHIMNEY_ST_SUCCESS);
    }
    for (int i = 0; i < laps * n; i++) {
        make_frame(frame, 100 + i, i);
        qchimney_l2_send(&f.c, frame, 100 + i, 1);
        g_assert_cmpuint(wire_recv(&f, got, sizeof(got)), ==, 100 + i);
        g_assert_cmpmem(got, 100 + i, frame, 100 + i);
        expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_SUCCESS);
        qchimney_l2_post_rx(&f.c, 1, 256);
        wire_send(&f, frame, 100 + i);
        g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==,
                         100 + i);
        g_assert_cmpmem(got, 100 + i, frame, 100 + i);
    }
    fx_end(&f);
}

/* A full CQ holds completions back and never overwrites. */
static void test_cq_full(void)
{
    Fixture f;
    uint8_t frame[64], got[64];
    ChimneyCqe cqe;

    fx_init(&f, NULL);
    fx_start(&f, &(QChimneyConfig) { .cq_entries = 4, .l2_entries = 16 });
    for (int i = 0; i < 6; i++) {
        make_frame(frame, 64, i);
        qchimney_l2_send(&f.c, frame, 64, 1);
        wire_recv(&f, got, sizeof(got));
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
        wire_recv(&f, got, sizeof(got));
        make_frame(frame, 64, i);
        g_assert_cmpmem(got, 64, frame, 64);
        cqe = expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX,
                         CHIMNEY_ST_SUCCESS);
    }
    fx_end(&f);
}


static void test_moderation_count(void)
{
    Fixture f;
    ChimneyCqe cqe;

    fx_init(&f, NULL);
    fx_start(&f, &(QChimneyConfig) { .mod_count = 4 });
    qchimney_msi_clear(&f.c, 1);
    for (int i = 0; i < 3; i++) {
        send_one(&f, i);
        qchimney_cq_wait(&f.c, QCHIMNEY_L2_CQ, &cqe);
    }
    g_assert(!qchimney_msi_fired(&f.c, 1));
    send_one(&f, 3);
    qchimney_cq_wait(&f.c, QCHIMNEY_L2_CQ, &cqe);
    g_assert(qchimney_msi_fired(&f.c, 1));
    fx_end(&f);
}

static void test_moderation_time(void)
{
    Fixture f;
    ChimneyCqe cqe;
    const int64_t usec = 250;

    fx_init(&f, NULL);
    fx_start(&f, &(QChimneyConfig) { .mod_count = 100, .mod_usec = usec });
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
    fx_end(&f);
}

static void test_reset_in_traffic(void)
{
    Fixture f;
    uint8_t frame[1500];

    fx_init(&f, NULL);
    fx_start(&f, &(QChimneyConfig) { .rx_buffers = 4 });
    for (int i = 0; i < 8; i++) {
        make_frame(frame, sizeof(frame), i);
        qchimney_l2_send(&f.c, frame, sizeof(frame), 2);
        wire_send(&f, frame, sizeof(frame));
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
    fx_start(&f, NULL);
    send_one(&f, 42);
    expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_SUCCESS);

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
    fx_start(&f, NULL);
    send_one(&f, 43);
    expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_SUCCESS);
    fx_end(&f);
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
    Fixture f;
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

    fx_init(&f, NULL);
    fx_start(&f, &(QChimneyConfig) { .rx_buffers = 2, .l2_entries = 4,
                                     .cq_entries = 4 });
    qchimney_ind_create(&f.c, 4, 512);      /* its own subsection */
    send_one(&f, 1);
    expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_SUCCESS);
    qtest_qmp_assert_success(f.qts, "{'execute': 'migrate', 'arguments': "
                             "{'uri': %s}}", uri);
    wait_migration(f.qts);
    qtest_quit(f.qts);
    close(f.sock);

    dst = fx_qemu(&dst_sock, incoming);
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
            len = wire_recv(&f, got, sizeof(got));
        } while (len == 60 && got[12] == 0x80 && got[13] == 0x35);
        g_assert_cmpuint(len, ==, sizeof(frame));
        g_assert_cmpmem(got, sizeof(got), frame, sizeof(frame));
        expect_cqe(&f, QCHIMNEY_L2_CQ, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_SUCCESS);
        wire_send(&f, frame, sizeof(frame));
        g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==,
                         sizeof(frame));
        g_assert_cmpmem(got, sizeof(got), frame, sizeof(frame));
        qchimney_l2_post_rx(&f.c, 1, 2048);
    }
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_IDENTIFY, 0,
                           guest_alloc(&f.alloc, 128), 128, 0, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    /* The generic-buffer queue came along */
    g_assert_cmpuint(qchimney_create_l2q(&f.c, CHIMNEY_QUEUE_INDICATE,
                                         f.c.indq.base, 4, 0), ==,
                     CHIMNEY_ST_INVALID_STATE);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_DESTROY_L2Q,
                           CHIMNEY_QUEUE_INDICATE, 0, 0, 0, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    fx_end(&f);
    unlink(file);
    rmdir(dir);
}

/* --- Bad input: each case answers with an error, QEMU stays up --- */

static void test_bad_admin_config(void)
{
    static const struct {
        uint32_t reg, val, info;
    } cases[] = {
        { CHIMNEY_REG_ASQ_BASE_LO, 0x100020, CHIMNEY_REG_ASQ_SIZE },
        { CHIMNEY_REG_ASQ_SIZE, 3, CHIMNEY_REG_ASQ_SIZE },
        { CHIMNEY_REG_ASQ_SIZE, 1u << 16, CHIMNEY_REG_ASQ_SIZE },
        { CHIMNEY_REG_ACQ_SIZE, 0, CHIMNEY_REG_ACQ_SIZE },
        /* 0xffffffff_ffffffc0 + 16 entries wraps past 2^64 */
        { CHIMNEY_REG_ACQ_BASE_LO, 0xffffffc0, CHIMNEY_REG_ACQ_SIZE },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        Fixture f;

        fx_init(&f, NULL);
        fx_map(&f);
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
        fx_end(&f);
    }
}

static void test_bad_asq_outside_ram(void)
{
    Fixture f;

    fx_init(&f, NULL);
    fx_map(&f);
    qchimney_writel(&f.c, CHIMNEY_REG_ASQ_BASE_LO, 0);
    qchimney_writel(&f.c, CHIMNEY_REG_ASQ_BASE_HI, FAR_AWAY >> 32);
    qchimney_writel(&f.c, CHIMNEY_REG_ASQ_SIZE, 16);
    qchimney_writel(&f.c, CHIMNEY_REG_ACQ_BASE_LO, 0x200000);
    qchimney_writel(&f.c, CHIMNEY_REG_ACQ_SIZE, 16);
    qchimney_writel(&f.c, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_ENABLE);
    g_assert(qchimney_wait_status(&f.c, CHIMNEY_STATUS_READY,
                                  CHIMNEY_STATUS_READY));
    qchimney_writel(&f.c, CHIMNEY_DB_ASQ_TAIL, 1);
    assert_fatal(&f, CHIMNEY_FATAL_ASQ_DMA, 0);
    fx_end(&f);
}

static void test_bad_doorbells(void)
{
    static const uint32_t bells[] = {
        CHIMNEY_DB_ASQ_TAIL, CHIMNEY_DB_L2_TXQ_TAIL, CHIMNEY_DB_L2_RXQ_TAIL,
    };

    for (int i = 0; i < ARRAY_SIZE(bells); i++) {
        Fixture f;

        fx_init(&f, NULL);
        fx_start(&f, NULL);
        /* Index equal to the ring size is one beyond the ring */
        qchimney_writel(&f.c, bells[i], bells[i] == CHIMNEY_DB_ASQ_TAIL ?
                        f.c.dev.asq.size : f.c.txq.size);
        assert_fatal(&f, CHIMNEY_FATAL_DOORBELL, bells[i]);
        fx_end(&f);
    }
}

static void test_bad_cq_doorbell(void)
{
    Fixture f;

    /* CQ head beyond what the device wrote */
    fx_init(&f, NULL);
    fx_start(&f, NULL);
    qchimney_writel(&f.c, CHIMNEY_DB_CQ_HEAD(QCHIMNEY_L2_CQ), 5);
    assert_fatal(&f, CHIMNEY_FATAL_DOORBELL,
                 CHIMNEY_DB_CQ_HEAD(QCHIMNEY_L2_CQ));
    fx_end(&f);

    /* Doorbell of a CQ that does not exist */
    fx_init(&f, NULL);
    fx_start(&f, NULL);
    qchimney_writel(&f.c, CHIMNEY_DB_CQ_HEAD(5), 0);
    assert_fatal(&f, CHIMNEY_FATAL_DOORBELL, CHIMNEY_DB_CQ_HEAD(5));
    fx_end(&f);

    /* Doorbell beyond the last CQ */
    fx_init(&f, NULL);
    fx_start(&f, NULL);
    qchimney_writel(&f.c, CHIMNEY_DB_CQ_HEAD(CHIMNEY_MAX_CQS), 0);
    assert_fatal(&f, CHIMNEY_FATAL_DOORBELL,
                 CHIMNEY_DB_CQ_HEAD(CHIMNEY_MAX_CQS));
    fx_end(&f);
}

static void test_bad_admin_commands(void)
{
    Fixture f;
    uint64_t ring;

    fx_init(&f, NULL);
    fx_start(&f, &(QChimneyConfig) { .no_l2 = true });
    ring = guest_alloc(&f.alloc, 64 * 32);
    ring = QEMU_ALIGN_UP(ring, 64);

    /* Unknown opcode, nonzero flags */
    g_assert_cmpuint(admin(&f, 0x7f, 0, 0, 0, 0, 0, 0), ==,
                     CHIMNEY_ST_INVALID_OPCODE);
    {
        ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_IDENTIFY, .flags = 1 };

        g_assert_cmpuint(qchimney_admin(&f.c, &cmd, NULL), ==,
                         CHIMNEY_ST_INVALID_PARAM);
    }
    /* IDENTIFY: short buffer, buffer outside guest RAM */
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_IDENTIFY, 0, ring, 64, 0, 0, 0),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_IDENTIFY, 0, FAR_AWAY, 128, 0, 0,
                           0), ==, CHIMNEY_ST_DMA_ERROR);
    /* SET_PARAMS out of range */
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_SET_PARAMS, 0, 0, 0, 7, 2, 200),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    /* CREATE_CQ: bad ids */
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_CQ, 0, ring, 64, 0, 0, 0),
                     ==, CHIMNEY_ST_INVALID_ID);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_CQ, 8, ring, 64, 0, 0, 0),
                     ==, CHIMNEY_ST_INVALID_ID);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_CQ, 0xffffffff, ring, 64, 0,
                           0, 0), ==, CHIMNEY_ST_INVALID_ID);
    /* CREATE_CQ: geometry and vector */
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring + 8, 64, 0, 0,
                           0), ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring, 48, 0, 0, 0),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring, 1u << 16, 0, 0,
                           0), ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring, 2, 0, 0, 0),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_CQ, 2, -64ull, 64, 0, 0, 0),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring, 64, 8, 0, 0),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring, 64, 1, 0,
                           CHIMNEY_CQ_MOD_USEC_MAX + 1),
                     ==, CHIMNEY_ST_INVALID_PARAM);
    /* DESTROY_CQ of the admin CQ or a CQ that does not exist */
    g_assert_cmpuint(qchimney_destroy_cq(&f.c, 0), ==, CHIMNEY_ST_INVALID_ID);
    g_assert_cmpuint(qchimney_destroy_cq(&f.c, 3), ==, CHIMNEY_ST_INVALID_ID);
    /* A good CQ, then twice */
    g_assert_cmpuint(qchimney_create_cq(&f.c, 2, ring, 64, 1, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_CQ, 2, ring, 64, 0, 0, 0),
                     ==, CHIMNEY_ST_INVALID_STATE);
    /* CREATE_L2Q: bad queue, CQ that does not exist, the admin CQ */
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_L2Q, 9, ring, 64, 2, 0, 0),
                     ==, CHIMNEY_ST_INVALID_ID);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_L2Q, CHIMNEY_QUEUE_L2_TX,
                           ring, 64, 4, 0, 0), ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_CREATE_L2Q, CHIMNEY_QUEUE_L2_TX,
                           ring, 64, 0, 0, 0), ==, CHIMNEY_ST_INVALID_PARAM);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_DESTROY_L2Q, CHIMNEY_QUEUE_L2_RX,
                           0, 0, 0, 0, 0), ==, CHIMNEY_ST_INVALID_ID);
    /* A CQ destroyed while a queue posts to it */
    g_assert_cmpuint(qchimney_create_l2q(&f.c, CHIMNEY_QUEUE_L2_TX,
                                         ring + 64 * 32 / 2, 32, 2), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_destroy_cq(&f.c, 2), ==, CHIMNEY_ST_IN_USE);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_DESTROY_L2Q, CHIMNEY_QUEUE_L2_TX,
                           0, 0, 0, 0, 0), ==, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_destroy_cq(&f.c, 2), ==, CHIMNEY_ST_SUCCESS);
    /* The device still works */
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_IDENTIFY, 0, ring, 128, 0, 0, 0),
                     ==, CHIMNEY_ST_SUCCESS);
    g_assert(!(qchimney_readl(&f.c, CHIMNEY_REG_STATUS) &
               CHIMNEY_STATUS_FATAL));
    fx_end(&f);
}

static void post_tx_desc(Fixture *f, uint64_t addr, uint32_t len,
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
    Fixture f;
    uint64_t buf;
    ChimneyCqe cqe;
    QChimneyRing *rx;
    ChimneyL2RxDesc d = { 0 };
    uint8_t frame[100];

    fx_init(&f, NULL);
    fx_start(&f, NULL);
    buf = guest_alloc(&f.alloc, 4096);

    /* TX buffer outside guest RAM */
    post_tx_desc(&f, FAR_AWAY, 64, CHIMNEY_L2TX_EOP, 1);
    qchimney_ring_doorbell(&f.c, &f.c.txq);
    cqe = expect_cqe(&f, 1, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(cqe.cookie, ==, 1);
    /* Zero-length segment; runt frame; frame over the limit */
    post_tx_desc(&f, buf, 0, CHIMNEY_L2TX_EOP, 2);
    post_tx_desc(&f, buf, 10, CHIMNEY_L2TX_EOP, 3);
    for (int i = 0; i < 3; i++) {
        post_tx_desc(&f, buf, 4000, i == 2 ? CHIMNEY_L2TX_EOP : 0, 4);
    }
    qchimney_ring_doorbell(&f.c, &f.c.txq);
    for (int i = 2; i <= 4; i++) {
        cqe = expect_cqe(&f, 1, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_BAD_DESCRIPTOR);
        g_assert_cmphex(cqe.cookie, ==, i);
        g_assert_cmpuint(cqe.bytes, ==, 0);
    }
    g_assert_cmpuint(cqe.sq_head, ==, f.c.txq.tail);
    /* More descriptors than a frame may have, none with EOP */
    for (int i = 0; i < CHIMNEY_L2_MAX_TX_SGE; i++) {
        post_tx_desc(&f, buf, 64, 0, 5);
    }
    qchimney_ring_doorbell(&f.c, &f.c.txq);
    cqe = expect_cqe(&f, 1, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_BAD_DESCRIPTOR);
    g_assert_cmpuint(cqe.sq_head, ==, f.c.txq.tail);

    /* RX: a zero-length buffer and one outside guest RAM */
    rx = &f.c.rxq;
    d.len = 0;
    d.cookie = cpu_to_le64(0xaa);
    qtest_memwrite(f.qts, rx->base + rx->tail * sizeof(d), &d, sizeof(d));
    rx->tail++;
    d.addr = cpu_to_le64(FAR_AWAY);
    d.len = cpu_to_le32(2048);
    d.cookie = cpu_to_le64(0xbb);
    qtest_memwrite(f.qts, rx->base + rx->tail * sizeof(d), &d, sizeof(d));
    rx->tail++;
    qchimney_ring_doorbell(&f.c, rx);
    make_frame(frame, sizeof(frame), 7);
    wire_send(&f, frame, sizeof(frame));
    cqe = expect_cqe(&f, 1, CHIMNEY_CQE_L2_RX, CHIMNEY_ST_BAD_DESCRIPTOR);
    g_assert_cmphex(cqe.cookie, ==, 0xaa);
    cqe = expect_cqe(&f, 1, CHIMNEY_CQE_L2_RX, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(cqe.cookie, ==, 0xbb);
    /* Still a working NIC */
    send_one(&f, 9);
    expect_cqe(&f, 1, CHIMNEY_CQE_L2_TX, CHIMNEY_ST_SUCCESS);
    fx_end(&f);
}

static void test_bad_cq_outside_ram(void)
{
    Fixture f;
    uint8_t frame[64], got[64];

    fx_init(&f, NULL);
    fx_start(&f, &(QChimneyConfig) { .no_l2 = true });
    g_assert_cmpuint(qchimney_create_cq(&f.c, 1, FAR_AWAY, 64, 1, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    f.c.tx_area = guest_alloc(&f.alloc, 64 * QCHIMNEY_TX_SLOT);
    g_assert_cmpuint(qchimney_create_l2q(&f.c, CHIMNEY_QUEUE_L2_TX,
                                         QEMU_ALIGN_UP(guest_alloc(&f.alloc,
                                                       64 * 33), 64),
                                         64, 1), ==, CHIMNEY_ST_SUCCESS);
    make_frame(frame, 64, 1);
    qchimney_l2_send(&f.c, frame, 64, 1);
    wire_recv(&f, got, sizeof(got));
    assert_fatal(&f, CHIMNEY_FATAL_CQ_DMA, 1);
    fx_end(&f);
}

static void test_bad_register_access(void)
{
    Fixture f;

    fx_init(&f, NULL);
    fx_start(&f, NULL);
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
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_IDENTIFY, 0,
                           guest_alloc(&f.alloc, 128), 128, 0, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    fx_end(&f);
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
 * The device against libslirp (-netdev user): ARP for the gateway with the
 * model driver's host stack, then ping it.  The first README command runs
 * this and reports what happened.
 */
static void test_slirp_ping(void)
{
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QChimney c;
    QChimneyConn hc = {
        .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 },
        .ip = cpu_to_be32(0x0a00020f),          /* 10.0.2.15 */
        .peer_ip = cpu_to_be32(0x0a000202),     /* 10.0.2.2 */
    };
    uint8_t f[128], got[2048];
    ChimneyCqe cqe;
    size_t len;

    qts = qtest_init("-M pc -m 256M -nodefaults -netdev user,id=n0 "
                     "-device chimney-nic,netdev=n0,id=nic0,mac=" MAC);
    pc_alloc_init(&alloc, qts, ALLOC_NO_FLAGS);
    bus = qpci_new_pc(qts, &alloc);
    qchimney_start(&c, qts, bus, &alloc, &(QChimneyConfig) {
        .rx_buffers = 16, .rx_own_cq = true,
    });
    g_test_message("chimney-nic up: %u CQs, %u MSI-X vectors, MAC "
                   "%02x:%02x:%02x:%02x:%02x:%02x", c.id.num_cqs,
                   c.id.num_vectors, c.id.mac[0], c.id.mac[1], c.id.mac[2],
                   c.id.mac[3], c.id.mac[4], c.id.mac[5]);

    qchimney_arp_request(&c, &hc);
    g_test_message("sent ARP request for 10.0.2.2");
    qchimney_arp_reply_wait(&c, &hc);
    g_test_message("ARP reply: 10.0.2.2 is at %02x:%02x:%02x:%02x:%02x:%02x",
                   hc.peer_mac[0], hc.peer_mac[1], hc.peer_mac[2],
                   hc.peer_mac[3], hc.peer_mac[4], hc.peer_mac[5]);

    /* ICMP echo to the gateway, each frame in two TX descriptors */
    for (int seq = 1; seq <= 3; seq++) {
        uint8_t *ip = f + 14, *icmp = f + 34;

        memset(f, 0, sizeof(f));
        memcpy(f, hc.peer_mac, 6);
        memcpy(f + 6, hc.mac, 6);
        stw_be_p(f + 12, 0x0800);
        ip[0] = 0x45;
        stw_be_p(ip + 2, 20 + 8 + 32);
        stw_be_p(ip + 4, seq);
        ip[8] = 64;
        ip[9] = 1;
        memcpy(ip + 12, &hc.ip, 4);
        memcpy(ip + 16, &hc.peer_ip, 4);
        stw_be_p(ip + 10, qchimney_csum(ip, 20, 0));
        icmp[0] = 8;
        stw_be_p(icmp + 4, 0x1234);
        stw_be_p(icmp + 6, seq);
        for (int i = 0; i < 32; i++) {
            icmp[8 + i] = 'a' + i % 26;
        }
        stw_be_p(icmp + 2, qchimney_csum(icmp, 40, 0));
        qchimney_l2_send(&c, f, 14 + 60, 2);
        qchimney_cq_wait(&c, QCHIMNEY_L2_CQ, &cqe);
        g_assert_cmpuint(CHIMNEY_CQE_TYPE(cqe.type_status), ==,
                         CHIMNEY_CQE_L2_TX);
        g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                         CHIMNEY_ST_SUCCESS);
        len = qchimney_l2_recv(&c, got, sizeof(got), &cqe);
        qchimney_l2_post_rx(&c, 1, 2048);
        g_assert_cmpuint(len, >=, 14 + 60);
        g_assert_cmphex(lduw_be_p(got + 12), ==, 0x0800);
        g_assert_cmpuint(got[14 + 9], ==, 1);
        g_assert_cmpuint(got[34], ==, 0);               /* echo reply */
        g_assert_cmpuint(lduw_be_p(got + 34 + 6), ==, seq);
        g_assert_cmpmem(got + 42, 32, f + 42, 32);
        g_test_message("ping 10.0.2.2 seq %d: echo reply, %zu bytes, payload "
                       "intact", seq, len);
    }
    qchimney_stop(&c);
    qpci_free_pc(bus);
    alloc_destroy(&alloc);
    qtest_quit(qts);
}


/* --- offloaded TCP connections: the test is the peer on the wire --- */

#define PEER_MAC "\x02\x00\x00\x00\x00\x02"

typedef struct PeerSeg {
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd, ip_id, ip_off;
    uint32_t len;
    uint8_t data[2048];
} PeerSeg;

static void wire_expect_ip(const uint8_t *f, size_t len)
{
    g_assert_cmpuint(len, >=, 54);
    g_assert_cmphex(lduw_be_p(f + 12), ==, 0x0800);
    g_assert_cmphex(qchimney_csum(f + 14, 20, 0), ==, 0);
}

/* Read the device's next TCP segment from the wire and check it. */
static void peer_read(Fixture *f, PeerSeg *ps)
{
    uint8_t fr[2048];
    size_t len = wire_recv(f, fr, sizeof(fr));
    uint8_t *ip = fr + 14, *th = ip + 20;
    size_t doff, tcp_len;
    uint32_t sum;

    wire_expect_ip(fr, len);
    tcp_len = lduw_be_p(ip + 2) - 20;
    sum = qchimney_csum(ip + 12, 8, 0);
    sum = (uint16_t)~sum + 6 + tcp_len;
    g_assert_cmphex(qchimney_csum(th, tcp_len, sum), ==, 0);
    doff = (th[12] >> 4) * 4;
    ps->seq = ldl_be_p(th + 4);
    ps->ack = ldl_be_p(th + 8);
    ps->flags = th[13];
    ps->wnd = lduw_be_p(th + 14);
    ps->ip_id = lduw_be_p(ip + 4);
    ps->ip_off = lduw_be_p(ip + 6);
    ps->len = tcp_len - doff;
    g_assert_cmpuint(ps->len, <=, sizeof(ps->data));
    memcpy(ps->data, th + doff, ps->len);
}

/* The peer sends a segment to the device's connection @hc. */
static void peer_send(Fixture *f, QChimneyConn *hc, uint32_t seq,
                      uint32_t ack, uint8_t flags, uint16_t wnd,
                      const uint8_t *opt, size_t optlen)
{
    uint8_t fr[128];
    QChimneyTcpAddr from = {
        .src_mac = (const uint8_t *)PEER_MAC, .dst_mac = hc->mac,
        .src_ip = hc->peer_ip, .dst_ip = hc->ip,
        .src_port = hc->peer_port, .dst_port = hc->port,
    };
    size_t len = qchimney_tcp_frame(fr, &from, seq, ack, flags, wnd, opt,
                                    optlen);

    wire_send(f, fr, len);
}

static void peer_ack(Fixture *f, QChimneyConn *hc, uint32_t ack)
{
    peer_send(f, hc, hc->irs + 1, ack, 0x10, 65535, NULL, 0);
}

static void conn_setup(Fixture *f, QChimneyConn *hc, uint32_t index,
                       uint32_t cq, uint32_t sq_size)
{
    static const uint8_t dev_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

    memset(hc, 0, sizeof(*hc));
    memcpy(hc->mac, dev_mac, 6);
    hc->ip = cpu_to_be32(0x0a000001);
    hc->peer_ip = cpu_to_be32(0x0a000002);
    hc->port = 40000 + index;
    hc->peer_port = 5001;
    hc->id = CHIMNEY_CONN_ID(index, 1);
    hc->cq = cq;
    hc->sq_size = sq_size;
    hc->sq_base = QEMU_ALIGN_UP(guest_alloc(&f->alloc, sq_size * 32 + 64),
                                64);
    hc->db_record = guest_alloc(&f->alloc, 8);
    qtest_memset(f->qts, hc->db_record, 0, 8);
}

/*
 * The whole road to an offloaded connection: ARP, the handshake through
 * the L2 queues with the test answering on the wire, then OFFLOAD of the
 * neighbor, the path and the connection.
 */
static void establish(Fixture *f, QChimneyConn *hc, uint32_t iss,
                      uint32_t irs)
{
    static const uint8_t mss[4] = { 2, 4, 0x03, 0xe8 };    /* MSS 1000 */
    uint8_t fr[2048], reply[60] = { 0 };
    ChimneyTcpOffload o;
    PeerSeg ps;

    qchimney_arp_request(&f->c, hc);
    g_assert_cmpuint(wire_recv(f, fr, sizeof(fr)), ==, 60);
    g_assert_cmphex(lduw_be_p(fr + 12), ==, 0x0806);
    g_assert_cmpmem(fr + 38, 4, &hc->peer_ip, 4);
    memcpy(reply, hc->mac, 6);
    memcpy(reply + 6, PEER_MAC, 6);
    stw_be_p(reply + 12, 0x0806);
    memcpy(reply + 14, fr + 14, 6);
    stw_be_p(reply + 20, 2);
    memcpy(reply + 22, PEER_MAC, 6);
    memcpy(reply + 28, &hc->peer_ip, 4);
    memcpy(reply + 32, hc->mac, 6);
    memcpy(reply + 38, &hc->ip, 4);
    wire_send(f, reply, sizeof(reply));
    qchimney_arp_reply_wait(&f->c, hc);
    g_assert_cmpmem(hc->peer_mac, 6, PEER_MAC, 6);

    hc->iss = iss;
    qchimney_tcp_syn(&f->c, hc);
    peer_read(f, &ps);
    g_assert_cmphex(ps.flags, ==, 0x02);
    g_assert_cmpuint(ps.seq, ==, iss);
    peer_send(f, hc, irs, iss + 1, 0x12, 65535, mss, sizeof(mss));
    qchimney_tcp_synack_wait(&f->c, hc);
    peer_read(f, &ps);
    g_assert_cmphex(ps.flags, ==, 0x10);
    g_assert_cmpuint(ps.ack, ==, irs + 1);
    g_assert_cmpuint(hc->peer_mss, ==, 1000);

    g_assert_cmpuint(qchimney_offload_neighbor(&f->c, 0, hc->mac,
                                               hc->peer_mac), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_offload_path(&f->c, 0, 0, hc->ip, hc->peer_ip,
                                           1500), ==, CHIMNEY_ST_SUCCESS);
    qchimney_tcp_block(hc, 0, hc->cq, &o);
    if (f->tweak) {
        f->tweak(f, &o);
    }
    g_assert_cmpuint(qchimney_offload_tcp(&f->c, hc, &o, 0), ==,
                     CHIMNEY_ST_SUCCESS);
}

static void tcp_fixture_cq(Fixture *f, QChimneyConn *hc, uint32_t iss,
                           uint32_t cq_entries, const char *extra)
{
    uint64_t ring;

    fx_init(f, extra);
    fx_start(f, &(QChimneyConfig) { .rx_buffers = 8 });
    ring = QEMU_ALIGN_UP(guest_alloc(&f->alloc, cq_entries * 32 + 64), 64);
    qtest_memset(f->qts, ring, 0, cq_entries * 32);
    g_assert_cmpuint(qchimney_create_cq(&f->c, 2, ring, cq_entries, 2, 0, 0),
                     ==, CHIMNEY_ST_SUCCESS);
    conn_setup(f, hc, 5, 2, 16);
    establish(f, hc, iss, 777);
}

static void tcp_fixture(Fixture *f, QChimneyConn *hc, uint32_t iss)
{
    tcp_fixture_cq(f, hc, iss, 256, NULL);
}

/* Read segments until @total payload bytes arrived; check the pattern. */
static void peer_read_data(Fixture *f, uint32_t start, uint32_t total,
                           const uint64_t *cookies, const uint32_t *lens,
                           int nreq)
{
    uint32_t got = 0;
    int r = 0;
    uint32_t roff = 0;
    PeerSeg ps;

    while (got < total) {
        peer_read(f, &ps);
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

static bool cq_quiet(Fixture *f, uint32_t cq)
{
    ChimneyCqe cqe;

    return !qchimney_cq_wait_timeout(&f->c, cq, &cqe, 100 * 1000);
}

/* Sends complete only with the ACK of their last byte, in order. */
static void test_tcp_send(void)
{
    Fixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 1500 };
    static const uint32_t s2[] = { 100, 200, 1700 };
    static const uint32_t s3[] = { 1, 2, 3, 5, 7, 11, 13, 17, 19 };
    const uint64_t cookies[] = { 0x11, 0x22, 0x33 };
    uint32_t lens[3], start;
    ChimneyCqe cqe;
    uint64_t qbuf;
    ChimneyTcpDelegated d;
    PeerSeg ps;

    tcp_fixture(&f, &hc, 0xfffffc00);       /* crosses 2^32 */
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
    g_assert(cq_quiet(&f, 2));
    peer_ack(&f, &hc, start + lens[0] - 1);
    g_assert(cq_quiet(&f, 2));
    g_assert(!qchimney_msi_fired(&f.c, 2));
    peer_ack(&f, &hc, start + lens[0]);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, cookies[0]);
    g_assert_cmpuint(cqe.bytes, ==, lens[0]);
    g_assert_cmpuint(cqe.sq_head, ==, 1);
    g_assert_cmphex(cqe.obj, ==, hc.id);
    g_assert_cmpuint(cqe.queue, ==, CHIMNEY_QUEUE_CONN_SQ);
    g_assert(qchimney_msi_fired(&f.c, 2));
    /* One ACK for the rest: two completions, in order */
    peer_ack(&f, &hc, start + lens[0] + lens[1] + lens[2]);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, cookies[1]);
    g_assert_cmpuint(cqe.bytes, ==, lens[1]);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
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
    peer_read(&f, &ps);
    g_assert(ps.flags & 0x01);
    g_assert(cq_quiet(&f, 2));
    peer_ack(&f, &hc, ps.seq + 1);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_DISCONNECT, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x44);

    /* TERMINATE, then the id is free */
    g_assert_cmpuint(qchimney_conn_cmd(&f.c, &hc, CHIMNEY_CMD_TERMINATE,
                                       qbuf, &cqe), ==, CHIMNEY_ST_SUCCESS);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.state), ==, CHIMNEY_TCP_FIN_WAIT2);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_QUERY_TCP, hc.id, qbuf, 0, 0, 0,
                           0), ==, CHIMNEY_ST_INVALID_ID);
    fx_end(&f);
}

/* Lost segment: retransmitted on the RTO, on QEMU's virtual clock */
static void test_tcp_retransmit(void)
{
    Fixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 800 };
    PeerSeg ps, again;
    ChimneyCqe cqe;
    g_autofree char *stats = NULL;

    tcp_fixture(&f, &hc, 1000);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 9, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    peer_read(&f, &ps);
    qtest_clock_step(f.qts, 1000 * 1000 * 1000 - 1);
    g_assert(cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1);
    peer_read(&f, &again);
    g_assert_cmpuint(again.seq, ==, ps.seq);
    g_assert_cmpuint(again.len, ==, 800);
    g_assert_cmpmem(again.data, 800, ps.data, 800);
    peer_ack(&f, &hc, ps.seq + 800);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.bytes, ==, 800);
    stats = qom_str(&f, "x-conn-stats");
    g_assert(strstr(stats, "retransmits=1 "));
    fx_end(&f);
}

/* TERMINATE with requests outstanding: returned first, then the command */
static void test_tcp_terminate(void)
{
    Fixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 1000, 1000 };
    static const uint32_t s2[] = { 500 };
    uint64_t qbuf;
    ChimneyCqe cqe;
    ChimneyTcpDelegated d;
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_TERMINATE,
                            .param = { CHIMNEY_OBJ_TCP } };
    ChimneyNdisTcpDelegated nd = { 0 };
    PeerSeg ps;

    tcp_fixture(&f, &hc, 50000);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, s1, 2, NULL);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 2, s2, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    for (int i = 0; i < 3; i++) {
        peer_read(&f, &ps);
    }
    peer_ack(&f, &hc, 50001 + 700);
    g_assert(cq_quiet(&f, 2));
    qbuf = guest_alloc(&f.alloc, sizeof(d));
    cmd.id = hc.id;
    cmd.addr = qbuf;
    cmd.cookie = 0xabc;
    qchimney_admin_submit(&f.c, &cmd);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    g_assert_cmphex(cqe.cookie, ==, 1);
    g_assert_cmpuint(cqe.bytes, ==, 700);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    g_assert_cmphex(cqe.cookie, ==, 2);
    g_assert_cmpuint(cqe.bytes, ==, 0);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
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
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_TERMINATE, hc.id, qbuf, 0,
                           CHIMNEY_OBJ_TCP, 0, 0), ==, CHIMNEY_ST_INVALID_ID);
    fx_end(&f);
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
    Fixture f;
    int n = 0;

    tcp_fixture(&f, &hc, 50000);
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
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_TERMINATE, 0, 0, 0,
                           CHIMNEY_OBJ_NEIGHBOR, 0, 0), ==,
                     CHIMNEY_ST_IN_USE);    /* parents first: refused */
    qbuf = guest_alloc(&f.alloc, sizeof(ChimneyTcpDelegated));
    n = 0;
    for (cur = chimney_guest_walk_first(&b[TREE_N], true); cur;
         cur = chimney_guest_walk_next(cur, true, true)) {
        int i = cur - b;

        g_assert_cmpint(i, ==, bottom_up[n++]);
        if (kind[i] != CHIMNEY_OBJ_TCP) {
            g_assert_cmpuint(admin(&f, CHIMNEY_CMD_TERMINATE, id[i], 0, 0,
                                   kind[i], 0, 0), ==, CHIMNEY_ST_SUCCESS);
            continue;
        }
        cmd = (ChimneyAdminCmd) {
            .opcode = CHIMNEY_CMD_TERMINATE, .id = id[i], .addr = qbuf,
            .cookie = 0x7e, .param = { CHIMNEY_OBJ_TCP },
        };
        qchimney_admin_submit(&f.c, &cmd);
        g_assert_cmphex(expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN,
                                   CHIMNEY_ST_SUCCESS).cookie, ==, 0x7e);
    }
    g_assert_cmpint(n, ==, TREE_BLOCKS);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_TERMINATE, 0, 0, 0,
                           CHIMNEY_OBJ_NEIGHBOR, 0, 0), ==,
                     CHIMNEY_ST_INVALID_ID);
    fx_end(&f);
}

/* Peer RST: outstanding requests abort, then the ABORT event */
static void test_tcp_rst(void)
{
    Fixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 300 };
    ChimneyCqe cqe;
    PeerSeg ps;

    tcp_fixture(&f, &hc, 9);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, s1, 1, NULL);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 2, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    peer_read(&f, &ps);
    peer_read(&f, &ps);
    peer_send(&f, &hc, hc.irs + 1, 0, 0x04, 0, NULL, 0);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 1);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 2);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_ABORT);
    /* Resources stay until TERMINATE; a later send is aborted too */
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 3, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 3);
    g_assert_cmpuint(qchimney_conn_cmd(&f.c, &hc, CHIMNEY_CMD_TERMINATE,
                                       guest_alloc(&f.alloc, 96), &cqe), ==,
                     CHIMNEY_ST_SUCCESS);
    fx_end(&f);
}

static uint64_t qemu_rss_kib(Fixture *f)
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
    Fixture f;
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
    fx_init(&f, args);
    fx_start(&f, &(QChimneyConfig) { .rx_buffers = 8 });
    ring = QEMU_ALIGN_UP(guest_alloc(&f.alloc, 8192 * 32 + 64), 64);
    qtest_memset(f.qts, ring, 0, 8192 * 32);
    g_assert_cmpuint(qchimney_create_cq(&f.c, 2, ring, 8192, 2, 64, 100), ==,
                     CHIMNEY_ST_SUCCESS);
    conn_setup(&f, &hc[0], 0, 2, 4);
    memcpy(hc[0].peer_mac, PEER_MAC, 6);
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
            size_t len = wire_recv(&f, fr, sizeof(fr));
            uint32_t idx = lduw_be_p(fr + 34) - 10000 +
                           (lduw_be_p(fr + 36) - 5001) * 50000;

            wire_expect_ip(fr, len);
            g_assert_cmpuint(idx, >=, b);
            g_assert_cmpuint(idx, <, end);
            g_assert_cmpuint(len, ==, 14 + 40 + 100);
            seen[idx]++;
        }
        /* ACKs in reverse order, so completions interleave */
        for (uint32_t i = end; i-- > b;) {
            g_assert_cmpuint(seen[i], ==, 1);
            peer_ack(&f, &hc[i], hc[i].iss + 1 + 100);
        }
        for (uint32_t i = b; i < end; i++) {
            ChimneyCqe cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND,
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
    g_test_message("%u connections: offload %.1f us each, send+ACK+complete "
                   "%.1f us each; QEMU RSS %+" PRId64 " KiB (%.2f KiB per "
                   "connection)", n, (double)(t1 - t0) / n,
                   (double)(t2 - t1) / n, (int64_t)(rss1 - rss0),
                   (double)(int64_t)(rss1 - rss0) / n);
    fx_end(&f);
}


/*
 * Offload with data the host had sent: SQ entries [0, handover) carry
 * it, [SndUna, SndNxt) is in flight, sending resumes at SndNxt.
 */
static void test_tcp_handover(void)
{
    Fixture f;
    QChimneyConn hc, h2;
    static const uint32_t s1[] = { 1500 };
    const uint64_t cookies[] = { 0x61, 0x62 };
    const uint32_t lens[] = { 1500, 1500 };
    ChimneyTcpOffload o;
    ChimneyCqe cqe;
    uint8_t expect[1000];
    PeerSeg ps;

    tcp_fixture(&f, &hc, 100);
    conn_setup(&f, &h2, 6, 2, 16);
    memcpy(h2.peer_mac, PEER_MAC, 6);
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
    g_assert(cq_quiet(&f, 2));

    o.delegated.snd_max = cpu_to_le32(1001 + 2000);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &h2, &o, 2), ==,
                     CHIMNEY_ST_SUCCESS);
    /* [SndNxt, SndMax) first, then the rest of the data */
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.seq, ==, 2001);
    g_assert_cmpuint(ps.len, ==, 1000);
    for (int i = 0; i < 1000; i++) {
        expect[i] = i < 500 ? cookies[0] * 131 + (1000 + i) * 7 :
                              cookies[1] * 131 + (i - 500) * 7;
    }
    g_assert_cmpmem(ps.data, 1000, expect, 1000);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.seq, ==, 3001);
    peer_send(&f, &h2, h2.irs + 1, 2501, 0x10, 65535, NULL, 0);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, cookies[0]);
    g_assert_cmpuint(cqe.bytes, ==, lens[0]);
    g_assert_cmpuint(cqe.sq_head, ==, 1);
    peer_send(&f, &h2, h2.irs + 1, 4001, 0x10, 65535, NULL, 0);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, cookies[1]);
    g_assert_cmpuint(cqe.sq_head, ==, 2);
    fx_end(&f);
}

/* Abortive disconnect: RST now, the sends abort, then the disconnect */
static void test_tcp_abortive(void)
{
    Fixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 400 };
    ChimneyCqe cqe;
    PeerSeg ps;

    tcp_fixture(&f, &hc, 77);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    peer_read(&f, &ps);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_DISCONNECT, CHIMNEY_SQF_ABORTIVE,
                     2, NULL, 0, NULL);
    qchimney_sq_kick(&f.c, &hc);
    peer_read(&f, &ps);
    g_assert(ps.flags & 0x04);
    g_assert_cmpuint(ps.seq, ==, 78 + 400);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 1);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_DISCONNECT, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 2);
    fx_end(&f);
}

/* An invalidated path: its connections stop and ask for an upload */
static void test_tcp_invalidate(void)
{
    Fixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 100 };
    ChimneyCqe cqe;
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_TERMINATE, .cookie = 0x77,
                            .param = { CHIMNEY_OBJ_TCP } };

    tcp_fixture(&f, &hc, 5);
    cmd.id = hc.id;
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_INVALIDATE, 0, 0, 0,
                           CHIMNEY_OBJ_PATH, 0, 0), ==, CHIMNEY_ST_SUCCESS);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_INVALID_STATE);
    g_assert_cmphex(cqe.obj, ==, hc.id);
    /* Again: no second event */
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_INVALIDATE, 0, 0, 0,
                           CHIMNEY_OBJ_PATH, 0, 0), ==, CHIMNEY_ST_SUCCESS);
    g_assert(cq_quiet(&f, 2));
    /* Nothing is sent any more; TERMINATE returns the request */
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 1, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    g_assert(cq_quiet(&f, 2));
    {
        uint8_t b;

        g_assert_cmpint(recv(f.sock, &b, 1, MSG_DONTWAIT), ==, -1);
    }
    cmd.addr = guest_alloc(&f.alloc, 96);
    qchimney_admin_submit(&f.c, &cmd);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    g_assert_cmphex(cqe.cookie, ==, 1);
    g_assert_cmpuint(cqe.bytes, ==, 0);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x77);
    fx_end(&f);
}


/* --- completion fault injection --- */

/* Segments connection @index has taken in, from x-conn-stats */
static uint64_t conn_segs_in(Fixture *f, uint32_t index)
{
    g_autofree char *stats = qom_str(f, "x-conn-stats");
    g_autofree char *prefix = g_strdup_printf("%u: ", index);
    char *line = stats;

    while (line && !g_str_has_prefix(line, prefix)) {
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    g_assert(line);
    return g_ascii_strtoull(strstr(line, "segs_in=") + 8, NULL, 10);
}

/*
 * Send a segment and wait until the device has processed it, so that
 * virtual time stepped afterwards starts from its arrival.
 */
static void peer_send_sync(Fixture *f, QChimneyConn *hc, uint32_t seq,
                           uint32_t ack)
{
    uint32_t index = CHIMNEY_CONN_INDEX(hc->id);
    uint64_t before = conn_segs_in(f, index);
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    peer_send(f, hc, seq, ack, 0x10, 65535, NULL, 0);
    while (conn_segs_in(f, index) == before) {
        g_assert(g_get_monotonic_time() < deadline);
        g_usleep(200);
    }
}

static void peer_ack_sync(Fixture *f, QChimneyConn *hc, uint32_t ack)
{
    peer_send_sync(f, hc, hc->irs + 1, ack);
}


#define MS_NS (1000 * 1000LL)

static void set_rules(Fixture *f, const char *rules)
{
    qtest_qmp_assert_success(f->qts, "{'execute': 'qom-set', 'arguments': "
                             "{'path': '/machine/peripheral/nic0', "
                             "'property': 'x-fault-rules', 'value': %s}}",
                             rules);
}

static void fault_release(Fixture *f, const char *what)
{
    qtest_qmp_assert_success(f->qts, "{'execute': 'qom-set', 'arguments': "
                             "{'path': '/machine/peripheral/nic0', "
                             "'property': 'x-fault-release', 'value': %s}}",
                             what);
}

/* Post @n sends of @len bytes on @hc, read them off the wire. */
static uint32_t send_n(Fixture *f, QChimneyConn *hc, uint64_t cookie0, int n,
                       uint32_t len)
{
    uint32_t sge[] = { len };
    uint32_t start = 0;
    PeerSeg ps;

    for (int i = 0; i < n; i++) {
        qchimney_sq_post(&f->c, hc, CHIMNEY_SQ_SEND, 0, cookie0 + i, sge, 1,
                         NULL);
    }
    qchimney_sq_kick(&f->c, hc);
    for (uint32_t got = 0; got < n * len; got += ps.len) {
        peer_read(f, &ps);
        if (!got) {
            start = ps.seq;
        }
    }
    return start;
}

/* A completion delayed by D is not there at D - 1 ns and is there at D. */
static void test_fault_delay(void)
{
    Fixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;

    tcp_fixture(&f, &hc, 1);
    set_rules(&f, "type=send delay=5ms");
    start = send_n(&f, &hc, 1, 2, 500);
    peer_ack_sync(&f, &hc, start + 500);
    g_assert(cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 2 * MS_NS);
    peer_ack_sync(&f, &hc, start + 1000);        /* ready 2 ms later */
    qtest_clock_step(f.qts, 3 * MS_NS - 1);
    g_assert(cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 1);
    g_assert(cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 2 * MS_NS - 1);
    g_assert(cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 2);
    g_assert_cmpuint(qom_stat(&f, "x-fault-delayed"), ==, 2);
    g_assert_cmpuint(qom_stat(&f, "x-fault-seen"), ==, 2);
    /* Rules changed at run time: none now */
    set_rules(&f, "");
    start = send_n(&f, &hc, 3, 1, 100);
    peer_ack_sync(&f, &hc, start + 100);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 3);
    fx_end(&f);
}

/* Held until released over QMP: one, then all; order kept */
static void test_fault_hold(void)
{
    Fixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;

    tcp_fixture(&f, &hc, 1);
    set_rules(&f, "conn=5 type=send hold");
    start = send_n(&f, &hc, 1, 3, 300);
    peer_ack_sync(&f, &hc, start + 900);
    qtest_clock_step(f.qts, 10LL * 1000 * MS_NS);
    g_assert(cq_quiet(&f, 2));
    g_assert_cmpuint(qom_stat(&f, "x-fault-held"), ==, 3);
    fault_release(&f, "one");
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 1);
    g_assert(cq_quiet(&f, 2));
    fault_release(&f, "conn=5");
    for (int i = 2; i <= 3; i++) {
        cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
        g_assert_cmphex(cqe.cookie, ==, i);
    }
    g_assert_cmpuint(qom_stat(&f, "x-fault-released"), ==, 3);
    fx_end(&f);
}

/* A held CQ filling up: released entries stop at a full CQ, none lost */
static void test_fault_hold_cq_full(void)
{
    Fixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;

    tcp_fixture_cq(&f, &hc, 1, 4, NULL);
    set_rules(&f, "hold type=send");
    start = send_n(&f, &hc, 1, 6, 100);
    peer_ack_sync(&f, &hc, start + 600);
    fault_release(&f, "all");
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
        cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
        g_assert_cmphex(cqe.cookie, ==, i);
    }
    fx_end(&f);
}

/* The 2nd send fails UPLOAD_IN_PROGRESS with partial bytes; the rest too */
static void test_fault_fail_upload(void)
{
    Fixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;

    tcp_fixture(&f, &hc, 1);
    set_rules(&f, "type=send nth=2 fail=upload bytes=100");
    start = send_n(&f, &hc, 1, 3, 400);
    peer_ack_sync(&f, &hc, start + 1200);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.bytes, ==, 400);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    g_assert_cmphex(cqe.cookie, ==, 2);
    g_assert_cmpuint(cqe.bytes, ==, 100);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_UPLOAD_IN_PROGRESS);
    g_assert_cmphex(cqe.cookie, ==, 3);
    g_assert_cmpuint(cqe.bytes, ==, 0);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(qom_stat(&f, "x-fault-failed"), ==, 1);
    fx_end(&f);
}

/* REQUEST_ABORTED: the connection resets, as for a peer RST */
static void test_fault_fail_aborted(void)
{
    Fixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;
    PeerSeg ps;

    tcp_fixture(&f, &hc, 1);
    set_rules(&f, "type=send once fail=aborted");
    start = send_n(&f, &hc, 1, 2, 400);
    peer_ack_sync(&f, &hc, start + 400);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 1);
    g_assert_cmpuint(cqe.bytes, ==, 0);
    peer_read(&f, &ps);
    g_assert(ps.flags & 0x04);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 2);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_ABORT);
    fx_end(&f);
}

/* Coalescing: released 3 at a time, behind one interrupt */
static void test_fault_coalesce(void)
{
    Fixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;

    tcp_fixture(&f, &hc, 1);
    set_rules(&f, "type=send coalesce=3");
    start = send_n(&f, &hc, 1, 3, 200);
    qchimney_msi_clear(&f.c, 2);
    peer_ack_sync(&f, &hc, start + 200);
    peer_ack_sync(&f, &hc, start + 400);
    g_assert(cq_quiet(&f, 2));
    g_assert(!qchimney_msi_fired(&f.c, 2));
    peer_ack_sync(&f, &hc, start + 600);
    for (int i = 1; i <= 3; i++) {
        cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
        g_assert_cmphex(cqe.cookie, ==, i);
    }
    g_assert(qchimney_msi_fired(&f.c, 2));
    g_assert_cmpuint(qom_stat(&f, "x-fault-coalesced"), ==, 3);
    /* Every T: one completion goes after 1 ms */
    set_rules(&f, "type=send coalesce=8:1ms");
    start = send_n(&f, &hc, 4, 1, 100);
    peer_ack_sync(&f, &hc, start + 100);
    qtest_clock_step(f.qts, MS_NS - 1);
    g_assert(cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 4);
    fx_end(&f);
}

/* The entry at once, its interrupt 1 ms later; or never, left pending */
static void test_fault_irq(void)
{
    Fixture f;
    QChimneyConn hc;
    uint32_t start;
    ChimneyCqe cqe;

    tcp_fixture(&f, &hc, 1);
    set_rules(&f, "type=send irq-delay=1ms");
    start = send_n(&f, &hc, 1, 1, 100);
    qchimney_msi_clear(&f.c, 2);
    peer_ack_sync(&f, &hc, start + 100);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    qtest_clock_step(f.qts, MS_NS - 1);
    g_usleep(20 * 1000);
    g_assert(!qchimney_msi_fired(&f.c, 2));
    qtest_clock_step(f.qts, 1);
    for (int i = 0; i < 1000 && !qchimney_msi_fired(&f.c, 2); i++) {
        g_usleep(1000);
    }
    g_assert(qchimney_msi_fired(&f.c, 2));

    set_rules(&f, "type=send irq-drop");
    start = send_n(&f, &hc, 2, 1, 100);
    qchimney_msi_clear(&f.c, 2);
    peer_ack_sync(&f, &hc, start + 100);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 2);
    qtest_clock_step(f.qts, 100 * MS_NS);
    g_usleep(20 * 1000);
    g_assert(!qchimney_msi_fired(&f.c, 2));
    g_assert(qpci_msix_pending(f.c.pdev, 2));
    g_assert_cmpuint(qom_stat(&f, "x-fault-irq-dropped"), ==, 1);
    fx_end(&f);
}

/*
 * Random delays: the same seed gives the same completion trace, another
 * seed another one.  Two connections; completions are recorded with the
 * virtual time at which they appear.
 */
static GString *fault_trace(uint64_t seed, const char *rules)
{
    Fixture f;
    QChimneyConn hc, h2;
    ChimneyTcpOffload o;
    GString *trace = g_string_new("");
    uint32_t s1, s2;
    ChimneyCqe cqe;

    tcp_fixture(&f, &hc, 1);
    qtest_qmp_assert_success(f.qts, "{'execute': 'qom-set', 'arguments': "
                             "{'path': '/machine/peripheral/nic0', "
                             "'property': 'x-fault-seed', 'value': %u}}",
                             (unsigned)seed);
    set_rules(&f, rules);
    conn_setup(&f, &h2, 6, 2, 16);
    memcpy(h2.peer_mac, PEER_MAC, 6);
    h2.iss = 70000;
    h2.irs = 8000;
    h2.peer_mss = 1000;
    h2.peer_wnd = 65535;
    qchimney_tcp_block(&h2, 0, 2, &o);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &h2, &o, 0), ==, 0);
    s1 = send_n(&f, &hc, 10, 4, 100);
    s2 = send_n(&f, &h2, 20, 4, 100);
    for (int i = 1; i <= 4; i++) {
        peer_ack_sync(&f, &hc, s1 + 100 * i);
        peer_send_sync(&f, &h2, h2.irs + 1, s2 + 100 * i);
    }
    for (int t = 0; t <= 10; t++) {
        while (qchimney_cq_wait_timeout(&f.c, 2, &cqe, 20 * 1000)) {
            g_string_append_printf(trace, "%d:%" PRIu64 " ", t, cqe.cookie);
        }
        qtest_clock_step(f.qts, MS_NS);
    }
    fx_end(&f);
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
static uint64_t delayed_count(Fixture *f, QChimneyConn *hc, const char *rules,
                              int n, uint64_t cookie0)
{
    uint64_t before = qom_stat(f, "x-fault-delayed");
    uint32_t start;
    ChimneyCqe cqe;

    set_rules(f, rules);
    start = send_n(f, hc, cookie0, n, 100);
    peer_ack_sync(f, hc, start + 100 * n);
    qtest_clock_step(f->qts, 2 * MS_NS);
    for (int i = 0; i < n; i++) {
        cqe = expect_cqe(f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
        g_assert_cmpuint(cqe.cookie, ==, cookie0 + i);
    }
    return qom_stat(f, "x-fault-delayed") - before;
}

/* Every selector and every way of counting matches */
static void test_fault_selectors(void)
{
    Fixture f;
    QChimneyConn hc;
    uint64_t k;

    tcp_fixture(&f, &hc, 1);
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
    fx_end(&f);
}

/* Reset with held completions: they go, the rules stay */
static void test_fault_reset(void)
{
    Fixture f;
    QChimneyConn hc;
    uint32_t start;
    QDict *rsp;

    tcp_fixture(&f, &hc, 1);
    set_rules(&f, "hold");
    start = send_n(&f, &hc, 1, 2, 100);
    peer_ack_sync(&f, &hc, start + 200);
    g_assert(cq_quiet(&f, 2));
    /* Migration is refused while anything is offloaded */
    rsp = qtest_qmp(f.qts, "{'execute': 'migrate', 'arguments': "
                    "{'uri': 'exec:cat > /dev/null'}}");
    g_assert(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    qchimney_writel(&f.c, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_RESET);
    g_assert_cmphex(qchimney_readl(&f.c, CHIMNEY_REG_STATUS), ==,
                    CHIMNEY_STATUS_LINK_UP);
    {
        g_autofree char *rules = qom_str(&f, "x-fault-rules");

        g_assert_cmpstr(rules, ==, "hold");
    }
    fault_release(&f, "all");
    fx_end(&f);
}

/* Bad rule strings: refused with a message at start and at run time */
static void test_fault_bad_rules(void)
{
    static const char *const bad[] = {
        "delay=5", "delay=5xs", "hold delay=1ms", "type=sent hold",
        "prob=2 hold", "conn=x hold", "fail=maybe", "coalesce=0",
        "bytes=3 hold", "conn=1", "delay=uniform:9ms:1ms", "frobnicate",
    };
    Fixture f;
    QDict *rsp;

    fx_init(&f, "-global chimney-nic.x-fault-rules=irq-drop");
    fx_start(&f, NULL);
    {
        g_autofree char *rules = qom_str(&f, "x-fault-rules");

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
            g_autofree char *rules = qom_str(&f, "x-fault-rules");

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
    fx_end(&f);
}

/* --- bad input on the offload path --- */

static void test_bad_tcp_offload(void)
{
    Fixture f;
    QChimneyConn hc, other;
    ChimneyTcpOffload o, bad;
    ChimneyCqe cqe;
    uint64_t qbuf;

    tcp_fixture_cq(&f, &hc, 100, 256, "-global chimney-nic.max-sq-entries=32");
    qbuf = guest_alloc(&f.alloc, 256);
    conn_setup(&f, &other, 6, 2, 16);
    memcpy(other.peer_mac, PEER_MAC, 6);
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
    /* Block outside guest RAM */
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_OFFLOAD_TCP, CHIMNEY_CONN_ID(7, 0),
                           FAR_AWAY, 192, 0, 0, 0), ==, CHIMNEY_ST_DMA_ERROR);
    /* Unknown connection, stale generation */
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_QUERY_TCP, CHIMNEY_CONN_ID(9, 1),
                           qbuf, 0, 0, 0, 0), ==, CHIMNEY_ST_INVALID_ID);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_QUERY_TCP, CHIMNEY_CONN_ID(5, 2),
                           qbuf, 0, 0, 0, 0), ==,
                     CHIMNEY_ST_STALE_GENERATION);
    /* Neighbor and path in use cannot be terminated */
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_TERMINATE, 0, 0, 0,
                           CHIMNEY_OBJ_PATH, 0, 0), ==, CHIMNEY_ST_IN_USE);
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_TERMINATE, 0, 0, 0,
                           CHIMNEY_OBJ_NEIGHBOR, 0, 0), ==, CHIMNEY_ST_IN_USE);
    /* The CQ of a connection cannot be destroyed */
    g_assert_cmpuint(qchimney_destroy_cq(&f.c, 2), ==, CHIMNEY_ST_IN_USE);
    /* The good connection still works */
    g_assert_cmpuint(qchimney_conn_cmd(&f.c, &hc, CHIMNEY_CMD_QUERY_TCP, qbuf,
                                       &cqe), ==, CHIMNEY_ST_SUCCESS);
    fx_end(&f);
}

static void test_bad_tcp_sends(void)
{
    Fixture f;
    QChimneyConn hc;
    static const uint32_t one[] = { 10 };
    g_autofree uint32_t *many = g_new0(uint32_t, CHIMNEY_MAX_SGE + 1);
    ChimneyCqe cqe;
    ChimneySqDesc d = { 0 };
    ChimneySge far = { .addr = cpu_to_le64(FAR_AWAY), .len = cpu_to_le32(64) };
    uint64_t sgl;
    uint32_t tail;
    PeerSeg ps;

    tcp_fixture(&f, &hc, 100);
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
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_DMA_ERROR);
    g_assert_cmphex(cqe.cookie, ==, 1);
    for (int i = 2; i <= 4; i++) {
        cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_BAD_DESCRIPTOR);
        g_assert_cmphex(cqe.cookie, ==, i);
        g_assert_cmpuint(cqe.bytes, ==, 0);
    }
    /* A good request after them still goes out and completes */
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 5, one, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.len, ==, 10);
    peer_ack(&f, &hc, ps.seq + 10);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 5);
    /* A stale doorbell is ignored and counted */
    qchimney_writel(&f.c, CHIMNEY_DB_CONN_SQ, CHIMNEY_CONN_ID(5, 9));
    qchimney_writel(&f.c, CHIMNEY_DB_CONN_SQ, CHIMNEY_CONN_ID(900000, 0));
    g_assert_cmpuint(qom_stat(&f, "x-stat-stale-doorbells"), ==, 2);
    /* A producer index beyond the send queue: an upload request */
    tail = cpu_to_le32(hc.sq_size);
    qtest_memwrite(f.qts, hc.db_record, &tail, sizeof(tail));
    qchimney_sq_kick(&f.c, &hc);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert(!(qchimney_readl(&f.c, CHIMNEY_REG_STATUS) &
               CHIMNEY_STATUS_FATAL));
    fx_end(&f);
}


/*
 * End to end with libslirp's TCP: connections through -netdev user to a
 * TCP server of the test's on 127.0.0.1, offloaded, streaming; the server
 * hashes what arrives.  SLIRP_STREAM_MIB sets the total (default 64).
 */
#define STREAM_CHUNK    (64 * 1024)
#define STREAM_BUF      (1024 * 1024)
#define STREAM_CONNS    16  /* at most */
#define STREAM_SQ       32

/* --- the receive path --- */

static uint8_t rx_byte(uint32_t seq)
{
    return seq * 13 + 7;
}

/* The peer sends @len bytes of its stream (rx_byte) at @seq. */
static void peer_data(Fixture *f, QChimneyConn *hc, uint32_t seq,
                      uint32_t ack, uint8_t flags, uint32_t len)
{
    g_autofree uint8_t *fr = g_malloc(14 + 40 + len);
    g_autofree uint8_t *data = g_malloc(len + 1);
    QChimneyTcpAddr from = {
        .src_mac = (const uint8_t *)PEER_MAC, .dst_mac = hc->mac,
        .src_ip = hc->peer_ip, .dst_ip = hc->ip,
        .src_port = hc->peer_port, .dst_port = hc->port,
    };
    size_t n;

    for (uint32_t i = 0; i < len; i++) {
        data[i] = rx_byte(seq + i);
    }
    n = qchimney_tcp_data_frame(fr, &from, seq, ack, 0x10 | flags, 65535,
                                NULL, 0, data, len);
    wire_send(f, fr, n);
}

/* Wait until the connection has taken @n segments in all. */
static void wait_segs_in(Fixture *f, QChimneyConn *hc, uint64_t n)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (conn_segs_in(f, CHIMNEY_CONN_INDEX(hc->id)) < n) {
        g_assert(g_get_monotonic_time() < deadline);
        g_usleep(200);
    }
}

/* Nothing comes from the device on the wire for @ms of real time. */
static bool wire_quiet(Fixture *f, int ms)
{
    struct pollfd pfd = { .fd = f->sock, .events = POLLIN };

    return poll(&pfd, 1, ms) == 0;
}

/* Guest memory at @addr holds the peer's stream from @seq. */
static void check_rx(Fixture *f, uint64_t addr, uint32_t seq, uint32_t len)
{
    g_autofree uint8_t *buf = g_malloc(len + 1);

    qtest_memread(f->qts, addr, buf, len);
    for (uint32_t i = 0; i < len; i++) {
        g_assert_cmphex(buf[i], ==, rx_byte(seq + i));
    }
}

static ChimneyCqe expect_recv(Fixture *f, uint64_t cookie, uint8_t status,
                              uint32_t bytes)
{
    ChimneyCqe cqe = expect_cqe(f, 2, CHIMNEY_CQE_RECV, status);

    g_assert_cmphex(cqe.cookie, ==, cookie);
    g_assert_cmpuint(cqe.bytes, ==, bytes);
    g_assert_cmpuint(cqe.queue, ==, CHIMNEY_QUEUE_CONN_RQ);
    return cqe;
}

/* A connection with a receive queue and, if asked, generic buffers */
static void rx_fixture(Fixture *f, QChimneyConn *hc, bool generic,
                       void (*tweak)(Fixture *, ChimneyTcpOffload *))
{
    uint64_t ring;

    fx_init(f, NULL);
    fx_start(f, &(QChimneyConfig) { .rx_buffers = 8 });
    ring = QEMU_ALIGN_UP(guest_alloc(&f->alloc, 256 * 32 + 64), 64);
    qtest_memset(f->qts, ring, 0, 256 * 32);
    g_assert_cmpuint(qchimney_create_cq(&f->c, 2, ring, 256, 2, 0, 0),
                     ==, CHIMNEY_ST_SUCCESS);
    conn_setup(f, hc, 5, 2, 16);
    hc->rq_size = 16;
    hc->rq_base = QEMU_ALIGN_UP(guest_alloc(&f->alloc, 16 * 32 + 64), 64);
    if (generic) {
        qchimney_ind_create(&f->c, 16, 2048);
    }
    f->tweak = tweak;
    establish(f, hc, 1000, 777);
}

/* Receives fill in order; delayed ACK and the push timer on the clock */
static void test_tcp_recv_posted(void)
{
    Fixture f;
    QChimneyConn hc;
    uint32_t s;
    uint64_t b1, b2;
    PeerSeg ps;

    rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x100, 0);
    b1 = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x101, 3000);
    b2 = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x102, 3000);
    qchimney_sq_kick(&f.c, &hc);
    expect_recv(&f, 0x100, CHIMNEY_ST_SUCCESS, 0);      /* zero-length */
    for (int i = 0; i < 5; i++) {
        peer_data(&f, &hc, s + i * 1000, 1001, 0, 1000);
    }
    /* Every second segment is ACKed at once (TcpAckFrequency 2) */
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 2000);
    g_assert_cmpuint(ps.wnd, ==, 65535);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 4000);
    expect_recv(&f, 0x101, CHIMNEY_ST_SUCCESS, 3000);
    check_rx(&f, b1, s, 3000);
    /* The fifth waits for TcpDelayedAckTicks (200 ms) */
    wait_segs_in(&f, &hc, 5);
    g_assert(wire_quiet(&f, 50));
    qtest_clock_step(f.qts, 199 * MS_NS);
    g_assert(wire_quiet(&f, 50));
    qtest_clock_step(f.qts, 1 * MS_NS);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 5000);
    /* The partly filled request completes on TcpPushTicks (500 ms) */
    g_assert(cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 299 * MS_NS);
    g_assert(cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1 * MS_NS);
    expect_recv(&f, 0x102, CHIMNEY_ST_SUCCESS, 2000);
    check_rx(&f, b2, s + 3000, 2000);
    fx_end(&f);
}

/* Out of order: duplicate ACKs at once; delivered when the gap fills */
static void test_tcp_recv_out_of_order(void)
{
    Fixture f;
    QChimneyConn hc;
    uint32_t s;
    uint64_t b;
    PeerSeg ps;

    rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    b = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, CHIMNEY_RQF_NO_PUSH,
                         0x1, 3000);
    qchimney_sq_kick(&f.c, &hc);
    peer_data(&f, &hc, s + 2000, 1001, 0, 1000);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s);
    peer_data(&f, &hc, s + 1000, 1001, 0, 1000);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s);
    g_assert(cq_quiet(&f, 2));
    /* The gap fills: everything ACKed at once and delivered */
    peer_data(&f, &hc, s, 1001, 0, 1000);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 3000);
    expect_recv(&f, 0x1, CHIMNEY_ST_SUCCESS, 3000);
    check_rx(&f, b, s, 3000);
    /* An old duplicate is ACKed again */
    peer_data(&f, &hc, s + 500, 1001, 0, 1000);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 3000);
    fx_end(&f);
}

/* Indications: one at a time; the driver takes part, posts get the rest */
static void test_tcp_recv_indicate(void)
{
    Fixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    uint32_t s;
    uint64_t b;

    rx_fixture(&f, &hc, true, NULL);
    s = hc.irs + 1;
    peer_data(&f, &hc, s, 1001, 0x08, 1000);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_INDICATE, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.bytes, ==, 1000);
    g_assert_cmpuint(cqe.aux, ==, s);
    g_assert_cmpuint(cqe.queue, ==, CHIMNEY_QUEUE_INDICATE);
    g_assert_cmphex(cqe.obj, ==, hc.id);
    check_rx(&f, cqe.cookie, s, 1000);
    peer_data(&f, &hc, s + 1000, 1001, 0, 500);
    wait_segs_in(&f, &hc, 2);
    g_assert(cq_quiet(&f, 2));                  /* one offer at a time */
    /* 600 taken; the rest waits for a post */
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_INDICATE_DONE, 0, cqe.cookie,
                     600);
    qchimney_sq_kick(&f.c, &hc);
    qchimney_ind_post(&f.c, cqe.cookie);
    g_assert(cq_quiet(&f, 2));
    b = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x201, 2000);
    qchimney_sq_kick(&f.c, &hc);
    expect_recv(&f, 0x201, CHIMNEY_ST_SUCCESS, 900);    /* PSH passed */
    check_rx(&f, b, s + 600, 900);
    g_assert_cmpuint(qom_stat(&f, "x-stat-indications"), ==, 1);
    /* An answer with no indication outstanding is refused */
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_INDICATE_DONE, 0, 0x333, 5);
    qchimney_sq_kick(&f.c, &hc);
    expect_recv(&f, 0x333, CHIMNEY_ST_INVALID_PARAM, 0);
    /* A refusal of everything: kept, offered again after a post */
    peer_data(&f, &hc, s + 1500, 1001, 0, 300);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_INDICATE, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, s + 1500);
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_INDICATE_DONE, 0, cqe.cookie, 0);
    qchimney_ind_post(&f.c, cqe.cookie);
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x202, 0);
    qchimney_sq_kick(&f.c, &hc);
    expect_recv(&f, 0x202, CHIMNEY_ST_SUCCESS, 0);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_INDICATE, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.bytes, ==, 300);
    check_rx(&f, cqe.cookie, s + 1500, 300);
    fx_end(&f);
}

/* FIN: DISCONNECT after the data before it; our half still sends */
static void test_tcp_recv_fin(void)
{
    Fixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 500 };
    ChimneyCqe cqe;
    uint32_t s;
    uint64_t b1, b2;
    PeerSeg ps;

    rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    peer_data(&f, &hc, s, 1001, 0, 1000);
    peer_data(&f, &hc, s + 1000, 1001, 0x01, 0);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 1001);
    g_assert(cq_quiet(&f, 2));
    b1 = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x301, 600);
    b2 = qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, CHIMNEY_RQF_NO_PUSH,
                          0x302, 600);
    qchimney_sq_kick(&f.c, &hc);
    expect_recv(&f, 0x301, CHIMNEY_ST_SUCCESS, 600);
    expect_recv(&f, 0x302, CHIMNEY_ST_SUCCESS, 400);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_DISCONNECT);
    check_rx(&f, b1, s, 600);
    check_rx(&f, b2, s + 600, 400);
    /* Posted after the DISCONNECT: INVALID_STATE */
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x303, 100);
    qchimney_sq_kick(&f.c, &hc);
    expect_recv(&f, 0x303, CHIMNEY_ST_INVALID_STATE, 0);
    /* Half-closed: our data still goes, then our FIN */
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 0x401, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.len, ==, 500);
    g_assert_cmpuint(ps.ack, ==, s + 1001);
    peer_send(&f, &hc, s + 1001, 1501, 0x10, 65535, NULL, 0);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x401);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_DISCONNECT, 0, 0x402, NULL, 0,
                     NULL);
    qchimney_sq_kick(&f.c, &hc);
    peer_read(&f, &ps);
    g_assert(ps.flags & 0x01);
    peer_send(&f, &hc, s + 1001, 1502, 0x10, 65535, NULL, 0);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_DISCONNECT, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x402);
    fx_end(&f);
}

/* RST: the send, the partly filled receive (with its bytes), ABORT */
static void test_tcp_recv_rst(void)
{
    Fixture f;
    QChimneyConn hc;
    static const uint32_t s1[] = { 300 };
    ChimneyCqe cqe;
    uint32_t s;
    PeerSeg ps;

    rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, CHIMNEY_RQF_NO_PUSH,
                     0x501, 4000);
    qchimney_sq_post(&f.c, &hc, CHIMNEY_SQ_SEND, 0, 0x601, s1, 1, NULL);
    qchimney_sq_kick(&f.c, &hc);
    peer_read(&f, &ps);
    peer_data(&f, &hc, s, 1001, 0, 1000);
    wait_segs_in(&f, &hc, 1);
    /* A RST in the window but not at RcvNxt: a challenge ACK only */
    peer_send(&f, &hc, s + 1500, 0, 0x04, 0, NULL, 0);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 1000);
    g_assert(cq_quiet(&f, 2));
    peer_send(&f, &hc, s + 1000, 0, 0x04, 0, NULL, 0);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_SEND, CHIMNEY_ST_REQUEST_ABORTED);
    g_assert_cmphex(cqe.cookie, ==, 0x601);
    expect_recv(&f, 0x501, CHIMNEY_ST_REQUEST_ABORTED, 1000);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_ABORT);
    /* Posted after the reset: aborted too */
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x502, 100);
    qchimney_sq_kick(&f.c, &hc);
    expect_recv(&f, 0x502, CHIMNEY_ST_REQUEST_ABORTED, 0);
    fx_end(&f);
}

/* Upload: received data not delivered goes back to the host */
static void test_tcp_recv_terminate(void)
{
    Fixture f;
    QChimneyConn hc;
    ChimneyTcpDelegated d;
    ChimneyAdminCmd cmd;
    ChimneyCqe cqe;
    uint64_t qbuf, held;
    uint32_t s;
    PeerSeg ps;

    rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    peer_data(&f, &hc, s, 1001, 0, 1000);
    peer_data(&f, &hc, s + 1000, 1001, 0, 500);
    peer_read(&f, &ps);
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
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_NO_RESOURCES);
    g_assert_cmphex(cqe.cookie, ==, 0x71);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.rcv_held), ==, 1500);
    peer_data(&f, &hc, s + 1500, 1001, 0, 100);
    peer_data(&f, &hc, s + 1600, 1001, 0, 100);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 1700);
    /* Room enough: the bytes come back with the state */
    cmd.cookie = 0x72;
    cmd.param[3] = 4096;
    qchimney_admin_submit(&f.c, &cmd);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x72);
    qtest_memread(f.qts, qbuf, &d, sizeof(d));
    g_assert_cmpuint(le32_to_cpu(d.rcv_held), ==, 1700);
    g_assert_cmpuint(le32_to_cpu(d.rcv_nxt), ==, s + 1700);
    check_rx(&f, held, s, 1700);
    fx_end(&f);
}

/* BufferedData handed over at offload is delivered first */
static void buffered_tweak(Fixture *f, ChimneyTcpOffload *o)
{
    uint32_t rcv_nxt = le32_to_cpu(o->delegated.rcv_nxt);
    uint8_t data[200];
    uint64_t addr = guest_alloc(&f->alloc, sizeof(data));

    for (int i = 0; i < sizeof(data); i++) {
        data[i] = rx_byte(rcv_nxt - sizeof(data) + i);
    }
    qtest_memwrite(f->qts, addr, data, sizeof(data));
    o->buffered_addr = cpu_to_le64(addr);
    o->buffered_len = cpu_to_le32(sizeof(data));
}

/* FORWARD: segments the host received go in; bad ones are refused */
static void test_tcp_recv_forward(void)
{
    Fixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    uint8_t seg[20 + 300];
    uint64_t b, sbuf;
    uint32_t s;
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_FORWARD };

    rx_fixture(&f, &hc, false, buffered_tweak);
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
        seg[20 + i] = rx_byte(s + i);
    }
    sbuf = guest_alloc(&f.alloc, sizeof(seg));
    qtest_memwrite(f.qts, sbuf, seg, sizeof(seg));
    cmd.id = hc.id;
    cmd.addr = sbuf;
    cmd.len = sizeof(seg);
    cmd.cookie = 0x91;
    qchimney_admin_submit(&f.c, &cmd);
    /* The buffered 200 bytes first, then the forwarded 300, pushed */
    expect_recv(&f, 0x801, CHIMNEY_ST_SUCCESS, 500);
    check_rx(&f, b, s - 200, 500);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0x91);
    g_assert_cmpuint(qom_stat(&f, "x-stat-forwarded"), ==, 1);
    /* Malformed: too short, a bad data offset, another connection's */
    cmd.len = 10;
    qchimney_admin_submit(&f.c, &cmd);
    expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_INVALID_PARAM);
    cmd.len = sizeof(seg);
    seg[12] = 15 << 4;
    qtest_memwrite(f.qts, sbuf, seg, 20);
    qchimney_admin_submit(&f.c, &cmd);
    expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_INVALID_PARAM);
    seg[12] = 5 << 4;
    stw_be_p(seg, hc.peer_port + 1);
    qtest_memwrite(f.qts, sbuf, seg, 20);
    qchimney_admin_submit(&f.c, &cmd);
    expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_INVALID_PARAM);
    cmd.addr = FAR_AWAY;
    qchimney_admin_submit(&f.c, &cmd);
    expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_DMA_ERROR);
    /* After a reset the host keeps what it would forward */
    peer_send(&f, &hc, s + 300, 0, 0x04, 0, NULL, 0);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_ABORT);
    cmd.addr = sbuf;
    qchimney_admin_submit(&f.c, &cmd);
    expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_REQUEST_ABORTED);
    fx_end(&f);
}

/* Keepalive from the cached parameters: probes, an answer, then silence */
static void keepalive_tweak(Fixture *f, ChimneyTcpOffload *o)
{
    o->cached_flags = cpu_to_le16(CHIMNEY_TCPC_KEEPALIVE);
    o->ka_timeout = cpu_to_le32(10000);             /* ticks of 1 ms */
    o->ka_interval = cpu_to_le32(1000);
    o->ka_probe_count = 2;
}

static void test_tcp_recv_keepalive(void)
{
    Fixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    PeerSeg ps;

    rx_fixture(&f, &hc, false, keepalive_tweak);
    qtest_clock_step(f.qts, 9999 * MS_NS);
    g_assert(wire_quiet(&f, 50));
    qtest_clock_step(f.qts, 1 * MS_NS);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.seq, ==, hc.iss);           /* SndUna - 1 */
    g_assert_cmpuint(ps.len, ==, 0);
    peer_ack_sync(&f, &hc, hc.iss + 1);
    qtest_clock_step(f.qts, 10000 * MS_NS);
    peer_read(&f, &ps);
    qtest_clock_step(f.qts, 1000 * MS_NS);
    peer_read(&f, &ps);
    g_assert(cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1000 * MS_NS);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_TIMEOUT);
    fx_end(&f);
}

/* A small receive window at offload */
static void small_window_tweak(Fixture *f, ChimneyTcpOffload *o)
{
    o->initial_rcv_wnd = cpu_to_le32(4000);
    o->delegated.rcv_wnd = cpu_to_le32(4000);
}

/* UPDATE of the cached state: a larger window opens, keepalive starts */
static void test_tcp_recv_update(void)
{
    Fixture f;
    QChimneyConn hc;
    ChimneyTcpOffload o;
    ChimneyCqe cqe;
    uint64_t block;
    uint32_t s;
    PeerSeg ps;

    rx_fixture(&f, &hc, false, small_window_tweak);
    s = hc.irs + 1;
    peer_data(&f, &hc, s, 1001, 0, 2000);
    peer_data(&f, &hc, s + 2000, 1001, 0, 2000);
    peer_read(&f, &ps);
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
    peer_read(&f, &ps);                             /* the window update */
    g_assert_cmpuint(ps.ack, ==, s + 4000);
    g_assert_cmpuint(ps.wnd, ==, 12000);
    /* The 4000 held bytes are still there, in order */
    peer_data(&f, &hc, s + 4000, 1001, 0x08, 1000);
    wait_segs_in(&f, &hc, 3);
    qtest_clock_step(f.qts, 200 * MS_NS);           /* the delayed ACK */
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.ack, ==, s + 5000);
    /* Keepalive runs from the update: a probe after 1 s of silence */
    qtest_clock_step(f.qts, 800 * MS_NS);
    peer_read(&f, &ps);
    g_assert_cmpuint(ps.seq, ==, hc.iss);
    g_assert_cmpuint(ps.len, ==, 0);
    fx_end(&f);
}

/* Urgent data: not ACKed, upload requested; the host takes it over */
static void test_tcp_recv_urgent(void)
{
    Fixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;

    rx_fixture(&f, &hc, true, NULL);
    peer_data(&f, &hc, hc.irs + 1, 1001, 0x20, 100);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_URGENT_DATA);
    g_assert(wire_quiet(&f, 100));
    g_assert_cmpuint(qom_stat(&f, "x-stat-indications"), ==, 0);
    fx_end(&f);
}

/* Segments of an offloaded 4-tuple that are the host's go to the L2 RX queue */
static void test_tcp_recv_host_path(void)
{
    Fixture f;
    QChimneyConn hc;
    QChimneyTcpAddr from;
    uint8_t fr[256], opt[260], got[300];
    const uint8_t data[] = "the host's";
    ChimneyCqe cqe;
    size_t len;
    uint32_t s;

    rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    from = (QChimneyTcpAddr) {
        .src_mac = (const uint8_t *)PEER_MAC, .dst_mac = hc.mac,
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
    wire_send(&f, opt, len + 4);
    g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==,
                     len + 4);
    g_assert_cmpmem(got, len + 4, opt, len + 4);
    /* A fragment: the host reassembles */
    stw_be_p(fr + 20, 0x2000);
    stw_be_p(fr + 24, 0);
    stw_be_p(fr + 24, qchimney_csum(fr + 14, 20, 0));
    wire_send(&f, fr, len);
    g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==, len);
    g_assert_cmpmem(got, len, fr, len);
    g_assert(cq_quiet(&f, 2));
    /* Reset: CLOSED, so what comes next is the host's to answer */
    peer_send(&f, &hc, s, 0, 0x04, 0, NULL, 0);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_ABORT);
    len = qchimney_tcp_data_frame(fr, &from, s, 1001, 0x18, 65535, NULL, 0,
                                  data, sizeof(data));
    wire_send(&f, fr, len);
    g_assert_cmpuint(qchimney_l2_recv(&f.c, got, sizeof(got), &cqe), ==, len);
    g_assert_cmpmem(got, len, fr, len);
    g_assert_cmpuint(qom_stat(&f, "x-stat-to-host"), ==, 1);
    fx_end(&f);
}

/* Fault rules act on receive completions too */
static void test_fault_recv(void)
{
    Fixture f;
    QChimneyConn hc;
    uint32_t s;

    rx_fixture(&f, &hc, false, NULL);
    s = hc.irs + 1;
    set_rules(&f, "type=recv delay=5ms");
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, 0, 0x1, 1000);
    qchimney_sq_kick(&f.c, &hc);
    peer_data(&f, &hc, s, 1001, 0x08, 500);
    wait_segs_in(&f, &hc, 1);
    g_assert(cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 5 * MS_NS - 1);
    g_assert(cq_quiet(&f, 2));
    qtest_clock_step(f.qts, 1);
    expect_recv(&f, 0x1, CHIMNEY_ST_SUCCESS, 500);
    g_assert_cmpuint(qom_stat(&f, "x-fault-delayed"), ==, 1);
    fx_end(&f);
}

/* Bad receive-side input: error completions, QEMU stays alive */
static void test_bad_tcp_receives(void)
{
    Fixture f;
    QChimneyConn hc;
    ChimneyCqe cqe;
    ChimneySqDesc d;
    ChimneySge sge = { .addr = cpu_to_le64(FAR_AWAY), .len = 100 };
    ChimneyTcpOffload o;
    uint64_t sgl;
    uint32_t tail;

    rx_fixture(&f, &hc, false, NULL);
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
    expect_recv(&f, 0xb1, CHIMNEY_ST_DMA_ERROR, 0);
    expect_recv(&f, 0xb2, CHIMNEY_ST_BAD_DESCRIPTOR, 0);
    expect_recv(&f, 0xb3, CHIMNEY_ST_BAD_DESCRIPTOR, 0);
    /* Zero-length generic buffers: each returned with an error */
    qchimney_ind_create(&f.c, 4, 0);
    peer_data(&f, &hc, hc.irs + 1, 1001, 0, 100);
    for (int i = 0; i < 3; i++) {
        cqe = expect_cqe(&f, 2, CHIMNEY_CQE_INDICATE,
                         CHIMNEY_ST_BAD_DESCRIPTOR);
        g_assert_cmpuint(cqe.bytes, ==, 0);
    }
    /* A good receive takes the held bytes */
    qchimney_rq_post(&f.c, &hc, CHIMNEY_RQ_RECEIVE, CHIMNEY_RQF_NO_PUSH,
                     0xb4, 1000);
    qchimney_sq_kick(&f.c, &hc);
    g_assert(cq_quiet(&f, 2));
    /* The RQ producer index beyond the ring: the host must take over */
    tail = cpu_to_le32(hc.rq_size + 3);
    qtest_memwrite(f.qts, hc.db_record + 4, &tail, 4);
    qchimney_sq_kick(&f.c, &hc);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_EVENT, CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_UPLOAD_REQUEST);
    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_REQUESTED);
    /* Terminated: the pending receive leaves with its bytes */
    qchimney_admin_submit(&f.c, &(ChimneyAdminCmd) {
        .opcode = CHIMNEY_CMD_TERMINATE, .id = hc.id, .cookie = 0xb5,
        .addr = guest_alloc(&f.alloc, 96), .param = { CHIMNEY_OBJ_TCP } });
    expect_recv(&f, 0xb4, CHIMNEY_ST_UPLOAD_IN_PROGRESS, 100);
    cqe = expect_cqe(&f, 2, CHIMNEY_CQE_ADMIN, CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe.cookie, ==, 0xb5);
    /* A receive doorbell for it now is a stale one */
    qchimney_sq_kick(&f.c, &hc);
    g_assert_cmpuint(qom_stat(&f, "x-stat-stale-doorbells"), ==, 1);
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
    o.buffered_addr = cpu_to_le64(FAR_AWAY);
    g_assert_cmpuint(qchimney_offload_tcp(&f.c, &hc, &o, 0), ==,
                     CHIMNEY_ST_DMA_ERROR);
    /* A generic-buffer queue must not name a CQ */
    g_assert_cmpuint(admin(&f, CHIMNEY_CMD_DESTROY_L2Q,
                           CHIMNEY_QUEUE_INDICATE, 0, 0, 0, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(qchimney_create_l2q(&f.c, CHIMNEY_QUEUE_INDICATE,
                                         f.c.indq.base, 4, 2), ==,
                     CHIMNEY_ST_INVALID_PARAM);
    fx_end(&f);
}

typedef struct StreamServer {
    int listen_fd;
    int port;
    GThread *thread[STREAM_CONNS];
    int fd[STREAM_CONNS];
    uint64_t bytes[STREAM_CONNS];
    char *sha[STREAM_CONNS];
} StreamServer;

typedef struct StreamPeer {
    StreamServer *srv;
    int i;
} StreamPeer;

static gpointer stream_reader(gpointer opaque)
{
    StreamPeer *p = opaque;
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree uint8_t *buf = g_malloc(STREAM_CHUNK);
    ssize_t n;

    while ((n = recv(p->srv->fd[p->i], buf, STREAM_CHUNK, 0)) > 0) {
        g_checksum_update(sum, buf, n);
        p->srv->bytes[p->i] += n;
    }
    p->srv->sha[p->i] = g_strdup(g_checksum_get_string(sum));
    g_checksum_free(sum);
    close(p->srv->fd[p->i]);        /* our FIN back to the device */
    g_free(p);
    return NULL;
}

/* The pattern byte at @off of connection @i's stream */
static uint8_t stream_byte(int i, uint64_t off)
{
    return (off % STREAM_BUF) * 13 + i * 7 + (off % STREAM_BUF) / 251;
}

/* What connection @i's stream of @sends chunks hashes to */
static char *stream_sha(int i, uint32_t sends)
{
    g_autofree uint8_t *pattern = g_malloc(STREAM_CHUNK);
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    char *sha;

    for (uint32_t c = 0; c < sends; c++) {
        for (uint32_t b = 0; b < STREAM_CHUNK; b++) {
            pattern[b] = stream_byte(i, (uint64_t)c * STREAM_CHUNK + b);
        }
        g_checksum_update(sum, pattern, STREAM_CHUNK);
    }
    sha = g_strdup(g_checksum_get_string(sum));
    g_checksum_free(sum);
    return sha;
}

/* What the demo reports: latency from post to completion, progress */
typedef struct StreamStats {
    gint64 *posted_at;          /* [conn * sends + k] */
    gint64 *latency;            /* completion latencies, in order */
    uint32_t nlat;
    uint64_t statuses[256];
    uint64_t total, acked;
    gint64 start, last_report;
} StreamStats;

static void stream_progress(StreamStats *st, bool last)
{
    gint64 now = g_get_monotonic_time();

    if (!last && now - st->last_report < G_USEC_PER_SEC / 2) {
        return;
    }
    st->last_report = now;
    g_test_message("progress: %5.1f %%  %" PRIu64 " MiB acknowledged  "
                   "%.1f MiB/s", 100.0 * st->acked / st->total,
                   st->acked >> 20, (st->acked / 1048576.0) /
                   MAX((now - st->start) / 1e6, 0.000001));
}

/* A stream's send queue, kept by the driver core's tracker */
typedef struct StreamSq {
    ChimneyGuestSq q;
    uint64_t cookie[STREAM_SQ];
} StreamSq;

static void stream_sq_init(StreamSq *sq, QChimneyConn *hc)
{
    g_assert_cmpuint(hc->sq_size, ==, STREAM_SQ);
    chimney_guest_sq_init(&sq->q, hc->sq_base, STREAM_SQ, sq->cookie);
    sq->q.ring.tail = sq->q.ring.head = hc->sq_tail;
}

/* Every SEND and DISCONNECT completion: the oldest request, in order */
static void stream_sq_completed(StreamSq *sq, const ChimneyCqe *cqe)
{
    g_assert_cmpint(chimney_guest_sq_complete(&sq->q, cqe), >=, 0);
}

/*
 * Keep connection @i's send queue full: chunk k of its stream is
 * STREAM_CHUNK bytes of @buf from (k * STREAM_CHUNK) % STREAM_BUF, with
 * cookie i << 32 | k.  Once all @sends are acknowledged, a graceful
 * disconnect follows (*posted becomes UINT32_MAX).  Returns whether the
 * queue has new entries.
 */
static bool stream_feed(Fixture *f, QChimneyConn *hc, StreamSq *sq, int i,
                        uint32_t sends, uint64_t buf, uint64_t sgl,
                        uint32_t *posted, uint32_t done, StreamStats *st)
{
    bool kick = false;
    uint32_t tail;

    while (*posted < sends && *posted - done < STREAM_SQ - 2) {
        uint32_t k = (*posted)++;
        uint64_t sge = sgl + sq->q.ring.tail * sizeof(ChimneySge);
        ChimneySge e;

        chimney_guest_sge(&e, buf + (uint64_t)k * STREAM_CHUNK % STREAM_BUF,
                          STREAM_CHUNK);
        qtest_memwrite(f->qts, sge, &e, sizeof(e));
        g_assert_cmpint(chimney_guest_sq_post(&sq->q, &f->c.mem,
                                              CHIMNEY_SQ_SEND,
                                              CHIMNEY_SQF_PUSH, 1,
                                              STREAM_CHUNK,
                                              (uint64_t)i << 32 | k, sge),
                        >=, 0);
        if (st) {
            st->posted_at[(uint64_t)i * sends + k] = g_get_monotonic_time();
        }
        kick = true;
    }
    if (*posted == sends && done == sends) {
        g_assert_cmpint(chimney_guest_sq_post(&sq->q, &f->c.mem,
                                              CHIMNEY_SQ_DISCONNECT, 0, 0, 0,
                                              (uint64_t)i << 32 | 0xffffffff,
                                              0), >=, 0);
        *posted = UINT32_MAX;
        kick = true;
    }
    if (kick) {
        hc->sq_tail = sq->q.ring.tail;
        tail = cpu_to_le32(hc->sq_tail);
        qtest_memwrite(f->qts, hc->db_record, &tail, 4);
    }
    return kick;
}

/*
 * Keep every connection's send queue full until @sends chunks each are
 * acknowledged, then close gracefully; returns when each connection saw
 * its own FIN acknowledged and the peer's FIN.  Each send must complete
 * exactly once, in order, with every byte.  With @step_clock the virtual
 * clock moves on while nothing completes, so retransmission and persist
 * timers run against a peer that loses segments or closes its window.
 */
static void stream_run_stats(Fixture *f, QChimneyConn *hc, int nconns,
                             uint32_t sends, const uint64_t *buf,
                             const uint64_t *sgl, bool step_clock,
                             StreamStats *st)
{
    uint32_t posted[STREAM_CONNS] = { 0 }, done[STREAM_CONNS] = { 0 };
    bool fin_done[STREAM_CONNS] = { 0 }, peer_fin[STREAM_CONNS] = { 0 };
    gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
    g_autofree StreamSq *sq = g_new0(StreamSq, nconns);
    int left;

    for (int i = 0; i < nconns; i++) {
        stream_sq_init(&sq[i], &hc[i]);
    }

    /* Keep every send queue full until all is acknowledged */
    left = nconns;
    while (left) {
        ChimneyCqe cqe;

        for (int i = 0; i < nconns; i++) {
            if (stream_feed(f, &hc[i], &sq[i], i, sends, buf[i], sgl[i],
                            &posted[i], done[i], st)) {
                qchimney_sq_kick(&f->c, &hc[i]);
            }
        }
        if (!qchimney_cq_wait_timeout(&f->c, 2, &cqe,
                                      step_clock ? 20 * 1000 :
                                      QCHIMNEY_TIMEOUT_US)) {
            g_assert(step_clock);
            if (g_get_monotonic_time() > deadline) {
                g_autofree char *cs = qom_str(f, "x-conn-stats");

                g_test_message("no progress: %s", cs);
                g_assert_not_reached();
            }
            qtest_clock_step(f->qts, 50 * MS_NS);
            continue;
        }
        {
            int i = CHIMNEY_CONN_INDEX(cqe.obj);

            g_assert_cmpint(i, <, nconns);
            switch (CHIMNEY_CQE_TYPE(cqe.type_status)) {
            case CHIMNEY_CQE_SEND:
                if (st) {
                    st->statuses[CHIMNEY_CQE_STATUS(cqe.type_status)]++;
                    st->latency[st->nlat++] = g_get_monotonic_time() -
                        st->posted_at[(uint64_t)i * sends + done[i]];
                    st->acked += cqe.bytes;
                    stream_progress(st, false);
                }
                /* Each exactly once, in order, every byte acknowledged */
                g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                                 CHIMNEY_ST_SUCCESS);
                g_assert_cmphex(cqe.cookie, ==, (uint64_t)i << 32 | done[i]);
                g_assert_cmpuint(cqe.bytes, ==, STREAM_CHUNK);
                stream_sq_completed(&sq[i], &cqe);
                done[i]++;
                break;
            case CHIMNEY_CQE_DISCONNECT:
                g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                                 CHIMNEY_ST_SUCCESS);
                stream_sq_completed(&sq[i], &cqe);
                fin_done[i] = true;
                left -= peer_fin[i];
                break;
            case CHIMNEY_CQE_EVENT:
                if (cqe.aux == CHIMNEY_EVENT_UPLOAD_REQUEST) {
                    /* TIME_WAIT after both FINs: the host takes over */
                    if (!peer_fin[i] || !fin_done[i]) {
                        g_autofree char *cs = qom_str(f, "x-conn-stats");

                        g_test_message("conn %d: upload requested (reason "
                                       "%u) at %u/%u sends: %s", i, cqe.info,
                                       done[i], sends, cs);
                    }
                    g_assert(peer_fin[i] && fin_done[i]);
                    g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_TIMEOUT);
                    break;
                }
                g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_DISCONNECT);
                peer_fin[i] = true;
                left -= fin_done[i];
                break;
            default:
                g_assert_not_reached();
            }
        }
    }
}

static void stream_run(Fixture *f, QChimneyConn *hc, int nconns,
                       uint32_t sends, const uint64_t *buf,
                       const uint64_t *sgl, bool step_clock)
{
    stream_run_stats(f, hc, nconns, sends, buf, sgl, step_clock, NULL);
}

typedef struct StreamOpts {
    int conns;
    uint64_t total;             /* bytes over all connections */
    const char *rules;          /* fault injection, or NULL */
    const char *pcap;           /* filter-dump file, or NULL */
    bool report;
} StreamOpts;

static int cmp_i64(const void *a, const void *b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

    return x < y ? -1 : x > y;
}

/* The demo's final report */
static void stream_report(Fixture *f, StreamStats *st, const StreamOpts *opt,
                          double secs)
{
    g_autofree char *conns = qom_str(f, "x-conn-stats");
    uint64_t rexmit = 0;
    char *p = conns;

    stream_progress(st, true);
    qsort(st->latency, st->nlat, sizeof(*st->latency), cmp_i64);
    while ((p = strstr(p, " retransmits="))) {
        rexmit += g_ascii_strtoull(p + 13, &p, 10);
    }
    g_test_message("==== report ====");
    g_test_message("connections        %d (libslirp, server on 127.0.0.1)",
                   opt->conns);
    g_test_message("bytes              %" PRIu64 " (%" PRIu64 " MiB), "
                   "SHA-256 checked at the server: match", st->acked,
                   st->acked >> 20);
    g_test_message("throughput         %.1f MiB/s over %.2f s",
                   (st->acked / 1048576.0) / secs, secs);
    g_test_message("send completions   %u, latency post->completion "
                   "p50 %.3f ms  p99 %.3f ms  max %.3f ms", st->nlat,
                   st->latency[st->nlat / 2] / 1e3,
                   st->latency[MIN(st->nlat - 1, st->nlat * 99 / 100)] / 1e3,
                   st->latency[st->nlat - 1] / 1e3);
    g_test_message("statuses           SUCCESS %" PRIu64 ", other %" PRIu64,
                   st->statuses[CHIMNEY_ST_SUCCESS],
                   st->nlat - st->statuses[CHIMNEY_ST_SUCCESS]);
    g_test_message("retransmissions    %" PRIu64, rexmit);
    g_test_message("fault rules        %s", opt->rules ? opt->rules : "none");
    if (opt->pcap) {
        g_test_message("pcap of the wire   %s", opt->pcap);
    }
}

/*
 * A server on 127.0.0.1 and a guest on libslirp: @nconns connections set
 * up through the L2 queues and slirp, then offloaded, each with @rq
 * receive queue entries (0: none).
 */
static void slirp_connect(Fixture *f, StreamServer *srv, QChimneyConn *hc,
                          int nconns, uint32_t rq, const char *extra)
{
    struct sockaddr_in addr = { .sin_family = AF_INET };
    socklen_t alen = sizeof(addr);
    ChimneyTcpOffload o;
    uint64_t ring;

    srv->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(bind(srv->listen_fd, (struct sockaddr *)&addr,
                         sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(srv->listen_fd, nconns), ==, 0);
    g_assert_cmpint(getsockname(srv->listen_fd, (struct sockaddr *)&addr,
                                &alen), ==, 0);
    srv->port = ntohs(addr.sin_port);

    /* The guest: slirp is the wire */
    f->qts = qtest_initf("-M pc -m 1G -nodefaults -netdev user,id=n0 "
                         "-device chimney-nic,netdev=n0,id=nic0,mac=" MAC
                         " %s", extra ? extra : "");
    f->sock = -1;
    pc_alloc_init(&f->alloc, f->qts, ALLOC_NO_FLAGS);
    f->bus = qpci_new_pc(f->qts, &f->alloc);
    fx_start(f, &(QChimneyConfig) { .rx_buffers = 32, .rx_own_cq = true });
    ring = QEMU_ALIGN_UP(guest_alloc(&f->alloc, 1024 * 32 + 64), 64);
    qtest_memset(f->qts, ring, 0, 1024 * 32);
    g_assert_cmpuint(qchimney_create_cq(&f->c, 2, ring, 1024, 2, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);

    for (int i = 0; i < nconns; i++) {
        conn_setup(f, &hc[i], i, 2, STREAM_SQ);
        hc[i].ip = cpu_to_be32(0x0a00020f);         /* 10.0.2.15 */
        hc[i].peer_ip = cpu_to_be32(0x0a000202);    /* 10.0.2.2 */
        hc[i].peer_port = srv->port;
        if (rq) {
            hc[i].rq_size = rq;
            hc[i].rq_base = QEMU_ALIGN_UP(guest_alloc(&f->alloc,
                                                      rq * 32 + 64), 64);
        }
        if (!i) {
            qchimney_arp_request(&f->c, &hc[0]);
            qchimney_arp_reply_wait(&f->c, &hc[0]);
        } else {
            memcpy(hc[i].peer_mac, hc[0].peer_mac, 6);
        }
        hc[i].iss = 0x10000000 * (i + 1);
        qchimney_tcp_syn(&f->c, &hc[i]);
        srv->fd[i] = accept(srv->listen_fd, NULL, NULL);
        g_assert_cmpint(srv->fd[i], >=, 0);
        qchimney_tcp_synack_wait(&f->c, &hc[i]);
        if (!i) {
            g_assert_cmpuint(qchimney_offload_neighbor(&f->c, 0, hc[0].mac,
                                                       hc[0].peer_mac), ==, 0);
            g_assert_cmpuint(qchimney_offload_path(&f->c, 0, 0, hc[0].ip,
                                                   hc[0].peer_ip, 1500), ==,
                             0);
        }
        qchimney_tcp_block(&hc[i], 0, 2, &o);
        g_assert_cmpuint(qchimney_offload_tcp(&f->c, &hc[i], &o, 0), ==, 0);
    }
}

static void slirp_stream(const StreamOpts *opt)
{
    const int nconns = opt->conns;
    const uint32_t sends = MAX(opt->total / nconns / STREAM_CHUNK, 1);
    const uint64_t total = (uint64_t)sends * nconns * STREAM_CHUNK;
    g_autofree char *pcap = opt->pcap ?
        g_strdup_printf("-object filter-dump,id=dump0,netdev=n0,file=%s",
                        opt->pcap) : g_strdup("");
    StreamStats st = { 0 };
    StreamServer srv = { 0 };
    Fixture f = { 0 };
    QChimneyConn hc[STREAM_CONNS];
    uint64_t buf[STREAM_CONNS], sgl[STREAM_CONNS];
    g_autofree uint8_t *pattern = g_malloc(STREAM_BUF);
    gint64 t0, t1;

    slirp_connect(&f, &srv, hc, nconns, 0, pcap);
    for (int i = 0; i < nconns; i++) {
        for (uint32_t k = 0; k < STREAM_BUF; k++) {
            pattern[k] = stream_byte(i, k);
        }
        buf[i] = guest_alloc(&f.alloc, STREAM_BUF);
        qtest_memwrite(f.qts, buf[i], pattern, STREAM_BUF);
        sgl[i] = guest_alloc(&f.alloc, STREAM_SQ * sizeof(ChimneySge));
    }
    for (int i = 0; i < nconns; i++) {
        StreamPeer *p = g_new0(StreamPeer, 1);

        p->srv = &srv;
        p->i = i;
        srv.thread[i] = g_thread_new("stream", stream_reader, p);
    }

    if (opt->rules) {
        set_rules(&f, opt->rules);
    }
    st.posted_at = g_new0(gint64, (uint64_t)nconns * sends);
    st.latency = g_new0(gint64, (uint64_t)nconns * sends);
    st.total = total;
    t0 = st.start = g_get_monotonic_time();
    stream_run_stats(&f, hc, nconns, sends, buf, sgl, opt->rules != NULL,
                     opt->report ? &st : NULL);
    t1 = g_get_monotonic_time();

    for (int i = 0; i < nconns; i++) {
        g_autofree char *sha = stream_sha(i, sends);

        g_thread_join(srv.thread[i]);
        g_assert_cmpuint(srv.bytes[i], ==, (uint64_t)sends * STREAM_CHUNK);
        g_assert_cmpstr(srv.sha[i], ==, sha);
        g_free(srv.sha[i]);
    }
    g_test_message("libslirp: %d connections, %" PRIu64 " MiB acknowledged "
                   "and hash-checked at the server in %.2f s (%.1f MiB/s), "
                   "%u send completions each, FIN both ways",
                   nconns, total >> 20, (t1 - t0) / 1e6,
                   (total >> 20) / ((t1 - t0) / 1e6), sends);
    if (opt->report) {
        stream_report(&f, &st, opt, (t1 - t0) / 1e6);
    }
    g_free(st.posted_at);
    g_free(st.latency);
    close(srv.listen_fd);
    qchimney_stop(&f.c);
    qpci_free_pc(f.bus);
    alloc_destroy(&f.alloc);
    qtest_quit(f.qts);
}

/* The echo server: every byte back, hashed; its FIN after the peer's */
static gpointer echo_server(gpointer opaque)
{
    StreamPeer *p = opaque;
    int fd = p->srv->fd[p->i];
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree uint8_t *buf = g_malloc(STREAM_CHUNK);
    ssize_t n;

    while ((n = recv(fd, buf, STREAM_CHUNK, 0)) > 0) {
        g_checksum_update(sum, buf, n);
        p->srv->bytes[p->i] += n;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = send(fd, buf + off, n - off, 0);

            g_assert_cmpint(w, >, 0);
            off += w;
        }
    }
    p->srv->sha[p->i] = g_strdup(g_checksum_get_string(sum));
    g_checksum_free(sum);
    close(fd);
    g_free(p);
    return NULL;
}

#define ECHO_CONNS  2
#define ECHO_SENDS  64          /* chunks of STREAM_CHUNK: 4 MiB a way */
#define ECHO_RQ     16
#define ECHO_RBUF   (16 * 1024)

/* Post receive buffer @k of connection @hc again (its SGL is at @sgl). */
static void echo_post_recv(Fixture *f, QChimneyConn *hc, uint64_t sgl,
                           uint32_t k)
{
    ChimneySqDesc d = {
        .type = CHIMNEY_RQ_RECEIVE, .nsge = cpu_to_le16(1),
        .len = cpu_to_le32(ECHO_RBUF), .cookie = cpu_to_le64(k),
        .sgl = cpu_to_le64(sgl + k * sizeof(ChimneySge)),
    };
    uint32_t tail;

    qtest_memwrite(f->qts, hc->rq_base + hc->rq_tail * sizeof(d), &d,
                   sizeof(d));
    hc->rq_tail = (hc->rq_tail + 1) % ECHO_RQ;
    tail = cpu_to_le32(hc->rq_tail);
    qtest_memwrite(f->qts, hc->db_record + 4, &tail, 4);
}

/* What an echo run needs per connection, in guest memory */
typedef struct EchoConn {
    uint64_t buf, sgl;          /* the stream to send */
    uint64_t rbuf, rsgl;        /* ECHO_RQ receive buffers and their SGLs */
    StreamSq sq;
    ChimneyGuestRecvFifo recvs; /* posted receives, oldest first */
    uint64_t recv_cookie[ECHO_RQ];
} EchoConn;

static void echo_prepare(Fixture *f, QChimneyConn *hc, EchoConn *ec, int i)
{
    g_autofree uint8_t *pattern = g_malloc(STREAM_BUF);

    for (uint32_t k = 0; k < STREAM_BUF; k++) {
        pattern[k] = stream_byte(i, k);
    }
    ec->buf = guest_alloc(&f->alloc, STREAM_BUF);
    qtest_memwrite(f->qts, ec->buf, pattern, STREAM_BUF);
    ec->sgl = guest_alloc(&f->alloc, STREAM_SQ * sizeof(ChimneySge));
    ec->rbuf = guest_alloc(&f->alloc, ECHO_RQ * ECHO_RBUF);
    ec->rsgl = guest_alloc(&f->alloc, ECHO_RQ * sizeof(ChimneySge));
    stream_sq_init(&ec->sq, hc);
    chimney_guest_recv_init(&ec->recvs, ec->recv_cookie, ECHO_RQ);
    for (uint32_t k = 0; k + 1 < ECHO_RQ; k++) {
        ChimneySge e = {
            .addr = cpu_to_le64(ec->rbuf + k * ECHO_RBUF),
            .len = cpu_to_le32(ECHO_RBUF),
        };

        qtest_memwrite(f->qts, ec->rsgl + k * sizeof(e), &e, sizeof(e));
        echo_post_recv(f, hc, ec->rsgl, k);
        g_assert(chimney_guest_recv_posted(&ec->recvs, k));
    }
}

/*
 * Stream @sends chunks on each connection and take the echo through
 * posted receives, checking every byte, until both FINs crossed.  With
 * @step_clock the virtual clock moves on while nothing completes, so the
 * timers run against a lossy wire.
 */
static void echo_run(Fixture *f, QChimneyConn *hc, EchoConn *ec, int nconns,
                     uint32_t sends, bool step_clock)
{
    const uint64_t total = (uint64_t)sends * STREAM_CHUNK;
    uint64_t rcvd[STREAM_CONNS] = { 0 };
    uint32_t posted[STREAM_CONNS] = { 0 }, done[STREAM_CONNS] = { 0 };
    bool fin_done[STREAM_CONNS] = { 0 }, peer_fin[STREAM_CONNS] = { 0 };
    g_autofree uint8_t *got = g_malloc(ECHO_RBUF);
    gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
    int left = nconns;

    while (left) {
        ChimneyCqe cqe;
        int i;

        /* New sends, and the receives reposted below */
        for (i = 0; i < nconns; i++) {
            stream_feed(f, &hc[i], &ec[i].sq, i, sends, ec[i].buf,
                        ec[i].sgl, &posted[i], done[i], NULL);
            qchimney_sq_kick(&f->c, &hc[i]);
        }
        if (!qchimney_cq_wait_timeout(&f->c, 2, &cqe,
                                      step_clock ? 20 * 1000 :
                                      QCHIMNEY_TIMEOUT_US)) {
            if (!step_clock || g_get_monotonic_time() > deadline) {
                g_autofree char *cs = qom_str(f, "x-conn-stats");

                g_test_message("no progress: %s", cs);
                g_assert_not_reached();
            }
            /*
             * No faster than real time: the kernel's timers run on its own
             * clock, and a window update lost on the wire waits for its
             * zero-window probe, which must come before our FIN_WAIT_2
             * timer runs out.
             */
            qtest_clock_step(f->qts, 20 * MS_NS);
            continue;
        }
        i = CHIMNEY_CONN_INDEX(cqe.obj);
        g_assert_cmpint(i, <, nconns);
        switch (CHIMNEY_CQE_TYPE(cqe.type_status)) {
        case CHIMNEY_CQE_SEND:
            g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                             CHIMNEY_ST_SUCCESS);
            g_assert_cmphex(cqe.cookie, ==, (uint64_t)i << 32 | done[i]);
            stream_sq_completed(&ec[i].sq, &cqe);
            done[i]++;
            break;
        case CHIMNEY_CQE_DISCONNECT:
            stream_sq_completed(&ec[i].sq, &cqe);
            fin_done[i] = true;
            left -= peer_fin[i];
            break;
        case CHIMNEY_CQE_RECV:
            /* In posting order, whatever the status */
            g_assert(chimney_guest_recv_complete(&ec[i].recvs, &cqe));
            /* Reposted as the FIN came in: refused, and that is all */
            if (peer_fin[i]) {
                g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                                 CHIMNEY_ST_INVALID_STATE);
                break;
            }
            /* The echo, in order, byte for byte */
            g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                             CHIMNEY_ST_SUCCESS);
            g_assert_cmpuint(cqe.bytes, <=, ECHO_RBUF);
            if (cqe.bytes) {
                qtest_bufread(f->qts, ec[i].rbuf + cqe.cookie * ECHO_RBUF,
                              got, cqe.bytes);
            }
            for (uint32_t b = 0; b < cqe.bytes; b++) {
                if (got[b] != stream_byte(i, rcvd[i] + b)) {
                    g_test_message("conn %d: byte %" PRIu64 " is 0x%02x",
                                   i, rcvd[i] + b, got[b]);
                    g_assert_not_reached();
                }
            }
            rcvd[i] += cqe.bytes;
            echo_post_recv(f, &hc[i], ec[i].rsgl, cqe.cookie);
            g_assert(chimney_guest_recv_posted(&ec[i].recvs, cqe.cookie));
            break;
        case CHIMNEY_CQE_EVENT:
            if (cqe.aux == CHIMNEY_EVENT_UPLOAD_REQUEST) {
                /* TIME_WAIT after both FINs: the host takes over */
                if (!peer_fin[i] || !fin_done[i]) {
                    g_autofree char *cs = qom_str(f, "x-conn-stats");

                    g_test_message("conn %d: upload requested (reason %u) "
                                   "at %u/%u sends, %" PRIu64 " bytes back: "
                                   "%s", i, cqe.info, done[i], sends,
                                   rcvd[i], cs);
                }
                g_assert_cmpuint(cqe.info, ==, CHIMNEY_UPLOAD_TIMEOUT);
                g_assert(peer_fin[i] && fin_done[i]);
                break;
            }
            /* The server's FIN: only after all the echo was delivered */
            g_assert_cmpuint(cqe.aux, ==, CHIMNEY_EVENT_DISCONNECT);
            g_assert_cmpuint(rcvd[i], ==, total);
            peer_fin[i] = true;
            left -= fin_done[i];
            break;
        default:
            g_assert_not_reached();
        }
    }
}

/*
 * Both ways through libslirp's TCP: the device streams to an echo server
 * and takes the echo through posted receives; each side checks every
 * byte, and the FINs cross once all of it is through.
 */
static void test_slirp_echo(void)
{
    StreamServer srv = { 0 };
    Fixture f = { 0 };
    QChimneyConn hc[ECHO_CONNS];
    EchoConn ec[ECHO_CONNS];
    gint64 t0 = g_get_monotonic_time();

    slirp_connect(&f, &srv, hc, ECHO_CONNS, ECHO_RQ, NULL);
    for (int i = 0; i < ECHO_CONNS; i++) {
        StreamPeer *p = g_new0(StreamPeer, 1);

        echo_prepare(&f, &hc[i], &ec[i], i);
        p->srv = &srv;
        p->i = i;
        srv.thread[i] = g_thread_new("echo", echo_server, p);
    }
    echo_run(&f, hc, ec, ECHO_CONNS, ECHO_SENDS, false);
    for (int i = 0; i < ECHO_CONNS; i++) {
        g_autofree char *sha = stream_sha(i, ECHO_SENDS);

        g_thread_join(srv.thread[i]);
        g_assert_cmpuint(srv.bytes[i], ==, (uint64_t)ECHO_SENDS * STREAM_CHUNK);
        g_assert_cmpstr(srv.sha[i], ==, sha);
        g_free(srv.sha[i]);
    }
    g_test_message("libslirp echo: %d connections, %u MiB each way, checked "
                   "at both ends in %.2f s", ECHO_CONNS,
                   ECHO_SENDS * STREAM_CHUNK >> 20,
                   (g_get_monotonic_time() - t0) / 1e6);
    close(srv.listen_fd);
    qchimney_stop(&f.c);
    qpci_free_pc(f.bus);
    alloc_destroy(&f.alloc);
    qtest_quit(f.qts);
}

static void test_slirp_stream(void)
{
    const char *mib = g_getenv("SLIRP_STREAM_MIB");
    StreamOpts opt = {
        .conns = 4, .total = (mib ? atoi(mib) : 64) * 1024ull * 1024,
    };

    slirp_stream(&opt);
}

/*
 * The demo (scripts/run-demo.sh): the stream with a progress display and
 * a report; CHIMNEY_DEMO_CONNS, _MIB, _RULES and _PCAP set it up.
 */
static void test_demo(void)
{
    const char *conns = g_getenv("CHIMNEY_DEMO_CONNS");
    const char *mib = g_getenv("CHIMNEY_DEMO_MIB");
    StreamOpts opt = {
        .conns = conns ? atoi(conns) : 4,
        .total = (mib ? atoi(mib) : 64) * 1024ull * 1024,
        .rules = g_getenv("CHIMNEY_DEMO_RULES"),
        .pcap = g_getenv("CHIMNEY_DEMO_PCAP"),
        .report = true,
    };

    if (!g_getenv("CHIMNEY_DEMO")) {
        g_test_skip("the demo runs from scripts/run-demo.sh");
        return;
    }
    g_assert_cmpint(opt.conns, >=, 1);
    g_assert_cmpint(opt.conns, <=, STREAM_CONNS);
    slirp_stream(&opt);
}


/*
 * End to end with the Linux kernel's TCP: a tap device in a network
 * namespace the test makes, a TCP sink there, and between QEMU's socket
 * netdev and the tap a relay of the test's that drops, duplicates and
 * reorders frames by a seeded schedule (the kernel has no netem here).
 */
#define KERNEL_PORT 5001

static const char kernel_sink_py[] =
    "import socket, sys, hashlib, threading, time, signal\n"
    "signal.alarm(300)\n"
    "n, rcvbuf, slow = int(sys.argv[1]), int(sys.argv[2]), "
    "float(sys.argv[3])\n"
    "echo = sys.argv[4] == '1'\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "if rcvbuf: s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)\n"
    "s.bind(('10.9.0.2', 5001)); s.listen(n); print('ready', flush=True)\n"
    "def serve(c, a):\n"
    "    h, t = hashlib.sha256(), 0\n"
    "    while True:\n"
    "        d = c.recv(1024 if slow else 65536)\n"
    "        if not d: break\n"
    "        h.update(d); t += len(d)\n"
    "        if echo: c.sendall(d)\n"
    "        if slow and t >= 65536 and t - len(d) < 65536: time.sleep(1.5)\n"
    "        elif slow: time.sleep(slow)\n"
    "    print(a[1], t, h.hexdigest(), flush=True); c.close()\n"
    "ts = []\n"
    "for i in range(n):\n"
    "    c, a = s.accept()\n"
    "    ts.append(threading.Thread(target=serve, args=(c, a)))\n"
    "    ts[-1].start()\n"
    "for t in ts: t.join()\n";

typedef struct Relay {
    int sock, tap;
    GRand *rand;
    double loss, dup, reorder;
    bool lossy;                 /* only once the connections are offloaded */
    bool stop;
    GThread *thread;
    uint64_t dropped, duplicated, reordered;
} Relay;

static bool relay_fate(Relay *r, const uint8_t *f, size_t len, bool *twice,
                       bool *hold)
{
    bool tcp = len > 34 && lduw_be_p(f + 12) == 0x0800 && f[23] == 6;

    *twice = *hold = false;
    if (!qatomic_read(&r->lossy) || !tcp) {
        return true;
    }
    if (g_rand_double(r->rand) < r->loss) {
        r->dropped++;
        return false;
    }
    *twice = g_rand_double(r->rand) < r->dup;
    *hold = g_rand_double(r->rand) < r->reorder;
    r->duplicated += *twice;
    r->reordered += *hold;
    return true;
}

static void relay_to_qemu(Relay *r, const uint8_t *f, size_t len)
{
    uint32_t be = htonl(len);
    struct iovec iov[] = {
        { .iov_base = &be, .iov_len = 4 },
        { .iov_base = (void *)f, .iov_len = len },
    };

    iov_send(r->sock, iov, 2, 0, 4 + len);
}

static gpointer relay_thread(gpointer opaque)
{
    Relay *r = opaque;
    uint8_t f[65536], held[2][65536];
    size_t held_len[2] = { 0, 0 };

    while (!qatomic_read(&r->stop)) {
        struct pollfd pfd[2] = {
            { .fd = r->sock, .events = POLLIN },
            { .fd = r->tap, .events = POLLIN },
        };

        if (poll(pfd, 2, 50) <= 0) {
            continue;
        }
        for (int dir = 0; dir < 2; dir++) {
            ssize_t len;
            bool twice, hold;

            if (!(pfd[dir].revents & POLLIN)) {
                continue;
            }
            if (dir == 0) {
                uint32_t be;

                if (recv(r->sock, &be, 4, MSG_WAITALL) != 4) {
                    return NULL;
                }
                len = ntohl(be);
                g_assert_cmpint(len, <=, sizeof(f));
                g_assert_cmpint(recv(r->sock, f, len, MSG_WAITALL), ==, len);
            } else {
                len = read(r->tap, f, sizeof(f));
                if (len <= 0) {
                    continue;
                }
            }
            /* The wire carries IPv4 and ARP only (no IPv6 chatter) */
            if (len < 14 || (lduw_be_p(f + 12) != 0x0800 &&
                             lduw_be_p(f + 12) != 0x0806)) {
                continue;
            }
            if (!relay_fate(r, f, len, &twice, &hold)) {
                continue;
            }
            if (hold && !held_len[dir]) {
                memcpy(held[dir], f, len);      /* goes after the next one */
                held_len[dir] = len;
                continue;
            }
            for (int n = 0; n < 1 + twice; n++) {
                if (dir == 0) {
                    g_assert_cmpint(write(r->tap, f, len), ==, len);
                } else {
                    relay_to_qemu(r, f, len);
                }
            }
            if (held_len[dir]) {
                if (dir == 0) {
                    g_assert_cmpint(write(r->tap, held[dir], held_len[dir]),
                                    ==, held_len[dir]);
                } else {
                    relay_to_qemu(r, held[dir], held_len[dir]);
                }
                held_len[dir] = 0;
            }
        }
    }
    return NULL;
}

static bool run_cmd(const char *cmd)
{
    g_autofree char *out = NULL, *err = NULL;
    int status;

    if (!g_spawn_command_line_sync(cmd, &out, &err, &status, NULL) ||
        !WIFEXITED(status) || WEXITSTATUS(status)) {
        g_test_message("'%s' failed: %s", cmd, err ? err : "");
        return false;
    }
    return true;
}

typedef struct KernelRun {
    const char *name;
    int conns;
    uint32_t mib_per_conn;
    double loss, dup, reorder;
    int rcvbuf;
    const char *slow;
    bool echo;                  /* the sink sends everything back */
} KernelRun;

static void test_kernel_tcp(gconstpointer opaque)
{
    const KernelRun *k = opaque;
    g_autofree char *ns = g_strdup_printf("chimney%d", getpid());
    g_autofree char *tap = g_strdup_printf("chtap%d", getpid() % 100000);
    g_autofree char *cmd = NULL;
    g_autofree char *nconn = g_strdup_printf("%d", k->conns);
    g_autofree char *rcvbuf = g_strdup_printf("%d", k->rcvbuf);
    const uint32_t sends = k->mib_per_conn * 1024 * 1024 / STREAM_CHUNK;
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
    Relay relay = { 0 };
    Fixture f = { 0 };
    QChimneyConn hc[STREAM_CONNS];
    uint64_t buf[STREAM_CONNS], sgl[STREAM_CONNS], ring;
    g_autofree uint8_t *pattern = g_malloc(STREAM_BUF);
    EchoConn ec[STREAM_CONNS];
    ChimneyTcpOffload o;
    GPid pid;
    int out_fd, sv[2];
    FILE *out;
    char line[256];
    gint64 t0, t1;
    g_autofree char *stats = NULL;

    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) ||
        !g_find_program_in_path("ip")) {
        g_test_skip("needs root, /dev/net/tun and ip(8) for a tap in a "
                    "network namespace");
        return;
    }
    /* The namespace, its tap and the kernel's TCP sink */
    relay.tap = open("/dev/net/tun", O_RDWR);
    g_assert_cmpint(relay.tap, >=, 0);
    pstrcpy(ifr.ifr_name, IFNAMSIZ, tap);
    g_assert_cmpint(ioctl(relay.tap, TUNSETIFF, &ifr), ==, 0);
    cmd = g_strdup_printf("ip netns add %s", ns);
    g_assert(run_cmd(cmd));
    g_free(cmd);
    cmd = g_strdup_printf("ip link set %s netns %s", tap, ns);
    g_assert(run_cmd(cmd));
    g_free(cmd);
    cmd = g_strdup_printf("ip -n %s addr add 10.9.0.2/24 dev %s", ns, tap);
    g_assert(run_cmd(cmd));
    g_free(cmd);
    cmd = g_strdup_printf("ip -n %s link set %s up", ns, tap);
    g_assert(run_cmd(cmd));
    g_free(cmd);
    cmd = g_strdup_printf("ip -n %s link set lo up", ns);
    g_assert(run_cmd(cmd));
    /*
     * The sink only receives, so the kernel never confirms the guest as a
     * neighbor and would ARP for it again mid-stream; the model driver's
     * host stack does not answer ARP once it is streaming, so pin it.
     */
    g_free(cmd);
    cmd = g_strdup_printf("ip -n %s neigh replace 10.9.0.1 lladdr " MAC
                          " dev %s nud permanent", ns, tap);
    g_assert(run_cmd(cmd));
    {
        const char *argv[] = {
            "ip", "netns", "exec", ns, "/usr/bin/python3", "-c",
            kernel_sink_py, nconn, rcvbuf, k->slow, k->echo ? "1" : "0",
            NULL,
        };

        g_assert(g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
                                          G_SPAWN_SEARCH_PATH |
                                          G_SPAWN_DO_NOT_REAP_CHILD |
                                          G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                                          NULL, &pid, NULL, &out_fd, NULL,
                                          NULL));
    }
    out = fdopen(out_fd, "r");
    g_assert(fgets(line, sizeof(line), out));
    g_assert_cmpstr(line, ==, "ready\n");

    /* QEMU, with the relay as its wire */
    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    f.qts = qtest_initf("-M pc -m 512M -nodefaults "
                        "-netdev socket,fd=%d,id=n0 "
                        "-device chimney-nic,netdev=n0,id=nic0,mac=" MAC,
                        sv[1]);
    close(sv[1]);
    f.sock = -1;
    relay.sock = sv[0];
    relay.rand = g_rand_new_with_seed(1234);
    relay.loss = k->loss;
    relay.dup = k->dup;
    relay.reorder = k->reorder;
    relay.thread = g_thread_new("relay", relay_thread, &relay);
    pc_alloc_init(&f.alloc, f.qts, ALLOC_NO_FLAGS);
    f.bus = qpci_new_pc(f.qts, &f.alloc);
    fx_start(&f, &(QChimneyConfig) { .rx_buffers = 32, .rx_own_cq = true });
    ring = QEMU_ALIGN_UP(guest_alloc(&f.alloc, 1024 * 32 + 64), 64);
    qtest_memset(f.qts, ring, 0, 1024 * 32);
    g_assert_cmpuint(qchimney_create_cq(&f.c, 2, ring, 1024, 2, 0, 0), ==, 0);
    /* A lossy wire: allow 15 retransmissions, as Linux does */
    qchimney_set_params(&f.c, 15);
    for (int i = 0; i < k->conns; i++) {
        for (uint32_t b = 0; b < STREAM_BUF; b++) {
            pattern[b] = stream_byte(i, b);
        }
        buf[i] = guest_alloc(&f.alloc, STREAM_BUF);
        qtest_memwrite(f.qts, buf[i], pattern, STREAM_BUF);
        sgl[i] = guest_alloc(&f.alloc, STREAM_SQ * sizeof(ChimneySge));
        conn_setup(&f, &hc[i], i, 2, STREAM_SQ);
        hc[i].ip = cpu_to_be32(0x0a090001);        /* 10.9.0.1 */
        hc[i].peer_ip = cpu_to_be32(0x0a090002);   /* 10.9.0.2 */
        hc[i].peer_port = KERNEL_PORT;
        if (k->echo) {
            hc[i].rq_size = ECHO_RQ;
            hc[i].rq_base = QEMU_ALIGN_UP(guest_alloc(&f.alloc,
                                                      ECHO_RQ * 32 + 64), 64);
        }
        if (!i) {
            qchimney_arp_request(&f.c, &hc[0]);
            qchimney_arp_reply_wait(&f.c, &hc[0]);
        } else {
            memcpy(hc[i].peer_mac, hc[0].peer_mac, 6);
        }
        hc[i].iss = 0x30000000 * (i + 1);
        qchimney_tcp_syn(&f.c, &hc[i]);
        qchimney_tcp_synack_wait(&f.c, &hc[i]);
        if (!i) {
            g_assert_cmpuint(qchimney_offload_neighbor(&f.c, 0, hc[0].mac,
                                                       hc[0].peer_mac), ==, 0);
            g_assert_cmpuint(qchimney_offload_path(&f.c, 0, 0, hc[0].ip,
                                                   hc[0].peer_ip, 1500), ==,
                             0);
        }
        qchimney_tcp_block(&hc[i], 0, 2, &o);
        g_assert_cmpuint(qchimney_offload_tcp(&f.c, &hc[i], &o, 0), ==, 0);
        if (k->echo) {
            echo_prepare(&f, &hc[i], &ec[i], i);
        }
    }
    qatomic_set(&relay.lossy, true);

    t0 = g_get_monotonic_time();
    if (k->echo) {
        echo_run(&f, hc, ec, k->conns, sends, true);
    } else {
        stream_run(&f, hc, k->conns, sends, buf, sgl, true);
    }
    t1 = g_get_monotonic_time();

    /* The sink's view: byte-exact streams */
    for (int n = 0; n < k->conns; n++) {
        unsigned port;
        uint64_t bytes;
        char sha[80];
        g_autofree char *want = NULL;
        int i;

        g_assert(fgets(line, sizeof(line), out));
        g_assert_cmpint(sscanf(line, "%u %" SCNu64 " %79s", &port, &bytes,
                               sha), ==, 3);
        i = port - 40000;
        g_assert_cmpint(i, >=, 0);
        g_assert_cmpint(i, <, k->conns);
        want = stream_sha(i, sends);
        g_assert_cmpuint(bytes, ==, (uint64_t)sends * STREAM_CHUNK);
        g_assert_cmpstr(sha, ==, want);
    }
    stats = qom_str(&f, "x-conn-stats");
    g_test_message("kernel TCP (%s): %d x %u MiB byte-exact in %.2f s; relay "
                   "dropped %" PRIu64 ", duplicated %" PRIu64 ", reordered %"
                   PRIu64 "; device:\n%s", k->name, k->conns,
                   k->mib_per_conn, (t1 - t0) / 1e6, relay.dropped,
                   relay.duplicated, relay.reordered, stats);
    if (k->loss) {
        g_assert(relay.dropped > 0);
        g_assert_nonnull(strstr(stats, "retransmits="));
        g_assert_null(strstr(stats, " retransmits=0 "));
    }
    if (k->rcvbuf) {
        /* the window closed and reopened: zero-window probes went out */
        g_assert_null(strstr(stats, " probes=0 "));
    }
    if (k->echo && k->loss) {
        /* the receive side saw losses too: data out of order */
        g_assert_null(strstr(stats, " ooo_segs=0 "));
    }

    qatomic_set(&relay.stop, true);
    g_thread_join(relay.thread);
    g_rand_free(relay.rand);
    fclose(out);
    g_spawn_close_pid(pid);
    qchimney_stop(&f.c);
    qpci_free_pc(f.bus);
    alloc_destroy(&f.alloc);
    qtest_quit(f.qts);
    close(relay.sock);
    close(relay.tap);
    g_free(cmd);
    cmd = g_strdup_printf("ip netns del %s", ns);
    run_cmd(cmd);
}

static const KernelRun kernel_runs[] = {
    { "1% loss, reordering, duplicates", 2, 8, 0.01, 0.005, 0.01, 0, "0" },
    { "5% loss, reordering", 2, 4, 0.05, 0, 0.02, 0, "0" },
    { "slow reader, small window", 1, 1, 0, 0, 0, 2048, "0.005" },
    { "echo both ways, 1% loss, reordering", 2, 8, 0.01, 0, 0.01, 0, "0",
      true },
};

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
    qtest_add_func("/chimney/slirp/ping", test_slirp_ping);
    qtest_add_func("/chimney/slirp/stream", test_slirp_stream);
    qtest_add_func("/chimney/slirp/echo", test_slirp_echo);
    qtest_add_func("/chimney/demo", test_demo);
    qtest_add_data_func("/chimney/kernel/loss1", &kernel_runs[0],
                        test_kernel_tcp);
    qtest_add_data_func("/chimney/kernel/loss5", &kernel_runs[1],
                        test_kernel_tcp);
    qtest_add_data_func("/chimney/kernel/window", &kernel_runs[2],
                        test_kernel_tcp);
    qtest_add_data_func("/chimney/kernel/echo", &kernel_runs[3],
                        test_kernel_tcp);
    qtest_add_func("/chimney/tcp/send", test_tcp_send);
    qtest_add_func("/chimney/tcp/retransmit", test_tcp_retransmit);
    qtest_add_func("/chimney/tcp/terminate", test_tcp_terminate);
    qtest_add_func("/chimney/guest/state-tree", test_guest_state_tree);
    qtest_add_func("/chimney/tcp/rst", test_tcp_rst);
    qtest_add_func("/chimney/tcp/many", test_tcp_many);
    qtest_add_func("/chimney/tcp/handover", test_tcp_handover);
    qtest_add_func("/chimney/tcp/abortive", test_tcp_abortive);
    qtest_add_func("/chimney/tcp/invalidate", test_tcp_invalidate);
    qtest_add_func("/chimney/fault/delay", test_fault_delay);
    qtest_add_func("/chimney/fault/hold", test_fault_hold);
    qtest_add_func("/chimney/fault/hold-cq-full", test_fault_hold_cq_full);
    qtest_add_func("/chimney/fault/fail-upload", test_fault_fail_upload);
    qtest_add_func("/chimney/fault/fail-aborted", test_fault_fail_aborted);
    qtest_add_func("/chimney/fault/coalesce", test_fault_coalesce);
    qtest_add_func("/chimney/fault/irq", test_fault_irq);
    qtest_add_func("/chimney/fault/seed", test_fault_seed);
    qtest_add_func("/chimney/fault/selectors", test_fault_selectors);
    qtest_add_func("/chimney/fault/reorder", test_fault_reorder);
    qtest_add_func("/chimney/fault/reset", test_fault_reset);
    qtest_add_func("/chimney/fault/bad-rules", test_fault_bad_rules);
    qtest_add_func("/chimney/bad/tcp-offload", test_bad_tcp_offload);
    qtest_add_func("/chimney/bad/tcp-sends", test_bad_tcp_sends);
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
    qtest_add_func("/chimney/fault/recv", test_fault_recv);
    qtest_add_func("/chimney/bad/tcp-receives", test_bad_tcp_receives);
    return g_test_run();
}
