/*
 * chimney-nic: NDIS 6.20 miniport for Windows 7 / Server 2008 R2 and later
 *
 * The driver's NDIS entry points: registration (NDIS 6.20) and, from
 * MiniportSetOptions, the chimney provider handler sets without which
 * NDIS does not offer TCP chimney to the adapter; the adapter's life
 * cycle and its attributes.  mp-bringup.c brings the device up with
 * the shared driver core (guest/common/chimney-guest.c).
 *
 * Status: the adapter initializes (registers, admin queue, IDENTIFY,
 * SET_PARAMS, its MAC and link reported to NDIS) and has an interrupt and
 * a plain L2 data path (mp-datapath.c).  There is no offload yet:
 * every offload request fails, as NDIS requires of a target that cannot
 * take it, and OIDs other than the packet filter, lookahead and multicast
 * list are not supported.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "mp-adapter.h"

#define MP_NDIS_MAJOR           6
#define MP_NDIS_MINOR           20
#define MP_DRIVER_MAJOR         1
#define MP_DRIVER_MINOR         CHIMNEY_VERSION_MINOR

static NDIS_HANDLE mp_driver_handle;

static NDIS_OID mp_oids[] = {
    OID_GEN_STATISTICS,
    OID_GEN_XMIT_OK,
    OID_GEN_RCV_OK,
    OID_GEN_XMIT_ERROR,
    OID_GEN_RCV_ERROR,
    OID_GEN_RCV_NO_BUFFER,
    OID_GEN_MAXIMUM_FRAME_SIZE,
    OID_GEN_VENDOR_ID,
    OID_GEN_VENDOR_DESCRIPTION,
    OID_GEN_VENDOR_DRIVER_VERSION,
    OID_802_3_RCV_ERROR_ALIGNMENT,
    OID_802_3_XMIT_ONE_COLLISION,
    OID_802_3_XMIT_MORE_COLLISIONS,
    OID_GEN_CURRENT_PACKET_FILTER,
    OID_GEN_CURRENT_LOOKAHEAD,
    OID_802_3_MULTICAST_LIST,
    OID_TCP_CONNECTION_OFFLOAD_PARAMETERS,
    OID_TCP_OFFLOAD_PARAMETERS,
    OID_TCP4_OFFLOAD_STATS,
    OID_IP4_OFFLOAD_STATS,
};

/* Either attributes structure; NDIS tells them apart by the header */
static NDIS_STATUS mp_set_attributes(MpAdapter *a, PVOID attrs)
{
    return NdisMSetMiniportAttributes(a->miniport, attrs);
}

static NDIS_STATUS mp_set_general(MpAdapter *a)
{
    NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES g = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
            .Revision = NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
            .Size = NDIS_SIZEOF_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
        },
        .MediaType = NdisMedium802_3,
        .PhysicalMediumType = NdisPhysicalMedium802_3,
        .MtuSize = CHIMNEY_L2_MTU,
        .MaxXmitLinkSpeed = 1000000000ull,
        .XmitLinkSpeed = 1000000000ull,
        .MaxRcvLinkSpeed = 1000000000ull,
        .RcvLinkSpeed = 1000000000ull,
        .MediaConnectState = a->link_up ? MediaConnectStateConnected :
                                          MediaConnectStateDisconnected,
        .MediaDuplexState = MediaDuplexStateFull,
        .LookaheadSize = CHIMNEY_L2_MTU,
        /*
         * No NDIS_MAC_OPTION_8021Q_VLAN / _8021P_PRIORITY: the plain path
         * is raw Ethernet, passing tagged and untagged frames through as
         * they are, so NDIS leaves 802.1Q in the frames and never hands
         * it over in Ieee8021QNetBufferListInfo (NDIS 5.1 "802.1Q Support
         * in a Remote NDIS Device": raw encapsulation, no 802.1Q).
         * Offloaded connections take it from the state (mp-state-tree.c).
         */
        .MacOptions = NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA |
                      NDIS_MAC_OPTION_TRANSFERS_NOT_PEND |
                      NDIS_MAC_OPTION_NO_LOOPBACK,
        .SupportedPacketFilters = NDIS_PACKET_TYPE_DIRECTED |
                                  NDIS_PACKET_TYPE_MULTICAST |
                                  NDIS_PACKET_TYPE_ALL_MULTICAST |
                                  NDIS_PACKET_TYPE_BROADCAST |
                                  NDIS_PACKET_TYPE_PROMISCUOUS,
        .MaxMulticastListSize = 32,
        .SupportedStatistics = MP_STATS_SUPPORTED,
        .MacAddressLength = 6,
        .AccessType = NET_IF_ACCESS_BROADCAST,
        .DirectionType = NET_IF_DIRECTION_SENDRECEIVE,
        .ConnectionType = NET_IF_CONNECTION_DEDICATED,
        .IfType = IF_TYPE_ETHERNET_CSMACD,
        .IfConnectorPresent = TRUE,
        .SupportedOidList = mp_oids,
        .SupportedOidListLength = sizeof(mp_oids),
    };

    memcpy(g.PermanentMacAddress, a->id.mac, 6);
    memcpy(g.CurrentMacAddress, a->id.mac, 6);
    return mp_set_attributes(a, &g);
}

