/*
 * The mock NDIS of the chimney-windows qtest, checked
 *
 * What chimneynic.sys and chimneyim.sys import, for the qtest that runs
 * them over the real chimney-nic: the miniport's register accesses go to
 * the device through qtest, its shared memory is guest RAM, and the
 * intermediate driver sits above it as NDIS would stack the two.  Every
 * entry point goes through ndis-check.h first, so the documented rules
 * (IRQL, spin locks, exactly-once completion, connection order) hold in
 * every test of the qtest.  Included once, by
 * tests/qtest/chimney-windows-test.c, after QEMU's and libqos' headers.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QTEST_NDIS_H
#define QTEST_NDIS_H

#define NDIS_CHECK_STATE
#include "pe-load.h"
#include "ndis-check.h"

#define RAM_SIZE        (256 * 1024 * 1024)
#define DEV_MAC         "52:54:00:12:34:56"
#define PEER_MAC        "\x52\x54\x00\xab\xcd\xef"
#define H_DRIVER        ((void *)0x1001)
#define H_MINIPORT      ((void *)0x1002)
#define H_DMA           ((void *)0x1003)
#define H_INTERRUPT     ((void *)0x1004)
#define H_IM_DRIVER     ((void *)0x1011)
#define H_IM_PROTOCOL   ((void *)0x1012)
#define H_IM_BINDING    ((void *)0x1013)
#define H_IM_VIRTUAL    ((void *)0x1014)

typedef WINAPI uint32_t Fn2(void *a, void *b);
typedef WINAPI uint32_t Fn3(void *a, void *b, void *c);
typedef WINAPI void Fn2v(void *a, void *b);
typedef WINAPI void Fn5v(void *a, uint32_t b, void *c, void *d, void *e);
typedef WINAPI void SgFn(void *dev, void *reserved, void *sgl, void *ctx);

/*
 * libqtest is not thread-safe: every call of it goes through these, under
 * one mutex, so that the stress case's threads can share the device.
 */
static pthread_mutex_t qt_mu = PTHREAD_MUTEX_INITIALIZER;

/* What the test and the mock NDIS share */
static struct {
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QPCIDevice *pdev;
    uint64_t bar;
    uint8_t *ram;               /* guest RAM, mapped here too */
    int sock;                   /* the wire */
    uint8_t mp_chars[0x98];
    void *provider_generic, *provider_tcp;
    void *adapter;              /* MiniportAdapterContext */
    void *dpc, *dpc_ctx;
    void *sg_done;              /* ProcessSGListHandler */
    uint32_t sg_flags;
    bool sg_fail;               /* the next mapping fails */
    void *initiated, *terminated, *invalidated, *queried, *updated;
    void *sent;                 /* NdisTcpOffloadSendComplete's NBLs */
    int send_calls;
    void *received;             /* NdisTcpOffloadReceiveComplete's */
    uint32_t indicated;         /* bytes offered by indications */
    uint32_t events, last_event;
    void *host;                 /* the miniport handle completions name */
    uint32_t gen_stats;         /* general attributes' SupportedStatistics */
    uint32_t max_mapping;       /* MaximumPhysicalMapping */
    uint32_t sg_elems;          /* elements of the last SGL */
    uint32_t status_code;       /* the last NdisMIndicateStatusEx */
    uint8_t status_buf[0x100];
    int statuses;
    void *oid_done;             /* NdisMOidRequestComplete's request */
    uint32_t oid_status;
    int disc_calls;             /* NdisTcpOffloadDisconnectComplete */
    void *disc;
    void *forwarded;            /* NdisTcpOffloadForwardComplete's */
    uint32_t fwd_status;
    void *event_handle;
    bool indicate_takes;        /* the host takes what is indicated */
    int sg_calls;               /* NdisMAllocateNetBufferSGList calls */
    void *l2_sent;              /* NdisMSendNetBufferListsComplete's */
    /* the stress case's view of completions and indications */
    void (*io_done)(int kind, uint8_t *nbl);
    uint32_t (*indicate_hook)(void *h, uint8_t *nbl, uint32_t *consumed);
    int sg_defer_at;            /* the call whose list comes later */
    void *sg_deferred, *sg_deferred_ctx;

    /* the intermediate driver, when it sits between host and miniport */
    bool im_above;
    uint8_t im_mp_chars[0x98], im_proto_chars[0x80];
    void *im_provider_generic, *im_provider_tcp;
    void *im_client_generic, *im_client_tcp;
    void *im_binding;           /* its ProtocolBindingContext */

    /* the adapter's MaxOffloadConnections keyword (0: none) */
    uint32_t kw_max_offloads;
    uint32_t tcp_capacity;      /* TcpConnectionOffloadCapacity offered */
    uint32_t tcp_encap;         /* its Encapsulation */
    uint32_t tcp_support;       /* SupportIPv4:2, SupportIPv6:2 ... */
    uint32_t tcp_current;       /* ... of the default configuration */
    uint32_t l2_rx;             /* NdisMIndicateReceiveNetBufferLists */
    uint32_t dbg_path_mtu;      /* the miniport's "path MTU" messages */
} w;

