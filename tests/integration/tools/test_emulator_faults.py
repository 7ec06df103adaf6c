"""Faults a client must survive: throttling, outages, latency, boot, notices."""
import datetime
import json
import socket
import time

TTL = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}


def statuses(emulator):
    return [record.status for record in emulator.requests]


def test_throttle_answers_the_next_requests_with_429(make_emulator, http_for):
    emulator = make_emulator(throttle=2, http_tokens="optional")
    http = http_for(emulator)
    first = http.get("/latest/meta-data/instance-id")
    assert first.status == 429 and b"429 - Too Many Requests" in first.body
    assert http.request("PUT", "/latest/api/token", TTL).status == 429
    assert http.get("/latest/meta-data/instance-id").status == 200
    assert statuses(emulator) == [429, 429, 200]


def test_unavailable_can_hit_only_the_token_path(make_emulator, http_for):
    emulator = make_emulator(unavailable=1, fault_path="token", http_tokens="optional")
    http = http_for(emulator)
    assert http.get("/latest/meta-data/instance-id").status == 200
    assert http.request("PUT", "/latest/api/token", TTL).status == 503
    assert http.request("PUT", "/latest/api/token", TTL).status == 200


def test_faults_can_be_injected_at_runtime(emu, http):
    token = http.token()
    emu.configure(unavailable=1)
    assert http.get("/latest/meta-data/instance-id", token).status == 503
    assert http.get("/latest/meta-data/instance-id", token).status == 200
    assert emu.knobs["unavailable"] == 0


def test_latency_delays_each_answer(make_emulator, http_for):
    http = http_for(make_emulator(latency=0.3, http_tokens="optional"))
    started = time.monotonic()
    assert http.get("/latest/meta-data/instance-id").status == 200
    assert time.monotonic() - started >= 0.3


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return True
    except OSError:
        return False


def eventually(predicate, timeout=120):
    """Poll PREDICATE until true; a generous deadline, so a loaded machine only makes it slower."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_boot_refusals_refuse_connections_then_serve(make_emulator, http_for):
    # Refusing for 8 s leaves the test ample time to see a refusal first.
    emulator = make_emulator(boot_refusals=8, http_tokens="optional")
    port = int(emulator.url.rsplit(":", 1)[1])  # known at once, before it listens
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    assert refused
    eventually(lambda: port_open(port))
    assert http_for(emulator).get("/latest/meta-data/instance-id").status == 200


def test_spot_notice_appears_after_the_delay(make_emulator, http_for):
    emulator = make_emulator(spot_action_after=5, spot_action="stop")
    http = http_for(emulator)
    assert http.get_v2("/latest/meta-data/spot/instance-action").status == 404
    assert "spot/" not in http.get_v2("/latest/meta-data/").body.decode().split("\n")
    eventually(lambda: http.get_v2("/latest/meta-data/spot/instance-action").status == 200)
    raw = http.get_v2("/latest/meta-data/spot/instance-action").body.decode()
    assert "\n" not in raw  # documented as one line
    notice = json.loads(raw)
    assert notice["action"] == "stop"
    when = datetime.datetime.strptime(notice["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    assert when > datetime.datetime.now(datetime.timezone.utc)
    assert http.get_v2("/latest/meta-data/spot/termination-time").body.decode() == notice["time"]
    assert set(http.get_v2("/latest/meta-data/spot/").body.decode().split("\n")) == {
        "instance-action", "termination-time"}


def test_rebalance_recommendation_appears_after_the_delay(emu, http):
    emu.configure(rebalance_after=5)
    assert http.get_v2("/latest/meta-data/events/recommendations/rebalance").status == 404
    eventually(lambda: http.get_v2("/latest/meta-data/events/recommendations/rebalance").status == 200)
    assert set(http.get_v2("/latest/meta-data/events/").body.decode().split("\n")) == {
        "maintenance/", "recommendations/"}
    notice = json.loads(http.get_v2("/latest/meta-data/events/recommendations/rebalance").body)
    assert list(notice) == ["noticeTime"]
    assert http.get_v2("/latest/meta-data/events/maintenance/scheduled").body == b"[]"


def test_changing_the_spot_action_updates_a_notice_already_shown(make_emulator, http_for):
    emulator = make_emulator(spot_action_after=0)
    http = http_for(emulator)
    assert json.loads(http.get_v2("/latest/meta-data/spot/instance-action").body)["action"] == "terminate"
    emulator.configure(spot_action="hibernate")
    assert json.loads(http.get_v2("/latest/meta-data/spot/instance-action").body)["action"] == "hibernate"
