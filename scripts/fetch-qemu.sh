#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Fetch Debian's trixie "qemu" source package (QEMU 10.0.x with Debian's
# patches applied) into a cache outside any build directory, once.
# Prints the path of the unpacked tree on stdout.
set -euo pipefail

cache=${QEMU_CHIMNEY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-chimney}
log() { printf 'fetch-qemu: %s\n' "$*" >&2; }
die() { printf 'fetch-qemu: error: %s\n' "$*" >&2; exit 1; }

find_tree() {
    local d
    for d in "$cache"/qemu-10.0.*/; do
        [ -f "$d/VERSION" ] && [ -f "$cache/.complete-$(basename "$d")" ] &&
            { echo "${d%/}"; return 0; }
    done
    return 1
}

if tree=$(find_tree); then
    log "using cached source $tree"
    echo "$tree"
    exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found; pass -Dqemu_src=DIR instead"
mkdir -p "$cache"
log "fetching Debian trixie source package qemu into $cache"
(cd "$cache" && apt-get source -qq --only-source qemu/trixie >&2) ||
    die "apt-get source failed; run scripts/bootstrap.sh first"
tree=$(ls -d "$cache"/qemu-10.0.*/ 2>/dev/null | head -n 1) ||
    die "no qemu-10.0.* directory after apt-get source"
tree=${tree%/}
touch "$cache/.complete-$(basename "$tree")"
rm -f "$cache"/qemu_*.tar.* "$cache"/qemu_*.dsc
echo "$tree"
