/*
 * chimney-bench: the anchors' sender, this program as the guest's TCP
 *
 * igb (chimney-bench-igb.c) and virtio-net (chimney-bench-virtio.c) are
 * plain NICs: the guest's TCP stack is this program.  It sends the
 * 64-KiB requests as 32-KiB sends (with TSO one IP datagram: less than
 * 64 KiB with its headers) round robin over the connections, through the
 * NIC's BenchNicOps.  On a socket netdev the minimal peer checks every
 * byte and does not answer: how much may be in flight comes from what it
 * verified, in this process, so nothing is lost.  On a tap the Linux
 * kernel's TCP is the peer: ARP, the handshake and the kernel's ACKs
 * (for its window) go through the NIC's receive queue, and the kernel's
 * sink checks every byte.  A connection whose ACKs stop for 200 ms with
 * data outstanding goes back to what was acknowledged and sends again
 * (go-back-N, counted as retransmissions): the kernel's backlog may drop
 * frames.  With nothing in flight, a window too small for a send and no
 * ACK for 200 ms, it probes as TCP's persist timer does.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "chimney-bench.h"

const uint8_t bench_nic_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* --- the connections --- */

/* Wait for a frame that @want accepts (real time, the clock moving) */
static bool nic_expect(Bench *b, const BenchNicOps *ops, void *nic,
                       bool (*want)(const uint8_t *f, uint32_t len,
                                    BenchConn *c), BenchConn *c)
{
    int64_t deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        const uint8_t *f;
        uint32_t len;

        while ((f = ops->rx(nic, &len))) {
            if (want(f, len, c)) {
                ops->rx_done(nic);
                return true;
            }
        }
        ops->rx_done(nic);
        if (b) {
            bench_clock(b);
        }
        g_usleep(100);
    }
    return false;
}

static bool arp_reply(const uint8_t *f, uint32_t len, BenchConn *c)
{
    if (len < 42 || lduw_be_p(f + 12) != 0x0806 || lduw_be_p(f + 20) != 2 ||
        ldl_be_p(f + 28) != c->dip) {
        return false;
    }
    memcpy(c->dst_mac, f + 22, 6);
    return true;
}

static bool syn_ack(const uint8_t *f, uint32_t len, BenchConn *c)
{
    const uint8_t *th = f + 34;
    uint32_t doff;

    if (len < 54 || lduw_be_p(f + 12) != 0x0800 || f[23] != 6 ||
        lduw_be_p(th + 2) != c->sport || th[13] != 0x12 ||
        ldl_be_p(th + 8) != c->seq0) {
        return false;
    }
    c->ack = ldl_be_p(th + 4) + 1;
    c->wnd = lduw_be_p(th + 14);
    doff = (th[12] >> 4) * 4;
    for (uint32_t k = 20; k + 2 < doff && 34 + k + 2 < len && th[k];
         k += th[k] < 2 ? 1 : th[k + 1]) {
        if (th[k] == 3) {
            c->wscale = th[k + 2];
        }
    }
    return true;
}

void bench_take_acks(const BenchNicOps *ops, void *nic, BenchConn *conn,
                     uint32_t n)
{
    const uint8_t *f;
    uint32_t len;

    while ((f = ops->rx(nic, &len))) {
        const uint8_t *th = f + 34;
        uint32_t i, acked;

        if (len < 54 || lduw_be_p(f + 12) != 0x0800 || f[23] != 6 ||
            !(th[13] & 0x10)) {
            continue;
        }
        i = lduw_be_p(th + 2) - conn[0].sport;
        if (i >= n) {
            continue;
        }
        acked = ldl_be_p(th + 8) - conn[i].seq0;
        if ((int32_t)(acked - (uint32_t)conn[i].una) > 0) {
            conn[i].una += acked - (uint32_t)conn[i].una;
            conn[i].una_at = g_get_monotonic_time();
        }
        conn[i].wnd = (uint64_t)lduw_be_p(th + 14) << conn[i].wscale;
    }
    ops->rx_done(nic);
}

static size_t tcp_frame(uint8_t *f, const BenchConn *c, uint32_t seq,
                        uint8_t flags, const uint8_t *opt, size_t optlen)
{
    QChimneyTcpAddr a = {
        .src_mac = bench_nic_mac, .dst_mac = c->dst_mac,
        .src_ip = cpu_to_be32(c->sip), .dst_ip = cpu_to_be32(c->dip),
        .src_port = c->sport, .dst_port = c->dport,
    };

    return qchimney_tcp_frame(f, &a, seq, c->ack, flags, 512, opt, optlen);
}

