#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# README command 1: install what is missing, build QEMU 10.0 with
# chimney-nic, then run the device for real against libslirp: bring it up
# like a guest driver, ARP for the gateway and ping it through the L2
# queues, then offload TCP connections through libslirp to a server on
# 127.0.0.1, stream through them with a progress display, and report.
#
#   run-demo.sh [--conns N] [--mib M] [--rules 'FAULT RULES'] [--pcap FILE]
#   run-demo.sh --windows IMAGE [QEMU ARGS...]
#
# --rules takes the x-fault-rules language (docs/system/devices/
# chimney-nic.rst), e.g. --rules 'type=send delay=5ms'.  --windows boots
# your own Windows image with the device instead, and prints the command.
set -euo pipefail
cd "$(dirname "$0")/.."

conns=4 mib=64 rules= pcap= windows=
while [ $# -gt 0 ]; do
    case "$1" in
    --conns) conns=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --rules) rules=$2; shift 2 ;;
    --pcap) pcap=$(realpath -m "$2"); shift 2 ;;
    --windows) windows=$(realpath "$2"); shift 2; break ;;
    -h|--help) sed -n '3,15p' "$0"; exit 0 ;;
    *) echo "run-demo: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" = 0 ]; then
    scripts/bootstrap.sh
fi
[ -f build/build.ninja ] || meson setup build
meson compile -C build

if [ -n "$windows" ]; then
    accel=tcg
    [ -w /dev/kvm ] && accel=kvm
    cmd=(build/qemu-build/qemu-system-x86_64 -M q35 -accel "$accel" -m 4G
         -smp 2 -drive "file=$windows" -netdev user,id=n0
         -device chimney-nic,netdev=n0,id=nic0 "$@")
    echo "run-demo: ${cmd[*]}"
    exec "${cmd[@]}"
fi

echo
echo "== chimney-nic on -netdev user (libslirp) =="
scripts/run-qtest.sh build/qemu-build tests/qtest/chimney-test \
    -p /x86_64/chimney/slirp/ping --verbose 2>&1 |
    grep -v '^# starting QEMU\|kvmvapic\|^# random seed\|^# Start\|^# End\|^1\.\.'
echo
echo "== $conns offloaded connections, $mib MiB =="
CHIMNEY_DEMO=1 CHIMNEY_DEMO_CONNS=$conns CHIMNEY_DEMO_MIB=$mib \
    CHIMNEY_DEMO_RULES=${rules:+$rules} CHIMNEY_DEMO_PCAP=${pcap:+$pcap} \
    scripts/run-qtest.sh build/qemu-build tests/qtest/chimney-test \
    -p /x86_64/chimney/demo --verbose 2>&1 |
    grep -v '^# starting QEMU\|kvmvapic\|^# random seed\|^# Start\|^# End\|^1\.\.' |
    sed -u 's/^# //'
