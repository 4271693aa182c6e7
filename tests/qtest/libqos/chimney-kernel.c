/*
 * libqos chimney-nic with the Linux kernel's TCP as the peer: a fixture
 *
 * See chimney-kernel.h.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "pci-pc.h"
#include "malloc-pc.h"
#include "chimney-stream.h"
#include "chimney-kernel.h"

#ifdef CONFIG_LINUX

/* The device up with CQ 2 for offloaded connections */
static void kernel_fx_device(QChimneyFixture *f)
{
    uint64_t ring;

    pc_alloc_init(&f->alloc, f->qts, ALLOC_NO_FLAGS);
    f->bus = qpci_new_pc(f->qts, &f->alloc);
    qchimney_fx_start(f, &(QChimneyConfig) {
        .rx_buffers = 32, .rx_own_cq = true,
    });
    ring = QEMU_ALIGN_UP(guest_alloc(&f->alloc, 1024 * 32 + 64), 64);
    qtest_memset(f->qts, ring, 0, 1024 * 32);
    g_assert_cmpuint(qchimney_create_cq(&f->c, 2, ring, 1024, 2, 0, 0), ==,
                     0);
    /* A lossy wire: allow 15 retransmissions, as Linux does */
    qchimney_set_params(&f->c, 15);
}

void qchimney_kernel_fx_start_tap(QChimneyFixture *f, int tap_fd)
{
    /* With fd=, QEMU asks the tap whether it has the header */
    memset(f, 0, sizeof(*f));
    f->qts = qtest_initf("-M pc -m 512M -nodefaults "
                         "-global apic-common.vapic=off "
                         "-netdev tap,fd=%d,id=n0 "
                         "-device chimney-nic,netdev=n0,id=nic0,"
                         "mac=" QCHIMNEY_MAC, tap_fd);
    f->sock = -1;
    kernel_fx_device(f);
}

void qchimney_kernel_fx_start(QChimneyFixture *f, QChimneyRelay *relay,
                              QChimneyKernelPeer *peer, double loss,
                              double dup, double reorder, uint32_t seed)
{
    int sv[2];

    /*
     * QEMU, with the relay as its wire; no CPU runs: no vapic option ROM
     * (and no complaint that it is not there)
     */
    memset(f, 0, sizeof(*f));
    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    f->qts = qtest_initf("-M pc -m 512M -nodefaults "
                         "-global apic-common.vapic=off "
                         "-netdev socket,fd=%d,id=n0 "
                         "-device chimney-nic,netdev=n0,id=nic0,"
                         "mac=" QCHIMNEY_MAC, sv[1]);
    close(sv[1]);
    f->sock = -1;
    qchimney_relay_start(relay, sv[0], peer->tap_fd, loss, dup, reorder);
    /* not lossy yet: the relay's thread has not drawn from it */
    g_rand_set_seed(relay->rand, seed);
    kernel_fx_device(f);
}

void qchimney_kernel_connect_as(QChimneyFixture *f, QChimneyConn *hc,
                                int nconns, uint32_t rq,
                                const QChimneyConn *tmpl)
{
    static const uint8_t ip6[16] = { 0xfd, 0x09, [15] = 1 };
    static const uint8_t peer_ip6[16] = { 0xfd, 0x09, [15] = 2 };
    ChimneyTcpOffload o;

    for (int i = 0; i < nconns; i++) {
        qchimney_conn_setup(f, &hc[i], i, 2, QCHIMNEY_STREAM_SQ);
        hc[i].ip = cpu_to_be32(0x0a090001);        /* 10.9.0.1 */
        hc[i].peer_ip = cpu_to_be32(0x0a090002);   /* 10.9.0.2 */
        hc[i].peer_port = QCHIMNEY_KERNEL_PORT;
        if (tmpl) {
            hc[i].ipv6 = tmpl->ipv6;
            memcpy(hc[i].ip6, ip6, 16);
            memcpy(hc[i].peer_ip6, peer_ip6, 16);
            hc[i].vlan = tmpl->vlan;
            hc[i].prio = tmpl->prio;
            hc[i].flow_label = tmpl->flow_label ? tmpl->flow_label + i : 0;
        }
        if (rq) {
            hc[i].rq_size = rq;
            hc[i].rq_base = QEMU_ALIGN_UP(guest_alloc(&f->alloc,
                                                      rq * 32 + 64), 64);
        }
        if (!i) {
            qchimney_resolve(&f->c, &hc[0]);
        } else {
            memcpy(hc[i].peer_mac, hc[0].peer_mac, 6);
        }
        hc[i].iss = QCHIMNEY_KERNEL_ISS * (i + 1);
        qchimney_tcp_syn(&f->c, &hc[i]);
        qchimney_tcp_synack_wait(&f->c, &hc[i]);
        if (!i) {
            qchimney_offload_route(&f->c, &hc[0], 0, 0, 1500);
        }
        qchimney_tcp_block(&hc[i], 0, 2, &o);
        g_assert_cmpuint(qchimney_offload_tcp(&f->c, &hc[i], &o, 0), ==, 0);
    }
}

void qchimney_kernel_connect(QChimneyFixture *f, QChimneyConn *hc,
                             int nconns, uint32_t rq)
{
    qchimney_kernel_connect_as(f, hc, nconns, rq, NULL);
}

void qchimney_kernel_fx_quit(QChimneyFixture *f, QChimneyRelay *relay,
                             QChimneyKernelPeer *peer)
{
    qchimney_relay_stop(relay);
    qchimney_fx_quit(f);
    close(relay->sock);
    qchimney_kernel_peer_stop(peer);
}

#endif /* CONFIG_LINUX */
