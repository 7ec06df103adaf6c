"""Path, listing, redirect and credential policy (paths.py). Pure: no socket, no client."""
import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import ImdsPathError, ImdsResponseError
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.paths import (
    MAX_LISTING_ENTRIES,
    as_directory,
    checked_path,
    child_of,
    is_credential_dir,
    is_credential_path,
    is_plain_segment,
    listing_entries,
    redirect_target,
    tree_of,
    validate_path,
)

ENDPOINT = "http://127.0.0.1:8080"
BASE = "/latest/"


@pytest.mark.parametrize("segment, plain", [
    ("instance-id", True), ("team:owner", True), ("a+b=c,d.e@f_g-h", True),
    (".", False), ("..", False), ("", False), ("a/b", False), ("a b", False), ("x\n", False),
])
def test_plain_segments(segment, plain):
    assert is_plain_segment(segment) is plain


def test_checked_path_refuses_credential_values_unless_allowed():
    path = "meta-data/iam/security-credentials/web-role"
    with pytest.raises(ImdsPathError) as caught:
        checked_path(path)
    assert "IAM credential value, which cloudmeta.imds never reads" in caught.value.message
    assert "iam/info" in caught.value.message
    assert checked_path(path, allow_credentials=True) == path
    # The listing of role names is not a credential value.
    assert checked_path("meta-data/iam/security-credentials/") == "meta-data/iam/security-credentials/"


def test_checked_path_validates_first():
    with pytest.raises(ImdsPathError, match="'..' segment"):
        checked_path("meta-data/../user-data", allow_credentials=True)


@pytest.mark.parametrize("path, expected", [
    ("meta-data/iam/security-credentials/", True),
    ("meta-data/iam/security-credentials-extended/", True),
    ("meta-data/identity-credentials/ec2/security-credentials/", True),
    ("meta-data/iam/", False),
    ("meta-data/iam/security-credentials/web-role", False),
])
def test_credential_directories(path, expected):
    assert is_credential_dir(path) is expected


def test_as_directory_adds_one_slash_and_leaves_bad_input_for_validation():
    assert as_directory("meta-data/placement") == "meta-data/placement/"
    assert as_directory("meta-data/placement/") == "meta-data/placement/"
    assert as_directory("") == ""
    assert as_directory(None) is None


@pytest.mark.parametrize("path, tree", [
    ("meta-data/instance-id", "meta-data/"),
    ("dynamic/instance-identity/document", "dynamic/"),
    ("user-data", "user-data"),
    ("user-data/", "user-data"),
    ("user-data/x", None),
    ("api/token", None),
])
def test_tree_of(path, tree):
    assert tree_of(path) == tree


def test_listing_entries_drops_blank_lines_and_carriage_returns():
    assert listing_entries(b"a\r\n\nb/\n  \n", "meta-data/", ENDPOINT) == ["a", "b/"]


def test_a_listing_over_the_bound_names_the_path_and_the_endpoint():
    body = "\n".join("e%d" % index for index in range(MAX_LISTING_ENTRIES + 1)).encode()
    with pytest.raises(ImdsResponseError) as caught:
        listing_entries(body, "meta-data/tags/instance/", ENDPOINT)
    assert caught.value.message == (
        "The instance metadata service at %s listed %d entries in meta-data/tags/instance/, more than the %d "
        "one listing may hold; real instance metadata lists at most tens. Check the endpoint option."
        % (ENDPOINT, MAX_LISTING_ENTRIES + 1, MAX_LISTING_ENTRIES)
    )


def test_child_of_public_keys_and_refused_names():
    assert child_of("meta-data/public-keys/", "0=my-key") == ("0=my-key", "meta-data/public-keys/0/", True)
    assert child_of("meta-data/", "placement/") == ("placement", "meta-data/placement/", True)
    assert child_of("meta-data/", "../x") is None


@pytest.mark.parametrize("path, location, target", [
    ("meta-data/instance-id", "/latest/meta-data/instance-id-2", "meta-data/instance-id-2"),
    ("meta-data/instance-id", ENDPOINT + "/latest/meta-data/placement/region", "meta-data/placement/region"),
    ("meta-data/instance-id", "HTTP://127.0.0.1:8080/latest/meta-data/x", "meta-data/x"),
    ("dynamic/instance-identity/document", "/latest/dynamic/fws/", "dynamic/fws/"),
    ("user-data", "/latest/user-data/", "user-data/"),
])
def test_redirects_within_the_endpoint_and_tree_are_followed(path, location, target):
    assert redirect_target(path, location, ENDPOINT, BASE) == target


