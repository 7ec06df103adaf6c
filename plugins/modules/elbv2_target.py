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
  - It reads the target group's health descriptions first, registers only when the target is not registered on that
    port (or is draining), and deregisters only when it is registered, so a second run reports no change and
    deregistering a target that is already gone succeeds.
  - It always sends the port with the target. AWS ignores a deregistration without the port that the target was
    registered with, so the same port must be used for both.
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

import ipaddress
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

# Used with fullmatch(): "$" would also match before a final newline.
TARGET_GROUP_ARN = re.compile(r'arn:[\w-]+:elasticloadbalancing:([\w-]*):\d*:targetgroup/[^/\s]+/[0-9a-f]+')
INSTANCE_ID = re.compile(r'i-[0-9a-f]{8,32}')
POLL_INTERVAL = 5.0

NOT_REGISTERED = 'Target.NotRegistered'
DRAINING = 'draining'

# Reasons of the `unused` state that waiting cannot change: fail at once.
HOPELESS_UNUSED = {
    'Target.NotInUse': (
        'the target group is not used by any load balancer, or the target is in an Availability Zone that the '
        'load balancer does not serve, so it never becomes healthy; attach the target group to a listener, '
        'or do not wait for health'
    ),
    'Target.InvalidState': 'the target is stopped or terminated',
    'Target.IpUnusable': 'the IP address cannot be used as a target (it belongs to a load balancer)',
}


def same_target_id(left, right):
    """Instance IDs compare as text, IP addresses by value (AWS may spell IPv6 differently)."""
    if left == right:
        return True
    try:
        return ipaddress.ip_address(left) == ipaddress.ip_address(right)
    except ValueError:
        return False


def find_target(descriptions, target_id, port):
    """The health description of TARGET_ID on PORT, or None when it is not registered there."""
    for description in descriptions:
        target = description.get('Target') or {}
        if target.get('Port') == port and same_target_id(target.get('Id', ''), target_id):
            health = description.get('TargetHealth') or {}
            if health.get('Reason') == NOT_REGISTERED:
                return None
            return description
    return None


def is_registered(description):
    """Registered and not on its way out; a draining target needs registering again."""
    return description is not None and description['TargetHealth'].get('State') != DRAINING


def health_of(description):
    if description is None:
        return None
    health = description.get('TargetHealth') or {}
    return {
        'state': health.get('State'),
        'reason': health.get('Reason'),
        'description': health.get('Description'),
    }


def healthy_verdict(description):
    """While waiting for health: ('done'|'wait'|'fail', explanation)."""
    if description is None:
        return 'fail', 'the target was deregistered while waiting for it to become healthy'
    health = description['TargetHealth']
    state, reason = health.get('State'), health.get('Reason')
    if state == 'healthy':
        return 'done', None
    if state == 'unavailable' and reason == 'Target.HealthCheckDisabled':
        return 'done', 'health checks are disabled on the target group, so its health is not checked'
    if state == 'unused' and reason in HOPELESS_UNUSED:
        return 'fail', '%s (%s)' % (HOPELESS_UNUSED[reason], reason)
    if state == DRAINING:
        return 'fail', 'the target is being deregistered while waiting for it to become healthy'
    return 'wait', None


def drained_verdict(description):
    if description is None:
        return 'done', None
    return 'wait', None


def describe_state(description):
    health = health_of(description)
    if health is None:
        return 'not registered'
    text = health['state'] or 'unknown'
    if health['reason']:
        text += ' (%s: %s)' % (health['reason'], health['description'] or '')
    return text


def validate_target_group(target_group, params):
    """Raise AwsError unless TARGET_GROUP can take this target."""
    name = target_group.get('TargetGroupName', target_group['TargetGroupArn'])
    group_type = target_group.get('TargetType', 'instance')
    if group_type not in ('instance', 'ip'):
        raise AwsError(
            'Target group %s has target type %s; only instance and ip target groups can register an instance.'
            % (name, group_type))
    if params['target_type'] and params['target_type'] != group_type:
        raise AwsError(
            'Target group %s has target type %s, but target type %s was requested; use a target group of type %s '
            'or set the target type to %s.' % (name, group_type, params['target_type'], params['target_type'], group_type))
    target_id = params['target_id']
    if group_type == 'instance' and not INSTANCE_ID.fullmatch(target_id):
        raise AwsError('Target group %s takes instance IDs (i-...), not %r.' % (name, target_id))
    if group_type == 'ip':
        try:
            address = ipaddress.ip_address(target_id)
        except ValueError:
            raise AwsError('Target group %s takes IP addresses, not %r.' % (name, target_id)) from None
        if getattr(address, 'scope_id', None):
            raise AwsError('Target group %s takes IP addresses without an IPv6 scope id, not %r.' % (name, target_id))
    vpc_id = params['vpc_id']
    if vpc_id and target_group.get('VpcId') != vpc_id:
        raise AwsError(
            'Target group %s is in %s, but this target is in %s: register only in a target group of the '
            "instance's own VPC." % (name, target_group.get('VpcId'), vpc_id))


