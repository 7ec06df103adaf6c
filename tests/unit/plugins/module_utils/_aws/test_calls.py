"""The AWS plumbing's pure parts: no ansible import, the one client factory, errors phrased for users. No socket."""
import ast
import os

import pytest
from ansible.module_utils.basic import AnsibleModule

from collection_path import REPO_ROOT

from ansible_collections.cloudmeta.imds.plugins.module_utils._aws import calls
from ansible_collections.cloudmeta.imds.plugins.module_utils._aws.module import AWS_ARGSPEC, AwsModule

MODULE_UTILS = os.path.join(REPO_ROOT, 'plugins', 'module_utils')


@pytest.mark.parametrize('path', ['_aws/calls.py', '_registration/elbv2.py', '_registration/cloudmap.py',
                                  '_registration/haproxy.py', '_registration/etcd.py', '_registration/file_sd.py'])
def test_backend_code_has_no_ansible_import(path):
    # Programs on the instance use these files outside Ansible.
    with open(os.path.join(MODULE_UTILS, path), encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level]
    assert not [name for name in names if name.split('.')[0] in ('ansible', 'ansible_collections')], names


def test_the_client_factory_builds_a_client_with_the_shared_settings():
    client = calls.client('elbv2', 'eu-west-1', 'http://127.0.0.1:9')
    assert client.meta.region_name == 'eu-west-1'
    assert client.meta.endpoint_url == 'http://127.0.0.1:9'
    assert 'cloudmeta.imds' in client.meta.config.user_agent_extra
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (10, 30)


def test_a_client_botocore_cannot_make_is_an_aws_error():
    with pytest.raises(calls.AwsError) as error:
        calls.client('elbv2', 'eu-west-1', 'not a url')
    assert error.value.message.startswith('Cannot create the elbv2 client: ')


def test_check_identifier_shows_a_trailing_newline():
    assert calls.check_identifier('target_id', 'i-1') == 'i-1'
    with pytest.raises(calls.AwsError, match=r"target_id 'i-1\\n' holds whitespace"):
        calls.check_identifier('target_id', 'i-1\n')


def test_the_module_base_adds_the_shared_options():
    assert sorted(AWS_ARGSPEC) == ['aws_max_attempts', 'aws_retry_mode', 'endpoint_url', 'region']
    assert issubclass(AwsModule, AnsibleModule)
