"""elbv2_target's max_deregistration_delay against moto_server: the drain time read, returned and warned about.

moto keeps the target group attribute deregistration_delay.timeout_seconds
(default 300) and answers DescribeTargetGroupAttributes as AWS does, though it
never drains; only the attribute is checked here.
"""
import json
import uuid

import pytest
from ansible.module_utils.common import warnings as module_warnings

from ansible_compat import run_as_managed_host
from aws_moto import REGION, aws, aws_env, moto_url, run_module  # noqa: F401  pylint: disable=unused-import

from ansible_collections.cloudmeta.imds.plugins.module_utils._registration import elbv2
from ansible_collections.cloudmeta.imds.plugins.modules import elbv2_target

INSTANCE_ID = 'i-0123456789abcdef0'


@pytest.fixture(autouse=True)
def warnings_in_the_result(monkeypatch):
    run_as_managed_host(monkeypatch)
    monkeypatch.setattr(module_warnings, '_global_warnings', {})


@pytest.fixture
def group_with_delay(aws):
    """group_with_delay(seconds or None) -> ARN of a new instance target group with that deregistration delay."""

    def _create(delay):
        vpc = aws('ec2').create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']
        arn = aws('elbv2').create_target_group(Name='tg-%s' % uuid.uuid4().hex[:12], Protocol='HTTP', Port=80,
                                               VpcId=vpc, TargetType='instance')['TargetGroups'][0]['TargetGroupArn']
        if delay is not None:
            aws('elbv2').modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
                {'Key': 'deregistration_delay.timeout_seconds', 'Value': str(delay)}])
        return arn

    return _create


def test_the_default_delay_of_300_s_is_returned_with_a_warning_that_says_what_to_set(run_module, group_with_delay):
    arn = group_with_delay(None)
    result = run_module(elbv2_target, target_group_arn=arn, target_id=INSTANCE_ID, region=REGION,
                        max_deregistration_delay=100)
    assert result['changed'] is True
    assert result['deregistration_delay'] == 300
    # ansible-core 2.19 returns warnings as structured records; their text is enough here.
    assert len(result['warnings']) == 1
    warning = json.dumps(result['warnings'])
    assert 'drains deregistered targets for 300 s' in warning
    assert 'Key=deregistration_delay.timeout_seconds,Value=100' in warning and arn in warning


def test_a_delay_that_fits_is_returned_without_a_warning(run_module, group_with_delay):
    arn = group_with_delay(90)
    result = run_module(elbv2_target, target_group_arn=arn, target_id=INSTANCE_ID, region=REGION,
                        max_deregistration_delay=100, _check_mode=True)
    assert result['deregistration_delay'] == 90
    assert not result.get('warnings')


def test_without_the_option_the_attribute_is_not_read(run_module, group_with_delay):
    result = run_module(elbv2_target, target_group_arn=group_with_delay(600), target_id=INSTANCE_ID, region=REGION)
    assert 'deregistration_delay' not in result
    assert not result.get('warnings')


def test_the_limit_is_inclusive():
    assert elbv2.drain_warning(100, 'arn') is None
    assert elbv2.drain_warning(101, 'arn').startswith('Target group arn drains deregistered targets for 101 s')
