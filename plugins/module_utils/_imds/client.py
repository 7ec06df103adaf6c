# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The one IMDS client of the collection: HTTP, tokens, retries, path safety.

Standard library only, Python 3.8+, because it runs on managed hosts.
http.client is used rather than urllib so that no proxy setting can ever
apply and every header sent is one written here.
"""

from __future__ import annotations

import collections
import errno
import http.client
import ipaddress
import os
import random
import re
import socket
import ssl
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from urllib.parse import urlsplit

from ansible_collections.cloudmeta.imds.plugins.module_utils._common.deadline import Deadline
from ansible_collections.cloudmeta.imds.plugins.module_utils._errors import (
    ImdsConfigError,
    ImdsDeadlineError,
    ImdsDisabledError,
    ImdsError,
    ImdsHopLimitError,
    ImdsNotFoundError,
    ImdsPathError,
    ImdsResponseError,
    ImdsThrottledError,
    ImdsTokenError,
    ImdsUnreachableError,
    MODIFY_OPTIONS,
)

DEFAULT_ENDPOINT = "http://169.254.169.254"
DEFAULT_ENDPOINT_IPV6 = "http://[fd00:ec2::254]"

ENV_DISABLED = "AWS_EC2_METADATA_DISABLED"
ENV_ENDPOINT = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
ENV_ENDPOINT_MODE = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"

TOKEN_PATH = "api/token"
TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
USER_AGENT = "cloudmeta.imds"
MAX_TOKEN_TTL = 21600

# Entries below these directories are IAM credentials: their names (the role)
# are listed, their values never fetched. identity-credentials/<kind>/ also
# covers kinds AWS may add after "ec2". Case-insensitive: a server that
# ignores case must not be a way round.
_CREDENTIAL_DIR_RE = re.compile(
    r"\Ameta-data/(?:iam/security-credentials(?:-extended)?|identity-credentials/(?:[^/]+/)+security-credentials)/",
    re.IGNORECASE,
)
PUBLIC_KEYS_DIR = "meta-data/public-keys/"

# Refused or reset connections and 5xx: full-jitter exponential backoff,
# 0.1 s doubling, capped (the AWS SDKs' backoff for transient errors).
BACKOFF_BASE = 0.1
BACKOFF_CAP = 2.0
# 429 is throttling: the AWS SDKs back off longer, with "equal jitter" (half
# the step fixed, half random; AWS SDK for Java 2 standard mode: 1 s base,
# 20 s cap). The fixed half is what makes the default 3 retries span at
# least 0.5 + 1 + 2 = 3.5 s, so a throttling burst of 2 s is always outlived.
THROTTLE_BACKOFF_BASE = 1.0
THROTTLE_BACKOFF_CAP = 20.0
# A token is renewed this long before it expires, so a request never races
# the expiry; capped at a quarter of the TTL so a short token is still used.
TOKEN_RENEW_MARGIN = 60.0

# Real answers are small (user data is at most 16 KiB); anything far larger
# is not IMDS, and must not exhaust a managed host's memory.
MAX_BODY = 1024 * 1024
# The real tree is at most 6 levels deep; a deeper one is a server looping.
MAX_TREE_DEPTH = 16
MAX_REDIRECTS = 3
MAX_PATH_LENGTH = 1024
# The widest real listings (tags, block devices, network interfaces) hold
# tens of entries and a whole instance a few hundred; these bound the
# memory and the requests one read may take, whatever a listing says.
MAX_LISTING_ENTRIES = 1000
MAX_READ_ENTRIES = 5000
MAX_READ_BYTES = 4 * 1024 * 1024
# Redirects are followed only within the tree the request was in.
_TREES = ("meta-data/", "dynamic/", "user-data")

# Tag keys served by IMDS match [0-9a-zA-Z-_+=,.@:]; every other real
# metadata name fits the same set.
# Always used with fullmatch: '$' would also match before a trailing newline.
_SEGMENT_RE = re.compile(r"[0-9A-Za-z_.:,=+@-]+")
_URL_RE = re.compile(r"\A[A-Za-z][A-Za-z0-9+.-]*:/")
_PUBLIC_KEY_ENTRY_RE = re.compile(r"\A([0-9]+)=")
# Tokens go into a header: printable ASCII without spaces, nothing else.
_TOKEN_RE = re.compile(r"[\x21-\x7e]{1,4096}")

_REDIRECT_STATUSES = (301, 302, 303, 307, 308)
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


def validate_path(term):
    """Return TERM as a plain relative metadata path, or raise ImdsPathError.

    Accepted: segments of letters, digits and ``-_.:,=+@`` joined by ``/``,
    with one optional trailing ``/`` meaning "directory". Anything that
    could leave the metadata tree or the host is refused.
    """
    if not isinstance(term, str):
        raise ImdsPathError(term, "it is a %s, not a string" % type(term).__name__)
    if not term:
        raise ImdsPathError(term, "it is empty")
    if len(term) > MAX_PATH_LENGTH:
        raise ImdsPathError(term[:40] + "...", "it is longer than %d characters" % MAX_PATH_LENGTH)
    if _URL_RE.match(term):
        raise ImdsPathError(term, "it is a URL; give a path inside the metadata tree")
    for char in term:
        if char == "/" or _SEGMENT_RE.fullmatch(char):
            continue
        raise ImdsPathError(term, _describe_bad_char(char))
    if term.startswith("/"):
        raise ImdsPathError(term, "it starts with '/'; paths are relative")
    body = term[:-1] if term.endswith("/") else term
    for segment in body.split("/"):
        if segment == "":
            raise ImdsPathError(term, "it has an empty segment ('//')")
        if segment in (".", ".."):
            raise ImdsPathError(term, "it has a '%s' segment" % segment)
    return str(term)


def listing_entries(body, path, endpoint):
    """The entries of a directory listing BODY (bytes) served for PATH, as served.

    One entry per line, blank lines dropped; more than MAX_LISTING_ENTRIES
    is an ImdsResponseError naming PATH. Entries are untrusted: child_of()
    decides which may be requested.
    """
    text = body.decode("utf-8", errors="replace")
    entries = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if len(entries) > MAX_LISTING_ENTRIES:
        raise ImdsResponseError(
            "The instance metadata service at %s listed %d entries in %s, more than the %d "
            "one listing may hold; real instance metadata lists at most tens. Check the "
            "endpoint option." % (endpoint, len(entries), path, MAX_LISTING_ENTRIES)
        )
    return entries


def child_of(directory, entry):
    """(key, path, is_directory) for one listed ENTRY of DIRECTORY, or None if it is not a plain name.

    DIRECTORY is a validated path ending in '/'. The key is the name the
    tree uses; the path is always DIRECTORY plus exactly one plain segment
    (and '/' for a directory), so no listing can lead a read out of its tree.
    public-keys/ lists '0=name', whose contents live under 'public-keys/0/'.
    """
    is_dir = entry.endswith("/")
    name = entry[:-1] if is_dir else entry
    if directory == PUBLIC_KEYS_DIR:
        public_key = _PUBLIC_KEY_ENTRY_RE.match(name)
        if public_key:
            return name, directory + public_key.group(1) + "/", True
    if not _SEGMENT_RE.fullmatch(name) or name in (".", ".."):
        return None
    return name, directory + name + ("/" if is_dir else ""), is_dir


def _describe_bad_char(char):
    if char == "?":
        return "a query string ('?') is not allowed"
    if char == "#":
        return "a fragment ('#') is not allowed"
    if char == "%":
        return "percent-encoding ('%') is not allowed"
    if char == "\\":
        return "a backslash is not allowed"
    if char.isspace():
        return "whitespace is not allowed"
    if ord(char) < 32 or ord(char) == 127:
        return "control character %r is not allowed" % char
    return "character %r is not allowed (use letters, digits and -_.:,=+@)" % char


def is_credential_path(path):
    """True when PATH (relative to /latest/) names a credential value.

    The credential directories themselves (which list role names) are not
    credential values.
    """
    match = _CREDENTIAL_DIR_RE.match(path)
    return match is not None and match.end() < len(path)


def is_credential_dir(path):
    """True when PATH (relative to /latest/) is a directory whose entries are credentials."""
    match = _CREDENTIAL_DIR_RE.match(path)
    return match is not None and match.end() == len(path)


def _config_error(source, value, reason):
    return ImdsConfigError("Invalid %s %r: %s." % (source, value, reason))


def check_endpoint(url, source="endpoint"):
    """Validate an endpoint URL; return it without a trailing slash.

    A path component is kept as a prefix before ``/latest/``, as botocore
    does, so one AWS_EC2_METADATA_SERVICE_ENDPOINT works for both.
    """
    if not isinstance(url, str):
        raise _config_error(source, url, "it must be a string")
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise _config_error(source, url, "it contains whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        # Newer Pythons check bracketed hosts while splitting.
        raise _config_error(source, url, "the bracketed host is not an IPv6 address" if "[" in url else "it is not a URL")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _config_error(source, url, "it must be an http:// or https:// URL")
    netloc = parts.netloc
    if not netloc:
        raise _config_error(source, url, "it has no host")
    if "@" in netloc:
        raise _config_error(source, url, "user information is not allowed")
    if "?" in url or "#" in url:
        raise _config_error(source, url, "a query or fragment is not allowed")
    if netloc.startswith("["):
        closing = netloc.find("]")
        literal = netloc[1:closing] if closing > 0 else ""
        try:
            ipaddress.IPv6Address(literal.split("%", 1)[0])
        except ValueError:
            raise _config_error(source, url, "the bracketed host is not an IPv6 address")
    elif netloc.count(":") > 1:
        raise _config_error(source, url, "an IPv6 address must be in brackets, e.g. http://[fd00:ec2::254]")
    try:
        parts.port
    except ValueError:
        raise _config_error(source, url, "the port is not a number from 0 to 65535")
    if not parts.hostname:
        raise _config_error(source, url, "it has no host")
    prefix = parts.path.rstrip("/")
    if prefix:
        for segment in prefix[1:].split("/"):
            if not _SEGMENT_RE.fullmatch(segment) or segment in (".", ".."):
                raise _config_error(source, url, "its path must be plain segments of letters, digits and -_.:,=+@")
    return "%s://%s%s" % (scheme, netloc, prefix)


def check_endpoint_mode(mode, source="endpoint_mode"):
    """Return 'ipv4' or 'ipv6'; like botocore, any case is accepted."""
    if not isinstance(mode, str) or mode.lower() not in ("ipv4", "ipv6"):
        raise _config_error(source, mode, "use IPv4 or IPv6")
    return mode.lower()


def resolve_endpoint(endpoint=None, endpoint_mode=None, environ=None):
    """The base URL: explicit option, else environment, else mode default."""
    environ = os.environ if environ is None else environ
    if endpoint_mode not in (None, ""):
        mode = check_endpoint_mode(endpoint_mode)
    elif environ.get(ENV_ENDPOINT_MODE):
        mode = check_endpoint_mode(environ[ENV_ENDPOINT_MODE], ENV_ENDPOINT_MODE)
    else:
        mode = "ipv4"
    if endpoint not in (None, ""):
        return check_endpoint(endpoint)
    if environ.get(ENV_ENDPOINT):
        return check_endpoint(environ[ENV_ENDPOINT], ENV_ENDPOINT)
    return DEFAULT_ENDPOINT_IPV6 if mode == "ipv6" else DEFAULT_ENDPOINT


def is_disabled(environ=None):
    environ = os.environ if environ is None else environ
    return str(environ.get(ENV_DISABLED, "false")).lower() == "true"


def check_number(name, value, minimum, maximum, integer=False):
    """Validate one numeric setting; booleans are not numbers here."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _config_error(name, value, "it must be %s" % ("a whole number" if integer else "a number"))
    # Written so that NaN, which compares false with everything, fails too.
    if not minimum <= value <= maximum:
        raise _config_error(name, value, "it must be from %s to %s" % (minimum, maximum))
    return value


