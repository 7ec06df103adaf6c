"""The metadata lookup's work (plugin_utils/_metadata_lookup.py) with a stand-in plugin and client. Pure: no socket."""
import pytest

from ansible.errors import AnsibleLookupError, AnsibleOptionsError

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.client import ReadResult
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.options import ConnectionOptions
from ansible_collections.cloudmeta.imds.plugins.plugin_utils import _metadata_lookup
from ansible_collections.cloudmeta.imds.plugins.plugin_utils._metadata_lookup import NO_DEFAULT, lookup_metadata


class StandInPlugin(object):
    def __init__(self, **options):
        self.options = dict(dict(recursive=False, parse_json=False, user_data_encoding="utf-8"), **options)

    def get_option(self, name):
        return self.options[name]


class StandInClient(object):
    endpoint = "http://127.0.0.1:9"

    def __init__(self, leaves=None, trees=None, listings=None):
        self.answers = (leaves or {}, trees or {}, listings or {})
        self.reads = []

    def read(self, leaves=(), trees=(), listings=()):
        self.reads.append((list(leaves), list(trees), list(listings)))
        found_leaves, found_trees, found_listings = self.answers
        return ReadResult(
            dict((path, found_leaves.get(path)) for path in leaves),
            dict((path, found_trees.get(path)) for path in trees),
            dict((path, found_listings.get(path)) for path in listings),
        )


@pytest.fixture
def serve(monkeypatch):
    """serve(client): the lookup reads from CLIENT instead of a real ImdsClient."""

    def _serve(client):
        monkeypatch.setattr(ConnectionOptions, "client", lambda options, warn=None, environ=None: client)
        return client

    return _serve


def test_all_terms_are_read_in_one_read(serve):
    client = serve(StandInClient(
        leaves={"meta-data/instance-id": b"i-1", "user-data": b"#!/bin/sh\n"},
        listings={"meta-data/placement/": ["region", "availability-zone"]},
    ))
    values = lookup_metadata(StandInPlugin(), ["instance-id", "placement", "user-data"], {}, NO_DEFAULT, warn=None)
    assert values == ["i-1", ["region", "availability-zone"], "#!/bin/sh\n"]
    assert client.reads == [(["meta-data/instance-id", "user-data"], [], ["meta-data/placement/"])]


def test_recursive_and_parse_json_read_trees(serve):
    client = serve(StandInClient(trees={"meta-data/iam/": {"info": '{"Code": "Success"}'}}))
    values = lookup_metadata(StandInPlugin(recursive=True, parse_json=True), ["iam/"], {}, NO_DEFAULT, warn=None)
    assert values == [{"info": {"Code": "Success"}}]
    assert client.reads == [([], ["meta-data/iam/"], [])]


def test_a_missing_path_is_the_default_or_an_error_naming_the_term(serve):
    serve(StandInClient())
    assert lookup_metadata(StandInPlugin(), ["spot/instance-action"], {}, None, warn=None) == [None]
    with pytest.raises(AnsibleLookupError, match=r"Term 'spot/instance-action': Metadata path .* Pass default="):
        lookup_metadata(StandInPlugin(), ["spot/instance-action"], {}, NO_DEFAULT, warn=None)


def test_a_refused_term_fails_before_options_are_read(serve):
    serve(StandInClient())
    plugin = StandInPlugin()
    plugin.options = {}  # get_option would fail: it must not be reached
    with pytest.raises(AnsibleLookupError, match="credentials"):
        lookup_metadata(plugin, ["iam/security-credentials/web-role"], {}, NO_DEFAULT, warn=None)


def test_no_terms_read_nothing(monkeypatch):
    monkeypatch.setattr(_metadata_lookup.ConnectionOptions, "from_plugin", lambda plugin: pytest.fail("no options"))
    assert lookup_metadata(StandInPlugin(), [], {}, NO_DEFAULT, warn=None) == []


def test_a_bad_option_is_an_options_error():
    plugin = StandInPlugin(timeout="soon")
    with pytest.raises(AnsibleOptionsError, match="Invalid timeout 'soon'"):
        lookup_metadata(plugin, ["instance-id"], {}, NO_DEFAULT, warn=None)


def test_a_task_on_another_host_is_warned_about(serve):
    serve(StandInClient(leaves={"meta-data/instance-id": b"i-1"}))
    warnings = []
    variables = {"inventory_hostname": "web1", "ansible_host": "10.0.0.5", "ansible_connection": "ssh"}
    assert lookup_metadata(StandInPlugin(), ["instance-id"], variables, NO_DEFAULT, warn=warnings.append) == ["i-1"]
    assert len(warnings) == 1 and "'web1'" in warnings[0]
