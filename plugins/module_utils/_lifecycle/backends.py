# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The lifecycle agent's backends: thin adapters over the one implementation of each in _registration/.

Each adapter has register(deadline) and deregister(deadline), which return a
short text of what was done, and raise BackendError for anything the backend
refused or could not do (the agent retries until the deadline); the etcd
adapter also has keepalive(deadline). No backend logic lives here: it is the
code the collection's modules run (file_sd_target, elbv2_target,
cloudmap_instance, haproxy_runtime_server, etcd_keys), called with the
deadline as its bound (file_sd, on the local disk, needs none).

Standard library only, except that the AWS adapters import boto3 (through
_aws/calls.py). Each adapter imports its backend's code when it is built, so
the agent holds in memory only the one it uses (and no boto3 without AWS).
"""

from __future__ import annotations

import time

from .agent import BackendError

# Left for the HAProxy commands after the drain: maint, shutdown sessions and
# "del server", which may retry for a few seconds (haproxy.DELETE_GRACE).
HAPROXY_AFTER_DRAIN = 8.0


def build(settings):
    """The adapter for the validated backend SETTINGS (config.BACKEND_FIELDS); raises BackendError."""
    return ADAPTERS[settings['type']](settings)


class FileSd:
    """One Prometheus file_sd file: the role's text written (atomically) and removed by the file_sd_target module's code."""

    def __init__(self, settings):
        from .._registration import file_sd  # pylint: disable=import-outside-toplevel

        self.file_sd = file_sd
        self.params = dict((name, settings[name]) for name in ('path', 'content', 'mode', 'owner', 'group'))
        # The role creates the directory; the agent never does (a missing one may be an unmounted share).
        self.params['directory_mode'] = None
        self.path = settings['path']

    def _apply(self, state):
        try:
            return self.file_sd.apply(dict(self.params, state=state))[0]
        except self.file_sd.MissingDirectoryError as exc:
            raise BackendError('The file_sd directory %s does not exist (the role creates it; is it mounted?).'
                               % exc.directory) from None
        except self.file_sd.FileSdError as exc:
            raise BackendError(exc.message) from None

    def register(self, deadline):
        result = self._apply('present')
        if result['written']:
            return 'wrote %s' % self.path
        if result['changed']:
            return 'set the mode or owner of %s' % self.path
        return 'already registered in %s' % self.path

    def deregister(self, deadline):
        if self._apply('absent')['changed']:
            return 'removed %s' % self.path
        return '%s was already gone' % self.path


class _Aws:
    """The AWS client of an adapter, made once on first use with the collection's one factory."""

    service = None

    def __init__(self, settings):
        self.settings = settings
        self._client = None

    def client(self):
        # Imported here: backends that are not AWS run without boto3.
        from .._aws import calls  # pylint: disable=import-outside-toplevel

        if not calls.HAS_BOTO3:
            raise BackendError('The %s backend needs boto3, which this Python cannot import: install python3-boto3 '
                               '(or pip install boto3) for the interpreter that runs the agent.' % self.service)
        if self._client is None:
            self._client = calls.client(self.service, self.settings['region'], self.settings['endpoint_url'])
        return self._client

    def run(self, what, action):
        from .._aws.calls import AwsError  # pylint: disable=import-outside-toplevel

        try:
            return action()
        except AwsError as exc:
            raise BackendError('%s: %s' % (what, exc.message)) from None


class Elbv2(_Aws):
    """One target of an ELBv2 target group; deregistering waits for draining within the deadline."""

    service = 'elbv2'

    def _apply(self, state, wait, deadline):
        from .._registration import elbv2  # pylint: disable=import-outside-toplevel

        settings = self.settings
        params = dict(target_group_arn=settings['target_group_arn'], target_id=settings['target_id'],
                      target_type=settings['target_type'], port=settings['port'], vpc_id=settings['vpc_id'],
                      region=settings['region'], state=state, wait=wait,
                      wait_timeout=max(0.0, deadline.remaining()))
        result = self.run('ELBv2 target group %s' % settings['target_group_arn'], lambda: elbv2.apply(
            elbv2.TargetGroupClient(self.client(), settings['target_group_arn']), params))
        target = '%s port %s' % (settings['target_id'], result['target']['port'])
        if state == 'present':
            return ('registered %s' if result['changed'] else '%s already registered') % target
        return '%s %s%s' % ('deregistered' if result['changed'] else 'already deregistered:', target,
                            ', drained' if wait else '')

    def register(self, deadline):
        return self._apply('present', False, deadline)

    def deregister(self, deadline):
        return self._apply('absent', self.settings['wait_drained'], deadline)


class CloudMap(_Aws):
    """One Cloud Map service instance; each change waits for its operation within the deadline."""

    service = 'servicediscovery'

    def _apply(self, state, deadline):
        from .._registration import cloudmap  # pylint: disable=import-outside-toplevel

        settings = self.settings
        params = dict(service_id=settings['service_id'], instance_id=settings['instance_id'],
                      attributes=settings['attributes'], state=state, wait=True,
                      wait_timeout=max(0.0, deadline.remaining()))
        result = self.run('Cloud Map service %s' % settings['service_id'], lambda: cloudmap.apply(
            cloudmap.ServiceClient(self.client(), settings['service_id']), params))
        done = 'registered' if state == 'present' else 'deregistered'
        return '%s %s in %s' % (done if result['changed'] else 'already ' + done, settings['instance_id'],
                                settings['service_id'])

    def register(self, deadline):
        return self._apply('present', deadline)

    def deregister(self, deadline):
        return self._apply('absent', deadline)


