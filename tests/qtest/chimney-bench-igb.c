/*
 * chimney-bench: the anchor, QEMU's igb sending the same bytes with TSO
 *
 * The guest's TCP stack is this program: for each 64-KiB request it
 * writes a context descriptor (MSS, TCP over IPv4), then two TSO sends of
 * 32 KiB, headers and data, with TSE (a TSO send is an IP datagram:
 * less than 64 KiB with its headers), then moves the tail.  igb segments
 * and checksums in software, as chimney-nic does, into the same backend;
 * the same minimal peer checks every byte.  The peer does not answer
 * (nothing drives igb's receive side): how much may be in flight comes
 * from what the peer verified, in this process, so nothing is lost.
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

#define RING        4000        /* descriptors: whole requests, 128-B units */
#define PER_REQ     5           /* context, 2 x (headers, 32 KiB) */
#define HDR_LEN     54

typedef struct Igb {
    Bench b;
    QPCIDevice *dev;
    QPCIBar bar;
    uint64_t ring, hdrs;
    uint32_t tail, head;        /* descriptors: ours, and reaped */
} Igb;

static void foreach_cb(QPCIDevice *dev, int devfn, void *data)
{
    *(QPCIDevice **)data = dev;
}

static void reg_w(Igb *g, uint32_t reg, uint32_t val)
{
    qpci_io_writel(g->dev, g->bar, reg, val);
}

