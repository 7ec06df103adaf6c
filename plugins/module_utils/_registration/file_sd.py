# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""Prometheus file_sd: render one file of target groups, tell whether it is there, write it atomically, remove it.

One file per registration, replaced by rename (_common/files.py), so
Prometheus reads the old file or the new, never a part of one, and
registrations sharing a directory never touch each other's files.

Standard library only, and the collection is imported relatively: the
file_sd_target module runs this file through AnsiballZ, and the lifecycle
agent imports it from the instance library (docs/architecture.md, "Code
that runs on the instance").
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import stat

from .._common.files import replace_file
from .._common.json_text import loads_strict

DEFAULT_MODE = '0644'
LABEL_NAME = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*\Z')
GROUP_KEYS = ('targets', 'labels')
# A target is host:port text; whitespace or a control character in it is a
# metadata or templating accident, never an address.
BAD_TARGET = re.compile(r'[\s\x00-\x1f\x7f]')
# A file name built from metadata served as "i-0123456789abcdef0\n" is refused.
CONTROL = re.compile(r'[\x00-\x1f\x7f]')


class FileSdError(Exception):
    """A file_sd failure, phrased for the user."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class MissingDirectoryError(FileSdError):
    """The file's directory does not exist and nobody asked for it to be created."""

    def __init__(self, directory, message):
        super().__init__(message)
        self.directory = directory


def render(groups):
    """The file's text for the target GROUPS.

    Byte for byte what Ansible's ``to_nice_json(indent=2)`` filter gives
    (``json.dumps`` with sorted keys, ``', '``/``': '`` separators and
    non-ASCII escaped, on every supported ansible-core) plus a newline, which
    is what the register_instance role wrote before this module existed: a
    file an older role wrote counts as already registered.
    """
    return json.dumps(list(groups), indent=2, sort_keys=True, separators=(',', ': '), ensure_ascii=True) + '\n'


def target_group(targets, labels=None):
    """One checked target group of TARGETS and LABELS (left out when there are none)."""
    group = {'targets': targets}
    if labels:
        group['labels'] = labels
    check_group(group, 'the target group', option_names=True)
    if not targets:
        raise FileSdError('targets is empty; give at least one host:port, such as ["10.0.1.25:9100"].')
    return group


def check_group(group, where, option_names=False):
    """Raise FileSdError unless GROUP is a target group Prometheus reads: targets and labels, all text."""
    def name(key):
        return key if option_names else '%s.%s' % (where, key)

    if not isinstance(group, dict):
        raise FileSdError('%s is %s; a target group is an object with targets and labels.' % (where, _show(group)))
    unknown = sorted(set(group) - set(GROUP_KEYS))
    if unknown:
        raise FileSdError('%s has unknown key(s) %s; a target group has only targets and labels.'
                          % (where, ', '.join(_show(key) for key in unknown)))
    targets = group.get('targets')
    if not isinstance(targets, list):
        raise FileSdError('%s is %s; it must be a list of host:port texts, such as ["10.0.1.25:9100"].'
                          % (name('targets'), _show(targets)))
    for index, target in enumerate(targets):
        if not isinstance(target, str) or not target or BAD_TARGET.search(target):
            raise FileSdError('%s[%d] is %s; a target is host:port text without whitespace, such as "10.0.1.25:9100".'
                              % (name('targets'), index, _show(target)))
    labels = group.get('labels', {})
    if not isinstance(labels, dict):
        raise FileSdError('%s is %s; it must be a mapping of label names to text.' % (name('labels'), _show(labels)))
    for label, value in labels.items():
        if not isinstance(label, str) or not LABEL_NAME.match(label):
            raise FileSdError('%s has the label name %s; Prometheus label names must match [a-zA-Z_][a-zA-Z0-9_]*.'
                              % (name('labels'), _show(label)))
        if not isinstance(value, str):
            raise FileSdError('%s[%s] is %s; Prometheus label values are text: quote it (%s).'
                              % (name('labels'), json.dumps(label), _show(value), json.dumps(_show(value))))


def check_content(content):
    """Raise FileSdError unless CONTENT is the text of a file_sd file: a JSON list of target groups."""
    if not isinstance(content, str):
        raise FileSdError('content is %s; it must be the text of the file.' % _show(content))
    try:
        groups = loads_strict(content)
    except ValueError as exc:
        raise FileSdError('content is not JSON (%s); a file_sd file is a JSON list of target groups.' % exc) from None
    if not isinstance(groups, list):
        raise FileSdError('content holds %s; a file_sd file is a JSON list of target groups.'
                          % type(groups).__name__)
    for index, group in enumerate(groups):
        check_group(group, 'content[%d]' % index)


def check_path(path):
    """PATH, or FileSdError unless it is the absolute path of a file."""
    if not isinstance(path, str) or not os.path.isabs(path) or path.endswith('/') or CONTROL.search(path):
        raise FileSdError('path must be the absolute path of a file, such as '
                          '/etc/prometheus/file_sd/node-i-0123456789abcdef0.json; got %s.' % _show(path))
    return path


def file_mode(value, what, current=None, is_directory=False, symbolic=None):
    """The permission bits VALUE names: an int, octal text, or (with SYMBOLIC) a symbolic mode.

    These are the rules of the ``mode`` of ansible.builtin.file: an int is
    taken as it is, text as octal, else as a symbolic mode such as
    ``u=rw,g=r,o=r``, applied to the CURRENT permission bits, or for a file or
    directory yet to be made to what the umask leaves of 0666 or 0777 (as
    ansible.builtin.copy and file do). SYMBOLIC is Ansible's parser (the module
    passes it; the agent, whose configuration holds octal text only, does not).
    """
    mode = None
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    elif isinstance(value, str):
        try:
            mode = int(value, 8)
        except ValueError:
            if symbolic is None:
                raise FileSdError('%s is %s; it must be an octal mode in quotes, such as "0644".'
                                  % (what, _show(value))) from None
            kind = stat.S_IFDIR if is_directory else stat.S_IFREG
            if current is None:
                current = (0o777 if is_directory else 0o666) & ~_umask()
            try:
                mode = symbolic(_Stat(kind | current), value)
            except ValueError:
                mode = None
    if mode is None or not 0 <= mode <= 0o7777:
        raise FileSdError('%s is %s; it must be an octal mode in quotes, such as "0644", or a symbolic mode such as '
                          '"u=rw,g=r,o=r".' % (what, _show(value)))
    return mode


def user_id(owner):
    """The user ID of OWNER (a name, or a number as text), or -1 for None."""
    return _account_id(owner, 'owner', 'user', lambda name: pwd.getpwnam(name).pw_uid)


def group_id(group):
    """The group ID of GROUP (a name, or a number as text), or -1 for None."""
    return _account_id(group, 'group', 'group', lambda name: grp.getgrnam(name).gr_gid)


def _account_id(value, option, kind, lookup):
    if value is None:
        return -1
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return lookup(value)
    except KeyError:
        raise FileSdError('%s %s is not a %s on this host; create the %s first or give another one.'
                          % (option, _show(value), kind, kind)) from None


class Found:
    """What PATH holds now: its text (None when it is not UTF-8), permission bits and owner."""

    def __init__(self, text, info):
        self.text = text
        self.mode = stat.S_IMODE(info.st_mode)
        self.uid = info.st_uid
        self.gid = info.st_gid


def find(path):
    """The registration file at PATH as it is (Found), or None when there is none."""
    try:
        with open(path, 'rb') as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise FileSdError('%s is not a regular file; remove it or choose another path.' % path)
            data = handle.read()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise FileSdError('A part of the directory of %s is not a directory; fix the path.' % path) from None
    except IsADirectoryError:
        raise FileSdError('%s is a directory, not a file; remove it or choose another path.' % path) from None
    except OSError as exc:
        raise FileSdError('Cannot read %s: %s' % (path, exc.strerror or exc)) from None
    try:
        return Found(data.decode('utf-8'), info)
    except UnicodeDecodeError:
        return Found(None, info)


def apply(params, check_mode=False, symbolic=None):
    """Make PARAMS['path'] hold PARAMS['content'] (state present) or not exist (absent); return (result, diff).

    PARAMS: path, state, content, mode, owner, group, directory_mode (the
    file_sd_target module's options, targets and labels already rendered into
    content). RESULT: changed, written (whether the text was written),
    path, state, content, mode, uid, gid; DIFF a list of before/after pairs.
    With CHECK_MODE nothing is touched. Raises FileSdError.
    """
    path = check_path(params['path'])
    if params['state'] == 'absent':
        return _remove(path, check_mode)
    return _write(path, params, check_mode, symbolic)


def _remove(path, check_mode):
    found = find(path)
    result = dict(changed=found is not None, written=False, path=path, state='absent', content=None, mode=None,
                  uid=None, gid=None)
    if found is None:
        return result, []
    if not check_mode:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # removed meanwhile by another run: what was asked for
        except OSError as exc:
            raise FileSdError('Cannot remove %s: %s' % (path, exc.strerror or exc)) from None
    return result, [_text_diff(path, found, '')]


def _write(path, params, check_mode, symbolic):
    content = params['content']
    check_content(content)
    directory = os.path.dirname(path)
    missing = _missing_directories(directory)
    directory_mode = None
    if missing:
        if params.get('directory_mode') is None:
            raise MissingDirectoryError(directory, 'The directory %s of %s does not exist; create (or mount) it, or '
                                        'set directory_mode to have it created.' % (directory, path))
        directory_mode = file_mode(params['directory_mode'], 'directory_mode', None, True, symbolic)
    found = None if missing else find(path)
    mode = file_mode(DEFAULT_MODE if params.get('mode') is None else params['mode'], 'mode',
                     found.mode if found else None, False, symbolic)
    uid, gid = user_id(params.get('owner')), group_id(params.get('group'))

    diff = []
    if missing:
        diff.append(dict(before_header=missing[0], after_header=missing[0], before={'state': 'absent'},
                         after={'state': 'directory', 'mode': '%04o' % directory_mode}))
    written = found is None or found.text != content
    fix = {} if written else _attributes_to_fix(found, mode, uid, gid)
    if written:
        diff.append(_text_diff(path, found, content))
    if fix:
        diff.append(dict(before_header=path, after_header=path,
                         before=dict((name, _attribute(name, found)) for name in fix),
                         after=dict((name, _attribute_value(name, value)) for name, value in fix.items())))

    if not check_mode:
        if missing:
            _make_directories(missing, directory_mode)
        if written:
            _replace(path, content, mode, uid, gid, found)
        elif fix:
            _fix_attributes(path, fix)
    if check_mode:
        kept = found is not None and (not written or os.geteuid() == 0)
        final_uid = uid if uid != -1 else (found.uid if kept else os.geteuid())
        final_gid = gid if gid != -1 else (found.gid if kept else os.getegid())
    else:
        info = os.stat(path)
        final_uid, final_gid = info.st_uid, info.st_gid
    result = dict(changed=bool(missing or written or fix), written=written, path=path, state='present',
                  content=content, mode='%04o' % mode, uid=final_uid, gid=final_gid)
    return result, diff


def _missing_directories(directory):
    """The directories to create for DIRECTORY, outermost first ([] when it exists)."""
    missing = []
    while not os.path.isdir(directory):
        if os.path.lexists(directory):
            raise FileSdError('%s is not a directory; the file_sd file cannot go there. Fix the path.' % directory)
        missing.insert(0, directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return missing


def _make_directories(missing, mode):
    for directory in missing:
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            continue  # another registration created it meanwhile: its mode stays as that one set it
        except OSError as exc:
            raise FileSdError('Cannot create the directory %s: %s' % (directory, exc.strerror or exc)) from None
        # mkdir applies the umask; the mode asked for is exact.
        os.chmod(directory, mode)


def _replace(path, content, mode, uid, gid, found):
    # A rewrite keeps the owner of the file it replaces where only root could
    # change it (as Ansible's atomic_move does); otherwise the writer owns it.
    if found is not None and os.geteuid() == 0:
        uid = found.uid if uid == -1 else uid
        gid = found.gid if gid == -1 else gid
    try:
        replace_file(path, content, mode=mode, uid=uid, gid=gid)
    except OSError as exc:
        raise FileSdError('Cannot write %s: %s' % (path, exc.strerror or exc)) from None


def _attributes_to_fix(found, mode, uid, gid):
    fix = {}
    if found.mode != mode:
        fix['mode'] = mode
    if uid not in (-1, found.uid):
        fix['owner'] = uid
    if gid not in (-1, found.gid):
        fix['group'] = gid
    return fix


def _fix_attributes(path, fix):
    try:
        if 'owner' in fix or 'group' in fix:
            os.chown(path, fix.get('owner', -1), fix.get('group', -1))
        if 'mode' in fix or 'owner' in fix or 'group' in fix:
            # chown may clear the set-user and set-group ID bits: the mode comes last.
            os.chmod(path, fix['mode'] if 'mode' in fix else stat.S_IMODE(os.stat(path).st_mode))
    except OSError as exc:
        raise FileSdError('Cannot set the owner or mode of %s: %s' % (path, exc.strerror or exc)) from None


def _attribute(name, found):
    return _attribute_value(name, {'mode': found.mode, 'owner': found.uid, 'group': found.gid}[name])


def _attribute_value(name, value):
    return '%04o' % value if name == 'mode' else value


def _text_diff(path, found, after):
    if found is None:
        before = ''
    elif found.text is None:
        before = '(not UTF-8 text)\n'
    else:
        before = found.text
    return dict(before_header=path, after_header=path, before=before, after=after)


def _umask():
    # Read only for a symbolic mode (os.umask cannot read without setting it), never by the agent.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _show(value):
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


class _Stat:
    """The part of an os.stat_result that Ansible's symbolic mode parser reads."""

    def __init__(self, st_mode):
        self.st_mode = st_mode
