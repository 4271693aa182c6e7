/*
 * NDIS 6.20 and TCP chimney declarations for the chimney-nic drivers
 *
 * Written for this project from Microsoft's documented prototypes and
 * structure member lists (learn.microsoft.com, "ndis.h" and
 * "ndischimney.h" DDI reference pages); no WDK header was used.  Each
 * layout that NDIS itself reads is checked below against the documented
 * x64 sizes and offsets, so a wrong declaration fails the build instead of
 * a guest.  Only what the drivers use is declared.
 *
 * Built with mingw-w64: its ddk/ntddk.h gives the kernel base types and
 * its ntddndis.h the OID-level NDIS 6 types (NDIS_OBJECT_HEADER, media,
 * interface types, NDIS_TCP_CONNECTION_OFFLOAD, OIDs); its ddk/ndis.h
 * (NDIS 5.1) is never included.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_NDIS_H
#define CHIMNEY_NDIS_H

#include <ntddk.h>
#define NDIS_SUPPORT_NDIS6      1
#define NDIS_SUPPORT_NDIS61     1
#define NDIS_SUPPORT_NDIS620    1
#include <ntddndis.h>

#define CHIMNEY_NDIS_ASSERT(c) _Static_assert(c, #c)

typedef unsigned int UINT;
typedef int NDIS_STATUS, *PNDIS_STATUS;
typedef void *NDIS_HANDLE, **PNDIS_HANDLE;

/* NDIS_STATUS values (ndis.h) */
#define NDIS_STATUS_SUCCESS                     ((NDIS_STATUS)0x00000000L)
#define NDIS_STATUS_PENDING                     ((NDIS_STATUS)0x00000103L)
#define NDIS_STATUS_FAILURE                     ((NDIS_STATUS)0xC0000001L)
#define NDIS_STATUS_RESOURCES                   ((NDIS_STATUS)0xC000009AL)
#define NDIS_STATUS_NOT_SUPPORTED               ((NDIS_STATUS)0xC00000BBL)
#define NDIS_STATUS_INVALID_STATE               ((NDIS_STATUS)0xC0000184L)
#define NDIS_STATUS_INVALID_LENGTH              ((NDIS_STATUS)0xC0010014L)
#define NDIS_STATUS_INVALID_DATA                ((NDIS_STATUS)0xC0010015L)
#define NDIS_STATUS_REQUEST_ABORTED             ((NDIS_STATUS)0xC001000CL)
#define NDIS_STATUS_UPLOAD_IN_PROGRESS          ((NDIS_STATUS)0xC0231001L)
#define NDIS_STATUS_OFFLOAD_DATA_NOT_ACCEPTED   ((NDIS_STATUS)0xC023100EL)
#define NDIS_STATUS_OFFLOAD_DATA_PARTIALLY_ACCEPTED ((NDIS_STATUS)0xC0231010L)

/* ntddndis.h's name is longer than a line */
#define NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_GENERIC \
    NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS

/* NDIS_MINIPORT_DRIVER_CHARACTERISTICS and its handlers */
typedef struct _NET_BUFFER_LIST NET_BUFFER_LIST, *PNET_BUFFER_LIST;
typedef struct _NDIS_OID_REQUEST NDIS_OID_REQUEST, *PNDIS_OID_REQUEST;
typedef struct _NDIS_MINIPORT_INIT_PARAMETERS NDIS_MINIPORT_INIT_PARAMETERS,
    *PNDIS_MINIPORT_INIT_PARAMETERS;
typedef struct _NDIS_MINIPORT_PAUSE_PARAMETERS NDIS_MINIPORT_PAUSE_PARAMETERS,
    *PNDIS_MINIPORT_PAUSE_PARAMETERS;
typedef struct _NDIS_MINIPORT_RESTART_PARAMETERS
    NDIS_MINIPORT_RESTART_PARAMETERS, *PNDIS_MINIPORT_RESTART_PARAMETERS;
typedef struct _NET_DEVICE_PNP_EVENT NET_DEVICE_PNP_EVENT,
    *PNET_DEVICE_PNP_EVENT;

typedef enum _NDIS_HALT_ACTION {
    NdisHaltDeviceDisabled,
    NdisHaltDeviceInstanceDeInitialized,
    NdisHaltDevicePoweredDown,
    NdisHaltDeviceSurpriseRemoved,
    NdisHaltDeviceFailed,
    NdisHaltDeviceInitializationFailed,
    NdisHaltDeviceStopped
} NDIS_HALT_ACTION;

typedef enum _NDIS_SHUTDOWN_ACTION {
    NdisShutdownPowerOff,
    NdisShutdownBugCheck
} NDIS_SHUTDOWN_ACTION;

typedef NDIS_STATUS set_options_handler_fn(NDIS_HANDLE NdisDriverHandle,
                                           NDIS_HANDLE DriverContext);
typedef NDIS_STATUS miniport_initialize_handler_fn(
    NDIS_HANDLE NdisMiniportHandle, NDIS_HANDLE MiniportDriverContext,
    PNDIS_MINIPORT_INIT_PARAMETERS MiniportInitParameters);
typedef VOID miniport_halt_handler_fn(NDIS_HANDLE MiniportAdapterContext,
                                      NDIS_HALT_ACTION HaltAction);
typedef VOID miniport_driver_unload_handler_fn(PDRIVER_OBJECT DriverObject);
typedef NDIS_STATUS miniport_pause_handler_fn(
    NDIS_HANDLE MiniportAdapterContext,
    PNDIS_MINIPORT_PAUSE_PARAMETERS PauseParameters);
typedef NDIS_STATUS miniport_restart_handler_fn(
    NDIS_HANDLE MiniportAdapterContext,
    PNDIS_MINIPORT_RESTART_PARAMETERS RestartParameters);
typedef NDIS_STATUS miniport_oid_request_handler_fn(
    NDIS_HANDLE MiniportAdapterContext, PNDIS_OID_REQUEST OidRequest);
typedef VOID miniport_send_net_buffer_lists_handler_fn(
    NDIS_HANDLE MiniportAdapterContext, PNET_BUFFER_LIST NetBufferList,
    NDIS_PORT_NUMBER PortNumber, ULONG SendFlags);
typedef VOID miniport_return_net_buffer_lists_handler_fn(
    NDIS_HANDLE MiniportAdapterContext, PNET_BUFFER_LIST NetBufferLists,
    ULONG ReturnFlags);
typedef VOID miniport_cancel_send_handler_fn(NDIS_HANDLE MiniportAdapterContext,
                                             PVOID CancelId);
typedef BOOLEAN miniport_check_for_hang_handler_fn(
    NDIS_HANDLE MiniportAdapterContext);
