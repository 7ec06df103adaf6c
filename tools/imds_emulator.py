#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: cloudmeta.imds maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An offline EC2 instance metadata service (IMDSv2 and IMDSv1).

It answers the way the real service does (tokens, status codes, headers,
listings, the XHTML 404 page), serves a realistic built-in instance or one
loaded from a JSON/YAML file, and can misbehave on purpose (throttling,
unavailability, latency, boot-time refusals, dropped token responses) so that
clients can be tested without EC2.

Standard library only (PyYAML is used for YAML data files when installed);
runs on Python 3.8+. User guide: docs/emulator.md.

    python3 tools/imds_emulator.py --host 127.0.0.1 --port 0

In-process, for tests:

    with Emulator(http_tokens='required') as emu:
        ...  # talk to emu.url; emu.count('PUT') etc.
"""

from __future__ import annotations

import argparse
import base64
import collections
import copy
import datetime
import email.utils
import http.server
import ipaddress
import json
import os
import re
import secrets
import select
import selectors
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
from urllib.parse import unquote, urlsplit

API_VERSIONS = (
    '1.0', '2007-01-19', '2007-03-01', '2007-08-29', '2007-10-10', '2007-12-15',
    '2008-02-01', '2008-09-01', '2009-04-04', '2011-01-01', '2011-05-01',
    '2012-01-12', '2014-02-25', '2014-11-05', '2015-10-20', '2016-04-19',
    '2016-06-30', '2016-09-02', '2018-03-28', '2018-08-17', '2018-09-24',
    '2019-10-01', '2020-10-27', '2021-01-03', '2021-03-23', '2021-07-15',
    '2022-09-24', 'latest',
)

TOKEN_HEADER = 'X-aws-ec2-metadata-token'
TOKEN_TTL_HEADER = 'X-aws-ec2-metadata-token-ttl-seconds'
MAX_TOKEN_TTL = 21600
CONTROL_PREFIX = '/_emulator'

# A dropped token response never arrives; real clients give up after a
# second or so. The cap only bounds how long a forgotten connection lingers.
HOP_LIMIT_HOLD_SECONDS = 60.0
# How often idle loops look at the stop flag.
POLL_SECONDS = 0.05
MAX_BODY_BYTES = 1 << 20

TOP_LEVEL_KEYS = ('dynamic', 'meta-data', 'user-data')

# Leaves whose value the real service renders as JSON. In a data file these
# may be given as objects/arrays; anywhere else a mapping is a directory and
# a list is a multi-valued (newline-separated) leaf.
PRETTY_JSON_LEAVES = (
    ('meta-data', 'iam', 'info'),
    ('meta-data', 'iam', 'security-credentials', '*'),
    ('meta-data', 'iam', 'security-credentials-extended', '*'),
    ('meta-data', 'identity-credentials', 'ec2', 'info'),
    ('meta-data', 'identity-credentials', 'ec2', 'security-credentials', '*'),
    ('meta-data', 'events', 'maintenance', 'scheduled'),
    ('meta-data', 'events', 'maintenance', 'history'),
    ('meta-data', 'elastic-inference', 'associations', '*'),
    ('dynamic', 'instance-identity', 'document'),
)
# Spot and rebalance notices are documented as one-line JSON.
COMPACT_JSON_LEAVES = (
    ('meta-data', 'spot', 'instance-action'),
    ('meta-data', 'events', 'recommendations', 'rebalance'),
)
PUBLIC_KEYS_PATH = ('meta-data', 'public-keys')
PUBLIC_KEY_LABEL = re.compile(r'^([0-9]+)=(.+)$')

ERROR_PAGE = (
    '<?xml version="1.0" encoding="iso-8859-1"?>\n'
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
    '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
    ' <head>\n'
    '  <title>{status} - {reason}</title>\n'
    ' </head>\n'
    ' <body>\n'
    '  <h1>{status} - {reason}</h1>\n'
    ' </body>\n'
    '</html>\n'
)
REASONS = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    503: 'Service Unavailable',
}


def error_page(status):
    """The XHTML error body the real service sends (verbatim for 404)."""
    return ERROR_PAGE.format(status=status, reason=REASONS[status]).encode('ascii')


RequestRecord = collections.namedtuple('RequestRecord', 'method path status had_token had_xff')
RequestRecord.__doc__ = 'One IMDS request as the emulator saw it; status is None when no response was sent.'


# ---------------------------------------------------------------------------
# Instance data
# ---------------------------------------------------------------------------

def _iso(when):
    return when.strftime('%Y-%m-%dT%H:%M:%SZ')


_MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')


def _event_date(when):
    """The date form of scheduled events, '21 Jan 2019 09:00:43 GMT', whatever the locale."""
    return '%d %s %s GMT' % (when.day, _MONTHS[when.month - 1], when.strftime('%Y %H:%M:%S'))


def _maintenance_event(code, not_before_in):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    not_before = now + datetime.timedelta(seconds=not_before_in)
    return {'Code': code, 'Description': 'Emulated %s' % code, 'EventId': 'instance-event-%s' % secrets.token_hex(8),
            'NotBefore': _event_date(not_before), 'NotAfter': _event_date(not_before + datetime.timedelta(hours=2)),
            'State': 'active'}


def _fake_blob(label, wrap=False):
    """Well-formed base64 that decodes to an honest 'not real' notice."""
    text = base64.b64encode(('cloudmeta.imds emulator %s: not a real AWS signature. ' % label).encode() * 3).decode()
    if not wrap:
        return text
    return '\n'.join(text[i:i + 64] for i in range(0, len(text), 64))


def builtin_instance(now=None):
    """The default instance, in data-file format (see docs/emulator.md).

    A t3.micro in eu-west-1 with two network interfaces in one VPC, an IAM
    role, instance tags, user data and a public key: enough for every fact
    amazon.aws.ec2_metadata_facts documents. Credential times follow the
    clock so SDKs accept them as fresh.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    expires = now + datetime.timedelta(hours=6)
    account = '123456789012'
    role = 'web-server-role'
    eth0, eth1 = '0a:1b:2c:3d:4e:5f', '0a:1b:2c:3d:4e:60'
    vpc = {
        'vpc-id': 'vpc-0a1b2c3d4e5f60718',
        'vpc-ipv4-cidr-block': '10.0.0.0/16',
        'vpc-ipv4-cidr-blocks': ['10.0.0.0/16'],
        'vpc-ipv6-cidr-blocks': ['2001:db8:1234:1a00::/56'],
    }

    def credentials(access_key_id, extra=None):
        creds = {
            'Code': 'Success',
            'LastUpdated': _iso(now),
            'Type': 'AWS-HMAC',
            'AccessKeyId': access_key_id,
            'SecretAccessKey': 'EMULATOR/fake/SecretAccessKey/EXAMPLE000',
            'Token': base64.b64encode(b'cloudmeta.imds emulator session token: not a real AWS credential').decode(),
            'Expiration': _iso(expires),
        }
        creds.update(extra or {})
        return creds

    primary = {
        'device-number': '0',
        'interface-id': 'eni-0123456789abcdef0',
        'ipv4-associations': {'203.0.113.10': '10.0.1.25'},
        'ipv6s': ['2001:db8:1234:1a01::25'],
        'local-hostname': 'ip-10-0-1-25.eu-west-1.compute.internal',
        'local-ipv4s': ['10.0.1.25', '10.0.1.26'],
        'mac': eth0,
        'network-card-index': '0',
        'owner-id': account,
        'public-hostname': 'ec2-203-0-113-10.eu-west-1.compute.amazonaws.com',
        'public-ipv4s': ['203.0.113.10'],
        'security-group-ids': ['sg-0123456789abcdef0', 'sg-0fedcba9876543210'],
        'security-groups': ['web', 'ssh-from-bastion'],
        'subnet-id': 'subnet-0aa11bb22cc33dd44',
        'subnet-ipv4-cidr-block': '10.0.1.0/24',
        'subnet-ipv6-cidr-blocks': ['2001:db8:1234:1a01::/64'],
    }
    primary.update(vpc)
    secondary = {
        'device-number': '1',
        'interface-id': 'eni-0fedcba9876543210',
        'local-hostname': 'ip-10-0-2-40.eu-west-1.compute.internal',
        'local-ipv4s': ['10.0.2.40'],
        'mac': eth1,
        'network-card-index': '0',
        'owner-id': account,
        'security-group-ids': ['sg-0aaaabbbbccccdddd'],
        'security-groups': ['backend'],
        'subnet-id': 'subnet-0ee55ff66aa77bb88',
        'subnet-ipv4-cidr-block': '10.0.2.0/24',
    }
    secondary.update(vpc)

    meta_data = {
        'ami-id': 'ami-0abcdef1234567890',
        'ami-launch-index': '0',
        'ami-manifest-path': '(unknown)',
        'ancestor-ami-ids': 'ami-0fedcba0987654321',
        'block-device-mapping': {
            'ami': '/dev/xvda',
            'ebs1': 'sdf',
            'ephemeral0': 'sdb',
            'root': '/dev/xvda',
            'swap': 'sdc',
        },
        'events': {'maintenance': {'history': [], 'scheduled': []}},
        'hibernation': {'configured': 'false'},
        'hostname': 'ip-10-0-1-25.eu-west-1.compute.internal',
        'iam': {
            'info': {
                'Code': 'Success',
                'LastUpdated': _iso(now),
                'InstanceProfileArn': 'arn:aws:iam::%s:instance-profile/web-server-profile' % account,
                'InstanceProfileId': 'AIPAEMULATOREXAMPLE01',
            },
            'security-credentials': {role: credentials('ASIAEMULATOR0EXAMPLE')},
            'security-credentials-extended': {role: credentials('ASIAEMULATOR0EXAMPLE', {'AccountId': account})},
        },
        'identity-credentials': {
            'ec2': {
                'info': {'AccountId': account, 'Code': 'Success', 'LastUpdated': _iso(now)},
                'security-credentials': {'ec2-instance': credentials('ASIAEMULATOR1EXAMPLE')},
            },
        },
        'instance-action': 'none',
        'instance-id': 'i-0123456789abcdef0',
        'instance-life-cycle': 'on-demand',
        'instance-type': 't3.micro',
        'ipv6': '2001:db8:1234:1a01::25',
        'local-hostname': 'ip-10-0-1-25.eu-west-1.compute.internal',
        'local-ipv4': '10.0.1.25',
        'mac': eth0,
        'metrics': {'vhostmd': '<?xml version="1.0" encoding="UTF-8"?>'},
        'network': {'interfaces': {'macs': {eth0: primary, eth1: secondary}}},
        'placement': {
            'availability-zone': 'eu-west-1b',
            'availability-zone-id': 'euw1-az2',
            'region': 'eu-west-1',
        },
        'product-codes': 'aw0evgkw8e5c1q413zgy5pjce',
        'profile': 'default-hvm',
        'public-hostname': 'ec2-203-0-113-10.eu-west-1.compute.amazonaws.com',
        'public-ipv4': '203.0.113.10',
        'public-keys': {'0=my-key': {'openssh-key': (
            'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEmulatorKeyNotForLoginEXAMPLEEXAMPLE0000 my-key')}},
        'ramdisk-id': 'ari-0123456789abcdef0',
        'reservation-id': 'r-0123456789abcdef0',
        'security-groups': ['web', 'ssh-from-bastion'],
        'services': {'domain': 'amazonaws.com', 'partition': 'aws'},
        'system': 'nitro',
        'tags': {'instance': {
            'Name': 'web-1',
            'Environment': 'staging',
            'team:owner': 'platform',
            'my-dashed-key': 'dashed value',
            'Note': "{{ 'x' }} must stay text",
        }},
    }
    document = {
        'accountId': account,
        'architecture': 'x86_64',
        'availabilityZone': 'eu-west-1b',
        'billingProducts': None,
        'devpayProductCodes': None,
        'marketplaceProductCodes': ['aw0evgkw8e5c1q413zgy5pjce'],
        'imageId': 'ami-0abcdef1234567890',
        'instanceId': 'i-0123456789abcdef0',
        'instanceType': 't3.micro',
        'kernelId': None,
        'pendingTime': '2024-05-06T07:08:09Z',
        'privateIp': '10.0.1.25',
        'ramdiskId': 'ari-0123456789abcdef0',
        'region': 'eu-west-1',
        'version': '2017-09-30',
    }
    dynamic = {
        'fws': {'instance-monitoring': 'disabled'},
        'instance-identity': {
            'document': document,
            'pkcs7': _fake_blob('pkcs7', wrap=True),
            'rsa2048': _fake_blob('rsa2048', wrap=True),
            'signature': _fake_blob('signature'),
        },
    }
    user_data = (
        '#cloud-config\n'
        'package_update: true\n'
        'packages:\n'
        '  - nginx\n'
        'runcmd:\n'
        '  - [systemctl, enable, --now, nginx]\n'
    )
    return {'meta-data': meta_data, 'dynamic': dynamic, 'user-data': user_data}


