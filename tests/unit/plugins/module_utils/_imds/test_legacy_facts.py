"""legacy_facts on hand-built instance trees: the flat facts of amazon.aws.ec2_metadata_facts.

Expected values come from the old module's code (amazon.aws 10.1.2) and the
real fact dumps quoted in the project's research notes.
"""

import copy
import gzip
import json
import zlib

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.legacy_facts import legacy_facts

MAC0 = "0a:7f:11:22:33:44"
MAC1 = "0a:7f:55:66:77:88"
ACCESS_KEY = "ASIAEXAMPLEKEYID1234"
SECRET_KEY = "wJalrXUtnFEMIexampleSECRETkey0000000000"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKEN"

IDENTITY_DOCUMENT = json.dumps(
    {
        "accountId": "123456789012",
        "architecture": "x86_64",
        "availabilityZone": "ap-northeast-2a",
        "billingProducts": None,
        "devpayProductCodes": None,
        "marketplaceProductCodes": None,
        "imageId": "ami-0abcdef1234567890",
        "instanceId": "i-0123456789abcdef0",
        "instanceType": "t2.micro",
        "kernelId": None,
        "pendingTime": "2024-01-02T03:04:05Z",
        "privateIp": "10.0.1.10",
        "ramdiskId": None,
        "region": "ap-northeast-2",
        "version": "2017-09-30",
    },
    indent=2,
    separators=(",", " : "),
)


def interface(device, subnet, public_ip=None):
    iface = {
        "device-number": str(device),
        "interface-id": "eni-%017d" % device,
        "local-hostname": "ip-10-0-%d-10.ap-northeast-2.compute.internal" % (device + 1),
        "local-ipv4s": "10.0.%d.10\n10.0.%d.11" % (device + 1, device + 1),
        "mac": MAC0 if device == 0 else MAC1,
        "owner-id": "123456789012",
        "security-group-ids": "sg-0aaa\nsg-0bbb",
        "security-groups": "web\nssh",
        "subnet-id": subnet,
        "subnet-ipv4-cidr-block": "10.0.%d.0/24" % (device + 1),
        "vpc-id": "vpc-0123",
        "vpc-ipv4-cidr-block": "10.0.0.0/16",
        "vpc-ipv4-cidr-blocks": "10.0.0.0/16",
    }
    if public_ip:
        iface["ipv4-associations"] = {public_ip: "10.0.%d.10" % (device + 1)}
        iface["public-ipv4s"] = public_ip
    return iface


def full_tree():
    """An instance as the client reads it: credential leaves listed but never fetched (None)."""
    return {
        "meta-data": {
            "ami-id": "ami-0abcdef1234567890",
            "ami-launch-index": "0",
            "ami-manifest-path": "(unknown)",
            "block-device-mapping": {"ami": "/dev/xvda", "ephemeral0": "sdb", "root": "/dev/xvda"},
            "events": {"maintenance": {"history": "[]", "scheduled": "[]"}},
            "hostname": "ip-10-0-1-10.ap-northeast-2.compute.internal",
            "iam": {
                "info": json.dumps(
                    {
                        "Code": "Success",
                        "LastUpdated": "2024-01-02T03:04:05Z",
                        "InstanceProfileArn": "arn:aws:iam::123456789012:instance-profile/web-profile",
                        "InstanceProfileId": "AIPAEXAMPLE",
                    }
                ),
                "security-credentials": {"web-role": None},
            },
            "identity-credentials": {
                "ec2": {
                    "info": json.dumps({"AccountId": "123456789012", "Code": "Success", "LastUpdated": "x"}),
                    "security-credentials": {"ec2-instance": None},
                }
            },
            "instance-action": "none",
            "instance-id": "i-0123456789abcdef0",
            "instance-life-cycle": "on-demand",
            "instance-type": "t2.micro",
            "local-hostname": "ip-10-0-1-10.ap-northeast-2.compute.internal",
            "local-ipv4": "10.0.1.10",
            "mac": MAC0,
            "metrics": {"vhostmd": '<?xml version="1.0" encoding="UTF-8"?>'},
            "network": {
                "interfaces": {
                    "macs": {
                        MAC0: interface(0, "subnet-0aaa", public_ip="203.0.113.25"),
                        MAC1: interface(1, "subnet-0bbb"),
                    }
                }
            },
            "placement": {
                "availability-zone": "ap-northeast-2a",
                "availability-zone-id": "apne2-az1",
                "region": "ap-northeast-2",
            },
            "profile": "default-hvm",
            "public-hostname": "ec2-203-0-113-25.ap-northeast-2.compute.amazonaws.com",
            "public-ipv4": "203.0.113.25",
            "public-keys": {"0=my-key": {"openssh-key": "ssh-rsa AAAAB3Nza my-key"}},
            "reservation-id": "r-0123456789abcdef0",
            "security-groups": "web\nssh",
            "services": {"domain": "amazonaws.com", "partition": "aws"},
            "system": "xen",
            "tags": {"instance": {"Name": "web-1", "camelCaseKey": "c", "team:owner": "platform", "my-dashed-key": "d"}},
        },
        "dynamic": {
            "fws": {"instance-monitoring": "disabled"},
            "instance-identity": {
                "document": IDENTITY_DOCUMENT,
                "pkcs7": "MIAGCSqGSIb3DQEHAqCAMIACAQExCzAJBgUrDgMCGgUA",
                "rsa2048": "MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQME",
                "signature": "dExamplesignature==",
            },
        },
        "user-data": b"#cloud-config\npackages: [nginx]\n",
    }


