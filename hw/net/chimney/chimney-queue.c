/*
 * chimney-nic: guest rings, checked DMA and completion queues
 *
 * Every guest address goes through chimney_dma_read/write, which refuse
 * wrapping ranges and report failed transactions.  Completion entries are
 * written body first and the phase word last, then the interrupt is
 * raised according to the queue's moderation.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "migration/vmstate.h"
#include "hw/net/chimney/chimney.h"
#include "trace.h"

bool chimney_ring_geometry_valid(uint64_t base, uint32_t entries,
                                 uint32_t entry_size)
{
    uint64_t bytes = (uint64_t)entries * entry_size;

    return entries >= (1u << CHIMNEY_RING_LOG2_MIN) &&
           entries <= (1u << CHIMNEY_RING_LOG2_MAX) &&
           is_power_of_2(entries) &&
           QEMU_IS_ALIGNED(base, CHIMNEY_RING_ALIGN) &&
           base + bytes > base;
}

static bool chimney_dma(ChimneyState *s, dma_addr_t addr, void *buf,
                        dma_addr_t len, DMADirection dir)
{
    MemTxResult r;

    if (len == 0) {
        return true;
    }
    if (addr + len - 1 < addr) {
        CHIMNEY_GUEST_ERR(chimney_err_dma_wrap, "DMA range 0x%" PRIx64
                          "+0x%" PRIx64 " wraps", addr, len);
        return false;
    }
    r = pci_dma_rw(PCI_DEVICE(s), addr, buf, len, dir, MEMTXATTRS_UNSPECIFIED);
    if (r != MEMTX_OK) {
        CHIMNEY_GUEST_ERR(chimney_err_dma, "DMA %s 0x%" PRIx64 "+0x%" PRIx64
                          " failed (%d)",
                          dir == DMA_DIRECTION_TO_DEVICE ? "read" : "write",
                          addr, len, r);
        return false;
    }
    return true;
}

bool chimney_dma_read(ChimneyState *s, dma_addr_t addr, void *buf,
                      dma_addr_t len)
{
    return chimney_dma(s, addr, buf, len, DMA_DIRECTION_TO_DEVICE);
}

bool chimney_dma_write(ChimneyState *s, dma_addr_t addr, const void *buf,
                       dma_addr_t len)
{
    return chimney_dma(s, addr, (void *)buf, len, DMA_DIRECTION_FROM_DEVICE);
}

void chimney_cq_init(ChimneyCQ *cq, uint64_t base, uint32_t size,
                     uint32_t vector, uint32_t mod_count, uint32_t mod_usec,
                     uint32_t flags)
{
    chimney_cq_clear(cq);
    cq->base = base;
    cq->size = size;
    cq->phase = 1;
    cq->vector = vector;
    cq->mod_count = mod_count;
    cq->mod_usec = mod_usec;
    cq->holdoff = flags & CHIMNEY_CQF_HOLDOFF;
    cq->lazy = cq->holdoff && (flags & CHIMNEY_CQF_LAZY);
}

void chimney_cq_clear(ChimneyCQ *cq)
{
    timer_del(cq->mod_timer);
    cq->base = 0;
    cq->size = 0;
    cq->tail = 0;
    cq->head = 0;
    cq->phase = 0;
    cq->vector = 0;
    cq->mod_count = 0;
    cq->mod_usec = 0;
    cq->unsignalled = 0;
    cq->holdoff = false;
    cq->lazy = false;
    cq->irq_due = false;
    cq->urgent_held = false;
}

bool chimney_cq_full(const ChimneyCQ *cq)
{
    return ((cq->tail + 1) & (cq->size - 1)) == cq->head;
}

void chimney_cq_raise(ChimneyState *s, uint32_t cqid)
{
    ChimneyCQ *cq = &s->cq[cqid];

    timer_del(cq->mod_timer);
    cq->irq_due = false;
    cq->urgent_held = false;
    cq->unsignalled = 0;
    chimney_irq_notify(s, cqid, cq->vector);
}

/* An entry was written and its interrupt is lost on purpose */
void chimney_cq_mark_pending(ChimneyState *s, uint32_t cqid)
{
    chimney_irq_mark_pending(s, s->cq[cqid].vector);
}

