"""What the register_instance role registers: interface, address, subnet/VPC, backend data and refusals (pure).

The branches are those the role's vars/main.yml and tasks/discover.yml had
in Jinja before they moved to plugin_utils/_registration_target.py; the
role's integration tests and molecule scenarios run the same rules end to end.
"""
import copy
import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.cloudmeta.imds.plugins.plugin_utils._registration_target import (
    choose_interface, registration_target,
)

PRIMARY = {'device_number': 0, 'mac': '0a:00:00:00:00:01', 'local_ipv4s': ['10.0.1.25', '10.0.1.26'],
           'subnet_id': 'subnet-0aaa', 'vpc_id': 'vpc-0aaa'}
SECOND = {'device_number': 1, 'mac': '0a:00:00:00:00:02', 'local_ipv4s': ['10.0.2.7'],
          'subnet_id': 'subnet-0bbb', 'vpc_id': 'vpc-0bbb'}
EC2 = {
    'instance_id': 'i-0123456789abcdef0',
    'region': 'eu-west-1',
    'availability_zone': 'eu-west-1a',
    'availability_zone_id': 'euw1-az1',
    'account_id': '123456789012',
    'local_ipv4': '10.0.1.25',
    'subnet_id': 'subnet-0aaa',
    'vpc_id': 'vpc-0aaa',
    'network': {'interfaces': [PRIMARY, SECOND]},
}
SERVICE = {'service_name': 'node', 'port': 9100, 'file_sd_dir': '/srv/file_sd'}


def ec2(**changes):
    facts = copy.deepcopy(EC2)
    facts.update(changes)
    return facts


def target(facts=None, **settings):
    return registration_target(EC2 if facts is None else facts, dict(SERVICE, **settings))


def refused(facts=None, **settings):
    with pytest.raises(AnsibleFilterError) as error:
        target(facts, **settings)
    return str(error.value)


# --- the interface -----------------------------------------------------------

def test_default_is_the_primary_interface_and_the_instance_address():
    result = target()
    assert result['interface'] == PRIMARY
    assert result['discovered'] == {
        'address': '10.0.1.25', 'port': 9100, 'service_name': 'node', 'instance_id': 'i-0123456789abcdef0',
        'region': 'eu-west-1', 'availability_zone': 'eu-west-1a', 'availability_zone_id': 'euw1-az1',
        'subnet_id': 'subnet-0aaa', 'vpc_id': 'vpc-0aaa', 'account_id': '123456789012',
    }


def test_device_number_chooses_the_interface_its_address_subnet_and_vpc():
    result = target(interface_device=1)
    assert result['interface'] == SECOND
    discovered = result['discovered']
    assert (discovered['address'], discovered['subnet_id'], discovered['vpc_id']) == (
        '10.0.2.7', 'subnet-0bbb', 'vpc-0bbb')


def test_device_number_given_as_text_is_a_number():
    assert target(interface_device='1')['interface'] == SECOND


def test_device_zero_is_chosen_even_when_the_instance_address_differs():
    """A chosen interface gives its own first address, not the instance's local_ipv4."""
    facts = ec2(local_ipv4='10.9.9.9')
    assert target(facts, interface_device=0)['discovered']['address'] == '10.0.1.25'


def test_mac_chooses_the_interface_in_any_case():
    result = target(interface_mac=SECOND['mac'].upper())
    assert result['interface'] == SECOND
    assert result['discovered']['address'] == '10.0.2.7'


def test_explicit_address_takes_the_subnet_of_the_interface_holding_it():
    result = target(address='10.0.1.26')
    assert result['interface'] == PRIMARY
    assert result['discovered']['address'] == '10.0.1.26'
    result = target(address='10.0.2.7')
    assert result['interface'] == SECOND
    assert result['discovered']['subnet_id'] == 'subnet-0bbb'


def test_explicit_address_outside_every_interface_uses_the_primary_subnet_and_vpc():
    result = target(address='2001:db8::7')
    assert result['interface'] is None
    assert result['discovered']['address'] == '2001:db8::7'
    assert (result['discovered']['subnet_id'], result['discovered']['vpc_id']) == ('subnet-0aaa', 'vpc-0aaa')


