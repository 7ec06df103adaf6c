"""The IMDSv2 rollout report filters: actions, failures, risk order and the three renderings (pure, no AWS).

The logic lives in plugin_utils/_imdsv2_report.py; the filter plugins only name it.
"""
import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.cloudmeta.imds.plugins.filter import imdsv2_report, imdsv2_rollout_report
from ansible_collections.cloudmeta.imds.plugins.plugin_utils import _imdsv2_report as report_filter


def instance(instance_id, verdict, calls=None, tokens='optional', name=None, hop=1, launched_from=None):
    return {'instance_id': instance_id, 'name': name, 'state': 'running', 'verdict': verdict, 'reason': 'because',
            'metadata_no_token': calls, 'metadata_no_token_rejected': None, 'imdsv1_calls': calls,
            'metadata_options': {'http_tokens': tokens, 'http_put_response_hop_limit': hop},
            'auto_scaling_group': None, 'launched_from': launched_from, 'tags': {}}


AUDIT = {
    'window': {'start': '2026-11-17T00:00:00Z', 'end': '2026-12-01T00:00:00Z'},
    'instances': [
        instance('i-e', 'enforced', 0, tokens='required'),
        instance('i-r1', 'ready', 0, name='web|1'),
        instance('i-b1', 'blocked', 3),
        instance('i-u', 'unknown'),
        instance('i-b2', 'blocked', 40, name='<script>alert(1)</script>'),
        instance('i-r2', 'ready', 0, launched_from={'type': 'launch_template', 'id': 'lt-1', 'name': 'web',
                                                    'version': '3', 'requires_tokens': False}),
    ],
    'launch_templates': [{'id': 'lt-1', 'name': 'web', 'version': '3', 'metadata_options': {'http_tokens': None}}],
}


def change(*ids, hop=None):
    return {'changed': True, 'changed_ids': list(ids), 'instances': [
        {'instance_id': i, 'changed': True, 'before': {'http_put_response_hop_limit': 1},
         'after': {'http_put_response_hop_limit': hop or 1}} for i in ids]}


def test_audit_only_sorts_by_risk_and_says_what_would_happen():
    report = report_filter.imdsv2_rollout_report(AUDIT, mode='report')
    assert [item['instance_id'] for item in report['instances']] == ['i-b2', 'i-b1', 'i-u', 'i-r1', 'i-r2', 'i-e']
    actions = {item['instance_id']: item['action'] for item in report['instances']}
    assert actions == {'i-b2': 'none (blocked)', 'i-b1': 'none (blocked)', 'i-u': 'none (unknown)',
                       'i-r1': 'would require tokens', 'i-r2': 'would require tokens', 'i-e': 'none (already enforced)'}
    assert report['summary'] == {'failing': 0, 'blocked': 2, 'unknown': 1, 'ready': 2, 'enforced': 1}
    assert report['enforced'] == []


def test_enforcement_soak_and_rollback():
    soak = {'instances': [{'instance_id': 'i-r1', 'metadata_no_token_rejected': 7},
                          {'instance_id': 'i-r2', 'metadata_no_token_rejected': 0}]}
    report = report_filter.imdsv2_rollout_report(
        AUDIT, changes=[change('i-r1'), change('i-r2', hop=2), {'failed': True, 'msg': 'boom'}], soak=soak,
        rollbacks=[{'changed': True, 'changed_ids': ['i-r1']}], mode='enforce', started_at='2026-12-01T00:00:00Z',
        template_versions=[{'changed': True, 'launch_template_id': 'lt-1', 'version': '4'}])
    first = report['instances'][0]
    assert (first['instance_id'], first['risk'], first['rejected_after'], first['action']) == (
        'i-r1', 'failing', 7, 'rolled back to optional')
    by_id = {item['instance_id']: item for item in report['instances']}
    assert by_id['i-r2']['action'] == 'tokens required, hop limit 2'
    assert (by_id['i-r2']['http_tokens'], by_id['i-r2']['hop_limit']) == ('required', 2)
    assert by_id['i-r1']['http_tokens'] == 'optional'  # rolled back
    assert report['failing'] == ['i-r1'] and report['rolled_back'] == ['i-r1'] and report['enforced'] == ['i-r2']
    assert report['launch_templates'][0]['new_version'] == '4'
    assert report['started_at'] == '2026-12-01T00:00:00Z'


def test_a_previous_report_is_verified_again():
    first = report_filter.imdsv2_rollout_report(AUDIT, changes=[change('i-r1', 'i-r2')], mode='enforce',
                                                started_at='2026-12-01T00:00:00Z')
    stored = json.loads(report_filter.imdsv2_report(first, 'json'))
    soak = {'instances': [{'instance_id': 'i-r2', 'metadata_no_token_rejected': 1}]}
    verified = report_filter.imdsv2_rollout_report(stored, soak=soak, mode='verify')
    assert verified['started_at'] == '2026-12-01T00:00:00Z'
    assert verified['failing'] == ['i-r2'] and verified['enforced'] == ['i-r1', 'i-r2']
    assert verified['instances'][0]['instance_id'] == 'i-r2'


def test_markdown_is_one_escaped_row_per_instance_in_risk_order():
    text = report_filter.imdsv2_report(report_filter.imdsv2_rollout_report(AUDIT), 'markdown')
    rows = [line for line in text.splitlines() if line.startswith('| ') and '| i-' in line]
    assert [row.split(' | ')[1] for row in rows] == ['i-b2', 'i-b1', 'i-u', 'i-r1', 'i-r2', 'i-e']
    assert 'web\\|1' in text  # a pipe in a name cannot add a column
    assert all(row.count(' | ') == len(report_filter.COLUMNS) - 1 for row in rows)
    assert '| blocked | i-b2 | &lt;script&gt;alert(1)&lt;/script&gt; | blocked | 40 |' in text
    assert 'web v3 (allows IMDSv1)' in text


def test_html_escapes_what_aws_returns():
    text = report_filter.imdsv2_report(report_filter.imdsv2_rollout_report(AUDIT), 'html')
    assert '<script>' not in text and '&lt;script&gt;alert(1)&lt;/script&gt;' in text
    assert text.index('i-b2') < text.index('i-u') < text.index('i-e')
    assert text.count('<tr class="risk-') == 6


def test_json_is_the_same_report():
    report = report_filter.imdsv2_rollout_report(AUDIT)
    assert json.loads(report_filter.imdsv2_report(report, 'json')) == report


@pytest.mark.parametrize('call, message', [
    (lambda: report_filter.imdsv2_report({'report_version': 1}, 'pdf'), "not 'pdf'"),
    (lambda: report_filter.imdsv2_report(AUDIT, 'json'), 'takes the result of the imdsv2_rollout_report filter'),
    (lambda: report_filter.imdsv2_rollout_report({'foo': 1}), 'takes the result of imdsv2_readiness_info'),
])
def test_wrong_input_is_explained(call, message):
    with pytest.raises(AnsibleFilterError) as error:
        call()
    assert message in str(error.value)


def test_the_filter_plugins_name_the_functions():
    assert imdsv2_report.FilterModule().filters() == {'imdsv2_report': report_filter.imdsv2_report}
    assert imdsv2_rollout_report.FilterModule().filters() == {
        'imdsv2_rollout_report': report_filter.imdsv2_rollout_report}
