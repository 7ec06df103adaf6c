"""The register_instance role's elbv2 and cloudmap backends under AWS throttling, and what one instance costs.

ansible-playbook runs the role on localhost against the IMDS emulator on
127.0.0.1 (register_instance_imds_endpoint, and AWS_EC2_METADATA_SERVICE_ENDPOINT
for boto3's instance-profile credentials: no keys in the environment), and
against moto_server behind tests/utils/servers/throttling_proxy.py, which
answers a share of the calls with each API's real throttling error. Nothing
leaves loopback.

Each run records what it cost: AWS calls answered (the proxy's counts minus
its throttling answers) and IMDS requests (the emulator's request log), per
registration and deregistration; docs/register_instance.md ("Cost per
instance") records the numbers asserted here.
"""
import collections
import json
import os
import re
import subprocess
import sys
import uuid

import pytest

from collection_path import REPO_ROOT
from playbook_runner import BIN_DIR, playbook_env

sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "utils"))
from servers import aws as aws_lab  # noqa: E402  pylint: disable=wrong-import-position
from servers.throttling_proxy import ThrottlingProxy  # noqa: E402  pylint: disable=wrong-import-position

RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# Credentials and settings the runs must not pick up from the test's environment.
SCRUBBED = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE", "AWS_EC2_METADATA_DISABLED", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
            "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


@pytest.fixture
def lab(moto_server, make_emulator):
    """Target groups and a Cloud Map service of this test's own in moto, and the emulator's instance in their VPC."""
    ec2 = aws_lab.client(moto_server, "ec2")
    elbv2 = aws_lab.client(moto_server, "elbv2")
    cloudmap = aws_lab.client(moto_server, "servicediscovery")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.%d.0/24" % n)["Subnet"]["SubnetId"] for n in (1, 2)]
    mark = uuid.uuid4().hex[:10]

    def target_group(target_type):
        return elbv2.create_target_group(Name="burst-%s-%s" % (target_type, mark), Protocol="HTTP", Port=8080,
                                         VpcId=vpc, TargetType=target_type)["TargetGroups"][0]["TargetGroupArn"]

    operation = cloudmap.create_http_namespace(Name="burst-%s" % mark)["OperationId"]
    namespace = cloudmap.get_operation(OperationId=operation)["Operation"]["Targets"]["NAMESPACE"]
    data = aws_lab.instance_in({"vpc_id": vpc, "subnet_id": subnets[0], "subnet_id_secondary": subnets[1]})
    return {
        "moto": moto_server,
        "elbv2": elbv2,
        "cloudmap": cloudmap,
        "target_groups": {"instance": target_group("instance"), "ip": target_group("ip")},
        "service_id": cloudmap.create_service(Name="web", NamespaceId=namespace)["Service"]["Id"],
        "emulator": make_emulator(data),
        "metadata": data["meta-data"],
    }


@pytest.fixture
def throttle(lab):
    started = []

    # Seed 7 chooses the first two distinct requests of a run (and others): a
    # role run makes only four or five, so throttling is certain, not luck.
    def start(share, attempts=2):
        started.append(ThrottlingProxy(lab["moto"], share=share, attempts=attempts, seed=7).start())
        return started[-1]

    yield start
    for proxy in started:
        proxy.stop()


class Run:
    """One ansible-playbook run: output, recap, and what it cost."""

    def __init__(self, completed, aws_calls, imds):
        self.output = completed.stdout
        self.rc = completed.returncode
        match = RECAP.search(self.output)
        assert match, self.output
        self.changed, self.failed = int(match.group(2)), int(match.group(4))
        self.aws_calls = aws_calls
        self.imds = imds


def imds_cost(requests):
    """The emulator's requests, by who made them: the role's discovery, or boto3 fetching credentials."""
    cost = collections.Counter()
    for request in requests:
        if request.method == "PUT":
            cost["token"] += 1
        elif "/iam/security-credentials" in request.path:
            cost["credentials"] += 1
        else:
            cost["discovery"] += 1
    return dict(cost)


def answered(stats):
    return {(service, operation): counts["calls"] - counts["throttled"]
            for service, operations in stats.items() if service != "total"
            for operation, counts in operations.items()}


