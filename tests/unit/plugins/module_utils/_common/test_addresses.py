"""Which addresses are this machine's loopback (proxy bypass, controller detection)."""
import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._common.addresses import is_loopback


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", " localhost ", "LOCALHOST",
                                     "localhost6", "ip6-localhost", "localhost.localdomain"])
def test_loopback(address):
    assert is_loopback(address)


@pytest.mark.parametrize("address", ["10.0.1.25", "169.254.169.254", "fd00:ec2::254", "[fd00:ec2::254]",
                                     "example.com", "localhost.example.com", "", "127.0.0.1:8080"])
def test_not_loopback(address):
    assert not is_loopback(address)
