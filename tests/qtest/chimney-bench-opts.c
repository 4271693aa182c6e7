/*
 * chimney-bench: its command line
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "libqos/chimney-prog.h"
#include "chimney-bench.h"

static void parse_list(const char *s, uint32_t *v, uint32_t *n)
{
    g_auto(GStrv) parts = g_strsplit(s, ",", 8);

    *n = 0;
    for (int i = 0; parts[i]; i++) {
        uint64_t x;

        if (qemu_strtou64(parts[i], NULL, 10, &x) || !x || x > (1u << 20)) {
            qchimney_usage("bad connection count '%s'", parts[i]);
        }
        v[(*n)++] = x;
    }
}

static void usage(void)
{
    printf("usage: chimney-bench [--quick] [--mib M] [--conns N,N] "
           "[--sweep N,N,...] [--sweep-secs S]\n"
           "                     [--repeat R] [--sweep-repeat R] "
           "[--no-kernel] [--no-igb] "
           "[--no-virtio] [--no-floor] [--bound GB/s]\n"
           "                     [--mod COUNT,USEC] [--no-holdoff] "
           "[--no-db-hint] [--pin] [--perf DIR]\n");
}

void bench_parse_opts(int argc, char **argv, BenchOpts *o)
{
    bool quick = false;
    uint64_t repeat = 0, sweep_repeat = 0;

    *o = (BenchOpts) {
        .mib = 1024, .conns = { 1, 16 }, .nconns = 2,
        .sweep = { 1, 64, 1024, 16384, 65536 }, .nsweep = 5,
        .sweep_secs = 3, .repeat = 3, .sweep_repeat = 5, .kernel = true,
        .igb = true, .virtio = true, .floor = true,
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t x;

        if (!strcmp(a, "--quick")) {
            o->mib = 64;
            o->sweep[0] = 1;
            o->sweep[1] = 64;
            o->sweep[2] = 1024;
            o->nsweep = 3;
            o->sweep_secs = 1;
            quick = true;
        } else if (!strcmp(a, "--no-kernel")) {
            o->kernel = false;
        } else if (!strcmp(a, "--no-igb")) {
            o->igb = false;
        } else if (!strcmp(a, "--no-virtio")) {
            o->virtio = false;
        } else if (!strcmp(a, "--no-floor")) {
            o->floor = false;
        } else if (!strcmp(a, "--pin")) {
            o->pin = true;
        } else if (!strcmp(a, "--no-holdoff")) {
            o->no_holdoff = true;
        } else if (!strcmp(a, "--no-db-hint")) {
            o->no_db_hint = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            exit(0);
        } else if (!v) {
            qchimney_usage("unknown option or missing value: %s", a);
        } else if (!strcmp(a, "--mib")) {
            if (qemu_strtou64(v, NULL, 10, &x) || !x || x > 65536) {
                qchimney_usage("bad --mib '%s'", v);
            }
            o->mib = x;
            i++;
        } else if (!strcmp(a, "--conns")) {
            parse_list(v, o->conns, &o->nconns);
            i++;
        } else if (!strcmp(a, "--sweep")) {
            parse_list(v, o->sweep, &o->nsweep);
            i++;
        } else if (!strcmp(a, "--sweep-secs")) {
            o->sweep_secs = g_ascii_strtod(v, NULL);
            if (o->sweep_secs <= 0 || o->sweep_secs > 600) {
                qchimney_usage("bad --sweep-secs '%s'", v);
            }
            i++;
        } else if (!strcmp(a, "--repeat")) {
            if (qemu_strtou64(v, NULL, 10, &x) || !x || x > 99) {
                qchimney_usage("bad --repeat '%s'", v);
            }
            repeat = x;
            i++;
        } else if (!strcmp(a, "--sweep-repeat")) {
            if (qemu_strtou64(v, NULL, 10, &x) || !x || x > 99) {
                qchimney_usage("bad --sweep-repeat '%s'", v);
            }
            sweep_repeat = x;
            i++;
        } else if (!strcmp(a, "--bound")) {
            o->bound = g_ascii_strtod(v, NULL);
            i++;
        } else if (!strcmp(a, "--perf")) {
            o->perf = v;
            i++;
        } else if (!strcmp(a, "--mod")) {
            if (sscanf(v, "%u,%u", &o->mod_count, &o->mod_usec) != 2) {
                qchimney_usage("bad --mod '%s'", v);
            }
            i++;
        } else {
            qchimney_usage("unknown option %s", a);
        }
    }
    /* a profile is of one run: a repeat would write over it */
    if (o->perf && (repeat > 1 || sweep_repeat > 1)) {
        qchimney_usage("--perf profiles one run of each row: no --repeat");
    }
    if (repeat) {
        o->repeat = repeat;
    } else if (quick || o->perf) {
        o->repeat = 1;
    }
    if (sweep_repeat) {
        o->sweep_repeat = sweep_repeat;
    } else if (quick || o->perf) {
        o->sweep_repeat = 1;
    }
}
