"""The agent's state file: survives restarts, bounded, replaced atomically, never trusted when bad."""
import json
import os

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle import state as agent_state


def test_first_start_has_no_file_and_acted_on_nothing(tmp_path):
    loaded, problem = agent_state.load(str(tmp_path / "state.json"))
    assert problem is None
    assert not loaded.acted_on("spot:terminate:2026-12-01T10:02:00Z")


def test_what_was_recorded_is_remembered_after_a_restart(tmp_path):
    path = str(tmp_path / "state.json")
    first = agent_state.AgentState()
    first.record("spot:terminate:2026-12-01T10:02:00Z", "2026-12-01T10:00:03Z", "deregistered from elbv2 in 4.1 s")
    agent_state.save(path, first)
    again, problem = agent_state.load(path)
    assert problem is None
    assert again.acted_on("spot:terminate:2026-12-01T10:02:00Z")
    assert again.done["spot:terminate:2026-12-01T10:02:00Z"]["outcome"] == "deregistered from elbv2 in 4.1 s"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert os.listdir(tmp_path) == ["state.json"]


def test_the_oldest_entries_are_forgotten_beyond_the_bound():
    kept = agent_state.AgentState()
    for number in range(agent_state.MAX_ENTRIES + 5):
        kept.record("maintenance:instance-event-%016x" % number, "t", "ok")
    assert len(kept.done) == agent_state.MAX_ENTRIES
    assert not kept.acted_on("maintenance:instance-event-%016x" % 4)
    assert kept.acted_on("maintenance:instance-event-%016x" % 5)


def test_recording_a_key_again_makes_it_the_newest():
    kept = agent_state.AgentState()
    kept.record("a", "t1", "ok")
    kept.record("b", "t2", "ok")
    kept.record("a", "t3", "again")
    assert list(kept.done) == ["b", "a"]


@pytest.mark.parametrize("content, problem", [
    (b"{not json", "is not JSON"),
    (b"\xff\xfe", "is not JSON"),
    (json.dumps({"version": 2, "done": {}}).encode(), "is not a version 1 state file"),
    (json.dumps({"version": 1, "done": []}).encode(), "has no valid list"),
    (json.dumps({"version": 1, "done": {"k": {"at": 1, "outcome": "ok"}}}).encode(), "malformed entry for 'k'"),
    (b" " * (agent_state.MAX_FILE_SIZE + 1), "is larger than"),
])
def test_a_bad_file_is_set_aside_and_the_agent_starts_afresh(tmp_path, content, problem):
    path = tmp_path / "state.json"
    path.write_bytes(content)
    loaded, message = agent_state.load(str(path))
    assert loaded.done == {}
    assert problem in message and "moved to %s.corrupt" % path in message
    assert not path.exists() and (tmp_path / "state.json.corrupt").read_bytes() == content


def test_a_failed_write_leaves_the_old_state_and_no_temporary_file(tmp_path, monkeypatch):
    path = str(tmp_path / "state.json")
    old = agent_state.AgentState()
    old.record("a", "t", "ok")
    agent_state.save(path, old)

    def full_disk(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(agent_state.os, "fsync", full_disk)
    new = agent_state.AgentState()
    new.record("b", "t", "ok")
    with pytest.raises(OSError, match="No space left"):
        agent_state.save(path, new)
    assert agent_state.load(path)[0].done == old.done
    assert os.listdir(tmp_path) == ["state.json"]
