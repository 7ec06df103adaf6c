"""Connection options: argspec, doc fragment and the one adapter for modules and plugins.

The clients the adapter builds, reading from an emulator, are tested in
tests/integration/plugins/module_utils/_imds/test_options_client.py.
"""
import os
import types

import pytest
import yaml

from ansible import constants as C
from ansible.plugins.loader import fragment_loader
from ansible.plugins.lookup import LookupBase
from ansible.utils.plugin_docs import add_fragments

from ansible_collections.cloudmeta.imds.plugins.doc_fragments.connection import ModuleDocFragment
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import ImdsConfigError
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.options import (
    CONNECTION_ARGSPEC,
    ConnectionOptions,
    connection_argspec,
)

DEFAULTS = dict(
    endpoint=None, endpoint_mode=None, allow_imdsv1=False, timeout=1.0,
    retries=3, total_timeout=20.0, token_ttl=21600, max_concurrency=8,
)


def plugin_documentation():
    doc = {
        "extends_documentation_fragment": ["cloudmeta.imds.connection", "cloudmeta.imds.connection.plugins"],
        "options": {},
    }
    add_fragments(doc, os.path.abspath(__file__), fragment_loader)
    return doc


def test_fragment_documents_exactly_the_argspec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(documented) == set(CONNECTION_ARGSPEC)
    for name, spec in CONNECTION_ARGSPEC.items():
        doc = documented[name]
        assert doc["type"] == spec["type"], name
        assert doc.get("default") == spec.get("default"), name
        assert not doc.get("required") and "choices" not in doc and "choices" not in spec, name
        assert doc["description"], name


def test_defaults_are_the_documented_ones():
    assert ConnectionOptions().as_dict() == DEFAULTS
    assert dict((k, v.get("default")) for k, v in CONNECTION_ARGSPEC.items()) == DEFAULTS


def test_plugins_section_adds_env_and_vars_to_every_option():
    options = plugin_documentation()["options"]
    assert set(options) == set(CONNECTION_ARGSPEC)
    assert options["endpoint"]["env"] == [{"name": "AWS_EC2_METADATA_SERVICE_ENDPOINT"}]
    assert options["endpoint_mode"]["env"] == [{"name": "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"}]
    for name, option in options.items():
        assert option["type"] == CONNECTION_ARGSPEC[name]["type"]
        assert {"name": "cloudmeta_imds_" + name} in option["vars"]
        assert option["env"]


def test_argspec_helper_merges_without_touching_the_shared_spec():
    spec = connection_argspec(gather_subset=dict(type="list", elements="str"))
    assert "gather_subset" in spec and "gather_subset" not in CONNECTION_ARGSPEC
    spec["timeout"]["default"] = 99
    assert CONNECTION_ARGSPEC["timeout"]["default"] == 1.0


def test_from_module_reads_params_and_ignores_the_module_own_options():
    module = types.SimpleNamespace(params=dict(DEFAULTS, timeout=2.5, retries=0, gather_subset=["min"]))
    options = ConnectionOptions.from_module(module)
    assert options.timeout == 2.5 and options.retries == 0
    assert options.as_dict() == dict(DEFAULTS, timeout=2.5, retries=0)


def test_from_dict_coerces_strings_and_fills_defaults():
    options = ConnectionOptions.from_dict({
        "allow_imdsv1": "yes", "timeout": "0.5", "retries": "5", "token_ttl": "60", "unrelated": object(),
    })
    assert options.as_dict() == dict(DEFAULTS, allow_imdsv1=True, timeout=0.5, retries=5, token_ttl=60)
    assert ConnectionOptions.from_dict({"timeout": None, "endpoint": None}) == ConnectionOptions()


@pytest.mark.parametrize("values, text", [
    ({"timeout": "fast"}, "Invalid timeout 'fast': it must be a number"),
    ({"retries": "many"}, "Invalid retries 'many': it must be a whole number"),
    ({"allow_imdsv1": "perhaps"}, "Invalid allow_imdsv1 'perhaps': it must be true or false"),
    ({"token_ttl": 0}, "from 1 to 21600"),
    ({"token_ttl": 86400}, "from 1 to 21600"),
    ({"max_concurrency": 0}, "from 1 to 64"),
    ({"total_timeout": 0}, "greater than 0"),
    ({"endpoint_mode": "ipv7"}, "IPv4 or IPv6"),
    ({"endpoint": "http://fd00:ec2::254"}, "brackets"),
    ({"endpoint": "169.254.169.254"}, "http:// or https://"),
])
def test_bad_values_fail_before_any_client_exists(values, text):
    with pytest.raises(ImdsConfigError) as caught:
        ConnectionOptions.from_dict(values)
    assert text in caught.value.message


def test_unknown_option_names_are_refused_by_the_constructor():
    with pytest.raises(ImdsConfigError, match="Unknown connection option"):
        ConnectionOptions(timout=1)


def test_endpoint_mode_accepts_any_case_like_botocore():
    for mode in ("IPv6", "ipv6", "IPV6", "ipv4"):
        assert ConnectionOptions(endpoint_mode=mode).endpoint_mode == mode


class LookupModule(LookupBase):
    """A lookup whose options are exactly the connection fragments."""

    def run(self, terms, variables=None, **kwargs):
        return []


@pytest.fixture
def plugin():
    name = "cloudmeta.imds.connection_options_test"
    C.config.initialize_plugin_configuration_definitions("lookup", name, plugin_documentation()["options"])
    lookup = LookupModule()
    lookup._load_name = name
    return lookup


def test_from_plugin_uses_defaults(plugin, monkeypatch):
    for name in ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "CLOUDMETA_IMDS_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    plugin.set_options(var_options={}, direct={})
    assert ConnectionOptions.from_plugin(plugin) == ConnectionOptions()


def test_from_plugin_reads_direct_vars_and_env(plugin, monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")
    monkeypatch.setenv("CLOUDMETA_IMDS_TOKEN_TTL", "300")
    monkeypatch.setenv("CLOUDMETA_IMDS_RETRIES", "9")
    plugin.set_options(
        var_options={"cloudmeta_imds_timeout": "2.5", "cloudmeta_imds_retries": 1},
        direct={"max_concurrency": 2},
    )
    options = ConnectionOptions.from_plugin(plugin)
    assert options.as_dict() == dict(
        DEFAULTS, endpoint_mode="IPv6", token_ttl=300, timeout=2.5, retries=1, max_concurrency=2,
    )


def test_from_plugin_without_some_options_uses_defaults():
    class Partial(object):
        def get_option(self, name):
            if name == "timeout":
                return 3.0
            raise KeyError(name)

    assert ConnectionOptions.from_plugin(Partial()).as_dict() == dict(DEFAULTS, timeout=3.0)
