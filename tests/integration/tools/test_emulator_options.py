"""Knobs named after the real instance metadata options, and v1-only mode."""
import socket
import time

import pytest

import imds_emulator

TTL = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}


def test_disabled_endpoint_forbids_everything(make_emulator, http_for):
    http = http_for(make_emulator(http_endpoint="disabled", http_tokens="optional"))
    assert http.request("PUT", "/latest/api/token", TTL).status == 403
    reply = http.get("/latest/meta-data/instance-id")
    assert reply.status == 403
    assert b"403 - Forbidden" in reply.body


def test_tags_can_be_switched_off_and_on(make_emulator, http_for):
    emulator = make_emulator(instance_metadata_tags="disabled")
    http = http_for(emulator)
    assert http.get_v2("/latest/meta-data/tags/instance/").status == 404
    assert "tags/" not in http.get_v2("/latest/meta-data/").body.decode().split("\n")
    emulator.configure(instance_metadata_tags="enabled")
    assert http.get_v2("/latest/meta-data/tags/instance/Name").body == b"web-1"


def test_without_imdsv2_the_token_path_is_404_and_tokens_are_ignored(make_emulator, http_for):
    http = http_for(make_emulator(no_imdsv2=True))
    assert http.request("PUT", "/latest/api/token", TTL).status == 404
    assert http.get("/latest/meta-data/instance-id").status == 200
    assert http.get("/latest/meta-data/instance-id", token="whatever").status == 200


def test_hop_limit_drops_the_token_response_but_not_gets(make_emulator, http_for):
    emulator = make_emulator(client_hops=2, http_tokens="optional")
    http = http_for(emulator)
    with pytest.raises(socket.timeout):
        http.request("PUT", "/latest/api/token", TTL, timeout=0.3)
    assert http.get("/latest/meta-data/instance-id").status == 200
    record = emulator.requests[0]
    assert (record.method, record.path, record.status) == ("PUT", "/latest/api/token", None)


def test_hop_limit_high_enough_for_the_client_answers(make_emulator, http_for):
    http = http_for(make_emulator(client_hops=2, http_put_response_hop_limit=2))
    assert http.request("PUT", "/latest/api/token", TTL, timeout=30).status == 200


def test_a_held_token_request_is_released_on_stop(make_emulator):
    emulator = make_emulator(client_hops=3, http_put_response_hop_limit=2)
    port = int(emulator.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\n"
                     b"X-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n")
        time.sleep(0.2)
        emulator.stop()
        assert sock.recv(100) == b""  # closed without an answer, and well before the 5 s timeout


def test_ipv6_host_needs_the_ipv6_endpoint_enabled():
    with pytest.raises(ValueError, match="http_protocol_ipv6"):
        imds_emulator.Emulator().start(host="::1")


def test_ipv6_endpoint_serves_alongside_ipv4(make_emulator, http_for):
    emulator = make_emulator(http_protocol_ipv6="enabled")
    assert emulator.url.startswith("http://127.0.0.1:")
    assert emulator.url_ipv6 == "http://[::1]:%s" % emulator.url.rsplit(":", 1)[1]
    http6 = http_for(emulator.url_ipv6)
    assert http6.get_v2("/latest/meta-data/instance-id").body == b"i-0123456789abcdef0"


def test_ipv6_only_listener(make_emulator, http_for):
    emulator = make_emulator(host="::1", http_protocol_ipv6="enabled")
    assert emulator.url.startswith("http://[::1]:")
    assert http_for(emulator).get_v2("/latest/meta-data/placement/region").body == b"eu-west-1"


def test_ipv6_disabled_has_no_ipv6_listener(make_emulator):
    emulator = make_emulator()
    port = int(emulator.url.rsplit(":", 1)[1])
    assert emulator.url_ipv6 is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("::1", port), timeout=1).close()


@pytest.mark.parametrize("knobs, message", [
    ({"http_tokens": "maybe"}, "http_tokens must be one of optional, required"),
    ({"http_put_response_hop_limit": 0}, "between 1 and 64"),
    ({"http_put_response_hop_limit": 65}, "between 1 and 64"),
    ({"throttle": -1}, ">= 0"),
    ({"throttle": "3"}, "an integer"),
    ({"latency": True}, "a number"),
    ({"token_ttl_cap": 0}, "> 0"),
    ({"no_imdsv2": "yes"}, "true or false"),
    ({"ipv6_host": "127.0.0.1"}, "IPv6 address"),
    ({"http_tokenz": "optional"}, "unknown emulator option 'http_tokenz'"),
])
def test_bad_knob_values_are_refused_with_a_clear_message(knobs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        imds_emulator.Emulator(**knobs)


def test_start_only_knobs_cannot_change_while_running(emu):
    with pytest.raises(ValueError, match="before the emulator starts"):
        emu.configure(boot_refusals=1)
    emu.configure(http_tokens="optional", latency=0)
    assert emu.knobs["http_tokens"] == "optional"
