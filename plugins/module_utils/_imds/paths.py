# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""Which metadata paths may be requested: path, listing, redirect and credential policy.

Pure: no network, standard library only. The client asks here before
every request, the lookup before it plans a term, and the shaping code
when it decides what a tree may hand on, so all three keep one rule.
Paths are relative to ``/latest/``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .errors import ImdsPathError, ImdsResponseError

MAX_PATH_LENGTH = 1024
# The widest real listings (tags, block devices, network interfaces) hold
# tens of entries; this bounds what one listing may make the client read.
MAX_LISTING_ENTRIES = 1000

# Entries below these directories are IAM credentials: their names (the role)
# are listed, their values never fetched. identity-credentials/<kind>/ also
# covers kinds AWS may add after "ec2". Case-insensitive: a server that
# ignores case must not be a way round.
_CREDENTIAL_DIR_RE = re.compile(
    r"\Ameta-data/(?:iam/security-credentials(?:-extended)?|identity-credentials/(?:[^/]+/)+security-credentials)/",
    re.IGNORECASE,
)
PUBLIC_KEYS_DIR = "meta-data/public-keys/"

# Redirects are followed only within the tree the request was in.
TREES = ("meta-data/", "dynamic/", "user-data")

# Tag keys served by IMDS match [0-9a-zA-Z-_+=,.@:]; every other real
# metadata name fits the same set.
# Always used with fullmatch: '$' would also match before a trailing newline.
_SEGMENT_RE = re.compile(r"[0-9A-Za-z_.:,=+@-]+")
_URL_RE = re.compile(r"\A[A-Za-z][A-Za-z0-9+.-]*:/")
_PUBLIC_KEY_ENTRY_RE = re.compile(r"\A([0-9]+)=")


def is_plain_segment(segment):
    """True for one path segment of letters, digits and ``-_.:,=+@`` that is not '.' or '..'."""
    return bool(_SEGMENT_RE.fullmatch(segment)) and segment not in (".", "..")


def validate_path(term):
    """Return TERM as a plain relative metadata path, or raise ImdsPathError.

    Accepted: segments of letters, digits and ``-_.:,=+@`` joined by ``/``,
    with one optional trailing ``/`` meaning "directory". Anything that
    could leave the metadata tree or the host is refused.
    """
    if not isinstance(term, str):
        raise ImdsPathError(term, "it is a %s, not a string" % type(term).__name__)
    if not term:
        raise ImdsPathError(term, "it is empty")
    if len(term) > MAX_PATH_LENGTH:
        raise ImdsPathError(term[:40] + "...", "it is longer than %d characters" % MAX_PATH_LENGTH)
    if _URL_RE.match(term):
        raise ImdsPathError(term, "it is a URL; give a path inside the metadata tree")
    for char in term:
        if char == "/" or _SEGMENT_RE.fullmatch(char):
            continue
        raise ImdsPathError(term, _describe_bad_char(char))
    if term.startswith("/"):
        raise ImdsPathError(term, "it starts with '/'; paths are relative")
    body = term[:-1] if term.endswith("/") else term
    for segment in body.split("/"):
        if segment == "":
            raise ImdsPathError(term, "it has an empty segment ('//')")
        if segment in (".", ".."):
            raise ImdsPathError(term, "it has a '%s' segment" % segment)
    return str(term)


def checked_path(path, allow_credentials=False):
    """PATH validated, and refused when it names a credential value unless ALLOW_CREDENTIALS."""
    path = validate_path(path)
    if not allow_credentials and is_credential_path(path):
        raise ImdsPathError(
            path,
            "it names an IAM credential value, which cloudmeta.imds never reads",
            "Let the AWS SDK read credentials from the instance profile; list the role "
            "name with 'iam/security-credentials/' or read 'iam/info'.",
        )
    return path


