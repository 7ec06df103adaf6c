"""ImdsClient configuration: path safety, endpoint resolution, settings.

Path and settings checks must refuse before any request: the emulator's
request log proves nothing was sent.
"""
import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.client import ImdsClient
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.paths import is_credential_path, validate_path
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.settings import (
    DEFAULT_ENDPOINT,
    DEFAULT_ENDPOINT_IPV6,
    resolve_endpoint,
)
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import (
    ImdsConfigError,
    ImdsDisabledError,
    ImdsPathError,
    ImdsTokenError,
)


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


def test_credential_values_are_refused_before_any_request(emulator, make_client):
    client = make_client(emulator)
    for call in (client.get, client.get_text, client.list_dir, client.read_tree):
        with pytest.raises(ImdsPathError, match="credential"):
            call("meta-data/iam/security-credentials/web-server-role")
    with pytest.raises(ImdsPathError, match="credential"):
        client.get_many(["meta-data/instance-id", "meta-data/iam/security-credentials-extended/x"])
    assert emulator.requests == []
    assert client.request_count == 0


def test_bad_paths_are_refused_before_any_request(emulator, make_client):
    client = make_client(emulator)
    with pytest.raises(ImdsPathError):
        client.get_many(["meta-data/instance-id", "../user-data"])
    with pytest.raises(ImdsPathError):
        client.read_tree("meta-data/../")
    assert emulator.requests == []


# --------------------------------------------------------------- endpoint


def test_default_endpoint_is_ipv4():
    assert resolve_endpoint(environ={}) == DEFAULT_ENDPOINT == "http://169.254.169.254"


@pytest.mark.parametrize("mode", ["IPv6", "ipv6", "IPV6"])
def test_ipv6_mode_from_option_or_environment_in_any_case(mode):
    assert resolve_endpoint(endpoint_mode=mode, environ={}) == DEFAULT_ENDPOINT_IPV6 == "http://[fd00:ec2::254]"
    environ = {"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": mode}
    assert resolve_endpoint(environ=environ) == DEFAULT_ENDPOINT_IPV6


def test_mode_option_wins_over_environment():
    environ = {"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"}
    assert resolve_endpoint(endpoint_mode="IPv4", environ=environ) == DEFAULT_ENDPOINT


def test_endpoint_from_environment_wins_over_mode():
    environ = {
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:8080/",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6",
    }
    assert resolve_endpoint(environ=environ) == "http://127.0.0.1:8080"


def test_endpoint_option_wins_over_environment():
    environ = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:8080"}
    assert resolve_endpoint(endpoint="http://127.0.0.2:9090", environ=environ) == "http://127.0.0.2:9090"


def test_empty_values_count_as_unset():
    environ = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": ""}
    assert resolve_endpoint(endpoint="", endpoint_mode="", environ=environ) == DEFAULT_ENDPOINT


@pytest.mark.parametrize("url, expected", [
    ("http://169.254.169.254/", "http://169.254.169.254"),
    ("HTTP://127.0.0.1:1338", "http://127.0.0.1:1338"),
    ("http://[fd00:ec2::254]", "http://[fd00:ec2::254]"),
    ("http://[::1]:8080/", "http://[::1]:8080"),
    ("https://imds.example.internal", "https://imds.example.internal"),
    ("http://127.0.0.1:1338/imds/", "http://127.0.0.1:1338/imds"),
])
def test_valid_endpoints_are_normalised(url, expected):
    assert resolve_endpoint(endpoint=url, environ={}) == expected


@pytest.mark.parametrize("url, reason", [
    ("169.254.169.254", "http:// or https://"),
    ("ftp://169.254.169.254", "http:// or https://"),
    ("http://", "no host"),
    ("http://fd00:ec2::254", "must be in brackets"),
    ("http://[fd00:ec2::zz]", "not an IPv6 address"),
    ("http://user:secret@169.254.169.254", "user information"),
    ("http://169.254.169.254/?x=1", "query or fragment"),
    ("http://169.254.169.254/#x", "query or fragment"),
    ("http://169.254.169.254:99999", "port"),
    ("http://169.254.169.254 /", "whitespace"),
    ("http://169.254.169.254/a/../b", "plain segments"),
])
def test_invalid_endpoints_are_config_errors(url, reason):
    with pytest.raises(ImdsConfigError, match="endpoint") as caught:
        resolve_endpoint(endpoint=url, environ={})
    assert reason in caught.value.message
    with pytest.raises(ImdsConfigError, match="AWS_EC2_METADATA_SERVICE_ENDPOINT"):
        resolve_endpoint(environ={"AWS_EC2_METADATA_SERVICE_ENDPOINT": url})


