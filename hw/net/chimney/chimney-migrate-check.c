/*
 * chimney-nic: checking and installing the offloaded objects of a
 * migration stream
 *
 * The stream (chimney-migrate.c) is untrusted input.  The front's
 * post_load calls chimney_migrate_install once the registers and CQs
 * passed their checks: every staged neighbor, path and connection is
 * checked against the device's limits, with a message naming the field,
 * before anything becomes the tables.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "hw/net/chimney/chimney.h"
#include "hw/net/chimney/chimney-migrate.h"
#include "hw/net/chimney/chimney-offload.h"
#include "hw/net/chimney/chimney-pmtu.h"

void chimney_migrate_pre_load(ChimneyState *s)
{
    /* whatever a failed load left behind is not ours to trust */
    memset(&s->offload.mig, 0, sizeof(s->offload.mig));
}

static bool chimney_mig_ring_ok(ChimneyState *s, uint32_t cq,
                                const ChimneyRing *r, uint32_t esize)
{
    if (!r->size) {
        return !r->base && !r->head && !r->tail;
    }
    return chimney_ring_geometry_valid(r->base, r->size, esize) &&
           r->head < r->size && r->tail < r->size && r->cq == cq;
}

static bool chimney_mig_slot_ok(const ChimneySlot *sl)
{
    return sl->nsge <= CHIMNEY_MAX_SGE && sl->cur_sge <= sl->nsge;
}

static bool chimney_mig_deadline_ok(int64_t t)
{
    return t >= -1;
}

static const char *chimney_mig_engine_check(ChimneyState *s,
                                            const ChimneyMigConn *mc)
{
    const ChimneyConn *c = &mc->c;
    const ChimneyTcpConn *t = &c->tcp;
    const ChimneyTcpStack *stk = s->offload.tcp;
    ChimneyTcpState st = mc->mig_st;

    switch (st.state) {
    case CHIMNEY_TCPS_CLOSED:
    case CHIMNEY_TCPS_TIME_WAIT:
        st.state = CHIMNEY_TCPS_ESTABLISHED;    /* reachable from there */
        break;
    }
    if (chimney_tcp_state_check(&st)) {
        return chimney_tcp_state_check(&st);
    }
    if (t->cap != c->sq.size || t->rcap != c->rq.size) {
        return "engine queue sizes";
    }
    if (t->head >= t->cap || t->count > t->cap ||
        (t->rcap ? t->rhead >= t->rcap : t->rhead) || t->rcount > t->rcap) {
        return "engine queue positions";
    }
    if (!t->mss || t->mss > t->route->path_mtu) {
        return "MSS";
    }
    /* 0 would stall the connection, or divide by zero at the next ACK */
    if (!st.cwnd || !st.ssthresh) {
        return "congestion window";
    }
    if (t->rto_ns < stk->rto_min_ns || t->rto_ns > stk->rto_max_ns ||
        t->srtt_ns < 0 || t->srtt_ns > stk->rto_max_ns * 8 ||
        t->rttvar_ns < 0 || t->rttvar_ns > stk->rto_max_ns * 8) {
        return "RTT estimator";
    }
    if (!chimney_mig_deadline_ok(t->timer_ns) ||
        !chimney_mig_deadline_ok(t->rexmit_ns) ||
        !chimney_mig_deadline_ok(t->delack_ns) ||
        !chimney_mig_deadline_ok(t->push_ns) ||
        !chimney_mig_deadline_ok(t->ka_ns) ||
        !chimney_mig_deadline_ok(t->fw2_ns)) {
        return "timer deadline";
    }
    if (t->rbuf_head >= t->rbuf_cap || t->held > t->rbuf_cap ||
        t->ind_outstanding > t->held || t->ooo_count > CHIMNEY_TCP_OOO_MAX) {
        return "receive buffer positions";
    }
    for (uint32_t i = 0; i < t->ooo_count; i++) {
        uint32_t start = t->ooo[i].start - st.rcv_nxt;
        uint32_t end = t->ooo[i].end - st.rcv_nxt;

        if (start >= end || end > t->rbuf_cap - t->held) {
            return "out-of-order range";
        }
    }
    if ((t->held || t->ooo_count) &&
        chimney_migrate_rbuf_used(t) > mc->mig_rbuf_len) {
        return "received bytes without a buffer";
    }
    if (mc->mig_rbuf_len && t->rbuf_head) {
        return "receive buffer head";
    }
    if ((t->count && !t->reqs) || (t->rcount && !t->recvs)) {
        return "requests without their arrays";
    }
    for (uint32_t i = 0; i < t->count; i++) {
        const ChimneyTcpReq *r = &t->reqs[(t->head + i) % t->cap];

        if (r->tag >= c->sq.size || r->type > CHIMNEY_TCP_REQ_DISCONNECT) {
            return "send request";
        }
    }
    for (uint32_t i = 0; i < t->rcount; i++) {
        const ChimneyTcpRecv *r = &t->recvs[(t->rhead + i) % t->rcap];

        if (r->tag >= c->rq.size || r->filled > r->len) {
            return "receive request";
        }
    }
    return NULL;
}

