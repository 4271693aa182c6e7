/*
 * QTest: the Windows miniport's own code against chimney-nic
 *
 * chimneynic.sys, as built for Windows, is loaded into this process
 * (tests/windows/pe-load.h) with a mock NDIS underneath: its register
 * accesses go to the device through qtest, the shared memory it allocates
 * is guest RAM (a file both QEMU and this process map), and its DPC is
 * run whenever the test waits.  The test then does what NDIS and the
 * host stack would: initializes the adapter, offloads a neighbor, a path
 * and a connection, sends data that the test, as the peer on the wire,
 * receives and acknowledges, receives data from the peer (indicated
 * first, then into a posted buffer) and its FIN, and terminates the tree.
 * What reaches the mock NDIS is checked: statuses,
 * NdisTcpOffloadSendComplete and ReceiveComplete with the byte counts and
 * the NET_BUFFERs advanced, the indication and the disconnect event, a
 * send whose mapping fails (uploaded, and the upload requested), the
 * delegated state returned.
 *
 * NDIS layouts are written out here from the documentation (x64), apart
 * from the driver's own declarations.  The driver image comes from
 * $CHIMNEY_WINDOWS_DIR; without it the test is skipped.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/socket.h>
#include "qemu/bswap.h"
#include "qemu/iov.h"
#include "libqtest.h"
#include "libqos/pci-pc.h"
#include "libqos/malloc-pc.h"
#include "libqos/chimney.h"
#include "../windows/pe-load.h"

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
    void *initiated, *terminated;
    void *sent;                 /* NdisTcpOffloadSendComplete's NBLs */
    int send_calls;
    void *received;             /* NdisTcpOffloadReceiveComplete's */
    uint32_t indicated;         /* bytes offered by indications */
    uint32_t events, last_event;
    void *host;                 /* the miniport handle completions name */

    /* the intermediate driver, when it sits between host and miniport */
    bool im_above;
    uint8_t im_mp_chars[0x98], im_proto_chars[0x80];
    void *im_provider_generic, *im_provider_tcp;
    void *im_client_generic, *im_client_tcp;
    void *im_binding;           /* its ProtocolBindingContext */
} w;

/* --- mock NDIS --- */

static WINAPI uint32_t m_DbgPrint(const char *fmt, ...)
{
    g_test_message("driver: %s", fmt);
    return 0;
}

static WINAPI void *m_memcpy(void *d, const void *s, size_t n)
{
    return memcpy(d, s, n);
}

static WINAPI void *m_memset(void *d, int c, size_t n)
{
    return memset(d, c, n);
}

static WINAPI void m_nop1(void *p)
{
}

static WINAPI void m_stall(uint32_t us)
{
    qtest_clock_step(w.qts, us * 1000ll);
}

static WINAPI uint32_t m_register(void *drv, void *reg, void *ctx,
                                  void *chars, void **h)
{
    memcpy(w.mp_chars, chars, sizeof(w.mp_chars));
    *h = H_DRIVER;
    return 0;
}

static WINAPI uint32_t m_set_optional(void *h, uint8_t *header)
{
    if (header[0] == 0x8f) {
        w.provider_generic = header;
    } else if (header[0] == 0x94) {
        w.provider_tcp = header;
    }
    return 0;
}

static WINAPI uint32_t m_set_attributes(void *h, uint8_t *attrs)
{
    if (attrs[0] == 0x9e) {     /* registration: MiniportAdapterContext */
        w.adapter = rdp(attrs, 8);
    }
    return 0;
}

static WINAPI void *m_alloc(void *h, uint32_t len, uint32_t tag, int prio)
{
    return g_malloc0(len);
}

static WINAPI void m_free(void *p, uint32_t len, uint32_t flags)
{
    g_free(p);
}

static WINAPI uint32_t m_map_io(void **va, void *h, uint64_t pa, uint32_t len)
{
    g_assert_cmphex(pa, ==, w.bar);
    *va = pe_mmio.va;
    return 0;
}

static WINAPI void m_shared_alloc(void *h, uint32_t len, uint8_t cached,
                                  void **va, uint64_t *pa)
{
    uint64_t gpa = guest_alloc(&w.alloc, len + 4096);

    gpa = QEMU_ALIGN_UP(gpa, 4096);
    *pa = gpa;
    *va = w.ram + gpa;
}

static WINAPI void m_shared_free(void *h, uint32_t len, uint8_t cached,
                                 void *va, uint64_t pa)
{
}

static WINAPI uint32_t m_register_dma(void *h, uint8_t *desc, void **dma)
{
    g_assert_cmphex(rd32(desc + 4) & 1, ==, 1);     /* 64-bit addresses */
    w.sg_done = rdp(desc, 0x10);
    *dma = H_DMA;
    return 0;
}

static WINAPI uint32_t m_register_interrupt(void *h, void *ctx, uint8_t *ic,
                                            void **ih)
{
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
    return (void *)0x2000;
}

static WINAPI void *m_alloc_nbl(void *pool, uint16_t ctx, uint16_t backfill,
                                void *mdl, uint32_t off, size_t len)
{
    return nbl_new(mdl, off, len);
}

