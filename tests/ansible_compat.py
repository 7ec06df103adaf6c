"""Test helpers that ansible-core has only in newer releases, for the older ones.

The unit tests run on every supported ansible-core release (tests/utils/run-compat).
ansible-core 2.19 added ``ansible.module_utils.testing.patch_module_args``;
before it, tests set ``AnsibleModule``'s input the way ansible-core's own
tests did. Import from here, not from ansible, in code that runs on all
releases.
"""
import contextlib
import json
from unittest import mock

from ansible.module_utils import basic

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    @contextlib.contextmanager
    def patch_module_args(args=None):
        """Expose ARGS to the AnsibleModule instances created within this context."""
        payload = json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}).encode()
        with mock.patch.object(basic, '_ANSIBLE_ARGS', payload):
            yield


def run_as_managed_host(monkeypatch):
    """Make warnings go into the module's result, as on a managed host.

    ansible-core 2.19 sends them to the controller's display instead when the
    module runs inside a controller process (module_utils._internal); older
    releases always put them in the result.
    """
    try:
        from ansible.module_utils import _internal
    except ImportError:  # ansible-core < 2.18
        return
    if hasattr(_internal, 'is_controller'):  # 2.18 has the package, not the switch
        monkeypatch.setattr(_internal, 'is_controller', False)


__all__ = ['patch_module_args', 'run_as_managed_host']