bool bench_nic_connect(Bench *b, const BenchNicOps *ops, void *nic,
                       BenchConn *conn, uint32_t n, char *why, size_t wlen)
{
    static const uint8_t syn_opt[8] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7 };
    uint8_t f[128] = { 0 };

    memset(f, 0xff, 6);
    memcpy(f + 6, bench_nic_mac, 6);
    stw_be_p(f + 12, 0x0806);
    stw_be_p(f + 14, 1);
    stw_be_p(f + 16, 0x0800);
    f[18] = 6;
    f[19] = 4;
    stw_be_p(f + 20, 1);
    memcpy(f + 22, bench_nic_mac, 6);
    stl_be_p(f + 28, conn[0].sip);
    stl_be_p(f + 38, conn[0].dip);
    ops->send(nic, f, 60);
    if (!nic_expect(b, ops, nic, arp_reply, &conn[0])) {
        snprintf(why, wlen, "no ARP reply through %s", ops->name);
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        memcpy(conn[i].dst_mac, conn[0].dst_mac, 6);
        conn[i].ack = 0;
        ops->send(nic, f, tcp_frame(f, &conn[i], conn[i].seq0 - 1, 0x02,
                                    syn_opt, 8));
        if (!nic_expect(b, ops, nic, syn_ack, &conn[i])) {
            snprintf(why, wlen, "no SYN-ACK through %s", ops->name);
            return false;
        }
        ops->send(nic, f, tcp_frame(f, &conn[i], conn[i].seq0, 0x10, NULL,
                                    0));
    }
    return true;
}

void bench_conn_headers(uint8_t *h, const BenchConn *c, uint64_t off,
                        uint32_t len)
{
    memcpy(h, c->dst_mac, 6);
    memcpy(h + 6, bench_nic_mac, 6);
    stw_be_p(h + 12, 0x0800);
    memset(h + 14, 0, 40);
    h[14] = 0x45;
    stw_be_p(h + 16, 40 + len);
    h[22] = 64;
    h[23] = 6;
    stl_be_p(h + 26, c->sip);
    stl_be_p(h + 30, c->dip);
    stw_be_p(h + 34, c->sport);
    stw_be_p(h + 36, c->dport);
    stl_be_p(h + 38, c->seq0 + (uint32_t)off);
    stl_be_p(h + 42, c->ack);
    h[46] = 5 << 4;
    h[47] = 0x18;                       /* PSH | ACK */
    stw_be_p(h + 48, 512);
}

/* The one's complement sum of @len bytes as big-endian 16-bit words */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    uint64_t s = 0;

    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w = ldq_he_p(p);

        s += (w & 0xffffffff) + (w >> 32);
    }
    for (; len >= 2; p += 2, len -= 2) {
        s += lduw_he_p(p);
    }
    if (len) {
        s += HOST_BIG_ENDIAN ? p[0] << 8 : p[0];
    }
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return sum + (HOST_BIG_ENDIAN ? s : bswap16(s));
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

void bench_conn_frame(uint8_t *h, const BenchConn *c, uint64_t off,
                      const uint8_t *p, uint32_t len, bool partial)
{
    uint8_t *ip = h + 14, *th = ip + 20;
    uint32_t ph;

    bench_conn_headers(h, c, off, len);
    stw_be_p(ip + 10, qchimney_csum(ip, 20, 0));
    /* the pseudo header; then, unless the host completes it, the segment */
    ph = csum_add(6 + 20 + len, ip + 12, 8);
    if (partial) {
        stw_be_p(th + 16, csum_fold(ph));
    } else {
        stw_be_p(th + 16, ~csum_fold(csum_add(csum_add(ph, th, 20), p, len)));
    }
}

BenchConn bench_conn_new(uint32_t i, bool tap, uint64_t wnd)
{
    BenchConn c = {
        .sip = tap ? 0x0a090001 : 0x0a000001,
        .dip = tap ? 0x0a090002 : 0x0a000002,
        .sport = tap ? 40000 + i : BENCH_LOCAL_PORT + i % 50000,
        .dport = BENCH_PEER_PORT + (tap ? 0 : i / 50000),
        .seq0 = bench_iss(i) + 1, .ack = i + 1, .wnd = wnd,
    };

    memcpy(c.dst_mac, QCHIMNEY_PEER_MAC, 6);
    return c;
}