typedef NDIS_STATUS miniport_reset_handler_fn(
    NDIS_HANDLE MiniportAdapterContext, PBOOLEAN AddressingReset);
typedef VOID miniport_device_pnp_event_notify_handler_fn(
    NDIS_HANDLE MiniportAdapterContext,
    PNET_DEVICE_PNP_EVENT NetDevicePnPEvent);
typedef VOID miniport_shutdown_handler_fn(NDIS_HANDLE MiniportAdapterContext,
                                          NDIS_SHUTDOWN_ACTION ShutdownAction);
typedef VOID miniport_cancel_oid_request_handler_fn(
    NDIS_HANDLE MiniportAdapterContext, PVOID RequestId);
typedef NDIS_STATUS miniport_direct_oid_request_handler_fn(
    NDIS_HANDLE MiniportAdapterContext, PNDIS_OID_REQUEST OidRequest);
typedef VOID miniport_cancel_direct_oid_handler_fn(
    NDIS_HANDLE MiniportAdapterContext, PVOID RequestId);

typedef struct _NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
    NDIS_OBJECT_HEADER Header;
    UCHAR MajorNdisVersion;
    UCHAR MinorNdisVersion;
    UCHAR MajorDriverVersion;
    UCHAR MinorDriverVersion;
    ULONG Flags;
    set_options_handler_fn *SetOptionsHandler;
    miniport_initialize_handler_fn *InitializeHandlerEx;
    miniport_halt_handler_fn *HaltHandlerEx;
    miniport_driver_unload_handler_fn *UnloadHandler;
    miniport_pause_handler_fn *PauseHandler;
    miniport_restart_handler_fn *RestartHandler;
    miniport_oid_request_handler_fn *OidRequestHandler;
    miniport_send_net_buffer_lists_handler_fn *SendNetBufferListsHandler;
    miniport_return_net_buffer_lists_handler_fn *ReturnNetBufferListsHandler;
    miniport_cancel_send_handler_fn *CancelSendHandler;
    miniport_check_for_hang_handler_fn *CheckForHangHandlerEx;
    miniport_reset_handler_fn *ResetHandlerEx;
    miniport_device_pnp_event_notify_handler_fn *DevicePnPEventNotifyHandler;
    miniport_shutdown_handler_fn *ShutdownHandlerEx;
    miniport_cancel_oid_request_handler_fn *CancelOidRequestHandler;
    miniport_direct_oid_request_handler_fn *DirectOidRequestHandler;
    miniport_cancel_direct_oid_handler_fn *CancelDirectOidRequestHandler;
} NDIS_MINIPORT_DRIVER_CHARACTERISTICS, *PNDIS_MINIPORT_DRIVER_CHARACTERISTICS;

#define NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2 2
#define NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2 \
    (offsetof(NDIS_MINIPORT_DRIVER_CHARACTERISTICS, \
              CancelDirectOidRequestHandler) + sizeof(PVOID))

NDIS_STATUS NdisMRegisterMiniportDriver(
    PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath,
    NDIS_HANDLE MiniportDriverContext,
    PNDIS_MINIPORT_DRIVER_CHARACTERISTICS MiniportDriverCharacteristics,
    PNDIS_HANDLE NdisMiniportDriverHandle);
VOID NdisMDeregisterMiniportDriver(NDIS_HANDLE NdisMiniportDriverHandle);
NDIS_STATUS NdisSetOptionalHandlers(NDIS_HANDLE NdisHandle,
                                    PNDIS_OBJECT_HEADER OptionalHandlers);

/* --- adapter bring-up (ndis.h) --- */

typedef CM_PARTIAL_RESOURCE_LIST NDIS_RESOURCE_LIST, *PNDIS_RESOURCE_LIST;
typedef PHYSICAL_ADDRESS NDIS_PHYSICAL_ADDRESS, *PNDIS_PHYSICAL_ADDRESS;

struct _NDIS_MINIPORT_INIT_PARAMETERS {
    NDIS_OBJECT_HEADER Header;
    ULONG Flags;
    PNDIS_RESOURCE_LIST AllocatedResources;
    NDIS_HANDLE IMDeviceInstanceContext;
    NDIS_HANDLE MiniportAddDeviceContext;
    ULONG IfIndex;
    NET_LUID NetLuid;
    PVOID DefaultPortAuthStates;
    PVOID PciDeviceCustomProperties;
};

typedef enum _NDIS_INTERFACE_TYPE {
    NdisInterfaceInternal = 0,
    NdisInterfacePci = 5,
} NDIS_INTERFACE_TYPE;

typedef struct _NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
    NDIS_OBJECT_HEADER Header;
    NDIS_HANDLE MiniportAdapterContext;
    ULONG AttributeFlags;
    UINT CheckForHangTimeInSeconds;
    NDIS_INTERFACE_TYPE InterfaceType;
} NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES;

#define NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1 1
#define NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1 \
    (offsetof(NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, InterfaceType) + \
     sizeof(NDIS_INTERFACE_TYPE))
#define NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE    0x00000001
#define NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER         0x00000040

typedef struct _NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES {
    NDIS_OBJECT_HEADER Header;
    ULONG Flags;
    NDIS_MEDIUM MediaType;
    NDIS_PHYSICAL_MEDIUM PhysicalMediumType;
    ULONG MtuSize;
    ULONG64 MaxXmitLinkSpeed;
    ULONG64 XmitLinkSpeed;
    ULONG64 MaxRcvLinkSpeed;
    ULONG64 RcvLinkSpeed;
    NDIS_MEDIA_CONNECT_STATE MediaConnectState;
    NDIS_MEDIA_DUPLEX_STATE MediaDuplexState;
    ULONG LookaheadSize;
    PVOID PowerManagementCapabilities;
    ULONG MacOptions;
    ULONG SupportedPacketFilters;
    ULONG MaxMulticastListSize;
    USHORT MacAddressLength;
    UCHAR PermanentMacAddress[NDIS_MAX_PHYS_ADDRESS_LENGTH];
    UCHAR CurrentMacAddress[NDIS_MAX_PHYS_ADDRESS_LENGTH];
    PVOID RecvScaleCapabilities;
    NET_IF_ACCESS_TYPE AccessType;
    NET_IF_DIRECTION_TYPE DirectionType;
    NET_IF_CONNECTION_TYPE ConnectionType;
    NET_IFTYPE IfType;
    BOOLEAN IfConnectorPresent;
    ULONG SupportedStatistics;
    ULONG SupportedPauseFunctions;
    ULONG DataBackFillSize;
    ULONG ContextBackFillSize;
    PNDIS_OID SupportedOidList;
    ULONG SupportedOidListLength;
    ULONG AutoNegotiationFlags;
    PVOID PowerManagementCapabilitiesEx;
} NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES;

