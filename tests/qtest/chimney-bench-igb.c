/*
 * chimney-bench: the anchor, QEMU's igb sending the same bytes with TSO
 *
 * The guest's TCP stack is this program: it sends the 64-KiB requests
 * as TSO sends of 32 KiB (a TSO send is an IP datagram: less than 64 KiB
 * with its headers), each a context descriptor (MSS, TCP over IPv4), the
 * headers and the data with TSE, and moves the tail once per batch.  igb
 * segments and checksums in software, as chimney-nic does, into the same
 * backend (or, on a tap with a vnet header, hands it 32-KiB TSO frames).
 * On a socket netdev the minimal peer checks every byte and does not
 * answer: how much may be in flight comes from what it verified, in this
 * process, so nothing is lost.  On a tap the Linux kernel's TCP is the
 * peer: ARP, the handshake and the kernel's ACKs (for its window) go
 * through igb's receive queue, and the kernel's sink checks every byte.
 * A connection whose ACKs stop for 200 ms with data outstanding goes
 * back to what was acknowledged and sends again (go-back-N, counted as
 * retransmissions): the kernel's backlog may drop frames.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/atomic.h"
#include "hw/net/igb_regs.h"
#include "hw/net/mii.h"
#include "hw/pci/pci_ids.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "chimney-bench.h"

#define RING        4002        /* descriptors: whole sends */
#define PER_REQ     3           /* context, headers, 32 KiB */
#define UNIT        (BENCH_CHUNK / 2)   /* bytes per TSO send */
#define HDR_LEN     54

typedef struct Igb {
    Bench b;
    QPCIDevice *dev;
    QPCIBar bar;
    uint64_t ring, hdrs, ctl;
    uint32_t tail, head;        /* descriptors: ours, and reaped */
    uint64_t rx_ring, rx_bufs;
    uint32_t rx_next, rx_taken;
} Igb;

/* One connection's addressing and sequence numbers */
typedef struct IgbConn {
    uint8_t dst_mac[6];
    uint32_t sip, dip;          /* host order */
    uint16_t sport, dport;
    uint32_t seq0, ack;         /* first data byte's sequence, our ACK */
    uint8_t wscale;             /* the peer's */
    uint64_t una, wnd;          /* stream offset acknowledged, window */
    int64_t una_at;             /* when una last moved */
} IgbConn;

#define RX_RING     256
#define RX_BUF      2048

static void foreach_cb(QPCIDevice *dev, int devfn, void *data)
{
    *(QPCIDevice **)data = dev;
}

static void reg_w(Igb *g, uint32_t reg, uint32_t val)
{
    qpci_io_writel(g->dev, g->bar, reg, val);
}

