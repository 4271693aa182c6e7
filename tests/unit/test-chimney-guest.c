/*
 * Unit tests of the chimney-nic driver core (guest/common/chimney-guest.c)
 *
 * Guest memory is a plain array here; the qtests run the same code against
 * the device through qtest.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "tests/qtest/libqos/chimney-guest/chimney-guest.h"

#define MEM_SIZE 65536

static uint8_t mem[MEM_SIZE];

static void mem_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    g_assert_cmpuint(addr + len, <=, MEM_SIZE);
    memcpy(buf, mem + addr, len);
}

static void mem_write(void *opaque, uint64_t addr, const void *buf,
                      size_t len)
{
    g_assert_cmpuint(addr + len, <=, MEM_SIZE);
    memcpy(mem + addr, buf, len);
}

static const ChimneyGuestMem gmem = { NULL, mem_read, mem_write };

/* The device's side: write a CQE body first, the phase word last. */
static void device_post(uint64_t base, uint32_t index, uint32_t phase,
                        uint64_t cookie, uint8_t type, uint8_t status)
{
    uint8_t *e = mem + base + index * CHIMNEY_CQE_SIZE;

    memset(e, 0, CHIMNEY_CQE_SIZE);
    stl_le_p(e, 0x05000007);
    stq_le_p(e + 8, cookie);
    stl_le_p(e + 16, 1234);
    stw_le_p(e + 24, CHIMNEY_QUEUE_CONN_SQ);
    stl_le_p(e + 28, CHIMNEY_CQE_MAKE(type, status, 0) |
             (phase ? CHIMNEY_CQE_PHASE : 0));
}

/* Entries are taken while their phase matches; the phase flips per lap */
static void test_cq_phase(void)
{
    ChimneyGuestCq cq;
    ChimneyCqe cqe;

    memset(mem, 0, sizeof(mem));
    chimney_guest_cq_init(&cq, 0x1000, 4);
    g_assert(!chimney_guest_cq_next(&cq, &gmem, &cqe));
    for (uint32_t n = 0; n < 10; n++) {
        uint32_t lap = n / 4;

        device_post(0x1000, n % 4, !(lap & 1), 100 + n, CHIMNEY_CQE_SEND, 0);
        g_assert(chimney_guest_cq_next(&cq, &gmem, &cqe));
        g_assert_cmphex(cqe.cookie, ==, 100 + n);
        g_assert_cmphex(cqe.obj, ==, 0x05000007);
        g_assert_cmpuint(cqe.bytes, ==, 1234);
        g_assert_cmpuint(cqe.queue, ==, CHIMNEY_QUEUE_CONN_SQ);
        g_assert_cmpuint(CHIMNEY_CQE_TYPE(cqe.type_status), ==,
                         CHIMNEY_CQE_SEND);
        /* the stale entry of the last lap is not taken again */
        g_assert(!chimney_guest_cq_next(&cq, &gmem, &cqe));
    }
    g_assert_cmpuint(cq.head, ==, 2);
    g_assert_cmpuint(cq.phase, ==, 1);
}

/* A ring keeps one slot free; the device's head must be believable */
static void test_ring(void)
{
    ChimneyGuestRing r;
    uint8_t e[32];

    chimney_guest_ring_init(&r, 0x2000, 8, sizeof(e));
    g_assert_cmpuint(chimney_guest_ring_space(&r), ==, 7);
    for (int i = 0; i < 7; i++) {
        memset(e, i + 1, sizeof(e));
        g_assert_cmpuint(chimney_guest_ring_put(&r, &gmem, e), ==, i);
    }
    g_assert_cmpuint(chimney_guest_ring_space(&r), ==, 0);
    g_assert_cmpuint(mem[0x2000 + 6 * 32], ==, 7);
    g_assert(!chimney_guest_ring_consumed(&r, 8));      /* out of range */
    g_assert(chimney_guest_ring_consumed(&r, 3));
    g_assert_cmpuint(chimney_guest_ring_space(&r), ==, 3);
    g_assert(!chimney_guest_ring_consumed(&r, 2));      /* behind the head */
    g_assert(chimney_guest_ring_consumed(&r, 7));
    g_assert_cmpuint(chimney_guest_ring_space(&r), ==, 7);
    for (int i = 0; i < 5; i++) {
        chimney_guest_ring_put(&r, &gmem, e);           /* wraps */
    }
    g_assert_cmpuint(r.tail, ==, 4);
    g_assert(!chimney_guest_ring_consumed(&r, 5));      /* beyond the tail */
    g_assert(chimney_guest_ring_consumed(&r, 4));
}

