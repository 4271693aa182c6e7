/*
 * chimney-nic miniport: completions of offloaded connections
 *
 * The DPC drains CQ 2, where every connection completes: each SEND sets
 * the NBL's status and TcpOffloadBytesTransferred and advances its
 * NET_BUFFERs by the bytes acknowledged, and the NBLs of one connection
 * in a row go to NdisTcpOffloadSendComplete as one chain.  Events become
 * NdisTcpOffloadEventHandler calls, INDICATE entries
 * NdisTcpOffloadReceiveHandler calls over the generic buffer, answered
 * with INDICATE_DONE.  NDIS is called only once the lock is dropped, and
 * nothing of a connection reaches NDIS before the initiate that
 * offloaded it has completed.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "mp-adapter.h"

/* --- completions (the DPC, under the lock) --- */

/* An event for NDIS, or for later if NDIS does not know @c yet */
static BOOLEAN mp_event(MpConn *c, ULONG type, ULONG info,
                        MpDeliveries *out)
{
    if (!c->announced) {
        if (c->nheld_event == MP_HELD_EVENTS) {
            return FALSE;
        }
        c->held_event[c->nheld_event].type = type;
        c->held_event[c->nheld_event++].info = info;
        return TRUE;
    }
    if (out->nevent == ARRAYSIZE(out->event)) {
        return FALSE;
    }
    out->event[out->nevent].ndis = c->obj.ndis;
    out->event[out->nevent].type = type;
    out->event[out->nevent++].info = info;
    return TRUE;
}

/*
 * TcpIndicateRetrieve for @c, once: a starved connection asks for its
 * upload, and the device may ask too (it refuses the empty entries that
 * keep the order); NDIS hears the first of them only.
 */
static BOOLEAN mp_ask_upload(MpConn *c, ULONG reason, MpDeliveries *out)
{
    if (c->upload_asked) {
        return TRUE;
    }
    if (!mp_event(c, TcpIndicateRetrieve, reason, out)) {
        return FALSE;
    }
    c->upload_asked = TRUE;
    return TRUE;
}

/* The upload a starved connection still has to ask for */
static VOID mp_upload_request(MpConn *c, MpDeliveries *out)
{
    if (c->want_upload &&
        mp_ask_upload(c, CHIMNEY_UPLOAD_REQUESTED, out)) {
        c->want_upload = FALSE;
    }
}

/* A slot came free: what waits for one goes in once the lock is dropped */
static VOID mp_wants_more(MpConn *c, MpDeliveries *out)
{
    if ((c->sq_wait || c->rcv_wait) && !c->more &&
        out->nmore < ARRAYSIZE(out->more)) {
        c->more = TRUE;
        out->more[out->nmore++] = c;
    }
}

/* A completion's NDIS status; a request that was never sent is uploaded */
static NDIS_STATUS mp_cqe_status(const ChimneyCqe *cqe, BOOLEAN failed)
{
    return failed ? NDIS_STATUS_UPLOAD_IN_PROGRESS :
        (NDIS_STATUS)chimney_guest_ndis_status(
            CHIMNEY_CQE_TYPE(cqe->type_status),
            CHIMNEY_CQE_STATUS(cqe->type_status));
}

/* Status, byte count and NB advance, as NdisTcpOffloadXxxComplete wants */
VOID mp_nbl_done(MpAdapter *a, PNET_BUFFER_LIST nbl, ULONG bytes,
                 NDIS_STATUS status)
{
    ULONG left = bytes;

    mp_unmap(a, nbl);
    nbl->Status = status;
    NET_BUFFER_LIST_INFO(nbl, TcpOffloadBytesTransferred) =
        (PVOID)(ULONG_PTR)bytes;
    for (PNET_BUFFER nb = nbl->FirstNetBuffer; nb && left; nb = nb->Next) {
        ULONG n = nb->DataLength < left ? nb->DataLength : left;

        NdisAdvanceNetBufferDataStart(nb, n, FALSE, NULL);
        left -= n;
    }
}

/* The DPC's running chain of send completions of one connection */
typedef struct MpSendRun {
    ChimneyGuestBatch batch;
    PNET_BUFFER_LIST head, *tail;
} MpSendRun;

