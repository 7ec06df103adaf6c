"""The register_instance role with the etcd backend, run by ansible-playbook against a real etcd 3.4.

Each test is one run of tests/utils/servers/lab.py inside tests/utils/imds-netns
(see test_haproxy.py): etcd on the namespace's loopback,
the playbook steps, and after each step every key and lease etcd holds, read
through the gateway with a range request as CoreDNS's etcd plugin reads them.
Expected values come from the emulator's built-in instance.

The lease test runs the role's keepalive service for real: a stand-in
systemctl (tests/utils/servers/fake-systemd) starts the unit's ExecStart in
the namespace, since no systemd runs there. Renewal is checked by lease
identity, not by the clock: etcd's TimeToLive of the very lease the role
granted must go back up (lab.py renewals), within a generous deadline, so a
busy machine only makes the test slower.
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
UNIT = "cloudmeta-etcd-keepalive@web.service"


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


LEASE_TTL = 12


def test_lease_is_kept_alive_by_the_installed_service_and_removed_with_it(tmp_path):
    md, _eni = instance()
    skydns_key = "/skydns/internal/corp/web/" + md["instance-id"]
    systemd_state = tmp_path / "lab" / "systemd"
    env = {"PATH": FAKE_SYSTEMD + os.pathsep + os.environ["PATH"],
           "FAKE_SYSTEMD_STATE_DIR": str(systemd_state), "FAKE_SYSTEMD_UNIT_DIR": str(systemd_state / "units")}
    lease_vars = etcd_vars(
        tmp_path,
        register_instance_etcd_lease_ttl=LEASE_TTL,
        register_instance_etcd_keepalive_python=sys.executable,
        register_instance_etcd_keepalive_script=str(tmp_path / "bin" / "cloudmeta-etcd-keepalive"),
        register_instance_etcd_keepalive_unit_dir=str(systemd_state / "units"),
        register_instance_etcd_keepalive_config_dir=str(tmp_path / "keepalive"),
        register_instance_library_dir=str(tmp_path / "lib" / "cloudmeta-imds"),
    )
    (tmp_path / "bin").mkdir()
    unit_path = systemd_state / "units" / "cloudmeta-etcd-keepalive@.service"
    program = tmp_path / "bin" / "cloudmeta-etcd-keepalive"
    # What the role installed, recorded while it is there: state absent removes it.
    installed_path = tmp_path / "installed.json"
    record_installed = (
        "import json, os, sys; unit, program, out = sys.argv[1:]; "
        "json.dump({'unit': open(unit).read(), 'program_mode': os.stat(program).st_mode, "
        "'program': os.path.realpath(program)}, open(out, 'w'))"
    )

    def with_env(entry):
        entry["env"] = env
        return entry

    steps = [
        with_env(step(tmp_path, "check", lease_vars, args=("--check",))),
        with_env(step(tmp_path, "present", lease_vars)),
        # Two renewals of the same lease: the keepalive runs, and keeps running.
        {"argv": [sys.executable, LAB, "renewals", "--state-dir", str(tmp_path / "lab"), "--key", skydns_key,
                  "--renewals", "2", "--timeout", "240"], "timeout": 300},
        with_env(step(tmp_path, "again", lease_vars)),
        {"argv": [sys.executable, "-c", record_installed, str(unit_path), str(program), str(installed_path)]},
        with_env(step(tmp_path, "absent", dict(lease_vars, register_instance_state="absent"))),
        # A keepalive left running would write the keys back within its interval (TTL/3).
        {"argv": ["sleep", str(LEASE_TTL)]},
    ]
    check, present, waited, again, recorded, absent, after = run_lab(tmp_path, steps)

    assert recap(check)[2] == 0, check["output"]
    assert check["snapshot"]["etcd"]["keys"] == {}
    assert check["snapshot"]["services"] == {}

    assert recap(present)[2] == 0, present["output"]
    keys = present["snapshot"]["etcd"]["keys"]
    leases = {item["lease"] for item in keys.values()}
    assert len(keys) == 2 and len(leases) == 1 and "0" not in leases
    (lease,) = leases
    assert present["snapshot"]["etcd"]["leases"][lease]["granted_ttl"] == LEASE_TTL
    assert present["snapshot"]["services"] == {UNIT: True}
    calls = present["snapshot"]["systemctl"]
    assert ["daemon-reload"] in calls and ["enable", UNIT] in calls and ["start", UNIT] in calls

    # The lease the role granted was renewed twice (its TTL went back up), and
    # the keys are still there on it: the service renewed it.
    renewed = json.loads(waited["output"])
    assert waited["returncode"] == 0, waited["output"]
    assert renewed["lease"] == lease and renewed["renewals"] == 2, renewed
    assert waited["snapshot"]["etcd"]["keys"] == keys
    assert waited["snapshot"]["etcd"]["leases"][lease]["ttl"] > 0

    assert recap(again)[1:] == (0, 0), again["output"]

    assert recap(absent)[2] == 0, absent["output"]
    assert absent["snapshot"]["etcd"]["keys"] == {}
    assert lease not in absent["snapshot"]["etcd"]["leases"]
    assert absent["snapshot"]["services"] == {UNIT: False}
    assert ["disable", UNIT] in absent["snapshot"]["systemctl"]
    # Nothing wrote them back afterwards.
    assert after["snapshot"]["etcd"]["keys"] == {}
    assert not (tmp_path / "keepalive" / "web.json").exists()

    assert recorded["returncode"] == 0, recorded["output"]
    installed = json.loads(installed_path.read_text())
    unit = installed["unit"]
    assert "ExecStart=%s %s %s/%%i.json" % (sys.executable, program, tmp_path / "keepalive") in unit
    assert "Restart=always" in unit
    assert "After=network-online.target" in unit
    assert stat.S_IMODE(installed["program_mode"]) == 0o644
    # The unit runs the program in the instance library, through a link.
    assert installed["program"] == str(tmp_path / "lib" / "cloudmeta-imds" / "etcd-keepalive.py")
    # The last registration gone, so are the program, its unit and the library.
    assert not os.path.lexists(program)
    assert not unit_path.exists()
    assert not (tmp_path / "lib" / "cloudmeta-imds").exists()


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
