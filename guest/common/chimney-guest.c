/*
 * chimney-nic: the driver's side of the guest ABI, free of any OS
 *
 * See chimney-guest.h.  Multi-byte fields are little-endian on the wire;
 * chimney-guest-le.h assembles them byte by byte, so this file is correct
 * whatever the byte order of the CPU that runs the driver.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>
#include "chimney-guest.h"
#include "chimney-guest-le.h"


void chimney_guest_ring_init(ChimneyGuestRing *r, uint64_t base,
                             uint32_t size, uint32_t esize)
{
    r->base = base;
    r->size = size;
    r->esize = esize;
    r->tail = 0;
    r->head = 0;
}

/* One slot stays empty, so a full ring and an empty one differ. */
uint32_t chimney_guest_ring_space(const ChimneyGuestRing *r)
{
    return (r->head - r->tail - 1) & (r->size - 1);
}

/* Write @entry at the tail; returns its index.  Check the space first. */
uint32_t chimney_guest_ring_put(ChimneyGuestRing *r,
                                const ChimneyGuestMem *m, const void *entry)
{
    uint32_t index = r->tail;

    m->write(m->opaque, r->base + (uint64_t)index * r->esize, entry,
             r->esize);
    r->tail = (index + 1) & (r->size - 1);
    return index;
}

/*
 * A completion says the device is done with the entries before @head.
 * Returns false when @head is not between the old head and the tail: a
 * device that says so is broken, and the driver must not trust it.
 */
bool chimney_guest_ring_consumed(ChimneyGuestRing *r, uint32_t head)
{
    uint32_t ahead = (head - r->head) & (r->size - 1);
    uint32_t posted = (r->tail - r->head) & (r->size - 1);

    if (head >= r->size || ahead > posted) {
        return false;
    }
    r->head = head;
    return true;
}

void chimney_guest_cq_init(ChimneyGuestCq *cq, uint64_t base, uint32_t size)
{
    cq->base = base;
    cq->size = size;
    cq->head = 0;
    cq->phase = 1;
}

/*
 * Take the next entry if the device has written it: its phase word is
 * written last, so once the phase matches the whole entry is there.
 */
bool chimney_guest_cq_next(ChimneyGuestCq *cq, const ChimneyGuestMem *m,
                           ChimneyCqe *cqe)
{
    uint64_t addr = cq->base + (uint64_t)cq->head * CHIMNEY_CQE_SIZE;
    uint8_t raw[CHIMNEY_CQE_SIZE];
    uint32_t last;

    m->read(m->opaque, addr + offsetof(ChimneyCqe, type_status), raw, 4);
    last = le32_in(raw);
    if (!!(last & CHIMNEY_CQE_PHASE) != cq->phase) {
        return false;
    }
    m->read(m->opaque, addr, raw, sizeof(raw));
    cqe->obj = le32_in(raw + offsetof(ChimneyCqe, obj));
    cqe->sq_head = le32_in(raw + offsetof(ChimneyCqe, sq_head));
    cqe->cookie = le64_in(raw + offsetof(ChimneyCqe, cookie));
    cqe->bytes = le32_in(raw + offsetof(ChimneyCqe, bytes));
    cqe->aux = le32_in(raw + offsetof(ChimneyCqe, aux));
    cqe->queue = le16_in(raw + offsetof(ChimneyCqe, queue));
    cqe->info = le16_in(raw + offsetof(ChimneyCqe, info));
    cqe->type_status = le32_in(raw + offsetof(ChimneyCqe, type_status));
    cq->head = (cq->head + 1) & (cq->size - 1);
    if (cq->head == 0) {
        cq->phase ^= 1;
    }
    return true;
}

#define POLL_US 10

/*
 * Check that this is our device, give it the admin queue and enable it:
 * the steps every driver takes before its first command.
 */
