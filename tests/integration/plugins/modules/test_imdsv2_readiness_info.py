"""cloudmeta.imds.imdsv2_readiness_info against moto_server: every verdict, the origins, and GetMetricData batching.

The IMDSv1 evidence is seeded with put_metric_data (moto makes no EC2
metrics). GetMetricData requests are counted with a botocore event hook on
the module's own CloudWatch client, independently of what the module reports.
moto accepts more than 500 queries in one request where AWS refuses them, so
only the count shows that the module batches as AWS requires.
"""
import datetime

import pytest

from aws_moto import REGION, aws, aws_env, moto_url, run_module  # noqa: F401  pylint: disable=unused-import
from imdsv2_fleet import Fleet, now

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.module import AwsModule
from ansible_collections.cloudmeta.imds.plugins.module_utils._rollout import imdsv2 as _imdsv2
from ansible_collections.cloudmeta.imds.plugins.modules import imdsv2_readiness_info

NO_TOKEN = 'MetadataNoToken'
REJECTED = 'MetadataNoTokenRejected'


@pytest.fixture
def fleet(aws):
    return Fleet(aws)


@pytest.fixture
def metric_requests(monkeypatch):
    """The GetMetricData requests the module sends, counted as botocore sends them."""
    sent = []
    real = AwsModule.client

    def counting_client(module, service):
        client = real(module, service)
        client.meta.events.register('before-parameter-build.cloudwatch.GetMetricData',
                                    lambda params, **_kw: sent.append(len(params['MetricDataQueries'])))
        return client

    monkeypatch.setattr(AwsModule, 'client', counting_client)
    return sent


def by_id(result):
    return {item['instance_id']: item for item in result['instances']}


def test_every_verdict(run_module, fleet, metric_requests):
    enforced, ready, blocked, unknown, failing, dark = (
        fleet.launch(metadata_options={'HttpTokens': 'required'})[0], fleet.launch()[0], fleet.launch()[0],
        fleet.launch()[0], fleet.launch(metadata_options={'HttpTokens': 'required'})[0],
        fleet.launch(metadata_options={'HttpEndpoint': 'disabled'})[0])
    fleet.seed(ready, NO_TOKEN, [0, 0, 0])
    fleet.seed(blocked, NO_TOKEN, [0, 2, 5])
    fleet.seed(blocked, NO_TOKEN, [40], ago=datetime.timedelta(days=20))  # outside the window
    fleet.seed(enforced, REJECTED, [0])
    fleet.seed(failing, REJECTED, [3, 1])

    result = run_module(imdsv2_readiness_info, tags=fleet.tags, launch_templates='none', region=REGION)

    assert not result.failed, result.get('msg')
    reports = by_id(result)
    assert {i: (r['verdict'], r['metadata_no_token'], r['metadata_no_token_rejected'], r['imdsv1_calls'])
            for i, r in reports.items()} == {
        enforced: ('enforced', None, 0, 0),
        ready: ('ready', 0, None, 0),
        blocked: ('blocked', 7, None, 7),
        unknown: ('unknown', None, None, None),
        failing: ('enforced', None, 4, 4),
        dark: ('ready', None, None, None),
    }
    assert 'something on the instance is failing' in reports[failing]['reason']
    assert 'disabled' in reports[dark]['reason']
    assert result['summary'] == {'enforced': 2, 'ready': 2, 'blocked': 1, 'unknown': 1}
    assert reports[ready]['metadata_options'] == {
        'http_tokens': 'optional', 'http_put_response_hop_limit': 1, 'http_endpoint': 'enabled',
        'http_protocol_ipv6': 'disabled', 'instance_metadata_tags': 'disabled'}
    assert reports[ready]['tags'] == fleet.tags
    assert metric_requests == [12] and result['get_metric_data_requests'] == 1


def test_window_days_and_start_time_bound_the_evidence(run_module, fleet):
    instance = fleet.launch()[0]
    fleet.seed(instance, NO_TOKEN, [9], ago=datetime.timedelta(days=10))
    fleet.seed(instance, NO_TOKEN, [0], ago=datetime.timedelta(hours=1))
    wide = run_module(imdsv2_readiness_info, instance_ids=[instance], launch_templates='none')
    narrow = run_module(imdsv2_readiness_info, instance_ids=[instance], window_days=7, launch_templates='none')
    since = (now() - datetime.timedelta(hours=3)).strftime('%Y-%m-%dT%H:%M:%SZ')
    recent = run_module(imdsv2_readiness_info, instance_ids=[instance], start_time=since, launch_templates='none')

    assert by_id(wide)[instance]['verdict'] == 'blocked'
    assert by_id(narrow)[instance]['verdict'] == 'ready'
    assert by_id(recent)[instance]['verdict'] == 'ready'
    assert recent['window']['start'] == since


