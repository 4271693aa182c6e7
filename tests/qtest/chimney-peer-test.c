/*
 * QTest testcase for chimney-nic: offloaded connections against real peers
 *
 * libslirp (-netdev user): the gateway's ARP and ping through the L2
 * queues, then connections through libslirp's TCP to a server of the
 * test's on 127.0.0.1, offloaded, streaming one way and both ways (echo);
 * the server hashes what arrives.  On Linux, with root: the kernel's TCP
 * in a network namespace behind a relay that loses, duplicates and
 * reorders frames, and a slow reader that closes its window; and a
 * stream migrated to a file and continued by a new QEMU mid-way, the
 * relay handing the wire over.  (libslirp's state carries only its
 * guestfwd sockets: the host socket of an outbound connection cannot
 * move to a new QEMU, so there is no libslirp migration case.)  And the
 * stream netdevs (-netdev socket, -netdev stream) as a wire that pushes
 * back: the scripted peer reading nothing for a while, a peer that reads
 * slowly, and one that goes away.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <poll.h>
#include "qemu/bswap.h"
#include "libqtest.h"
#include "libqos/pci-pc.h"
#include "libqos/malloc-pc.h"
#include "libqos/chimney-slirp.h"
#include "libqos/chimney-kernel.h"

#define STREAM_CHUNK    QCHIMNEY_STREAM_CHUNK
#define STREAM_CONNS    QCHIMNEY_STREAM_CONNS
#define STREAM_SQ       QCHIMNEY_STREAM_SQ
#define ECHO_CONNS      2
#define ECHO_SENDS      64      /* chunks of STREAM_CHUNK: 4 MiB a way */
#define ECHO_RQ         QCHIMNEY_ECHO_RQ

/*
 * The device against libslirp (-netdev user): ARP for the gateway with the
 * model driver's host stack, then ping it.
 */
static void test_slirp_ping(void)
{
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QChimney c;
    QChimneyConn hc = { 0 };
    size_t len;

    qchimney_slirp_addr(&hc);
    qts = qtest_init("-M pc -m 256M -nodefaults -netdev user,id=n0 "
                     "-device chimney-nic,netdev=n0,id=nic0,"
                     "mac=" QCHIMNEY_MAC);
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
        len = qchimney_slirp_ping(&c, &hc, seq);
        g_test_message("ping 10.0.2.2 seq %d: echo reply, %zu bytes, payload "
                       "intact", seq, len);
    }
    qchimney_stop(&c);
    qpci_free_pc(bus);
    alloc_destroy(&alloc);
    qtest_quit(qts);
}

/*
 * End to end with libslirp's TCP: connections through -netdev user to a
 * TCP server of the test's on 127.0.0.1, offloaded, streaming; the server
 * hashes what arrives.  SLIRP_STREAM_MIB sets the total (default 64).
 */
static void test_slirp_stream(void)
{
    const char *mib = g_getenv("SLIRP_STREAM_MIB");
    const int nconns = 4;
    const uint64_t want = (mib ? atoi(mib) : 64) * 1024ull * 1024;
    const uint32_t sends = MAX(want / nconns / STREAM_CHUNK, 1);
    const uint64_t total = (uint64_t)sends * nconns * STREAM_CHUNK;
    QChimneyServer srv = { 0 };
    QChimneyFixture f;
    QChimneyConn hc[STREAM_CONNS];
    uint64_t buf[STREAM_CONNS], sgl[STREAM_CONNS];
    gint64 t0, t1;

    qchimney_server_listen(&srv, nconns);
    qchimney_slirp_start(&f, NULL);
    qchimney_slirp_connect(&f, &srv, hc, nconns, 0);
    for (int i = 0; i < nconns; i++) {
        qchimney_stream_buffer(&f, i, &buf[i], &sgl[i]);
    }
    for (int i = 0; i < nconns; i++) {
        qchimney_server_start(&srv, i, false);
    }
    t0 = g_get_monotonic_time();
    qchimney_stream_run(&f, hc, nconns, sends, buf, sgl, false);
    t1 = g_get_monotonic_time();

    for (int i = 0; i < nconns; i++) {
        g_autofree char *sha = qchimney_stream_sha(i, sends);

        qchimney_server_join(&srv, i);
        g_assert_cmpuint(srv.bytes[i], ==, (uint64_t)sends * STREAM_CHUNK);
        g_assert_cmpstr(srv.sha[i], ==, sha);
        g_free(srv.sha[i]);
    }
    g_test_message("libslirp: %d connections, %" PRIu64 " MiB acknowledged "
                   "and hash-checked at the server in %.2f s (%.1f MiB/s), "
                   "%u send completions each, FIN both ways",
                   nconns, total >> 20, (t1 - t0) / 1e6,
                   (total >> 20) / ((t1 - t0) / 1e6), sends);
    close(srv.listen_fd);
    qchimney_fx_quit(&f);
}

