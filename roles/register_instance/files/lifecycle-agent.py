# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Installed by the cloudmeta.imds.register_instance role; changes are overwritten.
"""The lifecycle agent: registered exactly while the instance can serve, deregistered before it goes.

    python3 -I LIB_DIR/cloudmeta-lifecycle.pyz CONFIG.json

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
with this file as the package cloudmeta_imds in one zip application, where
this file is __main__.py (docs/architecture.md, "Code that runs on the
instance"). Python puts the archive first on sys.path, with -I too, so the
package is found there and nowhere else; zipimport writes no bytecode.
Standard library only, plus boto3 for the AWS backends and the lifecycle hook.
"""

import sys

from cloudmeta_imds._lifecycle.program import main

if __name__ == '__main__':
    sys.exit(main(sys.argv))
