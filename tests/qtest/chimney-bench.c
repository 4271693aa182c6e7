/*
 * chimney-bench: the send-path benchmark of chimney-nic
 *
 * A program, not a test (scripts/bench-send.sh runs it): offloaded sends
 * of 64-KiB requests on 1 and 16 connections to a minimal ACK-ing peer on
 * a socket netdev and to the Linux kernel's TCP through a tap, with and
 * without the tap's vnet header; QEMU's igb sending the same bytes with
 * TSO through the same backends as the anchor, and QEMU's virtio-net as
 * a second one (TSO where the tap's vnet header lets it offer it); the
 * floor of each tap, this program writing the same frames to it; and
 * the cost per segment with many connections sending at once.  Every
 * byte the peers receive is checked against what the guest sent; a run
 * whose bytes do not verify fails the program.  Figures are printed,
 * never asserted.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/atomic.h"
#include "qemu/cutils.h"
#include "qemu/host-utils.h"
#include "libqtest.h"
#include "libqos/chimney-prog.h"
#include "chimney-bench.h"

#define CQ_ID 2
#define WARM_UP_SECS 10     /* of a sweep point, at most, before measuring */


/* One run of offloaded sends: the guest's side */
typedef struct Run {
    Bench *b;
    uint32_t n, depth, sq_size;
    QChimneyConn *hc;
    uint64_t *posted, *done, limit;     /* requests, per connection */
    int64_t *post_at;                   /* [conn * depth + k % depth] */
    uint64_t data, sgl;                 /* per class, depth slots each */
    uint64_t cq;
    uint32_t cq_size, cq_head, cq_phase, cq_unacked;
    uint32_t *todo, ntodo;              /* connections to refill */
    uint8_t *queued;
    uint64_t doorbells, cq_heads, reqs;
    bool db_hint;                       /* CHIMNEY_TCPO_DB_HINT */
    BenchLat lat;
    bool failed;
    char why[160];
} Run;

static void run_fail(Run *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void run_fail(Run *r, const char *fmt, ...)
{
    va_list ap;

    if (r->failed) {
        return;
    }
    r->failed = true;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
}

/* The model driver's guest memory accesses, without qtest */
static void shm_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    /* after the phase word that said the rest is there */
    smp_rmb();
    memcpy(buf, bench_gpa(opaque, addr, len), len);
}

static void shm_write(void *opaque, uint64_t addr, const void *buf,
                      size_t len)
{
    memcpy(bench_gpa(opaque, addr, len), buf, len);
}

/* OFFLOAD_TCP with the block written here: no qtest round trip for it */
static uint8_t offload_tcp(Bench *b, QChimneyConn *hc, ChimneyTcpOffload *o)
{
    QChimney *c = &b->f.c;
    ChimneyAdminCmd cmd = {
        .opcode = CHIMNEY_CMD_OFFLOAD_TCP, .id = hc->id, .len = sizeof(*o),
    };

    if (!c->block_buf) {
        c->block_buf = bench_alloc(b, sizeof(*o), 64);
    }
    cmd.addr = c->block_buf;
    memcpy(bench_gpa(b, c->block_buf, sizeof(*o)), o, sizeof(*o));
    return qchimney_admin(c, &cmd, NULL);
}

/* The patterns in guest memory, and one SGL entry per class and slot */
static void run_init(Run *r, Bench *b, uint32_t n, uint32_t depth,
                     uint32_t sq_size, uint32_t cq_size, const BenchOpts *o)
{
    uint64_t period = (uint64_t)depth * BENCH_CHUNK;

    memset(r, 0, sizeof(*r));
    r->b = b;
    r->n = n;
    r->depth = depth;
    r->sq_size = sq_size;
    r->hc = g_new0(QChimneyConn, n);
    r->posted = g_new0(uint64_t, n);
    r->done = g_new0(uint64_t, n);
    r->post_at = g_new0(int64_t, (uint64_t)n * depth);
    r->todo = g_new(uint32_t, n);
    r->queued = g_new0(uint8_t, n);
    r->limit = UINT64_MAX;
    bench_pattern_init(period);
    r->data = bench_alloc(b, BENCH_CLASSES * period, 4096);
    r->sgl = bench_alloc(b, BENCH_CLASSES * depth * sizeof(ChimneySge), 64);
    for (int c = 0; c < BENCH_CLASSES; c++) {
        memcpy(bench_gpa(b, r->data + c * period, period),
               bench_pattern(c), period);
        for (uint32_t s = 0; s < depth; s++) {
            ChimneySge e;

            chimney_guest_sge(&e, r->data + c * period + s * BENCH_CHUNK,
                              BENCH_CHUNK);
            memcpy(bench_gpa(b, r->sgl + (c * depth + s) * sizeof(e),
                             sizeof(e)), &e, sizeof(e));
        }
    }
    qchimney_fx_start(&b->f, &(QChimneyConfig) {
        .rx_buffers = 32, .rx_own_cq = true,
    });
    b->f.c.mem = (ChimneyGuestMem) {
        .opaque = b, .read = shm_read, .write = shm_write,
    };
    b->f.c.dev.mem = b->f.c.mem;
    r->cq_size = cq_size;
    r->cq_phase = 1;
    r->cq = bench_alloc(b, cq_size * sizeof(ChimneyCqe), 4096);
    /* as the miniport does: it drains on the interrupt, then CQ_HEAD */
    if (!o->no_holdoff && (qchimney_readl(&b->f.c, CHIMNEY_REG_FEATURES) &
                           CHIMNEY_FEAT_IRQ_HOLDOFF)) {
        b->f.c.cq_flags = CHIMNEY_CQF_HOLDOFF;
        /* and, as the miniport, lazy send completions when offered */
        if (qchimney_readl(&b->f.c, CHIMNEY_REG_FEATURES) &
            CHIMNEY_FEAT_LAZY_CQ) {
            b->f.c.cq_flags |= CHIMNEY_CQF_LAZY;
        }
    }
    /* as a 1.4 driver does: ring only when the record's hint says so */
    r->db_hint = !o->no_db_hint &&
                 (qchimney_readl(&b->f.c, CHIMNEY_REG_FEATURES) &
                  CHIMNEY_FEAT_DB_HINT);
    g_assert_cmpuint(qchimney_create_cq(&b->f.c, CQ_ID, r->cq, cq_size,
                                        CQ_ID, o->mod_count, o->mod_usec),
                     ==, CHIMNEY_ST_SUCCESS);
}

