"""Request counters, in process and through the /_emulator/ control endpoints."""
import json

from imds_emulator import RequestRecord, builtin_instance

TTL = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}


def test_every_request_is_recorded(emu, http):
    token = http.token()
    http.get("/latest/meta-data/instance-id", token)
    http.get("/latest/meta-data/instance-id")
    http.request("PUT", "/latest/api/token", dict(TTL, **{"X-Forwarded-For": "1.2.3.4"}))
    assert emu.requests == [
        RequestRecord("PUT", "/latest/api/token", 200, False, False),
        RequestRecord("GET", "/latest/meta-data/instance-id", 200, True, False),
        RequestRecord("GET", "/latest/meta-data/instance-id", 401, False, False),
        RequestRecord("PUT", "/latest/api/token", 403, False, True),
    ]


def test_count_filters_by_method_and_path_prefix(emu, http):
    token = http.token()
    for item in ("instance-id", "placement/region", "placement/availability-zone"):
        http.get("/latest/meta-data/" + item, token)
    http.get("/latest/dynamic/instance-identity/document", token)
    assert emu.count() == 5
    assert emu.count("PUT") == 1
    assert emu.count("GET", "/latest/meta-data/") == 3
    assert emu.count(path_prefix="/latest/meta-data/placement/") == 2
    emu.reset_counters()
    assert emu.count() == 0 and emu.requests == []


def test_control_endpoints_report_and_reset_without_being_counted(emu, http):
    http.token()
    reply = http.get("/_emulator/requests")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    report = json.loads(reply.body)
    assert report["count"] == 1
    assert report["requests"] == [
        {"method": "PUT", "path": "/latest/api/token", "status": 200, "had_token": False, "had_xff": False}]
    assert http.request("POST", "/_emulator/reset").status == 200
    assert json.loads(http.get("/_emulator/requests").body) == {"count": 0, "requests": []}
    assert emu.count() == 0


def test_control_config_changes_knobs_at_runtime(emu, http):
    assert http.get("/latest/meta-data/instance-id").status == 401
    reply = http.request("POST", "/_emulator/config", {"Content-Type": "application/json"},
                         body=json.dumps({"http_tokens": "optional", "throttle": 1}))
    assert reply.status == 200
    assert json.loads(reply.body)["http_tokens"] == "optional"
    assert http.get("/latest/meta-data/instance-id").status == 429
    assert http.get("/latest/meta-data/instance-id").status == 200
    assert json.loads(http.get("/_emulator/config").body)["throttle"] == 0


def test_control_config_refuses_bad_knobs(http):
    reply = http.request("POST", "/_emulator/config", body=json.dumps({"http_tokens": "sometimes"}))
    assert reply.status == 400
    assert "http_tokens must be one of" in json.loads(reply.body)["error"]
    assert http.request("POST", "/_emulator/config", body="[1]").status == 400
    assert http.request("POST", "/_emulator/config", body="{oops").status == 400


def test_control_data_replaces_the_instance_keeping_tokens(emu, http):
    token = http.token()
    data = builtin_instance()
    data["meta-data"]["instance-id"] = "i-0fedcba9876543210"
    del data["meta-data"]["tags"]
    reply = http.request("POST", "/_emulator/data", body=json.dumps(data))
    assert reply.status == 200
    assert json.loads(reply.body) == {"instance_id": "i-0fedcba9876543210"}
    assert http.get("/latest/meta-data/instance-id", token=token).body == b"i-0fedcba9876543210"
    assert http.get("/latest/meta-data/tags/instance/Name", token=token).status == 404


def test_control_data_refuses_bad_data_and_keeps_serving(emu, http):
    served = emu.instance["meta-data"]["instance-id"]
    for body in ("[1]", "{oops", json.dumps({"meta-data": {}, "extra": 1})):
        reply = http.request("POST", "/_emulator/data", body=body)
        assert reply.status == 400, body
        assert "error" in json.loads(reply.body)
    assert http.get_v2("/latest/meta-data/instance-id").body == served.encode()


def test_control_endpoints_ignore_faults_and_a_disabled_endpoint(emu, http):
    emu.configure(http_endpoint="disabled", throttle=5)
    assert http.get("/_emulator/requests").status == 200
    assert http.get("/_emulator/nothing-here").status == 404
    assert http.get("/_emulator/reset").status == 405
    assert emu.knobs["throttle"] == 5
