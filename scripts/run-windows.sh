#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# README command 3, for Windows users: boot your own Windows 7 SP1 /
# Server 2008 R2 / 8.1 / Server 2012 R2 x64 image with chimney-nic and
# the driver CD, let the guest kit on the CD (D:\chimney-setup.cmd)
# install the drivers and stream to a peer on this host, and print what
# happened: driver versions, chimney state, connections offloaded, bytes
# the host peer verified, the intermediate driver's send-completion
# counters and the device's own QMP counters.
#
#   run-windows.sh IMAGE [options] [-- QEMU ARGS...]
#   run-windows.sh --install WIN_ISO --key KEY NEW_IMAGE [options]
#
#   --conns N        TCP connections the guest opens, 1 to 64 (default 4)
#   --mib M          MiB each connection streams, 1 to 4096 (default 16)
#   --rules RULES    fault rules for the device's completions
#                    (x-fault-rules, see the user guide), e.g.
#                    --rules 'type=send delay=5ms' (default: none)
#   --timeout S      give up when the guest has not reported within S
#                    seconds (default 3600)
#   --dir DIR        where the overlay and the run's files go (default
#                    build/windows-run); a kept overlay there of the same
#                    image is used again
#   --keep           keep the overlay (the guest's changes) after the run
#   --machine M      QEMU machine type, pc or q35 (default pc: IDE disks,
#                    as most Windows 7 images were installed)
#   --memory SIZE    guest memory (default 4G)
#   --cpu MODEL      QEMU CPU model (default: host with KVM, QEMU's
#                    default with TCG)
#   --headless       no window (-display none)
#   --dry-run        print the QEMU command line and exit
#   --install ISO    create NEW_IMAGE (qcow2, --disk-size, default 40G)
#                    and install Windows 7 / 8.1 x64 from ISO into it
#                    unattended (autounattend.xml on the run CD; a local
#                    administrator "chimney", password "chimney"), then
#                    set up and run as usual, with no action in the guest;
#                    NEW_IMAGE is then yours for later runs
#   --key KEY        the product key for --install
#   -h, --help       this text
#
# IMAGE is never written: QEMU runs on a qcow2 overlay backed by it.
# The first run on an image needs one action in the guest: start
# D:\chimney-setup.cmd as administrator; it reboots once for test signing
# and continues by itself, and with --keep later runs need nothing.  The
# guest reports on COM1; the run's files (com1.log, peer.jsonl, qmp.json,
# report.json, qemu.log) stay in DIR.
#
# Exit status: 0 when connections were offloaded, send completions reached
# the intermediate driver and the host peer verified every byte; 1 when
# the run failed or the guest did not report in time (the report says
# why); 2 on a bad command line or a missing tool.
set -euo pipefail
here=$(pwd)
cd "$(dirname "$0")/.."
root=$(pwd)

usage() { sed -n '4,52p' "$0" | sed 's/^# \{0,1\}//'; }
bad() { echo "run-windows: $* (see --help)" >&2; exit 2; }
say() { echo "run-windows: $*"; }
# A command line to copy and paste: words with other characters quoted
show_cmd() {
    local a out=
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
            out+="$a "
        else
            out+="'${a//\'/\'\\\'\'}' "
        fi
    done
    echo "${out% }"
}

image= conns=4 mib=16 rules= timeout=3600 dir= keep=0 machine=pc
memory=4G headless=0 dry=0 cpu= install= key= disk_size=40G
timeout_set=0
qemu_extra=()
while [ $# -gt 0 ]; do
    case "$1" in
    --conns|--mib|--rules|--timeout|--dir|--machine|--memory|--cpu|\
    --install|--key|--disk-size)
        [ $# -ge 2 ] || bad "$1 needs a value"
        ;;
    esac
    case "$1" in
    --conns) conns=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --rules) rules=$2; shift 2 ;;
    --timeout) timeout=$2; timeout_set=1; shift 2 ;;
    --dir) dir=$(cd "$here" && realpath -m -- "$2"); shift 2 ;;
    --machine) machine=$2; shift 2 ;;
    --memory) memory=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --install) install=$(cd "$here" && realpath -e -- "$2" 2>/dev/null) ||
        bad "--install $2: no such ISO"
        shift 2 ;;
    --key) key=$2; shift 2 ;;
    --disk-size) disk_size=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --headless) headless=1; shift ;;
    --dry-run) dry=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; qemu_extra=("$@"); break ;;
    -*) bad "unknown option $1" ;;
    *) [ -z "$image" ] || bad "one IMAGE only ($image, $1)"
       image=$1; shift ;;
    esac
done

num() { [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] ||
        bad "$1 must be $3 to $4, not '$2'"; }
