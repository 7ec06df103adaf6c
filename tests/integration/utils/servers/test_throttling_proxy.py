"""The throttling proxy answers like AWS under a burst, and botocore's retry modes get through it.

Real moto_server behind the proxy; boto3 clients as the modules build them.
"""
import json
import os
import sys
import urllib.request

import boto3
import botocore.config
import botocore.exceptions
import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "utils"))

from servers import aws  # noqa: E402
from servers.throttling_proxy import ThrottlingProxy  # noqa: E402


@pytest.fixture
def proxy(moto_server):
    started = []

    def start(**options):
        started.append(ThrottlingProxy(moto_server, **options).start())
        return started[-1]
    yield start
    for one in started:
        one.stop()


def client(service, url, attempts):
    """A client making at most ATTEMPTS attempts per call.

    In Config's retries, max_attempts counts retries (botocore keeps its old
    meaning there) and total_max_attempts counts attempts, as AWS_MAX_ATTEMPTS does.
    """
    retries = {"mode": "standard", "total_max_attempts": attempts}
    return boto3.client(service, endpoint_url=url, region_name=aws.REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=botocore.config.Config(retries=retries, proxies={}))


CALLS = {
    "elbv2": (lambda c: c.describe_target_groups(), "Throttling", 400),
    "ec2": (lambda c: c.describe_instances(), "RequestLimitExceeded", 503),
    "servicediscovery": (lambda c: c.list_namespaces(), "RequestLimitExceeded", 429),
}


@pytest.mark.parametrize("service", sorted(CALLS))
def test_a_budget_above_the_throttled_attempts_gets_through(proxy, service):
    throttling = proxy(share=1.0, attempts=2)
    call, _code, _status = CALLS[service]
    call(client(service, throttling.url, attempts=3))
    total = throttling.stats()["total"]
    assert total == {"calls": 3, "throttled": 2}


@pytest.mark.parametrize("service", sorted(CALLS))
def test_a_budget_too_small_fails_with_the_services_own_throttling_error(proxy, service):
    throttling = proxy(share=1.0, attempts=2)
    call, code, status = CALLS[service]
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(client(service, throttling.url, attempts=2))
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 1


def test_the_share_is_deterministic_for_a_seed_and_counted_per_operation(proxy):
    runs = []
    for _run in range(2):
        throttling = proxy(share=0.5, attempts=1, seed=7)
        elbv2 = client("elbv2", throttling.url, attempts=2)
        for number in range(20):
            elbv2.describe_load_balancers(PageSize=number + 1)
        runs.append(throttling.stats())
    assert runs[0] == runs[1]
    operation = runs[0]["elasticloadbalancing"]["DescribeLoadBalancers"]
    assert 0 < operation["throttled"] < 20 and operation["calls"] == 20 + operation["throttled"]


def test_stats_over_http_for_other_processes(proxy):
    throttling = proxy(share=0.0)
    client("elbv2", throttling.url, attempts=1).describe_target_groups()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(throttling.url + "/_proxy/stats", timeout=30) as answer:
        stats = json.load(answer)
    assert stats["elasticloadbalancing"]["DescribeTargetGroups"] == {"calls": 1, "throttled": 0}