def check_timeout(value, name="timeout"):
    if check_number(name, value, 0, 3600) <= 0:
        raise _config_error(name, value, "it must be greater than 0")
    return float(value)


def check_settings(allow_imdsv1, timeout, retries, total_timeout, token_ttl, max_concurrency):
    """Validate the non-endpoint settings; return them normalised, by name."""
    if not isinstance(allow_imdsv1, bool):
        raise _config_error("allow_imdsv1", allow_imdsv1, "it must be true or false")
    return dict(
        allow_imdsv1=allow_imdsv1,
        timeout=check_timeout(timeout),
        # More than 20 retries would only hide a real outage behind backoff.
        retries=check_number("retries", retries, 0, 20, integer=True),
        total_timeout=check_timeout(total_timeout, "total_timeout"),
        token_ttl=check_number("token_ttl", token_ttl, 1, MAX_TOKEN_TTL, integer=True),
        # IMDS throttles per instance; more parallelism than this only earns 429s.
        max_concurrency=check_number("max_concurrency", max_concurrency, 1, 64, integer=True),
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


class _Retry(Exception):
    """An attempt failed in a way that may pass: 429/5xx, refused, reset, timeout."""

    def __init__(self, reason, status=None):
        super(_Retry, self).__init__(reason)
        self.reason = reason
        self.status = status


class _Response(object):
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body


_PENDING = object()
_TRANSIENT_ERRORS = (ImdsThrottledError, ImdsUnreachableError)


class ImdsClient(object):
    """IMDSv2 client; see docs/architecture.md for the contract."""

    def __init__(
        self,
        endpoint=None,
        endpoint_mode=None,
        allow_imdsv1=False,
        timeout=1.0,
        retries=3,
        total_timeout=20.0,
        token_ttl=21600,
        max_concurrency=8,
        environ=None,
        warn=None,
    ):
        environ = os.environ if environ is None else environ
        settings = check_settings(allow_imdsv1, timeout, retries, total_timeout, token_ttl, max_concurrency)
        self.allow_imdsv1 = settings["allow_imdsv1"]
        self.timeout = settings["timeout"]
        self.retries = settings["retries"]
        self.total_timeout = settings["total_timeout"]
        self.token_ttl = settings["token_ttl"]
        self.max_concurrency = settings["max_concurrency"]
        self.disabled = is_disabled(environ)
        self.endpoint = resolve_endpoint(endpoint, endpoint_mode, environ)
        parts = urlsplit(self.endpoint)
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._base_path = parts.path + "/latest/"
        self._warn = warn
        self.warnings = []

        self._token_lock = threading.Lock()
        self._token = None
        self._token_renew_at = 0.0
        # (deadline, error) of the last failed token request; see _current_token.
        self._token_failure = None
        self._imdsv1 = False
        self._imdsv1_reason = None

        self._count_lock = threading.Lock()
        self._request_count = 0
        self._answered = False
        # monotonic time until which the service throttles this instance (429).
        self._throttled_until = 0.0

    # ----------------------------------------------------------------- public

    @property
    def request_count(self):
        """HTTP requests sent, token PUTs included; a refused connection sent none."""
        with self._count_lock:
            return self._request_count

    @property
    def imds_version(self):
        """'v2' once a token is in use, 'v1' after a fallback, None before any request."""
        if self._imdsv1:
            return "v1"
        return "v2" if self._token is not None else None

    def get(self, path, allow_credentials=False):
        """The body of PATH (relative to /latest/) as bytes."""
        path = self._checked(path, allow_credentials)
        return self._get(path, self._start())

    def get_text(self, path, allow_credentials=False):
        return self.get(path, allow_credentials).decode("utf-8", errors="replace")

    def list_dir(self, path):
        """Entries of a directory as served; sub-directories end in '/'."""
        path = self._checked(_as_directory(path), False)
        return self._list(path, self._start())

    def get_many(self, paths, allow_credentials=False):
        """{path: bytes or None (404)}, fetched in parallel under one deadline."""
        return self.read(paths, allow_credentials=allow_credentials).leaves

    def read_tree(self, path):
        """Read a directory recursively, in parallel; see docs/architecture.md."""
        root_path = self._checked(_as_directory(path), False)
        return _Crawl(self, self._start(), missing_root_raises=True).run((), (root_path,), ()).trees[root_path]

    def read(self, leaves=(), trees=(), listings=(), allow_credentials=False):
        """Leaves, whole directories and plain listings in one parallel read, under ONE deadline.

        Returns a ReadResult of three dicts keyed by the paths as given, in
        their order: leaves -> bytes or None (404), trees -> dict or None,
        listings -> [entries] or None. This is what the module and the lookup
        use, so total_timeout bounds everything a task reads.
        """
        leaf_paths = _unique(self._checked(path, allow_credentials) for path in leaves)
        tree_paths = _unique(self._checked(_as_directory(path), False) for path in trees)
        listing_paths = _unique(self._checked(_as_directory(path), False) for path in listings)
        deadline = self._start()
        if not leaf_paths and not tree_paths and not listing_paths:
            return ReadResult({}, {}, {})
        return _Crawl(self, deadline).run(leaf_paths, tree_paths, listing_paths)

    # ------------------------------------------------------------ internals

    def _start(self):
        if self.disabled:
            raise ImdsDisabledError.by_environment()
        return Deadline(self.total_timeout)

    def _checked(self, path, allow_credentials):
        path = validate_path(path)
        if not allow_credentials and is_credential_path(path):
            raise ImdsPathError(
                path,
                "it names an IAM credential value, which cloudmeta.imds never reads",
                "Let the AWS SDK read credentials from the instance profile; list the role "
                "name with 'iam/security-credentials/' or read 'iam/info'.",
            )
        return path

    def _say(self, message):
        with self._count_lock:
            if message in self.warnings:
                return
            self.warnings.append(message)
        if self._warn is not None:
            self._warn(message)

    def _list(self, path, deadline):
        return listing_entries(self._get(path, deadline), path, self.endpoint)

    def _get(self, path, deadline):
        renewed = False
        redirects = 0
        while True:
            token = self._current_token(deadline)
            headers = {TOKEN_HEADER: token} if token is not None else {}
            response = self._request("GET", path, headers, deadline)
            status = response.status
            if status == 200:
                return response.body
            if status == 404:
                raise ImdsNotFoundError(path, self.endpoint)
            if status == 401:
                if token is None:
                    raise ImdsTokenError.required(self.endpoint, path, self._imdsv1_reason)
                if renewed:
                    raise ImdsTokenError.rejected(self.endpoint, path)
                renewed = True
                self._drop_token(token)
                continue
            if status == 403:
                raise ImdsDisabledError.on_instance(
                    self.endpoint, " for %s; a proxy adding X-Forwarded-For causes the same answer" % path
                )
            if status in _REDIRECT_STATUSES and redirects < MAX_REDIRECTS:
                redirects += 1
                path = self._redirect_target(path, response.headers.get("location"))
                continue
            raise ImdsResponseError(
                "The instance metadata service at %s answered HTTP %d for %s, which IMDS does not "
                "send for a metadata read. Check the endpoint option." % (self.endpoint, status, path)
            )

    def _redirect_target(self, path, location):
        """The one redirect policy: same endpoint, same tree, a plain path, never credentials.

        A redirect from meta-data/ may only lead within meta-data/ (likewise
        dynamic/ and user-data): never to the token path, which a GET would
        reach carrying the token, nor from one tree into another.
        """
        refused = ImdsResponseError(
            "The instance metadata service at %s redirected %s somewhere else; only redirects "
            "within the same endpoint and the same metadata tree (%s) are followed. Check the "
            "endpoint option." % (self.endpoint, path, _tree_of(path) or "meta-data/, dynamic/, user-data")
        )
        if not location:
            raise refused
        parts = urlsplit(location)
        if parts.scheme or parts.netloc:
            here = urlsplit(self.endpoint)
            if parts.scheme.lower() != here.scheme or parts.netloc.lower() != here.netloc.lower():
                raise refused
        target = parts.path
        if parts.query or parts.fragment or not target.startswith(self._base_path):
            raise refused
        try:
            checked = self._checked(target[len(self._base_path):], False)
        except ImdsPathError:
            raise refused
        if _tree_of(checked) is None or _tree_of(checked) != _tree_of(path):
            raise refused
        return checked

    # ----------------------------------------------------------------- token

    def _current_token(self, deadline):
        with self._token_lock:
            if self._imdsv1:
                return None
            if self._token_failure is not None:
                failed_under, error = self._token_failure
                # What the instance is (IMDS off, v1 only, hop limit) does not
                # change within a run: fail again without a PUT. A transient
                # failure is shared only by the threads of the same call.
                if failed_under is deadline or not isinstance(error, _TRANSIENT_ERRORS):
                    raise error
            if self._token is not None and time.monotonic() < self._token_renew_at:
                return self._token
            self._token = None
            try:
                self._fetch_token(deadline)
                self._token_failure = None
            except ImdsError as exc:
                # Threads waiting for the token fail the same way, without
                # one more PUT each.
                self._token_failure = (deadline, exc)
                raise
            return self._token

    def _drop_token(self, token):
        with self._token_lock:
            if self._token == token:
                self._token = None

    def _fetch_token(self, deadline):
        sent_at = time.monotonic()
        try:
            response = self._request("PUT", TOKEN_PATH, {TOKEN_TTL_HEADER: str(self.token_ttl)}, deadline)
        except ImdsHopLimitError as exc:
            if not self.allow_imdsv1:
                raise
            self._fall_back_to_v1(exc.message)
            return
        status = response.status
        if status == 200:
            token = response.body.decode("ascii", errors="replace")
            if not _TOKEN_RE.fullmatch(token):
                raise ImdsResponseError(
                    "The instance metadata service at %s returned an unusable token (not printable "
                    "ASCII). Check the endpoint option." % self.endpoint
                )
            ttl = self._granted_ttl(response.headers.get(TOKEN_TTL_HEADER.lower()))
            self._token = token
            self._token_renew_at = sent_at + ttl - min(TOKEN_RENEW_MARGIN, ttl / 4.0)
        elif status in (403, 404, 405) and self.allow_imdsv1:
            self._fall_back_to_v1("PUT /latest/api/token answered %d" % status)
        elif status == 403:
            raise ImdsDisabledError.on_instance(self.endpoint, " to the IMDSv2 token request")
        elif status in (404, 405):
            raise ImdsTokenError.v2_unsupported(self.endpoint, status)
        elif status == 400:
            raise ImdsTokenError.bad_request(self.endpoint, self.token_ttl)
        else:
            raise ImdsTokenError.unexpected(self.endpoint, status)

    def _granted_ttl(self, header):
        """The TTL the server granted, when it says so and it is shorter."""
        try:
            granted = int(header)
        except (TypeError, ValueError):
            return self.token_ttl
        return granted if 1 <= granted < self.token_ttl else self.token_ttl

    def _fall_back_to_v1(self, reason):
        self._imdsv1 = True
        self._imdsv1_reason = reason
        self._say(
            "IMDSv2 is not available at %s (%s); using IMDSv1 because allow_imdsv1 is true. "
            "IMDSv1 is open to SSRF attacks: enable IMDSv2 with: %s --http-tokens required"
            % (self.endpoint, reason.rstrip("."), MODIFY_OPTIONS)
        )

    # ------------------------------------------------------------------ HTTP

    def _request(self, method, path, headers, deadline):
        """One request with retries under the deadline; a final status or an error."""
        attempts = 0
        last = None
        while True:
            remaining = deadline.remaining()
            if remaining <= 0:
                break
            if not self._wait_out_throttling(deadline):
                if last is None:
                    raise ImdsThrottledError.until_deadline(self.endpoint, self.total_timeout)
                break
            attempts += 1
            try:
                return self._attempt(method, path, headers, deadline)
            except _Retry as retry:
                last = retry
            if attempts > self.retries:
                break
            delay = self._backoff(last, attempts)
            if delay >= deadline.remaining():
                break
            time.sleep(delay)
        if last is None:
            raise ImdsDeadlineError.reached(
                self.endpoint, "answering %s %s" % (method, self._base_path + path), self.total_timeout
            )
        if last.status is not None:
            raise ImdsThrottledError.gave_up(self.endpoint, last.status, attempts, deadline.elapsed())
        raise ImdsUnreachableError.gave_up(self.endpoint, last.reason, attempts, deadline.elapsed())

    def _backoff(self, retry, attempts):
        """Seconds to wait before attempt ATTEMPTS + 1; a 429 also slows every other thread."""
        if retry.status != 429:
            return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempts - 1)))
        step = min(THROTTLE_BACKOFF_CAP, THROTTLE_BACKOFF_BASE * 2 ** (attempts - 1))
        delay = step / 2.0 + random.uniform(0, step / 2.0)
        with self._count_lock:
            self._throttled_until = max(self._throttled_until, time.monotonic() + delay)
        return delay

    def _wait_out_throttling(self, deadline):
        """Hold a request while the service throttles the instance; False if that outlasts the deadline.

        IMDS throttles per instance, so when one request is told 429 the
        others in flight would be too: they wait as long as it does.
        """
        with self._count_lock:
            wait_for = self._throttled_until - time.monotonic()
        if wait_for <= 0:
            return True
        if wait_for >= deadline.remaining():
            return False
        time.sleep(wait_for)
        return True

    def _connection(self, deadline):
        """A connection whose connect and every read end by the deadline."""
        timeout = min(self.timeout, max(deadline.remaining(), 0.001))
        kind = _HTTPSConnection if self._https else _HTTPConnection
        return kind(self._host, self._port, timeout, deadline, self.timeout)

    def _attempt(self, method, path, headers, deadline):
        what = "%s %s" % (method, self._base_path + path)
        try:
            return self._exchange(method, path, headers, deadline)
        except _DeadlineReached:
            raise ImdsDeadlineError.reached(self.endpoint, "answering " + what, self.total_timeout)

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
                    raise _Retry("connect timed out after %s s" % timeout)
                raise ImdsUnreachableError.no_answer(self.endpoint, "connect timed out", timeout)
            except (ConnectionRefusedError, ConnectionResetError) as exc:
                raise _Retry(_describe_os_error(exc))
            except socket.gaierror as exc:
                raise ImdsUnreachableError.no_answer(self.endpoint, "cannot resolve host: %s" % exc)
            except OSError as exc:
                if exc.errno in _FAIL_FAST_ERRNOS or isinstance(exc, ssl.SSLError):
                    raise ImdsUnreachableError.no_answer(self.endpoint, _describe_os_error(exc))
                raise _Retry(_describe_os_error(exc))
            with self._count_lock:
                self._request_count += 1
            try:
                connection.putrequest(method, self._base_path + path, skip_accept_encoding=True)
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
                raise _Retry("read timed out after %s s" % timeout)
            except (OSError, http.client.HTTPException) as exc:
                raise _Retry(_describe_os_error(exc))
            self._answered = True
            status = response.status
            if response.getheader("transfer-encoding") is not None:
                # http.client would read chunk after chunk and trailer after
                # trailer; IMDS always sends Content-Length.
                raise ImdsResponseError(
                    "The instance metadata service at %s answered %s %s with Transfer-Encoding "
                    "(chunked), which IMDS never sends. Check the endpoint option."
                    % (self.endpoint, method, self._base_path + path)
                )
            if status == 429 or 500 <= status <= 599:
                raise _Retry("HTTP %d" % status, status)
            header_map = dict((name.lower(), value) for name, value in response.getheaders())
            return _Response(status, header_map, self._read_body(response, path))
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
                    raise ImdsResponseError(
                        "The answer of %s for %s is larger than %d bytes; real instance metadata is "
                        "far smaller. Check the endpoint option." % (self.endpoint, path, MAX_BODY)
                    )
                chunks.append(chunk)
        except socket.timeout:
            raise _Retry("read timed out")
        except (OSError, http.client.HTTPException) as exc:
            raise _Retry(_describe_os_error(exc))
        return b"".join(chunks)


