/*
 * chimney-bench: the second anchor, QEMU's virtio-net sending the same bytes
 *
 * As for igb (chimney-bench-igb.c), the guest's TCP stack is this program
 * and the bytes are sent in 32-KiB sends.  virtio-net (modern virtio-pci,
 * split virtqueues in the shared guest RAM, written here directly) offers
 * checksum offload and TSO only when its backend takes a vnet header: on
 * a tap with one, each send is one virtio_net_hdr (GSO_TCPV4, gso_size
 * 1460, NEEDS_CSUM), the headers and the 32 KiB, and the tap's kernel
 * segments them.  On a socket netdev or a tap without the header, nothing
 * is offered and this program segments and checksums, as a guest's TCP
 * then does: 23 frames of at most 1460 bytes a send, each one chain.
 * Either way a chain is one ring slot with an indirect table of two
 * entries (the header buffer and the payload), the avail index moves
 * once per batch and the device is kicked only when its avail event asks
 * for it (VIRTIO_RING_F_EVENT_IDX).  Interrupts are asked for as Linux's
 * virtio-net does: on the transmit queue when 3/4 of what is outstanding
 * has been used, on the receive queue at the next frame.
 *
 * Flow control is igb's: the minimal peer's verified bytes on a socket,
 * the kernel's ACKs (through the receive queue) on a tap, go-back-N after
 * 200 ms without an ACK and a probe of a shut window.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/atomic.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_net.h"
#include "standard-headers/linux/virtio_ring.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "chimney-bench.h"

#define UNIT        (BENCH_CHUNK / 2)   /* bytes per send, as igb's */
#define HDR_LEN     54                  /* Ethernet, IPv4, TCP */
#define VNET_LEN    12                  /* virtio_net_hdr_v1 */
#define SLOT_HDR    128                 /* header buffer per slot */
#define RX_BUF      2048
#define DEVFN       (4 << 3)
#define FRAMES      DIV_ROUND_UP(UNIT, BENCH_MSS)

typedef struct Vio {
    Bench b;
    QVirtioPCIDevice *dev;
    QVirtQueue *rxq, *txq;
    uint64_t tbl, hdrs;         /* per transmit slot: table, headers */
    uint64_t rx_bufs;
    uint16_t tx_avail, tx_used; /* transmit: published, reaped */
    uint16_t tx_kicked;         /* the avail index of the last kick */
    uint16_t rx_avail, rx_used, rx_kicked;
    bool tso;
} Vio;

/* One connection's addressing and sequence numbers, as igb's */
typedef struct VioConn {
    uint8_t dst_mac[6];
    uint32_t sip, dip;          /* host order */
    uint16_t sport, dport;
    uint32_t seq0, ack;         /* first data byte's sequence, our ACK */
    uint8_t wscale;             /* the peer's */
    uint64_t una, wnd;          /* stream offset acknowledged, window */
    int64_t una_at;             /* when una last moved */
} VioConn;

static const uint8_t vio_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* --- the rings --- */

static uint16_t *ring16(Vio *v, uint64_t addr)
{
    return bench_gpa(&v->b, addr, 2);
}

static uint16_t ld16(Vio *v, uint64_t addr)
{
    return le16_to_cpu(qatomic_load_acquire(ring16(v, addr)));
}

static void st16(Vio *v, uint64_t addr, uint16_t val)
{
    qatomic_store_release(ring16(v, addr), cpu_to_le16(val));
}

static void vring_desc(Vio *v, uint64_t table, uint32_t i, uint64_t addr,
                       uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *d = bench_gpa(&v->b, table + i * 16, 16);

    stq_le_p(d, addr);
    stl_le_p(d + 8, len);
    stw_le_p(d + 12, flags);
    stw_le_p(d + 14, next);
}

/* Publish @q's avail index @idx; kick when the device's event asks */
static bool vq_publish(Vio *v, QVirtQueue *q, uint16_t idx, uint16_t *kicked)
{
    uint16_t event;

    st16(v, q->avail + 2, idx);
    /* the index before the device's avail event is read */
    smp_mb();
    event = ld16(v, q->used + 4 + 8 * q->size);
    if ((uint16_t)(idx - event - 1) < (uint16_t)(idx - *kicked)) {
        *kicked = idx;
        v->dev->vdev.bus->virtqueue_kick(&v->dev->vdev, q);
        return true;
    }
    return false;
}

