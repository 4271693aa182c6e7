/*
 * NDIS 6.20 protocol, intermediate-driver and chimney client declarations
 * for the chimney-nic sample intermediate driver
 *
 * Written for this project from Microsoft's documented prototypes and
 * member lists (learn.microsoft.com, "ndis.h" and "ndischimney.h" DDI
 * reference pages); no WDK header was used.  Layouts NDIS reads are
 * checked below against the sizes that follow from the documented member
 * lists on x64.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_NDIS_IM_H
#define CHIMNEY_NDIS_IM_H

#include "chimney-ndis.h"

typedef USHORT NET_FRAME_TYPE, *PNET_FRAME_TYPE;

#define NDIS_INTERMEDIATE_DRIVER                0x00000001
#define NDIS_STATUS_NOT_ACCEPTED                ((NDIS_STATUS)0x00010003L)
#define NDIS_STATUS_REQUEST_UPLOAD              ((NDIS_STATUS)0xC0231002L)
#define NDIS_STATUS_UPLOAD_REQUESTED            ((NDIS_STATUS)0xC0231003L)
#define NDIS_RECEIVE_FLAGS_RESOURCES            0x00000002
#define NDIS_RETURN_FLAGS_DISPATCH_LEVEL_IM     0x00000001

/* --- binding (ndis.h) --- */

typedef struct _NDIS_BIND_PARAMETERS {
    NDIS_OBJECT_HEADER Header;
    PNDIS_STRING ProtocolSection;
    PNDIS_STRING AdapterName;
    PDEVICE_OBJECT PhysicalDeviceObject;
    NDIS_MEDIUM MediaType;
    ULONG MtuSize;
    ULONG64 MaxXmitLinkSpeed;
    ULONG64 XmitLinkSpeed;
    ULONG64 MaxRcvLinkSpeed;
    ULONG64 RcvLinkSpeed;
    NDIS_MEDIA_CONNECT_STATE MediaConnectState;
    NDIS_MEDIA_DUPLEX_STATE MediaDuplexState;
    ULONG LookaheadSize;
    PVOID PowerManagementCapabilities;
    ULONG SupportedPacketFilters;
    ULONG MaxMulticastListSize;
    USHORT MacAddressLength;
    UCHAR CurrentMacAddress[NDIS_MAX_PHYS_ADDRESS_LENGTH];
    NDIS_PHYSICAL_MEDIUM PhysicalMediumType;
    PVOID RcvScaleCapabilities;
    NET_LUID BoundIfNetluid;
    NET_IFINDEX BoundIfIndex;
    NET_LUID LowestIfNetluid;
    NET_IFINDEX LowestIfIndex;
    NET_IF_ACCESS_TYPE AccessType;
    NET_IF_DIRECTION_TYPE DirectionType;
    NET_IF_CONNECTION_TYPE ConnectionType;
    NET_IFTYPE IfType;
    BOOLEAN IfConnectorPresent;
    PVOID ActivePorts;
    ULONG DataBackFillSize;
    ULONG ContextBackFillSize;
    ULONG MacOptions;
    NET_IF_COMPARTMENT_ID CompartmentId;
    PNDIS_OFFLOAD DefaultOffloadConfiguration;
    PNDIS_TCP_CONNECTION_OFFLOAD TcpConnectionOffloadCapabilities;
    PNDIS_STRING BoundAdapterName;
    /* later members are not read */
} NDIS_BIND_PARAMETERS, *PNDIS_BIND_PARAMETERS;

typedef struct _NDIS_OPEN_PARAMETERS {
    NDIS_OBJECT_HEADER Header;
    PNDIS_STRING AdapterName;
    PNDIS_MEDIUM MediumArray;
    UINT MediumArraySize;
    UINT *SelectedMediumIndex;
    PNET_FRAME_TYPE FrameTypeArray;
    UINT FrameTypeArraySize;
} NDIS_OPEN_PARAMETERS, *PNDIS_OPEN_PARAMETERS;
#define NDIS_OPEN_PARAMETERS_REVISION_1         1

