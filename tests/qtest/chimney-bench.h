/*
 * chimney-bench: the send-path benchmark of chimney-nic (shared parts)
 *
 * QEMU runs with its guest RAM in a file that this program maps too, so
 * rings, send queues, data and completions are read and written here
 * directly; only register writes (doorbells, CQ heads) and the virtual
 * clock go over qtest.  chimney-bench.c runs the offloaded sends,
 * chimney-bench-lib.c holds what receives them (a minimal ACK-ing peer on
 * a socket netdev, or the Linux kernel's TCP through a tap in a network
 * namespace) and checks every byte, chimney-bench-igb.c the anchor: QEMU's
 * igb sending the same bytes with TSO, chimney-bench-virtio.c the second
 * anchor: QEMU's virtio-net sending them, and chimney-bench-sender.c the
 * anchors' guest TCP.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHIMNEY_BENCH_H
#define CHIMNEY_BENCH_H

#include "libqos/chimney-host.h"

#define BENCH_CHUNK         (64 * 1024)     /* bytes per send request */
#define BENCH_CLASSES       16              /* distinct byte patterns */
#define BENCH_MSS           1460
#define BENCH_PEER_PORT     5001
#define BENCH_LOCAL_PORT    10000

/* What one run measured; ok is false when its bytes did not verify */
typedef struct BenchFigures {
    uint64_t bytes;         /* acknowledged and verified at the peer */
    uint64_t reqs;          /* send requests completed */
    uint64_t segs;          /* frames the NIC sent */
    uint64_t rexmit;        /* of them, retransmissions (chimney only) */
    uint64_t acks;          /* segments it received (chimney only) */
    uint64_t irqs;          /* MSI-X messages */
    uint64_t doorbells;     /* register writes of the data path */
    double secs;            /* wall clock */
    double cpu;             /* QEMU's user + system CPU s; floor: writer's */
    double lat_p50_us, lat_p99_us;
    int64_t mem_per_conn;   /* QEMU's anonymous memory per offload, bytes */
    bool ok;
    bool stalled;           /* anchor only: stopped for 20 s (see why) */
    uint32_t rx_recovered;  /* anchor only: times its ring was set right */
    char why[384];
} BenchFigures;

/* chimney-bench's command line */
typedef struct BenchOpts {
    uint64_t mib;           /* per run of the 1/16-connection table */
    uint32_t conns[8], nconns;      /* the table's connection counts */
    uint32_t sweep[8], nsweep;      /* the many-connection sweep */
    double sweep_secs;
    uint32_t repeat;        /* runs of each row, the median printed */
    uint32_t sweep_repeat;  /* rounds over the sweep, interleaved */
    bool kernel, igb, virtio;
    bool floor;             /* the tap's own cost, this program writing */
    bool no_holdoff;        /* leave CHIMNEY_CQF_HOLDOFF off */
    bool no_db_hint;        /* ring every post: CHIMNEY_TCPO_DB_HINT off */
    bool pin;               /* QEMU on one CPU, the harness on the rest */
    uint32_t mod_count, mod_usec;
    double bound;           /* GB/s of copy+checksum, from the script */
    const char *perf;       /* perf record -g of each chimney run here */
} BenchOpts;

/* From argv, or the usage and exit 2 */
void bench_parse_opts(int argc, char **argv, BenchOpts *o);

/* A run's figures (chimney-bench-table.c): MB/s, CPU s per GB, ns/segment */
double bench_mbps(const BenchFigures *f);
double bench_cpu_per_gb(const BenchFigures *f);
double bench_ns_per_seg(const BenchFigures *f);
/* The table's head, and a row of it: false, saying why, when it failed */
void bench_row_head(void);
bool bench_row(const char *name, uint32_t n, const BenchFigures *f,
               const BenchOpts *o, double igb_mbps, double spread);