/* Revision 2 (NDIS 6.20) adds PowerManagementCapabilitiesEx */
#define NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2 2
#define NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2 \
    sizeof(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES)

/* Either attributes structure, by its header */
typedef union _NDIS_MINIPORT_ADAPTER_ATTRIBUTES
    NDIS_MINIPORT_ADAPTER_ATTRIBUTES, *PNDIS_MINIPORT_ADAPTER_ATTRIBUTES;

NDIS_STATUS NdisMSetMiniportAttributes(
    NDIS_HANDLE NdisMiniportHandle,
    PNDIS_MINIPORT_ADAPTER_ATTRIBUTES MiniportAttributes);
NDIS_STATUS NdisMMapIoSpace(PVOID *VirtualAddress,
                            NDIS_HANDLE MiniportAdapterHandle,
                            NDIS_PHYSICAL_ADDRESS PhysicalAddress,
                            UINT Length);
VOID NdisMUnmapIoSpace(NDIS_HANDLE MiniportAdapterHandle,
                       PVOID VirtualAddress, UINT Length);
VOID NdisMAllocateSharedMemory(NDIS_HANDLE MiniportAdapterHandle,
                               ULONG Length, BOOLEAN Cached,
                               PVOID *VirtualAddress,
                               PNDIS_PHYSICAL_ADDRESS PhysicalAddress);
VOID NdisMFreeSharedMemory(NDIS_HANDLE MiniportAdapterHandle, ULONG Length,
                           BOOLEAN Cached, PVOID VirtualAddress,
                           NDIS_PHYSICAL_ADDRESS PhysicalAddress);
PVOID NdisAllocateMemoryWithTagPriority(NDIS_HANDLE NdisHandle, UINT Length,
                                        ULONG Tag,
                                        EX_POOL_PRIORITY Priority);
VOID NdisFreeMemory(PVOID VirtualAddress, UINT Length, UINT MemoryFlags);

/* NET_BUFFER_LIST: what a miniport reads and writes of it */
typedef struct _NET_BUFFER NET_BUFFER, *PNET_BUFFER;

struct _NET_BUFFER_LIST {
    union {
        struct {
            PNET_BUFFER_LIST Next;
            PNET_BUFFER FirstNetBuffer;
        };
        SLIST_HEADER Link;
    };
    PVOID Context;
    PNET_BUFFER_LIST ParentNetBufferList;
    NDIS_HANDLE NdisPoolHandle;
    PVOID NdisReserved[2] __attribute__((aligned(16)));
    PVOID ProtocolReserved[4] __attribute__((aligned(16)));
    PVOID MiniportReserved[2] __attribute__((aligned(16)));
    PVOID Scratch;
    NDIS_HANDLE SourceHandle;
    ULONG NblFlags;
    LONG ChildRefCount;
    ULONG Flags;
    NDIS_STATUS Status;
    PVOID NetBufferListInfo[19];
};

VOID NdisMOidRequestComplete(NDIS_HANDLE MiniportAdapterHandle,
                             PNDIS_OID_REQUEST OidRequest, NDIS_STATUS Status);
VOID NdisMSendNetBufferListsComplete(NDIS_HANDLE MiniportAdapterHandle,
                                     PNET_BUFFER_LIST NetBufferLists,
                                     ULONG SendCompleteFlags);
#define NDIS_SEND_FLAGS_DISPATCH_LEVEL          0x00000001
#define NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL 0x00000001

/* NET_BUFFER: the data of one frame, an MDL chain and where it starts */
struct _NET_BUFFER {
    union {
        struct {
            PNET_BUFFER Next;
            PMDL CurrentMdl;
            ULONG CurrentMdlOffset;
            union {
                ULONG DataLength;
                SIZE_T stDataLength;
            };
            PMDL MdlChain;
            ULONG DataOffset;
        };
        SLIST_HEADER Link;
    };
    USHORT ChecksumBias;
    USHORT Reserved;
    NDIS_HANDLE NdisPoolHandle;
    PVOID NdisReserved[2] __attribute__((aligned(16)));
    PVOID ProtocolReserved[6] __attribute__((aligned(16)));
    PVOID MiniportReserved[4] __attribute__((aligned(16)));
    PHYSICAL_ADDRESS DataPhysicalAddress;
    PVOID ScatterGatherList;
};

typedef struct _NET_BUFFER_LIST_POOL_PARAMETERS {
    NDIS_OBJECT_HEADER Header;
    UCHAR ProtocolId;
    BOOLEAN fAllocateNetBuffer;
    USHORT ContextSize;
    ULONG PoolTag;
    ULONG DataSize;
} NET_BUFFER_LIST_POOL_PARAMETERS, *PNET_BUFFER_LIST_POOL_PARAMETERS;

#define NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1  1
#define NDIS_PROTOCOL_ID_DEFAULT                    0x00

NDIS_HANDLE NdisAllocateNetBufferListPool(
    NDIS_HANDLE NdisHandle, PNET_BUFFER_LIST_POOL_PARAMETERS Parameters);
VOID NdisFreeNetBufferListPool(NDIS_HANDLE PoolHandle);
PNET_BUFFER_LIST NdisAllocateNetBufferAndNetBufferList(
    NDIS_HANDLE PoolHandle, USHORT ContextSize, USHORT ContextBackFill,
    PMDL MdlChain, ULONG DataOffset, SIZE_T DataLength);
VOID NdisFreeNetBufferList(PNET_BUFFER_LIST NetBufferList);
PMDL NdisAllocateMdl(NDIS_HANDLE NdisHandle, PVOID VirtualAddress,
                     UINT Length);
VOID NdisFreeMdl(PMDL Mdl);
VOID NdisMIndicateReceiveNetBufferLists(NDIS_HANDLE MiniportAdapterHandle,
                                        PNET_BUFFER_LIST NetBufferLists,
                                        NDIS_PORT_NUMBER PortNumber,
                                        ULONG NumberOfNetBufferLists,
                                        ULONG ReceiveFlags);
#define NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL       0x00000001
#define NDIS_RETURN_FLAGS_DISPATCH_LEVEL        0x00000001
#define NDIS_STATUS_PAUSED                      ((NDIS_STATUS)0xC023002AL)
VOID NdisMPauseComplete(NDIS_HANDLE MiniportAdapterHandle);

typedef struct _NDIS_SPIN_LOCK {
    KSPIN_LOCK SpinLock;
    KIRQL OldIrql;
} NDIS_SPIN_LOCK, *PNDIS_SPIN_LOCK;

VOID NdisAllocateSpinLock(PNDIS_SPIN_LOCK SpinLock);
VOID NdisFreeSpinLock(PNDIS_SPIN_LOCK SpinLock);
VOID NdisAcquireSpinLock(PNDIS_SPIN_LOCK SpinLock);
VOID NdisReleaseSpinLock(PNDIS_SPIN_LOCK SpinLock);

