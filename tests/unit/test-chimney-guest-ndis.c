/*
 * Unit tests of the chimney-nic driver's NDIS translation
 * (guest/common/chimney-guest-ndis.c): NDIS's TCP state to the
 * OFFLOAD_TCP block and back, the offload parameters, the state-tree
 * walk and the NDIS_STATUS of each completion
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "tests/qtest/libqos/chimney-guest/chimney-guest-ndis.h"

/* The NDIS_STATUS each completion becomes */
static void test_ndis_status(void)
{
    g_assert_cmphex(chimney_guest_ndis_status(CHIMNEY_CQE_SEND,
                                              CHIMNEY_ST_SUCCESS), ==, 0);
    g_assert_cmphex(chimney_guest_ndis_status(CHIMNEY_CQE_SEND,
                                              CHIMNEY_ST_REQUEST_ABORTED),
                    ==, 0xc001000c);
    g_assert_cmphex(chimney_guest_ndis_status(CHIMNEY_CQE_RECV,
                                              CHIMNEY_ST_UPLOAD_IN_PROGRESS),
                    ==, 0xc0231001);
    g_assert_cmphex(chimney_guest_ndis_status(CHIMNEY_CQE_RECV,
                                              CHIMNEY_ST_INVALID_STATE),
                    ==, 0xc0000184);
    g_assert_cmphex(chimney_guest_ndis_status(CHIMNEY_CQE_SEND,
                                              CHIMNEY_ST_INVALID_STATE),
                    ==, 0xc0000001);
    g_assert_cmphex(chimney_guest_ndis_status(CHIMNEY_CQE_SEND,
                                              CHIMNEY_ST_DMA_ERROR),
                    ==, 0xc0000001);
}

