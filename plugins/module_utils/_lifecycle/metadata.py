# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The lifecycle agent's side of IMDS: one long-lived client, and which paths are worth polling.

Every request goes through the collection's IMDS client (_imds/client.py): one
IMDSv2 token for the life of the agent, renewed before it expires and on 401;
never IMDSv1 (allow_imdsv1 is not a setting of the agent), never a proxy, and
each read bounded by the client's timeouts, retries and total_timeout.
Standard library only.
"""

from __future__ import annotations

from .._imds.client import ImdsClient
from .._imds.errors import ImdsNotFoundError
from . import notices as notice_rules

GROUP_TAG = 'tags/instance/aws:autoscaling:groupName'


class MetadataReader:
    """read(path) for the agent: the text of meta-data/PATH, None for 404; any other failure raises ImdsError."""

    def __init__(self, imds, environ=None):
        # One request at a time: the agent reads a handful of small leaves.
        self.client = ImdsClient(environ=environ, allow_imdsv1=False, max_concurrency=1, **imds)

    def read(self, path):
        try:
            return self.client.get_text('meta-data/' + path)
        except ImdsNotFoundError:
            return None

    @property
    def request_count(self):
        return self.client.request_count


def choose_paths(read, watch, log):
    """The notice paths to poll for the WATCH settings ("auto", True or False per kind); LOG(text) says why.

    "auto" asks IMDS once at start: Spot notices only come to Spot instances
    (meta-data/instance-life-cycle), lifecycle states only to members of an
    Auto Scaling group (the path exists). When IMDS cannot tell, the path is
    polled: an extra request each poll costs less than a missed notice.
    """
    spot = watch['spot']
    if spot == 'auto':
        spot = _ask(read, notice_rules.LIFE_CYCLE, log, lambda text: text.strip() == 'spot', 'Spot')
    lifecycle = watch['lifecycle']
    if lifecycle == 'auto':
        lifecycle = _ask(read, notice_rules.LIFECYCLE_STATE, log, lambda text: True, 'in an Auto Scaling group')
    rebalance = watch['rebalance'] is True
    if rebalance and not spot:
        log('watch: rebalance recommendations come only to Spot instances; not watched here')
    paths = notice_rules.watched_paths('spot' if spot else None, lifecycle, rebalance)
    if watch['maintenance'] is False:
        paths.remove(notice_rules.MAINTENANCE)
    log('watch: %s' % (', '.join(paths) if paths else 'nothing (every kind of notice is off)'))
    return paths


def _ask(read, path, log, verdict, what):
    try:
        text = read(path)
    except Exception as exc:  # pylint: disable=broad-except
        # Whatever IMDS answered, polling the path is the safe side.
        log('watch: cannot tell whether the instance is %s (%s: %s); watching anyway' % (what, path, exc))
        return True
    return text is not None and verdict(text)


def group_from_tags(read):
    """The instance's Auto Scaling group from its tag, or None (not in a group, or instance metadata tags off)."""
    text = read(GROUP_TAG)
    return text.strip() if text is not None else None
