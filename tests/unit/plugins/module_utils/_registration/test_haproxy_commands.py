"""The HAProxy runtime API client checks every word of every command in the one place that sends it.

A recording unix socket stands in for HAProxy here because the question is
what reaches the socket, byte for byte; what HAProxy does with accepted
commands is tested against a real HAProxy in
tests/integration/plugins/modules/test_haproxy_runtime_server.py.
"""
import os
import socket
import threading

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._haproxy import (
    HAProxyError,
    RuntimeApi,
    add_server_command,
    command_line,
    normalize_address,
)


@pytest.fixture
def recorder(tmp_path):
    """A unix socket that records every line it receives and answers nothing."""
    path = str(tmp_path / 'runtime.sock')
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    server.settimeout(0.1)  # so that the thread sees stop soon after the test
    received = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _address = server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(30)
            with conn:
                data = b''
                while not data.endswith(b'\n'):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                received.append(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, received
    stop.set()
    server.close()
    thread.join(10)
    os.unlink(path)


def test_accepted_words_are_sent_as_one_line(recorder):
    path, received = recorder
    api = RuntimeApi(path, timeout=10)
    api.execute(add_server_command('be1', 'x', '::1', 80, ['check', 'weight', '7']))
    assert received == [b'add server be1/x [::1]:80 check weight 7\n']
    assert api.sent == ['add server be1/x [::1]:80 check weight 7']


@pytest.mark.parametrize('words', [
    # A caller that builds a word holding spaces: each piece alone would pass.
    ['add', 'server', 'be1/x', '[::1%lo]:8443 ssl verify none alpn h2]:80'],
    ['add', 'server', 'be1/x', '10.0.0.1:80', 'backup weight 7 maxconn 5'],
    ['set', 'server', 'be1/x', 'addr', '10.0.1.25\n', 'port', '80'],
    ['show', 'stat', 'be1;', 'del', 'server', 'be1/x'],
    ['show', 'info', '#'],
    ['add', 'server', 'be1/x', '[::1]:80]'],
    ['enable', 'server', ''],
])
def test_a_word_outside_the_rule_is_refused_and_nothing_is_sent(recorder, words):
    path, received = recorder
    api = RuntimeApi(path, timeout=10)
    with pytest.raises(HAProxyError) as info:
        api.execute(words)
    assert 'Refusing to send' in info.value.message
    assert received == [] and api.sent == []


def test_a_command_given_as_one_string_is_refused(recorder):
    path, received = recorder
    with pytest.raises(HAProxyError):
        RuntimeApi(path, timeout=10).execute('show info')
    assert received == []


def test_command_line_accepts_what_the_module_sends():
    assert command_line(['show', 'stat', 'app', '4', '-1']) == 'show stat app 4 -1'
    assert command_line(['set', 'server', 'app/slot1', 'addr', 'fd00::1', 'port', '8080']) == \
        'set server app/slot1 addr fd00::1 port 8080'


@pytest.mark.parametrize('value, expected', [('10.0.1.25', '10.0.1.25'), ('[0:0::1]', '::1'), ('FD00::1', 'fd00::1')])
def test_normalize_address(value, expected):
    assert normalize_address(value) == expected


@pytest.mark.parametrize('value', ['fe80::1%eth0', '::1%lo]:8443 ssl', '10.0.1.25\n', '10.0.1.25 ', '[::1', 'web'])
def test_normalize_address_refuses_and_names_the_value(value):
    with pytest.raises(HAProxyError) as info:
        normalize_address(value)
    assert repr(value) in info.value.message
