"""Reading metadata: leaves, listings, get_many and the parallel tree read.

The expected trees are derived from the emulator's instance data, and the
expected request counts from the shape of that data, not from the client.
"""
import collections
import json

import pytest

from imds_emulator import builtin_instance

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.client import MAX_READ_ENTRIES
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.paths import MAX_LISTING_ENTRIES
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import (
    ImdsNotFoundError,
    ImdsResponseError,
)

CREDENTIAL_DIRS = (
    ("meta-data", "iam", "security-credentials"),
    ("meta-data", "iam", "security-credentials-extended"),
    ("meta-data", "identity-credentials", "ec2", "security-credentials"),
)
JSON_LEAVES = {
    ("meta-data", "iam", "info"),
    ("meta-data", "identity-credentials", "ec2", "info"),
    ("meta-data", "events", "maintenance", "scheduled"),
    ("meta-data", "events", "maintenance", "history"),
    ("dynamic", "instance-identity", "document"),
}


def expected_tree(node, path):
    """(tree as read_tree must return it, directories listed, leaves fetched)."""
    tree = {}
    directories, leaves = 1, 0
    for name, value in node.items():
        child = path + (name,)
        if path in CREDENTIAL_DIRS:
            tree[name] = None
        elif child in JSON_LEAVES:
            tree[name] = value
            leaves += 1
        elif isinstance(value, dict):
            tree[name], sub_directories, sub_leaves = expected_tree(value, child)
            directories += sub_directories
            leaves += sub_leaves
        else:
            tree[name] = "\n".join(_text(v) for v in value) if isinstance(value, list) else _text(value)
            leaves += 1
    return tree, directories, leaves


def _text(value):
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def parse_json_leaves(tree, path):
    """Compare JSON leaves by value: the service pretty-prints them."""
    for name, value in tree.items():
        child = path + (name,)
        if child in JSON_LEAVES and value is not None:
            tree[name] = json.loads(value)
        elif isinstance(value, dict):
            parse_json_leaves(value, child)
    return tree


@pytest.mark.parametrize("top", ["meta-data", "dynamic"])
def test_read_tree_returns_the_whole_subtree_with_the_fewest_requests(emulator, make_client, top):
    client = make_client(emulator)
    tree = client.read_tree(top + "/")

    expected, directories, leaves = expected_tree(emulator.instance[top], (top,))
    assert parse_json_leaves(tree, (top,)) == expected
    # One token, one GET per directory, one per leaf: nothing twice.
    assert emulator.count("PUT") == 1
    assert emulator.count("GET") == directories + leaves
    paths = [r.path for r in emulator.requests]
    assert len(paths) == len(set(paths))
    assert client.request_count == len(emulator.requests)