/* virtio-net up with our features, its queues on our rings */
static bool vio_start(Vio *v, char *why, size_t wlen)
{
    const uint64_t need = 1ull << VIRTIO_F_VERSION_1 |
                          1ull << VIRTIO_RING_F_EVENT_IDX |
                          1ull << VIRTIO_RING_F_INDIRECT_DESC;
    const uint64_t tso = 1ull << VIRTIO_NET_F_CSUM |
                         1ull << VIRTIO_NET_F_HOST_TSO4;
    QPCIAddress addr = { .devfn = DEVFN };
    QVirtioDevice *vd;
    uint64_t offered;

    v->dev = virtio_pci_new(v->b.f.bus, &addr);
    g_assert(v->dev);
    vd = &v->dev->vdev;
    qvirtio_pci_device_enable(v->dev);
    qvirtio_start_device(vd);
    offered = qvirtio_get_features(vd);
    if ((offered & need) != need) {
        snprintf(why, wlen, "virtio-net offered features 0x%" PRIx64
                 ", not VERSION_1, EVENT_IDX and INDIRECT_DESC", offered);
        return false;
    }
    v->tso = (offered & tso) == tso;
    qvirtio_set_features(vd, need | (v->tso ? tso : 0));
    qpci_msix_enable(v->dev->pdev);
    qvirtio_pci_set_msix_configuration_vector(v->dev, &v->b.f.alloc, 0);
    v->rxq = qvirtqueue_setup(vd, &v->b.f.alloc, 0);
    v->txq = qvirtqueue_setup(vd, &v->b.f.alloc, 1);
    qvirtqueue_pci_msix_setup(v->dev, container_of(v->rxq, QVirtQueuePCI, vq),
                              &v->b.f.alloc, 1);
    qvirtqueue_pci_msix_setup(v->dev, container_of(v->txq, QVirtQueuePCI, vq),
                              &v->b.f.alloc, 2);
    qvirtio_set_driver_ok(vd);

    v->tbl = bench_alloc(&v->b, v->txq->size * 32, 4096);
    v->hdrs = bench_alloc(&v->b, v->txq->size * SLOT_HDR, 4096);
    /* receive: one 2-KiB buffer a frame, all of them posted */
    v->rx_bufs = bench_alloc(&v->b, v->rxq->size * RX_BUF, 4096);
    for (uint32_t i = 0; i < v->rxq->size; i++) {
        vring_desc(v, v->rxq->desc, i, v->rx_bufs + i * RX_BUF, RX_BUF,
                   VRING_DESC_F_WRITE, 0);
        st16(v, v->rxq->avail + 4 + 2 * i, i);
    }
    v->rx_avail = v->rxq->size;
    /* the buffers before the index that publishes them */
    smp_wmb();
    st16(v, v->rxq->avail + 2, v->rx_avail);
    vd->bus->virtqueue_kick(vd, v->rxq);
    v->rx_kicked = v->rx_avail;
    return true;
}

/* The next frame virtio-net received, or NULL; vio_rx_done reposts */
static const uint8_t *vio_rx(Vio *v, uint32_t *len)
{
    uint64_t e = v->rxq->used + 4 + 8 * (v->rx_used % v->rxq->size);
    uint32_t id, n;

    if (ld16(v, v->rxq->used + 2) == v->rx_used) {
        return NULL;
    }
    id = ldl_le_p(bench_gpa(&v->b, e, 4)) % v->rxq->size;
    n = ldl_le_p(bench_gpa(&v->b, e + 4, 4));
    v->rx_used++;
    /* the buffer back, published with the others by vio_rx_done */
    st16(v, v->rxq->avail + 4 + 2 * (v->rx_avail % v->rxq->size), id);
    v->rx_avail++;
    *len = MIN(MAX(n, VNET_LEN), RX_BUF) - VNET_LEN;
    return bench_gpa(&v->b, v->rx_bufs + id * RX_BUF + VNET_LEN, *len);
}

static void vio_rx_done(Vio *v)
{
    /* an interrupt at the next frame, as after a NAPI poll */
    st16(v, v->rxq->avail + 4 + 2 * v->rxq->size, v->rx_used);
    if (v->rx_avail != v->rx_kicked) {
        vq_publish(v, v->rxq, v->rx_avail, &v->rx_kicked);
    }
}

