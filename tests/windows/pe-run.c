/*
 * Run a Windows driver's own code on Linux, against a mock NDIS
 *
 *   pe-run chimneynic.sys miniport
 *   pe-run chimneyim.sys im
 *
 * The image is mapped and relocated like the Windows loader would, its
 * imports are bound to the mocks below (calling anything else stops the
 * run with the function's name), and DriverEntry and the handlers it
 * registers are called through the Windows x64 calling convention.  What
 * the driver hands NDIS is checked against the documented layouts, which
 * are written out here independently of the driver's own declarations.
 * The intermediate driver's scenario then offloads a neighbor, a path and
 * a connection through it, sends, completes, indicates an event and
 * terminates, as NDIS and the driver below would, and reads its counters
 * out of its image.  Prints TAP.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include "pe-load.h"

/* The driver's entry points, by the number of arguments */
typedef WINAPI uint32_t DriverEntryFn(void *driver, void *registry);
typedef WINAPI uint32_t Fn2(void *a, void *b);
typedef WINAPI uint32_t Fn3(void *a, void *b, void *c);
typedef WINAPI void Fn1v(void *a);

static int test_no;
static int failed;

static void ok(int cond, const char *what)
{
    printf("%sok %d %s\n", cond ? "" : "not ", ++test_no, what);
    failed |= !cond;
}

/* --- mock NDIS: what the drivers hand it, kept for the checks --- */

#define H_MINIPORT_DRIVER   ((void *)0x1001)
#define H_PROTOCOL          ((void *)0x1002)
#define H_BINDING           ((void *)0x1003)
#define H_VIRTUAL_MINIPORT  ((void *)0x1004)
#define H_DEVICE            ((void *)0x1005)

static uint8_t mp_chars[0x98];
static uint8_t proto_chars[0x80];
static uint8_t optional[4][0x40];
static char optional_who[4];        /* 'm' miniport half, 'p' protocol */
static int noptional;
static int deregistered, associated, device_registered;
static void *im_context;            /* NdisIMInitializeDeviceInstanceEx */
static void *down_root;             /* the last state tree passed down */
static int down_op;
static void *up_root;
static int up_op;
static void *sent_handle, *sent_nbl;
static void *send_completed;
static void *event_handle;
static uint32_t event_type;
static uint8_t attrs_seen;

static WINAPI uint32_t m_DbgPrint(const char *fmt, ...)
{
    return 0;
}

static WINAPI uint32_t m_register_mp(void *drv, void *reg, void *ctx,
                                     void *chars, void **h)
{
    memcpy(mp_chars, chars, sizeof(mp_chars));
    *h = H_MINIPORT_DRIVER;
    return 0;
}

static WINAPI void m_deregister_mp(void *h)
{
    deregistered |= h == H_MINIPORT_DRIVER;
}

static WINAPI uint32_t m_set_optional(void *h, void *header)
{
    uint8_t type = *(uint8_t *)header;

    if (noptional < 4) {
        memcpy(optional[noptional], header, sizeof(optional[0]));
        optional_who[noptional++] = h == H_PROTOCOL ? 'p' : 'm';
    }
    return type ? 0 : 0xc0000001;
}

static WINAPI uint32_t m_register_proto(void *ctx, void *chars, void **h)
{
    memcpy(proto_chars, chars, sizeof(proto_chars));
    *h = H_PROTOCOL;
    return 0;
}

static WINAPI void m_deregister_proto(void *h)
{
}

static WINAPI uint32_t m_associate(void *mp, void *proto)
{
    associated = mp == H_MINIPORT_DRIVER && proto == H_PROTOCOL;
    return 0;
}

static WINAPI uint32_t m_register_device(void *h, void *attrs, void **dev,
                                         void **dh)
{
    void **majors = rdp(attrs, 0x18);

    /* IRP_MJ_CREATE 0, CLOSE 2, DEVICE_CONTROL 14 */
    device_registered = h == H_MINIPORT_DRIVER && majors[0] && majors[2] &&
                        majors[14];
    *dev = (void *)0x2000;
    *dh = H_DEVICE;
    return 0;
}

static WINAPI void m_deregister_device(void *h)
{
}

static WINAPI void *m_alloc(void *h, uint32_t len, uint32_t tag, int prio)
{
    return calloc(1, len);
}

static WINAPI void m_free(void *p, uint32_t len, uint32_t flags)
{
    free(p);
}

static WINAPI void m_nop1(void *p)
{
}