def _matches(path, patterns):
    for pattern in patterns:
        if len(pattern) == len(path) and all(p in ('*', part) for p, part in zip(pattern, path)):
            return True
    return False


def _is_json_leaf(path):
    return _matches(path, PRETTY_JSON_LEAVES) or _matches(path, COMPACT_JSON_LEAVES)


def _check_tree(node, path):
    for name, value in node.items():
        where = '/'.join(path + (str(name),))
        if not isinstance(name, str) or not name or '/' in name or name in ('.', '..'):
            raise ValueError('%s: names must be non-empty strings without "/" (quote numbers in YAML)' % where)
        if path == PUBLIC_KEYS_PATH and not PUBLIC_KEY_LABEL.match(name):
            raise ValueError('%s: public keys are named "<index>=<key name>", e.g. "0=my-key"' % where)
        child = path + (name,)
        if _is_json_leaf(child) and isinstance(value, (dict, list)):
            try:
                json.dumps(value)
            except (TypeError, ValueError) as exc:
                raise ValueError('%s: not representable as JSON: %s (quote dates and times in YAML)' % (where, exc))
            continue
        if isinstance(value, dict):
            _check_tree(value, child)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, (dict, list)):
                    raise ValueError('%s: a multi-valued leaf is a list of plain values' % where)
        elif value is not None and not isinstance(value, (str, int, float, bool)):
            raise ValueError('%s: unsupported value of type %s (quote dates and times in YAML)'
                             % (where, type(value).__name__))


