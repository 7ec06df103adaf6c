"""cloudmeta.imds.haproxy_runtime_server run in-process against a real HAProxy 2.6 on loopback.

Each test gets its own HAProxy (tests/utils/servers/haproxy.py): backend
`app` (roundrobin) behind a frontend, `static` (static-rr) and `slots`
(static-rr with a server-template of three slots behind another frontend).
Traffic assertions send real HTTP requests through the frontends to small
HTTP servers standing in for instances.
"""
import os
import sys
import threading
import urllib.error
import urllib.request

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))

from servers.common import free_port  # noqa: E402
from servers.fixtures import haproxy, run_module  # noqa: E402,F401  pylint: disable=unused-import
from servers.web import Web  # noqa: E402

from ansible_collections.cloudmeta.imds.plugins.modules import haproxy_runtime_server as module  # noqa: E402

NAME = 'i-0123456789abcdef0'
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def web():
    """web(name) -> a started HTTP server on a free loopback port; stopped after the test."""
    servers = []

    def _start(name):
        server = Web(name, free_port()).start()
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.stop()


def get(port, path='/', timeout=10):
    """(status, body) of a request through an HAProxy frontend."""
    try:
        with NO_PROXY.open('http://127.0.0.1:%d%s' % (port, path), timeout=timeout) as response:
            return response.status, response.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode().strip()


def get_or_disconnected(port, path):
    """get(), or None when HAProxy closes the connection (as it does when it stops)."""
    try:
        return get(port, path, timeout=180)
    except OSError:
        return None


def args(haproxy, **extra):  # pylint: disable=redefined-outer-name
    base = dict(socket=haproxy.admin_socket, backend='app', name=NAME, address='127.0.0.1', port=8080)
    base.update(extra)
    return base


# ---------------------------------------------------------------------------
# dynamic mode: present
# ---------------------------------------------------------------------------

def test_adds_and_enables_a_server_that_then_receives_traffic(run_module, haproxy, web):
    instance = web('instance-a')
    result = run_module(module, **args(haproxy, port=instance.port))

    assert result['changed'] is True, result
    assert result['server'] == {'backend': 'app', 'name': NAME, 'address': '127.0.0.1', 'port': instance.port,
                                'admin_state': 'ready', 'weight': 1, 'health_checks': False}
    assert result['commands'] == ['add server app/%s 127.0.0.1:%d' % (NAME, instance.port),
                                  'enable server app/%s' % NAME]
    assert haproxy.servers('app')[NAME]['admin'] == 0
    assert get(haproxy.app_port) == (200, 'instance-a')


def test_second_run_changes_nothing(run_module, haproxy):
    run_module(module, **args(haproxy))
    again = run_module(module, **args(haproxy))
    assert again['changed'] is False
    assert again['commands'] == []
    assert list(haproxy.servers('app')) == [NAME]


def test_existing_server_with_another_address_is_updated_not_duplicated(run_module, haproxy, web):
    old = web('old')
    new = web('new')
    run_module(module, **args(haproxy, port=old.port))
    assert get(haproxy.app_port) == (200, 'old')

    result = run_module(module, **args(haproxy, address='127.0.0.1', port=new.port))

    assert result['changed'] is True
    assert result['commands'] == ['set server app/%s addr 127.0.0.1 port %d' % (NAME, new.port)]
    assert list(haproxy.servers('app')) == [NAME]
    assert get(haproxy.app_port) == (200, 'new')


def test_a_drained_or_disabled_server_is_put_back_in_service(run_module, haproxy):
    run_module(module, **args(haproxy))
    haproxy.command('set server app/%s state maint' % NAME)

    result = run_module(module, **args(haproxy))

    assert result['changed'] is True
    assert result['commands'] == ['set server app/%s state ready' % NAME]
    assert haproxy.servers('app')[NAME]['admin'] == 0


def test_weight_is_set_at_creation_and_updated_in_place(run_module, haproxy):
    first = run_module(module, **args(haproxy, weight=10))
    assert first['server']['weight'] == 10
    second = run_module(module, **args(haproxy, weight=20))
    assert second['commands'] == ['set weight app/%s 20' % NAME]
    assert haproxy.servers('app')[NAME]['weight'] == 20
    unset = run_module(module, **args(haproxy))
    assert unset['changed'] is False