static WINAPI void m_free_nbl(void *nbl)
{
}

/*
 * The scatter-gather list of an NB whose data is in guest RAM, handed to
 * the driver at once: SCATTER_GATHER_LIST {NumberOfElements, Reserved,
 * Elements[] {Address, Length, Reserved}}.
 */
static WINAPI uint32_t m_alloc_sgl(void *dma, uint8_t *nb, void *ctx,
                                   uint32_t flags, void *buf, uint32_t size)
{
    uint8_t *mdl = rdp(nb, 8);
    uint8_t *va = (uint8_t *)rdp(mdl, 0x18) + rd32(nb + 0x10);
    uint8_t *sgl;

    if (w.sg_fail) {
        w.sg_fail = false;
        return 0xc000009a;              /* NDIS_STATUS_RESOURCES */
    }
    sgl = g_malloc0(0x10 + 0x18);
    g_assert(va >= w.ram && va < w.ram + RAM_SIZE);
    w.sg_flags = flags;
    *(uint32_t *)sgl = 1;
    *(uint64_t *)(sgl + 0x10) = va - w.ram;
    *(uint32_t *)(sgl + 0x18) = rd32(nb + 0x18);
    ((SgFn *)w.sg_done)(NULL, NULL, sgl, ctx);
    return 0;
}

static WINAPI void m_free_sgl(void *dma, void *sgl, void *nb)
{
    g_free(sgl);
}

/* Within the current MDL only: the test's NBs have one */
static WINAPI void m_advance(uint8_t *nb, uint32_t n, uint8_t free_mdl,
                             void *fn)
{
    *(uint32_t *)(nb + 0x10) += n;
    *(uint32_t *)(nb + 0x18) -= n;
    *(uint32_t *)(nb + 0x28) += n;
}

static WINAPI uint32_t m_open_config(void *obj, void **h)
{
    return 0xc0000001;                  /* no keywords: the defaults */
}

/* What NdisMGetOffloadHandlers gives the target: the host side */
static WINAPI void m_event(void *h, uint32_t type, uint32_t info)
{
    g_assert(h == (void *)0xa2);        /* the TCP block's NdisOffloadHandle */
    w.events++;
    w.last_event = type;
}

/* The host has no buffer yet: it takes nothing, and posts one later */
static WINAPI uint32_t m_indicate(void *h, uint8_t *nbl, uint32_t st,
                                  uint32_t *consumed)
{
    g_assert(h == (void *)0xa2);
    g_assert_cmphex(st, ==, 0);
    w.indicated += rd32((uint8_t *)rdp(nbl, 8) + 0x18);
    *consumed = 0;
    return 0xc023100e;                  /* OFFLOAD_DATA_NOT_ACCEPTED */
}

static WINAPI void m_receive_complete(void *h, void *nbl)
{
    g_assert(h == w.host);
    w.received = nbl;
}

static WINAPI void m_send_complete(void *h, void *nbl)
{
    g_assert(h == w.host);
    w.sent = nbl;
    w.send_calls++;
}

static WINAPI void m_io_complete(void *h, void *nbl)
{
}

/*
 * With the intermediate driver above, NDIS hands the miniport's
 * completions and indications to its protocol half: completions by the
 * binding, indications by the NDIS_OFFLOAD_HANDLE the IM passed down
 * (which is what the miniport got as NdisOffloadHandle).
 */
static WINAPI void n_send_complete(void *h, void *nbl)
{
    ((Fn2v *)rdp(w.im_client_tcp, 0x10))(w.im_binding, nbl);
}

static WINAPI void n_receive_complete(void *h, void *nbl)
{
    ((Fn2v *)rdp(w.im_client_tcp, 0x18))(w.im_binding, nbl);
}

static WINAPI void n_event(void *h, uint32_t type, uint32_t info)
{
    typedef WINAPI void EventFn(void *ctx, uint32_t type, uint32_t info);

    ((EventFn *)rdp(w.im_client_tcp, 0x30))(h, type, info);
}

static WINAPI uint32_t n_indicate(void *h, void *nbl, uint32_t st,
                                  uint32_t *consumed)
{
    typedef WINAPI uint32_t IndFn(void *ctx, void *nbl, uint32_t st,
                                  uint32_t *consumed);

    return ((IndFn *)rdp(w.im_client_tcp, 0x38))(h, nbl, st, consumed);
}

static void *host_handlers[7];

