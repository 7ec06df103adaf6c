"""cloudmeta.imds.instance_metadata_options run in-process against moto_server on 127.0.0.1.

moto's ModifyInstanceMetadataOptions drops every option a call leaves out,
where AWS keeps it (lifecycle-and-rollout.md); the module must send the full
set, and test_a_partial_change_keeps_the_other_options shows that it does.
"""
import pytest

from aws_moto import REGION, aws, aws_env, moto_url, run_module  # noqa: F401  pylint: disable=unused-import
from imdsv2_fleet import Fleet

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws import calls as _aws
from ansible_collections.cloudmeta.imds.plugins.module_utils._common.backoff import EQUAL, Backoff
from ansible_collections.cloudmeta.imds.plugins.module_utils._common.deadline import Deadline
from ansible_collections.cloudmeta.imds.plugins.module_utils._rollout import imdsv2 as _imdsv2
from ansible_collections.cloudmeta.imds.plugins.modules import instance_metadata_options

DEFAULTS = {'http_tokens': 'optional', 'http_put_response_hop_limit': 1, 'http_endpoint': 'enabled',
            'http_protocol_ipv6': 'disabled', 'instance_metadata_tags': 'disabled'}


@pytest.fixture
def fleet(aws):
    return Fleet(aws)


def test_moto_drops_options_a_call_leaves_out(fleet):
    # The quirk itself, so that this file notices the day moto behaves like AWS.
    instance = fleet.launch(metadata_options={'HttpPutResponseHopLimit': 3})[0]
    fleet.ec2.modify_instance_metadata_options(InstanceId=instance, HttpTokens='required')
    assert 'HttpEndpoint' not in fleet.options(instance)
    assert fleet.options(instance)['HttpPutResponseHopLimit'] != 3


def test_a_partial_change_keeps_the_other_options(run_module, fleet):
    instance = fleet.launch(metadata_options={'HttpPutResponseHopLimit': 3, 'InstanceMetadataTags': 'enabled'})[0]
    result = run_module(instance_metadata_options, instance_ids=[instance], http_tokens='required', region=REGION)

    assert result['changed'] is True, result
    assert fleet.options(instance) == {'State': 'applied', 'HttpTokens': 'required', 'HttpPutResponseHopLimit': 3,
                                       'HttpEndpoint': 'enabled', 'HttpProtocolIpv6': 'disabled',
                                       'InstanceMetadataTags': 'enabled'}
    assert result['instances'] == [{
        'instance_id': instance, 'changed': True, 'state': 'applied',
        'before': dict(DEFAULTS, http_put_response_hop_limit=3, instance_metadata_tags='enabled'),
        'after': dict(DEFAULTS, http_tokens='required', http_put_response_hop_limit=3, instance_metadata_tags='enabled'),
    }]


def test_second_run_changes_nothing(run_module, fleet):
    instances = fleet.launch(count=2)
    args = dict(filters={'tag:fleet': fleet.marker}, http_tokens='required', http_put_response_hop_limit=2)
    first = run_module(instance_metadata_options, **args)
    second = run_module(instance_metadata_options, **args)

    assert first['changed'] is True and sorted(first['changed_ids']) == sorted(instances)
    assert second['changed'] is False and second['changed_ids'] == []
    assert [item['changed'] for item in second['instances']] == [False, False]
    for instance in instances:
        assert fleet.options(instance)['HttpTokens'] == 'required'
        assert fleet.options(instance)['HttpPutResponseHopLimit'] == 2


def test_only_instances_that_differ_are_changed(run_module, fleet):
    enforced = fleet.launch(metadata_options={'HttpTokens': 'required'})[0]
    optional = fleet.launch()[0]
    result = run_module(instance_metadata_options, _diff=True, filters={'tag:fleet': fleet.marker},
                        http_tokens='required')
    assert result['changed_ids'] == [optional]
    assert result['diff'] == {'before': {optional: DEFAULTS}, 'after': {optional: dict(DEFAULTS, http_tokens='required')}}
    assert {item['instance_id']: item['changed'] for item in result['instances']} == {enforced: False, optional: True}