/*
 * An integer keyword of the adapter (its advanced properties, from the
 * INF), or @def when it is not there.
 */
ULONG mp_keyword(MpAdapter *a, PNDIS_STRING key, ULONG def)
{
    NDIS_CONFIGURATION_OBJECT co = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
            .Revision = NDIS_CONFIGURATION_OBJECT_REVISION_1,
            .Size = sizeof(co),
        },
        .NdisHandle = a->miniport,
    };
    PNDIS_CONFIGURATION_PARAMETER param;
    ULONG v = def;
    NDIS_HANDLE cfg;
    NDIS_STATUS st;

    if (NdisOpenConfigurationEx(&co, &cfg) != NDIS_STATUS_SUCCESS) {
        return v;
    }
    NdisReadConfiguration(&st, &param, cfg, key, NdisParameterInteger);
    if (st == NDIS_STATUS_SUCCESS &&
        param->ParameterType == NdisParameterInteger) {
        v = param->ParameterData.IntegerData;
    }
    NdisCloseConfiguration(cfg);
    return v;
}

/*
 * The adapter's "TCP Connection Offload (IPv4)" and "(IPv6)" keywords: 0
 * turns the default configuration off (the capability stays), missing
 * means on.
 */
static BOOLEAN mp_offload_enabled(MpAdapter *a, BOOLEAN v6)
{
    static NDIS_STRING v4 = RTL_CONSTANT_STRING(L"*TCPConnectionOffloadIPv4");
    static NDIS_STRING v6k = RTL_CONSTANT_STRING(L"*TCPConnectionOffloadIPv6");

    return mp_keyword(a, v6 ? &v6k : &v4, 1) != 0;
}

/*
 * Chimney: NDIS's entry points for completions and indications, then the
 * capability.  Without the handlers (NDIS refused them) or the device's
 * TCP offload feature the adapter is a plain NIC: no capability is
 * reported and NDIS offloads nothing.  IPv6 (SupportIPv6) only with the
 * device's CHIMNEY_FEAT_TCP_IPV6.  The encapsulation is IEEE 802.3
 * alone: NDIS_TCP_CONNECTION_OFFLOAD's page allows only it and LLC/SNAP
 * for chimney ("Otherwise, chimney capability will not be recognized");
 * 802.1Q is not an encapsulation there but the neighbor's VlanId and the
 * connection's UserPriority, which the offload takes (a priority only
 * with CHIMNEY_FEAT_8021Q, see chimney_guest_tcp_cached_unsupported).
 */
