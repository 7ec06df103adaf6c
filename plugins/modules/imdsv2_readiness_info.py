#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: imdsv2_readiness_info
short_description: Tell which EC2 instances can safely be switched to IMDSv2 only, from CloudWatch evidence
version_added: 1.1.0
description:
  - For every instance in scope, reports its instance metadata options, how many IMDSv1 calls it made in a time
    window, where it was launched from, and a verdict on requiring IMDSv2.
  - The evidence is the CloudWatch metrics AWS publishes per instance in the C(AWS/EC2) namespace with an
    C(InstanceId) dimension, C(MetadataNoToken) (IMDSv1 calls that succeeded) and C(MetadataNoTokenRejected) (IMDSv1
    calls refused because tokens are required). Both are summed over the window with as few C(GetMetricData)
    requests as the API allows, 500 queries (250 instances) per request.
  - "Verdicts: V(enforced) when the instance already requires tokens; V(ready) when it made no IMDSv1 call in the
    window (or its metadata endpoint is disabled); V(blocked) when it made IMDSv1 calls, so requiring tokens would
    break whatever made them; V(unknown) when CloudWatch has no data for it (the instance was not running, or its
    metrics are not published yet)."
  - An V(enforced) instance with rejected calls has something on it that is failing now; its C(reason) says so.
  - The launch template (and version) or launch configuration each instance came from is reported with whether it
    requires tokens, since an Auto Scaling group replaces an enforced instance with one launched from it.
  - Launch templates whose default version allows IMDSv1 are listed as well, since every instance they launch starts
    unsafe.
  - This module changes nothing. It supports check mode.
author: cloudmeta.imds maintainers (@cloudmeta)
extends_documentation_fragment:
  - cloudmeta.imds.aws
  - cloudmeta.imds.attributes
  - cloudmeta.imds.attributes.info_module
  - cloudmeta.imds.attributes.action_group_aws
options:
  instance_ids:
    description:
      - Only these instances.
    type: list
    elements: str
  filters:
    description:
      - EC2 C(DescribeInstances) filters, a dict of filter name to a value or a list of values.
    type: dict
  tags:
    description:
      - Only instances with these tags (tag key to value), a short form of C(tag:KEY) filters.
    type: dict
  auto_scaling_groups:
    description:
      - Only the instances of these Auto Scaling groups. A group that does not exist is an error.
    type: list
    elements: str
  window_days:
    description:
      - The window of evidence, the last this many days. AWS's guidance is to watch C(MetadataNoToken) for at least
        two weeks, so that weekly jobs are seen.
    type: int
    default: 14
  start_time:
    description:
      - Count calls from this time (ISO 8601, for example V(2026-12-01T22:30:00Z)) instead of O(window_days) ago, for
        example to see only what happened after tokens were required.
    type: str
  launch_templates:
    description:
      - Which launch templates to list when their default version allows IMDSv1. V(all) looks at every launch
        template in the region, V(used) only at those the instances in scope came from, V(none) skips them.
    type: str
    choices: [all, used, none]
    default: all
notes:
  - "IAM: C(ec2:DescribeInstances), C(ec2:DescribeLaunchTemplates), C(ec2:DescribeLaunchTemplateVersions),
    C(autoscaling:DescribeAutoScalingInstances), C(autoscaling:DescribeAutoScalingGroups),
    C(autoscaling:DescribeLaunchConfigurations) and C(cloudwatch:GetMetricData)."
  - A launch template or configuration that does not state C(HttpTokens) is reported as not requiring tokens, since
    the account's default (M(cloudmeta.imds.instance_metadata_defaults)) or the AMI then decides.
  - To find the process that still uses IMDSv1 on a V(blocked) instance, see the IMDSv2 rollout guide.
seealso:
  - module: cloudmeta.imds.instance_metadata_options
  - name: Instance metadata metrics
    description: MetadataNoToken and MetadataNoTokenRejected.
    link: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/viewing_metrics_with_cloudwatch.html#ec2-cloudwatch-metrics
'''

EXAMPLES = r'''
- name: Audit every instance in the region
  cloudmeta.imds.imdsv2_readiness_info:
    region: eu-west-1
  register: readiness

- name: Show the instances that still use IMDSv1
  ansible.builtin.debug:
    msg: "{{ readiness.instances | selectattr('verdict', 'eq', 'blocked') | map(attribute='instance_id') }}"

- name: Audit one Auto Scaling group over the last 30 days
  cloudmeta.imds.imdsv2_readiness_info:
    auto_scaling_groups: [web]
    window_days: 30
    launch_templates: used
    region: eu-west-1

- name: Rejected calls since tokens were required
  cloudmeta.imds.imdsv2_readiness_info:
    instance_ids: [i-0123456789abcdef0]
    start_time: "2026-12-01T22:30:00Z"
    launch_templates: none
    region: eu-west-1
