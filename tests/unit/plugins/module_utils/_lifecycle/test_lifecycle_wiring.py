"""The agent's wiring that needs no server: which paths it polls, the file_sd adapter, and heartbeats while draining."""
import datetime
import json
import os
import threading

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._common.deadline import Deadline
from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle import backends, notices
from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle.agent import Agent, BackendError
from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle.metadata import choose_paths

AUTO = {'spot': 'auto', 'lifecycle': 'auto', 'maintenance': 'auto', 'rebalance': 'auto'}


def reader(served):
    def read(path):
        value = served.get(path)
        if isinstance(value, Exception):
            raise value
        return value
    return read


@pytest.mark.parametrize('served, watch, expected', [
    ({'instance-life-cycle': 'on-demand'}, AUTO, [notices.MAINTENANCE]),
    ({'instance-life-cycle': 'spot'}, AUTO, [notices.SPOT_ACTION, notices.MAINTENANCE]),
    ({'instance-life-cycle': 'spot', notices.LIFECYCLE_STATE: 'InService'}, dict(AUTO, rebalance=True),
     [notices.SPOT_ACTION, notices.MAINTENANCE, notices.REBALANCE, notices.LIFECYCLE_STATE]),
    ({'instance-life-cycle': 'on-demand', notices.LIFECYCLE_STATE: 'InService'}, dict(AUTO, maintenance=False),
     [notices.LIFECYCLE_STATE]),
    ({'instance-life-cycle': 'on-demand'}, dict(AUTO, spot=True, lifecycle=True),
     [notices.SPOT_ACTION, notices.MAINTENANCE, notices.LIFECYCLE_STATE]),
])
def test_only_what_can_apply_is_watched(served, watch, expected):
    lines = []
    assert choose_paths(reader(served), watch, lines.append) == expected
    assert lines[-1] == 'watch: ' + ', '.join(expected)


def test_when_imds_cannot_tell_the_path_is_watched_and_the_reason_logged():
    lines = []
    served = {'instance-life-cycle': OSError('connection refused'), notices.LIFECYCLE_STATE: None}
    assert choose_paths(reader(served), AUTO, lines.append) == [notices.SPOT_ACTION, notices.MAINTENANCE]
    assert lines[0] == ('watch: cannot tell whether the instance is Spot (instance-life-cycle: connection refused); '
                        'watching anyway')


def test_rebalance_without_spot_is_said_and_not_watched():
    lines = []
    assert choose_paths(reader({'instance-life-cycle': 'on-demand'}), dict(AUTO, rebalance=True),
                        lines.append) == [notices.MAINTENANCE]
    assert 'rebalance recommendations come only to Spot instances' in lines[0]


def test_file_sd_writes_the_exact_content_atomically_and_removes_it(tmp_path):
    path = str(tmp_path / 'web.json')
    adapter = backends.build({'type': 'file_sd', 'path': path, 'content': '[]\n', 'mode': '0640',
                              'owner': None, 'group': None})
    assert adapter.register(Deadline(5)) == 'wrote %s' % path
    assert open(path, encoding='utf-8').read() == '[]\n' and oct(os.stat(path).st_mode & 0o777) == '0o640'
    assert adapter.register(Deadline(5)) == 'already registered in %s' % path
    assert os.listdir(str(tmp_path)) == ['web.json']
    assert adapter.deregister(Deadline(5)) == 'removed %s' % path
    assert adapter.deregister(Deadline(5)) == '%s was already gone' % path


def test_file_sd_in_a_missing_directory_is_a_backend_error(tmp_path):
    adapter = backends.build({'type': 'file_sd', 'path': str(tmp_path / 'nope' / 'web.json'), 'content': '[]',
                              'mode': '0644', 'owner': None, 'group': None})
    with pytest.raises(BackendError, match='The file_sd directory .*nope does not exist'):
        adapter.register(Deadline(5))


