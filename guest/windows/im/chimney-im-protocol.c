/*
 * chimney-im: the protocol half, bound to a lower adapter
 *
 * A bind opens the adapter and starts the virtual adapter that
 * UpperBindings names; unbind stops it and closes.  Received frames go
 * up as clones (the originals go back down when the clones come back);
 * send completions, OID completions and status indications are passed
 * up to the virtual adapter.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-im.h"

static VOID chimney_im_free(ChimneyImBinding *b)
{
    if (b->nb_pool) {
        NdisFreeNetBufferPool(b->nb_pool);
    }
    if (b->nbl_pool) {
        NdisFreeNetBufferListPool(b->nbl_pool);
    }
    NdisFreeSpinLock(&b->lock);
    NdisFreeMemory(b, sizeof(*b), 0);
}

/* UpperBindings: the device instance of the virtual adapter */
static NDIS_STATUS chimney_im_read_upper(ChimneyImBinding *b,
                                         NDIS_HANDLE bind_context)
{
    static NDIS_STRING key = RTL_CONSTANT_STRING(L"UpperBindings");
    NDIS_CONFIGURATION_OBJECT co = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
            .Revision = NDIS_CONFIGURATION_OBJECT_REVISION_1,
            .Size = sizeof(co),
        },
        .NdisHandle = bind_context,
    };
    PNDIS_CONFIGURATION_PARAMETER param;
    NDIS_HANDLE cfg;
    NDIS_STATUS st;

    st = NdisOpenConfigurationEx(&co, &cfg);
    if (st != NDIS_STATUS_SUCCESS) {
        return st;
    }
    NdisReadConfiguration(&st, &param, cfg, &key, NdisParameterString);
    if (st == NDIS_STATUS_SUCCESS) {
        USHORT len = param->ParameterData.StringData.Length;

        if (len > sizeof(b->upper_buf)) {
            st = NDIS_STATUS_RESOURCES;
        } else {
            memcpy(b->upper_buf, param->ParameterData.StringData.Buffer, len);
            b->upper.Buffer = b->upper_buf;
            b->upper.Length = len;
            b->upper.MaximumLength = sizeof(b->upper_buf);
        }
    }
    NdisCloseConfiguration(cfg);
    return st;
}

/* The lower adapter is open: bring the virtual adapter up above it */
static NDIS_STATUS chimney_im_opened(ChimneyImBinding *b, NDIS_STATUS st)
{
    if (st != NDIS_STATUS_SUCCESS) {
        return st;
    }
    b->instance_pending = TRUE;
    st = NdisIMInitializeDeviceInstanceEx(chimney_im_miniport_driver,
                                          &b->upper, b);
    if (st != NDIS_STATUS_SUCCESS) {
        b->instance_pending = FALSE;
        if (NdisCloseAdapterEx(b->binding) == NDIS_STATUS_PENDING) {
            NdisWaitEvent(&b->closed, 0);
        }
    }
    return st;
}

static VOID chimney_im_open_complete(NDIS_HANDLE context, NDIS_STATUS st)
{
    ChimneyImBinding *b = context;
    NDIS_HANDLE bind_context = b->bind_context;

    st = chimney_im_opened(b, st);
    NdisCompleteBindAdapterEx(bind_context, st);
    if (st != NDIS_STATUS_SUCCESS) {
        chimney_im_free(b);
    }
}

static VOID chimney_im_remember(ChimneyImBinding *b, PNDIS_BIND_PARAMETERS bp)
{
    b->mtu = bp->MtuSize;
    b->link_speed = bp->XmitLinkSpeed;
    b->connect = bp->MediaConnectState;
    memcpy(b->mac, bp->CurrentMacAddress, 6);
    b->packet_filters = bp->SupportedPacketFilters;
    b->lookahead = bp->LookaheadSize;
    b->mac_options = bp->MacOptions;
    b->max_multicast = bp->MaxMulticastListSize;
    if (bp->TcpConnectionOffloadCapabilities &&
        bp->TcpConnectionOffloadCapabilities->TcpConnectionOffloadCapacity) {
        b->lower_chimney = TRUE;
        b->tcp_caps = *bp->TcpConnectionOffloadCapabilities;
    }
}

