"""The client with its default endpoints, inside a private network namespace.

tests/utils/imds-netns puts the emulator at 169.254.169.254:80 in a
namespace that holds only loopback, so the defaults are exercised without
any chance of reaching a real metadata service.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from collection_path import COLLECTIONS_DIR, REPO_ROOT

NETNS = os.path.join(REPO_ROOT, "tests", "utils", "imds-netns")

PROBE = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.client import ImdsClient
    from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import ImdsError
    started = time.monotonic()
    try:
        client = ImdsClient(**json.loads(sys.argv[2]))
        result = {"endpoint": client.endpoint, "value": client.get_text("meta-data/instance-id")}
    except ImdsError as exc:
        result = {"error": type(exc).__name__, "message": exc.message}
    result["seconds"] = time.monotonic() - started
    print(json.dumps(result))
""")


def run_probe(options=None, env=None, emulator_args=()):
    environ = dict((k, v) for k, v in os.environ.items() if not k.startswith("AWS_EC2_METADATA"))
    environ.update(env or {}, PYTHON=sys.executable)
    completed = subprocess.run(
        [NETNS] + list(emulator_args) + ["--", sys.executable, "-c", PROBE, COLLECTIONS_DIR, json.dumps(options or {})],
        env=environ, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60,
    )
    if completed.returncode != 0 and "unshare" in completed.stdout:
        pytest.skip("cannot create a network namespace here: %s" % completed.stdout.strip())
    if completed.returncode != 0 and "fd00:ec2::254" in emulator_args and "emulator exited early" in completed.stdout:
        pytest.skip("IPv6 is disabled in this kernel: %s" % completed.stdout.strip())
    assert completed.returncode == 0, completed.stdout
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_default_endpoint_is_the_ipv4_address():
    result = run_probe()
    assert result == dict(result, endpoint="http://169.254.169.254", value="i-0123456789abcdef0")


def test_default_endpoint_with_imdsv1_only_service_and_fallback():
    result = run_probe({"allow_imdsv1": True}, emulator_args=["--no-imdsv2", "--http-tokens", "optional"])
    assert result["value"] == "i-0123456789abcdef0"


def test_ipv6_mode_uses_the_ipv6_endpoint():
    result = run_probe(
        env={"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "ipv6"},
        emulator_args=["--http-protocol-ipv6", "enabled", "--ipv6-host", "fd00:ec2::254"],
    )
    assert result == dict(result, endpoint="http://[fd00:ec2::254]", value="i-0123456789abcdef0")


def test_ipv6_mode_with_the_ipv6_endpoint_off_says_how_to_enable_it():
    result = run_probe({"endpoint_mode": "IPv6", "retries": 1})
    assert result["error"] == "ImdsUnreachableError"
    assert "http://[fd00:ec2::254]" in result["message"]
    assert "--http-protocol-ipv6 enabled" in result["message"]
    assert result["seconds"] < 5
