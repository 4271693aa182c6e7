/*
 * The chimney-windows qtest's IPv6 and 802.1Q cases
 *
 * What the miniport advertises (SupportIPv6 exactly when the device has
 * CHIMNEY_FEAT_TCP_IPV6, IEEE 802.3 encapsulation), the IPv6 and VLAN
 * state it refuses before the device (an IPv6 path the device does not
 * offer, a multicast address, an MTU below 1280, VLAN 4095, a VLAN id on
 * a device without 802.1Q), and, on a device with IPv6, an IPv6
 * connection offloaded through the miniport alone and through the
 * intermediate driver above it: the peer on the wire gets its bytes in
 * IPv6 segments (flow label, hop limit, the TCP checksum over the IPv6
 * pseudo-header checked here), acknowledges them, and the send
 * completion comes up (to chimney-im's counters too); a Packet Too Big
 * lowers the path's MTU; with CHIMNEY_FEAT_8021Q the same over VLAN 100
 * with priority 5, tagged both ways.  The cases that need the device's
 * IPv6 skip without it.
 *
 * Included by tests/qtest/chimney-windows-test.c, whose helpers it uses.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QTEST_IPV6_H
#define QTEST_IPV6_H

#define V6_FLOW         0x12345u        /* the connection's FlowLabel */
#define V6_HOPS         61              /* its TtlOrHopLimit */

static const uint8_t dev_ip6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t peer_ip6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
static const uint8_t mcast_ip6[16] = { 0xff, 0x02, [15] = 1 };

static uint32_t dev_features(void)
{
    return mmio_readl(NULL, CHIMNEY_REG_FEATURES);
}

/*
 * The tree of tree_init with an IPv6 path (Ip6OffloadState 12, 16-byte
 * addresses) from @src to @dst of MTU @mtu, a neighbor on VLAN @vlan and
 * a connection with 802.1p priority @prio, the flow label and hop limit.
 */
static void tree6_init(Tree *t, const uint8_t *src, const uint8_t *dst,
                       uint32_t mtu, uint16_t vlan, uint8_t prio)
{
    uint8_t *k;

    tree_init(t, true);
    *(uint32_t *)(t->neighbor + 0x98 + 0x28) = vlan;    /* VlanId:12 */
    t->path[0] = 12;
    k = t->path + 0x98;
    wrp(k, 8, src);
    wrp(k, 0x10, dst);
    *(uint32_t *)(k + 0x18 + 8) = mtu;
    k = t->tcp + 0x98 + 0x18;                           /* TCP cached */
    *(uint32_t *)(k + 0x24) = V6_FLOW;
    k[0x28] = V6_HOPS;
    k[0x2a] = prio;
}

/* A counter of the device's, over QMP */
static uint64_t nic_stat(const char *name)
{
    QDict *rsp = qtest_qmp(w.qts, "{'execute': 'qom-get', 'arguments': "
                           "{'path': '/machine/peripheral/nic0', "
                           "'property': %s}}", name);
    uint64_t v = qdict_get_int(rsp, "return");

    qobject_unref(rsp);
    return v;
}

static void initiate(Tree *t)
{
    w.initiated = NULL;
    host_state(w.provider_generic, w.adapter, 0x08, NC_INITIATE,
               t->neighbor);
    wait_for(&w.initiated);
    g_assert(w.initiated == t->neighbor);
}

/* Its neighbor alone goes (the path and connection failed) */
static void terminate_neighbor(Tree *t)
{
    g_assert_cmphex(neighbor_op(0x10, NC_TERMINATE, &t->ctx[0], 0xa0,
                                PEER_MAC), ==, 0);
}

/* --- the peer's side of an IPv6 connection, tagged when @tci --- */

static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += p[len - 1] << 8;
    }
    return sum;
}