@pytest.fixture
def facts():
    return legacy_facts(full_tree())


def test_top_level_leaves_become_prefixed_facts(facts):
    assert facts["ansible_ec2_ami_id"] == "ami-0abcdef1234567890"
    assert facts["ansible_ec2_instance_id"] == "i-0123456789abcdef0"
    assert facts["ansible_ec2_instance_type"] == "t2.micro"
    assert facts["ansible_ec2_ami_manifest_path"] == "(unknown)"
    assert facts["ansible_ec2_profile"] == "default-hvm"
    assert facts["ansible_ec2_system"] == "xen"


def test_nested_paths_are_joined_with_underscores(facts):
    assert facts["ansible_ec2_placement_availability_zone"] == "ap-northeast-2a"
    assert facts["ansible_ec2_placement_availability_zone_id"] == "apne2-az1"
    assert facts["ansible_ec2_block_device_mapping_ephemeral0"] == "sdb"
    assert facts["ansible_ec2_services_domain"] == "amazonaws.com"
    assert facts["ansible_ec2_metrics_vhostmd"] == '<?xml version="1.0" encoding="UTF-8"?>'


def test_interface_facts_are_keyed_by_mac_with_underscores(facts):
    mac = MAC0.replace(":", "_")
    prefix = "ansible_ec2_network_interfaces_macs_%s_" % mac
    assert facts[prefix + "device_number"] == "0"
    assert facts[prefix + "subnet_id"] == "subnet-0aaa"
    assert facts["ansible_ec2_network_interfaces_macs_%s_subnet_id" % MAC1.replace(":", "_")] == "subnet-0bbb"


def test_dots_in_path_segments_are_kept(facts):
    # The old module renamed only ':' and '-'; playbooks address these keys as they are.
    key = "ansible_ec2_network_interfaces_macs_%s_ipv4_associations_203.0.113.25" % MAC0.replace(":", "_")
    assert facts[key] == "10.0.1.10"


def test_security_groups_are_comma_joined_and_other_lists_keep_newlines(facts):
    mac = MAC0.replace(":", "_")
    assert facts["ansible_ec2_security_groups"] == "web,ssh"
    assert facts["ansible_ec2_network_interfaces_macs_%s_security_groups" % mac] == "web,ssh"
    assert facts["ansible_ec2_network_interfaces_macs_%s_security_group_ids" % mac] == "sg-0aaa,sg-0bbb"
    assert facts["ansible_ec2_network_interfaces_macs_%s_local_ipv4s" % mac] == "10.0.1.10\n10.0.1.11"


def test_json_objects_are_kept_raw_and_flattened_one_level_with_lowercase_keys(facts):
    assert facts["ansible_ec2_instance_identity_document"] == IDENTITY_DOCUMENT
    assert facts["ansible_ec2_instance_identity_document_accountid"] == "123456789012"
    assert facts["ansible_ec2_instance_identity_document_instancetype"] == "t2.micro"
    assert facts["ansible_ec2_instance_identity_document_version"] == "2017-09-30"
    # JSON null stays None (not the string "None"), as in the old module's output.
    assert facts["ansible_ec2_instance_identity_document_kernelid"] is None
    assert facts["ansible_ec2_instance_identity_document_billingproducts"] is None
    assert facts["ansible_ec2_iam_info_instanceprofilearn"] == "arn:aws:iam::123456789012:instance-profile/web-profile"
    assert facts["ansible_ec2_iam_info_code"] == "Success"
    assert facts["ansible_ec2_identity_credentials_ec2_info_accountid"] == "123456789012"