/* igb up as libqos brings it up, its queues 0 on our rings */
static void igb_start(Igb *g)
{
    static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

    qpci_device_foreach(g->b.f.bus, PCI_VENDOR_ID_INTEL, E1000_DEV_ID_82576,
                        foreach_cb, &g->dev);
    g_assert(g->dev);
    qpci_device_enable(g->dev);
    g->bar = qpci_iomap(g->dev, 0, NULL);
    reg_w(g, E1000_CTRL, qpci_io_readl(g->dev, g->bar, E1000_CTRL) |
          E1000_CTRL_RST | E1000_CTRL_SLU);
    reg_w(g, E1000_MDIC, MII_BMCR_AUTOEN | MII_BMCR_ANRESTART |
          (MII_BMCR << E1000_MDIC_REG_SHIFT) | (1 << E1000_MDIC_PHY_SHIFT) |
          E1000_MDIC_OP_WRITE);
    qtest_clock_step(g->b.f.qts, 900000000);
    qpci_msix_enable(g->dev);
    /* vector 0 unmasked, its message into guest RAM */
    qpci_io_writel(g->dev, g->dev->msix_table_bar, g->dev->msix_table_off,
                   bench_alloc(&g->b, 64, 64));
    qpci_io_writel(g->dev, g->dev->msix_table_bar,
                   g->dev->msix_table_off + 12, 0);
    reg_w(g, E1000_IVAR0, (0 | E1000_IVAR_VALID) << (igb_ivar_entry_tx(0) * 8));
    g_assert(qpci_io_readl(g->dev, g->bar, E1000_STATUS) & E1000_STATUS_LU);
    reg_w(g, E1000_RCTL, 0);
    reg_w(g, E1000_TCTL, 0);
    g->ring = bench_alloc(&g->b, RING * 16, 4096);
    g->hdrs = bench_alloc(&g->b, RING * 64, 64);
    g->ctl = bench_alloc(&g->b, 128, 64);
    reg_w(g, E1000_TDBAL(0), (uint32_t)g->ring);
    reg_w(g, E1000_TDBAH(0), g->ring >> 32);
    reg_w(g, E1000_TDLEN(0), RING * 16);
    reg_w(g, E1000_TDH(0), 0);
    reg_w(g, E1000_TDT(0), 0);
    reg_w(g, E1000_TXDCTL(0), E1000_TXDCTL_QUEUE_ENABLE);
    reg_w(g, E1000_TCTL, E1000_TCTL_EN);
    /* receive: one 2-KiB buffer a frame, our MAC only */
    g->rx_ring = bench_alloc(&g->b, RX_RING * 16, 4096);
    g->rx_bufs = bench_alloc(&g->b, RX_RING * RX_BUF, 4096);
    for (uint32_t i = 0; i < RX_RING; i++) {
        stq_le_p(bench_gpa(&g->b, g->rx_ring + i * 16, 8),
                 g->rx_bufs + i * RX_BUF);
    }
    reg_w(g, E1000_RA, ldl_le_p(mac));
    reg_w(g, E1000_RA + 4, E1000_RAH_AV | E1000_RAH_POOL_1 |
          lduw_le_p(mac + 4));
    reg_w(g, E1000_SRRCTL(0), E1000_SRRCTL_DESCTYPE_ADV_ONEBUF |
          RX_BUF >> E1000_SRRCTL_BSIZEPKT_SHIFT);
    reg_w(g, E1000_RDBAL(0), (uint32_t)g->rx_ring);
    reg_w(g, E1000_RDBAH(0), g->rx_ring >> 32);
    reg_w(g, E1000_RDLEN(0), RX_RING * 16);
    reg_w(g, E1000_RDH(0), 0);
    reg_w(g, E1000_RDT(0), RX_RING - 1);
    reg_w(g, E1000_RXDCTL(0), E1000_RXDCTL_QUEUE_ENABLE);
    reg_w(g, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM);
    reg_w(g, E1000_GPIE, E1000_GPIE_MSIX_MODE);
    reg_w(g, E1000_IMS, 0xffffffff);
    reg_w(g, E1000_EIMS, 0xffffffff);
    /* auto-clear on MSI-X, as a driver sets it: an interrupt per cause */
    reg_w(g, E1000_EIAC, 0xffffffff);
}

static void desc(Igb *g, uint32_t dw0, uint32_t dw1, uint32_t dw2,
                 uint32_t dw3)
{
    uint8_t *d = bench_gpa(&g->b, g->ring + g->tail * 16, 16);

    stl_le_p(d, dw0);
    stl_le_p(d + 4, dw1);
    stl_le_p(d + 8, dw2);
    stl_le_p(d + 12, dw3);
    g->tail = (g->tail + 1) % RING;
}

/* The next frame igb received, or NULL; igb_rx_done gives buffers back */
static const uint8_t *igb_rx(Igb *g, uint32_t *len)
{
    uint8_t *d = bench_gpa(&g->b, g->rx_ring + g->rx_next * 16, 16);
    uint32_t st = le32_to_cpu(qatomic_load_acquire((uint32_t *)(d + 8)));
    uint64_t buf = g->rx_bufs + g->rx_next * RX_BUF;

    if (!(st & E1000_RXD_STAT_DD)) {
        return NULL;
    }
    *len = MIN(lduw_le_p(d + 12), RX_BUF);
    stq_le_p(d, buf);
    stq_le_p(d + 8, 0);
    g->rx_next = (g->rx_next + 1) % RX_RING;
    g->rx_taken++;
    return bench_gpa(&g->b, buf, *len);
}

