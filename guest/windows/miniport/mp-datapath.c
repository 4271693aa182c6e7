/*
 * chimney-nic miniport: the interrupt and the plain (L2) data path
 *
 * One completion queue (CQ 1) takes the L2 TX and RX completions; every
 * CQ signals MSI-X message 0, or INTA with INTR_CAUSE when MSI-X is not
 * granted.  The DPC drains the admin CQ (link events) and CQ 1 with the
 * shared driver core's phase-tagged consumer.
 *
 * Sends are copied into a 2 KiB slot per TX ring entry (a frame is one
 * descriptor), so no scatter-gather DMA is needed for plain frames.  Each
 * receive buffer has its own NET_BUFFER_LIST, indicated as is and posted
 * again when NDIS returns it.  A send that finds the ring full fails with
 * NDIS_STATUS_RESOURCES rather than waiting.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "mp-adapter.h"

#define MP_RX_BUFFERS           (MP_L2_ENTRIES - 1)
#define MP_MIN_FRAME            14

/* The pending NBs of a send NBL, and whether one of them failed */
#define NBL_PENDING(n)          ((n)->MiniportReserved[0])
#define NBL_FAILED(n)           ((n)->MiniportReserved[1])
/* The buffer index of a receive NBL */
#define NBL_RX_INDEX(n)         ((n)->MiniportReserved[0])

static VOID mp_chain(PNET_BUFFER_LIST **tail, PNET_BUFFER_LIST nbl)
{
    nbl->Next = NULL;
    **tail = nbl;
    *tail = &nbl->Next;
}

/* Unicast, multicast or broadcast, by the destination address */
ULONG mp_frame_kind(const UCHAR *dst)
{
    if ((dst[0] & dst[1] & dst[2] & dst[3] & dst[4] & dst[5]) == 0xff) {
        return MP_BCAST;
    }
    return dst[0] & 1 ? MP_MCAST : MP_UCAST;
}

static BOOLEAN mp_rx_post(MpAdapter *a, ULONG i)
{
    ChimneyL2RxDesc d;

    if (!chimney_guest_ring_space(&a->rxq)) {
        return FALSE;
    }
    chimney_guest_l2_rx_desc(&d, a->data_pa.QuadPart + MP_DATA_RX +
                             (ULONG64)i * MP_SLOT, MP_SLOT, i);
    chimney_guest_ring_put(&a->rxq, &a->dev.mem, &d);
    return TRUE;
}

/* Under the lock: true when a pending pause may now complete */
static BOOLEAN mp_pause_done(MpAdapter *a)
{
    if (a->pause_pending && !a->tx_pending && !a->rx_indicated) {
        a->pause_pending = FALSE;
        return TRUE;
    }
    return FALSE;
}

static VOID mp_tx_done(MpAdapter *a, const ChimneyCqe *cqe,
                       PNET_BUFFER_LIST **done)
{
    ULONG slot = (ULONG)cqe->cookie;
    PNET_BUFFER_LIST nbl;

    if (slot >= MP_L2_ENTRIES || !a->tx_nbl[slot] ||
        !chimney_guest_ring_consumed(&a->txq, cqe->sq_head)) {
        DbgPrint("chimney-nic: TX completion for slot %lu refused\n", slot);
        return;
    }
    nbl = a->tx_nbl[slot];
    a->tx_nbl[slot] = NULL;
    if (CHIMNEY_CQE_STATUS(cqe->type_status) != CHIMNEY_ST_SUCCESS) {
        NBL_FAILED(nbl) = (PVOID)1;
        a->stats.tx_errors++;
    }
    NBL_PENDING(nbl) = (PVOID)((ULONG_PTR)NBL_PENDING(nbl) - 1);
    if (!NBL_PENDING(nbl)) {
        nbl->Status = NBL_FAILED(nbl) ? NDIS_STATUS_FAILURE :
                                        NDIS_STATUS_SUCCESS;
        mp_chain(done, nbl);
        a->tx_pending--;
    }
}