/* The TCP checksum over the IPv6 pseudo-header (RFC 8200 8.1): 0 if good */
static uint16_t tcp6_csum(const uint8_t *ip, const uint8_t *tcp,
                          uint32_t len)
{
    uint8_t ph[8] = { 0 };
    uint32_t sum;

    stl_be_p(ph, len);
    ph[7] = 6;
    sum = sum16(sum16(sum16(0, ip + 8, 32), ph, 8), tcp, len);
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum & 0xffff;
}

/* A segment of the peer to the device's connection on port @lport */
static size_t v6_frame(uint8_t *fr, uint16_t tci, uint16_t lport,
                       uint32_t seq, uint32_t ack, uint8_t flags,
                       const uint8_t *data, size_t len)
{
    static const uint8_t dev_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    size_t l2 = tci ? 18 : 14;
    uint8_t *ip = fr + l2, *th = ip + 40;

    memset(fr, 0, l2 + 60);
    memcpy(fr, dev_mac, 6);
    memcpy(fr + 6, PEER_MAC, 6);
    if (tci) {
        stw_be_p(fr + 12, 0x8100);
        stw_be_p(fr + 14, tci);
    }
    stw_be_p(fr + l2 - 2, 0x86dd);
    ip[0] = 0x60;
    stw_be_p(ip + 4, 20 + len);
    ip[6] = 6;
    ip[7] = 64;
    memcpy(ip + 8, peer_ip6, 16);
    memcpy(ip + 24, dev_ip6, 16);
    stw_be_p(th, RPORT);
    stw_be_p(th + 2, lport);
    stl_be_p(th + 4, seq);
    stl_be_p(th + 8, ack);
    th[12] = 5 << 4;
    th[13] = flags;
    stw_be_p(th + 14, 65535);
    if (len) {                  /* a bare ACK has no data (NULL) */
        memcpy(th + 20, data, len);
    }
    stw_be_p(th + 16, tcp6_csum(ip, th, 20 + len));
    return l2 + 60 + len;
}

/*
 * A frame of the device's connection on @lport: its TCP header and
 * length, the IPv6 header checked (version, flow label, hop limit, the
 * addresses, no extension header, the checksum) and the tag it came with.
 */
static const uint8_t *v6_parse(const uint8_t *fr, size_t len, uint16_t lport,
                               uint16_t *tci, uint32_t *tlen)
{
    size_t l2 = 14;
    const uint8_t *ip, *th;

    *tci = 0;
    if (len >= 18 && lduw_be_p(fr + 12) == 0x8100) {
        *tci = lduw_be_p(fr + 14);
        l2 = 18;
    }
    if (len < l2 + 60 || lduw_be_p(fr + l2 - 2) != 0x86dd) {
        return NULL;
    }
    ip = fr + l2;
    th = ip + 40;
    *tlen = lduw_be_p(ip + 4);
    if (ip[6] != 6 || lduw_be_p(th) != lport || l2 + 40 + *tlen > len) {
        return NULL;
    }
    g_assert_cmphex(ldl_be_p(ip), ==, 0x60000000 | V6_FLOW);
    g_assert_cmpuint(ip[7], ==, V6_HOPS);
    g_assert_cmpmem(ip + 8, 16, dev_ip6, 16);
    g_assert_cmpmem(ip + 24, 16, peer_ip6, 16);
    g_assert_cmphex(tcp6_csum(ip, th, *tlen), ==, 0);
    return th;
}

/* What the peer reads of a connection, and how */
typedef struct Peer6 {
    uint16_t lport, tci;        /* the connection's port, the tag (0: none) */
    uint32_t from;              /* the stream's offset at got[0] */
    uint32_t have;              /* bytes in got */
    bool ack;                   /* acknowledge what came */
    uint32_t max_seg;           /* the largest segment seen */
    uint8_t first[256];         /* the first data frame's IPv6 packet */
    uint32_t first_len;
} Peer6;

/*
 * The peer reads what the device sends on its port from ISS + 1 +
 * @p->from on, each frame with its tag, and acknowledges it the same way
 * when @p->ack (from the sequence number the device last acknowledged:
 * an ACK behind data the peer sent is an old segment); until it has
 * @want bytes.
 */
