"""The lifecycle agent program against the real backends: moto_server (ELBv2, Cloud Map), HAProxy and etcd.

Each test registers through the installed agent, plays a notice in the
emulator and checks, in the backend itself, that the instance is gone. The
Auto Scaling lifecycle hook calls go to tests/utils/servers/autoscaling_double.py,
behind the hook's endpoint_url: moto implements neither
CompleteLifecycleAction nor RecordLifecycleActionHeartbeat, so the double
records the exact query parameters botocore sends and answers as Auto
Scaling does (docs/lifecycle.md says which paths only the double covers).
"""
import os
import socket
import sys
import threading
import time
import uuid

import pytest

from collection_path import REPO_ROOT
from lifecycle_lab import INSTANCE_ID, AgentProcess, base_config, install_library, wait_until

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))

from servers import aws  # noqa: E402
from servers.autoscaling_double import AutoScalingDouble  # noqa: E402
from servers.etcd import Etcd  # noqa: E402
from servers.fixtures import etcd, haproxy, key_prefix  # noqa: E402,F401  pylint: disable=unused-import

REGION = aws.REGION


@pytest.fixture(scope='module')
def program(tmp_path_factory):
    return install_library(str(tmp_path_factory.mktemp('instance') / 'lib'))


@pytest.fixture
def run_agent(program, tmp_path):
    started = []

    def _run(emulator, backend, env=None, site=False, **changes):
        agent = AgentProcess(program, base_config(str(tmp_path), emulator.url, backend, **changes), str(tmp_path),
                             env=env, site=site)
        started.append(agent)
        agent.wait_for('register: done')
        return agent

    yield _run
    for agent in started:
        agent.kill()


def aws_env(endpoint):
    # Explicit dummy keys: boto3 never looks for the instance profile here.
    return {'AWS_ENDPOINT_URL': endpoint, 'AWS_ACCESS_KEY_ID': 'testing', 'AWS_SECRET_ACCESS_KEY': 'testing',
            'AWS_CONFIG_FILE': os.devnull, 'AWS_SHARED_CREDENTIALS_FILE': os.devnull}


def spot(make_emulator):
    emulator = make_emulator()
    emulator.instance['meta-data']['instance-life-cycle'] = 'spot'
    return emulator


def test_elbv2_target_is_deregistered_on_a_spot_notice(moto_server, make_emulator, run_agent):
    ec2, elbv2 = aws.client(moto_server, 'ec2'), aws.client(moto_server, 'elbv2')
    vpc = ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']
    arn = elbv2.create_target_group(Name='lc-%s' % uuid.uuid4().hex[:12], Protocol='HTTP', Port=80, VpcId=vpc,
                                    TargetType='instance')['TargetGroups'][0]['TargetGroupArn']

    def targets():
        return [(d['Target']['Id'], d['Target']['Port'])
                for d in elbv2.describe_target_health(TargetGroupArn=arn)['TargetHealthDescriptions']
                if d['TargetHealth'].get('Reason') != 'Target.NotRegistered']

    emulator = spot(make_emulator)
    agent = run_agent(emulator, {'type': 'elbv2', 'target_group_arn': arn, 'target_id': INSTANCE_ID, 'port': 8080,
                                 'vpc_id': vpc, 'region': REGION}, env=aws_env(moto_server), site=True)
    assert targets() == [(INSTANCE_ID, 8080)]
    emulator.configure(spot_action_after=0)
    agent.wait_for('deregister (Spot terminate', 'done in', 'deregistered %s port 8080, drained' % INSTANCE_ID)
    assert targets() == []
    assert agent.stop() == 0


def test_cloudmap_instance_is_deregistered_on_sigterm(moto_server, make_emulator, run_agent):
    cloudmap = aws.client(moto_server, 'servicediscovery')
    operation = cloudmap.create_http_namespace(Name='lc-%s' % uuid.uuid4().hex[:12])['OperationId']
    namespace = cloudmap.get_operation(OperationId=operation)['Operation']['Targets']['NAMESPACE']
    service = cloudmap.create_service(Name='web', NamespaceId=namespace)['Service']['Id']

    def instances():
        return [(i['Id'], i['Attributes']) for i in cloudmap.list_instances(ServiceId=service)['Instances']]

    agent = run_agent(make_emulator(), {'type': 'cloudmap', 'service_id': service, 'instance_id': INSTANCE_ID,
                                        'attributes': {'AWS_INSTANCE_IPV4': '10.0.1.25', 'AWS_INSTANCE_PORT': '8080'},
                                        'region': REGION}, env=aws_env(moto_server), site=True)
    assert instances() == [(INSTANCE_ID, {'AWS_INSTANCE_IPV4': '10.0.1.25', 'AWS_INSTANCE_PORT': '8080'})]
    assert agent.stop() == 0
    assert agent.line_with('deregister (stop requested): done in', 'deregistered %s in %s' % (INSTANCE_ID, service))
    assert instances() == []