static VOID mp_rx_done(MpAdapter *a, const ChimneyCqe *cqe,
                       PNET_BUFFER_LIST **rx, ULONG *nrx,
                       BOOLEAN *repost)
{
    ULONG i = (ULONG)cqe->cookie;
    PNET_BUFFER_LIST nbl;
    ULONG kind;

    if (i >= MP_RX_BUFFERS ||
        !chimney_guest_ring_consumed(&a->rxq, cqe->sq_head)) {
        DbgPrint("chimney-nic: RX completion for buffer %lu refused\n", i);
        return;
    }
    nbl = a->rx_nbl[i];
    if (a->paused || CHIMNEY_CQE_STATUS(cqe->type_status) ||
        cqe->bytes < MP_MIN_FRAME || cqe->bytes > MP_SLOT) {
        if (a->paused) {
            a->stats.rx_discards++;
        } else {
            a->stats.rx_errors++;
        }
        *repost |= mp_rx_post(a, i);       /* dropped */
        return;
    }
    kind = mp_frame_kind(a->data + MP_DATA_RX +
                         (ULONG64)i * MP_SLOT);
    a->stats.rx_frames[kind]++;
    a->stats.rx_bytes[kind] += cqe->bytes;
    nbl->FirstNetBuffer->DataLength = cqe->bytes;
    nbl->SourceHandle = a->miniport;
    nbl->Status = NDIS_STATUS_SUCCESS;
    mp_chain(rx, nbl);
    (*nrx)++;
    a->rx_indicated++;
}

/*
 * An admin command from an OID request: it completes in the DPC, and the
 * request with it (NDIS_STATUS_PENDING until then).
 */
NDIS_STATUS mp_datapath_admin(MpAdapter *a, ChimneyAdminCmd *cmd,
                              PNDIS_OID_REQUEST request)
{
    NDIS_STATUS status = NDIS_STATUS_PENDING;

    NdisAcquireSpinLock(&a->lock);
    cmd->cookie = ++a->dev.next_cookie;
    if (!chimney_guest_inflight_add(&a->admin_wait, cmd->cookie, request)) {
        status = NDIS_STATUS_RESOURCES;
    } else if (!chimney_guest_admin_submit(&a->dev, cmd)) {
        chimney_guest_inflight_take(&a->admin_wait, cmd->cookie);
        status = NDIS_STATUS_RESOURCES;
    }
    NdisReleaseSpinLock(&a->lock);
    return status;
}

/* The link state, as NDIS_STATUS_LINK_STATE */
VOID mp_link_indicate(MpAdapter *a)
{
    NDIS_LINK_STATE ls = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_DEFAULT,
            .Revision = NDIS_LINK_STATE_REVISION_1,
            .Size = NDIS_SIZEOF_LINK_STATE_REVISION_1,
        },
        .MediaConnectState = a->link_up ? MediaConnectStateConnected :
                                          MediaConnectStateDisconnected,
        .MediaDuplexState = MediaDuplexStateFull,
        .XmitLinkSpeed = a->link_up ? 1000000000ull : 0,
        .RcvLinkSpeed = a->link_up ? 1000000000ull : 0,
        .PauseFunctions = NdisPauseFunctionsUnsupported,
    };
    NDIS_STATUS_INDICATION ind = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_STATUS_INDICATION,
            .Revision = NDIS_STATUS_INDICATION_REVISION_1,
            .Size = sizeof(ind),
        },
        .SourceHandle = a->miniport,
        .StatusCode = NDIS_STATUS_LINK_STATE,
        .StatusBuffer = &ls,
        .StatusBufferSize = sizeof(ls),
    };

    NdisMIndicateStatusEx(a->miniport, &ind);
}

