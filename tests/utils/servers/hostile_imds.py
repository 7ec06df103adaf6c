"""A hostile instance metadata service: the emulator's instance, with one misbehaviour switched on.

Standard library only. It speaks HTTP byte by byte (no http.server), so it
can send what no well-behaved server sends: a status line followed by one
header byte every few tenths of a second, chunked answers with endless
trailers, endless bodies, and the like. Every request it receives is
recorded (method and path), so a test can check that the client asked for
nothing outside the metadata tree.

    with HostileImds('slow_headers', on='meta-data') as server:
        ...  # endpoint=server.url
        server.paths()   # ['/latest/api/token', '/latest/dynamic/...']

Misbehaviours (MODES):

slow_headers      GETs: a status line, then one header byte every `interval` s, forever
slow_token        the same for the token PUT
chunked_trailers  GETs: a chunked answer whose trailer lines never end
endless_body      GETs: no Content-Length and a body that never ends
wide              every directory lists `width` sub-directories (d0/ ... dN/), at any depth
deep              every directory lists one more sub-directory, without end
gzip_bomb         user-data is `size` bytes of zeros, gzip-compressed
throttle_burst    429 to every request for the first `seconds` s after the first request
redirect_to_token GETs of meta-data/ and dynamic/ paths answer 301 to /latest/api/token
trailing_newlines identifiers (instance-id, local-ipv4, the identity document's) end in '\n'
none              the emulator's instance, served correctly

The misbehaviour applies to requests whose path (relative to /latest/)
starts with `on` (default: every path), except that the token request is
always answered correctly unless the mode is about the token.
"""

import gzip
import io
import json
import os
import socketserver
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tools"))

import imds_emulator  # noqa: E402  pylint: disable=wrong-import-position

MODES = (
    "none", "slow_headers", "slow_token", "chunked_trailers", "endless_body", "wide", "deep",
    "gzip_bomb", "throttle_burst", "redirect_to_token", "trailing_newlines",
)

TOKEN = b"AQAAAHostileImdsToken0000000000000000000000000000000000=="
_STOP_AFTER = 600.0  # no misbehaviour outlives a stuck test by more than this


def trailing_newline_instance():
    """The emulator's instance with its identifiers served as 'value\\n'."""
    data = imds_emulator.builtin_instance()
    meta = data["meta-data"]
    for name in ("instance-id", "local-ipv4", "instance-type", "ami-id"):
        meta[name] = str(meta[name]) + "\n"
    meta["placement"]["availability-zone"] += "\n"
    meta["placement"]["region"] += "\n"
    document = data["dynamic"]["instance-identity"]["document"]
    for key in ("instanceId", "privateIp", "region", "availabilityZone", "accountId"):
        document[key] = document[key] + "\n"
    return data


