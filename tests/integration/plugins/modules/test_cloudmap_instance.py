"""cloudmeta.imds.cloudmap_instance run in-process against moto_server on 127.0.0.1.

moto 5.2.5 appends a second copy when an instance ID is registered again,
where AWS updates in place (registration-backends.md section 2). The module
reads the instance first and registers only when something differs, so the
no-duplicate tests below hold on both; after an attribute update moto still
holds the old copy as well, which these tests do not take for truth.
Operation failures and DuplicateRequest, which moto never produces, are
covered against a minimal client at the end.
"""
import uuid

import pytest

from aws_moto import REGION, aws, aws_env, aws_lab, moto_url, run_module  # noqa: F401  pylint: disable=unused-import

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws import calls as _aws
from ansible_collections.cloudmeta.imds.plugins.module_utils._common.deadline import Deadline
from ansible_collections.cloudmeta.imds.plugins.module_utils._registration import cloudmap
from ansible_collections.cloudmeta.imds.plugins.modules import cloudmap_instance

INSTANCE_ID = 'i-0123456789abcdef0'
ATTRIBUTES = {
    'AWS_INSTANCE_IPV4': '10.0.1.25',
    'AWS_INSTANCE_PORT': '8080',
    'AVAILABILITY_ZONE': 'eu-west-1b',
    'VPC_ID': 'vpc-0a1b2c3d4e5f60718',
}


@pytest.fixture(scope='module')
def namespace_id(moto_url):
    cloudmap = aws_lab.client(moto_url, 'servicediscovery')
    operation = cloudmap.create_http_namespace(Name='ns-%s' % uuid.uuid4().hex[:8])['OperationId']
    return cloudmap.get_operation(OperationId=operation)['Operation']['Targets']['NAMESPACE']


@pytest.fixture
def service_id(aws, namespace_id):
    return aws('servicediscovery').create_service(Name='svc-%s' % uuid.uuid4().hex[:8],
                                                  NamespaceId=namespace_id)['Service']['Id']


def instances(aws, service):
    return [(item['Id'], item.get('Attributes', {}))
            for item in aws('servicediscovery').list_instances(ServiceId=service)['Instances']]


def args(service, **extra):
    base = dict(service_id=service, instance_id=INSTANCE_ID, region=REGION, attributes=dict(ATTRIBUTES))
    base.update(extra)
    return base


def test_registers_once_and_waits_for_the_operation(run_module, aws, service_id):
    first = run_module(cloudmap_instance, **args(service_id))
    second = run_module(cloudmap_instance, **args(service_id))

    assert first['changed'] is True
    assert first['operation']['type'] == 'REGISTER_INSTANCE'
    assert first['operation']['status'] == 'SUCCESS'
    assert first['instance'] == {'id': INSTANCE_ID, 'attributes': ATTRIBUTES}
    assert first['diff'] == {'before': {}, 'after': {'id': INSTANCE_ID, 'attributes': ATTRIBUTES}}
    assert second['changed'] is False
    assert second['operation'] is None
    assert instances(aws, service_id) == [(INSTANCE_ID, ATTRIBUTES)]


def test_values_are_stored_as_strings(run_module, aws, service_id):
    attributes = dict(ATTRIBUTES, AWS_INSTANCE_PORT=8080, ENABLED=True)
    first = run_module(cloudmap_instance, **args(service_id, attributes=attributes))
    again = run_module(cloudmap_instance, **args(service_id, attributes=dict(attributes, AWS_INSTANCE_PORT='8080')))
    assert first['changed'] is True and again['changed'] is False
    assert instances(aws, service_id)[0][1]['AWS_INSTANCE_PORT'] == '8080'
    assert instances(aws, service_id)[0][1]['ENABLED'] == 'true'


def test_changed_attributes_are_registered_again(run_module, aws, service_id):
    run_module(cloudmap_instance, **args(service_id))
    moved = dict(ATTRIBUTES, AWS_INSTANCE_IPV4='10.0.2.40')
    del moved['VPC_ID']

    result = run_module(cloudmap_instance, **args(service_id, attributes=moved))

    assert result['changed'] is True
    assert result['operation']['type'] == 'REGISTER_INSTANCE'
    assert result['diff'] == {'before': {'id': INSTANCE_ID, 'attributes': ATTRIBUTES},
                              'after': {'id': INSTANCE_ID, 'attributes': moved}}
    assert (INSTANCE_ID, moved) in instances(aws, service_id)