/* Interrupts (NdisMRegisterInterruptEx) */
typedef enum _NDIS_INTERRUPT_TYPE {
    NDIS_CONNECT_LINE_BASED = 1,
    NDIS_CONNECT_MESSAGE_BASED = 2,
} NDIS_INTERRUPT_TYPE;

typedef BOOLEAN miniport_isr_handler_fn(NDIS_HANDLE MiniportInterruptContext,
                                        PBOOLEAN QueueDefaultInterruptDpc,
                                        PULONG TargetProcessors);
typedef VOID miniport_interrupt_dpc_handler_fn(
    NDIS_HANDLE MiniportInterruptContext, PVOID MiniportDpcContext,
    PVOID ReceiveThrottleParameters, PVOID NdisReserved2);
typedef VOID miniport_interrupt_switch_handler_fn(
    NDIS_HANDLE MiniportInterruptContext);
typedef BOOLEAN miniport_message_isr_handler_fn(
    NDIS_HANDLE MiniportInterruptContext, ULONG MessageId,
    PBOOLEAN QueueDefaultInterruptDpc, PULONG TargetProcessors);
typedef VOID miniport_message_dpc_handler_fn(
    NDIS_HANDLE MiniportInterruptContext, ULONG MessageId,
    PVOID MiniportDpcContext, PVOID ReceiveThrottleParameters,
    PVOID NdisReserved2);
typedef VOID miniport_message_switch_handler_fn(
    NDIS_HANDLE MiniportInterruptContext, ULONG MessageId);

typedef struct _NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS {
    NDIS_OBJECT_HEADER Header;
    miniport_isr_handler_fn *InterruptHandler;
    miniport_interrupt_dpc_handler_fn *InterruptDpcHandler;
    miniport_interrupt_switch_handler_fn *DisableInterruptHandler;
    miniport_interrupt_switch_handler_fn *EnableInterruptHandler;
    BOOLEAN MsiSupported;
    BOOLEAN MsiSyncWithAllMessages;
    miniport_message_isr_handler_fn *MessageInterruptHandler;
    miniport_message_dpc_handler_fn *MessageInterruptDpcHandler;
    miniport_message_switch_handler_fn *DisableMessageInterruptHandler;
    miniport_message_switch_handler_fn *EnableMessageInterruptHandler;
    NDIS_INTERRUPT_TYPE InterruptType;
    PVOID MessageInfoTable;
} NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
    *PNDIS_MINIPORT_INTERRUPT_CHARACTERISTICS;

#define NDIS_MINIPORT_INTERRUPT_REVISION_1      1

NDIS_STATUS NdisMRegisterInterruptEx(
    NDIS_HANDLE MiniportAdapterHandle, NDIS_HANDLE MiniportInterruptContext,
    PNDIS_MINIPORT_INTERRUPT_CHARACTERISTICS MiniportInterruptCharacteristics,
    PNDIS_HANDLE NdisInterruptHandle);
VOID NdisMDeregisterInterruptEx(NDIS_HANDLE NdisInterruptHandle);

/* NDIS_OID_REQUEST: the query and set forms */
typedef struct _NDIS_OID_REQUEST_INFO {
    NDIS_OID Oid;
    PVOID InformationBuffer;
    UINT InformationBufferLength;
    UINT BytesDone;                 /* BytesWritten, BytesRead */
    UINT BytesNeeded;
} NDIS_OID_REQUEST_INFO;

/* DATA.METHOD_INFORMATION: its byte counts sit elsewhere */
typedef struct _NDIS_OID_REQUEST_METHOD {
    NDIS_OID Oid;
    PVOID InformationBuffer;
    ULONG InputBufferLength;
    ULONG OutputBufferLength;
    ULONG MethodId;
    UINT BytesWritten;
    UINT BytesRead;
    UINT BytesNeeded;
} NDIS_OID_REQUEST_METHOD;

struct _NDIS_OID_REQUEST {
    NDIS_OBJECT_HEADER Header;
    NDIS_REQUEST_TYPE RequestType;
    NDIS_PORT_NUMBER PortNumber;
    UINT Timeout;
    PVOID RequestId;
    NDIS_HANDLE RequestHandle;
    union {
        NDIS_OID_REQUEST_INFO Info; /* DATA.QUERY_INFORMATION, SET_... */
        NDIS_OID_REQUEST_METHOD Method;     /* NdisRequestMethod */
    };
};

/* --- TCP chimney (ndischimney.h) --- */

typedef enum _NDIS_CHIMNEY_OFFLOAD_TYPE {
    NdisTcpChimneyOffload = 1,
    NdisMaxChimneyOffload
} NDIS_CHIMNEY_OFFLOAD_TYPE;

/*
 * OFFLOAD_STATE_TYPE, in NDIS_MINIPORT_OFFLOAD_BLOCK_LIST.Header.Type
 * (its page, Header: "Ip6OffloadState ... formatted as a
 * PATH_OFFLOAD_STATE_CONST structure, followed by a
 * PATH_OFFLOAD_STATE_CACHED structure, followed by a
 * PATH_OFFLOAD_STATE_DELEGATED structure"; addresses of 16 bytes,
 * "PATH_OFFLOAD_STATE_CONST structure")
 */
#define NeighborOffloadState    4
#define Ip4OffloadState         8
#define Ip6OffloadState         12      /* IPv6 path: PATH_OFFLOAD_STATE_* */
#define TcpOffloadState         17

typedef struct _NDIS_MINIPORT_OFFLOAD_BLOCK_LIST
    NDIS_MINIPORT_OFFLOAD_BLOCK_LIST, *PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST;

struct _NDIS_MINIPORT_OFFLOAD_BLOCK_LIST {
    NDIS_OBJECT_HEADER Header;
    PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST NextBlock;
    PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST DependentBlockList;
    NDIS_STATUS Status;
    PVOID NdisReserved[2];
    PVOID *MiniportOffloadContext;
    NDIS_HANDLE NdisOffloadHandle;
    PVOID ProtocolReserved[2];
    PVOID MiniportReserved[2];
    PVOID ImReserved[2];
    PVOID Scratch[2];
    PVOID SourceHandle;
    NDIS_PORT_NUMBER PortNumber;
    PNET_BUFFER_LIST NetBufferListChain;
};

/* Every state structure starts with this */
typedef struct _OFFLOAD_STATE_HEADER {
    ULONG Length;
    ULONG RecognizedOptions;
} OFFLOAD_STATE_HEADER, *POFFLOAD_STATE_HEADER;

