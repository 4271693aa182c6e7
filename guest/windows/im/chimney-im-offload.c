/*
 * chimney-im: TCP chimney through the intermediate driver
 *
 * State: an initiate, terminate, update, invalidate or query from above
 * arrives as an NDIS_MINIPORT_OFFLOAD_BLOCK_LIST tree and goes down as
 * the same memory seen as NDIS_PROTOCOL_OFFLOAD_BLOCK_LISTs.  The two
 * layouts differ in the words where the miniport view keeps
 * MiniportOffloadContext and NdisOffloadHandle, so those are saved per
 * block in a call entry (with the root's ImReserved and SourceHandle,
 * which belong to NDIS) and put back on completion.  Every offloaded
 * object gets an IM object: its NDIS_OFFLOAD_HANDLE goes down, and the
 * driver above keeps a pointer to it.
 *
 * I/O: sends, receives, disconnects and forwards go down with the same
 * NBLs and the object's NDIS_OFFLOAD_HANDLE; completions, events and
 * receive indications come up through the virtual adapter's NDIS entry
 * points.  ProtocolTcpOffloadSendComplete is counted here.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-im.h"

typedef PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST MBlock;
typedef PNDIS_PROTOCOL_OFFLOAD_BLOCK_LIST PBlock;

enum { IM_INITIATE, IM_TERMINATE, IM_UPDATE, IM_INVALIDATE, IM_QUERY };

typedef struct ChimneyImSaved {
    MBlock b;
    PVOID *ctx;                     /* the block's MiniportOffloadContext */
    NDIS_HANDLE handle;             /* its NdisOffloadHandle */
    ChimneyImObj *obj;
    BOOLEAN fresh;                  /* an initiate's new object */
} ChimneyImSaved;

/* One state operation on its way down and back */
typedef struct ChimneyImCall {
    ULONG op;
    ChimneyImBinding *b;
    PVOID im_reserved[2];
    PVOID source;
    ULONG n, size;
    ChimneyImSaved saved[];
} ChimneyImCall;

static ULONG chimney_im_blocks(MBlock b)
{
    ULONG n = 0;

    for (; b; b = b->NextBlock) {
        n += 1 + chimney_im_blocks(b->DependentBlockList);
    }
    return n;
}

static VOID chimney_im_fail(MBlock b, NDIS_STATUS st)
{
    for (; b; b = b->NextBlock) {
        b->Status = st;
        chimney_im_fail(b->DependentBlockList, st);
    }
}

/* Miniport view to protocol view, block by block; FALSE: no memory */
static BOOLEAN chimney_im_convert(ChimneyImCall *call, MBlock b)
{
    for (; b; b = b->NextBlock) {
        ChimneyImSaved *s = &call->saved[call->n++];
        ChimneyImObj *obj = NULL;

        s->b = b;
        s->ctx = b->MiniportOffloadContext;
        s->handle = b->NdisOffloadHandle;
        s->fresh = FALSE;
        if (s->ctx) {
            obj = *s->ctx;
            if (!obj && call->op == IM_INITIATE) {
                obj = NdisAllocateMemoryWithTagPriority(
                    call->b->miniport, sizeof(*obj), CHIMNEY_IM_TAG,
                    NormalPoolPriority);
                if (!obj) {
                    return FALSE;
                }
                memset(obj, 0, sizeof(*obj));
                obj->down.MiniportOffloadContext = &obj->lower_ctx;
                obj->b = call->b;
                obj->type = b->Header.Type;
                s->fresh = TRUE;
            }
        }
        s->obj = obj;
        ((PBlock)b)->OffloadHandle = obj ? &obj->down : NULL;
        if (!chimney_im_convert(call, b->DependentBlockList)) {
            return FALSE;
        }
    }
    return TRUE;
}

static VOID chimney_im_call_free(ChimneyImCall *call)
{
    NdisFreeMemory(call, call->size, 0);
}

/*
 * The virtual adapter above, or NULL once it is halted: what completes
 * below after that has no one above to go to and stays here.
 */
static NDIS_HANDLE chimney_im_above(ChimneyImBinding *b)
{
    NDIS_HANDLE h;

    NdisAcquireSpinLock(&b->lock);
    h = b->chimney ? b->miniport : NULL;
    NdisReleaseSpinLock(&b->lock);
    if (!h) {
        CHIMNEY_IM_COUNT(after_halt, 1);
    }
    return h;
}

