# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""HAProxy through its runtime API (stats socket): client, parsers, and register / deregister one server.

Standard library only, no ansible import, so that programs on the instance
can use it as the haproxy_runtime_server module does.

Every command goes over its own connection: HAProxy answers a
non-interactive connection and closes it, which makes the end of each answer
unambiguous. Checked against HAProxy 2.6.

A command is a list of words, never a string: RuntimeApi.execute() checks
every word against WORD_PATTERN (or ADDRESS_WORD_PATTERN) just before it
sends the line, so no value, wherever it came from, can add a keyword, end
the command or start another one.
"""

from __future__ import annotations

import csv
import ipaddress
import random
import re
import socket
import time
import zlib

from .._common.backoff import EQUAL, Backoff
from .._common.deadline import Deadline

# All patterns are used with fullmatch(): "$" would also match before a
# final newline.
# Names HAProxy accepts for proxies and servers (cfgparse: invalid_char()).
NAME_PATTERN = re.compile(r'[A-Za-z0-9_.:-]{1,64}')
# One word of a command: anything the runtime API could read as a word or
# command separator, comment, quote or escape is refused.
WORD_PATTERN = re.compile(r'[A-Za-z0-9_.:/@=,+%-]+')
# The one other word shape a command holds: a bracketed IPv6 ADDR:PORT.
ADDRESS_WORD_PATTERN = re.compile(r'\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}')
CONTROL_PATTERN = re.compile(r'[\x00-\x1f\x7f]')

# srv_admin_state bits (include/haproxy/server-t.h). CMAINT alone only
# records that the configuration said "disabled"; the server is in
# maintenance when one of the MAINT bits is set.
ADMIN_FMAINT = 0x01
ADMIN_IMAINT = 0x02
ADMIN_CMAINT = 0x04
ADMIN_FDRAIN = 0x08
ADMIN_IDRAIN = 0x10
ADMIN_RMAINT = 0x20
ADMIN_MAINT_MASK = ADMIN_FMAINT | ADMIN_IMAINT | ADMIN_RMAINT
ADMIN_DRAIN_MASK = ADMIN_FDRAIN | ADMIN_IDRAIN

# srv_check_state bits (include/haproxy/check-t.h).
CHECK_CONFIGURED = 0x02
CHECK_ENABLED = 0x04

PERMISSION_HELP = (
    'HAProxy refused the command ("Permission denied"): the runtime API socket %s is not at admin level. '
    'Adding, enabling, draining and deleting servers need a socket declared with "level admin", for example '
    '"stats socket /run/haproxy/admin.sock mode 660 level admin" in the global section.'
)
DYNAMIC_ALGORITHM_HELP = (
    'HAProxy backend %s cannot take servers added at runtime: its load-balancing algorithm is static '
    '(HAProxy: "Backend must use a dynamic load balancing to support dynamic servers."). Use "balance roundrobin", '
    '"leastconn", "random", or a hash with "hash-type consistent"; or keep the algorithm and use slot mode, '
    'with a "server-template" in the backend.'
)


class HAProxyError(Exception):
    """A runtime API failure, phrased for the user."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def parse_socket_address(text):
    """(family, address) for socket.socket(): a path, 'unix@PATH', 'ipv4@HOST:PORT' or 'ipv6@HOST:PORT'."""
    if not text:
        raise HAProxyError('The HAProxy runtime API socket is empty; give a unix socket path or ipv4@HOST:PORT.')
    if text.startswith('unix@'):
        return socket.AF_UNIX, text[len('unix@'):]
    for prefix, family in (('ipv4@', socket.AF_INET), ('ipv6@', socket.AF_INET6)):
        if text.startswith(prefix):
            host, sep, port = text[len(prefix):].rpartition(':')
            host = host.strip('[]')
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                example = 'ipv4@127.0.0.1:9999' if family == socket.AF_INET else 'ipv6@[::1]:9999'
                raise HAProxyError('Cannot read the HAProxy runtime API socket %r: write %sHOST:PORT, for example '
                                   '%s.' % (text, prefix, example))
            return family, (host, int(port))
    if '@' in text.split('/', 1)[0]:
        raise HAProxyError('Unsupported HAProxy runtime API socket %r: use a unix socket path, unix@PATH, '
                           'ipv4@HOST:PORT or ipv6@HOST:PORT.' % text)
    return socket.AF_UNIX, text


