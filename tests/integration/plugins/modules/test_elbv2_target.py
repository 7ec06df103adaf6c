"""cloudmeta.imds.elbv2_target run in-process against moto_server on 127.0.0.1.

moto 5.2.5 differs from AWS in ways these tests must not take for truth
(registration-backends.md section 1): it keys targets by ID alone, reports
`healthy` at once, has no draining, and errors when deregistering an unknown
target. The assertions here hold on AWS too; what moto cannot show (draining,
Target.NotInUse) is covered by the pure functions at the end.
"""
import uuid

import pytest

from aws_moto import REGION, aws, aws_env, moto_url, run_module  # noqa: F401  pylint: disable=unused-import

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws import calls as _aws
from ansible_collections.cloudmeta.imds.plugins.module_utils._common.backoff import Backoff
from ansible_collections.cloudmeta.imds.plugins.module_utils._common.deadline import Deadline
from ansible_collections.cloudmeta.imds.plugins.module_utils._registration import elbv2
from ansible_collections.cloudmeta.imds.plugins.modules import elbv2_target

INSTANCE_ID = 'i-0123456789abcdef0'


@pytest.fixture
def vpc(aws):
    return aws('ec2').create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']


@pytest.fixture
def target_group(aws, vpc):
    """target_group(target_type='instance', port=80, vpc_id=<the vpc fixture>) -> ARN of a new group."""

    def _create(target_type='instance', port=80, vpc_id=None):
        name = 'tg-%s' % uuid.uuid4().hex[:12]
        group = aws('elbv2').create_target_group(Name=name, Protocol='HTTP', Port=port, VpcId=vpc_id or vpc,
                                                 TargetType=target_type)['TargetGroups'][0]
        return group['TargetGroupArn']

    return _create


def targets(aws, arn):
    """(id, port) of every registered target, as AWS lists them."""
    return sorted((item['Target']['Id'], item['Target']['Port'])
                  for item in aws('elbv2').describe_target_health(TargetGroupArn=arn)['TargetHealthDescriptions'])


def args(arn, **extra):
    base = dict(target_group_arn=arn, target_id=INSTANCE_ID, region=REGION)
    base.update(extra)
    return base


def test_registers_the_instance_once(run_module, aws, target_group, vpc):
    arn = target_group()
    first = run_module(elbv2_target, **args(arn, port=8080, vpc_id=vpc, target_type='instance'))
    second = run_module(elbv2_target, **args(arn, port=8080, vpc_id=vpc, target_type='instance'))

    assert first['changed'] is True
    assert first['target'] == {'id': INSTANCE_ID, 'port': 8080}
    assert first['target_group']['vpc_id'] == vpc
    assert first['diff'] == {
        'before': {'target_group_arn': arn, 'id': INSTANCE_ID, 'port': 8080, 'registered': False},
        'after': {'target_group_arn': arn, 'id': INSTANCE_ID, 'port': 8080, 'registered': True},
    }
    assert second['changed'] is False
    assert targets(aws, arn) == [(INSTANCE_ID, 8080)]


def test_port_defaults_to_the_target_groups_port(run_module, aws, target_group):
    arn = target_group(port=8443)
    result = run_module(elbv2_target, **args(arn))
    assert result['target'] == {'id': INSTANCE_ID, 'port': 8443}
    assert targets(aws, arn) == [(INSTANCE_ID, 8443)]


def test_check_mode_predicts_without_changing(run_module, aws, target_group):
    arn = target_group()
    register = run_module(elbv2_target, _check_mode=True, **args(arn))
    assert register['changed'] is True
    assert targets(aws, arn) == []

    run_module(elbv2_target, **args(arn))
    deregister = run_module(elbv2_target, _check_mode=True, **args(arn, state='absent'))
    assert deregister['changed'] is True
    assert targets(aws, arn) == [(INSTANCE_ID, 80)]


def test_absent_deregisters_then_tolerates_already_gone(run_module, aws, target_group):
    arn = target_group()
    run_module(elbv2_target, **args(arn, port=8080))

    first = run_module(elbv2_target, **args(arn, port=8080, state='absent'))
    second = run_module(elbv2_target, **args(arn, port=8080, state='absent'))

    assert first['changed'] is True
    assert first['health'] is None
    assert second['changed'] is False and not second.failed
    assert targets(aws, arn) == []


