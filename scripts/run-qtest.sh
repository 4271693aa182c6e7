#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run one test binary of the QEMU build (a qtest runs against the build's
# qemu-system-x86_64).
#   run-qtest.sh QEMU_BUILD_DIR tests/qtest/chimney-dev-test [ARGS...]
set -euo pipefail
qbuild=$1 name=$2
shift 2
export QTEST_QEMU_BINARY=$qbuild/qemu-system-x86_64
exec "$qbuild/$name" --tap -k "$@"
