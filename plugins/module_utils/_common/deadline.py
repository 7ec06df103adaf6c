# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The one time budget: a monotonic deadline shared by every bounded wait.

Standard library only, so that programs running on the instance outside
Ansible can use it as the modules do.
"""

from __future__ import annotations

import time


class Deadline:
    """SECONDS from now on a monotonic clock; CLOCK and SLEEP are injectable for tests."""

    def __init__(self, seconds, clock=time.monotonic, sleep=time.sleep):
        self._clock = clock
        self._sleep = sleep
        self.seconds = seconds
        self.started = clock()
        self.end = self.started + seconds

    def remaining(self):
        """Seconds left, never below zero."""
        return max(0.0, self.end - self._clock())

    def expired(self):
        return self.remaining() <= 0

    def elapsed(self):
        return self._clock() - self.started

    def pause(self, interval):
        """Sleep INTERVAL seconds, or less if the deadline comes first."""
        self._sleep(min(interval, self.remaining()))
