"""cloudmeta.imds.launch_template_metadata_options against moto_server.

The module creates the version with SourceVersion, so AWS copies everything
else from the source; moto 5.2 keeps only the data sent, which is why the
tests look at the metadata options alone.
"""
import pytest

from aws_moto import REGION, aws, aws_env, moto_url, run_module  # noqa: F401  pylint: disable=unused-import
from imdsv2_fleet import Fleet

from ansible_collections.cloudmeta.imds.plugins.modules import launch_template_metadata_options


@pytest.fixture
def fleet(aws):
    return Fleet(aws)


def default_version(fleet, template):
    version = fleet.ec2.describe_launch_template_versions(LaunchTemplateId=template,
                                                          Versions=['$Default'])['LaunchTemplateVersions'][0]
    return version['VersionNumber'], version['LaunchTemplateData']


def test_adds_a_default_version_requiring_tokens_once(run_module, fleet):
    template = fleet.launch_template({'HttpTokens': 'optional', 'HttpPutResponseHopLimit': 2})
    first = run_module(launch_template_metadata_options, _diff=True, launch_template_id=template,
                       http_tokens='required', region=REGION)
    second = run_module(launch_template_metadata_options, launch_template_id=template, http_tokens='required')

    assert first['changed'] is True and first['version'] == '2' and first['source_version'] == '1'
    number, data = default_version(fleet, template)
    assert number == 2
    assert data['MetadataOptions'] == {'HttpTokens': 'required', 'HttpPutResponseHopLimit': 2}
    # AWS copies the rest of the source version (SourceVersion); moto 5.2 does not, so that is not asserted here.
    assert first['diff']['after']['metadata_options']['http_tokens'] == 'required'
    assert second['changed'] is False and second['version'] == '2'
    assert len(fleet.ec2.describe_launch_template_versions(LaunchTemplateId=template)['LaunchTemplateVersions']) == 2


def test_check_mode_creates_nothing(run_module, fleet):
    template = fleet.launch_template()
    result = run_module(launch_template_metadata_options, _check_mode=True, launch_template_id=template,
                        http_tokens='required')
    assert result['changed'] is True and result['version'] is None
    assert default_version(fleet, template)[0] == 1


def test_without_set_default_the_default_stays(run_module, fleet):
    template = fleet.launch_template()
    result = run_module(launch_template_metadata_options, launch_template_id=template, http_tokens='required',
                        set_default=False)
    assert result['changed'] is True and result['version'] == '2'
    assert default_version(fleet, template)[0] == 1


def test_missing_template_is_named(run_module, aws_env):
    result = run_module(launch_template_metadata_options, launch_template_name='no-such-template', http_tokens='required')
    assert result.failed and 'no-such-template' in result['msg']
