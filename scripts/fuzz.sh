#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build qemu-fuzz-x86_64 (clang, libFuzzer, ASan: QEMU's --enable-fuzzing)
# in its own build directory and fuzz chimney-nic with it.
#
#   scripts/fuzz.sh [--time SECONDS] [--jobs N] [--target NAME]...
#                   [--build-only | --no-build] [--coverage] [--builddir DIR]
#
#   --time S      fuzz for S seconds of wall time in all (default 300); with
#                 several targets each gets its share, one after the other
#   --jobs N      N fuzzing processes at once (libFuzzer -fork=N; default 1)
#   --target T    generic-fuzz-chimney-nic (default: BAR0, MSI-X, DMA),
#                 generic-fuzz-chimney-nic-faults (the same with fault
#                 rules), chimney-fault-rules (the x-fault-rules text),
#                 chimney-vmstate (migration state, post_load),
#                 chimney-wire (frames from the network for offloaded
#                 connections, with guest requests), or all
#   --coverage    after fuzzing, run the corpus once more and print the
#                 edges covered in each file of hw/net/chimney/
#   --build-only  build and stop
#   --no-build    fuzz with the qemu-fuzz-x86_64 already built
#   --builddir D  default build-fuzz/ in the project
#
# The corpus grows in BUILDDIR/corpus/TARGET (seeded from
# tests/qtest/fuzz-corpus/, scripts/fuzz-seeds.py and
# scripts/fuzz-wire-seeds.py); every crash, hang
# or OOM is kept in BUILDDIR/crashes/TARGET/ with a log beside it.  A crash
# does not stop the run.  Reproduce one with
#   BUILDDIR/qemu-build/qemu-fuzz-x86_64 --fuzz-target=TARGET FILE
# (tests/qtest/fuzz-corpus/README.md: with the device's trace events).
set -euo pipefail

project=$(cd "$(dirname "$0")/.." && pwd)
time_s=300 jobs=1 build_only=0 no_build=0 coverage=0 builddir=$project/build-fuzz
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    --time) time_s=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    --build-only) build_only=1; shift ;;
    --no-build) no_build=1; shift ;;
    --coverage) coverage=1; shift ;;
    --builddir) builddir=$2; shift 2 ;;
    -h|--help) sed -n '4,31p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
ALL=(generic-fuzz-chimney-nic generic-fuzz-chimney-nic-faults
     chimney-fault-rules chimney-vmstate chimney-wire)