def test_absent_for_an_address_never_registered_is_a_no_op(run_module, target_group):
    arn = target_group(target_type='ip')
    result = run_module(elbv2_target, **args(arn, target_id='10.0.1.25', state='absent', wait=True))
    assert not result.failed, result.get('msg')
    assert result['changed'] is False


def test_absent_on_another_port_leaves_the_registration_alone(run_module, aws, target_group):
    # AWS keeps one registration per (ID, port); removing port 9090 must not
    # touch the target registered on 8080.
    arn = target_group()
    run_module(elbv2_target, **args(arn, port=8080))
    result = run_module(elbv2_target, **args(arn, port=9090, state='absent'))
    assert result['changed'] is False
    assert targets(aws, arn) == [(INSTANCE_ID, 8080)]


def test_ip_target(run_module, aws, target_group, vpc):
    arn = target_group(target_type='ip', port=8080)
    result = run_module(elbv2_target, **args(arn, target_id='10.0.1.25', target_type='ip', vpc_id=vpc))
    again = run_module(elbv2_target, **args(arn, target_id='10.0.1.25', target_type='ip', vpc_id=vpc))
    assert result['changed'] is True and again['changed'] is False
    assert targets(aws, arn) == [('10.0.1.25', 8080)]


def test_refuses_a_target_group_in_another_vpc(run_module, aws, target_group):
    other_vpc = aws('ec2').create_vpc(CidrBlock='10.9.0.0/16')['Vpc']['VpcId']
    arn = target_group(vpc_id=other_vpc)
    result = run_module(elbv2_target, **args(arn, vpc_id='vpc-0a1b2c3d4e5f60718'))
    assert result.failed
    assert other_vpc in result['msg'] and 'vpc-0a1b2c3d4e5f60718' in result['msg']
    assert targets(aws, arn) == []


@pytest.mark.parametrize('group_type, extra, expected', [
    ('ip', dict(target_type='instance'), 'has target type ip, but target type instance was requested'),
    ('ip', dict(), "takes IP addresses, not 'i-0123456789abcdef0'"),
    ('instance', dict(target_id='10.0.1.25'), "takes instance IDs (i-...), not '10.0.1.25'"),
])
def test_refuses_a_target_the_group_cannot_take(run_module, aws, target_group, group_type, extra, expected):
    arn = target_group(target_type=group_type)
    result = run_module(elbv2_target, **args(arn, **extra))
    assert result.failed
    assert expected in result['msg']
    assert targets(aws, arn) == []


# Metadata served with a trailing newline must not reach ELBv2: the message
# shows the value as Python writes it, so the newline is visible.
@pytest.mark.parametrize('group_type, field, value', [
    ('instance', 'target_id', INSTANCE_ID + '\n'),
    ('ip', 'target_id', '10.0.1.25\n'),
    ('ip', 'target_id', 'fe80::1%eth0'),
    ('instance', 'vpc_id', 'vpc-0a1b2c3d4e5f60718\n'),
])
def test_values_ending_in_a_newline_are_refused(run_module, aws, target_group, group_type, field, value):
    arn = target_group(target_type=group_type)
    result = run_module(elbv2_target, **args(arn, **{field: value}))
    assert result.failed
    assert repr(value) in result['msg']
    assert targets(aws, arn) == []


def test_a_target_group_arn_ending_in_a_newline_is_refused(run_module, aws, target_group):
    arn = target_group()
    result = run_module(elbv2_target, **args(arn + '\n'))
    assert result.failed
    assert repr(arn + '\n') in result['msg']
    assert targets(aws, arn) == []


def test_refuses_a_target_group_of_another_region(run_module, target_group):
    result = run_module(elbv2_target, **args(target_group(), region='us-east-1'))
    assert result.failed
    assert 'is in region %s, but the target is in us-east-1' % REGION in result['msg']


