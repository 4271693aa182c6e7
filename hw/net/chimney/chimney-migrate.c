/*
 * chimney-nic: migration of offloaded objects
 *
 * The subsection "chimney-nic/offload" carries everything the device holds
 * for offloaded objects: the neighbor and path tables, every connection
 * (its queues and their slots, its completion FIFO with the decisions of
 * fault injection, the TCP engine's send and receive state with its
 * timers as deadlines on the virtual clock and its receive buffer), the
 * fault injector's rules, PRNG and sequence, and the counters.  It is
 * only sent while objects are offloaded, so a stream of a device without
 * them stays loadable by the previous version.
 *
 * pre_save copies the connections by value into a packed array (the
 * arrays they point to are written from where they are), written in three
 * passes: every connection's scalars and sizes, then its arrays and TCP
 * state, then its receive buffer, with the sizes checked in between; a
 * load fills that array, and the front's post_load calls
 * chimney_migrate_install (chimney-migrate-check.c), which checks every
 * field against the device's limits before anything becomes the tables.
 * A stream is untrusted input: a bad one fails the load with a message
 * naming the field, never an out-of-range index.
 *
 * Not carried: the segments received for offloaded connections and not
 * yet processed, and host frames waiting for an L2 RX buffer.  The
 * destination starts without them, as if a lossy wire had dropped them;
 * TCP retransmits (a lost segment is legal TCP).
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "migration/vmstate.h"
#include "migration/qemu-file-types.h"
#include "hw/net/chimney/chimney.h"
#include "hw/net/chimney/chimney-migrate.h"


/* --- the stream's layout --- */

static const VMStateDescription vmstate_chimney_neighbor = {
    .name = "chimney-nic/neighbor",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(valid, ChimneyNeighbor),
        VMSTATE_BOOL(invalidated, ChimneyNeighbor),
        VMSTATE_UINT8_ARRAY(src_mac, ChimneyNeighbor, 6),
        VMSTATE_UINT8_ARRAY(dst_mac, ChimneyNeighbor, 6),
        VMSTATE_UINT16(vlan, ChimneyNeighbor),
        VMSTATE_END_OF_LIST()
    },
};

/* IPv6 paths and pending PATH_MTU events (1.3): only sent when present */
static bool chimney_mig_path_v6_needed(void *opaque)
{
    const ChimneyPath *p = opaque;

    return p->ipv6 || p->mtu_event;
}

static const VMStateDescription vmstate_chimney_path_v6 = {
    .name = "chimney-nic/path/ipv6",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = chimney_mig_path_v6_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(ipv6, ChimneyPath),
        VMSTATE_UINT8_ARRAY(src_ip6, ChimneyPath, 16),
        VMSTATE_UINT8_ARRAY(dst_ip6, ChimneyPath, 16),
        VMSTATE_BOOL(mtu_event, ChimneyPath),
        VMSTATE_END_OF_LIST()
    },
};

/* The load array is not zeroed: what the stream may omit starts clean */
static int chimney_mig_path_pre_load(void *opaque)
{
    memset(opaque, 0, sizeof(ChimneyPath));
    return 0;
}

