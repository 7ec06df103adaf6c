# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""Connection options: one argspec and one adapter for modules and plugins.

Modules read ``module.params``, plugins read ``get_option``; both end in the
same validation and the same ImdsClient, as community.hashi_vault's option
adapter does. The documentation of these options is the ``connection`` doc
fragment and must stay identical to CONNECTION_ARGSPEC.
"""

from __future__ import annotations

import copy

from ansible.module_utils.common.validation import check_type_bool, check_type_float, check_type_int

from ansible_collections.cloudmeta.imds.plugins.module_utils._client import (
    ImdsClient,
    check_endpoint,
    check_endpoint_mode,
    check_settings,
)
from ansible_collections.cloudmeta.imds.plugins.module_utils._errors import ImdsConfigError

CONNECTION_ARGSPEC = dict(
    endpoint=dict(type="str"),
    endpoint_mode=dict(type="str"),
    allow_imdsv1=dict(type="bool", default=False),
    timeout=dict(type="float", default=1.0),
    retries=dict(type="int", default=3),
    total_timeout=dict(type="float", default=20.0),
    # A lifetime, not a secret; validate-modules flags any name with "token".
    token_ttl=dict(type="int", default=21600, no_log=False),
    max_concurrency=dict(type="int", default=8),
)

OPTION_NAMES = tuple(CONNECTION_ARGSPEC)

_COERCE = dict(bool=check_type_bool, float=check_type_float, int=check_type_int)


def connection_argspec(**extra):
    """A fresh argspec: the connection options plus a module's own EXTRA options."""
    spec = copy.deepcopy(CONNECTION_ARGSPEC)
    spec.update(extra)
    return spec


class ConnectionOptions(object):
    """Validated connection settings; ``client()`` builds the ImdsClient.

    Unset values (missing or None) take the argspec default, so a plugin
    that leaves an option empty behaves like a module that omits it.
    """

    def __init__(self, **values):
        unknown = sorted(set(values) - set(OPTION_NAMES))
        if unknown:
            raise ImdsConfigError("Unknown connection option(s): %s." % ", ".join(unknown))
        settings = {}
        for name, spec in CONNECTION_ARGSPEC.items():
            value = values.get(name)
            if value is None:
                value = spec.get("default")
            elif spec["type"] in _COERCE:
                value = _coerce(name, value, spec["type"])
            settings[name] = value
        self._settings = _validated(settings)

    def __getattr__(self, name):
        settings = self.__dict__.get("_settings", {})
        if name in settings:
            return settings[name]
        raise AttributeError(name)

    def __eq__(self, other):
        return isinstance(other, ConnectionOptions) and self._settings == other._settings

    def __repr__(self):
        return "ConnectionOptions(%s)" % ", ".join("%s=%r" % item for item in sorted(self._settings.items()))

    @classmethod
    def from_dict(cls, data):
        """From any mapping; keys that are not connection options are ignored."""
        return cls(**dict((name, data[name]) for name in OPTION_NAMES if name in data))

    @classmethod
    def from_module(cls, module):
        return cls.from_dict(module.params)

    @classmethod
    def from_plugin(cls, plugin):
        """From a plugin after its set_options(); undeclared options take defaults."""
        values = {}
        for name in OPTION_NAMES:
            try:
                values[name] = plugin.get_option(name)
            except KeyError:
                continue
        return cls(**values)

    def as_dict(self):
        return dict(self._settings)

    def client(self, warn=None, environ=None):
        return ImdsClient(warn=warn, environ=environ, **self._settings)


def _coerce(name, value, kind):
    try:
        return _COERCE[kind](value)
    except (TypeError, ValueError):
        article = {"bool": "true or false", "float": "a number", "int": "a whole number"}[kind]
        raise ImdsConfigError("Invalid %s %r: it must be %s." % (name, value, article))


def _validated(settings):
    """The checks ImdsClient makes, so a bad value fails before any request."""
    if settings["endpoint"] not in (None, ""):
        check_endpoint(settings["endpoint"])
    if settings["endpoint_mode"] not in (None, ""):
        check_endpoint_mode(settings["endpoint_mode"])
    settings.update(check_settings(
        settings["allow_imdsv1"], settings["timeout"], settings["retries"],
        settings["total_timeout"], settings["token_ttl"], settings["max_concurrency"],
    ))
    return settings
