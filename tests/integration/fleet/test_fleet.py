"""A small fleet registering with every backend at once, then leaving at once (tests/utils/fleet.py).

Two instances, one in each of two subnets and zones (fleet.py alternates
them), each with its own IMDS emulator, run the bootstrap playbook
concurrently against one moto_server (behind throttling proxies that
throttle nothing here), one HAProxy (dynamic servers and slots), one etcd
and one file_sd directory: the smallest fleet in which every backend sees
two instances register and leave at the same time. Races of many more
writers are tested per backend (test_haproxy_slot_claims.py: 24 hosts for
the slots; test_file_sd.py: concurrent runs into one directory), and
`make bench-fleet` runs this with 50 instances.
"""
import os
import sys

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))

import fleet  # noqa: E402

SIZE = 2


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('fleet')
    with fleet.Fleet(workdir, SIZE, concurrency=8, window=2.0) as simulation:
        ids = sorted(instance.instance_id for instance in simulation.instances)
        zones = {instance.subnet['AvailabilityZone'] for instance in simulation.instances}
        addresses = {instance.address for instance in simulation.instances}
        result = simulation.run()
    return dict(result, ids=ids, zones=zones, addresses=addresses)


def test_the_fleet_is_distinct_instances_in_two_zones(report):
    assert len(set(report['ids'])) == SIZE and len(report['addresses']) == SIZE
    assert len(report['zones']) == 2


@pytest.mark.parametrize('backend', list(fleet.BACKENDS))
def test_every_instance_registers_once_and_leaves_nothing_behind(report, backend):
    row = report['backends'][backend]
    assert row['failed_plays'] == [], (row['failed_plays'], row['errors'], row['failed_logs'])
    assert row['lost'] == [] and row['registered'] == SIZE, row
    assert row['duplicated'] == [] and row['strangers'] == [], row
    assert row['leftovers'] == [], row


@pytest.mark.parametrize('backend', fleet.AWS_BACKENDS)
def test_aws_calls_are_counted_per_backend(report, backend):
    row = report['backends'][backend]
    # At least one call per instance and phase went through this backend's proxy; none was throttled (share 0).
    assert row['aws_calls'] >= 2 * SIZE and row['aws_throttled'] == 0, row


def test_failed_plays_are_told_per_backend():
    group = ['file_sd', 'cloudmap', 'etcd']
    output = ('PLAY [a] ***\nTASK [x]\nok: [localhost]\n'
              'PLAY [b] ***\nTASK [y]\nfatal: [localhost]: FAILED! => {}\n'
              'PLAY [c] ***\nskipping: no hosts matched\nPLAY RECAP ***\n')
    assert fleet.failed_backends(output, group, 2) == ['cloudmap', 'etcd']
    assert fleet.failed_backends(output, group, 0) == []
    assert fleet.failed_backends('ERROR! the playbook could not be read', group, 1) == group


def test_no_run_holds_two_backends_of_one_aws_service():
    for group in fleet.groups_of(list(fleet.BACKENDS)):
        services = [fleet.BACKENDS[backend][1] for backend in group if fleet.BACKENDS[backend][1]]
        assert len(services) == len(set(services)), group
