/*
 * chimney-nic: what the TCP engine's send and receive halves share
 *
 * Only chimney-tcp.c and chimney-tcp-rx.c include this header.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_TCP_INT_H
#define HW_NET_CHIMNEY_TCP_INT_H

#include "hw/net/chimney/chimney-tcp.h"

int64_t chimney_tcp_now(ChimneyTcpConn *c);
/* Arm the owner's timer at the earliest deadline. */
void chimney_tcp_timers_sync(ChimneyTcpConn *c);
void chimney_tcp_send_ack(ChimneyTcpConn *c);
void chimney_tcp_set_state(ChimneyTcpConn *c, uint32_t state);
void chimney_tcp_raise(ChimneyTcpConn *c, int event, uint32_t info);
void chimney_tcp_request_upload(ChimneyTcpConn *c, uint32_t reason);

/* Receive side, chimney-tcp-rx.c */
void chimney_tcp_rx_init(ChimneyTcpConn *c);
/* The window to put in a segment, recording the edge it advertises. */
uint16_t chimney_tcp_rx_window(ChimneyTcpConn *c);
/* Data and FIN of a segment, ACKed now or by the delayed-ACK timer */
void chimney_tcp_rx_segment(ChimneyTcpConn *c, const ChimneyTcpSegment *seg,
                            const uint8_t *payload);
void chimney_tcp_rx_flush(ChimneyTcpConn *c, int status);
void chimney_tcp_rx_timers(ChimneyTcpConn *c, int64_t now);
void chimney_tcp_rx_time_wait(ChimneyTcpConn *c);

#endif /* HW_NET_CHIMNEY_TCP_INT_H */
