"""The etcd lease keepalive program the register_instance role installs, run against a real etcd 3.4.

roles/register_instance/templates/etcd-keepalive.py.j2 holds no template
expressions, so the tests run the file as the role installs it. They check
what users rely on: the keys outlive their TTL while it runs, come back when
lost, and expire once it stops; and that it encodes values exactly as the
etcd_keys module does, so the two never fight over a key.
"""
import ast
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))

from servers.etcd import Etcd  # noqa: E402
from servers.fixtures import etcd, key_prefix, run_module  # noqa: E402,F401  pylint: disable=unused-import
from servers.pki import make_pki  # noqa: E402

from ansible_collections.cloudmeta.imds.plugins.modules import etcd_keys  # noqa: E402

PROGRAM = os.path.join(REPO_ROOT, 'roles', 'register_instance', 'templates', 'etcd-keepalive.py.j2')


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


def wait_until(predicate, timeout, interval=0.2):
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
    registered = run_module(etcd_keys, url=etcd.url, keys=keys, lease_ttl=5)
    lease = registered['lease']['id']
    proc = keepalive({'url': etcd.url, 'keys': keys, 'lease_ttl': 5})

    time.sleep(8)
    assert {key: etcd.get(key) for key in keys} == {
        key: (etcd_keys.encode(value).decode(), lease) for key, value in keys.items()}
    # Same bytes as the module writes: a role re-run sees no change.
    assert run_module(etcd_keys, url=etcd.url, keys=keys, lease_ttl=5)['changed'] is False

    for key in keys:
        etcd.delete(key)
    assert wait_until(lambda: all(etcd.get(key) for key in keys), 5)
    new_lease = etcd.get(next(iter(keys)))[1]
    assert new_lease != lease
    assert etcd.lease(lease)[0] == -1

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    assert all(etcd.get(key) for key in keys)
    assert wait_until(lambda: not any(etcd.get(key) for key in keys), 15)
    with open(proc.log_path, encoding='utf-8') as log:
        assert 're-registered 2 key(s)' in log.read()


def test_registers_from_scratch_and_repairs_a_changed_value(etcd, key_prefix, keepalive):  # noqa: F811
    keys = keys_for(key_prefix)
    keepalive({'url': etcd.url, 'keys': keys, 'lease_ttl': 6})
    assert wait_until(lambda: all(etcd.get(key) for key in keys), 5)

    skydns = next(iter(keys))
    etcd.put(skydns, '{"host":"10.9.9.9","port":1,"ttl":30}', lease=etcd.get(skydns)[1])
    assert wait_until(lambda: json.loads(etcd.get(skydns)[0]) == keys[skydns], 5)


def test_survives_an_unreachable_etcd_and_registers_once_it_is_back(tmp_path, keepalive):
    server = Etcd(tmp_path / 'etcd')
    keys = keys_for('/late/')
    proc = keepalive({'url': server.url, 'keys': keys, 'lease_ttl': 5, 'timeout': 1})
    time.sleep(2)
    assert proc.poll() is None
    server.start()
    try:
        assert wait_until(lambda: all(server.get(key) for key in keys), 10)
    finally:
        server.stop()
    with open(proc.log_path, encoding='utf-8') as log:
        assert 'etcd error, retrying' in log.read()


def test_tls_client_certificate_auth_and_expiring_tokens(tmp_path, keepalive):
    pki = make_pki(str(tmp_path / 'pki'))
    # Tokens that expire after one idle second force a new login on every renewal.
    server = Etcd(tmp_path / 'etcd', tls=pki, extra_args=['--auth-token-ttl', '1']).start()
    try:
        server.enable_auth({'registrar': ('s3cret', ['/allowed/'])})
        keys = {'/allowed/web/i-1': {'host': '10.0.0.1', 'port': 80, 'ttl': 30}}
        proc = keepalive({'url': server.url, 'keys': keys, 'lease_ttl': 5, 'username': 'registrar',
                          'password': 's3cret', 'ca_path': pki['ca'], 'client_cert': pki['client_cert'],
                          'client_key': pki['client_key']})
        assert wait_until(lambda: server.get('/allowed/web/i-1') is not None, 5)
        lease = server.get('/allowed/web/i-1')[1]
        time.sleep(8)
        assert server.get('/allowed/web/i-1') == (json.dumps(keys['/allowed/web/i-1'], sort_keys=True,
                                                             separators=(',', ':')), lease)
        assert proc.poll() is None
        with open(proc.log_path, encoding='utf-8') as log:
            output = log.read()
        assert 's3cret' not in output
        assert 'etcd error' not in output
    finally:
        server.stop()
