#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Long-haul integrity (not in CI): build, then run chimney-soak
# (tests/qtest/chimney-soak.c): offloaded connections stream to the Linux
# kernel's TCP in a network namespace through a relay that loses, reorders
# and duplicates TCP frames.  Checked: the SHA-256 of every connection at
# the kernel's sink against what was sent, every send completed exactly
# once and in order (counts and cookies), no completion before the
# kernel's ACK of its last byte reached QEMU.  The report gives the
# device's retransmissions and timeouts, the relay's counts, throughput
# and duration.  Needs root, /dev/net/tun and ip(8).
#
#   soak.sh [--gib N] [--conns N] [--loss PCT] [--reorder[=PCT]]
#           [--dup[=PCT]] [--seed N]
#
#   --gib N           GiB to stream over all connections, more than 0, at
#                     most 64, fractions allowed (default 1)
#   --conns N         offloaded TCP connections, 1 to 16 (default 16)
#   --loss PCT        the relay drops PCT % of TCP frames, each way, 0 to
#                     50 (default 5)
#   --reorder[=PCT]   the relay holds PCT % of TCP frames back behind the
#                     next one (default: none; 2 when PCT is not given)
#   --dup[=PCT]       the relay sends PCT % of TCP frames twice (default:
#                     none; 1 when PCT is not given)
#   --seed N          seed of the relay's schedule, 0 to 4294967295
#                     (default: from the clock; the report gives it)
#   -h, --help        this text
#
# Issue 14's run: soak.sh --reorder --dup (1 GiB, 16 connections, 5 %).
# Exit status: 0 when every check passed, 1 when one failed (the report
# says which), 2 on a bad command line.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '4,32p' "$0" | sed 's/^# \{0,1\}//'; }
bad() { echo "soak: $* (see --help)" >&2; exit 2; }
# NAME VALUE MAX: a number from 0 to MAX (fractions allowed)
number() {
    [[ $2 =~ ^[0-9]+(\.[0-9]+)?$ ]] &&
        awk -v v="$2" -v m="$3" 'BEGIN { exit !(v <= m) }' ||
        bad "$1 $2: give a number from 0 to $3"
}

args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --gib|--conns|--loss|--seed)
        [ $# -ge 2 ] || bad "$1 needs a value"
        ;;
    esac
    case "$1" in
    --gib) number "$1" "$2" 64
        awk -v v="$2" 'BEGIN { exit !(v > 0) }' ||
            bad "--gib $2: give more than 0"
        args+=("$1" "$2"); shift 2 ;;
    --conns) [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le 16 ] ||
            bad "--conns $2: give 1 to 16 connections"
        args+=("$1" "$2"); shift 2 ;;
    --loss) number "$1" "$2" 50; args+=("$1" "$2"); shift 2 ;;
    --seed) [[ $2 =~ ^[0-9]+$ ]] && [ "${#2}" -le 10 ] &&
            [ "$2" -le 4294967295 ] || bad "--seed $2: give 0 to 4294967295"
        args+=("$1" "$2"); shift 2 ;;
    --reorder|--dup) args+=("$1"); shift ;;
    --reorder=*|--dup=*) number "${1%%=*}" "${1#*=}" 50; args+=("$1")
        shift ;;
    -h|--help) usage; exit 0 ;;
    *) bad "unknown option $1" ;;
    esac
done

if [ "$(id -u)" != 0 ]; then
    echo "soak: needs root: the kernel's TCP runs in a network namespace" \
         "of its own, behind a tap (try: sudo $0 ${args[*]})" >&2
    exit 1
fi
scripts/bootstrap.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build

echo
export QTEST_QEMU_BINARY=$(pwd)/build/qemu-build/qemu-system-x86_64
exec build/qemu-build/tests/qtest/chimney-soak "${args[@]}"
