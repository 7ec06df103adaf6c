"""IMDSv2 tokens: reuse, renewal, v1 refusal and fallback, disabled IMDS, hop limit."""
import time

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import (
    ImdsDisabledError,
    ImdsHopLimitError,
    ImdsResponseError,
    ImdsTokenError,
)

INSTANCE_ID = "i-0123456789abcdef0"


def statuses(emulator, method=None):
    return [r.status for r in emulator.requests if method is None or r.method == method]


def test_one_token_serves_every_request_of_a_client(emulator, make_client):
    client = make_client(emulator)
    for _read in range(3):
        assert client.get_text("meta-data/instance-id") == INSTANCE_ID
    assert "placement/" in client.list_dir("meta-data/")
    client.get_many(["meta-data/ami-id", "meta-data/instance-type", "meta-data/hostname"])
    client.read_tree("meta-data/placement/")

    assert emulator.count("PUT") == 1
    gets = [r for r in emulator.requests if r.method == "GET"]
    assert gets and all(r.had_token and r.status == 200 for r in gets)
    assert client.request_count == len(emulator.requests)
    assert client.imds_version == "v2"


def test_one_token_for_a_whole_tree(emulator, make_client):
    client = make_client(emulator, max_concurrency=8)
    client.read_tree("meta-data/")
    assert emulator.count("PUT") == 1
    assert emulator.requests[0].method == "PUT"


def test_the_requested_ttl_is_sent(emulator, make_client):
    # The emulator answers 400 to a missing or out-of-range TTL header.
    client = make_client(emulator, token_ttl=1)
    assert client.get_text("meta-data/instance-id") == INSTANCE_ID
    assert statuses(emulator) == [200, 200]


def test_expired_token_is_renewed_on_401(make_emulator, make_client):
    # A 3 s cap leaves the first read ample time; sleeping past it is a lower bound.
    emulator = make_emulator(token_ttl_cap=3)
    client = make_client(emulator)
    assert client.get_text("meta-data/instance-id") == INSTANCE_ID
    time.sleep(3.2)
    assert client.get_text("meta-data/instance-id") == INSTANCE_ID
    assert [(r.method, r.status) for r in emulator.requests] == [
        ("PUT", 200), ("GET", 200), ("GET", 401), ("PUT", 200), ("GET", 200),
    ]


def test_token_expiring_in_the_middle_of_a_tree_read(make_emulator, make_client):
    reference = make_client(make_emulator()).read_tree("meta-data/network/")
    # Expiry by use count, not by time: a 0.1 s lifetime expired twice in a
    # row on a busy machine, before a renewed token could be used once. A
    # retry fails only if the other worker uses the renewed token 10 times
    # while it waits.
    emulator = make_emulator(token_uses_cap=10, latency=0.05)
    client = make_client(emulator, max_concurrency=2)

    assert client.read_tree("meta-data/network/") == reference
    renewals = emulator.count("PUT") - 1
    unauthorized = statuses(emulator).count(401)
    assert renewals >= 1
    # Threads that hit the same expired token share one renewal.
    assert renewals <= unauthorized
    assert emulator.count("PUT") == len([r for r in emulator.requests if r.method == "PUT" and r.status == 200])


def test_token_is_renewed_before_it_expires(emulator, make_client):
    # A 4 s token is renewed after 3 s: one second of margin for a request in
    # flight. Read until at least two renewals were due and 20 reads were
    # made, however long that takes.
    client = make_client(emulator, token_ttl=4)
    started = time.monotonic()
    reads = 0
    while time.monotonic() - started < 6.5 or reads < 20:
        assert client.get_text("meta-data/instance-id") == INSTANCE_ID
        reads += 1
        time.sleep(0.2)
    assert 401 not in statuses(emulator)
    # The token is reused, and renewed a few times.
    assert 3 <= emulator.count("PUT") < reads


def test_renewal_leaves_a_safety_margin(emulator, make_client):
    # A 4 s token is renewed after 3 s, while it is still valid, so a
    # request in flight never carries a token that expires on the way.
    client = make_client(emulator, token_ttl=4)
    client.get("meta-data/instance-id")
    time.sleep(3.2)
    client.get("meta-data/instance-id")
    assert [(r.method, r.status) for r in emulator.requests] == [
        ("PUT", 200), ("GET", 200), ("PUT", 200), ("GET", 200),
    ]


