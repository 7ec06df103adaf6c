# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The registration_settings_errors filter: register_instance's setting rules (plugin_utils/_registration_settings.py)."""

from __future__ import annotations

# The settings it shares with the registration_target filter are documented in
# both: a doc fragment can add options, not suboptions of one, and each filter
# takes only the settings it reads.
DOCUMENTATION = r'''
---
name: registration_settings_errors
short_description: The rules of the register_instance settings that a value breaks, as messages
version_added: 1.1.0
description:
  - Used by the R(cloudmeta.imds.register_instance role,ansible_collections.cloudmeta.imds.register_instance_role)
    before it reads IMDSv2, to fail with every broken rule at once; it can be used on its own to check settings
    before a bootstrap.
  - The rules the role's argument spec cannot express; types and choices are the argument spec's.
    A backend's required settings (the service name for C(file_sd) and C(etcd), the port for C(file_sd),
    C(haproxy) and C(etcd) when registering, the target group ARN, the Cloud Map service ID, the HAProxy socket
    and backend, the etcd URL), the port range, at most one of O(_input.address), O(_input.interface_device)
    and O(_input.interface_mac), the syntax of names, MAC, address, label names and values, ARN, service ID
    and URL (a final newline never passes), and the lifecycle agent switch.
  - Each message names the setting (as its C(register_instance_*) variable), what it must be and what it got.
  - Pure, sends no request.
author: cloudmeta.imds maintainers (@cloudmeta)
options:
  _input:
    description:
      - The role's settings, named as the C(register_instance_*) variables without that prefix.
        Unset keys take the role's defaults; an unknown key is an error.
    type: dict
    required: true
    suboptions:
      backend:
        description: See the role's C(register_instance_backend).
        type: str
        default: file_sd
      state:
        description: See the role's C(register_instance_state).
        type: str
        default: present
      service_name:
        description: See the role's C(register_instance_service_name).
        type: str
      port:
        description: See the role's C(register_instance_port).
        type: int
      labels:
        description: See the role's C(register_instance_labels).
        type: dict
        default: {}
      address:
        description: See the role's C(register_instance_address).
        type: str
      interface_device:
        description: See the role's C(register_instance_interface_device).
        type: int
      interface_mac:
        description: See the role's C(register_instance_interface_mac).
        type: str
      file_sd_dir:
        description: See the role's C(register_instance_file_sd_dir).
        type: path
        default: /etc/prometheus/file_sd
      elbv2_target_group_arn:
        description: See the role's C(register_instance_elbv2_target_group_arn).
        type: str
      cloudmap_service_id:
        description: See the role's C(register_instance_cloudmap_service_id).
        type: str
      haproxy_socket:
        description: See the role's C(register_instance_haproxy_socket).
        type: str
      haproxy_backend:
        description: See the role's C(register_instance_haproxy_backend).
        type: str
      etcd_url:
        description: See the role's C(register_instance_etcd_url).
        type: str
      lifecycle_agent:
        description: See the role's C(register_instance_lifecycle_agent).
        type: raw
        default: auto
'''

EXAMPLES = r'''
- name: Check etcd settings before the bootstrap reaches the role
  ansible.builtin.assert:
    that: __errors | length == 0
    fail_msg: "{{ __errors | join(' ') }}"
    quiet: true
  vars:
    __errors: >-
      {{ {'backend': 'etcd', 'service_name': 'web', 'port': 8080, 'etcd_url': etcd_gateway_url}
         | cloudmeta.imds.registration_settings_errors }}
'''

RETURN = r'''
_value:
  description: One message per broken rule, in the order of the role's documentation; empty when the settings pass.
  type: list
  elements: str
'''

from ansible_collections.cloudmeta.imds.plugins.plugin_utils._registration_settings import registration_settings_errors


class FilterModule:
    def filters(self):
        return {'registration_settings_errors': registration_settings_errors}
