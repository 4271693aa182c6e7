/*
 * chimney-bench: QEMU with shared RAM, the byte patterns, and the peers
 * that check them (see chimney-bench.h)
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include "qemu/bswap.h"
#include "qemu/atomic.h"
#include "qemu/cutils.h"
#include "libqtest.h"
#include "libqos/pci-pc.h"
#include "libqos/malloc-pc.h"
#include "chimney-bench.h"

/* --- QEMU and its RAM --- */

/*
 * --pin: QEMU on a CPU of its own, so that its figures do not hold the
 * harness's (which busy-polls the completion queue) when the scheduler
 * puts the two on one CPU
 */
static cpu_set_t bench_qemu_cpus, bench_harness_cpus;
static bool bench_pinned;

bool bench_pin_init(int *qemu_cpu, int *harness_cpus)
{
    cpu_set_t all;
    int first = -1;

    CPU_ZERO(&all);
    if (sched_getaffinity(0, sizeof(all), &all) || CPU_COUNT(&all) < 2) {
        return false;
    }
    for (int i = 0; i < CPU_SETSIZE && first < 0; i++) {
        if (CPU_ISSET(i, &all)) {
            first = i;
        }
    }
    CPU_ZERO(&bench_qemu_cpus);
    CPU_SET(first, &bench_qemu_cpus);
    bench_harness_cpus = all;
    CPU_CLR(first, &bench_harness_cpus);
    if (sched_setaffinity(0, sizeof(cpu_set_t), &bench_harness_cpus)) {
        return false;
    }
    bench_pinned = true;
    *qemu_cpu = first;
    *harness_cpus = CPU_COUNT(&bench_harness_cpus);
    return true;
}

void bench_pin_thread(bool qemu)
{
    cpu_set_t *set = qemu ? &bench_qemu_cpus : &bench_harness_cpus;

    if (bench_pinned && sched_setaffinity(0, sizeof(*set), set)) {
        g_error("chimney-bench: sched_setaffinity: %s", strerror(errno));
    }
}

void bench_qemu(Bench *b, uint32_t ram_mib, const char *trace,
                const char *args)
{
    char path[] = "/dev/shm/chimney-bench-XXXXXX";
    int fd = mkstemp(path);
    g_autoptr(GString) tr = g_string_new("");
    g_auto(GStrv) pats = g_strsplit(trace, ",", -1);

    memset(b, 0, sizeof(*b));
    b->ram_size = (uint64_t)ram_mib << 20;
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, b->ram_size), ==, 0);
    b->ram = mmap(NULL, b->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                  0);
    g_assert(b->ram != MAP_FAILED);
    close(fd);
    snprintf(b->trace, sizeof(b->trace), "/tmp/chimney-bench-%d.trace",
             getpid());
    unlink(b->trace);
    /* the last -trace option names the file */
    for (int i = 0; pats[i]; i++) {
        g_string_append_printf(tr, "-trace enable=%s%s%s ", pats[i],
                               pats[i + 1] ? "" : ",file=",
                               pats[i + 1] ? "" : b->trace);
    }
    /* no CPU runs: no vapic option ROM (and no complaint about it) */
    bench_pin_thread(true);
    b->f.qts = qtest_initf("-M pc,memory-backend=ram -m %uM -nodefaults "
                           "-global apic-common.vapic=off "
                           "-object memory-backend-file,id=ram,size=%uM,"
                           "mem-path=%s,share=on %s %s",
                           ram_mib, ram_mib, path, tr->str, args);
    bench_pin_thread(false);
    unlink(path);
    b->f.sock = -1;
    pc_alloc_init(&b->f.alloc, b->f.qts, ALLOC_NO_FLAGS);
    b->f.bus = qpci_new_pc(b->f.qts, &b->f.alloc);
    b->clock_at = g_get_monotonic_time();
}

void bench_quit(Bench *b)
{
    if (b->f.c.pdev) {
        qchimney_stop(&b->f.c);
    } else {
        g_free(b->f.c.pdev);
    }
    qpci_free_pc(b->f.bus);
    alloc_destroy(&b->f.alloc);
    qtest_quit(b->f.qts);
    if (b->f.sock >= 0) {
        close(b->f.sock);
    }
    munmap(b->ram, b->ram_size);
    if (!g_getenv("BENCH_KEEP_TRACE")) {
        unlink(b->trace);
    }
}