static void run_free(Run *r)
{
    g_free(r->hc);
    g_free(r->posted);
    g_free(r->done);
    g_free(r->post_at);
    g_free(r->todo);
    g_free(r->queued);
    g_free(r->lat.v);
}

/* Send queues and doorbell records of every connection, in one pool */
static void run_queues(Run *r)
{
    uint64_t stride = r->sq_size * sizeof(ChimneySqDesc) + 64;
    uint64_t pool = bench_alloc(r->b, stride * r->n, 64);

    for (uint32_t i = 0; i < r->n; i++) {
        r->hc[i].sq_base = pool + i * stride;
        r->hc[i].sq_size = r->sq_size;
        r->hc[i].db_record = pool + i * stride + stride - 64;
        r->hc[i].db_hint = r->db_hint;
        r->hc[i].id = CHIMNEY_CONN_ID(i, 1);
        r->hc[i].cq = CQ_ID;
    }
}

static void todo_add(Run *r, uint32_t i)
{
    if (!r->queued[i]) {
        r->queued[i] = 1;
        r->todo[r->ntodo++] = i;
    }
}

/* After the index is published: whether the doorbell hint asks for a ring */
static bool run_ring_needed(Run *r, QChimneyConn *hc)
{
    uint32_t *hint = bench_gpa(r->b, hc->db_record +
                               offsetof(ChimneyDbRecord, hint), 4);

    return !r->db_hint || qatomic_read(hint) != cpu_to_le32(CHIMNEY_HINT_SKIP);
}

/*
 * Keep each connection's queue @depth requests deep, one doorbell each
 * (unless the hint says the device reads the record anyway),
 * until @budget_us have passed: what is left waits for the next call.
 */
static void run_refill(Run *r, int64_t budget_us)
{
    Bench *b = r->b;
    int64_t end = g_get_monotonic_time() + budget_us;
    uint32_t t;

    for (t = 0; t < r->ntodo; t++) {
        uint32_t i = r->todo[t];
        QChimneyConn *hc = &r->hc[i];
        bool any = false;

        r->queued[i] = 0;
        while (r->posted[i] - r->done[i] < r->depth &&
               r->posted[i] < r->limit) {
            uint64_t k = r->posted[i]++;
            uint32_t slot = k % r->depth;
            ChimneySqDesc d;

            chimney_guest_sq_desc(&d, CHIMNEY_SQ_SEND, 0, 1, BENCH_CHUNK,
                                  (uint64_t)i << 32 | (uint32_t)k,
                                  r->sgl + ((i % BENCH_CLASSES) * r->depth +
                                            slot) * sizeof(ChimneySge));
            memcpy(bench_gpa(b, hc->sq_base + hc->sq_tail * sizeof(d),
                             sizeof(d)), &d, sizeof(d));
            hc->sq_tail = (hc->sq_tail + 1) & (hc->sq_size - 1);
            r->post_at[(uint64_t)i * r->depth + slot] = g_get_monotonic_time();
            any = true;
        }
        if (any) {
            /* entries before the record that publishes them */
            smp_wmb();
            qatomic_set((uint32_t *)bench_gpa(b, hc->db_record, 4),
                        cpu_to_le32(hc->sq_tail));
            /* the record before the doorbell or the hint that has it read */
            smp_mb();
            if (!run_ring_needed(r, hc)) {
                continue;
            }
            qchimney_writel(&b->f.c, CHIMNEY_DB_CONN_SQ, hc->id);
            r->doorbells++;
            if (!(r->doorbells % 64) && g_get_monotonic_time() > end) {
                t++;
                break;
            }
        }
    }
    memmove(r->todo, r->todo + t, (r->ntodo - t) * sizeof(*r->todo));
    r->ntodo -= t;
}