static VOID chimney_im_up(ChimneyImBinding *b, ULONG op, MBlock root)
{
    switch (op) {
    case IM_INITIATE:
        NdisMInitiateOffloadComplete(b->miniport, root);
        break;
    case IM_TERMINATE:
        NdisMTerminateOffloadComplete(b->miniport, root);
        break;
    case IM_UPDATE:
        NdisMUpdateOffloadComplete(b->miniport, root);
        break;
    case IM_INVALIDATE:
        NdisMInvalidateOffloadComplete(b->miniport, root);
        break;
    default:
        NdisMQueryOffloadStateComplete(b->miniport, root);
        break;
    }
}

static VOID chimney_im_down(ChimneyImBinding *b, ULONG op, PBlock root)
{
    switch (op) {
    case IM_INITIATE:
        NdisInitiateOffload(b->binding, root);
        break;
    case IM_TERMINATE:
        NdisTerminateOffload(b->binding, root);
        break;
    case IM_UPDATE:
        NdisUpdateOffload(b->binding, root);
        break;
    case IM_INVALIDATE:
        NdisInvalidateOffload(b->binding, root);
        break;
    default:
        NdisQueryOffloadState(b->binding, root);
        break;
    }
}

/* Put back what the protocol view overlaid, then undo a failed start */
static VOID chimney_im_restore(ChimneyImCall *call, MBlock root)
{
    root->ImReserved[0] = call->im_reserved[0];
    root->ImReserved[1] = call->im_reserved[1];
    root->SourceHandle = call->source;
    for (ULONG i = 0; i < call->n; i++) {
        call->saved[i].b->MiniportOffloadContext = call->saved[i].ctx;
        call->saved[i].b->NdisOffloadHandle = call->saved[i].handle;
    }
}

static VOID chimney_im_state(NDIS_HANDLE context, ULONG op, MBlock root)
{
    ChimneyImBinding *b = context;
    ULONG n = chimney_im_blocks(root);
    ULONG size = sizeof(ChimneyImCall) + n * sizeof(ChimneyImSaved);
    ChimneyImCall *call = NdisAllocateMemoryWithTagPriority(
        b->miniport, size, CHIMNEY_IM_TAG, NormalPoolPriority);

    if (call) {
        memset(call, 0, size);
        call->op = op;
        call->b = b;
        call->size = size;
        call->im_reserved[0] = root->ImReserved[0];
        call->im_reserved[1] = root->ImReserved[1];
        call->source = root->SourceHandle;
        if (chimney_im_convert(call, root)) {
            root->ImReserved[0] = call;
            chimney_im_down(b, op, (PBlock)root);
            return;
        }
        chimney_im_restore(call, root);
        for (ULONG i = 0; i < call->n; i++) {
            if (call->saved[i].fresh) {
                NdisFreeMemory(call->saved[i].obj, sizeof(ChimneyImObj), 0);
            }
        }
        chimney_im_call_free(call);
    }
    /* Only an initiate may say RESOURCES; the others SUCCESS or FAILURE */
    chimney_im_fail(root, op == IM_INITIATE ? NDIS_STATUS_RESOURCES :
                                              NDIS_STATUS_FAILURE);
    chimney_im_up(b, op, root);
}

static VOID chimney_im_initiate(NDIS_HANDLE c, MBlock l)
{
    chimney_im_state(c, IM_INITIATE, l);
}

static VOID chimney_im_terminate(NDIS_HANDLE c, MBlock l)
{
    chimney_im_state(c, IM_TERMINATE, l);
}

static VOID chimney_im_update(NDIS_HANDLE c, MBlock l)
{
    chimney_im_state(c, IM_UPDATE, l);
}

static VOID chimney_im_invalidate(NDIS_HANDLE c, MBlock l)
{
    chimney_im_state(c, IM_INVALIDATE, l);
}

static VOID chimney_im_query(NDIS_HANDLE c, MBlock l)
{
    chimney_im_state(c, IM_QUERY, l);
}