int chimney_guest_enable(ChimneyGuestDev *d, uint64_t asq_base,
                         uint64_t acq_base, uint32_t entries,
                         uint32_t timeout_us)
{
    uint32_t status;

    if (d->readl(d->opaque, CHIMNEY_REG_ID) != CHIMNEY_ID_MAGIC) {
        return CHIMNEY_GUEST_NOT_CHIMNEY;
    }
    if (d->readl(d->opaque, CHIMNEY_REG_VERSION) >> 16 !=
        CHIMNEY_VERSION_MAJOR) {
        return CHIMNEY_GUEST_BAD_VERSION;
    }
    chimney_guest_ring_init(&d->asq, asq_base, entries,
                            CHIMNEY_ADMIN_CMD_SIZE);
    chimney_guest_cq_init(d->acq, acq_base, entries);
    d->writel(d->opaque, CHIMNEY_REG_ASQ_BASE_LO, (uint32_t)asq_base);
    d->writel(d->opaque, CHIMNEY_REG_ASQ_BASE_HI, asq_base >> 32);
    d->writel(d->opaque, CHIMNEY_REG_ASQ_SIZE, entries);
    d->writel(d->opaque, CHIMNEY_REG_ACQ_BASE_LO, (uint32_t)acq_base);
    d->writel(d->opaque, CHIMNEY_REG_ACQ_BASE_HI, acq_base >> 32);
    d->writel(d->opaque, CHIMNEY_REG_ACQ_SIZE, entries);
    d->writel(d->opaque, CHIMNEY_REG_CTRL, CHIMNEY_CTRL_ENABLE);
    for (uint32_t us = 0;; us += POLL_US) {
        status = d->readl(d->opaque, CHIMNEY_REG_STATUS);
        if (status & CHIMNEY_STATUS_FATAL) {
            return CHIMNEY_GUEST_FATAL;
        }
        if (status & CHIMNEY_STATUS_READY) {
            return CHIMNEY_GUEST_OK;
        }
        if (us >= timeout_us) {
            return CHIMNEY_GUEST_TIMEOUT;
        }
        d->delay_us(d->opaque, POLL_US);
    }
}

/* Queue @cmd and ring the doorbell; false when the SQ is full. */
bool chimney_guest_admin_submit(ChimneyGuestDev *d,
                                const ChimneyAdminCmd *cmd)
{
    ChimneyAdminCmd le;

    if (!chimney_guest_ring_space(&d->asq)) {
        return false;
    }
    chimney_guest_admin_cmd(&le, cmd);
    chimney_guest_ring_put(&d->asq, &d->mem, &le);
    d->writel(d->opaque, CHIMNEY_DB_ASQ_TAIL, d->asq.tail);
    return true;
}

/*
 * Wait for the next admin CQ entry and hand its slot back to the device.
 * An admin completion also frees the SQ entries before its sq_head.
 */
bool chimney_guest_admin_wait(ChimneyGuestDev *d, ChimneyCqe *cqe,
                              uint32_t timeout_us)
{
    for (uint32_t us = 0;; us += POLL_US) {
        if (chimney_guest_cq_next(d->acq, &d->mem, cqe)) {
            d->writel(d->opaque, CHIMNEY_DB_CQ_HEAD(CHIMNEY_ADMIN_CQ_ID),
                      d->acq->head);
            if (CHIMNEY_CQE_TYPE(cqe->type_status) == CHIMNEY_CQE_ADMIN &&
                cqe->queue == CHIMNEY_QUEUE_ADMIN) {
                chimney_guest_ring_consumed(&d->asq, cqe->sq_head);
            }
            return true;
        }
        if (us >= timeout_us) {
            return false;
        }
        d->delay_us(d->opaque, POLL_US);
    }
}

/*
 * One command with the next cookie, polled to its completion on the admin
 * CQ: the status, or CHIMNEY_GUEST_ST_TIMEOUT.  Other entries of the
 * admin CQ on the way (link events) are skipped.
 */
uint8_t chimney_guest_admin(ChimneyGuestDev *d, ChimneyAdminCmd *cmd,
                            ChimneyCqe *cqe, uint32_t timeout_us)
{
    cmd->cookie = ++d->next_cookie;
    if (!chimney_guest_admin_submit(d, cmd)) {
        return CHIMNEY_GUEST_ST_TIMEOUT;
    }
    while (chimney_guest_admin_wait(d, cqe, timeout_us)) {
        if (CHIMNEY_CQE_TYPE(cqe->type_status) == CHIMNEY_CQE_ADMIN &&
            cqe->cookie == cmd->cookie) {
            return CHIMNEY_CQE_STATUS(cqe->type_status);
        }
    }
    return CHIMNEY_GUEST_ST_TIMEOUT;
}

