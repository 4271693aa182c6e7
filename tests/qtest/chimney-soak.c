/*
 * chimney-soak: long-haul integrity of chimney-nic against the kernel's TCP
 *
 * Streams a GiB or more over up to 16 offloaded connections to the Linux
 * kernel's TCP (a tap in a network namespace) through the lossy relay of
 * libqos (loss, reordering, duplication, seeded), and checks what a long
 * run can break: the sink's SHA-256 of every connection against what was
 * sent, every send request completed exactly once and in order (counts
 * and cookies), and no completion before the kernel's ACK of its last
 * byte went to QEMU (the relay sees each frame before QEMU gets it).  A
 * report gives the device's retransmissions and timeouts, the relay's
 * counts, throughput and duration.  Exit status: 0 when every check
 * passed, 1 when one failed (the report says which), 2 on a bad command
 * line.  scripts/soak.sh builds and runs it; it needs root.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/atomic.h"
#include "libqtest.h"
#include "libqos/chimney-stream.h"
#include "libqos/chimney-kernel.h"
#include "libqos/chimney-prog.h"

/* The kernel peer lives in a Linux network namespace */
#ifdef CONFIG_LINUX

#define CHUNK       QCHIMNEY_STREAM_CHUNK
#define MAX_CONNS   QCHIMNEY_STREAM_CONNS
#define MAX_GIB     64
#define MAX_PCT     50

static double opt_gib = 1;
static int opt_conns = MAX_CONNS;
static double opt_loss = 5;
static double opt_reorder;
static double opt_dup;
static gint64 opt_seed = G_MININT64;        /* none given */

/* --reorder[=PCT] and --dup[=PCT]: a percentage, or the default one */
static gboolean parse_pct(const gchar *name, const gchar *value,
                          gpointer data, GError **err)
{
    bool reorder = !strcmp(name, "--reorder") || !strcmp(name, "-o");
    double *pct = reorder ? &opt_reorder : &opt_dup;
    char *end;

    if (!value) {
        *pct = reorder ? 2 : 1;
        return true;
    }
    *pct = g_ascii_strtod(value, &end);
    if (!*value || *end || *pct < 0 || *pct > MAX_PCT) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "%s=%s: give a percentage, 0 to %d", name, value,
                    MAX_PCT);
        return false;
    }
    return true;
}

static const GOptionEntry options[] = {
    { "gib", 'g', 0, G_OPTION_ARG_DOUBLE, &opt_gib,
      "GiB to stream over all connections, more than 0, at most 64 "
      "(default 1)", "N" },
    { "conns", 'c', 0, G_OPTION_ARG_INT, &opt_conns,
      "offloaded TCP connections, 1 to 16 (default 16)", "N" },
    { "loss", 'l', 0, G_OPTION_ARG_DOUBLE, &opt_loss,
      "the relay drops PCT % of TCP frames, each way, 0 to 50 (default 5)",
      "PCT" },
    { "reorder", 'o', G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK,
      parse_pct, "the relay holds PCT % of TCP frames back behind the next "
      "one (default: none; PCT 2 when not given)", "[PCT]" },
    { "dup", 'd', G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK,
      parse_pct, "the relay sends PCT % of TCP frames twice (default: none; "
      "PCT 1 when not given)", "[PCT]" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &opt_seed,
      "seed of the relay's schedule, 0 to 4294967295 (default: from the "
      "clock; the report gives it)", "N" },
    { NULL }
};

/* The run; the relay's thread writes ack_last and acked */
typedef struct Soak {
    QChimneyStreamStats st;
    int nconns;
    uint32_t sends;
    uint16_t port0;                 /* connection i's port is port0 + i */
    uint32_t ack_last[MAX_CONNS];   /* the kernel's latest ACK number */
    uint64_t acked[MAX_CONNS];      /* what it acknowledged, FIN too */
    uint32_t sent[MAX_CONNS];       /* send completions, in cookie order */
    uint32_t disconnects[MAX_CONNS];
    uint64_t checked, early;        /* ACK-gated completions */
    char *first_early;
    bool tty;
    gint64 last_line;
    uint64_t last_acked;            /* in the last progress line */
    QChimneyFixture f;
    QChimneyRelay relay;
    QChimneyKernelPeer peer;
    bool up;                        /* QEMU, the relay and the peer */
} Soak;

