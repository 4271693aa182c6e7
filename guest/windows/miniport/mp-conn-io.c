/*
 * chimney-nic miniport: I/O on offloaded connections, going down
 *
 * MiniportTcpOffloadSend, Disconnect and Receive become entries of the
 * connection's send or receive queue; their data is mapped with NDIS's
 * scatter-gather DMA, one NET_BUFFER after the other, straight into the
 * request's SGL, and a request reaches the queue only when every request
 * before it has, so the device sees them in the order NDIS gave them.
 * Forwarded segments are copied into one of a few bounce slots for the
 * FORWARD command.  Their completions are mp-conn-cq.c's.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "mp-adapter.h"

VOID mp_append(PNET_BUFFER_LIST **tail, PNET_BUFFER_LIST nbl)
{
    nbl->Next = NULL;
    **tail = nbl;
    *tail = &nbl->Next;
}

/* --- mapping requests and posting them in order --- */

/* An empty entry in @r's place, completed as uploaded; upload requested */
static VOID mp_starve(MpConn *c, MpReq *r)
{
    r->failed = TRUE;
    r->nsge = 0;
    r->len = 0;
    if (!c->starved) {
        c->starved = TRUE;
        c->want_upload = TRUE;
    }
}

/*
 * Publish the producer indices, then ring, unless the device's doorbell
 * hint (asked for at OFFLOAD_TCP when it has the feature) says that it
 * reads the record anyway: ACKs are due, or its data waits for the
 * backend.  The record starts zeroed, and zero is RING.
 */
VOID mp_conn_doorbell(MpAdapter *a, MpConn *c)
{
    /* volatile: the device writes the hint word */
    volatile ULONG *rec = (volatile ULONG *)(c->mem + MP_CONN_DB);

    rec[0] = c->sq.ring.tail;
    rec[1] = c->rq.tail;
    _mm_mfence();               /* the record before the doorbell or hint */
    if (!c->offloaded) {
        return;
    }
    if ((a->id.features & CHIMNEY_FEAT_DB_HINT) &&
        rec[offsetof(ChimneyDbRecord, hint) / sizeof(ULONG)] ==
        CHIMNEY_HINT_SKIP) {
        return;
    }
    mp_writel(a, CHIMNEY_DB_CONN_SQ, c->obj.id);
}

/*
 * Under the lock: post the mapped requests at the head of the send queue,
 * then the receives in cookie order.  A request whose mapping failed
 * (scatter-gather resources ran out) goes as an empty one so that its
 * place in the order is kept.  From then on the connection cannot carry
 * its data in order: it and every later request complete with
 * UPLOAD_IN_PROGRESS (the host sends them again after the upload), and
 * the connection asks for its upload (chimney.md 2.3, resource
 * constraint).
 */
static VOID mp_conn_flush(MpAdapter *a, MpConn *c)
{
    BOOLEAN rang = FALSE;
    ChimneySqDesc d;

    while (c->sq.ring.tail != c->sq_reserved) {
        MpReq *r = &c->sq_req[c->sq.ring.tail];
        UCHAR n = r->nslots;

        if (!r->ready) {
            break;
        }
        if (r->failed || c->starved) {
            mp_starve(c, r);
        }
        r->nbl->Status = NDIS_STATUS_SUCCESS;   /* the parts add up here */
        NET_BUFFER_LIST_INFO(r->nbl, TcpOffloadBytesTransferred) = 0;
        for (UCHAR j = 0; j < n; j++) {
            MpReq *p = &c->sq_req[c->sq.ring.tail];

            if (r->failed) {
                p->failed = TRUE;
                p->nsge = 0;
                p->len = 0;
            }
            /* PSH on the request's last entry only */
            chimney_guest_sq_post(&c->sq, &a->dev.mem, r->type,
                                  p->last ? r->flags :
                                  r->flags & ~CHIMNEY_SQF_PUSH,
                                  p->nsge, p->len, (ULONG_PTR)p, p->sgl_pa);
        }
        rang = TRUE;
    }
    rang |= mp_ind_answer_post(a, c);   /* before the receives after it */
    while (c->rcv_posted != c->rcv_next) {
        ULONG i = c->rcv_posted % MP_CONN_RCVS;
        MpReq *r = &c->rcv_req[i];

        if (!r->ready || !chimney_guest_ring_space(&c->rq)) {
            break;
        }
        if (r->failed || c->starved) {
            mp_starve(c, r);
        }
        chimney_guest_sq_desc(&d, CHIMNEY_RQ_RECEIVE, r->flags, r->nsge,
                              r->len, c->rcv_posted, r->sgl_pa);
        chimney_guest_ring_put(&c->rq, &a->dev.mem, &d);
        c->rcv_posted++;
        rang = TRUE;
    }
    if (rang) {
        mp_conn_doorbell(a, c);
    }
    if (c->job && c->sq.ring.tail == c->sq_reserved) {
        mp_job_mapped(a, c);
    }
}

static VOID mp_map(MpAdapter *a, MpReq *r);

/*
 * Under the lock: an NB's elements after the request's others, slot by
 * slot (each slot's SGL takes MP_REQ_SGE).  False when they do not fit.
 */
