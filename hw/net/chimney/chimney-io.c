/*
 * chimney-nic: connection I/O
 *
 * Each offloaded connection has a send queue and a receive queue in
 * guest memory whose requests feed the TCP engine (chimney-tcp.c,
 * chimney-tcp-rx.c); data with no receive posted goes to the shared
 * generic-buffer queue as indications.  The engine reaches guest memory,
 * the wire, the clock and the completion FIFO only through the
 * ChimneyTcpOps here.  Frames of offloaded 4-tuples are steered here by
 * the receive classifier and handed to the engine in the bottom half.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/iov.h"
#include "system/dma.h"
#include "hw/pci/pci_device.h"
#include "standard-headers/linux/virtio_net.h"
#include "hw/net/chimney/chimney.h"
#include "hw/net/chimney/chimney-io.h"
#include "hw/net/chimney/chimney-pmtu.h"
#include "trace.h"

/* --- the engine's view of the device --- */

static int64_t chimney_io_now(void *opaque)
{
    return qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
}

static void chimney_io_timer_mod(void *opaque, ChimneyTcpConn *c,
                                 int64_t expire)
{
    chimney_conn_timer_mod(chimney_conn_of(c), expire);
}

/*
 * Point the slot's cursor at the SGL entry that holds @off; false when
 * the SGL cannot be read or ends first.  The slot remembers where the
 * previous transfer ended, so streaming a request reads each SGL entry
 * once.
 */
static bool chimney_io_sgl_seek(ChimneyState *s, ChimneySlot *sl,
                                uint32_t off)
{
    if (off < sl->cur_off) {
        sl->cur_sge = 0;
        sl->cur_off = 0;
        sl->cur_len = 0;
    }
    while (!sl->cur_len || off >= sl->cur_off + sl->cur_len) {
        ChimneySge sge;

        if (sl->cur_len) {
            sl->cur_off += sl->cur_len;
            sl->cur_sge++;
            sl->cur_len = 0;
        }
        if (sl->cur_sge >= sl->nsge ||
            !chimney_dma_read(s, sl->sgl + sl->cur_sge * sizeof(sge),
                              &sge, sizeof(sge))) {
            return false;
        }
        sl->cur_addr = le64_to_cpu(sge.addr);
        sl->cur_len = le32_to_cpu(sge.len);
        if (!sl->cur_len) {
            return false;
        }
    }
    return true;
}

/* Move @len bytes at @off of a request's data between @buf and its SGL */
static bool chimney_io_sgl_xfer(ChimneyState *s, ChimneySlot *sl,
                                uint32_t off, uint8_t *buf, uint32_t len,
                                bool to_guest)
{
    while (len) {
        uint32_t n;
        bool ok;

        if (!chimney_io_sgl_seek(s, sl, off)) {
            return false;
        }
        n = MIN(len, sl->cur_off + sl->cur_len - off);
        ok = to_guest ?
             chimney_dma_write(s, sl->cur_addr + (off - sl->cur_off), buf, n) :
             chimney_dma_read(s, sl->cur_addr + (off - sl->cur_off), buf, n);
        if (!ok) {
            return false;
        }
        buf += n;
        off += n;
        len -= n;
    }
    return true;
}

static bool chimney_io_read_data(void *opaque, ChimneyTcpConn *c,
                                 const ChimneyTcpReq *req, uint32_t off,
                                 uint8_t *buf, uint32_t len)
{
    ChimneyConn *conn = chimney_conn_of(c);

    return chimney_io_sgl_xfer(opaque, &chimney_conn_slots(conn)[req->tag],
                               off, buf, len, false);
}

static bool chimney_io_write_data(void *opaque, ChimneyTcpConn *c,
                                  const ChimneyTcpRecv *rcv, uint32_t off,
                                  const uint8_t *buf, uint32_t len)
{
    ChimneyConn *conn = chimney_conn_of(c);

    return chimney_io_sgl_xfer(opaque, &chimney_conn_rslots(conn)[rcv->tag],
                               off, (uint8_t *)buf, len, true);
}

/*
 * Map request data in place for a frame.  Only plain RAM is mapped:
 * anything else (MMIO, nothing, a disabled bus master) is left to
 * read_data, which reports a failed access where a mapping would bounce
 * and not tell.  The engine unmaps before it returns to the main loop.
 */
static const void *chimney_io_map_data(void *opaque, ChimneyTcpConn *c,
                                       const ChimneyTcpReq *req,
                                       uint32_t off, uint32_t *len)
{
    ChimneyState *s = opaque;
    ChimneySlot *sl = &chimney_conn_slots(chimney_conn_of(c))[req->tag];

    if (!chimney_io_sgl_seek(s, sl, off)) {
        return NULL;
    }
    /* the rest of the SGL entry: later segments in this run use it too */
    return chimney_dmamap_get(s, sl->cur_addr + (off - sl->cur_off),
                              sl->cur_off + sl->cur_len - off, len);
}