@pytest.mark.parametrize("path, location", [
    ("meta-data/instance-id", None),
    ("meta-data/instance-id", ""),
    ("meta-data/instance-id", "http://127.0.0.2:8080/latest/meta-data/instance-id"),
    ("meta-data/instance-id", "https://127.0.0.1:8080/latest/meta-data/instance-id"),
    ("meta-data/instance-id", "/latest/api/token"),
    ("meta-data/instance-id", "/latest/user-data"),
    ("meta-data/instance-id", "/latest/dynamic/instance-identity/document"),
    ("meta-data/instance-id", "/other/meta-data/instance-id"),
    ("meta-data/instance-id", "/latest/meta-data/instance-id?x=1"),
    ("meta-data/instance-id", "/latest/meta-data/../user-data"),
    ("meta-data/instance-id", "/latest/meta-data/iam/security-credentials/web-role"),
])
def test_every_other_redirect_is_refused_naming_the_tree(path, location):
    with pytest.raises(ImdsResponseError) as caught:
        redirect_target(path, location, ENDPOINT, BASE)
    assert caught.value.message == (
        "The instance metadata service at %s redirected %s somewhere else; only redirects within the same "
        "endpoint and the same metadata tree (meta-data/) are followed. Check the endpoint option." % (ENDPOINT, path)
    )


def test_a_redirect_of_a_path_outside_every_tree_names_all_trees():
    with pytest.raises(ImdsResponseError, match=r"\(meta-data/, dynamic/, user-data\)"):
        redirect_target("api/token", "/latest/meta-data/x", ENDPOINT, BASE)


def test_an_endpoint_prefix_is_part_of_the_base_path():
    assert redirect_target("meta-data/a", "/imds/latest/meta-data/b", ENDPOINT + "/imds", "/imds/latest/") == "meta-data/b"
    with pytest.raises(ImdsResponseError):
        redirect_target("meta-data/a", "/latest/meta-data/b", ENDPOINT + "/imds", "/imds/latest/")


@pytest.mark.parametrize("term", [
    "instance-id",
    "placement/availability-zone",
    "meta-data/placement/",
    "network/interfaces/macs/0e:49:61:0f:c3:11/local-ipv4s",
    "public-keys/0=my-key",
    "public-keys/0/openssh-key",
    "tags/instance/team:owner",
    "tags/instance/a+b=c,d.e@f_g-h",
    "tags/instance/_index",
    "dynamic/instance-identity/document",
    "user-data",
    "network/interfaces/macs/",
    "network/interfaces/macs/0e:49:61:0f:c3:11/ipv4-associations/203.0.113.10",
])
def test_plain_relative_paths_are_accepted_unchanged(term):
    assert validate_path(term) == term


@pytest.mark.parametrize("term, reason", [
    ("", "empty"),
    ("/latest/meta-data/instance-id", "starts with '/'"),
    ("../user-data", "'..' segment"),
    ("meta-data/../../etc", "'..' segment"),
    ("placement/./region", "'.' segment"),
    (".", "'.' segment"),
    ("placement//region", "empty segment"),
    ("placement/region//", "empty segment"),
    ("http://169.254.169.254/latest/meta-data/", "URL"),
    ("https://example.com/x", "URL"),
    ("file:/etc/passwd", "URL"),
    ("instance-id?x=1", "query"),
    ("instance-id#frag", "fragment"),
    ("instance%2F..%2Fx", "percent"),
    ("tags/instance/a b", "whitespace"),
    ("instance-id\n", "whitespace"),
    ("instance-id\r\nX-Forwarded-For: 1.2.3.4", "whitespace"),
    ("instance-id\x00", "control character"),
    ("instance-id\x7f", "control character"),
    ("meta-data\\instance-id", "backslash"),
    ("tags/instance/caf\u00e9", "not allowed"),
    ("tags/instance/<script>", "not allowed"),
    ("a/" * 600, "longer than"),
])
def test_anything_else_is_refused_with_the_reason(term, reason):
    with pytest.raises(ImdsPathError) as caught:
        validate_path(term)
    assert reason in caught.value.message
    assert caught.value.reason


@pytest.mark.parametrize("term", [None, b"instance-id", 42, ["instance-id"]])
def test_non_strings_are_refused(term):
    with pytest.raises(ImdsPathError, match="not a string"):
        validate_path(term)


@pytest.mark.parametrize("path, expected", [
    ("meta-data/iam/security-credentials/", False),
    ("meta-data/iam/security-credentials", False),
    ("meta-data/iam/info", False),
    ("meta-data/iam/security-credentials/web-role", True),
    ("meta-data/iam/security-credentials-extended/web-role", True),
    ("meta-data/identity-credentials/ec2/security-credentials/ec2-instance", True),
    ("meta-data/identity-credentials/ec2/info", False),
    ("meta-data/IAM/Security-Credentials/web-role", True),
])
def test_credential_values_are_recognised(path, expected):
    assert is_credential_path(path) is expected