static BOOLEAN mp_run_flush(MpSendRun *run, MpDeliveries *out)
{
    if (run->head) {
        out->send[out->nsend++] = run->head;
        run->head = NULL;
        run->tail = &run->head;
        chimney_guest_batch_reset(&run->batch);
    }
    return out->nsend < ARRAYSIZE(out->send);
}

static VOID mp_sq_done(MpAdapter *a, MpConn *c,
                       const ChimneyCqe *cqe, MpSendRun *run,
                       MpDeliveries *out)
{
    int slot = chimney_guest_sq_complete(&c->sq, cqe);
    MpReq *r;

    if (slot < 0) {
        DbgPrint("chimney-nic: completion out of order on %lx\n", c->obj.id);
        return;
    }
    r = &c->sq_req[slot];
    {
        /* The parts of a request add up in its NBL until the last */
        PNET_BUFFER_LIST nbl = r->nbl;
        ULONG bytes = (ULONG)(ULONG_PTR)
            NET_BUFFER_LIST_INFO(nbl, TcpOffloadBytesTransferred) +
            cqe->bytes;
        NDIS_STATUS st = mp_cqe_status(cqe, r->failed);

        if (nbl->Status == NDIS_STATUS_SUCCESS) {
            nbl->Status = st;
        }
        NET_BUFFER_LIST_INFO(nbl, TcpOffloadBytesTransferred) =
            (PVOID)(ULONG_PTR)bytes;
        mp_wants_more(c, out);
        if (!r->last) {
            return;
        }
        mp_nbl_done(a, nbl, bytes, nbl->Status);
    }
    mp_upload_request(c, out);
    if (!c->announced) {
        /* Handed over with the offload: NDIS hears of it afterwards */
        mp_append(CHIMNEY_CQE_TYPE(cqe->type_status) ==
                  CHIMNEY_CQE_DISCONNECT ? &c->held_disc_tail :
                  &c->held_send_tail, r->nbl);
        return;
    }
    if (CHIMNEY_CQE_TYPE(cqe->type_status) == CHIMNEY_CQE_DISCONNECT) {
        mp_append(&out->disc_tail, r->nbl);
        return;
    }
    if (chimney_guest_batch_add(&run->batch, cqe)) {
        out->send[out->nsend++] = run->head;    /* another connection's */
        run->head = NULL;
        run->tail = &run->head;
    }
    mp_append(&run->tail, r->nbl);
}

static VOID mp_rcv_done(MpAdapter *a, MpConn *c,
                        const ChimneyCqe *cqe, MpDeliveries *out)
{
    MpReq *r = &c->rcv_req[cqe->cookie % MP_CONN_RCVS];

    if (!chimney_guest_recv_complete(&c->rcv, cqe)) {
        DbgPrint("chimney-nic: receive completion refused on %lx\n",
                 c->obj.id);
        return;
    }
    /* Behind the view an INDICATE moved on: nothing new, not an error */
    chimney_guest_ring_consumed(&c->rq, cqe->sq_head);
    if (mp_ind_answer_post(a, c)) {
        mp_conn_doorbell(a, c);             /* room for a due answer */
    }
    mp_nbl_done(a, r->nbl, cqe->bytes, mp_cqe_status(cqe, r->failed));
    if (c->announced) {
        out->rcv[out->nrcv++] = r->nbl;
    } else {
        mp_append(&c->held_rcv_tail, r->nbl);
    }
    mp_wants_more(c, out);
    mp_upload_request(c, out);
}

/*
 * A FORWARD's completion: on the connection's CQ, or on the admin CQ when
 * the device refused it (the connection was gone).  Either way the NBL
 * completes and its slot is free.  False when @cqe is no FORWARD's.
 */
BOOLEAN mp_fwd_done(MpAdapter *a, const ChimneyCqe *cqe, MpDeliveries *out)
{
    for (ULONG i = 0; i < MP_FWD_SLOTS; i++) {
        if (a->fwd_nbl[i] && a->fwd_cookie[i] == cqe->cookie) {
            PNET_BUFFER_LIST nbl = a->fwd_nbl[i];

            a->fwd_nbl[i] = NULL;
            nbl->Status = (NDIS_STATUS)chimney_guest_ndis_status(
                CHIMNEY_CQE_ADMIN, CHIMNEY_CQE_STATUS(cqe->type_status));
            mp_append(&out->fwd_tail, nbl);
            return TRUE;
        }
    }
    return FALSE;
}

