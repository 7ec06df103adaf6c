# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""The instance_metadata_options module's change: the metadata options of running instances.

boto3 and the standard library only; the module keeps its documentation and a thin main().
"""

from __future__ import annotations

from .._common.deadline import Deadline
from .imdsv2 import (
    describe_instances,
    differs,
    instance_options,
    merge_options,
    modify_instance,
    requested_options,
    wait_applied,
)


def plan(instances, requested):
    """[(instance_id, before, after)] for every instance, in the order AWS listed them."""
    result = []
    for instance in instances:
        before = instance_options(instance)
        result.append((instance['InstanceId'], before, merge_options(before, requested)))
    return result


def run(ec2, params, check_mode=False):
    """What the instance_metadata_options module does with PARAMS (its options): the result."""
    instances = describe_instances(ec2, instance_ids=params['instance_ids'], filters=params['filters'])
    steps = plan(instances, requested_options(params))
    states = {instance['InstanceId']: (instance.get('MetadataOptions') or {}).get('State') for instance in instances}
    changing = [(instance_id, after) for instance_id, before, after in steps if differs(before, after)]

    if not check_mode:
        for instance_id, after in changing:
            states[instance_id] = modify_instance(ec2, instance_id, after)
        if params['wait'] and changing:
            described = wait_applied(ec2, [instance_id for instance_id, _after in changing],
                                     Deadline(params['wait_timeout']))
            for instance_id, instance in described.items():
                states[instance_id] = (instance.get('MetadataOptions') or {}).get('State')

    changed_ids = [instance_id for instance_id, _after in changing]
    return dict(
        changed=bool(changing),
        changed_ids=changed_ids,
        instances=[
            dict(instance_id=instance_id, changed=instance_id in changed_ids, before=before, after=after,
                 state=states.get(instance_id))
            for instance_id, before, after in steps
        ],
        diff={
            'before': {instance_id: before for instance_id, before, _after in steps if instance_id in changed_ids},
            'after': {instance_id: after for instance_id, _before, after in steps if instance_id in changed_ids},
        },
    )