num --conns "$conns" 1 64
num --mib "$mib" 1 4096
num --timeout "$timeout" 1 604800
case "$machine" in pc|q35) ;; *) bad "--machine must be pc or q35" ;; esac
[[ $memory =~ ^[0-9]+[MGmg]?$ ]] || bad "--memory: a size such as 4G"
[[ $rules != *$'\n'* ]] || bad "--rules: one line"
[[ -z $cpu || $cpu =~ ^[A-Za-z0-9_.,=+-]+$ ]] || bad "--cpu: a CPU model"
[ -n "$image" ] || bad "IMAGE is missing"
if [ -n "$install" ]; then
    [ -n "$key" ] || bad "--install needs --key"
    [[ ${key^^} =~ ^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}$ ]] ||
        bad "--key must look like XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"
    [[ $disk_size =~ ^[0-9]+[MGT]$ ]] || bad "--disk-size: a size such as 40G"
    image=$(cd "$here" && realpath -m -- "$image")
    [ ! -e "$image" ] ||
        bad "$image exists: --install creates a new image, it never overwrites one"
    [ -d "$(dirname "$image")" ] || bad "no directory for $image"
    [ "$timeout_set" = 1 ] || timeout=10800
else
    [ -z "$key" ] || bad "--key is for --install"
    found=$(cd "$here" && realpath -e -- "$image" 2>/dev/null) ||
        bad "no such image: $image"
    image=$found
    [ -f "$image" ] || [ -b "$image" ] || bad "$image is not a file"
    [ -r "$image" ] || bad "$image is not readable"
fi

build=$root/build
dir=${dir:-$build/windows-run}
qemu=$build/qemu-build/qemu-system-x86_64
iso=$build/windows/chimney-drivers.iso
overlay=$dir/overlay.qcow2
cfg_iso=$dir/chimney-run.iso
host=$root/scripts/chimney-win-host.py
[ "$image" != "$overlay" ] || bad "IMAGE is this script's own overlay"

qemu_img=
for c in "$build/qemu-build/qemu-img" "$(command -v qemu-img || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then
        qemu_img=$c
        break
    fi
done

# The image's format, read-only (qemu-img -U), or from its first bytes
image_format() {
    local f
    if [ -n "$qemu_img" ]; then
        f=$("$qemu_img" info -U --output=json -- "$image" 2>/dev/null |
            sed -n 's/^ *"format": "\([a-z0-9]*\)".*/\1/p' | head -n 1)
        [ -n "$f" ] && { echo "$f"; return; }
    fi
    case "$(head -c 4 -- "$image" | od -An -tx1 | tr -d ' \n')" in
    514649fb) echo qcow2 ;;
    4b444d56) echo vmdk ;;
    *) echo raw ;;
    esac
}
if [ -n "$install" ]; then
    format=qcow2
    disk=$image        # ours: made here, installed into, then the user's
else
    format=$(image_format)
    disk=$overlay
fi

accel=tcg
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    accel=kvm
fi

device="chimney-nic,netdev=n0,id=nic0,mac=52:54:00:12:34:56"
if [ -n "$rules" ]; then
    device+=",x-fault-rules=${rules//,/,,}"
fi
cmd=("$qemu" -name chimney-windows -M "$machine" -accel "$accel")
[ "$accel" = kvm ] && [ -z "$cpu" ] && cpu=host
[ -z "$cpu" ] || cmd+=(-cpu "$cpu")
# Debian's QEMU data has no kvmvapic.bin; Windows does not need it
[ "$accel" = kvm ] && cmd+=(-global kvm-apic.vapic=false)
cmd+=(-m "$memory" -smp 2 -rtc base=localtime
      -drive "file=$disk,format=qcow2,if=ide,index=0"
      -drive "file=$iso,format=raw,if=ide,index=1,media=cdrom,readonly=on"
      -drive "file=$cfg_iso,format=raw,if=ide,index=2,media=cdrom,readonly=on"
      -netdev user,id=n0 -device "$device"
      -chardev "file,id=com1,path=$dir/com1.log" -serial chardev:com1
      -qmp "unix:$dir/qmp.sock,server=on,wait=off"
      -usb -device usb-tablet)
if [ -n "$install" ]; then
    # Setup boots from the third CD once (SeaBIOS skips the two that do
    # not boot), then from the disk
    cmd+=(-drive "file=$install,format=raw,if=ide,index=3,media=cdrom,readonly=on"
          -boot once=d)
fi
[ "$headless" = 1 ] && cmd+=(-display none)
cmd+=("${qemu_extra[@]}")

if [ "$dry" = 1 ]; then
    [ "$accel" = kvm ] ||
        say "warning: /dev/kvm is not usable: TCG, Windows will be slow"
    if [ -n "$install" ]; then
        say "would create $image ($disk_size) and install $install into it"
    else
        say "image $image ($format) is only read: overlay $overlay"
    fi
    show_cmd "${cmd[@]}"
    exit 0
fi

