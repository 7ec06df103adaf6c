# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The lifecycle agent's memory across restarts: which notices it acted on, and how.

One small JSON file, replaced atomically (write beside it, fsync, rename), so a
crash or a power cut leaves either the old state or the new one. A missing
file is a first start. A file that cannot be read is set aside, not trusted:
the agent then may act on a notice a second time, which every backend's
deregistration tolerates, rather than not at all. Standard library only.
"""

from __future__ import annotations

import json
import os

from .._common.files import replace_file

VERSION = 1
# Far more than an instance meets in its life; it bounds the file and memory.
MAX_ENTRIES = 200
MAX_FILE_SIZE = 256 * 1024


class AgentState:
    """Keys of the notices acted on (oldest first), each with when and the outcome."""

    def __init__(self, done=None):
        self.done = dict(done or {})

    def acted_on(self, key):
        return key in self.done

    def record(self, key, at, outcome):
        """Remember that the notice KEY was acted on AT (text) with OUTCOME (text); the oldest are forgotten first."""
        self.done.pop(key, None)
        self.done[key] = {'at': at, 'outcome': outcome}
        while len(self.done) > MAX_ENTRIES:
            del self.done[next(iter(self.done))]

    def forget(self, key):
        """Forget KEY, so that the same notice acts again when it comes back (a warm pool instance leaving twice)."""
        self.done.pop(key, None)

    def to_json(self):
        return json.dumps({'version': VERSION, 'done': self.done}, indent=1, sort_keys=False) + '\n'


def load(path):
    """(state, problem): the state in PATH, a fresh one for no file, and a fresh one plus PROBLEM (text) for a bad file.

    A bad file is renamed to PATH.corrupt so that it can be looked at.
    """
    try:
        with open(path, 'rb') as handle:
            raw = handle.read(MAX_FILE_SIZE + 1)
    except FileNotFoundError:
        return AgentState(), None
    problem = _check(raw)
    if problem is None:
        return AgentState(json.loads(raw.decode('utf-8'))['done']), None
    os.replace(path, path + '.corrupt')
    return AgentState(), '%s %s; it was moved to %s.corrupt and the agent starts afresh.' % (path, problem, path)


def save(path, state):
    """Write STATE to PATH atomically, readable by its owner only."""
    replace_file(path, state.to_json(), mode=0o600)


def _check(raw):
    if len(raw) > MAX_FILE_SIZE:
        return 'is larger than %d bytes' % MAX_FILE_SIZE
    try:
        document = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return 'is not JSON'
    if not isinstance(document, dict) or document.get('version') != VERSION:
        return 'is not a version %d state file' % VERSION
    done = document.get('done')
    if not isinstance(done, dict) or len(done) > MAX_ENTRIES:
        return 'has no valid list of notices acted on'
    for key, entry in done.items():
        if not isinstance(entry, dict) or not all(isinstance(entry.get(field), str) for field in ('at', 'outcome')):
            return 'has a malformed entry for %r' % (key,)
    return None