static NDIS_STATUS mp_set_offload(MpAdapter *a)
{
    static NDIS_OFFLOAD none = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_OFFLOAD,
            .Revision = NDIS_OFFLOAD_REVISION_1,
            .Size = NDIS_SIZEOF_NDIS_OFFLOAD_REVISION_1,
        },
    };
    NDIS_TCP_CONNECTION_OFFLOAD tcp = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_DEFAULT,
            .Revision = NDIS_TCP_CONNECTION_OFFLOAD_REVISION_1,
            .Size = NDIS_SIZEOF_TCP_CONNECTION_OFFLOAD_REVISION_1,
        },
        .Encapsulation = NDIS_ENCAPSULATION_IEEE_802_3,
        .SupportIPv4 = NDIS_OFFLOAD_SUPPORTED,
    };
    NDIS_TCP_CONNECTION_OFFLOAD current = tcp;
    NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES attrs = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES,
            .Revision = NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES_REVISION_1,
            .Size = sizeof(attrs),
        },
        .DefaultOffloadConfiguration = &none,
        .HardwareOffloadCapabilities = &none,
        .DefaultTcpConnectionOffloadConfiguration = &current,
        .TcpConnectionOffloadHardwareCapabilities = &tcp,
    };
    PNDIS_OFFLOAD_EVENT_HANDLERS h;
    PNDIS_TCP_OFFLOAD_EVENT_HANDLERS t;

    if (!(a->id.features & CHIMNEY_FEAT_TCP_OFFLOAD) ||
        NdisMGetOffloadHandlers(a->miniport, NdisTcpChimneyOffload, &h) !=
        NDIS_STATUS_SUCCESS) {
        return NDIS_STATUS_SUCCESS;
    }
    t = (PNDIS_TCP_OFFLOAD_EVENT_HANDLERS)h;
    if (t->Header.Size < sizeof(*t) || !t->NdisTcpOffloadSendComplete ||
        !t->NdisTcpOffloadEventHandler) {
        return NDIS_STATUS_SUCCESS;
    }
    a->tcp = *t;
    a->chimney = TRUE;
    tcp.TcpConnectionOffloadCapacity = a->max_conns;
    if (a->id.features & CHIMNEY_FEAT_TCP_IPV6) {
        tcp.SupportIPv6 = NDIS_OFFLOAD_SUPPORTED;
    }
    current = tcp;
    a->offload_off = !mp_offload_enabled(a, FALSE);
    a->offload_off_v6 = !tcp.SupportIPv6 || !mp_offload_enabled(a, TRUE);
    if (a->offload_off) {
        current.SupportIPv4 = NDIS_OFFLOAD_NOT_SUPPORTED;
    }
    if (a->offload_off_v6) {
        current.SupportIPv6 = NDIS_OFFLOAD_NOT_SUPPORTED;
    }
    if (a->offload_off && a->offload_off_v6) {
        current.TcpConnectionOffloadCapacity = 0;
    }
    return mp_set_attributes(a, &attrs);
}

static VOID mp_free(MpAdapter *a)
{
    mp_datapath_stop(a);
    mp_adapter_stop(a);
    mp_conn_io_stop(a);
    NdisFreeMemory(a, sizeof(*a), 0);
}

static NDIS_STATUS mp_initialize(NDIS_HANDLE miniport,
                                 NDIS_HANDLE driver_context,
                                 PNDIS_MINIPORT_INIT_PARAMETERS params)
{
    NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES reg = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
            .Revision = 1,
            .Size =
                NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1,
        },
        .AttributeFlags = NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE |
                          NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER,
        .InterfaceType = NdisInterfacePci,
    };
    MpAdapter *a;
    NDIS_STATUS status;

    a = NdisAllocateMemoryWithTagPriority(miniport, sizeof(*a),
                                          MP_POOL_TAG, NormalPoolPriority);
    if (!a) {
        return NDIS_STATUS_RESOURCES;
    }
    memset(a, 0, sizeof(*a));
    a->miniport = miniport;
    a->dma_region = a->dma_fixed;
    a->dma_max = MP_DMA_FIXED;
    reg.MiniportAdapterContext = a;
    status = mp_set_attributes(a, &reg);
    if (status == NDIS_STATUS_SUCCESS) {
        status = mp_adapter_start(a, params->AllocatedResources);
    }
    if (status == NDIS_STATUS_SUCCESS) {
        status = mp_datapath_start(a);
    }
    if (status == NDIS_STATUS_SUCCESS) {
        status = mp_set_general(a);
    }
    if (status == NDIS_STATUS_SUCCESS) {
        status = mp_set_offload(a);
    }
    if (status != NDIS_STATUS_SUCCESS) {
        mp_free(a);
    }
    return status;
}

static VOID mp_halt(NDIS_HANDLE adapter, NDIS_HALT_ACTION action)
{
    mp_free(adapter);
}

static NDIS_STATUS mp_pause(NDIS_HANDLE adapter,
                            PNDIS_MINIPORT_PAUSE_PARAMETERS params)
{
    return mp_datapath_pause(adapter);
}

