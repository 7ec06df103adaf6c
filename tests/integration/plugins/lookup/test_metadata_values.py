"""What cloudmeta.imds.metadata returns: leaves, listings, trees, JSON, user data, defaults."""
import base64
import gzip
import json

import pytest

from ansible.errors import AnsibleError


def test_several_terms_come_back_in_order_with_one_token(read, emulator):
    values = read("instance-id", "placement/region", "placement/availability-zone", "local-ipv4")

    assert values == ["i-0123456789abcdef0", "eu-west-1", "eu-west-1b", "10.0.1.25"]
    assert emulator.count("PUT") == 1
    assert emulator.count("GET") == 4


def test_leaves_listings_trees_and_user_data_share_one_token(read, emulator):
    instance_id, tag_keys, placement, user_data = read(
        "instance-id", "tags/instance/", "placement", "user-data", recursive=True)

    assert instance_id == "i-0123456789abcdef0"
    assert placement["region"] == "eu-west-1"
    assert set(tag_keys) >= {"Name", "team:owner"}
    assert user_data.startswith("#cloud-config")
    assert emulator.count("PUT") == 1


def test_no_terms_send_no_request(read, emulator):
    assert read() == []
    assert emulator.count() == 0


def test_a_multi_valued_leaf_is_its_text(read):
    assert read("security-groups") == ["web\nssh-from-bastion"]


def test_dynamic_terms_address_the_dynamic_tree(read):
    monitoring, document = read("dynamic/fws/instance-monitoring", "dynamic/instance-identity/document")

    assert monitoring == "disabled"
    assert json.loads(document)["instanceId"] == "i-0123456789abcdef0"


def test_a_trailing_slash_lists_a_directory(read):
    assert read("tags/instance/") == [["Name", "Environment", "team:owner", "my-dashed-key", "Note"]]


@pytest.mark.parametrize("term, entries", [
    ("placement", ["availability-zone", "availability-zone-id", "region"]),
    ("network/interfaces/macs", ["0a:1b:2c:3d:4e:5f/", "0a:1b:2c:3d:4e:60/"]),
    ("iam/security-credentials", ["web-server-role"]),
    ("dynamic", ["fws/", "instance-identity/"]),
])
def test_a_known_directory_lists_without_a_trailing_slash(read, term, entries):
    assert sorted(read(term)[0]) == entries


def test_recursive_reads_a_directory_as_a_nested_dict(read):
    (macs,) = read("network/interfaces/macs", recursive=True)

    primary = macs["0a:1b:2c:3d:4e:5f"]
    assert primary["device-number"] == "0"
    assert primary["ipv4-associations"] == {"203.0.113.10": "10.0.1.25"}
    assert macs["0a:1b:2c:3d:4e:60"]["subnet-id"] == "subnet-0ee55ff66aa77bb88"


def test_recursive_with_a_trailing_slash_and_on_dynamic(read):
    tags, identity = read("tags/instance/", "dynamic/instance-identity", recursive=True)

    assert tags["team:owner"] == "platform"
    assert set(identity) == {"document", "pkcs7", "rsa2048", "signature"}


def test_recursive_has_no_effect_on_a_leaf(read):
    assert read("instance-type", recursive=True) == ["t3.micro"]


def test_recursive_iam_names_the_role_but_never_fetches_credentials(read, emulator):
    (iam,) = read("iam", recursive=True)

    assert iam["security-credentials"] == {"web-server-role": None}
    assert iam["security-credentials-extended"] == {"web-server-role": None}
    assert "InstanceProfileArn" in iam["info"]
    fetched = [record.path for record in emulator.requests]
    assert not [path for path in fetched if "security-credentials" in path and not path.endswith("/")]


def test_parse_json_parses_a_leaf(read):
    document, info = read("dynamic/instance-identity/document", "iam/info", parse_json=True)

    assert document["region"] == "eu-west-1"
    assert document["billingProducts"] is None
    assert info["InstanceProfileId"] == "AIPAEMULATOREXAMPLE01"


def test_parse_json_refuses_a_leaf_that_is_not_json_and_names_it(read):
    with pytest.raises(AnsibleError, match=r"Term 'placement/region' is not JSON"):
        read("dynamic/instance-identity/document", "placement/region", parse_json=True)


def test_parse_json_in_a_tree_parses_objects_and_arrays_only(read):
    (tree,) = read("iam", recursive=True, parse_json=True)
    assert tree["info"]["Code"] == "Success"

    (events,) = read("events", recursive=True, parse_json=True)
    assert events == {"maintenance": {"history": [], "scheduled": []}}

    (block_devices,) = read("block-device-mapping", recursive=True, parse_json=True)
    assert block_devices["ebs1"] == "sdf"


