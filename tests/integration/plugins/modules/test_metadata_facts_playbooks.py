"""cloudmeta.imds.metadata_facts in real ansible-playbook runs.

Each run happens in a fresh network namespace with the emulator at the
default metadata address (tests/integration/conftest.py), and the module is
used with no connection options, as on an instance.
"""
import base64
import glob
import json
import os
import subprocess
import sys
import time

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
import imds_emulator  # noqa: E402

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks")
FACTS_MODULES = "ansible.builtin.setup,cloudmeta.imds.metadata_facts"


def playbook(name):
    return os.path.join(PLAYBOOKS, name)


def out_dir_args(tmp_path, **extra_vars):
    extra_vars["out_dir"] = str(tmp_path)
    return ("-e", json.dumps(extra_vars))


def flat(output):
    """Output with line wrapping undone, so messages can be searched whole."""
    return " ".join(output.split())


def read_json(path):
    return json.loads(path.read_text())


def credential_values():
    """The credential strings the emulator's built-in instance serves."""
    secrets = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("AccessKeyId", "SecretAccessKey", "Token") and isinstance(value, str):
                    secrets.add(value)
                    try:
                        secrets.add(base64.b64decode(value, validate=True).decode("utf-8"))
                    except ValueError:
                        pass
                walk(value)

    walk(imds_emulator.builtin_instance()["meta-data"])
    assert len(secrets) >= 3
    return secrets


def test_as_a_task(run_playbook, tmp_path):
    result = run_playbook(playbook("task.yml"), args=out_dir_args(tmp_path))

    assert result.returncode == 0, result.stdout
    facts = read_json(tmp_path / "all.json")
    assert facts["account_id"] == "123456789012"
    assert facts["mac"] == "0a:1b:2c:3d:4e:5f"
    assert [i["device_number"] for i in facts["network"]["interfaces"]] == [0, 1]
    assert facts["iam"]["role_name"] == "web-server-role"
    assert facts["user_data"].startswith("#cloud-config\n")
    assert facts["public_keys"][0]["name"] == "my-key"
    assert (tmp_path / "node.conf").read_text() == (
        "# Rendered by the cloudmeta.imds metadata_facts integration test.\n"
        "instance_id = i-0123456789abcdef0\n"
        "zone = eu-west-1b (euw1-az2)\n"
        "eth0 = 10.0.1.25 in subnet-0aa11bb22cc33dd44\n"
        "eth1 = 10.0.2.40 in subnet-0ee55ff66aa77bb88\n"
        "tag.Environment = staging\n"
        "tag.my-dashed-key = dashed value\n"
        "tag.Name = web-1\n"
        "tag.Note = {{ 'x' }} must stay text\n"
        "tag.team:owner = platform\n"
    )
    smaller = read_json(tmp_path / "min.json")
    assert smaller["gather_subset"] == ["min"]
    assert smaller["instance_id"] == "i-0123456789abcdef0"
    assert smaller["tags"] is None
    assert smaller["network"] == {"interfaces": None}


def test_from_gather_facts_with_module_defaults_and_fact_path(run_playbook, tmp_path):
    result = run_playbook(playbook("gather.yml"), args=out_dir_args(tmp_path),
                          env={"ANSIBLE_FACTS_MODULES": FACTS_MODULES})

    assert result.returncode == 0, result.stdout
    assert "Unsupported parameters" not in result.stdout
    facts = read_json(tmp_path / "gathered.json")
    assert facts["subnet_id"] == "subnet-0aa11bb22cc33dd44"
    assert facts["tags"]["team:owner"] == "platform"
    assert facts["iam"]["role_name"] is None


def test_check_mode(run_playbook):
    result = run_playbook(playbook("check_mode.yml"), args=("--check",))

    assert result.returncode == 0, result.stdout
    assert "changed=0" in flat(result.stdout)


def test_instance_without_tags_in_metadata(run_playbook, tmp_path):
    result = run_playbook(playbook("subset.yml"), emulator_args=("--instance-metadata-tags", "disabled"),
                          args=out_dir_args(tmp_path, subset=["!all", "!min", "tags", "placement"]))

    assert result.returncode == 0, result.stdout
    facts = read_json(tmp_path / "facts.json")
    assert facts["tags"] is None
    assert facts["availability_zone_id"] == "euw1-az2"


