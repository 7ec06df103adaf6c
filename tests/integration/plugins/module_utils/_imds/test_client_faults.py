"""Faults the client must survive or report: throttling, 5xx, early boot,
unreachable endpoints, slow answers, proxies in the environment."""
import random
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import (
    ImdsThrottledError,
    ImdsUnreachableError,
)

INSTANCE_ID = "i-0123456789abcdef0"


def calls(emulator):
    return [(r.method, r.status) for r in emulator.requests]


def test_throttled_token_request_recovers_within_retries(make_emulator, make_client):
    emulator = make_emulator(throttle=3)
    client = make_client(emulator, retries=3)
    assert client.get_text("meta-data/instance-id") == INSTANCE_ID
    assert calls(emulator) == [("PUT", 429)] * 3 + [("PUT", 200), ("GET", 200)]
    assert client.request_count == 5


def test_throttled_reads_recover_within_retries(emulator, make_client):
    client = make_client(emulator, retries=3)
    client.get("meta-data/instance-id")
    emulator.configure(throttle=2)
    assert client.get_text("meta-data/ami-id") == "ami-0abcdef1234567890"
    assert calls(emulator)[2:] == [("GET", 429), ("GET", 429), ("GET", 200)]


def test_persistent_throttling_is_reported_after_the_retries(make_emulator, make_client):
    emulator = make_emulator(throttle=1000)
    client = make_client(emulator, retries=2)
    with pytest.raises(ImdsThrottledError) as caught:
        client.get("meta-data/instance-id")
    message = caught.value.message
    assert "429" in message and "3 attempt(s)" in message and "max_concurrency" in message
    assert calls(emulator) == [("PUT", 429)] * 3


def test_unavailable_burst_recovers(make_emulator, make_client):
    emulator = make_emulator(unavailable=2, fault_path="token")
    client = make_client(emulator, retries=3)
    assert client.get_text("meta-data/instance-id") == INSTANCE_ID
    assert calls(emulator) == [("PUT", 503), ("PUT", 503), ("PUT", 200), ("GET", 200)]


def test_persistent_503_is_reported(make_emulator, make_client):
    emulator = make_emulator(unavailable=1000)
    client = make_client(emulator, retries=1)
    with pytest.raises(ImdsThrottledError, match="503"):
        client.get("meta-data/instance-id")
    assert emulator.count() == 2


def test_retries_stop_at_the_total_timeout(make_emulator, make_client):
    emulator = make_emulator(throttle=100000)
    client = make_client(emulator, retries=20, total_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(ImdsThrottledError):
        client.get("meta-data/instance-id")
    # The 1 s deadline holds; the bound only leaves room for a loaded machine.
    assert time.monotonic() - started < 8
    # Backoff spaces the attempts out: 20 retries would need far more time.
    assert emulator.count() < 21


def test_early_boot_refusals_are_retried(make_emulator, make_client):
    emulator = make_emulator(boot_refusals=0.3)
    client = make_client(emulator, retries=10, total_timeout=10)
    assert client.get_text("meta-data/instance-id") == INSTANCE_ID
    assert calls(emulator) == [("PUT", 200), ("GET", 200)]


def test_refused_connections_are_reported_after_the_retries(make_client, closed_port):
    client = make_client("http://127.0.0.1:%d" % closed_port, retries=2)
    with pytest.raises(ImdsUnreachableError) as caught:
        client.get("meta-data/instance-id")
    message = caught.value.message
    assert "connection refused" in message and "3 attempt(s)" in message
    assert "http://127.0.0.1:%d" % closed_port in message
    assert client.request_count == 0


def test_a_silent_endpoint_fails_fast_without_retries(make_client, unanswered_port):
    # Retrying would take at least 4 x 3 s; one attempt takes 3 s. The gap
    # between the two leaves room for a loaded machine.
    client = make_client("http://127.0.0.1:%d" % unanswered_port, timeout=3, retries=3, total_timeout=60)
    started = time.monotonic()
    with pytest.raises(ImdsUnreachableError) as caught:
        client.read_tree("meta-data/")
    assert time.monotonic() - started < 9
    message = caught.value.message
    assert "within 3" in message
    assert "does not look like an EC2 instance" in message
    assert "AWS_EC2_METADATA_DISABLED=true" in message


def test_parallel_reads_off_ec2_fail_once_not_once_per_thread(make_client, unanswered_port):
    client = make_client("http://127.0.0.1:%d" % unanswered_port, timeout=3, max_concurrency=8, total_timeout=60)
    paths = ["meta-data/%s" % name for name in ("ami-id", "hostname", "instance-id", "instance-type", "mac")]
    started = time.monotonic()
    with pytest.raises(ImdsUnreachableError):
        client.get_many(paths)
    # Threads waiting for the token share its failure: about 3 s, not 5 x 3 s.
    assert time.monotonic() - started < 9


def test_a_transient_token_failure_is_retried_by_the_next_call(make_emulator, make_client):
    emulator = make_emulator(throttle=1000)
    client = make_client(emulator, retries=0)
    with pytest.raises(ImdsThrottledError):
        client.get("meta-data/instance-id")
    emulator.configure(throttle=0)
    assert client.get_text("meta-data/instance-id") == INSTANCE_ID
    assert calls(emulator) == [("PUT", 429), ("PUT", 200), ("GET", 200)]


def test_slow_reads_are_retried_and_recover(emulator, make_client):
    client = make_client(emulator, timeout=0.5, retries=10, total_timeout=120)
    client.get("meta-data/instance-id")
    emulator.configure(latency=5)
    # Recover once two slow attempts were sent (counted, not timed: the
    # emulator logs a request when it answers, so count what was sent).
    stop = threading.Event()

    def recover():
        while not stop.is_set() and client.request_count < 4:
            time.sleep(0.05)
        emulator.configure(latency=0.0)

    helper = threading.Thread(target=recover, daemon=True)
    helper.start()
    try:
        assert client.get_text("meta-data/ami-id") == "ami-0abcdef1234567890"
    finally:
        stop.set()
        helper.join(10)
    assert client.request_count >= 4


def test_persistently_slow_reads_are_reported(emulator, make_client):
    client = make_client(emulator, timeout=0.2, retries=1)
    client.get("meta-data/instance-id")
    emulator.configure(latency=0.5)
    with pytest.raises(ImdsUnreachableError, match="read timed out"):
        client.get("meta-data/ami-id")


def test_hang_ups_without_an_answer_are_retried(make_fake_imds, make_client):
    hang_ups = [2]

    def script(method, path, headers):
        if hang_ups[0]:
            hang_ups[0] -= 1
            return None
        if method == "PUT":
            return 200, {}, b"AQAAAFAKE=="
        return 200, {}, b"value"

    server = make_fake_imds(script)
    client = make_client(server, retries=3)
    assert client.get("meta-data/instance-id") == b"value"
    assert [method for method, _p, _h in server.seen] == ["PUT", "PUT", "PUT", "GET"]


class _RecordingProxy(object):
    """A listener that counts connections, as a forward proxy would see them."""

    def __init__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.05)
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.hits = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                connection, _address = self.listener.accept()
            except socket.timeout:
                continue
            self.hits += 1
            connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            connection.close()

    def stop(self):
        self.stopped.set()
        self.thread.join(2)
        self.listener.close()


