"""The emulator plays Auto Scaling lifecycle states and scheduled maintenance at run time."""
import datetime
import json

import pytest

from imds_emulator import build_parser, validate_knob

from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle import notices

STATE = "/latest/meta-data/autoscaling/target-lifecycle-state"
SCHEDULED = "/latest/meta-data/events/maintenance/scheduled"
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)


def test_outside_a_group_there_is_no_lifecycle_state(emu, http):
    assert http.get_v2(STATE).status == 404
    assert "autoscaling/" not in http.get_v2("/latest/meta-data/").body.decode().splitlines()


def test_lifecycle_state_is_served_and_changes_at_run_time(emu, http):
    emu.configure(autoscaling_state="InService")
    assert "autoscaling/" in http.get_v2("/latest/meta-data/").body.decode().splitlines()
    assert http.get_v2(STATE).body == b"InService"
    emu.configure(autoscaling_state="Warmed:Hibernated")
    assert http.get_v2(STATE).body == b"Warmed:Hibernated"


def test_lifecycle_state_switches_after_the_delay(emu, http):
    # An hour away: still in service. Due now: the next state. No test waits on a clock.
    emu.configure(autoscaling_state="InService", autoscaling_state_after=3600)
    assert http.get_v2(STATE).body == b"InService"
    emu.configure(autoscaling_state_after=0)
    assert http.get_v2(STATE).body == b"Terminated"
    [notice] = notices.parse(notices.LIFECYCLE_STATE, http.get_v2(STATE).body.decode(), NOW)
    assert notice.action == "Terminated"


def test_scheduled_maintenance_appears_with_its_not_before(emu, http):
    emu.configure(maintenance_after=3600)
    assert json.loads(http.get_v2(SCHEDULED).body) == []
    emu.configure(maintenance_after=0, maintenance_code="system-reboot", maintenance_not_before=3600)
    body = http.get_v2(SCHEDULED).body.decode()
    [event] = json.loads(body)
    assert (event["Code"], event["State"]) == ("system-reboot", "active")
    # The collection's own parser reads what the emulator serves, so rehearsals match EC2's format.
    [notice] = notices.parse(notices.MAINTENANCE, body, NOW)
    assert notice.key == "maintenance:" + event["EventId"]
    served_at = datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(minutes=50) < notice.gone_at - served_at <= datetime.timedelta(hours=1)
    assert http.get_v2(SCHEDULED).body.decode() == body, "the same event on every read"


@pytest.mark.parametrize("name, value", [("autoscaling_state", "Running"), ("autoscaling_next_state", None),
                                         ("maintenance_code", "reboot"), ("maintenance_not_before", -1),
                                         ("autoscaling_state_after", "soon")])
def test_bad_lifecycle_knobs_are_refused(name, value):
    with pytest.raises(ValueError, match=name):
        validate_knob(name, value)


def test_lifecycle_knobs_on_the_command_line():
    args = build_parser().parse_args(["--autoscaling-state", "InService", "--autoscaling-state-after", "30",
                                      "--maintenance-after", "5", "--maintenance-code", "instance-retirement"])
    assert (args.autoscaling_state, args.autoscaling_state_after, args.autoscaling_next_state) == ("InService", 30.0, "Terminated")
    assert (args.maintenance_after, args.maintenance_code, args.maintenance_not_before) == (5.0, "instance-retirement", 600.0)
