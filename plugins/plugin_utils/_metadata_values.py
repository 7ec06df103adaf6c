# -*- coding: utf-8 -*-
# Copyright: (c) 2025, cloudmeta.imds maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""Turn what IMDS served into lookup values: text, user data, parsed JSON."""

from __future__ import annotations

import base64

from ansible_collections.cloudmeta.imds.plugins.module_utils._common.json_text import loads_strict
# The facts module's user-data decoding, so both report the same text.
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.facts import user_data_facts


class MetadataValueError(ValueError):
    """A served value that cannot be given back as asked; the message says why."""


def leaf_text(body):
    # Metadata is ASCII in practice; a stray byte must not fail the play.
    return body.decode('utf-8', errors='replace')


def user_data_value(body, encoding):
    """User data as text (ENCODING 'utf-8') or base64 (ENCODING 'base64').

    gzip and zlib are undone first, as the facts module does; base64 is of
    the uncompressed bytes, so it is the same value as the facts module's
    ``user_data`` when that says ``user_data_encoding: base64``.
    """
    facts = user_data_facts(body)
    if encoding == 'base64':
        if facts['user_data_encoding'] == 'base64':
            return facts['user_data']
        return base64.b64encode(facts['user_data'].encode('utf-8')).decode('ascii')
    if facts['user_data_encoding'] != 'utf-8':
        raise MetadataValueError(
            "user-data is binary (not UTF-8 text%s), so it cannot be returned as text. "
            "Set user_data_encoding='base64' to get it base64-encoded."
            % (' after undoing %s' % facts['user_data_compression'] if facts['user_data_compression'] else ''))
    return facts['user_data']


def parse_json_leaf(term, text):
    """TEXT parsed as JSON; TERM names the value in the error."""
    try:
        return loads_strict(text)
    except ValueError as exc:
        raise MetadataValueError("Term %r is not JSON (%s); drop parse_json for this term." % (term, exc))


def parse_json_tree(node):
    """NODE with every leaf that holds a JSON object or array parsed.

    Only objects and arrays: a leaf such as ``ami-launch-index`` (``0``)
    stays the string it is.
    """
    if isinstance(node, dict):
        return dict((key, parse_json_tree(value)) for key, value in node.items())
    if isinstance(node, str) and node.lstrip()[:1] in ('{', '['):
        try:
            value = loads_strict(node)
        except ValueError:
            return node
        if isinstance(value, (dict, list)):
            return value
    return node