/* --- mock NDIS --- */

static WINAPI uint32_t m_DbgPrint(const char *fmt, ...)
{
    g_test_message("driver: %s", fmt);
    w.dbg_path_mtu += !!strstr(fmt, "MTU");
    return 0;
}

/* Calls with nothing to do here but their IRQL to check */
static WINAPI void m_passive1(void *p)
{
    nc_call("an NDIS function of PASSIVE_LEVEL", NC_PASSIVE);
}

static WINAPI void m_dispatch1(void *p)
{
    nc_call("an NDIS function of IRQL <= DISPATCH_LEVEL", NC_DISPATCH);
}

static WINAPI void m_lock_init(void *l)
{
    nc_call("NdisAllocateSpinLock", NC_DISPATCH);
    nc_lock_init(l);
}

static WINAPI void m_lock(void *l)
{
    nc_lock_acquire(l, 0);
}

static WINAPI void m_unlock(void *l)
{
    nc_lock_release(l, 0);
}

static WINAPI void m_dpr_lock(void *l)
{
    nc_lock_acquire(l, 1);
}

static WINAPI void m_dpr_unlock(void *l)
{
    nc_lock_release(l, 1);
}

static int64_t qt_step(int64_t ns)
{
    int64_t now;

    pthread_mutex_lock(&qt_mu);
    now = qtest_clock_step(w.qts, ns);
    pthread_mutex_unlock(&qt_mu);
    return now;
}

static WINAPI void m_stall(uint32_t us)
{
    qt_step(us * 1000ll);
}

static WINAPI uint32_t m_register(void *drv, void *reg, void *ctx,
                                  void *chars, void **h)
{
    nc_call("NdisMRegisterMiniportDriver", NC_PASSIVE);
    memcpy(w.mp_chars, chars, sizeof(w.mp_chars));
    *h = H_DRIVER;
    return 0;
}

static WINAPI uint32_t m_set_optional(void *h, uint8_t *header)
{
    nc_call("NdisSetOptionalHandlers", NC_PASSIVE);
    if (header[0] == 0x8f) {
        w.provider_generic = header;
    } else if (header[0] == 0x94) {
        w.provider_tcp = header;
    }
    return 0;
}

static WINAPI uint32_t m_set_attributes(void *h, uint8_t *attrs)
{
    nc_call("NdisMSetMiniportAttributes", NC_PASSIVE);
    nc_handle(h, H_MINIPORT, "NdisMSetMiniportAttributes");
    if (attrs[0] == 0x9e) {     /* registration: MiniportAdapterContext */
        w.adapter = rdp(attrs, 8);
    }
    if (attrs[0] == 0x9f) {     /* general: SupportedStatistics @0xb8 */
        w.gen_stats = rd32(attrs + 0xb8);
    }
    if (attrs[0] == 0xa0) {     /* offload: TCP hardware capabilities @0x20 */
        w.tcp_capacity = rd32((uint8_t *)rdp(attrs, 0x20) + 0xc);
        w.tcp_encap = rd32((uint8_t *)rdp(attrs, 0x20) + 4);
        w.tcp_support = rd32((uint8_t *)rdp(attrs, 0x20) + 8);
        w.tcp_current = rd32((uint8_t *)rdp(attrs, 0x18) + 8);
    }
    return 0;
}

static WINAPI void *m_alloc(void *h, uint32_t len, uint32_t tag, int prio)
{
    nc_call("NdisAllocateMemoryWithTagPriority", NC_DISPATCH);
    return g_malloc0(len);
}

static WINAPI void m_free(void *p, uint32_t len, uint32_t flags)
{
    nc_call("NdisFreeMemory", NC_DISPATCH);
    g_free(p);
}

static WINAPI uint32_t m_map_io(void **va, void *h, uint64_t pa, uint32_t len)
{
    nc_call("NdisMMapIoSpace", NC_PASSIVE);
    g_assert_cmphex(pa, ==, w.bar);
    *va = pe_mmio.va;
    return 0;
}

static WINAPI void m_shared_alloc(void *h, uint32_t len, uint8_t cached,
                                  void **va, uint64_t *pa)
{
    uint64_t gpa;

    nc_call("NdisMAllocateSharedMemory", NC_PASSIVE);
    gpa = guest_alloc(&w.alloc, len + 4096);

    gpa = QEMU_ALIGN_UP(gpa, 4096);
    *pa = gpa;
    *va = w.ram + gpa;
}

static WINAPI void m_shared_free(void *h, uint32_t len, uint8_t cached,
                                 void *va, uint64_t pa)
{
    nc_call("NdisMFreeSharedMemory", NC_PASSIVE);
}

