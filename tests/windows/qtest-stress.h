/*
 * The chimney-windows qtest's stress case: the miniport's paths at once
 *
 * Eight connections offloaded to the real chimney-nic, then for a few
 * seconds: the DPC on one thread, the host's sends on two more (each
 * with its own connections, as NDIS keeps one connection's sends in
 * order), its receives on another, OID requests and queries of the
 * connections' state on another, the peer on the wire and QEMU's clock
 * on two more.  The spin locks behind NdisAcquireSpinLock are mutexes
 * (ndis-check.h) and every libqtest call is serialized (qt_mu).  The run
 * stops by time, not by an assertion on time; then everything drains and
 * the checks are made:
 * every byte each way arrived in order and intact, every NBL, tree and
 * OID request came back exactly once (the checked mock).
 *
 * Included by tests/qtest/chimney-windows-test.c, whose helpers it uses.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QTEST_STRESS_H
#define QTEST_STRESS_H

#define ST_CONNS        8
#define ST_SLOTS        8           /* host sends in flight per connection */
#define ST_SLOT         16384
#define ST_RCVS         4           /* host receives posted per connection */
#define ST_RCV          4096
#define ST_SECONDS      3
#define ST_TCP_BLOCK    (0x98 + 0x18 + 0x2c + 0x80)

typedef struct StConn {
    uint8_t tcp[ST_TCP_BLOCK];
    void *ctx;                      /* the miniport's MiniportOffloadContext */
    uint16_t lport;
    uint64_t sent;                  /* host bytes handed to the miniport */
    uint64_t completed;             /* of them, completed */
    uint8_t *slot_buf[ST_SLOTS];
    int slot_busy[ST_SLOTS];
    uint64_t peer_got;              /* in order at the peer */
    uint64_t peer_sent;             /* the peer's bytes to the host */
    uint64_t host_got;              /* of them, delivered to the host */
    uint8_t *rcv_buf[ST_RCVS];
    int rcv_busy[ST_RCVS];
} StConn;

static struct {
    StConn c[ST_CONNS];
    int stop_io, stop_all;
    int errors;
    uint64_t sends, completions, receives, indications, oids, queries;
} st;

/* The bytes of each stream, by connection and offset */
static uint8_t st_out(int i, uint64_t off)
{
    return off * 7 + i * 31 + (off >> 9);
}

static uint8_t st_in(int i, uint64_t off)
{
    return off * 3 + i * 17 + (off >> 11) + 1;
}

static void st_error(const char *what, int i)
{
    if (!__atomic_fetch_add(&st.errors, 1, __ATOMIC_SEQ_CST)) {
        fprintf(stderr, "stress: %s on connection %d\n", what, i);
    }
}

static StConn *st_conn_of(void *handle)
{
    uintptr_t i = (uintptr_t)handle - 0xb0;

    return i < ST_CONNS ? &st.c[i] : NULL;
}

/* Received bytes of connection @i at the host, checked in stream order */
static void st_host_takes(int i, const uint8_t *data, uint32_t len)
{
    StConn *c = &st.c[i];

    for (uint32_t k = 0; k < len; k++) {
        if (data[k] != st_in(i, c->host_got + k)) {
            st_error("received data differs", i);
            break;
        }
    }
    __atomic_add_fetch(&c->host_got, len, __ATOMIC_SEQ_CST);
}

/* From the DPC thread: ProtocolReserved[0] says connection and slot */
static void st_io_done(int kind, uint8_t *nbl)
{
    uintptr_t tag = (uintptr_t)rdp(nbl, 0x38) - 1;
    int i = tag >> 8, slot = tag & 0xff;
    uint32_t st_code = rd32(nbl + 0x8c);
    uint32_t bytes = (uintptr_t)rdp(nbl, 0x90);
    StConn *c = &st.c[i];

    if (kind == NC_SEND) {
        if (st_code || bytes != (uintptr_t)rdp(nbl, 0x40)) {
            st_error("a send completed short or failed", i);
        }
        __atomic_add_fetch(&c->completed, bytes, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&st.completions, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&c->slot_busy[slot], 0, __ATOMIC_SEQ_CST);
        return;
    }
    if (!st_code) {
        st_host_takes(i, c->rcv_buf[slot], bytes);
        __atomic_add_fetch(&st.receives, 1, __ATOMIC_SEQ_CST);
    } else if (st_code != 0xc0231001 || bytes) {   /* uploaded at the end */
        st_error("a receive failed", i);
    }
    __atomic_store_n(&c->rcv_busy[slot], 0, __ATOMIC_SEQ_CST);
}

