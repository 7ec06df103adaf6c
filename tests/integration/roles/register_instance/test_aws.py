"""The register_instance role with the elbv2 and cloudmap backends, run by ansible-playbook against moto_server.

The tests of this file share one session in a fresh network namespace
(playbook_runner.run_in_netns), started once for the module: the emulator
serves the built-in instance at the default metadata address,
tests/utils/servers/lab.py --aws starts moto_server on loopback with the
VPCs, and each test gets target groups and Cloud Map services of its own
(so no test sees another's registrations) and its own series of
ansible-playbook runs, each one followed by a snapshot of what moto holds of
that test's resources, and the requests moto received during its runs. The
playbooks get no AWS keys and no shared AWS files: boto3 must find the
instance profile's credentials through IMDS, as on EC2.

moto makes up its own VPC IDs, so for elbv2 the lab also runs a second
emulator whose instance sits in moto's VPC, and the role discovers from it
(register_instance_imds_endpoint). Expected values come from the emulators'
instance data, never from the module under test.
"""
import json
import os
import re
import shlex
import sys

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "utils"))
import imds_emulator  # noqa: E402
from playbook_runner import BIN_DIR, run_in_netns  # noqa: E402
from servers import aws as aws_lab  # noqa: E402  pylint: disable=wrong-import-position

LAB = os.path.join(REPO_ROOT, "tests", "utils", "servers", "lab.py")
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# The play prints the backend's result on a line of its own (a debug task: no module run to save it to a file).
RESULT_MARKER = "REGISTER-INSTANCE-RESULT "
RESULT_LINE = re.compile(r'^\s*"msg": "%s.*"$' % RESULT_MARKER, re.M)

BUILTIN = imds_emulator.builtin_instance()
METADATA = BUILTIN["meta-data"]
PRIMARY = next(eni for eni in METADATA["network"]["interfaces"]["macs"].values() if eni["device-number"] == "0")
PROFILE = next(iter(METADATA["iam"]["security-credentials"].values()))

# Run inside the namespace once the lab is up: for each test directory given, target groups (like the lab's)
# and Cloud Map services (in the lab's namespace) of that test's own, and its view of the lab (DIR/lab.json:
# the lab's description with these in place of the lab's), which its playbooks and snapshots read.
OWN_RESOURCES = """
import json, os, sys
sys.path.insert(0, %r)
from servers import aws
with open(sys.argv[1], encoding='utf-8') as handle:
    lab = json.load(handle)
elbv2 = aws.client(lab['moto_url'], 'elbv2')
cloudmap = aws.client(lab['moto_url'], 'servicediscovery')
for index, directory in enumerate(sys.argv[2:]):
    def group(kind, vpc, target_type, port=80):
        return elbv2.create_target_group(Name='t%%d-%%s' %% (index, kind), Protocol='HTTP', Port=port, VpcId=vpc,
                                         TargetType=target_type)['TargetGroups'][0]['TargetGroupArn']
    def service(kind):
        return cloudmap.create_service(Name='%%s-%%d' %% (kind, index),
                                       NamespaceId=lab['cloudmap_namespace_id'])['Service']['Id']
    view = dict(lab, target_groups={'instance': group('instance', lab['vpc_id'], 'instance'),
                                    'ip': group('ip', lab['vpc_id'], 'ip', port=8080),
                                    'other_vpc': group('elsewhere', lab['other_vpc_id'], 'instance')},
                cloudmap_service_id=service('web'), cloudmap_other_service_id=service('api'))
    with open(os.path.join(directory, 'lab.json'), 'w', encoding='utf-8') as handle:
        json.dump(view, handle)
""" % os.path.join(REPO_ROOT, "tests", "utils")

# {test name: (backend, runs)}: what each test runs in the shared session (see session_of).
SESSIONS = {}


def session_of(backend, runs):
    """Register the test's ansible-playbook RUNS ({'vars': {...}, 'args': [...], 'env': {...}} each) for BACKEND.

    Values in 'vars' may name entries of the test's view of the lab as '@lab:key' or '@lab:key.subkey'.
    """
    def register(test):
        SESSIONS[test.__name__] = (backend, runs)
        return test
    return register


class Run(object):
    """One ansible-playbook run of a test: output, recap, the backend's result and moto's state after it."""

    def __init__(self, directory, index):
        def read(name):
            with open(os.path.join(directory, "%d.%s" % (index, name)), encoding="utf-8") as handle:
                return handle.read()

        self.output = read("out")
        self.rc = int(read("rc"))
        self.moto = json.loads(read("snapshot"))
        line = RESULT_LINE.search(self.output)
        self.result = json.loads(json.loads("{%s}" % line.group(0))["msg"][len(RESULT_MARKER):]) if line else None
        match = RECAP.search(self.output)
        assert match, self.output
        self.ok, self.changed, _unreachable, self.failed = (int(n) for n in match.groups())


