# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The one user-data decompressor: gzip or zlib undone, with a bounded output.

User data is at most 16 KiB, but a few KiB of gzip can inflate to gigabytes.
The structured facts, the legacy facts and the lookup all decompress through
here, so none of them can be made to build a fact larger than
MAX_DECOMPRESSED.
"""

from __future__ import annotations

import collections
import zlib

# Real user data is at most 16 KiB; only a decompression bomb gets near this.
MAX_DECOMPRESSED = 1024 * 1024

GZIP = 'gzip'
ZLIB = 'zlib'
# Why the data was kept as served although it looked compressed.
CORRUPT = 'corrupt'
TOO_LARGE = 'too_large'

Decompressed = collections.namedtuple('Decompressed', ['data', 'compression', 'problem'])
Decompressed.__doc__ = """data: the bytes to use; compression: GZIP, ZLIB or None;
problem: None, CORRUPT or TOO_LARGE (then data is RAW as served)."""


def compression_of(raw):
    """GZIP or ZLIB when RAW starts with that format's header, else None."""
    if raw[:2] == b'\x1f\x8b':
        return GZIP
    if len(raw) > 1 and raw[0] == 0x78 and (raw[0] * 256 + raw[1]) % 31 == 0:
        return ZLIB
    return None


def decompress(raw, max_size=MAX_DECOMPRESSED):
    """Undo gzip or zlib in RAW without ever holding more than MAX_SIZE + 1 bytes of output."""
    compression = compression_of(raw)
    if compression is None:
        return Decompressed(raw, None, None)
    # 32 + MAX_WBITS detects the gzip or zlib header itself.
    decompressor = zlib.decompressobj(32 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(raw, max_size + 1)
    except zlib.error:
        return Decompressed(raw, None, CORRUPT)
    if len(data) > max_size:
        return Decompressed(raw, None, TOO_LARGE)
    if not decompressor.eof:
        # Truncated: the output stopped short of the limit but the stream did not end.
        return Decompressed(raw, None, CORRUPT)
    return Decompressed(data, compression, None)