/* Entries come out little-endian, field by field */
static void test_encoding(void)
{
    ChimneyAdminCmd cmd = {
        .opcode = CHIMNEY_CMD_TERMINATE, .id = 0x01000005,
        .cookie = 0x1122334455667788ull, .addr = 0xabcdef012345ull,
        .len = 96, .param = { CHIMNEY_OBJ_TCP, 0x1000, 0, 4096 },
    };
    ChimneyAdminCmd le;
    ChimneySqDesc d;
    ChimneySge sge;
    const uint8_t *b = (const uint8_t *)&le;

    chimney_guest_admin_cmd(&le, &cmd);
    g_assert_cmpuint(b[0], ==, CHIMNEY_CMD_TERMINATE);
    g_assert_cmphex(ldl_le_p(b + 4), ==, 0x01000005);
    g_assert_cmphex(ldq_le_p(b + 8), ==, 0x1122334455667788ull);
    g_assert_cmphex(ldq_le_p(b + 16), ==, 0xabcdef012345ull);
    g_assert_cmpuint(ldl_le_p(b + 24), ==, 96);
    g_assert_cmpuint(ldl_le_p(b + 28), ==, CHIMNEY_OBJ_TCP);
    g_assert_cmpuint(ldl_le_p(b + 28 + 12), ==, 4096);

    chimney_guest_sq_desc(&d, CHIMNEY_RQ_RECEIVE, CHIMNEY_RQF_NO_PUSH, 2,
                          3000, 0x77, 0x5000);
    b = (const uint8_t *)&d;
    g_assert_cmpuint(b[0], ==, CHIMNEY_RQ_RECEIVE);
    g_assert_cmpuint(b[1], ==, CHIMNEY_RQF_NO_PUSH);
    g_assert_cmpuint(lduw_le_p(b + 2), ==, 2);
    g_assert_cmpuint(ldl_le_p(b + 4), ==, 3000);
    g_assert_cmphex(ldq_le_p(b + 8), ==, 0x77);
    g_assert_cmphex(ldq_le_p(b + 16), ==, 0x5000);
    g_assert_cmphex(ldq_le_p(b + 24), ==, 0);

    chimney_guest_sge(&sge, 0x123456789ull, 512);
    b = (const uint8_t *)&sge;
    g_assert_cmphex(ldq_le_p(b), ==, 0x123456789ull);
    g_assert_cmpuint(ldl_le_p(b + 8), ==, 512);
}

/* Ids: lowest index first, a new generation on reuse, stale ids refused */
static void test_conn_ids(void)
{
    uint8_t gen[3];
    uint32_t next[3], a, b, c, d;
    ChimneyGuestConnTable t;

    chimney_guest_conns_init(&t, 3, gen, next);
    g_assert(chimney_guest_conn_alloc(&t, &a));
    g_assert(chimney_guest_conn_alloc(&t, &b));
    g_assert(chimney_guest_conn_alloc(&t, &c));
    g_assert(!chimney_guest_conn_alloc(&t, &d));
    g_assert_cmphex(a, ==, CHIMNEY_CONN_ID(0, 1));
    g_assert_cmphex(c, ==, CHIMNEY_CONN_ID(2, 1));
    g_assert(chimney_guest_conn_free(&t, b));
    g_assert(!chimney_guest_conn_free(&t, b));          /* twice */
    g_assert(chimney_guest_conn_alloc(&t, &d));
    g_assert_cmphex(d, ==, CHIMNEY_CONN_ID(1, 2));
    g_assert(!chimney_guest_conn_free(&t, b));          /* stale */
    g_assert(!chimney_guest_conn_free(&t, CHIMNEY_CONN_ID(7, 1)));
    g_assert_cmpuint(t.used, ==, 3);
    /* the generation wraps through 0..255 */
    for (int i = 0; i < 300; i++) {
        g_assert(chimney_guest_conn_free(&t, d));
        g_assert(chimney_guest_conn_alloc(&t, &d));
        g_assert_cmpuint(CHIMNEY_CONN_INDEX(d), ==, 1);
    }
    g_assert_cmpuint(CHIMNEY_CONN_GEN(d), ==, (2 + 300) & 0xff);
}

