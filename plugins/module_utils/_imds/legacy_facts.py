# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The flat ``ansible_ec2_*`` facts of ``amazon.aws.ec2_metadata_facts``, from an instance tree.

``legacy_facts`` lets playbooks written for amazon.aws.ec2_metadata_facts
(checked against amazon.aws 10.1.2) run unchanged. It follows that module's
algorithm step by step, quirks included, because users' playbooks depend on
its exact key names and values. The deliberate differences are listed in
docs/legacy_facts.md:

* credential facts never appear (the old module published live STS keys);
* ``ansible_ec2_instance_tags`` holds every tag (the old module dropped keys
  containing ``-`` or ``:``);
* a leaf that is listed but answers 404 is left out (the old module reported
  the string ``"None"``); the client drops such leaves from the tree.

Pure: no network, no Ansible objects. Keys carry the ``ansible_`` prefix like
the old module's, so a play sees the same top-level variables and the same
``ansible_facts['ec2_*']`` entries.
"""

from __future__ import annotations

import json
import re

from .paths import is_credential_path
from .user_data import MAX_DECOMPRESSED, TOO_LARGE, decompress

PREFIX = "ansible_ec2_"

# The old module dropped these (regex searched in the dash-joined fact name):
# listing entries such as ``public-keys/0=my-key`` answer 404 on their own.
_DROPPED_KEY_PATTERNS = ("public-keys-0",)

# Multi-valued leaves that the old module joined with commas (all others keep
# their newlines).
_COMMA_JOINED_LEAVES = ("security-groups", "security-group-ids")

# The old module wrote the text "None" wherever a request answered 404.
_MISSING = "None"

# The old module's test for compressed user data, kept because it decides
# which user data is decompressed at all: user_data.compression_of() also
# knows the other zlib headers (78 01, 78 5e, 78 da), which the old module left as served.
_GZIP_OR_ZLIB_MAGIC = (b"\x1f\x8b", b"\x78\x9c")


class _CredentialLeaf(object):
    """Marks a credential leaf: it still names the IAM role, but is never a fact."""


_CREDENTIAL_LEAF = _CredentialLeaf()


def legacy_facts(tree, warn=None):
    """Return the flat facts amazon.aws.ec2_metadata_facts would return for TREE.

    TREE is the instance tree (``{'meta-data': ..., 'dynamic': ..., 'user-data': ...}``);
    a part that is absent was not read and produces no facts. WARN, if given,
    is called with the same warnings the old module emitted for user data.
    """
    meta = tree.get("meta-data")
    dynamic = tree.get("dynamic")

    # The old module's run(), in its order: collisions resolve the same way.
    data = {}
    if isinstance(meta, dict):
        data.update(_fact_fields(_leaves(meta, in_meta_data=True)))
    if "user-data" in tree:
        data[PREFIX + "user-data"] = _user_data_text(tree["user-data"], warn)
    if isinstance(meta, dict):
        data[PREFIX + "public-key"] = _first_public_key(meta)
    if isinstance(dynamic, dict):
        data.update(_fact_fields(_leaves(dynamic, in_meta_data=False)))
    data = _fix_invalid_varnames(data)

    if isinstance(meta, dict):
        tags = _instance_tags(meta)
        data[PREFIX + "instance_tags_keys"] = list(tags)
        data[PREFIX + "instance_tags"] = tags

    # The old module kept this overwrite "for backwards compatibility".
    if PREFIX + "instance_identity_document_region" in data:
        data[PREFIX + "placement_region"] = data[PREFIX + "instance_identity_document_region"]
    return data


def _leaves(node, in_meta_data, parents=()):
    """Map each leaf's relative path to its value, in crawl order, as the old module stored them.

    A leaf whose text is a JSON object also yields one entry per top-level key,
    as ``<path>:<key lower-cased>``, holding the JSON value.
    """
    out = {}
    for name, child in node.items():
        path = parents + (name,)
        relative = "/".join(path)
        # The client never fetches credentials; no fact may carry them, whatever the tree says.
        if in_meta_data and is_credential_path("meta-data/" + relative):
            if not isinstance(child, dict):
                out[relative] = _CREDENTIAL_LEAF
                continue
        if in_meta_data and len(path) == 2 and path[0] == "public-keys":
            # Served as ``0=my-key`` without a slash: the old module fetched it
            # as a leaf and got a 404.
            out[relative] = child if isinstance(child, str) else _MISSING
            continue
        if isinstance(child, dict):
            out.update(_leaves(child, in_meta_data, path))
            continue
        if not isinstance(child, str):
            continue
        if name in _COMMA_JOINED_LEAVES:
            out[relative] = _comma_joined(child)
            continue
        out[relative] = child
        parsed = _json_object(child)
        if parsed is not None:
            for key, value in parsed.items():
                out["%s:%s" % (relative, key.lower())] = value
    return out


def _comma_joined(text):
    return ",".join(text.split("\n"))


def _json_object(text):
    """The parsed JSON object in TEXT, or None when TEXT is not a JSON object.

    json.loads, not _common.json_text.loads_strict: the old module accepted
    NaN and Infinity in a leaf, and its facts did too.
    """
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _fact_fields(leaves):
    """The old module's _mangle_fields: relative paths to dash-joined ``ansible_ec2_`` names."""
    fields = {}
    for relative, value in leaves.items():
        parts = relative.split("/")
        if len(parts) == 3 and parts[0:2] == ["iam", "security-credentials"] and ":" not in parts[2]:
            # The IAM role name, which is not the instance profile name.
            fields[PREFIX + "iam-instance-profile-role"] = parts[2]
        if value is _CREDENTIAL_LEAF:
            continue
        if len(parts) > 1 and parts[1]:
            name = "-".join(parts)
        else:
            name = "".join(parts)
        fields[PREFIX + name] = value
    for pattern in _DROPPED_KEY_PATTERNS:
        for name in list(fields):
            if re.search(pattern, name):
                del fields[name]
    return fields


