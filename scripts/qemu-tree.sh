#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Keep a QEMU 10.0.x tree with chimney-nic in it, and build it.
#
#   qemu-tree.sh prepare PROJECT SRC BUILDROOT   copy SRC (or Debian's source
#       when SRC is empty) to BUILDROOT/qemu-src, link our files in, apply
#       patches/ and configure BUILDROOT/qemu-build.  Stamp-protected: a run
#       with nothing changed does nothing.
#   qemu-tree.sh build PROJECT SRC BUILDROOT STAMP TARGET...   prepare, then
#       build the TARGETs incrementally with QEMU's own ninja.
#
# QEMU_CHIMNEY_FLAVOR picks how BUILDROOT/qemu-build is configured; use one
# build root per flavour (a root configured otherwise is refused):
#   default      gcc, as shipped (build/)
#   sanitizers   gcc with --enable-asan --enable-ubsan (build-san/, meson
#                -Dsanitizers=true, scripts/run-sanitizers.sh)
#   fuzz         clang with --enable-fuzzing --enable-asan: libFuzzer's
#                qemu-fuzz-x86_64 (build-fuzz/, scripts/fuzz.sh)
set -euo pipefail

cmd=$1 project=$(cd "$2" && pwd) src=$3 root=$4
shift 4
flavor=${QEMU_CHIMNEY_FLAVOR:-default}
qsrc=$root/qemu-src
qbuild=$root/qemu-build

log() { printf 'qemu-tree: %s\n' "$*" >&2; }
die() { printf 'qemu-tree: error: %s\n' "$*" >&2; exit 1; }

# ccache keys on paths relative to the build root, so a fresh clone
# elsewhere hits the cache that an earlier build filled.
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true

# Our files, by their path inside the QEMU tree, or QEMU_PATH=OUR_PATH
# where the two differ: the OS-free guest driver core, guest/common/ here,
# sits with the libqos driver that builds it there.
OUR_FILES=(hw/net/chimney
           tests/qtest/chimney-dev-test.c tests/qtest/chimney-tcp-test.c
           tests/qtest/chimney-rx-test.c tests/qtest/chimney-fault-test.c
           tests/qtest/chimney-peer-test.c tests/qtest/chimney-demo.c
           tests/qtest/chimney-windows-test.c tests/qtest/chimney-v6-test.c
           tests/qtest/chimney-hint-test.c
           tests/qtest/libqos/chimney.c tests/qtest/libqos/chimney.h
           tests/qtest/libqos/chimney-guest=guest/common
           tests/qtest/libqos/chimney-host.c tests/qtest/libqos/chimney-host.h
           tests/qtest/libqos/chimney-stream.c
           tests/qtest/libqos/chimney-stream.h
           tests/qtest/libqos/chimney-slirp.c
           tests/qtest/libqos/chimney-slirp.h
           tests/qtest/libqos/chimney-relay.c
           tests/qtest/libqos/chimney-relay.h
           tests/qtest/libqos/chimney-qgraph.c
           tests/qtest/chimney-soak.c
           tests/qtest/chimney-bench.c tests/qtest/chimney-bench.h
           tests/qtest/chimney-bench-lib.c tests/qtest/chimney-bench-igb.c
           tests/qtest/chimney-bench-opts.c
           tests/qtest/chimney-bench-sender.c
           tests/qtest/chimney-bench-virtio.c
           tests/qtest/chimney-bench-floor.c
           tests/qtest/chimney-bench-table.c
           tests/qtest/libqos/chimney-kernel.c
           tests/qtest/libqos/chimney-kernel.h
           tests/qtest/libqos/chimney-prog.c tests/qtest/libqos/chimney-prog.h
           tests/unit/test-chimney-tcp.c tests/unit/test-chimney-timer.c
           tests/unit/test-chimney-guest.c
           tests/unit/test-chimney-guest-ndis.c
           tests/windows tests/qtest/fuzz/chimney_fuzz.c
           tests/qtest/fuzz/chimney_wire_fuzz.c
           docs/specs/chimney-nic.rst docs/system/devices/chimney-nic.rst)

