import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The servers package (tests/utils/servers): labs, fixtures and the module runner.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "utils"))

from collection_path import ensure_collection_link  # noqa: E402

_COLLECTIONS_DIR = ensure_collection_link()


def pytest_configure(config):
    # Lets plugin_loader find cloudmeta.imds and makes
    # ansible_collections.cloudmeta.imds.* importable in unit tests.
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader([_COLLECTIONS_DIR])