/* NDIS's TCP state into the OFFLOAD_TCP block, and the delegated back */
static void test_tcp_state(void)
{
    ChimneyNdisTcpConst c = {
        .flags = CHIMNEY_NDIS_TCP_TIMESTAMPS | CHIMNEY_NDIS_TCP_WINDOW_SCALING,
        .remote_port = 0x5000,                  /* 80, network order */
        .local_port = 0x3930,                   /* 12345 */
        .wnd_scales = 7 | 2 << 4, .remote_mss = 1460,
    };
    ChimneyNdisTcpCached k = {
        .flags = CHIMNEY_NDIS_TCP_KEEPALIVE | CHIMNEY_NDIS_TCP_NAGLING,
        .initial_rcv_wnd = 262144, .rcv_indication_size = 4096,
        .ka_probe_count = 5, .ka_timeout = 7200, .ka_interval = 1,
        .max_rt = 9, .ttl_or_hop_limit = 128, .tos_or_traffic_class = 0x10,
    };
    ChimneyNdisTcpDelegated d = {
        .state = 7, .rcv_nxt = 1000, .rcv_wnd = 65535, .snd_una = 2000,
        .snd_nxt = 2100, .snd_max = 2200, .snd_wnd = 30000,
        .max_snd_wnd = 40000, .send_wl1 = 999, .cwnd = 14600,
        .ssthresh = 0xffffffff, .srtt = 80, .rttvar = 40, .ts_recent = 5,
        .ts_time = 6, .total_rt = 3, .dup_ack_count = 1, .ka_probe_count = 2,
        .ka_timeout_delta = 100, .rexmit_count = 4,
        .rexmit_timeout_delta = UINT32_MAX,
    };
    ChimneyGuestTcpQueues q = {
        .path = 3, .cq = 2, .sq_base = 0x10000, .sq_size = 32,
        .handover = 1, .db_record = 0x20000, .rq_base = 0x30000,
        .rq_size = 16, .buffered_len = 10, .buffered_addr = 0x40000,
    };
    ChimneyTcpOffload o;
    ChimneyNdisTcpDelegated back = { .send_data_head = 0x1234 };
    const uint8_t *b = (const uint8_t *)&o;

    chimney_guest_tcp_offload(&o, &c, &k, &d, &q);
    g_assert_cmpuint(ldl_le_p(b + offsetof(ChimneyTcpOffload, path)), ==, 3);
    g_assert_cmphex(ldq_le_p(b + offsetof(ChimneyTcpOffload, rq_base)), ==,
                    0x30000);
    g_assert_cmpuint(lduw_le_p(b + offsetof(ChimneyTcpOffload, remote_port)),
                     ==, 80);
    g_assert_cmpuint(lduw_le_p(b + offsetof(ChimneyTcpOffload, local_port)),
                     ==, 12345);
    g_assert_cmpuint(o.snd_wscale, ==, 7);
    g_assert_cmpuint(o.rcv_wscale, ==, 2);
    g_assert_cmphex(lduw_le_p(b + offsetof(ChimneyTcpOffload, const_flags)),
                    ==, CHIMNEY_TCPF_TIMESTAMPS | CHIMNEY_TCPF_WINDOW_SCALING);
    g_assert_cmphex(lduw_le_p(b + offsetof(ChimneyTcpOffload, cached_flags)),
                    ==, CHIMNEY_TCPC_KEEPALIVE | CHIMNEY_TCPC_NAGLE);
    g_assert_cmpuint(o.ttl, ==, 128);
    g_assert_cmpuint(ldl_le_p(b + offsetof(ChimneyTcpOffload,
                                           initial_rcv_wnd)), ==, 262144);
    g_assert_cmpuint(o.ka_probe_count, ==, 5);
    g_assert_cmpuint(ldl_le_p(&o.delegated.snd_nxt), ==, 2100);
    g_assert_cmpuint(ldl_le_p(&o.delegated.snd_wl1), ==, 999);
    g_assert_cmpuint(lduw_le_p(&o.delegated.srtt), ==, 80);
    g_assert_cmpint((int32_t)ldl_le_p(&o.delegated.rexmit_timeout_delta), ==,
                    -1);
    /* The delegated state comes back; NDIS's own fields stay */
    chimney_guest_tcp_delegated(&back, &o.delegated);
    g_assert_cmpuint(back.state, ==, 7);
    g_assert_cmpuint(back.snd_max, ==, 2200);
    g_assert_cmpuint(back.rttvar, ==, 40);
    g_assert_cmpuint(back.ka_probe_count, ==, 2);
    g_assert_cmpuint(back.ka_timeout_delta, ==, 100);
    g_assert_cmpuint(back.rexmit_count, ==, 4);
    g_assert_cmphex(back.send_data_head, ==, 0x1234);
}

/* OID_TCP_CONNECTION_OFFLOAD_PARAMETERS into SET_PARAMS */
static void test_offload_params(void)
{
    ChimneyNdisOffloadParams n = {
        .ticks_per_second = 100, .ack_frequency = 2, .delayed_ack_ticks = 20,
        .max_retransmissions = 5, .doubt_reachability = 3,
        .sws_prevention_ticks = 50, .dup_ack_threshold = 3,
        .push_ticks = 50, .nce_stale_ticks = 1000,
    };
    uint32_t rev1 = CHIMNEY_NDIS_OFFLOAD_PARAMS_REV1_SIZE;
    uint32_t p[9];

    g_assert(chimney_guest_offload_params(p, &n, sizeof(n)));
    g_assert(chimney_guest_offload_params(p, &n, rev1));
    g_assert_cmpuint(p[CHIMNEY_PARAM_TICKS_PER_SECOND], ==, 100);
    g_assert_cmpuint(p[CHIMNEY_PARAM_DELAYED_ACK_TICKS], ==, 20);
    g_assert_cmpuint(p[CHIMNEY_PARAM_PUSH_TICKS], ==, 50);
    g_assert_cmpuint(p[CHIMNEY_PARAM_NCE_STALE_TICKS], ==, 1000);
    g_assert(!chimney_guest_offload_params(p, &n, 0x37));   /* short */
    n.ticks_per_second = 60;
    g_assert(!chimney_guest_offload_params(p, &n, sizeof(n)));
    n.ticks_per_second = 1000;
    n.dup_ack_threshold = 300;
    g_assert(!chimney_guest_offload_params(p, &n, sizeof(n)));
}

