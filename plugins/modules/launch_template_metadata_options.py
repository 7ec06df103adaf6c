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
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
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
  http_tokens:
    description:
      - V(required) launches instances with IMDSv2 only; V(optional) also allows IMDSv1.
    type: str
    choices: [optional, required]
  http_put_response_hop_limit:
    description:
      - The hop limit, 1 to 64; V(2) for instances that run containers.
    type: int
  http_endpoint:
    description:
      - Whether IMDS is on.
    type: str
    choices: [enabled, disabled]
  http_protocol_ipv6:
    description:
      - Whether IMDS also answers on its IPv6 address.
    type: str
    choices: [enabled, disabled]
  instance_metadata_tags:
    description:
      - Whether instance tags can be read from instance metadata.
    type: str
    choices: [enabled, disabled]
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

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.calls import AwsError, call
from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.module import AwsModule
from ansible_collections.cloudmeta.imds.plugins.module_utils._rollout.imdsv2 import (
    OPTIONS_ARGSPEC,
    check_hop_limit,
    differs,
    merge_options,
    options_from_api,
    options_to_api,
    requested_options,
)


def source(ec2, params):
    template = {'LaunchTemplateId': params['launch_template_id']} if params['launch_template_id'] else {
        'LaunchTemplateName': params['launch_template_name']}
    try:
        versions = call(ec2.describe_launch_template_versions, Versions=[params['source_version']],
                        **template)['LaunchTemplateVersions']
    except AwsError as exc:
        if exc.code and exc.code.startswith('InvalidLaunchTemplate'):
            raise AwsError('Launch template %s (version %s) does not exist: %s'
                           % (params['launch_template_id'] or params['launch_template_name'],
                              params['source_version'], exc.message), code=exc.code) from None
        raise
    if not versions:
        raise AwsError('Launch template %s has no version %s.'
                       % (params['launch_template_id'] or params['launch_template_name'], params['source_version']))
    return versions[0]


def run(module, ec2):
    params = module.params
    version = source(ec2, params)
    template_id = version['LaunchTemplateId']
    number = str(version['VersionNumber'])
    before = options_from_api((version.get('LaunchTemplateData') or {}).get('MetadataOptions'))
    after = merge_options(before, requested_options(params))
    create = differs(before, after)
    make_default = params['set_default'] and (create or not version.get('DefaultVersion'))
    result_version = None if create else number
    if not module.check_mode:
        if create:
            created = call(ec2.create_launch_template_version, LaunchTemplateId=template_id, SourceVersion=number,
                           VersionDescription=params['version_description'],
                           LaunchTemplateData={'MetadataOptions': options_to_api(after)})
            result_version = str(created['LaunchTemplateVersion']['VersionNumber'])
        if make_default:
            call(ec2.modify_launch_template, LaunchTemplateId=template_id, DefaultVersion=result_version)
    return dict(
        changed=create or make_default,
        launch_template_id=template_id,
        source_version=number,
        version=result_version,
        metadata_options={'before': before, 'after': after},
        diff={'before': {'version': number, 'metadata_options': before},
              'after': {'version': result_version or 'new', 'metadata_options': after}},
    )


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
    module.exit_with(run, module, module.client('ec2'))


if __name__ == '__main__':
    main()