def check_name(kind, value):
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise HAProxyError('Invalid HAProxy %s name %r: 1 to 64 letters, digits, "_", ".", ":" or "-".'
                           % (kind, value))
    return value


def check_keywords(words):
    """Server keywords as one string; refuses anything that could end or change the command."""
    result = []
    for item in words or []:
        item = str(item)
        if CONTROL_PATTERN.search(item):
            raise HAProxyError('Invalid HAProxy server keywords %r: control characters such as line breaks could end '
                               'the runtime API command.' % item)
        for word in item.split(' '):
            if not word:
                continue
            if not WORD_PATTERN.fullmatch(word):
                raise HAProxyError('Invalid HAProxy server keyword %r: only letters, digits and _.:/@=,+%%- are '
                                   'allowed, so that nothing can end or change the runtime API command.' % word)
            result.append(word)
    return result


def normalize_address(value):
    """An IP address as text, IPv6 compressed; raises HAProxyError for anything else (names included).

    IPv6 scope ids ("fe80::1%eth0") are refused: Python accepts any text
    after "%", spaces included, and HAProxy would read that text as more of
    the command.
    """
    text = str(value)
    if text != text.strip() or CONTROL_PATTERN.search(text):
        raise HAProxyError('Invalid server address %r: it holds whitespace or a line break (metadata served '
                           'with a trailing newline?); give the bare IPv4 or IPv6 address.' % (value,))
    if '%' in text:
        raise HAProxyError('Invalid server address %r: IPv6 scope ids ("%%" and an interface name) are not '
                           'accepted; give an address without one.' % (value,))
    try:
        address = ipaddress.ip_address(text[1:-1] if text.startswith('[') and text.endswith(']') else text)
    except ValueError:
        raise HAProxyError('%r is not an IPv4 or IPv6 address.' % (value,)) from None
    return str(address)


def server_address(address, port):
    """ADDR:PORT as the runtime API reads it, IPv6 in brackets."""
    return ('[%s]:%d' if ':' in address else '%s:%d') % (address, port)


def add_server_command(backend, name, address, port, keywords):
    """The words of "add server"."""
    return ['add', 'server', '%s/%s' % (backend, name), server_address(address, port)] + list(keywords)


def command_line(words):
    """The line to send for the command WORDS; raises HAProxyError unless every word follows the word rule."""
    if isinstance(words, str) or not words:
        raise HAProxyError('Internal error: a runtime API command must be a non-empty list of words, got %r.'
                           % (words,))
    for word in words:
        if not isinstance(word, str) or not (WORD_PATTERN.fullmatch(word) or ADDRESS_WORD_PATTERN.fullmatch(word)):
            raise HAProxyError('Refusing to send the HAProxy runtime API command %r: the word %r could end or change '
                               'the command (only letters, digits and _.:/@=,+%%- are allowed, and [IPv6]:PORT).'
                               % (' '.join(str(item) for item in words), word))
    return ' '.join(words)


class Server(dict):
    """One row of "show servers state", with the flags decoded."""

    @property
    def maintenance(self):
        return bool(self['admin_state'] & ADMIN_MAINT_MASK)

    @property
    def draining(self):
        return not self.maintenance and bool(self['admin_state'] & ADMIN_DRAIN_MASK)

    @property
    def admin(self):
        """'maint', 'drain' or 'ready': what an operator set, not whether checks pass."""
        if self.maintenance:
            return 'maint'
        return 'drain' if self.draining else 'ready'

    @property
    def check_configured(self):
        return bool(self['check_state'] & CHECK_CONFIGURED)

    @property
    def check_enabled(self):
        return bool(self['check_state'] & CHECK_ENABLED)

    def summary(self):
        """What the module reports and diffs."""
        return {
            'backend': self['backend'],
            'name': self['name'],
            'address': self['address'],
            'port': self['port'],
            'admin_state': self.admin,
            'weight': self['weight'],
            'health_checks': self.check_configured and self.check_enabled,
        }


