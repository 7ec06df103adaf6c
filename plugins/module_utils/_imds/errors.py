# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""Typed errors of the IMDS client, each with a message that says what to do.

Messages name the endpoint and the metadata path, never a token and never a
response body: bodies are untrusted text and may hold credentials.
"""

from __future__ import annotations

MODIFY_OPTIONS = "aws ec2 modify-instance-metadata-options --instance-id <instance-id>"


class ImdsError(Exception):
    """Base class; ``message`` is a complete sentence for the user."""

    def __init__(self, message):
        super(ImdsError, self).__init__(message)
        self.message = message


class ImdsConfigError(ImdsError, ValueError):
    """A connection option or AWS_EC2_METADATA_* variable has an invalid value."""

    @classmethod
    def invalid(cls, source, value, reason):
        """SOURCE (an option or variable name) holds VALUE, which REASON says is wrong."""
        return cls("Invalid %s %r: %s." % (source, value, reason))


class ImdsDisabledError(ImdsError):
    """IMDS is switched off, by the environment or on the instance."""

    @classmethod
    def by_environment(cls):
        return cls(
            "Instance metadata is disabled by AWS_EC2_METADATA_DISABLED=true in the "
            "environment: no request was sent. Unset that variable to read instance metadata."
        )

    @classmethod
    def on_instance(cls, endpoint, detail=""):
        return cls(
            "Instance metadata is disabled on this instance (HttpEndpoint=disabled): "
            "%s answered 403 Forbidden%s. Enable it with: %s --http-endpoint enabled"
            % (endpoint, detail, MODIFY_OPTIONS)
        )


class ImdsUnreachableError(ImdsError):
    """Nothing answered: not on EC2, IPv6 endpoint off, or a firewall."""

    @classmethod
    def no_answer(cls, endpoint, reason, timeout=None):
        ipv6 = _ipv6_advice(endpoint, ", or ")
        within = " within %s s" % _seconds(timeout) if timeout is not None else ""
        return cls(
            "No instance metadata service answered at %s%s (%s): this host does "
            "not look like an EC2 instance, or IMDS is turned off%s, or a firewall blocks it. "
            "Set AWS_EC2_METADATA_DISABLED=true to skip instance metadata off EC2."
            % (endpoint, within, reason, ipv6)
        )

    @classmethod
    def gave_up(cls, endpoint, reason, attempts, elapsed):
        return cls(
            "The instance metadata service at %s could not be reached after %d attempt(s) "
            "in %s s (last error: %s). If the instance is still booting, try again later "
            "or raise the retries and total_timeout options%s."
            % (endpoint, attempts, _seconds(elapsed), reason, _ipv6_advice(endpoint, "; check that "))
        )


class ImdsDeadlineError(ImdsUnreachableError):
    """total_timeout ran out while waiting for the service: a connect, a read or a backoff."""

    @classmethod
    def reached(cls, endpoint, what, total_timeout):
        return cls(
            "The instance metadata service at %s did not finish %s within total_timeout "
            "(%s s), so the read was stopped. Real IMDS answers in milliseconds: check the "
            "endpoint option, or raise total_timeout if the service is known to be slow."
            % (endpoint, what, _seconds(total_timeout))
        )


class ImdsHopLimitError(ImdsError):
    """The token PUT connected but its answer never arrived (hop limit)."""

    @classmethod
    def for_endpoint(cls, endpoint, timeout):
        return cls(
            "The IMDSv2 token request to %s connected but got no answer within %s s. "
            "This is the HttpPutResponseHopLimit case: the token response is dropped "
            "before it reaches this host, typically inside a container one network hop "
            "further away. Raise the hop limit to 2 for containers: %s "
            "--http-put-response-hop-limit 2 (some CNIs need 3)."
            % (endpoint, _seconds(timeout), MODIFY_OPTIONS)
        )


class ImdsTokenError(ImdsError):
    """The token was refused: v1-only IMDS without allow_imdsv1, or a bad request."""

    @classmethod
    def v2_unsupported(cls, endpoint, status):
        return cls(
            "The instance metadata service at %s does not offer IMDSv2 tokens "
            "(PUT /latest/api/token answered %d). Enable IMDSv2 with: %s "
            "--http-tokens required, or set allow_imdsv1: true to accept the "
            "insecure IMDSv1 fallback." % (endpoint, status, MODIFY_OPTIONS)
        )

    @classmethod
    def bad_request(cls, endpoint, ttl):
        return cls(
            "The instance metadata service at %s refused the token request as invalid "
            "(400) for a TTL of %d s. Set token_ttl to a whole number from 1 to 21600."
            % (endpoint, ttl)
        )

    @classmethod
    def rejected(cls, endpoint, path):
        return cls(
            "The instance metadata service at %s rejected a freshly issued IMDSv2 token "
            "(401 twice for %s). Check that nothing between this host and IMDS rewrites "
            "requests, then try again." % (endpoint, path)
        )

    @classmethod
    def required(cls, endpoint, path, why_v1):
        return cls(
            "The instance metadata service at %s requires an IMDSv2 token (401 for %s "
            "without one), but no token could be obtained: %s" % (endpoint, path, why_v1)
        )

    @classmethod
    def unexpected(cls, endpoint, status):
        return cls(
            "The IMDSv2 token request to %s answered HTTP %d, which IMDS never sends. "
            "Check the endpoint option and AWS_EC2_METADATA_SERVICE_ENDPOINT."
            % (endpoint, status)
        )


class ImdsThrottledError(ImdsError):
    """429 or 5xx answers until the retries or the deadline ran out."""

    @classmethod
    def gave_up(cls, endpoint, status, attempts, elapsed):
        return cls(
            "The instance metadata service at %s kept answering HTTP %d (throttled or "
            "unavailable) for %d attempt(s) in %s s. Lower max_concurrency, or raise "
            "retries and total_timeout; IMDS limits requests per instance."
            % (endpoint, status, attempts, _seconds(elapsed))
        )

    @classmethod
    def until_deadline(cls, endpoint, total_timeout):
        return cls(
            "The instance metadata service at %s was throttling this instance (HTTP 429) for "
            "longer than was left of total_timeout (%s s), so no further request was sent. "
            "Lower max_concurrency, or raise total_timeout; IMDS limits requests per instance."
            % (endpoint, _seconds(total_timeout))
        )


class ImdsNotFoundError(ImdsError):
    """404: the item does not exist on this instance."""

    def __init__(self, path, endpoint=""):
        super(ImdsNotFoundError, self).__init__(
            "Metadata path %r was not found (404)%s. The item does not exist on this "
            "instance or is not applicable to it (for tags, enable InstanceMetadataTags)."
            % (path, " at " + endpoint if endpoint else "")
        )
        self.path = path


class ImdsPathError(ImdsError):
    """A term that is not a plain relative metadata path."""

    def __init__(self, term, reason, advice=None):
        if advice is None:
            advice = "Use a relative path of plain segments, such as 'placement/availability-zone'."
        super(ImdsPathError, self).__init__(
            "%r is not a valid instance metadata path: %s. %s" % (term, reason, advice)
        )
        self.term = term
        self.reason = reason


class ImdsResponseError(ImdsError):
    """An answer IMDS does not give: an unexpected status, redirect or size.

    Every such answer means the endpoint is not a real IMDS, so every
    message ends by pointing at the endpoint option.
    """

    @classmethod
    def _not_imds(cls, text):
        return cls(text + " Check the endpoint option.")

    @classmethod
    def unexpected_status(cls, endpoint, status, path):
        return cls._not_imds(
            "The instance metadata service at %s answered HTTP %d for %s, which IMDS does not "
            "send for a metadata read." % (endpoint, status, path)
        )

    @classmethod
    def redirect_refused(cls, endpoint, path, trees):
        return cls._not_imds(
            "The instance metadata service at %s redirected %s somewhere else; only redirects "
            "within the same endpoint and the same metadata tree (%s) are followed." % (endpoint, path, trees)
        )

    @classmethod
    def unusable_token(cls, endpoint):
        return cls._not_imds(
            "The instance metadata service at %s returned an unusable token (not printable "
            "ASCII)." % endpoint
        )

    @classmethod
    def chunked(cls, endpoint, method, path):
        return cls._not_imds(
            "The instance metadata service at %s answered %s %s with Transfer-Encoding "
            "(chunked), which IMDS never sends." % (endpoint, method, path)
        )

    @classmethod
    def body_too_large(cls, endpoint, path, limit):
        return cls._not_imds(
            "The answer of %s for %s is larger than %d bytes; real instance metadata is "
            "far smaller." % (endpoint, path, limit)
        )

    @classmethod
    def too_many_entries(cls, endpoint, count, path, limit):
        return cls._not_imds(
            "The instance metadata service at %s listed %d entries in %s, more than the %d "
            "one listing may hold; real instance metadata lists at most tens." % (endpoint, count, path, limit)
        )

    @classmethod
    def read_too_large(cls, reader, endpoint, limit, path):
        return cls._not_imds(
            "The instance metadata read by %s from %s passed %d bytes at %s; a whole real "
            "instance is far smaller." % (reader, endpoint, limit, path)
        )

    @classmethod
    def read_too_many_entries(cls, endpoint, limit, path):
        return cls._not_imds(
            "The instance metadata service at %s listed more than %d entries in one read "
            "(passed at %s); a whole real instance has a few hundred." % (endpoint, limit, path)
        )

    @classmethod
    def too_deep(cls, endpoint, limit, path):
        return cls._not_imds(
            "The metadata tree at %s is deeper than %d levels below the starting directory "
            "(at %s); real instance metadata is not." % (endpoint, limit, path)
        )


def _ipv6_advice(endpoint, lead):
    if "[" not in endpoint:
        return ""
    return (
        "%sthe IPv6 endpoint is enabled (%s --http-protocol-ipv6 enabled; Nitro instances only)"
        % (lead, MODIFY_OPTIONS)
    )


def _seconds(value):
    return ("%.2f" % value).rstrip("0").rstrip(".")
