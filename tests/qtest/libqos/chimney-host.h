/*
 * libqos chimney-nic test bench: QEMU with the device, and its wire
 *
 * The test is the guest, through the model driver (chimney.h), and, on a
 * socket netdev, the wire: it reads the device's frames and answers as the
 * TCP peer would, on QEMU's virtual clock.  This is what the qtests share:
 * starting and ending QEMU, the wire, scripted peers for the send and the
 * receive side, QOM statistics and the fault rules.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_CHIMNEY_HOST_H
#define LIBQOS_CHIMNEY_HOST_H

#include "chimney.h"

#define QCHIMNEY_MAC "52:54:00:12:34:56"
#define QCHIMNEY_PEER_MAC "\x02\x00\x00\x00\x00\x02"
#define QCHIMNEY_FAR_AWAY (1ull << 40)  /* no RAM or MMIO there */
#define QCHIMNEY_MS_NS (1000 * 1000LL)

typedef struct QChimneyFixture {
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QChimney c;
    int sock;                   /* our end of the socket netdev, or -1 */
    /* changes qchimney_establish() makes to the OFFLOAD_TCP block */
    void (*tweak)(struct QChimneyFixture *f, ChimneyTcpOffload *o);
    /* the last qchimney_fx_migrate: the source's figures, the stream's size */
    int64_t mig_downtime_ms, mig_total_ms, mig_load_us;
    uint64_t mig_bytes;
} QChimneyFixture;

/* QEMU with chimney-nic (id nic0) on a socket netdev; @extra: more args */
QTestState *qchimney_fx_qemu(int *sock, const char *extra);
void qchimney_fx_init(QChimneyFixture *f, const char *extra);
/* On -netdev user (libslirp) instead: no wire of the test's */
void qchimney_fx_init_slirp(QChimneyFixture *f, const char *extra);
void qchimney_fx_start(QChimneyFixture *f, const QChimneyConfig *cfg);
/* Only find the function and map BAR0: the bring-up is the test's. */
void qchimney_fx_map(QChimneyFixture *f);
/* QEMU must still answer QMP after whatever the test did. */
void qchimney_fx_assert_alive(QChimneyFixture *f);
void qchimney_fx_end(QChimneyFixture *f);
/* Stop the driver and QEMU, with no check: the end of a demo run */
void qchimney_fx_quit(QChimneyFixture *f);

/*
 * Migration: QEMU moves to a new QEMU (-incoming defer and @extra),
 * through "file" (stopped, to a file, then loaded) or "unix" (live, over
 * a socket); the wire moves to a new socket pair and the fixture follows
 * the destination.  What the source sent on the old wire and the test
 * did not read is lost, as on a lossy wire.  A fixture whose wire is a
 * relay's (sock -1) gets the new wire's end in sock, for the relay.
 * @during, when given, runs while a live migration is under way (the
 * peer keeps sending).
 */
void qchimney_migrate_wait(QTestState *qts, const char *want);
void qchimney_fx_migrate(QChimneyFixture *f, const char *how,
                         const char *extra,
                         void (*during)(QChimneyFixture *f, void *opaque),
                         void *opaque);
/* Load @file into a new QEMU that must refuse it and stay alive */
void qchimney_migrate_refused(const char *file, const char *extra);

/* The wire: whole frames in the socket netdev's framing */
void qchimney_wire_send(QChimneyFixture *f, const uint8_t *buf, size_t len);
size_t qchimney_wire_recv(QChimneyFixture *f, uint8_t *buf, size_t max);
void qchimney_wire_expect_ip(const uint8_t *f, size_t len);
/* Nothing comes from the device on the wire for @ms of real time. */
bool qchimney_wire_quiet(QChimneyFixture *f, int ms);

/* Completions, admin commands, QOM statistics, fault rules */
ChimneyCqe qchimney_expect_cqe(QChimneyFixture *f, uint32_t cq, uint8_t type,
                               uint8_t status);
