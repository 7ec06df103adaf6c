# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""The imdsv2_readiness_info module's report: which instances and launch templates are ready for IMDSv2, from CloudWatch evidence.

boto3 and the standard library only; the module keeps its documentation and a thin main().
"""

from __future__ import annotations

import datetime

from .._aws.calls import AwsError
from .imdsv2 import (
    AUTO_SCALING_GROUP_TAG,
    LAUNCH_TEMPLATE_ID_TAG,
    LAUNCH_TEMPLATE_VERSION_TAG,
    NO_TOKEN,
    NO_TOKEN_REJECTED,
    VERDICTS,
    auto_scaling_group_instances,
    auto_scaling_origins,
    describe_instances,
    describe_template_version,
    imdsv1_call_sums,
    instance_options,
    launch_configuration_summaries,
    parse_time,
    tags_of,
    unsafe_launch_templates,
    verdict,
)


def iso(moment):
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def scope_filters(params):
    filters = dict(params['filters'] or {})
    for key, value in (params['tags'] or {}).items():
        filters['tag:%s' % key] = value
    return filters


def instances_in_scope(ec2, autoscaling, params):
    instance_ids = params['instance_ids']
    if params['auto_scaling_groups']:
        members = auto_scaling_group_instances(autoscaling, params['auto_scaling_groups'])
        instance_ids = [i for i in members if i in instance_ids] if instance_ids else members
        if not instance_ids:
            return []
    return describe_instances(ec2, instance_ids=instance_ids, filters=scope_filters(params))


def origins(ec2, autoscaling, instances, template_cache):
    """{instance_id: (auto scaling group, launched_from summary or None)}."""
    grouped = [instance['InstanceId'] for instance in instances if AUTO_SCALING_GROUP_TAG in tags_of(instance)]
    from_groups = auto_scaling_origins(autoscaling, grouped) if grouped else {}
    configurations = launch_configuration_summaries(
        autoscaling, [origin[2] for origin in from_groups.values() if origin[2]]) if from_groups else {}
    result = {}
    for instance in instances:
        instance_id, tags = instance['InstanceId'], tags_of(instance)
        group, template, configuration = from_groups.get(instance_id, (tags.get(AUTO_SCALING_GROUP_TAG), None, None))
        summary = None
        if template and template.get('LaunchTemplateId'):
            summary = describe_template_version(ec2, template['LaunchTemplateId'], template.get('Version') or '$Default',
                                                template_cache)
        elif configuration:
            summary = configurations.get(configuration)
        elif tags.get(LAUNCH_TEMPLATE_ID_TAG):
            summary = describe_template_version(ec2, tags[LAUNCH_TEMPLATE_ID_TAG],
                                                tags.get(LAUNCH_TEMPLATE_VERSION_TAG) or '$Default', template_cache)
        if summary is not None:
            summary = {key: summary[key] for key in ('type', 'id', 'name', 'version', 'requires_tokens', 'metadata_options')}
        result[instance_id] = (group, summary)
    return result


def report(instance, counts, origin):
    options = instance_options(instance)
    no_token, rejected = counts[NO_TOKEN], counts[NO_TOKEN_REJECTED]
    outcome, reason = verdict(options, no_token, rejected)
    tags = tags_of(instance)
    return {
        'instance_id': instance['InstanceId'],
        'name': tags.get('Name'),
        'state': instance.get('State', {}).get('Name'),
        'tags': tags,
        'metadata_options': options,
        'metadata_no_token': no_token,
        'metadata_no_token_rejected': rejected,
        'imdsv1_calls': None if no_token is None and rejected is None else (no_token or 0) + (rejected or 0),
        'verdict': outcome,
        'reason': reason,
        'auto_scaling_group': origin[0],
        'launched_from': origin[1],
    }


def run(params, ec2, autoscaling, cloudwatch, now):
    end = now
    start = parse_time(params['start_time']) if params['start_time'] else end - datetime.timedelta(days=params['window_days'])
    if start >= end:
        raise AwsError('start_time %s is not in the past.' % params['start_time'])
    instances = instances_in_scope(ec2, autoscaling, params)
    sums, requests = imdsv1_call_sums(cloudwatch, [i['InstanceId'] for i in instances], start, end) if instances else ({}, 0)
    template_cache = {}
    origin = origins(ec2, autoscaling, instances, template_cache) if instances else {}
    reports = [report(instance, sums[instance['InstanceId']], origin[instance['InstanceId']]) for instance in instances]

    templates = []
    if params['launch_templates'] == 'all':
        templates = unsafe_launch_templates(ec2, template_cache)
    elif params['launch_templates'] == 'used':
        used = [item['launched_from']['id'] for item in reports
                if item['launched_from'] and item['launched_from']['type'] == 'launch_template']
        templates = unsafe_launch_templates(ec2, template_cache, used)

    summary = {name: 0 for name in VERDICTS}
    for item in reports:
        summary[item['verdict']] += 1
    return dict(
        changed=False,
        instances=reports,
        launch_templates=templates,
        summary=summary,
        window={'start': iso(start), 'end': iso(end)},
        get_metric_data_requests=requests,
    )