/* What one pass of the DPC hands NDIS */
typedef struct MpPass {
    PNET_BUFFER_LIST done, *done_tail;
    PNET_BUFFER_LIST rx, *rx_tail;
    ULONG nrx, noid;
    PNDIS_OID_REQUEST oid[MP_ADMIN_ENTRIES];
    NDIS_STATUS oid_status[MP_ADMIN_ENTRIES];
    BOOLEAN repost, pause_done, link_changed;
    MpDeliveries chimney;
} MpPass;

/* Under the lock: the admin CQ (events, commands) */
static VOID mp_admin_cq(MpAdapter *a, MpPass *p)
{
    ChimneyCqe cqe;

    while (p->noid < MP_ADMIN_ENTRIES &&
           p->chimney.ndone < ARRAYSIZE(p->chimney.done) &&
           chimney_guest_cq_next(&a->acq, &a->dev.mem, &cqe)) {
        PNDIS_OID_REQUEST req;

        switch (CHIMNEY_CQE_TYPE(cqe.type_status)) {
        case CHIMNEY_CQE_EVENT:
            if (cqe.aux == CHIMNEY_EVENT_LINK &&
                a->link_up != !!cqe.info) {
                a->link_up = !!cqe.info;
                p->link_changed = TRUE;
            } else if (cqe.aux == CHIMNEY_EVENT_PATH_MTU && a->chimney) {
                mp_path_mtu_event(a, &cqe);
            }
            break;
        case CHIMNEY_CQE_ADMIN:
            chimney_guest_ring_consumed(&a->dev.asq, cqe.sq_head);
            req = chimney_guest_inflight_take(&a->admin_wait, cqe.cookie);
            if (req) {
                p->oid[p->noid] = req;
                p->oid_status[p->noid++] =
                    CHIMNEY_CQE_STATUS(cqe.type_status) ?
                    NDIS_STATUS_FAILURE : NDIS_STATUS_SUCCESS;
            } else if (a->chimney &&
                       !mp_job_admin_done(a, &cqe, &p->chimney)) {
                mp_fwd_done(a, &cqe, &p->chimney);      /* refused */
            }
            break;
        }
    }
    mp_writel(a, CHIMNEY_DB_CQ_HEAD(CHIMNEY_ADMIN_CQ_ID), a->acq.head);
}

/* Under the lock: CQ 1, the L2 TX and RX completions */
static VOID mp_l2_cq(MpAdapter *a, MpPass *p)
{
    ChimneyCqe cqe;

    while (chimney_guest_cq_next(&a->l2cq, &a->dev.mem, &cqe)) {
        switch (CHIMNEY_CQE_TYPE(cqe.type_status)) {
        case CHIMNEY_CQE_L2_TX:
            mp_tx_done(a, &cqe, &p->done_tail);
            break;
        case CHIMNEY_CQE_L2_RX:
            mp_rx_done(a, &cqe, &p->rx_tail, &p->nrx, &p->repost);
            break;
        }
    }
    mp_writel(a, CHIMNEY_DB_CQ_HEAD(MP_L2_CQ), a->l2cq.head);
    if (p->repost) {
        mp_writel(a, CHIMNEY_DB_L2_RXQ_TAIL, a->rxq.tail);
    }
}

