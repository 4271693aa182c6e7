#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The send-path benchmark, one command: build what is missing, measure the
# copy + checksum bound of this machine (build/chimney-csum-bound), then
# run chimney-bench (tests/qtest/chimney-bench.c) and print its table:
# offloaded sends of 64-KiB requests on 1 and 16 connections to a minimal
# ACK-ing peer on a socket netdev and to the Linux kernel's TCP through a
# tap in a network namespace (vnet header off and on), QEMU's igb sending
# the same bytes with TSO and QEMU's virtio-net sending them (TSO through
# the tap's vnet header), the floor of each tap (this program writing the
# same frames to the tap: what the kernel's side costs any writer), and the
# cost per segment with many connections sending at once.  Every byte is
# checked at the peer; figures are printed, never asserted.  Then, unless
# --quick or --perf, QEMU's memory per offloaded connection by
# scripts/bench-conns.sh.
#
#   bench-send.sh [--quick] [--mib M] [--conns N,N] [--sweep N,N,...]
#                 [--sweep-secs S] [--repeat R] [--sweep-repeat R]
#                 [--no-kernel] [--no-igb] [--no-virtio] [--no-floor]
#                 [--mod COUNT,USEC] [--no-holdoff] [--no-db-hint] [--pin]
#                 [--perf DIR]
#
#   --quick          the CI smoke: 64 MiB a run, sweep 1,64,1024 for 1 s,
#                    one run a row, a short bound, no bench-conns.sh
#                    (under a minute)
#   --mib M          MiB per run of the table (default 1024)
#   --conns N,N      connection counts of the table (default 1,16)
#   --sweep N,...    connection counts of the per-segment sweep (default
#                    1,64,1024,16384,65536; max-conns and max-sq-entries
#                    are raised to fit, 4 SQ entries a connection)
#   --sweep-secs S   seconds measured per sweep point (default 3)
#   --repeat R       runs of every row, each in a QEMU of its own; the
#                    run with the median MB/s is printed, with the range
#                    over the median (`spread`) (default 3, or 1 with
#                    --quick or --perf; more than 1 is refused with --perf)
#   --sweep-repeat R rounds over the sweep's points, one run of each point
#                    a round, so that the machine's drift weighs on all
#                    alike; the run with the median ns per segment is
#                    printed (default 5, or 1 with --quick or --perf)
#   --no-kernel      no tap runs (they need root, /dev/net/tun and ip(8);
#                    without them they are skipped and said so)
#   --no-igb         no igb anchor
#   --no-virtio      no virtio-net anchor
#   --no-floor       no floor rows (the tap written by the harness itself)
#   --mod C,U        interrupt moderation of the completion queue
#                    (entries, microseconds; default 0,0: none)
#   --no-holdoff     no CQ interrupt holdoff (CHIMNEY_CQF_HOLDOFF), which
#                    the benchmark, like the miniport, asks for by default
#   --no-db-hint     a doorbell for every post: no doorbell hint
#                    (CHIMNEY_TCPO_DB_HINT), which the benchmark, like the
#                    miniport, asks for by default
#   --pin            QEMU's threads on the first CPU, the harness (its
#                    peers, the sink's reader) on the others, when there
#                    are two or more (default: the scheduler's choice)
#   --perf DIR       perf record -g of QEMU during each chimney run into
#                    DIR/*.data (perf changes the figures: profile only;
#                    one run a row)
#   -h, --help       this text
#
# Exit status: 0 when every run's bytes verified, 1 when one did not (or a
# run failed), 2 on a bad command line.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '4,59p' "$0" | sed 's/^# \{0,1\}//'; }

args=() quick= perf= bound_mib=4096
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1; bound_mib=512; args+=("$1"); shift ;;
    --no-kernel|--no-igb|--no-virtio|--no-floor|--no-holdoff|--no-db-hint|--pin)
        args+=("$1"); shift ;;
    --mib|--conns|--sweep|--sweep-secs|--repeat|--sweep-repeat|--mod)
        [ $# -ge 2 ] || { echo "bench-send: $1 needs a value" >&2; exit 2; }
        args+=("$1" "$2"); shift 2 ;;
    --perf)
        [ $# -ge 2 ] || { echo "bench-send: $1 needs a value" >&2; exit 2; }
        command -v perf >/dev/null ||
            { echo "bench-send: no perf (scripts/bootstrap.sh --perf)" >&2
              exit 2; }
        mkdir -p "$2"
        perf=1
        args+=("$1" "$(realpath "$2")"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench-send: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" = 0 ] && [ -z "${CHIMNEY_BENCH_NO_BOOTSTRAP:-}" ]; then
    scripts/bootstrap.sh >/dev/null
fi
[ -f build/build.ninja ] || meson setup build >/dev/null
meson compile -C build >/dev/null

echo "== chimney-nic send path: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg) =="
bound=$(build/chimney-csum-bound "$bound_mib")
mbps=$(echo "$bound" | awk '{print $2}')
export QTEST_QEMU_BINARY=$PWD/build/qemu-build/qemu-system-x86_64
rc=0
build/qemu-build/tests/qtest/chimney-bench --bound "$(awk -v m="$mbps" 'BEGIN {print m / 1000}')" \
    "${args[@]}" || rc=$?
if [ -z "$quick$perf" ] && [ "$rc" = 0 ]; then
    echo
    echo "QEMU memory per offloaded connection (scripts/bench-conns.sh: RSS growth while offloading):"
    scripts/bench-conns.sh 1024 16384 65536 | grep -E 'connections|not ok' || true
fi
exit "$rc"