void *bench_gpa(Bench *b, uint64_t addr, uint64_t len)
{
    /* all of RAM is below 4 GiB: guest addresses are file offsets */
    g_assert(addr + len <= b->ram_size && addr + len >= addr);
    return b->ram + addr;
}

uint64_t bench_alloc(Bench *b, uint64_t len, uint64_t align)
{
    uint64_t a = QEMU_ALIGN_UP(guest_alloc(&b->f.alloc, len + align), align);

    memset(bench_gpa(b, a, len), 0, len);
    return a;
}

void bench_clock(Bench *b)
{
    int64_t now = g_get_monotonic_time();

    if (now - b->clock_at >= BENCH_CLOCK_STEP_US) {
        qtest_clock_step(b->f.qts, (now - b->clock_at) * 1000);
        b->clock_at = now;
    }
}

double bench_qemu_cpu(Bench *b)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat",
                                            qtest_pid(b->f.qts));
    g_autofree char *text = NULL;
    unsigned long ut = 0, st = 0;
    char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return 0;
    }
    p = strrchr(text, ')');
    if (!p) {
        return 0;
    }
    /* after "pid (comm)": state is field 3, utime 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &ut, &st) != 2) {
        return 0;
    }
    return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

uint64_t bench_qemu_anon_kib(Bench *b)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status",
                                            qtest_pid(b->f.qts));
    g_autofree char *text = NULL;
    char *line;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return 0;
    }
    line = strstr(text, "RssAnon:");
    return line ? g_ascii_strtoull(line + 8, NULL, 10) : 0;
}

uint64_t bench_irqs(Bench *b)
{
    g_autofree char *text = NULL;
    gsize len;
    uint64_t n = 0;

    if (!g_file_get_contents(b->trace, &text, &len, NULL)) {
        return 0;
    }
    for (char *l = text, *e; l < text + len; l = e + 1) {
        e = strchr(l, '\n');
        if (!e) {
            break;
        }
        *e = 0;
        n += !b->irq_match || strstr(l, b->irq_match);
    }
    return n;
}

int bench_perf_start(Bench *b, const char *dir, const char *name)
{
    g_autofree char *pid = g_strdup_printf("%d", qtest_pid(b->f.qts));
    g_autofree char *out = g_strdup_printf("%s/%s.data", dir, name);
    const char *argv[] = {
        "perf", "record", "-g", "-q", "-p", pid, "-o", out, NULL,
    };
    GPid perf;

    if (!g_spawn_async(NULL, (char **)argv, NULL,
                       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                       G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &perf,
                       NULL)) {
        fprintf(stderr, "chimney-bench: cannot run perf\n");
        return -1;
    }
    g_usleep(300 * 1000);       /* attached before the measured part */
    return perf;
}

void bench_perf_stop(int perf)
{
    int status;

    if (perf > 0) {
        kill(perf, SIGINT);
        waitpid(perf, &status, 0);
    }
}

/* --- the bytes --- */

static uint8_t *patterns;       /* BENCH_CLASSES x 2 periods */
static uint64_t period;

void bench_pattern_init(uint64_t p)
{
    g_free(patterns);
    period = p;
    patterns = g_malloc(BENCH_CLASSES * 2 * p);
    for (int c = 0; c < BENCH_CLASSES; c++) {
        uint8_t *q = patterns + c * 2 * p;
        uint64_t x = 0x9e3779b97f4a7c15ull * (c + 1);

        for (uint64_t i = 0; i < p; i += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            stq_le_p(q + i, x);
        }
        memcpy(q + p, q, p);
    }
}

uint64_t bench_period(void)
{
    return period;
}

const uint8_t *bench_pattern(uint32_t conn)
{
    return patterns + (conn % BENCH_CLASSES) * 2 * period;
}

bool bench_verify(uint32_t conn, uint64_t off, const uint8_t *p,
                  uint32_t len)
{
    const uint8_t *pat = bench_pattern(conn);

    while (len) {
        uint32_t n = MIN(len, period);

        if (memcmp(p, pat + off % period, n)) {
            return false;
        }
        p += n;
        off += n;
        len -= n;
    }
    return true;
}

/* --- latency --- */