static NDIS_STATUS chimney_im_bind(NDIS_HANDLE driver_context,
                                   NDIS_HANDLE bind_context,
                                   PNDIS_BIND_PARAMETERS bp)
{
    static NDIS_MEDIUM media[] = { NdisMedium802_3 };
    NET_BUFFER_LIST_POOL_PARAMETERS lp = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_DEFAULT,
            .Revision = NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
            .Size = sizeof(lp),
        },
        .ProtocolId = NDIS_PROTOCOL_ID_DEFAULT,
        .PoolTag = CHIMNEY_IM_TAG,
    };
    NET_BUFFER_POOL_PARAMETERS np = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_DEFAULT,
            .Revision = NET_BUFFER_POOL_PARAMETERS_REVISION_1,
            .Size = sizeof(np),
        },
        .PoolTag = CHIMNEY_IM_TAG,
    };
    NDIS_OPEN_PARAMETERS op = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_OPEN_PARAMETERS,
            .Revision = NDIS_OPEN_PARAMETERS_REVISION_1,
            .Size = sizeof(op),
        },
        .AdapterName = bp->AdapterName,
        .MediumArray = media,
        .MediumArraySize = ARRAYSIZE(media),
    };
    ChimneyImBinding *b;
    NDIS_STATUS st;

    b = NdisAllocateMemoryWithTagPriority(chimney_im_protocol, sizeof(*b),
                                          CHIMNEY_IM_TAG, NormalPoolPriority);
    if (!b) {
        return NDIS_STATUS_RESOURCES;
    }
    memset(b, 0, sizeof(*b));
    NdisAllocateSpinLock(&b->lock);
    NdisInitializeEvent(&b->closed);
    b->paused = TRUE;
    chimney_im_remember(b, bp);
    b->nbl_pool = NdisAllocateNetBufferListPool(chimney_im_protocol, &lp);
    b->nb_pool = NdisAllocateNetBufferPool(chimney_im_protocol, &np);
    st = b->nbl_pool && b->nb_pool ? chimney_im_read_upper(b, bind_context) :
                                     NDIS_STATUS_RESOURCES;
    if (st != NDIS_STATUS_SUCCESS) {
        chimney_im_free(b);
        return st;
    }
    op.SelectedMediumIndex = &b->medium_index;
    b->bind_context = bind_context;
    st = NdisOpenAdapterEx(chimney_im_protocol, b, &op, bind_context,
                           &b->binding);
    if (st == NDIS_STATUS_PENDING) {
        return st;                  /* chimney_im_open_complete goes on */
    }
    st = chimney_im_opened(b, st);
    if (st != NDIS_STATUS_SUCCESS) {
        chimney_im_free(b);
    }
    return st;
}

static VOID chimney_im_close_complete(NDIS_HANDLE context)
{
    NdisSetEvent(&((ChimneyImBinding *)context)->closed);
}

/* The virtual adapter goes first (its halt drains it), then the binding */
static NDIS_STATUS chimney_im_unbind(NDIS_HANDLE unbind_context,
                                     NDIS_HANDLE context)
{
    ChimneyImBinding *b = context;

    if (b->miniport) {
        NdisIMDeInitializeDeviceInstance(b->miniport);
    } else if (b->instance_pending) {
        NdisIMCancelInitializeDeviceInstance(chimney_im_miniport_driver,
                                             &b->upper);
    }
    if (NdisCloseAdapterEx(b->binding) == NDIS_STATUS_PENDING) {
        NdisWaitEvent(&b->closed, 0);
    }
    chimney_im_free(b);
    return NDIS_STATUS_SUCCESS;
}

static NDIS_STATUS chimney_im_pnp(NDIS_HANDLE context,
                                  PNET_PNP_EVENT_NOTIFICATION event)
{
    return NDIS_STATUS_SUCCESS;
}

static VOID chimney_im_uninstall(VOID)
{
}

/* The virtual adapter's OID request, answered below: copy the result up */
static VOID chimney_im_oid_complete(NDIS_HANDLE context,
                                    PNDIS_OID_REQUEST clone, NDIS_STATUS st)
{
    ChimneyImBinding *b = context;
    PNDIS_OID_REQUEST req;

    NDIS_HANDLE owner;

    NdisAcquireSpinLock(&b->lock);
    req = b->oid_clone == clone ? b->oid : NULL;
    owner = b->oid_owner;
    b->oid = NULL;
    b->oid_clone = NULL;
    NdisReleaseSpinLock(&b->lock);
    if (!req) {
        return;
    }
    chimney_im_oid_results(req, clone);
    NdisFreeCloneOidRequest(owner, clone);
    if (b->miniport) {
        NdisMOidRequestComplete(b->miniport, req, st);
    }
}

