"""cloudmeta.imds.instance_metadata_defaults against a test double: botocore's Stubber.

moto implements neither GetInstanceMetadataDefaults nor
ModifyInstanceMetadataDefaults, so these tests give the module a real boto3
EC2 client whose responses come from botocore.stub.Stubber. The Stubber
checks each request's operation and exact parameters against the API model
and the expectation, and fails on any request not expected; the tests then
check that every expected request was made.
"""
import boto3
import pytest
from botocore.stub import Stubber

from servers.aws import REGION
from servers.fixtures import run_module  # noqa: F401  pylint: disable=unused-import

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.module import AwsModule
from ansible_collections.cloudmeta.imds.plugins.modules import instance_metadata_defaults

NOTHING_SET = {'AccountLevel': {'ManagedBy': 'account'}}


@pytest.fixture
def ec2(monkeypatch):
    """A stubbed EC2 client the module gets instead of its own; nothing goes over the network."""
    client = boto3.session.Session(aws_access_key_id='testing', aws_secret_access_key='testing',
                                   region_name=REGION).client('ec2', endpoint_url='http://127.0.0.1:9')
    stubber = Stubber(client)
    monkeypatch.setattr(AwsModule, 'client', lambda module, service: client)
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_sets_only_what_differs(run_module, ec2):
    ec2.add_response('get_instance_metadata_defaults',
                     {'AccountLevel': {'HttpTokens': 'optional', 'HttpEndpoint': 'enabled', 'ManagedBy': 'account'}}, {})
    ec2.add_response('modify_instance_metadata_defaults', {'Return': True},
                     {'HttpTokens': 'required', 'HttpPutResponseHopLimit': 2})
    ec2.add_response('get_instance_metadata_defaults', {'AccountLevel': {
        'HttpTokens': 'required', 'HttpPutResponseHopLimit': 2, 'HttpEndpoint': 'enabled', 'ManagedBy': 'account'}}, {})

    result = run_module(instance_metadata_defaults, _diff=True, http_tokens='required', http_put_response_hop_limit=2,
                        http_endpoint='enabled', region=REGION)

    assert not result.failed, result.get('msg')
    assert result['changed'] is True
    assert result['previous'] == {'http_tokens': 'optional', 'http_put_response_hop_limit': -1,
                                  'http_endpoint': 'enabled', 'instance_metadata_tags': 'no-preference',
                                  'managed_by': 'account'}
    assert result['defaults'] == {'http_tokens': 'required', 'http_put_response_hop_limit': 2,
                                  'http_endpoint': 'enabled', 'instance_metadata_tags': 'no-preference',
                                  'managed_by': 'account'}
    assert result['diff']['before']['http_tokens'] == 'optional'
    assert result['diff']['after']['http_tokens'] == 'required'


def test_already_set_makes_no_modify_request(run_module, ec2):
    ec2.add_response('get_instance_metadata_defaults', {'AccountLevel': {'HttpTokens': 'required'}}, {})
    result = run_module(instance_metadata_defaults, http_tokens='required', region=REGION)
    assert result['changed'] is False
    assert result['defaults']['http_tokens'] == 'required'


def test_check_mode_reads_only(run_module, ec2):
    ec2.add_response('get_instance_metadata_defaults', NOTHING_SET, {})
    result = run_module(instance_metadata_defaults, _check_mode=True, http_tokens='required',
                        instance_metadata_tags='enabled', region=REGION)
    assert result['changed'] is True
    assert result['defaults']['http_tokens'] == 'required'
    assert result['defaults']['instance_metadata_tags'] == 'enabled'
    assert result['previous']['http_tokens'] == 'no-preference'


def test_no_preference_removes_a_default(run_module, ec2):
    ec2.add_response('get_instance_metadata_defaults', {'AccountLevel': {'HttpPutResponseHopLimit': 3}}, {})
    ec2.add_response('modify_instance_metadata_defaults', {'Return': True}, {'HttpPutResponseHopLimit': -1})
    ec2.add_response('get_instance_metadata_defaults', NOTHING_SET, {})
    result = run_module(instance_metadata_defaults, http_put_response_hop_limit=-1, region=REGION)
    assert result['changed'] is True
    assert result['defaults']['http_put_response_hop_limit'] == -1


def test_declarative_policy_is_explained_without_a_modify_request(run_module, ec2):
    ec2.add_response('get_instance_metadata_defaults', {'AccountLevel': {
        'ManagedBy': 'declarative-policy', 'ManagedExceptionMessage': 'Managed by the security team'}}, {})
    result = run_module(instance_metadata_defaults, http_tokens='required', region=REGION)
    assert result.failed
    assert 'declarative policy' in result['msg'] and 'Managed by the security team' in result['msg']


def test_aws_errors_are_reported(run_module, ec2):
    ec2.add_client_error('get_instance_metadata_defaults', service_error_code='UnauthorizedOperation',
                         service_message='You are not authorized to perform this operation.')
    result = run_module(instance_metadata_defaults, http_tokens='required', region=REGION)
    assert result.failed
    assert result['msg'] == 'UnauthorizedOperation: You are not authorized to perform this operation.'
    assert result['error_code'] == 'UnauthorizedOperation'


@pytest.mark.parametrize('limit', [0, 65, -2])
def test_bad_hop_limit_is_refused(run_module, limit, monkeypatch):
    monkeypatch.setattr(AwsModule, 'client', lambda module, service: pytest.fail('no call'))
    result = run_module(instance_metadata_defaults, http_put_response_hop_limit=limit, region=REGION)
    assert result.failed and 'got %d' % limit in result['msg']