static void igb_rx_done(Igb *g)
{
    if (g->rx_taken) {
        reg_w(g, E1000_RDT(0), (g->rx_next + RX_RING - 1) % RX_RING);
        g->rx_taken = 0;
    }
}

/* A whole frame of ours, no offload, sent before this returns */
static void igb_send(Igb *g, const uint8_t *f, uint32_t len)
{
    g_assert(len <= 128);
    memcpy(bench_gpa(&g->b, g->ctl, len), f, len);
    desc(g, (uint32_t)g->ctl, g->ctl >> 32, E1000_ADVTXD_DTYP_DATA |
         E1000_ADVTXD_DCMD_DEXT | E1000_ADVTXD_DCMD_IFCS |
         E1000_ADVTXD_DCMD_EOP | E1000_ADVTXD_DCMD_RS | len,
         len << E1000_ADVTXD_PAYLEN_SHIFT);
    reg_w(g, E1000_TDT(0), g->tail);
    g->head = g->tail;
}

/* Wait for a frame that @want accepts (real time, the clock moving) */
static bool igb_expect(Igb *g, bool (*want)(const uint8_t *f, uint32_t len,
                                            void *opaque), void *opaque)
{
    int64_t deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        const uint8_t *f;
        uint32_t len;

        while ((f = igb_rx(g, &len))) {
            if (want(f, len, opaque)) {
                igb_rx_done(g);
                return true;
            }
        }
        igb_rx_done(g);
        bench_clock(&g->b);
        g_usleep(100);
    }
    return false;
}

static bool arp_reply(const uint8_t *f, uint32_t len, void *opaque)
{
    IgbConn *c = opaque;

    if (len < 42 || lduw_be_p(f + 12) != 0x0806 || lduw_be_p(f + 20) != 2 ||
        ldl_be_p(f + 28) != c->dip) {
        return false;
    }
    memcpy(c->dst_mac, f + 22, 6);
    return true;
}

static bool syn_ack(const uint8_t *f, uint32_t len, void *opaque)
{
    IgbConn *c = opaque;
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
    for (uint32_t k = 20; k + 2 < doff && th[k]; k += th[k] < 2 ? 1 :
                                                       th[k + 1]) {
        if (th[k] == 3) {
            c->wscale = th[k + 2];
        }
    }
    return true;
}

/* The peer's ACKs: how far it got, and its window */
static void igb_take_acks(Igb *g, IgbConn *conn, uint32_t n)
{
    const uint8_t *f;
    uint32_t len;

    while ((f = igb_rx(g, &len))) {
        const uint8_t *th = f + 34;
        uint32_t i = lduw_be_p(th + 2) - conn[0].sport, acked;

        if (len < 54 || lduw_be_p(f + 12) != 0x0800 || f[23] != 6 ||
            i >= n || !(th[13] & 0x10)) {
            continue;
        }
        acked = ldl_be_p(th + 8) - conn[i].seq0;
        if ((int32_t)(acked - (uint32_t)conn[i].una) > 0) {
            conn[i].una += acked - (uint32_t)conn[i].una;
            conn[i].una_at = g_get_monotonic_time();
        }
        conn[i].wnd = (uint64_t)lduw_be_p(th + 14) << conn[i].wscale;
    }
    igb_rx_done(g);
}

static size_t tcp_frame(uint8_t *f, const IgbConn *c, uint32_t seq,
                        uint8_t flags, const uint8_t *opt, size_t optlen)
{
    static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    QChimneyTcpAddr a = {
        .src_mac = mac, .dst_mac = c->dst_mac,
        .src_ip = cpu_to_be32(c->sip), .dst_ip = cpu_to_be32(c->dip),
        .src_port = c->sport, .dst_port = c->dport,
    };

    return qchimney_tcp_frame(f, &a, seq, c->ack, flags, 512, opt, optlen);
}

