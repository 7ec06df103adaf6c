#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: autoscaling_lifecycle_action
short_description: Complete this instance's Auto Scaling lifecycle action, or extend it with a heartbeat
version_added: 1.1.0
description:
  - Tells Auto Scaling that the instance has finished what a lifecycle hook waits for, with
    C(CompleteLifecycleAction), so that the launch (or termination) proceeds; or, with O(action=heartbeat), that it
    needs longer, with C(RecordLifecycleActionHeartbeat), which restarts the hook's heartbeat timeout.
  - Made for the instance itself, as in AWS's pattern without queues. The bootstrap playbook
    (C(cloudmeta.imds.bootstrap)) completes the launch hook with it once the instance is registered; the
    lifecycle agent of the register_instance role completes the terminate hook with the same code.
  - When Auto Scaling has no lifecycle action waiting for this instance and hook (it was completed already, it timed
    out, or the instance is not in C(Pending:Wait) or C(Terminating:Wait)), the module reports no change and
    RV(active=false) instead of failing, so that a bootstrap that runs again succeeds.
author: cloudmeta.imds maintainers (@cloudmeta)
extends_documentation_fragment:
  - cloudmeta.imds.aws
  - cloudmeta.imds.attributes
  - cloudmeta.imds.attributes.change_module
  - cloudmeta.imds.attributes.action_group_aws
attributes:
  check_mode:
    details: In check mode nothing is sent, and the module reports a change.
  diff_mode:
    support: none
options:
  group_name:
    description:
      - The Auto Scaling group, as the instance tag C(aws:autoscaling:groupName) names it (readable in
        C(ansible_facts['ec2']['tags']) when instance metadata tags are on).
    type: str
    required: true
  hook_name:
    description:
      - The lifecycle hook.
    type: str
    required: true
  instance_id:
    description:
      - The instance, normally C(ansible_facts['ec2']['instance_id']).
    type: str
    required: true
  action:
    description:
      - V(complete) sends C(CompleteLifecycleAction) with O(result).
      - V(heartbeat) sends C(RecordLifecycleActionHeartbeat).
    type: str
    choices: [complete, heartbeat]
    default: complete
  result:
    description:
      - With O(action=complete), V(CONTINUE) lets the launch or termination proceed; V(ABANDON) makes Auto Scaling
        terminate a launching instance (or end the wait of a terminating one).
    type: str
    choices: [CONTINUE, ABANDON]
    default: CONTINUE
notes:
  - "IAM: C(autoscaling:CompleteLifecycleAction) (or C(autoscaling:RecordLifecycleActionHeartbeat)) on the group's
    ARN, C(arn:aws:autoscaling:REGION:ACCOUNT:autoScalingGroup:*:autoScalingGroupName/NAME). The lifecycle guide has
    the policies."
  - moto does not implement these two calls; the collection tests them against a double that checks the exact API
    requests and answers AWS's XML.
seealso:
  - name: CompleteLifecycleAction API reference
    description: The call, its parameters and errors.
    link: https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CompleteLifecycleAction.html
  - name: Amazon EC2 Auto Scaling lifecycle hooks
    description: How hooks wait, time out and are completed.
    link: https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html
'''

EXAMPLES = r'''
- name: Read the instance identity and its tags
  cloudmeta.imds.metadata_facts:
    gather_subset: [min, tags]

- name: The instance is registered; let Auto Scaling put it in service
  cloudmeta.imds.autoscaling_lifecycle_action:
    group_name: "{{ ansible_facts['ec2']['tags']['aws:autoscaling:groupName'] }}"
    hook_name: wait-for-bootstrap
    instance_id: "{{ ansible_facts['ec2']['instance_id'] }}"
    region: "{{ ansible_facts['ec2']['region'] }}"

- name: Bootstrap failed; have Auto Scaling replace the instance
  cloudmeta.imds.autoscaling_lifecycle_action:
    group_name: web-asg
    hook_name: wait-for-bootstrap
    instance_id: "{{ ansible_facts['ec2']['instance_id'] }}"
    region: "{{ ansible_facts['ec2']['region'] }}"
    result: ABANDON

- name: Still warming caches; extend the wait by the hook's heartbeat timeout
  cloudmeta.imds.autoscaling_lifecycle_action:
    group_name: web-asg
    hook_name: wait-for-bootstrap
    instance_id: "{{ ansible_facts['ec2']['instance_id'] }}"
    region: "{{ ansible_facts['ec2']['region'] }}"
    action: heartbeat
'''

RETURN = r'''
active:
  description:
    - V(true) when Auto Scaling had a lifecycle action waiting and took the call (in check mode, assumed).
    - V(false) when it had none for this instance and hook; nothing changed.
  returned: always
  type: bool
  sample: true
lifecycle_action:
  description: What was sent.
  returned: always
  type: dict
  contains:
    group_name:
      description: The Auto Scaling group.
      type: str
      sample: web-asg
    hook_name:
      description: The lifecycle hook.
      type: str
      sample: wait-for-bootstrap
    instance_id:
      description: The instance.
      type: str
      sample: i-0123456789abcdef0
    action:
      description: V(complete) or V(heartbeat).
      type: str
      sample: complete
    result:
      description: The result sent with V(complete); V(null) for a heartbeat.
      type: str
      sample: CONTINUE
'''

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.module import AwsModule
from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle.agent import BackendError
from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle.autoscaling import LifecycleHook

# What Auto Scaling answers when no lifecycle action of this hook waits for the instance.
NO_ACTIVE_ACTION = 'No active Lifecycle Action found'


def main():
    module = AwsModule(
        argument_spec=dict(
            group_name=dict(type='str', required=True),
            hook_name=dict(type='str', required=True),
            instance_id=dict(type='str', required=True),
            action=dict(type='str', choices=['complete', 'heartbeat'], default='complete'),
            result=dict(type='str', choices=['CONTINUE', 'ABANDON'], default='CONTINUE'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    complete = params['action'] == 'complete'
    sent = dict(group_name=params['group_name'], hook_name=params['hook_name'], instance_id=params['instance_id'],
                action=params['action'], result=params['result'] if complete else None)
    try:
        # The client comes first only when there is something to send: check mode needs no boto3.
        hook = LifecycleHook(None, params['group_name'], params['hook_name'], params['instance_id'])
    except ValueError as exc:
        module.fail_json(msg=str(exc), lifecycle_action=sent)
    if module.check_mode:
        module.exit_json(changed=True, active=True, lifecycle_action=sent)
    hook.client = module.client('autoscaling')
    try:
        if complete:
            hook.complete(result=params['result'])
        else:
            hook.heartbeat()
    except BackendError as exc:
        cause = getattr(exc.__cause__, 'response', None) or {}
        error = cause.get('Error', {})
        if error.get('Code') == 'ValidationError' and NO_ACTIVE_ACTION in (error.get('Message') or ''):
            module.exit_json(changed=False, active=False, lifecycle_action=sent,
                             msg='Auto Scaling has no lifecycle action of hook %s waiting for %s: %s'
                             % (params['hook_name'], params['instance_id'], error.get('Message')))
        module.fail_json(msg=str(exc), lifecycle_action=sent, **({'error_code': error['Code']} if error.get('Code') else {}))
    module.exit_json(changed=True, active=True, lifecycle_action=sent)


if __name__ == '__main__':
    main()
