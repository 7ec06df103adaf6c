"""pytest fixtures for the self-managed backends: real servers on loopback, and an in-process module runner.

Import the fixtures a test file uses by name:
    from servers.fixtures import haproxy, run_module  # noqa: F401
"""

import json
import time

import pytest

from ansible_compat import patch_module_args

from servers.etcd import Etcd
from servers.haproxy import HAProxy


class ModuleResult(dict):
    """The module's JSON result, plus how long the run took."""

    seconds = 0.0

    @property
    def failed(self):
        return bool(self.get('failed'))


@pytest.fixture
def run_module(capsys):
    """run_module(module, **args) -> ModuleResult; `_check_mode=True` runs it in check mode, `_diff=True` with diff."""

    def _run(module, _check_mode=False, _diff=False, **args):
        if _check_mode:
            args['_ansible_check_mode'] = True
        if _diff:
            args['_ansible_diff'] = True
        capsys.readouterr()
        started = time.monotonic()
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        result = ModuleResult(json.loads(capsys.readouterr().out))
        result.seconds = time.monotonic() - started
        return result

    return _run


@pytest.fixture
def haproxy(tmp_path):
    """A fresh HAProxy for one test (its runtime servers are the test's own)."""
    server = HAProxy(tmp_path / 'haproxy').start()
    yield server
    server.stop()


@pytest.fixture(scope='session')
def etcd(tmp_path_factory):
    """One etcd for the session, without auth or TLS; tests use keys of their own."""
    server = Etcd(tmp_path_factory.mktemp('etcd')).start()
    yield server
    server.stop()


@pytest.fixture
def key_prefix(request):
    """A key prefix no other test uses: /t/<test name>/."""
    return '/t/%s/' % request.node.name.replace('[', '-').replace(']', '')
