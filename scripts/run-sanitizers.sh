#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build QEMU and its test binaries with AddressSanitizer (and LeakSanitizer)
# and UndefinedBehaviorSanitizer in a build directory of their own, run the
# whole meson test suite there, and fail on any sanitizer report.
#
#   scripts/run-sanitizers.sh [--builddir DIR] [MESON TEST ARGS...]
#
# DIR defaults to build-san/ (meson setup DIR -Dsanitizers=true, which
# configures QEMU with --enable-asan --enable-ubsan); the default build/
# is not touched.  Extra arguments go to meson test, e.g. --suite qtest.
# Prints the sanitizer reports it found, one line each, and
#   sanitizers: N reports (A ASan, U UBSan, L LSan) in T tests
# Exit status: meson test's, or 1 when there were reports.
set -uo pipefail
project=$(cd "$(dirname "$0")/.." && pwd)
cd "$project"
builddir=build-san
if [ "${1:-}" = --builddir ]; then
    builddir=$2
    shift 2
fi

if [ "$(id -u)" = 0 ]; then
    scripts/bootstrap.sh || exit 1
fi
if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" -Dsanitizers=true || exit 1
fi

supp=$project/scripts/sanitizers
# halt_on_error: the first report ends the process, so the test fails and
# the report is in its log.  LeakSanitizer runs when a process exits (QEMU
# after each qtest, the test binaries themselves); its suppressions name
# leaks of QEMU itself that are not ours (see the file).
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=0:symbolize=1:print_summary=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1
export LSAN_OPTIONS=suppressions=$supp/lsan.supp:print_suppressions=0
export G_SLICE=always-malloc

start=$(date +%s)
meson compile -C "$builddir" || exit 1
built=$(date +%s)
echo "sanitizers: build took $(( built - start )) s"
meson test -C "$builddir" --print-errorlogs --timeout-multiplier 3 "$@"
rc=$?
echo "sanitizers: tests took $(( $(date +%s) - built )) s"

# Every report, by kind, with the test it came from
python3 - "$builddir/meson-logs/testlog.json" <<'PY'
import json, re, sys
kinds = [("ASan", re.compile(r"ERROR: AddressSanitizer: (.*)")),
         ("LSan", re.compile(r"ERROR: LeakSanitizer: (.*)")),
         ("UBSan", re.compile(r"(\S+:\d+:\d+: runtime error: .*)"))]
count = {"ASan": 0, "UBSan": 0, "LSan": 0}
tests = set()
try:
    lines = open(sys.argv[1]).readlines()
except OSError:
    lines = []
for line in lines:
    t = json.loads(line)
    out = (t.get("stdout") or "") + (t.get("stderr") or "")
    seen = set()
    for kind, rx in kinds:
        for m in rx.finditer(out):
            what = m.group(1).strip()
            # the first frame of ours or QEMU's after the report
            rest = out[m.end():m.end() + 4000]
            frame = re.search(r"#\d+ 0x[0-9a-f]+ in (\S+) (\S+)", rest)
            where = f" at {frame.group(1)} {frame.group(2)}" if frame and kind != "UBSan" else ""
            key = (kind, what, where)
            if key in seen:
                continue
            seen.add(key)
            count[kind] += 1
            tests.add(t["name"])
            print(f"sanitizer report: {t['name']}: {kind}: {what}{where}")
n = sum(count.values())
print(f"sanitizers: {n} reports ({count['ASan']} ASan, {count['UBSan']} UBSan, "
      f"{count['LSan']} LSan) in {len(tests)} tests")
sys.exit(1 if n else 0)
PY
reports=$?
[ "$rc" = 0 ] || exit "$rc"
exit "$reports"
