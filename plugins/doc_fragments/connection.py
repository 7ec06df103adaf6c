# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Connection options of every module and plugin that reads instance metadata.

DOCUMENTATION must stay identical to CONNECTION_ARGSPEC in
plugins/module_utils/_imds/options.py (validate-modules compares them).
"""

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  endpoint:
    description:
      - Base URL of the instance metadata service, for example V(http://169.254.169.254).
      - When not set, the environment variable E(AWS_EC2_METADATA_SERVICE_ENDPOINT) of the
        process that sends the requests is used, and then O(endpoint_mode) decides.
      - Only C(http) and C(https) URLs are accepted; an IPv6 address must be in brackets.
        A path in the URL is kept as a prefix before C(/latest/), as botocore does.
      - Requests never go through an HTTP proxy, whatever C(http_proxy) or C(HTTP_PROXY) say.
    type: str
  endpoint_mode:
    description:
      - Which default endpoint to use when no O(endpoint) is set.
        V(IPv4) is V(http://169.254.169.254); V(IPv6) is V(http://[fd00:ec2::254]),
        which must be enabled on the instance (C(HttpProtocolIpv6), Nitro only).
      - Accepts V(IPv4) or V(IPv6) in any letter case, like botocore.
      - When not set, the environment variable E(AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE)
        is used, else V(IPv4).
    type: str
  allow_imdsv1:
    description:
      - Fall back to IMDSv1 (requests without a token) when the token request answers
        403, 404 or 405, or gets no answer because of the hop limit. A warning says so.
      - IMDSv1 is open to server-side request forgery; leave this off and enable IMDSv2.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for the connection and for each read, per attempt.
      - A connection that times out fails at once, without retries, so a host that is not
        on EC2 fails fast.
    type: float
    default: 1.0
  retries:
    description:
      - Extra attempts for an answer of 429 or 5xx, or a refused or reset connection,
        with exponential backoff and jitter. From 0 to 20.
    type: int
    default: 3
  total_timeout:
    description:
      - Overall deadline in seconds for one call, retries and backoff included. A whole read of
        several paths shares one deadline; M(cloudmeta.imds.metadata_facts) reads everything it needs in
        one call.
      - Every connect and every read gets at most what is left of it, so a service that answers too slowly fails
        the task within this time with an error that names O(total_timeout).
    type: float
    default: 20.0
  token_ttl:
    description:
      - Lifetime in seconds requested for the IMDSv2 token, from 1 to 21600.
      - One token serves the whole run; it is renewed shortly before it expires and when
        the service answers 401.
    type: int
    default: 21600
  max_concurrency:
    description:
      - Most requests in flight at once when reading several paths or a directory tree.
        From 1 to 64.
    type: int
    default: 8
notes:
  - Setting the environment variable E(AWS_EC2_METADATA_DISABLED=true) makes every request
    fail with a clear error before anything is sent, as in the AWS SDKs.
  - The token request never carries C(X-Forwarded-For), and IAM credential values are never read.
"""

    PLUGINS = r"""
options:
  endpoint:
    env:
      - name: AWS_EC2_METADATA_SERVICE_ENDPOINT
    vars:
      - name: cloudmeta_imds_endpoint
  endpoint_mode:
    env:
      - name: AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE
    vars:
      - name: cloudmeta_imds_endpoint_mode
  allow_imdsv1:
    env:
      - name: CLOUDMETA_IMDS_ALLOW_IMDSV1
    vars:
      - name: cloudmeta_imds_allow_imdsv1
  timeout:
    env:
      - name: CLOUDMETA_IMDS_TIMEOUT
    vars:
      - name: cloudmeta_imds_timeout
  retries:
    env:
      - name: CLOUDMETA_IMDS_RETRIES
    vars:
      - name: cloudmeta_imds_retries
  total_timeout:
    env:
      - name: CLOUDMETA_IMDS_TOTAL_TIMEOUT
    vars:
      - name: cloudmeta_imds_total_timeout
  token_ttl:
    env:
      - name: CLOUDMETA_IMDS_TOKEN_TTL
    vars:
      - name: cloudmeta_imds_token_ttl
  max_concurrency:
    env:
      - name: CLOUDMETA_IMDS_MAX_CONCURRENCY
    vars:
      - name: cloudmeta_imds_max_concurrency
"""