static WINAPI uint32_t m_get_handlers(void *h, int type, void **out)
{
    if (w.im_above) {
        pe_tcp_handlers(host_handlers, n_event, n_indicate, n_send_complete,
                        n_receive_complete, m_io_complete, m_io_complete);
    } else {
        pe_tcp_handlers(host_handlers, m_event, m_indicate, m_send_complete,
                        m_receive_complete, m_io_complete, m_io_complete);
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
                    m_receive_complete, m_io_complete, m_io_complete);
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

static WINAPI void m_initiate_done(void *h, void *root)
{
    if (w.im_above) {
        ndis_up();
        ((Fn2v *)rdp(w.im_client_generic, 0x08))(w.im_binding, root);
        return;
    }
    w.initiated = root;
}

static WINAPI void m_terminate_done(void *h, void *root)
{
    if (w.im_above) {
        ndis_up();
        ((Fn2v *)rdp(w.im_client_generic, 0x10))(w.im_binding, root);
        return;
    }
    w.terminated = root;
}

static WINAPI void m_initiate_done_host(void *h, void *root)
{
    g_assert(h == H_IM_VIRTUAL);
    w.initiated = root;
}

static WINAPI void m_terminate_done_host(void *h, void *root)
{
    g_assert(h == H_IM_VIRTUAL);
    w.terminated = root;
}

static WINAPI void m_ignore2(void *a, void *b)
{
}

static WINAPI void m_ignore4(void *a, void *b, uint32_t c, uint32_t d)
{
}

static const Mock mocks[] = {
    { "DbgPrint", m_DbgPrint },
    { "memcpy", m_memcpy },
    { "memset", m_memset },
    { "KeStallExecutionProcessor", m_stall },
    { "NdisMRegisterMiniportDriver", m_register },
    { "NdisMDeregisterMiniportDriver", m_nop1 },
    { "NdisSetOptionalHandlers", m_set_optional },
    { "NdisMSetMiniportAttributes", m_set_attributes },
    { "NdisAllocateMemoryWithTagPriority", m_alloc },
    { "NdisFreeMemory", m_free },
    { "NdisMMapIoSpace", m_map_io },
    { "NdisMUnmapIoSpace", m_ignore4 },
    { "NdisMAllocateSharedMemory", m_shared_alloc },
    { "NdisMFreeSharedMemory", m_shared_free },
    { "NdisMRegisterScatterGatherDma", m_register_dma },
    { "NdisMDeregisterScatterGatherDma", m_nop1 },
    { "NdisMRegisterInterruptEx", m_register_interrupt },
    { "NdisMDeregisterInterruptEx", m_nop1 },
    { "NdisAllocateSpinLock", m_nop1 },
    { "NdisFreeSpinLock", m_nop1 },
    { "NdisAcquireSpinLock", m_nop1 },
    { "NdisReleaseSpinLock", m_nop1 },
    { "NdisAllocateMdl", m_alloc_mdl },
    { "NdisFreeMdl", m_nop1 },
    { "NdisAllocateNetBufferListPool", m_pool },
    { "NdisFreeNetBufferListPool", m_nop1 },
    { "NdisAllocateNetBufferAndNetBufferList", m_alloc_nbl },
    { "NdisFreeNetBufferList", m_free_nbl },
    { "NdisMAllocateNetBufferSGList", m_alloc_sgl },
    { "NdisMFreeNetBufferSGList", m_free_sgl },
    { "NdisAdvanceNetBufferDataStart", m_advance },
    { "NdisOpenConfigurationEx", m_open_config },
    { "NdisMGetOffloadHandlers", m_get_handlers },
    { "NdisMInitiateOffloadComplete", m_initiate_done },
    { "NdisMTerminateOffloadComplete", m_terminate_done },
    { "NdisMIndicateStatusEx", m_ignore2 },
    { "NdisMIndicateReceiveNetBufferLists", m_ignore4 },
    { NULL, NULL },
};

/* --- the intermediate driver's NDIS --- */

static WINAPI uint32_t i_register_mp(void *drv, void *reg, void *ctx,
                                     void *chars, void **h)
{
    memcpy(w.im_mp_chars, chars, sizeof(w.im_mp_chars));
    *h = H_IM_DRIVER;
    return 0;
}

static WINAPI uint32_t i_register_proto(void *ctx, void *chars, void **h)
{
    memcpy(w.im_proto_chars, chars, sizeof(w.im_proto_chars));
    *h = H_IM_PROTOCOL;
    return 0;
}

static WINAPI uint32_t i_set_optional(void *h, uint8_t *header)
{
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
    return 0;
}

static WINAPI uint32_t i_register_device(void *h, void *attrs, void **dev,
                                         void **dh)
{
    *dev = (void *)0x3000;
    *dh = (void *)0x3001;
    return 0;
}

static WINAPI void *i_pool(void *h, void *params)
{
    return (void *)0x3002;
}

static WINAPI uint32_t i_open_config(void *obj, void **h)
{
    *h = (void *)0x3003;
    return 0;
}

static uint16_t upper_name[] = u"\\Device\\{chimney-im-virtual}";

static WINAPI void i_read_config(uint32_t *st, void **param, void *h,
                                 void *key, int type)
{
    static uint8_t p[24];               /* NDIS_CONFIGURATION_PARAMETER */

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
    *(uint32_t *)rdp(op, 0x20) = 0;     /* SelectedMediumIndex */
    *h = H_IM_BINDING;
    return 0;
}

static WINAPI uint32_t i_im_init(void *drv, void *name, void *ctx)
{
    w.im_binding = ctx;
    return 0;
}

static WINAPI void i_initiate(void *binding, uint8_t *root)
{
    g_assert(binding == H_IM_BINDING);
    ndis_down(root);
    ((Fn2v *)rdp(w.provider_generic, 0x08))(w.adapter, root);
}

static WINAPI void i_terminate(void *binding, uint8_t *root)
{
    g_assert(binding == H_IM_BINDING);
    ndis_down(root);
    ((Fn2v *)rdp(w.provider_generic, 0x10))(w.adapter, root);
}

/* NDIS takes MiniportOffloadContext out of the IM's handle */
static WINAPI uint32_t i_tcp_send(uint8_t *handle, void *nbl)
{
    return ((Fn3 *)rdp(w.provider_tcp, 0x10))(w.adapter, rdp(handle, 8),
                                               nbl);
}

static WINAPI uint32_t i_tcp_receive(uint8_t *handle, void *nbl)
{
    return ((Fn3 *)rdp(w.provider_tcp, 0x18))(w.adapter, rdp(handle, 8),
                                               nbl);
}

static const Mock im_mocks[] = {
    { "DbgPrint", m_DbgPrint },
    { "memcpy", m_memcpy },
    { "memset", m_memset },
    { "NdisMRegisterMiniportDriver", i_register_mp },
    { "NdisMDeregisterMiniportDriver", m_nop1 },
    { "NdisRegisterProtocolDriver", i_register_proto },
    { "NdisDeregisterProtocolDriver", m_nop1 },
    { "NdisIMAssociateMiniport", i_ok2 },
    { "NdisRegisterDeviceEx", i_register_device },
    { "NdisDeregisterDeviceEx", m_nop1 },
    { "NdisSetOptionalHandlers", i_set_optional },
    { "NdisAllocateMemoryWithTagPriority", m_alloc },
    { "NdisFreeMemory", m_free },
    { "NdisAllocateSpinLock", m_nop1 },
    { "NdisFreeSpinLock", m_nop1 },
    { "NdisAcquireSpinLock", m_nop1 },
    { "NdisReleaseSpinLock", m_nop1 },
    { "NdisInitializeEvent", m_nop1 },
    { "NdisAllocateNetBufferListPool", i_pool },
    { "NdisAllocateNetBufferPool", i_pool },
    { "NdisOpenConfigurationEx", i_open_config },
    { "NdisReadConfiguration", i_read_config },
    { "NdisCloseConfiguration", m_nop1 },
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

/* --- the device, the wire, the clock --- */

static uint32_t mmio_readl(void *opaque, uint32_t off)
{
    return qtest_readl(w.qts, w.bar + off);
}

static void mmio_writel(void *opaque, uint32_t off, uint32_t val)
{
    qtest_writel(w.qts, w.bar + off, val);
}

/* The DPC, as if the device had interrupted; time moves a little */
static void run_dpc(void)
{
    ((Fn5v *)w.dpc)(w.dpc_ctx, 0, NULL, NULL, NULL);
    qtest_clock_step(w.qts, 100 * 1000);
}

static bool wire_poll(uint8_t *buf, size_t max, size_t *len)
{
    uint32_t be;

    if (recv(w.sock, &be, 4, MSG_DONTWAIT | MSG_PEEK) != 4) {
        return false;
    }
    g_assert_cmpint(recv(w.sock, &be, 4, MSG_WAITALL), ==, 4);
    g_assert_cmpuint(ntohl(be), <=, max);
    g_assert_cmpint(recv(w.sock, buf, ntohl(be), MSG_WAITALL), ==,
                    ntohl(be));
    *len = ntohl(be);
    return true;
}

static void wire_send(const uint8_t *buf, size_t len)
{
    uint32_t be = htonl(len);
    struct iovec iov[] = {
        { .iov_base = &be, .iov_len = 4 },
        { .iov_base = (void *)buf, .iov_len = len },
    };

    g_assert_cmpint(iov_send(w.sock, iov, 2, 0, 4 + len), ==, 4 + len);
}

static void setup(void)
{
    char path[] = "/dev/shm/chimney-windows-XXXXXX";
    int sv[2], fd = mkstemp(path);

    memset(&w, 0, sizeof(w));
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, RAM_SIZE), ==, 0);
    w.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    g_assert(w.ram != MAP_FAILED);
    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    w.qts = qtest_initf("-M pc,memory-backend=ram -m 256M -nodefaults "
                        "-object memory-backend-file,id=ram,size=256M,"
                        "mem-path=%s,share=on "
                        "-netdev socket,fd=%d,id=n0 "
                        "-device chimney-nic,netdev=n0,id=nic0,mac=" DEV_MAC,
                        path, sv[1]);
    close(sv[1]);
    close(fd);
    unlink(path);
    w.sock = sv[0];
    pc_alloc_init(&w.alloc, w.qts, ALLOC_NO_FLAGS);
    w.bus = qpci_new_pc(w.qts, &w.alloc);
    w.pdev = qchimney_find(w.bus);
    qpci_device_enable(w.pdev);
    w.bar = qpci_iomap(w.pdev, CHIMNEY_BAR_MMIO, NULL).addr;
    pe_mmio_map(CHIMNEY_MMIO_SIZE, mmio_readl, mmio_writel, NULL);
}

