"""The built-in instance is complete: amazon.aws.ec2_metadata_facts finds every fact it documents.

The module's own crawler (its Ec2Metadata class, pointed at the emulator
through the URI overrides its constructor takes) runs unchanged, so the
emulator is checked against a real, independent consumer.
"""
import functools
import tempfile

import pytest
import yaml
from ansible.module_utils import urls

facts_module = pytest.importorskip("ansible_collections.amazon.aws.plugins.modules.ec2_metadata_facts")

# RETURN documents per-item facts with placeholders; these are the built-in instance's values.
PLACEHOLDERS = (
    ("mac_address", "0a_1b_2c_3d_4e_5f"),
    ("ip_address", "203.0.113.10"),
    ("role_name", "web_server_role"),
    ("ebsN", "ebs1"),
    ("ephemeralN", "ephemeral0"),
)


class FakeModule:
    """What ansible.module_utils.urls.fetch_url needs from an AnsibleModule."""

    def __init__(self, tmpdir):
        self.params = {"metadata_token_ttl_seconds": 60, "use_proxy": False}
        self.tmpdir = tmpdir
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)

    def fail_json(self, **kwargs):
        raise AssertionError("ec2_metadata_facts failed: %r" % (kwargs,))


def documented_fact_names():
    names = yaml.safe_load(facts_module.RETURN)["ansible_facts"]["contains"]
    resolved = set()
    for name in names:
        for placeholder, value in PLACEHOLDERS:
            name = name.replace(placeholder, value)
        resolved.add(name)
    return resolved


def crawl(emulator, tmp_path):
    base = emulator.url + "/latest/"
    return facts_module.Ec2Metadata(
        FakeModule(str(tmp_path)),
        ec2_metadata_token_uri=base + "api/token",
        ec2_metadata_uri=base + "meta-data/",
        ec2_metadata_instance_tags_uri=base + "meta-data/tags/instance",
        ec2_sshdata_uri=base + "meta-data/public-keys/0/openssh-key",
        ec2_userdata_uri=base + "user-data/",
        ec2_dynamicdata_uri=base + "dynamic/",
    ).run()


def test_every_documented_fact_is_present(make_emulator, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)  # fetch_url repoints it
    # fetch_url loads the system CA bundle for every plain-HTTP request (~25 ms
    # each, over a hundred requests); reusing one context changes nothing else.
    monkeypatch.setattr(urls, "make_context", functools.lru_cache(maxsize=None)(urls.make_context))
    emulator = make_emulator(spot_action_after=0)  # termination-time exists only with a spot notice
    facts = crawl(emulator, tmp_path)
    missing = sorted(documented_fact_names() - set(facts))
    assert missing == []
    assert not [name for name, value in facts.items() if value == "None"]
    assert facts["ansible_ec2_placement_region"] == "eu-west-1"
    assert facts["ansible_ec2_instance_tags"]["Name"] == "web-1"
    assert facts["ansible_ec2_user_data"].startswith("#cloud-config")
    assert emulator.count("PUT") == 1
    assert emulator.count("GET") == emulator.count("GET", "/latest/") and all(
        record.had_token for record in emulator.requests if record.method == "GET")
