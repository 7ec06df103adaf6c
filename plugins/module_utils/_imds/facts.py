# -*- coding: utf-8 -*-
# Copyright: cloudmeta.imds maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may change in any release, even a bugfix release.

"""Instance metadata tree -> ansible_facts['ec2'] (pure: no network).

Three steps, each testable on its own:

* resolve_gather_subset(): the user's gather_subset -> a set of groups;
* plan_reads(): groups -> the leaves and directories the client must read;
* shape_facts(): the instance tree read by the client -> the fact dict.

Everything served by the metadata service is untrusted text: JSON is parsed
defensively, numbers only from plain digits, and values stay plain strings.
"""

from __future__ import annotations

import base64
import collections
import copy
import json
import re

from .._common.json_text import loads_strict
from .user_data import MAX_DECOMPRESSED, decompress

GROUPS = (
    'min', 'identity', 'placement', 'network', 'instance', 'tags', 'iam',
    'user_data', 'public_keys', 'events',
)

# setup's semantics: 'min' is gathered unless '!min' is given.
MINIMAL_GROUPS = frozenset(['min'])

IDENTITY_DOCUMENT = 'dynamic/instance-identity/document'
USER_DATA = 'user-data'

ReadPlan = collections.namedtuple('ReadPlan', ['leaves', 'trees'])
ReadPlan.__doc__ = """What to read: leaves for client.get_many(), directories for client.read_tree().

Paths are relative to /latest/; directories end with '/'.
"""

_META = 'meta-data/'

# Each group lists exactly what its facts need, so a small subset costs only
# a few requests. The identity document carries instance id, type, AMI,
# account, region, AZ and private IP in one GET, so those come from it alone
# and their meta-data leaves are never read.
_GROUP_READS = {
    'min': ((IDENTITY_DOCUMENT,), ()),
    'identity': ((IDENTITY_DOCUMENT, _META + 'services/partition', _META + 'services/domain'), ()),
    'placement': ((), (_META + 'placement/',)),
    'network': (
        tuple(_META + leaf for leaf in (
            'local-ipv4', 'public-ipv4', 'ipv6', 'mac', 'hostname',
            'local-hostname', 'public-hostname', 'security-groups',
        )),
        (_META + 'network/interfaces/macs/',),
    ),
    'instance': (
        (IDENTITY_DOCUMENT,) + tuple(_META + leaf for leaf in (
            'ami-launch-index', 'instance-life-cycle', 'reservation-id', 'instance-action',
        )),
        (_META + 'block-device-mapping/',),
    ),
    'tags': ((), (_META + 'tags/instance/',)),
    # The role name is the one entry of the credentials listing; the client
    # lists it without ever fetching the credentials themselves.
    'iam': ((_META + 'iam/info',), (_META + 'iam/security-credentials/',)),
    'user_data': ((USER_DATA,), ()),
    'public_keys': ((), (_META + 'public-keys/',)),
    'events': (
        tuple(_META + leaf for leaf in (
            'spot/instance-action', 'spot/termination-time',
            'events/recommendations/rebalance',
            'events/maintenance/scheduled', 'events/maintenance/history',
            'autoscaling/target-lifecycle-state',
        )),
        (),
    ),
}

# What legacy_facts needs: everything amazon.aws.ec2_metadata_facts crawled.
FULL_TREE_PLAN = ReadPlan(leaves=(USER_DATA,), trees=(_META, 'dynamic/'))

# Decompressed user data larger than this is kept as served (base64); the
# bound lives with the one decompressor, in user_data.py.
USER_DATA_MAX_DECOMPRESSED = MAX_DECOMPRESSED

_DIGITS = re.compile(r'[0-9]{1,18}')
_CAMEL_BOUNDARY = re.compile(r'(?<=[a-z0-9])(?=[A-Z])')


def resolve_gather_subset(gather_subset):
    """Return the frozenset of groups that GATHER_SUBSET selects.

    Mirrors ansible.builtin.setup: 'min' is always added unless '!min' is
    given; a named group adds to 'min' ('network' means min + network);
    '!all' leaves only 'min'; '!all', '!min' gathers nothing but what is
    named after it; a group both added and excluded is added. Unlike setup,
    an unknown group is an error also when excluded, so that a typo in
    '!user_dat' does not silently gather user data.
    """
    items = list(gather_subset) if gather_subset else ['all']
    valid = set(GROUPS)
    added = set()
    excluded = set()
    explicit = set()
    for raw in ['min'] + items:
        if not isinstance(raw, str):
            raise ValueError('gather_subset entries must be strings, got %r' % (raw,))
        name = raw.strip()
        negate = name.startswith('!')
        if negate:
            name = name[1:].strip()
        if name != 'all' and name not in valid:
            raise ValueError(
                "Bad gather_subset entry %r: valid groups are all, %s (prefix one with '!' to exclude it)"
                % (raw, ', '.join(sorted(valid)))
            )
        if name == 'all':
            if negate:
                excluded.update(valid - MINIMAL_GROUPS)
            else:
                added.update(valid)
        elif name in MINIMAL_GROUPS:
            (excluded if negate else added).add(name)
        elif negate:
            excluded.add(name)
        else:
            added.add(name)
            explicit.add(name)
    return frozenset(added - (excluded - explicit))