/* --- the state tree as NDIS builds it --- */

#define ISS     50000u
#define IRS     777u
#define LPORT   40005
#define RPORT   5001

static const uint8_t dev_ip[4] = { 10, 0, 0, 1 };
static const uint8_t peer_ip[4] = { 10, 0, 0, 2 };

typedef struct Tree {
    uint8_t neighbor[0x98 + 0x2c + 0x2c + 0xc];
    uint8_t path[0x98 + 0x18 + 0xc + 0x8];
    uint8_t tcp[0x98 + 0x18 + 0x2c + 0x80];
    void *ctx[3];               /* where the target keeps its objects */
} Tree;

static uint8_t *state(uint8_t *block, uint32_t at, uint32_t len)
{
    uint8_t *s = block + 0x98 + at;

    *(uint32_t *)s = len;       /* OFFLOAD_STATE_HEADER.Length */
    return s;
}

static void offload_block_init(uint8_t *b, uint8_t type, void **ctx,
                               uintptr_t h)
{
    b[0] = type;
    b[1] = 1;
    wrp(b, 0x30, ctx);          /* MiniportOffloadContext */
    wrp(b, 0x38, (void *)h);    /* NdisOffloadHandle */
}

static void tree_init(Tree *t, bool full)
{
    uint8_t *s;

    memset(t, 0, sizeof(*t));
    offload_block_init(t->neighbor, 4, &t->ctx[0], 0xa0);
    wrp(t->neighbor, 0x10, t->path);
    state(t->neighbor, 0, 0x2c);                /* const: our own MAC */
    s = state(t->neighbor, 0x2c, 0x2c);
    memcpy(s + 8, PEER_MAC, 6);
    state(t->neighbor, 0x58, 0xc);

    offload_block_init(t->path, 8, &t->ctx[1], 0xa1);
    wrp(t->path, 0x10, t->tcp);
    s = state(t->path, 0, 0x18);
    wrp(s, 8, dev_ip);
    wrp(s, 0x10, peer_ip);
    s = state(t->path, 0x18, 0xc);
    *(uint32_t *)(s + 8) = 1500;
    state(t->path, 0x24, 0x8);

    offload_block_init(t->tcp, 17, &t->ctx[2], 0xa2);
    if (!full) {
        return;
    }
    s = state(t->tcp, 0, 0x18);                 /* const */
    *(uint16_t *)(s + 0xa) = htons(RPORT);
    *(uint16_t *)(s + 0xc) = htons(LPORT);
    *(uint16_t *)(s + 0x10) = 1000;             /* RemoteMss */
    s = state(t->tcp, 0x18, 0x2c);              /* cached */
    *(uint32_t *)(s + 0xc) = 65535;             /* InitialRcvWnd */
    s[0x28] = 64;                               /* TTL */
    s = state(t->tcp, 0x44, 0x80);              /* delegated */
    *(uint32_t *)(s + 0x08) = 4;                /* Established */
    *(uint32_t *)(s + 0x10) = IRS + 1;          /* RcvNxt */
    *(uint32_t *)(s + 0x14) = 65535;
    *(uint32_t *)(s + 0x18) = ISS + 1;          /* SndUna */
    *(uint32_t *)(s + 0x1c) = ISS + 1;
    *(uint32_t *)(s + 0x20) = ISS + 1;
    *(uint32_t *)(s + 0x24) = 65535;            /* SndWnd */
    *(uint32_t *)(s + 0x28) = 65535;
    *(uint32_t *)(s + 0x2c) = IRS + 1;
    *(uint32_t *)(s + 0x30) = 10000;            /* CWnd */
    *(uint32_t *)(s + 0x34) = 65535;
    *(uint32_t *)(s + 0x54) = 0xffffffff;       /* timers idle */
    *(uint32_t *)(s + 0x5c) = 0xffffffff;
}

