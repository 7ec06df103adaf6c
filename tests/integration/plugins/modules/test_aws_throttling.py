"""elbv2_target and cloudmap_instance through a throttling proxy in front of moto_server: they get through, and say what to raise.

tests/utils/servers/throttling_proxy.py answers a share of the calls with
the throttling error each API really sends (ELBv2 400 Throttling or
ThrottlingException, Cloud Map 429 RequestLimitExceeded) on a request's
first arrivals and forwards it after that; the modules run in-process with
their default retry settings (standard mode, 10 attempts) unless a test sets
aws_max_attempts. Arranging and inspecting goes to moto directly, unthrottled.

The proxy's counts also give the exact AWS calls each registration and
deregistration makes (calls minus throttled answers), which
docs/register_instance.md ("Cost per instance") records: a user sizing a
fleet against the API rate limits relies on these numbers.
"""
import os
import sys
import uuid

import pytest

from aws_moto import REGION, aws, aws_env, moto_url, run_module  # noqa: F401  pylint: disable=unused-import
from collection_path import REPO_ROOT

from ansible_collections.cloudmeta.imds.plugins.modules import cloudmap_instance, elbv2_target

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))
from servers.throttling_proxy import ThrottlingProxy  # noqa: E402  pylint: disable=wrong-import-position

INSTANCE_ID = 'i-0123456789abcdef0'
ADDRESS = '10.0.1.5'
# The code the ELBv2 documentation names, beside the Throttling the query API sends.
ELBV2_THROTTLING_EXCEPTION = ('text/xml', 400, '<ErrorResponse xmlns="https://aws.amazon.com/"><Error><Type>Sender</Type>'
                              '<Code>ThrottlingException</Code><Message>Rate exceeded</Message></Error>'
                              '<RequestId>{request_id}</RequestId></ErrorResponse>')


@pytest.fixture
def throttle(aws_env, monkeypatch):
    """throttle(share, attempts, errors=None) -> the proxy the modules now reach (AWS_ENDPOINT_URL)."""
    started = []

    def start(share, attempts=2, errors=None, seed=3):
        proxy = ThrottlingProxy(aws_env, share=share, attempts=attempts, seed=seed, errors=errors).start()
        started.append(proxy)
        monkeypatch.setenv('AWS_ENDPOINT_URL', proxy.url)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def served(proxy, service):
    """{operation: calls AWS answered (throttled answers left out)} for SERVICE."""
    stats = proxy.stats().get(service, {})
    return {operation: counts['calls'] - counts['throttled'] for operation, counts in stats.items()
            if counts['calls'] > counts['throttled']}


def throttled(proxy):
    return proxy.stats()['total']['throttled']


@pytest.fixture
def vpc(aws):
    return aws('ec2').create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']


def new_target_group(aws, vpc, target_type):
    name = 'thr-%s' % uuid.uuid4().hex[:12]
    return aws('elbv2').create_target_group(Name=name, Protocol='HTTP', Port=8080, VpcId=vpc,
                                            TargetType=target_type)['TargetGroups'][0]['TargetGroupArn']


def registered(aws, arn):
    return sorted((item['Target']['Id'], item['Target']['Port'])
                  for item in aws('elbv2').describe_target_health(TargetGroupArn=arn)['TargetHealthDescriptions'])


def elbv2_args(arn, target_type, **extra):
    target = INSTANCE_ID if target_type == 'instance' else ADDRESS
    base = dict(target_group_arn=arn, target_id=target, target_type=target_type, region=REGION)
    base.update(extra)
    return base


@pytest.fixture
def service_id(aws):
    cloudmap = aws('servicediscovery')
    operation = cloudmap.create_http_namespace(Name='thr-%s' % uuid.uuid4().hex[:8])['OperationId']
    namespace = cloudmap.get_operation(OperationId=operation)['Operation']['Targets']['NAMESPACE']
    return cloudmap.create_service(Name='svc-%s' % uuid.uuid4().hex[:8], NamespaceId=namespace)['Service']['Id']


def cloudmap_instances(aws, service):
    return [item['Id'] for item in aws('servicediscovery').list_instances(ServiceId=service)['Instances']]


CLOUDMAP_ATTRIBUTES = {'AWS_INSTANCE_IPV4': ADDRESS, 'AWS_INSTANCE_PORT': '8080', 'AVAILABILITY_ZONE': 'eu-west-1a'}


