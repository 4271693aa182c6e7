/*
 * chimney-im: the miniport half, the virtual adapter above each binding
 *
 * It describes itself as the lower adapter did at bind time (MAC, MTU,
 * link, and its TCP chimney capability), sends clones of what it is given
 * down the binding, gives received clones back, and passes OID requests
 * down as clones.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-im.h"

static NDIS_STATUS chimney_im_attributes(ChimneyImBinding *b)
{
    NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES reg = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
            .Revision = 1,
            .Size =
                NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1,
        },
        .MiniportAdapterContext = b,
        .InterfaceType = NdisInterfaceInternal,
    };
    NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES g = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
            .Revision = NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
            .Size = NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
        },
        .MediaType = NdisMedium802_3,
        .PhysicalMediumType = NdisPhysicalMediumUnspecified,
        .MtuSize = b->mtu,
        .MaxXmitLinkSpeed = b->link_speed,
        .XmitLinkSpeed = b->link_speed,
        .MaxRcvLinkSpeed = b->link_speed,
        .RcvLinkSpeed = b->link_speed,
        .MediaConnectState = b->connect,
        .MediaDuplexState = MediaDuplexStateFull,
        .LookaheadSize = b->lookahead,
        .MacOptions = b->mac_options,
        .SupportedPacketFilters = b->packet_filters,
        .MaxMulticastListSize = b->max_multicast,
        .MacAddressLength = 6,
        .AccessType = NET_IF_ACCESS_BROADCAST,
        .DirectionType = NET_IF_DIRECTION_SENDRECEIVE,
        .ConnectionType = NET_IF_CONNECTION_DEDICATED,
        .IfType = IF_TYPE_ETHERNET_CSMACD,
        .IfConnectorPresent = FALSE,
    };
    NDIS_STATUS st;

    memcpy(g.PermanentMacAddress, b->mac, 6);
    memcpy(g.CurrentMacAddress, b->mac, 6);
    st = chimney_im_set_attributes(b->miniport, &reg);
    if (st == NDIS_STATUS_SUCCESS) {
        st = chimney_im_set_attributes(b->miniport, &g);
    }
    return st;
}

static NDIS_STATUS chimney_im_initialize(NDIS_HANDLE miniport,
                                         NDIS_HANDLE driver_context,
                                         PNDIS_MINIPORT_INIT_PARAMETERS ip)
{
    ChimneyImBinding *b = ip->IMDeviceInstanceContext;
    NDIS_STATUS st;

    b->miniport = miniport;
    b->instance_pending = FALSE;
    st = chimney_im_attributes(b);
    if (st == NDIS_STATUS_SUCCESS) {
        chimney_im_offload_attributes(b);
    } else {
        b->miniport = NULL;
    }
    return st;
}

static VOID chimney_im_halt(NDIS_HANDLE context, NDIS_HALT_ACTION action)
{
    ChimneyImBinding *b = context;

    /* Completions from below may still come: they check this */
    NdisAcquireSpinLock(&b->lock);
    b->miniport = NULL;
    b->chimney = FALSE;
    NdisReleaseSpinLock(&b->lock);
}

/* Paused once no clone of ours is outstanding in either direction */
VOID chimney_im_pause_check(ChimneyImBinding *b)
{
    BOOLEAN done = FALSE;

    NdisAcquireSpinLock(&b->lock);
    if (b->pause_pending && !b->sends_down && !b->receives_up) {
        b->pause_pending = FALSE;
        done = TRUE;
    }
    NdisReleaseSpinLock(&b->lock);
    if (done) {
        NdisMPauseComplete(b->miniport);
    }
}

static NDIS_STATUS chimney_im_pause(NDIS_HANDLE context,
                                    PNDIS_MINIPORT_PAUSE_PARAMETERS pp)
{
    ChimneyImBinding *b = context;
    NDIS_STATUS st = NDIS_STATUS_SUCCESS;

    NdisAcquireSpinLock(&b->lock);
    b->paused = TRUE;
    if (b->sends_down || b->receives_up) {
        b->pause_pending = TRUE;
        st = NDIS_STATUS_PENDING;
    }
    NdisReleaseSpinLock(&b->lock);
    return st;
}

static NDIS_STATUS chimney_im_restart(NDIS_HANDLE context,
                                      PNDIS_MINIPORT_RESTART_PARAMETERS rp)
{
    ((ChimneyImBinding *)context)->paused = FALSE;
    return NDIS_STATUS_SUCCESS;
}

