/*
 * chimney-nic miniport: bringing the device up and down
 *
 * Maps BAR0, puts the admin queue in shared memory, and runs the bring-up
 * of the shared driver core (guest/common/chimney-guest.c: the same code
 * libqos runs in every qtest): enable, IDENTIFY, SET_PARAMS.  The admin
 * commands here are polled: they run from MiniportInitializeEx at
 * PASSIVE_LEVEL, before the interrupt is connected.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "mp-adapter.h"

#define MP_READY_US             (100 * 1000)
#define MP_ADMIN_US             (1000 * 1000)

ULONG mp_readl(MpAdapter *a, ULONG reg)
{
    return READ_REGISTER_ULONG((PULONG)(a->regs + reg));
}

VOID mp_writel(MpAdapter *a, ULONG reg, ULONG val)
{
    WRITE_REGISTER_ULONG((PULONG)(a->regs + reg), val);
}

/*
 * The driver core names guest memory by DMA address: inside the shared
 * page it is the page's virtual address plus the offset.  Nothing else is
 * ever named, so anything outside is a bug and is not touched.
 */
/*
 * Shared memory the device sees, remembered so that the driver core's
 * DMA addresses (rings, queue entries, state blocks) find their mapping.
 */
PVOID mp_shared_alloc(MpAdapter *a, ULONG len,
                      PNDIS_PHYSICAL_ADDRESS pa)
{
    PVOID va = NULL;

    if (a->ndma == a->dma_max) {
        return NULL;
    }
    NdisMAllocateSharedMemory(a->miniport, len, TRUE, &va, pa);
    if (va) {
        a->dma_region[a->ndma++] = (MpDmaRegion) {
            .va = va, .pa = pa->QuadPart, .len = len,
        };
    }
    return va;
}

static PUCHAR mp_shm_at(MpAdapter *a, uint64_t addr, size_t len)
{
    for (ULONG i = 0; i < a->ndma; i++) {
        MpDmaRegion *r = &a->dma_region[i];

        if (addr >= r->pa && len <= r->len && addr - r->pa <= r->len - len) {
            return r->va + (addr - r->pa);
        }
    }
    DbgPrint("chimney-nic: DMA address 0x%llx outside shared memory\n",
             (unsigned long long)addr);
    return NULL;
}

static void mp_shm_read(void *opaque, uint64_t addr, void *buf,
                        size_t len)
{
    PUCHAR p = mp_shm_at(opaque, addr, len);

    if (p) {
        __sync_synchronize();       /* order against the device */
        memcpy(buf, p, len);
    } else {
        memset(buf, 0, len);
    }
}

static void mp_shm_write(void *opaque, uint64_t addr, const void *buf,
                         size_t len)
{
    PUCHAR p = mp_shm_at(opaque, addr, len);

    if (p) {
        memcpy(p, buf, len);
        __sync_synchronize();       /* order against the device */
    }
}

static uint32_t mp_dev_readl(void *opaque, uint32_t reg)
{
    return mp_readl(opaque, reg);
}

static void mp_dev_writel(void *opaque, uint32_t reg, uint32_t val)
{
    mp_writel(opaque, reg, val);
}

static void mp_dev_delay(void *opaque, uint32_t us)
{
    KeStallExecutionProcessor(us);
}

/*
 * A polled admin command.  Only before the interrupt is registered: after
 * that the DPC consumes the admin CQ.
 */
UCHAR mp_admin(MpAdapter *a, ChimneyAdminCmd *cmd)
{
    ChimneyCqe cqe;
    UCHAR status = chimney_guest_admin(&a->dev, cmd, &cqe, MP_ADMIN_US);

    if (status != CHIMNEY_ST_SUCCESS) {
        DbgPrint("chimney-nic: admin command 0x%x: status 0x%x\n",
                 cmd->opcode, status);
    }
    return status;
}

/* BAR0: the memory range of the register file's size */
static NDIS_STATUS mp_map_regs(MpAdapter *a,
                               PNDIS_RESOURCE_LIST resources)
{
    for (ULONG i = 0; resources && i < resources->Count; i++) {
        PCM_PARTIAL_RESOURCE_DESCRIPTOR d = &resources->PartialDescriptors[i];
        PVOID va;

        if (d->Type != CmResourceTypeMemory ||
            d->u.Memory.Length != CHIMNEY_MMIO_SIZE) {
            continue;
        }
        if (NdisMMapIoSpace(&va, a->miniport, d->u.Memory.Start,
                            d->u.Memory.Length) != NDIS_STATUS_SUCCESS) {
            return NDIS_STATUS_RESOURCES;
        }
        a->regs = va;
        a->regs_len = d->u.Memory.Length;
        return NDIS_STATUS_SUCCESS;
    }
    DbgPrint("chimney-nic: no register BAR among the resources\n");
    return NDIS_STATUS_FAILURE;
}