class HeldServer:
    """A TCP server that accepts connections and never answers: an HTTP request in flight keeps a session open."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.accepted = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _address = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self):
        self.listener.close()
        for connection in self.accepted:
            connection.close()


def actions(double):
    return [call['Action'] for call in double.requests]


def test_haproxy_drains_with_heartbeats_removes_the_server_and_completes_the_terminate_hook(
        haproxy, make_emulator, run_agent):  # noqa: F811  pylint: disable=redefined-outer-name
    held, double = HeldServer(), AutoScalingDouble().start()
    try:
        name = 'web-%s' % INSTANCE_ID
        emulator = make_emulator(autoscaling_state='InService', autoscaling_next_state='Terminated')
        emulator.instance['meta-data'].setdefault('tags', {}).setdefault('instance', {})[
            'aws:autoscaling:groupName'] = 'web-asg'
        agent = run_agent(
            emulator, {'type': 'haproxy', 'socket': haproxy.admin_socket, 'backend': 'app', 'name': name,
                       'address': '127.0.0.1', 'port': held.port, 'drain_timeout': 3},
            lifecycle_hook={'hook': 'drain', 'region': REGION, 'endpoint_url': double.url, 'heartbeat_interval': 1},
            env=aws_env(double.url), site=True)
        assert name in haproxy.servers('app')
        # One request in flight through HAProxy to the instance: a session the drain waits for.
        client = socket.create_connection(('127.0.0.1', haproxy.app_port))
        client.sendall(b'GET / HTTP/1.1\r\nHost: web\r\n\r\n')
        assert wait_until(lambda: held.accepted)
        emulator.configure(autoscaling_state_after=0)
        line = agent.wait_for('notice: Auto Scaling state Terminated')
        agent.wait_for('deregister (Auto Scaling state Terminated): done in', 'removed app/%s' % name,
                       'closed 1 session(s)')
        assert name not in haproxy.servers('app')
        assert wait_until(lambda: 'CompleteLifecycleAction' in actions(double)), agent.text()
        # Heartbeats only while draining, then one completion with CONTINUE, for this instance and hook.
        calls = actions(double)
        assert calls[-1] == 'CompleteLifecycleAction' and calls.count('CompleteLifecycleAction') == 1
        assert set(calls[:-1]) == {'RecordLifecycleActionHeartbeat'} and calls[:-1], (calls, agent.text())
        expected = {'AutoScalingGroupName': 'web-asg', 'LifecycleHookName': 'drain', 'InstanceId': INSTANCE_ID,
                    'Version': '2011-01-01'}
        for call in double.requests:
            assert {key: call[key] for key in expected} == expected
        assert double.requests[-1]['LifecycleActionResult'] == 'CONTINUE'
        assert set(double.requests[-1]) == set(expected) | {'Action', 'LifecycleActionResult'}
        assert agent.wait_for('complete lifecycle hook: done in', 'lifecycle hook drain of web-asg completed with CONTINUE') and line
        assert agent.stop() == 0
        client.close()
    finally:
        held.close()
        double.stop()


def test_etcd_keys_are_kept_alive_then_deleted_and_the_lease_revoked(
        etcd, key_prefix, make_emulator, run_agent):  # noqa: F811  pylint: disable=redefined-outer-name
    keys = {key_prefix + 'skydns/web/' + INSTANCE_ID: {'host': '10.0.1.25', 'port': 8080, 'ttl': 30},
            key_prefix + 'meta/web/' + INSTANCE_ID: {'availability_zone': 'eu-west-1b'}}
    emulator = spot(make_emulator)
    agent = run_agent(emulator, {'type': 'etcd', 'url': etcd.url, 'keys': keys, 'lease_ttl': 5})
    lease = etcd.get(next(iter(keys)))[1]
    assert lease != '0'
    # Renewed by the agent, the lease outlives its TTL.
    renewed = etcd.watch_renewals(lease, renewals=2, timeout=60)
    assert renewed['renewals'] == 2 and not renewed['gone'], renewed
    emulator.configure(spot_action_after=0)
    agent.wait_for('deregister (Spot terminate', 'done in', 'deleted 2 key(s)', 'revoked lease %s' % lease)
    assert [etcd.get(key) for key in keys] == [None, None]
    assert etcd.lease(lease)[0] == -1
    assert agent.stop() == 0


def test_an_etcd_outage_during_deregistration_is_retried_until_etcd_is_back(
        tmp_path, make_emulator, run_agent):
    server = Etcd(tmp_path / 'etcd').start()
    try:
        keys = {'/lc/skydns/web/' + INSTANCE_ID: {'host': '10.0.1.25', 'port': 8080}}
        emulator = spot(make_emulator)
        agent = run_agent(emulator, {'type': 'etcd', 'url': server.url, 'keys': keys, 'timeout': 2})
        assert server.get(next(iter(keys))) is not None
        server.stop()
        emulator.configure(spot_action_after=0)
        agent.wait_for('deregister (Spot terminate', 'failed, retrying for up to', 'Cannot reach etcd at %s' % server.url)
        started = time.monotonic()
        server.start()
        line = agent.wait_for('deregister (Spot terminate', 'done in', 'after', 'deleted 1 key(s)')
        assert int(line.split(' after ')[1].split()[0]) > 1 and time.monotonic() >= started
        assert server.get(next(iter(keys))) is None
        assert agent.stop() == 0
    finally:
        server.stop()