class HostileImds(object):
    def __init__(self, mode, on="", interval=0.3, width=3000, size=100 * 1024 * 1024, seconds=2.0, data=None):
        if mode not in MODES:
            raise ValueError("unknown mode %r; one of %s" % (mode, ", ".join(MODES)))
        self.mode = mode
        self.on = on
        self.interval = interval
        self.width = width
        self.size = size
        self.seconds = seconds
        if data is None and mode == "trailing_newlines":
            data = trailing_newline_instance()
        if mode == "gzip_bomb":
            data = data or imds_emulator.builtin_instance()
            data["user-data"] = None
            self._bomb = _gzip_zeros(size)
        self._emulator = imds_emulator.Emulator(data)
        self._lock = threading.Lock()
        self._requests = []
        self._first_request_at = None
        self._stopping = threading.Event()
        self._server = None
        self.url = None

    # ------------------------------------------------------------ lifecycle

    def start(self):
        hostile = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                hostile._serve(self.request)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        server.daemon_threads = True
        server.allow_reuse_address = True
        server.server_bind()
        server.server_activate()
        self._server = server
        self.url = "http://127.0.0.1:%d" % server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self):
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # ------------------------------------------------------------- records

    def requests(self):
        """[(method, path)] in the order received."""
        with self._lock:
            return list(self._requests)

    def paths(self):
        return [path for _method, path in self.requests()]

    # --------------------------------------------------------------- serving

    def _serve(self, sock):
        sock.settimeout(5)
        try:
            method, path = _read_request(sock)
        except (OSError, ValueError):
            return
        with self._lock:
            self._requests.append((method, path))
            if self._first_request_at is None:
                self._first_request_at = time.monotonic()
            first = self._first_request_at
        try:
            self._answer(sock, method, path, first)
        except OSError:
            pass  # the client hung up, which is what a deadline does

    def _answer(self, sock, method, path, first):
        relative = path[len("/latest/"):] if path.startswith("/latest/") else None
        is_token = relative == "api/token"
        applies = relative is not None and relative.startswith(self.on)
        mode = self.mode
        if mode == "throttle_burst" and time.monotonic() - first < self.seconds:
            return _send(sock, 429, b"Too Many Requests")
        if is_token:
            if method != "PUT":
                return _send(sock, 405, b"", [("Allow", "OPTIONS, PUT")])
            if mode == "slow_token":
                return self._trickle_headers(sock)
            return _send(sock, 200, TOKEN, [("X-aws-ec2-metadata-token-ttl-seconds", "21600")])
        if method != "GET" or relative is None:
            return _send(sock, 404, b"")
        if applies and mode == "slow_headers":
            return self._trickle_headers(sock)
        if applies and mode == "chunked_trailers":
            return self._endless_trailers(sock)
        if applies and mode == "endless_body":
            return self._endless_body(sock)
        if applies and mode == "redirect_to_token" and relative.startswith(("meta-data/", "dynamic/")):
            return _send(sock, 301, b"", [("Location", "/latest/api/token")])
        if applies and mode in ("wide", "deep") and relative.endswith("/"):
            return _send(sock, 200, self._generated_listing(relative))
        if mode == "gzip_bomb" and relative.rstrip("/") == "user-data":
            return _send(sock, 200, self._bomb, [("Content-Type", "application/octet-stream")])
        found = self._emulator._resolve(path, self._emulator.knobs)  # pylint: disable=protected-access
        if found is None:
            return _send(sock, 404, imds_emulator.error_page(404))
        content_type, body = found
        return _send(sock, 200, body, [("Content-Type", content_type)])

    def _generated_listing(self, relative):
        if self.mode == "deep":
            return b"level/\ninstance-id"
        return "\n".join("d%d/" % index for index in range(self.width)).encode()

    def _trickle_headers(self, sock):
        sock.sendall(b"HTTP/1.1 200 OK\r\n")
        header = b"X-Slow: " + b"a" * 40 + b"\r\n"
        while not self._stopping.is_set():
            for byte in header:
                if self._stopping.wait(self.interval):
                    return
                sock.sendall(bytes([byte]))

    def _endless_trailers(self, sock):
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
                     b"5\r\nhello\r\n0\r\n")
        started = time.monotonic()
        while not self._stopping.is_set() and time.monotonic() - started < _STOP_AFTER:
            sock.sendall(b"X-Trailer: more\r\n")
            self._stopping.wait(0.01)

    def _endless_body(self, sock):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        block = b"x" * 65536
        started = time.monotonic()
        while not self._stopping.is_set() and time.monotonic() - started < _STOP_AFTER:
            sock.sendall(block)


def _read_request(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ValueError("closed before the request ended")
        data += chunk
        if len(data) > 65536:
            raise ValueError("request too large")
    method, path, _version = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    return method, path


def _send(sock, status, body, headers=()):
    lines = ["HTTP/1.1 %d %s" % (status, imds_emulator.REASONS.get(status, "Status"))]
    lines.extend("%s: %s" % header for header in headers)
    lines.append("Content-Length: %d" % len(body))
    lines.append("Connection: close")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def _gzip_zeros(size):
    """gzip of SIZE zero bytes, built without holding SIZE bytes."""
    out = io.BytesIO()
    block = b"\0" * (1024 * 1024)
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as stream:
        left = size
        while left > 0:
            stream.write(block[:min(left, len(block))])
            left -= len(block)
    return out.getvalue()


def main(argv=None):
    """Run one misbehaviour on 127.0.0.1 until interrupted; prints the URL."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--on", default="")
    args = parser.parse_args(argv)
    with HostileImds(args.mode, on=args.on) as server:
        print(server.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print(json.dumps(server.requests()))


if __name__ == "__main__":
    main()
