"""Fixtures for the emulator tests: started emulators and a proxy-free HTTP client."""
import collections
from http.client import HTTPConnection
import os
import sys
from urllib.parse import urlsplit

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TOOLS_DIR = os.path.join(REPO_ROOT, "tools")
EMULATOR_SCRIPT = os.path.join(TOOLS_DIR, "imds_emulator.py")
EXAMPLES_DIR = os.path.join(TOOLS_DIR, "examples")
sys.path.insert(0, TOOLS_DIR)


Reply = collections.namedtuple("Reply", "status headers body")


class Http:
    """One connection per request, straight to the emulator: no proxy can get involved."""

    def __init__(self, base_url):
        parts = urlsplit(base_url)
        self.host = parts.hostname
        self.port = parts.port

    # Generous: a loaded machine may take seconds to schedule the emulator's thread.
    def request(self, method, path, headers=None, body=None, timeout=30.0):
        conn = HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    def token(self, ttl=60, path="/latest/api/token"):
        reply = self.request("PUT", path, {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
        assert reply.status == 200, reply
        return reply.body.decode("ascii")

    def get(self, path, token=None, headers=None, method="GET", timeout=30.0):
        headers = dict(headers or {})
        if token is not None:
            headers["X-aws-ec2-metadata-token"] = token
        return self.request(method, path, headers, timeout=timeout)

    def get_v2(self, path):
        """GET with a fresh token, as an IMDSv2 client does."""
        return self.get(path, token=self.token())


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch):
    # botocore and ansible's fetch_url honour proxy variables; the emulator
    # must always be reached directly.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("no_proxy", "*")


@pytest.fixture
def emu(emulator):
    """The built-in instance with default knobs (tokens required)."""
    return emulator


@pytest.fixture
def http(emu):
    return Http(emu.url)


@pytest.fixture
def http_for():
    """http_for(emulator_or_url) -> Http client for another emulator."""
    return lambda target: Http(getattr(target, "url", target))
