#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: metadata_facts
short_description: Gather EC2 instance metadata (IMDSv2) as structured facts
version_added: 1.0.0
description:
  - Reads the EC2 instance metadata service (IMDS) of the host it runs on, with IMDSv2 tokens, and sets one
    structured fact, C(ansible_facts['ec2']), with fixed key names. A value that does not exist on the instance is
    V(null), never the string V(None).
  - O(gather_subset) picks groups of facts, as for M(ansible.builtin.setup), and the module reads only what those
    groups need. V(min) reads the instance identity document alone, one token request plus one read.
  - Reads run in parallel, with short timeouts, bounded retries and one token for the whole run; a host that is not on
    EC2 fails within seconds rather than hanging.
  - IAM credentials are never read and never appear in facts. Requests never go through an HTTP proxy.
  - Works as a task or from C(gather_facts) (see the examples); O(fact_path) and O(gather_timeout) are accepted so
    that a play setting them still gathers these facts.
  - Replaces M(amazon.aws.ec2_metadata_facts); O(legacy_facts=true) also sets that module's flat C(ec2_*) facts.
author: cloudmeta.imds maintainers (@cloudmeta)
extends_documentation_fragment:
  - cloudmeta.imds.connection
  - cloudmeta.imds.attributes
  - cloudmeta.imds.attributes.facts_module
  - cloudmeta.imds.attributes.action_group_imds
options:
  gather_subset:
    description:
      - Groups of facts to gather. V(all) gathers every group.
      - V(min) is the instance identity document (instance ID and type, AMI, account, region, availability zone,
        private IP, architecture). Like M(ansible.builtin.setup), V(min) is always gathered unless V(!min) is given,
        so V(network) means V(min) and V(network).
      - V(identity) adds the partition and services domain. V(placement) adds the availability zone ID, placement
        group, partition number and host ID. V(network) adds addresses, host names, the MAC, VPC, subnet, security
        groups and every network interface. V(instance) adds the life cycle, launch index, reservation and block
        device mapping. V(tags) adds instance tags (only when the instance allows tags in metadata). V(iam) adds
        the IAM role name and instance profile, never credentials. V(user_data) adds user data. V(public_keys) adds
        the launch key pairs. V(events) adds spot, rebalance, maintenance and Auto Scaling notices.
      - Prefix a group with V(!) to leave it out. As for M(ansible.builtin.setup), a group that is only excluded
        leaves V(min) alone; write V([all, "!user_data"]) for everything but user data.
      - V(["!all", "!min", tags]) reads the tags alone.
      - An unknown group is an error, also after V(!).
      - Groups that are not gathered still have their keys in C(ansible_facts['ec2']), with V(null) values.
    type: list
    elements: str
    default: [all]
  legacy_facts:
    description:
      - Also set the flat facts of M(amazon.aws.ec2_metadata_facts) (C(ansible_facts['ec2_instance_id']),
        C(ansible_ec2_placement_region) and so on), key for key and value for value, so that playbooks written for
        it run unchanged. Credential facts never appear.
      - This reads the whole metadata tree, as the old module did, whatever O(gather_subset) says;
        C(ansible_facts['ec2']) still holds only the chosen groups.
    type: bool
    default: false
  fact_path:
    description:
      - Ignored. Accepted because the implicit C(Gathering Facts) task passes the play keyword C(fact_path) to every
        facts module, so a play that sets it can also gather these facts.
    type: path
  gather_timeout:
    description:
      - Ignored; use O(total_timeout) and O(timeout). Accepted for symmetry with M(ansible.builtin.setup).
    type: int
notes:
  - Only the instance the module runs on can be read; use C(delegate_to) to read another instance.
  - Run from C(gather_facts) by listing the module in E(ANSIBLE_FACTS_MODULES) or C(ansible_facts_modules), next to
    V(ansible.builtin.setup) to keep the usual facts. Options then come from C(module_defaults) for
    V(cloudmeta.imds.metadata_facts) or the action group V(group/cloudmeta.imds.imds); the play keyword
    C(gather_subset) is meant for M(ansible.builtin.setup) and is not passed on.
  - Metadata text is untrusted. Values are plain strings and are never templated by Ansible.
seealso:
  - module: amazon.aws.ec2_metadata_facts
  - module: ansible.builtin.setup
  - name: Instance metadata categories
    description: What each metadata path holds.
    link: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-categories.html
