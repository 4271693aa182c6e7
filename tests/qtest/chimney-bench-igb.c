/*
 * chimney-bench: the anchor, QEMU's igb sending the same bytes with TSO
 *
 * The guest's TCP stack is this program (chimney-bench-sender.c): it
 * sends the 64-KiB requests as TSO sends of 32 KiB, each a context
 * descriptor (MSS, TCP over IPv4), the headers and the data with TSE,
 * and moves the tail once per batch.  igb segments and checksums in
 * software, as chimney-nic does, into the same backend (or, on a tap
 * with a vnet header, hands it 32-KiB TSO frames).
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
#define UNIT        BENCH_UNIT
#define HDR_LEN     BENCH_HDR_LEN

typedef struct Igb {
    Bench b;
    QPCIDevice *dev;
    QPCIBar bar;
    uint64_t ring, hdrs, ctl;
    uint32_t tail, head;        /* descriptors: ours, and reaped */
    uint64_t rx_ring, rx_bufs;
    uint32_t rx_next, rx_taken;
    int64_t *at;                /* when each send was posted */
} Igb;

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

/* The receive descriptor before @i: RDT once the driver took up to @i */
static uint32_t igb_rx_before(uint32_t i)
{
    return (i + RX_RING - 1) % RX_RING;
}

/* Receive descriptor @i armed with its buffer, its status cleared */
static void igb_rx_arm(Igb *g, uint32_t i)
{
    uint8_t *d = bench_gpa(&g->b, g->rx_ring + i * 16, 16);

    stq_le_p(d, g->rx_bufs + i * RX_BUF);
    stq_le_p(d + 8, 0);
}

/* igb up as libqos brings it up, its queues 0 on our rings */
static void igb_start(Igb *g)
{
    const uint8_t *mac = bench_nic_mac;

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
        igb_rx_arm(g, i);
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

static uint32_t igb_rx_status(Igb *g, uint32_t i)
{
    uint32_t *st = bench_gpa(&g->b, g->rx_ring + i * 16 + 8, 4);

    return le32_to_cpu(qatomic_load_acquire(st));
}

/* The next frame igb received, or NULL; igb_rx_done gives buffers back */
static const uint8_t *igb_rx(Igb *g, uint32_t *len)
{
    uint32_t i = g->rx_next;

    if (!(igb_rx_status(g, i) & E1000_RXD_STAT_DD)) {
        return NULL;
    }
    *len = MIN(lduw_le_p(bench_gpa(&g->b, g->rx_ring + i * 16 + 12, 2)),
               RX_BUF);
    igb_rx_arm(g, i);
    g->rx_next = (i + 1) % RX_RING;
    g->rx_taken++;
    return bench_gpa(&g->b, g->rx_bufs + i * RX_BUF, *len);
}

static void igb_rx_done(Igb *g)
{
    if (g->rx_taken) {
        reg_w(g, E1000_RDT(0), igb_rx_before(g->rx_next));
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

/* One 32-KiB TSO send of @c at stream offset @off */
static void igb_post(Igb *g, const BenchConn *c, uint64_t off, uint64_t data)
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
    bench_conn_headers(bench_gpa(&g->b, hdr, HDR_LEN), c, off, UNIT);
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

/* --- igb under the sender --- */

static void ops_send(void *nic, const uint8_t *f, uint32_t len)
{
    igb_send(nic, f, len);
}

static const uint8_t *ops_rx(void *nic, uint32_t *len)
{
    return igb_rx(nic, len);
}

static void ops_rx_done(void *nic)
{
    igb_rx_done(nic);
}

static bool ops_room(void *nic)
{
    Igb *g = nic;

    return (g->tail + PER_REQ) % RING != g->head;
}

static void ops_post(void *nic, const BenchConn *c, uint64_t off,
                     uint64_t data, int64_t now)
{
    Igb *g = nic;

    g->at[g->tail] = now;
    igb_post(g, c, off, data);
}

static bool ops_kick(void *nic)
{
    Igb *g = nic;

    /* the descriptors before the tail that publishes them */
    smp_wmb();
    reg_w(g, E1000_TDT(0), g->tail);
    return true;
}

static bool ops_reap(void *nic, BenchLat *lat, uint64_t *sends, char *why,
                     size_t len)
{
    Igb *g = nic;

    *sends += igb_reap(g, g->at, lat);
    return true;
}

static void ops_describe(void *nic, char *buf, size_t len)
{
    Igb *g = nic;
    uint32_t rdh = qpci_io_readl(g->dev, g->bar, E1000_RDH(0));
    uint32_t prev = igb_rx_before(g->rx_next);

    /* the status words say which side lost count of the ring */
    snprintf(buf, len, "RDH %u RDT %u, next %u, status at RDH %x, next-1 "
             "%x, next %x, MPC %u", rdh,
             qpci_io_readl(g->dev, g->bar, E1000_RDT(0)), g->rx_next,
             igb_rx_status(g, rdh % RX_RING), igb_rx_status(g, prev),
             igb_rx_status(g, g->rx_next),
             qpci_io_readl(g->dev, g->bar, E1000_MPC));
}

/*
 * igb's receive ring, rarely here, stops with RDH = RDT one descriptor
 * behind the one this driver waits on: igb has none to fill, this driver
 * none to take, and the run stops (its cause, in igb's model or here, is
 * not found).  A driver's watchdog resets its ring then, and so does this
 * one: every descriptor armed again, waiting where igb writes next.
 */
static bool ops_rx_recover(void *nic)
{
    Igb *g = nic;
    uint32_t rdh = qpci_io_readl(g->dev, g->bar, E1000_RDH(0));
    uint32_t rdt = qpci_io_readl(g->dev, g->bar, E1000_RDT(0));

    if (rdh != rdt || rdh >= RX_RING ||
        rdt != igb_rx_before(g->rx_next) ||
        (igb_rx_status(g, g->rx_next) & E1000_RXD_STAT_DD)) {
        return false;
    }
    for (uint32_t i = 0; i < RX_RING; i++) {
        igb_rx_arm(g, i);
    }
    g->rx_next = rdh;
    g->rx_taken = 0;
    reg_w(g, E1000_RDT(0), igb_rx_before(rdh));
    return true;
}

static const BenchNicOps igb_ops = {
    .name = "igb",
    .send = ops_send, .rx = ops_rx, .rx_done = ops_rx_done,
    .room = ops_room, .post = ops_post, .kick = ops_kick, .reap = ops_reap,
    .describe = ops_describe, .rx_recover = ops_rx_recover,
};

void bench_igb(uint64_t bytes, uint32_t nconns, const char *backend,
               BenchFigures *fig)
{
    g_autofree char *args = NULL;
    BenchAnchor a;
    Igb g = { 0 };

    if (!bench_anchor_open(&a, backend, nconns, fig)) {
        return;
    }
    args = g_strdup_printf("%s -device igb,netdev=n0,id=nic0,mac="
                           QCHIMNEY_MAC, a.netdev);
    bench_qemu(&g.b, 256, "e1000e_irq_msix_notify*", args);
    igb_start(&g);
    g.at = g_new0(int64_t, RING);
    bench_anchor_run(&a, &g.b, &igb_ops, &g, bytes, fig);
    g_free(g.at);
    g_free(g.dev);
    bench_quit(&g.b);
    bench_anchor_close(&a);
}
