# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """AWS connection options of the registration modules, documented once."""

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
notes:
  - Credentials come from boto3's default chain only (environment variables, shared configuration and E(AWS_PROFILE),
    then the instance profile through the instance metadata service). There are no options for keys, so none end up in
    playbooks, facts or logs.
  - When an HTTP proxy is configured through environment variables, the module adds the instance metadata addresses
    to E(no_proxy) for its own process, so that the instance-profile credentials never pass through the proxy. AWS API
    requests still use the proxy.
requirements:
  - boto3 >= 1.28.0 (on the host that runs the module)
'''