def test_queries_are_batched_500_per_request(run_module, fleet, metric_requests):
    instances = fleet.launch(count=251)
    fleet.seed(instances[-1], NO_TOKEN, [1])
    result = run_module(imdsv2_readiness_info, tags=fleet.tags, launch_templates='none')
    assert metric_requests == [500, 2]
    assert result['get_metric_data_requests'] == 2
    assert by_id(result)[instances[-1]]['verdict'] == 'blocked'
    assert result['summary']['unknown'] == 250


def test_origins_templates_groups_and_configurations(run_module, fleet, aws):
    unsafe = fleet.launch_template({'HttpTokens': 'optional'})
    safe = fleet.launch_template({'HttpTokens': 'required'})
    silent = fleet.launch_template()
    from_unsafe = fleet.launch(LaunchTemplate={'LaunchTemplateId': unsafe})[0]
    from_safe = fleet.launch(LaunchTemplate={'LaunchTemplateId': safe, 'Version': '1'})[0]
    configuration = fleet.launch_configuration({'HttpTokens': 'optional'})
    group, (member,) = fleet.auto_scaling_group(LaunchConfigurationName=configuration)
    bare = fleet.launch()[0]

    result = run_module(imdsv2_readiness_info, tags=fleet.tags, launch_templates='all')
    reports = by_id(result)

    assert reports[from_unsafe]['launched_from'] == {
        'type': 'launch_template', 'id': unsafe, 'name': reports[from_unsafe]['launched_from']['name'], 'version': '1',
        'requires_tokens': False,
        'metadata_options': {'http_tokens': 'optional', 'http_put_response_hop_limit': None, 'http_endpoint': None,
                             'http_protocol_ipv6': None, 'instance_metadata_tags': None}}
    assert reports[from_safe]['launched_from']['requires_tokens'] is True
    assert reports[member]['auto_scaling_group'] == group
    assert reports[member]['launched_from']['type'] == 'launch_configuration'
    assert reports[member]['launched_from']['name'] == configuration
    assert reports[member]['launched_from']['requires_tokens'] is False
    assert reports[bare]['launched_from'] is None and reports[bare]['auto_scaling_group'] is None

    listed = {template['id'] for template in result['launch_templates']}
    assert unsafe in listed and silent in listed and safe not in listed

    used = run_module(imdsv2_readiness_info, tags=fleet.tags, launch_templates='used')
    assert {template['id'] for template in used['launch_templates']} == {unsafe}


def test_auto_scaling_group_scope(run_module, fleet):
    template = fleet.launch_template({'HttpTokens': 'required'})
    group, members = fleet.auto_scaling_group(size=2, LaunchTemplate={'LaunchTemplateId': template})
    fleet.launch()  # not in the group
    result = run_module(imdsv2_readiness_info, auto_scaling_groups=[group], launch_templates='none')
    assert sorted(by_id(result)) == sorted(members)
    assert all(item['launched_from']['id'] == template for item in result['instances'])


def test_unknown_auto_scaling_group_is_named(run_module, aws_env):
    result = run_module(imdsv2_readiness_info, auto_scaling_groups=['no-such-group'])
    assert result.failed and 'no-such-group' in result['msg']


@pytest.mark.parametrize('args, expected', [
    (dict(window_days=0), 'window_days must be between 1 and 455'),
    (dict(start_time='yesterday'), "'yesterday' is not an ISO 8601 time"),
])
def test_bad_window_is_refused(run_module, aws_env, args, expected):
    result = run_module(imdsv2_readiness_info, **args)
    assert result.failed and expected in result['msg']


def test_nothing_in_scope_makes_no_metric_request(run_module, fleet, metric_requests):
    result = run_module(imdsv2_readiness_info, tags=fleet.tags, launch_templates='none')
    assert result['instances'] == [] and metric_requests == []


@pytest.mark.parametrize('options, no_token, rejected, expected', [
    ({'http_tokens': 'required'}, None, None, 'enforced'),
    ({'http_tokens': 'required'}, 5, 0, 'enforced'),
    ({'http_tokens': 'optional'}, 0, None, 'ready'),
    ({'http_tokens': 'optional'}, 0, 2, 'blocked'),
    ({'http_tokens': 'optional'}, 1, None, 'blocked'),
    ({'http_tokens': 'optional'}, None, None, 'unknown'),
    ({'http_tokens': 'optional', 'http_endpoint': 'disabled'}, None, None, 'ready'),
])
def test_verdict(options, no_token, rejected, expected):
    assert _imdsv2.verdict(options, no_token, rejected)[0] == expected


def test_period_is_whole_hours_covering_the_window():
    start = now()
    assert _imdsv2.metric_period(start, start + datetime.timedelta(days=14)) == 14 * 86400
    assert _imdsv2.metric_period(start, start + datetime.timedelta(minutes=5)) == 3600
    assert _imdsv2.metric_period(start, start + datetime.timedelta(hours=1, seconds=1)) == 7200