/* igb up as libqos brings it up, its TX queue 0 on our ring */
static void igb_start(Igb *g)
{
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
    g->hdrs = bench_alloc(&g->b, RING / PER_REQ * 128, 64);
    reg_w(g, E1000_TDBAL(0), (uint32_t)g->ring);
    reg_w(g, E1000_TDBAH(0), g->ring >> 32);
    reg_w(g, E1000_TDLEN(0), RING * 16);
    reg_w(g, E1000_TDH(0), 0);
    reg_w(g, E1000_TDT(0), 0);
    reg_w(g, E1000_TXDCTL(0), E1000_TXDCTL_QUEUE_ENABLE);
    reg_w(g, E1000_TCTL, E1000_TCTL_EN);
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

/* The headers of a TSO send of connection @i at stream offset @off */
static void igb_headers(uint8_t *h, uint32_t i, uint64_t off)
{
    memcpy(h, QCHIMNEY_PEER_MAC, 6);
    memcpy(h + 6, "\x52\x54\x00\x12\x34\x56", 6);
    stw_be_p(h + 12, 0x0800);
    memset(h + 14, 0, 40);
    h[14] = 0x45;
    h[22] = 64;
    h[23] = 6;
    stl_be_p(h + 26, 0x0a000001);
    stl_be_p(h + 30, 0x0a000002);
    stw_be_p(h + 34, BENCH_LOCAL_PORT + i % 50000);
    stw_be_p(h + 36, BENCH_PEER_PORT + i / 50000);
    stl_be_p(h + 38, bench_iss(i) + 1 + (uint32_t)off);
    stl_be_p(h + 42, i + 1);
    h[46] = 5 << 4;
    h[47] = 0x18;                       /* PSH | ACK */
    stw_be_p(h + 48, 65535);
}

/* One 64-KiB request of connection @i at stream offset @off */
static void igb_post(Igb *g, uint32_t i, uint64_t off, uint64_t data)
{
    uint32_t slot = g->tail / PER_REQ, half = BENCH_CHUNK / 2;
    uint32_t dtyp = E1000_ADVTXD_DTYP_DATA | E1000_ADVTXD_DCMD_DEXT |
                    E1000_ADVTXD_DCMD_IFCS | E1000_ADVTXD_DCMD_TSE;
    uint32_t olinfo = half << E1000_ADVTXD_PAYLEN_SHIFT |
                      E1000_ADVTXD_POTS_TXSM | E1000_ADVTXD_POTS_IXSM;

    /* the context: 14 + 20 bytes of headers before TCP, MSS, TCP */
    desc(g, 14 << E1000_ADVTXD_MACLEN_SHIFT | 20, 0,
         E1000_ADVTXD_DCMD_DEXT | E1000_ADVTXD_DTYP_CTXT |
         E1000_ADVTXD_TUCMD_IPV4 | E1000_ADVTXD_TUCMD_L4T_TCP,
         BENCH_MSS << E1000_ADVTXD_MSS_SHIFT | 20 << E1000_ADVTXD_L4LEN_SHIFT);
    for (int k = 0; k < 2; k++) {
        uint64_t hdr = g->hdrs + slot * 128 + k * 64;

        igb_headers(bench_gpa(&g->b, hdr, HDR_LEN), i, off + k * half);
        desc(g, (uint32_t)hdr, hdr >> 32, dtyp | HDR_LEN, olinfo);
        desc(g, (uint32_t)(data + k * half), (data + k * half) >> 32,
             dtyp | half | E1000_ADVTXD_DCMD_EOP |
             (k ? E1000_ADVTXD_DCMD_RS : 0), olinfo);
    }
}

/* Requests igb finished (DD on their last descriptor) */
static uint32_t igb_reap(Igb *g)
{
    uint32_t n = 0;

    while (g->head != g->tail) {
        uint32_t *st = bench_gpa(&g->b, g->ring +
                                 ((g->head + PER_REQ - 1) % RING) * 16 + 12,
                                 4);

        if (!(le32_to_cpu(qatomic_load_acquire(st)) & E1000_TXD_STAT_DD)) {
            break;
        }
        g->head = (g->head + PER_REQ) % RING;
        n++;
    }
    return n;
}

void bench_igb(uint64_t bytes, uint32_t nconns, const char *backend,
               BenchFigures *fig)
{
    const uint32_t depth = 16;
    uint64_t per = bytes / BENCH_CHUNK / nconns, period, data, done = 0;
    /* in flight per connection: at most what the backend's queue holds */
    uint64_t window = MIN(1024 * 1024, 8 * 1024 * 1024 / nconns);
    g_autofree uint64_t *posted = g_new0(uint64_t, nconns);
    g_autofree char *args = NULL;
    BenchPeer *p;
    BenchLat lat = { 0 };
    g_autofree int64_t *at = g_new0(int64_t, RING / PER_REQ);
    Igb g = { 0 };
    int sv[2];
    int64_t t0, progress_at;
    double cpu0;
    uint64_t irq0, doorbells = 0, last = 0, reqs = 0;
    uint32_t next = 0;

    memset(fig, 0, sizeof(*fig));
    g_assert(!strcmp(backend, "socket"));
    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    args = g_strdup_printf("-netdev socket,fd=%d,id=n0 "
                           "-device igb,netdev=n0,id=nic0,mac=" QCHIMNEY_MAC,
                           sv[1]);
    bench_qemu(&g.b, 1024, "e1000e_irq_msix_notify*", args);
    close(sv[1]);
    g.b.f.sock = sv[0];
    igb_start(&g);
    period = depth * BENCH_CHUNK;
    bench_pattern_init(period);
    data = bench_alloc(&g.b, BENCH_CLASSES * period, 4096);
    for (int c = 0; c < BENCH_CLASSES; c++) {
        memcpy(bench_gpa(&g.b, data + c * period, period), bench_pattern(c),
               period);
    }
    /* silent: a window of 0 sends no ACKs */
    p = bench_peer_new(sv[0], nconns, 0, 0,
                       (const uint8_t *)"\x52\x54\x00\x12\x34\x56",
                       cpu_to_be32(0x0a000001), cpu_to_be32(0x0a000002));
    t0 = progress_at = g_get_monotonic_time();
    cpu0 = bench_qemu_cpu(&g.b);
    irq0 = bench_irqs(&g.b);
    while (done < per * nconns) {
        char why[160];
        uint32_t n, moved = 0;
        int64_t now = g_get_monotonic_time();

        if (!bench_peer_poll(p, 0, why, sizeof(why))) {
            snprintf(fig->why, sizeof(fig->why), "%s", why);
            break;
        }
        n = igb_reap(&g);
        for (uint32_t k = 0; k < n; k++) {
            bench_lat_add(&lat, now - at[(g.head / PER_REQ + RING / PER_REQ -
                                          n + k) % (RING / PER_REQ)]);
        }
        done += n;
        reqs += n;
        /* round robin over the connections with room */
        for (uint32_t k = 0; k < nconns; k++, next = (next + 1) % nconns) {
            uint64_t off = posted[next] * BENCH_CHUNK;

            if (posted[next] >= per ||
                (g.tail + PER_REQ) % RING == g.head ||
                off + BENCH_CHUNK > bench_peer_got(p, next) + window) {
                continue;
            }
            at[g.tail / PER_REQ] = now;
            igb_post(&g, next, off, data + (next % BENCH_CLASSES) * period +
                     (posted[next] % depth) * BENCH_CHUNK);
            posted[next]++;
            moved++;
        }
        if (moved) {
            /* the descriptors before the tail that publishes them */
            smp_wmb();
            reg_w(&g, E1000_TDT(0), g.tail);
            doorbells++;
        }
        bench_clock(&g.b);
        if (bench_peer_bytes(p) != last) {
            last = bench_peer_bytes(p);
            progress_at = now;
        } else if (now - progress_at > 20 * G_USEC_PER_SEC) {
            snprintf(fig->why, sizeof(fig->why), "no progress for 20 s (%"
                     PRIu64 " frames, %" PRIu64 " bytes verified)",
                     bench_peer_segs(p), bench_peer_bytes(p));
            break;
        }
    }
    /* what igb finished may still be on its way to the peer */
    while (!fig->why[0] && bench_peer_bytes(p) < per * nconns * BENCH_CHUNK &&
           g_get_monotonic_time() - progress_at < 5 * G_USEC_PER_SEC) {
        char why[160];

        if (!bench_peer_poll(p, 10, why, sizeof(why))) {
            snprintf(fig->why, sizeof(fig->why), "%s", why);
        }
    }
    fig->secs = (g_get_monotonic_time() - t0) / 1e6;
    fig->cpu = bench_qemu_cpu(&g.b) - cpu0;
    fig->irqs = bench_irqs(&g.b) - irq0;
    fig->reqs = reqs;
    fig->doorbells = doorbells;
    fig->bytes = bench_peer_bytes(p);
    fig->segs = bench_peer_segs(p);
    bench_lat_done(&lat, fig);
    fig->ok = !fig->why[0] && fig->bytes == per * nconns * BENCH_CHUNK;
    if (!fig->why[0] && !fig->ok) {
        snprintf(fig->why, sizeof(fig->why), "%" PRIu64 " of %" PRIu64
                 " bytes verified, %" PRIu64 " frames; igb sent %u", fig->bytes,
                 per * nconns * BENCH_CHUNK, bench_peer_segs(p),
                 qpci_io_readl(g.dev, g.bar, E1000_GPTC));
    }
    bench_peer_free(p);
    g_free(g.dev);
    bench_quit(&g.b);
}