def test_interfaces_without_a_device_number_key_are_not_chosen():
    stray = {'mac': '0a:00:00:00:00:09', 'local_ipv4s': ['10.0.9.9'], 'subnet_id': 'subnet-0999'}
    facts = ec2(network={'interfaces': [stray, PRIMARY]})
    assert target(facts, address='10.0.9.9')['interface'] is None


def test_choose_interface_order_device_then_mac_then_address_then_primary():
    interfaces = [PRIMARY, SECOND]
    none = {'interface_device': None, 'interface_mac': None, 'address': None}
    assert choose_interface(interfaces, dict(none, interface_device=1, interface_mac=PRIMARY['mac'])) == SECOND
    assert choose_interface(interfaces, dict(none, interface_mac=SECOND['mac'], address='10.0.1.25')) == SECOND
    assert choose_interface(interfaces, dict(none, address='10.0.2.7')) == SECOND
    assert choose_interface(interfaces, none) == PRIMARY
    assert choose_interface([SECOND], none) is None


def test_interface_with_no_address_list_does_not_hold_the_explicit_address():
    facts = ec2(network={'interfaces': [dict(PRIMARY, local_ipv4s=None), SECOND]})
    assert target(facts, address='10.0.1.25')['interface'] is None


# --- the address fallbacks -----------------------------------------------------

def test_without_the_instance_address_the_primary_interface_address():
    assert target(ec2(local_ipv4=None))['discovered']['address'] == '10.0.1.25'


def test_without_any_interface_the_instance_address_and_the_instance_subnet():
    result = target(ec2(network=None))
    assert result['interface'] is None
    assert result['discovered']['address'] == '10.0.1.25'
    assert (result['discovered']['subnet_id'], result['discovered']['vpc_id']) == ('subnet-0aaa', 'vpc-0aaa')


def test_subnet_and_vpc_fall_back_to_the_instance_facts_when_the_interface_has_none():
    facts = ec2(network={'interfaces': [dict(SECOND, subnet_id=None, vpc_id='')]})
    discovered = target(facts, interface_device=1)['discovered']
    assert (discovered['subnet_id'], discovered['vpc_id']) == ('subnet-0aaa', 'vpc-0aaa')


def test_unknown_subnet_vpc_placement_and_account_are_null():
    facts = ec2(subnet_id=None, vpc_id=None, network={'interfaces': []})
    del facts['availability_zone_id'], facts['account_id']
    discovered = target(facts)['discovered']
    assert [discovered[key] for key in ('subnet_id', 'vpc_id', 'availability_zone_id', 'account_id')] == [None] * 4


def test_no_port_is_null_and_a_text_port_a_number():
    assert target(port=None)['discovered']['port'] is None
    assert target(port='9200')['discovered']['port'] == 9200


# --- refusals -----------------------------------------------------------------

@pytest.mark.parametrize('changes', [
    {'instance_id': '../../../tmp/escape'}, {'instance_id': ''}, {'instance_id': None},
    {'instance_id': 'i-0123456789abcdef0\n'}, {'region': 'eu-west-1\n'}, {'region': 'eu-west'}, {'region': None},
])
def test_unusable_instance_id_or_region_is_refused_naming_both(changes):
    facts = ec2(**changes)
    message = refused(facts)
    assert 'did not give a usable instance ID and region' in message
    assert 'instance_id %s' % json.dumps(facts['instance_id']) in message
    assert 'region %s' % json.dumps(facts['region']) in message


def test_missing_instance_id_is_refused():
    facts = ec2()
    del facts['instance_id']
    assert 'instance_id null' in refused(facts)


def test_no_facts_at_all_are_refused():
    with pytest.raises(AnsibleFilterError, match='usable instance ID'):
        registration_target(None, SERVICE)


