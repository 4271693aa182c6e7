/*
 * libqos driver for chimney-nic: a model guest driver
 *
 * Brings the device up the way a guest driver does (find it, map BARs,
 * enable MSI-X, admin queue, IDENTIFY, completion queues, L2 queues) and
 * gives tests typed access to every queue.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_CHIMNEY_H
#define LIBQOS_CHIMNEY_H

#include "../libqtest.h"
#include "pci.h"
#include "libqos-malloc.h"
#include "hw/net/chimney/chimney-abi.h"
/* The shared driver core: qemu-chimney's guest/common/, linked here */
#include "tests/qtest/libqos/chimney-guest/chimney-guest.h"
#include "tests/qtest/libqos/chimney-guest/chimney-guest-ndis.h"

/* Guest view of a ring the driver produces into. */
typedef struct QChimneyRing {
    uint64_t base;
    uint32_t size;
    uint32_t tail;          /* next entry the driver fills */
    uint32_t doorbell;      /* BAR0 offset of its tail doorbell */
} QChimneyRing;

/* Guest view of a completion queue: the shared driver core's, and its vector */
typedef struct QChimneyCQ {
    ChimneyGuestCq ring;
    uint32_t vector;
} QChimneyCQ;

typedef struct QChimney {
    QTestState *qts;
    QGuestAllocator *alloc;
    QPCIBus *bus;
    QPCIDevice *pdev;
    QPCIBar bar;
    uint64_t msi_page;      /* MSI-X messages land here, 4 bytes a vector */
    ChimneyIdentify id;
    ChimneyGuestDev dev;    /* the driver core's device: admin SQ */
    QChimneyRing txq;
    QChimneyRing rxq;
    QChimneyRing indq;      /* generic buffers; cookie = buffer address */
    uint32_t ind_buf_size;
    QChimneyCQ cq[CHIMNEY_MAX_CQS];
    ChimneyGuestMem mem;    /* guest memory through qtest, for the core */
    uint64_t next_cookie;
    uint64_t tx_area;       /* QCHIMNEY_TX_SLOT bytes per TX ring slot */
    uint32_t admin_ring;    /* entries in the admin SQ and CQ */
    uint64_t block_buf;     /* reused for OFFLOAD parameter blocks */
    uint32_t rx_cq;         /* CQ of L2 RX completions */
    uint32_t cq_flags;      /* CHIMNEY_CQF_* of every CQ it creates */
    void (*idle)(QTestState *qts);  /* what a wait does; NULL: sleep */
} QChimney;

/* What qchimney_start does; the default is a full bring-up. */
typedef struct QChimneyConfig {
    uint32_t admin_entries;   /* 0: 16 */
    bool no_msix;             /* leave MSI-X off (INTx) */
    bool no_l2;               /* skip CQ 1 and the L2 queues */
    uint32_t l2_entries;      /* 0: 64 */
    uint32_t cq_entries;      /* 0: 64 */
    uint32_t mod_count;
    uint32_t mod_usec;
    uint32_t rx_buffers;      /* posted at start; 0: none */
    uint32_t rx_buffer_size;  /* 0: 2048 */
    bool rx_own_cq;           /* L2 RX completions on CQ 3, not CQ 1 */
    uint32_t cq_flags;        /* CHIMNEY_CQF_* of every CQ */
    /*
     * Run by every wait of the driver instead of a sleep: a QEMU in the
     * test's own process (the fuzzer) only makes progress in its main
     * loop, which the wait must then run.
     */
    void (*idle)(QTestState *qts);
} QChimneyConfig;

#define QCHIMNEY_L2_CQ 1
#define QCHIMNEY_RX_CQ 3
#define QCHIMNEY_TX_SLOT 2048
#define QCHIMNEY_TIMEOUT_US (5 * G_USEC_PER_SEC)

QPCIDevice *qchimney_find(QPCIBus *bus);
void qchimney_start(QChimney *c, QTestState *qts, QPCIBus *bus,
                    QGuestAllocator *alloc, const QChimneyConfig *cfg);
void qchimney_rebind(QChimney *c, QTestState *qts, QPCIBus *bus);