/*
 * Both ways through libslirp's TCP: the device streams to an echo server
 * and takes the echo through posted receives; each side checks every
 * byte, and the FINs cross once all of it is through.
 */
static void test_slirp_echo(void)
{
    QChimneyServer srv = { 0 };
    QChimneyFixture f;
    QChimneyConn hc[ECHO_CONNS];
    QChimneyEchoConn ec[ECHO_CONNS];
    gint64 t0 = g_get_monotonic_time();

    qchimney_server_listen(&srv, ECHO_CONNS);
    qchimney_slirp_start(&f, NULL);
    qchimney_slirp_connect(&f, &srv, hc, ECHO_CONNS, ECHO_RQ);
    for (int i = 0; i < ECHO_CONNS; i++) {
        qchimney_echo_prepare(&f, &hc[i], &ec[i], i);
        qchimney_server_start(&srv, i, true);
    }
    qchimney_echo_run(&f, hc, ec, ECHO_CONNS, ECHO_SENDS, false);
    for (int i = 0; i < ECHO_CONNS; i++) {
        g_autofree char *sha = qchimney_stream_sha(i, ECHO_SENDS);

        qchimney_server_join(&srv, i);
        g_assert_cmpuint(srv.bytes[i], ==,
                         (uint64_t)ECHO_SENDS * STREAM_CHUNK);
        g_assert_cmpstr(srv.sha[i], ==, sha);
        g_free(srv.sha[i]);
    }
    g_test_message("libslirp echo: %d connections, %u MiB each way, checked "
                   "at both ends in %.2f s", ECHO_CONNS,
                   ECHO_SENDS * STREAM_CHUNK >> 20,
                   (g_get_monotonic_time() - t0) / 1e6);
    close(srv.listen_fd);
    qchimney_fx_quit(&f);
}

/*
 * The stream netdevs as a wire that pushes back.  QEMU's end of the
 * socket pair has a small send buffer and the test reads in pieces of odd
 * sizes, so that the netdev's writes are partial or refused (EAGAIN), its
 * transmit buffer fills and the L2 TX queue stalls behind the frame the
 * net queue holds for it.  Every frame must arrive whole, once, in order
 * and byte for byte, and complete once, in order.  With @disconnect the
 * peer goes away while the queue is stalled instead: the device's frames
 * are then dropped as on a link that is down, and everything posted, the
 * held frame's successors included, completes.
 */
typedef struct NetdevRun {
    const char *netdev;         /* -netdev options up to the fd's number */
    bool disconnect;
} NetdevRun;

#define BP_FRAMES       400
#define BP_RING         64      /* QChimneyConfig's default l2_entries */
#define BP_BOUND        (1024 * 1024)   /* well above what QEMU may hold */

static const size_t bp_lens[] = { 60, 1514, 9216, 333, 4097, 14, 2048, 7001 };
static const size_t bp_bites[] = { 1, 7, 4, 1000, 3, 9220, 555, 2, 4096 };

typedef struct BpState {
    QChimneyFixture f;
    uint32_t posted, completed, received, bites;
    uint32_t used;              /* TX ring entries posted, not completed */
    uint64_t completed_bytes;
    uint64_t cookie[BP_FRAMES];
    uint8_t in[2 * (4 + CHIMNEY_L2_MAX_FRAME)];
    size_t have;
} BpState;

static size_t bp_len(uint32_t i)
{
    return bp_lens[i % ARRAY_SIZE(bp_lens)];
}

static uint32_t bp_slots(uint32_t i)
{
    return DIV_ROUND_UP(bp_len(i), QCHIMNEY_TX_SLOT);
}