static void chimney_io_unmap_data(void *opaque, const void *p, uint32_t len)
{
    chimney_dmamap_put(opaque, p, len);
}

/*
 * The backend took the frame it had queued (or the queue was purged):
 * the connections whose data waited for it go on in the bottom half.
 */
static void chimney_io_tx_sent(NetClientState *nc, ssize_t len)
{
    ChimneyState *s = qemu_get_nic_opaque(nc);

    trace_chimney_tx_resume();
    s->offload.tcp->tx_blocked = false;
    chimney_schedule(s);
}

/*
 * Hand a frame to the backend.  One it cannot take now waits in the net
 * layer's queue, and then no data segment follows until it has left
 * (chimney_io_tx_sent), as a NIC whose transmit ring is full stops: a
 * slow peer or backend gets no frames dropped to a queue limit, and the
 * connections no retransmission timeouts for them.  Meanwhile ACKs and
 * RSTs still go, where the queue's limit bounds them.
 */
static void chimney_io_send(ChimneyState *s, const struct iovec *iov,
                            int iovcnt)
{
    NetClientState *nc = qemu_get_queue(s->nic);
    ChimneyOffloadState *o = &s->offload;
    ChimneyTcpStack *stack = o->tcp;

    if (stack->tx_blocked) {
        qemu_sendv_packet(nc, iov, iovcnt);
    } else if (!qemu_sendv_packet_async(nc, iov, iovcnt,
                                        chimney_io_tx_sent)) {
        stack->tx_blocked = true;
        s->stats.tx_held++;
        trace_chimney_tx_held();
    } else if (++o->tx_burst_used >= s->tx_burst) {
        /*
         * Enough for one turn of the main loop: the data waits for the
         * next run of the bottom half, and the backend is read meanwhile.
         * A tap hands over at most 50 frames a turn and a peer ACKs every
         * one or two segments, so a longer burst fills the tap's queue
         * with ACKs that the host then drops; a flight whose last ACKs
         * are lost waits for a retransmission timeout.
         */
        stack->tx_blocked = true;
        o->tx_paused = true;
        trace_chimney_tx_burst_end(o->tx_burst_used);
        chimney_schedule(s);
    }
}

void chimney_io_tx_turn(ChimneyState *s)
{
    ChimneyOffloadState *o = &s->offload;

    o->tx_burst_used = 0;
    if (o->tx_paused) {
        o->tx_paused = false;
        o->tcp->tx_blocked = false;
    }
}

/*
 * A connection whose data waits for the backend: kicked when it may go
 * (chimney_io_tx_sent schedules the bottom half)
 */
static void chimney_io_tx_wait(void *opaque, ChimneyTcpConn *c)
{
    chimney_conn_kick(opaque, chimney_conn_of(c));
}

/*
 * A frame of the engine's, behind a virtio-net header when the backend
 * takes one: the backend (the host kernel's tap) then sums and segments.
 * The net layer copies what it queues, so the parts need not outlive this.
 */
static void chimney_io_emitv(void *opaque, ChimneyTcpConn *c,
                             const struct iovec *iov, int iovcnt,
                             const ChimneyTcpTxInfo *info)
{
    ChimneyState *s = opaque;
    struct virtio_net_hdr vh = { 0 };
    struct iovec v[CHIMNEY_TCP_TX_IOV + 1];
    size_t len = iov_size(iov, iovcnt);

    assert(iovcnt <= CHIMNEY_TCP_TX_IOV);
    trace_chimney_conn_segment(chimney_conn_of(c)->index, len,
                               info ? info->gso_size : 0);
    if (!s->vnet_hdr_len) {
        assert(!info || !info->csum_start);
        chimney_io_send(s, iov, iovcnt);
        return;
    }
    if (info && info->csum_start) {
        vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        vh.csum_start = info->csum_start;
        vh.csum_offset = info->csum_offset;
        vh.hdr_len = info->hdr_len;
    }
    if (info && info->gso_size) {
        vh.gso_type = info->gso_type == CHIMNEY_TCP_GSO_TCPV6 ?
                      VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
        vh.gso_size = info->gso_size;
    }
    v[0].iov_base = &vh;
    v[0].iov_len = sizeof(vh);
    memcpy(&v[1], iov, iovcnt * sizeof(*iov));
    chimney_io_send(s, v, iovcnt + 1);
}

static void chimney_io_emit(void *opaque, ChimneyTcpConn *c,
                            const uint8_t *frame, size_t len)
{
    ChimneyState *s = opaque;
    struct iovec iov = { .iov_base = (void *)frame, .iov_len = len };

    chimney_io_emitv(s, c, &iov, 1, NULL);
}

