#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The host side of scripts/run-windows.sh:
#
#   chimney-win-host.py peer --port-file F --results F [--port P]
#                            [--idle SECONDS] [--max-streams N]
#       the TCP peer the guest's chimney-load.exe streams to (reached
#       from the guest at QEMU's user-mode gateway 10.0.2.2): checks
#       every byte against the pattern, answers each stream with a
#       verdict line and appends one JSON line per stream to --results
#   chimney-win-host.py monitor --serial LOG --qmp SOCKET --qemu-pid PID
#                               --qmp-out F [--timeout SECONDS] [--quit]
#       follows the guest's COM1 log and prints its progress, samples the
#       device's QMP counters while it works, writes them to --qmp-out;
#       exit 0 on the guest's report-end line, 2 on timeout, 3 when QEMU
#       ended first
#   chimney-win-host.py unattend --key KEY --out FILE
#       the autounattend.xml of run-windows.sh --install: Windows 7 /
#       8.1 x64 Setup on disk 0 with no questions, a local administrator
#       "chimney" (password "chimney") logged on once, whose first logon
#       starts chimney-setup.cmd from whichever CD holds it
#   chimney-win-host.py report --serial LOG [--peer F] [--qmp F]
#                              [--build DIR] [--json F] [--rules R]
#       the final report from the guest's COM1 log, the peer's results
#       and the QMP counters; exit 0 only when connections were offloaded,
#       send completions reached the intermediate driver and the peer
#       verified every byte, 1 otherwise (with the reasons)
#
# The guest's lines start with "@chimney " (guest/windows/kit/README.txt
# describes them); everything else on COM1 is ignored.  Nothing here
# waits without a time limit.
import argparse
import hashlib
import json
import os
import re
import signal
import socket
import socketserver
import sys
import threading
import time

CHUNK = 65536
MARK = '@chimney '


# ---- the pattern (guest/windows/kit/chimney-load.c makes the same) ----

def pattern_table(conn, seed):
    x = (seed ^ (0x9e3779b9 * (conn + 1))) & 0xffffffff
    if x == 0:
        x = 1
    words = []
    for _ in range(CHUNK // 4):
        x ^= (x << 13) & 0xffffffff
        x ^= x >> 17
        x ^= (x << 5) & 0xffffffff
        words.append(x)
    return b''.join(w.to_bytes(4, 'little') for w in words)


def pattern_chunk(table, j):
    return j.to_bytes(8, 'little') + table[8:]


# ---- peer ----

HEADER = re.compile(r'^CHIMNEY-LOAD 1 conn=(\d+) bytes=(\d+) seed=(\d+)$')


class Peer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, results, idle, max_streams):
        super().__init__(addr, PeerHandler)
        self.results = results
        self.idle = idle
        self.max_streams = max_streams
        self.lock = threading.Lock()
        self.streams = 0


def read_line(sock, limit=256):
    buf = b''
    while not buf.endswith(b'\n'):
        b = sock.recv(1)
        if not b:
            break
        buf += b
        if len(buf) >= limit:
            break
    return buf


