"""Connection options from keywords, variables and the environment; errors; the controller warning."""
import time

import pytest

from ansible.errors import AnsibleError, AnsibleOptionsError


def test_endpoint_from_the_environment(lookup, emulator, monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", emulator.url)

    assert lookup.run(["instance-id"], variables={}) == ["i-0123456789abcdef0"]
    assert emulator.count("GET") == 1


def test_endpoint_from_a_variable(lookup, emulator):
    assert lookup.run(["instance-id"], variables={"cloudmeta_imds_endpoint": emulator.url}) == ["i-0123456789abcdef0"]


def test_a_keyword_beats_a_variable_and_a_variable_beats_the_environment(lookup, make_emulator, monkeypatch, builtin_instance):
    by_env, by_var = make_emulator(), make_emulator()
    builtin_instance["meta-data"]["instance-id"] = "i-0000000000keyword"
    by_keyword = make_emulator(builtin_instance)
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", by_env.url)
    variables = {"cloudmeta_imds_endpoint": by_var.url}

    assert lookup.run(["instance-id"], variables=variables) == ["i-0123456789abcdef0"]
    assert (by_env.count(), by_var.count()) == (0, 2)
    assert lookup.run(["instance-id"], variables=variables, endpoint=by_keyword.url) == ["i-0000000000keyword"]
    assert by_var.count() == 2


def test_allow_imdsv1_from_a_variable_and_from_the_environment(lookup, make_emulator, monkeypatch, warnings):
    emulator = make_emulator(http_tokens="optional", no_imdsv2=True)

    with pytest.raises(AnsibleError, match="does not offer IMDSv2 tokens.*allow_imdsv1"):
        lookup.run(["instance-id"], variables={}, endpoint=emulator.url)

    variables = {"cloudmeta_imds_allow_imdsv1": True}
    assert lookup.run(["instance-id"], variables=variables, endpoint=emulator.url) == ["i-0123456789abcdef0"]
    assert any("using IMDSv1" in warning for warning in warnings)

    monkeypatch.setenv("CLOUDMETA_IMDS_ALLOW_IMDSV1", "true")
    assert lookup.run(["instance-id"], variables={}, endpoint=emulator.url) == ["i-0123456789abcdef0"]


def test_numeric_options_from_the_environment_are_applied(lookup, make_emulator, monkeypatch):
    emulator = make_emulator(unavailable=5)
    monkeypatch.setenv("CLOUDMETA_IMDS_RETRIES", "0")

    with pytest.raises(AnsibleError, match=r"kept answering HTTP 503.*1 attempt"):
        lookup.run(["instance-id"], variables={}, endpoint=emulator.url)
    assert emulator.count() == 1


def test_a_bad_option_value_is_an_options_error_before_any_request(lookup, emulator):
    with pytest.raises(AnsibleOptionsError, match="token_ttl"):
        lookup.run(["instance-id"], variables={}, endpoint=emulator.url, token_ttl=0)
    with pytest.raises(AnsibleOptionsError, match="endpoint"):
        lookup.run(["instance-id"], variables={}, endpoint="ftp://127.0.0.1/")
    assert emulator.count() == 0


def test_disabled_by_the_environment_sends_nothing(lookup, emulator, monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "TRUE")

    with pytest.raises(AnsibleError, match="disabled by AWS_EC2_METADATA_DISABLED=true"):
        lookup.run(["instance-id"], variables={}, endpoint=emulator.url)
    assert emulator.count() == 0


def test_imds_disabled_on_the_instance(lookup, make_emulator):
    emulator = make_emulator(http_endpoint="disabled")

    with pytest.raises(AnsibleError, match=r"disabled on this instance \(HttpEndpoint=disabled\).*--http-endpoint enabled"):
        lookup.run(["instance-id"], variables={}, endpoint=emulator.url)
    assert emulator.count() == 1


def test_hop_limit_is_named_and_fails_within_seconds(lookup, make_emulator):
    emulator = make_emulator(http_put_response_hop_limit=1, client_hops=2)

    started = time.monotonic()
    with pytest.raises(AnsibleError, match="HttpPutResponseHopLimit.*--http-put-response-hop-limit 2"):
        lookup.run(["instance-id"], variables={}, endpoint=emulator.url, timeout=0.3)
    assert time.monotonic() - started < 10  # far below the 20 s deadline
    assert emulator.count("GET") == 0


def test_not_on_ec2_fails_fast_with_advice(lookup, unanswered_port):
    started = time.monotonic()
    with pytest.raises(AnsibleError, match="No instance metadata service answered.*not look like an EC2 instance"
                                           ".*AWS_EC2_METADATA_DISABLED=true"):
        lookup.run(["instance-id"], variables={}, endpoint="http://127.0.0.1:%d" % unanswered_port, timeout=0.3)
    assert time.monotonic() - started < 10  # far below the 20 s deadline


def test_nothing_listening_fails_after_the_retries(lookup, closed_port):
    with pytest.raises(AnsibleError, match="could not be reached after 2 attempt"):
        lookup.run(["instance-id"], variables={}, endpoint="http://127.0.0.1:%d" % closed_port, retries=1)


def test_throttling_is_retried_then_succeeds(lookup, make_emulator):
    emulator = make_emulator(throttle=2)

    assert lookup.run(["instance-id"], variables={}, endpoint=emulator.url) == ["i-0123456789abcdef0"]


REMOTE = {"inventory_hostname": "web1", "ansible_connection": "ssh", "ansible_host": "203.0.113.9"}


def test_a_task_for_another_host_warns_once_per_call(read, warnings):
    assert read("instance-id", "placement/region", "local-ipv4", variables=REMOTE)[0] == "i-0123456789abcdef0"

    assert len(warnings) == 1
    assert "'web1'" in warnings[0]
    assert "controller" in warnings[0]
    assert "cloudmeta.imds.metadata_facts" in warnings[0]


def test_the_warning_comes_before_a_failure(read, warnings):
    with pytest.raises(AnsibleError):
        read("spot/instance-action", variables=REMOTE)
    assert len(warnings) == 1


@pytest.mark.parametrize("variables", [
    {},
    {"inventory_hostname": "localhost", "ansible_connection": "local"},
    {"inventory_hostname": "web1", "ansible_connection": "local", "ansible_host": "203.0.113.9"},
    {"inventory_hostname": "web1", "ansible_connection": "ansible.builtin.local"},
    {"inventory_hostname": "web1", "ansible_connection": "ssh", "ansible_host": "127.0.0.1"},
    {"inventory_hostname": "web1", "ansible_connection": "ssh", "ansible_host": "::1"},
    {"inventory_hostname": "localhost", "ansible_connection": "ssh"},
    dict(REMOTE, ansible_delegated_vars={"localhost": {"ansible_connection": "local", "ansible_host": "localhost"}}),
])
def test_tasks_on_the_controller_do_not_warn(read, warnings, variables):
    read("instance-id", variables=variables)
    assert warnings == []


@pytest.mark.parametrize("variables, host", [
    (REMOTE, "web1"),
    ({"inventory_hostname": "web1", "ansible_connection": "ssh"}, "web1"),
    ({"inventory_hostname": "web1", "ansible_connection": "community.docker.docker"}, "web1"),
    (dict(REMOTE, ansible_connection="local",
          ansible_delegated_vars={"db1": {"ansible_connection": "ssh", "ansible_host": "203.0.113.7"}}), "db1"),
])
def test_tasks_on_other_hosts_warn_naming_the_host(read, warnings, variables, host):
    read("instance-id", variables=variables)
    assert len(warnings) == 1
    assert repr(host) in warnings[0]
