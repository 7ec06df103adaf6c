# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""The instance_metadata_defaults module's change: the account's instance metadata defaults of one region.

boto3 and the standard library only; the module keeps its documentation and a thin main().
"""

from __future__ import annotations

from .._aws.calls import AwsError, call


NO_PREFERENCE = 'no-preference'
NO_HOP_LIMIT = -1
DEFAULT_NAMES = (
    ('http_tokens', 'HttpTokens', NO_PREFERENCE),
    ('http_put_response_hop_limit', 'HttpPutResponseHopLimit', NO_HOP_LIMIT),
    ('http_endpoint', 'HttpEndpoint', NO_PREFERENCE),
    ('instance_metadata_tags', 'InstanceMetadataTags', NO_PREFERENCE),
)


def current_defaults(ec2):
    """(the account level with every option present, AWS's message when a policy manages it).

    AWS leaves out the options that have no default.
    """
    account = call(ec2.get_instance_metadata_defaults).get('AccountLevel') or {}
    result = {name: account.get(api_name, unset) for name, api_name, unset in DEFAULT_NAMES}
    result['managed_by'] = account.get('ManagedBy', 'account')
    return result, account.get('ManagedExceptionMessage')


def options_only(defaults):
    return {name: defaults[name] for name, _api, _unset in DEFAULT_NAMES}


def changes(current, params):
    """{api_name: value} for every requested default that differs."""
    return {api_name: params[name] for name, api_name, _unset in DEFAULT_NAMES
            if params[name] is not None and params[name] != current[name]}


def run(ec2, params, check_mode=False):
    """What the instance_metadata_defaults module does with PARAMS (its options): the result."""
    before, managed_message = current_defaults(ec2)
    update = changes(before, params)
    after = dict(before)
    for name, api_name, _unset in DEFAULT_NAMES:
        if api_name in update:
            after[name] = update[api_name]
    if update and not check_mode:
        if before['managed_by'] == 'declarative-policy':
            raise AwsError('The instance metadata defaults of this account are managed by a declarative policy of '
                           'AWS Organizations (%s); change that policy instead.'
                           % (managed_message or 'no message'))
        call(ec2.modify_instance_metadata_defaults, **update)
        after = current_defaults(ec2)[0]
    return dict(changed=bool(update), defaults=after, previous=before,
                diff={'before': options_only(before), 'after': options_only(after)})
