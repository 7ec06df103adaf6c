"""The instance library as the register_instance role installs it, and the etcd lease its lifecycle agent keeps.

The role's own tasks (tasks/instance_library.yml, run once by ansible-playbook)
install the archive of files/instance-library.yml (the program and the
collection's code) into a temporary instance library. The tests check that
the library is that one archive, holding the collection's files byte for byte
and nothing else, that the installed agent needs nothing but the standard
library and its archive (`python -I -S`, through a symbolic link, from
outside the checkout), and that
the agent keeps an etcd registration the way the 1.0.0 keepalive service did,
which it replaces: the keys outlive their lease TTL while it runs, come back
when lost, and are deleted with their lease when it stops. Renewal is told by
lease identity (the same lease's TTL goes back up), never by sleeping; every
wait has a generous deadline, so a busy machine only makes the tests slower.
The agent's own behaviour on notices is tested in test_lifecycle_agent.py.
"""
import ast
import json
import os
import subprocess
import sys
import zipfile

import pytest
import yaml

from collection_path import REPO_ROOT
from lifecycle_lab import PATIENCE, AgentProcess, base_config, wait_until
from lifecycle_lab import agents  # noqa: F401  pylint: disable=unused-import
from playbook_runner import run_in_netns

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'utils'))

from servers.fixtures import etcd, key_prefix, run_module  # noqa: E402,F401  pylint: disable=unused-import

from ansible_collections.cloudmeta.imds.plugins.module_utils._registration import etcd as etcd_core  # noqa: E402
from ansible_collections.cloudmeta.imds.plugins.modules import etcd_keys  # noqa: E402

ROLE = os.path.join(REPO_ROOT, 'roles', 'register_instance')
with open(os.path.join(ROLE, 'files', 'instance-library.yml'), encoding='utf-8') as _handle:
    LIBRARY = yaml.safe_load(_handle)
SOURCE = os.path.join(ROLE, 'files', LIBRARY['main'])
ARCHIVE = 'cloudmeta-lifecycle.pyz'
# Renewed every TTL/3 seconds: a short TTL keeps the test short; renewals are
# counted by lease identity, so a slow machine cannot make it pass wrongly.
TTL = 6


INSTALL_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Install the instance library as the role does
      ansible.builtin.include_role:
        name: cloudmeta.imds.register_instance
        tasks_from: instance_library.yml
      vars:
        register_instance_library_dir: %s
        __register_instance_library_state: present
"""


def install_library_with_the_role(workdir):
    """Run the role's tasks/instance_library.yml into WORKDIR/lib/cloudmeta-imds; the installed archive's path."""
    library_dir = os.path.join(workdir, 'lib', 'cloudmeta-imds')
    playbook = os.path.join(workdir, 'install-library.yml')
    with open(playbook, 'w', encoding='utf-8') as handle:
        handle.write(INSTALL_PLAYBOOK % json.dumps(library_dir))
    result = run_in_netns([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,',
                           '-c', 'local', '-e', 'ansible_python_interpreter=' + sys.executable, playbook])
    assert result.returncode == 0, result.stdout
    return os.path.join(library_dir, ARCHIVE)


@pytest.fixture(scope='module')
def program(tmp_path_factory):
    """The agent in an instance library installed by the role's own tasks."""
    return install_library_with_the_role(str(tmp_path_factory.mktemp('instance')))


def keys_for(prefix):
    return {prefix + 'skydns/web/i-1': {'host': '10.0.1.25', 'port': 8080, 'ttl': 30},
            prefix + 'meta/web/i-1': {'availability_zone': 'eu-west-1a'}}


def test_the_program_is_python_3_8_syntax_and_holds_no_template_expressions():
    with open(SOURCE, encoding='utf-8') as handle:
        source = handle.read()
    ast.parse(source, feature_version=(3, 8))
    assert '{{' not in source and '{%' not in source and '{#' not in source, SOURCE