class SlowBackend:
    """Deregistration that takes until the test lets it finish."""

    def __init__(self):
        self.release = threading.Event()

    def register(self, deadline):
        return 'registered'

    def deregister(self, deadline):
        assert self.release.wait(30)
        return 'deregistered'


class Hook:
    heartbeat_interval = 0.01

    def __init__(self, backend):
        self.backend = backend
        self.calls = []

    def heartbeat(self, deadline=None):
        self.calls.append('heartbeat')
        if self.calls.count('heartbeat') == 3:
            self.backend.release.set()
        return 'heartbeat sent'

    def complete(self, deadline=None):
        self.calls.append('complete')
        return 'completed'


def test_heartbeats_are_sent_while_deregistering_on_terminated_then_the_hook_completes(tmp_path):
    backend = SlowBackend()
    hook = Hook(backend)
    served = {notices.LIFECYCLE_STATE: 'Terminated'}
    lines = []
    agent = Agent(read=reader(served), backend=backend, paths=[notices.LIFECYCLE_STATE],
                  state_path=str(tmp_path / 'state.json'), log=lines.append, wait=lambda seconds: True, hook=hook,
                  now=lambda: datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc))
    assert agent.run() == 0
    # The deregistration only finished because heartbeats came (a fourth may
    # beat the end of the drain); none after it.
    assert hook.calls[-1] == 'complete' and set(hook.calls[:-1]) == {'heartbeat'} and len(hook.calls) >= 4
    assert 'heartbeat: heartbeat sent' in lines
    assert json.load(open(str(tmp_path / 'state.json'), encoding='utf-8'))['done']['lifecycle:Terminated'][
        'outcome'] == 'deregistered; lifecycle hook completed'


class FakeEtcd:
    """The _registration/etcd.py calls the etcd adapter makes, with what each answered; no server."""

    def __init__(self, registered):
        self.registered = registered
        self.calls = []

    def find(self, _client, _keys, _ttl):
        self.calls.append('find')
        return type('Found', (), {'registered': self.registered, 'live_lease': '7' if self.registered else None})()

    def register(self, _client, _keys, _ttl, _found):
        self.calls.append('register')
        return '8', []

    def keep_alive(self, _client, _keys, _ttl, lease):
        self.calls.append('keep_alive %s' % lease)
        return 'renewed', lease


def etcd_adapter(fake, now):
    adapter = backends.Etcd({'type': 'etcd', 'url': 'http://127.0.0.1:2379', 'keys': {'/a': 'x'}, 'lease_ttl': 30,
                             'timeout': 2}, clock=lambda: now[0])
    adapter.etcd = fake
    return adapter


def test_etcd_a_lease_found_at_start_is_renewed_on_the_first_tick():
    # The role granted it before it started the agent, maybe most of a TTL ago: waiting a third of a TTL could lose it.
    now, fake = [100.0], FakeEtcd(registered=True)
    adapter = etcd_adapter(fake, now)
    assert adapter.register(Deadline(5)) == '1 key(s) already registered on lease 7 (30 s)'
    assert adapter.keepalive(Deadline(5)) is None
    assert fake.calls == ['find', 'keep_alive 7']
    now[0] += 9.9
    adapter.keepalive(Deadline(5))
    assert fake.calls == ['find', 'keep_alive 7'], 'then every third of the TTL'
    now[0] += 0.2
    adapter.keepalive(Deadline(5))
    assert fake.calls[-1] == 'keep_alive 7'


def test_etcd_a_lease_the_agent_granted_is_renewed_a_third_of_its_ttl_later():
    now, fake = [100.0], FakeEtcd(registered=False)
    adapter = etcd_adapter(fake, now)
    assert adapter.register(Deadline(5)) == 'wrote 1 key(s) on lease 8 (30 s)'
    adapter.keepalive(Deadline(5))
    assert fake.calls == ['find', 'register']
    now[0] += 10.1
    adapter.keepalive(Deadline(5))
    assert fake.calls == ['find', 'register', 'keep_alive 8']