def test_spot_interruption_notice(run_playbook, tmp_path):
    result = run_playbook(playbook("subset.yml"), emulator_args=("--spot-action-after", "0"),
                          args=out_dir_args(tmp_path, subset=["events"]))

    assert result.returncode == 0, result.stdout
    spot = read_json(tmp_path / "facts.json")["events"]["spot"]
    assert spot["instance_action"]["action"] == "terminate"
    assert spot["termination_time"] == spot["instance_action"]["time"]


def test_hop_limit_fails_fast_and_says_what_to_change(run_playbook, tmp_path):
    started = time.monotonic()
    result = run_playbook(playbook("subset.yml"),
                          emulator_args=("--http-put-response-hop-limit", "1", "--client-hops", "2"),
                          args=out_dir_args(tmp_path, total_timeout=240))
    elapsed = time.monotonic() - started

    assert result.returncode != 0
    assert "HttpPutResponseHopLimit" in flat(result.stdout)
    assert "--http-put-response-hop-limit 2" in flat(result.stdout)
    assert not (tmp_path / "facts.json").exists()
    # ansible-playbook itself needs a few seconds; the module adds about one.
    # Retrying until the 240 s deadline would take far longer than this
    # bound, which leaves room for a loaded machine.
    assert elapsed < 120


def test_imdsv1_only_service_needs_allow_imdsv1_and_then_warns(run_playbook, tmp_path):
    knobs = ("--no-imdsv2", "--http-tokens", "optional")
    refused = run_playbook(playbook("subset.yml"), emulator_args=knobs,
                           args=out_dir_args(tmp_path, subset=["min"]))
    assert refused.returncode != 0
    assert "allow_imdsv1" in flat(refused.stdout)

    allowed = run_playbook(playbook("subset.yml"), emulator_args=knobs,
                           args=out_dir_args(tmp_path, subset=["min"], allow_imdsv1=True))
    assert allowed.returncode == 0, allowed.stdout
    assert "[WARNING]" in allowed.stdout and "IMDSv1" in flat(allowed.stdout)
    assert read_json(tmp_path / "facts.json")["instance_id"] == "i-0123456789abcdef0"


def test_no_credentials_in_verbose_output_or_fact_cache(run_playbook, tmp_path):
    cache = tmp_path / "fact-cache"
    result = run_playbook(playbook("legacy_cached.yml"), args=("-vvv",),
                          env={"ANSIBLE_CACHE_PLUGIN": "jsonfile",
                               "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache)})

    assert result.returncode == 0, result.stdout
    cached = "".join(path.read_text() for path in cache.iterdir())
    # The cache and the output really hold the facts, so the search below means something.
    assert "ansible_ec2_instance_id" in cached and "web-server-role" in cached
    assert "ansible_ec2_instance_id" in result.stdout
    for secret in credential_values():
        assert secret not in result.stdout
        assert secret not in cached


def python38():
    """A working Python 3.8 interpreter, or None (pyenv shims may not run)."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.8.*/bin/python3.8")))
    candidates.append("/usr/bin/python3.8")
    for candidate in candidates:
        try:
            subprocess.run([candidate, "-c", "import json"], check=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        return candidate
    return None


def test_runs_on_a_python_3_8_managed_host(run_playbook, tmp_path):
    interpreter = python38()
    if interpreter is None:
        pytest.skip("no Python 3.8 installed")
    result = run_playbook(playbook("subset.yml"),
                          args=("-vvv",) + out_dir_args(tmp_path, ansible_python_interpreter=interpreter))

    assert result.returncode == 0, result.stdout
    # -vvv shows the command that ran the module: it must be the 3.8 interpreter.
    assert "EXEC /bin/sh -c '%s " % interpreter in result.stdout
    facts = read_json(tmp_path / "facts.json")
    assert facts["subnet_id"] == "subnet-0aa11bb22cc33dd44"
    assert facts["tags"]["team:owner"] == "platform"
    assert facts["user_data_encoding"] == "utf-8"
