"""legacy_facts against the real amazon.aws.ec2_metadata_facts code, on the same emulated instances.

The old module's own crawler runs in-process against the emulator on
127.0.0.1 (tests/utils/old_module.py). Our side reads the same emulator with the IMDS client,
as the module does for legacy_facts, and shapes the tree. The outputs must
agree except for the differences documented in docs/legacy_facts.md.
"""
import base64
import collections
import copy
import gzip
import json

import pytest

from bench.legacy_compare import credential_facts, legacy_differences
from imds_emulator import builtin_instance
from old_module import old_crawler

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import ImdsNotFoundError
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.legacy_facts import legacy_facts


Run = collections.namedtuple("Run", "facts warnings")


@pytest.fixture
def old_facts(monkeypatch, tmp_path):
    """old_facts(url) -> Run(facts, warnings) from amazon.aws.ec2_metadata_facts' own code."""
    return old_crawler(monkeypatch, tmp_path)


@pytest.fixture
def new_facts(make_client):
    """new_facts(emulator) -> Run(facts, warnings): the full tree read by the client, then legacy_facts."""

    def _run(emulator):
        client = make_client(emulator)
        tree = {}
        for part in ("meta-data", "dynamic"):
            try:
                tree[part] = client.read_tree(part + "/")
            except ImdsNotFoundError:
                pass
        tree["user-data"] = client.get_many(["user-data"])["user-data"]
        warnings = []
        return Run(legacy_facts(tree, warn=warnings.append), warnings)

    return _run


def instance(edit=None):
    data = builtin_instance()
    if edit:
        edit(data)
    return data


def assert_parity(old, new):
    assert legacy_differences(old, new) == []


def test_builtin_instance_matches_the_old_module(make_emulator, old_facts, new_facts):
    emulator = make_emulator()
    old = old_facts(emulator.url).facts
    new = new_facts(emulator).facts
    assert_parity(old, new)
    # The instance really exercises the interesting facts.
    assert old["ansible_ec2_instance_tags_keys"] == new["ansible_ec2_instance_tags_keys"]
    assert "team:owner" in new["ansible_ec2_instance_tags"]
    assert "team:owner" not in old["ansible_ec2_instance_tags"]
    assert new["ansible_ec2_security_groups"] == "web,ssh-from-bastion"
    assert new["ansible_ec2_user_data"].startswith("#cloud-config")
    assert new["ansible_ec2_public_key"].startswith("ssh-ed25519 ")


def test_credentials_are_only_in_the_old_output(make_emulator, old_facts, new_facts):
    emulator = make_emulator()
    old = old_facts(emulator.url).facts
    new = new_facts(emulator).facts
    assert credential_facts(old), "the old module should have published the role's credentials"
    assert credential_facts(new) == []
    secrets = emulator.instance["meta-data"]["iam"]["security-credentials"]["web-server-role"]
    dumped = json.dumps(new)
    for field in ("AccessKeyId", "SecretAccessKey", "Token"):
        assert secrets[field] not in dumped
    assert new["ansible_ec2_iam_instance_profile_role"] == old["ansible_ec2_iam_instance_profile_role"]


def test_tags_disabled(make_emulator, old_facts, new_facts):
    emulator = make_emulator(instance_metadata_tags="disabled")
    old = old_facts(emulator.url).facts
    new = new_facts(emulator).facts
    assert_parity(old, new)
    assert new["ansible_ec2_instance_tags_keys"] == []
    assert new["ansible_ec2_instance_tags"] == {}


def _bare(data):
    meta = data["meta-data"]
    for name in ("iam", "identity-credentials", "public-keys", "tags"):
        del meta[name]
    data["user-data"] = None


def test_instance_without_role_keys_tags_or_user_data(make_emulator, old_facts, new_facts):
    emulator = make_emulator(instance(_bare))
    old = old_facts(emulator.url).facts
    new = new_facts(emulator).facts
    assert_parity(old, new)
    assert new["ansible_ec2_user_data"] == "None"
    assert new["ansible_ec2_public_key"] == "None"
    assert "ansible_ec2_iam_instance_profile_role" not in new


def _odd_tags_and_keys(data):
    meta = data["meta-data"]
    meta["tags"]["instance"] = {
        "a_b": "underscore",
        "a-b": "dash",
        "json": '{"Nested": {"x": 1}, "N": 2}',
        "number": "42",
        "security-groups": "tag\nwith lines",
        "public-keys-0x": "caught by the old filter",
        "dotted.key": "kept",
        "Sign=in+out,at@x": "odd but allowed",
    }
    meta["public-keys"]["1=other-key"] = {"openssh-key": "ssh-rsa AAAAB3NzaOther other-key"}
    # The identity document's region wins over placement/region in the old module.
    meta["placement"]["region"] = "eu-central-1"


def test_odd_tags_json_values_second_key_and_region(make_emulator, old_facts, new_facts):
    emulator = make_emulator(instance(_odd_tags_and_keys))
    old = old_facts(emulator.url).facts
    new = new_facts(emulator).facts
    assert_parity(old, new)
    assert new["ansible_ec2_tags_instance_json_nested"] == {"x": 1}
    assert new["ansible_ec2_placement_region"] == "eu-west-1"
    assert new["ansible_ec2_instance_tags"]["a_b"] == "underscore"
    assert new["ansible_ec2_instance_tags"]["a-b"] == "dash"
    assert old["ansible_ec2_instance_tags"]["a_b"] == "dash"


@pytest.mark.parametrize(
    "user_data",
    [
        {"base64": base64.b64encode(gzip.compress(b"#!/bin/sh\necho compressed\n")).decode()},
        {"base64": base64.b64encode(b"\x00\x01binary\xff").decode()},
        "plain text with unicode: \u00e9\u00e8\n",
    ],
    ids=["gzip", "binary", "unicode"],
)
def test_user_data_forms(make_emulator, old_facts, new_facts, user_data):
    def edit(data):
        data["user-data"] = copy.deepcopy(user_data)

    emulator = make_emulator(instance(edit))
    old = old_facts(emulator.url)
    new = new_facts(emulator)
    assert_parity(old.facts, new.facts)
    assert new.warnings == old.warnings