/*
 * Between begin and end, interrupts that entries earn are only marked
 * due; the outermost end raises each due CQ's once.
 */
void chimney_cq_batch_begin(ChimneyState *s)
{
    s->irq_batch++;
}

void chimney_cq_batch_end(ChimneyState *s)
{
    assert(s->irq_batch);
    if (!--s->irq_batch) {
        chimney_cq_fire_due(s);
    }
}

/* CHIMNEY_CQF_HOLDOFF, or the irq-holdoff property for every CQ */
static bool chimney_cq_holds_off(const ChimneyState *s, const ChimneyCQ *cq)
{
    return cq->mod_count <= 1 && (cq->holdoff || s->irq_holdoff);
}

/* CHIMNEY_CQF_LAZY: entries that wait for company, at most half the CQ */
static uint32_t chimney_cq_lazy_max(const ChimneyCQ *cq)
{
    return MIN(CHIMNEY_CQ_LAZY_ENTRIES, cq->size / 2);
}

/*
 * Holdoff: the driver has not consumed every entry of the last
 * interrupt yet (the unsignalled ones came after it), so it is still at
 * work on this CQ and will see the new entries, or write CQ_HEAD first.
 */
static bool chimney_cq_driver_busy(const ChimneyCQ *cq)
{
    return ((cq->tail - cq->head) & (cq->size - 1)) > cq->unsignalled;
}

void chimney_cq_fire_due(ChimneyState *s)
{
    for (uint32_t i = 0; i < s->num_cqs; i++) {
        if (s->cq[i].irq_due && s->cq[i].size) {
            chimney_cq_raise(s, i);
        }
    }
}

void chimney_cq_timer_cb(void *opaque)
{
    ChimneyCQ *cq = opaque;

    /* Interrupt work runs in the guarded bottom half, not here. */
    cq->irq_due = true;
    chimney_schedule(cq->owner);
}

/*
 * Write @cqe to completion queue @cqid.  Returns false, writing nothing,
 * when the queue is full (the caller keeps the completion and retries once
 * the head moves) or when the write failed, which latches a fatal status.
 */
bool chimney_cq_post(ChimneyState *s, uint32_t cqid, const ChimneyCqe *cqe)
{
    return chimney_cq_post_flags(s, cqid, cqe, 0);
}