static BOOLEAN mp_req_add(MpConn *c, MpReq *r, PSCATTER_GATHER_LIST sgl)
{
    ULONG mask = MP_CONN_SQ_ENTRIES - 1;
    ULONG first = r->type == CHIMNEY_RQ_RECEIVE ? 0 : r - c->sq_req;
    ULONG used = r->filled;

    if (used + sgl->NumberOfElements > (ULONG)r->nslots * MP_REQ_SGE) {
        return FALSE;
    }
    for (ULONG i = 0; i < sgl->NumberOfElements; i++, used++) {
        MpReq *p = r->type == CHIMNEY_RQ_RECEIVE ? r :
                   &c->sq_req[(first + used / MP_REQ_SGE) & mask];

        chimney_guest_sge(&p->sgl[p->nsge++],
                          sgl->Elements[i].Address.QuadPart,
                          sgl->Elements[i].Length);
        p->len += sgl->Elements[i].Length;
    }
    r->filled = used;
    return TRUE;
}

/* NDIS's scatter-gather list of r->nb: into the request's SGL */
static VOID mp_sg_done(PDEVICE_OBJECT dev, PVOID reserved,
                       PSCATTER_GATHER_LIST sgl, PVOID context)
{
    MpReq *r = context;
    MpConn *c = r->conn;
    MpAdapter *a = c->adapter;
    PNET_BUFFER nb = r->nb;
    BOOLEAN more = FALSE;

    NdisAcquireSpinLock(&a->lock);
    NB_SGL(nb) = sgl;
    if (!mp_req_add(c, r, sgl)) {
        r->failed = TRUE;
    }
    r->nb = nb->Next;
    more = r->nb && !r->failed;
    if (!more) {
        r->ready = TRUE;
        mp_conn_flush(a, c);
    }
    NdisReleaseSpinLock(&a->lock);
    if (more) {
        mp_map(a, r);
    }
}

/* Outside the lock: NDIS may call mp_sg_done before it returns */
static VOID mp_map(MpAdapter *a, MpReq *r)
{
    PNET_BUFFER nb = r->nb;

    while (nb && !nb->DataLength) {
        NB_SGL(nb) = NULL;
        nb = nb->Next;
    }
    r->nb = nb;
    if (nb && NdisMAllocateNetBufferSGList(a->dma, nb, r,
                r->type == CHIMNEY_RQ_RECEIVE ? 0 :
                NDIS_SG_LIST_WRITE_TO_DEVICE, NULL, 0) ==
              NDIS_STATUS_SUCCESS) {
        return;
    }
    NdisAcquireSpinLock(&a->lock);
    r->failed |= nb != NULL;
    r->ready = TRUE;
    mp_conn_flush(a, r->conn);
    NdisReleaseSpinLock(&a->lock);
}

VOID mp_unmap(MpAdapter *a, PNET_BUFFER_LIST nbl)
{
    for (PNET_BUFFER nb = nbl->FirstNetBuffer; nb; nb = nb->Next) {
        if (NB_SGL(nb)) {
            NdisMFreeNetBufferSGList(a->dma, NB_SGL(nb), nb);
            NB_SGL(nb) = NULL;
        }
    }
}

static VOID mp_req_init(MpReq *r, MpConn *c,
                        PNET_BUFFER_LIST nbl, UCHAR type, UCHAR flags)
{
    r->nbl = nbl;
    r->conn = c;
    r->nb = nbl ? nbl->FirstNetBuffer : NULL;
    r->nsge = 0;
    r->len = 0;
    r->type = type;
    r->flags = flags;
    r->ready = FALSE;
    r->failed = FALSE;
    r->nslots = 1;
    r->last = TRUE;
    r->filled = 0;
    for (PNET_BUFFER nb = r->nb; nb; nb = nb->Next) {
        NB_SGL(nb) = NULL;
    }
    if (nbl) {
        NBL_REQ(nbl) = r;
    }
}

/*
 * SQ slots a send needs: each NB maps to at most a page per 4 KiB, one
 * more for where it starts in its page, one more per MDL it spans.
 */
static ULONG mp_slots_for(PNET_BUFFER_LIST nbl, UCHAR type)
{
    ULONG sge = 0;

    if (type != CHIMNEY_SQ_SEND) {
        return 1;
    }
    for (PNET_BUFFER nb = nbl->FirstNetBuffer; nb; nb = nb->Next) {
        ULONG left = nb->DataLength + nb->CurrentMdlOffset;

        sge += nb->DataLength / PAGE_SIZE + 1;
        for (PMDL m = nb->CurrentMdl; m && left; m = m->Next) {
            ULONG n = MmGetMdlByteCount(m);

            sge++;
            left -= n < left ? n : left;
        }
    }
    return (sge + MP_REQ_SGE - 1) / MP_REQ_SGE;
}

/*
 * Under the lock: the next send-queue slots for @nbl, or NULL when they
 * are taken.  A send too long for MP_REQ_MAX_SLOTS takes one slot and
 * fails (uploaded, like one whose mapping failed).
 */
