"""Fixtures every integration test may use.

The IMDS emulator in-process on 127.0.0.1 (`make_emulator`, `emulator`),
loopback ports that refuse or drop connections, one moto_server per pytest
session (per xdist worker), and `run_playbook` (tests/playbook_runner.py).
Directory conftests narrow these (the client tests swap in an emulator that
also counts requests in flight) rather than starting servers of their own.
"""
import os
import socket
import sys

import pytest

from collection_path import REPO_ROOT
from playbook_runner import run_playbook as _run_playbook

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "utils"))

import imds_emulator  # noqa: E402  pylint: disable=wrong-import-position
from servers import aws  # noqa: E402  pylint: disable=wrong-import-position


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


@pytest.fixture
def closed_port():
    """A loopback port with nothing listening: connections are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def unanswered_port():
    """A loopback port whose SYNs are dropped, so a connect times out.

    A listener with backlog 0 that never accepts holds one finished
    handshake in its accept queue; once that is taken by a filler
    connection, Linux drops further SYNs instead of refusing them.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _filler in range(2):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(0.3)
    try:
        probe.connect(("127.0.0.1", port))
    except socket.timeout:
        pass
    else:
        pytest.skip("this kernel completes handshakes beyond the accept backlog")
    finally:
        probe.close()
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


@pytest.fixture
def run_playbook():
    """run_playbook(path, emulator_args=(), env=None, args=()) -> CompletedProcess."""
    return _run_playbook


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """moto_server on 127.0.0.1, once per session (per xdist worker); its URL.

    Tests share it: each one arranges resources of its own (names or tags
    with a marker of its own), so none sees another's.
    """
    log = str(tmp_path_factory.mktemp("moto") / "moto.log")
    proc, url = aws.start_moto(log_path=log)
    yield url
    proc.terminate()
    proc.wait(10)


def pytest_collection_modifyitems(items):
    """Files that run ansible-playbook go first, the role's before the rest; order within a file is kept.

    Each playbook run costs seconds. With two workers taking whole files
    (tests/utils/run-pytest), the longest files must start first, or one of
    them is left running alone at the end while the other worker is idle.
    run-pytest passes --no-loadscope-reorder, so xdist hands out the files in
    this order (its default is the files with the most tests first).
    """
    cost = {}

    def rank(item):
        path = str(item.path)
        if path not in cost:
            with open(path, encoding="utf-8") as handle:
                runs_playbooks = "ansible-playbook" in handle.read()
            cost[path] = 0 if "/roles/" in path else 1 if runs_playbooks else 2
        return cost[path]

    items[:] = sorted(items, key=rank)
