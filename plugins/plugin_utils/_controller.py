# -*- coding: utf-8 -*-
# Copyright: (c) 2025, cloudmeta.imds maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""Decide whether a task runs on the Ansible controller.

Lookups always run on the controller, so a lookup of instance metadata in
a task aimed at another machine silently returns the controller's
metadata. This tells the lookup when to say so.

The rule, from the variables Ansible hands to a lookup:

* no ``inventory_hostname``: no task host (e.g. a play keyword), nothing to compare;
* with ``delegate_to``, Ansible passes ``ansible_delegated_vars`` holding the
  delegated host's variables: that host is where the task runs;
* otherwise the task's own host.

That host is the controller when its connection is ``local``, or when its
address (``ansible_host``, else its inventory name) is a loopback name or
address. ``ansible_connection`` in a task's variables is the connection
the task really uses: an inventory variable wins over the ``connection``
keyword and ``-c``, and Ansible fills in the keyword or ``-c`` otherwise.
"""

from __future__ import annotations

from ansible_collections.cloudmeta.imds.plugins.module_utils._common.addresses import is_loopback

_LOCAL_CONNECTIONS = frozenset(('local', 'ansible.builtin.local', 'ansible.legacy.local'))


def task_host(variables):
    """Return (name, connection, address) of the host the task runs on, or None."""
    variables = variables or {}
    name = variables.get('inventory_hostname')
    if name is None:
        return None
    delegated = variables.get('ansible_delegated_vars')
    if isinstance(delegated, dict) and len(delegated) == 1:
        delegate_name, delegate_vars = next(iter(delegated.items()))
        delegate_vars = delegate_vars if isinstance(delegate_vars, dict) else {}
        connection = delegate_vars.get('ansible_connection') or variables.get('ansible_connection')
        return (str(delegate_name), connection, delegate_vars.get('ansible_host') or delegate_name)
    return (str(name), variables.get('ansible_connection'), variables.get('ansible_host') or name)


def remote_host_name(variables):
    """Return the name of the task's host when it is not the controller, else None."""
    host = task_host(variables)
    if host is None:
        return None
    name, connection, address = host
    if connection is not None and str(connection) in _LOCAL_CONNECTIONS:
        return None
    if is_loopback(address):
        return None
    return name
