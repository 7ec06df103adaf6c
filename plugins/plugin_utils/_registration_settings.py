# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""The register_instance role's cross-field setting rules, checked before any metadata request.

The role's argument spec (meta/argument_specs.yml) checks types and choices;
what it cannot express (a backend's required settings, the syntax of names,
addresses and ARNs, settings that exclude each other) is here, one message
per broken rule. tasks/validate.yml fails with all of them at once through
the registration_settings_errors filter, a thin wrapper of
registration_settings_errors() here. Pure (no network).
"""

from __future__ import annotations

import json
import numbers
import re

from ansible_collections.cloudmeta.imds.plugins.plugin_utils._registration_target import (
    FILE_SD_OWN_LABELS, IPV4, IPV6, SETTINGS as TARGET_SETTINGS, merged_settings,
)

# \Z (not $) so that a final newline cannot slip past a pattern.
SERVICE_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z')
MAC = re.compile(r'[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}\Z')
LABEL_NAME = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*\Z')
ABSOLUTE_PATH = re.compile(r'/.*\Z')
ELBV2_TARGET_GROUP_ARN = re.compile(
    r'arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[A-Za-z0-9-]+/[0-9a-f]+\Z')
CLOUDMAP_SERVICE_ID = re.compile(r'srv-[A-Za-z0-9]+\Z')
HAPROXY_BACKEND = re.compile(r'[A-Za-z0-9_.:-]+\Z')
ETCD_URL = re.compile(r'https?://[^/\s]+\S*\Z')

LIFECYCLE_SWITCHES = ('auto', 'true', 'false')

# The settings the rules read (role variable names without the
# register_instance_ prefix) and their defaults (defaults/main.yml); those
# the registration_target filter reads too take its defaults.
SETTINGS = dict(
    dict((name, TARGET_SETTINGS[name]) for name in (
        'service_name', 'port', 'labels', 'address', 'interface_device', 'interface_mac', 'file_sd_dir')),
    backend='file_sd',
    state='present',
    elbv2_target_group_arn=None,
    cloudmap_service_id=None,
    haproxy_socket='/run/haproxy/admin.sock',
    haproxy_backend=None,
    etcd_url=None,
    lifecycle_agent='auto',
)


def registration_settings_errors(settings):
    """The messages of every rule the role's settings break, in the order of the role's documentation; [] when none."""
    settings = merged_settings(settings, SETTINGS, 'registration_settings_errors')
    errors = _core_errors(settings)
    errors.extend(BACKEND_RULES.get(settings['backend'], _no_errors)(settings))
    switch = lifecycle_switch(settings['lifecycle_agent'])
    if switch not in LIFECYCLE_SWITCHES:
        errors.append('register_instance_lifecycle_agent must be auto, true or false; got %s.'
                      % _json(settings['lifecycle_agent']))
    return errors


def lifecycle_switch(value):
    """auto, true or false as the role reads register_instance_lifecycle_agent (a bool or a string)."""
    return str(value).lower()


def _core_errors(settings):
    errors = []
    backend, service_name, port = settings['backend'], settings['service_name'], settings['port']
    if service_name is not None and not _matches(SERVICE_NAME, service_name):
        errors.append(
            "register_instance_service_name must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter"
            ' or digit (it becomes part of file names and keys); got %s.' % _json(service_name))
    if service_name is None and backend in ('file_sd', 'etcd'):
        errors.append('The %s backend needs register_instance_service_name (for example: web).' % backend)
    if port is not None and not 1 <= _as_int(port) <= 65535:
        errors.append('register_instance_port must be between 1 and 65535; got %s.' % port)
    if port is None and settings['state'] == 'present' and backend in ('file_sd', 'haproxy', 'etcd'):
        errors.append('The %s backend needs register_instance_port to register the instance.' % backend)
    chosen = [settings[key] for key in ('address', 'interface_device', 'interface_mac') if settings[key] is not None]
    if len(chosen) > 1:
        errors.append('Set at most one of register_instance_address, register_instance_interface_device and'
                      ' register_instance_interface_mac.')
    device = settings['interface_device']
    if device is not None and _as_int(device) < 0:
        errors.append('register_instance_interface_device must be 0 or more; got %s.' % device)
    mac = settings['interface_mac']
    if mac is not None and not _matches(MAC, mac):
        errors.append('register_instance_interface_mac must look like 0e:12:34:56:78:9a; got %s.' % _json(mac))
    address = settings['address']
    if address is not None and not (_matches(IPV4, address) or _matches(IPV6, address)):
        errors.append('register_instance_address must be an IPv4 or IPv6 address; got %s.' % _json(address))
    labels = _labels(settings)
    if any(not isinstance(value, (str, numbers.Number)) for value in labels.values()):
        errors.append('The values of register_instance_labels must be strings or numbers.')
    return errors


def _file_sd_errors(settings):
    errors = []
    if not _matches(ABSOLUTE_PATH, settings['file_sd_dir']):
        errors.append('register_instance_file_sd_dir must be an absolute path; got %s.' % _json(settings['file_sd_dir']))
    names = list(_labels(settings))
    own = [label for label, _key in FILE_SD_OWN_LABELS]
    if any(not _matches(LABEL_NAME, name) or name in own for name in names):
        errors.append(
            'Prometheus label names must match [a-zA-Z_][a-zA-Z0-9_]* and must not be one the role sets itself'
            ' (%s); got %s.' % (', '.join(own), _json(names)))
    return errors


# The backends whose one required setting has a syntax: the setting, its
# pattern, and the message (%s is the value it got, as JSON).
REQUIRED = {
    'elbv2': ('elbv2_target_group_arn', ELBV2_TARGET_GROUP_ARN,
              'The elbv2 backend needs register_instance_elbv2_target_group_arn, the ARN of a target group'
              ' (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID); got %s.'),
    'cloudmap': ('cloudmap_service_id', CLOUDMAP_SERVICE_ID,
                 'The cloudmap backend needs register_instance_cloudmap_service_id, the ID of a Cloud Map service'
                 ' (srv-...); got %s.'),
    'etcd': ('etcd_url', ETCD_URL,
             'The etcd backend needs register_instance_etcd_url, the http:// or https:// URL of the etcd v3 gateway;'
             ' got %s.'),
}


def _required_errors(settings):
    name, pattern, message = REQUIRED[settings['backend']]
    return [] if _matches(pattern, settings[name]) else [message % _json(settings[name])]


def _haproxy_errors(settings):
    socket, backend = settings['haproxy_socket'], settings['haproxy_backend']
    if socket and _matches(HAPROXY_BACKEND, backend):
        return []
    return ['The haproxy backend needs register_instance_haproxy_socket (the runtime API socket) and'
            " register_instance_haproxy_backend (a backend name: letters, digits, '_', '.', ':' or '-');"
            ' got socket %s, backend %s.' % (_json(socket), _json(backend))]


def _no_errors(_settings):
    # An unknown backend: the argument spec has refused it already.
    return []


BACKEND_RULES = {
    'file_sd': _file_sd_errors,
    'elbv2': _required_errors,
    'cloudmap': _required_errors,
    'haproxy': _haproxy_errors,
    'etcd': _required_errors,
}


def _labels(settings):
    return settings['labels'] if isinstance(settings['labels'], dict) else {}


def _as_int(value):
    """The value as Jinja's int filter reads it (a number or a numeric string; anything else is 0)."""
    for convert in (int, lambda text: int(float(text))):
        try:
            return convert(value)
        except (TypeError, ValueError, OverflowError):
            continue
    return 0


def _matches(pattern, value):
    return isinstance(value, str) and pattern.match(value) is not None


def _json(value):
    return json.dumps(value)
