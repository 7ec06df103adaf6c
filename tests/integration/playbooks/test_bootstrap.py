"""The cloudmeta.imds.bootstrap collection playbook and the make demo script.

The playbook runs the way cloud-init or a user would run it: by its FQCN,
with no inventory (implicit localhost), inside a network namespace where the
emulator answers at the default metadata address.
"""
import json
import os
import subprocess
import sys

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
import imds_emulator  # noqa: E402


from playbook_runner import BIN_DIR, playbook_env, run_in_netns  # noqa: E402

# Prints the emulator's request log; only reachable inside the namespace.
REQUEST_LOG = (
    "import sys, urllib.request; "
    "opener = urllib.request.build_opener(urllib.request.ProxyHandler({})); "
    "sys.stdout.write(opener.open('http://169.254.169.254/_emulator/requests').read().decode())"
)


def bootstrap(tmp_path, *extra_args, **variables):
    """Run the bootstrap playbook in a fresh namespace; return (result, request log)."""
    vars_file = tmp_path / "register.json"
    vars_file.write_text(json.dumps(variables))
    log = tmp_path / "requests.json"
    script = '"$1" cloudmeta.imds.bootstrap -e "@$2" "${@:5}" && "$3" -c "$REQUEST_LOG" > "$4"'
    command = ["bash", "-c", script, "bootstrap",
               os.path.join(BIN_DIR, "ansible-playbook"), str(vars_file), sys.executable, str(log), *extra_args]
    result = run_in_netns(command, env={"REQUEST_LOG": REQUEST_LOG})
    requests = json.loads(log.read_text())["requests"] if result.returncode == 0 else None
    return result, requests


def test_bootstrap_registers_by_fqcn_with_one_metadata_read(tmp_path):
    data = imds_emulator.builtin_instance()
    md = data["meta-data"]
    sd_dir = tmp_path / "sd"
    settings = dict(register_instance_service_name="web", register_instance_port=8080,
                    register_instance_file_sd_dir=str(sd_dir), register_instance_labels={"env": "test"})

    result, requests = bootstrap(tmp_path, **settings)
    assert result.returncode == 0, result.stdout
    assert "Registered %s (%s, %s / %s," % (
        md["instance-id"], md["placement"]["region"], md["placement"]["availability-zone"],
        md["placement"]["availability-zone-id"]) in result.stdout
    assert "at %s:8080 with the file_sd backend" % md["local-ipv4"] in result.stdout

    group = json.loads((sd_dir / ("web-%s.json" % md["instance-id"])).read_text())[0]
    assert group["targets"] == ["%s:8080" % md["local-ipv4"]]
    assert group["labels"]["env"] == "test"
    assert group["labels"]["instance_id"] == md["instance-id"]

    # The role reuses the playbook's facts: every metadata path is read once,
    # and nothing outside identity, placement and network is read.
    gets = [r["path"] for r in requests if r["method"] == "GET"]
    assert len(gets) == len(set(gets)), gets
    assert sum(1 for r in requests if r["method"] == "PUT") == 1
    assert not [p for p in gets if "/tags/" in p or "/iam/" in p or p.endswith("user-data")], gets
    assert all(r["status"] == 200 for r in requests), requests

    again, _requests = bootstrap(tmp_path, **settings)
    assert again.returncode == 0, again.stdout
    assert "changed=0" in again.stdout

    gone, _requests = bootstrap(tmp_path, "-e", "register_instance_state=absent", **settings)
    assert gone.returncode == 0, gone.stdout
    assert "Deregistered %s" % md["instance-id"] in gone.stdout
    assert list(sd_dir.iterdir()) == []


def test_bootstrap_points_at_an_explicit_endpoint(tmp_path):
    """register_instance_imds_endpoint reaches the playbook's facts task and the role."""
    sd_dir = tmp_path / "sd"
    result, _requests = bootstrap(
        tmp_path, register_instance_service_name="web", register_instance_port=8080,
        register_instance_file_sd_dir=str(sd_dir), register_instance_imds_endpoint="http://127.0.0.1:9",
        register_instance_imds_total_timeout=3)
    assert result.returncode != 0
    assert "127.0.0.1:9" in result.stdout
    assert not sd_dir.exists()