/*
 * The state tree of two neighbors: N1 with paths P1 (T1, T2) and P2 (T3),
 * N2 with P3.  Top down it is visited parents first, bottom up
 * dependents first; a failed initiate block takes its dependents along.
 */
typedef struct Tree {
    ChimneyNdisBlock b[8];
} Tree;

enum { N1, P1, T1, T2, P2, T3, N2, P3 };

static void tree_init(Tree *t)
{
    memset(t, 0, sizeof(*t));
    t->b[N1].next = &t->b[N2];
    t->b[N1].dependents = &t->b[P1];
    t->b[P1].next = &t->b[P2];
    t->b[P1].dependents = &t->b[T1];
    t->b[T1].next = &t->b[T2];
    t->b[P2].dependents = &t->b[T3];
    t->b[N2].dependents = &t->b[P3];
}

static void tree_order(Tree *t, bool bottom_up, const int *want, int n,
                       int fail)
{
    ChimneyNdisBlock *b = chimney_guest_walk_first(&t->b[N1], bottom_up);
    int i = 0;

    for (; b; i++) {
        bool enter = true;

        g_assert_cmpint(i, <, n);
        g_assert_cmpint(b - t->b, ==, want[i]);
        if (b - t->b == fail) {
            chimney_guest_block_failed(b, CHIMNEY_NDIS_STATUS_FAILURE, true);
            enter = false;
        }
        b = chimney_guest_walk_next(b, bottom_up, enter);
    }
    g_assert_cmpint(i, ==, n);
}

static void test_block_walk(void)
{
    static const int top[] = { N1, P1, T1, T2, P2, T3, N2, P3 };
    static const int bottom[] = { T1, T2, P1, T3, P2, N1, P3, N2 };
    static const int p1_fails[] = { N1, P1, P2, T3, N2, P3 };
    Tree t;

    tree_init(&t);
    tree_order(&t, false, top, 8, -1);
    tree_init(&t);
    tree_order(&t, true, bottom, 8, -1);
    g_assert(chimney_guest_block_parent(&t.b[T3]) == &t.b[P2]);
    g_assert(chimney_guest_block_parent(&t.b[N2]) == NULL);

    /* P1's offload fails: T1 and T2 are not tried, N1 partly succeeds */
    tree_init(&t);
    tree_order(&t, false, p1_fails, 6, P1);
    g_assert_cmphex((uint32_t)t.b[P1].status, ==, CHIMNEY_NDIS_STATUS_FAILURE);
    g_assert_cmphex((uint32_t)t.b[T1].status, ==, CHIMNEY_NDIS_STATUS_FAILURE);
    g_assert_cmphex((uint32_t)t.b[T2].status, ==, CHIMNEY_NDIS_STATUS_FAILURE);
    g_assert_cmphex((uint32_t)t.b[N1].status, ==,
                    CHIMNEY_NDIS_STATUS_PARTIAL_SUCCESS);
    g_assert_cmphex((uint32_t)t.b[P2].status, ==, CHIMNEY_NDIS_STATUS_SUCCESS);

    /* Outside an initiate a failure stays with its block */
    tree_init(&t);
    chimney_guest_walk_next(chimney_guest_walk_first(&t.b[N1], false),
                            false, true);
    chimney_guest_block_failed(&t.b[P1], CHIMNEY_NDIS_STATUS_FAILURE, false);
    g_assert_cmphex((uint32_t)t.b[T1].status, ==, CHIMNEY_NDIS_STATUS_SUCCESS);
    g_assert_cmphex((uint32_t)t.b[N1].status, ==, CHIMNEY_NDIS_STATUS_SUCCESS);
    g_assert(chimney_guest_walk_first(NULL, true) == NULL);
}

