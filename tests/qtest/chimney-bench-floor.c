/*
 * chimney-bench: the floor, what writing to the tap costs the writer
 *
 * Every byte chimney-nic sends through a tap goes through the host
 * kernel's writev: the copy into socket buffers and, with the peer being
 * this host's TCP, its receive path and its ACK, all on the writer's CPU.
 * Here this program is the writer, with no QEMU at all: the same streams
 * (64-KiB super-frames behind a virtio-net header as the device hands
 * them, at most 1 MiB in flight per connection as the device's 16 queued
 * requests allow; or MSS frames it checksums itself, 1 MiB in flight over
 * all connections as the anchors', since this sender has no congestion
 * control and more small frames overrun the kernel's receive buffers), to
 * the same sink.  Frames that reach the sink's socket while its reader
 * holds it are taken by the reader when it lets go, on its CPU, for the
 * device's rows as for this one; at this row's higher rate more may be,
 * so the floor may read somewhat low.
 * The writing thread's CPU per GB is the part of QEMU's that no device
 * model can save.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/iov.h"
#include "standard-headers/linux/virtio_net.h"
#include "chimney-bench.h"
#include <poll.h>

/* Payload of a super-frame: whole segments under the IPv4 length limit */
#define FLOOR_GSO_SEGS      44
#define FLOOR_WINDOW        (16 * BENCH_CHUNK)     /* bytes in flight */

typedef struct FloorTap {
    int fd;
    size_t hdr;                 /* the vnet header's length, 0 without */
    int error;                  /* errno of the first write that failed */
    uint8_t rx[64 * 1024];
} FloorTap;

/* Write a frame; a short or failed write fails the row */
static bool floor_write(FloorTap *t, const struct iovec *v, int n)
{
    ssize_t want = iov_size(v, n), got = writev(t->fd, v, n);

    if (got != want && !t->error) {
        t->error = got < 0 ? errno : EIO;
    }
    return got == want;
}

static void floor_send_frame(void *nic, const uint8_t *f, uint32_t len)
{
    FloorTap *t = nic;
    struct virtio_net_hdr vh = { 0 };
    struct iovec v[2] = {
        { .iov_base = &vh, .iov_len = t->hdr },
        { .iov_base = (void *)f, .iov_len = len },
    };

    floor_write(t, v, 2);
}

static const uint8_t *floor_rx(void *nic, uint32_t *len)
{
    FloorTap *t = nic;
    ssize_t n = read(t->fd, t->rx, sizeof(t->rx));

    if (n <= (ssize_t)t->hdr) {
        return NULL;
    }
    *len = n - t->hdr;
    return t->rx + t->hdr;
}

static void floor_rx_done(void *nic)
{
}

/* Only what the handshake and the ACKs need */
static const BenchNicOps floor_ops = {
    .name = "the tap",
    .send = floor_send_frame,
    .rx = floor_rx,
    .rx_done = floor_rx_done,
};

/* One frame of @len bytes of @c at stream offset @off */
static bool floor_send(FloorTap *t, const BenchConn *c, uint32_t conn,
                       uint64_t off, uint32_t len)
{
    const uint8_t *data = bench_pattern(conn) + off % bench_period();
    struct virtio_net_hdr vh = { 0 };
    uint8_t h[BENCH_HDR_LEN];
    struct iovec v[3] = {
        { .iov_base = &vh, .iov_len = t->hdr },
        { .iov_base = h, .iov_len = sizeof(h) },
        { .iov_base = (void *)data, .iov_len = len },
    };

    bench_conn_frame(h, c, off, data, len, t->hdr != 0);
    if (t->hdr) {
        /*
         * NEEDS_CSUM, as the device's: the rest of TCP's sum the host's
         * (which, delivering the frame whole to its own TCP, trusts it)
         */
        vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        vh.csum_start = 34;
        vh.csum_offset = 16;
        vh.hdr_len = BENCH_HDR_LEN;
        if (len > BENCH_MSS) {
            vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
            vh.gso_size = BENCH_MSS;
        }
    }
    return floor_write(t, v, 3);
}

