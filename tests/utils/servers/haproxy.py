"""HAProxy from the Debian package, on loopback, with the backends the tests register into.

Backends:
  app     balance roundrobin (takes dynamic servers), behind frontend port `app_port`
  static  balance static-rr (refuses dynamic servers)
  slots   balance static-rr with `server-template slot 1-N` (N = `slots`, default 3), behind frontend port
          `slots_port`;
          addresses survive a restart through the server state file (init-addr last)
Runtime API: `admin_socket` and `tcp_socket` (level admin), `operator_socket` (level operator).
"""

import os
import shutil
import socket
import tempfile

from servers.common import START_TIMEOUT, free_port, start, stop, wait_for

CONFIG = """\
global
    stats socket {admin_socket} mode 600 level admin
    stats socket {operator_socket} mode 600 level operator
    stats socket ipv4@127.0.0.1:{tcp_port} level admin
    server-state-file {state_file}

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    load-server-state-from-file global

frontend fe_app
    bind 127.0.0.1:{app_port}
    default_backend app

frontend fe_slots
    bind 127.0.0.1:{slots_port}
    default_backend slots

backend app
    balance roundrobin

backend static
    balance static-rr

backend slots
    balance static-rr
    server-template slot 1-{slots} unregistered.invalid:80 init-addr last,0.0.0.0 check inter 200ms rise 1 fall 1 disabled
"""


def binary():
    path = shutil.which('haproxy') or ('/usr/sbin/haproxy' if os.path.exists('/usr/sbin/haproxy') else None)
    if not path:
        raise RuntimeError('haproxy is not installed (Debian package haproxy; make test installs it)')
    return path


def runtime_command(address, command, timeout=30.0):
    """One runtime API command on a unix socket path or an (host, port) pair; HAProxy's answer."""
    family = socket.AF_INET if isinstance(address, tuple) else socket.AF_UNIX
    with socket.socket(family) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.sendall(command.encode() + b'\n')
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b''.join(chunks).decode()
            chunks.append(chunk)


# HAProxy refuses a unix socket path longer than this; pytest-xdist's
# per-worker temporary directories (.../popen-gw0/<test>/...) can reach it.
SOCKET_PATH_MAX = 97


class HAProxy:
    def __init__(self, workdir, ports=None, slots=3):
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        sockets = self.workdir
        if len(os.path.join(sockets, 'operator.sock')) > SOCKET_PATH_MAX:
            sockets = tempfile.mkdtemp(prefix='cloudmeta-haproxy-')
        ports = ports or {}
        self.settings = dict(
            admin_socket=os.path.join(sockets, 'admin.sock'),
            operator_socket=os.path.join(sockets, 'operator.sock'),
            state_file=os.path.join(self.workdir, 'server-state'),
            tcp_port=ports.get('tcp_port') or free_port(),
            app_port=ports.get('app_port') or free_port(),
            slots_port=ports.get('slots_port') or free_port(),
            slots=slots,
        )
        self.config_path = os.path.join(self.workdir, 'haproxy.cfg')
        self.log_path = os.path.join(self.workdir, 'haproxy.log')
        with open(self.config_path, 'w', encoding='utf-8') as handle:
            handle.write(CONFIG.format(**self.settings))
        self.proc = None

    def __getattr__(self, name):
        try:
            return self.__dict__['settings'][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def tcp_socket(self):
        return 'ipv4@127.0.0.1:%d' % self.tcp_port

    def start(self):
        for path in (self.admin_socket, self.operator_socket):
            if os.path.exists(path):
                os.unlink(path)
        self.proc = start([binary(), '-f', self.config_path, '-db'], self.log_path)
        wait_for(self._ready, START_TIMEOUT, 'haproxy', self.proc, self.log_path)
        return self

    def _ready(self):
        try:
            return runtime_command(self.admin_socket, 'show info', timeout=1).startswith('Name: HAProxy')
        except OSError:
            return False

    def stop(self):
        stop(self.proc)
        self.proc = None

    def command(self, command):
        return runtime_command(self.admin_socket, command)

    def servers(self, backend):
        """{name: {address, port, admin, op, check}} from "show servers state"."""
        lines = self.command('show servers state %s' % backend).splitlines()
        header = None
        result = {}
        for line in lines[1:]:
            if line.startswith('#'):
                header = line[1:].split()
            elif line.strip() and header:
                row = dict(zip(header, line.split()))
                result[row['srv_name']] = dict(address=row['srv_addr'], port=int(row['srv_port']),
                                               admin=int(row['srv_admin_state']), op=int(row['srv_op_state']),
                                               check=int(row['srv_check_state']), weight=int(row['srv_uweight']))
        return result

    def save_state(self):
        """What an ExecReload hook does before reloading: dump the state to the server state file."""
        with open(self.state_file, 'w', encoding='utf-8') as handle:
            handle.write(self.command('show servers state'))

    def restart(self):
        self.stop()
        return self.start()