static const VMStateDescription vmstate_chimney_path = {
    .name = "chimney-nic/path",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_load = chimney_mig_path_pre_load,
    .subsections = (const VMStateDescription * const []) {
        &vmstate_chimney_path_v6,
        NULL
    },
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(valid, ChimneyPath),
        VMSTATE_BOOL(invalidated, ChimneyPath),
        VMSTATE_UINT32(neighbor, ChimneyPath),
        VMSTATE_UINT32(src_ip, ChimneyPath),
        VMSTATE_UINT32(dst_ip, ChimneyPath),
        VMSTATE_UINT32(mtu, ChimneyPath),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_chimney_slot = {
    .name = "chimney-nic/slot",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(sgl, ChimneySlot),
        VMSTATE_UINT16(nsge, ChimneySlot),
        VMSTATE_UINT8(status, ChimneySlot),
        VMSTATE_BOOL(disconnect, ChimneySlot),
        VMSTATE_UINT16(cur_sge, ChimneySlot),
        VMSTATE_UINT32(cur_off, ChimneySlot),
        VMSTATE_UINT64(cur_addr, ChimneySlot),
        VMSTATE_UINT32(cur_len, ChimneySlot),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_chimney_req = {
    .name = "chimney-nic/tcp-req",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(cookie, ChimneyTcpReq),
        VMSTATE_UINT32(len, ChimneyTcpReq),
        VMSTATE_UINT32(end_seq, ChimneyTcpReq),
        VMSTATE_UINT32(tag, ChimneyTcpReq),
        VMSTATE_UINT16(type, ChimneyTcpReq),
        VMSTATE_UINT16(flags, ChimneyTcpReq),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_chimney_recv = {
    .name = "chimney-nic/tcp-recv",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(cookie, ChimneyTcpRecv),
        VMSTATE_UINT32(len, ChimneyTcpRecv),
        VMSTATE_UINT32(filled, ChimneyTcpRecv),
        VMSTATE_UINT32(tag, ChimneyTcpRecv),
        VMSTATE_BOOL(no_push, ChimneyTcpRecv),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_chimney_pending = {
    .name = "chimney-nic/pending",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(cookie, ChimneyPending),
        VMSTATE_UINT32(bytes, ChimneyPending),
        VMSTATE_UINT32(sq_head, ChimneyPending),
        VMSTATE_UINT32(aux, ChimneyPending),
        VMSTATE_UINT16(info, ChimneyPending),
        VMSTATE_UINT8(type, ChimneyPending),
        VMSTATE_UINT8(status, ChimneyPending),
        VMSTATE_UINT16(queue, ChimneyPending),
        VMSTATE_UINT64(seq, ChimneyPending),
        VMSTATE_INT64(release_ns, ChimneyPending),
        VMSTATE_UINT64(coalesce_gen, ChimneyPending),
        VMSTATE_INT64(irq_delay_ns, ChimneyPending),
        VMSTATE_BOOL(hold, ChimneyPending),
        VMSTATE_BOOL(hold_released, ChimneyPending),
        VMSTATE_BOOL(coalesce, ChimneyPending),
        VMSTATE_UINT8(irq, ChimneyPending),
        VMSTATE_END_OF_LIST()
    },
};

/* A connection's IPv6 and 802.1p state (1.3): only sent when present */
static bool chimney_mig_tcp_v6_needed(void *opaque)
{
    const ChimneyTcpState *st = opaque;

    return st->ipv6 || st->flow_label || st->user_priority;
}

static const VMStateDescription vmstate_chimney_tcp_state_v6 = {
    .name = "chimney-nic/tcp-state/ipv6-8021q",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = chimney_mig_tcp_v6_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(ipv6, ChimneyTcpState),
        VMSTATE_UINT8_ARRAY(src_ip6, ChimneyTcpState, 16),
        VMSTATE_UINT8_ARRAY(dst_ip6, ChimneyTcpState, 16),
        VMSTATE_UINT32(flow_label, ChimneyTcpState),
        VMSTATE_UINT8(user_priority, ChimneyTcpState),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_chimney_tcp_state = {
    .name = "chimney-nic/tcp-state",
    .version_id = 1,
    .minimum_version_id = 1,
    .subsections = (const VMStateDescription * const []) {
        &vmstate_chimney_tcp_state_v6,
        NULL
    },
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8_ARRAY(src_mac, ChimneyTcpState, 6),
        VMSTATE_UINT8_ARRAY(dst_mac, ChimneyTcpState, 6),
        VMSTATE_UINT16(vlan, ChimneyTcpState),
        VMSTATE_UINT32(src_ip, ChimneyTcpState),
        VMSTATE_UINT32(dst_ip, ChimneyTcpState),
        VMSTATE_UINT32(path_mtu, ChimneyTcpState),
        VMSTATE_UINT16(local_port, ChimneyTcpState),
        VMSTATE_UINT16(remote_port, ChimneyTcpState),
        VMSTATE_UINT16(remote_mss, ChimneyTcpState),
        VMSTATE_UINT8(snd_wscale, ChimneyTcpState),
        VMSTATE_UINT8(rcv_wscale, ChimneyTcpState),
        VMSTATE_BOOL(ts_enabled, ChimneyTcpState),
        VMSTATE_BOOL(sack_enabled, ChimneyTcpState),
        VMSTATE_BOOL(wscale_enabled, ChimneyTcpState),
        VMSTATE_UINT8(ttl, ChimneyTcpState),
        VMSTATE_UINT8(tos, ChimneyTcpState),
        VMSTATE_UINT32(initial_rcv_wnd, ChimneyTcpState),
        VMSTATE_UINT32(max_rt, ChimneyTcpState),
        VMSTATE_BOOL(nagle, ChimneyTcpState),
        VMSTATE_BOOL(keepalive, ChimneyTcpState),
        VMSTATE_UINT32(ka_timeout, ChimneyTcpState),
        VMSTATE_UINT32(ka_interval, ChimneyTcpState),
        VMSTATE_UINT8(ka_probe_count, ChimneyTcpState),
        VMSTATE_UINT32(rcv_indication_size, ChimneyTcpState),
        VMSTATE_UINT32(state, ChimneyTcpState),
        VMSTATE_UINT32(rcv_nxt, ChimneyTcpState),
        VMSTATE_UINT32(rcv_wnd, ChimneyTcpState),
        VMSTATE_UINT32(snd_una, ChimneyTcpState),
        VMSTATE_UINT32(snd_nxt, ChimneyTcpState),
        VMSTATE_UINT32(snd_max, ChimneyTcpState),
        VMSTATE_UINT32(snd_wnd, ChimneyTcpState),
        VMSTATE_UINT32(max_snd_wnd, ChimneyTcpState),
        VMSTATE_UINT32(snd_wl1, ChimneyTcpState),
        VMSTATE_UINT32(cwnd, ChimneyTcpState),
        VMSTATE_UINT32(ssthresh, ChimneyTcpState),
        VMSTATE_UINT16(srtt_x8, ChimneyTcpState),
        VMSTATE_UINT16(rttvar_x4, ChimneyTcpState),
        VMSTATE_UINT32(ts_recent, ChimneyTcpState),
        VMSTATE_UINT32(ts_recent_age, ChimneyTcpState),
        VMSTATE_UINT32(ts_time, ChimneyTcpState),
        VMSTATE_UINT32(total_rt, ChimneyTcpState),
        VMSTATE_UINT8(dup_ack_count, ChimneyTcpState),
        VMSTATE_UINT8(snd_wnd_probe_count, ChimneyTcpState),
        VMSTATE_UINT8(rexmit_count, ChimneyTcpState),
        VMSTATE_INT32(rexmit_delta, ChimneyTcpState),
        VMSTATE_UINT8(ka_probes, ChimneyTcpState),
        VMSTATE_INT32(ka_delta, ChimneyTcpState),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_chimney_range = {
    .name = "chimney-nic/tcp-range",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(start, ChimneyTcpRange),
        VMSTATE_UINT32(end, ChimneyTcpRange),
        VMSTATE_END_OF_LIST()
    },
};

/*
 * The out-of-order table is in the stream whole, allocated or not: as
 * VMSTATE_STRUCT_VARRAY_ALLOC of CHIMNEY_TCP_OOO_MAX, with no count field
 */
static const ChimneyTcpRange chimney_mig_no_ooo[CHIMNEY_TCP_OOO_MAX];

#define CHIMNEY_MIG_OOO {                                                  \
    .name = "ooo",                                                         \
    .version_id = 1,                                                       \
    .vmsd = &vmstate_chimney_range,                                        \
    .num = CHIMNEY_TCP_OOO_MAX,                                            \
    .size = sizeof(ChimneyTcpRange),                                       \
    .flags = VMS_STRUCT | VMS_ARRAY | VMS_ALLOC | VMS_POINTER,             \
    .offset = vmstate_offset_pointer(ChimneyTcpConn, ooo, ChimneyTcpRange), \
}

/*
 * A 32-bit event counter as the stream always carried it, in 64 bits; a
 * larger value from an older source loads modulo 2^32, as a wrap would.
 */
static int chimney_mig_get_ctr32(QEMUFile *f, void *pv, size_t size,
                                 const VMStateField *field)
{
    *(uint32_t *)pv = qemu_get_be64(f);
    return 0;
}

static int chimney_mig_put_ctr32(QEMUFile *f, void *pv, size_t size,
                                 const VMStateField *field, JSONWriter *vmdesc)
{
    qemu_put_be64(f, *(uint32_t *)pv);
    return 0;
}

static const VMStateInfo chimney_mig_info_ctr32 = {
    .name = "uint64",
    .get = chimney_mig_get_ctr32,
    .put = chimney_mig_put_ctr32,
};

/* .size: the stream's, so its description (vmdesc) says 8 bytes */
#define CHIMNEY_MIG_CTR32(_field) {                                        \
    .name = stringify(_field),                                             \
    .size = sizeof(uint64_t),                                              \
    .info = &chimney_mig_info_ctr32,                                       \
    .flags = VMS_SINGLE,                                                   \
    .offset = vmstate_offset_value(ChimneyTcpConn, _field, uint32_t),      \
}

/*
 * A field of the stream's connection that the engine's keeps in another
 * form: in ChimneyMigConn, addressed from its engine connection (c.tcp)
 */
#define CHIMNEY_MIG_TCP_OFFSET(_field)                                     \
    (offsetof(ChimneyMigConn, _field) - offsetof(ChimneyMigConn, c.tcp))

/* A one-bit flag of the engine's connection: a boolean in the stream */
#define CHIMNEY_MIG_TCP_BOOL(_field) {                                     \
    .name = stringify(_field),                                             \
    .size = sizeof(bool),                                                  \
    .info = &vmstate_info_bool,                                            \
    .flags = VMS_SINGLE,                                                   \
    .offset = CHIMNEY_MIG_TCP_OFFSET(mig_tcp._field),                      \
}

/* A traffic counter (chimney_tcp_ctr): 64 bits, as always */
#define CHIMNEY_MIG_TCP_U64(_name, _which) {                              \
    .name = stringify(_name),                                              \
    .size = sizeof(uint64_t),                                              \
    .info = &vmstate_info_uint64,                                          \
    .flags = VMS_SINGLE,                                                   \
    .offset = CHIMNEY_MIG_TCP_OFFSET(mig_tcp.ctr[_which]),                 \
}

