"""Fixtures for the AWS registration modules: moto_server on 127.0.0.1 (and the shared module runner).

The modules reach moto only through AWS_ENDPOINT_URL, read by botocore
itself, exactly as they do under the role's tests; keys are dummies from the
environment and IMDS is switched off, so nothing leaves loopback.
"""
import os
import sys

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))

import aws_lab  # noqa: E402
# The in-process module runner is shared with the self-managed backends' tests.
from servers.fixtures import run_module  # noqa: E402,F401  pylint: disable=unused-import

REGION = aws_lab.REGION


@pytest.fixture(scope='session')
def moto_url(tmp_path_factory):
    log = str(tmp_path_factory.mktemp('moto') / 'moto.log')
    proc, url = aws_lab.start_moto(log_path=log)
    yield url
    proc.terminate()
    proc.wait(10)


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
