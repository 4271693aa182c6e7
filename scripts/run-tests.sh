#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# README command 2: install what is missing, build, and pass the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
    scripts/bootstrap.sh
fi
[ -f build/build.ninja ] || meson setup build "$@"
meson test -C build --print-errorlogs
