"""The register_instance role with the etcd backend, run by ansible-playbook against a real etcd 3.4.

Each test is one run of tests/utils/servers/lab.py inside tests/utils/imds-netns
(see test_haproxy.py): etcd on the namespace's loopback,
the playbook steps, and after each step every key and lease etcd holds, read
through the gateway with a range request as CoreDNS's etcd plugin reads them.
Expected values come from the emulator's built-in instance.

The lease tests run the role's lifecycle agent for real, which keeps the
lease: a stand-in systemctl (tests/utils/servers/fake-systemd) starts the
unit's ExecStart in the namespace, since no systemd runs there. Renewal is
checked by lease identity, not by the clock: etcd's TimeToLive of the very
lease the role granted must go back up (lab.py renewals), within a generous
deadline, so a busy machine only makes the test slower; nothing waits a
fixed time.
"""
import json
import os
import stat
import sys

from collection_path import REPO_ROOT
from playbook_runner import run_in_netns
from test_haproxy import recap, step

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
import imds_emulator  # noqa: E402

LAB = os.path.join(REPO_ROOT, "tests", "utils", "servers", "lab.py")
FAKE_SYSTEMD = os.path.join(REPO_ROOT, "tests", "utils", "servers", "fake-systemd")
AGENT = "cloudmeta-lifecycle@web.service"
# The 1.0.0 keepalive service, which the agent replaces.
KEEPALIVE = "cloudmeta-etcd-keepalive@web.service"


def instance():
    md = imds_emulator.builtin_instance()["meta-data"]
    eni = next(eni for eni in md["network"]["interfaces"]["macs"].values() if int(eni["device-number"]) == 0)
    return md, eni


def account_id():
    document = imds_emulator.builtin_instance()["dynamic"]["instance-identity"]["document"]
    return (json.loads(document) if isinstance(document, str) else document)["accountId"]


def etcd_vars(tmp_path, **extra):
    variables = {
        "register_instance_backend": "etcd",
        "register_instance_service_name": "web",
        "register_instance_port": 8080,
        "register_instance_etcd_url": "{{ (lookup('ansible.builtin.file', '%s/lab/lab.json') | from_json).etcd.url }}"
                                      % tmp_path,
        "register_instance_etcd_domain": "corp.internal",
    }
    variables.update(extra)
    return variables


def run_lab(tmp_path, steps):
    steps_path = tmp_path / "steps.json"
    steps_path.write_text(json.dumps(steps))
    result = run_in_netns([sys.executable, LAB, "run", "--state-dir", str(tmp_path / "lab"), "--etcd",
                           "--steps", str(steps_path)], timeout=600)
    assert result.returncode == 0, result.stdout
    return json.loads((tmp_path / "lab" / "results.json").read_text())


def test_writes_the_skydns_record_and_metadata_idempotently_and_deletes_them(tmp_path):
    md, eni = instance()
    skydns_key = "/skydns/internal/corp/web/" + md["instance-id"]
    metadata_key = "/cloudmeta/services/web/" + md["instance-id"]
    steps = [
        step(tmp_path, "check", etcd_vars(tmp_path), args=("--check",)),
        step(tmp_path, "present", etcd_vars(tmp_path, register_instance_labels={"team": "payments"})),
        step(tmp_path, "again", etcd_vars(tmp_path, register_instance_labels={"team": "payments"})),
        step(tmp_path, "absent", etcd_vars(tmp_path, register_instance_state="absent", register_instance_port=None)),
        step(tmp_path, "gone", etcd_vars(tmp_path, register_instance_state="absent", register_instance_port=None)),
    ]
    check, present, again, absent, gone = run_lab(tmp_path, steps)

    assert recap(check)[1] >= 1 and recap(check)[2] == 0, check["output"]
    assert check["snapshot"]["etcd"]["keys"] == {}

    assert recap(present)[2] == 0, present["output"]
    keys = present["snapshot"]["etcd"]["keys"]
    assert sorted(keys) == sorted([skydns_key, metadata_key])
    # What CoreDNS's etcd plugin decodes into msg.Service for web.corp.internal.
    assert json.loads(keys[skydns_key]["value"]) == {"host": md["local-ipv4"], "port": 8080, "ttl": 30}
    assert json.loads(keys[metadata_key]["value"]) == {
        "service": "web",
        "instance_id": md["instance-id"],
        "address": md["local-ipv4"],
        "port": 8080,
        "region": md["placement"]["region"],
        "availability_zone": md["placement"]["availability-zone"],
        "availability_zone_id": md["placement"]["availability-zone-id"],
        "subnet_id": eni["subnet-id"],
        "vpc_id": eni["vpc-id"],
        "account_id": account_id(),
        "labels": {"team": "payments"},
    }
    assert {item["lease"] for item in keys.values()} == {"0"}

    assert recap(again)[1:] == (0, 0), again["output"]
    assert recap(absent)[1] >= 1 and recap(absent)[2] == 0, absent["output"]
    assert absent["snapshot"]["etcd"]["keys"] == {}
    assert recap(gone)[1:] == (0, 0), gone["output"]


