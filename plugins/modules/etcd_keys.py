#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: etcd_keys
short_description: Put or delete a group of etcd keys, optionally bound to one lease
version_added: 1.0.0
description:
  - Writes a group of keys to etcd v3 in one transaction, optionally attached to one lease with a TTL, or deletes
    them. Made for service registration, for example a CoreDNS/SkyDNS record plus a metadata key per instance.
  - Talks to etcd's v3 JSON gateway (C(/v3/kv/...), C(/v3/lease/...)) over HTTP or HTTPS with the Python standard
    library; no gRPC client or C(etcd3) package is needed. Needs etcd 3.4 or later.
  - It reads the keys first and writes only when a value differs, a key is missing, or the lease does not match, so
    a second run reports no change.
  - With O(lease_ttl), all keys share one lease. A run that finds them on a live lease with that TTL keeps it (and
    renews it once); otherwise it grants a new lease, moves the keys to it and revokes the old lease once no key is
    attached to it any more, so re-runs never leave orphaned keys or leases behind.
  - With O(state=absent) it deletes the keys and revokes their lease when nothing else is attached to it. Keys that
    are already gone are not an error.
  - M(community.general.etcd3) writes one key at a time, without leases, and needs the C(etcd3) gRPC package.
author: cloudmeta.imds maintainers (@cloudmeta)
extends_documentation_fragment:
  - cloudmeta.imds.attributes
  - cloudmeta.imds.attributes.change_module
options:
  url:
    description:
      - Client URL of an etcd member or of a proxy in front of the cluster, for example V(https://10.0.0.5:2379).
      - Requests go through the proxy that C(https_proxy)/C(http_proxy) name, unless C(no_proxy) excludes the host,
        O(use_proxy=false), or the host is a loopback address.
    type: str
    required: true
  keys:
    description:
      - The keys, each with its value. A string is written as it is; any other value (a dict, list or number) is
        written as compact JSON with sorted keys and compared as JSON.
      - With O(state=absent) only the key names matter.
    type: dict
    required: true
  state:
    description:
      - V(present) writes the keys, V(absent) deletes them.
    type: str
    choices: [present, absent]
    default: present
  lease_ttl:
    description:
      - Attach the keys to a lease with this TTL in seconds (at least 5). etcd deletes them when the lease is not
        renewed in time, so a host that dies unregisters itself.
      - Something must renew the lease (C(POST /v3/lease/keepalive)) more often than the TTL; the
        C(cloudmeta.imds.register_instance) role can install a service that does.
      - Unset, the keys have no lease and stay until deleted.
    type: int
  username:
    description:
      - User for etcd authentication (C(/v3/auth/authenticate)). Needs O(password).
    type: str
  password:
    description:
      - Password of O(username).
    type: str
  ca_path:
    description:
      - PEM file of the CA that signed etcd's server certificate, for C(https) URLs.
    type: path
  client_cert:
    description:
      - PEM client certificate, for etcd started with C(--client-cert-auth).
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert).
    type: path
  validate_certs:
    description:
      - Verify etcd's TLS certificate. Only turn this off for tests.
    type: bool
    default: true
  use_proxy:
    description:
      - Send requests through the proxy named by the C(*_proxy) environment variables. Loopback addresses never are.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each request.
    type: float
    default: 10
seealso:
  - name: etcd gRPC gateway
    description: The JSON API this module uses.
    link: https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/
  - name: CoreDNS etcd plugin
    description: How CoreDNS reads SkyDNS records from etcd.
    link: https://coredns.io/plugins/etcd/
'''

EXAMPLES = r'''
- name: Publish this instance for CoreDNS (web.skydns.local) with its placement, kept for 60 s without renewal
  cloudmeta.imds.etcd_keys:
    url: https://etcd.internal:2379
    ca_path: /etc/ssl/etcd-ca.pem
    username: registrar
    password: "{{ etcd_password }}"
    lease_ttl: 60
    keys:
      /skydns/local/skydns/web/i-0123456789abcdef0:
        host: "{{ ansible_facts['ec2']['local_ipv4'] }}"
        port: 8080
        ttl: 30
      /cloudmeta/services/web/i-0123456789abcdef0:
        availability_zone: "{{ ansible_facts['ec2']['availability_zone'] }}"
        subnet_id: "{{ ansible_facts['ec2']['subnet_id'] }}"

- name: Remove them again
  cloudmeta.imds.etcd_keys:
    url: https://etcd.internal:2379
    ca_path: /etc/ssl/etcd-ca.pem
    username: registrar
    password: "{{ etcd_password }}"
    state: absent
    keys:
      /skydns/local/skydns/web/i-0123456789abcdef0:
      /cloudmeta/services/web/i-0123456789abcdef0:
'''

RETURN = r'''
written:
  description:
    - The keys and their values as written (in check mode, as they would be); an empty dict after O(state=absent).
    - Version 1.0.0 returned this as C(keys), which is still returned, but only as C(result['keys']) because
      C(result.keys) is the dict method in Jinja. C(keys) will be removed in 2.0.0; use RV(written).
  returned: always
  version_added: 1.1.0
  type: dict
  sample: {"/skydns/local/skydns/web/i-0123456789abcdef0": "{\"host\":\"10.0.1.25\",\"port\":8080,\"ttl\":30}"}
lease:
  description:
    - The lease the keys are attached to; V(null) without O(lease_ttl) or after O(state=absent).
  returned: always
  type: dict
  contains:
    id:
      description: Lease ID, as a decimal string (for C(/v3/lease/keepalive)); V(null) in check mode for a new lease.
      type: str
      sample: "7587869398563932932"
    ttl:
      description: The lease's TTL in seconds.
      type: int
      sample: 60
revoked_leases:
  description: IDs of leases revoked because no key was attached to them any more.
  returned: always
  type: list
  elements: str
  sample: ["7587869398563932911"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cloudmeta.imds.plugins.module_utils._registration.etcd import (
    ETCD_ARGSPEC,
    EtcdClient,
    EtcdError,
    apply,
)


def main():
    argument_spec = dict(
        keys=dict(type='dict', required=True, no_log=False),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        lease_ttl=dict(type='int'),
    )
    argument_spec.update(ETCD_ARGSPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_together=[('username', 'password'), ('client_cert', 'client_key')])
    try:
        client = EtcdClient.from_params(module.params)
        result, diff = apply(client, module.params['keys'], module.params['state'], module.params['lease_ttl'],
                             check_mode=module.check_mode)
    except EtcdError as exc:
        module.fail_json(msg=exc.message)
    module.exit_json(diff=diff, **result)


if __name__ == '__main__':
    main()