/* Sends of one connection in a row make one chain, up to a limit */
static void test_batch(void)
{
    ChimneyGuestBatch b = { .max = 3 };
    ChimneyCqe x = { .obj = 1 }, y = { .obj = 2 };

    chimney_guest_batch_reset(&b);
    g_assert(!chimney_guest_batch_add(&b, &x));
    g_assert(!chimney_guest_batch_add(&b, &x));
    g_assert(chimney_guest_batch_add(&b, &y));          /* another conn */
    g_assert_cmpuint(b.count, ==, 1);
    g_assert(!chimney_guest_batch_add(&b, &y));
    g_assert(!chimney_guest_batch_add(&b, &y));
    g_assert(chimney_guest_batch_add(&b, &y));          /* the limit */
    g_assert_cmpuint(b.count, ==, 1);
    g_assert_cmpuint(b.obj, ==, 2);
}

static ChimneyCqe sq_cqe(uint64_t cookie, uint32_t sq_head)
{
    return (ChimneyCqe) {
        .cookie = cookie, .sq_head = sq_head, .queue = CHIMNEY_QUEUE_CONN_SQ,
    };
}

/* Send completions: in slot order, with the slot's cookie */
static void test_sq_order(void)
{
    uint64_t cookies[4];
    ChimneyGuestSq q;
    ChimneyCqe cqe;

    chimney_guest_sq_init(&q, 0x5000, 4, cookies);
    g_assert_cmpint(chimney_guest_sq_post(&q, &gmem, CHIMNEY_SQ_SEND, 0, 1,
                                          100, 0xa, 0x6000), ==, 0);
    g_assert_cmpint(chimney_guest_sq_post(&q, &gmem, CHIMNEY_SQ_SEND, 0, 1,
                                          100, 0xb, 0x6000), ==, 1);
    g_assert_cmpint(chimney_guest_sq_post(&q, &gmem, CHIMNEY_SQ_DISCONNECT,
                                          0, 0, 0, 0xc, 0), ==, 2);
    g_assert_cmpint(chimney_guest_sq_post(&q, &gmem, CHIMNEY_SQ_SEND, 0, 1,
                                          1, 0xd, 0x6000), ==, -1);  /* full */
    g_assert_cmpuint(mem[0x5000 + 2 * 32], ==, CHIMNEY_SQ_DISCONNECT);
    cqe = sq_cqe(0xb, 2);
    g_assert_cmpint(chimney_guest_sq_complete(&q, &cqe), ==, -1); /* early */
    cqe = sq_cqe(0xa, 2);
    g_assert_cmpint(chimney_guest_sq_complete(&q, &cqe), ==, -1); /* head */
    cqe = sq_cqe(0xa, 1);
    g_assert_cmpint(chimney_guest_sq_complete(&q, &cqe), ==, 0);
    cqe = sq_cqe(0xb, 2);
    g_assert_cmpint(chimney_guest_sq_complete(&q, &cqe), ==, 1);
    cqe = sq_cqe(0xc, 3);
    cqe.queue = CHIMNEY_QUEUE_ADMIN;                    /* a command's */
    g_assert_cmpint(chimney_guest_sq_complete(&q, &cqe), ==, -1);
    cqe.queue = CHIMNEY_QUEUE_CONN_SQ;
    g_assert_cmpint(chimney_guest_sq_complete(&q, &cqe), ==, 2);
    g_assert_cmpint(chimney_guest_sq_complete(&q, &cqe), ==, -1); /* none */
}