static uint32_t peer6_stream(Peer6 *p, uint8_t *got, uint32_t want)
{
    uint32_t acked = p->have, seq_out = IRS + 1;
    uint8_t fr[2048];
    size_t len;

    for (int i = 0; i < 200 && p->have < want; i++) {
        run_dpc();
        while (wire_poll(fr, sizeof(fr), &len)) {
            uint32_t tl, doff, seq;
            uint16_t tag;
            const uint8_t *th = v6_parse(fr, len, p->lport, &tag, &tl);

            if (!th) {
                continue;
            }
            g_assert_cmphex(tag, ==, p->tci);
            doff = (th[12] >> 4) * 4;
            seq = ldl_be_p(th + 4);
            /* what the device acknowledged of ours is where we are */
            if ((th[13] & 0x10) && (int32_t)(ldl_be_p(th + 8) - seq_out) > 0) {
                seq_out = ldl_be_p(th + 8);
            }
            if (tl > doff && !p->first_len) {
                p->first_len = MIN(40 + tl, sizeof(p->first));
                memcpy(p->first, th - 40, p->first_len);
            }
            p->max_seg = MAX(p->max_seg, tl > doff ? tl - doff : 0);
            if (tl > doff && seq == ISS + 1 + p->from + p->have &&
                p->have + tl - doff <= want) {
                memcpy(got + p->have, th + doff, tl - doff);
                p->have += tl - doff;
            }
        }
        if (p->ack && p->have != acked) {
            wire_send(fr, v6_frame(fr, p->tci, p->lport, seq_out,
                                   ISS + 1 + p->from + p->have, 0x10, NULL,
                                   0));
            acked = p->have;
        }
    }
    return p->have;
}

/* --- what the miniport advertises, what it refuses --- */

/*
 * NDIS_TCP_CONNECTION_OFFLOAD (ntddndis.h): Encapsulation @4 IEEE 802.3
 * (2), SupportIPv4:2 then SupportIPv6:2 @8 (NDIS_OFFLOAD_SUPPORTED 1);
 * IPv6 exactly when the device has it.  An IPv6 tree on a device
 * without it, a multicast address, an MTU below 1280, VLAN 4095 (or any
 * VLAN id without the device's 802.1Q matching): the bad block fails
 * before the device, its dependents unattempted, its parent a partial
 * success.
 */
static void test_windows_ipv6_refused(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    bool v6;
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    v6 = dev_features() & CHIMNEY_FEAT_TCP_IPV6;
    g_assert_cmphex(w.tcp_encap, ==, 2);
    g_assert_cmphex(w.tcp_support & 0xf, ==, v6 ? 0x5 : 0x1);
    g_assert_cmphex(w.tcp_current & 0xf, ==, v6 ? 0x5 : 0x1);

    if (!v6) {
        tree6_init(&t, dev_ip6, peer_ip6, 1500, 0, 0);
        initiate(&t);
        g_assert_cmphex(rd32(t.neighbor + 0x18), ==, 0x40020004);
        g_assert_cmphex(rd32(t.path + 0x18), ==, 0xc0000001);
        g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0xc0000001);
        g_assert(!t.ctx[1] && !t.ctx[2]);
        terminate_neighbor(&t);
    }
    tree6_init(&t, dev_ip6, mcast_ip6, 1500, 0, 0);
    initiate(&t);
    g_assert_cmphex(rd32(t.neighbor + 0x18), ==, 0x40020004);
    g_assert_cmphex(rd32(t.path + 0x18), ==, 0xc0000001);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0xc0000001);
    terminate_neighbor(&t);

    tree6_init(&t, dev_ip6, peer_ip6, 1279, 0, 0);
    initiate(&t);
    g_assert_cmphex(rd32(t.path + 0x18), ==, 0xc0000001);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0xc0000001);
    terminate_neighbor(&t);

    /* VLAN 4095 is reserved: the neighbor fails, and all under it */
    tree_init(&t, true);
    *(uint32_t *)(t.neighbor + 0x98 + 0x28) = 4095;
    initiate(&t);
    g_assert_cmphex(rd32(t.neighbor + 0x18), ==, 0xc0000001);
    g_assert_cmphex(rd32(t.path + 0x18), ==, 0xc0000001);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0xc0000001);
    g_assert(!t.ctx[0]);

    /* A VLAN id needs the device's 802.1Q matching: out of VLAN entries */
    if (!(dev_features() & CHIMNEY_FEAT_8021Q)) {
        tree_init(&t, true);
        *(uint32_t *)(t.neighbor + 0x98 + 0x28) = 100;
        initiate(&t);
        g_assert_cmphex(rd32(t.neighbor + 0x18), ==, 0xc0231009);
        g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0xc0000001);
    }

    /* Nothing of it reached the device: an IPv4 tree offloads as before */
    offload_tree(&t, 0);
    terminate_tree(&t);
    miniport_down();
}