/* Take the completions written so far; false when there were none */
static bool run_reap(Run *r)
{
    Bench *b = r->b;
    bool any = false;
    int64_t now = g_get_monotonic_time();

    for (;;) {
        ChimneyCqe *e = bench_gpa(b, r->cq + r->cq_head * sizeof(*e),
                                  sizeof(*e));
        uint32_t ts = le32_to_cpu(qatomic_load_acquire(&e->type_status));
        uint64_t cookie;
        uint32_t i, k;

        if ((ts >> 31) != r->cq_phase) {
            break;
        }
        cookie = le64_to_cpu(e->cookie);
        i = cookie >> 32;
        k = (uint32_t)cookie;
        if (CHIMNEY_CQE_TYPE(ts) != CHIMNEY_CQE_SEND ||
            CHIMNEY_CQE_STATUS(ts) != CHIMNEY_ST_SUCCESS) {
            run_fail(r, "completion type %u status %s on connection %u",
                     CHIMNEY_CQE_TYPE(ts),
                     qchimney_status_name(CHIMNEY_CQE_STATUS(ts)), i);
        } else if (i >= r->n || k != (uint32_t)r->done[i] ||
                   le32_to_cpu(e->bytes) != BENCH_CHUNK) {
            run_fail(r, "send completion %u of connection %u out of order "
                     "or short (%u bytes)", k, i, le32_to_cpu(e->bytes));
        } else {
            bench_lat_add(&r->lat, now - r->post_at[(uint64_t)i * r->depth +
                                                    k % r->depth]);
            r->done[i]++;
            r->reqs++;
            todo_add(r, i);
        }
        any = true;
        r->cq_head = (r->cq_head + 1) & (r->cq_size - 1);
        r->cq_phase ^= !r->cq_head;
        r->cq_unacked++;
    }
    if (r->cq_unacked && (r->cq_unacked >= r->cq_size / 8 || !any)) {
        qchimney_writel(&b->f.c, CHIMNEY_DB_CQ_HEAD(CQ_ID), r->cq_head);
        r->cq_heads++;
        r->cq_unacked = 0;
    }
    return any;
}

static bool run_finished(Run *r)
{
    return r->reqs == (uint64_t)r->n * r->limit;
}

/* --- measuring --- */

typedef struct Mark {
    int64_t t;
    double cpu;
    uint64_t segs, rexmit, acks, irqs, reqs, doorbells;
} Mark;

/*
 * Segments the offloaded connections sent, retransmissions too, and
 * (*rexmit) how many of them were retransmissions, (*in) how many they
 * received
 */