/* A rare-event counter (ChimneyTcpRare): as CHIMNEY_MIG_CTR32 */
#define CHIMNEY_MIG_RARE32(_field) {                                       \
    .name = stringify(_field),                                             \
    .size = sizeof(uint64_t),                                              \
    .info = &chimney_mig_info_ctr32,                                       \
    .flags = VMS_SINGLE,                                                   \
    .offset = CHIMNEY_MIG_TCP_OFFSET(mig_tcp.rare._field),                 \
}

/* The stream's forms of the engine's flags and rare counters */
static void chimney_mig_tcp_save(ChimneyMigTcp *m, const ChimneyTcpConn *t)
{
    *m = (ChimneyMigTcp) {
        .rare = *chimney_tcp_rare_get(t),
        .ooo_count = t->ooo_count,
        .ctr = {
            chimney_tcp_ctr(t, 0), chimney_tcp_ctr(t, 1),
            chimney_tcp_ctr(t, 2), chimney_tcp_ctr(t, 3),
            chimney_tcp_ctr(t, 4), chimney_tcp_ctr(t, 5),
        },
        .in_recovery = t->in_recovery,
        .fin_queued = t->fin_queued,
        .fin_sent = t->fin_sent,
        .aborted = t->aborted,
        .upload_requested = t->upload_requested,
        .frozen = t->frozen,
        .send_failed = t->send_failed,
        .rtt_timing = t->rtt_timing,
        .persist = t->persist,
        .ka_forced = t->ka_forced,
        .ooo_fin = t->ooo_fin,
        .fin_rcvd = t->fin_rcvd,
        .rcv_shut = t->rcv_shut,
        .rcv_urgent = t->rcv_urgent,
        .psh_pending = t->psh_pending,
        .ind_refused = t->ind_refused,
    };
}

