"""A single-member etcd (Debian package etcd-server) on loopback, with optional TLS and auth.

The test side talks to it through the same JSON gateway the module uses,
with plain urllib and no proxy, so assertions never depend on the code under
test.
"""

import base64
import json
import os
import shutil
import ssl
import time
import urllib.error
import urllib.request

from servers.common import START_TIMEOUT, free_port, start, stop, wait_for


def binary():
    path = shutil.which('etcd')
    if not path:
        raise RuntimeError('etcd is not installed (Debian package etcd-server; make test installs it)')
    return path


def b64(text):
    return base64.b64encode(text.encode()).decode()


def watch_renewals(call, lease_id, renewals=1, timeout=120.0, interval=0.2):
    """Poll lease LEASE_ID with CALL(path, body) until its remaining TTL went back up RENEWALS times.

    Renewal is told by identity, not by the clock: the same lease ID whose
    remaining TTL rises again was renewed, however slowly the machine runs.
    Returns {'renewals', 'readings', 'gone'}; stops early when the lease is
    gone (TTL -1), and at TIMEOUT, a generous bound for a stuck keepalive.
    """
    deadline = time.monotonic() + timeout
    readings = []
    seen = 0
    while time.monotonic() < deadline:
        remaining = int(call('lease/timetolive', {'ID': lease_id}).get('TTL', -1))
        if remaining < 0:
            return {'renewals': seen, 'readings': readings + [remaining], 'gone': True}
        if readings and remaining > readings[-1]:
            seen += 1
        readings.append(remaining)
        if seen >= renewals:
            break
        time.sleep(interval)
    return {'renewals': seen, 'readings': readings, 'gone': False}


class Etcd:
    def __init__(self, workdir, client_port=None, peer_port=None, tls=None, extra_args=()):
        """TLS: the dict of pki.make_pki(); with it etcd serves https and requires client certificates."""
        self.extra_args = list(extra_args)
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.tls = tls
        scheme = 'https' if tls else 'http'
        self.url = '%s://127.0.0.1:%d' % (scheme, self.client_port)
        self.log_path = os.path.join(self.workdir, 'etcd.log')
        self.proc = None
        self.token = None
        if tls:
            context = ssl.create_default_context(cafile=tls['ca'])
            context.load_cert_chain(tls['client_cert'], tls['client_key'])
            handlers = [urllib.request.HTTPSHandler(context=context)]
        else:
            handlers = []
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), *handlers)

    def start(self):
        peer = 'http://127.0.0.1:%d' % self.peer_port
        argv = [binary(), '--name', 't1', '--data-dir', os.path.join(self.workdir, 'data'),
                '--listen-client-urls', self.url, '--advertise-client-urls', self.url,
                '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
                '--initial-cluster', 't1=' + peer, '--initial-cluster-state', 'new',
                # Single member on loopback: small timeouts keep start-up and lease expiry quick.
                '--heartbeat-interval', '50', '--election-timeout', '500']
        if self.tls:
            argv += ['--cert-file', self.tls['server_cert'], '--key-file', self.tls['server_key'],
                     '--trusted-ca-file', self.tls['ca'], '--client-cert-auth']
        argv += self.extra_args
        self.proc = start(argv, self.log_path)
        wait_for(self._healthy, START_TIMEOUT, 'etcd', self.proc, self.log_path)
        return self

    def _healthy(self):
        try:
            self.call('kv/range', {'key': b64('health-probe')})
            return True
        except (OSError, ValueError):
            return False

    def stop(self):
        stop(self.proc)
        self.proc = None

    # -- gateway, for arranging and inspecting -----------------------------

    def call(self, path, body, token=None):
        request = urllib.request.Request(self.url + '/v3/' + path, data=json.dumps(body).encode(),
                                         headers={'Content-Type': 'application/json'}, method='POST')
        own_token = token is None and self.token is not None
        token = token or self.token
        if token:
            request.add_header('Authorization', token)
        try:
            with self.opener.open(request, timeout=10) as response:
                return json.loads(response.read() or b'{}')
        except urllib.error.HTTPError as exc:
            # Root's token expired (tests may shorten --auth-token-ttl): log in again once.
            if exc.code != 401 or not own_token:
                raise
        self.token = None
        self.token = self.call('auth/authenticate', {'name': 'root', 'password': 'rootpw'})['token']
        return self.call(path, body)

    def get(self, key):
        """(value text, lease id) or None."""
        for item in self.call('kv/range', {'key': b64(key)}).get('kvs') or []:
            return base64.b64decode(item.get('value', '')).decode(), item.get('lease', '0')
        return None

    def prefix(self, prefix):
        """{key: value text} under PREFIX, as CoreDNS's etcd plugin reads it (a range over the prefix)."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        answer = self.call('kv/range', {'key': b64(prefix), 'range_end': b64(end)})
        return {base64.b64decode(item['key']).decode(): base64.b64decode(item.get('value', '')).decode()
                for item in answer.get('kvs') or []}

    def put(self, key, value, lease=None):
        body = {'key': b64(key), 'value': b64(value)}
        if lease:
            body['lease'] = lease
        self.call('kv/put', body)

    def delete(self, key):
        self.call('kv/deleterange', {'key': b64(key)})

    def grant(self, ttl):
        return self.call('lease/grant', {'TTL': ttl})['ID']

    def lease(self, lease_id):
        """(remaining TTL, granted TTL, keys); remaining is -1 once the lease is gone."""
        answer = self.call('lease/timetolive', {'ID': lease_id, 'keys': True})
        return (int(answer.get('TTL', -1)), int(answer.get('grantedTTL', 0)),
                sorted(base64.b64decode(key).decode() for key in answer.get('keys') or []))

    def watch_renewals(self, lease_id, renewals=1, timeout=120.0):
        """See watch_renewals(): how often LEASE_ID was seen renewed before TIMEOUT."""
        return watch_renewals(self.call, lease_id, renewals, timeout)

    def leases(self):
        return sorted(item['ID'] for item in self.call('lease/leases', {}).get('leases') or [])

    def enable_auth(self, users):
        """Turn auth on. USERS: {name: (password, [key prefixes it may read and write])}; root gets 'rootpw'."""
        self.call('auth/user/add', {'name': 'root', 'password': 'rootpw'})
        self.call('auth/user/grant', {'user': 'root', 'role': 'root'})
        for name, (password, prefixes) in users.items():
            self.call('auth/user/add', {'name': name, 'password': password})
            self.call('auth/role/add', {'name': name})
            for prefix in prefixes:
                end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
                self.call('auth/role/grant', {'name': name, 'perm': {
                    'permType': 'READWRITE', 'key': b64(prefix), 'range_end': b64(end)}})
            self.call('auth/user/grant', {'user': name, 'role': name})
        self.call('auth/enable', {})
        self.token = self.call('auth/authenticate', {'name': 'root', 'password': 'rootpw'})['token']

    def error_of(self, path, body, token=None):
        """The gateway's error message for a call expected to fail."""
        try:
            self.call(path, body, token)
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read()).get('message')
        return None