static uint8_t chimney_io_status(int status)
{
    switch (status) {
    case CHIMNEY_TCP_OK:
        return CHIMNEY_ST_SUCCESS;
    case CHIMNEY_TCP_ABORTED:
        return CHIMNEY_ST_REQUEST_ABORTED;
    case CHIMNEY_TCP_INVALID_STATE:
        return CHIMNEY_ST_INVALID_STATE;
    case CHIMNEY_TCP_DMA_ERROR:
        return CHIMNEY_ST_DMA_ERROR;
    default:
        return CHIMNEY_ST_UPLOAD_IN_PROGRESS;
    }
}

static void chimney_io_complete(void *opaque, ChimneyTcpConn *c,
                                const ChimneyTcpReq *req, int status,
                                uint32_t bytes)
{
    ChimneyConn *conn = chimney_conn_of(c);
    ChimneySlot *sl = &chimney_conn_slots(conn)[req->tag];
    ChimneyPending pe = {
        .cookie = req->cookie,
        .bytes = bytes,
        .sq_head = (req->tag + 1) & (conn->sq.size - 1),
        .type = req->type == CHIMNEY_TCP_REQ_DISCONNECT || sl->disconnect ?
                CHIMNEY_CQE_DISCONNECT : CHIMNEY_CQE_SEND,
        .status = chimney_io_status(status),
        .queue = CHIMNEY_QUEUE_CONN_SQ,
    };

    /* A request refused at fetch time keeps its error, whatever came */
    if (sl->status != CHIMNEY_ST_SUCCESS) {
        pe.status = sl->status;
    }
    trace_chimney_conn_complete(conn->index, req->cookie, pe.status, bytes);
    chimney_conn_push(conn, &pe);
}

static void chimney_io_recv_complete(void *opaque, ChimneyTcpConn *c,
                                     const ChimneyTcpRecv *rcv, int status)
{
    ChimneyConn *conn = chimney_conn_of(c);
    ChimneySlot *sl = &chimney_conn_rslots(conn)[rcv->tag];
    ChimneyPending pe = {
        .cookie = rcv->cookie,
        .bytes = rcv->filled,
        .sq_head = conn->rq.head,
        .type = CHIMNEY_CQE_RECV,
        .status = chimney_io_status(status),
        .queue = CHIMNEY_QUEUE_CONN_RQ,
    };

    /* An entry refused at fetch time keeps its own error */
    if (sl->status != CHIMNEY_ST_SUCCESS && status == CHIMNEY_TCP_OK) {
        pe.status = sl->status;
    }
    trace_chimney_conn_recv_complete(conn->index, rcv->cookie, pe.status,
                                    rcv->filled);
    chimney_conn_push(conn, &pe);
}

static void chimney_io_ind_wait(ChimneyConn *conn)
{
    ChimneyState *s = chimney_conn_dev(conn);

    if (!conn->on_ind_list) {
        conn->on_ind_list = true;
        chimney_conn_list_append(s, &s->offload.ind_list, conn,
                                 CHIMNEY_LINK_IND);
    }
}

/*
 * No receive is posted: copy what we can into the next generic buffer and
 * tell the driver on the connection's CQ.  Returns the bytes offered.
 */
static uint32_t chimney_io_indicate(void *opaque, ChimneyTcpConn *c,
                                    const uint8_t *data, uint32_t len,
                                    uint32_t seq)
{
    ChimneyState *s = opaque;
    ChimneyConn *conn = chimney_conn_of(c);
    ChimneyRing *q = &s->ind_q;

    if (!conn->rq.size) {
        /* Nobody could answer an indication: the host takes the data */
        if (!conn->rq_upload_asked) {
            conn->rq_upload_asked = true;
            chimney_conn_push_event(conn, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                                    CHIMNEY_UPLOAD_REQUESTED);
        }
        return 0;
    }
    while (q->size && !chimney_ring_empty(q) && chimney_running(s) &&
           chimney_conn_can_push(conn)) {
        uint32_t idx = q->head;
        ChimneyL2RxDesc d;
        ChimneyPending pe = {
            .type = CHIMNEY_CQE_INDICATE,
            .queue = CHIMNEY_QUEUE_INDICATE,
            .aux = seq,
        };
        uint32_t n;

        if (!chimney_dma_read(s, chimney_ring_entry(q, idx, sizeof(d)), &d,
                              sizeof(d))) {
            chimney_fatal(s, CHIMNEY_FATAL_QUEUE_DMA, CHIMNEY_DB_IND_TAIL);
            return 0;
        }
        q->head = chimney_ring_next(q, idx);
        pe.sq_head = q->head;
        pe.cookie = le64_to_cpu(d.cookie);
        n = MIN(len, le32_to_cpu(d.len));
        if (!n) {
            CHIMNEY_GUEST_ERR(chimney_err_ind_buffer_empty, "generic buffer %"
                              PRIu32 " has no room", idx);
            pe.status = CHIMNEY_ST_BAD_DESCRIPTOR;
        } else if (!chimney_dma_write(s, le64_to_cpu(d.addr), data, n)) {
            pe.status = CHIMNEY_ST_DMA_ERROR;
        } else {
            pe.bytes = n;
        }
        chimney_conn_push(conn, &pe);
        if (pe.bytes) {
            s->stats.indications++;
            trace_chimney_conn_indicate(conn->index, seq, n);
            return n;
        }
    }
    /* None now: the generic-buffer doorbell brings it back */
    chimney_io_ind_wait(conn);
    return 0;
}

