# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The lifecycle agent's decisions: registered exactly while the instance can serve.

The agent is given what it acts through, so that this file holds only the
decisions and can be tested without a network:

- read(path) -> text or None: one meta-data path through the collection's
  IMDS client (None for 404); it raises on any other failure.
- backend: register(deadline), deregister(deadline) -> text describing what
  was done, and keepalive(deadline) for backends whose registration expires
  (etcd leases). Each raises BackendError when the backend refused or could
  not be reached; the agent retries within the deadline.
- hook (optional): complete(deadline) for the Auto Scaling terminate
  lifecycle hook, called after deregistering on Terminated; when it has a
  heartbeat_interval (seconds), heartbeat(deadline) is sent that often while
  the deregistration runs, so a drain longer than the hook's
  HeartbeatTimeout does not let Auto Scaling go ahead without it.
- wait(seconds) -> True when the agent was asked to stop (SIGTERM): the
  pause between polls. The pauses between retries of one change use sleep
  instead, so a stop request never cuts a deregistration short.

Standard library only.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
import time

from .._common.deadline import Deadline
from . import notices as notice_rules
from . import state as agent_state

# The path each kind of notice is served on: a notice that is gone from a path
# read without error has ended (an event canceled or completed, a warm pool
# instance back in service), and the instance may serve again.
PATH_OF_KIND = {'spot': notice_rules.SPOT_ACTION, 'lifecycle': notice_rules.LIFECYCLE_STATE,
                'maintenance': notice_rules.MAINTENANCE, 'rebalance': notice_rules.REBALANCE}


class BackendError(Exception):
    """The backend refused the change or could not be reached; the message says which."""


