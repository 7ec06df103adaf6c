"""Shaping of instance metadata trees into ansible_facts['ec2'] (no network)."""
import base64
import copy
import gzip
import json
import zlib

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds import facts as _facts
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.facts import (
    GROUPS,
    ReadPlan,
    assemble_tree,
    plan_reads,
    resolve_gather_subset,
    shape_facts,
)

ALL = frozenset(GROUPS)
SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLESECRET'
SESSION_TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN'
ACCESS_KEY = 'ASIAEXAMPLEACCESSKEY'

PRIMARY_MAC = '0e:49:61:0f:c3:11'
SECONDARY_MAC = '0e:aa:bb:cc:dd:02'
THIRD_MAC = '0e:aa:bb:cc:dd:0a'


def identity_document(**overrides):
    document = {
        'accountId': '123456789012',
        'architecture': 'x86_64',
        'availabilityZone': 'us-east-1a',
        'billingProducts': None,
        'devpayProductCodes': None,
        'marketplaceProductCodes': None,
        'imageId': 'ami-0123456789abcdef0',
        'instanceId': 'i-1234567890abcdef0',
        'instanceType': 'm5.large',
        'kernelId': None,
        'pendingTime': '2024-01-01T00:00:00Z',
        'privateIp': '10.0.0.12',
        'ramdiskId': None,
        'region': 'us-east-1',
        'version': '2017-09-30',
    }
    document.update(overrides)
    return json.dumps(document, indent=2, separators=(',', ' : '))


def interface(device_number, mac, subnet, public_ips=(), sg_ids=('sg-0aa',), sg_names=('web',)):
    entry = {
        'device-number': str(device_number),
        'interface-id': 'eni-%s' % mac.replace(':', ''),
        'local-hostname': 'ip-10-0-%d-12.ec2.internal' % device_number,
        'local-ipv4s': '10.0.%d.12\n10.0.%d.13' % (device_number, device_number),
        'mac': mac,
        'network-card-index': '0',
        'owner-id': '123456789012',
        'security-group-ids': '\n'.join(sg_ids),
        'security-groups': '\n'.join(sg_names),
        'subnet-id': subnet,
        'subnet-ipv4-cidr-block': '10.0.%d.0/24' % device_number,
        'vpc-id': 'vpc-0123',
        'vpc-ipv4-cidr-block': '10.0.0.0/16',
        'vpc-ipv4-cidr-blocks': '10.0.0.0/16',
    }
    if public_ips:
        entry['public-ipv4s'] = '\n'.join(public_ips)
        entry['public-hostname'] = 'ec2-%s.compute-1.amazonaws.com' % public_ips[0].replace('.', '-')
        entry['ipv4-associations'] = dict((ip, '10.0.%d.12' % device_number) for ip in public_ips)
    return entry