static uint64_t segs_out(Run *r, uint64_t *rexmit, uint64_t *in)
{
    uint64_t buf = bench_alloc(r->b, sizeof(ChimneyOffloadStats), 64);
    ChimneyOffloadStats *st = bench_gpa(r->b, buf, sizeof(*st));

    g_assert_cmpuint(qchimney_cmd(&r->b->f, CHIMNEY_CMD_QUERY_STATS, 0, buf,
                                  sizeof(*st), 0, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    *rexmit = le64_to_cpu(qatomic_read(&st->retransmitted));
    *in = le64_to_cpu(qatomic_read(&st->in_segments));
    return le64_to_cpu(qatomic_read(&st->out_segments));
}

static void mark(Run *r, Mark *m)
{
    m->t = g_get_monotonic_time();
    m->cpu = bench_qemu_cpu(r->b);
    m->segs = segs_out(r, &m->rexmit, &m->acks);
    m->irqs = bench_irqs(r->b);
    m->reqs = r->reqs;
    m->doorbells = r->doorbells;
}

static void figures(Run *r, const Mark *a, const Mark *z, uint64_t bytes,
                    BenchFigures *fig)
{
    fig->bytes = bytes;
    fig->reqs = z->reqs - a->reqs;
    fig->segs = z->segs - a->segs;
    fig->rexmit = z->rexmit - a->rexmit;
    fig->acks = z->acks - a->acks;
    fig->irqs = z->irqs - a->irqs;
    fig->doorbells = z->doorbells - a->doorbells;
    fig->secs = (z->t - a->t) / 1e6;
    fig->cpu = z->cpu - a->cpu;
    bench_lat_done(&r->lat, fig);
    fig->ok = !r->failed;
    pstrcpy(fig->why, sizeof(fig->why), r->why);
}

/* --- to the minimal peer on a socket netdev --- */

static const uint8_t dev_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/*
 * @n connections offloaded with the state the host stack would hand
 * over (no handshake: this process is the peer), the peer's window
 * @wnd bytes.
 */
static void offload_synthetic(Run *r, uint32_t wnd, uint8_t wscale)
{
    QChimney *c = &r->b->f.c;
    ChimneyTcpOffload o;

    run_queues(r);
    for (uint32_t i = 0; i < r->n; i++) {
        QChimneyConn *hc = &r->hc[i];

        memcpy(hc->mac, dev_mac, 6);
        memcpy(hc->peer_mac, QCHIMNEY_PEER_MAC, 6);
        hc->ip = cpu_to_be32(0x0a000001);
        hc->peer_ip = cpu_to_be32(0x0a000002);
        hc->port = BENCH_LOCAL_PORT + i % 50000;
        hc->peer_port = BENCH_PEER_PORT + i / 50000;
        hc->iss = bench_iss(i);
        hc->irs = i;
        hc->peer_mss = BENCH_MSS;
        hc->peer_wnd = MIN(wnd, 65535);
        if (!i) {
            g_assert_cmpuint(qchimney_offload_neighbor(c, 0, hc->mac,
                                                       hc->peer_mac), ==, 0);
            g_assert_cmpuint(qchimney_offload_path(c, 0, 0, hc->ip,
                                                   hc->peer_ip, 1500), ==, 0);
        }
        qchimney_tcp_block(hc, 0, CQ_ID, &o);
        if (wscale) {
            o.const_flags |= cpu_to_le16(CHIMNEY_TCPF_WINDOW_SCALING);
            o.snd_wscale = wscale;
        }
        o.delegated.snd_wnd = cpu_to_le32(wnd);
        o.delegated.max_snd_wnd = cpu_to_le32(wnd);
        g_assert_cmpuint(offload_tcp(r->b, hc, &o), ==, 0);
    }
}

/*
 * Send until each connection had @limit requests acknowledged, or for
 * @secs seconds once every connection is sending (limit 0).
 */
static void peer_run(const BenchOpts *o, uint32_t n, uint32_t depth,
                     uint32_t wnd, uint8_t wscale, uint64_t limit,
                     double secs, BenchFigures *fig)
{
    g_autofree char *perf_name = g_strdup_printf("chimney-peer-%u%s", n,
                                                 secs ? "-sweep" : "");
    int perf = -1;
    g_autofree char *args = NULL;
    Bench b;
    Run r;
    BenchPeer *p;
    Mark a, z;
    int sv[2];
    uint32_t sq = pow2ceil(depth + 1);
    uint64_t anon0, bytes0;
    int64_t last = 0, end, progress_at, started, mem_per_conn;
    uint64_t last_bytes = 0;

    memset(fig, 0, sizeof(*fig));
    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    args = g_strdup_printf("-netdev socket,fd=%d,id=n0 "
                           "-device chimney-nic,netdev=n0,id=nic0,mac="
                           QCHIMNEY_MAC ",max-conns=%u,max-sq-entries=%u",
                           sv[1], MAX(n, 1024), MAX(n * sq, 256 * 1024));
    bench_qemu(&b, 256, "chimney_cq_irq", args);
    close(sv[1]);
    b.f.sock = sv[0];
    b.irq_match = "CQ 2 ";
    run_init(&r, &b, n, depth, sq, n > 1024 ? 16384 : 4096, o);
    p = bench_peer_new(sv[0], n, wnd, wscale, dev_mac,
                       cpu_to_be32(0x0a000001), cpu_to_be32(0x0a000002));
    anon0 = bench_qemu_anon_kib(&b);
    offload_synthetic(&r, wnd, wscale);
    mem_per_conn = ((int64_t)bench_qemu_anon_kib(&b) - (int64_t)anon0) *
                   1024 / n;
    /* it reads while this thread waits for QEMU's answer to a doorbell */
    bench_peer_start(p);
    r.limit = limit ? limit : UINT64_MAX;
    for (uint32_t i = 0; i < n; i++) {
        todo_add(&r, i);
    }
    if (o->perf && !secs) {
        perf = bench_perf_start(&b, o->perf, perf_name);
    }
    mark(&r, &a);
    bytes0 = 0;
    /* many connections: measure once every one of them is sending */
    /*
     * All of them posted, or as many as a device that slows down with the
     * number of connections took in warm-up time: the rest follow
     */
    run_refill(&r, (secs ? WARM_UP_SECS : 1) * G_USEC_PER_SEC);
    started = progress_at = g_get_monotonic_time();
    end = 0;
    while (!r.failed && !(limit && run_finished(&r))) {
        char why[160];
        int64_t now;

        if (bench_peer_failed(p, why, sizeof(why))) {
            run_fail(&r, "%s", why);
            break;
        }
        if (!run_reap(&r)) {
            g_usleep(20);
        }
        run_refill(&r, 50 * 1000);
        bench_clock(&b);
        now = g_get_monotonic_time();
        if (bench_peer_bytes(p) != last_bytes) {
            last_bytes = bench_peer_bytes(p);
            progress_at = now;
        } else if (now - progress_at > 20 * G_USEC_PER_SEC) {
            run_fail(&r, "no progress for 20 s");
        }
        if (secs && !last && (now - started > WARM_UP_SECS * G_USEC_PER_SEC ||
                              (!r.ntodo && now - started > 500 * 1000))) {
            /* warmed up: start the measured window here */
            if (o->perf) {
                perf = bench_perf_start(&b, o->perf, perf_name);
            }
            mark(&r, &a);
            bytes0 = bench_peer_bytes(p);
            r.lat.n = 0;
            last = now;
            end = now + (int64_t)(secs * 1e6);
        }
        if (secs && last && now >= end) {
            break;
        }
    }
    mark(&r, &z);
    bench_perf_stop(perf);
    figures(&r, &a, &z, bench_peer_bytes(p) - bytes0, fig);
    fig->mem_per_conn = mem_per_conn;
    if (fig->ok && limit &&
        bench_peer_bytes(p) < (uint64_t)n * limit * BENCH_CHUNK) {
        fig->ok = false;
        snprintf(fig->why, sizeof(fig->why), "completions for %" PRIu64
                 " bytes, %" PRIu64 " verified", (uint64_t)n * limit *
                 BENCH_CHUNK, bench_peer_bytes(p));
    }
    bench_peer_free(p);
    run_free(&r);
    bench_quit(&b);
}

/* --- to the kernel's TCP through a tap --- */

/* The host stack's handshake with window scaling, then OFFLOAD */
static void kernel_connect(Run *r)
{
    static const uint8_t syn_opt[8] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7 };
    QChimney *c = &r->b->f.c;
    ChimneyTcpOffload o;

    run_queues(r);
    for (uint32_t i = 0; i < r->n; i++) {
        QChimneyConn *hc = &r->hc[i];
        QChimneyTcpAddr a;
        uint8_t f[2048], *th, ws = 0;
        ChimneyCqe cqe;
        size_t len, doff;

        memcpy(hc->mac, dev_mac, 6);
        hc->ip = cpu_to_be32(0x0a090001);
        hc->peer_ip = cpu_to_be32(0x0a090002);
        hc->port = 40000 + i;
        hc->peer_port = BENCH_PEER_PORT;
        hc->iss = bench_iss(i);
        if (!i) {
            qchimney_arp_request(c, hc);
            qchimney_arp_reply_wait(c, hc);
        } else {
            memcpy(hc->peer_mac, r->hc[0].peer_mac, 6);
        }
        a = (QChimneyTcpAddr) {
            .src_mac = hc->mac, .dst_mac = hc->peer_mac,
            .src_ip = hc->ip, .dst_ip = hc->peer_ip,
            .src_port = hc->port, .dst_port = hc->peer_port,
        };
        qchimney_l2_send_raw(c, f, qchimney_tcp_frame(f, &a, hc->iss, 0, 0x02,
                                                      65535, syn_opt, 8));
        len = qchimney_l2_recv(c, f, sizeof(f), &cqe);
        th = f + 34;
        g_assert(len >= 54 && th[13] == 0x12 &&
                 ldl_be_p(th + 8) == hc->iss + 1);
        hc->irs = ldl_be_p(th + 4);
        hc->peer_wnd = lduw_be_p(th + 14);
        hc->peer_mss = 536;
        doff = (th[12] >> 4) * 4;
        for (size_t k = 20; k + 1 < doff && th[k]; k += th[k] < 2 ? 1 :
                                                             th[k + 1]) {
            if (th[k] == 2) {
                hc->peer_mss = lduw_be_p(th + k + 2);
            } else if (th[k] == 3) {
                ws = th[k + 2];
            }
        }
        qchimney_l2_post_rx(c, 1, 2048);
        qchimney_l2_send_raw(c, f, qchimney_tcp_frame(f, &a, hc->iss + 1,
                                                      hc->irs + 1, 0x10, 512,
                                                      NULL, 0));
        if (!i) {
            g_assert_cmpuint(qchimney_offload_neighbor(c, 0, hc->mac,
                                                       hc->peer_mac), ==, 0);
            g_assert_cmpuint(qchimney_offload_path(c, 0, 0, hc->ip,
                                                   hc->peer_ip, 1500), ==, 0);
        }
        qchimney_tcp_block(hc, 0, CQ_ID, &o);
        o.const_flags |= cpu_to_le16(CHIMNEY_TCPF_WINDOW_SCALING);
        o.snd_wscale = ws;
        o.rcv_wscale = 7;
        g_assert_cmpuint(offload_tcp(r->b, hc, &o), ==, 0);
    }
}

static bool kernel_run(const BenchOpts *o, uint32_t n, bool vnet_hdr,
                       uint64_t limit, BenchFigures *fig)
{
    g_autofree char *args = NULL;
    BenchSink *s;
    Bench b;
    Run r;
    Mark a, z;
    int64_t progress_at, deadline;
    uint64_t last = 0, want = (uint64_t)n * limit * BENCH_CHUNK;
    g_autofree char *perf_name = g_strdup_printf("chimney-tap-vnet-%s-%u",
                                                 vnet_hdr ? "on" : "off", n);
    int perf = -1;

    memset(fig, 0, sizeof(*fig));
    s = bench_sink_start(n, vnet_hdr, fig->why, sizeof(fig->why));
    if (!s) {
        return false;
    }
    /* with fd=, QEMU takes the vnet header from the tap's flags */
    args = g_strdup_printf("-netdev tap,fd=%d,id=n0 "
                           "-device chimney-nic,netdev=n0,id=nic0,mac="
                           QCHIMNEY_MAC, bench_sink_tap_fd(s));
    bench_qemu(&b, 256, "chimney_cq_irq", args);
    b.irq_match = "CQ 2 ";
    run_init(&r, &b, n, 16, 32, 4096, o);
    kernel_connect(&r);
    r.limit = limit;
    for (uint32_t i = 0; i < n; i++) {
        todo_add(&r, i);
    }
    if (o->perf) {
        perf = bench_perf_start(&b, o->perf, perf_name);
    }
    mark(&r, &a);
    progress_at = a.t;
    while (!r.failed && !run_finished(&r)) {
        int64_t now = g_get_monotonic_time();

        if (!run_reap(&r)) {
            g_usleep(20);
        }
        run_refill(&r, 50 * 1000);
        bench_clock(&b);
        if (bench_sink_error(s)) {
            run_fail(&r, "%s", bench_sink_error(s));
        }
        if (r.reqs != last) {
            last = r.reqs;
            progress_at = now;
        } else if (now - progress_at > 20 * G_USEC_PER_SEC) {
            run_fail(&r, "no progress for 20 s");
        }
    }
    mark(&r, &z);
    bench_perf_stop(perf);
    /* acknowledged is not yet read: wait for the sink to have it all */
    deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!r.failed && bench_sink_bytes(s) < want &&
           g_get_monotonic_time() < deadline) {
        g_usleep(1000);
    }
    figures(&r, &a, &z, want, fig);
    if (fig->ok && bench_sink_error(s)) {
        fig->ok = false;
        pstrcpy(fig->why, sizeof(fig->why), bench_sink_error(s));
    } else if (fig->ok && bench_sink_bytes(s) != want) {
        fig->ok = false;
        snprintf(fig->why, sizeof(fig->why), "%" PRIu64 " bytes "
                 "acknowledged, %" PRIu64 " read and verified", want,
                 bench_sink_bytes(s));
    }
    run_free(&r);
    bench_quit(&b);
    bench_sink_stop(s);
    return true;
}