@pytest.mark.parametrize("mode", ["ipv5", "v6", "IPv6 ", "dualstack"])
def test_invalid_mode_is_a_config_error_naming_its_source(mode):
    with pytest.raises(ImdsConfigError, match="endpoint_mode.*IPv4 or IPv6"):
        resolve_endpoint(endpoint_mode=mode, environ={})
    with pytest.raises(ImdsConfigError, match="AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"):
        resolve_endpoint(environ={"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": mode})


def test_an_endpoint_path_is_kept_as_a_prefix(emulator, make_client):
    # The emulator serves no prefix, so the token path there is a 405: what
    # matters is the path the request was sent to.
    client = make_client(emulator.url + "/imds-prefix/")
    with pytest.raises(ImdsTokenError):
        client.get("meta-data/instance-id")
    assert [r.path for r in emulator.requests] == ["/imds-prefix/latest/api/token"]


def test_client_uses_the_environment_endpoint(emulator):
    client = ImdsClient(environ={"AWS_EC2_METADATA_SERVICE_ENDPOINT": emulator.url + "/"})
    assert client.endpoint == emulator.url
    assert client.get_text("meta-data/instance-id") == "i-0123456789abcdef0"


# --------------------------------------------------------------- disabled


@pytest.mark.parametrize("value", ["true", "TRUE", "True"])
def test_disabled_by_environment_sends_nothing(emulator, make_client, value):
    client = make_client(emulator, environ={"AWS_EC2_METADATA_DISABLED": value})
    calls = [
        lambda: client.get("meta-data/instance-id"),
        lambda: client.get_text("meta-data/instance-id"),
        lambda: client.list_dir("meta-data/"),
        lambda: client.get_many(["meta-data/instance-id"]),
        lambda: client.read_tree("meta-data/"),
    ]
    for call in calls:
        with pytest.raises(ImdsDisabledError, match="AWS_EC2_METADATA_DISABLED"):
            call()
    assert emulator.requests == []


@pytest.mark.parametrize("value", ["false", "", "1", "yes"])
def test_other_values_do_not_disable(emulator, make_client, value):
    client = make_client(emulator, environ={"AWS_EC2_METADATA_DISABLED": value})
    assert client.get_text("meta-data/instance-id") == "i-0123456789abcdef0"


def test_disabled_reads_os_environ_by_default(emulator, monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = ImdsClient(endpoint=emulator.url)
    with pytest.raises(ImdsDisabledError):
        client.get("meta-data/instance-id")
    assert emulator.requests == []


# --------------------------------------------------------------- settings


@pytest.mark.parametrize("option, value, reason", [
    ("token_ttl", 0, "from 1 to 21600"),
    ("token_ttl", 21601, "from 1 to 21600"),
    ("token_ttl", 60.5, "whole number"),
    ("timeout", 0, "greater than 0"),
    ("timeout", -1, "from 0"),
    ("timeout", "1", "a number"),
    ("total_timeout", 0, "greater than 0"),
    ("retries", -1, "from 0 to 20"),
    ("retries", 21, "from 0 to 20"),
    ("retries", True, "whole number"),
    ("max_concurrency", 0, "from 1 to 64"),
    ("max_concurrency", 65, "from 1 to 64"),
    ("allow_imdsv1", "yes", "true or false"),
])
def test_out_of_range_settings_are_config_errors(option, value, reason):
    with pytest.raises(ImdsConfigError, match=option) as caught:
        ImdsClient(environ={}, **{option: value})
    assert reason in caught.value.message


def test_boundary_settings_are_accepted():
    client = ImdsClient(environ={}, token_ttl=1, retries=0, timeout=0.01, max_concurrency=1)
    assert (client.token_ttl, client.retries, client.timeout, client.max_concurrency) == (1, 0, 0.01, 1)
    client = ImdsClient(environ={}, token_ttl=21600, retries=20, max_concurrency=64)
    assert client.token_ttl == 21600


def test_a_bracketed_ipv6_endpoint_is_used(make_emulator, make_client):
    emulator = make_emulator(http_protocol_ipv6="enabled", ipv6_host="::1")
    client = make_client(emulator.url_ipv6)
    assert client.endpoint.startswith("http://[::1]:")
    assert client.get_text("meta-data/instance-id") == "i-0123456789abcdef0"
    assert emulator.count("PUT") == 1
