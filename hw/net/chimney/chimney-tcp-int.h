/*
 * chimney-nic: what the TCP engine's send and receive halves share
 *
 * Only the engine's files (chimney-tcp*.c) include this header.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_TCP_INT_H
#define HW_NET_CHIMNEY_TCP_INT_H

#include "hw/net/chimney/chimney-tcp.h"

#define TCP_HDR_LEN     20
#define TCP_TS_OPT_LEN  12
#define IP_HDR_LEN      20
#define IP_ID_BASE      0x8000      /* chimney: upper half is the target's */
#define TCPOPT_EOL      0
#define TCPOPT_NOP      1
#define TCPOPT_TS       8

#define NS_PER_MS       1000000LL
#define NS_PER_SEC      (1000 * NS_PER_MS)
#define FIN_WAIT2_NS    (120 * NS_PER_SEC)      /* chimney: 120 s */
#define KA_TIMEOUT_NS   (7200 * NS_PER_SEC)     /* RFC 1122: two hours */
#define KA_CHALLENGE_NS (300 * NS_PER_SEC)      /* chimney blind reset */
#define KA_DEF_INTERVAL NS_PER_SEC
#define KA_DEF_PROBES   10
#define SYN_CHALLENGE_NS (3 * NS_PER_SEC)       /* one challenge per 3 s */
#define SWS_OVERRIDE_NS (200 * NS_PER_MS)       /* RFC 1122: 0.1 to 1 s */
/* the largest window a peer can offer (RFC 7323 2.3): cwnd stops there */
#define TCP_CWND_MAX    (65535u << 14)

int64_t chimney_tcp_now(ChimneyTcpConn *c);
/* The timestamp clock of the connection, in milliseconds */
uint32_t chimney_tcp_ts_now(ChimneyTcpConn *c);

/* Request @i of the send queue, counted from its head */
static inline ChimneyTcpReq *chimney_tcp_req(ChimneyTcpConn *c, uint32_t i)
{
    return &c->reqs[(c->head + i) % c->cap];
}

/* The sequence number of a request's first byte */
static inline uint32_t chimney_tcp_req_start(const ChimneyTcpReq *r)
{
    bool fin = r->type == CHIMNEY_TCP_REQ_DISCONNECT;

    return r->end_seq - r->len - fin;
}

/* Request @i and every later one failed (their data cannot be sent) */
void chimney_tcp_fail_from(ChimneyTcpConn *c, uint32_t i);

/* Clocks, deadlines, keepalive and RTO, chimney-tcp-timers.c */
int64_t chimney_tcp_ticks_to_ns(ChimneyTcpConn *c, uint64_t ticks);
uint32_t chimney_tcp_ns_to_ticks(ChimneyTcpConn *c, int64_t ns);
void chimney_tcp_update_rto(ChimneyTcpConn *c);
void chimney_tcp_rtt_sample(ChimneyTcpConn *c, int64_t rtt);
/* The retransmission or persist deadline (-1: none) */
void chimney_tcp_timer_set(ChimneyTcpConn *c, int64_t expire);
void chimney_tcp_timers_stop(ChimneyTcpConn *c);
void chimney_tcp_arm_rexmit(ChimneyTcpConn *c);
void chimney_tcp_arm_persist(ChimneyTcpConn *c);
int64_t chimney_tcp_ka_timeout(ChimneyTcpConn *c);
void chimney_tcp_ka_restart(ChimneyTcpConn *c);
void chimney_tcp_challenge(ChimneyTcpConn *c);
/* chimney-tcp.c: the retransmission or persist deadline passed */
void chimney_tcp_rexmit_timeout(ChimneyTcpConn *c);

/* Segments on the wire, chimney-tcp-wire.c */
bool chimney_tcp_send_segment(ChimneyTcpConn *c, uint32_t seq, uint32_t len,
                              uint8_t flags);
/* Arm the owner's timer at the earliest deadline. */
void chimney_tcp_timers_sync(ChimneyTcpConn *c);
void chimney_tcp_send_ack(ChimneyTcpConn *c);
/* An ACK is owed: now, or after the input being processed */
void chimney_tcp_ack_due(ChimneyTcpConn *c);
void chimney_tcp_set_state(ChimneyTcpConn *c, uint32_t state);
void chimney_tcp_raise(ChimneyTcpConn *c, int event, uint32_t info);

/* Receive side, chimney-tcp-rx.c */
void chimney_tcp_rx_init(ChimneyTcpConn *c);
/* The window to put in a segment, recording the edge it advertises. */
uint16_t chimney_tcp_rx_window(ChimneyTcpConn *c);
/* RFC 9293 3.10.7.4: may the segment be looked at beyond an ACK back? */
bool chimney_tcp_rx_acceptable(ChimneyTcpConn *c,
                                const ChimneyTcpSegment *seg);
/* Data and FIN of a segment, ACKed now or by the delayed-ACK timer */
void chimney_tcp_rx_segment(ChimneyTcpConn *c, const ChimneyTcpSegment *seg,
                            const uint8_t *payload);
void chimney_tcp_rx_flush(ChimneyTcpConn *c, int status);
void chimney_tcp_rx_timers(ChimneyTcpConn *c, int64_t now);
void chimney_tcp_rx_time_wait(ChimneyTcpConn *c);

#endif /* HW_NET_CHIMNEY_TCP_INT_H */
