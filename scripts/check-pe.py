#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Check a Windows kernel driver image before it goes near a guest.

    check-pe.py DRIVER.sys SIGNED.sys CERT.pem ALLOWED-IMPORTS

DRIVER.sys (unsigned, with its symbol table) must be a PE32+ x64 image of
the NT native subsystem whose entry point is DriverEntry, relocatable
(relocations present, DYNAMIC_BASE and NX set, RELOCS_STRIPPED clear),
importing only from ntoskrnl.exe, ndis.sys and hal.dll and only the
functions listed in ALLOWED-IMPORTS (those Windows 7 exports).  SIGNED.sys
must carry an Authenticode signature that verifies against CERT.pem.
Prints one TAP line per check."""

import struct
import subprocess
import sys

MODULES = {"ntoskrnl.exe", "ndis.sys", "hal.dll"}


class Pe:
    def __init__(self, path):
        self.data = open(path, "rb").read()
        d = self.data
        if d[:2] != b"MZ":
            raise ValueError("no MZ header")
        pe = struct.unpack_from("<I", d, 0x3C)[0]
        if d[pe:pe + 4] != b"PE\0\0":
            raise ValueError("no PE signature")
        (self.machine, nsec, _, _, _, optsize,
         self.characteristics) = struct.unpack_from("<HHIIIHH", d, pe + 4)
        opt = pe + 24
        self.magic = struct.unpack_from("<H", d, opt)[0]
        self.entry = struct.unpack_from("<I", d, opt + 16)[0]
        self.image_base = struct.unpack_from("<Q", d, opt + 24)[0]
        self.subsystem, self.dll_chars = struct.unpack_from("<HH", d,
                                                            opt + 68)
        ndirs = struct.unpack_from("<I", d, opt + 108)[0]
        self.dirs = [struct.unpack_from("<II", d, opt + 112 + 8 * i)
                     for i in range(ndirs)]
        self.sections = []
        sec = opt + optsize
        for i in range(nsec):
            name, vsize, va, rsize, raw = struct.unpack_from(
                "<8sIIII", d, sec + 40 * i)
            self.sections.append((name.rstrip(b"\0").decode(), va,
                                  max(vsize, rsize), raw))

    def offset(self, rva):
        for _, va, size, raw in self.sections:
            if va <= rva < va + size:
                return raw + rva - va
        raise ValueError("RVA 0x%x in no section" % rva)

    def cstr(self, rva):
        off = self.offset(rva)
        return self.data[off:self.data.index(b"\0", off)].decode()

    def imports(self):
        rva, size = self.dirs[1]
        out = []
        desc = self.offset(rva) if size else None
        while desc is not None:
            ilt, _, _, name, iat = struct.unpack_from("<IIIII", self.data,
                                                      desc)
            if not name:
                break
            module = self.cstr(name)
            thunk = self.offset(ilt or iat)
            while True:
                entry = struct.unpack_from("<Q", self.data, thunk)[0]
                if not entry:
                    break
                if entry >> 63:
                    out.append((module, "#%d" % (entry & 0xFFFF)))
                else:
                    out.append((module, self.cstr((entry & 0x7FFFFFFF) + 2)))
                thunk += 8
            desc += 20
        return out


def symbol(path, name):
    nm = subprocess.run(["x86_64-w64-mingw32-nm", path], capture_output=True,
                        text=True, check=True).stdout
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    return None


def main(driver, signed, cert, allowed_path):
    allowed = set()
    for line in open(allowed_path):
        line = line.split("#")[0].split()
        if len(line) >= 2:
            allowed.add((line[0].lower(), line[1]))
    pe = Pe(driver)
    imports = pe.imports()
    entry_sym = symbol(driver, "DriverEntry")
    checks = [
        ("PE32+ for x64", pe.magic == 0x20B and pe.machine == 0x8664),
        ("native subsystem", pe.subsystem == 1),
        ("entry point is DriverEntry",
         entry_sym is not None and pe.image_base + pe.entry == entry_sym),
        ("relocations present", pe.dirs[5][1] > 0 and
         not pe.characteristics & 0x0001),
        ("DYNAMIC_BASE and NX_COMPAT", pe.dll_chars & 0x0140 == 0x0140),
        ("imports only from ntoskrnl.exe, ndis.sys, hal.dll",
         bool(imports) and all(m.lower() in MODULES for m, _ in imports)),
    ]
    unknown = [f for m, f in imports if (m.lower(), f) not in allowed]
    checks.append(("imports only functions Windows 7 exports (%d)" %
                   len(imports), not unknown))
    verify = subprocess.run(["osslsigncode", "verify", "-CAfile", cert,
                             "-in", signed], capture_output=True, text=True)
    checks.append(("Authenticode signature verifies",
                   verify.returncode == 0 and
                   "Signature verification: ok" in verify.stdout))
    print("1..%d" % len(checks))
    failed = 0
    for i, (what, ok) in enumerate(checks, 1):
        print("%s %d %s" % ("ok" if ok else "not ok", i, what))
        failed += not ok
    for f in unknown:
        print("# not allowed: %s" % f)
    if verify.returncode:
        print("# " + verify.stdout.replace("\n", "\n# "))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