static MpReq *mp_sq_reserve(MpConn *c, PNET_BUFFER_LIST nbl,
                            UCHAR type, UCHAR flags)
{
    ULONG mask = MP_CONN_SQ_ENTRIES - 1;
    ULONG want = mp_slots_for(nbl, type);
    BOOLEAN too_long = want > MP_REQ_MAX_SLOTS;
    MpReq *r;

    if (too_long) {
        want = 1;
    }
    if (((c->sq.ring.head - c->sq_reserved - 1) & mask) < want) {
        return NULL;
    }
    r = &c->sq_req[c->sq_reserved];
    mp_req_init(r, c, nbl, type, flags);
    r->nslots = want;
    r->last = want == 1;
    for (ULONG j = 0; j < want; j++) {
        MpReq *p = &c->sq_req[(c->sq_reserved + j) & mask];

        p->nsge = 0;
        p->len = 0;
        if (j) {
            p->nbl = nbl;
            p->conn = c;
            p->nslots = 0;
            p->failed = FALSE;
            p->last = j == want - 1;
        }
    }
    c->sq_reserved = (c->sq_reserved + want) & mask;
    if (too_long) {
        r->nb = NULL;                   /* nothing to map: an empty entry */
        r->failed = TRUE;
    }
    return r;
}

/*
 * The send data NDIS hands over with the offload (NetBufferListChain, one
 * NB per NBL, starting at SndUna): SQ entries [0, count) before
 * OFFLOAD_TCP.  False when the queue cannot take them all.
 */
BOOLEAN mp_conn_handover(MpConn *c, PNET_BUFFER_LIST chain,
                         ULONG *count)
{
    MpAdapter *a = c->adapter;
    MpReq *req[MP_CONN_SQ_ENTRIES];
    ULONG n = 0;

    for (PNET_BUFFER_LIST nbl = chain; nbl; nbl = nbl->Next) {
        req[n] = mp_sq_reserve(c, nbl, CHIMNEY_SQ_SEND,
                               nbl->Next ? 0 : CHIMNEY_SQF_PUSH);
        if (!req[n++]) {
            return FALSE;
        }
    }
    *count = n;
    NdisReleaseSpinLock(&a->lock);
    for (ULONG i = 0; i < n; i++) {
        mp_map(a, req[i]);
    }
    NdisAcquireSpinLock(&a->lock);
    return TRUE;
}

/* The object a MiniportOffloadContext (a PVOID *) names, if offloaded */
static MpConn *mp_conn_of(MpAdapter *a, PVOID context)
{
    MpObj *o = context ? *(PVOID *)context : NULL;

    return o && o->kind == MP_KIND_TCP && o->used ?
           (MpConn *)o : NULL;
}

static ULONG mp_rcv_take(MpConn *c, MpReq **req, ULONG max);

/* Under the lock: waiting sends and disconnects into free SQ slots */
static ULONG mp_sq_take(MpConn *c, MpReq **req, ULONG max)
{
    ULONG n = 0;

    while (c->sq_wait && n < max) {
        PNET_BUFFER_LIST nbl = c->sq_wait;
        ULONG how = (ULONG)(ULONG_PTR)NBL_KIND(nbl);
        MpReq *r = mp_sq_reserve(c, nbl, how & 0xff, how >> 8);

        if (!r) {
            break;
        }
        c->sq_wait = nbl->Next;
        if (!c->sq_wait) {
            c->sq_wait_tail = &c->sq_wait;
        }
        nbl->Next = NULL;
        req[n++] = r;
    }
    return n;
}

/*
 * Send and disconnect: in order behind what waits for a slot, mapped and
 * posted, completed from the DPC.  NDIS made the connection, so an
 * unknown one is a connection being uploaded.
 */
static NDIS_STATUS mp_sq_submit(MpAdapter *a, PVOID context,
                                PNET_BUFFER_LIST nbl, UCHAR type,
                                UCHAR flags)
{
    MpReq *req[MP_CONN_SQ_ENTRIES];
    MpConn *c;
    ULONG n = 0;

    NdisAcquireSpinLock(&a->lock);
    c = mp_conn_of(a, context);
    if (!c || !c->offloaded) {
        NdisReleaseSpinLock(&a->lock);
        for (PNET_BUFFER_LIST l = nbl; l; l = l->Next) {
            l->Status = NDIS_STATUS_UPLOAD_IN_PROGRESS;
            NET_BUFFER_LIST_INFO(l, TcpOffloadBytesTransferred) = 0;
        }
        if (type == CHIMNEY_SQ_SEND) {
            a->tcp.NdisTcpOffloadSendComplete(a->miniport, nbl);
        } else {
            a->tcp.NdisTcpOffloadDisconnectComplete(a->miniport, nbl);
        }
        return NDIS_STATUS_PENDING;
    }
    if (type == CHIMNEY_SQ_DISCONNECT && (flags & CHIMNEY_SQF_ABORTIVE)) {
        a->out_resets++;
    }
    *c->sq_wait_tail = nbl;
    for (;;) {
        /* PSH at the end of each call's data (chimney.md 2.1) */
        UCHAR f = flags | (type == CHIMNEY_SQ_SEND && !nbl->Next ?
                           CHIMNEY_SQF_PUSH : 0);

        NBL_KIND(nbl) = (PVOID)(ULONG_PTR)(type | (f << 8));
        if (!nbl->Next) {
            break;
        }
        nbl = nbl->Next;
    }
    c->sq_wait_tail = &nbl->Next;
    n = mp_sq_take(c, req, ARRAYSIZE(req));
    NdisReleaseSpinLock(&a->lock);
    for (ULONG i = 0; i < n; i++) {
        mp_map(a, req[i]);
    }
    return NDIS_STATUS_PENDING;
}