/* Room in the transmit ring, in slots */
static uint32_t vio_tx_room(Vio *v)
{
    return v->txq->size - (uint16_t)(v->tx_avail - v->tx_used);
}

/* A chain of the vnet header and headers at @hdr and @len bytes at @data */
static void vio_tx_add(Vio *v, uint64_t hdr, uint32_t hdr_len, uint64_t data,
                       uint32_t len)
{
    uint32_t slot = v->tx_avail % v->txq->size;
    uint64_t table = v->tbl + slot * 32;

    vring_desc(v, table, 0, hdr, hdr_len, len ? VRING_DESC_F_NEXT : 0, 1);
    if (len) {
        vring_desc(v, table, 1, data, len, 0, 0);
    }
    vring_desc(v, v->txq->desc, slot, table, len ? 32 : 16,
               VRING_DESC_F_INDIRECT, 0);
    st16(v, v->txq->avail + 4 + 2 * slot, slot);
    v->tx_avail++;
}

/* Publish what vio_tx_add added; true when that kicked the device */
static bool vio_tx_kick(Vio *v)
{
    /* the descriptors before the index that publishes them */
    smp_wmb();
    return vq_publish(v, v->txq, v->tx_avail, &v->tx_kicked);
}

/* --- checksums --- */

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

/* --- TCP, as igb's sender --- */

static bool arp_reply(const uint8_t *f, uint32_t len, VioConn *c)
{
    if (len < 42 || lduw_be_p(f + 12) != 0x0806 || lduw_be_p(f + 20) != 2 ||
        ldl_be_p(f + 28) != c->dip) {
        return false;
    }
    memcpy(c->dst_mac, f + 22, 6);
    return true;
}

static bool syn_ack(const uint8_t *f, uint32_t len, VioConn *c)
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
    for (uint32_t k = 20; k + 2 < doff && k + 2 < len - 34 && th[k];
         k += th[k] < 2 ? 1 : th[k + 1]) {
        if (th[k] == 3) {
            c->wscale = th[k + 2];
        }
    }
    return true;
}

/* A whole frame of ours, no offload; its slot reaped before this returns */
static void vio_send(Vio *v, const uint8_t *f, uint32_t len)
{
    uint64_t hdr = v->hdrs + (v->tx_avail % v->txq->size) * SLOT_HDR;
    int64_t deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    g_assert(len + VNET_LEN <= SLOT_HDR);
    memset(bench_gpa(&v->b, hdr, VNET_LEN), 0, VNET_LEN);
    memcpy(bench_gpa(&v->b, hdr + VNET_LEN, len), f, len);
    vio_tx_add(v, hdr, VNET_LEN + len, 0, 0);
    vio_tx_kick(v);
    while (ld16(v, v->txq->used + 2) != v->tx_avail &&
           g_get_monotonic_time() < deadline) {
        g_usleep(100);
    }
    v->tx_used = ld16(v, v->txq->used + 2);
}

/* Wait for a frame that @want accepts (real time, the clock moving) */
static bool vio_expect(Vio *v, bool (*want)(const uint8_t *f, uint32_t len,
                                            VioConn *c), VioConn *c)
{
    int64_t deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        const uint8_t *f;
        uint32_t len;

        while ((f = vio_rx(v, &len))) {
            if (want(f, len, c)) {
                vio_rx_done(v);
                return true;
            }
        }
        vio_rx_done(v);
        bench_clock(&v->b);
        g_usleep(100);
    }
    return false;
}

