"""The cloudmeta.imds.instance_library action through ansible-playbook: copy's behaviour, and its own refusals.

One play on localhost (no network: the action builds on the controller and
copy writes locally): check mode writes nothing, the first run creates the
missing directories with directory_mode and the archive with mode, a second
run changes nothing, and each bad argument fails naming the value. The
archive's contents and determinism are tested with the builder
(tests/unit/plugins/plugin_utils/test_instance_library.py).
"""
import json
import os
import stat
import subprocess
import sys

from collection_path import REPO_ROOT
from playbook_runner import BIN_DIR, playbook_env

LIST = os.path.join(REPO_ROOT, "roles", "register_instance", "files", "instance-library.yml")

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    archive: %(dest)s
  tasks:
    - name: In check mode
      cloudmeta.imds.instance_library: {src: %(list)s, dest: "{{ archive }}", mode: "0640", directory_mode: "0750"}
      check_mode: true
      register: check
    - name: Nothing written in check mode
      ansible.builtin.stat: {path: "{{ archive | dirname }}"}
      register: after_check
    - name: For real
      cloudmeta.imds.instance_library: {src: %(list)s, dest: "{{ archive }}", mode: "0640", directory_mode: "0750"}
      register: first
    - name: Again
      cloudmeta.imds.instance_library: {src: %(list)s, dest: "{{ archive }}", mode: "0640", directory_mode: "0750"}
      register: second
    - name: A relative dest
      cloudmeta.imds.instance_library: {src: %(list)s, dest: relative.pyz}
      register: relative
      ignore_errors: true
    - name: mode preserve
      cloudmeta.imds.instance_library: {src: %(list)s, dest: "{{ archive }}", mode: preserve}
      register: preserve
      ignore_errors: true
    - name: An option copy has but the action does not
      cloudmeta.imds.instance_library: {src: %(list)s, dest: "{{ archive }}", content: x}
      register: content
      ignore_errors: true
    - name: A bad list
      cloudmeta.imds.instance_library: {src: %(bad)s, dest: "{{ archive }}"}
      register: bad
      ignore_errors: true
    - name: Save what each run said
      ansible.builtin.copy:
        dest: %(out)s
        content: "{{ {'check': check, 'after_check': after_check.stat.exists, 'first': first, 'second': second,
                      'relative': relative, 'preserve': preserve, 'content': content, 'bad': bad} | to_json }}"
        mode: "0600"
"""


def test_check_mode_first_and_second_run_and_bad_arguments(tmp_path):
    dest = tmp_path / "lib" / "deeper" / "agent.pyz"
    bad = tmp_path / "bad.yml"
    bad.write_text("modules: [../escape.py]\nmain: lifecycle-agent.py\n")
    out = tmp_path / "out.json"
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY % {"list": json.dumps(LIST), "dest": json.dumps(str(dest)), "bad": json.dumps(str(bad)),
                                "out": json.dumps(str(out))})
    result = subprocess.run([os.path.join(BIN_DIR, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                             "-e", "ansible_python_interpreter=" + sys.executable, str(playbook)],
                            env=playbook_env(), capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    said = json.loads(out.read_text())

    assert said["check"]["changed"] and not said["after_check"]
    assert said["first"]["changed"] and said["first"]["dest"] == str(dest) and "src" not in said["first"]
    assert not said["second"]["changed"] and said["second"]["checksum"] == said["first"]["checksum"]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert [stat.S_IMODE(d.stat().st_mode) for d in (dest.parent, dest.parent.parent)] == [0o750, 0o750]
    assert sorted(os.listdir(dest.parent)) == ["agent.pyz"]

    assert said["relative"]["msg"].startswith("dest is 'relative.pyz': give the absolute path of the archive file")
    assert said["preserve"]["msg"].startswith('mode is "preserve", which means nothing for an archive')
    assert said["content"]["msg"] == "Invalid options for cloudmeta.imds.instance_library: content"
    assert said["bad"]["msg"].startswith("%s: modules[0] is '../escape.py'" % bad)