/* --- an IPv6 connection through the miniport, and through chimney-im --- */

static bool ipv6_device(uint32_t also)
{
    uint32_t want = CHIMNEY_FEAT_TCP_IPV6 | also;

    if ((dev_features() & want) != want) {
        g_test_skip("the device has no IPv6 (or 802.1Q) chimney");
        miniport_down();
        return false;
    }
    return true;
}

/* The connection's delegated state back, its @sent bytes acknowledged */
static void terminate6(Tree *t, void *generic, void *ctx, uint32_t sent)
{
    void *save[3] = { t->ctx[0], t->ctx[1], t->ctx[2] };
    uint8_t *d = t->tcp + 0x98;

    tree_init(t, false);
    t->path[0] = 12;
    memcpy(t->ctx, save, sizeof(save));
    state(t->tcp, 0, 0x80);
    nc_conn_terminating(CONN);
    w.terminated = NULL;
    host_state(generic, ctx, 0x10, NC_TERMINATE, t->neighbor);
    wait_for(&w.terminated);
    g_assert(w.terminated == t->neighbor);
    g_assert_cmphex(rd32(t->tcp + 0x18), ==, 0);
    g_assert_cmphex(rd32(t->path + 0x18), ==, 0);
    g_assert_cmphex(rd32(t->neighbor + 0x18), ==, 0);
    g_assert_cmpuint(rd32(d + 0x18), ==, ISS + 1 + sent);      /* SndUna */
}

/*
 * 3000 bytes out from stream offset @from, tag @tci, acknowledged,
 * completed; the largest segment the peer saw
 */
static uint32_t send6(Tree *t, void *tcp, void *ctx, uint16_t tci,
                      uint32_t from)
{
    Peer6 p = { .lport = LPORT, .tci = tci, .from = from, .ack = true };
    uint8_t *nbl = send_nbl(), got[4096];
    uint8_t *buf = rdp(rdp(rdp(nbl, 8), 8), 0x18);

    w.sent = NULL;
    host_io(tcp, ctx, 0x10, NC_SEND, &t->ctx[2], nbl, CONN);
    g_assert_cmpuint(peer6_stream(&p, got, 3000), ==, 3000);
    g_assert_cmpmem(got, 3000, buf, 3000);
    wait_for(&w.sent);
    g_assert(w.sent == nbl);
    g_assert_cmphex(rd32(nbl + 0x8c), ==, 0);
    g_assert_cmpuint((uintptr_t)rdp(nbl, 0x90), ==, 3000);
    return p.max_seg;
}

/*
 * An IPv6 connection through the miniport: offloaded (not counted in
 * OID_TCP4_OFFLOAD_STATS), 3000 bytes out and completed on the peer's
 * ACK, 500 bytes in (indicated, then into a posted receive), a path MTU
 * update (one below 1280 refused before the device), and its terminate
 * returns the delegated state.
 */
