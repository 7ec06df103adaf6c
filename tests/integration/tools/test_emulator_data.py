"""Instance data files: the format users write, and the shipped examples."""
import base64
import gzip
import json
import os
import re

import pytest

import imds_emulator

EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.abspath(imds_emulator.__file__)), "examples")


def write_json(tmp_path, data, name="instance.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_json_file_mirrors_the_metadata_tree(tmp_path, make_emulator, http_for):
    user_data = gzip.compress(b"#!/bin/sh\necho hi\n", mtime=0)
    path = write_json(tmp_path, {
        "meta-data": {
            "instance-id": "i-0abc",
            "ami-launch-index": 0,
            "hibernation": {"configured": False},
            "security-groups": ["a", "b"],
            "placement": {"region": "sa-east-1", "availability-zone": "sa-east-1c"},
            "iam": {"info": {"Code": "Success", "InstanceProfileArn": "arn:aws:iam::1:instance-profile/p"}},
            "public-keys": {"0=first": "ssh-ed25519 AAAA first", "1=second": {"openssh-key": "ssh-rsa AAAA second"}},
            "removed": None,
        },
        "dynamic": {"instance-identity": {"document": {"region": "sa-east-1", "kernelId": None}}},
        "user-data": {"base64": base64.b64encode(user_data).decode()},
    })
    http = http_for(make_emulator(path))
    token = http.token()

    def get(item):
        return http.get("/latest/" + item, token).body

    assert get("meta-data/instance-id") == b"i-0abc"
    assert get("meta-data/ami-launch-index") == b"0"
    assert get("meta-data/hibernation/configured") == b"false"
    assert get("meta-data/security-groups") == b"a\nb"
    assert get("meta-data/placement/") == b"region\navailability-zone"
    assert get("meta-data/iam/") == b"info"
    assert json.loads(get("meta-data/iam/info"))["Code"] == "Success"
    assert b'"Code" : "Success"' in get("meta-data/iam/info")
    assert get("meta-data/public-keys/") == b"0=first\n1=second"
    assert get("meta-data/public-keys/1/openssh-key") == b"ssh-rsa AAAA second"
    assert get("meta-data/public-keys/0/openssh-key") == b"ssh-ed25519 AAAA first"
    assert http.get("/latest/meta-data/removed", token).status == 404
    assert "removed" not in get("meta-data/").decode().split("\n")
    assert json.loads(get("dynamic/instance-identity/document")) == {"region": "sa-east-1", "kernelId": None}
    assert get("user-data") == user_data


def test_yaml_file_is_read_when_pyyaml_is_installed(tmp_path, make_emulator, http_for):
    pytest.importorskip("yaml")
    path = tmp_path / "instance.yml"
    path.write_text("meta-data:\n  instance-id: i-0yaml\n  tags:\n    instance:\n      'team:owner': ops\n"
                    "user-data: |\n  #cloud-config\n", encoding="utf-8")
    http = http_for(make_emulator(str(path)))
    assert http.get_v2("/latest/meta-data/instance-id").body == b"i-0yaml"
    assert http.get_v2("/latest/meta-data/tags/instance/team:owner").body == b"ops"
    assert http.get_v2("/latest/user-data").body == b"#cloud-config\n"


def test_local_zone_example_serves_a_consistent_instance(make_emulator, http_for):
    http = http_for(make_emulator(os.path.join(EXAMPLES_DIR, "local-zone-instance.json")))
    token = http.token()
    document = json.loads(http.get("/latest/dynamic/instance-identity/document", token).body)
    assert http.get("/latest/meta-data/placement/region", token).body == b"us-west-2"
    assert document["availabilityZone"] == "us-west-2-lax-1a"
    assert document["region"] == "us-west-2"
    assert http.get("/latest/meta-data/public-ipv4", token).status == 404
    scheduled = json.loads(http.get("/latest/meta-data/events/maintenance/scheduled", token).body)
    assert scheduled[0]["Code"] == "system-reboot"
    user_data = http.get("/latest/user-data", token).body
    assert gzip.decompress(user_data).startswith(b"#!/bin/bash\n")


def test_minimal_yaml_example_has_no_user_data_or_role(make_emulator, http_for):
    pytest.importorskip("yaml")
    http = http_for(make_emulator(os.path.join(EXAMPLES_DIR, "minimal.yaml")))
    token = http.token()
    assert http.get("/latest/meta-data/mac", token).body == b"06:00:00:00:00:01"
    assert http.get("/latest/user-data", token).status == 404
    assert http.get("/latest/meta-data/iam/", token).status == 404
    document = json.loads(http.get("/latest/dynamic/instance-identity/document", token).body)
    assert document["version"] == "2017-09-30" and document["accountId"] == "111122223333"


def test_builtin_instance_round_trips_through_the_data_format(tmp_path, make_emulator, http_for):
    builtin, loaded = http_for(make_emulator()), http_for(make_emulator(write_json(
        tmp_path, imds_emulator.builtin_instance())))
    for path in ("/latest/meta-data/", "/latest/meta-data/public-keys/0/openssh-key",
                 "/latest/dynamic/instance-identity/document", "/latest/user-data"):
        assert loaded.get_v2(path).body == builtin.get_v2(path).body


@pytest.mark.parametrize("data, message", [
    ([], "must be a mapping"),
    ({"metadata": {}}, "unknown top-level key"),
    ({"meta-data": {"a/b": "x"}}, "without \"/\""),
    ({"meta-data": {"public-keys": {"my-key": "ssh-rsa AAAA"}}}, "<index>=<key name>"),
    ({"meta-data": {"security-groups": [["nested"]]}}, "list of plain values"),
    ({"user-data": {"base64": "!!!"}}, "invalid base64"),
    ({"user-data": 42}, "user-data: give a string"),
])
def test_invalid_data_is_refused_with_the_offending_path(data, message):
    with pytest.raises(ValueError, match=message):
        imds_emulator.Emulator(data)


@pytest.mark.parametrize("yaml_text, message", [
    ("meta-data:\n  ami-launch-index: 2030-01-01\n",
     "meta-data/ami-launch-index: unsupported value of type date"),
    ("meta-data:\n  iam:\n    info:\n      LastUpdated: 2030-01-01T00:00:00Z\n",
     "meta-data/iam/info: not representable as JSON"),
])
def test_unquoted_yaml_dates_are_refused_with_a_hint(tmp_path, yaml_text, message):
    pytest.importorskip("yaml")
    path = tmp_path / "dated.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ValueError, match=message + ".*quote dates and times in YAML"):
        imds_emulator.Emulator(str(path))


def test_invalid_json_file_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json: invalid JSON"):
        imds_emulator.Emulator(str(path))


def test_the_example_in_the_user_guide_is_valid(make_emulator, http_for):
    guide = os.path.join(os.path.dirname(EXAMPLES_DIR), os.pardir, "docs", "emulator.md")
    with open(guide, encoding="utf-8") as handle:
        blocks = re.findall(r"```json\n(.*?)```", handle.read(), re.S)
    assert len(blocks) == 1
    http = http_for(make_emulator(json.loads(blocks[0])))
    assert http.get_v2("/latest/meta-data/public-keys/").body == b"0=admin"
    assert http.get_v2("/latest/meta-data/tags/instance/team:owner").body == b"ops"
    assert gzip.decompress(http.get_v2("/latest/user-data").body).startswith(b"#!/bin/bash")