typedef struct _TCP_OFFLOAD_STATE_CONST {
    OFFLOAD_STATE_HEADER Header;
    USHORT Flags;
    USHORT RemotePort;
    USHORT LocalPort;
    UCHAR SndWindScale:4;
    UCHAR RcvWindScale:4;
    USHORT RemoteMss;
    ULONG HashValue;
} TCP_OFFLOAD_STATE_CONST, *PTCP_OFFLOAD_STATE_CONST;

#define TCP_FLAG_TIMESTAMP_ENABLED          0x00000001
#define TCP_FLAG_SACK_ENABLED               0x00000002
#define TCP_FLAG_WINDOW_SCALING_ENABLED     0x00000004

typedef struct _TCP_OFFLOAD_STATE_CACHED {
    OFFLOAD_STATE_HEADER Header;
    USHORT Flags;
    ULONG InitialRcvWnd;
    ULONG RcvIndicationSize;
    UCHAR KaProbeCount;
    ULONG KaTimeout;
    ULONG KaInterval;
    ULONG MaxRT;
    ULONG FlowLabel:20;
    UCHAR TtlOrHopLimit;
    UCHAR TosOrTrafficClass;
    UCHAR UserPriority:3;
} TCP_OFFLOAD_STATE_CACHED, *PTCP_OFFLOAD_STATE_CACHED;

#define TCP_FLAG_KEEP_ALIVE_ENABLED         0x00000001
#define TCP_FLAG_NAGLING_ENABLED            0x00000002
#define TCP_FLAG_KEEP_ALIVE_RESTART         0x00000004
#define TCP_FLAG_MAX_RT_RESTART             0x00000008
#define TCP_FLAG_UPDATE_RCV_WND             0x00000010

typedef enum _TCP_OFFLOAD_CONNECTION_STATE {
    TcpConnectionClosed,
    TcpConnectionListen,
    TcpConnectionSynSent,
    TcpConnectionSynRcvd,
    TcpConnectionEstablished,
    TcpConnectionFinWait1,
    TcpConnectionFinWait2,
    TcpConnectionCloseWait,
    TcpConnectionClosing,
    TcpConnectionLastAck,
    TcpConnectionTimeWait,
    TcpConnectionMaxState
} TCP_OFFLOAD_CONNECTION_STATE;

typedef struct _TCP_OFFLOAD_STATE_DELEGATED {
    OFFLOAD_STATE_HEADER Header;
    TCP_OFFLOAD_CONNECTION_STATE State;
    USHORT Flags;
    ULONG RcvNxt;
    ULONG RcvWnd;
    ULONG SndUna;
    ULONG SndNxt;
    ULONG SndMax;
    ULONG SndWnd;
    ULONG MaxSndWnd;
    ULONG SendWL1;
    ULONG CWnd;
    ULONG SsThresh;
    USHORT SRtt;
    USHORT RttVar;
    ULONG TsRecent;
    ULONG TsRecentAge;
    ULONG TsTime;
    ULONG TotalRT;
    UCHAR DupAckCount;
    UCHAR SndWndProbeCount;
    struct {
        UCHAR ProbeCount;
        ULONG TimeoutDelta;
    } KeepAlive;
    struct {
        UCHAR Count;
        ULONG TimeoutDelta;
    } Retransmit;
    union {
        struct {
            PNET_BUFFER_LIST SendDataHead;
            PNET_BUFFER_LIST SendDataTail;
        };
        ULONG SendBacklogSize;
    };
    union {
        PNET_BUFFER_LIST BufferedData;
        ULONG ReceiveBacklogSize;
    };
    ULONG DWnd;
} TCP_OFFLOAD_STATE_DELEGATED, *PTCP_OFFLOAD_STATE_DELEGATED;

/* Provider (offload target) handlers, registered in MiniportSetOptions */
typedef VOID w_initiate_offload_handler_fn(
    NDIS_HANDLE MiniportAdapterContext,
    PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST OffloadBlockList);
typedef w_initiate_offload_handler_fn w_terminate_offload_handler_fn;
typedef w_initiate_offload_handler_fn w_update_offload_handler_fn;
typedef w_initiate_offload_handler_fn w_invalidate_offload_handler_fn;
typedef w_initiate_offload_handler_fn w_query_offload_handler_fn;
typedef NDIS_STATUS w_tcp_offload_send_handler_fn(
    NDIS_HANDLE MiniportAdapterContext, PVOID MiniportOffloadContext,
    PNET_BUFFER_LIST NetBufferList);
typedef w_tcp_offload_send_handler_fn w_tcp_offload_receive_handler_fn;
typedef w_tcp_offload_send_handler_fn w_tcp_offload_forward_handler_fn;
typedef NDIS_STATUS w_tcp_offload_disconnect_handler_fn(
    NDIS_HANDLE MiniportAdapterContext, PVOID MiniportOffloadContext,
    PNET_BUFFER_LIST NetBufferList, ULONG Flags);
typedef NDIS_STATUS w_tcp_offload_receive_return_handler_fn(
    NDIS_HANDLE MiniportAdapterContext, PNET_BUFFER_LIST NetBufferList);

#define TCP_DISCONNECT_GRACEFUL_CLOSE       0x01
#define TCP_DISCONNECT_ABORTIVE_CLOSE       0x02

typedef struct _NDIS_PROVIDER_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS {
    NDIS_OBJECT_HEADER Header;
    ULONG Flags;
    w_initiate_offload_handler_fn *InitiateOffloadHandler;
    w_terminate_offload_handler_fn *TerminateOffloadHandler;
    w_update_offload_handler_fn *UpdateOffloadHandler;
    w_invalidate_offload_handler_fn *InvalidateOffloadHandler;
    w_query_offload_handler_fn *QueryOffloadHandler;
} NDIS_PROVIDER_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS;

typedef struct _NDIS_PROVIDER_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS {
    NDIS_OBJECT_HEADER Header;
    ULONG Flags;
    NDIS_CHIMNEY_OFFLOAD_TYPE OffloadType;
    w_tcp_offload_send_handler_fn *TcpOffloadSendHandler;
    w_tcp_offload_receive_handler_fn *TcpOffloadReceiveHandler;
    w_tcp_offload_disconnect_handler_fn *TcpOffloadDisconnectHandler;
    w_tcp_offload_forward_handler_fn *TcpOffloadForwardHandler;
    w_tcp_offload_receive_return_handler_fn *TcpOffloadReceiveReturnHandler;
} NDIS_PROVIDER_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS;

/* What NDIS gives the target for completions and indications */
typedef VOID ndis_tcp_send_complete_handler_fn(
    NDIS_HANDLE NdisMiniportHandle, PNET_BUFFER_LIST NetBufferList);
