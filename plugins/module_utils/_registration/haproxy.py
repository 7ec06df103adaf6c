# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the cloudmeta.imds
# collection and may not remain stable to outside uses. Changes may be made
# in ANY release, even a bugfix release.

"""HAProxy runtime API (stats socket) client and parsers, standard library only.

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
import re
import socket

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

    def execute(self, words):
        """Send the command WORDS (a list); return HAProxy's answer. Raises HAProxyError when the socket cannot be used.

        The one place that sends: every word is checked here, whoever built the command.
        """
        command = command_line(words)
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            try:
                sock.connect(self.address)
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
