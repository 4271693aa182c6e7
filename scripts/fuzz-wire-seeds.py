#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write seed inputs for qemu-fuzz-x86_64 --fuzz-target=chimney-wire.

    fuzz-wire-seeds.py OUTDIR

An input is a list of 16-byte records (WireRec in
tests/qtest/fuzz/chimney_wire_fuzz.c), each a frame from the network or a
guest action, then a step of the virtual clock:

    op      % 8: 0-4 a TCP segment, 5 an ICMPv6 Packet Too Big about the
            IPv6 connection, 6 a guest action, 7 raw bytes (len of them
            follow the record)
    sel     bits 0-1 connection (0 IPv4 with timestamps and window
            scaling, 1 IPv6, 2 VLAN 10, 3 with a receive queue); 2-3 seq
            base (0 the peer's next, 1 the device's last ack, 2 that plus
            delta * 1024, 3 the peer's next plus delta << 16); 4 ack from
            the highest ack sent (else the device's highest seq); 5 bad
            checksum; 6 the other VLAN tagging; 7 a timestamp option
    flags   TCP flags; guest action: 0 SEND, 1 RECEIVE, 2 CQ head,
            3 DISCONNECT
    shape   bits 0-1 option words that follow the record; 2 with sel bit
            6: tagged with VLAN 11
    seq, ack, wnd, len   little-endian 16 bits: deltas (signed), window,
            payload bytes (% 2048)
    clock   0: none; else ((v & 7) + 1) << ((v >> 3) + 10) ns
    ts      TSval - the peer's clock, / 64 (signed)
    urg     urgent pointer
"""
import os
import struct
import sys

SYN, FIN, RST, PSH, ACK, URG = 0x02, 0x01, 0x04, 0x08, 0x10, 0x20
V4TS, V6, VLAN, RQ = range(4)


def rec(op=0, conn=0, seqbase=0, ack_acked=False, bad_csum=False,
        vlan=False, ts=False, flags=ACK, shape=0, seq=0, ack=0,
        wnd=65535, length=0, clock=0, tsd=0, urg=0):
    sel = (conn | seqbase << 2 | ack_acked << 4 | bad_csum << 5 |
           vlan << 6 | ts << 7)
    return struct.pack("<BBBBhhHHBbH", op, sel, flags, shape, seq, ack,
                       wnd, length, clock, tsd, urg)


def ack_all(conn, **kw):
    """ACK everything the device sent, with a timestamp for conn 0"""
    return rec(conn=conn, ts=conn == V4TS, **kw)


SEEDS = {
    # every connection's data ACKed, then a new SEND and its ACK
    "ack-all": b"".join(ack_all(c) for c in range(4)) +
    rec(op=6, conn=V4TS, flags=0, length=2000) + ack_all(V4TS),
    # ACK the first SEND only (3000 bytes), then a window update
    "ack-partial": rec(conn=V6, ack_acked=True, ack=3000) +
    rec(conn=V6, ack_acked=True, wnd=0) +
    rec(conn=V6, ack_acked=True, wnd=4000, clock=0x50),
    # data in order, out of order, then the gap filled, for the RQ
    "recv-ooo": rec(conn=RQ, length=500, flags=ACK | PSH) +
    rec(conn=RQ, seq=1000, length=700) +
    rec(conn=RQ, seqbase=1, length=1000) +
    rec(op=6, conn=RQ, flags=1, length=3000) + rec(op=6, flags=2),
    # FIN from the peer, then the device's FIN ACKed
    "fin": ack_all(RQ) + rec(conn=RQ, flags=ACK | FIN) +
    rec(op=6, conn=RQ, flags=3) + rec(conn=RQ, seqbase=0, clock=0x30) +
    rec(op=6, flags=2),
    # a reset, and one with a bad checksum first
    "rst": rec(conn=V6, flags=RST | ACK, bad_csum=True) +
    rec(conn=V6, flags=RST | ACK),
    # a zero window: persist probes over virtual seconds
    "zero-window": rec(conn=V4TS, ts=True, wnd=0, clock=0xa0) +
    rec(conn=V4TS, ts=True, wnd=0, clock=0xb0) +
    rec(conn=V4TS, ts=True, wnd=100, ack_acked=True, clock=0xa0),
    # nothing ACKed: retransmissions until the connection gives up
    "rto": rec(op=6, flags=2, clock=0xd8) + rec(op=6, flags=2, clock=0xe0) +
    rec(op=6, flags=2, clock=0xe8),
    # an old timestamp (PAWS), and one without any
    "paws": rec(conn=V4TS, ts=True, tsd=-100, length=100) +
    rec(conn=V4TS, ts=False, length=100),
    # the VLAN connection: untagged, tagged 11, then its own tag
    "vlan": rec(conn=VLAN, vlan=True) +
    rec(conn=VLAN, vlan=True, shape=4) + ack_all(VLAN),
    # ICMPv6 Packet Too Big lowering the IPv6 path's MTU to 1280
    "ptb": rec(op=5, conn=V6, wnd=80, seq=10) + ack_all(V6, clock=0x40),
    # urgent data, and SACK-looking options from the input
    "urg-opts": rec(conn=RQ, flags=ACK | URG, length=10, urg=5) +
    rec(conn=RQ, shape=2, length=10) + bytes([1, 1, 5, 10, 0, 0, 0, 0]),
    # regression: the ACK of every byte in a segment 2^30 beyond the
    # window completed both SENDs (fixed by "the ACK of a segment outside
    # the receive window is not looked at")
    "regress-ack-out-of-window": rec(conn=V6, seqbase=3, seq=0x4000),
    # a raw frame: an ARP request for the host path
    "raw-arp": rec(op=7, length=42) + bytes.fromhex(
        "ffffffffffff0200000000020806000108000604000102000000000"
        "20a000002000000000000000a000001"),
}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(sys.argv[1], name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
