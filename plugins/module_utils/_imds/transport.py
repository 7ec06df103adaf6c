# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""One HTTP exchange with the instance metadata service, bounded by the call's deadline.

Standard library only, Python 3.8+, because it runs on managed hosts.
http.client is used rather than urllib so that no proxy setting can ever
apply and every header sent is one written here. What is worth retrying
comes back as Retry; client.py decides whether and when to retry.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import threading
from urllib.parse import urlsplit

from .errors import (
    ImdsDeadlineError,
    ImdsHopLimitError,
    ImdsResponseError,
    ImdsUnreachableError,
)

USER_AGENT = "cloudmeta.imds"

# Real answers are small (user data is at most 16 KiB); anything far larger
# is not IMDS, and must not exhaust a managed host's memory.
MAX_BODY = 1024 * 1024

_FAIL_FAST_ERRNOS = frozenset(
    code
    for code in (
        getattr(errno, "ENETUNREACH", None),
        getattr(errno, "EHOSTUNREACH", None),
        getattr(errno, "ENETDOWN", None),
        getattr(errno, "EHOSTDOWN", None),
        getattr(errno, "EADDRNOTAVAIL", None),
    )
    if code is not None
)


class _DeadlineReached(Exception):
    """The call's deadline, not the per-read timeout, stopped a socket operation.

    Not an OSError, so that nothing in http.client or here mistakes it for a
    network fault worth retrying.
    """


class _DeadlineIO(object):
    """Socket methods that never wait longer than the call's deadline allows.

    http.client sets one timeout per socket, which bounds each recv but not
    their number: a server sending one header byte every 0.9 s never trips a
    1 s timeout. Here every send and recv gets at most what is left of
    total_timeout, so a response ends by the deadline however it trickles.
    """

    _deadline = None
    _per_read = None

    def _arm_deadline(self, deadline, per_read):
        self._deadline = deadline
        self._per_read = per_read

    def _budget(self):
        """Set the timeout for the next operation; True when the deadline is what limits it."""
        if self._deadline is None:
            return False
        remaining = self._deadline.remaining()
        if remaining <= 0:
            raise _DeadlineReached()
        self.settimeout(min(self._per_read, remaining))
        return remaining < self._per_read

    def _within_deadline(self, operation, *args, **kwargs):
        by_deadline = self._budget()
        try:
            return operation(*args, **kwargs)
        except socket.timeout:
            if by_deadline:
                raise _DeadlineReached()
            raise

    def recv_into(self, *args, **kwargs):
        return self._within_deadline(super(_DeadlineIO, self).recv_into, *args, **kwargs)

    def recv(self, *args, **kwargs):
        return self._within_deadline(super(_DeadlineIO, self).recv, *args, **kwargs)

    def sendall(self, *args, **kwargs):
        return self._within_deadline(super(_DeadlineIO, self).sendall, *args, **kwargs)


class _DeadlineSocket(_DeadlineIO, socket.socket):
    pass


class _DeadlineSSLSocket(_DeadlineIO, ssl.SSLSocket):
    pass


class _HTTPConnection(http.client.HTTPConnection):
    """http.client, with every socket operation bounded by the call's deadline."""

    def __init__(self, host, port, timeout, deadline, per_read):
        super(_HTTPConnection, self).__init__(host, port, timeout=timeout)
        self._imds_deadline = deadline
        self._imds_per_read = per_read

    def connect(self):
        super(_HTTPConnection, self).connect()
        # Same file descriptor, a class whose recv and send keep to the deadline.
        self.sock = _DeadlineSocket(fileno=self.sock.detach())
        self.sock._arm_deadline(self._imds_deadline, self._imds_per_read)


class _HTTPSConnection(http.client.HTTPSConnection):
    """The same for https endpoints; the TLS handshake is bounded by the connect timeout."""

    def __init__(self, host, port, timeout, deadline, per_read):
        context = ssl.create_default_context()
        context.sslsocket_class = _DeadlineSSLSocket
        super(_HTTPSConnection, self).__init__(host, port, timeout=timeout, context=context)
        self._imds_deadline = deadline
        self._imds_per_read = per_read

    def connect(self):
        super(_HTTPSConnection, self).connect()
        self.sock._arm_deadline(self._imds_deadline, self._imds_per_read)


class Retry(Exception):
    """An attempt failed in a way that may pass: 429/5xx, refused, reset, timeout."""

    def __init__(self, reason, status=None):
        super(Retry, self).__init__(reason)
        self.reason = reason
        self.status = status


class Response(object):
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body


