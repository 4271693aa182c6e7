/*
 * chimney-nic: the driver's side of the guest ABI, free of any OS
 *
 * What every driver of the device does the same way: consume completion
 * queues by their phase tag, produce into submission rings, encode admin
 * commands and queue entries in little-endian, hand out connection ids
 * with generations, keep the order of send and receive requests and
 * batch send completions.  The qtest libqos driver and the Windows
 * miniport both compile this file, so the qtests exercise the miniport's
 * own logic against the device; chimney-guest-ndis.h translates NDIS's
 * structures for it.  It needs nothing but <stdint.h>, <stdbool.h>,
 * <stddef.h>, <string.h>'s memcpy and chimney-abi.h; guest memory is
 * reached through ChimneyGuestMem, so it works on a mapped pointer as
 * well as through qtest.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef GUEST_COMMON_CHIMNEY_GUEST_H
#define GUEST_COMMON_CHIMNEY_GUEST_H

#include <stdbool.h>
#include "hw/net/chimney/chimney-abi.h"

/* Access to guest memory: DMA addresses as the device sees them. */
typedef struct ChimneyGuestMem {
    void *opaque;
    void (*read)(void *opaque, uint64_t addr, void *buf, size_t len);
    void (*write)(void *opaque, uint64_t addr, const void *buf, size_t len);
} ChimneyGuestMem;

/* A ring the driver produces into: admin SQ, L2 queues, SQs, RQs. */
typedef struct ChimneyGuestRing {
    uint64_t base;
    uint32_t size;          /* entries, a power of two */
    uint32_t esize;         /* bytes per entry */
    uint32_t tail;          /* next entry the driver fills */
    uint32_t head;          /* first entry the device may still read */
} ChimneyGuestRing;

void chimney_guest_ring_init(ChimneyGuestRing *r, uint64_t base,
                             uint32_t size, uint32_t esize);
uint32_t chimney_guest_ring_space(const ChimneyGuestRing *r);
uint32_t chimney_guest_ring_put(ChimneyGuestRing *r,
                                const ChimneyGuestMem *m, const void *entry);
bool chimney_guest_ring_consumed(ChimneyGuestRing *r, uint32_t head);

/* A completion queue the driver consumes. */
typedef struct ChimneyGuestCq {
    uint64_t base;
    uint32_t size;          /* entries, a power of two */
    uint32_t head;          /* next entry to read */
    uint32_t phase;         /* phase bit of valid entries on this lap */
} ChimneyGuestCq;

void chimney_guest_cq_init(ChimneyGuestCq *cq, uint64_t base, uint32_t size);
bool chimney_guest_cq_next(ChimneyGuestCq *cq, const ChimneyGuestMem *m,
                           ChimneyCqe *cqe);

/*
 * The device as a driver's OS reaches it: its registers, a busy-wait, and
 * guest memory.  The admin SQ lives here; the admin CQ is the caller's
 * (it may read other entries of it too, such as link events).
 */
typedef struct ChimneyGuestDev {
    void *opaque;
    uint32_t (*readl)(void *opaque, uint32_t reg);
    void (*writel)(void *opaque, uint32_t reg, uint32_t val);
    void (*delay_us)(void *opaque, uint32_t us);
    ChimneyGuestMem mem;
    ChimneyGuestRing asq;
    ChimneyGuestCq *acq;
    uint64_t next_cookie;
} ChimneyGuestDev;

/* What chimney_guest_enable found */
enum {
    CHIMNEY_GUEST_OK = 0,
    CHIMNEY_GUEST_NOT_CHIMNEY,      /* no CHIMNEY_ID_MAGIC */
    CHIMNEY_GUEST_BAD_VERSION,      /* another major interface version */
    CHIMNEY_GUEST_FATAL,            /* the device latched a fatal error */
    CHIMNEY_GUEST_TIMEOUT,          /* READY did not come */
};

/* An admin command that got no completion in time */
#define CHIMNEY_GUEST_ST_TIMEOUT    0xff

int chimney_guest_enable(ChimneyGuestDev *d, uint64_t asq_base,
                         uint64_t acq_base, uint32_t entries,
                         uint32_t timeout_us);
bool chimney_guest_admin_submit(ChimneyGuestDev *d,
                                const ChimneyAdminCmd *cmd);
bool chimney_guest_admin_wait(ChimneyGuestDev *d, ChimneyCqe *cqe,
                              uint32_t timeout_us);
uint8_t chimney_guest_admin(ChimneyGuestDev *d, ChimneyAdminCmd *cmd,
                            ChimneyCqe *cqe, uint32_t timeout_us);

