# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""AWS Cloud Map: register, deregister and "is it registered" for one service instance, with errors phrased for users.

Used by the cloudmap_instance module. boto3 and the standard library only,
no ansible import, so that programs on the instance can use it as well.
"""

from __future__ import annotations

import re

from .._aws.calls import AwsError, call, check_identifier
from .._common.backoff import EQUAL, Backoff
from .._common.deadline import Deadline

RESERVED_ATTRIBUTES = frozenset((
    'AWS_ALIAS_DNS_NAME',
    'AWS_EC2_INSTANCE_ID',
    'AWS_INIT_HEALTH_STATUS',
    'AWS_INSTANCE_CNAME',
    'AWS_INSTANCE_IPV4',
    'AWS_INSTANCE_IPV6',
    'AWS_INSTANCE_PORT',
))
MAX_CUSTOM_ATTRIBUTES = 30
MAX_KEY_LENGTH = 255
MAX_VALUE_LENGTH = 1024
MAX_TOTAL_LENGTH = 5000
# The API's own patterns: printable ASCII keys; values may have inner blanks.
# Used with fullmatch(): "$" would also match before a final newline.
KEY_PATTERN = re.compile(r'[!-~]+')
VALUE_PATTERN = re.compile(r'([!-~][ \t!-~]*)?[!-~]?')
INSTANCE_ID_PATTERN = re.compile(r'[0-9a-zA-Z_/:.@-]{1,64}')
# GetOperation (and a DuplicateRequest retry): 1 s, doubling to 8 s, equal
# jitter, so a fleet's instances do not poll in step.
POLL_FIRST = 1.0
POLL_CAP = 8.0


def poll_backoff():
    return Backoff(POLL_FIRST, POLL_CAP, jitter=EQUAL)


def normalize_attributes(attributes):
    """Attributes as Cloud Map stores them: a str -> str map. Raises AwsError when the API would refuse them."""
    result = {}
    for key, value in (attributes or {}).items():
        if value is None:
            raise AwsError('Attribute %s has no value; remove it or give it one.' % key)
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        result[str(key)] = str(value)
    problems = []
    for key, value in sorted(result.items()):
        if len(key) > MAX_KEY_LENGTH or not KEY_PATTERN.fullmatch(key):
            problems.append('key %r must be 1 to %d printable ASCII characters without spaces' % (key, MAX_KEY_LENGTH))
        if len(value) > MAX_VALUE_LENGTH or not VALUE_PATTERN.fullmatch(value):
            problems.append('value of %s must be at most %d printable ASCII characters, with no leading or trailing '
                            'blanks or line breaks; got %r' % (key, MAX_VALUE_LENGTH, value[:80]))
    custom = [key for key in result if key not in RESERVED_ATTRIBUTES]
    if len(custom) > MAX_CUSTOM_ATTRIBUTES:
        problems.append('%d custom attributes given, at most %d are allowed' % (len(custom), MAX_CUSTOM_ATTRIBUTES))
    total = sum(len(key) + len(value) for key, value in result.items())
    if total > MAX_TOTAL_LENGTH:
        problems.append('keys and values add up to %d characters, at most %d are allowed' % (total, MAX_TOTAL_LENGTH))
    if 'AWS_EC2_INSTANCE_ID' in result:
        others = sorted(set(result) - {'AWS_EC2_INSTANCE_ID', 'AWS_INIT_HEALTH_STATUS'})
        if others:
            problems.append('AWS_EC2_INSTANCE_ID can only be combined with AWS_INIT_HEALTH_STATUS, not with %s'
                            % ', '.join(others))
    if problems:
        raise AwsError('Invalid Cloud Map attributes: %s.' % '; '.join(problems))
    return result


def attributes_match(desired, current):
    """True when CURRENT (from GetInstance) already is what DESIRED asks for."""
    desired = dict(desired)
    current = dict(current)
    # Only read when the instance is created; Cloud Map need not echo it.
    if 'AWS_INIT_HEALTH_STATUS' not in current:
        desired.pop('AWS_INIT_HEALTH_STATUS', None)
    # Cloud Map derives AWS_INSTANCE_IPV4 from AWS_EC2_INSTANCE_ID.
    if 'AWS_EC2_INSTANCE_ID' in desired and 'AWS_INSTANCE_IPV4' not in desired:
        current.pop('AWS_INSTANCE_IPV4', None)
    return desired == current


class ServiceClient:
    """The Cloud Map calls registration makes, with errors phrased for users."""

    def __init__(self, client, service_id, backoff=poll_backoff):
        self.client = client
        self.service_id = service_id
        # A factory: every wait starts again from POLL_FIRST.
        self.backoff = backoff

    def _service_error(self, exc):
        if exc.code == 'ServiceNotFound':
            return AwsError('Cloud Map service %s does not exist in this region (or is not visible to these '
                            'credentials).' % self.service_id, code=exc.code)
        return exc

    def get(self, instance_id):
        """The instance's attributes, or None when it is not registered."""
        try:
            response = call(self.client.get_instance, ServiceId=self.service_id, InstanceId=instance_id)
        except AwsError as exc:
            if exc.code == 'InstanceNotFound':
                return None
            raise self._service_error(exc) from None
        return response['Instance'].get('Attributes') or {}

    def register(self, instance_id, attributes, deadline):
        return self._submit(deadline, self.client.register_instance,
                            ServiceId=self.service_id, InstanceId=instance_id, Attributes=attributes)

    def deregister(self, instance_id, deadline):
        """The operation ID, or None when the instance was already gone."""
        try:
            return self._submit(deadline, self.client.deregister_instance,
                                ServiceId=self.service_id, InstanceId=instance_id)
        except AwsError as exc:
            if exc.code == 'InstanceNotFound':
                return None
            raise

    def _submit(self, deadline, method, **kwargs):
        # Cloud Map refuses a second request for an instance while the first
        # is still running; it is worth waiting for, within the same bound.
        backoff = self.backoff()
        while True:
            try:
                return call(method, **kwargs)['OperationId']
            except AwsError as exc:
                if exc.code != 'DuplicateRequest' or deadline.expired():
                    raise self._service_error(exc) from None
            backoff.pause(deadline)

    def operation_status(self, operation_id):
        operation = call(self.client.get_operation, OperationId=operation_id)['Operation']
        return operation.get('Status'), operation.get('ErrorCode'), operation.get('ErrorMessage')

    def wait(self, operation_id, deadline):
        """Poll the operation to SUCCESS; raises AwsError on FAIL or at the deadline."""
        backoff = self.backoff()
        while True:
            status, code, message = self.operation_status(operation_id)
            if status == 'SUCCESS':
                return status
            if status == 'FAIL':
                raise AwsError('Cloud Map operation %s failed: %s%s'
                               % (operation_id, '%s: ' % code if code else '', message or 'no reason given'))
            if deadline.expired():
                raise AwsError('Cloud Map operation %s is still %s after %s seconds; check it with '
                               '"aws servicediscovery get-operation --operation-id %s".'
                               % (operation_id, status, deadline.seconds, operation_id))
            backoff.pause(deadline)