static Soak soak;

static void parse_options(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "- long-haul integrity of chimney-nic against the kernel's TCP");
    g_autoptr(GError) err = NULL;

    g_option_context_add_main_entries(ctx, options, NULL);
    g_option_context_set_description(ctx,
        "Runs QEMU (QTEST_QEMU_BINARY, or the qemu-system-x86_64 of the\n"
        "build this program is in) with chimney-nic on a socket netdev,\n"
        "and the Linux kernel's TCP in a network namespace (a tap) as the\n"
        "peer, with a relay between them that loses, reorders and\n"
        "duplicates TCP frames.  N connections are offloaded and stream\n"
        "the GiB in 64-KiB sends; the kernel's sink hashes what arrives.\n"
        "Checked: the SHA-256 of every connection at the sink against what\n"
        "was sent; every send completed exactly once, in order (counts and\n"
        "cookies); no completion before the kernel's ACK of its last byte\n"
        "reached QEMU.  The report gives the device's retransmissions and\n"
        "timeouts, the relay's counts, throughput and duration.  Needs\n"
        "root, /dev/net/tun and ip(8).\n"
        "\n"
        "Exit status: 0 when every check passed, 1 when one failed (the\n"
        "report says which), 2 on a bad command line.\n");
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        qchimney_usage("%s", err->message);
    }
    if (argc > 1) {
        qchimney_usage("unexpected argument '%s'", argv[1]);
    }
    if (!(opt_gib > 0 && opt_gib <= MAX_GIB)) {
        qchimney_usage("--gib %g: give more than 0 and at most %d",
                       opt_gib, MAX_GIB);
    }
    if (opt_conns < 1 || opt_conns > MAX_CONNS) {
        qchimney_usage("--conns %d: give 1 to %d connections",
                       opt_conns, MAX_CONNS);
    }
    if (!(opt_loss >= 0 && opt_loss <= MAX_PCT)) {
        qchimney_usage("--loss %g: give a percentage, 0 to %d",
                       opt_loss, MAX_PCT);
    }
    if (opt_seed != G_MININT64 && (opt_seed < 0 || opt_seed > UINT32_MAX)) {
        qchimney_usage("--seed %" PRId64 ": give 0 to %u",
                       opt_seed, UINT32_MAX);
    }
}

/* In the relay's thread: the kernel's ACKs, as QEMU gets them */
static void soak_to_qemu(void *opaque, const uint8_t *f, size_t len)
{
    Soak *s = opaque;
    const uint8_t *tcp;
    uint32_t ack;
    int32_t delta;
    int i;

    if (len < 14 + 20 || lduw_be_p(f + 12) != 0x0800 || f[23] != 6 ||
        len < 14 + (f[14] & 0xf) * 4 + 20) {
        return;
    }
    tcp = f + 14 + (f[14] & 0xf) * 4;
    i = lduw_be_p(tcp + 2) - s->port0;
    if (lduw_be_p(tcp) != QCHIMNEY_KERNEL_PORT || i < 0 || i >= s->nconns ||
        !(tcp[13] & 0x10)) {
        return;
    }
    ack = ldl_be_p(tcp + 8);
    delta = ack - s->ack_last[i];
    if (delta > 0) {
        s->ack_last[i] = ack;
        qatomic_set(&s->acked[i], s->acked[i] + delta);
    }
}

static void soak_cleanup(void)
{
    if (soak.up) {
        soak.up = false;
        kill(soak.peer.pid, SIGKILL);
        qchimney_kernel_fx_quit(&soak.f, &soak.relay, &soak.peer);
    }
}