/*
 * Forward progress on @c (the peer acknowledged or sent data): its
 * neighbor is reachable now, which the host reads back as the neighbor's
 * NicReachabilityDelta.
 */
static VOID mp_progress(MpAdapter *a, MpConn *c)
{
    MpObj *path = c->obj.parent;

    if (path && path->parent) {
        path->parent->progress_ms = a->dpc_now_ms;
    }
}

static MpConn *mp_conn_by_id(MpAdapter *a, ULONG id)
{
    ULONG i = CHIMNEY_CONN_INDEX(id);

    return i < a->max_conns && a->conn[i]->obj.used &&
           a->conn[i]->obj.id == id ? a->conn[i] : NULL;
}

/*
 * Drain CQ 2 until it is empty or @out is full (the DPC then hands the
 * completions over and calls again).
 */
VOID mp_conn_cq_drain(MpAdapter *a, MpDeliveries *out)
{
    MpSendRun run = { .batch = { .max = 64 } };
    ChimneyCqe cqe;

    run.tail = &run.head;
    a->dpc_now_ms = mp_now_ms();
    for (;;) {
        if (out->nsend >= ARRAYSIZE(out->send) - 1 ||
            out->nrcv == ARRAYSIZE(out->rcv) ||
            out->nevent == ARRAYSIZE(out->event) ||
            out->nind == ARRAYSIZE(out->ind) ||
            out->ndone == ARRAYSIZE(out->done)) {
            out->full = TRUE;
            break;
        }
        if (!chimney_guest_cq_next(&a->conn_cq, &a->dev.mem, &cqe)) {
            break;
        }
        MpConn *c = mp_conn_by_id(a, cqe.obj);
        ULONG type = CHIMNEY_CQE_TYPE(cqe.type_status);

        if (type != CHIMNEY_CQE_SEND) {
            /* What follows a send completion must reach NDIS after it */
            mp_run_flush(&run, out);
        }
        if (type == CHIMNEY_CQE_ADMIN) {
            chimney_guest_ring_consumed(&a->dev.asq, cqe.sq_head);
            if (!mp_job_admin_done(a, &cqe, out)) {
                mp_fwd_done(a, &cqe, out);
            }
            continue;
        }
        if (!c) {
            DbgPrint("chimney-nic: completion for unknown %lx\n", cqe.obj);
            continue;
        }
        if (cqe.bytes || type == CHIMNEY_CQE_INDICATE) {
            mp_progress(a, c);      /* acknowledged or received data */
        }
        switch (type) {
        case CHIMNEY_CQE_SEND:
        case CHIMNEY_CQE_DISCONNECT:
            mp_sq_done(a, c, &cqe, &run, out);
            break;
        case CHIMNEY_CQE_RECV:
            mp_rcv_done(a, c, &cqe, out);
            break;
        case CHIMNEY_CQE_INDICATE:
            if (c->ind_done_posted) {
                /* The device took the last answer: its slot is free */
                chimney_guest_ring_consumed(&c->rq, c->ind_done_pos);
                c->ind_done_posted = FALSE;
            }
            c->ind = cqe;
            c->has_ind = TRUE;
            if (c->announced) {
                out->ind[out->nind++] = c;
            }
            break;
        case CHIMNEY_CQE_EVENT:
            if (cqe.aux == CHIMNEY_EVENT_ABORT && !c->aborted) {
                c->aborted = TRUE;          /* for TCP_OFFLOAD_STATS */
                a->reset_established++;
            }
            if (!(cqe.aux == CHIMNEY_EVENT_ABORT ?
                  mp_event(c, TcpIndicateAbort, cqe.info, out) :
                  cqe.aux == CHIMNEY_EVENT_DISCONNECT ?
                  mp_event(c, TcpIndicateDisconnect, cqe.info, out) :
                  mp_ask_upload(c, cqe.info, out))) {
                DbgPrint("chimney-nic: event dropped on %lx\n", c->obj.id);
            }
            break;
        }
    }
    mp_run_flush(&run, out);
    mp_writel(a, CHIMNEY_DB_CQ_HEAD(MP_CONN_CQ), a->conn_cq.head);
}

