"""The registration_target filter plugin: named as documented, and the function of plugin_utils.

The rules are tested in tests/unit/plugins/plugin_utils/test_registration_target.py;
here, that Jinja reaches them through the plugin as the role calls it.
"""
import pytest

from ansible.errors import AnsibleFilterError
from jinja2 import Environment

from ansible_collections.cloudmeta.imds.plugins.filter import registration_target as plugin
from ansible_collections.cloudmeta.imds.plugins.plugin_utils._registration_target import registration_target

EC2 = {
    'instance_id': 'i-0123456789abcdef0', 'region': 'eu-west-1', 'availability_zone': 'eu-west-1a',
    'availability_zone_id': 'euw1-az1', 'local_ipv4': '10.0.1.25',
    'network': {'interfaces': [{'device_number': 0, 'mac': '0a:00:00:00:00:01', 'local_ipv4s': ['10.0.1.25'],
                                'subnet_id': 'subnet-0aaa', 'vpc_id': 'vpc-0aaa'}]},
}


def render(template, **variables):
    environment = Environment()
    environment.filters.update(plugin.FilterModule().filters())
    return environment.from_string(template).render(**variables)


def test_the_plugin_names_the_plugin_utils_function():
    assert plugin.FilterModule().filters() == {'registration_target': registration_target}


def test_the_filter_in_a_template():
    text = render("{{ (ec2 | registration_target({'service_name': 'node', 'port': 9100}))['file_sd']['group']"
                  "['targets'] | first }}", ec2=EC2)
    assert text == '10.0.1.25:9100'


def test_the_settings_argument_is_optional():
    assert render("{{ (ec2 | registration_target)['discovered']['address'] }}", ec2=EC2) == '10.0.1.25'


def test_a_refusal_reaches_the_template_caller():
    with pytest.raises(AnsibleFilterError, match='No network interface with device number 3'):
        render("{{ ec2 | registration_target({'interface_device': 3}) }}", ec2=EC2)