static void test_windows_ipv6_offload(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    uint8_t up[0x98 + 0xc] = { 0 }, data[500], fr[2048], *rnbl;
    uint64_t buf;
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    if (!ipv6_device(0)) {
        return;
    }
    tree6_init(&t, dev_ip6, peer_ip6, 1500, 0, 0);
    initiate(&t);
    g_assert_cmphex(rd32(t.neighbor + 0x18), ==, 0);
    g_assert_cmphex(rd32(t.path + 0x18), ==, 0);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0);
    g_assert_cmpuint(established(), ==, 0);     /* OID_TCP4_...: not IPv4 */
    send6(&t, w.provider_tcp, w.adapter, 0, 0);

    for (int i = 0; i < 500; i++) {
        data[i] = i * 13 + 1;
    }
    wire_send(fr, v6_frame(fr, 0, LPORT, IRS + 1, ISS + 1 + 3000, 0x18,
                           data, sizeof(data)));
    for (int i = 0; i < 100 && !w.indicated; i++) {
        run_dpc();
    }
    g_assert_cmpuint(w.indicated, ==, 500);
    buf = guest_alloc(&w.alloc, 2048);
    rnbl = nbl_new(mdl_new(w.ram + buf, 2048), 0, 2048);
    host_io(w.provider_tcp, w.adapter, 0x18, NC_RECEIVE, &t.ctx[2], rnbl,
            CONN);
    wait_for(&w.received);
    g_assert(w.received == rnbl);
    g_assert_cmpuint((uintptr_t)rdp(rnbl, 0x90), ==, 500);
    g_assert_cmpmem(w.ram + buf, 500, data, 500);

    /* PATH_OFFLOAD_STATE_CACHED of the IPv6 path: 1280 yes, 1200 no */
    offload_block_init(up, 10, &t.ctx[1], 0xa1);   /* Ip6OffloadCached... */
    *(uint32_t *)(state(up, 0, 0xc) + 8) = 1280;
    w.updated = NULL;
    host_state(w.provider_generic, w.adapter, 0x18, NC_UPDATE, up);
    wait_for(&w.updated);
    g_assert_cmphex(rd32(up + 0x18), ==, 0);
    *(uint32_t *)(up + 0x98 + 8) = 1200;
    w.updated = NULL;
    host_state(w.provider_generic, w.adapter, 0x18, NC_UPDATE, up);
    wait_for(&w.updated);
    g_assert_cmphex(rd32(up + 0x18), ==, 0xc0000001);

    terminate6(&t, w.provider_generic, w.adapter, 3000);
    miniport_down();
}

/* A router's ICMPv6 Packet Too Big (RFC 4443 3.2) quoting @pkt */
static size_t v6_too_big(uint8_t *fr, uint32_t mtu, const uint8_t *pkt,
                         uint32_t len)
{
    static const uint8_t dev_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    static const uint8_t router[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0xfe };
    uint8_t *ip = fr + 14, *icmp = ip + 40, ph[8] = { 0 };
    uint32_t plen = 8 + len, sum;

    memset(fr, 0, 14 + 48);
    memcpy(fr, dev_mac, 6);
    memcpy(fr + 6, PEER_MAC, 6);
    stw_be_p(fr + 12, 0x86dd);
    ip[0] = 0x60;
    stw_be_p(ip + 4, plen);
    ip[6] = 58;
    ip[7] = 255;
    memcpy(ip + 8, router, 16);
    memcpy(ip + 24, dev_ip6, 16);
    icmp[0] = 2;                                /* Packet Too Big */
    stl_be_p(icmp + 4, mtu);
    memcpy(icmp + 8, pkt, len);
    stl_be_p(ph, plen);
    ph[7] = 58;
    sum = sum16(sum16(sum16(0, ip + 8, 32), ph, 8), icmp, plen);
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    stw_be_p(icmp + 2, ~sum & 0xffff);
    return 14 + 40 + plen;
}