/* The engine's flags and rare counters from the stream's forms */
static void chimney_mig_tcp_load(ChimneyTcpConn *t, const ChimneyMigTcp *m)
{
    static const ChimneyTcpRare none;

    t->in_recovery = m->in_recovery;
    t->fin_queued = m->fin_queued;
    t->fin_sent = m->fin_sent;
    t->aborted = m->aborted;
    t->upload_requested = m->upload_requested;
    t->frozen = m->frozen;
    t->send_failed = m->send_failed;
    t->rtt_timing = m->rtt_timing;
    t->persist = m->persist;
    t->ka_forced = m->ka_forced;
    t->ooo_fin = m->ooo_fin;
    t->fin_rcvd = m->fin_rcvd;
    t->rcv_shut = m->rcv_shut;
    t->rcv_urgent = m->rcv_urgent;
    t->psh_pending = m->psh_pending;
    t->ind_refused = m->ind_refused;
    /* out of range stays out of range: the checks refuse it */
    t->ooo_count = MIN(m->ooo_count, UINT8_MAX);
    t->rare = NULL;
    if (memcmp(&m->rare, &none, sizeof(none))) {
        t->rare = g_memdup2(&m->rare, sizeof(m->rare));
    }
    for (int i = 0; i < CHIMNEY_TCP_CTRS; i++) {
        chimney_tcp_ctr_set(t, i, m->ctr[i]);
    }
}

/* The device's one-bit flags from the stream's booleans */
static void chimney_mig_flags_load(ChimneyConn *c, const ChimneyMigFlags *m)
{
    c->poisoned = m->poisoned;
    c->terminated = m->terminated;
    c->rq_upload_asked = m->rq_upload_asked;
    c->on_flush_list = m->on_flush_list;
    c->on_kick_list = m->on_kick_list;
    c->on_timer_list = m->on_timer_list;
    c->on_wait_list = m->on_wait_list;
    c->on_ind_list = m->on_ind_list;
    c->on_consequence_list = m->on_consequence_list;
    c->fault_consequence = m->fault_consequence;
    /* the record's hint is written again before the device relies on it */
    c->db_hint = m->db_hint;
}

