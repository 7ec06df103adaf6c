# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""Strict JSON for untrusted text: RFC 8259 only, so NaN and Infinity are refused.

Standard library only.
"""

from __future__ import annotations

import json


def _reject_constant(name):
    raise ValueError('%s is not valid JSON' % name)


def loads_strict(text):
    """Parse TEXT as JSON; raise ValueError for NaN, Infinity or nesting too deep to parse."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError('nested too deeply') from None
