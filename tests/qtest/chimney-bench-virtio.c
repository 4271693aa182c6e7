/*
 * chimney-bench: the second anchor, QEMU's virtio-net sending the same bytes
 *
 * As for igb (chimney-bench-igb.c), the guest's TCP stack is this
 * program (chimney-bench-sender.c), sending the bytes in 32-KiB sends.
 * virtio-net (modern virtio-pci, its split virtqueues in the shared guest
 * RAM, written here directly) offers checksum offload and TSO only when
 * its backend takes a vnet header: on a tap with one, each send is one
 * virtio_net_hdr (GSO_TCPV4, gso_size 1460, NEEDS_CSUM), the headers and
 * the 32 KiB, and the tap's kernel segments them.  On a socket netdev or
 * a tap without the header nothing is offered, and this program segments
 * and checksums, as a guest's TCP then does: 23 frames of at most 1460
 * bytes a send, each a chain.  Either way a chain is one ring slot with
 * an indirect table of two entries (the header buffer, the payload), the
 * avail index moves once per batch and the device is kicked only when
 * its avail event asks for it (VIRTIO_RING_F_EVENT_IDX).  Interrupts are
 * asked for as Linux's virtio-net does: on the transmit queue when 3/4 of
 * what is outstanding has been used, on the receive queue at the next
 * frame.
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

#define UNIT        BENCH_UNIT
#define HDR_LEN     BENCH_HDR_LEN
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
    int64_t *at;                /* per transmit slot: when posted */
    bool *last;                 /* and whether a send's last frame */
} Vio;

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

/*
 * The vnet header and the headers of @len bytes of @c at stream offset
 * @off (whose data is at @p): a TSO send when @gso, else one frame
 */
static void vio_headers(uint8_t *h, const BenchConn *c, uint64_t off,
                        const uint8_t *p, uint32_t len, bool gso)
{
    memset(h, 0, VNET_LEN);
    if (gso) {
        h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h[1] = VIRTIO_NET_HDR_GSO_TCPV4;
        stw_le_p(h + 2, HDR_LEN);
        stw_le_p(h + 4, BENCH_MSS);
        stw_le_p(h + 6, 34);            /* checksum from TCP's header */
        stw_le_p(h + 8, 16);            /* into its checksum field */
    }
    bench_conn_frame(h + VNET_LEN, c, off, p, len, gso);
}

/* --- virtio-net under the sender --- */

static void ops_send(void *nic, const uint8_t *f, uint32_t len)
{
    vio_send(nic, f, len);
}

static const uint8_t *ops_rx(void *nic, uint32_t *len)
{
    return vio_rx(nic, len);
}

static void ops_rx_done(void *nic)
{
    vio_rx_done(nic);
}

static bool ops_room(void *nic)
{
    Vio *v = nic;

    return vio_tx_room(v) >= (v->tso ? 1 : FRAMES);
}

/* One 32-KiB send: one chain with TSO, else the frames it is cut into */
static void ops_post(void *nic, const BenchConn *c, uint64_t off,
                     uint64_t data, int64_t now)
{
    Vio *v = nic;
    uint32_t n = v->tso ? 1 : FRAMES;

    for (uint32_t k = 0; k < n; k++) {
        uint32_t slot = v->tx_avail % v->txq->size;
        uint32_t len = v->tso ? UNIT : MIN(BENCH_MSS, UNIT - k * BENCH_MSS);
        uint64_t hdr = v->hdrs + slot * SLOT_HDR;
        uint64_t p = data + k * BENCH_MSS;

        vio_headers(bench_gpa(&v->b, hdr, VNET_LEN + HDR_LEN), c,
                    off + k * BENCH_MSS, bench_gpa(&v->b, p, len), len,
                    v->tso);
        v->at[slot] = now;
        v->last[slot] = k == n - 1;
        vio_tx_add(v, hdr, VNET_LEN + HDR_LEN, p, len);
    }
}

static bool ops_kick(void *nic)
{
    return vio_tx_kick(nic);
}

/* The chains virtio-net used, in order (it completes them so) */
static bool ops_reap(void *nic, BenchLat *lat, uint64_t *sends, char *why,
                     size_t len)
{
    Vio *v = nic;
    int64_t now = g_get_monotonic_time();
    uint16_t used = ld16(v, v->txq->used + 2);
    uint16_t out;

    while (v->tx_used != used) {
        uint32_t slot = v->tx_used % v->txq->size;
        uint32_t id = ldl_le_p(bench_gpa(&v->b, v->txq->used + 4 + 8 * slot,
                                         4));

        if (id != slot) {
            snprintf(why, len, "virtio-net used chain %u, not %u", id, slot);
            return false;
        }
        if (v->last[slot]) {
            bench_lat_add(lat, now - v->at[slot]);
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

static const BenchNicOps vio_ops = {
    .name = "virtio-net",
    .send = ops_send, .rx = ops_rx, .rx_done = ops_rx_done,
    .room = ops_room, .post = ops_post, .kick = ops_kick, .reap = ops_reap,
};

void bench_virtio(uint64_t bytes, uint32_t nconns, const char *backend,
                  BenchFigures *fig)
{
    g_autofree char *args = NULL;
    BenchAnchor a;
    Vio v = { 0 };

    if (!bench_anchor_open(&a, backend, nconns, fig)) {
        return;
    }
    /* modern only, in slot 4 (DEVFN) */
    args = g_strdup_printf("%s -device virtio-net-pci,netdev=n0,id=nic0,"
                           "disable-legacy=on,romfile=,addr=04.0,mac="
                           QCHIMNEY_MAC, a.netdev);
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
    v.at = g_new0(int64_t, v.txq->size);
    v.last = g_new0(bool, v.txq->size);
    bench_anchor_run(&a, &v.b, &vio_ops, &v, bytes, fig);
out:
    g_free(v.at);
    g_free(v.last);
    if (v.dev) {
        g_free(v.dev->pdev);
        g_free(v.dev);
    }
    g_free(v.rxq ? container_of(v.rxq, QVirtQueuePCI, vq) : NULL);
    g_free(v.txq ? container_of(v.txq, QVirtQueuePCI, vq) : NULL);
    bench_quit(&v.b);
    bench_anchor_close(&a);
}