/* --- repeated runs --- */

typedef enum RunKind {
    RUN_IGB, RUN_VIRTIO, RUN_PEER, RUN_KERNEL, RUN_FLOOR
} RunKind;

typedef struct RunSpec {
    RunKind kind;
    uint32_t n;             /* connections */
    uint64_t per;           /* requests per connection, 0: for secs */
    const char *backend;    /* igb, virtio-net: socket, tap, tap-vnet */
    bool vnet;              /* chimney through the tap */
    uint32_t depth, wnd;    /* chimney to the peer */
    uint8_t wscale;
    double secs;
} RunSpec;

/* One run of an anchor, igb or virtio-net */
static void anchor_once(const RunSpec *s, uint64_t bytes, BenchFigures *f)
{
    if (s->kind == RUN_IGB) {
        bench_igb(bytes, s->n, s->backend, f);
    } else {
        bench_virtio(bytes, s->n, s->backend, f);
    }
}

/* A line above an anchor's row: why it ran again, or what its run holds */
static void anchor_note(const RunSpec *s, const char *what, bool run_again)
{
    printf("(%s, %u connection%s: %s%s)\n",
           s->kind == RUN_IGB ? "igb" : "virtio-net", s->n,
           s->n == 1 ? "" : "s", what, run_again ? "; run again" : "");
}