def parse_servers_state(text):
    """Servers from "show servers state" (format version 1), in HAProxy's order."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    if lines[0].strip() != '1':
        raise HAProxyError('Unexpected answer to "show servers state": %s' % _first_line(text))
    header = None
    servers = []
    for line in lines[1:]:
        if line.startswith('#'):
            header = line[1:].split()
            continue
        if header is None:
            raise HAProxyError('Unexpected answer to "show servers state": %s' % _first_line(text))
        row = dict(zip(header, line.split()))
        try:
            servers.append(Server(
                backend=row['be_name'],
                name=row['srv_name'],
                address=_state_address(row['srv_addr']),
                port=int(row['srv_port']),
                op_state=int(row['srv_op_state']),
                admin_state=int(row['srv_admin_state']),
                weight=int(row['srv_uweight']),
                check_state=int(row['srv_check_state']),
            ))
        except (KeyError, ValueError):
            raise HAProxyError('Unexpected line in "show servers state": %s' % line) from None
    return servers


def _state_address(value):
    if value == '-':
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def parse_stat(text):
    """Rows of "show stat" CSV as dicts keyed by column name."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith('# '):
        raise HAProxyError('Unexpected answer to "show stat": %s' % _first_line(text))
    reader = csv.DictReader([lines[0][2:]] + [line for line in lines[1:] if line.strip()])
    return list(reader)


def _first_line(text):
    text = (text or '').strip()
    return text.splitlines()[0] if text else '(empty answer)'


class RuntimeApi:
    """Commands to one HAProxy runtime API socket."""

    def __init__(self, address, timeout=5.0):
        self.display = address
        self.family, self.address = parse_socket_address(address)
        self.timeout = timeout
        self.sent = []

    def _connect(self, sock):
        """SOCK connected, or a new socket connected in its place.

        HAProxy serves at most "stats maxconn" (10 by default) clients of a
        socket at once and leaves the next ones in the listen queue; a full
        queue of a unix socket refuses at once (EAGAIN), as when a fleet
        registers together. Retried until the timeout.
        """
        deadline = Deadline(self.timeout)
        while True:
            try:
                sock.connect(self.address)
                return sock
            except BlockingIOError:
                sock.close()
                if deadline.expired():
                    raise HAProxyError('The HAProxy runtime API socket %s stayed busy for %s seconds (its listen '
                                       'queue was full): raise "stats maxconn" on its "stats socket" line, or the '
                                       'timeout.' % (self.display, self.timeout)) from None
                time.sleep(random.uniform(0.005, 0.05))
                sock = socket.socket(self.family, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)

    def execute(self, words):
        """Send the command WORDS (a list); return HAProxy's answer. Raises HAProxyError when the socket cannot be used.

        The one place that sends: every word is checked here, whoever built the command.
        """
        command = command_line(words)
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            try:
                sock = self._connect(sock)
            except FileNotFoundError:
                raise HAProxyError('No HAProxy runtime API socket at %s. Is HAProxy running, with "stats socket %s '
                                   'level admin" in its global section?' % (self.display, self.display)) from None
            except PermissionError:
                raise HAProxyError('Permission denied opening the HAProxy runtime API socket %s: run the task as a '
                                   'user that may (become: true), or set "mode", "user" or "group" on the "stats '
                                   'socket" line.' % self.display) from None
            except ConnectionRefusedError:
                raise HAProxyError('Nothing accepts connections on the HAProxy runtime API socket %s: is HAProxy '
                                   'running?' % self.display) from None
            except OSError as exc:
                raise HAProxyError('Cannot connect to the HAProxy runtime API socket %s: %s'
                                   % (self.display, exc.strerror or exc)) from None
            self.sent.append(command)
            try:
                sock.sendall(command.encode('ascii') + b'\n')
                chunks = []
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
            except socket.timeout:
                raise HAProxyError('HAProxy did not answer "%s" on %s within %s seconds.'
                                   % (command, self.display, self.timeout)) from None
            except OSError as exc:
                raise HAProxyError('The HAProxy runtime API socket %s failed during "%s": %s'
                                   % (self.display, command, exc.strerror or exc)) from None
        finally:
            sock.close()
        answer = b''.join(chunks).decode('utf-8', 'replace')
        if answer.strip() == 'Permission denied':
            raise HAProxyError(PERMISSION_HELP % self.display)
        return answer

    def expect(self, words, *accepted):
        """Run the command WORDS; its answer must be empty or start with one of ACCEPTED. Returns the answer."""
        answer = self.execute(words)
        text = answer.strip()
        if not text or any(text.startswith(prefix) for prefix in accepted):
            return answer
        raise HAProxyError('HAProxy refused "%s": %s' % (' '.join(words), _first_line(answer)))

    def servers(self, backend):
        answer = self.execute(['show', 'servers', 'state', check_name('backend', backend)])
        if answer.strip().startswith("Can't find backend"):
            raise HAProxyError('HAProxy has no backend named %s (runtime API socket %s).' % (backend, self.display))
        return [server for server in parse_servers_state(answer) if server['backend'] == backend]

    def sessions(self, backend, name):
        """Current plus queued sessions of one server, or None when HAProxy does not list it."""
        answer = self.execute(['show', 'stat', backend, '4', '-1'])
        for row in parse_stat(answer):
            if row.get('pxname') == backend and row.get('svname') == name:
                return int(row.get('scur') or 0) + int(row.get('qcur') or 0)
        return None

    def add_server(self, backend, name, address, port, keywords):
        words = add_server_command(backend, name, address, port, keywords)
        answer = self.execute(words)
        text = answer.strip()
        if text.startswith('New server registered'):
            return
        if 'dynamic load balancing' in text:
            raise HAProxyError(DYNAMIC_ALGORITHM_HELP % backend)
        raise HAProxyError('HAProxy refused "%s": %s' % (' '.join(words), _first_line(answer)))