source_tree() {
    if [ -n "$src" ]; then
        [ -d "$src" ] || die "qemu_src '$src' is not a directory"
        (cd "$src" && pwd)
    else
        "$project/scripts/fetch-qemu.sh"
    fi
}

check_version() {
    local v
    v=$(cat "$1/VERSION" 2>/dev/null) || die "$1 has no VERSION file"
    case "$v" in
    10.0.*) ;;
    *) die "$1 is QEMU $v; chimney-nic needs a QEMU 10.0.x tree" ;;
    esac
}

prepare() {
    local tree stamp p ours
    tree=$(source_tree)
    check_version "$tree"
    stamp="$tree $(cat "$tree/VERSION") $(cat "$project"/patches/*.patch | sha256sum)"
    if [ "$(cat "$qsrc/.chimney-stamp" 2>/dev/null)" != "$stamp" ]; then
        log "copying $tree to $qsrc and applying patches/"
        rm -rf "$qsrc" "$qbuild"
        mkdir -p "$qsrc"
        tar -C "$tree" --exclude=./roms --exclude=./debian --exclude=./.pc \
            --exclude=./.git --exclude=./build -cf - . | tar -C "$qsrc" -xf -
        for p in "$project"/patches/*.patch; do
            patch -d "$qsrc" -p1 -s --forward --batch \
                --no-backup-if-mismatch -i "$p" ||
                die "patch $(basename "$p") does not apply to $tree"
        done
        echo "$stamp" >"$qsrc/.chimney-stamp"
    fi
    for p in "${OUR_FILES[@]}"; do
        ours=${p#*=}
        p=${p%%=*}
        [ -e "$project/$ours" ] || continue
        if [ "$(readlink "$qsrc/$p" 2>/dev/null)" != "$project/$ours" ]; then
            mkdir -p "$(dirname "$qsrc/$p")"
            rm -rf "${qsrc:?}/$p"
            ln -s "$project/$ours" "$qsrc/$p"
        fi
    done
    if [ -f "$qbuild/build.ninja" ] &&
       [ "$(cat "$qbuild/.chimney-flavor" 2>/dev/null || echo default)" != "$flavor" ]; then
        die "$qbuild was configured as '$(cat "$qbuild/.chimney-flavor" 2>/dev/null || echo default)', not '$flavor': use another build directory"
    fi
    if [ ! -f "$qbuild/build.ninja" ]; then
        local extra
        case "$flavor" in
        default) extra=(--cc="ccache gcc") ;;
        sanitizers) extra=(--cc="ccache gcc" --enable-asan --enable-ubsan) ;;
        fuzz) extra=(--cc="ccache clang" --cxx="ccache clang++"
                     --enable-fuzzing --enable-asan) ;;
        *) die "unknown QEMU_CHIMNEY_FLAVOR '$flavor'" ;;
        esac
        log "configuring QEMU ($flavor) in $qbuild"
        mkdir -p "$qbuild"
        (cd "$qbuild" && "$qsrc/configure" --python=/usr/bin/python3 \
            --target-list=x86_64-softmmu --enable-slirp \
            --disable-download --disable-install-blobs --disable-docs \
            "${extra[@]}" >configure.log 2>&1) ||
            { tail -n 30 "$qbuild/configure.log" >&2; die "configure failed"; }
        echo "$flavor" >"$qbuild/.chimney-flavor"
    fi
    link_firmware
}

# Debian's source carries no firmware; use Debian's seabios and iPXE.  A
# QEMU run from its build directory looks for data in qemu-bundle/.
link_firmware() {
    local f data=$qbuild/qemu-bundle/usr/local/share/qemu
    mkdir -p "$data"
    for f in /usr/share/seabios/*.bin /usr/lib/ipxe/qemu/*.rom; do
        [ -e "$f" ] || continue
        [ -e "$data/$(basename "$f")" ] || ln -sf "$f" "$data/$(basename "$f")"
    done
}

case "$cmd" in
prepare)
    prepare
    ;;
build)
    stamp=$1
    shift
    prepare
    ninja -C "$qbuild" "$@" ||
        die "QEMU build failed (run: ninja -C $qbuild $*)"
    touch "$stamp"
    ;;
*)
    die "unknown command $cmd"
    ;;
esac