/*
 * Under the table, by connection count: chimney's MB/s over virtio-net's
 * (socket, tap without and with the vnet header), and chimney's CPU per
 * GB over the floor's (tap without and with it)
 */
void bench_virtio_ratios(const BenchOpts *o, const double (*vio)[3],
                         const double (*chim)[3]);
void bench_floor_ratios(const BenchOpts *o, const double (*floor_cpu)[2],
                        const double (*chim_cpu)[2]);

/*
 * QEMU's threads on the first CPU this process may use, this process and
 * what it starts (the peers' threads, the sink's reader, perf) on the
 * others.  Call before anything else starts a thread.  False, and the
 * CPUs left to the scheduler, with fewer than two or when the kernel
 * refuses the harness's set; *@qemu_cpu and
 * *@harness_cpus (how many) say what was chosen.
 */
bool bench_pin_init(int *qemu_cpu, int *harness_cpus);
/*
 * With --pin, this thread on QEMU's CPU (@qemu) or the harness's: QEMU
 * inherits the set of the thread that starts it, with every thread it
 * makes; the floor's writer takes QEMU's place
 */
void bench_pin_thread(bool qemu);

/* QEMU with its RAM shared with this process */
typedef struct Bench {
    QChimneyFixture f;      /* qts, alloc, bus, the model driver, sock */
    uint8_t *ram;
    uint64_t ram_size;
    char trace[64];         /* the trace log: MSI-X messages counted */
    const char *irq_match;  /* only its lines that contain this, if set */
    int64_t clock_at;       /* real time of the last virtual clock step */
} Bench;

/*
 * QEMU with @ram_mib MiB of shared RAM, the NIC and backend of @args,
 * tracing the MSI-X events named in @trace (comma-separated patterns).
 */
void bench_qemu(Bench *b, uint32_t ram_mib, const char *trace,
                const char *args);
void bench_quit(Bench *b);
/* Guest memory, as this process sees it */
void *bench_gpa(Bench *b, uint64_t addr, uint64_t len);
uint64_t bench_alloc(Bench *b, uint64_t len, uint64_t align);
/*
 * The virtual clock follows the real one (qtest stops it otherwise), in
 * steps of at least BENCH_CLOCK_STEP_US: the device's timers (moderation,
 * retransmission) fire about that late at most.  Each step is a qtest
 * command that costs QEMU CPU: 250 us put 0.2 to 0.5 s per GB on QEMU.
 */
#define BENCH_CLOCK_STEP_US 1000
void bench_clock(Bench *b);
/* QEMU's CPU seconds (user + system) and anonymous memory so far */
double bench_qemu_cpu(Bench *b);
uint64_t bench_qemu_anon_kib(Bench *b);
/* perf record -g of QEMU into @dir/@name.data, until stopped */
int bench_perf_start(Bench *b, const char *dir, const char *name);
void bench_perf_stop(int perf);
/* Lines of the trace log so far: MSI-X messages */
uint64_t bench_irqs(Bench *b);

/* The bytes: connection @conn's stream is its class's pattern, repeated */
const uint8_t *bench_pattern(uint32_t conn);
uint64_t bench_period(void);
void bench_pattern_init(uint64_t period);
/* Compare @len received bytes at stream offset @off of @conn */
bool bench_verify(uint32_t conn, uint64_t off, const uint8_t *p,
                  uint32_t len);

/* Latency samples, microseconds */
typedef struct BenchLat {
    double *v;
    size_t n, cap;
} BenchLat;
void bench_lat_add(BenchLat *l, double us);
void bench_lat_done(BenchLat *l, BenchFigures *fig);

/*
 * Of @n runs of one kind, the one whose @key is the median (of an even
 * number, the lower middle one), or the first that failed; *spread is
 * the range of @key over its median (0 for one run)
 */
const BenchFigures *bench_median(const BenchFigures *runs, uint32_t n,
                                 double (*key)(const BenchFigures *),
                                 double *spread);