/* Link and other status: the virtual adapter says the same */
static VOID chimney_im_status(NDIS_HANDLE context,
                              PNDIS_STATUS_INDICATION si)
{
    ChimneyImBinding *b = context;
    NDIS_STATUS_INDICATION up;

    if (si->StatusCode == NDIS_STATUS_LINK_STATE &&
        si->StatusBufferSize >= sizeof(NDIS_LINK_STATE)) {
        b->connect = ((PNDIS_LINK_STATE)si->StatusBuffer)->MediaConnectState;
    }
    if (!b->miniport) {
        return;
    }
    up = *si;
    up.SourceHandle = b->miniport;
    up.PortNumber = 0;
    up.DestinationHandle = NULL;
    NdisMIndicateStatusEx(b->miniport, &up);
}

/*
 * Frames from below: up as clones, in batches.  With RESOURCES set below
 * (or no clone to be had) the overlying driver must copy at once, and
 * everything comes back when the indication returns.
 */
static VOID chimney_im_receive(NDIS_HANDLE context, PNET_BUFFER_LIST nbls,
                               NDIS_PORT_NUMBER port, ULONG count,
                               ULONG flags)
{
    ChimneyImBinding *b = context;
    ULONG rflags = flags & NDIS_RETURN_FLAGS_DISPATCH_LEVEL;
    PNET_BUFFER_LIST next;

    if (!b->miniport || b->paused) {
        if (!(flags & NDIS_RECEIVE_FLAGS_RESOURCES)) {
            NdisReturnNetBufferLists(b->binding, nbls, rflags);
        }
        return;
    }
    for (PNET_BUFFER_LIST n = nbls; n; n = next) {
        PNET_BUFFER_LIST c = NdisAllocateCloneNetBufferList(n, b->nbl_pool,
                                                            b->nb_pool, 0);
        ULONG f = flags;

        next = n->Next;
        n->Next = NULL;
        if (!c) {
            if (!(flags & NDIS_RECEIVE_FLAGS_RESOURCES)) {
                NdisReturnNetBufferLists(b->binding, n, rflags);
            }
            continue;
        }
        c->ParentNetBufferList = n;
        c->SourceHandle = b->miniport;
        c->Next = NULL;
        if (!(f & NDIS_RECEIVE_FLAGS_RESOURCES)) {
            InterlockedIncrement(&b->receives_up);
        }
        NdisMIndicateReceiveNetBufferLists(b->miniport, c, port, 1, f);
        if (f & NDIS_RECEIVE_FLAGS_RESOURCES) {
            NdisFreeCloneNetBufferList(c, 0);   /* the original stays below */
        }
    }
}

/* A clone of ours was sent: its original completes above */
static VOID chimney_im_send_complete(NDIS_HANDLE context,
                                     PNET_BUFFER_LIST nbls, ULONG flags)
{
    ChimneyImBinding *b = context;
    PNET_BUFFER_LIST next;

    for (PNET_BUFFER_LIST c = nbls; c; c = next) {
        PNET_BUFFER_LIST orig = c->ParentNetBufferList;

        next = c->Next;
        orig->Status = c->Status;
        orig->Next = NULL;
        NdisFreeCloneNetBufferList(c, 0);
        NdisMSendNetBufferListsComplete(b->miniport, orig, flags);
        InterlockedDecrement(&b->sends_down);
    }
    chimney_im_pause_check(b);
}

static NDIS_STATUS chimney_im_protocol_options(NDIS_HANDLE driver,
                                               NDIS_HANDLE context)
{
    return chimney_im_client_register(driver);
}

NDIS_PROTOCOL_DRIVER_CHARACTERISTICS chimney_im_protocol_chars = {
    .Header = {
        .Type = NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
        .Revision = NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
        .Size = sizeof(NDIS_PROTOCOL_DRIVER_CHARACTERISTICS),
    },
    .MajorNdisVersion = 6,
    .MinorNdisVersion = 20,
    .MajorDriverVersion = 1,
    .Name = RTL_CONSTANT_STRING(L"chimneyim"),
    .SetOptionsHandler = chimney_im_protocol_options,
    .BindAdapterHandlerEx = chimney_im_bind,
    .UnbindAdapterHandlerEx = chimney_im_unbind,
    .OpenAdapterCompleteHandlerEx = chimney_im_open_complete,
    .CloseAdapterCompleteHandlerEx = chimney_im_close_complete,
    .NetPnPEventHandler = chimney_im_pnp,
    .UninstallHandler = chimney_im_uninstall,
    .OidRequestCompleteHandler = chimney_im_oid_complete,
    .StatusHandlerEx = chimney_im_status,
    .ReceiveNetBufferListsHandler = chimney_im_receive,
    .SendNetBufferListsCompleteHandler = chimney_im_send_complete,
};
