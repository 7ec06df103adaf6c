# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""Address rules shared by the controller plugins, the backends and on-instance programs.

Standard library only.
"""

from __future__ import annotations

import ipaddress

_LOOPBACK_NAMES = frozenset(('localhost', 'localhost.localdomain', 'localhost6', 'ip6-localhost'))


def is_loopback(address):
    """Whether ADDRESS (a host name, an IP address, or a bracketed IPv6 address) is this machine's loopback."""
    text = str(address).strip().strip('[]').lower()
    if text in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False
