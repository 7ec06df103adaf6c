"""botocore's own IMDS fetchers, an independent real client, against the emulator."""
import pytest

botocore_utils = pytest.importorskip("botocore.utils")
from botocore.exceptions import MetadataRetrievalError  # noqa: E402  pylint: disable=wrong-import-position


def credentials_fetcher(emulator, **kwargs):
    return botocore_utils.InstanceMetadataFetcher(timeout=1, num_attempts=1, base_url=emulator.url, **kwargs)


def region_fetcher(emulator, **kwargs):
    return botocore_utils.InstanceMetadataRegionFetcher(timeout=1, num_attempts=1, base_url=emulator.url, **kwargs)


def role_credentials(emulator):
    return emulator.instance["meta-data"]["iam"]["security-credentials"]["web-server-role"]


def test_imdsv2_credentials(emu):
    creds = credentials_fetcher(emu).retrieve_iam_role_credentials()
    expected = role_credentials(emu)
    assert creds["role_name"] == "web-server-role"
    assert creds["access_key"] == expected["AccessKeyId"]
    assert creds["secret_key"] == expected["SecretAccessKey"]
    assert creds["token"] == expected["Token"]
    assert creds["expiry_time"] == expected["Expiration"]
    assert [(r.method, r.status, r.had_token) for r in emu.requests] == [
        ("PUT", 200, False), ("GET", 200, True), ("GET", 200, True)]


def test_imdsv2_region(emu):
    assert region_fetcher(emu).retrieve_region() == "eu-west-1"
    assert emu.count("GET", "/latest/meta-data/placement/availability-zone/") == 1


def test_falls_back_to_v1_on_an_imds_without_v2(make_emulator):
    emulator = make_emulator(no_imdsv2=True, http_tokens="optional")
    assert credentials_fetcher(emulator).retrieve_iam_role_credentials()["role_name"] == "web-server-role"
    assert region_fetcher(emulator).retrieve_region() == "eu-west-1"
    puts = [r for r in emulator.requests if r.method == "PUT"]
    assert [r.status for r in puts] == [404, 404]
    assert not any(r.had_token for r in emulator.requests)


def test_v1_disabled_by_config_fails_without_v2(make_emulator):
    emulator = make_emulator(no_imdsv2=True, http_tokens="optional")
    fetcher = credentials_fetcher(emulator, config={"ec2_metadata_v1_disabled": True})
    with pytest.raises(MetadataRetrievalError):
        fetcher.retrieve_iam_role_credentials()
    assert emulator.count("GET") == 0


def test_hop_limit_times_out_the_token_put_then_v1_works_when_optional(make_emulator):
    emulator = make_emulator(client_hops=2, http_tokens="optional")
    fetcher = botocore_utils.InstanceMetadataFetcher(timeout=0.3, num_attempts=1, base_url=emulator.url)
    creds = fetcher.retrieve_iam_role_credentials()
    assert creds["role_name"] == "web-server-role"
    assert emulator.requests[0].method == "PUT" and emulator.requests[0].status is None
    assert [r.had_token for r in emulator.requests[1:]] == [False, False]


def test_hop_limit_with_required_tokens_leaves_botocore_without_credentials(make_emulator):
    emulator = make_emulator(client_hops=2)
    fetcher = botocore_utils.InstanceMetadataFetcher(timeout=0.3, num_attempts=1, base_url=emulator.url)
    assert fetcher.retrieve_iam_role_credentials() == {}
    assert [r.status for r in emulator.requests] == [None, 401]


def test_botocore_retries_through_a_throttled_token_put(make_emulator):
    emulator = make_emulator(throttle=1, fault_path="token")
    fetcher = botocore_utils.InstanceMetadataFetcher(timeout=1, num_attempts=2, base_url=emulator.url)
    assert fetcher.retrieve_iam_role_credentials()["role_name"] == "web-server-role"
    assert [r.status for r in emulator.requests if r.method == "PUT"] == [429, 200]


def test_disabled_endpoint_gives_botocore_nothing(make_emulator):
    emulator = make_emulator(http_endpoint="disabled", http_tokens="optional")
    assert credentials_fetcher(emulator).retrieve_iam_role_credentials() == {}
    assert region_fetcher(emulator).retrieve_region() is None