/* One run of @s; false when it cannot run here (a tap without root) */
static bool run_once(const BenchOpts *o, const RunSpec *s, BenchFigures *f)
{
    uint64_t bytes = s->per * s->n * BENCH_CHUNK;

    switch (s->kind) {
    case RUN_IGB:
    case RUN_VIRTIO:
        /*
         * An anchor that stalls, or whose receive ring had to be set right
         * (igb's, rarely, here: seconds without progress in its figures),
         * is not what is measured: it runs once more, and the output says
         * so.  The device's own rows get no second chance.
         */
        anchor_once(s, bytes, f);
        if (f->ok ? f->rx_recovered : f->stalled) {
            anchor_note(s, f->ok ? "its receive ring stopped and was set "
                        "right" : f->why, true);
            anchor_once(s, bytes, f);
            if (f->ok && f->rx_recovered) {
                anchor_note(s, "its receive ring was set right in the second "
                            "run too, whose figures hold the seconds that "
                            "took", false);
            }
        }
        return true;
    case RUN_PEER:
        peer_run(o, s->n, s->depth, s->wnd, s->wscale, s->per, s->secs, f);
        return true;
    case RUN_KERNEL:
        return kernel_run(o, s->n, s->vnet, s->per, f);
    case RUN_FLOOR:
        bench_floor(bytes, s->n, s->vnet, f);
        return true;
    }
    g_assert_not_reached();
}