static void chimney_io_event(void *opaque, ChimneyTcpConn *c, int event,
                             uint32_t info)
{
    chimney_conn_push_event(chimney_conn_of(c), event, info);
}

static void chimney_io_note(void *opaque, ChimneyTcpConn *c, int what,
                            uint32_t a, uint32_t b)
{
    uint32_t index = chimney_conn_of(c)->index;

    switch (what) {
    case CHIMNEY_TCP_NOTE_STATE:
        trace_chimney_conn_state(index, a, b);
        break;
    case CHIMNEY_TCP_NOTE_REXMIT:
        trace_chimney_conn_rexmit(index, a, b);
        break;
    default:
        trace_chimney_conn_timeout(index, a, b);
        break;
    }
}

static const ChimneyTcpOps chimney_io_tcp_ops = {
    .now_ns = chimney_io_now,
    .timer_mod = chimney_io_timer_mod,
    .read_data = chimney_io_read_data,
    .emit = chimney_io_emit,
    .map_data = chimney_io_map_data,
    .unmap_data = chimney_io_unmap_data,
    .emitv = chimney_io_emitv,
    .complete = chimney_io_complete,
    .event = chimney_io_event,
    .note = chimney_io_note,
    .write_data = chimney_io_write_data,
    .recv_complete = chimney_io_recv_complete,
    .indicate = chimney_io_indicate,
    .tx_wait = chimney_io_tx_wait,
};

void chimney_io_stack_init(ChimneyState *s)
{
    chimney_tcp_stack_init(s->offload.tcp, &chimney_io_tcp_ops, s);
    s->offload.tcp->tx_offload = s->vnet_hdr_len != 0;
    chimney_io_tx_turn(s);
}

/* --- send queue --- */

/*
 * The SGL of a request of @len bytes: every entry readable, non-empty, in
 * guest memory, and their sum @len.  Returns a completion status.
 */
static uint8_t chimney_io_sgl_check(ChimneyState *s, const ChimneySlot *sl,
                                    uint32_t len, DMADirection dir)
{
    uint32_t sum = 0;

    if (sl->nsge > CHIMNEY_MAX_SGE || !sl->nsge != !len ||
        len > CHIMNEY_MAX_REQUEST_LEN) {
        return CHIMNEY_ST_BAD_DESCRIPTOR;
    }
    for (uint32_t i = 0; i < sl->nsge; i++) {
        ChimneySge sge;
        uint64_t a;
        uint32_t l;

        if (!chimney_dma_read(s, sl->sgl + i * sizeof(sge), &sge,
                              sizeof(sge))) {
            return CHIMNEY_ST_DMA_ERROR;
        }
        a = le64_to_cpu(sge.addr);
        l = le32_to_cpu(sge.len);
        if (!l || l > len - sum) {
            return CHIMNEY_ST_BAD_DESCRIPTOR;
        }
        if (a + l < a ||
            !dma_memory_valid(pci_get_address_space(PCI_DEVICE(s)), a, l,
                              dir, MEMTXATTRS_UNSPECIFIED)) {
            return CHIMNEY_ST_DMA_ERROR;
        }
        sum += l;
    }
    return sum == len ? CHIMNEY_ST_SUCCESS : CHIMNEY_ST_BAD_DESCRIPTOR;
}

/*
 * Read SQ entry @index and check it.  Returns the request for the engine
 * and, in the slot, what the device needs to read its data later; a
 * request that fails the checks gets a non-zero slot status and no data.
 */
