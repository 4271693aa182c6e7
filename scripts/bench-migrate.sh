#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Benchmark: migration with N connections offloaded.  The /chimney/tcp/many
# qtest offloads N connections (SQ of 4 entries, no RQ), migrates live
# over a unix socket (QEMU's downtime and total time, the destination's
# load time), then to a file, then runs a send and its ACK-gated
# completion on every connection of the destination.  The file's
# chimney-nic/offload subsection is measured here: its size, and its size
# per connection.  Not a timed test: figures only.
#   bench-migrate.sh [N...]      default: 1 1024 65536
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/qemu-build/tests/qtest/chimney-tcp-test ] || meson compile -C build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for n in ${@:-1 1024 65536}; do
    CHIMNEY_KEEP_STREAM=$tmp/stream CHIMNEY_TEST_MIGRATE=1 \
        QTEST_TRACE='vmstate_downtime_*' \
        CHIMNEY_TEST_CONNS=$n scripts/run-qtest.sh build/qemu-build \
        tests/qtest/chimney-tcp-test -p /x86_64/chimney/tcp/many \
        --verbose > "$tmp/out" 2>&1 || true
    grep -E '^# (# migrate|[0-9]+ connections)|^not ok' "$tmp/out" || true
    # QEMU's own per-device downtime trace (microseconds): the idle
    # device's file migration, the live one, the file one
    grep -oE 'vmstate_downtime_(save|load) .*chimney-nic.*downtime=[0-9]+' \
        "$tmp/out" | sed -E 's/vmstate_downtime_(save|load).*downtime=/\1 /' |
        paste -sd' ' | awk -v n="$n" '{
            printf "# %s connections: chimney-nic state save/load (us): " \
                   "idle %s/%s, live %s/%s, file %s/%s\n", n, $2, $4, $6, \
                   $8, $10, $12 }'
    # Walk the subsection as chimney-migrate.c lays it out
    python3 - "$tmp/stream" "$n" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
sub = b.find(b'\x05\x13chimney-nic/offload')
be32 = lambda o: struct.unpack('>i', b[o:o + 4])[0]
nn, np_, nc = be32(sub + 25), be32(sub + 29), be32(sub + 33)
o = sub + 37 + nn * 16 + np_ * 18
tables = o - sub
conns = o
sizes = []
for _ in range(nc):         # scalars and sizes
    sizes.append((be32(o + 110), be32(o + 114), be32(o + 118)))
    o += 122
rbuf = 0
for nsq, nrq, npend in sizes:   # arrays and TCP state
    o += nsq * (30 + 24) + nrq * (30 + 20) + npend * 62 + 606
    rbuf += be32(o)
    o += 4
o += rbuf                   # receive buffers
conns = o - conns
o += 2 + 8 + 8 + 16 * 8 * 2
o += 4 + be32(o)
o += 9 * 8 + 8 * 8 + 4 + 8 + 8 + 8 + 8 + 9 * 8
print('# %s connections: chimney-nic/offload subsection %d bytes: header '
      'and tables (%d neighbors, %d paths) %d, connections %d (%.0f bytes '
      'per connection), fault state and counters %d'
      % (sys.argv[2], o - sub, nn, np_, tables, conns, conns / max(nc, 1),
         o - sub - tables - conns))
PY
done
