#!/usr/bin/env python
"""Run a command and write the peak RSS of that command alone, in KiB, to a file.

    peak_rss.py REPORT COMMAND [ARG...]

Exits with the command's exit code (128 + N when signal N ended it).

Why a launcher: Linux counts, in a child's ru_maxrss, the resident size of
the process it was forked from (the forked copy's pages count until exec
replaces them). A child forked straight from a pytest worker that has
imported boto3 and moto reports that worker's hundred-odd MB, whatever the
child itself uses. This small process forks the command instead, so
wait4 sees the command's own peak.
"""

import os
import sys


def main(argv):
    report, command = argv[1], argv[2:]
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    _pid, status, usage = os.wait4(pid, 0)
    with open(report, 'w', encoding='ascii') as handle:
        handle.write('%d\n' % usage.ru_maxrss)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == '__main__':
    sys.exit(main(sys.argv))