/* Receive completions: the oldest posting first */
static void test_recv_fifo(void)
{
    uint64_t cookies[2];
    ChimneyGuestRecvFifo f;
    ChimneyCqe cqe = { .queue = CHIMNEY_QUEUE_CONN_RQ };

    chimney_guest_recv_init(&f, cookies, 2);
    g_assert(chimney_guest_recv_posted(&f, 1));
    g_assert(chimney_guest_recv_posted(&f, 2));
    g_assert(!chimney_guest_recv_posted(&f, 3));
    cqe.cookie = 2;
    g_assert(!chimney_guest_recv_complete(&f, &cqe));
    cqe.cookie = 1;
    g_assert(chimney_guest_recv_complete(&f, &cqe));
    g_assert(chimney_guest_recv_posted(&f, 3));
    cqe.cookie = 2;
    g_assert(chimney_guest_recv_complete(&f, &cqe));
    cqe.cookie = 3;
    g_assert(chimney_guest_recv_complete(&f, &cqe));
    g_assert(!chimney_guest_recv_complete(&f, &cqe));
}

/* Commands in flight, found again by cookie */
static void test_inflight(void)
{
    uint64_t cookies[2];
    void *ctx[2];
    int x, y, z;
    ChimneyGuestInflight f;

    chimney_guest_inflight_init(&f, cookies, ctx, 2);
    g_assert(!chimney_guest_inflight_add(&f, 0, &x));      /* no cookie 0 */
    g_assert(chimney_guest_inflight_add(&f, 7, &x));
    g_assert(chimney_guest_inflight_add(&f, 8, &y));
    g_assert(!chimney_guest_inflight_add(&f, 9, &z));      /* full */
    g_assert(chimney_guest_inflight_take(&f, 8) == &y);
    g_assert_null(chimney_guest_inflight_take(&f, 8));     /* once */
    g_assert_null(chimney_guest_inflight_take(&f, 99));
    g_assert(chimney_guest_inflight_add(&f, 9, &z));
    g_assert(chimney_guest_inflight_take(&f, 7) == &x);
    g_assert(chimney_guest_inflight_take(&f, 9) == &z);
}

/* A register file that answers like the device, as far as enabling goes */
typedef struct FakeDev {
    uint32_t id, version, status;
    uint32_t regs[CHIMNEY_MMIO_SIZE / 4];
    uint32_t ready_after_us;
    uint32_t waited_us;
    uint32_t asq_doorbells;
} FakeDev;

static uint32_t fake_readl(void *opaque, uint32_t reg)
{
    FakeDev *f = opaque;

    switch (reg) {
    case CHIMNEY_REG_ID:
        return f->id;
    case CHIMNEY_REG_VERSION:
        return f->version;
    case CHIMNEY_REG_STATUS:
        return f->status | (f->regs[CHIMNEY_REG_CTRL / 4] &&
                            f->waited_us >= f->ready_after_us ?
                            CHIMNEY_STATUS_READY : 0);
    default:
        return f->regs[reg / 4];
    }
}

static void fake_writel(void *opaque, uint32_t reg, uint32_t val)
{
    FakeDev *f = opaque;

    if (reg == CHIMNEY_DB_ASQ_TAIL) {
        f->asq_doorbells++;
    }
    f->regs[reg / 4] = val;
}

static void fake_delay(void *opaque, uint32_t us)
{
    ((FakeDev *)opaque)->waited_us += us;
}

static int fake_enable(FakeDev *f, ChimneyGuestDev *d, ChimneyGuestCq *acq)
{
    *d = (ChimneyGuestDev) {
        .opaque = f, .readl = fake_readl, .writel = fake_writel,
        .delay_us = fake_delay, .mem = gmem, .acq = acq,
    };
    return chimney_guest_enable(d, 0x3000, 0x3400, 16, 1000);
}

