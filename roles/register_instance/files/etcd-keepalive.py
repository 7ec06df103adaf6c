# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Installed by the cloudmeta.imds.register_instance role (etcd backend); changes are overwritten.
"""Keep an etcd registration alive: renew its lease, and register again when it was lost.

    python3 -I LIB_DIR/etcd-keepalive CONFIG.json

CONFIG (written by the role, mode 0600: it may hold the etcd password):
  url, keys {key: value}, lease_ttl, and optionally username, password,
  ca_path, client_cert, client_key, validate_certs, use_proxy, timeout.

Every lease_ttl/3 seconds it reads the keys. When they hold the configured
values on one live lease of lease_ttl seconds it renews that lease
(POST /v3/lease/keepalive); otherwise, for example after etcd was
unreachable for longer than the TTL, it writes the keys again (on a new
lease when the old one is gone) and revokes the old lease when nothing else
uses it. Stopping it never deletes anything: the keys expire lease_ttl
seconds later, or the role deletes them (state absent).

Any failure, including an answer etcd would never give, is logged in one
line and retried with exponential backoff and jitter, at most RETRY_MAX
seconds apart, so the program never exits on it (and systemd never
restarts it in a loop).

The etcd client, the value encoding and the renew-or-register decision are
the collection's plugins/module_utils/_registration/etcd.py, the very code
the etcd_keys module runs; the role installs it beside this file as the
package cloudmeta_imds (docs/architecture.md, "Code that runs on the
instance"). Python standard library only.
"""

import json
import os
import signal
import sys
import threading

# The role installs the package beside this file (it may be reached through
# a symbolic link). `python -I` leaves the script's directory off sys.path,
# so it is added here; no bytecode is written into the installed tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from cloudmeta_imds._common.backoff import EQUAL, Backoff  # noqa: E402  pylint: disable=wrong-import-position
from cloudmeta_imds._registration.etcd import (  # noqa: E402  pylint: disable=wrong-import-position
    EtcdClient,
    EtcdError,
    check_keys,
    check_lease_ttl,
    keep_alive,
)

STOP = threading.Event()
# Backoff after a failure: RETRY_MIN seconds, doubling, at most RETRY_MAX.
RETRY_MIN = 1.0
RETRY_MAX = 30.0
# Equal jitter: never less than half the step, so a failing etcd is not hammered.
RETRY = Backoff(RETRY_MIN, RETRY_MAX, jitter=EQUAL)


def log(message):
    sys.stderr.write(message + '\n')
    sys.stderr.flush()


def backoff(failures):
    """Seconds to wait after FAILURES failures in a row: doubling from RETRY_MIN, capped, with jitter."""
    return RETRY.delay(failures)


def load(path):
    """(client, keys, lease TTL) from the configuration file at PATH; raises EtcdError when it is unusable."""
    with open(path, encoding='utf-8') as handle:
        config = json.load(handle)
    keys = config.get('keys') or {}
    check_keys(keys, need_values=True)
    if config.get('lease_ttl') is None:
        raise EtcdError('%s sets no lease_ttl: there is no lease to keep alive.' % path)
    ttl = int(config['lease_ttl'])
    check_lease_ttl(ttl)
    return EtcdClient.from_params(config), keys, ttl


def main(argv):
    if len(argv) != 2:
        log('usage: %s CONFIG.json' % argv[0])
        return 2
    try:
        client, keys, ttl = load(argv[1])
    except (EtcdError, OSError, ValueError) as exc:
        log('cannot use %s: %s' % (argv[1], getattr(exc, 'message', exc)))
        return 2
    interval = max(1.0, ttl / 3.0)
    signal.signal(signal.SIGTERM, lambda *_args: STOP.set())
    signal.signal(signal.SIGINT, lambda *_args: STOP.set())
    log('keeping %d key(s) alive at %s with a %d s lease' % (len(keys), client.url, ttl))
    last = lease = None
    failures = 0
    while not STOP.is_set():
        try:
            outcome, lease = keep_alive(client, keys, ttl, lease)
            failures = 0
            wait = interval
        except Exception as exc:  # pylint: disable=broad-except
            # Whatever went wrong, exiting would only make systemd start it
            # again at once; waiting longer each time is kinder to etcd.
            failures += 1
            wait = backoff(failures)
            detail = exc.message if isinstance(exc, EtcdError) else 'unexpected %s: %s' % (type(exc).__name__, exc)
            outcome = 'etcd error, retrying in %.1f s (failure %d in a row): %s' % (wait, failures, detail)
        if outcome != last or outcome != 'renewed':
            log(outcome)
        last = outcome
        STOP.wait(wait)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