/* Under the lock: generic buffer i to the device */
VOID mp_ind_post(MpAdapter *a, ULONG i)
{
    ChimneyL2RxDesc r;

    chimney_guest_l2_rx_desc(&r, a->chimney_pa.QuadPart + MP_CH_IND_BUF +
                             (ULONG64)i * MP_IND_SLOT, MP_IND_SLOT,
                             i);
    chimney_guest_ring_put(&a->indq, &a->dev.mem, &r);
    mp_writel(a, CHIMNEY_DB_IND_TAIL, a->indq.tail);
}

/*
 * Under the lock: the INDICATE_DONE that is due, if the RQ has room for
 * it (the caller rings the doorbell).  True when it went in.
 */
BOOLEAN mp_ind_answer_post(MpAdapter *a, MpConn *c)
{
    ChimneySqDesc d;

    if (!c->ind_answer_due || !c->obj.used ||
        !chimney_guest_ring_space(&c->rq)) {
        return FALSE;
    }
    chimney_guest_sq_desc(&d, CHIMNEY_RQ_INDICATE_DONE, 0, 0,
                          c->ind_answer_took, 0, 0);
    chimney_guest_ring_put(&c->rq, &a->dev.mem, &d);
    c->ind_answer_due = FALSE;
    c->ind_done_posted = TRUE;
    c->ind_done_pos = c->rq.tail;
    return TRUE;
}

/*
 * Under the lock: the INDICATE_DONE answer, and maybe the buffer back.
 * With the RQ full the answer waits for room (mp_conn_flush posts it).
 */
static VOID mp_ind_answer(MpAdapter *a, MpConn *c, ULONG i,
                          ULONG took, BOOLEAN repost)
{
    c->ind_answer_due = TRUE;
    c->ind_answer_took = took;
    if (mp_ind_answer_post(a, c)) {
        mp_conn_doorbell(a, c);
    }
    if (repost) {
        mp_ind_post(a, i);
    }
}

/* One indication: NdisTcpOffloadReceiveHandler, without the lock */
static VOID mp_indicate(MpAdapter *a, MpConn *c)
{
    ULONG i, took = 0;
    PNET_BUFFER_LIST nbl;
    NDIS_STATUS st;
    ChimneyCqe cqe;

    NdisAcquireSpinLock(&a->lock);
    cqe = c->ind;
    c->has_ind = FALSE;
    i = (ULONG)cqe.cookie;
    NdisReleaseSpinLock(&a->lock);
    if (i >= MP_IND_ENTRIES || cqe.bytes > MP_IND_SLOT ||
        CHIMNEY_CQE_STATUS(cqe.type_status)) {
        return;
    }
    nbl = a->ind_nbl[i];
    nbl->FirstNetBuffer->DataLength = cqe.bytes;
    nbl->FirstNetBuffer->CurrentMdlOffset = 0;
    nbl->Next = NULL;
    nbl->Status = NDIS_STATUS_SUCCESS;
    NBL_KIND(nbl) = MP_NBL_IND(i);
    st = a->tcp.NdisTcpOffloadReceiveHandler(c->obj.ndis, nbl,
                                             NDIS_STATUS_SUCCESS, &took);
    NdisAcquireSpinLock(&a->lock);
    if (st == NDIS_STATUS_SUCCESS) {
        mp_ind_answer(a, c, i, cqe.bytes, FALSE); /* NDIS returns it */
    } else {
        if (st != NDIS_STATUS_OFFLOAD_DATA_PARTIALLY_ACCEPTED ||
            took > cqe.bytes) {
            took = 0;
        }
        mp_ind_answer(a, c, i, took, TRUE);
    }
    NdisReleaseSpinLock(&a->lock);
}

