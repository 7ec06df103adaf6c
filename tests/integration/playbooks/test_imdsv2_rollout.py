"""The cloudmeta.imds.imdsv2_rollout playbook, run by name with ansible-playbook against moto_server on 127.0.0.1.

One moto_server holds a small fleet: instances that are already enforced,
ready (MetadataNoToken seeded at zero), blocked (IMDSv1 calls seeded),
unknown (no data), one ready container host, and a launch template that
allows IMDSv1. The playbook runs on the controller only (its in-memory hosts
use the local connection), with dummy keys and IMDS disabled, so nothing
leaves loopback. Expected values come from the seeded fleet, never from the
modules under test. The soak period is 0: the rejected calls an enforced
instance "starts" making are seeded between the enforcing run and the verify
run, which is how a soak longer than a playbook run is checked.
"""
import datetime
import json
import os
import re
import subprocess
import sys

import pytest

from collection_path import REPO_ROOT
from playbook_runner import BIN_DIR, playbook_env

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))
from servers import aws as aws_lab  # noqa: E402

RECAP = re.compile(r'^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)


@pytest.fixture(scope='module')
def moto(tmp_path_factory):
    proc, url = aws_lab.start_moto(log_path=str(tmp_path_factory.mktemp('moto') / 'moto.log'))
    yield url
    proc.terminate()
    proc.wait(10)


def seed(cloudwatch, instance_id, metric, value, when=None):
    cloudwatch.put_metric_data(Namespace='AWS/EC2', MetricData=[{
        'MetricName': metric, 'Dimensions': [{'Name': 'InstanceId', 'Value': instance_id}], 'Value': value,
        'Unit': 'Count', 'Timestamp': when or datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)}])


@pytest.fixture(scope='module')
def fleet(moto):
    ec2, cloudwatch = aws_lab.client(moto, 'ec2'), aws_lab.client(moto, 'cloudwatch')
    image = ec2.describe_images(Owners=['amazon'], MaxResults=5)['Images'][0]['ImageId']
    template = ec2.create_launch_template(LaunchTemplateName='web', LaunchTemplateData={
        'ImageId': image, 'MetadataOptions': {'HttpTokens': 'optional'}})['LaunchTemplate']['LaunchTemplateId']

    def launch(name, tokens='optional', fleet_tag='rollout', **kwargs):
        tags = [{'Key': 'Name', 'Value': name}, {'Key': 'fleet', 'Value': fleet_tag}] + kwargs.pop('tags', [])
        return ec2.run_instances(MinCount=1, MaxCount=1, MetadataOptions={'HttpTokens': tokens},
                                 TagSpecifications=[{'ResourceType': 'instance', 'Tags': tags}],
                                 **(kwargs or {'ImageId': image}))['Instances'][0]['InstanceId']

    ids = {
        'enforced': launch('enforced', 'required'),
        'ready1': launch('ready-1', LaunchTemplate={'LaunchTemplateId': template}),
        'ready2': launch('ready-2'),
        'ready3': launch('ready-3'),
        'containers': launch('containers', tags=[{'Key': 'runtime', 'Value': 'docker'}]),
        'blocked': launch('blocked'),
        'unknown': launch('unknown'),
    }
    launch('elsewhere', fleet_tag='other')  # out of scope
    for key in ('ready1', 'ready2', 'ready3', 'containers'):
        seed(cloudwatch, ids[key], 'MetadataNoToken', 0)
    seed(cloudwatch, ids['blocked'], 'MetadataNoToken', 12)
    return dict(ids, template=template, ec2=ec2, cloudwatch=cloudwatch)


def options(fleet):
    """{name: (HttpTokens, HttpPutResponseHopLimit)} as moto holds them."""
    names = {value: key for key, value in fleet.items() if isinstance(value, str) and value.startswith('i-')}
    result = {}
    for reservation in fleet['ec2'].describe_instances(InstanceIds=list(names))['Reservations']:
        for instance in reservation['Instances']:
            result[names[instance['InstanceId']]] = (instance['MetadataOptions']['HttpTokens'],
                                                     instance['MetadataOptions']['HttpPutResponseHopLimit'])
    return result


class Run:
    def __init__(self, completed, report_dir):
        self.output = completed.stdout
        self.rc = completed.returncode
        match = RECAP.search(self.output)
        assert match, self.output
        self.changed = int(match.group(2))
        with open(os.path.join(report_dir, 'imdsv2-rollout.json'), encoding='utf-8') as handle:
            self.report = json.load(handle)
        with open(os.path.join(report_dir, 'imdsv2-rollout.md'), encoding='utf-8') as handle:
            self.markdown = handle.read()

    def by_name(self):
        return {item['name']: item for item in self.report['instances']}