typedef struct _NET_PNP_EVENT_NOTIFICATION NET_PNP_EVENT_NOTIFICATION,
    *PNET_PNP_EVENT_NOTIFICATION;

typedef NDIS_STATUS protocol_bind_fn(NDIS_HANDLE ProtocolDriverContext,
                                     NDIS_HANDLE BindContext,
                                     PNDIS_BIND_PARAMETERS BindParameters);
typedef NDIS_STATUS protocol_unbind_fn(NDIS_HANDLE UnbindContext,
                                       NDIS_HANDLE ProtocolBindingContext);
typedef VOID protocol_open_complete_fn(NDIS_HANDLE ProtocolBindingContext,
                                       NDIS_STATUS Status);
typedef VOID protocol_close_complete_fn(NDIS_HANDLE ProtocolBindingContext);
typedef NDIS_STATUS protocol_pnp_fn(NDIS_HANDLE ProtocolBindingContext,
                                    PNET_PNP_EVENT_NOTIFICATION Event);
typedef VOID protocol_uninstall_fn(VOID);
typedef VOID protocol_oid_complete_fn(NDIS_HANDLE ProtocolBindingContext,
                                      PNDIS_OID_REQUEST OidRequest,
                                      NDIS_STATUS Status);
typedef VOID protocol_status_fn(NDIS_HANDLE ProtocolBindingContext,
                                PNDIS_STATUS_INDICATION StatusIndication);
typedef VOID protocol_receive_fn(NDIS_HANDLE ProtocolBindingContext,
                                 PNET_BUFFER_LIST NetBufferLists,
                                 NDIS_PORT_NUMBER PortNumber,
                                 ULONG NumberOfNetBufferLists,
                                 ULONG ReceiveFlags);
typedef VOID protocol_send_complete_fn(NDIS_HANDLE ProtocolBindingContext,
                                       PNET_BUFFER_LIST NetBufferList,
                                       ULONG SendCompleteFlags);

typedef struct _NDIS_PROTOCOL_DRIVER_CHARACTERISTICS {
    NDIS_OBJECT_HEADER Header;
    UCHAR MajorNdisVersion;
    UCHAR MinorNdisVersion;
    UCHAR MajorDriverVersion;
    UCHAR MinorDriverVersion;
    ULONG Flags;
    NDIS_STRING Name;
    set_options_handler_fn *SetOptionsHandler;
    protocol_bind_fn *BindAdapterHandlerEx;
    protocol_unbind_fn *UnbindAdapterHandlerEx;
    protocol_open_complete_fn *OpenAdapterCompleteHandlerEx;
    protocol_close_complete_fn *CloseAdapterCompleteHandlerEx;
    protocol_pnp_fn *NetPnPEventHandler;
    protocol_uninstall_fn *UninstallHandler;
    protocol_oid_complete_fn *OidRequestCompleteHandler;
    protocol_status_fn *StatusHandlerEx;
    protocol_receive_fn *ReceiveNetBufferListsHandler;
    protocol_send_complete_fn *SendNetBufferListsCompleteHandler;
    protocol_oid_complete_fn *DirectOidRequestCompleteHandler;
} NDIS_PROTOCOL_DRIVER_CHARACTERISTICS;
#define NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2 2

NDIS_STATUS NdisRegisterProtocolDriver(
    NDIS_HANDLE ProtocolDriverContext,
    NDIS_PROTOCOL_DRIVER_CHARACTERISTICS *Characteristics,
    PNDIS_HANDLE NdisProtocolHandle);
VOID NdisDeregisterProtocolDriver(NDIS_HANDLE NdisProtocolHandle);
NDIS_STATUS NdisOpenAdapterEx(NDIS_HANDLE NdisProtocolHandle,
                              NDIS_HANDLE ProtocolBindingContext,
                              PNDIS_OPEN_PARAMETERS OpenParameters,
                              NDIS_HANDLE BindContext,
                              PNDIS_HANDLE NdisBindingHandle);
