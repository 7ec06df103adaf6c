#!/usr/bin/env bash
# make demo: see the collection work without EC2. Starts the offline IMDS
# emulator on 127.0.0.1, runs the cloudmeta.imds.bootstrap playbook against
# it with the file_sd backend, shows what was discovered and the registration
# file written, deregisters, and stops the emulator. Then a Spot interruption:
# registered again with the lifecycle agent running (docs/lifecycle.md), a
# Spot notice injected into the emulator, and the agent deregistering, with
# the times.
#
# Every request goes to the emulator: the endpoint is passed explicitly and
# also set in AWS_EC2_METADATA_SERVICE_ENDPOINT, so nothing can fall back to
# the real metadata address.
#
# Environment: VENV (default ./.venv) or PYTHON (an interpreter with
# ansible-core), DEMO_DIR (default ./.tmp/demo).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$root/.venv}
python=${PYTHON:-$venv/bin/python}
bindir=$(dirname "$python")
playbook_cmd=$bindir/ansible-playbook
[ -x "$playbook_cmd" ] || playbook_cmd=$(command -v ansible-playbook) || {
    echo "demo: ansible-playbook not found; run 'make venv' first" >&2; exit 1; }
demo_dir=${DEMO_DIR:-$root/.tmp/demo}
sd_dir=$demo_dir/file_sd

section() { printf '\n=== %s ===\n' "$*"; }

# An installed collection (ansible-galaxy collection install) is already at
# COLLECTIONS/ansible_collections/cloudmeta/imds; a checkout gets a link.
case $root in
    */ansible_collections/cloudmeta/imds) collections_dir=${root%/ansible_collections/cloudmeta/imds} ;;
    *) collections_dir=$(cd "$root/tests" && "$python" -c 'from collection_path import ensure_collection_link; print(ensure_collection_link())') ;;
esac

rm -rf "$sd_dir"
mkdir -p "$demo_dir"
log=$demo_dir/emulator.log
"$python" "$root/tools/imds_emulator.py" --host 127.0.0.1 --port 0 >"$log" 2>&1 &
emulator=$!
# The Spot act (below) adds a second emulator and the lifecycle agent.
spot_emulator=
agent_unit=cloudmeta-lifecycle@node.service
cleanup() {
    if [ -n "${FAKE_SYSTEMD_STATE_DIR:-}" ]; then
        PATH=$root/tests/utils/servers/fake-systemd:$PATH systemctl stop "$agent_unit" >/dev/null 2>&1 || true
    fi
    kill "$emulator" $spot_emulator 2>/dev/null || true
    wait "$emulator" $spot_emulator 2>/dev/null || true
}
trap cleanup EXIT

# emulator_url PID LOG: the address the emulator PID prints in LOG once it listens.
emulator_url() {
    local found
    for _ in $(seq 1 100); do
        found=$(grep -o 'http://[^ ]*' "$2" | head -n 1 || true)
        [ -n "$found" ] && { echo "$found"; return; }
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    echo "demo: the emulator did not start:" >&2
    cat "$2" >&2
    exit 1
}

url=$(emulator_url "$emulator" "$log")

export ANSIBLE_COLLECTIONS_PATH=$collections_dir
export AWS_EC2_METADATA_SERVICE_ENDPOINT=$url
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_RETRY_FILES_ENABLED=false ANSIBLE_DISPLAY_SKIPPED_HOSTS=false

run_bootstrap() {
    "$playbook_cmd" -i localhost, -c local -e "ansible_python_interpreter=$python" \
        cloudmeta.imds.bootstrap \
        -e "register_instance_imds_endpoint=$url" \
        -e register_instance_backend=file_sd \
        -e register_instance_service_name=node \
        -e register_instance_port=9100 \
        -e "register_instance_file_sd_dir=$sd_dir" \
        -e '{"register_instance_labels": {"env": "demo"}}' \
        "$@"
}

section "IMDS emulator serving a built-in instance at $url"

section "Register: ansible-playbook cloudmeta.imds.bootstrap (file_sd backend)"
run_bootstrap

