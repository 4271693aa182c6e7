/*
 * chimney-load: the Windows guest's workload for scripts/run-windows.sh.
 * Opens N TCP connections to the host peer
 * (scripts/chimney-win-host.py peer), streams M MiB on each with a known
 * pattern, samples the connections' offload state while they stream (as
 * netstat -t does) and reads the peer's verdict on every stream.
 *
 *   chimney-load --port P [--host A] [--conns N] [--mib M] [--seed S]
 *                [--wait SECONDS] [--log FILE]
 *
 * Every output line starts with "@chimney " and is key=value fields, for
 * the host's report parser; the exit status is 0 when the peer verified
 * every byte of every stream.
 *
 * The pattern (the peer computes the same): a 64 KiB table per connection
 * of xorshift32 words seeded with seed ^ 0x9e3779b9 * (conn + 1), sent
 * again and again; chunk j of the stream has j, little-endian, in its
 * first 8 bytes.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_CHUNK      65536
#define LOAD_MAX_CONNS  64

typedef struct LoadConn {
    int index;
    unsigned long long bytes;       /* to send */
    volatile LONG64 sent;
    int connected;
    int verdict_ok;
    char verdict[160];
    unsigned short local_port;      /* network order */
} LoadConn;

static struct {
    FILE *log;                      /* a copy of every line, or NULL */
    struct sockaddr_in peer;
    unsigned seed;
    int wait_s;
} cfg;

/* MIB_TCPROW2 of iphlpapi (Vista and later), declared here */
typedef struct LoadTcpRow2 {
    DWORD state;
    DWORD local_addr;
    DWORD local_port;
    DWORD remote_addr;
    DWORD remote_port;
    DWORD owning_pid;
    DWORD offload_state;            /* TCP_CONNECTION_OFFLOAD_STATE */
} LoadTcpRow2;

typedef ULONG WINAPI GetTcpTable2Fn(void *table, PULONG size, BOOL order);

static const char *offload_state_name(DWORD s)
{
    static const char *const names[] = {
        "InHost", "Offloading", "Offloaded", "Uploading"
    };
    return s < 4 ? names[s] : "unknown";
}

static void fill_table(unsigned char *t, int conn, unsigned seed)
{
    unsigned x = seed ^ (0x9e3779b9u * (unsigned)(conn + 1));
    int i;

    if (!x) {
        x = 1;
    }
    for (i = 0; i < LOAD_CHUNK; i += 4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        t[i] = x;
        t[i + 1] = x >> 8;
        t[i + 2] = x >> 16;
        t[i + 3] = x >> 24;
    }
}

/* Milliseconds since start-up (wraps after 49 days; differences do not) */
static DWORD elapsed_since(DWORD then)
{
    DWORD now = GetTickCount();

    return now - then;
}

/* A decimal or 0x number; @def when it is not one */
static unsigned long long parse_num(const char *s, unsigned long long def)
{
    unsigned long long v = 0;
    int base = 10, digits = 0;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    for (; *s; s++, digits++) {
        int d = *s >= '0' && *s <= '9' ? *s - '0' :
                base == 16 && *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 :
                base == 16 && *s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : -1;
        if (d < 0 || v > (~0ull - d) / base) {
            return def;
        }
        v = v * base + d;
    }
    return digits ? v : def;
}

static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("@chimney ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
    if (cfg.log) {
        va_start(ap, fmt);
        fputs("@chimney ", cfg.log);
        vfprintf(cfg.log, fmt, ap);
        fputc('\n', cfg.log);
        fflush(cfg.log);
        va_end(ap);
    }
}

static int send_all(SOCKET s, const unsigned char *p, int len)
{
    while (len > 0) {
        int n = send(s, (const char *)p, len, 0);
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= n;
    }
    return 0;
}

static SOCKET connect_peer(void)
{
    DWORD start = GetTickCount();

    for (;;) {
        SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
        if (s != INVALID_SOCKET &&
            connect(s, (struct sockaddr *)&cfg.peer, sizeof(cfg.peer)) == 0) {
            return s;
        }
        if (s != INVALID_SOCKET) {
            closesocket(s);
        }
        if (elapsed_since(start) >= (DWORD)cfg.wait_s * 1000) {
            return INVALID_SOCKET;
        }
        Sleep(1000);
    }
}

