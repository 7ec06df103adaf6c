"""The layers of docs/architecture.md, enforced: an import that crosses them fails here.

Reads every Python file under plugins/ with ast (nothing is imported), resolves
absolute ``ansible_collections.cloudmeta.imds.plugins...`` and relative imports
to collection paths, and checks each against the table below.
"""
import ast
import pathlib
import sys

import pytest
import yaml

from collection_path import REPO_ROOT

ROOT = pathlib.Path(REPO_ROOT)
PLUGINS = ROOT / "plugins"
INSTANCE_LIBRARY = ROOT / "roles" / "register_instance" / "files" / "instance-library.yml"
PREFIX = ("ansible_collections", "cloudmeta", "imds", "plugins")

# Which layer may import which (a layer always may import itself).
MAY_IMPORT = {
    "module_utils/_common": set(),
    "module_utils/_imds": {"module_utils/_common"},
    "module_utils/_aws": {"module_utils/_common"},
    "module_utils/_registration": {"module_utils/_common", "module_utils/_aws"},
    "module_utils/_rollout": {"module_utils/_common", "module_utils/_aws"},
    # The lifecycle agent is where the wings meet on the instance: it reads
    # IMDS through the one client and acts through the one implementation of
    # each backend (and boto3 for the AWS ones, through _aws).
    "module_utils/_lifecycle": {"module_utils/_common", "module_utils/_imds", "module_utils/_registration",
                                "module_utils/_aws"},
    "plugin_utils": {"module_utils/_common", "module_utils/_imds"},
    # autoscaling_lifecycle_action completes lifecycle hooks with the agent's own code (_lifecycle/autoscaling.py).
    "modules": {"module_utils/_common", "module_utils/_imds", "module_utils/_aws",
                "module_utils/_registration", "module_utils/_rollout", "module_utils/_lifecycle"},
    # instance_library builds its archive with plugin_utils/_instance_library.py.
    "action": {"plugin_utils"},
    "lookup": {"module_utils/_common", "module_utils/_imds", "plugin_utils"},
    "filter": {"plugin_utils"},
    "doc_fragments": set(),
}


def python_files():
    return sorted(p for p in PLUGINS.rglob("*.py"))


def layer_of(relative):
    parts = pathlib.PurePosixPath(relative).parts
    if parts[0] == "module_utils":
        return "/".join(parts[:2])
    return parts[0]


def collection_imports(path):
    """Collection files PATH imports, as paths relative to plugins/ (module or package)."""
    tree = ast.parse(path.read_text(), str(path))
    package = path.relative_to(PLUGINS).parent.parts
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - node.level + 1])
                module = base + (node.module.split(".") if node.module else [])
                # "from .pkg import module" names modules; "from .module import name" names
                # something in a module: resolves_to() tells the two apart.
                names = [module + [alias.name] for alias in node.names]
                found.extend("/".join(name) for name in names)
                continue
            names = [(node.module or "").split(".")]
        else:
            continue
        for name in names:
            if tuple(name[:4]) == PREFIX:
                found.append("/".join(name[4:]))
    return found


def top_level_imports(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module.split(".")[0]


FILES = [p.relative_to(PLUGINS).as_posix() for p in python_files()]


def test_every_file_is_in_a_layer():
    assert FILES
    unknown = [f for f in FILES if layer_of(f) not in MAY_IMPORT]
    assert unknown == [], "files outside every layer of docs/architecture.md: %s" % unknown


def test_no_module_utils_file_at_the_top_level():
    loose = [f for f in FILES if f.startswith("module_utils/") and f.count("/") == 1]
    assert loose == [], "module_utils files must live in a package that says what it holds: %s" % loose


@pytest.mark.parametrize("relative", FILES)
def test_imports_follow_the_layers(relative):
    layer = layer_of(relative)
    allowed = MAY_IMPORT[layer] | {layer}
    crossing = sorted(t for t in collection_imports(PLUGINS / relative) if layer_of(t) not in allowed)
    assert crossing == [], "%s (layer %s) imports %s; allowed: %s" % (relative, layer, crossing, sorted(allowed))


@pytest.mark.parametrize("relative", [f for f in FILES if f.startswith("module_utils/_common/")])
def test_common_is_standard_library_only(relative):
    outside = sorted(set(top_level_imports(PLUGINS / relative)) - set(sys.stdlib_module_names) - {"__future__"})
    assert outside == [], "%s must use only the standard library; it imports %s" % (relative, outside)


# The AWS SDK, which the instance needs for the AWS backends anyway; only
# imported where an AWS API is called, and guarded (_aws/calls.py: HAS_BOTO3).
AWS_SDK = {"boto3", "botocore"}


def test_the_instance_library_is_standard_library_only_and_complete():
    """What the role installs for on-instance programs runs there: no ansible, and every relative import installed."""
    with open(INSTANCE_LIBRARY) as handle:
        listed = yaml.safe_load(handle)["modules"]
    problems = []
    for relative in listed:
        path = PLUGINS / "module_utils" / relative
        outside = set(top_level_imports(path)) - set(sys.stdlib_module_names) - {"__future__"} - AWS_SDK
        if outside:
            problems.append("%s imports %s" % (relative, sorted(outside)))
        for target in collection_imports(path):
            installed = resolves_to(target)
            if not installed.startswith("module_utils/") or installed[len("module_utils/"):] not in listed:
                problems.append("%s imports %s, which the instance library does not hold" % (relative, target))
    assert problems == []


def resolves_to(target):
    """The file a collection import names: the module itself, or the module a name is imported from."""
    for candidate in (target, target.rsplit("/", 1)[0]):
        if (PLUGINS / (candidate + ".py")).is_file():
            return candidate + ".py"
    return target