bool chimney_cq_post_flags(ChimneyState *s, uint32_t cqid,
                           const ChimneyCqe *cqe, unsigned flags)
{
    ChimneyCQ *cq = &s->cq[cqid];
    dma_addr_t addr = cq->base + (dma_addr_t)cq->tail * CHIMNEY_CQE_SIZE;
    uint32_t last = cqe->type_status & ~CHIMNEY_CQE_PHASE;
    ChimneyCqe e = {
        .obj = cpu_to_le32(cqe->obj),
        .sq_head = cpu_to_le32(cqe->sq_head),
        .cookie = cpu_to_le64(cqe->cookie),
        .bytes = cpu_to_le32(cqe->bytes),
        .aux = cpu_to_le32(cqe->aux),
        .queue = cpu_to_le16(cqe->queue),
        .info = cpu_to_le16(cqe->info),
    };

    if (!chimney_running(s) || !cq->size || chimney_cq_full(cq)) {
        return false;
    }
    if (cq->phase) {
        last |= CHIMNEY_CQE_PHASE;
    }
    /* Body first; the phase word, which makes the entry valid, last. */
    if (!chimney_dma_write(s, addr, &e, offsetof(ChimneyCqe, type_status))) {
        chimney_fatal(s, CHIMNEY_FATAL_CQ_DMA, cqid);
        return false;
    }
    /* The body must be visible before the phase word that validates it. */
    smp_wmb();
    if (stl_le_pci_dma(PCI_DEVICE(s), addr + offsetof(ChimneyCqe, type_status),
                       last, MEMTXATTRS_UNSPECIFIED) != MEMTX_OK) {
        CHIMNEY_GUEST_ERR(chimney_err_cq_write, "CQ %" PRIu32 " entry write"
                          " at 0x%" PRIx64 " failed", cqid, addr);
        chimney_fatal(s, CHIMNEY_FATAL_CQ_DMA, cqid);
        return false;
    }
    trace_chimney_cq_post(cqid, cq->tail, CHIMNEY_CQE_TYPE(last),
                          CHIMNEY_CQE_STATUS(last), cqe->cookie);
    cq->tail = (cq->tail + 1) & (cq->size - 1);
    if (cq->tail == 0) {
        cq->phase ^= 1;
    }
    if (flags & CHIMNEY_POST_NO_IRQ) {
        return true;
    }
    cq->unsignalled++;
    if (chimney_cq_holds_off(s, cq) && !cq->irq_due &&
        chimney_cq_driver_busy(cq)) {
        /* announced when the driver catches up (chimney_cq_set_head) */
        cq->urgent_held |= !(flags & CHIMNEY_POST_LAZY);
        return true;
    }
    if (cq->lazy && chimney_cq_holds_off(s, cq) && !cq->irq_due &&
        !cq->urgent_held && (flags & CHIMNEY_POST_LAZY) &&
        cq->unsignalled < chimney_cq_lazy_max(cq)) {
        /* under load: announced with company, or when the timer fires */
        if (!timer_pending(cq->mod_timer)) {
            timer_mod(cq->mod_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                      CHIMNEY_CQ_LAZY_USEC * SCALE_US);
        }
        return true;
    }
    if (cq->mod_count <= 1 || cq->unsignalled >= cq->mod_count) {
        if (s->irq_batch) {
            cq->irq_due = true;
        } else {
            chimney_cq_raise(s, cqid);
        }
    } else if (cq->mod_usec && !timer_pending(cq->mod_timer)) {
        timer_mod(cq->mod_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                  (int64_t)cq->mod_usec * SCALE_US);
    }
    return true;
}

/*
 * The driver reports that it consumed entries up to @head.  It may only
 * move the head forward over entries the device has written.
 */
bool chimney_cq_set_head(ChimneyState *s, uint32_t cqid, uint32_t head)
{
    ChimneyCQ *cq = &s->cq[cqid];
    uint32_t mask = cq->size - 1;

    if (!cq->size || head > mask ||
        ((head - cq->head) & mask) > ((cq->tail - cq->head) & mask)) {
        CHIMNEY_GUEST_ERR(chimney_err_cq_head, "CQ %" PRIu32 " head %" PRIu32
                          " outside written entries (head %" PRIu32 " tail %"
                          PRIu32 " size %" PRIu32 ")", cqid, head, cq->head,
                          cq->tail, cq->size);
        return false;
    }
    cq->head = head;
    /* holdoff: entries held back are announced once it caught up */
    if (chimney_cq_holds_off(s, cq) && cq->unsignalled && !cq->irq_due) {
        if (head == cq->tail) {
            cq->unsignalled = 0;        /* it found them by itself */
            cq->urgent_held = false;
            timer_del(cq->mod_timer);
        } else if (!chimney_cq_driver_busy(cq) &&
                   (cq->urgent_held || !timer_pending(cq->mod_timer) ||
                    cq->unsignalled >= chimney_cq_lazy_max(cq))) {
            /* lazy ones alone keep waiting for their timer */
            cq->irq_due = true;         /* the bottom half raises it */
        }
    }
    return true;
}

/* A ring's migrated state: the device's queues and each connection's */
const VMStateDescription vmstate_chimney_ring = {
    .name = "chimney-nic/ring",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(base, ChimneyRing),
        VMSTATE_UINT32(size, ChimneyRing),
        VMSTATE_UINT32(head, ChimneyRing),
        VMSTATE_UINT32(tail, ChimneyRing),
        VMSTATE_UINT32(cq, ChimneyRing),
        VMSTATE_END_OF_LIST()
    },
};
