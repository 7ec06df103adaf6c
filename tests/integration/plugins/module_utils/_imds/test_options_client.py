"""The connection option adapter builds clients that carry every setting, read against the emulator on 127.0.0.1.

The adapter's argspec, doc fragment and coercion rules are tested in
tests/unit/plugins/module_utils/_imds/test_options.py.
"""
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.client import ImdsClient
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.options import ConnectionOptions


def test_client_carries_every_setting(emulator):
    warnings = []
    options = ConnectionOptions(
        endpoint=emulator.url, allow_imdsv1=True, timeout=0.5, retries=1,
        total_timeout=5, token_ttl=120, max_concurrency=2,
    )
    client = options.client(warn=warnings.append, environ={})
    assert isinstance(client, ImdsClient)
    assert (client.endpoint, client.allow_imdsv1, client.timeout, client.retries) == (emulator.url, True, 0.5, 1)
    assert (client.total_timeout, client.token_ttl, client.max_concurrency) == (5.0, 120, 2)
    assert client.get_text("meta-data/instance-id") == "i-0123456789abcdef0"


def test_client_applies_the_environment_it_is_given(emulator):
    client = ConnectionOptions().client(environ={"AWS_EC2_METADATA_SERVICE_ENDPOINT": emulator.url})
    assert client.endpoint == emulator.url
