/*
 * pe-run: the miniport's registration, and what a fresh adapter answers
 * without its device
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include "pe-run.h"

/*
 * NDIS_OID_REQUEST (x64): RequestType @0x04, then DATA @0x20: Oid,
 * InformationBuffer @0x28, its length @0x30, BytesWritten/Read @0x34,
 * BytesNeeded @0x38.
 */
static uint32_t oid(void *handler, void *adapter, uint32_t type,
                    uint32_t id, void *buf, uint32_t len, uint32_t *done,
                    uint32_t *needed)
{
    uint8_t req[0x60] = { 0 };
    uint32_t st;

    *(uint32_t *)(req + 4) = type;
    *(uint32_t *)(req + 0x20) = id;
    wrp(req, 0x28, buf);
    *(uint32_t *)(req + 0x30) = len;
    st = oid_request(handler, adapter, req);
    *done = *(uint32_t *)(req + 0x34);
    *needed = *(uint32_t *)(req + 0x38);
    return st;
}

/* OID requests a fresh adapter answers without its device */
static void run_miniport_oids(void *adapter)
{
    void *handler = rdp(pr.mp_chars, 0x40);
    uint8_t buf[0x100];
    uint32_t done, needed, st;

    memset(buf, 0, sizeof(buf));
    st = oid(handler, adapter, 0, 0x00020106, buf, sizeof(buf), &done,
             &needed);
    ok(st == 0 && done == 0x98 && buf[0] == 0x80 && buf[1] == 1 &&
       rd16(buf + 2) == 0x98 && rd32(buf + 4) == 0x003f87ff,
       "OID_GEN_STATISTICS: NDIS_STATISTICS_INFO, every "
       "NDIS_STATISTICS_FLAGS_VALID_ statistic");
    st = oid(handler, adapter, 0, 0x00020106, buf, 8, &done, &needed);
    ok(st == 0xc0010014 && needed == 0x98,
       "OID_GEN_STATISTICS into 8 bytes: INVALID_LENGTH, 0x98 needed");
    st = oid(handler, adapter, 0, 0x00020101, buf, 4, &done, &needed);
    ok(st == 0 && done == 4, "OID_GEN_XMIT_OK into 4 bytes: 32 bits");
    st = oid(handler, adapter, 0, 0x00010202, buf, 4, &done, &needed);
    ok(st == 0xc00000bb, "an OID it does not know: NOT_SUPPORTED");
    /* OID_TCP_CONNECTION_OFFLOAD_PARAMETERS, set */
    st = oid(handler, adapter, 1, 0xfc030201, buf, 8, &done, &needed);
    ok(st == 0xc0010014 && needed == 0x38,
       "offload parameters too short: INVALID_LENGTH, revision 1 size");
    memset(buf, 0, sizeof(buf));
    *(uint32_t *)(buf + 0x20) = 7;          /* TicksPerSecond */
    st = oid(handler, adapter, 1, 0xfc030201, buf, 0x3c, &done, &needed);
    ok(st == 0xc0010015, "TicksPerSecond 7: INVALID_DATA");

    /* The offload target's statistics: TCP_OFFLOAD_STATS, IP_OFFLOAD_... */
    memset(buf, 0xff, sizeof(buf));
    st = oid(handler, adapter, 0, 0xfc010207, buf, sizeof(buf), &done,
             &needed);
    ok(st == 0 && done == 40 && rd32(buf + 16) == 0,
       "OID_TCP4_OFFLOAD_STATS: 40 bytes, nothing established");
    st = oid(handler, adapter, 0, 0xfc010207, buf, 16, &done, &needed);
    ok(st == 0xc0010014 && needed == 40,
       "OID_TCP4_OFFLOAD_STATS into 16 bytes: INVALID_LENGTH, 40 needed");
    st = oid(handler, adapter, 0, 0xfc010209, buf, sizeof(buf), &done,
             &needed);
    ok(st == 0 && done == 64, "OID_IP4_OFFLOAD_STATS: 64 bytes");
    st = oid(handler, adapter, 1, 0xfc010207, buf, 0, &done, &needed);
    ok(st == 0, "OID_TCP4_OFFLOAD_STATS set: the counters reset");

    /* OID_TCP_OFFLOAD_PARAMETERS: TcpConnectionIPv4 @13 */
    memset(buf, 0, sizeof(buf));
    buf[13] = 7;
    st = oid(handler, adapter, 1, 0xfc01020c, buf, 20, &done, &needed);
    ok(st == 0xc0010015, "TcpConnectionIPv4 7: INVALID_DATA");
    buf[13] = 1;                            /* CONNECTION_OFFLOAD_DISABLED */
    pr.nstatus = 0;
    st = oid(handler, adapter, 1, 0xfc01020c, buf, 20, &done, &needed);
    ok(st == 0 && pr.nstatus == 1 && pr.status_codes[0] == 0x40020006,
       "OID_TCP_OFFLOAD_PARAMETERS: NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG "
       "indicated");
}