static WINAPI uint32_t m_register_dma(void *h, uint8_t *desc, void **dma)
{
    nc_call("NdisMRegisterScatterGatherDma", NC_PASSIVE);
    w.max_mapping = rd32(desc + 8);     /* MaximumPhysicalMapping */
    g_assert_cmphex(rd32(desc + 4) & 1, ==, 1);     /* 64-bit addresses */
    w.sg_done = rdp(desc, 0x10);
    *dma = H_DMA;
    return 0;
}

static WINAPI uint32_t m_register_interrupt(void *h, void *ctx, uint8_t *ic,
                                            void **ih)
{
    nc_call("NdisMRegisterInterruptEx", NC_PASSIVE);
    w.dpc = rdp(ic, 0x38);              /* MessageInterruptDpcHandler */
    w.dpc_ctx = ctx;
    *(uint32_t *)(ic + 0x50) = 3;       /* message-signalled */
    *ih = H_INTERRUPT;
    return 0;
}

/* An MDL (x64): Next, Size, MdlFlags, Process, MappedSystemVa @0x18 */
static uint8_t *mdl_new(void *va, uint32_t len)
{
    uint8_t *mdl = g_malloc0(0x30);

    *(uint16_t *)(mdl + 0xa) = 0x0001;  /* MDL_MAPPED_TO_SYSTEM_VA */
    wrp(mdl, 0x18, va);
    wrp(mdl, 0x20, (void *)((uintptr_t)va & ~0xfffull));
    *(uint32_t *)(mdl + 0x28) = len;
    *(uint32_t *)(mdl + 0x2c) = (uintptr_t)va & 0xfff;
    return mdl;
}

static WINAPI void *m_alloc_mdl(void *h, void *va, uint32_t len)
{
    nc_call("NdisAllocateMdl", NC_DISPATCH);
    return mdl_new(va, len);
}

/* An NBL (0x130) with one NB (0xb0) over @mdl */
static uint8_t *nbl_new(uint8_t *mdl, uint32_t off, uint32_t len)
{
    uint8_t *nbl = g_malloc0(0x130), *nb = g_malloc0(0xb0);

    wrp(nbl, 8, nb);
    wrp(nb, 8, mdl);                    /* CurrentMdl */
    *(uint32_t *)(nb + 0x10) = off;     /* CurrentMdlOffset */
    *(uint32_t *)(nb + 0x18) = len;     /* DataLength */
    wrp(nb, 0x20, mdl);                 /* MdlChain */
    *(uint32_t *)(nb + 0x28) = off;     /* DataOffset */
    return nbl;
}

static WINAPI void *m_pool(void *h, void *params)
{
    nc_call("NdisAllocateNetBufferListPool", NC_DISPATCH);
    return (void *)0x2000;
}

static WINAPI void *m_alloc_nbl(void *pool, uint16_t ctx, uint16_t backfill,
                                void *mdl, uint32_t off, size_t len)
{
    nc_call("NdisAllocateNetBufferAndNetBufferList", NC_DISPATCH);
    return nbl_new(mdl, off, len);
}

static WINAPI void m_free_nbl(void *nbl)
{
    nc_call("NdisFreeNetBufferList", NC_DISPATCH);
}

/*
 * The scatter-gather list of an NB whose data is in guest RAM, handed to
 * the driver at once, at DISPATCH_LEVEL as NDIS calls
 * MiniportProcessSGList: SCATTER_GATHER_LIST {NumberOfElements, Reserved,
 * Elements[] {Address, Length, Reserved}}, one element per 4 KiB page as
 * Windows maps a buffer whose pages are anywhere.  An NB longer than the
 * driver's MaximumPhysicalMapping cannot be mapped.
 */
static WINAPI uint32_t m_alloc_sgl(void *dma, uint8_t *nb, void *ctx,
                                   uint32_t flags, void *buf, uint32_t size)
{
    uint8_t *mdl = rdp(nb, 8);
    uint8_t *va = (uint8_t *)rdp(mdl, 0x18) + rd32(nb + 0x10);
    uint32_t len = rd32(nb + 0x18), n = 0;
    uint64_t pa;
    uint8_t *sgl;
    int old;

    nc_call("NdisMAllocateNetBufferSGList", NC_DISPATCH);
    if (w.sg_fail || len > w.max_mapping) {
        w.sg_fail = false;
        return 0xc000009a;              /* NDIS_STATUS_RESOURCES */
    }
    g_assert(va >= w.ram && va + len <= w.ram + RAM_SIZE);
    pa = va - w.ram;
    sgl = g_malloc0(0x10 + 0x18 * (len / 4096 + 2));
    for (uint32_t done = 0; done < len; n++) {
        uint32_t chunk = MIN(len - done, 4096 - ((pa + done) & 4095));

        *(uint64_t *)(sgl + 0x10 + 0x18 * n) = pa + done;
        *(uint32_t *)(sgl + 0x18 + 0x18 * n) = chunk;
        done += chunk;
    }
    *(uint32_t *)sgl = n;
    w.sg_flags = flags;
    w.sg_elems = n;
    if (++w.sg_calls == w.sg_defer_at) {
        w.sg_deferred = sgl;            /* NDIS may call back later */
        w.sg_deferred_ctx = ctx;
        return 0;
    }
    old = nc_enter(NC_DISPATCH);
    ((SgFn *)w.sg_done)(NULL, NULL, sgl, ctx);
    nc_leave(old);
    return 0;
}