/* ARP for the kernel's tap, then a handshake per connection, through igb */
static bool igb_connect(Igb *g, IgbConn *conn, uint32_t n, char *why,
                        size_t wlen)
{
    static const uint8_t syn_opt[8] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7 };
    uint8_t f[128] = { 0 };

    memset(f, 0xff, 6);
    memcpy(f + 6, "\x52\x54\x00\x12\x34\x56", 6);
    stw_be_p(f + 12, 0x0806);
    stw_be_p(f + 14, 1);
    stw_be_p(f + 16, 0x0800);
    f[18] = 6;
    f[19] = 4;
    stw_be_p(f + 20, 1);
    memcpy(f + 22, f + 6, 6);
    stl_be_p(f + 28, conn[0].sip);
    stl_be_p(f + 38, conn[0].dip);
    igb_send(g, f, 60);
    if (!igb_expect(g, arp_reply, &conn[0])) {
        snprintf(why, wlen, "no ARP reply through igb");
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        memcpy(conn[i].dst_mac, conn[0].dst_mac, 6);
        conn[i].ack = 0;
        igb_send(g, f, tcp_frame(f, &conn[i], conn[i].seq0 - 1, 0x02,
                                 syn_opt, 8));
        if (!igb_expect(g, syn_ack, &conn[i])) {
            snprintf(why, wlen, "no SYN-ACK through igb");
            return false;
        }
        igb_send(g, f, tcp_frame(f, &conn[i], conn[i].seq0, 0x10, NULL, 0));
    }
    return true;
}

