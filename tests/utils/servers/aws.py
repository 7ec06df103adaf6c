"""The AWS side of the lab: moto_server with what the elbv2 and cloudmap backends register into.

start_moto() starts moto_server on loopback (pytest's session fixture
`moto_server` in tests/integration/conftest.py, the rollout playbook's test,
and lab.py use it); create_fixtures() makes two VPCs with a target group of
each type, a Cloud Map HTTP namespace and services. Because moto invents its
own VPC and subnet IDs, instance_in() moves the emulator's built-in instance
into moto's first VPC, and lab.py serves it at the default address inside
tests/utils/imds-netns (POST /_emulator/data) or from an emulator of its own
on loopback elsewhere. snapshot() reads the registrations as moto holds them;
signed_requests() says who signed each request moto received.

Everything here talks to moto with dummy keys and never to IMDS. Against
real AWS none of this is needed. `lab.py up --aws` is the command line.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from servers.common import START_TIMEOUT, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
EMULATOR = os.path.join(REPO_ROOT, 'tools', 'imds_emulator.py')
REGION = 'eu-west-1'  # the emulator's built-in instance lives there
NETNS_IMDS_URL = 'http://169.254.169.254'
NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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


def start_moto(port=None, host='127.0.0.1', log_path=None, recording_path=None, timeout=START_TIMEOUT):
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


def start_emulator(data_path, port=None, host='127.0.0.1', log_path=None, timeout=START_TIMEOUT):
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


def serve_at_netns_default(data):
    """Give the imds-netns emulator (169.254.169.254, inside the namespace only) this instance."""
    request = urllib.request.Request(NETNS_IMDS_URL + '/_emulator/data', data=json.dumps(data).encode('utf-8'),
                                     method='POST', headers={'Content-Type': 'application/json'})
    with NO_PROXY_OPENER.open(request, timeout=5) as response:
        response.read()
    return NETNS_IMDS_URL
