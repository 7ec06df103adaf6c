# shellcheck shell=bash
# Shared by the scripts in tests/utils (sourced, not run): repository paths,
# the virtualenv on PATH, and uniform section headers and errors.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv=${VENV:-$root/.venv}
export PATH="$venv/bin:$PATH"

section() { printf '\n==== %s (%s) ====\n' "$*" "$(date -u +%H:%M:%S)"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need_venv() {
    [ -x "$venv/bin/python" ] || die "no virtualenv at $venv: run 'make venv' first"
}