/* The headers of a TSO send of @c at stream offset @off */
static void igb_headers(uint8_t *h, const IgbConn *c, uint64_t off)
{
    memcpy(h, c->dst_mac, 6);
    memcpy(h + 6, "\x52\x54\x00\x12\x34\x56", 6);
    stw_be_p(h + 12, 0x0800);
    memset(h + 14, 0, 40);
    h[14] = 0x45;
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

/* One 32-KiB TSO send of @c at stream offset @off */
static void igb_post(Igb *g, const IgbConn *c, uint64_t off, uint64_t data)
{
    uint64_t hdr = g->hdrs + g->tail * 64;
    uint32_t dtyp = E1000_ADVTXD_DTYP_DATA | E1000_ADVTXD_DCMD_DEXT |
                    E1000_ADVTXD_DCMD_IFCS | E1000_ADVTXD_DCMD_TSE;
    uint32_t olinfo = UNIT << E1000_ADVTXD_PAYLEN_SHIFT |
                      E1000_ADVTXD_POTS_TXSM | E1000_ADVTXD_POTS_IXSM;

    /* the context: 14 + 20 bytes of headers before TCP, MSS, TCP */
    desc(g, 14 << E1000_ADVTXD_MACLEN_SHIFT | 20, 0,
         E1000_ADVTXD_DCMD_DEXT | E1000_ADVTXD_DTYP_CTXT |
         E1000_ADVTXD_TUCMD_IPV4 | E1000_ADVTXD_TUCMD_L4T_TCP,
         BENCH_MSS << E1000_ADVTXD_MSS_SHIFT | 20 << E1000_ADVTXD_L4LEN_SHIFT);
    igb_headers(bench_gpa(&g->b, hdr, HDR_LEN), c, off);
    desc(g, (uint32_t)hdr, hdr >> 32, dtyp | HDR_LEN, olinfo);
    desc(g, (uint32_t)data, data >> 32, dtyp | UNIT | E1000_ADVTXD_DCMD_EOP |
         E1000_ADVTXD_DCMD_RS, olinfo);
}

/* Sends igb finished (DD on their last descriptor), their latency */
static uint32_t igb_reap(Igb *g, const int64_t *at, BenchLat *lat)
{
    int64_t now = g_get_monotonic_time();
    uint32_t n = 0;

    while (g->head != g->tail) {
        uint32_t *st = bench_gpa(&g->b, g->ring +
                                 ((g->head + PER_REQ - 1) % RING) * 16 + 12,
                                 4);

        if (!(le32_to_cpu(qatomic_load_acquire(st)) & E1000_TXD_STAT_DD)) {
            break;
        }
        bench_lat_add(lat, now - at[g->head]);
        g->head = (g->head + PER_REQ) % RING;
        n++;
    }
    return n;
}

void bench_igb(uint64_t bytes, uint32_t nconns, const char *backend,
               BenchFigures *fig)
{
    const uint32_t depth = 16;
    const bool tap = strcmp(backend, "socket") != 0;
    const uint64_t want = bytes / BENCH_CHUNK / nconns * BENCH_CHUNK * nconns;
    uint64_t per = want / nconns / UNIT, period, data, done = 0;
    /*
     * In flight per connection: at most what the backend's queue holds
     * (QEMU's 10000 frames to a socket; a tap's 1000-frame backlog in the
     * kernel when igb segments, far more 32-KiB frames when it does not):
     * igb's sender here does not retransmit.
     */
    uint64_t window = MIN(1024 * 1024, (!strcmp(backend, "tap") ? 1 : 8) *
                                       1024 * 1024 / nconns);
    g_autofree uint64_t *posted = g_new0(uint64_t, nconns);
    g_autofree IgbConn *conn = g_new0(IgbConn, nconns);
    g_autofree int64_t *at = g_new0(int64_t, RING);
    g_autofree char *args = NULL;
    BenchPeer *p = NULL;
    BenchSink *s = NULL;
    BenchLat lat = { 0 };
    Igb g = { 0 };
    int sv[2];
    int64_t t0, progress_at;
    double cpu0;
    uint64_t irq0, doorbells = 0, last = 0, got = 0, rexmit = 0;
    uint32_t next = 0;

    memset(fig, 0, sizeof(*fig));
    if (tap) {
        s = bench_sink_start(nconns, !strcmp(backend, "tap-vnet"), fig->why,
                             sizeof(fig->why));
        if (!s) {
            return;
        }
        args = g_strdup_printf("-netdev tap,fd=%d,id=n0 "
                               "-device igb,netdev=n0,id=nic0,mac="
                               QCHIMNEY_MAC, bench_sink_tap_fd(s));
    } else {
        g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
        args = g_strdup_printf("-netdev socket,fd=%d,id=n0 "
                               "-device igb,netdev=n0,id=nic0,mac="
                               QCHIMNEY_MAC, sv[1]);
    }
    bench_qemu(&g.b, 256, "e1000e_irq_msix_notify*", args);
    igb_start(&g);
    period = depth * BENCH_CHUNK;
    bench_pattern_init(period);
    data = bench_alloc(&g.b, BENCH_CLASSES * period, 4096);
    for (int c = 0; c < BENCH_CLASSES; c++) {
        memcpy(bench_gpa(&g.b, data + c * period, period), bench_pattern(c),
               period);
    }
    for (uint32_t i = 0; i < nconns; i++) {
        conn[i] = (IgbConn) {
            .sip = tap ? 0x0a090001 : 0x0a000001,
            .dip = tap ? 0x0a090002 : 0x0a000002,
            .sport = tap ? 40000 + i : BENCH_LOCAL_PORT + i % 50000,
            .dport = BENCH_PEER_PORT + (tap ? 0 : i / 50000),
            .seq0 = bench_iss(i) + 1, .ack = i + 1, .wnd = window,
        };
        memcpy(conn[i].dst_mac, QCHIMNEY_PEER_MAC, 6);
    }
    if (tap) {
        if (!igb_connect(&g, conn, nconns, fig->why, sizeof(fig->why))) {
            goto out;
        }
    } else {
        close(sv[1]);
        g.b.f.sock = sv[0];
        /* silent: a window of 0 sends no ACKs */
        p = bench_peer_new(sv[0], nconns, 0, 0,
                           (const uint8_t *)"\x52\x54\x00\x12\x34\x56",
                           cpu_to_be32(0x0a000001),
                           cpu_to_be32(0x0a000002));
        /* igb sends inside the tail write: the peer reads meanwhile */
        bench_peer_start(p);
    }
    t0 = progress_at = g_get_monotonic_time();
    for (uint32_t i = 0; i < nconns; i++) {
        conn[i].una_at = t0;
    }
    cpu0 = bench_qemu_cpu(&g.b);
    irq0 = bench_irqs(&g.b);
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
            igb_take_acks(&g, conn, nconns);
            for (uint32_t i = 0; i < nconns; i++) {
                if (posted[i] * UNIT > conn[i].una &&
                    now - conn[i].una_at > 200 * 1000) {
                    /* go back to what the kernel acknowledged */
                    rexmit += posted[i] - conn[i].una / UNIT;
                    posted[i] = conn[i].una / UNIT;
                    conn[i].una_at = now;
                }
            }
        }
        done += igb_reap(&g, at, &lat);
        /* round robin over the connections with room */
        for (uint32_t k = 0; k < nconns; k++, next = (next + 1) % nconns) {
            uint64_t off = posted[next] * UNIT;
            uint64_t una = tap ? conn[next].una : bench_peer_got(p, next);

            if (posted[next] >= per ||
                (g.tail + PER_REQ) % RING == g.head) {
                continue;
            }
            if (off + UNIT > una + MIN(window, conn[next].wnd)) {
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
                off -= UNIT;
                conn[next].una_at = now;
                rexmit++;
            } else {
                posted[next]++;
            }
            at[g.tail] = now;
            igb_post(&g, &conn[next], off, data + (next % BENCH_CLASSES) *
                     period + off % period);
            moved++;
        }
        if (moved) {
            /* the descriptors before the tail that publishes them */
            smp_wmb();
            reg_w(&g, E1000_TDT(0), g.tail);
            doorbells++;
        } else {
            g_usleep(20);
        }
        bench_clock(&g.b);
        got = p ? bench_peer_bytes(p) : bench_sink_bytes(s);
        if (got != last) {
            last = got;
            progress_at = now;
        } else if (now - progress_at > 20 * G_USEC_PER_SEC) {
            snprintf(fig->why, sizeof(fig->why), "no progress for 20 s (%"
                     PRIu64 " bytes verified; first connection: %" PRIu64
                     " posted, %" PRIu64 " acknowledged, window %" PRIu64
                     ")", got, posted[0] * UNIT, conn[0].una, conn[0].wnd);
            break;
        }
    }
    /* what igb finished may still be on its way to the peer */
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
    fig->cpu = bench_qemu_cpu(&g.b) - cpu0;
    fig->irqs = bench_irqs(&g.b) - irq0;
    fig->reqs = done / 2;      /* in 64-KiB requests, as chimney's */
    fig->rexmit = rexmit * DIV_ROUND_UP(UNIT, BENCH_MSS);
    fig->doorbells = doorbells;
    fig->bytes = p ? bench_peer_bytes(p) : bench_sink_bytes(s);
    /* frames on the wire: the peer's count, or what TSO cut */
    fig->segs = p ? bench_peer_segs(p) : done * DIV_ROUND_UP(UNIT, BENCH_MSS);
    bench_lat_done(&lat, fig);
    if (s && bench_sink_error(s) && !fig->why[0]) {
        snprintf(fig->why, sizeof(fig->why), "%s", bench_sink_error(s));
    }
    fig->ok = !fig->why[0] && fig->bytes == want;
    if (!fig->why[0] && !fig->ok) {
        snprintf(fig->why, sizeof(fig->why), "%" PRIu64 " of %" PRIu64
                 " bytes verified", fig->bytes, want);
    }
out:
    if (p) {
        bench_peer_free(p);
    }
    g_free(g.dev);
    bench_quit(&g.b);
    if (s) {
        bench_sink_stop(s);
    }
}