def plan_reads(groups, full_tree=False):
    """Return the ReadPlan covering GROUPS with no duplicate or nested reads.

    full_tree reads everything (what legacy facts need) whatever GROUPS is.
    """
    if full_tree:
        return FULL_TREE_PLAN
    leaves = []
    trees = []
    for group in GROUPS:
        if group not in groups:
            continue
        group_leaves, group_trees = _GROUP_READS[group]
        leaves.extend(path for path in group_leaves if path not in leaves)
        trees.extend(path for path in group_trees if path not in trees)
    leaves = [leaf for leaf in leaves if not any(leaf.startswith(tree) for tree in trees)]
    return ReadPlan(leaves=tuple(leaves), trees=tuple(trees))


def assemble_tree(leaves=None, trees=None):
    """Build the instance tree from client results.

    LEAVES maps leaf paths to bytes, or None for 404 (left out); TREES maps
    directory paths to read_tree() results, or None when the directory does
    not exist. user-data stays bytes, and is None when it was read and
    there is none; other leaves become text.
    """
    tree = {}
    for path, subtree in (trees or {}).items():
        if subtree is not None:
            _insert(tree, _segments(path), subtree)
    for path, value in (leaves or {}).items():
        if path.rstrip('/') == USER_DATA:
            tree[USER_DATA] = None if value is None else bytes(value)
        elif value is not None:
            if isinstance(value, bytes):
                value = value.decode('utf-8', errors='replace')
            _insert(tree, _segments(path), value)
    return tree


def select(tree, plan):
    """Return the part of TREE that PLAN reads, so shaping sees only what the chosen groups asked for."""
    selected = {}
    for path in tuple(plan.trees) + tuple(plan.leaves):
        segments = _segments(path)
        if segments == [USER_DATA]:
            if tree.get(USER_DATA) is not None:
                selected[USER_DATA] = tree[USER_DATA]
            continue
        value = _walk(tree, segments)
        if value is not None:
            _insert(selected, segments, copy.deepcopy(value))
    return selected


def shape_facts(tree, groups):
    """Return the value of ansible_facts['ec2'] for the instance TREE.

    Only the parts of TREE that GROUPS read are used, so the result is the
    same whether the tree was read for these groups or in full. Every key is
    always present: scalars are None when absent or not gathered; list
    fields are [] when their group was gathered and metadata has none.
    """
    groups = frozenset(groups)
    tree = select(tree, plan_reads(groups))
    md = _as_dict(tree.get('meta-data'))
    document = _json_object(_walk(tree, _segments(IDENTITY_DOCUMENT)))
    facts = {'gather_subset': sorted(groups)}
    facts.update(_identity_facts(md, document))
    facts.update(_placement_facts(md, document))
    facts.update(_network_facts(md, document, 'network' in groups))
    facts.update(_instance_facts(md, 'instance' in groups))
    facts['tags'] = _tags(md) if 'tags' in groups else None
    facts['iam'] = _iam(md)
    facts.update(user_data_facts(tree.get(USER_DATA)))
    facts['public_keys'] = _public_keys(md) if 'public_keys' in groups else None
    facts['events'] = _events(md, 'events' in groups)
    facts['identity_document'] = document
    return facts


def _identity_facts(md, document):
    # The document is generated by EC2 itself and is what instance-id,
    # instance-type and ami-id serve too; reading it saves three requests.
    return {
        'instance_id': _document_text(document, 'instanceId'),
        'instance_type': _document_text(document, 'instanceType'),
        'ami_id': _document_text(document, 'imageId'),
        'account_id': _document_text(document, 'accountId'),
        'architecture': _document_text(document, 'architecture'),
        'partition': _text(_walk(md, ['services', 'partition'])),
        'services_domain': _text(_walk(md, ['services', 'domain'])),
    }


