"""The register_instance role installing and running its lifecycle agent, end to end, with the file_sd backend.

Each test is one run of tests/utils/servers/lab.py inside tests/utils/imds-netns
(see test_haproxy.py). The emulator at the default address serves the built-in
instance as a Spot instance (instance-life-cycle "spot"). No systemd runs in
the namespace: the stand-in systemctl of tests/utils/servers/fake-systemd
starts the unit's ExecStart, so the agent really runs, reads IMDS and
deregisters. Notices are injected at run time through the emulator's
POST /_emulator/config; every wait is for a condition (the file gone, a log
line) with a generous deadline, so a busy machine makes the test slower,
never wrong.
"""
import json
import os
import re
import stat
import sys

from collection_path import REPO_ROOT
from playbook_runner import run_in_netns
from test_haproxy import recap, step

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
import imds_emulator  # noqa: E402

LAB = os.path.join(REPO_ROOT, "tests", "utils", "servers", "lab.py")
FAKE_SYSTEMD = os.path.join(REPO_ROOT, "tests", "utils", "servers", "fake-systemd")
UNIT = "cloudmeta-lifecycle@web.service"
MD = imds_emulator.builtin_instance()["meta-data"]
SD_FILE = "web-%s.json" % MD["instance-id"]

# A step that runs inside the namespace: inject a notice (emulator knobs as
# JSON), then wait until PATH is gone; prints what it saw, with times.
NOTICE_AND_WAIT = r"""
import json, os, sys, time, urllib.request
knobs, path, log, timeout = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
assert os.path.exists(path), 'not registered before the notice'
request = urllib.request.Request('http://169.254.169.254/_emulator/config', data=json.dumps(knobs).encode(),
                                 method='POST', headers={'Content-Type': 'application/json'})
opener.open(request).read()
started = time.monotonic()
while os.path.exists(path) and time.monotonic() - started < timeout:
    time.sleep(0.05)
gone = not os.path.exists(path)
seconds = time.monotonic() - started
# The agent logs its decision just after removing the file.
while gone and 'notice:' not in open(log).read() and time.monotonic() - started < timeout:
    time.sleep(0.05)
print(json.dumps({'gone': gone, 'seconds': round(seconds, 2), 'log': open(log).read()}))
"""


def spot_instance(tmp_path):
    data = imds_emulator.builtin_instance()
    data["meta-data"]["instance-life-cycle"] = "spot"
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(data))
    return str(path)


def agent_vars(tmp_path, **extra):
    systemd = tmp_path / "lab" / "systemd"
    variables = {
        "register_instance_backend": "file_sd",
        "register_instance_service_name": "web",
        "register_instance_port": 8080,
        "register_instance_file_sd_dir": str(tmp_path / "sd"),
        "register_instance_lifecycle_agent": True,
        "register_instance_lifecycle_poll_interval": 0.5,
        "register_instance_lifecycle_python": sys.executable,
        "register_instance_lifecycle_unit_dir": str(systemd / "units"),
        "register_instance_lifecycle_config_dir": str(tmp_path / "lifecycle"),
        "register_instance_lifecycle_state_dir": str(tmp_path / "state"),
        "register_instance_lifecycle_metrics_dir": str(tmp_path / "metrics"),
        "register_instance_library_dir": str(tmp_path / "lib" / "cloudmeta-imds"),
    }
    variables.update(extra)
    return variables


def fake_systemd_env(tmp_path):
    systemd = tmp_path / "lab" / "systemd"
    return {"PATH": FAKE_SYSTEMD + os.pathsep + os.environ["PATH"],
            "FAKE_SYSTEMD_STATE_DIR": str(systemd), "FAKE_SYSTEMD_UNIT_DIR": str(systemd / "units")}


def role_step(tmp_path, name, variables, args=()):
    entry = step(tmp_path, name, variables, args=args)
    entry["env"] = fake_systemd_env(tmp_path)
    return entry


