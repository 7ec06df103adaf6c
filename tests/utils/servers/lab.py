#!/usr/bin/env python
"""The one lab: HAProxy, etcd, moto_server and stand-in instance services on loopback.

Processes started inside a network namespace (tests/utils/imds-netns) are
only reachable from inside it, so the role's tests (pytest plays and
molecule) start their servers there, with this script:

    lab.py up --state-dir DIR [--haproxy] [--etcd] [--aws] [--web NAME]... [--ttl SECONDS]
    lab.py snapshot --state-dir DIR      # what the servers hold now, as JSON
    lab.py requests --state-dir DIR      # --aws: who signed each request moto received
    lab.py down --state-dir DIR
    lab.py renewals --state-dir DIR --key KEY [--renewals N] [--timeout S]
        waits until the lease KEY is on has been renewed N times (its TTL went
        back up, same lease ID); prints {lease, renewals, readings, gone},
        exits 1 when the key or lease is gone or at the timeout
    lab.py run --state-dir DIR [servers...] --steps STEPS.json
        STEPS.json: [{"argv": [...], "env": {...}}, ...]; runs each step with
        the lab up, takes a snapshot after each, writes DIR/results.json
        ([{returncode, output, snapshot}, ...]) and stops everything.

--aws starts moto_server with the VPCs, target groups and Cloud Map services
of servers/aws.py and serves the emulator's instance moved into moto's VPC
(`imds_url`: the default address inside imds-netns, an emulator of the
lab's own on loopback elsewhere); its entries are at the top of lab.json,
and the snapshot gains `elbv2` and `cloudmap`.

DIR/lab.json describes the servers (sockets, ports, URL). A watchdog stops
them after --ttl seconds, or as soon as the imds-netns run they belong to is
over, should nobody call `down` (a failed molecule converge skips cleanup).
The fake systemd of fake-systemd/systemctl keeps its services under
DIR/systemd; `down` stops them too.
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from servers import aws as aws_lab  # noqa: E402
from servers.common import START_TIMEOUT, alive, free_port, in_imds_netns, port_open, terminate, wait_for, wait_while  # noqa: E402
from servers.etcd import Etcd, watch_renewals  # noqa: E402
from servers.haproxy import HAProxy, runtime_command  # noqa: E402

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
FAKE_SYSTEMD_BIN = os.path.join(HERE, 'fake-systemd')


def up(state_dir, haproxy=False, etcd=False, web=(), aws=False, ttl=1800):
    state_dir = os.path.abspath(state_dir)
    os.makedirs(state_dir, exist_ok=True)
    lab = {'state_dir': state_dir, 'pids': [], 'systemd': {
        'path': FAKE_SYSTEMD_BIN, 'state_dir': os.path.join(state_dir, 'systemd'),
        'unit_dir': os.path.join(state_dir, 'systemd', 'units')}}
    os.makedirs(lab['systemd']['unit_dir'], exist_ok=True)
    try:
        if haproxy:
            server = HAProxy(os.path.join(state_dir, 'haproxy')).start()
            lab['haproxy'] = dict(server.settings, tcp_socket=server.tcp_socket, pid=server.proc.pid)
            lab['pids'].append(server.proc.pid)
        if etcd:
            server = Etcd(os.path.join(state_dir, 'etcd')).start()
            lab['etcd'] = {'url': server.url, 'pid': server.proc.pid}
            lab['pids'].append(server.proc.pid)
        lab['web'] = {}
        for name in web:
            port = free_port()
            log = os.path.join(state_dir, 'web-%s.jsonl' % name)
            with open(os.path.join(state_dir, 'web-%s.out' % name), 'ab') as out:
                proc = subprocess.Popen([sys.executable, os.path.join(HERE, 'web.py'), '--name', name,
                                         '--port', str(port), '--log', log],
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            wait_for(lambda port=port: port_open(port), START_TIMEOUT, 'web server %s' % name, proc)
            lab['web'][name] = {'port': port, 'pid': proc.pid, 'log': log}
            lab['pids'].append(proc.pid)
        if aws:
            lab.update(_up_aws(state_dir, lab['pids']))
    except BaseException:
        for pid in lab['pids']:
            terminate(pid)
        raise
    probe = in_imds_netns()
    watchdog = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), 'watch', '--state-dir', state_dir, '--ttl', str(ttl)]
        + (['--probe-netns'] if probe else []),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    lab['watchdog_pid'] = watchdog.pid
    with open(os.path.join(state_dir, 'lab.json'), 'w', encoding='utf-8') as handle:
        json.dump(lab, handle, indent=2)
    return lab


def _up_aws(state_dir, pids):
    """moto_server with the backends' fixtures, and the instance moved into moto's VPC, served where the role looks."""
    moto, moto_url = aws_lab.start_moto(log_path=os.path.join(state_dir, 'moto.log'),
                                        recording_path=os.path.join(state_dir, 'moto-requests.jsonl'))
    pids.append(moto.pid)
    fixtures = aws_lab.create_fixtures(moto_url)
    instance = aws_lab.instance_in(fixtures)
    data_path = os.path.join(state_dir, 'instance.json')
    with open(data_path, 'w', encoding='utf-8') as handle:
        json.dump(instance, handle, indent=2)
    # Only inside imds-netns is 169.254.169.254 the test emulator; never touch it elsewhere.
    if in_imds_netns():
        imds_url = aws_lab.serve_at_netns_default(instance)
    else:
        emulator, imds_url = aws_lab.start_emulator(data_path)
        pids.append(emulator.pid)
    return dict(fixtures, moto_url=moto_url, imds_url=imds_url)


def load(state_dir):
    with open(os.path.join(state_dir, 'lab.json'), encoding='utf-8') as handle:
        return json.load(handle)


def fake_services(lab):
    """PIDs of services the fake systemctl started for this lab."""
    pids = []
    directory = lab['systemd']['state_dir']
    for name in os.listdir(directory) if os.path.isdir(directory) else []:
        if name.endswith('.pid'):
            with open(os.path.join(directory, name), encoding='utf-8') as handle:
                pids.append(int(handle.read().strip() or 0))
    return [pid for pid in pids if pid]


def down(state_dir):
    try:
        lab = load(state_dir)
    except FileNotFoundError:
        return
    for pid in [lab.get('watchdog_pid')] + fake_services(lab) + lab['pids']:
        if pid:
            terminate(pid)
    os.remove(os.path.join(state_dir, 'lab.json'))


def watch(state_dir, ttl, probe_netns):
    """Stop the lab's servers (and fake services) once they are done, after TTL seconds, or with the imds-netns run."""
    def running():
        try:
            lab = load(state_dir)
        except FileNotFoundError:
            return False
        return any(alive(pid) for pid in lab['pids'])

    wait_while(running, ttl, probe_netns)
    try:
        lab = load(state_dir)
    except FileNotFoundError:
        return
    for pid in fake_services(lab) + lab['pids']:
        terminate(pid)


