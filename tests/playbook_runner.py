"""Run real ansible-playbook processes against the emulator.

Import it as ``from playbook_runner import run_in_netns``; the conftest of
tests/integration turns it into the ``run_playbook`` fixture.

Every run goes through tests/utils/imds-netns, so the playbook uses the
default metadata endpoint inside a network namespace that holds only
loopback: nothing can reach a real metadata service.
"""
import os
import subprocess
import sys

from collection_path import COLLECTIONS_DIR, REPO_ROOT

NETNS = os.path.join(REPO_ROOT, "tests", "utils", "imds-netns")
BIN_DIR = os.path.dirname(sys.executable)


def playbook_env(extra=None):
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_DIR,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        PYTHON=sys.executable,
        PATH=BIN_DIR + os.pathsep + env.get("PATH", ""),
    )
    if extra:
        env.update(extra)
    return env


def run_in_netns(command, emulator_args=(), env=None, timeout=300):
    """Run COMMAND (a list) in a fresh namespace with the emulator at 169.254.169.254."""
    return subprocess.run(
        [NETNS, *emulator_args, "--", *command],
        env=playbook_env(env),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,  # callers assert on the output and the return code
    )


def run_playbook(playbook, emulator_args=(), env=None, args=(), timeout=300):
    """Run PLAYBOOK on localhost with the test's own Python as interpreter."""
    command = [
        os.path.join(BIN_DIR, "ansible-playbook"),
        "-i", "localhost,",
        "-c", "local",
        "-e", "ansible_python_interpreter=" + sys.executable,
        *args,
        playbook,
    ]
    return run_in_netns(command, emulator_args=emulator_args, env=env, timeout=timeout)
