/*
 * chimney-nic: the offload admin commands
 *
 * OFFLOAD_NEIGHBOR / PATH / TCP, UPDATE, QUERY_TCP, INVALIDATE,
 * TERMINATE and FORWARD build, change, read back and tear down the
 * chimney state tree: neighbors, paths and TCP connections.  Every value
 * a command brings from guest memory is checked here before the engine
 * sees it.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/net/chimney/chimney.h"
#include "hw/net/chimney/chimney-io.h"
#include "hw/net/chimney/chimney-offload.h"
#include "hw/net/chimney/chimney-pmtu.h"
#include "trace.h"

void chimney_offload_init(ChimneyState *s)
{
    chimney_conn_table_init(s);
    chimney_io_stack_init(s);
}

void chimney_offload_reset(ChimneyState *s)
{
    s->offload.closed_segs_in = 0;
    s->offload.closed_segs_out = 0;
    s->offload.closed_bytes_in = 0;
    s->offload.closed_bytes_out = 0;
    s->offload.closed_retransmits = 0;
    s->offload.mtu_event_waiting = false;
    chimney_conn_table_reset(s);
    chimney_io_stack_init(s);
}

void chimney_offload_exit(ChimneyState *s)
{
    chimney_conn_table_exit(s);
}

void chimney_offload_set_params(ChimneyState *s)
{
    ChimneyTcpStack *tcp = s->offload.tcp;

    tcp->tick_ns = NANOSECONDS_PER_SECOND /
                   s->params[CHIMNEY_PARAM_TICKS_PER_SECOND];
    tcp->dup_ack_thresh = s->params[CHIMNEY_PARAM_DUP_ACK_THRESH];
    tcp->max_retransmit = s->params[CHIMNEY_PARAM_MAX_RETRANSMIT];
    tcp->ack_frequency = s->params[CHIMNEY_PARAM_ACK_FREQUENCY];
    tcp->delack_ns = s->params[CHIMNEY_PARAM_DELAYED_ACK_TICKS] *
                     tcp->tick_ns;
    /* Windows' default push time when the host gives none */
    tcp->push_ns = s->params[CHIMNEY_PARAM_PUSH_TICKS] ?
                   s->params[CHIMNEY_PARAM_PUSH_TICKS] * tcp->tick_ns :
                   500 * SCALE_MS;
    tcp->sws_ns = s->params[CHIMNEY_PARAM_SWS_TICKS] ?
                  s->params[CHIMNEY_PARAM_SWS_TICKS] * tcp->tick_ns :
                  200 * SCALE_MS;
}

static uint8_t chimney_offload_neighbor(ChimneyState *s, uint32_t id,
                                        uint64_t addr)
{
    ChimneyNeighborState st;
    ChimneyNeighbor *n;

    if (id >= s->max_neighbors || s->offload.neighbors[id].valid) {
        CHIMNEY_GUEST_ERR(chimney_err_neighbor_id, "neighbor %" PRIu32
                          " unusable", id);
        return id >= s->max_neighbors ? CHIMNEY_ST_INVALID_ID :
                                        CHIMNEY_ST_INVALID_STATE;
    }
    if (!chimney_dma_read(s, addr, &st, sizeof(st))) {
        return CHIMNEY_ST_DMA_ERROR;
    }
    if (le16_to_cpu(st.vlan_id) > 4094) {
        CHIMNEY_GUEST_ERR(chimney_err_neighbor_vlan, "VLAN %" PRIu16,
                          le16_to_cpu(st.vlan_id));
        return CHIMNEY_ST_INVALID_PARAM;
    }
    n = &s->offload.neighbors[id];
    *n = (ChimneyNeighbor) { .valid = true, .vlan = le16_to_cpu(st.vlan_id) };
    memcpy(n->src_mac, st.src_mac, 6);
    memcpy(n->dst_mac, st.dst_mac, 6);
    s->offload.num_objects++;
    return CHIMNEY_ST_SUCCESS;
}

/* A path's neighbor and MTU, for either family */
static bool chimney_offload_path_ok(ChimneyState *s, uint32_t id, uint32_t nb,
                                    uint32_t mtu, bool ipv6)
{
    uint32_t min = ipv6 ? CHIMNEY_IPV6_MIN_MTU : 68;

    if (nb >= s->max_neighbors || !s->offload.neighbors[nb].valid ||
        mtu < min || mtu > 9000) {
        CHIMNEY_GUEST_ERR(chimney_err_path, "path %" PRIu32 ": neighbor %"
                          PRIu32 " MTU %" PRIu32 " refused", id, nb, mtu);
        return false;
    }
    return true;
}

/* Neither end of an offloaded IPv6 path is unspecified or multicast */
static bool chimney_offload_ip6_unicast(const uint8_t *a)
{
    static const uint8_t zero[16];

    return a[0] != 0xff && memcmp(a, zero, 16);
}

/*
 * The block of a path of family @ipv6 at @addr: its neighbor, MTU and
 * addresses in @out (valid and refs untouched).  Returns false when it
 * could not be read.
 */
