/*
 * libqos chimney-nic on libslirp: the device against a real TCP stack
 *
 * See chimney-slirp.h.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/sockets.h"
#include "qemu/bswap.h"
#include "../libqtest.h"
#include "chimney-slirp.h"

typedef struct ServerConn {
    QChimneyServer *srv;
    int i;
} ServerConn;

static gpointer stream_reader(gpointer opaque)
{
    ServerConn *p = opaque;
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree uint8_t *buf = g_malloc(QCHIMNEY_STREAM_CHUNK);
    ssize_t n;

    while ((n = recv(p->srv->fd[p->i], buf, QCHIMNEY_STREAM_CHUNK, 0)) > 0) {
        g_checksum_update(sum, buf, n);
        p->srv->bytes[p->i] += n;
    }
    p->srv->sha[p->i] = g_strdup(g_checksum_get_string(sum));
    g_checksum_free(sum);
    close(p->srv->fd[p->i]);        /* our FIN back to the device */
    g_free(p);
    return NULL;
}

/* The echo server: every byte back, hashed; its FIN after the peer's */
static gpointer echo_server(gpointer opaque)
{
    ServerConn *p = opaque;
    int fd = p->srv->fd[p->i];
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree uint8_t *buf = g_malloc(QCHIMNEY_STREAM_CHUNK);
    ssize_t n;

    while ((n = recv(fd, buf, QCHIMNEY_STREAM_CHUNK, 0)) > 0) {
        g_checksum_update(sum, buf, n);
        p->srv->bytes[p->i] += n;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = send(fd, buf + off, n - off, 0);

            g_assert_cmpint(w, >, 0);
            off += w;
        }
    }
    p->srv->sha[p->i] = g_strdup(g_checksum_get_string(sum));
    g_checksum_free(sum);
    close(fd);
    g_free(p);
    return NULL;
}

