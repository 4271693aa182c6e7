/*
 * Run a Windows driver's own code on Linux, against a mock NDIS
 *
 *   pe-run chimneynic.sys miniport
 *   pe-run chimneyim.sys im
 *
 * The image is mapped and relocated like the Windows loader would, its
 * imports are bound to the mocks below (calling anything else stops the
 * run with the function's name), and DriverEntry and the handlers it
 * registers are called through the Windows x64 calling convention.  The
 * mocks are checked (ndis-check.h): a call at too high an IRQL, a
 * completion made twice or never, an upcall for a connection NDIS does
 * not know yet ends the run.  What the driver hands NDIS is checked
 * against the documented layouts, which are written out here
 * independently of the driver's own declarations.  The scenarios are in
 * pe-run-miniport.c and pe-run-im.c.  Prints TAP.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#define NDIS_CHECK_STATE
#include "pe-run.h"

PeRun pr;
static int test_no;
static int failed;

void ok(int cond, const char *what)
{
    printf("%sok %d %s\n", cond ? "" : "not ", ++test_no, what);
    failed |= !cond;
}

/* --- mock NDIS: each call checked, then kept for the checks --- */

static WINAPI uint32_t m_DbgPrint(const char *fmt, ...)
{
    return 0;
}

static WINAPI uint32_t m_register_mp(void *drv, void *reg, void *ctx,
                                     void *chars, void **h)
{
    nc_call("NdisMRegisterMiniportDriver", NC_PASSIVE);
    memcpy(pr.mp_chars, chars, sizeof(pr.mp_chars));
    *h = H_MINIPORT_DRIVER;
    return 0;
}

static WINAPI void m_deregister_mp(void *h)
{
    nc_call("NdisMDeregisterMiniportDriver", NC_PASSIVE);
    pr.deregistered |= h == H_MINIPORT_DRIVER;
}

static WINAPI uint32_t m_set_optional(void *h, void *header)
{
    uint8_t type = *(uint8_t *)header;

    nc_call("NdisSetOptionalHandlers", NC_PASSIVE);
    if (pr.noptional < 4) {
        memcpy(pr.optional[pr.noptional], header, sizeof(pr.optional[0]));
        pr.optional_who[pr.noptional++] = h == H_PROTOCOL ? 'p' : 'm';
    }
    return type ? 0 : 0xc0000001;
}

static WINAPI uint32_t m_register_proto(void *ctx, void *chars, void **h)
{
    nc_call("NdisRegisterProtocolDriver", NC_PASSIVE);
    memcpy(pr.proto_chars, chars, sizeof(pr.proto_chars));
    *h = H_PROTOCOL;
    return 0;
}

static WINAPI void m_deregister_proto(void *h)
{
    nc_call("NdisDeregisterProtocolDriver", NC_PASSIVE);
}

/*
 * NdisIMAssociateMiniport returns VOID: what is left in RAX is whatever
 * NDIS last had there, here something that looks like a failure.
 */
static WINAPI uint32_t m_associate(void *mp, void *proto)
{
    nc_call("NdisIMAssociateMiniport", NC_PASSIVE);
    pr.associated = mp == H_MINIPORT_DRIVER && proto == H_PROTOCOL;
    return 0xc0000001;
}

static WINAPI uint32_t m_register_device(void *h, void *attrs, void **dev,
                                         void **dh)
{
    void **majors = rdp(attrs, 0x18);

    nc_call("NdisRegisterDeviceEx", NC_PASSIVE);
    /* IRP_MJ_CREATE 0, CLOSE 2, DEVICE_CONTROL 14 */
    pr.device_registered = h == H_MINIPORT_DRIVER && majors[0] &&
                           majors[2] && majors[14];
    *dev = (void *)0x2000;
    *dh = H_DEVICE;
    return 0;
}

static WINAPI void m_deregister_device(void *h)
{
    nc_call("NdisDeregisterDeviceEx", NC_PASSIVE);
}

static WINAPI void *m_alloc(void *h, uint32_t len, uint32_t tag, int prio)
{
    nc_call("NdisAllocateMemoryWithTagPriority", NC_DISPATCH);
    if (pr.fail_alloc) {
        pr.fail_alloc--;
        return NULL;
    }
    return calloc(1, len);
}

static WINAPI void m_free(void *p, uint32_t len, uint32_t flags)
{
    nc_call("NdisFreeMemory", NC_DISPATCH);
    free(p);
}