/* The engine's connection; its pointers are set again at install. */
static const VMStateDescription vmstate_chimney_engine = {
    .name = "chimney-nic/tcp-conn",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        /* the whole state, as QUERY gives it (live: route and variables) */
        {
            .name = "st",
            .version_id = 1,
            .vmsd = &vmstate_chimney_tcp_state,
            .size = sizeof(ChimneyTcpState),
            .flags = VMS_STRUCT,
            .offset = CHIMNEY_MIG_TCP_OFFSET(mig_st),
        },
        VMSTATE_UINT32(cap, ChimneyTcpConn),
        VMSTATE_UINT32(head, ChimneyTcpConn),
        VMSTATE_UINT32(count, ChimneyTcpConn),
        VMSTATE_UINT32(end_seq, ChimneyTcpConn),
        VMSTATE_UINT32(mss, ChimneyTcpConn),
        VMSTATE_UINT32(snd_wl2, ChimneyTcpConn),
        VMSTATE_UINT32(recover, ChimneyTcpConn),
        CHIMNEY_MIG_TCP_BOOL(in_recovery),
        CHIMNEY_MIG_TCP_BOOL(fin_queued),
        CHIMNEY_MIG_TCP_BOOL(fin_sent),
        CHIMNEY_MIG_TCP_BOOL(aborted),
        CHIMNEY_MIG_TCP_BOOL(upload_requested),
        CHIMNEY_MIG_TCP_BOOL(frozen),
        CHIMNEY_MIG_TCP_BOOL(send_failed),
        VMSTATE_INT64(srtt_ns, ChimneyTcpConn),
        VMSTATE_INT64(rttvar_ns, ChimneyTcpConn),
        VMSTATE_INT64(rto_ns, ChimneyTcpConn),
        VMSTATE_UINT32(backoff, ChimneyTcpConn),
        CHIMNEY_MIG_TCP_BOOL(rtt_timing),
        VMSTATE_UINT32(rtt_seq, ChimneyTcpConn),
        VMSTATE_INT64(rtt_start_ns, ChimneyTcpConn),
        VMSTATE_UINT32(ts_base, ChimneyTcpConn),
        VMSTATE_INT64(ts_base_ns, ChimneyTcpConn),
        VMSTATE_INT64(timer_ns, ChimneyTcpConn),
        VMSTATE_INT64(rexmit_ns, ChimneyTcpConn),
        VMSTATE_INT64(delack_ns, ChimneyTcpConn),
        VMSTATE_INT64(push_ns, ChimneyTcpConn),
        VMSTATE_INT64(ka_ns, ChimneyTcpConn),
        VMSTATE_INT64(fw2_ns, ChimneyTcpConn),
        CHIMNEY_MIG_TCP_BOOL(persist),
        VMSTATE_UINT32(probes, ChimneyTcpConn),
        VMSTATE_UINT32(probes_unanswered, ChimneyTcpConn),
        CHIMNEY_MIG_TCP_BOOL(ka_forced),
        VMSTATE_INT64(challenge_ns, ChimneyTcpConn),
        VMSTATE_UINT32(rcap, ChimneyTcpConn),
        VMSTATE_UINT32(rhead, ChimneyTcpConn),
        VMSTATE_UINT32(rcount, ChimneyTcpConn),
        VMSTATE_UINT32(rbuf_cap, ChimneyTcpConn),
        VMSTATE_UINT32(rbuf_head, ChimneyTcpConn),
        VMSTATE_UINT32(held, ChimneyTcpConn),
        VMSTATE_UINT32(rcv_deliv, ChimneyTcpConn),
        VMSTATE_UINT32(rcv_adv, ChimneyTcpConn),
        CHIMNEY_MIG_OOO,
        {
            .name = "ooo_count",
            .size = sizeof(uint32_t),
            .info = &vmstate_info_uint32,
            .flags = VMS_SINGLE,
            .offset = CHIMNEY_MIG_TCP_OFFSET(mig_tcp.ooo_count),
        },
        CHIMNEY_MIG_TCP_BOOL(ooo_fin),
        VMSTATE_UINT32(ooo_fin_seq, ChimneyTcpConn),
        CHIMNEY_MIG_TCP_BOOL(fin_rcvd),
        CHIMNEY_MIG_TCP_BOOL(rcv_shut),
        CHIMNEY_MIG_TCP_BOOL(rcv_urgent),
        CHIMNEY_MIG_TCP_BOOL(psh_pending),
        VMSTATE_UINT32(psh_seq, ChimneyTcpConn),
        VMSTATE_UINT32(ind_outstanding, ChimneyTcpConn),
        CHIMNEY_MIG_TCP_BOOL(ind_refused),
        VMSTATE_UINT32(segs_unacked, ChimneyTcpConn),
        CHIMNEY_MIG_TCP_U64(segs_out, CHIMNEY_TCP_SEGS_OUT),
        CHIMNEY_MIG_TCP_U64(segs_in, CHIMNEY_TCP_SEGS_IN),
        CHIMNEY_MIG_TCP_U64(bytes_acked, CHIMNEY_TCP_BYTES_ACKED),
        CHIMNEY_MIG_RARE32(retransmits),
        CHIMNEY_MIG_RARE32(timeouts),
        CHIMNEY_MIG_RARE32(fast_retransmits),
        CHIMNEY_MIG_RARE32(dup_acks),
        CHIMNEY_MIG_RARE32(probes_sent),
        CHIMNEY_MIG_TCP_U64(bytes_rcvd, CHIMNEY_TCP_BYTES_RCVD),
        CHIMNEY_MIG_TCP_U64(bytes_delivered, CHIMNEY_TCP_BYTES_DELIVERED),
        CHIMNEY_MIG_TCP_U64(bytes_indicated, CHIMNEY_TCP_BYTES_INDICATED),
        CHIMNEY_MIG_RARE32(ooo_segs),
        CHIMNEY_MIG_RARE32(dup_segs),
        CHIMNEY_MIG_CTR32(acks_delayed),
        CHIMNEY_MIG_RARE32(ka_probes_sent),
        CHIMNEY_MIG_RARE32(challenge_acks),
        VMSTATE_END_OF_LIST()
    },
};

/*
 * Array sizes are checked before anything is allocated for them.  The
 * checks run over all connections between the arrays of their parts, so
 * the connection arrays hold no VMSTATE_VALIDATE of their own: QEMU then
 * describes one element in the stream's JSON, not every one.
 */
