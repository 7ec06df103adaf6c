"""metadata_facts against a misbehaving or absent metadata service.

Each test runs the module in-process against the emulator on 127.0.0.1 with
one fault switched on, and checks what a user sees: facts after a recovered
fault, or a prompt failure whose message says what is wrong.
"""
import json
import socket
import threading

import pytest

# The fixtures are shared with test_metadata_facts.py; pytest finds them by name.
from test_metadata_facts import run_module  # noqa: F401 pylint: disable=unused-import

# Generous bounds for "fails fast rather than hanging": the defaults are a
# 1 s timeout per attempt and a 20 s overall deadline; 12 s leaves room for
# a loaded machine and still tells the two apart.
FAST = 12.0


def test_hop_limit_fails_fast_naming_the_setting(make_emulator, run_module):  # noqa: F811
    emu = make_emulator(http_put_response_hop_limit=1, client_hops=2)
    run = run_module({'endpoint': emu.url})
    assert run.result['failed'] is True
    assert 'HttpPutResponseHopLimit' in run.result['msg']
    assert run.seconds < FAST
    assert emu.count('PUT') == 1
    assert emu.count('GET') == 0


def test_token_expiring_mid_read_is_renewed_and_the_read_completes(make_emulator, run_module):  # noqa: F811
    # Expiry by use count, not a 0.15 s lifetime, which a busy machine can let
    # run out twice for one request. A retry fails only if the other three
    # workers use the renewed token 20 times while it waits.
    emu = make_emulator(token_uses_cap=20, latency=0.05)
    run = run_module({'endpoint': emu.url, 'max_concurrency': 4})
    assert 'failed' not in run.result, run.result.get('msg')
    assert emu.count('PUT') >= 2
    assert any(record.status == 401 for record in emu.requests)
    facts = run.facts
    assert facts['subnet_id'] == 'subnet-0aa11bb22cc33dd44'
    assert len(facts['network']['interfaces']) == 2
    assert facts['tags']['Name'] == 'web-1'


def test_early_boot_refusals_are_retried_within_the_deadline(make_emulator, run_module):  # noqa: F811
    emu = make_emulator(boot_refusals=0.6)
    run = run_module({'endpoint': emu.url, 'gather_subset': ['min'], 'retries': 10, 'total_timeout': 10})
    assert 'failed' not in run.result, run.result.get('msg')
    assert run.facts['instance_id'] == 'i-0123456789abcdef0'


@pytest.mark.parametrize('fault', ['throttle', 'unavailable'])
def test_bursts_of_429_and_503_are_retried(make_emulator, run_module, fault):  # noqa: F811
    emu = make_emulator(**{fault: 3})
    run = run_module({'endpoint': emu.url, 'gather_subset': ['network'], 'retries': 5})
    assert 'failed' not in run.result, run.result.get('msg')
    assert run.facts['subnet_id'] == 'subnet-0aa11bb22cc33dd44'
    assert sum(1 for record in emu.requests if record.status in (429, 503)) == 3


def test_persistent_throttling_fails_within_the_deadline_saying_so(make_emulator, run_module):  # noqa: F811
    emu = make_emulator(throttle=1000)
    run = run_module({'endpoint': emu.url, 'gather_subset': ['min'], 'retries': 2})
    assert run.result['failed'] is True
    assert '429' in run.result['msg'] and 'throttled' in run.result['msg']
    assert run.seconds < FAST


def test_imdsv1_only_service_is_refused_by_default(make_emulator, run_module):  # noqa: F811
    emu = make_emulator(no_imdsv2=True, http_tokens='optional')
    run = run_module({'endpoint': emu.url, 'gather_subset': ['min']})
    assert run.result['failed'] is True
    assert 'allow_imdsv1' in run.result['msg']
    assert emu.count('GET') == 0


def test_imdsv1_fallback_when_allowed_warns(make_emulator, run_module):  # noqa: F811
    emu = make_emulator(no_imdsv2=True, http_tokens='optional')
    run = run_module({'endpoint': emu.url, 'gather_subset': ['min'], 'allow_imdsv1': True})
    assert 'failed' not in run.result, run.result.get('msg')
    assert run.facts['instance_id'] == 'i-0123456789abcdef0'
    # ansible-core 2.19 returns warnings as structured records; their text is enough here.
    warnings = json.dumps(run.result.get('warnings', []))
    assert 'IMDSv1' in warnings and 'allow_imdsv1' in warnings
    assert all(not record.had_token for record in emu.requests if record.method == 'GET')


def test_disabled_metadata_service_says_so(make_emulator, run_module):  # noqa: F811
    emu = make_emulator(http_endpoint='disabled')
    run = run_module({'endpoint': emu.url})
    assert run.result['failed'] is True
    assert 'disabled' in run.result['msg'] and 'HttpEndpoint' in run.result['msg']
    assert run.seconds < FAST


def test_disabled_by_environment_sends_nothing(make_emulator, run_module, monkeypatch):  # noqa: F811
    emu = make_emulator()
    monkeypatch.setenv('AWS_EC2_METADATA_DISABLED', 'True')
    run = run_module({'endpoint': emu.url})
    assert run.result['failed'] is True
    assert 'AWS_EC2_METADATA_DISABLED' in run.result['msg']
    assert emu.requests == []


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_nothing_listening_fails_fast(run_module):  # noqa: F811
    run = run_module({'endpoint': 'http://127.0.0.1:%d' % free_port()})
    assert run.result['failed'] is True
    assert 'could not be reached' in run.result['msg'] or 'No instance metadata service' in run.result['msg']
    assert run.seconds < FAST


class RecordingProxy(object):
    """A TCP listener that records every connection and answers 502."""

    def __init__(self):
        self.hits = 0
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.url = 'http://127.0.0.1:%d' % self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except socket.timeout:
                continue
            self.hits += 1
            with conn:
                conn.sendall(b'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def proxy():
    recording = RecordingProxy()
    yield recording
    recording.close()


def test_proxy_settings_are_ignored(make_emulator, run_module, monkeypatch, proxy):  # noqa: F811
    emu = make_emulator()
    for name in ('http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.delenv('no_proxy', raising=False)
    monkeypatch.delenv('NO_PROXY', raising=False)
    run = run_module({'endpoint': emu.url, 'gather_subset': ['min', 'tags']})
    assert 'failed' not in run.result, run.result.get('msg')
    assert run.facts['tags']['Name'] == 'web-1'
    assert proxy.hits == 0
    assert emu.count() > 0
    assert not any(record.had_xff for record in emu.requests)
