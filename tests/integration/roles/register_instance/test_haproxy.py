"""The register_instance role with the haproxy backend, run by ansible-playbook against a real HAProxy 2.6.

Each test is one run of tests/utils/servers/lab.py inside tests/utils/imds-netns:
the lab starts HAProxy and a small HTTP server (the instance's service) on
the namespace's loopback, runs the playbook steps, and records after each
step what HAProxy holds and what a request through its frontend returns.
The emulator at the default metadata address provides the instance's
identity; the registered address is 127.0.0.1 (register_instance_address),
so that traffic through HAProxy can reach the stand-in service.
"""
import json
import os
import re
import sys

from collection_path import REPO_ROOT
from playbook_runner import BIN_DIR, run_in_netns

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
import imds_emulator  # noqa: E402

LAB = os.path.join(REPO_ROOT, "tests", "utils", "servers", "lab.py")
ROLE = "cloudmeta.imds.register_instance"
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
INSTANCE_ID = imds_emulator.builtin_instance()["meta-data"]["instance-id"]


def lab_json(state_dir, path):
    """A Jinja expression reading PATH (dotted) from the lab's lab.json."""
    return "{{ (lookup('ansible.builtin.file', '%s/lab.json') | from_json).%s }}" % (state_dir, path)


def playbook(tmp_path):
    path = tmp_path / "play.yml"
    path.write_text(json.dumps([{"name": "Role under test", "hosts": "localhost", "gather_facts": False,
                                 "tasks": [{"name": "Run the role", "ansible.builtin.include_role": {"name": ROLE}}]}]))
    return str(path)


def step(tmp_path, name, role_vars, args=()):
    """One ansible-playbook run of the role with ROLE_VARS (may hold Jinja)."""
    vars_path = tmp_path / ("%s.json" % name)
    vars_path.write_text(json.dumps(role_vars))
    return {"argv": [os.path.join(BIN_DIR, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                     "-e", "ansible_python_interpreter=" + sys.executable, "-e", "@" + str(vars_path),
                     *args, playbook(tmp_path)]}


def run_lab(tmp_path, steps, servers):
    state_dir = tmp_path / "lab"
    steps_path = tmp_path / "steps.json"
    steps_path.write_text(json.dumps(steps))
    result = run_in_netns([sys.executable, LAB, "run", "--state-dir", str(state_dir), *servers,
                           "--steps", str(steps_path)], timeout=600)
    assert result.returncode == 0, result.stdout
    return json.loads((state_dir / "results.json").read_text())


def recap(step_result):
    match = RECAP.search(step_result["output"])
    assert match, step_result["output"]
    ok, changed, _unreachable, failed = (int(n) for n in match.groups())
    return ok, changed, failed


def base_vars(tmp_path, **extra):
    state_dir = tmp_path / "lab"
    variables = {
        "register_instance_backend": "haproxy",
        "register_instance_haproxy_socket": lab_json(state_dir, "haproxy.admin_socket"),
        "register_instance_haproxy_backend": "app",
        "register_instance_address": "127.0.0.1",
        "register_instance_port": lab_json(state_dir, "web.instance.port"),
    }
    variables.update(extra)
    return variables


def test_registers_serves_traffic_is_idempotent_and_deregisters(tmp_path):
    steps = [
        step(tmp_path, "check", base_vars(tmp_path), args=("--check",)),
        step(tmp_path, "present", base_vars(tmp_path)),
        step(tmp_path, "again", base_vars(tmp_path)),
        step(tmp_path, "absent", base_vars(tmp_path, register_instance_state="absent")),
        step(tmp_path, "gone", base_vars(tmp_path, register_instance_state="absent")),
    ]
    check, present, again, absent, gone = run_lab(tmp_path, steps, ["--haproxy", "--web", "instance"])

    assert recap(check)[1] >= 1 and recap(check)[2] == 0, check["output"]
    assert check["snapshot"]["haproxy"]["app"] == {}

    assert recap(present)[2] == 0, present["output"]
    server = present["snapshot"]["haproxy"]["app"]
    assert list(server) == [INSTANCE_ID]
    assert server[INSTANCE_ID]["address"] == "127.0.0.1"
    assert server[INSTANCE_ID]["admin"] == "ready"
    assert present["snapshot"]["probes"]["app"] == {"status": 200, "body": "instance"}
    assert present["snapshot"]["web_requests"]["instance"] == 1

    assert recap(again)[1:] == (0, 0), again["output"]

    assert recap(absent)[1] >= 1 and recap(absent)[2] == 0, absent["output"]
    assert absent["snapshot"]["haproxy"]["app"] == {}
    assert absent["snapshot"]["probes"]["app"]["status"] == 503

    assert recap(gone)[1:] == (0, 0), gone["output"]


def test_slot_mode_with_a_static_algorithm_over_the_tcp_socket(tmp_path):
    slot_vars = base_vars(tmp_path, register_instance_haproxy_mode="slot", register_instance_haproxy_backend="slots",
                          register_instance_haproxy_socket=lab_json(tmp_path / "lab", "haproxy.tcp_socket"))
    steps = [
        step(tmp_path, "present", slot_vars),
        step(tmp_path, "again", slot_vars),
        step(tmp_path, "absent", dict(slot_vars, register_instance_state="absent")),
    ]
    present, again, absent = run_lab(tmp_path, steps, ["--haproxy", "--web", "instance"])

    assert recap(present)[2] == 0, present["output"]
    taken = {name: slot for name, slot in present["snapshot"]["haproxy"]["slots"].items() if slot["admin"] == "ready"}
    assert len(taken) == 1
    assert list(taken.values())[0]["address"] == "127.0.0.1"
    assert present["snapshot"]["probes"]["slots"] == {"status": 200, "body": "instance"}
    assert recap(again)[1:] == (0, 0), again["output"]
    assert recap(absent)[2] == 0, absent["output"]
    assert all(slot["admin"] == "maint" for slot in absent["snapshot"]["haproxy"]["slots"].values())
    assert absent["snapshot"]["probes"]["slots"]["status"] == 503


def test_a_static_backend_in_dynamic_mode_fails_with_advice(tmp_path):
    static = step(tmp_path, "static", base_vars(tmp_path, register_instance_haproxy_backend="static"))
    (failed,) = run_lab(tmp_path, [static], ["--haproxy", "--web", "instance"])
    assert recap(failed)[2] == 1
    assert "dynamic load balancing" in failed["output"]
    assert "slot mode" in failed["output"]
    assert failed["snapshot"]["haproxy"]["static"] == {}


def test_delegated_to_the_load_balancer_host(tmp_path):
    # "lb" stands for the load balancer's inventory host; both run locally here.
    delegated = base_vars(tmp_path, register_instance_haproxy_delegate_to="lb")
    steps = [step(tmp_path, "delegated", delegated, args=("-i", "lb,")),
             step(tmp_path, "absent", dict(delegated, register_instance_state="absent"), args=("-i", "lb,"))]
    present, absent = run_lab(tmp_path, steps, ["--haproxy", "--web", "instance"])

    assert recap(present)[2] == 0, present["output"]
    assert "localhost -> lb" in present["output"]
    assert list(present["snapshot"]["haproxy"]["app"]) == [INSTANCE_ID]
    assert recap(absent)[2] == 0, absent["output"]
    assert absent["snapshot"]["haproxy"]["app"] == {}
