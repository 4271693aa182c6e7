/*
 * libqos chimney-nic test bench: QEMU with the device, and its wire
 *
 * See chimney-host.h.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <poll.h>
#include "qemu/sockets.h"
#include "qemu/iov.h"
#include "qemu/bswap.h"
#include "qobject/qdict.h"
#include "../libqtest.h"
#include "pci-pc.h"
#include "malloc-pc.h"
#include "chimney-host.h"

QTestState *qchimney_fx_qemu(int *sock, const char *extra)
{
    int sv[2];
    QTestState *qts;

    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    qts = qtest_initf("-M pc -m 256M -nodefaults "
                      "-netdev socket,fd=%d,id=n0 "
                      "-device chimney-nic,netdev=n0,id=nic0,"
                      "mac=" QCHIMNEY_MAC " %s",
                      sv[1], extra ? extra : "");
    close(sv[1]);
    *sock = sv[0];
    return qts;
}

void qchimney_fx_init(QChimneyFixture *f, const char *extra)
{
    memset(f, 0, sizeof(*f));
    f->qts = qchimney_fx_qemu(&f->sock, extra);
    pc_alloc_init(&f->alloc, f->qts, ALLOC_NO_FLAGS);
    f->bus = qpci_new_pc(f->qts, &f->alloc);
}

void qchimney_fx_init_slirp(QChimneyFixture *f, const char *extra)
{
    memset(f, 0, sizeof(*f));
    f->qts = qtest_initf("-M pc -m 1G -nodefaults -netdev user,id=n0 "
                         "-device chimney-nic,netdev=n0,id=nic0,"
                         "mac=" QCHIMNEY_MAC " %s", extra ? extra : "");
    f->sock = -1;
    pc_alloc_init(&f->alloc, f->qts, ALLOC_NO_FLAGS);
    f->bus = qpci_new_pc(f->qts, &f->alloc);
}

void qchimney_fx_start(QChimneyFixture *f, const QChimneyConfig *cfg)
{
    qchimney_start(&f->c, f->qts, f->bus, &f->alloc, cfg);
}

void qchimney_fx_map(QChimneyFixture *f)
{
    f->c.qts = f->qts;
    f->c.pdev = qchimney_find(f->bus);
    qpci_device_enable(f->c.pdev);
    f->c.bar = qpci_iomap(f->c.pdev, CHIMNEY_BAR_MMIO, NULL);
}

void qchimney_fx_assert_alive(QChimneyFixture *f)
{
    QDict *rsp = qtest_qmp(f->qts, "{'execute': 'query-status'}");

    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
}

void qchimney_fx_quit(QChimneyFixture *f)
{
    qchimney_stop(&f->c);
    qpci_free_pc(f->bus);
    alloc_destroy(&f->alloc);
    qtest_quit(f->qts);
    if (f->sock >= 0) {
        close(f->sock);
    }
}

void qchimney_fx_end(QChimneyFixture *f)
{
    qchimney_fx_assert_alive(f);
    qchimney_fx_quit(f);
}

/* Wait until query-migrate says @want ("completed" or "failed") */
void qchimney_migrate_wait(QTestState *qts, const char *want)
{
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    for (;;) {
        QDict *rsp = qtest_qmp(qts, "{'execute': 'query-migrate'}");
        QDict *ret = qdict_get_qdict(rsp, "return");
        const char *st = qdict_haskey(ret, "status") ?
                         qdict_get_str(ret, "status") : "";
        bool done = !strcmp(st, want);

        if (strcmp(want, "failed") && !strcmp(st, "failed")) {
            fprintf(stderr, "migration failed: %s\n",
                    qdict_haskey(ret, "error-desc") ?
                    qdict_get_str(ret, "error-desc") : "?");
            g_assert_not_reached();
        }
        qobject_unref(rsp);
        if (done) {
            return;
        }
        g_assert(g_get_monotonic_time() < deadline);
        g_usleep(1000);
    }
}