bool chimney_io_sq_fetch(ChimneyConn *conn, uint32_t index,
                         ChimneyTcpReq *req)
{
    ChimneyState *s = chimney_conn_dev(conn);
    ChimneySlot *sl = &chimney_conn_slots(conn)[index];
    ChimneySqDesc d;
    uint32_t len, nsge;

    if (!chimney_dma_read(s, chimney_ring_entry(&conn->sq, index, sizeof(d)),
                          &d, sizeof(d))) {
        return false;
    }
    len = le32_to_cpu(d.len);
    nsge = le16_to_cpu(d.nsge);
    *sl = (ChimneySlot) {
        .sgl = le64_to_cpu(d.sgl), .nsge = nsge,
        .disconnect = d.type == CHIMNEY_SQ_DISCONNECT,
    };
    *req = (ChimneyTcpReq) {
        .cookie = le64_to_cpu(d.cookie),
        .len = len,
        .tag = index,
        .type = d.type == CHIMNEY_SQ_DISCONNECT ? CHIMNEY_TCP_REQ_DISCONNECT :
                                                  CHIMNEY_TCP_REQ_SEND,
        .flags = ((d.flags & CHIMNEY_SQF_PUSH) ? CHIMNEY_TCP_REQ_PUSH : 0) |
                 ((d.flags & CHIMNEY_SQF_ABORTIVE) ?
                  CHIMNEY_TCP_REQ_ABORTIVE : 0),
    };
    if ((d.type != CHIMNEY_SQ_SEND && d.type != CHIMNEY_SQ_DISCONNECT) ||
        (d.type == CHIMNEY_SQ_SEND && !len) ||
        (d.flags & ~(CHIMNEY_SQF_PUSH | CHIMNEY_SQF_URGENT |
                     CHIMNEY_SQF_ABORTIVE))) {
        sl->status = CHIMNEY_ST_BAD_DESCRIPTOR;
    } else {
        sl->status = chimney_io_sgl_check(s, sl, len,
                                          DMA_DIRECTION_TO_DEVICE);
    }
    if (sl->status) {
        CHIMNEY_GUEST_ERR(chimney_err_sq_entry, "connection %" PRIu32
                          " SQ entry %" PRIu32 " refused (status 0x%x)",
                          conn->index, index, sl->status);
    } else if (conn->sq_failed) {
        /* After a refused request nothing is sent: it fails the same way */
        sl->status = conn->sq_failed;
    }
    if (sl->status) {
        /* It keeps its place in the order, with nothing to send */
        req->len = 0;
        req->type = CHIMNEY_TCP_REQ_SEND;
        req->flags = 0;
        sl->nsge = 0;
    }
    return true;
}

/* A producer index from the connection's doorbell record, checked */
static bool chimney_io_read_tail(ChimneyConn *conn, ChimneyRing *q,
                                 uint32_t offset)
{
    uint32_t tail;

    if (!chimney_dma_read(chimney_conn_dev(conn), conn->db_record + offset,
                          &tail, sizeof(tail))) {
        /* Not the driver's index being wrong: the record is unreadable */
        conn->poisoned = true;
        chimney_conn_push_event(conn, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                                CHIMNEY_UPLOAD_HW_FAILURE);
        return false;
    }
    tail = le32_to_cpu(tail);
    if (tail >= q->size) {
        CHIMNEY_GUEST_ERR(chimney_err_queue_tail, "connection %" PRIu32
                          " %s tail %" PRIu32 " for %" PRIu32 " entries",
                          conn->index, offset ? "RQ" : "SQ", tail, q->size);
        conn->poisoned = true;
        chimney_conn_push_event(conn, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                                CHIMNEY_UPLOAD_REQUESTED);
        return false;
    }
    q->tail = tail;
    return true;
}

/*
 * Queue what the SQ holds; the engine sends once for all of it, so that
 * frames span the requests (chimney_tcp_queue).  Returns whether it took
 * any entry (a refused one included).
 */
