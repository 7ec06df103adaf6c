"""The instance library archive (plugins/plugin_utils/_instance_library.py): deterministic, exactly the list, and it runs.

Running the archive is one short `python -I -S` child (no server, no network):
the usage error, exit 2, proves the program and every module it imports at
start are in the archive and import each other relatively from the zip.
"""
import os
import subprocess
import sys
import zipfile

import pytest
import yaml

from collection_path import REPO_ROOT

from ansible_collections.cloudmeta.imds.plugins.plugin_utils import _instance_library as library

ROLE_FILES = os.path.join(REPO_ROOT, "roles", "register_instance", "files")
LIST = os.path.join(ROLE_FILES, "instance-library.yml")
MODULE_UTILS = os.path.join(REPO_ROOT, "plugins", "module_utils")


def listed():
    with open(LIST, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_two_builds_are_byte_identical(tmp_path):
    first, second = tmp_path / "first.pyz", tmp_path / "second.pyz"
    library.build(LIST, str(first))
    library.build(LIST, str(second))
    assert first.read_bytes() == second.read_bytes()


def test_entries_are_sorted_with_fixed_time_mode_and_compression(tmp_path):
    archive = tmp_path / "a.pyz"
    library.build(LIST, str(archive))
    with zipfile.ZipFile(str(archive)) as opened:
        infos = opened.infolist()
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    assert {(info.date_time, info.compress_type, info.create_system, info.external_attr >> 16) for info in infos} == {
        ((1980, 1, 1, 0, 0, 0), zipfile.ZIP_STORED, 3, 0o100644)}


def test_it_holds_exactly_the_listed_files_their_packages_and_the_program(tmp_path):
    archive = tmp_path / "a.pyz"
    names = library.build(LIST, str(archive))
    modules = listed()["modules"]
    packages = {"cloudmeta_imds"} | {"cloudmeta_imds/" + os.path.dirname(module) for module in modules}
    with zipfile.ZipFile(str(archive)) as opened:
        assert sorted(opened.namelist()) == names == sorted(
            ["__main__.py"] + ["cloudmeta_imds/" + module for module in modules]
            + [package + "/__init__.py" for package in packages])
        for module in modules:
            with open(os.path.join(MODULE_UTILS, module), "rb") as source:
                assert opened.read("cloudmeta_imds/" + module) == source.read(), module
        with open(os.path.join(ROLE_FILES, listed()["main"]), "rb") as source:
            assert opened.read("__main__.py") == source.read()
        assert all(opened.read(package + "/__init__.py") == b"" for package in packages)


def test_the_archive_runs_isolated_and_says_its_usage(tmp_path):
    archive = tmp_path / "cloudmeta-lifecycle.pyz"
    library.build(LIST, str(archive))
    result = subprocess.run([sys.executable, "-I", "-S", str(archive)], cwd=str(tmp_path), capture_output=True,
                            text=True, check=False, timeout=60, env={"PATH": os.environ["PATH"]})
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.startswith("usage: lifecycle-agent CONFIG.json")


def test_nested_packages_get_every_init_and_a_source_change_changes_the_bytes(tmp_path):
    sources = tmp_path / "module_utils"
    (sources / "_a" / "_b").mkdir(parents=True)
    (sources / "_a" / "_b" / "c.py").write_text("VALUE = 1\n")
    (tmp_path / "main.py").write_text("print('hello')\n")
    (tmp_path / "list.yml").write_text("modules: [_a/_b/c.py]\nmain: main.py\n")
    before = tmp_path / "before.pyz"
    assert library.build(str(tmp_path / "list.yml"), str(before), str(sources)) == [
        "__main__.py", "cloudmeta_imds/__init__.py", "cloudmeta_imds/_a/__init__.py",
        "cloudmeta_imds/_a/_b/__init__.py", "cloudmeta_imds/_a/_b/c.py"]
    (sources / "_a" / "_b" / "c.py").write_text("VALUE = 2\n")
    after = tmp_path / "after.pyz"
    library.build(str(tmp_path / "list.yml"), str(after), str(sources))
    assert before.read_bytes() != after.read_bytes()


@pytest.mark.parametrize("text, message", [
    ("modules: [_a.py]\n", "it has modules"),
    ("modules: [_a.py]\nmain: m.py\nprograms: [m.py]\n", "it has main, modules, programs"),
    ("[]\n", "it has none"),
    ("modules: []\nmain: m.py\n", "modules is []: it must be a list"),
    ("modules: [../x.py]\nmain: m.py\n", "modules[0] is '../x.py': it must be a relative path inside"),
    ("modules: [/etc/x.py]\nmain: m.py\n", "modules[0] is '/etc/x.py'"),
    ("modules: [_a/./x.py]\nmain: m.py\n", "modules[0] is '_a/./x.py'"),
    ("modules: [_a/x.txt]\nmain: m.py\n", "modules[0] is '_a/x.txt': list Python modules"),
    ("modules: [_a/__init__.py]\nmain: m.py\n", "the archive makes every package's __init__.py itself"),
    ("modules: [_a/x.py, _a/x.py]\nmain: m.py\n", "modules[1] is '_a/x.py', which is listed twice"),
    ("modules: [_a/x.py]\nmain: 7\n", "main is 7: it must be a relative file path"),
    ("modules: [_a/x.py\n", "cannot read the instance library list"),
])
def test_a_bad_list_is_refused_naming_the_value(tmp_path, text, message):
    (tmp_path / "list.yml").write_text(text)
    with pytest.raises(library.LibraryError) as raised:
        library.build(str(tmp_path / "list.yml"), str(tmp_path / "a.pyz"), str(tmp_path))
    assert message in str(raised.value) and str(tmp_path / "list.yml") in str(raised.value)


def test_a_missing_source_is_named(tmp_path):
    (tmp_path / "list.yml").write_text("modules: [_a/gone.py]\nmain: m.py\n")
    (tmp_path / "m.py").write_text("")
    with pytest.raises(library.LibraryError, match=r"_a/gone.py \(modules of .*list.yml\): cannot read it"):
        library.build(str(tmp_path / "list.yml"), str(tmp_path / "a.pyz"), str(tmp_path))
