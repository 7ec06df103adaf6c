# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""The IMDSv2 rollout report: one data structure, sorted by risk, rendered as Markdown, HTML or JSON.

The imdsv2_rollout playbook gathers module results; everything that decides
(what happened to each instance, what is failing, the order) is here, so it
is tested as Python. The filters imdsv2_rollout_report and imdsv2_report are
thin wrappers.
"""

from __future__ import annotations

import html
import json

from ansible.errors import AnsibleFilterError

# Most urgent first: failing now, then what enforcing would break, what nobody knows, what is left to do, done.
RISKS = ('failing', 'blocked', 'unknown', 'ready', 'enforced')
COLUMNS = (
    ('risk', 'Risk'), ('instance_id', 'Instance'), ('name', 'Name'), ('verdict', 'Verdict'),
    ('imdsv1_calls', 'IMDSv1 calls'), ('rejected_after', 'Rejected after'), ('http_tokens', 'Tokens'),
    ('hop_limit', 'Hop limit'), ('launched_from', 'Launched from'), ('action', 'Action'), ('reason', 'Reason'),
)
FORMATS = ('markdown', 'html', 'json')


def risk(item):
    if item.get('failing'):
        return 'failing'
    return item['verdict']


def risk_key(item):
    return (RISKS.index(item['risk']), -(item.get('imdsv1_calls') or 0), item['instance_id'])


def changed_ids(results):
    """Instance IDs that module results (instance_metadata_options, one per host or task) say they changed."""
    ids = []
    for result in results or []:
        if isinstance(result, dict) and not result.get('failed'):
            ids.extend(result.get('changed_ids') or [])
    return ids


def hop_limit_changes(results):
    """{instance_id: new hop limit} for the instances whose hop limit module results say they changed."""
    changes = {}
    for result in results or []:
        if isinstance(result, dict) and not result.get('failed'):
            for item in result.get('instances') or []:
                before = (item.get('before') or {}).get('http_put_response_hop_limit')
                after = (item.get('after') or {}).get('http_put_response_hop_limit')
                if item.get('changed') and before != after:
                    changes[item['instance_id']] = after
    return changes


def _origin(launched_from):
    if not launched_from:
        return None
    label = launched_from.get('name') or launched_from.get('id')
    if launched_from.get('version'):
        label += ' v%s' % launched_from['version']
    return label + ('' if launched_from.get('requires_tokens') else ' (allows IMDSv1)')


def imdsv2_rollout_report(audit, changes=None, soak=None, rollbacks=None, template_versions=None, mode='report',
                          check_mode=False, started_at=None):
    """One report from the audit (a readiness result, or the JSON of an earlier report) and what the rollout did."""
    if not isinstance(audit, dict) or 'instances' not in audit:
        raise AnsibleFilterError('imdsv2_rollout_report takes the result of imdsv2_readiness_info or a previous report.')
    previous = audit.get('report_version') is not None
    enforced = set(changed_ids(changes))
    if previous:
        enforced |= set(audit.get('enforced') or [])
    rolled_back = set(changed_ids(rollbacks))
    if previous:
        rolled_back |= set(audit.get('rolled_back') or [])
    hop_limited = hop_limit_changes(changes)
    soaked = {item['instance_id']: item for item in (soak or {}).get('instances', [])}
    instances = []
    for source in audit['instances']:
        item = {key: source.get(key) for key in (
            'instance_id', 'name', 'state', 'verdict', 'reason', 'metadata_no_token', 'metadata_no_token_rejected',
            'imdsv1_calls', 'metadata_options', 'auto_scaling_group', 'launched_from')}
        options = item['metadata_options'] or {}
        item['http_tokens'] = options.get('http_tokens')
        item['hop_limit'] = options.get('http_put_response_hop_limit')
        after = soaked.get(item['instance_id'])
        item['rejected_after'] = after.get('metadata_no_token_rejected') if after else source.get('rejected_after')
        item['failing'] = bool(item['rejected_after']) and item['instance_id'] in enforced
        item['action'] = _action(item, source, enforced, rolled_back, hop_limited, mode, check_mode, previous)
        # The options as they are now: what the rollout set, else what the audit read.
        if item['instance_id'] in enforced and item['instance_id'] not in rolled_back:
            item['http_tokens'] = 'required'
            item['hop_limit'] = hop_limited.get(item['instance_id'], item['hop_limit'])
        elif item['instance_id'] in rolled_back:
            item['http_tokens'] = 'optional'
        item['risk'] = risk(item)
        instances.append(item)
    instances.sort(key=risk_key)
    summary = {name: 0 for name in RISKS}
    for item in instances:
        summary[item['risk']] += 1
    return {
        'report_version': 1,
        'mode': mode,
        'check_mode': bool(check_mode),
        'started_at': audit.get('started_at') if previous else started_at,
        'window': audit.get('window'),
        'summary': summary,
        'enforced': sorted(enforced - rolled_back),
        'failing': [item['instance_id'] for item in instances if item['failing']],
        'rolled_back': sorted(rolled_back),
        'instances': instances,
        'launch_templates': _templates(audit.get('launch_templates') or [], template_versions),
    }


def _action(item, source, enforced, rolled_back, hop_limited, mode, check_mode, previous):
    instance_id = item['instance_id']
    if instance_id in rolled_back:
        return 'rolled back to optional'
    if instance_id in enforced:
        action = source.get('action') if previous and source.get('action') else 'tokens required'
        if instance_id in hop_limited:
            action += ', hop limit %s' % hop_limited[instance_id]
        return action
    if item['verdict'] == 'ready':
        return 'would require tokens' if check_mode or mode == 'report' else 'not changed'
    if item['verdict'] == 'enforced':
        return 'none (already enforced)'
    return 'none (%s)' % item['verdict']


def _templates(templates, versions):
    added = {}
    for result in versions or []:
        if isinstance(result, dict) and result.get('changed') and result.get('launch_template_id'):
            added[result['launch_template_id']] = result.get('version')
    listed = []
    for template in templates:
        entry = dict(template)
        if template.get('id') in added:
            entry['new_version'] = added[template['id']]
        listed.append(entry)
    return listed


def _cell(item, key):
    if key == 'launched_from':
        value = _origin(item.get('launched_from'))
    else:
        value = item.get(key)
    return '' if value is None else str(value)


def _markdown_escape(text):
    # Names and tags come from AWS and are untrusted: no table breaks, no raw HTML.
    text = html.escape(text, quote=False)
    return text.replace('\\', '\\\\').replace('|', '\\|').replace('\n', ' ')


def _markdown(report):
    lines = ['# IMDSv2 rollout report', '']
    window = report.get('window') or {}
    lines.append('Mode: %s%s. Evidence window: %s to %s.' % (
        report['mode'], ' (check mode)' if report['check_mode'] else '', window.get('start'), window.get('end')))
    lines.append('')
    lines.append(', '.join('%s: %d' % (name, count) for name, count in report['summary'].items()))
    lines += ['', '| %s |' % ' | '.join(title for _key, title in COLUMNS),
              '|%s|' % '|'.join(' --- ' for _column in COLUMNS)]
    for item in report['instances']:
        lines.append('| %s |' % ' | '.join(_markdown_escape(_cell(item, key)) for key, _title in COLUMNS))
    if report['launch_templates']:
        lines += ['', '## Launch templates whose default version allows IMDSv1', '',
                  '| Template | Name | Default version | Tokens | New version |', '| --- | --- | --- | --- | --- |']
        for template in report['launch_templates']:
            options = template.get('metadata_options') or {}
            lines.append('| %s |' % ' | '.join(_markdown_escape('' if value is None else str(value)) for value in (
                template.get('id'), template.get('name'), template.get('version'),
                options.get('http_tokens') or 'not set', template.get('new_version'))))
    return '\n'.join(lines) + '\n'


def _html(report):
    escape = html.escape
    window = report.get('window') or {}
    parts = ['<!DOCTYPE html>', '<html><head><meta charset="utf-8"><title>IMDSv2 rollout report</title></head><body>',
             '<h1>IMDSv2 rollout report</h1>',
             '<p>Mode: %s%s. Evidence window: %s to %s.</p>' % (
                 escape(report['mode']), ' (check mode)' if report['check_mode'] else '',
                 escape(str(window.get('start'))), escape(str(window.get('end')))),
             '<table><thead><tr>%s</tr></thead><tbody>' % ''.join('<th>%s</th>' % escape(t) for _k, t in COLUMNS)]
    for item in report['instances']:
        parts.append('<tr class="risk-%s">%s</tr>' % (
            escape(item['risk']), ''.join('<td>%s</td>' % escape(_cell(item, key)) for key, _title in COLUMNS)))
    parts.append('</tbody></table>')
    if report['launch_templates']:
        parts.append('<h2>Launch templates whose default version allows IMDSv1</h2><ul>')
        for template in report['launch_templates']:
            parts.append('<li>%s (%s), version %s%s</li>' % (
                escape(str(template.get('id'))), escape(str(template.get('name'))), escape(str(template.get('version'))),
                ', new version %s' % escape(str(template['new_version'])) if template.get('new_version') else ''))
        parts.append('</ul>')
    parts.append('</body></html>')
    return '\n'.join(parts) + '\n'


def imdsv2_report(report, output_format='markdown'):
    """Render REPORT as markdown, html or json."""
    if output_format not in FORMATS:
        raise AnsibleFilterError('imdsv2_report: format must be one of %s, not %r.' % (', '.join(FORMATS), output_format))
    if not isinstance(report, dict) or report.get('report_version') is None:
        raise AnsibleFilterError('imdsv2_report takes the result of the imdsv2_rollout_report filter.')
    if output_format == 'json':
        return json.dumps(report, indent=2, sort_keys=True) + '\n'
    return _markdown(report) if output_format == 'markdown' else _html(report)
