/*
 * chimney-nic: the plain NIC path (L2 TX and RX queues)
 *
 * Everything that is not an offloaded connection travels here: ARP, the
 * handshake before offload, other protocols.  TX gathers one frame from
 * one or more descriptors (the last one has EOP) into a device buffer and
 * hands it to the netdev; RX puts each frame into the buffer at the head
 * of the RX ring.  Completions go to the CQ bound at CREATE_L2Q.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "net/eth.h"
#include "standard-headers/linux/virtio_net.h"
#include "hw/net/chimney/chimney.h"
#include "trace.h"

static void chimney_l2_tx_sent(NetClientState *nc, ssize_t len)
{
    ChimneyState *s = qemu_get_nic_opaque(nc);

    s->tx_in_flight = false;
    chimney_schedule(s);
}

/* A host frame, behind an empty virtio-net header if the netdev takes one */
static ssize_t chimney_l2_send(ChimneyState *s, NetClientState *nc,
                               size_t len)
{
    static const struct virtio_net_hdr no_offload;
    struct iovec iov[2] = {
        { .iov_base = (void *)&no_offload, .iov_len = s->vnet_hdr_len },
        { .iov_base = s->tx_frame, .iov_len = len },
    };

    return qemu_sendv_packet_async(nc, &iov[!s->vnet_hdr_len],
                                   1 + !!s->vnet_hdr_len, chimney_l2_tx_sent);
}

/*
 * Read the descriptors of the frame at the head of the TX ring.  Returns
 * how many there are, 0 when the frame is not completely posted yet, or
 * -1 after a failed descriptor fetch (which latches a fatal status).
 */
static int chimney_l2_tx_fetch(ChimneyState *s,
                               ChimneyL2TxDesc d[CHIMNEY_L2_MAX_TX_SGE])
{
    ChimneyRing *q = &s->l2_txq;
    uint32_t idx = q->head;

    for (int n = 0; n < CHIMNEY_L2_MAX_TX_SGE; n++) {
        if (idx == q->tail) {
            return 0;
        }
        if (!chimney_dma_read(s, chimney_ring_entry(q, idx, sizeof(d[n])),
                              &d[n], sizeof(d[n]))) {
            chimney_fatal(s, CHIMNEY_FATAL_QUEUE_DMA, CHIMNEY_DB_L2_TXQ_TAIL);
            return -1;
        }
        idx = chimney_ring_next(q, idx);
        if (le16_to_cpu(d[n].flags) & CHIMNEY_L2TX_EOP) {
            return n + 1;
        }
    }
    /* No EOP within the limit: the whole run completes as bad. */
    return CHIMNEY_L2_MAX_TX_SGE;
}

static uint8_t chimney_l2_tx_gather(ChimneyState *s, const ChimneyL2TxDesc *d,
                                    int n, size_t *total)
{
    size_t len = 0;

    if (!(le16_to_cpu(d[n - 1].flags) & CHIMNEY_L2TX_EOP)) {
        CHIMNEY_GUEST_ERR(chimney_err_tx_eop, "TX frame without EOP in %d "
                          "descriptors", n);
        return CHIMNEY_ST_BAD_DESCRIPTOR;
    }
    for (int i = 0; i < n; i++) {
        uint32_t seg = le32_to_cpu(d[i].len);

        if (seg == 0 || seg > sizeof(s->tx_frame) - len) {
            CHIMNEY_GUEST_ERR(chimney_err_tx_segment, "TX segment %d of %"
                              PRIu32 " bytes refused", i, seg);
            return CHIMNEY_ST_BAD_DESCRIPTOR;
        }
        if (!chimney_dma_read(s, le64_to_cpu(d[i].addr), s->tx_frame + len,
                              seg)) {
            return CHIMNEY_ST_DMA_ERROR;
        }
        len += seg;
    }
    if (len < ETH_HLEN) {
        CHIMNEY_GUEST_ERR(chimney_err_tx_short, "TX frame of %zu bytes", len);
        return CHIMNEY_ST_BAD_DESCRIPTOR;
    }
    *total = len;
    return CHIMNEY_ST_SUCCESS;
}

void chimney_l2_tx_process(ChimneyState *s)
{
    ChimneyRing *q = &s->l2_txq;
    NetClientState *nc = qemu_get_queue(s->nic);

    for (int budget = CHIMNEY_BH_BUDGET; budget > 0; budget--) {
        ChimneyL2TxDesc d[CHIMNEY_L2_MAX_TX_SGE];
        ChimneyCqe cqe = { .queue = CHIMNEY_QUEUE_L2_TX };
        size_t len = 0;
        uint8_t status;
        int n;

        if (!chimney_running(s) || !q->size || s->tx_in_flight ||
            chimney_ring_empty(q) || chimney_cq_full(&s->cq[q->cq])) {
            return;
        }
        n = chimney_l2_tx_fetch(s, d);
        if (n <= 0) {
            return;
        }
        status = chimney_l2_tx_gather(s, d, n, &len);
        if (status == CHIMNEY_ST_SUCCESS) {
            s->stats.tx_frames++;
            trace_chimney_l2_tx(len);
            /* The net layer copies a frame it has to queue. */
            if (!chimney_l2_send(s, nc, len)) {
                s->tx_in_flight = true;
            }
        }
        q->head = (q->head + n) & (q->size - 1);
        cqe.sq_head = q->head;
        cqe.cookie = le64_to_cpu(d[n - 1].cookie);
        cqe.bytes = status == CHIMNEY_ST_SUCCESS ? len : 0;
        cqe.type_status = CHIMNEY_CQE_MAKE(CHIMNEY_CQE_L2_TX, status, 0);
        chimney_cq_post(s, q->cq, &cqe);
    }
    chimney_schedule(s);
}

