# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""What IMDS says about an instance going away, read into notices (pure, no network).

The lifecycle agent polls the paths of watched_paths() and hands each body to
the parser for that path. A parser returns the notices that apply, each with
a key that stays the same for the same event (so an agent that restarts does
not act twice) and the time by which the instance should be deregistered.
Bodies are untrusted text: anything malformed is a NoticeError naming the
path, never a guess. Standard library only: the agent runs outside Ansible.
"""

from __future__ import annotations

import collections
import datetime
import re

from .._common.json_text import loads_strict

SPOT_ACTION = 'spot/instance-action'
LIFECYCLE_STATE = 'autoscaling/target-lifecycle-state'
MAINTENANCE = 'events/maintenance/scheduled'
REBALANCE = 'events/recommendations/rebalance'
LIFE_CYCLE = 'instance-life-cycle'

SPOT_ACTIONS = ('terminate', 'stop', 'hibernate')
# Auto Scaling states in which the instance must not receive traffic. In
# Standby it is still the instance's own: Auto Scaling takes it out of the
# group's load balancers itself and puts it back, so it is not a departure.
LEAVING_STATES = ('Terminated', 'Warmed:Running', 'Warmed:Stopped', 'Warmed:Hibernated', 'Warmed:Terminated')
SERVING_STATES = ('InService', 'Pending', 'Pending:Wait', 'Pending:Proceed', 'Detached', 'Standby')
MAINTENANCE_CODES = ('instance-reboot', 'system-reboot', 'system-maintenance', 'instance-retirement', 'instance-stop')
# A real schedule holds a handful of events; more is a broken or hostile server.
MAX_MAINTENANCE_EVENTS = 100
MAX_TEXT = 200

Notice = collections.namedtuple('Notice', ['kind', 'action', 'key', 'deregister_at', 'gone_at', 'detail'])
Notice.__doc__ = """kind: 'spot', 'lifecycle', 'maintenance' or 'rebalance'; action: what will happen
(a Spot action, an Auto Scaling state, a maintenance code, 'rebalance'); key: stable across polls and
restarts for the same event; deregister_at: aware UTC datetime from which to deregister; gone_at: when
the instance is expected to stop serving, or None; detail: a short printable description."""

_ISO = re.compile(r'(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z')
# Maintenance dates are in the form '21 Jan 2019 09:00:43 GMT'. Month names are
# matched here rather than with strptime('%b'), which follows the locale.
_EVENT_DATE = re.compile(r'(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT')
_MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')
_EVENT_ID = re.compile(r'instance-event-[0-9a-f]{8,32}')


class NoticeError(ValueError):
    """A notice path served something that is not a notice; the message names the path and the value."""


def watched_paths(life_cycle, in_auto_scaling_group, rebalance=False):
    """The meta-data paths that can carry a notice for this instance, polled every interval.

    Spot notices only come to Spot instances and lifecycle states only to
    members of an Auto Scaling group, so the rest are not polled at all.
    """
    paths = [MAINTENANCE]
    if life_cycle == 'spot':
        paths.insert(0, SPOT_ACTION)
        if rebalance:
            paths.append(REBALANCE)
    if in_auto_scaling_group:
        paths.append(LIFECYCLE_STATE)
    return paths


def parse(path, text, now, maintenance_lead=datetime.timedelta(minutes=10)):
    """The notices the body TEXT of PATH holds (an empty list for none), as of NOW (aware UTC)."""
    if path == SPOT_ACTION:
        return [parse_spot_action(text, now)]
    if path == LIFECYCLE_STATE:
        notice = parse_lifecycle_state(text, now)
        return [notice] if notice else []
    if path == MAINTENANCE:
        return parse_maintenance(text, now, maintenance_lead)
    if path == REBALANCE:
        return [parse_rebalance(text, now)]
    raise NoticeError('%s is not a notice path; watch one of %s.' % (_shown(path), ', '.join(
        (SPOT_ACTION, LIFECYCLE_STATE, MAINTENANCE, REBALANCE))))


def parse_spot_action(text, now):
    """A Spot interruption: {"action": "terminate"|"stop"|"hibernate", "time": "...Z"}."""
    document = _json(SPOT_ACTION, text, dict, 'a JSON object')
    action = document.get('action')
    if action not in SPOT_ACTIONS:
        raise NoticeError('%s: action %s is none of %s.' % (SPOT_ACTION, _shown(action), ', '.join(SPOT_ACTIONS)))
    at = _iso_time(SPOT_ACTION, document.get('time'))
    return Notice('spot', action, 'spot:%s:%s' % (action, _iso(at)), now, at,
                  'Spot %s at %s' % (action, _iso(at)))


def parse_lifecycle_state(text, now):
    """An Auto Scaling state the instance must leave the backends for, or None while it serves."""
    state = text.strip() if isinstance(text, str) else text
    if state in SERVING_STATES:
        return None
    if state not in LEAVING_STATES:
        raise NoticeError('%s: state %s is not an Auto Scaling lifecycle state.' % (LIFECYCLE_STATE, _shown(state)))
    return Notice('lifecycle', state, 'lifecycle:%s' % state, now, None, 'Auto Scaling state %s' % state)


def parse_maintenance(text, now, lead):
    """Active scheduled events, each to deregister LEAD before its NotBefore; canceled and completed ones are left out."""
    events = _json(MAINTENANCE, text, list, 'a JSON array of events')
    if len(events) > MAX_MAINTENANCE_EVENTS:
        raise NoticeError('%s: %d events, more than the %d a real schedule holds.'
                          % (MAINTENANCE, len(events), MAX_MAINTENANCE_EVENTS))
    notices = []
    for event in events:
        if not isinstance(event, dict):
            raise NoticeError('%s: event %s is not a JSON object.' % (MAINTENANCE, _shown(event)))
        if event.get('State') != 'active':
            continue
        code, event_id = event.get('Code'), event.get('EventId')
        if code not in MAINTENANCE_CODES:
            raise NoticeError('%s: event code %s is none of %s.' % (MAINTENANCE, _shown(code), ', '.join(MAINTENANCE_CODES)))
        if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
            raise NoticeError('%s: event id %s does not look like instance-event-<hex>.' % (MAINTENANCE, _shown(event_id)))
        not_before = _event_time(event.get('NotBefore'))
        notices.append(Notice('maintenance', code, 'maintenance:%s' % event_id, not_before - lead, not_before,
                              '%s %s not before %s' % (code, event_id, _iso(not_before))))
    return notices


def parse_rebalance(text, now):
    """A rebalance recommendation: {"noticeTime": "...Z"}; acted on at once when the user opted in."""
    document = _json(REBALANCE, text, dict, 'a JSON object')
    at = _iso_time(REBALANCE, document.get('noticeTime'))
    return Notice('rebalance', 'rebalance', 'rebalance:%s' % _iso(at), now, None, 'rebalance recommendation of %s' % _iso(at))


def due(notices, now, done):
    """The notices to act on at NOW: due, and not acted on before (DONE is a set of keys)."""
    return [notice for notice in notices if notice.deregister_at <= now and notice.key not in done]


def _json(path, text, kind, what):
    """TEXT parsed as JSON of KIND (dict or list), else a NoticeError saying WHAT was expected."""
    try:
        document = loads_strict(text) if isinstance(text, str) else None
    except ValueError:
        document = None
    if not isinstance(document, kind):
        raise NoticeError('%s: expected %s, got %s.' % (path, what, _shown(text)))
    return document


def _iso_time(path, value):
    match = _ISO.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise NoticeError('%s: time %s is not an ISO 8601 UTC time such as 2026-12-01T10:02:00Z.' % (path, _shown(value)))
    return _utc(path, value, *(int(part) for part in match.groups()))


def _event_time(value):
    match = _EVENT_DATE.fullmatch(value) if isinstance(value, str) else None
    if not match or match.group(2) not in _MONTHS:
        raise NoticeError('%s: NotBefore %s is not a date such as 21 Jan 2019 09:00:43 GMT.' % (MAINTENANCE, _shown(value)))
    day, month, year, hour, minute, second = match.groups()
    return _utc(MAINTENANCE, value, int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute), int(second))


def _utc(path, value, *fields):
    try:
        return datetime.datetime(*fields, tzinfo=datetime.timezone.utc)
    except ValueError:
        raise NoticeError('%s: %s is not a real date.' % (path, _shown(value))) from None


def _iso(moment):
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def _shown(value):
    """VALUE as safe, short text for a message: repr escapes control characters."""
    text = repr(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + '...'