/* The host takes all an indication offers */
static uint32_t st_indicate(void *h, uint8_t *nbl, uint32_t *consumed)
{
    StConn *c = st_conn_of(h);
    uint8_t *nb = rdp(nbl, 8), *mdl = rdp(nb, 8);
    uint32_t len = rd32(nb + 0x18);

    if (!c) {
        st_error("an indication for no connection", 0);
        return 0xc023100e;
    }
    st_host_takes(c - st.c, (uint8_t *)rdp(mdl, 0x18) + rd32(nb + 0x10),
                  len);
    __atomic_add_fetch(&st.indications, 1, __ATOMIC_SEQ_CST);
    *consumed = len;
    return 0xc0231010;                  /* PARTIALLY_ACCEPTED: all of it */
}

static void *st_dpc_thread(void *opaque)
{
    while (!__atomic_load_n(&st.stop_all, __ATOMIC_SEQ_CST)) {
        int old = nc_enter(NC_DISPATCH);

        ((Fn5v *)w.dpc)(w.dpc_ctx, 0, NULL, NULL, NULL);
        nc_leave(old);
        g_usleep(50);
    }
    return NULL;
}

static void *st_clock_thread(void *opaque)
{
    while (!__atomic_load_n(&st.stop_all, __ATOMIC_SEQ_CST)) {
        qt_step(100 * 1000);
        g_usleep(100);
    }
    return NULL;
}

/* Host sends on connections @first, @first + 2, ... */
static void *st_send_thread(void *opaque)
{
    int first = (intptr_t)opaque;
    GRand *r = g_rand_new_with_seed(first + 1);

    while (!__atomic_load_n(&st.stop_io, __ATOMIC_SEQ_CST)) {
        for (int i = first; i < ST_CONNS; i += 2) {
            StConn *c = &st.c[i];

            for (int s = 0; s < ST_SLOTS; s++) {
                uint32_t len = g_rand_int_range(r, 1, ST_SLOT + 1);
                uint8_t *nbl;

                if (__atomic_load_n(&c->slot_busy[s], __ATOMIC_SEQ_CST)) {
                    continue;
                }
                for (uint32_t k = 0; k < len; k++) {
                    c->slot_buf[s][k] = st_out(i, c->sent + k);
                }
                nbl = nbl_new(mdl_new(c->slot_buf[s], len), 0, len);
                wrp(nbl, 0x38, (void *)(uintptr_t)((i << 8 | s) + 1));
                wrp(nbl, 0x40, (void *)(uintptr_t)len);
                c->sent += len;
                __atomic_store_n(&c->slot_busy[s], 1, __ATOMIC_SEQ_CST);
                __atomic_add_fetch(&st.sends, 1, __ATOMIC_SEQ_CST);
                host_io(w.provider_tcp, w.adapter, 0x10, NC_SEND, &c->ctx,
                        nbl, (void *)(uintptr_t)(0xb0 + i));
            }
        }
        g_usleep(200);
    }
    g_rand_free(r);
    return NULL;
}

/* Host receives: every free buffer posted again */
static void *st_receive_thread(void *opaque)
{
    while (!__atomic_load_n(&st.stop_io, __ATOMIC_SEQ_CST)) {
        for (int i = 0; i < ST_CONNS; i++) {
            StConn *c = &st.c[i];

            for (int s = 0; s < ST_RCVS; s++) {
                uint8_t *nbl;

                if (__atomic_load_n(&c->rcv_busy[s], __ATOMIC_SEQ_CST)) {
                    continue;
                }
                nbl = nbl_new(mdl_new(c->rcv_buf[s], ST_RCV), 0, ST_RCV);
                wrp(nbl, 0x38, (void *)(uintptr_t)((i << 8 | s) + 1));
                __atomic_store_n(&c->rcv_busy[s], 1, __ATOMIC_SEQ_CST);
                host_io(w.provider_tcp, w.adapter, 0x18, NC_RECEIVE,
                        &c->ctx, nbl, (void *)(uintptr_t)(0xb0 + i));
            }
        }
        g_usleep(500);
    }
    return NULL;
}

/*
 * MiniportQueryOffload of connection @i while its data flows: the job
 * path and the DPC (on its own thread) meet.  Waits for the completion.
 */
