"""The built-in instance is complete: amazon.aws.ec2_metadata_facts finds every fact it documents.

The module's own crawler (tests/utils/old_module.py) runs unchanged, so the
emulator is checked against a real, independent consumer.
"""
import pytest
import yaml
from old_module import old_crawler

facts_module = pytest.importorskip("ansible_collections.amazon.aws.plugins.modules.ec2_metadata_facts")

# RETURN documents per-item facts with placeholders; these are the built-in instance's values.
PLACEHOLDERS = (
    ("mac_address", "0a_1b_2c_3d_4e_5f"),
    ("ip_address", "203.0.113.10"),
    ("role_name", "web_server_role"),
    ("ebsN", "ebs1"),
    ("ephemeralN", "ephemeral0"),
)


def documented_fact_names():
    names = yaml.safe_load(facts_module.RETURN)["ansible_facts"]["contains"]
    resolved = set()
    for name in names:
        for placeholder, value in PLACEHOLDERS:
            name = name.replace(placeholder, value)
        resolved.add(name)
    return resolved


def test_every_documented_fact_is_present(make_emulator, tmp_path, monkeypatch):
    emulator = make_emulator(spot_action_after=0)  # termination-time exists only with a spot notice
    facts = old_crawler(monkeypatch, tmp_path)(emulator.url).facts
    missing = sorted(documented_fact_names() - set(facts))
    assert missing == []
    assert not [name for name, value in facts.items() if value == "None"]
    assert facts["ansible_ec2_placement_region"] == "eu-west-1"
    assert facts["ansible_ec2_instance_tags"]["Name"] == "web-1"
    assert facts["ansible_ec2_user_data"].startswith("#cloud-config")
    assert emulator.count("PUT") == 1
    assert emulator.count("GET") == emulator.count("GET", "/latest/") and all(
        record.had_token for record in emulator.requests if record.method == "GET")
