# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""Files replaced atomically: readers see the old content or the new, never a part.

Standard library only.
"""

from __future__ import annotations

import os
import tempfile


def replace_file(path, text, mode=0o600, uid=-1, gid=-1):
    """Write TEXT to a new file beside PATH, flush it to disk, give it MODE (and UID, GID) and rename it over PATH.

    UID and GID -1 leave the new file to the user that writes it. On any
    failure the temporary file is removed and PATH is left as it was.
    """
    handle, temporary = tempfile.mkstemp(prefix='.%s-' % os.path.basename(path),
                                         dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if uid != -1 or gid != -1:
            os.chown(temporary, uid, gid)
        # After chown, which may clear the set-user and set-group ID bits.
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