static void bp_frame(uint8_t *buf, uint32_t i)
{
    size_t len = bp_len(i);

    memcpy(buf, QCHIMNEY_PEER_MAC, 6);
    memcpy(buf + 6, "\x52\x54\x00\x12\x34\x56", 6);
    buf[12] = 0x88;             /* local experimental ethertype */
    buf[13] = 0xb5;
    for (size_t k = 14; k < len; k++) {
        buf[k] = (uint8_t)(i * 131 + k * 7 + (k >> 8));
    }
}

static void bp_fixture(QChimneyFixture *f, const char *netdev)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    int sv[2], sndbuf = 4096;

    memset(f, 0, sizeof(*f));
    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    /* QEMU gets no copy of our end: closing it ends the connection */
    qemu_set_cloexec(sv[0]);
    g_assert_cmpint(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf,
                               sizeof(sndbuf)), ==, 0);
    f->qts = qtest_initf("-M pc -m 256M -nodefaults -netdev %s%d,id=n0 "
                         "-device chimney-nic,netdev=n0,id=nic0,"
                         "mac=" QCHIMNEY_MAC, netdev, sv[1]);
    close(sv[1]);
    f->sock = sv[0];
    pc_alloc_init(&f->alloc, f->qts, ALLOC_NO_FLAGS);
    f->bus = qpci_new_pc(f->qts, &f->alloc);
    /* -netdev stream takes its fd in a task: wait for the link */
    for (;;) {
        g_autofree char *info = qtest_hmp(f->qts, "info network");

        if (!strstr(info, "connecting")) {
            break;
        }
        g_assert(g_get_monotonic_time() < deadline);
        g_usleep(1000);
    }
    qchimney_fx_start(f, NULL);
}

/* Post frame s->posted if the TX ring has room for it */
static bool bp_post(BpState *s)
{
    uint8_t frame[CHIMNEY_L2_MAX_FRAME];
    uint32_t i = s->posted;

    if (i == BP_FRAMES || s->used + bp_slots(i) > BP_RING - 1) {
        return false;
    }
    bp_frame(frame, i);
    s->cookie[i] = qchimney_l2_send(&s->f.c, frame, bp_len(i), 1);
    s->used += bp_slots(i);
    s->posted++;
    return true;
}

static void bp_completed(BpState *s, const ChimneyCqe *cqe)
{
    uint32_t i = s->completed;

    g_assert_cmpuint(i, <, s->posted);
    g_assert_cmpuint(CHIMNEY_CQE_TYPE(cqe->type_status), ==,
                     CHIMNEY_CQE_L2_TX);
    g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe->type_status), ==,
                     CHIMNEY_ST_SUCCESS);
    g_assert_cmphex(cqe->cookie, ==, s->cookie[i]);
    g_assert_cmpuint(cqe->bytes, ==, bp_len(i));
    s->used -= bp_slots(i);
    s->completed_bytes += bp_len(i);
    s->completed++;
}

/* Take the completions there are, without waiting */
static void bp_reap(BpState *s)
{
    ChimneyCqe cqe;
    bool any = false;

    while (qchimney_cq_poll(&s->f.c, QCHIMNEY_L2_CQ, &cqe)) {
        bp_completed(s, &cqe);
        any = true;
    }
    if (any) {
        qchimney_cq_ack(&s->f.c, QCHIMNEY_L2_CQ);
    }
}

/* Read one bite of the wire, if it has one, and check whole frames */
static void bp_read(BpState *s, int timeout_ms)
{
    struct pollfd pfd = { .fd = s->f.sock, .events = POLLIN };
    size_t bite = bp_bites[s->bites++ % ARRAY_SIZE(bp_bites)];
    size_t at = 0;
    ssize_t n;

    if (poll(&pfd, 1, timeout_ms) != 1) {
        return;
    }
    n = recv(s->f.sock, s->in + s->have, MIN(bite, sizeof(s->in) - s->have),
             0);
    g_assert_cmpint(n, >, 0);
    s->have += n;
    while (s->have - at >= 4) {
        uint32_t len = ldl_be_p(s->in + at);
        uint8_t want[CHIMNEY_L2_MAX_FRAME];

        g_assert_cmpuint(s->received, <, s->posted);
        g_assert_cmpuint(len, ==, bp_len(s->received));
        if (s->have - at - 4 < len) {
            break;
        }
        bp_frame(want, s->received);
        g_assert_cmpmem(s->in + at + 4, len, want, len);
        s->received++;
        at += 4 + len;
    }
    memmove(s->in, s->in + at, s->have - at);
    s->have -= at;
}

