"""The etcd lease keepalive program the register_instance role installs, run against a real etcd 3.4.

roles/register_instance/templates/etcd-keepalive.py.j2 holds no template
expressions, so the tests run the file as the role installs it. They check
what users rely on: the keys outlive their TTL while it runs, come back when
lost, and expire once it stops; and that it encodes values exactly as the
etcd_keys module does, so the two never fight over a key. Renewal is told by
lease identity (the same lease's TTL goes back up), never by sleeping a fixed
time; every wait has a generous deadline, so a busy machine only makes the
tests slower.

The redirect and bad-answer tests use small fake gateways on 127.0.0.1
(FakeGateway): no etcd can be made to answer a redirect or a lease grant
without an ID, and the fakes record exactly which requests and headers
arrived.
"""
import ast
import http.server
import importlib.machinery
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))

from servers.etcd import Etcd  # noqa: E402
from servers.fixtures import etcd, key_prefix, run_module  # noqa: E402,F401  pylint: disable=unused-import
from servers.pki import make_pki  # noqa: E402

from ansible_collections.cloudmeta.imds.plugins.modules import etcd_keys  # noqa: E402

PROGRAM = os.path.join(REPO_ROOT, 'roles', 'register_instance', 'templates', 'etcd-keepalive.py.j2')
# Generous for anything that should happen within a few seconds on an idle machine.
PATIENCE = 120
# Renewed every TTL/3 seconds: six seconds of slack before a late renewal loses the lease.
TTL = 9