def _placement_facts(md, document):
    placement = _as_dict(md.get('placement'))
    # Region never comes from trimming the AZ: that is wrong in Local and
    # Wavelength Zones (us-west-2-lax-1a is in us-west-2).
    return {
        'region': _text(placement.get('region')) or _document_text(document, 'region'),
        'availability_zone': (_text(placement.get('availability-zone'))
                              or _document_text(document, 'availabilityZone')),
        'availability_zone_id': _text(placement.get('availability-zone-id')),
        'placement': {
            'group_name': _text(placement.get('group-name')),
            'partition_number': _integer(placement.get('partition-number')),
            'host_id': _text(placement.get('host-id')),
        },
    }


_INTERFACE_TEXT = (
    'interface-id', 'local-hostname', 'mac', 'owner-id', 'public-hostname',
    'subnet-id', 'subnet-ipv4-cidr-block', 'vpc-id', 'vpc-ipv4-cidr-block',
)
_INTERFACE_INTEGERS = ('device-number', 'network-card-index')
_INTERFACE_LISTS = (
    'ipv4-prefix', 'ipv6-prefix', 'ipv6s', 'local-ipv4s', 'public-ipv4s',
    'security-group-ids', 'security-groups', 'subnet-ipv6-cidr-blocks',
    'vpc-ipv4-cidr-blocks', 'vpc-ipv6-cidr-blocks',
)


def _network_facts(md, document, gathered):
    interfaces = _interfaces(md) if gathered else None
    primary = _primary_interface(interfaces or [], _text(md.get('mac')))
    security_groups = _lines(md.get('security-groups')) if gathered else None
    if gathered and not security_groups:
        security_groups = list(primary.get('security_groups') or [])
    return {
        'local_ipv4': _text(md.get('local-ipv4')) or _document_text(document, 'privateIp'),
        'public_ipv4': _text(md.get('public-ipv4')),
        'ipv6': _text(md.get('ipv6')),
        'mac': _text(md.get('mac')) or primary.get('mac'),
        'hostname': _text(md.get('hostname')),
        'local_hostname': _text(md.get('local-hostname')),
        'public_hostname': _text(md.get('public-hostname')),
        'vpc_id': primary.get('vpc_id'),
        'subnet_id': primary.get('subnet_id'),
        'security_groups': security_groups,
        'security_group_ids': list(primary.get('security_group_ids') or []) if gathered else None,
        'network': {'interfaces': interfaces},
    }


def _interfaces(md):
    macs = _as_dict(_walk(md, ['network', 'interfaces', 'macs']))
    interfaces = []
    for mac_key, entry in macs.items():
        entry = _as_dict(entry)
        interface = {}
        for name in _INTERFACE_TEXT:
            interface[_snake(name)] = _text(entry.get(name))
        for name in _INTERFACE_INTEGERS:
            interface[_snake(name)] = _integer(entry.get(name))
        for name in _INTERFACE_LISTS:
            interface[_snake(name)] = _lines(entry.get(name))
        interface['ipv4_associations'] = dict(
            (public_ip, _lines(private_ips))
            for public_ip, private_ips in _as_dict(entry.get('ipv4-associations')).items()
            if isinstance(private_ips, str)
        )
        if interface['mac'] is None:
            interface['mac'] = mac_key
        interfaces.append(interface)
    interfaces.sort(key=_interface_order)
    return interfaces


def _interface_order(interface):
    device = interface['device_number']
    card = interface['network_card_index']
    return (device is None, device or 0, card or 0, interface['mac'] or '')


def _primary_interface(interfaces, mac):
    for interface in interfaces:
        if interface['device_number'] == 0:
            return interface
    for interface in interfaces:
        if mac and interface['mac'] == mac:
            return interface
    return {}


def _instance_facts(md, gathered):
    return {
        'instance_life_cycle': _text(md.get('instance-life-cycle')),
        'instance_action': _text(md.get('instance-action')),
        'ami_launch_index': _integer(md.get('ami-launch-index')),
        'reservation_id': _text(md.get('reservation-id')),
        'block_device_mapping': _string_leaves(md.get('block-device-mapping')) if gathered else None,
    }


def _tags(md):
    instance_tags = _walk(md, ['tags', 'instance'])
    if not isinstance(instance_tags, dict):
        # InstanceMetadataTags is disabled: the listing is a 404, which says
        # nothing about whether the instance has tags.
        return None
    return _string_leaves(instance_tags)


def _iam(md):
    iam = _as_dict(md.get('iam'))
    info = _json_object(iam.get('info')) or {}
    # Only the names under security-credentials are used; their values (the
    # role's credentials) never reach the facts, even if a tree holds them.
    roles = [name for name in _as_dict(iam.get('security-credentials')) if name]
    return {
        'role_name': roles[0] if roles else None,
        'instance_profile_arn': _text(info.get('InstanceProfileArn')),
        'instance_profile_id': _text(info.get('InstanceProfileId')),
    }