/* Outside the lock: requests that waited for room, after completions */
VOID mp_conn_more(MpAdapter *a, MpConn *c)
{
    MpReq *req[MP_CONN_SQ_ENTRIES + MP_CONN_RCVS];
    ULONG n;

    NdisAcquireSpinLock(&a->lock);
    n = c->offloaded ? mp_sq_take(c, req, MP_CONN_SQ_ENTRIES) : 0;
    n += c->offloaded ? mp_rcv_take(c, req + n, MP_CONN_RCVS) : 0;
    NdisReleaseSpinLock(&a->lock);
    for (ULONG i = 0; i < n; i++) {
        mp_map(a, req[i]);
    }
}

NDIS_STATUS mp_tcp_offload_send(NDIS_HANDLE context, PVOID offload_context,
                                PNET_BUFFER_LIST nbl)
{
    return mp_sq_submit(context, offload_context, nbl, CHIMNEY_SQ_SEND,
                        0);
}

NDIS_STATUS mp_tcp_offload_disconnect(NDIS_HANDLE context,
                                      PVOID offload_context,
                                      PNET_BUFFER_LIST nbl, ULONG flags)
{
    nbl->Next = NULL;
    return mp_sq_submit(context, offload_context, nbl,
                        CHIMNEY_SQ_DISCONNECT,
                        (flags & TCP_DISCONNECT_ABORTIVE_CLOSE) ?
                        CHIMNEY_SQF_ABORTIVE : 0);
}

/* Under the lock: receives wait for a slot of the FIFO, then are mapped */
static ULONG mp_rcv_take(MpConn *c, MpReq **req, ULONG max)
{
    ULONG n = 0;

    while (c->rcv_wait && n < max && c->rcv.count < MP_CONN_RCVS) {
        PNET_BUFFER_LIST nbl = c->rcv_wait;
        MpReq *r = &c->rcv_req[c->rcv_next % MP_CONN_RCVS];

        c->rcv_wait = nbl->Next;
        if (!c->rcv_wait) {
            c->rcv_wait_tail = &c->rcv_wait;
        }
        nbl->Next = NULL;
        mp_req_init(r, c, nbl, CHIMNEY_RQ_RECEIVE,
                    NET_BUFFER_LIST_INFO(nbl, TcpReceiveNoPush) ?
                    CHIMNEY_RQF_NO_PUSH : 0);
        chimney_guest_recv_posted(&c->rcv, c->rcv_next);
        c->rcv_next++;
        req[n++] = r;
    }
    return n;
}

NDIS_STATUS mp_tcp_offload_receive(NDIS_HANDLE context, PVOID offload_context,
                                   PNET_BUFFER_LIST nbl)
{
    MpAdapter *a = context;
    MpReq *req[MP_CONN_RCVS];
    MpConn *c;
    ULONG n = 0;

    NdisAcquireSpinLock(&a->lock);
    c = mp_conn_of(a, offload_context);
    if (!c || !c->offloaded) {
        NdisReleaseSpinLock(&a->lock);
        for (PNET_BUFFER_LIST l = nbl; l; l = l->Next) {
            l->Status = NDIS_STATUS_UPLOAD_IN_PROGRESS;
            NET_BUFFER_LIST_INFO(l, TcpOffloadBytesTransferred) = 0;
        }
        a->tcp.NdisTcpOffloadReceiveComplete(a->miniport, nbl);
        return NDIS_STATUS_PENDING;
    }
    *c->rcv_wait_tail = nbl;
    while (nbl->Next) {
        nbl = nbl->Next;
    }
    c->rcv_wait_tail = &nbl->Next;
    n = mp_rcv_take(c, req, MP_CONN_RCVS);
    NdisReleaseSpinLock(&a->lock);
    for (ULONG i = 0; i < n; i++) {
        mp_map(a, req[i]);
    }
    return NDIS_STATUS_PENDING;
}

/* --- forward: one segment per NBL, through a bounce slot --- */

static PUCHAR mp_fwd_slot(MpAdapter *a, ULONG i, ULONG64 *pa)
{
    ULONG off = MP_CH_FWD + i * MP_FWD_SLOT;

    *pa = a->chimney_pa.QuadPart + off;
    return a->chimney_mem + off;
}

