# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Installed by the cloudmeta.imds.register_instance role; changes are overwritten.
"""The lifecycle agent: registered exactly while the instance can serve, deregistered before it goes.

    python3 -I LIB_DIR/lifecycle-agent.py CONFIG.json

CONFIG is the JSON file the role writes (mode 0600); its schema is the
docstring of the collection's plugins/module_utils/_lifecycle/config.py.
The agent registers (or verifies the registration) at start, watches IMDS
for Spot, Auto Scaling, maintenance and (opt-in) rebalance notices,
deregisters when one is due, and deregisters on SIGTERM or SIGINT within
the configured stop budget. It logs one line per decision on stdout.

Exit status: 0 after a stop request; 2 for a configuration it cannot use
(or a wrong command line); anything else is a crash.

All of it is the collection's plugins/module_utils/_lifecycle/ (and the
backend code the modules run, _registration/), which the role installs
beside this file as the package cloudmeta_imds (docs/architecture.md,
"Code that runs on the instance"). Standard library only, plus boto3 for
the AWS backends and the lifecycle hook.
"""

import os
import sys

# The role installs the package beside this file (it may be reached through
# a symbolic link). `python -I` leaves the script's directory off sys.path,
# so it is added here; no bytecode is written into the installed tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from cloudmeta_imds._lifecycle.program import main  # noqa: E402  pylint: disable=wrong-import-position

if __name__ == '__main__':
    sys.exit(main(sys.argv))