static void peer_addr(QChimneyTcpAddr *a)
{
    static const uint8_t dev_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

    *a = (QChimneyTcpAddr) {
        .src_mac = (const uint8_t *)PEER_MAC, .dst_mac = dev_mac,
        .src_port = RPORT, .dst_port = LPORT,
    };
    memcpy(&a->src_ip, peer_ip, 4);
    memcpy(&a->dst_ip, dev_ip, 4);
}

/* The peer sends a segment: data with PSH, or a FIN */
static void peer_send(uint32_t seq, uint32_t ack, uint8_t flags,
                      const uint8_t *data, size_t len)
{
    uint8_t fr[2048];
    QChimneyTcpAddr a;

    peer_addr(&a);
    wire_send(fr, qchimney_tcp_data_frame(fr, &a, seq, ack, flags, 65535,
                                          NULL, 0, data, len));
}

/* The peer reads what the device sends and acknowledges it */
static uint32_t peer_take(uint8_t *got, uint32_t want)
{
    uint32_t have = 0;
    uint8_t fr[2048];
    size_t len;

    for (int i = 0; i < 200 && have < want; i++) {
        run_dpc();
        while (wire_poll(fr, sizeof(fr), &len)) {
            uint8_t *ip = fr + 14, *th = ip + 20;
            uint32_t tl = lduw_be_p(ip + 2) - 20, doff = (th[12] >> 4) * 4;
            uint32_t seq = ldl_be_p(th + 4);

            if (lduw_be_p(fr + 12) != 0x0800 || ip[9] != 6) {
                continue;
            }
            if (tl > doff && seq == ISS + 1 + have) {
                memcpy(got + have, th + doff, tl - doff);
                have += tl - doff;
            }
        }
    }
    peer_send(IRS + 1, ISS + 1 + have, 0x10, NULL, 0);
    return have;
}

