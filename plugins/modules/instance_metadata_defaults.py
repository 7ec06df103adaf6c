#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: instance_metadata_defaults
short_description: Set the account's default instance metadata options for new launches in a region
version_added: 1.1.0
description:
  - Reads the account-level defaults with C(GetInstanceMetadataDefaults) and sets the ones that differ with
    C(ModifyInstanceMetadataDefaults). The defaults apply to instances launched afterwards in the region, when neither
    the launch request, the launch template nor the AMI sets the option; existing instances are not changed (use
    M(cloudmeta.imds.instance_metadata_options) for them).
  - Options that are not given are left as they are. V(no-preference) (and V(-1) for the hop limit) removes a
    default.
  - A second run reports no change; check mode reports what would change; diff mode shows the defaults before and
    after.
  - When a declarative policy of AWS Organizations manages the defaults, AWS refuses changes; the module then fails
    with AWS's explanation.
author: cloudmeta.imds maintainers (@cloudmeta)
extends_documentation_fragment:
  - cloudmeta.imds.aws
  - cloudmeta.imds.attributes
  - cloudmeta.imds.attributes.change_module
  - cloudmeta.imds.attributes.action_group_aws
options:
  http_tokens:
    description:
      - V(required) makes new launches IMDSv2 only; V(optional) allows IMDSv1; V(no-preference) removes the default.
    type: str
    choices: [optional, required, no-preference]
  http_put_response_hop_limit:
    description:
      - The default hop limit, 1 to 64; V(-1) removes the default.
    type: int
  http_endpoint:
    description:
      - Whether IMDS is on for new launches by default.
    type: str
    choices: [enabled, disabled, no-preference]
  instance_metadata_tags:
    description:
      - Whether instance tags can be read from instance metadata by default.
    type: str
    choices: [enabled, disabled, no-preference]
notes:
  - No module of amazon.aws sets these defaults.
  - "IAM: C(ec2:GetInstanceMetadataDefaults) and C(ec2:ModifyInstanceMetadataDefaults)."
  - The defaults are per account and region; run the module once per region.
seealso:
  - module: cloudmeta.imds.instance_metadata_options
  - name: ModifyInstanceMetadataDefaults API reference
    description: The defaults and their values.
    link: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyInstanceMetadataDefaults.html
'''

EXAMPLES = r'''
- name: Launch every new instance in eu-west-1 with IMDSv2 required and hop limit 2
  cloudmeta.imds.instance_metadata_defaults:
    http_tokens: required
    http_put_response_hop_limit: 2
    region: eu-west-1

- name: Remove the account's hop limit default
  cloudmeta.imds.instance_metadata_defaults:
    http_put_response_hop_limit: -1
    region: eu-west-1
'''

RETURN = r'''
defaults:
  description:
    - The account-level defaults after the change (in check mode, the predicted ones). V(no-preference) and V(-1) mean
      no default.
  returned: always
  type: dict
  contains:
    http_tokens:
      description: The default for C(HttpTokens).
      type: str
      sample: required
    http_put_response_hop_limit:
      description: The default hop limit.
      type: int
      sample: 2
    http_endpoint:
      description: The default for C(HttpEndpoint).
      type: str
      sample: no-preference
    instance_metadata_tags:
      description: The default for C(InstanceMetadataTags).
      type: str
      sample: no-preference
    managed_by:
      description: V(account), or V(declarative-policy) when AWS Organizations manages the defaults.
      type: str
      sample: account
previous:
  description: The defaults before the change, with the same keys.
  returned: always
  type: dict
  sample: {"http_tokens": "no-preference", "http_put_response_hop_limit": -1, "http_endpoint": "no-preference",
           "instance_metadata_tags": "no-preference", "managed_by": "account"}
'''

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.module import AwsModule
from ansible_collections.cloudmeta.imds.plugins.module_utils._rollout.defaults import NO_HOP_LIMIT, NO_PREFERENCE, run
from ansible_collections.cloudmeta.imds.plugins.module_utils._rollout.imdsv2 import MAX_HOP_LIMIT


def main():
    argument_spec = dict(
        http_tokens=dict(type='str', choices=['optional', 'required', NO_PREFERENCE]),
        http_put_response_hop_limit=dict(type='int'),
        http_endpoint=dict(type='str', choices=['enabled', 'disabled', NO_PREFERENCE]),
        instance_metadata_tags=dict(type='str', choices=['enabled', 'disabled', NO_PREFERENCE]),
    )
    module = AwsModule(argument_spec=argument_spec, supports_check_mode=True)
    hop_limit = module.params['http_put_response_hop_limit']
    if hop_limit is not None and hop_limit != NO_HOP_LIMIT and not 1 <= hop_limit <= MAX_HOP_LIMIT:
        module.fail_json(msg='http_put_response_hop_limit must be between 1 and %d, or -1 for no default; got %d.'
                             % (MAX_HOP_LIMIT, hop_limit))

    module.exit_with(run, module.client('ec2'), module.params, module.check_mode)


if __name__ == '__main__':
    main()
