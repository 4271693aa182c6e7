/*
 * chimney-nic: NDIS 6.20 miniport for Windows 7 / Server 2008 R2 and later
 *
 * This is the driver's registration with NDIS: the miniport
 * characteristics (NDIS 6.20) and, from MiniportSetOptions, the chimney
 * provider handler sets without which NDIS does not offer TCP chimney to
 * the adapter.  The ring and connection logic it drives is
 * hw/net/chimney/chimney-guest.c, shared with the qtest driver.
 *
 * Status: bring-up in progress.  MiniportInitializeEx does not yet map
 * the device: it refuses the adapter (NDIS_STATUS_NOT_SUPPORTED), so the
 * driver loads and registers but no adapter starts.  The chimney handlers
 * complete every request with a failure status, as NDIS requires of a
 * target that cannot take an offload.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "chimney-ndis.h"
#include "hw/net/chimney/chimney-guest.h"

#define CHIMNEY_NDIS_MAJOR      6
#define CHIMNEY_NDIS_MINOR      20
#define CHIMNEY_DRIVER_MAJOR    1
#define CHIMNEY_DRIVER_MINOR    CHIMNEY_VERSION_MINOR

static NDIS_HANDLE chimney_driver_handle;

static NDIS_STATUS chimney_initialize(NDIS_HANDLE miniport,
                                      NDIS_HANDLE driver_context,
                                      PNDIS_MINIPORT_INIT_PARAMETERS params)
{
    DbgPrint("chimney-nic: adapter bring-up is not implemented yet\n");
    return NDIS_STATUS_NOT_SUPPORTED;
}

/* No adapter ever starts, so NDIS calls none of these. */
static VOID chimney_halt(NDIS_HANDLE adapter, NDIS_HALT_ACTION action)
{
}

static NDIS_STATUS chimney_pause(NDIS_HANDLE adapter,
                                 PNDIS_MINIPORT_PAUSE_PARAMETERS params)
{
    return NDIS_STATUS_SUCCESS;
}

static NDIS_STATUS chimney_restart(NDIS_HANDLE adapter,
                                   PNDIS_MINIPORT_RESTART_PARAMETERS params)
{
    return NDIS_STATUS_SUCCESS;
}

static NDIS_STATUS chimney_oid_request(NDIS_HANDLE adapter,
                                       PNDIS_OID_REQUEST request)
{
    return NDIS_STATUS_NOT_SUPPORTED;
}

static VOID chimney_send_nbls(NDIS_HANDLE adapter, PNET_BUFFER_LIST nbl,
                              NDIS_PORT_NUMBER port, ULONG flags)
{
}

static VOID chimney_return_nbls(NDIS_HANDLE adapter, PNET_BUFFER_LIST nbl,
                                ULONG flags)
{
}

static VOID chimney_cancel_send(NDIS_HANDLE adapter, PVOID cancel_id)
{
}

static VOID chimney_pnp_event(NDIS_HANDLE adapter, PNET_DEVICE_PNP_EVENT event)
{
}

static VOID chimney_shutdown(NDIS_HANDLE adapter, NDIS_SHUTDOWN_ACTION action)
{
}

static VOID chimney_cancel_oid(NDIS_HANDLE adapter, PVOID request_id)
{
}

/* Chimney: an offload this target cannot take fails, block by block */
static VOID chimney_fail_tree(PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST list)
{
    for (; list; list = list->NextBlock) {
        list->Status = NDIS_STATUS_FAILURE;
        chimney_fail_tree(list->DependentBlockList);
    }
}

static VOID chimney_initiate_offload(NDIS_HANDLE adapter,
                                     PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST list)
{
    (void)adapter;
    chimney_fail_tree(list);
}

static NDIS_STATUS chimney_tcp_send(NDIS_HANDLE adapter, PVOID context,
                                    PNET_BUFFER_LIST nbl)
{
    return NDIS_STATUS_PENDING;
}

