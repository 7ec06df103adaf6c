"""Benchmark: cloudmeta.imds.metadata_facts against amazon.aws.ec2_metadata_facts.

    .venv/bin/python tests/bench/bench_facts.py [--repeat N] [--latency S] [--write]

Both modules read the same emulated instance in one run. The old module only
knows http://169.254.169.254, so the benchmark re-runs itself inside a
private network namespace (tests/utils/imds-netns) where the emulator serves
that address on loopback, with LATENCY seconds added to every request.

For each module configuration it measures, over several repetitions (median):

* HTTP requests, from the emulator's counters (token PUTs included);
* wall time of an ansible-playbook run of one task, next to the same run of
  ansible.builtin.ping (Ansible's fixed cost), and the difference;
* the module's own time: its main() called in-process (arguments parsed,
  metadata read, facts returned), without Python start-up, AnsiballZ or the
  controller.

Before timing, it checks that the old module's facts and legacy_facts agree
(tests/bench/legacy_compare.py), so both really did the same job. --write
records the results in docs/benchmarks.md. See that file for the method.
"""
import argparse
import collections
import contextlib
import datetime
import http.client
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(HERE)
REPO_ROOT = os.path.dirname(TESTS_DIR)
DOC = os.path.join(REPO_ROOT, "docs", "benchmarks.md")
RESULTS_START = "<!-- bench_facts results: start -->"
RESULTS_END = "<!-- bench_facts results: end -->"

sys.path.insert(0, TESTS_DIR)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TESTS_DIR, "utils"))

from collection_path import COLLECTIONS_DIR, ensure_collection_link  # noqa: E402
from legacy_compare import legacy_differences  # noqa: E402
from playbook_runner import NETNS, playbook_env  # noqa: E402
from servers.common import in_imds_netns  # noqa: E402

EMULATOR = ("169.254.169.254", 80)
OLD = "amazon.aws.ec2_metadata_facts"
NEW = "cloudmeta.imds.metadata_facts"


class Case(object):
    """One thing to measure: a module with arguments, or (PLAY) a play's own fact gathering."""

    def __init__(self, label, module, args, play=None):
        self.label = label
        self.module = module
        self.args = args
        self.play = play


PING = Case("ansible.builtin.ping (Ansible's fixed cost)", "ansible.builtin.ping", {})
CASES = [
    Case("%s (whole tree)" % OLD, OLD, {}),
    Case("%s legacy_facts: true (whole tree)" % NEW, NEW, {"legacy_facts": True}),
    Case("%s gather_subset: all" % NEW, NEW, {}),
    Case("%s gather_subset: min" % NEW, NEW, {"gather_subset": ["min"]}),
]
SETUP = "ansible.builtin.setup"
# Fact gathering as users configure it (gather_facts: true, no tasks): the
# play's implicit Gathering Facts task, which runs several facts modules in
# parallel by default, polling each as an async job, or one after the other
# with ansible_facts_parallel: false. See docs/facts.md. gather_timeout is
# raised from 10 s for all three alike: on a loaded machine setup's
# hardware facts alone can take longer.
GATHER = {"gather_facts": True, "gather_timeout": 120}
GATHER_CASES = [
    Case("gather_facts: %s alone" % SETUP, None, None,
         dict(GATHER, vars={"ansible_facts_modules": [SETUP]})),
    Case("gather_facts: %s + %s, parallel (default)" % (SETUP, NEW), None, None,
         dict(GATHER, vars={"ansible_facts_modules": [SETUP, NEW]})),
    Case("gather_facts: %s + %s, serial (ansible_facts_parallel: false)" % (SETUP, NEW), None, None,
         dict(GATHER, vars={"ansible_facts_modules": [SETUP, NEW], "ansible_facts_parallel": False})),
]


# --------------------------------------------------------------- emulator