/* Under the lock: start what waits while slots and the admin SQ allow */
VOID mp_fwd_kick(MpAdapter *a, PNET_BUFFER_LIST **failed)
{
    for (ULONG i = 0; i < MP_FWD_SLOTS && a->fwd_wait; i++) {
        PNET_BUFFER_LIST nbl = a->fwd_wait;
        MpConn *c = NBL_REQ(nbl);
        PNET_BUFFER nb = nbl->FirstNetBuffer;
        ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_FORWARD };
        ULONG64 pa;
        PUCHAR buf = mp_fwd_slot(a, i, &pa);

        if (a->fwd_nbl[i]) {
            continue;
        }
        if (!chimney_guest_ring_space(&a->dev.asq)) {
            return;
        }
        a->fwd_wait = nbl->Next;
        if (!a->fwd_wait) {
            a->fwd_wait_tail = &a->fwd_wait;
        }
        if (c && (!c->obj.used || c->obj.id != (ULONG_PTR)NBL_KIND(nbl))) {
            c = NULL;                   /* terminated meanwhile */
        }
        if (!c || !nb || nb->DataLength > MP_FWD_SLOT ||
            !mp_copy_nb(nb, buf)) {
            nbl->Status = c ? NDIS_STATUS_FAILURE :
                              NDIS_STATUS_UPLOAD_IN_PROGRESS;
            mp_append(failed, nbl);
            i--;
            continue;
        }
        cmd.id = c->obj.id;
        cmd.addr = pa;
        cmd.len = nb->DataLength;
        cmd.cookie = ++a->dev.next_cookie;
        a->fwd_cookie[i] = cmd.cookie;
        a->fwd_nbl[i] = nbl;
        chimney_guest_admin_submit(&a->dev, &cmd);
    }
}

NDIS_STATUS mp_tcp_offload_forward(NDIS_HANDLE context, PVOID offload_context,
                                   PNET_BUFFER_LIST nbl)
{
    MpAdapter *a = context;
    PNET_BUFFER_LIST failed = NULL, *failed_tail = &failed, next;
    MpConn *c;

    NdisAcquireSpinLock(&a->lock);
    c = mp_conn_of(a, offload_context);
    for (; nbl; nbl = next) {
        next = nbl->Next;
        NBL_REQ(nbl) = c;
        NBL_KIND(nbl) = c ? (PVOID)(ULONG_PTR)c->obj.id : NULL;
        mp_append(&a->fwd_wait_tail, nbl);
    }
    mp_fwd_kick(a, &failed_tail);
    NdisReleaseSpinLock(&a->lock);
    if (failed) {
        a->tcp.NdisTcpOffloadForwardComplete(a->miniport, failed);
    }
    return NDIS_STATUS_PENDING;
}

/* Indication buffers and received data given back with a terminate */
NDIS_STATUS mp_tcp_offload_receive_return(NDIS_HANDLE context,
                                          PNET_BUFFER_LIST nbl)
{
    MpAdapter *a = context;
    PNET_BUFFER_LIST next;

    for (; nbl; nbl = next) {
        next = nbl->Next;
        if (NBL_KIND(nbl) == MP_NBL_BUFFERED) {
            PMDL mdl = nbl->FirstNetBuffer->MdlChain;
            PVOID va = MmGetMdlVirtualAddress(mdl);
            ULONG len = MmGetMdlByteCount(mdl);

            NdisFreeNetBufferList(nbl);
            NdisFreeMdl(mdl);
            NdisFreeMemory(va, len, 0);
            continue;
        }
        if (MP_NBL_IND_INDEX(NBL_KIND(nbl)) < MP_IND_ENTRIES) {
            NdisAcquireSpinLock(&a->lock);
            mp_ind_post(a, MP_NBL_IND_INDEX(NBL_KIND(nbl)));
            NdisReleaseSpinLock(&a->lock);
        }
    }
    return NDIS_STATUS_SUCCESS;
}

/* Received bytes TERMINATE returned, as the delegated BufferedData */
PNET_BUFFER_LIST mp_buffered_nbl(MpAdapter *a, const VOID *data,
                                 ULONG len)
{
    PVOID va = NdisAllocateMemoryWithTagPriority(a->miniport, len,
                                                 MP_POOL_TAG,
                                                 NormalPoolPriority);
    PMDL mdl = va ? NdisAllocateMdl(a->miniport, va, len) : NULL;
    PNET_BUFFER_LIST nbl = mdl ?
        NdisAllocateNetBufferAndNetBufferList(a->ind_pool, 0, 0, mdl, 0, len) :
        NULL;

    if (!nbl) {
        if (mdl) {
            NdisFreeMdl(mdl);
        }
        if (va) {
            NdisFreeMemory(va, len, 0);
        }
        return NULL;
    }
    memcpy(va, data, len);
    NBL_KIND(nbl) = MP_NBL_BUFFERED;
    return nbl;
}

/* --- connections --- */

