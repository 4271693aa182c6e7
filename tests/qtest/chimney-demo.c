/*
 * chimney-demo: chimney-nic on libslirp, for real, with a report
 *
 * Brings the device up on -netdev user the way a guest driver does (the
 * libqos model driver over qtest), ARPs for the gateway and pings it
 * through the L2 queues, then does the three-way handshake through
 * libslirp to a TCP server of its own on 127.0.0.1, offloads the
 * connections and streams through them with a progress line; the server
 * hashes what arrives.  It ends with a report and exits 0 when every
 * server hash matches and every send completion succeeded (or failed
 * only because --rules asked for it), 1 when the run failed, 2 on a bad
 * command line.  With --ipv6 the connections are IPv6 ones, through
 * libslirp's IPv6 to its host fec0::2 (the server then listens on ::1).
 * scripts/run-demo.sh builds and runs it.
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qobject/qdict.h"
#include "libqtest.h"
#include "libqos/chimney-slirp.h"
#include "libqos/chimney-prog.h"

#define CHUNK       QCHIMNEY_STREAM_CHUNK
#define MAX_CONNS   QCHIMNEY_STREAM_CONNS
#define MAX_MIB     16384

static int opt_conns = 4;
static int opt_mib = 64;
static char *opt_rules;
static char *opt_pcap;
static gboolean opt_ipv6;

static const GOptionEntry options[] = {
    { "conns", 'c', 0, G_OPTION_ARG_INT, &opt_conns,
      "offloaded TCP connections, 1 to 16 (default 4)", "N" },
    { "mib", 'm', 0, G_OPTION_ARG_INT, &opt_mib,
      "MiB to stream over all connections, 1 to 16384 (default 64)", "M" },
    { "rules", 'r', 0, G_OPTION_ARG_STRING, &opt_rules,
      "fault rules for the device's completions, in the x-fault-rules "
      "language, e.g. 'type=send delay=5ms' (default: none)", "RULES" },
    { "pcap", 'p', 0, G_OPTION_ARG_FILENAME, &opt_pcap,
      "write the wire to FILE with QEMU's filter-dump (default: none)",
      "FILE" },
    { "ipv6", '6', 0, G_OPTION_ARG_NONE, &opt_ipv6,
      "offload IPv6 connections, through libslirp's IPv6 to fec0::2 and a "
      "server on ::1 (default: IPv4 to 10.0.2.2, a server on 127.0.0.1)",
      NULL },
    { NULL }
};

/* A check inside the run failed: glib said which; QEMU is gone by now. */
static void run_aborted(gpointer data)
{
    fflush(stdout);
    fprintf(stderr, "chimney-demo: FAILED: the run stopped at a failed "
            "check (above)\n");
    _exit(1);
}

static void progress(QChimneyStreamStats *st, bool last)
{
    gint64 now = g_get_monotonic_time();

    printf("progress: %5.1f %%  %" PRIu64 " MiB acknowledged  %.1f MiB/s\n",
           100.0 * st->acked / st->total, st->acked >> 20,
           (st->acked / 1048576.0) / MAX((now - st->start) / 1e6, 0.000001));
    fflush(stdout);
}

static int cmp_i64(const void *a, const void *b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

    return x < y ? -1 : x > y;
}