static WINAPI void m_lock_init(void *l)
{
    nc_call("NdisAllocateSpinLock", NC_DISPATCH);
    nc_lock_init(l);
}

static WINAPI void m_lock_free(void *l)
{
    nc_call("NdisFreeSpinLock", NC_DISPATCH);
}

static WINAPI void m_lock(void *l)
{
    nc_lock_acquire(l, 0);
}

static WINAPI void m_unlock(void *l)
{
    nc_lock_release(l, 0);
}

static WINAPI void m_event_init(void *e)
{
    nc_call("NdisInitializeEvent", NC_DISPATCH);
}

static WINAPI void *m_pool(void *h, void *params)
{
    nc_call("NdisAllocateNet(Buffer)ListPool", NC_DISPATCH);
    return (void *)0x3000;
}

static WINAPI uint32_t m_open_config(void *obj, void **h)
{
    nc_call("NdisOpenConfigurationEx", NC_PASSIVE);
    *h = (void *)0x4000;
    return 0;
}

static WINAPI void m_close_config(void *h)
{
    nc_call("NdisCloseConfiguration", NC_PASSIVE);
}

static uint16_t upper_name[] =
    u"\\Device\\{C41F7E5A-0000-0000-0000-000000000001}";

static WINAPI void m_read_config(uint32_t *st, void **param, void *h,
                                 void *key, int type)
{
    static uint8_t p[24];           /* NDIS_CONFIGURATION_PARAMETER */

    nc_call("NdisReadConfiguration", NC_PASSIVE);
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
    nc_call("NdisOpenAdapterEx", NC_PASSIVE);
    *(uint32_t *)rdp(params, 0x20) = 0;     /* SelectedMediumIndex */
    *h = H_BINDING;
    return 0;
}

static WINAPI uint32_t m_im_init(void *drv, void *name, void *ctx)
{
    nc_call("NdisIMInitializeDeviceInstanceEx", NC_PASSIVE);
    pr.im_context = ctx;
    return 0;
}

static WINAPI uint32_t m_set_attrs(void *h, void *attrs)
{
    nc_call("NdisMSetMiniportAttributes", NC_PASSIVE);
    pr.attrs_seen |= 1u << (*(uint8_t *)attrs - 0x9e);     /* 0x9e..0xa0 */
    if (*(uint8_t *)attrs == 0xa0) {
        /* NDIS_TCP_CONNECTION_OFFLOAD @0x18, @0x20: SupportIPv4/v6 @8 */
        pr.tcp_support[0] = rd32((uint8_t *)rdp(attrs, 0x18) + 8);
        pr.tcp_support[1] = rd32((uint8_t *)rdp(attrs, 0x20) + 8);
    }
    return 0;
}

/* NdisMGetOffloadHandlers: the upper side's entry points */
static void *up_handlers[7];

static WINAPI void m_up_event(void *h, uint32_t type, uint32_t info)
{
    nc_conn_up(h, "NdisTcpOffloadEventHandler");
    pr.event_handle = h;
    pr.event_type = type;
}

static WINAPI uint32_t m_up_indicate(void *h, void *nbl, uint32_t st,
                                     uint32_t *consumed)
{
    nc_conn_up(h, "NdisTcpOffloadReceiveHandler");
    return 0;
}

static WINAPI void m_up_send_complete(void *h, void *nbl)
{
    nc_upcall("NdisTcpOffloadSendComplete");
    nc_handle(h, H_VIRTUAL_MINIPORT, "NdisTcpOffloadSendComplete");
    nc_take_chain(nbl, NC_SEND, "NdisTcpOffloadSendComplete");
    pr.send_completed = nbl;
}

static WINAPI void m_up_receive_complete(void *h, void *nbl)
{
    nc_receive_done_enter();
    nc_handle(h, H_VIRTUAL_MINIPORT, "NdisTcpOffloadReceiveComplete");
    nc_take_chain(nbl, NC_RECEIVE, "NdisTcpOffloadReceiveComplete");
    nc_receive_done_leave();
}

static WINAPI void m_up_disconnect_complete(void *h, void *nbl)
{
    nc_handle(h, H_VIRTUAL_MINIPORT, "NdisTcpOffloadDisconnectComplete");
    nc_disconnect_done(nbl);
}

static WINAPI void m_up_forward_complete(void *h, void *nbl)
{
    nc_upcall("NdisTcpOffloadForwardComplete");
    nc_handle(h, H_VIRTUAL_MINIPORT, "NdisTcpOffloadForwardComplete");
    nc_take_chain(nbl, NC_FORWARD, "NdisTcpOffloadForwardComplete");
}