static void st_query(int i)
{
    uint8_t q[0x98 + 0x80] = { 0 };
    gint64 until = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    offload_block_init(q, 17, &st.c[i].ctx, 0xb0 + i);
    state(q, 0, 0x80);
    __atomic_store_n(&w.queried, NULL, __ATOMIC_SEQ_CST);
    host_state(w.provider_generic, w.adapter, 0x28, NC_QUERY, q);
    while (__atomic_load_n(&w.queried, __ATOMIC_SEQ_CST) != q &&
           g_get_monotonic_time() < until) {
        g_usleep(100);
    }
    if (__atomic_load_n(&w.queried, __ATOMIC_SEQ_CST) != q || rd32(q + 0x18)) {
        st_error("a query failed", i);
    }
    __atomic_add_fetch(&st.queries, 1, __ATOMIC_SEQ_CST);
}

/* OID requests at PASSIVE_LEVEL, and queries, meanwhile */
static void *st_oid_thread(void *opaque)
{
    uint8_t stats[0x98];
    uint32_t done;

    for (int n = 0; !__atomic_load_n(&st.stop_io, __ATOMIC_SEQ_CST); n++) {
        if (mp_oid(0, 0xfc010207, stats, 40, &done) ||
            mp_oid(0, 0x00020106, stats, sizeof(stats), &done)) {
            st_error("an OID request failed", 0);
        }
        __atomic_add_fetch(&st.oids, 2, __ATOMIC_SEQ_CST);
        st_query(n % ST_CONNS);
        g_usleep(1000);
    }
    return NULL;
}

/* The peer: takes what the device sends, acknowledges, sends its own */
static void st_peer_frame(int i, uint32_t seq, uint32_t ack,
                          const uint8_t *data, size_t len)
{
    static const uint8_t dev_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    QChimneyTcpAddr a = {
        .src_mac = (const uint8_t *)PEER_MAC, .dst_mac = dev_mac,
        .src_port = RPORT, .dst_port = st.c[i].lport,
    };
    uint8_t fr[2048];

    memcpy(&a.src_ip, peer_ip, 4);
    memcpy(&a.dst_ip, dev_ip, 4);
    wire_send(fr, qchimney_tcp_data_frame(fr, &a, seq, ack,
                                          len ? 0x18 : 0x10, 65535, NULL, 0,
                                          data, len));
}

static void *st_peer_thread(void *opaque)
{
    uint8_t fr[2048], data[1000];

    while (!__atomic_load_n(&st.stop_all, __ATOMIC_SEQ_CST)) {
        bool got[ST_CONNS] = { false };
        size_t len;

        while (wire_poll(fr, sizeof(fr), &len)) {
            uint8_t *ip = fr + 14, *th = ip + 20;
            uint32_t tl, doff, seq;
            int i;

            if (lduw_be_p(fr + 12) != 0x0800 || ip[9] != 6) {
                continue;
            }
            tl = lduw_be_p(ip + 2) - 20;
            doff = (th[12] >> 4) * 4;
            seq = ldl_be_p(th + 4);
            i = lduw_be_p(th) - LPORT;
            if (i < 0 || i >= ST_CONNS || tl <= doff) {
                continue;
            }
            if (seq == (uint32_t)(ISS + 1 + st.c[i].peer_got)) {
                for (uint32_t k = 0; k < tl - doff; k++) {
                    if (th[doff + k] != st_out(i, st.c[i].peer_got + k)) {
                        st_error("sent data differs", i);
                        break;
                    }
                }
                st.c[i].peer_got += tl - doff;
            }
            got[i] = true;
        }
        for (int i = 0; i < ST_CONNS; i++) {
            StConn *c = &st.c[i];
            bool send = !__atomic_load_n(&st.stop_io, __ATOMIC_SEQ_CST) &&
                        c->peer_sent - __atomic_load_n(&c->host_got,
                                                       __ATOMIC_SEQ_CST) <
                        16384;

            if (send) {
                for (int k = 0; k < sizeof(data); k++) {
                    data[k] = st_in(i, c->peer_sent + k);
                }
            }
            if (send || got[i]) {
                st_peer_frame(i, IRS + 1 + c->peer_sent,
                              ISS + 1 + c->peer_got, data,
                              send ? sizeof(data) : 0);
                c->peer_sent += send ? sizeof(data) : 0;
            }
        }
        g_usleep(100);
    }
    return NULL;
}

/* All sent and delivered both ways */
static bool st_drained(void)
{
    for (int i = 0; i < ST_CONNS; i++) {
        StConn *c = &st.c[i];

        if (__atomic_load_n(&c->completed, __ATOMIC_SEQ_CST) != c->sent ||
            c->peer_got != c->sent ||
            __atomic_load_n(&c->host_got, __ATOMIC_SEQ_CST) != c->peer_sent) {
            return false;
        }
    }
    return true;
}