def cloudmap_args(service, **extra):
    base = dict(service_id=service, instance_id=INSTANCE_ID, region=REGION, attributes=dict(CLOUDMAP_ATTRIBUTES))
    base.update(extra)
    return base


# -- every registration completes under throttling, with the default settings --------------------

@pytest.mark.parametrize('target_type', ['instance', 'ip'])
@pytest.mark.parametrize('errors', [None, {'elasticloadbalancing': ELBV2_THROTTLING_EXCEPTION}],
                         ids=['Throttling', 'ThrottlingException'])
def test_elbv2_registers_and_deregisters_through_throttling(run_module, aws, vpc, throttle, target_type, errors):
    arn = new_target_group(aws, vpc, target_type)
    proxy = throttle(share=0.5, attempts=2, errors=errors)
    target = elbv2_args(arn, target_type)['target_id']

    present = run_module(elbv2_target, **elbv2_args(arn, target_type, wait=True, wait_timeout=60))
    assert not present.failed, present
    assert present['changed'] is True and present['health']['state'] == 'healthy'
    assert registered(aws, arn) == [(target, 8080)]

    absent = run_module(elbv2_target, **elbv2_args(arn, target_type, state='absent', wait=True, wait_timeout=60))
    assert not absent.failed, absent
    assert absent['changed'] is True
    assert registered(aws, arn) == []
    # Not luck: the proxy did throttle, and botocore's retries got through.
    assert throttled(proxy) >= 2


def test_cloudmap_registers_and_deregisters_through_throttling(run_module, aws, service_id, throttle):
    proxy = throttle(share=0.5, attempts=2)
    present = run_module(cloudmap_instance, **cloudmap_args(service_id))
    assert not present.failed, present
    assert present['operation']['status'] == 'SUCCESS'
    assert cloudmap_instances(aws, service_id) == [INSTANCE_ID]

    absent = run_module(cloudmap_instance, **cloudmap_args(service_id, state='absent'))
    assert not absent.failed, absent
    assert absent['changed'] is True
    assert cloudmap_instances(aws, service_id) == []
    assert throttled(proxy) >= 2


def test_adaptive_mode_gets_through_too(run_module, aws, vpc, throttle):
    arn = new_target_group(aws, vpc, 'instance')
    proxy = throttle(share=1.0, attempts=2)
    result = run_module(elbv2_target, **elbv2_args(arn, 'instance', aws_retry_mode='adaptive'))
    assert not result.failed, result
    assert registered(aws, arn) == [(INSTANCE_ID, 8080)]
    # Every distinct call was throttled twice before it was answered.
    assert throttled(proxy) >= 2 * len(served(proxy, 'elasticloadbalancing'))


# -- a budget too small fails clearly, naming the setting ------------------------------------------

def test_elbv2_with_too_small_a_budget_fails_naming_aws_max_attempts(run_module, aws, vpc, throttle):
    arn = new_target_group(aws, vpc, 'instance')
    throttle(share=1.0, attempts=2)
    result = run_module(elbv2_target, **elbv2_args(arn, 'instance', aws_max_attempts=2))
    assert result.failed
    assert result['error_code'] == 'Throttling'
    assert result['msg'].startswith('Throttling: Rate exceeded (DescribeTargetGroups). AWS throttled or failed all 2 '
                                    'attempts of this call')
    assert 'Raise aws_max_attempts (now 2; environment AWS_MAX_ATTEMPTS)' in result['msg']
    assert registered(aws, arn) == []


def test_cloudmap_budget_from_the_environment_fails_naming_it(run_module, aws, service_id, throttle, monkeypatch):
    throttle(share=1.0, attempts=2)
    monkeypatch.setenv('AWS_MAX_ATTEMPTS', '2')
    result = run_module(cloudmap_instance, **cloudmap_args(service_id))
    assert result.failed
    assert result['error_code'] == 'RequestLimitExceeded'
    assert 'RequestLimitExceeded: Rate exceeded (GetInstance). AWS throttled or failed all 2 attempts' in result['msg']
    assert 'Raise aws_max_attempts (now 2; environment AWS_MAX_ATTEMPTS)' in result['msg']
    assert cloudmap_instances(aws, service_id) == []


def test_one_attempt_more_than_the_throttled_ones_is_enough(run_module, aws, service_id, throttle):
    throttle(share=1.0, attempts=2)
    result = run_module(cloudmap_instance, **cloudmap_args(service_id, aws_max_attempts=3))
    assert not result.failed, result
    assert cloudmap_instances(aws, service_id) == [INSTANCE_ID]