class Session(object):
    """A test's runs, its view of the lab, and the requests moto received during its runs."""

    def __init__(self, directory, runs, requests):
        with open(os.path.join(directory, "lab.json"), encoding="utf-8") as handle:
            self.lab = json.load(handle)
        self.runs = [Run(directory, index) for index in range(runs)]
        self.requests = requests

    def __getitem__(self, index):
        return self.runs[index]


def write_playbook(directory, backend):
    play = [{
        "name": "register_instance with the %s backend" % backend,
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"aws_lab": "{{ lookup('ansible.builtin.file', aws_lab_dir ~ '/lab.json') | from_json }}"},
        "environment": {"AWS_ENDPOINT_URL": "{{ aws_lab['moto_url'] }}"},
        "tasks": [
            {"name": "Run the role", "ansible.builtin.include_role": {"name": "cloudmeta.imds.register_instance"}},
            {
                "name": "Print the backend's result",
                "ansible.builtin.debug": {
                    "msg": "%s{{ register_instance_%s_result | to_json }}" % (RESULT_MARKER, backend),
                },
            },
        ],
    }]
    path = directory / ("%s.yml" % backend)
    path.write_text(json.dumps(play))
    return str(path)


def request_count(lab_dir, path):
    """A shell line writing how many requests moto has recorded so far to PATH."""
    recording = os.path.join(lab_dir, "moto-requests.jsonl")
    return "{ [ -e %s ] && wc -l < %s || echo 0; } > %s" % (recording, recording, path)