static void parse_options(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- chimney-nic on libslirp, with a report");
    g_autoptr(GError) err = NULL;

    g_option_context_add_main_entries(ctx, options, NULL);
    g_option_context_set_description(ctx,
        "Runs QEMU (QTEST_QEMU_BINARY, or the qemu-system-x86_64 of the\n"
        "build this program is in) with chimney-nic on -netdev user and\n"
        "drives it as a guest driver would: ARP and ping of the gateway\n"
        "10.0.2.2 through the L2 queues, then N connections through\n"
        "libslirp to a server on 127.0.0.1, offloaded, streaming M MiB in\n"
        "all; the server hashes what arrives.  The report gives the hash\n"
        "check, throughput, send completion latency (post to completion)\n"
        "p50/p99/max, the statuses, retransmissions, the rules and the pcap\n"
        "file.  With --ipv6 the connections go to libslirp's IPv6 host\n"
        "fec0::2 (neighbor discovery first) and the server is on ::1.\n"
        "\n"
        "Exit status: 0 when every server hash matched and every send\n"
        "completion succeeded (or failed only because --rules has a fail=\n"
        "rule), 1 when the run failed, 2 on a bad command line.\n");
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        qchimney_usage("%s", err->message);
    }
    if (argc > 1) {
        qchimney_usage("unexpected argument '%s'", argv[1]);
    }
    if (opt_conns < 1 || opt_conns > MAX_CONNS) {
        qchimney_usage("--conns %d: give 1 to %d connections", opt_conns,
                       MAX_CONNS);
    }
    if (opt_mib < 1 || opt_mib > MAX_MIB) {
        qchimney_usage("--mib %d: give 1 to %d MiB", opt_mib, MAX_MIB);
    }
    if (opt_rules && !*opt_rules) {
        opt_rules = NULL;
    }
    if (opt_pcap && !*opt_pcap) {
        qchimney_usage("--pcap needs a file name");
    }
    if (opt_pcap) {
        int fd = open(opt_pcap, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        if (fd < 0) {
            qchimney_usage("--pcap %s: %s", opt_pcap, strerror(errno));
        }
        close(fd);
    }
}

/* The rules are QEMU's to check: refused ones are a bad command line. */
static void check_rules(QChimneyFixture *f)
{
    QDict *rsp;

    if (!opt_rules) {
        return;
    }
    rsp = qtest_qmp(f->qts, "{'execute': 'qom-set', 'arguments': "
                    "{'path': '/machine/peripheral/nic0', "
                    "'property': 'x-fault-rules', 'value': %s}}", opt_rules);
    if (qdict_haskey(rsp, "error")) {
        g_autofree char *desc = g_strdup(qdict_get_str(
            qdict_get_qdict(rsp, "error"), "desc"));

        qobject_unref(rsp);
        qchimney_fx_quit(f);
        qchimney_usage("--rules '%s': %s", opt_rules, desc);
    }
    qobject_unref(rsp);
    qchimney_set_rules(f, "");      /* not yet: once offloaded */
}

static void bring_up(QChimneyFixture *f)
{
    /* no CPU runs: no vapic option ROM (and no complaint that it is not) */
    g_autoptr(GString) extra = g_string_new("-global apic-common.vapic=off");
    QChimneyConn hc = { 0 };

    if (opt_pcap) {
        g_auto(GStrv) parts = g_strsplit(opt_pcap, ",", -1);
        g_autofree char *escaped = g_strjoinv(",,", parts);

        g_string_append_printf(extra, " -object filter-dump,id=dump0,"
                               "netdev=n0,file=%s", escaped);
    }
    printf("== chimney-nic on -netdev user (libslirp) ==\n");
    qchimney_slirp_start(f, extra->str);
    check_rules(f);
    printf("chimney-nic up: %u CQs, %u MSI-X vectors, MAC "
           "%02x:%02x:%02x:%02x:%02x:%02x\n", f->c.id.num_cqs,
           f->c.id.num_vectors, f->c.id.mac[0], f->c.id.mac[1],
           f->c.id.mac[2], f->c.id.mac[3], f->c.id.mac[4], f->c.id.mac[5]);
    qchimney_slirp_addr(&hc);
    qchimney_arp_request(&f->c, &hc);
    printf("sent ARP request for 10.0.2.2\n");
    qchimney_arp_reply_wait(&f->c, &hc);
    printf("ARP reply: 10.0.2.2 is at %02x:%02x:%02x:%02x:%02x:%02x\n",
           hc.peer_mac[0], hc.peer_mac[1], hc.peer_mac[2], hc.peer_mac[3],
           hc.peer_mac[4], hc.peer_mac[5]);
    for (int seq = 1; seq <= 3; seq++) {
        size_t len = qchimney_slirp_ping(&f->c, &hc, seq);

        printf("ping 10.0.2.2 seq %d: echo reply, %zu bytes, payload "
               "intact\n", seq, len);
    }
    if (opt_ipv6) {
        static const uint8_t host6[16] = { 0xfe, 0xc0, [15] = 0x02 };
        static const uint8_t ip6[16] = { 0xfe, 0xc0, [14] = 1, [15] = 0x15 };

        hc.ipv6 = true;
        memcpy(hc.ip6, ip6, 16);
        memcpy(hc.peer_ip6, host6, 16);
        memset(hc.peer_mac, 0, 6);
        qchimney_ndp_solicit(&f->c, &hc);
        printf("sent neighbor solicitation for fec0::2\n");
        qchimney_ndp_advert_wait(&f->c, &hc);
        printf("neighbor advertisement: fec0::2 is at "
               "%02x:%02x:%02x:%02x:%02x:%02x\n", hc.peer_mac[0],
               hc.peer_mac[1], hc.peer_mac[2], hc.peer_mac[3],
               hc.peer_mac[4], hc.peer_mac[5]);
    }
    fflush(stdout);
}