def test_the_real_shapes_are_kept(emulator, make_client):
    tree = make_client(emulator).read_tree("meta-data/")
    assert tree["public-keys"] == {"0=my-key": {"openssh-key": (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEmulatorKeyNotForLoginEXAMPLEEXAMPLE0000 my-key")}}
    assert tree["tags"]["instance"]["team:owner"] == "platform"
    assert tree["security-groups"] == "web\nssh-from-bastion"
    interface = tree["network"]["interfaces"]["macs"]["0a:1b:2c:3d:4e:5f"]
    assert interface["ipv4-associations"] == {"203.0.113.10": "10.0.1.25"}
    assert interface["device-number"] == "0"


def test_credential_values_are_listed_but_never_requested(emulator, make_client):
    tree = make_client(emulator).read_tree("meta-data/")
    assert tree["iam"]["security-credentials"] == {"web-server-role": None}
    assert tree["iam"]["security-credentials-extended"] == {"web-server-role": None}
    assert tree["identity-credentials"]["ec2"]["security-credentials"] == {"ec2-instance": None}
    assert tree["iam"]["info"]
    requested = set(r.path for r in emulator.requests)
    listings = set("/latest/" + "/".join(d) + "/" for d in CREDENTIAL_DIRS)
    for path in requested:
        if "security-credentials" in path:
            assert path in listings
    assert listings <= requested


def test_a_credential_directory_read_directly_is_only_listed(emulator, make_client):
    client = make_client(emulator)
    assert client.read_tree("meta-data/iam/security-credentials/") == {"web-server-role": None}
    assert [r.path for r in emulator.requests if r.method == "GET"] == ["/latest/meta-data/iam/security-credentials/"]


def test_credentials_of_a_new_identity_credentials_kind_are_only_listed(make_emulator, make_client):
    # AWS added identity-credentials/ec2/ in 2018; a later kind must be just as safe.
    data = builtin_instance()
    data["meta-data"]["identity-credentials"]["future-kind"] = {
        "security-credentials": {"Agent": {"Code": "Success", "AccessKeyId": "ASIAFUTUREKIND"}},
    }
    emulator = make_emulator(data)
    tree = make_client(emulator).read_tree("meta-data/identity-credentials/")
    assert tree["future-kind"]["security-credentials"] == {"Agent": None}
    assert not [r.path for r in emulator.requests if r.path.endswith("/security-credentials/Agent")]
    assert "ASIAFUTUREKIND" not in json.dumps(tree)


def test_items_gone_while_reading_are_left_out(emulator, make_client):
    emulator.withdrawn = {"/latest/meta-data/placement/region", "/latest/meta-data/services/"}
    tree = make_client(emulator).read_tree("meta-data/")
    assert tree["placement"] == {"availability-zone": "eu-west-1b", "availability-zone-id": "euw1-az2"}
    assert "services" not in tree
    assert tree["instance-id"] == "i-0123456789abcdef0"


def test_a_missing_directory_is_not_found(make_emulator, make_client):
    emulator = make_emulator(instance_metadata_tags="disabled")
    client = make_client(emulator)
    with pytest.raises(ImdsNotFoundError) as caught:
        client.read_tree("meta-data/tags/instance")
    assert caught.value.path == "meta-data/tags/instance/"
    assert "InstanceMetadataTags" in caught.value.message


@pytest.mark.parametrize("limit", [1, 3])
def test_tree_read_keeps_to_max_concurrency(make_emulator, make_client, limit):
    emulator = make_emulator(latency=0.02)
    make_client(emulator, max_concurrency=limit).read_tree("meta-data/network/")
    assert emulator.max_inflight == limit


def test_get_many_keeps_to_max_concurrency_and_maps_404_to_none(make_emulator, make_client):
    emulator = make_emulator(latency=0.05)
    client = make_client(emulator, max_concurrency=4)
    paths = ["meta-data/" + name for name in (
        "ami-id", "hostname", "instance-type", "local-ipv4", "mac", "profile",
        "reservation-id", "instance-id", "spot/instance-action", "ami-id",
    )]
    result = client.get_many(paths)
    assert list(result) == list(collections.OrderedDict.fromkeys(paths))
    assert result["meta-data/instance-type"] == b"t3.micro"
    assert result["meta-data/spot/instance-action"] is None
    assert emulator.max_inflight == 4
    # The duplicate costs nothing; one token for all.
    assert emulator.count("GET") == 9 and emulator.count("PUT") == 1


def test_get_many_of_nothing_sends_nothing(emulator, make_client):
    assert make_client(emulator).get_many([]) == {}
    assert emulator.requests == []


def test_get_raises_not_found_with_the_path(emulator, make_client):
    with pytest.raises(ImdsNotFoundError) as caught:
        make_client(emulator).get("meta-data/spot/instance-action")
    assert caught.value.path == "meta-data/spot/instance-action"


def test_list_dir_returns_entries_as_served(emulator, make_client):
    client = make_client(emulator)
    assert client.list_dir("meta-data/placement") == ["availability-zone", "availability-zone-id", "region"]
    top = client.list_dir("meta-data/")
    assert "placement/" in top and "instance-id" in top and "public-keys/" in top
    assert client.list_dir("meta-data/public-keys/") == ["0=my-key"]


def test_user_data_is_bytes(emulator, make_client):
    client = make_client(emulator)
    assert client.get("user-data") == builtin_instance()["user-data"].encode()
    assert client.get_text("user-data").startswith("#cloud-config\n")


def test_binary_text_is_replaced_not_fatal(make_emulator, make_client):
    data = builtin_instance()
    data["user-data"] = {"base64": "H4sIAAAAAAAA//8="}
    data["meta-data"]["tags"]["instance"]["Name"] = "caf\u00e9"
    client = make_client(make_emulator(data))
    assert client.get("user-data") == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\xff"
    assert "\ufffd" in client.get_text("user-data")
    assert client.read_tree("meta-data/tags/instance/")["Name"] == "caf\u00e9"


def test_entries_that_are_not_plain_names_are_skipped_with_a_warning(make_emulator, make_client):
    data = builtin_instance()
    data["meta-data"]["tags"]["instance"] = {"Name": "web-1", "bad key": "x", "semi;colon": "y"}
    emulator = make_emulator(data)
    warnings = []
    client = make_client(emulator, warn=warnings.append)
    assert client.read_tree("meta-data/tags/instance/") == {"Name": "web-1"}
    assert len(warnings) == 2 and "'bad key'" in warnings[0] + warnings[1]
    assert not any("bad" in r.path or "semi" in r.path for r in emulator.requests)


def test_a_bottomless_tree_is_refused(make_emulator, make_client):
    data = builtin_instance()
    node = data["meta-data"]
    for level in range(20):
        node["deeper"] = {"level": str(level)}
        node = node["deeper"]
    client = make_client(make_emulator(data))
    with pytest.raises(ImdsResponseError, match="deeper than 16 levels"):
        client.read_tree("meta-data/deeper/")


# ------------------------------------------------------- redirects and sizes


def _service(routes):
    def script(method, path, headers):
        if method == "PUT":
            return 200, {}, b"AQAAAFAKE=="
        return routes.get(path, (404, {}, b""))
    return script


def test_a_redirect_within_the_endpoint_is_followed(make_fake_imds, make_client):
    server = make_fake_imds(_service({
        "/latest/meta-data/placement": (301, {"Location": "/latest/meta-data/placement/"}, b""),
        "/latest/meta-data/placement/": (200, {}, b"region"),
    }))
    client = make_client(server)
    assert client.get("meta-data/placement") == b"region"
    assert [path for _m, path, _h in server.seen] == [
        "/latest/api/token", "/latest/meta-data/placement", "/latest/meta-data/placement/",
    ]


def test_an_absolute_redirect_to_the_same_endpoint_is_followed(make_fake_imds, make_client):
    routes = {"/latest/meta-data/a": None, "/latest/meta-data/b": (200, {}, b"b")}
    server = make_fake_imds(_service(routes))
    routes["/latest/meta-data/a"] = (302, {"Location": server.url + "/latest/meta-data/b"}, b"")
    assert make_client(server).get("meta-data/a") == b"b"


@pytest.mark.parametrize("location", [
    "http://127.0.0.2:{port}/latest/meta-data/b",
    "https://127.0.0.1:{port}/latest/meta-data/b",
    "/elsewhere/b",
    "/latest/meta-data/../user-data",
    "/latest/meta-data/iam/security-credentials/web-server-role",
    "/latest/meta-data/b?x=1",
    "",
    # A GET of the token path would carry the token; another tree is not what was asked for.
    "/latest/api/token",
    "/latest/dynamic/instance-identity/document",
    "/latest/user-data",
])
def test_redirects_leaving_the_metadata_tree_are_refused(make_fake_imds, make_client, location):
    other = make_fake_imds(_service({"/latest/meta-data/b": (200, {}, b"b")}), host="127.0.0.2")
    routes = {"/latest/meta-data/b": (200, {}, b"b")}
    server = make_fake_imds(_service(routes))
    port = int(other.url.rsplit(":", 1)[1]) if "127.0.0.2" in location else server.server_address[1]
    routes["/latest/meta-data/a"] = (301, {"Location": location.format(port=port)}, b"")
    with pytest.raises(ImdsResponseError, match="redirected"):
        make_client(server).get("meta-data/a")
    assert other.seen == []
    assert len(server.seen) == 2


def test_redirect_loops_end(make_fake_imds, make_client):
    server = make_fake_imds(_service({
        "/latest/meta-data/a": (301, {"Location": "/latest/meta-data/b"}, b""),
        "/latest/meta-data/b": (301, {"Location": "/latest/meta-data/a"}, b""),
    }))
    with pytest.raises(ImdsResponseError, match="301"):
        make_client(server).get("meta-data/a")
    assert len(server.seen) == 1 + 4


def test_an_oversized_answer_is_refused(make_fake_imds, make_client):
    server = make_fake_imds(_service({"/latest/user-data": (200, {}, b"x" * (1024 * 1024 + 1))}))
    with pytest.raises(ImdsResponseError, match="larger than"):
        make_client(server).get("user-data")


def test_a_redirect_within_dynamic_is_followed_but_not_out_of_it(make_fake_imds, make_client):
    server = make_fake_imds(_service({
        "/latest/dynamic/a": (301, {"Location": "/latest/dynamic/b"}, b""),
        "/latest/dynamic/b": (200, {}, b"b"),
        "/latest/dynamic/c": (301, {"Location": "/latest/meta-data/b"}, b""),
    }))
    client = make_client(server)
    assert client.get("dynamic/a") == b"b"
    with pytest.raises(ImdsResponseError, match=r"same metadata tree \(dynamic/\)"):
        client.get("dynamic/c")
    assert "/latest/meta-data/b" not in [path for _m, path, _h in server.seen]


def test_a_chunked_answer_is_refused_without_reading_it(make_fake_imds, make_client):
    server = make_fake_imds(_service({
        "/latest/meta-data/a": (200, {"Transfer-Encoding": "chunked"}, b""),
    }))
    with pytest.raises(ImdsResponseError, match="Transfer-Encoding"):
        make_client(server).get("meta-data/a")


def _wide_service(width):
    def script(method, path, headers):
        if method == "PUT":
            return 200, {}, b"AQAAAFAKE=="
        if path.endswith("/"):
            return 200, {}, "\n".join("d%d/" % index for index in range(width)).encode()
        return 404, {}, b""
    return script


def test_a_listing_wider_than_the_cap_is_refused_naming_it(make_fake_imds, make_client):
    server = make_fake_imds(_wide_service(MAX_LISTING_ENTRIES + 1))
    with pytest.raises(ImdsResponseError) as caught:
        make_client(server).read_tree("meta-data/wide/")
    assert "meta-data/wide/" in caught.value.message and str(MAX_LISTING_ENTRIES + 1) in caught.value.message
    assert len(server.seen) == 2


def test_a_tree_with_more_entries_than_the_cap_is_refused_after_bounded_requests(make_fake_imds, make_client):
    server = make_fake_imds(_wide_service(MAX_LISTING_ENTRIES))
    client = make_client(server, max_concurrency=4)
    with pytest.raises(ImdsResponseError, match="more than %d entries in one read" % MAX_READ_ENTRIES):
        client.read_tree("meta-data/wide/")
    # The cap is reached after MAX_READ_ENTRIES / width listings, plus those in flight.
    assert len(server.seen) <= 1 + MAX_READ_ENTRIES // MAX_LISTING_ENTRIES + 1 + 4


def test_read_uses_one_deadline_for_leaves_trees_and_listings(emulator, make_client):
    client = make_client(emulator)
    leaves, trees, listings = client.read(["meta-data/instance-id", "meta-data/spot/instance-action"],
                                          ["meta-data/placement/", "meta-data/tags/nothing/"],
                                          ["meta-data/tags/instance/", "meta-data/spot/"])
    assert "Name" in listings["meta-data/tags/instance/"] and listings["meta-data/spot/"] is None
    assert leaves == {"meta-data/instance-id": b"i-0123456789abcdef0", "meta-data/spot/instance-action": None}
    assert trees["meta-data/placement/"]["region"] == "eu-west-1"
    assert trees["meta-data/tags/nothing/"] is None
    assert emulator.count("PUT") == 1
