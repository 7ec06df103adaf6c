"""The emulator as a process: the URL line, clean shutdown, flags, errors."""
import glob
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys

import pytest

import imds_emulator

SCRIPT = os.path.abspath(imds_emulator.__file__)
EXAMPLES_DIR = os.path.join(os.path.dirname(SCRIPT), "examples")
URL_LINE = re.compile(r"http://(127\.0\.0\.1|\[::1\]):(\d+)")


class Running:
    """A started emulator process and the URL it printed."""

    def __init__(self, *args, python=sys.executable):
        self.proc = subprocess.Popen([python, SCRIPT, "--host", "127.0.0.1", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = select.select([self.proc.stdout], [], [], 60)[0]
        self.line = self.proc.stdout.readline() if ready else ""
        match = URL_LINE.search(self.line)
        if not match:
            self.proc.kill()
            raise AssertionError("no URL line: %r %r" % (self.line, self.proc.stderr.read()))
        self.url = match.group(0)
        self.port = int(match.group(2))

    def stop(self, signum=signal.SIGTERM):
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=60)


@pytest.fixture
def run_cli():
    started = []

    def _run(*args, **kwargs):
        running = Running(*args, **kwargs)
        started.append(running)
        return running

    yield _run
    for running in started:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait()
        running.proc.stdout.close()
        running.proc.stderr.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_prints_its_url_serves_and_exits_cleanly_on_signals(run_cli, http_for, signum):
    running = run_cli()
    assert running.line.startswith("imds_emulator: serving instance metadata at http://127.0.0.1:")
    assert http_for(running.url).get_v2("/latest/meta-data/instance-id").body == b"i-0123456789abcdef0"
    assert running.stop(signum) == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", running.port), timeout=1).close()


def test_flags_set_the_knobs(run_cli, http_for):
    running = run_cli("--http-tokens", "optional", "--instance-metadata-tags", "disabled", "--throttle", "1")
    http = http_for(running.url)
    assert http.get("/latest/meta-data/instance-id").status == 429
    assert http.get("/latest/meta-data/instance-id").status == 200
    assert http.get("/latest/meta-data/tags/instance/").status == 404
    config = json.loads(http.get("/_emulator/config").body)
    assert config["http_tokens"] == "optional" and config["instance_metadata_tags"] == "disabled"


def test_data_file_and_control_endpoints_out_of_process(run_cli, http_for):
    running = run_cli("--data", os.path.join(EXAMPLES_DIR, "local-zone-instance.json"))
    http = http_for(running.url)
    assert http.get_v2("/latest/meta-data/instance-type").body == b"c7g.large"
    report = json.loads(http.get("/_emulator/requests").body)
    assert [(r["method"], r["status"]) for r in report["requests"]] == [("PUT", 200), ("GET", 200)]


def test_url_line_comes_at_once_while_boot_refusals_refuse(run_cli, http_for):
    running = run_cli("--boot-refusals", "30", "--http-tokens", "optional")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", running.port), timeout=1).close()
    assert running.stop() == 0


def test_ipv6_endpoint_prints_a_second_url(run_cli, http_for):
    running = run_cli("--http-protocol-ipv6", "enabled")
    line = running.proc.stdout.readline()
    assert "http://[::1]:%d" % running.port in line
    assert http_for("http://[::1]:%d" % running.port).get_v2("/latest/meta-data/local-ipv4").body == b"10.0.1.25"


@pytest.mark.parametrize("args, message", [
    (["--http-tokens", "maybe"], "invalid choice: 'maybe'"),
    (["--data", "/nonexistent/instance.json"], "No such file or directory"),
    (["--host", "::1"], "http_protocol_ipv6 is disabled"),
    (["--http-put-response-hop-limit", "65"], "between 1 and 64"),
    (["--latency", "-1"], "must be >= 0"),
    (["--port", "70000"], "between 0 and 65535"),
])
def test_bad_arguments_exit_2_with_a_message(args, message):
    result = subprocess.run([sys.executable, SCRIPT, "--port", "0", *args],
                            capture_output=True, text=True, timeout=10, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "http://" not in result.stdout


def test_dump_builtin_prints_a_loadable_data_file():
    result = subprocess.run([sys.executable, SCRIPT, "--dump-builtin"], capture_output=True, text=True, timeout=10, check=False)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    instance = imds_emulator.load_instance(data)
    assert instance["meta-data"]["instance-id"] == "i-0123456789abcdef0"


def find_python_3_8():
    """A working Python 3.8 interpreter (pyenv shims may exist but refuse to run), or None."""
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    installed = glob.glob(os.path.join(pyenv_root, "versions", "3.8*", "bin", "python3.8"))
    candidates = [shutil.which("python3.8")] + sorted(installed)
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 8))"],
                               capture_output=True, text=True, check=False)
        if probe.stdout.strip() == "True":
            return candidate
    return None


PYTHON_3_8 = find_python_3_8()


@pytest.mark.skipif(PYTHON_3_8 is None, reason="no Python 3.8 interpreter on this machine")
def test_runs_on_python_3_8(run_cli, http_for):
    running = run_cli(python=PYTHON_3_8)
    assert http_for(running.url).get_v2("/latest/meta-data/placement/region").body == b"eu-west-1"
    assert running.stop() == 0
