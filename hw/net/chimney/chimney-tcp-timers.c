/*
 * chimney-nic: the TCP engine's clocks
 *
 * The retransmission timeout estimate (RFC 6298), the deadlines of a
 * connection (retransmission or persist, delayed ACK, push, keepalive,
 * FIN_WAIT_2) behind the one timer its owner keeps, keepalive (RFC 1122
 * 4.2.3.6 and chimney's blind-reset rules), and the hand-over state:
 * OFFLOAD's into a connection's route and variables, and what QUERY
 * reports back.  A burst of input re-arms the owner's timer once, at its end.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/eth.h"
#include "hw/net/chimney/chimney-tcp-int.h"

/*
 * Whether an OFFLOAD may start from @st.  Returns NULL when it may, else
 * what is wrong.  Handed-over requests are checked by chimney_tcp_start.
 */
const char *chimney_tcp_state_check(const ChimneyTcpState *st)
{
    switch (st->state) {
    case CHIMNEY_TCPS_ESTABLISHED:
    case CHIMNEY_TCPS_FIN_WAIT1:
    case CHIMNEY_TCPS_FIN_WAIT2:
    case CHIMNEY_TCPS_CLOSE_WAIT:
    case CHIMNEY_TCPS_CLOSING:
    case CHIMNEY_TCPS_LAST_ACK:
        break;
    default:
        return "state cannot be offloaded";
    }
    if (st->remote_mss < 64) {
        return "remote MSS below 64";
    }
    if (st->path_mtu < (st->ipv6 ? CHIMNEY_TCP_IPV6_MIN_MTU : 68) ||
        st->path_mtu > 9000) {
        return "path MTU out of range";
    }
    if (st->flow_label > CHIMNEY_TCP_FLOW_LABEL_MAX || st->user_priority > 7 ||
        st->vlan > 4094) {
        return "flow label, user priority or VLAN out of range";
    }
    if (st->wscale_enabled && (st->snd_wscale > 14 || st->rcv_wscale > 14)) {
        return "window scale above 14";
    }
    if (!st->wscale_enabled && (st->snd_wscale || st->rcv_wscale)) {
        return "window scale without the option";
    }
    /*
     * Unsigned distances from SndUna: chimney_seq_leq() holds both ways at
     * a distance of exactly 2^31, so it cannot order these.  Less than
     * 2^31 may be outstanding, or sequence comparisons break.
     */
    if (st->snd_nxt - st->snd_una > st->snd_max - st->snd_una ||
        st->snd_max - st->snd_una > INT32_MAX) {
        return "SndUna <= SndNxt <= SndMax does not hold";
    }
    if (!st->local_port || !st->remote_port) {
        return "port 0";
    }
    return NULL;
}

int64_t chimney_tcp_ticks_to_ns(ChimneyTcpConn *c, uint64_t ticks)
{
    return ticks * chimney_tcp_stack(c)->tick_ns;
}

uint32_t chimney_tcp_ns_to_ticks(ChimneyTcpConn *c, int64_t ns)
{
    return MIN(ns / chimney_tcp_stack(c)->tick_ns, UINT32_MAX);
}

void chimney_tcp_update_rto(ChimneyTcpConn *c)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);
    int64_t rto = c->srtt_ns + MAX(s->tick_ns, 4 * c->rttvar_ns);

    c->rto_ns = MIN(MAX(rto, s->rto_min_ns), s->rto_max_ns);
}

/* Arm the owner's timer at the earliest deadline (once, after a burst) */
void chimney_tcp_timers_sync(ChimneyTcpConn *c)
{
    int64_t t[] = { c->rexmit_ns, c->delack_ns, c->push_ns, c->ka_ns,
                    c->fw2_ns };
    int64_t next = -1;

    if (c->batching) {
        c->sync_due = true;         /* once, at chimney_tcp_input_end */
        return;
    }
    for (int i = 0; i < ARRAY_SIZE(t); i++) {
        if (t[i] >= 0 && (next < 0 || t[i] < next)) {
            next = t[i];
        }
    }
    if (next != c->timer_ns) {
        ChimneyTcpStack *s = chimney_tcp_stack(c);

        c->timer_ns = next;
        s->ops->timer_mod(s->opaque, c, next);
    }
}

