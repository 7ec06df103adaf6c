"""Fixtures for the AWS registration modules: moto_server on 127.0.0.1 and an in-process module runner.

The modules reach moto only through AWS_ENDPOINT_URL, read by botocore
itself, exactly as they do under the role's tests; keys are dummies from the
environment and IMDS is switched off, so nothing leaves loopback.
"""
import json
import os
import sys
import time

import pytest

from ansible.module_utils.testing import patch_module_args

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))

import aws_lab  # noqa: E402

REGION = aws_lab.REGION


class ModuleResult(dict):
    """The module's JSON result, plus how long the run took."""

    seconds = 0.0

    @property
    def failed(self):
        return bool(self.get('failed'))


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
def run_module(capsys):
    """run_module(module, **args) -> ModuleResult; `_check_mode=True` runs it in check mode."""

    def _run(module, _check_mode=False, **args):
        if _check_mode:
            args['_ansible_check_mode'] = True
        capsys.readouterr()
        started = time.monotonic()
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        result = ModuleResult(json.loads(capsys.readouterr().out))
        result.seconds = time.monotonic() - started
        return result

    return _run


@pytest.fixture
def aws(aws_env):
    """aws(service) -> a boto3 client on moto, for arranging and inspecting state."""
    return lambda service: aws_lab.client(aws_env, service)
