#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: file_sd_target
short_description: Write or remove one Prometheus file-based service discovery file
version_added: 1.1.0
description:
  - Writes one Prometheus L(file-based service discovery,https://prometheus.io/docs/prometheus/latest/configuration/configuration/#file_sd_config)
    file holding target groups, or removes it. Made for an instance that registers itself, with one file per service and
    instance, so any number of instances can register into one shared directory at the same time.
  - The new text goes to a hidden temporary file in the same directory, is flushed to disk, gets its mode and owner,
    and is renamed over the file, so Prometheus reads the old file or the new one, never a part of either.
  - It reads the file first and writes only when the text differs; when only the mode, owner or group differ it
    sets those. A second run reports no change.
  - In one step it also creates the file's directory when it is missing and O(directory_mode) is set; an existing
    directory keeps its mode.
  - With O(state=absent) it removes the file. A file that is already gone is not an error.
  - The C(cloudmeta.imds.register_instance) role's V(file_sd) backend and its lifecycle agent use this module's code.
author: cloudmeta.imds maintainers (@cloudmeta)
extends_documentation_fragment:
  - cloudmeta.imds.attributes
  - cloudmeta.imds.attributes.change_module
options:
  path:
    description:
      - Absolute path of the file, for example V(/etc/prometheus/file_sd/node-i-0123456789abcdef0.json).
      - Point Prometheus at names that hidden files never match (C(node-*.json), or C([^.]*.json)).
    type: path
    required: true
  state:
    description:
      - V(present) writes the file, V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  targets:
    description:
      - The C(host:port) targets of the one target group the file holds, for example V(["10.0.1.25:9100"]).
      - The file then holds this one target group, with O(labels), as JSON with sorted keys, two spaces of indent
        and a final newline, just as C([group] | to_nice_json(indent=2)) followed by a newline writes it.
      - One of O(targets) and O(content) is required with O(state=present).
    type: list
    elements: str
  labels:
    description:
      - Labels of the target group of O(targets). Names must match C([a-zA-Z_][a-zA-Z0-9_]*); values must be
        strings (quote numbers). Labels starting with C(__), such as C(__metrics_path__), are passed through.
    type: dict
  content:
    description:
      - The whole text of the file instead of O(targets) and O(labels), for several target groups or a layout of
        your own. It must be a JSON list of target groups, each with C(targets) and optionally C(labels), all strings.
      - Compared and written exactly as given, so end it with a newline if the file should have one.
    type: str
  mode:
    description:
      - Permissions of the file, as for the C(mode) of M(ansible.builtin.file); a quoted octal string such as
        V("0640") or a symbolic mode such as V(u=rw,g=r,o=r).
      - The default lets Prometheus read the file whatever the umask.
    type: raw
    default: '0644'
  owner:
    description:
      - User that owns the file (a name or a number). Unset, a new file belongs to the user that runs the module and
        a rewritten one keeps its owner where the module runs as root.
    type: str
  group:
    description:
      - Group of the file (a name or a number). Unset, as for O(owner).
    type: str
  directory_mode:
    description:
      - Create the file's directory, and any missing parent of it, with these permissions when it does not exist
        (as for the C(mode) of M(ansible.builtin.file)). An existing directory keeps its mode.
      - Unset, a missing directory is an error, for example when the shared directory is a network mount that is not
        mounted.
    type: raw
notes:
  - Several hosts can write into one directory at the same time (a network mount that the Prometheus server reads)
    as long as each writes its own file.
seealso:
  - name: Prometheus file_sd_config
    description: The file format and how Prometheus reads it.
    link: https://prometheus.io/docs/prometheus/latest/configuration/configuration/#file_sd_config
  - module: ansible.builtin.copy
    description: Writes any file; this module writes a file_sd file in one step, directory included.
'''

EXAMPLES = r'''
- name: Register this instance's node exporter for Prometheus
  cloudmeta.imds.file_sd_target:
    path: /etc/prometheus/file_sd/node-{{ ansible_facts['ec2']['instance_id'] }}.json
    targets:
      - "{{ ansible_facts['ec2']['local_ipv4'] }}:9100"
    labels:
      instance_id: "{{ ansible_facts['ec2']['instance_id'] }}"
      availability_zone: "{{ ansible_facts['ec2']['availability_zone'] }}"
      team: payments
    directory_mode: '0755'

- name: Deregister it
  cloudmeta.imds.file_sd_target:
    path: /etc/prometheus/file_sd/node-{{ ansible_facts['ec2']['instance_id'] }}.json
    state: absent

- name: Two target groups in one file, readable only by the prometheus group
  cloudmeta.imds.file_sd_target:
    path: /srv/prometheus/file_sd/app.json
    content: "{{ [{'targets': ['10.0.1.25:8080'], 'labels': {'job': 'app'}},
                  {'targets': ['10.0.1.25:9100'], 'labels': {'job': 'node'}}] | to_nice_json(indent=2) }}\n"
    mode: '0640'
    group: prometheus
'''

RETURN = r'''
path:
  description: The file.
  returned: always
  type: str
  sample: /etc/prometheus/file_sd/node-i-0123456789abcdef0.json
content:
  description: The text the file holds (in check mode, would hold); V(null) after O(state=absent).
  returned: always
  type: str
  sample: "[\n  {\n    \"labels\": {\n      \"team\": \"payments\"\n    },\n    \"targets\": [\n      \"10.0.1.25:9100\"\n    ]\n  }\n]\n"
written:
  description: Whether the file's text was (in check mode, would be) written; V(false) when only its mode or owner
    changed.
  returned: always
  type: bool
  sample: true
mode:
  description: The file's permissions as octal text; V(null) after O(state=absent).
  returned: always
  type: str
  sample: '0644'
uid:
  description: The user ID that owns the file; V(null) after O(state=absent).
  returned: always
  type: int
  sample: 0
gid:
  description: The file's group ID; V(null) after O(state=absent).
  returned: always
  type: int
  sample: 0
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cloudmeta.imds.plugins.module_utils._registration.file_sd import (
    FileSdError,
    apply,
    render,
    target_group,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            targets=dict(type='list', elements='str'),
            labels=dict(type='dict'),
            content=dict(type='str'),
            mode=dict(type='raw', default='0644'),
            owner=dict(type='str'),
            group=dict(type='str'),
            directory_mode=dict(type='raw'),
        ),
        mutually_exclusive=[('content', 'targets'), ('content', 'labels')],
        required_if=[('state', 'present', ('targets', 'content'), True)],
        required_by={'labels': 'targets'},
        supports_check_mode=True,
    )
    params = dict(module.params)
    try:
        if params['state'] == 'present' and params['content'] is None:
            params['content'] = render([target_group(params['targets'], params['labels'])])
        # Symbolic modes follow ansible.builtin.file exactly, with Ansible's own parser.
        result, diff = apply(params, check_mode=module.check_mode,
                             symbolic=module._symbolic_mode_to_octal)  # pylint: disable=protected-access
    except FileSdError as exc:
        module.fail_json(msg=exc.message, path=params['path'])
    module.exit_json(diff=diff, **result)


if __name__ == '__main__':
    main()