/* The peer's ACKs: how far it got, and its window */
static void vio_take_acks(Vio *v, VioConn *conn, uint32_t n)
{
    const uint8_t *f;
    uint32_t len;

    while ((f = vio_rx(v, &len))) {
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
    vio_rx_done(v);
}

static size_t tcp_frame(uint8_t *f, const VioConn *c, uint32_t seq,
                        uint8_t flags, const uint8_t *opt, size_t optlen)
{
    QChimneyTcpAddr a = {
        .src_mac = vio_mac, .dst_mac = c->dst_mac,
        .src_ip = cpu_to_be32(c->sip), .dst_ip = cpu_to_be32(c->dip),
        .src_port = c->sport, .dst_port = c->dport,
    };

    return qchimney_tcp_frame(f, &a, seq, c->ack, flags, 512, opt, optlen);
}

/* ARP for the kernel's tap, then a handshake per connection */
static bool vio_connect(Vio *v, VioConn *conn, uint32_t n, char *why,
                        size_t wlen)
{
    static const uint8_t syn_opt[8] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7 };
    uint8_t f[128] = { 0 };

    memset(f, 0xff, 6);
    memcpy(f + 6, vio_mac, 6);
    stw_be_p(f + 12, 0x0806);
    stw_be_p(f + 14, 1);
    stw_be_p(f + 16, 0x0800);
    f[18] = 6;
    f[19] = 4;
    stw_be_p(f + 20, 1);
    memcpy(f + 22, vio_mac, 6);
    stl_be_p(f + 28, conn[0].sip);
    stl_be_p(f + 38, conn[0].dip);
    vio_send(v, f, 60);
    if (!vio_expect(v, arp_reply, &conn[0])) {
        snprintf(why, wlen, "no ARP reply through virtio-net");
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        memcpy(conn[i].dst_mac, conn[0].dst_mac, 6);
        conn[i].ack = 0;
        vio_send(v, f, tcp_frame(f, &conn[i], conn[i].seq0 - 1, 0x02,
                                 syn_opt, 8));
        if (!vio_expect(v, syn_ack, &conn[i])) {
            snprintf(why, wlen, "no SYN-ACK through virtio-net");
            return false;
        }
        vio_send(v, f, tcp_frame(f, &conn[i], conn[i].seq0, 0x10, NULL, 0));
    }
    return true;
}

/*
 * The vnet header and the headers of @len bytes of @c at stream offset
 * @off (whose data is at @p): a TSO send when @gso, else one frame
 */
static void vio_headers(uint8_t *h, const VioConn *c, uint64_t off,
                        const uint8_t *p, uint32_t len, bool gso)
{
    uint8_t *ip = h + VNET_LEN + 14, *th = ip + 20;
    uint32_t ph;

    memset(h, 0, VNET_LEN + HDR_LEN);
    if (gso) {
        h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h[1] = VIRTIO_NET_HDR_GSO_TCPV4;
        stw_le_p(h + 2, HDR_LEN);
        stw_le_p(h + 4, BENCH_MSS);
        stw_le_p(h + 6, 34);
        stw_le_p(h + 8, 16);
    }
    memcpy(h + VNET_LEN, c->dst_mac, 6);
    memcpy(h + VNET_LEN + 6, vio_mac, 6);
    stw_be_p(h + VNET_LEN + 12, 0x0800);
    ip[0] = 0x45;
    stw_be_p(ip + 2, 40 + len);
    ip[8] = 64;
    ip[9] = 6;
    stl_be_p(ip + 12, c->sip);
    stl_be_p(ip + 16, c->dip);
    stw_be_p(ip + 10, qchimney_csum(ip, 20, 0));
    stw_be_p(th, c->sport);
    stw_be_p(th + 2, c->dport);
    stl_be_p(th + 4, c->seq0 + (uint32_t)off);
    stl_be_p(th + 8, c->ack);
    th[12] = 5 << 4;
    th[13] = 0x18;                      /* PSH | ACK */
    stw_be_p(th + 14, 512);
    /* the pseudo header; then, without offload, the segment */
    ph = csum_add(6 + 20 + len, ip + 12, 8);
    if (gso) {
        stw_be_p(th + 16, csum_fold(ph));
    } else {
        stw_be_p(th + 16, ~csum_fold(csum_add(csum_add(ph, th, 20), p, len)));
    }
}

/*
 * One 32-KiB send of @c at stream offset @off: one chain with TSO, else
 * the frames it is cut into; @at and @last of their slots
 */
