#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small AWS lab for the elbv2 and cloudmap backends: moto_server plus fixtures.

`up` starts moto_server on loopback and creates what the register_instance
AWS backends register into (two VPCs with a target group of each type, a
Cloud Map HTTP namespace and service). Because moto invents its own VPC and
subnet IDs, the instance is then moved into moto's first VPC: inside
tests/utils/imds-netns the emulator at the default address is given the moved
instance (POST /_emulator/data), so the role discovers through the default
endpoint as on EC2; elsewhere the lab starts an emulator of its own on
loopback. Everything is written to STATE_DIR/lab.json (`imds_url` says where
the instance is served); `down` stops what `up` started; `snapshot` prints the
registrations as moto holds them.

The lab itself always talks to moto with dummy keys and never to IMDS.
Against real AWS none of this is needed. Usage:

    aws_lab.py up --state-dir DIR [--moto-port N] [--emulator-port N] [--ttl SECONDS]
    aws_lab.py snapshot --state-dir DIR   # registrations as moto holds them
    aws_lab.py requests --state-dir DIR   # who signed each request moto received
    aws_lab.py down --state-dir DIR

A watchdog stops moto and the emulator after --ttl seconds, or as soon as the
tests/utils/imds-netns run they were started in is over, should nobody call
`down` (a failed molecule converge skips cleanup).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from servers.common import alive, in_imds_netns, terminate, wait_while  # noqa: E402  pylint: disable=wrong-import-position

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
EMULATOR = os.path.join(REPO_ROOT, 'tools', 'imds_emulator.py')
REGION = 'eu-west-1'  # the emulator's built-in instance lives there
NETNS_IMDS_URL = 'http://169.254.169.254'
NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port(host='127.0.0.1'):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def moto_env(moto_url):
    """Environment for boto3 calls the lab (or a unit test) makes to moto."""
    return {
        'AWS_ENDPOINT_URL': moto_url,
        'AWS_ACCESS_KEY_ID': 'testing',
        'AWS_SECRET_ACCESS_KEY': 'testing',
        'AWS_REGION': REGION,
        'AWS_DEFAULT_REGION': REGION,
        'AWS_EC2_METADATA_DISABLED': 'true',
        'AWS_CONFIG_FILE': os.devnull,
        'AWS_SHARED_CREDENTIALS_FILE': os.devnull,
    }