section "What was discovered and registered"
registration=$(ls "$sd_dir"/*.json)
"$python" - "$registration" <<'PY'
import json
import sys

with open(sys.argv[1]) as f:
    group = json.load(f)[0]
labels = group["labels"]
for label in ("instance_id", "region", "availability_zone", "availability_zone_id", "vpc_id", "subnet_id"):
    print("  %-21s %s" % (label, labels.get(label)))
print("  %-21s %s" % ("target (IP:port)", ", ".join(group["targets"])))
PY

section "Registration file $registration"
cat "$registration"

section "Run again: nothing to change (changed=0)"
run_bootstrap | tail -n 3

section "Deregister: -e register_instance_state=absent"
run_bootstrap -e register_instance_state=absent | tail -n 3
if ls "$sd_dir"/*.json >/dev/null 2>&1; then
    echo "demo: the registration file is still there" >&2
    exit 1
fi
echo "The registration file is gone; $sd_dir is empty."

# -- A Spot interruption -------------------------------------------------------
# A second emulator serves a Spot instance (tools/examples/local-zone-instance.json).
# There is no systemd to run the agent's unit here: the collection's stand-in
# systemctl (tests/utils/servers/fake-systemd, the one the tests use) runs the
# unit's ExecStart in the background. Everything goes under $demo_dir.
spot_log=$demo_dir/emulator-spot.log
"$python" "$root/tools/imds_emulator.py" --host 127.0.0.1 --port 0 \
    --data "$root/tools/examples/local-zone-instance.json" >"$spot_log" 2>&1 &
spot_emulator=$!
systemd_dir=$demo_dir/systemd
rm -rf "$systemd_dir" "${demo_dir:?}/lifecycle" "${demo_dir:?}/lifecycle-state" "${demo_dir:?}/lib"
export FAKE_SYSTEMD_STATE_DIR=$systemd_dir FAKE_SYSTEMD_UNIT_DIR=$systemd_dir/units
mkdir -p "$FAKE_SYSTEMD_UNIT_DIR"

url=$(emulator_url "$spot_emulator" "$spot_log")
export AWS_EC2_METADATA_SERVICE_ENDPOINT=$url

run_with_agent() {
    PATH=$root/tests/utils/servers/fake-systemd:$PATH run_bootstrap \
        -e register_instance_lifecycle_agent=true \
        -e register_instance_lifecycle_poll_interval=1 \
        -e "register_instance_lifecycle_python=$python" \
        -e "register_instance_lifecycle_unit_dir=$FAKE_SYSTEMD_UNIT_DIR" \
        -e "register_instance_lifecycle_config_dir=$demo_dir/lifecycle" \
        -e "register_instance_lifecycle_state_dir=$demo_dir/lifecycle-state" \
        -e "register_instance_library_dir=$demo_dir/lib/cloudmeta-imds" \
        "$@"
}

section "Spot: a Spot instance at $url, registered with the lifecycle agent running"
run_with_agent | tail -n 3
registration=$(ls "$sd_dir"/*.json)
agent_log=$systemd_dir/$agent_unit.log
for _ in $(seq 1 300); do
    grep -q 'register: done' "$agent_log" 2>/dev/null && break
    sleep 0.1
done
echo "Registered: $registration"
sed 's/^/  agent | /' "$agent_log"

section "Spot: interruption notice injected (terminate in two minutes)"
"$python" - "$url" "$registration" "$agent_log" <<'PY'
import json
import os
import sys
import time
import urllib.request

url, registration, agent_log = sys.argv[1:]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
request = urllib.request.Request(url + '/_emulator/config', method='POST', headers={'Content-Type': 'application/json'},
                                 data=json.dumps({'spot_action': 'terminate', 'spot_action_after': 0}).encode())
opener.open(request, timeout=5).read()
injected = time.monotonic()
print('  %s  notice in spot/instance-action' % time.strftime('%H:%M:%S'))
while os.path.exists(registration) and time.monotonic() - injected < 60:
    time.sleep(0.02)
if os.path.exists(registration):
    sys.exit('demo: the agent did not deregister within 60 s')
print('  %s  registration file gone, %.2f s after the notice (the agent polls every 1 s)'
      % (time.strftime('%H:%M:%S'), time.monotonic() - injected))
while 'deregister (' not in open(agent_log).read() and time.monotonic() - injected < 60:
    time.sleep(0.02)
PY
sed 's/^/  agent | /' "$agent_log"

section "Spot: the role removes the agent (-e register_instance_state=absent)"
run_with_agent -e register_instance_state=absent | tail -n 3