/*
 * --repeat runs of @s, each in a QEMU of its own: *f is the figures of
 * the run with the median @key (the machine moves a run's figures by 10
 * to 35 %), *spread the key's range over the median
 */
static bool run_median(const BenchOpts *o, const RunSpec *s,
                       double (*key)(const BenchFigures *), BenchFigures *f,
                       double *spread)
{
    g_autofree BenchFigures *runs = g_new0(BenchFigures, o->repeat);

    for (uint32_t i = 0; i < o->repeat; i++) {
        if (!run_once(o, s, &runs[i])) {
            *f = runs[i];
            return false;
        }
    }
    *f = *bench_median(runs, o->repeat, key, spread);
    return true;
}

/* --- the table --- */

static bool all_ok = true;

/*
 * A row of the table, median by MB/s: its MB/s, 0 when it failed, -1
 * when it could not run here; its CPU seconds per GB in *@cpu, if asked
 */
static double table_row(const BenchOpts *o, const RunSpec *s, const char *name,
                        double igb_mbps, double *cpu)
{
    BenchFigures f;
    double spread;

    if (!run_median(o, s, bench_mbps, &f, &spread)) {
        printf("%-34s %5u skipped: %s\n", name, s->n, f.why);
        return -1;
    }
    all_ok &= bench_row(name, s->n, &f, o, igb_mbps, spread);
    if (cpu && f.ok) {
        *cpu = bench_cpu_per_gb(&f);
    }
    return f.ok ? bench_mbps(&f) : 0;
}

/*
 * The per-segment sweep: --sweep-repeat rounds over its points,
 * interleaved, so that the machine's drift during a round weighs on every
 * point alike; each point's median run, then how flat the cost per
 * segment is from 64 connections up
 */
