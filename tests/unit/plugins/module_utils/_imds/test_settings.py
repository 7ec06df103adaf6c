"""ImdsSettings: every setting checked once, when the settings are made; the endpoint chosen from them and the environment.

Pure: no socket, no client request.
"""
import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds import settings as settings_module
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.client import ImdsClient
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import ImdsConfigError
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.options import ConnectionOptions
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.settings import (
    DEFAULT_ENDPOINT,
    DEFAULT_ENDPOINT_IPV6,
    DEFAULTS,
    ImdsSettings,
    resolve_endpoint,
)


def test_defaults_are_the_documented_ones():
    assert ImdsSettings().as_dict() == dict(
        endpoint=None, endpoint_mode=None, allow_imdsv1=False, timeout=1.0,
        retries=3, total_timeout=20.0, token_ttl=21600, max_concurrency=8,
    )
    assert ImdsSettings().as_dict() == DEFAULTS


def test_values_are_kept_as_given_and_numbers_normalised():
    made = ImdsSettings(endpoint="http://127.0.0.1:8080/", endpoint_mode="IPv6", timeout=2, total_timeout=5)
    assert (made.endpoint, made.endpoint_mode) == ("http://127.0.0.1:8080/", "IPv6")
    assert made.timeout == 2.0 and isinstance(made.timeout, float)
    assert made.total_timeout == 5.0 and isinstance(made.total_timeout, float)
    # The endpoint the client uses is the checked, normalised one.
    assert made.endpoint_url({}) == "http://127.0.0.1:8080"


@pytest.mark.parametrize("values, text", [
    ({"timeout": 0}, "Invalid timeout 0: it must be greater than 0."),
    ({"timeout": None}, "Invalid timeout None: it must be a number."),
    ({"timeout": float("nan")}, "Invalid timeout nan: it must be from 0 to 3600."),
    ({"retries": 1.5}, "Invalid retries 1.5: it must be a whole number."),
    ({"retries": True}, "Invalid retries True: it must be a whole number."),
    ({"token_ttl": 21601}, "Invalid token_ttl 21601: it must be from 1 to 21600."),
    ({"max_concurrency": 65}, "Invalid max_concurrency 65: it must be from 1 to 64."),
    ({"allow_imdsv1": "yes"}, "Invalid allow_imdsv1 'yes': it must be true or false."),
    ({"endpoint": "169.254.169.254"}, "Invalid endpoint '169.254.169.254': it must be an http:// or https:// URL."),
    ({"endpoint_mode": "dualstack"}, "Invalid endpoint_mode 'dualstack': use IPv4 or IPv6."),
    ({"timout": 1}, "Unknown connection option(s): timout."),
])
def test_each_bad_value_is_one_config_error_with_the_whole_sentence(values, text):
    with pytest.raises(ImdsConfigError) as caught:
        ImdsSettings(**values)
    assert caught.value.message == text


def test_empty_endpoint_and_mode_mean_unset():
    made = ImdsSettings(endpoint="", endpoint_mode="")
    assert made.endpoint_url({}) == DEFAULT_ENDPOINT
    assert made.as_dict()["endpoint"] == ""


def test_the_environment_is_read_when_the_endpoint_is_resolved_not_when_the_settings_are_made():
    made = ImdsSettings()
    assert made.endpoint_url({"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"}) == DEFAULT_ENDPOINT_IPV6
    assert made.endpoint_url({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://[::1]:9/"}) == "http://[::1]:9"
    with pytest.raises(ImdsConfigError, match="AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"):
        made.endpoint_url({"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv7"})


def test_an_explicit_endpoint_still_has_a_bad_environment_mode_reported():
    made = ImdsSettings(endpoint="http://127.0.0.1:8080")
    with pytest.raises(ImdsConfigError, match="AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"):
        made.endpoint_url({"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv7"})


def test_settings_compare_by_value():
    assert ImdsSettings(timeout=2) == ImdsSettings(timeout=2.0)
    assert ImdsSettings(timeout=2) != ImdsSettings(timeout=3)
    assert "timeout=2.0" in repr(ImdsSettings(timeout=2))


@pytest.fixture
def counted_checks(monkeypatch):
    """Counts every call of the checks settings.py makes, by name."""
    counts = {}
    for name in ("check_endpoint", "check_endpoint_mode", "check_number", "check_timeout"):
        real = getattr(settings_module, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            counts[_name] = counts.get(_name, 0) + 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(settings_module, name, counting)
    return counts


def test_the_option_adapter_and_the_client_validate_once(counted_checks):
    options = ConnectionOptions(endpoint="http://127.0.0.1:8080", endpoint_mode="ipv4", timeout="2.5")
    after_options = dict(counted_checks)
    client = options.client(environ={})
    assert counted_checks == after_options
    assert after_options["check_endpoint"] == 1
    assert after_options["check_endpoint_mode"] == 1
    assert after_options["check_timeout"] == 2
    assert (client.endpoint, client.timeout) == ("http://127.0.0.1:8080", 2.5)


def test_the_client_takes_settings_by_name_through_the_same_validation(counted_checks):
    client = ImdsClient(endpoint="http://127.0.0.1:8080", retries=0, environ={})
    assert counted_checks["check_endpoint"] == 1
    assert client.retries == 0
    with pytest.raises(ImdsConfigError, match="from 0 to 20"):
        ImdsClient(retries=21, environ={})


def test_the_client_takes_settings_or_names_not_both():
    with pytest.raises(TypeError, match="not both"):
        ImdsClient(settings=ImdsSettings(), timeout=2)


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
