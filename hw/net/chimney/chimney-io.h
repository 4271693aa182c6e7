/*
 * chimney-nic: connection I/O: send and receive queues, the receive
 * classifier, and the TCP engine's view of the device
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_CHIMNEY_IO_H
#define HW_NET_CHIMNEY_IO_H

#include "hw/net/chimney/chimney-conn.h"

void chimney_io_stack_init(ChimneyState *s);
bool chimney_io_sq_fetch(ChimneyConn *conn, uint32_t index,
                         ChimneyTcpReq *req);
void chimney_io_sq_process(ChimneyConn *conn);
void chimney_io_rq_process(ChimneyConn *conn);
/* chimney-io-hint.c: the record's hint word, at the end of a conn's work */
void chimney_io_hint_update(ChimneyConn *conn);
bool chimney_io_hint_store(ChimneyConn *conn, bool skip);
void chimney_io_doorbell(ChimneyState *s, uint32_t conn_id);
int chimney_io_classify(ChimneyState *s, const uint8_t *buf, size_t size);
void chimney_io_work(ChimneyState *s);
/* A new run of the bottom half: a new burst of frames may go */
void chimney_io_tx_turn(ChimneyState *s);

#endif /* HW_NET_CHIMNEY_IO_H */