/* Frames from above go down as clones; the originals complete with them */
static VOID chimney_im_send(NDIS_HANDLE context, PNET_BUFFER_LIST nbls,
                            NDIS_PORT_NUMBER port, ULONG flags)
{
    ChimneyImBinding *b = context;
    ULONG cflags = flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL ?
                   NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0;
    PNET_BUFFER_LIST next;

    for (PNET_BUFFER_LIST n = nbls; n; n = next) {
        PNET_BUFFER_LIST c = b->paused ? NULL :
            NdisAllocateCloneNetBufferList(n, b->nbl_pool, b->nb_pool, 0);

        next = n->Next;
        n->Next = NULL;
        if (!c) {
            n->Status = b->paused ? NDIS_STATUS_PAUSED :
                                    NDIS_STATUS_RESOURCES;
            NdisMSendNetBufferListsComplete(b->miniport, n, cflags);
            continue;
        }
        c->ParentNetBufferList = n;
        c->SourceHandle = b->binding;
        c->Next = NULL;
        InterlockedIncrement(&b->sends_down);
        NdisSendNetBufferLists(b->binding, c, port, flags);
    }
}

/* Received clones come back: the originals go back down */
static VOID chimney_im_return(NDIS_HANDLE context, PNET_BUFFER_LIST nbls,
                              ULONG flags)
{
    ChimneyImBinding *b = context;
    PNET_BUFFER_LIST next;

    for (PNET_BUFFER_LIST c = nbls; c; c = next) {
        PNET_BUFFER_LIST orig = c->ParentNetBufferList;

        next = c->Next;
        NdisFreeCloneNetBufferList(c, 0);
        orig->Next = NULL;
        NdisReturnNetBufferLists(b->binding, orig, flags);
        InterlockedDecrement(&b->receives_up);
    }
    chimney_im_pause_check(b);
}

/* OID requests: NDIS sends one at a time; a clone goes down */
static NDIS_STATUS chimney_im_oid(NDIS_HANDLE context, PNDIS_OID_REQUEST req)
{
    ChimneyImBinding *b = context;
    PNDIS_OID_REQUEST clone;
    NDIS_STATUS st;

    st = NdisAllocateCloneOidRequest(b->miniport, req, CHIMNEY_IM_TAG,
                                     &clone);
    if (st != NDIS_STATUS_SUCCESS) {
        return st;
    }
    NdisAcquireSpinLock(&b->lock);
    b->oid = req;
    b->oid_clone = clone;
    b->oid_owner = b->miniport;
    NdisReleaseSpinLock(&b->lock);
    st = NdisOidRequest(b->binding, clone);
    if (st != NDIS_STATUS_PENDING) {
        NdisAcquireSpinLock(&b->lock);
        b->oid = NULL;
        b->oid_clone = NULL;
        NdisReleaseSpinLock(&b->lock);
        chimney_im_oid_results(req, clone);
        NdisFreeCloneOidRequest(b->miniport, clone);
    }
    return st;
}

static VOID chimney_im_cancel_send(NDIS_HANDLE context, PVOID id)
{
}

static VOID chimney_im_pnp_event(NDIS_HANDLE context,
                                 PNET_DEVICE_PNP_EVENT event)
{
}

static VOID chimney_im_shutdown(NDIS_HANDLE context,
                                NDIS_SHUTDOWN_ACTION action)
{
}

static VOID chimney_im_cancel_oid(NDIS_HANDLE context, PVOID id)
{
}

static NDIS_STATUS chimney_im_miniport_options(NDIS_HANDLE driver,
                                               NDIS_HANDLE context)
{
    return chimney_im_provider_register(driver);
}

NDIS_MINIPORT_DRIVER_CHARACTERISTICS chimney_im_miniport_chars = {
    .Header = {
        .Type = NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
        .Revision = NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
        .Size = NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
    },
    .MajorNdisVersion = 6,
    .MinorNdisVersion = 20,
    .MajorDriverVersion = 1,
    .Flags = NDIS_INTERMEDIATE_DRIVER,
    .SetOptionsHandler = chimney_im_miniport_options,
    .InitializeHandlerEx = chimney_im_initialize,
    .HaltHandlerEx = chimney_im_halt,
    .PauseHandler = chimney_im_pause,
    .RestartHandler = chimney_im_restart,
    .OidRequestHandler = chimney_im_oid,
    .SendNetBufferListsHandler = chimney_im_send,
    .ReturnNetBufferListsHandler = chimney_im_return,
    .CancelSendHandler = chimney_im_cancel_send,
    .DevicePnPEventNotifyHandler = chimney_im_pnp_event,
    .ShutdownHandlerEx = chimney_im_shutdown,
    .CancelOidRequestHandler = chimney_im_cancel_oid,
};
