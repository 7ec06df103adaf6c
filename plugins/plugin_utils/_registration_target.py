# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""What the register_instance role registers, chosen from the ec2 facts and the role's settings.

Pure (no network): the role reads IMDS with metadata_facts, then calls the
registration_target filter, a thin wrapper of registration_target() here.
The result has two parts:

* ``discovered``: the identity the backends register (the role's fact
  ``register_instance_discovered``);
* one entry per backend with the values its task file passes on (file name
  and target group of file_sd, Cloud Map attributes, ...).

Metadata is untrusted text: a value that would put whitespace or a line
break into a file name, key or target is refused with an error naming it.
"""

from __future__ import annotations

import json
import re

from ansible.errors import AnsibleFilterError

# Address syntax, also applied to the role's settings before any metadata
# request (_registration_settings.py). \Z (not $) so that a final newline
# cannot slip past a pattern.
IPV4 = re.compile(r'((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\Z')
IPV6 = re.compile(r'(?=.*:.*:)[0-9A-Fa-f:.]{2,45}\Z')
INSTANCE_ID = re.compile(r'i-[0-9a-f]{8,32}\Z')
REGION = re.compile(r'[a-z]{2}(-[a-z0-9]+)+-[0-9]+\Z')
WHITESPACE = re.compile(r'\s')

# Labels the file_sd backend sets from the discovered identity, in this order.
FILE_SD_OWN_LABELS = (
    ('service', 'service_name'),
    ('instance_id', 'instance_id'),
    ('region', 'region'),
    ('availability_zone', 'availability_zone'),
    ('availability_zone_id', 'availability_zone_id'),
    ('vpc_id', 'vpc_id'),
    ('subnet_id', 'subnet_id'),
)

# Attributes the cloudmap backend sets (AWS_INSTANCE_IPV4 or _IPV6 from the address).
CLOUDMAP_OWN_ATTRIBUTES = (
    ('AVAILABILITY_ZONE', 'availability_zone'),
    ('AVAILABILITY_ZONE_ID', 'availability_zone_id'),
    ('SUBNET_ID', 'subnet_id'),
    ('VPC_ID', 'vpc_id'),
    ('REGION', 'region'),
)

# The role's settings the choice depends on (role variable names without the
# register_instance_ prefix) and their defaults (roles/register_instance/defaults/main.yml).
SETTINGS = {
    'service_name': None,
    'port': None,
    'labels': {},
    'address': None,
    'interface_device': None,
    'interface_mac': None,
    'file_sd_dir': '/etc/prometheus/file_sd',
    'elbv2_target_type': 'instance',
    'cloudmap_instance_id': None,
    'cloudmap_attributes': {},
    'haproxy_server_name': None,
}


def registration_target(ec2, settings=None):
    """The identity and per-backend target data for ec2 facts (ansible_facts['ec2']) and the role's settings."""
    ec2 = _mapping(ec2, 'the ec2 facts')
    settings = merged_settings(settings, SETTINGS, 'registration_target')
    interfaces = _interfaces(ec2)
    _check_identity(ec2)
    interface = choose_interface(interfaces, settings)
    if interface is None and _interface_chosen(settings):
        raise AnsibleFilterError(_no_such_interface(ec2, interfaces, settings))
    discovered = {
        'address': _address(ec2, interface, settings),
        'port': int(settings['port']) if settings['port'] is not None else None,
        'service_name': settings['service_name'],
        'instance_id': ec2['instance_id'],
        'region': ec2['region'],
        'availability_zone': ec2.get('availability_zone'),
        'availability_zone_id': ec2.get('availability_zone_id'),
        'subnet_id': (interface or {}).get('subnet_id') or ec2.get('subnet_id') or None,
        'vpc_id': (interface or {}).get('vpc_id') or ec2.get('vpc_id') or None,
        'account_id': ec2.get('account_id'),
    }
    _check_no_whitespace(discovered)
    _check_address(discovered)
    return {
        'discovered': discovered,
        'interface': interface,
        'file_sd': _file_sd(discovered, settings),
        'elbv2': _elbv2(discovered, settings),
        'cloudmap': _cloudmap(discovered, settings),
        'haproxy': _haproxy(discovered, settings),
    }


def choose_interface(interfaces, settings):
    """The interface whose address, subnet and VPC go with the registration, or None.

    By device number, else by MAC (any case), else the one holding the
    explicit address, else the primary interface (device number 0). None when
    nothing matches; for an explicit address outside every interface that is
    no error (subnet and VPC then come from the primary interface).
    """
    if settings['interface_device'] is not None:
        device = int(settings['interface_device'])
        return _first(interfaces, lambda interface: interface['device_number'] == device)
    if settings['interface_mac']:
        mac = settings['interface_mac'].lower()
        return _first(interfaces, lambda interface: interface.get('mac') == mac)
    if settings['address']:
        address = settings['address']
        return _first(interfaces, lambda interface: address in (interface.get('local_ipv4s') or []))
    return _first(interfaces, lambda interface: interface['device_number'] == 0)


def _address(ec2, interface, settings):
    """The explicit address, else the chosen interface's primary private IPv4, else the instance's."""
    if settings['address'] is not None:
        return settings['address']
    if _interface_chosen(settings):
        return _first_of(interface.get('local_ipv4s'))
    return ec2.get('local_ipv4') or _first_of((interface or {}).get('local_ipv4s'))