# -- snapshot ----------------------------------------------------------------

def _probe(port, patience=3.0):
    """A GET through a frontend; retried for up to PATIENCE seconds while not 200 (health checks take a moment).

    Only waits while not 200, so a generous PATIENCE costs nothing when all is well.
    """
    deadline = time.monotonic() + patience
    while True:
        answer = _get(port)
        if answer.get('status') == 200 or time.monotonic() >= deadline:
            return answer
        time.sleep(0.2)


def _get(port):
    try:
        with NO_PROXY.open('http://127.0.0.1:%d/' % port, timeout=5) as response:
            return {'status': response.status, 'body': response.read().decode().strip()}
    except urllib.error.HTTPError as exc:
        return {'status': exc.code, 'body': exc.read().decode(errors='replace').strip()}
    except OSError as exc:
        return {'error': str(exc)}


def _servers(admin_socket, backend):
    lines = runtime_command(admin_socket, 'show servers state %s' % backend).splitlines()
    header, result = None, {}
    for line in lines[1:]:
        if line.startswith('#'):
            header = line[1:].split()
        elif line.strip() and header:
            row = dict(zip(header, line.split()))
            admin = int(row['srv_admin_state'])
            result[row['srv_name']] = {
                'address': row['srv_addr'], 'port': int(row['srv_port']), 'weight': int(row['srv_uweight']),
                'admin': 'maint' if admin & 0x23 else 'drain' if admin & 0x18 else 'ready',
                'checks': bool(int(row['srv_check_state']) & 0x04)}
    return result


def _etcd_call(url, path, body):
    request = urllib.request.Request(url + '/v3/' + path, data=json.dumps(body).encode(),
                                     headers={'Content-Type': 'application/json'}, method='POST')
    with NO_PROXY.open(request, timeout=10) as response:
        return json.loads(response.read() or b'{}')


def _etcd_snapshot(url):
    """Every key with its value and lease, plus every live lease, read as CoreDNS would (a range read)."""
    everything = base64.b64encode(b'\0').decode()
    keys = {}
    for item in _etcd_call(url, 'kv/range', {'key': everything, 'range_end': everything}).get('kvs') or []:
        keys[base64.b64decode(item['key']).decode()] = {
            'value': base64.b64decode(item.get('value', '')).decode(), 'lease': item.get('lease', '0')}
    leases = {}
    for lease in _etcd_call(url, 'lease/leases', {}).get('leases') or []:
        answer = _etcd_call(url, 'lease/timetolive', {'ID': lease['ID'], 'keys': True})
        leases[lease['ID']] = {'ttl': int(answer.get('TTL', -1)), 'granted_ttl': int(answer.get('grantedTTL', 0))}
    return {'keys': keys, 'leases': leases}