def test_missing_target_group_fails_fast_with_the_arn(run_module, target_group):
    arn = target_group()[:-16] + '0123456789abcdef'
    result = run_module(elbv2_target, **args(arn))
    assert result.failed
    assert 'does not exist' in result['msg'] and arn in result['msg']
    assert result.seconds < 60  # a hang guard: nothing here waits or retries


def test_malformed_arn_is_refused(run_module, aws_env):
    result = run_module(elbv2_target, **args('arn:aws:s3:::bucket'))
    assert result.failed
    assert 'is not a target group ARN' in result['msg']


def test_wait_until_healthy_reports_the_health(run_module, target_group):
    result = run_module(elbv2_target, **args(target_group(), wait=True, wait_timeout=30))
    assert result['health']['state'] == 'healthy'


def test_wait_fails_at_once_for_a_stopped_instance(run_module, aws, target_group):
    ec2 = aws('ec2')
    image = ec2.describe_images(Owners=['amazon'])['Images'][0]['ImageId']
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)['Instances'][0]['InstanceId']
    arn = target_group()
    run_module(elbv2_target, **args(arn, target_id=instance))
    ec2.stop_instances(InstanceIds=[instance])

    result = run_module(elbv2_target, **args(arn, target_id=instance, wait=True, wait_timeout=120))

    assert result.failed
    assert 'Target.InvalidState' in result['msg'] and 'stopped or terminated' in result['msg']
    assert result.seconds < 60  # not the 120 s timeout


def test_no_credentials_is_explained(run_module, target_group, monkeypatch):
    arn = target_group()
    monkeypatch.delenv('AWS_ACCESS_KEY_ID')
    monkeypatch.delenv('AWS_SECRET_ACCESS_KEY')
    result = run_module(elbv2_target, **args(arn))
    assert result.failed
    assert 'instance profile' in result['msg'] and 'never takes keys' in result['msg']


def test_missing_boto3_is_explained(run_module, monkeypatch, aws_env):
    monkeypatch.setattr(_aws, 'HAS_BOTO3', False)
    monkeypatch.setattr(_aws, 'BOTO3_IMPORT_ERROR', 'ImportError: No module named boto3')
    result = run_module(elbv2_target, **args('arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/a/0123'))
    assert result.failed
    assert 'boto3' in result['msg']


def test_region_comes_from_the_environment(run_module, aws, target_group):
    arn = target_group()
    result = run_module(elbv2_target, target_group_arn=arn, target_id=INSTANCE_ID)
    assert result['changed'] is True
    assert targets(aws, arn) == [(INSTANCE_ID, 80)]


# -- what moto cannot show: pure decisions on AWS's health descriptions ---------

def description(target_id, port, state, reason=None):
    health = {'State': state}
    if reason:
        health['Reason'] = reason
    return {'Target': {'Id': target_id, 'Port': port}, 'TargetHealth': health}


def test_find_target_matches_id_and_port():
    listing = [description('i-1', 80, 'healthy'), description('10.0.0.5', 8080, 'initial')]
    assert elbv2.find_target(listing, 'i-1', 80) is listing[0]
    assert elbv2.find_target(listing, 'i-1', 8080) is None
    assert elbv2.find_target(listing, '10.0.0.5', 8080) is listing[1]
    assert elbv2.find_target([description('i-1', 80, 'unused', 'Target.NotRegistered')], 'i-1', 80) is None


def test_find_target_compares_ipv6_by_value():
    listing = [description('2001:db8::25', 80, 'healthy')]
    assert elbv2.find_target(listing, '2001:0db8:0000::0025', 80) is listing[0]


def test_a_draining_target_is_registered_again():
    draining = description('i-1', 80, 'draining', 'Target.DeregistrationInProgress')
    assert elbv2.is_registered(draining) is False
    assert elbv2.is_registered(description('i-1', 80, 'unused', 'Target.NotInUse')) is True