def run_role(tmp_path, lab, proxy, variables, module_defaults=None):
    index = len(list(tmp_path.glob("*.vars.json")))
    play = {"name": "register_instance under a burst", "hosts": "localhost", "gather_facts": False,
            "tasks": [{"name": "Run the role", "ansible.builtin.include_role": {"name": "cloudmeta.imds.register_instance"}}]}
    if module_defaults:
        play["module_defaults"] = module_defaults
    playbook = tmp_path / ("%d.yml" % index)
    playbook.write_text(json.dumps([play]))
    vars_file = tmp_path / ("%d.vars.json" % index)
    vars_file.write_text(json.dumps(dict(variables, register_instance_port=8080,
                                         register_instance_imds_endpoint=lab["emulator"].url,
                                         ansible_python_interpreter=sys.executable)))
    env = playbook_env({
        "AWS_ENDPOINT_URL": proxy.url,
        # boto3 reaches the emulator for the instance profile's credentials, as on EC2 it reaches IMDS.
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": lab["emulator"].url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "no_proxy": "127.0.0.1",
    })
    for name in SCRUBBED:
        env.pop(name, None)
    before = answered(proxy.stats())
    lab["emulator"].reset_counters()
    completed = subprocess.run(
        [os.path.join(BIN_DIR, "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", "@" + str(vars_file),
         str(playbook)],
        env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
        check=False)
    after = answered(proxy.stats())
    calls = {key[1]: count - before.get(key, 0) for key, count in after.items() if count != before.get(key, 0)}
    return Run(completed, calls, imds_cost(lab["emulator"].requests))


def targets(lab, target_type):
    arn = lab["target_groups"][target_type]
    return sorted((item["Target"]["Id"], item["Target"]["Port"])
                  for item in lab["elbv2"].describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"])


# metadata_facts with the role's subset (min, placement, network) on the
# built-in instance, which has two network interfaces: the identity
# document, placement, and every interface's leaves.
DISCOVERY_GETS = 52


def assert_imds_cost(run):
    # One token for the discovery, one for boto3 in the module's process;
    # boto3 lists the instance profile's role, then reads its credentials.
    assert run.imds == {"token": 2, "discovery": DISCOVERY_GETS, "credentials": 2}, run.imds


@pytest.mark.parametrize("target_type", ["instance", "ip"])
def test_elbv2_registration_survives_throttling_and_costs_what_the_docs_say(tmp_path, lab, throttle, target_type):
    proxy = throttle(share=0.4)
    variables = {"register_instance_backend": "elbv2", "register_instance_elbv2_target_type": target_type,
                 "register_instance_elbv2_target_group_arn": lab["target_groups"][target_type]}
    target = (lab["metadata"]["instance-id"] if target_type == "instance"
              else lab["metadata"]["local-ipv4"])

    first = run_role(tmp_path, lab, proxy, variables)
    assert targets(lab, target_type) == [(target, 8080)]
    again = run_role(tmp_path, lab, proxy, variables)
    gone = run_role(tmp_path, lab, proxy, dict(variables, register_instance_state="absent"))

    assert (first.rc, first.changed) == (0, 1), first.output
    assert (again.rc, again.changed) == (0, 0), again.output
    assert (gone.rc, gone.changed) == (0, 1), gone.output
    assert targets(lab, target_type) == []
    assert proxy.stats()["total"]["throttled"] > 0, (proxy.stats(), first.aws_calls)
    assert first.aws_calls == {"DescribeTargetGroups": 1, "DescribeTargetHealth": 2, "RegisterTargets": 1}
    assert again.aws_calls == {"DescribeTargetGroups": 1, "DescribeTargetHealth": 1}
    assert gone.aws_calls == {"DescribeTargetGroups": 1, "DescribeTargetHealth": 2, "DeregisterTargets": 1}
    for run in (first, again, gone):
        assert_imds_cost(run)


def test_cloudmap_registration_survives_throttling_and_costs_what_the_docs_say(tmp_path, lab, throttle):
    proxy = throttle(share=0.4)
    variables = {"register_instance_backend": "cloudmap", "register_instance_cloudmap_service_id": lab["service_id"]}

    first = run_role(tmp_path, lab, proxy, variables)
    assert [item["Id"] for item in lab["cloudmap"].list_instances(ServiceId=lab["service_id"])["Instances"]] == [
        lab["metadata"]["instance-id"]]
    again = run_role(tmp_path, lab, proxy, variables)
    gone = run_role(tmp_path, lab, proxy, dict(variables, register_instance_state="absent"))

    assert (first.rc, first.changed) == (0, 1), first.output
    assert (again.rc, again.changed) == (0, 0), again.output
    assert (gone.rc, gone.changed) == (0, 1), gone.output
    assert lab["cloudmap"].list_instances(ServiceId=lab["service_id"])["Instances"] == []
    assert proxy.stats()["total"]["throttled"] > 0
    assert first.aws_calls == {"GetInstance": 1, "RegisterInstance": 1, "GetOperation": 1}
    assert again.aws_calls == {"GetInstance": 1}
    assert gone.aws_calls == {"GetInstance": 1, "DeregisterInstance": 1, "GetOperation": 1}
    for run in (first, again, gone):
        assert_imds_cost(run)


def test_a_budget_too_small_set_once_for_the_group_fails_naming_it(tmp_path, lab, throttle):
    proxy = throttle(share=1.0, attempts=2)
    variables = {"register_instance_backend": "elbv2",
                 "register_instance_elbv2_target_group_arn": lab["target_groups"]["instance"]}
    run = run_role(tmp_path, lab, proxy, variables,
                   module_defaults={"group/cloudmeta.imds.aws": {"aws_max_attempts": 2}})
    assert run.rc != 0 and run.failed == 1, run.output
    assert "AWS throttled or failed all 2 attempts of this call" in run.output
    assert "Raise aws_max_attempts (now 2; environment AWS_MAX_ATTEMPTS)" in run.output
    assert targets(lab, "instance") == []
