/*
 * chimney-nic: the driver's side of the guest ABI, free of any OS
 *
 * See chimney-guest.h.  Multi-byte fields are little-endian on the wire;
 * the helpers below assemble them byte by byte, so this file is correct
 * whatever the byte order of the CPU that runs the driver.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>
#include "hw/net/chimney/chimney-guest.h"

static uint16_t le16_in(const void *p)
{
    const uint8_t *b = p;

    return b[0] | b[1] << 8;
}

static uint32_t le32_in(const void *p)
{
    const uint8_t *b = p;

    return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t le64_in(const void *p)
{
    return le32_in(p) | (uint64_t)le32_in((const uint8_t *)p + 4) << 32;
}

static void le16_out(void *p, uint16_t v)
{
    uint8_t *b = p;

    b[0] = v;
    b[1] = v >> 8;
}

static void le32_out(void *p, uint32_t v)
{
    uint8_t *b = p;

    b[0] = v;
    b[1] = v >> 8;
    b[2] = v >> 16;
    b[3] = v >> 24;
}

static void le64_out(void *p, uint64_t v)
{
    le32_out(p, v);
    le32_out((uint8_t *)p + 4, v >> 32);
}

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

static uint16_t be16_to_host(uint16_t v)
{
    const uint8_t *b = (const uint8_t *)&v;

    return b[0] << 8 | b[1];
}

/*
 * The OFFLOAD_TCP block (little-endian) of a connection NDIS hands over:
 * its const, cached and delegated state, and where its queues are.
 */