# -- register / deregister one server: what the haproxy_runtime_server module does ----------

# Polling the local socket while draining or deleting: 0.2 s, doubling to
# 2 s, equal jitter, so instances that drain together do not poll in step.
POLL_FIRST = 0.2
POLL_CAP = 2.0
# "del server" can still see connections for a moment after the last
# session ended (idle connections are purged asynchronously).
DELETE_GRACE = 5.0


class Changes:
    """Sends the commands that change something, or, in check mode, only records them."""

    def __init__(self, api, check_mode):
        self.api = api
        self.check_mode = check_mode
        self.commands = []

    def send(self, words, *accepted):
        """Send WORDS (outside check mode); HAProxy's answer, or '' in check mode."""
        # Checked in check mode too, so check mode shows what would be refused.
        self.commands.append(command_line(words))
        if self.check_mode:
            return ''
        return self.api.expect(words, *accepted)


def updates(changes, server, address, port, weight, check):
    """Bring an existing server (or slot) to the wanted address, port, weight, checks and ready state."""
    target = '%s/%s' % (server['backend'], server['name'])
    if server['address'] != address or server['port'] != port:
        changes.send(['set', 'server', target, 'addr', address, 'port', str(port)], 'IP changed', 'no need to change')
    if weight is not None and server['weight'] != weight:
        changes.send(['set', 'weight', target, str(weight)])
    if check is True and not server.check_enabled:
        changes.send(['enable', 'health', target])
    elif check is False and server.check_enabled:
        changes.send(['disable', 'health', target])
    if server.admin != 'ready':
        changes.send(['set', 'server', target, 'state', 'ready'])


def add(changes, backend, name, address, port, weight, check, keywords):
    words = (['check'] if check else []) + (['weight', str(weight)] if weight is not None else []) + keywords
    changes.commands.append(command_line(add_server_command(backend, name, address, port, words)))
    if not changes.check_mode:
        changes.api.add_server(backend, name, address, port, words)
    if check:
        changes.send(['enable', 'health', '%s/%s' % (backend, name)])
    changes.send(['enable', 'server', '%s/%s' % (backend, name)])


def take_out(changes, server, drain_timeout, shutdown_sessions, delete):
    """Drain SERVER, wait for its sessions, put it in maintenance and, with DELETE, remove it.

    Returns the number of sessions that had to be closed.
    """
    api = changes.api
    backend, name = server['backend'], server['name']
    target = '%s/%s' % (backend, name)
    if server.admin == 'ready':
        changes.send(['set', 'server', target, 'state', 'drain'])
    remaining = 0
    if not changes.check_mode and not server.maintenance:
        deadline = Deadline(drain_timeout)
        backoff = Backoff(POLL_FIRST, POLL_CAP, jitter=EQUAL)
        while True:
            remaining = api.sessions(backend, name) or 0
            if not remaining or deadline.expired():
                break
            backoff.pause(deadline)
    if not server.maintenance:
        changes.send(['set', 'server', target, 'state', 'maint'])
    if not changes.check_mode:
        remaining = api.sessions(backend, name) or 0
    closed = 0
    if remaining:
        if not shutdown_sessions:
            raise HAProxyError('Server %s still has %d session(s) after %d seconds of draining. It is in maintenance '
                               'and takes no new traffic; run again later, raise drain_timeout, or set '
                               'shutdown_sessions to close them.' % (target, remaining, drain_timeout))
        changes.send(['shutdown', 'sessions', 'server', target])
        closed = remaining
    if delete:
        command = ['del', 'server', target]
        changes.commands.append(command_line(command))
        if not changes.check_mode:
            delete_server(api, command)
    return closed


