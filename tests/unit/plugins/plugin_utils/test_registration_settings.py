"""The register_instance role's cross-field setting rules (pure): each rule, its message, and what passes.

These are the rules tasks/validate.yml applied as one assert per rule before
they moved to plugin_utils/_registration_settings.py. The role's integration
test test_invalid_settings_fail_before_any_metadata_request runs them end to
end (the role fails before any metadata request, with these messages).
"""
import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.cloudmeta.imds.plugins.plugin_utils._registration_settings import (
    lifecycle_switch, registration_settings_errors,
)

FILE_SD = {'service_name': 'node', 'port': 9100, 'file_sd_dir': '/srv/file_sd'}
ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef'
VALID = {
    'file_sd': FILE_SD,
    'elbv2': {'backend': 'elbv2', 'elbv2_target_group_arn': ARN},
    'cloudmap': {'backend': 'cloudmap', 'cloudmap_service_id': 'srv-0123456789'},
    'haproxy': {'backend': 'haproxy', 'port': 8080, 'haproxy_socket': '/run/haproxy/admin.sock',
                'haproxy_backend': 'app'},
    'etcd': {'backend': 'etcd', 'service_name': 'web', 'port': 8080, 'etcd_url': 'https://etcd.internal:2379/'},
}


def errors(base='file_sd', **changes):
    settings = dict(VALID[base])
    settings.update(changes)
    return registration_settings_errors(settings)


@pytest.mark.parametrize('backend', sorted(VALID))
def test_valid_settings_of_each_backend_pass(backend):
    assert errors(backend) == []


@pytest.mark.parametrize('changes', [
    {'port': '9100'},                          # a string that Jinja's int reads as a number
    {'address': '10.0.1.25'},
    {'address': 'fd00:ec2::25'},
    {'interface_device': 1},
    {'interface_device': '0'},
    {'interface_mac': '0A:1b:2c:3d:4e:5F'},
    {'labels': {'team': 'web', 'tier': 2, 'weight': 0.5, 'canary': True}},
    {'lifecycle_agent': True},
    {'lifecycle_agent': 'False'},
    {'lifecycle_agent': 'auto'},
    {'service_name': 'a' * 63},
    {'state': 'absent', 'port': None},         # deregistering needs no port
])
def test_what_passes(changes):
    assert errors(**changes) == []


@pytest.mark.parametrize('base, changes, message', [
    ('file_sd', {'service_name': None}, 'The file_sd backend needs register_instance_service_name (for example: web).'),
    ('etcd', {'service_name': None}, 'The etcd backend needs register_instance_service_name (for example: web).'),
    ('file_sd', {'service_name': '../etc'},
     "register_instance_service_name must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or"
     ' digit (it becomes part of file names and keys); got "../etc".'),
    ('file_sd', {'service_name': 'a' * 64}, 'register_instance_service_name must be 1 to 63'),
    ('file_sd', {'port': None}, 'The file_sd backend needs register_instance_port to register the instance.'),
    ('haproxy', {'port': None}, 'The haproxy backend needs register_instance_port to register the instance.'),
    ('file_sd', {'port': 70000}, 'register_instance_port must be between 1 and 65535; got 70000.'),
    ('file_sd', {'port': 0}, 'register_instance_port must be between 1 and 65535; got 0.'),
    ('file_sd', {'port': 'http'}, 'register_instance_port must be between 1 and 65535; got http.'),
    ('file_sd', {'interface_device': 1, 'interface_mac': '0a:1b:2c:3d:4e:60'},
     'Set at most one of register_instance_address, register_instance_interface_device and'
     ' register_instance_interface_mac.'),
    ('file_sd', {'address': '10.0.1.25', 'interface_device': 0}, 'Set at most one of register_instance_address'),
    ('file_sd', {'interface_device': -1}, 'register_instance_interface_device must be 0 or more; got -1.'),
    ('file_sd', {'interface_mac': 'not-a-mac'},
     'register_instance_interface_mac must look like 0e:12:34:56:78:9a; got "not-a-mac".'),
    ('file_sd', {'address': '10.0.1.300'},
     'register_instance_address must be an IPv4 or IPv6 address; got "10.0.1.300".'),
    ('file_sd', {'labels': {'nested': {'a': 1}}}, 'The values of register_instance_labels must be strings or numbers.'),
    ('file_sd', {'labels': {'list': [1]}}, 'The values of register_instance_labels must be strings or numbers.'),
    ('file_sd', {'labels': {'bad-name': 'x'}},
     'Prometheus label names must match [a-zA-Z_][a-zA-Z0-9_]* and must not be one the role sets itself'
     ' (service, instance_id, region, availability_zone, availability_zone_id, vpc_id, subnet_id); got ["bad-name"].'),
    ('file_sd', {'labels': {'region': 'x'}}, 'must not be one the role sets itself'),
    ('file_sd', {'file_sd_dir': 'relative/dir'},
     'register_instance_file_sd_dir must be an absolute path; got "relative/dir".'),
    ('elbv2', {'elbv2_target_group_arn': None},
     'The elbv2 backend needs register_instance_elbv2_target_group_arn, the ARN of a target group'
     ' (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID); got null.'),
    ('elbv2', {'elbv2_target_group_arn': 'tg-1'}, 'got "tg-1".'),
    ('cloudmap', {'cloudmap_service_id': None},
     'The cloudmap backend needs register_instance_cloudmap_service_id, the ID of a Cloud Map service'
     ' (srv-...); got null.'),
    ('haproxy', {'haproxy_socket': ''},
     "The haproxy backend needs register_instance_haproxy_socket (the runtime API socket) and"
     " register_instance_haproxy_backend (a backend name: letters, digits, '_', '.', ':' or '-');"
     ' got socket "", backend "app".'),
    ('haproxy', {'haproxy_backend': 'a b'}, 'got socket "/run/haproxy/admin.sock", backend "a b".'),
    ('etcd', {'etcd_url': '127.0.0.1:2379'},
     'The etcd backend needs register_instance_etcd_url, the http:// or https:// URL of the etcd v3 gateway;'
     ' got "127.0.0.1:2379".'),
    ('file_sd', {'lifecycle_agent': 'sometimes'},
     'register_instance_lifecycle_agent must be auto, true or false; got "sometimes".'),
])
def test_each_rule_names_the_setting_and_the_value(base, changes, message):
    found = errors(base, **changes)
    assert len(found) == 1, found
    assert message in found[0]


