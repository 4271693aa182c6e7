/*
 * libqos chimney-nic with the Linux kernel's TCP as the peer: a fixture
 *
 * QEMU with chimney-nic on a socket netdev whose other end is the lossy
 * relay (chimney-relay.h) to a kernel peer's tap, the device up with CQ 2
 * (1024 entries) for offloaded connections, and connections made by the
 * model driver's host stack (ARP, the three-way handshake with the
 * kernel's sink) and offloaded on CQ 2.  Linux only; it needs root.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_CHIMNEY_KERNEL_H
#define LIBQOS_CHIMNEY_KERNEL_H

#include "chimney-relay.h"

#ifdef CONFIG_LINUX

/* The first initial send sequence number; connection i has (i + 1) times */
#define QCHIMNEY_KERNEL_ISS 0x30000000u

/*
 * QEMU and the device up behind @relay to @peer (started), the relay's
 * schedule seeded with @seed; it is not lossy yet, and allows 15
 * retransmissions, as Linux does.
 */
void qchimney_kernel_fx_start(QChimneyFixture *f, QChimneyRelay *relay,
                              QChimneyKernelPeer *peer, double loss,
                              double dup, double reorder, uint32_t seed);
/*
 * The same with QEMU's tap netdev on @tap_fd: the peer's tap itself (no
 * relay) or qchimney_relay_start_vnet()'s; its frames carry a virtio-net
 * header when that tap was made with one.  qchimney_fx_quit ends it.
 */
void qchimney_kernel_fx_start_tap(QChimneyFixture *f, int tap_fd);
/*
 * @nconns connections to the sink, each with QCHIMNEY_STREAM_SQ send
 * queue entries and @rq receive queue entries (0: none), offloaded on
 * CQ 2; connection i's initial send sequence number is
 * (i + 1) * QCHIMNEY_KERNEL_ISS.
 */
void qchimney_kernel_connect(QChimneyFixture *f, QChimneyConn *hc,
                             int nconns, uint32_t rq);
/*
 * The same with @tmpl's family (fd09::1 to fd09::2), VLAN id, priority
 * and flow label (connection i gets flow_label + i)
 */
void qchimney_kernel_connect_as(QChimneyFixture *f, QChimneyConn *hc,
                                int nconns, uint32_t rq,
                                const QChimneyConn *tmpl);
/* Ends QEMU, the relay and the peer */
void qchimney_kernel_fx_quit(QChimneyFixture *f, QChimneyRelay *relay,
                             QChimneyKernelPeer *peer);

#endif /* CONFIG_LINUX */

#endif /* LIBQOS_CHIMNEY_KERNEL_H */
