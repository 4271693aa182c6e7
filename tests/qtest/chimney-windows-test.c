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

#include "../windows/qtest-ndis.h"

/* --- the device, the wire, the clock --- */

static uint32_t mmio_readl(void *opaque, uint32_t off)
{
    uint32_t v;

    pthread_mutex_lock(&qt_mu);
    v = qtest_readl(w.qts, w.bar + off);
    pthread_mutex_unlock(&qt_mu);
    return v;
}

static void mmio_writel(void *opaque, uint32_t off, uint32_t val)
{
    pthread_mutex_lock(&qt_mu);
    qtest_writel(w.qts, w.bar + off, val);
    pthread_mutex_unlock(&qt_mu);
}

/* The DPC, as if the device had interrupted; time moves a little */
static void run_dpc(void)
{
    int old = nc_enter(NC_DISPATCH);

    ((Fn5v *)w.dpc)(w.dpc_ctx, 0, NULL, NULL, NULL);
    nc_leave(old);
    qt_step(100 * 1000);
}

/*
 * What the host stack hands a chimney target, as NDIS does it: at
 * DISPATCH_LEVEL, recorded so that it must come back exactly once.
 */
static void host_state(void *generic, void *ctx, int off, int kind,
                       uint8_t *root)
{
    int old = nc_enter(NC_DISPATCH);

    nc_give(root, kind, NULL);
    ((Fn2v *)rdp(generic, off))(ctx, root);
    nc_leave(old);
}