/*
 * The byte order of TCP_OFFLOAD_STATE_CONST's ports, from a segment of
 * the connection seen leaving through the plain path (40005 -> 5001)
 */
static void test_port_order(void)
{
    uint8_t frame[64] = { [12] = 0x08, [13] = 0x00, [14] = 0x45, [23] = 6 };
    ChimneyNdisTcpConst net = {
        .local_port = cpu_to_be16(40005), .remote_port = cpu_to_be16(5001),
    };
    ChimneyNdisTcpConst host = { .local_port = 40005, .remote_port = 5001 };
    ChimneyNdisTcpConst other = {
        .local_port = cpu_to_be16(40006), .remote_port = cpu_to_be16(5001),
    };
    ChimneyGuestTcpQueues q = { .ports_host_order = true };
    ChimneyNdisTcpCached k = { 0 };
    ChimneyNdisTcpDelegated d = { 0 };
    ChimneyGuestFlows f = { 0 };
    ChimneyTcpOffload o;

    g_assert_cmpint(chimney_guest_port_order(&f, &net), ==,
                    CHIMNEY_PORTS_UNKNOWN);
    stw_be_p(frame + 34, 40005);
    stw_be_p(frame + 36, 5001);
    chimney_guest_flow_seen(&f, frame, sizeof(frame));
    g_assert_cmpint(chimney_guest_port_order(&f, &net), ==,
                    CHIMNEY_PORTS_NETWORK);
    g_assert_cmpint(chimney_guest_port_order(&f, &host), ==,
                    CHIMNEY_PORTS_HOST);
    g_assert_cmpint(chimney_guest_port_order(&f, &other), ==,
                    CHIMNEY_PORTS_UNKNOWN);
    chimney_guest_tcp_offload(&o, &host, &k, &d, &q);
    g_assert_cmpuint(le16_to_cpu(o.local_port), ==, 40005);
    g_assert_cmpuint(le16_to_cpu(o.remote_port), ==, 5001);
}

/*
 * Cached settings the device's block has no field for: the restart
 * flags and UPDATE_RCV_WND always; an 802.1p priority only for a device
 * without CHIMNEY_FEAT_8021Q (the 1.3 block carries it to one with it)
 */
static void test_cached_unsupported(void)
{
    ChimneyNdisTcpCached k = {
        .flags = CHIMNEY_NDIS_TCP_KEEPALIVE | CHIMNEY_NDIS_TCP_NAGLING,
    };

    g_assert_cmphex(chimney_guest_tcp_cached_unsupported(&k, 0), ==, 0);
    k.flags |= CHIMNEY_NDIS_TCP_KA_RESTART | CHIMNEY_NDIS_TCP_UPDATE_RCV_WND;
    g_assert_cmphex(chimney_guest_tcp_cached_unsupported(&k, 0), ==,
                    CHIMNEY_NDIS_TCP_KA_RESTART |
                    CHIMNEY_NDIS_TCP_UPDATE_RCV_WND);
    k.flags = CHIMNEY_NDIS_TCP_MAX_RT_RESTART;
    k.user_priority = 5;
    g_assert_cmphex(chimney_guest_tcp_cached_unsupported(&k, 0), ==,
                    CHIMNEY_NDIS_TCP_MAX_RT_RESTART |
                    CHIMNEY_NDIS_TCP_USER_PRIORITY);
    g_assert_cmphex(chimney_guest_tcp_cached_unsupported(&k,
                        CHIMNEY_FEAT_8021Q | CHIMNEY_FEAT_TCP_IPV6), ==,
                    CHIMNEY_NDIS_TCP_MAX_RT_RESTART);
    k.flags = 0;
    g_assert_cmphex(chimney_guest_tcp_cached_unsupported(&k,
                                                         CHIMNEY_FEAT_8021Q),
                    ==, 0);
    /* Only UserPriority:3's bits: the byte's others are not the field's */
    k.user_priority = 0xf8;
    g_assert_cmphex(chimney_guest_tcp_cached_unsupported(&k, 0), ==, 0);
}

