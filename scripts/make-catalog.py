#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# A Windows security catalog (.cat) for a driver package, without makecat:
#
#   make-catalog.py --out PKG.cat [--hwid ID]... [--inf-catalog [--name N]]
#                   FILE...
#   make-catalog.py --dump PKG.cat
#
# Writes the unsigned catalog: a PKCS #7 SignedData (no signer yet) whose
# content is a certificate trust list (CTL, szOID_CTL 1.3.6.1.4.1.311.10.1)
# with subject usage szOID_CATALOG_LIST (1.3.6.1.4.1.311.12.1.1) and one
# member per FILE, as makecat makes them: the member tag is the SHA-1 in
# upper-case hex (UTF-16LE), and its attributes are the name/value pairs
# File and OSAttr (CAT_NAMEVALUE_OBJID), the member info (its subject
# interface package GUID, CAT_MEMBERINFO_OBJID) and SPC_INDIRECT_DATA with
# the SHA-1: of the Authenticode image hash for PE files
# (SPC_PE_IMAGE_DATA), of the whole file for the others (SPC_CAB_DATA, the
# flat-file form makecat uses for INFs).  osslsigncode signs it
# (scripts/build-windows.sh) with the build's test certificate.
#
# --inf-catalog first adds "CatalogFile = PKG.cat" to the [Version]
# section of every FILE ending in .inf that has no CatalogFile line, so
# SetupAPI finds the catalog.  --dump prints a catalog's members (tag,
# file name, hash kind) for tests.
import argparse
import datetime
import hashlib
import os
import re
import struct
import sys

# ---- DER ----


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([0x80 | len(b)]) + b


def tlv(tag, body):
    return bytes([tag]) + der_len(len(body)) + body


def seq(*items):
    return tlv(0x30, b''.join(items))


def set_of(*items):
    # DER: a SET OF is sorted by the elements' encodings
    return tlv(0x31, b''.join(sorted(items)))


def oid(text):
    arcs = [int(a) for a in text.split('.')]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        enc = [a & 0x7f]
        a >>= 7
        while a:
            enc.append(0x80 | (a & 0x7f))
            a >>= 7
        body += bytes(reversed(enc))
    return tlv(0x06, bytes(body))