void chimney_guest_tcp_offload(ChimneyTcpOffload *out,
                               const ChimneyNdisTcpConst *c,
                               const ChimneyNdisTcpCached *k,
                               const ChimneyNdisTcpDelegated *d,
                               const ChimneyGuestTcpQueues *q)
{
    uint8_t *b = (uint8_t *)out;
    uint8_t *dl = b + offsetof(ChimneyTcpOffload, delegated);
    uint16_t cflags = 0, kflags = 0;

    memset(out, 0, sizeof(*out));
    le32_out(b + offsetof(ChimneyTcpOffload, path), q->path);
    le32_out(b + offsetof(ChimneyTcpOffload, cq), q->cq);
    le64_out(b + offsetof(ChimneyTcpOffload, sq_base), q->sq_base);
    le32_out(b + offsetof(ChimneyTcpOffload, sq_size), q->sq_size);
    le32_out(b + offsetof(ChimneyTcpOffload, handover), q->handover);
    le64_out(b + offsetof(ChimneyTcpOffload, db_record), q->db_record);
    le64_out(b + offsetof(ChimneyTcpOffload, rq_base), q->rq_base);
    le32_out(b + offsetof(ChimneyTcpOffload, rq_size), q->rq_size);
    le32_out(b + offsetof(ChimneyTcpOffload, buffered_len), q->buffered_len);
    le64_out(b + offsetof(ChimneyTcpOffload, buffered_addr),
             q->buffered_addr);

    /* const */
    if (c->flags & CHIMNEY_NDIS_TCP_TIMESTAMPS) {
        cflags |= CHIMNEY_TCPF_TIMESTAMPS;
    }
    if (c->flags & CHIMNEY_NDIS_TCP_SACK) {
        cflags |= CHIMNEY_TCPF_SACK;
    }
    if (c->flags & CHIMNEY_NDIS_TCP_WINDOW_SCALING) {
        cflags |= CHIMNEY_TCPF_WINDOW_SCALING;
    }
    le16_out(b + offsetof(ChimneyTcpOffload, const_flags), cflags);
    le16_out(b + offsetof(ChimneyTcpOffload, remote_port),
             be16_to_host(c->remote_port));
    le16_out(b + offsetof(ChimneyTcpOffload, local_port),
             be16_to_host(c->local_port));
    b[offsetof(ChimneyTcpOffload, snd_wscale)] = c->wnd_scales & 0xf;
    b[offsetof(ChimneyTcpOffload, rcv_wscale)] = c->wnd_scales >> 4;
    le16_out(b + offsetof(ChimneyTcpOffload, remote_mss), c->remote_mss);

    /* cached */
    if (k->flags & CHIMNEY_NDIS_TCP_KEEPALIVE) {
        kflags |= CHIMNEY_TCPC_KEEPALIVE;
    }
    if (k->flags & CHIMNEY_NDIS_TCP_NAGLING) {
        kflags |= CHIMNEY_TCPC_NAGLE;
    }
    le16_out(b + offsetof(ChimneyTcpOffload, cached_flags), kflags);
    b[offsetof(ChimneyTcpOffload, ttl)] = k->ttl_or_hop_limit;
    b[offsetof(ChimneyTcpOffload, tos)] = k->tos_or_traffic_class;
    le32_out(b + offsetof(ChimneyTcpOffload, initial_rcv_wnd),
             k->initial_rcv_wnd);
    le32_out(b + offsetof(ChimneyTcpOffload, rcv_indication_size),
             k->rcv_indication_size);
    le32_out(b + offsetof(ChimneyTcpOffload, ka_timeout), k->ka_timeout);
    le32_out(b + offsetof(ChimneyTcpOffload, ka_interval), k->ka_interval);
    le32_out(b + offsetof(ChimneyTcpOffload, max_rt), k->max_rt);
    b[offsetof(ChimneyTcpOffload, ka_probe_count)] = k->ka_probe_count;

    /* delegated */
    le32_out(dl + offsetof(ChimneyTcpDelegated, state), d->state);
    le32_out(dl + offsetof(ChimneyTcpDelegated, rcv_nxt), d->rcv_nxt);
    le32_out(dl + offsetof(ChimneyTcpDelegated, rcv_wnd), d->rcv_wnd);
    le32_out(dl + offsetof(ChimneyTcpDelegated, snd_una), d->snd_una);
    le32_out(dl + offsetof(ChimneyTcpDelegated, snd_nxt), d->snd_nxt);
    le32_out(dl + offsetof(ChimneyTcpDelegated, snd_max), d->snd_max);
    le32_out(dl + offsetof(ChimneyTcpDelegated, snd_wnd), d->snd_wnd);
    le32_out(dl + offsetof(ChimneyTcpDelegated, max_snd_wnd), d->max_snd_wnd);
    le32_out(dl + offsetof(ChimneyTcpDelegated, snd_wl1), d->send_wl1);
    le32_out(dl + offsetof(ChimneyTcpDelegated, cwnd), d->cwnd);
    le32_out(dl + offsetof(ChimneyTcpDelegated, ssthresh), d->ssthresh);
    le16_out(dl + offsetof(ChimneyTcpDelegated, srtt), d->srtt);
    le16_out(dl + offsetof(ChimneyTcpDelegated, rttvar), d->rttvar);
    le32_out(dl + offsetof(ChimneyTcpDelegated, ts_recent), d->ts_recent);
    le32_out(dl + offsetof(ChimneyTcpDelegated, ts_recent_age),
             d->ts_recent_age);
    le32_out(dl + offsetof(ChimneyTcpDelegated, ts_time), d->ts_time);
    le32_out(dl + offsetof(ChimneyTcpDelegated, total_rt), d->total_rt);
    dl[offsetof(ChimneyTcpDelegated, dup_ack_count)] = d->dup_ack_count;
    dl[offsetof(ChimneyTcpDelegated, snd_wnd_probe_count)] =
        d->snd_wnd_probe_count;
    dl[offsetof(ChimneyTcpDelegated, ka_probe_count)] = d->ka_probe_count;
    dl[offsetof(ChimneyTcpDelegated, rexmit_count)] = d->rexmit_count;
    le32_out(dl + offsetof(ChimneyTcpDelegated, ka_timeout_delta),
             d->ka_timeout_delta);
    le32_out(dl + offsetof(ChimneyTcpDelegated, rexmit_timeout_delta),
             d->rexmit_timeout_delta);
}