/*
 * The 1.3 tail of the OFFLOAD_TCP block: the 802.1p priority always,
 * the IPv6 flow label on an IPv6 path only; of NDIS's bitfields only
 * their bits (FlowLabel:20, UserPriority:3), never the rest of their
 * storage units.
 */
static void test_tcp_state_13(void)
{
    static const ChimneyNdisTcpConst c;
    static const ChimneyNdisTcpDelegated d;
    ChimneyNdisTcpCached k = {
        .flow_label = 0xfff12345, .user_priority = 0xfd,
        .ttl_or_hop_limit = 255, .tos_or_traffic_class = 0xb8,
    };
    ChimneyGuestTcpQueues q = { .path = 4, .ipv6 = true };
    ChimneyTcpOffload o;
    const uint8_t *b = (const uint8_t *)&o;

    g_assert_cmpuint(sizeof(o), ==, CHIMNEY_TCP_OFFLOAD_SIZE);
    chimney_guest_tcp_offload(&o, &c, &k, &d, &q);
    g_assert_cmphex(ldl_le_p(b + CHIMNEY_TCP_OFFLOAD_SIZE_1_2), ==, 0x12345);
    g_assert_cmpuint(b[offsetof(ChimneyTcpOffload, user_priority)], ==, 5);
    g_assert_cmpuint(o.ttl, ==, 255);               /* the hop limit */
    g_assert_cmphex(o.tos, ==, 0xb8);               /* the traffic class */
    for (size_t i = offsetof(ChimneyTcpOffload, rsvd2); i < sizeof(o); i++) {
        g_assert_cmpuint(b[i], ==, 0);
    }
    q.ipv6 = false;                 /* IPv4: no flow label */
    chimney_guest_tcp_offload(&o, &c, &k, &d, &q);
    g_assert_cmphex(ldl_le_p(b + CHIMNEY_TCP_OFFLOAD_SIZE_1_2), ==, 0);
    g_assert_cmpuint(b[offsetof(ChimneyTcpOffload, user_priority)], ==, 5);
}

#define V8021Q  CHIMNEY_FEAT_8021Q

