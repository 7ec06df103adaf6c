"""Fixtures every unit test may use: the IMDS emulator, in-process, on 127.0.0.1.

Directory conftests narrow these (the client tests swap in an emulator that
also counts requests in flight) rather than starting emulators of their own.
"""
import os
import sys

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))

import imds_emulator  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture
def make_emulator():
    """make_emulator(data=None, host='127.0.0.1', emulator_class=Emulator, **knobs).

    Returns a started emulator (an ephemeral port); every one is stopped
    after the test.
    """
    started = []

    def _make(data=None, host="127.0.0.1", emulator_class=imds_emulator.Emulator, **knobs):
        emulator = emulator_class(data, **knobs)
        emulator.start(host, 0)
        started.append(emulator)
        return emulator

    yield _make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(make_emulator):
    """The built-in instance with default knobs (IMDSv2 required, tags enabled)."""
    return make_emulator()
