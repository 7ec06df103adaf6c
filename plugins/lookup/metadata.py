# -*- coding: utf-8 -*-
# Copyright: (c) 2025, cloudmeta.imds maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: metadata
author: cloudmeta.imds maintainers (@cloudmeta)
version_added: 1.0.0
short_description: Read EC2 instance metadata (IMDSv2) of the Ansible controller
description:
  - Returns values from the EC2 instance metadata service, through IMDSv2 by default.
  - Each term is a path under C(/latest/meta-data/), such as V(placement/availability-zone).
    Terms that start with V(dynamic/) address C(/latest/dynamic/), and the term V(user-data)
    returns the user data.
  - Several terms are read with one token and in parallel; the result has one value per term,
    in the order of the terms.
  - A leaf returns its text. A directory term returns the list of its entries as served
    (sub-directories end in C(/)), or with O(recursive=true) a nested dictionary.
    A term is a directory when it ends in C(/) or names a well-known directory such as
    V(placement), V(tags/instance), V(network/interfaces/macs) or V(dynamic/instance-identity).
  - Every term is checked before any request is sent. Only plain relative paths are accepted
    (segments of letters, digits and C(-_.:,=+@)); C(..), empty segments, a leading C(/), URLs,
    query strings, fragments, percent-encoding, whitespace and control characters are refused.
  - Terms that would return IAM credentials (values under V(iam/security-credentials/),
    V(iam/security-credentials-extended/) and V(identity-credentials/ec2/security-credentials/))
    are refused; listing those directories (the role name) is allowed.
  - Values are marked unsafe, so metadata text (a tag value, user data) is never evaluated as a template.
  - B(Lookups run on the Ansible controller), whatever host the task is for. The values are the
    controller's instance metadata. A warning is shown when the task runs on another host; use
    M(cloudmeta.imds.metadata_facts) to read the metadata of managed hosts.
options:
  _terms:
    description:
      - Metadata paths relative to C(/latest/meta-data/), or starting with V(dynamic/), or V(user-data).
    required: true
    type: list
    elements: str
  default:
    description:
      - Value returned for a term whose path does not exist on this instance (HTTP 404),
        instead of failing.
      - Other errors (IMDS unreachable or disabled, token refused) still fail.
      - When not given, a missing path is an error.
    type: raw
  recursive:
    description:
      - Return a directory term as a nested dictionary of all its entries, read in parallel.
      - Entries of sub-directories are dictionaries keyed by name without the trailing C(/);
        leaves are strings; names of credential entries are kept with the value V(null).
      - Has no effect on leaf terms.
    type: bool
    default: false
  parse_json:
    description:
      - Parse JSON values, such as V(iam/info), V(dynamic/instance-identity/document),
        V(spot/instance-action) or JSON user data.
      - A leaf term (and V(user-data)) must then hold JSON, otherwise the lookup fails naming the term.
      - In a recursive read, leaves that hold a JSON object or array are parsed and every other
        leaf stays a string.
      - Directory listings, and V(user-data) with O(user_data_encoding=base64), are not affected.
    type: bool
    default: false
  user_data_encoding:
    description:
      - How the V(user-data) term is returned. gzip and zlib compression is undone first.
      - V(utf-8) returns the text; user data that is not UTF-8 text is an error.
      - V(base64) returns the (uncompressed) bytes base64-encoded, whatever they are,
        as M(cloudmeta.imds.metadata_facts) does for binary user data.
    type: str
    choices: [utf-8, base64]
    default: utf-8
extends_documentation_fragment:
  - cloudmeta.imds.connection
  - cloudmeta.imds.connection.plugins
notes:
  - Lookups run on the controller. A warning is shown, once per lookup call, when the task runs on
    a host other than the controller. A host counts as the controller when the task's connection
    is C(local) or its address (C(ansible_host), else the inventory name) is C(localhost) or a
    loopback address. With C(delegate_to), the delegated host is the one compared.
  - With O(recursive=true), a whole directory costs one request per entry; prefer listing
    single values when only a few are needed.
  - Without C(wantlist=true), Ansible returns a single term's value as is and joins several string
    values with commas; use C(query()) (or C(wantlist=true)) to always get a list.
seealso:
  - module: cloudmeta.imds.metadata_facts
  - name: Instance metadata categories
    description: The paths IMDS serves.
    link: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-metadata.html
"""

EXAMPLES = r"""
- name: Show the controller's availability zone
  ansible.builtin.debug:
    msg: "{{ lookup('cloudmeta.imds.metadata', 'placement/availability-zone') }}"

- name: Several values with one token, as a list
  ansible.builtin.set_fact:
    controller_ids: "{{ query('cloudmeta.imds.metadata', 'instance-id', 'placement/region', 'dynamic/instance-identity/document') }}"

- name: An instance tag, or a default when the tag (or tags in metadata) is missing
  ansible.builtin.debug:
    msg: "{{ lookup('cloudmeta.imds.metadata', 'tags/instance/Environment', default='unknown') }}"

- name: Tag keys (a directory term returns its entries)
  ansible.builtin.debug:
    msg: "{{ lookup('cloudmeta.imds.metadata', 'tags/instance/') }}"

- name: All tags as a dictionary
  ansible.builtin.debug:
    msg: "{{ lookup('cloudmeta.imds.metadata', 'tags/instance', recursive=true) }}"

- name: The account id from the instance identity document
  ansible.builtin.debug:
    msg: "{{ lookup('cloudmeta.imds.metadata', 'dynamic/instance-identity/document', parse_json=true)['accountId'] }}"

- name: User data, gzip undone
  ansible.builtin.copy:
    content: "{{ lookup('cloudmeta.imds.metadata', 'user-data', default='') }}"
    dest: /tmp/user-data.txt
    mode: "0600"

- name: Talk to an emulator instead of the real service
  ansible.builtin.debug:
    msg: "{{ lookup('cloudmeta.imds.metadata', 'instance-id', endpoint='http://127.0.0.1:1338') }}"
"""

RETURN = r"""
_raw:
  description:
    - One value per term, in the order of the terms.
    - A string for a leaf; a list of entry names for a directory; a dictionary with
      O(recursive=true); parsed JSON with O(parse_json=true); the O(default) for a missing path.
  type: list
  elements: raw
"""

from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.cloudmeta.imds.plugins.plugin_utils._metadata_lookup import NO_DEFAULT, lookup_metadata

display = Display()


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        # default=None (or '') is a real default; only an absent one means "fail".
        default = self.get_option('default') if 'default' in kwargs else NO_DEFAULT
        return wrap_var(lookup_metadata(self, terms, variables, default, warn=display.warning))