typedef ndis_tcp_send_complete_handler_fn ndis_tcp_receive_complete_handler_fn;
typedef ndis_tcp_send_complete_handler_fn ndis_tcp_disconnect_done_handler_fn;
typedef ndis_tcp_send_complete_handler_fn ndis_tcp_forward_complete_handler_fn;
typedef VOID ndis_tcp_event_indicate_handler_fn(NDIS_HANDLE NdisOffloadHandle,
                                                ULONG EventType,
                                                ULONG EventSpecificInformation);
typedef NDIS_STATUS ndis_tcp_receive_indicate_handler_fn(
    NDIS_HANDLE NdisOffloadHandle, PNET_BUFFER_LIST NetBufferList,
    NDIS_STATUS Status, PULONG BytesConsumed);

typedef struct _NDIS_OFFLOAD_EVENT_HANDLERS {
    NDIS_OBJECT_HEADER Header;
} NDIS_OFFLOAD_EVENT_HANDLERS, *PNDIS_OFFLOAD_EVENT_HANDLERS;

typedef struct _NDIS_TCP_OFFLOAD_EVENT_HANDLERS {
    NDIS_OBJECT_HEADER Header;
    ndis_tcp_event_indicate_handler_fn *NdisTcpOffloadEventHandler;
    ndis_tcp_receive_indicate_handler_fn *NdisTcpOffloadReceiveHandler;
    ndis_tcp_send_complete_handler_fn *NdisTcpOffloadSendComplete;
    ndis_tcp_receive_complete_handler_fn *NdisTcpOffloadReceiveComplete;
    ndis_tcp_disconnect_done_handler_fn *NdisTcpOffloadDisconnectComplete;
    ndis_tcp_forward_complete_handler_fn *NdisTcpOffloadForwardComplete;
} NDIS_TCP_OFFLOAD_EVENT_HANDLERS, *PNDIS_TCP_OFFLOAD_EVENT_HANDLERS;

/* TCP_OFFLOAD_EVENT_TYPE and TCP_UPLOAD_REASON */
#define TcpIndicateDisconnect       2
#define TcpIndicateRetrieve         3
#define TcpIndicateAbort            4

/* OID_TCP4_OFFLOAD_STATS and OID_IP4_OFFLOAD_STATS (ndischimney.h) */
typedef struct _TCP_OFFLOAD_STATS {
    ULONG64 InSegments;
    ULONG64 OutSegments;
    ULONG CurrentlyEstablished;
    ULONG ResetEstablished;
    ULONG RetransmittedSegments;
    ULONG InErrors;
    ULONG OutResets;
} TCP_OFFLOAD_STATS, *PTCP_OFFLOAD_STATS;

typedef struct _IP_OFFLOAD_STATS {
    ULONG64 InReceives;
    ULONG64 InOctets;
    ULONG64 InDelivers;
    ULONG64 OutRequests;
    ULONG64 OutOctets;
    ULONG InHeaderErrors;
    ULONG InTruncatedPackets;
    ULONG InDiscards;
    ULONG OutDiscards;
    ULONG OutNoRoutes;
} IP_OFFLOAD_STATS, *PIP_OFFLOAD_STATS;

/* Status indications of the offload configuration (ndis.h) */
#define NDIS_STATUS_UPLOAD_ALL                  ((NDIS_STATUS)0x40020002L)
#define NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG \
    ((NDIS_STATUS)0x40020006L)

NDIS_STATUS NdisMGetOffloadHandlers(NDIS_HANDLE NdisMiniportHandle,
                                    NDIS_CHIMNEY_OFFLOAD_TYPE ChimneyType,
                                    PNDIS_OFFLOAD_EVENT_HANDLERS *Handlers);
VOID NdisMInitiateOffloadComplete(NDIS_HANDLE NdisMiniportHandle,
                                  PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST List);
VOID NdisMTerminateOffloadComplete(NDIS_HANDLE NdisMiniportHandle,
                                   PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST List);
VOID NdisMUpdateOffloadComplete(NDIS_HANDLE NdisMiniportHandle,
                                PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST List);
VOID NdisMInvalidateOffloadComplete(NDIS_HANDLE NdisMiniportHandle,
                                    PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST List);
VOID NdisMQueryOffloadStateComplete(NDIS_HANDLE NdisMiniportHandle,
                                    PNDIS_MINIPORT_OFFLOAD_BLOCK_LIST List);

/* The other OFFLOAD_STATE_TYPE values a target sees */
#define NeighborOffloadConstState       1
#define NeighborOffloadCachedState      2
#define NeighborOffloadDelegatedState   3
#define Ip4OffloadConstState            5
#define Ip4OffloadCachedState           6
#define Ip4OffloadDelegatedState        7
#define Ip6OffloadConstState            9
#define Ip6OffloadCachedState           10
#define Ip6OffloadDelegatedState        11
#define TcpOffloadConstState            13
#define TcpOffloadCachedState           14
#define TcpOffloadDelegatedState        15

#define NDIS_STATUS_OFFLOAD_PARTIAL_SUCCESS     ((NDIS_STATUS)0x40020004L)
#define NDIS_STATUS_OFFLOAD_TCP_ENTRIES         ((NDIS_STATUS)0xC0231004L)
#define NDIS_STATUS_OFFLOAD_PATH_ENTRIES        ((NDIS_STATUS)0xC0231005L)
#define NDIS_STATUS_OFFLOAD_NEIGHBOR_ENTRIES    ((NDIS_STATUS)0xC0231006L)
#define NDIS_STATUS_OFFLOAD_VLAN_ENTRIES        ((NDIS_STATUS)0xC0231009L)
#define NDIS_STATUS_OFFLOAD_TCP_RCV_WINDOW      ((NDIS_STATUS)0xC023100CL)

/* Neighbor and path state (ndischimney.h) */
typedef struct _NEIGHBOR_OFFLOAD_STATE_CONST {
    OFFLOAD_STATE_HEADER Header;
    UCHAR DlSourceAddress[32];
    ULONG VlanId:12;
} NEIGHBOR_OFFLOAD_STATE_CONST, *PNEIGHBOR_OFFLOAD_STATE_CONST;

typedef struct _NEIGHBOR_OFFLOAD_STATE_CACHED {
    OFFLOAD_STATE_HEADER Header;
    UCHAR DlDestinationAddress[32];
    ULONG HostReachabilityDelta;
} NEIGHBOR_OFFLOAD_STATE_CACHED, *PNEIGHBOR_OFFLOAD_STATE_CACHED;

typedef struct _NEIGHBOR_OFFLOAD_STATE_DELEGATED {
    OFFLOAD_STATE_HEADER Header;
    ULONG NicReachabilityDelta;
} NEIGHBOR_OFFLOAD_STATE_DELEGATED, *PNEIGHBOR_OFFLOAD_STATE_DELEGATED;