def test_nested_json_values_keep_their_types():
    tree = {"meta-data": {"blob": json.dumps({"List": [1, 2], "Inner": {"a": 1}, "N": 3, "T": True})}}
    facts = legacy_facts(tree)
    assert facts["ansible_ec2_blob_list"] == [1, 2]
    assert facts["ansible_ec2_blob_inner"] == {"a": 1}
    assert facts["ansible_ec2_blob_n"] == 3
    assert facts["ansible_ec2_blob_t"] is True


@pytest.mark.parametrize("text", ["[]", "42", "true", "null", '"quoted"', "not json {", "[" * 100000])
def test_values_that_are_not_json_objects_stay_raw_text(text):
    facts = legacy_facts({"meta-data": {"events": {"maintenance": {"history": text}}}})
    assert facts["ansible_ec2_events_maintenance_history"] == text
    assert [k for k in facts if k.startswith("ansible_ec2_events_maintenance_history_")] == []


def test_dynamic_data_facts(facts):
    assert facts["ansible_ec2_fws_instance_monitoring"] == "disabled"
    assert facts["ansible_ec2_instance_identity_pkcs7"].startswith("MIAG")
    assert facts["ansible_ec2_instance_identity_signature"] == "dExamplesignature=="
    assert facts["ansible_ec2_instance_identity_rsa2048"].startswith("MIAG")


def test_placement_region_is_overwritten_by_the_identity_document_region():
    tree = full_tree()
    tree["meta-data"]["placement"]["region"] = "us-east-1"
    facts = legacy_facts(tree)
    assert facts["ansible_ec2_placement_region"] == "ap-northeast-2"


def test_iam_role_name_is_a_fact_but_no_credential_ever_is(facts):
    assert facts["ansible_ec2_iam_instance_profile_role"] == "web-role"
    for key in facts:
        assert not key.startswith("ansible_ec2_iam_security_credentials")
        assert not key.startswith("ansible_ec2_identity_credentials_ec2_security_credentials")


def test_credentials_present_in_the_tree_still_never_become_facts():
    # The client never fetches them; should a tree ever carry them anyway, they stay out.
    creds = json.dumps({"Code": "Success", "AccessKeyId": ACCESS_KEY, "SecretAccessKey": SECRET_KEY, "Token": SESSION_TOKEN})
    tree = full_tree()
    tree["meta-data"]["iam"]["security-credentials"] = {"web-role": creds}
    tree["meta-data"]["iam"]["security-credentials-extended"] = {"web-role": creds}
    tree["meta-data"]["identity-credentials"]["ec2"]["security-credentials"] = {"ec2-instance": creds}
    facts = legacy_facts(tree)
    dumped = json.dumps(facts)
    for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN):
        assert secret not in dumped
    assert facts["ansible_ec2_iam_instance_profile_role"] == "web-role"


def test_instance_tags_list_dict_and_per_tag_facts(facts):
    assert facts["ansible_ec2_instance_tags_keys"] == ["Name", "camelCaseKey", "team:owner", "my-dashed-key"]
    assert facts["ansible_ec2_tags_instance_Name"] == "web-1"
    assert facts["ansible_ec2_tags_instance_camelCaseKey"] == "c"
    assert facts["ansible_ec2_tags_instance_team_owner"] == "platform"
    assert facts["ansible_ec2_tags_instance_my_dashed_key"] == "d"


def test_instance_tags_dict_keeps_keys_the_old_module_dropped(facts):
    # Deliberate difference: the old module left out keys containing '-' or ':'.
    assert facts["ansible_ec2_instance_tags"] == {
        "Name": "web-1",
        "camelCaseKey": "c",
        "team:owner": "platform",
        "my-dashed-key": "d",
    }


def test_tags_disabled_gives_empty_list_and_dict():
    tree = full_tree()
    del tree["meta-data"]["tags"]
    facts = legacy_facts(tree)
    assert facts["ansible_ec2_instance_tags_keys"] == []
    assert facts["ansible_ec2_instance_tags"] == {}
    assert not [k for k in facts if k.startswith("ansible_ec2_tags_instance")]