/*
 * The minimal peer on the socket netdev @sock: reads every frame, checks
 * each payload byte against the connection's pattern, and answers each
 * batch of frames with one cumulative ACK per connection, advertising
 * @wnd bytes (scaled by @wscale); with @wnd 0 it never answers.
 * Connection i sends from local port BENCH_LOCAL_PORT + i % 50000 to
 * BENCH_PEER_PORT + i / 50000, its first byte at sequence bench_iss(i) + 1.
 */
typedef struct BenchPeer BenchPeer;
BenchPeer *bench_peer_new(int sock, uint32_t nconns, uint32_t wnd,
                          uint8_t wscale, const uint8_t *dev_mac,
                          uint32_t dev_ip, uint32_t peer_ip);
uint32_t bench_iss(uint32_t conn);
/*
 * Take what arrived within @timeout_ms and acknowledge it; false once a
 * byte did not verify (*why says which).
 */
bool bench_peer_poll(BenchPeer *p, int timeout_ms, char *why, size_t len);
/*
 * Or the peer in a thread of its own, polling until bench_peer_stop (or
 * bench_peer_free): the sender's thread then waits for QEMU's answers to
 * its doorbells while the peer reads.  bench_peer_failed says whether a
 * byte did not verify (*why says which).
 */
void bench_peer_start(BenchPeer *p);
bool bench_peer_failed(BenchPeer *p, char *why, size_t len);
void bench_peer_stop(BenchPeer *p);
uint64_t bench_peer_bytes(BenchPeer *p);
/* Bytes of connection @conn verified, and frames taken, so far */
uint64_t bench_peer_got(BenchPeer *p, uint32_t conn);
uint64_t bench_peer_segs(BenchPeer *p);
void bench_peer_free(BenchPeer *p);

/*
 * The Linux kernel's TCP in a network namespace behind a tap (created
 * with IFF_VNET_HDR when @vnet_hdr), listening on 10.9.0.2:5001; a thread
 * of this process in the namespace reads and checks every connection's
 * bytes.  NULL when it cannot run here (*why says why).
 */
typedef struct BenchSink BenchSink;
const char *bench_sink_unusable(void);
BenchSink *bench_sink_start(uint32_t nconns, bool vnet_hdr, char *why,
                            size_t len);
int bench_sink_tap_fd(BenchSink *s);
uint64_t bench_sink_bytes(BenchSink *s);
/* NULL while every byte verified */
const char *bench_sink_error(BenchSink *s);
void bench_sink_stop(BenchSink *s);

/*
 * The anchors' sender (chimney-bench-sender.c): this program as the
 * guest's TCP over a plain NIC, in sends of BENCH_UNIT bytes, with the
 * NIC's MAC address bench_nic_mac
 */
#define BENCH_UNIT      (BENCH_CHUNK / 2)
#define BENCH_HDR_LEN   54              /* Ethernet, IPv4, TCP */
extern const uint8_t bench_nic_mac[6];

/* One connection's addressing and sequence numbers */
typedef struct BenchConn {
    uint8_t dst_mac[6];
    uint32_t sip, dip;          /* host order */
    uint16_t sport, dport;
    uint32_t seq0, ack;         /* first data byte's sequence, our ACK */
    uint8_t wscale;             /* the peer's */
    uint64_t una, wnd;          /* stream offset acknowledged, window */
    int64_t una_at;             /* when una last moved */
} BenchConn;

/* The headers of @len bytes of @c at stream offset @off, no checksums */
void bench_conn_headers(uint8_t *h, const BenchConn *c, uint64_t off,
                        uint32_t len);
/*
 * The same, with their checksums (the data at @p): the TCP one whole, or
 * with @partial only the pseudo header's sum, for a host that completes
 * it (a virtio-net header's NEEDS_CSUM)
 */
void bench_conn_frame(uint8_t *h, const BenchConn *c, uint64_t off,
                      const uint8_t *p, uint32_t len, bool partial);