def _fix_invalid_varnames(data):
    """The old module's rename of ``:`` and ``-`` to ``_`` (``.`` and ``=`` stay)."""
    renamed = dict(data)
    for key, value in data.items():
        if ":" in key or "-" in key:
            renamed[re.sub(":|-", "_", key)] = value
            del renamed[key]
    return renamed


def _first_public_key(meta):
    """The old module read only ``public-keys/0/openssh-key``."""
    keys = meta.get("public-keys")
    if not isinstance(keys, dict):
        return _MISSING
    for entry, content in keys.items():
        if entry.split("=", 1)[0] == "0" and isinstance(content, dict):
            key = content.get("openssh-key")
            if isinstance(key, str):
                return key
    return _MISSING


def _instance_tags(meta):
    """Every instance tag, keys exactly as in metadata, values as the old per-tag facts hold them."""
    tags_dir = meta.get("tags")
    listing = tags_dir.get("instance") if isinstance(tags_dir, dict) else None
    if not isinstance(listing, dict):
        return {}
    tags = {}
    for key, value in listing.items():
        if isinstance(value, str):
            tags[key] = _comma_joined(value) if key in _COMMA_JOINED_LEAVES else value
    return tags


def _user_data_text(raw, warn):
    """User data as the old module decoded it: gzip or zlib undone, then UTF-8, dropping bad bytes.

    Decompression is the collection's one bounded decompressor: where the
    old module inflated any size, user data that would exceed
    MAX_DECOMPRESSED is kept as served, with a warning.
    """
    if raw is None:
        return _MISSING
    if isinstance(raw, str):
        return raw
    if raw.startswith(_GZIP_OR_ZLIB_MAGIC):
        result = decompress(raw)
        if result.problem is None:
            return _utf8_dropping_errors(result.data, warn)
        if result.problem == TOO_LARGE:
            _warn(warn, "User data decompresses to more than %d bytes, which real user data (at most 16 KiB) "
                        "never does; ansible_ec2_user_data holds it as served, still compressed"
                  % MAX_DECOMPRESSED)
        else:
            _warn(warn, "Unable to decompress user-data using zlib, attempt to decode original user-data as UTF-8")
    return _utf8_dropping_errors(raw, warn)


def _utf8_dropping_errors(raw, warn):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        _warn(warn, "Decoding user-data as UTF-8 failed, return data as is ignoring any error")
        return raw.decode("utf-8", errors="ignore")


def _warn(warn, message):
    if warn is not None:
        warn(message)