def start_moto(port=None, host='127.0.0.1', log_path=None, recording_path=None, timeout=120.0):
    """Start moto_server; return (Popen, url) once it answers.

    With RECORDING_PATH, moto appends every request (headers included) to that
    file, which lets tests see which credentials signed them.
    """
    port = port or free_port(host)
    binary = os.path.join(os.path.dirname(sys.executable), 'moto_server')
    env = dict(os.environ)
    if recording_path:
        env.update(MOTO_ENABLE_RECORDING='true', MOTO_RECORDER_FILEPATH=recording_path)
    log = open(log_path or os.devnull, 'ab')
    proc = subprocess.Popen([binary, '-H', host, '-p', str(port)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env)
    log.close()
    url = 'http://%s:%d' % (host, port)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with NO_PROXY_OPENER.open(url + '/moto-api/', timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError('moto_server did not start on %s (see %s)' % (url, log_path or 'no log'))
        time.sleep(0.2)


def start_emulator(data_path, port=None, host='127.0.0.1', log_path=None, timeout=120.0):
    """Start tools/imds_emulator.py with DATA_PATH; return (Popen, url)."""
    log_path = log_path or data_path + '.log'
    with open(log_path, 'w', encoding='utf-8') as log:
        proc = subprocess.Popen([sys.executable, EMULATOR, '--host', host, '--port', str(port or 0), '--data', data_path],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with open(log_path, encoding='utf-8') as log:
            for line in log:
                if 'http://' in line:
                    return proc, line.split(' at ', 1)[1].split()[0]
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError('the IMDS emulator did not start (see %s)' % log_path)


def client(moto_url, service):
    """A boto3 client for moto, with explicit dummy keys so nothing else is consulted."""
    import boto3  # pylint: disable=import-outside-toplevel

    session = boto3.session.Session(aws_access_key_id='testing', aws_secret_access_key='testing', region_name=REGION)
    return session.client(service, endpoint_url=moto_url)


def create_fixtures(moto_url):
    """The VPCs, target groups and Cloud Map service the backends register into."""
    ec2 = client(moto_url, 'ec2')
    elbv2 = client(moto_url, 'elbv2')
    cloudmap = client(moto_url, 'servicediscovery')

    vpc = ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock='10.0.1.0/24', AvailabilityZone=REGION + 'b')['Subnet']['SubnetId']
    subnet2 = ec2.create_subnet(VpcId=vpc, CidrBlock='10.0.2.0/24', AvailabilityZone=REGION + 'b')['Subnet']['SubnetId']
    other_vpc = ec2.create_vpc(CidrBlock='10.1.0.0/16')['Vpc']['VpcId']

    def target_group(name, vpc_id, target_type, port=80):
        return elbv2.create_target_group(Name=name, Protocol='HTTP', Port=port, VpcId=vpc_id,
                                         TargetType=target_type)['TargetGroups'][0]['TargetGroupArn']

    operation = cloudmap.create_http_namespace(Name='cloudmeta-test')['OperationId']
    namespace = cloudmap.get_operation(OperationId=operation)['Operation']['Targets']['NAMESPACE']
    service = cloudmap.create_service(Name='web', NamespaceId=namespace)['Service']['Id']
    other_service = cloudmap.create_service(Name='api', NamespaceId=namespace)['Service']['Id']

    return {
        'region': REGION,
        'vpc_id': vpc,
        'subnet_id': subnet,
        'subnet_id_secondary': subnet2,
        'other_vpc_id': other_vpc,
        'target_groups': {
            'instance': target_group('web-instance', vpc, 'instance'),
            'ip': target_group('web-ip', vpc, 'ip', port=8080),
            'other_vpc': target_group('web-elsewhere', other_vpc, 'instance'),
        },
        'cloudmap_namespace_id': namespace,
        'cloudmap_service_id': service,
        'cloudmap_other_service_id': other_service,
    }


def instance_in(fixtures):
    """The emulator's built-in instance, moved into the lab's VPC and subnets."""
    data = json.loads(subprocess.check_output([sys.executable, EMULATOR, '--dump-builtin']))
    macs = data['meta-data']['network']['interfaces']['macs']
    for mac, interface in macs.items():
        interface['vpc-id'] = fixtures['vpc_id']
        interface['subnet-id'] = fixtures['subnet_id'] if interface['device-number'] == '0' else fixtures['subnet_id_secondary']
    return data


def snapshot(lab):
    """Registrations as moto holds them: target health per group, Cloud Map instances per service."""
    elbv2 = client(lab['moto_url'], 'elbv2')
    cloudmap = client(lab['moto_url'], 'servicediscovery')
    result = {'elbv2': {}, 'cloudmap': {}}
    for name, arn in lab['target_groups'].items():
        result['elbv2'][name] = [
            {'id': item['Target']['Id'], 'port': item['Target'].get('Port'),
             'state': item['TargetHealth'].get('State'), 'reason': item['TargetHealth'].get('Reason')}
            for item in elbv2.describe_target_health(TargetGroupArn=arn)['TargetHealthDescriptions']
        ]
    for key in ('cloudmap_service_id', 'cloudmap_other_service_id'):
        service = lab[key]
        result['cloudmap'][service] = [
            {'id': item['Id'], 'attributes': item.get('Attributes', {})}
            for item in cloudmap.list_instances(ServiceId=service)['Instances']
        ]
    return result


def signed_requests(state_dir):
    """Who signed each AWS request moto received: [{service, action, access_key_id, session_token}]."""
    path = os.path.join(state_dir, 'moto-requests.jsonl')
    result = []
    if not os.path.exists(path):
        return result
    with open(path, encoding='utf-8') as handle:
        for line in handle:
            entry = json.loads(line)
            headers = {name.lower(): value for name, value in entry['headers'].items()}
            credential = re.search(r'Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/', headers.get('authorization', ''))
            if not credential:
                continue
            body = entry.get('body') or ''
            if entry.get('body_encoded'):
                body = base64.b64decode(body).decode('utf-8', 'replace')
            action = (headers.get('x-amz-target', '').rpartition('.')[2]
                      or dict(urllib.parse.parse_qsl(body)).get('Action'))
            result.append({
                'service': credential.group(2),
                'action': action,
                'access_key_id': credential.group(1),
                'session_token': headers.get('x-amz-security-token'),
            })
    return result


def watch(pids, ttl, probe_netns):
    """Stop the lab's processes after TTL seconds, or once the imds-netns run that owns them is over."""
    if not wait_while(lambda: any(alive(pid) for pid in pids), ttl, probe_netns):
        return
    for pid in pids:
        terminate(pid)


def serve_at_netns_default(data):
    """Give the imds-netns emulator (169.254.169.254, inside the namespace only) this instance."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(NETNS_IMDS_URL + '/_emulator/data', data=json.dumps(data).encode('utf-8'),
                                     method='POST', headers={'Content-Type': 'application/json'})
    with opener.open(request, timeout=5) as response:
        response.read()
    return NETNS_IMDS_URL


def up(state_dir, moto_port=None, emulator_port=None, ttl=1800):
    os.makedirs(state_dir, exist_ok=True)
    # Only inside imds-netns is 169.254.169.254 the test emulator; never touch it elsewhere.
    in_netns = in_imds_netns()
    moto, moto_url = start_moto(moto_port, log_path=os.path.join(state_dir, 'moto.log'),
                                recording_path=os.path.join(state_dir, 'moto-requests.jsonl'))
    pids = [moto.pid]
    try:
        fixtures = create_fixtures(moto_url)
        instance = instance_in(fixtures)
        data_path = os.path.join(state_dir, 'instance.json')
        with open(data_path, 'w', encoding='utf-8') as handle:
            json.dump(instance, handle, indent=2)
        if in_netns:
            imds_url = serve_at_netns_default(instance)
        else:
            emulator, imds_url = start_emulator(data_path, emulator_port)
            pids.append(emulator.pid)
    except BaseException:
        moto.kill()
        raise
    watchdog = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), 'watch', '--state-dir', state_dir, '--ttl', str(ttl),
         '--pids', ','.join(str(pid) for pid in pids)] + (['--probe-netns'] if in_netns else []),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    lab = dict(fixtures, moto_url=moto_url, imds_url=imds_url, moto_pid=moto.pid,
               emulator_pid=pids[1] if len(pids) > 1 else None,
               watchdog_pid=watchdog.pid, state_dir=os.path.abspath(state_dir))
    with open(os.path.join(state_dir, 'lab.json'), 'w', encoding='utf-8') as handle:
        json.dump(lab, handle, indent=2)
    return lab


def load(state_dir):
    with open(os.path.join(state_dir, 'lab.json'), encoding='utf-8') as handle:
        return json.load(handle)


def down(state_dir):
    try:
        lab = load(state_dir)
    except FileNotFoundError:
        return
    for key in ('watchdog_pid', 'emulator_pid', 'moto_pid'):
        if lab.get(key):
            terminate(lab[key])
    os.remove(os.path.join(state_dir, 'lab.json'))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', choices=['up', 'down', 'snapshot', 'requests', 'watch'])
    parser.add_argument('--state-dir', required=True)
    parser.add_argument('--moto-port', type=int)
    parser.add_argument('--emulator-port', type=int)
    parser.add_argument('--ttl', type=float, default=1800, help='stop the lab after this many seconds at the latest')
    parser.add_argument('--pids', help=argparse.SUPPRESS)
    parser.add_argument('--probe-netns', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.command == 'up':
        print(json.dumps(up(args.state_dir, args.moto_port, args.emulator_port, args.ttl), indent=2))
    elif args.command == 'snapshot':
        print(json.dumps(snapshot(load(args.state_dir)), indent=2))
    elif args.command == 'requests':
        print(json.dumps(signed_requests(args.state_dir), indent=2))
    elif args.command == 'watch':
        watch([int(pid) for pid in args.pids.split(',')], args.ttl, args.probe_netns)
    else:
        down(args.state_dir)
    return 0


if __name__ == '__main__':
    sys.exit(main())