/* The source's figures of a completed migration */
static void migrate_figures(QChimneyFixture *f)
{
    QDict *rsp = qtest_qmp(f->qts, "{'execute': 'query-migrate'}");
    QDict *ret = qdict_get_qdict(rsp, "return");
    QDict *ram = qdict_haskey(ret, "ram") ? qdict_get_qdict(ret, "ram") :
                                            NULL;

    f->mig_downtime_ms = qdict_haskey(ret, "downtime") ?
                         qdict_get_int(ret, "downtime") : -1;
    f->mig_total_ms = qdict_haskey(ret, "total-time") ?
                      qdict_get_int(ret, "total-time") : -1;
    f->mig_bytes = ram && qdict_haskey(ram, "transferred") ?
                   qdict_get_int(ram, "transferred") : 0;
    qobject_unref(rsp);
}

void qchimney_fx_migrate(QChimneyFixture *f, const char *how,
                         const char *extra,
                         void (*during)(QChimneyFixture *f, void *opaque),
                         void *opaque)
{
    g_autofree char *dir = g_dir_make_tmp("chimney-mig-XXXXXX", NULL);
    g_autofree char *path = g_strdup_printf("%s/%s", dir,
                                            strcmp(how, "file") ? "sock" :
                                            "vmstate");
    g_autofree char *uri = g_strdup_printf("%s:%s", how, path);
    g_autofree char *args = g_strdup_printf("-incoming defer %s",
                                            extra ? extra : "");
    QTestState *dst = NULL;
    QPCIBus *bus;
    bool relay = f->sock < 0;
    gint64 t0;
    int sock;

    if (!strcmp(how, "file")) {
        qtest_qmp_assert_success(f->qts, "{'execute': 'migrate', "
                                 "'arguments': {'uri': %s}}", uri);
        qchimney_migrate_wait(f->qts, "completed");
        migrate_figures(f);
        qtest_quit(f->qts);
        if (!relay) {
            close(f->sock);
        }
    }
    dst = qchimney_fx_qemu(&sock, args);
    t0 = g_get_monotonic_time();
    qtest_qmp_assert_success(dst, "{'execute': 'migrate-incoming', "
                             "'arguments': {'uri': %s}}", uri);
    if (strcmp(how, "file")) {
        qtest_qmp_assert_success(f->qts, "{'execute': 'migrate', "
                                 "'arguments': {'uri': %s}}", uri);
        if (during) {
            during(f, opaque);
        }
        qchimney_migrate_wait(f->qts, "completed");
        migrate_figures(f);
    }
    qchimney_migrate_wait(dst, "completed");
    f->mig_load_us = g_get_monotonic_time() - t0;
    if (strcmp(how, "file")) {
        qtest_quit(f->qts);
        if (!relay) {
            close(f->sock);
        }
    } else {
        struct stat st;

        g_assert_cmpint(stat(path, &st), ==, 0);
        f->mig_bytes = st.st_size;
        /* for scripts/bench-migrate.sh, which looks inside */
        if (g_getenv("CHIMNEY_KEEP_STREAM")) {
            g_assert_cmpint(rename(path, g_getenv("CHIMNEY_KEEP_STREAM")),
                            ==, 0);
        }
    }
    unlink(path);
    rmdir(dir);
    f->qts = dst;
    f->sock = sock;
    bus = qpci_new_pc(dst, &f->alloc);
    qpci_free_pc(f->bus);
    f->bus = bus;
    qchimney_rebind(&f->c, dst, bus);
    /* The destination announces the NIC: five RARP frames, then quiet */
    for (int i = 0; i < 5 && !relay; i++) {
        uint8_t fr[2048];
        struct pollfd pfd = { .fd = f->sock, .events = POLLIN };

        g_assert_cmpint(poll(&pfd, 1, 5000), ==, 1);
        g_assert_cmpuint(qchimney_wire_recv(f, fr, sizeof(fr)), ==, 60);
        g_assert_cmphex(lduw_be_p(fr + 12), ==, 0x8035);
    }
}

