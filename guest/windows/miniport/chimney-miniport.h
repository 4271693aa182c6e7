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

#define CHIMNEY_POOL_TAG        0x796d6843      /* "Chmy" */
#define CHIMNEY_ADMIN_ENTRIES   16

/*
 * One page of shared memory holds the admin SQ, the admin CQ and the
 * IDENTIFY buffer; the driver core reaches it through ChimneyGuestMem.
 */
#define CHIMNEY_SHM_SIZE        4096
#define CHIMNEY_SHM_ASQ         0
#define CHIMNEY_SHM_ACQ         (CHIMNEY_SHM_ASQ + \
                                 CHIMNEY_ADMIN_ENTRIES * CHIMNEY_ADMIN_CMD_SIZE)
#define CHIMNEY_SHM_IDENTIFY    (CHIMNEY_SHM_ACQ + \
                                 CHIMNEY_ADMIN_ENTRIES * CHIMNEY_CQE_SIZE)

typedef struct ChimneyAdapter {
    NDIS_HANDLE miniport;
    PUCHAR regs;                /* BAR0, read through READ_REGISTER_* */
    ULONG regs_len;
    PUCHAR shm;
    NDIS_PHYSICAL_ADDRESS shm_pa;
    ChimneyGuestDev dev;        /* registers, admin SQ, shared memory */
    ChimneyGuestCq acq;
    ChimneyIdentify id;
    BOOLEAN link_up;
} ChimneyAdapter;

NDIS_STATUS chimney_adapter_start(ChimneyAdapter *a,
                                  PNDIS_RESOURCE_LIST resources);
VOID chimney_adapter_stop(ChimneyAdapter *a);

#endif /* CHIMNEY_MINIPORT_H */