/* The retransmission or persist deadline */
void chimney_tcp_timer_set(ChimneyTcpConn *c, int64_t expire)
{
    c->rexmit_ns = expire;
    chimney_tcp_timers_sync(c);
}

void chimney_tcp_timers_stop(ChimneyTcpConn *c)
{
    c->rexmit_ns = c->delack_ns = c->push_ns = c->ka_ns = c->fw2_ns = -1;
    chimney_tcp_timers_sync(c);
}

void chimney_tcp_arm_rexmit(ChimneyTcpConn *c)
{
    int64_t rto = MIN(c->rto_ns << MIN(c->backoff, 16),
                      chimney_tcp_stack(c)->rto_max_ns);

    c->persist = false;
    chimney_tcp_timer_set(c, chimney_tcp_now(c) + rto);
}

void chimney_tcp_arm_persist(ChimneyTcpConn *c)
{
    ChimneyTcpStack *s = chimney_tcp_stack(c);
    int64_t t = MIN(MAX(c->rto_ns, s->rto_min_ns) << MIN(c->probes, 16),
                    s->rto_max_ns);

    c->persist = true;
    chimney_tcp_timer_set(c, chimney_tcp_now(c) + t);
}

int64_t chimney_tcp_ka_timeout(ChimneyTcpConn *c)
{
    return c->st.ka_timeout ? chimney_tcp_ticks_to_ns(c, c->st.ka_timeout) :
                              KA_TIMEOUT_NS;
}

/* The peer answered: keepalive starts over from idle (RFC 1122 4.2.3.6) */
void chimney_tcp_ka_restart(ChimneyTcpConn *c)
{
    c->st.ka_probes = 0;
    c->ka_forced = false;
    c->ka_ns = c->st.keepalive ?
               chimney_tcp_now(c) + chimney_tcp_ka_timeout(c) : -1;
    chimney_tcp_timers_sync(c);
}

/*
 * A challenge ACK goes out for a RST or SYN that may be forged: if the
 * real peer is gone, keepalive finds out (chimney blind-reset rules).
 */
void chimney_tcp_challenge(ChimneyTcpConn *c)
{
    chimney_tcp_rare(c)->challenge_acks++;
    chimney_tcp_send_ack(c);
    if (!c->st.keepalive || c->ka_ns < 0 ||
        c->ka_ns > chimney_tcp_now(c) + KA_CHALLENGE_NS) {
        c->ka_forced = true;
        c->ka_ns = chimney_tcp_now(c) + KA_CHALLENGE_NS;
        chimney_tcp_timers_sync(c);
    }
}

static void tcp_ka_expire(ChimneyTcpConn *c, int64_t now)
{
    uint32_t limit = c->st.ka_probe_count ? c->st.ka_probe_count :
                                            KA_DEF_PROBES;
    int64_t interval = c->st.ka_interval ?
                       chimney_tcp_ticks_to_ns(c, c->st.ka_interval) :
                       KA_DEF_INTERVAL;

    if (c->st.snd_una != c->st.snd_max) {
        /* Data in flight: the retransmission timer watches the peer */
        c->ka_ns = now + chimney_tcp_ka_timeout(c);
        return;
    }
    if (c->st.ka_probes >= limit) {
        chimney_tcp_request_upload(c, CHIMNEY_TCP_UPLOAD_TIMEOUT);
        return;
    }
    /* A segment below SndUna: the peer must answer with an ACK */
    c->st.ka_probes++;
    chimney_tcp_rare(c)->ka_probes_sent++;
    chimney_tcp_send_segment(c, c->st.snd_una - 1, 0, TH_ACK);
    c->ka_ns = now + interval;
}

