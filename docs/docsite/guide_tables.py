"""The reference tables in the guides (docs/*.md), rendered from the plugin documentation.

The plugin documentation (DOCUMENTATION with its doc fragments, RETURN, the
role's meta/argument_specs.yml) is the reference; a guide that needs a table
of options or facts gets it from there, between two comments:

    <!-- table: options module cloudmeta.imds.metadata_facts -->
    ...rendered here...
    <!-- end of table -->

Tables:
    options TYPE FQCN [prefix=P] [only=a,b] [skip=a,b]
        the options of a module, lookup or filter, or of a role's main entry point;
    return TYPE FQCN PATH [skip=a,b]
        the keys under a return value (dotted PATH, for example ansible_facts.ec2),
        nested dicts flattened into dotted keys, except the keys in skip.

    python docs/docsite/guide_tables.py          rewrite the tables of every guide
    python docs/docsite/guide_tables.py --check  fail when a guide's table differs

tests/unit/docs/test_guide_tables.py runs the check.
"""
import glob
import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTION = 'cloudmeta.imds'
PLUGIN_DIRS = {'module': 'modules', 'lookup': 'lookup', 'filter': 'filter'}
TABLE = re.compile(r'(<!-- table: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)(<!-- end of table -->)', re.S)


# --- loading the documentation ---------------------------------------------------

def plugin_doc(plugin_type, fqcn):
    """(DOCUMENTATION with fragments, RETURN) of one of this collection's plugins, or of a role's main entry point."""
    name = _own_name(fqcn)
    if plugin_type == 'role':
        with open(os.path.join(ROOT, 'roles', name, 'meta', 'argument_specs.yml')) as f:
            return yaml.safe_load(f)['argument_specs']['main'], {}
    from ansible.plugins.loader import fragment_loader
    from ansible.utils.plugin_docs import get_docstring

    path = os.path.join(ROOT, 'plugins', PLUGIN_DIRS[plugin_type], name + '.py')
    doc, _examples, returns, _metadata = get_docstring(path, fragment_loader, collection_name=COLLECTION,
                                                       plugin_type=plugin_type)
    return doc, returns or {}


def _own_name(fqcn):
    prefix = COLLECTION + '.'
    if not fqcn.startswith(prefix):
        raise ValueError('guide_tables: only %s plugins have tables here, not %s' % (COLLECTION, fqcn))
    return fqcn[len(prefix):]


# --- Ansible markup to Markdown ----------------------------------------------------

def markdown(text, plugin_type, fqcn):
    """One table cell from a description (a string or a list of paragraphs)."""
    from antsibull_docs_parser import dom
    from antsibull_docs_parser.parser import Context, parse

    paragraphs = text if isinstance(text, list) else [text]
    current = dom.PluginIdentifier(fqcn=fqcn, type=plugin_type)
    entrypoint = 'main' if plugin_type == 'role' else None
    parsed = parse(paragraphs, Context(current_plugin=current, role_entrypoint=entrypoint), errors='exception')
    return ' '.join(''.join(_part(part) for part in paragraph).strip() for paragraph in parsed).replace('|', '\\|')


def _part(part):
    from antsibull_docs_parser.dom import PartType

    kind = part.type
    if kind == PartType.TEXT:
        return part.text
    if kind in (PartType.CODE, PartType.ENV_VARIABLE):
        return _code(part.text if kind == PartType.CODE else part.name)
    if kind == PartType.OPTION_VALUE:
        return _code(part.value)
    if kind in (PartType.OPTION_NAME, PartType.RETURN_VALUE):
        return _code(part.name if part.value is None else '%s=%s' % (part.name, part.value))
    if kind == PartType.MODULE:
        return _code(part.fqcn)
    if kind == PartType.PLUGIN:
        return _code(part.plugin.fqcn)
    if kind == PartType.ITALIC:
        return '*%s*' % part.text
    if kind == PartType.BOLD:
        return '**%s**' % part.text
    if kind == PartType.URL:
        return '<%s>' % part.url
    if kind == PartType.LINK:
        return '[%s](%s)' % (part.text, part.url)
    if kind == PartType.RST_REF:
        return part.text
    if kind == PartType.HORIZONTAL_LINE:
        return ' '
    raise ValueError('guide_tables: cannot render %r' % (part,))


def _code(text):
    return '`%s`' % text


def _value(value):
    if isinstance(value, str):
        return _code(value)
    return _code(json.dumps(value))


