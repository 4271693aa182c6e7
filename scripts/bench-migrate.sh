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
        CHIMNEY_TEST_CONNS=$n scripts/run-qtest.sh build/qemu-build \
        tests/qtest/chimney-tcp-test -p /x86_64/chimney/tcp/many \
        --verbose 2>&1 |
        grep -E '^# (# migrate|[0-9]+ connections)|^not ok' || true
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
for _ in range(nc):
    nsq, nrq, npend = be32(o + 110), be32(o + 114), be32(o + 118)
    o += 122 + nsq * (30 + 24) + nrq * (30 + 20) + npend * 62 + 606
    o += 4 + be32(o)
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