static NDIS_STATUS mp_restart(NDIS_HANDLE adapter,
                              PNDIS_MINIPORT_RESTART_PARAMETERS params)
{
    mp_datapath_restart(adapter);
    return NDIS_STATUS_SUCCESS;
}

/* The host's chimney timers and limits: SET_PARAMS, completed later */
static NDIS_STATUS mp_offload_params(MpAdapter *a,
                                     PNDIS_OID_REQUEST request)
{
    NDIS_OID_REQUEST_INFO *info = &request->Info;
    ChimneyAdminCmd cmd = { .opcode = CHIMNEY_CMD_SET_PARAMS };

    if (info->InformationBufferLength < CHIMNEY_NDIS_OFFLOAD_PARAMS_REV1_SIZE) {
        info->BytesNeeded = CHIMNEY_NDIS_OFFLOAD_PARAMS_REV1_SIZE;
        return NDIS_STATUS_INVALID_LENGTH;
    }
    if (!chimney_guest_offload_params(cmd.param, info->InformationBuffer,
                                      info->InformationBufferLength)) {
        return NDIS_STATUS_INVALID_DATA;
    }
    info->BytesDone = info->InformationBufferLength;
    a->ticks_per_second = cmd.param[CHIMNEY_PARAM_TICKS_PER_SECOND];
    return mp_datapath_admin(a, &cmd, request);
}

/* A query's answer: @len bytes, or too short a buffer */
static NDIS_STATUS mp_answer(NDIS_OID_REQUEST_INFO *info,
                             const VOID *val, ULONG len)
{
    if (info->InformationBufferLength < len) {
        info->BytesNeeded = len;
        return NDIS_STATUS_INVALID_LENGTH;
    }
    memcpy(info->InformationBuffer, val, len);
    info->BytesDone = len;
    return NDIS_STATUS_SUCCESS;
}

/* A 64-bit counter: in 32 bits when the buffer only takes that */
static NDIS_STATUS mp_answer64(NDIS_OID_REQUEST_INFO *info, ULONG64 v)
{
    ULONG v32 = (ULONG)v;

    if (info->InformationBufferLength >= sizeof(v)) {
        return mp_answer(info, &v, sizeof(v));
    }
    return mp_answer(info, &v32, sizeof(v32));
}

static ULONG64 mp_sum(const ULONG64 *v)
{
    return v[MP_UCAST] + v[MP_MCAST] + v[MP_BCAST];
}

static NDIS_STATUS mp_statistics(MpAdapter *a,
                                 NDIS_OID_REQUEST_INFO *info)
{
    NDIS_STATISTICS_INFO st = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_DEFAULT,
            .Revision = NDIS_STATISTICS_INFO_REVISION_1,
            .Size = NDIS_SIZEOF_STATISTICS_INFO_REVISION_1,
        },
        .SupportedStatistics = MP_STATS_VALID,
    };
    MpL2Stats s;

    NdisAcquireSpinLock(&a->lock);
    s = a->stats;
    NdisReleaseSpinLock(&a->lock);
    st.ifInDiscards = s.rx_discards;
    st.ifInErrors = s.rx_errors;
    st.ifHCInOctets = mp_sum(s.rx_bytes);
    st.ifHCInUcastPkts = s.rx_frames[MP_UCAST];
    st.ifHCInMulticastPkts = s.rx_frames[MP_MCAST];
    st.ifHCInBroadcastPkts = s.rx_frames[MP_BCAST];
    st.ifHCOutOctets = mp_sum(s.tx_bytes);
    st.ifHCOutUcastPkts = s.tx_frames[MP_UCAST];
    st.ifHCOutMulticastPkts = s.tx_frames[MP_MCAST];
    st.ifHCOutBroadcastPkts = s.tx_frames[MP_BCAST];
    st.ifOutErrors = s.tx_errors;
    st.ifOutDiscards = s.tx_discards;
    st.ifHCInUcastOctets = s.rx_bytes[MP_UCAST];
    st.ifHCInMulticastOctets = s.rx_bytes[MP_MCAST];
    st.ifHCInBroadcastOctets = s.rx_bytes[MP_BCAST];
    st.ifHCOutUcastOctets = s.tx_bytes[MP_UCAST];
    st.ifHCOutMulticastOctets = s.tx_bytes[MP_MCAST];
    st.ifHCOutBroadcastOctets = s.tx_bytes[MP_BCAST];
    return mp_answer(info, &st, sizeof(st));
}

