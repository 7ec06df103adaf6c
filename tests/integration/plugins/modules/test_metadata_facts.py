"""cloudmeta.imds.metadata_facts run in-process against the emulator on 127.0.0.1.

The module runs as on a managed host: its JSON result is what it prints,
warnings included, and the emulator records every request it sent. The
fixtures here are shared with test_metadata_facts_faults.py.
"""
import base64
import json
import os
import sys
import time

import pytest

from ansible.module_utils.common import warnings as module_warnings
from ansible_compat import patch_module_args, run_as_managed_host

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, 'tools'))

import imds_emulator  # noqa: E402

from ansible_collections.cloudmeta.imds.plugins.modules import metadata_facts  # noqa: E402

CREDENTIAL_FIELDS = ('AccessKeyId', 'SecretAccessKey', 'Token')


class ModuleRun(object):
    def __init__(self, result, seconds):
        self.result = result
        self.seconds = seconds

    @property
    def facts(self):
        return self.result['ansible_facts']['ec2']


@pytest.fixture
def run_module(monkeypatch, capsys):
    """run_module(args) -> ModuleRun with the module's printed JSON result."""
    run_as_managed_host(monkeypatch)
    for name in ('AWS_EC2_METADATA_DISABLED', 'AWS_EC2_METADATA_SERVICE_ENDPOINT',
                 'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE'):
        monkeypatch.delenv(name, raising=False)

    def _run(args):
        module_warnings._global_warnings.clear()
        module_warnings._global_deprecations.clear()
        capsys.readouterr()
        started = time.monotonic()
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                metadata_facts.main()
        seconds = time.monotonic() - started
        return ModuleRun(json.loads(capsys.readouterr().out), seconds)

    return _run


