/*
 * chimney-bench: the table's rows and the lines under it
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "chimney-bench.h"

double bench_mbps(const BenchFigures *f)
{
    return f->secs > 0 ? f->bytes / f->secs / 1e6 : 0;
}

double bench_cpu_per_gb(const BenchFigures *f)
{
    return f->bytes ? f->cpu / (f->bytes / 1e9) : 0;
}

double bench_ns_per_seg(const BenchFigures *f)
{
    return f->segs ? f->cpu * 1e9 / f->segs : 0;
}

void bench_row_head(void)
{
    printf("%-34s %5s %7s %7s %6s %7s %6s %7s %7s %6s %5s %7s %6s %6s\n",
           "run", "conns", "MB/s", "CPUs/GB", "ns/seg", "irq/cpl", "db/req",
           "p50 us", "p99 us", "%bound", "x igb", "seg/ack", "rexmit",
           "spread");
}

bool bench_row(const char *name, uint32_t n, const BenchFigures *f,
               const BenchOpts *o, double igb_mbps, double spread)
{
    if (!f->ok) {
        printf("%-34s %5u FAILED: %s\n", name, n, f->why);
        return false;
    }
    printf("%-34s %5u %7.0f %7.3f %6.0f %7.3f %6.3f %7.0f %7.0f %5.2f%% ",
           name, n, bench_mbps(f), bench_cpu_per_gb(f),
           bench_ns_per_seg(f), f->reqs ? (double)f->irqs / f->reqs : 0,
           f->reqs ? (double)f->doorbells / f->reqs : 0,
           f->lat_p50_us, f->lat_p99_us,
           o->bound ? bench_mbps(f) / (o->bound * 1e3) * 100 : 0);
    if (igb_mbps > 0) {
        printf("%5.2f ", bench_mbps(f) / igb_mbps);
    } else {
        printf("%5s ", "-");
    }
    if (f->acks) {
        printf("%7.1f ", (double)f->segs / f->acks);
    } else {
        printf("%7s ", "-");
    }
    printf("%6" PRIu64, f->rexmit);
    if (o->repeat > 1) {
        printf(" %5.0f%%\n", spread * 100);
    } else {
        printf(" %6s\n", "-");
    }
    fflush(stdout);
    return true;
}

/* chimney's MB/s over virtio-net's, under the table: no room for a column */
void bench_virtio_ratios(const BenchOpts *o, const double (*vio)[3],
                         const double (*chim)[3])
{
    static const char *const what[3] = {
        "socket", "tap (vnet off)", "tap (vnet on)",
    };

    if (!o->virtio) {
        return;
    }
    printf("\nx virtio (chimney's MB/s over virtio-net's):\n");
    for (uint32_t k = 0; k < o->nconns; k++) {
        printf("  %5u conns:", o->conns[k]);
        for (int j = 0; j < 3; j++) {
            if (vio[k][j] > 0 && chim[k][j] > 0) {
                printf(" %s %.2f%s", what[j], chim[k][j] / vio[k][j],
                       j < 2 ? "," : "");
            } else {
                printf(" %s -%s", what[j], j < 2 ? "," : "");
            }
        }
        printf("\n");
    }
}

/*
 * chimney's CPU per GB over the floor's: what QEMU spends beyond the cost
 * of writing the same frames to the tap, which any writer pays
 */
void bench_floor_ratios(const BenchOpts *o, const double (*floor_cpu)[2],
                        const double (*chim_cpu)[2])
{
    if (!o->floor || !o->kernel) {
        return;
    }
    printf("\nx floor (chimney's CPU per GB over the floor's; QEMU's own "
           "beyond it):\n");
    for (uint32_t k = 0; k < o->nconns; k++) {
        printf("  %5u conns:", o->conns[k]);
        for (int vnet = 0; vnet < 2; vnet++) {
            const char *sep = vnet ? "" : ";";

            if (floor_cpu[k][vnet] > 0 && chim_cpu[k][vnet] > 0) {
                printf(" tap (vnet %s) %.2f, %+.3f s per GB%s",
                       vnet ? "on" : "off",
                       chim_cpu[k][vnet] / floor_cpu[k][vnet],
                       chim_cpu[k][vnet] - floor_cpu[k][vnet], sep);
            } else {
                printf(" tap (vnet %s) -%s", vnet ? "on" : "off", sep);
            }
        }
        printf("\n");
    }
}