def apply(service, params, check_mode=False):
    """What the cloudmap_instance module does with PARAMS (its options): the result."""
    instance_id = check_identifier('instance_id', params['instance_id'])
    check_identifier('service_id', params['service_id'])
    if not INSTANCE_ID_PATTERN.fullmatch(instance_id):
        raise AwsError('instance_id %r must be 1 to 64 characters of letters, digits and _/:.@-.' % instance_id)
    present = params['state'] == 'present'
    desired = normalize_attributes(params['attributes']) if present else None

    current = service.get(instance_id)
    if present:
        changed = current is None or not attributes_match(desired, current)
    else:
        changed = current is not None
    after = (desired if changed else current) if present else None

    operation = None
    if changed and not check_mode:
        deadline = Deadline(params['wait_timeout'])
        if present:
            operation_id = service.register(instance_id, desired, deadline)
            kind = 'REGISTER_INSTANCE'
        else:
            operation_id = service.deregister(instance_id, deadline)
            kind = 'DEREGISTER_INSTANCE'
        if operation_id is None:
            changed = False
        else:
            status = service.wait(operation_id, deadline) if params['wait'] else 'SUBMITTED'
            operation = {'id': operation_id, 'type': kind, 'status': status}

    return dict(
        changed=changed,
        instance={'id': instance_id, 'attributes': after} if after is not None else None,
        operation=operation,
        diff={
            'before': {'id': instance_id, 'attributes': current} if current is not None else {},
            'after': {'id': instance_id, 'attributes': after} if after is not None else {},
        },
    )
