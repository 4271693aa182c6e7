/*
 * libqos chimney-nic against the Linux kernel's TCP, behind a lossy relay
 *
 * See chimney-relay.h.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "chimney-relay.h"

#ifdef CONFIG_LINUX

#include <poll.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include "qemu/sockets.h"
#include "qemu/iov.h"
#include "qemu/bswap.h"
#include "qemu/atomic.h"
#include "qemu/cutils.h"
#include "../libqtest.h"
#include <sched.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>

#define RELAY_FRAME_MAX (10 + 14 + 65535)

/*
 * The sink: the kernel's TCP in the namespace (IPv4 and IPv6 on one
 * socket), one thread per connection
 * that hashes what arrives (and with echo sends it back), then prints
 * "port bytes sha256" and closes.
 */
static const char kernel_sink_py[] =
    "import socket, sys, hashlib, threading, time, signal\n"
    "signal.alarm(300)\n"
    "n, rcvbuf, slow = int(sys.argv[1]), int(sys.argv[2]), "
    "float(sys.argv[3])\n"
    "echo = sys.argv[4] == '1'\n"
    "s = socket.socket(socket.AF_INET6)\n"
    "s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "if rcvbuf: s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)\n"
    "s.bind(('::', 5001)); s.listen(n); print('ready', flush=True)\n"
    "def serve(c, a):\n"
    "    h, t = hashlib.sha256(), 0\n"
    "    while True:\n"
    "        d = c.recv(1024 if slow else 65536)\n"
    "        if not d: break\n"
    "        h.update(d); t += len(d)\n"
    "        if echo: c.sendall(d)\n"
    "        if slow and t >= 65536 and t - len(d) < 65536: time.sleep(1.5)\n"
    "        elif slow: time.sleep(slow)\n"
    /*
     * One write per line, under a lock: unbuffered (PYTHONUNBUFFERED),
     * print() writes each of its pieces alone, and two streams ending
     * together interleaved their lines ("40001 40000 8388608 ...")
     */
    "    with out_lock:\n"
    "        sys.stdout.write('%d %d %s\\n' % (a[1], t, h.hexdigest()))\n"
    "        sys.stdout.flush()\n"
    "    c.close()\n"
    "out_lock = threading.Lock()\n"
    "ts = []\n"
    "for i in range(n):\n"
    "    c, a = s.accept()\n"
    "    ts.append(threading.Thread(target=serve, args=(c, a)))\n"
    "    ts[-1].start()\n"
    "for t in ts: t.join()\n";

/* An untagged frame's TCP: IPv4 or IPv6 */
static bool relay_is_tcp(const uint8_t *f, size_t len)
{
    return (len > 34 && lduw_be_p(f + 12) == 0x0800 && f[23] == 6) ||
           (len > 54 && lduw_be_p(f + 12) == 0x86dd && f[20] == 6);
}

/*
 * The wire carries IPv4, ARP and IPv6 TCP, neighbor discovery and
 * ICMPv6 errors; none of the kernel's other IPv6 chatter (router and
 * multicast listener messages), which the model host stack does not
 * expect.
 */
static bool relay_carries(const uint8_t *f, size_t len)
{
    uint16_t type = len >= 14 ? lduw_be_p(f + 12) : 0;

    if (type == 0x0800 || type == 0x0806) {
        return true;
    }
    if (type != 0x86dd || len < 14 + 40 + 4) {
        return false;
    }
    /* no duplicate address detection either (from ::) */
    return f[20] == 6 ||
           (f[20] == 58 && (f[54] <= 4 || f[54] == 135 || f[54] == 136) &&
            !buffer_is_zero(f + 22, 16));
}

/*
 * With a VLAN id the relay is the switch's access port of that VLAN: a
 * frame from QEMU must carry the tag (its priority is noted) and leaves
 * untagged; a frame from the tap gets the tag.  Returns the new length,
 * 0 to drop.
 */
