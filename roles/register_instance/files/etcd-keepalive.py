# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Installed by the cloudmeta.imds.register_instance role (etcd backend); changes are overwritten.
"""Keep an etcd registration alive: renew its lease, and register again when it was lost.

    python3 cloudmeta-etcd-keepalive CONFIG.json

CONFIG (written by the role, mode 0600: it may hold the etcd password):
  url, keys {key: value}, lease_ttl, and optionally username, password,
  ca_path, client_cert, client_key, validate_certs, use_proxy, timeout.

Every lease_ttl/3 seconds it reads the keys. When they hold the configured
values on one live lease it renews that lease (POST /v3/lease/keepalive);
otherwise, for example after etcd was unreachable for longer than the TTL,
it grants a new lease, writes the keys on it and revokes the old lease when
nothing else uses it. Stopping it never deletes anything: the keys expire
lease_ttl seconds later, or the role deletes them (state absent).

It follows no HTTP redirect (the auth token and password must not go to
another address), as the etcd_keys module does not. Any failure, including
an answer etcd would never give, is logged in one line and retried with
exponential backoff and jitter, at most RETRY_MAX seconds apart, so the
program never exits on it (and systemd never restarts it in a loop).

Python standard library only, because it runs outside Ansible on the
instance; that is why it cannot import the module's
plugins/module_utils/_etcd.py, which uses ansible-core's open_url. Values
are encoded exactly as the cloudmeta.imds.etcd_keys module encodes them.
"""

import base64
import ipaddress
import json
import random
import signal
import ssl
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

NO_LEASE = '0'
STOP = threading.Event()
# Backoff after a failure: RETRY_MIN seconds, doubling, at most RETRY_MAX.
RETRY_MIN = 1.0
RETRY_MAX = 30.0


def log(message):
    sys.stderr.write(message + '\n')
    sys.stderr.flush()


def b64(data):
    if isinstance(data, str):
        data = data.encode('utf-8')
    return base64.b64encode(data).decode('ascii')


def encode(value):
    if isinstance(value, str):
        return value.encode('utf-8')
    return json.dumps(value, sort_keys=True, separators=(',', ':')).encode('utf-8')


def same_value(stored, wanted):
    if stored == encode(wanted):
        return True
    if isinstance(wanted, str):
        return False
    try:
        return json.loads(stored.decode('utf-8')) == wanted
    except ValueError:
        return False


class EtcdError(Exception):
    pass


class RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Turn every redirect into an error: following one would send the token to another address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise EtcdError('%s answered HTTP %d with a redirect to %s, which is not followed (credentials must not '
                        'go elsewhere): set url to the etcd client URL itself'
                        % (req.full_url, code, newurl))