@pytest.mark.parametrize('state, reason, outcome', [
    ('healthy', None, 'done'),
    ('unavailable', 'Target.HealthCheckDisabled', 'done'),
    ('initial', 'Elb.RegistrationInProgress', 'wait'),
    ('initial', 'Elb.InitialHealthChecking', 'wait'),
    ('unhealthy', 'Target.ResponseCodeMismatch', 'wait'),
    ('unused', 'Target.NotInUse', 'fail'),
    ('unused', 'Target.InvalidState', 'fail'),
    ('unused', 'Target.IpUnusable', 'fail'),
    ('draining', 'Target.DeregistrationInProgress', 'fail'),
])
def test_healthy_verdict(state, reason, outcome):
    assert elbv2.healthy_verdict(description('i-1', 80, state, reason))[0] == outcome


def test_not_in_use_explains_why_waiting_is_pointless():
    outcome, note = elbv2.healthy_verdict(description('i-1', 80, 'unused', 'Target.NotInUse'))
    assert outcome == 'fail'
    assert 'not used by any load balancer' in note


def test_drained_waits_while_draining():
    assert elbv2.drained_verdict(description('i-1', 80, 'draining', 'Target.DeregistrationInProgress'))[0] == 'wait'
    assert elbv2.drained_verdict(None)[0] == 'done'


def test_wait_gives_up_at_the_deadline_with_the_last_state():
    clock = [0.0]
    deadline = Deadline(10, clock=lambda: clock[0], sleep=lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    initial = description('i-1', 80, 'initial', 'Elb.InitialHealthChecking')
    with pytest.raises(_aws.AwsError) as error:
        elbv2.wait_for(elbv2.healthy_verdict, lambda: initial, deadline, backoff=Backoff(3, 3))
    assert 'Timed out after 10 seconds' in error.value.message
    assert 'initial (Elb.InitialHealthChecking' in error.value.message
    assert clock[0] == 10


def test_the_health_wait_backs_off_with_jitter_and_polls_a_few_times_only():
    clock, sleeps = [0.0], []

    def sleep(seconds):
        sleeps.append(seconds)
        clock[0] += seconds

    polls = []
    initial = description('i-1', 80, 'initial', 'Elb.InitialHealthChecking')
    with pytest.raises(_aws.AwsError):
        elbv2.wait_for(elbv2.healthy_verdict, lambda: polls.append(1) or initial,
                       Deadline(300, clock=lambda: clock[0], sleep=sleep))
    steps = [min(elbv2.POLL_CAP, elbv2.POLL_FIRST * 2 ** n) for n in range(len(sleeps))]
    # Equal jitter: every wait between half its step and the step (the last one cut by the deadline).
    assert all(step / 2 <= wait <= step for wait, step in zip(sleeps[:-1], steps))
    # 2 s doubling to 30 s: at most 300 / 15 + 5 DescribeTargetHealth calls in 300 s, where a fixed 5 s took 61.
    assert len(polls) <= 25
    assert clock[0] == 300


def test_endpoint_url_option_wins_over_the_environment(run_module, aws, target_group, monkeypatch, aws_env):
    arn = target_group()
    monkeypatch.setenv('AWS_ENDPOINT_URL', 'http://127.0.0.1:9')  # discard port: nothing listens
    result = run_module(elbv2_target, **args(arn, endpoint_url=aws_env))
    assert result['changed'] is True
    assert targets(aws, arn) == [(INSTANCE_ID, 80)]


def test_imds_addresses_bypass_a_configured_proxy():
    environ = {'http_proxy': 'http://proxy.example:3128', 'no_proxy': 'internal.example',
               'AWS_EC2_METADATA_SERVICE_ENDPOINT': 'http://127.0.0.1:8169/'}
    _aws.bypass_proxy_for_imds(environ)
    entries = environ['no_proxy'].split(',')
    assert entries[0] == 'internal.example'
    assert {'169.254.169.254', '[fd00:ec2::254]', 'fd00:ec2::254', '127.0.0.1:8169'} <= set(entries)
    assert environ['NO_PROXY'] == environ['no_proxy']


def test_no_proxy_is_left_alone_without_an_http_proxy():
    # IMDS is plain HTTP: an https_proxy alone never carries it.
    environ = {'https_proxy': 'http://proxy.example:3128', 'no_proxy': 'internal.example'}
    _aws.bypass_proxy_for_imds(environ)
    assert environ == {'https_proxy': 'http://proxy.example:3128', 'no_proxy': 'internal.example'}
