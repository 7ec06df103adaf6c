"""Sphinx extension for the offline docs build (tests/utils/build-docs).

antsibull-docs links other collections and Ansible's reference through
intersphinx, whose inventories live on docs.ansible.com, which the build
machines cannot reach. This resolves exactly those references (labels of
other collections' plugins, Ansible's reference appendices, ANSIBLE_*
variables) to their docs.ansible.com address; every other unresolved
reference, including any to this collection, stays a warning and fails the
-W build.

It also points the guides' links to the reference at its pages on the site:
on GitHub, a guide links a plugin's source file (its DOCUMENTATION is the
reference), for example ../plugins/modules/metadata_facts.py; on the site
that link goes to the page antsibull-docs rendered from it.
"""
import re

from docutils import nodes

ANSIBLE_DOCS = 'https://docs.ansible.com/ansible/latest/'
# A plugin's page, or one of its options on it (..._module__parameter-src).
OTHER_PLUGIN = re.compile(r'^ansible_collections\.(?!cloudmeta\.imds\.)(\w+)\.(\w+)\.(\w+?)_'
                          r'(module|lookup|filter|test|callback|connection|inventory|become|cache|vars|strategy|shell)'
                          r'(?:__([\w-]+))?$')
APPENDICES = {
    # antsibull-docs notes "This module has a corresponding action plugin" with this label.
    'action_plugins': 'plugins/action.html',
    'common_return_values': 'reference_appendices/common_return_values.html',
    'ansible_configuration_settings': 'reference_appendices/config.html',
}


def _url(node):
    target = node.get('reftarget', '')
    if node.get('reftype') == 'envvar' and target.startswith('ANSIBLE_'):
        return ANSIBLE_DOCS + 'reference_appendices/config.html#envvar-' + target
    if node.get('reftype') != 'ref':
        return None
    match = OTHER_PLUGIN.match(target)
    if match:
        namespace, collection, plugin, kind, anchor = match.groups()
        page = '%scollections/%s/%s/%s_%s.html' % (ANSIBLE_DOCS, namespace, collection, plugin, kind)
        return page + ('#' + anchor if anchor else '')
    if target in APPENDICES:
        return ANSIBLE_DOCS + APPENDICES[target]
    return None


def resolve(app, env, node, contnode):
    url = _url(node)
    if url is None:
        return None
    reference = nodes.reference('', '', internal=False, refuri=url)
    reference += contnode if contnode is not None else nodes.Text(node.get('reftarget'))
    return reference


# A guide's link to a plugin or role documentation file -> its reference page (docs/docsite/guide_tables.py
# renders the tables; these are the links).
REFERENCE_LINK = re.compile(
    r'\]\(\.\./(?:plugins/(?P<dir>modules|lookup|filter)/(?P<plugin>\w+)\.py'
    r'|roles/(?P<role>\w+)/meta/argument_specs\.yml)(?P<anchor>#[^)]*)?\)')
PAGE_KINDS = {'modules': 'module', 'lookup': 'lookup', 'filter': 'filter'}


def reference_page(match):
    if match.group('role'):
        page = '%s_role' % match.group('role')
    else:
        page = '%s_%s' % (match.group('plugin'), PAGE_KINDS[match.group('dir')])
    return '](../collections/cloudmeta/imds/%s.rst%s)' % (page, match.group('anchor') or '')


def link_reference_pages(app, docname, source):
    if docname.startswith('guides/'):
        source[0] = REFERENCE_LINK.sub(reference_page, source[0])


def setup(app):
    app.connect('missing-reference', resolve)
    app.connect('source-read', link_reference_pages)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