bool chimney_l2_rx_ready(ChimneyState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    ChimneyRing *q = &s->l2_rxq;

    return chimney_running(s) && q->size && !chimney_ring_empty(q) &&
           !chimney_cq_full(&s->cq[q->cq]) &&
           (pdev->config[PCI_COMMAND] & PCI_COMMAND_MASTER);
}

/* Offloaded connections take their segments whatever the L2 ring holds. */
static void chimney_l2_rx_complete(ChimneyState *s, uint64_t cookie,
                                   uint32_t bytes, uint8_t status)
{
    ChimneyRing *q = &s->l2_rxq;
    ChimneyCqe cqe = {
        .queue = CHIMNEY_QUEUE_L2_RX,
        .sq_head = q->head,
        .cookie = cookie,
        .bytes = bytes,
        .type_status = CHIMNEY_CQE_MAKE(CHIMNEY_CQE_L2_RX, status, 0),
    };

    chimney_cq_post(s, q->cq, &cqe);
}

/*
 * Put a frame into the next L2 RX buffer.  Returns false when there is no
 * buffer: the caller queues the frame or drops it.
 */
bool chimney_l2_rx_frame(ChimneyState *s, const uint8_t *buf, size_t size)
{
    ChimneyRing *q = &s->l2_rxq;

    /* Buffers the driver made zero-length are returned, then the next. */
    while (chimney_l2_rx_ready(s)) {
        ChimneyL2RxDesc d;
        uint64_t addr, cookie;
        uint32_t len;
        uint32_t idx = q->head;

        if (!chimney_dma_read(s, chimney_ring_entry(q, idx, sizeof(d)),
                              &d, sizeof(d))) {
            chimney_fatal(s, CHIMNEY_FATAL_QUEUE_DMA, CHIMNEY_DB_L2_RXQ_TAIL);
            return true;
        }
        addr = le64_to_cpu(d.addr);
        len = le32_to_cpu(d.len);
        cookie = le64_to_cpu(d.cookie);
        if (len == 0) {
            CHIMNEY_GUEST_ERR(chimney_err_rx_buffer_empty, "RX buffer %" PRIu32
                              " has no room", idx);
            q->head = chimney_ring_next(q, idx);
            chimney_l2_rx_complete(s, cookie, 0, CHIMNEY_ST_BAD_DESCRIPTOR);
            continue;
        }
        if (size > len) {
            /* Dropped like an oversized frame on a real NIC. */
            s->stats.rx_dropped++;
            trace_chimney_l2_rx_drop(size, len);
            return true;
        }
        q->head = chimney_ring_next(q, idx);
        if (!chimney_dma_write(s, addr, buf, size)) {
            chimney_l2_rx_complete(s, cookie, 0, CHIMNEY_ST_DMA_ERROR);
            return true;
        }
        s->stats.rx_frames++;
        trace_chimney_l2_rx(size);
        chimney_l2_rx_complete(s, cookie, size, CHIMNEY_ST_SUCCESS);
        return true;
    }
    return false;
}

/*
 * A frame for the host.  With no L2 RX buffer for it, and connections
 * offloaded, it waits in the device's own backlog (bounded, drops
 * counted), never in QEMU's net queue, where the segments of offloaded
 * connections behind it would wait too.  Returns false only for a plain
 * NIC out of buffers: the caller keeps the frame (back-pressure).
 */
bool chimney_l2_rx_host(ChimneyState *s, const uint8_t *buf, size_t size)
{
    uint32_t i;

    if (!s->rx_backlog_count && chimney_l2_rx_frame(s, buf, size)) {
        return true;
    }
    if (!chimney_conn_any(s)) {
        return false;
    }
    if (s->rx_backlog_count == CHIMNEY_L2_RX_BACKLOG) {
        s->stats.rx_backlog_dropped++;
        trace_chimney_l2_rx_backlog(size, s->rx_backlog_count, true);
        return true;
    }
    i = (s->rx_backlog_head + s->rx_backlog_count++) % CHIMNEY_L2_RX_BACKLOG;
    s->rx_backlog[i] = g_memdup2(buf, size);
    s->rx_backlog_len[i] = size;
    s->stats.rx_backlogged++;
    trace_chimney_l2_rx_backlog(size, s->rx_backlog_count, false);
    return true;
}

static void chimney_l2_rx_backlog_pop(ChimneyState *s)
{
    uint32_t i = s->rx_backlog_head;

    g_free(s->rx_backlog[i]);
    s->rx_backlog[i] = NULL;
    s->rx_backlog_head = (i + 1) % CHIMNEY_L2_RX_BACKLOG;
    s->rx_backlog_count--;
}

/* Reset, disable, unrealize: the frames waiting for buffers go. */
void chimney_l2_rx_backlog_clear(ChimneyState *s)
{
    while (s->rx_backlog_count) {
        chimney_l2_rx_backlog_pop(s);
    }
    s->rx_backlog_head = 0;
}

/*
 * Bottom half: the backlog drains into the RX ring, in order, then the
 * frames QEMU's net queue kept for us.
 */
void chimney_l2_rx_kick(ChimneyState *s)
{
    while (s->rx_backlog_count && chimney_l2_rx_ready(s)) {
        uint32_t i = s->rx_backlog_head;

        chimney_l2_rx_frame(s, s->rx_backlog[i], s->rx_backlog_len[i]);
        chimney_l2_rx_backlog_pop(s);
    }
    if (!s->rx_backlog_count && chimney_l2_rx_ready(s)) {
        qemu_flush_queued_packets(qemu_get_queue(s->nic));
    }
}