NDIS_STATUS mp_adapter_start(MpAdapter *a,
                             PNDIS_RESOURCE_LIST resources)
{
    ChimneyAdminCmd cmd = { 0 };
    NDIS_STATUS status;
    int enabled;
    PVOID shm;

    status = mp_map_regs(a, resources);
    if (status != NDIS_STATUS_SUCCESS) {
        return status;
    }
    shm = mp_shared_alloc(a, MP_SHM_SIZE, &a->shm_pa);
    if (!shm) {
        return NDIS_STATUS_RESOURCES;
    }
    a->shm = shm;
    memset(a->shm, 0, MP_SHM_SIZE);
    shm = mp_shared_alloc(a, MP_DATA_SIZE, &a->data_pa);
    if (!shm) {
        return NDIS_STATUS_RESOURCES;
    }
    a->data = shm;
    a->dev = (ChimneyGuestDev) {
        .opaque = a, .readl = mp_dev_readl, .writel = mp_dev_writel,
        .delay_us = mp_dev_delay,
        .mem = { .opaque = a, .read = mp_shm_read,
                 .write = mp_shm_write },
        .acq = &a->acq,
    };
    enabled = chimney_guest_enable(&a->dev,
                                   a->shm_pa.QuadPart + MP_SHM_ASQ,
                                   a->shm_pa.QuadPart + MP_SHM_ACQ,
                                   MP_ADMIN_ENTRIES, MP_READY_US);
    if (enabled != CHIMNEY_GUEST_OK) {
        DbgPrint("chimney-nic: device not enabled (%d, fatal code %u)\n",
                 enabled, mp_readl(a, CHIMNEY_REG_FATAL_CODE));
        return enabled == CHIMNEY_GUEST_NOT_CHIMNEY ||
               enabled == CHIMNEY_GUEST_BAD_VERSION ?
               NDIS_STATUS_NOT_SUPPORTED : NDIS_STATUS_FAILURE;
    }

    cmd.opcode = CHIMNEY_CMD_IDENTIFY;
    cmd.addr = a->shm_pa.QuadPart + MP_SHM_IDENTIFY;
    cmd.len = CHIMNEY_IDENTIFY_SIZE;
    if (mp_admin(a, &cmd) != CHIMNEY_ST_SUCCESS) {
        return NDIS_STATUS_FAILURE;
    }
    a->dev.mem.read(a, cmd.addr, &a->id, sizeof(a->id));
    a->link_up = !!(mp_readl(a, CHIMNEY_REG_STATUS) &
                    CHIMNEY_STATUS_LINK_UP);

    /* Windows' defaults until OID_TCP_CONNECTION_OFFLOAD_PARAMETERS */
    cmd = (ChimneyAdminCmd) { .opcode = CHIMNEY_CMD_SET_PARAMS };
    cmd.param[CHIMNEY_PARAM_TICKS_PER_SECOND] = 100;
    a->ticks_per_second = 100;
    cmd.param[CHIMNEY_PARAM_ACK_FREQUENCY] = 2;
    cmd.param[CHIMNEY_PARAM_DELAYED_ACK_TICKS] = 20;
    cmd.param[CHIMNEY_PARAM_MAX_RETRANSMIT] = 5;
    cmd.param[CHIMNEY_PARAM_DOUBT_REACH] = 3;
    cmd.param[CHIMNEY_PARAM_DUP_ACK_THRESH] = 3;
    cmd.param[CHIMNEY_PARAM_PUSH_TICKS] = 50;
    if (mp_admin(a, &cmd) != CHIMNEY_ST_SUCCESS) {
        return NDIS_STATUS_FAILURE;
    }
    return NDIS_STATUS_SUCCESS;
}

/* Disable the device first, so it writes no more into what is freed. */
VOID mp_adapter_stop(MpAdapter *a)
{
    if (a->regs) {
        mp_writel(a, CHIMNEY_REG_CTRL, 0);
    }
    if (a->data) {
        NdisMFreeSharedMemory(a->miniport, MP_DATA_SIZE, TRUE, a->data,
                              a->data_pa);
        a->data = NULL;
    }
    if (a->shm) {
        NdisMFreeSharedMemory(a->miniport, MP_SHM_SIZE, TRUE, a->shm,
                              a->shm_pa);
        a->shm = NULL;
    }
    if (a->regs) {
        NdisMUnmapIoSpace(a->miniport, a->regs, a->regs_len);
        a->regs = NULL;
    }
}