static WINAPI void m_free_sgl(void *dma, void *sgl, void *nb)
{
    nc_call("NdisMFreeNetBufferSGList", NC_DISPATCH);
    g_free(sgl);
}

/* Within the current MDL only: the test's NBs have one */
static WINAPI void m_advance(uint8_t *nb, uint32_t n, uint8_t free_mdl,
                             void *fn)
{
    nc_call("NdisAdvanceNetBufferDataStart", NC_DISPATCH);
    *(uint32_t *)(nb + 0x10) += n;
    *(uint32_t *)(nb + 0x18) -= n;
    *(uint32_t *)(nb + 0x28) += n;
}

static WINAPI uint32_t m_open_config(void *obj, void **h)
{
    nc_call("NdisOpenConfigurationEx", NC_PASSIVE);
    if (!w.kw_max_offloads) {
        return 0xc0000001;              /* no keywords: the defaults */
    }
    *h = (void *)0x3004;
    return 0;
}

/* The keywords of the adapter: MaxOffloadConnections only */
static WINAPI void m_read_config(uint32_t *st, void **param, void *h,
                                 uint8_t *key, int type)
{
    static const uint16_t name[] = u"MaxOffloadConnections";
    static uint8_t p[24];               /* NDIS_CONFIGURATION_PARAMETER */

    nc_call("NdisReadConfiguration", NC_PASSIVE);
    g_assert(h == (void *)0x3004);
    *st = 0xc0000001;
    if (*(uint16_t *)key == sizeof(name) - 2 &&
        !memcmp(rdp(key, 8), name, sizeof(name) - 2)) {
        g_assert_cmpint(type, ==, 0);   /* NdisParameterInteger */
        memset(p, 0, sizeof(p));
        *(uint32_t *)(p + 8) = w.kw_max_offloads;
        *param = p;
        *st = 0;
    }
}

/* What NdisMGetOffloadHandlers gives the target: the host side */
static WINAPI void m_event(void *h, uint32_t type, uint32_t info)
{
    nc_conn_up(h, "NdisTcpOffloadEventHandler");
    w.event_handle = h;
    w.events++;
    w.last_event = type;
}

/*
 * The host has no buffer yet: it takes nothing, and posts one later; or,
 * with indicate_takes, it takes everything.
 */
static WINAPI uint32_t m_indicate(void *h, uint8_t *nbl, uint32_t st,
                                  uint32_t *consumed)
{
    uint32_t len = rd32((uint8_t *)rdp(nbl, 8) + 0x18);

    nc_conn_up(h, "NdisTcpOffloadReceiveHandler");
    g_assert_cmphex(st, ==, 0);
    if (w.indicate_hook) {
        return w.indicate_hook(h, nbl, consumed);
    }
    w.indicated += len;
    *consumed = w.indicate_takes ? len : 0;
    return w.indicate_takes ? 0xc0231010 : 0xc023100e;
}

static WINAPI void m_receive_complete(void *h, void *nbl)
{
    nc_receive_done_enter();
    nc_handle(h, w.host, "NdisTcpOffloadReceiveComplete");
    nc_take_chain(nbl, NC_RECEIVE, "NdisTcpOffloadReceiveComplete");
    w.received = nbl;
    for (uint8_t *l = nbl, *next; w.io_done && l; l = next) {
        next = rdp(l, 0);
        w.io_done(NC_RECEIVE, l);
    }
    nc_receive_done_leave();
}

static WINAPI void m_send_complete(void *h, void *nbl)
{
    nc_upcall("NdisTcpOffloadSendComplete");
    nc_handle(h, w.host, "NdisTcpOffloadSendComplete");
    nc_take_chain(nbl, NC_SEND, "NdisTcpOffloadSendComplete");
    w.sent = nbl;
    w.send_calls++;
    for (uint8_t *l = nbl, *next; w.io_done && l; l = next) {
        next = rdp(l, 0);
        w.io_done(NC_SEND, l);
    }
}

static WINAPI void m_disconnect_complete(void *h, void *nbl)
{
    nc_handle(h, w.host, "NdisTcpOffloadDisconnectComplete");
    nc_disconnect_done(nbl);
    w.disc = nbl;
    w.disc_calls++;
}