static VOID mp_pass_deliver(MpAdapter *a, MpPass *p)
{
    if (p->done) {
        NdisMSendNetBufferListsComplete(
            a->miniport, p->done, NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
    }
    if (p->rx) {
        NdisMIndicateReceiveNetBufferLists(a->miniport, p->rx, 0, p->nrx,
                                           NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL);
    }
    if (p->pause_done) {
        NdisMPauseComplete(a->miniport);
    }
    for (ULONG i = 0; i < p->noid; i++) {
        if (p->oid_status[i] == NDIS_STATUS_SUCCESS) {
            mp_offload_stats_done(a, p->oid[i]);
        }
        NdisMOidRequestComplete(a->miniport, p->oid[i], p->oid_status[i]);
    }
    if (p->link_changed) {
        mp_link_indicate(a);
    }
    if (a->chimney) {
        mp_deliver(a, &p->chimney);
    }
}

/*
 * The DPC: admin CQ, L2 CQ, connection CQ; NDIS is called once the lock
 * is dropped.  One DPC runs at a time, so the completions of a connection
 * reach NDIS in the device's order: a DPC that finds another running
 * leaves the work to it.
 */
static VOID mp_dpc(MpAdapter *a)
{
    BOOLEAN again;

    NdisAcquireSpinLock(&a->lock);
    if (a->dpc_running) {
        a->dpc_again = TRUE;
        NdisReleaseSpinLock(&a->lock);
        return;
    }
    a->dpc_running = TRUE;
    do {
        MpPass p = {
            .done_tail = &p.done, .rx_tail = &p.rx,
            .chimney = MP_DELIVERIES_INIT(p.chimney),
        };

        a->dpc_again = FALSE;
        mp_admin_cq(a, &p);
        mp_l2_cq(a, &p);
        if (a->chimney) {
            mp_conn_cq_drain(a, &p.chimney);
            mp_fwd_kick(a, &p.chimney.fwd_tail);
            mp_jobs_run(a, &p.chimney);
        }
        p.pause_done = mp_pause_done(a);
        NdisReleaseSpinLock(&a->lock);
        mp_pass_deliver(a, &p);
        NdisAcquireSpinLock(&a->lock);
        again = a->dpc_again || p.chimney.full ||
                p.noid == MP_ADMIN_ENTRIES;
    } while (again);
    a->dpc_running = FALSE;
    NdisReleaseSpinLock(&a->lock);
}

/* INTA: ours when a CQ's cause bit is set; acknowledged by writing it */
static BOOLEAN mp_isr(NDIS_HANDLE context, PBOOLEAN queue_dpc,
                      PULONG targets)
{
    MpAdapter *a = context;
    ULONG cause = mp_readl(a, CHIMNEY_REG_INTR_CAUSE);

    *targets = 0;
    *queue_dpc = cause != 0;
    if (cause) {
        mp_writel(a, CHIMNEY_REG_INTR_CAUSE, cause);
    }
    return cause != 0;
}

static VOID mp_isr_dpc(NDIS_HANDLE context, PVOID dpc_context,
                       PVOID throttle, PVOID reserved)
{
    mp_dpc(context);
}

static VOID mp_isr_disable(NDIS_HANDLE context)
{
    mp_writel(context, CHIMNEY_REG_INTR_MASK, 0xffffffff);
}

static VOID mp_isr_enable(NDIS_HANDLE context)
{
    mp_writel(context, CHIMNEY_REG_INTR_MASK, 0);
}

/* MSI-X: message 0 is ours alone */
static BOOLEAN mp_msi_isr(NDIS_HANDLE context, ULONG message,
                          PBOOLEAN queue_dpc, PULONG targets)
{
    *targets = 0;
    *queue_dpc = TRUE;
    return TRUE;
}

static VOID mp_msi_dpc(NDIS_HANDLE context, ULONG message,
                       PVOID dpc_context, PVOID throttle,
                       PVOID reserved)
{
    mp_dpc(context);
}

/* The device has no per-vector mask of its own; the MSI-X table has. */
static VOID mp_msi_switch(NDIS_HANDLE context, ULONG message)
{
}

static NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS mp_interrupt = {
    .Header = {
        .Type = NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT,
        .Revision = NDIS_MINIPORT_INTERRUPT_REVISION_1,
        .Size = sizeof(NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS),
    },
    .InterruptHandler = mp_isr,
    .InterruptDpcHandler = mp_isr_dpc,
    .DisableInterruptHandler = mp_isr_disable,
    .EnableInterruptHandler = mp_isr_enable,
    .MsiSupported = TRUE,
    .MsiSyncWithAllMessages = TRUE,
    .MessageInterruptHandler = mp_msi_isr,
    .MessageInterruptDpcHandler = mp_msi_dpc,
    .DisableMessageInterruptHandler = mp_msi_switch,
    .EnableMessageInterruptHandler = mp_msi_switch,
};

/*
 * CREATE_CQ: @id at @pa, with the driver's consumer of it.  The DPC drains
 * a CQ and then writes CQ_HEAD, which is what the device's holdoff needs:
 * one interrupt per drain under load.
 */
NDIS_STATUS mp_create_cq(MpAdapter *a, ChimneyGuestCq *cq, ULONG id,
                         ULONG64 pa, ULONG entries)
{
    ChimneyAdminCmd cmd = {
        .opcode = CHIMNEY_CMD_CREATE_CQ, .id = id, .addr = pa, .len = entries,
    };

    if (a->id.features & CHIMNEY_FEAT_IRQ_HOLDOFF) {
        cmd.param[CHIMNEY_CQ_PARAM_FLAGS] = CHIMNEY_CQF_HOLDOFF;
        /* sends that leave two behind need no DPC at once (1.4) */
        if (a->id.features & CHIMNEY_FEAT_LAZY_CQ) {
            cmd.param[CHIMNEY_CQ_PARAM_FLAGS] |= CHIMNEY_CQF_LAZY;
        }
    }

    chimney_guest_cq_init(cq, pa, entries);
    return mp_admin(a, &cmd) == CHIMNEY_ST_SUCCESS ?
           NDIS_STATUS_SUCCESS : NDIS_STATUS_FAILURE;
}

/* CREATE_L2Q: an L2 queue or the generic-buffer queue, completing on @cq */
NDIS_STATUS mp_create_l2q(MpAdapter *a, ChimneyGuestRing *r,
                          ULONG id, ULONG64 pa, ULONG entries, ULONG cq)
{
    ChimneyAdminCmd cmd = {
        .opcode = CHIMNEY_CMD_CREATE_L2Q, .id = id, .addr = pa,
        .len = entries, .param = { cq },
    };

    chimney_guest_ring_init(r, pa, entries, CHIMNEY_L2_DESC_SIZE);
    return mp_admin(a, &cmd) == CHIMNEY_ST_SUCCESS ?
           NDIS_STATUS_SUCCESS : NDIS_STATUS_FAILURE;
}

static NDIS_STATUS mp_create_queues(MpAdapter *a)
{
    ULONG64 pa = a->shm_pa.QuadPart;

    if (mp_create_cq(a, &a->l2cq, MP_L2_CQ, pa + MP_SHM_L2CQ,
                     MP_L2_CQ_ENTRIES) != NDIS_STATUS_SUCCESS ||
        mp_create_l2q(a, &a->txq, CHIMNEY_QUEUE_L2_TX,
                      pa + MP_SHM_TXQ, MP_L2_ENTRIES,
                      MP_L2_CQ) != NDIS_STATUS_SUCCESS) {
        return NDIS_STATUS_FAILURE;
    }
    return mp_create_l2q(a, &a->rxq, CHIMNEY_QUEUE_L2_RX,
                         pa + MP_SHM_RXQ, MP_L2_ENTRIES,
                         MP_L2_CQ);
}

/* A pool of NBLs with one NB each, for the buffers the driver indicates */
NDIS_HANDLE mp_nbl_pool(MpAdapter *a)
{
    NET_BUFFER_LIST_POOL_PARAMETERS pool = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_DEFAULT,
            .Revision = NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
            .Size = sizeof(pool),
        },
        .ProtocolId = NDIS_PROTOCOL_ID_DEFAULT,
        .fAllocateNetBuffer = TRUE,
        .PoolTag = MP_POOL_TAG,
    };

    return NdisAllocateNetBufferListPool(a->miniport, &pool);
}

