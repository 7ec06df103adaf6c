"""cloudmeta.imds.etcd_keys run in-process against a real etcd 3.4 on loopback.

One etcd serves the whole module (tests/utils/servers/etcd.py); each test
writes under a key prefix of its own. Auth and TLS tests start their own
etcd. Expectations are read back through the gateway with plain urllib.
"""
import json
import os
import sys
import time

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))

from servers.common import free_port  # noqa: E402
from servers.etcd import Etcd  # noqa: E402
from servers.fixtures import etcd, key_prefix, run_module  # noqa: E402,F401  pylint: disable=unused-import
from servers.pki import make_pki  # noqa: E402

from ansible_collections.cloudmeta.imds.plugins.modules import etcd_keys as module  # noqa: E402


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    for name in ('http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY',
                 'no_proxy', 'NO_PROXY'):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def keys(key_prefix):  # pylint: disable=redefined-outer-name
    """A SkyDNS record and a metadata key under the test's prefix."""
    return {
        key_prefix + 'skydns/web/i-0123456789abcdef0': {'host': '10.0.1.25', 'port': 8080, 'ttl': 30},
        key_prefix + 'meta/web/i-0123456789abcdef0': {'availability_zone': 'eu-west-1a', 'subnet_id': 'subnet-1'},
    }


def args(etcd, keys, **extra):  # pylint: disable=redefined-outer-name
    base = dict(url=etcd.url, keys=keys)
    base.update(extra)
    return base


def stored(etcd, keys):  # pylint: disable=redefined-outer-name
    """{key: (parsed JSON value, lease)} of the keys that exist."""
    result = {}
    for key in keys:
        item = etcd.get(key)
        if item is not None:
            result[key] = (json.loads(item[0]), item[1])
    return result


# ---------------------------------------------------------------------------
# without a lease
# ---------------------------------------------------------------------------

def test_writes_the_keys_as_json_once(run_module, etcd, keys):
    first = run_module(module, **args(etcd, keys))
    second = run_module(module, **args(etcd, keys))

    assert first['changed'] is True
    assert first['lease'] is None
    assert stored(etcd, keys) == {key: (value, '0') for key, value in keys.items()}
    assert etcd.get(next(iter(keys)))[0] == '{"host":"10.0.1.25","port":8080,"ttl":30}'
    assert second['changed'] is False


def test_a_changed_value_is_rewritten(run_module, etcd, keys):
    run_module(module, **args(etcd, keys))
    skydns = next(iter(keys))
    changed = dict(keys)
    changed[skydns] = dict(keys[skydns], port=9090)

    result = run_module(module, _diff=True, **args(etcd, changed))

    assert result['changed'] is True
    assert json.loads(result['diff']['before'][skydns])['port'] == 8080
    assert json.loads(result['diff']['after'][skydns])['port'] == 9090
    assert stored(etcd, keys)[skydns][0]['port'] == 9090


def test_json_written_by_someone_else_with_other_spacing_counts_as_equal(run_module, etcd, keys):
    for key, value in keys.items():
        etcd.put(key, json.dumps(value, indent=2))
    assert run_module(module, **args(etcd, keys))['changed'] is False


def test_string_values_are_written_verbatim(run_module, etcd, key_prefix):  # pylint: disable=redefined-outer-name
    result = run_module(module, url=etcd.url, keys={key_prefix + 'plain': 'hello world'})
    assert result['changed'] is True
    assert etcd.get(key_prefix + 'plain') == ('hello world', '0')


def test_check_mode_writes_nothing(run_module, etcd, keys):
    result = run_module(module, _check_mode=True, **args(etcd, keys, lease_ttl=30))
    assert result['changed'] is True
    assert result['lease'] == {'id': None, 'ttl': 30}
    assert stored(etcd, keys) == {}

    run_module(module, **args(etcd, keys))
    removal = run_module(module, _check_mode=True, **args(etcd, keys, state='absent'))
    assert removal['changed'] is True
    assert set(stored(etcd, keys)) == set(keys)


# ---------------------------------------------------------------------------
# leases
# ---------------------------------------------------------------------------

def test_keys_share_one_lease_with_the_ttl(run_module, etcd, keys):
    result = run_module(module, **args(etcd, keys, lease_ttl=30))

    lease = result['lease']['id']
    assert result['lease']['ttl'] == 30
    assert {item[1] for item in stored(etcd, keys).values()} == {lease}
    remaining, granted, attached = etcd.lease(lease)
    assert granted == 30 and 0 < remaining <= 30
    assert attached == sorted(keys)


def test_rerun_keeps_the_lease_and_renews_it_without_reporting_a_change(run_module, etcd, keys):
    first = run_module(module, **args(etcd, keys, lease_ttl=30))
    lease = first['lease']['id']
    # Wait (however long the machine needs) until the lease has visibly run down.
    deadline = time.monotonic() + 120
    while etcd.lease(lease)[0] > 26 and time.monotonic() < deadline:
        time.sleep(0.2)
    before_rerun = etcd.lease(lease)[0]

    second = run_module(module, **args(etcd, keys, lease_ttl=30))

    assert second['changed'] is False
    assert second['lease']['id'] == lease
    assert 0 < before_rerun <= 26
    # The same lease went back up: the re-run renewed it.
    assert etcd.lease(lease)[0] > before_rerun