def credential_values(instance):
    """The secret strings an emulator instance serves under any credential path."""
    secrets = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in CREDENTIAL_FIELDS and isinstance(value, str):
                    secrets.add(value)
                walk(value)
        elif isinstance(node, str) and node.lstrip().startswith('{'):
            try:
                walk(json.loads(node))
            except ValueError:
                pass

    walk(instance['meta-data'])
    assert len(secrets) >= 3, 'the emulator instance should serve credentials to test against'
    # The session token may also show up base64-decoded; look for both forms.
    for value in list(secrets):
        try:
            secrets.add(base64.b64decode(value, validate=True).decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            pass
    return secrets


# --- what it reads -----------------------------------------------------------

def test_min_costs_one_token_request_and_one_read(make_emulator, run_module):
    emu = make_emulator()
    run = run_module({'endpoint': emu.url, 'gather_subset': ['min']})
    assert run.result['changed'] is False
    assert emu.count('PUT') == 1
    assert emu.count('GET') == 1
    assert emu.count('GET', '/latest/dynamic/instance-identity/document') == 1
    facts = run.facts
    assert facts['instance_id'] == 'i-0123456789abcdef0'
    assert facts['account_id'] == '123456789012'
    assert facts['region'] == 'eu-west-1'
    assert facts['availability_zone'] == 'eu-west-1b'
    assert facts['local_ipv4'] == '10.0.1.25'
    assert facts['subnet_id'] is None
    assert facts['gather_subset'] == ['min']
    assert facts['imds_version'] == 'v2'


def test_reports_imdsv1_when_it_had_to_fall_back(make_emulator, run_module):
    # An instance that cannot give tokens (IMDSv1 only): the run says so, which is what
    # someone looking for IMDSv1 users before requiring tokens needs to see.
    emu = make_emulator(no_imdsv2=True, http_tokens='optional')
    run = run_module({'endpoint': emu.url, 'gather_subset': ['min'], 'allow_imdsv1': True})
    assert run.facts['imds_version'] == 'v1'


def test_one_group_reads_only_that_group(make_emulator, run_module):
    emu = make_emulator()
    run = run_module({'endpoint': emu.url, 'gather_subset': ['!all', '!min', 'tags']})
    assert run.facts['tags']['team:owner'] == 'platform'
    assert run.facts['instance_id'] is None
    gets = [record.path for record in emu.requests if record.method == 'GET']
    assert gets and all(path.startswith('/latest/meta-data/tags/instance/') for path in gets)
    # one listing plus one read per tag
    assert len(gets) == 1 + len(emu.instance['meta-data']['tags']['instance'])


def test_all_gives_every_group_with_one_token(make_emulator, run_module):
    emu = make_emulator()
    run = run_module({'endpoint': emu.url})
    facts = run.facts
    assert emu.count('PUT') == 1
    assert all(record.had_token and not record.had_xff for record in emu.requests if record.method == 'GET')
    assert facts['gather_subset'] == sorted(['events', 'iam', 'identity', 'instance', 'min', 'network',
                                             'placement', 'public_keys', 'tags', 'user_data'])
    assert facts['availability_zone_id'] == 'euw1-az2'
    assert facts['partition'] == 'aws'
    assert facts['public_ipv4'] == '203.0.113.10'
    assert facts['mac'] == '0a:1b:2c:3d:4e:5f'
    assert facts['vpc_id'] == 'vpc-0a1b2c3d4e5f60718'
    assert facts['subnet_id'] == 'subnet-0aa11bb22cc33dd44'
    assert facts['security_groups'] == ['web', 'ssh-from-bastion']
    assert facts['security_group_ids'] == ['sg-0123456789abcdef0', 'sg-0fedcba9876543210']
    interfaces = facts['network']['interfaces']
    assert [i['device_number'] for i in interfaces] == [0, 1]
    assert interfaces[0]['ipv4_associations'] == {'203.0.113.10': ['10.0.1.25']}
    assert interfaces[1]['subnet_id'] == 'subnet-0ee55ff66aa77bb88'
    assert interfaces[1]['public_ipv4s'] == []
    assert facts['tags'] == {'Name': 'web-1', 'Environment': 'staging', 'team:owner': 'platform',
                             'my-dashed-key': 'dashed value', 'Note': "{{ 'x' }} must stay text"}
    assert facts['iam']['role_name'] == 'web-server-role'
    assert facts['iam']['instance_profile_arn'] == 'arn:aws:iam::123456789012:instance-profile/web-server-profile'
    assert facts['user_data'].startswith('#cloud-config\n')
    assert facts['user_data_encoding'] == 'utf-8'
    assert facts['public_keys'][0]['name'] == 'my-key'
    assert facts['public_keys'][0]['openssh_key'].startswith('ssh-ed25519 ')
    assert facts['events']['maintenance'] == {'scheduled': [], 'history': []}
    assert facts['events']['spot'] == {'instance_action': None, 'termination_time': None}
    assert facts['block_device_mapping']['root'] == '/dev/xvda'
    assert facts['identity_document']['marketplaceProductCodes'] == ['aw0evgkw8e5c1q413zgy5pjce']


def test_never_requests_a_credential_value(make_emulator, run_module):
    emu = make_emulator()
    run_module({'endpoint': emu.url, 'legacy_facts': True})
    for record in emu.requests:
        for directory in ('/latest/meta-data/iam/security-credentials/',
                          '/latest/meta-data/iam/security-credentials-extended/',
                          '/latest/meta-data/identity-credentials/ec2/security-credentials/'):
            assert not record.path.startswith(directory) or record.path == directory, record.path


def test_no_credential_appears_in_the_result(make_emulator, run_module):
    emu = make_emulator()
    secrets = credential_values(emu.instance)
    for args in ({'endpoint': emu.url}, {'endpoint': emu.url, 'legacy_facts': True}):
        output = json.dumps(run_module(args).result)
        for secret in secrets:
            assert secret not in output


def test_missing_items_are_null(make_emulator, run_module):
    instance = imds_emulator.builtin_instance()
    meta = instance['meta-data']
    for key in ('public-ipv4', 'public-hostname', 'ipv6', 'iam', 'public-keys', 'tags'):
        del meta[key]
    del meta['placement']['availability-zone-id']
    instance['user-data'] = None
    emu = make_emulator(instance)
    output = run_module({'endpoint': emu.url}).result
    facts = output['ansible_facts']['ec2']
    for key in ('public_ipv4', 'public_hostname', 'ipv6', 'availability_zone_id', 'user_data', 'tags'):
        assert facts[key] is None, key
    assert facts['iam'] == {'role_name': None, 'instance_profile_arn': None, 'instance_profile_id': None}
    assert facts['public_keys'] == []
    assert '"None"' not in json.dumps(output)


def test_tags_are_null_when_the_instance_does_not_share_them(make_emulator, run_module):
    emu = make_emulator(instance_metadata_tags='disabled')
    assert run_module({'endpoint': emu.url}).facts['tags'] is None


def test_binary_gzip_user_data_is_base64(make_emulator, run_module):
    raw = b'\x00\x01\xfe\xff not text'
    instance = imds_emulator.builtin_instance()
    instance['user-data'] = {'base64': base64.b64encode(gzip_bytes(raw)).decode()}
    emu = make_emulator(instance)
    facts = run_module({'endpoint': emu.url, 'gather_subset': ['user_data']}).facts
    assert facts['user_data_encoding'] == 'base64'
    assert facts['user_data_compression'] == 'gzip'
    assert base64.b64decode(facts['user_data']) == raw


def test_spot_and_rebalance_notices_appear_when_issued(make_emulator, run_module):
    emu = make_emulator(spot_action_after=0, rebalance_after=0, spot_action='stop')
    events = run_module({'endpoint': emu.url, 'gather_subset': ['!all', '!min', 'events']}).facts['events']
    assert events['spot']['instance_action']['action'] == 'stop'
    assert events['spot']['termination_time'] == events['spot']['instance_action']['time']
    assert set(events['rebalance']) == {'notice_time'}


def test_legacy_facts_are_added_next_to_the_structured_ones(make_emulator, run_module):
    emu = make_emulator()
    facts = run_module({'endpoint': emu.url, 'gather_subset': ['min'], 'legacy_facts': True}).result['ansible_facts']
    assert facts['ansible_ec2_instance_id'] == 'i-0123456789abcdef0'
    assert facts['ansible_ec2_placement_region'] == 'eu-west-1'
    assert facts['ec2']['instance_id'] == 'i-0123456789abcdef0'
    # the structured facts still follow gather_subset
    assert facts['ec2']['tags'] is None


# --- options ------------------------------------------------------------------

def test_check_mode_gives_the_same_facts(make_emulator, run_module):
    emu = make_emulator()
    normal = run_module({'endpoint': emu.url, 'gather_subset': ['network']})
    checked = run_module({'endpoint': emu.url, 'gather_subset': ['network'], '_ansible_check_mode': True})
    assert checked.result['changed'] is False
    assert checked.facts == normal.facts


def test_gather_facts_arguments_are_accepted(make_emulator, run_module):
    emu = make_emulator()
    run = run_module({'endpoint': emu.url, 'gather_subset': ['min'], 'fact_path': '/etc/ansible/facts.d',
                      'gather_timeout': 10})
    assert 'failed' not in run.result
    assert run.facts['instance_id'] == 'i-0123456789abcdef0'


def test_bad_gather_subset_fails_before_any_request(make_emulator, run_module):
    emu = make_emulator()
    result = run_module({'endpoint': emu.url, 'gather_subset': ['network', 'tag']}).result
    assert result['failed'] is True
    assert "'tag'" in result['msg'] and 'public_keys' in result['msg']
    assert emu.requests == []


def test_bad_connection_option_fails_with_its_name(make_emulator, run_module):
    emu = make_emulator()
    result = run_module({'endpoint': emu.url, 'token_ttl': 0}).result
    assert result['failed'] is True
    assert 'token_ttl' in result['msg']
    assert emu.requests == []


def gzip_bytes(data):
    import gzip
    return gzip.compress(data)
