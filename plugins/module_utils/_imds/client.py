# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The one IMDS client of the collection: tokens, retries, and the parallel crawler.

Standard library only, Python 3.8+, because it runs on managed hosts.
Each request goes out through transport.py; which paths may be requested
is decided in paths.py, the settings are validated in settings.py.
"""

from __future__ import annotations

import collections
import os
import re
import threading
import time

from .._common.backoff import EQUAL, FULL, Backoff
from .._common.deadline import Deadline
from .errors import (
    ImdsDeadlineError,
    ImdsDisabledError,
    ImdsError,
    ImdsHopLimitError,
    ImdsNotFoundError,
    ImdsResponseError,
    ImdsThrottledError,
    ImdsTokenError,
    ImdsUnreachableError,
    MODIFY_OPTIONS,
)
from .paths import (
    as_directory,
    checked_path,
    child_of,
    is_credential_dir,
    listing_entries,
    redirect_target,
)
from .settings import ImdsSettings, is_disabled
from .transport import USER_AGENT, Retry, Transport

TOKEN_PATH = "api/token"
TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"

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
# Stateless here: each request counts its own attempts.
TRANSIENT_BACKOFF = Backoff(first=BACKOFF_BASE, cap=BACKOFF_CAP, jitter=FULL)
THROTTLE_BACKOFF = Backoff(first=THROTTLE_BACKOFF_BASE, cap=THROTTLE_BACKOFF_CAP, jitter=EQUAL)
# A token is renewed this long before it expires, so a request never races
# the expiry; capped at a quarter of the TTL so a short token is still used.
TOKEN_RENEW_MARGIN = 60.0

# The real tree is at most 6 levels deep; a deeper one is a server looping.
MAX_TREE_DEPTH = 16
MAX_REDIRECTS = 3
# A whole real instance lists a few hundred entries; these bound the memory
# and the requests one read may take, whatever the listings say.
MAX_READ_ENTRIES = 5000
MAX_READ_BYTES = 4 * 1024 * 1024

# Tokens go into a header: printable ASCII without spaces, nothing else.
_TOKEN_RE = re.compile(r"[\x21-\x7e]{1,4096}")

_REDIRECT_STATUSES = (301, 302, 303, 307, 308)

_PENDING = object()
_TRANSIENT_ERRORS = (ImdsThrottledError, ImdsUnreachableError)


class ImdsClient(object):
    """IMDSv2 client; see docs/architecture.md for the contract."""

    def __init__(self, settings=None, environ=None, warn=None, **values):
        """SETTINGS is an ImdsSettings; without it, VALUES (the settings by name) make one.

        Either way the settings are validated once, by ImdsSettings. ENVIRON
        (default os.environ) supplies AWS_EC2_METADATA_*; WARN, if given, is
        called with each warning once.
        """
        if settings is None:
            settings = ImdsSettings(**values)
        elif values:
            raise TypeError("ImdsClient takes an ImdsSettings or settings by name, not both")
        environ = os.environ if environ is None else environ
        self.allow_imdsv1 = settings.allow_imdsv1
        self.timeout = settings.timeout
        self.retries = settings.retries
        self.total_timeout = settings.total_timeout
        self.token_ttl = settings.token_ttl
        self.max_concurrency = settings.max_concurrency
        self.disabled = is_disabled(environ)
        self.endpoint = settings.endpoint_url(environ)
        self._transport = Transport(self.endpoint, self.timeout, self.total_timeout)
        self._base_path = self._transport.base_path
        self._warn = warn
        self.warnings = []

        self._token_lock = threading.Lock()
        self._token = None
        self._token_renew_at = 0.0
        # (deadline, error) of the last failed token request; see _current_token.
        self._token_failure = None
        self._imdsv1 = False
        self._imdsv1_reason = None

        # Guards the warnings and the throttling time, which every worker thread may update.
        self._state_lock = threading.Lock()
        # monotonic time until which the service throttles this instance (429).
        self._throttled_until = 0.0

    # ----------------------------------------------------------------- public

    @property
    def request_count(self):
        """HTTP requests sent, token PUTs included; a refused connection sent none."""
        return self._transport.request_count

    @property
    def imds_version(self):
        """'v2' once a token is in use, 'v1' after a fallback, None before any request."""
        if self._imdsv1:
            return "v1"
        return "v2" if self._token is not None else None

    def get(self, path, allow_credentials=False):
        """The body of PATH (relative to /latest/) as bytes."""
        path = checked_path(path, allow_credentials)
        return self._get(path, self._start())

    def get_text(self, path, allow_credentials=False):
        return self.get(path, allow_credentials).decode("utf-8", errors="replace")

    def list_dir(self, path):
        """Entries of a directory as served; sub-directories end in '/'."""
        path = checked_path(as_directory(path), False)
        return self._list(path, self._start())

    def get_many(self, paths, allow_credentials=False):
        """{path: bytes or None (404)}, fetched in parallel under one deadline."""
        return self.read(paths, allow_credentials=allow_credentials).leaves

    def read_tree(self, path):
        """Read a directory recursively, in parallel; see docs/architecture.md."""
        root_path = checked_path(as_directory(path), False)
        return _Crawl(self, self._start(), missing_root_raises=True).run((), (root_path,), ()).trees[root_path]

    def read(self, leaves=(), trees=(), listings=(), allow_credentials=False):
        """Leaves, whole directories and plain listings in one parallel read, under ONE deadline.

        Returns a ReadResult of three dicts keyed by the paths as given, in
        their order: leaves -> bytes or None (404), trees -> dict or None,
        listings -> [entries] or None. This is what the module and the lookup
        use, so total_timeout bounds everything a task reads.
        """
        leaf_paths = _unique(checked_path(path, allow_credentials) for path in leaves)
        tree_paths = _unique(checked_path(as_directory(path), False) for path in trees)
        listing_paths = _unique(checked_path(as_directory(path), False) for path in listings)
        deadline = self._start()
        if not leaf_paths and not tree_paths and not listing_paths:
            return ReadResult({}, {}, {})
        return _Crawl(self, deadline).run(leaf_paths, tree_paths, listing_paths)

    # ------------------------------------------------------------ internals

    def _start(self):
        if self.disabled:
            raise ImdsDisabledError.by_environment()
        return Deadline(self.total_timeout)

    def _say(self, message):
        with self._state_lock:
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
                path = redirect_target(path, response.headers.get("location"), self.endpoint, self._base_path)
                continue
            raise ImdsResponseError.unexpected_status(self.endpoint, status, path)

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
                raise ImdsResponseError.unusable_token(self.endpoint)
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
                return self._transport.exchange(method, path, headers, deadline)
            except Retry as retry:
                last = retry
            if attempts > self.retries:
                break
            delay = self._backoff(last, attempts)
            if delay >= deadline.remaining():
                break
            deadline.pause(delay)
        if last is None:
            raise self._transport.deadline_reached(method, path)
        if last.status is not None:
            raise ImdsThrottledError.gave_up(self.endpoint, last.status, attempts, deadline.elapsed())
        raise ImdsUnreachableError.gave_up(self.endpoint, last.reason, attempts, deadline.elapsed())

    def _backoff(self, retry, attempts):
        """Seconds to wait before attempt ATTEMPTS + 1; a 429 also slows every other thread."""
        if retry.status != 429:
            return TRANSIENT_BACKOFF.delay(attempts)
        delay = THROTTLE_BACKOFF.delay(attempts)
        with self._state_lock:
            self._throttled_until = max(self._throttled_until, time.monotonic() + delay)
        return delay

    def _wait_out_throttling(self, deadline):
        """Hold a request while the service throttles the instance; False if that outlasts the deadline.

        IMDS throttles per instance, so when one request is told 429 the
        others in flight would be too: they wait as long as it does.
        """
        with self._state_lock:
            wait_for = self._throttled_until - time.monotonic()
        if wait_for <= 0:
            return True
        if wait_for >= deadline.remaining():
            return False
        deadline.pause(wait_for)
        return True


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
        # Imported here: a long-running caller that only uses get() (the
        # lifecycle agent) keeps the thread pool machinery out of its memory.
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait  # pylint: disable=import-outside-toplevel

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
            raise ImdsResponseError.read_too_large(USER_AGENT, self.client.endpoint, MAX_READ_BYTES, path)

    def _count_entries(self, path, count):
        self.entries += count
        if self.entries > MAX_READ_ENTRIES:
            raise ImdsResponseError.read_too_many_entries(self.client.endpoint, MAX_READ_ENTRIES, path)

    def _plan(self, kind, path, parent, key, node, depth):
        self.queue.append(_Job(kind, path, parent, key, node, depth, False))

    def _plan_dir(self, path, parent, key, depth):
        if depth > MAX_TREE_DEPTH:
            raise ImdsResponseError.too_deep(self.client.endpoint, MAX_TREE_DEPTH, path)
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


def _unique(paths):
    unique = []
    for path in paths:
        if path not in unique:
            unique.append(path)
    return unique


def _cancel(futures):
    for future in futures:
        future.cancel()