static void test_netdev_backpressure(gconstpointer opaque)
{
    const NetdevRun *run = opaque;
    g_autofree BpState *s = g_new0(BpState, 1);
    gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
    ChimneyCqe cqe;

    bp_fixture(&s->f, run->netdev);

    /*
     * Nobody reads: the device must stall, with a bounded amount taken.
     * (A wait that ends early only moves on sooner; what is checked holds
     * either way.)
     */
    for (;;) {
        bp_reap(s);
        if (bp_post(s)) {
            continue;
        }
        if (!qchimney_cq_wait_timeout(&s->f.c, QCHIMNEY_L2_CQ, &cqe,
                                      300 * 1000)) {
            break;
        }
        bp_completed(s, &cqe);
        g_assert_cmpuint(s->completed_bytes, <, BP_BOUND);
    }
    g_assert_cmpuint(s->posted, <, BP_FRAMES);
    g_assert_cmpuint(s->completed, <, s->posted);
    g_test_message("stalled after %u frames, %" PRIu64 " bytes", s->completed,
                   s->completed_bytes);

    if (run->disconnect) {
        close(s->f.sock);
        s->f.sock = -1;
        while (s->completed < BP_FRAMES) {
            bp_reap(s);
            if (!bp_post(s) && s->completed < s->posted) {
                qchimney_cq_wait(&s->f.c, QCHIMNEY_L2_CQ, &cqe);
                bp_completed(s, &cqe);
            }
        }
        qchimney_fx_end(&s->f);
        return;
    }

    while (s->received < BP_FRAMES) {
        bp_reap(s);
        while (bp_post(s)) {
            continue;
        }
        bp_read(s, 10);
        g_assert(g_get_monotonic_time() < deadline);
    }
    while (s->completed < BP_FRAMES) {
        qchimney_cq_wait(&s->f.c, QCHIMNEY_L2_CQ, &cqe);
        bp_completed(s, &cqe);
    }
    g_assert_cmpuint(s->have, ==, 0);
    g_assert(qchimney_wire_quiet(&s->f, 100));
    g_assert_cmpuint(qchimney_qom_stat(&s->f, "x-stat-tx-frames"), ==,
                     BP_FRAMES);
    qchimney_fx_end(&s->f);
}

static const NetdevRun netdev_runs[] = {
    { "socket,fd=" },
    { "stream,server=off,addr.type=fd,addr.str=" },
    { "socket,fd=", true },
    { "stream,server=off,addr.type=fd,addr.str=", true },
};

#ifdef CONFIG_LINUX

typedef struct KernelRun {
    const char *name;
    int conns;
    uint32_t mib_per_conn;
    double loss, dup, reorder;
    int rcvbuf;
    const char *slow;
    bool echo;                  /* the sink sends everything back */
    bool migrate;               /* to a file, once a third is through */
} KernelRun;

/* Migration in the middle of a kernel stream, from its progress report */
static struct {
    const KernelRun *k;
    QChimneyFixture *f;
    QChimneyRelay *relay;
    QChimneyKernelPeer *peer;
    bool done;
    uint64_t dropped;
} kmig;

static void kernel_migrate(QChimneyStreamStats *st, bool last)
{
    const KernelRun *k = kmig.k;

    if (kmig.done || last || st->acked < st->total / 3) {
        return;
    }
    kmig.done = true;
    /* the wire is cut; what was on it is lost, and TCP retransmits it */
    qchimney_relay_stop(kmig.relay);
    kmig.dropped = kmig.relay->dropped;
    close(kmig.relay->sock);
    qchimney_fx_migrate(kmig.f, "file", "-m 512M -global "
                        "apic-common.vapic=off", NULL, NULL);
    qchimney_relay_start(kmig.relay, kmig.f->sock, kmig.peer->tap_fd,
                         k->loss, k->dup, k->reorder);
    qchimney_relay_set_lossy(kmig.relay, true);
    kmig.f->sock = -1;
    g_test_message("migrated at %" PRIu64 " of %" PRIu64 " bytes "
                   "acknowledged: stream %" PRIu64 " bytes, save %" PRId64
                   " ms, load %.1f ms", st->acked, st->total,
                   kmig.f->mig_bytes, kmig.f->mig_total_ms,
                   kmig.f->mig_load_us / 1000.0);
}