/* The tree: a neighbor, a path, ST_CONNS connections under it */
static void st_tree(Tree *t, bool full)
{
    tree_init(t, full);
    for (int i = 0; i < ST_CONNS; i++) {
        StConn *c = &st.c[i];

        c->lport = LPORT + i;
        tcp_block_init(c->tcp, &c->ctx, (void *)(uintptr_t)(0xb0 + i),
                       c->lport, full);
        if (!full) {
            state(c->tcp, 0, 0x80);
        }
        wrp(c->tcp, 0x08, i + 1 < ST_CONNS ? st.c[i + 1].tcp : NULL);
    }
    wrp(t->path, 0x10, st.c[0].tcp);
}

static void test_windows_stress(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    pthread_t dpc, clock, peer, send[2], rcv, oid;
    void *ctx[2];
    Image im;
    Tree t;
    gint64 until;

    if (!path) {
        return;
    }
    setup();
    memset(&st, 0, sizeof(st));
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    for (int i = 0; i < ST_CONNS; i++) {
        for (int s = 0; s < ST_SLOTS; s++) {
            st.c[i].slot_buf[s] = w.ram + guest_alloc(&w.alloc, ST_SLOT);
        }
        for (int s = 0; s < ST_RCVS; s++) {
            st.c[i].rcv_buf[s] = w.ram + guest_alloc(&w.alloc, ST_RCV);
        }
    }
    st_tree(&t, true);
    host_state(w.provider_generic, w.adapter, 0x08, NC_INITIATE,
               t.neighbor);
    wait_for(&w.initiated);
    for (int i = 0; i < ST_CONNS; i++) {
        g_assert_cmphex(rd32(st.c[i].tcp + 0x18), ==, 0);
    }
    w.io_done = st_io_done;
    w.indicate_hook = st_indicate;

    pthread_create(&dpc, NULL, st_dpc_thread, NULL);
    pthread_create(&clock, NULL, st_clock_thread, NULL);
    pthread_create(&peer, NULL, st_peer_thread, NULL);
    pthread_create(&send[0], NULL, st_send_thread, (void *)0);
    pthread_create(&send[1], NULL, st_send_thread, (void *)1);
    pthread_create(&rcv, NULL, st_receive_thread, NULL);
    pthread_create(&oid, NULL, st_oid_thread, NULL);
    g_usleep(ST_SECONDS * G_USEC_PER_SEC);
    __atomic_store_n(&st.stop_io, 1, __ATOMIC_SEQ_CST);
    pthread_join(send[0], NULL);
    pthread_join(send[1], NULL);
    pthread_join(rcv, NULL);
    pthread_join(oid, NULL);

    /* Drain: bounded, so a stuck path fails rather than hangs */
    until = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    while (!st_drained() && g_get_monotonic_time() < until) {
        g_usleep(10000);
    }
    __atomic_store_n(&st.stop_all, 1, __ATOMIC_SEQ_CST);
    pthread_join(peer, NULL);
    pthread_join(clock, NULL);
    pthread_join(dpc, NULL);
    g_test_message("stress: %" PRIu64 " sends, %" PRIu64 " receives, %"
                   PRIu64 " indications, %" PRIu64 " OID requests, %"
                   PRIu64 " queries", st.sends, st.receives,
                   st.indications, st.oids, st.queries);
    for (int i = 0; i < ST_CONNS; i++) {
        StConn *c = &st.c[i];

        g_test_message("connection %d: %" PRIu64 " bytes out, %" PRIu64
                       " in", i, c->sent, c->peer_sent);
        g_assert_cmpuint(c->peer_got, ==, c->sent);
        g_assert_cmpuint(c->completed, ==, c->sent);
        g_assert_cmpuint(c->host_got, ==, c->peer_sent);
        g_assert_cmpuint(c->sent, >, 0);
        g_assert_cmpuint(c->peer_sent, >, 0);
    }
    g_assert_cmpint(st.errors, ==, 0);
    g_assert_cmpuint(st.completions, ==, st.sends);

    /* Terminated, the receives still posted come back uploaded */
    ctx[0] = t.ctx[0];
    ctx[1] = t.ctx[1];
    st_tree(&t, false);
    t.ctx[0] = ctx[0];
    t.ctx[1] = ctx[1];
    for (int i = 0; i < ST_CONNS; i++) {
        nc_conn_terminating((void *)(uintptr_t)(0xb0 + i));
    }
    w.terminated = NULL;
    host_state(w.provider_generic, w.adapter, 0x10, NC_TERMINATE,
               t.neighbor);
    wait_for(&w.terminated);
    w.io_done = NULL;
    w.indicate_hook = NULL;
    miniport_down();
}

#endif /* QTEST_STRESS_H */