def test_health_checks_are_configured_and_enabled(run_module, haproxy, web):
    instance = web('checked')
    result = run_module(module, **args(haproxy, port=instance.port, check=True, server_options=['inter 200ms', 'rise 1']))

    assert result['commands'] == [
        'add server app/%s 127.0.0.1:%d check inter 200ms rise 1' % (NAME, instance.port),
        'enable health app/%s' % NAME,
        'enable server app/%s' % NAME,
    ]
    assert result['server']['health_checks'] is True
    state = haproxy.servers('app')[NAME]
    assert state['check'] & 0x06 == 0x06  # configured and enabled
    assert run_module(module, **args(haproxy, port=instance.port, check=True))['changed'] is False


def test_turning_checks_on_recreates_the_server(run_module, haproxy):
    run_module(module, **args(haproxy))
    result = run_module(module, **args(haproxy, check=True, drain_timeout=0))

    assert result['changed'] is True
    assert 'del server app/%s' % NAME in result['commands']
    assert result['commands'][-3:] == ['add server app/%s 127.0.0.1:8080 check' % NAME,
                                       'enable health app/%s' % NAME, 'enable server app/%s' % NAME]
    assert haproxy.servers('app')[NAME]['check'] & 0x06 == 0x06


def test_ipv6_address(run_module, haproxy):
    result = run_module(module, **args(haproxy, address='0:0::1'))
    assert result['server']['address'] == '::1'
    assert result['commands'][0] == 'add server app/%s [::1]:8080' % NAME
    assert run_module(module, **args(haproxy, address='::1'))['changed'] is False


def test_tcp_runtime_api_socket(run_module, haproxy):
    result = run_module(module, **args(haproxy, socket=haproxy.tcp_socket))
    assert result['changed'] is True
    assert NAME in haproxy.servers('app')


def test_check_mode_predicts_and_sends_nothing(run_module, haproxy):
    predicted = run_module(module, _check_mode=True, _diff=True, **args(haproxy))

    assert predicted['changed'] is True
    assert predicted['commands'] == ['add server app/%s 127.0.0.1:8080' % NAME, 'enable server app/%s' % NAME]
    assert predicted['diff'] == {'before': {}, 'after': predicted['server']}
    assert haproxy.servers('app') == {}

    run_module(module, **args(haproxy))
    removal = run_module(module, _check_mode=True, **args(haproxy, state='absent'))
    assert removal['changed'] is True
    assert removal['commands'] == ['set server app/%s state drain' % NAME, 'set server app/%s state maint' % NAME,
                                   'del server app/%s' % NAME]
    assert haproxy.servers('app')[NAME]['admin'] == 0


def test_diff_shows_the_address_change(run_module, haproxy):
    run_module(module, **args(haproxy, port=8080))
    result = run_module(module, _diff=True, **args(haproxy, port=9090))
    assert result['diff']['before']['port'] == 8080
    assert result['diff']['after']['port'] == 9090


# ---------------------------------------------------------------------------
# dynamic mode: absent
# ---------------------------------------------------------------------------

def test_absent_removes_the_server_and_tolerates_already_gone(run_module, haproxy, web):
    instance = web('leaving')
    run_module(module, **args(haproxy, port=instance.port))

    removed = run_module(module, **args(haproxy, state='absent', address=None, port=None))
    again = run_module(module, **args(haproxy, state='absent', address=None, port=None))

    assert removed['changed'] is True
    assert removed['server'] is None
    assert removed['sessions_closed'] == 0
    assert removed['commands'] == ['set server app/%s state drain' % NAME, 'set server app/%s state maint' % NAME,
                                   'del server app/%s' % NAME]
    assert haproxy.servers('app') == {}
    assert get(haproxy.app_port)[0] == 503
    assert again['changed'] is False
    assert again['commands'] == []


def test_absent_waits_for_open_sessions_to_finish(run_module, haproxy, web):
    instance = web('busy')
    run_module(module, **args(haproxy, port=instance.port))
    answers = []
    request = threading.Thread(target=lambda: answers.append(get(haproxy.app_port, '/slow?seconds=1.5')))
    request.start()
    _wait_for_sessions(haproxy, NAME, 1)

    removed = run_module(module, **args(haproxy, state='absent', drain_timeout=120))
    request.join(60)

    assert removed['changed'] is True
    assert removed['sessions_closed'] == 0
    assert answers == [(200, 'busy')]
    assert haproxy.servers('app') == {}


