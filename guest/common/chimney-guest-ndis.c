/*
 * chimney-nic: NDIS's chimney structures, translated for the device
 *
 * See chimney-guest-ndis.h.  Like the driver core, this file assembles
 * the device's little-endian fields byte by byte, so it is correct
 * whatever the byte order of the CPU that runs the driver; NDIS's own
 * structures are in the CPU's order.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>
#include "chimney-guest-ndis.h"
#include "chimney-guest-le.h"


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
             q->ports_host_order ? c->remote_port :
                                   be16_to_host(c->remote_port));
    le16_out(b + offsetof(ChimneyTcpOffload, local_port),
             q->ports_host_order ? c->local_port :
                                   be16_to_host(c->local_port));
    b[offsetof(ChimneyTcpOffload, snd_wscale)] = c->wnd_scales & 0xf;
    b[offsetof(ChimneyTcpOffload, rcv_wscale)] = c->wnd_scales >> 4;
    le16_out(b + offsetof(ChimneyTcpOffload, remote_mss), c->remote_mss);
    le16_out(b + offsetof(ChimneyTcpOffload, offload_flags),
             q->db_hint ? CHIMNEY_TCPO_DB_HINT : 0);

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
    /*
     * The 1.3 tail: the bits of the bitfields only (the rest of their
     * storage units is not the field's); a flow label on IPv6 paths only.
     */
    if (q->ipv6) {
        le32_out(b + offsetof(ChimneyTcpOffload, flow_label),
                 k->flow_label & CHIMNEY_NDIS_FLOW_LABEL_MASK);
    }
    b[offsetof(ChimneyTcpOffload, user_priority)] =
        k->user_priority & CHIMNEY_NDIS_USER_PRIORITY_MASK;

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
 * A TCP segment over IPv4 or IPv6 (VLAN-tagged or not) leaving: its
 * ports.  IPv6 with TCP as the first next header only: the host stack
 * puts no extension header on an established connection's segments.
 */
void chimney_guest_flow_seen(ChimneyGuestFlows *f, const uint8_t *frame,
                             uint32_t len)
{
    uint32_t l2 = 14, ihl;
    uint16_t type;

    if (len < l2 + 20) {
        return;
    }
    type = frame[12] << 8 | frame[13];
    if (type == 0x8100) {
        l2 += 4;
        type = frame[16] << 8 | frame[17];
    }
    if (type == 0x86dd) {
        if (len < l2 + 40 + 4 || (frame[l2] >> 4) != 6 ||
            frame[l2 + 6] != 6) {
            return;
        }
        ihl = 40;
    } else {
        if (type != 0x0800 || len < l2 + 20 || frame[l2 + 9] != 6) {
            return;
        }
        ihl = (frame[l2] & 0xf) * 4;
        if (ihl < 20 || len < l2 + ihl + 4) {
            return;
        }
    }
    frame += l2 + ihl;
    f->flow[f->next].local_port = frame[0] << 8 | frame[1];
    f->flow[f->next].remote_port = frame[2] << 8 | frame[3];
    f->next = (f->next + 1) % CHIMNEY_GUEST_FLOWS;
}

static bool flow_has(const ChimneyGuestFlows *f, uint16_t lport,
                     uint16_t rport)
{
    for (uint32_t i = 0; i < CHIMNEY_GUEST_FLOWS; i++) {
        if ((f->flow[i].local_port || f->flow[i].remote_port) &&
            f->flow[i].local_port == lport &&
            f->flow[i].remote_port == rport) {
            return true;
        }
    }
    return false;
}

/*
 * The byte order of @c's ports, as far as the flows seen show it: network
 * order when its ports read that way match a flow, host order when only
 * the other reading does, unknown when neither (or both) do.
 */
int chimney_guest_port_order(const ChimneyGuestFlows *f,
                             const ChimneyNdisTcpConst *c)
{
    bool net = flow_has(f, be16_to_host(c->local_port),
                        be16_to_host(c->remote_port));
    bool host = flow_has(f, c->local_port, c->remote_port);

    if (net == host) {
        return CHIMNEY_PORTS_UNKNOWN;
    }
    return net ? CHIMNEY_PORTS_NETWORK : CHIMNEY_PORTS_HOST;
}