static size_t relay_vlan(QChimneyRelay *r, uint8_t *f, size_t len, int dir)
{
    uint16_t vlan = qatomic_read(&r->vlan);

    if (!vlan) {
        return len;
    }
    if (dir == 0) {
        if (len < 18 || lduw_be_p(f + 12) != 0x8100 ||
            (lduw_be_p(f + 14) & 0xfff) != vlan) {
            r->mistagged++;
            return 0;
        }
        if (relay_is_tcp(f + 4, len - 4)) {
            qatomic_or(&r->tcp_pcp_seen, 1u << (f[14] >> 5));
        }
        memmove(f + 12, f + 16, len - 16);
        return len - 4;
    }
    memmove(f + 16, f + 12, len - 12);
    stw_be_p(f + 12, 0x8100);
    stw_be_p(f + 14, vlan);
    return len + 4;
}

static bool relay_fate(QChimneyRelay *r, const uint8_t *f, size_t len,
                       bool *twice, bool *hold)
{
    bool tcp = relay_is_tcp(f, len);

    *twice = *hold = false;
    if (!qatomic_read(&r->lossy) || !tcp) {
        return true;
    }
    if (g_rand_double(r->rand) < r->loss) {
        r->dropped++;
        return false;
    }
    *twice = g_rand_double(r->rand) < r->dup;
    *hold = g_rand_double(r->rand) < r->reorder;
    r->duplicated += *twice;
    r->reordered += *hold;
    return true;
}

/* A frame to QEMU; @hdr bytes of virtio-net header lead it in vnet mode */
static void relay_to_qemu(QChimneyRelay *r, const uint8_t *f, size_t len)
{
    uint32_t be = htonl(len);
    struct iovec iov[] = {
        { .iov_base = &be, .iov_len = 4 },
        { .iov_base = (void *)f, .iov_len = len },
    };
    void (*to_qemu)(void *, const uint8_t *, size_t) =
        qatomic_load_acquire(&r->to_qemu);

    if (to_qemu) {
        to_qemu(r->opaque, f + r->hdr, len - r->hdr);
    }
    if (r->hdr) {
        g_assert_cmpint(send(r->sock, f, len, 0), ==, len);
        return;
    }
    iov_send(r->sock, iov, 2, 0, 4 + len);
}

static gpointer relay_thread(gpointer opaque)
{
    QChimneyRelay *r = opaque;
    /* in vnet mode, 64 KiB super-frames behind their header; a tag */
    g_autofree uint8_t *f = g_malloc(RELAY_FRAME_MAX + 4);
    g_autofree uint8_t *held_buf = g_malloc(2 * (RELAY_FRAME_MAX + 4));
    uint8_t *held[2] = { held_buf, held_buf + RELAY_FRAME_MAX + 4 };
    size_t held_len[2] = { 0, 0 };

    while (!qatomic_read(&r->stop)) {
        struct pollfd pfd[2] = {
            { .fd = r->sock, .events = POLLIN },
            { .fd = r->tap, .events = POLLIN },
        };

        if (poll(pfd, 2, 50) <= 0) {
            continue;
        }
        for (int dir = 0; dir < 2; dir++) {
            ssize_t len;
            bool twice, hold;

            if (!(pfd[dir].revents & POLLIN)) {
                continue;
            }
            if (dir == 0 && r->hdr) {
                len = recv(r->sock, f, RELAY_FRAME_MAX, 0);
                if (len <= 0) {
                    continue;
                }
            } else if (dir == 0) {
                uint32_t be;

                if (recv(r->sock, &be, 4, MSG_WAITALL) != 4) {
                    return NULL;
                }
                len = ntohl(be);
                g_assert_cmpint(len, <=, RELAY_FRAME_MAX);
                g_assert_cmpint(recv(r->sock, f, len, MSG_WAITALL), ==, len);
            } else {
                len = read(r->tap, f, RELAY_FRAME_MAX);    /* room for a tag */
                if (len <= 0) {
                    continue;
                }
            }
            /* decided on the untagged frame, tagged towards QEMU after */
            if (dir == 0) {
                len = r->hdr + relay_vlan(r, f + r->hdr, len - r->hdr, dir);
            }
            if (!relay_carries(f + r->hdr, len - r->hdr) ||
                !relay_fate(r, f + r->hdr, len - r->hdr, &twice, &hold)) {
                continue;
            }
            if (dir == 1) {
                len = r->hdr + relay_vlan(r, f + r->hdr, len - r->hdr, dir);
            }
            if (hold && !held_len[dir]) {
                memcpy(held[dir], f, len);      /* goes after the next one */
                held_len[dir] = len;
                continue;
            }
            for (int n = 0; n < 1 + twice; n++) {
                if (dir == 0) {
                    g_assert_cmpint(write(r->tap, f, len), ==, len);
                } else {
                    relay_to_qemu(r, f, len);
                }
            }
            if (held_len[dir]) {
                if (dir == 0) {
                    g_assert_cmpint(write(r->tap, held[dir], held_len[dir]),
                                    ==, held_len[dir]);
                } else {
                    relay_to_qemu(r, held[dir], held_len[dir]);
                }
                held_len[dir] = 0;
            }
        }
    }
    return NULL;
}

