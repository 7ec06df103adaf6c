"""gather.py, the metadata_facts module's work, with a stand-in client. Pure: no socket."""
import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds import gather
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.client import ReadResult
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.facts import plan_reads, resolve_gather_subset

DOCUMENT = b'{"instanceId": "i-0123456789abcdef0", "region": "eu-west-1", "availabilityZone": "eu-west-1b"}'


class StandInClient(object):
    """Answers read() from fixed results and records what was asked."""

    endpoint = "http://127.0.0.1:9"
    imds_version = "v2"

    def __init__(self, leaves=None, trees=None):
        self._leaves = leaves or {}
        self._trees = trees or {}
        self.reads = []

    def read(self, leaves=(), trees=()):
        self.reads.append((tuple(leaves), tuple(trees)))
        return ReadResult(
            dict((path, self._leaves.get(path)) for path in leaves),
            dict((path, self._trees.get(path)) for path in trees),
            {},
        )


def test_read_instance_tree_reads_the_plan_once_and_leaves_out_what_is_missing():
    plan = plan_reads(resolve_gather_subset(["tags"]))
    client = StandInClient(leaves={"dynamic/instance-identity/document": DOCUMENT})
    tree = gather.read_instance_tree(client, plan)
    assert client.reads == [(plan.leaves, plan.trees)]
    assert tree == {"dynamic": {"instance-identity": {"document": DOCUMENT.decode()}}}


def test_gather_facts_shapes_what_was_read_and_reports_the_imds_version(monkeypatch):
    client = StandInClient(leaves={"dynamic/instance-identity/document": DOCUMENT})
    made = []

    def client_for(options, warn=None, environ=None):
        made.append(options.as_dict())
        return client

    monkeypatch.setattr(gather.ConnectionOptions, "client", client_for)
    facts = gather.gather_facts(dict(gather_subset=["min"], legacy_facts=False, timeout=2.5))
    assert made == [dict(made[0], timeout=2.5)]
    assert facts["ec2"]["instance_id"] == "i-0123456789abcdef0"
    assert facts["ec2"]["region"] == "eu-west-1"
    assert facts["ec2"]["imds_version"] == "v2"
    assert not any(key.startswith("ansible_ec2_") for key in facts)


def test_legacy_facts_read_the_full_tree_and_add_the_flat_facts(monkeypatch):
    client = StandInClient(leaves={"user-data": None}, trees={"meta-data/": {"instance-id": "i-1"}, "dynamic/": None})
    monkeypatch.setattr(gather.ConnectionOptions, "client", lambda options, warn=None, environ=None: client)
    facts = gather.gather_facts(dict(gather_subset=["min"], legacy_facts=True))
    assert client.reads == [(("user-data",), ("meta-data/", "dynamic/"))]
    assert facts["ansible_ec2_instance_id"] == "i-1"


def test_a_bad_gather_subset_fails_before_any_client_is_made(monkeypatch):
    monkeypatch.setattr(gather.ConnectionOptions, "client", lambda *args, **kwargs: pytest.fail("no client"))
    with pytest.raises(ValueError, match="Bad gather_subset entry 'everything'"):
        gather.gather_facts(dict(gather_subset=["everything"], legacy_facts=False))