/* A failed assertion: libqtest ends QEMU; the sink and namespace are ours */
static void soak_aborted(gpointer data)
{
    fflush(stdout);
    fprintf(stderr, "chimney-soak: FAILED: the run stopped at a failed "
            "check (above)\n");
    if (soak.up) {
        kill(soak.peer.pid, SIGKILL);
        if (fork() == 0) {
            execlp("ip", "ip", "netns", "del", soak.peer.ns, NULL);
            _exit(1);
        }
        wait(NULL);
    }
    _exit(1);
}

/* A check failed where the run cannot go on: the device's view, then out */
static G_NORETURN G_GNUC_PRINTF(1, 2) void soak_fail(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    g_autofree char *stats = qchimney_qom_str(&soak.f, "x-conn-stats");
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    printf("\nFAILED: %s\nrelay seed %" PRId64 ", dropped %" PRIu64
           ", reordered %" PRIu64 ", duplicated %" PRIu64 "\n"
           "device x-conn-stats:\n%s", msg, opt_seed, soak.relay.dropped,
           soak.relay.reordered, soak.relay.duplicated, stats);
    printf("result             FAILED: %s\n", msg);
    fflush(stdout);
    soak_cleanup();
    exit(1);
}

/* Every completion, before the stream checks it */
static void soak_completed(QChimneyStreamStats *st, const ChimneyCqe *cqe)
{
    Soak *s = container_of(st, Soak, st);
    int i = CHIMNEY_CONN_INDEX(cqe->obj);
    uint64_t want, need, seen;

    if (i >= s->nconns) {
        soak_fail("a completion for connection %d, which is not ours", i);
    }
    want = (uint64_t)i << 32 | s->sent[i];
    switch (CHIMNEY_CQE_TYPE(cqe->type_status)) {
    case CHIMNEY_CQE_SEND:
        if (cqe->cookie != want) {
            uint32_t k = cqe->cookie;

            soak_fail("connection %d: send %u completed where send %u was "
                      "next (cookie 0x%" PRIx64 "): %s", i, k, s->sent[i],
                      cqe->cookie, cqe->cookie >> 32 != i ? "not its cookie" :
                      k < s->sent[i] ? "a second completion" :
                      k < s->sends ? "out of order" : "never posted");
        }
        s->sent[i]++;
        need = (uint64_t)s->sent[i] * CHUNK;
        break;
    case CHIMNEY_CQE_DISCONNECT:
        if (s->disconnects[i]++) {
            soak_fail("connection %d: its disconnect completed twice", i);
        }
        need = (uint64_t)s->sends * CHUNK + 1;     /* and the FIN */
        break;
    default:
        return;
    }
    if (CHIMNEY_CQE_STATUS(cqe->type_status) != CHIMNEY_ST_SUCCESS) {
        return;                 /* acknowledged or not: it failed */
    }
    s->checked++;
    seen = qatomic_read(&s->acked[i]);
    if (seen < need && !s->early++) {
        s->first_early = g_strdup_printf(
            "connection %d: %s completed when QEMU had an ACK of %" PRIu64
            " bytes (FIN counted) of the %" PRIu64 " it needs", i,
            CHIMNEY_CQE_TYPE(cqe->type_status) == CHIMNEY_CQE_SEND ?
            "a send" : "its disconnect", seen, need);
        printf("\nCHECK FAILED: %s\n", s->first_early);
    }
}

static char *elapsed(gint64 us)
{
    int s = us / G_USEC_PER_SEC;

    return s >= 60 ? g_strdup_printf("%dm%02ds", s / 60, s % 60) :
                     g_strdup_printf("%.1fs", us / 1e6);
}

