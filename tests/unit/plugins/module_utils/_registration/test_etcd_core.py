"""The etcd core's pure parts: encoding, key checks, and the register / keep-alive decisions on an in-memory etcd.

No socket: FakeEtcd stands in for EtcdClient's gateway calls (get, put_all,
delete_all, grant, time_to_live, keepalive, revoke) and records them, so the
decisions that etcd_keys and the keepalive share are checked call by call.
The same code against a real etcd: tests/unit/plugins/modules/test_etcd_keys.py
and tests/integration/roles/register_instance/test_etcd_keepalive.py.
"""

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._registration import etcd


class FakeEtcd:
    """Keys, leases and the calls made, in memory."""

    def __init__(self):
        self.keys = {}      # key -> (value bytes, lease)
        self.leases = {}    # lease -> [remaining, granted]
        self.calls = []
        self._next = 100

    def get(self, key):
        self.calls.append(('get', key))
        if key not in self.keys:
            return None
        value, lease = self.keys[key]
        return {'value': value, 'lease': lease}

    def put_all(self, values, lease=etcd.NO_LEASE):
        self.calls.append(('put_all', sorted(values), lease))
        for key, value in values.items():
            self.keys[key] = (value, lease)

    def delete_all(self, keys):
        self.calls.append(('delete_all', sorted(keys)))
        for key in keys:
            self.keys.pop(key, None)

    def grant(self, ttl):
        self._next += 1
        lease = str(self._next)
        self.leases[lease] = [ttl, ttl]
        self.calls.append(('grant', ttl))
        return lease

    def time_to_live(self, lease):
        self.calls.append(('time_to_live', lease))
        if lease not in self.leases:
            return -1, 0, []
        remaining, granted = self.leases[lease]
        return remaining, granted, sorted(key for key, item in self.keys.items() if item[1] == lease)

    def keepalive(self, lease):
        self.calls.append(('keepalive', lease))
        if lease not in self.leases:
            return 0
        self.leases[lease][0] = self.leases[lease][1]
        return self.leases[lease][1]

    def revoke_if_unused(self, lease):
        self.calls.append(('revoke_if_unused', lease))
        remaining, _granted, keys = self.time_to_live(lease)
        if remaining > 0 and not keys:
            del self.leases[lease]
            return True
        return False

    def expire(self, lease):
        del self.leases[lease]
        self.keys = dict((key, item) for key, item in self.keys.items() if item[1] != lease)

    def writes(self):
        return [call for call in self.calls if call[0] in ('put_all', 'delete_all', 'grant', 'keepalive')]


WANTED = {'/skydns/web/i-1': {'host': '10.0.1.25', 'port': 8080}, '/meta/web/i-1': 'plain text'}


def test_values_are_encoded_as_the_module_always_wrote_them():
    assert etcd.encode('as is\n') == b'as is\n'
    assert etcd.encode({'port': 8080, 'host': 'a'}) == b'{"host":"a","port":8080}'
    assert etcd.encode(5) == b'5'
    assert etcd.same_value(b'{\n  "port": 8080, "host": "a"}', {'host': 'a', 'port': 8080})
    assert not etcd.same_value(b'{"host":"a"}', '{"host": "a"}')
    assert not etcd.same_value(b'\xff', {'a': 1})
    assert etcd.as_text(b'caf\xc3\xa9 \xff') == 'caf\xe9 \udcff'


@pytest.mark.parametrize('keys, message', [
    ({}, 'at least one key'),
    ({'': 'x'}, 'must not be empty'),
    ({'/a/i-1\n': 'x'}, "'/a/i-1\\n' holds a line break"),
    ({' /a': 'x'}, 'leading or trailing whitespace'),
    ({'/a': None}, 'Key /a has no value'),
])
def test_key_groups_are_checked_before_any_request(keys, message):
    with pytest.raises(etcd.EtcdError) as error:
        etcd.check_keys(keys, need_values=True)
    assert message in error.value.message


def test_lease_ttl_has_a_minimum():
    etcd.check_lease_ttl(None)
    etcd.check_lease_ttl(etcd.MIN_LEASE_TTL)
    with pytest.raises(etcd.EtcdError, match='at least 5 seconds; got 4'):
        etcd.check_lease_ttl(4)


@pytest.mark.parametrize('url', ['etcd:2379', 'ftp://etcd:2379', 'http://', None])
def test_a_url_that_is_not_http_is_refused(url):
    with pytest.raises(etcd.EtcdError, match='must look like http://HOST:2379'):
        etcd.EtcdClient(url)