/*
 * End to end with the Linux kernel's TCP: a tap device in a network
 * namespace the test makes, a TCP sink there, and between QEMU's socket
 * netdev and the tap a relay of the test's that drops, duplicates and
 * reorders frames by a seeded schedule.
 */
static void test_kernel_tcp(gconstpointer opaque)
{
    const KernelRun *k = opaque;
    const uint32_t sends = k->mib_per_conn * 1024 * 1024 / STREAM_CHUNK;
    const char *why = qchimney_kernel_peer_unusable();
    QChimneyKernelPeer peer;
    QChimneyRelay relay;
    QChimneyFixture f = { 0 };
    QChimneyConn hc[STREAM_CONNS];
    uint64_t buf[STREAM_CONNS], sgl[STREAM_CONNS];
    QChimneyEchoConn ec[STREAM_CONNS];
    gint64 t0, t1;
    g_autofree char *stats = NULL;

    if (why) {
        g_test_skip(why);
        return;
    }
    qchimney_kernel_peer_start(&peer, k->conns, k->rcvbuf, k->slow, k->echo);

    /* The relay's schedule follows the test's seed (--seed to repeat) */
    qchimney_kernel_fx_start(&f, &relay, &peer, k->loss, k->dup, k->reorder,
                             g_test_rand_int());
    qchimney_kernel_connect(&f, hc, k->conns, k->echo ? ECHO_RQ : 0);
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
    } else if (k->migrate) {
        g_autofree gint64 *posted = g_new0(gint64, k->conns * sends);
        g_autofree gint64 *lat = g_new0(gint64, k->conns * sends);
        QChimneyStreamStats st = {
            .posted_at = posted, .latency = lat, .progress = kernel_migrate,
            .total = (uint64_t)k->conns * sends * STREAM_CHUNK,
        };

        /* a report at a third, however fast the stream runs */
        st.progress_at = st.total / 3;

        kmig.k = k;
        kmig.f = &f;
        kmig.relay = &relay;
        kmig.peer = &peer;
        kmig.done = false;
        qchimney_stream_run_stats(&f, hc, k->conns, sends, buf, sgl, true,
                                  &st);
        g_assert(kmig.done);
        relay.dropped += kmig.dropped;
    } else {
        qchimney_stream_run(&f, hc, k->conns, sends, buf, sgl, true);
    }
    t1 = g_get_monotonic_time();

    /* The sink's view: byte-exact streams */
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
        g_assert_cmpuint(bytes, ==, (uint64_t)sends * STREAM_CHUNK);
        g_assert_cmpstr(sha, ==, want);
    }
    stats = qchimney_qom_str(&f, "x-conn-stats");
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

    qchimney_kernel_fx_quit(&f, &relay, &peer);
}

/* QEMU's CPU time so far, in seconds */
static double qemu_cpu_s(QChimneyFixture *f)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat",
                                            qtest_pid(f->qts));
    g_autofree char *text = NULL;
    unsigned long ut = 0, st = 0;
    char *p;

    g_assert(g_file_get_contents(path, &text, NULL, NULL));
    /* after the command name: state, then 10 fields to utime, stime */
    p = strrchr(text, ')');
    g_assert(p);
    g_assert_cmpint(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                           "%*u %lu %lu", &ut, &st), ==, 2);
    return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

typedef struct TapRun {
    bool vnet_hdr;
    double loss, dup, reorder;  /* any: the relay in vnet mode between */
} TapRun;

/*
 * QEMU's tap netdev: with vnet_hdr=on the device hands the kernel TCP
 * super-frames to segment and sum (far fewer frames than segments cross
 * the tap), with vnet_hdr=off it segments and sums itself.  Either way
 * the streams arrive byte-exact, also when the relay drops, duplicates
 * and reorders super-frames.
 */