static bool chimney_offload_read_path(ChimneyState *s, uint64_t addr,
                                      bool ipv6, ChimneyPath *out)
{
    if (ipv6) {
        ChimneyPath6State st;

        if (!chimney_dma_read(s, addr, &st, sizeof(st))) {
            return false;
        }
        out->neighbor = le32_to_cpu(st.neighbor);
        out->mtu = le32_to_cpu(st.path_mtu);
        memcpy(out->src_ip6, st.src_ip, 16);
        memcpy(out->dst_ip6, st.dst_ip, 16);
    } else {
        ChimneyPathState st;

        if (!chimney_dma_read(s, addr, &st, sizeof(st))) {
            return false;
        }
        out->neighbor = le32_to_cpu(st.neighbor);
        out->mtu = le32_to_cpu(st.path_mtu);
        memcpy(&out->src_ip, st.src_ip, 4);
        memcpy(&out->dst_ip, st.dst_ip, 4);
    }
    out->ipv6 = ipv6;
    return true;
}

/*
 * The route path @id's connections share, from the path and its
 * neighbor: allocated when the path is offloaded or loaded, built again
 * at a relink, changed with its neighbor's MAC (UPDATE) and its MTU, and
 * freed when the path is terminated (it has no connection then).
 */
void chimney_offload_route(ChimneyState *s, uint32_t id)
{
    ChimneyPath *p = &s->offload.paths[id];
    const ChimneyNeighbor *n = &s->offload.neighbors[p->neighbor];
    ChimneyTcpRoute *r;

    if (!p->route) {
        p->route = g_new(ChimneyTcpRoute, 1);
    }
    r = p->route;
    *r = (ChimneyTcpRoute) {
        .stack = s->offload.tcp,
        .vlan = n->vlan,
        .ipv6 = p->ipv6,
        .src_ip = p->src_ip,
        .dst_ip = p->dst_ip,
        .path_mtu = p->mtu,
    };
    memcpy(r->src_mac, n->src_mac, 6);
    memcpy(r->dst_mac, n->dst_mac, 6);
    memcpy(r->src_ip6, p->src_ip6, 16);
    memcpy(r->dst_ip6, p->dst_ip6, 16);
}