static bool chimney_mig_sizes_ok(ChimneyMigConn *mc)
{
    ChimneyConn *c = &mc->c;

    QEMU_BUILD_BUG_ON(CHIMNEY_MIG_PEND_EXTRA != CHIMNEY_PEND_EXTRA);

    /* 0: the queue's arrays are absent (an idle queue) */
    if (c->sq.size < 1 || c->sq.size > CHIMNEY_MAX_CONNS_LIMIT ||
        c->rq.size > CHIMNEY_MAX_CONNS_LIMIT ||
        (mc->mig_nsq && mc->mig_nsq != c->sq.size) ||
        (mc->mig_nrq && mc->mig_nrq != c->rq.size) ||
        mc->mig_pend_cap != chimney_conn_pend_cap(c) ||
        mc->mig_npend < 0 || mc->mig_npend != c->pend_count ||
        c->pend_count > mc->mig_pend_cap || c->pend_head) {
        error_report("chimney-nic: connection %" PRIu32 ": queue sizes %"
                     PRId32 "/%" PRId32 "/%" PRId32 " out of range",
                     c->index, mc->mig_nsq, mc->mig_nrq, mc->mig_npend);
        return false;
    }
    return true;
}

static bool chimney_mig_rbuf_ok(ChimneyMigConn *mc)
{
    ChimneyConn *c = &mc->c;

    if (c->tcp.rbuf_cap == 0 || c->tcp.rbuf_cap > CHIMNEY_TCP_RCVBUF_MAX ||
        mc->mig_rbuf_len > c->tcp.rbuf_cap) {
        error_report("chimney-nic: connection %" PRIu32 ": receive buffer %"
                     PRIu32 " of %" PRIu32 " bytes out of range", c->index,
                     mc->mig_rbuf_len, c->tcp.rbuf_cap);
        return false;
    }
    return true;
}

/* Bytes of the receive buffer in use: held, then out-of-order data */
uint32_t chimney_migrate_rbuf_used(const ChimneyTcpConn *t)
{
    uint32_t used = t->held;

    if (t->ooo_count) {
        used += t->ooo[t->ooo_count - 1].end - t->st.rcv_nxt;
    }
    return used;
}

/*
 * An array of a staged connection, sized by a count that only the stream
 * has: as VMSTATE_STRUCT_VARRAY_ALLOC, named as the stream always named it.
 */
#define CHIMNEY_MIG_VARRAY(_name, _field, _num, _vmsd, _type) {             \
    .name = stringify(_name),                                              \
    .version_id = 1,                                                       \
    .vmsd = &(_vmsd),                                                      \
    .num_offset = vmstate_offset_value(ChimneyMigConn, _num, int32_t),     \
    .size = sizeof(_type),                                                 \
    .flags = VMS_STRUCT | VMS_VARRAY_INT32 | VMS_ALLOC | VMS_POINTER,      \
    .offset = vmstate_offset_pointer(ChimneyMigConn, c._field, _type),     \
}

/*
 * A field the stream has always had that the live connection derives:
 * in the stage, under its old name, checked against what it derives
 */
#define CHIMNEY_MIG_STAGE_U32(_name, _field) {                             \
    .name = stringify(_name),                                              \
    .size = sizeof(uint32_t),                                              \
    .info = &vmstate_info_uint32,                                          \
    .flags = VMS_SINGLE,                                                   \
    .offset = vmstate_offset_value(ChimneyMigConn, _field, uint32_t),      \
}

/* The device's slots of a queue: in the stream's own array */
#define CHIMNEY_MIG_SLOTS(_name, _field, _num) {                           \
    .name = stringify(_name),                                              \
    .version_id = 1,                                                       \
    .vmsd = &vmstate_chimney_slot,                                         \
    .num_offset = vmstate_offset_value(ChimneyMigConn, _num, int32_t),     \
    .size = sizeof(ChimneySlot),                                           \
    .flags = VMS_STRUCT | VMS_VARRAY_INT32 | VMS_ALLOC | VMS_POINTER,      \
    .offset = vmstate_offset_pointer(ChimneyMigConn, _field, ChimneySlot), \
}

/* A one-bit flag of the device's connection: a boolean in the stream */
#define CHIMNEY_MIG_FLAG(_field) {                                         \
    .name = stringify(_field),                                             \
    .size = sizeof(bool),                                                  \
    .info = &vmstate_info_bool,                                            \
    .flags = VMS_SINGLE,                                                   \
    .offset = vmstate_offset_value(ChimneyMigConn, mig_flags._field, bool), \
}

static void chimney_mig_flags_save(ChimneyMigFlags *m, const ChimneyConn *c)
{
    *m = (ChimneyMigFlags) {
        .poisoned = c->poisoned,
        .terminated = c->terminated,
        .rq_upload_asked = c->rq_upload_asked,
        .on_flush_list = c->on_flush_list,
        .on_kick_list = c->on_kick_list,
        .on_timer_list = c->on_timer_list,
        .on_wait_list = c->on_wait_list,
        .on_ind_list = c->on_ind_list,
        .on_consequence_list = c->on_consequence_list,
        .fault_consequence = c->fault_consequence,
        .db_hint = c->db_hint,
    };
}

/* The doorbell hint (1.4): only sent for a connection that asked for it */
static bool chimney_mig_conn_hint_needed(void *opaque)
{
    return ((ChimneyMigConn *)opaque)->mig_flags.db_hint;
}

static const VMStateDescription vmstate_chimney_conn_hint = {
    .name = "chimney-nic/conn/db-hint",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = chimney_mig_conn_hint_needed,
    .fields = (const VMStateField[]) {
        CHIMNEY_MIG_FLAG(db_hint),
        VMSTATE_END_OF_LIST()
    },
};

