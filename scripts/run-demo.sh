#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# README command 1: install what is missing, build QEMU 10.0 with
# chimney-nic, then run the device for real against a user-mode network
# (libslirp): bring it up like a guest driver, ARP for the gateway and ping
# it through the L2 queues, then offload TCP connections through libslirp
# to a server on 127.0.0.1 and stream through them (SLIRP_STREAM_MIB,
# default 64), and report what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
    scripts/bootstrap.sh
fi
[ -f build/build.ninja ] || meson setup build
meson compile -C build
echo
echo "== chimney-nic on -netdev user (libslirp) =="
for t in ping stream; do
    scripts/run-qtest.sh build/qemu-build tests/qtest/chimney-test \
        -p /x86_64/chimney/slirp/$t --verbose 2>&1 |
        grep -v '^# starting QEMU\|kvmvapic\|^# random seed\|^# Start\|^# End\|^1\.\.'
done
