"""The emulator answers metadata requests the way the real IMDS does."""
import json
import socket

import pytest

# Verbatim from real IMDS responses (see imds-behaviour.md, "Leaf").
REAL_404_BODY = (
    '<?xml version="1.0" encoding="iso-8859-1"?>\n'
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
    '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
    " <head>\n"
    "  <title>404 - Not Found</title>\n"
    " </head>\n"
    " <body>\n"
    "  <h1>404 - Not Found</h1>\n"
    " </body>\n"
    "</html>\n"
)


def text(reply):
    assert reply.status == 200, reply
    return reply.body.decode("utf-8")


def test_root_lists_api_versions_including_latest(http):
    versions = text(http.get_v2("/")).split("\n")
    assert versions[-1] == "latest"
    assert {"1.0", "2021-03-23", "2021-07-15"} <= set(versions)


def test_version_listing_has_the_three_trees(http):
    assert text(http.get_v2("/latest/")).split("\n") == ["dynamic", "meta-data", "user-data"]
    assert text(http.get_v2("/latest")) == text(http.get_v2("/latest/"))


def test_version_listing_omits_user_data_when_there_is_none(make_emulator, http_for):
    emulator = make_emulator({"meta-data": {"instance-id": "i-0abc"}})
    client = http_for(emulator)
    assert text(client.get_v2("/latest/")) == "meta-data"
    assert client.get_v2("/latest/user-data").status == 404
    assert client.get_v2("/latest/dynamic/").status == 404


def test_directory_listing_marks_subdirectories_and_has_no_trailing_newline(http):
    body = text(http.get_v2("/latest/meta-data/"))
    entries = body.split("\n")
    assert not body.endswith("\n")
    assert {"iam/", "network/", "placement/", "public-keys/", "tags/", "block-device-mapping/"} <= set(entries)
    assert {"instance-id", "local-ipv4", "mac", "security-groups"} <= set(entries)
    assert "instance-id/" not in entries


def test_directory_without_trailing_slash_lists_it(http):
    token = http.token()
    with_slash = http.get("/latest/meta-data/placement/", token)
    without = http.get("/latest/meta-data/placement", token)
    assert without.status == 200
    assert without.body == with_slash.body
    assert set(with_slash.body.decode().split("\n")) == {"availability-zone", "availability-zone-id", "region"}


def test_leaf_accepts_a_trailing_slash(http):
    token = http.token()
    assert http.get("/latest/meta-data/placement/availability-zone/", token).body == b"eu-west-1b"
    assert http.get("/latest/meta-data/placement/availability-zone", token).body == b"eu-west-1b"


def test_multi_valued_leaf_is_newline_separated(http):
    token = http.token()
    assert http.get("/latest/meta-data/security-groups", token).body == b"web\nssh-from-bastion"
    mac = http.get("/latest/meta-data/mac", token).body.decode()
    ips = http.get("/latest/meta-data/network/interfaces/macs/%s/local-ipv4s" % mac, token).body
    assert ips == b"10.0.1.25\n10.0.1.26"


def test_public_keys_are_listed_as_index_equals_name(http):
    token = http.token()
    assert http.get("/latest/meta-data/public-keys/", token).body == b"0=my-key"
    assert http.get("/latest/meta-data/public-keys/0/", token).body == b"openssh-key"
    assert http.get("/latest/meta-data/public-keys/0", token).body == b"openssh-key"
    key = http.get("/latest/meta-data/public-keys/0/openssh-key", token).body.decode()
    assert key.startswith("ssh-ed25519 ") and key.endswith(" my-key")
    assert http.get("/latest/meta-data/public-keys/0=my-key/", token).status == 404
    assert http.get("/latest/meta-data/public-keys/1/", token).status == 404


def test_missing_items_get_the_real_xhtml_404(http):
    token = http.token()
    for path in ("/latest/meta-data/no-such-item", "/latest/meta-data/placement/host-id",
                 "/latest/meta-data/spot/instance-action", "/nope/", "/latest/meta-data/instance-id/more",
                 "/latest/meta-data/../dynamic/", "/latest//meta-data/", "/latest/api/"):
        reply = http.get(path, token)
        assert reply.status == 404, path
        assert reply.body.decode("ascii") == REAL_404_BODY
        assert reply.headers["content-type"] == "text/plain"


def test_response_headers_match_the_real_service(http):
    reply = http.get_v2("/latest/meta-data/instance-id")
    assert reply.body == b"i-0123456789abcdef0"
    assert reply.headers["server"] == "EC2ws"
    assert reply.headers["connection"] == "close"
    assert reply.headers["content-type"] == "text/plain"
    assert reply.headers["accept-ranges"] == "none"
    assert int(reply.headers["content-length"]) == len(reply.body)
    assert "last-modified" in reply.headers and "date" in reply.headers


def test_user_data_is_octet_stream(http):
    reply = http.get_v2("/latest/user-data")
    assert reply.headers["content-type"] == "application/octet-stream"
    assert reply.headers["accept-ranges"] == "bytes"
    assert reply.body.startswith(b"#cloud-config\n")
    assert http.get_v2("/latest/user-data/").body == reply.body


def test_every_connection_is_closed_after_one_response(emu, http):
    token = http.token()
    host, port = http.host, http.port
    request = ("GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n"
               "X-aws-ec2-metadata-token: %s\r\n\r\n" % token).encode()
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.sendall(request)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break  # the server closed the connection despite keep-alive
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.endswith(b"\r\n\r\ni-0123456789abcdef0")


def test_head_is_get_without_a_body(http):
    token = http.token()
    get = http.get("/latest/meta-data/local-ipv4", token)
    head = http.get("/latest/meta-data/local-ipv4", token, method="HEAD")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(b"10.0.1.25"))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_on_metadata_are_not_allowed(http, method):
    token = http.token()
    reply = http.request(method, "/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": token}, body=b"")
    assert reply.status == 405


