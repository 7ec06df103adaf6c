# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""The launch_template_metadata_options module's change: a launch template version with new metadata options.

boto3 and the standard library only; the module keeps its documentation and a thin main().
"""

from __future__ import annotations

from .._aws.calls import AwsError, call
from .imdsv2 import (
    differs,
    merge_options,
    options_from_api,
    options_to_api,
    requested_options,
)


def source(ec2, params):
    template = {'LaunchTemplateId': params['launch_template_id']} if params['launch_template_id'] else {
        'LaunchTemplateName': params['launch_template_name']}
    try:
        versions = call(ec2.describe_launch_template_versions, Versions=[params['source_version']],
                        **template)['LaunchTemplateVersions']
    except AwsError as exc:
        if exc.code and exc.code.startswith('InvalidLaunchTemplate'):
            raise AwsError('Launch template %s (version %s) does not exist: %s'
                           % (params['launch_template_id'] or params['launch_template_name'],
                              params['source_version'], exc.message), code=exc.code) from None
        raise
    if not versions:
        raise AwsError('Launch template %s has no version %s.'
                       % (params['launch_template_id'] or params['launch_template_name'], params['source_version']))
    return versions[0]


def run(ec2, params, check_mode=False):
    """What the launch_template_metadata_options module does with PARAMS (its options): the result."""
    version = source(ec2, params)
    template_id = version['LaunchTemplateId']
    number = str(version['VersionNumber'])
    before = options_from_api((version.get('LaunchTemplateData') or {}).get('MetadataOptions'))
    after = merge_options(before, requested_options(params))
    create = differs(before, after)
    make_default = params['set_default'] and (create or not version.get('DefaultVersion'))
    result_version = None if create else number
    if not check_mode:
        if create:
            created = call(ec2.create_launch_template_version, LaunchTemplateId=template_id, SourceVersion=number,
                           VersionDescription=params['version_description'],
                           LaunchTemplateData={'MetadataOptions': options_to_api(after)})
            result_version = str(created['LaunchTemplateVersion']['VersionNumber'])
        if make_default:
            call(ec2.modify_launch_template, LaunchTemplateId=template_id, DefaultVersion=result_version)
    return dict(
        changed=create or make_default,
        launch_template_id=template_id,
        source_version=number,
        version=result_version,
        metadata_options={'before': before, 'after': after},
        diff={'before': {'version': number, 'metadata_options': before},
              'after': {'version': result_version or 'new', 'metadata_options': after}},
    )