def delete_server(api, command):
    deadline = Deadline(DELETE_GRACE)
    backoff = Backoff(POLL_FIRST, POLL_CAP, jitter=EQUAL)
    while True:
        answer = api.execute(command).strip()
        if answer.startswith('Server deleted') or answer.startswith('No such server'):
            return
        if 'still has connections' not in answer or deadline.expired():
            raise HAProxyError('HAProxy refused "%s": %s' % (' '.join(command), answer.splitlines()[0] if answer else answer))
        backoff.pause(deadline)


def find(servers, name):
    for server in servers:
        if server['name'] == name:
            return server
    return None


def run_dynamic(params, changes):
    api = changes.api
    backend, name = params['backend'], params['name']
    current = find(api.servers(backend), name)
    result = dict(sessions_closed=0) if params['state'] == 'absent' else {}

    if params['state'] == 'absent':
        if current is not None:
            result['sessions_closed'] = take_out(changes, current, params['drain_timeout'],
                                                 params['shutdown_sessions'], delete=True)
        return current, None, result

    address, port, weight, check = params['address'], params['port'], params['weight'], bool(params['check'])
    keywords = check_keywords(params['server_options'])
    if current is not None and current.check_configured != check:
        result['sessions_closed'] = take_out(changes, current, params['drain_timeout'],
                                             params['shutdown_sessions'], delete=True)
        add(changes, backend, name, address, port, weight, check, keywords)
    elif current is None:
        add(changes, backend, name, address, port, weight, check, keywords)
    else:
        updates(changes, current, address, port, weight, check)
    predicted = dict(backend=backend, name=name, address=address, port=port, admin_state='ready',
                     weight=weight if weight is not None else (current['weight'] if current else 1),
                     health_checks=check)
    return current, predicted, result


def slot_number(prefix, name):
    match = re.fullmatch(r'%s([0-9]+)' % re.escape(prefix), name)
    return int(match.group(1)) if match else None


def slots_of(api, backend, prefix):
    slots = [server for server in api.servers(backend) if slot_number(prefix, server['name']) is not None]
    if not slots:
        raise HAProxyError('Backend %s has no servers named %s<number>: declare them with a server-template line, '
                           'for example "server-template %s 1-10 unregistered.invalid:80 init-addr last,0.0.0.0 '
                           'disabled".' % (backend, prefix, prefix))
    return sorted(slots, key=lambda server: slot_number(prefix, server['name']))


# -- slot claims ------------------------------------------------------------------------------
#
# A slot is free when it is in maintenance and holds no address (0.0.0.0,
# what "init-addr last,0.0.0.0" gives a template slot, or ::). It is claimed
# with "set server addr", which HAProxy runs under the server's lock and
# answers with the address it replaced ("IP changed from 'OLD' to 'NEW'"):
# an atomic exchange. Whoever gets the free address back owns the slot.
# Whoever gets another address back took it from its owner, and hands it
# back the same way, exchanging in what it holds until it gets its own
# address back; every address is then held by exactly one party at a time,
# so the owner's address returns to the slot and nothing is lost or
# duplicated. The owner puts the slot in service only once it holds its
# address. Deregistering drains the slot, puts it in maintenance and
# exchanges the free address back in.

FREE_ADDRESS = '0.0.0.0'
FREE_ADDRESSES = (FREE_ADDRESS, '::', None)
# How many exchanges a claim or a hand-back may take, and how long the owner
# waits for a taken address to come back: each bound is far above what a
# burst of hundreds of claims needs (a hand-back is one or two exchanges).
CLAIM_ATTEMPTS = 50
HAND_BACK_EXCHANGES = 200
RETURN_TIMEOUT = 30.0
SWAP_ANSWER = re.compile(r"(?:IP changed from '([^' ]*)' to '[^' ]*'|no need to change the addr)"
                         r"(?:, (?:port changed from '([0-9]+)' to '[0-9]+'|no need to change the port))?")