def test_check_mode_predicts_without_changing(run_module, fleet):
    instance = fleet.launch()[0]
    result = run_module(instance_metadata_options, _check_mode=True, instance_ids=[instance], http_tokens='required',
                        http_endpoint='enabled')
    assert result['changed'] is True
    assert result['instances'][0]['after']['http_tokens'] == 'required'
    assert fleet.options(instance)['HttpTokens'] == 'optional'


def test_no_match_changes_nothing(run_module, fleet):
    result = run_module(instance_metadata_options, filters={'tag:fleet': fleet.marker}, http_tokens='required')
    assert result['changed'] is False and result['instances'] == []


def test_terminated_instances_are_left_out(run_module, fleet):
    gone, alive = fleet.launch(count=2)
    fleet.ec2.terminate_instances(InstanceIds=[gone])
    result = run_module(instance_metadata_options, filters={'tag:fleet': fleet.marker}, http_tokens='required')
    assert result['changed_ids'] == [alive]


def test_unknown_instance_id_is_named(run_module, aws_env):
    result = run_module(instance_metadata_options, instance_ids=['i-0000000000000dead'], http_tokens='required')
    assert result.failed
    assert 'i-0000000000000dead' in result['msg']


@pytest.mark.parametrize('args, expected', [
    (dict(instance_ids=['i-0123456789abcdef0'], http_put_response_hop_limit=65), 'between 1 and 64, got 65'),
    (dict(instance_ids=['i-0123456789abcdef0'], http_tokens='required', wait_timeout=-1), 'wait_timeout'),
    (dict(instance_ids=['i-0123456789abcdef0']), 'one of the following is required: http_tokens'),
    (dict(http_tokens='required'), 'one of the following is required: instance_ids, filters'),
    (dict(instance_ids=[], http_tokens='required'), 'instance_ids is empty'),
])
def test_bad_arguments_are_refused_before_any_call(run_module, aws_env, args, expected):
    result = run_module(instance_metadata_options, **args)
    assert result.failed
    assert expected in result['msg']


class FakeEc2:
    """Instances whose options stay `pending` for a number of describes, to drive the wait loop."""

    def __init__(self, pending_for):
        self.pending_for = pending_for
        self.describes = 0

    def get_paginator(self, _name):
        return self

    def paginate(self, **_kwargs):
        self.describes += 1
        state = 'pending' if self.describes <= self.pending_for else 'applied'
        yield {'Reservations': [{'Instances': [{'InstanceId': 'i-1', 'State': {'Name': 'running'},
                                                'MetadataOptions': {'State': state}}]}]}


def fake_deadline(seconds):
    clock = [0.0]
    sleeps = []

    def sleep(interval):
        sleeps.append(interval)
        clock[0] += interval

    return Deadline(seconds, clock=lambda: clock[0], sleep=sleep), sleeps


def test_wait_backs_off_until_applied():
    deadline, sleeps = fake_deadline(300)
    # The random half of the equal jitter at its top: the steps themselves.
    backoff = Backoff(1.0, 15.0, EQUAL, uniform=lambda low, high: high)
    described = _imdsv2.wait_applied(FakeEc2(pending_for=6), ['i-1'], deadline, backoff=backoff)
    assert described['i-1']['MetadataOptions']['State'] == 'applied'
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0]


def test_the_default_wait_is_jittered_between_half_the_step_and_the_step():
    deadline, sleeps = fake_deadline(300)
    _imdsv2.wait_applied(FakeEc2(pending_for=6), ['i-1'], deadline)
    assert [step / 2 <= wait <= step for wait, step in zip(sleeps, [1.0, 2.0, 4.0, 8.0, 15.0, 15.0])] == [True] * 6


def test_wait_gives_up_at_the_timeout_naming_the_instance():
    deadline, sleeps = fake_deadline(20)
    with pytest.raises(_aws.AwsError) as error:
        _imdsv2.wait_applied(FakeEc2(pending_for=100), ['i-1'], deadline)
    assert 'Timed out after 20 seconds' in error.value.message and 'i-1' in error.value.message
    assert sum(sleeps) == 20