/*
 * Admin commands in flight once the interrupt drives the admin CQ: each
 * completion is matched to its caller's context by cookie.  The caller
 * provides the arrays, @cap entries each.
 */
typedef struct ChimneyGuestInflight {
    uint64_t *cookie;
    void **ctx;
    uint32_t cap;
} ChimneyGuestInflight;

void chimney_guest_inflight_init(ChimneyGuestInflight *f, uint64_t *cookie,
                                 void **ctx, uint32_t cap);
bool chimney_guest_inflight_add(ChimneyGuestInflight *f, uint64_t cookie,
                                void *ctx);
void *chimney_guest_inflight_take(ChimneyGuestInflight *f, uint64_t cookie);

/* Entries, in host order in, little-endian out. */
void chimney_guest_admin_cmd(ChimneyAdminCmd *out, const ChimneyAdminCmd *cmd);
void chimney_guest_sq_desc(ChimneySqDesc *out, uint8_t type, uint8_t flags,
                           uint16_t nsge, uint32_t len, uint64_t cookie,
                           uint64_t sgl);
void chimney_guest_sge(ChimneySge *out, uint64_t addr, uint32_t len);
void chimney_guest_l2_tx_desc(ChimneyL2TxDesc *out, uint64_t addr,
                              uint32_t len, bool eop, uint64_t cookie);
void chimney_guest_l2_rx_desc(ChimneyL2RxDesc *out, uint64_t addr,
                              uint32_t len, uint64_t cookie);

/*
 * Connection ids: an index and a generation that changes on every reuse,
 * so the device refuses a stale id.  The caller provides @gen, one byte
 * per index, and @next, one word per index (the free list).
 */
typedef struct ChimneyGuestConnTable {
    uint32_t size;
    uint8_t *gen;
    uint32_t *next;
    uint32_t free_head;     /* size: none free */
    uint32_t used;
} ChimneyGuestConnTable;

void chimney_guest_conns_init(ChimneyGuestConnTable *t, uint32_t size,
                              uint8_t *gen, uint32_t *next);
bool chimney_guest_conn_alloc(ChimneyGuestConnTable *t, uint32_t *id);
bool chimney_guest_conn_free(ChimneyGuestConnTable *t, uint32_t id);

/*
 * A connection's send queue.  Its requests complete in posting order, so
 * the outstanding ones are the ring's [head, tail): a completion must be
 * for the slot at the head, with that slot's cookie, and its sq_head
 * must be the next slot.  The caller keeps its own context per slot (the
 * NBL, for the miniport) and provides @cookie, one per ring entry.
 */
typedef struct ChimneyGuestSq {
    ChimneyGuestRing ring;
    uint64_t *cookie;
} ChimneyGuestSq;

void chimney_guest_sq_init(ChimneyGuestSq *q, uint64_t base, uint32_t size,
                           uint64_t *cookie);
int chimney_guest_sq_post(ChimneyGuestSq *q, const ChimneyGuestMem *m,
                          uint8_t type, uint8_t flags, uint16_t nsge,
                          uint32_t len, uint64_t cookie, uint64_t sgl);
int chimney_guest_sq_complete(ChimneyGuestSq *q, const ChimneyCqe *cqe);

/*
 * Receive requests complete in posting order too, but their RQ slots are
 * free once fetched, so the order is kept by cookie: a FIFO of @cap.
 */
typedef struct ChimneyGuestRecvFifo {
    uint64_t *cookie;
    uint32_t cap, head, count;
} ChimneyGuestRecvFifo;

void chimney_guest_recv_init(ChimneyGuestRecvFifo *f, uint64_t *cookie,
                             uint32_t cap);
bool chimney_guest_recv_posted(ChimneyGuestRecvFifo *f, uint64_t cookie);
bool chimney_guest_recv_complete(ChimneyGuestRecvFifo *f,
                                 const ChimneyCqe *cqe);

/*
 * Send completions of one connection in a row go to NDIS as one chain
 * (NdisTcpOffloadSendComplete takes a list).  Feed each SEND completion
 * to chimney_guest_batch_add: when it returns true the batch so far must
 * be handed over first, then the completion starts a new one.
 */
typedef struct ChimneyGuestBatch {
    uint32_t obj;           /* the connection, when count > 0 */
    uint32_t count;
    uint32_t max;           /* at most this many per call; 0: no limit */
} ChimneyGuestBatch;

bool chimney_guest_batch_add(ChimneyGuestBatch *b, const ChimneyCqe *cqe);
void chimney_guest_batch_reset(ChimneyGuestBatch *b);

#endif /* GUEST_COMMON_CHIMNEY_GUEST_H */