# Long enough for the rest of the role run (installing and starting the agent,
# which renews the lease from then on) on a busy machine; the role's lease
# expiring before the agent starts would empty the keys the test reads.
LEASE_TTL = 30


def lease_setup(tmp_path):
    """(env for the fake systemctl, role variables with a lease and the lifecycle agent under it)."""
    systemd_state = tmp_path / "lab" / "systemd"
    env = {"PATH": FAKE_SYSTEMD + os.pathsep + os.environ["PATH"],
           "FAKE_SYSTEMD_STATE_DIR": str(systemd_state), "FAKE_SYSTEMD_UNIT_DIR": str(systemd_state / "units")}
    lease_vars = etcd_vars(
        tmp_path,
        register_instance_etcd_lease_ttl=LEASE_TTL,
        register_instance_lifecycle_agent=True,
        register_instance_lifecycle_poll_interval=0.5,
        register_instance_lifecycle_python=sys.executable,
        register_instance_lifecycle_unit_dir=str(systemd_state / "units"),
        register_instance_lifecycle_config_dir=str(tmp_path / "lifecycle"),
        register_instance_lifecycle_state_dir=str(tmp_path / "state"),
        register_instance_library_dir=str(tmp_path / "lib" / "cloudmeta-imds"),
    )
    return env, lease_vars


def test_lease_is_kept_alive_by_the_lifecycle_agent_and_removed_with_it(tmp_path):
    md, _eni = instance()
    skydns_key = "/skydns/internal/corp/web/" + md["instance-id"]
    env, lease_vars = lease_setup(tmp_path)
    config = tmp_path / "lifecycle" / "web.json"
    recorded_path = tmp_path / "installed.json"
    record_config = ("import json, os, sys; path, out = sys.argv[1:]; "
                     "json.dump({'mode': os.stat(path).st_mode, 'config': json.load(open(path))}, open(out, 'w'))")

    def with_env(entry):
        entry["env"] = env
        return entry

    steps = [
        with_env(step(tmp_path, "check", lease_vars, args=("--check",))),
        with_env(step(tmp_path, "present", lease_vars)),
        # Two renewals of the same lease: the agent runs, and keeps running.
        {"argv": [sys.executable, LAB, "renewals", "--state-dir", str(tmp_path / "lab"), "--key", skydns_key,
                  "--renewals", "2", "--timeout", "240"], "timeout": 300},
        with_env(step(tmp_path, "again", lease_vars)),
        {"argv": [sys.executable, "-c", record_config, str(config), str(recorded_path)]},
        with_env(step(tmp_path, "absent", dict(lease_vars, register_instance_state="absent"))),
    ]
    check, present, waited, again, recorded, absent = run_lab(tmp_path, steps)

    assert recap(check)[2] == 0, check["output"]
    assert check["snapshot"]["etcd"]["keys"] == {}
    assert check["snapshot"]["services"] == {}

    assert recap(present)[2] == 0, present["output"]
    keys = present["snapshot"]["etcd"]["keys"]
    leases = {item["lease"] for item in keys.values()}
    assert len(keys) == 2 and len(leases) == 1 and "0" not in leases
    (lease,) = leases
    assert present["snapshot"]["etcd"]["leases"][lease]["granted_ttl"] == LEASE_TTL
    # One program on the instance: the agent, no keepalive service.
    assert present["snapshot"]["services"] == {AGENT: True}

    # The lease the role granted was renewed twice (its TTL went back up), and
    # the keys are still there on it: the agent renewed it.
    renewed = json.loads(waited["output"])
    assert waited["returncode"] == 0, waited["output"]
    assert renewed["lease"] == lease and renewed["renewals"] == 2, renewed
    assert waited["snapshot"]["etcd"]["keys"] == keys

    assert recap(again)[1:] == (0, 0), again["output"]

    assert recorded["returncode"] == 0, recorded["output"]
    installed = json.loads(recorded_path.read_text())
    assert stat.S_IMODE(installed["mode"]) == 0o600
    backend = installed["config"]["backend"]
    assert backend["type"] == "etcd" and backend["lease_ttl"] == LEASE_TTL
    assert backend["keys"][skydns_key] == json.loads(keys[skydns_key]["value"])

    # The agent stopped (it deleted the keys and revoked the lease), and is gone: nothing can write them back.
    assert recap(absent)[2] == 0, absent["output"]
    assert absent["snapshot"]["etcd"]["keys"] == {}
    assert lease not in absent["snapshot"]["etcd"]["leases"]
    assert absent["snapshot"]["services"] == {AGENT: False}
    assert not config.exists()
    assert not (tmp_path / "lib" / "cloudmeta-imds").exists()
    log = (tmp_path / "lab" / "systemd" / (AGENT + ".log")).read_text()
    assert "deregister (stop requested): done" in log, log