void chimney_tcp_rtt_sample(ChimneyTcpConn *c, int64_t rtt)
{
    if (rtt < 0) {
        return;
    }
    if (!c->srtt_ns) {
        c->srtt_ns = rtt;                               /* RFC 6298 2.2 */
        c->rttvar_ns = rtt / 2;
    } else {
        int64_t err = c->srtt_ns - rtt;                 /* RFC 6298 2.3 */

        c->rttvar_ns += ((err < 0 ? -err : err) - c->rttvar_ns) / 4;
        c->srtt_ns += (rtt - c->srtt_ns) / 8;
    }
    chimney_tcp_update_rto(c);
}

/* The owner's timer fired: run every deadline that is due. */
void chimney_tcp_timer(ChimneyTcpConn *c)
{
    int64_t now = chimney_tcp_now(c);

    c->timer_ns = -1;
    if (c->aborted || c->frozen) {
        return;
    }
    if (c->rexmit_ns >= 0 && c->rexmit_ns <= now) {
        c->rexmit_ns = -1;
        chimney_tcp_rexmit_timeout(c);
    }
    if (c->fw2_ns >= 0 && c->fw2_ns <= now) {
        /* The peer never closed its half: CLOSED, and the host takes it */
        c->fw2_ns = -1;
        chimney_tcp_set_state(c, CHIMNEY_TCPS_CLOSED);
        chimney_tcp_request_upload(c, CHIMNEY_TCP_UPLOAD_TIMEOUT);
    }
    if (c->ka_ns >= 0 && c->ka_ns <= now) {
        c->ka_ns = -1;
        tcp_ka_expire(c, now);
    }
    chimney_tcp_rx_timers(c, now);
    chimney_tcp_timers_sync(c);
}

/* The hand-over state into a connection, and back (QUERY) */

void chimney_tcp_route_init(ChimneyTcpRoute *r, const ChimneyTcpState *st)
{
    memset(r, 0, sizeof(*r));
    memcpy(r->src_mac, st->src_mac, 6);
    memcpy(r->dst_mac, st->dst_mac, 6);
    r->vlan = st->vlan;
    r->ipv6 = st->ipv6;
    r->src_ip = st->src_ip;
    r->dst_ip = st->dst_ip;
    memcpy(r->src_ip6, st->src_ip6, 16);
    memcpy(r->dst_ip6, st->dst_ip6, 16);
    r->path_mtu = st->path_mtu;
}

void chimney_tcp_vars_load(ChimneyTcpConn *c, const ChimneyTcpState *st)
{
    ChimneyTcpVars *v = &c->st;

    *v = (ChimneyTcpVars) {
        .rcv_nxt = st->rcv_nxt,
        .rcv_wnd = st->rcv_wnd,
        .snd_una = st->snd_una,
        .snd_nxt = st->snd_nxt,
        .snd_max = st->snd_max,
        .snd_wnd = st->snd_wnd,
        .max_snd_wnd = st->max_snd_wnd,
        .snd_wl1 = st->snd_wl1,
        .cwnd = MIN(st->cwnd, TCP_CWND_MAX),
        .ssthresh = st->ssthresh,
        .ts_recent = st->ts_recent,
        .ts_recent_age = st->ts_recent_age,
        .total_rt = st->total_rt,
        .flow_label = st->flow_label,
        .initial_rcv_wnd = st->initial_rcv_wnd,
        .max_rt = st->max_rt,
        .ka_timeout = st->ka_timeout,
        .ka_interval = st->ka_interval,
        .rcv_indication_size = st->rcv_indication_size,
        .local_port = st->local_port,
        .remote_port = st->remote_port,
        .remote_mss = st->remote_mss,
        .snd_wscale = st->snd_wscale,
        .rcv_wscale = st->rcv_wscale,
        .ttl = st->ttl,
        .tos = st->tos,
        .user_priority = st->user_priority,
        .ka_probe_count = st->ka_probe_count,
        .ka_probes = st->ka_probes,
        .dup_ack_count = st->dup_ack_count,
        .snd_wnd_probe_count = st->snd_wnd_probe_count,
        .state = st->state,
        .ts_enabled = st->ts_enabled,
        .sack_enabled = st->sack_enabled,
        .wscale_enabled = st->wscale_enabled,
        .nagle = st->nagle,
        .keepalive = st->keepalive,
    };
}

