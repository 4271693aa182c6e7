/*
 * chimney-nic: the TCP engine's clocks
 *
 * The retransmission timeout estimate (RFC 6298), the deadlines of a
 * connection (retransmission or persist, delayed ACK, push, keepalive,
 * FIN_WAIT_2) behind the one timer its owner keeps, keepalive (RFC 1122
 * 4.2.3.6 and chimney's blind-reset rules), and what QUERY reports of
 * them.  A burst of input re-arms the owner's timer once, at its end.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "net/eth.h"
#include "hw/net/chimney/chimney-tcp-int.h"

int64_t chimney_tcp_ticks_to_ns(ChimneyTcpConn *c, uint64_t ticks)
{
    return ticks * c->stack->tick_ns;
}

uint32_t chimney_tcp_ns_to_ticks(ChimneyTcpConn *c, int64_t ns)
{
    return MIN(ns / c->stack->tick_ns, UINT32_MAX);
}

void chimney_tcp_update_rto(ChimneyTcpConn *c)
{
    ChimneyTcpStack *s = c->stack;
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
        c->timer_ns = next;
        c->stack->ops->timer_mod(c->stack->opaque, c, next);
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
                      c->stack->rto_max_ns);

    c->persist = false;
    chimney_tcp_timer_set(c, chimney_tcp_now(c) + rto);
}

void chimney_tcp_arm_persist(ChimneyTcpConn *c)
{
    int64_t t = MIN(MAX(c->rto_ns, c->stack->rto_min_ns) <<
                    MIN(c->probes, 16), c->stack->rto_max_ns);

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
    c->challenge_acks++;
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
    c->ka_probes_sent++;
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

void chimney_tcp_query(const ChimneyTcpConn *c, ChimneyTcpState *out)
{
    ChimneyTcpConn *cc = (ChimneyTcpConn *)c;
    int64_t now = chimney_tcp_now(cc);

    *out = c->st;
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
