"""The etcd lease keepalive program the register_instance role installs, run against a real etcd 3.4.

The role's own tasks (tasks/instance_library.yml, run once by ansible-playbook)
install roles/register_instance/files/etcd-keepalive.py and the collection's
etcd core into a temporary instance library, and the tests run the program
from there, as the service does. They check what users rely on: the keys
outlive their TTL while it runs, come back when lost, and expire once it
stops; that it writes values exactly as the etcd_keys module does, so the two
never fight over a key; and that the installed program needs nothing but the
standard library and its library directory (`python -I -S`). Renewal is told by
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
import yaml

from collection_path import REPO_ROOT
from playbook_runner import run_in_netns

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))

from servers.etcd import Etcd  # noqa: E402
from servers.fixtures import etcd, key_prefix, run_module  # noqa: E402,F401  pylint: disable=unused-import
from servers.pki import make_pki  # noqa: E402

from ansible_collections.cloudmeta.imds.plugins.module_utils._registration import etcd as etcd_core  # noqa: E402
from ansible_collections.cloudmeta.imds.plugins.modules import etcd_keys  # noqa: E402

ROLE = os.path.join(REPO_ROOT, 'roles', 'register_instance')
SOURCE = os.path.join(ROLE, 'files', 'etcd-keepalive.py')
with open(os.path.join(ROLE, 'files', 'instance-library.yml'), encoding='utf-8') as _handle:
    LIBRARY = yaml.safe_load(_handle)
# Generous for anything that should happen within a few seconds on an idle machine.
PATIENCE = 120
# Renewed every TTL/3 seconds: six seconds of slack before a late renewal loses the lease.
TTL = 9


INSTALL_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Install the instance library as the role does
      ansible.builtin.include_role:
        name: cloudmeta.imds.register_instance
        tasks_from: instance_library.yml
      vars:
        register_instance_library_dir: %s
        __register_instance_library_state: present
"""


def install_library(workdir):
    """Run the role's tasks/instance_library.yml into WORKDIR/lib/cloudmeta-imds; the installed program's path."""
    library_dir = os.path.join(workdir, 'lib', 'cloudmeta-imds')
    playbook = os.path.join(workdir, 'install-library.yml')
    with open(playbook, 'w', encoding='utf-8') as handle:
        handle.write(INSTALL_PLAYBOOK % json.dumps(library_dir))
    result = run_in_netns([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,',
                           '-c', 'local', '-e', 'ansible_python_interpreter=' + sys.executable, playbook])
    assert result.returncode == 0, result.stdout
    return os.path.join(library_dir, 'etcd-keepalive.py')


@pytest.fixture(scope='module')
def program(tmp_path_factory):
    """The keepalive program in an instance library installed by the role's own tasks."""
    return install_library(str(tmp_path_factory.mktemp('instance')))


@pytest.fixture
def keepalive(tmp_path, program):  # pylint: disable=redefined-outer-name
    """keepalive(config) -> the running program; stopped (SIGTERM) after the test."""
    procs = []

    def _start(config):
        path = tmp_path / ('keepalive-%d.json' % len(procs))
        path.write_text(json.dumps(config))
        log = open(tmp_path / ('keepalive-%d.log' % len(procs)), 'wb')
        # As the unit runs it; -I -S: nothing but the standard library and the program's own directory.
        proc = subprocess.Popen([sys.executable, '-I', '-S', program, str(path)], stdout=log,
                                stderr=subprocess.STDOUT, cwd=str(tmp_path))
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
    with open(SOURCE, encoding='utf-8') as handle:
        source = handle.read()
    ast.parse(source, feature_version=(3, 8))
    assert '{{' not in source and '{%' not in source and '{#' not in source