def test_loopback_never_uses_a_proxy_and_use_proxy_false_is_honoured():
    assert etcd.EtcdClient('http://127.0.0.1:2379').use_proxy is False
    assert etcd.EtcdClient('http://[::1]:2379').use_proxy is False
    assert etcd.EtcdClient('http://etcd.internal:2379').use_proxy is True
    assert etcd.EtcdClient('http://etcd.internal:2379', use_proxy=False).use_proxy is False


def test_from_params_fills_in_the_defaults_a_keepalive_configuration_leaves_out():
    client = etcd.EtcdClient.from_params({'url': 'https://etcd.internal:2379/', 'keys': {}, 'lease_ttl': 9,
                                          'validate_certs': False})
    assert client.url == 'https://etcd.internal:2379'
    assert client.timeout == 10.0 and client.username is None
    assert client.tls == {'ca_path': None, 'client_cert': None, 'client_key': None, 'validate_certs': False}
    with pytest.raises(etcd.EtcdError, match='both username and password'):
        etcd.EtcdClient.from_params({'url': 'http://127.0.0.1:2379', 'username': 'registrar'})


def test_register_grants_one_lease_and_a_second_look_finds_it_registered():
    fake = FakeEtcd()
    assert etcd.is_registered(fake, WANTED, ttl=30) is False
    lease, revoked = etcd.register(fake, WANTED, ttl=30)
    assert revoked == []
    assert fake.keys == {key: (etcd.encode(value), lease) for key, value in WANTED.items()}
    assert etcd.is_registered(fake, WANTED, ttl=30) is True
    # Another TTL is another registration.
    assert etcd.is_registered(fake, WANTED, ttl=60) is False


def test_a_changed_value_is_rewritten_on_the_live_lease():
    fake = FakeEtcd()
    lease, _revoked = etcd.register(fake, WANTED, ttl=30)
    fake.keys['/skydns/web/i-1'] = (b'{"host":"10.9.9.9"}', lease)
    del fake.calls[:]
    assert etcd.register(fake, WANTED, ttl=30) == (lease, [])
    assert ('grant', 30) not in fake.calls
    assert fake.keys['/skydns/web/i-1'] == (etcd.encode(WANTED['/skydns/web/i-1']), lease)


def test_keep_alive_renews_the_live_lease_and_writes_nothing():
    fake = FakeEtcd()
    lease, _revoked = etcd.register(fake, WANTED, ttl=30)
    fake.leases[lease][0] = 3
    del fake.calls[:]
    assert etcd.keep_alive(fake, WANTED, 30, known=lease) == ('renewed', lease)
    assert fake.writes() == [('keepalive', lease)]
    assert fake.leases[lease] == [30, 30]


def test_keep_alive_registers_again_when_the_lease_expired_and_revokes_what_it_knew():
    fake = FakeEtcd()
    lease, _revoked = etcd.register(fake, WANTED, ttl=30)
    fake.expire(lease)
    outcome, new = etcd.keep_alive(fake, WANTED, 30, known=lease)
    assert outcome == 're-registered 2 key(s) on lease %s' % new and new != lease
    assert set(item[1] for item in fake.keys.values()) == {new}


def test_keep_alive_revokes_the_known_lease_when_the_keys_were_deleted_behind_its_back():
    fake = FakeEtcd()
    lease, _revoked = etcd.register(fake, WANTED, ttl=30)
    fake.delete_all(list(WANTED))
    _outcome, new = etcd.keep_alive(fake, WANTED, 30, known=lease)
    assert new != lease and lease not in fake.leases
    assert ('revoke_if_unused', lease) in fake.calls


def test_deregister_deletes_what_exists_and_revokes_only_unused_leases():
    fake = FakeEtcd()
    lease, _revoked = etcd.register(fake, WANTED, ttl=30)
    fake.keys['/foreign'] = (b'x', lease)
    existing, revoked = etcd.deregister(fake, list(WANTED) + ['/never-there'])
    assert sorted(existing) == sorted(WANTED) and revoked == []
    assert list(fake.keys) == ['/foreign']
    assert etcd.deregister(fake, list(WANTED)) == ({}, [])


def test_apply_in_check_mode_reads_only():
    fake = FakeEtcd()
    result, diff = etcd.apply(fake, WANTED, 'present', ttl=30, check_mode=True)
    assert result['changed'] is True and result['lease'] == {'id': None, 'ttl': 30}
    assert result['written'] == result['keys'] == diff['after']
    assert diff['before'] == {}
    assert fake.writes() == [] and fake.keys == {}