def test_the_library_is_the_collections_own_files_laid_out_as_a_package(program):
    library = os.path.dirname(program)
    installed = sorted(os.path.relpath(os.path.join(top, name), library)
                       for top, _dirs, names in os.walk(library) for name in names)
    assert installed == [ARCHIVE]
    packages = sorted(set(os.path.dirname(module) for module in LIBRARY['modules']) | {''})
    with zipfile.ZipFile(program) as archive:
        assert sorted(archive.namelist()) == sorted(
            ['__main__.py']
            + ['cloudmeta_imds/' + module for module in LIBRARY['modules']]
            + [('cloudmeta_imds/%s/__init__.py' % package).replace('//', '/') for package in packages])
        for module in LIBRARY['modules']:
            with open(os.path.join(REPO_ROOT, 'plugins', 'module_utils', module), 'rb') as source:
                assert archive.read('cloudmeta_imds/' + module) == source.read(), module
        with open(SOURCE, 'rb') as source:
            assert archive.read('__main__.py') == source.read()
    # 1.0.0's keepalive program is gone: the agent keeps the lease.
    assert 'etcd-keepalive.py' not in installed


def test_the_installed_agent_runs_isolated_from_the_checkout(tmp_path, program):
    # Outside the checkout, with -I (no PYTHONPATH, no script directory, no
    # user site) and -S (no site-packages: no ansible, no boto3), through a
    # symbolic link: it imports its code from the archive, and from nowhere else.
    link = tmp_path / 'cloudmeta-lifecycle-agent.pyz'
    link.symlink_to(program)
    probe = (
        'import runpy, sys; sys.argv = [%r]; '
        'runpy.run_path(%r, run_name="probe"); '
        'import cloudmeta_imds._lifecycle.program as program, cloudmeta_imds._registration.etcd as core; '
        'print(program.__file__); print(core.__file__); '
        'print([m for m in sys.modules if m.startswith(("ansible", "boto"))])'
    ) % (str(link), str(link))
    found = subprocess.run([sys.executable, '-I', '-S', '-c', probe], cwd=str(tmp_path), capture_output=True,
                           text=True, check=False, env={'PATH': os.environ['PATH'], 'PYTHONPATH': REPO_ROOT})
    assert found.returncode == 0, found.stderr
    program_file, core_file, foreign = found.stdout.splitlines()
    assert program_file == os.path.join(str(link), 'cloudmeta_imds', '_lifecycle', 'program.py')
    assert core_file == os.path.join(str(link), 'cloudmeta_imds', '_registration', 'etcd.py')
    assert not core_file.startswith(REPO_ROOT) and foreign == '[]'

    usage = subprocess.run([sys.executable, '-I', '-S', str(link)], cwd=str(tmp_path), capture_output=True,
                           text=True, check=False, env={'PATH': os.environ['PATH'], 'PYTHONPATH': REPO_ROOT})
    assert usage.returncode == 2, (usage.stdout, usage.stderr)
    library = os.path.dirname(program)
    assert not any(name == '__pycache__' for _top, dirs, _names in os.walk(library) for name in dirs)


def test_the_agent_keeps_the_roles_lease_restores_lost_keys_and_deletes_them_when_stopped(
        tmp_path, program, etcd, key_prefix, run_module, make_emulator, agents):  # noqa: F811  pylint: disable=redefined-outer-name
    keys = keys_for(key_prefix)
    # What the role's etcd task writes first; the agent then finds it and keeps its lease.
    registered = run_module(etcd_keys, url=etcd.url, keys=keys, lease_ttl=TTL)
    lease = registered['lease']['id']
    emulator = make_emulator()
    backend = {'type': 'etcd', 'url': etcd.url, 'keys': keys, 'lease_ttl': TTL}
    agent = AgentProcess(program, base_config(str(tmp_path), emulator.url, backend), str(tmp_path))
    agents.append(agent)
    agent.wait_for('register: done', 'already registered')

    # The module's own lease, renewed by the agent: its TTL went back up twice, on the same lease.
    renewed = etcd.watch_renewals(lease, renewals=2, timeout=PATIENCE)
    assert renewed['renewals'] == 2 and not renewed['gone'], renewed
    assert {key: etcd.get(key) for key in keys} == {
        key: (etcd_core.encode(value).decode(), lease) for key, value in keys.items()}
    # Same bytes as the module writes: a role re-run sees no change.
    assert run_module(etcd_keys, url=etcd.url, keys=keys, lease_ttl=TTL)['changed'] is False

    # Lost keys (etcd restored from an old backup, someone deleted them) come back.
    for key in keys:
        etcd.delete(key)
    assert wait_until(lambda: all(etcd.get(key) for key in keys))
    new_lease = etcd.get(next(iter(keys)))[1]

    # Stopping the agent deregisters: the keys go at once, and the lease with them.
    assert agent.stop() == 0
    assert not any(etcd.get(key) for key in keys)
    assert etcd.lease(new_lease)[0] == -1
    assert 'deregister (stop requested): done' in agent.text()