'''

RETURN = r'''
instances:
  description: Every instance in scope, in the order AWS listed them.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: The instance ID.
      type: str
      sample: i-0123456789abcdef0
    name:
      description: The C(Name) tag, or V(null).
      type: str
      sample: web-1
    state:
      description: The instance state, for example C(running).
      type: str
      sample: running
    tags:
      description: The instance's tags.
      type: dict
      sample: {"Name": "web-1", "role": "web"}
    metadata_options:
      description: The instance metadata options, with the keys of M(cloudmeta.imds.instance_metadata_options).
      type: dict
      sample: {"http_tokens": "optional", "http_put_response_hop_limit": 1, "http_endpoint": "enabled",
               "http_protocol_ipv6": "disabled", "instance_metadata_tags": "disabled"}
    metadata_no_token:
      description: Sum of C(MetadataNoToken) in the window; V(null) when CloudWatch has no datapoint.
      type: int
      sample: 0
    metadata_no_token_rejected:
      description: Sum of C(MetadataNoTokenRejected) in the window; V(null) when CloudWatch has no datapoint.
      type: int
      sample: 0
    imdsv1_calls:
      description: The sum of both, V(null) when neither has data.
      type: int
      sample: 0
    verdict:
      description: One of V(enforced), V(ready), V(blocked), V(unknown).
      type: str
      sample: ready
    reason:
      description: Why, in a sentence.
      type: str
      sample: no IMDSv1 call in the window
    auto_scaling_group:
      description: The Auto Scaling group of the instance, or V(null).
      type: str
      sample: web
    launched_from:
      description: The launch template version or launch configuration the instance came from, or V(null).
      type: dict
      contains:
        type:
          description: V(launch_template) or V(launch_configuration).
          type: str
          sample: launch_template
        id:
          description: The launch template ID, or the launch configuration ARN.
          type: str
          sample: lt-0123456789abcdef0
        name:
          description: The name.
          type: str
          sample: web
        version:
          description: The launch template version, V(null) for a launch configuration.
          type: str
          sample: "3"
        requires_tokens:
          description: Whether instances launched from it require tokens.
          type: bool
          sample: false
        metadata_options:
          description: Its metadata options; options it does not state are V(null).
          type: dict
          sample: {"http_tokens": "optional", "http_put_response_hop_limit": null, "http_endpoint": null,
                   "http_protocol_ipv6": null, "instance_metadata_tags": null}
launch_templates:
  description:
    - Launch templates whose default version allows IMDSv1 (see O(launch_templates)).
  returned: always
  type: list
  elements: dict
  sample:
    - type: launch_template
      id: lt-0123456789abcdef0
      name: web
      version: "1"
      default_version: true
      requires_tokens: false
      metadata_options: {"http_tokens": "optional", "http_put_response_hop_limit": null, "http_endpoint": null,
                         "http_protocol_ipv6": null, "instance_metadata_tags": null}
summary:
  description: How many instances got each verdict.
  returned: always
  type: dict
  sample: {"enforced": 3, "ready": 10, "blocked": 1, "unknown": 0}
window:
  description: The evidence window, ISO 8601 UTC.
  returned: always
  type: dict
  sample: {"start": "2026-11-17T22:30:00Z", "end": "2026-12-01T22:30:00Z"}
get_metric_data_requests:
  description: How many C(GetMetricData) requests the module made (pages included).
  returned: always
  type: int
  sample: 1
'''

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.module import AwsModule
from ansible_collections.cloudmeta.imds.plugins.module_utils._rollout.imdsv2 import parse_time, utc_now
from ansible_collections.cloudmeta.imds.plugins.module_utils._rollout.readiness import run


def main():
    argument_spec = dict(
        instance_ids=dict(type='list', elements='str'),
        filters=dict(type='dict'),
        tags=dict(type='dict'),
        auto_scaling_groups=dict(type='list', elements='str'),
        window_days=dict(type='int', default=14),
        start_time=dict(type='str'),
        launch_templates=dict(type='str', choices=['all', 'used', 'none'], default='all'),
    )
    module = AwsModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if not 1 <= params['window_days'] <= 455:
        module.fail_json(msg='window_days must be between 1 and 455 (CloudWatch keeps hourly data for 455 days), '
                             'got %d.' % params['window_days'])
    if params['start_time']:
        try:
            parse_time(params['start_time'])
        except ValueError as exc:
            module.fail_json(msg='start_time: %s' % exc)

    clients = [module.client(service) for service in ('ec2', 'autoscaling', 'cloudwatch')]
    module.exit_with(run, params, *clients, now=utc_now())


if __name__ == '__main__':
    main()
