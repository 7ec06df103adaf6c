# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""Auto Scaling lifecycle hooks, completed by the instance itself (AWS's pattern without queues).

The agent calls complete() after it has deregistered on Terminated, and the
bootstrap after a successful registration on launch; heartbeat() extends
the hook's wait while a drain takes longer than its HeartbeatTimeout. The
client is a boto3 autoscaling client; each call needs only the IAM action of
the same name on the group's ARN.
"""

from __future__ import annotations

import re

from .agent import BackendError

RESULTS = ('CONTINUE', 'ABANDON')
# Auto Scaling names: 1 to 255 characters, no control characters (a name from an instance tag is untrusted).
_NAME = re.compile(r'[^\x00-\x1f\x7f]{1,255}')
_INSTANCE_ID = re.compile(r'i-[0-9a-f]{8,32}')


class LifecycleHook:
    """One lifecycle hook of one group, for one instance."""

    def __init__(self, client, group, hook, instance_id, heartbeat_interval=None):
        for what, value, pattern in (('Auto Scaling group name', group, _NAME), ('lifecycle hook name', hook, _NAME),
                                     ('instance ID', instance_id, _INSTANCE_ID)):
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise ValueError('The %s %r is not valid; check the agent configuration or the instance tags.'
                                 % (what, value))
        self.client, self.group, self.hook, self.instance_id = client, group, hook, instance_id
        # Seconds between heartbeats while the agent deregisters (agent.py), or None for none.
        self.heartbeat_interval = heartbeat_interval

    def complete(self, deadline=None, result='CONTINUE'):
        """Tell Auto Scaling the instance is done: the launch or the termination proceeds (or, ABANDON, not)."""
        if result not in RESULTS:
            raise ValueError('result must be one of %s, got %r' % (', '.join(RESULTS), result))
        self._call('complete_lifecycle_action', LifecycleActionResult=result)
        return 'lifecycle hook %s of %s completed with %s' % (self.hook, self.group, result)

    def heartbeat(self, deadline=None):
        """Restart the hook's heartbeat timeout while the instance is still draining."""
        self._call('record_lifecycle_action_heartbeat')
        return 'heartbeat sent for lifecycle hook %s' % self.hook

    def _call(self, operation, **extra):
        # Imported here: the rest of the agent runs without boto3 (backends that are not AWS).
        import botocore.exceptions  # pylint: disable=import-outside-toplevel

        try:
            getattr(self.client, operation)(AutoScalingGroupName=self.group, LifecycleHookName=self.hook,
                                            InstanceId=self.instance_id, **extra)
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get('Error', {})
            raise BackendError('Auto Scaling %s for %s in %s: %s: %s' % (
                operation, self.instance_id, self.group, error.get('Code'), error.get('Message'))) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise BackendError('Auto Scaling %s for %s in %s: %s' % (operation, self.instance_id, self.group, exc)) from exc
