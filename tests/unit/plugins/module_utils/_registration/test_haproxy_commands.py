"""The HAProxy runtime API client's command rules: every word of every command is checked.

Pure checks of the words and addresses; what reaches the runtime socket,
byte for byte, is tested against a recording unix socket in
tests/integration/plugins/module_utils/_registration/test_haproxy_commands_socket.py,
and what HAProxy does with accepted commands against a real HAProxy in
tests/integration/plugins/modules/test_haproxy_runtime_server.py.
"""
import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._registration.haproxy import (
    HAProxyError,
    command_line,
    normalize_address,
)


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
