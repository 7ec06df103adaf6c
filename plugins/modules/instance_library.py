#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the action plugin plugins/action/instance_library.py does
# all of it on the controller, and hands the archive to ansible.builtin.copy.

from __future__ import annotations

DOCUMENTATION = r'''
---
module: instance_library
short_description: Install a program with the collection's on-instance code as one Python zip application
version_added: 1.1.0
description:
  - Builds, on the controller, a Python zip application (PEP 441) holding the files of the collection's
    C(plugins/module_utils/) that a list names, as the package C(cloudmeta_imds) (each package directory with an empty
    C(__init__.py)), and a program as its C(__main__.py); then installs it on the host as one file, which
    C(python3 -I ARCHIVE.pyz ARGS) runs with nothing but the standard library and the archive.
  - The C(cloudmeta.imds.register_instance) role installs its lifecycle agent this way; the list is the role's
    C(files/instance-library.yml).
  - The archive is built the same, byte for byte, from the same sources (sorted entries, fixed times and
    permissions, no compression), on any controller and Python version, so it is rewritten, and reported
    changed, only when a source file changed.
  - M(ansible.builtin.copy) does the installation, so check mode, the file options, the atomic replace and
    C(changed) are exactly its own; an archive whose checksum matches is not sent.
options:
  src:
    description:
      - The list of what the archive holds, a YAML file with the keys C(modules), paths of files under the
        collection's C(plugins/module_utils/) (stored under C(cloudmeta_imds/) at the same relative path), and
        C(main), the program's file, relative to the list's directory.
      - Looked up like M(ansible.builtin.copy)'s O(ansible.builtin.copy#module:src), in the C(files/) directory
        of the role or the playbook.
    type: path
    required: true
  dest:
    description:
      - Absolute path of the archive on the host, for example V(/usr/local/lib/cloudmeta-imds/cloudmeta-lifecycle.pyz).
    type: path
    required: true
  directory_mode:
    description:
      - Mode of the directories of O(dest) that do not exist yet, which are created. Existing directories do not change.
      - Unset, the host's defaults apply.
    type: raw
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - ansible.builtin.files
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  diff_mode:
    support: partial
    details:
      - The archive is binary; the diff says only that it changes.
  platform:
    platforms: posix
  safe_file_operations:
    description: Uses Ansible's strict file operation functions to ensure proper permissions and avoid data corruption.
    support: full
  vault:
    description: Can automatically decrypt Ansible vaulted files.
    support: none
notes:
  - O(mode=preserve) is refused (the archive is built from many files); give a mode such as V("0644").
  - The archive needs Python 3.8 or later on the host, and boto3 only for what calls AWS.
seealso:
  - module: ansible.builtin.copy
  - name: PEP 441, improving Python ZIP application support
    description: The format of the archive.
    link: https://peps.python.org/pep-0441/
author: cloudmeta.imds maintainers (@cloudmeta)
'''

EXAMPLES = r'''
- name: Install the lifecycle agent and the collection's code it imports (as the register_instance role does)
  cloudmeta.imds.instance_library:
    src: instance-library.yml
    dest: /usr/local/lib/cloudmeta-imds/cloudmeta-lifecycle.pyz
    mode: "0644"
    directory_mode: "0755"
  register: library

- name: Restart the agents when the archive changed
  ansible.builtin.systemd_service:
    name: cloudmeta-lifecycle@web.service
    state: restarted
  when: library is changed
'''

RETURN = r'''
dest:
  description: Path of the archive on the host.
  returned: success
  type: str
  sample: /usr/local/lib/cloudmeta-imds/cloudmeta-lifecycle.pyz
checksum:
  description: SHA1 checksum of the archive.
  returned: success
  type: str
  sample: 6d3b5f1b1e3e1dc7a9b8f1f0c2b0d7e8c2a4f5e6
mode:
  description: Permissions of the archive.
  returned: success
  type: str
  sample: "0644"
owner:
  description: Owner of the archive.
  returned: success
  type: str
  sample: root
group:
  description: Group of the archive.
  returned: success
  type: str
  sample: root
size:
  description: Size of the archive in bytes.
  returned: success
  type: int
  sample: 228682
'''