static const char *chimney_mig_conn_check(ChimneyState *s,
                                          ChimneyMigConn *mc,
                                          unsigned long *seen)
{
    ChimneyConn *c = &mc->c;
    ChimneyOffloadState *o = &s->offload;
    const ChimneyTcpState *st = &mc->mig_st;

    chimney_mig_flags_load(c, &mc->mig_flags);
    if (c->index >= s->max_conns || test_bit(c->index, seen)) {
        return "index";
    }
    set_bit(c->index, seen);
    if (c->path >= s->max_paths || !o->paths[c->path].valid) {
        return "path";
    }
    /*
     * The stream's state becomes the engine's variables; the route is the
     * path's, whatever the stream's copy says (the source kept them equal)
     */
    c->tcp.route = o->paths[c->path].route;
    chimney_tcp_vars_load(&c->tcp, st);
    chimney_mig_tcp_load(&c->tcp, &mc->mig_tcp);
    if (mc->mig_cq == CHIMNEY_ADMIN_CQ_ID || mc->mig_cq >= s->num_cqs ||
        !s->cq[mc->mig_cq].size) {
        return "CQ";
    }
    if (!chimney_mig_ring_ok(s, mc->mig_cq, &c->sq, sizeof(ChimneySqDesc)) ||
        !c->sq.size ||
        !chimney_mig_ring_ok(s, mc->mig_cq, &c->rq, sizeof(ChimneySqDesc)) ||
        !QEMU_IS_ALIGNED(c->db_record, 4)) {
        return "queue";
    }
    if (c->pend_head >= chimney_conn_pend_cap(c) ||
        c->pend_count > chimney_conn_pend_cap(c)) {
        return "completion FIFO positions";
    }
    for (uint32_t i = 0; i < c->pend_count; i++) {
        const ChimneyPending *pe = &c->pend[(c->pend_head + i) %
                                            chimney_conn_pend_cap(c)];

        if (pe->type < CHIMNEY_CQE_ADMIN || pe->type > CHIMNEY_CQE_DISCONNECT ||
            pe->queue > CHIMNEY_QUEUE_INDICATE ||
            pe->irq > CHIMNEY_FAULT_IRQ_DROP) {
            return "completion";
        }
    }
    for (uint32_t i = 0; mc->mig_slots && i < c->sq.size; i++) {
        if (!chimney_mig_slot_ok(&mc->mig_slots[i])) {
            return "send slot";
        }
    }
    for (uint32_t i = 0; mc->mig_rslots && i < c->rq.size; i++) {
        if (!chimney_mig_slot_ok(&mc->mig_rslots[i])) {
            return "receive slot";
        }
    }
    if (st->ipv6 != o->paths[c->path].ipv6) {
        return "address family";
    }
    if (mc->mig_keyed) {
        if (c->terminated || g_hash_table_lookup(o->by_key, &c->tcp)) {
            return "4-tuple in use twice";
        }
    }
    return chimney_mig_engine_check(s, mc);
}

static void chimney_mig_free_staged(ChimneyMigStage *m, int32_t from)
{
    for (int32_t i = from; i < m->nconns; i++) {
        ChimneyConn *c = &m->conns[i].c;

        g_free(m->conns[i].mig_slots);
        g_free(c->tcp.reqs);
        g_free(m->conns[i].mig_rslots);
        g_free(c->tcp.recvs);
        g_free(c->pend);
        g_free(c->tcp.rbuf);
        g_free(c->tcp.ooo);
        g_free(c->tcp.rare);
    }
    chimney_migrate_stage_clear(m);
}

