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
  - cloudmeta.imds.attributes
  - cloudmeta.imds.attributes.change_module
  - cloudmeta.imds.attributes.action_group_aws
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

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.module import AwsModule
from ansible_collections.cloudmeta.imds.plugins.module_utils._registration.cloudmap import ServiceClient, apply


def main():
    module = AwsModule(
        argument_spec=dict(
            service_id=dict(type='str', required=True),
            instance_id=dict(type='str', required=True),
            attributes=dict(type='dict', default={}),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            wait=dict(type='bool', default=True),
            wait_timeout=dict(type='int', default=60),
        ),
        supports_check_mode=True,
    )
    if module.params['wait_timeout'] < 0:
        module.fail_json(msg='wait_timeout must not be negative.')

    service = ServiceClient(module.client('servicediscovery'), module.params['service_id'])
    module.exit_with(apply, service, module.params, module.check_mode)


if __name__ == '__main__':
    main()