@pytest.fixture
def keepalive(tmp_path):
    """keepalive(config) -> the running program; stopped (SIGTERM) after the test."""
    procs = []

    def _start(config):
        path = tmp_path / ('keepalive-%d.json' % len(procs))
        path.write_text(json.dumps(config))
        log = open(tmp_path / ('keepalive-%d.log' % len(procs)), 'wb')
        proc = subprocess.Popen([sys.executable, PROGRAM, str(path)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        proc.log_path = str(tmp_path / ('keepalive-%d.log' % (len(procs))))
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def wait_until(predicate, timeout=PATIENCE, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def keys_for(prefix):
    return {prefix + 'skydns/web/i-1': {'host': '10.0.1.25', 'port': 8080, 'ttl': 30},
            prefix + 'meta/web/i-1': {'availability_zone': 'eu-west-1a'}}


def test_the_program_is_python_3_8_syntax_and_holds_no_template_expressions():
    with open(PROGRAM, encoding='utf-8') as handle:
        source = handle.read()
    ast.parse(source, feature_version=(3, 8))
    assert '{{' not in source and '{%' not in source and '{#' not in source


def test_keeps_the_keys_beyond_their_ttl_restores_them_and_lets_them_expire_when_stopped(
        etcd, key_prefix, keepalive, run_module):  # noqa: F811  pylint: disable=redefined-outer-name
    keys = keys_for(key_prefix)
    registered = run_module(etcd_keys, url=etcd.url, keys=keys, lease_ttl=TTL)
    lease = registered['lease']['id']
    proc = keepalive({'url': etcd.url, 'keys': keys, 'lease_ttl': TTL})

    # The module's own lease, renewed by the program: its TTL went back up twice.
    renewed = etcd.watch_renewals(lease, renewals=2, timeout=PATIENCE)
    assert renewed['renewals'] == 2 and not renewed['gone'], renewed
    assert {key: etcd.get(key) for key in keys} == {
        key: (etcd_keys.encode(value).decode(), lease) for key, value in keys.items()}
    # Same bytes as the module writes: a role re-run sees no change.
    assert run_module(etcd_keys, url=etcd.url, keys=keys, lease_ttl=TTL)['changed'] is False

    for key in keys:
        etcd.delete(key)
    assert wait_until(lambda: all(etcd.get(key) for key in keys))
    new_lease = etcd.get(next(iter(keys)))[1]
    assert new_lease != lease
    assert etcd.lease(lease)[0] == -1

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(PATIENCE) == 0
    assert all(etcd.get(key) for key in keys)
    assert wait_until(lambda: not any(etcd.get(key) for key in keys))
    with open(proc.log_path, encoding='utf-8') as log:
        assert 're-registered 2 key(s)' in log.read()


def test_registers_from_scratch_and_repairs_a_changed_value(etcd, key_prefix, keepalive):  # noqa: F811
    keys = keys_for(key_prefix)
    keepalive({'url': etcd.url, 'keys': keys, 'lease_ttl': TTL})
    assert wait_until(lambda: all(etcd.get(key) for key in keys))

    skydns = next(iter(keys))
    etcd.put(skydns, '{"host":"10.9.9.9","port":1,"ttl":30}', lease=etcd.get(skydns)[1])
    assert wait_until(lambda: json.loads(etcd.get(skydns)[0]) == keys[skydns])


def test_survives_an_unreachable_etcd_and_registers_once_it_is_back(tmp_path, keepalive):
    server = Etcd(tmp_path / 'etcd')
    keys = keys_for('/late/')
    proc = keepalive({'url': server.url, 'keys': keys, 'lease_ttl': 5, 'timeout': 1})
    assert wait_until(lambda: 'etcd error, retrying' in read_log(proc))
    assert proc.poll() is None
    server.start()
    try:
        # Backoff is capped at RETRY_MAX (30 s), so it retries within that once etcd is back.
        assert wait_until(lambda: all(server.get(key) for key in keys))
    finally:
        server.stop()


def test_tls_client_certificate_auth_and_expiring_tokens(tmp_path, keepalive):
    pki = make_pki(str(tmp_path / 'pki'))
    # Tokens that expire after one idle second force a new login on every renewal.
    server = Etcd(tmp_path / 'etcd', tls=pki, extra_args=['--auth-token-ttl', '1']).start()
    try:
        server.enable_auth({'registrar': ('s3cret', ['/allowed/'])})
        keys = {'/allowed/web/i-1': {'host': '10.0.0.1', 'port': 80, 'ttl': 30}}
        proc = keepalive({'url': server.url, 'keys': keys, 'lease_ttl': TTL, 'username': 'registrar',
                          'password': 's3cret', 'ca_path': pki['ca'], 'client_cert': pki['client_cert'],
                          'client_key': pki['client_key']})
        assert wait_until(lambda: server.get('/allowed/web/i-1') is not None)
        lease = server.get('/allowed/web/i-1')[1]
        # Renewed twice, each time with a fresh login (the token expired in between).
        renewed = server.watch_renewals(lease, renewals=2, timeout=PATIENCE)
        assert renewed['renewals'] == 2 and not renewed['gone'], renewed
        assert server.get('/allowed/web/i-1') == (json.dumps(keys['/allowed/web/i-1'], sort_keys=True,
                                                             separators=(',', ':')), lease)
        assert proc.poll() is None
        with open(proc.log_path, encoding='utf-8') as log:
            output = log.read()
        assert 's3cret' not in output
        assert 'etcd error' not in output
    finally:
        server.stop()


def read_log(proc):
    with open(proc.log_path, encoding='utf-8') as log:
        return log.read()


class FakeGateway:
    """An HTTP server on 127.0.0.1 that answers every POST with ANSWER(path) -> (status, headers, body bytes).

    It records (path, headers) of every request it gets.
    """

    def __init__(self, answer):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  pylint: disable=invalid-name
                self.rfile.read(int(self.headers.get('Content-Length') or 0))
                outer.requests.append((self.path, dict(self.headers)))
                status, headers, body = answer(self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            # A followed redirect arrives as a GET.
            do_GET = do_POST  # noqa: N815

            def log_message(self, *_args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_gateway():
    servers = []

    def _start(answer):
        servers.append(FakeGateway(answer))
        return servers[-1]

    yield _start
    for server in servers:
        server.close()


def json_answer(value, status=200):
    return status, {'Content-Type': 'application/json'}, json.dumps(value).encode()


@pytest.mark.parametrize('with_auth', [True, False])
def test_refuses_redirects_so_the_token_never_leaves(fake_gateway, keepalive, with_auth):
    elsewhere = fake_gateway(lambda path: json_answer({'kvs': []}))

    def redirect_all_but_login(path):
        if path == '/v3/auth/authenticate':
            return json_answer({'token': 'tok-must-stay-here'})
        return 302, {'Location': elsewhere.url + path}, b''

    etcd_fake = fake_gateway(redirect_all_but_login)
    config = {'url': etcd_fake.url, 'keys': keys_for('/r/'), 'lease_ttl': 5}
    if with_auth:
        config.update(username='registrar', password='s3cret')
    proc = keepalive(config)

    # Two attempts past the login: it failed, backed off, and tried again.
    assert wait_until(lambda: len([p for p, _h in etcd_fake.requests if p != '/v3/auth/authenticate']) >= 2)
    assert proc.poll() is None
    assert elsewhere.requests == []
    if with_auth:
        assert any(h.get('Authorization') == 'tok-must-stay-here' for _p, h in etcd_fake.requests)
    output = read_log(proc)
    assert 'answered HTTP 302 with a redirect to %s/v3/kv/range, which is not followed' % elsewhere.url in output
    assert 'tok-must-stay-here' not in output and 's3cret' not in output


@pytest.mark.parametrize('bad_answer', [{}, [], {'ID': ''}, {'error': 'etcdserver: too many requests'}])
def test_backs_off_on_an_answer_etcd_would_never_give_and_keeps_running(fake_gateway, keepalive, bad_answer):
    # kv/range finds nothing, so it grants a lease, and the grant has no ID.
    fake = fake_gateway(lambda path: json_answer({} if path == '/v3/kv/range' and bad_answer != [] else bad_answer))
    proc = keepalive({'url': fake.url, 'keys': keys_for('/b/'), 'lease_ttl': 5})

    def retries():
        return [float(delay) for delay in re.findall(r'etcd error, retrying in ([0-9.]+) s', read_log(proc))]

    assert wait_until(lambda: len(retries()) >= 3)
    assert proc.poll() is None
    delays = retries()
    # Doubling from 1 s with jitter in the upper half: the third wait is at least 2 s, the first at most 1 s.
    assert delays[0] <= 1.0 < 2.0 <= delays[2], delays
    assert max(delays) <= 30.0
    assert 'unexpected answer' in read_log(proc)


def load_program():
    loader = importlib.machinery.SourceFileLoader('etcd_keepalive_program', PROGRAM)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    program = importlib.util.module_from_spec(spec)
    loader.exec_module(program)
    return program


def test_backoff_doubles_with_jitter_and_is_capped():
    program = load_program()
    for failures in range(1, 40):
        ceiling = min(program.RETRY_MAX, program.RETRY_MIN * 2 ** (failures - 1))
        for _attempt in range(20):
            assert ceiling / 2 <= program.backoff(failures) <= ceiling <= program.RETRY_MAX