/* One NBL per NdisTcpOffloadDisconnectComplete call, as the DDI wants */
static VOID mp_disconnects_complete(MpAdapter *a, PNET_BUFFER_LIST nbl)
{
    PNET_BUFFER_LIST next;

    for (; nbl; nbl = next) {
        next = nbl->Next;
        nbl->Next = NULL;
        a->tcp.NdisTcpOffloadDisconnectComplete(a->miniport, nbl);
    }
}

/* Outside the lock, in the order NDIS wants them */
VOID mp_conn_deliver(MpAdapter *a, MpDeliveries *out)
{
    for (ULONG i = 0; i < out->nsend; i++) {
        a->tcp.NdisTcpOffloadSendComplete(a->miniport, out->send[i]);
    }
    mp_disconnects_complete(a, out->disc);
    for (ULONG i = 0; i < out->nrcv; i++) {
        a->tcp.NdisTcpOffloadReceiveComplete(a->miniport, out->rcv[i]);
    }
    if (out->fwd) {
        a->tcp.NdisTcpOffloadForwardComplete(a->miniport, out->fwd);
    }
    for (ULONG i = 0; i < out->nind; i++) {
        mp_indicate(a, out->ind[i]);
    }
    for (ULONG i = 0; i < out->nmore; i++) {
        NdisAcquireSpinLock(&a->lock);
        out->more[i]->more = FALSE;
        NdisReleaseSpinLock(&a->lock);
        mp_conn_more(a, out->more[i]);
    }
    for (ULONG i = 0; i < out->nevent; i++) {
        a->tcp.NdisTcpOffloadEventHandler(out->event[i].ndis,
                                          out->event[i].type,
                                          out->event[i].info);
    }
}

/* Outside the lock: what the DPC or a handler collected, in order */
VOID mp_deliver(MpAdapter *a, MpDeliveries *out)
{
    mp_conn_deliver(a, out);
    mp_jobs_deliver(a, out);
}

/*
 * After NdisMInitiateOffloadComplete returned, outside the lock: what
 * completed on @c meanwhile goes up in its order, then @c is announced
 * (and its first indication goes up).  Until then the DPC keeps adding
 * to the held lists, so nothing overtakes them.
 */
static VOID mp_release(MpAdapter *a, MpConn *c)
{
    for (;;) {
        PNET_BUFFER_LIST send, disc, rcv;
        ULONG type[MP_HELD_EVENTS], info[MP_HELD_EVENTS], n;
        BOOLEAN ind = FALSE;

        NdisAcquireSpinLock(&a->lock);
        send = c->held_send;
        disc = c->held_disc;
        rcv = c->held_rcv;
        n = c->nheld_event;
        for (ULONG i = 0; i < n; i++) {
            type[i] = c->held_event[i].type;
            info[i] = c->held_event[i].info;
        }
        c->held_send = c->held_disc = c->held_rcv = NULL;
        c->held_send_tail = &c->held_send;
        c->held_disc_tail = &c->held_disc;
        c->held_rcv_tail = &c->held_rcv;
        c->nheld_event = 0;
        if (!send && !disc && !rcv && !n) {
            c->tag = NULL;
            c->announced = TRUE;
            ind = c->has_ind;
        }
        NdisReleaseSpinLock(&a->lock);
        if (!send && !disc && !rcv && !n) {
            if (ind) {
                mp_indicate(a, c);
            }
            return;
        }
        if (send) {
            a->tcp.NdisTcpOffloadSendComplete(a->miniport, send);
        }
        mp_disconnects_complete(a, disc);
        if (rcv) {
            a->tcp.NdisTcpOffloadReceiveComplete(a->miniport, rcv);
        }
        for (ULONG i = 0; i < n; i++) {
            a->tcp.NdisTcpOffloadEventHandler(c->obj.ndis, type[i], info[i]);
        }
    }
}

/* After NdisMInitiateOffloadComplete: the connections it offloaded */
VOID mp_announce(MpAdapter *a, struct MpJob *job)
{
    for (ULONG i = 0; i < a->max_conns; i++) {
        MpConn *c = a->conn[i];
        BOOLEAN mine;

        NdisAcquireSpinLock(&a->lock);
        mine = c->tag == job;
        NdisReleaseSpinLock(&a->lock);
        if (mine) {
            mp_release(a, c);
        }
    }
}
