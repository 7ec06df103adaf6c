"""The agent's decisions, against a scripted IMDS, backend and clock (no network, no sleeping)."""
import datetime
import json

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle import notices
from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle import state as agent_state
from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle.agent import Agent, BackendError

START = datetime.datetime(2026, 12, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
SPOT = json.dumps({"action": "terminate", "time": "2026-12-01T10:02:20Z"})


class World:
    """A clock, an IMDS served from a dict, a backend that records its calls, and a script of events."""

    def __init__(self, tmp_path, served=None, failures=0, stop_at=None):
        self.seconds = 0.0
        self.served = dict(served or {})
        self.calls = []
        self.failures = failures
        self.stop_at = stop_at
        self.script = {}
        self.lines = []
        self.state_path = str(tmp_path / "state.json")

    # clock
    def monotonic(self):
        return self.seconds

    def now(self):
        return START + datetime.timedelta(seconds=self.seconds)

    def sleep(self, seconds):
        self.seconds += seconds

    def wait(self, seconds):
        target = self.seconds + seconds
        for at in sorted(self.script):
            if self.seconds < at <= target:
                self.script.pop(at)(self)
        self.seconds = target
        return self.stop_at is not None and self.seconds >= self.stop_at

    # IMDS
    def read(self, path):
        value = self.served.get(path)
        if isinstance(value, Exception):
            raise value
        return value

    # backend
    def _call(self, name):
        self.calls.append((name, self.seconds))
        if self.failures:
            self.failures -= 1
            raise BackendError("etcd at 127.0.0.1:2379: connection refused")
        return "%s done" % name

    def register(self, deadline):
        return self._call("register")

    def deregister(self, deadline):
        return self._call("deregister")

    def agent(self, paths=(notices.SPOT_ACTION, notices.MAINTENANCE), **options):
        return Agent(self.read, self, paths, self.state_path, self.lines.append, self.wait, now=self.now,
                     monotonic=self.monotonic, sleep=self.sleep, **options)

    def names(self):
        return [name for name, _at in self.calls]


def test_registers_at_start_and_deregisters_when_stopped(tmp_path):
    world = World(tmp_path, {notices.MAINTENANCE: "[]"}, stop_at=20)
    assert world.agent().run() == 0
    assert world.names() == ["register", "deregister"]
    assert world.calls[1][1] == 20
    assert any(line.startswith("deregister (stop requested): done") for line in world.lines)


def test_a_spot_notice_deregisters_within_one_poll_and_acts_once(tmp_path):
    world = World(tmp_path, {notices.MAINTENANCE: "[]"}, stop_at=60)
    world.script[12] = lambda w: w.served.__setitem__(notices.SPOT_ACTION, SPOT)
    world.agent(poll_interval=5).run()
    assert world.names() == ["register", "deregister"]
    assert world.calls[1][1] == 15, "acted on the first poll after the notice appeared"
    state, _problem = agent_state.load(world.state_path)
    assert state.done["spot:terminate:2026-12-01T10:02:20Z"]["outcome"] == "deregistered"


def test_after_a_restart_an_acted_on_notice_neither_registers_nor_acts_again(tmp_path):
    first = World(tmp_path, {notices.MAINTENANCE: "[]", notices.SPOT_ACTION: SPOT}, stop_at=10)
    first.agent().run()
    assert first.names() == ["deregister"], "a notice due at start: no registration first"
    again = World(tmp_path, {notices.MAINTENANCE: "[]", notices.SPOT_ACTION: SPOT}, stop_at=10)
    again.agent().run()
    assert again.names() == []
    assert "start: not registering: Spot terminate at 2026-12-01T10:02:20Z" in again.lines


def test_a_deregistration_that_failed_before_a_restart_is_tried_again(tmp_path):
    first = World(tmp_path, {notices.MAINTENANCE: "[]", notices.SPOT_ACTION: SPOT}, failures=10 ** 6, stop_at=5)
    first.agent(notice_budget=20).run()
    assert agent_state.load(first.state_path)[0].done["spot:terminate:2026-12-01T10:02:20Z"]["outcome"] == (
        "deregistration failed")
    again = World(tmp_path, {notices.MAINTENANCE: "[]", notices.SPOT_ACTION: SPOT}, stop_at=5)
    again.agent().run()
    assert again.names() == ["deregister"]
    assert agent_state.load(again.state_path)[0].done["spot:terminate:2026-12-01T10:02:20Z"]["outcome"] == "deregistered"


def test_a_backend_outage_is_retried_until_it_works(tmp_path):
    world = World(tmp_path, {notices.MAINTENANCE: "[]"}, failures=3, stop_at=30)
    world.agent(retry_interval=1).run()
    assert world.names() == ["register"] * 4 + ["deregister"]


def test_a_deregistration_that_never_works_is_reported_within_its_budget(tmp_path):
    world = World(tmp_path, {notices.MAINTENANCE: "[]"}, stop_at=10)
    agent = world.agent(stop_budget=30, retry_interval=2)
    world.script[9] = lambda w: setattr(w, "failures", 1000)
    agent.run()
    tries = world.names().count("deregister")
    assert tries > 1
    assert world.calls[-1][1] - 10 <= 30
    assert any(line.startswith("deregister (stop requested): failed after %d attempts" % tries) for line in world.lines)


def test_maintenance_deregisters_the_lead_time_before_and_registers_again_when_it_ends(tmp_path):
    event = {"Code": "system-reboot", "Description": "x", "EventId": "instance-event-0123456789abcdef",
             "NotBefore": "01 Dec 2026 10:15:00 GMT", "NotAfter": "01 Dec 2026 12:15:00 GMT", "State": "active"}
    world = World(tmp_path, {notices.MAINTENANCE: json.dumps([event])}, stop_at=700)
    world.script[600] = lambda w: w.served.__setitem__(notices.MAINTENANCE, json.dumps([dict(event, State="canceled")]))
    world.agent(maintenance_lead=datetime.timedelta(minutes=10), poll_interval=5).run()
    assert world.names() == ["register", "deregister", "register", "deregister"]
    assert world.calls[1][1] == 300, "10 minutes before NotBefore (10:15)"
    assert world.calls[2][1] == 600
    assert "ended: system-reboot instance-event-0123456789abcdef not before 2026-12-01T10:15:00Z; registering again" in world.lines


def test_a_failing_imds_read_is_not_taken_for_an_ended_notice(tmp_path):
    world = World(tmp_path, {notices.MAINTENANCE: "[]"}, stop_at=40)
    world.script[7] = lambda w: w.served.__setitem__(notices.SPOT_ACTION, SPOT)
    world.script[17] = lambda w: w.served.__setitem__(notices.SPOT_ACTION, OSError("timed out"))
    world.agent(poll_interval=5).run()
    assert world.names() == ["register", "deregister"]
    assert [line for line in world.lines if line.startswith("poll:")] == ["poll: spot/instance-action: timed out"]


def test_a_warm_pool_instance_leaves_and_comes_back_each_time(tmp_path):
    world = World(tmp_path, {notices.LIFECYCLE_STATE: "InService"}, stop_at=100)
    for at, value in ((10, "Warmed:Running"), (30, "InService"), (50, "Warmed:Running"), (70, "InService")):
        world.script[at] = lambda w, value=value: w.served.__setitem__(notices.LIFECYCLE_STATE, value)
    world.agent(paths=[notices.LIFECYCLE_STATE], poll_interval=5).run()
    assert world.names() == ["register", "deregister", "register", "deregister", "register", "deregister"]


def test_terminated_completes_the_lifecycle_hook_after_deregistering(tmp_path):
    class Hook:
        def complete(self, deadline):
            world.calls.append(("complete", world.seconds))
            return "CONTINUE"
    world = World(tmp_path, {notices.LIFECYCLE_STATE: "InService"}, stop_at=30)
    world.script[10] = lambda w: w.served.__setitem__(notices.LIFECYCLE_STATE, "Terminated")
    world.agent(paths=[notices.LIFECYCLE_STATE], hook=Hook()).run()
    assert world.names() == ["register", "deregister", "complete"]
    state, _problem = agent_state.load(world.state_path)
    assert state.done["lifecycle:Terminated"]["outcome"] == "deregistered; lifecycle hook completed"


def test_a_stop_during_registration_retries_ends_without_registering(tmp_path):
    world = World(tmp_path, {notices.MAINTENANCE: "[]"}, failures=10 ** 6, stop_at=25)
    assert world.agent(retry_interval=1).run() == 0
    assert set(world.names()) == {"register"}
    assert world.seconds < 60


@pytest.mark.parametrize("body", ["not json", json.dumps([{"State": "active", "Code": "boom"}])])
def test_a_malformed_notice_is_logged_once_and_the_watch_goes_on(tmp_path, body):
    world = World(tmp_path, {notices.MAINTENANCE: body}, stop_at=50)
    world.agent().run()
    assert world.names() == ["register", "deregister"]
    assert len([line for line in world.lines if line.startswith("poll: events/maintenance/scheduled")]) == 1