typedef struct _PATH_OFFLOAD_STATE_CONST {
    OFFLOAD_STATE_HEADER Header;
    const UCHAR *SourceAddress;
    const UCHAR *DestinationAddress;
} PATH_OFFLOAD_STATE_CONST, *PPATH_OFFLOAD_STATE_CONST;

typedef struct _PATH_OFFLOAD_STATE_CACHED {
    OFFLOAD_STATE_HEADER Header;
    ULONG PathMtu;
} PATH_OFFLOAD_STATE_CACHED, *PPATH_OFFLOAD_STATE_CACHED;

/* NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES (ndis.h) */
typedef struct _NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES {
    NDIS_OBJECT_HEADER Header;
    PNDIS_OFFLOAD DefaultOffloadConfiguration;
    PNDIS_OFFLOAD HardwareOffloadCapabilities;
    PNDIS_TCP_CONNECTION_OFFLOAD DefaultTcpConnectionOffloadConfiguration;
    PNDIS_TCP_CONNECTION_OFFLOAD TcpConnectionOffloadHardwareCapabilities;
} NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES;
#define NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES_REVISION_1 1

/* Per-NBL information slots (NDIS_NET_BUFFER_LIST_INFO) */
#define TcpOffloadBytesTransferred      0
#define TcpReceiveNoPush                2
#define NET_BUFFER_LIST_INFO(nbl, id)   ((nbl)->NetBufferListInfo[(id)])

VOID NdisAdvanceNetBufferDataStart(PNET_BUFFER NetBuffer,
                                   ULONG DataOffsetDelta, BOOLEAN FreeMdl,
                                   PVOID FreeMdlHandler);

/* Scatter-gather DMA (ndis.h) */
typedef VOID miniport_process_sg_list_fn(PDEVICE_OBJECT DeviceObject,
                                         PVOID Reserved,
                                         PSCATTER_GATHER_LIST Sgl,
                                         PVOID Context);
typedef VOID miniport_shared_mem_complete_fn(NDIS_HANDLE Context,
                                             PVOID VirtualAddress,
                                             PNDIS_PHYSICAL_ADDRESS Pa,
                                             ULONG Length, PVOID Ctx);

typedef struct _NDIS_SG_DMA_DESCRIPTION {
    NDIS_OBJECT_HEADER Header;
    ULONG Flags;
    ULONG MaximumPhysicalMapping;
    miniport_process_sg_list_fn *ProcessSGListHandler;
    miniport_shared_mem_complete_fn *SharedMemAllocateCompleteHandler;
    ULONG ScatterGatherListSize;
} NDIS_SG_DMA_DESCRIPTION, *PNDIS_SG_DMA_DESCRIPTION;
#define NDIS_SG_DMA_DESCRIPTION_REVISION_1      1
#define NDIS_SG_DMA_64_BIT_ADDRESS              0x00000001
#define NDIS_SG_LIST_WRITE_TO_DEVICE            0x00000001

NDIS_STATUS NdisMRegisterScatterGatherDma(NDIS_HANDLE MiniportAdapterHandle,
                                          PNDIS_SG_DMA_DESCRIPTION Desc,
                                          PNDIS_HANDLE NdisMiniportDmaHandle);
VOID NdisMDeregisterScatterGatherDma(NDIS_HANDLE NdisMiniportDmaHandle);
NDIS_STATUS NdisMAllocateNetBufferSGList(NDIS_HANDLE NdisMiniportDmaHandle,
                                         PNET_BUFFER NetBuffer, PVOID Context,
                                         ULONG Flags, PVOID SglBuffer,
                                         ULONG SglBufferSize);
VOID NdisMFreeNetBufferSGList(NDIS_HANDLE NdisMiniportDmaHandle,
                              PSCATTER_GATHER_LIST Sgl, PNET_BUFFER NetBuffer);

/* Status indications (link state) */
typedef struct _NDIS_STATUS_INDICATION {
    NDIS_OBJECT_HEADER Header;
    NDIS_HANDLE SourceHandle;
    NDIS_PORT_NUMBER PortNumber;
    NDIS_STATUS StatusCode;
    ULONG Flags;
    NDIS_HANDLE DestinationHandle;
    PVOID RequestId;
    PVOID StatusBuffer;
    ULONG StatusBufferSize;
    GUID Guid;
    PVOID NdisReserved[4];
} NDIS_STATUS_INDICATION, *PNDIS_STATUS_INDICATION;
#define NDIS_STATUS_INDICATION_REVISION_1       1
#define NDIS_STATUS_LINK_STATE                  ((NDIS_STATUS)0x40010017L)

/* Milliseconds since the system started (ndis.h, NDIS 6.0) */
VOID NdisGetSystemUpTimeEx(PLARGE_INTEGER pSystemUpTime);

VOID NdisMIndicateStatusEx(NDIS_HANDLE MiniportAdapterHandle,
                           PNDIS_STATUS_INDICATION StatusIndication);

/*
 * Configuration: an adapter's keywords (*TCPConnectionOffloadIPv4), a
 * binding's UpperBindings
 */
typedef UNICODE_STRING NDIS_STRING, *PNDIS_STRING;

typedef struct _NDIS_CONFIGURATION_OBJECT {
    NDIS_OBJECT_HEADER Header;
    NDIS_HANDLE NdisHandle;
    ULONG Flags;
} NDIS_CONFIGURATION_OBJECT, *PNDIS_CONFIGURATION_OBJECT;
#define NDIS_CONFIGURATION_OBJECT_REVISION_1    1

typedef enum _NDIS_PARAMETER_TYPE {
    NdisParameterInteger,
    NdisParameterHexInteger,
    NdisParameterString,
    NdisParameterMultiString,
    NdisParameterBinary,
} NDIS_PARAMETER_TYPE;

typedef struct _NDIS_CONFIGURATION_PARAMETER {
    NDIS_PARAMETER_TYPE ParameterType;
    union {
        ULONG IntegerData;
        NDIS_STRING StringData;
    } ParameterData;
} NDIS_CONFIGURATION_PARAMETER, *PNDIS_CONFIGURATION_PARAMETER;

NDIS_STATUS NdisOpenConfigurationEx(PNDIS_CONFIGURATION_OBJECT ConfigObject,
                                    PNDIS_HANDLE ConfigurationHandle);
VOID NdisReadConfiguration(PNDIS_STATUS Status,
                           PNDIS_CONFIGURATION_PARAMETER *ParameterValue,
                           NDIS_HANDLE ConfigurationHandle,
                           PNDIS_STRING Keyword,
                           NDIS_PARAMETER_TYPE ParameterType);
VOID NdisCloseConfiguration(NDIS_HANDLE ConfigurationHandle);

/* Documented x64 layouts (PDB-derived facts, research/chimney.md 4.2-4.3) */
#ifdef _WIN64
CHIMNEY_NDIS_ASSERT(sizeof(NDIS_OBJECT_HEADER) == 4);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
                             SetOptionsHandler) == 0x10);