bool qchimney_cq_quiet(QChimneyFixture *f, uint32_t cq);
uint8_t qchimney_cmd(QChimneyFixture *f, uint8_t opcode, uint32_t id,
                     uint64_t addr, uint32_t len, uint32_t p0, uint32_t p1,
                     uint32_t p2);
/* QUERY_STATS into a fresh buffer of the fixture's guest memory */
ChimneyOffloadStats qchimney_query_stats(QChimneyFixture *f);
uint64_t qchimney_qom_stat(QChimneyFixture *f, const char *name);
char *qchimney_qom_str(QChimneyFixture *f, const char *name);
uint64_t qchimney_conn_segs_in(QChimneyFixture *f, uint32_t index);
void qchimney_set_rules(QChimneyFixture *f, const char *rules);
void qchimney_fault_release(QChimneyFixture *f, const char *what);

/* The peer of offloaded connections, scripted on the wire */
typedef struct QChimneyPeerSeg {
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd, ip_id, ip_off;
    uint32_t len;
    /* how it came: family, 802.1Q tag, IP header fields, frame bytes */
    bool ipv6, tagged;
    uint16_t tci;
    uint8_t tclass, hop_limit;
    uint32_t flow_label;
    size_t frame_len;
    uint8_t data[2048];
} QChimneyPeerSeg;

void qchimney_peer_read(QChimneyFixture *f, QChimneyPeerSeg *ps);
void qchimney_peer_send(QChimneyFixture *f, QChimneyConn *hc, uint32_t seq,
                        uint32_t ack, uint8_t flags, uint16_t wnd,
                        const uint8_t *opt, size_t optlen);
void qchimney_peer_ack(QChimneyFixture *f, QChimneyConn *hc, uint32_t ack);
void qchimney_peer_send_sync(QChimneyFixture *f, QChimneyConn *hc,
                             uint32_t seq, uint32_t ack);
void qchimney_peer_ack_sync(QChimneyFixture *f, QChimneyConn *hc,
                            uint32_t ack);

/* Connections: addressing and queues, then ARP, handshake and OFFLOAD */
void qchimney_peer_ndp(QChimneyFixture *f, QChimneyConn *hc);
void qchimney_conn_setup(QChimneyFixture *f, QChimneyConn *hc, uint32_t index,
                         uint32_t cq, uint32_t sq_size);
void qchimney_establish(QChimneyFixture *f, QChimneyConn *hc, uint32_t iss,
                        uint32_t irs);
void qchimney_tcp_fixture_cq(QChimneyFixture *f, QChimneyConn *hc,
                             uint32_t iss, uint32_t cq_entries,
                             const char *extra);
void qchimney_tcp_fixture_tweak(QChimneyFixture *f, QChimneyConn *hc,
                                uint32_t iss, uint32_t cq_entries,
                                const char *extra,
                                void (*tweak)(QChimneyFixture *f,
                                              ChimneyTcpOffload *o));
void qchimney_tcp_fixture(QChimneyFixture *f, QChimneyConn *hc, uint32_t iss);

/* The receive side: the peer's stream and the guest's receives */
uint8_t qchimney_rx_byte(uint32_t seq);
void qchimney_peer_data(QChimneyFixture *f, QChimneyConn *hc, uint32_t seq,
                        uint32_t ack, uint8_t flags, uint32_t len);
void qchimney_wait_segs_in(QChimneyFixture *f, QChimneyConn *hc, uint64_t n);
void qchimney_check_rx(QChimneyFixture *f, uint64_t addr, uint32_t seq,
                       uint32_t len);
ChimneyCqe qchimney_expect_recv(QChimneyFixture *f, uint64_t cookie,
                                uint8_t status, uint32_t bytes);
void qchimney_rx_fixture(QChimneyFixture *f, QChimneyConn *hc, bool generic,
                         void (*tweak)(QChimneyFixture *,
                                       ChimneyTcpOffload *));

#endif /* LIBQOS_CHIMNEY_HOST_H */