def is_free(server):
    return server.maintenance and server['address'] in FREE_ADDRESSES


def exchange(changes, server, address, port):
    """Set SERVER's address and port; the (address, port) it held just before, as HAProxy reports it."""
    target = '%s/%s' % (server['backend'], server['name'])
    answer = changes.send(['set', 'server', target, 'addr', address, 'port', str(port)],
                          'IP changed', 'no need to change')
    match = SWAP_ANSWER.match(answer.strip())
    if not match:
        raise HAProxyError('Unexpected answer to "set server %s addr %s port %d": %s'
                           % (target, address, port, _first_line(answer)))
    old_address = address if match.group(1) is None else _state_address(match.group(1))
    old_port = port if match.group(2) is None else int(match.group(2))
    return old_address, old_port


def hand_back(changes, server, held, mine):
    """Exchange HELD (an address taken from SERVER's owner) back in until SERVER gives MINE back."""
    for _attempt in range(HAND_BACK_EXCHANGES):
        if held[0] == mine:
            return
        held = exchange(changes, server, held[0], held[1])
        if held[0] != mine:
            pause()
    raise HAProxyError('Could not hand slot %s/%s back to its owner: HAProxy kept answering with other '
                       'addresses (last %s).' % (server['backend'], server['name'], held[0]))


def pause():
    """A short random pause, so that hosts contending for slots do not keep meeting."""
    time.sleep(random.uniform(0.01, POLL_FIRST))


def wait_for_address(api, backend, name, address, timeout=RETURN_TIMEOUT):
    """The slot NAME once it holds ADDRESS: a host that took it by mistake hands it back within a few commands."""
    deadline = Deadline(timeout)
    while True:
        server = find(api.servers(backend), name)
        if server is None:
            raise HAProxyError('Slot %s/%s is gone from HAProxy.' % (backend, name))
        if server['address'] == address or deadline.expired():
            return server
        pause()


def own_slot(slots, address):
    """The slot that holds ADDRESS, preferring one in service; None when there is none."""
    mine = [server for server in slots if server['address'] == address]
    active = [server for server in mine if not server.maintenance]
    return (active or mine or [None])[0]


def free_slot(slots, address):
    free = [server for server in slots if is_free(server)]
    if not free:
        return None
    # Hosts start at different free slots, so most claims meet no one.
    start = zlib.crc32(address.encode('ascii')) % len(free)
    return free[start]


def full_error(slots, backend, prefix):
    stale = [server['name'] for server in slots if server.maintenance and server['address'] not in FREE_ADDRESSES]
    message = ('All %d slots (%s1 to %s%d) of backend %s are in use: add slots to its server-template line.'
               % (len(slots), prefix, prefix, len(slots), backend))
    if stale:
        message += (' %d of them (%s) are in maintenance but still hold an address, as an earlier release of the '
                    'collection left slots it freed; that host frees its slot when it registers or deregisters '
                    'again, or free one with "set server %s/SLOT addr %s".'
                    % (len(stale), ', '.join(stale), backend, FREE_ADDRESS))
    return HAProxyError(message)


def claim(changes, backend, prefix, address, port, slots):
    """Claim a free slot for ADDRESS:PORT (see above); the slot, holding ADDRESS, still in maintenance."""
    api = changes.api
    for _attempt in range(CLAIM_ATTEMPTS):
        chosen = free_slot(slots, address)
        if chosen is None:
            raise full_error(slots, backend, prefix)
        held = exchange(changes, chosen, address, port)
        if held[0] in FREE_ADDRESSES:
            claimed = wait_for_address(api, backend, chosen['name'], address)
            if claimed['address'] != address:
                raise HAProxyError('Slot %s/%s, claimed for %s, still holds %s after %d seconds: a host that took '
                                   'it did not hand it back.' % (backend, chosen['name'], address,
                                                                 claimed['address'], RETURN_TIMEOUT))
            return claimed
        hand_back(changes, chosen, held, address)
        pause()
        slots = slots_of(api, backend, prefix)
    raise HAProxyError('Other hosts kept taking the free slots of backend %s (%d attempts); try again.'
                       % (backend, CLAIM_ATTEMPTS))