/* Cookie 0 marks a free entry: admin cookies start at 1. */
void chimney_guest_inflight_init(ChimneyGuestInflight *f, uint64_t *cookie,
                                 void **ctx, uint32_t cap)
{
    f->cookie = cookie;
    f->ctx = ctx;
    f->cap = cap;
    memset(cookie, 0, cap * sizeof(*cookie));
}

bool chimney_guest_inflight_add(ChimneyGuestInflight *f, uint64_t cookie,
                                void *ctx)
{
    for (uint32_t i = 0; cookie && i < f->cap; i++) {
        if (!f->cookie[i]) {
            f->cookie[i] = cookie;
            f->ctx[i] = ctx;
            return true;
        }
    }
    return false;
}

/* The context of the command @cookie completes; NULL when none waits. */
void *chimney_guest_inflight_take(ChimneyGuestInflight *f, uint64_t cookie)
{
    for (uint32_t i = 0; cookie && i < f->cap; i++) {
        if (f->cookie[i] == cookie) {
            f->cookie[i] = 0;
            return f->ctx[i];
        }
    }
    return NULL;
}

void chimney_guest_admin_cmd(ChimneyAdminCmd *out, const ChimneyAdminCmd *cmd)
{
    uint8_t *b = (uint8_t *)out;

    memset(out, 0, sizeof(*out));
    b[offsetof(ChimneyAdminCmd, opcode)] = cmd->opcode;
    b[offsetof(ChimneyAdminCmd, flags)] = cmd->flags;
    le32_out(b + offsetof(ChimneyAdminCmd, id), cmd->id);
    le64_out(b + offsetof(ChimneyAdminCmd, cookie), cmd->cookie);
    le64_out(b + offsetof(ChimneyAdminCmd, addr), cmd->addr);
    le32_out(b + offsetof(ChimneyAdminCmd, len), cmd->len);
    for (size_t i = 0; i < sizeof(cmd->param) / sizeof(cmd->param[0]); i++) {
        le32_out(b + offsetof(ChimneyAdminCmd, param) + 4 * i, cmd->param[i]);
    }
}

void chimney_guest_sq_desc(ChimneySqDesc *out, uint8_t type, uint8_t flags,
                           uint16_t nsge, uint32_t len, uint64_t cookie,
                           uint64_t sgl)
{
    uint8_t *b = (uint8_t *)out;

    memset(out, 0, sizeof(*out));
    b[offsetof(ChimneySqDesc, type)] = type;
    b[offsetof(ChimneySqDesc, flags)] = flags;
    le16_out(b + offsetof(ChimneySqDesc, nsge), nsge);
    le32_out(b + offsetof(ChimneySqDesc, len), len);
    le64_out(b + offsetof(ChimneySqDesc, cookie), cookie);
    le64_out(b + offsetof(ChimneySqDesc, sgl), sgl);
}

void chimney_guest_sge(ChimneySge *out, uint64_t addr, uint32_t len)
{
    uint8_t *b = (uint8_t *)out;

    memset(out, 0, sizeof(*out));
    le64_out(b + offsetof(ChimneySge, addr), addr);
    le32_out(b + offsetof(ChimneySge, len), len);
}

void chimney_guest_l2_tx_desc(ChimneyL2TxDesc *out, uint64_t addr,
                              uint32_t len, bool eop, uint64_t cookie)
{
    uint8_t *b = (uint8_t *)out;

    memset(out, 0, sizeof(*out));
    le64_out(b + offsetof(ChimneyL2TxDesc, addr), addr);
    le32_out(b + offsetof(ChimneyL2TxDesc, len), len);
    le16_out(b + offsetof(ChimneyL2TxDesc, flags), eop ? CHIMNEY_L2TX_EOP : 0);
    le64_out(b + offsetof(ChimneyL2TxDesc, cookie), cookie);
}

void chimney_guest_l2_rx_desc(ChimneyL2RxDesc *out, uint64_t addr,
                              uint32_t len, uint64_t cookie)
{
    uint8_t *b = (uint8_t *)out;

    memset(out, 0, sizeof(*out));
    le64_out(b + offsetof(ChimneyL2RxDesc, addr), addr);
    le32_out(b + offsetof(ChimneyL2RxDesc, len), len);
    le64_out(b + offsetof(ChimneyL2RxDesc, cookie), cookie);
}