def arn_region(arn):
    match = TARGET_GROUP_ARN.fullmatch(check_identifier('target_group_arn', arn))
    if not match:
        raise AwsError('%r is not a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID).' % arn)
    return match.group(1)


class TargetGroupClient:
    """The few ELBv2 calls the module makes, with errors phrased for users."""

    def __init__(self, client, arn):
        self.client = client
        self.arn = arn

    def describe(self):
        try:
            groups = call(self.client.describe_target_groups, TargetGroupArns=[self.arn])['TargetGroups']
        except AwsError as exc:
            if exc.code == 'TargetGroupNotFound':
                raise AwsError('Target group %s does not exist (or is not visible to these credentials).' % self.arn,
                               code=exc.code) from None
            raise
        if not groups:
            raise AwsError('Target group %s does not exist.' % self.arn)
        return groups[0]

    def find(self, target_id, port):
        descriptions = call(self.client.describe_target_health, TargetGroupArn=self.arn)['TargetHealthDescriptions']
        return find_target(descriptions, target_id, port)

    def register(self, target_id, port):
        call(self.client.register_targets, TargetGroupArn=self.arn, Targets=[{'Id': target_id, 'Port': port}])

    def deregister(self, target_id, port):
        try:
            call(self.client.deregister_targets, TargetGroupArn=self.arn, Targets=[{'Id': target_id, 'Port': port}])
        except AwsError as exc:
            # AWS answers success for a target that is already gone; some
            # implementations say InvalidTarget. Either way it is gone.
            if exc.code != 'InvalidTarget':
                raise


def wait_for(verdict, fetch, deadline, interval=POLL_INTERVAL):
    """Poll FETCH until VERDICT says done; returns (description, note) or raises AwsError."""
    while True:
        description = fetch()
        outcome, note = verdict(description)
        if outcome == 'done':
            return description, note
        if outcome == 'fail':
            raise AwsError('Stopped waiting: %s.' % note)
        if deadline.expired():
            raise AwsError('Timed out after %s seconds; the target is %s.' % (deadline.seconds, describe_state(description)))
        deadline.pause(interval)


def run(module, tg_client):
    params = module.params
    region = arn_region(params['target_group_arn'])
    check_identifier('target_id', params['target_id'])
    if params['vpc_id']:
        check_identifier('vpc_id', params['vpc_id'])
    if region and params['region'] and region != params['region']:
        raise AwsError(
            'Target group %s is in region %s, but the target is in %s: a target group only takes targets from its '
            'own region.' % (params['target_group_arn'], region, params['region']))
    target_group = tg_client.describe()
    validate_target_group(target_group, params)
    target_id = params['target_id']
    port = params['port'] or target_group['Port']
    present = params['state'] == 'present'

    current = tg_client.find(target_id, port)
    registered_before = is_registered(current)
    changed = registered_before != present
    if changed and not module.check_mode:
        if present:
            tg_client.register(target_id, port)
        else:
            tg_client.deregister(target_id, port)

    description = current
    warning = None
    if not module.check_mode:
        if params['wait']:
            verdict = healthy_verdict if present else drained_verdict
            description, warning = wait_for(
                verdict, lambda: tg_client.find(target_id, port), Deadline(params['wait_timeout']))
        elif changed:
            description = tg_client.find(target_id, port)
    if warning:
        module.warn(warning)

    def view(registered):
        return {'target_group_arn': params['target_group_arn'], 'id': target_id, 'port': port, 'registered': registered}

    return dict(
        changed=changed,
        target={'id': target_id, 'port': port},
        target_group={
            'arn': target_group['TargetGroupArn'],
            'name': target_group.get('TargetGroupName'),
            'vpc_id': target_group.get('VpcId'),
            'target_type': target_group.get('TargetType'),
            'port': target_group.get('Port'),
            'protocol': target_group.get('Protocol'),
        },
        health=health_of(description),
        diff={'before': view(registered_before), 'after': view(present)},
    )


def main():
    argument_spec = dict(
        target_group_arn=dict(type='str', required=True),
        target_id=dict(type='str', required=True),
        port=dict(type='int'),
        target_type=dict(type='str', choices=['instance', 'ip']),
        vpc_id=dict(type='str'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        wait=dict(type='bool', default=False),
        wait_timeout=dict(type='int', default=300),
    )
    argument_spec.update(AWS_ARGSPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if module.params['port'] is not None and not 1 <= module.params['port'] <= 65535:
        module.fail_json(msg='port must be between 1 and 65535, got %d.' % module.params['port'])
    if module.params['wait_timeout'] < 0:
        module.fail_json(msg='wait_timeout must not be negative.')

    client = aws_client(module, 'elbv2')
    try:
        result = run(module, TargetGroupClient(client, module.params['target_group_arn']))
    except AwsError as exc:
        module.fail_json(msg=exc.message, **({'error_code': exc.code} if exc.code else {}))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