/* Send (0x10), receive (0x18), disconnect (0x20), forward (0x28) */
static void host_io(void *tcp, void *ctx, int off, int kind,
                    void **offload_ctx, uint8_t *nbl, void *conn)
{
    typedef WINAPI uint32_t IoFn(void *a, void *b, void *c, uint32_t d);
    int old = nc_enter(NC_DISPATCH);

    for (uint8_t *l = nbl; l; l = rdp(l, 0)) {
        nc_give(l, kind, conn);
    }
    nc_pending(((IoFn *)rdp(tcp, off))(ctx, offload_ctx, nbl, 0),
               "MiniportTcpOffloadXxx");
    nc_leave(old);
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

static void setup_dev(const char *dev_props)
{
    char path[] = "/dev/shm/chimney-windows-XXXXXX";
    int sv[2], fd = mkstemp(path);

    memset(&w, 0, sizeof(w));
    nc_reset();
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, RAM_SIZE), ==, 0);
    w.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    g_assert(w.ram != MAP_FAILED);
    g_assert_cmpint(socketpair(PF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    w.qts = qtest_initf("-M pc,memory-backend=ram -m 256M -nodefaults "
                        "-object memory-backend-file,id=ram,size=256M,"
                        "mem-path=%s,share=on "
                        "-netdev socket,fd=%d,id=n0 "
                        "-device chimney-nic,netdev=n0,id=nic0,mac=" DEV_MAC
                        "%s", path, sv[1], dev_props);
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

static void setup(void)
{
    setup_dev("");
}

/* --- the state tree as NDIS builds it --- */

#define ISS     50000u
#define IRS     777u
#define LPORT   40005
#define RPORT   5001
#define CONN    ((void *)0xa2)  /* the TCP block's NdisOffloadHandle */
#define CONN2   ((void *)0xa3)  /* a second connection's */

static const uint8_t dev_ip[4] = { 10, 0, 0, 1 };
static const uint8_t peer_ip[4] = { 10, 0, 0, 2 };

typedef struct Tree {
    uint8_t neighbor[0x98 + 0x2c + 0x2c + 0xc];
    uint8_t path[0x98 + 0x18 + 0xc + 0x8];
    uint8_t tcp[0x98 + 0x18 + 0x2c + 0x80];
    void *ctx[3];               /* where the target keeps its objects */
    uint8_t tcp2[0x98 + 0x18 + 0x2c + 0x80];    /* a sibling, if any */
    void *ctx2;
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

/* A TCP block of an established connection, from port @lport */
static void tcp_block_init(uint8_t *tcp, void **ctx, void *handle,
                           uint16_t lport, bool full)
{
    uint8_t *s;

    offload_block_init(tcp, 17, ctx, (uintptr_t)handle);
    if (!full) {
        return;
    }
    nc_conn_new(handle);
    s = state(tcp, 0, 0x18);                    /* const */
    *(uint16_t *)(s + 0xa) = htons(RPORT);
    *(uint16_t *)(s + 0xc) = htons(lport);
    *(uint16_t *)(s + 0x10) = 1000;             /* RemoteMss */
    s = state(tcp, 0x18, 0x2c);              /* cached */
    *(uint32_t *)(s + 0xc) = 65535;             /* InitialRcvWnd */
    s[0x28] = 64;                               /* TTL */
    s = state(tcp, 0x44, 0x80);              /* delegated */
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

    tcp_block_init(t->tcp, &t->ctx[2], CONN, LPORT, full);
}

/* The connection the peer talks to, by its local port */
static uint16_t peer_lport = LPORT;

static void peer_addr(QChimneyTcpAddr *a)
{
    static const uint8_t dev_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

    *a = (QChimneyTcpAddr) {
        .src_mac = (const uint8_t *)PEER_MAC, .dst_mac = dev_mac,
        .src_port = RPORT, .dst_port = peer_lport,
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

/*
 * The peer reads what the device sends from ISS + 1 + @from on and
 * acknowledges each round of it; @dpc says whether the driver's DPC runs
 * meanwhile (without it, completions wait in the CQ).
 */
static uint32_t peer_stream(uint8_t *got, uint32_t from, uint32_t want,
                            bool dpc)
{
    uint32_t have = 0, acked = 0;
    uint8_t fr[2048];
    size_t len;

    for (int i = 0; i < 200 + want / 1024 && have < want; i++) {
        if (dpc) {
            run_dpc();
        } else {
            qtest_clock_step(w.qts, 100 * 1000);
        }
        while (wire_poll(fr, sizeof(fr), &len)) {
            uint8_t *ip = fr + 14, *th = ip + 20;
            uint32_t tl = lduw_be_p(ip + 2) - 20, doff = (th[12] >> 4) * 4;
            uint32_t seq = ldl_be_p(th + 4);

            if (lduw_be_p(fr + 12) != 0x0800 || ip[9] != 6) {
                continue;
            }
            if (lduw_be_p(th) != peer_lport || lduw_be_p(th + 2) != RPORT) {
                continue;               /* not the connection's */
            }
            if (tl > doff && seq == ISS + 1 + from + have &&
                have + tl - doff <= want) {
                memcpy(got + have, th + doff, tl - doff);
                have += tl - doff;
            }
        }
        if (have != acked) {
            peer_send(IRS + 1, ISS + 1 + from + have, 0x10, NULL, 0);
            acked = have;
        }
    }
    return have;
}

static uint32_t peer_take(uint8_t *got, uint32_t want)
{
    return peer_stream(got, 0, want, true);
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
    stl_le_p(res + 4, 1);                       /* Count */
    res[8] = 3;                                 /* CmResourceTypeMemory */
    stq_le_p(res + 12, w.bar);                  /* unaligned in the list */
    stl_le_p(res + 20, CHIMNEY_MMIO_SIZE);
    wrp(init, 8, res);                          /* AllocatedResources */
    g_assert_cmphex(((Fn3 *)rdp(w.mp_chars, 0x18))(H_MINIPORT, NULL, init),
                    ==, 0);
    g_assert(w.adapter && w.dpc && w.sg_done);
    /* NDIS_STATISTICS_*_SUPPORTED: all but CRC errors and queue length */
    g_assert_cmphex(w.gen_stats, ==, 0x0879ffff);
    g_assert_cmphex(qtest_readl(w.qts, w.bar + CHIMNEY_REG_STATUS) &
                    CHIMNEY_STATUS_READY, ==, CHIMNEY_STATUS_READY);
    ((Fn2 *)rdp(w.mp_chars, 0x38))(w.adapter, NULL);    /* Restart */
}

/* MiniportHaltEx disables the device; then QEMU goes */
static void miniport_down(void)
{
    nc_all_back("the adapter's halt");
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
    host_state(w.provider_generic, w.adapter, 0x08, NC_INITIATE,
               t.neighbor);
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
    host_io(w.provider_tcp, w.adapter, 0x10, NC_SEND, &t.ctx[2], nbl,
            CONN);
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
    host_io(w.provider_tcp, w.adapter, 0x18, NC_RECEIVE, &t.ctx[2], rnbl,
            CONN);
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
    host_io(w.provider_tcp, w.adapter, 0x10, NC_SEND, &t.ctx[2], nbl,
            CONN);
    wait_for(&w.sent);
    g_assert(w.sent == nbl);
    g_assert_cmphex(rd32(nbl + 0x8c), ==, 0xc0231001);  /* UPLOAD_IN_... */
    g_assert_cmpuint((uintptr_t)rdp(nbl, 0x90), ==, 0);
    g_assert_cmpuint(w.events, ==, 2);
    g_assert_cmpuint(w.last_event, ==, 3);     /* TcpIndicateRetrieve */
    w.sent = NULL;
    nbl = send_nbl();
    host_io(w.provider_tcp, w.adapter, 0x10, NC_SEND, &t.ctx[2], nbl,
            CONN);
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
    nc_conn_terminating(CONN);
    host_state(w.provider_generic, w.adapter, 0x10, NC_TERMINATE,
               t.neighbor);
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
/* chimney-im loads, binds to the adapter and starts its own */
static void im_up(Image *imi, const char *imp)
{
    uint8_t bind[0x100] = { 0 }, init[0x40] = { 0 };
    static uint8_t caps[0x14], name[16];
    static uint16_t adapter[] = u"\\Device\\{chimney-nic}";
    void *entry;

    entry = image_map(imi, imp, im_mocks);
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
    memset(caps, 0, sizeof(caps));
    *(uint32_t *)(caps + 0x0c) = 64;            /* capacity */
    wrp(bind, 0xe8, caps);              /* TcpConnectionOffloadCapabilities */
    g_assert_cmphex(((Fn3 *)rdp(w.im_proto_chars, 0x28))(NULL,
                    (void *)0x5000, bind), ==, 0);
    g_assert(w.im_binding);
    wrp(init, 0x10, w.im_binding);              /* IMDeviceInstanceContext */
    g_assert_cmphex(((Fn3 *)rdp(w.im_mp_chars, 0x18))(H_IM_VIRTUAL, NULL,
                                                      init), ==, 0);
    ((Fn2 *)rdp(w.im_mp_chars, 0x38))(w.im_binding, NULL);
}

static void test_windows_im_over_miniport(void)
{
    g_autofree char *nic = driver_path("chimneynic.sys");
    g_autofree char *imp = nic ? driver_path("chimneyim.sys") : NULL;
    uint8_t got[4096], *nbl, *d;
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
    im_up(&imi, imp);

    /* The host offloads through chimney-im */
    tree_init(&t, true);
    host_state(w.im_provider_generic, w.im_binding, 0x08, NC_INITIATE,
               t.neighbor);
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
    host_io(w.im_provider_tcp, w.im_binding, 0x10, NC_SEND, &t.ctx[2], nbl,
            CONN);
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
    nc_conn_terminating(CONN);
    host_state(w.im_provider_generic, w.im_binding, 0x10, NC_TERMINATE,
               t.neighbor);
    wait_for(&w.terminated);
    g_assert(w.terminated == t.neighbor);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0);
    g_assert_cmphex(rd32(t.neighbor + 0x18), ==, 0);
    d = t.tcp + 0x98;
    g_assert_cmpuint(rd32(d + 0x18), ==, ISS + 1 + 3000);   /* SndUna */
    g_assert_cmpuint(counters[15], ==, 1);      /* terminated */
    miniport_down();
}

/*
 * An OID request to the miniport at PASSIVE_LEVEL (NDIS_OID_REQUEST,
 * x64: RequestType @4, Oid @0x20, buffer @0x28, its length @0x30,
 * BytesWritten/Read @0x34), waited for if it pends.
 */
static uint32_t mp_oid(uint32_t type, uint32_t id, void *buf, uint32_t len,
                       uint32_t *done)
{
    uint8_t req[0x60] = { 0x96, 1, 0x60 };
    uint32_t st;
    int old;

    *(uint32_t *)(req + 4) = type;
    *(uint32_t *)(req + 0x20) = id;
    wrp(req, 0x28, buf);
    *(uint32_t *)(req + 0x30) = len;
    nc_give(req, NC_OID, NULL);
    w.oid_done = NULL;
    old = nc_enter(NC_PASSIVE);
    st = ((Fn2 *)rdp(w.mp_chars, 0x40))(w.adapter, req);
    nc_leave(old);
    if (st == NC_PENDING) {
        /*
         * Bounded by wall time, not by DPC runs: under the stress test an
         * OID's admin command may queue behind queries that wait for the
         * peer thread's ACKs, and a loaded machine delays that thread.
         */
        int64_t end = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

        while (w.oid_done != req && g_get_monotonic_time() < end) {
            run_dpc();
        }
        g_assert(w.oid_done == req);
        st = w.oid_status;
    } else {
        nc_take(req, NC_OID, "the OID request's return");
    }
    *done = rd32(req + 0x34);
    return st;
}

/* TCP_OFFLOAD_STATS.CurrentlyEstablished (@16) as the miniport says */
static uint32_t established(void)
{
    uint8_t stats[40];
    uint32_t done;

    g_assert_cmphex(mp_oid(0, 0xfc010207, stats, sizeof(stats), &done), ==,
                    0);
    g_assert_cmpuint(done, ==, sizeof(stats));
    return rd32(stats + 16);
}

/* The tree of test_windows_miniport offloaded, initiate completed */
static void offload_tree(Tree *t, uint32_t want_status)
{
    w.initiated = NULL;
    tree_init(t, true);
    host_state(w.provider_generic, w.adapter, 0x08, NC_INITIATE,
               t->neighbor);
    wait_for(&w.initiated);
    g_assert(w.initiated == t->neighbor);
    g_assert_cmphex(rd32(t->neighbor + 0x18), ==, want_status);
    g_assert_cmphex(rd32(t->tcp + 0x18), ==, want_status);
}

static void terminate_tree(Tree *t)
{
    void *ctx[3] = { t->ctx[0], t->ctx[1], t->ctx[2] };

    w.terminated = NULL;
    tree_init(t, false);
    memcpy(t->ctx, ctx, sizeof(ctx));
    state(t->tcp, 0, 0x80);
    nc_conn_terminating(CONN);
    host_state(w.provider_generic, w.adapter, 0x10, NC_TERMINATE,
               t->neighbor);
    wait_for(&w.terminated);
    g_assert(w.terminated == t->neighbor);
}

/*
 * The offload target's OIDs at run time: TCP_OFFLOAD_STATS counts the
 * established connection; OID_TCP_OFFLOAD_PARAMETERS turns chimney off
 * (the current configuration is indicated, and the host asked to upload
 * what is offloaded; no initiate succeeds) and on again, without a
 * restart.
 */
static void test_windows_offload_oids(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    uint8_t params[20] = { 0 }, ip[64];
    uint32_t done;
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    offload_tree(&t, 0);
    g_assert_cmpuint(established(), ==, 1);
    g_assert_cmphex(mp_oid(0, 0xfc010209, ip, sizeof(ip), &done), ==, 0);
    g_assert_cmpuint(done, ==, sizeof(ip));

    params[13] = 1;                     /* TcpConnectionIPv4: DISABLED */
    params[14] = 1;                     /* TcpConnectionIPv6 too */
    w.statuses = 0;
    g_assert_cmphex(mp_oid(1, 0xfc01020c, params, sizeof(params), &done),
                    ==, 0);
    g_assert_cmpint(w.statuses, ==, 2);
    g_assert_cmphex(w.status_code, ==, 0x40020002);     /* UPLOAD_ALL */
    terminate_tree(&t);                 /* what the host does then */
    g_assert_cmpuint(established(), ==, 0);
    offload_tree(&t, 0xc0000001);       /* off: FAILURE */

    params[13] = 2;                     /* ENABLED */
    params[14] = 2;
    w.statuses = 0;
    g_assert_cmphex(mp_oid(1, 0xfc01020c, params, sizeof(params), &done),
                    ==, 0);
    g_assert_cmpint(w.statuses, ==, 1);
    g_assert_cmphex(w.status_code, ==, 0x40020006);     /* CURRENT_CONFIG */
    g_assert_cmphex(rd16(w.status_buf), ==, 0x01a7);    /* NDIS_OFFLOAD */
    offload_tree(&t, 0);
    g_assert_cmpuint(established(), ==, 1);
    terminate_tree(&t);
    miniport_down();
}

/*
 * One 1 MiB send, as the host hands a large write: its pages map to 257
 * scatter-gather elements, more than one SQ entry takes.  It goes out
 * byte-exact and completes once, with every byte and no upload.
 */
static void test_windows_send_1mib(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    const uint32_t len = 1024 * 1024;
    g_autofree uint8_t *got = g_malloc(len);
    uint8_t *buf, *nbl;
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    offload_tree(&t, 0);
    buf = w.ram + guest_alloc(&w.alloc, len + 8192) + 100;
    for (uint32_t i = 0; i < len; i++) {
        buf[i] = i * 13 + (i >> 11);
    }
    nbl = nbl_new(mdl_new(buf, len), 0, len);
    host_io(w.provider_tcp, w.adapter, 0x10, NC_SEND, &t.ctx[2], nbl, CONN);
    g_assert_cmpuint(w.sg_elems, ==, 257);
    g_assert_cmpuint(peer_stream(got, 0, len, true), ==, len);
    g_assert(!memcmp(got, buf, len));
    wait_for(&w.sent);
    g_assert(w.sent == nbl);
    g_assert_cmpint(w.send_calls, ==, 1);
    g_assert_cmphex(rd32(nbl + 0x8c), ==, 0);           /* SUCCESS */
    g_assert_cmpuint((uintptr_t)rdp(nbl, 0x90), ==, len);
    g_assert_cmpuint(w.events, ==, 0);                  /* no upload */
    terminate_tree(&t);
    miniport_down();
}

/* A segment of the connection the host received: an ACK, as an NBL */
static uint8_t *forward_nbl(void)
{
    uint8_t *th = w.ram + guest_alloc(&w.alloc, 64);

    memset(th, 0, 20);
    stw_be_p(th, RPORT);
    stw_be_p(th + 2, LPORT);
    stl_be_p(th + 4, IRS + 1);
    stl_be_p(th + 8, ISS + 1);
    th[12] = 5 << 4;
    th[13] = 0x10;
    stw_be_p(th + 14, 65535);
    return nbl_new(mdl_new(th, 20), 0, 20);
}

/*
 * A FORWARD made while the connection's TERMINATE is with the device:
 * the device no longer knows the connection and refuses the command on
 * the admin CQ.  The forwarded NBL still completes, once (the checked
 * mock finds it outstanding at the halt otherwise), and the forward slot
 * is free again.
 */
static void test_windows_forward_refused(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    uint8_t *fwd;
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    offload_tree(&t, 0);
    {
        void *ctx[3] = { t.ctx[0], t.ctx[1], t.ctx[2] };

        w.terminated = NULL;
        tree_init(&t, false);
        memcpy(t.ctx, ctx, sizeof(ctx));
        state(t.tcp, 0, 0x80);
    }
    host_state(w.provider_generic, w.adapter, 0x10, NC_TERMINATE,
               t.neighbor);
    fwd = forward_nbl();
    host_io(w.provider_tcp, w.adapter, 0x28, NC_FORWARD, &t.ctx[2], fwd,
            NULL);
    nc_conn_terminating(CONN);
    wait_for(&w.terminated);
    wait_for(&w.forwarded);
    g_assert(w.forwarded == fwd);
    g_assert_cmphex(w.fwd_status, !=, 0);
    miniport_down();
}

/*
 * The host takes every indication and posts no receive: each answer
 * (INDICATE_DONE, which has no completion) takes an RQ slot the driver
 * only learns is free from the next indication.  Twenty indications in a
 * row all reach the host (more than the RQ's 16 slots).
 */
static void test_windows_indications_taken(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    uint8_t data[100];
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    offload_tree(&t, 0);
    w.indicate_takes = true;
    for (uint32_t n = 0; n < 20; n++) {
        memset(data, n, sizeof(data));
        peer_send(IRS + 1 + n * 100, ISS + 1, 0x18, data, sizeof(data));
        for (int i = 0; i < 100 && w.indicated < (n + 1) * 100; i++) {
            run_dpc();
        }
        g_assert_cmpuint(w.indicated, ==, (n + 1) * 100);
    }
    terminate_tree(&t);
    miniport_down();
}

/*
 * The connection is invalidated (the device poisons it and fetches
 * nothing more); a send NDIS made meanwhile stays on the SQ unfetched.
 * The terminate that follows completes it, once, as uploaded.
 */
static void test_windows_terminate_poisoned(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    uint8_t inv[0x98] = { 0 }, *nbl;
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    offload_tree(&t, 0);
    offload_block_init(inv, 17, &t.ctx[2], (uintptr_t)CONN);
    host_state(w.provider_generic, w.adapter, 0x20, NC_INVALIDATE, inv);
    wait_for(&w.invalidated);
    g_assert_cmphex(rd32(inv + 0x18), ==, 0);
    nbl = send_nbl();
    host_io(w.provider_tcp, w.adapter, 0x10, NC_SEND, &t.ctx[2], nbl, CONN);
    for (int i = 0; i < 10; i++) {
        run_dpc();
    }
    g_assert(!w.sent);                          /* the device took nothing */
    terminate_tree(&t);
    wait_for(&w.sent);
    g_assert(w.sent == nbl);
    g_assert_cmphex(rd32(nbl + 0x8c), ==, 0xc0231001);  /* UPLOAD_IN_... */
    g_assert_cmpuint((uintptr_t)rdp(nbl, 0x90), ==, 0);
    miniport_down();
}

/* A neighbor block alone (no dependents), to the MAC @mac; its status */
static uint32_t neighbor_op(uint32_t off, int kind, void **ctx, uintptr_t h,
                            const char *mac)
{
    uint8_t b[0x98 + 0x2c + 0x2c + 0xc] = { 0 };

    offload_block_init(b, 4, ctx, h);
    state(b, 0, 0x2c);
    memcpy(state(b, 0x2c, 0x2c) + 8, mac, 6);
    state(b, 0x58, 0xc);
    w.initiated = w.terminated = w.invalidated = NULL;
    host_state(w.provider_generic, w.adapter, off, kind, b);
    wait_for(kind == NC_INITIATE ? &w.initiated : kind == NC_TERMINATE ?
             &w.terminated : &w.invalidated);
    return rd32(b + 0x18);
}

/*
 * The next hop changes (NDIS's sequence): the old neighbor is invalidated
 * (its connection asks for its upload), the new one offloaded, an update
 * tree rooted at it with the path as dependent relinks the path, and the
 * old neighbor then terminates.  A neighbor the device still holds fails
 * its terminate and keeps its slot, so that it is terminated later and
 * its id is not reused under the device's feet.
 */
static void test_windows_relink(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    uint8_t up[0x98 + 0x2c], upath[0x98 + 0xc];
    void *nb2 = NULL, *nb3 = NULL, *nb4 = NULL;
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    offload_tree(&t, 0);
    g_assert_cmphex(neighbor_op(0x20, NC_INVALIDATE, &t.ctx[0], 0xa0,
                                PEER_MAC), ==, 0);
    for (int i = 0; i < 100 && !w.events; i++) {
        run_dpc();
    }
    g_assert_cmpuint(w.last_event, ==, 3);     /* TcpIndicateRetrieve */
    g_assert_cmphex(neighbor_op(0x08, NC_INITIATE, &nb2, 0xa4,
                                "\x52\x54\x00\xaa\xbb\xcc"), ==, 0);

    memset(up, 0, sizeof(up));
    memset(upath, 0, sizeof(upath));
    offload_block_init(up, 4, &nb2, 0xa4);
    memcpy(state(up, 0, 0x2c) + 8, "\x52\x54\x00\xaa\xbb\xcc", 6);
    wrp(up, 0x10, upath);
    offload_block_init(upath, 8, &t.ctx[1], 0xa1);
    *(uint32_t *)(state(upath, 0, 0xc) + 8) = 1500;
    w.updated = NULL;
    host_state(w.provider_generic, w.adapter, 0x18, NC_UPDATE, up);
    wait_for(&w.updated);
    g_assert_cmphex(rd32(up + 0x18), ==, 0);
    g_assert_cmphex(rd32(upath + 0x18), ==, 0);

    /* The old neighbor is free; the new one is the path's */
    g_assert_cmphex(neighbor_op(0x10, NC_TERMINATE, &t.ctx[0], 0xa0,
                                PEER_MAC), ==, 0);
    g_assert_cmphex(neighbor_op(0x10, NC_TERMINATE, &nb2, 0xa4,
                                PEER_MAC), ==, 0xc0000001);
    t.ctx[0] = nb2;
    terminate_tree(&t);
    g_assert_cmphex(rd32(t.neighbor + 0x18), ==, 0);
    g_assert_cmphex(rd32(t.path + 0x18), ==, 0);
    /* Both device ids were given back: two neighbors offload */
    g_assert_cmphex(neighbor_op(0x08, NC_INITIATE, &nb3, 0xa5, PEER_MAC), ==,
                    0);
    g_assert_cmphex(neighbor_op(0x08, NC_INITIATE, &nb4, 0xa6, PEER_MAC), ==,
                    0);
    g_assert_cmphex(neighbor_op(0x10, NC_TERMINATE, &nb3, 0xa5, PEER_MAC), ==,
                    0);
    g_assert_cmphex(neighbor_op(0x10, NC_TERMINATE, &nb4, 0xa6, PEER_MAC), ==,
                    0);
    miniport_down();
}

#define MANY    70      /* connections: more than the 64 of old */
#define TCP_BLOCK (0x98 + 0x18 + 0x2c + 0x80)

/* Initiate (or terminate) MANY connections under the tree's path */
static void many_op(Tree *t, uint8_t *blocks, void **ctx, bool init)
{
    for (int i = 0; i < MANY; i++) {
        uint8_t *b = blocks + i * TCP_BLOCK;
        void *h = (void *)(uintptr_t)(0x1000 + i);

        memset(b, 0, TCP_BLOCK);
        tcp_block_init(b, &ctx[i], h, LPORT + 1 + i, init);
        if (!init) {
            state(b, 0, 0x80);
            nc_conn_terminating(h);
        }
        if (i) {
            wrp(b - TCP_BLOCK, 0x08, b);        /* NextBlock */
        }
    }
    wrp(t->path, 0x10, blocks);
    w.initiated = w.terminated = NULL;
    host_state(w.provider_generic, w.adapter, init ? 0x08 : 0x10,
               init ? NC_INITIATE : NC_TERMINATE, t->neighbor);
    wait_for(init ? &w.initiated : &w.terminated);
    for (int i = 0; i < MANY; i++) {
        g_assert_cmphex(rd32(blocks + i * TCP_BLOCK + 0x18), ==, 0);
    }
}

/*
 * The connections the adapter takes: min(the device's max-conns, the
 * MaxOffloadConnections keyword, 256 without it), offered as
 * TcpConnectionOffloadCapacity; more than the 64 of old offload.
 */
static void test_windows_capacity(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    g_autofree uint8_t *blocks = g_malloc0(MANY * TCP_BLOCK);
    void *ctx[MANY] = { 0 }, *nb, *pa;
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup_dev(",max-conns=40");
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    g_assert_cmpuint(w.tcp_capacity, ==, 40);
    miniport_down();

    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    g_assert_cmpuint(w.tcp_capacity, ==, 256);
    miniport_down();

    setup();
    w.host = H_MINIPORT;
    w.kw_max_offloads = 100;
    miniport_up(&im, path);
    g_assert_cmpuint(w.tcp_capacity, ==, 100);
    tree_init(&t, false);
    many_op(&t, blocks, ctx, true);
    g_assert_cmpuint(established(), ==, MANY);
    nb = t.ctx[0];
    pa = t.ctx[1];
    tree_init(&t, false);
    t.ctx[0] = nb;
    t.ctx[1] = pa;
    many_op(&t, blocks, ctx, false);
    g_assert_cmpuint(established(), ==, 0);
    miniport_down();
}

/* The neighbor's NicReachabilityDelta, from MiniportQueryOffload */
static uint32_t nic_reachability(Tree *t)
{
    uint8_t q[0x98 + 0xc] = { 0 };

    offload_block_init(q, 4, &t->ctx[0], 0xa0);
    state(q, 0, 0xc);
    w.queried = NULL;
    host_state(w.provider_generic, w.adapter, 0x28, NC_QUERY, q);
    wait_for(&w.queried);
    g_assert_cmphex(rd32(q + 0x18), ==, 0);
    return rd32(q + 0x98 + 8);
}

/*
 * NicReachabilityDelta: TCP ticks (100 a second here) since a connection
 * over the neighbor last made forward progress.
 */
static void test_windows_neighbor_reachability(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    uint8_t data[100] = { 0 };
    uint32_t before;
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    offload_tree(&t, 0);
    before = nic_reachability(&t);
    qtest_clock_step(w.qts, 2000000000ll);
    g_assert_cmpuint(nic_reachability(&t), >=, before + 195);
    peer_send(IRS + 1, ISS + 1, 0x18, data, sizeof(data));
    for (int i = 0; i < 100 && !w.indicated; i++) {
        run_dpc();
    }
    g_assert_cmpuint(w.indicated, ==, 100);
    g_assert_cmpuint(nic_reachability(&t), <, 10);
    terminate_tree(&t);
    miniport_down();
}

/*
 * TCP_OFFLOAD_STATE_CONST's ports in host byte order (the DDI page does
 * not say which): the host stack's last segment of the connection went
 * out through the miniport, which sees the ports do not match the
 * documented order and uses the other, so the data goes out to the right
 * port.
 */
static void test_windows_port_order(void)
{
    static const uint8_t dev_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    g_autofree char *path = driver_path("chimneynic.sys");
    QChimneyTcpAddr a = {
        .src_mac = dev_mac, .dst_mac = (const uint8_t *)PEER_MAC,
        .src_port = LPORT, .dst_port = RPORT,
    };
    typedef WINAPI void SendFn(void *a, void *nbl, uint32_t port,
                               uint32_t flags);
    uint8_t *frame, *nbl, got[4096];
    uint32_t done;
    size_t len;
    Image im;
    Tree t;
    int old;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);

    /* The handshake's last ACK, sent by the host stack on the plain path */
    memcpy(&a.src_ip, dev_ip, 4);
    memcpy(&a.dst_ip, peer_ip, 4);
    frame = w.ram + guest_alloc(&w.alloc, 2048);
    len = qchimney_tcp_data_frame(frame, &a, ISS + 1, IRS + 1, 0x10, 65535,
                                  NULL, 0, NULL, 0);
    nbl = nbl_new(mdl_new(frame, len), 0, len);
    old = nc_enter(NC_DISPATCH);
    ((SendFn *)rdp(w.mp_chars, 0x48))(w.adapter, nbl, 0, 0);
    nc_leave(old);
    wait_for(&w.l2_sent);

    /* The offload gives the ports in the CPU's order */
    w.initiated = NULL;
    tree_init(&t, true);
    *(uint16_t *)(t.tcp + 0x98 + 0xa) = RPORT;
    *(uint16_t *)(t.tcp + 0x98 + 0xc) = LPORT;
    host_state(w.provider_generic, w.adapter, 0x08, NC_INITIATE,
               t.neighbor);
    wait_for(&w.initiated);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0);
    nbl = send_nbl();
    host_io(w.provider_tcp, w.adapter, 0x10, NC_SEND, &t.ctx[2], nbl, CONN);
    g_assert_cmpuint(peer_take(got, 3000), ==, 3000);
    wait_for(&w.sent);
    g_assert(w.sent == nbl);

    /* The device's counts in the offload statistics; a set resets them */
    g_assert_cmphex(mp_oid(0, 0xfc010207, got, 40, &done), ==, 0);
    g_assert_cmpuint(*(uint64_t *)(got + 8), >=, 3);    /* OutSegments */
    g_assert_cmpuint(*(uint64_t *)got, >=, 1);          /* InSegments */
    g_assert_cmphex(mp_oid(0, 0xfc010209, got, 64, &done), ==, 0);
    g_assert_cmpuint(*(uint64_t *)(got + 32), >=, 3000 + 3 * 40);
    g_assert_cmphex(mp_oid(1, 0xfc010207, got, 40, &done), ==, 0);
    g_assert_cmphex(mp_oid(0, 0xfc010207, got, 40, &done), ==, 0);
    g_assert_cmpuint(*(uint64_t *)(got + 8), ==, 0);
    terminate_tree(&t);
    miniport_down();
}

/*
 * MiniportUpdateOffload of the connection's TCP_OFFLOAD_STATE_CACHED in a
 * block of @type: @flags, the flow label, TTL or hop limit and 802.1p
 * priority; its status
 */
static uint32_t update_tcp_cached(Tree *t, int type, uint16_t flags,
                                  uint32_t flow, uint8_t ttl, uint8_t priority)
{
    uint8_t up[0x98 + 0x2c] = { 0 }, *s;

    offload_block_init(up, type, &t->ctx[2], (uintptr_t)CONN);
    s = state(up, 0, 0x2c);
    *(uint16_t *)(s + 8) = flags;
    *(uint32_t *)(s + 0xc) = 65535;             /* InitialRcvWnd */
    *(uint32_t *)(s + 0x24) = flow;             /* FlowLabel */
    s[0x28] = ttl;                              /* TtlOrHopLimit */
    s[0x2a] = priority;                         /* UserPriority */
    w.updated = NULL;
    host_state(w.provider_generic, w.adapter, 0x18, NC_UPDATE, up);
    wait_for(&w.updated);
    return rd32(up + 0x18);
}

static uint32_t update_cached(Tree *t, uint16_t flags, uint8_t priority)
{
    return update_tcp_cached(t, 17, flags, 0, 64, priority);
}

/*
 * Cached settings the device has no field for (the restart flags,
 * UPDATE_RCV_WND, and an 802.1p priority on a device without
 * CHIMNEY_FEAT_8021Q) are refused, not dropped: that update fails (the
 * host then uploads the connection), an offload with a priority fails
 * (the host keeps the connection).  With 802.1Q the priority is taken.
 */
static void test_windows_cached_unsupported(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    uint32_t prio_st;
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    prio_st = qtest_readl(w.qts, w.bar + CHIMNEY_REG_FEATURES) &
              CHIMNEY_FEAT_8021Q ? 0 : 0xc0000001;
    offload_tree(&t, 0);
    g_assert_cmphex(update_cached(&t, 0x1, 0), ==, 0);       /* keepalive */
    g_assert_cmphex(update_cached(&t, 0x1 | 0x4, 0), ==, 0xc0000001);
    g_assert_cmphex(update_cached(&t, 0x8, 0), ==, 0xc0000001);
    g_assert_cmphex(update_cached(&t, 0x10, 0), ==, 0xc0000001);
    g_assert_cmphex(update_cached(&t, 0, 3), ==, prio_st);
    terminate_tree(&t);
    if (!prio_st) {
        miniport_down();
        return;
    }

    w.initiated = NULL;
    tree_init(&t, true);
    t.tcp[0x98 + 0x18 + 0x2a] = 3;              /* UserPriority */
    host_state(w.provider_generic, w.adapter, 0x08, NC_INITIATE,
               t.neighbor);
    wait_for(&w.initiated);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0xc0000001);
    g_assert_cmphex(rd32(t.path + 0x18), ==, 0x40020004);   /* partial */
    {
        void *ctx[2] = { t.ctx[0], t.ctx[1] };

        w.terminated = NULL;
        tree_init(&t, false);
        t.ctx[0] = ctx[0];
        t.ctx[1] = ctx[1];
        wrp(t.path, 0x10, NULL);                /* no connection */
        host_state(w.provider_generic, w.adapter, 0x10, NC_TERMINATE,
                   t.neighbor);
        wait_for(&w.terminated);
    }
    miniport_down();
}

/* A scatter-gather list NDIS had not given yet, given now */
static void sg_release(void)
{
    int old = nc_enter(NC_DISPATCH);

    ((SgFn *)w.sg_done)(NULL, NULL, w.sg_deferred, w.sg_deferred_ctx);
    nc_leave(old);
    w.sg_deferred = NULL;
}

/*
 * A tree of two connections, each with sends NDIS hands over with the
 * offload (NetBufferListChain).  The first connection's go out as soon as
 * the device has it; the second's cannot be offloaded before its
 * handed-over send is mapped, and NDIS takes its time with that mapping.
 * The first connection's send completion is then in the CQ long before
 * the tree is done: the host must hear of it only after
 * NdisMInitiateOffloadComplete (the checked mock fails the test
 * otherwise).
 */
static void test_windows_handover_held(void)
{
    g_autofree char *path = driver_path("chimneynic.sys");
    uint8_t *nbl, *nbl2, got[4096];
    void *ctx[4];
    Image im;
    Tree t;

    if (!path) {
        return;
    }
    setup();
    w.host = H_MINIPORT;
    miniport_up(&im, path);
    tree_init(&t, true);
    tcp_block_init(t.tcp2, &t.ctx2, CONN2, LPORT + 1, true);
    wrp(t.tcp, 0x08, t.tcp2);                   /* NextBlock */
    nbl = send_nbl();
    wrp(t.tcp, 0x90, nbl);                      /* NetBufferListChain */
    nc_give(nbl, NC_SEND, CONN);
    nbl2 = send_nbl();
    wrp(t.tcp2, 0x90, nbl2);
    nc_give(nbl2, NC_SEND, CONN2);
    w.sg_defer_at = 2;
    host_state(w.provider_generic, w.adapter, 0x08, NC_INITIATE,
               t.neighbor);

    /* The peer takes the data and acknowledges it; the DPC runs */
    g_assert_cmpuint(peer_take(got, 3000), ==, 3000);
    for (int i = 0; i < 20; i++) {
        run_dpc();
    }
    g_assert(!w.initiated);
    g_assert(w.sg_deferred);
    g_assert(!w.sent);                          /* held back */
    sg_release();
    wait_for(&w.initiated);
    wait_for(&w.sent);
    g_assert(w.sent == nbl);
    g_assert_cmphex(rd32(nbl + 0x8c), ==, 0);
    g_assert_cmpuint((uintptr_t)rdp(nbl, 0x90), ==, 3000);
    g_assert_cmphex(rd32(t.tcp + 0x18), ==, 0);
    g_assert_cmphex(rd32(t.tcp2 + 0x18), ==, 0);
    w.sent = NULL;
    peer_lport = LPORT + 1;
    g_assert_cmpuint(peer_stream(got, 0, 3000, true), ==, 3000);
    wait_for(&w.sent);
    peer_lport = LPORT;
    g_assert(w.sent == nbl2);

    memcpy(ctx, t.ctx, sizeof(t.ctx));
    ctx[3] = t.ctx2;
    tree_init(&t, false);
    memcpy(t.ctx, ctx, sizeof(t.ctx));
    tcp_block_init(t.tcp2, &t.ctx2, CONN2, LPORT + 1, false);
    t.ctx2 = ctx[3];
    wrp(t.tcp, 0x08, t.tcp2);
    state(t.tcp, 0, 0x80);
    state(t.tcp2, 0, 0x80);
    nc_conn_terminating(CONN);
    nc_conn_terminating(CONN2);
    host_state(w.provider_generic, w.adapter, 0x10, NC_TERMINATE,
               t.neighbor);
    wait_for(&w.terminated);
    miniport_down();
}

#include "../windows/qtest-stress.h"
#include "../windows/qtest-ipv6.h"

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/chimney/windows/miniport", test_windows_miniport);
    qtest_add_func("/chimney/windows/im-over-miniport",
                   test_windows_im_over_miniport);
    qtest_add_func("/chimney/windows/handover-held",
                   test_windows_handover_held);
    qtest_add_func("/chimney/windows/offload-oids",
                   test_windows_offload_oids);
    qtest_add_func("/chimney/windows/send-1mib", test_windows_send_1mib);
    qtest_add_func("/chimney/windows/forward-refused",
                   test_windows_forward_refused);
    qtest_add_func("/chimney/windows/indications-taken",
                   test_windows_indications_taken);
    qtest_add_func("/chimney/windows/terminate-poisoned",
                   test_windows_terminate_poisoned);
    qtest_add_func("/chimney/windows/neighbor-reachability",
                   test_windows_neighbor_reachability);
    qtest_add_func("/chimney/windows/port-order", test_windows_port_order);
    qtest_add_func("/chimney/windows/relink", test_windows_relink);
    qtest_add_func("/chimney/windows/capacity", test_windows_capacity);
    qtest_add_func("/chimney/windows/cached-unsupported",
                   test_windows_cached_unsupported);
    qtest_add_func("/chimney/windows/stress", test_windows_stress);
    qtest_add_func("/chimney/windows/ipv6-refused",
                   test_windows_ipv6_refused);
    qtest_add_func("/chimney/windows/ipv6-offload",
                   test_windows_ipv6_offload);
    qtest_add_func("/chimney/windows/ipv6-path-mtu",
                   test_windows_ipv6_path_mtu);
    qtest_add_func("/chimney/windows/ipv6-vlan", test_windows_ipv6_vlan);
    qtest_add_func("/chimney/windows/ipv6-im", test_windows_ipv6_im);
    return g_test_run();
}
