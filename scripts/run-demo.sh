#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# README command 1: install what is missing, build QEMU 10.0 with
# chimney-nic, then run the device for real against libslirp with
# chimney-demo (tests/qtest/chimney-demo.c): bring it up like a guest
# driver, ARP for the gateway and ping it through the L2 queues, then
# offload TCP connections through libslirp to a server on 127.0.0.1,
# stream through them with a progress display, and report.
#
#   run-demo.sh [--conns N] [--mib M] [--rules 'FAULT RULES'] [--pcap FILE]
#               [--ipv6]
#   run-demo.sh --windows IMAGE [run-windows.sh OPTIONS...]
#
#   --conns N        offloaded TCP connections, 1 to 16 (default 4)
#   --mib M          MiB to stream over all connections, 1 to 16384
#                    (default 64)
#   --rules RULES    fault rules for the device's completions, in the
#                    x-fault-rules language of the user guide
#                    (docs/system/devices/chimney-nic.rst), e.g.
#                    --rules 'type=send delay=5ms' (default: none)
#   --pcap FILE      write the wire to FILE with QEMU's filter-dump
#                    (default: none)
#   --ipv6           IPv6 connections, through libslirp's IPv6 to its host
#                    fec0::2 and a server on ::1 (default: IPv4)
#   --windows IMAGE  run scripts/run-windows.sh on your own Windows image
#                    instead (the rest of the command line is its
#                    options; it never writes to the image)
#   -h, --help       this text
#
# Exit status: 0 when the server's SHA-256 of every connection matched and
# every send completion succeeded, 1 when the run failed, 2 on a bad
# command line.
set -euo pipefail
here=$(pwd)
cd "$(dirname "$0")/.."

usage() { sed -n '4,33p' "$0" | sed 's/^# \{0,1\}//'; }
bad() { echo "run-demo: $* (see --help)" >&2; exit 2; }

demo_args=() windows=
while [ $# -gt 0 ]; do
    case "$1" in
    --conns|--mib|--rules|--pcap|--windows)
        [ $# -ge 2 ] || bad "$1 needs a value"
        ;;
    esac
    case "$1" in
    --conns|--mib|--rules) demo_args+=("$1" "$2"); shift 2 ;;
    --ipv6) demo_args+=(--ipv6); shift ;;
    --pcap) demo_args+=(--pcap "$(cd "$here" && realpath -m -- "$2")")
        shift 2 ;;
    --windows) windows=$2; shift 2; break ;;
    -h|--help) usage; exit 0 ;;
    *) bad "unknown option $1" ;;
    esac
done

if [ -n "$windows" ]; then
    cd "$here"
    exec "$OLDPWD/scripts/run-windows.sh" "$windows" "$@"
fi

if [ "$(id -u)" = 0 ]; then
    scripts/bootstrap.sh
fi
[ -f build/build.ninja ] || meson setup build
meson compile -C build

qemu=$(pwd)/build/qemu-build/qemu-system-x86_64
echo
export QTEST_QEMU_BINARY=$qemu
exec build/qemu-build/tests/qtest/chimney-demo "${demo_args[@]}"