void bench_lat_add(BenchLat *l, double us)
{
    if (l->n == l->cap) {
        l->cap = MAX(1024, l->cap * 2);
        l->v = g_renew(double, l->v, l->cap);
    }
    l->v[l->n++] = us;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

void bench_lat_done(BenchLat *l, BenchFigures *fig)
{
    if (l->n) {
        qsort(l->v, l->n, sizeof(double), cmp_double);
        fig->lat_p50_us = l->v[l->n / 2];
        fig->lat_p99_us = l->v[MIN(l->n - 1, l->n * 99 / 100)];
    }
    g_free(l->v);
    memset(l, 0, sizeof(*l));
}

/* --- repeated runs --- */

typedef struct KeyedRun {
    double key;
    uint32_t i;
} KeyedRun;

static int cmp_keyed(const void *a, const void *b)
{
    const KeyedRun *x = a, *y = b;

    return x->key < y->key ? -1 : x->key > y->key;
}

const BenchFigures *bench_median(const BenchFigures *runs, uint32_t n,
                                 double (*key)(const BenchFigures *),
                                 double *spread)
{
    g_autofree KeyedRun *k = g_new(KeyedRun, n);
    const BenchFigures *mid;

    *spread = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!runs[i].ok) {
            return &runs[i];
        }
        k[i] = (KeyedRun) { key(&runs[i]), i };
    }
    qsort(k, n, sizeof(*k), cmp_keyed);
    mid = &runs[k[(n - 1) / 2].i];
    if (k[(n - 1) / 2].key > 0) {
        *spread = (k[n - 1].key - k[0].key) / k[(n - 1) / 2].key;
    }
    return mid;
}

/* --- the minimal peer --- */

#define PEER_BUF (4 * 1024 * 1024)
#define PEER_TAKE (512 * 1024)

struct BenchPeer {
    int sock;
    uint32_t n, wnd;
    uint8_t wscale;
    uint8_t dev_mac[6];
    uint32_t dev_ip, peer_ip;
    uint32_t *rcv_nxt;
    uint64_t *got;
    uint32_t *dirty, ndirty;
    uint8_t *is_dirty;
    uint8_t *in, *out;
    size_t have, outlen;
    uint64_t bytes, segs;
    GThread *thread;
    bool stop, failed;          /* atomic: the thread's and its verdict */
    char why[160];
};

uint32_t bench_iss(uint32_t conn)
{
    return conn * 100000u + 1000;
}

BenchPeer *bench_peer_new(int sock, uint32_t nconns, uint32_t wnd,
                          uint8_t wscale, const uint8_t *dev_mac,
                          uint32_t dev_ip, uint32_t peer_ip)
{
    BenchPeer *p = g_new0(BenchPeer, 1);

    p->sock = sock;
    p->n = nconns;
    p->wnd = wnd;
    p->wscale = wscale;
    memcpy(p->dev_mac, dev_mac, 6);
    p->dev_ip = dev_ip;
    p->peer_ip = peer_ip;
    p->rcv_nxt = g_new(uint32_t, nconns);
    p->got = g_new0(uint64_t, nconns);
    p->dirty = g_new(uint32_t, nconns);
    p->is_dirty = g_new0(uint8_t, nconns);
    p->in = g_malloc(PEER_BUF);
    p->out = g_malloc(PEER_BUF);
    for (uint32_t i = 0; i < nconns; i++) {
        p->rcv_nxt[i] = bench_iss(i) + 1;
    }
    return p;
}

void bench_peer_free(BenchPeer *p)
{
    bench_peer_stop(p);
    g_free(p->rcv_nxt);
    g_free(p->got);
    g_free(p->dirty);
    g_free(p->is_dirty);
    g_free(p->in);
    g_free(p->out);
    g_free(p);
}

/* These three may be read by another thread than the peer's */
uint64_t bench_peer_bytes(BenchPeer *p)
{
    return qatomic_read(&p->bytes);
}

uint64_t bench_peer_got(BenchPeer *p, uint32_t conn)
{
    return qatomic_read(&p->got[conn]);
}

uint64_t bench_peer_segs(BenchPeer *p)
{
    return qatomic_read(&p->segs);
}

static void peer_flush(BenchPeer *p)
{
    size_t off = 0;

    while (off < p->outlen) {
        ssize_t n = send(p->sock, p->out + off, p->outlen - off, 0);

        g_assert(n > 0);
        off += n;
    }
    p->outlen = 0;
}