static WINAPI void m_forward_complete(void *h, uint8_t *nbl)
{
    nc_upcall("NdisTcpOffloadForwardComplete");
    nc_handle(h, w.host, "NdisTcpOffloadForwardComplete");
    nc_take_chain(nbl, NC_FORWARD, "NdisTcpOffloadForwardComplete");
    w.forwarded = nbl;
    w.fwd_status = rd32(nbl + 0x8c);
}

/*
 * With the intermediate driver above, NDIS hands the miniport's
 * completions and indications to its protocol half: completions by the
 * binding, indications by the NDIS_OFFLOAD_HANDLE the IM passed down
 * (which is what the miniport got as NdisOffloadHandle).
 */
static WINAPI void n_send_complete(void *h, void *nbl)
{
    nc_upcall("NdisTcpOffloadSendComplete");
    nc_handle(h, H_MINIPORT, "NdisTcpOffloadSendComplete");
    ((Fn2v *)rdp(w.im_client_tcp, 0x10))(w.im_binding, nbl);
}

static WINAPI void n_receive_complete(void *h, void *nbl)
{
    nc_upcall("NdisTcpOffloadReceiveComplete");
    nc_handle(h, H_MINIPORT, "NdisTcpOffloadReceiveComplete");
    ((Fn2v *)rdp(w.im_client_tcp, 0x18))(w.im_binding, nbl);
}

static WINAPI void n_event(void *h, uint32_t type, uint32_t info)
{
    typedef WINAPI void EventFn(void *ctx, uint32_t type, uint32_t info);

    nc_upcall("NdisTcpOffloadEventHandler");
    ((EventFn *)rdp(w.im_client_tcp, 0x30))(h, type, info);
}

static WINAPI uint32_t n_indicate(void *h, void *nbl, uint32_t st,
                                  uint32_t *consumed)
{
    typedef WINAPI uint32_t IndFn(void *ctx, void *nbl, uint32_t st,
                                  uint32_t *consumed);

    nc_upcall("NdisTcpOffloadReceiveHandler");
    return ((IndFn *)rdp(w.im_client_tcp, 0x38))(h, nbl, st, consumed);
}

static void *host_handlers[7];

static WINAPI uint32_t m_get_handlers(void *h, int type, void **out)
{
    nc_call("NdisMGetOffloadHandlers", NC_PASSIVE);
    if (w.im_above) {
        pe_tcp_handlers(host_handlers, n_event, n_indicate, n_send_complete,
                        n_receive_complete, m_disconnect_complete,
                        m_forward_complete);
    } else {
        pe_tcp_handlers(host_handlers, m_event, m_indicate, m_send_complete,
                        m_receive_complete, m_disconnect_complete,
                        m_forward_complete);
    }
    *out = host_handlers;
    return 0;
}

/* The IM's virtual adapter gets the host's entry points */
static void *im_host_handlers[7];

static WINAPI uint32_t i_get_handlers(void *h, int type, void **out)
{
    g_assert(h == H_IM_VIRTUAL);
    pe_tcp_handlers(im_host_handlers, m_event, m_indicate, m_send_complete,
                    m_receive_complete, m_disconnect_complete,
                        m_forward_complete);
    *out = im_host_handlers;
    return 0;
}

/*
 * NDIS between the IM and the miniport for state: the IM's protocol
 * block lists go down as miniport block lists, the IM's
 * NDIS_OFFLOAD_HANDLE giving MiniportOffloadContext and serving as the
 * NdisOffloadHandle; the words the miniport view uses are NDIS's own
 * (NdisReserved) in the protocol view and are put back on the way up.
 */
typedef struct NdisSaved {
    uint8_t *block;
    void *reserved2;            /* protocol NdisReserved[2] at 0x30 */
} NdisSaved;

static NdisSaved ndis_saved[8];
static int ndis_nsaved;

static void ndis_down(uint8_t *b)
{
    for (; b; b = rdp(b, 0x08)) {
        void *handle = rdp(b, 0x38);

        g_assert_cmpint(ndis_nsaved, <, 8);
        ndis_saved[ndis_nsaved++] = (NdisSaved) { b, rdp(b, 0x30) };
        wrp(b, 0x30, handle ? rdp(handle, 8) : NULL);
        ndis_down(rdp(b, 0x10));
    }
}

static void ndis_up(void)
{
    for (int i = 0; i < ndis_nsaved; i++) {
        wrp(ndis_saved[i].block, 0x30, ndis_saved[i].reserved2);
    }
    ndis_nsaved = 0;
}

