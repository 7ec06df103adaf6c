# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""Instance metadata options as the EC2 API holds them: read, compare, change, wait, and judge readiness.

Shared by instance_metadata_options, launch_template_metadata_options and
imdsv2_readiness_info. Everything here runs where boto3 is (the controller);
the pure parts (option shapes, verdicts) take plain dicts and are tested
without a server.
"""

from __future__ import annotations

import datetime

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.calls import AwsError, call, paginate
from ansible_collections.cloudmeta.imds.plugins.module_utils._common.backoff import EQUAL, Backoff

# snake_case option name -> EC2 API name, in the order AWS documents them.
OPTION_NAMES = (
    ('http_tokens', 'HttpTokens'),
    ('http_put_response_hop_limit', 'HttpPutResponseHopLimit'),
    ('http_endpoint', 'HttpEndpoint'),
    ('http_protocol_ipv6', 'HttpProtocolIpv6'),
    ('instance_metadata_tags', 'InstanceMetadataTags'),
)

# What EC2 assumes for an option an instance (or a template) does not state.
INSTANCE_DEFAULTS = {
    'http_tokens': 'optional',
    'http_put_response_hop_limit': 1,
    'http_endpoint': 'enabled',
    'http_protocol_ipv6': 'disabled',
    'instance_metadata_tags': 'disabled',
}

ENABLED_DISABLED = ['enabled', 'disabled']

OPTIONS_ARGSPEC = dict(
    http_tokens=dict(type='str', choices=['optional', 'required']),
    http_put_response_hop_limit=dict(type='int'),
    http_endpoint=dict(type='str', choices=ENABLED_DISABLED),
    http_protocol_ipv6=dict(type='str', choices=ENABLED_DISABLED),
    instance_metadata_tags=dict(type='str', choices=ENABLED_DISABLED),
)

# States of instances whose options can neither matter nor change.
GONE_STATES = ('shutting-down', 'terminated')

MAX_HOP_LIMIT = 64


def check_hop_limit(value):
    """None, or a message naming the bad hop limit."""
    if value is not None and not 1 <= value <= MAX_HOP_LIMIT:
        return 'http_put_response_hop_limit must be between 1 and %d, got %d.' % (MAX_HOP_LIMIT, value)
    return None


def options_from_api(api_options, defaults=None):
    """EC2 MetadataOptions -> snake_case dict with every option (absent ones from DEFAULTS, None without)."""
    api_options = api_options or {}
    result = {}
    for name, api_name in OPTION_NAMES:
        value = api_options.get(api_name)
        if value is None and defaults is not None:
            value = defaults.get(name)
        result[name] = value
    return result


def options_to_api(options):
    """snake_case options -> EC2 keyword arguments, leaving out None."""
    return {api_name: options[name] for name, api_name in OPTION_NAMES if options.get(name) is not None}


def requested_options(params):
    """The options the user set, None for the others."""
    return {name: params.get(name) for name, _api in OPTION_NAMES}


def merge_options(current, requested):
    """CURRENT with every option REQUESTED sets; the full set, so a partial update never drops one."""
    merged = dict(current)
    merged.update({name: value for name, value in requested.items() if value is not None})
    return merged


def differs(current, desired):
    return any(current.get(name) != desired.get(name) for name, _api in OPTION_NAMES)


# -- instances -------------------------------------------------------------------

def instance_filters(filters):
    """An EC2 filter dict ({'tag:env': 'prod', 'instance-state-name': ['running']}) -> the API's list form."""
    result = []
    for name, values in (filters or {}).items():
        if not isinstance(values, (list, tuple)):
            values = [values]
        result.append({'Name': str(name), 'Values': [str(value) for value in values]})
    return result


def describe_instances(ec2, instance_ids=None, filters=None):
    """Every instance that matches, terminated and shutting-down ones left out, in the API's order."""
    kwargs = {}
    if instance_ids:
        kwargs['InstanceIds'] = list(instance_ids)
    if filters:
        kwargs['Filters'] = instance_filters(filters)
    instances = []
    for page in paginate(ec2, 'describe_instances', **kwargs):
        for reservation in page.get('Reservations', []):
            instances.extend(reservation.get('Instances', []))
    return [instance for instance in instances if instance.get('State', {}).get('Name') not in GONE_STATES]


def tags_of(resource):
    return {tag['Key']: tag['Value'] for tag in resource.get('Tags') or []}


def instance_options(instance):
    return options_from_api(instance.get('MetadataOptions'), INSTANCE_DEFAULTS)