static bool run_cmd(const char *cmd)
{
    g_autofree char *out = NULL, *err = NULL;
    int status;

    if (!g_spawn_command_line_sync(cmd, &out, &err, &status, NULL) ||
        !WIFEXITED(status) || WEXITSTATUS(status)) {
        g_test_message("'%s' failed: %s", cmd, err ? err : "");
        return false;
    }
    return true;
}

const char *qchimney_kernel_peer_unusable(void)
{
    g_autofree char *ip = g_find_program_in_path("ip");

    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) || !ip) {
        return "needs root, /dev/net/tun and ip(8) for a tap in a network "
               "namespace";
    }
    return NULL;
}

static void G_GNUC_PRINTF(1, 2) ip_cmd(const char *fmt, ...)
{
    g_autofree char *cmd = NULL;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_assert(run_cmd(cmd));
}

static void kernel_peer_start(QChimneyKernelPeer *k, int conns, int rcvbuf,
                              const char *slow, bool echo, bool vnet_hdr,
                              bool direct);

void qchimney_kernel_peer_start(QChimneyKernelPeer *k, int conns, int rcvbuf,
                                const char *slow, bool echo)
{
    kernel_peer_start(k, conns, rcvbuf, slow, echo, false, false);
}

void qchimney_kernel_peer_start_tap(QChimneyKernelPeer *k, int conns,
                                    int rcvbuf, const char *slow, bool echo,
                                    bool vnet_hdr)
{
    kernel_peer_start(k, conns, rcvbuf, slow, echo, vnet_hdr, true);
}

