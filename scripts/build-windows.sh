#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the Windows drivers with mingw-w64: the miniport .sys (with the
# OS-free driver core shared with libqos), the sample intermediate driver
# and its counters tool, their INFs, test-signed copies and an ISO to
# attach to a guest.
#
#   build-windows.sh SRCDIR OUTDIR STAMP
#
# OUTDIR/chimneynic.sys and OUTDIR/chimneyim.sys are the unsigned images
# (their symbols are kept for scripts/check-pe.py), OUTDIR/iso/ what the
# ISO holds, and
# OUTDIR/chimney-drivers.iso the ISO.  The test certificate is made once
# per build directory; its public half is on the ISO for the guest's
# certificate stores.
set -euo pipefail

src=$(cd "$1" && pwd)
out=$2
stamp=$3
cc=x86_64-w64-mingw32-gcc
ddk=/usr/share/mingw-w64/include/ddk

die() { echo "build-windows: $*" >&2; exit 1; }
for tool in $cc osslsigncode xorriso openssl; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/bootstrap.sh installs it)"
done
[ -d "$ddk" ] || die "$ddk is missing (package mingw-w64-x86-64-dev)"

cflags=(-std=gnu11 -O2 -Wall -Wextra -Wno-unused-parameter -Werror
        -ffreestanding -fno-stack-protector -mno-stack-arg-probe
        -I"$src/guest/windows/include" -I"$src" -I"$ddk")
# A native image for Windows 7 (6.1) and later, entry DriverEntry (ld
# would otherwise pick the start of .text), relocatable, NX.
ldflags=(-nostdlib -Wl,--subsystem,native:6.1
         -Wl,--major-os-version,6 -Wl,--minor-os-version,1
         -Wl,--entry,DriverEntry -Wl,--image-base,0x140000000
         -Wl,--dynamicbase -Wl,--nxcompat
         -Wl,--file-alignment,0x200 -Wl,--section-alignment,0x1000)

mkdir -p "$out/obj" "$out/iso"
# memcpy / memset of our own in both images (guest/windows/crt/crt-mem.c)
$cc "${cflags[@]}" -c "$src/guest/windows/crt/crt-mem.c" -o "$out/obj/crt-mem.o"
mp=("$out/obj/crt-mem.o")
for f in mp-main mp-bringup mp-datapath mp-state-tree mp-conn-io \
         mp-conn-cq; do
    $cc "${cflags[@]}" -c "$src/guest/windows/miniport/$f.c" \
        -o "$out/obj/$f.o"
    mp+=("$out/obj/$f.o")
done
for f in chimney-guest chimney-guest-ndis; do
    $cc "${cflags[@]}" -c "$src/guest/common/$f.c" -o "$out/obj/$f.o"
    mp+=("$out/obj/$f.o")
done
$cc -o "$out/chimneynic.sys" "${mp[@]}" "${ldflags[@]}" -lndis -lntoskrnl -lhal

im=("$out/obj/crt-mem.o")
for f in chimney-im-driver chimney-im-protocol chimney-im-miniport \
         chimney-im-offload; do
    $cc "${cflags[@]}" -c "$src/guest/windows/im/$f.c" -o "$out/obj/$f.o"
    im+=("$out/obj/$f.o")
done
$cc -o "$out/chimneyim.sys" "${im[@]}" "${ldflags[@]}" -lndis -lntoskrnl -lhal

# The counters tool is an ordinary console program
$cc -std=gnu11 -O2 -Wall -Wextra -Werror -I"$src/guest/windows/include" \
    "$src/guest/windows/tools/chimney-im-stat.c" -o "$out/chimney-im-stat.exe"

if [ ! -f "$out/test-cert.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
        -subj "/CN=qemu-chimney test signing" \
        -addext "keyUsage=critical,digitalSignature" \
        -addext "extendedKeyUsage=codeSigning" \
        -keyout "$out/test-cert.key" -out "$out/test-cert.pem" 2>/dev/null
fi

# SHA-1 for Windows 7 / 2008 R2 without SHA-2 support, SHA-256 nested in
# it for later releases.
sign() {
    rm -f "$out/sha1.tmp" "$3"
    osslsigncode sign -certs "$out/test-cert.pem" -key "$out/test-cert.key" \
        -h sha1 -n "$2" -in "$1" -out "$out/sha1.tmp" >/dev/null
    osslsigncode sign -nest -certs "$out/test-cert.pem" \
        -key "$out/test-cert.key" -h sha256 -n "$2" \
        -in "$out/sha1.tmp" -out "$3" >/dev/null
    rm -f "$out/sha1.tmp"
}
sign "$out/chimneynic.sys" "chimney-nic miniport" "$out/iso/chimneynic.sys"
sign "$out/chimneyim.sys" "chimney-im intermediate driver" \
    "$out/iso/chimneyim.sys"
sign "$out/chimney-im-stat.exe" "chimney-im counters" \
    "$out/iso/chimney-im-stat.exe"
cp "$src/guest/windows/miniport/chimneynic.inf" \
   "$src/guest/windows/im/chimneyim.inf" \
   "$src/guest/windows/im/chimneyim_m.inf" "$out/iso/"
openssl x509 -in "$out/test-cert.pem" -outform der \
    -out "$out/iso/chimney-test.cer"

# The guest kit of scripts/run-windows.sh: the setup script (CRLF for
# cmd), the workload, a note on the report lines
$cc -std=gnu11 -O2 -Wall -Wextra -Werror \
    "$src/guest/windows/kit/chimney-load.c" -o "$out/chimney-load.exe" -lws2_32
sign "$out/chimney-load.exe" "chimney-load workload" \
    "$out/iso/chimney-load.exe"
sed 's/$/\r/' "$src/guest/windows/kit/chimney-setup.cmd" \
    >"$out/iso/chimney-setup.cmd"
sed 's/$/\r/' "$src/guest/windows/kit/README.txt" >"$out/iso/README.txt"

# A signed catalog per driver package, so Windows installs them without
# asking (scripts/make-catalog.py; the ISO's INFs get a CatalogFile line
# when theirs has none)
catalog() {
    local name=$1 hwids=$2
    shift 2
    local args=()
    for h in $hwids; do
        args+=(--hwid "$h")
    done
    python3 "$src/scripts/make-catalog.py" --out "$out/$name.unsigned" \
        --name "$name" --inf-catalog "${args[@]}" "$@"
    rm -f "$out/iso/$name"
    osslsigncode sign -certs "$out/test-cert.pem" -key "$out/test-cert.key" \
        -h sha1 -n "qemu-chimney drivers" -in "$out/$name.unsigned" \
        -out "$out/iso/$name" >/dev/null
}
catalog chimneynic.cat 'PCI\VEN_1AF4&DEV_10F0' \
    "$out/iso/chimneynic.inf" "$out/iso/chimneynic.sys"
catalog chimneyim.cat 'qc_chimneyim qc_chimneyimmp' \
    "$out/iso/chimneyim.inf" "$out/iso/chimneyim_m.inf" \
    "$out/iso/chimneyim.sys"

rm -f "$out/chimney-drivers.iso"
xorriso -as mkisofs -quiet -J -R -V CHIMNEY_DRIVERS \
    -o "$out/chimney-drivers.iso" "$out/iso" 2>/dev/null
touch "$stamp"