VOID NdisCompleteBindAdapterEx(NDIS_HANDLE BindAdapterContext,
                               NDIS_STATUS Status);
NDIS_STATUS NdisCloseAdapterEx(NDIS_HANDLE NdisBindingHandle);
VOID NdisCompleteUnbindAdapterEx(NDIS_HANDLE UnbindContext);
VOID NdisSendNetBufferLists(NDIS_HANDLE NdisBindingHandle,
                            PNET_BUFFER_LIST NetBufferLists,
                            NDIS_PORT_NUMBER PortNumber, ULONG SendFlags);
VOID NdisReturnNetBufferLists(NDIS_HANDLE NdisBindingHandle,
                              PNET_BUFFER_LIST NetBufferLists,
                              ULONG ReturnFlags);
NDIS_STATUS NdisOidRequest(NDIS_HANDLE NdisBindingHandle,
                           PNDIS_OID_REQUEST OidRequest);
NDIS_STATUS NdisAllocateCloneOidRequest(NDIS_HANDLE SourceHandle,
                                        PNDIS_OID_REQUEST OidRequest,
                                        UINT PoolTag,
                                        PNDIS_OID_REQUEST *CloneOidRequest);
VOID NdisFreeCloneOidRequest(NDIS_HANDLE SourceHandle,
                             PNDIS_OID_REQUEST OidRequest);

/* Clones: the driver's own NBLs over another driver's data (ndis.h) */
typedef struct _NET_BUFFER_POOL_PARAMETERS {
    NDIS_OBJECT_HEADER Header;
    ULONG PoolTag;
    ULONG DataSize;
} NET_BUFFER_POOL_PARAMETERS, *PNET_BUFFER_POOL_PARAMETERS;
#define NET_BUFFER_POOL_PARAMETERS_REVISION_1   1

NDIS_HANDLE NdisAllocateNetBufferPool(NDIS_HANDLE NdisHandle,
                                      PNET_BUFFER_POOL_PARAMETERS Params);
VOID NdisFreeNetBufferPool(NDIS_HANDLE PoolHandle);
PNET_BUFFER_LIST NdisAllocateCloneNetBufferList(PNET_BUFFER_LIST Original,
                                                NDIS_HANDLE NblPool,
                                                NDIS_HANDLE NbPool,
                                                ULONG AllocateCloneFlags);
VOID NdisFreeCloneNetBufferList(PNET_BUFFER_LIST Clone, ULONG FreeCloneFlags);

/* Waiting for a completion at PASSIVE_LEVEL */
typedef struct _NDIS_EVENT {
    KEVENT Event;
} NDIS_EVENT, *PNDIS_EVENT;

VOID NdisInitializeEvent(PNDIS_EVENT Event);
VOID NdisSetEvent(PNDIS_EVENT Event);
BOOLEAN NdisWaitEvent(PNDIS_EVENT Event, UINT MsToWait);

/* The intermediate driver's two halves (ndis.h: returns VOID) */
VOID NdisIMAssociateMiniport(NDIS_HANDLE DriverHandle,
                             NDIS_HANDLE ProtocolHandle);
NDIS_STATUS NdisIMInitializeDeviceInstanceEx(NDIS_HANDLE DriverHandle,
                                             PNDIS_STRING DriverInstance,
                                             NDIS_HANDLE DeviceContext);
NDIS_STATUS NdisIMCancelInitializeDeviceInstance(NDIS_HANDLE DriverHandle,
                                                 PNDIS_STRING DeviceInstance);
NDIS_STATUS NdisIMDeInitializeDeviceInstance(NDIS_HANDLE NdisMiniportHandle);

/* A control device for the counters (ndis.h) */
typedef struct _NDIS_DEVICE_OBJECT_ATTRIBUTES {
    NDIS_OBJECT_HEADER Header;
    PNDIS_STRING DeviceName;
    PNDIS_STRING SymbolicName;
    PDRIVER_DISPATCH *MajorFunctions;
    ULONG ExtensionSize;
    PCUNICODE_STRING DefaultSDDLString;
    LPCGUID DeviceClassGuid;
} NDIS_DEVICE_OBJECT_ATTRIBUTES, *PNDIS_DEVICE_OBJECT_ATTRIBUTES;
#define NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1 1