void chimney_tcp_query(const ChimneyTcpConn *c, ChimneyTcpState *out)
{
    ChimneyTcpConn *cc = (ChimneyTcpConn *)c;
    int64_t now = chimney_tcp_now(cc);

    const ChimneyTcpVars *v = &c->st;
    const ChimneyTcpRoute *r = c->route;

    *out = (ChimneyTcpState) {
        .vlan = r->vlan,
        .ipv6 = r->ipv6,
        .src_ip = r->src_ip,
        .dst_ip = r->dst_ip,
        .path_mtu = r->path_mtu,
        .local_port = v->local_port,
        .remote_port = v->remote_port,
        .remote_mss = v->remote_mss,
        .snd_wscale = v->snd_wscale,
        .rcv_wscale = v->rcv_wscale,
        .ts_enabled = v->ts_enabled,
        .sack_enabled = v->sack_enabled,
        .wscale_enabled = v->wscale_enabled,
        .ttl = v->ttl,
        .tos = v->tos,
        .user_priority = v->user_priority,
        .ka_probe_count = v->ka_probe_count,
        .ka_probes = v->ka_probes,
        .flow_label = v->flow_label,
        .initial_rcv_wnd = v->initial_rcv_wnd,
        .max_rt = v->max_rt,
        .nagle = v->nagle,
        .keepalive = v->keepalive,
        .dup_ack_count = v->dup_ack_count,
        .snd_wnd_probe_count = v->snd_wnd_probe_count,
        .ka_timeout = v->ka_timeout,
        .ka_interval = v->ka_interval,
        .rcv_indication_size = v->rcv_indication_size,
        .state = v->state,
        .rcv_nxt = v->rcv_nxt,
        .rcv_wnd = v->rcv_wnd,
        .snd_una = v->snd_una,
        .snd_nxt = v->snd_nxt,
        .snd_max = v->snd_max,
        .snd_wnd = v->snd_wnd,
        .max_snd_wnd = v->max_snd_wnd,
        .cwnd = v->cwnd,
        .ssthresh = v->ssthresh,
        .ts_recent = v->ts_recent,
        .ts_recent_age = v->ts_recent_age,
        .total_rt = v->total_rt,
    };
    memcpy(out->src_mac, r->src_mac, 6);
    memcpy(out->dst_mac, r->dst_mac, 6);
    memcpy(out->src_ip6, r->src_ip6, 16);
    memcpy(out->dst_ip6, r->dst_ip6, 16);
    out->srtt_x8 = MIN(chimney_tcp_ns_to_ticks(cc, c->srtt_ns * 8), 0xffff);
    out->rttvar_x4 = MIN(chimney_tcp_ns_to_ticks(cc, c->rttvar_ns * 4), 0xffff);
    out->rexmit_count = MIN(c->backoff, 255);
    out->rexmit_delta = c->rexmit_ns < 0 ? -1 :
        (int32_t)MIN(chimney_tcp_ns_to_ticks(cc, MAX(c->rexmit_ns - now, 0)),
                     INT32_MAX);
    out->ka_delta = c->ka_ns < 0 ? -1 :
        (int32_t)MIN(chimney_tcp_ns_to_ticks(cc, MAX(c->ka_ns - now, 0)),
                     INT32_MAX);
    out->ts_time = chimney_tcp_ts_now(cc);
    out->snd_wl1 = c->st.snd_wl1;
}

/* UPDATE of the cached keepalive flag: it runs from now on, or stops */
void chimney_tcp_set_keepalive(ChimneyTcpConn *c, bool on)
{
    if (on != c->st.keepalive) {
        c->st.keepalive = on;
        chimney_tcp_ka_restart(c);
    }
}
