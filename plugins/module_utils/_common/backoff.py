# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The one backoff of every waiter, poller and retry loop: capped exponential with jitter.

Waits grow FIRST, 2 * FIRST, 4 * FIRST ... up to CAP, and each is jittered
so that a fleet started at the same moment does not poll (or retry) in step:

- ``full`` jitter waits uniform(0, step): the least load on the server,
  what botocore's standard mode does for AWS calls;
- ``equal`` jitter waits step / 2 + uniform(0, step / 2): never less than
  half the step, for loops that must also outlast a burst.

A Backoff is used with a Deadline, which bounds every wait:

    backoff = Backoff(first=1.0, cap=10.0)
    while not done():
        if deadline.expired():
            raise ...
        backoff.pause(deadline)

Standard library only, so that programs running on the instance outside
Ansible can use it as the modules do.
"""

from __future__ import annotations

import random

FULL = 'full'
EQUAL = 'equal'


class Backoff:
    """Capped exponential waits with FULL or EQUAL jitter; UNIFORM(low, high) is injectable for tests."""

    def __init__(self, first, cap, jitter=FULL, uniform=None):
        if not 0 < first <= cap:
            raise ValueError('backoff needs 0 < first <= cap, got first=%r, cap=%r' % (first, cap))
        if jitter not in (FULL, EQUAL):
            raise ValueError('jitter must be %r or %r, got %r' % (FULL, EQUAL, jitter))
        self.first = first
        self.cap = cap
        self.jitter = jitter
        # Looked up at each wait, not bound now, so random.uniform stays
        # patchable for the callers' tests.
        self._uniform = uniform
        self.attempts = 0

    def step(self, attempt):
        """The un-jittered wait after ATTEMPT (1, 2, ...) failed or polls in a row."""
        # The exponent is bounded so that a long wait never overflows a float.
        return min(self.cap, self.first * 2 ** min(max(attempt, 1) - 1, 64))

    def delay(self, attempt):
        """The jittered wait after ATTEMPT."""
        uniform = self._uniform or random.uniform
        step = self.step(attempt)
        if self.jitter == EQUAL:
            return step / 2.0 + uniform(0, step / 2.0)
        return uniform(0, step)

    def next_delay(self):
        """The wait after one more attempt; counts it."""
        self.attempts += 1
        return self.delay(self.attempts)

    def pause(self, deadline):
        """Sleep the next wait, or less if DEADLINE (a Deadline) comes first; returns the wait chosen."""
        wait = self.next_delay()
        deadline.pause(wait)
        return wait

    def reset(self):
        """Start again from FIRST (after a success, in a loop that keeps running)."""
        self.attempts = 0
