"""The lifecycle agent as a real process, for its tests and its benchmark (tests/bench/bench_lifecycle.py).

install_library() builds the instance library archive of
files/instance-library.yml with the builder the role's action runs
(plugins/plugin_utils/_instance_library.py; the role's own installation is
proved by test_etcd_keepalive.py; here it is the program that is under test,
many times, so it is built in Python once per module). AgentProcess runs the
installed archive as the unit does, with
`python -I -S` (nothing but the standard library and the archive)
or `python -I` when a backend needs boto3 from site-packages, and reads its
log lines (stdout) as they come. Every wait is for a condition, with a
generous deadline: a busy machine makes the tests slower, never wrong.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.cloudmeta.imds.plugins.plugin_utils._instance_library import build

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
ROLE_FILES = os.path.join(REPO_ROOT, 'roles', 'register_instance', 'files')
ARCHIVE = 'cloudmeta-lifecycle.pyz'
PATIENCE = 60.0
INSTANCE_ID = 'i-0123456789abcdef0'


def install_library(library_dir):
    """The instance library archive of files/instance-library.yml in LIBRARY_DIR, as the role names it; its path."""
    os.makedirs(library_dir, exist_ok=True)
    archive = os.path.join(library_dir, ARCHIVE)
    build(os.path.join(ROLE_FILES, 'instance-library.yml'), archive)
    return archive


def wait_until(predicate, timeout=PATIENCE, interval=0.05):
    """PREDICATE()'s first true value, or None when TIMEOUT passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def base_config(workdir, emulator_url, backend, **changes):
    config = {
        'version': 1,
        'name': 'web',
        'instance_id': INSTANCE_ID,
        'state_path': os.path.join(workdir, 'state', 'web.json'),
        'metrics_path': os.path.join(workdir, 'metrics', 'lifecycle.prom'),
        'imds': {'endpoint': emulator_url, 'timeout': 1.0, 'retries': 3, 'total_timeout': 10.0},
        'poll_interval': 0.2,
        'retry_interval': 0.2,
        'backend': backend,
    }
    config.update(changes)
    return config


class AgentProcess:
    """One run of the installed agent: its log lines, and stop() by SIGTERM."""

    def __init__(self, program, config, workdir, env=None, site=False):
        os.makedirs(os.path.join(workdir, 'metrics'), exist_ok=True)
        self.config_path = os.path.join(workdir, 'agent-%d.json' % time.monotonic_ns())
        with open(self.config_path, 'w', encoding='utf-8') as handle:
            json.dump(config, handle)
        self.lines = []
        self._lock = threading.Lock()
        flags = ['-I'] if site else ['-I', '-S']
        environment = {'PATH': os.environ.get('PATH', '/usr/bin:/bin')}
        environment.update(env or {})
        self.proc = subprocess.Popen([sys.executable] + flags + [program, self.config_path], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, cwd=workdir, env=environment, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append((time.monotonic(), line.rstrip('\n')))

    def log(self):
        with self._lock:
            return [line for _at, line in self.lines]

    def text(self):
        return '\n'.join(self.log())

    def line_with(self, *parts, after=0):
        """The first log line holding every one of PARTS (from line AFTER on), or None."""
        for line in self.log()[after:]:
            if all(part in line for part in parts):
                return line
        return None

    def wait_for(self, *parts, timeout=PATIENCE, after=0):
        """The first log line holding every one of PARTS; fails when none came within TIMEOUT or the agent exited."""
        wait_until(lambda: self.line_with(*parts, after=after) or self.proc.poll() is not None, timeout)
        if self.proc.poll() is not None:
            self._reader.join(10)
        line = self.line_with(*parts, after=after)
        assert line, 'no line with %r in the agent log (exit status %s):\n%s' % (parts, self.proc.poll(), self.text())
        return line

    def stop(self, timeout=PATIENCE):
        """SIGTERM, as systemctl stop sends; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait(10)
        self._reader.join(10)
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)


def metrics_of(path):
    """{name: value} of the agent's textfile (labels dropped: one registration per file)."""
    values = {}
    try:
        with open(path, encoding='utf-8') as handle:
            for line in handle:
                if line and not line.startswith('#'):
                    name, value = line.rsplit(' ', 1)
                    values[name.split('{', 1)[0]] = float(value)
    except FileNotFoundError:
        return {}
    return values


@pytest.fixture
def agents():
    """A list the test appends its AgentProcess objects to; each is killed when the test ends."""
    started = []
    yield started
    for agent in started:
        agent.kill()