/* NEIGHBOR_OFFLOAD_STATE_CONST/_CACHED into OFFLOAD_NEIGHBOR's block */
static void test_neighbor_state(void)
{
    static const uint8_t own[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
    ChimneyNdisNeighborConst k = { .vlan_id = 0xabc00000 | 100 };
    ChimneyNdisNeighborCached c = {
        .dl_destination = { 0x52, 0x54, 0, 0xab, 0xcd, 0xef },
    };
    ChimneyNeighborState n;

    g_assert_cmpint(chimney_guest_neighbor(&n, &k, &c, own, V8021Q), ==,
                    CHIMNEY_GUEST_STATE_OK);
    g_assert_cmpmem(n.src_mac, 6, own, 6);          /* all zero: our own */
    g_assert_cmpmem(n.dst_mac, 6, c.dl_destination, 6);
    g_assert_cmpuint(lduw_le_p(&n.vlan_id), ==, 100);   /* VlanId:12 */
    memcpy(k.dl_source, "\x02\x00\x00\x00\x00\x09", 6);
    k.vlan_id = 0;
    g_assert_cmpint(chimney_guest_neighbor(&n, &k, &c, own, V8021Q), ==,
                    CHIMNEY_GUEST_STATE_OK);
    g_assert_cmpmem(n.src_mac, 6, k.dl_source, 6);
    g_assert_cmpuint(lduw_le_p(&n.vlan_id), ==, 0);
    k.vlan_id = 4094;
    g_assert_cmpint(chimney_guest_neighbor(&n, &k, &c, own, V8021Q), ==,
                    CHIMNEY_GUEST_STATE_OK);
    k.vlan_id = 4095;                               /* reserved */
    g_assert_cmpint(chimney_guest_neighbor(&n, &k, &c, own, V8021Q), ==,
                    CHIMNEY_GUEST_BAD_VLAN);
    k.vlan_id = 0x10000 | 4095;
    g_assert_cmpint(chimney_guest_neighbor(&n, &k, &c, own, V8021Q), ==,
                    CHIMNEY_GUEST_BAD_VLAN);
    /* A device without 802.1Q matching: untagged neighbors only */
    k.vlan_id = 100;
    g_assert_cmpint(chimney_guest_neighbor(&n, &k, &c, own, 0), ==,
                    CHIMNEY_GUEST_NO_VLAN);
    k.vlan_id = 0x7000;             /* not VlanId's bits: untagged */
    g_assert_cmpint(chimney_guest_neighbor(&n, &k, &c, own, 0), ==,
                    CHIMNEY_GUEST_STATE_OK);
    g_assert_cmpuint(lduw_le_p(&n.vlan_id), ==, 0);
}

static const uint8_t v6_src[16] = {
    0x20, 0x01, 0x0d, 0xb8, [15] = 1,
};
static const uint8_t v6_dst[16] = {
    0x20, 0x01, 0x0d, 0xb8, [14] = 0x12, [15] = 0x34,
};

/* PATH_OFFLOAD_STATE_* of an Ip4OffloadState or Ip6OffloadState block */
static void test_path_state(void)
{
    static const uint8_t v4_src[4] = { 10, 0, 0, 1 }, v4_dst[4] = {
        10, 0, 0, 2,
    };
    ChimneyNdisPathConst k4 = { .source = v4_src, .destination = v4_dst };
    ChimneyNdisPathConst k6 = { .source = v6_src, .destination = v6_dst };
    ChimneyNdisPathCached c = { .path_mtu = 1500 };
    uint8_t out[CHIMNEY_GUEST_PATH_BLOCK];
    uint32_t all = CHIMNEY_FEAT_TCP_OFFLOAD | CHIMNEY_FEAT_TCP_IPV6;
    uint32_t family = 0;

    g_assert_cmpuint(sizeof(out), ==, 64);
    g_assert_cmpint(chimney_guest_path(out, &family, CHIMNEY_NDIS_IP4_STATE,
                                       7, &k4, &c, 0), ==, 0);
    g_assert_cmpuint(family, ==, CHIMNEY_PATH_IPV4);
    g_assert_cmpuint(ldl_le_p(out + offsetof(ChimneyPathState, neighbor)),
                     ==, 7);
    g_assert_cmpmem(out + offsetof(ChimneyPathState, src_ip), 4, v4_src, 4);
    g_assert_cmpmem(out + offsetof(ChimneyPathState, dst_ip), 4, v4_dst, 4);
    g_assert_cmpuint(ldl_le_p(out + offsetof(ChimneyPathState, path_mtu)),
                     ==, 1500);

    g_assert_cmpint(chimney_guest_path(out, &family, CHIMNEY_NDIS_IP6_STATE,
                                       3, &k6, &c, all), ==, 0);
    g_assert_cmpuint(family, ==, CHIMNEY_PATH_IPV6);
    g_assert_cmpuint(ldl_le_p(out), ==, 3);                 /* neighbor */
    g_assert_cmpuint(ldl_le_p(out + 4), ==, 1500);          /* MTU */
    g_assert_cmpmem(out + 8, 16, v6_src, 16);
    g_assert_cmpmem(out + 24, 16, v6_dst, 16);
    for (int i = 40; i < 64; i++) {
        g_assert_cmpuint(out[i], ==, 0);
    }

    /* The family: IPv6 only when the device has it, no other type */
    g_assert_cmpint(chimney_guest_path(out, &family, CHIMNEY_NDIS_IP6_STATE,
                                       3, &k6, &c, CHIMNEY_FEAT_TCP_OFFLOAD),
                    ==, CHIMNEY_GUEST_BAD_FAMILY);
    g_assert_cmpint(chimney_guest_path(out, &family, 9, 3, &k6, &c, all), ==,
                    CHIMNEY_GUEST_BAD_FAMILY);      /* Ip6OffloadConstState */
    g_assert_cmpint(chimney_guest_path(out, &family, CHIMNEY_NDIS_TCP_STATE,
                                       3, &k6, &c, all), ==,
                    CHIMNEY_GUEST_BAD_FAMILY);
    g_assert_cmpint(chimney_guest_path(out, &family, 0, 3, &k4, &c, all), ==,
                    CHIMNEY_GUEST_BAD_FAMILY);

    /* The MTU: IPv6 1280 (RFC 8200) up to 9000, IPv4 from 68 */
    c.path_mtu = 1279;
    g_assert_cmpint(chimney_guest_path(out, &family, CHIMNEY_NDIS_IP6_STATE,
                                       3, &k6, &c, all), ==,
                    CHIMNEY_GUEST_BAD_MTU);
    g_assert_cmpint(chimney_guest_path(out, &family, CHIMNEY_NDIS_IP4_STATE,
                                       3, &k4, &c, all), ==, 0);
    c.path_mtu = CHIMNEY_IPV6_MIN_MTU;
    g_assert_cmpint(chimney_guest_path(out, &family, CHIMNEY_NDIS_IP6_STATE,
                                       3, &k6, &c, all), ==, 0);
    c.path_mtu = 9001;
    g_assert_cmpint(chimney_guest_path(out, &family, CHIMNEY_NDIS_IP6_STATE,
                                       3, &k6, &c, all), ==,
                    CHIMNEY_GUEST_BAD_MTU);
    c.path_mtu = 67;
    g_assert_cmpint(chimney_guest_path(out, &family, CHIMNEY_NDIS_IP4_STATE,
                                       3, &k4, &c, all), ==,
                    CHIMNEY_GUEST_BAD_MTU);
    c.path_mtu = 1500;
    k6.destination = NULL;
    g_assert_cmpint(chimney_guest_path(out, &family, CHIMNEY_NDIS_IP6_STATE,
                                       3, &k6, &c, all), ==,
                    CHIMNEY_GUEST_BAD_ADDRESS);
}

/* IPv6 addresses no TCP connection has, at either end of a path */
static void test_path_bad_prefix(void)
{
    static const uint8_t bad[][16] = {
        { 0 },                                          /* :: */
        { [15] = 1 },                                   /* ::1 */
        { 0xff, 0x02, [15] = 1 },                       /* ff02::1 */
        { 0xff, 0x0e, [15] = 9 },                       /* global mcast */
        { [10] = 0xff, [11] = 0xff, 10, 0, 0, 1 },      /* ::ffff:10.0.0.1 */
    };
    static const uint8_t good[][16] = {
        { 0xfe, 0x80, [15] = 1 },                       /* link-local */
        { [15] = 2 },                           /* ::2, not special */
        { [10] = 0xff, [11] = 0xfe, [15] = 1 },
        { 0xfd, 0x00, [15] = 7 },                       /* ULA */
    };
    ChimneyNdisPathCached c = { .path_mtu = 1500 };
    uint8_t out[CHIMNEY_GUEST_PATH_BLOCK];
    uint32_t family;

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        ChimneyNdisPathConst src = { .source = bad[i], .destination = v6_dst };
        ChimneyNdisPathConst dst = { .source = v6_src, .destination = bad[i] };

        g_assert_false(chimney_guest_ipv6_unicast(bad[i]));
        g_assert_cmpint(chimney_guest_path(out, &family,
                                           CHIMNEY_NDIS_IP6_STATE, 1, &src,
                                           &c, CHIMNEY_FEAT_TCP_IPV6), ==,
                        CHIMNEY_GUEST_BAD_ADDRESS);
        g_assert_cmpint(chimney_guest_path(out, &family,
                                           CHIMNEY_NDIS_IP6_STATE, 1, &dst,
                                           &c, CHIMNEY_FEAT_TCP_IPV6), ==,
                        CHIMNEY_GUEST_BAD_ADDRESS);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_assert_true(chimney_guest_ipv6_unicast(good[i]));
    }
}

