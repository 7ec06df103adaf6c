# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""etcd v3 through its JSON gateway (/v3/...): the client, and register / deregister / is-registered.

Keys and values travel base64-encoded; int64 IDs and revisions travel as JSON
strings. Checked against etcd 3.4, whose gateway answers under /v3.

Standard library only, and the collection is imported relatively: the
etcd_keys module runs this file through AnsiballZ, and the register_instance
role installs it on the instance for the keepalive program, which imports it
as cloudmeta_imds._registration.etcd (docs/architecture.md, "Code that runs
on the instance").
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request

from .._common.addresses import is_loopback

# An Ansible argument spec is plain data; the module adds its own options.
ETCD_ARGSPEC = dict(
    url=dict(type='str', required=True),
    username=dict(type='str'),
    password=dict(type='str', no_log=True),
    ca_path=dict(type='path'),
    client_cert=dict(type='path'),
    client_key=dict(type='path', no_log=False),
    validate_certs=dict(type='bool', default=True),
    use_proxy=dict(type='bool', default=True),
    timeout=dict(type='float', default=10.0),
)
NO_LEASE = '0'
MIN_LEASE_TTL = 5
USER_AGENT = 'cloudmeta.imds'
# A key built from metadata served as "i-0123456789abcdef0\\n" is refused.
CONTROL_OR_EDGE_BLANK = re.compile(r'[\x00-\x1f\x7f]|^\s|\s\Z')


class EtcdError(Exception):
    """An etcd failure, phrased for the user."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        self.code = code


def b64(data):
    if isinstance(data, str):
        data = data.encode('utf-8')
    return base64.b64encode(data).decode('ascii')


def unb64(text):
    return base64.b64decode(text or '')


def encode(value):
    """The bytes etcd stores for VALUE: a string as it is, anything else as compact JSON with sorted keys."""
    if isinstance(value, str):
        return value.encode('utf-8')
    return json.dumps(value, sort_keys=True, separators=(',', ':')).encode('utf-8')


def same_value(stored, wanted):
    """Whether the bytes STORED already are WANTED; JSON written with other spacing counts as equal."""
    if stored == encode(wanted):
        return True
    if isinstance(wanted, str):
        return False
    try:
        return json.loads(stored.decode('utf-8')) == wanted
    except ValueError:
        return False


def as_text(value):
    """Stored bytes as text for results and diffs; undecodable bytes survive as surrogates."""
    return value.decode('utf-8', 'surrogateescape')


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Every redirect is an error: following one would send the auth token or password to another address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise EtcdError('%s answered HTTP %d with a redirect to %s, which is not followed (credentials must not go '
                        'elsewhere): set url to the etcd client URL itself' % (req.full_url, code, newurl))


class EtcdClient:
    """The few gateway calls registration needs, with one auth token per client."""

    def __init__(self, url, username=None, password=None, ca_path=None, client_cert=None, client_key=None,
                 validate_certs=True, use_proxy=True, timeout=10.0):
        parts = urllib.parse.urlsplit(url or '')
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise EtcdError('The etcd URL must look like http://HOST:2379 or https://HOST:2379; got %r.' % url)
        if (username is None) != (password is None):
            raise EtcdError('Give both username and password for etcd authentication, or neither.')
        self.url = url.rstrip('/')
        self.username = username
        self.password = password
        # A proxy cannot reach this host's loopback; everything else follows
        # the usual *_proxy/no_proxy variables, as curl and etcdctl do.
        self.use_proxy = use_proxy and not is_loopback(parts.hostname)
        self.tls = dict(ca_path=ca_path, client_cert=client_cert, client_key=client_key,
                        validate_certs=validate_certs)
        self.timeout = timeout
        self.token = None
        self._opener = None

    @classmethod
    def from_params(cls, params):
        """A client from a mapping with the ETCD_ARGSPEC names (module parameters, the keepalive's configuration)."""
        defaults = dict((name, spec.get('default')) for name, spec in ETCD_ARGSPEC.items())
        defaults.update((name, params[name]) for name in ETCD_ARGSPEC if params.get(name) is not None)
        return cls(**defaults)

    # -- transport ---------------------------------------------------------

    def _build_opener(self):
        handlers = [_RefuseRedirects()]
        if not self.use_proxy:
            handlers.append(urllib.request.ProxyHandler({}))
        if self.url.startswith('https:'):
            context = ssl.create_default_context(cafile=self.tls['ca_path'] or None)
            if not self.tls['validate_certs']:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if self.tls['client_cert']:
                context.load_cert_chain(self.tls['client_cert'], self.tls['client_key'] or None)
            handlers.append(urllib.request.HTTPSHandler(context=context))
        return urllib.request.build_opener(*handlers)

    def _post(self, path, body, token=None):
        request = urllib.request.Request(self.url + '/v3/' + path, data=json.dumps(body).encode('utf-8'),
                                         headers={'Content-Type': 'application/json', 'User-Agent': USER_AGENT},
                                         method='POST')
        if token:
            request.add_header('Authorization', token)
        try:
            if self._opener is None:
                # Built on first use, so that an unreadable certificate file
                # is reported like any other TLS failure.
                self._opener = self._build_opener()
            with self._opener.open(request, timeout=self.timeout) as response:
                answer = json.loads(response.read() or b'{}')
        except urllib.error.HTTPError as exc:
            raise self._http_error(path, exc) from None
        except urllib.error.URLError as exc:
            raise self._url_error(exc) from None
        except OSError as exc:
            # TLS alerts and timeouts while reading the answer arrive unwrapped.
            raise self._url_error(exc) from None
        except ValueError:
            raise EtcdError('etcd at %s answered %s with something that is not JSON: is this the etcd client URL?'
                            % (self.url, path)) from None
        if not isinstance(answer, dict):
            raise EtcdError('etcd at %s answered %s with an unexpected answer (not a JSON object): is this the etcd '
                            'client URL?' % (self.url, path))
        return answer

    def _http_error(self, path, exc):
        try:
            body = json.loads(exc.read() or b'{}')
        except (ValueError, OSError):
            body = {}
        if not isinstance(body, dict):
            body = {}
        message = body.get('message') or body.get('error') or exc.reason
        code = body.get('code')
        if exc.code == 404 and not body:
            return EtcdError('etcd at %s has no v3 JSON gateway at /v3/%s (HTTP 404): the URL must be an etcd 3.4 or '
                             'later client URL.' % (self.url, path), code=exc.code)
        message = message or ''
        if 'user name is empty' in message or ('token' in message and self.username is None):
            return EtcdError('etcd at %s requires authentication: set username and password.' % self.url,
                             code='auth_required')
        if 'authentication failed' in message:
            return EtcdError('etcd at %s rejected the username or password.' % self.url, code='auth_failed')
        if 'permission denied' in message and self.username is None:
            return EtcdError('etcd at %s denied %s without credentials: it requires authentication, set username and '
                             'password.' % (self.url, path), code='auth_required')
        if 'permission denied' in message:
            return EtcdError('etcd at %s denied %s for user %s: grant it a role with read-write permission on these '
                             'keys.' % (self.url, path, self.username), code='permission_denied')
        return EtcdError('etcd at %s refused %s (HTTP %s): %s' % (self.url, path, exc.code, message), code=code)

    def _url_error(self, exc):
        reason = getattr(exc, 'reason', exc)
        text = str(reason)
        if 'CERTIFICATE_VERIFY_FAILED' in text or 'certificate verify failed' in text:
            return EtcdError('Cannot verify the TLS certificate of etcd at %s (%s): set ca_path to the CA that '
                             'signed it.' % (self.url, text))
        tls_failure = isinstance(reason, ssl.SSLError) or 'SSL' in text or 'ALERT' in text
        if tls_failure and not self.tls['client_cert']:
            return EtcdError('The TLS handshake with etcd at %s failed (%s): if etcd requires client certificates '
                             '(--client-cert-auth), set client_cert and client_key.' % (self.url, text))
        return EtcdError('Cannot reach etcd at %s: %s' % (self.url, text))

    def call(self, path, body):
        """POST BODY to /v3/PATH, authenticating first when credentials are set."""
        if self.username is not None and self.token is None:
            self.authenticate()
        try:
            return self._post(path, body, self.token)
        except EtcdError as exc:
            # Simple tokens expire after a few idle minutes; get a new one once.
            if self.username is None or 'token' not in exc.message:
                raise
        self.authenticate()
        return self._post(path, body, self.token)

    def authenticate(self):
        self.token = None
        answer = self._post('auth/authenticate', {'name': self.username, 'password': self.password})
        self.token = answer.get('token')
        if not self.token:
            raise EtcdError('etcd at %s returned no token for user %s.' % (self.url, self.username))

    # -- keys --------------------------------------------------------------

    def get(self, key):
        """{'value': bytes, 'lease': id} for KEY, or None when it does not exist."""
        answer = self.call('kv/range', {'key': b64(key)})
        for item in answer.get('kvs') or []:
            if unb64(item.get('key')) == key.encode('utf-8'):
                return {'value': unb64(item.get('value')), 'lease': item.get('lease') or NO_LEASE}
        return None

    def put_all(self, values, lease=NO_LEASE):
        """Write every KEY: VALUE (bytes) of VALUES in one transaction, attached to LEASE."""
        operations = []
        for key, value in sorted(values.items()):
            put = {'key': b64(key), 'value': b64(value)}
            if lease and lease != NO_LEASE:
                put['lease'] = lease
            operations.append({'request_put': put})
        self.call('kv/txn', {'success': operations})

    def delete_all(self, keys):
        self.call('kv/txn', {'success': [{'request_delete_range': {'key': b64(key)}} for key in sorted(keys)]})

    # -- leases ------------------------------------------------------------

    def grant(self, ttl):
        answer = self.call('lease/grant', {'TTL': ttl})
        if not answer.get('ID') or answer.get('error'):
            raise EtcdError('etcd at %s did not grant a lease (unexpected answer: %s): is this the etcd client URL?'
                            % (self.url, 'error %s' % answer['error'] if answer.get('error') else 'no lease ID'))
        return str(answer['ID'])

    def time_to_live(self, lease):
        """(remaining seconds, granted seconds, attached keys); remaining is -1 when the lease is gone."""
        answer = self.call('lease/timetolive', {'ID': lease, 'keys': True})
        keys = [unb64(key).decode('utf-8', 'replace') for key in answer.get('keys') or []]
        return int(answer.get('TTL', -1)), int(answer.get('grantedTTL', 0)), keys

    def keepalive(self, lease):
        """Renew LEASE once; its new TTL, 0 when the lease is gone."""
        answer = self.call('lease/keepalive', {'ID': lease})
        return int((answer.get('result') or {}).get('TTL', 0))

    def revoke(self, lease):
        """Revoke LEASE (and delete its keys); True when it existed."""
        try:
            self.call('lease/revoke', {'ID': lease})
        except EtcdError as exc:
            if 'lease not found' in exc.message:
                return False
            raise
        return True

    def revoke_if_unused(self, lease):
        """Revoke LEASE when no key is attached to it any more; True when revoked."""
        remaining, _granted, keys = self.time_to_live(lease)
        if remaining > 0 and not keys:
            return self.revoke(lease)
        return False


# -- one registration: a group of keys, optionally on one lease -----------------


def check_keys(keys, need_values):
    """Raise EtcdError for a group of keys etcd_keys and the keepalive refuse alike."""
    if not keys:
        raise EtcdError('keys must name at least one key.')
    for key in keys:
        if not key:
            raise EtcdError('Key names must not be empty.')
        if CONTROL_OR_EDGE_BLANK.search(key):
            raise EtcdError('Key name %r holds a line break, a control character or leading or trailing whitespace '
                            '(metadata served with a trailing newline?); give the bare name.' % key)
    if need_values:
        for key, value in keys.items():
            if value is None:
                raise EtcdError('Key %s has no value; give it one, or use state=absent.' % key)


def check_lease_ttl(ttl):
    if ttl is not None and ttl < MIN_LEASE_TTL:
        raise EtcdError('lease_ttl must be at least %d seconds; got %d.' % (MIN_LEASE_TTL, ttl))


def read(client, keys):
    """{key: {'value', 'lease'} or None} for every key of KEYS."""
    return dict((key, client.get(key)) for key in keys)


class Found:
    """What etcd holds for a registration, and whether it already is the one wanted.

    current: read() of the keys; leases: the leases they are on (NO_LEASE
    left out); live_lease: the one live lease of the wanted TTL every key is
    on, which a registration keeps, else None; registered: every value as
    wanted, on live_lease with a TTL, on no lease without one.
    """

    def __init__(self, current, registered, leases, live_lease):
        self.current = current
        self.registered = registered
        self.leases = leases
        self.live_lease = live_lease


def find(client, wanted, ttl=None):
    """Found for WANTED ({key: value}) to be held on a lease of TTL seconds (None: on no lease)."""
    current = read(client, wanted)
    values_ok = all(current[key] is not None and same_value(current[key]['value'], value)
                    for key, value in wanted.items())
    leases = set(item['lease'] for item in current.values() if item and item['lease'] != NO_LEASE)
    live = None
    if ttl and len(leases) == 1 and all(item is not None for item in current.values()):
        lease = next(iter(leases))
        remaining, granted, _keys = client.time_to_live(lease)
        if remaining > 0 and granted == ttl:
            live = lease
    lease_ok = live is not None if ttl else not leases
    return Found(current, values_ok and lease_ok, leases, live)


def is_registered(client, wanted, ttl=None):
    return find(client, wanted, ttl).registered


def register(client, wanted, ttl=None, found=None, also_revoke=()):
    """Write WANTED on the live lease FOUND keeps, else on a new lease of TTL (no lease without a TTL).

    Leases the keys were on before, and ALSO_REVOKE, are revoked once no key
    is attached to them any more. Returns (lease or None, revoked leases).
    """
    found = found or find(client, wanted, ttl)
    lease = found.live_lease
    if ttl and lease is None:
        lease = client.grant(ttl)
    client.put_all(dict((key, encode(value)) for key, value in wanted.items()), lease or NO_LEASE)
    revoked = []
    for old in sorted((found.leases | set(also_revoke)) - set([lease, None, NO_LEASE])):
        if client.revoke_if_unused(old):
            revoked.append(old)
    return lease, revoked


def deregister(client, keys, current=None):
    """Delete KEYS and revoke their leases when nothing else is attached; keys already gone are fine.

    Returns ({key: what it held} of the keys that existed, revoked leases).
    """
    current = read(client, keys) if current is None else current
    existing = dict((key, item) for key, item in current.items() if item is not None)
    revoked = []
    if existing:
        client.delete_all(list(existing))
        for lease in sorted(set(item['lease'] for item in existing.values()) - set([NO_LEASE])):
            if client.revoke_if_unused(lease):
                revoked.append(lease)
    return existing, revoked


def keep_alive(client, wanted, ttl, known=None):
    """Renew the registration's lease, or register again; returns (what was done, the lease now in use).

    KNOWN is the lease seen last time: when the keys were deleted behind its
    back it holds nothing any more and is revoked rather than left to expire.
    """
    found = find(client, wanted, ttl)
    if found.registered:
        if client.keepalive(found.live_lease) > 0:
            return 'renewed', found.live_lease
        # It ran out between the two calls.
        found = find(client, wanted, ttl)
    lease, _revoked = register(client, wanted, ttl, found, also_revoke=[known] if known else [])
    return 're-registered %d key(s) on lease %s' % (len(wanted), lease), lease


def apply(client, wanted, state='present', ttl=None, check_mode=False):
    """What the etcd_keys module does: (result without diff, diff). WANTED values are ignored for absent."""
    check_keys(wanted, need_values=state == 'present')
    check_lease_ttl(ttl)
    if state == 'absent':
        current = read(client, wanted)
        existing = dict((key, item) for key, item in current.items() if item is not None)
        revoked = []
        if existing and not check_mode:
            _deleted, revoked = deregister(client, wanted, current)
        before = dict((key, as_text(item['value'])) for key, item in existing.items())
        return _outcome(bool(existing), {}, None, revoked), dict(before=before, after={})

    found = find(client, wanted, ttl)
    before = dict((key, as_text(item['value'])) for key, item in found.current.items() if item is not None)
    changed = not found.registered
    lease = found.live_lease
    revoked = []
    if not check_mode:
        if changed:
            lease, revoked = register(client, wanted, ttl, found)
        elif lease is not None:
            # Not a change: a re-run only renews what is already there.
            client.keepalive(lease)
    after = dict((key, as_text(encode(value))) for key, value in wanted.items())
    return _outcome(changed, after, dict(id=lease, ttl=ttl) if ttl else None, revoked), dict(before=before, after=after)


def _outcome(changed, written, lease, revoked):
    # 'keys' is the 1.0.0 name of 'written'; Jinja resolves result.keys to the
    # dict method, so it is kept only for result['keys'] until 2.0.0.
    return dict(changed=changed, written=written, keys=written, lease=lease, revoked_leases=revoked)
