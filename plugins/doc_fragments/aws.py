# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """AWS connection and retry options of every module that calls AWS, documented once."""

    DOCUMENTATION = r'''
options:
  region:
    description:
      - The AWS region of the resource, for example C(us-east-1).
      - When omitted, the E(AWS_REGION) or E(AWS_DEFAULT_REGION) environment variable is used.
      - The M(cloudmeta.imds.metadata_facts) fact C(ansible_facts['ec2']['region']) is the instance's own region.
    type: str
  endpoint_url:
    description:
      - Send AWS API requests to this URL instead of the public AWS endpoint (for example a VPC endpoint or a test server).
      - When omitted, boto3 reads E(AWS_ENDPOINT_URL) and the service-specific E(AWS_ENDPOINT_URL_<SERVICE>) variables itself.
    type: str
  aws_retry_mode:
    description:
      - How botocore retries an AWS call that is throttled (C(Throttling), C(ThrottlingException),
        C(TooManyRequestsException), C(RequestLimitExceeded), HTTP 429) or fails transiently (HTTP 500, 502, 503, 504,
        connection errors).
      - V(standard) retries with exponential backoff and full jitter, capped at 20 seconds per wait.
      - V(adaptive) does the same and also slows this module's own later calls down once AWS has throttled one, which
        helps a module that makes many calls (M(cloudmeta.imds.imdsv2_readiness_info) over many instances); a module
        that makes a few calls per instance gains little from it, because every instance of a fleet has a client of
        its own.
      - When omitted, the E(AWS_RETRY_MODE) environment variable is used, then V(standard). botocore's V(legacy) mode is
        not offered.
    type: str
    choices: [standard, adaptive]
    default: standard
    version_added: 1.1.0
  aws_max_attempts:
    description:
      - How many times one AWS call is attempted, the first attempt included (botocore's C(total_max_attempts), the
        meaning E(AWS_MAX_ATTEMPTS) has). V(1) turns retries off.
      - When every attempt is throttled the module fails with the AWS error code and a message that names this option.
        Raise it for large fleets that register or deregister at the same moment; the role's guide shows how to size
        it (docs/register_instance.md, "Bursts").
      - The default of 10 retries for about 55 seconds on average (at most about 110) before giving up; botocore's own
        default of 3 gives up after about 1.5 seconds.
      - When omitted, the E(AWS_MAX_ATTEMPTS) environment variable is used, then V(10). From 1 to 50.
    type: int
    default: 10
    version_added: 1.1.0
notes:
  - The options are shared by the action group C(cloudmeta.imds.aws), so one C(module_defaults) entry
    C(group/cloudmeta.imds.aws) sets them for every module of the collection that calls AWS, including those the
    C(cloudmeta.imds.register_instance) role runs.
  - Credentials come from boto3's default chain only (environment variables, shared configuration and E(AWS_PROFILE),
    then the instance profile through the instance metadata service). There are no options for keys, so none end up in
    playbooks, facts or logs.
  - When an HTTP proxy is configured through environment variables, the module adds the instance metadata addresses
    to E(no_proxy) for its own process, so that the instance-profile credentials never pass through the proxy. AWS API
    requests still use the proxy.
requirements:
  - boto3 >= 1.28.0 (on the host that runs the module)
'''