def test_make_demo_script(tmp_path):
    """tools/demo.sh registers against a 127.0.0.1 emulator, shows it, and cleans up."""
    md = imds_emulator.builtin_instance()["meta-data"]
    env = playbook_env({"PYTHON": sys.executable, "DEMO_DIR": str(tmp_path / "demo")})
    env.pop("ANSIBLE_COLLECTIONS_PATH")
    result = subprocess.run([os.path.join(REPO_ROOT, "tools", "demo.sh")], env=env, cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stdout
    out = result.stdout
    for value in (md["instance-id"], md["placement"]["region"], md["placement"]["availability-zone"],
                  md["placement"]["availability-zone-id"], md["local-ipv4"] + ":9100"):
        assert value in out
    assert '"targets": [' in out
    assert "changed=0" in out
    assert "The registration file is gone" in out
    assert list((tmp_path / "demo" / "file_sd").iterdir()) == []


DOUBLE = os.path.join(REPO_ROOT, "tests", "utils", "servers", "autoscaling_double.py")
FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def bootstrap_with_double(tmp_path, name, variables, data=None, error=None):
    """The bootstrap playbook run through the Auto Scaling double; (result, the API requests it recorded)."""
    vars_file = tmp_path / ("%s.json" % name)
    vars_file.write_text(json.dumps(variables))
    record = tmp_path / ("%s-requests.json" % name)
    command = [sys.executable, DOUBLE, "--record", str(record)] + (["--error", error] if error else []) + [
        "--", os.path.join(BIN_DIR, "ansible-playbook"), "cloudmeta.imds.bootstrap", "-e", "@%s" % vars_file]
    emulator_args = []
    if data is not None:
        data_path = tmp_path / ("%s-instance.json" % name)
        data_path.write_text(json.dumps(data))
        emulator_args = ["--data", str(data_path)]
    result = run_in_netns(command, emulator_args=emulator_args, env=FAKE_KEYS)
    return result, json.loads(record.read_text())


def test_bootstrap_completes_the_launch_hook_of_the_group_in_the_instance_tags(tmp_path):
    data = imds_emulator.builtin_instance()
    data["meta-data"]["tags"]["instance"]["aws:autoscaling:groupName"] = "web-asg"
    md = data["meta-data"]
    settings = dict(register_instance_service_name="web", register_instance_port=8080,
                    register_instance_file_sd_dir=str(tmp_path / "sd"), bootstrap_launch_hook="wait-for-bootstrap")

    result, requests = bootstrap_with_double(tmp_path, "tags", settings, data=data)
    assert result.returncode == 0, result.stdout
    assert (tmp_path / "sd" / ("web-%s.json" % md["instance-id"])).exists()
    # One request, exactly as AWS expects it, after the registration.
    assert [{k: v for k, v in request.items() if k != "Version"} for request in requests] == [{
        "Action": "CompleteLifecycleAction", "AutoScalingGroupName": "web-asg",
        "LifecycleHookName": "wait-for-bootstrap", "InstanceId": md["instance-id"],
        "LifecycleActionResult": "CONTINUE"}]
    assert result.stdout.index("Register the instance") < result.stdout.index("Tell Auto Scaling")

    # Run again (ansible-pull): no action waits any more; no change, no failure.
    again, requests = bootstrap_with_double(
        tmp_path, "again", settings, data=data,
        error="CompleteLifecycleAction=ValidationError:No active Lifecycle Action found with instance ID %s"
              % md["instance-id"])
    assert again.returncode == 0, again.stdout
    assert "changed=0" in again.stdout
    assert len(requests) == 1


def test_bootstrap_launch_hook_takes_the_group_variable_and_refuses_an_unknown_group(tmp_path):
    md = imds_emulator.builtin_instance()["meta-data"]
    settings = dict(register_instance_service_name="web", register_instance_port=8080,
                    register_instance_file_sd_dir=str(tmp_path / "sd"), bootstrap_launch_hook="wait-for-bootstrap")

    named, requests = bootstrap_with_double(tmp_path, "named", dict(settings, register_instance_autoscaling_group="api"))
    assert named.returncode == 0, named.stdout
    assert [(r["AutoScalingGroupName"], r["InstanceId"]) for r in requests] == [("api", md["instance-id"])]

    # The built-in instance has no aws:autoscaling:groupName tag: a clear failure, and no request.
    unknown, requests = bootstrap_with_double(tmp_path, "unknown", settings)
    assert unknown.returncode != 0
    assert "instance's Auto Scaling group is not known" in unknown.stdout
    assert "instance metadata tags" in unknown.stdout
    assert requests == []