/* The driver image, or NULL (and the test skipped) when not built */
static char *driver_path(const char *name)
{
    const char *dir = getenv("CHIMNEY_WINDOWS_DIR");
    char *path;

    if (!dir) {
        g_test_skip("CHIMNEY_WINDOWS_DIR is not set");
        return NULL;
    }
    path = g_build_filename(dir, name, NULL);
    if (access(path, R_OK)) {
        g_test_skip("the Windows drivers are not built");
        g_free(path);
        return NULL;
    }
    return path;
}

/* DriverEntry, SetOptions, MiniportInitializeEx and Restart */
static void miniport_up(Image *im, const char *path)
{
    uint8_t init[0x40] = { 0 }, res[8 + 20] = { 0 };
    void *entry = image_map(im, path, mocks);

    g_assert_cmphex(((Fn2 *)entry)((void *)0x10, (void *)0x20), ==, 0);
    ((Fn2 *)rdp(w.mp_chars, 0x10))(H_DRIVER, NULL);     /* SetOptions */
    g_assert(w.provider_generic && w.provider_tcp);

    /* BAR0 among the resources */
    *(uint32_t *)(res + 4) = 1;                 /* Count */
    res[8] = 3;                                 /* CmResourceTypeMemory */
    *(uint64_t *)(res + 12) = w.bar;
    *(uint32_t *)(res + 20) = CHIMNEY_MMIO_SIZE;
    wrp(init, 8, res);                          /* AllocatedResources */
    g_assert_cmphex(((Fn3 *)rdp(w.mp_chars, 0x18))(H_MINIPORT, NULL, init),
                    ==, 0);
    g_assert(w.adapter && w.dpc && w.sg_done);
    g_assert_cmphex(qtest_readl(w.qts, w.bar + CHIMNEY_REG_STATUS) &
                    CHIMNEY_STATUS_READY, ==, CHIMNEY_STATUS_READY);
    ((Fn2 *)rdp(w.mp_chars, 0x38))(w.adapter, NULL);    /* Restart */
}

/* MiniportHaltEx disables the device; then QEMU goes */
static void miniport_down(void)
{
    ((Fn2 *)rdp(w.mp_chars, 0x20))(w.adapter, NULL);
    g_assert_cmphex(qtest_readl(w.qts, w.bar + CHIMNEY_REG_STATUS) &
                    CHIMNEY_STATUS_READY, ==, 0);
    qpci_free_pc(w.bus);
    alloc_destroy(&w.alloc);
    qtest_quit(w.qts);
    close(w.sock);
    munmap(w.ram, RAM_SIZE);
}

/* 3000 bytes of a pattern in guest RAM, as a one-NB NBL */
static uint8_t *send_nbl(void)
{
    uint8_t *buf = w.ram + guest_alloc(&w.alloc, 4096);

    for (int i = 0; i < 3000; i++) {
        buf[i] = i * 7 + 3;
    }
    return nbl_new(mdl_new(buf, 3000), 0, 3000);
}

static void wait_for(void **what)
{
    for (int i = 0; i < 100 && !*what; i++) {
        run_dpc();
    }
    g_assert(*what);
}

