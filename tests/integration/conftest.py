"""Fixtures for integration tests; the machinery is in tests/playbook_runner.py."""
import pytest

from playbook_runner import run_playbook as _run_playbook


@pytest.fixture
def run_playbook():
    """run_playbook(path, emulator_args=(), env=None, args=()) -> CompletedProcess."""
    return _run_playbook
