# -*- coding: utf-8 -*-
# Copyright: (c) 2025, cloudmeta.imds maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""What the metadata lookup does: plan every term, read them in one go, give back the values.

Controller side. Errors leave here as the Ansible errors the lookup
raises: AnsibleOptionsError for a bad option, AnsibleLookupError for a
refused term or a failed read.
"""

from __future__ import annotations

from ansible.errors import AnsibleLookupError, AnsibleOptionsError

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import (
    ImdsConfigError,
    ImdsError,
    ImdsNotFoundError,
)
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.options import ConnectionOptions
from ansible_collections.cloudmeta.imds.plugins.plugin_utils._controller import remote_host_name
from ansible_collections.cloudmeta.imds.plugins.plugin_utils._metadata_terms import (
    DIRECTORY,
    LEAF,
    TermRefusedError,
    plan_term,
)
from ansible_collections.cloudmeta.imds.plugins.plugin_utils._metadata_values import (
    MetadataValueError,
    leaf_text,
    parse_json_leaf,
    parse_json_tree,
    user_data_value,
)

# The default when the lookup was given none: a missing path is an error.
NO_DEFAULT = object()


def lookup_metadata(plugin, terms, variables, default, warn):
    """The values of TERMS for PLUGIN, a lookup after its set_options().

    VARIABLES are the task's (to tell whether it runs on the controller);
    DEFAULT is returned for a missing path unless it is NO_DEFAULT; WARN
    displays a warning.
    """
    try:
        planned = [plan_term(term) for term in terms]
    except TermRefusedError as exc:
        raise AnsibleLookupError(str(exc))
    if not planned:
        return []

    try:
        connection = ConnectionOptions.from_plugin(plugin)
    except ImdsConfigError as exc:
        raise AnsibleOptionsError(exc.message)

    remote = remote_host_name(variables)
    if remote is not None:
        warn(
            "cloudmeta.imds.metadata: lookups run on the Ansible controller, so these values are "
            "the controller's instance metadata, not those of %r, where this task runs. "
            "Use cloudmeta.imds.metadata_facts to read a managed host's metadata." % remote
        )

    try:
        # A bad AWS_EC2_METADATA_SERVICE_ENDPOINT(_MODE) surfaces only here.
        client = connection.client(warn=warn)
    except ImdsConfigError as exc:
        raise AnsibleOptionsError(exc.message)
    try:
        return _read(
            client, planned, default,
            recursive=plugin.get_option('recursive'),
            parse_json=plugin.get_option('parse_json'),
            user_data_encoding=plugin.get_option('user_data_encoding'),
        )
    except ImdsError as exc:
        raise AnsibleLookupError(exc.message)
    except MetadataValueError as exc:
        raise AnsibleLookupError(str(exc))


def _read(client, planned, default, recursive, parse_json, user_data_encoding):
    # Every term in one parallel read, under one deadline, so total_timeout
    # bounds the whole lookup.
    directories = [item.path for item in planned if item.kind == DIRECTORY]
    read = client.read(
        leaves=[item.path for item in planned if item.kind != DIRECTORY],
        trees=directories if recursive else (),
        listings=() if recursive else directories,
    )
    bodies = read.leaves
    found_directories = read.trees if recursive else read.listings

    values = []
    for item in planned:
        if item.kind == DIRECTORY:
            value = found_directories[item.path]
            if value is None:
                values.append(_missing(item, default, client.endpoint))
                continue
            if recursive and parse_json:
                value = parse_json_tree(value)
            values.append(value)
            continue

        body = bodies[item.path]
        if body is None:
            values.append(_missing(item, default, client.endpoint))
            continue
        if item.kind == LEAF:
            value = leaf_text(body)
        else:
            value = user_data_value(body, user_data_encoding)
        if parse_json and not (item.kind != LEAF and user_data_encoding == 'base64'):
            value = parse_json_leaf(item.term, value)
        values.append(value)
    return values


def _missing(item, default, endpoint):
    if default is NO_DEFAULT:
        raise AnsibleLookupError(
            "Term %r: %s Pass default=... to the lookup to get a value instead of this error."
            % (item.term, ImdsNotFoundError(item.path, endpoint).message))
    return default