void qchimney_migrate_refused(const char *file, const char *extra)
{
    g_autofree char *args = g_strdup_printf("-incoming defer %s",
                                            extra ? extra : "");
    g_autofree char *uri = g_strdup_printf("file:%s", file);
    QTestState *dst;
    QDict *rsp;
    int sock;

    dst = qchimney_fx_qemu(&sock, args);
    qtest_qmp_assert_success(dst, "{'execute': 'migrate-incoming', "
                             "'arguments': {'uri': %s, "
                             "'exit-on-error': false}}", uri);
    qchimney_migrate_wait(dst, "failed");
    rsp = qtest_qmp(dst, "{'execute': 'query-status'}");
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    qtest_quit(dst);
    close(sock);
}

void qchimney_wire_send(QChimneyFixture *f, const uint8_t *buf, size_t len)
{
    uint32_t be = htonl(len);
    struct iovec iov[] = {
        { .iov_base = &be, .iov_len = sizeof(be) },
        { .iov_base = (void *)buf, .iov_len = len },
    };

    g_assert_cmpint(iov_send(f->sock, iov, 2, 0, sizeof(be) + len), ==,
                    sizeof(be) + len);
}

size_t qchimney_wire_recv(QChimneyFixture *f, uint8_t *buf, size_t max)
{
    uint32_t be;

    g_assert_cmpint(recv(f->sock, &be, sizeof(be), MSG_WAITALL), ==,
                    sizeof(be));
    g_assert_cmpuint(ntohl(be), <=, max);
    g_assert_cmpint(recv(f->sock, buf, ntohl(be), MSG_WAITALL), ==,
                    ntohl(be));
    return ntohl(be);
}

void qchimney_wire_expect_ip(const uint8_t *f, size_t len)
{
    g_assert_cmpuint(len, >=, 54);
    g_assert_cmphex(lduw_be_p(f + 12), ==, 0x0800);
    g_assert_cmphex(qchimney_csum(f + 14, 20, 0), ==, 0);
}

bool qchimney_wire_quiet(QChimneyFixture *f, int ms)
{
    struct pollfd pfd = { .fd = f->sock, .events = POLLIN };

    return poll(&pfd, 1, ms) == 0;
}

ChimneyCqe qchimney_expect_cqe(QChimneyFixture *f, uint32_t cq, uint8_t type,
                               uint8_t status)
{
    ChimneyCqe cqe;

    qchimney_cq_wait(&f->c, cq, &cqe);
    g_assert_cmpuint(CHIMNEY_CQE_TYPE(cqe.type_status), ==, type);
    g_assert_cmpuint(CHIMNEY_CQE_STATUS(cqe.type_status), ==, status);
    return cqe;
}

uint8_t qchimney_cmd(QChimneyFixture *f, uint8_t opcode, uint32_t id,
                     uint64_t addr, uint32_t len, uint32_t p0, uint32_t p1,
                     uint32_t p2)
{
    ChimneyAdminCmd cmd = {
        .opcode = opcode, .id = id, .addr = addr, .len = len,
        .param = { p0, p1, p2 },
    };

    return qchimney_admin(&f->c, &cmd, NULL);
}

uint64_t qchimney_qom_stat(QChimneyFixture *f, const char *name)
{
    QDict *rsp = qtest_qmp(f->qts, "{'execute': 'qom-get', 'arguments': "
                           "{'path': '/machine/peripheral/nic0', "
                           "'property': %s}}", name);
    uint64_t v = qdict_get_int(rsp, "return");

    qobject_unref(rsp);
    return v;
}

char *qchimney_qom_str(QChimneyFixture *f, const char *name)
{
    QDict *rsp = qtest_qmp(f->qts, "{'execute': 'qom-get', 'arguments': "
                           "{'path': '/machine/peripheral/nic0', "
                           "'property': %s}}", name);
    char *v = g_strdup(qdict_get_str(rsp, "return"));

    qobject_unref(rsp);
    return v;
}

bool qchimney_cq_quiet(QChimneyFixture *f, uint32_t cq)
{
    ChimneyCqe cqe;

    return !qchimney_cq_wait_timeout(&f->c, cq, &cqe, 100 * 1000);
}

