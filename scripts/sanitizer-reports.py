#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The sanitizer reports in a meson test log, one line each.

    sanitizer-reports.py TESTLOG.json [KNOWN]

Finds AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer
reports in the output of every test of TESTLOG.json (meson-logs/), names
each by its kind, its message and the first frame that is ours or QEMU's,
and prints them.  A report matching a line of KNOWN (default
scripts/sanitizers/known-reports, a regular expression per line, matched
against the printed line) is printed as known: a bug of the device or of
its tests being fixed, listed so that the run stays useful meanwhile.  Exit status 1 when
there is a report that is not known.  .ci/run imports reports() too.
"""
import json
import os
import re
import sys

KINDS = [("ASan", re.compile(r"ERROR: AddressSanitizer: ([^\n]*)")),
         ("LSan", re.compile(r"(Direct|Indirect) leak of [^\n]*")),
         ("UBSan", re.compile(r"(\S+:\d+:\d+): runtime error: ([^\n]*)"))]
FRAME = re.compile(r"#\d+ 0x[0-9a-f]+ in (\S+) (\S+)")
# frames that say nothing about who is at fault
BORING = re.compile(r"^(__interceptor_|__asan|__lsan|__ubsan|g_malloc|"
                    r"g_malloc0|g_realloc|g_strdup|g_strndup|g_new|g_memdup|"
                    r"g_slice|malloc|calloc|realloc|strdup|operator)")
HERE = os.path.dirname(os.path.abspath(__file__))


def _path(loc):
    """a source location relative to the QEMU tree or the project"""
    return re.sub(r"^(\.\./)*(\S*?/)?(qemu-src|wt-[^/]+|work/main)/", "",
                  loc)


def _where(text):
    """the first frame after a report that is not an allocator's"""
    for line in text.splitlines()[1:]:
        if not re.match(r"\s+#\d+ ", line):
            break
        m = FRAME.search(line)
        if not m or BORING.match(m.group(1)) or "libglib" in m.group(2):
            continue
        return f"{m.group(1)} {_path(m.group(2))}"
    return "? (no frame of ours: ASAN_OPTIONS=fast_unwind_on_malloc=0)"


def reports(testlog):
    """[(test name, kind, text)] for every distinct report in TESTLOG."""
    found = []
    try:
        lines = open(testlog).readlines()
    except OSError:
        return found
    for line in lines:
        t = json.loads(line)
        out = (t.get("stdout") or "") + "\n" + (t.get("stderr") or "")
        seen = set()
        for kind, rx in KINDS:
            for m in rx.finditer(out):
                if kind == "UBSan":
                    text = f"{m.group(2)} at {_path(m.group(1))}"
                elif kind == "LSan":
                    text = f"{m.group(1)} leak from " \
                           f"{_where(out[m.end():m.end() + 3000])}"
                else:
                    text = f"{m.group(1)} at " \
                           f"{_where(out[m.end():m.end() + 3000])}"
                if (kind, text) not in seen:
                    seen.add((kind, text))
                    found.append((t["name"], kind, text))
    return found


def known_patterns(path=None):
    path = path or os.path.join(HERE, "sanitizers", "known-reports")
    pats = []
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line and not line.startswith("#"):
                pats.append(re.compile(line))
    return pats


def classify(testlog, known=None):
    """(new, known) lists of printable lines"""
    pats = known_patterns(known)
    new, old = [], []
    for name, kind, text in reports(testlog):
        line = f"{name}: {kind}: {text}"
        (old if any(p.search(line) for p in pats) else new).append(line)
    return new, old


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    new, old = classify(sys.argv[1], sys.argv[2] if len(sys.argv) > 2
                        else None)
    for line in old:
        print(f"sanitizer report (known): {line}")
    for line in new:
        print(f"sanitizer report: {line}")
    print(f"sanitizers: {len(new) + len(old)} reports, {len(old)} of them "
          f"known bugs (scripts/sanitizers/known-reports)")
    sys.exit(1 if new else 0)


if __name__ == "__main__":
    main()
