"""The lifecycle agent's systemd unit and drop-in, rendered from the role's own templates and variables, verified.

ansible-playbook renders templates/cloudmeta-lifecycle@.service.j2 and
templates/cloudmeta-lifecycle-registration.conf.j2 with the role's defaults
and vars (as tasks/lifecycle_install.yml does) into a temporary unit directory, and
`systemd-analyze verify` loads the unit with its drop-in from there
(SYSTEMD_UNIT_PATH). systemd-analyze reports an unknown key or a bad value as
a message on stderr while still exiting 0, so the test also requires it to say
nothing about the unit. It needs no running systemd.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from collection_path import REPO_ROOT
from playbook_runner import BIN_DIR, run_in_netns

ROLE = os.path.join(REPO_ROOT, "roles", "register_instance")
UNIT = "cloudmeta-lifecycle@web.service"

RENDER = """
- hosts: localhost
  gather_facts: false
  vars_files: [%(role)s/defaults/main.yml, %(role)s/vars/main.yml]
  tasks:
    - name: Render the unit as the role does
      ansible.builtin.template:
        src: %(role)s/templates/cloudmeta-lifecycle@.service.j2
        dest: %(units)s/cloudmeta-lifecycle@.service
        mode: "0644"
    - name: Create the drop-in directory
      ansible.builtin.file:
        path: %(units)s/%(unit)s.d
        state: directory
        mode: "0755"
    - name: Render the registration's drop-in as the role does
      ansible.builtin.template:
        src: %(role)s/templates/cloudmeta-lifecycle-registration.conf.j2
        dest: %(units)s/%(unit)s.d/cloudmeta.conf
        mode: "0644"
"""


def render(tmp_path, **variables):
    units = tmp_path / "units"
    units.mkdir()
    playbook = tmp_path / "render.yml"
    playbook.write_text(RENDER % {"role": ROLE, "units": units, "unit": UNIT})
    extra = dict({"register_instance_service_name": "web", "register_instance_backend": "file_sd",
                  "register_instance_file_sd_dir": "/srv/prometheus/file_sd",
                  "register_instance_lifecycle_python": sys.executable,
                  "register_instance_lifecycle_metrics_dir": "/var/lib/node_exporter/textfile"}, **variables)
    (tmp_path / "vars.json").write_text(json.dumps(extra))
    result = run_in_netns([os.path.join(BIN_DIR, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=" + sys.executable, "-e", "@%s" % (tmp_path / "vars.json"),
                           str(playbook)])
    assert result.returncode == 0, result.stdout
    return units


def test_the_rendered_unit_and_drop_in_pass_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    units = render(tmp_path, register_instance_lifecycle_stop_budget=45)
    unit = (units / "cloudmeta-lifecycle@.service").read_text()
    dropin = (units / (UNIT + ".d") / "cloudmeta.conf").read_text()
    assert "ExecStart=%s -I /usr/local/lib/cloudmeta-imds/cloudmeta-lifecycle.pyz /etc/cloudmeta/lifecycle/%%i.json" % (
        sys.executable) in unit
    for line in ("Wants=network-online.target", "After=network-online.target", "Restart=on-failure",
                 "KillMode=mixed", "KillSignal=SIGTERM", "ProtectSystem=strict", "NoNewPrivileges=yes"):
        assert line in unit.splitlines(), line
    # Longer than the stop budget, so systemd never kills a deregistration it allowed.
    assert "TimeoutStopSec=75" in dropin.splitlines()
    assert ("ReadWritePaths=/var/lib/cloudmeta-lifecycle /srv/prometheus/file_sd /var/lib/node_exporter/textfile"
            in dropin.splitlines())

    verified = subprocess.run(["systemd-analyze", "verify", UNIT], capture_output=True, text=True, check=False,
                              env=dict(os.environ, SYSTEMD_UNIT_PATH="%s:" % units), timeout=120)
    assert verified.returncode == 0, verified.stderr
    assert "cloudmeta-lifecycle" not in verified.stderr, verified.stderr


def test_verify_reports_a_broken_unit_so_the_test_above_can_fail(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    units = render(tmp_path)
    path = units / "cloudmeta-lifecycle@.service"
    path.write_text(path.read_text().replace("KillMode=mixed", "KillMode=gently"))
    verified = subprocess.run(["systemd-analyze", "verify", UNIT], capture_output=True, text=True, check=False,
                              env=dict(os.environ, SYSTEMD_UNIT_PATH="%s:" % units), timeout=120)
    assert "cloudmeta-lifecycle" in verified.stderr and "kill mode" in verified.stderr, verified.stderr