@pytest.mark.parametrize('options, message', [
    ({'aws_max_attempts': 0}, 'aws_max_attempts (AWS_MAX_ATTEMPTS) counts every attempt of one AWS call, the first '
                              'included, and must be a whole number from 1 to 50, got 0.'),
    ({'aws_max_attempts': 51}, 'must be a whole number from 1 to 50, got 51.'),
    ({'aws_retry_mode': 'legacy'}, 'value of aws_retry_mode must be one of: standard, adaptive, got: legacy'),
])
def test_bad_retry_settings_fail_before_any_call(run_module, aws, vpc, throttle, options, message):
    arn = new_target_group(aws, vpc, 'instance')
    proxy = throttle(share=0.0)
    result = run_module(elbv2_target, **elbv2_args(arn, 'instance', **options))
    assert result.failed
    assert message in result['msg']
    assert proxy.stats()['total']['calls'] == 0


# -- cost per instance: the exact calls a user sizes rate limits with ------------------------------

@pytest.mark.parametrize('target_type', ['instance', 'ip'])
def test_elbv2_calls_per_registration_and_deregistration(run_module, aws, vpc, throttle, target_type):
    arn = new_target_group(aws, vpc, target_type)
    # Throttled too: what is counted is what AWS answered, so the counts
    # hold whatever the retries did.
    proxy = throttle(share=0.3, attempts=1)

    def calls_of(**extra):
        before = served(proxy, 'elasticloadbalancing')
        result = run_module(elbv2_target, **elbv2_args(arn, target_type, **extra))
        assert not result.failed, result
        after = served(proxy, 'elasticloadbalancing')
        return {op: after[op] - before.get(op, 0) for op in after if after[op] != before.get(op, 0)}

    # A registration: the group (validation), the target's state, the change, its state after.
    assert calls_of() == {'DescribeTargetGroups': 1, 'DescribeTargetHealth': 2, 'RegisterTargets': 1}
    # Already registered: one describe of the group and one of the target, no register call.
    assert calls_of() == {'DescribeTargetGroups': 1, 'DescribeTargetHealth': 1}
    # Already registered and healthy, waiting for health: the first describe answers, no poll.
    assert calls_of(wait=True) == {'DescribeTargetGroups': 1, 'DescribeTargetHealth': 1}
    assert calls_of(state='absent') == {'DescribeTargetGroups': 1, 'DescribeTargetHealth': 2, 'DeregisterTargets': 1}
    # Already gone, waiting for the drain: nothing to wait for.
    assert calls_of(state='absent', wait=True) == {'DescribeTargetGroups': 1, 'DescribeTargetHealth': 1}
    # Registering and waiting: moto is healthy at once, so the wait's first poll ends it.
    assert calls_of(wait=True) == {'DescribeTargetGroups': 1, 'DescribeTargetHealth': 2, 'RegisterTargets': 1}


def test_cloudmap_calls_per_registration_and_deregistration(run_module, aws, service_id, throttle):
    proxy = throttle(share=0.3, attempts=1)

    def calls_of(**extra):
        before = served(proxy, 'servicediscovery')
        result = run_module(cloudmap_instance, **cloudmap_args(service_id, **extra))
        assert not result.failed, result
        after = served(proxy, 'servicediscovery')
        return {op: after[op] - before.get(op, 0) for op in after if after[op] != before.get(op, 0)}

    # moto finishes operations at once; on AWS each further GetOperation poll adds one call
    # (1 s, doubling to 8 s, equal jitter).
    assert calls_of() == {'GetInstance': 1, 'RegisterInstance': 1, 'GetOperation': 1}
    assert calls_of() == {'GetInstance': 1}
    assert calls_of(state='absent') == {'GetInstance': 1, 'DeregisterInstance': 1, 'GetOperation': 1}
    assert calls_of(state='absent') == {'GetInstance': 1}
    # Changed attributes: one RegisterInstance updates in place. Last, because
    # moto (unlike AWS) keeps a second copy, which a deregistration would leave.
    calls_of()
    assert calls_of(attributes=dict(CLOUDMAP_ATTRIBUTES, AVAILABILITY_ZONE='eu-west-1b')) == {
        'GetInstance': 1, 'RegisterInstance': 1, 'GetOperation': 1}