static DWORD WINAPI conn_thread(void *opaque)
{
    LoadConn *c = opaque;
    unsigned char *chunk = malloc(LOAD_CHUNK);
    unsigned long long off = 0, j = 0;
    char line[160];
    struct sockaddr_in local;
    int len = sizeof(local), got = 0, n, i;
    DWORD tmo = 120000;
    SOCKET s;

    if (!chunk) {
        snprintf(c->verdict, sizeof(c->verdict), "no memory");
        return 1;
    }
    fill_table(chunk, c->index, cfg.seed);
    s = connect_peer();
    if (s == INVALID_SOCKET) {
        snprintf(c->verdict, sizeof(c->verdict), "connect failed error=%d",
                 WSAGetLastError());
        free(chunk);
        return 1;
    }
    if (getsockname(s, (struct sockaddr *)&local, &len) == 0) {
        c->local_port = local.sin_port;
    }
    c->connected = 1;
    n = snprintf(line, sizeof(line), "CHIMNEY-LOAD 1 conn=%d bytes=%llu "
                 "seed=%u\n", c->index, c->bytes, cfg.seed);
    if (send_all(s, (unsigned char *)line, n) < 0) {
        goto fail;
    }
    while (off < c->bytes) {
        unsigned long long left = c->bytes - off;
        int part = left < LOAD_CHUNK ? (int)left : LOAD_CHUNK;

        for (i = 0; i < 8; i++) {
            chunk[i] = (unsigned char)(j >> (8 * i));
        }
        if (send_all(s, chunk, part) < 0) {
            goto fail;
        }
        off += part;
        j++;
        InterlockedExchange64(&c->sent, (LONG64)off);
    }
    shutdown(s, SD_SEND);
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&tmo, sizeof(tmo));
    while (got < (int)sizeof(line) - 1) {
        n = recv(s, line + got, 1, 0);
        if (n <= 0 || line[got] == '\n') {
            break;
        }
        got++;
    }
    line[got] = 0;
    if (got && line[got - 1] == '\r') {
        line[got - 1] = 0;
    }
    snprintf(c->verdict, sizeof(c->verdict), "%s",
             got ? line : "no verdict from the peer");
    c->verdict_ok = !strncmp(line, "VERDICT ", 8) && strstr(line, " ok");
    closesocket(s);
    free(chunk);
    return 0;

fail:
    snprintf(c->verdict, sizeof(c->verdict), "send failed after %llu bytes "
             "error=%d", off, WSAGetLastError());
    closesocket(s);
    free(chunk);
    return 1;
}

/* Count our connections by offload state; -1 when the API is missing */
static int sample_offload(LoadConn *conns, int n, int *states)
{
    static GetTcpTable2Fn *fn;
    static int looked;
    ULONG size = 0;
    DWORD *table;
    LoadTcpRow2 *rows;
    DWORD i;
    int k, found = 0;

    if (!looked) {
        HMODULE m = LoadLibraryA("iphlpapi.dll");
        looked = 1;
        fn = m ? (GetTcpTable2Fn *)(void *)GetProcAddress(m, "GetTcpTable2")
               : NULL;
    }
    if (!fn) {
        return -1;
    }
    fn(NULL, &size, FALSE);
    table = malloc(size + 4096);
    if (!table) {
        return -1;
    }
    size += 4096;
    if (fn(table, &size, FALSE) != NO_ERROR) {
        free(table);
        return -1;
    }
    rows = (LoadTcpRow2 *)(table + 1);
    memset(states, 0, 5 * sizeof(int));
    for (i = 0; i < table[0]; i++) {
        for (k = 0; k < n; k++) {
            if (conns[k].local_port &&
                (unsigned short)rows[i].local_port == conns[k].local_port &&
                rows[i].remote_addr == cfg.peer.sin_addr.s_addr &&
                (unsigned short)rows[i].remote_port == cfg.peer.sin_port) {
                states[rows[i].offload_state < 4 ?
                       rows[i].offload_state : 4]++;
                found++;
            }
        }
    }
    free(table);
    return found;
}

/* What netstat -t says about the peer's port, once, mid-stream */
static void netstat_lines(void)
{
    char want[16], buf[256];
    FILE *p = _popen("netstat -t -n -p tcp", "r");

    if (!p) {
        say("netstat error=cannot-run");
        return;
    }
    snprintf(want, sizeof(want), ":%u ", ntohs(cfg.peer.sin_port));
    while (fgets(buf, sizeof(buf), p)) {
        buf[strcspn(buf, "\r\n")] = 0;
        if (strstr(buf, want)) {
            say("netstat line=%s", buf);
        }
    }
    _pclose(p);
}