static bool chimney_io_sq_take(ChimneyConn *conn)
{
    ChimneyState *s = chimney_conn_dev(conn);
    bool queued = false;

    if (conn->poisoned || !chimney_running(s) ||
        !chimney_io_read_tail(conn, &conn->sq,
                              offsetof(ChimneyDbRecord, sq_tail))) {
        return false;
    }
    while (!chimney_ring_empty(&conn->sq) &&
           chimney_tcp_queued(&conn->tcp) < conn->sq.size - 1 &&
           chimney_conn_can_push(conn)) {
        uint32_t index = conn->sq.head;
        ChimneyTcpReq req;
        bool first_failure;

        chimney_conn_sq_arrays(conn);
        if (!chimney_io_sq_fetch(conn, index, &req)) {
            conn->poisoned = true;
            chimney_conn_push_event(conn, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                                    CHIMNEY_UPLOAD_HW_FAILURE);
            break;
        }
        queued = true;
        conn->sq.head = chimney_ring_next(&conn->sq, index);
        /*
         * The first refused request: nothing after it may be sent
         * (chimney_io_sq_fetch fails them the same way), and the host is
         * asked to take the connection.
         */
        first_failure = chimney_conn_slots(conn)[index].status &&
                        !conn->sq_failed;
        if (first_failure) {
            conn->sq_failed = chimney_conn_slots(conn)[index].status;
        }
        if (!chimney_tcp_queue(&conn->tcp, &req)) {
            /* After a reset or a disconnect no request can be sent */
            ChimneyPending pe = {
                .cookie = req.cookie,
                .sq_head = conn->sq.head,
                .type = req.type == CHIMNEY_TCP_REQ_DISCONNECT ||
                        chimney_conn_slots(conn)[index].disconnect ?
                        CHIMNEY_CQE_DISCONNECT : CHIMNEY_CQE_SEND,
                .status = chimney_conn_slots(conn)[index].status ? :
                          conn->tcp.aborted && !conn->tcp.upload_requested ?
                          CHIMNEY_ST_REQUEST_ABORTED :
                          CHIMNEY_ST_INVALID_STATE,
                .queue = CHIMNEY_QUEUE_CONN_SQ,
            };

            chimney_conn_push(conn, &pe);
        }
        if (first_failure && !conn->tcp.aborted) {
            chimney_tcp_request_upload(&conn->tcp,
                                       conn->sq_failed == CHIMNEY_ST_DMA_ERROR ?
                                       CHIMNEY_UPLOAD_HW_FAILURE :
                                       CHIMNEY_UPLOAD_REQUESTED);
        }
    }
    return queued;
}

/* Take what the SQ holds, then drop the arrays of a queue that drained */
void chimney_io_sq_process(ChimneyConn *conn)
{
    if (chimney_io_sq_take(conn)) {
        chimney_tcp_output(&conn->tcp);
    }
    chimney_conn_trim(conn);
}

/* --- receive queue --- */

/*
 * Read RQ entry @index: a receive buffer for the engine, or the answer to
 * the connection's last indication.  A bad entry keeps its place in the
 * order as an empty receive that completes with its error.
 */
static void chimney_io_rq_take(ChimneyConn *conn, uint32_t index,
                               const ChimneySqDesc *d)
{
    ChimneyTcpConn *c = &conn->tcp;
    uint32_t tag = (c->rhead + c->rcount) % conn->rq.size;
    ChimneySlot *sl = &chimney_conn_rslots(conn)[tag];
    uint32_t len = le32_to_cpu(d->len);
    ChimneyTcpRecv r = {
        .cookie = le64_to_cpu(d->cookie),
        .len = len,
        .tag = tag,
        .no_push = d->flags & CHIMNEY_RQF_NO_PUSH,
    };

    *sl = (ChimneySlot) {
        .sgl = le64_to_cpu(d->sgl), .nsge = le16_to_cpu(d->nsge),
    };
    if (d->type == CHIMNEY_RQ_INDICATE_DONE && !(d->flags) && !sl->nsge) {
        if (chimney_tcp_indicate_done(c, len)) {
            return;
        }
        CHIMNEY_GUEST_ERR(chimney_err_indicate_done, "connection %" PRIu32
                          " took %" PRIu32 " bytes of an indication of %"
                          PRIu32, conn->index, len, c->ind_outstanding);
        sl->status = CHIMNEY_ST_INVALID_PARAM;
    } else if (d->type != CHIMNEY_RQ_RECEIVE ||
               (d->flags & ~CHIMNEY_RQF_NO_PUSH)) {
        sl->status = CHIMNEY_ST_BAD_DESCRIPTOR;
    } else {
        sl->status = chimney_io_sgl_check(chimney_conn_dev(conn), sl, len,
                                          DMA_DIRECTION_FROM_DEVICE);
    }
    if (sl->status) {
        CHIMNEY_GUEST_ERR(chimney_err_rq_entry, "connection %" PRIu32
                          " RQ entry %" PRIu32 " refused (status 0x%x)",
                          conn->index, index, sl->status);
        r.len = 0;
        sl->nsge = 0;
    }
    chimney_tcp_recv_post(c, &r);
}

static void chimney_io_rq_take_all(ChimneyConn *conn)
{
    ChimneyState *s = chimney_conn_dev(conn);

    if (conn->poisoned || !conn->rq.size || !chimney_running(s) ||
        !chimney_io_read_tail(conn, &conn->rq,
                              offsetof(ChimneyDbRecord, rq_tail))) {
        return;
    }
    /* The engine holds at most rq.size receives; the rest wait in the RQ */
    while (!chimney_ring_empty(&conn->rq) &&
           conn->tcp.rcount < conn->rq.size && chimney_conn_can_push(conn)) {
        uint32_t index = conn->rq.head;
        ChimneySqDesc d;

        if (!chimney_dma_read(s, chimney_ring_entry(&conn->rq, index,
                                                    sizeof(d)),
                              &d, sizeof(d))) {
            conn->poisoned = true;
            chimney_conn_push_event(conn, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                                    CHIMNEY_UPLOAD_HW_FAILURE);
            return;
        }
        conn->rq.head = chimney_ring_next(&conn->rq, index);
        chimney_conn_rq_arrays(conn);
        chimney_io_rq_take(conn, index, &d);
    }
}

