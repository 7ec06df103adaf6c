"""The real metadata_facts module, the metadata lookup and the role's discovery against a hostile IMDS.

Each test starts tests/utils/servers/hostile_imds.py on 127.0.0.1 with one
misbehaviour, runs the real code in a child process (the module through its
main, the lookup through Ansible's plugin loader, the role through
ansible-playbook) with `endpoint` pointing at it, and checks what a user
relies on: the run ends in bounded time, its peak memory stays bounded, it
reports a clear error or correct facts, and nothing outside the metadata
tree was requested.

Time bounds are generous on purpose (a busy 2-core machine): they tell "ends
at the deadline" from "runs on for minutes", never measure performance.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from collection_path import REPO_ROOT, ensure_collection_link

sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "utils"))

from playbook_runner import BIN_DIR, playbook_env  # noqa: E402
from servers.hostile_imds import HostileImds  # noqa: E402

INSTANCE_ID = "i-0123456789abcdef0"
MODULE = "ansible_collections.cloudmeta.imds.plugins.modules.metadata_facts"
# Generous: the runs below end at total_timeout (2 or 3 s); before the fix
# the slowest took 98 s, or never ended.
WELL_BOUNDED = 15.0
MEMORY_BOUND_MB = 100
# Everything the client may ask for lives below these.
IN_TREE = ("/latest/api/token", "/latest/meta-data/", "/latest/dynamic/", "/latest/user-data")

_LOOKUP_SCRIPT = r"""
import json, sys
from ansible.plugins.loader import init_plugin_loader, lookup_loader
from ansible.errors import AnsibleError
init_plugin_loader([sys.argv[1]])
request = json.loads(sys.argv[2])
lookup = lookup_loader.get('cloudmeta.imds.metadata')
try:
    values = lookup.run(request['terms'], variables={}, **request['options'])
    print(json.dumps({'values': [str(v) if not isinstance(v, (dict, list)) else v for v in values]}))
except AnsibleError as exc:
    print(json.dumps({'failed': True, 'msg': exc.message}))