def _user_data_bytes(value):
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode('utf-8')
    if isinstance(value, dict) and set(value) == {'base64'}:
        try:
            return base64.b64decode(value['base64'], validate=True)
        except (TypeError, ValueError) as exc:
            raise ValueError('user-data: invalid base64: %s' % exc)
    raise ValueError('user-data: give a string, {"base64": "..."} or null')


def load_instance(data):
    """Validate instance data (data-file format) and return the served form.

    The result keeps the data-file shape, except that user-data is bytes (or
    None); it is what Emulator.instance holds and tests may edit it live.
    """
    if not isinstance(data, dict):
        raise ValueError('instance data must be a mapping with keys %s' % ', '.join(TOP_LEVEL_KEYS))
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ValueError('unknown top-level key(s) %s; expected %s' % (', '.join(map(str, unknown)), ', '.join(TOP_LEVEL_KEYS)))
    instance = copy.deepcopy(data)
    instance.setdefault('meta-data', {})
    for tree in ('meta-data', 'dynamic'):
        if instance.get(tree) is None:
            continue
        if not isinstance(instance[tree], dict):
            raise ValueError('%s must be a mapping' % tree)
        _check_tree(instance[tree], (tree,))
    instance['user-data'] = _user_data_bytes(instance.get('user-data'))
    return instance