/* Receive buffers: an MDL and an NBL each, all posted */
static NDIS_STATUS mp_rx_setup(MpAdapter *a)
{
    a->rx_pool = mp_nbl_pool(a);
    if (!a->rx_pool) {
        return NDIS_STATUS_RESOURCES;
    }
    for (ULONG i = 0; i < MP_RX_BUFFERS; i++) {
        a->rx_mdl[i] = NdisAllocateMdl(a->miniport, a->data + MP_DATA_RX +
                                       i * MP_SLOT, MP_SLOT);
        if (!a->rx_mdl[i]) {
            return NDIS_STATUS_RESOURCES;
        }
        a->rx_nbl[i] = NdisAllocateNetBufferAndNetBufferList(
            a->rx_pool, 0, 0, a->rx_mdl[i], 0, MP_SLOT);
        if (!a->rx_nbl[i]) {
            return NDIS_STATUS_RESOURCES;
        }
        NBL_RX_INDEX(a->rx_nbl[i]) = (PVOID)(ULONG_PTR)i;
        mp_rx_post(a, i);
    }
    mp_writel(a, CHIMNEY_DB_L2_RXQ_TAIL, a->rxq.tail);
    return NDIS_STATUS_SUCCESS;
}

/* An adapter starts paused (NDIS 6): MiniportRestart opens the path. */
NDIS_STATUS mp_datapath_start(MpAdapter *a)
{
    NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS ic = mp_interrupt;
    NDIS_STATUS status;

    NdisAllocateSpinLock(&a->lock);
    a->lock_ready = TRUE;
    a->paused = TRUE;
    chimney_guest_inflight_init(&a->admin_wait, a->admin_cookie, a->admin_ctx,
                                MP_ADMIN_ENTRIES);
    status = mp_create_queues(a);
    if (status == NDIS_STATUS_SUCCESS) {
        status = mp_rx_setup(a);
    }
    if (status == NDIS_STATUS_SUCCESS &&
        (a->id.features & CHIMNEY_FEAT_TCP_OFFLOAD)) {
        a->jobs_tail = &a->jobs;
        status = mp_conn_io_start(a);
    }
    if (status == NDIS_STATUS_SUCCESS) {
        status = NdisMRegisterInterruptEx(a->miniport, a, &ic,
                                          &a->interrupt);
        a->irq_type = ic.InterruptType;
    }
    return status;
}