def test_parse_json_keeps_numbers_as_text_in_trees(read, make_emulator, lookup, builtin_instance):
    builtin_instance["meta-data"]["tags"]["instance"]["Count"] = "3"
    emulator = make_emulator(builtin_instance)

    (tags,) = lookup.run(["tags/instance"], variables={}, endpoint=emulator.url, recursive=True, parse_json=True)

    assert tags["Count"] == "3"


def test_parse_json_leaves_listings_alone(read):
    assert read("placement/", parse_json=True) == [["availability-zone", "availability-zone-id", "region"]]


def test_a_missing_leaf_fails_with_the_term_and_a_hint(read):
    with pytest.raises(AnsibleError) as caught:
        read("instance-id", "spot/instance-action")

    message = str(caught.value)
    assert "Term 'spot/instance-action'" in message
    assert "404" in message
    assert "default=" in message


def test_default_replaces_a_missing_leaf_only(read):
    assert read("instance-id", "spot/instance-action", "placement/region", default="none") == [
        "i-0123456789abcdef0", "none", "eu-west-1"]


@pytest.mark.parametrize("default", [None, "", 0, {"action": None}])
def test_any_default_value_is_returned_as_given(read, default):
    assert read("spot/instance-action", default=default) == [default]


def test_default_replaces_a_missing_directory(read):
    assert read("elastic-gpus/", default=[]) == [[]]
    assert read("elastic-gpus", recursive=True, default={}) == [{}]


def test_tags_disabled_on_the_instance_gives_the_default(make_emulator, lookup):
    emulator = make_emulator(instance_metadata_tags="disabled")

    values = lookup.run(["tags/instance/Name", "tags/instance"], variables={}, endpoint=emulator.url, default="untagged")

    assert values == ["untagged", "untagged"]


def test_default_does_not_hide_other_errors(make_emulator, lookup):
    emulator = make_emulator(http_endpoint="disabled")

    with pytest.raises(AnsibleError, match="HttpEndpoint=disabled"):
        lookup.run(["instance-id"], variables={}, endpoint=emulator.url, default="x")


def test_user_data_is_text(read):
    (user_data,) = read("user-data")

    assert user_data.startswith("#cloud-config\n")
    assert "  - nginx\n" in user_data


def test_gzipped_user_data_is_uncompressed(make_emulator, lookup, builtin_instance):
    builtin_instance["user-data"] = {"base64": base64.b64encode(gzip.compress(b"#!/bin/sh\necho hi\n")).decode()}
    emulator = make_emulator(builtin_instance)

    assert lookup.run(["user-data"], variables={}, endpoint=emulator.url) == ["#!/bin/sh\necho hi\n"]


def test_json_user_data_can_be_parsed(make_emulator, lookup, builtin_instance):
    builtin_instance["user-data"] = '{"role": "web", "replicas": 2}'
    emulator = make_emulator(builtin_instance)

    assert lookup.run(["user-data"], variables={}, endpoint=emulator.url, parse_json=True) == [
        {"role": "web", "replicas": 2}]


def test_binary_user_data_is_an_error_as_text_and_base64_on_request(make_emulator, lookup, builtin_instance):
    binary = b"\x00\xff\xfe binary \x80"
    builtin_instance["user-data"] = {"base64": base64.b64encode(binary).decode()}
    emulator = make_emulator(builtin_instance)

    with pytest.raises(AnsibleError, match="user-data is binary.*user_data_encoding='base64'"):
        lookup.run(["user-data"], variables={}, endpoint=emulator.url)
    encoded = lookup.run(["user-data"], variables={}, endpoint=emulator.url, user_data_encoding="base64")
    assert base64.b64decode(encoded[0]) == binary


def test_base64_user_data_is_of_the_uncompressed_text(read):
    (encoded,) = read("user-data", user_data_encoding="base64", parse_json=True)

    assert base64.b64decode(encoded).decode().startswith("#cloud-config\n")


def test_no_user_data_is_missing(make_emulator, lookup, builtin_instance):
    builtin_instance["user-data"] = None
    emulator = make_emulator(builtin_instance)

    assert lookup.run(["user-data"], variables={}, endpoint=emulator.url, default=None) == [None]
    with pytest.raises(AnsibleError, match="Term 'user-data'.*404"):
        lookup.run(["user-data"], variables={}, endpoint=emulator.url)


def test_public_keys_keep_their_served_names(read):
    (keys,) = read("public-keys", recursive=True)

    assert keys["0=my-key"]["openssh-key"].startswith("ssh-ed25519 ")