def test_check_mode_predicts_without_changing(run_module, aws, service_id):
    register = run_module(cloudmap_instance, _check_mode=True, **args(service_id))
    assert register['changed'] is True
    assert register['operation'] is None
    assert register['instance'] == {'id': INSTANCE_ID, 'attributes': ATTRIBUTES}
    assert instances(aws, service_id) == []

    run_module(cloudmap_instance, **args(service_id))
    deregister = run_module(cloudmap_instance, _check_mode=True, **args(service_id, state='absent'))
    assert deregister['changed'] is True
    assert instances(aws, service_id) == [(INSTANCE_ID, ATTRIBUTES)]


def test_absent_deregisters_then_tolerates_already_gone(run_module, aws, service_id):
    run_module(cloudmap_instance, **args(service_id))

    first = run_module(cloudmap_instance, **args(service_id, state='absent'))
    second = run_module(cloudmap_instance, **args(service_id, state='absent'))

    assert first['changed'] is True
    assert first['operation']['type'] == 'DEREGISTER_INSTANCE'
    assert first['operation']['status'] == 'SUCCESS'
    assert first['instance'] is None
    assert second['changed'] is False and not second.failed
    assert instances(aws, service_id) == []


def test_other_instances_are_left_alone(run_module, aws, service_id):
    aws('servicediscovery').register_instance(ServiceId=service_id, InstanceId='i-0fffffffffffffff0',
                                              Attributes={'AWS_INSTANCE_IPV4': '10.0.9.9'})
    run_module(cloudmap_instance, **args(service_id))
    run_module(cloudmap_instance, **args(service_id, state='absent'))
    assert instances(aws, service_id) == [('i-0fffffffffffffff0', {'AWS_INSTANCE_IPV4': '10.0.9.9'})]


def test_missing_service_is_explained(run_module, aws_env):
    result = run_module(cloudmap_instance, **args('srv-doesnotexist'))
    assert result.failed
    assert 'srv-doesnotexist does not exist' in result['msg']


@pytest.mark.parametrize('attributes, expected', [
    ({'BAD KEY': 'x'}, "key 'BAD KEY' must be 1 to 255 printable ASCII characters"),
    ({'K' * 256: 'x'}, 'must be 1 to 255 printable ASCII characters'),
    ({'NOTE': 'x' * 1025}, 'value of NOTE must be at most 1024'),
    ({'NOTE': ' padded'}, 'value of NOTE must be at most 1024'),
    ({'NOTE': None}, 'Attribute NOTE has no value'),
    (dict(('C%d' % n, 'v') for n in range(31)), '31 custom attributes given, at most 30'),
    (dict(('C%d' % n, 'v' * 300) for n in range(20)), 'add up to'),
    ({'AWS_EC2_INSTANCE_ID': INSTANCE_ID, 'AVAILABILITY_ZONE': 'eu-west-1b'},
     'AWS_EC2_INSTANCE_ID can only be combined with AWS_INIT_HEALTH_STATUS, not with AVAILABILITY_ZONE'),
])
def test_attributes_the_api_would_refuse_fail_before_any_change(run_module, aws, service_id, attributes, expected):
    result = run_module(cloudmap_instance, **args(service_id, attributes=attributes))
    assert result.failed
    assert expected in result['msg']
    assert instances(aws, service_id) == []


def test_instance_id_is_checked(run_module, service_id):
    result = run_module(cloudmap_instance, **args(service_id, instance_id='x' * 65))
    assert result.failed
    assert 'must be 1 to 64 characters' in result['msg']


# Metadata served with a trailing newline must not reach Cloud Map: the message
# shows the value as Python writes it, so the newline is visible.
@pytest.mark.parametrize('field, value', [
    ('instance_id', INSTANCE_ID + '\n'),
    ('instance_id', INSTANCE_ID + ' '),
    ('attributes', dict(ATTRIBUTES, AWS_INSTANCE_IPV4='10.0.1.25\n')),
    ('attributes', dict(ATTRIBUTES, VPC_ID='vpc-0a1b2c3d4e5f60718\n')),
])
def test_values_ending_in_a_newline_are_refused_before_any_change(run_module, aws, service_id, field, value):
    result = run_module(cloudmap_instance, **args(service_id, **{field: value}))
    assert result.failed
    assert (repr(value) if field == 'instance_id' else '\\n') in result['msg']
    assert instances(aws, service_id) == []