static void test_windows_miniport(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    uint8_t *buf, *nbl, *nb, *d, *rnbl;
    uint8_t got[4096];
    uint64_t data;
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);

    /* MiniportInitiateOffload: three admin commands, one at a time */
    tree_init(&t, true);
    ((Fn2v *)rdp(w.provider_generic, 0x08))(w.adapter, t.neighbor);
    for (int i = 0; i < 100 && !w.initiated; i++) {
        run_dpc();
    }
    g_assert(w.initiated == t.neighbor);
    g_assert_cmphex(rd32(t.neighbor + 0x18), ==, 0);
    g_assert_cmphex(rd32(t.path + 0x18), ==, 0);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0);
    g_assert(t.ctx[0] && t.ctx[1] && t.ctx[2]);

    /* MiniportTcpOffloadSend: 3000 bytes from guest RAM */
    nbl = send_nbl();
    nb = rdp(nbl, 8);
    buf = rdp(rdp(nb, 8), 0x18);
    g_assert_cmphex(((Fn3 *)rdp(w.provider_tcp, 0x10))(w.adapter, &t.ctx[2],
                                                        nbl), ==, 0x103);
    g_assert_cmphex(w.sg_flags, ==, 1);         /* WRITE_TO_DEVICE */
    g_assert_cmpuint(peer_take(got, 3000), ==, 3000);
    g_assert_cmpmem(got, 3000, buf, 3000);

    /* The ACK completes it: status, bytes, the NB advanced */
    for (int i = 0; i < 100 && !w.sent; i++) {
        run_dpc();
    }
    g_assert(w.sent == nbl);
    g_assert_cmpint(w.send_calls, ==, 1);
    g_assert_cmphex(rd32(nbl + 0x8c), ==, 0);           /* SUCCESS */
    g_assert_cmpuint((uintptr_t)rdp(nbl, 0x90), ==, 3000);
    g_assert_cmpuint(rd32(nb + 0x18), ==, 0);           /* DataLength */
    g_assert_cmpuint(rd32(nb + 0x10), ==, 3000);

    /*
     * The peer sends 500 bytes: with no receive posted they are indicated
     * (and refused); a posted receive then gets them; the peer's FIN
     * becomes the disconnect event once they are delivered.
     */
    for (int i = 0; i < 500; i++) {
        got[i] = i ^ 0x5a;
    }
    peer_send(IRS + 1, ISS + 1 + 3000, 0x18, got, 500);
    for (int i = 0; i < 100 && !w.indicated; i++) {
        run_dpc();
    }
    g_assert_cmpuint(w.indicated, ==, 500);
    data = guest_alloc(&w.alloc, 2048);
    rnbl = nbl_new(mdl_new(w.ram + data, 2048), 0, 2048);
    g_assert_cmphex(((Fn3 *)rdp(w.provider_tcp, 0x18))(w.adapter, &t.ctx[2],
                                                        rnbl), ==, 0x103);
    g_assert_cmphex(w.sg_flags, ==, 0);         /* the device writes it */
    for (int i = 0; i < 100 && !w.received; i++) {
        run_dpc();
    }
    g_assert(w.received == rnbl);
    g_assert_cmphex(rd32(rnbl + 0x8c), ==, 0);
    g_assert_cmpuint((uintptr_t)rdp(rnbl, 0x90), ==, 500);
    g_assert_cmpmem(w.ram + data, 500, got, 500);
    peer_send(IRS + 1 + 500, ISS + 1 + 3000, 0x11, NULL, 0);
    for (int i = 0; i < 100 && !w.events; i++) {
        run_dpc();
    }
    g_assert_cmpuint(w.events, ==, 1);
    g_assert_cmpuint(w.last_event, ==, 2);     /* TcpIndicateDisconnect */

    /*
     * Scatter-gather resources run out: that send, and the ones after it,
     * complete as uploaded without going out, and the connection asks for
     * its upload.
     */
    w.sg_fail = true;
    w.sent = NULL;
    nbl = send_nbl();
    ((Fn3 *)rdp(w.provider_tcp, 0x10))(w.adapter, &t.ctx[2], nbl);
    wait_for(&w.sent);
    g_assert(w.sent == nbl);
    g_assert_cmphex(rd32(nbl + 0x8c), ==, 0xc0231001);  /* UPLOAD_IN_... */
    g_assert_cmpuint((uintptr_t)rdp(nbl, 0x90), ==, 0);
    g_assert_cmpuint(w.events, ==, 2);
    g_assert_cmpuint(w.last_event, ==, 3);     /* TcpIndicateRetrieve */
    w.sent = NULL;
    nbl = send_nbl();
    ((Fn3 *)rdp(w.provider_tcp, 0x10))(w.adapter, &t.ctx[2], nbl);
    wait_for(&w.sent);
    g_assert_cmphex(rd32(nbl + 0x8c), ==, 0xc0231001);
    g_assert_cmpuint(w.events, ==, 2);         /* asked once */

    /* MiniportTerminateOffload of the whole tree, dependents first */
    {
        void *ctx[3] = { t.ctx[0], t.ctx[1], t.ctx[2] };

        tree_init(&t, false);
        memcpy(t.ctx, ctx, sizeof(ctx));
        state(t.tcp, 0, 0x80);                  /* delegated, to fill */
    }
    ((Fn2v *)rdp(w.provider_generic, 0x10))(w.adapter, t.neighbor);
    for (int i = 0; i < 100 && !w.terminated; i++) {
        run_dpc();
    }
    g_assert(w.terminated == t.neighbor);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0);
    g_assert_cmphex(rd32(t.path + 0x18), ==, 0);
    g_assert_cmphex(rd32(t.neighbor + 0x18), ==, 0);
    d = t.tcp + 0x98;
    g_assert_cmpuint(rd32(d + 0x08), ==, 7);            /* CloseWait */
    g_assert_cmpuint(rd32(d + 0x18), ==, ISS + 1 + 3000);   /* SndUna */
    g_assert_cmpuint(rd32(d + 0x10), ==, IRS + 1 + 501);    /* RcvNxt */
    g_assert(!rdp(d, 0x70));                            /* BufferedData */

    miniport_down();
}

/*
 * The sample intermediate driver between the host and the miniport, as
 * NDIS stacks them: the host offloads and sends through chimney-im, which
 * passes it all down to chimneynic.sys and the device; the send
 * completion comes back up as a real ProtocolTcpOffloadSendComplete call
 * that chimney-im counts.
 */