def notice_step(tmp_path, knobs, timeout=120):
    log = tmp_path / "lab" / "systemd" / (UNIT + ".log")
    return {"argv": [sys.executable, "-c", NOTICE_AND_WAIT, json.dumps(knobs), str(tmp_path / "sd" / SD_FILE),
                     str(log), str(timeout)], "timeout": timeout + 60}


def record_step(tmp_path, name, *paths):
    """A step that records PATHS (contents and modes) while they exist, into NAME.json."""
    code = ("import json, os, sys; out, paths = sys.argv[1], sys.argv[2:]; "
            "json.dump({p: {'mode': os.stat(p).st_mode, 'text': open(p).read()} for p in paths if os.path.isfile(p)}, "
            "open(out, 'w'))")
    return {"argv": [sys.executable, "-c", code, str(tmp_path / (name + ".json")), *map(str, paths)]}


def run_lab(tmp_path, steps):
    steps_path = tmp_path / "steps.json"
    steps_path.write_text(json.dumps(steps))
    result = run_in_netns([sys.executable, LAB, "run", "--state-dir", str(tmp_path / "lab"), "--steps",
                           str(steps_path)], emulator_args=["--data", spot_instance(tmp_path)], timeout=900)
    assert result.returncode == 0, result.stdout
    return json.loads((tmp_path / "lab" / "results.json").read_text())


def test_installs_and_starts_the_agent_idempotently_and_a_spot_notice_deregisters(tmp_path):
    config = tmp_path / "lifecycle" / "web.json"
    unit = tmp_path / "lab" / "systemd" / "units" / "cloudmeta-lifecycle@.service"
    dropin = tmp_path / "lab" / "systemd" / "units" / (UNIT + ".d") / "cloudmeta.conf"
    steps = [
        role_step(tmp_path, "check", agent_vars(tmp_path), args=("--check",)),
        role_step(tmp_path, "present", agent_vars(tmp_path)),
        role_step(tmp_path, "again", agent_vars(tmp_path)),
        record_step(tmp_path, "installed", config, unit, dropin),
        notice_step(tmp_path, {"spot_action": "terminate", "spot_action_after": 0}),
        role_step(tmp_path, "absent", agent_vars(tmp_path, register_instance_state="absent",
                                                 register_instance_port=None)),
    ]
    check, present, again, recorded, notice, absent = run_lab(tmp_path, steps)

    assert recap(check)[2] == 0, check["output"]
    assert check["snapshot"]["services"] == {}
    assert not config.exists() or recap(check)[1] == 0

    assert recap(present)[2] == 0, present["output"]
    assert present["snapshot"]["services"] == {UNIT: True}
    calls = present["snapshot"]["systemctl"]
    assert ["daemon-reload"] in calls and ["enable", UNIT] in calls and ["start", UNIT] in calls

    assert recap(again)[1:] == (0, 0), again["output"]
    assert again["snapshot"]["services"] == {UNIT: True}

    assert recorded["returncode"] == 0, recorded["output"]
    installed = json.loads((tmp_path / "installed.json").read_text())
    settings = json.loads(installed[str(config)]["text"])
    assert stat.S_IMODE(installed[str(config)]["mode"]) == 0o600
    assert settings["backend"] == {
        "type": "file_sd", "path": str(tmp_path / "sd" / SD_FILE),
        # Exactly what the role wrote: the agent finds its registration and rewrites nothing.
        "content": (tmp_path / "sd" / SD_FILE).read_text() if (tmp_path / "sd" / SD_FILE).exists()
        else settings["backend"]["content"],
        "mode": "0644", "owner": None, "group": None}
    assert settings["name"] == "web" and settings["instance_id"] == MD["instance-id"]
    assert settings["poll_interval"] == 0.5 and settings["stop_budget"] == 90
    assert settings["state_path"] == str(tmp_path / "state" / "web.json")
    assert settings["metrics_path"] == str(tmp_path / "metrics" / "cloudmeta-lifecycle-web.prom")
    assert json.loads(settings["backend"]["content"])[0]["targets"] == ["%s:8080" % MD["local-ipv4"]]
    unit_text = installed[str(unit)]["text"]
    assert "ExecStart=%s -I %s/cloudmeta-lifecycle.pyz %s/%%i.json" % (
        sys.executable, tmp_path / "lib" / "cloudmeta-imds", tmp_path / "lifecycle") in unit_text
    assert "Restart=on-failure" in unit_text and "KillSignal=SIGTERM" in unit_text
    assert "After=network-online.target" in unit_text and "Wants=network-online.target" in unit_text
    dropin_text = installed[str(dropin)]["text"]
    assert "TimeoutStopSec=120" in dropin_text
    assert "ReadWritePaths=%s %s %s" % (tmp_path / "state", tmp_path / "sd", tmp_path / "metrics") in dropin_text

    # The Spot notice: the agent removed the file within a generous deadline, and said why.
    seen = json.loads(notice["output"])
    assert seen["gone"], seen
    assert "notice:" in seen["log"] and "spot" in seen["log"] and "terminate" in seen["log"], seen["log"]
    assert "deregister" in seen["log"], seen["log"]

    assert recap(absent)[2] == 0, absent["output"]
    assert absent["snapshot"]["services"] == {UNIT: False}
    assert ["stop", UNIT] in absent["snapshot"]["systemctl"] and ["disable", UNIT] in absent["snapshot"]["systemctl"]
    assert not config.exists() and not unit.exists() and not dropin.parent.exists()
    assert not (tmp_path / "state" / "web.json").exists()
    assert not (tmp_path / "lib" / "cloudmeta-imds").exists()
    assert not (tmp_path / "sd" / SD_FILE).exists()


