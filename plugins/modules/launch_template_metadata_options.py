#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: launch_template_metadata_options
short_description: Add a launch template version with new instance metadata options (such as IMDSv2 required)
version_added: 1.1.0
description:
  - Creates a new version of an EC2 launch template from a source version (by default the default version) that
    differs only in its instance metadata options, and optionally makes it the default version, so that every
    instance launched from the template afterwards, by hand or by an Auto Scaling group that uses the default
    version, starts with these options.
  - Options that are not given keep the source version's value.
  - When the source version already has the requested options (and, with O(set_default=true), is the default
    version), nothing changes, so a second run reports no change. Check mode reports what would change; diff mode
    shows the source and new metadata options.
author: cloudmeta.imds maintainers (@cloudmeta)
extends_documentation_fragment:
  - cloudmeta.imds.aws
  - cloudmeta.imds.metadata_options
  - cloudmeta.imds.attributes
  - cloudmeta.imds.attributes.change_module
  - cloudmeta.imds.attributes.action_group_aws
options:
  launch_template_id:
    description:
      - The launch template's ID. One of O(launch_template_id) and O(launch_template_name) is required.
    type: str
  launch_template_name:
    description:
      - The launch template's name.
    type: str
  source_version:
    description:
      - The version to start from, a number, V($Default) or V($Latest).
    type: str
    default: $Default
  set_default:
    description:
      - Make the new version (or the source version when it already has the options) the default version.
    type: bool
    default: true
  version_description:
    description:
      - The description of the new version.
    type: str
    default: Instance metadata options set by cloudmeta.imds
notes:
  - An Auto Scaling group that names a fixed version of the template keeps launching that version; point it at
    V($Default) or at the new version.
  - "IAM: C(ec2:DescribeLaunchTemplateVersions), C(ec2:CreateLaunchTemplateVersion) and, for O(set_default=true),
    C(ec2:ModifyLaunchTemplate)."
seealso:
  - module: cloudmeta.imds.imdsv2_readiness_info
  - module: cloudmeta.imds.instance_metadata_defaults
'''

EXAMPLES = r'''
- name: Require IMDSv2 for everything the web launch template launches from now on
  cloudmeta.imds.launch_template_metadata_options:
    launch_template_name: web
    http_tokens: required
    region: eu-west-1
'''

RETURN = r'''
launch_template_id:
  description: The launch template's ID.
  returned: always
  type: str
  sample: lt-0123456789abcdef0
source_version:
  description: The number of the source version.
  returned: always
  type: str
  sample: "3"
version:
  description:
    - The number of the version that has the options, the new one when it was created; V(null) in check mode when
      a version would be created.
  returned: always
  type: str
  sample: "4"
metadata_options:
  description: The metadata options of the source version and of the result; options not stated are V(null).
  returned: always
  type: dict
  contains:
    before:
      description: Of the source version.
      type: dict
      sample: {"http_tokens": "optional", "http_put_response_hop_limit": null, "http_endpoint": null,
               "http_protocol_ipv6": null, "instance_metadata_tags": null}
    after:
      description: Of the result.
      type: dict
      sample: {"http_tokens": "required", "http_put_response_hop_limit": null, "http_endpoint": null,
               "http_protocol_ipv6": null, "instance_metadata_tags": null}
'''

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.module import AwsModule
from ansible_collections.cloudmeta.imds.plugins.module_utils._rollout.imdsv2 import OPTIONS_ARGSPEC, check_hop_limit
from ansible_collections.cloudmeta.imds.plugins.module_utils._rollout.launch_templates import run


def main():
    argument_spec = dict(
        launch_template_id=dict(type='str'),
        launch_template_name=dict(type='str'),
        source_version=dict(type='str', default='$Default'),
        set_default=dict(type='bool', default=True),
        version_description=dict(type='str', default='Instance metadata options set by cloudmeta.imds'),
    )
    argument_spec.update(OPTIONS_ARGSPEC)
    module = AwsModule(
        argument_spec=argument_spec,
        required_one_of=[('launch_template_id', 'launch_template_name'),
                         ('http_tokens', 'http_put_response_hop_limit', 'http_endpoint', 'http_protocol_ipv6',
                          'instance_metadata_tags')],
        mutually_exclusive=[('launch_template_id', 'launch_template_name')],
        supports_check_mode=True,
    )
    problem = check_hop_limit(module.params['http_put_response_hop_limit'])
    if problem:
        module.fail_json(msg=problem)
    module.exit_with(run, module.client('ec2'), module.params, module.check_mode)


if __name__ == '__main__':
    main()