def test_upgrade_from_1_0_stops_and_removes_the_keepalive_service_and_the_agent_takes_the_lease(tmp_path):
    md, _eni = instance()
    env, lease_vars = lease_setup(tmp_path)
    units = tmp_path / "lab" / "systemd" / "units"
    old_config_dir = tmp_path / "keepalive"
    old_link = tmp_path / "bin" / "cloudmeta-etcd-keepalive"
    upgrade_vars = dict(lease_vars, register_instance_etcd_keepalive_config_dir=str(old_config_dir),
                        register_instance_etcd_keepalive_script=str(old_link))
    # What 1.0.0 left: its unit, configuration and program link, and the service running.
    install_old = (
        "import os, subprocess, sys; units, config_dir, link = sys.argv[1:4]; "
        "os.makedirs(units, exist_ok=True); os.makedirs(config_dir); os.makedirs(os.path.dirname(link)); "
        "open(os.path.join(units, 'cloudmeta-etcd-keepalive@.service'), 'w').write("
        "'[Service]\\nExecStart=%s -c \"import time; time.sleep(3600)\" %%i\\n' % sys.executable); "
        "open(os.path.join(config_dir, 'web.json'), 'w').write('{}'); os.symlink('/nonexistent', link); "
        "subprocess.run(['systemctl', 'enable', 'cloudmeta-etcd-keepalive@web.service'], check=True); "
        "subprocess.run(['systemctl', 'start', 'cloudmeta-etcd-keepalive@web.service'], check=True)"
    )
    steps = [
        {"argv": [sys.executable, "-c", install_old, str(units), str(old_config_dir), str(old_link)], "env": env},
        dict(step(tmp_path, "upgrade", upgrade_vars), env=env),
        dict(step(tmp_path, "again", upgrade_vars), env=env),
    ]
    old, upgrade, again = run_lab(tmp_path, steps)

    assert old["returncode"] == 0, old["output"]
    assert old["snapshot"]["services"] == {KEEPALIVE: True}
    assert recap(upgrade)[2] == 0, upgrade["output"]
    assert upgrade["snapshot"]["services"] == {KEEPALIVE: False, AGENT: True}
    calls = upgrade["snapshot"]["systemctl"]
    assert ["stop", KEEPALIVE] in calls and ["disable", KEEPALIVE] in calls
    assert not old_config_dir.exists() and not os.path.lexists(old_link)
    assert not (units / "cloudmeta-etcd-keepalive@.service").exists()
    keys = upgrade["snapshot"]["etcd"]["keys"]
    assert "/skydns/internal/corp/web/" + md["instance-id"] in keys
    assert recap(again)[1:] == (0, 0), again["output"]


def test_a_lease_without_the_agent_is_refused_with_what_to_do(tmp_path):
    steps = [step(tmp_path, "no-agent", etcd_vars(tmp_path, register_instance_etcd_lease_ttl=LEASE_TTL,
                                                  register_instance_lifecycle_agent=False))]
    (refused,) = run_lab(tmp_path, steps)
    assert recap(refused)[2] == 1
    assert "the lifecycle agent, which renews the lease, does not run here" in refused["output"]
    assert "Set register_instance_lifecycle_agent" in refused["output"]
    assert refused["snapshot"]["etcd"]["keys"] == {}


def test_a_dotted_service_name_is_reversed_like_the_domain_and_empty_labels_are_refused(tmp_path):
    md, _eni = instance()
    steps = [
        step(tmp_path, "dotted", etcd_vars(tmp_path, register_instance_service_name="API.v2")),
        step(tmp_path, "empty", etcd_vars(tmp_path, register_instance_service_name="web.")),
    ]
    dotted, empty = run_lab(tmp_path, steps)

    assert recap(dotted)[2] == 0, dotted["output"]
    # CoreDNS looks up api.v2.corp.internal (lower-cased) under this key.
    assert "/skydns/internal/corp/v2/api/" + md["instance-id"] in dotted["snapshot"]["etcd"]["keys"]
    assert recap(empty)[2] == 1
    assert "empty labels" in empty["output"]
    assert empty["snapshot"]["etcd"]["keys"] == dotted["snapshot"]["etcd"]["keys"]