/*
 * A router says the path's MTU is 1280, quoting a segment still in
 * flight.  The device lowers it and tells the miniport (PATH_MTU); NDIS
 * has no event for that and gets none: the ICMPv6 message goes up the
 * plain path, for the host stack to process and update the path with
 * (PATH_OFFLOAD_STATE_CACHED, as NDIS's pages say the host does), and
 * the state NDIS gave stays as it gave it (the checked mock).  The next
 * segments are of the new MSS, 1280 - 60.
 */
static void test_windows_ipv6_path_mtu(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    Peer6 p = { .lport = LPORT };
    uint8_t up[0x98 + 0xc] = { 0 }, got[4096], fr[2048], *nbl;
    uint32_t l2_rx;
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    if (!ipv6_device(0)) {
        return;
    }
    tree6_init(&t, dev_ip6, peer_ip6, 1500, 0, 0);
    *(uint16_t *)(t.tcp + 0x98 + 0x10) = 1440;      /* RemoteMss */
    initiate(&t);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0);

    /* 3000 bytes go out in 1440-byte segments; nothing is acknowledged */
    nbl = send_nbl();
    w.sent = NULL;
    host_io(w.provider_tcp, w.adapter, 0x10, NC_SEND, &t.ctx[2], nbl, CONN);
    g_assert_cmpuint(peer6_stream(&p, got, 3000), ==, 3000);
    g_assert_cmpuint(p.max_seg, ==, 1440);
    g_assert(p.first_len && !w.sent);

    l2_rx = w.l2_rx;
    w.dbg_path_mtu = 0;
    wire_send(fr, v6_too_big(fr, 1280, p.first, p.first_len));
    for (int i = 0; i < 20; i++) {
        run_dpc();
    }
    g_assert_cmpuint(w.dbg_path_mtu, ==, 1);    /* the miniport heard */
    g_assert_cmpuint(w.l2_rx, >, l2_rx);        /* the host gets it too */
    g_assert_cmpuint(w.events, ==, 0);          /* nothing for NDIS's TCP */

    /* The peer acknowledges; the next 3000 bytes come in 1220s */
    wire_send(fr, v6_frame(fr, 0, LPORT, IRS + 1, ISS + 1 + 3000, 0x10,
                           NULL, 0));
    wait_for(&w.sent);
    g_assert(w.sent == nbl);
    g_assert_cmpuint(send6(&t, w.provider_tcp, w.adapter, 0, 3000), ==,
                     1280 - 60);

    /* The host stack's own processing of the message ends in an update */
    offload_block_init(up, 10, &t.ctx[1], 0xa1);
    *(uint32_t *)(state(up, 0, 0xc) + 8) = 1280;
    w.updated = NULL;
    host_state(w.provider_generic, w.adapter, 0x18, NC_UPDATE, up);
    wait_for(&w.updated);
    g_assert_cmphex(rd32(up + 0x18), ==, 0);
    terminate6(&t, w.provider_generic, w.adapter, 6000);
    miniport_down();
}

/*
 * MiniportUpdateOffload of the connection's TCP_OFFLOAD_STATE_CACHED: the
 * same flow label and hop limit, 802.1p priority @prio; its status
 */
static uint32_t update6_cached(Tree *t, uint8_t prio)
{
    return update_tcp_cached(t, 14, 0, V6_FLOW, V6_HOPS, prio);
}

/*
 * An IPv6 connection on VLAN 100 with 802.1p priority 5: its frames carry
 * the tag (PCP 5, VID 100), the peer's tagged ACKs complete the send.
 * The peer's segment without the tag is dropped: Microsoft's "Receiving
 * 802.1Q-Marked and 802.1p-Marked Packets on an Offloaded TCP Connection"
 * has a target whose neighbor VlanId is not zero drop a packet without
 * that VLAN id, so neither the connection nor the host gets it (the
 * device counts it).  Tagged, it is the connection's.  An update (the
 * 224-byte block) moves the connection to priority 3.
 */
