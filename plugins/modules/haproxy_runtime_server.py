#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: haproxy_runtime_server
short_description: Add, update, drain and remove one HAProxy server through the runtime API
version_added: 1.0.0
description:
  - Puts one server into service in an HAProxy backend, or takes it out, through HAProxy's runtime API (the
    C(stats socket)), without a reload. Made for an instance that registers itself with a load balancer.
  - In O(mode=dynamic) it adds the server with C(add server), then enables it (and its health checks); with
    O(state=absent) it drains the server, waits up to O(drain_timeout) seconds for its sessions to end, puts it in
    maintenance and deletes it with C(del server).
  - In O(mode=slot) it uses a server slot declared in the configuration with C(server-template), setting the slot's
    address and port (C(set server ... addr)) and its state, so it also works with static load-balancing
    algorithms and can survive reloads through a server state file. With O(state=absent) it drains the slot, puts
    it in maintenance and sets its address back to C(0.0.0.0), which makes it free again.
  - It reads C(show servers state) first and only sends what differs, so a second run reports no change. A server
    that exists with another address or port is updated in place, never added twice.
  - Removing a server that does not exist succeeds with no change.
  - Servers added at runtime (O(mode=dynamic)) are lost when HAProxy reloads or restarts; see the notes.
  - M(community.general.haproxy) can enable, disable and drain servers but cannot add or delete them, hence this
    module. It uses only the Python standard library and runs on the host that can reach the socket.
author: cloudmeta.imds maintainers (@cloudmeta)
extends_documentation_fragment:
  - cloudmeta.imds.attributes
  - cloudmeta.imds.attributes.change_module
options:
  socket:
    description:
      - The HAProxy runtime API socket, either a unix socket path (also written V(unix@/path)), or V(ipv4@HOST:PORT) or
        V(ipv6@[HOST]:PORT) for a TCP C(stats socket).
      - It must be declared with C(level admin); a C(level operator) socket fails with a message saying so.
      - A TCP runtime API socket has no authentication. Bind it to a private address that only trusted hosts can
        reach, or run this module on the HAProxy host (C(delegate_to)) with a unix socket.
    type: str
    required: true
  backend:
    description:
      - Name of the HAProxy backend.
    type: str
    required: true
  name:
    description:
      - Name of the server in the backend, for example the instance ID.
      - Required with O(mode=dynamic); ignored with O(mode=slot), where the slot's name is used.
    type: str
  address:
    description:
      - IPv4 or IPv6 address of the server. Host names are not accepted.
      - IPv6 scope ids (V(fe80::1%eth0)) and values with whitespace or a line break (such as metadata served with a
        trailing newline) are refused, naming the value.
      - Required with O(state=present), and with O(mode=slot) also for O(state=absent), since the address is what
        tells which slot belongs to the server.
    type: str
  port:
    description:
      - Port of the server. Required with O(state=present).
    type: int
  state:
    description:
      - V(present) makes sure the server exists with this address and port and is ready (neither drained nor in
        maintenance).
      - V(absent) drains the server and removes it (O(mode=dynamic)) or leaves its slot in maintenance with the
        address C(0.0.0.0) (O(mode=slot)), free for the next host.
    type: str
    choices: [present, absent]
    default: present
  mode:
    description:
      - V(dynamic) adds and deletes the server itself (C(add server), C(del server)). Needs HAProxy 2.4 or later
        and a backend with a dynamic load-balancing algorithm (C(roundrobin), C(leastconn), C(random), C(first), or a
        hash with C(hash-type consistent)). The server is lost on reload.
      - V(slot) takes a free slot among the servers named O(slot_prefix)C(<number>) that a C(server-template)
        declares, sets its address and port and puts it in service. A slot in maintenance whose address is
        C(0.0.0.0) (or C(::)) counts as free. Works with every algorithm and, with a server state file, survives
        reloads.
    type: str
    choices: [dynamic, slot]
    default: dynamic
  slot_prefix:
    description:
      - With O(mode=slot), the prefix of the C(server-template) line, for example V(slot) for
        C(server-template slot 1-10 ...), whose servers are C(slot1) to C(slot10).
    type: str
    default: slot
  weight:
    description:
      - Weight of the server (0 to 256). Unset leaves the weight as it is (1 for a new dynamic server).
    type: int
  check:
    description:
      - Whether HAProxy health-checks the server.
      - With O(mode=dynamic), V(true) adds the server with the C(check) keyword and enables its checks (C(enable
        health)); a server that exists with the other setting is removed (drained) and added again, since checks
        cannot be added to a server at runtime.
      - With O(mode=slot), V(true) enables and V(false) disables the slot's checks, which the C(server-template)
        must declare with C(check); unset leaves them as they are.
    type: bool
  server_options:
    description:
      - More keywords for C(add server) with O(mode=dynamic), for example V([inter 2s, rise 2, maxconn 100]).
        C(default-server) lines do not apply to servers added at runtime, so put here what they would set.
      - Only applied when the server is added; to change them, remove the server and add it again.
      - Words may only hold letters, digits and C(_.:/@=,+%-).
      - Every word of every command the module sends, whichever option it came from, is checked against this rule
        just before it is sent; a command that breaks it is refused and nothing is sent.
    type: list
    elements: str
    default: []
  drain_timeout:
    description:
      - With O(state=absent), how many seconds to wait for the server's sessions to end after draining it.
    type: int
    default: 30
  shutdown_sessions:
    description:
      - With O(state=absent), what to do with sessions still open after O(drain_timeout).
      - V(true) closes them (C(shutdown sessions server)) and removes the server, as a load balancer does at the end
        of its deregistration delay. V(false) leaves the server in maintenance with its sessions and fails.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for HAProxy to answer one command.
    type: float
    default: 5
