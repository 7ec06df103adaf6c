"""The HAProxy runtime API client sends only checked words, in the one place that sends them.

A recording unix socket stands in for HAProxy here because the question is
what reaches the socket, byte for byte; what HAProxy does with accepted
commands is tested against a real HAProxy in
tests/integration/plugins/modules/test_haproxy_runtime_server.py.

The pure rules (command_line, normalize_address) are tested in
tests/unit/plugins/module_utils/_registration/test_haproxy_commands.py.
"""
import os
import socket
import threading

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._registration.haproxy import (
    HAProxyError,
    RuntimeApi,
    add_server_command,
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