def test_missing_device_number_lists_the_interfaces():
    message = refused(interface_device=7)
    assert message == ('No network interface with device number 7 on i-0123456789abcdef0; it has: '
                       '0 = 0a:00:00:00:00:01, 1 = 0a:00:00:00:00:02 (device number = MAC).')


def test_missing_mac_names_the_mac_as_given():
    message = refused(interface_mac='0A:00:00:00:00:99')
    assert message.startswith('No network interface with MAC 0A:00:00:00:00:99 on i-0123456789abcdef0; it has: 0 = ')


def test_identity_is_checked_before_the_interface():
    assert 'usable instance ID' in refused(ec2(region='nowhere'), interface_device=7)


@pytest.mark.parametrize('facts, settings, shown', [
    (ec2(local_ipv4='10.0.1.25\n'), {}, {'address': '10.0.1.25\n'}),
    (ec2(subnet_id='subnet-0aaa ', network={'interfaces': []}), {'address': '192.0.2.1'},
     {'subnet_id': 'subnet-0aaa '}),
    (ec2(availability_zone='eu-west-1a\n'), {}, {'availability_zone': 'eu-west-1a\n'}),
    (ec2(account_id='1234 5678'), {}, {'account_id': '1234 5678'}),
])
def test_whitespace_in_a_value_to_register_is_refused_naming_it(facts, settings, shown):
    message = refused(facts, **settings)
    assert 'whitespace or a line break' in message
    assert json.dumps(shown) in message
    assert 'set register_instance_address' in message


def test_whitespace_in_an_interface_address_is_refused():
    facts = ec2(network={'interfaces': [PRIMARY, dict(SECOND, local_ipv4s=['10.0.2.7\n'])]})
    assert '"address": "10.0.2.7\\n"' in refused(facts, interface_device=1)


@pytest.mark.parametrize('facts, settings, shown', [
    (ec2(network={'interfaces': [PRIMARY, dict(SECOND, local_ipv4s=[])]}), {'interface_device': 1}, 'null'),
    (ec2(local_ipv4=None, network={'interfaces': []}), {}, 'null'),
    (ec2(local_ipv4='10.0.1.300'), {}, '"10.0.1.300"'),
    (ec2(local_ipv4='not-an-address'), {}, '"not-an-address"'),
])
def test_no_usable_address_is_refused_naming_it(facts, settings, shown):
    message = refused(facts, **settings)
    assert message == ('No usable address to register for i-0123456789abcdef0 (got %s): the chosen interface has no'
                       ' private IPv4. Set register_instance_address or choose another interface.' % shown)


@pytest.mark.parametrize('address', ['10.0.1.25', '255.255.255.255', 'fd00::1', '2001:db8::10.0.0.1'])
def test_ipv4_and_ipv6_addresses_are_accepted(address):
    assert target(address=address)['discovered']['address'] == address


def test_unknown_setting_is_refused_naming_it():
    with pytest.raises(AnsibleFilterError, match='unknown settings interface_name'):
        target(interface_name='eth1')


def test_facts_or_settings_that_are_not_dictionaries_are_refused():
    with pytest.raises(AnsibleFilterError, match='the ec2 facts must be a dictionary'):
        registration_target(['i-1'], SERVICE)
    with pytest.raises(AnsibleFilterError, match='the role settings must be a dictionary'):
        registration_target(EC2, 'node')


# --- file_sd ------------------------------------------------------------------

def test_file_sd_path_and_group_with_labels_as_text():
    file_sd = target(labels={'team': 'platform', 'tier': 3, 'weight': 1.5})['file_sd']
    assert file_sd == {
        'path': '/srv/file_sd/node-i-0123456789abcdef0.json',
        'group': {
            'targets': ['10.0.1.25:9100'],
            'labels': {'team': 'platform', 'tier': '3', 'weight': '1.5', 'service': 'node',
                       'instance_id': 'i-0123456789abcdef0', 'region': 'eu-west-1',
                       'availability_zone': 'eu-west-1a', 'availability_zone_id': 'euw1-az1',
                       'vpc_id': 'vpc-0aaa', 'subnet_id': 'subnet-0aaa'},
        },
    }