/*
 * What of NDIS's cached TCP state the OFFLOAD_TCP / UPDATE block cannot
 * carry to a device of @features (CHIMNEY_NDIS_TCP_* bits; 0: all of
 * it): the restart flags and UPDATE_RCV_WND, which no version has a
 * field for, and an 802.1p priority, which the 1.3 block carries but
 * only a device with CHIMNEY_FEAT_8021Q puts in its frames.  A driver
 * refuses such an offload or update rather than dropping them.
 */
uint32_t chimney_guest_tcp_cached_unsupported(const ChimneyNdisTcpCached *k,
                                              uint32_t features)
{
    uint32_t bits = k->flags & (CHIMNEY_NDIS_TCP_KA_RESTART |
                                CHIMNEY_NDIS_TCP_MAX_RT_RESTART |
                                CHIMNEY_NDIS_TCP_UPDATE_RCV_WND);

    if ((k->user_priority & CHIMNEY_NDIS_USER_PRIORITY_MASK) &&
        !(features & CHIMNEY_FEAT_8021Q)) {
        bits |= CHIMNEY_NDIS_TCP_USER_PRIORITY;
    }
    return bits;
}

/*
 * OFFLOAD_NEIGHBOR's block (little-endian) from NDIS's neighbor state:
 * the interface's MAC @own_mac when DlSourceAddress is all zero.  VLAN
 * 4095 is reserved by IEEE 802.1Q and never on the wire: refused.  A
 * neighbor with a VLAN id needs a device of @features with
 * CHIMNEY_FEAT_8021Q: a target drops the segments of such a connection
 * that come untagged or on another VLAN ("Receiving 802.1Q-Marked and
 * 802.1p-Marked Packets on an Offloaded TCP Connection"), which only
 * such a device does.
 */
int chimney_guest_neighbor(ChimneyNeighborState *out,
                           const ChimneyNdisNeighborConst *k,
                           const ChimneyNdisNeighborCached *c,
                           const uint8_t *own_mac, uint32_t features)
{
    uint8_t *b = (uint8_t *)out;
    uint32_t vlan = k->vlan_id & CHIMNEY_NDIS_VLAN_ID_MASK;
    bool zero = true;

    memset(out, 0, sizeof(*out));
    if (vlan == CHIMNEY_GUEST_VLAN_RESERVED) {
        return CHIMNEY_GUEST_BAD_VLAN;
    }
    if (vlan && !(features & CHIMNEY_FEAT_8021Q)) {
        return CHIMNEY_GUEST_NO_VLAN;
    }
    for (int i = 0; i < 6; i++) {
        zero &= !k->dl_source[i];
    }
    memcpy(out->src_mac, zero ? own_mac : k->dl_source, 6);
    memcpy(out->dst_mac, c->dl_destination, 6);
    le16_out(b + offsetof(ChimneyNeighborState, vlan_id), vlan);
    return CHIMNEY_GUEST_STATE_OK;
}

/*
 * An address a TCP connection can have at either end (RFC 4291): not
 * the unspecified address, loopback, multicast (ff00::/8) or an
 * IPv4-mapped one (::ffff:0:0/96, which is an IPv4 path's).
 */
bool chimney_guest_ipv6_unicast(const uint8_t *addr)
{
    bool zero10 = true, zero15 = true;

    for (int i = 0; i < 15; i++) {
        zero15 &= !addr[i];
        zero10 &= i >= 10 || !addr[i];
    }
    if (addr[0] == 0xff || (zero15 && addr[15] <= 1)) {
        return false;
    }
    return !(zero10 && addr[10] == 0xff && addr[11] == 0xff);
}