def test_absent_closes_sessions_left_after_the_drain_timeout(run_module, haproxy, web):
    instance = web('stuck')
    run_module(module, **args(haproxy, port=instance.port))
    answers = []
    # The session would last 120 s: closing it is what ends it, not its end.
    request = threading.Thread(target=lambda: answers.append(get(haproxy.app_port, '/slow?seconds=120', timeout=180)),
                               daemon=True)
    request.start()
    _wait_for_sessions(haproxy, NAME, 1)

    removed = run_module(module, **args(haproxy, state='absent', drain_timeout=1))
    request.join(60)

    assert removed['changed'] is True
    assert removed['sessions_closed'] == 1
    assert 'shutdown sessions server app/%s' % NAME in removed['commands']
    assert removed.seconds < 60  # far less than the session would have lasted
    assert haproxy.servers('app') == {}
    assert answers and answers[0][0] != 200


def test_absent_without_shutdown_leaves_the_server_in_maintenance_and_fails(run_module, haproxy, web):
    instance = web('stuck')
    run_module(module, **args(haproxy, port=instance.port))
    # Long enough that it is still open however slowly the module runs; the
    # fixture's HAProxy stop ends it.
    request = threading.Thread(target=lambda: get_or_disconnected(haproxy.app_port, '/slow?seconds=120'), daemon=True)
    request.start()
    _wait_for_sessions(haproxy, NAME, 1)

    failed = run_module(module, **args(haproxy, state='absent', drain_timeout=1, shutdown_sessions=False))

    assert failed.failed
    assert 'still has 1 session(s)' in failed['msg']
    assert 'maintenance' in failed['msg']
    assert haproxy.servers('app')[NAME]['admin'] & 0x01


def _wait_for_sessions(haproxy, name, count):  # pylint: disable=redefined-outer-name
    from ansible_collections.cloudmeta.imds.plugins.module_utils._registration.haproxy import RuntimeApi
    import time
    api = RuntimeApi(haproxy.admin_socket)
    deadline = time.monotonic() + 60
    while api.sessions('app', name) != count:
        assert time.monotonic() < deadline, 'the request never reached the server'
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# errors users will meet
# ---------------------------------------------------------------------------

def test_static_algorithm_is_explained(run_module, haproxy):
    result = run_module(module, **args(haproxy, backend='static'))
    assert result.failed
    assert 'static' in result['msg'] and 'roundrobin' in result['msg'] and 'slot' in result['msg']
    assert haproxy.servers('static') == {}


def test_operator_level_socket_is_explained(run_module, haproxy):
    result = run_module(module, **args(haproxy, socket=haproxy.operator_socket))
    assert result.failed
    assert 'level admin' in result['msg']
    assert haproxy.operator_socket in result['msg']


def test_missing_socket_is_explained(run_module, tmp_path):
    result = run_module(module, socket=str(tmp_path / 'nothing.sock'), backend='app', name=NAME,
                        address='127.0.0.1', port=80)
    assert result.failed
    assert 'No HAProxy runtime API socket' in result['msg']


def test_unknown_backend_is_explained(run_module, haproxy):
    result = run_module(module, **args(haproxy, backend='nope'))
    assert result.failed
    assert 'no backend named nope' in result['msg']


@pytest.mark.parametrize('field, value', [
    ('name', 'a;del server app/x'),
    ('name', 'a\nshow info'),
    ('backend', 'app/x'),
    ('server_options', ['check;', 'shutdown sessions server app/x']),
    ('server_options', ['inter\n2s']),
    ('address', 'example.com'),
    ('address', '10.0.0.1 check'),
])
def test_refuses_text_that_could_change_the_command(run_module, haproxy, field, value):
    result = run_module(module, **args(haproxy, **{field: value}))
    assert result.failed
    assert haproxy.servers('app') == {}


# The injections of issue 9: Python's ipaddress takes anything after "%" as
# an IPv6 scope id, spaces included, and HAProxy read the rest as keywords.
@pytest.mark.parametrize('address', [
    '::1%lo]:8443 ssl verify none alpn h2',
    '::1%lo]:80 backup weight 7 maxconn 5',
    'fe80::1%eth0',
    '[fe80::1%eth0]',
])
def test_refuses_ipv6_scope_ids_so_no_keyword_reaches_haproxy(run_module, haproxy, address):
    result = run_module(module, **args(haproxy, address=address))
    assert result.failed
    assert 'scope id' in result['msg'] and repr(address) in result['msg']
    assert haproxy.servers('app') == {}
    # Check mode refuses it the same way, before predicting commands.
    assert run_module(module, _check_mode=True, **args(haproxy, address=address)).failed