CHIMNEY_NDIS_ASSERT(NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2 ==
                    0x98);
CHIMNEY_NDIS_ASSERT(sizeof(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST) == 0x98);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST, Status) ==
                    0x18);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST,
                             MiniportOffloadContext) == 0x30);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST,
                             NdisOffloadHandle) == 0x38);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST,
                             MiniportReserved) == 0x50);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST,
                             SourceHandle) == 0x80);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_OFFLOAD_BLOCK_LIST,
                             NetBufferListChain) == 0x90);
CHIMNEY_NDIS_ASSERT(sizeof(TCP_OFFLOAD_STATE_CONST) == 0x18);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_CONST, RemoteMss) == 0x10);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_CONST, HashValue) == 0x14);
CHIMNEY_NDIS_ASSERT(sizeof(TCP_OFFLOAD_STATE_CACHED) == 0x2C);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_CACHED, InitialRcvWnd) ==
                    0x0C);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_CACHED, KaTimeout) == 0x18);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_CACHED, MaxRT) == 0x20);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_CACHED, TtlOrHopLimit) ==
                    0x28);
CHIMNEY_NDIS_ASSERT(sizeof(TCP_OFFLOAD_STATE_DELEGATED) == 0x80);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_DELEGATED, RcvNxt) == 0x10);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_DELEGATED, SRtt) == 0x38);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_DELEGATED, TotalRT) == 0x48);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_DELEGATED, KeepAlive) == 0x50);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_DELEGATED, Retransmit) ==
                    0x58);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_DELEGATED, SendDataHead) ==
                    0x60);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_DELEGATED, BufferedData) ==
                    0x70);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_DELEGATED, DWnd) == 0x78);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_INIT_PARAMETERS,
                             AllocatedResources) == 0x08);
CHIMNEY_NDIS_ASSERT(
    NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1 == 0x1C);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
                             MaxXmitLinkSpeed) == 0x18);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
                             MacAddressLength) == 0x5C);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
                             RecvScaleCapabilities) == 0xA0);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
                             IfType) == 0xB4);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
                             SupportedOidList) == 0xC8);
CHIMNEY_NDIS_ASSERT(sizeof(NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES) == 0xE0);
CHIMNEY_NDIS_ASSERT(offsetof(NET_BUFFER_LIST, NdisReserved) == 0x30);
CHIMNEY_NDIS_ASSERT(offsetof(NET_BUFFER_LIST, MiniportReserved) == 0x60);
CHIMNEY_NDIS_ASSERT(offsetof(NET_BUFFER_LIST, Status) == 0x8C);
CHIMNEY_NDIS_ASSERT(offsetof(NET_BUFFER_LIST, NetBufferListInfo) == 0x90);
CHIMNEY_NDIS_ASSERT(sizeof(NET_BUFFER_LIST) == 0x130);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_OID_REQUEST, Info) == 0x20);
CHIMNEY_NDIS_ASSERT(sizeof(TCP_OFFLOAD_STATS) == 40);
CHIMNEY_NDIS_ASSERT(sizeof(IP_OFFLOAD_STATS) == 64);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_OFFLOAD_PARAMETERS, TcpConnectionIPv4) == 13);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_OFFLOAD_PARAMETERS, TcpConnectionIPv6) == 14);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_OID_REQUEST, Method.BytesWritten) == 0x3c);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_OID_REQUEST, Method.BytesNeeded) == 0x44);
CHIMNEY_NDIS_ASSERT(sizeof(NDIS_OID_REQUEST_INFO) == 0x20);
CHIMNEY_NDIS_ASSERT(offsetof(NET_BUFFER, CurrentMdlOffset) == 0x10);
CHIMNEY_NDIS_ASSERT(offsetof(NET_BUFFER, DataLength) == 0x18);
CHIMNEY_NDIS_ASSERT(offsetof(NET_BUFFER, MdlChain) == 0x20);
CHIMNEY_NDIS_ASSERT(offsetof(NET_BUFFER, DataOffset) == 0x28);
CHIMNEY_NDIS_ASSERT(offsetof(NET_BUFFER, ChecksumBias) == 0x30);
CHIMNEY_NDIS_ASSERT(offsetof(NET_BUFFER, NdisReserved) == 0x40);
CHIMNEY_NDIS_ASSERT(offsetof(NET_BUFFER, MiniportReserved) == 0x80);
CHIMNEY_NDIS_ASSERT(offsetof(NET_BUFFER, DataPhysicalAddress) == 0xA0);
CHIMNEY_NDIS_ASSERT(sizeof(NET_BUFFER) == 0xB0);
CHIMNEY_NDIS_ASSERT(sizeof(NET_BUFFER_LIST_POOL_PARAMETERS) == 0x10);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
                             MsiSupported) == 0x28);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
                             MessageInterruptHandler) == 0x30);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
                             InterruptType) == 0x50);
CHIMNEY_NDIS_ASSERT(sizeof(NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS) == 0x60);
CHIMNEY_NDIS_ASSERT(sizeof(NEIGHBOR_OFFLOAD_STATE_CONST) == 0x2C);
CHIMNEY_NDIS_ASSERT(sizeof(NEIGHBOR_OFFLOAD_STATE_CACHED) == 0x2C);
CHIMNEY_NDIS_ASSERT(sizeof(PATH_OFFLOAD_STATE_CONST) == 0x18);
CHIMNEY_NDIS_ASSERT(offsetof(PATH_OFFLOAD_STATE_CONST, DestinationAddress) ==
                    0x10);
CHIMNEY_NDIS_ASSERT(sizeof(PATH_OFFLOAD_STATE_CACHED) == 0x0C);
CHIMNEY_NDIS_ASSERT(offsetof(NEIGHBOR_OFFLOAD_STATE_CACHED,
                             HostReachabilityDelta) == 0x28);
CHIMNEY_NDIS_ASSERT(offsetof(TCP_OFFLOAD_STATE_CACHED, TosOrTrafficClass) ==
                    0x29);
CHIMNEY_NDIS_ASSERT(sizeof(NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES) == 0x28);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_SG_DMA_DESCRIPTION,
                             ProcessSGListHandler) == 0x10);
CHIMNEY_NDIS_ASSERT(sizeof(NDIS_SG_DMA_DESCRIPTION) == 0x28);
CHIMNEY_NDIS_ASSERT(offsetof(NDIS_STATUS_INDICATION, StatusBuffer) == 0x30);
CHIMNEY_NDIS_ASSERT(sizeof(NDIS_STATUS_INDICATION) == 0x70);
#endif

#endif /* CHIMNEY_NDIS_H */
