"""The lifecycle agent's configuration: defaults filled in, every bad value refused with its field named."""
import json

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._lifecycle import config as agent_config


def minimal(**changes):
    document = {
        'version': 1, 'name': 'web', 'state_path': '/var/lib/cloudmeta-lifecycle/web.json',
        'backend': {'type': 'file_sd', 'path': '/etc/prometheus/file_sd/web.json', 'content': '[]\n'},
    }
    document.update(changes)
    return document


def test_defaults_fill_every_key():
    config = agent_config.validate(minimal())
    assert config['poll_interval'] == 5.0 and config['stop_budget'] == 90.0 and config['notice_budget'] == 100.0
    assert config['watch'] == {'spot': 'auto', 'lifecycle': 'auto', 'maintenance': 'auto', 'rebalance': 'auto'}
    assert config['imds'] == {'endpoint': None, 'endpoint_mode': None, 'timeout': 1.0, 'retries': 3,
                              'total_timeout': 5.0, 'token_ttl': 21600}
    assert config['backend'] == {'type': 'file_sd', 'path': '/etc/prometheus/file_sd/web.json', 'content': '[]\n',
                                 'mode': '0644', 'owner': None, 'group': None}
    assert config['lifecycle_hook'] is None and config['metrics_path'] is None and config['instance_id'] is None


@pytest.mark.parametrize('change, message', [
    ({'poll': 5}, 'has unknown key(s) poll'),
    ({'version': 2}, 'version is 2: it must be one of 1'),
    ({'poll_interval': 0}, 'poll_interval is 0: it must be a number from 0.05 to 300'),
    ({'poll_interval': True}, 'poll_interval is true'),
    ({'state_path': 'relative.json'}, 'state_path is "relative.json": it must be an absolute path'),
    ({'metrics_path': '/var/lib/m.txt'}, 'metrics_path is "/var/lib/m.txt": it must end in .prom'),
    ({'watch': {'spot': 'yes'}}, 'watch.spot is "yes": it must be "auto", true or false'),
    ({'watch': {'spots': True}}, 'watch has unknown key(s) spots'),
    ({'imds': {'retries': 1.5}}, 'imds.retries is 1.5: it must be a whole number'),
    ({'instance_id': 'i-1\n'}, 'instance_id is "i-1\\n"'),
    ({'backend': {'type': 'consul'}}, 'backend.type is "consul": it must be one of file_sd, elbv2'),
    ({'backend': {'type': 'haproxy', 'socket': '/run/h.sock', 'backend': 'web', 'address': '10.0.0.1', 'port': 80}},
     'backend.name is missing; a server name is required with mode "dynamic"'),
    ({'backend': {'type': 'etcd', 'url': 'http://127.0.0.1:2379', 'keys': {'/a': None}}},
     'backend.keys["/a"] is null: every key needs a value'),
    ({'backend': {'type': 'etcd', 'url': 'http://127.0.0.1:2379', 'keys': {'/a': 'x'}, 'lease_ttl': 2}},
     'backend.lease_ttl is 2: it must be a whole number from 5'),
    ({'backend': {'type': 'elbv2', 'target_group_arn': 'arn', 'target_id': 'i-1', 'region': 'Europe'}},
     'backend.region is "Europe": it must be an AWS region such as eu-west-1'),
    ({'backend': {'type': 'file_sd', 'path': '/x.json', 'content': '[]', 'mode': 644}},
     'backend.mode is 644: it must be an octal mode in quotes'),
    ({'lifecycle_hook': {'region': 'eu-west-1'}}, 'lifecycle_hook.hook is missing; it is required'),
    ({'name': None}, 'name is null; it is required'),
])
def test_bad_values_are_refused_naming_the_field_and_the_value(change, message):
    with pytest.raises(agent_config.ConfigError) as caught:
        agent_config.validate(minimal(**change))
    assert message in str(caught.value)


def test_missing_required_key():
    document = minimal()
    del document['backend']
    with pytest.raises(agent_config.ConfigError, match='^backend is missing; it is required.$'):
        agent_config.validate(document)


def test_load_names_the_file(tmp_path):
    path = tmp_path / 'agent.json'
    path.write_text('{"version": 1')
    with pytest.raises(agent_config.ConfigError, match='agent.json is not JSON'):
        agent_config.load(str(path))
    path.write_text(json.dumps(minimal(stop_budget=-1)))
    with pytest.raises(agent_config.ConfigError, match='agent.json: stop_budget is -1'):
        agent_config.load(str(path))
    path.write_text(json.dumps(minimal(lifecycle_hook={'hook': 'drain', 'region': 'eu-west-1'})))
    hook = agent_config.load(str(path))['lifecycle_hook']
    assert hook == {'group': None, 'hook': 'drain', 'heartbeat_interval': 60.0, 'region': 'eu-west-1',
                    'endpoint_url': None}
    with pytest.raises(agent_config.ConfigError, match='cannot read .*missing.json'):
        agent_config.load(str(tmp_path / 'missing.json'))
