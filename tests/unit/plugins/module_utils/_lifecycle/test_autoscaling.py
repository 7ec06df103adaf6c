"""Lifecycle hook calls, checked request by request with botocore's Stubber.

moto implements neither complete_lifecycle_action nor
record_lifecycle_action_heartbeat, so the Stubber is the double: it fails the
test on any call or parameter other than the expected ones.
"""
import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle.agent import BackendError
from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle.autoscaling import LifecycleHook

IDS = dict(AutoScalingGroupName="web-asg", LifecycleHookName="drain-before-terminate", InstanceId="i-0123456789abcdef0")


@pytest.fixture
def stubbed():
    client = boto3.client("autoscaling", region_name="eu-west-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def hook(client):
    return LifecycleHook(client, "web-asg", "drain-before-terminate", "i-0123456789abcdef0")


def test_complete_sends_exactly_the_hook_and_result(stubbed):
    client, stubber = stubbed
    stubber.add_response("complete_lifecycle_action", {}, dict(IDS, LifecycleActionResult="CONTINUE"))
    assert hook(client).complete() == "lifecycle hook drain-before-terminate of web-asg completed with CONTINUE"


def test_abandon(stubbed):
    client, stubber = stubbed
    stubber.add_response("complete_lifecycle_action", {}, dict(IDS, LifecycleActionResult="ABANDON"))
    hook(client).complete(result="ABANDON")


def test_heartbeat(stubbed):
    client, stubber = stubbed
    stubber.add_response("record_lifecycle_action_heartbeat", {}, IDS)
    assert hook(client).heartbeat() == "heartbeat sent for lifecycle hook drain-before-terminate"


def test_an_aws_error_is_a_backend_error_naming_the_call(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("complete_lifecycle_action", service_error_code="ValidationError",
                             service_message="No active Lifecycle Action found with instance ID i-0123456789abcdef0",
                             expected_params=dict(IDS, LifecycleActionResult="CONTINUE"))
    with pytest.raises(BackendError, match=r"complete_lifecycle_action for i-0123456789abcdef0 in web-asg: "
                                           r"ValidationError: No active Lifecycle Action"):
        hook(client).complete()


@pytest.mark.parametrize("group, name, instance_id, what", [
    ("", "h", "i-0123456789abcdef0", "Auto Scaling group name"),
    ("web\nasg", "h", "i-0123456789abcdef0", "Auto Scaling group name"),
    ("web", "x" * 256, "i-0123456789abcdef0", "lifecycle hook name"),
    ("web", "h", "i-0123456789abcdef0\n", "instance ID"),
])
def test_bad_names_are_refused_before_any_call(group, name, instance_id, what):
    with pytest.raises(ValueError, match="The %s" % what):
        LifecycleHook(None, group, name, instance_id)


def test_unknown_result_is_refused():
    with pytest.raises(ValueError, match="CONTINUE, ABANDON"):
        hook(None).complete(result="MAYBE")
