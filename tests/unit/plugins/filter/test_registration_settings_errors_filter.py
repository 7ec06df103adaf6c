"""The registration_settings_errors filter plugin: named as documented, and the function of plugin_utils.

The rules are tested in tests/unit/plugins/plugin_utils/test_registration_settings.py;
here, that Jinja reaches them through the plugin as tasks/validate.yml calls it.
"""
from jinja2 import Environment

from ansible_collections.cloudmeta.imds.plugins.filter import registration_settings_errors as plugin
from ansible_collections.cloudmeta.imds.plugins.plugin_utils._registration_settings import registration_settings_errors


def render(template, **variables):
    environment = Environment()
    environment.filters.update(plugin.FilterModule().filters())
    return environment.from_string(template).render(**variables)


def test_the_plugin_names_the_plugin_utils_function():
    assert plugin.FilterModule().filters() == {'registration_settings_errors': registration_settings_errors}


def test_the_filter_in_a_template():
    template = "{{ {'backend': 'etcd', 'service_name': 'web', 'port': port} | registration_settings_errors | join(' ') }}"
    assert render(template, port=8080) == (
        'The etcd backend needs register_instance_etcd_url, the http:// or https:// URL of the etcd v3 gateway;'
        ' got null.')
    assert render(template.replace("'port': port", "'port': port, 'etcd_url': 'http://127.0.0.1:2379'"),
                  port=8080) == ''