static void vio_post(Vio *v, const VioConn *c, uint64_t off, uint64_t data,
                     int64_t now, int64_t *at, bool *last)
{
    uint32_t n = v->tso ? 1 : FRAMES;

    for (uint32_t k = 0; k < n; k++) {
        uint32_t slot = v->tx_avail % v->txq->size;
        uint32_t len = v->tso ? UNIT : MIN(BENCH_MSS, UNIT - k * BENCH_MSS);
        uint64_t hdr = v->hdrs + slot * SLOT_HDR;
        uint64_t p = data + k * BENCH_MSS;

        vio_headers(bench_gpa(&v->b, hdr, VNET_LEN + HDR_LEN), c,
                    off + k * BENCH_MSS, bench_gpa(&v->b, p, len), len,
                    v->tso);
        at[slot] = now;
        last[slot] = k == n - 1;
        vio_tx_add(v, hdr, VNET_LEN + HDR_LEN, p, len);
    }
}

/*
 * Chains virtio-net used (in order: it completes them so), their sends'
 * latency; false when one came back out of order
 */
static bool vio_reap(Vio *v, const int64_t *at, const bool *last,
                     BenchLat *lat, uint64_t *sends)
{
    int64_t now = g_get_monotonic_time();
    uint16_t used = ld16(v, v->txq->used + 2);
    uint16_t out;

    while (v->tx_used != used) {
        uint32_t slot = v->tx_used % v->txq->size;
        uint32_t id = ldl_le_p(bench_gpa(&v->b, v->txq->used + 4 + 8 * slot,
                                         4));

        if (id != slot) {
            return false;
        }
        if (last[slot]) {
            bench_lat_add(lat, now - at[slot]);
            (*sends)++;
        }
        v->tx_used++;
    }
    /* an interrupt when 3/4 of the rest is used, as Linux asks */
    out = v->tx_avail - v->tx_used;
    st16(v, v->txq->avail + 4 + 2 * v->txq->size,
         v->tx_used + out * 3 / 4);
    return true;
}