# Metadata served with a trailing newline ("i-0123456789abcdef0\n"): the
# message names the value as Python writes it, so the newline is visible.
@pytest.mark.parametrize('field, value', [
    ('name', NAME + '\n'),
    ('backend', 'app\n'),
    ('address', '10.0.1.25\n'),
    ('address', '::1\n'),
    ('address', ' 10.0.1.25'),
])
def test_refuses_values_ending_in_a_newline_or_padded_with_whitespace(run_module, haproxy, field, value):
    result = run_module(module, **args(haproxy, **{field: value}))
    assert result.failed
    assert repr(value) in result['msg']
    assert haproxy.servers('app') == {}


def test_present_needs_address_and_port(run_module, haproxy):
    assert 'port is required' in run_module(module, **args(haproxy, port=None))['msg']
    assert 'address is required' in run_module(module, **args(haproxy, address=None))['msg']


# ---------------------------------------------------------------------------
# slot mode
# ---------------------------------------------------------------------------

def slot_args(haproxy, **extra):  # pylint: disable=redefined-outer-name
    base = dict(socket=haproxy.admin_socket, backend='slots', mode='slot', address='127.0.0.1', port=8080)
    base.update(extra)
    return base


def test_slot_mode_takes_a_free_slot_that_then_receives_traffic(run_module, haproxy, web):
    instance = web('slotted')
    result = run_module(module, **slot_args(haproxy, port=instance.port))

    assert result['changed'] is True
    slot = result['server']['name']
    assert slot in ('slot1', 'slot2', 'slot3')
    assert result['commands'] == ['set server slots/%s addr 127.0.0.1 port %d' % (slot, instance.port),
                                  'set server slots/%s state ready' % slot]
    assert haproxy.servers('slots')[slot]['address'] == '127.0.0.1'
    _eventually(lambda: get(haproxy.slots_port) == (200, 'slotted'))
    assert run_module(module, **slot_args(haproxy, port=instance.port))['changed'] is False


def test_slot_mode_updates_the_port_of_its_own_slot(run_module, haproxy):
    first = run_module(module, **slot_args(haproxy, port=8080))
    second = run_module(module, **slot_args(haproxy, port=9090))
    slot = first['server']['name']
    assert second['server']['name'] == slot
    assert second['commands'] == ['set server slots/%s addr 127.0.0.1 port 9090' % slot]


def test_slot_mode_absent_drains_and_frees_the_slot(run_module, haproxy):
    slot = run_module(module, **slot_args(haproxy))['server']['name']

    removed = run_module(module, **slot_args(haproxy, state='absent', port=None))
    again = run_module(module, **slot_args(haproxy, state='absent', port=None))

    assert removed['changed'] is True
    assert removed['server']['admin_state'] == 'maint'
    assert haproxy.servers('slots')[slot]['admin'] & 0x01
    assert again['changed'] is False


def test_slot_mode_fails_when_every_slot_is_taken(run_module, haproxy):
    for last_octet in (11, 12, 13):
        assert run_module(module, **slot_args(haproxy, address='127.0.0.%d' % last_octet))['changed']
    taken = {server['address'] for server in haproxy.servers('slots').values()}
    assert taken == {'127.0.0.11', '127.0.0.12', '127.0.0.13'}

    full = run_module(module, **slot_args(haproxy, address='127.0.0.14'))
    assert full.failed
    assert 'All 3 slots' in full['msg']

    run_module(module, **slot_args(haproxy, address='127.0.0.12', state='absent'))
    assert run_module(module, **slot_args(haproxy, address='127.0.0.14'))['changed'] is True


def test_slot_mode_works_with_a_static_algorithm_and_survives_a_restart_with_the_state_file(run_module, haproxy, web):
    instance = web('persistent')
    slot = run_module(module, **slot_args(haproxy, port=instance.port))['server']['name']

    haproxy.save_state()
    haproxy.restart()

    assert haproxy.servers('slots')[slot]['address'] == '127.0.0.1'
    assert haproxy.servers('slots')[slot]['port'] == instance.port
    assert run_module(module, **slot_args(haproxy, port=instance.port))['changed'] is False
    _eventually(lambda: get(haproxy.slots_port) == (200, 'persistent'))


def test_dynamic_servers_are_lost_on_restart(run_module, haproxy):
    run_module(module, **args(haproxy))
    haproxy.save_state()
    haproxy.restart()
    assert haproxy.servers('app') == {}
    assert run_module(module, **args(haproxy))['changed'] is True


def test_slot_mode_without_template_is_explained(run_module, haproxy):
    result = run_module(module, **slot_args(haproxy, backend='app'))
    assert result.failed
    assert 'server-template' in result['msg']


def _eventually(predicate, timeout=60):
    import time
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.1)
