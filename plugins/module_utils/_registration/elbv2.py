# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""ELBv2 target groups: register, deregister and "is it registered" for one target, with errors phrased for users.

Used by the elbv2_target module. boto3 and the standard library only, no
ansible import, so that programs on the instance can use it as well.
"""

from __future__ import annotations

import ipaddress
import re

from .._aws.calls import AwsError, call, check_identifier
from .._common.backoff import EQUAL, Backoff
from .._common.deadline import Deadline

# Used with fullmatch(): "$" would also match before a final newline.
TARGET_GROUP_ARN = re.compile(r'arn:[\w-]+:elasticloadbalancing:([\w-]*):\d*:targetgroup/[^/\s]+/[0-9a-f]+')
INSTANCE_ID = re.compile(r'i-[0-9a-f]{8,32}')
# DescribeTargetHealth while waiting: 2 s, doubling to 30 s, equal jitter
# (each wait at least half its step), so a fleet does not poll in step and a
# 300 s wait costs about 15 calls per instance, not 60 (docs/register_instance.md).
POLL_FIRST = 2.0
POLL_CAP = 30.0

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
    """The few ELBv2 calls registration makes, with errors phrased for users."""

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
        # Asked for this one target: the answer is one entry, not one per
        # instance of the fleet (DescribeTargetHealth has no paging).
        descriptions = call(self.client.describe_target_health, TargetGroupArn=self.arn,
                            Targets=[{'Id': target_id, 'Port': port}])['TargetHealthDescriptions']
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


NOT_FETCHED = object()


def wait_for(verdict, fetch, deadline, backoff=None, first=NOT_FETCHED):
    """Poll FETCH until VERDICT says done, backing off (BACKOFF, a Backoff); (description, note) or AwsError.

    FIRST, when given, is a description just fetched: it is judged before
    any further call, so a target already in the wanted state costs none.
    """
    backoff = backoff or Backoff(POLL_FIRST, POLL_CAP, jitter=EQUAL)
    description = first
    while True:
        if description is NOT_FETCHED:
            description = fetch()
        outcome, note = verdict(description)
        if outcome == 'done':
            return description, note
        if outcome == 'fail':
            raise AwsError('Stopped waiting: %s.' % note)
        if deadline.expired():
            raise AwsError('Timed out after %s seconds; the target is %s.' % (deadline.seconds, describe_state(description)))
        backoff.pause(deadline)
        description = NOT_FETCHED


def apply(tg_client, params, check_mode=False, warn=None):
    """What the elbv2_target module does with PARAMS (its options): the result; WARN(text) gets warnings."""
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
    if changed and not check_mode:
        if present:
            tg_client.register(target_id, port)
        else:
            tg_client.deregister(target_id, port)

    description = current
    warning = None
    if not check_mode:
        if params['wait']:
            verdict = healthy_verdict if present else drained_verdict
            # Unchanged, the describe above already holds the state to judge.
            description, warning = wait_for(
                verdict, lambda: tg_client.find(target_id, port), Deadline(params['wait_timeout']),
                first=NOT_FETCHED if changed else current)
        elif changed:
            description = tg_client.find(target_id, port)
    if warning and warn:
        warn(warning)

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


# A Spot interruption notice comes 120 s before the instance goes. The
# lifecycle agent gives a notice at most 100 s (it finishes 5 s before the
# instance goes, and seeing the notice takes up to a poll), so draining
# longer than that is cut short: connections still open are dropped.
SPOT_NOTICE_SECONDS = 120
DRAIN_LIMIT_SECONDS = 100


def deregistration_delay(client, arn):
    """The target group's deregistration_delay.timeout_seconds (one DescribeTargetGroupAttributes call)."""
    attributes = call(client.describe_target_group_attributes, TargetGroupArn=arn)['Attributes']
    for attribute in attributes:
        if attribute.get('Key') == 'deregistration_delay.timeout_seconds':
            return int(attribute['Value'])
    # AWS always returns it; 300 is its default.
    return 300


def drain_warning(delay, arn, limit=DRAIN_LIMIT_SECONDS):
    """A warning when draining DELAY seconds does not fit in a Spot notice, saying what to set; else None."""
    if delay <= limit:
        return None
    return ('Target group %s drains deregistered targets for %d s (deregistration_delay.timeout_seconds), longer '
            'than a Spot interruption notice allows (%d s, less the time to see the notice): the instance goes before '
            'draining ends and open connections are dropped. Set deregistration_delay.timeout_seconds to %d or less '
            '(aws elbv2 modify-target-group-attributes --target-group-arn %s --attributes '
            'Key=deregistration_delay.timeout_seconds,Value=%d).' % (arn, delay, SPOT_NOTICE_SECONDS, limit, arn, limit))