@pytest.fixture(scope="module")
def aws_sessions(request, tmp_path_factory):
    """Start the lab once, run the selected tests' runs one test after another, stop the lab: {test name: Session}."""
    selected = {item.originalname for item in request.session.items if item.module is request.module}
    names = [name for name in SESSIONS if name in selected]
    top = tmp_path_factory.mktemp("aws-session")
    python = shlex.quote(sys.executable)
    lab_dir = str(top / "lab")
    timeout = 600 * len(names)
    directories = {name: top / name for name in names}
    lines = [
        "set -u",
        # No keys, no profile, no shared files: boto3's only way to credentials
        # is the instance profile in IMDS. No proxies: tests talk to loopback.
        "unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE"
        " AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY",
        "export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null",
        "%s %s up --aws --state-dir %s --ttl %d > %s || exit 1" % (python, LAB, lab_dir, timeout, top / "lab.json"),
        "trap '%s %s down --state-dir %s' EXIT" % (python, LAB, lab_dir),
        "%s -c %s %s %s || exit 1" % (python, shlex.quote(OWN_RESOURCES), top / "lab.json",
                                      " ".join(str(directory) for directory in directories.values())),
    ]
    for name, directory in directories.items():
        directory.mkdir()
        backend, runs = SESSIONS[name]
        playbook = write_playbook(directory, backend)
        lines.append(request_count(lab_dir, directory / "requests.before"))
        for index, run in enumerate(runs):
            variables = dict(run.get("vars", {}), register_instance_backend=backend, aws_lab_dir=str(directory))
            vars_file = directory / ("%d.vars.json" % index)
            vars_file.write_text(json.dumps(resolve_lab_references(variables)))
            command = ["env"] + ["%s=%s" % item for item in sorted(run.get("env", {}).items())]
            command += [os.path.join(BIN_DIR, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                        "-e", "ansible_python_interpreter=" + sys.executable, "-e", "@" + str(vars_file)]
            command += list(run.get("args", ())) + [playbook]
            output, status = directory / ("%d.out" % index), directory / ("%d.rc" % index)
            lines += [
                "%s > %s 2>&1; echo $? > %s" % (" ".join(shlex.quote(part) for part in command), output, status),
                "%s %s snapshot --state-dir %s > %s" % (python, LAB, directory, directory / ("%d.snapshot" % index)),
            ]
        lines.append(request_count(lab_dir, directory / "requests.after"))
    completed = run_in_netns(["bash", "-c", "\n".join(lines)], timeout=timeout)
    assert completed.returncode == 0, completed.stdout

    recording = os.path.join(lab_dir, "moto-requests.jsonl")
    with open(recording, encoding="utf-8") as handle:
        recorded = handle.readlines()
    sessions = {}
    for name, directory in directories.items():
        # The requests recorded during this test's runs, read the way lab.py requests reads them.
        begin, end = (int((directory / part).read_text()) for part in ("requests.before", "requests.after"))
        (directory / "moto-requests.jsonl").write_text("".join(recorded[begin:end]))
        sessions[name] = Session(str(directory), len(SESSIONS[name][1]), aws_lab.signed_requests(str(directory)))
    return sessions


@pytest.fixture
def session(request, aws_sessions):
    """This test's share of the module's session."""
    return aws_sessions[request.node.originalname]


def resolve_lab_references(variables):
    """'@lab:key.sub' placeholders become Jinja lookups into the lab description the playbook loads."""
    def resolve(value):
        if isinstance(value, str) and value.startswith("@lab:"):
            path = "".join("['%s']" % part for part in value[len("@lab:"):].split("."))
            return "{{ aws_lab%s }}" % path
        return value
    return {name: resolve(value) for name, value in variables.items()}


def diff_lines(output, sign):
    """Lines --diff printed as removed ("-") or added ("+"), without the sign and indentation."""
    return [line[1:].strip() for line in output.splitlines() if line.startswith(sign) and not line.startswith(sign * 3)]


def registered(run, group):
    return [(target["id"], target["port"]) for target in run.moto["elbv2"][group]]


# -- elbv2 ------------------------------------------------------------------------

ELBV2 = {
    "register_instance_port": 8080,
    "register_instance_elbv2_target_group_arn": "@lab:target_groups.instance",
}


PRESENT = {"vars": dict(ELBV2, register_instance_elbv2_wait_healthy=True, register_instance_elbv2_wait_timeout=300),
           "args": ["-vvv"]}
ABSENT = {"vars": dict(ELBV2, register_instance_state="absent", register_instance_elbv2_wait_drained=True,
                       register_instance_elbv2_wait_timeout=300), "args": ["-vvv"]}
# The second run goes through an HTTP proxy that does not exist: AWS calls
# to moto bypass it by no_proxy, the instance profile's credentials must
# bypass it by themselves (the modules add the IMDS addresses to no_proxy).
BEHIND_PROXY = dict(PRESENT, env={"http_proxy": "http://127.0.0.1:9", "no_proxy": "127.0.0.1"})


@session_of("elbv2", [PRESENT, BEHIND_PROXY, ABSENT, ABSENT])
def test_elbv2_register_is_idempotent_and_deregister_tolerates_gone(session):
    first, second, gone, again = session.runs
    instance = METADATA["instance-id"]
    assert (first.rc, first.changed) == (0, 1), first.output
    assert registered(first, "instance") == [(instance, 8080)]
    assert first.result["health"]["state"] == "healthy"
    assert first.result["target_group"]["vpc_id"] == session.lab["vpc_id"]
    assert (second.rc, second.changed) == (0, 0), second.output
    assert registered(second, "instance") == [(instance, 8080)]
    assert (gone.rc, gone.changed) == (0, 1), gone.output
    assert registered(gone, "instance") == []
    assert (again.rc, again.changed) == (0, 0), again.output

    # The role passed no keys: moto saw the instance profile's, read from IMDS,
    # and not even -vvv output shows the secret parts.
    changes = [r for r in session.requests if r["action"] in ("RegisterTargets", "DeregisterTargets")]
    assert [r["action"] for r in changes] == ["RegisterTargets", "DeregisterTargets"]
    for request in changes:
        assert request["access_key_id"] == PROFILE["AccessKeyId"]
        assert request["session_token"] == PROFILE["Token"]
    for run in session.runs:
        assert PROFILE["SecretAccessKey"] not in run.output
        assert PROFILE["Token"] not in run.output


@session_of("elbv2", [
    {"vars": ELBV2, "args": ["--check"]},
    {"vars": dict(ELBV2, register_instance_elbv2_target_group_arn="@lab:target_groups.other_vpc")},
    {"vars": dict(ELBV2, register_instance_elbv2_target_group_arn="@lab:target_groups.ip",
                  register_instance_elbv2_target_type="ip", register_instance_port=None)},
    {"vars": dict(ELBV2, register_instance_elbv2_target_group_arn="@lab:target_groups.ip",
                  register_instance_elbv2_target_type="instance")},
])
def test_elbv2_check_mode_vpc_refusal_and_ip_targets(session):
    check, other_vpc, ip, wrong_type = session.runs

    assert (check.rc, check.changed) == (0, 1), check.output
    assert check.result["changed"] is True
    assert registered(check, "instance") == []

    assert other_vpc.rc != 0
    assert session.lab["other_vpc_id"] in other_vpc.output and session.lab["vpc_id"] in other_vpc.output
    assert registered(other_vpc, "other_vpc") == []

    assert (ip.rc, ip.changed) == (0, 1), ip.output
    assert registered(ip, "ip") == [(PRIMARY["local-ipv4s"][0], 8080)]  # the group's own port

    assert wrong_type.rc != 0
    assert "has target type ip, but target type instance was requested" in wrong_type.output
    assert registered(wrong_type, "ip") == [(PRIMARY["local-ipv4s"][0], 8080)]


# -- cloudmap ---------------------------------------------------------------------

CLOUDMAP = {
    "register_instance_port": 8080,
    "register_instance_cloudmap_service_id": "@lab:cloudmap_service_id",
    "register_instance_cloudmap_attributes": {"team": "platform"},
    # Labels become attributes; numbers as strings; the attributes variable wins.
    "register_instance_labels": {"env": "prod", "shard": 3, "team": "ops"},
}


def expected_attributes(session, **extra):
    """The attributes for the built-in instance, which the lab moved into moto's VPC."""
    attributes = {
        "AWS_INSTANCE_IPV4": METADATA["local-ipv4"],
        "AWS_INSTANCE_PORT": "8080",
        "AVAILABILITY_ZONE": METADATA["placement"]["availability-zone"],
        "AVAILABILITY_ZONE_ID": METADATA["placement"]["availability-zone-id"],
        "REGION": METADATA["placement"]["region"],
        "SUBNET_ID": session.lab["subnet_id"],
        "VPC_ID": session.lab["vpc_id"],
        "team": "platform",
        "env": "prod",
        "shard": "3",
    }
    attributes.update(extra)
    return attributes


def cloudmap_instances(session, run):
    return run.moto["cloudmap"][session.lab["cloudmap_service_id"]]


@session_of("cloudmap", [
    {"vars": CLOUDMAP},
    {"vars": CLOUDMAP},
    {"vars": dict(CLOUDMAP, register_instance_state="absent")},
    {"vars": dict(CLOUDMAP, register_instance_state="absent")},
    {"vars": CLOUDMAP},
    {"vars": dict(CLOUDMAP, register_instance_interface_device=1, register_instance_port=9090), "args": ["--diff"]},
])
def test_cloudmap_register_deregister_then_update(session):
    first, second, gone, again, back, update = session.runs
    instance = METADATA["instance-id"]
    secondary = next(eni for eni in METADATA["network"]["interfaces"]["macs"].values() if eni["device-number"] == "1")

    assert (first.rc, first.changed) == (0, 1), first.output
    assert cloudmap_instances(session, first) == [{"id": instance, "attributes": expected_attributes(session)}]
    assert first.result["operation"]["status"] == "SUCCESS"
    assert (second.rc, second.changed) == (0, 0), second.output
    assert cloudmap_instances(session, second) == [{"id": instance, "attributes": expected_attributes(session)}]

    assert (gone.rc, gone.changed) == (0, 1), gone.output
    assert cloudmap_instances(session, gone) == []
    assert (again.rc, again.changed) == (0, 0), again.output
    assert again.result["instance"] is None
    assert back.rc == 0, back.output

    # Moving to the secondary interface changes address, port and subnet: one
    # RegisterInstance with the new set, no deregistration. (moto then holds
    # the old copy too, where AWS updates in place; not asserted.)
    moved_attributes = expected_attributes(session, AWS_INSTANCE_IPV4=secondary["local-ipv4s"][0],
                                           AWS_INSTANCE_PORT="9090", SUBNET_ID=session.lab["subnet_id_secondary"])
    assert (update.rc, update.changed) == (0, 1), update.output
    assert update.result["instance"]["attributes"] == moved_attributes
    assert '"AWS_INSTANCE_PORT": "8080",' in diff_lines(update.output, "-")
    assert '"AWS_INSTANCE_PORT": "9090",' in diff_lines(update.output, "+")
    assert {"id": instance, "attributes": moved_attributes} in cloudmap_instances(session, update)
    actions = [r["action"] for r in session.requests if r["action"] in ("RegisterInstance", "DeregisterInstance")]
    assert actions == ["RegisterInstance", "DeregisterInstance", "RegisterInstance", "RegisterInstance"]
    assert update.moto["cloudmap"][session.lab["cloudmap_other_service_id"]] == []


@session_of("cloudmap", [
    {"vars": CLOUDMAP, "args": ["--check", "--diff"]},
    {"vars": dict(CLOUDMAP, register_instance_cloudmap_attributes={"AWS_EC2_INSTANCE_ID": "i-0123456789abcdef0"})},
    {"vars": dict(CLOUDMAP, register_instance_cloudmap_instance_id="web-1")},
])
def test_cloudmap_check_mode_and_refused_attributes(session):
    check, refused, custom_id = session.runs

    assert (check.rc, check.changed) == (0, 1), check.output
    assert check.result["instance"]["attributes"] == expected_attributes(session)
    assert '"AVAILABILITY_ZONE": "%s",' % METADATA["placement"]["availability-zone"] in diff_lines(check.output, "+")
    assert cloudmap_instances(session, check) == []

    assert refused.rc != 0
    assert "AWS_EC2_INSTANCE_ID can only be combined with AWS_INIT_HEALTH_STATUS" in refused.output
    assert cloudmap_instances(session, refused) == []

    assert (custom_id.rc, custom_id.changed) == (0, 1), custom_id.output
    assert [item["id"] for item in cloudmap_instances(session, custom_id)] == ["web-1"]