static WINAPI uint32_t m_get_handlers(void *h, int type, void **out)
{
    nc_call("NdisMGetOffloadHandlers", NC_PASSIVE);
    pe_tcp_handlers(up_handlers, m_up_event, m_up_indicate,
                    m_up_send_complete, m_up_receive_complete,
                    m_up_disconnect_complete, m_up_forward_complete);
    *out = up_handlers;
    return 0;
}

/* The IM passes state and I/O down */
static WINAPI void m_initiate(void *b, void *root)
{
    nc_call("NdisInitiateOffload", NC_DISPATCH);
    nc_handle(b, H_BINDING, "NdisInitiateOffload");
    pr.down_root = root;
    pr.down_op = 1;
}

static WINAPI void m_terminate(void *b, void *root)
{
    nc_call("NdisTerminateOffload", NC_DISPATCH);
    nc_handle(b, H_BINDING, "NdisTerminateOffload");
    pr.down_root = root;
    pr.down_op = 2;
}

static WINAPI uint32_t m_tcp_send(void *handle, void *nbl)
{
    nc_call("NdisOffloadTcpSend", NC_DISPATCH);
    nc_conn_down(handle, "NdisOffloadTcpSend");
    pr.sent_handle = handle;
    pr.sent_nbl = nbl;
    return NC_PENDING;
}

/* The walk of a tree handed back up: its connections are known now */
static void tree_initiated(uint8_t *b)
{
    for (; b; b = rdp(b, 0x08)) {
        if (b[0] == 17) {
            nc_conn_initiated(rdp(b, 0x38));
        }
        tree_initiated(rdp(b, 0x10));
    }
}

static WINAPI void m_initiate_done(void *h, void *root)
{
    nc_upcall("NdisMInitiateOffloadComplete");
    nc_take(root, NC_INITIATE, "NdisMInitiateOffloadComplete");
    tree_initiated(root);
    pr.up_root = h == H_VIRTUAL_MINIPORT || !h ? root : NULL;
    pr.up_op = 1;
}

static WINAPI void m_terminate_done(void *h, void *root)
{
    nc_upcall("NdisMTerminateOffloadComplete");
    nc_take(root, NC_TERMINATE, "NdisMTerminateOffloadComplete");
    pr.up_root = h == H_VIRTUAL_MINIPORT || !h ? root : NULL;
    pr.up_op = 2;
}

/* OID requests through the IM: a clone goes down */
static WINAPI uint32_t m_clone_oid(void *h, uint8_t *req, uint32_t tag,
                                   uint8_t **clone)
{
    nc_call("NdisAllocateCloneOidRequest", NC_DISPATCH);
    nc_handle(h, H_VIRTUAL_MINIPORT, "NdisAllocateCloneOidRequest");
    *clone = malloc(0x100);
    memcpy(*clone, req, 0x100);
    return 0;
}

static WINAPI void m_free_clone_oid(void *h, uint8_t *clone)
{
    nc_call("NdisFreeCloneOidRequest", NC_DISPATCH);
    nc_handle(h, H_VIRTUAL_MINIPORT, "NdisFreeCloneOidRequest");
    free(clone);
}

/* The adapter below answers a method request: 12 written, 8 read */
static WINAPI uint32_t m_oid_request(void *b, uint8_t *clone)
{
    nc_call("NdisOidRequest", NC_DISPATCH);
    nc_handle(b, H_BINDING, "NdisOidRequest");
    pr.oid_down = clone;
    *(uint32_t *)(clone + 0x3c) = 12;       /* METHOD: BytesWritten */
    *(uint32_t *)(clone + 0x40) = 8;        /* BytesRead */
    *(uint32_t *)(clone + 0x44) = 0;        /* BytesNeeded */
    return pr.oid_down_status;
}

static WINAPI void m_oid_complete(void *h, uint8_t *req, uint32_t st)
{
    nc_upcall("NdisMOidRequestComplete");
    nc_handle(h, H_VIRTUAL_MINIPORT, "NdisMOidRequestComplete");
    nc_take(req, NC_OID, "NdisMOidRequestComplete");
    pr.oid_done = req;
}

/* NDIS_STATUS_INDICATION: StatusCode @0x14 */
static WINAPI void m_status(void *h, uint8_t *si)
{
    nc_upcall("NdisMIndicateStatusEx");
    pr.status_codes[pr.nstatus++ % 4] = rd32(si + 0x14);
}

