#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The host side of scripts/run-windows.sh without Windows (TAP): the
# report from a recorded-form COM1 log (valid, truncated, garbled, empty,
# missing), the peer (a good stream, a bad header, a wrong byte, a short
# stream, a silent client) and the monitor's three endings.  Every step
# has a time limit: bad input must give a message, never a hang.
#
#   test-host.py PROJECT_ROOT
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True

if len(sys.argv) != 2 or sys.argv[1] in ('-h', '--help'):
    for line in open(__file__).read().splitlines()[3:]:
        if not line.startswith('#'):
            break
        print(line[2:])
    sys.exit(0 if len(sys.argv) == 2 else 2)
root = sys.argv[1]
host = os.path.join(root, 'scripts', 'chimney-win-host.py')
data = os.path.join(root, 'tests', 'wguest', 'data')
sys.path.insert(0, os.path.join(root, 'scripts'))
tmp = tempfile.mkdtemp()
results = []


def check(name, cond, detail=''):
    results.append((name, bool(cond), detail))


def run(*args, timeout=30):
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, host] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout + p.stderr, time.monotonic() - t0
    except subprocess.TimeoutExpired:
        return 'hang', '', timeout


def report(serial, peer=None, qmp=None):
    args = ['report', '--serial', serial]
    if peer:
        args += ['--peer', peer]
    if qmp:
        args += ['--qmp', qmp]
    return run(*args)


def write(name, content):
    path = os.path.join(tmp, name)
    with open(path, 'wb') as f:
        f.write(content)
    return path


ok_log = os.path.join(data, 'com1-ok.log')
ok_peer = os.path.join(data, 'peer-ok.jsonl')
ok_qmp = os.path.join(data, 'qmp-ok.json')
with open(ok_log, 'rb') as f:
    log = f.read()

# ---- report ----
rc, out, _ = report(ok_log, ok_peer, ok_qmp)
check('report: a complete run is ok (0)', rc == 0 and
      'result             ok' in out and '2 of 2 connections' in out and
      '8388608 of 8388608 bytes verified' in out and
      'ProtocolTcpOffloadSendComplete calls 118' in out and
      'chimney            enabled' in out and
      'chimneynic 1.1.0.0 (RUNNING' in out and
      'stat-tx-frames=4321' in out, out)