def modify_instance(ec2, instance_id, options):
    """Send the full option set for INSTANCE_ID; returns the State AWS reports."""
    result = call(ec2.modify_instance_metadata_options, InstanceId=instance_id, **options_to_api(options))
    return (result.get('InstanceMetadataOptions') or {}).get('State')


def wait_applied(ec2, instance_ids, deadline, backoff=None):
    """Poll until every instance's MetadataOptions.State is `applied`, backing off; returns the instances.

    botocore has no waiter for metadata options, hence this loop. BACKOFF
    (a Backoff) defaults to 1 s doubling to 15 s, with equal jitter.
    """
    backoff = backoff or Backoff(1.0, 15.0, jitter=EQUAL)
    pending = list(instance_ids)
    described = {}
    while True:
        for instance in describe_instances(ec2, instance_ids=pending):
            described[instance['InstanceId']] = instance
        pending = [instance_id for instance_id in pending
                   if (described.get(instance_id, {}).get('MetadataOptions') or {}).get('State') != 'applied'
                   and instance_id in described]
        if not pending:
            return described
        if deadline.expired():
            raise AwsError(
                'Timed out after %d seconds waiting for the metadata options of %s to be applied (still pending); '
                'raise wait_timeout, or set wait=false and check again later.'
                % (deadline.seconds, ', '.join(pending)))
        backoff.pause(deadline)


# -- readiness -----------------------------------------------------------------------

VERDICTS = ('enforced', 'ready', 'blocked', 'unknown')


def verdict(options, no_token, rejected):
    """(verdict, reason) for an instance with OPTIONS and the IMDSv1 call counts of the window (None: no data)."""
    if options.get('http_tokens') == 'required':
        if rejected:
            return 'enforced', ('tokens required, but %d IMDSv1 calls were rejected in the window: '
                                'something on the instance is failing' % rejected)
        return 'enforced', 'tokens required'
    if no_token is None and rejected is None:
        if options.get('http_endpoint') == 'disabled':
            return 'ready', 'the metadata endpoint is disabled, so nothing can call IMDSv1'
        return 'unknown', 'no MetadataNoToken data in the window (instance not running, or metrics not yet published)'
    calls = (no_token or 0) + (rejected or 0)
    if calls:
        return 'blocked', '%d IMDSv1 calls in the window' % calls
    return 'ready', 'no IMDSv1 call in the window'


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def parse_time(text):
    """An ISO 8601 time (Z or offset; naive means UTC) -> aware datetime, or ValueError naming the value."""
    value = text.strip()
    if value.endswith('Z') or value.endswith('z'):
        value = value[:-1] + '+00:00'
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError('%r is not an ISO 8601 time such as 2026-12-01T22:30:00Z.' % text) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)


# -- CloudWatch evidence -------------------------------------------------------------

NAMESPACE = 'AWS/EC2'
NO_TOKEN = 'MetadataNoToken'
NO_TOKEN_REJECTED = 'MetadataNoTokenRejected'
METRICS = (NO_TOKEN, NO_TOKEN_REJECTED)
# GetMetricData takes at most 500 queries per request.
MAX_QUERIES_PER_CALL = 500
HOUR = 3600