/* A tree back up: the connections in it are the host's now */
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
    nc_handle(h, H_MINIPORT, "NdisMInitiateOffloadComplete");
    if (w.im_above) {
        ndis_up();
        ((Fn2v *)rdp(w.im_client_generic, 0x08))(w.im_binding, root);
        return;
    }
    nc_take(root, NC_INITIATE, "NdisMInitiateOffloadComplete");
    tree_initiated(root);
    w.initiated = root;
}

static WINAPI void m_terminate_done(void *h, void *root)
{
    nc_upcall("NdisMTerminateOffloadComplete");
    nc_handle(h, H_MINIPORT, "NdisMTerminateOffloadComplete");
    if (w.im_above) {
        ndis_up();
        ((Fn2v *)rdp(w.im_client_generic, 0x10))(w.im_binding, root);
        return;
    }
    nc_take(root, NC_TERMINATE, "NdisMTerminateOffloadComplete");
    w.terminated = root;
}

static WINAPI void m_initiate_done_host(void *h, void *root)
{
    nc_upcall("NdisMInitiateOffloadComplete");
    nc_handle(h, H_IM_VIRTUAL, "NdisMInitiateOffloadComplete");
    nc_take(root, NC_INITIATE, "NdisMInitiateOffloadComplete");
    tree_initiated(root);
    w.initiated = root;
}

static WINAPI void m_terminate_done_host(void *h, void *root)
{
    nc_upcall("NdisMTerminateOffloadComplete");
    nc_handle(h, H_IM_VIRTUAL, "NdisMTerminateOffloadComplete");
    nc_take(root, NC_TERMINATE, "NdisMTerminateOffloadComplete");
    w.terminated = root;
}

static WINAPI void m_invalidate_done(void *h, void *root)
{
    nc_upcall("NdisMInvalidateOffloadComplete");
    nc_handle(h, H_MINIPORT, "NdisMInvalidateOffloadComplete");
    nc_take(root, NC_INVALIDATE, "NdisMInvalidateOffloadComplete");
    w.invalidated = root;
}

static WINAPI void m_update_done(void *h, void *root)
{
    nc_upcall("NdisMUpdateOffloadComplete");
    nc_handle(h, H_MINIPORT, "NdisMUpdateOffloadComplete");
    nc_take(root, NC_UPDATE, "NdisMUpdateOffloadComplete");
    w.updated = root;
}

static WINAPI void m_query_done(void *h, void *root)
{
    nc_upcall("NdisMQueryOffloadStateComplete");
    nc_handle(h, H_MINIPORT, "NdisMQueryOffloadStateComplete");
    nc_take(root, NC_QUERY, "NdisMQueryOffloadStateComplete");
    w.queried = root;
}

/* Milliseconds of QEMU's virtual clock */
static WINAPI void m_uptime(int64_t *ms)
{
    nc_call("NdisGetSystemUpTimeEx", NC_DISPATCH);
    *ms = qt_step(1) / 1000000;         /* 1 ns: a read */
}

/* NDIS_STATUS_INDICATION: StatusCode @0x14, buffer @0x30, size @0x38 */
static WINAPI void m_status(void *h, uint8_t *si)
{
    uint32_t len = rd32(si + 0x38);

    nc_upcall("NdisMIndicateStatusEx");
    nc_handle(h, H_MINIPORT, "NdisMIndicateStatusEx");
    w.status_code = rd32(si + 0x14);
    memcpy(w.status_buf, rdp(si, 0x30), MIN(len, sizeof(w.status_buf)));
    w.statuses++;
}

static WINAPI void m_send_l2_complete(void *h, void *nbl, uint32_t flags)
{
    nc_upcall("NdisMSendNetBufferListsComplete");
    nc_handle(h, H_MINIPORT, "NdisMSendNetBufferListsComplete");
    w.l2_sent = nbl;
}

static WINAPI void m_receive_l2(void *h, void *nbl, uint32_t port,
                                uint32_t count, uint32_t flags)
{
    nc_upcall("NdisMIndicateReceiveNetBufferLists");
    w.l2_rx++;
}

static WINAPI void m_oid_complete(void *h, void *req, uint32_t st)
{
    nc_upcall("NdisMOidRequestComplete");
    nc_handle(h, H_MINIPORT, "NdisMOidRequestComplete");
    nc_take(req, NC_OID, "NdisMOidRequestComplete");
    w.oid_done = req;
    w.oid_status = st;
}

static WINAPI void m_unmap_io(void *a, void *b, uint32_t c, uint32_t d)
{
    nc_call("NdisMUnmapIoSpace", NC_PASSIVE);
}