/* From below: the operation is done; the driver above gets its tree */
static VOID chimney_im_state_done(NDIS_HANDLE context, PBlock proot)
{
    MBlock root = (MBlock)proot;
    ChimneyImCall *call = proot->ImReserved[0];
    ChimneyImBinding *b = call->b;

    chimney_im_restore(call, root);
    for (ULONG i = 0; i < call->n; i++) {
        ChimneyImSaved *s = &call->saved[i];
        BOOLEAN tcp = s->b->Header.Type == TcpOffloadState;

        if (s->fresh && NT_SUCCESS(s->b->Status)) {
            s->obj->upper_handle = s->handle;
            s->obj->upper_ctx = s->ctx;
            *s->ctx = s->obj;
            if (tcp) {
                CHIMNEY_IM_COUNT(offloads, 1);
            }
        } else if (s->fresh) {
            NdisFreeMemory(s->obj, sizeof(ChimneyImObj), 0);
            if (tcp) {
                CHIMNEY_IM_COUNT(offload_failures, 1);
            }
        }
    }
    if (chimney_im_above(b)) {
        chimney_im_up(b, call->op, root);
    }
    if (call->op == IM_TERMINATE) {
        /* The objects are gone above and below */
        for (ULONG i = 0; i < call->n; i++) {
            if (call->saved[i].obj) {
                if (call->saved[i].b->Header.Type == TcpOffloadState) {
                    CHIMNEY_IM_COUNT(terminates, 1);
                }
                NdisFreeMemory(call->saved[i].obj, sizeof(ChimneyImObj), 0);
            }
        }
    }
    chimney_im_call_free(call);
}

/* A neighbor reachability query from below, asked of the host above */
static VOID chimney_im_offload_event(NDIS_HANDLE context, PBlock pb,
                                     ULONG code)
{
    ChimneyImBinding *b = context;
    MBlock mb = (MBlock)pb;
    ChimneyImObj *obj = (ChimneyImObj *)pb->OffloadHandle;
    PVOID reserved = mb->MiniportOffloadContext;     /* NdisReserved[2] */

    if (!obj || !b->miniport) {
        return;
    }
    mb->MiniportOffloadContext = obj->upper_ctx;
    mb->NdisOffloadHandle = obj->upper_handle;
    NdisMOffloadEventIndicate(b->miniport, mb, code);
    mb->MiniportOffloadContext = reserved;
    pb->OffloadHandle = &obj->down;
}

/* --- I/O, down --- */

static ChimneyImObj *chimney_im_obj(PVOID offload_context)
{
    return *(ChimneyImObj **)offload_context;
}

static NDIS_STATUS chimney_im_send(NDIS_HANDLE context, PVOID oc,
                                   PNET_BUFFER_LIST nbl)
{
    ULONG n = 0;

    for (PNET_BUFFER_LIST l = nbl; l; l = l->Next) {
        n++;
    }
    CHIMNEY_IM_COUNT(sends, n);
    return NdisOffloadTcpSend(&chimney_im_obj(oc)->down, nbl);
}

static NDIS_STATUS chimney_im_receive(NDIS_HANDLE context, PVOID oc,
                                      PNET_BUFFER_LIST nbl)
{
    return NdisOffloadTcpReceive(&chimney_im_obj(oc)->down, nbl);
}

static NDIS_STATUS chimney_im_disconnect(NDIS_HANDLE context, PVOID oc,
                                         PNET_BUFFER_LIST nbl, ULONG flags)
{
    return NdisOffloadTcpDisconnect(&chimney_im_obj(oc)->down, nbl, flags);
}

static NDIS_STATUS chimney_im_forward(NDIS_HANDLE context, PVOID oc,
                                      PNET_BUFFER_LIST nbl)
{
    return NdisOffloadTcpForward(&chimney_im_obj(oc)->down, nbl);
}

static NDIS_STATUS chimney_im_receive_return(NDIS_HANDLE context,
                                             PNET_BUFFER_LIST nbl)
{
    NdisOffloadTcpReceiveReturn(((ChimneyImBinding *)context)->binding, nbl);
    return NDIS_STATUS_SUCCESS;
}

/* --- completions and indications, up --- */