def full_tree():
    """A realistic instance: 3 ENIs served out of order, tags, role, user data, events."""
    credentials = json.dumps({
        'Code': 'Success', 'Type': 'AWS-HMAC', 'AccessKeyId': ACCESS_KEY,
        'SecretAccessKey': SECRET_KEY, 'Token': SESSION_TOKEN, 'Expiration': '2030-01-01T00:00:00Z',
    })
    meta = {
        'ami-id': 'ami-0123456789abcdef0',
        'ami-launch-index': '0',
        'ami-manifest-path': '(unknown)',
        'block-device-mapping': {'ami': 'xvda', 'root': '/dev/xvda', 'ebs1': 'sdb'},
        'events': {
            'maintenance': {
                'history': '[]',
                'scheduled': json.dumps([{
                    'NotBefore': '21 Jan 2019 09:00:43 GMT', 'Code': 'system-reboot',
                    'Description': 'scheduled reboot', 'EventId': 'instance-event-0d59937288b749b32',
                    'NotAfter': '21 Jan 2019 09:17:23 GMT', 'State': 'active',
                }]),
            },
            'recommendations': {'rebalance': '{"noticeTime": "2020-10-27T08:22:00Z"}'},
        },
        'hostname': 'ip-10-0-0-12.ec2.internal',
        'iam': {
            'info': json.dumps({
                'Code': 'Success', 'LastUpdated': '2024-01-01T00:00:00Z',
                'InstanceProfileArn': 'arn:aws:iam::123456789012:instance-profile/web',
                'InstanceProfileId': 'AIPAEXAMPLEPROFILEID',
            }),
            # A careless tree may hold credential values: shaping must ignore them.
            'security-credentials': {'web-role': credentials},
        },
        'identity-credentials': {'ec2': {
            'info': '{"AccountId": "123456789012", "Code": "Success"}',
            'security-credentials': {'ec2-instance': credentials},
        }},
        'instance-action': 'none',
        'instance-id': 'i-1234567890abcdef0',
        'instance-life-cycle': 'on-demand',
        'instance-type': 'm5.large',
        'local-hostname': 'ip-10-0-0-12.ec2.internal',
        'local-ipv4': '10.0.0.12',
        'mac': PRIMARY_MAC,
        'network': {'interfaces': {'macs': {
            THIRD_MAC: interface(10, THIRD_MAC, 'subnet-ccc'),
            SECONDARY_MAC: interface(2, SECONDARY_MAC, 'subnet-bbb', sg_ids=('sg-0bb', 'sg-0cc'), sg_names=('db', 'ops')),
            PRIMARY_MAC: interface(0, PRIMARY_MAC, 'subnet-aaa', public_ips=('203.0.113.25',),
                                   sg_ids=('sg-0aa', 'sg-0ab'), sg_names=('web', 'ssh')),
        }}},
        'placement': {
            'availability-zone': 'us-east-1a',
            'availability-zone-id': 'use1-az4',
            'region': 'us-east-1',
            'partition-number': '3',
            'group-name': 'spread-web',
        },
        'public-hostname': 'ec2-203-0-113-25.compute-1.amazonaws.com',
        'public-ipv4': '203.0.113.25',
        'public-keys': {'1=backup-key': {'openssh-key': 'ssh-ed25519 AAAAC3Nz backup-key\n'},
                        '0=my-key': {'openssh-key': 'ssh-rsa AAAAB3Nz my-key'}},
        'reservation-id': 'r-0123456789abcdef0',
        'security-groups': 'web\nssh',
        'services': {'domain': 'amazonaws.com', 'partition': 'aws'},
        'spot': {
            'instance-action': '{"action": "terminate", "time": "2017-09-18T08:22:00Z"}',
            'termination-time': '2017-09-18T08:22:00Z',
        },
        'tags': {'instance': {'Name': 'web-1', 'team:owner': 'platform', 'my-dashed-key': 'v',
                              'template': "{{ 'x' }}", 'empty': ''}},
        'autoscaling': {'target-lifecycle-state': 'InService'},
    }
    return {
        'meta-data': meta,
        'dynamic': {'instance-identity': {
            'document': identity_document(),
            'pkcs7': 'MIAGCSqGSIb3DQEHAqCAMIACAQExCzAJBgUrDgMCGgUA',
            'signature': 'dExamplesignature==',
        }},
        'user-data': b'#cloud-config\npackages: [nginx]\n',
    }