def emulator_call(method, path):
    """JSON answer of the emulator's control endpoint (never counted as IMDS traffic)."""
    connection = http.client.HTTPConnection(*EMULATOR, timeout=5)
    try:
        connection.request(method, "/_emulator/" + path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError("emulator %s /_emulator/%s answered %d" % (method, path, response.status))
    return json.loads(body.decode("utf-8"))


def counted(run):
    """Run RUN() with fresh emulator counters; return (its result, IMDS requests it caused)."""
    emulator_call("POST", "reset")
    result = run()
    return result, emulator_call("GET", "requests")["count"]


# ------------------------------------------------------- ansible-playbook

def write_playbook(directory, number, case):
    path = os.path.join(directory, "case%d.yml" % number)
    play = {
        "name": "Benchmark " + case.label,
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": "Run " + case.module, case.module: case.args}] if case.module else [],
    }
    play.update(case.play or {})
    with open(path, "w", encoding="utf-8") as handle:
        json.dump([play], handle)
    return path


def timed_playbook(playbook):
    """Wall seconds of one ansible-playbook run; raises if the play fails."""
    command = [
        os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
        "-i", "localhost,", "-c", "local",
        "-e", "ansible_python_interpreter=" + sys.executable,
        playbook,
    ]
    started = time.perf_counter()
    result = subprocess.run(command, env=playbook_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=300, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (playbook, result.stdout))
    return elapsed


# ------------------------------------------------------------- in-process

def module_main(name):
    """The main() of a module, imported once so that import time is not measured."""
    namespace, collection, module = name.split(".")
    package = "ansible_collections.%s.%s.plugins.modules.%s" % (namespace, collection, module)
    return __import__(package, fromlist=["main"]).main


MainRun = collections.namedtuple("MainRun", "seconds facts")


def run_main(main, args):
    """Call a module's main() in-process: MainRun(seconds, its ansible_facts)."""
    from ansible.module_utils.testing import patch_module_args

    output = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(output):
        started = time.perf_counter()
        try:
            main()
        except SystemExit:
            pass
        elapsed = time.perf_counter() - started
    result = json.loads(output.getvalue())
    if result.get("failed"):
        raise RuntimeError("module failed: %s" % result.get("msg"))
    return MainRun(elapsed, result["ansible_facts"])


# ------------------------------------------------------------------ bench

def check_parity(mains):
    """Fail unless the old module and legacy_facts describe the instance alike."""
    old = run_main(mains[OLD], {}).facts
    new = run_main(mains[NEW], {"legacy_facts": True}).facts
    new.pop("ec2")
    problems = legacy_differences(old, new)
    if problems:
        raise SystemExit("The two modules disagree, so timing them means nothing:\n  " + "\n  ".join(problems))
    return len(old), len(new)


def measure(repeat):
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader([COLLECTIONS_DIR])
    mains = {OLD: module_main(OLD), NEW: module_main(NEW)}
    old_count, new_count = check_parity(mains)
    print("parity: %d facts from %s, %d from legacy_facts (credentials left out): OK" % (old_count, OLD, new_count))

    every = [PING] + CASES + GATHER_CASES
    samples = dict((case.label, {"wall": [], "inproc": [], "requests": set()}) for case in every)
    with tempfile.TemporaryDirectory() as directory:
        playbooks = dict((case.label, write_playbook(directory, number, case))
                         for number, case in enumerate(every))
        # Warm-up: byte-compiles the collections and fills OS caches.
        for case in every:
            timed_playbook(playbooks[case.label])
            if case.module and case is not PING:
                run_main(mains[case.module], case.args)
        for round_number in range(repeat):
            print("round %d/%d" % (round_number + 1, repeat), file=sys.stderr)
            for case in every:
                wall, requests = counted(lambda: timed_playbook(playbooks[case.label]))
                samples[case.label]["wall"].append(wall)
                samples[case.label]["requests"].add(requests)
                if case is PING or not case.module:
                    continue
                run, requests = counted(lambda: run_main(mains[case.module], case.args))
                samples[case.label]["inproc"].append(run.seconds)
                samples[case.label]["requests"].add(requests)
    return samples


def summarise(samples):
    pings = samples[PING.label]["wall"]
    rows = []
    for case in [PING] + CASES + GATHER_CASES:
        data = samples[case.label]
        wall = statistics.median(data["wall"])
        inproc = statistics.median(data["inproc"]) if data["inproc"] else None
        rows.append({
            "label": case.label,
            "requests": "/".join(str(n) for n in sorted(data["requests"])),
            "wall": wall,
            # Paired with the same round's ping, so that slow spells on the
            # machine cancel out rather than add up.
            "over_ping": None if case is PING else statistics.median([
                case_wall - ping_wall for case_wall, ping_wall in zip(data["wall"], pings)]),
            "inproc": inproc,
        })
    return rows


def ratios(rows):
    by_label = dict((row["label"], row) for row in rows)
    old = by_label[CASES[0].label]
    lines = []
    for case in CASES[1:]:
        new = by_label[case.label]
        if new["over_ping"] > 0:
            over_ping = "%.0fx faster" % (old["over_ping"] / new["over_ping"])
        else:
            over_ping = "within the noise of the fixed cost"
        lines.append(
            "%s, compared with %s: module main() %.0fx faster; ansible-playbook minus ping %s; "
            "whole ansible-playbook run %.1fx shorter"
            % (case.label, OLD, old["inproc"] / new["inproc"], over_ping, old["wall"] / new["wall"])
        )
    setup_alone, parallel, serial = (by_label[case.label]["wall"] for case in GATHER_CASES)
    lines.append(
        "fact gathering: %s adds %s to %s alone in the default parallel mode, %s with "
        "ansible_facts_parallel: false" % (NEW, seconds(parallel - setup_alone), SETUP, seconds(serial - setup_alone)))
    return lines


def seconds(value):
    if value is None:
        return "-"
    return "%.3f s" % value if value >= 0.1 else "%.1f ms" % (value * 1000)


def over_ping(value):
    if value is not None and value <= 0:
        return "none measurable"
    return seconds(value)


def table(rows):
    header = ("| what ran | IMDS requests | ansible-playbook wall | minus ping | module main() in-process |\n"
              "| --- | ---: | ---: | ---: | ---: |\n")
    body = "".join("| %s | %s | %s | %s | %s |\n" % (
        row["label"], row["requests"], seconds(row["wall"]), over_ping(row["over_ping"]), seconds(row["inproc"]))
        for row in rows)
    return header + body


def environment(args):
    import ansible

    manifest = os.path.join(os.path.dirname(ansible.__file__), "..", "ansible_collections", "amazon", "aws",
                            "MANIFEST.json")
    try:
        with open(manifest, encoding="utf-8") as handle:
            amazon_aws = json.load(handle)["collection_info"]["version"]
    except (OSError, ValueError, KeyError):
        amazon_aws = "unknown"
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    # Other work on the machine slows every row; the load says how much to trust them.
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return ("%s; %d CPUs (%s), load average %.1f at the end; Python %s; ansible-core %s; amazon.aws %s; "
            "emulator latency %.1f ms per request; %d rounds, median" % (
                datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                os.cpu_count() or 0, cpu, load, platform.python_version(), ansible.__version__, amazon_aws,
                args.latency * 1000, args.repeat))


def write_doc(report):
    with open(DOC, encoding="utf-8") as handle:
        text = handle.read()
    start = text.index(RESULTS_START) + len(RESULTS_START)
    end = text.index(RESULTS_END)
    with open(DOC, "w", encoding="utf-8") as handle:
        handle.write(text[:start] + "\n" + report + text[end:])
    print("results written to %s" % os.path.relpath(DOC, REPO_ROOT))


def inside(args):
    if not in_imds_netns():
        sys.exit("bench_facts.py --inside runs only inside tests/utils/imds-netns; run it without --inside")
    emulator_call("GET", "config")
    samples = measure(args.repeat)
    rows = summarise(samples)
    report = "%s\n\n%s\n%s\n" % (
        environment(args), table(rows), "".join("- %s\n" % line for line in ratios(rows)))
    print()
    print(report)
    if args.write:
        write_doc(report)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--repeat", type=int, default=5, help="measured rounds (default 5); the median is shown")
    parser.add_argument("--latency", type=float, default=0.001,
                        help="seconds the emulator adds to every request (default 0.001)")
    parser.add_argument("--write", action="store_true", help="record the results in docs/benchmarks.md")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.latency < 0:
        parser.error("--repeat must be at least 1 and --latency not negative")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.inside:
        inside(args)
        return 0
    ensure_collection_link()
    env = dict(os.environ, PYTHON=sys.executable)
    command = [NETNS, "--latency", repr(args.latency), "--",
               sys.executable, os.path.abspath(__file__), "--inside", "--repeat", str(args.repeat),
               "--latency", repr(args.latency)] + (["--write"] if args.write else [])
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
