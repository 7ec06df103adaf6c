# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""etcd v3 through its JSON gateway (/v3/...), standard library and ansible-core only.

Keys and values travel base64-encoded; int64 IDs and revisions travel as JSON
strings. Checked against etcd 3.4, whose gateway answers under /v3.
"""

from __future__ import annotations

import base64
import json
import ssl

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlsplit
from ansible.module_utils.urls import open_url
from ansible_collections.cloudmeta.imds.plugins.module_utils._common.addresses import is_loopback

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


class EtcdClient:
    """The few gateway calls registration needs, with one auth token per client."""

    def __init__(self, url, username=None, password=None, ca_path=None, client_cert=None, client_key=None,
                 validate_certs=True, use_proxy=True, timeout=10.0):
        parts = urlsplit(url or '')
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

    @classmethod
    def from_params(cls, params):
        return cls(**dict((name, params[name]) for name in ETCD_ARGSPEC))

    # -- transport ---------------------------------------------------------

    def _post(self, path, body, token=None):
        headers = {'Content-Type': 'application/json'}
        if token:
            headers['Authorization'] = token
        try:
            response = open_url(self.url + '/v3/' + path, data=json.dumps(body), headers=headers, method='POST',
                                use_proxy=self.use_proxy, timeout=self.timeout, follow_redirects='none',
                                use_netrc=False, http_agent='cloudmeta.imds', **self.tls)
            return json.loads(response.read() or b'{}')
        except HTTPError as exc:
            raise self._http_error(path, exc) from None
        except URLError as exc:
            raise self._url_error(exc) from None
        except OSError as exc:
            # TLS alerts and timeouts while reading the answer arrive unwrapped.
            raise self._url_error(exc) from None
        except ValueError:
            raise EtcdError('etcd at %s answered %s with something that is not JSON: is this the etcd client URL?'
                            % (self.url, path)) from None

    def _http_error(self, path, exc):
        try:
            body = json.loads(exc.read() or b'{}')
        except (ValueError, OSError):
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
        if answer.get('error'):
            raise EtcdError('etcd at %s did not grant a lease: %s' % (self.url, answer['error']))
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
