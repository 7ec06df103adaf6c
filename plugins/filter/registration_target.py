# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The registration_target filter: what register_instance registers (plugin_utils/_registration_target.py)."""

from __future__ import annotations

DOCUMENTATION = r'''
---
name: registration_target
short_description: Choose the address, identity and backend data to register from the ec2 facts
version_added: 1.1.0
description:
  - Used by the R(cloudmeta.imds.register_instance role,ansible_collections.cloudmeta.imds.register_instance_role)
    after it has read IMDSv2; it can be used on its own to see what the role would register.
  - Chooses the network interface (by O(settings.interface_device), else by O(settings.interface_mac), else the
    one holding O(settings.address), else the primary interface with device number C(0)), the address (the
    explicit one, else the chosen interface's primary private IPv4, else the instance's) and the subnet and VPC
    (the chosen interface's, else the primary interface's).
  - Fails with a message naming the value when the instance ID or region is not usable, no interface has the
    chosen device number or MAC, a value holds whitespace or a line break (metadata is untrusted text), or the
    address is not an IPv4 or IPv6 address.
  - Pure, sends no request.
author: cloudmeta.imds maintainers (@cloudmeta)
options:
  _input:
    description: The ec2 facts, C(ansible_facts['ec2']), from M(cloudmeta.imds.metadata_facts).
    type: dict
    required: true
  settings:
    description:
      - The role's settings, named as the C(register_instance_*) variables without that prefix.
        Unset keys take the role's defaults.
    type: dict
    default: {}
    suboptions:
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
      elbv2_target_type:
        description: See the role's C(register_instance_elbv2_target_type).
        type: str
        choices: [instance, ip]
        default: instance
      cloudmap_instance_id:
        description: See the role's C(register_instance_cloudmap_instance_id).
        type: str
      cloudmap_attributes:
        description: See the role's C(register_instance_cloudmap_attributes).
        type: dict
        default: {}
      haproxy_server_name:
        description: See the role's C(register_instance_haproxy_server_name).
        type: str
'''

EXAMPLES = r'''
- name: Show what register_instance would register for the second network interface
  ansible.builtin.debug:
    msg: "{{ ansible_facts['ec2'] | cloudmeta.imds.registration_target({'interface_device': 1, 'port': 9100}) }}"
'''

RETURN = r'''
_value:
  description: The identity to register and the data each backend needs.
  type: dict
  contains:
    discovered:
      description:
        - What the role registers, the role's fact C(register_instance_discovered).
        - C(address), C(port), C(service_name), C(instance_id), C(region), C(availability_zone),
          C(availability_zone_id), C(subnet_id), C(vpc_id), C(account_id); unknown values are C(null).
      type: dict
    interface:
      description: The chosen network interface as in the ec2 facts, C(null) when none (an explicit address
        outside every interface).
      type: dict
    file_sd:
      description:
        - C(path), the file for this service and instance, and C(group), its one Prometheus target group
          (C(targets) and C(labels); labels with no value are left out); C(group) is C(null) without a port.
        - C(null) without a service name.
      type: dict
    elbv2:
      description: C(target_id), the instance ID or, with O(settings.elbv2_target_type=ip), the address.
      type: dict
    cloudmap:
      description:
        - C(instance_id), the Cloud Map instance ID, and C(attributes), the role's attributes, then the labels
          as strings, then O(settings.cloudmap_attributes).
      type: dict
    haproxy:
      description: C(server_name), the server name of the dynamic mode.
      type: dict
'''

from ansible_collections.cloudmeta.imds.plugins.plugin_utils._registration_target import registration_target


class FilterModule:
    def filters(self):
        return {'registration_target': registration_target}
