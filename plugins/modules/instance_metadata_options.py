#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: instance_metadata_options
short_description: Set the instance metadata options (IMDSv2 tokens, hop limit, endpoint) of EC2 instances
version_added: 1.1.0
description:
  - Sets C(HttpTokens), C(HttpPutResponseHopLimit), C(HttpEndpoint), C(HttpProtocolIpv6) and C(InstanceMetadataTags)
    on running or stopped EC2 instances chosen by ID or by EC2 filters, with C(ModifyInstanceMetadataOptions).
  - Options that are not given keep their current value. The module reads each instance's current options and
    always sends the full set, so the result is the same on AWS (which keeps options a call leaves out) and on
    implementations that drop them, such as moto.
  - Only instances whose options differ are changed, so a second run reports no change. Check mode reports what
    would change; diff mode shows the options of each instance before and after.
  - With O(wait=true) (the default) the module waits, backing off, until AWS reports the change as C(applied).
  - Terminated and shutting-down instances are left out.
  - Before requiring tokens, check with M(cloudmeta.imds.imdsv2_readiness_info) that nothing on the instance still
    uses IMDSv1; the C(cloudmeta.imds.imdsv2_rollout) playbook does both.
author: cloudmeta.imds maintainers (@cloudmeta)
extends_documentation_fragment:
  - cloudmeta.imds.aws
  - cloudmeta.imds.metadata_options
  - cloudmeta.imds.attributes
  - cloudmeta.imds.attributes.change_module
  - cloudmeta.imds.attributes.action_group_aws
options:
  instance_ids:
    description:
      - The instances to change. An ID that does not exist is an error.
      - At least one of O(instance_ids) and O(filters) is required; with both, instances must match both.
    type: list
    elements: str
  filters:
    description:
      - EC2 C(DescribeInstances) filters, as a dict of filter name to a value or a list of values (see the
        examples).
      - When nothing matches, nothing changes.
    type: dict
  wait:
    description:
      - Wait until AWS reports the new options as C(applied) on every changed instance.
    type: bool
    default: true
  wait_timeout:
    description:
      - Maximum number of seconds to wait when O(wait=true). Polling starts after one second and backs off to
        fifteen.
    type: int
    default: 300
notes:
  - Why not M(amazon.aws.ec2_instance)? It sets C(metadata_options) only as part of managing a whole instance, its
    C(http_tokens) defaults to V(optional), and it cannot select instances by filter. This module changes nothing
    but the metadata options.
  - "IAM: C(ec2:DescribeInstances) and C(ec2:ModifyInstanceMetadataOptions). See the IMDSv2 rollout guide for a
    least-privilege policy."
seealso:
  - module: cloudmeta.imds.imdsv2_readiness_info
  - module: cloudmeta.imds.instance_metadata_defaults
  - name: ModifyInstanceMetadataOptions API reference
    description: The options and their values.
    link: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyInstanceMetadataOptions.html
'''

EXAMPLES = r'''
- name: Require IMDSv2 on one instance and wait until it is applied
  cloudmeta.imds.instance_metadata_options:
    instance_ids: [i-0123456789abcdef0]
    http_tokens: required
    region: eu-west-1

- name: Require IMDSv2 on every running web instance; hop limit 2 for their containers
  cloudmeta.imds.instance_metadata_options:
    filters:
      "tag:role": web
      instance-state-name: running
    http_tokens: required
    http_put_response_hop_limit: 2
    region: eu-west-1

- name: Roll back one instance to allow IMDSv1 again
  cloudmeta.imds.instance_metadata_options:
    instance_ids: [i-0123456789abcdef0]
    http_tokens: optional
    region: eu-west-1
'''

RETURN = r'''
instances:
  description: Every instance in scope, with its options before and after (in check mode, the predicted options).
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: The instance ID.
      type: str
      sample: i-0123456789abcdef0
    changed:
      description: Whether the module changed (or in check mode, would change) this instance.
      type: bool
      sample: true
    before:
      description: The options before, with the keys of the module's options.
      type: dict
      sample: {"http_tokens": "optional", "http_put_response_hop_limit": 1, "http_endpoint": "enabled",
               "http_protocol_ipv6": "disabled", "instance_metadata_tags": "disabled"}
    after:
      description: The options after.
      type: dict
      sample: {"http_tokens": "required", "http_put_response_hop_limit": 1, "http_endpoint": "enabled",
               "http_protocol_ipv6": "disabled", "instance_metadata_tags": "disabled"}
    state:
      description:
        - C(applied) or C(pending), as AWS reported it last; V(null) for an instance that was not changed in check
          mode.
      type: str
      sample: applied
changed_ids:
  description: The IDs of the instances that changed (or would change).
  returned: always
  type: list
  elements: str
  sample: [i-0123456789abcdef0]
'''

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.module import AwsModule
from ansible_collections.cloudmeta.imds.plugins.module_utils._rollout.imdsv2 import OPTIONS_ARGSPEC, check_hop_limit
from ansible_collections.cloudmeta.imds.plugins.module_utils._rollout.instance_options import run


def main():
    argument_spec = dict(
        instance_ids=dict(type='list', elements='str'),
        filters=dict(type='dict'),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=300),
    )
    argument_spec.update(OPTIONS_ARGSPEC)
    module = AwsModule(
        argument_spec=argument_spec,
        required_one_of=[('instance_ids', 'filters'),
                         ('http_tokens', 'http_put_response_hop_limit', 'http_endpoint', 'http_protocol_ipv6',
                          'instance_metadata_tags')],
        supports_check_mode=True,
    )
    problem = check_hop_limit(module.params['http_put_response_hop_limit'])
    if problem:
        module.fail_json(msg=problem)
    if module.params['wait_timeout'] < 0:
        module.fail_json(msg='wait_timeout must not be negative, got %d.' % module.params['wait_timeout'])
    if module.params['instance_ids'] == []:
        module.fail_json(msg='instance_ids is empty: name at least one instance, or use filters.')

    module.exit_with(run, module.client('ec2'), module.params, module.check_mode)


if __name__ == '__main__':
    main()