def user_data_facts(raw):
    """Return user_data, user_data_encoding and user_data_compression.

    Shared with the lookup, so user data reads the same in facts and templates.
    """
    if raw is None:
        return {'user_data': None, 'user_data_encoding': None, 'user_data_compression': None}
    if isinstance(raw, str):
        raw = raw.encode('utf-8')
    data, compression, _problem = decompress(raw)
    try:
        return {'user_data': data.decode('utf-8'), 'user_data_encoding': 'utf-8',
                'user_data_compression': compression}
    except UnicodeDecodeError:
        return {'user_data': base64.b64encode(data).decode('ascii'), 'user_data_encoding': 'base64',
                'user_data_compression': compression}


def _public_keys(md):
    keys = []
    for entry, value in _as_dict(md.get('public-keys')).items():
        index, _sep, name = entry.partition('=')
        index = _integer(index)
        if index is None:
            continue
        openssh_key = _text(_as_dict(value).get('openssh-key'))
        keys.append({
            'index': index,
            'name': name or None,
            'openssh_key': openssh_key.rstrip('\r\n') if openssh_key else None,
        })
    keys.sort(key=lambda key: key['index'])
    return keys


def _events(md, gathered):
    spot = _as_dict(md.get('spot'))
    events = _as_dict(md.get('events'))
    maintenance = _as_dict(events.get('maintenance'))
    rebalance = _json_object(_walk(events, ['recommendations', 'rebalance']))
    return {
        'spot': {
            'instance_action': _flat_record(_json_object(spot.get('instance-action'))),
            'termination_time': _text(spot.get('termination-time')),
        },
        'rebalance': _flat_record(rebalance),
        'maintenance': {
            'scheduled': _records(maintenance.get('scheduled'), gathered),
            'history': _records(maintenance.get('history'), gathered),
        },
        'autoscaling_target_lifecycle_state': _text(_walk(md, ['autoscaling', 'target-lifecycle-state'])),
    }


def _records(text, gathered):
    if not gathered:
        return None
    parsed = _json_value(text)
    if not isinstance(parsed, list):
        return []
    return [_flat_record(item) for item in parsed if isinstance(item, dict)]


def _flat_record(obj):
    """A JSON object from metadata -> {snake_case: str or None}; nested values are dropped."""
    if not isinstance(obj, dict):
        return None
    record = {}
    for key, value in obj.items():
        if isinstance(value, (dict, list)):
            continue
        if value is not None and not isinstance(value, str):
            value = json.dumps(value)
        record[_snake(key)] = value
    return record


def _snake(name):
    return _CAMEL_BOUNDARY.sub('_', str(name)).replace('-', '_').lower()


def _json_value(text):
    if not isinstance(text, str):
        return None
    try:
        return loads_strict(text)
    except (ValueError, RecursionError):
        return None


def _json_object(text):
    value = _json_value(text)
    return value if isinstance(value, dict) else None


def _document_text(document, key):
    return _text((document or {}).get(key))


def _text(value):
    """A metadata leaf as text, or None when absent, blank or not a leaf.

    Surrounding whitespace is stripped here, once, for every scalar fact:
    real IMDS serves none, and an identifier such as ``i-0123\\n`` from a
    misbehaving service must not end up in a file name or a registration.
    Tag values are not scalar facts and stay exactly as served.
    """
    if isinstance(value, bytes):
        value = value.decode('utf-8', errors='replace')
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _integer(value):
    value = _text(value)
    if value is None or not _DIGITS.fullmatch(value.strip()):
        return None
    return int(value.strip())


def _lines(value):
    value = _text(value)
    if value is None:
        return []
    return [line.strip() for line in value.splitlines() if line.strip()]


def _string_leaves(value):
    return dict((key, leaf) for key, leaf in _as_dict(value).items() if isinstance(leaf, str))


def _as_dict(value):
    return value if isinstance(value, dict) else {}


def _segments(path):
    return [segment for segment in path.split('/') if segment]


def _walk(node, segments):
    for segment in segments:
        if not isinstance(node, dict) or segment not in node:
            return None
        node = node[segment]
    return node


def _insert(tree, segments, value):
    node = tree
    for segment in segments[:-1]:
        child = node.get(segment)
        if not isinstance(child, dict):
            child = node[segment] = {}
        node = child
    last = segments[-1]
    if isinstance(value, dict) and isinstance(node.get(last), dict):
        _merge(node[last], value)
    else:
        node[last] = value


def _merge(target, source):
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value
