"""Fixtures for the IMDS client tests: the emulator, in-process, on 127.0.0.1.

Every client built here gets an empty environment mapping, so that
AWS_EC2_METADATA_* variables of the shell that runs the tests cannot change
what is tested, and an explicit loopback endpoint, so that no test can reach
a real metadata address.
"""
import functools
import http.server
import os
import sys
import threading

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))

import imds_emulator  # noqa: E402


class CountingEmulator(imds_emulator.Emulator):
    """The emulator, plus the largest number of requests it served at once."""

    def __init__(self, *args, **kwargs):
        super(CountingEmulator, self).__init__(*args, **kwargs)
        self._inflight_lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        self.withdrawn = set()

    def _handle(self, handler):
        with self._inflight_lock:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        handler.cloudmeta_counted = True
        try:
            super(CountingEmulator, self)._handle(handler)
        finally:
            self._done(handler)

    def _send(self, handler, response):
        # A request stops counting once its answer goes out: the client may
        # then send the next one before this thread gets to run again (a
        # loaded machine made the count one too high).
        self._done(handler)
        super(CountingEmulator, self)._send(handler, response)

    def _done(self, handler):
        with self._inflight_lock:
            if getattr(handler, 'cloudmeta_counted', False):
                handler.cloudmeta_counted = False
                self.inflight -= 1

    def _resolve(self, path, knobs):
        # A listed item that has gone by the time it is fetched, as a spot
        # notice or a tag can.
        if path in self.withdrawn:
            return None
        return super(CountingEmulator, self)._resolve(path, knobs)


@pytest.fixture
def make_emulator(make_emulator):
    """The shared factory (tests/integration/conftest.py), making CountingEmulators."""
    return functools.partial(make_emulator, emulator_class=CountingEmulator)


@pytest.fixture
def make_client():
    """make_client(emulator_or_url, **options) -> ImdsClient with warnings collected."""

    # Imported here: the collection loader is set up after conftest import.
    from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.client import ImdsClient

    def _make(target, **options):
        url = getattr(target, "url", target)
        options.setdefault("environ", {})
        options.setdefault("warn", None)
        # Per attempt. The 1 s default times out on a loaded machine, and the
        # retry breaks exact request counts; tests about timeouts set their own.
        options.setdefault("timeout", 10.0)
        return ImdsClient(endpoint=url, **options)

    return _make


class _ScriptedHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def _dispatch(self):
        server = self.server
        with server.lock:
            server.seen.append((self.command, self.path, dict(self.headers)))
        answer = server.script(self.command, self.path, self.headers)
        if answer is None:
            # Hang up without a status line, as a service that is still booting can.
            self.close_connection = True
            return
        status, headers, body = answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    do_GET = do_PUT = _dispatch


@pytest.fixture
def make_fake_imds():
    """make_fake_imds(script, host='127.0.0.1') -> server with .url and .seen.

    script(method, path, headers) returns (status, headers, body), or None
    to close the connection without answering. For answers the emulator
    does not give on purpose (redirects, odd statuses, oversized bodies).
    """
    servers = []

    def _make(script, host="127.0.0.1"):
        server = http.server.ThreadingHTTPServer((host, 0), _ScriptedHandler)
        server.daemon_threads = True
        server.script = script
        server.seen = []
        server.lock = threading.Lock()
        server.url = "http://%s:%d" % (host, server.server_address[1])
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield _make
    for server in servers:
        server.shutdown()
        server.server_close()
