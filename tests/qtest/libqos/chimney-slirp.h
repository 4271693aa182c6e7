/*
 * libqos chimney-nic on libslirp: the device against a real TCP stack
 *
 * QEMU with the device on -netdev user, the guest at 10.0.2.15 and the
 * gateway at 10.0.2.2; a TCP server of the test's on 127.0.0.1 that
 * libslirp connects the device's connections to, one thread per
 * connection that hashes what arrives (or echoes it).
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_CHIMNEY_SLIRP_H
#define LIBQOS_CHIMNEY_SLIRP_H

#include "chimney-stream.h"

typedef struct QChimneyServer {
    int listen_fd;
    int port;
    GThread *thread[QCHIMNEY_STREAM_CONNS];
    int fd[QCHIMNEY_STREAM_CONNS];
    uint64_t bytes[QCHIMNEY_STREAM_CONNS];
    char *sha[QCHIMNEY_STREAM_CONNS];       /* once the thread is done */
} QChimneyServer;

/* Listen on an ephemeral port of 127.0.0.1 */
void qchimney_server_listen(QChimneyServer *srv, int backlog);
/*
 * A thread for accepted connection @i: hash what arrives (and with @echo
 * send it back), close after the peer's FIN.
 */
void qchimney_server_listen6(QChimneyServer *srv, int backlog);
void qchimney_server_start(QChimneyServer *srv, int i, bool echo);
/* Wait for connection @i's thread: its bytes and SHA-256 are there */
void qchimney_server_join(QChimneyServer *srv, int i);

/* The guest's address on libslirp's network and the gateway's */
void qchimney_slirp_addr(QChimneyConn *hc);
/*
 * QEMU on -netdev user, the device up with 32 L2 receive buffers on a CQ
 * of their own and CQ 2 (1024 entries) for offloaded connections.
 */
void qchimney_slirp_start(QChimneyFixture *f, const char *extra);
/*
 * An ICMP echo request @seq to the gateway, in two TX descriptors, and
 * its reply from the L2 RX queue, checked; returns the reply's length.
 */
size_t qchimney_slirp_ping(QChimney *c, const QChimneyConn *hc, int seq);
/*
 * @nconns connections set up through the L2 queues and libslirp to @srv,
 * accepted there, then offloaded on CQ 2, each with @rq receive queue
 * entries (0: none).
 */
void qchimney_slirp_connect(QChimneyFixture *f, QChimneyServer *srv,
                            QChimneyConn *hc, int nconns, uint32_t rq);
/*
 * The same with @tmpl's family (IPv6: fec0::1:15 to libslirp's host
 * fec0::2, which it connects to ::1) and flow label (+ i for connection
 * i); libslirp has no VLANs.
 */
void qchimney_slirp_connect_as(QChimneyFixture *f, QChimneyServer *srv,
                               QChimneyConn *hc, int nconns, uint32_t rq,
                               const QChimneyConn *tmpl);

#endif /* LIBQOS_CHIMNEY_SLIRP_H */