static void test_kernel_tap(gconstpointer opaque)
{
    const TapRun *t = opaque;
    const bool vnet_hdr = t->vnet_hdr;
    const bool lossy = t->loss || t->dup || t->reorder;
    const int conns = 2;
    /* QCHIMNEY_TAP_MIB: MiB per connection, for figures (default 8) */
    const char *mib_env = g_getenv("QCHIMNEY_TAP_MIB");
    const uint32_t mib = mib_env ? MAX(atoi(mib_env), 1) : 8;
    const uint32_t sends = mib * 1024 * 1024 / STREAM_CHUNK;
    const uint64_t total = (uint64_t)conns * sends * STREAM_CHUNK;
    const char *why = qchimney_kernel_peer_unusable();
    QChimneyKernelPeer peer;
    QChimneyRelay relay;
    QChimneyFixture f;
    QChimneyConn hc[STREAM_CONNS];
    uint64_t buf[STREAM_CONNS], sgl[STREAM_CONNS], frames;
    gint64 t0, t1;
    double cpu0, cpu1;
    int qemu_tap;
    g_autofree char *stats = NULL;

    if (why) {
        g_test_skip(why);
        return;
    }
    qchimney_kernel_peer_start_tap(&peer, conns, 0, "0", false, vnet_hdr);
    qemu_tap = peer.tap_fd;
    if (lossy) {
        qemu_tap = qchimney_relay_start_vnet(&relay, &peer, t->loss, t->dup,
                                             t->reorder);
        g_rand_set_seed(relay.rand, g_test_rand_int());
    }
    qchimney_kernel_fx_start_tap(&f, qemu_tap);
    qchimney_kernel_connect(&f, hc, conns, 0);
    for (int i = 0; i < conns; i++) {
        qchimney_stream_buffer(&f, i, &buf[i], &sgl[i]);
    }
    if (lossy) {
        qchimney_relay_set_lossy(&relay, true);
    }
    cpu0 = qemu_cpu_s(&f);
    t0 = g_get_monotonic_time();
    qchimney_stream_run(&f, hc, conns, sends, buf, sgl, true);
    t1 = g_get_monotonic_time();
    cpu1 = qemu_cpu_s(&f);
    for (int n = 0; n < conns; n++) {
        unsigned port;
        uint64_t bytes;
        char sha[80];
        g_autofree char *want = NULL;
        int i;

        qchimney_kernel_peer_result(&peer, &port, &bytes, sha, sizeof(sha));
        i = port - 40000;
        g_assert_cmpint(i, >=, 0);
        g_assert_cmpint(i, <, conns);
        want = qchimney_stream_sha(i, sends);
        g_assert_cmpuint(bytes, ==, (uint64_t)sends * STREAM_CHUNK);
        g_assert_cmpstr(sha, ==, want);
    }
    frames = qchimney_kernel_peer_frames_in(&peer);
    stats = qchimney_qom_str(&f, "x-conn-stats");
    g_test_message("kernel TCP through a tap, vnet_hdr=%s: %d x %u MiB "
                   "byte-exact in %.2f s (%.0f MB/s), QEMU CPU %.2f s per "
                   "GB, %" PRIu64 " frames into the tap; relay dropped %"
                   PRIu64 ", duplicated %" PRIu64 ", reordered %" PRIu64,
                   vnet_hdr ? "on" : "off", conns, mib, (t1 - t0) / 1e6,
                   total / ((t1 - t0) / 1e6) / 1e6,
                   (cpu1 - cpu0) / (total / 1e9), frames,
                   lossy ? relay.dropped : 0, lossy ? relay.duplicated : 0,
                   lossy ? relay.reordered : 0);
    if (vnet_hdr) {
        /* super-frames: several MSS each (retransmissions: one) */
        g_assert_cmpuint(frames, <, total / 1460 / (lossy ? 1 : 4));
    } else {
        g_assert_cmpuint(frames, >=, total / 1460);
    }
    if (lossy) {
        g_test_message("device: %s", stats);
    }
    if (t->loss) {
        /* a loss may hit only ACKs of one connection, not of both */
        g_auto(GStrv) idle = g_strsplit(stats, " retransmits=0 ", -1);

        g_assert(relay.dropped > 0);
        g_assert_cmpint(g_strv_length(idle) - 1, <, conns);
    }
    qchimney_fx_quit(&f);
    if (lossy) {
        qchimney_relay_stop_vnet(&relay, &peer, qemu_tap);
    }
    qchimney_kernel_peer_stop(&peer);
}

static const TapRun tap_runs[] = {
    { true }, { false }, { true, 0.01, 0.005, 0.01 },
};

