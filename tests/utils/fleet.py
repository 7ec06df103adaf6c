#!/usr/bin/env python
"""A fleet at once: N simulated instances registering together with every backend, then leaving together.

Each instance is an EC2 instance made in moto_server (so ELBv2 `instance`
targets name a real instance) in one of two subnets in two Availability
Zones, with an IMDS emulator of its own (tools/imds_emulator.py) serving its
instance ID, private IP, MAC, subnet and zone. Each one runs the bootstrap
playbook (playbooks/bootstrap.yml) with `register_instance_imds_endpoint`
pointing at its emulator, once per backend, as a separate ansible-playbook
process (connection local, temporary directories of its own), against
shared real servers: moto_server (ELBv2 `instance` and `ip` target groups,
Cloud Map), HAProxy (dynamic servers and server-template slots), etcd and a
file_sd directory.

Every instance boots at a random moment within `window` seconds; at most
`concurrency` ansible-playbook processes run at once (2 cores cannot run
hundreds). Then all deregister the same way (state absent).

AWS calls go through a ThrottlingProxy (tests/utils/servers/throttling_proxy.py)
per AWS backend, so calls made and throttled are counted per backend; by
default the proxies throttle nothing (`throttle_share` 0).

    python tests/utils/fleet.py --size 50 [--concurrency 8] [--window 10] [--throttle-share 0.2]
        [--backends file_sd,elbv2_instance,...] [--json results.json]

prints one table row per backend: registered, lost, duplicated, leftovers
after the deregistration, failed plays, AWS calls made and throttled, and
the wall time of the slowest instance (in each phase). Fleet.run() returns
the same as a dict for tests. Nothing here talks to anything but loopback.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from servers import aws as aws_lab  # noqa: E402
from servers.etcd import Etcd  # noqa: E402
from servers.haproxy import HAProxy  # noqa: E402
from servers.throttling_proxy import ThrottlingProxy  # noqa: E402

REPO_ROOT = aws_lab.REPO_ROOT
BOOTSTRAP = 'cloudmeta.imds.bootstrap'
SERVICE = 'web'
PORT = 8080
ETCD_DOMAIN = 'fleet.internal'
ETCD_METADATA_PREFIX = '/cloudmeta/'  # the role's default register_instance_etcd_metadata_prefix is below it
# Two subnets in two zones, inside the VPC aws_lab.create_fixtures() makes (10.0.0.0/16).
SUBNETS = (('10.0.16.0/20', aws_lab.REGION + 'a', 'euw1-az1'), ('10.0.32.0/20', aws_lab.REGION + 'b', 'euw1-az2'))
# Backend name: the variables its play sets on top of the common ones, and the AWS service it calls.
BACKENDS = {
    'file_sd': ({'register_instance_backend': 'file_sd'}, None),
    'elbv2_instance': ({'register_instance_backend': 'elbv2', 'register_instance_elbv2_target_type': 'instance',
                        'register_instance_elbv2_target_group_arn': '@instance'}, 'ELASTIC_LOAD_BALANCING_V2'),
    'elbv2_ip': ({'register_instance_backend': 'elbv2', 'register_instance_elbv2_target_type': 'ip',
                  'register_instance_elbv2_target_group_arn': '@ip'}, 'ELASTIC_LOAD_BALANCING_V2'),
    'cloudmap': ({'register_instance_backend': 'cloudmap'}, 'SERVICEDISCOVERY'),
    'haproxy_dynamic': ({'register_instance_backend': 'haproxy', 'register_instance_haproxy_mode': 'dynamic',
                         'register_instance_haproxy_backend': 'app'}, None),
    'haproxy_slot': ({'register_instance_backend': 'haproxy', 'register_instance_haproxy_mode': 'slot',
                      'register_instance_haproxy_backend': 'slots'}, None),
    'etcd': ({'register_instance_backend': 'etcd'}, None),
}
PLAY_HEADER = re.compile(r'^PLAY \[', re.M)
FAILED_TASK = re.compile(r'^(fatal|failed): \[', re.M)
# profile_tasks: "... (0:00:01.234)       0:00:05.678 ****", the running total last.
RUNNING_TOTAL = re.compile(r'\(\d+:\d\d:\d\d\.\d+\)\s+(\d+):(\d\d):(\d\d\.\d+)')


def ansible_playbook():
    return os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


def groups_of(backends):
    """Backends split into runs so that no run holds two backends of one AWS service (one endpoint per service)."""
    groups = []
    for backend in backends:
        service = BACKENDS[backend][1]
        for group in groups:
            if service is None or all(BACKENDS[other][1] != service for other in group):
                group.append(backend)
                break
        else:
            groups.append([backend])
    return groups


class Instance:
    """One simulated instance: its identity in moto and its own IMDS emulator."""

    def __init__(self, index, moto_instance, subnet, zone_id, vpc_id):
        self.index = index
        self.instance_id = moto_instance['InstanceId']
        self.address = moto_instance['PrivateIpAddress']
        interface = moto_instance['NetworkInterfaces'][0]
        self.mac = interface['MacAddress']
        self.subnet = subnet
        self.zone_id = zone_id
        self.vpc_id = vpc_id
        self.emulator = None
        self.url = None

    def data(self):
        """The emulator's built-in instance, given this instance's identity and one network interface."""
        data = json.loads(subprocess.check_output([sys.executable, aws_lab.EMULATOR, '--dump-builtin']))
        meta = data['meta-data']
        macs = meta['network']['interfaces']['macs']
        primary = next(eni for eni in macs.values() if eni['device-number'] == '0')
        hostname = 'ip-%s.%s.compute.internal' % (self.address.replace('.', '-'), aws_lab.REGION)
        primary.update({'mac': self.mac, 'local-ipv4s': [self.address], 'subnet-id': self.subnet['SubnetId'],
                        'subnet-ipv4-cidr-block': self.subnet['CidrBlock'], 'vpc-id': self.vpc_id,
                        'local-hostname': hostname, 'interface-id': 'eni-%017x' % (0xf1ee7000 + self.index)})
        for key in ('ipv4-associations', 'ipv6s', 'public-ipv4s', 'public-hostname', 'subnet-ipv6-cidr-blocks'):
            primary.pop(key, None)
        meta['network']['interfaces']['macs'] = {self.mac: primary}
        meta.update({'instance-id': self.instance_id, 'local-ipv4': self.address, 'mac': self.mac,
                     'hostname': hostname, 'local-hostname': hostname})
        for key in ('ipv6', 'public-ipv4', 'public-hostname'):
            meta.pop(key, None)
        meta['placement'].update({'availability-zone': self.subnet['AvailabilityZone'],
                                  'availability-zone-id': self.zone_id})
        document = data['dynamic']['instance-identity']['document']
        document.update({'instanceId': self.instance_id, 'privateIp': self.address,
                         'availabilityZone': self.subnet['AvailabilityZone']})
        return data


class Fleet:
    """The shared servers, the instances, and the two phases (register, deregister) with their counts."""

    def __init__(self, workdir, size, backends=tuple(BACKENDS), concurrency=8, window=5.0, throttle_share=0.0,
                 throttle_attempts=2, seed=1, play_timeout=600):
        unknown = [backend for backend in backends if backend not in BACKENDS]
        if unknown:
            raise ValueError('Unknown backend(s) %s: choose from %s.' % (', '.join(unknown), ', '.join(BACKENDS)))
        if size < 1 or concurrency < 1:
            raise ValueError('size and concurrency must be at least 1 (got %d and %d).' % (size, concurrency))
        self.workdir = os.path.abspath(str(workdir))
        self.size = size
        self.backends = list(backends)
        self.concurrency = concurrency
        self.window = window
        self.throttle_share = throttle_share
        self.throttle_attempts = throttle_attempts
        self.seed = seed
        self.play_timeout = play_timeout
        self.stopping = threading.Event()
        self.processes = []
        self.servers = []
        self.proxies = {}
        self.instances = []
        self.fixtures = None
        self.moto_url = None
        self.haproxy = None
        self.etcd = None
        self.file_sd_dir = os.path.join(self.workdir, 'file_sd')

    # -- servers --------------------------------------------------------------------------

    def start(self):
        os.makedirs(self.file_sd_dir, exist_ok=True)
        try:
            self._start_aws()
            if 'haproxy_dynamic' in self.backends or 'haproxy_slot' in self.backends:
                self.haproxy = HAProxy(os.path.join(self.workdir, 'haproxy'), slots=self.size + 2).start()
                self.servers.append(self.haproxy)
            if 'etcd' in self.backends:
                self.etcd = Etcd(os.path.join(self.workdir, 'etcd')).start()
                self.servers.append(self.etcd)
            self._start_emulators()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_aws(self):
        moto, self.moto_url = aws_lab.start_moto(log_path=os.path.join(self.workdir, 'moto.log'))
        self.processes.append(moto)
        self.fixtures = aws_lab.create_fixtures(self.moto_url)
        ec2 = aws_lab.client(self.moto_url, 'ec2')
        vpc = self.fixtures['vpc_id']
        subnets = [(ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)['Subnet'], zone_id)
                   for cidr, zone, zone_id in SUBNETS]
        image = ec2.describe_images()['Images'][0]['ImageId']
        for index in range(self.size):
            subnet, zone_id = subnets[index % len(subnets)]
            reservation = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType='t3.micro',
                                            SubnetId=subnet['SubnetId'])
            self.instances.append(Instance(index, reservation['Instances'][0], subnet, zone_id, vpc))
        for backend in self.backends:
            if BACKENDS[backend][1]:
                share = self.throttle_share
                proxy = ThrottlingProxy(self.moto_url, share=share, attempts=self.throttle_attempts,
                                        seed=self.seed).start()
                self.proxies[backend] = proxy

    def _start_emulators(self):
        directory = os.path.join(self.workdir, 'instances')
        os.makedirs(directory, exist_ok=True)
        for instance in self.instances:
            path = os.path.join(directory, '%s.json' % instance.instance_id)
            with open(path, 'w', encoding='utf-8') as handle:
                json.dump(instance.data(), handle)
            instance.emulator, instance.url = aws_lab.start_emulator(path)
            self.processes.append(instance.emulator)

    def stop(self):
        for proxy in self.proxies.values():
            proxy.stop()
        for server in self.servers:
            server.stop()
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.processes, self.servers, self.proxies = [], [], {}

    def __enter__(self):
        return self.start()

    def __exit__(self, *_exc):
        self.stop()

    # -- plays ----------------------------------------------------------------------------

    def common_vars(self, instance, state):
        variables = {
            'register_instance_state': state,
            'register_instance_imds_endpoint': instance.url,
            'register_instance_service_name': SERVICE,
            'register_instance_port': PORT,
            'register_instance_file_sd_dir': self.file_sd_dir,
            'register_instance_cloudmap_service_id': self.fixtures['cloudmap_service_id'],
            'register_instance_elbv2_wait_timeout': 60,
            'register_instance_etcd_domain': ETCD_DOMAIN,
            'register_instance_etcd_keepalive': False,
            'register_instance_library_dir': os.path.join(self.workdir, 'lib', instance.instance_id),
            # The emulators share two busy cores with the plays: one can take longer than the 1 s per request
            # a real IMDS never needs. The fleet measures the backends, not IMDS latency.
            'register_instance_imds_timeout': 5.0,
            'register_instance_imds_retries': 5,
            'register_instance_imds_total_timeout': 60.0,
        }
        if self.haproxy:
            # No health checks: they would connect to the instances' private (non-loopback) addresses.
            variables.update(register_instance_haproxy_socket=self.haproxy.admin_socket,
                             register_instance_haproxy_check=False, register_instance_haproxy_drain_timeout=0)
        if self.etcd:
            variables['register_instance_etcd_url'] = self.etcd.url
        return variables

    def playbook(self, group):
        """One play per backend of GROUP: the bootstrap playbook with that backend's variables."""
        plays = []
        for backend in group:
            variables = {}
            for name, value in BACKENDS[backend][0].items():
                if isinstance(value, str) and value.startswith('@'):
                    value = self.fixtures['target_groups'][value[1:]]
                variables[name] = value
            plays.append({'name': 'Bootstrap with the %s backend' % backend,
                          'ansible.builtin.import_playbook': BOOTSTRAP, 'vars': variables})
        path = os.path.join(self.workdir, 'fleet-%s.yml' % '-'.join(group))
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump(plays, handle)
        return path

    def environment(self, home, group):
        env = {name: value for name, value in os.environ.items()
               if not name.startswith('AWS_') and name.lower() not in ('http_proxy', 'https_proxy', 'all_proxy')}
        env.update(aws_lab.moto_env(self.moto_url))
        # The instance reads its own emulator; boto3 gets the dummy keys and never asks IMDS.
        del env['AWS_EC2_METADATA_DISABLED']
        for backend in group:
            service = BACKENDS[backend][1]
            if service:
                env['AWS_ENDPOINT_URL_' + service] = self.proxies[backend].url
        env.update({
            'HOME': home,
            'ANSIBLE_LOCAL_TEMP': os.path.join(home, 'local-tmp'),
            'ANSIBLE_REMOTE_TEMP': os.path.join(home, 'remote-tmp'),
            'ANSIBLE_NOCOLOR': '1',
            # Task timestamps, to tell how long each backend's play took; pipelining saves CPU on 2 cores.
            'ANSIBLE_CALLBACKS_ENABLED': 'ansible.posix.profile_tasks',
            'ANSIBLE_PIPELINING': '1',
            'ANSIBLE_FORCE_COLOR': '0',
            'ANSIBLE_COLLECTIONS_PATH': collections_path(),
            'NO_PROXY': '*',
        })
        return env

    def play(self, instance, state, group, start_at, slots):
        """Wait for the instance's boot moment and a free process slot, then run its play for GROUP."""
        delay = start_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        home = tempfile.mkdtemp(prefix='%s-' % instance.instance_id, dir=os.path.join(self.workdir, 'homes'))
        vars_path = os.path.join(home, 'vars.json')
        with open(vars_path, 'w', encoding='utf-8') as handle:
            json.dump(self.common_vars(instance, state), handle)
        command = [ansible_playbook(), '-i', 'localhost,', '-c', 'local',
                   '-e', 'ansible_python_interpreter=' + sys.executable, '-e', '@' + vars_path, self.playbook(group)]
        with slots:
            if self.stopping.is_set():
                return {'instance': instance.instance_id, 'group': group, 'returncode': None, 'seconds': 0.0,
                        'failed': list(group), 'log': None, 'play_seconds': {}}
            started = time.monotonic()
            try:
                proc = subprocess.run(command, env=self.environment(home, group), cwd=home, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, timeout=self.play_timeout, check=False)
                output, returncode = proc.stdout, proc.returncode
            except subprocess.TimeoutExpired as exc:
                output, returncode = (exc.stdout or b'').decode('utf-8', 'replace') + '\nTIMEOUT', -1
            elapsed = time.monotonic() - started
        log = os.path.join(self.workdir, 'logs', '%s-%s-%s.log' % (state, instance.instance_id, '-'.join(group)))
        with open(log, 'w', encoding='utf-8') as handle:
            handle.write(output)
        shutil.rmtree(home, ignore_errors=True)
        return {'instance': instance.instance_id, 'group': group, 'returncode': returncode, 'seconds': elapsed,
                'failed': failed_backends(output, group, returncode), 'log': log,
                # Temporary directories get cleaned; keep why a play failed in the report itself.
                'errors': [line[:2000] for line in output.splitlines() if FAILED_TASK.match(line)
                           or line.startswith('TIMEOUT')][:5],
                'play_seconds': play_seconds(output, group)}

    def phase(self, state):
        """Every instance runs its plays for STATE, booting within the window; the results of every run."""
        os.makedirs(os.path.join(self.workdir, 'homes'), exist_ok=True)
        os.makedirs(os.path.join(self.workdir, 'logs'), exist_ok=True)
        rng = random.Random('%s-%s' % (self.seed, state))
        slots = threading.BoundedSemaphore(self.concurrency)
        begin = time.monotonic()
        jobs = [(instance, group, begin + rng.uniform(0, self.window))
                for instance in self.instances for group in groups_of(self.backends)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures = [pool.submit(self.play, instance, state, group, start_at, slots)
                       for instance, group, start_at in jobs]
            try:
                results = [future.result() for future in futures]
            except BaseException:
                # Interrupted: the plays not started yet must not start.
                self.stopping.set()
                raise
        return results, time.monotonic() - begin

    # -- what the backends hold -----------------------------------------------------------

    def holdings(self):
        """{backend: {instance_id: number of registrations of it}} as the servers hold them now."""
        by_address = {instance.address: instance.instance_id for instance in self.instances}
        ids = {instance.instance_id for instance in self.instances}
        result = {}
        aws = None
        if any(BACKENDS[backend][1] for backend in self.backends):
            aws = aws_lab.snapshot(dict(self.fixtures, moto_url=self.moto_url))
        for backend in self.backends:
            found, others = [], []
            if backend == 'file_sd':
                for name in os.listdir(self.file_sd_dir):
                    with open(os.path.join(self.file_sd_dir, name), encoding='utf-8') as handle:
                        for group in json.load(handle):
                            found += [by_address.get(target.rsplit(':', 1)[0], target) for target in group['targets']]
            elif backend in ('elbv2_instance', 'elbv2_ip'):
                targets = aws['elbv2']['instance' if backend == 'elbv2_instance' else 'ip']
                found = [by_address.get(target['id'], target['id']) for target in targets
                         if target['reason'] != 'Target.NotRegistered']
            elif backend == 'cloudmap':
                found = [item['id'] for item in aws['cloudmap'][self.fixtures['cloudmap_service_id']]]
            elif backend == 'haproxy_dynamic':
                found = [by_address.get(server['address'], name)
                         for name, server in self.haproxy.servers('app').items()]
            elif backend == 'haproxy_slot':
                found = [by_address.get(server['address'], server['address'])
                         for server in self.haproxy.servers('slots').values()
                         if server['address'] not in ('0.0.0.0', '::')]
            elif backend == 'etcd':
                for key, value in self.etcd.prefix('/skydns/').items():
                    host = json.loads(value).get('host') if value.startswith('{') else None
                    found.append(by_address.get(host, key))
                # The placement keys written next to the SkyDNS records must go too.
                others = sorted(self.etcd.prefix(ETCD_METADATA_PREFIX))
            counts = {}
            for item in found:
                counts[item] = counts.get(item, 0) + 1
            result[backend] = {'counts': counts, 'strangers': sorted(item for item in counts if item not in ids),
                               'other_keys': others}
        return result

    def aws_calls(self):
        result = {}
        for backend, proxy in self.proxies.items():
            total = proxy.stats()['total']
            result[backend] = {'calls': total['calls'], 'throttled': total['throttled']}
        return result

    # -- the whole run --------------------------------------------------------------------

    def run(self):
        """Register everyone at once, count, deregister everyone at once, count; the report as a dict."""
        registered_runs, register_wall = self.phase('present')
        after_register = self.holdings()
        calls_register = self.aws_calls()
        deregistered_runs, deregister_wall = self.phase('absent')
        after_deregister = self.holdings()
        calls_total = self.aws_calls()
        ids = [instance.instance_id for instance in self.instances]
        report = {
            'size': self.size, 'concurrency': self.concurrency, 'window': self.window,
            'throttle_share': self.throttle_share, 'throttle_attempts': self.throttle_attempts,
            'backends': {}, 'register_wall': register_wall, 'deregister_wall': deregister_wall,
            'cpus': os.cpu_count(),
        }
        for backend in self.backends:
            held = after_register[backend]['counts']
            left = after_deregister[backend]['counts']

            def runs_of(runs, backend=backend):
                return [run for run in runs if backend in run['group']]

            register = runs_of(registered_runs)
            deregister = runs_of(deregistered_runs)
            calls = calls_total.get(backend, {'calls': 0, 'throttled': 0})
            report['backends'][backend] = {
                'registered': sum(1 for instance_id in ids if held.get(instance_id)),
                'lost': sorted(instance_id for instance_id in ids if not held.get(instance_id)),
                'duplicated': sorted(instance_id for instance_id, count in held.items() if count > 1),
                'strangers': after_register[backend]['strangers'],
                'leftovers': sorted(left) + after_deregister[backend]['other_keys'],
                'failed_plays': sorted('%s %s' % (phase, run['instance'])
                                       for phase, runs in (('present', register), ('absent', deregister))
                                       for run in runs if backend in run['failed']),
                'failed_logs': sorted({run['log'] or '' for run in register + deregister if backend in run['failed']}),
                'errors': [error for run in register + deregister if backend in run['failed']
                           for error in run.get('errors', [])],
                'aws_calls': calls['calls'],
                'aws_throttled': calls['throttled'],
                'aws_calls_register': calls_register.get(backend, {'calls': 0})['calls'],
                'slowest_register': slowest(register, backend),
                'slowest_deregister': slowest(deregister, backend),
            }
        return report


def slowest(runs, backend):
    """The longest time an instance's play for BACKEND took (its whole run when the timestamps are missing)."""
    return max(run['play_seconds'].get(backend, run['seconds']) for run in runs)


def failed_backends(output, group, returncode):
    """The backends of GROUP whose play failed, or never ran because an earlier one failed (the host was dropped)."""
    if returncode == 0:
        return []
    sections = PLAY_HEADER.split(output)[1:]
    for position, backend in enumerate(group):
        section = sections[position] if position < len(sections) else ''
        if FAILED_TASK.search(section) or position >= len(sections):
            return group[position:]
    return list(group)


def play_seconds(output, group):
    """{backend: seconds its play took} from profile_tasks' running totals (the first at each play, the last)."""
    marks = []
    for section in PLAY_HEADER.split(output)[1:]:
        totals = [int(h) * 3600 + int(m) * 60 + float(sec) for h, m, sec in RUNNING_TOTAL.findall(section)]
        marks.append(totals)
    result = {}
    for position, backend in enumerate(group):
        if position >= len(marks) or not marks[position]:
            continue
        following = [total for later in marks[position + 1:] for total in later[:1]]
        end = following[0] if following else marks[position][-1]
        result[backend] = end - marks[position][0]
    return result


def collections_path():
    """Where ansible-playbook finds this collection as cloudmeta.imds (the tests' collection path)."""
    sys.path.insert(0, os.path.join(REPO_ROOT, 'tests'))
    from collection_path import ensure_collection_link  # pylint: disable=import-outside-toplevel
    return ensure_collection_link()


def table(report):
    """The report as a Markdown table."""
    header = ('| backend | registered | lost | duplicated | leftovers | failed plays | AWS calls | throttled '
              '| slowest register (s) | slowest deregister (s) |')
    lines = [header, '|' + '---|' * 10]
    for backend, row in report['backends'].items():
        lines.append('| %s | %d/%d | %d | %d | %d | %d | %s | %s | %.1f | %.1f |' % (
            backend, row['registered'], report['size'], len(row['lost']), len(row['duplicated']),
            len(row['leftovers']), len(row['failed_plays']),
            row['aws_calls'] if backend in AWS_BACKENDS else '-',
            row['aws_throttled'] if backend in AWS_BACKENDS else '-',
            row['slowest_register'], row['slowest_deregister']))
    return '\n'.join(lines)


AWS_BACKENDS = tuple(backend for backend, (_variables, service) in BACKENDS.items() if service)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size', type=int, default=50, help='instances in the fleet (default 50)')
    parser.add_argument('--concurrency', type=int, default=8,
                        help='ansible-playbook processes running at once (default 8)')
    parser.add_argument('--window', type=float, default=10.0,
                        help='seconds within which every instance boots (default 10)')
    parser.add_argument('--backends', default=','.join(BACKENDS),
                        help='comma-separated, from: %s (default: all)' % ', '.join(BACKENDS))
    parser.add_argument('--throttle-share', type=float, default=0.0,
                        help='share of distinct AWS calls the proxies throttle (default 0)')
    parser.add_argument('--throttle-attempts', type=int, default=2,
                        help='arrivals of a chosen call that are throttled before it goes through (default 2)')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--workdir', help='keep the servers\' files and the play logs here (default: a temporary '
                                          'directory, removed afterwards)')
    parser.add_argument('--json', help='also write the report to this file')
    args = parser.parse_args(argv)
    backends = [name.strip() for name in args.backends.split(',') if name.strip()]
    workdir = args.workdir or tempfile.mkdtemp(prefix='cloudmeta-fleet-')
    started = time.monotonic()
    try:
        with Fleet(workdir, args.size, backends, concurrency=args.concurrency, window=args.window,
                   throttle_share=args.throttle_share, throttle_attempts=args.throttle_attempts,
                   seed=args.seed) as fleet:
            report = fleet.run()
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report['total_wall'] = time.monotonic() - started
    print('Fleet of %d instances, %d backends, at most %d ansible-playbook processes at once, booting within %.0f s, '
          'throttling share %s (%d attempts), %d CPUs; register phase %.0f s, deregister phase %.0f s, total %.0f s.'
          % (report['size'], len(backends), report['concurrency'], report['window'], report['throttle_share'],
             report['throttle_attempts'], report['cpus'], report['register_wall'], report['deregister_wall'],
             report['total_wall']))
    print(table(report))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as handle:
            json.dump(report, handle, indent=2)
    bad = [backend for backend, row in report['backends'].items()
           if row['lost'] or row['duplicated'] or row['leftovers'] or row['failed_plays']]
    if bad:
        print('Not clean: %s (play logs are kept with --workdir).' % ', '.join(bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
