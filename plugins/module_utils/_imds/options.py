# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""Connection options: one argspec and one adapter for modules and plugins.

Modules read ``module.params``, plugins read ``get_option``; both end in the
same validation (settings.py) and the same ImdsClient, as
community.hashi_vault's option adapter does. The documentation of these options is the ``connection`` doc
fragment and must stay identical to CONNECTION_ARGSPEC.
"""

from __future__ import annotations

import copy

from ansible.module_utils.common.validation import check_type_bool, check_type_float, check_type_int

from .client import ImdsClient
from .errors import ImdsConfigError
from .settings import DEFAULTS, ImdsSettings

CONNECTION_ARGSPEC = dict(
    endpoint=dict(type="str"),
    endpoint_mode=dict(type="str"),
    allow_imdsv1=dict(type="bool", default=DEFAULTS["allow_imdsv1"]),
    timeout=dict(type="float", default=DEFAULTS["timeout"]),
    retries=dict(type="int", default=DEFAULTS["retries"]),
    total_timeout=dict(type="float", default=DEFAULTS["total_timeout"]),
    # A lifetime, not a secret; validate-modules flags any name with "token".
    token_ttl=dict(type="int", default=DEFAULTS["token_ttl"], no_log=False),
    max_concurrency=dict(type="int", default=DEFAULTS["max_concurrency"]),
)

OPTION_NAMES = tuple(CONNECTION_ARGSPEC)

_COERCE = dict(bool=check_type_bool, float=check_type_float, int=check_type_int)
_KIND_NAMES = dict(bool="true or false", float="a number", int="a whole number")


def connection_argspec(**extra):
    """A fresh argspec: the connection options plus a module's own EXTRA options."""
    spec = copy.deepcopy(CONNECTION_ARGSPEC)
    spec.update(extra)
    return spec


class ConnectionOptions(object):
    """Module or plugin options made into ImdsSettings; ``client()`` builds the ImdsClient.

    Unset values (missing or None) take the argspec default, so a plugin
    that leaves an option empty behaves like a module that omits it.
    Strings are coerced as Ansible would ("yes", "0.5"); every check of a
    value is ImdsSettings', made once, here, before any request.
    """

    def __init__(self, **values):
        coerced = {}
        for name, value in values.items():
            if value is None and name in OPTION_NAMES:
                continue
            kind = CONNECTION_ARGSPEC.get(name, {}).get("type")
            coerced[name] = _coerce(name, value, kind) if kind in _COERCE else value
        self.settings = ImdsSettings(**coerced)

    def __getattr__(self, name):
        settings = self.__dict__.get("settings")
        if settings is not None and name in OPTION_NAMES:
            return getattr(settings, name)
        raise AttributeError(name)

    def __eq__(self, other):
        return isinstance(other, ConnectionOptions) and self.settings == other.settings

    def __repr__(self):
        return "ConnectionOptions(%s)" % ", ".join("%s=%r" % item for item in sorted(self.as_dict().items()))

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
        return self.settings.as_dict()

    def client(self, warn=None, environ=None):
        return ImdsClient(settings=self.settings, warn=warn, environ=environ)


def _coerce(name, value, kind):
    try:
        return _COERCE[kind](value)
    except (TypeError, ValueError):
        raise ImdsConfigError.invalid(name, value, "it must be %s" % _KIND_NAMES[kind])