def integer(n):
    return tlv(0x02, n.to_bytes(n.bit_length() // 8 + 1, 'big', signed=True))


def octets(b):
    return tlv(0x04, b)


def bmp(text):
    return tlv(0x1e, text.encode('utf-16-be'))


def utf16z(text):
    return (text + '\0').encode('utf-16-le')


NULL = b'\x05\x00'

SIGNED_DATA = '1.2.840.113549.1.7.2'
CTL = '1.3.6.1.4.1.311.10.1'
CATALOG_LIST = '1.3.6.1.4.1.311.12.1.1'
CATALOG_LIST_MEMBER = '1.3.6.1.4.1.311.12.1.2'
CAT_NAMEVALUE = '1.3.6.1.4.1.311.12.2.1'
CAT_MEMBERINFO = '1.3.6.1.4.1.311.12.2.2'
SPC_INDIRECT_DATA = '1.3.6.1.4.1.311.2.1.4'
SPC_PE_IMAGE_DATA = '1.3.6.1.4.1.311.2.1.15'
SPC_CAB_DATA = '1.3.6.1.4.1.311.2.1.25'
SHA1 = '1.3.14.3.2.26'
# Subject interface packages: PE images and flat files
SIP_PE = '{C689AAB8-8E78-11D0-8C47-00C04FC295EE}'
SIP_FLAT = '{DE351A42-8E59-11D0-8C47-00C04FC295EE}'
# CRYPTCAT_ATTR_AUTHENTICATED | NAMEASCII | DATAASCII
NAMEVALUE_FLAGS = 0x10010001
OS_ATTR = '2:6.1,2:6.2,2:6.3'
OS_LIST = '7_X64,Server2008R2_X64,8_X64,Server8_X64,6_3_X64,Server6_3_X64'
OBSOLETE = tlv(0x80, '<<<Obsolete>>>'.encode('utf-16-be'))


def namevalue(name, value):
    return seq(bmp(name), integer(NAMEVALUE_FLAGS), octets(utf16z(value)))


# ---- hashes ----

def pe_layout(data):
    """(checksum offset, certificate directory offset, certificate table
    offset or None) of a PE image, or None when it is not one."""
    if len(data) < 0x40 or data[:2] != b'MZ':
        return None
    pe = struct.unpack_from('<I', data, 0x3c)[0]
    if data[pe:pe + 4] != b'PE\0\0':
        return None
    opt = pe + 24
    magic = struct.unpack_from('<H', data, opt)[0]
    dirs = opt + {0x10b: 96, 0x20b: 112}[magic]
    cert_dir = dirs + 4 * 8
    cert_off, cert_size = struct.unpack_from('<II', data, cert_dir)
    return opt + 64, cert_dir, cert_off if cert_size else None


def authenticode_sha1(data, layout):
    """The Authenticode digest: every byte but the checksum, the
    certificate directory entry and the certificate table."""
    csum, cert_dir, cert_off = layout
    end = cert_off if cert_off is not None else len(data)
    h = hashlib.sha1()
    h.update(data[:csum])
    h.update(data[csum + 4:cert_dir])
    h.update(data[cert_dir + 8:end])
    if cert_off is None and len(data) % 8:
        h.update(b'\0' * (8 - len(data) % 8))
    return h.digest()


def member(path):
    with open(path, 'rb') as f:
        data = f.read()
    layout = pe_layout(data)
    if layout:
        digest = authenticode_sha1(data, layout)
        spc_data = seq(oid(SPC_PE_IMAGE_DATA),
                       seq(b'\x03\x02\x05\xa0',
                           tlv(0xa0, tlv(0xa2, OBSOLETE))))
        sip = SIP_PE
    else:
        digest = hashlib.sha1(data).digest()
        spc_data = seq(oid(SPC_CAB_DATA), tlv(0xa2, OBSOLETE))
        sip = SIP_FLAT
    tag = digest.hex().upper()
    indirect = seq(spc_data, seq(seq(oid(SHA1), NULL), octets(digest)))
    attrs = set_of(
        seq(oid(CAT_NAMEVALUE),
            set_of(namevalue('File', os.path.basename(path).lower()))),
        seq(oid(CAT_NAMEVALUE), set_of(namevalue('OSAttr', OS_ATTR))),
        seq(oid(CAT_MEMBERINFO), set_of(seq(bmp(sip), integer(512)))),
        seq(oid(SPC_INDIRECT_DATA), set_of(indirect)))
    return tag, seq(octets(utf16z(tag)), attrs)


def catalog(paths, hwids, when):
    members = sorted(member(p) for p in paths)
    list_id = hashlib.sha1(''.join(t for t, _ in members).encode())
    exts = [seq(oid(CAT_NAMEVALUE), octets(namevalue('OS', OS_LIST)))]
    for i, h in enumerate(hwids):
        exts.append(seq(oid(CAT_NAMEVALUE),
                        octets(namevalue('HWID%d' % (i + 1), h.lower()))))
    ctl = seq(seq(oid(CATALOG_LIST)),
              octets(list_id.digest()[:16]),
              tlv(0x17, when.strftime('%y%m%d%H%M%SZ').encode()),
              seq(oid(CATALOG_LIST_MEMBER), NULL),
              seq(*(m for _, m in members)),
              tlv(0xa0, seq(*exts)))
    signed = seq(integer(1), set_of(), seq(oid(CTL), tlv(0xa0, ctl)),
                 set_of())
    return seq(oid(SIGNED_DATA), tlv(0xa0, signed))


def add_catalog_line(path, name):
    with open(path, 'rb') as f:
        text = f.read().decode('latin-1')
    if re.search(r'^\s*CatalogFile', text, re.M | re.I):
        return False
    nl = '\r\n' if '\r\n' in text else '\n'
    m = re.search(r'^\s*DriverVer\s*=.*$', text, re.M | re.I) or \
        re.search(r'^\s*\[Version\]\s*$', text, re.M | re.I)
    if not m:
        sys.exit('make-catalog: %s has no [Version] section' % path)
    text = text[:m.end()] + nl + 'CatalogFile = %s' % name + text[m.end():]
    with open(path, 'wb') as f:
        f.write(text.encode('latin-1'))
    return True


# ---- reading one back (for --dump and the tests) ----

def der_read(buf, pos=0):
    tag = buf[pos]
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7f
        if k == 0 or k > 4 or pos + k > len(buf):
            raise ValueError('bad DER length at %d' % pos)
        n = int.from_bytes(buf[pos:pos + k], 'big')
        pos += k
    if pos + n > len(buf):
        raise ValueError('DER element overruns its parent at %d' % pos)
    return tag, buf[pos:pos + n], pos + n


def der_items(body):
    pos, out = 0, []
    while pos < len(body):
        tag, val, pos = der_read(body, pos)
        out.append((tag, val))
    return out


def dump(path):
    with open(path, 'rb') as f:
        data = f.read()
    _, ci, _ = der_read(data)
    items = der_items(ci)
    sd = der_items(der_items(items[1][1])[0][1])
    encap = der_items(sd[2][1])
    if encap[0][1] != oid(CTL)[2:]:
        raise ValueError('the content is not a CTL')
    ctl = der_items(der_items(encap[1][1])[0][1])
    if der_items(ctl[0][1])[0][1] != oid(CATALOG_LIST)[2:]:
        raise ValueError('the subject usage is not szOID_CATALOG_LIST')
    rows = []
    for _, m in der_items(ctl[4][1]):
        tag, attrs = der_items(m)
        name, kind, digest = '?', '?', ''
        for _, a in der_items(attrs[1]):
            a_oid, a_val = der_items(a)
            inner = der_items(a_val[1])[0][1]
            if a_oid[1] == oid(CAT_NAMEVALUE)[2:]:
                nv = der_items(inner)
                if nv[0][1].decode('utf-16-be') == 'File':
                    name = nv[2][1].decode('utf-16-le').rstrip('\0')
            elif a_oid[1] == oid(SPC_INDIRECT_DATA)[2:]:
                spc, di = der_items(inner)
                kind = {oid(SPC_PE_IMAGE_DATA)[2:]: 'pe',
                        oid(SPC_CAB_DATA)[2:]: 'flat'}.get(
                    der_items(spc[1])[0][1], '?')
                digest = der_items(di[1])[1][1].hex().upper()
        rows.append((tag[1].decode('utf-16-le').rstrip('\0'), name, kind,
                     digest))
    signers = len(der_items(sd[-1][1])) if sd[-1][0] == 0x31 else 0
    return rows, signers


def main():
    p = argparse.ArgumentParser(description='make an unsigned Windows '
                                'catalog (.cat) for a driver package')
    p.add_argument('--out', help='the catalog to write')
    p.add_argument('--hwid', action='append', default=[],
                   help='a hardware ID of the package (repeatable)')
    p.add_argument('--inf-catalog', action='store_true',
                   help='add CatalogFile = NAME to the INFs first')
    p.add_argument('--name', help='the catalog\'s file name in the INFs '
                   '(default: the name of --out)')
    p.add_argument('--dump', help='print the members of a catalog')
    p.add_argument('files', nargs='*')
    a = p.parse_args()
    if a.dump:
        try:
            rows, signers = dump(a.dump)
        except (ValueError, IndexError) as e:
            print('make-catalog: %s is not a catalog: %s' % (a.dump, e),
                  file=sys.stderr)
            return 1
        for tag, name, kind, digest in rows:
            print('%s %s %s %s' % (tag, name, kind,
                                   'ok' if digest == tag else 'MISMATCH'))
        print('signers %d' % signers)
        return 0
    if not a.out or not a.files:
        p.error('--out and at least one FILE are needed')
    if a.inf_catalog:
        for f in a.files:
            if f.lower().endswith('.inf'):
                add_catalog_line(f, a.name or os.path.basename(a.out))
    when = datetime.datetime.now(datetime.timezone.utc)
    if os.environ.get('SOURCE_DATE_EPOCH'):
        when = datetime.datetime.fromtimestamp(
            int(os.environ['SOURCE_DATE_EPOCH']), datetime.timezone.utc)
    with open(a.out, 'wb') as f:
        f.write(catalog(a.files, a.hwid, when))
    return 0


if __name__ == '__main__':
    sys.exit(main())
