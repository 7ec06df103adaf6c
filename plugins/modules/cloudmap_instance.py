#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: cloudmap_instance
short_description: Register or deregister one instance in an AWS Cloud Map service
version_added: 1.0.0
description:
  - Registers an instance with its attributes in an AWS Cloud Map (service discovery) service, updates its attributes
    in place, or deregisters it.
  - It reads the instance first (GetInstance) and calls RegisterInstance only when the instance is missing or its
    attributes differ, so a second run reports no change and never creates a second copy.
  - Cloud Map applies changes asynchronously. With O(wait=true) the module polls the operation (GetOperation) until
    it succeeds or fails, for at most O(wait_timeout) seconds.
  - Deregistering an instance that does not exist succeeds with no change.
  - No Cloud Map module exists in amazon.aws or community.aws, hence this one.
author: cloudmeta.imds maintainers (@cloudmeta)
extends_documentation_fragment:
  - cloudmeta.imds.aws
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  service_id:
    description:
      - ID of the Cloud Map service, for example V(srv-e4anhexample0004).
    type: str
    required: true
  instance_id:
    description:
      - ID of the instance within the service, at most 64 characters. For an EC2 instance registering itself, its
        instance ID.
    type: str
    required: true
  attributes:
    description:
      - The complete set of attributes the instance should have. Attributes not listed are removed on update.
      - Reserved keys include C(AWS_INSTANCE_IPV4), C(AWS_INSTANCE_IPV6), C(AWS_INSTANCE_PORT), C(AWS_INSTANCE_CNAME),
        C(AWS_ALIAS_DNS_NAME), C(AWS_INIT_HEALTH_STATUS) and C(AWS_EC2_INSTANCE_ID). A DNS service with an A record
        needs C(AWS_INSTANCE_IPV4); an SRV record or a Route 53 health check needs C(AWS_INSTANCE_PORT).
      - Up to 30 custom attributes; keys up to 255 and values up to 1024 printable ASCII characters, and at most
        5000 characters for all keys and values together. Values are converted to strings.
      - C(AWS_EC2_INSTANCE_ID) (HTTP namespaces only) can only be combined with C(AWS_INIT_HEALTH_STATUS); Cloud Map
        then fills in C(AWS_INSTANCE_IPV4) itself, and the module does not count that as a difference.
      - C(AWS_INIT_HEALTH_STATUS) only applies when the instance is created, so a difference in it alone does not
        cause an update.
    type: dict
    default: {}
  state:
    description:
      - V(present) registers or updates the instance, V(absent) deregisters it.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - Wait until Cloud Map reports the operation as C(SUCCESS), and fail if it reports C(FAIL).
    type: bool
    default: true
  wait_timeout:
    description:
      - Maximum number of seconds to wait for the operation when O(wait=true).
      - Also bounds the retries while a previous operation on the same instance is still running (C(DuplicateRequest)).
    type: int
    default: 60
seealso:
  - name: RegisterInstance API reference
    description: Attributes and their rules.
    link: https://docs.aws.amazon.com/cloud-map/latest/api/API_RegisterInstance.html
  - module: cloudmeta.imds.elbv2_target
'''

EXAMPLES = r'''
- name: Gather the instance's identity
  cloudmeta.imds.metadata_facts:
    gather_subset: [min, network]

- name: Register this instance with its address, port and placement
  cloudmeta.imds.cloudmap_instance:
    service_id: srv-e4anhexample0004
    instance_id: "{{ ansible_facts['ec2']['instance_id'] }}"
    region: "{{ ansible_facts['ec2']['region'] }}"
    attributes:
      AWS_INSTANCE_IPV4: "{{ ansible_facts['ec2']['local_ipv4'] }}"
      AWS_INSTANCE_PORT: 8080
      AVAILABILITY_ZONE: "{{ ansible_facts['ec2']['availability_zone'] }}"
      VPC_ID: "{{ ansible_facts['ec2']['vpc_id'] }}"

- name: Deregister it at shutdown
  cloudmeta.imds.cloudmap_instance:
    service_id: srv-e4anhexample0004
    instance_id: "{{ ansible_facts['ec2']['instance_id'] }}"
    region: "{{ ansible_facts['ec2']['region'] }}"
    state: absent
'''

RETURN = r'''
instance:
  description:
    - The instance as it is after the task (in check mode, as it would be).
    - V(null) when it is not registered.
  returned: always
  type: dict
  contains:
    id:
      description: The instance ID within the service.
      type: str
      sample: i-0123456789abcdef0
    attributes:
      description: The instance's attributes.
      type: dict
      sample: {"AWS_INSTANCE_IPV4": "10.0.1.5", "AWS_INSTANCE_PORT": "8080", "AVAILABILITY_ZONE": "eu-west-1a"}
operation:
  description:
    - The Cloud Map operation the task started; V(null) when nothing was changed or in check mode.
  returned: always
  type: dict
  contains:
    id:
      description: The operation ID, for C(aws servicediscovery get-operation).
      type: str
      sample: gv4g5meo7ndmeh4fqskygvk23d2fijwa-k9xmplyzd
    type:
      description: C(REGISTER_INSTANCE) or C(DEREGISTER_INSTANCE).
      type: str
      sample: REGISTER_INSTANCE
    status:
      description: The last status seen, C(SUBMITTED), C(PENDING) or C(SUCCESS); not waited for when O(wait=false).
      type: str
      sample: SUCCESS
'''

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.calls import (
    AWS_ARGSPEC,
    AwsError,
    Deadline,
    aws_client,
    call,
    check_identifier,
)

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
POLL_INTERVAL = 1.0


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
    """The Cloud Map calls the module makes, with errors phrased for users."""

    def __init__(self, client, service_id):
        self.client = client
        self.service_id = service_id

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
        while True:
            try:
                return call(method, **kwargs)['OperationId']
            except AwsError as exc:
                if exc.code != 'DuplicateRequest' or deadline.expired():
                    raise self._service_error(exc) from None
            deadline.pause(POLL_INTERVAL)

    def operation_status(self, operation_id):
        operation = call(self.client.get_operation, OperationId=operation_id)['Operation']
        return operation.get('Status'), operation.get('ErrorCode'), operation.get('ErrorMessage')

    def wait(self, operation_id, deadline):
        """Poll the operation to SUCCESS; raises AwsError on FAIL or at the deadline."""
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
            deadline.pause(POLL_INTERVAL)


def run(module, service):
    params = module.params
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
    if changed and not module.check_mode:
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


def main():
    argument_spec = dict(
        service_id=dict(type='str', required=True),
        instance_id=dict(type='str', required=True),
        attributes=dict(type='dict', default={}),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=60),
    )
    argument_spec.update(AWS_ARGSPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if module.params['wait_timeout'] < 0:
        module.fail_json(msg='wait_timeout must not be negative.')

    client = aws_client(module, 'servicediscovery')
    try:
        result = run(module, ServiceClient(client, module.params['service_id']))
    except AwsError as exc:
        module.fail_json(msg=exc.message, **({'error_code': exc.code} if exc.code else {}))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