def rollout(moto, report_dir, *args, **extra_vars):
    variables = dict({'imdsv2_rollout_tags': {'fleet': 'rollout'}, 'imdsv2_rollout_soak_minutes': 0,
                      'imdsv2_rollout_report_dir': str(report_dir), 'ansible_python_interpreter': sys.executable},
                     **extra_vars)
    env = dict(aws_lab.moto_env(moto), ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, '.tmp', 'collections'))
    for name in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
        env[name] = ''
    completed = subprocess.run(
        [os.path.join(BIN_DIR, 'ansible-playbook'), '-i', 'localhost,', '-e', json.dumps(variables), *args,
         'cloudmeta.imds.imdsv2_rollout'],
        env=playbook_env(env), cwd=str(report_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=300, check=False)
    return Run(completed, report_dir)


BEFORE = {'enforced': ('required', 1), 'ready1': ('optional', 1), 'ready2': ('optional', 1),
          'ready3': ('optional', 1), 'containers': ('optional', 1), 'blocked': ('optional', 1),
          'unknown': ('optional', 1)}


def test_rollout_check_report_enforce_verify(moto, fleet, tmp_path):
    check = rollout(moto, tmp_path, '--check', imdsv2_rollout_launch_templates=True, imdsv2_rollout_rollback=True)
    assert check.rc == 0, check.output
    assert options(fleet) == BEFORE
    assert 'PLAY [Require IMDSv2 on the ready instances' in check.output  # a play without hosts
    assert len(fleet['ec2'].describe_launch_template_versions(LaunchTemplateId=fleet['template'])['LaunchTemplateVersions']) == 1
    assert check.report['check_mode'] is True and check.report['enforced'] == []
    assert {name: item['action'] for name, item in check.by_name().items()}['ready-1'] == 'would require tokens'

    report_only = rollout(moto, tmp_path, imdsv2_rollout_report_only=True, imdsv2_rollout_launch_templates=True)
    assert report_only.rc == 0, report_only.output
    assert options(fleet) == BEFORE
    assert report_only.report['mode'] == 'report'
    assert len(fleet['ec2'].describe_launch_template_versions(LaunchTemplateId=fleet['template'])['LaunchTemplateVersions']) == 1

    enforce = rollout(moto, tmp_path, imdsv2_rollout_serial=[1, '100%'], imdsv2_rollout_launch_templates=True,
                      imdsv2_rollout_container_tags={'runtime': 'docker'})
    assert enforce.rc == 0, enforce.output
    assert options(fleet) == dict(BEFORE, ready1=('required', 1), ready2=('required', 1), ready3=('required', 1),
                                  containers=('required', 2))
    # Four ready instances in batches of 1 and then the rest: two runs of the enforcing play.
    assert enforce.output.count('PLAY [Require IMDSv2 on the ready instances, batch by batch]') == 2
    assert sorted(enforce.report['enforced']) == sorted(fleet[k] for k in ('ready1', 'ready2', 'ready3', 'containers'))
    assert enforce.report['failing'] == [] and enforce.report['rolled_back'] == []
    assert enforce.by_name()['containers']['action'] == 'tokens required, hop limit 2'
    version = fleet['ec2'].describe_launch_template_versions(LaunchTemplateId=fleet['template'],
                                                             Versions=['$Default'])['LaunchTemplateVersions'][0]
    assert version['VersionNumber'] == 2
    assert version['LaunchTemplateData']['MetadataOptions']['HttpTokens'] == 'required'
    assert enforce.report['launch_templates'][0]['new_version'] == '2'
    # Sorted by risk: blocked, unknown, then the rest; the Markdown table in the same order.
    risks = [item['risk'] for item in enforce.report['instances']]
    assert risks == ['blocked', 'unknown', 'ready', 'ready', 'ready', 'ready', 'enforced']
    rows = [line.split(' | ')[1] for line in enforce.markdown.splitlines() if line.startswith('| ') and ' i-' in line]
    assert rows == [item['instance_id'] for item in enforce.report['instances']]
    assert '| blocked | %s | blocked | blocked | 12 |' % fleet['blocked'] in enforce.markdown

    # Something on ready-2 starts failing after enforcement; verify later, rolling back that instance only.
    seed(fleet['cloudwatch'], fleet['ready2'], 'MetadataNoTokenRejected', 5,
         when=datetime.datetime.now(datetime.timezone.utc))
    verify = rollout(moto, tmp_path, imdsv2_rollout_verify_report=str(tmp_path / 'imdsv2-rollout.json'),
                     imdsv2_rollout_rollback=True)
    assert verify.rc == 0, verify.output
    assert options(fleet) == dict(BEFORE, ready1=('required', 1), ready2=('optional', 1), ready3=('required', 1),
                                  containers=('required', 2))
    assert verify.report['mode'] == 'verify'
    assert verify.report['failing'] == [fleet['ready2']]
    assert verify.report['rolled_back'] == [fleet['ready2']]
    first = verify.report['instances'][0]
    assert (first['instance_id'], first['risk'], first['rejected_after'], first['action']) == (
        fleet['ready2'], 'failing', 5, 'rolled back to optional')
    assert fleet['ready2'] not in verify.report['enforced']
