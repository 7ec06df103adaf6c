# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The attributes of the collection's modules, documented once (in the style of community.crypto's fragment).

Every module uses DOCUMENTATION (what each attribute means; all run on POSIX
hosts) and one of CHANGE_MODULE, INFO_MODULE or FACTS_MODULE (how far it
supports them); a module in an action group adds ACTION_GROUP_IMDS or
ACTION_GROUP_AWS (meta/runtime.yml).
"""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
'''

    # A module that changes something, and says exactly what in check and diff mode.
    CHANGE_MODULE = r'''
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
'''

    # A module that only reads: check mode changes nothing about what it does.
    INFO_MODULE = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
'''

    # INFO_MODULE, returning facts.
    FACTS_MODULE = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
'''

    ACTION_GROUP_IMDS = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/cloudmeta.imds.imds) in C(module_defaults) to set the metadata connection options once.
    support: full
    membership:
      - cloudmeta.imds.imds
'''

    ACTION_GROUP_AWS = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/cloudmeta.imds.aws) in C(module_defaults) to set O(region) and O(endpoint_url) once.
    support: full
    membership:
      - cloudmeta.imds.aws
'''