/* UPDATE of a path: the block of its own family */
static void test_path_update(void)
{
    ChimneyNdisPathCached c = { .path_mtu = 1400 };
    uint8_t out[CHIMNEY_GUEST_PATH_BLOCK];

    g_assert_cmpint(chimney_guest_path_update(out, CHIMNEY_PATH_IPV6, 5, &c),
                    ==, 0);
    g_assert_cmpuint(ldl_le_p(out + offsetof(ChimneyPath6State, path_mtu)),
                     ==, 1400);
    g_assert_cmpuint(ldl_le_p(out + offsetof(ChimneyPath6State, neighbor)),
                     ==, 5);
    g_assert_cmpint(chimney_guest_path_update(out, CHIMNEY_PATH_IPV4, 5, &c),
                    ==, 0);
    g_assert_cmpuint(ldl_le_p(out + offsetof(ChimneyPathState, path_mtu)),
                     ==, 1400);
    g_assert_cmpuint(ldl_le_p(out + 4), ==, 0);     /* IPv4 src_ip */
    c.path_mtu = 1200;              /* fine for IPv4, not for IPv6 */
    g_assert_cmpint(chimney_guest_path_update(out, CHIMNEY_PATH_IPV6, 5, &c),
                    ==, CHIMNEY_GUEST_BAD_MTU);
    g_assert_cmpint(chimney_guest_path_update(out, CHIMNEY_PATH_IPV4, 5, &c),
                    ==, 0);
}