/* Segments connection @index has taken in, from x-conn-stats */
uint64_t qchimney_conn_segs_in(QChimneyFixture *f, uint32_t index)
{
    g_autofree char *stats = qchimney_qom_str(f, "x-conn-stats");
    g_autofree char *prefix = g_strdup_printf("%u: ", index);
    char *line = stats;

    while (line && !g_str_has_prefix(line, prefix)) {
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    g_assert(line);
    return g_ascii_strtoull(strstr(line, "segs_in=") + 8, NULL, 10);
}

void qchimney_set_rules(QChimneyFixture *f, const char *rules)
{
    qtest_qmp_assert_success(f->qts, "{'execute': 'qom-set', 'arguments': "
                             "{'path': '/machine/peripheral/nic0', "
                             "'property': 'x-fault-rules', 'value': %s}}",
                             rules);
}

void qchimney_fault_release(QChimneyFixture *f, const char *what)
{
    qtest_qmp_assert_success(f->qts, "{'execute': 'qom-set', 'arguments': "
                             "{'path': '/machine/peripheral/nic0', "
                             "'property': 'x-fault-release', 'value': %s}}",
                             what);
}

/*
 * Read the device's next TCP segment from the wire and check it: IPv4 or
 * IPv6, tagged or not, checksums included.
 */
void qchimney_peer_read(QChimneyFixture *f, QChimneyPeerSeg *ps)
{
    uint8_t fr[2048];
    size_t len, l3, tcp_len, doff;
    uint8_t *ip, *th;
    uint32_t sum;
    uint16_t type, tci;

    /* QEMU announces the NIC after a migration with RARP frames */
    do {
        len = qchimney_wire_recv(f, fr, sizeof(fr));
    } while (len == 60 && lduw_be_p(fr + 12) == 0x8035);
    l3 = qchimney_l3(fr, &type, &tci);
    ip = fr + l3;
    memset(ps, 0, offsetof(QChimneyPeerSeg, data));
    ps->tagged = l3 == 18;
    ps->tci = tci;
    if (type == 0x86dd) {
        g_assert_cmpuint(len, >=, l3 + 40 + 20);
        g_assert_cmpuint(ip[0] >> 4, ==, 6);
        g_assert_cmpuint(ip[6], ==, 6);
        tcp_len = lduw_be_p(ip + 4);
        g_assert_cmpuint(l3 + 40 + tcp_len, <=, len);
        th = ip + 40;
        sum = (uint16_t)~qchimney_csum(ip + 8, 32, 0) + 6 + tcp_len;
        ps->ipv6 = true;
        ps->tclass = ldl_be_p(ip) >> 20 & 0xff;
        ps->flow_label = ldl_be_p(ip) & 0xfffff;
        ps->hop_limit = ip[7];
    } else {
        qchimney_wire_expect_ip(fr + l3 - 14, len - l3 + 14);
        tcp_len = lduw_be_p(ip + 2) - 20;
        th = ip + 20;
        sum = qchimney_csum(ip + 12, 8, 0);
        sum = (uint16_t)~sum + 6 + tcp_len;
        ps->ip_id = lduw_be_p(ip + 4);
        ps->ip_off = lduw_be_p(ip + 6);
        ps->tclass = ip[1];
        ps->hop_limit = ip[8];
    }
    g_assert_cmphex(qchimney_csum(th, tcp_len, sum), ==, 0);
    doff = (th[12] >> 4) * 4;
    ps->seq = ldl_be_p(th + 4);
    ps->ack = ldl_be_p(th + 8);
    ps->flags = th[13];
    ps->wnd = lduw_be_p(th + 14);
    ps->len = tcp_len - doff;
    ps->frame_len = len;
    g_assert_cmpuint(ps->len, <=, sizeof(ps->data));
    memcpy(ps->data, th + doff, ps->len);
}

/* The peer sends a segment to the device's connection @hc. */
void qchimney_peer_send(QChimneyFixture *f, QChimneyConn *hc, uint32_t seq,
                        uint32_t ack, uint8_t flags, uint16_t wnd,
                        const uint8_t *opt, size_t optlen)
{
    uint8_t fr[160];
    QChimneyTcpAddr from = qchimney_conn_addr(hc, true);
    size_t len;

    from.src_mac = (const uint8_t *)QCHIMNEY_PEER_MAC;
    len = qchimney_tcp_frame(fr, &from, seq, ack, flags, wnd, opt, optlen);

    qchimney_wire_send(f, fr, len);
}

void qchimney_peer_ack(QChimneyFixture *f, QChimneyConn *hc, uint32_t ack)
{
    qchimney_peer_send(f, hc, hc->irs + 1, ack, 0x10, 65535, NULL, 0);
}

/*
 * Send a segment and wait until the device has processed it, so that
 * virtual time stepped afterwards starts from its arrival.
 */
void qchimney_peer_send_sync(QChimneyFixture *f, QChimneyConn *hc,
                             uint32_t seq, uint32_t ack)
{
    uint32_t index = CHIMNEY_CONN_INDEX(hc->id);
    uint64_t before = qchimney_conn_segs_in(f, index);
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    qchimney_peer_send(f, hc, seq, ack, 0x10, 65535, NULL, 0);
    while (qchimney_conn_segs_in(f, index) == before) {
        g_assert(g_get_monotonic_time() < deadline);
        g_usleep(200);
    }
}

void qchimney_peer_ack_sync(QChimneyFixture *f, QChimneyConn *hc,
                            uint32_t ack)
{
    qchimney_peer_send_sync(f, hc, hc->irs + 1, ack);
}

void qchimney_conn_setup(QChimneyFixture *f, QChimneyConn *hc, uint32_t index,
                         uint32_t cq, uint32_t sq_size)
{
    static const uint8_t dev_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

    memset(hc, 0, sizeof(*hc));
    memcpy(hc->mac, dev_mac, 6);
    hc->ip = cpu_to_be32(0x0a000001);
    hc->peer_ip = cpu_to_be32(0x0a000002);
    hc->port = 40000 + index;
    hc->peer_port = 5001;
    hc->id = CHIMNEY_CONN_ID(index, 1);
    hc->cq = cq;
    hc->sq_size = sq_size;
    hc->sq_base = QEMU_ALIGN_UP(guest_alloc(&f->alloc, sq_size * 32 + 64),
                                64);
    hc->db_record = guest_alloc(&f->alloc, sizeof(ChimneyDbRecord));
    qtest_memset(f->qts, hc->db_record, 0, sizeof(ChimneyDbRecord));
}

/*
 * The peer answers the host stack's neighbor solicitation for peer_ip6
 * (the wire's next frame) with its advertisement.
 */
void qchimney_peer_ndp(QChimneyFixture *f, QChimneyConn *hc)
{
    uint8_t fr[2048], na[32] = { 136 };
    size_t len, l3;
    uint16_t type;
    QChimneyTcpAddr from = qchimney_conn_addr(hc, true);

    qchimney_ndp_solicit(&f->c, hc);
    len = qchimney_wire_recv(f, fr, sizeof(fr));
    l3 = qchimney_l3(fr, &type, NULL);
    g_assert_cmphex(type, ==, 0x86dd);
    g_assert_cmpuint(len, >=, l3 + 40 + 24);
    g_assert_cmpuint(fr[l3 + 40], ==, 135);
    g_assert_cmpmem(fr + l3 + 40 + 8, 16, hc->peer_ip6, 16);
    from.src_mac = (const uint8_t *)QCHIMNEY_PEER_MAC;
    na[4] = 0x60;                       /* solicited, override */
    memcpy(na + 8, hc->peer_ip6, 16);
    na[24] = 2;                         /* target link-layer address */
    na[25] = 1;
    memcpy(na + 26, QCHIMNEY_PEER_MAC, 6);
    qchimney_wire_send(f, fr, qchimney_icmp6_frame(fr, &from, na,
                                                   sizeof(na)));
    qchimney_ndp_advert_wait(&f->c, hc);
}

/*
 * The whole road to an offloaded connection: ARP, the handshake through
 * the L2 queues with the test answering on the wire, then OFFLOAD of the
 * neighbor, the path and the connection.
 */
void qchimney_establish(QChimneyFixture *f, QChimneyConn *hc, uint32_t iss,
                        uint32_t irs)
{
    static const uint8_t mss[4] = { 2, 4, 0x03, 0xe8 };    /* MSS 1000 */
    uint8_t fr[2048], reply[64] = { 0 };
    ChimneyTcpOffload o;
    QChimneyPeerSeg ps;

    if (hc->ipv6) {
        qchimney_peer_ndp(f, hc);
    } else {
        /* ARP on the connection's VLAN, answered on it */
        size_t l3;
        uint16_t type;

        qchimney_arp_request(&f->c, hc);
        g_assert_cmpuint(qchimney_wire_recv(f, fr, sizeof(fr)), ==,
                         hc->vlan ? 64 : 60);
        l3 = qchimney_l3(fr, &type, NULL);
        g_assert_cmphex(type, ==, 0x0806);
        g_assert_cmpmem(fr + l3 + 24, 4, &hc->peer_ip, 4);
        memcpy(reply, fr, l3);
        memcpy(reply, hc->mac, 6);
        memcpy(reply + 6, QCHIMNEY_PEER_MAC, 6);
        memcpy(reply + l3, fr + l3, 6);
        stw_be_p(reply + l3 + 6, 2);
        memcpy(reply + l3 + 8, QCHIMNEY_PEER_MAC, 6);
        memcpy(reply + l3 + 14, &hc->peer_ip, 4);
        memcpy(reply + l3 + 18, hc->mac, 6);
        memcpy(reply + l3 + 24, &hc->ip, 4);
        qchimney_wire_send(f, reply, hc->vlan ? 64 : 60);
        qchimney_arp_reply_wait(&f->c, hc);
    }
    g_assert_cmpmem(hc->peer_mac, 6, QCHIMNEY_PEER_MAC, 6);

    hc->iss = iss;
    qchimney_tcp_syn(&f->c, hc);
    qchimney_peer_read(f, &ps);
    g_assert_cmphex(ps.flags, ==, 0x02);
    g_assert_cmpuint(ps.seq, ==, iss);
    qchimney_peer_send(f, hc, irs, iss + 1, 0x12, 65535, mss, sizeof(mss));
    qchimney_tcp_synack_wait(&f->c, hc);
    qchimney_peer_read(f, &ps);
    g_assert_cmphex(ps.flags, ==, 0x10);
    g_assert_cmpuint(ps.ack, ==, irs + 1);
    g_assert_cmpuint(hc->peer_mss, ==, 1000);

    qchimney_offload_route(&f->c, hc, 0, 0, 1500);
    qchimney_tcp_block(hc, 0, hc->cq, &o);
    if (f->tweak) {
        f->tweak(f, &o);
    }
    g_assert_cmpuint(qchimney_offload_tcp(&f->c, hc, &o, 0), ==,
                     CHIMNEY_ST_SUCCESS);
}

void qchimney_tcp_fixture_cq(QChimneyFixture *f, QChimneyConn *hc,
                             uint32_t iss, uint32_t cq_entries,
                             const char *extra)
{
    qchimney_tcp_fixture_tweak(f, hc, iss, cq_entries, extra, NULL);
}

/* The same, the offload block changed by @tweak first */
void qchimney_tcp_fixture_tweak(QChimneyFixture *f, QChimneyConn *hc,
                                uint32_t iss, uint32_t cq_entries,
                                const char *extra,
                                void (*tweak)(QChimneyFixture *f,
                                              ChimneyTcpOffload *o))
{
    uint64_t ring;

    qchimney_fx_init(f, extra);
    f->tweak = tweak;
    qchimney_fx_start(f, &(QChimneyConfig) { .rx_buffers = 8 });
    ring = QEMU_ALIGN_UP(guest_alloc(&f->alloc, cq_entries * 32 + 64), 64);
    qtest_memset(f->qts, ring, 0, cq_entries * 32);
    g_assert_cmpuint(qchimney_create_cq(&f->c, 2, ring, cq_entries, 2, 0, 0),
                     ==, CHIMNEY_ST_SUCCESS);
    qchimney_conn_setup(f, hc, 5, 2, 16);
    qchimney_establish(f, hc, iss, 777);
}

ChimneyOffloadStats qchimney_query_stats(QChimneyFixture *f)
{
    ChimneyOffloadStats st;
    uint64_t buf = guest_alloc(&f->alloc, sizeof(st));

    g_assert_cmpuint(qchimney_cmd(f, CHIMNEY_CMD_QUERY_STATS, 0, buf,
                                  sizeof(st), 0, 0, 0), ==,
                     CHIMNEY_ST_SUCCESS);
    qtest_memread(f->qts, buf, &st, sizeof(st));
    return st;
}

void qchimney_tcp_fixture(QChimneyFixture *f, QChimneyConn *hc, uint32_t iss)
{
    qchimney_tcp_fixture_cq(f, hc, iss, 256, NULL);
}

uint8_t qchimney_rx_byte(uint32_t seq)
{
    return seq * 13 + 7;
}

/* The peer sends @len bytes of its stream (qchimney_rx_byte) at @seq. */
void qchimney_peer_data(QChimneyFixture *f, QChimneyConn *hc, uint32_t seq,
                        uint32_t ack, uint8_t flags, uint32_t len)
{
    g_autofree uint8_t *fr = g_malloc(18 + 60 + len);
    g_autofree uint8_t *data = g_malloc(len + 1);
    QChimneyTcpAddr from = qchimney_conn_addr(hc, true);
    size_t n;

    from.src_mac = (const uint8_t *)QCHIMNEY_PEER_MAC;

    for (uint32_t i = 0; i < len; i++) {
        data[i] = qchimney_rx_byte(seq + i);
    }
    n = qchimney_tcp_data_frame(fr, &from, seq, ack, 0x10 | flags, 65535,
                                NULL, 0, data, len);
    qchimney_wire_send(f, fr, n);
}

/* Wait until the connection has taken @n segments in all. */
void qchimney_wait_segs_in(QChimneyFixture *f, QChimneyConn *hc, uint64_t n)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (qchimney_conn_segs_in(f, CHIMNEY_CONN_INDEX(hc->id)) < n) {
        g_assert(g_get_monotonic_time() < deadline);
        g_usleep(200);
    }
}

