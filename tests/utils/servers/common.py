"""Process and port helpers shared by the server wrappers."""

import os
import signal
import socket
import subprocess
import time


def in_imds_netns():
    """True only inside tests/utils/imds-netns: the variable it sets, and a namespace holding loopback alone.

    /proc/self/net/dev lists the interfaces of this process's own network
    namespace; with nothing but lo, 169.254.169.254 can only be the emulator.
    """
    if os.environ.get('IMDS_NETNS_INSIDE') != '1':
        return False
    with open('/proc/self/net/dev', encoding='ascii') as handle:
        interfaces = {line.split(':', 1)[0].strip() for line in handle if ':' in line}
    return interfaces == {'lo'}


def wait_while(running, ttl, probe_netns):
    """Wait while running() holds; return True when the lab's processes should now be stopped.

    That is after TTL seconds or, with PROBE_NETNS, once the emulator at
    169.254.169.254:80 stops answering: inside tests/utils/imds-netns it lives
    exactly as long as the run, so nobody is left to call `down`. Returns
    False as soon as running() is false.
    """
    deadline = time.monotonic() + ttl
    misses = 0
    while time.monotonic() < deadline:
        if not running():
            return False
        if probe_netns:
            try:
                socket.create_connection(('169.254.169.254', 80), timeout=1).close()
                misses = 0
            except OSError:
                misses += 1
                if misses >= 3:
                    return True
        time.sleep(2)
    return True


def alive(pid):
    """True while process PID exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def terminate(pid):
    """Ask process PID to stop; one already gone is fine."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def free_port(host='127.0.0.1'):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# How long a server may take to start: generous, because a busy 2-core
# machine can take tens of seconds, and waiting ends as soon as it is up.
START_TIMEOUT = 120.0


def wait_for(predicate, timeout, what, proc=None, log_path=None):
    """Poll PREDICATE until true; raise RuntimeError naming WHAT (with the log) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    log = ''
    if log_path and os.path.exists(log_path):
        with open(log_path, encoding='utf-8', errors='replace') as handle:
            log = handle.read()[-3000:]
    exited = '' if proc is None or proc.poll() is None else ' (exited with %s)' % proc.returncode
    raise RuntimeError('%s did not come up%s\n%s' % (what, exited, log))


def port_open(port, host='127.0.0.1'):
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def start(argv, log_path, env=None):
    with open(log_path, 'ab') as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)


def stop(proc, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