def renewals(lab, key, count, timeout):
    """{lease, renewals, readings, gone} for the lease KEY is on; see servers.etcd.watch_renewals."""
    url = lab['etcd']['url']
    kvs = _etcd_call(url, 'kv/range', {'key': base64.b64encode(key.encode()).decode()}).get('kvs') or []
    if not kvs or kvs[0].get('lease', '0') == '0':
        return {'lease': None, 'renewals': 0, 'readings': [], 'gone': True}
    lease = kvs[0]['lease']
    result = watch_renewals(lambda path, body: _etcd_call(url, path, body), lease, count, timeout)
    return dict(result, lease=lease)


def snapshot(lab):
    result = {}
    if 'haproxy' in lab:
        sock = lab['haproxy']['admin_socket']
        result['haproxy'] = {backend: _servers(sock, backend) for backend in ('app', 'static', 'slots')}
        # Waiting for a 200 only makes sense while some server is in service.
        result['probes'] = {
            backend: _probe(lab['haproxy']['%s_port' % backend],
                            60.0 if any(server['admin'] == 'ready' for server in result['haproxy'][backend].values())
                            else 0)
            for backend in ('app', 'slots')}
    if 'etcd' in lab:
        result['etcd'] = _etcd_snapshot(lab['etcd']['url'])
    if 'moto_url' in lab:
        result.update(aws_lab.snapshot(lab))
    result['web_requests'] = {}
    for name, web in lab.get('web', {}).items():
        count = 0
        if os.path.exists(web['log']):
            with open(web['log'], encoding='utf-8') as handle:
                count = sum(1 for _line in handle)
        result['web_requests'][name] = count
    systemd = lab['systemd']['state_dir']
    calls = os.path.join(systemd, 'calls.log')
    result['systemctl'] = []
    if os.path.exists(calls):
        with open(calls, encoding='utf-8') as handle:
            result['systemctl'] = [json.loads(line) for line in handle]
    result['services'] = {}
    for name in sorted(os.listdir(systemd)) if os.path.isdir(systemd) else []:
        if name.endswith('.pid'):
            with open(os.path.join(systemd, name), encoding='utf-8') as handle:
                pid = int(handle.read().strip() or 0)
            result['services'][name[:-len('.pid')]] = bool(pid) and alive(pid)
    return result


def run(state_dir, steps, **servers):
    lab = up(state_dir, **servers)
    results = []
    try:
        for step in steps:
            env = dict(os.environ)
            env.update(step.get('env') or {})
            proc = subprocess.run(step['argv'], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=step.get('timeout', 300), check=False)
            results.append({'returncode': proc.returncode, 'output': proc.stdout, 'snapshot': snapshot(lab)})
    finally:
        with open(os.path.join(lab['state_dir'], 'results.json'), 'w', encoding='utf-8') as handle:
            json.dump(results, handle, indent=2)
        down(state_dir)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', choices=['up', 'down', 'snapshot', 'requests', 'run', 'watch', 'renewals'])
    parser.add_argument('--state-dir', required=True)
    parser.add_argument('--haproxy', action='store_true')
    parser.add_argument('--etcd', action='store_true')
    parser.add_argument('--aws', action='store_true', help='moto_server with the elbv2 and cloudmap fixtures')
    parser.add_argument('--web', action='append', default=[], metavar='NAME')
    parser.add_argument('--steps', help='JSON file of steps for `run`')
    parser.add_argument('--ttl', type=float, default=1800, help='stop the lab after this many seconds at the latest')
    parser.add_argument('--probe-netns', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--key', help='for `renewals`: the key whose lease to watch')
    parser.add_argument('--renewals', type=int, default=1, help='for `renewals`: how many renewals to wait for')
    parser.add_argument('--timeout', type=float, default=120, help='for `renewals`: give up after this many seconds')
    args = parser.parse_args(argv)
    servers = dict(haproxy=args.haproxy, etcd=args.etcd, web=args.web, aws=args.aws)
    if args.command == 'up':
        print(json.dumps(up(args.state_dir, ttl=args.ttl, **servers), indent=2))
    elif args.command == 'snapshot':
        print(json.dumps(snapshot(load(args.state_dir)), indent=2))
    elif args.command == 'requests':
        print(json.dumps(aws_lab.signed_requests(args.state_dir), indent=2))
    elif args.command == 'run':
        with open(args.steps, encoding='utf-8') as handle:
            steps = json.load(handle)
        run(args.state_dir, steps, **servers)
    elif args.command == 'renewals':
        result = renewals(load(args.state_dir), args.key, args.renewals, args.timeout)
        print(json.dumps(result))
        return 0 if result['renewals'] >= args.renewals and not result['gone'] else 1
    elif args.command == 'watch':
        watch(args.state_dir, args.ttl, args.probe_netns)
    else:
        down(args.state_dir)
    return 0


if __name__ == '__main__':
    sys.exit(main())