def test_token_rejected_twice_is_an_error_not_a_loop(make_fake_imds, make_client):
    server = make_fake_imds(_fake_token_service(200, get_status=401))
    client = make_client(server)
    with pytest.raises(ImdsTokenError, match="401 twice"):
        client.get("meta-data/instance-id")
    assert [method for method, _path, _headers in server.seen] == ["PUT", "GET", "PUT", "GET"]


def test_v1_only_service_is_refused_by_default(make_emulator, make_client):
    emulator = make_emulator(no_imdsv2=True, http_tokens="optional")
    warnings = []
    client = make_client(emulator, warn=warnings.append)
    with pytest.raises(ImdsTokenError) as caught:
        client.get("meta-data/instance-id")
    message = caught.value.message
    assert "404" in message and "allow_imdsv1" in message and "--http-tokens required" in message
    assert [r.method for r in emulator.requests] == ["PUT"]
    assert warnings == []
    # The refusal is remembered: no second PUT for the next call.
    with pytest.raises(ImdsTokenError):
        client.get("meta-data/ami-id")
    assert emulator.count() == 1


def test_v1_fallback_when_allowed_warns_once(make_emulator, make_client):
    emulator = make_emulator(no_imdsv2=True, http_tokens="optional")
    warnings = []
    client = make_client(emulator, allow_imdsv1=True, warn=warnings.append)
    assert client.get_text("meta-data/instance-id") == INSTANCE_ID
    tree = client.read_tree("meta-data/placement/")
    assert tree["region"] == "eu-west-1"

    assert emulator.count("PUT") == 1
    gets = [r for r in emulator.requests if r.method == "GET"]
    assert gets and not any(r.had_token for r in gets)
    assert len(warnings) == 1
    assert "IMDSv1" in warnings[0] and "allow_imdsv1" in warnings[0]
    assert client.warnings == warnings
    assert client.imds_version == "v1"


def test_imds_disabled_on_the_instance(make_emulator, make_client):
    emulator = make_emulator(http_endpoint="disabled")
    client = make_client(emulator)
    with pytest.raises(ImdsDisabledError) as caught:
        client.get("meta-data/instance-id")
    assert "HttpEndpoint=disabled" in caught.value.message
    assert "--http-endpoint enabled" in caught.value.message
    assert emulator.url in caught.value.message
    assert emulator.count() == 1


def test_imds_disabled_is_reported_also_after_a_v1_fallback(make_emulator, make_client):
    emulator = make_emulator(http_endpoint="disabled")
    warnings = []
    client = make_client(emulator, allow_imdsv1=True, warn=warnings.append)
    with pytest.raises(ImdsDisabledError, match="HttpEndpoint=disabled"):
        client.get("meta-data/instance-id")
    assert [(r.method, r.status) for r in emulator.requests] == [("PUT", 403), ("GET", 403)]


def test_hop_limit_fails_fast_and_says_what_to_do(make_emulator, make_client):
    emulator = make_emulator(http_put_response_hop_limit=1, client_hops=2)
    client = make_client(emulator, timeout=0.5, retries=3)
    started = time.monotonic()
    with pytest.raises(ImdsHopLimitError) as caught:
        client.get("meta-data/instance-id")
    assert time.monotonic() - started < 15  # a hang guard; the request log shows no retry
    message = caught.value.message
    assert "HttpPutResponseHopLimit" in message
    assert "--http-put-response-hop-limit 2" in message
    # A dropped token answer is not retried: another PUT would be dropped too.
    assert [r.method for r in emulator.requests] == ["PUT"]


def test_hop_limit_with_v1_allowed_falls_back(make_emulator, make_client):
    emulator = make_emulator(client_hops=2, http_tokens="optional")
    warnings = []
    client = make_client(emulator, allow_imdsv1=True, timeout=3, warn=warnings.append)
    assert client.get_text("meta-data/instance-id") == INSTANCE_ID
    assert len(warnings) == 1 and "HttpPutResponseHopLimit" in warnings[0]
    assert [(r.method, r.had_token) for r in emulator.requests] == [("PUT", False), ("GET", False)]


