# -*- coding: utf-8 -*-
# Copyright: (c) 2026, cloudmeta.imds maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The instance library as one file: a Python zip application (PEP 441), built the same, byte for byte, from the same sources.

The one builder of the archive: the instance_library action plugin runs it on
the controller, and the tests that install the library by hand run it too.

A list (roles/register_instance/files/instance-library.yml) names what the
archive holds:

    modules: [_common/deadline.py, _lifecycle/program.py, ...]   # under plugins/module_utils/
    main: lifecycle-agent.py                                    # beside the list

Each module is stored at the same relative path under the package
``cloudmeta_imds/``, every package directory gets an empty ``__init__.py``
(a regular package, so relative imports work from the zip), and ``main``
becomes ``__main__.py``, which ``python3 -I ARCHIVE.pyz ARGS`` runs with the
archive first on sys.path.

Entries are sorted and carry a fixed time, mode and compression, so the
archive's bytes (and so its checksum, which decides whether the role writes
it and restarts the agent) change only when a source file changes.

Standard library and PyYAML (which ansible-core requires); no Ansible imports.
"""

from __future__ import annotations

import os
import posixpath
import zipfile

import yaml

PACKAGE = 'cloudmeta_imds'
MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'module_utils')

# The earliest time a zip entry can hold: the build time must not reach the bytes.
TIMESTAMP = (1980, 1, 1, 0, 0, 0)
# A regular file, rw-r--r--, recorded as made on Unix, whoever builds it.
UNIX = 3
FILE_ATTRIBUTES = 0o100644 << 16
# Stored, not deflated: deflate's output depends on the zlib build (zlib and
# zlib-ng differ), so two controllers would build different archives from the
# same sources and restart every agent in turn. Stored, the bytes depend on the
# sources alone; the archive is about 230 KB.
COMPRESSION = zipfile.ZIP_STORED
LIST_KEYS = ('main', 'modules')


class LibraryError(ValueError):
    """A list or a source the archive cannot be built from; the message names it and what to do."""


def _relative_file(value, where, list_path):
    """VALUE as a normalised relative POSIX path, or LibraryError naming WHERE."""
    if not isinstance(value, str) or not value:
        raise LibraryError('%s: %s is %r: it must be a relative file path.' % (list_path, where, value))
    normal = posixpath.normpath(value)
    if value.startswith('/') or normal != value or normal.split('/')[0] == '..':
        raise LibraryError('%s: %s is %r: it must be a relative path inside its directory, without "." or ".." '
                           'parts or doubled slashes.' % (list_path, where, value))
    return normal


def read_list(list_path):
    """The list at LIST_PATH: (modules, main), modules relative to module_utils, main an absolute path."""
    try:
        with open(list_path, encoding='utf-8') as handle:
            listed = yaml.safe_load(handle)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise LibraryError('%s: cannot read the instance library list: %s' % (list_path, exc)) from None
    if not isinstance(listed, dict) or set(listed) != set(LIST_KEYS):
        raise LibraryError('%s: the instance library list must be a mapping with exactly the keys %s; it has %s.'
                           % (list_path, ', '.join(LIST_KEYS),
                              ', '.join(sorted(map(str, listed))) or 'none' if isinstance(listed, dict) else 'none'))
    modules = listed['modules']
    if not isinstance(modules, list) or not modules:
        raise LibraryError('%s: modules is %r: it must be a list of files under plugins/module_utils/.'
                           % (list_path, modules))
    seen = set()
    for index, module in enumerate(modules):
        module = _relative_file(module, 'modules[%d]' % index, list_path)
        if not module.endswith('.py') or posixpath.basename(module) in ('__init__.py', '__main__.py'):
            raise LibraryError('%s: modules[%d] is %r: list Python modules (.py); the archive makes every '
                               "package's __init__.py itself, and main is its __main__.py." % (list_path, index, module))
        if module in seen:
            raise LibraryError('%s: modules[%d] is %r, which is listed twice: list it once.' % (list_path, index, module))
        seen.add(module)
    main = _relative_file(listed['main'], 'main', list_path)
    return sorted(seen), os.path.join(os.path.dirname(os.path.abspath(list_path)), main)


def _read(path, named):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except OSError as exc:
        raise LibraryError('%s: cannot read it: %s. Fix the instance library list or restore the file.'
                           % (named, exc.strerror or exc)) from None


def entries(list_path, module_utils=MODULE_UTILS):
    """What the archive of LIST_PATH holds: [(name in the archive, bytes)], sorted by name."""
    modules, main = read_list(list_path)
    contents = {'__main__.py': _read(main, main)}
    for module in modules:
        contents[posixpath.join(PACKAGE, module)] = _read(os.path.join(module_utils, module),
                                                          '%s (modules of %s)' % (module, list_path))
        package = posixpath.dirname(posixpath.join(PACKAGE, module))
        while package:
            contents[posixpath.join(package, '__init__.py')] = b''
            package = posixpath.dirname(package)
    return sorted(contents.items())


def write(target, contents):
    """Write CONTENTS ([(name, bytes)], in order) as a zip archive to the file path TARGET."""
    # A path, so the file is seekable: zipfile then writes sizes in the local
    # headers instead of data descriptors, the same way every time.
    with zipfile.ZipFile(target, 'w') as archive:
        for name, data in contents:
            info = zipfile.ZipInfo(name, date_time=TIMESTAMP)
            info.compress_type = COMPRESSION
            info.create_system = UNIX
            info.external_attr = FILE_ATTRIBUTES
            archive.writestr(info, data)


def build(list_path, target, module_utils=MODULE_UTILS):
    """Build the archive of the list at LIST_PATH into the file TARGET; the names it holds, in order."""
    contents = entries(list_path, module_utils)
    write(target, contents)
    return [name for name, _data in contents]