/* A staged connection becomes a live one */
static void chimney_mig_install_conn(ChimneyState *s,
                                     const ChimneyMigConn *sc)
{
    const ChimneyConn *mc = &sc->c;
    ChimneyOffloadState *o = &s->offload;
    ChimneyConn *c = g_new0(ChimneyConn, 1);
    ChimneyConn *owner = g_hash_table_lookup(o->by_key, &mc->tcp);
    bool lists[6] = {
        mc->on_flush_list, mc->on_kick_list, mc->on_timer_list,
        mc->on_wait_list, mc->on_ind_list, mc->on_consequence_list,
    };

    *c = *mc;
    c->pend = NULL;             /* an empty FIFO arrives as NULL */
    if (c->pend_count) {
        c->pend = g_new0(ChimneyPending, chimney_conn_pend_cap(c));
        memcpy(c->pend, mc->pend, sizeof(*c->pend) * c->pend_count);
    }
    g_free(mc->pend);
    /* the queues' arrays: the engine's and the device's in one block */
    c->tcp.reqs = NULL;
    c->tcp.recvs = NULL;
    if (sc->mig_nsq) {
        chimney_conn_sq_arrays(c);
        memcpy(c->tcp.reqs, mc->tcp.reqs, sizeof(ChimneyTcpReq) * c->sq.size);
        memcpy(chimney_conn_slots(c), sc->mig_slots,
               sizeof(ChimneySlot) * c->sq.size);
    }
    if (sc->mig_nrq) {
        chimney_conn_rq_arrays(c);
        memcpy(c->tcp.recvs, mc->tcp.recvs,
               sizeof(ChimneyTcpRecv) * c->rq.size);
        memcpy(chimney_conn_rslots(c), sc->mig_rslots,
               sizeof(ChimneySlot) * c->rq.size);
    }
    g_free(mc->tcp.reqs);
    g_free(sc->mig_slots);
    g_free(mc->tcp.recvs);
    g_free(sc->mig_rslots);
    c->flushing = false;
    c->on_flush_list = c->on_kick_list = c->on_timer_list = false;
    c->on_wait_list = c->on_ind_list = c->on_consequence_list = false;
    if (!c->tcp.ooo_count) {    /* held only while data is out of order */
        g_clear_pointer(&c->tcp.ooo, g_free);
    }
    c->tcp.rbuf = NULL;
    if (sc->mig_rbuf_len) {
        c->tcp.rbuf = g_malloc0(c->tcp.rbuf_cap);
        memcpy(c->tcp.rbuf, mc->tcp.rbuf, sc->mig_rbuf_len);
        g_free(mc->tcp.rbuf);
    }
    chimney_conn_insert(s, c);
    if (!sc->mig_keyed) {
        /* Not the classifier's: its 4-tuple stays with a keyed one */
        if (owner) {
            g_hash_table_replace(o->by_key, &owner->tcp, owner);
        } else {
            g_hash_table_remove(o->by_key, &c->tcp);
        }
    }
    if (lists[0] || (c->pend_count && !lists[3])) {
        c->on_flush_list = true;
        chimney_conn_list_append(s, &o->flush_list[chimney_conn_cq(c)], c,
                                 CHIMNEY_LINK_FLUSH);
    }
    if (lists[1]) {
        c->on_kick_list = true;
        chimney_conn_list_append(s, &o->kick_list, c, CHIMNEY_LINK_KICK);
    }
    if (lists[2]) {
        c->on_timer_list = true;
        chimney_conn_list_append(s, &o->timer_list, c, CHIMNEY_LINK_TIMER);
    }
    if (lists[3]) {
        c->on_wait_list = true;
        chimney_conn_list_append(s, &o->wait_list, c, CHIMNEY_LINK_WAIT);
    }
    if (lists[4]) {
        c->on_ind_list = true;
        chimney_conn_list_append(s, &o->ind_list, c, CHIMNEY_LINK_IND);
    }
    if (lists[5]) {
        c->on_consequence_list = true;
        chimney_conn_list_append(s, &o->consequence_list, c,
                                 CHIMNEY_LINK_CONSEQUENCE);
    }
    chimney_conn_timer_mod(c, c->tcp.timer_ns);
}

/*
 * Called by the front's post_load once the registers and CQs passed their
 * checks.  Returns 0, or -EINVAL with the reason reported.
 */