@pytest.mark.parametrize('directory', ['/srv/file_sd/', '/srv/file_sd//'])
def test_file_sd_directory_trailing_slashes_are_dropped(directory):
    assert target(file_sd_dir=directory)['file_sd']['path'] == '/srv/file_sd/node-i-0123456789abcdef0.json'


def test_file_sd_root_directory():
    assert target(file_sd_dir='/')['file_sd']['path'] == '/node-i-0123456789abcdef0.json'


def test_file_sd_ipv6_target_is_bracketed():
    assert target(address='2001:db8::7')['file_sd']['group']['targets'] == ['[2001:db8::7]:9100']


def test_file_sd_labels_with_no_value_are_left_out():
    facts = ec2(subnet_id=None, vpc_id=None, availability_zone_id=None, network={'interfaces': []})
    labels = target(facts)['file_sd']['group']['labels']
    assert sorted(labels) == ['availability_zone', 'instance_id', 'region', 'service']


def test_file_sd_without_a_port_has_a_path_but_no_group():
    file_sd = target(port=None)['file_sd']
    assert file_sd == {'path': '/srv/file_sd/node-i-0123456789abcdef0.json', 'group': None}


def test_file_sd_needs_a_service_name():
    assert target(service_name=None)['file_sd'] is None


def test_file_sd_directory_defaults_to_the_roles():
    result = registration_target(EC2, {'service_name': 'node', 'port': 9100})
    assert result['file_sd']['path'] == '/etc/prometheus/file_sd/node-i-0123456789abcdef0.json'


# --- elbv2, cloudmap, haproxy -------------------------------------------------

def test_elbv2_target_is_the_instance_or_the_address():
    assert target()['elbv2'] == {'target_id': 'i-0123456789abcdef0'}
    assert target(elbv2_target_type='ip')['elbv2'] == {'target_id': '10.0.1.25'}


def test_cloudmap_attributes_the_roles_then_labels_then_the_users():
    cloudmap = target(labels={'team': 'platform', 'tier': 3, 'REGION': 'label'},
                      cloudmap_attributes={'VPC_ID': 'mine', 'extra': 'x'})['cloudmap']
    assert cloudmap == {
        'instance_id': 'i-0123456789abcdef0',
        'attributes': {
            'AWS_INSTANCE_IPV4': '10.0.1.25', 'AWS_INSTANCE_PORT': '9100', 'AVAILABILITY_ZONE': 'eu-west-1a',
            'AVAILABILITY_ZONE_ID': 'euw1-az1', 'SUBNET_ID': 'subnet-0aaa', 'VPC_ID': 'mine', 'REGION': 'label',
            'team': 'platform', 'tier': '3', 'extra': 'x',
        },
    }


def test_cloudmap_ipv6_no_port_and_unknown_values_are_left_out():
    facts = ec2(subnet_id=None, vpc_id=None, availability_zone_id=None, network={'interfaces': []})
    attributes = target(facts, address='fd00::1', port=None)['cloudmap']['attributes']
    assert attributes == {'AWS_INSTANCE_IPV6': 'fd00::1', 'AVAILABILITY_ZONE': 'eu-west-1a', 'REGION': 'eu-west-1'}


def test_cloudmap_instance_id_setting_wins_when_set():
    assert target(cloudmap_instance_id='web-1')['cloudmap']['instance_id'] == 'web-1'
    assert target(cloudmap_instance_id='')['cloudmap']['instance_id'] == 'i-0123456789abcdef0'


def test_haproxy_server_name_is_the_setting_else_the_instance_id():
    assert target()['haproxy'] == {'server_name': 'i-0123456789abcdef0'}
    assert target(haproxy_server_name='web1')['haproxy'] == {'server_name': 'web1'}
    assert target(haproxy_server_name='')['haproxy'] == {'server_name': 'i-0123456789abcdef0'}


def test_the_facts_are_not_changed():
    facts = ec2()
    before = copy.deepcopy(facts)
    target(facts, interface_device=1, labels={'a': 1})
    assert facts == before