uint32_t qchimney_readl(QChimney *c, uint32_t reg);
void qchimney_writel(QChimney *c, uint32_t reg, uint32_t val);

/* Admin commands: submit, wait for the completion, return its status. */
uint8_t qchimney_admin(QChimney *c, ChimneyAdminCmd *cmd, ChimneyCqe *cqe);
void qchimney_set_params(QChimney *c, uint32_t max_retransmit);
void qchimney_admin_submit(QChimney *c, ChimneyAdminCmd *cmd);
uint8_t qchimney_create_cq(QChimney *c, uint32_t id, uint64_t base,
                           uint32_t size, uint32_t vector,
                           uint32_t mod_count, uint32_t mod_usec);
uint8_t qchimney_destroy_cq(QChimney *c, uint32_t id);
uint8_t qchimney_create_l2q(QChimney *c, uint32_t queue, uint64_t base,
                            uint32_t size, uint32_t cq);

/* Completion queues */
bool qchimney_cq_poll(QChimney *c, uint32_t cqid, ChimneyCqe *cqe);
void qchimney_cq_wait(QChimney *c, uint32_t cqid, ChimneyCqe *cqe);
bool qchimney_cq_wait_timeout(QChimney *c, uint32_t cqid, ChimneyCqe *cqe,
                              int64_t timeout_us);
void qchimney_cq_ack(QChimney *c, uint32_t cqid);

/* Interrupts: MSI-X messages written to msi_page, one word per vector. */
bool qchimney_msi_fired(QChimney *c, uint32_t vector);
void qchimney_msi_clear(QChimney *c, uint32_t vector);
void qchimney_msi_mask(QChimney *c, uint32_t vector, bool masked);

/* L2 queues */
uint64_t qchimney_l2_send(QChimney *c, const void *frame, size_t len,
                          int segments);
void qchimney_l2_post_rx(QChimney *c, uint32_t count, uint32_t size);
size_t qchimney_l2_recv(QChimney *c, void *buf, size_t bufsize,
                        ChimneyCqe *cqe);
void qchimney_ring_doorbell(QChimney *c, QChimneyRing *r);

/*
 * Offloaded connections.  The model driver's host stack does what the
 * guest's own stack does before an offload: ARP for the peer, the
 * three-way handshake over the L2 queues.  The test plays the peer on
 * the wire between the steps.
 */
typedef struct QChimneyConn {
    /* addressing, network order for IPs */
    uint8_t mac[6];
    uint8_t peer_mac[6];
    uint32_t ip;
    uint32_t peer_ip;
    uint16_t port;
    uint16_t peer_port;
    /* IPv6 (ABI 1.3): the addresses are ip6 and peer_ip6 */
    bool ipv6;
    uint8_t ip6[16];
    uint8_t peer_ip6[16];
    /* 802.1Q: the neighbor's VLAN id, the connection's user priority */
    uint16_t vlan;
    uint8_t prio;
    uint32_t flow_label;        /* IPv6 */
    /* handshake results */
    uint32_t iss;               /* our initial sequence number */
    uint32_t irs;               /* the peer's */
    uint16_t peer_mss;
    uint16_t peer_wnd;
    /* the offloaded connection */
    uint32_t id;                /* CHIMNEY_CONN_ID */
    uint32_t cq;
    uint64_t sq_base;
    uint32_t sq_size;
    uint32_t sq_tail;
    uint64_t db_record;         /* ChimneyDbRecord */
    bool db_hint;               /* offloaded with CHIMNEY_TCPO_DB_HINT */
    uint64_t rq_base;           /* receive queue; rq_size 0: none */
    uint32_t rq_size;
    uint32_t rq_tail;
} QChimneyConn;

/* Addresses of one direction of a TCP connection, IPs in network order */
typedef struct QChimneyTcpAddr {
    const uint8_t *src_mac, *dst_mac;
    uint32_t src_ip, dst_ip;
    uint16_t src_port, dst_port;
    /* IPv6 instead of IPv4; an 802.1Q tag when tagged */
    bool ipv6;
    const uint8_t *src_ip6, *dst_ip6;
    bool tagged;
    uint16_t tci;
} QChimneyTcpAddr;

