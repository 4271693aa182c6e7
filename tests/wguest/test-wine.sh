#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The guest kit's user-mode parts under Wine (TAP; skipped when Debian's
# wine64 is not installed).  Wine runs Winsock and cmd, not our kernel
# drivers, so this checks the programs and the script's logic, not
# chimney:
# - chimney-load.exe streams to the host peer on 127.0.0.1 and every byte
#   is verified at the peer;
# - chimney-im-stat.exe, with no driver to open, fails with a clear
#   message in both modes;
# - chimney-setup.cmd under Wine's cmd with tests/wguest/fake-tool.cmd
#   for the system tools: the first run imports the certificate, sets
#   test signing and reboots; the second installs both drivers, turns
#   chimney on, runs the workload and reports; the third skips every
#   install step; the report parser reads what it wrote.
#
#   test-wine.sh PROJECT_ROOT WINDOWS_BUILD_DIR
set -euo pipefail
case "${1:-}" in
-h|--help) sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac

root=$1
win=$2
host=$root/scripts/chimney-win-host.py
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
no() { n=$((n + 1)); echo "not ok $n - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else no "$what"; fi; }

wine=
for c in /usr/lib/wine/wine64 "$(command -v wine64 || true)" \
         "$(command -v wine || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then
        wine=$c
        break
    fi
done
if [ -z "$wine" ]; then
    echo "1..0 # SKIP wine64 is not installed (scripts/bootstrap.sh installs it)"
    exit 0
fi
echo "1..9"

tmp=$(mktemp -d)
peer_pid=
trap '[ -z "$peer_pid" ] || kill "$peer_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
# One prefix for every build directory, with the QEMU source cache: made
# once (about 7 s and 700 MB: Wine 8 copies its DLLs in), then reused
export WINEPREFIX=${QEMU_CHIMNEY_CACHE:-$HOME/.cache/qemu-chimney}/wine-prefix
mkdir -p "$(dirname "$WINEPREFIX")"
export WINEDEBUG=-all WINEDLLOVERRIDES='mscoree,mshtml='
w() { timeout 300 "$wine" "$@"; }
winpath() { echo "Z:${1//\//\\}"; }

python3 "$host" peer --port-file "$tmp/port" --results "$tmp/peer.jsonl" \
    --idle 60 2>"$tmp/peer.log" &
peer_pid=$!
for _ in $(seq 100); do
    [ -s "$tmp/port" ] && break
    sleep 0.1
done
port=$(cat "$tmp/port")

# ---- the workload ----
rc=0
w "$win/iso/chimney-load.exe" --host 127.0.0.1 --port "$port" --conns 3 \
    --mib 8 --seed 99 --wait 20 >"$tmp/load.out" 2>&1 || rc=$?
sed 's/^/# /' "$tmp/load.out"
check "chimney-load.exe: 3 x 8 MiB, exit 0" \
    bash -c '[ "$1" = 0 ] && grep -q "load-end conns=3 ok=3 bytes=25165824 verified=25165824" "$2"' \
    _ "$rc" "$tmp/load.out"
check "the host peer verified every byte of the 3 streams" \
    python3 -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(not (len(r) == 3 and all(x["ok"] and x["received"] == 8 << 20
                                  for x in r)))' "$tmp/peer.jsonl"
rc=0
w "$win/iso/chimney-load.exe" --port 0 >/dev/null 2>&1 || rc=$?
check "chimney-load.exe: a bad option exits 2" [ "$rc" = 2 ]

# ---- the counters tool ----
for mode in "" --machine; do
    rc=0
    w "$win/iso/chimney-im-stat.exe" $mode >"$tmp/stat.out" 2>&1 || rc=$?
    check "chimney-im-stat.exe ${mode:-(plain)}: no driver under Wine: 1, with a message" \
        bash -c '[ "$1" = 1 ] && grep -q "cannot open .*ChimneyIm" "$2"' \
        _ "$rc" "$tmp/stat.out"
done

# ---- the setup script, three runs ----
mkdir -p "$tmp/cd" "$tmp/kit" "$tmp/state"
cp "$win/iso/"* "$tmp/cd/"
sed 's/$/\r/' "$root/tests/wguest/fake-tool.cmd" >"$tmp/fake-tool.cmd"
printf 'host=127.0.0.1\r\nport=%s\r\nconns=2\r\nmib=4\r\nseed=7\r\n' \
    "$port" >"$tmp/run.cfg"
export FAKE_STATE CHIMNEY_KIT CHIMNEY_OUT CHIMNEY_CFG
FAKE_STATE=$(winpath "$tmp/state")
CHIMNEY_KIT=$(winpath "$tmp/kit")
CHIMNEY_OUT=$(winpath "$tmp/serial.log")  # com1.log would be COM1 on Windows
CHIMNEY_CFG=$(winpath "$tmp/run.cfg")
for t in certutil bcdedit reg pnputil netcfg sc netsh schtasks shutdown \
         wmic mode admin; do
    export "CHIMNEY_TOOL_${t^^}=$(winpath "$tmp/fake-tool.cmd") $t"
done
setup=$(winpath "$tmp/cd/chimney-setup.cmd")
for i in 1 2 3; do
    : >"$tmp/state/calls.log"
    w cmd /c "$setup" >"$tmp/run$i.out" 2>&1 || true
    cp "$tmp/state/calls.log" "$tmp/calls$i.log"
    sed "s/^/# run $i: /" "$tmp/run$i.out"
done
count() { grep -c "^$1" "$2" || true; }
check "setup run 1: certificate, test signing, task, reboot; no driver yet" \
    bash -c '[ "$(grep -c "^certutil -addstore" "$1")" = 2 ] &&
             grep -q "^bcdedit /set testsigning on" "$1" &&
             grep -q "^schtasks /create" "$1" && grep -q "^shutdown /r" "$1" &&
             ! grep -q "^pnputil" "$1" &&
             grep -q "step name=testsigning status=reboot" "$2"' \
    _ "$tmp/calls1.log" "$tmp/run1.out"
check "setup run 2: both drivers, chimney, the workload, a complete report" \
    bash -c '[ "$(grep -c "^pnputil -i -a" "$1")" = 1 ] &&
             [ "$(grep -c "^netcfg -l" "$1")" = 1 ] &&
             ! grep -q "^bcdedit\|^shutdown" "$1" &&
             grep -q "step name=workload status=ok" "$2" &&
             grep -q "load-end conns=2 ok=2" "$3" &&
             grep -q "report-end status=ok" "$2"' \
    _ "$tmp/calls2.log" "$tmp/run2.out" "$tmp/serial.log"
check "setup run 3: every install step skipped" \
    bash -c '! grep -q "^pnputil\|^netcfg -l\|^bcdedit\|^shutdown\|^schtasks /create" "$1" &&
             grep -q "step name=miniport status=skip" "$2" &&
             grep -q "step name=im status=skip" "$2" &&
             grep -q "report-end status=ok" "$2"' \
    _ "$tmp/calls3.log" "$tmp/run3.out"
rc=0
python3 "$host" report --serial "$tmp/serial.log" --peer "$tmp/peer.jsonl" \
    >"$tmp/report.out" 2>&1 || rc=$?
sed 's/^/# /' "$tmp/report.out"
check "the report of the Wine run: bytes verified, and no offload (Wine has no chimney): 1" \
    bash -c '[ "$1" = 1 ] && grep -q "host peer  *7 streams, 41943040 of 41943040 bytes verified" "$2" &&
             grep -q "no connection was offloaded" "$2" &&
             grep -q "chimney  *enabled" "$2"' _ "$rc" "$tmp/report.out"
exit $((fails > 0))
