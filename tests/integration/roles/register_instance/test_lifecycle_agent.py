"""The lifecycle agent program, installed as the role installs it and run as the unit runs it, against the emulator.

The backend here is a file_sd directory (the agent writes and removes the
role's file), so that every kind of notice, the stop request, restarts and
IMDS faults are exercised on the real process with nothing else in the way;
test_lifecycle_backends.py runs the same program against moto_server,
HAProxy and etcd. Notices are played by the emulator at run time
(docs/emulator.md), the agent polls every 0.2 s, and every wait is for a
condition (a log line, a file gone) with a generous deadline.
"""
import json
import os
import subprocess
import sys

import pytest

from lifecycle_lab import INSTANCE_ID, PATIENCE, AgentProcess, base_config, install_library, metrics_of, wait_until
from lifecycle_lab import agents  # noqa: F401  pylint: disable=unused-import

SPOT = 'spot/instance-action'
REBALANCE = 'events/recommendations/rebalance'
MAINTENANCE = 'events/maintenance/scheduled'
LIFECYCLE = 'autoscaling/target-lifecycle-state'
CONTENT = '[\n  {\n    "labels": {"service": "web"},\n    "targets": ["10.0.1.25:8080"]\n  }\n]\n'


@pytest.fixture(scope='module')
def program(tmp_path_factory):
    return install_library(str(tmp_path_factory.mktemp('instance') / 'lib'))


@pytest.fixture
def file_sd(tmp_path):
    directory = tmp_path / 'file_sd'
    directory.mkdir()
    return {'type': 'file_sd', 'path': str(directory / ('web-%s.json' % INSTANCE_ID)), 'content': CONTENT}


@pytest.fixture
def start(program, tmp_path, agents):
    """start(emulator, backend, **config) -> AgentProcess, registered (its first decision logged)."""

    def _start(emulator, backend, registered=True, **changes):
        agent = AgentProcess(program, base_config(str(tmp_path), emulator.url, backend, **changes), str(tmp_path))
        agents.append(agent)
        if registered:
            agent.wait_for('register: done')
        return agent

    return _start


def spot_instance(make_emulator, **knobs):
    emulator = make_emulator(**knobs)
    emulator.instance['meta-data']['instance-life-cycle'] = 'spot'
    return emulator


def gets(emulator, path):
    return [r for r in emulator.requests if r.method == 'GET' and r.path == '/latest/meta-data/' + path]


@pytest.mark.parametrize('action', ['terminate', 'stop', 'hibernate'])
def test_a_spot_notice_of_each_kind_deregisters_once(make_emulator, start, file_sd, action):
    emulator = spot_instance(make_emulator, spot_action=action)
    agent = start(emulator, file_sd)
    assert open(file_sd['path'], encoding='utf-8').read() == CONTENT
    emulator.configure(spot_action_after=0)
    agent.wait_for('deregister (Spot %s at' % action, 'done in', 'removed %s' % file_sd['path'])
    assert not os.path.exists(file_sd['path'])
    assert agent.stop() == 0
    # Stopping after the notice has nothing more to remove.
    assert len([line for line in agent.log() if 'deregister (' in line]) == 1, agent.text()
    state = json.load(open(agent_state_path(agent), encoding='utf-8'))
    assert [entry['outcome'] for entry in state['done'].values()] == ['deregistered']


def agent_state_path(agent):
    return json.load(open(agent.config_path, encoding='utf-8'))['state_path']


def recorded_outcomes(agent):
    """The outcomes in the agent's state file, once there is one: it is saved just after the decision is logged."""
    def read():
        try:
            with open(agent_state_path(agent), encoding='utf-8') as handle:
                return [entry['outcome'] for entry in json.load(handle)['done'].values()]
        except FileNotFoundError:
            return None
    return wait_until(read)


@pytest.mark.parametrize('state', ['Terminated', 'Warmed:Stopped', 'Warmed:Running'])
def test_an_auto_scaling_state_that_leaves_deregisters(make_emulator, start, file_sd, state):
    emulator = make_emulator(autoscaling_state='InService', autoscaling_next_state=state)
    agent = start(emulator, file_sd)
    assert 'autoscaling/target-lifecycle-state' in agent.line_with('watch:')
    emulator.configure(autoscaling_state_after=0)
    agent.wait_for('deregister (Auto Scaling state %s)' % state, 'done in')
    assert not os.path.exists(file_sd['path'])
    assert agent.stop() == 0