notes:
  - B(Reloads.) Servers added at runtime are not in the configuration file, so HAProxy forgets them when it reloads
    or restarts; run the task again after each reload (for example from the reload hook), or use O(mode=slot).
  - In O(mode=slot), slot addresses survive reloads through a server state file. Declare the slots with a
    placeholder name and C(init-addr last,0.0.0.0), for example
    C(server-template slot 1-10 unregistered.invalid:80 init-addr last,0.0.0.0 check disabled), set
    C(server-state-file) in the global section and C(load-server-state-from-file global) in the defaults, and save
    C(show servers state) to that file before every reload. A slot declared with a literal C(0.0.0.0) keeps its port
    and state but loses its address on reload.
  - In O(mode=slot) many hosts can register at the same moment. A slot is claimed with C(set server ... addr), which
    HAProxy runs atomically and answers with the address it replaced; only the host that replaced C(0.0.0.0) owns the
    slot, and a host that replaced another host's address sets that address back before it tries another slot. No
    two hosts end up in one slot and no registration is lost. Slots in maintenance that still hold an address (left
    by an earlier release of this collection) are not taken by other hosts; the error for a full backend names
    them.
seealso:
  - module: community.general.haproxy
  - name: HAProxy management guide, runtime API
    description: The commands this module sends.
    link: https://docs.haproxy.org/2.6/management.html#9.3
'''

EXAMPLES = r'''
- name: Put this instance into the web backend
  cloudmeta.imds.haproxy_runtime_server:
    socket: /run/haproxy/admin.sock
    backend: web
    name: "{{ ansible_facts['ec2']['instance_id'] }}"
    address: "{{ ansible_facts['ec2']['local_ipv4'] }}"
    port: 8080
    check: true
    server_options: [inter 2s, rise 2, fall 3]

- name: Take it out before shutdown, waiting up to 60 s for its sessions
  cloudmeta.imds.haproxy_runtime_server:
    socket: /run/haproxy/admin.sock
    backend: web
    name: "{{ ansible_facts['ec2']['instance_id'] }}"
    state: absent
    drain_timeout: 60

- name: Take a slot of a server-template, on a load balancer reached over TCP
  cloudmeta.imds.haproxy_runtime_server:
    socket: ipv4@10.0.0.10:9999
    backend: web
    mode: slot
    address: "{{ ansible_facts['ec2']['local_ipv4'] }}"
    port: 8080
'''

RETURN = r'''
server:
  description:
    - The server as HAProxy holds it after the task (in check mode, as it would be); V(null) when it does not exist.
    - With O(mode=slot) and O(state=absent), the slot, now in maintenance.
  returned: always
  type: dict
  contains:
    backend:
      description: The backend.
      type: str
      sample: web
    name:
      description: The server's name (the slot's name in O(mode=slot)).
      type: str
      sample: i-0123456789abcdef0
    address:
      description: Its address.
      type: str
      sample: 10.0.1.25
    port:
      description: Its port.
      type: int
      sample: 8080
    admin_state:
      description: V(ready), V(drain) or V(maint), as set by an operator (not whether health checks pass).
      type: str
      sample: ready
    weight:
      description: Its current weight.
      type: int
      sample: 1
    health_checks:
      description: Whether HAProxy health-checks it.
      type: bool
      sample: true
commands:
  description: The runtime API commands that changed something (in check mode, that would be sent).
  returned: always
  type: list
  elements: str
  sample: ["add server web/i-0123456789abcdef0 10.0.1.25:8080 check", "enable health web/i-0123456789abcdef0",
           "enable server web/i-0123456789abcdef0"]
sessions_closed:
  description: How many sessions were still open after O(drain_timeout) and were closed.
  returned: when O(state=absent)
  type: int
  sample: 0
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cloudmeta.imds.plugins.module_utils._registration.haproxy import HAProxyError, RuntimeApi, apply


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type='str', required=True),
            backend=dict(type='str', required=True),
            name=dict(type='str'),
            address=dict(type='str'),
            port=dict(type='int'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            mode=dict(type='str', choices=['dynamic', 'slot'], default='dynamic'),
            slot_prefix=dict(type='str', default='slot'),
            weight=dict(type='int'),
            check=dict(type='bool'),
            server_options=dict(type='list', elements='str', default=[]),
            drain_timeout=dict(type='int', default=30),
            shutdown_sessions=dict(type='bool', default=True),
            timeout=dict(type='float', default=5.0),
        ),
        supports_check_mode=True,
    )
    try:
        api = RuntimeApi(module.params['socket'], timeout=module.params['timeout'])
        result = apply(api, module.params, check_mode=module.check_mode)
    except HAProxyError as exc:
        module.fail_json(msg=exc.message)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