static const Mock mocks[] = {
    { "DbgPrint", m_DbgPrint },
    { "KeStallExecutionProcessor", m_stall },
    { "NdisMRegisterMiniportDriver", m_register },
    { "NdisMDeregisterMiniportDriver", m_passive1 },
    { "NdisSetOptionalHandlers", m_set_optional },
    { "NdisMSetMiniportAttributes", m_set_attributes },
    { "NdisAllocateMemoryWithTagPriority", m_alloc },
    { "NdisFreeMemory", m_free },
    { "NdisMMapIoSpace", m_map_io },
    { "NdisMUnmapIoSpace", m_unmap_io },
    { "NdisMAllocateSharedMemory", m_shared_alloc },
    { "NdisMFreeSharedMemory", m_shared_free },
    { "NdisMRegisterScatterGatherDma", m_register_dma },
    { "NdisMDeregisterScatterGatherDma", m_passive1 },
    { "NdisMRegisterInterruptEx", m_register_interrupt },
    { "NdisMDeregisterInterruptEx", m_passive1 },
    { "NdisAllocateSpinLock", m_lock_init },
    { "NdisFreeSpinLock", m_dispatch1 },
    { "NdisAcquireSpinLock", m_lock },
    { "NdisReleaseSpinLock", m_unlock },
    { "NdisDprAcquireSpinLock", m_dpr_lock },
    { "NdisDprReleaseSpinLock", m_dpr_unlock },
    { "NdisAllocateMdl", m_alloc_mdl },
    { "NdisFreeMdl", m_dispatch1 },
    { "NdisAllocateNetBufferListPool", m_pool },
    { "NdisFreeNetBufferListPool", m_dispatch1 },
    { "NdisAllocateNetBufferAndNetBufferList", m_alloc_nbl },
    { "NdisFreeNetBufferList", m_free_nbl },
    { "NdisMAllocateNetBufferSGList", m_alloc_sgl },
    { "NdisMFreeNetBufferSGList", m_free_sgl },
    { "NdisAdvanceNetBufferDataStart", m_advance },
    { "NdisOpenConfigurationEx", m_open_config },
    { "NdisReadConfiguration", m_read_config },
    { "NdisCloseConfiguration", m_passive1 },
    { "NdisMGetOffloadHandlers", m_get_handlers },
    { "NdisMInitiateOffloadComplete", m_initiate_done },
    { "NdisMTerminateOffloadComplete", m_terminate_done },
    { "NdisMInvalidateOffloadComplete", m_invalidate_done },
    { "NdisMQueryOffloadStateComplete", m_query_done },
    { "NdisMUpdateOffloadComplete", m_update_done },
    { "NdisGetSystemUpTimeEx", m_uptime },
    { "NdisMIndicateStatusEx", m_status },
    { "NdisMIndicateReceiveNetBufferLists", m_receive_l2 },
    { "NdisMSendNetBufferListsComplete", m_send_l2_complete },
    { "NdisMOidRequestComplete", m_oid_complete },
    { NULL, NULL },
};

/* --- the intermediate driver's NDIS --- */

static WINAPI uint32_t i_register_mp(void *drv, void *reg, void *ctx,
                                     void *chars, void **h)
{
    nc_call("NdisMRegisterMiniportDriver", NC_PASSIVE);
    memcpy(w.im_mp_chars, chars, sizeof(w.im_mp_chars));
    *h = H_IM_DRIVER;
    return 0;
}

static WINAPI uint32_t i_register_proto(void *ctx, void *chars, void **h)
{
    nc_call("NdisRegisterProtocolDriver", NC_PASSIVE);
    memcpy(w.im_proto_chars, chars, sizeof(w.im_proto_chars));
    *h = H_IM_PROTOCOL;
    return 0;
}

static WINAPI uint32_t i_set_optional(void *h, uint8_t *header)
{
    nc_call("NdisSetOptionalHandlers", NC_PASSIVE);
    switch (header[0]) {
    case 0x8f:
        w.im_provider_generic = header;
        break;
    case 0x94:
        w.im_provider_tcp = header;
        break;
    case 0x8e:
        w.im_client_generic = header;
        break;
    case 0x93:
        w.im_client_tcp = header;
        break;
    }
    return 0;
}

static WINAPI uint32_t i_ok2(void *a, void *b)
{
    nc_call("an NDIS function of PASSIVE_LEVEL", NC_PASSIVE);
    return 0;
}

/* VOID: RAX holds whatever NDIS left there */
static WINAPI uint32_t i_associate(void *a, void *b)
{
    nc_call("NdisIMAssociateMiniport", NC_PASSIVE);
    return 0xc0000001;
}

static WINAPI uint32_t i_register_device(void *h, void *attrs, void **dev,
                                         void **dh)
{
    nc_call("NdisRegisterDeviceEx", NC_PASSIVE);
    *dev = (void *)0x3000;
    *dh = (void *)0x3001;
    return 0;
}

static WINAPI void *i_pool(void *h, void *params)
{
    nc_call("NdisAllocateNet(Buffer)ListPool", NC_DISPATCH);
    return (void *)0x3002;
}

static WINAPI uint32_t i_open_config(void *obj, void **h)
{
    nc_call("NdisOpenConfigurationEx", NC_PASSIVE);
    *h = (void *)0x3003;
    return 0;
}