void chimney_io_rq_process(ChimneyConn *conn)
{
    chimney_io_rq_take_all(conn);
    chimney_conn_trim(conn);
}

/* --- doorbells --- */

/*
 * New generic buffers: connections that waited for one indicate now.
 * Each waiting connection is looked at once per call: one that cannot
 * indicate yet (its completion FIFO full, or no buffer left) goes back
 * on the list without taking a buffer, so the loop ends; chimney_io_work
 * tries again once completions have drained.
 */
static void chimney_io_ind_doorbell(ChimneyState *s)
{
    ChimneyOffloadState *o = &s->offload;
    ChimneyConnList waiting = o->ind_list;
    ChimneyConn *conn;

    o->ind_list = (ChimneyConnList) { 0 };
    while ((conn = chimney_conn_list_pop(s, &waiting, CHIMNEY_LINK_IND))) {
        conn->on_ind_list = false;
        if (chimney_ring_empty(&s->ind_q) || !chimney_running(s) ||
            !chimney_conn_can_push(conn)) {
            chimney_io_ind_wait(conn);
            continue;
        }
        chimney_tcp_deliver(&conn->tcp);
        chimney_io_sq_process(conn);
        chimney_io_hint_update(conn);
    }
}

void chimney_io_doorbell(ChimneyState *s, uint32_t conn_id)
{
    uint8_t status;
    ChimneyConn *conn = chimney_conn_lookup(s, conn_id, &status);

    if (!conn) {
        /* A late doorbell after terminate is a normal race: count it */
        trace_chimney_stale_doorbell(conn_id, status);
        s->stats.stale_doorbells++;
        return;
    }
    chimney_conn_kick(s, conn);
    chimney_schedule(s);
}

/* --- received segments --- */

/*
 * Bottom half: the queued segments, each to its connection if still live.
 * The burst is the engine's input first; then each connection it touched
 * sends, re-arms its timer and takes from its queues once.
 */