int chimney_migrate_install(ChimneyState *s)
{
    ChimneyOffloadState *o = &s->offload;
    ChimneyMigStage *m = &o->mig;
    g_autofree unsigned long *seen = NULL;
    g_autofree uint32_t *nrefs = NULL, *prefs = NULL;
    uint64_t entries = 0;
    const char *why = NULL;
    int32_t i;

    if (!m->neighbors) {
        return 0;   /* no subsection: nothing offloaded */
    }
    chimney_conn_table_reset(s);
    nrefs = g_new0(uint32_t, s->max_neighbors);
    prefs = g_new0(uint32_t, s->max_paths);
    for (i = 0; i < m->npaths && !why; i++) {
        ChimneyPath *p = &m->paths[i];

        if (!p->valid) {
            continue;
        } else if (p->neighbor >= s->max_neighbors ||
                   !m->neighbors[p->neighbor].valid ||
                   p->mtu < (p->ipv6 ? CHIMNEY_IPV6_MIN_MTU : 68) ||
                   p->mtu > 9000) {
            why = "path";
        } else {
            nrefs[p->neighbor]++;
        }
    }
    for (i = 0; i < m->nneighbors && !why; i++) {
        if (m->neighbors[i].valid && m->neighbors[i].vlan > 4094) {
            why = "neighbor";
        }
    }
    if (why) {
        error_report("chimney-nic: the stream's %s table is invalid (%s)",
                     "object", why);
        chimney_mig_free_staged(m, 0);
        return -EINVAL;
    }
    /* The stream's rules replace the destination's */
    {
        Error *err = NULL;

        if ((m->fault_text_len &&
             (m->fault_text[m->fault_text_len - 1] ||
              strlen(m->fault_text) + 1 != m->fault_text_len)) ||
            !chimney_fault_set_rules(&s->fault, m->fault_text_len ?
                                     m->fault_text : "", &err)) {
            error_report("chimney-nic: the stream's fault rules: %s",
                         err ? error_get_pretty(err) : "not a string");
            error_free(err);
            chimney_mig_free_staged(m, 0);
            return -EINVAL;
        }
    }
    if (s->fault.coalesce_waiting > s->max_sq_entries * 2u ||
        s->fault.coalesce_deadline < -1) {
        error_report("chimney-nic: the stream's fault state is invalid");
        chimney_mig_free_staged(m, 0);
        return -EINVAL;
    }
    for (int k = 0; k < CHIMNEY_MAX_CQS; k++) {
        if (s->fault.irq_due[k] < -1) {
            error_report("chimney-nic: late interrupt of CQ %d invalid", k);
            chimney_mig_free_staged(m, 0);
            return -EINVAL;
        }
    }
    memcpy(o->neighbors, m->neighbors,
           sizeof(*o->neighbors) * s->max_neighbors);
    memcpy(o->paths, m->paths, sizeof(*o->paths) * s->max_paths);
    for (i = 0; i < s->max_paths; i++) {
        o->paths[i].route = NULL;       /* the stage's is not ours */
        if (o->paths[i].valid) {
            chimney_offload_route(s, i);
        }
    }
    for (i = 0; i < m->nneighbors; i++) {
        o->neighbors[i].refs = nrefs[i];
        o->num_objects += o->neighbors[i].valid;
    }
    for (i = 0; i < m->npaths; i++) {
        o->paths[i].refs = 0;       /* chimney_conn_insert counts them */
        o->num_objects += o->paths[i].valid;
    }
    o->tcp->ip_id = MAX(m->ip_id, CHIMNEY_MIG_IP_ID_BASE);
    s->fault.rng = m->fault_rng;
    s->fault.seq = m->fault_seq;
    for (int k = 0; k < s->fault.nrules; k++) {
        s->fault.rules[k].matched = m->rule_matched[k];
        s->fault.rules[k].fired = m->rule_fired[k];
    }

    seen = bitmap_new(s->max_conns);
    for (i = 0; i < m->nconns; i++) {
        ChimneyMigConn *mc = &m->conns[i];

        entries += mc->c.sq.size + mc->c.rq.size;
        why = entries > s->max_sq_entries ? "max-sq-entries exceeded" :
              chimney_mig_conn_check(s, mc, seen);
        if (why) {
            error_report("chimney-nic: the stream's connection %" PRIu32
                         " is invalid: %s", mc->c.index, why);
            chimney_mig_free_staged(m, i);
            chimney_conn_table_reset(s);
            return -EINVAL;
        }
        chimney_mig_install_conn(s, mc);
    }
    g_free(m->conns);
    m->conns = NULL;
    m->nconns = 0;
    chimney_migrate_stage_clear(m);
    chimney_pmtu_count_events(s);
    return 0;
}