def test_versioned_paths_serve_the_same_data(http):
    token = http.token()
    assert http.get("/2021-03-23/meta-data/instance-id", token).body == b"i-0123456789abcdef0"
    assert http.get("/2021-03-23/meta-data/tags/instance/Name", token).body == b"web-1"
    assert http.get("/2009-04-04/dynamic/instance-identity/document", token).status == 200
    assert http.get("/1999-01-01/meta-data/instance-id", token).status == 404


def test_identity_document_is_pretty_json_consistent_with_meta_data(http):
    token = http.token()
    raw = http.get("/latest/dynamic/instance-identity/document", token).body.decode()
    assert raw.split("\n")[1].startswith('  "') and '" : ' in raw
    document = json.loads(raw)

    def meta(path):
        return http.get("/latest/meta-data/" + path, token).body.decode()

    mac = meta("mac")
    assert document["region"] == meta("placement/region") == "eu-west-1"
    assert document["availabilityZone"] == meta("placement/availability-zone")
    assert document["privateIp"] == meta("local-ipv4")
    assert document["instanceId"] == meta("instance-id")
    assert document["instanceType"] == meta("instance-type")
    assert document["imageId"] == meta("ami-id")
    assert document["accountId"] == meta("network/interfaces/macs/%s/owner-id" % mac)
    assert document["version"] == "2017-09-30"
    assert document["kernelId"] is None
    assert meta("placement/availability-zone-id") == "euw1-az2"
    listing = set(http.get("/latest/dynamic/instance-identity/", token).body.decode().split("\n"))
    assert listing == {"document", "pkcs7", "rsa2048", "signature"}


def test_two_interfaces_in_one_vpc_on_different_subnets(http):
    token = http.token()
    base = "/latest/meta-data/network/interfaces/macs/"
    macs = http.get(base, token).body.decode().split("\n")
    assert len(macs) == 2 and all(m.endswith("/") for m in macs)
    eni, mac_of = {}, {}
    for mac in macs:
        listing = http.get(base + mac, token).body.decode().split("\n")
        device = http.get(base + mac + "device-number", token).body.decode()
        eni[device] = {name: http.get(base + mac + name, token) for name in listing}
        mac_of[device] = mac
    assert sorted(eni) == ["0", "1"]
    primary, secondary = eni["0"], eni["1"]
    assert primary["vpc-id"].body == secondary["vpc-id"].body
    assert primary["subnet-id"].body != secondary["subnet-id"].body
    assert primary["public-ipv4s"].body == b"203.0.113.10"
    assert "public-ipv4s" not in secondary and "ipv4-associations/" not in secondary
    assert http.get(base + mac_of["1"] + "public-ipv4s", token).status == 404
    assert http.get("/latest/meta-data/mac", token).body.decode() + "/" == mac_of["0"]
    assert primary["ipv4-associations/"].body == b"203.0.113.10"


def test_tags_keep_their_exact_keys_and_values(http):
    token = http.token()
    keys = http.get("/latest/meta-data/tags/instance/", token).body.decode().split("\n")
    assert {"Name", "team:owner", "my-dashed-key", "Note"} <= set(keys)
    assert http.get("/latest/meta-data/tags/instance/team:owner", token).body == b"platform"
    assert http.get("/latest/meta-data/tags/instance/team%3Aowner", token).body == b"platform"
    assert http.get("/latest/meta-data/tags/instance/my-dashed-key", token).body == b"dashed value"
    assert b"{{ 'x' }}" in http.get("/latest/meta-data/tags/instance/Note", token).body


def test_iam_role_credentials_are_well_formed(http):
    token = http.token()
    assert http.get("/latest/meta-data/iam/", token).body.decode().split("\n") == [
        "info", "security-credentials/", "security-credentials-extended/"]
    role = http.get("/latest/meta-data/iam/security-credentials/", token).body.decode()
    assert role == "web-server-role"
    creds = json.loads(http.get("/latest/meta-data/iam/security-credentials/" + role, token).body)
    assert creds["Code"] == "Success" and creds["Type"] == "AWS-HMAC"
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40
    assert creds["Token"] and creds["Expiration"] > creds["LastUpdated"]
    info = json.loads(http.get("/latest/meta-data/iam/info", token).body)
    assert info["InstanceProfileArn"] == "arn:aws:iam::123456789012:instance-profile/web-server-profile"
    ec2 = json.loads(http.get("/latest/meta-data/identity-credentials/ec2/security-credentials/ec2-instance",
                              token).body)
    assert ec2["AccessKeyId"] != creds["AccessKeyId"]


def test_no_maintenance_events_is_an_empty_json_array(http):
    token = http.token()
    assert http.get("/latest/meta-data/events/maintenance/scheduled", token).body == b"[]"
    assert http.get("/latest/meta-data/events/", token).body == b"maintenance/"
    assert http.get("/latest/meta-data/events/recommendations/rebalance", token).status == 404


def test_instance_data_edited_live_is_served(emu, http):
    emu.instance["meta-data"]["tags"]["instance"]["Name"] = "renamed"
    assert http.get_v2("/latest/meta-data/tags/instance/Name").body == b"renamed"


def test_data_edited_into_something_unservable_answers_500(emu, http, capfd):
    emu.instance["meta-data"]["iam"]["info"] = {"LastUpdated": object()}
    reply = http.get_v2("/latest/meta-data/iam/info")
    assert reply.status == 500
    assert emu.requests[-1].status == 500
    assert "TypeError" in capfd.readouterr().err
    assert http.get_v2("/latest/meta-data/instance-id").status == 200