static void chimney_io_rx_work(ChimneyState *s)
{
    ChimneyOffloadState *o = &s->offload;
    bool was_full = o->rx_count == CHIMNEY_CONN_RX_SLOTS;
    ChimneyConn *burst[CHIMNEY_CONN_RX_SLOTS];
    uint32_t n = 0;

    while (o->rx_count) {
        ChimneyRxSeg *slot = &o->rx[o->rx_head];
        uint8_t status;
        ChimneyConn *conn = chimney_conn_lookup(s, slot->conn_id, &status);
        uint8_t *frame;

        o->rx_head = (o->rx_head + 1) % CHIMNEY_CONN_RX_SLOTS;
        o->rx_count--;
        if (!conn) {
            continue;
        }
        if (!conn->in_burst) {
            /* receives posted under the doorbell hint's SKIP take these */
            if (conn->db_hint && conn->rq.size) {
                chimney_io_rq_process(conn);
            }
            conn->in_burst = true;
            burst[n++] = conn;
            chimney_tcp_input_begin(&conn->tcp);
        }
        frame = o->rx_frames + (slot - o->rx) * CHIMNEY_L2_MAX_FRAME;
        trace_chimney_conn_input(conn->index, slot->seg.seq, slot->seg.ack,
                                slot->seg.flags, slot->seg.len);
        if (!chimney_tcp_input(&conn->tcp, &slot->seg,
                               frame + slot->payload)) {
            /* Not the engine's (CLOSED, or a SYN in TIME_WAIT) */
            s->stats.to_host++;
            if (!chimney_l2_rx_host(s, frame, slot->len)) {
                s->stats.rx_dropped++;
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        ChimneyConn *conn = burst[i];

        conn->in_burst = false;
        chimney_tcp_input_end(&conn->tcp);
        chimney_io_sq_process(conn);
        chimney_io_rq_process(conn);
        chimney_io_hint_update(conn);
        chimney_conn_release(conn);
    }
    if (was_full) {
        qemu_flush_queued_packets(qemu_get_queue(s->nic));
    }
}

/*
 * Bottom half: received segments, expired timers, send doorbells, then
 * completions that waited for room.  Each CQ's waiting connections are
 * served in turn until the CQ is full, so the work per completion does
 * not grow with the number of connections.
 */
void chimney_io_work(ChimneyState *s)
{
    ChimneyOffloadState *o = &s->offload;
    ChimneyConn *conn;

    chimney_pmtu_post_events(s);
    chimney_io_rx_work(s);
    while ((conn = chimney_conn_list_pop(s, &o->timer_list,
                                         CHIMNEY_LINK_TIMER))) {
        conn->on_timer_list = false;
        chimney_tcp_timer(&conn->tcp);
        /* under SKIP an ACK may have been lost: the queues now, not later */
        if (conn->db_hint && conn->hint_skip) {
            chimney_io_sq_process(conn);
            chimney_io_rq_process(conn);
        }
        chimney_conn_trim(conn);
        chimney_io_hint_update(conn);
    }
    /*
     * Doorbells, and connections whose data waited for the backend.  They
     * wait while it holds a frame: one that found it so goes back to the
     * end of the list (chimney_io_tx_wait).
     */
    while (!o->tcp->tx_blocked &&
           (conn = chimney_conn_list_pop(s, &o->kick_list,
                                         CHIMNEY_LINK_KICK))) {
        conn->on_kick_list = false;
        /*
         * The doorbell's requests first: data that waited then leaves
         * with them, not ahead of them as a short segment of its own
         */
        chimney_io_sq_process(conn);
        if (!conn->terminated) {
            chimney_tcp_output(&conn->tcp);
        }
        chimney_io_rq_process(conn);
        chimney_io_hint_update(conn);
    }
    for (uint32_t cq = 1; cq < s->num_cqs; cq++) {
        while (!chimney_conn_list_empty(s, &o->flush_list[cq],
                                        CHIMNEY_LINK_FLUSH) &&
               !chimney_cq_full(&s->cq[cq]) && chimney_running(s)) {
            /* to the back of the line, unless it empties */
            conn = chimney_conn_list_pop(s, &o->flush_list[cq],
                                         CHIMNEY_LINK_FLUSH);
            conn->on_flush_list = false;
            chimney_conn_flush(conn);
            if (!conn->pend_count) {
                /* room again in its FIFO: take what waited on the queues */
                chimney_io_sq_process(conn);
                chimney_io_rq_process(conn);
                chimney_io_hint_update(conn);
            }
            chimney_conn_release(conn);
        }
    }
    /* Connections that waited for a generic buffer and may have room now */
    if (!chimney_conn_list_empty(s, &o->ind_list, CHIMNEY_LINK_IND) &&
        s->ind_q.size &&
        !chimney_ring_empty(&s->ind_q)) {
        chimney_io_ind_doorbell(s);
    }
}

/*
 * The receive classifier.  A frame of an offloaded connection (family
 * and 4-tuple match) is queued for it: returns 1 when taken, 0 when the
 * queue is full (the net layer keeps the frame until chimney_io_work
 * drains it), -1 when it is not ours.  Then the 802.1Q receive rules
 * (chimney_conn_vlan_accepts): a connection whose neighbor has a VLAN id
 * drops a segment without that id; it goes neither to the connection
 * nor to the host, and returns 1.  An ICMPv6 Packet Too Big about an
 * offloaded path lowers its MTU and still goes to the host.
 */
int chimney_io_classify(ChimneyState *s, const uint8_t *buf, size_t size)
{
    ChimneyOffloadState *o = &s->offload;
    ChimneyTcpTuple t;
    ChimneyTcpSegment seg;
    ChimneyConn *conn;
    ChimneyRxSeg *slot;
    const uint8_t *payload;
    ChimneyConnProbe key;

    if (!chimney_conn_any(s) || size > CHIMNEY_L2_MAX_FRAME) {
        return -1;
    }
    if (!chimney_tcp_parse(buf, size, &t, &seg, &payload)) {
        chimney_pmtu_input(s, buf, size);
        return -1;
    }
    chimney_conn_key_rx(&key, &t);
    conn = g_hash_table_lookup(o->by_key, &key.tcp);
    if (!conn) {
        return -1;
    }
    if (!chimney_conn_vlan_accepts(conn, t.vlan)) {
        trace_chimney_conn_vlan_drop(conn->index, t.vlan,
                                     conn->tcp.route->vlan);
        s->stats.rx_vlan_dropped++;
        return 1;
    }
    if (o->rx_count == CHIMNEY_CONN_RX_SLOTS) {
        return 0;
    }
    slot = &o->rx[(o->rx_head + o->rx_count++) % CHIMNEY_CONN_RX_SLOTS];
    slot->conn_id = chimney_conn_id(conn);
    slot->seg = seg;
    slot->payload = payload - buf;
    slot->len = size;
    memcpy(o->rx_frames + (slot - o->rx) * CHIMNEY_L2_MAX_FRAME, buf, size);
    chimney_schedule(s);
    return 1;
}