static void test_windows_ipv6_vlan(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    uint8_t data[300], fr[2048], *rnbl;
    uint32_t l2_rx;
    uint64_t buf;
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    if (!ipv6_device(CHIMNEY_FEAT_8021Q)) {
        return;
    }
    tree6_init(&t, dev_ip6, peer_ip6, 1500, 100, 5);
    initiate(&t);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0);
    send6(&t, w.provider_tcp, w.adapter, 5 << 13 | 100, 0);

    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = i * 3 + 7;
    }
    l2_rx = w.l2_rx;
    wire_send(fr, v6_frame(fr, 0, LPORT, IRS + 1, ISS + 1 + 3000, 0x18,
                           data, sizeof(data)));
    /* the device takes the wire's frames in order: this one comes after */
    wire_send(fr, v6_frame(fr, 100, LPORT, IRS + 1, ISS + 1 + 3000, 0x18,
                           data, sizeof(data)));
    for (int i = 0; i < 100 && !w.indicated; i++) {
        run_dpc();
    }
    g_assert_cmpuint(w.indicated, ==, sizeof(data));
    g_assert_cmpuint(w.l2_rx, ==, l2_rx);
    g_assert_cmpuint(nic_stat("x-stat-rx-vlan-dropped"), ==, 1);
    buf = guest_alloc(&w.alloc, 2048);
    rnbl = nbl_new(mdl_new(w.ram + buf, 2048), 0, 2048);
    host_io(w.provider_tcp, w.adapter, 0x18, NC_RECEIVE, &t.ctx[2], rnbl,
            CONN);
    wait_for(&w.received);
    g_assert_cmpuint((uintptr_t)rdp(rnbl, 0x90), ==, sizeof(data));
    g_assert_cmpmem(w.ram + buf, sizeof(data), data, sizeof(data));

    g_assert_cmphex(update6_cached(&t, 3), ==, 0);
    send6(&t, w.provider_tcp, w.adapter, 3 << 13 | 100, 3000);
    terminate6(&t, w.provider_generic, w.adapter, 6000);
    miniport_down();
}

/*
 * chimney-im above the miniport, as NDIS stacks them, passes the IPv6
 * tree and the sends down unchanged; the device's ACK-driven completion
 * comes back up through it, and it counts it.
 */
static void test_windows_ipv6_im(void)
{
    g_autofree char *nic = driver_path("chimneynic.sys");
    g_autofree char *imp = nic ? driver_path("chimneyim.sys") : NULL;
    uint64_t *counters;
    Image mini, imi;
    Tree t;

    if (!imp) {
        return;
    }
    setup();
    w.im_above = true;
    w.host = H_IM_VIRTUAL;
    miniport_up(&mini, nic);
    if (!ipv6_device(0)) {
        return;
    }
    im_up(&imi, imp);
    tree6_init(&t, dev_ip6, peer_ip6, 1500, 0, 0);
    w.initiated = NULL;
    host_state(w.im_provider_generic, w.im_binding, 0x08, NC_INITIATE,
               t.neighbor);
    wait_for(&w.initiated);
    g_assert(w.initiated == t.neighbor);
    g_assert_cmphex(rd32(t.path + 0x18), ==, 0);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0);
    g_assert(t.path[0] == 12 && rdp(t.path + 0x98, 8) == dev_ip6);

    send6(&t, w.im_provider_tcp, w.im_binding, 0, 0);
    counters = image_symbol(&imi, "chimney_im_counters");
    g_assert(counters);
    g_assert_cmpuint(counters[0], ==, 1);       /* send complete calls */
    g_assert_cmpuint(counters[2], ==, 1);       /* SUCCESS */
    g_assert_cmpuint(counters[6], ==, 3000);    /* bytes */
    g_assert_cmpuint(counters[13], ==, 1);      /* connections offloaded */

    terminate6(&t, w.im_provider_generic, w.im_binding, 3000);
    g_assert_cmpuint(counters[15], ==, 1);      /* terminated */
    miniport_down();
}

#endif /* QTEST_IPV6_H */