static void test_windows_im_over_miniport(void)
{
    g_autofree char *nic = driver_path("chimneynic.sys");
    g_autofree char *imp = nic ? driver_path("chimneyim.sys") : NULL;
    uint8_t bind[0x100] = { 0 }, init[0x40] = { 0 }, caps[0x14] = { 0 };
    uint8_t name[16] = { 0 }, got[4096], *nbl, *d;
    static uint16_t adapter[] = u"\\Device\\{chimney-nic}";
    uint64_t *counters;
    Image mini, imi;
    void *entry;
    Tree t;

    if (!imp) {
        return;
    }
    setup();
    w.im_above = true;
    w.host = H_IM_VIRTUAL;
    miniport_up(&mini, nic);

    /* chimney-im loads, binds to the adapter and starts its own */
    entry = image_map(&imi, imp, im_mocks);
    g_assert_cmphex(((Fn2 *)entry)((void *)0x10, (void *)0x20), ==, 0);
    ((Fn2 *)rdp(w.im_mp_chars, 0x10))(H_IM_DRIVER, NULL);
    ((Fn2 *)rdp(w.im_proto_chars, 0x20))(H_IM_PROTOCOL, NULL);
    g_assert(w.im_provider_generic && w.im_provider_tcp &&
             w.im_client_generic && w.im_client_tcp);
    *(uint16_t *)name = sizeof(adapter) - 2;
    *(uint16_t *)(name + 2) = sizeof(adapter);
    wrp(name, 8, adapter);
    wrp(bind, 0x10, name);                      /* AdapterName */
    *(uint32_t *)(bind + 0x24) = 1500;          /* MtuSize */
    *(uint32_t *)(caps + 0x0c) = 64;            /* capacity */
    wrp(bind, 0xe8, caps);              /* TcpConnectionOffloadCapabilities */
    g_assert_cmphex(((Fn3 *)rdp(w.im_proto_chars, 0x28))(NULL,
                    (void *)0x5000, bind), ==, 0);
    g_assert(w.im_binding);
    wrp(init, 0x10, w.im_binding);              /* IMDeviceInstanceContext */
    g_assert_cmphex(((Fn3 *)rdp(w.im_mp_chars, 0x18))(H_IM_VIRTUAL, NULL,
                                                      init), ==, 0);
    ((Fn2 *)rdp(w.im_mp_chars, 0x38))(w.im_binding, NULL);

    /* The host offloads through chimney-im */
    tree_init(&t, true);
    ((Fn2v *)rdp(w.im_provider_generic, 0x08))(w.im_binding, t.neighbor);
    wait_for(&w.initiated);
    g_assert(w.initiated == t.neighbor);
    g_assert_cmphex(rd32(t.neighbor + 0x18), ==, 0);
    g_assert_cmphex(rd32(t.path + 0x18), ==, 0);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0);
    g_assert(rdp(t.tcp, 0x30) == &t.ctx[2] &&
             rdp(t.tcp, 0x38) == (void *)0xa2);
    g_assert(t.ctx[0] && t.ctx[1] && t.ctx[2]);

    /* ... and sends: the device's ACK-driven completion comes back up */
    nbl = send_nbl();
    g_assert_cmphex(((Fn3 *)rdp(w.im_provider_tcp, 0x10))(w.im_binding,
                    &t.ctx[2], nbl), ==, 0x103);
    g_assert_cmpuint(peer_take(got, 3000), ==, 3000);
    wait_for(&w.sent);
    g_assert(w.sent == nbl);
    g_assert_cmphex(rd32(nbl + 0x8c), ==, 0);
    g_assert_cmpuint((uintptr_t)rdp(nbl, 0x90), ==, 3000);

    counters = image_symbol(&imi, "chimney_im_counters");
    g_assert(counters);
    g_assert_cmpuint(counters[0], ==, 1);       /* send complete calls */
    g_assert_cmpuint(counters[1], ==, 1);       /* NBLs */
    g_assert_cmpuint(counters[2], ==, 1);       /* SUCCESS */
    g_assert_cmpuint(counters[6], ==, 3000);    /* bytes */
    g_assert_cmpuint(counters[7], ==, 1);       /* sends passed down */
    g_assert_cmpuint(counters[13], ==, 1);      /* connections offloaded */

    /* The host terminates the tree through chimney-im */
    {
        void *ctx[3] = { t.ctx[0], t.ctx[1], t.ctx[2] };

        tree_init(&t, false);
        memcpy(t.ctx, ctx, sizeof(ctx));
        state(t.tcp, 0, 0x80);
    }
    ((Fn2v *)rdp(w.im_provider_generic, 0x10))(w.im_binding, t.neighbor);
    wait_for(&w.terminated);
    g_assert(w.terminated == t.neighbor);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0);
    g_assert_cmphex(rd32(t.neighbor + 0x18), ==, 0);
    d = t.tcp + 0x98;
    g_assert_cmpuint(rd32(d + 0x18), ==, ISS + 1 + 3000);   /* SndUna */
    g_assert_cmpuint(counters[15], ==, 1);      /* terminated */
    miniport_down();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/chimney/windows/miniport", test_windows_miniport);
    qtest_add_func("/chimney/windows/im-over-miniport",
                   test_windows_im_over_miniport);
    return g_test_run();
}
