#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Benchmark: offload N connections at once, one send each, and report the
# time per connection and QEMU's memory per connection.  The per-connection
# figures should stay flat as N grows (O(1) lookup, bounded state).
#   bench-conns.sh [N...]      default: 1024 16384 65536
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/qemu-build/tests/qtest/chimney-tcp-test ] || meson compile -C build
for n in "${@:-1024 16384 65536}"; do
    for m in $n; do
        CHIMNEY_TEST_CONNS=$m scripts/run-qtest.sh build/qemu-build \
            tests/qtest/chimney-tcp-test -p /x86_64/chimney/tcp/many --verbose 2>&1 |
            grep -E '^# [0-9]+ connections|^not ok' || true
    done
done