def test_tags_differing_only_by_dash_and_underscore_collide_like_the_old_module():
    tree = {"meta-data": {"tags": {"instance": {"a_b": "underscore", "a-b": "dash"}}}}
    facts = legacy_facts(tree)
    # The renamed key overwrote the other in the old module; the tag dict keeps both.
    assert facts["ansible_ec2_tags_instance_a_b"] == "dash"
    assert facts["ansible_ec2_instance_tags"] == {"a_b": "underscore", "a-b": "dash"}


def test_user_data_text(facts):
    assert facts["ansible_ec2_user_data"] == "#cloud-config\npackages: [nginx]\n"


@pytest.mark.parametrize("compress", [gzip.compress, zlib.compress], ids=["gzip", "zlib"])
def test_compressed_user_data_is_decompressed(compress):
    facts = legacy_facts({"user-data": compress(b"#!/bin/sh\necho hi\n")})
    assert facts["ansible_ec2_user_data"] == "#!/bin/sh\necho hi\n"


def test_binary_user_data_loses_undecodable_bytes_with_a_warning_as_before():
    warnings = []
    facts = legacy_facts({"user-data": b"\x00binary\xff\xfe"}, warn=warnings.append)
    assert facts["ansible_ec2_user_data"] == "\x00binary"
    assert warnings == ["Decoding user-data as UTF-8 failed, return data as is ignoring any error"]


def test_corrupt_gzip_user_data_warns_and_decodes_the_raw_bytes():
    warnings = []
    facts = legacy_facts({"user-data": b"\x1f\x8bnot really gzip"}, warn=warnings.append)
    assert facts["ansible_ec2_user_data"] == "\x1fnot really gzip"
    assert len(warnings) == 2


def test_missing_user_data_is_the_string_none_as_before():
    # Playbooks test `ansible_ec2_user_data != "None"`; the old integration test asserted it.
    facts = legacy_facts({"meta-data": {}, "user-data": None})
    assert facts["ansible_ec2_user_data"] == "None"


def test_unread_parts_produce_no_facts():
    facts = legacy_facts({"dynamic": full_tree()["dynamic"]})
    assert "ansible_ec2_user_data" not in facts
    assert "ansible_ec2_public_key" not in facts
    assert "ansible_ec2_instance_tags_keys" not in facts
    assert facts["ansible_ec2_placement_region"] == "ap-northeast-2"


def test_first_public_key_and_no_index_zero_entry(facts):
    assert facts["ansible_ec2_public_key"] == "ssh-rsa AAAAB3Nza my-key"
    assert not [k for k in facts if k.startswith("ansible_ec2_public_keys")]


def test_public_key_missing_is_the_string_none_as_before():
    tree = full_tree()
    del tree["meta-data"]["public-keys"]
    assert legacy_facts(tree)["ansible_ec2_public_key"] == "None"


def test_further_public_keys_leave_the_old_modules_placeholder_fact():
    tree = full_tree()
    tree["meta-data"]["public-keys"]["1=other-key"] = {"openssh-key": "ssh-ed25519 AAAAC3 other-key"}
    facts = legacy_facts(tree)
    assert facts["ansible_ec2_public_key"] == "ssh-rsa AAAAB3Nza my-key"
    assert facts["ansible_ec2_public_keys_1=other_key"] == "None"


def test_result_is_independent_of_the_tree():
    tree = full_tree()
    before = copy.deepcopy(tree)
    facts = legacy_facts(tree)
    facts["ansible_ec2_instance_tags"]["Name"] = "changed"
    assert tree == before


def test_every_key_is_prefixed_and_has_no_dash_or_colon(facts):
    for key in facts:
        assert key.startswith("ansible_ec2_")
        assert "-" not in key and ":" not in key


def test_a_user_data_bomb_is_kept_as_served_with_a_warning():
    # 100 MiB of zeros, about 100 KiB of gzip: the old module built a 100 MiB fact.
    bomb = gzip.compress(b"\0" * (100 * 1024 * 1024))
    warnings = []
    facts = legacy_facts({"user-data": bomb}, warn=warnings.append)
    assert len(facts["ansible_ec2_user_data"]) <= len(bomb)
    assert any("decompresses to more than 1048576 bytes" in warning for warning in warnings)


def test_user_data_just_under_the_bound_is_decompressed():
    data = b"x" * (1024 * 1024)
    assert legacy_facts({"user-data": gzip.compress(data)})["ansible_ec2_user_data"] == data.decode()
