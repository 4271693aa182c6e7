/*
 * chimney-nic: ICMPv6 Packet Too Big for offloaded paths
 *
 * The host stack cannot see the segments of offloaded connections, so a
 * router's Packet Too Big (RFC 8201) about one of them is acted on here,
 * as the host would: the path's MTU goes down (never below 1280, never
 * up), every connection on it segments to the new MSS, and the driver
 * hears of it through a PATH_MTU event on the admin CQ.  The message is
 * believed only when it quotes a segment of a live offloaded connection
 * with a sequence number it has sent and not yet had acknowledged
 * (RFC 5927 section 4.1).  The frame itself still goes to the host.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "net/eth.h"
#include "net/checksum.h"
#include "hw/net/chimney/chimney.h"
#include "hw/net/chimney/chimney-pmtu.h"
#include "trace.h"

#define PMTU_IP6_HLEN       40
#define PMTU_ICMP6_HLEN     8       /* type, code, checksum, MTU */
#define PMTU_PROTO_ICMP6    58
#define PMTU_PROTO_TCP      6
#define PMTU_TYPE_TOO_BIG   2
#define PMTU_PATH_MTU_MAX   9000

/* Lower @path's MTU to @mtu and its connections' MSS with it */
void chimney_pmtu_set(ChimneyState *s, uint32_t path, uint32_t mtu)
{
    ChimneyOffloadState *o = &s->offload;

    o->paths[path].mtu = mtu;
    o->paths[path].route->path_mtu = mtu;
    for (uint32_t i = 0; i < s->max_conns; i++) {
        if (o->conns[i] && o->conns[i]->path == path) {
            chimney_tcp_set_path_mtu(&o->conns[i]->tcp, mtu);
        }
    }
}

/*
 * The events that wait for room on the admin CQ, by path.
 * mtu_event_waiting only says that some may wait: it is cleared once a
 * scan found every one posted (or its path gone), so a terminated path
 * cannot leave it set for good.
 */
void chimney_pmtu_post_events(ChimneyState *s)
{
    ChimneyOffloadState *o = &s->offload;

    if (!o->mtu_event_waiting) {
        return;
    }
    for (uint32_t i = 0; i < s->max_paths; i++) {
        ChimneyPath *p = &o->paths[i];
        ChimneyCqe cqe = {
            .obj = i,
            .bytes = p->mtu,
            .queue = CHIMNEY_QUEUE_ADMIN,
            .aux = CHIMNEY_EVENT_PATH_MTU,
            .type_status = CHIMNEY_CQE_MAKE(CHIMNEY_CQE_EVENT,
                                            CHIMNEY_ST_SUCCESS, 0),
        };

        if (!p->mtu_event) {
            continue;
        }
        /* a path terminated meanwhile: nobody to tell */
        if (p->valid) {
            if (!chimney_cq_post(s, CHIMNEY_ADMIN_CQ_ID, &cqe)) {
                return;     /* full: the next bottom half tries again */
            }
            trace_chimney_pmtu_event(i, p->mtu);
        }
        p->mtu_event = false;
    }
    o->mtu_event_waiting = false;
}

/* After a load: whether any path has an event to post */
void chimney_pmtu_count_events(ChimneyState *s)
{
    s->offload.mtu_event_waiting = false;
    for (uint32_t i = 0; i < s->max_paths; i++) {
        s->offload.mtu_event_waiting |= s->offload.paths[i].mtu_event;
    }
}

/*
 * A frame the classifier did not take: if it is an ICMPv6 Packet Too Big
 * quoting a segment of an offloaded IPv6 connection, lower that path's
 * MTU.  Anything malformed or unproven is simply not acted on.
 */
void chimney_pmtu_input(ChimneyState *s, const uint8_t *buf, size_t size)
{
    ChimneyOffloadState *o = &s->offload;
    size_t l2 = ETH_HLEN;
    const uint8_t *ip, *icmp, *q, *qth;
    ChimneyTcpTuple t = { .ipv6 = true };
    ChimneyConnProbe key;
    ChimneyConn *conn;
    ChimneyPath *p;
    uint32_t plen, sum, mtu, seq;

    if (size < ETH_HLEN + 4) {
        return;
    }
    if (lduw_be_p(buf + 12) == ETH_P_VLAN) {
        t.vlan = lduw_be_p(buf + 14) & 0xfff;
        l2 += 4;
    }
    if (lduw_be_p(buf + l2 - 2) != ETH_P_IPV6 ||
        size < l2 + PMTU_IP6_HLEN + PMTU_ICMP6_HLEN + PMTU_IP6_HLEN + 8) {
        return;
    }
    ip = buf + l2;
    plen = lduw_be_p(ip + 4);
    if ((ip[0] >> 4) != 6 || ip[6] != PMTU_PROTO_ICMP6 ||
        plen < PMTU_ICMP6_HLEN + PMTU_IP6_HLEN + 8 ||
        plen > size - l2 - PMTU_IP6_HLEN) {
        return;
    }
    icmp = ip + PMTU_IP6_HLEN;
    if (icmp[0] != PMTU_TYPE_TOO_BIG || icmp[1] != 0) {
        return;
    }
    sum = chimney_tcp_ip6_pseudo_sum(ip, PMTU_PROTO_ICMP6, plen) +
          chimney_tcp_csum(icmp, plen, 0);
    if (net_checksum_finish(sum)) {
        trace_chimney_pmtu_ignored("checksum");
        return;
    }
    /* The quoted packet: ours, from the address the message came to */
    q = icmp + PMTU_ICMP6_HLEN;
    qth = q + PMTU_IP6_HLEN;
    if ((q[0] >> 4) != 6 || q[6] != PMTU_PROTO_TCP ||
        memcmp(q + 8, ip + 24, 16)) {
        trace_chimney_pmtu_ignored("quoted packet");
        return;
    }
    memcpy(t.src_ip6, q + 24, 16);      /* the remote end, as if it sent */
    memcpy(t.dst_ip6, q + 8, 16);
    t.src_port = lduw_be_p(qth + 2);
    t.dst_port = lduw_be_p(qth);
    chimney_conn_key_rx(&key, &t);
    conn = g_hash_table_lookup(o->by_key, &key.tcp);
    if (!conn) {
        trace_chimney_pmtu_ignored("no offloaded connection");
        return;
    }
    if (!chimney_conn_vlan_accepts(conn, t.vlan)) {
        trace_chimney_pmtu_ignored("not the connection's VLAN");
        return;
    }
    seq = ldl_be_p(qth + 4);
    if (chimney_seq_lt(seq, conn->tcp.st.snd_una) ||
        !chimney_seq_lt(seq, conn->tcp.st.snd_max)) {
        trace_chimney_pmtu_ignored("sequence not in flight");
        return;
    }
    p = &o->paths[conn->path];
    mtu = MAX(ldl_be_p(icmp + 4), CHIMNEY_IPV6_MIN_MTU);
    if (mtu >= p->mtu || !p->ipv6) {
        trace_chimney_pmtu_ignored("MTU not lower");
        return;
    }
    trace_chimney_pmtu_lowered(conn->path, p->mtu, mtu);
    chimney_pmtu_set(s, conn->path, mtu);
    p->mtu_event = true;
    o->mtu_event_waiting = true;
    chimney_pmtu_post_events(s);
}