def load_data_file(path):
    """Read instance data from a JSON file, or YAML when PyYAML is installed."""
    with open(path, encoding='utf-8') as handle:
        text = handle.read()
    is_yaml = path.lower().endswith(('.yml', '.yaml'))
    if not is_yaml:
        try:
            return load_instance(json.loads(text))
        except json.JSONDecodeError as exc:
            if path.lower().endswith('.json'):
                raise ValueError('%s: invalid JSON: %s' % (path, exc))
    try:
        import yaml  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise ValueError('%s: YAML data files need PyYAML (pip install pyyaml), or use JSON' % path)
    try:
        return load_instance(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise ValueError('%s: invalid YAML: %s' % (path, exc))


def _scalar(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def _render_json(path, value):
    if _matches(path, COMPACT_JSON_LEAVES):
        return json.dumps(value)
    return json.dumps(value, indent=2, separators=(',', ' : '))


# ---------------------------------------------------------------------------
# Knobs
# ---------------------------------------------------------------------------

CHOICES = {
    'http_tokens': ('optional', 'required'),
    'http_endpoint': ('enabled', 'disabled'),
    'instance_metadata_tags': ('enabled', 'disabled'),
    'http_protocol_ipv6': ('enabled', 'disabled'),
    'fault_path': ('all', 'token'),
    'spot_action': ('terminate', 'stop', 'hibernate'),
    'autoscaling_state': (None, 'Pending', 'Pending:Wait', 'Pending:Proceed', 'InService', 'Standby', 'Detached',
                          'Terminated', 'Warmed:Running', 'Warmed:Stopped', 'Warmed:Hibernated', 'Warmed:Terminated'),
    'autoscaling_next_state': ('Terminated', 'Warmed:Running', 'Warmed:Stopped', 'Warmed:Hibernated',
                               'Warmed:Terminated', 'Standby', 'Detached', 'InService'),
    'maintenance_code': ('instance-stop', 'instance-reboot', 'system-reboot', 'system-maintenance',
                         'instance-retirement'),
}
DEFAULT_KNOBS = {
    'http_tokens': 'required',
    'http_endpoint': 'enabled',
    'instance_metadata_tags': 'enabled',
    'http_put_response_hop_limit': 1,
    'client_hops': 1,
    'http_protocol_ipv6': 'disabled',
    'ipv6_host': '::1',
    'no_imdsv2': False,
    'latency': 0.0,
    'throttle': 0,
    'unavailable': 0,
    'fault_path': 'all',
    'boot_refusals': 0.0,
    'token_ttl_cap': None,
    'token_uses_cap': None,
    'spot_action_after': None,
    'spot_action': 'terminate',
    'rebalance_after': None,
    # None: not in an Auto Scaling group (autoscaling/ is absent).
    'autoscaling_state': None,
    'autoscaling_state_after': None,
    'autoscaling_next_state': 'Terminated',
    'maintenance_after': None,
    'maintenance_code': 'instance-stop',
    'maintenance_not_before': 600.0,
}
# These shape the listening sockets, so they cannot change once started.
START_ONLY_KNOBS = ('http_protocol_ipv6', 'ipv6_host', 'boot_refusals')


def _number(name, value, minimum, maximum=None, integer=False, optional=False):
    if value is None and optional:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ValueError('%s must be %s, got %r' % (name, 'an integer' if integer else 'a number', value))
    if value < minimum or (maximum is not None and value > maximum):
        limits = '>= %s' % minimum if maximum is None else 'between %s and %s' % (minimum, maximum)
        raise ValueError('%s must be %s, got %r' % (name, limits, value))
    return value


def validate_knob(name, value):
    """Return the checked value of one knob, or raise ValueError."""
    if name not in DEFAULT_KNOBS:
        raise ValueError('unknown emulator option %r; known: %s' % (name, ', '.join(sorted(DEFAULT_KNOBS))))
    if name in CHOICES:
        if value not in CHOICES[name]:
            raise ValueError('%s must be one of %s, got %r' % (name, ', '.join(map(str, CHOICES[name])), value))
        return value
    if name == 'no_imdsv2':
        if not isinstance(value, bool):
            raise ValueError('no_imdsv2 must be true or false, got %r' % (value,))
        return value
    if name == 'ipv6_host':
        try:
            ipaddress.IPv6Address(value)
        except (ValueError, TypeError):
            raise ValueError('ipv6_host must be an IPv6 address, got %r' % (value,))
        return value
    if name == 'http_put_response_hop_limit':
        return _number(name, value, 1, 64, integer=True)
    if name == 'client_hops':
        return _number(name, value, 1, 255, integer=True)
    if name in ('throttle', 'unavailable'):
        return _number(name, value, 0, integer=True)
    if name in ('latency', 'boot_refusals'):
        return float(_number(name, value, 0))
    if name == 'token_uses_cap':
        return _number(name, value, 1, integer=True, optional=True)
    if name == 'token_ttl_cap':
        value = _number(name, value, 0, optional=True)
        if value is not None and value <= 0:
            raise ValueError('token_ttl_cap must be > 0, got %r' % (value,))
        return value
    if name == 'maintenance_not_before':
        return float(_number(name, value, 0))
    # spot_action_after, rebalance_after, autoscaling_state_after, maintenance_after
    return _number(name, value, 0, optional=True)


# ---------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------

class _Response(object):
    __slots__ = ('status', 'body', 'headers')

    def __init__(self, status, body=b'', headers=None):
        self.status = status
        self.body = body
        self.headers = headers or []


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # A handler holding a dropped token response must not delay shutdown.
    block_on_close = False
    timeout = POLL_SECONDS
    # Clients read subtrees in parallel; socketserver's default backlog of 5
    # would drop connection attempts that the real service accepts.
    request_queue_size = 128

    def __init__(self, address, emulator):
        self.emulator = emulator
        super(_Server, self).__init__(address, _Handler, bind_and_activate=False)

    def server_bind(self):
        # HTTPServer.server_bind resolves the host name (getfqdn), which could
        # send DNS traffic and stall; nothing here needs it.
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'EC2ws'

    def version_string(self):
        return 'EC2ws'

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if self.server.emulator.verbose:
            sys.stderr.write('imds_emulator: %s %s\n' % (self.address_string(), format % args))

    def _dispatch(self):
        self.server.emulator._handle(self)  # pylint: disable=protected-access

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _dispatch


def _format_url(host, port):
    if ':' in host:
        return 'http://[%s]:%d' % (host, port)
    return 'http://%s:%d' % (host, port)


# ---------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------

class Emulator(object):
    """An IMDS on a local port, started in background threads.

    Emulator(data=None, **knobs): data is instance data in data-file format
    (a mapping) or a path to a JSON/YAML file; None serves the built-in
    instance. Knob names are the CLI flag names with underscores.
    """

    def __init__(self, data=None, verbose=False, **knobs):
        if data is None:
            data = builtin_instance()
        if isinstance(data, (str, os.PathLike)):
            self.instance = load_data_file(os.fspath(data))
        else:
            self.instance = load_instance(data)
        self.verbose = verbose
        self.url = None
        self.url_ipv6 = None
        self._lock = threading.Lock()
        self._knobs = dict(DEFAULT_KNOBS)
        self._tokens = {}
        self._token_uses = {}
        self._records = []
        self._servers = []
        self._threads = []
        self._wake = ()
        self._stopping = threading.Event()
        self._started_at = None
        self._last_modified = None
        self._spot_at = None
        self._spot_notice = None
        self._rebalance_at = None
        self._rebalance_notice = None
        self._autoscaling_at = None
        self._maintenance_at = None
        self._maintenance_event = None
        self.configure(**knobs)

    # -- lifecycle ---------------------------------------------------------

    def start(self, host='127.0.0.1', port=0):
        """Bind and serve in background threads; return the base URL."""
        if self._servers:
            raise RuntimeError('emulator already started')
        ipv6_enabled = self._knobs['http_protocol_ipv6'] == 'enabled'
        is_ipv6 = ':' in host
        if is_ipv6 and not ipv6_enabled:
            raise ValueError('%s is an IPv6 address but http_protocol_ipv6 is disabled (as on EC2 by default); '
                             'enable it to serve IPv6' % host)
        self._stopping.clear()
        self._wake = socket.socketpair()
        self._started_at = time.monotonic()
        self._last_modified = email.utils.formatdate(time.time(), usegmt=True)
        with self._lock:
            self._arm_timers()
        try:
            primary = self._bind(host, port)
            self.url = _format_url(host, primary.server_address[1])
            if ipv6_enabled and not is_ipv6:
                extra = self._bind(self._knobs['ipv6_host'], primary.server_address[1])
                self.url_ipv6 = _format_url(self._knobs['ipv6_host'], extra.server_address[1])
            elif is_ipv6:
                self.url_ipv6 = self.url
        except Exception:
            self._close_servers()
            raise
        delay = self._knobs['boot_refusals']
        for server in self._servers:
            if not delay:
                server.server_activate()
            thread = threading.Thread(target=self._serve, args=(server, delay), name='imds-emulator', daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.url

    def _bind(self, host, port):
        server_class = _Server6 if ':' in host else _Server
        server = server_class((host, port), self)
        self._servers.append(server)
        server.server_bind()
        return server

    def _serve(self, server, delay):
        # A bound socket that is not listening yet answers SYN with RST, so
        # clients see "connection refused" during the boot window.
        if delay:
            if self._stopping.wait(delay):
                return
            server.server_activate()
        # Waiting on the wake-up socket too lets stop() return at once
        # instead of after a polling interval.
        with selectors.DefaultSelector() as selector:
            selector.register(server, selectors.EVENT_READ)
            selector.register(self._wake[0], selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _events in selector.select():
                    if key.fileobj is server and not self._stopping.is_set():
                        server.handle_request()

    def stop(self):
        """Stop serving and release the port. Safe to call twice."""
        self._stopping.set()
        if self._wake:
            self._wake[1].send(b'x')
        for thread in self._threads:
            thread.join(5)
        self._threads = []
        self._close_servers()

    def _close_servers(self):
        for server in self._servers:
            server.server_close()
        self._servers = []
        for sock in self._wake:
            sock.close()
        self._wake = ()

    def __enter__(self):
        if not self._servers:
            self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    # -- knobs and counters ------------------------------------------------

    @property
    def knobs(self):
        """A copy of the current knob values."""
        with self._lock:
            return dict(self._knobs)

    def load(self, data):
        """Serve other instance data (data-file format) from the next request on.

        Tokens and counters are kept: to a client the instance simply has new
        metadata, as after an ENI attach or a tag change.
        """
        instance = load_instance(data)
        with self._lock:
            self.instance = instance

    def configure(self, **knobs):
        """Change knobs; takes effect for the next request."""
        checked = {}
        for name, value in knobs.items():
            checked[name] = validate_knob(name, value)
            if self._servers and name in START_ONLY_KNOBS and checked[name] != self._knobs[name]:
                raise ValueError('%s can only be set before the emulator starts' % name)
        with self._lock:
            self._knobs.update(checked)
            if self._started_at is not None:
                self._arm_timers(checked)
        return self.knobs

    def _arm_timers(self, changed=None):
        # Notices count from start, or from the moment the knob is set later.
        now = time.monotonic()
        if changed is None or 'spot_action_after' in changed:
            after = self._knobs['spot_action_after']
            self._spot_at = None if after is None else now + after
        if changed is None or 'spot_action_after' in changed or 'spot_action' in changed:
            self._spot_notice = None
        if changed is None or 'rebalance_after' in changed:
            after = self._knobs['rebalance_after']
            self._rebalance_at = None if after is None else now + after
            self._rebalance_notice = None
        if changed is None or 'autoscaling_state_after' in changed:
            after = self._knobs['autoscaling_state_after']
            self._autoscaling_at = None if after is None else now + after
        if changed is None or {'maintenance_after', 'maintenance_code', 'maintenance_not_before'} & set(changed):
            after = self._knobs['maintenance_after']
            self._maintenance_at = None if after is None else now + after
            self._maintenance_event = None

    @property
    def requests(self):
        """Requests served so far (RequestRecord), oldest first."""
        with self._lock:
            return list(self._records)

    def count(self, method=None, path_prefix=None):
        """How many recorded requests match method and path prefix."""
        with self._lock:
            return sum(1 for r in self._records
                       if (method is None or r.method == method)
                       and (path_prefix is None or r.path.startswith(path_prefix)))

    def reset_counters(self):
        with self._lock:
            del self._records[:]

    # -- tokens -------------------------------------------------------------

    def _mint_token(self, ttl):
        cap = self._knobs['token_ttl_cap']
        lifetime = ttl if cap is None else min(ttl, cap)
        # 40 random bytes give the 56-character padded URL-safe form real tokens have.
        token = base64.urlsafe_b64encode(secrets.token_bytes(40)).decode('ascii')
        now = time.monotonic()
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
        self._token_uses = {t: uses for t, uses in self._token_uses.items() if t in self._tokens}
        self._tokens[token] = now + lifetime
        self._token_uses[token] = 0
        return token

    def _token_remaining(self, token):
        """Seconds left on a token, or None when it is unknown or expired."""
        expires = self._tokens.get(token)
        if expires is None:
            return None
        remaining = expires - time.monotonic()
        cap = self._knobs['token_uses_cap']
        if remaining <= 0 or (cap is not None and self._token_uses.get(token, 0) >= cap):
            del self._tokens[token]
            return None
        self._token_uses[token] = self._token_uses.get(token, 0) + 1
        return remaining

    # -- request handling --------------------------------------------------

    def _handle(self, handler):
        method = handler.command
        body = self._read_body(handler)
        path = urlsplit(handler.path).path
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + '/'):
            self._send(handler, self._control(method, path, body))
            return
        had_token = TOKEN_HEADER in handler.headers
        had_xff = 'X-Forwarded-For' in handler.headers
        knobs = self.knobs
        if knobs['latency']:
            self._stopping.wait(knobs['latency'])
        segments = path.split('/')[1:]
        is_token_path = len(segments) == 3 and segments[1:] == ['api', 'token']
        with self._lock:
            try:
                response = self._fault(is_token_path)
                if response is None:
                    if knobs['http_endpoint'] == 'disabled':
                        response = _Response(403, error_page(403))
                    elif is_token_path:
                        response = self._token_request(handler, method, segments[0], had_xff, knobs)
                    elif method in ('GET', 'HEAD'):
                        response = self._metadata_request(handler, path, knobs)
                    else:
                        response = _Response(405, error_page(405), [('Allow', 'GET, HEAD')])
            except Exception:  # pylint: disable=broad-exception-caught
                # Usually instance data edited into something unservable; a
                # 500 with the traceback beats a silently dropped connection.
                sys.stderr.write('imds_emulator: error answering %s %s:\n%s' % (method, path, traceback.format_exc()))
                response = _Response(500, error_page(500))
            self._records.append(RequestRecord(
                method, handler.path, response.status if response else None, had_token, had_xff))
        if response is None:
            self._hold(handler)
            return
        self._send(handler, response)

    @staticmethod
    def _read_body(handler):
        try:
            length = int(handler.headers.get('Content-Length') or 0)
        except ValueError:
            length = 0
        # Unread request bytes make the kernel reset the connection on close,
        # which would hide the response from the client.
        return handler.rfile.read(min(max(length, 0), MAX_BODY_BYTES)) if length > 0 else b''

    def _fault(self, is_token_path):
        if self._knobs['fault_path'] == 'token' and not is_token_path:
            return None
        if self._knobs['throttle'] > 0:
            self._knobs['throttle'] -= 1
            return _Response(429, error_page(429))
        if self._knobs['unavailable'] > 0:
            self._knobs['unavailable'] -= 1
            return _Response(503, error_page(503))
        return None

    def _token_request(self, handler, method, version, had_xff, knobs):
        if knobs['no_imdsv2']:
            return _Response(404, error_page(404))
        allow = [('Allow', 'OPTIONS, PUT')]
        if method == 'OPTIONS':
            return _Response(200, b'', allow)
        if method != 'PUT':
            return _Response(405, b'', allow)
        if version != 'latest' or had_xff:
            return _Response(403, error_page(403))
        ttl_text = handler.headers.get(TOKEN_TTL_HEADER)
        if ttl_text is None or not re.match(r'^[0-9]{1,6}$', ttl_text) or not 1 <= int(ttl_text) <= MAX_TOKEN_TTL:
            return _Response(400, error_page(400))
        token = self._mint_token(int(ttl_text))
        if knobs['client_hops'] > knobs['http_put_response_hop_limit']:
            return None
        return _Response(200, token.encode('ascii'), [(TOKEN_TTL_HEADER, ttl_text)])

    def _hold(self, handler):
        """Keep a token PUT open without answering, as if the reply was dropped."""
        connection = handler.connection
        deadline = time.monotonic() + HOP_LIMIT_HOLD_SECONDS
        while not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                readable = select.select([connection], [], [], POLL_SECONDS)[0]
                if readable and not connection.recv(4096):
                    break
            except (OSError, ValueError):
                break
        handler.close_connection = True

    def _metadata_request(self, handler, path, knobs):
        headers = []
        if not knobs['no_imdsv2']:
            token = handler.headers.get(TOKEN_HEADER)
            if token is not None:
                remaining = self._token_remaining(token)
                if remaining is None:
                    return _Response(401, error_page(401))
                headers.append((TOKEN_TTL_HEADER, str(int(remaining + 0.999))))
            elif knobs['http_tokens'] == 'required':
                return _Response(401, error_page(401))
        found = self._resolve(path, knobs)
        if found is None:
            return _Response(404, error_page(404))
        content_type, body = found
        ranges = 'bytes' if content_type == 'application/octet-stream' else 'none'
        headers.extend([('Content-Type', content_type), ('Accept-Ranges', ranges),
                        ('Last-Modified', self._last_modified)])
        return _Response(200, body, headers)

    def _resolve(self, path, knobs):
        """(content type, body) for a metadata path, or None for 404."""
        parts = path.split('/')[1:]
        if parts and parts[-1] == '':
            parts.pop()
        if any(part in ('', '.', '..') for part in parts):
            return None
        parts = [unquote(part) for part in parts]
        if not parts:
            return 'text/plain', '\n'.join(API_VERSIONS).encode()
        if parts[0] not in API_VERSIONS:
            return None
        if len(parts) == 1:
            present = [k for k in TOP_LEVEL_KEYS if self.instance.get(k) is not None]
            return 'text/plain', '\n'.join(present).encode()
        category, names = parts[1], tuple(parts[2:])
        if category == 'user-data':
            user_data = self.instance.get('user-data')
            if names or user_data is None:
                return None
            return 'application/octet-stream', user_data
        if category == 'meta-data':
            tree = self._meta_data_view(knobs)
        elif category == 'dynamic':
            tree = self.instance.get('dynamic')
        else:
            return None
        if tree is None:
            return None
        return self._walk(tree, (category,), names)

    def _walk(self, node, path, names):
        for name in names:
            if not isinstance(node, dict) or _is_json_leaf(path):
                return None
            if path == PUBLIC_KEYS_PATH:
                node = self._public_key(node, name)
            else:
                node = node.get(name)
            path += (name,)
            if node is None:
                return None
        if isinstance(node, dict) and not _is_json_leaf(path):
            return 'text/plain', '\n'.join(self._entries(node, path)).encode('utf-8')
        if _is_json_leaf(path) and isinstance(node, (dict, list)):
            text = _render_json(path, node)
        elif isinstance(node, list):
            text = '\n'.join(_scalar(item) for item in node)
        else:
            text = _scalar(node)
        return 'text/plain', text.encode('utf-8')

    @staticmethod
    def _public_key(keys, index):
        for label, formats in keys.items():
            match = PUBLIC_KEY_LABEL.match(label)
            if match and match.group(1) == index:
                return formats if isinstance(formats, dict) else {'openssh-key': formats}
        return None

    @staticmethod
    def _entries(node, path):
        if path == PUBLIC_KEYS_PATH:
            return [label for label, value in node.items() if value is not None]
        return [name + '/' if isinstance(value, dict) and not _is_json_leaf(path + (name,)) else name
                for name, value in node.items() if value is not None]

    def _meta_data_view(self, knobs):
        """The meta-data tree as it looks right now (tags switch, notices)."""
        tree = self.instance.get('meta-data')
        if tree is None:
            return None
        view = dict(tree)
        if knobs['instance_metadata_tags'] == 'disabled':
            view.pop('tags', None)
        now = time.monotonic()
        if self._spot_at is not None and now >= self._spot_at:
            if self._spot_notice is None:
                when = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
                when += datetime.timedelta(minutes=2)
                self._spot_notice = {'instance-action': {'action': knobs['spot_action'], 'time': _iso(when)},
                                     'termination-time': _iso(when)}
            spot = dict(view.get('spot') or {})
            spot.update(self._spot_notice)
            view['spot'] = spot
        if self._rebalance_at is not None and now >= self._rebalance_at:
            if self._rebalance_notice is None:
                when = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
                self._rebalance_notice = {'noticeTime': _iso(when)}
            events = dict(view.get('events') or {})
            recommendations = dict(events.get('recommendations') or {})
            recommendations['rebalance'] = self._rebalance_notice
            events['recommendations'] = recommendations
            view['events'] = events
        state = knobs['autoscaling_state']
        if self._autoscaling_at is not None and now >= self._autoscaling_at:
            state = knobs['autoscaling_next_state']
        if state is not None:
            autoscaling = dict(view.get('autoscaling') or {})
            autoscaling['target-lifecycle-state'] = state
            view['autoscaling'] = autoscaling
        if self._maintenance_at is not None and now >= self._maintenance_at:
            if self._maintenance_event is None:
                self._maintenance_event = _maintenance_event(knobs['maintenance_code'], knobs['maintenance_not_before'])
            events = dict(view.get('events') or {})
            maintenance = dict(events.get('maintenance') or {})
            maintenance['scheduled'] = list(maintenance.get('scheduled') or []) + [self._maintenance_event]
            events['maintenance'] = maintenance
            view['events'] = events
        return view

    # -- control endpoints -------------------------------------------------

    def _control(self, method, path, body):
        action = path[len(CONTROL_PREFIX):].strip('/')
        routes = {
            ('GET', 'requests'): self._control_requests,
            ('POST', 'reset'): self._control_reset,
            ('GET', 'config'): self._control_config,
            ('POST', 'config'): self._control_config,
            ('POST', 'data'): self._control_data,
        }
        route = routes.get((method, action))
        if route is None:
            known = any(action == name for _method, name in routes)
            return self._json(405 if known else 404, {'error': '%s %s is not a control endpoint' % (method, path)})
        try:
            return self._json(200, route(method, body))
        except (ValueError, TypeError) as exc:
            return self._json(400, {'error': str(exc)})

    def _control_requests(self, _method, _body):
        records = [record._asdict() for record in self.requests]
        return {'count': len(records), 'requests': records}

    def _control_reset(self, _method, _body):
        self.reset_counters()
        return {'count': 0}

    def _control_config(self, method, body):
        if method == 'POST':
            changes = json.loads(body.decode('utf-8') or '{}')
            if not isinstance(changes, dict):
                raise ValueError('POST a JSON object of knobs, e.g. {"http_tokens": "optional"}')
            return self.configure(**changes)
        return self.knobs

    def _control_data(self, _method, body):
        self.load(json.loads(body.decode('utf-8') or 'null'))
        return {'instance_id': self.instance['meta-data'].get('instance-id')}

    @staticmethod
    def _json(status, payload):
        return _Response(status, json.dumps(payload, indent=2, sort_keys=True).encode('utf-8'),
                         [('Content-Type', 'application/json')])

    # -- output ---------------------------------------------------------------

    def _send(self, handler, response):
        try:
            handler.send_response(response.status, REASONS.get(response.status))
            headers = dict((name.lower(), (name, value)) for name, value in response.headers)
            headers.setdefault('content-type', ('Content-Type', 'text/plain'))
            if 'accept-ranges' not in headers and response.status != 405:
                headers['accept-ranges'] = ('Accept-Ranges', 'none')
            for name, value in headers.values():
                handler.send_header(name, value)
            handler.send_header('Content-Length', str(len(response.body)))
            handler.send_header('Connection', 'close')
            handler.end_headers()
            if handler.command != 'HEAD':
                handler.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        handler.close_connection = True


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError('not a number: %r' % text)
    if value < 0:
        raise argparse.ArgumentTypeError('must be >= 0: %r' % text)
    return value


def _port(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('not a port number: %r' % text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError('must be between 0 and 65535: %r' % text)
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog='imds_emulator.py',
        description='Offline EC2 instance metadata service (IMDSv2/IMDSv1) for tests. '
                    'Prints the URL it serves on, then serves until SIGTERM or Ctrl-C. '
                    'Never point it at, or run it on, a real metadata address outside a private network namespace.')
    add = parser.add_argument
    add('--host', default='127.0.0.1', help='address to listen on (default 127.0.0.1)')
    add('--port', type=_port, default=0, help='port to listen on; 0 picks a free one (default 0)')
    add('--data', metavar='FILE', help='instance data (JSON, or YAML with PyYAML); default: the built-in instance')
    add('--dump-builtin', action='store_true', help='print the built-in instance as a data file (JSON) and exit')
    add('-v', '--verbose', action='store_true', help='log every request to stderr')
    group = parser.add_argument_group('instance metadata options (named as on EC2)')
    group.add_argument('--http-tokens', choices=CHOICES['http_tokens'], default='required',
                       help='required: every GET needs a token (IMDSv2 only); optional: IMDSv1 GETs work too')
    group.add_argument('--http-endpoint', choices=CHOICES['http_endpoint'], default='enabled',
                       help='disabled: every request gets 403')
    group.add_argument('--instance-metadata-tags', choices=CHOICES['instance_metadata_tags'], default='enabled',
                       help='disabled: tags/ is absent (404). Default enabled here; on EC2 it is disabled by default')
    group.add_argument('--http-put-response-hop-limit', type=int, default=1, metavar='N',
                       help='hops the token response survives (1-64, default 1); see --client-hops')
    group.add_argument('--client-hops', type=int, default=1, metavar='M',
                       help='hops between the client and the instance (default 1); when M > N the token PUT '
                            'is accepted but never answered, like a container behind a bridge')
    group.add_argument('--http-protocol-ipv6', choices=CHOICES['http_protocol_ipv6'], default='disabled',
                       help='enabled: also serve on --ipv6-host (same port), and allow an IPv6 --host')
    group.add_argument('--ipv6-host', default='::1', help='IPv6 address served when --http-protocol-ipv6 is enabled')
    group.add_argument('--no-imdsv2', action='store_true',
                       help='behave like an IMDS without IMDSv2: the token path is 404 and tokens are ignored')
    group = parser.add_argument_group('faults for tests')
    group.add_argument('--latency', type=_non_negative_float, default=0.0, metavar='SECONDS',
                       help='delay every answer by SECONDS')
    group.add_argument('--throttle', type=int, default=0, metavar='N', help='answer the next N requests with 429')
    group.add_argument('--unavailable', type=int, default=0, metavar='N', help='answer the next N requests with 503')
    group.add_argument('--fault-path', choices=CHOICES['fault_path'], default='all',
                       help='which requests --throttle/--unavailable hit: all, or only the token PUT path')
    group.add_argument('--boot-refusals', type=_non_negative_float, default=0.0, metavar='SECONDS',
                       help='refuse connections for the first SECONDS (the URL is printed at once)')
    group.add_argument('--token-ttl-cap', type=_non_negative_float, default=None, metavar='SECONDS',
                       help='tokens expire after min(requested TTL, SECONDS)')
    group.add_argument('--token-uses-cap', type=int, default=None, metavar='N',
                       help='tokens expire after N accepted requests (an expiry that does not depend on time)')
    group.add_argument('--spot-action-after', type=_non_negative_float, default=None, metavar='SECONDS',
                       help='spot/instance-action and spot/termination-time appear after SECONDS')
    group.add_argument('--spot-action', choices=CHOICES['spot_action'], default='terminate',
                       help='the action in the spot notice (default terminate)')
    group.add_argument('--rebalance-after', type=_non_negative_float, default=None, metavar='SECONDS',
                       help='events/recommendations/rebalance appears after SECONDS')
    group.add_argument('--autoscaling-state', choices=CHOICES['autoscaling_state'][1:], default=None,
                       help='serve autoscaling/target-lifecycle-state with this state (default: not in a group, 404)')
    group.add_argument('--autoscaling-state-after', type=_non_negative_float, default=None, metavar='SECONDS',
                       help='after SECONDS the lifecycle state becomes --autoscaling-next-state')
    group.add_argument('--autoscaling-next-state', choices=CHOICES['autoscaling_next_state'], default='Terminated',
                       help='the state --autoscaling-state-after switches to (default Terminated)')
    group.add_argument('--maintenance-after', type=_non_negative_float, default=None, metavar='SECONDS',
                       help='an active event appears in events/maintenance/scheduled after SECONDS')
    group.add_argument('--maintenance-code', choices=CHOICES['maintenance_code'], default='instance-stop',
                       help='the Code of that event (default instance-stop)')
    group.add_argument('--maintenance-not-before', type=_non_negative_float, default=600.0, metavar='SECONDS',
                       help='its NotBefore, SECONDS after it appears (default 600)')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.dump_builtin:
        print(json.dumps(builtin_instance(), indent=2))
        return 0
    knobs = {name: getattr(args, name) for name in DEFAULT_KNOBS}
    try:
        emulator = Emulator(args.data, verbose=args.verbose, **knobs)
        url = emulator.start(args.host, args.port)
    except (OSError, ValueError) as exc:
        sys.stderr.write('imds_emulator: error: %s\n' % exc)
        return 2
    stop = threading.Event()

    def _on_signal(_signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print('imds_emulator: serving instance metadata at %s' % url, flush=True)
    if emulator.url_ipv6 and emulator.url_ipv6 != url:
        print('imds_emulator: IPv6 endpoint at %s' % emulator.url_ipv6, flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