def _file_sd(discovered, settings):
    """The file for this service and instance and its one target group (None where a part is unknown)."""
    if discovered['service_name'] is None or not settings['file_sd_dir']:
        return None
    directory = re.sub(r'/+\Z', '', settings['file_sd_dir'])
    path = '%s/%s-%s.json' % (directory, discovered['service_name'], discovered['instance_id'])
    group = None
    if discovered['port'] is not None:
        labels = _string_values(settings['labels'])
        # Labels with no value are left out rather than written as "None".
        labels.update((label, discovered[key]) for label, key in FILE_SD_OWN_LABELS if discovered[key])
        group = {'targets': [_host_port(discovered['address'], discovered['port'])], 'labels': labels}
    return {'path': path, 'group': group}


def _elbv2(discovered, settings):
    if settings['elbv2_target_type'] == 'instance':
        return {'target_id': discovered['instance_id']}
    return {'target_id': discovered['address']}


def _cloudmap(discovered, settings):
    """Cloud Map's instance ID and attributes: the role's, then the labels, then cloudmap_attributes."""
    address = discovered['address']
    own = {
        'AWS_INSTANCE_IPV6' if ':' in address else 'AWS_INSTANCE_IPV4': address,
        'AWS_INSTANCE_PORT': str(discovered['port']) if discovered['port'] is not None else None,
    }
    own.update((attribute, discovered[key]) for attribute, key in CLOUDMAP_OWN_ATTRIBUTES)
    attributes = dict((name, value) for name, value in own.items() if value is not None)
    attributes.update(_string_values(settings['labels']))
    attributes.update(_mapping(settings['cloudmap_attributes'], 'register_instance_cloudmap_attributes'))
    return {
        'instance_id': settings['cloudmap_instance_id'] or discovered['instance_id'],
        'attributes': attributes,
    }


def _haproxy(discovered, settings):
    return {'server_name': settings['haproxy_server_name'] or discovered['instance_id']}


def _check_identity(ec2):
    instance_id, region = ec2.get('instance_id'), ec2.get('region')
    if _matches(INSTANCE_ID, instance_id) and _matches(REGION, region):
        return
    raise AnsibleFilterError(
        'The instance metadata did not give a usable instance ID and region (instance_id %s, region %s);'
        ' a value that ends in a newline or holds whitespace is refused, since it would end up in file names,'
        ' keys and targets.' % (_json(instance_id), _json(region)))


def _check_no_whitespace(discovered):
    blank = dict((key, value) for key, value in discovered.items()
                 if isinstance(value, str) and WHITESPACE.search(value))
    if blank:
        raise AnsibleFilterError(
            'The instance metadata gave values with whitespace or a line break (for example a trailing newline),'
            ' which the role refuses to register: %s. Fix what serves the metadata, or set register_instance_address'
            ' for the address.' % _json(blank))


def _check_address(discovered):
    address = discovered['address']
    if _matches(IPV4, address) or _matches(IPV6, address):
        return
    raise AnsibleFilterError(
        'No usable address to register for %s (got %s): the chosen interface has no private IPv4.'
        ' Set register_instance_address or choose another interface.' % (discovered['instance_id'], _json(address)))


def _no_such_interface(ec2, interfaces, settings):
    if settings['interface_device'] is not None:
        wanted = 'device number %s' % settings['interface_device']
    else:
        wanted = 'MAC %s' % settings['interface_mac']
    present = ', '.join('%s = %s' % (interface['device_number'], interface.get('mac')) for interface in interfaces)
    return 'No network interface with %s on %s; it has: %s (device number = MAC).' % (
        wanted, ec2['instance_id'], present)


def merged_settings(settings, defaults, caller):
    """The role's SETTINGS (None is none) over DEFAULTS; an unknown name or a non-dictionary is CALLER's error."""
    settings = _mapping(settings, 'the role settings', caller)
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise AnsibleFilterError('%s: unknown settings %s; known are: %s.' % (
            caller, ', '.join(unknown), ', '.join(sorted(defaults))))
    merged = dict(defaults)
    merged.update(settings)
    return merged


def _interfaces(ec2):
    """The interfaces of the facts that have a device number key (in the order of the facts)."""
    network = ec2.get('network') or {}
    interfaces = network.get('interfaces') if isinstance(network, dict) else None
    return [interface for interface in interfaces or [] if isinstance(interface, dict) and 'device_number' in interface]


def _interface_chosen(settings):
    return settings['interface_device'] is not None or settings['interface_mac'] is not None


def _host_port(address, port):
    if ':' in address:
        return '[%s]:%s' % (address, port)
    return '%s:%s' % (address, port)


def _string_values(mapping):
    return dict((key, value if isinstance(value, str) else str(value)) for key, value in mapping.items())


def _mapping(value, what, caller='registration_target'):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnsibleFilterError('%s: %s must be a dictionary; got %s.' % (caller, what, type(value).__name__))
    return value


def _first(items, wanted):
    for item in items:
        if wanted(item):
            return item
    return None


def _first_of(values):
    return values[0] if values else None


def _matches(pattern, value):
    return isinstance(value, str) and pattern.match(value) is not None


def _json(value):
    return json.dumps(value)