def backoff(failures):
    """Seconds to wait after FAILURES failures in a row: doubling from RETRY_MIN, capped, with jitter."""
    ceiling = min(RETRY_MAX, RETRY_MIN * 2 ** min(failures - 1, 16))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class Gateway:
    def __init__(self, config):
        self.url = config['url'].rstrip('/')
        self.username = config.get('username')
        self.password = config.get('password')
        self.timeout = float(config.get('timeout') or 10)
        self.token = None
        host = urllib.parse.urlsplit(self.url).hostname or ''
        handlers = [RefuseRedirects()]
        if not config.get('use_proxy', True) or _is_loopback(host):
            handlers.append(urllib.request.ProxyHandler({}))
        if self.url.startswith('https:'):
            context = ssl.create_default_context(cafile=config.get('ca_path') or None)
            if not config.get('validate_certs', True):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if config.get('client_cert'):
                context.load_cert_chain(config['client_cert'], config.get('client_key') or None)
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self.opener = urllib.request.build_opener(*handlers)

    def _post(self, path, body):
        request = urllib.request.Request(self.url + '/v3/' + path, data=json.dumps(body).encode('utf-8'),
                                         headers={'Content-Type': 'application/json'}, method='POST')
        if self.token:
            request.add_header('Authorization', self.token)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                answer = json.loads(response.read() or b'{}')
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read() or b'{}').get('message') or exc.reason
            except ValueError:
                message = exc.reason
            raise EtcdError('%s: HTTP %s: %s' % (path, exc.code, message))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise EtcdError('%s: %s' % (path, getattr(exc, 'reason', exc)))
        if not isinstance(answer, dict):
            raise EtcdError('%s: unexpected answer (not a JSON object): is %s an etcd v3 gateway?' % (path, self.url))
        return answer

    def call(self, path, body):
        if self.username and not self.token:
            self.authenticate()
        try:
            return self._post(path, body)
        except EtcdError as exc:
            if not self.username or 'token' not in str(exc):
                raise
        self.authenticate()
        return self._post(path, body)

    def authenticate(self):
        self.token = None
        self.token = self._post('auth/authenticate', {'name': self.username, 'password': self.password}).get('token')
        if not self.token:
            raise EtcdError('auth/authenticate: no token for user %s' % self.username)

    def get(self, key):
        for item in self.call('kv/range', {'key': b64(key)}).get('kvs') or []:
            return base64.b64decode(item.get('value') or ''), item.get('lease') or NO_LEASE
        return None

    def keepalive(self, lease):
        return int((self.call('lease/keepalive', {'ID': lease}).get('result') or {}).get('TTL', 0))

    def grant(self, ttl):
        answer = self.call('lease/grant', {'TTL': ttl})
        if not answer.get('ID') or answer.get('error'):
            raise EtcdError('lease/grant: unexpected answer (no lease ID%s): is %s an etcd v3 gateway?'
                            % (', error %s' % answer['error'] if answer.get('error') else '', self.url))
        return str(answer['ID'])

    def put_all(self, keys, lease):
        self.call('kv/txn', {'success': [
            {'request_put': {'key': b64(key), 'value': b64(encode(value)), 'lease': lease}}
            for key, value in sorted(keys.items())]})

    def revoke_if_unused(self, lease):
        answer = self.call('lease/timetolive', {'ID': lease, 'keys': True})
        if int(answer.get('TTL', -1)) > 0 and not answer.get('keys'):
            self.call('lease/revoke', {'ID': lease})


def _is_loopback(host):
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def renew(gateway, keys, ttl, known=None):
    """Renew the registration's lease, or register again; returns (what was done, the lease now in use).

    KNOWN is the lease seen last time: when the keys were deleted behind our
    back it holds nothing any more and is revoked rather than left to expire.
    """
    current = dict((key, gateway.get(key)) for key in keys)
    leases = set(item[1] for item in current.values() if item is not None)
    intact = all(item is not None and same_value(item[0], keys[key]) for key, item in current.items())
    if intact and len(leases) == 1 and NO_LEASE not in leases:
        lease = next(iter(leases))
        if gateway.keepalive(lease) > 0:
            return 'renewed', lease
    lease = gateway.grant(ttl)
    gateway.put_all(keys, lease)
    for old in (leases | set([known])) - set([None, NO_LEASE, lease]):
        gateway.revoke_if_unused(old)
    return 're-registered %d key(s) on lease %s' % (len(keys), lease), lease


def main(argv):
    if len(argv) != 2:
        log('usage: %s CONFIG.json' % argv[0])
        return 2
    with open(argv[1]) as handle:
        config = json.load(handle)
    keys = config['keys']
    ttl = int(config['lease_ttl'])
    interval = max(1.0, ttl / 3.0)
    gateway = Gateway(config)
    signal.signal(signal.SIGTERM, lambda *_args: STOP.set())
    signal.signal(signal.SIGINT, lambda *_args: STOP.set())
    log('keeping %d key(s) alive at %s with a %d s lease' % (len(keys), config['url'], ttl))
    last = lease = None
    failures = 0
    while not STOP.is_set():
        try:
            outcome, lease = renew(gateway, keys, ttl, lease)
            failures = 0
            wait = interval
        except Exception as exc:  # pylint: disable=broad-except
            # Whatever went wrong, exiting would only make systemd start it
            # again at once; waiting longer each time is kinder to etcd.
            failures += 1
            wait = backoff(failures)
            detail = str(exc) if isinstance(exc, EtcdError) else 'unexpected %s: %s' % (type(exc).__name__, exc)
            outcome = 'etcd error, retrying in %.1f s (failure %d in a row): %s' % (wait, failures, detail)
        if outcome != last or outcome != 'renewed':
            log(outcome)
        last = outcome
        STOP.wait(wait)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