def test_hop_limit_with_v1_allowed_but_tokens_required(make_emulator, make_client):
    emulator = make_emulator(client_hops=2, http_tokens="required")
    client = make_client(emulator, allow_imdsv1=True, timeout=3, warn=lambda message: None)
    with pytest.raises(ImdsTokenError) as caught:
        client.get("meta-data/instance-id")
    assert "requires an IMDSv2 token" in caught.value.message
    assert "HttpPutResponseHopLimit" in caught.value.message


def test_no_request_carries_x_forwarded_for(make_emulator, make_client):
    emulator = make_emulator()
    client = make_client(emulator)
    client.read_tree("meta-data/")
    client.get("user-data")
    assert emulator.count() > 10
    assert not any(r.had_xff for r in emulator.requests)


def _fake_token_service(token_status, token_body=b"AQAAAFAKE-token_value==", get_status=200):
    def script(method, path, headers):
        if method == "PUT":
            return token_status, {}, token_body
        return get_status, {}, b"value"
    return script


@pytest.mark.parametrize("status, error, text", [
    (405, ImdsTokenError, "does not offer IMDSv2"),
    (404, ImdsTokenError, "does not offer IMDSv2"),
    (400, ImdsTokenError, "Set token_ttl"),
    (401, ImdsTokenError, "never sends"),
    (403, ImdsDisabledError, "HttpEndpoint=disabled"),
])
def test_token_answers_are_typed(make_fake_imds, make_client, status, error, text):
    server = make_fake_imds(_fake_token_service(status))
    client = make_client(server)
    with pytest.raises(error, match=text):
        client.get("meta-data/instance-id")
    assert [method for method, _path, _headers in server.seen] == ["PUT"]


@pytest.mark.parametrize("status", [403, 404, 405])
def test_fallback_statuses_with_allow_imdsv1(make_fake_imds, make_client, status):
    server = make_fake_imds(_fake_token_service(status))
    client = make_client(server, allow_imdsv1=True, warn=lambda message: None)
    assert client.get("meta-data/instance-id") == b"value"
    assert "X-aws-ec2-metadata-token" not in server.seen[-1][2]


def test_token_request_headers_are_exactly_these(make_fake_imds, make_client):
    server = make_fake_imds(_fake_token_service(200))
    client = make_client(server, token_ttl=300)
    client.get("meta-data/instance-id")
    (_m, put_path, put_headers), (_m2, get_path, get_headers) = server.seen
    assert put_path == "/latest/api/token"
    assert put_headers["X-aws-ec2-metadata-token-ttl-seconds"] == "300"
    assert get_path == "/latest/meta-data/instance-id"
    assert get_headers["X-aws-ec2-metadata-token"] == "AQAAAFAKE-token_value=="
    for headers in (put_headers, get_headers):
        assert set(headers) <= {
            "Host", "User-Agent", "Connection", "Content-Length",
            "X-aws-ec2-metadata-token-ttl-seconds", "X-aws-ec2-metadata-token",
        }
        assert headers["User-Agent"] == "cloudmeta.imds"


@pytest.mark.parametrize("body", [b"token with space", b"tok\r\nX-Forwarded-For: 1.2.3.4", b""])
def test_an_unusable_token_is_never_sent(make_fake_imds, make_client, body):
    server = make_fake_imds(_fake_token_service(200, token_body=body))
    client = make_client(server)
    with pytest.raises(ImdsResponseError, match="unusable token"):
        client.get("meta-data/instance-id")
    assert len(server.seen) == 1


def test_error_messages_never_contain_the_token(make_fake_imds, make_client):
    token = b"AQAAAsecret-token-value=="
    server = make_fake_imds(_fake_token_service(200, token_body=token, get_status=418))
    client = make_client(server)
    with pytest.raises(ImdsResponseError) as caught:
        client.get("meta-data/instance-id")
    assert "418" in caught.value.message
    assert token.decode() not in caught.value.message