/* On a terminal a line rewritten twice a second, else a line each 10 s */
static void soak_progress(QChimneyStreamStats *st, bool last)
{
    Soak *s = container_of(st, Soak, st);
    gint64 now = g_get_monotonic_time();
    g_autofree char *took = elapsed(now - st->start);

    if (!s->tty && (last ? st->acked == s->last_acked :
                    now - s->last_line < 10 * G_USEC_PER_SEC)) {
        return;
    }
    s->last_line = now;
    s->last_acked = st->acked;
    printf("%sprogress: %5.1f %%  %" PRIu64 " of %" PRIu64 " MiB "
           "acknowledged  %.1f MiB/s  %s  relay dropped %" PRIu64 "%s",
           s->tty ? "\r" : "", 100.0 * st->acked / st->total,
           st->acked >> 20, st->total >> 20,
           (st->acked / 1048576.0) / MAX((now - st->start) / 1e6, 0.000001),
           took, qatomic_read(&s->relay.dropped),
           s->tty && !last ? "  " : "\n");
    fflush(stdout);
}

static uint64_t stat_field(const char *line, const char *key)
{
    g_autofree char *k = g_strdup_printf(" %s=", key);
    const char *p = strstr(line, k);

    return p ? g_ascii_strtoull(p + strlen(k), NULL, 10) : 0;
}

static void on_alarm(void (*handler)(int))
{
    struct sigaction sa = { .sa_handler = handler };

    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
}

static void start(void)
{
    const char *why = qchimney_kernel_peer_unusable();
    QChimneyConn hc[MAX_CONNS];

    if (why) {
        fprintf(stderr, "chimney-soak: cannot run here: it %s\n", why);
        exit(1);
    }
    printf("== chimney-nic soak: %d connections to the kernel's TCP, %"
           PRIu64 " MiB ==\n", soak.nconns,
           (uint64_t)soak.sends * soak.nconns * CHUNK >> 20);
    printf("relay: loss %g %%, reordering %g %%, duplication %g %%, seed %"
           PRId64 "\n", opt_loss, opt_reorder, opt_dup, opt_seed);
    /*
     * The sink ends itself after 300 s, the qtests' safety net; a soak
     * runs longer, so it starts with SIGALRM ignored and we end it.
     */
    on_alarm(SIG_IGN);
    qchimney_kernel_peer_start(&soak.peer, soak.nconns, 0, "0", false);
    on_alarm(SIG_DFL);
    qchimney_kernel_fx_start(&soak.f, &soak.relay, &soak.peer,
                             opt_loss / 100, opt_dup / 100,
                             opt_reorder / 100, opt_seed);
    soak.up = true;
    qchimney_kernel_connect(&soak.f, hc, soak.nconns, 0);
    soak.port0 = hc[0].port;
    for (int i = 0; i < soak.nconns; i++) {
        g_assert_cmpuint(hc[i].port, ==, soak.port0 + i);
        soak.ack_last[i] = hc[i].iss + 1;
    }
    qchimney_relay_observe(&soak.relay, soak_to_qemu, &soak);
    printf("%d connections offloaded (10.9.0.1:%u-%u to 10.9.0.2:%u, "
           "namespace %s)\n", soak.nconns, soak.port0,
           soak.port0 + soak.nconns - 1, QCHIMNEY_KERNEL_PORT, soak.peer.ns);
    fflush(stdout);

    /* Stream, with the clock moving on while nothing completes */
    {
        uint64_t buf[MAX_CONNS], sgl[MAX_CONNS];

        for (int i = 0; i < soak.nconns; i++) {
            qchimney_stream_buffer(&soak.f, i, &buf[i], &sgl[i]);
        }
        qchimney_relay_set_lossy(&soak.relay, true);
        soak.st.start = soak.last_line = g_get_monotonic_time();
        soak.last_acked = UINT64_MAX;
        qchimney_stream_run_stats(&soak.f, hc, soak.nconns, soak.sends, buf,
                                  sgl, true, &soak.st);
    }
}

