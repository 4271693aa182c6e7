#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# scripts/run-windows.sh without Windows (TAP):
# - --dry-run on a fake read-only image prints the QEMU command line the
#   user guide shows, never names the image in it (only the overlay) and
#   leaves the image untouched;
# - bad command lines exit 2 with a message;
# - a short real run on the fake image (no OS, so no report): the overlay
#   is backed by the image, QEMU runs with the device, the QMP counters
#   are sampled, the run fails (1) with a clear report, and the image's
#   checksum is unchanged.
#
#   test-run-windows.sh PROJECT_ROOT BUILD_DIR
set -euo pipefail
case "${1:-}" in
-h|--help) sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac

root=$1
build=$2
script=$root/scripts/run-windows.sh
guide=$root/docs/system/devices/chimney-nic.rst
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
no() { n=$((n + 1)); echo "not ok $n - $*"; fails=$((fails + 1)); }
skip() { n=$((n + 1)); echo "ok $n - $* # SKIP"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else no "$what"; fi; }


img="$tmp/user image.qcow2"
if command -v qemu-img >/dev/null; then
    qemu-img create -q -f qcow2 "$img" 64M
else
    head -c 1048576 /dev/zero >"$img"
fi
chmod 444 "$img"
sum_before=$(sha256sum <"$img")
mtime_before=$(stat -c %Y "$img")

out=$("$script" "$img" --dry-run --dir "$tmp/run" \
      --rules 'type=send delay=5ms; conn=1 fail=aborted, x' -- -snapshot)
cmdline=$(echo "$out" | tail -n 1)
echo "$out" | sed 's/^/# /'

has() { [[ $cmdline == *"$1"* ]]; }
check "dry-run: QEMU from the build" has "$build/qemu-build/qemu-system-x86_64 "
check "dry-run: the machine and an accelerator" \
    bash -c '[[ $1 == *" -M pc -accel kvm "* || $1 == *" -M pc -accel tcg "* ]]' _ "$cmdline"
check "dry-run: the disk is the overlay, qcow2" \
    has "-drive file=$tmp/run/overlay.qcow2,format=qcow2,if=ide,index=0"
check "dry-run: the user's image is not on the command line" \
    bash -c '[[ $1 != *"user image"* ]]' _ "$cmdline"
check "dry-run: the driver ISO, read-only CD" \
    has "-drive file=$build/windows/chimney-drivers.iso,format=raw,if=ide,index=1,media=cdrom,readonly=on"
check "dry-run: the run CD" \
    has "-drive file=$tmp/run/chimney-run.iso,format=raw,if=ide,index=2,media=cdrom,readonly=on"
check "dry-run: -netdev user and chimney-nic with the fault rules (commas doubled)" \
    has "-netdev user,id=n0 -device 'chimney-nic,netdev=n0,id=nic0,mac=52:54:00:12:34:56,x-fault-rules=type=send delay=5ms; conn=1 fail=aborted,, x'"
check "dry-run: COM1 to a file, QMP on a socket, QEMU ARGS last" \
    has "-chardev file,id=com1,path=$tmp/run/com1.log -serial chardev:com1 -qmp unix:$tmp/run/qmp.sock,server=on,wait=off -usb -device usb-tablet -snapshot"
check "dry-run: the user guide shows the same devices" \
    grep -q -- '-netdev user,id=n0 -device chimney-nic,netdev=n0,id=nic0' "$guide"
check "dry-run: nothing created, the image unchanged" \
    bash -c '[ ! -e "$1/run" ] && [ "$(sha256sum <"$2")" = "$3" ] && [ "$(stat -c %Y "$2")" = "$4" ]' \
    _ "$tmp" "$img" "$sum_before" "$mtime_before"