NDIS_STATUS NdisRegisterDeviceEx(NDIS_HANDLE NdisHandle,
                                 PNDIS_DEVICE_OBJECT_ATTRIBUTES Attributes,
                                 PDEVICE_OBJECT *DeviceObject,
                                 PNDIS_HANDLE NdisDeviceHandle);
VOID NdisDeregisterDeviceEx(NDIS_HANDLE NdisDeviceHandle);

/* --- chimney, the client side (ndischimney.h) --- */

typedef struct _NDIS_OFFLOAD_HANDLE {
    PVOID NdisReserved[1];
    PVOID MiniportOffloadContext;
} NDIS_OFFLOAD_HANDLE, *PNDIS_OFFLOAD_HANDLE;

typedef struct _NDIS_PROTOCOL_OFFLOAD_BLOCK_LIST
    NDIS_PROTOCOL_OFFLOAD_BLOCK_LIST, *PNDIS_PROTOCOL_OFFLOAD_BLOCK_LIST;

struct _NDIS_PROTOCOL_OFFLOAD_BLOCK_LIST {
    NDIS_OBJECT_HEADER Header;
    PNDIS_PROTOCOL_OFFLOAD_BLOCK_LIST NextBlock;
    PNDIS_PROTOCOL_OFFLOAD_BLOCK_LIST DependentBlockList;
    NDIS_STATUS Status;
    PVOID NdisReserved[3];
    PNDIS_OFFLOAD_HANDLE OffloadHandle;
    PVOID ProtocolReserved[2];
    PVOID MiniportReserved[2];
    PVOID ImReserved[2];
    PVOID Scratch[2];
    PVOID SourceHandle;
    NDIS_PORT_NUMBER PortNumber;
    PNET_BUFFER_LIST NetBufferListChain;
};

typedef VOID offload_complete_fn(NDIS_HANDLE ProtocolBindingContext,
                                 PNDIS_PROTOCOL_OFFLOAD_BLOCK_LIST List);
typedef VOID offload_event_fn(NDIS_HANDLE ProtocolBindingContext,
                              PNDIS_PROTOCOL_OFFLOAD_BLOCK_LIST List,
                              ULONG IndicationCode);
typedef VOID tcp_io_complete_fn(NDIS_HANDLE ProtocolBindingContext,
                                PNET_BUFFER_LIST NetBufferList);
typedef VOID tcp_event_fn(PVOID OffloadContext, ULONG EventType,
                          ULONG EventSpecificInformation);
typedef NDIS_STATUS tcp_receive_indicate_fn(PVOID OffloadContext,
                                            PNET_BUFFER_LIST NetBufferList,
                                            NDIS_STATUS Status,
                                            PULONG BytesConsumed);

typedef struct _NDIS_CLIENT_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS {
    NDIS_OBJECT_HEADER Header;
    ULONG Flags;
    offload_complete_fn *InitiateOffloadCompleteHandler;
    offload_complete_fn *TerminateOffloadCompleteHandler;
    offload_complete_fn *UpdateOffloadCompleteHandler;
    offload_complete_fn *InvalidateOffloadCompleteHandler;
    offload_complete_fn *QueryOffloadCompleteHandler;
    offload_event_fn *IndicateOffloadEventHandler;
} NDIS_CLIENT_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS;

typedef struct _NDIS_CLIENT_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS {
    NDIS_OBJECT_HEADER Header;
    ULONG Flags;
    NDIS_CHIMNEY_OFFLOAD_TYPE OffloadType;
    tcp_io_complete_fn *TcpOffloadSendCompleteHandler;
    tcp_io_complete_fn *TcpOffloadReceiveCompleteHandler;
    tcp_io_complete_fn *TcpOffloadDisconnectCompleteHandler;
    tcp_io_complete_fn *TcpOffloadForwardCompleteHandler;
    tcp_event_fn *TcpOffloadEventHandler;
    tcp_receive_indicate_fn *TcpOffloadReceiveIndicateHandler;
} NDIS_CLIENT_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS;
#define NDIS_CLIENT_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS_REVISION_1 1
#define NDIS_CLIENT_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS_REVISION_1 1