static int usage(int status)
{
    fputs("usage: chimney-load --port P [--host A] [--conns N] [--mib M]\n"
          "                    [--seed S] [--wait SECONDS] [--log FILE]\n"
          "  N connections (1-64, default 4) to A:P (default host\n"
          "  10.0.2.2, QEMU's user-mode gateway), M MiB each (default 16),\n"
          "  connecting retried for SECONDS (default 120); every line\n"
          "  is also appended to FILE\n",
          status ? stderr : stdout);
    return status;
}

int main(int argc, char **argv)
{
    static LoadConn conns[LOAD_MAX_CONNS];
    HANDLE threads[LOAD_MAX_CONNS];
    const char *host = "10.0.2.2";
    int port = 0, n = 4, i, sampled = 0, netstat_done = 0;
    int max_offloaded = 0, ok = 0, states[5];
    unsigned long long mib = 16, total, sent, verified = 0;
    DWORD start, last = 0;
    WSADATA wsa;

    cfg.wait_s = 120;
    for (i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            return usage(0);
        } else if (!v) {
            return usage(2);
        } else if (!strcmp(argv[i], "--host")) {
            host = v;
        } else if (!strcmp(argv[i], "--port")) {
            port = (int)parse_num(v, 0);
        } else if (!strcmp(argv[i], "--conns")) {
            n = (int)parse_num(v, 0);
        } else if (!strcmp(argv[i], "--mib")) {
            mib = parse_num(v, 0);
        } else if (!strcmp(argv[i], "--seed")) {
            cfg.seed = (unsigned)parse_num(v, 0);
        } else if (!strcmp(argv[i], "--log")) {
            cfg.log = fopen(v, "a");
        } else if (!strcmp(argv[i], "--wait")) {
            cfg.wait_s = (int)parse_num(v, 0);
        } else {
            return usage(2);
        }
        i++;
    }
    if (port <= 0 || port > 65535 || n < 1 || n > LOAD_MAX_CONNS ||
        mib < 1 || mib > 65536 || cfg.wait_s < 0 || cfg.wait_s > 86400) {
        return usage(2);
    }
    if (WSAStartup(MAKEWORD(2, 2), &wsa)) {
        say("load-error reason=wsastartup");
        return 1;
    }
    cfg.peer.sin_family = AF_INET;
    cfg.peer.sin_port = htons((unsigned short)port);
    cfg.peer.sin_addr.s_addr = inet_addr(host);
    total = mib * n * 1048576ull;
    say("load-start host=%s port=%d conns=%d mib_each=%llu seed=%u",
        host, port, n, mib, cfg.seed);
    start = GetTickCount();
    for (i = 0; i < n; i++) {
        conns[i].index = i;
        conns[i].bytes = mib * 1048576ull;
        threads[i] = CreateThread(NULL, 0, conn_thread, &conns[i], 0, NULL);
        if (!threads[i]) {
            say("load-error reason=thread");
            return 1;
        }
    }
    while (WaitForMultipleObjects(n, threads, TRUE, 250) == WAIT_TIMEOUT) {
        int found;

        sent = 0;
        for (i = 0; i < n; i++) {
            sent += (unsigned long long)conns[i].sent;
        }
        found = sample_offload(conns, n, states);
        if (found > 0) {
            sampled = 1;
            if (states[2] > max_offloaded) {
                max_offloaded = states[2];
            }
        }
        if (!netstat_done && sent >= total / 2) {
            netstat_done = 1;
            netstat_lines();
        }
        if (elapsed_since(last) >= 2000) {
            last = GetTickCount();
            say("progress sent=%llu total=%llu", sent, total);
            if (found >= 0) {
                say("offload-sample conns=%d in_host=%d offloading=%d "
                    "offloaded=%d uploading=%d", found, states[0],
                    states[1], states[2], states[3]);
            }
        }
    }
    for (i = 0; i < n; i++) {
        CloseHandle(threads[i]);
        if (conns[i].verdict_ok) {
            ok++;
            verified += conns[i].bytes;
        }
        say("conn index=%d bytes=%llu sent=%llu verdict_ok=%d verdict=%s",
            i, conns[i].bytes, (unsigned long long)conns[i].sent,
            conns[i].verdict_ok, conns[i].verdict);
    }
    say("offload state=%s max_offloaded=%d",
        sampled ? offload_state_name(max_offloaded ? 2 : 0) : "unknown",
        max_offloaded);
    say("load-end conns=%d ok=%d bytes=%llu verified=%llu ms=%lu", n, ok,
        total, verified, (unsigned long)elapsed_since(start));
    WSACleanup();
    return ok == n ? 0 : 1;
}