def _type(spec):
    kind = spec.get('type', 'str')
    if kind == 'list' and spec.get('elements'):
        return 'list of %s' % spec['elements']
    return kind


# --- the tables ------------------------------------------------------------------

def options_table(plugin_type, fqcn, prefix='', only=(), skip=()):
    doc, _returns = plugin_doc(plugin_type, fqcn)
    # Lookup options can also come from variables and the environment.
    sources = plugin_type == 'lookup'
    if sources:
        rows = ['| option | variable | environment | type | default | what it does |',
                '| --- | --- | --- | --- | --- | --- |']
    else:
        rows = ['| %s | type | default | what it does |' % ('variable' if plugin_type == 'role' else 'option'),
                '| --- | --- | --- | --- |']
    options = doc.get('options', {}).items()
    # A role's argument spec is in reading order; plugin options are sorted, as on their reference pages.
    for name, spec in (options if plugin_type == 'role' else sorted(options)):
        if name.startswith('_') or not name.startswith(prefix) or (only and name not in only) or name in skip:
            continue
        text = markdown(spec.get('description', ''), plugin_type, fqcn)
        if spec.get('choices'):
            choices = spec['choices']
            choices = sorted(choices) if isinstance(choices, dict) else choices
            text += ' Choices: %s.' % ', '.join(_value(choice) for choice in choices)
        if spec.get('required'):
            text += ' Required.'
        default = _value(spec['default']) if spec.get('default') is not None else ''
        cells = [_code(name)]
        if sources:
            cells += [', '.join(_code(source['name']) for source in spec.get(key) or []) for key in ('vars', 'env')]
        cells += [_type(spec), default, text]
        rows.append('| %s |' % ' | '.join(cells))
    if len(rows) == 2:
        raise ValueError('guide_tables: no options of %s %s match' % (plugin_type, fqcn))
    return rows


def return_table(plugin_type, fqcn, path, skip=()):
    _doc, returns = plugin_doc(plugin_type, fqcn)
    node = {'contains': returns}
    for key in path.split('.'):
        node = node['contains'][key]
    rows = ['| key | type | value |', '| --- | --- | --- |']
    for name, spec in _flatten(node.get('contains', {}), '', skip):
        rows.append('| %s | %s | %s |' % (_code(name), _type(spec), markdown(spec.get('description', ''), plugin_type, fqcn)))
    return rows


def _flatten(contains, prefix, skip):
    for name, spec in contains.items():
        dotted = prefix + name
        if dotted in skip:
            continue
        if spec.get('type') == 'dict' and spec.get('contains'):
            yield from _flatten(spec['contains'], dotted + '.', skip)
        else:
            yield dotted, spec


def table(spec):
    """The rows of the table a marker's spec names."""
    words = spec.split()
    settings = dict(word.split('=', 1) for word in words if '=' in word)
    args = [word for word in words if '=' not in word]
    lists = dict((key, tuple(value.split(','))) for key, value in settings.items() if key in ('only', 'skip'))
    if args[0] == 'options' and len(args) == 3:
        return options_table(args[1], args[2], prefix=settings.get('prefix', ''), **lists)
    if args[0] == 'return' and len(args) == 4:
        return return_table(args[1], args[2], args[3], **lists)
    raise ValueError('guide_tables: cannot read the table spec %r' % spec)


def render(text):
    """TEXT with every table between markers rendered afresh."""
    def _replace(match):
        return match.group(1) + '\n'.join(table(match.group('spec'))) + '\n' + match.group(4)
    return TABLE.sub(_replace, text)


def guides():
    return sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md')))


def stale_guides():
    """The guides whose tables differ from the documentation: [(path, rendered text)]."""
    stale = []
    for path in guides():
        with open(path) as f:
            text = f.read()
        rendered = render(text)
        if rendered != text:
            stale.append((path, rendered))
    return stale


def _init_loader():
    sys.path.insert(0, os.path.join(ROOT, 'tests'))
    from collection_path import ensure_collection_link
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader([ensure_collection_link()])


def main(argv):
    _init_loader()
    stale = stale_guides()
    if '--check' in argv:
        for path, _rendered in stale:
            print('%s: a table differs from the plugin documentation; run python docs/docsite/guide_tables.py'
                  % os.path.relpath(path, ROOT))
        return 1 if stale else 0
    for path, rendered in stale:
        with open(path, 'w') as f:
            f.write(rendered)
        print('rewrote %s' % os.path.relpath(path, ROOT))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