def test_a_new_ttl_moves_the_keys_to_a_new_lease_and_revokes_the_old_one(run_module, etcd, keys):
    old = run_module(module, **args(etcd, keys, lease_ttl=30))['lease']['id']

    result = run_module(module, **args(etcd, keys, lease_ttl=60))

    new = result['lease']['id']
    assert result['changed'] is True
    assert new != old
    assert result['revoked_leases'] == [old]
    assert etcd.lease(old)[0] == -1
    assert {item[1] for item in stored(etcd, keys).values()} == {new}


def test_changed_values_keep_the_live_lease(run_module, etcd, keys):
    lease = run_module(module, **args(etcd, keys, lease_ttl=30))['lease']['id']
    changed = {key: dict(value, extra='x') for key, value in keys.items()}

    result = run_module(module, **args(etcd, changed, lease_ttl=30))

    assert result['changed'] is True
    assert result['lease']['id'] == lease
    assert result['revoked_leases'] == []


def test_an_expired_lease_is_replaced_and_the_keys_come_back(run_module, etcd, keys):
    first = run_module(module, **args(etcd, keys, lease_ttl=5))
    etcd.call('lease/revoke', {'ID': first['lease']['id']})
    assert stored(etcd, keys) == {}

    second = run_module(module, **args(etcd, keys, lease_ttl=5))

    assert second['changed'] is True
    assert second['lease']['id'] != first['lease']['id']
    assert set(stored(etcd, keys)) == set(keys)


def test_dropping_the_lease_rewrites_the_keys_without_one_and_revokes_it(run_module, etcd, keys):
    lease = run_module(module, **args(etcd, keys, lease_ttl=30))['lease']['id']

    result = run_module(module, **args(etcd, keys))

    assert result['changed'] is True
    assert result['revoked_leases'] == [lease]
    assert {item[1] for item in stored(etcd, keys).values()} == {'0'}
    assert run_module(module, **args(etcd, keys))['changed'] is False


def test_without_renewal_the_keys_expire(run_module, etcd, keys):
    run_module(module, **args(etcd, keys, lease_ttl=5))
    deadline = time.monotonic() + 120
    while stored(etcd, keys) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert stored(etcd, keys) == {}


def test_a_lease_shared_with_other_keys_is_not_revoked(run_module, etcd, keys, key_prefix):  # noqa: F811
    lease = run_module(module, **args(etcd, keys, lease_ttl=30))['lease']['id']
    etcd.put(key_prefix + 'foreign', 'not ours', lease=lease)

    result = run_module(module, **args(etcd, keys, state='absent'))

    assert result['changed'] is True
    assert result['revoked_leases'] == []
    assert stored(etcd, keys) == {}
    assert etcd.get(key_prefix + 'foreign') == ('not ours', lease)


def test_lease_ttl_below_the_minimum_is_refused(run_module, etcd, keys):
    result = run_module(module, **args(etcd, keys, lease_ttl=2))
    assert result.failed
    assert 'at least 5' in result['msg']


@pytest.mark.parametrize('suffix', ['\n', ' ', '\r\n'])
@pytest.mark.parametrize('state', ['present', 'absent'])
def test_a_key_built_from_a_newline_terminated_value_is_refused(run_module, etcd, key_prefix, state, suffix):
    # The instance ID as an IMDS serving "i-0123456789abcdef0\\n" would give it.
    bad = key_prefix + 'skydns/web/i-0123456789abcdef0' + suffix
    result = run_module(module, **args(etcd, {bad: {'host': '10.0.1.25', 'port': 8080}}, state=state))
    assert result.failed
    assert repr(bad) in result['msg']
    assert etcd.prefix(key_prefix) == {}


# ---------------------------------------------------------------------------
# absent
# ---------------------------------------------------------------------------

def test_absent_deletes_the_keys_revokes_the_lease_and_tolerates_already_gone(run_module, etcd, keys):
    lease = run_module(module, **args(etcd, keys, lease_ttl=30))['lease']['id']
    names_only = dict.fromkeys(keys)

    removed = run_module(module, _diff=True, **args(etcd, names_only, state='absent'))
    again = run_module(module, **args(etcd, names_only, state='absent'))

    assert removed['changed'] is True
    assert removed['written'] == removed['keys'] == {}
    assert removed['revoked_leases'] == [lease]
    assert set(removed['diff']['before']) == set(keys) and removed['diff']['after'] == {}
    assert stored(etcd, keys) == {}
    assert etcd.lease(lease)[0] == -1
    assert again['changed'] is False


