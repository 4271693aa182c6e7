#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The house rules of the layout, as a test:
# - one name prefix per component: the device model, its TCP engine, the
#   OS-free guest driver core and the Windows miniport never define the
#   same function, type or macro, and the engine's prefix chimney_tcp_
#   (ChimneyTcp, CHIMNEY_TCP_) belongs to the engine alone; the ABI
#   header is shared by design and not counted;
# - arrows only downward in the device: no file calls a function that
#   the PCI front (chimney-pci.c) defines, and only the interrupt layer
#   (chimney-irq.c) touches MSI-X state;
# - no guest-driver code under hw/;
# - small files: device sources under 1000 lines, qtest and Windows
#   harness sources under 1500.
# Prints TAP.
#
#   check-layout.py PROJECT_ROOT
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
dev = root / 'hw/net/chimney'
components = {
    'device': [p for p in dev.glob('chimney*.[ch]')
               if not p.name.startswith('chimney-tcp')
               and p.name != 'chimney-abi.h'] + [dev / 'trace-events'],
    'engine': list(dev.glob('chimney-tcp*.[ch]')),
    'driver core': list((root / 'guest/common').glob('*.[ch]')),
    'miniport': list((root / 'guest/windows/miniport').glob('*.[ch]')),
}

FUNC = re.compile(r'^(?!typedef|return|else|if|for|while|switch|#)'
                  r'[A-Za-z_][\w \t\*]*?\b([A-Za-z_]\w*)\s*\(')
TYPE = re.compile(r'^(?:typedef\b.*?\b(\w+)\s*;|\}\s*(\w+)\s*;|'
                  r'(?:typedef\s+)?(?:struct|union|enum)\s+(\w+)\s*\{)')
MACRO = re.compile(r'^#\s*define\s+(\w+)')
KEYWORDS = {'if', 'for', 'while', 'switch', 'return', 'sizeof'}


def names(path):
    found = set()
    if path.name == 'trace-events':
        return {m.group(1) for m in re.finditer(r'^(\w+)\(', path.read_text(),
                                                re.M)}
    for line in path.read_text(errors='replace').splitlines():
        for rx in (FUNC, TYPE, MACRO):
            m = rx.match(line)
            if m:
                name = next(g for g in m.groups() if g)
                if name not in KEYWORDS and not name.endswith('_H'):
                    found.add(name)
    return found


defined = {}
for comp, files in components.items():
    for f in files:
        for n in names(f):
            defined.setdefault(n, {}).setdefault(comp, set()).add(
                f.relative_to(root).as_posix())

checks = []
shared = sorted(n for n, c in defined.items() if len(c) > 1)
checks.append(('no name is defined by two components',
               ['%s: %s' % (n, ', '.join('%s (%s)' % (c, ' '.join(sorted(f)))
                                         for c, f in sorted(defined[n].items())))
                for n in shared]))
engine_prefix = re.compile(r'^(chimney_tcp_|ChimneyTcp|CHIMNEY_TCP_)')
checks.append(('chimney_tcp_ names are the engine\'s alone',
               ['%s in %s' % (n, ' '.join(sorted(f)))
                for n, c in sorted(defined.items()) if engine_prefix.match(n)
                for comp, f in c.items() if comp != 'engine']))
device_prefix = re.compile(r'^(chimney|Chimney|CHIMNEY)')
checks.append(('the miniport takes none of the device\'s chimney names',
               ['%s in %s' % (n, ' '.join(sorted(c['miniport'])))
                for n, c in sorted(defined.items())
                if 'miniport' in c and device_prefix.match(n)]))

front = dev / 'chimney-pci.c'
front_funcs = {n for n in names(front) if re.search(
    r'^\w[\w \*]*\b%s\(' % n, front.read_text(), re.M)}
calls_up = []
for f in sorted(dev.glob('*.c')):
    if f == front:
        continue
    text = f.read_text()
    calls_up += ['%s calls %s' % (f.name, n) for n in sorted(front_funcs)
                 if re.search(r'\b%s\s*\(' % n, text)]
checks.append(('nothing below the front calls into chimney-pci.c', calls_up))
checks.append(('only chimney-irq.c touches MSI-X state',
               [f.name for f in sorted(dev.glob('*.c'))
                if f.name not in ('chimney-irq.c', 'chimney-pci.c')
                and re.search(r'\bmsix_', f.read_text())]))
checks.append(('no guest-driver code under hw/',
               [p.relative_to(root).as_posix()
                for p in sorted((root / 'hw').rglob('*guest*'))]))
sizes = [(p, 1000) for p in sorted(dev.glob('*.c'))]
sizes += [(p, 1500) for d in ('tests/qtest', 'tests/windows')
          for p in sorted((root / d).glob('*.[ch]'))]
checks.append(('device sources under 1000 lines, test sources under 1500',
               ['%s: %d lines' % (p.relative_to(root).as_posix(), n)
                for p, limit in sizes
                for n in [len(p.read_text().splitlines())] if n > limit]))

print('1..%d' % len(checks))
failed = 0
for i, (what, bad) in enumerate(checks, 1):
    print('%sok %d - %s' % ('not ' if bad else '', i, what))
    for b in bad:
        print('#   ' + b)
    failed += bool(bad)
sys.exit(1 if failed else 0)