static const KernelRun kernel_runs[] = {
    { "1% loss, reordering, duplicates", 2, 8, 0.01, 0.005, 0.01, 0, "0" },
    { "5% loss, reordering", 2, 4, 0.05, 0, 0.02, 0, "0" },
    { "slow reader, small window", 1, 1, 0, 0, 0, 2048, "0.005" },
    { "echo both ways, 1% loss, reordering", 2, 8, 0.01, 0, 0.01, 0, "0",
      true },
    { "migrated mid-stream, 1% loss, reordering", 2, 8, 0.01, 0, 0.01, 0,
      "0", false, true },
};

#endif /* CONFIG_LINUX */

/*
 * A backend that cannot take more: the device stops sending data and
 * goes on once it can, as a NIC with a full transmit ring does, instead
 * of losing frames to the net layer's queue limit.  The peer reads
 * nothing while 15 MiB (about 15 700 frames, more than the 10 000 that
 * QEMU's queue to the socket holds) wait to go; then every byte arrives
 * once and in order, with no retransmission (the virtual clock does not
 * move, so a lost frame would never come again).
 */
#define HELD_REQ_LEN    (1024 * 1024)
#define HELD_REQS       15

static uint8_t held_byte(uint32_t off)
{
    return off * 7 + (off >> 12);
}

static void held_tweak(QChimneyFixture *f, ChimneyTcpOffload *o)
{
    /* the peer's 65535 is 64 MiB; slow start is not what is tested */
    o->const_flags |= cpu_to_le16(CHIMNEY_TCPF_WINDOW_SCALING);
    o->snd_wscale = 10;
    o->delegated.snd_wnd = cpu_to_le32(65535u << 10);
    o->delegated.max_snd_wnd = o->delegated.snd_wnd;
    o->delegated.cwnd = o->delegated.snd_wnd;
    o->delegated.ssthresh = o->delegated.snd_wnd;
}

/* @reqs SENDs of the same @len bytes of held_byte, cookies from @cookie */
static void held_post(QChimneyFixture *f, QChimneyConn *hc, uint32_t len,
                      uint32_t reqs, uint64_t cookie)
{
    g_autofree uint8_t *pattern = g_malloc(len);
    uint64_t buf = guest_alloc(&f->alloc, len);
    uint64_t sgl = guest_alloc(&f->alloc, sizeof(ChimneySge));
    uint32_t tail_le;
    ChimneySge e;

    for (uint32_t i = 0; i < len; i++) {
        pattern[i] = held_byte(i);
    }
    qtest_memwrite(f->qts, buf, pattern, len);
    chimney_guest_sge(&e, buf, len);
    qtest_memwrite(f->qts, sgl, &e, sizeof(e));
    for (uint32_t k = 0; k < reqs; k++) {
        ChimneySqDesc d;

        chimney_guest_sq_desc(&d, CHIMNEY_SQ_SEND, CHIMNEY_SQF_PUSH, 1, len,
                              cookie + k, sgl);
        qtest_memwrite(f->qts, hc->sq_base + hc->sq_tail * sizeof(d), &d,
                       sizeof(d));
        hc->sq_tail = (hc->sq_tail + 1) & (hc->sq_size - 1);
    }
    tail_le = cpu_to_le32(hc->sq_tail);
    qtest_memwrite(f->qts, hc->db_record, &tail_le, sizeof(tail_le));
    qchimney_sq_kick(&f->c, hc);
}

/*
 * Read what held_post sent, once and in order, ACKing every @ack_every
 * bytes; then every request completes and nothing was retransmitted.
 */
static void held_receive(QChimneyFixture *f, QChimneyConn *hc,
                         uint32_t len, uint32_t reqs, uint64_t cookie,
                         uint32_t ack_every)
{
    const uint64_t total = (uint64_t)reqs * len;
    uint32_t start = hc->iss + 1;
    uint64_t got = 0, acked = 0;
    QChimneyPeerSeg ps;

    while (got < total) {
        /* a frame lost would never come: fail, do not hang */
        g_assert(!qchimney_wire_quiet(f, 10 * 1000));
        qchimney_peer_read(f, &ps);
        g_assert_cmphex(ps.flags & 0x07, ==, 0);
        g_assert_cmpuint(ps.seq, ==, (uint32_t)(start + got));
        g_assert_cmpuint(ps.len, <=, 1000);
        for (uint32_t i = 0; i < ps.len; i++) {
            g_assert_cmphex(ps.data[i], ==, held_byte((got + i) % len));
        }
        got += ps.len;
        if (got - acked >= ack_every || got == total) {
            qchimney_peer_ack(f, hc, start + got);
            acked = got;
        }
    }
    for (uint32_t k = 0; k < reqs; k++) {
        ChimneyCqe cqe = qchimney_expect_cqe(f, 2, CHIMNEY_CQE_SEND,
                                             CHIMNEY_ST_SUCCESS);

        g_assert_cmphex(cqe.cookie, ==, cookie + k);
        g_assert_cmpuint(cqe.bytes, ==, len);
    }
    g_assert_cmpuint(le64_to_cpu(qchimney_query_stats(f).retransmitted),
                     ==, 0);
    g_assert(qchimney_wire_quiet(f, 100));
}

