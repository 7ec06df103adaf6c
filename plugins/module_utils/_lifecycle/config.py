# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The lifecycle agent's configuration file: the one schema, and its loader and validator.

The register_instance role writes this file (JSON, mode 0600: it may hold the
etcd password) and the agent reads it at start:

    python3 -I LIB_DIR/cloudmeta-lifecycle.pyz CONFIG.json

Every key below is accepted and no other (an unknown key is an error naming
it, so a typo never silently falls back to a default). "null" means "not set";
a key left out takes the default shown.

Top level
---------
version           1 (required)
name              text (required): names the registration in every log line,
                  e.g. the service name "web"
instance_id       "i-..." or null: the instance's ID; null reads meta-data/instance-id
state_path        absolute path (required): the state file (which notices were acted on)
metrics_path      absolute path ending in ".prom", or null (default): Prometheus textfile metrics
imds              object, the collection's IMDS client settings (docs/architecture.md "The client"):
  endpoint        URL or null (default: AWS_EC2_METADATA_SERVICE_ENDPOINT, else the link-local address)
  endpoint_mode   "IPv4", "IPv6" or null
  timeout         seconds per attempt, default 1.0
  retries         extra attempts on 429/5xx/refused, default 3
  total_timeout   seconds for one read, retries included, default 5.0
  token_ttl       seconds, 1..21600, default 21600 (one long-lived token, renewed before it expires and on 401)
                  IMDSv1 is never used, and no proxy.
