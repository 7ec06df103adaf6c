"""The role's reference (meta/argument_specs.yml) and its defaults (defaults/main.yml) say the same.

The guide's variable tables are rendered from the argument spec
(test_guide_tables.py), so a default documented there must be the one that applies.
"""
import os

import pytest
import yaml

from collection_path import REPO_ROOT

ROLE = os.path.join(REPO_ROOT, "roles", "register_instance")


def load(*path):
    with open(os.path.join(ROLE, *path)) as f:
        return yaml.safe_load(f)


OPTIONS = load("meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
DEFAULTS = load("defaults", "main.yml")


def test_every_variable_is_documented_and_every_option_has_a_default():
    assert sorted(DEFAULTS) == sorted(OPTIONS)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_documented_default_is_the_default(name):
    assert DEFAULTS[name] == OPTIONS[name].get("default"), name


@pytest.mark.parametrize("module", ["_registration_settings", "_registration_target"])
def test_the_filters_take_the_role_defaults_for_unset_settings(module):
    # tasks/validate.yml and discover.yml pass every setting; a filter used on its own fills in these.
    plugin_utils = __import__("ansible_collections.cloudmeta.imds.plugins.plugin_utils." + module, fromlist=["SETTINGS"])
    assert plugin_utils.SETTINGS == {name: DEFAULTS["register_instance_" + name] for name in plugin_utils.SETTINGS}
