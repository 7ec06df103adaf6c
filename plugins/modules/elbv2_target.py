#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: elbv2_target
short_description: Register or deregister one target in an ELBv2 target group
version_added: 1.0.0
description:
  - Registers one target, an EC2 instance ID or an IP address, on one port in an Elastic Load Balancing v2 target
    group (Application, Network or Gateway Load Balancer), or deregisters it.
  - Made for an instance that registers itself. Before it changes anything it checks that the target group is in the
    expected region and VPC and has the expected target type, and fails with a message that says what to fix.
  - It reads the health of this one target first (not the whole target group's, so the answer stays small however
    many instances the group holds), registers only when the target is not registered on that port (or is draining),
    and deregisters only when it is registered, so a second run reports no change and deregistering a target that is
    already gone succeeds.
  - It always sends the port with the target. AWS ignores a deregistration without the port that the target was
    registered with, so the same port must be used for both.
author: cloudmeta.imds maintainers (@cloudmeta)
extends_documentation_fragment:
  - cloudmeta.imds.aws
  - cloudmeta.imds.attributes
  - cloudmeta.imds.attributes.change_module
  - cloudmeta.imds.attributes.action_group_aws
options:
  target_group_arn:
    description:
      - ARN of the target group.
    type: str
    required: true
  target_id:
    description:
      - The target, an instance ID such as V(i-0123456789abcdef0) for target groups of type C(instance), or an IPv4 or
        IPv6 address for target groups of type C(ip).
    type: str
    required: true
  port:
    description:
      - The port the target receives traffic on.
      - When omitted, the target group's own port.
    type: int
  target_type:
    description:
      - The target type the caller expects. When set, the module refuses a target group of another type.
      - The format of O(target_id) is checked against the target group's type in any case.
    type: str
    choices: [instance, ip]
  vpc_id:
    description:
      - The VPC the target lives in. When set, the module refuses a target group in another VPC.
      - AWS accepts some IP targets from outside the target group's VPC; this module deliberately does not, because a
        self-registering instance in the wrong VPC is almost always a configuration mistake.
    type: str
  state:
    description:
      - V(present) registers the target, V(absent) deregisters it.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - With O(state=present), wait until the target is C(healthy).
      - With O(state=absent), wait until deregistration has finished, that is until connection draining is over.
      - While waiting for C(healthy), reasons that no amount of waiting changes fail at once instead of at the timeout,
        notably C(Target.NotInUse), which a target group that no load balancer uses (or an Availability Zone the load
        balancer does not serve) reports forever.
      - A target group with health checks disabled reports C(unavailable); that counts as done, with a warning.
    type: bool
    default: false
  wait_timeout:
    description:
      - Maximum number of seconds to wait when O(wait=true).
      - For O(state=absent), draining lasts up to the target group's C(deregistration_delay.timeout_seconds)
        (300 by default), so use a timeout longer than that delay.
    type: int
    default: 300
  max_deregistration_delay:
    description:
      - Read the target group's C(deregistration_delay.timeout_seconds) (one DescribeTargetGroupAttributes call, IAM
        action C(elasticloadbalancing:DescribeTargetGroupAttributes)), return it, and warn, saying what to set, when
        it is longer than this many seconds.
      - The register_instance role sets V(100) where its lifecycle agent runs, which gives a Spot interruption
        notice (120 seconds) at most 100 seconds to drain.
      - Unset, the attribute is not read.
    type: int
    version_added: 1.1.0
notes:
  - Why not M(community.aws.elb_target)? Its O(state=absent) skips a registered target whose state is C(unused),
    such as one in a target group that no load balancer uses, unless C(deregister_unused) is set; it does not
    register a target again while it is draining; it cannot run in check mode; it checks neither the VPC nor the
    target type; and a wrong target group name or ARN is retried for minutes. This module is small and does only
    what a self-registering instance needs.
  - Instance targets must be running when they are registered.
  - On Spot instances, keep the target group's deregistration delay at 120 seconds or less, so that draining fits
    in the two-minute interruption notice.
seealso:
  - name: DescribeTargetHealth API reference
    description: Target health states and reason codes.
    link: https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeTargetHealth.html
  - module: cloudmeta.imds.cloudmap_instance
'''

EXAMPLES = r'''
- name: Gather the instance's identity
  cloudmeta.imds.metadata_facts:
    gather_subset: [min, network]