/*
 * Connection @i's addressing to the peer: the kernel's TCP behind the
 * tap when @tap, else the minimal peer; window @wnd until it says its own
 */
BenchConn bench_conn_new(uint32_t i, bool tap, uint64_t wnd);

/* What the sender needs of a NIC (@nic is the NIC's own state) */
typedef struct BenchNicOps {
    const char *name;
    /* A whole frame of ours, no offload, sent before this returns */
    void (*send)(void *nic, const uint8_t *f, uint32_t len);
    /* The next frame received, or NULL; rx_done gives the buffers back */
    const uint8_t *(*rx)(void *nic, uint32_t *len);
    void (*rx_done)(void *nic);
    /* Whether the transmit ring has room for one more send */
    bool (*room)(void *nic);
    /* A send of @c at stream offset @off, its data at @data, at @now */
    void (*post)(void *nic, const BenchConn *c, uint64_t off, uint64_t data,
                 int64_t now);
    /* Publish what post added; true when that rang a doorbell */
    bool (*kick)(void *nic);
    /*
     * Count the sends finished since in *@sends, their latency in @lat;
     * false when the NIC went wrong (*why says how)
     */
    bool (*reap)(void *nic, BenchLat *lat, uint64_t *sends, char *why,
                 size_t len);
    /* Optional: the receive side's state, for a run that stalled */
    void (*describe)(void *nic, char *buf, size_t len);
    /*
     * Optional, after 2 s without progress: set right a receive ring the
     * NIC stopped filling; true when it was so
     */
    bool (*rx_recover)(void *nic);
} BenchNicOps;

/*
 * ARP for the kernel's tap through @nic, then a handshake per connection
 * (the clock of @b moving while it waits, if there is one); false and
 * *@why when the kernel did not answer
 */
bool bench_nic_connect(Bench *b, const BenchNicOps *ops, void *nic,
                       BenchConn *conn, uint32_t n, char *why, size_t wlen);
/* The kernel's ACKs that arrived: how far each connection got, its window */
void bench_take_acks(const BenchNicOps *ops, void *nic, BenchConn *conn,
                     uint32_t n);

/* One anchor run's backend: "socket", "tap" or "tap-vnet" */
typedef struct BenchAnchor {
    const char *backend;
    uint32_t nconns;
    bool tap;
    int sv[2];                  /* the socket netdev's ends, until used */
    BenchSink *s;
    char netdev[64];            /* QEMU's -netdev option, id n0 */
} BenchAnchor;

/* The backend up; false when it cannot run (fig->why says why) */
bool bench_anchor_open(BenchAnchor *a, const char *backend, uint32_t nconns,
                       BenchFigures *fig);
/* @bytes over the connections through @nic, up in the QEMU of @b */
void bench_anchor_run(BenchAnchor *a, Bench *b, const BenchNicOps *ops,
                      void *nic, uint64_t bytes, BenchFigures *fig);
/* After bench_quit */
void bench_anchor_close(BenchAnchor *a);

/*
 * The floor: this program writes @bytes over @nconns connections straight
 * to the tap (with @vnet_hdr, 64-KiB super-frames as chimney-nic hands
 * them; without, checksummed MSS frames), the same sink behind it;
 * fig->cpu is the writing thread's
 */
void bench_floor(uint64_t bytes, uint32_t nconns, bool vnet_hdr,
                 BenchFigures *fig);

/* The igb anchor: @nconns streams of @bytes in all, with TSO */
void bench_igb(uint64_t bytes, uint32_t nconns, const char *backend,
               BenchFigures *fig);
/*
 * The virtio-net anchor, the same contract: with TSO on "tap-vnet", the
 * frames segmented and checksummed by the sender on "socket" and "tap"
 * (virtio-net offers no offload without a vnet header)
 */
void bench_virtio(uint64_t bytes, uint32_t nconns, const char *backend,
                  BenchFigures *fig);

#endif /* CHIMNEY_BENCH_H */