static void peer_ack(BenchPeer *p, uint32_t i)
{
    QChimneyTcpAddr a = {
        .src_mac = (const uint8_t *)QCHIMNEY_PEER_MAC, .dst_mac = p->dev_mac,
        .src_ip = p->peer_ip, .dst_ip = p->dev_ip,
        .src_port = BENCH_PEER_PORT + i / 50000,
        .dst_port = BENCH_LOCAL_PORT + i % 50000,
    };
    size_t len;

    if (p->outlen + 4 + 64 > PEER_BUF) {
        peer_flush(p);
    }
    len = qchimney_tcp_frame(p->out + p->outlen + 4, &a, i + 1,
                             p->rcv_nxt[i], 0x10, p->wnd >> p->wscale,
                             NULL, 0);
    stl_be_p(p->out + p->outlen, len);
    p->outlen += 4 + len;
}

/* One frame from the device: false when its bytes are wrong */
static bool peer_frame(BenchPeer *p, const uint8_t *f, size_t len,
                       char *why, size_t wlen)
{
    const uint8_t *ip = f + 14, *th;
    uint32_t ihl, tot, doff, seq, i, plen;
    uint16_t sport, dport;

    if (len < 54 || lduw_be_p(f + 12) != 0x0800 || ip[9] != 6) {
        return true;            /* not TCP over IPv4: not ours to check */
    }
    ihl = (ip[0] & 0xf) * 4;
    tot = lduw_be_p(ip + 2);
    th = ip + ihl;
    doff = (th[12] >> 4) * 4;
    if (tot > len - 14 || ihl + doff > tot) {
        snprintf(why, wlen, "a malformed frame of %zu bytes", len);
        return false;
    }
    sport = lduw_be_p(th);
    dport = lduw_be_p(th + 2);
    i = (dport - BENCH_PEER_PORT) * 50000u + (sport - BENCH_LOCAL_PORT);
    if (sport < BENCH_LOCAL_PORT || dport < BENCH_PEER_PORT || i >= p->n) {
        snprintf(why, wlen, "a segment from port %u to %u", sport, dport);
        return false;
    }
    if (th[13] & 0x04) {
        snprintf(why, wlen, "connection %u was reset", i);
        return false;
    }
    seq = ldl_be_p(th + 4);
    plen = tot - ihl - doff;
    if (plen && seq == p->rcv_nxt[i]) {
        if (!bench_verify(i, p->got[i], th + doff, plen)) {
            snprintf(why, wlen, "connection %u: %u bytes at stream offset "
                     "%" PRIu64 " differ from what the guest sent", i, plen,
                     p->got[i]);
            return false;
        }
        qatomic_set(&p->got[i], p->got[i] + plen);
        p->rcv_nxt[i] += plen;
        qatomic_set(&p->bytes, p->bytes + plen);
    }
    qatomic_set(&p->segs, p->segs + 1);
    if (p->wnd && !p->is_dirty[i]) {
        p->is_dirty[i] = 1;
        p->dirty[p->ndirty++] = i;
    }
    return true;
}

bool bench_peer_poll(BenchPeer *p, int timeout_ms, char *why, size_t wlen)
{
    struct pollfd pfd = { .fd = p->sock, .events = POLLIN };
    size_t taken = 0;

    if (poll(&pfd, 1, timeout_ms) <= 0) {
        return true;
    }
    /*
     * Each ACK opens a window: answer a few hundred frames at a time, so
     * that the device never waits for a whole window's worth to be read.
     */
    while (taken < PEER_TAKE) {
        ssize_t n = recv(p->sock, p->in + p->have, PEER_BUF - p->have,
                         MSG_DONTWAIT);
        size_t at = 0;

        if (n <= 0) {
            break;
        }
        p->have += n;
        taken += n;
        while (p->have - at >= 4) {
            uint32_t len = ldl_be_p(p->in + at);

            g_assert(len <= 65536 + 64);
            if (p->have - at < 4 + len) {
                break;
            }
            if (!peer_frame(p, p->in + at + 4, len, why, wlen)) {
                return false;
            }
            at += 4 + len;
        }
        memmove(p->in, p->in + at, p->have - at);
        p->have -= at;
    }
    for (uint32_t k = 0; k < p->ndirty; k++) {
        peer_ack(p, p->dirty[k]);
        p->is_dirty[p->dirty[k]] = 0;
    }
    p->ndirty = 0;
    peer_flush(p);
    return true;
}

