# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The imdsv2_rollout_report filter: join readiness with what a rollout did (plugin_utils/_imdsv2_report.py)."""

from __future__ import annotations

DOCUMENTATION = r'''
---
name: imdsv2_rollout_report
short_description: Join IMDSv2 readiness with what a rollout did, sorted by risk
version_added: 1.1.0
description:
- Joins the result of M(cloudmeta.imds.imdsv2_readiness_info) (or a report of an earlier run, to verify it) with what the
  rollout did into one report, the input of P(cloudmeta.imds.imdsv2_report#filter).
- Each instance gets a C(risk), the first that applies of V(failing) (tokens were required and IMDSv1 calls were rejected
  afterwards), V(blocked), V(unknown), V(ready) and V(enforced), and the report lists them in that order, most IMDSv1 calls
  first within a risk.
- Each instance also gets the C(action) taken (or, in check mode or report-only mode, that would be taken).
author: cloudmeta.imds maintainers (@cloudmeta)
options:
  _input:
    description: The result of M(cloudmeta.imds.imdsv2_readiness_info), or a report made by this filter.
    type: dict
    required: true
  changes:
    description: Results of M(cloudmeta.imds.instance_metadata_options) that required tokens.
    type: list
    elements: dict
  soak:
    description: The result of M(cloudmeta.imds.imdsv2_readiness_info) read after the soak period, for the changed instances.
    type: dict
  rollbacks:
    description: Results of M(cloudmeta.imds.instance_metadata_options) that allowed IMDSv1 again.
    type: list
    elements: dict
  template_versions:
    description: Results of M(cloudmeta.imds.launch_template_metadata_options).
    type: list
    elements: dict
  mode:
    description: V(report), V(enforce) or V(verify), as the playbook ran.
    type: str
    default: report
  check_mode:
    description: Whether the playbook ran in check mode.
    type: bool
    default: false
  started_at:
    description: When the rollout started (ISO 8601), the start of the window for rejected calls afterwards.
    type: str
'''

EXAMPLES = r'''
- name: Report what the rollout did
  ansible.builtin.set_fact:
    report: >-
      {{ audit | cloudmeta.imds.imdsv2_rollout_report(changes=changes, soak=soak, mode='enforce',
         started_at=started_at) }}
'''

RETURN = r'''
_value:
  description: The report, with C(summary), C(enforced), C(failing), C(rolled_back), C(instances) and C(launch_templates).
  type: dict
'''

from ansible_collections.cloudmeta.imds.plugins.plugin_utils._imdsv2_report import imdsv2_rollout_report


class FilterModule:
    def filters(self):
        return {'imdsv2_rollout_report': imdsv2_rollout_report}