static void sink_silent(int sig)
{
    static const char msg[] = "chimney-soak: FAILED: the sink gave no "
                              "result within 120 s of the last FIN\n";

    g_assert(write(2, msg, sizeof(msg) - 1));
    kill(soak.peer.pid, SIGKILL);
    _exit(1);
}

int main(int argc, char **argv)
{
    Soak *s = &soak;
    uint64_t per_conn, total, sink_total = 0, rexmit = 0, timeouts = 0;
    uint64_t fast = 0, dupacks = 0, probes = 0, sink_bytes[MAX_CONNS] = {};
    char *sink_sha[MAX_CONNS] = {}, *want[MAX_CONNS] = {}, **lines;
    g_autofree char *stats = NULL, *took = NULL;
    bool complete = true, match = true, counted = true;
    int mismatched = 0;
    gint64 t_start = g_get_monotonic_time(), t_end;
    double secs;

    parse_options(argc, argv);
    if (opt_seed == G_MININT64) {
        opt_seed = (uint32_t)g_get_real_time();
    }
    qchimney_prog_init(argv[0]);
    qtest_add_abrt_handler(soak_aborted, NULL);
    s->tty = isatty(STDOUT_FILENO);
    s->nconns = opt_conns;
    s->sends = MAX(opt_gib * 1073741824.0 / s->nconns / CHUNK, 1);
    per_conn = (uint64_t)s->sends * CHUNK;
    total = per_conn * s->nconns;
    s->st = (QChimneyStreamStats) {
        .progress = soak_progress, .completed = soak_completed,
        .tolerant = true, .total = total,
        .posted_at = g_new0(gint64, (uint64_t)s->nconns * s->sends),
        .latency = g_new0(gint64, (uint64_t)s->nconns * s->sends),
    };

    start();
    t_end = g_get_monotonic_time();
    secs = MAX((t_end - s->st.start) / 1e6, 0.000001);
    soak_progress(&s->st, true);
    for (int i = 0; i < s->nconns; i++) {
        complete &= !s->st.stopped[i];
        counted &= s->sent[i] == s->sends && s->disconnects[i] == 1;
    }
    stats = qchimney_qom_str(&s->f, "x-conn-stats");

    /* The sink's view, once every connection closed both ways */
    if (complete) {
        on_alarm(sink_silent);
        alarm(120);
        for (int n = 0; n < s->nconns; n++) {
            unsigned port;
            uint64_t bytes;
            char sha[80];
            int i;

            qchimney_kernel_peer_result(&s->peer, &port, &bytes, sha,
                                        sizeof(sha));
            i = port - s->port0;
            if (i < 0 || i >= s->nconns || sink_sha[i]) {
                soak_fail("the sink reported port %u", port);
            }
            sink_bytes[i] = bytes;
            sink_sha[i] = g_strdup(sha);
            sink_total += bytes;
        }
        alarm(0);
        for (int i = 0; i < s->nconns; i++) {
            want[i] = qchimney_stream_sha(i, s->sends);
            if (sink_bytes[i] != per_conn || strcmp(sink_sha[i], want[i])) {
                mismatched++;
            }
        }
        match = !mismatched;
    }
    soak_cleanup();
    took = elapsed(g_get_monotonic_time() - t_start);

    lines = g_strsplit(stats, "\n", -1);
    for (char **l = lines; *l && **l; l++) {
        rexmit += stat_field(*l, "retransmits");
        timeouts += stat_field(*l, "timeouts");
        fast += stat_field(*l, "fast_retransmits");
        dupacks += stat_field(*l, "dup_acks");
        probes += stat_field(*l, "probes");
    }

    printf("==== soak report ====\n");
    printf("connections        %d, offloaded, to the Linux kernel's TCP "
           "(network namespace, tap)\n", s->nconns);
    printf("relay              loss %g %%, reordering %g %%, duplication "
           "%g %%, seed %" PRId64 "\n", opt_loss, opt_reorder, opt_dup,
           opt_seed);
    printf("relay counts       dropped %" PRIu64 ", reordered %" PRIu64
           ", duplicated %" PRIu64 " TCP frames\n", s->relay.dropped,
           s->relay.reordered, s->relay.duplicated);
    if (!complete) {
        printf("bytes              not all sent: %" PRIu64 " of %" PRIu64
               " acknowledged; the sink was not asked\n", s->st.acked,
               total);
    } else if (match) {
        printf("bytes              %" PRIu64 " (%" PRIu64 " MiB), SHA-256 "
               "of every connection at the sink: match\n", sink_total,
               sink_total >> 20);
    } else {
        printf("bytes              %" PRIu64 " of %" PRIu64 " at the sink, "
               "SHA-256: %d of %d connections MISMATCH\n", sink_total,
               total, mismatched, s->nconns);
    }
    printf("send completions   %u of %" PRIu64 ", each once and in order "
           "(cookies checked); SUCCESS %" PRIu64 ", other %" PRIu64 "\n",
           s->st.nlat, (uint64_t)s->sends * s->nconns,
           s->st.statuses[CHIMNEY_ST_SUCCESS],
           s->st.nlat - s->st.statuses[CHIMNEY_ST_SUCCESS]);
    for (unsigned st = 1; st < ARRAY_SIZE(s->st.statuses); st++) {
        if (s->st.statuses[st]) {
            printf("                   %s %" PRIu64 "\n",
                   qchimney_status_name(st), s->st.statuses[st]);
        }
    }
    printf("ACK-gated          %" PRIu64 " completions checked against the "
           "kernel's ACKs on the wire: %" PRIu64 " early\n", s->checked,
           s->early);
    printf("retransmissions    %" PRIu64 " (fast retransmits %" PRIu64
           ", dup ACKs %" PRIu64 ", zero-window probes %" PRIu64 ")\n",
           rexmit, fast, dupacks, probes);
    printf("timeouts           %" PRIu64 " (retransmission timer)\n",
           timeouts);
    printf("throughput         %.2f MiB/s\n", (s->st.acked / 1048576.0) /
           secs);
    printf("duration           %.1f s streaming, %s in all\n", secs, took);
    for (int i = 0; i < s->nconns; i++) {
        if (s->st.stopped[i]) {
            printf("connection %-7d ended early: %s (%u of %u sends "
                   "completed)\n", i, s->st.stalled ? "no progress" :
                   s->st.stop_event[i] == CHIMNEY_EVENT_ABORT ? "reset" :
                   "upload requested", s->sent[i], s->sends);
        } else if (complete && (sink_bytes[i] != per_conn ||
                                strcmp(sink_sha[i], want[i]))) {
            printf("connection %-7d the sink got %" PRIu64 " of %" PRIu64
                   " bytes, SHA-256 %s, sent %s\n", i, sink_bytes[i],
                   per_conn, sink_sha[i], want[i]);
        }
        g_free(sink_sha[i]);
        g_free(want[i]);
    }
    if (!complete || !match || s->early || !counted) {
        printf("device x-conn-stats:\n%s", stats);
    }
    g_strfreev(lines);
    g_free(s->st.posted_at);
    g_free(s->st.latency);

    if (complete && match && !s->early && counted &&
        s->st.statuses[CHIMNEY_ST_SUCCESS] == s->st.nlat) {
        printf("result             ok\n");
        return 0;
    }
    printf("result             FAILED: %s\n",
           s->st.stalled ? "the stream stalled: nothing completed for 30 s" :
           !complete ? "connections ended early" :
           !match ? "the sink did not get the bytes that were sent" :
           s->early ? s->first_early :
           !counted ? "not every send completed exactly once" :
           "not every send completed with SUCCESS");
    return 1;
}

#else

int main(int argc, char **argv)
{
    fprintf(stderr, "chimney-soak: the kernel's TCP peer needs Linux\n");
    return 1;
}

#endif /* CONFIG_LINUX */