rc, out, _ = report(write('trunc.log', log[:len(log) // 2]), ok_peer,
                    ok_qmp)
check('report: a truncated log fails (1) and says so', rc == 1 and
      'truncated: no report-end' in out, out)

rnd = random.Random(13)
junk = bytes(rnd.randrange(256) for _ in range(20000))
garbled = (junk[:5000] + b'\n@chimney \xff\xfe im =7 ==\n@chimney zork 1\n' +
           b'@chimney offload-sample offloaded=many\n' + junk[5000:] +
           log[:300] + junk[:100])
rc, out, secs = report(write('garbled.log', garbled), ok_peer, ok_qmp)
check('report: a garbled log fails (1) with a message, quickly',
      rc == 1 and 'garbled or unknown @chimney lines' in out and secs < 20,
      out)

rc, out, _ = report(write('empty.log', b''))
check('report: an empty log fails (1): the setup script never started',
      rc == 1 and 'no line from the guest' in out, out)

rc, out, _ = report(os.path.join(tmp, 'missing.log'))
check('report: a missing log fails (1) with a message',
      rc == 1 and 'cannot read the guest log' in out, out)

rc, out, _ = report(ok_log, write('peer.jsonl', b'{"conn": 0, "ok": tr\n'
                                  b'\x00\x01\n[1, 2]\n'),
                    write('qmp.json', b'{"values": '))
check('report: garbled peer results and QMP sample: notes, and a failure',
      rc == 1 and '3 unreadable lines' in out and 'is not JSON' in out and
      'the host peer saw no stream' in out, out)

no_im = b'\n'.join(ln for ln in log.split(b'\n')
                   if b'@chimney im ' not in ln)
rc, out, _ = report(write('noim.log', no_im), ok_peer, ok_qmp)
check('report: no completions at the IM fails (1)', rc == 1 and
      'no ProtocolTcpOffloadSendComplete call reached' in out, out)

# ---- peer ----
portf = os.path.join(tmp, 'peer.port')
res = os.path.join(tmp, 'peer-results.jsonl')
peer = subprocess.Popen([sys.executable, host, 'peer', '--port-file', portf,
                         '--results', res, '--idle', '1'],
                        stderr=subprocess.DEVNULL)
for _ in range(100):
    if os.path.exists(portf):
        break
    time.sleep(0.1)
port = int(open(portf).read())
# the pattern, from the same module the peer uses
import importlib.util  # noqa: E402
spec = importlib.util.spec_from_file_location('winhost', host)
winhost = importlib.util.module_from_spec(spec)
spec.loader.exec_module(winhost)


def stream(header, payload, close=True, wait=10):
    s = socket.create_connection(('127.0.0.1', port), timeout=wait)
    s.sendall(header + payload)
    if close:
        s.shutdown(socket.SHUT_WR)
    buf = b''
    try:
        while not buf.endswith(b'\n'):
            b = s.recv(256)
            if not b:
                break
            buf += b
    except socket.timeout:
        buf += b'<timeout>'
    s.close()
    return buf.decode()


def pattern(conn, seed, n):
    t = winhost.pattern_table(conn, seed)
    out = b''.join(winhost.pattern_chunk(t, j)
                   for j in range((n + winhost.CHUNK - 1) // winhost.CHUNK))
    return out[:n]


good = pattern(3, 42, 300000)
v = stream(b'CHIMNEY-LOAD 1 conn=3 bytes=300000 seed=42\n', good)
check('peer: a good stream is verified', v.startswith(
    'VERDICT conn=3 bytes=300000 ok sha256='), v)
v = stream(b'HELLO THERE\n', b'')
check('peer: a bad header gets a bad verdict',
      'bad reason=bad_header' in v, v)
bad = bytearray(good)
bad[70000] ^= 1
v = stream(b'CHIMNEY-LOAD 1 conn=3 bytes=300000 seed=42\n', bytes(bad))
check('peer: a wrong byte is found at its offset',
      'bad reason=byte_70000_differs' in v, v)
v = stream(b'CHIMNEY-LOAD 1 conn=3 bytes=300000 seed=42\n', good[:1000])
check('peer: a short stream is reported',
      'stream_ended_after_1000_of_300000' in v, v)
t0 = time.monotonic()
v = stream(b'CHIMNEY-LOAD 1 conn=1 bytes=10 seed=1\n', b'', close=False)
check('peer: a silent client gets a verdict after --idle, not a hang',
      'no_data_for' in v and time.monotonic() - t0 < 8, v)
peer.terminate()
try:
    peer.wait(10)
    check('peer: ends on SIGTERM', True)
except subprocess.TimeoutExpired:
    peer.kill()
    check('peer: ends on SIGTERM', False)
recs = [json.loads(ln) for ln in open(res)]
check('peer: one result line per stream', len(recs) == 5 and
      sum(r['ok'] for r in recs) == 1, recs)

# ---- the unattended installation's answer file ----
xml_path = os.path.join(tmp, 'autounattend.xml')
rc, out, _ = run('unattend', '--key', 'abcde-12345-abcde-12345-abcde',
                 '--out', xml_path)
try:
    import xml.etree.ElementTree as ET
    root_el = ET.parse(xml_path).getroot()
    ns = '{urn:schemas-microsoft-com:unattend}'
    cmds = [c.text for c in root_el.iter(ns + 'CommandLine')]
    keys = [c.text for c in root_el.iter(ns + 'Key')]
    passes = [st.get('pass') for st in root_el.iter(ns + 'settings')]
except (OSError, ET.ParseError) as e:
    cmds, keys, passes = [str(e)], [], []
check('unattend: well-formed XML, the key, three passes, the setup script '
      'at first logon', rc == 0 and keys == ['ABCDE-12345-ABCDE-12345-ABCDE']
      and passes == ['windowsPE', 'specialize', 'oobeSystem'] and
      len(cmds) == 1 and 'if exist %d:\\chimney-setup.cmd (' in cmds[0]
      and '& exit' in cmds[0], (rc, out, cmds, keys, passes))
rc, out, _ = run('unattend', '--key', 'not-a-key', '--out', xml_path)
check('unattend: a malformed key is refused (2)', rc == 2 and
      'XXXXX-XXXXX' in out, out)

# ---- monitor ----
qsock = os.path.join(tmp, 'no-qmp.sock')
rc, out, _ = run('monitor', '--serial', ok_log, '--qmp', qsock, '--qmp-out',
                 os.path.join(tmp, 'q1.json'), '--timeout', '20')
check('monitor: ends (0) at report-end, with the guest\'s progress',
      rc == 0 and 'guest: miniport' in out and 'streaming' in out and
      'report complete' in out, out)
dead = subprocess.Popen(['true'])
dead.wait()
rc, out, _ = run('monitor', '--serial', write('t.log', log[:500]), '--qmp',
                 qsock, '--qmp-out', os.path.join(tmp, 'q2.json'),
                 '--qemu-pid', str(dead.pid), '--timeout', '20')
check('monitor: QEMU gone before the report: 3', rc == 3 and
      'QEMU ended' in out, out)
rc, out, secs = run('monitor', '--serial', os.path.join(tmp, 'none.log'),
                    '--qmp', qsock, '--qmp-out',
                    os.path.join(tmp, 'q3.json'), '--timeout', '2')
check('monitor: no report in time: 2', rc == 2 and 'within 2 s' in out and
      secs < 10 and os.path.exists(os.path.join(tmp, 'q3.json')), out)

print('1..%d' % len(results))
for i, (name, good_, detail) in enumerate(results, 1):
    print('%s %d - %s' % ('ok' if good_ else 'not ok', i, name))
    if not good_:
        for line in str(detail).splitlines()[-15:]:
            print('# ' + line)
sys.exit(0 if all(r[1] for r in results) else 1)