def release(changes, server, address):
    """Give the slot SERVER (in maintenance, holding ADDRESS) its free address back."""
    held = exchange(changes, server, FREE_ADDRESS, server['port'])
    if held[0] != address:
        # Someone took the slot between our read and our exchange: hand it back.
        hand_back(changes, server, held, address)


def run_slot(params, changes):
    api = changes.api
    backend, prefix, address = params['backend'], params['slot_prefix'], params['address']
    slots = slots_of(api, backend, prefix)
    current = own_slot(slots, address)

    if params['state'] == 'absent':
        result = dict(sessions_closed=0)
        if current is None:
            return None, None, result
        if not current.maintenance:
            result['sessions_closed'] = take_out(changes, current, params['drain_timeout'],
                                                 params['shutdown_sessions'], delete=False)
        if changes.check_mode:
            changes.commands.append(command_line(['set', 'server', '%s/%s' % (backend, current['name']), 'addr',
                                                  FREE_ADDRESS, 'port', str(current['port'])]))
        else:
            release(changes, current, address)
        return current, dict(current.summary(), address=FREE_ADDRESS, admin_state='maint'), result

    port, weight, check = params['port'], params['weight'], params['check']
    chosen = current or free_slot(slots, address)
    if chosen is None:
        raise full_error(slots, backend, prefix)
    if check is not None and check and not chosen.check_configured:
        raise HAProxyError('Slot %s/%s has no health check configured: add "check" to the server-template line, '
                           'or leave the check option unset.' % (backend, chosen['name']))
    before = chosen
    if current is None and not changes.check_mode:
        chosen = claim(changes, backend, prefix, address, port, slots)
    updates(changes, chosen, address, port, weight, check)
    predicted = dict(chosen.summary(), address=address, port=port, admin_state='ready')
    if weight is not None:
        predicted['weight'] = weight
    if check is not None:
        predicted['health_checks'] = check
    return before, predicted, {}


def validate(params):
    """Raise HAProxyError for options the runtime API would refuse; normalises params['address'] in place."""
    check_name('backend', params['backend'])
    if params['mode'] == 'dynamic':
        if not params['name']:
            raise HAProxyError('name is required with mode=dynamic.')
        check_name('server', params['name'])
    else:
        check_name('slot prefix', params['slot_prefix'])
    if params['state'] == 'present' or params['mode'] == 'slot':
        if not params['address']:
            raise HAProxyError('address is required with state=%s%s.' % (
                params['state'], ' and mode=slot' if params['state'] == 'absent' else ''))
        params['address'] = normalize_address(params['address'])
    if params['state'] == 'present' and params['port'] is None:
        raise HAProxyError('port is required with state=present.')
    if params['port'] is not None and not 0 < params['port'] < 65536:
        raise HAProxyError('port must be between 1 and 65535; got %d.' % params['port'])
    if params['weight'] is not None and not 0 <= params['weight'] <= 256:
        raise HAProxyError('weight must be between 0 and 256; got %d.' % params['weight'])
    if params['drain_timeout'] < 0:
        raise HAProxyError('drain_timeout must not be negative.')
    if params['timeout'] <= 0:
        raise HAProxyError('timeout must be positive.')


def apply(api, params, check_mode=False):
    """What the haproxy_runtime_server module does with PARAMS (its options): the result."""
    validate(params)
    changes = Changes(api, check_mode)
    if params['mode'] == 'dynamic':
        before, predicted, extra = run_dynamic(params, changes)
        name = params['name']
    else:
        before, predicted, extra = run_slot(params, changes)
        name = (predicted or before or {}).get('name')

    changed = bool(changes.commands)
    if changed and not check_mode and name:
        if params['mode'] == 'slot' and params['state'] == 'present':
            after = wait_for_address(api, params['backend'], name, params['address'])
            if after['address'] != params['address']:
                raise HAProxyError('Slot %s/%s was taken by %s while this task set it; try again.'
                                   % (params['backend'], name, after['address']))
        else:
            after = find(api.servers(params['backend']), name)
        after = after.summary() if after is not None else None
    else:
        after = predicted if changed else (before.summary() if before is not None else None)
    before_summary = before.summary() if before is not None else None
    return dict(
        changed=changed,
        server=after,
        commands=changes.commands,
        diff=dict(before=before_summary or {}, after=after or {}),
        **extra
    )