def test_a_warm_pool_instance_back_in_service_registers_again(make_emulator, start, file_sd):
    emulator = make_emulator(autoscaling_state='Warmed:Stopped')
    agent = start(emulator, file_sd, registered=False)
    agent.wait_for('start: not registering: Auto Scaling state Warmed:Stopped')
    assert not os.path.exists(file_sd['path'])
    emulator.configure(autoscaling_next_state='InService', autoscaling_state_after=0)
    agent.wait_for('ended: Auto Scaling state Warmed:Stopped; registering again')
    agent.wait_for('register: done')
    assert open(file_sd['path'], encoding='utf-8').read() == CONTENT
    assert agent.stop() == 0
    assert not os.path.exists(file_sd['path'])


def test_maintenance_deregisters_the_lead_time_before_not_before(make_emulator, start, file_sd):
    # NotBefore an hour away, deregistration due a second after the event appears.
    emulator = make_emulator(maintenance_code='instance-retirement', maintenance_not_before=3600)
    agent = start(emulator, file_sd, maintenance_lead=3599)
    emulator.configure(maintenance_after=0)
    line = agent.wait_for('deregister (instance-retirement instance-event-', 'done in')
    assert 'not before' in line and not os.path.exists(file_sd['path'])
    assert agent.stop() == 0


def test_maintenance_further_away_than_the_lead_keeps_the_registration(make_emulator, start, file_sd):
    emulator = make_emulator(maintenance_code='system-reboot', maintenance_not_before=3600)
    agent = start(emulator, file_sd, maintenance_lead=60)
    emulator.configure(maintenance_after=0)
    served = len(gets(emulator, MAINTENANCE))
    # Ten polls that saw the event (the emulator records a request before it answers).
    assert wait_until(lambda: len(gets(emulator, MAINTENANCE)) > served + 10)
    assert os.path.exists(file_sd['path']) and agent.line_with('notice:') is None
    assert agent.stop() == 0
    assert not os.path.exists(file_sd['path'])


def test_rebalance_is_watched_only_when_opted_in(make_emulator, start, file_sd):
    emulator = spot_instance(make_emulator, rebalance_after=0)
    agent = start(emulator, file_sd)
    polls = len(gets(emulator, MAINTENANCE))
    assert wait_until(lambda: len(gets(emulator, MAINTENANCE)) > polls + 5)
    assert gets(emulator, REBALANCE) == [] and os.path.exists(file_sd['path'])
    assert agent.stop() == 0

    emulator = spot_instance(make_emulator)
    opted_in = start(emulator, file_sd, watch={'rebalance': True})
    emulator.configure(rebalance_after=0)
    opted_in.wait_for('deregister (rebalance recommendation of', 'done in', 'removed')
    assert not os.path.exists(file_sd['path'])
    assert opted_in.stop() == 0


def test_only_what_can_apply_is_polled(make_emulator, start, file_sd):
    # On demand, in no Auto Scaling group: after discovery, only the maintenance schedule.
    emulator = make_emulator()
    agent = start(emulator, file_sd)
    assert agent.line_with('watch:') == 'web: watch: events/maintenance/scheduled'
    emulator.reset_counters()
    assert wait_until(lambda: len(gets(emulator, MAINTENANCE)) >= 10)
    assert agent.stop() == 0
    polled = set(r.path for r in emulator.requests if r.method == 'GET')
    assert polled == {'/latest/meta-data/' + MAINTENANCE}
    # One long-lived token: no PUT after the first.
    assert emulator.count('PUT') == 0


def test_sigterm_deregisters_and_exits_0_with_metrics(make_emulator, start, file_sd, tmp_path):
    emulator = make_emulator()
    agent = start(emulator, file_sd)
    metrics_path = str(tmp_path / 'metrics' / 'lifecycle.prom')
    assert wait_until(lambda: metrics_of(metrics_path).get('cloudmeta_lifecycle_registered') == 1)
    assert agent.stop() == 0
    assert not os.path.exists(file_sd['path'])
    assert agent.line_with('deregister (stop requested): done in', 'removed')
    metrics = metrics_of(metrics_path)
    assert metrics['cloudmeta_lifecycle_registered'] == 0
    assert metrics['cloudmeta_lifecycle_imds_requests_total'] == len(emulator.requests)
    assert metrics['cloudmeta_lifecycle_last_deregistration_seconds'] >= 0
    assert metrics['cloudmeta_lifecycle_last_poll_timestamp_seconds'] > 0
    assert agent.log()[-1].startswith('web: stopped: deregistered, %d IMDS requests' % len(emulator.requests))