"""


class ChildRun(object):
    def __init__(self, result, seconds, peak_mb):
        self.result = result
        self.seconds = seconds
        self.peak_mb = peak_mb

    @property
    def facts(self):
        return self.result["ansible_facts"]["ec2"]


PEAK_RSS = os.path.join(REPO_ROOT, "tests", "utils", "peak_rss.py")


def run_child(command, env=None):
    """Run COMMAND; its JSON output, wall time and peak RSS (of that process alone, see tests/utils/peak_rss.py)."""
    with tempfile.TemporaryDirectory() as scratch, \
            tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        report = os.path.join(scratch, "peak-rss")
        started = time.monotonic()
        # Its own session: a hang kills the launcher and the command together.
        child = subprocess.Popen([sys.executable, PEAK_RSS, report] + list(command), stdout=out, stderr=err,
                                 env=env, cwd=REPO_ROOT, start_new_session=True)
        # A hang must fail the test, not the whole run.
        killer = threading.Timer(120, os.killpg, (child.pid, signal.SIGKILL))
        killer.start()
        try:
            child.wait()
        finally:
            killer.cancel()
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", errors="replace")
        stderr = err.read().decode("utf-8", errors="replace")
        peak_kib = None
        if os.path.exists(report):
            with open(report, encoding="ascii") as handle:
                peak_kib = int(handle.read())
    try:
        result = json.loads(stdout)
    except ValueError:
        raise AssertionError("no JSON from %s\nstdout: %s\nstderr: %s" % (command[:3], stdout[-2000:], stderr[-2000:]))
    assert peak_kib is not None, "no peak RSS from %s (killed?)" % (command[:3],)
    return ChildRun(result, seconds, peak_kib / 1024.0)


def child_env():
    env = dict(os.environ, PYTHONPATH=ensure_collection_link())
    # The options under test come from the arguments alone.
    for name in ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                 "AWS_EC2_METADATA_DISABLED"):
        env.pop(name, None)
    return env


def run_metadata_facts(server, tmp_path, **args):
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(endpoint=server.url, **args)}))
    return run_child([sys.executable, "-m", MODULE, str(args_file)], env=child_env())


def run_lookup(server, terms, **options):
    request = json.dumps({"terms": terms, "options": dict(endpoint=server.url, **options)})
    return run_child([sys.executable, "-c", _LOOKUP_SCRIPT, ensure_collection_link(), request], env=child_env())


def assert_stayed_in_the_tree(server):
    outside = [path for path in server.paths() if not path.startswith(IN_TREE)]
    assert outside == [], outside


def assert_only_put_on_the_token_path(server):
    assert [m for m, path in server.requests() if path == "/latest/api/token"] == \
        ["PUT"] * sum(1 for _m, path in server.requests() if path == "/latest/api/token")


# ------------------------------------------------------------------ deadline

SLOW = dict(total_timeout=2, timeout=1, retries=0)


@pytest.mark.parametrize("mode", ["slow_headers", "slow_token"])
def test_metadata_facts_stops_a_trickling_answer_at_total_timeout(tmp_path, mode):
    with HostileImds(mode) as server:
        run = run_metadata_facts(server, tmp_path, gather_subset=["min"], **SLOW)
    assert run.result.get("failed") is True, run.result
    assert "total_timeout (2 s)" in run.result["msg"]
    assert ("PUT /latest/api/token" if mode == "slow_token" else "GET /latest/dynamic/") in run.result["msg"]
    assert run.seconds < WELL_BOUNDED
    assert "ansible_facts" not in run.result


def test_metadata_facts_full_read_against_trickling_answers_ends_near_total_timeout(tmp_path):
    # Every leaf and directory trickles: one deadline bounds the whole run,
    # not one per tree.
    with HostileImds("slow_headers", on="meta-data/") as server:
        run = run_metadata_facts(server, tmp_path, **SLOW)
    assert run.result.get("failed") is True and "total_timeout" in run.result["msg"], run.result
    assert run.seconds < WELL_BOUNDED
    assert_stayed_in_the_tree(server)


def test_metadata_facts_refuses_a_chunked_answer_with_endless_trailers(tmp_path):
    with HostileImds("chunked_trailers") as server:
        run = run_metadata_facts(server, tmp_path, gather_subset=["min"], **SLOW)
    assert run.result.get("failed") is True
    assert "Transfer-Encoding (chunked)" in run.result["msg"]
    assert run.seconds < WELL_BOUNDED


def test_metadata_facts_refuses_an_endless_body_within_its_size_bound(tmp_path):
    with HostileImds("endless_body") as server:
        run = run_metadata_facts(server, tmp_path, gather_subset=["min"], **SLOW)
    assert run.result.get("failed") is True
    assert "larger than 1048576 bytes" in run.result["msg"]
    assert run.seconds < WELL_BOUNDED
    assert run.peak_mb < MEMORY_BOUND_MB


def test_lookup_stops_a_trickling_answer_at_total_timeout():
    with HostileImds("slow_headers") as server:
        run = run_lookup(server, ["instance-id"], **SLOW)
    assert run.result.get("failed") is True
    assert "total_timeout (2 s)" in run.result["msg"]
    assert run.seconds < WELL_BOUNDED


# ------------------------------------------------------------ wide listings


@pytest.mark.parametrize("width, message", [
    (20000, "listed 20000 entries in meta-data/"),
    (3000, "listed 3000 entries in meta-data/"),
    # Under the per-listing cap, the per-read cap stops it.
    (900, "listed more than 5000 entries in one read"),
])
def test_metadata_facts_refuses_wide_listings_in_bounded_memory(tmp_path, width, message):
    with HostileImds("wide", on="meta-data/", width=width) as server:
        run = run_metadata_facts(server, tmp_path, total_timeout=3)
    assert run.result.get("failed") is True
    assert message in run.result["msg"]
    assert run.peak_mb < MEMORY_BOUND_MB
    assert run.seconds < WELL_BOUNDED
    # Bounded requests, not one per listed entry.
    assert len(server.paths()) < 5100
    assert_stayed_in_the_tree(server)


def test_metadata_facts_refuses_a_bottomless_tree(tmp_path):
    with HostileImds("deep", on="meta-data/") as server:
        run = run_metadata_facts(server, tmp_path, total_timeout=5)
    assert run.result.get("failed") is True
    assert "deeper than 16 levels" in run.result["msg"]
    assert run.seconds < WELL_BOUNDED


def test_lookup_recursive_refuses_a_wide_listing():
    with HostileImds("wide", on="meta-data/", width=20000) as server:
        run = run_lookup(server, ["placement/"], recursive=True, total_timeout=3)
    assert run.result.get("failed") is True
    assert "listed 20000 entries in meta-data/placement/" in run.result["msg"]
    assert run.peak_mb < MEMORY_BOUND_MB


# ------------------------------------------------------------ user-data bomb

BOMB_SIZE = 100 * 1024 * 1024


@pytest.mark.parametrize("legacy", [False, True])
def test_metadata_facts_never_inflates_a_user_data_bomb(tmp_path, legacy):
    with HostileImds("gzip_bomb", size=BOMB_SIZE) as server:
        run = run_metadata_facts(server, tmp_path, legacy_facts=legacy, gather_subset=["min", "user_data"])
    assert "failed" not in run.result, run.result
    facts = run.result["ansible_facts"]
    # Kept as served (about 100 KiB of gzip), never the 100 MiB it inflates to.
    assert facts["ec2"]["user_data_compression"] is None
    assert facts["ec2"]["user_data_encoding"] == "base64"
    assert len(facts["ec2"]["user_data"]) < 1024 * 1024
    if legacy:
        assert len(facts["ansible_ec2_user_data"]) < 1024 * 1024
        assert any("decompresses to more than" in str(w) for w in run.result.get("warnings", []))
    assert run.peak_mb < MEMORY_BOUND_MB


def test_lookup_never_inflates_a_user_data_bomb():
    with HostileImds("gzip_bomb", size=BOMB_SIZE) as server:
        run = run_lookup(server, ["user-data"], user_data_encoding="base64")
    assert "failed" not in run.result, run.result
    assert len(run.result["values"][0]) < 1024 * 1024
    assert run.peak_mb < MEMORY_BOUND_MB


# ---------------------------------------------------------------- throttling


@pytest.mark.parametrize("subset", [["min"], ["all"]])
def test_metadata_facts_outlives_a_two_second_429_burst_with_default_settings(tmp_path, subset):
    with HostileImds("throttle_burst", seconds=2.0) as server:
        run = run_metadata_facts(server, tmp_path, gather_subset=subset)
    assert "failed" not in run.result, run.result
    assert run.facts["instance_id"] == INSTANCE_ID
    assert run.seconds < 20 + WELL_BOUNDED


def test_lookup_outlives_a_two_second_429_burst_with_default_settings():
    with HostileImds("throttle_burst", seconds=2.0) as server:
        run = run_lookup(server, ["instance-id", "placement/region"])
    assert run.result == {"values": [INSTANCE_ID, "eu-west-1"]}


# ----------------------------------------------------------------- redirects


def test_metadata_facts_never_follows_a_redirect_to_the_token_path(tmp_path):
    with HostileImds("redirect_to_token") as server:
        run = run_metadata_facts(server, tmp_path, gather_subset=["min"])
    assert run.result.get("failed") is True
    assert "redirected dynamic/instance-identity/document" in run.result["msg"]
    assert_only_put_on_the_token_path(server)
    assert_stayed_in_the_tree(server)


def test_lookup_never_follows_a_redirect_to_the_token_path():
    with HostileImds("redirect_to_token") as server:
        run = run_lookup(server, ["instance-id"])
    assert run.result.get("failed") is True
    assert "redirected meta-data/instance-id" in run.result["msg"]
    assert_only_put_on_the_token_path(server)


# --------------------------------------------------------- trailing newlines


def test_metadata_facts_strips_identifiers_served_with_trailing_newlines(tmp_path):
    with HostileImds("trailing_newlines") as server:
        run = run_metadata_facts(server, tmp_path, gather_subset=["min", "network", "placement"])
    assert "failed" not in run.result, run.result
    facts = run.facts
    assert facts["instance_id"] == INSTANCE_ID
    assert facts["local_ipv4"] == "10.0.1.25"
    assert facts["region"] == "eu-west-1"
    assert facts["availability_zone"] == "eu-west-1b"
    assert facts["account_id"] == "123456789012"


def test_role_discovery_with_trailing_newlines_registers_clean_identifiers(tmp_path):
    sd_dir = tmp_path / "sd"
    sd_dir.mkdir()
    discovered = tmp_path / "discovered.json"
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{
        "name": "Role discovery against a hostile IMDS", "hosts": "localhost", "gather_facts": False,
        "tasks": [
            {"name": "Run the role", "ansible.builtin.include_role": {"name": "cloudmeta.imds.register_instance"}},
            {"name": "Save what the role discovered", "ansible.builtin.copy": {
                "content": "{{ register_instance_discovered | to_json }}", "dest": str(discovered), "mode": "0600"}},
        ],
    }]))
    with HostileImds("trailing_newlines") as server:
        variables = tmp_path / "vars.json"
        variables.write_text(json.dumps({
            "register_instance_imds_endpoint": server.url,
            "register_instance_service_name": "web",
            "register_instance_port": 8080,
            "register_instance_file_sd_dir": str(sd_dir),
        }))
        # On the host's loopback, not in a namespace: the hostile server runs
        # in this process. The environment points every IMDS client there too.
        result = subprocess.run(
            [os.path.join(BIN_DIR, "ansible-playbook"), "-i", "localhost,", "-c", "local",
             "-e", "ansible_python_interpreter=" + sys.executable, "-e", "@" + str(variables), str(play)],
            env=playbook_env({"AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url}), cwd=REPO_ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout
    found = json.loads(discovered.read_text())
    assert found["instance_id"] == INSTANCE_ID
    assert found["address"] == "10.0.1.25"
    names = os.listdir(str(sd_dir))
    assert names and not any(char.isspace() for name in names for char in name), names