static const char *stop_reason(QChimneyStreamStats *st, int i)
{
    static char buf[64];

    switch (st->stop_event[i]) {
    case CHIMNEY_EVENT_ABORT:
        return "reset (ABORT event)";
    case CHIMNEY_EVENT_UPLOAD_REQUEST:
        snprintf(buf, sizeof(buf), "upload requested (reason %u)",
                 st->stop_info[i]);
        return buf;
    default:
        return "no progress";
    }
}

int main(int argc, char **argv)
{
    QChimneyStreamStats st = { .progress = progress, .tolerant = true };
    QChimneyServer srv = { 0 };
    QChimneyFixture f;
    QChimneyConn hc[MAX_CONNS];
    uint64_t buf[MAX_CONNS], sgl[MAX_CONNS], rexmit = 0, server_bytes = 0;
    bool match = true, failed_on_purpose, complete;
    g_autofree char *conns = NULL;
    double secs;
    uint64_t other, total;
    uint32_t sends;
    int nconns;
    gint64 t0;
    char *p;

    parse_options(argc, argv);
    nconns = opt_conns;
    sends = MAX(opt_mib * 1048576ull / nconns / CHUNK, 1);
    total = (uint64_t)sends * nconns * CHUNK;
    qchimney_prog_init(argv[0]);
    qtest_add_abrt_handler(run_aborted, NULL);
    bring_up(&f);

    printf("\n== %d offloaded %s connections, %" PRIu64 " MiB ==\n", nconns,
           opt_ipv6 ? "IPv6" : "IPv4", total >> 20);
    if (opt_ipv6) {
        QChimneyConn tmpl = { .ipv6 = true };

        qchimney_server_listen6(&srv, nconns);
        qchimney_slirp_connect_as(&f, &srv, hc, nconns, 0, &tmpl);
    } else {
        qchimney_server_listen(&srv, nconns);
        qchimney_slirp_connect(&f, &srv, hc, nconns, 0);
    }
    for (int i = 0; i < nconns; i++) {
        qchimney_stream_buffer(&f, i, &buf[i], &sgl[i]);
        qchimney_server_start(&srv, i, false);
    }
    if (opt_rules) {
        qchimney_set_rules(&f, opt_rules);
    }
    st.posted_at = g_new0(gint64, (uint64_t)nconns * sends);
    st.latency = g_new0(gint64, (uint64_t)nconns * sends);
    st.total = total;
    t0 = st.start = st.last_report = g_get_monotonic_time();
    qchimney_stream_run_stats(&f, hc, nconns, sends, buf, sgl,
                              opt_rules != NULL, &st);
    secs = MAX((g_get_monotonic_time() - t0) / 1e6, 0.000001);
    progress(&st, true);

    /* The server's view; a connection that ended early sends no FIN */
    for (int i = 0; i < nconns; i++) {
        g_autofree char *sha = qchimney_stream_sha(i, sends);

        if (st.stopped[i]) {
            shutdown(srv.fd[i], SHUT_RDWR);
        }
        qchimney_server_join(&srv, i);
        server_bytes += srv.bytes[i];
        if (srv.bytes[i] != (uint64_t)sends * CHUNK ||
            strcmp(srv.sha[i], sha)) {
            match = false;
        }
    }
    conns = qchimney_qom_str(&f, "x-conn-stats");
    for (p = conns; (p = strstr(p, " retransmits="));) {
        rexmit += g_ascii_strtoull(p + 13, &p, 10);
    }
    close(srv.listen_fd);
    qchimney_fx_quit(&f);

    qsort(st.latency, st.nlat, sizeof(*st.latency), cmp_i64);
    other = st.nlat - st.statuses[CHIMNEY_ST_SUCCESS];
    failed_on_purpose = opt_rules && strstr(opt_rules, "fail=");
    printf("==== report ====\n");
    printf("connections        %d %s (libslirp, server on %s)\n", nconns,
           opt_ipv6 ? "IPv6" : "IPv4", opt_ipv6 ? "::1" : "127.0.0.1");
    if (match) {
        printf("bytes              %" PRIu64 " (%" PRIu64 " MiB), SHA-256 "
               "checked at the server: match\n", server_bytes,
               server_bytes >> 20);
    } else {
        printf("bytes              %" PRIu64 " of %" PRIu64 " at the "
               "server, SHA-256 checked at the server: MISMATCH\n",
               server_bytes, total);
    }
    printf("throughput         %.1f MiB/s over %.2f s\n",
           (st.acked / 1048576.0) / secs, secs);
    if (st.nlat) {
        printf("send completions   %u, latency post->completion p50 %.3f ms"
               "  p99 %.3f ms  max %.3f ms\n", st.nlat,
               st.latency[st.nlat / 2] / 1e3,
               st.latency[MIN(st.nlat - 1, st.nlat * 99 / 100)] / 1e3,
               st.latency[st.nlat - 1] / 1e3);
    } else {
        printf("send completions   0\n");
    }
    printf("statuses           SUCCESS %" PRIu64 ", other %" PRIu64,
           st.statuses[CHIMNEY_ST_SUCCESS], other);
    for (unsigned s = 1; s < ARRAY_SIZE(st.statuses); s++) {
        if (st.statuses[s]) {
            printf(" (%s %" PRIu64 ")", qchimney_status_name(s),
                   st.statuses[s]);
        }
    }
    printf("\n");
    printf("retransmissions    %" PRIu64 "\n", rexmit);
    printf("fault rules        %s\n", opt_rules ? opt_rules : "none");
    if (opt_pcap) {
        printf("pcap of the wire   %s\n", opt_pcap);
    }
    for (int i = 0; i < nconns; i++) {
        if (st.stopped[i]) {
            printf("connection %-7d ended early: %s; the server got %"
                   PRIu64 " of %" PRIu64 " bytes\n", i, stop_reason(&st, i),
                   srv.bytes[i], (uint64_t)sends * CHUNK);
        }
        g_free(srv.sha[i]);
    }
    g_free(st.posted_at);
    g_free(st.latency);

    complete = st.nlat == (uint64_t)nconns * sends && !other;
    if (match && !st.stalled && (complete || failed_on_purpose)) {
        printf("result             ok%s\n", other ?
               ": the failed completions are the ones --rules asked for" :
               "");
        return 0;
    }
    if (st.stalled) {
        printf("result             FAILED: the stream stalled, no "
               "completion for %d s\n", opt_rules ? 30 : 5);
    } else if (!match && failed_on_purpose) {
        printf("result             FAILED: the data did not all arrive; "
               "--rules failed completions on purpose, and a guest stack "
               "would take those connections back\n");
    } else {
        printf("result             FAILED: %s\n", !match ?
               "the server did not get the data that was sent" :
               "not every send completed with SUCCESS");
    }
    return 1;
}