/* What NDIS does not answer from the attributes itself */
static NDIS_STATUS mp_query(MpAdapter *a,
                            NDIS_OID_REQUEST_INFO *info)
{
    static const char vendor[] = "qemu-chimney chimney-nic";
    ULONG v;

    switch (info->Oid) {
    case OID_GEN_STATISTICS:
        return mp_statistics(a, info);
    case OID_GEN_XMIT_OK:
        return mp_answer64(info, mp_sum(a->stats.tx_frames));
    case OID_GEN_RCV_OK:
        return mp_answer64(info, mp_sum(a->stats.rx_frames));
    case OID_GEN_XMIT_ERROR:
        return mp_answer64(info, a->stats.tx_errors);
    case OID_GEN_RCV_ERROR:
        return mp_answer64(info, a->stats.rx_errors);
    case OID_GEN_RCV_NO_BUFFER:
        return mp_answer64(info, a->stats.rx_discards);
    case OID_802_3_RCV_ERROR_ALIGNMENT:
    case OID_802_3_XMIT_ONE_COLLISION:
    case OID_802_3_XMIT_MORE_COLLISIONS:
        return mp_answer64(info, 0);            /* no such thing here */
    case OID_GEN_MAXIMUM_FRAME_SIZE:
        v = CHIMNEY_L2_MTU;
        return mp_answer(info, &v, sizeof(v));
    case OID_GEN_VENDOR_ID:
        /* The OUI of the MAC address: the project has none of its own */
        v = (a->id.mac[0] << 16) | (a->id.mac[1] << 8) | a->id.mac[2];
        return mp_answer(info, &v, sizeof(v));
    case OID_GEN_VENDOR_DESCRIPTION:
        return mp_answer(info, vendor, sizeof(vendor));
    case OID_GEN_VENDOR_DRIVER_VERSION:
        v = (MP_DRIVER_MAJOR << 16) | MP_DRIVER_MINOR;
        return mp_answer(info, &v, sizeof(v));
    default:
        return NDIS_STATUS_NOT_SUPPORTED;
    }
}

/*
 * The offload target's statistics.  The driver counts what passes
 * through it: connections established (offloaded, not reset), resets
 * received, resets sent.  Segments, retransmissions and bytes are the
 * device's: each query or set is a QUERY_STATS, answered (or taken as the
 * new baseline of a reset) when it completes, in mp_offload_stats_done.
 * The device counts TCP payload: the IP octets add 40 bytes of headers
 * per segment (options not counted).
 */
static NDIS_STATUS mp_offload_stats(MpAdapter *a, PNDIS_OID_REQUEST request,
                                    BOOLEAN set)
{
    NDIS_OID_REQUEST_INFO *info = &request->Info;
    ULONG need = info->Oid == OID_IP4_OFFLOAD_STATS ?
                 sizeof(IP_OFFLOAD_STATS) : sizeof(TCP_OFFLOAD_STATS);
    ChimneyAdminCmd cmd = {
        .opcode = CHIMNEY_CMD_QUERY_STATS,
        .addr = a->shm_pa.QuadPart + MP_SHM_STATS,
        .len = CHIMNEY_STATS_SIZE,
    };

    if (set) {
        NdisAcquireSpinLock(&a->lock);
        a->reset_established = 0;
        a->out_resets = 0;
        NdisReleaseSpinLock(&a->lock);
        info->BytesDone = info->InformationBufferLength;
    } else if (info->InformationBufferLength < need) {
        info->BytesNeeded = need;
        return NDIS_STATUS_INVALID_LENGTH;
    }
    if (!a->chimney) {
        mp_offload_stats_done(a, request);
        return NDIS_STATUS_SUCCESS;
    }
    return mp_datapath_admin(a, &cmd, request);
}

static ULONG64 mp_since(uint64_t now, uint64_t base)
{
    return now >= base ? now - base : now;
}