ReadResult = collections.namedtuple("ReadResult", ["leaves", "trees", "listings"])

# kind: "leaf" (a body), "dir" (a listing, then its entries) or "listing" (entries only).
_Job = collections.namedtuple("_Job", ["kind", "path", "parent", "key", "node", "depth", "root"])


class _Crawl(object):
    """Breadth-first parallel read: the calling thread plans, workers only fetch.

    Bounded in every direction, whatever the listings say: at most
    max_concurrency requests in flight, planned work waits in a queue that
    MAX_READ_ENTRIES bounds, MAX_READ_BYTES bounds what is kept, and nothing
    new is sent once the deadline has passed. Workers never wait for other
    workers, so the pool cannot deadlock.
    """

    def __init__(self, client, deadline, missing_root_raises=False):
        self.client = client
        self.deadline = deadline
        self.missing_root_raises = missing_root_raises
        self.queue = collections.deque()
        self.running = {}
        self.entries = 0
        self.size = 0

    def run(self, leaf_paths, tree_paths, listing_paths):
        leaves = dict((path, None) for path in leaf_paths)
        trees = dict((path, {}) for path in tree_paths)
        listings = dict((path, None) for path in listing_paths)
        for path in leaf_paths:
            self.queue.append(_Job("leaf", path, leaves, path, None, 0, True))
        for path in tree_paths:
            self.queue.append(_Job("dir", path, trees, path, trees[path], 0, True))
        for path in listing_paths:
            self.queue.append(_Job("listing", path, listings, path, None, 0, True))
        # A tree plans more work as it goes; otherwise no more threads than jobs.
        workers = self.client.max_concurrency if tree_paths else min(self.client.max_concurrency, len(self.queue))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                while self.queue or self.running:
                    while self.queue and len(self.running) < workers:
                        job = self.queue.popleft()
                        if self.deadline.remaining() <= 0:
                            raise ImdsDeadlineError.reached(
                                self.client.endpoint, "reading %s" % job.path, self.client.total_timeout
                            )
                        fetch = self.client._get if job.kind == "leaf" else self.client._list
                        self.running[pool.submit(fetch, job.path, self.deadline)] = job
                    done = wait(list(self.running), return_when=FIRST_COMPLETED).done
                    for future in done:
                        self._collect(self.running.pop(future), future)
            except BaseException:
                _cancel(self.running)
                self.queue.clear()
                raise
        return ReadResult(leaves, trees, listings)

    def _collect(self, job, future):
        try:
            result = future.result()
        except ImdsNotFoundError:
            if job.root and job.kind == "dir" and self.missing_root_raises:
                raise
            if job.root:
                job.parent[job.key] = None
            else:
                # Gone while being read (a spot notice withdrawn, a tag removed).
                job.parent.pop(job.key, None)
            return
        self._count_bytes(job.path, result)
        if job.kind == "leaf":
            job.parent[job.key] = result if job.root else result.decode("utf-8", errors="replace")
            return
        self._count_entries(job.path, len(result))
        if job.kind == "listing":
            job.parent[job.key] = result
            return
        for entry in result:
            self._plan_entry(job, entry)

    def _count_bytes(self, path, result):
        self.size += len(result) if isinstance(result, bytes) else sum(len(entry) + 1 for entry in result)
        if self.size > MAX_READ_BYTES:
            raise ImdsResponseError(
                "The instance metadata read by %s from %s passed %d bytes at %s; a whole real "
                "instance is far smaller. Check the endpoint option."
                % (USER_AGENT, self.client.endpoint, MAX_READ_BYTES, path)
            )

    def _count_entries(self, path, count):
        self.entries += count
        if self.entries > MAX_READ_ENTRIES:
            raise ImdsResponseError(
                "The instance metadata service at %s listed more than %d entries in one read "
                "(passed at %s); a whole real instance has a few hundred. Check the endpoint option."
                % (self.client.endpoint, MAX_READ_ENTRIES, path)
            )

    def _plan(self, kind, path, parent, key, node, depth):
        self.queue.append(_Job(kind, path, parent, key, node, depth, False))

    def _plan_dir(self, path, parent, key, depth):
        if depth > MAX_TREE_DEPTH:
            raise ImdsResponseError(
                "The metadata tree at %s is deeper than %d levels below the starting directory "
                "(at %s); real instance metadata is not. Check the endpoint option."
                % (self.client.endpoint, MAX_TREE_DEPTH, path)
            )
        parent[key] = {}
        self._plan("dir", path, parent, key, parent[key], depth)

    def _plan_entry(self, job, entry):
        child = child_of(job.path, entry)
        if child is None:
            self.client._say(
                "Skipped metadata entry %r under %s: it is not a plain path segment." % (entry[:80], job.path)
            )
            return
        key, path, is_dir = child
        if key in job.node:
            return
        if is_credential_dir(job.path):
            job.node[key] = None
        elif is_dir:
            self._plan_dir(path, job.node, key, job.depth + 1)
        else:
            job.node[key] = _PENDING
            self._plan("leaf", path, job.node, key, None, job.depth)


def _as_directory(path):
    if not isinstance(path, str) or not path or path.endswith("/"):
        return path
    return path + "/"


def _tree_of(path):
    """'meta-data/', 'dynamic/' or 'user-data' for a path inside that tree, else None."""
    for tree in _TREES:
        if path.startswith(tree) if tree.endswith("/") else path in (tree, tree + "/"):
            return tree
    return None


def _unique(paths):
    unique = []
    for path in paths:
        if path not in unique:
            unique.append(path)
    return unique


def _cancel(futures):
    for future in futures:
        future.cancel()


def _describe_os_error(exc):
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, http.client.RemoteDisconnected)):
        return "connection reset"
    if isinstance(exc, http.client.HTTPException):
        return "malformed HTTP answer (%s)" % type(exc).__name__
    return getattr(exc, "strerror", None) or type(exc).__name__
