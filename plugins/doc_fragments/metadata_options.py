# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The instance metadata options of an instance or a launch template (EC2 C(InstanceMetadataOptions)), documented once.

Used by instance_metadata_options and launch_template_metadata_options;
instance_metadata_defaults has its own, since the account defaults add
V(no-preference) to every choice.
"""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  http_tokens:
    description:
      - V(required) allows IMDSv2 only (session tokens required); V(optional) also allows IMDSv1.
      - For a launch template, this applies to the instances launched from the new version.
    type: str
    choices: [optional, required]
  http_put_response_hop_limit:
    description:
      - How many network hops the token response may travel, 1 to 64.
      - Use V(2) on instances that run containers, so that a container behind the host's network bridge can get a
        token.
    type: int
  http_endpoint:
    description:
      - V(disabled) turns the instance metadata service off, V(enabled) on.
    type: str
    choices: [enabled, disabled]
  http_protocol_ipv6:
    description:
      - Whether IMDS also answers on its IPv6 address (Nitro instances only).
    type: str
    choices: [enabled, disabled]
  instance_metadata_tags:
    description:
      - Whether instance tags can be read from instance metadata.
    type: str
    choices: [enabled, disabled]
'''