/* Under the lock: a free connection with a fresh id, queues reset */
MpConn *mp_conn_new(MpAdapter *a)
{
    uint32_t id;
    MpConn *c;

    if (!chimney_guest_conn_alloc(&a->conn_ids, &id)) {
        return NULL;
    }
    c = a->conn[CHIMNEY_CONN_INDEX(id)];
    c->obj.kind = MP_KIND_TCP;
    c->obj.id = id;
    c->obj.used = FALSE;
    c->obj.parent = NULL;
    c->obj.ndis = NULL;
    chimney_guest_sq_init(&c->sq, c->mem_pa.QuadPart + MP_CONN_SQ,
                          MP_CONN_SQ_ENTRIES, c->sq_cookie);
    c->sq_reserved = 0;
    chimney_guest_ring_init(&c->rq, c->mem_pa.QuadPart + MP_CONN_RQ,
                            MP_CONN_RCVS, sizeof(ChimneySqDesc));
    chimney_guest_recv_init(&c->rcv, c->rcv_cookie, MP_CONN_RCVS);
    c->rcv_next = 0;
    c->rcv_posted = 0;
    c->rcv_wait = NULL;
    c->rcv_wait_tail = &c->rcv_wait;
    c->sq_wait = NULL;
    c->sq_wait_tail = &c->sq_wait;
    c->more = FALSE;
    c->starved = FALSE;
    c->want_upload = FALSE;
    c->upload_asked = FALSE;
    c->offloaded = FALSE;
    c->announced = FALSE;
    c->aborted = FALSE;
    c->has_ind = FALSE;
    c->ind_done_posted = FALSE;
    c->ind_answer_due = FALSE;
    c->held_send = c->held_disc = c->held_rcv = NULL;
    c->held_send_tail = &c->held_send;
    c->held_disc_tail = &c->held_disc;
    c->held_rcv_tail = &c->held_rcv;
    c->nheld_event = 0;
    c->job = NULL;
    c->tag = NULL;
    /* the indices, and the hint at RING (0) until the device says more */
    memset(c->mem + MP_CONN_DB, 0, sizeof(ChimneyDbRecord));
    return c;
}

/*
 * Under the lock, once the device is done with the connection (TERMINATE
 * completed, or OFFLOAD_TCP failed): its id goes back.  Requests the
 * device never saw are not completed: after a failed offload NDIS keeps
 * the handed-over NBLs, and a terminate completes every request first.
 */
VOID mp_conn_free(MpAdapter *a, MpConn *c)
{
    for (ULONG i = c->sq.ring.head; i != c->sq_reserved;
         i = (i + 1) & (MP_CONN_SQ_ENTRIES - 1)) {
        if (c->sq_req[i].nbl) {
            mp_unmap(a, c->sq_req[i].nbl);
        }
    }
    c->obj.used = FALSE;
    c->offloaded = FALSE;
    c->tag = NULL;
    chimney_guest_conn_free(&a->conn_ids, c->obj.id);
}

/*
 * A terminated connection's requests the device never completed: a
 * connection the device had poisoned fetches nothing more, so what it had
 * not fetched is still on the SQ (or reserved, or waiting for a slot).
 * They complete as uploaded, in order, with what was acknowledged.
 */
static VOID mp_sq_flush_waiting(MpAdapter *a, MpConn *c, MpDeliveries *out)
{
    ULONG mask = MP_CONN_SQ_ENTRIES - 1;
    ULONG nposted = (c->sq.ring.tail - c->sq.ring.head) & mask;
    PNET_BUFFER_LIST next, sends = NULL, *tail = &sends;

    for (ULONG i = c->sq.ring.head; i != c->sq_reserved; i = (i + 1) & mask) {
        MpReq *r = &c->sq_req[i];
        BOOLEAN posted = ((i - c->sq.ring.head) & mask) < nposted;

        if (!r->last || !r->nbl) {
            continue;
        }
        mp_nbl_done(a, r->nbl, posted ? (ULONG)(ULONG_PTR)
                    NET_BUFFER_LIST_INFO(r->nbl, TcpOffloadBytesTransferred) :
                    0, NDIS_STATUS_UPLOAD_IN_PROGRESS);
        if (r->type == CHIMNEY_SQ_SEND) {
            mp_append(&tail, r->nbl);
        } else {
            mp_append(&out->disc_tail, r->nbl);
        }
        r->nbl = NULL;
    }
    c->sq.ring.head = c->sq.ring.tail = c->sq_reserved;
    for (PNET_BUFFER_LIST l = c->sq_wait; l; l = next) {
        next = l->Next;
        l->Status = NDIS_STATUS_UPLOAD_IN_PROGRESS;
        NET_BUFFER_LIST_INFO(l, TcpOffloadBytesTransferred) = 0;
        if (((ULONG_PTR)NBL_KIND(l) & 0xff) == CHIMNEY_SQ_SEND) {
            mp_append(&tail, l);
        } else {
            mp_append(&out->disc_tail, l);
        }
    }
    if (sends) {
        out->send[out->nsend++] = sends;    /* the drain left room */
    }
    c->sq_wait = NULL;
    c->sq_wait_tail = &c->sq_wait;
}

