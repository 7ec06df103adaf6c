"""ImdsClient configuration against the emulator: refusals send nothing, endpoints are used as resolved.

The emulator's request log proves that a refused path or a disabled client
sent nothing. The rules themselves (which paths, endpoints and settings are
accepted) are unit-tested in tests/unit/plugins/module_utils/_imds/.
"""
import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.client import ImdsClient
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import (
    ImdsDisabledError,
    ImdsPathError,
    ImdsTokenError,
)


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


def test_a_bracketed_ipv6_endpoint_is_used(make_emulator, make_client):
    emulator = make_emulator(http_protocol_ipv6="enabled", ipv6_host="::1")
    client = make_client(emulator.url_ipv6)
    assert client.endpoint.startswith("http://[::1]:")
    assert client.get_text("meta-data/instance-id") == "i-0123456789abcdef0"
    assert emulator.count("PUT") == 1