'''

EXAMPLES = r'''
- name: Gather EC2 facts
  cloudmeta.imds.metadata_facts:

- name: Show where the instance runs
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts['ec2']['instance_id'] }} in {{ ansible_facts['ec2']['region'] }}
      ({{ ansible_facts['ec2']['availability_zone_id'] }}), subnet {{ ansible_facts['ec2']['subnet_id'] }}

- name: Only the identity document (one token request and one read)
  cloudmeta.imds.metadata_facts:
    gather_subset: [min]

- name: Identity, placement and network, nothing else
  cloudmeta.imds.metadata_facts:
    gather_subset: [placement, network]

- name: Everything except user data
  cloudmeta.imds.metadata_facts:
    gather_subset: [all, "!user_data"]

- name: Check for a spot interruption notice
  cloudmeta.imds.metadata_facts:
    gather_subset: ["!all", "!min", events]

- name: Drain when the instance is about to go away
  ansible.builtin.include_tasks: drain.yml
  when: ansible_facts['ec2']['events']['spot']['instance_action'] is not none

- name: Configure with a tag and the private address of the second interface
  ansible.builtin.template:
    src: app.conf.j2
    dest: /etc/app.conf
    mode: "0644"
  vars:
    app_owner: "{{ ansible_facts['ec2']['tags']['team:owner'] }}"
    app_backend_ip: "{{ ansible_facts['ec2']['network']['interfaces'][1]['local_ipv4s'][0] }}"

- name: Read through the IPv6 endpoint, allowing more time for a busy instance
  cloudmeta.imds.metadata_facts:
    endpoint_mode: IPv6
    total_timeout: 60
    retries: 6

- name: Keep playbooks written for amazon.aws.ec2_metadata_facts working
  cloudmeta.imds.metadata_facts:
    legacy_facts: true

- name: Use the old facts unchanged
  ansible.builtin.debug:
    msg: "{{ ansible_ec2_instance_id }} {{ ansible_ec2_placement_region }}"

# Gather these facts with the play's own fact gathering. Set once, e.g. in
# ansible.cfg ([defaults] facts_modules = ansible.builtin.setup, cloudmeta.imds.metadata_facts)
# or in the environment (ANSIBLE_FACTS_MODULES=ansible.builtin.setup,cloudmeta.imds.metadata_facts),
# or per play with the ansible_facts_modules variable as here.
- name: Gather setup and EC2 facts together
  hosts: ec2_instances
  gather_facts: true
  vars:
    ansible_facts_modules:
      - ansible.builtin.setup
      - cloudmeta.imds.metadata_facts
  module_defaults:
    cloudmeta.imds.metadata_facts:
      gather_subset: [placement, network, tags]
  tasks:
    - name: Show the instance ID
      ansible.builtin.debug:
        var: ansible_facts['ec2']['instance_id']
