"""Benchmark: the lifecycle agent's reaction time per backend, and what it costs while idle.

    .venv/bin/python tests/bench/bench_lifecycle.py [--notices N] [--poll S] [--idle S] [--write]

Reaction: for each backend (file_sd, HAProxy, etcd, ELBv2 and Cloud Map on
moto_server), the installed agent (tests/integration/roles/register_instance/
lifecycle_lab.py installs it as the role lays it out) runs against the
emulator on a Spot instance with poll interval S. N times over, the
emulator starts serving a Spot notice at a recorded moment, and this process
polls the backend itself (every 10 ms) until the instance is gone; the notice
is then withdrawn, the agent registers again, and the next one comes. The
time from the notice appearing to the instance being gone is reported as
median and worst; the target is S + 1 s.

Idle cost: agents at the default poll interval (5 s) on an on-demand instance
(maintenance schedule only) and on a Spot instance in an Auto Scaling group
(Spot, lifecycle state, maintenance) run for --idle seconds; the IMDS
requests in that window (the emulator's request log), the agent's CPU seconds
(/proc/PID/stat) are extrapolated to one hour, and its peak resident memory
(/proc/PID/status VmHWM) is read at the end, for a backend without boto3
(file_sd) and one with it (ELBv2). AWS Node Termination Handler's IMDS mode
polls four paths every 2 s (7200 requests an hour, plus a token an hour); the
agent's numbers at 2 s are computed the same way for comparison.

--write records the results in docs/benchmarks.md.
"""
import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO_ROOT, 'tools'))
sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))
sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'integration', 'roles', 'register_instance'))
sys.path.insert(0, os.path.join(REPO_ROOT, 'tests'))

from collection_path import ensure_collection_link  # noqa: E402  pylint: disable=wrong-import-position

# lifecycle_lab builds the agent's archive with the collection's builder.
sys.path.insert(0, ensure_collection_link())

import imds_emulator  # noqa: E402  pylint: disable=wrong-import-position
from lifecycle_lab import INSTANCE_ID, AgentProcess, base_config, install_library, wait_until  # noqa: E402
from servers import aws  # noqa: E402  pylint: disable=wrong-import-position
from servers.etcd import Etcd  # noqa: E402  pylint: disable=wrong-import-position
from servers.haproxy import HAProxy  # noqa: E402  pylint: disable=wrong-import-position

DOC = os.path.join(REPO_ROOT, 'docs', 'benchmarks.md')
START, END = '<!-- bench_lifecycle results: start -->', '<!-- bench_lifecycle results: end -->'
NTH_PER_HOUR = 4 * 3600 / 2 + 1
CHECK_EVERY = 0.01


def aws_env(url):
    return {'AWS_ENDPOINT_URL': url, 'AWS_ACCESS_KEY_ID': 'testing', 'AWS_SECRET_ACCESS_KEY': 'testing',
            'AWS_CONFIG_FILE': os.devnull, 'AWS_SHARED_CREDENTIALS_FILE': os.devnull}


def emulator_for(spot=True, auto_scaling=False):
    emulator = imds_emulator.Emulator(None, **({'autoscaling_state': 'InService'} if auto_scaling else {}))
    if spot:
        emulator.instance['meta-data']['instance-life-cycle'] = 'spot'
    emulator.start('127.0.0.1', 0)
    return emulator