def test_a_service_id_ending_in_a_newline_is_refused(run_module, service_id):
    result = run_module(cloudmap_instance, **args(service_id + '\n'))
    assert result.failed
    assert repr(service_id + '\n') in result['msg']


# -- comparison rules for attributes Cloud Map consumes or fills in ------------

def test_init_health_status_alone_is_no_difference():
    desired = dict(ATTRIBUTES, AWS_INIT_HEALTH_STATUS='UNHEALTHY')
    assert cloudmap.attributes_match(desired, ATTRIBUTES)
    assert not cloudmap.attributes_match(desired, dict(ATTRIBUTES, AWS_INIT_HEALTH_STATUS='HEALTHY'))


def test_ipv4_filled_in_from_the_ec2_instance_id_is_no_difference():
    desired = {'AWS_EC2_INSTANCE_ID': INSTANCE_ID}
    assert cloudmap.attributes_match(desired, {'AWS_EC2_INSTANCE_ID': INSTANCE_ID, 'AWS_INSTANCE_IPV4': '10.0.1.25'})
    assert not cloudmap.attributes_match(ATTRIBUTES, dict(ATTRIBUTES, EXTRA='1'))


# -- operations moto always reports as SUCCESS -----------------------------------

class OperationsClient(object):
    """Answers GetOperation and RegisterInstance from scripted outcomes, like botocore would."""

    def __init__(self, statuses=(), register_errors=()):
        self.statuses = list(statuses)
        self.register_errors = list(register_errors)
        self.register_calls = 0

    @staticmethod
    def _error(code, operation):
        import botocore.exceptions  # pylint: disable=import-outside-toplevel

        return botocore.exceptions.ClientError({'Error': {'Code': code, 'Message': code + ' message'}}, operation)

    def get_operation(self, OperationId):  # pylint: disable=invalid-name
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        operation = {'Id': OperationId, 'Status': status}
        if status == 'FAIL':
            operation.update(ErrorCode='INVALID_INPUT', ErrorMessage='The service has an A record; AWS_INSTANCE_IPV4 is required')
        return {'Operation': operation}

    def register_instance(self, **_kwargs):
        self.register_calls += 1
        if self.register_errors:
            raise self._error(self.register_errors.pop(0), 'RegisterInstance')
        return {'OperationId': 'op-1'}


def fake_deadline(seconds):
    clock = [0.0]
    return Deadline(seconds, clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s)), clock


def test_a_failed_operation_fails_with_the_reason():
    service = cloudmap.ServiceClient(OperationsClient(['PENDING', 'FAIL']), 'srv-1')
    deadline, _clock = fake_deadline(60)
    with pytest.raises(_aws.AwsError) as error:
        service.wait('op-1', deadline)
    assert 'operation op-1 failed: INVALID_INPUT: The service has an A record' in error.value.message


def test_a_pending_operation_times_out_with_advice():
    service = cloudmap.ServiceClient(OperationsClient(['PENDING']), 'srv-1')
    deadline, clock = fake_deadline(5)
    with pytest.raises(_aws.AwsError) as error:
        service.wait('op-1', deadline)
    assert 'still PENDING after 5 seconds' in error.value.message
    assert 'get-operation --operation-id op-1' in error.value.message
    assert clock[0] == 5


def test_duplicate_request_is_retried_within_the_deadline():
    client = OperationsClient(register_errors=['DuplicateRequest', 'DuplicateRequest'])
    service = cloudmap.ServiceClient(client, 'srv-1')
    deadline, _clock = fake_deadline(10)
    assert service.register(INSTANCE_ID, ATTRIBUTES, deadline) == 'op-1'
    assert client.register_calls == 3


def test_duplicate_request_gives_up_at_the_deadline():
    client = OperationsClient(register_errors=['DuplicateRequest'] * 100)
    service = cloudmap.ServiceClient(client, 'srv-1')
    deadline, _clock = fake_deadline(3)
    with pytest.raises(_aws.AwsError) as error:
        service.register(INSTANCE_ID, ATTRIBUTES, deadline)
    assert error.value.code == 'DuplicateRequest'