static double floor_thread_cpu(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void bench_floor(uint64_t bytes, uint32_t nconns, bool vnet_hdr,
                 BenchFigures *fig)
{
    const uint32_t max = vnet_hdr ? FLOOR_GSO_SEGS * BENCH_MSS : BENCH_MSS;
    const uint64_t window = vnet_hdr ? FLOOR_WINDOW :
                            MAX(FLOOR_WINDOW / nconns, 2 * BENCH_MSS);
    const uint64_t per = bytes / nconns;
    g_autofree BenchConn *conn = g_new0(BenchConn, nconns);
    g_autofree uint64_t *off = g_new0(uint64_t, nconns);
    g_autofree FloorTap *t = g_new0(FloorTap, 1);
    BenchSink *s;
    uint64_t frames = 0, rexmit = 0, acked = 0;
    int64_t t0, progress_at, deadline;
    double cpu0;

    memset(fig, 0, sizeof(*fig));
    s = bench_sink_start(nconns, vnet_hdr, fig->why, sizeof(fig->why));
    if (!s) {
        return;
    }
    t->fd = bench_sink_tap_fd(s);
    t->hdr = vnet_hdr ? sizeof(struct virtio_net_hdr) : 0;
    g_assert_cmpint(fcntl(t->fd, F_SETFL, O_NONBLOCK), ==, 0);
    bench_pattern_init(16 * BENCH_CHUNK);
    for (uint32_t i = 0; i < nconns; i++) {
        conn[i] = bench_conn_new(i, true, window);
    }
    if (!bench_nic_connect(NULL, &floor_ops, t, conn, nconns, fig->why,
                           sizeof(fig->why))) {
        bench_sink_stop(s);
        return;
    }
    t0 = progress_at = g_get_monotonic_time();
    for (uint32_t i = 0; i < nconns; i++) {
        conn[i].una_at = t0;
    }
    /* --pin: the writer where QEMU would be, the sink's reader apart */
    bench_pin_thread(true);
    cpu0 = floor_thread_cpu();
    while (acked < per * nconns && !t->error && !bench_sink_error(s)) {
        int64_t now = g_get_monotonic_time();
        uint64_t sent = 0, before = acked;

        bench_take_acks(&floor_ops, t, conn, nconns);
        acked = 0;
        for (uint32_t i = 0; i < nconns; i++) {
            BenchConn *c = &conn[i];
            uint64_t limit = MIN(per, c->una + MIN(window, c->wnd));

            acked += MIN(c->una, per);
            if (off[i] > c->una && now - c->una_at > 200 * 1000) {
                /* go back to what the kernel acknowledged */
                rexmit += DIV_ROUND_UP(off[i] - c->una, BENCH_MSS);
                off[i] = c->una;
                c->una_at = now;
            } else if (off[i] == c->una && c->una && off[i] < per &&
                       limit - off[i] < MIN(BENCH_MSS, per - off[i]) &&
                       now - c->una_at > 200 * 1000) {
                /*
                 * Nothing in flight, a window too small and no ACK for 200
                 * ms: probe, as TCP's persist timer does, with the last
                 * segment the kernel has, which it answers with its window
                 */
                uint32_t len = MIN(BENCH_MSS, c->una);

                floor_send(t, c, i, c->una - len, len);
                frames++;
                rexmit++;
                c->una_at = now;
            }
            /* whole segments only, but for the stream's last bytes */
            while (off[i] < limit &&
                   limit - off[i] >= MIN(BENCH_MSS, per - off[i])) {
                uint32_t len = MIN(max, limit - off[i]);

                if (len < per - off[i]) {
                    len -= len % BENCH_MSS;
                }
                if (off[i] == c->una) {
                    /* the retransmission clock starts with the flight */
                    c->una_at = now;
                }
                if (!floor_send(t, c, i, off[i], len)) {
                    break;
                }
                frames += DIV_ROUND_UP(len, BENCH_MSS);
                off[i] += len;
                sent += len;
            }
        }
        if (acked != before) {
            progress_at = now;
        } else if (now - progress_at > 20 * G_USEC_PER_SEC) {
            snprintf(fig->why, sizeof(fig->why), "no progress for 20 s "
                     "(first connection: %" PRIu64 " sent, %" PRIu64
                     " acknowledged, window %" PRIu64 ", %" PRIu64
                     " verified)", off[0], conn[0].una, conn[0].wnd,
                     bench_sink_bytes(s));
            break;
        }
        if (!sent) {
            struct pollfd pfd = { .fd = t->fd, .events = POLLIN };

            poll(&pfd, 1, 1);
        }
    }
    fig->cpu = floor_thread_cpu() - cpu0;
    fig->secs = (g_get_monotonic_time() - t0) / 1e6;
    bench_pin_thread(false);
    if (t->error && !fig->why[0]) {
        snprintf(fig->why, sizeof(fig->why), "a write to the tap failed: %s",
                 strerror(t->error));
    }
    /* acknowledged is not yet read: wait for the sink to have it all */
    deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!fig->why[0] && bench_sink_bytes(s) < per * nconns &&
           g_get_monotonic_time() < deadline) {
        g_usleep(1000);
    }
    fig->bytes = bench_sink_bytes(s);
    fig->segs = frames;
    fig->rexmit = rexmit;
    if (!fig->why[0] && bench_sink_error(s)) {
        snprintf(fig->why, sizeof(fig->why), "%s", bench_sink_error(s));
    } else if (!fig->why[0] && fig->bytes != per * nconns) {
        snprintf(fig->why, sizeof(fig->why), "%" PRIu64 " of %" PRIu64
                 " bytes verified", fig->bytes, per * nconns);
    }
    fig->ok = !fig->why[0];
    bench_sink_stop(s);
}
