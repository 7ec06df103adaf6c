# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""What the metadata_facts module does: options -> read plan -> one read -> facts.

The module itself only declares its arguments and turns errors into
fail_json; everything between is here, so it can be run and tested
without AnsibleModule.
"""

from __future__ import annotations

from .facts import (
    assemble_tree,
    plan_reads,
    resolve_gather_subset,
    shape_facts,
)
from .legacy_facts import legacy_facts
from .options import ConnectionOptions


def gather_facts(params, warn=None):
    """The ansible_facts for the module's PARAMS.

    Raises ValueError for a bad gather_subset, before any request, and an
    ImdsError when the options are invalid or the metadata cannot be read.
    WARN, if given, is called with each warning.
    """
    groups = resolve_gather_subset(params['gather_subset'])
    plan = plan_reads(groups, full_tree=params['legacy_facts'])
    client = ConnectionOptions.from_dict(params).client(warn=warn)
    tree = read_instance_tree(client, plan)
    facts = {'ec2': shape_facts(tree, groups)}
    facts['ec2']['imds_version'] = client.imds_version
    if params['legacy_facts']:
        facts.update(legacy_facts(tree, warn=warn))
    return facts


def read_instance_tree(client, plan):
    """Read what PLAN lists in one parallel read, so total_timeout bounds the whole run.

    A directory that does not exist (tags disabled, no role) is left out.
    """
    read = client.read(plan.leaves, plan.trees)
    return assemble_tree(read.leaves, read.trees)