def test_present_needs_values(run_module, etcd, key_prefix):  # pylint: disable=redefined-outer-name
    result = run_module(module, url=etcd.url, keys={key_prefix + 'a': None})
    assert result.failed
    assert 'has no value' in result['msg']


# ---------------------------------------------------------------------------
# connection errors and proxies
# ---------------------------------------------------------------------------

def test_unreachable_etcd_is_explained(run_module, keys):
    result = run_module(module, url='http://127.0.0.1:%d' % free_port(), keys=keys, timeout=2)
    assert result.failed
    assert 'Cannot reach etcd' in result['msg']


def test_a_url_that_is_not_etcd_is_explained(run_module, keys):
    from servers.web import Web
    web = Web('not-etcd', free_port()).start()
    try:
        result = run_module(module, url='http://127.0.0.1:%d' % web.port, keys=keys)
    finally:
        web.stop()
    assert result.failed
    assert 'etcd' in result['msg']


def test_loopback_never_goes_through_a_proxy(run_module, etcd, keys, monkeypatch):
    dead = 'http://127.0.0.1:%d' % free_port()
    monkeypatch.setenv('http_proxy', dead)
    monkeypatch.setenv('HTTP_PROXY', dead)
    assert run_module(module, **args(etcd, keys))['changed'] is True


def test_a_remote_etcd_honours_the_proxy_unless_use_proxy_is_off(run_module, etcd, keys, monkeypatch):
    # etcd.invalid never resolves, so only a proxy can reach it. etcd itself
    # plays the proxy: it serves absolute-URI requests by their path.
    monkeypatch.setenv('http_proxy', etcd.url)
    monkeypatch.setenv('HTTP_PROXY', etcd.url)
    url = 'http://etcd.invalid:%d' % etcd.client_port

    through_proxy = run_module(module, url=url, keys=keys, timeout=3)
    direct = run_module(module, url=url, keys=keys, use_proxy=False, timeout=3)

    assert through_proxy['changed'] is True, through_proxy
    assert set(stored(etcd, keys)) == set(keys)
    assert direct.failed
    assert 'Cannot reach etcd' in direct['msg']


# ---------------------------------------------------------------------------
# auth and TLS (own servers)
# ---------------------------------------------------------------------------

@pytest.fixture(scope='module')
def secured_etcd(tmp_path_factory):
    """etcd over TLS with client certificates and auth: user 'registrar' may write /allowed/ only."""
    workdir = tmp_path_factory.mktemp('etcd-secured')
    pki = make_pki(str(workdir / 'pki'))
    server = Etcd(workdir, tls=pki).start()
    server.enable_auth({'registrar': ('s3cret', ['/allowed/'])})
    yield server, pki
    server.stop()


def secured_args(secured, **extra):
    server, pki = secured
    base = dict(url=server.url, ca_path=pki['ca'], client_cert=pki['client_cert'], client_key=pki['client_key'],
                username='registrar', password='s3cret', keys={'/allowed/web/i-1': {'host': '10.0.0.1'}})
    base.update(extra)
    return base


def test_auth_and_tls_with_client_certificate(run_module, secured_etcd):
    server, _pki = secured_etcd
    first = run_module(module, **secured_args(secured_etcd, lease_ttl=30))
    second = run_module(module, **secured_args(secured_etcd, lease_ttl=30))
    removed = run_module(module, **secured_args(secured_etcd, state='absent'))

    assert first['changed'] is True, first
    assert second['changed'] is False
    assert removed['changed'] is True
    assert removed['revoked_leases'] == [first['lease']['id']]
    assert server.get('/allowed/web/i-1') is None


def test_the_password_never_appears_in_the_result(run_module, secured_etcd):
    result = run_module(module, **secured_args(secured_etcd))
    assert 's3cret' not in json.dumps(result)


def test_wrong_password_is_explained(run_module, secured_etcd):
    result = run_module(module, **secured_args(secured_etcd, password='wrong'))
    assert result.failed
    assert 'rejected the username or password' in result['msg']


def test_missing_credentials_are_explained(run_module, secured_etcd):
    result = run_module(module, **secured_args(secured_etcd, username=None, password=None))
    assert result.failed
    assert 'requires authentication' in result['msg']


def test_permission_denied_names_the_user(run_module, secured_etcd):
    result = run_module(module, **secured_args(secured_etcd, keys={'/elsewhere/x': 'y'}))
    assert result.failed
    assert 'denied' in result['msg'] and 'registrar' in result['msg']


def test_unknown_ca_is_explained_and_validate_certs_false_skips_the_check(run_module, secured_etcd):
    unverified = run_module(module, **secured_args(secured_etcd, ca_path=None))
    assert unverified.failed
    assert 'ca_path' in unverified['msg']

    skipped = run_module(module, **secured_args(secured_etcd, ca_path=None, validate_certs=False))
    assert not skipped.failed, skipped


def test_missing_client_certificate_fails(run_module, secured_etcd):
    result = run_module(module, **secured_args(secured_etcd, client_cert=None, client_key=None))
    assert result.failed
    assert 'client certificate' in result['msg']