/* A QUERY_STATS completed: the answer of the query, or the new baseline */
VOID mp_offload_stats_done(MpAdapter *a, PNDIS_OID_REQUEST request)
{
    NDIS_OID_REQUEST_INFO *info = &request->Info;
    ChimneyOffloadStats dev = { 0 }, *b = &a->stats_base;
    TCP_OFFLOAD_STATS tcp = { 0 };
    IP_OFFLOAD_STATS ip = { 0 };

    if (info->Oid != OID_TCP4_OFFLOAD_STATS &&
        info->Oid != OID_IP4_OFFLOAD_STATS) {
        return;
    }
    if (a->chimney) {
        a->dev.mem.read(a->dev.mem.opaque,
                        a->shm_pa.QuadPart + MP_SHM_STATS, &dev, sizeof(dev));
    }
    if (request->RequestType == NdisRequestSetInformation) {
        *b = dev;
        return;
    }
    if (info->Oid == OID_IP4_OFFLOAD_STATS) {
        ULONG64 in = mp_since(dev.in_segments, b->in_segments);
        ULONG64 out = mp_since(dev.out_segments, b->out_segments);

        ip.InReceives = in;
        ip.InDelivers = in;
        ip.InOctets = mp_since(dev.in_octets, b->in_octets) + 40 * in;
        ip.OutRequests = out;
        ip.OutOctets = mp_since(dev.out_octets, b->out_octets) + 40 * out;
        memcpy(info->InformationBuffer, &ip, sizeof(ip));
        info->BytesDone = sizeof(ip);
        return;
    }
    tcp.InSegments = mp_since(dev.in_segments, b->in_segments);
    tcp.OutSegments = mp_since(dev.out_segments, b->out_segments);
    tcp.RetransmittedSegments = (ULONG)mp_since(dev.retransmitted,
                                                b->retransmitted);
    NdisAcquireSpinLock(&a->lock);
    for (ULONG i = 0; a->chimney && i < a->max_conns; i++) {
        MpConn *c = a->conn[i];

        /* TCP4's: IPv6 connections are not among them */
        tcp.CurrentlyEstablished += c->obj.used && c->announced &&
                                    !c->aborted &&
                                    c->obj.parent->family !=
                                    CHIMNEY_PATH_IPV6;
    }
    tcp.ResetEstablished = a->reset_established;
    tcp.OutResets = a->out_resets;
    NdisReleaseSpinLock(&a->lock);
    memcpy(info->InformationBuffer, &tcp, sizeof(tcp));
    info->BytesDone = sizeof(tcp);
}

/* A status indication of the adapter (no buffer: @buf NULL) */
static VOID mp_indicate_status(MpAdapter *a, NDIS_STATUS code, PVOID buf,
                               ULONG len)
{
    NDIS_STATUS_INDICATION ind = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_STATUS_INDICATION,
            .Revision = NDIS_STATUS_INDICATION_REVISION_1,
            .Size = sizeof(ind),
        },
        .SourceHandle = a->miniport,
        .StatusCode = code,
        .StatusBuffer = buf,
        .StatusBufferSize = len,
    };

    NdisMIndicateStatusEx(a->miniport, &ind);
}

/*
 * OID_TCP_OFFLOAD_PARAMETERS: chimney on or off at run time, for IPv4
 * (TcpConnectionIPv4) and IPv6 (TcpConnectionIPv6) apart.  Off, no path
 * of that family is offloaded and the host is asked to upload what is
 * offloaded (NDIS_STATUS_UPLOAD_ALL); either way the current task
 * offload configuration is indicated, as the OID's page requires.  The
 * task offloads (checksums, LSO) the device does not have stay off.
 * IPv6 stays off on a device without it.
 */