@pytest.fixture
def proxy_everything(monkeypatch):
    proxy = _RecordingProxy()
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    yield proxy
    proxy.stop()


def test_proxy_settings_are_never_used(emulator, make_client, proxy_everything):
    # The fake proxy does catch a client that honours the environment ...
    # (its 502, not a timeout: a loaded machine may be slow to run the proxy's thread).
    with pytest.raises(urllib.error.HTTPError) as caught:
        # A fresh opener reads the proxy variables now; urlopen() reuses one
        # built by whichever test called it first.
        urllib.request.build_opener().open(emulator.url + "/latest/meta-data/", timeout=60)
    assert caught.value.code == 502
    assert proxy_everything.hits == 1
    # ... and sees nothing from ours.
    client = make_client(emulator)
    assert client.read_tree("meta-data/placement/")["region"] == "eu-west-1"
    assert proxy_everything.hits == 1
    assert not any(r.had_xff for r in emulator.requests)


def test_429_backoff_always_spans_a_two_second_burst_with_the_default_retries(emulator, make_client, monkeypatch):
    """Equal jitter: whatever the random half, 3 retries wait at least 0.5 + 1 + 2 s, and never more than the cap."""
    from ansible_collections.cloudmeta.imds.plugins.module_utils._imds import client as _client

    client = make_client(emulator)
    throttled = _client.Retry("HTTP 429", 429)
    for bound in (lambda low, high: low, lambda low, high: high):
        monkeypatch.setattr(random, "uniform", bound)
        delays = [client._backoff(throttled, attempt) for attempt in (1, 2, 3)]
        assert sum(delays) >= 3.5
        assert all(delay <= _client.THROTTLE_BACKOFF_CAP for delay in delays)
    assert client._backoff(throttled, 30) <= _client.THROTTLE_BACKOFF_CAP


def test_a_time_based_429_burst_is_outlived_with_default_settings(make_fake_imds, make_client):
    first = []

    def script(method, path, headers):
        now = time.monotonic()
        first.append(now)
        if now - first[0] < 2.0:
            return 429, {}, b""
        if method == "PUT":
            return 200, {}, b"AQAAAFAKE=="
        return 200, {}, INSTANCE_ID.encode()

    server = make_fake_imds(script)
    assert make_client(server).get_text("meta-data/instance-id") == INSTANCE_ID


def test_a_trickling_answer_is_stopped_at_the_deadline_with_a_typed_error(make_fake_imds, make_client):
    import socket as socket_module

    from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import ImdsDeadlineError

    listener = socket_module.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def trickle():
        connection, _address = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.2):
                try:
                    connection.sendall(b"X")
                except OSError:
                    return

    worker = threading.Thread(target=trickle, daemon=True)
    worker.start()
    client = make_client("http://127.0.0.1:%d" % listener.getsockname()[1], timeout=1, total_timeout=1.5, retries=0)
    try:
        with pytest.raises(ImdsDeadlineError, match=r"total_timeout \(1.5 s\)"):
            client.get("meta-data/instance-id")
    finally:
        stop.set()
        listener.close()


def test_a_request_is_not_sent_into_a_throttling_wait_that_outlasts_the_deadline(
        make_fake_imds, make_client, monkeypatch):
    from ansible_collections.cloudmeta.imds.plugins.module_utils._imds import client as _client

    # The random half of the jitter at its top: the first 429 asks for a full 1 s wait.
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    server = make_fake_imds(lambda method, path, headers: (429, {}, b""))
    client = make_client(server, total_timeout=0.5)
    with pytest.raises(ImdsThrottledError, match="429"):
        client.get("meta-data/instance-id")
    # That wait does not fit in the next call's 0.5 s either: it sends nothing.
    sent = len(server.seen)
    with pytest.raises(ImdsThrottledError, match=r"longer than was left of total_timeout \(0.5 s\)"):
        client.get("meta-data/instance-id")
    assert len(server.seen) == sent == 1
