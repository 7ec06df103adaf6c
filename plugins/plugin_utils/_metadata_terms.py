# -*- coding: utf-8 -*-
# Copyright: (c) 2025, cloudmeta.imds maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""Turn lookup terms into IMDS paths, and refuse the ones we must not read.

Everything here is decided before the first request: a term that is
refused never costs a token or a GET.
"""

from __future__ import annotations

import re
from collections import namedtuple

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.paths import is_credential_path, validate_path
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import ImdsPathError

LEAF = 'leaf'
DIRECTORY = 'directory'
USER_DATA = 'user-data'

# term: as the user wrote it (for messages); path: relative to /latest/;
# kind: LEAF, DIRECTORY or USER_DATA.
Term = namedtuple('Term', ['term', 'path', 'kind'])

# A name without a trailing '/' cannot be told apart from a multi-line leaf
# once it has been fetched (real IMDS serves a directory's listing either
# way), so directories are recognised by name. Anything else that is a
# directory needs a trailing '/' in the term. Matched with fullmatch: '$'
# would also match before a trailing newline.
_KNOWN_DIRECTORIES = re.compile(
    r'(?:'
    r'meta-data/(?:autoscaling|block-device-mapping|events|events/maintenance|events/recommendations'
    r'|elastic-gpus|elastic-gpus/associations|elastic-inference|elastic-inference/associations'
    r'|iam|iam/security-credentials|iam/security-credentials-extended'
    r'|identity-credentials|identity-credentials/ec2|identity-credentials/ec2/security-credentials'
    r'|hibernation|metrics|network|network/interfaces|network/interfaces/macs'
    r'|network/interfaces/macs/[^/]+|network/interfaces/macs/[^/]+/ipv4-associations'
    r'|placement|public-keys|public-keys/[0-9]+|services|spot|tags|tags/instance)'
    r'|dynamic|dynamic/instance-identity|dynamic/fws'
    r')'
)

_CREDENTIALS_REFUSAL = (
    "it would return IAM credentials, which this lookup never reads. "
    "The role name is available from 'iam/security-credentials/' and "
    "'iam/info'; AWS SDKs, boto3 and the amazon.aws modules fetch the "
    "credentials themselves on the instance."
)


class TermRefusedError(Exception):
    """A term that must not be requested; the message says which and why."""


def plan_term(term):
    """Return the Term to fetch for TERM, or raise TermRefusedError."""
    try:
        normalised = validate_path(term)
    except ImdsPathError as exc:
        raise TermRefusedError(exc.message)

    if normalised in ('user-data', 'user-data/'):
        return Term(term, 'user-data', USER_DATA)
    if normalised == 'dynamic' or normalised.startswith('dynamic/'):
        path = normalised
    else:
        path = 'meta-data/' + normalised

    bare = path.rstrip('/')
    if is_credential_path(path):
        raise TermRefusedError('Term %r refused: %s' % (term, _CREDENTIALS_REFUSAL))
    if path.endswith('/') or _KNOWN_DIRECTORIES.fullmatch(bare):
        return Term(term, bare + '/', DIRECTORY)
    return Term(term, path, LEAF)