/* ProtocolTcpOffloadSendComplete: count, then complete above */
static VOID chimney_im_send_done(NDIS_HANDLE context, PNET_BUFFER_LIST nbl)
{
    ChimneyImBinding *b = context;

    CHIMNEY_IM_COUNT(send_complete_calls, 1);
    for (PNET_BUFFER_LIST l = nbl; l; l = l->Next) {
        CHIMNEY_IM_COUNT(send_complete_nbls, 1);
        CHIMNEY_IM_COUNT(send_bytes, (ULONG)(ULONG_PTR)
                         NET_BUFFER_LIST_INFO(l, TcpOffloadBytesTransferred));
        switch (l->Status) {
        case NDIS_STATUS_SUCCESS:
            CHIMNEY_IM_COUNT(send_success, 1);
            break;
        case NDIS_STATUS_UPLOAD_IN_PROGRESS:
            CHIMNEY_IM_COUNT(send_upload_in_progress, 1);
            break;
        case NDIS_STATUS_REQUEST_ABORTED:
            CHIMNEY_IM_COUNT(send_request_aborted, 1);
            break;
        default:
            CHIMNEY_IM_COUNT(send_other_status, 1);
            break;
        }
    }
    if (chimney_im_above(b)) {
        b->up.NdisTcpOffloadSendComplete(b->miniport, nbl);
    }
}

static ULONG chimney_im_count(PNET_BUFFER_LIST nbl)
{
    ULONG n = 0;

    for (; nbl; nbl = nbl->Next) {
        n++;
    }
    return n;
}

static VOID chimney_im_receive_done(NDIS_HANDLE context, PNET_BUFFER_LIST nbl)
{
    ChimneyImBinding *b = context;

    CHIMNEY_IM_COUNT(receive_complete_nbls, chimney_im_count(nbl));
    if (chimney_im_above(b)) {
        b->up.NdisTcpOffloadReceiveComplete(b->miniport, nbl);
    }
}

static VOID chimney_im_disconnect_done(NDIS_HANDLE context,
                                       PNET_BUFFER_LIST nbl)
{
    ChimneyImBinding *b = context;

    CHIMNEY_IM_COUNT(disconnect_complete_nbls, chimney_im_count(nbl));
    if (chimney_im_above(b)) {
        b->up.NdisTcpOffloadDisconnectComplete(b->miniport, nbl);
    }
}

static VOID chimney_im_forward_done(NDIS_HANDLE context, PNET_BUFFER_LIST nbl)
{
    ChimneyImBinding *b = context;

    CHIMNEY_IM_COUNT(forward_complete_nbls, chimney_im_count(nbl));
    if (chimney_im_above(b)) {
        b->up.NdisTcpOffloadForwardComplete(b->miniport, nbl);
    }
}

/* OffloadContext is the NDIS_OFFLOAD_HANDLE passed down: our object */
static VOID chimney_im_tcp_event(PVOID offload_context, ULONG type,
                                 ULONG info)
{
    ChimneyImObj *obj = offload_context;

    CHIMNEY_IM_COUNT(events, 1);
    if (chimney_im_above(obj->b)) {
        obj->b->up.NdisTcpOffloadEventHandler(obj->upper_handle, type, info);
    }
}

static NDIS_STATUS chimney_im_indicate(PVOID offload_context,
                                       PNET_BUFFER_LIST nbl,
                                       NDIS_STATUS status, PULONG consumed)
{
    ChimneyImObj *obj = offload_context;

    CHIMNEY_IM_COUNT(receive_indications, 1);
    if (!chimney_im_above(obj->b)) {
        *consumed = 0;
        return NDIS_STATUS_OFFLOAD_DATA_NOT_ACCEPTED;
    }
    return obj->b->up.NdisTcpOffloadReceiveHandler(obj->upper_handle, nbl,
                                                   status, consumed);
}

/* --- registration --- */