void bench_virtio(uint64_t bytes, uint32_t nconns, const char *backend,
                  BenchFigures *fig)
{
    const uint32_t depth = 16;
    const bool tap = strcmp(backend, "socket") != 0;
    const uint64_t want = bytes / BENCH_CHUNK / nconns * BENCH_CHUNK * nconns;
    uint64_t per = want / nconns / UNIT, period, data, done = 0;
    /* in flight per connection: igb's limits, for the same reasons */
    uint64_t window = MIN(1024 * 1024, (!strcmp(backend, "tap") ? 1 : 8) *
                                       1024 * 1024 / nconns);
    g_autofree uint64_t *posted = g_new0(uint64_t, nconns);
    g_autofree VioConn *conn = g_new0(VioConn, nconns);
    g_autofree int64_t *at = NULL;
    g_autofree bool *last = NULL;
    g_autofree char *netdev = NULL, *args = NULL;
    BenchPeer *p = NULL;
    BenchSink *s = NULL;
    BenchLat lat = { 0 };
    Vio v = { 0 };
    int sv[2];
    int64_t t0, progress_at;
    double cpu0;
    uint64_t irq0, doorbells = 0, last_got = 0, got = 0, rexmit = 0;
    uint32_t next = 0, per_send;

    memset(fig, 0, sizeof(*fig));
    if (tap) {
        s = bench_sink_start(nconns, !strcmp(backend, "tap-vnet"), fig->why,
                             sizeof(fig->why));
        if (!s) {
            return;
        }
        netdev = g_strdup_printf("tap,fd=%d", bench_sink_tap_fd(s));
    } else {
        g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
        netdev = g_strdup_printf("socket,fd=%d", sv[1]);
    }
    /* modern only, in slot 4 (DEVFN) */
    args = g_strdup_printf("-netdev %s,id=n0 -device virtio-net-pci,"
                           "netdev=n0,id=nic0,disable-legacy=on,romfile=,"
                           "addr=04.0,mac=" QCHIMNEY_MAC, netdev);
    /* virtio_notify: traced only when it interrupts */
    bench_qemu(&v.b, 256, "virtio_notify", args);
    if (!vio_start(&v, fig->why, sizeof(fig->why))) {
        goto out;
    }
    if (!strcmp(backend, "tap-vnet") && !v.tso) {
        snprintf(fig->why, sizeof(fig->why), "virtio-net offered no TSO on "
                 "a tap with a vnet header");
        goto out;
    }
    per_send = v.tso ? 1 : FRAMES;
    at = g_new0(int64_t, v.txq->size);
    last = g_new0(bool, v.txq->size);
    period = depth * BENCH_CHUNK;
    bench_pattern_init(period);
    data = bench_alloc(&v.b, BENCH_CLASSES * period, 4096);
    for (int c = 0; c < BENCH_CLASSES; c++) {
        memcpy(bench_gpa(&v.b, data + c * period, period), bench_pattern(c),
               period);
    }
    for (uint32_t i = 0; i < nconns; i++) {
        conn[i] = (VioConn) {
            .sip = tap ? 0x0a090001 : 0x0a000001,
            .dip = tap ? 0x0a090002 : 0x0a000002,
            .sport = tap ? 40000 + i : BENCH_LOCAL_PORT + i % 50000,
            .dport = BENCH_PEER_PORT + (tap ? 0 : i / 50000),
            .seq0 = bench_iss(i) + 1, .ack = i + 1, .wnd = window,
        };
        memcpy(conn[i].dst_mac, QCHIMNEY_PEER_MAC, 6);
    }
    if (tap) {
        if (!vio_connect(&v, conn, nconns, fig->why, sizeof(fig->why))) {
            goto out;
        }
    } else {
        close(sv[1]);
        v.b.f.sock = sv[0];
        /* silent: a window of 0 sends no ACKs */
        p = bench_peer_new(sv[0], nconns, 0, 0, vio_mac,
                           cpu_to_be32(0x0a000001),
                           cpu_to_be32(0x0a000002));
        bench_peer_start(p);
    }
    t0 = progress_at = g_get_monotonic_time();
    for (uint32_t i = 0; i < nconns; i++) {
        conn[i].una_at = t0;
    }
    cpu0 = bench_qemu_cpu(&v.b);
    irq0 = bench_irqs(&v.b);
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
            vio_take_acks(&v, conn, nconns);
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
        if (!vio_reap(&v, at, last, &lat, &done)) {
            snprintf(fig->why, sizeof(fig->why), "virtio-net used a chain "
                     "out of order");
            break;
        }
        /* round robin over the connections with room */
        for (uint32_t k = 0; k < nconns; k++, next = (next + 1) % nconns) {
            uint64_t off = posted[next] * UNIT;
            uint64_t una = tap ? conn[next].una : bench_peer_got(p, next);

            if (posted[next] >= per || vio_tx_room(&v) < per_send) {
                continue;
            }
            if (off + UNIT > una + MIN(window, conn[next].wnd)) {
                /* a shut window: probe it as igb's sender does */
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
            vio_post(&v, &conn[next], off, data + (next % BENCH_CLASSES) *
                     period + off % period, now, at, last);
            moved++;
        }
        if (moved) {
            doorbells += vio_tx_kick(&v);
        } else {
            g_usleep(20);
        }
        bench_clock(&v.b);
        got = p ? bench_peer_bytes(p) : bench_sink_bytes(s);
        if (got != last_got) {
            last_got = got;
            progress_at = now;
        } else if (now - progress_at > 20 * G_USEC_PER_SEC) {
            snprintf(fig->why, sizeof(fig->why), "no progress for 20 s (%"
                     PRIu64 " bytes verified; first connection: %" PRIu64
                     " posted, %" PRIu64 " acknowledged, window %" PRIu64
                     ")", got, posted[0] * UNIT, conn[0].una, conn[0].wnd);
            break;
        }
    }
    /* what virtio-net used may still be on its way to the peer */
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
    fig->cpu = bench_qemu_cpu(&v.b) - cpu0;
    fig->irqs = bench_irqs(&v.b) - irq0;
    fig->reqs = done / 2;      /* in 64-KiB requests, as chimney's */
    fig->rexmit = rexmit * FRAMES;
    fig->doorbells = doorbells;
    fig->bytes = p ? bench_peer_bytes(p) : bench_sink_bytes(s);
    fig->segs = p ? bench_peer_segs(p) : done * FRAMES;
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
    if (v.dev) {
        g_free(v.dev->pdev);
        g_free(v.dev);
    }
    g_free(v.rxq ? container_of(v.rxq, QVirtQueuePCI, vq) : NULL);
    g_free(v.txq ? container_of(v.txq, QVirtQueuePCI, vq) : NULL);
    bench_quit(&v.b);
    if (s) {
        bench_sink_stop(s);
    }
}