class Transport(object):
    """Sends one request to ENDPOINT per exchange() and reads its answer, all within the deadline.

    TIMEOUT bounds each connect and each read, the call's Deadline all of
    them together. Every connection is closed after one answer: real IMDS
    closes them anyway.
    """

    def __init__(self, endpoint, timeout, total_timeout):
        parts = urlsplit(endpoint)
        self.endpoint = endpoint
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.base_path = parts.path + "/latest/"
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._count_lock = threading.Lock()
        self._request_count = 0
        self._answered = False

    @property
    def request_count(self):
        """HTTP requests sent, token PUTs included; a refused connection sent none."""
        with self._count_lock:
            return self._request_count

    def exchange(self, method, path, headers, deadline):
        """The Response to METHOD PATH (relative to /latest/); Retry when it may pass, else an ImdsError."""
        try:
            return self._exchange(method, path, headers, deadline)
        except _DeadlineReached:
            raise self.deadline_reached(method, path)

    def deadline_reached(self, method, path):
        """The error for total_timeout running out before METHOD PATH was answered."""
        return ImdsDeadlineError.reached(
            self.endpoint, "answering %s %s" % (method, self.base_path + path), self.total_timeout
        )

    def _connection(self, deadline):
        """A connection whose connect and every read end by the deadline."""
        timeout = min(self.timeout, max(deadline.remaining(), 0.001))
        kind = _HTTPSConnection if self._https else _HTTPConnection
        return kind(self._host, self._port, timeout, deadline, self.timeout)

    def _exchange(self, method, path, headers, deadline):
        connection = self._connection(deadline)
        timeout = connection.timeout
        deadline_bound = deadline.remaining() <= self.timeout
        try:
            try:
                connection.connect()
            except socket.timeout:
                if deadline_bound:
                    raise _DeadlineReached()
                # Before any answer a silent endpoint means "not on EC2": fail
                # fast. After one, it is IMDS dropping packets under load.
                if self._answered:
                    raise Retry("connect timed out after %s s" % timeout)
                raise ImdsUnreachableError.no_answer(self.endpoint, "connect timed out", timeout)
            except (ConnectionRefusedError, ConnectionResetError) as exc:
                raise Retry(_describe_os_error(exc))
            except socket.gaierror as exc:
                raise ImdsUnreachableError.no_answer(self.endpoint, "cannot resolve host: %s" % exc)
            except OSError as exc:
                if exc.errno in _FAIL_FAST_ERRNOS or isinstance(exc, ssl.SSLError):
                    raise ImdsUnreachableError.no_answer(self.endpoint, _describe_os_error(exc))
                raise Retry(_describe_os_error(exc))
            with self._count_lock:
                self._request_count += 1
            try:
                connection.putrequest(method, self.base_path + path, skip_accept_encoding=True)
                for name, value in headers.items():
                    connection.putheader(name, value)
                connection.putheader("User-Agent", USER_AGENT)
                connection.putheader("Connection", "close")
                if method == "PUT":
                    connection.putheader("Content-Length", "0")
                connection.endheaders()
                response = connection.getresponse()
            except socket.timeout:
                if method == "PUT":
                    raise ImdsHopLimitError.for_endpoint(self.endpoint, timeout)
                raise Retry("read timed out after %s s" % timeout)
            except (OSError, http.client.HTTPException) as exc:
                raise Retry(_describe_os_error(exc))
            self._answered = True
            status = response.status
            if response.getheader("transfer-encoding") is not None:
                # http.client would read chunk after chunk and trailer after
                # trailer; IMDS always sends Content-Length.
                raise ImdsResponseError.chunked(self.endpoint, method, self.base_path + path)
            if status == 429 or 500 <= status <= 599:
                raise Retry("HTTP %d" % status, status)
            header_map = dict((name.lower(), value) for name, value in response.getheaders())
            return Response(status, header_map, self._read_body(response, path))
        finally:
            connection.close()

    def _read_body(self, response, path):
        chunks = []
        size = 0
        try:
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_BODY:
                    raise ImdsResponseError.body_too_large(self.endpoint, path, MAX_BODY)
                chunks.append(chunk)
        except socket.timeout:
            raise Retry("read timed out")
        except (OSError, http.client.HTTPException) as exc:
            raise Retry(_describe_os_error(exc))
        return b"".join(chunks)


def _describe_os_error(exc):
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, http.client.RemoteDisconnected)):
        return "connection reset"
    if isinstance(exc, http.client.HTTPException):
        return "malformed HTTP answer (%s)" % type(exc).__name__
    return getattr(exc, "strerror", None) or type(exc).__name__