static WINAPI void *m_pool(void *h, void *params)
{
    return (void *)0x3000;
}

static WINAPI uint32_t m_open_config(void *obj, void **h)
{
    *h = (void *)0x4000;
    return 0;
}

static uint16_t upper_name[] =
    u"\\Device\\{C41F7E5A-0000-0000-0000-000000000001}";

static WINAPI void m_read_config(uint32_t *st, void **param, void *h,
                                 void *key, int type)
{
    static uint8_t p[24];           /* NDIS_CONFIGURATION_PARAMETER */

    memset(p, 0, sizeof(p));
    *(uint32_t *)p = 2;             /* NdisParameterString */
    *(uint16_t *)(p + 8) = sizeof(upper_name) - 2;
    *(uint16_t *)(p + 10) = sizeof(upper_name);
    wrp(p, 16, upper_name);
    *param = p;
    *st = 0;
}

static WINAPI uint32_t m_open_adapter(void *proto, void *ctx, void *params,
                                      void *bind_ctx, void **h)
{
    *(uint32_t *)rdp(params, 0x20) = 0;     /* SelectedMediumIndex */
    *h = H_BINDING;
    return 0;
}

static WINAPI uint32_t m_im_init(void *drv, void *name, void *ctx)
{
    im_context = ctx;
    return 0;
}

static WINAPI uint32_t m_set_attrs(void *h, void *attrs)
{
    attrs_seen |= 1u << (*(uint8_t *)attrs - 0x9e);     /* 0x9e..0xa0 */
    return 0;
}

/* NdisMGetOffloadHandlers: the upper side's entry points */
static void *up_handlers[7];

static WINAPI void m_up_event(void *h, uint32_t type, uint32_t info)
{
    event_handle = h;
    event_type = type;
}

static WINAPI uint32_t m_up_indicate(void *h, void *nbl, uint32_t st,
                                     uint32_t *consumed)
{
    return 0;
}

static WINAPI void m_up_send_complete(void *h, void *nbl)
{
    send_completed = h == H_VIRTUAL_MINIPORT ? nbl : NULL;
}

static WINAPI void m_up_complete(void *h, void *nbl)
{
}

static WINAPI uint32_t m_get_handlers(void *h, int type, void **out)
{
    pe_tcp_handlers(up_handlers, m_up_event, m_up_indicate,
                    m_up_send_complete, m_up_complete, m_up_complete,
                    m_up_complete);
    *out = up_handlers;
    return 0;
}

static WINAPI void m_initiate(void *b, void *root)
{
    down_root = root;
    down_op = 1;
}

static WINAPI void m_terminate(void *b, void *root)
{
    down_root = root;
    down_op = 2;
}

static WINAPI void m_initiate_done(void *h, void *root)
{
    up_root = h == H_VIRTUAL_MINIPORT ? root : NULL;
    up_op = 1;
}

static WINAPI void m_terminate_done(void *h, void *root)
{
    up_root = h == H_VIRTUAL_MINIPORT ? root : NULL;
    up_op = 2;
}

static WINAPI uint32_t m_tcp_send(void *handle, void *nbl)
{
    sent_handle = handle;
    sent_nbl = nbl;
    return 0x103;                   /* NDIS_STATUS_PENDING */
}

/* ntoskrnl's C library, in the Windows calling convention */
static WINAPI void *m_memcpy(void *d, const void *s, size_t n)
{
    return memcpy(d, s, n);
}

static WINAPI void *m_memset(void *d, int c, size_t n)
{
    return memset(d, c, n);
}

