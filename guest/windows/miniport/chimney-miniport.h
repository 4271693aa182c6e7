/*
 * chimney-nic miniport: the adapter, shared by the driver's files
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_MINIPORT_H
#define CHIMNEY_MINIPORT_H

#include "chimney-ndis.h"
#include "hw/net/chimney/chimney-guest.h"

/* The driver core reads NDIS's TCP state through its own mirrors */
#define CHIMNEY_SAME_FIELD(a, fa, b, fb) \
    _Static_assert(offsetof(a, fa) == offsetof(b, fb), #fa " of " #a)
_Static_assert(sizeof(TCP_OFFLOAD_STATE_CONST) == sizeof(ChimneyNdisTcpConst),
               "TCP const state");
_Static_assert(sizeof(TCP_OFFLOAD_STATE_CACHED) ==
               sizeof(ChimneyNdisTcpCached), "TCP cached state");
_Static_assert(sizeof(TCP_OFFLOAD_STATE_DELEGATED) ==
               sizeof(ChimneyNdisTcpDelegated), "TCP delegated state");
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_CONST, RemotePort,
                   ChimneyNdisTcpConst, remote_port);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_CONST, RemoteMss,
                   ChimneyNdisTcpConst, remote_mss);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_CACHED, KaProbeCount,
                   ChimneyNdisTcpCached, ka_probe_count);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_CACHED, MaxRT,
                   ChimneyNdisTcpCached, max_rt);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_CACHED, TosOrTrafficClass,
                   ChimneyNdisTcpCached, tos_or_traffic_class);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, SendWL1,
                   ChimneyNdisTcpDelegated, send_wl1);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, TotalRT,
                   ChimneyNdisTcpDelegated, total_rt);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, KeepAlive.TimeoutDelta,
                   ChimneyNdisTcpDelegated, ka_timeout_delta);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, Retransmit.TimeoutDelta,
                   ChimneyNdisTcpDelegated, rexmit_timeout_delta);
CHIMNEY_SAME_FIELD(TCP_OFFLOAD_STATE_DELEGATED, BufferedData,
                   ChimneyNdisTcpDelegated, buffered_data);

#define CHIMNEY_POOL_TAG        0x796d6843      /* "Chmy" */
#define CHIMNEY_ADMIN_ENTRIES   16

/*
 * Shared memory, in two blocks: the rings (admin SQ and CQ, IDENTIFY,
 * the L2 CQ and the L2 TX and RX rings), reached by the driver core
 * through ChimneyGuestMem; and the frame buffers, a 2 KiB slot per TX
 * ring entry (frames are copied in) and per RX buffer.
 */
#define CHIMNEY_L2_ENTRIES      64
#define CHIMNEY_L2_CQ_ENTRIES   128
#define CHIMNEY_L2_CQ           1
#define CHIMNEY_SLOT            2048

#define CHIMNEY_SHM_SIZE        16384
#define CHIMNEY_SHM_ASQ         0
#define CHIMNEY_SHM_ACQ         (CHIMNEY_SHM_ASQ + \
                                 CHIMNEY_ADMIN_ENTRIES * CHIMNEY_ADMIN_CMD_SIZE)
#define CHIMNEY_SHM_IDENTIFY    (CHIMNEY_SHM_ACQ + \
                                 CHIMNEY_ADMIN_ENTRIES * CHIMNEY_CQE_SIZE)
#define CHIMNEY_SHM_L2CQ        4096
#define CHIMNEY_SHM_TXQ         (CHIMNEY_SHM_L2CQ + \
                                 CHIMNEY_L2_CQ_ENTRIES * CHIMNEY_CQE_SIZE)
#define CHIMNEY_SHM_RXQ         (CHIMNEY_SHM_TXQ + \
                                 CHIMNEY_L2_ENTRIES * CHIMNEY_L2_DESC_SIZE)
#define CHIMNEY_DATA_TX         0
#define CHIMNEY_DATA_RX         (CHIMNEY_L2_ENTRIES * CHIMNEY_SLOT)
#define CHIMNEY_DATA_SIZE       (2 * CHIMNEY_L2_ENTRIES * CHIMNEY_SLOT)

_Static_assert(CHIMNEY_SHM_IDENTIFY + CHIMNEY_IDENTIFY_SIZE <=
               CHIMNEY_SHM_L2CQ, "admin area overlaps the L2 CQ");
_Static_assert(CHIMNEY_SHM_RXQ + CHIMNEY_L2_ENTRIES * CHIMNEY_L2_DESC_SIZE <=
               CHIMNEY_SHM_SIZE, "rings exceed the shared block");

typedef struct ChimneyAdapter {
    NDIS_HANDLE miniport;
    PUCHAR regs;                /* BAR0, read through READ_REGISTER_* */
    ULONG regs_len;
    PUCHAR shm;
    NDIS_PHYSICAL_ADDRESS shm_pa;
    PUCHAR data;
    NDIS_PHYSICAL_ADDRESS data_pa;
    ChimneyGuestDev dev;        /* registers, admin SQ, shared memory */
    ChimneyGuestCq acq;
    ChimneyIdentify id;
    BOOLEAN link_up;

    /* the L2 data path (chimney-datapath.c), under @lock */
    NDIS_SPIN_LOCK lock;
    BOOLEAN lock_ready;
    NDIS_HANDLE interrupt;
    NDIS_INTERRUPT_TYPE irq_type;
    ChimneyGuestCq l2cq;
    ChimneyGuestRing txq;
    ChimneyGuestRing rxq;
    PNET_BUFFER_LIST tx_nbl[CHIMNEY_L2_ENTRIES];    /* per TX slot */
    NDIS_HANDLE rx_pool;
    PNET_BUFFER_LIST rx_nbl[CHIMNEY_L2_ENTRIES];    /* per RX buffer */
    PMDL rx_mdl[CHIMNEY_L2_ENTRIES];
    LONG rx_indicated;          /* with the stack, not yet returned */
    LONG tx_pending;            /* NBLs not yet completed */
    BOOLEAN paused;
    BOOLEAN pause_pending;

    /* admin commands completed by the DPC: their OID requests */
    ChimneyGuestInflight admin_wait;
    uint64_t admin_cookie[CHIMNEY_ADMIN_ENTRIES];
    void *admin_ctx[CHIMNEY_ADMIN_ENTRIES];
} ChimneyAdapter;

NDIS_STATUS chimney_adapter_start(ChimneyAdapter *a,
                                  PNDIS_RESOURCE_LIST resources);
VOID chimney_adapter_stop(ChimneyAdapter *a);
UCHAR chimney_admin(ChimneyAdapter *a, ChimneyAdminCmd *cmd);
ULONG chimney_readl(ChimneyAdapter *a, ULONG reg);
VOID chimney_writel(ChimneyAdapter *a, ULONG reg, ULONG val);

/* chimney-datapath.c */
NDIS_STATUS chimney_datapath_start(ChimneyAdapter *a);
VOID chimney_datapath_stop(ChimneyAdapter *a);
VOID chimney_datapath_send(ChimneyAdapter *a, PNET_BUFFER_LIST nbl,
                           ULONG flags);
VOID chimney_datapath_return(ChimneyAdapter *a, PNET_BUFFER_LIST nbl);
NDIS_STATUS chimney_datapath_pause(ChimneyAdapter *a);
NDIS_STATUS chimney_datapath_admin(ChimneyAdapter *a, ChimneyAdminCmd *cmd,
                                   PNDIS_OID_REQUEST request);
VOID chimney_datapath_restart(ChimneyAdapter *a);

#endif /* CHIMNEY_MINIPORT_H */