void qchimney_server_listen(QChimneyServer *srv, int backlog)
{
    struct sockaddr_in addr = { .sin_family = AF_INET };
    socklen_t alen = sizeof(addr);

    srv->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(bind(srv->listen_fd, (struct sockaddr *)&addr,
                         sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(srv->listen_fd, backlog), ==, 0);
    g_assert_cmpint(getsockname(srv->listen_fd, (struct sockaddr *)&addr,
                                &alen), ==, 0);
    srv->port = ntohs(addr.sin_port);
}

/* The same on ::1, where libslirp takes IPv6 connections to its host */
void qchimney_server_listen6(QChimneyServer *srv, int backlog)
{
    struct sockaddr_in6 addr = { .sin6_family = AF_INET6 };
    socklen_t alen = sizeof(addr);

    srv->listen_fd = socket(AF_INET6, SOCK_STREAM, 0);
    g_assert_cmpint(srv->listen_fd, >=, 0);
    addr.sin6_addr = in6addr_loopback;
    g_assert_cmpint(bind(srv->listen_fd, (struct sockaddr *)&addr,
                         sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(srv->listen_fd, backlog), ==, 0);
    g_assert_cmpint(getsockname(srv->listen_fd, (struct sockaddr *)&addr,
                                &alen), ==, 0);
    srv->port = ntohs(addr.sin6_port);
}

void qchimney_server_start(QChimneyServer *srv, int i, bool echo)
{
    ServerConn *p = g_new0(ServerConn, 1);

    p->srv = srv;
    p->i = i;
    srv->thread[i] = g_thread_new(echo ? "echo" : "stream",
                                  echo ? echo_server : stream_reader, p);
}

void qchimney_server_join(QChimneyServer *srv, int i)
{
    g_thread_join(srv->thread[i]);
    srv->thread[i] = NULL;
}

void qchimney_slirp_addr(QChimneyConn *hc)
{
    static const uint8_t dev_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

    memcpy(hc->mac, dev_mac, 6);
    hc->ip = cpu_to_be32(0x0a00020f);           /* 10.0.2.15 */
    hc->peer_ip = cpu_to_be32(0x0a000202);      /* 10.0.2.2 */
}

void qchimney_slirp_start(QChimneyFixture *f, const char *extra)
{
    uint64_t ring;

    qchimney_fx_init_slirp(f, extra);
    qchimney_fx_start(f, &(QChimneyConfig) {
        .rx_buffers = 32, .rx_own_cq = true,
    });
    ring = QEMU_ALIGN_UP(guest_alloc(&f->alloc, 1024 * 32 + 64), 64);
    qtest_memset(f->qts, ring, 0, 1024 * 32);
    g_assert_cmpuint(qchimney_create_cq(&f->c, 2, ring, 1024, 2, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
}

size_t qchimney_slirp_ping(QChimney *c, const QChimneyConn *hc, int seq)
{
    uint8_t f[128], got[2048];
    uint8_t *ip = f + 14, *icmp = f + 34;
    ChimneyCqe cqe;
    size_t len;

    memset(f, 0, sizeof(f));
    memcpy(f, hc->peer_mac, 6);
    memcpy(f + 6, hc->mac, 6);
    stw_be_p(f + 12, 0x0800);
    ip[0] = 0x45;
    stw_be_p(ip + 2, 20 + 8 + 32);
    stw_be_p(ip + 4, seq);
    ip[8] = 64;
    ip[9] = 1;
    memcpy(ip + 12, &hc->ip, 4);
    memcpy(ip + 16, &hc->peer_ip, 4);
    stw_be_p(ip + 10, qchimney_csum(ip, 20, 0));
    icmp[0] = 8;
    stw_be_p(icmp + 4, 0x1234);
    stw_be_p(icmp + 6, seq);
    for (int i = 0; i < 32; i++) {
        icmp[8 + i] = 'a' + i % 26;
    }
    stw_be_p(icmp + 2, qchimney_csum(icmp, 40, 0));
    qchimney_l2_send(c, f, 14 + 60, 2);
    qchimney_cq_wait(c, QCHIMNEY_L2_CQ, &cqe);
    g_assert_cmpuint(CHIMNEY_CQE_TYPE(cqe.type_status), ==,
                     CHIMNEY_CQE_L2_TX);
    g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==,
                     CHIMNEY_ST_SUCCESS);
    len = qchimney_l2_recv(c, got, sizeof(got), &cqe);
    qchimney_l2_post_rx(c, 1, 2048);
    g_assert_cmpuint(len, >=, 14 + 60);
    g_assert_cmphex(lduw_be_p(got + 12), ==, 0x0800);
    g_assert_cmpuint(got[14 + 9], ==, 1);
    g_assert_cmpuint(got[34], ==, 0);               /* echo reply */
    g_assert_cmpuint(lduw_be_p(got + 34 + 6), ==, seq);
    g_assert_cmpmem(got + 42, 32, f + 42, 32);
    return len;
}

void qchimney_slirp_connect_as(QChimneyFixture *f, QChimneyServer *srv,
                               QChimneyConn *hc, int nconns, uint32_t rq,
                               const QChimneyConn *tmpl)
{
    /* libslirp's IPv6 prefix fec0::/64, its host fec0::2 */
    static const uint8_t ip6[16] = { 0xfe, 0xc0, [14] = 0x01, [15] = 0x15 };
    static const uint8_t host6[16] = { 0xfe, 0xc0, [15] = 0x02 };
    ChimneyTcpOffload o;

    for (int i = 0; i < nconns; i++) {
        qchimney_conn_setup(f, &hc[i], i, 2, QCHIMNEY_STREAM_SQ);
        hc[i].ip = cpu_to_be32(0x0a00020f);         /* 10.0.2.15 */
        hc[i].peer_ip = cpu_to_be32(0x0a000202);    /* 10.0.2.2 */
        hc[i].peer_port = srv->port;
        if (tmpl) {
            hc[i].ipv6 = tmpl->ipv6;
            memcpy(hc[i].ip6, ip6, 16);
            memcpy(hc[i].peer_ip6, host6, 16);
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
        hc[i].iss = 0x10000000 * (i + 1);
        qchimney_tcp_syn(&f->c, &hc[i]);
        srv->fd[i] = accept(srv->listen_fd, NULL, NULL);
        g_assert_cmpint(srv->fd[i], >=, 0);
        qchimney_tcp_synack_wait(&f->c, &hc[i]);
        if (!i) {
            qchimney_offload_route(&f->c, &hc[0], 0, 0, 1500);
        }
        qchimney_tcp_block(&hc[i], 0, 2, &o);
        g_assert_cmpuint(qchimney_offload_tcp(&f->c, &hc[i], &o, 0), ==, 0);
    }
}

void qchimney_slirp_connect(QChimneyFixture *f, QChimneyServer *srv,
                            QChimneyConn *hc, int nconns, uint32_t rq)
{
    qchimney_slirp_connect_as(f, srv, hc, nconns, rq, NULL);
}