static const Mock mocks[] = {
    { "DbgPrint", m_DbgPrint },
    { "NdisMRegisterMiniportDriver", m_register_mp },
    { "NdisMDeregisterMiniportDriver", m_deregister_mp },
    { "NdisSetOptionalHandlers", m_set_optional },
    { "NdisRegisterProtocolDriver", m_register_proto },
    { "NdisDeregisterProtocolDriver", m_deregister_proto },
    { "NdisIMAssociateMiniport", m_associate },
    { "NdisRegisterDeviceEx", m_register_device },
    { "NdisDeregisterDeviceEx", m_deregister_device },
    { "NdisAllocateMemoryWithTagPriority", m_alloc },
    { "NdisFreeMemory", m_free },
    { "NdisAllocateSpinLock", m_nop1 },
    { "NdisFreeSpinLock", m_nop1 },
    { "NdisAcquireSpinLock", m_nop1 },
    { "NdisReleaseSpinLock", m_nop1 },
    { "NdisInitializeEvent", m_nop1 },
    { "NdisAllocateNetBufferListPool", m_pool },
    { "NdisAllocateNetBufferPool", m_pool },
    { "NdisOpenConfigurationEx", m_open_config },
    { "NdisReadConfiguration", m_read_config },
    { "NdisCloseConfiguration", m_nop1 },
    { "NdisOpenAdapterEx", m_open_adapter },
    { "NdisIMInitializeDeviceInstanceEx", m_im_init },
    { "NdisMSetMiniportAttributes", m_set_attrs },
    { "NdisMGetOffloadHandlers", m_get_handlers },
    { "NdisInitiateOffload", m_initiate },
    { "NdisTerminateOffload", m_terminate },
    { "NdisMInitiateOffloadComplete", m_initiate_done },
    { "NdisMTerminateOffloadComplete", m_terminate_done },
    { "NdisOffloadTcpSend", m_tcp_send },
    { "memcpy", m_memcpy },
    { "memset", m_memset },
    { NULL, NULL },
};

/* --- checks --- */

static int handlers_set(const uint8_t *chars, size_t from, size_t to)
{
    for (size_t off = from; off < to; off += 8) {
        if (!rdp(chars, off)) {
            return 0;
        }
    }
    return 1;
}

/* The registration every chimney miniport makes (chimney.md 1.4) */
static void check_miniport_chars(uint32_t flags)
{
    ok(mp_chars[0] == 0x8a && mp_chars[1] == 2 && rd16(mp_chars + 2) == 0x98,
       "NDIS_MINIPORT_DRIVER_CHARACTERISTICS revision 2 header");
    ok(mp_chars[4] == 6 && mp_chars[5] == 20, "NDIS 6.20");
    ok(rd32(mp_chars + 8) == flags, "characteristics flags");
    /* SetOptions .. ReturnNetBufferLists, CancelSend */
    ok(handlers_set(mp_chars, 0x10, 0x60), "mandatory miniport handlers");
}

static int find_optional(uint8_t type, char who)
{
    for (int i = 0; i < noptional; i++) {
        if (optional[i][0] == type && optional_who[i] == who) {
            return i;
        }
    }
    return -1;
}

/* Provider sets from MiniportSetOptions (0x8f generic, 0x94 TCP) */
static void check_provider(void)
{
    int g = find_optional(0x8f, 'm'), t = find_optional(0x94, 'm');

    ok(g >= 0 && handlers_set(optional[g], 0x08, 0x30),
       "provider generic handlers: initiate terminate update invalidate "
       "query");
    ok(t >= 0 && rd32(optional[t] + 8) == 1 &&
       handlers_set(optional[t], 0x10, 0x38),
       "provider TCP handlers: send receive disconnect forward "
       "receive-return");
}

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

    req[0] = 0x96;                          /* NDIS_OBJECT_TYPE_OID_REQUEST */
    req[1] = 1;
    *(uint16_t *)(req + 2) = sizeof(req);
    *(uint32_t *)(req + 4) = type;
    *(uint32_t *)(req + 0x20) = id;
    wrp(req, 0x28, buf);
    *(uint32_t *)(req + 0x30) = len;
    st = ((Fn2 *)handler)(adapter, req);
    *done = *(uint32_t *)(req + 0x34);
    *needed = *(uint32_t *)(req + 0x38);
    return st;
}

/* OID requests a fresh adapter answers without its device */
static void run_miniport_oids(void)
{
    void *handler = rdp(mp_chars, 0x40);
    void *adapter = calloc(1, 1 << 20);     /* a zeroed MpAdapter */
    uint8_t buf[0x100];
    uint32_t done, needed, st;

    memset(buf, 0, sizeof(buf));
    st = oid(handler, adapter, 0, 0x00020106, buf, sizeof(buf), &done,
             &needed);
    ok(st == 0 && done == 0x98 && buf[0] == 0x80 && buf[1] == 1 &&
       rd16(buf + 2) == 0x98 && rd32(buf + 4) == 0x003f87ff,
       "OID_GEN_STATISTICS: NDIS_STATISTICS_INFO, every statistic");
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
    free(adapter);
}