/* @direct: QEMU's tap netdev, no relay that keeps only IPv4 and ARP */
static void kernel_peer_start(QChimneyKernelPeer *k, int conns, int rcvbuf,
                              const char *slow, bool echo, bool vnet_hdr,
                              bool direct)
{
    struct ifreq ifr = {
        .ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0),
    };
    g_autofree char *nconn = g_strdup_printf("%d", conns);
    g_autofree char *nrcvbuf = g_strdup_printf("%d", rcvbuf);
    const char *argv[] = {
        "ip", "netns", "exec", NULL, "/usr/bin/python3", "-c",
        kernel_sink_py, nconn, nrcvbuf, slow, echo ? "1" : "0", NULL,
    };
    char line[256];
    int out_fd;

    k->ns = g_strdup_printf("chimney%d", getpid());
    k->tap = g_strdup_printf("chtap%d", getpid() % 100000);
    /* The namespace, its tap and the kernel's TCP sink */
    k->tap_fd = open("/dev/net/tun", O_RDWR);
    g_assert_cmpint(k->tap_fd, >=, 0);
    pstrcpy(ifr.ifr_name, IFNAMSIZ, k->tap);
    g_assert_cmpint(ioctl(k->tap_fd, TUNSETIFF, &ifr), ==, 0);
    ip_cmd("ip netns add %s", k->ns);
    ip_cmd("ip link set %s netns %s", k->tap, k->ns);
    if (direct) {
        /*
         * No relay filters the kernel's IPv6 chatter, which the model
         * driver's host stack does not expect: IPv4 only
         */
        ip_cmd("ip netns exec %s sysctl -qw net.ipv6.conf.%s.disable_ipv6=1",
               k->ns, k->tap);
    }
    ip_cmd("ip -n %s addr add 10.9.0.2/24 dev %s", k->ns, k->tap);
    if (!direct) {
        ip_cmd("ip -n %s addr add fd09::2/64 dev %s nodad", k->ns, k->tap);
    }
    ip_cmd("ip -n %s link set %s up", k->ns, k->tap);
    ip_cmd("ip -n %s link set lo up", k->ns);
    /*
     * The sink only receives, so the kernel never confirms the guest as a
     * neighbor and would ARP for it again mid-stream; the model driver's
     * host stack does not answer ARP once it is streaming, so pin it.
     */
    ip_cmd("ip -n %s neigh replace 10.9.0.1 lladdr " QCHIMNEY_MAC
           " dev %s nud permanent", k->ns, k->tap);
    if (!direct) {
        ip_cmd("ip -n %s -6 neigh replace fd09::1 lladdr " QCHIMNEY_MAC
               " dev %s nud permanent", k->ns, k->tap);
    }
    argv[3] = k->ns;
    g_assert(g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
                                      G_SPAWN_SEARCH_PATH |
                                      G_SPAWN_DO_NOT_REAP_CHILD |
                                      G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                                      NULL, &k->pid, NULL, &out_fd, NULL,
                                      NULL));
    k->out = fdopen(out_fd, "r");
    g_assert(fgets(line, sizeof(line), k->out));
    g_assert_cmpstr(line, ==, "ready\n");
}

uint64_t qchimney_kernel_peer_frames_in(QChimneyKernelPeer *k)
{
    g_autofree char *cmd = g_strdup_printf("ip netns exec %s cat "
                                           "/sys/class/net/%s/statistics/"
                                           "rx_packets", k->ns, k->tap);
    g_autofree char *out = NULL;
    int status;

    g_assert(g_spawn_command_line_sync(cmd, &out, NULL, &status, NULL));
    g_assert(WIFEXITED(status) && !WEXITSTATUS(status));
    return g_ascii_strtoull(out, NULL, 10);
}

void qchimney_kernel_peer_result(QChimneyKernelPeer *k, unsigned *port,
                                 uint64_t *bytes, char *sha, size_t shalen)
{
    g_autofree char *fmt = g_strdup_printf("%%u %%" SCNu64 " %%%zus",
                                           shalen - 1);
    char line[256];

    g_assert(fgets(line, sizeof(line), k->out));
    /* the sink's own words, for a run whose figures do not match */
    g_test_message("sink: %s", g_strchomp(line));
    g_assert_cmpint(sscanf(line, fmt, port, bytes, sha), ==, 3);
}

void qchimney_kernel_peer_stop(QChimneyKernelPeer *k)
{
    g_autofree char *cmd = g_strdup_printf("ip netns del %s", k->ns);

    fclose(k->out);
    g_spawn_close_pid(k->pid);
    close(k->tap_fd);
    run_cmd(cmd);
    g_free(k->ns);
    g_free(k->tap);
}

static void relay_begin(QChimneyRelay *r, int sock, int tap, double loss,
                        double dup, double reorder, int hdr);

void qchimney_relay_start(QChimneyRelay *r, int sock, int tap, double loss,
                          double dup, double reorder)
{
    relay_begin(r, sock, tap, loss, dup, reorder, 0);
}

/*
 * The relay in vnet mode: QEMU's tap netdev has a tap of its own in a
 * namespace between, whose frames (super-frames with their virtio-net
 * header) a packet socket there reads and writes.
 */
