"""Atomic file replacement: the new content with its mode, or the old file untouched."""
import os

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._common.files import replace_file


def test_replaces_the_file_with_the_mode_asked_for(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    replace_file(str(path), "new", mode=0o640)
    assert path.read_text() == "new"
    assert oct(os.stat(path).st_mode & 0o777) == "0o640"
    assert os.listdir(tmp_path) == ["state.json"]


def test_a_failed_rename_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    path.write_text("old")

    def refuse(source, target):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        replace_file(str(path), "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["state.json"]