def test_the_library_is_the_collections_own_files_laid_out_as_a_package(program):  # noqa: F811
    library = os.path.dirname(program)
    installed = sorted(os.path.relpath(os.path.join(top, name), library)
                       for top, _dirs, names in os.walk(library) for name in names)
    packages = sorted(set(os.path.dirname(module) for module in LIBRARY['modules']) | {''})
    assert installed == sorted(
        LIBRARY['programs']
        + [os.path.join('cloudmeta_imds', module) for module in LIBRARY['modules']]
        + [os.path.join('cloudmeta_imds', package, '__init__.py') for package in packages])
    for module in LIBRARY['modules']:
        with open(os.path.join(REPO_ROOT, 'plugins', 'module_utils', module), 'rb') as source, \
                open(os.path.join(library, 'cloudmeta_imds', module), 'rb') as copy:
            assert copy.read() == source.read(), module
    with open(SOURCE, 'rb') as source, open(program, 'rb') as copy:
        assert copy.read() == source.read()


def test_the_installed_program_runs_isolated_from_the_checkout(tmp_path, program):  # noqa: F811
    # Outside the checkout, with -I (no PYTHONPATH, no script directory, no
    # user site) and -S (no site-packages: no ansible, no boto3), through a
    # symbolic link as the unit reaches it: it imports its core from the
    # library directory, and from nowhere else.
    link = tmp_path / 'cloudmeta-etcd-keepalive'
    link.symlink_to(program)
    probe = (
        'import runpy, sys; sys.argv = [%r]; '
        'runpy.run_path(%r, run_name="probe"); '
        'import cloudmeta_imds._registration.etcd as core; '
        'print(core.__file__); print([m for m in sys.modules if m.startswith(("ansible", "boto"))])'
    ) % (str(link), str(link))
    found = subprocess.run([sys.executable, '-I', '-S', '-c', probe], cwd=str(tmp_path), capture_output=True,
                           text=True, check=False, env={'PATH': os.environ['PATH'], 'PYTHONPATH': REPO_ROOT})
    assert found.returncode == 0, found.stderr
    core_file, foreign = found.stdout.splitlines()
    assert core_file == os.path.join(os.path.dirname(program), 'cloudmeta_imds', '_registration', 'etcd.py')
    assert not core_file.startswith(REPO_ROOT) and foreign == '[]'

    usage = subprocess.run([sys.executable, '-I', '-S', str(link)], cwd=str(tmp_path), capture_output=True,
                           text=True, check=False, env={'PATH': os.environ['PATH'], 'PYTHONPATH': REPO_ROOT})
    assert usage.returncode == 2 and 'usage:' in usage.stderr, usage.stderr
    assert not any(name == '__pycache__' for _top, dirs, _names in os.walk(os.path.dirname(program)) for name in dirs)


def test_an_unusable_configuration_is_reported_and_the_program_exits(tmp_path, program):  # noqa: F811
    config = tmp_path / 'bad.json'
    config.write_text(json.dumps({'url': 'http://127.0.0.1:2379', 'keys': {'/a/b\n': 'x'}, 'lease_ttl': 9}))
    result = subprocess.run([sys.executable, '-I', '-S', program, str(config)], capture_output=True, text=True,
                            check=False, timeout=PATIENCE)
    assert result.returncode == 2
    assert "cannot use %s: Key name '/a/b\\n' holds a line break" % config in result.stderr


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
        key: (etcd_core.encode(value).decode(), lease) for key, value in keys.items()}
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


def load_program(path, monkeypatch):
    # Loading it puts its library on sys.path and turns bytecode off: only for this test.
    monkeypatch.setattr(sys, 'path', list(sys.path))
    monkeypatch.setattr(sys, 'dont_write_bytecode', sys.dont_write_bytecode)
    loader = importlib.machinery.SourceFileLoader('etcd_keepalive_program', path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    program = importlib.util.module_from_spec(spec)
    loader.exec_module(program)
    return program


def test_backoff_doubles_with_jitter_and_is_capped(program, monkeypatch):  # noqa: F811  pylint: disable=redefined-outer-name
    program = load_program(program, monkeypatch)
    for failures in range(1, 40):
        ceiling = min(program.RETRY_MAX, program.RETRY_MIN * 2 ** (failures - 1))
        for _attempt in range(20):
            assert ceiling / 2 <= program.backoff(failures) <= ceiling <= program.RETRY_MAX
