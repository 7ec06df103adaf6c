"""IMDS notice bodies read into notices: what acts, when, once (no network)."""
import datetime
import json

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle import notices
from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle.notices import NoticeError

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def event(**fields):
    base = {"Code": "instance-stop", "Description": "The instance is running on degraded hardware",
            "EventId": "instance-event-0d59937288b749b32", "NotBefore": "21 Dec 2026 09:00:43 GMT",
            "NotAfter": "21 Dec 2026 11:00:43 GMT", "State": "active"}
    base.update(fields)
    return base


@pytest.mark.parametrize("life_cycle, in_group, rebalance, expected", [
    ("on-demand", False, False, [notices.MAINTENANCE]),
    ("on-demand", True, True, [notices.MAINTENANCE, notices.LIFECYCLE_STATE]),
    ("spot", False, False, [notices.SPOT_ACTION, notices.MAINTENANCE]),
    ("spot", True, True, [notices.SPOT_ACTION, notices.MAINTENANCE, notices.REBALANCE, notices.LIFECYCLE_STATE]),
])
def test_only_the_paths_that_can_apply_are_watched(life_cycle, in_group, rebalance, expected):
    assert notices.watched_paths(life_cycle, in_group, rebalance) == expected


@pytest.mark.parametrize("action", notices.SPOT_ACTIONS)
def test_spot_notice_acts_now_and_says_when_the_instance_goes(action):
    body = json.dumps({"action": action, "time": "2026-12-01T10:02:00Z"})
    [notice] = notices.parse(notices.SPOT_ACTION, body, NOW)
    assert notice.kind == "spot" and notice.action == action
    assert notice.deregister_at == NOW
    assert notice.gone_at == datetime.datetime(2026, 12, 1, 10, 2, tzinfo=UTC)
    assert notice.key == "spot:%s:2026-12-01T10:02:00Z" % action


def test_the_same_spot_notice_has_the_same_key_on_every_poll():
    body = '{"action": "terminate", "time": "2026-12-01T10:02:00Z"}'
    first = notices.parse(notices.SPOT_ACTION, body, NOW)[0]
    later = notices.parse(notices.SPOT_ACTION, body, NOW + datetime.timedelta(seconds=30))[0]
    assert first.key == later.key


@pytest.mark.parametrize("body, message", [
    ('{"action": "reboot", "time": "2026-12-01T10:02:00Z"}', "action 'reboot' is none of terminate, stop, hibernate"),
    ('{"action": "terminate", "time": "tomorrow"}', "time 'tomorrow' is not an ISO 8601 UTC time"),
    ('{"action": "terminate", "time": "2026-02-30T10:02:00Z"}', "is not a real date"),
    ('{"action": "terminate", "time": "2026-12-01T10:02:00Z\\n"}', "is not an ISO 8601 UTC time"),
    ('["terminate"]', "expected a JSON object"),
    ("none", "expected a JSON object, got 'none'"),
])
def test_malformed_spot_notices_are_errors_naming_the_value(body, message):
    with pytest.raises(NoticeError, match="^spot/instance-action: ") as caught:
        notices.parse(notices.SPOT_ACTION, body, NOW)
    assert message in str(caught.value)


@pytest.mark.parametrize("state", notices.LEAVING_STATES)
def test_leaving_lifecycle_states_act_once_per_state(state):
    [notice] = notices.parse(notices.LIFECYCLE_STATE, state + "\n", NOW)
    assert (notice.kind, notice.action, notice.key, notice.deregister_at) == ("lifecycle", state, "lifecycle:" + state, NOW)


@pytest.mark.parametrize("state", notices.SERVING_STATES)
def test_serving_lifecycle_states_are_no_notice(state):
    assert notices.parse(notices.LIFECYCLE_STATE, state, NOW) == []


def test_unknown_lifecycle_state_is_an_error_with_control_characters_escaped():
    with pytest.raises(NoticeError, match=r"state 'Terminat\\x1bed' is not an Auto Scaling lifecycle state"):
        notices.parse(notices.LIFECYCLE_STATE, "Terminat\x1bed", NOW)


def test_active_maintenance_deregisters_the_lead_time_before_not_before():
    body = json.dumps([event(), event(State="canceled", EventId="instance-event-1111111111111111"),
                       event(State="completed", EventId="instance-event-2222222222222222")])
    [notice] = notices.parse(notices.MAINTENANCE, body, NOW, maintenance_lead=datetime.timedelta(minutes=15))
    not_before = datetime.datetime(2026, 12, 21, 9, 0, 43, tzinfo=UTC)
    assert notice.kind == "maintenance" and notice.action == "instance-stop"
    assert notice.gone_at == not_before
    assert notice.deregister_at == not_before - datetime.timedelta(minutes=15)
    assert notice.key == "maintenance:instance-event-0d59937288b749b32"


def test_empty_schedule_is_no_notice():
    assert notices.parse(notices.MAINTENANCE, "[]", NOW) == []


@pytest.mark.parametrize("body, message", [
    (json.dumps([event(Code="instance-explode")]), "event code 'instance-explode' is none of"),
    (json.dumps([event(EventId="../../etc")]), "event id '../../etc' does not look like"),
    (json.dumps([event(NotBefore="2026-12-21T09:00:43Z")]), "NotBefore '2026-12-21T09:00:43Z' is not a date"),
    (json.dumps([event(NotBefore="21 Foo 2026 09:00:43 GMT")]), "is not a date"),
    (json.dumps(["instance-stop"]), "event 'instance-stop' is not a JSON object"),
    (json.dumps({"Code": "instance-stop"}), "expected a JSON array"),
    (json.dumps([event()] * (notices.MAX_MAINTENANCE_EVENTS + 1)), "101 events, more than the 100"),
])
def test_malformed_schedules_are_errors(body, message):
    with pytest.raises(NoticeError, match="^events/maintenance/scheduled: ") as caught:
        notices.parse(notices.MAINTENANCE, body, NOW)
    assert message in str(caught.value)


def test_rebalance_recommendation():
    [notice] = notices.parse(notices.REBALANCE, '{"noticeTime": "2026-12-01T09:58:00Z"}', NOW)
    assert (notice.kind, notice.key, notice.deregister_at, notice.gone_at) == (
        "rebalance", "rebalance:2026-12-01T09:58:00Z", NOW, None)


def test_long_values_are_cut_in_messages():
    with pytest.raises(NoticeError) as caught:
        notices.parse(notices.LIFECYCLE_STATE, "x" * 10000, NOW)
    assert len(str(caught.value)) < 300


def test_unknown_path_is_refused():
    with pytest.raises(NoticeError, match="'meta-data/instance-id' is not a notice path"):
        notices.parse("meta-data/instance-id", "i-0123456789abcdef0", NOW)


def test_due_leaves_out_future_and_done_notices():
    body = json.dumps([event(), event(EventId="instance-event-3333333333333333", NotBefore="01 Dec 2026 10:05:00 GMT")])
    schedule = notices.parse(notices.MAINTENANCE, body, NOW)
    assert [n.key for n in notices.due(schedule, NOW, done=set())] == ["maintenance:instance-event-3333333333333333"]
    assert notices.due(schedule, NOW, done={"maintenance:instance-event-3333333333333333"}) == []