def test_a_restart_after_a_notice_does_not_act_twice(make_emulator, start, file_sd):
    emulator = spot_instance(make_emulator, spot_action_after=0)
    first = start(emulator, file_sd, registered=False)
    first.wait_for('deregister (Spot terminate', 'done in')
    assert first.stop() == 0
    # Something else (the bootstrap running again) wrote the file: the agent
    # that starts again while the same notice is served leaves it alone.
    with open(file_sd['path'], 'w', encoding='utf-8') as handle:
        handle.write(CONTENT)
    second = start(emulator, file_sd, registered=False)
    second.wait_for('start: not registering: Spot terminate')
    polls = len(gets(emulator, SPOT))
    assert wait_until(lambda: len(gets(emulator, SPOT)) > polls + 5)
    assert second.stop() == 0
    assert not any('notice:' in line or 'deregister (' in line for line in second.log()), second.text()
    assert os.path.exists(file_sd['path'])


def test_a_backend_that_fails_is_retried_until_the_budget_and_reported(make_emulator, start, file_sd, tmp_path):
    emulator = spot_instance(make_emulator)
    agent = start(emulator, file_sd, notice_budget=2, stop_budget=2)
    # The file cannot be removed while its name is a non-empty directory.
    os.unlink(file_sd['path'])
    os.mkdir(file_sd['path'])
    open(os.path.join(file_sd['path'], 'keep'), 'w', encoding='utf-8').close()
    emulator.configure(spot_action_after=0)
    agent.wait_for('deregister (Spot terminate', 'failed, retrying for up to')
    line = agent.wait_for('deregister (Spot terminate', 'failed after')
    assert int(line.split('failed after ')[1].split()[0]) > 1, line
    assert recorded_outcomes(agent) == ['deregistration failed']
    # Not known to be gone: the stop tries again, within its own budget.
    assert agent.stop() == 0
    assert agent.line_with('deregister (stop requested): failed after'), agent.text()


def test_imds_throttling_while_polling_is_survived(make_emulator, start, file_sd):
    emulator = spot_instance(make_emulator)
    agent = start(emulator, file_sd)
    emulator.reset_counters()
    emulator.configure(throttle=4)
    assert wait_until(lambda: sum(1 for r in emulator.requests if r.status == 429) == 4)
    emulator.configure(spot_action_after=0)
    agent.wait_for('deregister (Spot terminate', 'done in')
    assert agent.proc.poll() is None
    assert agent.stop() == 0


def test_an_expiring_token_is_renewed_and_imdsv1_never_used(make_emulator, start, file_sd):
    emulator = spot_instance(make_emulator, token_uses_cap=3)
    agent = start(emulator, file_sd)
    assert wait_until(lambda: emulator.count('PUT') >= 3)
    emulator.configure(spot_action_after=0)
    agent.wait_for('deregister (Spot terminate', 'done in')
    assert agent.stop() == 0
    assert all(r.had_token for r in emulator.requests if r.method == 'GET')
    assert not any(r.had_xff for r in emulator.requests)


def test_a_bad_configuration_exits_2_naming_the_field(program, tmp_path):
    config = tmp_path / 'bad.json'
    config.write_text(json.dumps({'version': 1, 'name': 'web', 'state_path': str(tmp_path / 's.json'),
                                  'poll_interval': 'often', 'backend': {'type': 'file_sd'}}))
    result = subprocess.run([sys.executable, '-I', '-S', program, str(config)], capture_output=True, text=True,
                            check=False, timeout=PATIENCE)
    assert result.returncode == 2
    assert result.stderr == 'lifecycle-agent: %s: poll_interval is "often": it must be a number from 0.05 to 300.\n' % config
    usage = subprocess.run([sys.executable, '-I', '-S', program], capture_output=True, text=True, check=False,
                           timeout=PATIENCE)
    assert usage.returncode == 2 and usage.stderr.startswith('usage:')


def test_the_installed_program_imports_nothing_but_the_standard_library_and_its_library(program, tmp_path):
    probe = ('import runpy, sys; sys.argv = [%r]; runpy.run_path(%r, run_name="probe"); '
             'import cloudmeta_imds._lifecycle.program as p, cloudmeta_imds._lifecycle.backends; print(p.__file__); '
             'print(sorted(m for m in sys.modules if m.startswith(("ansible", "boto"))))') % (program, program)
    found = subprocess.run([sys.executable, '-I', '-S', '-c', probe], cwd=str(tmp_path), capture_output=True,
                           text=True, check=False, timeout=PATIENCE)
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == [
        os.path.join(program, 'cloudmeta_imds', '_lifecycle', 'program.py'), '[]']