# ---- the real run ----
if [ ! -x "$qemu" ] || [ ! -f "$iso" ]; then
    if [ "$(id -u)" = 0 ]; then
        scripts/bootstrap.sh
    fi
    [ -f build/build.ninja ] || meson setup build
    meson compile -C build
fi
[ -n "$qemu_img" ] ||
    { echo "run-windows: qemu-img is missing (apt-get install qemu-utils; scripts/bootstrap.sh installs it)" >&2; exit 2; }
command -v xorriso >/dev/null ||
    { echo "run-windows: xorriso is missing (scripts/bootstrap.sh installs it)" >&2; exit 2; }
[ "$accel" = kvm ] ||
    say "warning: /dev/kvm is not usable: TCG, Windows will be very slow"

mkdir -p "$dir"
rm -f "$dir/com1.log" "$dir/peer.jsonl" "$dir/peer.port" "$dir/qmp.sock" \
      "$dir/qmp.json" "$dir/report.json" "$cfg_iso"

peer_pid= qemu_pid=
cleanup() {
    [ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
    [ -z "$peer_pid" ] || kill "$peer_pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM

python3 "$host" peer --port-file "$dir/peer.port" \
    --results "$dir/peer.jsonl" --idle 300 >"$dir/peer.log" 2>&1 &
peer_pid=$!
for _ in $(seq 100); do
    [ -s "$dir/peer.port" ] && break
    kill -0 "$peer_pid" 2>/dev/null || break
    sleep 0.1
done
[ -s "$dir/peer.port" ] ||
    { say "the host peer did not start: $(cat "$dir/peer.log")"; exit 1; }
port=$(cat "$dir/peer.port")
seed=$((RANDOM * 32768 + RANDOM))

mkdir -p "$dir/cfg"
printf '# written by scripts/run-windows.sh\r\nhost=10.0.2.2\r\nport=%s\r\nconns=%s\r\nmib=%s\r\nseed=%s\r\n' \
    "$port" "$conns" "$mib" "$seed" >"$dir/cfg/chimney-run.cfg"
if [ -n "$install" ]; then
    python3 "$host" unattend --key "${key^^}" \
        --out "$dir/cfg/autounattend.xml" || exit 2
fi
xorriso -as mkisofs -quiet -J -R -V CHIMNEY_RUN -o "$cfg_iso" \
    "$dir/cfg" 2>/dev/null

backing_of() {
    "$qemu_img" info -U --output=json -- "$1" 2>/dev/null |
        sed -n 's/^ *"backing-filename": "\(.*\)",*$/\1/p' | head -n 1
}
if [ -n "$install" ]; then
    "$qemu_img" create -q -f qcow2 "$image" "$disk_size"
    say "installing Windows from $install into the new $image" \
        "(unattended; it reboots a few times)"
elif [ -f "$overlay" ] && [ "$(backing_of "$overlay")" = "$image" ]; then
    say "using the kept overlay $overlay again"
else
    rm -f "$overlay"
    "$qemu_img" create -q -f qcow2 -F "$format" -b "$image" "$overlay"
fi
[ -n "$install" ] ||
    say "image $image ($format) is only read; the guest writes to $overlay"
say "host peer on 127.0.0.1:$port (the guest's 10.0.2.2:$port)," \
    "$conns connections x $mib MiB"
echo "run-windows: $(show_cmd "${cmd[@]}")"
"${cmd[@]}" >"$dir/qemu.log" 2>&1 &
qemu_pid=$!

status=0
python3 "$host" monitor --serial "$dir/com1.log" --qmp "$dir/qmp.sock" \
    --qmp-out "$dir/qmp.json" --qemu-pid "$qemu_pid" \
    --timeout "$timeout" --quit \
    ${install:+--hint "waiting for Windows Setup (unattended) and its first logon"} ||
    status=$?
for _ in $(seq 300); do
    kill -0 "$qemu_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid" 2>/dev/null || true
fi
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
kill "$peer_pid" 2>/dev/null || true
wait "$peer_pid" 2>/dev/null || true
peer_pid=
if [ "$status" = 3 ]; then
    sed 's/^/qemu: /' "$dir/qemu.log" | tail -n 5
    if grep -q 'failed to set MSR' "$dir/qemu.log"; then
        say "KVM refused the host CPU model here: try --cpu qemu64"
    fi
fi

echo
report=0
python3 "$host" report --serial "$dir/com1.log" --peer "$dir/peer.jsonl" \
    --qmp "$dir/qmp.json" --build "$build/windows" \
    --json "$dir/report.json" ${rules:+--rules "$rules"} || report=$?
if [ -n "$install" ]; then
    say "the installed image is $image: run-windows.sh $image next time"
elif [ "$keep" = 1 ]; then
    say "overlay kept: $overlay (the next run with --dir $dir continues it)"
else
    rm -f "$overlay"
fi
[ "$status" = 0 ] && [ "$report" = 0 ] && exit 0
exit 1