def test_state_absent_stops_the_agent_which_deregisters_and_the_switch_turns_it_off(tmp_path):
    log = tmp_path / "lab" / "systemd" / (UNIT + ".log")
    steps = [
        role_step(tmp_path, "present", agent_vars(tmp_path)),
        # The switch off: the agent is stopped (it deregisters) and removed, then the role registers again.
        role_step(tmp_path, "off", agent_vars(tmp_path, register_instance_lifecycle_agent=False)),
        role_step(tmp_path, "off-again", agent_vars(tmp_path, register_instance_lifecycle_agent=False)),
        role_step(tmp_path, "on", agent_vars(tmp_path)),
        role_step(tmp_path, "absent", agent_vars(tmp_path, register_instance_state="absent",
                                                 register_instance_port=None)),
        role_step(tmp_path, "gone", agent_vars(tmp_path, register_instance_state="absent",
                                               register_instance_port=None)),
        # auto on a host without systemd (the marker directory missing): no agent.
        role_step(tmp_path, "auto", agent_vars(tmp_path, register_instance_lifecycle_agent="auto",
                                               __register_instance_systemd_marker=str(tmp_path / "no-systemd"))),
    ]
    present, off, off_again, on, absent, gone, auto = run_lab(tmp_path, steps)

    for result in (present, off, off_again, on, absent, gone, auto):
        assert recap(result)[2] == 0, result["output"]
    assert present["snapshot"]["services"] == {UNIT: True}

    assert off["snapshot"]["services"] == {UNIT: False}
    assert recap(off)[1] >= 1
    assert recap(off_again)[1:] == (0, 0), off_again["output"]
    assert not (tmp_path / "lifecycle" / "web.json").exists()
    assert not (tmp_path / "lib" / "cloudmeta-imds").exists()

    assert on["snapshot"]["services"] == {UNIT: True}
    assert absent["snapshot"]["services"] == {UNIT: False}
    assert recap(gone)[1:] == (0, 0), gone["output"]

    # Each stop deregistered first (the agent's own log), the role's file_sd task found nothing left.
    text = log.read_text()
    assert text.count("deregister (stop requested): done") == 2, text
    assert auto["snapshot"]["services"] == {UNIT: False}
    # With auto and no systemd no agent can have run, so the role does not even look for one.
    assert re.search(r"Look for an agent of this registration to remove\] \*+\nskipping: ", auto["output"]), auto["output"]
    assert re.search(r"Look for an agent of this registration to remove\] \*+\nok: ", off_again["output"])
    assert (tmp_path / "sd" / SD_FILE).exists()
    assert not (tmp_path / "lifecycle" / "web.json").exists()
