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

# botocore's retry modes the options offer. `legacy` is left out: it has no
# retry quota and retries fewer errors, and nothing it does is better here.
RETRY_MODES = ('standard', 'adaptive')
DEFAULT_RETRY_MODE = 'standard'
# Attempts of one call, the first included (botocore's total_max_attempts,
# the meaning AWS_MAX_ATTEMPTS has). botocore's own default is 3, which a
# fleet's burst outlasts: 10 give up after about 55 s of full-jitter backoff
# on average (docs/register_instance.md, "Bursts", has the sizing).
DEFAULT_MAX_ATTEMPTS = 10
# A budget beyond this only hides an outage: with waits of up to 20 s each,
# 50 attempts already retry for about 8 minutes on average, 16 at most.
MAX_ATTEMPTS_LIMIT = 50

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


def retry_config(retry_mode=DEFAULT_RETRY_MODE, max_attempts=DEFAULT_MAX_ATTEMPTS):
    """botocore's `retries` setting for RETRY_MODE and MAX_ATTEMPTS (all attempts); AwsError naming a bad value."""
    if retry_mode not in RETRY_MODES:
        raise AwsError('aws_retry_mode (AWS_RETRY_MODE) must be one of %s, got %r.' % (', '.join(RETRY_MODES), retry_mode))
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise AwsError('aws_max_attempts (AWS_MAX_ATTEMPTS) counts every attempt of one AWS call, the first included, '
                       'and must be a whole number from 1 to %d, got %r.' % (MAX_ATTEMPTS_LIMIT, max_attempts))
    # total_max_attempts, not max_attempts: in this dict botocore's
    # max_attempts counts the retries only, one fewer than AWS_MAX_ATTEMPTS.
    return {'mode': retry_mode, 'total_max_attempts': max_attempts}


def client(service, region, endpoint_url=None, retry_mode=DEFAULT_RETRY_MODE, max_attempts=DEFAULT_MAX_ATTEMPTS):
    """The one place a boto3 client is made: SERVICE in REGION, with the collection's botocore settings.

    RETRY_MODE (`standard` or `adaptive`) and MAX_ATTEMPTS (every attempt of
    one call, the first included) become botocore's retry settings; both
    back off with full jitter, capped at 20 s, on throttling and transient
    errors. Raises AwsError for a bad retry setting or when botocore cannot
    make the client (an unknown region format, a bad endpoint URL). Needs
    HAS_BOTO3.
    """
    retries = retry_config(retry_mode, max_attempts)
    bypass_proxy_for_imds()
    # endpoint_url=None lets botocore apply AWS_ENDPOINT_URL and
    # AWS_ENDPOINT_URL_<SERVICE> itself, which is how tests reach moto_server.
    config = botocore.config.Config(
        connect_timeout=10,
        read_timeout=30,
        user_agent_extra='cloudmeta.imds',
        retries=retries,
    )
    try:
        session = boto3.session.Session(region_name=region)
        return session.client(service, endpoint_url=endpoint_url or None, config=config)
    except (botocore.exceptions.BotoCoreError, ValueError) as exc:
        raise AwsError('Cannot create the %s client: %s' % (service, describe_error(exc))) from None


def client_error(exc):
    """The AwsError for a botocore ClientError; when the retries ran out, it says which setting to raise."""
    message = describe_error(exc)
    metadata = exc.response.get('ResponseMetadata') or {}
    if metadata.get('MaxAttemptsReached'):
        attempts = metadata.get('RetryAttempts', 0) + 1
        message = ('%s (%s). AWS throttled or failed all %d attempts of this call (it throttles bursts of calls '
                   'per account and Region). Raise aws_max_attempts (now %d; environment AWS_MAX_ATTEMPTS), or set '
                   'aws_retry_mode to adaptive; docs/register_instance.md ("Bursts") shows how to size it for a '
                   'fleet.' % (message, getattr(exc, 'operation_name', 'the call'), attempts, attempts))
    return AwsError(message, code=error_code(exc))


def call(method, **kwargs):
    """Call a boto3 METHOD, turning botocore errors into AwsError."""
    try:
        return method(**kwargs)
    except botocore.exceptions.ClientError as exc:
        raise client_error(exc) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise AwsError(describe_error(exc)) from exc


def paginate(client, operation, **kwargs):
    """Every page of a paginated boto3 OPERATION, with botocore errors turned into AwsError."""
    try:
        yield from client.get_paginator(operation).paginate(**kwargs)
    except botocore.exceptions.ClientError as exc:
        raise client_error(exc) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise AwsError(describe_error(exc)) from exc