/* --- a run --- */

bool bench_anchor_open(BenchAnchor *a, const char *backend, uint32_t nconns,
                       BenchFigures *fig)
{
    memset(fig, 0, sizeof(*fig));
    memset(a, 0, sizeof(*a));
    a->backend = backend;
    a->nconns = nconns;
    a->tap = strcmp(backend, "socket") != 0;
    a->sv[0] = a->sv[1] = -1;
    if (a->tap) {
        a->s = bench_sink_start(nconns, !strcmp(backend, "tap-vnet"),
                                fig->why, sizeof(fig->why));
        if (!a->s) {
            return false;
        }
        snprintf(a->netdev, sizeof(a->netdev), "-netdev tap,fd=%d,id=n0",
                 bench_sink_tap_fd(a->s));
    } else {
        g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, a->sv), ==, 0);
        snprintf(a->netdev, sizeof(a->netdev), "-netdev socket,fd=%d,id=n0",
                 a->sv[1]);
    }
    return true;
}

void bench_anchor_close(BenchAnchor *a)
{
    for (int i = 0; i < 2; i++) {
        if (a->sv[i] >= 0) {
            close(a->sv[i]);
        }
    }
    if (a->s) {
        bench_sink_stop(a->s);
    }
}

void bench_anchor_run(BenchAnchor *a, Bench *b, const BenchNicOps *ops,
                      void *nic, uint64_t bytes, BenchFigures *fig)
{
    const uint32_t depth = 16, nconns = a->nconns;
    const bool tap = a->tap;
    const uint64_t want = bytes / BENCH_CHUNK / nconns * BENCH_CHUNK * nconns;
    const uint64_t unit = BENCH_UNIT;
    uint64_t per = want / nconns / unit, period, data, done = 0;
    /*
     * In flight per connection: at most what the backend's queue holds
     * (QEMU's 10000 frames to a socket; a tap's 1000-frame backlog in the
     * kernel when the NIC segments, far more 32-KiB frames when it does
     * not): the sender here does not retransmit but on a tap.
     */
    uint64_t window = MIN(1024 * 1024, (!strcmp(a->backend, "tap") ? 1 : 8) *
                                       1024 * 1024 / nconns);
    g_autofree uint64_t *posted = g_new0(uint64_t, nconns);
    g_autofree BenchConn *conn = g_new0(BenchConn, nconns);
    BenchPeer *p = NULL;
    BenchSink *s = a->s;
    BenchLat lat = { 0 };
    int64_t t0, progress_at, recover_at = 0;
    double cpu0;
    uint64_t irq0, doorbells = 0, last = 0, got = 0, rexmit = 0;
    uint32_t next = 0;

    period = depth * BENCH_CHUNK;
    bench_pattern_init(period);
    data = bench_alloc(b, BENCH_CLASSES * period, 4096);
    for (int c = 0; c < BENCH_CLASSES; c++) {
        memcpy(bench_gpa(b, data + c * period, period), bench_pattern(c),
               period);
    }
    for (uint32_t i = 0; i < nconns; i++) {
        conn[i] = bench_conn_new(i, tap, window);
    }
    if (tap) {
        if (!bench_nic_connect(b, ops, nic, conn, nconns, fig->why,
                               sizeof(fig->why))) {
            return;
        }
    } else {
        close(a->sv[1]);
        a->sv[1] = -1;
        b->f.sock = a->sv[0];
        a->sv[0] = -1;
        /* silent: a window of 0 sends no ACKs */
        p = bench_peer_new(b->f.sock, nconns, 0, 0, bench_nic_mac,
                           cpu_to_be32(0x0a000001),
                           cpu_to_be32(0x0a000002));
        /* the NIC sends inside the doorbell write: the peer reads meanwhile */
        bench_peer_start(p);
    }
    t0 = progress_at = g_get_monotonic_time();
    for (uint32_t i = 0; i < nconns; i++) {
        conn[i].una_at = t0;
    }
    cpu0 = bench_qemu_cpu(b);
    irq0 = bench_irqs(b);
    while (got < want) {
        uint32_t moved = 0;
        int64_t now = g_get_monotonic_time();

        if (p && bench_peer_failed(p, fig->why, sizeof(fig->why))) {
            break;
        }
        if (s && bench_sink_error(s)) {
            snprintf(fig->why, sizeof(fig->why), "%s", bench_sink_error(s));
            break;
        }
        if (tap) {
            bench_take_acks(ops, nic, conn, nconns);
            for (uint32_t i = 0; i < nconns; i++) {
                if (posted[i] * unit > conn[i].una &&
                    now - conn[i].una_at > 200 * 1000) {
                    /* go back to what the kernel acknowledged */
                    rexmit += posted[i] - conn[i].una / unit;
                    posted[i] = conn[i].una / unit;
                    conn[i].una_at = now;
                }
            }
        }
        if (!ops->reap(nic, &lat, &done, fig->why, sizeof(fig->why))) {
            break;
        }
        /* round robin over the connections with room */
        for (uint32_t k = 0; k < nconns; k++, next = (next + 1) % nconns) {
            uint64_t off = posted[next] * unit;
            uint64_t una = tap ? conn[next].una : bench_peer_got(p, next);

            if (posted[next] >= per || !ops->room(nic)) {
                continue;
            }
            if (off + unit > una + MIN(window, conn[next].wnd)) {
                /*
                 * A window too small for a send, nothing in flight and no
                 * ACK for 200 ms: probe, as TCP's persist timer does, with
                 * the last send the kernel already has, which it answers
                 * with its window (a lost window update would stall us)
                 */
                if (!tap || !posted[next] || off > una ||
                    now - conn[next].una_at < 200 * 1000) {
                    continue;
                }
                off -= unit;
                conn[next].una_at = now;
                rexmit++;
            } else {
                posted[next]++;
            }
            ops->post(nic, &conn[next], off, data + (next % BENCH_CLASSES) *
                      period + off % period, now);
            moved++;
        }
        if (moved) {
            doorbells += ops->kick(nic);
        } else {
            g_usleep(20);
        }
        bench_clock(b);
        got = p ? bench_peer_bytes(p) : bench_sink_bytes(s);
        if (got != last) {
            last = got;
            progress_at = now;
        } else if (ops->rx_recover && now - progress_at > 2 * G_USEC_PER_SEC &&
                   now - recover_at > G_USEC_PER_SEC) {
            recover_at = now;
            fig->rx_recovered += ops->rx_recover(nic);
        } else if (now - progress_at > 20 * G_USEC_PER_SEC) {
            char rx[128] = "";

            if (ops->describe) {
                ops->describe(nic, rx, sizeof(rx));
            }
            fig->stalled = true;
            snprintf(fig->why, sizeof(fig->why), "no progress for 20 s (%"
                     PRIu64 " bytes verified; first connection: %" PRIu64
                     " posted, %" PRIu64 " acknowledged, window %" PRIu64
                     "; %" PRIu64 " sends again; %s)", got, posted[0] * unit,
                     conn[0].una, conn[0].wnd, rexmit, rx);
            break;
        }
    }
    /* what the NIC finished may still be on its way to the peer */
    while (!fig->why[0] &&
           (p ? bench_peer_bytes(p) : bench_sink_bytes(s)) < want &&
           g_get_monotonic_time() - progress_at < 5 * G_USEC_PER_SEC) {
        if (p) {
            bench_peer_failed(p, fig->why, sizeof(fig->why));
        }
        g_usleep(1000);
    }
    if (p) {
        bench_peer_stop(p);
    }
    fig->secs = (g_get_monotonic_time() - t0) / 1e6;
    fig->cpu = bench_qemu_cpu(b) - cpu0;
    fig->irqs = bench_irqs(b) - irq0;
    fig->reqs = done / 2;      /* in 64-KiB requests, as chimney's */
    fig->rexmit = rexmit * DIV_ROUND_UP(unit, BENCH_MSS);
    fig->doorbells = doorbells;
    fig->bytes = p ? bench_peer_bytes(p) : bench_sink_bytes(s);
    /* frames on the wire: the peer's count, or what TSO cut */
    fig->segs = p ? bench_peer_segs(p) : done * DIV_ROUND_UP(unit, BENCH_MSS);
    bench_lat_done(&lat, fig);
    if (s && bench_sink_error(s) && !fig->why[0]) {
        snprintf(fig->why, sizeof(fig->why), "%s", bench_sink_error(s));
    }
    fig->ok = !fig->why[0] && fig->bytes == want;
    if (!fig->why[0] && !fig->ok) {
        snprintf(fig->why, sizeof(fig->why), "%" PRIu64 " of %" PRIu64
                 " bytes verified", fig->bytes, want);
    }
    if (p) {
        bench_peer_free(p);
    }
}