void chimney_guest_conns_init(ChimneyGuestConnTable *t, uint32_t size,
                              uint8_t *gen, uint32_t *next)
{
    t->size = size;
    t->gen = gen;
    t->next = next;
    t->used = 0;
    for (uint32_t i = 0; i < size; i++) {
        gen[i] = 0;
        next[i] = i + 1;
    }
    t->free_head = 0;
}

/* The lowest free index comes back first; its generation moves on. */
bool chimney_guest_conn_alloc(ChimneyGuestConnTable *t, uint32_t *id)
{
    uint32_t index = t->free_head;

    if (index >= t->size) {
        return false;
    }
    t->free_head = t->next[index];
    t->next[index] = UINT32_MAX;            /* in use */
    t->gen[index] = (uint8_t)(t->gen[index] + 1);
    t->used++;
    *id = CHIMNEY_CONN_ID(index, t->gen[index]);
    return true;
}

bool chimney_guest_conn_free(ChimneyGuestConnTable *t, uint32_t id)
{
    uint32_t index = CHIMNEY_CONN_INDEX(id);

    if (index >= t->size || t->next[index] != UINT32_MAX ||
        t->gen[index] != CHIMNEY_CONN_GEN(id)) {
        return false;
    }
    t->next[index] = t->free_head;
    t->free_head = index;
    t->used--;
    return true;
}

void chimney_guest_sq_init(ChimneyGuestSq *q, uint64_t base, uint32_t size,
                           uint64_t *cookie)
{
    chimney_guest_ring_init(&q->ring, base, size, sizeof(ChimneySqDesc));
    q->cookie = cookie;
}

/* Write a request at the tail; returns its slot, -1 when the SQ is full. */
int chimney_guest_sq_post(ChimneyGuestSq *q, const ChimneyGuestMem *m,
                          uint8_t type, uint8_t flags, uint16_t nsge,
                          uint32_t len, uint64_t cookie, uint64_t sgl)
{
    ChimneySqDesc d;
    uint32_t slot;

    if (!chimney_guest_ring_space(&q->ring)) {
        return -1;
    }
    chimney_guest_sq_desc(&d, type, flags, nsge, len, cookie, sgl);
    slot = chimney_guest_ring_put(&q->ring, m, &d);
    q->cookie[slot] = cookie;
    return slot;
}

/*
 * A SEND or DISCONNECT completion (or a command's, which frees no slot):
 * the slot it finishes, or -1 when it is not the oldest outstanding
 * request, which only a broken device does.
 */
int chimney_guest_sq_complete(ChimneyGuestSq *q, const ChimneyCqe *cqe)
{
    uint32_t slot = q->ring.head;

    if (cqe->queue != CHIMNEY_QUEUE_CONN_SQ || slot == q->ring.tail ||
        cqe->cookie != q->cookie[slot] ||
        cqe->sq_head != ((slot + 1) & (q->ring.size - 1))) {
        return -1;
    }
    q->ring.head = cqe->sq_head;
    return slot;
}

void chimney_guest_recv_init(ChimneyGuestRecvFifo *f, uint64_t *cookie,
                             uint32_t cap)
{
    f->cookie = cookie;
    f->cap = cap;
    f->head = 0;
    f->count = 0;
}

bool chimney_guest_recv_posted(ChimneyGuestRecvFifo *f, uint64_t cookie)
{
    if (f->count == f->cap) {
        return false;
    }
    f->cookie[(f->head + f->count) % f->cap] = cookie;
    f->count++;
    return true;
}

/* A RECV completion must be for the oldest receive still posted. */
bool chimney_guest_recv_complete(ChimneyGuestRecvFifo *f,
                                 const ChimneyCqe *cqe)
{
    if (cqe->queue != CHIMNEY_QUEUE_CONN_RQ || !f->count ||
        f->cookie[f->head] != cqe->cookie) {
        return false;
    }
    f->head = (f->head + 1) % f->cap;
    f->count--;
    return true;
}

void chimney_guest_batch_reset(ChimneyGuestBatch *b)
{
    b->count = 0;
}

bool chimney_guest_batch_add(ChimneyGuestBatch *b, const ChimneyCqe *cqe)
{
    bool flush = b->count &&
                 (cqe->obj != b->obj || (b->max && b->count == b->max));

    if (flush) {
        b->count = 0;
    }
    b->obj = cqe->obj;
    b->count++;
    return flush;
}