int qchimney_relay_start_vnet(QChimneyRelay *r, QChimneyKernelPeer *k,
                              double loss, double dup, double reorder)
{
    struct ifreq ifr = {
        .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
    };
    g_autofree char *nspath = NULL;
    struct sockaddr_ll ll = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
    };
    int on = 1, self, mid, qtap, sock;

    k->mid_ns = g_strdup_printf("chimneymid%d", getpid());
    k->mid_tap = g_strdup_printf("chmid%d", getpid() % 100000);
    qtap = open("/dev/net/tun", O_RDWR);
    g_assert_cmpint(qtap, >=, 0);
    pstrcpy(ifr.ifr_name, IFNAMSIZ, k->mid_tap);
    g_assert_cmpint(ioctl(qtap, TUNSETIFF, &ifr), ==, 0);
    ip_cmd("ip netns add %s", k->mid_ns);
    ip_cmd("ip link set %s netns %s", k->mid_tap, k->mid_ns);
    ip_cmd("ip netns exec %s sysctl -qw net.ipv6.conf.%s.disable_ipv6=1",
           k->mid_ns, k->mid_tap);
    ip_cmd("ip -n %s link set %s up", k->mid_ns, k->mid_tap);
    /* The packet socket belongs to the namespace it is made in */
    nspath = g_strdup_printf("/var/run/netns/%s", k->mid_ns);
    self = open("/proc/self/ns/net", O_RDONLY);
    mid = open(nspath, O_RDONLY);
    g_assert_cmpint(self, >=, 0);
    g_assert_cmpint(mid, >=, 0);
    g_assert_cmpint(setns(mid, CLONE_NEWNET), ==, 0);
    sock = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    g_assert_cmpint(sock, >=, 0);
    ll.sll_ifindex = if_nametoindex(k->mid_tap);
    g_assert_cmpint(ll.sll_ifindex, >, 0);
    g_assert_cmpint(setsockopt(sock, SOL_PACKET, PACKET_VNET_HDR, &on,
                               sizeof(on)), ==, 0);
    g_assert_cmpint(bind(sock, (struct sockaddr *)&ll, sizeof(ll)), ==, 0);
    g_assert_cmpint(setns(self, CLONE_NEWNET), ==, 0);
    close(self);
    close(mid);
    relay_begin(r, sock, k->tap_fd, loss, dup, reorder, 10);
    return qtap;
}

void qchimney_relay_stop_vnet(QChimneyRelay *r, QChimneyKernelPeer *k,
                              int qemu_tap)
{
    g_autofree char *cmd = g_strdup_printf("ip netns del %s", k->mid_ns);

    qchimney_relay_stop(r);
    close(r->sock);
    close(qemu_tap);
    run_cmd(cmd);
    g_free(k->mid_ns);
    g_free(k->mid_tap);
}

static void relay_begin(QChimneyRelay *r, int sock, int tap, double loss,
                        double dup, double reorder, int hdr)
{
    memset(r, 0, sizeof(*r));
    r->hdr = hdr;
    r->sock = sock;
    r->tap = tap;
    r->rand = g_rand_new_with_seed(1234);
    r->loss = loss;
    r->dup = dup;
    r->reorder = reorder;
    r->thread = g_thread_new("relay", relay_thread, r);
}

void qchimney_relay_set_vlan(QChimneyRelay *r, uint16_t vlan)
{
    qatomic_set(&r->vlan, vlan);
}

void qchimney_relay_set_lossy(QChimneyRelay *r, bool lossy)
{
    qatomic_set(&r->lossy, lossy);
}

void qchimney_relay_observe(QChimneyRelay *r,
                            void (*to_qemu)(void *opaque,
                                            const uint8_t *frame,
                                            size_t len),
                            void *opaque)
{
    r->opaque = opaque;
    qatomic_store_release(&r->to_qemu, to_qemu);
}

void qchimney_relay_stop(QChimneyRelay *r)
{
    qatomic_set(&r->stop, true);
    g_thread_join(r->thread);
    g_rand_free(r->rand);
}

#endif /* CONFIG_LINUX */