static uint16_t upper_name[] = u"\\Device\\{chimney-im-virtual}";

static WINAPI void i_read_config(uint32_t *st, void **param, void *h,
                                 void *key, int type)
{
    static uint8_t p[24];               /* NDIS_CONFIGURATION_PARAMETER */

    nc_call("NdisReadConfiguration", NC_PASSIVE);
    *(uint32_t *)p = 2;                 /* NdisParameterString */
    *(uint16_t *)(p + 8) = sizeof(upper_name) - 2;
    *(uint16_t *)(p + 10) = sizeof(upper_name);
    wrp(p, 16, upper_name);
    *param = p;
    *st = 0;
}

static WINAPI uint32_t i_open_adapter(void *proto, void *ctx, uint8_t *op,
                                      void *bind_ctx, void **h)
{
    nc_call("NdisOpenAdapterEx", NC_PASSIVE);
    *(uint32_t *)rdp(op, 0x20) = 0;     /* SelectedMediumIndex */
    *h = H_IM_BINDING;
    return 0;
}

static WINAPI uint32_t i_im_init(void *drv, void *name, void *ctx)
{
    nc_call("NdisIMInitializeDeviceInstanceEx", NC_PASSIVE);
    w.im_binding = ctx;
    return 0;
}

static WINAPI void i_initiate(void *binding, uint8_t *root)
{
    nc_call("NdisInitiateOffload", NC_DISPATCH);
    g_assert(binding == H_IM_BINDING);
    ndis_down(root);
    ((Fn2v *)rdp(w.provider_generic, 0x08))(w.adapter, root);
}

static WINAPI void i_terminate(void *binding, uint8_t *root)
{
    nc_call("NdisTerminateOffload", NC_DISPATCH);
    g_assert(binding == H_IM_BINDING);
    ndis_down(root);
    ((Fn2v *)rdp(w.provider_generic, 0x10))(w.adapter, root);
}

/* NDIS takes MiniportOffloadContext out of the IM's handle */
static WINAPI uint32_t i_tcp_send(uint8_t *handle, void *nbl)
{
    nc_call("NdisOffloadTcpSend", NC_DISPATCH);
    return ((Fn3 *)rdp(w.provider_tcp, 0x10))(w.adapter, rdp(handle, 8),
                                               nbl);
}

static WINAPI uint32_t i_tcp_receive(uint8_t *handle, void *nbl)
{
    nc_call("NdisOffloadTcpReceive", NC_DISPATCH);
    return ((Fn3 *)rdp(w.provider_tcp, 0x18))(w.adapter, rdp(handle, 8),
                                               nbl);
}

static const Mock im_mocks[] = {
    { "DbgPrint", m_DbgPrint },
    { "NdisMRegisterMiniportDriver", i_register_mp },
    { "NdisMDeregisterMiniportDriver", m_passive1 },
    { "NdisRegisterProtocolDriver", i_register_proto },
    { "NdisDeregisterProtocolDriver", m_passive1 },
    { "NdisIMAssociateMiniport", i_associate },
    { "NdisRegisterDeviceEx", i_register_device },
    { "NdisDeregisterDeviceEx", m_passive1 },
    { "NdisSetOptionalHandlers", i_set_optional },
    { "NdisAllocateMemoryWithTagPriority", m_alloc },
    { "NdisFreeMemory", m_free },
    { "NdisAllocateSpinLock", m_lock_init },
    { "NdisFreeSpinLock", m_dispatch1 },
    { "NdisAcquireSpinLock", m_lock },
    { "NdisReleaseSpinLock", m_unlock },
    { "NdisDprAcquireSpinLock", m_dpr_lock },
    { "NdisDprReleaseSpinLock", m_dpr_unlock },
    { "NdisInitializeEvent", m_dispatch1 },
    { "NdisAllocateNetBufferListPool", i_pool },
    { "NdisAllocateNetBufferPool", i_pool },
    { "NdisOpenConfigurationEx", i_open_config },
    { "NdisReadConfiguration", i_read_config },
    { "NdisCloseConfiguration", m_passive1 },
    { "NdisOpenAdapterEx", i_open_adapter },
    { "NdisIMInitializeDeviceInstanceEx", i_im_init },
    { "NdisMSetMiniportAttributes", i_ok2 },
    { "NdisMGetOffloadHandlers", i_get_handlers },
    { "NdisInitiateOffload", i_initiate },
    { "NdisTerminateOffload", i_terminate },
    { "NdisMInitiateOffloadComplete", m_initiate_done_host },
    { "NdisMTerminateOffloadComplete", m_terminate_done_host },
    { "NdisOffloadTcpSend", i_tcp_send },
    { "NdisOffloadTcpReceive", i_tcp_receive },
    { NULL, NULL },
};

#endif /* QTEST_NDIS_H */