poll_interval     seconds between polls, default 5 (AWS's advice for Spot notices), 0.05..300
retry_interval    seconds between retries of a failed backend change, default 2, 0.05..60
watch             object; each "auto" (default), true or false:
  spot            spot/instance-action; auto: only when meta-data/instance-life-cycle is "spot"
  lifecycle       autoscaling/target-lifecycle-state; auto: only when that path exists (the instance
                  is in an Auto Scaling group)
  maintenance     events/maintenance/scheduled; auto means true
  rebalance       events/recommendations/rebalance, on Spot instances only; auto means false (opt-in)
maintenance_lead  seconds before a maintenance event's NotBefore to deregister, default 600
stop_budget       seconds a stop (SIGTERM) may spend deregistering, default 90 (the unit's
                  TimeoutStopSec must be longer)
notice_budget     seconds a notice may spend deregistering, default 100 (a Spot notice leaves 120;
                  the agent always finishes 5 s before the instance goes)
backend           object (required), one of the shapes below, by "type"
lifecycle_hook    null (default), or the Auto Scaling terminate hook to complete with CONTINUE:
  group           Auto Scaling group name, or null: read the instance tag aws:autoscaling:groupName
                  from IMDS (instance metadata tags must be on)
  hook            lifecycle hook name (required)
  region          AWS region (required)
  endpoint_url    URL or null (boto3's own, AWS_ENDPOINT_URL honoured)
  heartbeat_interval  seconds between RecordLifecycleActionHeartbeat calls while deregistering,
                  default 60 (below the smallest HeartbeatTimeout, 30, is pointless: 1..7200), or null: none

Backends (the keys mirror the role's register_instance_<backend>_* variables)
---------
type: file_sd     the role's file, written by the agent atomically and removed on deregistration
  path            absolute path of the file (required)
  content         the exact text the role writes (required)
  mode            octal text such as "0644" (default)
  owner, group    user and group names, or null (default: left as created)
type: elbv2       one target in a target group (same code as the elbv2_target module)
  target_group_arn  (required)
  target_id       instance ID or IP address (required)
  target_type     "instance" (default) or "ip"
  port            integer or null (the target group's port)
  vpc_id          "vpc-..." or null; region (required); endpoint_url (null)
  wait_drained    true (default): after deregistering, wait until the target left "draining",
                  within the budget
type: cloudmap    one Cloud Map instance (same code as the cloudmap_instance module)
  service_id, instance_id (required), attributes {text: text} (default {}),
  region (required), endpoint_url (null)
type: haproxy     one server through the runtime API (same code as the haproxy_runtime_server module)
  socket          path of the admin socket, or "HOST:PORT" (required)
  backend         HAProxy backend (required)
  mode            "dynamic" (default) or "slot"
  name            server name (required with dynamic), slot_prefix ("slot")
  address, port   (required)
  weight          0..256 or null; check: true, false or null; server_options [] (words)
  drain_timeout   seconds to wait for sessions, default 30, always cut to the budget
  shutdown_sessions  true (default); timeout: seconds per runtime API command, default 5
type: etcd        keys on a lease, kept alive by the agent (the job of the 1.0.0 etcd keepalive)
  url             etcd client URL (required)
  keys            {key: value} (required), the values exactly as the etcd_keys module writes them
  lease_ttl       seconds (>= 5) or null: no lease (the keys stay until deregistered)
  username, password, ca_path, client_cert, client_key (null), validate_certs (true),
  use_proxy (true), timeout (seconds per request, 10)

Standard library only.
"""

from __future__ import annotations

import json
import os
import re

VERSION = 1
MAX_FILE_SIZE = 1024 * 1024
WATCH_KINDS = ('spot', 'lifecycle', 'maintenance', 'rebalance')
BACKENDS = ('file_sd', 'elbv2', 'cloudmap', 'haproxy', 'etcd')

_INSTANCE_ID = re.compile(r'i-[0-9a-f]{8,32}')
_MODE = re.compile(r'0?[0-7]{3,4}')
_NAME = re.compile(r'[A-Za-z0-9_.:@-]{1,128}')


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file, the field and the value."""


class _Field:
    """One key: a checker(where, value) -> value, a default (REQUIRED for none)."""

    def __init__(self, check, default=None, required=False):
        self.check, self.default, self.required = check, default, required


def _shown(value):
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 120 else text[:120] + '...'


def _fail(where, value, what):
    raise ConfigError('%s is %s: %s.' % (where, _shown(value), what))


def _nullable(check):
    def checked(where, value):
        return None if value is None else check(where, value)
    return checked


def _text(pattern=None, what='a non-empty text'):
    def check(where, value):
        if not isinstance(value, str) or not value or re.search(r'[\x00-\x1f\x7f]', value):
            _fail(where, value, 'it must be %s without control characters' % what)
        if pattern is not None and not pattern.fullmatch(value):
            _fail(where, value, 'it must be %s' % what)
        return value
    return check


def _number(low, high, integer=False):
    def check(where, value):
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
            _fail(where, value, 'it must be %s from %s to %s' % ('a whole number' if integer else 'a number', low, high))
        return value if integer else float(value)
    return check


def _boolean(where, value):
    if not isinstance(value, bool):
        _fail(where, value, 'it must be true or false')
    return value


def _choice(*choices):
    def check(where, value):
        if value not in choices:
            _fail(where, value, 'it must be one of %s' % ', '.join(_shown(choice) for choice in choices))
        return value
    return check


def _absolute_path(suffix=None):
    def check(where, value):
        _text(what='an absolute path')(where, value)
        if not os.path.isabs(value):
            _fail(where, value, 'it must be an absolute path')
        if suffix and not value.endswith(suffix):
            _fail(where, value, 'it must end in %s' % suffix)
        return value
    return check


def _url(where, value):
    _text(what='a URL')(where, value)
    if not re.match(r'https?://[^/\s]+', value):
        _fail(where, value, 'it must be an http:// or https:// URL')
    return value


def _text_map(where, value):
    if not isinstance(value, dict):
        _fail(where, value, 'it must be an object of text values')
    for key, item in value.items():
        if not isinstance(item, (str, int, float, bool)):
            _fail('%s.%s' % (where, key), item, 'it must be text, a number or a boolean')
    return value


def _words(where, value):
    if not isinstance(value, list) or not all(isinstance(word, str) and word for word in value):
        _fail(where, value, 'it must be a list of words')
    return value


def _keys(where, value):
    if not isinstance(value, dict) or not value:
        _fail(where, value, 'it must be an object of at least one key and its value')
    for key, item in value.items():
        if item is None:
            _fail('%s[%s]' % (where, json.dumps(key)), item, 'every key needs a value')
    return value


def _lease_ttl(where, value):
    return _number(5, 10 ** 9, integer=True)(where, value)


def _mode(where, value):
    if not isinstance(value, str) or not _MODE.fullmatch(value):
        _fail(where, value, 'it must be an octal mode in quotes, such as "0644"')
    return value


def _watch(where, value):
    if value not in ('auto', True, False):
        _fail(where, value, 'it must be "auto", true or false')
    return value


def _object(fields):
    def check(where, value):
        return _section(where, value, fields)
    return check


def _section(where, value, fields):
    if not isinstance(value, dict):
        _fail(where, value, 'it must be an object')
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ConfigError('%s has unknown key(s) %s; the keys are %s.' % (
            where, ', '.join(unknown), ', '.join(sorted(fields))))
    result = {}
    for name, field in fields.items():
        place = '%s.%s' % (where, name) if where else name
        if name not in value:
            if field.required:
                raise ConfigError('%s is missing; it is required.' % place)
            result[name] = field.default() if callable(field.default) else field.default
            continue
        if value[name] is None and field.required:
            raise ConfigError('%s is null; it is required.' % place)
        result[name] = field.check(place, value[name])
    return result


_REQUIRED_TEXT = _Field(_text(), required=True)
_AWS = dict(region=_Field(_text(re.compile(r'[a-z]{2}(-[a-z0-9]+)+-\d+'), 'an AWS region such as eu-west-1'),
                          required=True),
            endpoint_url=_Field(_nullable(_url)))
_PORT = _number(1, 65535, integer=True)

BACKEND_FIELDS = {
    'file_sd': dict(path=_Field(_absolute_path(), required=True),
                    content=_Field(lambda where, value: value if isinstance(value, str) else _fail(
                        where, value, 'it must be the text of the file'), required=True),
                    mode=_Field(_mode, default='0644'),
                    owner=_Field(_nullable(_text(_NAME, 'a user name'))),
                    group=_Field(_nullable(_text(_NAME, 'a group name')))),
    'elbv2': dict(target_group_arn=_REQUIRED_TEXT, target_id=_REQUIRED_TEXT,
                  target_type=_Field(_choice('instance', 'ip'), default='instance'),
                  port=_Field(_nullable(_PORT)),
                  vpc_id=_Field(_nullable(_text(re.compile(r'vpc-[0-9a-f]+'), 'a VPC ID such as vpc-0abc'))),
                  wait_drained=_Field(_boolean, default=True), **_AWS),
    'cloudmap': dict(service_id=_REQUIRED_TEXT, instance_id=_REQUIRED_TEXT,
                     attributes=_Field(_text_map, default=dict), **_AWS),
    'haproxy': dict(socket=_REQUIRED_TEXT, backend=_REQUIRED_TEXT,
                    mode=_Field(_choice('dynamic', 'slot'), default='dynamic'),
                    name=_Field(_nullable(_text())), slot_prefix=_Field(_text(), default='slot'),
                    address=_REQUIRED_TEXT, port=_Field(_PORT, required=True),
                    weight=_Field(_nullable(_number(0, 256, integer=True))),
                    check=_Field(_nullable(_boolean)), server_options=_Field(_words, default=list),
                    drain_timeout=_Field(_number(0, 3600), default=30.0),
                    shutdown_sessions=_Field(_boolean, default=True),
                    timeout=_Field(_number(0.1, 300), default=5.0)),
    'etcd': dict(url=_Field(_url, required=True), keys=_Field(_keys, required=True),
                 lease_ttl=_Field(_nullable(_lease_ttl)),
                 username=_Field(_nullable(_text())), password=_Field(_nullable(_text())),
                 ca_path=_Field(_nullable(_absolute_path())), client_cert=_Field(_nullable(_absolute_path())),
                 client_key=_Field(_nullable(_absolute_path())),
                 validate_certs=_Field(_boolean, default=True), use_proxy=_Field(_boolean, default=True),
                 timeout=_Field(_number(0.1, 300), default=10.0)),
}


def _backend(where, value):
    if not isinstance(value, dict):
        _fail(where, value, 'it must be an object with a "type"')
    kind = value.get('type')
    if kind not in BACKENDS:
        _fail(where + '.type', kind, 'it must be one of %s' % ', '.join(BACKENDS))
    fields = dict(BACKEND_FIELDS[kind], type=_Field(_choice(kind), required=True))
    section = _section(where, value, fields)
    if kind == 'haproxy' and section['mode'] == 'dynamic' and not section['name']:
        raise ConfigError('%s.name is missing; a server name is required with mode "dynamic".' % where)
    if kind == 'etcd' and (section['username'] is None) != (section['password'] is None):
        raise ConfigError('%s: give both username and password, or neither.' % where)
    return section


IMDS_FIELDS = dict(
    endpoint=_Field(_nullable(_url)),
    endpoint_mode=_Field(_nullable(_choice('IPv4', 'IPv6'))),
    timeout=_Field(_number(0.05, 60), default=1.0),
    retries=_Field(_number(0, 20, integer=True), default=3),
    total_timeout=_Field(_number(0.1, 300), default=5.0),
    token_ttl=_Field(_number(1, 21600, integer=True), default=21600),
)
WATCH_FIELDS = dict((kind, _Field(_watch, default='auto')) for kind in WATCH_KINDS)
HOOK_FIELDS = dict(
    group=_Field(_nullable(_text(what='an Auto Scaling group name'))),
    hook=_Field(_text(what='a lifecycle hook name'), required=True),
    heartbeat_interval=_Field(_nullable(_number(1, 7200)), default=60.0),
    **_AWS
)
FIELDS = dict(
    version=_Field(_choice(VERSION), required=True),
    name=_Field(_text(_NAME, 'a name of letters, digits and _.:@-'), required=True),
    instance_id=_Field(_nullable(_text(_INSTANCE_ID, 'an instance ID such as i-0123456789abcdef0'))),
    state_path=_Field(_absolute_path(), required=True),
    metrics_path=_Field(_nullable(_absolute_path('.prom'))),
    # A section left out takes the defaults of its own keys.
    imds=_Field(_object(IMDS_FIELDS), default=lambda: _section('imds', {}, IMDS_FIELDS)),
    poll_interval=_Field(_number(0.05, 300), default=5.0),
    retry_interval=_Field(_number(0.05, 60), default=2.0),
    watch=_Field(_object(WATCH_FIELDS), default=lambda: _section('watch', {}, WATCH_FIELDS)),
    maintenance_lead=_Field(_number(0, 7 * 24 * 3600), default=600.0),
    stop_budget=_Field(_number(1, 3600), default=90.0),
    notice_budget=_Field(_number(1, 3600), default=100.0),
    backend=_Field(_backend, required=True),
    lifecycle_hook=_Field(_nullable(_object(HOOK_FIELDS))),
)


def validate(document):
    """The configuration DOCUMENT (parsed JSON) with every default filled in; raises ConfigError."""
    return _section('', document, FIELDS)


def load(path):
    """The validated configuration in the JSON file PATH; raises ConfigError naming PATH."""
    try:
        with open(path, 'rb') as handle:
            raw = handle.read(MAX_FILE_SIZE + 1)
    except OSError as exc:
        raise ConfigError('cannot read %s: %s' % (path, exc.strerror or exc)) from None
    if len(raw) > MAX_FILE_SIZE:
        raise ConfigError('%s is larger than %d bytes; it is not an agent configuration.' % (path, MAX_FILE_SIZE))
    try:
        document = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError('%s is not JSON: %s' % (path, exc)) from None
    if not isinstance(document, dict):
        raise ConfigError('%s must hold a JSON object; it holds %s.' % (path, type(document).__name__))
    try:
        return validate(document)
    except ConfigError as exc:
        raise ConfigError('%s: %s' % (path, exc)) from None
