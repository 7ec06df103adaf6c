"""Slot claims under contention: many processes registering into, and leaving, the slots of one real HAProxy at once.

Each claimer is a separate process running what the haproxy_runtime_server
module runs (haproxy.apply) with its own address; a barrier releases them
together. The slots are as many as the claimers, so the last ones can only
find a slot another claimer is taking at the same moment.
"""
import multiprocessing
import os
import sys

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))

from servers.haproxy import HAProxy  # noqa: E402

from ansible_collections.cloudmeta.imds.plugins.module_utils._registration import haproxy  # noqa: E402

CLAIMERS = 24
ROUNDS = 3
PORT = 8080


@pytest.fixture
def lb(tmp_path):
    server = HAProxy(tmp_path / 'haproxy', slots=CLAIMERS).start()
    yield server
    server.stop()


def params(lb_server, address, state):
    return dict(socket=lb_server.admin_socket, backend='slots', mode='slot', slot_prefix='slot', name=None,
                address=address, port=PORT if state == 'present' else None, state=state, weight=None, check=None,
                server_options=[], drain_timeout=0, shutdown_sessions=True, timeout=10.0)


def claimer(socket_path, options, barrier, results):
    try:
        barrier.wait(timeout=60)
        result = haproxy.apply(haproxy.RuntimeApi(socket_path, timeout=10.0), options)
        results.put((options['address'], 'ok', (result['server'] or {}).get('name'), result['commands']))
    except Exception as exc:  # pylint: disable=broad-except
        results.put((options['address'], 'error', None, str(getattr(exc, 'message', exc))))


def race(lb_server, jobs):
    """Run JOBS ((address, state) pairs) all at once, one process each; {address: (status, slot, commands)}."""
    context = multiprocessing.get_context('fork')
    barrier = context.Barrier(len(jobs))
    results = context.Queue()
    processes = [context.Process(target=claimer, args=(lb_server.admin_socket, params(lb_server, address, state),
                                                       barrier, results))
                 for address, state in jobs]
    for process in processes:
        process.start()
    answers = {}
    for _job in jobs:
        address, status, slot, detail = results.get(timeout=120)
        answers[address] = (status, slot, detail)
    for process in processes:
        process.join(timeout=30)
    return answers


def addresses(count, offset=0):
    return ['10.1.%d.%d' % ((offset + index) // 200, 10 + (offset + index) % 200) for index in range(count)]


def test_concurrent_claims_take_distinct_slots_and_concurrent_releases_free_them_all(lb):
    for round_number in range(ROUNDS):
        # A different set of addresses each round: other starting slots, other collisions.
        fleet = addresses(CLAIMERS, offset=round_number * CLAIMERS)
        registered = race(lb, [(address, 'present') for address in fleet])

        failures = {address: answer for address, answer in registered.items() if answer[0] != 'ok'}
        assert not failures, failures
        slots = [answer[1] for answer in registered.values()]
        assert len(set(slots)) == CLAIMERS, 'two claimers report the same slot: %s' % sorted(slots)
        state = lb.servers('slots')
        for address, (_status, slot, _commands) in registered.items():
            assert state[slot]['address'] == address and state[slot]['port'] == PORT
            assert not state[slot]['admin'] & 0x23, (slot, state[slot])  # in service: no maintenance bit
        held = sorted(server['address'] for server in state.values())
        assert held == sorted(fleet), 'lost or duplicated: %s' % held

        released = race(lb, [(address, 'absent') for address in fleet])
        failures = {address: answer for address, answer in released.items() if answer[0] != 'ok'}
        assert not failures, failures
        state = lb.servers('slots')
        assert all(server['address'] == '0.0.0.0' and server['admin'] & 0x01 for server in state.values()), state


def test_claims_and_releases_at_the_same_time(lb):
    """Half the slots are held by leavers while as many hosts arrive: they claim and release at the same time.

    The arrivals are no more than the slots free before the race, so whatever the order of claims and releases
    an arrival always finds a free slot (a full backend fails fast by design; that is the next test). The free
    slots they contend for include the ones the leavers give back during the race.
    """
    leaving = addresses(CLAIMERS // 2)
    arriving = addresses(CLAIMERS - CLAIMERS // 2, offset=CLAIMERS)
    claimed = race(lb, [(address, 'present') for address in leaving])
    assert all(answer[0] == 'ok' for answer in claimed.values()), claimed
    leavers_slots = {answer[1] for answer in claimed.values()}
    assert len(leavers_slots) == len(leaving)

    answers = race(lb, [(address, 'absent') for address in leaving] + [(address, 'present') for address in arriving])

    failures = {address: answer for address, answer in answers.items() if answer[0] != 'ok'}
    assert not failures, failures
    arrivals_slots = [answers[address][1] for address in arriving]
    assert len(set(arrivals_slots)) == len(arriving), 'two arrivals report the same slot: %s' % sorted(arrivals_slots)
    state = lb.servers('slots')
    for address in arriving:
        assert state[answers[address][1]]['address'] == address, (address, answers[address], state)
    held = sorted(server['address'] for server in state.values() if server['address'] != '0.0.0.0')
    assert held == sorted(arriving), 'lost, duplicated or left behind: %s' % held
    assert all(not server['admin'] & 0x23 for server in state.values() if server['address'] != '0.0.0.0')
    # Each release freed its slot: a leaver's slot is free again unless an arrival took it during the race.
    for slot in leavers_slots - set(arrivals_slots):
        assert state[slot]['address'] == '0.0.0.0' and state[slot]['admin'] & 0x01, (slot, state[slot])


def test_a_full_backend_refuses_the_extra_claimers_and_loses_none(lb):
    fleet = addresses(CLAIMERS + 6)
    answers = race(lb, [(address, 'present') for address in fleet])

    winners = {address: answer[1] for address, answer in answers.items() if answer[0] == 'ok'}
    refused = [answer[2] for answer in answers.values() if answer[0] != 'ok']
    assert len(winners) == CLAIMERS and len(set(winners.values())) == CLAIMERS
    assert len(refused) == 6 and all('are in use' in message for message in refused), refused
    state = lb.servers('slots')
    assert {slot: state[slot]['address'] for slot in winners.values()} == \
        {slot: address for address, slot in winners.items()}


def test_exchange_reads_the_replaced_address(lb):
    api = haproxy.RuntimeApi(lb.admin_socket)
    changes = haproxy.Changes(api, check_mode=False)
    slot = haproxy.find(api.servers('slots'), 'slot1')
    assert haproxy.exchange(changes, slot, '10.9.0.1', 8080) == ('0.0.0.0', 80)
    assert haproxy.exchange(changes, slot, '10.9.0.1', 8080) == ('10.9.0.1', 8080)
    assert haproxy.exchange(changes, slot, 'fd00::9', 8081) == ('10.9.0.1', 8080)
    assert haproxy.exchange(changes, slot, '0.0.0.0', 80) == ('fd00::9', 8081)