static void run_miniport(void *entry)
{
    uint32_t st = ((DriverEntryFn *)entry)((void *)0x10, (void *)0x20);

    ok(st == 0, "DriverEntry returns STATUS_SUCCESS");
    check_miniport_chars(0);
    st = ((Fn2 *)rdp(mp_chars, 0x10))(H_MINIPORT_DRIVER, NULL);
    ok(st == 0 && noptional == 2, "MiniportSetOptions registers two sets");
    check_provider();
    run_miniport_oids();
    ((Fn1v *)rdp(mp_chars, 0x28))((void *)0x10);
    ok(deregistered, "unload deregisters the miniport driver");
}

/* A state tree as NDIS gives a miniport: neighbor, path, TCP */
typedef struct Tree {
    uint8_t block[3][0x98];
    void *upper_ctx[3];
} Tree;

static void tree_init(Tree *t, int n)
{
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < n; i++) {
        t->block[i][0] = 4 + 4 * i;             /* Neighbor 4, Ip4 8 ... */
        wrp(t->block[i], 0x30, &t->upper_ctx[i]);
        wrp(t->block[i], 0x38, (void *)(uintptr_t)(0xa0 + i));
        if (i + 1 < n) {
            wrp(t->block[i], 0x10, t->block[i + 1]);
        }
    }
    t->block[n - 1][0] = 17;                    /* TcpOffloadState */
    wrp(t->block[0], 0x60, (void *)0xaaa);
    wrp(t->block[0], 0x68, (void *)0xbbb);
    wrp(t->block[0], 0x80, (void *)0xccc);
}

