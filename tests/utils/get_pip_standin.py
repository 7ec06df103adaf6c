"""Offline stand-in for the get-pip script ansible-test downloads.

ansible-test bootstraps pip in each virtualenv it makes by running
https://ci-files.testing.ansible.com/ansible-test/get-pip-<ver>.py, a host this
project's machines cannot reach (ansible/ansible#77304). It uses a copy cached
at ~/.ansible/test/cache/get_pip_<ver>.py instead when one exists, so
tests/utils/run-sanity puts this script there.

Same contract as get-pip.py: the arguments are pip install arguments plus
get-pip's own --no-setuptools/--no-wheel, which pip install does not accept.
ensurepip runs in a subprocess because it sets PIP_CONFIG_FILE=/dev/null in
its own environment, which would hide /etc/pip.conf (and its CA bundle) from
the pip install that follows.
"""
# cloudmeta.imds get-pip stand-in (tests/utils/run-sanity replaces files with this marker)
import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel")


def main():
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    return subprocess.call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    sys.exit(main())