'''

RETURN = r'''
ansible_facts:
  description:
    - Facts set on the host. With O(legacy_facts=true) also the flat C(ec2_*) facts of
      M(amazon.aws.ec2_metadata_facts), documented there, without its credential facts.
  returned: always
  type: dict
  contains:
    ec2:
      description:
        - EC2 instance metadata. Every key is always present; a value is V(null) when the item does not exist on the
          instance or its group was not gathered, and a list value is V([]) when its group was gathered but the
          instance has none.
      returned: always
      type: dict
      contains:
        gather_subset:
          description: The groups that were gathered, after resolving O(gather_subset).
          returned: always
          type: list
          elements: str
          sample: [events, iam, identity, instance, min, network, placement, public_keys, tags, user_data]
        imds_version:
          description:
            - The IMDS version this run used, V(v2) (session token) or V(v1) (only after a fallback that
              O(allow_imdsv1=true) permitted, with a warning).
            - A host that reports V(v1) fails once the instance requires tokens; see the IMDSv2 rollout guide to find
              what else on it still uses IMDSv1.
          returned: always
          type: str
          sample: v2
          version_added: 1.1.0
        instance_id:
          description: The instance ID (C(min), C(identity), C(instance)).
          returned: always
          type: str
          sample: i-0123456789abcdef0
        instance_type:
          description: The instance type (C(min), C(identity), C(instance)).
          returned: always
          type: str
          sample: t3.micro
        ami_id:
          description: The AMI the instance was launched from (C(min), C(identity), C(instance)).
          returned: always
          type: str
          sample: ami-0abcdef1234567890
        account_id:
          description: The AWS account that owns the instance (C(min), C(identity), C(instance)).
          returned: always
          type: str
          sample: "123456789012"
        architecture:
          description: V(i386), V(x86_64) or V(arm64) (C(min), C(identity), C(instance)).
          returned: always
          type: str
          sample: x86_64
        partition:
          description: The AWS partition, for building ARNs (C(identity)).
          returned: always
          type: str
          sample: aws
        services_domain:
          description: The domain of AWS endpoints in the region (C(identity)).
          returned: always
          type: str
          sample: amazonaws.com
        region:
          description:
            - The region, from C(placement/region), else from the identity document (C(placement), C(min)).
            - Never derived by trimming the availability zone, which is wrong in Local and Wavelength Zones.
          returned: always
          type: str
          sample: eu-west-1
        availability_zone:
          description: The availability zone (C(placement), C(min)).
          returned: always
          type: str
          sample: eu-west-1b
        availability_zone_id:
          description: The availability zone ID, the same zone in every account (C(placement)).
          returned: always
          type: str
          sample: euw1-az2
        placement:
          description: Placement details (C(placement)).
          returned: always
          type: dict
          contains:
            group_name:
              description: The placement group, or V(null).
              returned: always
              type: str
              sample: spread-web
            partition_number:
              description: The partition in a partition placement group, or V(null).
              returned: always
              type: int
              sample: 3
            host_id:
              description: The Dedicated Host, or V(null).
              returned: always
              type: str
              sample: h-0123456789abcdef0
        local_ipv4:
          description: The primary private IPv4 address (C(network), else the identity document).
          returned: always
          type: str
          sample: 10.0.1.25
        public_ipv4:
          description: The public IPv4 address, or V(null) when there is none (C(network)).
          returned: always
          type: str
          sample: 203.0.113.10
        ipv6:
          description: The IPv6 address of the primary interface, or V(null) (C(network)).
          returned: always
          type: str
          sample: 2001:db8:1234:1a01::25
        mac:
          description: The MAC address of the primary interface (C(network)).
          returned: always
          type: str
          sample: 0a:1b:2c:3d:4e:5f
        hostname:
          description: The private host name (C(network)).
          returned: always
          type: str
          sample: ip-10-0-1-25.eu-west-1.compute.internal
        local_hostname:
          description: The private DNS name (C(network)).
          returned: always
          type: str
          sample: ip-10-0-1-25.eu-west-1.compute.internal
        public_hostname:
          description: The public DNS name, or V(null) (C(network)).
          returned: always
          type: str
          sample: ec2-203-0-113-10.eu-west-1.compute.amazonaws.com
        vpc_id:
          description: The VPC of the primary interface (device number 0) (C(network)).
          returned: always
          type: str
          sample: vpc-0a1b2c3d4e5f60718
        subnet_id:
          description: The subnet of the primary interface (device number 0) (C(network)).
          returned: always
          type: str
          sample: subnet-0aa11bb22cc33dd44
        security_groups:
          description: Names of the instance's security groups (C(network)).
          returned: always
          type: list
          elements: str
          sample: [web, ssh-from-bastion]
        security_group_ids:
          description: IDs of the security groups of the primary interface (C(network)).
          returned: always
          type: list
          elements: str
          sample: [sg-0123456789abcdef0, sg-0fedcba9876543210]
        network:
          description: Network interfaces (C(network)).
          returned: always
          type: dict
          contains:
            interfaces:
              description:
                - One entry per network interface, ordered by device number; the primary interface comes first.
                - Every entry has every key below. Missing single values are V(null), missing lists are V([]).
              returned: always
              type: list
              elements: dict
              contains:
                device_number:
                  description: The device index of the interface.
                  type: int
                  returned: always
                  sample: 0
                network_card_index:
                  description: The network card of the interface.
                  type: int
                  returned: always
                  sample: 0
                interface_id:
                  description: The ENI ID.
                  type: str
                  returned: always
                  sample: eni-0123456789abcdef0
                mac:
                  description: The MAC address.
                  type: str
                  returned: always
                  sample: 0a:1b:2c:3d:4e:5f
                owner_id:
                  description: The account that owns the interface.
                  type: str
                  returned: always
                  sample: "123456789012"
                local_hostname:
                  description: The private DNS name.
                  type: str
                  returned: always
                  sample: ip-10-0-1-25.eu-west-1.compute.internal
                public_hostname:
                  description: The public DNS name, or V(null).
                  type: str
                  returned: always
                  sample: ec2-203-0-113-10.eu-west-1.compute.amazonaws.com
                local_ipv4s:
                  description: Private IPv4 addresses, the primary one first.
                  type: list
                  elements: str
                  returned: always
                  sample: [10.0.1.25, 10.0.1.26]
                public_ipv4s:
                  description: Public IPv4 addresses.
                  type: list
                  elements: str
                  returned: always
                  sample: [203.0.113.10]
                ipv4_associations:
                  description: Each public IPv4 address mapped to the private addresses it is associated with.
                  type: dict
                  returned: always
                  sample: {"203.0.113.10": ["10.0.1.25"]}
                ipv6s:
                  description: IPv6 addresses.
                  type: list
                  elements: str
                  returned: always
                  sample: ["2001:db8:1234:1a01::25"]
                ipv4_prefix:
                  description: IPv4 prefixes delegated to the interface.
                  type: list
                  elements: str
                  returned: always
                  sample: [10.0.1.48/28]
                ipv6_prefix:
                  description: IPv6 prefixes delegated to the interface.
                  type: list
                  elements: str
                  returned: always
                  sample: ["2001:db8:1234:1a01:1::/80"]
                security_groups:
                  description: Names of the interface's security groups.
                  type: list
                  elements: str
                  returned: always
                  sample: [web, ssh-from-bastion]
                security_group_ids:
                  description: IDs of the interface's security groups.
                  type: list
                  elements: str
                  returned: always
                  sample: [sg-0123456789abcdef0]
                subnet_id:
                  description: The subnet.
                  type: str
                  returned: always
                  sample: subnet-0aa11bb22cc33dd44
                subnet_ipv4_cidr_block:
                  description: The subnet's IPv4 CIDR block.
                  type: str
                  returned: always
                  sample: 10.0.1.0/24
                subnet_ipv6_cidr_blocks:
                  description: The subnet's IPv6 CIDR blocks.
                  type: list
                  elements: str
                  returned: always
                  sample: ["2001:db8:1234:1a01::/64"]
                vpc_id:
                  description: The VPC.
                  type: str
                  returned: always
                  sample: vpc-0a1b2c3d4e5f60718
                vpc_ipv4_cidr_block:
                  description: The VPC's primary IPv4 CIDR block.
                  type: str
                  returned: always
                  sample: 10.0.0.0/16
                vpc_ipv4_cidr_blocks:
                  description: All IPv4 CIDR blocks of the VPC.
                  type: list
                  elements: str
                  returned: always
                  sample: [10.0.0.0/16]
                vpc_ipv6_cidr_blocks:
                  description: The IPv6 CIDR blocks of the VPC.
                  type: list
                  elements: str
                  returned: always
                  sample: ["2001:db8:1234:1a00::/56"]
        instance_life_cycle:
          description: V(on-demand), V(spot) or V(scheduled) (C(instance)).
          returned: always
          type: str
          sample: on-demand
        instance_action:
          description: Pending bundling action, usually V(none) (C(instance)).
          returned: always
          type: str
          sample: none
        ami_launch_index:
          description: The launch index of the instance among those launched together (C(instance)).
          returned: always
          type: int
          sample: 0
        reservation_id:
          description: The reservation ID (C(instance)).
          returned: always
          type: str
          sample: r-0123456789abcdef0
        block_device_mapping:
          description: Virtual device names mapped to devices, as metadata lists them (C(instance)).
          returned: always
          type: dict
          sample: {"ami": "/dev/xvda", "root": "/dev/xvda", "ebs1": "sdf", "ephemeral0": "sdb"}
        tags:
          description:
            - Instance tags, keys exactly as in metadata (V(team:owner) stays V(team:owner)) (C(tags)).
            - V(null) when the instance does not allow tags in metadata (C(InstanceMetadataTags=disabled), the EC2
              default), since metadata then cannot tell whether the instance has tags.
          returned: always
          type: dict
          sample: {"Name": "web-1", "team:owner": "platform"}
        iam:
          description: The instance profile (C(iam)). Credentials are never read.
          returned: always
          type: dict
          contains:
            role_name:
              description: The IAM role of the instance profile, or V(null) when there is none.
              returned: always
              type: str
              sample: web-server-role
            instance_profile_arn:
              description: The instance profile ARN.
              returned: always
              type: str
              sample: arn:aws:iam::123456789012:instance-profile/web-server-profile
            instance_profile_id:
              description: The instance profile ID.
              returned: always
              type: str
              sample: AIPAEMULATOREXAMPLE01
        user_data:
          description:
            - User data, with gzip or zlib compression undone (C(user_data)). V(null) when the instance has none.
            - Text when it is UTF-8; otherwise base64, and C(user_data_encoding) says so.
          returned: always
          type: str
          sample: "#cloud-config\npackage_update: true\n"
        user_data_encoding:
          description: V(utf-8) when C(user_data) is the text itself, V(base64) when it is binary data in base64.
          returned: always
          type: str
          sample: utf-8
        user_data_compression:
          description:
            - V(gzip) or V(zlib) when C(user_data) was decompressed, else V(null).
            - Data that does not decompress, or would grow beyond 1 MiB, is kept as served.
          returned: always
          type: str
          sample: gzip
        public_keys:
          description: The key pairs given at launch (C(public_keys)).
          returned: always
          type: list
          elements: dict
          contains:
            index:
              description: The key's index in metadata.
              type: int
              returned: always
              sample: 0
            name:
              description: The key pair name.
              type: str
              returned: always
              sample: my-key
            openssh_key:
              description: The public key in OpenSSH format.
              type: str
              returned: always
              sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... my-key
        events:
          description: Notices about the instance's future (C(events)).
          returned: always
          type: dict
          contains:
            spot:
              description: Spot interruption notices.
              returned: always
              type: dict
              contains:
                instance_action:
                  description: The pending interruption, or V(null) when none is scheduled.
                  returned: always
                  type: dict
                  sample: {"action": "terminate", "time": "2017-09-18T08:22:00Z"}
                termination_time:
                  description: The older form of the notice, the termination time, or V(null).
                  returned: always
                  type: str
                  sample: "2017-09-18T08:22:00Z"
            rebalance:
              description: The rebalance recommendation, or V(null) when there is none.
              returned: always
              type: dict
              sample: {"notice_time": "2020-10-27T08:22:00Z"}
            maintenance:
              description: Scheduled maintenance events.
              returned: always
              type: dict
              contains:
                scheduled:
                  description: Events to come, with snake_case keys.
                  returned: always
                  type: list
                  elements: dict
                  sample:
                    - code: system-reboot
                      description: scheduled reboot
                      event_id: instance-event-0d59937288b749b32
                      not_before: 21 Jan 2019 09:00:43 GMT
                      not_after: 21 Jan 2019 09:17:23 GMT
                      state: active
                history:
                  description: Completed or canceled events, with snake_case keys.
                  returned: always
                  type: list
                  elements: dict
                  sample: []
            autoscaling_target_lifecycle_state:
              description: The Auto Scaling lifecycle state the instance is moving to, or V(null).
              returned: always
              type: str
              sample: InService
        identity_document:
          description:
            - The instance identity document, keys as AWS serves them (C(min), C(identity), C(instance)).
          returned: always
          type: dict
          sample:
            accountId: "123456789012"
            architecture: x86_64
            availabilityZone: eu-west-1b
            imageId: ami-0abcdef1234567890
            instanceId: i-0123456789abcdef0
            instanceType: t3.micro
            pendingTime: "2024-05-06T07:08:09Z"
            privateIp: 10.0.1.25
            region: eu-west-1
            version: "2017-09-30"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import ImdsError
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.gather import gather_facts
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.options import connection_argspec


def main():
    module = AnsibleModule(
        argument_spec=connection_argspec(
            gather_subset=dict(type='list', elements='str', default=['all']),
            legacy_facts=dict(type='bool', default=False),
            fact_path=dict(type='path'),
            gather_timeout=dict(type='int'),
        ),
        supports_check_mode=True,
    )
    try:
        facts = gather_facts(module.params, warn=module.warn)
    except ImdsError as exc:
        module.fail_json(msg=exc.message)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == '__main__':
    main()
