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

# The real interpreter of Python 3.MINOR, not a pyenv shim (shims answer for
# every version but run only the selected ones): prints its path or fails.
find_python() {
    local minor=$1 candidate
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3."$minor".*/bin/python3."$minor" \
                     /usr/local/bin/python3."$minor" /usr/bin/python3."$minor"; do
        if [ -x "$candidate" ] && "$candidate" -c 'import venv' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# One line of tests/utils/compat-releases: "RELEASE CONTROLLER TARGET".
compat_release() {
    local line
    line=$(grep -E "^$1 " "$root/tests/utils/compat-releases") \
        || die "ansible-core $1 is not in tests/utils/compat-releases"
    echo "$line"
}
compat_all_releases() { grep -E '^[0-9]' "$root/tests/utils/compat-releases" | cut -d' ' -f1; }