VOID NdisInitiateOffload(NDIS_HANDLE NdisBindingHandle,
                         PNDIS_PROTOCOL_OFFLOAD_BLOCK_LIST List);
VOID NdisTerminateOffload(NDIS_HANDLE NdisBindingHandle,
                          PNDIS_PROTOCOL_OFFLOAD_BLOCK_LIST List);
VOID NdisUpdateOffload(NDIS_HANDLE NdisBindingHandle,
                       PNDIS_PROTOCOL_OFFLOAD_BLOCK_LIST List);
VOID NdisInvalidateOffload(NDIS_HANDLE NdisBindingHandle,
                           PNDIS_PROTOCOL_OFFLOAD_BLOCK_LIST List);
VOID NdisQueryOffloadState(NDIS_HANDLE NdisBindingHandle,
                           PNDIS_PROTOCOL_OFFLOAD_BLOCK_LIST List);
NDIS_STATUS NdisOffloadTcpSend(PNDIS_OFFLOAD_HANDLE Handle,
                               PNET_BUFFER_LIST NetBufferList);
NDIS_STATUS NdisOffloadTcpReceive(PNDIS_OFFLOAD_HANDLE Handle,
                                  PNET_BUFFER_LIST NetBufferList);
NDIS_STATUS NdisOffloadTcpDisconnect(PNDIS_OFFLOAD_HANDLE Handle,
                                     PNET_BUFFER_LIST NetBufferList,
                                     ULONG Flags);
NDIS_STATUS NdisOffloadTcpForward(PNDIS_OFFLOAD_HANDLE Handle,
                                  PNET_BUFFER_LIST NetBufferList);
VOID NdisOffloadTcpReceiveReturn(NDIS_HANDLE NdisBindingHandle,
                                 PNET_BUFFER_LIST NetBufferList);
VOID NdisMOffloadEventIndicate(NDIS_HANDLE NdisMiniportHandle,
                               PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST List,
                               ULONG IndicationCode);

/*
 * Offsets that follow from the documented member lists on x64: a member
 * left out or misplaced above moves them.
 */
#ifdef _WIN64
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_BIND_PARAMETERS, AdapterName) == 0x10);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_BIND_PARAMETERS, MtuSize) == 0x24);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_BIND_PARAMETERS, CurrentMacAddress) ==
                    0x6A);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_BIND_PARAMETERS,
                             TcpConnectionOffloadCapabilities) == 0xE8);
CHIMNEY_NDIS_ASSERT(sizeof(NDIS_OPEN_PARAMETERS) == 0x38);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_PROTOCOL_DRIVER_CHARACTERISTICS,
                             SetOptionsHandler) == 0x20);
CHIMNEY_NDIS_ASSERT(sizeof(NDIS_PROTOCOL_DRIVER_CHARACTERISTICS) == 0x80);
CHIMNEY_NDIS_ASSERT(sizeof(NDIS_PROTOCOL_OFFLOAD_BLOCK_LIST) == 0x98);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_PROTOCOL_OFFLOAD_BLOCK_LIST,
                             OffloadHandle) == 0x38);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_PROTOCOL_OFFLOAD_BLOCK_LIST, ImReserved) ==
                    offsetof(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST, ImReserved));
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_PROTOCOL_OFFLOAD_BLOCK_LIST,
                             NetBufferListChain) ==
                    offsetof(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST,
                             NetBufferListChain));
CHIMNEY_NDIS_ASSERT(sizeof(NDIS_CLIENT_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS) ==
                    0x40);
CHIMNEY_NDIS_ASSERT(sizeof(NDIS_DEVICE_OBJECT_ATTRIBUTES) == 0x38);
#endif

#endif /* CHIMNEY_NDIS_IM_H */