/* Before the device is disabled and its memory freed (adapter_stop) */
VOID mp_datapath_stop(MpAdapter *a)
{
    if (a->interrupt) {
        NdisMDeregisterInterruptEx(a->interrupt);
        a->interrupt = NULL;
    }
    for (ULONG i = 0; i < MP_RX_BUFFERS; i++) {
        if (a->rx_nbl[i]) {
            NdisFreeNetBufferList(a->rx_nbl[i]);
            a->rx_nbl[i] = NULL;
        }
        if (a->rx_mdl[i]) {
            NdisFreeMdl(a->rx_mdl[i]);
            a->rx_mdl[i] = NULL;
        }
    }
    if (a->rx_pool) {
        NdisFreeNetBufferListPool(a->rx_pool);
        a->rx_pool = NULL;
    }
    if (a->lock_ready) {
        NdisFreeSpinLock(&a->lock);
        a->lock_ready = FALSE;
    }
}

/* Copy the data of @nb into @dst; false when it cannot be mapped */
BOOLEAN mp_copy_nb(PNET_BUFFER nb, PUCHAR dst)
{
    ULONG left = nb->DataLength;
    ULONG off = nb->CurrentMdlOffset;

    for (PMDL mdl = nb->CurrentMdl; left && mdl; mdl = mdl->Next, off = 0) {
        PUCHAR va = MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority);
        ULONG n = MmGetMdlByteCount(mdl) - off;

        if (!va) {
            return FALSE;
        }
        n = n < left ? n : left;
        memcpy(dst, va + off, n);
        dst += n;
        left -= n;
    }
    return left == 0;
}