/* Guest memory at @addr holds the peer's stream from @seq. */
void qchimney_check_rx(QChimneyFixture *f, uint64_t addr, uint32_t seq,
                       uint32_t len)
{
    g_autofree uint8_t *buf = g_malloc(len + 1);

    qtest_memread(f->qts, addr, buf, len);
    for (uint32_t i = 0; i < len; i++) {
        g_assert_cmphex(buf[i], ==, qchimney_rx_byte(seq + i));
    }
}

ChimneyCqe qchimney_expect_recv(QChimneyFixture *f, uint64_t cookie,
                                uint8_t status, uint32_t bytes)
{
    ChimneyCqe cqe = qchimney_expect_cqe(f, 2, CHIMNEY_CQE_RECV, status);

    g_assert_cmphex(cqe.cookie, ==, cookie);
    g_assert_cmpuint(cqe.bytes, ==, bytes);
    g_assert_cmpuint(cqe.queue, ==, CHIMNEY_QUEUE_CONN_RQ);
    return cqe;
}

/* A connection with a receive queue and, if asked, generic buffers */
void qchimney_rx_fixture(QChimneyFixture *f, QChimneyConn *hc, bool generic,
                         void (*tweak)(QChimneyFixture *,
                                       ChimneyTcpOffload *))
{
    uint64_t ring;

    qchimney_fx_init(f, NULL);
    qchimney_fx_start(f, &(QChimneyConfig) { .rx_buffers = 8 });
    ring = QEMU_ALIGN_UP(guest_alloc(&f->alloc, 256 * 32 + 64), 64);
    qtest_memset(f->qts, ring, 0, 256 * 32);
    g_assert_cmpuint(qchimney_create_cq(&f->c, 2, ring, 256, 2, 0, 0),
                     ==, CHIMNEY_ST_SUCCESS);
    qchimney_conn_setup(f, hc, 5, 2, 16);
    hc->rq_size = 16;
    hc->rq_base = QEMU_ALIGN_UP(guest_alloc(&f->alloc, 16 * 32 + 64), 64);
    if (generic) {
        qchimney_ind_create(&f->c, 16, 2048);
    }
    f->tweak = tweak;
    qchimney_establish(f, hc, 1000, 777);
}