static NDIS_STATUS mp_task_offload_params(MpAdapter *a,
                                          NDIS_OID_REQUEST_INFO *info)
{
    static const NDIS_OFFLOAD none = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_OFFLOAD,
            .Revision = NDIS_OFFLOAD_REVISION_1,
            .Size = NDIS_SIZEOF_NDIS_OFFLOAD_REVISION_1,
        },
    };
    PNDIS_OFFLOAD_PARAMETERS p = info->InformationBuffer;
    BOOLEAN upload = FALSE;
    NDIS_OFFLOAD current = none;

    if (info->InformationBufferLength <
        NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_1) {
        info->BytesNeeded = NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_1;
        return NDIS_STATUS_INVALID_LENGTH;
    }
    if (p->TcpConnectionIPv4 >
        NDIS_OFFLOAD_PARAMETERS_CONNECTION_OFFLOAD_ENABLED ||
        p->TcpConnectionIPv6 >
        NDIS_OFFLOAD_PARAMETERS_CONNECTION_OFFLOAD_ENABLED) {
        return NDIS_STATUS_INVALID_DATA;
    }
    NdisAcquireSpinLock(&a->lock);
    if (p->TcpConnectionIPv4 != NDIS_OFFLOAD_PARAMETERS_NO_CHANGE) {
        a->offload_off = p->TcpConnectionIPv4 ==
                         NDIS_OFFLOAD_PARAMETERS_CONNECTION_OFFLOAD_DISABLED;
    }
    if (p->TcpConnectionIPv6 != NDIS_OFFLOAD_PARAMETERS_NO_CHANGE) {
        a->offload_off_v6 = p->TcpConnectionIPv6 ==
            NDIS_OFFLOAD_PARAMETERS_CONNECTION_OFFLOAD_DISABLED ||
            !(a->id.features & CHIMNEY_FEAT_TCP_IPV6);
    }
    for (ULONG i = 0; a->chimney && i < a->max_conns; i++) {
        MpObj *c = &a->conn[i]->obj;

        upload |= c->used && (c->parent->family == CHIMNEY_PATH_IPV6 ?
                              a->offload_off_v6 : a->offload_off);
    }
    NdisReleaseSpinLock(&a->lock);
    info->BytesDone = info->InformationBufferLength;
    mp_indicate_status(a, NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG, &current,
                       sizeof(current));
    if (upload) {
        mp_indicate_status(a, NDIS_STATUS_UPLOAD_ALL, NULL, 0);
    }
    return NDIS_STATUS_SUCCESS;
}

NDIS_STATUS mp_chimney_oid(MpAdapter *a, PNDIS_OID_REQUEST request)
{
    NDIS_OID_REQUEST_INFO *info = &request->Info;
    BOOLEAN set = request->RequestType == NdisRequestSetInformation;

    if (!set && request->RequestType != NdisRequestQueryInformation &&
        request->RequestType != NdisRequestQueryStatistics) {
        return NDIS_STATUS_NOT_SUPPORTED;
    }
    if (info->Oid == OID_TCP_OFFLOAD_PARAMETERS) {
        return set ? mp_task_offload_params(a, info) :
                     NDIS_STATUS_NOT_SUPPORTED;
    }
    return mp_offload_stats(a, request, set);
}

/* Filter settings are taken (the device does not filter); chimney's */
static NDIS_STATUS mp_oid_request(NDIS_HANDLE adapter,
                                  PNDIS_OID_REQUEST request)
{
    NDIS_OID_REQUEST_INFO *info = &request->Info;

    if (info->Oid == OID_TCP4_OFFLOAD_STATS ||
        info->Oid == OID_IP4_OFFLOAD_STATS ||
        info->Oid == OID_TCP_OFFLOAD_PARAMETERS) {
        return mp_chimney_oid(adapter, request);
    }
    if (request->RequestType == NdisRequestQueryInformation ||
        request->RequestType == NdisRequestQueryStatistics) {
        return mp_query(adapter, info);
    }
    if (request->RequestType != NdisRequestSetInformation) {
        return NDIS_STATUS_NOT_SUPPORTED;
    }
    switch (info->Oid) {
    case OID_GEN_CURRENT_PACKET_FILTER:
    case OID_GEN_CURRENT_LOOKAHEAD:
        if (info->InformationBufferLength < sizeof(ULONG)) {
            info->BytesNeeded = sizeof(ULONG);
            return NDIS_STATUS_INVALID_LENGTH;
        }
        info->BytesDone = sizeof(ULONG);
        return NDIS_STATUS_SUCCESS;
    case OID_802_3_MULTICAST_LIST:
        if (info->InformationBufferLength % 6 ||
            info->InformationBufferLength > 32 * 6) {
            return NDIS_STATUS_INVALID_LENGTH;
        }
        info->BytesDone = info->InformationBufferLength;
        return NDIS_STATUS_SUCCESS;
    case OID_TCP_CONNECTION_OFFLOAD_PARAMETERS:
        return mp_offload_params(adapter, request);
    default:
        return NDIS_STATUS_NOT_SUPPORTED;
    }
}

static VOID mp_send_nbls(NDIS_HANDLE adapter, PNET_BUFFER_LIST nbl,
                         NDIS_PORT_NUMBER port, ULONG flags)
{
    mp_datapath_send(adapter, nbl, flags);
}