/* A segment of an IPv6 connection (tagged, too) seen on the plain path */
static void test_port_order_ipv6(void)
{
    uint8_t frame[18 + 40 + 20] = {
        [12] = 0x81, [13] = 0x00, [15] = 100, [16] = 0x86, [17] = 0xdd,
        [18] = 0x60, [24] = 6,
    };
    ChimneyNdisTcpConst net = {
        .local_port = cpu_to_be16(40007), .remote_port = cpu_to_be16(443),
    };
    ChimneyGuestFlows f = { 0 };

    stw_be_p(frame + 58, 40007);
    stw_be_p(frame + 60, 443);
    frame[24] = 0;                  /* hop-by-hop options first: not ours */
    chimney_guest_flow_seen(&f, frame, sizeof(frame));
    g_assert_cmpint(chimney_guest_port_order(&f, &net), ==,
                    CHIMNEY_PORTS_UNKNOWN);
    frame[24] = 6;
    chimney_guest_flow_seen(&f, frame, 18 + 40 + 3);    /* cut short */
    g_assert_cmpint(chimney_guest_port_order(&f, &net), ==,
                    CHIMNEY_PORTS_UNKNOWN);
    chimney_guest_flow_seen(&f, frame, sizeof(frame));
    g_assert_cmpint(chimney_guest_port_order(&f, &net), ==,
                    CHIMNEY_PORTS_NETWORK);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chimney-guest-ndis/status", test_ndis_status);
    g_test_add_func("/chimney-guest-ndis/tcp-state", test_tcp_state);
    g_test_add_func("/chimney-guest-ndis/offload-params",
                    test_offload_params);
    g_test_add_func("/chimney-guest-ndis/block-walk", test_block_walk);
    g_test_add_func("/chimney-guest-ndis/port-order", test_port_order);
    g_test_add_func("/chimney-guest-ndis/cached-unsupported",
                    test_cached_unsupported);
    g_test_add_func("/chimney-guest-ndis/tcp-state-1.3", test_tcp_state_13);
    g_test_add_func("/chimney-guest-ndis/neighbor-state",
                    test_neighbor_state);
    g_test_add_func("/chimney-guest-ndis/path-state", test_path_state);
    g_test_add_func("/chimney-guest-ndis/path-bad-prefix",
                    test_path_bad_prefix);
    g_test_add_func("/chimney-guest-ndis/path-update", test_path_update);
    g_test_add_func("/chimney-guest-ndis/port-order-ipv6",
                    test_port_order_ipv6);
    return g_test_run();
}
