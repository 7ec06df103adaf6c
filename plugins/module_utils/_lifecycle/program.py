# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The lifecycle agent program: the configuration, IMDS, a backend and the clock wired to Agent.

roles/register_instance/files/lifecycle-agent.py, the __main__.py of the
archive the role installs, calls main(); it is here so that the program is
only the few lines that call it. Exit status: 0 after a stop request (SIGTERM or SIGINT), having
deregistered within stop_budget; 2 when the configuration or the backend
settings cannot be used (systemd should not restart it: the unit sets
RestartPreventExitStatus=2); anything else is a crash, worth a restart.

Standard library only (boto3 for the AWS backends and the lifecycle hook).
"""

from __future__ import annotations

import datetime
import os
import signal
import sys
import threading
import time

from . import backends
from . import config as agent_config
from .agent import Agent, BackendError
from .metadata import MetadataReader, choose_paths, group_from_tags
from .metrics import Metric, write_textfile

USAGE = 'usage: lifecycle-agent CONFIG.json'


class Log:
    """One line per decision on stdout (the journal), each naming the registration."""

    def __init__(self, name, stream=None):
        self.name = name
        self.stream = stream or sys.stdout

    def __call__(self, message):
        self.stream.write('%s: %s\n' % (self.name, message.replace('\n', ' ')))
        self.stream.flush()


class Observed:
    """What the metrics report: polls, distinct notices seen, deregistration times, through wrappers of read and the backend."""

    def __init__(self, reader, backend):
        self.reader = reader
        self.backend = backend
        self.last_poll = None
        self.seen = set()
        self.last_deregistration = None
        if hasattr(backend, 'keepalive'):
            self.keepalive = backend.keepalive

    def read(self, path):
        text = self.reader.read(path)
        self.last_poll = time.time()
        return text

    def register(self, deadline):
        return self.backend.register(deadline)

    def deregister(self, deadline):
        started = time.monotonic()
        try:
            return self.backend.deregister(deadline)
        finally:
            self.last_deregistration = time.monotonic() - started


class WatchingAgent(Agent):
    """Agent that also counts the distinct notices it was served."""

    def __init__(self, observed, **kwargs):
        super().__init__(**kwargs)
        self.observed = observed

    def poll(self):
        found, read_paths = super().poll()
        self.observed.seen.update(notice.key for notice in found)
        return found, read_paths


def metrics_writer(path, name, observed, reader, log):
    """metrics(registered, leaving, done) for Agent: writes the textfile; a failure is logged once, never fatal."""
    problems = set()

    def write(registered, leaving, done):
        families = [
            (Metric('cloudmeta_lifecycle_registered', 'gauge', 'Whether the instance is registered with the backend.'),
             1 if registered else 0),
            (Metric('cloudmeta_lifecycle_leaving', 'gauge', 'Whether a notice took the instance out.'),
             1 if leaving is not None else 0),
            (Metric('cloudmeta_lifecycle_last_poll_timestamp_seconds', 'gauge', 'When IMDS was last polled.'),
             observed.last_poll or 0),
            (Metric('cloudmeta_lifecycle_notices_seen_total', 'counter', 'Distinct notices served by IMDS.'),
             len(observed.seen)),
            (Metric('cloudmeta_lifecycle_notices_acted_on', 'gauge', 'Notices acted on, as the state file records.'),
             done),
            (Metric('cloudmeta_lifecycle_imds_requests_total', 'counter', 'HTTP requests sent to IMDS, token PUTs '
                    'included.'), reader.request_count),
        ]
        if observed.last_deregistration is not None:
            families.append((Metric('cloudmeta_lifecycle_last_deregistration_seconds', 'gauge',
                                    'How long the last deregistration took.'), observed.last_deregistration))
        for metric, value in families:
            metric.set(value, registration=name)
        try:
            write_textfile(path, [metric for metric, _value in families])
        except (OSError, ValueError) as exc:
            if str(exc) not in problems:
                problems.add(str(exc))
                log('metrics: cannot write %s: %s' % (path, exc))

    return write


def lifecycle_hook(settings, instance_id, read, log):
    """The LifecycleHook of SETTINGS, the group read from the instance's tags when not given; None when it cannot be had."""
    from .._aws import calls  # pylint: disable=import-outside-toplevel
    from .autoscaling import LifecycleHook  # pylint: disable=import-outside-toplevel

    group = settings['group']
    if group is None:
        try:
            group = group_from_tags(read)
        except Exception as exc:  # pylint: disable=broad-except
            log('lifecycle hook: cannot read the group from the instance tags: %s' % exc)
        if group is None:
            log('lifecycle hook: no group set and no aws:autoscaling:groupName tag in IMDS (instance metadata '
                'tags off?); the terminate hook will not be completed')
            return None
    if not calls.HAS_BOTO3:
        log('lifecycle hook: boto3 cannot be imported; the terminate hook will not be completed')
        return None
    try:
        client = calls.client('autoscaling', settings['region'], settings['endpoint_url'])
        return LifecycleHook(client, group, settings['hook'], instance_id,
                             heartbeat_interval=settings['heartbeat_interval'])
    except (calls.AwsError, ValueError) as exc:
        log('lifecycle hook: %s; the terminate hook will not be completed' % getattr(exc, 'message', exc))
        return None


def main(argv, environ=None):
    if len(argv) != 2:
        sys.stderr.write(USAGE + '\n')
        return 2
    try:
        config = agent_config.load(argv[1])
    except agent_config.ConfigError as exc:
        sys.stderr.write('lifecycle-agent: %s\n' % exc)
        return 2
    log = Log(config['name'])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    signal.signal(signal.SIGINT, lambda *_args: stop.set())
    try:
        reader = MetadataReader(config['imds'], environ=environ)
        backend = backends.build(config['backend'])
    except (BackendError, ValueError) as exc:
        log('cannot start: %s' % exc)
        return 2
    log('starting: backend %s, poll every %g s, stop budget %g s, notice budget %g s' % (
        config['backend']['type'], config['poll_interval'], config['stop_budget'], config['notice_budget']))
    observed = Observed(reader, backend)
    paths = choose_paths(observed.read, config['watch'], log)
    hook = None
    if config['lifecycle_hook'] is not None:
        instance_id = config['instance_id']
        try:
            instance_id = instance_id or (observed.read('instance-id') or '').strip()
        except Exception as exc:  # pylint: disable=broad-except
            log('lifecycle hook: cannot read the instance ID: %s' % exc)
        hook = lifecycle_hook(config['lifecycle_hook'], instance_id, observed.read, log) if instance_id else None
    state_dir = os.path.dirname(config['state_path'])
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    metrics = None
    if config['metrics_path']:
        metrics = metrics_writer(config['metrics_path'], config['name'], observed, reader, log)
    agent = WatchingAgent(
        observed, read=observed.read, backend=observed, paths=paths, state_path=config['state_path'], log=log,
        wait=stop.wait, hook=hook, poll_interval=config['poll_interval'],
        maintenance_lead=datetime.timedelta(seconds=config['maintenance_lead']),
        stop_budget=config['stop_budget'], notice_budget=config['notice_budget'],
        retry_interval=config['retry_interval'], metrics=metrics)
    status = agent.run()
    if metrics is not None:
        metrics(registered=agent.registered is True, leaving=agent.leaving, done=len(agent.state.done))
    log('stopped: %s, %d IMDS requests' % ('registered' if agent.registered else 'deregistered', reader.request_count))
    return status