/* MiniportSetOptions: the provider handlers of the virtual adapters */
NDIS_STATUS chimney_im_provider_register(NDIS_HANDLE driver)
{
    static NDIS_PROVIDER_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS g = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_GENERIC,
            .Revision = 1,
            .Size = sizeof(g),
        },
        .InitiateOffloadHandler = chimney_im_initiate,
        .TerminateOffloadHandler = chimney_im_terminate,
        .UpdateOffloadHandler = chimney_im_update,
        .InvalidateOffloadHandler = chimney_im_invalidate,
        .QueryOffloadHandler = chimney_im_query,
    };
    static NDIS_PROVIDER_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS t = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_OFFLOAD_CHARACTERISTICS,
            .Revision = 1,
            .Size = sizeof(t),
        },
        .OffloadType = NdisTcpChimneyOffload,
        .TcpOffloadSendHandler = chimney_im_send,
        .TcpOffloadReceiveHandler = chimney_im_receive,
        .TcpOffloadDisconnectHandler = chimney_im_disconnect,
        .TcpOffloadForwardHandler = chimney_im_forward,
        .TcpOffloadReceiveReturnHandler = chimney_im_receive_return,
    };
    NDIS_STATUS st = NdisSetOptionalHandlers(driver, &g.Header);

    return st == NDIS_STATUS_SUCCESS ? NdisSetOptionalHandlers(driver,
                                                               &t.Header) : st;
}

/* ProtocolSetOptions: the client handlers of the bindings */
NDIS_STATUS chimney_im_client_register(NDIS_HANDLE driver)
{
    static NDIS_CLIENT_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS g = {
        .Header = {
            .Type =
                NDIS_OBJECT_TYPE_CLIENT_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS,
            .Revision =
                NDIS_CLIENT_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS_REVISION_1,
            .Size = sizeof(g),
        },
        .InitiateOffloadCompleteHandler = chimney_im_state_done,
        .TerminateOffloadCompleteHandler = chimney_im_state_done,
        .UpdateOffloadCompleteHandler = chimney_im_state_done,
        .InvalidateOffloadCompleteHandler = chimney_im_state_done,
        .QueryOffloadCompleteHandler = chimney_im_state_done,
        .IndicateOffloadEventHandler = chimney_im_offload_event,
    };
    static NDIS_CLIENT_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS t = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_CLIENT_CHIMNEY_OFFLOAD_CHARACTERISTICS,
            .Revision =
                NDIS_CLIENT_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS_REVISION_1,
            .Size = sizeof(t),
        },
        .OffloadType = NdisTcpChimneyOffload,
        .TcpOffloadSendCompleteHandler = chimney_im_send_done,
        .TcpOffloadReceiveCompleteHandler = chimney_im_receive_done,
        .TcpOffloadDisconnectCompleteHandler = chimney_im_disconnect_done,
        .TcpOffloadForwardCompleteHandler = chimney_im_forward_done,
        .TcpOffloadEventHandler = chimney_im_tcp_event,
        .TcpOffloadReceiveIndicateHandler = chimney_im_indicate,
    };
    NDIS_STATUS st = NdisSetOptionalHandlers(driver, &g.Header);

    return st == NDIS_STATUS_SUCCESS ? NdisSetOptionalHandlers(driver,
                                                               &t.Header) : st;
}

/*
 * The virtual adapter offers what the adapter below offered, once NDIS
 * gives it the entry points to complete through.
 */
VOID chimney_im_offload_attributes(ChimneyImBinding *b)
{
    static NDIS_OFFLOAD none = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_OFFLOAD,
            .Revision = NDIS_OFFLOAD_REVISION_1,
            .Size = NDIS_SIZEOF_NDIS_OFFLOAD_REVISION_1,
        },
    };
    NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES attrs = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES,
            .Revision = NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES_REVISION_1,
            .Size = sizeof(attrs),
        },
        .DefaultOffloadConfiguration = &none,
        .HardwareOffloadCapabilities = &none,
        .DefaultTcpConnectionOffloadConfiguration = &b->tcp_caps,
        .TcpConnectionOffloadHardwareCapabilities = &b->tcp_caps,
    };
    PNDIS_OFFLOAD_EVENT_HANDLERS h;
    PNDIS_TCP_OFFLOAD_EVENT_HANDLERS t;

    if (!b->lower_chimney ||
        NdisMGetOffloadHandlers(b->miniport, NdisTcpChimneyOffload, &h) !=
        NDIS_STATUS_SUCCESS) {
        return;
    }
    t = (PNDIS_TCP_OFFLOAD_EVENT_HANDLERS)h;
    if (t->Header.Size < sizeof(*t)) {
        return;
    }
    b->up = *t;
    if (chimney_im_set_attributes(b->miniport, &attrs) ==
        NDIS_STATUS_SUCCESS) {
        b->chimney = TRUE;
    }
}