/* Each element of the load array starts clean: no stray pointers. */
static int chimney_mig_conn_pre_load(void *opaque)
{
    memset(opaque, 0, sizeof(ChimneyMigConn));
    return 0;
}

/* A connection in three parts: scalars and sizes, arrays, its buffer */
static const VMStateDescription vmstate_chimney_conn = {
    .name = "chimney-nic/conn",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_load = chimney_mig_conn_pre_load,
    .subsections = (const VMStateDescription * const []) {
        &vmstate_chimney_conn_hint,
        NULL
    },
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(index, ChimneyConn),
        VMSTATE_UINT8(gen, ChimneyConn),
        VMSTATE_UINT32(path, ChimneyConn),
        CHIMNEY_MIG_STAGE_U32(cq, mig_cq),
        VMSTATE_UINT64(mig_key4, ChimneyMigConn),
        VMSTATE_BOOL(mig_keyed, ChimneyMigConn),
        VMSTATE_STRUCT(sq, ChimneyConn, 1, vmstate_chimney_ring,
                       ChimneyRing),
        VMSTATE_STRUCT(rq, ChimneyConn, 1, vmstate_chimney_ring,
                       ChimneyRing),
        VMSTATE_UINT64(db_record, ChimneyConn),
        CHIMNEY_MIG_FLAG(poisoned),
        VMSTATE_UINT8(sq_failed, ChimneyConn),
        CHIMNEY_MIG_FLAG(terminated),
        CHIMNEY_MIG_FLAG(rq_upload_asked),
        CHIMNEY_MIG_STAGE_U32(pend_cap, mig_pend_cap),
        VMSTATE_UINT32(pend_head, ChimneyConn),
        VMSTATE_UINT32(pend_count, ChimneyConn),
        CHIMNEY_MIG_FLAG(on_flush_list),
        CHIMNEY_MIG_FLAG(on_kick_list),
        CHIMNEY_MIG_FLAG(on_timer_list),
        CHIMNEY_MIG_FLAG(on_wait_list),
        CHIMNEY_MIG_FLAG(on_ind_list),
        CHIMNEY_MIG_FLAG(on_consequence_list),
        /* as the stream always named it; the load derives it again */
        {
            .name = "last_release_ns",
            .size = sizeof(int64_t),
            .info = &vmstate_info_int64,
            .flags = VMS_SINGLE,
            .offset = vmstate_offset_value(ChimneyMigConn, mig_last_release,
                                           int64_t),
        },
        VMSTATE_UINT8(fault_status, ChimneyConn),
        CHIMNEY_MIG_FLAG(fault_consequence),
        VMSTATE_INT32(mig_nsq, ChimneyMigConn),
        VMSTATE_INT32(mig_nrq, ChimneyMigConn),
        VMSTATE_INT32(mig_npend, ChimneyMigConn),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_chimney_conn_arrays = {
    .name = "chimney-nic/conn-arrays",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        CHIMNEY_MIG_SLOTS(slots, mig_slots, mig_nsq),
        CHIMNEY_MIG_VARRAY(reqs, tcp.reqs, mig_nsq, vmstate_chimney_req,
                           ChimneyTcpReq),
        CHIMNEY_MIG_SLOTS(rslots, mig_rslots, mig_nrq),
        CHIMNEY_MIG_VARRAY(recvs, tcp.recvs, mig_nrq, vmstate_chimney_recv,
                           ChimneyTcpRecv),
        CHIMNEY_MIG_VARRAY(pend, pend, mig_npend, vmstate_chimney_pending,
                           ChimneyPending),
        VMSTATE_STRUCT(tcp, ChimneyConn, 1, vmstate_chimney_engine,
                       ChimneyTcpConn),
        VMSTATE_UINT32(mig_rbuf_len, ChimneyMigConn),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_chimney_conn_rbuf = {
    .name = "chimney-nic/conn-rbuf",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        {
            .name = "tcp.rbuf",
            .version_id = 1,
            .size_offset = vmstate_offset_value(ChimneyMigConn, mig_rbuf_len,
                                                uint32_t),
            .info = &vmstate_info_buffer,
            .flags = VMS_VBUFFER | VMS_POINTER | VMS_ALLOC,
            .offset = offsetof(ChimneyMigConn, c.tcp.rbuf),
        },
        VMSTATE_END_OF_LIST()
    },
};

/* The stream's connection fields are ChimneyConn's, at the same offsets */
QEMU_BUILD_BUG_ON(offsetof(ChimneyMigConn, c) != 0);

static bool chimney_mig_conn_sizes_ok(void *opaque, int version_id)
{
    ChimneyMigStage *m = &((ChimneyState *)opaque)->offload.mig;

    for (int32_t i = 0; i < m->nconns; i++) {
        if (!chimney_mig_sizes_ok(&m->conns[i])) {
            return false;
        }
    }
    return true;
}

static bool chimney_mig_conn_rbufs_ok(void *opaque, int version_id)
{
    ChimneyMigStage *m = &((ChimneyState *)opaque)->offload.mig;

    for (int32_t i = 0; i < m->nconns; i++) {
        if (!chimney_mig_rbuf_ok(&m->conns[i])) {
            return false;
        }
    }
    return true;
}

static bool chimney_mig_tables_ok(void *opaque, int version_id)
{
    ChimneyState *s = opaque;
    ChimneyMigStage *m = &s->offload.mig;

    if (m->nneighbors != s->max_neighbors || m->npaths != s->max_paths ||
        m->nconns < 0 || m->nconns > s->max_conns) {
        error_report("chimney-nic: the stream has %" PRId32 " neighbors, %"
                     PRId32 " paths, %" PRId32 " connections; this device "
                     "has max-neighbors=%" PRIu32 " max-paths=%" PRIu32
                     " max-conns=%" PRIu32, m->nneighbors, m->npaths,
                     m->nconns, s->max_neighbors, s->max_paths, s->max_conns);
        return false;
    }
    return true;
}

static bool chimney_mig_text_ok(void *opaque, int version_id)
{
    ChimneyState *s = opaque;

    if (s->offload.mig.fault_text_len > 64 * 1024) {
        error_report("chimney-nic: fault rules of %" PRIu32 " bytes",
                     s->offload.mig.fault_text_len);
        return false;
    }
    return true;
}

static bool chimney_mig_needed(void *opaque)
{
    ChimneyState *s = opaque;

    return s->offload.num_objects > 0;
}

void chimney_migrate_stage_clear(ChimneyMigStage *m)
{
    g_free(m->conns);
    g_free(m->neighbors);
    g_free(m->paths);
    g_free(m->fault_text);
    memset(m, 0, sizeof(*m));
}

static int chimney_mig_pre_save(void *opaque)
{
    ChimneyState *s = opaque;
    ChimneyOffloadState *o = &s->offload;
    ChimneyMigStage *m = &o->mig;
    ChimneyFault *f = &s->fault;

    chimney_migrate_stage_clear(m);
    m->nneighbors = s->max_neighbors;
    m->npaths = s->max_paths;
    m->neighbors = g_memdup2(o->neighbors,
                             sizeof(*o->neighbors) * s->max_neighbors);
    m->paths = g_memdup2(o->paths, sizeof(*o->paths) * s->max_paths);
    m->conns = g_new(ChimneyMigConn, o->num_objects);
    for (uint32_t i = 0; i < s->max_conns; i++) {
        ChimneyConn *c = o->conns[i], *mc;
        ChimneyMigConn *sc;

        if (!c) {
            continue;
        }
        sc = &m->conns[m->nconns++];
        *sc = (ChimneyMigConn) { .c = *c };
        mc = &sc->c;
        sc->mig_nsq = c->tcp.reqs ? c->sq.size : 0;
        sc->mig_nrq = c->tcp.recvs ? c->rq.size : 0;
        sc->mig_slots = chimney_conn_slots(c);
        sc->mig_rslots = chimney_conn_rslots(c);
        /* the FIFO's entries only, oldest first */
        mc->pend = g_new(ChimneyPending, c->pend_count);
        for (uint32_t k = 0; k < c->pend_count; k++) {
            mc->pend[k] = c->pend[(c->pend_head + k) %
                                  chimney_conn_pend_cap(c)];
        }
        mc->pend_head = 0;
        sc->mig_npend = c->pend_count;
        sc->mig_cq = chimney_conn_cq(c);
        sc->mig_pend_cap = chimney_conn_pend_cap(c);
        /* any time not after now means none, as for an empty FIFO */
        sc->mig_last_release = MAX(chimney_conn_last_release(c), 0);
        mc->tcp.ooo = c->tcp.ooo ?: (ChimneyTcpRange *)chimney_mig_no_ooo;
        /* the receive buffer's bytes in use, unrolled from its head */
        sc->mig_rbuf_len = c->tcp.rbuf ? MIN(chimney_migrate_rbuf_used(&c->tcp),
                                             c->tcp.rbuf_cap) : 0;
        mc->tcp.rbuf = NULL;
        if (sc->mig_rbuf_len) {
            uint32_t len = sc->mig_rbuf_len, head = c->tcp.rbuf_head;
            uint32_t first = MIN(len, c->tcp.rbuf_cap - head);

            mc->tcp.rbuf = g_malloc(len);
            memcpy(mc->tcp.rbuf, c->tcp.rbuf + head, first);
            memcpy(mc->tcp.rbuf + first, c->tcp.rbuf, len - first);
            mc->tcp.rbuf_head = 0;
        }
        sc->mig_keyed = g_hash_table_lookup(o->by_key, &c->tcp) == c;
        chimney_mig_flags_save(&sc->mig_flags, c);
        chimney_tcp_query(&c->tcp, &sc->mig_st);
        chimney_mig_tcp_save(&sc->mig_tcp, &c->tcp);
        /*
         * Where the stream had the IPv4 key before 1.3 (the load derives
         * the key from the state): an IPv4 connection's stream stays
         * loadable by the previous version.
         */
        sc->mig_key4 = c->tcp.route->ipv6 ? 0 :
                       (uint64_t)c->tcp.route->dst_ip << 32 |
                       (uint32_t)c->tcp.st.remote_port << 16 |
                       c->tcp.st.local_port;
    }
    m->ip_id = o->tcp->ip_id;
    if (f->text && f->text[0]) {
        m->fault_text = g_strdup(f->text);
        m->fault_text_len = strlen(f->text) + 1;
    }
    m->fault_rng = f->rng;
    m->fault_seq = f->seq;
    for (int i = 0; i < f->nrules; i++) {
        m->rule_matched[i] = f->rules[i].matched;
        m->rule_fired[i] = f->rules[i].fired;
    }
    return 0;
}

static int chimney_mig_post_save(void *opaque)
{
    ChimneyState *s = opaque;

    for (int32_t i = 0; i < s->offload.mig.nconns; i++) {
        g_free(s->offload.mig.conns[i].c.pend);
        g_free(s->offload.mig.conns[i].c.tcp.rbuf);
    }
    chimney_migrate_stage_clear(&s->offload.mig);
    return 0;
}

static bool chimney_mig_vlan_dropped_needed(void *opaque)
{
    ChimneyState *s = opaque;

    return s->stats.rx_vlan_dropped != 0;
}

/* A counter newer than the offload section: absent while it is zero */
static const VMStateDescription vmstate_chimney_vlan_dropped = {
    .name = "chimney-nic/offload/rx-vlan-dropped",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = chimney_mig_vlan_dropped_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(stats.rx_vlan_dropped, ChimneyState),
        VMSTATE_END_OF_LIST()
    },
};

