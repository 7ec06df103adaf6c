# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The connection settings, validated once, and the endpoint they and the environment choose.

Pure: no network, standard library only. ImdsSettings is the one place a
setting is checked: the option adapter (options.py) builds one from
module or plugin options, and ImdsClient takes it as it is.
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from .errors import ImdsConfigError
from .paths import is_plain_segment

DEFAULT_ENDPOINT = "http://169.254.169.254"
DEFAULT_ENDPOINT_IPV6 = "http://[fd00:ec2::254]"

ENV_DISABLED = "AWS_EC2_METADATA_DISABLED"
ENV_ENDPOINT = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
ENV_ENDPOINT_MODE = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"

MAX_TOKEN_TTL = 21600

# The settings and their defaults, in the order the connection doc fragment lists them.
DEFAULTS = dict(
    endpoint=None,
    endpoint_mode=None,
    allow_imdsv1=False,
    timeout=1.0,
    retries=3,
    total_timeout=20.0,
    token_ttl=MAX_TOKEN_TTL,
    max_concurrency=8,
)
NAMES = tuple(DEFAULTS)


class ImdsSettings(object):
    """Validated connection settings; constructing one is validating it.

    A setting left out takes its default; None is a value like any other
    (the option adapter maps an unset option to the default before this).
    Attributes hold the values as given, numbers normalised; endpoint()
    resolves the base URL with the environment. Treat as read-only.
    """

    def __init__(self, **values):
        unknown = sorted(set(values) - set(NAMES))
        if unknown:
            raise ImdsConfigError("Unknown connection option(s): %s." % ", ".join(unknown))
        given = dict(DEFAULTS, **values)
        self._endpoint_url = None if _unset(given["endpoint"]) else check_endpoint(given["endpoint"])
        self._mode = None if _unset(given["endpoint_mode"]) else check_endpoint_mode(given["endpoint_mode"])
        if not isinstance(given["allow_imdsv1"], bool):
            raise ImdsConfigError.invalid("allow_imdsv1", given["allow_imdsv1"], "it must be true or false")
        self.endpoint = given["endpoint"]
        self.endpoint_mode = given["endpoint_mode"]
        self.allow_imdsv1 = given["allow_imdsv1"]
        self.timeout = check_timeout(given["timeout"])
        # More than 20 retries would only hide a real outage behind backoff.
        self.retries = check_number("retries", given["retries"], 0, 20, integer=True)
        self.total_timeout = check_timeout(given["total_timeout"], "total_timeout")
        self.token_ttl = check_number("token_ttl", given["token_ttl"], 1, MAX_TOKEN_TTL, integer=True)
        # IMDS throttles per instance; more parallelism than this only earns 429s.
        self.max_concurrency = check_number("max_concurrency", given["max_concurrency"], 1, 64, integer=True)

    def as_dict(self):
        return dict((name, getattr(self, name)) for name in NAMES)

    def endpoint_url(self, environ=None):
        """The base URL: the endpoint setting, else the environment, else the mode's default."""
        return _resolve(self._endpoint_url, self._mode, os.environ if environ is None else environ)

    def __eq__(self, other):
        return isinstance(other, ImdsSettings) and self.as_dict() == other.as_dict()

    def __repr__(self):
        return "ImdsSettings(%s)" % ", ".join("%s=%r" % item for item in sorted(self.as_dict().items()))


def resolve_endpoint(endpoint=None, endpoint_mode=None, environ=None):
    """The base URL: explicit option, else environment, else mode default."""
    return ImdsSettings(endpoint=endpoint, endpoint_mode=endpoint_mode).endpoint_url(environ)


def is_disabled(environ=None):
    environ = os.environ if environ is None else environ
    return str(environ.get(ENV_DISABLED, "false")).lower() == "true"


def check_endpoint(url, source="endpoint"):
    """Validate an endpoint URL; return it without a trailing slash.

    A path component is kept as a prefix before ``/latest/``, as botocore
    does, so one AWS_EC2_METADATA_SERVICE_ENDPOINT works for both.
    """
    if not isinstance(url, str):
        raise ImdsConfigError.invalid(source, url, "it must be a string")
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise ImdsConfigError.invalid(source, url, "it contains whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        # Newer Pythons check bracketed hosts while splitting.
        raise ImdsConfigError.invalid(
            source, url, "the bracketed host is not an IPv6 address" if "[" in url else "it is not a URL")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ImdsConfigError.invalid(source, url, "it must be an http:// or https:// URL")
    netloc = parts.netloc
    if not netloc:
        raise ImdsConfigError.invalid(source, url, "it has no host")
    if "@" in netloc:
        raise ImdsConfigError.invalid(source, url, "user information is not allowed")
    if "?" in url or "#" in url:
        raise ImdsConfigError.invalid(source, url, "a query or fragment is not allowed")
    if netloc.startswith("["):
        closing = netloc.find("]")
        literal = netloc[1:closing] if closing > 0 else ""
        try:
            ipaddress.IPv6Address(literal.split("%", 1)[0])
        except ValueError:
            raise ImdsConfigError.invalid(source, url, "the bracketed host is not an IPv6 address")
    elif netloc.count(":") > 1:
        raise ImdsConfigError.invalid(
            source, url, "an IPv6 address must be in brackets, e.g. http://[fd00:ec2::254]")
    try:
        parts.port
    except ValueError:
        raise ImdsConfigError.invalid(source, url, "the port is not a number from 0 to 65535")
    if not parts.hostname:
        raise ImdsConfigError.invalid(source, url, "it has no host")
    prefix = parts.path.rstrip("/")
    if prefix:
        for segment in prefix[1:].split("/"):
            if not is_plain_segment(segment):
                raise ImdsConfigError.invalid(
                    source, url, "its path must be plain segments of letters, digits and -_.:,=+@")
    return "%s://%s%s" % (scheme, netloc, prefix)


def check_endpoint_mode(mode, source="endpoint_mode"):
    """Return 'ipv4' or 'ipv6'; like botocore, any case is accepted."""
    if not isinstance(mode, str) or mode.lower() not in ("ipv4", "ipv6"):
        raise ImdsConfigError.invalid(source, mode, "use IPv4 or IPv6")
    return mode.lower()


def check_number(name, value, minimum, maximum, integer=False):
    """Validate one numeric setting; booleans are not numbers here."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ImdsConfigError.invalid(name, value, "it must be %s" % ("a whole number" if integer else "a number"))
    # Written so that NaN, which compares false with everything, fails too.
    if not minimum <= value <= maximum:
        raise ImdsConfigError.invalid(name, value, "it must be from %s to %s" % (minimum, maximum))
    return value


def check_timeout(value, name="timeout"):
    if check_number(name, value, 0, 3600) <= 0:
        raise ImdsConfigError.invalid(name, value, "it must be greater than 0")
    return float(value)


def _unset(value):
    return value in (None, "")


def _resolve(endpoint_url, mode, environ):
    """ENDPOINT_URL and MODE are checked settings or None; the environment is checked here, when read."""
    if mode is None and environ.get(ENV_ENDPOINT_MODE):
        mode = check_endpoint_mode(environ[ENV_ENDPOINT_MODE], ENV_ENDPOINT_MODE)
    if endpoint_url is not None:
        return endpoint_url
    if environ.get(ENV_ENDPOINT):
        return check_endpoint(environ[ENV_ENDPOINT], ENV_ENDPOINT)
    return DEFAULT_ENDPOINT_IPV6 if mode == "ipv6" else DEFAULT_ENDPOINT