/* Enabling: our device, our major version, READY in time, no FATAL */
static void test_enable(void)
{
    FakeDev f = {
        .id = CHIMNEY_ID_MAGIC, .version = CHIMNEY_VERSION,
        .ready_after_us = 100,
    };
    ChimneyGuestDev d;
    ChimneyGuestCq acq;
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_IDENTIFY };
    ChimneyCqe cqe;

    memset(mem, 0, sizeof(mem));
    g_assert_cmpint(fake_enable(&f, &d, &acq), ==, CHIMNEY_GUEST_OK);
    g_assert_cmphex(f.regs[CHIMNEY_REG_ASQ_BASE_LO / 4], ==, 0x3000);
    g_assert_cmpuint(f.regs[CHIMNEY_REG_ACQ_SIZE / 4], ==, 16);
    g_assert_cmpuint(f.regs[CHIMNEY_REG_CTRL / 4], ==, CHIMNEY_CTRL_ENABLE);
    g_assert_cmpuint(f.waited_us, >=, 100);
    /* A command nobody completes times out, its entry written */
    g_assert_cmpuint(chimney_guest_admin(&d, &cmd, &cqe, 50), ==,
                     CHIMNEY_GUEST_ST_TIMEOUT);
    g_assert_cmpuint(f.asq_doorbells, ==, 1);
    g_assert_cmpuint(mem[0x3000], ==, CHIMNEY_CMD_IDENTIFY);
    /* Its completion, after a link event that is skipped */
    device_post(0x3400, 0, 1, 0, CHIMNEY_CQE_EVENT, 0);
    device_post(0x3400, 1, 1, cmd.cookie + 1, CHIMNEY_CQE_ADMIN, 0);
    stw_le_p(mem + 0x3400 + CHIMNEY_CQE_SIZE + 24, CHIMNEY_QUEUE_ADMIN);
    stl_le_p(mem + 0x3400 + CHIMNEY_CQE_SIZE + 4, 2);      /* sq_head */
    g_assert_cmpuint(chimney_guest_admin(&d, &cmd, &cqe, 50), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmpuint(d.asq.head, ==, 2);
    g_assert_cmpuint(f.regs[CHIMNEY_DB_CQ_HEAD(0) / 4], ==, 2);

    f = (FakeDev) { .id = 0x12345678, .version = CHIMNEY_VERSION };
    g_assert_cmpint(fake_enable(&f, &d, &acq), ==, CHIMNEY_GUEST_NOT_CHIMNEY);
    f = (FakeDev) { .id = CHIMNEY_ID_MAGIC, .version = 2 << 16 };
    g_assert_cmpint(fake_enable(&f, &d, &acq), ==, CHIMNEY_GUEST_BAD_VERSION);
    f = (FakeDev) {
        .id = CHIMNEY_ID_MAGIC, .version = CHIMNEY_VERSION,
        .status = CHIMNEY_STATUS_FATAL,
    };
    g_assert_cmpint(fake_enable(&f, &d, &acq), ==, CHIMNEY_GUEST_FATAL);
    f = (FakeDev) {
        .id = CHIMNEY_ID_MAGIC, .version = CHIMNEY_VERSION,
        .ready_after_us = 5000,
    };
    g_assert_cmpint(fake_enable(&f, &d, &acq), ==, CHIMNEY_GUEST_TIMEOUT);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chimney-guest/cq-phase", test_cq_phase);
    g_test_add_func("/chimney-guest/ring", test_ring);
    g_test_add_func("/chimney-guest/encoding", test_encoding);
    g_test_add_func("/chimney-guest/conn-ids", test_conn_ids);
    g_test_add_func("/chimney-guest/batch", test_batch);
    g_test_add_func("/chimney-guest/enable", test_enable);
    g_test_add_func("/chimney-guest/sq-order", test_sq_order);
    g_test_add_func("/chimney-guest/recv-fifo", test_recv_fifo);
    g_test_add_func("/chimney-guest/inflight", test_inflight);
    return g_test_run();
}
