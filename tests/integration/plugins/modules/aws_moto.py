"""Fixtures for the AWS modules' tests: the session's moto_server (and the shared module runner).

The modules reach moto only through AWS_ENDPOINT_URL, read by botocore
itself, exactly as they do under the role's tests; keys are dummies from the
environment and IMDS is switched off, so nothing leaves loopback.

moto_server itself is the session fixture `moto_server` of
tests/integration/conftest.py, started once per session (per xdist worker),
not once per test file: `moto_url` here only hands its URL on, so that test
files keep importing their fixtures by name from this module.
"""
import os
import sys

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))

from servers import aws as aws_lab  # noqa: E402
# The in-process module runner is shared with the self-managed backends' tests.
from servers.fixtures import run_module  # noqa: E402,F401  pylint: disable=unused-import

REGION = aws_lab.REGION


# Session scope, so that module-scoped fixtures may use it too; it only
# passes on the URL of the one moto_server.
@pytest.fixture(scope='session')
def moto_url(moto_server):
    return moto_server


@pytest.fixture
def aws_env(monkeypatch, moto_url):
    """The module's environment: moto endpoint, dummy keys, no IMDS, no proxies, no shared AWS files."""
    for name in ('AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN',
                 'http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY',
                 'no_proxy', 'NO_PROXY', 'AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2',
                 'AWS_ENDPOINT_URL_SERVICEDISCOVERY'):
        monkeypatch.delenv(name, raising=False)
    for name, value in aws_lab.moto_env(moto_url).items():
        monkeypatch.setenv(name, value)
    return moto_url


@pytest.fixture
def aws(aws_env):
    """aws(service) -> a boto3 client on moto, for arranging and inspecting state."""
    return lambda service: aws_lab.client(aws_env, service)