static bool chimney_mig_tx_held_needed(void *opaque)
{
    ChimneyState *s = opaque;

    return s->stats.tx_held != 0;
}

static const VMStateDescription vmstate_chimney_tx_held = {
    .name = "chimney-nic/offload/tx-held",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = chimney_mig_tx_held_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(stats.tx_held, ChimneyState),
        VMSTATE_END_OF_LIST()
    },
};

const VMStateDescription vmstate_chimney_offload = {
    .name = "chimney-nic/offload",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = chimney_mig_needed,
    .pre_save = chimney_mig_pre_save,
    .post_save = chimney_mig_post_save,
    .fields = (const VMStateField[]) {
        VMSTATE_INT32(offload.mig.nneighbors, ChimneyState),
        VMSTATE_INT32(offload.mig.npaths, ChimneyState),
        VMSTATE_INT32(offload.mig.nconns, ChimneyState),
        VMSTATE_VALIDATE("table sizes", chimney_mig_tables_ok),
        VMSTATE_STRUCT_VARRAY_ALLOC(offload.mig.neighbors, ChimneyState,
                                    offload.mig.nneighbors, 1,
                                    vmstate_chimney_neighbor,
                                    ChimneyNeighbor),
        VMSTATE_STRUCT_VARRAY_ALLOC(offload.mig.paths, ChimneyState,
                                    offload.mig.npaths, 1,
                                    vmstate_chimney_path, ChimneyPath),
        VMSTATE_STRUCT_VARRAY_ALLOC(offload.mig.conns, ChimneyState,
                                    offload.mig.nconns, 1,
                                    vmstate_chimney_conn, ChimneyMigConn),
        VMSTATE_VALIDATE("queue sizes", chimney_mig_conn_sizes_ok),
        VMSTATE_STRUCT_VARRAY_POINTER_INT32(offload.mig.conns, ChimneyState,
                                            offload.mig.nconns,
                                            vmstate_chimney_conn_arrays,
                                            ChimneyMigConn),
        VMSTATE_VALIDATE("receive buffer sizes", chimney_mig_conn_rbufs_ok),
        VMSTATE_STRUCT_VARRAY_POINTER_INT32(offload.mig.conns, ChimneyState,
                                            offload.mig.nconns,
                                            vmstate_chimney_conn_rbuf,
                                            ChimneyMigConn),
        VMSTATE_UINT16(offload.mig.ip_id, ChimneyState),
        VMSTATE_UINT64(offload.mig.fault_rng, ChimneyState),
        VMSTATE_UINT64(offload.mig.fault_seq, ChimneyState),
        VMSTATE_UINT64_ARRAY(offload.mig.rule_matched, ChimneyState,
                             CHIMNEY_FAULT_MAX_RULES),
        VMSTATE_UINT64_ARRAY(offload.mig.rule_fired, ChimneyState,
                             CHIMNEY_FAULT_MAX_RULES),
        VMSTATE_UINT32(offload.mig.fault_text_len, ChimneyState),
        VMSTATE_VALIDATE("fault rules size", chimney_mig_text_ok),
        VMSTATE_VBUFFER_ALLOC_UINT32(offload.mig.fault_text, ChimneyState, 1,
                                     NULL, offload.mig.fault_text_len),
        VMSTATE_UINT64(fault.stats.seen, ChimneyState),
        VMSTATE_UINT64(fault.stats.delayed, ChimneyState),
        VMSTATE_UINT64(fault.stats.held, ChimneyState),
        VMSTATE_UINT64(fault.stats.released, ChimneyState),
        VMSTATE_UINT64(fault.stats.failed, ChimneyState),
        VMSTATE_UINT64(fault.stats.reordered, ChimneyState),
        VMSTATE_UINT64(fault.stats.coalesced, ChimneyState),
        VMSTATE_UINT64(fault.stats.irq_delayed, ChimneyState),
        VMSTATE_UINT64(fault.stats.irq_dropped, ChimneyState),
        VMSTATE_INT64_ARRAY(fault.irq_due, ChimneyState, CHIMNEY_MAX_CQS),
        VMSTATE_UINT32(fault.coalesce_waiting, ChimneyState),
        VMSTATE_UINT64(fault.coalesce_gen, ChimneyState),
        VMSTATE_INT64(fault.coalesce_deadline, ChimneyState),
        VMSTATE_TIMER_PTR(fault.timer, ChimneyState),
        VMSTATE_TIMER_PTR(fault.irq_timer, ChimneyState),
        VMSTATE_UINT64(stats.tx_frames, ChimneyState),
        VMSTATE_UINT64(stats.rx_frames, ChimneyState),
        VMSTATE_UINT64(stats.rx_dropped, ChimneyState),
        VMSTATE_UINT64(stats.stale_doorbells, ChimneyState),
        VMSTATE_UINT64(stats.to_host, ChimneyState),
        VMSTATE_UINT64(stats.indications, ChimneyState),
        VMSTATE_UINT64(stats.forwarded, ChimneyState),
        VMSTATE_UINT64(stats.rx_backlogged, ChimneyState),
        VMSTATE_UINT64(stats.rx_backlog_dropped, ChimneyState),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_chimney_vlan_dropped,
        &vmstate_chimney_tx_held,
        NULL
    },
};
