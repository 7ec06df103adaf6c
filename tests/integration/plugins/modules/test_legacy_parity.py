"""legacy_facts: true against amazon.aws.ec2_metadata_facts, side by side, in real plays.

amazon.aws.ec2_metadata_facts can only talk to http://169.254.169.254, so
both modules run by ansible-playbook inside a fresh network namespace with
the emulator at that address (tests/integration/conftest.py). One play per
module, facts cleared in between; each play saves what its module returned,
the top-level ``ansible_ec2_*`` variables and the ``ansible_facts['ec2_*']``
entries a playbook sees. They must agree except for the differences
documented in docs/legacy_facts.md.
"""
import json
import os
import sys

import pytest

from bench.legacy_compare import credential_facts, legacy_differences
from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
import imds_emulator  # noqa: E402

MODULES = {
    "old": {"amazon.aws.ec2_metadata_facts": {}},
    "new": {"cloudmeta.imds.metadata_facts": {"legacy_facts": True}},
}


def _play(side, out_dir):
    module_call = dict(MODULES[side])
    return {
        "name": "Facts from %s" % next(iter(module_call)),
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            dict(name="Gather", register="gathered", **module_call),
            {
                "name": "Save what the module returned and what the play sees",
                "vars": {"names": "{{ query('ansible.builtin.varnames', '^ansible_ec2_') }}"},
                "ansible.builtin.copy": {
                    "dest": os.path.join(out_dir, side + ".json"),
                    "mode": "0600",
                    "content": (
                        "{{ {'returned': gathered.ansible_facts,"
                        " 'vars': dict(names | zip(query('ansible.builtin.vars', *names))),"
                        " 'facts': ansible_facts | dict2items | selectattr('key', 'match', '^ec2_') | items2dict"
                        "} | to_json }}"
                    ),
                },
            },
            {"name": "Forget these facts before the other module runs", "ansible.builtin.meta": "clear_facts"},
        ],
    }


@pytest.fixture
def side_by_side(run_playbook, tmp_path):
    """side_by_side(emulator_args=()) -> (old, new), each {'returned', 'vars', 'facts'}."""

    def _run(emulator_args=()):
        playbook = tmp_path / "parity.yml"
        playbook.write_text(json.dumps([_play("old", str(tmp_path)), _play("new", str(tmp_path))]))
        result = run_playbook(str(playbook), emulator_args=emulator_args)
        assert result.returncode == 0, result.stdout
        sides = []
        for side in ("old", "new"):
            with open(str(tmp_path / (side + ".json")), encoding="utf-8") as handle:
                sides.append(json.load(handle))
        sides[1]["returned"].pop("ec2")
        return sides[0], sides[1]

    return _run


def assert_parity(old, new):
    assert legacy_differences(old["returned"], new["returned"]) == []
    assert legacy_differences(old["vars"], new["vars"]) == []
    assert legacy_differences(old["facts"], new["facts"], prefix="ec2_") == []


def test_builtin_instance_gives_the_same_facts_but_no_credentials(side_by_side):
    old, new = side_by_side()
    assert_parity(old, new)

    seen = new["vars"]
    assert len(seen) > 90, sorted(seen)
    assert seen["ansible_ec2_instance_id"] == "i-0123456789abcdef0"
    assert new["facts"]["ec2_placement_region"] == "eu-west-1"
    assert seen["ansible_ec2_security_groups"] == "web,ssh-from-bastion"
    # Metadata text stays text: a tag value that looks like a template is not rendered.
    assert seen["ansible_ec2_tags_instance_Note"] == "{{ 'x' }} must stay text"
    # The one deliberate value difference: no tag is dropped from the dict.
    assert seen["ansible_ec2_instance_tags"]["team:owner"] == "platform"
    assert "team:owner" not in old["vars"]["ansible_ec2_instance_tags"]

    # Credentials: the old module published them, legacy_facts never does.
    assert credential_facts(old["vars"])
    assert credential_facts(new["vars"]) == []
    assert credential_facts(new["facts"], prefix="ec2_") == []
    iam = imds_emulator.builtin_instance()["meta-data"]["iam"]["security-credentials"]["web-server-role"]
    dumped = json.dumps(new)
    for field in ("AccessKeyId", "SecretAccessKey"):
        assert iam[field] not in dumped
    assert new["vars"]["ansible_ec2_iam_instance_profile_role"] == "web-server-role"


def test_odd_instance_gives_the_same_facts_as_the_old_module(side_by_side, tmp_path):
    # Names the old module mangled (dots and '=' kept, '-'/':' collisions),
    # JSON-looking tags, a second public key, no user data.
    data = imds_emulator.builtin_instance()
    meta = data["meta-data"]
    meta["tags"]["instance"] = {
        "a_b": "underscore",
        "a-b": "dash",
        "json": '{"Nested": {"x": 1}, "N": 2}',
        "dotted.key": "kept",
        "Sign=in+out,at@x": "odd but allowed",
    }
    meta["public-keys"]["1=other-key"] = {"openssh-key": "ssh-rsa AAAAB3NzaOther other-key"}
    data["user-data"] = None
    data_file = tmp_path / "instance.json"
    data_file.write_text(json.dumps(data))

    old, new = side_by_side(("--data", str(data_file)))
    assert_parity(old, new)
    seen = new["vars"]
    assert seen["ansible_ec2_user_data"] == "None"
    assert seen["ansible_ec2_tags_instance_dotted.key"] == "kept"
    assert seen["ansible_ec2_tags_instance_json_nested"] == {"x": 1}
    assert seen["ansible_ec2_instance_tags"]["a-b"] == "dash"


def test_tags_disabled_gives_the_same_facts_as_the_old_module(side_by_side):
    old, new = side_by_side(("--instance-metadata-tags", "disabled"))
    assert_parity(old, new)
    assert new["vars"]["ansible_ec2_instance_tags_keys"] == []
    assert new["vars"]["ansible_ec2_instance_tags"] == {}
