# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""boto3 plumbing shared by every AWS call of the collection: one client factory, calls and errors.

Credentials always come from boto3's default chain (environment, shared
config, then the instance profile through IMDS); the modules take no keys.
Standard library and boto3 only, no ansible import: the AWS module base
(module.py) wraps it for modules, and programs on the instance can use it
as it is.
"""

from __future__ import annotations

import os
import re
import traceback

try:
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None


# The link-local IMDS addresses botocore uses for instance-profile credentials.
IMDS_HOSTS = ('169.254.169.254', '[fd00:ec2::254]', 'fd00:ec2::254')

NO_CREDENTIALS_MESSAGE = (
    'No AWS credentials found. On EC2, attach an instance profile (IAM role) to the instance; '
    'elsewhere use AWS_PROFILE or the standard AWS_* environment variables. '
    'This module never takes keys as options.'
)


class AwsError(Exception):
    """An AWS failure, already phrased for the user."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        self.code = code


BLANK_OR_CONTROL = re.compile(r'\s|[\x00-\x1f\x7f]')


def check_identifier(option, value):
    """Refuse an ID, ARN or address holding whitespace or control characters, before any AWS call.

    Metadata served as "i-0123456789abcdef0\\n" must not reach AWS or be
    compared with what AWS returns; the message shows the value as Python
    writes it, so the newline is visible.
    """
    if BLANK_OR_CONTROL.search(value):
        raise AwsError('%s %r holds whitespace or a line break (metadata served with a trailing newline?); give '
                       'the bare value.' % (option, value))
    return value


def error_code(exc):
    """The AWS error code of a ClientError, else None."""
    response = getattr(exc, 'response', None) or {}
    return response.get('Error', {}).get('Code')


def describe_error(exc):
    """One line for the user: AWS code and message, or the botocore error text."""
    code = error_code(exc)
    if code:
        message = exc.response.get('Error', {}).get('Message') or ''
        return '%s: %s' % (code, message) if message else code
    if HAS_BOTO3 and isinstance(exc, botocore.exceptions.NoCredentialsError):
        return NO_CREDENTIALS_MESSAGE
    return str(exc)


def bypass_proxy_for_imds(environ=None):
    """Keep boto3's instance-profile credential requests off any HTTP proxy.

    botocore's IMDS fetcher honours *_proxy variables unless no_proxy lists
    the address, and a proxy in that path would see the credentials. AWS API
    calls keep using the proxy.
    """
    environ = os.environ if environ is None else environ
    if not any(environ.get(name) for name in ('http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY')):
        return
    hosts = list(IMDS_HOSTS)
    custom = environ.get('AWS_EC2_METADATA_SERVICE_ENDPOINT')
    if custom:
        hosts.append(custom.split('://', 1)[-1].split('/', 1)[0])
    current = environ.get('no_proxy') or environ.get('NO_PROXY') or ''
    entries = [entry.strip() for entry in current.split(',') if entry.strip()]
    entries.extend(host for host in hosts if host not in entries)
    value = ','.join(entries)
    # urllib prefers the lower-case name; set both so neither spelling hides ours.
    environ['no_proxy'] = value
    environ['NO_PROXY'] = value


def client(service, region, endpoint_url=None):
    """The one place a boto3 client is made: SERVICE in REGION, with the collection's botocore settings.

    Raises AwsError when botocore cannot make it (an unknown region format,
    a bad endpoint URL). Needs HAS_BOTO3.
    """
    bypass_proxy_for_imds()
    # endpoint_url=None lets botocore apply AWS_ENDPOINT_URL and
    # AWS_ENDPOINT_URL_<SERVICE> itself, which is how tests reach moto_server.
    config = botocore.config.Config(
        connect_timeout=10,
        read_timeout=30,
        user_agent_extra='cloudmeta.imds',
    )
    try:
        session = boto3.session.Session(region_name=region)
        return session.client(service, endpoint_url=endpoint_url or None, config=config)
    except (botocore.exceptions.BotoCoreError, ValueError) as exc:
        raise AwsError('Cannot create the %s client: %s' % (service, describe_error(exc))) from None


def call(method, **kwargs):
    """Call a boto3 METHOD, turning botocore errors into AwsError."""
    try:
        return method(**kwargs)
    except botocore.exceptions.ClientError as exc:
        raise AwsError(describe_error(exc), code=error_code(exc)) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise AwsError(describe_error(exc)) from exc


def paginate(client, operation, **kwargs):
    """Every page of a paginated boto3 OPERATION, with botocore errors turned into AwsError."""
    try:
        yield from client.get_paginator(operation).paginate(**kwargs)
    except botocore.exceptions.ClientError as exc:
        raise AwsError(describe_error(exc), code=error_code(exc)) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise AwsError(describe_error(exc)) from exc