- name: Register this instance on port 8080 and wait until it is healthy
  cloudmeta.imds.elbv2_target:
    target_group_arn: arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef
    target_id: "{{ ansible_facts['ec2']['instance_id'] }}"
    target_type: instance
    port: 8080
    vpc_id: "{{ ansible_facts['ec2']['vpc_id'] }}"
    region: "{{ ansible_facts['ec2']['region'] }}"
    wait: true
    wait_timeout: 300

- name: Register the instance's private IP in an ip target group
  cloudmeta.imds.elbv2_target:
    target_group_arn: arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-ip/0123456789abcdef
    target_id: "{{ ansible_facts['ec2']['local_ipv4'] }}"
    target_type: ip
    port: 8080
    vpc_id: "{{ ansible_facts['ec2']['vpc_id'] }}"
    region: "{{ ansible_facts['ec2']['region'] }}"

- name: At shutdown, deregister and wait for connection draining to finish
  cloudmeta.imds.elbv2_target:
    target_group_arn: arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef
    target_id: "{{ ansible_facts['ec2']['instance_id'] }}"
    port: 8080
    region: "{{ ansible_facts['ec2']['region'] }}"
    state: absent
    wait: true
    wait_timeout: 330
'''

RETURN = r'''
target:
  description: The target that was registered or deregistered.
  returned: always
  type: dict
  contains:
    id:
      description: Instance ID or IP address.
      type: str
      sample: i-0123456789abcdef0
    port:
      description: The port, the target group's port when O(port) was omitted.
      type: int
      sample: 8080
target_group:
  description: The target group, as AWS describes it.
  returned: always
  type: dict
  contains:
    arn:
      description: ARN of the target group.
      type: str
      sample: arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef
    name:
      description: Name of the target group.
      type: str
      sample: web
    vpc_id:
      description: The target group's VPC.
      type: str
      sample: vpc-0123456789abcdef0
    target_type:
      description: The target group's target type.
      type: str
      sample: instance
    port:
      description: The target group's default port.
      type: int
      sample: 80
    protocol:
      description: The target group's protocol.
      type: str
      sample: HTTP
deregistration_delay:
  description:
    - The target group's C(deregistration_delay.timeout_seconds), how long a deregistered target drains.
  returned: when O(max_deregistration_delay) is set
  type: int
  sample: 300
  version_added: 1.1.0
health:
  description:
    - The target's health after the change, as DescribeTargetHealth reports it (in check mode, before).
    - V(null) when the target is not registered.
  returned: always
  type: dict
  contains:
    state:
      description: One of C(initial), C(healthy), C(unhealthy), C(unhealthy.draining), C(unused), C(draining), C(unavailable).
      type: str
      sample: healthy
    reason:
      description: The reason code, for example C(Elb.InitialHealthChecking) or C(Target.NotInUse); V(null) when healthy.
      type: str
      sample: Elb.RegistrationInProgress
    description:
      description: AWS's description of the reason.
      type: str
      sample: Target registration is in progress
'''

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.module import AwsModule
from ansible_collections.cloudmeta.imds.plugins.module_utils._registration.elbv2 import (
    TargetGroupClient,
    apply,
    deregistration_delay,
    drain_warning,
)


def run(client, params, check_mode, warn):
    """apply(), then, with max_deregistration_delay, the target group's drain time and the warning."""
    result = apply(TargetGroupClient(client, params['target_group_arn']), params, check_mode, warn)
    if params['max_deregistration_delay'] is not None:
        result['deregistration_delay'] = deregistration_delay(client, params['target_group_arn'])
        warning = drain_warning(result['deregistration_delay'], params['target_group_arn'],
                                params['max_deregistration_delay'])
        if warning:
            warn(warning)
    return result


def main():
    module = AwsModule(
        argument_spec=dict(
            target_group_arn=dict(type='str', required=True),
            target_id=dict(type='str', required=True),
            port=dict(type='int'),
            target_type=dict(type='str', choices=['instance', 'ip']),
            vpc_id=dict(type='str'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            wait=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=300),
            max_deregistration_delay=dict(type='int'),
        ),
        supports_check_mode=True,
    )
    if module.params['port'] is not None and not 1 <= module.params['port'] <= 65535:
        module.fail_json(msg='port must be between 1 and 65535, got %d.' % module.params['port'])
    if module.params['wait_timeout'] < 0:
        module.fail_json(msg='wait_timeout must not be negative.')

    if (module.params['max_deregistration_delay'] or 0) < 0:
        module.fail_json(msg='max_deregistration_delay must not be negative.')

    module.exit_with(run, module.client('elbv2'), module.params, module.check_mode, module.warn)


if __name__ == '__main__':
    main()
