# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""The base of every module that calls AWS, in the spirit of amazon.aws's AnsibleAWSModule.

It adds the shared options (region, endpoint_url, aws_retry_mode,
aws_max_attempts; documented in the aws doc fragment), makes clients through the one factory in calls.py, and turns an
AwsError into fail_json with its message and error code, in one place.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from . import calls
from .calls import AwsError

AWS_ARGSPEC = dict(
    region=dict(type='str', fallback=(env_fallback, ['AWS_REGION', 'AWS_DEFAULT_REGION'])),
    endpoint_url=dict(type='str'),
    # The environment variables botocore itself reads, with its meaning of them.
    aws_retry_mode=dict(type='str', choices=list(calls.RETRY_MODES), default=calls.DEFAULT_RETRY_MODE,
                        fallback=(env_fallback, ['AWS_RETRY_MODE'])),
    aws_max_attempts=dict(type='int', default=calls.DEFAULT_MAX_ATTEMPTS, fallback=(env_fallback, ['AWS_MAX_ATTEMPTS'])),
)


class AwsModule(AnsibleModule):
    """AnsibleModule with AWS_ARGSPEC merged into ARGUMENT_SPEC, a client factory and AwsError handling."""

    def __init__(self, argument_spec, **kwargs):
        spec = dict(argument_spec)
        spec.update(AWS_ARGSPEC)
        super().__init__(argument_spec=spec, **kwargs)
        try:
            calls.retry_config(self.params['aws_retry_mode'], self.params['aws_max_attempts'])
        except AwsError as exc:
            self.fail_json(msg=exc.message)

    def client(self, service):
        """A boto3 client for SERVICE in the module's region, or fail_json with a clear message."""
        # Checked here, not at start, so that option errors still come first.
        if not calls.HAS_BOTO3:
            self.fail_json(msg=missing_required_lib('boto3'), exception=calls.BOTO3_IMPORT_ERROR)
        region = self.params.get('region')
        if not region:
            self.fail_json(msg='No AWS region: set the region option or AWS_REGION.')
        try:
            return calls.client(service, region, self.params.get('endpoint_url'),
                                retry_mode=self.params['aws_retry_mode'], max_attempts=self.params['aws_max_attempts'])
        except AwsError as exc:
            self.fail_json(msg=exc.message)

    def fail_aws(self, exc):
        """fail_json for an AwsError: its message, and its AWS error code when it has one."""
        self.fail_json(msg=exc.message, **({'error_code': exc.code} if exc.code else {}))

    def exit_with(self, run, *args, **kwargs):
        """exit_json with the result of RUN(*ARGS, **KWARGS), or fail_aws when it raises AwsError."""
        try:
            result = run(*args, **kwargs)
        except AwsError as exc:
            self.fail_aws(exc)
        self.exit_json(**result)
