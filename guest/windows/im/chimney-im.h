/*
 * chimney-im: a pass-through NDIS 6.20 intermediate driver with TCP
 * chimney, the sample a driver developer adapts
 *
 * Each lower adapter it binds to (its protocol half) gets one virtual
 * adapter above it (its miniport half).  Frames, OID requests and status
 * indications go through unchanged; so does chimney: offload state trees
 * are converted between the miniport and protocol block-list layouts and
 * passed down, I/O requests are passed down with the driver's own
 * NDIS_OFFLOAD_HANDLE, and completions and indications come back up.
 * Along the way it counts what NDIS hands ProtocolTcpOffloadSendComplete.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_IM_H
#define CHIMNEY_IM_H

#include "chimney-ndis-im.h"
#include "chimney-im-ioctl.h"

#define CHIMNEY_IM_TAG          0x6d496843      /* "ChIm" */
#define CHIMNEY_IM_NAME_MAX     128

/* One lower adapter and the virtual adapter above it */
typedef struct ChimneyImBinding {
    NDIS_HANDLE binding;            /* NdisOpenAdapterEx */
    NDIS_HANDLE bind_context;       /* until the bind completes */
    NDIS_HANDLE unbind_context;     /* until the close completes */
    NDIS_HANDLE miniport;           /* the virtual adapter, once up */
    NDIS_STRING upper;              /* its device instance */
    WCHAR upper_buf[CHIMNEY_IM_NAME_MAX];
    NDIS_MEDIUM medium;
    UINT medium_index;
    BOOLEAN instance_pending;       /* InitializeDeviceInstanceEx called */

    /* the lower adapter as NDIS described it at bind time */
    ULONG mtu;
    ULONG64 link_speed;
    NDIS_MEDIA_CONNECT_STATE connect;
    UCHAR mac[6];
    ULONG packet_filters, lookahead, mac_options, max_multicast;
    BOOLEAN lower_chimney;
    NDIS_TCP_CONNECTION_OFFLOAD tcp_caps;

    /* NDIS's chimney entry points for the virtual adapter */
    NDIS_TCP_OFFLOAD_EVENT_HANDLERS up;
    BOOLEAN chimney;

    NDIS_SPIN_LOCK lock;
    NDIS_HANDLE nbl_pool;           /* clones of plain frames */
    NDIS_HANDLE nb_pool;
    BOOLEAN paused;
    LONG sends_down;                /* clones below us */
    LONG receives_up;               /* clones above us */
    BOOLEAN pause_pending;
    NDIS_EVENT closed;
    PNDIS_OID_REQUEST oid;          /* the virtual adapter's, passed down */
    PNDIS_OID_REQUEST oid_clone;
    NDIS_HANDLE oid_owner;          /* the adapter that made the clone */
} ChimneyImBinding;

/*
 * An offloaded object as the IM knows it: the NDIS_OFFLOAD_HANDLE passed
 * down (NDIS hands it back as the OffloadContext of indications), where
 * the driver below keeps its context, and the overlying driver's handle.
 */
typedef struct ChimneyImObj {
    NDIS_OFFLOAD_HANDLE down;       /* first: OffloadContext is this */
    PVOID lower_ctx;                /* the lower target writes it */
    NDIS_HANDLE upper_handle;       /* NdisOffloadHandle from above */
    PVOID *upper_ctx;               /* where the driver above keeps us */
    ChimneyImBinding *b;
    USHORT type;                    /* OFFLOAD_STATE_TYPE */
} ChimneyImObj;

extern NDIS_HANDLE chimney_im_miniport_driver;
extern NDIS_HANDLE chimney_im_protocol;
extern ChimneyImCounters chimney_im_counters;

/* Counters are bumped from any CPU at any IRQL, hence interlocked */
typedef LONG64 volatile ChimneyImCounter;   /* volatile: interlocked API */
#define CHIMNEY_IM_COUNT(field, n) \
    InterlockedExchangeAdd64((ChimneyImCounter *)&chimney_im_counters.field, \
                             (LONG64)(n))

/* Either attributes structure; NDIS tells them apart by the header */
static inline NDIS_STATUS chimney_im_set_attributes(NDIS_HANDLE miniport,
                                                    PVOID attrs)
{
    return NdisMSetMiniportAttributes(miniport, attrs);
}

/*
 * A clone's results into the original: query and set keep them in
 * QUERY/SET_INFORMATION, a method request in METHOD_INFORMATION.
 */
static inline VOID chimney_im_oid_results(PNDIS_OID_REQUEST req,
                                          const NDIS_OID_REQUEST *clone)
{
    if (req->RequestType == NdisRequestMethod) {
        req->Method.BytesWritten = clone->Method.BytesWritten;
        req->Method.BytesRead = clone->Method.BytesRead;
        req->Method.BytesNeeded = clone->Method.BytesNeeded;
    } else {
        req->Info.BytesDone = clone->Info.BytesDone;
        req->Info.BytesNeeded = clone->Info.BytesNeeded;
    }
}

/* chimney-im-miniport.c: the virtual adapter */
extern NDIS_MINIPORT_DRIVER_CHARACTERISTICS chimney_im_miniport_chars;
VOID chimney_im_pause_check(ChimneyImBinding *b);

/* chimney-im-protocol.c: the binding to the lower adapter */
extern NDIS_PROTOCOL_DRIVER_CHARACTERISTICS chimney_im_protocol_chars;

/* chimney-im-offload.c: chimney through the driver */
NDIS_STATUS chimney_im_provider_register(NDIS_HANDLE driver);
NDIS_STATUS chimney_im_client_register(NDIS_HANDLE driver);
VOID chimney_im_offload_attributes(ChimneyImBinding *b);

#endif /* CHIMNEY_IM_H */