static void run_im(Image *im, void *entry)
{
    uint8_t bind[0x100] = { 0 }, init[0x40] = { 0 }, tcp_caps[0x14] = { 0 };
    uint16_t adapter_name[] = u"\\Device\\{LOWER}";
    uint64_t *counters;
    uint8_t nbl[2][0x130];
    void *client_generic_done, *client_tcp_send_done, *client_event;
    void *im_obj[3], *handle_t;
    Tree t;
    uint32_t st;
    int cg, ct;

    st = ((DriverEntryFn *)entry)((void *)0x10, (void *)0x20);
    ok(st == 0, "DriverEntry returns STATUS_SUCCESS");
    check_miniport_chars(1);                    /* NDIS_INTERMEDIATE_DRIVER */
    ok(proto_chars[0] == 0x95 && proto_chars[1] == 2 &&
       rd16(proto_chars + 2) == 0x80 && proto_chars[4] == 6 &&
       proto_chars[5] == 20,
       "NDIS_PROTOCOL_DRIVER_CHARACTERISTICS revision 2, NDIS 6.20");
    ok(handlers_set(proto_chars, 0x20, 0x78), "protocol handlers");
    ok(associated, "NdisIMAssociateMiniport ties the two halves");
    ok(device_registered, "control device with create, close, ioctl");

    ((Fn2 *)rdp(mp_chars, 0x10))(H_MINIPORT_DRIVER, NULL);
    ((Fn2 *)rdp(proto_chars, 0x20))(H_PROTOCOL, NULL);
    check_provider();
    cg = find_optional(0x8e, 'p');
    ct = find_optional(0x93, 'p');
    ok(cg >= 0 && handlers_set(optional[cg], 0x08, 0x38),
       "client generic handlers: five completions and the event");
    ok(ct >= 0 && rd32(optional[ct] + 8) == 1 &&
       handlers_set(optional[ct], 0x10, 0x40),
       "client TCP handlers: four completions, event, indicate");
    if (cg < 0 || ct < 0) {
        return;
    }

    /* Bind to a chimney adapter; NDIS then starts the virtual adapter */
    {
        static uint8_t ns[16];

        *(uint16_t *)ns = sizeof(adapter_name) - 2;
        *(uint16_t *)(ns + 2) = sizeof(adapter_name);
        wrp(ns, 8, adapter_name);
        wrp(bind, 0x10, ns);
    }
    *(uint32_t *)(bind + 0x24) = 1500;
    *(uint32_t *)(tcp_caps + 0x0c) = 64;        /* capacity */
    wrp(bind, 0xe8, tcp_caps);
    st = ((Fn3 *)rdp(proto_chars, 0x28))(NULL, (void *)0x5000, bind);
    ok(st == 0 && im_context, "bind opens the adapter and starts the "
       "virtual adapter named by UpperBindings");
    wrp(init, 0x10, im_context);
    st = ((Fn3 *)rdp(mp_chars, 0x18))(H_VIRTUAL_MINIPORT, NULL, init);
    ok(st == 0 && attrs_seen == 0x7,
       "the virtual adapter sets registration, general and offload "
       "attributes");

    /* Initiate: the tree goes down in the protocol layout */
    tree_init(&t, 3);
    ((Fn2 *)rdp(optional[find_optional(0x8f, 'm')], 0x08))(im_context,
                                                          t.block[0]);
    ok(down_op == 1 && down_root == t.block[0], "initiate goes down");
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
    client_generic_done = rdp(optional[cg], 0x08);
    ((Fn2 *)client_generic_done)(im_context, t.block[0]);
    ok(up_op == 1 && up_root == t.block[0], "the completion goes up");
    ok(rdp(t.block[0], 0x60) == (void *)0xaaa &&
       rdp(t.block[0], 0x68) == (void *)0xbbb &&
       rdp(t.block[0], 0x80) == (void *)0xccc,
       "ImReserved and SourceHandle are put back");
    ok(rdp(t.block[2], 0x30) == &t.upper_ctx[2] &&
       rdp(t.block[2], 0x38) == (void *)0xa2 &&
       t.upper_ctx[2] == im_obj[2],
       "MiniportOffloadContext and NdisOffloadHandle are put back, and "
       "the context names the driver's object");

    /* Send: the same NBLs go down with the object's handle */
    memset(nbl, 0, sizeof(nbl));
    wrp(nbl[0], 0, nbl[1]);
    handle_t = im_obj[2];
    st = ((Fn3 *)rdp(optional[find_optional(0x94, 'm')], 0x10))(
        im_context, &t.upper_ctx[2], nbl[0]);
    ok(st == 0x103 && sent_handle == handle_t && sent_nbl == nbl[0],
       "MiniportTcpOffloadSend passes the NBLs down, pending");

    /* ProtocolTcpOffloadSendComplete: one SUCCESS, one UPLOAD */
    *(uint32_t *)(nbl[0] + 0x8c) = 0;
    wrp(nbl[0], 0x90, (void *)100);
    *(uint32_t *)(nbl[1] + 0x8c) = 0xc0231001;
    wrp(nbl[1], 0x90, (void *)20);
    client_tcp_send_done = rdp(optional[ct], 0x10);
    ((Fn2 *)client_tcp_send_done)(im_context, nbl[0]);
    ok(send_completed == nbl[0],
       "the send completion reaches NdisTcpOffloadSendComplete above");

    client_event = rdp(optional[ct], 0x30);
    ((Fn3 *)client_event)(handle_t, (void *)2, NULL);
    ok(event_handle == (void *)0xa2 && event_type == 2,
       "a disconnect event goes up with the upper NdisOffloadHandle");

    /* Terminate the connection */
    tree_init(&t, 1);
    t.upper_ctx[0] = im_obj[2];
    wrp(t.block[0], 0x38, (void *)0xa2);
    ((Fn2 *)rdp(optional[find_optional(0x8f, 'm')], 0x10))(im_context,
                                                          t.block[0]);
    ok(down_op == 2 && rdp(t.block[0], 0x38) == handle_t,
       "terminate goes down with the object's handle");
    ((Fn2 *)rdp(optional[cg], 0x10))(im_context, t.block[0]);
    ok(up_op == 2 && up_root == t.block[0], "the terminate completes up");

    counters = image_symbol(im, "chimney_im_counters");
    ok(counters != NULL, "the counters are in the image");
    if (counters) {
        /* ChimneyImCounters: calls, nbls, success, upload, aborted, */
        /* other, bytes, sends, ..., offloads [13], failures, terms */
        ok(counters[0] == 1 && counters[1] == 2 && counters[2] == 1 &&
           counters[3] == 1 && counters[6] == 120 && counters[7] == 2,
           "ProtocolTcpOffloadSendComplete counted: 1 call, 2 NBLs, "
           "1 SUCCESS, 1 UPLOAD_IN_PROGRESS, 120 bytes, 2 sends");
        ok(counters[12] == 1 && counters[13] == 1 && counters[15] == 1,
           "1 event, 1 connection offloaded, 1 terminated");
    }
}

int main(int argc, char **argv)
{
    Image im;
    void *entry;

    if (argc != 3) {
        fprintf(stderr, "usage: pe-run DRIVER.sys miniport|im\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    entry = image_map(&im, argv[1], mocks);
    if (!strcmp(argv[2], "miniport")) {
        run_miniport(entry);
    } else {
        run_im(&im, entry);
    }
    printf("1..%d\n", test_no);
    return failed;
}