class Backends:
    """The servers, and for each backend: the agent's settings and "is the instance registered there"."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.haproxy = HAProxy(os.path.join(workdir, 'haproxy')).start()
        self.etcd = Etcd(os.path.join(workdir, 'etcd')).start()
        self.moto, self.moto_url = aws.start_moto(log_path=os.path.join(workdir, 'moto.log'))
        os.makedirs(os.path.join(workdir, 'file_sd'))

    def close(self):
        self.haproxy.stop()
        self.etcd.stop()
        self.moto.terminate()
        self.moto.wait(10)

    def file_sd(self):
        path = os.path.join(self.workdir, 'file_sd', 'web-%s.json' % INSTANCE_ID)
        return {'type': 'file_sd', 'path': path, 'content': '[{"targets": ["10.0.1.25:8080"]}]\n'}, \
            lambda: os.path.exists(path), {}

    def haproxy_backend(self):
        name = 'web-%s' % INSTANCE_ID
        return {'type': 'haproxy', 'socket': self.haproxy.admin_socket, 'backend': 'app', 'name': name,
                'address': '10.0.1.25', 'port': 8080}, lambda: name in self.haproxy.servers('app'), {}

    def etcd_backend(self):
        key = '/bench/skydns/web/' + INSTANCE_ID
        return {'type': 'etcd', 'url': self.etcd.url, 'keys': {key: {'host': '10.0.1.25', 'port': 8080}},
                'lease_ttl': 30}, lambda: self.etcd.get(key) is not None, {}

    def elbv2(self):
        ec2, elbv2 = aws.client(self.moto_url, 'ec2'), aws.client(self.moto_url, 'elbv2')
        vpc = ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']
        arn = elbv2.create_target_group(Name='bench-%s' % uuid.uuid4().hex[:8], Protocol='HTTP', Port=80,
                                        VpcId=vpc, TargetType='instance')['TargetGroups'][0]['TargetGroupArn']

        def registered():
            return any(d['TargetHealth'].get('Reason') != 'Target.NotRegistered'
                       for d in elbv2.describe_target_health(TargetGroupArn=arn)['TargetHealthDescriptions'])

        return {'type': 'elbv2', 'target_group_arn': arn, 'target_id': INSTANCE_ID, 'vpc_id': vpc,
                'region': aws.REGION}, registered, aws_env(self.moto_url)

    def cloudmap(self):
        cloudmap = aws.client(self.moto_url, 'servicediscovery')
        operation = cloudmap.create_http_namespace(Name='bench-%s' % uuid.uuid4().hex[:8])['OperationId']
        namespace = cloudmap.get_operation(OperationId=operation)['Operation']['Targets']['NAMESPACE']
        service = cloudmap.create_service(Name='web', NamespaceId=namespace)['Service']['Id']
        return {'type': 'cloudmap', 'service_id': service, 'instance_id': INSTANCE_ID,
                'attributes': {'AWS_INSTANCE_IPV4': '10.0.1.25'}, 'region': aws.REGION}, \
            lambda: bool(cloudmap.list_instances(ServiceId=service)['Instances']), aws_env(self.moto_url)


def reaction(program, workdir, name, make, notices, poll):
    backend, registered, env = make()
    emulator = emulator_for()
    run_dir = os.path.join(workdir, 'react-' + name)
    os.makedirs(run_dir)
    config = base_config(run_dir, emulator.url, backend, poll_interval=poll, retry_interval=0.2, metrics_path=None)
    agent = AgentProcess(program, config, run_dir, env=env, site=bool(env))
    times = []
    try:
        agent.wait_for('register: done')
        for _notice in range(notices):
            assert wait_until(registered, 60, CHECK_EVERY), agent.text()
            # Phase: the notice may come at any moment of the agent's poll cycle.
            time.sleep(poll * (_notice % 7) / 7.0)
            appeared = time.monotonic()
            emulator.configure(spot_action_after=0)
            assert wait_until(lambda: not registered(), 60, CHECK_EVERY), agent.text()
            times.append(time.monotonic() - appeared)
            emulator.configure(spot_action_after=None)
        assert agent.stop() == 0
    finally:
        agent.kill()
        emulator.stop()
    return times


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid, encoding='ascii') as handle:
        fields = handle.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def peak_rss_kib(pid):
    with open('/proc/%d/status' % pid, encoding='ascii') as handle:
        for line in handle:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


def idle(program, workdir, name, backend, env, spot, auto_scaling):
    emulator = emulator_for(spot=spot, auto_scaling=auto_scaling)
    run_dir = os.path.join(workdir, 'idle-' + name)
    os.makedirs(run_dir)
    agent = AgentProcess(program, base_config(run_dir, emulator.url, backend, poll_interval=5.0, metrics_path=None),
                         run_dir, env=env, site=bool(env))
    return emulator, agent


def measure_idle(runs, window):
    """Start every idle agent, then sample all of them over the same WINDOW."""
    for _emulator, agent in runs.values():
        agent.wait_for('register: done')
        # Past the start: the first poll after registering.
        agent.wait_for('watch:')
    time.sleep(5.0)
    starts = {}
    for name, (emulator, agent) in runs.items():
        emulator.reset_counters()
        starts[name] = (time.monotonic(), cpu_seconds(agent.proc.pid))
    time.sleep(window)
    results = {}
    for name, (emulator, agent) in runs.items():
        elapsed = time.monotonic() - starts[name][0]
        cpu = cpu_seconds(agent.proc.pid) - starts[name][1]
        requests = len(emulator.requests)
        results[name] = dict(requests_per_hour=requests * 3600.0 / elapsed, cpu_per_hour=cpu * 3600.0 / elapsed,
                             rss_mib=peak_rss_kib(agent.proc.pid) / 1024.0, requests=requests, window=elapsed,
                             paths=agent.line_with('watch:').split('watch: ', 1)[1])
        assert agent.stop() == 0
        agent.kill()
        emulator.stop()
    return results


def report(reactions, idle_results, poll, notices, window):
    lines = ['Run %s on %s, Python %s, %d CPUs, load average %s at the end.' % (
        datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), platform.platform(),
        platform.python_version(), os.cpu_count(), '%.1f' % os.getloadavg()[0]), '',
        'Notice to gone from the backend, %d Spot notices per backend, poll interval %g s (target: %g s):' % (
            notices, poll, poll + 1), '',
        '| backend | median | worst | within target |', '| --- | --- | --- | --- |']
    for name, times in reactions.items():
        within = sum(1 for value in times if value <= poll + 1)
        lines.append('| %s | %.2f s | %.2f s | %d of %d |' % (name, statistics.median(times), max(times), within, len(times)))
    lines += ['', 'Idle, default poll interval 5 s, sampled over %.0f s and extrapolated to one hour:' % window, '',
              '| instance, backend | paths polled | IMDS requests/hour | at 2 s polling | CPU s/hour | peak RSS |',
              '| --- | --- | --- | --- | --- | --- |']
    for name, result in idle_results.items():
        paths = result['paths'].count(',') + 1
        lines.append('| %s | %s | %.0f | %.0f | %.2f | %.1f MiB |' % (
            name, result['paths'], result['requests_per_hour'], paths * 3600 / 2.0, result['cpu_per_hour'],
            result['rss_mib']))
    lines += ['', 'AWS Node Termination Handler (IMDS mode) polls 4 paths every 2 s: %d requests/hour.' % NTH_PER_HOUR]
    return '\n'.join(lines) + '\n'


def write(text):
    with open(DOC, encoding='utf-8') as handle:
        doc = handle.read()
    block = START + '\n' + text + END
    if START in doc:
        doc = doc[:doc.index(START)] + block + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip('\n') + '\n\n## Lifecycle agent: latest results\n\n' + block + '\n'
    with open(DOC, 'w', encoding='utf-8') as handle:
        handle.write(doc)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--notices', type=int, default=20)
    parser.add_argument('--poll', type=float, default=1.0)
    parser.add_argument('--idle', type=float, default=60.0)
    parser.add_argument('--write', action='store_true')
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix='bench-lifecycle-')
    program = install_library(os.path.join(workdir, 'lib'))
    servers = Backends(workdir)
    try:
        elbv2 = servers.elbv2()
        runs = {
            'on-demand, file_sd': idle(program, workdir, 'od', servers.file_sd()[0], {}, False, False),
            'Spot in an Auto Scaling group, ELBv2': idle(program, workdir, 'spot-asg', elbv2[0], elbv2[2], True, True),
        }
        idle_results = measure_idle(runs, args.idle)
        reactions = {}
        for name, make in (('file_sd', servers.file_sd), ('HAProxy', servers.haproxy_backend),
                           ('etcd', servers.etcd_backend), ('ELBv2 (moto)', servers.elbv2),
                           ('Cloud Map (moto)', servers.cloudmap)):
            reactions[name] = reaction(program, workdir, name.split()[0], make, args.notices, args.poll)
            print('%s: median %.2f s, worst %.2f s' % (name, statistics.median(reactions[name]), max(reactions[name])),
                  flush=True)
    finally:
        servers.close()
    text = report(reactions, idle_results, args.poll, args.notices, args.idle)
    print(text)
    if args.write:
        write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