static gpointer peer_thread(gpointer opaque)
{
    BenchPeer *p = opaque;
    char why[sizeof(p->why)];

    while (!qatomic_read(&p->stop)) {
        if (!bench_peer_poll(p, 10, why, sizeof(why))) {
            memcpy(p->why, why, sizeof(why));
            qatomic_store_release(&p->failed, true);
            break;
        }
    }
    return NULL;
}

void bench_peer_start(BenchPeer *p)
{
    g_assert(!p->thread);
    p->thread = g_thread_new("bench-peer", peer_thread, p);
}

bool bench_peer_failed(BenchPeer *p, char *why, size_t wlen)
{
    if (!qatomic_load_acquire(&p->failed)) {
        return false;
    }
    snprintf(why, wlen, "%s", p->why);
    return true;
}

void bench_peer_stop(BenchPeer *p)
{
    if (p->thread) {
        qatomic_set(&p->stop, true);
        g_thread_join(p->thread);
        p->thread = NULL;
    }
}

/* --- the kernel's TCP in a namespace --- */

#define SINK_BUF (1024 * 1024)
#define SINK_LOCAL_BASE 40000   /* qchimney_conn_setup's local ports */

struct BenchSink {
    char ns[32], tap[IFNAMSIZ];
    int tap_fd;
    uint32_t n;
    uint64_t *got;
    uint64_t bytes;             /* atomic */
    bool stop, ready;
    char error[160];
    GThread *thread;
};

static bool sink_cmd(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static bool sink_cmd(const char *fmt, ...)
{
    g_autofree char *cmd = NULL, *out = NULL, *err = NULL;
    va_list ap;
    int status;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return g_spawn_command_line_sync(cmd, &out, &err, &status, NULL) &&
           WIFEXITED(status) && !WEXITSTATUS(status);
}

static gpointer sink_thread(gpointer opaque)
{
    BenchSink *s = opaque;
    g_autofree char *nspath = g_strdup_printf("/var/run/netns/%s", s->ns);
    g_autofree uint8_t *buf = g_malloc(SINK_BUF);
    g_autofree struct pollfd *pfd = g_new0(struct pollfd, s->n + 1);
    g_autofree uint32_t *conn = g_new0(uint32_t, s->n + 1);
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(BENCH_PEER_PORT),
        .sin_addr.s_addr = htonl(0x0a090002),
    };
    int nsfd = open(nspath, O_RDONLY), one = 1, lfd, nfd = 1;

    /* this thread only: a network namespace is per thread */
    g_assert(nsfd >= 0 && setns(nsfd, CLONE_NEWNET) == 0);
    close(nsfd);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    g_assert(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    g_assert(listen(lfd, s->n) == 0);
    pfd[0] = (struct pollfd) { .fd = lfd, .events = POLLIN };
    qatomic_store_release(&s->ready, true);
    while (!qatomic_read(&s->stop)) {
        if (poll(pfd, nfd, 50) <= 0) {
            continue;
        }
        if (pfd[0].revents & POLLIN) {
            socklen_t sl = sizeof(sin);
            int c = accept(lfd, (struct sockaddr *)&sin, &sl);
            uint32_t i = ntohs(sin.sin_port) - SINK_LOCAL_BASE;

            if (c >= 0 && i < s->n && nfd <= s->n) {
                conn[nfd] = i;
                pfd[nfd++] = (struct pollfd) { .fd = c, .events = POLLIN };
            } else if (c >= 0) {
                snprintf(s->error, sizeof(s->error), "a connection from "
                         "port %u", ntohs(sin.sin_port));
                close(c);
            }
        }
        for (int k = 1; k < nfd; k++) {
            ssize_t n;

            if (!(pfd[k].revents & POLLIN)) {
                continue;
            }
            n = recv(pfd[k].fd, buf, SINK_BUF, MSG_DONTWAIT);
            if (n <= 0) {
                continue;
            }
            if (!bench_verify(conn[k], s->got[conn[k]], buf, n) &&
                !s->error[0]) {
                snprintf(s->error, sizeof(s->error), "connection %u: %zd "
                         "bytes at stream offset %" PRIu64 " differ from "
                         "what the guest sent", conn[k], n,
                         s->got[conn[k]]);
            }
            s->got[conn[k]] += n;
            qatomic_set(&s->bytes, qatomic_read(&s->bytes) + n);
        }
    }
    for (int k = 0; k < nfd; k++) {
        close(pfd[k].fd);
    }
    return NULL;
}

const char *bench_sink_unusable(void)
{
    g_autofree char *ip = g_find_program_in_path("ip");

    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) || !ip) {
        return "needs root, /dev/net/tun and ip(8)";
    }
    return NULL;
}

