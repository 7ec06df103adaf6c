# -*- coding: utf-8 -*-
# Copyright: (c) 2026, cloudmeta.imds maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The instance_library action: build the archive on the controller, then let ansible.legacy.copy install it.

Documentation: plugins/modules/instance_library.py. As ansible.builtin.template
does, copy does the rest (remote checksum, check mode, diff, mode and owner,
the atomic replace, changed), so the archive is sent only when its bytes differ.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase

from ansible_collections.cloudmeta.imds.plugins.plugin_utils._instance_library import LibraryError, build

# The file arguments copy applies to the archive, and directory_mode.
FILE_ARGS = ('mode', 'owner', 'group', 'seuser', 'serole', 'selevel', 'setype', 'attributes', 'unsafe_writes')


class ActionModule(ActionBase):

    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(('src', 'dest', 'directory_mode') + FILE_ARGS)

    def run(self, tmp=None, task_vars=None):
        super(ActionModule, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        try:
            src = self._task.args.get('src')
            dest = self._task.args.get('dest')
            for name, value in (('src', src), ('dest', dest)):
                if not isinstance(value, str) or not value:
                    raise AnsibleActionFail('%s is %r: give the path of %s.' % (
                        name, value, 'the instance library list' if name == 'src' else "the archive on the host"))
            if not dest.startswith('/') or dest.endswith('/'):
                raise AnsibleActionFail('dest is %r: give the absolute path of the archive file, for example '
                                        '/usr/local/lib/cloudmeta-imds/cloudmeta-lifecycle.pyz.' % dest)
            if self._task.args.get('mode') == 'preserve':
                raise AnsibleActionFail('mode is "preserve", which means nothing for an archive built from many files: '
                                        'give a mode, for example "0644".')
            try:
                listing = self._find_needle('files', src)
            except AnsibleError as exc:
                raise AnsibleActionFail(to_text(exc))

            local_tempdir = tempfile.mkdtemp(dir=C.DEFAULT_LOCAL_TMP)
            try:
                archive = os.path.join(local_tempdir, posixpath.basename(dest))
                try:
                    build(listing, archive)
                except LibraryError as exc:
                    raise AnsibleActionFail(to_text(exc))
                new_task = self._task.copy()
                # dest as its directory with a trailing slash and the archive's
                # own name: then copy creates missing directories (with
                # directory_mode), which it does not for a file path.
                new_task.args = dict((key, value) for key, value in self._task.args.items() if key != 'src')
                new_task.args.update(src=archive, dest=posixpath.join(posixpath.dirname(dest), ''), follow=False)
                # call with ansible.legacy prefix to eliminate collisions with collections while still allowing local override
                copy_action = self._shared_loader_obj.action_loader.get('ansible.legacy.copy',
                                                                        task=new_task,
                                                                        connection=self._connection,
                                                                        play_context=self._play_context,
                                                                        loader=self._loader,
                                                                        templar=self._templar,
                                                                        shared_loader_obj=self._shared_loader_obj)
                result = copy_action.run(task_vars=task_vars)
                result.pop('src', None)  # the local temporary file, gone when this returns
                return result
            finally:
                shutil.rmtree(to_bytes(local_tempdir, errors='surrogate_or_strict'))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