static int path_mtu_check(uint32_t family, uint32_t mtu)
{
    uint32_t min = family == CHIMNEY_PATH_IPV6 ? CHIMNEY_IPV6_MIN_MTU :
                                                 CHIMNEY_GUEST_IPV4_MIN_MTU;

    return mtu < min || mtu > CHIMNEY_GUEST_MAX_MTU ? CHIMNEY_GUEST_BAD_MTU :
                                                      CHIMNEY_GUEST_STATE_OK;
}

/*
 * OFFLOAD_PATH's block from a path block of OFFLOAD_STATE_TYPE @type:
 * into @out (CHIMNEY_GUEST_PATH_BLOCK bytes, little-endian), *@family
 * for param[CHIMNEY_PATH_PARAM_FAMILY].  An IPv6 path only for a device
 * whose @features have CHIMNEY_FEAT_TCP_IPV6; addresses and MTU are
 * checked before the device sees them.
 */
int chimney_guest_path(void *out, uint32_t *family, uint32_t type,
                       uint32_t neighbor, const ChimneyNdisPathConst *k,
                       const ChimneyNdisPathCached *c, uint32_t features)
{
    uint8_t *b = out;
    int st;

    memset(out, 0, CHIMNEY_GUEST_PATH_BLOCK);
    switch (type) {
    case CHIMNEY_NDIS_IP4_STATE:
        *family = CHIMNEY_PATH_IPV4;
        break;
    case CHIMNEY_NDIS_IP6_STATE:
        if (!(features & CHIMNEY_FEAT_TCP_IPV6)) {
            return CHIMNEY_GUEST_BAD_FAMILY;
        }
        *family = CHIMNEY_PATH_IPV6;
        break;
    default:
        return CHIMNEY_GUEST_BAD_FAMILY;
    }
    if (!k->source || !k->destination) {
        return CHIMNEY_GUEST_BAD_ADDRESS;
    }
    st = path_mtu_check(*family, c->path_mtu);
    if (st) {
        return st;
    }
    if (*family == CHIMNEY_PATH_IPV4) {
        le32_out(b + offsetof(ChimneyPathState, neighbor), neighbor);
        memcpy(b + offsetof(ChimneyPathState, src_ip), k->source, 4);
        memcpy(b + offsetof(ChimneyPathState, dst_ip), k->destination, 4);
        le32_out(b + offsetof(ChimneyPathState, path_mtu), c->path_mtu);
        return CHIMNEY_GUEST_STATE_OK;
    }
    if (!chimney_guest_ipv6_unicast(k->source) ||
        !chimney_guest_ipv6_unicast(k->destination)) {
        return CHIMNEY_GUEST_BAD_ADDRESS;
    }
    le32_out(b + offsetof(ChimneyPath6State, neighbor), neighbor);
    le32_out(b + offsetof(ChimneyPath6State, path_mtu), c->path_mtu);
    memcpy(b + offsetof(ChimneyPath6State, src_ip), k->source, 16);
    memcpy(b + offsetof(ChimneyPath6State, dst_ip), k->destination, 16);
    return CHIMNEY_GUEST_STATE_OK;
}

/*
 * UPDATE of a path takes the block of the path's own @family: its new
 * MTU, and @neighbor (for a relink; the caller sets the flag).
 */
int chimney_guest_path_update(void *out, uint32_t family, uint32_t neighbor,
                              const ChimneyNdisPathCached *c)
{
    uint8_t *b = out;
    int st = path_mtu_check(family, c->path_mtu);

    memset(out, 0, CHIMNEY_GUEST_PATH_BLOCK);
    if (st) {
        return st;
    }
    if (family == CHIMNEY_PATH_IPV6) {
        le32_out(b + offsetof(ChimneyPath6State, neighbor), neighbor);
        le32_out(b + offsetof(ChimneyPath6State, path_mtu), c->path_mtu);
    } else {
        le32_out(b + offsetof(ChimneyPathState, neighbor), neighbor);
        le32_out(b + offsetof(ChimneyPathState, path_mtu), c->path_mtu);
    }
    return CHIMNEY_GUEST_STATE_OK;
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