/*
 * An IPv6 tree (neighbor, Ip6OffloadState path, connection) offered to
 * an adapter without chimney: every block fails, its state untouched
 * (the checked mock compares it).
 */
static void run_miniport_ipv6_off(void *adapter, int g)
{
    static const uint8_t src[16] = { 0xfe, 0x80, [15] = 1 };
    static const uint8_t dst[16] = { 0xfe, 0x80, [15] = 2 };
    uint8_t b[3][0x98 + 0xd0] = { { 0 } };
    void *ctx[3] = { NULL };
    static const uint32_t len[3][3] = {
        { 0x2c, 0x2c, 0xc }, { 0x18, 0xc, 0x8 }, { 0x18, 0x2c, 0x80 },
    };
    int old;

    for (int i = 0; i < 3; i++) {
        uint8_t *s = b[i] + 0x98;

        b[i][0] = i == 0 ? 4 : i == 1 ? 12 : 17;
        wrp(b[i], 0x30, &ctx[i]);
        wrp(b[i], 0x38, (void *)(uintptr_t)(0xb0 + i));
        if (i < 2) {
            wrp(b[i], 0x10, b[i + 1]);
        }
        *(uint32_t *)s = len[i][0];
        *(uint32_t *)(s + len[i][0]) = len[i][1];
        *(uint32_t *)(s + len[i][0] + len[i][1]) = len[i][2];
    }
    wrp(b[1] + 0x98, 8, src);
    wrp(b[1] + 0x98, 0x10, dst);
    *(uint32_t *)(b[1] + 0x98 + 0x18 + 8) = 1280;
    nc_give(b[0], NC_INITIATE, NULL);
    old = nc_enter(NC_DISPATCH);
    ((Fn2v *)rdp(pr.optional[g], 0x08))(adapter, b[0]);
    nc_leave(old);
    ok(pr.up_op == 1 && pr.up_root == b[0] &&
       rd32(b[0] + 0x18) == 0xc0000001 && rd32(b[1] + 0x18) == 0xc0000001 &&
       rd32(b[2] + 0x18) == 0xc0000001 && !ctx[0] && !ctx[1] && !ctx[2],
       "an IPv6 tree without chimney: every block FAILURE, no object");
}

/*
 * A tree for an adapter that cannot offload: a terminate, update,
 * invalidate or query may only fail its blocks with NDIS_STATUS_FAILURE
 * (chimney.md 4.5); RESOURCES is an initiate's word.
 */
static void run_miniport_no_chimney(void *adapter)
{
    int g = find_optional(0x8f, 'm');
    uint8_t block[2][0x98] = { { 0 } };
    int old;

    if (g < 0) {
        return;
    }
    block[0][0] = 4;                        /* neighbor, with a path */
    block[1][0] = 8;
    wrp(block[0], 0x10, block[1]);
    nc_give(block[0], NC_TERMINATE, NULL);
    old = nc_enter(NC_DISPATCH);
    ((Fn2v *)rdp(pr.optional[g], 0x10))(adapter, block[0]);
    nc_leave(old);
    ok(pr.up_op == 2 && pr.up_root == block[0] &&
       rd32(block[0] + 0x18) == 0xc0000001 &&
       rd32(block[1] + 0x18) == 0xc0000001,
       "a terminate the adapter cannot run: every block FAILURE, never "
       "RESOURCES");
    block[0][0x18] = block[1][0x18] = 0;
    nc_give(block[0], NC_INITIATE, NULL);
    old = nc_enter(NC_DISPATCH);
    ((Fn2v *)rdp(pr.optional[g], 0x08))(adapter, block[0]);
    nc_leave(old);
    ok(pr.up_op == 1 && rd32(block[0] + 0x18) == 0xc0000001,
       "an initiate with chimney off: FAILURE");
    run_miniport_ipv6_off(adapter, g);
}

void run_miniport(void *entry)
{
    uint32_t st = ((DriverEntryFn *)entry)((void *)0x10, (void *)0x20);
    void *adapter = calloc(1, 1 << 20);     /* a zeroed MpAdapter */

    ok(st == 0, "DriverEntry returns STATUS_SUCCESS");
    check_miniport_chars(0);
    st = ((Fn2 *)rdp(pr.mp_chars, 0x10))(H_MINIPORT_DRIVER, NULL);
    ok(st == 0 && pr.noptional == 2, "MiniportSetOptions registers two sets");
    check_provider();
    run_miniport_oids(adapter);
    run_miniport_no_chimney(adapter);
    free(adapter);
    ((Fn1v *)rdp(pr.mp_chars, 0x28))((void *)0x10);
    ok(pr.deregistered, "unload deregisters the miniport driver");
}
