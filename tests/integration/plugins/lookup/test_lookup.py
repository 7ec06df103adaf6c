"""The cloudmeta.imds.metadata lookup in real ansible-playbook runs.

Each run happens in a fresh network namespace with the emulator at the
default metadata address (tests/integration/conftest.py), and the lookup is
used with no connection options, as on an instance.
"""
import json
import os
import re
import sys

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
import imds_emulator  # noqa: E402

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks")
WARNING = "lookups run on the Ansible controller"


def playbook(name):
    return os.path.join(PLAYBOOKS, name)


def flat(output):
    """Output with line wrapping undone, so messages can be searched whole."""
    return " ".join(output.split())


def test_values_templates_defaults_and_refusals(run_playbook, tmp_path):
    result = run_playbook(playbook("values.yml"), args=("-e", "out_dir=" + str(tmp_path)))

    assert result.returncode == 0, result.stdout
    assert re.search(r"localhost\s*:\s*ok=\d+\s+changed=1\s+unreachable=0\s+failed=0\s+skipped=0\s+rescued=2",
                     result.stdout), result.stdout
    assert WARNING not in result.stdout
    assert (tmp_path / "node.conf").read_text() == (
        "# Rendered by the cloudmeta.imds lookup integration test.\n"
        "instance_id = i-0123456789abcdef0\n"
        "availability_zone = eu-west-1b\n"
        "tag.Environment = staging\n"
        "tag.my-dashed-key = dashed value\n"
        "tag.Name = web-1\n"
        "tag.Note = {{ 'x' }} must stay text\n"
        "tag.team:owner = platform\n"
    )


def test_metadata_text_is_never_templated(run_playbook, tmp_path):
    marker = tmp_path / "pwned"
    evil = "{{ lookup('ansible.builtin.pipe', 'touch %s') }}{{ 6 * 7 }}" % marker
    instance = imds_emulator.builtin_instance()
    instance["meta-data"]["tags"]["instance"]["Evil"] = evil
    data = tmp_path / "instance.json"
    data.write_text(json.dumps(instance))

    result = run_playbook(playbook("untrusted.yml"), emulator_args=("--data", str(data)),
                          args=("-e", "out_dir=" + str(tmp_path)))

    assert result.returncode == 0, result.stdout
    assert not marker.exists()
    printed = json.dumps(evil)[1:-1]  # debug prints the message JSON-escaped
    assert '"DIRECT=[%s]"' % printed in result.stdout
    assert '"AGAIN=[%s]"' % printed in result.stdout
    # Templated, the tag would print as [42] (the pipe gives ""); the bare digits
    # may well be in a temporary path, so look for the rendered value itself.
    assert "=[42]" not in result.stdout
    assert json.loads((tmp_path / "evil.json").read_text()) == [evil, evil, evil, evil]


def test_warns_when_the_task_is_for_another_host(run_playbook, tmp_path):
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("web1 ansible_connection=ssh ansible_host=web1.invalid\n")

    result = run_playbook(playbook("remote_host.yml"), args=("-i", str(inventory)))

    assert result.returncode == 0, result.stdout
    assert '"REMOTE=i-0123456789abcdef0,eu-west-1"' in result.stdout
    assert '"DELEGATED=i-0123456789abcdef0"' in result.stdout
    assert '"LOCAL=i-0123456789abcdef0"' in result.stdout
    output = flat(result.stdout)
    # Once for the one lookup call in the task for web1; not for the
    # delegated task, nor for the task on localhost.
    assert output.count(WARNING) == 1, result.stdout
    assert "not those of 'web1'" in output
    assert "Use cloudmeta.imds.metadata_facts" in output


@pytest.mark.parametrize("emulator_args, env, message", [
    (("--http-endpoint", "disabled"), {},
     "Instance metadata is disabled on this instance (HttpEndpoint=disabled): http://169.254.169.254 answered "
     "403 Forbidden to the IMDSv2 token request."),
    (("--http-tokens", "optional", "--no-imdsv2"), {},
     "does not offer IMDSv2 tokens (PUT /latest/api/token answered 404)"),
    (("--http-put-response-hop-limit", "1", "--client-hops", "2"), {"CLOUDMETA_IMDS_TIMEOUT": "0.5"},
     "This is the HttpPutResponseHopLimit case"),
    ((), {"AWS_EC2_METADATA_DISABLED": "true"},
     "Instance metadata is disabled by AWS_EC2_METADATA_DISABLED=true in the environment: no request was sent."),
], ids=["imds-disabled", "imdsv1-only", "hop-limit", "disabled-by-environment"])
def test_errors_carry_the_clients_message(run_playbook, emulator_args, env, message):
    result = run_playbook(playbook("instance_id.yml"), emulator_args=emulator_args, env=env)

    assert result.returncode == 2, result.stdout
    assert message in flat(result.stdout), result.stdout
    assert '"INSTANCE_ID=i-' not in result.stdout


def test_imdsv1_only_works_when_allowed_through_the_environment(run_playbook):
    result = run_playbook(playbook("instance_id.yml"), emulator_args=("--http-tokens", "optional", "--no-imdsv2"),
                          env={"CLOUDMETA_IMDS_ALLOW_IMDSV1": "true"})

    assert result.returncode == 0, result.stdout
    assert '"INSTANCE_ID=i-0123456789abcdef0"' in result.stdout
    assert "using IMDSv1 because allow_imdsv1 is true" in flat(result.stdout)