static uint8_t chimney_offload_path(ChimneyState *s, uint32_t id,
                                    uint64_t addr, uint32_t family)
{
    ChimneyPath path = { .valid = true };

    if (id >= s->max_paths) {
        return CHIMNEY_ST_INVALID_ID;
    }
    if (s->offload.paths[id].valid) {
        return CHIMNEY_ST_INVALID_STATE;
    }
    if (family && family != CHIMNEY_PATH_IPV4 &&
        family != CHIMNEY_PATH_IPV6) {
        CHIMNEY_GUEST_ERR(chimney_err_path_family, "path %" PRIu32
                          ": address family %" PRIu32, id, family);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    if (!chimney_offload_read_path(s, addr, family == CHIMNEY_PATH_IPV6,
                                   &path)) {
        return CHIMNEY_ST_DMA_ERROR;
    }
    if (path.ipv6 && (!chimney_offload_ip6_unicast(path.src_ip6) ||
                      !chimney_offload_ip6_unicast(path.dst_ip6))) {
        CHIMNEY_GUEST_ERR(chimney_err_path_addr, "path %" PRIu32 ": an IPv6 "
                          "address is unspecified or multicast", id);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    if (!chimney_offload_path_ok(s, id, path.neighbor, path.mtu, path.ipv6)) {
        return CHIMNEY_ST_INVALID_PARAM;
    }
    s->offload.paths[id] = path;
    chimney_offload_route(s, id);
    s->offload.neighbors[path.neighbor].refs++;
    s->offload.num_objects++;
    return CHIMNEY_ST_SUCCESS;
}

static void chimney_offload_delegated_to_le(ChimneyTcpDelegated *d,
                                            const ChimneyTcpState *st,
                                            uint32_t head, uint32_t held)
{
    *d = (ChimneyTcpDelegated) {
        .state = cpu_to_le32(st->state),
        .rcv_nxt = cpu_to_le32(st->rcv_nxt),
        .rcv_wnd = cpu_to_le32(st->rcv_wnd),
        .snd_una = cpu_to_le32(st->snd_una),
        .snd_nxt = cpu_to_le32(st->snd_nxt),
        .snd_max = cpu_to_le32(st->snd_max),
        .snd_wnd = cpu_to_le32(st->snd_wnd),
        .max_snd_wnd = cpu_to_le32(st->max_snd_wnd),
        .snd_wl1 = cpu_to_le32(st->snd_wl1),
        .cwnd = cpu_to_le32(st->cwnd),
        .ssthresh = cpu_to_le32(st->ssthresh),
        .srtt = cpu_to_le16(st->srtt_x8),
        .rttvar = cpu_to_le16(st->rttvar_x4),
        .ts_recent = cpu_to_le32(st->ts_recent),
        .ts_recent_age = cpu_to_le32(st->ts_recent_age),
        .ts_time = cpu_to_le32(st->ts_time),
        .total_rt = cpu_to_le32(st->total_rt),
        .dup_ack_count = st->dup_ack_count,
        .snd_wnd_probe_count = st->snd_wnd_probe_count,
        .rexmit_count = st->rexmit_count,
        .ka_probe_count = st->ka_probes,
        .ka_timeout_delta = cpu_to_le32(st->ka_delta),
        .rexmit_timeout_delta = cpu_to_le32(st->rexmit_delta),
        .send_backlog = cpu_to_le32(0xffffffff),
        .sq_head = cpu_to_le32(head),
        .rcv_held = cpu_to_le32(held),
    };
}

/* The TCP block: everything but the engine's own fields, checked. */
static uint8_t chimney_offload_tcp_state(ChimneyState *s,
                                         const ChimneyTcpOffload *o,
                                         ChimneyTcpState *st)
{
    const ChimneyTcpDelegated *d = &o->delegated;
    uint16_t cflags = le16_to_cpu(o->const_flags);
    uint32_t path = le32_to_cpu(o->path);
    const ChimneyPath *p;
    const ChimneyNeighbor *n;
    const char *why;

    if (path >= s->max_paths || !s->offload.paths[path].valid ||
        s->offload.paths[path].invalidated) {
        CHIMNEY_GUEST_ERR(chimney_err_tcp_path, "OFFLOAD_TCP path %" PRIu32,
                          path);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    p = &s->offload.paths[path];
    n = &s->offload.neighbors[p->neighbor];
    *st = (ChimneyTcpState) {
        .vlan = n->vlan,
        .ipv6 = p->ipv6,
        .src_ip = p->src_ip,
        .dst_ip = p->dst_ip,
        .path_mtu = p->mtu,
        .local_port = le16_to_cpu(o->local_port),
        .remote_port = le16_to_cpu(o->remote_port),
        .remote_mss = le16_to_cpu(o->remote_mss),
        .snd_wscale = o->snd_wscale,
        .rcv_wscale = o->rcv_wscale,
        .ts_enabled = cflags & CHIMNEY_TCPF_TIMESTAMPS,
        .sack_enabled = cflags & CHIMNEY_TCPF_SACK,
        .wscale_enabled = cflags & CHIMNEY_TCPF_WINDOW_SCALING,
        .ttl = o->ttl ? o->ttl : 128,
        .tos = o->tos,
        .flow_label = le32_to_cpu(o->flow_label),
        .user_priority = o->user_priority,
        .initial_rcv_wnd = le32_to_cpu(o->initial_rcv_wnd),
        .max_rt = le32_to_cpu(o->max_rt),
        .nagle = le16_to_cpu(o->cached_flags) & CHIMNEY_TCPC_NAGLE,
        .keepalive = le16_to_cpu(o->cached_flags) & CHIMNEY_TCPC_KEEPALIVE,
        .ka_timeout = le32_to_cpu(o->ka_timeout),
        .ka_interval = le32_to_cpu(o->ka_interval),
        .ka_probe_count = o->ka_probe_count,
        .rcv_indication_size = le32_to_cpu(o->rcv_indication_size),
        .state = le32_to_cpu(d->state),
        .rcv_nxt = le32_to_cpu(d->rcv_nxt),
        .rcv_wnd = le32_to_cpu(d->rcv_wnd),
        .snd_una = le32_to_cpu(d->snd_una),
        .snd_nxt = le32_to_cpu(d->snd_nxt),
        .snd_max = le32_to_cpu(d->snd_max),
        .snd_wnd = le32_to_cpu(d->snd_wnd),
        .max_snd_wnd = le32_to_cpu(d->max_snd_wnd),
        .snd_wl1 = le32_to_cpu(d->snd_wl1),
        .cwnd = le32_to_cpu(d->cwnd),
        .ssthresh = le32_to_cpu(d->ssthresh),
        .srtt_x8 = le16_to_cpu(d->srtt),
        .rttvar_x4 = le16_to_cpu(d->rttvar),
        .ts_recent = le32_to_cpu(d->ts_recent),
        .ts_recent_age = le32_to_cpu(d->ts_recent_age),
        .ts_time = le32_to_cpu(d->ts_time),
        .total_rt = le32_to_cpu(d->total_rt),
        .dup_ack_count = d->dup_ack_count,
        .snd_wnd_probe_count = d->snd_wnd_probe_count,
        .rexmit_count = d->rexmit_count,
        .rexmit_delta = le32_to_cpu(d->rexmit_timeout_delta),
        .ka_probes = d->ka_probe_count,
        .ka_delta = le32_to_cpu(d->ka_timeout_delta),
    };
    memcpy(st->src_mac, n->src_mac, 6);
    memcpy(st->dst_mac, n->dst_mac, 6);
    memcpy(st->src_ip6, p->src_ip6, 16);
    memcpy(st->dst_ip6, p->dst_ip6, 16);
    why = chimney_tcp_state_check(st);
    if (why) {
        CHIMNEY_GUEST_ERR(chimney_err_tcp_state, "OFFLOAD_TCP: %s", why);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    return CHIMNEY_ST_SUCCESS;
}

/*
 * A connection's block: a 1.2 driver's has no 1.3 tail, which then reads
 * as zero.
 */
static uint8_t chimney_offload_read_tcp_block(ChimneyState *s, uint64_t addr,
                                              uint32_t len,
                                              ChimneyTcpOffload *o)
{
    if (!len) {
        len = CHIMNEY_TCP_OFFLOAD_SIZE_1_2;
    }
    if (len != CHIMNEY_TCP_OFFLOAD_SIZE_1_2 &&
        len != CHIMNEY_TCP_OFFLOAD_SIZE) {
        CHIMNEY_GUEST_ERR(chimney_err_tcp_block_len,
                          "TCP block of %" PRIu32 " bytes", len);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    memset(o, 0, sizeof(*o));
    if (!chimney_dma_read(s, addr, o, len)) {
        return CHIMNEY_ST_DMA_ERROR;
    }
    return CHIMNEY_ST_SUCCESS;
}

static uint8_t chimney_offload_tcp(ChimneyState *s, uint32_t id,
                                   uint64_t addr, uint32_t len)
{
    uint32_t index = CHIMNEY_CONN_INDEX(id);
    ChimneyTcpOffload o;
    ChimneyTcpState st;
    ChimneyConn *conn;
    uint64_t sq_base, dbr, rq_base;
    uint32_t sq_size, cq, handover, rq_size, buffered;
    uint16_t flags;
    uint64_t handed;
    uint8_t status;

    if (!s->params_set) {
        CHIMNEY_GUEST_ERR(chimney_err_tcp_no_params,
                          "OFFLOAD_TCP before SET_PARAMS");
        return CHIMNEY_ST_INVALID_STATE;
    }
    if (index >= s->max_conns || (id & 0x00f00000)) {
        return CHIMNEY_ST_INVALID_ID;
    }
    if (s->offload.conns[index]) {
        return CHIMNEY_ST_INVALID_STATE;
    }
    status = chimney_offload_read_tcp_block(s, addr, len, &o);
    if (status) {
        return status;
    }
    status = chimney_offload_tcp_state(s, &o, &st);
    if (status) {
        return status;
    }
    sq_base = le64_to_cpu(o.sq_base);
    sq_size = le32_to_cpu(o.sq_size);
    handover = le32_to_cpu(o.handover);
    dbr = le64_to_cpu(o.db_record);
    cq = le32_to_cpu(o.cq);
    rq_base = le64_to_cpu(o.rq_base);
    rq_size = le32_to_cpu(o.rq_size);
    buffered = le32_to_cpu(o.buffered_len);
    flags = le16_to_cpu(o.offload_flags);
    if (flags & ~CHIMNEY_TCPO_DB_HINT) {
        CHIMNEY_GUEST_ERR(chimney_err_tcp_flags, "OFFLOAD_TCP: unknown "
                          "offload flags 0x%" PRIx16, flags);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    if (!chimney_ring_geometry_valid(sq_base, sq_size, sizeof(ChimneySqDesc)) ||
        handover >= sq_size || !QEMU_IS_ALIGNED(dbr, 4) ||
        (rq_size &&
         !chimney_ring_geometry_valid(rq_base, rq_size,
                                      sizeof(ChimneySqDesc))) ||
        buffered > CHIMNEY_TCP_RCVBUF_MAX ||
        cq == CHIMNEY_ADMIN_CQ_ID || cq >= s->num_cqs || !s->cq[cq].size) {
        CHIMNEY_GUEST_ERR(chimney_err_tcp_queues, "OFFLOAD_TCP queues "
                          "refused (SQ 0x%" PRIx64 "/%" PRIu32 " handover %"
                          PRIu32 " RQ 0x%" PRIx64 "/%" PRIu32 " buffered %"
                          PRIu32 " CQ %" PRIu32 ")", sq_base, sq_size,
                          handover, rq_base, rq_size, buffered, cq);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    /* Device memory follows the queue sizes: keep their sum bounded */
    if (sq_size + rq_size > s->max_sq_entries - s->offload.sq_entries_used) {
        CHIMNEY_GUEST_ERR(chimney_err_tcp_budget, "OFFLOAD_TCP: %" PRIu32
                          " queue entries over the device's budget (%" PRIu32
                          " of %" PRIu32 " used)", sq_size + rq_size,
                          s->offload.sq_entries_used, s->max_sq_entries);
        return CHIMNEY_ST_NO_RESOURCES;
    }

    conn = g_new0(ChimneyConn, 1);
    conn->index = index;
    conn->gen = CHIMNEY_CONN_GEN(id);
    conn->path = le32_to_cpu(o.path);
    conn->sq = (ChimneyRing) { .base = sq_base, .size = sq_size, .cq = cq };
    conn->db_record = dbr;
    conn->db_hint = flags & CHIMNEY_TCPO_DB_HINT;
    conn->rq = (ChimneyRing) { .base = rq_base, .size = rq_size, .cq = cq };
    /* The per-request arrays come with the first request */
    chimney_tcp_conn_init(&conn->tcp, s->offload.tcp, &st,
                          s->offload.paths[conn->path].route, NULL,
                          sq_size, NULL, rq_size);
    if (handover) {
        chimney_conn_sq_arrays(conn);
    }

    /*
     * The data outstanding at offload: [SndUna, SndMax) must lie in what
     * was handed over.  Unsigned distances: the state check keeps
     * SndMax - SndUna below 2^31, each request is below 1 GiB.
     */
    status = CHIMNEY_ST_SUCCESS;
    handed = 0;
    for (uint32_t i = 0; i < handover; i++) {
        ChimneyTcpReq req;

        if (!chimney_io_sq_fetch(conn, i, &req)) {
            status = CHIMNEY_ST_DMA_ERROR;
            break;
        }
        if (chimney_conn_slots(conn)[i].status ||
            req.type != CHIMNEY_TCP_REQ_SEND ||
            !chimney_tcp_handover(&conn->tcp, &req)) {
            status = CHIMNEY_ST_INVALID_PARAM;
            break;
        }
        handed += req.len;
    }
    if (!status && st.snd_max - st.snd_una > handed) {
        CHIMNEY_GUEST_ERR(chimney_err_tcp_snd_max, "OFFLOAD_TCP: SndMax %"
                          PRIu32 " beyond the handed-over data (%" PRIu64
                          " bytes from SndUna)", st.snd_max, handed);
        status = CHIMNEY_ST_INVALID_PARAM;
    }
    if (!status && buffered) {
        /* Received data the host buffered: ours before the offload ends */
        g_autofree uint8_t *data = g_malloc(buffered);

        if (!chimney_dma_read(s, le64_to_cpu(o.buffered_addr), data,
                              buffered)) {
            status = CHIMNEY_ST_DMA_ERROR;
        } else if (!chimney_tcp_preload(&conn->tcp, data, buffered)) {
            CHIMNEY_GUEST_ERR(chimney_err_tcp_buffered, "OFFLOAD_TCP: %"
                              PRIu32 " buffered bytes exceed the receive "
                              "buffer", buffered);
            status = CHIMNEY_ST_INVALID_PARAM;
        }
    }
    if (!status && g_hash_table_contains(s->offload.by_key, &conn->tcp)) {
        CHIMNEY_GUEST_ERR(chimney_err_tcp_duplicate,
                          "OFFLOAD_TCP: 4-tuple already offloaded");
        status = CHIMNEY_ST_INVALID_STATE;
    }
    /* RING until the device says otherwise; a record it can write */
    if (!status && conn->db_hint && !chimney_io_hint_store(conn, false)) {
        status = CHIMNEY_ST_DMA_ERROR;
    }
    if (status) {
        /* Never touched, never completed: the host keeps those requests */
        chimney_conn_destroy(conn);
        return status;
    }
    conn->sq.head = handover;
    conn->sq.tail = handover;
    chimney_conn_insert(s, conn);
    trace_chimney_conn_offload(index, st.local_port, st.remote_port,
                              st.snd_una, handover);
    chimney_tcp_start(&conn->tcp);
    chimney_io_hint_update(conn);
    return CHIMNEY_ST_SUCCESS;
}

/*
 * UPDATE of a path with CHIMNEY_UPDATE_PATH_RELINK: the next hop changed.
 * The path's reference moves to the new neighbor (so that the old one can
 * be terminated) and its connections (through its route) send to the new
 * MAC and VLAN id,
 * and receive by the new id's 802.1Q rules (the classifier's key has no
 * VLAN, so nothing is re-keyed).  Connections that an invalidation
 * already asked to upload stay frozen.
 */
static uint8_t chimney_offload_relink(ChimneyState *s, uint32_t id,
                                      uint32_t nb)
{
    ChimneyOffloadState *o = &s->offload;
    ChimneyPath *p = &o->paths[id];

    if (nb >= s->max_neighbors || !o->neighbors[nb].valid ||
        o->neighbors[nb].invalidated) {
        CHIMNEY_GUEST_ERR(chimney_err_path_relink, "path %" PRIu32
                          ": relink to neighbor %" PRIu32 " refused", id, nb);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    o->neighbors[p->neighbor].refs--;
    o->neighbors[nb].refs++;
    p->neighbor = nb;
    chimney_offload_route(s, id);
    return CHIMNEY_ST_SUCCESS;
}

static uint8_t chimney_offload_update(ChimneyState *s, uint32_t type,
                                      uint32_t id, uint64_t addr,
                                      uint32_t flags)
{
    if (flags & ~(type == CHIMNEY_OBJ_PATH ? CHIMNEY_UPDATE_PATH_RELINK : 0)) {
        CHIMNEY_GUEST_ERR(chimney_err_update_flags, "UPDATE of object type %"
                          PRIu32 ": flags 0x%" PRIx32, type, flags);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    switch (type) {
    case CHIMNEY_OBJ_NEIGHBOR: {
        ChimneyNeighborState st;

        if (id >= s->max_neighbors || !s->offload.neighbors[id].valid) {
            return CHIMNEY_ST_INVALID_ID;
        }
        if (!chimney_dma_read(s, addr, &st, sizeof(st))) {
            return CHIMNEY_ST_DMA_ERROR;
        }
        memcpy(s->offload.neighbors[id].dst_mac, st.dst_mac, 6);
        /* the routes of its paths, so every connection on them */
        for (uint32_t i = 0; i < s->max_paths; i++) {
            ChimneyPath *p = &s->offload.paths[i];

            if (p->valid && p->neighbor == id) {
                memcpy(p->route->dst_mac, st.dst_mac, 6);
            }
        }
        return CHIMNEY_ST_SUCCESS;
    }
    case CHIMNEY_OBJ_PATH: {
        ChimneyPath st = { 0 };
        ChimneyPath *p;
        uint8_t status;

        if (id >= s->max_paths || !s->offload.paths[id].valid) {
            return CHIMNEY_ST_INVALID_ID;
        }
        p = &s->offload.paths[id];
        /*
         * The block of the path's own family: only the MTU and, with
         * RELINK, the neighbor change (the relink checks the new one).
         */
        if (!chimney_offload_read_path(s, addr, p->ipv6, &st)) {
            return CHIMNEY_ST_DMA_ERROR;
        }
        if (!chimney_offload_path_ok(s, id, p->neighbor, st.mtu, p->ipv6)) {
            return CHIMNEY_ST_INVALID_PARAM;
        }
        if (flags & CHIMNEY_UPDATE_PATH_RELINK) {
            status = chimney_offload_relink(s, id, st.neighbor);
            if (status) {
                return status;
            }
        }
        chimney_pmtu_set(s, id, st.mtu);
        return CHIMNEY_ST_SUCCESS;
    }
    default:
        return CHIMNEY_ST_INVALID_PARAM;
    }
}

/* UPDATE of a connection's cached variables */
static uint8_t chimney_offload_update_tcp(ChimneyConn *conn, uint64_t addr,
                                          uint32_t len)
{
    ChimneyTcpOffload o;
    ChimneyTcpVars *st = &conn->tcp.st;
    uint8_t status = chimney_offload_read_tcp_block(chimney_conn_dev(conn),
                                                    addr, len, &o);

    if (status) {
        return status;
    }
    if (le32_to_cpu(o.flow_label) > CHIMNEY_TCP_FLOW_LABEL_MAX ||
        o.user_priority > 7) {
        CHIMNEY_GUEST_ERR(chimney_err_tcp_cached, "UPDATE of connection %"
                          PRIu32 ": flow label 0x%" PRIx32 " priority %u",
                          conn->index, le32_to_cpu(o.flow_label),
                          o.user_priority);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    st->ttl = o.ttl ? o.ttl : 128;
    st->tos = o.tos;
    st->flow_label = le32_to_cpu(o.flow_label);
    st->user_priority = o.user_priority;
    st->max_rt = le32_to_cpu(o.max_rt);
    st->nagle = le16_to_cpu(o.cached_flags) & CHIMNEY_TCPC_NAGLE;
    st->ka_timeout = le32_to_cpu(o.ka_timeout);
    st->ka_interval = le32_to_cpu(o.ka_interval);
    st->ka_probe_count = o.ka_probe_count;
    st->rcv_indication_size = le32_to_cpu(o.rcv_indication_size);
    chimney_tcp_set_keepalive(&conn->tcp, le16_to_cpu(o.cached_flags) &
                                          CHIMNEY_TCPC_KEEPALIVE);
    /* TCP_FLAG_UPDATE_RCV_WND: a larger window opens at once */
    chimney_tcp_set_rcv_wnd(&conn->tcp, le32_to_cpu(o.initial_rcv_wnd));
    return CHIMNEY_ST_SUCCESS;
}

static uint8_t chimney_offload_query_tcp(ChimneyConn *conn, uint64_t addr,
                                 bool terminate)
{
    ChimneyState *s = chimney_conn_dev(conn);
    ChimneyTcpState st;
    ChimneyTcpDelegated d;
    uint32_t head;

    if (terminate) {
        chimney_tcp_terminate(&conn->tcp, &st);
    } else {
        chimney_tcp_query(&conn->tcp, &st);
    }
    /*
     * sq_head: the first SQ entry not yet completed, as the spec says: the
     * oldest request the engine holds, else the next entry to fetch (every
     * one fetched has completed; TERMINATE has just completed them all).
     * Completions still in the FIFO come before this command's.
     */
    if (!chimney_tcp_first_tag(&conn->tcp, &head)) {
        head = conn->sq.head;
    }
    chimney_offload_delegated_to_le(&d, &st, head,
                                    chimney_tcp_held(&conn->tcp));
    return chimney_dma_write(s, addr, &d, sizeof(d)) ? CHIMNEY_ST_SUCCESS :
                                                       CHIMNEY_ST_DMA_ERROR;
}

/*
 * TERMINATE: the received bytes not yet delivered go back to the host, into
 * the buffer the command names.  Too small a buffer fails the command
 * before anything changes; the state written says how much is needed.
 */
static uint8_t chimney_offload_return_held(ChimneyConn *conn,
                                           uint64_t addr, const uint32_t *p)
{
    ChimneyState *s = chimney_conn_dev(conn);
    uint32_t held = chimney_tcp_held(&conn->tcp);
    uint64_t buf = p[CHIMNEY_TERM_PARAM_HELD_LO] |
                   (uint64_t)p[CHIMNEY_TERM_PARAM_HELD_HI] << 32;
    g_autofree uint8_t *data = NULL;

    if (!held) {
        return CHIMNEY_ST_SUCCESS;
    }
    if (held > p[CHIMNEY_TERM_PARAM_HELD_LEN]) {
        CHIMNEY_GUEST_ERR(chimney_err_terminate_held, "TERMINATE of "
                          "connection %" PRIu32 ": %" PRIu32 " received bytes"
                          " need a buffer of that size", conn->index, held);
        chimney_offload_query_tcp(conn, addr, false);
        return CHIMNEY_ST_NO_RESOURCES;
    }
    data = g_malloc(held);
    chimney_tcp_copy_held(&conn->tcp, data);
    return chimney_dma_write(s, buf, data, held) ? CHIMNEY_ST_SUCCESS :
                                                   CHIMNEY_ST_DMA_ERROR;
}

/* FORWARD: a TCP segment the host received for the connection */
static uint8_t chimney_offload_forward(ChimneyConn *conn, uint64_t addr,
                                       uint32_t len)
{
    ChimneyState *s = chimney_conn_dev(conn);
    g_autofree uint8_t *buf = NULL;
    ChimneyTcpSegment seg;
    uint32_t doff;

    if (conn->tcp.frozen || conn->tcp.upload_requested) {
        return CHIMNEY_ST_UPLOAD_IN_PROGRESS;
    }
    if (conn->tcp.aborted) {
        return CHIMNEY_ST_REQUEST_ABORTED;
    }
    if (len < 20 || len > CHIMNEY_FORWARD_MAX) {
        CHIMNEY_GUEST_ERR(chimney_err_forward_len, "FORWARD of %" PRIu32
                          " bytes", len);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    buf = g_malloc(len);
    if (!chimney_dma_read(s, addr, buf, len)) {
        return CHIMNEY_ST_DMA_ERROR;
    }
    if (!chimney_tcp_parse_header(buf, len, &seg, &doff) ||
        lduw_be_p(buf) != conn->tcp.st.remote_port ||
        lduw_be_p(buf + 2) != conn->tcp.st.local_port) {
        CHIMNEY_GUEST_ERR(chimney_err_forward_segment, "FORWARD to "
                          "connection %" PRIu32 ": not a segment of it",
                          conn->index);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    s->stats.forwarded++;
    trace_chimney_conn_forward(conn->index, seg.seq, seg.len);
    if (!chimney_tcp_input(&conn->tcp, &seg, buf + doff)) {
        return CHIMNEY_ST_REQUEST_ABORTED;
    }
    chimney_io_sq_process(conn);
    chimney_io_hint_update(conn);
    return CHIMNEY_ST_SUCCESS;
}

static void chimney_offload_invalidate_dependents(ChimneyState *s,
                                                  uint32_t type, uint32_t id)
{
    for (uint32_t i = 0; i < s->max_conns; i++) {
        ChimneyConn *conn = s->offload.conns[i];

        if (conn && !conn->tcp.frozen &&
            (type == CHIMNEY_OBJ_PATH ? conn->path == id :
             s->offload.paths[conn->path].neighbor == id)) {
            chimney_tcp_freeze(&conn->tcp);
            chimney_conn_push_event(conn, CHIMNEY_TCP_EV_UPLOAD_REQUEST,
                                    CHIMNEY_UPLOAD_INVALID_STATE);
            /* nothing more goes out, so no ACK need come back */
            chimney_io_hint_update(conn);
        }
    }
}

static uint8_t chimney_offload_invalidate_or_terminate(ChimneyState *s,
                                                       bool term,
                                                       uint32_t type,
                                                       uint32_t id)
{
    switch (type) {
    case CHIMNEY_OBJ_NEIGHBOR:
        if (id >= s->max_neighbors || !s->offload.neighbors[id].valid) {
            return CHIMNEY_ST_INVALID_ID;
        }
        if (!term) {
            s->offload.neighbors[id].invalidated = true;
            chimney_offload_invalidate_dependents(s, type, id);
        } else if (s->offload.neighbors[id].refs) {
            return CHIMNEY_ST_IN_USE;
        } else {
            s->offload.neighbors[id].valid = false;
            s->offload.num_objects--;
        }
        break;
    case CHIMNEY_OBJ_PATH:
        if (id >= s->max_paths || !s->offload.paths[id].valid) {
            return CHIMNEY_ST_INVALID_ID;
        }
        if (!term) {
            s->offload.paths[id].invalidated = true;
            chimney_offload_invalidate_dependents(s, type, id);
        } else if (s->offload.paths[id].refs) {
            return CHIMNEY_ST_IN_USE;
        } else {
            s->offload.neighbors[s->offload.paths[id].neighbor].refs--;
            s->offload.paths[id].valid = false;
            g_clear_pointer(&s->offload.paths[id].route, g_free);
            s->offload.num_objects--;
        }
        break;
    default:
        return CHIMNEY_ST_INVALID_PARAM;
    }
    return CHIMNEY_ST_SUCCESS;
}

/* QUERY_STATS: every connection's counters, the terminated ones' too */
static uint8_t chimney_offload_query_stats(ChimneyState *s, uint64_t addr,
                                           uint32_t len)
{
    ChimneyOffloadState *o = &s->offload;
    uint64_t in = o->closed_segs_in, out = o->closed_segs_out;
    uint64_t bin = o->closed_bytes_in, bout = o->closed_bytes_out;
    uint64_t rt = o->closed_retransmits;
    uint32_t live = 0;
    ChimneyOffloadStats st;

    if (len < CHIMNEY_STATS_SIZE) {
        CHIMNEY_GUEST_ERR(chimney_err_stats_len, "QUERY_STATS buffer of %"
                          PRIu32 " bytes", len);
        return CHIMNEY_ST_INVALID_PARAM;
    }
    for (uint32_t i = 0; i < s->max_conns; i++) {
        const ChimneyConn *c = o->conns[i];

        if (c && !c->terminated) {
            in += chimney_tcp_ctr(&c->tcp, CHIMNEY_TCP_SEGS_IN);
            out += chimney_tcp_ctr(&c->tcp, CHIMNEY_TCP_SEGS_OUT);
            bin += chimney_tcp_ctr(&c->tcp, CHIMNEY_TCP_BYTES_RCVD);
            bout += chimney_tcp_ctr(&c->tcp, CHIMNEY_TCP_BYTES_ACKED);
            rt += chimney_tcp_rare_get(&c->tcp)->retransmits;
            live++;
        }
    }
    st = (ChimneyOffloadStats) {
        .in_segments = cpu_to_le64(in),
        .out_segments = cpu_to_le64(out),
        .in_octets = cpu_to_le64(bin),
        .out_octets = cpu_to_le64(bout),
        .retransmitted = cpu_to_le64(rt),
        .established = cpu_to_le32(live),
    };
    return chimney_dma_write(s, addr, &st, sizeof(st)) ? CHIMNEY_ST_SUCCESS :
                                                         CHIMNEY_ST_DMA_ERROR;
}

/*
 * The connection a command acts on, when its completion belongs on that
 * connection's CQ; NULL for commands that complete on the admin CQ.
 */
ChimneyConn *chimney_offload_cmd_target(ChimneyState *s, uint8_t opcode,
                                        uint32_t id, const uint32_t *p)
{
    uint8_t status;

    switch (opcode) {
    case CHIMNEY_CMD_QUERY_TCP:
    case CHIMNEY_CMD_FORWARD:
        return chimney_conn_lookup(s, id, &status);
    case CHIMNEY_CMD_UPDATE:
    case CHIMNEY_CMD_INVALIDATE:
    case CHIMNEY_CMD_TERMINATE:
        return p[0] == CHIMNEY_OBJ_TCP ? chimney_conn_lookup(s, id, &status) :
                                         NULL;
    default:
        return NULL;
    }
}

uint8_t chimney_offload_cmd(ChimneyState *s, const ChimneyAdminCmd *cmd,
                            uint32_t id, uint64_t addr, const uint32_t *p,
                            ChimneyConn **target)
{
    ChimneyConn *conn = NULL;
    uint8_t status = CHIMNEY_ST_SUCCESS;

    *target = NULL;
    switch (cmd->opcode) {
    case CHIMNEY_CMD_OFFLOAD_NEIGHBOR:
        return chimney_offload_neighbor(s, id, addr);
    case CHIMNEY_CMD_OFFLOAD_PATH:
        return chimney_offload_path(s, id, addr,
                                    p[CHIMNEY_PATH_PARAM_FAMILY]);
    case CHIMNEY_CMD_OFFLOAD_TCP:
        return chimney_offload_tcp(s, id, addr, le32_to_cpu(cmd->len));
    case CHIMNEY_CMD_QUERY_STATS:
        return chimney_offload_query_stats(s, addr, le32_to_cpu(cmd->len));
    case CHIMNEY_CMD_UPDATE:
    case CHIMNEY_CMD_INVALIDATE:
    case CHIMNEY_CMD_TERMINATE:
        if (p[0] != CHIMNEY_OBJ_TCP) {
            if (cmd->opcode == CHIMNEY_CMD_UPDATE) {
                return chimney_offload_update(s, p[0], id, addr,
                                              p[CHIMNEY_UPDATE_PARAM_FLAGS]);
            }
            return chimney_offload_invalidate_or_terminate(
                s, cmd->opcode == CHIMNEY_CMD_TERMINATE, p[0], id);
        }
        /* fall through */
    case CHIMNEY_CMD_QUERY_TCP:
    case CHIMNEY_CMD_FORWARD:
        conn = chimney_conn_lookup(s, id, &status);
        if (!conn) {
            CHIMNEY_GUEST_ERR(chimney_err_conn_id, "command 0x%x for "
                              "connection 0x%" PRIx32 ": status 0x%x",
                              cmd->opcode, id, status);
            return status;
        }
        *target = conn;
        break;
    default:
        return CHIMNEY_ST_INVALID_OPCODE;
    }

    switch (cmd->opcode) {
    case CHIMNEY_CMD_UPDATE:
        return chimney_offload_update_tcp(conn, addr, le32_to_cpu(cmd->len));
    case CHIMNEY_CMD_QUERY_TCP:
        return chimney_offload_query_tcp(conn, addr, false);
    case CHIMNEY_CMD_FORWARD:
        return chimney_offload_forward(conn, addr, le32_to_cpu(cmd->len));
    case CHIMNEY_CMD_INVALIDATE:
        chimney_tcp_freeze(&conn->tcp);
        conn->poisoned = true;
        return CHIMNEY_ST_SUCCESS;
    default:
        /* TERMINATE: answers to indications first; received data back */
        chimney_io_rq_process(conn);
        status = chimney_offload_return_held(conn, addr, p);
        if (status) {
            return status;
        }
        /* outstanding requests complete first, then this */
        status = chimney_offload_query_tcp(conn, addr, true);
        conn->poisoned = true;
        conn->terminated = true;
        s->offload.closed_segs_in +=
            chimney_tcp_ctr(&conn->tcp, CHIMNEY_TCP_SEGS_IN);
        s->offload.closed_segs_out +=
            chimney_tcp_ctr(&conn->tcp, CHIMNEY_TCP_SEGS_OUT);
        s->offload.closed_bytes_in +=
            chimney_tcp_ctr(&conn->tcp, CHIMNEY_TCP_BYTES_RCVD);
        s->offload.closed_bytes_out +=
            chimney_tcp_ctr(&conn->tcp, CHIMNEY_TCP_BYTES_ACKED);
        s->offload.closed_retransmits +=
            chimney_tcp_rare_get(&conn->tcp)->retransmits;
        /* its 4-tuple, unless it is another connection's already */
        if (g_hash_table_lookup(s->offload.by_key, &conn->tcp) == conn) {
            g_hash_table_remove(s->offload.by_key, &conn->tcp);
        }
        trace_chimney_conn_terminate(conn->index, conn->pend_count);
        return status;
    }
}

