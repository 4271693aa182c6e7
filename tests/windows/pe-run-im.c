/*
 * pe-run: the intermediate driver between a host and a chimney adapter
 *
 * It binds, starts its virtual adapter, and then offloads a neighbor, a
 * path and a connection through itself, sends, completes, indicates an
 * event and terminates, as NDIS and the driver below would; it passes a
 * method OID request down and its results up; and what completes below
 * once its adapter is halted stays with it.  Its counters are read out
 * of its image.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include "pe-run.h"

#define CONN_HANDLE     ((void *)0xa2)  /* the host's NdisOffloadHandle */

/*
 * A state tree as NDIS gives a miniport: neighbor, an IPv6 path, TCP;
 * each block followed by its const, cached and delegated state, each
 * sized by its OFFLOAD_STATE_HEADER.Length (PATH_OFFLOAD_STATE_CONST
 * pointing at 16-byte addresses, "PATH_OFFLOAD_STATE_CONST structure").
 */
#define BLOCK_STATE     0xd0

typedef struct Tree {
    uint8_t block[3][0x98 + BLOCK_STATE];
    void *upper_ctx[3];
} Tree;

static const uint8_t v6_src[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t v6_dst[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

static void block_state(uint8_t *b, uint32_t k, uint32_t c, uint32_t d)
{
    uint8_t *s = b + 0x98;

    *(uint32_t *)s = k;                         /* Length */
    *(uint32_t *)(s + k) = c;
    *(uint32_t *)(s + k + c) = d;
}

static void tree_init(Tree *t, int n)
{
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < n; i++) {
        t->block[i][0] = 4 + 8 * i;     /* Neighbor 4, Ip6OffloadState 12 */
        wrp(t->block[i], 0x30, &t->upper_ctx[i]);
        wrp(t->block[i], 0x38, (void *)(uintptr_t)(0xa0 + i));
        if (i + 1 < n) {
            wrp(t->block[i], 0x10, t->block[i + 1]);
        }
    }
    t->block[n - 1][0] = 17;                    /* TcpOffloadState */
    block_state(t->block[0], 0x2c, 0x2c, 0xc);
    if (n == 3) {
        block_state(t->block[1], 0x18, 0xc, 0x8);
        wrp(t->block[1] + 0x98, 8, v6_src);
        wrp(t->block[1] + 0x98, 0x10, v6_dst);
        *(uint32_t *)(t->block[1] + 0x98 + 0x18 + 8) = 1280;   /* PathMtu */
    }
    block_state(t->block[n - 1], 0x18, 0x2c, 0x80);
    *(uint32_t *)(t->block[n - 1] + 0x98 + 0x18 + 0x24) = 0xbeef; /* flow */
    wrp(t->block[0], 0x60, (void *)0xaaa);
    wrp(t->block[0], 0x68, (void *)0xbbb);
    wrp(t->block[0], 0x80, (void *)0xccc);
}

/* A state call of the host, at DISPATCH_LEVEL as NDIS may make it */
static void state_call(int off, int kind, Tree *t)
{
    int old = nc_enter(NC_DISPATCH);

    nc_give(t->block[0], kind, NULL);
    ((Fn2v *)rdp(pr.optional[find_optional(0x8f, 'm')], off))(
        pr.im_context, t->block[0]);
    nc_leave(old);
}

/*
 * A method request (OID_GEN_..., any: the IM does not look) keeps its
 * results in METHOD_INFORMATION: BytesWritten @0x3c, BytesRead @0x40.
 */
static void run_im_method_oids(void)
{
    void *handler = rdp(pr.mp_chars, 0x40);
    uint8_t req[0x100] = { 0 }, req2[0x100] = { 0 };
    uint32_t st;

    *(uint32_t *)(req + 4) = 12;                /* NdisRequestMethod */
    *(uint32_t *)(req + 0x20) = 0x00010203;
    pr.oid_down_status = 0;
    st = oid_request(handler, pr.im_context, req);
    ok(st == 0 && rd32(req + 0x3c) == 12 && rd32(req + 0x40) == 8,
       "a method OID request answered at once: BytesWritten and "
       "BytesRead come up");

    *(uint32_t *)(req2 + 4) = 12;
    *(uint32_t *)(req2 + 0x20) = 0x00010203;
    pr.oid_down_status = NC_PENDING;
    st = oid_request(handler, pr.im_context, req2);
    if (st == NC_PENDING && pr.oid_down) {
        int old = nc_enter(NC_DISPATCH);

        ((Fn3v *)rdp(pr.proto_chars, 0x58))(pr.im_context, pr.oid_down,
                                             NULL);
        nc_leave(old);
    }
    ok(st == NC_PENDING && pr.oid_done == req2 && rd32(req2 + 0x3c) == 12 &&
       rd32(req2 + 0x40) == 8,
       "a method OID request completed later: BytesWritten and BytesRead "
       "come up with NdisMOidRequestComplete");
}

static void bind_and_start(void)
{
    uint8_t bind[0x100] = { 0 }, init[0x40] = { 0 }, tcp_caps[0x14] = { 0 };
    static uint16_t adapter_name[] = u"\\Device\\{LOWER}";
    static uint8_t ns[16];
    uint32_t st;

    *(uint16_t *)ns = sizeof(adapter_name) - 2;
    *(uint16_t *)(ns + 2) = sizeof(adapter_name);
    wrp(ns, 8, adapter_name);
    wrp(bind, 0x10, ns);
    *(uint32_t *)(bind + 0x24) = 1500;
    *(uint32_t *)(tcp_caps + 0x0c) = 64;        /* capacity */
    *(uint32_t *)(tcp_caps + 0x08) = 0x5;       /* SupportIPv4, IPv6 */
    wrp(bind, 0xe8, tcp_caps);
    st = ((Fn3 *)rdp(pr.proto_chars, 0x28))(NULL, (void *)0x5000, bind);
    ok(st == 0 && pr.im_context, "bind opens the adapter and starts the "
       "virtual adapter named by UpperBindings");
    wrp(init, 0x10, pr.im_context);
    st = ((Fn3 *)rdp(pr.mp_chars, 0x18))(H_VIRTUAL_MINIPORT, NULL, init);
    ok(st == 0 && pr.attrs_seen == 0x7,
       "the virtual adapter sets registration, general and offload "
       "attributes");
    ok(pr.tcp_support[0] == 0x5 && pr.tcp_support[1] == 0x5,
       "the adapter below's IPv4 and IPv6 chimney are offered as they are");
}

void run_im(Image *im, void *entry)
{
    uint64_t *counters;
    uint8_t nbl[3][0x130];
    void *client_generic_done, *client_tcp_send_done, *client_event;
    void *im_obj[3], *handle_t;
    Tree t;
    uint32_t st;
    int cg, ct, old;

    st = ((DriverEntryFn *)entry)((void *)0x10, (void *)0x20);
    ok(st == 0, "DriverEntry returns STATUS_SUCCESS whatever RAX "
       "NdisIMAssociateMiniport (VOID) leaves");
    check_miniport_chars(1);                    /* NDIS_INTERMEDIATE_DRIVER */
    ok(pr.proto_chars[0] == 0x95 && pr.proto_chars[1] == 2 &&
       rd16(pr.proto_chars + 2) == 0x80 && pr.proto_chars[4] == 6 &&
       pr.proto_chars[5] == 20,
       "NDIS_PROTOCOL_DRIVER_CHARACTERISTICS revision 2, NDIS 6.20");
    ok(handlers_set(pr.proto_chars, 0x20, 0x78), "protocol handlers");
    ok(pr.associated, "NdisIMAssociateMiniport ties the two halves");
    ok(pr.device_registered, "control device with create, close, ioctl");

    ((Fn2 *)rdp(pr.mp_chars, 0x10))(H_MINIPORT_DRIVER, NULL);
    ((Fn2 *)rdp(pr.proto_chars, 0x20))(H_PROTOCOL, NULL);
    check_provider();
    cg = find_optional(0x8e, 'p');
    ct = find_optional(0x93, 'p');
    ok(cg >= 0 && handlers_set(pr.optional[cg], 0x08, 0x38),
       "client generic handlers: five completions and the event");
    ok(ct >= 0 && rd32(pr.optional[ct] + 8) == 1 &&
       handlers_set(pr.optional[ct], 0x10, 0x40),
       "client TCP handlers: four completions, event, indicate");
    if (cg < 0 || ct < 0) {
        return;
    }
    bind_and_start();
    run_im_method_oids();

    /* Initiate: the tree goes down in the protocol layout */
    tree_init(&t, 3);
    nc_conn_new(CONN_HANDLE);
    state_call(0x08, NC_INITIATE, &t);
    ok(pr.down_op == 1 && pr.down_root == t.block[0], "initiate goes down");
    ok(t.block[1][0] == 12 && rdp(t.block[1] + 0x98, 8) == v6_src &&
       rdp(t.block[1] + 0x98, 0x10) == v6_dst &&
       rd32(t.block[1] + 0x98 + 0x18 + 8) == 1280 &&
       rd32(t.block[2] + 0x98 + 0x18 + 0x24) == 0xbeef,
       "an IPv6 path goes down as it is: Ip6OffloadState, its addresses, "
       "its MTU, the connection's flow label");
    for (int i = 0; i < 3; i++) {
        im_obj[i] = rdp(t.block[i], 0x38);      /* OffloadHandle */
    }
    ok(im_obj[0] && im_obj[1] && im_obj[2] && im_obj[0] != im_obj[1] &&
       !*(void **)rdp(im_obj[2], 8),
       "each block carries the driver's own NDIS_OFFLOAD_HANDLE, new");
    ok(rdp(t.block[0], 0x60) != (void *)0xaaa,
       "the root's ImReserved holds the call entry");
    for (int i = 0; i < 3; i++) {               /* the target below */
        *(void **)rdp(im_obj[i], 8) = (void *)(uintptr_t)(0xd0 + i);
        *(uint32_t *)(t.block[i] + 0x18) = 0;
    }
    client_generic_done = rdp(pr.optional[cg], 0x08);
    old = nc_enter(NC_DISPATCH);
    ((Fn2 *)client_generic_done)(pr.im_context, t.block[0]);
    nc_leave(old);
    ok(pr.up_op == 1 && pr.up_root == t.block[0], "the completion goes up");
    ok(rdp(t.block[0], 0x60) == (void *)0xaaa &&
       rdp(t.block[0], 0x68) == (void *)0xbbb &&
       rdp(t.block[0], 0x80) == (void *)0xccc,
       "ImReserved and SourceHandle are put back");
    ok(rdp(t.block[2], 0x30) == &t.upper_ctx[2] &&
       rdp(t.block[2], 0x38) == CONN_HANDLE &&
       t.upper_ctx[2] == im_obj[2],
       "MiniportOffloadContext and NdisOffloadHandle are put back, and "
       "the context names the driver's object");

    /* Send: the same NBLs go down with the object's handle */
    memset(nbl, 0, sizeof(nbl));
    wrp(nbl[0], 0, nbl[1]);
    handle_t = im_obj[2];
    nc_give(nbl[0], NC_SEND, CONN_HANDLE);
    nc_give(nbl[1], NC_SEND, CONN_HANDLE);
    old = nc_enter(NC_DISPATCH);
    st = ((Fn3 *)rdp(pr.optional[find_optional(0x94, 'm')], 0x10))(
        pr.im_context, &t.upper_ctx[2], nbl[0]);
    nc_leave(old);
    nc_pending(st, "MiniportTcpOffloadSend");
    ok(pr.sent_handle == handle_t && pr.sent_nbl == nbl[0],
       "MiniportTcpOffloadSend passes the NBLs down, pending");

    /* ProtocolTcpOffloadSendComplete: one SUCCESS, one UPLOAD */
    *(uint32_t *)(nbl[0] + 0x8c) = 0;
    wrp(nbl[0], 0x90, (void *)100);
    *(uint32_t *)(nbl[1] + 0x8c) = 0xc0231001;
    wrp(nbl[1], 0x90, (void *)20);
    client_tcp_send_done = rdp(pr.optional[ct], 0x10);
    old = nc_enter(NC_DISPATCH);
    ((Fn2 *)client_tcp_send_done)(pr.im_context, nbl[0]);
    nc_leave(old);
    ok(pr.send_completed == nbl[0],
       "the send completion reaches NdisTcpOffloadSendComplete above");

    client_event = rdp(pr.optional[ct], 0x30);
    old = nc_enter(NC_DISPATCH);
    ((Fn3 *)client_event)(handle_t, (void *)2, NULL);
    nc_leave(old);
    ok(pr.event_handle == CONN_HANDLE && pr.event_type == 2,
       "a disconnect event goes up with the upper NdisOffloadHandle");

    /* Terminate the connection */
    tree_init(&t, 1);
    t.upper_ctx[0] = im_obj[2];
    wrp(t.block[0], 0x38, CONN_HANDLE);
    nc_conn_terminating(CONN_HANDLE);
    state_call(0x10, NC_TERMINATE, &t);
    ok(pr.down_op == 2 && rdp(t.block[0], 0x38) == handle_t,
       "terminate goes down with the object's handle");
    old = nc_enter(NC_DISPATCH);
    ((Fn2 *)rdp(pr.optional[cg], 0x10))(pr.im_context, t.block[0]);
    nc_leave(old);
    ok(pr.up_op == 2 && pr.up_root == t.block[0],
       "the terminate completes up");

    /* No memory for a terminate's call entry: FAILURE, never RESOURCES */
    tree_init(&t, 2);
    pr.fail_alloc = 1;
    state_call(0x10, NC_TERMINATE, &t);
    ok(pr.up_op == 2 && pr.up_root == t.block[0] &&
       rd32(t.block[0] + 0x18) == 0xc0000001 &&
       rd32(t.block[1] + 0x18) == 0xc0000001,
       "a terminate the driver cannot pass down: FAILURE, never RESOURCES");

    /*
     * The virtual adapter is halted; a completion that still comes from
     * below has nowhere to go and must not reach NDIS with no adapter.
     */
    ((Fn2v *)rdp(pr.mp_chars, 0x20))(pr.im_context, NULL);
    pr.send_completed = NULL;
    old = nc_enter(NC_DISPATCH);
    ((Fn2 *)client_tcp_send_done)(pr.im_context, nbl[2]);
    nc_leave(old);
    ok(!pr.send_completed, "a send completion after the halt stays below");

    counters = image_symbol(im, "chimney_im_counters");
    ok(counters != NULL, "the counters are in the image");
    if (counters) {
        /* ChimneyImCounters: calls, nbls, success, upload, aborted, */
        /* other, bytes, sends, ..., offloads [13], failures, terms, */
        /* after_halt [16] */
        ok(counters[0] == 2 && counters[1] == 3 && counters[2] == 2 &&
           counters[3] == 1 && counters[6] == 120 && counters[7] == 2,
           "ProtocolTcpOffloadSendComplete counted: 2 calls, 3 NBLs, "
           "2 SUCCESS, 1 UPLOAD_IN_PROGRESS, 120 bytes, 2 sends");
        ok(counters[12] == 1 && counters[13] == 1 && counters[15] == 1 &&
           counters[16] == 1,
           "1 event, 1 connection offloaded, 1 terminated, 1 completion "
           "after the halt");
    }
}