static VOID mp_return_nbls(NDIS_HANDLE adapter, PNET_BUFFER_LIST nbl,
                           ULONG flags)
{
    mp_datapath_return(adapter, nbl);
}

static VOID mp_cancel_send(NDIS_HANDLE adapter, PVOID cancel_id)
{
}

static VOID mp_pnp_event(NDIS_HANDLE adapter, PNET_DEVICE_PNP_EVENT event)
{
}

static VOID mp_shutdown(NDIS_HANDLE adapter, NDIS_SHUTDOWN_ACTION action)
{
}

static VOID mp_cancel_oid(NDIS_HANDLE adapter, PVOID request_id)
{
}

/* The chimney provider handlers, registered in MiniportSetOptions */
static NDIS_PROVIDER_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS mp_generic = {
    .Header = {
        .Type = NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_GENERIC,
        .Revision = 1,
        .Size = sizeof(NDIS_PROVIDER_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS),
    },
    .InitiateOffloadHandler = mp_initiate_offload,
    .TerminateOffloadHandler = mp_terminate_offload,
    .UpdateOffloadHandler = mp_update_offload,
    .InvalidateOffloadHandler = mp_invalidate_offload,
    .QueryOffloadHandler = mp_query_offload,
};

static NDIS_PROVIDER_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS mp_tcp_offload = {
    .Header = {
        .Type = NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_OFFLOAD_CHARACTERISTICS,
        .Revision = 1,
        .Size = sizeof(NDIS_PROVIDER_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS),
    },
    .OffloadType = NdisTcpChimneyOffload,
    .TcpOffloadSendHandler = mp_tcp_offload_send,
    .TcpOffloadReceiveHandler = mp_tcp_offload_receive,
    .TcpOffloadDisconnectHandler = mp_tcp_offload_disconnect,
    .TcpOffloadForwardHandler = mp_tcp_offload_forward,
    .TcpOffloadReceiveReturnHandler = mp_tcp_offload_receive_return,
};

/* MiniportSetOptions: generic handlers, then TCP */
static NDIS_STATUS mp_set_options(NDIS_HANDLE driver,
                                  NDIS_HANDLE driver_context)
{
    NDIS_STATUS status;

    status = NdisSetOptionalHandlers(driver, &mp_generic.Header);
    if (status == NDIS_STATUS_SUCCESS) {
        status = NdisSetOptionalHandlers(driver, &mp_tcp_offload.Header);
    }
    return status;
}

static VOID mp_unload(PDRIVER_OBJECT driver)
{
    NdisMDeregisterMiniportDriver(mp_driver_handle);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT driver, PUNICODE_STRING registry)
{
    NDIS_MINIPORT_DRIVER_CHARACTERISTICS ch = {
        .Header = {
            .Type = NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
            .Revision = NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
            .Size = NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
        },
        .MajorNdisVersion = MP_NDIS_MAJOR,
        .MinorNdisVersion = MP_NDIS_MINOR,
        .MajorDriverVersion = MP_DRIVER_MAJOR,
        .MinorDriverVersion = MP_DRIVER_MINOR,
        .SetOptionsHandler = mp_set_options,
        .InitializeHandlerEx = mp_initialize,
        .HaltHandlerEx = mp_halt,
        .UnloadHandler = mp_unload,
        .PauseHandler = mp_pause,
        .RestartHandler = mp_restart,
        .OidRequestHandler = mp_oid_request,
        .SendNetBufferListsHandler = mp_send_nbls,
        .ReturnNetBufferListsHandler = mp_return_nbls,
        .CancelSendHandler = mp_cancel_send,
        .DevicePnPEventNotifyHandler = mp_pnp_event,
        .ShutdownHandlerEx = mp_shutdown,
        .CancelOidRequestHandler = mp_cancel_oid,
    };
    NDIS_STATUS status;

    DbgPrint("chimney-nic: interface %u.%u driver\n", CHIMNEY_VERSION_MAJOR,
             CHIMNEY_VERSION_MINOR);
    status = NdisMRegisterMiniportDriver(driver, registry, NULL, &ch,
                                         &mp_driver_handle);
    return status == NDIS_STATUS_SUCCESS ? STATUS_SUCCESS : status;
}
