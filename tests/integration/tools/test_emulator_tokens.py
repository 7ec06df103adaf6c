"""IMDSv2 token rules: the PUT, its validation, and tokens on GETs."""
import re
import time

import pytest

TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN = "X-aws-ec2-metadata-token"


def put_token(http, headers, path="/latest/api/token"):
    return http.request("PUT", path, headers)


def test_token_put_returns_an_opaque_token_and_echoes_the_ttl(http):
    reply = put_token(http, {TTL: "300"})
    assert reply.status == 200
    token = reply.body.decode("ascii")
    assert re.match(r"^[A-Za-z0-9_-]{54}==$", token)
    assert reply.headers[TTL.lower()] == "300"
    assert reply.headers["server"] == "EC2ws"
    assert put_token(http, {TTL: "300"}).body.decode() != token


@pytest.mark.parametrize("ttl", ["1", "21600"])
def test_ttl_bounds_are_accepted(http, ttl):
    assert put_token(http, {TTL: ttl}).status == 200


@pytest.mark.parametrize("ttl", [None, "", "0", "21601", "-1", "1.5", "abc", "60s"])
def test_missing_or_invalid_ttl_is_a_bad_request(http, ttl):
    headers = {} if ttl is None else {TTL: ttl}
    reply = put_token(http, headers)
    assert reply.status == 400
    assert b"400 - Bad Request" in reply.body


def test_forwarded_requests_cannot_get_a_token(http):
    reply = put_token(http, {TTL: "60", "X-Forwarded-For": "10.0.0.9"})
    assert reply.status == 403


def test_token_put_on_a_versioned_path_is_forbidden(http):
    assert put_token(http, {TTL: "60"}, path="/2021-03-23/api/token").status == 403


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_other_methods_on_the_token_path_are_405_with_allow(http, method):
    reply = http.request(method, "/latest/api/token", {TTL: "60"})
    assert reply.status == 405
    assert reply.body == b""
    assert reply.headers["allow"] == "OPTIONS, PUT"
    assert reply.headers["content-type"] == "text/plain"


def test_header_names_are_case_insensitive(http):
    reply = put_token(http, {TTL.lower(): "60"})
    assert reply.status == 200
    token = reply.body.decode()
    assert http.get("/latest/meta-data/instance-id", headers={TOKEN.upper(): token}).status == 200


def test_required_tokens_refuse_v1_and_bad_tokens(http):
    assert http.get("/latest/meta-data/instance-id").status == 401
    assert http.get("/latest/meta-data/").status == 401
    assert http.get("/latest/meta-data/instance-id", token="not-a-token").status == 401
    assert http.get("/latest/meta-data/instance-id", token="").status == 401
    reply = http.get("/latest/meta-data/instance-id", token=http.token(ttl=60))
    assert reply.status == 200
    assert 0 < int(reply.headers[TTL.lower()]) <= 60


def test_optional_tokens_allow_v1_but_still_check_a_token_that_is_sent(make_emulator, http_for):
    http = http_for(make_emulator(http_tokens="optional"))
    assert http.get("/latest/meta-data/instance-id").body == b"i-0123456789abcdef0"
    assert http.get("/latest/meta-data/instance-id", token="forged").status == 401
    assert http.get("/latest/meta-data/instance-id", token=http.token()).status == 200


def wait_for_401(http, token, timeout=120):
    """Seconds until TOKEN is refused, polled with a generous deadline."""
    started = time.monotonic()
    while http.get("/latest/meta-data/instance-id", token=token).status != 401:
        assert time.monotonic() - started < timeout
        time.sleep(0.1)
    return time.monotonic() - started


def test_tokens_expire_after_their_ttl(http):
    minted = time.monotonic()
    token = http.token(ttl=3)
    assert http.get("/latest/meta-data/instance-id", token=token).status == 200
    # Never refused before its TTL (a lower bound holds however slow the machine is).
    wait_for_401(http, token)
    assert time.monotonic() - minted >= 3


def test_tokens_belong_to_the_emulator_that_minted_them(make_emulator, http_for):
    first, second = http_for(make_emulator()), http_for(make_emulator())
    token = first.token()
    assert second.get("/latest/meta-data/instance-id", token=token).status == 401
    assert first.get("/latest/meta-data/instance-id", token=token).status == 200


def test_token_uses_cap_expires_a_token_after_that_many_requests(make_emulator, http_for):
    http = http_for(make_emulator(token_uses_cap=3))
    token = http.token()
    assert [http.get("/latest/meta-data/instance-id", token=token).status for _attempt in range(4)] == [200, 200, 200, 401]
    fresh = http.token()
    assert http.get("/latest/meta-data/instance-id", token=fresh).status == 200


def test_token_ttl_cap_expires_tokens_early(make_emulator, http_for):
    http = http_for(make_emulator(token_ttl_cap=3))
    minted = time.monotonic()
    reply = put_token(http, {TTL: "21600"})
    assert reply.headers[TTL.lower()] == "21600"  # the client is not told
    token = reply.body.decode()
    assert http.get("/latest/meta-data/instance-id", token=token).status == 200
    wait_for_401(http, token)
    assert time.monotonic() - minted >= 3
    assert http.get("/latest/meta-data/instance-id", token=http.token()).status == 200
