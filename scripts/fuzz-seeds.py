#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write seed inputs for qemu-fuzz-x86_64 --fuzz-target=generic-fuzz-chimney-nic.

    fuzz-seeds.py OUTDIR            the seed corpus (device up, connections
                                    offloaded, sends, receives, commands),
                                    with the inputs of fixed crashes
                                    (regress-*)
    fuzz-seeds.py --crashers OUTDIR only the inputs of fixed crashes

A generic-fuzz input (QEMU's tests/qtest/fuzz/generic_fuzz.c) is a list of
commands separated by "FUZZ"; the first byte of each is the opcode modulo
10.  Guest memory can only be written by the device's own DMA reads: each
read is filled from the current DMA pattern, and the next read takes the
next pattern.  So before each doorbell the seed clears the patterns and
adds, in the order the device reads them, the bytes it should find: the
admin command, then the block its address names, and so on.  The reads of
one doorbell happen during the main-loop run that follows the write.

MMIO region indices count the fuzzable regions by address: 0 is BAR0
(registers and doorbells), 1 the MSI-X table, 2 the PBA.
"""
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SEP = b"FUZZ"

OP_IN, OP_OUT, OP_READ, OP_WRITE, OP_PCI_READ, OP_PCI_WRITE, \
    OP_DISABLE_PCI, OP_ADD_DMA_PATTERN, OP_CLEAR_DMA_PATTERNS, \
    OP_CLOCK_STEP = range(10)
BYTE, WORD, LONG, QUAD = range(4)
BAR0, MSIX_TABLE, MSIX_PBA = range(3)


def abi():
    """The constants we need, read from the ABI header itself."""
    vals = {}
    path = os.path.join(HERE, "..", "hw", "net", "chimney", "chimney-abi.h")
    for line in open(path):
        m = re.match(r"#define\s+(CHIMNEY_\w+)\s+([^/]+)", line)
        if not m:
            continue
        expr = re.sub(r"\b(0x[0-9a-fA-F]+|\d+)u\b", r"\1", m.group(2))
        if re.fullmatch(r"[0-9a-fA-Fx()<>| +*-]+", expr.strip()):
            vals[m.group(1)] = eval(expr)
    return vals


A = abi()
C = type("C", (), {k[len("CHIMNEY_"):]: v for k, v in A.items()})

# Guest physical addresses (512 MiB of RAM)
MSI_PAGE = 0x3f000
ASQ, ACQ, IDBUF = 0x100000, 0x101000, 0x102000
CQ1, TXQ, RXQ, INDQ = 0x104000, 0x105000, 0x106000, 0x10d000
NEIGH, PATH, TCPBLK = 0x107000, 0x107100, 0x107200
CONN_SQ, DBREC, CONN_RQ, SGL, SEG = 0x108000, 0x109000, 0x10a000, 0x10b000, \
    0x10c000
HELD, DATA, RXBUF = 0x10e000, 0x110000, 0x120000
DB_CQ_HEAD0 = 0x1100          # CHIMNEY_DB_CQ_HEAD(0)
RING = 64                       # entries of the admin and L2 rings and CQs
DEV_MAC = bytes.fromhex("525400123456")
GW_MAC = bytes.fromhex("52550a000202")        # libslirp's gateway
GUEST_IP, GW_IP = bytes([10, 0, 2, 15]), bytes([10, 0, 2, 2])
LPORT, RPORT = 40000, 5555


class Seed:
    def __init__(self):
        self.cmds = []
        self.asq_tail = 0
        self.acq_done = 0
        self.sq_tail = 0        # the connection's producer indices
        self.rq_tail = 0
        self.rq = False

    def tails(self):
        """What the doorbell record holds: SQ tail, then RQ tail"""
        t = [struct.pack("<I", self.sq_tail)]
        return t + [struct.pack("<I", self.rq_tail)] if self.rq else t

    # --- raw generic-fuzz commands ---
    def op(self, code, payload=b""):
        cmd = bytes([code]) + payload
        assert SEP not in cmd, "a command contains the separator"
        self.cmds.append(cmd)

    def write(self, region, offset, value, size=LONG):
        self.op(OP_WRITE, struct.pack("<BBxxIQ", size, region, offset, value))

    def read(self, region, offset, size=LONG):
        self.op(OP_READ, struct.pack("<BBxxI", size, region, offset))

    def pci_write(self, offset, value, size=LONG):
        self.op(OP_PCI_WRITE, struct.pack("<BBBxI", size, 0, offset, value))

    def patterns(self, *blocks):
        self.op(OP_CLEAR_DMA_PATTERNS)
        for b in blocks:
            self.op(OP_ADD_DMA_PATTERN, b"\0\0" + b)

    def clock(self, n=1):
        for _ in range(n):
            self.op(OP_CLOCK_STEP)

    def bytes(self):
        return SEP.join(self.cmds)

    # --- the device ---
    def reg(self, off, val):
        self.write(BAR0, off, val)

    def bringup(self, l2=True):
        # MSI-X on (capability at 0x40), vectors aimed at a RAM page
        self.pci_write(0x40, 0x80000000)
        for v in range(8):
            self.write(MSIX_TABLE, 16 * v + 0, MSI_PAGE + 4 * v)
            self.write(MSIX_TABLE, 16 * v + 4, 0)
            self.write(MSIX_TABLE, 16 * v + 8, 0x100 + v)
            self.write(MSIX_TABLE, 16 * v + 12, 0)
        self.read(BAR0, C.REG_ID)
        self.read(BAR0, C.REG_CAP_QUEUES)
        self.reg(C.REG_ASQ_BASE_LO, ASQ)
        self.reg(C.REG_ASQ_BASE_HI, 0)
        self.reg(C.REG_ASQ_SIZE, RING)
        self.reg(C.REG_ACQ_BASE_LO, ACQ)
        self.reg(C.REG_ACQ_BASE_HI, 0)
        self.reg(C.REG_ACQ_SIZE, RING)
        self.reg(C.REG_CTRL, C.CTRL_ENABLE)
        self.read(BAR0, C.REG_STATUS)
        self.admin(C.CMD_IDENTIFY, addr=IDBUF, length=C.IDENTIFY_SIZE)
        params = [0] * 9
        params[C.PARAM_TICKS_PER_SECOND] = 100
        params[C.PARAM_ACK_FREQUENCY] = 2
        params[C.PARAM_DELAYED_ACK_TICKS] = 20
        params[C.PARAM_MAX_RETRANSMIT] = 5
        params[C.PARAM_DOUBT_REACH] = 3
        params[C.PARAM_DUP_ACK_THRESH] = 3
        self.admin(C.CMD_SET_PARAMS, params=params)
        self.admin(C.CMD_CREATE_CQ, ident=1, addr=CQ1, length=RING,
                   params=[1, 0, 0])
        if l2:
            self.admin(C.CMD_CREATE_L2Q, ident=C.QUEUE_L2_TX, addr=TXQ,
                       length=RING, params=[1])
            self.admin(C.CMD_CREATE_L2Q, ident=C.QUEUE_L2_RX, addr=RXQ,
                       length=RING, params=[1])

    def admin(self, opcode, ident=0, addr=0, length=0, params=(), extra=(),
              on_conn=False, cookie=None):
        """One admin command: its entry, then the blocks it reads."""
        p = list(params) + [0] * (9 - len(params))
        cmd = struct.pack("<BBHIQQI9I", opcode, 0, 0, ident,
                          cookie if cookie is not None else 0x1000 +
                          self.asq_tail, addr, length, *p)
        self.patterns(cmd, *extra)
        self.asq_tail = (self.asq_tail + 1) % RING
        self.write(BAR0, C.DB_ASQ_TAIL, self.asq_tail)
        if not on_conn:
            self.acq_done = (self.acq_done + 1) % RING
            self.write(BAR0, DB_CQ_HEAD0, self.acq_done)

    def l2_post_rx(self, count):
        desc = struct.pack("<QIIQQ", RXBUF, 2048, 0, 0x7700, 0)
        self.patterns(desc)
        self.write(BAR0, C.DB_L2_RXQ_TAIL, count)

    def l2_send(self, index, frame):
        desc = struct.pack("<QIHHQQ", DATA + 0x8000, len(frame),
                           C.L2TX_EOP, 0, 0x5500 + index, 0)
        # the RX descriptor: ARP replies come back at once
        rxdesc = struct.pack("<QIIQQ", RXBUF, 2048, 0, 0x7700, 0)
        self.patterns(desc, frame, rxdesc)
        self.write(BAR0, C.DB_L2_TXQ_TAIL, index + 1)

    def offload_objects(self):
        neigh = struct.pack("<6s6sHH16x", DEV_MAC, GW_MAC, 0, 0)
        self.admin(C.CMD_OFFLOAD_NEIGHBOR, ident=0, addr=NEIGH,
                   extra=[neigh])
        path = struct.pack("<I4s4sI16x", 0, GUEST_IP, GW_IP, 1500)
        self.admin(C.CMD_OFFLOAD_PATH, ident=1, addr=PATH, extra=[path])

    def tcp_block(self, snd_una=5000, snd_nxt=None, snd_max=None, rq=0,
                  state=None, const_flags=0, handover=0, ind_size=0,
                  ka=False):
        snd_nxt = snd_una if snd_nxt is None else snd_nxt
        snd_max = snd_nxt if snd_max is None else snd_max
        d = struct.pack("<11IHHIIIIBBBBiiIII8x",
                        state or C.TCP_ESTABLISHED, 1000, 65535,
                        snd_una, snd_nxt, snd_max, 65535, 65535, 1000,
                        14600, 65535, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                        -1, -1, 0, 0, 0)
        assert len(d) == 96
        blk = struct.pack("<IIQIIQHHHBBHHHBBIIIIIB3x",
                          1, 1, CONN_SQ, 16, handover, DBREC,
                          const_flags, RPORT, LPORT, 0, 0, 1460, 0,
                          C.TCPC_KEEPALIVE if ka else 0, 64, 0, 65535,
                          ind_size, 7200000 if ka else 0, 1000 if ka else 0,
                          0, 3)
        blk += d + struct.pack("<QIIQ", CONN_RQ if rq else 0, rq, 0, 0)
        assert len(blk) == 192
        return blk

    def offload_tcp(self, conn_id, blk):
        # completes on the admin CQ; the device reads no queue yet
        self.rq = struct.unpack_from("<I", blk, 176)[0] != 0
        self.admin(C.CMD_OFFLOAD_TCP, ident=conn_id, addr=TCPBLK,
                   extra=[blk])

    def conn_cmd(self, opcode, conn_id, **kw):
        """A command on the connection: completes on its CQ, after which
        the device looks at the doorbell record again"""
        kw["extra"] = list(kw.get("extra", [])) + self.tails()
        self.admin(opcode, ident=conn_id, on_conn=True, **kw)

    def segment(self, seq, ack, flags=0x10, payload=b"", win=65535):
        hdr = struct.pack(">HHIIBBHHH", RPORT, LPORT, seq, ack, 5 << 4,
                          flags, win, 0, 0)
        return hdr + payload

    def forward(self, conn_id, seg, reads=()):
        """FORWARD a segment; reads: what the device reads while taking
        it in (a posted receive's SGE when it carries data)"""
        self.conn_cmd(C.CMD_FORWARD, conn_id, addr=SEG, length=len(seg),
                      extra=[seg, *reads])

    def send(self, conn_id, tail, length=1000, flags=C.SQF_PUSH,
             kind=C.SQ_SEND):
        """Post SQ entry tail-1 and ring the connection's doorbell."""
        desc = struct.pack("<BBHIQQQ", kind, flags, 1 if length else 0,
                           length, 0x2200 + tail, SGL if length else 0, 0)
        sge = struct.pack("<QII", DATA, length, 0)
        self.sq_tail = tail
        blocks = [struct.pack("<I", tail), desc]
        if length:
            blocks += [sge, bytes(range(256)) * 4]
        if self.rq:
            blocks.append(struct.pack("<I", self.rq_tail))
        self.patterns(*blocks)
        self.write(BAR0, C.DB_CONN_SQ, conn_id)

    def post_recv(self, conn_id, tail, length=4096, flags=0):
        desc = struct.pack("<BBHIQQQ", C.RQ_RECEIVE, flags, 1, length,
                           0x3300 + tail, SGL + 0x100, 0)
        # the doorbell record: SQ tail, then RQ tail
        self.rq_tail = tail
        self.patterns(*self.tails(), desc, self.recv_sge(length))
        self.write(BAR0, C.DB_CONN_SQ, conn_id)

    def recv_sge(self, length=4096):
        return struct.pack("<QII", DATA + 0x4000, length, 0)


def arp_request():
    eth = b"\xff" * 6 + DEV_MAC + b"\x08\x06"
    arp = struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, DEV_MAC,
                      GUEST_IP, b"\0" * 6, GW_IP)
    return eth + arp


CONN = 1 << 24          # CHIMNEY_CONN_ID(0, 1)


def seeds():
    out = {}

    s = Seed()
    s.bringup()
    s.l2_post_rx(8)
    s.l2_send(0, arp_request())
    s.clock(2)
    out["bringup-l2-arp"] = s

    s = Seed()
    s.bringup(l2=False)
    s.offload_objects()
    s.offload_tcp(CONN, s.tcp_block())
    s.send(CONN, 1)
    s.clock(3)
    s.forward(CONN, s.segment(1000, 6000))
    s.clock(3)
    out["offload-send-ack"] = s

    s = Seed()
    s.bringup(l2=False)
    s.offload_objects()
    s.offload_tcp(CONN, s.tcp_block(rq=8))
    s.post_recv(CONN, 1)
    s.forward(CONN, s.segment(1000, 5000, flags=0x18,
                              payload=b"hello chimney" * 20),
              reads=[s.recv_sge()])
    s.forward(CONN, s.segment(1260 + 1000, 5000, flags=0x18,
                              payload=b"out of order"))
    s.clock(4)
    s.forward(CONN, s.segment(1260, 5000, flags=0x11))
    s.clock(2)
    out["offload-recv-fin"] = s

    s = Seed()
    s.bringup(l2=False)
    s.admin(C.CMD_CREATE_L2Q, ident=C.QUEUE_INDICATE, addr=INDQ,
            length=RING, params=[0])
    ind = struct.pack("<QIIQQ", RXBUF, 2048, 0, 0x8800, 0)
    s.patterns(ind)
    s.write(BAR0, C.DB_IND_TAIL, 4)
    s.offload_objects()
    s.offload_tcp(CONN, s.tcp_block(rq=8, ind_size=512))
    # data and no receive posted: indicated into the generic buffer
    s.forward(CONN, s.segment(1000, 5000, flags=0x18, payload=b"x" * 700),
              reads=[ind])
    s.clock(3)
    # the driver took 300 bytes: INDICATE_DONE in the RQ
    s.rq_tail = 1
    s.patterns(*s.tails(), struct.pack("<BBHIQQQ", C.RQ_INDICATE_DONE, 0, 0,
                                       300, 0, 0, 0), ind)
    s.write(BAR0, C.DB_CONN_SQ, CONN)
    s.clock(2)
    out["offload-indicate"] = s

    s = Seed()
    s.bringup(l2=False)
    s.offload_objects()
    s.offload_tcp(CONN, s.tcp_block(ka=True, const_flags=C.TCPF_TIMESTAMPS))
    s.send(CONN, 1, length=3000)
    s.send(CONN, 2, length=0, kind=C.SQ_DISCONNECT, flags=0)
    s.clock(6)
    s.conn_cmd(C.CMD_QUERY_TCP, CONN, addr=HELD)
    s.conn_cmd(C.CMD_UPDATE, CONN, addr=TCPBLK, params=[C.OBJ_TCP],
               extra=[s.tcp_block()])
    s.admin(C.CMD_INVALIDATE, ident=1, params=[C.OBJ_PATH])
    s.clock(2)
    s.conn_cmd(C.CMD_TERMINATE, CONN, addr=HELD,
               params=[C.OBJ_TCP, HELD + 0x200, 0, 4096])
    s.clock(2)
    out["offload-query-update-terminate"] = s

    s = Seed()
    s.bringup()
    s.admin(C.CMD_DESTROY_L2Q, ident=C.QUEUE_L2_RX)
    s.admin(C.CMD_DESTROY_L2Q, ident=C.QUEUE_L2_TX)
    s.admin(C.CMD_DESTROY_CQ, ident=1)
    s.reg(C.REG_INTR_MASK, 0)
    s.reg(C.REG_CTRL, C.CTRL_RESET)
    s.read(BAR0, C.REG_STATUS)
    out["teardown-reset"] = s
    for name, s in crashers().items():
        out["regress-" + name] = s
    return out


def crashers():
    """Inputs that crashed the device before a fix: regression seeds"""
    out = {}
    # SndNxt - SndUna = 2^31 was accepted at OFFLOAD_TCP; a FORWARDed ACK
    # of SndUna + 2^31 then failed g_assert(done == len) in
    # chimney_tcp_send_segment (chimney-tcp-wire.c), fixed by "no 2 GiB in
    # flight, and no assertion in the segment builder"
    s = Seed()
    s.bringup(l2=False)
    s.offload_objects()
    s.offload_tcp(CONN, s.tcp_block(snd_una=5000, snd_nxt=5000 + 2 ** 31))
    s.forward(CONN, s.segment(1000, 5000 + 2 ** 31))
    s.clock(2)
    out["tcp-sndnxt-2g-forward-ack"] = s
    return out


def main():
    args = sys.argv[1:]
    which = seeds
    if args and args[0] == "--crashers":
        which = crashers
        args = args[1:]
    if len(args) != 1:
        sys.exit(__doc__)
    os.makedirs(args[0], exist_ok=True)
    for name, s in which().items():
        with open(os.path.join(args[0], name), "wb") as f:
            f.write(s.bytes())
        print(f"{args[0]}/{name}: {len(s.cmds)} commands")


if __name__ == "__main__":
    main()
