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

/* Cached settings the device's block has no field for */
static void test_cached_unsupported(void)
{
    ChimneyNdisTcpCached k = {
        .flags = CHIMNEY_NDIS_TCP_KEEPALIVE | CHIMNEY_NDIS_TCP_NAGLING,
    };

    g_assert_cmphex(chimney_guest_tcp_cached_unsupported(&k), ==, 0);
    k.flags |= CHIMNEY_NDIS_TCP_KA_RESTART | CHIMNEY_NDIS_TCP_UPDATE_RCV_WND;
    g_assert_cmphex(chimney_guest_tcp_cached_unsupported(&k), ==,
                    CHIMNEY_NDIS_TCP_KA_RESTART |
                    CHIMNEY_NDIS_TCP_UPDATE_RCV_WND);
    k.flags = CHIMNEY_NDIS_TCP_MAX_RT_RESTART;
    k.user_priority = 5;
    g_assert_cmphex(chimney_guest_tcp_cached_unsupported(&k), ==,
                    CHIMNEY_NDIS_TCP_MAX_RT_RESTART |
                    CHIMNEY_NDIS_TCP_USER_PRIORITY);
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
    return g_test_run();
}
