# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interface may change at any time without notice.

"""The lifecycle agent's metrics, in the Prometheus text format for node_exporter's textfile collector.

prometheus_client's write_to_textfile does the same, but the agent runs on
the instance with the standard library only, and it needs a handful of
gauges and counters, so the format (exposition format 0.0.4) is written here.
The file is replaced atomically, as the textfile collector asks.
"""

from __future__ import annotations

import math
import re

from .._common.files import replace_file

_NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')
_LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')


class Metric:
    """One metric family: NAME, KIND ('gauge' or 'counter'), HELP text, and samples by label set."""

    def __init__(self, name, kind, help_text):
        if not _NAME.fullmatch(name) or kind not in ('gauge', 'counter'):
            raise ValueError('invalid metric %r of kind %r' % (name, kind))
        self.name, self.kind, self.help_text = name, kind, help_text
        self.samples = {}

    def set(self, value, **labels):
        self.samples[_label_key(labels)] = float(value)

    def inc(self, amount=1, **labels):
        key = _label_key(labels)
        self.samples[key] = self.samples.get(key, 0.0) + amount

    def render(self):
        lines = ['# HELP %s %s' % (self.name, self.help_text.replace('\\', r'\\').replace('\n', r'\n')),
                 '# TYPE %s %s' % (self.name, self.kind)]
        for key in sorted(self.samples):
            labels = ','.join('%s="%s"' % (name, _escape(value)) for name, value in key)
            lines.append('%s%s %s' % (self.name, '{%s}' % labels if labels else '', _number(self.samples[key])))
        return '\n'.join(lines) + '\n'


def render(metrics):
    return ''.join(metric.render() for metric in metrics)


def write_textfile(path, metrics):
    """Replace PATH with METRICS; node_exporter only reads files ending in .prom."""
    if not path.endswith('.prom'):
        raise ValueError('The metrics file %r must end in .prom for the textfile collector to read it.' % path)
    # Readable by node_exporter, which runs as its own user.
    replace_file(path, render(metrics), mode=0o644)


def _label_key(labels):
    for name in labels:
        if not _LABEL.fullmatch(name) or name.startswith('__'):
            raise ValueError('invalid label name %r' % name)
    return tuple(sorted((name, str(value)) for name, value in labels.items()))


def _escape(value):
    return value.replace('\\', r'\\').replace('"', r'\"').replace('\n', r'\n')


def _number(value):
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return '+Inf' if value > 0 else '-Inf'
    return repr(int(value)) if value.is_integer() and abs(value) < 2 ** 53 else repr(value)