static VOID mp_rcv_flush_waiting(MpAdapter *a, MpConn *c,
                                 MpDeliveries *out)
{
    PNET_BUFFER_LIST rcvs = NULL, *tail = &rcvs;

    /* Posted and never completed (a poisoned connection's) first */
    for (ULONG k = c->rcv_next - c->rcv.count; k != c->rcv_next; k++) {
        MpReq *r = &c->rcv_req[k % MP_CONN_RCVS];

        mp_nbl_done(a, r->nbl, 0, NDIS_STATUS_UPLOAD_IN_PROGRESS);
        mp_append(&tail, r->nbl);
    }
    c->rcv.count = 0;
    if (rcvs && out->nrcv < ARRAYSIZE(out->rcv)) {
        *tail = c->rcv_wait;
        c->rcv_wait = rcvs;
    }
    if (c->rcv_wait && out->nrcv < ARRAYSIZE(out->rcv)) {
        for (PNET_BUFFER_LIST l = c->rcv_wait; l; l = l->Next) {
            l->Status = NDIS_STATUS_UPLOAD_IN_PROGRESS;
            NET_BUFFER_LIST_INFO(l, TcpOffloadBytesTransferred) = 0;
        }
        out->rcv[out->nrcv++] = c->rcv_wait;
        c->rcv_wait = NULL;
        c->rcv_wait_tail = &c->rcv_wait;
    }
}

/* Under the lock: what a terminated connection still had, completed */
VOID mp_conn_terminated(MpAdapter *a, MpConn *c,
                        MpDeliveries *out)
{
    mp_sq_flush_waiting(a, c, out);
    mp_rcv_flush_waiting(a, c, out);
    mp_conn_free(a, c);
}

#define MP_ALLOC(a, n)  NdisAllocateMemoryWithTagPriority((a)->miniport, \
                            (n), MP_POOL_TAG, NormalPoolPriority)

/*
 * The connection tables, sized min(the device's max_conns, the
 * MaxOffloadConnections keyword), and room for their shared memory in
 * the DMA regions.
 */
static NDIS_STATUS mp_conn_tables(MpAdapter *a)
{
    static NDIS_STRING key = RTL_CONSTANT_STRING(L"MaxOffloadConnections");
    ULONG n = mp_keyword(a, &key, MP_DEFAULT_OFFLOADS);
    MpDmaRegion *r;

    n = n < 1 ? 1 : n > MP_MAX_OFFLOADS_LIMIT ? MP_MAX_OFFLOADS_LIMIT : n;
    if (a->id.max_conns < n) {
        n = a->id.max_conns;
    }
    if (!n) {
        return NDIS_STATUS_RESOURCES;
    }
    r = MP_ALLOC(a, (MP_DMA_FIXED + n) * sizeof(*r));
    a->max_conns = n;
    a->conn = MP_ALLOC(a, n * sizeof(*a->conn));
    a->conn_gen = MP_ALLOC(a, n * sizeof(*a->conn_gen));
    a->conn_next = MP_ALLOC(a, n * sizeof(*a->conn_next));
    if (!r || !a->conn || !a->conn_gen || !a->conn_next) {
        if (r) {
            NdisFreeMemory(r, (MP_DMA_FIXED + n) * sizeof(*r), 0);
        }
        return NDIS_STATUS_RESOURCES;       /* the rest: mp_conn_io_stop */
    }
    memset(a->conn, 0, n * sizeof(*a->conn));
    memcpy(r, a->dma_region, a->ndma * sizeof(*r));
    __sync_synchronize();
    a->dma_region = r;
    a->dma_max = MP_DMA_FIXED + n;
    return NDIS_STATUS_SUCCESS;
}

