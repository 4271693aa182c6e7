/*
 * libqos chimney-nic against the Linux kernel's TCP, behind a lossy relay
 *
 * A tap device in a network namespace of the test's, the kernel's TCP
 * there as the peer (a Python sink that hashes, or echoes, what arrives),
 * and between QEMU's socket netdev and the tap a relay thread that drops,
 * duplicates and reorders TCP frames by a seeded schedule (the kernel has
 * no netem here).  Linux only; it needs root, /dev/net/tun and ip(8).
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_CHIMNEY_RELAY_H
#define LIBQOS_CHIMNEY_RELAY_H

#include "chimney-host.h"

#ifdef CONFIG_LINUX

/*
 * The sink listens on 10.9.0.2 and fd09::2, port 5001; the guest is
 * 10.9.0.1 and fd09::1
 */
#define QCHIMNEY_KERNEL_PORT 5001

typedef struct QChimneyKernelPeer {
    char *ns;                   /* the network namespace */
    char *tap;                  /* its tap device */
    int tap_fd;
    GPid pid;                   /* the sink */
    FILE *out;                  /* its report, a line per connection */
    char *mid_ns, *mid_tap;     /* qchimney_relay_start_vnet()'s */
} QChimneyKernelPeer;

/* Why the kernel peer cannot run here, or NULL */
const char *qchimney_kernel_peer_unusable(void);
/*
 * The namespace, its tap and a sink for @conns connections, with a socket
 * receive buffer of @rcvbuf (0: the default) and, if @slow is not "0", a
 * reader that sleeps that many seconds between reads; with @echo the sink
 * sends everything back.
 */
void qchimney_kernel_peer_start(QChimneyKernelPeer *k, int conns, int rcvbuf,
                                const char *slow, bool echo);
/*
 * The same with a tap whose frames carry a virtio-net header (for QEMU's
 * tap netdev with vnet_hdr=on) when @vnet_hdr
 */
void qchimney_kernel_peer_start_tap(QChimneyKernelPeer *k, int conns,
                                    int rcvbuf, const char *slow, bool echo,
                                    bool vnet_hdr);
/* Frames the kernel took in from the tap's file (a super-frame is one) */
uint64_t qchimney_kernel_peer_frames_in(QChimneyKernelPeer *k);
/* The sink's report of one connection: its port, bytes and SHA-256 */
void qchimney_kernel_peer_result(QChimneyKernelPeer *k, unsigned *port,
                                 uint64_t *bytes, char *sha, size_t shalen);
void qchimney_kernel_peer_stop(QChimneyKernelPeer *k);

typedef struct QChimneyRelay {
    int sock, tap;
    int hdr;                    /* virtio-net header bytes; 0: none */
    GRand *rand;
    double loss, dup, reorder;
    bool lossy;                 /* only once the connections are offloaded */
    bool stop;
    GThread *thread;
    uint64_t dropped, duplicated, reordered;
    /* an access port of this VLAN (0: none): frames from QEMU without it */
    uint16_t vlan;
    uint64_t mistagged;
    uint32_t tcp_pcp_seen;      /* priorities of QEMU's tagged TCP, bits */
    /* qchimney_relay_observe()'s */
    void (*to_qemu)(void *opaque, const uint8_t *frame, size_t len);
    void *opaque;
} QChimneyRelay;

/* Relay between QEMU's socket netdev @sock and @tap, seeded */
void qchimney_relay_start(QChimneyRelay *r, int sock, int tap, double loss,
                          double dup, double reorder);
/*
 * The relay for QEMU's tap netdev with vnet_hdr=on, to @k started with
 * a virtio-net header: returns the tap file to give QEMU (fd=).  It
 * drops, duplicates and reorders whole super-frames.
 */
int qchimney_relay_start_vnet(QChimneyRelay *r, QChimneyKernelPeer *k,
                              double loss, double dup, double reorder);
void qchimney_relay_stop_vnet(QChimneyRelay *r, QChimneyKernelPeer *k,
                              int qemu_tap);
/* Drop, duplicate and reorder from now on */
void qchimney_relay_set_lossy(QChimneyRelay *r, bool lossy);
/* Tag towards QEMU and untag towards the tap with VLAN @vlan */
void qchimney_relay_set_vlan(QChimneyRelay *r, uint16_t vlan);
/*
 * From now on @to_qemu sees every frame the relay gives QEMU, in the
 * relay's thread, before QEMU gets it (what QEMU acts on was seen).
 */
void qchimney_relay_observe(QChimneyRelay *r,
                            void (*to_qemu)(void *opaque,
                                            const uint8_t *frame,
                                            size_t len),
                            void *opaque);
void qchimney_relay_stop(QChimneyRelay *r);

#endif /* CONFIG_LINUX */

#endif /* LIBQOS_CHIMNEY_RELAY_H */