static void test_tcp_backpressure(void)
{
    QChimneyFixture f;
    QChimneyConn hc;
    gint64 deadline;

    qchimney_tcp_fixture_tweak(&f, &hc, 1000, 256, NULL, held_tweak);
    held_post(&f, &hc, HELD_REQ_LEN, HELD_REQS, 0x100);

    /* Nothing read yet: the device holds its data back */
    deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    while (!qchimney_qom_stat(&f, "x-stat-tx-held")) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(10 * 1000);
    }

    /* Then all of it; an ACK every 64 segments */
    held_receive(&f, &hc, HELD_REQ_LEN, HELD_REQS, 0x100, 64 * 1000);
    qchimney_fx_end(&f);
}

/*
 * x-tx-burst=1: one frame per run of the bottom half, the rest waiting
 * for the next; every byte still arrives once and in order, without a
 * retransmission, and every request completes (the virtual clock does
 * not move: only the bottom half running again sends the rest).
 */
static void test_tcp_tx_burst(void)
{
    QChimneyFixture f;
    QChimneyConn hc;

    qchimney_tcp_fixture_tweak(&f, &hc, 1000, 256,
                               "-global chimney-nic.x-tx-burst=1", held_tweak);
    held_post(&f, &hc, 64 * 1024, 3, 0x200);
    held_receive(&f, &hc, 64 * 1024, 3, 0x200, 16 * 1000);
    qchimney_fx_end(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_device("chimney-nic")) {
        g_test_skip("chimney-nic is not built in");
        return g_test_run();
    }
    qtest_add_func("/chimney/slirp/ping", test_slirp_ping);
    qtest_add_func("/chimney/slirp/stream", test_slirp_stream);
    qtest_add_func("/chimney/slirp/echo", test_slirp_echo);
    qtest_add_func("/chimney/tcp/backpressure", test_tcp_backpressure);
    qtest_add_func("/chimney/tcp/tx-burst", test_tcp_tx_burst);
    qtest_add_data_func("/chimney/netdev/socket-slow-reader", &netdev_runs[0],
                        test_netdev_backpressure);
    qtest_add_data_func("/chimney/netdev/stream-slow-reader", &netdev_runs[1],
                        test_netdev_backpressure);
    qtest_add_data_func("/chimney/netdev/socket-gone", &netdev_runs[2],
                        test_netdev_backpressure);
    qtest_add_data_func("/chimney/netdev/stream-gone", &netdev_runs[3],
                        test_netdev_backpressure);
#ifdef CONFIG_LINUX
    qtest_add_data_func("/chimney/kernel/loss1", &kernel_runs[0],
                        test_kernel_tcp);
    qtest_add_data_func("/chimney/kernel/loss5", &kernel_runs[1],
                        test_kernel_tcp);
    qtest_add_data_func("/chimney/kernel/window", &kernel_runs[2],
                        test_kernel_tcp);
    qtest_add_data_func("/chimney/kernel/echo", &kernel_runs[3],
                        test_kernel_tcp);
    qtest_add_data_func("/chimney/kernel/migrate", &kernel_runs[4],
                        test_kernel_tcp);
    qtest_add_data_func("/chimney/kernel/tap-vnet-hdr", &tap_runs[0],
                        test_kernel_tap);
    qtest_add_data_func("/chimney/kernel/tap-plain", &tap_runs[1],
                        test_kernel_tap);
    qtest_add_data_func("/chimney/kernel/tap-vnet-hdr-loss1", &tap_runs[2],
                        test_kernel_tap);
#endif
    return g_test_run();
}
