/*
 * chimney-nic: guest rings, checked DMA and completion queues
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_QUEUE_H
#define HW_NET_CHIMNEY_QUEUE_H

#include "qemu/timer.h"
#include "system/dma.h"
#include "migration/vmstate.h"
#include "hw/net/chimney/chimney-abi.h"

typedef struct ChimneyState ChimneyState;

/* A ring the driver produces into: admin SQ, L2 TX and RX queues. */
typedef struct ChimneyRing {
    uint64_t base;
    uint32_t size;          /* entries, power of two; 0 = not created */
    uint32_t head;          /* next entry the device consumes */
    uint32_t tail;          /* producer index from the doorbell */
    uint32_t cq;            /* CQ that receives its completions */
} ChimneyRing;

/* A completion queue the device produces into. */
typedef struct ChimneyCQ {
    uint64_t base;
    uint32_t size;          /* entries, power of two; 0 = not created */
    uint32_t tail;          /* next entry the device writes */
    uint32_t head;          /* consumer index from the doorbell */
    uint32_t phase;         /* phase bit of the current lap, 1 first */
    uint32_t vector;
    uint32_t mod_count;     /* entries per interrupt (0 and 1: each) */
    uint32_t mod_usec;      /* longest an entry waits for its interrupt */
    uint32_t unsignalled;   /* entries written since the last interrupt */
    bool holdoff;           /* CHIMNEY_CQF_HOLDOFF */
    bool lazy;              /* CHIMNEY_CQF_LAZY */
    bool irq_due;           /* the moderation timer expired */
    /* holdoff: an entry that is not lazy waits for the driver */
    bool urgent_held;
    QEMUTimer *mod_timer;
    ChimneyState *owner;
} ChimneyCQ;

extern const VMStateDescription vmstate_chimney_ring;

bool chimney_ring_geometry_valid(uint64_t base, uint32_t entries,
                                 uint32_t entry_size);

static inline bool chimney_ring_empty(const ChimneyRing *r)
{
    return r->head == r->tail;
}

static inline uint32_t chimney_ring_next(const ChimneyRing *r, uint32_t i)
{
    return (i + 1) & (r->size - 1);
}

static inline uint32_t chimney_ring_used(const ChimneyRing *r)
{
    return (r->tail - r->head) & (r->size - 1);
}

static inline dma_addr_t chimney_ring_entry(const ChimneyRing *r,
                                            uint32_t index, uint32_t esize)
{
    return r->base + (dma_addr_t)index * esize;
}

bool chimney_dma_read(ChimneyState *s, dma_addr_t addr, void *buf,
                      dma_addr_t len);
bool chimney_dma_write(ChimneyState *s, dma_addr_t addr, const void *buf,
                       dma_addr_t len);

bool chimney_cq_full(const ChimneyCQ *cq);
#define CHIMNEY_POST_NO_IRQ     (1u << 0)   /* fault injection signals */
/* A send of a connection with requests to spare: CHIMNEY_CQF_LAZY */
#define CHIMNEY_POST_LAZY       (1u << 1)
bool chimney_cq_post(ChimneyState *s, uint32_t cqid, const ChimneyCqe *cqe);
bool chimney_cq_post_flags(ChimneyState *s, uint32_t cqid,
                           const ChimneyCqe *cqe, unsigned flags);
void chimney_cq_raise(ChimneyState *s, uint32_t cqid);
bool chimney_cq_set_head(ChimneyState *s, uint32_t cqid, uint32_t head);
void chimney_cq_init(ChimneyCQ *cq, uint64_t base, uint32_t size,
                     uint32_t vector, uint32_t mod_count, uint32_t mod_usec,
                     uint32_t flags);
void chimney_cq_clear(ChimneyCQ *cq);
void chimney_cq_fire_due(ChimneyState *s);
void chimney_cq_mark_pending(ChimneyState *s, uint32_t cqid);
void chimney_cq_batch_begin(ChimneyState *s);
void chimney_cq_batch_end(ChimneyState *s);
void chimney_cq_timer_cb(void *opaque);

#endif /* HW_NET_CHIMNEY_QUEUE_H */