@pytest.mark.parametrize('base, changes', [
    # A final newline must not slip past a pattern ("$" matches before it; the rules use \Z).
    ('file_sd', {'service_name': 'node\n'}),
    ('file_sd', {'address': '10.0.1.25\n'}),
    ('file_sd', {'address': 'fd00::1\n'}),
    ('file_sd', {'interface_mac': '0a:1b:2c:3d:4e:60\n'}),
    ('file_sd', {'labels': {'team\n': 'x'}}),
    ('file_sd', {'file_sd_dir': '/srv/file_sd\n'}),
    ('elbv2', {'elbv2_target_group_arn': ARN + '\n'}),
    ('cloudmap', {'cloudmap_service_id': 'srv-0123456789\n'}),
    ('haproxy', {'haproxy_backend': 'app\n'}),
    ('etcd', {'etcd_url': 'http://127.0.0.1:2379\n'}),
])
def test_a_final_newline_is_refused(base, changes):
    assert len(errors(base, **changes)) == 1


def test_other_backends_rules_do_not_apply():
    # file_sd's label names and directory mean nothing to elbv2; elbv2 needs no port or service name.
    assert errors('elbv2', labels={'bad-name': 'x'}, file_sd_dir='relative') == []


def test_every_broken_rule_is_told_at_once():
    found = errors(service_name='../etc', port=70000, interface_mac='nope', lifecycle_agent='maybe')
    assert [message.split(' ')[0] for message in found] == [
        'register_instance_service_name', 'register_instance_port', 'register_instance_interface_mac',
        'register_instance_lifecycle_agent']


def test_unset_settings_take_the_role_defaults():
    # The default backend is file_sd, which needs a service name and a port.
    assert registration_settings_errors({}) == [
        'The file_sd backend needs register_instance_service_name (for example: web).',
        'The file_sd backend needs register_instance_port to register the instance.']


def test_an_unknown_setting_is_an_error_that_lists_the_known_ones():
    with pytest.raises(AnsibleFilterError, match=r'unknown settings prot; known are: .*port'):
        registration_settings_errors(dict(FILE_SD, prot=9100))


def test_settings_that_are_not_a_dictionary_are_an_error():
    with pytest.raises(AnsibleFilterError, match='must be a dictionary; got list'):
        registration_settings_errors([])


@pytest.mark.parametrize('value, switch', [(True, 'true'), (False, 'false'), ('Auto', 'auto'), ('yes', 'yes')])
def test_the_lifecycle_switch_reads_as_the_role_reads_it(value, switch):
    assert lifecycle_switch(value) == switch