class Agent:
    """One registration, kept while the instance can serve and removed before it goes."""

    def __init__(self, read, backend, paths, state_path, log, wait, hook=None, poll_interval=5.0,
                 maintenance_lead=datetime.timedelta(minutes=10), stop_budget=90.0, notice_budget=100.0,
                 retry_interval=2.0, metrics=None, now=None, monotonic=time.monotonic, sleep=time.sleep):
        self.read = read
        self.backend = backend
        self.paths = list(paths)
        self.state_path = state_path
        self.log = log
        self.wait = wait
        self.hook = hook
        self.poll_interval = poll_interval
        self.maintenance_lead = maintenance_lead
        self.stop_budget = stop_budget
        self.notice_budget = notice_budget
        self.retry_interval = retry_interval
        self.metrics = metrics
        self.now = now or (lambda: datetime.datetime.now(datetime.timezone.utc))
        self.monotonic = monotonic
        self.sleep = sleep
        # None until the agent knows: the bootstrap or an agent that crashed may have left a registration.
        self.registered = None
        self.leaving = None
        self._problems = set()
        self.state, problem = agent_state.load(state_path)
        if problem:
            self.log('state: %s' % problem)

    def run(self):
        """Register, follow the notices until asked to stop, deregister; returns the exit status."""
        pending, read_paths = self.poll()
        for notice in pending:
            # A deregistration that failed before this start is tried again.
            if self.state.done.get(notice.key, {}).get('outcome', '').startswith('deregistration failed'):
                self.state.forget(notice.key)
        blocking = self._blocking_at_start(pending)
        if blocking is None:
            if not self._register():
                return 0
        else:
            self.leaving = blocking
            self.log('start: not registering: %s' % blocking.detail)
            if self.state.done.get(blocking.key, {}).get('outcome', '').startswith('deregistered'):
                self.registered = False
        while True:
            self._follow(pending, read_paths)
            if self.registered is True and hasattr(self.backend, 'keepalive'):
                self._attempt('keepalive', self.backend.keepalive, self._deadline(self.poll_interval))
            self._metrics()
            if self.wait(self.poll_interval):
                if self.registered is not False:
                    self._deregister('stop requested', self._deadline(self.stop_budget))
                return 0
            pending, read_paths = self.poll()

    def poll(self):
        """(notices now served, paths read without error); a failing path is logged once per distinct problem."""
        found, read_paths = [], set()
        for path in self.paths:
            try:
                text = self.read(path)
                if text is not None:
                    found.extend(notice_rules.parse(path, text, self.now(), self.maintenance_lead))
                read_paths.add(path)
            except Exception as exc:  # pylint: disable=broad-except
                # Whatever IMDS or a malformed notice raises must not end the watch.
                problem = '%s: %s' % (path, exc)
                if problem not in self._problems:
                    self._problems.add(problem)
                    self.log('poll: %s' % problem)
        return found, read_paths

    def _blocking_at_start(self, pending):
        """A notice that keeps the instance out at start: one due now, or one acted on that has not ended."""
        now = self.now()
        for notice in pending:
            if notice.deregister_at <= now and not self.state.acted_on(notice.key):
                return notice
            if self.state.acted_on(notice.key) and (notice.gone_at is None or notice.gone_at > now):
                return notice
        return None

    def _follow(self, pending, read_paths):
        keys = set(notice.key for notice in pending)
        if self.leaving is not None and self.leaving.key not in keys and PATH_OF_KIND[self.leaving.kind] in read_paths:
            self.log('ended: %s; registering again' % self.leaving.detail)
            self.state.forget(self.leaving.key)
            agent_state.save(self.state_path, self.state)
            self.leaving = None
            self._register()
        for notice in notice_rules.due(pending, self.now(), set(self.state.done)):
            self._act(notice)

    def _act(self, notice):
        self.log('notice: %s (%s)' % (notice.detail, notice.key))
        budget = self.notice_budget
        if notice.gone_at is not None:
            # Finish a little before the instance goes, but always try.
            budget = max(1.0, min(budget, (notice.gone_at - self.now()).total_seconds() - 5))
        deadline = self._deadline(budget)
        hooked = notice.kind == 'lifecycle' and notice.action == 'Terminated' and self.hook is not None
        with self._heartbeats(deadline) if hooked else contextlib.nullcontext():
            outcome = 'already deregistered' if self.registered is False else self._deregister(notice.detail, deadline)
        if hooked:
            completed = self._attempt('complete lifecycle hook', self.hook.complete, deadline)
            outcome += '; lifecycle hook %s' % ('completed' if completed else 'not completed')
        self.state.record(notice.key, self.now().strftime('%Y-%m-%dT%H:%M:%SZ'), outcome)
        agent_state.save(self.state_path, self.state)
        self.leaving = notice

    @contextlib.contextmanager
    def _heartbeats(self, deadline):
        """While the body runs, send the hook's heartbeat every heartbeat_interval seconds (if it has one)."""
        interval = getattr(self.hook, 'heartbeat_interval', None)
        if not interval:
            yield
            return
        done = threading.Event()

        def beat():
            while not done.wait(interval):
                try:
                    self.log('heartbeat: %s' % self.hook.heartbeat(deadline))
                except BackendError as exc:
                    self.log('heartbeat: failed: %s' % exc)

        thread = threading.Thread(target=beat, name='lifecycle-heartbeat', daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _register(self):
        """Register, retrying until it works; False when a stop came first."""
        # Short rounds, so that a stop request is seen between them.
        while not self._attempt('register', self.backend.register, self._deadline(self.retry_interval * 5)):
            if self.wait(self.retry_interval):
                return False
        self.registered = True
        return True

    def _deregister(self, reason, deadline):
        if self._attempt('deregister (%s)' % reason, self.backend.deregister, deadline):
            self.registered = False
            return 'deregistered'
        return 'deregistration failed'

    def _attempt(self, what, action, deadline):
        """Run ACTION(deadline) until it succeeds or DEADLINE passes; log the outcome either way."""
        tries = 0
        while True:
            tries += 1
            try:
                detail = action(deadline)
            except BackendError as exc:
                pause = min(self.retry_interval * tries, 10.0)
                if deadline.remaining() <= pause:
                    self.log('%s: failed after %d attempts in %.1f s: %s' % (what, tries, deadline.elapsed(), exc))
                    return False
                if tries == 1:
                    # Said once, so that an outage shows while it lasts, not only at the end.
                    self.log('%s: failed, retrying for up to %.1f s: %s' % (what, deadline.remaining(), exc))
                deadline.pause(pause)
                continue
            # A keepalive that only renewed says nothing; one that had to register again does.
            if what != 'keepalive' or tries > 1 or detail:
                self.log('%s: done in %.1f s%s%s' % (what, deadline.elapsed(),
                                                     ' after %d attempts' % tries if tries > 1 else '',
                                                     ': %s' % detail if detail else ''))
            return True

    def _deadline(self, seconds):
        return Deadline(seconds, clock=self.monotonic, sleep=self.sleep)

    def _metrics(self):
        if self.metrics is not None:
            self.metrics(registered=self.registered is True, leaving=self.leaving, done=len(self.state.done))
