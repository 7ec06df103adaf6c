# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The imdsv2_report filter: render an IMDSv2 rollout report (plugin_utils/_imdsv2_report.py)."""

from __future__ import annotations

DOCUMENTATION = r'''
---
name: imdsv2_report
short_description: Render an IMDSv2 rollout report as Markdown, HTML or JSON
version_added: 1.1.0
description:
  - Renders the report made by the P(cloudmeta.imds.imdsv2_rollout_report#filter) filter, its instances sorted by
    risk (failing after enforcement, blocked, unknown, ready, enforced), for people (Markdown or HTML table) or for
    programs (JSON, the same data).
  - Text from AWS (names, tags) is escaped for the format, so a tag cannot break the table or inject HTML.
author: cloudmeta.imds maintainers (@cloudmeta)
options:
  _input:
    description: A report from P(cloudmeta.imds.imdsv2_rollout_report#filter).
    type: dict
    required: true
  output_format:
    description: The format.
    type: str
    choices: [markdown, html, json]
    default: markdown
'''

EXAMPLES = r'''
- name: Write the readiness of the region as a Markdown table
  ansible.builtin.copy:
    content: "{{ readiness | cloudmeta.imds.imdsv2_rollout_report | cloudmeta.imds.imdsv2_report('markdown') }}"
    dest: imdsv2-readiness.md
    mode: "0644"
'''

RETURN = r'''
_value:
  description: The report as text.
  type: str
'''

from ansible_collections.cloudmeta.imds.plugins.plugin_utils._imdsv2_report import imdsv2_report


class FilterModule:
    def filters(self):
        return {'imdsv2_report': imdsv2_report}
