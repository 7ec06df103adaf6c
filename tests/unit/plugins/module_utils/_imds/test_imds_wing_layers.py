"""Which file of the IMDS wing may import which: shaping and policy import no transport code.

Read from the source (ast), so nothing is imported or run.
"""
import ast
import os

import pytest

from collection_path import REPO_ROOT

PACKAGE = "ansible_collections.cloudmeta.imds.plugins."
IMDS = os.path.join(REPO_ROOT, "plugins", "module_utils", "_imds")
PLUGIN_UTILS = os.path.join(REPO_ROOT, "plugins", "plugin_utils")

# The standard library modules that talk to the network or run threads.
NETWORK_STDLIB = ("socket", "ssl", "http", "urllib.request", "concurrent", "threading")
TRANSPORT = ("module_utils._imds.transport", "module_utils._imds.client",
             "module_utils._imds.options", "module_utils._imds.gather")

PURE = {
    os.path.join(IMDS, "errors.py"): (),
    os.path.join(IMDS, "paths.py"): ("module_utils._imds.errors",),
    os.path.join(IMDS, "settings.py"): ("module_utils._imds.errors", "module_utils._imds.paths"),
    os.path.join(IMDS, "user_data.py"): (),
    os.path.join(IMDS, "facts.py"): ("module_utils._common.json_text", "module_utils._imds.user_data"),
    os.path.join(IMDS, "legacy_facts.py"): ("module_utils._imds.paths", "module_utils._imds.user_data"),
    os.path.join(PLUGIN_UTILS, "_metadata_terms.py"): ("module_utils._imds.errors", "module_utils._imds.paths"),
    os.path.join(PLUGIN_UTILS, "_metadata_values.py"): ("module_utils._common.json_text", "module_utils._imds.facts"),
}


def imports(path):
    """Every module PATH imports; relative imports resolved to their absolute names."""
    with open(path, encoding="utf-8") as source:
        tree = ast.parse(source.read(), path)
    package = os.path.relpath(os.path.dirname(path), REPO_ROOT).split(os.sep)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # The wing imports the collection relatively, so that the
                # files also form the instance library's package.
                base = package[:len(package) - node.level + 1]
                found.add(PACKAGE[:-len("plugins.")] + ".".join(base + ([node.module] if node.module else [])))
            else:
                found.add(node.module)
    return found


def test_the_wing_imports_the_collection_relatively():
    for name in sorted(os.listdir(IMDS)):
        if name.endswith(".py"):
            absolute = [module for module in imports_absolute(os.path.join(IMDS, name)) if module.startswith(PACKAGE)]
            assert absolute == [], name


def imports_absolute(path):
    with open(path, encoding="utf-8") as source:
        tree = ast.parse(source.read(), path)
    return [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level]


def collection_imports(path):
    return set(name[len(PACKAGE):] for name in imports(path) if name.startswith(PACKAGE))


@pytest.mark.parametrize("path", sorted(PURE), ids=os.path.basename)
def test_shaping_and_policy_import_only_what_they_need_and_no_network(path):
    assert collection_imports(path) <= set(PURE[path])
    assert not collection_imports(path) & set(TRANSPORT)
    for name in imports(path):
        assert not any(name == stdlib or name.startswith(stdlib + ".") for stdlib in NETWORK_STDLIB), name


def test_transport_knows_only_the_errors():
    assert collection_imports(os.path.join(IMDS, "transport.py")) == {"module_utils._imds.errors"}


def test_the_client_does_not_reach_up_to_the_option_adapter_or_the_shaping():
    assert collection_imports(os.path.join(IMDS, "client.py")) == {
        "module_utils._common.backoff",
        "module_utils._common.deadline",
        "module_utils._imds.errors",
        "module_utils._imds.paths",
        "module_utils._imds.settings",
        "module_utils._imds.transport",
    }


def test_every_file_of_the_wing_is_placed_here():
    placed = set(PURE) | {os.path.join(IMDS, name) for name in ("transport.py", "client.py", "options.py", "gather.py")}
    present = {os.path.join(IMDS, name) for name in os.listdir(IMDS) if name.endswith(".py")}
    assert present <= placed