static NDIS_STATUS chimney_tcp_disconnect(NDIS_HANDLE adapter, PVOID context,
                                          PNET_BUFFER_LIST nbl, ULONG flags)
{
    return NDIS_STATUS_PENDING;
}

static NDIS_STATUS chimney_tcp_receive_return(NDIS_HANDLE adapter,
                                              PNET_BUFFER_LIST nbl)
{
    return NDIS_STATUS_SUCCESS;
}

/* The chimney provider handlers, registered in MiniportSetOptions */
static NDIS_PROVIDER_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS chimney_generic = {
    .Header = {
        .Type = NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_GENERIC,
        .Revision = 1,
        .Size = sizeof(NDIS_PROVIDER_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS),
    },
    .InitiateOffloadHandler = chimney_initiate_offload,
    .TerminateOffloadHandler = chimney_initiate_offload,
    .UpdateOffloadHandler = chimney_initiate_offload,
    .InvalidateOffloadHandler = chimney_initiate_offload,
    .QueryOffloadHandler = chimney_initiate_offload,
};

static NDIS_PROVIDER_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS chimney_tcp = {
    .Header = {
        .Type = NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_OFFLOAD_CHARACTERISTICS,
        .Revision = 1,
        .Size = sizeof(NDIS_PROVIDER_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS),
    },
    .OffloadType = NdisTcpChimneyOffload,
    .TcpOffloadSendHandler = chimney_tcp_send,
    .TcpOffloadReceiveHandler = chimney_tcp_send,
    .TcpOffloadDisconnectHandler = chimney_tcp_disconnect,
    .TcpOffloadForwardHandler = chimney_tcp_send,
    .TcpOffloadReceiveReturnHandler = chimney_tcp_receive_return,
};

/* MiniportSetOptions: generic handlers, then TCP */
static NDIS_STATUS chimney_set_options(NDIS_HANDLE driver,
                                       NDIS_HANDLE driver_context)
{
    NDIS_STATUS status;

    status = NdisSetOptionalHandlers(driver, &chimney_generic.Header);
    if (status == NDIS_STATUS_SUCCESS) {
        status = NdisSetOptionalHandlers(driver, &chimney_tcp.Header);
    }
    return status;
}

static VOID chimney_unload(PDRIVER_OBJECT driver)
{
    NdisMDeregisterMiniportDriver(chimney_driver_handle);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT driver, PUNICODE_STRING registry)
{
    NDIS_MINIPORT_DRIVER_CHARACTERISTICS ch = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
            .Revision = NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
            .Size = NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
        },
        .MajorNdisVersion = CHIMNEY_NDIS_MAJOR,
        .MinorNdisVersion = CHIMNEY_NDIS_MINOR,
        .MajorDriverVersion = CHIMNEY_DRIVER_MAJOR,
        .MinorDriverVersion = CHIMNEY_DRIVER_MINOR,
        .SetOptionsHandler = chimney_set_options,
        .InitializeHandlerEx = chimney_initialize,
        .HaltHandlerEx = chimney_halt,
        .UnloadHandler = chimney_unload,
        .PauseHandler = chimney_pause,
        .RestartHandler = chimney_restart,
        .OidRequestHandler = chimney_oid_request,
        .SendNetBufferListsHandler = chimney_send_nbls,
        .ReturnNetBufferListsHandler = chimney_return_nbls,
        .CancelSendHandler = chimney_cancel_send,
        .DevicePnPEventNotifyHandler = chimney_pnp_event,
        .ShutdownHandlerEx = chimney_shutdown,
        .CancelOidRequestHandler = chimney_cancel_oid,
    };
    NDIS_STATUS status;

    DbgPrint("chimney-nic: interface %u.%u driver\n", CHIMNEY_VERSION_MAJOR,
             CHIMNEY_VERSION_MINOR);
    status = NdisMRegisterMiniportDriver(driver, registry, NULL, &ch,
                                         &chimney_driver_handle);
    return status == NDIS_STATUS_SUCCESS ? STATUS_SUCCESS : status;
}