/*
 * QUERY_TCP and TERMINATE give the delegated state back: into NDIS's
 * structure, whose SendDataHead/Tail and BufferedData stay the caller's.
 */
void chimney_guest_tcp_delegated(ChimneyNdisTcpDelegated *out,
                                 const ChimneyTcpDelegated *in)
{
    const uint8_t *b = (const uint8_t *)in;

#define IN32(f) le32_in(b + offsetof(ChimneyTcpDelegated, f))
    out->state = IN32(state);
    out->rcv_nxt = IN32(rcv_nxt);
    out->rcv_wnd = IN32(rcv_wnd);
    out->snd_una = IN32(snd_una);
    out->snd_nxt = IN32(snd_nxt);
    out->snd_max = IN32(snd_max);
    out->snd_wnd = IN32(snd_wnd);
    out->max_snd_wnd = IN32(max_snd_wnd);
    out->send_wl1 = IN32(snd_wl1);
    out->cwnd = IN32(cwnd);
    out->ssthresh = IN32(ssthresh);
    out->ts_recent = IN32(ts_recent);
    out->ts_recent_age = IN32(ts_recent_age);
    out->ts_time = IN32(ts_time);
    out->total_rt = IN32(total_rt);
    out->ka_timeout_delta = IN32(ka_timeout_delta);
    out->rexmit_timeout_delta = IN32(rexmit_timeout_delta);
#undef IN32
    out->srtt = le16_in(b + offsetof(ChimneyTcpDelegated, srtt));
    out->rttvar = le16_in(b + offsetof(ChimneyTcpDelegated, rttvar));
    out->dup_ack_count = b[offsetof(ChimneyTcpDelegated, dup_ack_count)];
    out->snd_wnd_probe_count =
        b[offsetof(ChimneyTcpDelegated, snd_wnd_probe_count)];
    out->ka_probe_count = b[offsetof(ChimneyTcpDelegated, ka_probe_count)];
    out->rexmit_count = b[offsetof(ChimneyTcpDelegated, rexmit_count)];
}

/*
 * SET_PARAMS from OID_TCP_CONNECTION_OFFLOAD_PARAMETERS: @param gets the
 * CHIMNEY_PARAM_* words.  False when the buffer is short or a value is
 * one the device refuses (the OID then fails with INVALID_DATA).
 */
bool chimney_guest_offload_params(uint32_t *param,
                                  const ChimneyNdisOffloadParams *n,
                                  uint32_t len)
{
    uint32_t ticks;

    if (len < CHIMNEY_NDIS_OFFLOAD_PARAMS_REV1_SIZE) {
        return false;
    }
    ticks = n->ticks_per_second;
    memset(param, 0, 9 * sizeof(*param));
    param[CHIMNEY_PARAM_TICKS_PER_SECOND] = ticks;
    param[CHIMNEY_PARAM_ACK_FREQUENCY] = n->ack_frequency;
    param[CHIMNEY_PARAM_DELAYED_ACK_TICKS] = n->delayed_ack_ticks;
    param[CHIMNEY_PARAM_MAX_RETRANSMIT] = n->max_retransmissions;
    param[CHIMNEY_PARAM_DOUBT_REACH] = n->doubt_reachability;
    param[CHIMNEY_PARAM_SWS_TICKS] = n->sws_prevention_ticks;
    param[CHIMNEY_PARAM_DUP_ACK_THRESH] = n->dup_ack_threshold;
    param[CHIMNEY_PARAM_PUSH_TICKS] = n->push_ticks;
    param[CHIMNEY_PARAM_NCE_STALE_TICKS] = n->nce_stale_ticks;
    return (ticks == 10 || ticks == 100 || ticks == 1000) &&
           n->ack_frequency && n->max_retransmissions &&
           n->doubt_reachability && n->dup_ack_threshold &&
           n->dup_ack_threshold <= 255;
}