check "bad command lines exit 2 with a message" \
    bash -c 'set -e; for a in "--conns 0" "--mib 99999" "--machine virt" "--bogus"; do
                 rc=0; err=$("$0" "$1" $a --dry-run 2>&1 >/dev/null) || rc=$?
                 [ "$rc" = 2 ] && [[ $err == run-windows:* ]] || exit 1
             done
             rc=0; "$0" /nonexistent --dry-run >/dev/null 2>&1 || rc=$?
             [ "$rc" = 2 ] || exit 1
             rc=0; "$0" --dry-run >/dev/null 2>&1 || rc=$?; [ "$rc" = 2 ]' \
    "$script" "$img"
check "--help" bash -c '"$0" --help | grep -q -- "--rules RULES"' "$script"
check "--help is the header, no code" bash -c \
    '! "$0" --help | grep -q -e "set -euo" -e "^cd " -e "=\$("' "$script"
check "a missing image is named" bash -c \
    '"$0" /no/such.qcow2 --dry-run 2>&1 | grep -q "no such image: /no/such.qcow2"' \
    "$script"

# --install: a new image, the installation CD last, booted once
head -c 4096 /dev/zero >"$tmp/win.iso"
key=ABCDE-12345-ABCDE-12345-ABCDE
out=$("$script" --install "$tmp/win.iso" --key "$key" "$tmp/new.qcow2" \
      --dry-run --dir "$tmp/run")
cmdline=$(echo "$out" | tail -n 1)
check "--install dry-run: the new image is the disk, the ISO boots once" \
    bash -c '[[ $1 == *"-drive file=$2/new.qcow2,format=qcow2,if=ide,index=0 "* &&
              $1 == *"-drive file=$2/win.iso,format=raw,if=ide,index=3,media=cdrom,readonly=on -boot once=d"* ]] &&
             [ ! -e "$2/new.qcow2" ]' _ "$cmdline" "$tmp"
check "--install never overwrites an image, and needs a well-formed key" \
    bash -c 'set -e
             rc=0; "$0" --install "$1/win.iso" --key "$3" "$2" --dry-run >/dev/null 2>&1 || rc=$?
             [ "$rc" = 2 ]
             rc=0; "$0" --install "$1/win.iso" "$1/n.qcow2" --dry-run >/dev/null 2>&1 || rc=$?
             [ "$rc" = 2 ]
             rc=0; "$0" --install "$1/win.iso" --key 123 "$1/n.qcow2" --dry-run >/dev/null 2>&1 || rc=$?
             [ "$rc" = 2 ]' "$script" "$tmp" "$img" "$key"

# ---- a short real run ----
qemu=$build/qemu-build/qemu-system-x86_64
if [ ! -x "$qemu" ] || ! command -v qemu-img >/dev/null ||
   ! command -v xorriso >/dev/null; then
    for i in 1 2 3 4; do
        skip "real run: needs the QEMU build, qemu-img and xorriso"
    done
    echo "1..$n"
    exit $((fails > 0))
fi
rc=0
"$script" "$img" --headless --timeout 6 --cpu qemu64 --keep \
    --dir "$tmp/real" --rules 'type=send delay=1ms' >"$tmp/real.out" 2>&1 ||
    rc=$?
sed 's/^/# /' "$tmp/real.out"
check "real run: fails (1) without a guest, saying why" \
    bash -c '[ "$1" = 1 ] && grep -q "no line from the guest" "$2" && grep -q "^result  *FAILED" "$2"' \
    _ "$rc" "$tmp/real.out"
check "real run: the kept overlay is backed by the image" \
    bash -c 'qemu-img info -U "$1/real/overlay.qcow2" | grep -q "backing file: $2"' \
    _ "$tmp" "$img"
check "real run: the device's QMP counters were sampled" \
    grep -q '"x-stat-tx-frames"' "$tmp/real/qmp.json"
check "real run: the image is unchanged" \
    bash -c '[ "$(sha256sum <"$1")" = "$2" ]' _ "$img" "$sum_before"
echo "1..$n"
exit $((fails > 0))
