"""cloudmeta.imds.autoscaling_lifecycle_action against a double of the Auto Scaling query API.

moto implements neither CompleteLifecycleAction nor
RecordLifecycleActionHeartbeat, so boto3 talks to
tests/utils/servers/autoscaling_double.py on 127.0.0.1 (endpoint_url), which
records every request's form parameters and answers AWS's XML. The tests check
the exact requests: the calls are the module's whole effect.
"""
import json
import os
import sys

import pytest

from aws_moto import REGION, aws_env, moto_url, run_module  # noqa: F401  pylint: disable=unused-import
from collection_path import REPO_ROOT

from ansible_collections.cloudmeta.imds.plugins.modules import autoscaling_lifecycle_action

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))
from servers.autoscaling_double import AutoScalingDouble  # noqa: E402

INSTANCE_ID = 'i-0123456789abcdef0'
NO_ACTION = 'No active Lifecycle Action found with instance ID %s' % INSTANCE_ID


@pytest.fixture
def double(aws_env):  # pylint: disable=unused-argument
    """double(errors=None) -> a started AutoScalingDouble (aws_env gives boto3 dummy keys)."""
    started = []

    def _start(errors=None):
        started.append(AutoScalingDouble(errors).start())
        return started[-1]

    yield _start
    for server in started:
        server.stop()


def args(server, **extra):
    base = dict(group_name='web-asg', hook_name='wait-for-bootstrap', instance_id=INSTANCE_ID, region=REGION,
                endpoint_url=server.url)
    base.update(extra)
    return base


def api_params(request):
    """The request without the protocol's own Version."""
    return {key: value for key, value in request.items() if key != 'Version'}


def test_completes_with_continue(run_module, double):
    server = double()
    result = run_module(autoscaling_lifecycle_action, **args(server))
    assert result['changed'] is True and result['active'] is True
    assert result['lifecycle_action'] == {'group_name': 'web-asg', 'hook_name': 'wait-for-bootstrap',
                                          'instance_id': INSTANCE_ID, 'action': 'complete', 'result': 'CONTINUE'}
    assert [api_params(request) for request in server.requests] == [{
        'Action': 'CompleteLifecycleAction', 'AutoScalingGroupName': 'web-asg',
        'LifecycleHookName': 'wait-for-bootstrap', 'InstanceId': INSTANCE_ID, 'LifecycleActionResult': 'CONTINUE'}]
    assert server.requests[0]['Version'] == '2011-01-01'


def test_abandons_and_sends_heartbeats(run_module, double):
    server = double()
    run_module(autoscaling_lifecycle_action, **args(server, result='ABANDON'))
    heartbeat = run_module(autoscaling_lifecycle_action, **args(server, action='heartbeat'))
    assert heartbeat['changed'] is True and heartbeat['lifecycle_action']['result'] is None
    assert [api_params(request) for request in server.requests] == [
        {'Action': 'CompleteLifecycleAction', 'AutoScalingGroupName': 'web-asg',
         'LifecycleHookName': 'wait-for-bootstrap', 'InstanceId': INSTANCE_ID, 'LifecycleActionResult': 'ABANDON'},
        {'Action': 'RecordLifecycleActionHeartbeat', 'AutoScalingGroupName': 'web-asg',
         'LifecycleHookName': 'wait-for-bootstrap', 'InstanceId': INSTANCE_ID}]


def test_check_mode_sends_nothing(run_module, double):
    server = double()
    result = run_module(autoscaling_lifecycle_action, _check_mode=True, **args(server))
    assert result['changed'] is True
    assert server.requests == []


def test_no_waiting_action_is_no_change_so_a_second_bootstrap_succeeds(run_module, double):
    server = double({'CompleteLifecycleAction': ('ValidationError', NO_ACTION)})
    result = run_module(autoscaling_lifecycle_action, **args(server))
    assert not result.get('failed'), result
    assert result['changed'] is False and result['active'] is False
    assert NO_ACTION in result['msg']
    assert len(server.requests) == 1


def test_other_errors_fail_with_the_aws_code_and_message(run_module, double):
    server = double({'CompleteLifecycleAction': ('AccessDenied', 'User is not authorized to perform '
                                                 'autoscaling:CompleteLifecycleAction')})
    result = run_module(autoscaling_lifecycle_action, **args(server))
    assert result['failed'] is True
    assert result['error_code'] == 'AccessDenied'
    assert 'not authorized to perform autoscaling:CompleteLifecycleAction' in result['msg']
    assert 'web-asg' in result['msg'] and INSTANCE_ID in result['msg']


@pytest.mark.parametrize('field, value', [('group_name', 'web\nasg'), ('instance_id', 'i-nothex'),
                                          ('hook_name', '')])
def test_bad_names_fail_before_any_request(run_module, double, field, value):
    server = double()
    result = run_module(autoscaling_lifecycle_action, **args(server, **{field: value}))
    assert result['failed'] is True
    assert json.dumps(value)[1:-1] in result['msg'] or repr(value) in result['msg']
    assert server.requests == []