class HAProxy:
    """One server of an HAProxy backend: drain, wait for its sessions within the deadline, then remove or free the slot."""

    def __init__(self, settings):
        self.settings = settings

    def _apply(self, state, deadline):
        from .._registration import haproxy  # pylint: disable=import-outside-toplevel

        params = dict((name, value) for name, value in self.settings.items() if name not in ('type', 'socket'))
        params['state'] = state
        # The drain waits at most what the deadline leaves after the commands that follow it.
        params['drain_timeout'] = max(0.0, min(params['drain_timeout'], deadline.remaining() - HAPROXY_AFTER_DRAIN))
        timeout = max(0.1, min(params['timeout'], deadline.remaining()))
        params['timeout'] = timeout
        try:
            result = haproxy.apply(haproxy.RuntimeApi(self.settings['socket'], timeout=timeout), params)
        except haproxy.HAProxyError as exc:
            raise BackendError('HAProxy at %s: %s' % (self.settings['socket'], exc.message)) from None
        server = (result['server'] or {}).get('name') or params['name']
        where = '%s/%s' % (params['backend'], server)
        if state == 'present':
            return ('added %s' if result['changed'] else '%s already in service') % where
        if not result['changed']:
            return '%s already out of service' % where
        closed = result.get('sessions_closed') or 0
        return '%s %s%s' % ('removed' if params['mode'] == 'dynamic' else 'freed slot', where,
                            ' (closed %d session(s) left after draining)' % closed if closed else '')

    def register(self, deadline):
        return self._apply('present', deadline)

    def deregister(self, deadline):
        return self._apply('absent', deadline)


class Etcd:
    """Keys on a lease (or none): written at start, the lease renewed every third of its TTL, deleted and revoked at the end.

    This is the etcd keepalive program's job done by the agent, with the same
    renew-or-register decision (etcd.keep_alive in _registration/etcd.py): when etcd lost the keys
    (an outage longer than the TTL), they are written again.
    """

    def __init__(self, settings, clock=time.monotonic):
        from .._registration import etcd  # pylint: disable=import-outside-toplevel

        self.etcd = etcd
        self.keys = settings['keys']
        self.ttl = settings['lease_ttl']
        self.timeout = settings['timeout']
        self.clock = clock
        try:
            self.etcd.check_keys(self.keys, need_values=True)
            self.client = self.etcd.EtcdClient.from_params(settings)
        except self.etcd.EtcdError as exc:
            raise BackendError(exc.message) from None
        self.lease = None
        self.renew_at = 0.0

    def _run(self, deadline, action):
        # Each request gets at most what is left of the deadline.
        self.client.timeout = max(0.1, min(self.timeout, deadline.remaining()))
        try:
            return action()
        except self.etcd.EtcdError as exc:
            raise BackendError(exc.message) from None

    def _renewed(self):
        self.renew_at = self.clock() + max(1.0, self.ttl / 3.0) if self.ttl else float('inf')

    def register(self, deadline):
        def action():
            found = self.etcd.find(self.client, self.keys, self.ttl)
            if found.registered:
                self.lease = found.live_lease
                return True, '%d key(s) already registered%s' % (len(self.keys), self._on_lease())
            self.lease, _revoked = self.etcd.register(self.client, self.keys, self.ttl, found)
            return False, 'wrote %d key(s)%s' % (len(self.keys), self._on_lease())
        found_registered, outcome = self._run(deadline, action)
        if found_registered and self.ttl:
            # A lease found live was granted before this start (by the role, which starts the agent at the end of
            # its run, or by the agent before a restart) and may be near its end: renew it on the first tick.
            self.renew_at = 0.0
        else:
            self._renewed()
        return outcome

    def keepalive(self, deadline):
        """Renew the lease when a third of its TTL has passed; None when there was nothing to tell."""
        if not self.ttl or self.clock() < self.renew_at:
            return None
        outcome, self.lease = self._run(deadline, lambda: self.etcd.keep_alive(self.client, self.keys, self.ttl, self.lease))
        self._renewed()
        return None if outcome == 'renewed' else outcome

    def deregister(self, deadline):
        def action():
            existing, revoked = self.etcd.deregister(self.client, self.keys)
            if self.lease is not None and self.lease not in revoked and self.client.revoke(self.lease):
                revoked.append(self.lease)
            return existing, revoked
        existing, revoked = self._run(deadline, action)
        self.lease = None
        self.renew_at = float('inf')
        if not existing and not revoked:
            return '%d key(s) were already gone' % len(self.keys)
        return 'deleted %d key(s)%s' % (len(existing), ', revoked lease %s' % ', '.join(revoked) if revoked else '')

    def _on_lease(self):
        return ' on lease %s (%d s)' % (self.lease, self.ttl) if self.lease else ''


ADAPTERS = {'file_sd': FileSd, 'elbv2': Elbv2, 'cloudmap': CloudMap, 'haproxy': HAProxy, 'etcd': Etcd}