/*
 * The namespaces of benchmarks that were killed (chbenchPID, the process
 * gone): their taps and sockets would stay until the machine reboots
 */
static void sink_clean_stale(void)
{
    g_autoptr(GDir) dir = g_dir_open("/var/run/netns", 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        int64_t pid;

        if (g_str_has_prefix(name, "chbench") &&
            !qemu_strtoi64(name + 7, NULL, 10, &pid) && pid > 0 &&
            kill(pid, 0) && errno == ESRCH) {
            sink_cmd("ip netns del %s", name);
        }
    }
}

BenchSink *bench_sink_start(uint32_t nconns, bool vnet_hdr, char *why,
                            size_t len)
{
    struct ifreq ifr = {
        .ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0),
    };
    BenchSink *s;

    if (bench_sink_unusable()) {
        snprintf(why, len, "%s", bench_sink_unusable());
        return NULL;
    }
    sink_clean_stale();
    s = g_new0(BenchSink, 1);
    s->n = nconns;
    s->got = g_new0(uint64_t, nconns);
    snprintf(s->ns, sizeof(s->ns), "chbench%d", getpid());
    snprintf(s->tap, sizeof(s->tap), "chbtap%d", getpid() % 100000);
    s->tap_fd = open("/dev/net/tun", O_RDWR);
    pstrcpy(ifr.ifr_name, IFNAMSIZ, s->tap);
    if (s->tap_fd < 0 || ioctl(s->tap_fd, TUNSETIFF, &ifr) ||
        !sink_cmd("ip netns add %s", s->ns)) {
        snprintf(why, len, "cannot create a tap and a network namespace");
        if (s->tap_fd >= 0) {
            close(s->tap_fd);
        }
        g_free(s->got);
        g_free(s);
        return NULL;
    }
    /*
     * The sink only receives, so the kernel would ARP for the guest again
     * mid-stream, and nothing answers ARP once it streams: pin it.
     */
    /* no IPv6 chatter on the wire: the host stack only knows ARP */
    if (!sink_cmd("ip link set %s netns %s", s->tap, s->ns) ||
        !sink_cmd("ip netns exec %s sysctl -qw net.ipv6.conf.all."
                  "disable_ipv6=1", s->ns) ||
        !sink_cmd("ip -n %s addr add 10.9.0.2/24 dev %s", s->ns, s->tap) ||
        !sink_cmd("ip -n %s link set %s up", s->ns, s->tap) ||
        !sink_cmd("ip -n %s link set lo up", s->ns) ||
        !sink_cmd("ip -n %s neigh replace 10.9.0.1 lladdr " QCHIMNEY_MAC
                  " dev %s nud permanent", s->ns, s->tap)) {
        snprintf(why, len, "cannot set up the tap in namespace %s", s->ns);
        bench_sink_stop(s);
        return NULL;
    }
    s->thread = g_thread_new("sink", sink_thread, s);
    while (!qatomic_load_acquire(&s->ready)) {
        g_usleep(1000);
    }
    return s;
}

int bench_sink_tap_fd(BenchSink *s)
{
    return s->tap_fd;
}

uint64_t bench_sink_bytes(BenchSink *s)
{
    return qatomic_read(&s->bytes);
}

const char *bench_sink_error(BenchSink *s)
{
    return s->error[0] ? s->error : NULL;
}

void bench_sink_stop(BenchSink *s)
{
    if (s->thread) {
        qatomic_set(&s->stop, true);
        g_thread_join(s->thread);
    }
    close(s->tap_fd);
    sink_cmd("ip netns del %s", s->ns);
    g_free(s->got);
    g_free(s);
}