class PeerHandler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server
        sock = self.request
        sock.settimeout(srv.idle)
        rec = {'peer': '%s:%d' % self.client_address, 'conn': None,
               'expected': 0, 'received': 0, 'ok': False}
        start = time.monotonic()
        try:
            self.stream(sock, rec)
        except socket.timeout:
            rec['reason'] = 'no data for %s s after %d bytes' % (
                srv.idle, rec['received'])
        except OSError as e:
            rec['reason'] = 'socket error after %d bytes: %s' % (
                rec['received'], e)
        rec['secs'] = round(time.monotonic() - start, 3)
        verdict = 'VERDICT conn=%s bytes=%d %s' % (
            rec['conn'] if rec['conn'] is not None else '?', rec['received'],
            'ok sha256=' + rec['sha256'] if rec['ok']
            else 'bad reason=' + rec.get('reason', '?').replace(' ', '_'))
        try:
            sock.sendall(verdict.encode() + b'\n')
        except OSError:
            pass
        with srv.lock:
            with open(srv.results, 'a') as f:
                f.write(json.dumps(rec) + '\n')
            srv.streams += 1
            done = srv.max_streams and srv.streams >= srv.max_streams
        print('peer: %s' % verdict, file=sys.stderr, flush=True)
        if done:
            threading.Thread(target=srv.shutdown, daemon=True).start()

    def stream(self, sock, rec):
        raw = read_line(sock)
        text = raw.decode('ascii', 'replace').strip()
        m = HEADER.match(text)
        if not m:
            rec['reason'] = 'bad header %r' % text[:80]
            return
        conn, nbytes, seed = (int(g) for g in m.groups())
        rec['conn'], rec['expected'] = conn, nbytes
        table = pattern_table(conn, seed)
        h = hashlib.sha256()
        pos = 0
        while True:
            data = sock.recv(1 << 20)
            if not data:
                break
            h.update(data)
            if 'mismatch_at' not in rec:
                bad = self.check(table, pos, data)
                if bad is not None:
                    rec['mismatch_at'] = bad
            pos += len(data)
            rec['received'] = pos
        rec['sha256'] = h.hexdigest()
        if 'mismatch_at' in rec:
            rec['reason'] = 'byte %d differs from the pattern' % (
                rec['mismatch_at'])
        elif pos != nbytes:
            rec['reason'] = 'stream ended after %d of %d bytes' % (pos,
                                                                    nbytes)
        else:
            rec['ok'] = True

    @staticmethod
    def check(table, pos, data):
        off = 0
        while off < len(data):
            j, within = divmod(pos + off, CHUNK)
            n = min(CHUNK - within, len(data) - off)
            want = pattern_chunk(table, j)[within:within + n]
            got = data[off:off + n]
            if got != want:
                for i in range(n):
                    if got[i] != want[i]:
                        return pos + off + i
            off += n
        return None


def cmd_peer(a):
    srv = Peer((a.listen, a.port), a.results, a.idle, a.max_streams)
    port = srv.server_address[1]
    tmp = a.port_file + '.tmp'
    with open(tmp, 'w') as f:
        f.write('%d\n' % port)
    os.replace(tmp, a.port_file)

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print('peer: listening on %s:%d' % (a.listen, port), file=sys.stderr,
          flush=True)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    return 0


# ---- QMP ----