def metric_period(start, end):
    """One period covering the whole window, in whole hours: valid for any window age CloudWatch accepts."""
    seconds = max(1, int((end - start).total_seconds()))
    return max(HOUR, -(-seconds // HOUR) * HOUR)


def metric_queries(instance_ids, period):
    """Two Sum queries per instance; query IDs map back to (instance, metric)."""
    queries, keys = [], {}
    for index, instance_id in enumerate(instance_ids):
        for metric in METRICS:
            query_id = 'i%d_%s' % (index, 'r' if metric == NO_TOKEN_REJECTED else 'n')
            keys[query_id] = (instance_id, metric)
            queries.append({
                'Id': query_id,
                'MetricStat': {
                    'Metric': {'Namespace': NAMESPACE, 'MetricName': metric,
                               'Dimensions': [{'Name': 'InstanceId', 'Value': instance_id}]},
                    'Period': period,
                    'Stat': 'Sum',
                },
                'ReturnData': True,
            })
    return queries, keys


def batches(items, size):
    return [items[start:start + size] for start in range(0, len(items), size)]


def imdsv1_call_sums(cloudwatch, instance_ids, start, end):
    """({instance_id: {metric: sum or None}}, GetMetricData requests made); None means no datapoint at all."""
    sums = {instance_id: {metric: None for metric in METRICS} for instance_id in instance_ids}
    period = metric_period(start, end)
    queries, keys = metric_queries(list(instance_ids), period)
    requests = 0
    for batch in batches(queries, MAX_QUERIES_PER_CALL):
        for page in paginate(cloudwatch, 'get_metric_data', MetricDataQueries=batch, StartTime=start, EndTime=end,
                             ScanBy='TimestampAscending'):
            requests += 1
            for result in page.get('MetricDataResults', []):
                instance_id, metric = keys[result['Id']]
                values = result.get('Values') or []
                if values:
                    sums[instance_id][metric] = (sums[instance_id][metric] or 0) + sum(values)
    for counts in sums.values():
        for metric, value in counts.items():
            if value is not None:
                counts[metric] = int(value) if float(value).is_integer() else value
    return sums, requests


# -- where an instance came from -----------------------------------------------------

LAUNCH_TEMPLATE_ID_TAG = 'aws:ec2launchtemplate:id'
LAUNCH_TEMPLATE_VERSION_TAG = 'aws:ec2launchtemplate:version'
AUTO_SCALING_GROUP_TAG = 'aws:autoscaling:groupName'


def requires_tokens(api_options):
    """Whether launch MetadataOptions require tokens; unstated means the account default or AMI decides (assume not)."""
    return (api_options or {}).get('HttpTokens') == 'required'


def template_summary(version):
    data = version.get('LaunchTemplateData') or {}
    options = options_from_api(data.get('MetadataOptions'))
    return {
        'type': 'launch_template',
        'id': version.get('LaunchTemplateId'),
        'name': version.get('LaunchTemplateName'),
        'version': str(version.get('VersionNumber')) if version.get('VersionNumber') is not None else None,
        'default_version': version.get('DefaultVersion'),
        'metadata_options': options,
        'requires_tokens': requires_tokens(data.get('MetadataOptions')),
    }


def describe_template_version(ec2, template_id, version, cache):
    """The summary of one launch template version (None when it is gone), cached per (id, version)."""
    key = (template_id, version)
    if key not in cache:
        try:
            versions = call(ec2.describe_launch_template_versions, LaunchTemplateId=template_id,
                            Versions=[version])['LaunchTemplateVersions']
        except AwsError as exc:
            if exc.code and exc.code.startswith('InvalidLaunchTemplate'):
                versions = []
            else:
                raise
        cache[key] = template_summary(versions[0]) if versions else None
    return cache[key]


def launch_configuration_summaries(autoscaling, names):
    result = {}
    names = sorted(set(names))
    for batch in batches(names, 50):
        for page in paginate(autoscaling, 'describe_launch_configurations', LaunchConfigurationNames=batch):
            for config in page.get('LaunchConfigurations', []):
                api_options = config.get('MetadataOptions')
                result[config['LaunchConfigurationName']] = {
                    'type': 'launch_configuration',
                    'id': config.get('LaunchConfigurationARN'),
                    'name': config['LaunchConfigurationName'],
                    'version': None,
                    'default_version': None,
                    'metadata_options': options_from_api(api_options),
                    'requires_tokens': requires_tokens(api_options),
                }
    return result


def auto_scaling_origins(autoscaling, instance_ids):
    """{instance_id: (group name, launch template spec or None, launch configuration name or None)}."""
    result = {}
    for batch in batches(sorted(instance_ids), 50):
        for page in paginate(autoscaling, 'describe_auto_scaling_instances', InstanceIds=batch):
            for item in page.get('AutoScalingInstances', []):
                result[item['InstanceId']] = (item.get('AutoScalingGroupName'), item.get('LaunchTemplate'),
                                              item.get('LaunchConfigurationName'))
    return result


def auto_scaling_group_instances(autoscaling, names):
    """Instance IDs of the named Auto Scaling groups; a group that does not exist is an error naming it."""
    found, instance_ids = set(), []
    for page in paginate(autoscaling, 'describe_auto_scaling_groups', AutoScalingGroupNames=list(names)):
        for group in page.get('AutoScalingGroups', []):
            found.add(group['AutoScalingGroupName'])
            instance_ids.extend(item['InstanceId'] for item in group.get('Instances', []))
    missing = [name for name in names if name not in found]
    if missing:
        raise AwsError('Auto Scaling group %s does not exist in this region.' % ', '.join(missing))
    return instance_ids


def unsafe_launch_templates(ec2, cache, template_ids=None):
    """Launch templates whose default version does not require tokens (all of the region's, or TEMPLATE_IDS)."""
    if template_ids is None:
        template_ids = []
        for page in paginate(ec2, 'describe_launch_templates'):
            template_ids.extend(template['LaunchTemplateId'] for template in page.get('LaunchTemplates', []))
    result = []
    for template_id in sorted(set(template_ids)):
        summary = describe_template_version(ec2, template_id, '$Default', cache)
        if summary is not None and not summary['requires_tokens']:
            result.append(summary)
    return result