def is_credential_path(path):
    """True when PATH (relative to /latest/) names a credential value.

    The credential directories themselves (which list role names) are not
    credential values.
    """
    match = _CREDENTIAL_DIR_RE.match(path)
    return match is not None and match.end() < len(path)


def is_credential_dir(path):
    """True when PATH (relative to /latest/) is a directory whose entries are credentials."""
    match = _CREDENTIAL_DIR_RE.match(path)
    return match is not None and match.end() == len(path)


def listing_entries(body, path, endpoint):
    """The entries of a directory listing BODY (bytes) served for PATH, as served.

    One entry per line, blank lines dropped; more than MAX_LISTING_ENTRIES
    is an ImdsResponseError naming PATH. Entries are untrusted: child_of()
    decides which may be requested.
    """
    text = body.decode("utf-8", errors="replace")
    entries = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if len(entries) > MAX_LISTING_ENTRIES:
        raise ImdsResponseError.too_many_entries(endpoint, len(entries), path, MAX_LISTING_ENTRIES)
    return entries


def child_of(directory, entry):
    """(key, path, is_directory) for one listed ENTRY of DIRECTORY, or None if it is not a plain name.

    DIRECTORY is a validated path ending in '/'. The key is the name the
    tree uses; the path is always DIRECTORY plus exactly one plain segment
    (and '/' for a directory), so no listing can lead a read out of its tree.
    public-keys/ lists '0=name', whose contents live under 'public-keys/0/'.
    """
    is_dir = entry.endswith("/")
    name = entry[:-1] if is_dir else entry
    if directory == PUBLIC_KEYS_DIR:
        public_key = _PUBLIC_KEY_ENTRY_RE.match(name)
        if public_key:
            return name, directory + public_key.group(1) + "/", True
    if not is_plain_segment(name):
        return None
    return name, directory + name + ("/" if is_dir else ""), is_dir


def as_directory(path):
    """PATH with a trailing '/'; anything that is not a non-empty string is left for validate_path to refuse."""
    if not isinstance(path, str) or not path or path.endswith("/"):
        return path
    return path + "/"


def tree_of(path):
    """'meta-data/', 'dynamic/' or 'user-data' for a path inside that tree, else None."""
    for tree in TREES:
        if path.startswith(tree) if tree.endswith("/") else path in (tree, tree + "/"):
            return tree
    return None


def redirect_target(path, location, endpoint, base_path):
    """The one redirect policy: the checked path LOCATION leads to from PATH, or ImdsResponseError.

    Same ENDPOINT, same tree, a plain path under BASE_PATH (the endpoint's
    prefix plus '/latest/'), never credentials. A redirect from meta-data/
    may only lead within meta-data/ (likewise dynamic/ and user-data):
    never to the token path, which a GET would reach carrying the token,
    nor from one tree into another.
    """
    refused = ImdsResponseError.redirect_refused(endpoint, path, tree_of(path) or ", ".join(TREES))
    if not location:
        raise refused
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        here = urlsplit(endpoint)
        if parts.scheme.lower() != here.scheme or parts.netloc.lower() != here.netloc.lower():
            raise refused
    target = parts.path
    if parts.query or parts.fragment or not target.startswith(base_path):
        raise refused
    try:
        checked = checked_path(target[len(base_path):])
    except ImdsPathError:
        raise refused
    if tree_of(checked) is None or tree_of(checked) != tree_of(path):
        raise refused
    return checked


def _describe_bad_char(char):
    if char == "?":
        return "a query string ('?') is not allowed"
    if char == "#":
        return "a fragment ('#') is not allowed"
    if char == "%":
        return "percent-encoding ('%') is not allowed"
    if char == "\\":
        return "a backslash is not allowed"
    if char.isspace():
        return "whitespace is not allowed"
    if ord(char) < 32 or ord(char) == 127:
        return "control character %r is not allowed" % char
    return "character %r is not allowed (use letters, digits and -_.:,=+@)" % char