/* Queue one NB as a frame; false when it cannot go */
static BOOLEAN mp_tx_one(MpAdapter *a, PNET_BUFFER_LIST nbl,
                         PNET_BUFFER nb)
{
    ULONG slot = a->txq.tail;
    ULONG64 off = MP_DATA_TX + (ULONG64)slot * MP_SLOT;
    ChimneyL2TxDesc d;
    ULONG kind;

    if (!chimney_guest_ring_space(&a->txq) ||
        nb->DataLength < MP_MIN_FRAME || nb->DataLength > MP_SLOT ||
        !mp_copy_nb(nb, a->data + off)) {
        return FALSE;
    }
    kind = mp_frame_kind(a->data + off);
    chimney_guest_flow_seen(&a->flows, a->data + off, nb->DataLength);
    a->stats.tx_frames[kind]++;
    a->stats.tx_bytes[kind] += nb->DataLength;
    chimney_guest_l2_tx_desc(&d, a->data_pa.QuadPart + off, nb->DataLength,
                             TRUE, slot);
    chimney_guest_ring_put(&a->txq, &a->dev.mem, &d);
    a->tx_nbl[slot] = nbl;
    return TRUE;
}

VOID mp_datapath_send(MpAdapter *a, PNET_BUFFER_LIST nbl,
                      ULONG flags)
{
    PNET_BUFFER_LIST failed = NULL, *failed_tail = &failed, next;
    BOOLEAN queued_any = FALSE;

    NdisAcquireSpinLock(&a->lock);
    for (PNET_BUFFER_LIST n = nbl; n; n = next) {
        ULONG_PTR queued = 0;
        BOOLEAN bad = FALSE;

        next = n->Next;
        for (PNET_BUFFER nb = n->FirstNetBuffer; nb && !a->paused;
             nb = nb->Next) {
            if (mp_tx_one(a, n, nb)) {
                queued++;
            } else {
                bad = TRUE;
                a->stats.tx_discards++;
            }
        }
        NBL_PENDING(n) = (PVOID)queued;
        NBL_FAILED(n) = (PVOID)(ULONG_PTR)bad;
        if (queued) {
            a->tx_pending++;
            queued_any = TRUE;
        } else {
            n->Status = a->paused ? NDIS_STATUS_PAUSED :
                        bad ? NDIS_STATUS_RESOURCES : NDIS_STATUS_SUCCESS;
            mp_chain(&failed_tail, n);
        }
    }
    if (queued_any) {
        mp_writel(a, CHIMNEY_DB_L2_TXQ_TAIL, a->txq.tail);
    }
    NdisReleaseSpinLock(&a->lock);
    if (failed) {
        NdisMSendNetBufferListsComplete(a->miniport, failed,
            (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) ?
            NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0);
    }
}

/* NDIS gives receive NBLs back: their buffers go to the device again */
VOID mp_datapath_return(MpAdapter *a, PNET_BUFFER_LIST nbl)
{
    BOOLEAN pause_done;

    NdisAcquireSpinLock(&a->lock);
    for (PNET_BUFFER_LIST n = nbl; n; n = n->Next) {
        mp_rx_post(a, (ULONG)(ULONG_PTR)NBL_RX_INDEX(n));
        a->rx_indicated--;
    }
    mp_writel(a, CHIMNEY_DB_L2_RXQ_TAIL, a->rxq.tail);
    pause_done = mp_pause_done(a);
    NdisReleaseSpinLock(&a->lock);
    if (pause_done) {
        NdisMPauseComplete(a->miniport);
    }
}

/* Paused once every send completed and every receive came back */
NDIS_STATUS mp_datapath_pause(MpAdapter *a)
{
    NDIS_STATUS status = NDIS_STATUS_SUCCESS;

    NdisAcquireSpinLock(&a->lock);
    a->paused = TRUE;
    if (a->tx_pending || a->rx_indicated) {
        a->pause_pending = TRUE;
        status = NDIS_STATUS_PENDING;
    }
    NdisReleaseSpinLock(&a->lock);
    return status;
}

VOID mp_datapath_restart(MpAdapter *a)
{
    NdisAcquireSpinLock(&a->lock);
    a->paused = FALSE;
    NdisReleaseSpinLock(&a->lock);
}
