#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Check that docs/specs/chimney-nic.rst states every register offset,
doorbell, opcode, completion type, status and fatal code of
hw/net/chimney/chimney-abi.h with the header's value, the limits a driver
must know, and the values of the rules in RULES where the spec states
them."""

import re
import sys

# prefix in the header -> how the spec writes name and value
GROUPS = {
    "CHIMNEY_REG_": lambda n, v: (n, "0x%03x" % v),
    "CHIMNEY_DB_": lambda n, v: (n, "0x%04x" % v),
    "CHIMNEY_CMD_": lambda n, v: ("``%s``" % n, "(0x%02x)" % v),
    "CHIMNEY_ST_": lambda n, v: (n, "0x%02x" % v),
    "CHIMNEY_FATAL_": lambda n, v: (n, "%d" % v),
    "CHIMNEY_EVENT_": lambda n, v: (n, "%d" % v),
    "CHIMNEY_UPLOAD_": lambda n, v: (n, "%d" % v),
    "CHIMNEY_QUEUE_": lambda n, v: (n, "%d" % v),
    "CHIMNEY_OBJ_": lambda n, v: (n, "%d" % v),
    "CHIMNEY_SQ_": lambda n, v: (n, "%d" % v),
    "CHIMNEY_RQ_": lambda n, v: (n, "%d" % v),
    "CHIMNEY_NDIS_STATUS_": lambda n, v: (n, "0x%08x" % v),
}
CQE_TYPES = {"ADMIN", "SEND", "RECV", "INDICATE", "EVENT", "L2_TX", "L2_RX",
             "DISCONNECT"}
# limits a driver must know: the spec names them in full with their value
LIMITS = {
    "CHIMNEY_MAX_REQUEST_LEN": lambda v: "0x%08x" % v,
    "CHIMNEY_L2_RX_BACKLOG": lambda v: "%d" % v,
}

# A paragraph of the spec (from the line that contains the anchor to the
# next blank line) that must state these header values, each formatted
RULES = [
    # CREATE_L2Q: which ids create which queue
    ("``CREATE_L2Q`` (0x", [("CHIMNEY_QUEUE_L2_TX", "%d (TX)"),
                            ("CHIMNEY_QUEUE_L2_RX", "%d (RX)"),
                            ("CHIMNEY_QUEUE_INDICATE", "%d (INDICATE")]),
    # the generic-buffer queue's id, where it is described
    ("The **generic-buffer queue**", [("CHIMNEY_QUEUE_INDICATE",
                                       "``id`` %d")]),
    # FATAL_INFO of a bad admin configuration names these registers
    ("``FATAL_ADMIN_CONFIG`` and", [("CHIMNEY_REG_ASQ_SIZE", "ASQ_SIZE"),
                                    ("CHIMNEY_REG_ACQ_SIZE", "ACQ_SIZE"),
                                    ("CHIMNEY_REG_ASQ_BASE_LO", "ASQ_BASE_LO"),
                                    ("CHIMNEY_REG_ACQ_BASE_LO",
                                     "ACQ_BASE_LO")]),
]


def paragraph(lines, anchor):
    for i, line in enumerate(lines):
        if anchor in line:
            out = []
            for rest in lines[i:]:
                if not rest.strip():
                    break
                out.append(rest)
            return " ".join(" ".join(out).split())
    return None


def check_rules(text, values):
    errors = 0
    for anchor, wanted in RULES:
        para = paragraph(text, anchor)
        if para is None:
            print("spec has no paragraph with %r" % anchor)
            errors += 1
            continue
        for name, fmt in wanted:
            shown = fmt % values[name] if "%" in fmt else fmt
            if shown not in para:
                print("spec paragraph %r does not state %s (%s)" %
                      (anchor, name, shown))
                errors += 1
    return errors


def describe(name, value):
    """How the spec writes @name and its value, or None if not checked."""
    if name in LIMITS:
        return "``%s``" % name, LIMITS[name](value)
    for prefix, fmt in GROUPS.items():
        if name.startswith(prefix):
            return fmt(name[len(prefix):], value)
    short = name[len("CHIMNEY_CQE_"):]
    if name.startswith("CHIMNEY_CQE_") and short in CQE_TYPES:
        return short, "%d" % value
    return None


def main(header, spec):
    text = open(spec).read().splitlines()
    defines = re.findall(r"^#define (CHIMNEY_\w+)\s+(0x[0-9a-fA-F]+|\d+)u?\b",
                         open(header).read(), re.M)
    errors = 0
    checked = 0
    for name, value in defines:
        value = int(value, 0)
        found = describe(name, value)
        if not found:
            continue
        short, shown = found
        if short == "NONE":
            continue
        ok = any(re.search(r"(^|[^\w])%s([^\w]|$)" % re.escape(short), line)
                 and re.search(r"(^|[^\w])%s([^\w]|$)" % re.escape(shown),
                               line)
                 for line in text)
        checked += 1
        if not ok:
            print("spec does not state %s = %s" % (name, shown))
            errors += 1
    rule_errors = check_rules(text, {n: int(v, 0) for n, v in defines})
    errors += rule_errors
    print("%d values and %d rules checked, %d missing or different" %
          (checked, len(RULES), errors))
    return 1 if errors or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