[ ${#targets[@]} -gt 0 ] || targets=(generic-fuzz-chimney-nic)
[ "${targets[0]}" != all ] || targets=("${ALL[@]}")

log() { printf 'fuzz: %s\n' "$*" >&2; }

# clang and libFuzzer come from Debian; bootstrap installs what is missing
if ! command -v clang >/dev/null ||
   ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a \
        >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { log "clang and libclang-rt-dev are needed"; exit 1; }
    "$project/scripts/bootstrap.sh" --fuzz
fi

mkdir -p "$builddir"
builddir=$(cd "$builddir" && pwd)
fuzz=$builddir/qemu-build/qemu-fuzz-x86_64
start=$(date +%s)
if [ "$no_build" = 0 ] || [ ! -x "$fuzz" ]; then
    QEMU_CHIMNEY_FLAVOR=fuzz "$project/scripts/qemu-tree.sh" build "$project" \
        "${QEMU_SRC:-}" "$builddir" "$builddir/fuzz-built.stamp" \
        qemu-fuzz-x86_64
    log "qemu-fuzz-x86_64 built in $(( $(date +%s) - start )) s"
fi
[ "$build_only" = 0 ] || exit 0

# LeakSanitizer runs after each input that leaked; QEMU's own allocations
# at start-up are not inputs' and are not reported.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export G_SLICE=always-malloc

seed_corpus() {
    local t=$1 dir=$2
    mkdir -p "$dir"
    if [ -d "$project/tests/qtest/fuzz-corpus/$t" ]; then
        cp -n "$project/tests/qtest/fuzz-corpus/$t"/* "$dir"/ 2>/dev/null || true
    fi
    case "$t" in
    generic-fuzz-chimney-nic*)
        "$project/scripts/fuzz-seeds.py" "$dir" >/dev/null ;;
    chimney-wire)
        "$project/scripts/fuzz-wire-seeds.py" "$dir" ;;
    chimney-vmstate)
        # the state of a brought-up device, as this build saves it
        CHIMNEY_FUZZ_VMSTATE_SEED=$dir/brought-up "$fuzz" \
            --fuzz-target=chimney-vmstate -runs=0 >/dev/null 2>&1 || true ;;
    esac
}

# CPU seconds (user + system) of the finished child processes
child_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", ($16 + $17) / hz }' \
        "/proc/$$/stat"
}

summary=()
per_target=$(( time_s / ${#targets[@]} ))
for t in "${targets[@]}"; do
    corpus=$builddir/corpus/$t crashes=$builddir/crashes/$t
    logf=$builddir/fuzz-$t.log
    seed_corpus "$t" "$corpus"
    mkdir -p "$crashes"
    before=$(ls "$crashes" | grep -c -E '^(crash|timeout|oom|leak|slow-unit)-' || true)
    log "$t: $per_target s, $jobs job(s), corpus $(ls "$corpus" | wc -l) files, log $logf"
    t0=$(date +%s) cpu0=$(child_cpu)
    opts=(-timeout=20 -rss_limit_mb=4096 -max_len=16384 -print_final_stats=1
          -artifact_prefix="$crashes/")
    if [ "$jobs" -gt 1 ]; then
        # fork mode keeps going after a crash
        (cd "$builddir" && "$fuzz" --fuzz-target="$t" -fork="$jobs" \
            -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
            -max_total_time="$per_target" "${opts[@]}" "$corpus") \
            >"$logf" 2>&1 || true
    else
        # one process; after a crash (kept) it starts again on the corpus
        : >"$logf"
        while left=$(( per_target - ($(date +%s) - t0) )); [ "$left" -gt 5 ]; do
            (cd "$builddir" && "$fuzz" --fuzz-target="$t" \
                -max_total_time="$left" "${opts[@]}" "$corpus") \
                >>"$logf" 2>&1 || true
        done
    fi
    wall=$(( $(date +%s) - t0 ))
    last=$(grep -aE '^#[0-9]+: cov:|^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|DONE|INITED)' "$logf" | tail -n 1 || true)
    # executions: the sum over the processes that ran (fork mode prints
    # its own running total)
    execs=$(grep -aoE 'stat::number_of_executed_units: *[0-9]+' "$logf" |
            awk '{s += $2} END {print s + 0}' || true)
    if [ "$jobs" -gt 1 ] || [ "${execs:-0}" -eq 0 ]; then
        execs=$(sed -nE 's/^#([0-9]+)[: \t].*/\1/p' <<<"$last")
    fi
    cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
    after=$(ls "$crashes" | grep -c -E '^(crash|timeout|oom|leak|slow-unit)-' || true)
    cpu=$(( $(child_cpu) - cpu0 ))
    line="$t: ${execs:-0} execs in $wall s wall, $cpu s CPU ($(( ${execs:-0} / (wall > 0 ? wall : 1) )) exec/s), cov ${cov:-?} ft ${ft:-?}, corpus $(ls "$corpus" | wc -l) files, new crashes $(( after - before )) (kept: $after in $crashes)"
    log "$line"
    summary+=("$line")
    # each crash by its kind and the first frame in hw/net/chimney/
    python3 - "$logf" <<'PY' || true
import collections, re, sys
sig = collections.Counter()
kind = frame = None
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r"(ERROR: AddressSanitizer: \S+|ERROR: LeakSanitizer|"
                  r"assertion failed[^\n]*|ERROR: libFuzzer: [\w-]+)", line)
    if m and kind is None:
        kind = m.group(1).strip()
    m = re.search(r"in (\S+) \S*hw/net/chimney/([\w.-]+:\d+)", line)
    if m and frame is None and kind:
        frame = f"{m.group(1)} {m.group(2)}"
    if "Test unit written to" in line:
        sig[f"{kind} at {frame or '?'}"] += 1
        kind = frame = None
for s, n in sig.most_common():
    print(f"  crash x{n}: {s}")
PY

    if [ "$coverage" = 1 ]; then
        # -print_coverage lists every instrumented function with its edges
        (cd "$builddir" && "$fuzz" --fuzz-target="$t" -runs=0 \
            -print_coverage=1 "$corpus") >"$builddir/coverage-$t.log" 2>&1 || true
        python3 - "$builddir/coverage-$t.log" <<'PY'
import collections, re, sys
cov = collections.defaultdict(lambda: [0, 0, 0, 0])
rx = re.compile(r"^(UN)?COVERED_FUNC: hits: (\d+) edges: (\d+)/(\d+) (\S+) (\S+)")
for line in open(sys.argv[1], errors="replace"):
    m = rx.match(line)
    if not m or "hw/net/chimney/" not in m.group(6):
        continue
    f = m.group(6).split("hw/net/chimney/")[1].split(":")[0]
    c = cov[f]
    c[0] += int(m.group(3)); c[1] += int(m.group(4))
    c[2] += 1 if int(m.group(3)) else 0; c[3] += 1
tot = [0, 0, 0, 0]
print("  hw/net/chimney/ edge coverage (functions entered):")
for f in sorted(cov):
    c = cov[f]
    tot = [a + b for a, b in zip(tot, c)]
    print(f"    {f:22} {c[0]:5}/{c[1]:<5} edges {100 * c[0] / max(c[1], 1):5.1f} %"
          f"  functions {c[2]}/{c[3]}")
print(f"    {'total':22} {tot[0]:5}/{tot[1]:<5} edges {100 * tot[0] / max(tot[1], 1):5.1f} %"
      f"  functions {tot[2]}/{tot[3]}")
PY
    fi
done
echo "== fuzz summary =="
printf '%s\n' "${summary[@]}"
