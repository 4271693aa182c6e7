#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what building QEMU 10.0 with chimney-nic and the Windows drivers
# (mingw-w64, osslsigncode, xorriso) needs on Debian 12, and what
# scripts/run-windows.sh and its tests use (qemu-img from qemu-utils for
# the overlay, wine64 for the guest kit's programs: about 30 s and 650 MB
# with --no-install-recommends).
# Adds bookworm-backports (deb) and trixie (deb-src) from the mirror the
# machine already uses; never names a package host itself.  Idempotent: a
# second run changes nothing and says so.
#   bootstrap.sh --fuzz   also clang, libFuzzer and llvm-symbolizer, for
#                         scripts/fuzz.sh
#   bootstrap.sh --perf   also linux-perf, for profiles of the benchmark
#                         (scripts/bench-send.sh --perf DIR; not for CI)
set -euo pipefail

PKGS=(build-essential pkg-config git python3 python3-venv ninja-build ccache
      dpkg-dev libglib2.0-dev libslirp-dev libpixman-1-dev zlib1g-dev
      libfdt-dev flex bison seabios ipxe-qemu iproute2 xz-utils
      gcc-mingw-w64-x86-64 mingw-w64-x86-64-dev xorriso openssl
      qemu-utils wine64)
BACKPORT_PKGS=(meson python3-pycotap osslsigncode)
# scripts/fuzz.sh: clang 14 with libFuzzer (libclang-rt) and llvm-symbolizer
FUZZ_PKGS=(clang libclang-rt-14-dev llvm)
for opt in "$@"; do
    case "$opt" in
    --fuzz) PKGS+=("${FUZZ_PKGS[@]}") ;;
    --perf) PKGS+=(linux-perf) ;;
    esac
done
APT_FILE=/etc/apt/sources.list.d/qemu-chimney.sources

log() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

# The URI of the entry that serves the plain "bookworm" suite, from either
# one-line (sources.list) or deb822 (*.sources) configuration.
find_mirror() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk '$1 == "deb" {
                 i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                 if ($(i + 1) == "bookworm") { print $i; exit }
             }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] && [ "$f" != "$APT_FILE" ] || continue
        awk 'BEGIN { RS = ""; FS = "\n" }
             {
                 uri = ""; deb = 0; suite = 0
                 for (n = 1; n <= NF; n++) {
                     if ($n ~ /^Types:.*(^|[ \t])deb([ \t]|$)/) deb = 1
                     if ($n ~ /^URIs:/) { split($n, a, /[ \t]+/); uri = a[2] }
                     if ($n ~ /^Suites:/ && $n ~ /[ \t]bookworm([ \t]|$)/) suite = 1
                 }
                 if (deb && suite && uri != "") { print uri; exit }
             }' "$f"
    done
}

missing_pkgs() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
            echo "$p"
    done
}

meson_ok() {
    command -v meson >/dev/null &&
        dpkg --compare-versions "$(meson --version)" ge 1.5
}

[ "$(id -u)" = 0 ] || die "run as root (it installs Debian packages)"
[ -r /etc/debian_version ] || die "this script is for Debian 12"

changed=0
if [ ! -f "$APT_FILE" ]; then
    mirror=$(find_mirror | head -n 1)
    [ -n "$mirror" ] || die "no apt entry for the bookworm suite to derive a mirror from"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    log "adding bookworm-backports (deb) and trixie (deb-src) from $mirror"
    cat >"$APT_FILE" <<APT
# Added by qemu-chimney scripts/bootstrap.sh
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: $keyring

Types: deb-src
URIs: $mirror
Suites: trixie
Components: main
Signed-By: $keyring
APT
    changed=1
fi

mapfile -t need < <(missing_pkgs "${PKGS[@]}")
mapfile -t need_bpo < <(missing_pkgs "${BACKPORT_PKGS[@]}")
if ! meson_ok && [ ${#need_bpo[@]} -eq 0 ]; then
    need_bpo=(meson)
fi
# deb-src lists exist only after an update; fetch them once.
if [ "$changed" = 1 ] || [ ${#need[@]} -gt 0 ] || [ ${#need_bpo[@]} -gt 0 ] ||
   ! ls /var/lib/apt/lists/*trixie*Sources* >/dev/null 2>&1; then
    log "apt-get update"
    apt-get update -qq
    changed=1
fi
export DEBIAN_FRONTEND=noninteractive
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ${#need_bpo[@]} -gt 0 ]; then
    log "installing from bookworm-backports: ${need_bpo[*]}"
    apt-get install -y -qq --no-install-recommends -t bookworm-backports \
        "${need_bpo[@]}" >/dev/null
fi
meson_ok || die "meson >= 1.5 is required (found $(meson --version 2>/dev/null || echo none))"

if [ "$changed" = 0 ]; then
    log "nothing to do: every package and apt entry is already in place"
else
    log "done"
fi