class Qmp:
    def __init__(self, path, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b''
        self.recv_msg()                     # the greeting
        self.cmd('qmp_capabilities')

    def recv_msg(self):
        while b'\n' not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise OSError('QMP closed')
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            r = self.recv_msg()
            if 'return' in r:
                return r['return']
            if 'error' in r:
                raise OSError('%s: %s' % (name, r['error'].get('desc')))

    def close(self):
        self.sock.close()


def qmp_sample(q, path, names=None):
    if names is None:
        names = sorted(p['name'] for p in q.cmd('qom-list', path=path)
                       if p['name'].startswith(('x-stat-', 'x-fault-',
                                                'x-conn-stats'))
                       and p['name'] != 'x-fault-release')
    vals = {}
    for n in names:
        try:
            vals[n] = q.cmd('qom-get', path=path, property=n)
        except OSError as e:
            vals[n] = 'error: %s' % e
    return names, vals


# ---- the guest's lines ----

def fields(text):
    """key=value fields; a value runs to the next ' key=' (so a last
    field such as verdict= or line= may hold spaces)."""
    out = {}
    parts = re.split(r' (?=[a-z_][a-z0-9_]*=)', ' ' + text)
    for p in parts:
        if '=' in p:
            k, v = p.split('=', 1)
            out[k.strip()] = v.strip()
    return out


def guest_lines(data):
    """(kind, rest) for every "@chimney " line of the COM1 log."""
    text = data.decode('utf-8', 'replace').replace('\r', '\n')
    for line in text.split('\n'):
        i = line.find(MARK)
        if i < 0:
            continue
        body = line[i + len(MARK):].strip()
        kind, _, rest = body.partition(' ')
        yield kind, rest


def progress_text(kind, rest):
    f = fields(rest)
    if kind == 'step':
        s = 'guest: %-12s %s' % (f.get('name', '?'), f.get('status', '?'))
        if f.get('detail'):
            s += ' (%s)' % f['detail']
        return s
    if kind == 'hello':
        return 'guest: setup script started (%s)' % rest
    if kind == 'progress':
        try:
            sent, total = int(f['sent']), int(f['total'])
            return 'guest: streaming %5.1f %%  %d of %d MiB' % (
                100.0 * sent / max(total, 1), sent >> 20, total >> 20)
        except (KeyError, ValueError):
            return None
    if kind == 'offload-sample':
        return 'guest: offload state of the streams: %s' % rest
    if kind in ('load-start', 'load-end', 'load-error', 'fatal'):
        return 'guest: %s %s' % (kind, rest)
    if kind == 'report-begin':
        return 'guest: collecting the report'
    if kind == 'report-end':
        return 'guest: report complete (%s)' % rest
    return None


# ---- monitor ----

def cmd_monitor(a):
    path = '/machine/peripheral/' + a.device
    deadline = time.monotonic() + a.timeout
    pos, partial, status = 0, b'', None
    q, names, last_q, qerr = None, None, 0.0, None
    sample = {'values': {}, 'conn_stats': '', 'conn_stats_at': None}
    t0 = time.monotonic()
    seen_guest, last_hint = False, -1e9
    while status is None:
        if os.path.exists(a.serial):
            with open(a.serial, 'rb') as f:
                f.seek(pos)
                data = f.read()
            pos += len(data)
            data = partial + data
            lines = data.split(b'\n')
            partial = lines.pop()
            for kind, rest in guest_lines(b'\n'.join(lines)):
                seen_guest = True
                msg = progress_text(kind, rest)
                if msg:
                    print(msg, flush=True)
                if kind == 'report-end':
                    status = 0
        now = time.monotonic()
        if now - last_q >= a.interval:
            last_q = now
            try:
                if q is None and os.path.exists(a.qmp):
                    q = Qmp(a.qmp)
                if q is not None:
                    names, vals = qmp_sample(q, path, names)
                    sample['values'] = vals
                    cs = vals.get('x-conn-stats')
                    if isinstance(cs, str) and cs.strip():
                        sample['conn_stats'] = cs
                        sample['conn_stats_at'] = round(now - t0, 1)
                    qerr = None
            except (OSError, ValueError) as e:
                qerr = str(e)
                if q is not None:
                    q.close()
                q = None
        if not seen_guest and now - last_hint >= 300:
            last_hint = now
            print(a.hint or 'waiting for the guest: in Windows, run '
                  'D:\\chimney-setup.cmd as administrator once (it '
                  'continues by itself after its reboot)', flush=True)
        if status is None and not pid_alive(a.qemu_pid):
            status = 3
            print('run-windows: QEMU ended before the guest\'s report',
                  flush=True)
        elif status is None and now >= deadline:
            status = 2
            print('run-windows: no report from the guest within %d s'
                  % a.timeout, flush=True)
        if status is None:
            time.sleep(0.5)
    sample['error'] = qerr
    if q is not None and a.quit:
        try:
            q.cmd('quit')
        except OSError:
            pass
    with open(a.qmp_out, 'w') as f:
        json.dump(sample, f, indent=1)
    return status


def pid_alive(pid):
    if not pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(') ')[-1][:1] != 'Z'
    except OSError:
        return True


# ---- report ----

IM_KEYS = [('send_complete_calls', 'ProtocolTcpOffloadSendComplete calls'),
           ('send_complete_nbls', 'NBLs'), ('send_success', 'SUCCESS'),
           ('send_upload_in_progress', 'UPLOAD_IN_PROGRESS'),
           ('send_request_aborted', 'REQUEST_ABORTED'),
           ('send_other_status', 'other'), ('send_bytes', 'bytes')]


def parse_guest(data):
    """What the guest said, and what is wrong with what it said."""
    g = {'steps': [], 'drivers': {}, 'im': {}, 'conns': [], 'netstat': [],
         'raw': {}, 'load_end': None, 'offload': None, 'begin': False,
         'end': None, 'unparsed': 0, 'fatal': [], 'samples_max': 0}
    problems = []
    for kind, rest in guest_lines(data):
        f = fields(rest)
        if kind == 'step':
            g['steps'].append(f)
        elif kind == 'report-begin':
            g['begin'] = True
        elif kind == 'report-end':
            g['end'] = f.get('status', '?')
        elif kind == 'driver':
            name = f.get('name')
            if name:
                g['drivers'].setdefault(name, {}).update(f)
            else:
                g['unparsed'] += 1
        elif kind == 'im':
            for k, v in f.items():
                if v.isdigit():
                    g['im'][k] = int(v)
        elif kind == 'conn':
            g['conns'].append(f)
        elif kind == 'netstat':
            g['netstat'].append(f.get('line', rest))
        elif kind == 'raw':
            sect, _, text = rest.partition(' ')
            g['raw'].setdefault(sect, []).append(text)
        elif kind == 'load-end':
            g['load_end'] = f
        elif kind == 'offload':
            g['offload'] = f
        elif kind == 'offload-sample':
            try:
                g['samples_max'] = max(g['samples_max'],
                                       int(f.get('offloaded', '0')))
            except ValueError:
                g['unparsed'] += 1
        elif kind == 'fatal':
            g['fatal'].append(rest)
        elif kind in ('hello', 'progress', 'load-start', 'load-error',
                      'info'):
            pass
        else:
            g['unparsed'] += 1
    if not g['begin'] and not g['steps']:
        problems.append('no line from the guest\'s setup script on COM1 '
                        '(was D:\\chimney-setup.cmd started?)')
    elif g['end'] is None:
        problems.append('the guest\'s report is truncated: no report-end '
                        'line')
    if g['unparsed']:
        problems.append('%d garbled or unknown @chimney lines ignored'
                        % g['unparsed'])
    return g, problems


def wmic_drivers(raw_lines, drivers):
    """Versions from 'wmic path Win32_PnPSignedDriver ... /format:list'
    (DeviceName= starts a record)."""
    name = None
    for line in raw_lines:
        k, _, v = line.strip().partition('=')
        if k == 'DeviceName':
            name = ('chimneynic' if 'chimney-nic' in v.lower() else
                    'chimneyim' if 'chimney-im' in v.lower() else None)
        elif name and k == 'DriverVersion' and v:
            drivers.setdefault(name, {}).setdefault('version', v)
        elif name and k == 'IsSigned' and v:
            drivers.setdefault(name, {}).setdefault('signed', v)


def chimney_state(raw_lines):
    for line in raw_lines:
        m = re.match(r'\s*Chimney Offload State\s*:\s*(\S+)', line, re.I)
        if m:
            return m.group(1).lower()
    return None


def load_peer(path):
    recs, bad = [], 0
    if path and os.path.exists(path):
        with open(path, errors='replace') as f:
            for line in f:
                if line.startswith('#') or not line.strip():
                    continue
                try:
                    r = json.loads(line)
                    if isinstance(r, dict):
                        recs.append(r)
                    else:
                        bad += 1
                except ValueError:
                    bad += 1
    return recs, bad


def file_sha1(path):
    try:
        with open(path, 'rb') as f:
            return hashlib.sha1(f.read()).hexdigest()
    except OSError:
        return None


def cmd_report(a):
    try:
        with open(a.serial, 'rb') as f:
            data = f.read()
    except OSError as e:
        print('run-windows: cannot read the guest log: %s' % e)
        return 1
    g, problems = parse_guest(data)
    peer, peer_bad = load_peer(a.peer)
    qmp = {}
    if a.qmp and os.path.exists(a.qmp):
        try:
            with open(a.qmp) as f:
                qmp = json.load(f)
        except ValueError:
            problems.append('the QMP sample %s is not JSON' % a.qmp)
    failures = []

    out = ['==== chimney-nic Windows report ====']

    def row(k, v):
        out.append('%-18s %s' % (k, v))
    for line in g['raw'].get('ver', [])[:1]:
        row('guest', line.strip())
    wmic_drivers(g['raw'].get('wmic', []), g['drivers'])
    drv = []
    for name, d in sorted(g['drivers'].items()):
        s = '%s %s (%s' % (name, d.get('version', '?'), d.get('state', '?'))
        want = file_sha1(os.path.join(a.build, 'iso', name + '.sys')) \
            if a.build else None
        have = d.get('sha1', '').replace(' ', '').lower()
        if want and have:
            s += ', image %s this build' % ('matches' if want == have
                                             else 'DIFFERS from')
        drv.append(s + ')')
    row('drivers', '; '.join(drv) or 'none reported')
    state = chimney_state(g['raw'].get('netsh', []))
    row('chimney', '%s (netsh int tcp show global)' % (state or 'unknown'))
    n_off_netstat = sum('offloaded' in ln.lower() for ln in g['netstat'])
    n_off = max(n_off_netstat, g['samples_max'])
    row('offloaded', '%d of %d connections (netstat -t: %d lines '
        '"Offloaded"; most seen at once by GetTcpTable2: %d)'
        % (n_off, len(g['conns']), n_off_netstat, g['samples_max']))
    if n_off == 0:
        failures.append('no connection was offloaded')
    ok = [r for r in peer if r.get('ok')]
    got = sum(int(r.get('received', 0)) for r in peer)
    exp = sum(int(r.get('expected', 0)) for r in peer)
    row('host peer', '%d streams, %d of %d bytes verified%s'
        % (len(peer), sum(int(r.get('received', 0)) for r in ok), exp,
           '' if got == exp else ' (%d bytes received)' % got))
    for r in peer:
        if not r.get('ok'):
            failures.append('peer: stream %s: %s' % (r.get('conn'),
                                                      r.get('reason', '?')))
    if not peer:
        failures.append('the host peer saw no stream')
    if peer_bad:
        problems.append('%d unreadable lines in the peer\'s results'
                        % peer_bad)
    im = g['im']
    if im:
        row('IM counters', ', '.join('%s %d' % (label, im.get(k, 0))
                                     for k, label in IM_KEYS))
        row('', 'offloads %d, failed %d, terminates %d, events %d'
            % (im.get('offloads', 0), im.get('offload_failures', 0),
               im.get('terminates', 0), im.get('events', 0)))
    else:
        row('IM counters', 'none reported')
    if im.get('send_complete_calls', 0) == 0:
        failures.append('no ProtocolTcpOffloadSendComplete call reached '
                        'the intermediate driver')
    vals = qmp.get('values', {})
    if vals:
        row('device (QMP)', ' '.join('%s=%s' % (k[2:], v)
                                     for k, v in sorted(vals.items())
                                     if k != 'x-conn-stats'))
        cs = qmp.get('conn_stats', '').strip()
        row('connections (QMP)', ('x-conn-stats at %s s:' %
                                  qmp.get('conn_stats_at')) if cs
            else 'x-conn-stats: never seen non-empty')
        for line in cs.splitlines()[:16]:
            out.append('    ' + line)
    else:
        row('device (QMP)', 'no sample (%s)' % (qmp.get('error') or
                                                'QMP not reached'))
    if a.rules:
        row('fault rules', a.rules)
    for f in g['fatal']:
        failures.append('guest: ' + f)
    for p in problems:
        out.append('note               ' + p)
    if g['end'] is None:
        failures.append('the guest did not finish its report')
    row('result', 'ok' if not failures else 'FAILED')
    for f in failures:
        out.append('  - ' + f)
    print('\n'.join(out))
    if a.json:
        with open(a.json, 'w') as f:
            json.dump({'guest': g, 'peer': peer, 'qmp': qmp,
                       'failures': failures, 'notes': problems}, f,
                      indent=1, default=str)
    return 0 if not failures else 1


# ---- unattended installation ----

KEY = re.compile(r'^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}$')
COMPONENT = ('<component name="%s" processorArchitecture="amd64" '
             'publicKeyToken="31bf3856ad364e35" language="neutral" '
             'versionScope="nonSxS" '
             'xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State">')
FIRST_LOGON = ('cmd /c for %d in (D E F G H I J K L M N O P Q R S T U V W '
               'X Y Z) do if exist %d:\\chimney-setup.cmd '
               '(%d:\\chimney-setup.cmd &amp; exit)')


def unattend_xml(key):
    intl = ''.join('<%s>en-US</%s>' % (t, t) for t in
                   ('InputLocale', 'SystemLocale', 'UILanguage',
                    'UserLocale'))
    pw = '<Password><Value>chimney</Value><PlainText>true</PlainText>' \
         '</Password>'
    return '\n'.join([
        '<?xml version="1.0" encoding="utf-8"?>',
        '<!-- SPDX-License-Identifier: GPL-2.0-or-later -->',
        '<!-- written by scripts/run-windows.sh, install mode -->',
        '<unattend xmlns="urn:schemas-microsoft-com:unattend">',
        '<settings pass="windowsPE">',
        COMPONENT % 'Microsoft-Windows-International-Core-WinPE',
        '<SetupUILanguage><UILanguage>en-US</UILanguage></SetupUILanguage>',
        intl, '</component>',
        COMPONENT % 'Microsoft-Windows-Setup',
        '<DiskConfiguration><WillShowUI>OnError</WillShowUI>',
        '<Disk wcm:action="add"><DiskID>0</DiskID>'
        '<WillWipeDisk>true</WillWipeDisk>',
        '<CreatePartitions><CreatePartition wcm:action="add">'
        '<Order>1</Order><Type>Primary</Type><Extend>true</Extend>'
        '</CreatePartition></CreatePartitions>',
        '<ModifyPartitions><ModifyPartition wcm:action="add">'
        '<Order>1</Order><PartitionID>1</PartitionID><Active>true</Active>'
        '<Format>NTFS</Format><Label>Windows</Label><Letter>C</Letter>'
        '</ModifyPartition></ModifyPartitions>',
        '</Disk></DiskConfiguration>',
        '<ImageInstall><OSImage><InstallTo><DiskID>0</DiskID>'
        '<PartitionID>1</PartitionID></InstallTo>'
        '<WillShowUI>OnError</WillShowUI></OSImage></ImageInstall>',
        '<UserData><AcceptEula>true</AcceptEula>'
        '<FullName>chimney</FullName><Organization>qemu-chimney'
        '</Organization><ProductKey><Key>%s</Key>'
        '<WillShowUI>OnError</WillShowUI></ProductKey></UserData>' % key,
        '</component>', '</settings>',
        '<settings pass="specialize">',
        COMPONENT % 'Microsoft-Windows-Shell-Setup',
        '<ComputerName>chimney-win</ComputerName>'
        '<TimeZone>UTC</TimeZone>',
        '</component>', '</settings>',
        '<settings pass="oobeSystem">',
        COMPONENT % 'Microsoft-Windows-International-Core', intl,
        '</component>',
        COMPONENT % 'Microsoft-Windows-Shell-Setup',
        '<OOBE><HideEULAPage>true</HideEULAPage>'
        '<NetworkLocation>Work</NetworkLocation>'
        '<ProtectYourPC>3</ProtectYourPC>'
        '<SkipMachineOOBE>true</SkipMachineOOBE>'
        '<SkipUserOOBE>true</SkipUserOOBE></OOBE>',
        '<UserAccounts><LocalAccounts><LocalAccount wcm:action="add">'
        '<Name>chimney</Name><Group>Administrators</Group>%s'
        '</LocalAccount></LocalAccounts></UserAccounts>' % pw,
        '<AutoLogon><Enabled>true</Enabled><LogonCount>1</LogonCount>'
        '<Username>chimney</Username>%s</AutoLogon>' % pw,
        '<FirstLogonCommands><SynchronousCommand wcm:action="add">'
        '<Order>1</Order><CommandLine>%s</CommandLine>'
        '<Description>qemu-chimney setup</Description>'
        '</SynchronousCommand></FirstLogonCommands>' % FIRST_LOGON,
        '</component>', '</settings>',
        '</unattend>', ''])


def cmd_unattend(a):
    key = a.key.strip().upper()
    if not KEY.match(key):
        print('run-windows: --key must look like XXXXX-XXXXX-XXXXX-XXXXX-'
              'XXXXX', file=sys.stderr)
        return 2
    with open(a.out, 'w', newline='\r\n') as f:
        f.write(unattend_xml(key))
    return 0


def main():
    p = argparse.ArgumentParser(
        description='host side of scripts/run-windows.sh: the TCP peer, '
        'the run monitor and the report')
    sub = p.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('peer', help='the TCP peer the guest streams to')
    s.add_argument('--listen', default='127.0.0.1')
    s.add_argument('--port', type=int, default=0)
    s.add_argument('--port-file', required=True)
    s.add_argument('--results', required=True)
    s.add_argument('--idle', type=float, default=120.0,
                   help='seconds without data before a stream fails')
    s.add_argument('--max-streams', type=int, default=0,
                   help='exit after this many streams (default: never)')
    s = sub.add_parser('monitor', help='follow COM1 and sample QMP')
    s.add_argument('--serial', required=True)
    s.add_argument('--qmp', required=True)
    s.add_argument('--qmp-out', required=True)
    s.add_argument('--qemu-pid', type=int, default=0)
    s.add_argument('--device', default='nic0')
    s.add_argument('--timeout', type=float, default=3600)
    s.add_argument('--interval', type=float, default=2.0)
    s.add_argument('--quit', action='store_true',
                   help='quit QEMU over QMP once the report is in')
    s.add_argument('--hint', help='what to say while the guest is silent')
    s = sub.add_parser('unattend', help='autounattend.xml for --install')
    s.add_argument('--key', required=True)
    s.add_argument('--out', required=True)
    s = sub.add_parser('report', help='the final report')
    s.add_argument('--serial', required=True)
    s.add_argument('--peer')
    s.add_argument('--qmp')
    s.add_argument('--build', help='the build\'s windows directory')
    s.add_argument('--json')
    s.add_argument('--rules')
    a = p.parse_args()
    try:
        return {'peer': cmd_peer, 'monitor': cmd_monitor,
                'report': cmd_report, 'unattend': cmd_unattend}[a.cmd](a)
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main())