/* The addresses of @hc's segments, from the peer (@from_peer) or to it */
QChimneyTcpAddr qchimney_conn_addr(const QChimneyConn *hc, bool from_peer);
/* Where a frame's IP header starts (after one 802.1Q tag), its ethertype */
size_t qchimney_l3(const uint8_t *f, uint16_t *type, uint16_t *tci);

size_t qchimney_tcp_frame(uint8_t *buf, const QChimneyTcpAddr *a,
                          uint32_t seq, uint32_t ack, uint8_t flags,
                          uint16_t wnd, const uint8_t *opt, size_t optlen);
size_t qchimney_tcp_data_frame(uint8_t *buf, const QChimneyTcpAddr *a,
                               uint32_t seq, uint32_t ack, uint8_t flags,
                               uint16_t wnd, const uint8_t *opt,
                               size_t optlen, const uint8_t *data,
                               size_t len);
void qchimney_arp_request(QChimney *c, QChimneyConn *hc);
void qchimney_arp_reply_wait(QChimney *c, QChimneyConn *hc);
/* IPv6: a neighbor solicitation for peer_ip6, and its advertisement */
void qchimney_ndp_solicit(QChimney *c, QChimneyConn *hc);
void qchimney_ndp_advert_wait(QChimney *c, QChimneyConn *hc);
/* ARP or neighbor discovery, as the connection's family needs */
void qchimney_resolve(QChimney *c, QChimneyConn *hc);
size_t qchimney_icmp6_frame(uint8_t *buf, const QChimneyTcpAddr *a,
                            const uint8_t *msg, size_t len);
void qchimney_tcp_syn(QChimney *c, QChimneyConn *hc);
void qchimney_tcp_synack_wait(QChimney *c, QChimneyConn *hc);
uint8_t qchimney_offload_neighbor(QChimney *c, uint32_t id,
                                  const uint8_t *src, const uint8_t *dst);
uint8_t qchimney_offload_path(QChimney *c, uint32_t id, uint32_t neighbor,
                              uint32_t src_ip, uint32_t dst_ip, uint32_t mtu);
uint8_t qchimney_offload_neighbor_vlan(QChimney *c, uint32_t id,
                                       const uint8_t *src, const uint8_t *dst,
                                       uint16_t vlan);
uint8_t qchimney_offload_path6(QChimney *c, uint32_t id, uint32_t neighbor,
                               const uint8_t *src, const uint8_t *dst,
                               uint32_t mtu);
/* Neighbor @nb and path @path of @hc (its family and VLAN), MTU @mtu */
void qchimney_offload_route(QChimney *c, QChimneyConn *hc, uint32_t nb,
                            uint32_t path, uint32_t mtu);
void qchimney_tcp_block(QChimneyConn *hc, uint32_t path, uint32_t cq,
                        ChimneyTcpOffload *o);
uint8_t qchimney_offload_tcp(QChimney *c, QChimneyConn *hc,
                             const ChimneyTcpOffload *o, uint32_t handover);
uint64_t qchimney_sq_post(QChimney *c, QChimneyConn *hc, uint8_t type,
                          uint8_t flags, uint64_t cookie, const uint32_t *sge,
                          int nsge, uint64_t *data);
void qchimney_sq_kick(QChimney *c, QChimneyConn *hc);
bool qchimney_sq_kick_hinted(QChimney *c, QChimneyConn *hc);
uint64_t qchimney_rq_post(QChimney *c, QChimneyConn *hc, uint8_t type,
                          uint8_t flags, uint64_t cookie, uint32_t len);
void qchimney_ind_create(QChimney *c, uint32_t entries, uint32_t buf_size);
void qchimney_ind_post(QChimney *c, uint64_t buf);
uint8_t qchimney_conn_cmd(QChimney *c, QChimneyConn *hc, uint8_t opcode,
                          uint64_t addr, ChimneyCqe *cqe);
void qchimney_l2_send_raw(QChimney *c, const uint8_t *frame, size_t len);

/* Helpers for the tests */
uint16_t qchimney_csum(const void *buf, size_t len, uint32_t sum);
bool qchimney_wait_status(QChimney *c, uint32_t mask, uint32_t value);
void qchimney_stop(QChimney *c);

#endif /* LIBQOS_CHIMNEY_H */