/* At initialization: DMA, the connection CQ and the generic buffers */
NDIS_STATUS mp_conn_io_start(MpAdapter *a)
{
    NDIS_SG_DMA_DESCRIPTION dma = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION,
            .Revision = NDIS_SG_DMA_DESCRIPTION_REVISION_1,
            .Size = sizeof(dma),
        },
        .Flags = NDIS_SG_DMA_64_BIT_ADDRESS,
        .MaximumPhysicalMapping = MP_MAX_MAPPING,
        .ProcessSGListHandler = mp_sg_done,
    };

    if (NdisMRegisterScatterGatherDma(a->miniport, &dma, &a->dma) !=
        NDIS_STATUS_SUCCESS) {
        a->dma = NULL;
        return NDIS_STATUS_RESOURCES;
    }
    a->chimney_mem = mp_shared_alloc(a, MP_CH_MEM, &a->chimney_pa);
    a->job_mem = mp_shared_alloc(a, MP_JOB_MEM, &a->job_pa);
    a->ind_pool = mp_nbl_pool(a);
    if (!a->chimney_mem || !a->job_mem || !a->ind_pool) {
        return NDIS_STATUS_RESOURCES;
    }
    memset(a->chimney_mem, 0, MP_CH_IND_BUF);
    if (mp_conn_tables(a) != NDIS_STATUS_SUCCESS) {
        return NDIS_STATUS_RESOURCES;
    }
    chimney_guest_conns_init(&a->conn_ids, a->max_conns, a->conn_gen,
                             a->conn_next);
    for (ULONG i = 0; i < a->max_conns; i++) {
        MpConn *c = NdisAllocateMemoryWithTagPriority(
            a->miniport, sizeof(*c), MP_POOL_TAG, NormalPoolPriority);

        if (!c) {
            return NDIS_STATUS_RESOURCES;
        }
        memset(c, 0, sizeof(*c));
        a->conn[i] = c;
        c->adapter = a;
        c->index = i;
        c->mem = mp_shared_alloc(a, MP_CONN_MEM, &c->mem_pa);
        if (!c->mem) {
            return NDIS_STATUS_RESOURCES;
        }
        for (ULONG j = 0; j < MP_CONN_SQ_ENTRIES + MP_CONN_RCVS;
             j++) {
            MpReq *r = j < MP_CONN_SQ_ENTRIES ? &c->sq_req[j] :
                            &c->rcv_req[j - MP_CONN_SQ_ENTRIES];

            r->sgl = (ChimneySge *)(c->mem + MP_CONN_SGL +
                                    j * MP_SGL_BYTES);
            r->sgl_pa = c->mem_pa.QuadPart + MP_CONN_SGL +
                        j * MP_SGL_BYTES;
        }
    }
    for (ULONG i = 0; i < MP_IND_ENTRIES; i++) {
        a->ind_mdl[i] = NdisAllocateMdl(a->miniport, a->chimney_mem +
                                        MP_CH_IND_BUF +
                                        i * MP_IND_SLOT,
                                        MP_IND_SLOT);
        a->ind_nbl[i] = a->ind_mdl[i] ?
            NdisAllocateNetBufferAndNetBufferList(a->ind_pool, 0, 0,
                                                  a->ind_mdl[i], 0,
                                                  MP_IND_SLOT) : NULL;
        if (!a->ind_nbl[i]) {
            return NDIS_STATUS_RESOURCES;
        }
    }
    a->fwd_wait_tail = &a->fwd_wait;

    /* The generic-buffer queue's CQ parameter must be 0 (abi.h) */
    if (mp_create_cq(a, &a->conn_cq, MP_CONN_CQ,
                     a->chimney_pa.QuadPart + MP_CH_CQ,
                     MP_CONN_CQ_ENTRIES) != NDIS_STATUS_SUCCESS ||
        mp_create_l2q(a, &a->indq, CHIMNEY_QUEUE_INDICATE,
                      a->chimney_pa.QuadPart + MP_CH_INDQ,
                      MP_IND_ENTRIES, 0) != NDIS_STATUS_SUCCESS) {
        return NDIS_STATUS_FAILURE;
    }
    for (ULONG i = 0; i < MP_IND_ENTRIES - 1; i++) {
        mp_ind_post(a, i);
    }
    return NDIS_STATUS_SUCCESS;
}

static VOID mp_conn_tables_free(MpAdapter *a)
{
    ULONG n = a->max_conns;

    if (a->conn) {
        NdisFreeMemory(a->conn, n * sizeof(*a->conn), 0);
    }
    if (a->conn_gen) {
        NdisFreeMemory(a->conn_gen, n * sizeof(*a->conn_gen), 0);
    }
    if (a->conn_next) {
        NdisFreeMemory(a->conn_next, n * sizeof(*a->conn_next), 0);
    }
    a->conn = NULL;
    a->conn_gen = NULL;
    a->conn_next = NULL;
    a->max_conns = 0;
    if (a->dma_region != a->dma_fixed) {
        MpDmaRegion *r = a->dma_region;

        a->ndma = a->ndma < MP_DMA_FIXED ? a->ndma : MP_DMA_FIXED;
        memcpy(a->dma_fixed, r, a->ndma * sizeof(*r));
        a->dma_region = a->dma_fixed;
        NdisFreeMemory(r, a->dma_max * sizeof(*r), 0);
        a->dma_max = MP_DMA_FIXED;
    }
}

/* After the device is disabled: what mp_conn_io_start got */
VOID mp_conn_io_stop(MpAdapter *a)
{
    for (ULONG i = 0; i < MP_IND_ENTRIES; i++) {
        if (a->ind_nbl[i]) {
            NdisFreeNetBufferList(a->ind_nbl[i]);
        }
        if (a->ind_mdl[i]) {
            NdisFreeMdl(a->ind_mdl[i]);
        }
    }
    for (ULONG i = 0; a->conn && i < a->max_conns && a->conn[i]; i++) {
        if (a->conn[i]->mem) {
            NdisMFreeSharedMemory(a->miniport, MP_CONN_MEM, TRUE,
                                  a->conn[i]->mem, a->conn[i]->mem_pa);
        }
        NdisFreeMemory(a->conn[i], sizeof(MpConn), 0);
        a->conn[i] = NULL;
    }
    mp_conn_tables_free(a);
    if (a->ind_pool) {
        NdisFreeNetBufferListPool(a->ind_pool);
    }
    if (a->job_mem) {
        NdisMFreeSharedMemory(a->miniport, MP_JOB_MEM, TRUE, a->job_mem,
                              a->job_pa);
    }
    if (a->chimney_mem) {
        NdisMFreeSharedMemory(a->miniport, MP_CH_MEM, TRUE,
                              a->chimney_mem, a->chimney_pa);
    }
    if (a->dma) {
        NdisMDeregisterScatterGatherDma(a->dma);
    }
}