const Mock pe_mocks[] = {
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
    { "NdisAllocateSpinLock", m_lock_init },
    { "NdisFreeSpinLock", m_lock_free },
    { "NdisAcquireSpinLock", m_lock },
    { "NdisReleaseSpinLock", m_unlock },
    { "NdisInitializeEvent", m_event_init },
    { "NdisAllocateNetBufferListPool", m_pool },
    { "NdisAllocateNetBufferPool", m_pool },
    { "NdisOpenConfigurationEx", m_open_config },
    { "NdisReadConfiguration", m_read_config },
    { "NdisCloseConfiguration", m_close_config },
    { "NdisOpenAdapterEx", m_open_adapter },
    { "NdisIMInitializeDeviceInstanceEx", m_im_init },
    { "NdisMSetMiniportAttributes", m_set_attrs },
    { "NdisMGetOffloadHandlers", m_get_handlers },
    { "NdisInitiateOffload", m_initiate },
    { "NdisTerminateOffload", m_terminate },
    { "NdisMInitiateOffloadComplete", m_initiate_done },
    { "NdisMTerminateOffloadComplete", m_terminate_done },
    { "NdisOffloadTcpSend", m_tcp_send },
    { "NdisAllocateCloneOidRequest", m_clone_oid },
    { "NdisFreeCloneOidRequest", m_free_clone_oid },
    { "NdisOidRequest", m_oid_request },
    { "NdisMOidRequestComplete", m_oid_complete },
    { "NdisMIndicateStatusEx", m_status },
    { NULL, NULL },
};

/* --- checks both drivers pass --- */

int handlers_set(const uint8_t *chars, size_t from, size_t to)
{
    for (size_t off = from; off < to; off += 8) {
        if (!rdp(chars, off)) {
            return 0;
        }
    }
    return 1;
}

/* The registration every chimney miniport makes (chimney.md 1.4) */
void check_miniport_chars(uint32_t flags)
{
    ok(pr.mp_chars[0] == 0x8a && pr.mp_chars[1] == 2 &&
       rd16(pr.mp_chars + 2) == 0x98,
       "NDIS_MINIPORT_DRIVER_CHARACTERISTICS revision 2 header");
    ok(pr.mp_chars[4] == 6 && pr.mp_chars[5] == 20, "NDIS 6.20");
    ok(rd32(pr.mp_chars + 8) == flags, "characteristics flags");
    /* SetOptions .. ReturnNetBufferLists, CancelSend */
    ok(handlers_set(pr.mp_chars, 0x10, 0x60), "mandatory miniport handlers");
}

int find_optional(uint8_t type, char who)
{
    for (int i = 0; i < pr.noptional; i++) {
        if (pr.optional[i][0] == type && pr.optional_who[i] == who) {
            return i;
        }
    }
    return -1;
}

/* Provider sets from MiniportSetOptions (0x8f generic, 0x94 TCP) */
void check_provider(void)
{
    int g = find_optional(0x8f, 'm'), t = find_optional(0x94, 'm');

    ok(g >= 0 && handlers_set(pr.optional[g], 0x08, 0x30),
       "provider generic handlers: initiate terminate update invalidate "
       "query");
    ok(t >= 0 && rd32(pr.optional[t] + 8) == 1 &&
       handlers_set(pr.optional[t], 0x10, 0x38),
       "provider TCP handlers: send receive disconnect forward "
       "receive-return");
}

/*
 * An NDIS_OID_REQUEST (x64) to a miniport's OidRequestHandler, at
 * PASSIVE_LEVEL: it comes back once, now or through
 * NdisMOidRequestComplete.
 */
uint32_t oid_request(void *handler, void *adapter, uint8_t *req)
{
    int old = nc_enter(NC_PASSIVE);
    uint32_t st;

    req[0] = 0x96;                          /* NDIS_OBJECT_TYPE_OID_REQUEST */
    req[1] = 1;
    *(uint16_t *)(req + 2) = 0x60;
    nc_give(req, NC_OID, NULL);
    st = ((Fn2 *)handler)(adapter, req);
    if (st != NC_PENDING) {
        nc_take(req, NC_OID, "the OID request's return");
    }
    nc_leave(old);
    return st;
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
    entry = image_map(&im, argv[1], pe_mocks);
    if (!strcmp(argv[2], "miniport")) {
        run_miniport(entry);
    } else {
        run_im(&im, entry);
    }
    nc_all_back("the end of the run");
    ok(1, "every NBL, OID request and tree came back once");
    printf("1..%d\n", test_no);
    return failed;
}