static void sweep(const BenchOpts *o)
{
    const uint32_t rounds = o->sweep_repeat;
    g_autofree BenchFigures *runs = g_new0(BenchFigures, o->nsweep * rounds);
    double lo = 0, hi = 0;

    printf("\nper-segment cost, every connection sending (window 8 MSS, 3 "
           "x 64 KiB queued each, socket peer, %.0f s measured", o->sweep_secs);
    if (rounds > 1) {
        printf("; the median of %u rounds over the points", rounds);
    }
    /*
     * cpl/conn: requests completed per connection while measured, and so
     * how many doorbells and completions (qtest round trips that QEMU's
     * CPU pays for) the row's cost per segment holds; db/req: SQ
     * doorbells per request, each a qtest write that costs QEMU more
     * than the device's work for a few segments; seg/ack: segments sent
     * per segment received, the ACKs the row's cost holds
     */
    printf(")\n%8s %8s %8s %8s %8s %8s %8s %8s %8s %12s %6s\n", "conns",
           "MB/s", "ns/seg", "CPUs/GB", "irq/cpl", "cpl/conn", "db/req",
           "seg/ack", "rexmit", "B/conn mem", "spread");
    fflush(stdout);
    for (uint32_t i = 0; i < rounds; i++) {
        for (uint32_t k = 0; k < o->nsweep; k++) {
            RunSpec s = {
                .kind = RUN_PEER, .n = o->sweep[k], .depth = 3,
                .wnd = 8 * BENCH_MSS, .secs = o->sweep_secs,
            };

            run_once(o, &s, &runs[k * rounds + i]);
        }
    }
    for (uint32_t k = 0; k < o->nsweep; k++) {
        uint32_t n = o->sweep[k];
        double spread, ns;
        const BenchFigures *f = bench_median(&runs[k * rounds], rounds,
                                             bench_ns_per_seg, &spread);

        if (!f->ok) {
            printf("%8u FAILED: %s\n", n, f->why);
            all_ok = false;
            continue;
        }
        ns = bench_ns_per_seg(f);
        if (n >= 64) {
            lo = lo ? MIN(lo, ns) : ns;
            hi = MAX(hi, ns);
        }
        printf("%8u %8.1f %8.0f %8.3f %8.3f %8.2f %8.3f %8.2f %8" PRIu64,
               n, bench_mbps(f), ns, bench_cpu_per_gb(f),
               f->reqs ? (double)f->irqs / f->reqs : 0, (double)f->reqs / n,
               f->reqs ? (double)f->doorbells / f->reqs : 0,
               f->acks ? (double)f->segs / f->acks : 0, f->rexmit);
        /* RssAnon moves in pages: per connection only over many */
        if (n >= 1024 && f->mem_per_conn >= 0) {
            printf(" %12" PRId64, f->mem_per_conn);
        } else {
            printf(" %12s", "-");
        }
        if (rounds > 1) {
            printf(" %5.0f%%\n", spread * 100);
        } else {
            printf(" %6s\n", "-");
        }
    }
    if (hi > lo && lo > 0) {
        printf("from 64 connections up: %.0f to %.0f ns per segment, "
               "%.0f +-%.0f%%\n", lo, hi, (hi + lo) / 2,
               (hi - lo) / (hi + lo) * 100);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    BenchOpts o;
    double vio[8][3] = { { 0 } }, chim[8][3] = { { 0 } };
    double floor_cpu[8][2] = { { 0 } }, chim_cpu[8][2] = { { 0 } };
    char name[64];
    int qemu_cpu, harness_cpus;

    qchimney_prog_init(argv[0]);
    bench_parse_opts(argc, argv, &o);
    if (o.pin && bench_pin_init(&qemu_cpu, &harness_cpus)) {
        printf("--pin: QEMU's threads on CPU %d (the receiving kernel's TCP "
               "too, in its writev); this harness, its peers and the "
               "sink's reader on the other %d\n", qemu_cpu, harness_cpus);
    } else if (o.pin) {
        printf("--pin: not pinned (fewer than two CPUs to choose from, or "
               "sched_setaffinity refused)\n");
    }
    if (o.bound) {
        printf("bound: copy + checksum of the same bytes, one pass, one "
               "core: %.0f MB/s\n", o.bound * 1e3);
    }
    printf("64-KiB send requests, MSS %u; CPU is QEMU's (user + system) "
           "from /proc/PID/stat,\nthe floor's its writing thread's: this "
           "program writing the same frames to the tap\n\n", BENCH_MSS);
    if (o.kernel && bench_sink_unusable()) {
        printf("tap runs skipped: %s\n\n", bench_sink_unusable());
        o.kernel = false;
    }
    bench_row_head();
    for (uint32_t k = 0; k < o.nconns; k++) {
        uint32_t n = o.conns[k];
        RunSpec s = {
            .n = n, .per = MAX(1, (o.mib << 20) / BENCH_CHUNK / n),
            .backend = "socket",
            /*
             * The peer's window: 1 MiB, or 4 MiB over all connections (2
             * and 4 MiB per connection, with deeper queues, ran slower
             * here: more bytes in flight than the caches hold)
             */
            .depth = 16, .wnd = MIN(1024 * 1024, 4 * 1024 * 1024 / n),
            .wscale = 5,
        };
        double igb = 0;

        if (o.igb) {
            s.kind = RUN_IGB;
            igb = table_row(&o, &s, "igb TSO -> peer (socket)", 0, NULL);
        }
        if (o.virtio) {
            s.kind = RUN_VIRTIO;
            vio[k][0] = table_row(&o, &s, "virtio -> peer (socket)", 0,
                                 NULL);
        }
        s.kind = RUN_PEER;
        chim[k][0] = table_row(&o, &s, "chimney -> peer (socket)", igb,
                               NULL);
        for (int vnet = 0; o.kernel && vnet < 2; vnet++) {
            s.backend = vnet ? "tap-vnet" : "tap";
            s.vnet = vnet;
            igb = 0;
            if (o.floor) {
                snprintf(name, sizeof(name), "floor -> Linux (tap, vnet %s)",
                         vnet ? "on" : "off");
                s.kind = RUN_FLOOR;
                table_row(&o, &s, name, 0, &floor_cpu[k][vnet]);
            }
            if (o.igb) {
                snprintf(name, sizeof(name), "igb TSO -> Linux (tap, vnet %s)",
                         vnet ? "on" : "off");
                s.kind = RUN_IGB;
                igb = table_row(&o, &s, name, 0, NULL);
            }
            if (o.virtio) {
                snprintf(name, sizeof(name), "virtio%s -> Linux (tap, vnet "
                         "%s)", vnet ? " TSO" : "", vnet ? "on" : "off");
                s.kind = RUN_VIRTIO;
                vio[k][1 + vnet] = table_row(&o, &s, name, 0, NULL);
            }
            snprintf(name, sizeof(name), "chimney -> Linux (tap, vnet %s)",
                     vnet ? "on" : "off");
            s.kind = RUN_KERNEL;
            chim[k][1 + vnet] = table_row(&o, &s, name, igb,
                                          &chim_cpu[k][vnet]);
            if (chim[k][1 + vnet] < 0) {
                o.kernel = false;
            }
        }
    }
    bench_virtio_ratios(&o, vio, chim);
    bench_floor_ratios(&o, floor_cpu, chim_cpu);
    sweep(&o);
    printf("\n%s\n", all_ok ? "every byte verified" :
           "FAILED: a run's bytes did not verify or it did not finish");
    return all_ok ? 0 : 1;
}