def strings_in(value):
    """Every string anywhere in VALUE (keys and values)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, str):
        yield value


# --- gather_subset ---------------------------------------------------------

@pytest.mark.parametrize('subset, expected', [
    (['all'], ALL),
    ([], ALL),
    (None, ALL),
    (['min'], {'min'}),
    (['!all'], {'min'}),
    (['!all', '!min'], set()),
    (['!min'], set()),
    (['network'], {'min', 'network'}),
    (['!all', 'network'], {'min', 'network'}),
    (['!all', '!min', 'network', 'tags'], {'network', 'tags'}),
    (['all', '!user_data', '!iam'], ALL - {'user_data', 'iam'}),
    # As in setup: a lone exclusion leaves only min, and naming a group wins over excluding it.
    (['!user_data'], {'min'}),
    (['tags', '!tags'], {'min', 'tags'}),
    ([' network ', '! tags'], {'min', 'network'}),
])
def test_gather_subset_follows_setup_semantics(subset, expected):
    assert resolve_gather_subset(subset) == frozenset(expected)


@pytest.mark.parametrize('subset, bad', [(['netwrk'], 'netwrk'), (['all', '!user_dat'], '!user_dat'), (['MIN'], 'MIN')])
def test_gather_subset_rejects_unknown_groups_naming_them_and_the_valid_ones(subset, bad):
    with pytest.raises(ValueError) as excinfo:
        resolve_gather_subset(subset)
    message = str(excinfo.value)
    assert repr(bad) in message
    for group in GROUPS:
        assert group in message


# --- planning --------------------------------------------------------------

def test_min_plans_only_the_identity_document():
    assert plan_reads(resolve_gather_subset(['min'])) == ReadPlan(
        leaves=('dynamic/instance-identity/document',), trees=())


def test_nothing_selected_plans_nothing():
    assert plan_reads(frozenset()) == ReadPlan(leaves=(), trees=())


def test_plan_never_reads_credentials_and_has_no_duplicates_or_nested_reads():
    plan = plan_reads(ALL)
    assert len(set(plan.leaves)) == len(plan.leaves)
    assert len(set(plan.trees)) == len(plan.trees)
    for leaf in plan.leaves:
        assert not any(leaf.startswith(tree) for tree in plan.trees)
    for tree in plan.trees:
        assert tree.endswith('/')
        assert not any(other != tree and tree.startswith(other) for other in plan.trees)
    for path in plan.leaves + plan.trees:
        assert 'identity-credentials' not in path
        assert not path.startswith('meta-data/iam/security-credentials/') or path == 'meta-data/iam/security-credentials/'


@pytest.mark.parametrize('group, expected_leaves, expected_trees', [
    ('tags', (), ('meta-data/tags/instance/',)),
    ('iam', ('meta-data/iam/info',), ('meta-data/iam/security-credentials/',)),
    ('user_data', ('user-data',), ()),
    ('public_keys', (), ('meta-data/public-keys/',)),
    ('placement', (), ('meta-data/placement/',)),
])
def test_each_group_reads_only_its_own_paths(group, expected_leaves, expected_trees):
    assert plan_reads(frozenset([group])) == ReadPlan(leaves=expected_leaves, trees=expected_trees)


def test_full_tree_plan_reads_everything_the_old_module_read():
    assert plan_reads(frozenset(['min']), full_tree=True) == ReadPlan(
        leaves=('user-data',), trees=('meta-data/', 'dynamic/'))


def test_assemble_tree_keeps_user_data_that_was_read_but_absent_as_none():
    assert assemble_tree(leaves={'user-data': None}) == {'user-data': None}
    assert assemble_tree(leaves={'meta-data/mac': None}) == {}


def test_assemble_tree_nests_results_and_drops_404s():
    tree = assemble_tree(
        leaves={
            'meta-data/iam/info': b'{"Code": "Success"}',
            'meta-data/public-ipv4': None,
            'user-data': b'\x00\x01',
            'dynamic/instance-identity/document': b'{}',
        },
        trees={'meta-data/iam/security-credentials/': {'web-role': None}, 'meta-data/tags/instance/': None},
    )
    assert tree == {
        'meta-data': {'iam': {'info': '{"Code": "Success"}', 'security-credentials': {'web-role': None}}},
        'dynamic': {'instance-identity': {'document': '{}'}},
        'user-data': b'\x00\x01',
    }


# --- shaping: the fixed names ----------------------------------------------

def test_full_tree_gives_the_documented_facts():
    facts = shape_facts(full_tree(), ALL)
    assert facts['gather_subset'] == sorted(GROUPS)
    assert facts['instance_id'] == 'i-1234567890abcdef0'
    assert facts['instance_type'] == 'm5.large'
    assert facts['ami_id'] == 'ami-0123456789abcdef0'
    assert facts['account_id'] == '123456789012'
    assert facts['architecture'] == 'x86_64'
    assert facts['partition'] == 'aws'
    assert facts['services_domain'] == 'amazonaws.com'
    assert facts['region'] == 'us-east-1'
    assert facts['availability_zone'] == 'us-east-1a'
    assert facts['availability_zone_id'] == 'use1-az4'
    assert facts['placement'] == {'group_name': 'spread-web', 'partition_number': 3, 'host_id': None}
    assert facts['local_ipv4'] == '10.0.0.12'
    assert facts['public_ipv4'] == '203.0.113.25'
    assert facts['ipv6'] is None
    assert facts['mac'] == PRIMARY_MAC
    assert facts['hostname'] == 'ip-10-0-0-12.ec2.internal'
    assert facts['public_hostname'] == 'ec2-203-0-113-25.compute-1.amazonaws.com'
    assert facts['vpc_id'] == 'vpc-0123'
    assert facts['subnet_id'] == 'subnet-aaa'
    assert facts['security_groups'] == ['web', 'ssh']
    assert facts['security_group_ids'] == ['sg-0aa', 'sg-0ab']
    assert facts['instance_life_cycle'] == 'on-demand'
    assert facts['instance_action'] == 'none'
    assert facts['ami_launch_index'] == 0
    assert facts['reservation_id'] == 'r-0123456789abcdef0'
    assert facts['block_device_mapping'] == {'ami': 'xvda', 'root': '/dev/xvda', 'ebs1': 'sdb'}
    assert facts['iam'] == {
        'role_name': 'web-role',
        'instance_profile_arn': 'arn:aws:iam::123456789012:instance-profile/web',
        'instance_profile_id': 'AIPAEXAMPLEPROFILEID',
    }
    assert facts['user_data'] == '#cloud-config\npackages: [nginx]\n'
    assert facts['user_data_encoding'] == 'utf-8'
    assert facts['user_data_compression'] is None
    assert facts['identity_document']['instanceId'] == 'i-1234567890abcdef0'
    assert facts['identity_document']['billingProducts'] is None


def test_interfaces_are_ordered_by_device_number_numerically_with_typed_fields():
    facts = shape_facts(full_tree(), ALL)
    interfaces = facts['network']['interfaces']
    assert [i['device_number'] for i in interfaces] == [0, 2, 10]
    assert [i['mac'] for i in interfaces] == [PRIMARY_MAC, SECONDARY_MAC, THIRD_MAC]
    primary, secondary = interfaces[0], interfaces[1]
    assert primary['network_card_index'] == 0
    assert primary['local_ipv4s'] == ['10.0.0.12', '10.0.0.13']
    assert primary['public_ipv4s'] == ['203.0.113.25']
    assert primary['ipv4_associations'] == {'203.0.113.25': ['10.0.0.12']}
    assert primary['security_group_ids'] == ['sg-0aa', 'sg-0ab']
    assert primary['subnet_ipv4_cidr_block'] == '10.0.0.0/24'
    assert primary['interface_id'] == 'eni-0e49610fc311'
    assert secondary['subnet_id'] == 'subnet-bbb'
    assert secondary['public_ipv4s'] == []
    assert secondary['public_hostname'] is None
    assert secondary['ipv4_associations'] == {}
    assert secondary['security_groups'] == ['db', 'ops']
    assert secondary['ipv6s'] == []
    assert set(primary) == set(secondary)


def test_vpc_and_subnet_come_from_device_zero_even_when_served_last():
    tree = full_tree()
    macs = tree['meta-data']['network']['interfaces']['macs']
    tree['meta-data']['network']['interfaces']['macs'] = dict(reversed(list(macs.items())))
    del tree['meta-data']['mac']
    facts = shape_facts(tree, ALL)
    assert facts['subnet_id'] == 'subnet-aaa'
    assert facts['mac'] == PRIMARY_MAC


def test_non_numeric_device_number_sorts_last_and_is_null():
    tree = full_tree()
    tree['meta-data']['network']['interfaces']['macs'][SECONDARY_MAC]['device-number'] = 'one'
    interfaces = shape_facts(tree, ALL)['network']['interfaces']
    assert interfaces[-1]['mac'] == SECONDARY_MAC
    assert interfaces[-1]['device_number'] is None


def test_tags_keep_exact_keys_and_values():
    tags = shape_facts(full_tree(), ALL)['tags']
    assert tags == {'Name': 'web-1', 'team:owner': 'platform', 'my-dashed-key': 'v',
                    'template': "{{ 'x' }}", 'empty': ''}


def test_tags_are_null_when_instance_metadata_tags_are_disabled():
    tree = full_tree()
    del tree['meta-data']['tags']
    assert shape_facts(tree, ALL)['tags'] is None


def test_public_keys_are_listed_by_index():
    assert shape_facts(full_tree(), ALL)['public_keys'] == [
        {'index': 0, 'name': 'my-key', 'openssh_key': 'ssh-rsa AAAAB3Nz my-key'},
        {'index': 1, 'name': 'backup-key', 'openssh_key': 'ssh-ed25519 AAAAC3Nz backup-key'},
    ]


def test_events_are_parsed_into_snake_case_records():
    events = shape_facts(full_tree(), ALL)['events']
    assert events['spot'] == {
        'instance_action': {'action': 'terminate', 'time': '2017-09-18T08:22:00Z'},
        'termination_time': '2017-09-18T08:22:00Z',
    }
    assert events['rebalance'] == {'notice_time': '2020-10-27T08:22:00Z'}
    assert events['maintenance']['history'] == []
    assert events['maintenance']['scheduled'] == [{
        'not_before': '21 Jan 2019 09:00:43 GMT', 'code': 'system-reboot', 'description': 'scheduled reboot',
        'event_id': 'instance-event-0d59937288b749b32', 'not_after': '21 Jan 2019 09:17:23 GMT', 'state': 'active',
    }]
    assert events['autoscaling_target_lifecycle_state'] == 'InService'


def test_no_notices_means_null_notices_and_empty_maintenance_lists():
    tree = full_tree()
    del tree['meta-data']['spot']
    del tree['meta-data']['events']
    events = shape_facts(tree, ALL)['events']
    assert events['spot'] == {'instance_action': None, 'termination_time': None}
    assert events['rebalance'] is None
    assert events['maintenance'] == {'scheduled': [], 'history': []}


@pytest.mark.parametrize('payload', [
    'not json', '{"action": NaN}', '[1, 2]', '"terminate"', '[' * 100000, '{"action": {"nested": 1}}',
])
def test_malformed_json_never_breaks_shaping(payload):
    tree = full_tree()
    tree['meta-data']['spot']['instance-action'] = payload
    tree['meta-data']['events']['maintenance']['scheduled'] = payload
    tree['meta-data']['iam']['info'] = payload
    tree['dynamic']['instance-identity']['document'] = payload
    facts = shape_facts(tree, ALL)
    assert facts['events']['spot']['instance_action'] in (None, {})
    assert facts['events']['maintenance']['scheduled'] == []
    assert facts['iam']['instance_profile_arn'] is None
    assert facts['identity_document'] in (None, {'action': {'nested': 1}})
    assert facts['account_id'] is None
    assert facts['instance_id'] is None
    # placement/region is a plain leaf and still counts
    assert facts['region'] == 'us-east-1'


def test_non_string_event_values_become_strings():
    tree = full_tree()
    tree['meta-data']['events']['recommendations']['rebalance'] = '{"noticeTime": 5, "Urgent": true, "Extra": null}'
    assert shape_facts(tree, ALL)['events']['rebalance'] == {'notice_time': '5', 'urgent': 'true', 'extra': None}


# --- region, missing items -------------------------------------------------

def test_region_of_a_local_zone_comes_from_placement_not_from_the_az():
    tree = full_tree()
    tree['meta-data']['placement'].update({'availability-zone': 'us-west-2-lax-1a', 'region': 'us-west-2',
                                           'availability-zone-id': 'usw2-lax1-az1'})
    facts = shape_facts(tree, ALL)
    assert facts['region'] == 'us-west-2'
    assert facts['availability_zone'] == 'us-west-2-lax-1a'


def test_region_falls_back_to_the_identity_document_never_to_a_trimmed_az():
    tree = full_tree()
    del tree['meta-data']['placement']['region']
    tree['meta-data']['placement']['availability-zone'] = 'us-west-2-lax-1a'
    tree['dynamic']['instance-identity']['document'] = identity_document(
        region='us-west-2', availabilityZone='us-west-2-lax-1a')
    assert shape_facts(tree, ALL)['region'] == 'us-west-2'

    tree['dynamic']['instance-identity']['document'] = identity_document(region=None)
    assert shape_facts(tree, ALL)['region'] is None


def test_missing_items_are_null_never_the_string_none():
    tree = {'meta-data': {'local-hostname': 'ip-10-0-0-1'}, 'dynamic': {}, 'user-data': None}
    facts = shape_facts(tree, ALL)
    assert facts['local_hostname'] == 'ip-10-0-0-1'
    for key in ('instance_id', 'public_ipv4', 'local_ipv4', 'mac', 'region', 'availability_zone_id', 'vpc_id', 'subnet_id',
                'account_id', 'user_data', 'tags', 'identity_document', 'instance_life_cycle'):
        assert facts[key] is None, key
    assert facts['iam'] == {'role_name': None, 'instance_profile_arn': None, 'instance_profile_id': None}
    assert facts['security_groups'] == []
    assert facts['network'] == {'interfaces': []}
    assert facts['public_keys'] == []
    assert 'None' not in list(strings_in(facts))


def test_every_subset_gives_the_same_keys():
    keys = set(shape_facts(full_tree(), ALL))
    for group in GROUPS:
        facts = shape_facts(full_tree(), frozenset([group]))
        assert set(facts) == keys
        assert set(facts['events']) == set(shape_facts(full_tree(), ALL)['events'])


def test_min_gives_identity_from_the_document_and_nothing_else():
    facts = shape_facts(full_tree(), frozenset(['min']))
    assert facts['instance_id'] == 'i-1234567890abcdef0'
    assert facts['account_id'] == '123456789012'
    assert facts['region'] == 'us-east-1'
    assert facts['availability_zone'] == 'us-east-1a'
    assert facts['local_ipv4'] == '10.0.0.12'
    assert facts['gather_subset'] == ['min']
    for key in ('public_ipv4', 'mac', 'vpc_id', 'security_groups', 'tags', 'user_data', 'public_keys',
                'availability_zone_id', 'partition', 'block_device_mapping', 'ami_launch_index'):
        assert facts[key] is None, key
    assert facts['network'] == {'interfaces': None}
    assert facts['iam']['role_name'] is None
    assert facts['events']['maintenance'] == {'scheduled': None, 'history': None}


def test_shaping_a_full_tree_equals_shaping_what_the_groups_read():
    groups = resolve_gather_subset(['!all', 'network', 'tags'])
    plan = plan_reads(groups)
    partial = _facts.select(full_tree(), plan)
    assert 'user-data' not in partial
    assert shape_facts(full_tree(), groups) == shape_facts(partial, groups)


def test_shaping_does_not_modify_the_tree():
    tree = full_tree()
    before = copy.deepcopy(tree)
    shape_facts(tree, ALL)
    assert tree == before


def test_credentials_never_appear_in_facts():
    facts = shape_facts(full_tree(), ALL)
    text = json.dumps(facts)
    for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN):
        assert secret not in text


# --- user data -------------------------------------------------------------

def user_data_facts(raw):
    tree = full_tree()
    tree['user-data'] = raw
    facts = shape_facts(tree, ALL)
    return facts['user_data'], facts['user_data_encoding'], facts['user_data_compression']


def test_gzip_user_data_is_decompressed():
    assert user_data_facts(gzip.compress('#!/bin/sh\necho héllo\n'.encode())) == (
        '#!/bin/sh\necho héllo\n', 'utf-8', 'gzip')


def test_zlib_user_data_is_decompressed():
    assert user_data_facts(zlib.compress(b'#cloud-config\n')) == ('#cloud-config\n', 'utf-8', 'zlib')


def test_binary_user_data_is_base64_with_a_marker():
    raw = b'\x00\xffbinary\x80'
    assert user_data_facts(raw) == (base64.b64encode(raw).decode(), 'base64', None)


def test_gzipped_binary_is_base64_of_the_decompressed_bytes():
    raw = b'\x00\xffbinary\x80'
    assert user_data_facts(gzip.compress(raw)) == (base64.b64encode(raw).decode(), 'base64', 'gzip')


def test_corrupt_gzip_is_kept_as_served():
    raw = b'\x1f\x8b\x08\x00garbage'
    assert user_data_facts(raw) == (base64.b64encode(raw).decode(), 'base64', None)


def test_text_that_looks_like_a_zlib_header_stays_text():
    assert user_data_facts(b'x ray') == ('x ray', 'utf-8', None)


def test_decompression_bomb_is_not_expanded():
    raw = gzip.compress(b'\x00' * (_facts.USER_DATA_MAX_DECOMPRESSED + 10))
    assert user_data_facts(raw) == (base64.b64encode(raw).decode(), 'base64', None)


def test_no_user_data_is_null_and_empty_user_data_is_empty_text():
    assert user_data_facts(None) == (None, None, None)
    assert user_data_facts(b'') == ('', 'utf-8', None)


def test_odd_shapes_from_a_misbehaving_server_never_raise():
    # Directories where leaves belong and leaves where directories belong.
    meta = {key: {'x': 'y'} for key in ('mac', 'local-ipv4', 'security-groups', 'instance-life-cycle')}
    directories = ('network', 'placement', 'tags', 'iam', 'public-keys', 'spot', 'events', 'block-device-mapping')
    meta.update({key: 'not a directory' for key in directories})
    tree = {'meta-data': meta, 'dynamic': 'nope', 'user-data': b''}
    facts = shape_facts(tree, ALL)
    assert facts['mac'] is None
    assert facts['tags'] is None
    assert facts['network'] == {'interfaces': []}
    assert facts['security_groups'] == []

    macs = {'0e:00:00:00:00:01': 'a leaf', '0e:00:00:00:00:02': {'device-number': {'nested': '1'}}}
    tree = {'meta-data': {'network': {'interfaces': {'macs': macs}}, 'public-keys': {'x=bad': {}, '3': 'k'}}}
    facts = shape_facts(tree, ALL)
    assert [i['mac'] for i in facts['network']['interfaces']] == ['0e:00:00:00:00:01', '0e:00:00:00:00:02']
    assert facts['public_keys'] == [{'index': 3, 'name': None, 'openssh_key': None}]


def test_a_user_data_bomb_is_kept_as_served():
    bomb = gzip.compress(b'\0' * (100 * 1024 * 1024))
    assert user_data_facts(bomb) == (base64.b64encode(bomb).decode(), 'base64', None)


# --- values with surrounding whitespace -------------------------------------

def test_identifiers_served_with_trailing_newlines_are_stripped_once():
    tree = full_tree()
    meta = tree['meta-data']
    for name in ('local-ipv4', 'mac', 'public-ipv4'):
        meta[name] = meta[name] + '\n'
    meta['placement']['region'] = meta['placement']['region'] + '\r\n'
    document = json.loads(tree['dynamic']['instance-identity']['document'])
    clean = dict(document)
    document['instanceId'] += '\n'
    document['accountId'] = ' ' + document['accountId'] + '\n'
    tree['dynamic']['instance-identity']['document'] = json.dumps(document)
    facts = shape_facts(tree, ALL)
    reference = shape_facts(full_tree(), ALL)
    for key in ('instance_id', 'account_id', 'local_ipv4', 'mac', 'public_ipv4', 'region'):
        assert facts[key] == reference[key], key
        assert facts[key] == facts[key].strip()
    assert facts['instance_id'] == clean['instanceId']


def test_a_blank_leaf_is_null_not_an_empty_or_blank_string():
    tree = full_tree()
    tree['meta-data']['public-ipv4'] = '\n'
    assert shape_facts(tree, ALL)['public_ipv4'] is None


def test_tag_values_keep_their_whitespace():
    tree = full_tree()
    tree['meta-data']['tags']['instance']['Note'] = ' spaced \n'
    assert shape_facts(tree, ALL)['tags']['Note'] == ' spaced \n'