uint32_t chimney_guest_ndis_status(uint8_t type, uint8_t status)
{
    switch (status) {
    case CHIMNEY_ST_SUCCESS:
        return CHIMNEY_NDIS_STATUS_SUCCESS;
    case CHIMNEY_ST_REQUEST_ABORTED:
        return CHIMNEY_NDIS_STATUS_REQUEST_ABORTED;
    case CHIMNEY_ST_UPLOAD_IN_PROGRESS:
        return CHIMNEY_NDIS_STATUS_UPLOAD_IN_PROGRESS;
    case CHIMNEY_ST_INVALID_STATE:
        /* A receive posted after the DISCONNECT event (NDIS names it) */
        return type == CHIMNEY_CQE_RECV ? CHIMNEY_NDIS_STATUS_INVALID_STATE :
                                          CHIMNEY_NDIS_STATUS_FAILURE;
    default:
        return CHIMNEY_NDIS_STATUS_FAILURE;
    }
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

/* --- the offload state tree --- */

ChimneyNdisBlock *chimney_guest_block_parent(const ChimneyNdisBlock *b)
{
    return b->miniport_reserved[0];
}

static ChimneyNdisBlock *walk_child(ChimneyNdisBlock *b)
{
    ChimneyNdisBlock *c = b->dependents;

    if (c) {
        c->miniport_reserved[0] = b;
    }
    return c;
}

static ChimneyNdisBlock *walk_sibling(ChimneyNdisBlock *b)
{
    ChimneyNdisBlock *n = b->next;

    if (n) {
        n->miniport_reserved[0] = b->miniport_reserved[0];
    }
    return n;
}

static ChimneyNdisBlock *walk_down(ChimneyNdisBlock *b)
{
    ChimneyNdisBlock *c = walk_child(b);

    while (c) {
        b = c;
        c = walk_child(b);
    }
    return b;
}

/* The first block to visit; @root and its NextBlock siblings have no parent */
ChimneyNdisBlock *chimney_guest_walk_first(ChimneyNdisBlock *root,
                                           bool bottom_up)
{
    if (!root) {
        return NULL;
    }
    root->miniport_reserved[0] = NULL;
    return bottom_up ? walk_down(root) : root;
}

/*
 * The block after @b, or NULL at the end.  Top down, @enter says whether
 * @b's dependents are visited (not when its offload failed).
 */
ChimneyNdisBlock *chimney_guest_walk_next(ChimneyNdisBlock *b,
                                          bool bottom_up, bool enter)
{
    ChimneyNdisBlock *n;

    if (bottom_up) {
        n = walk_sibling(b);
        return n ? walk_down(n) : chimney_guest_block_parent(b);
    }
    n = enter ? walk_child(b) : NULL;
    while (!n && b) {
        n = walk_sibling(b);
        b = chimney_guest_block_parent(b);
    }
    return n;
}

static void fail_below(ChimneyNdisBlock *b)
{
    for (ChimneyNdisBlock *d = b->dependents; d; d = d->next) {
        d->status = (int32_t)CHIMNEY_NDIS_STATUS_FAILURE;
        fail_below(d);
    }
}

/*
 * @b failed with @status.  In an initiate its dependents fail unattempted
 * and a parent that succeeded becomes a partial success (chimney.md 4.5).
 */
void chimney_guest_block_failed(ChimneyNdisBlock *b, uint32_t status,
                                bool initiate)
{
    ChimneyNdisBlock *p = chimney_guest_block_parent(b);

    b->status = (int32_t)status;
    if (!initiate) {
        return;
    }
    fail_below(b);
    if (p && p->status == (int32_t)CHIMNEY_NDIS_STATUS_SUCCESS) {
        p->status = (int32_t)CHIMNEY_NDIS_STATUS_PARTIAL_SUCCESS;
    }
}
