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
# Prints the sanitizer reports it found, one line each
# (scripts/sanitizer-reports.py), and the build and test times.
# Exit status: meson test's, or 1 when there was a report that is not a
# known device bug (scripts/sanitizers/known-reports).
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
# An ASan error ends the process (its test fails with the report in its
# log).  UBSan and LeakSanitizer print and let the process go on with its
# usual exit status, so that one report does not hide the tests after it
# (LSan's exit status would make libqtest abort at the first QEMU that
# leaks); every report is then counted from the logs and fails the run.
# LeakSanitizer runs when a process exits: QEMU after each qtest and the
# test binaries; its suppressions name leaks of QEMU itself (see the file).
# fast_unwind_on_malloc=0: glib has no frame pointers, and without it a
# leak is only known to come from g_malloc.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1:detect_stack_use_after_return=0:fast_unwind_on_malloc=0
export UBSAN_OPTIONS=halt_on_error=0:print_stacktrace=1:suppressions=$supp/ubsan.supp
export LSAN_OPTIONS=exitcode=0:suppressions=$supp/lsan.supp:print_suppressions=0
export G_SLICE=always-malloc

start=$(date +%s)
meson compile -C "$builddir" || exit 1
built=$(date +%s)
echo "sanitizers: build took $(( built - start )) s"
meson test -C "$builddir" --print-errorlogs --timeout-multiplier 3 "$@"
rc=$?
echo "sanitizers: tests took $(( $(date +%s) - built )) s"

# Every report, by kind, with the test it came from
python3 scripts/sanitizer-reports.py "$builddir/meson-logs/testlog.json"
reports=$?
[ "$rc" = 0 ] || exit "$rc"
exit "$reports"
