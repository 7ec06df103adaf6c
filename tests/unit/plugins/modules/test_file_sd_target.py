"""cloudmeta.imds.file_sd_target run in-process (the run_module harness) on files in tmp_path."""
import json
import os
import stat

import pytest

from servers.fixtures import run_module  # noqa: F401  pylint: disable=unused-import

from ansible_collections.cloudmeta.imds.plugins.modules import file_sd_target as module

LABELS = {'service': 'node', 'instance_id': 'i-0123456789abcdef0', 'team': 'payments'}


def test_writes_targets_and_labels_once_and_removes_them(run_module, tmp_path):
    path = tmp_path / 'sd' / 'node-i-0123456789abcdef0.json'
    args = dict(path=str(path), targets=['10.0.1.25:9100'], labels=LABELS, directory_mode='0750')

    check = run_module(module, _check_mode=True, **args)
    assert not check.failed, check.get('msg')
    assert check['changed'] is True and not (tmp_path / 'sd').exists()

    first = run_module(module, _diff=True, **args)
    assert not first.failed, first.get('msg')
    text = path.read_text()
    assert json.loads(text) == [{'targets': ['10.0.1.25:9100'], 'labels': LABELS}]
    assert text.startswith('[\n  {\n    "labels": {\n      "instance_id"') and text.endswith('\n]\n')
    assert (first['changed'], first['written'], first['content'], first['mode']) == (True, True, text, '0644')
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(str(tmp_path / 'sd')).st_mode) == 0o750
    assert first['diff'][-1] == dict(before_header=str(path), after_header=str(path), before='', after=text)

    assert run_module(module, **args)['changed'] is False
    assert run_module(module, _check_mode=True, **args)['changed'] is False

    moved = run_module(module, _diff=True, **dict(args, targets=['10.0.1.25:9200']))
    assert moved['changed'] is True and moved['diff'][0]['before'] == text
    assert json.loads(path.read_text())[0]['targets'] == ['10.0.1.25:9200']

    gone = run_module(module, _check_mode=True, path=str(path), state='absent')
    assert gone['changed'] is True and path.exists()
    gone = run_module(module, path=str(path), state='absent')
    assert (gone['changed'], gone['content'], gone['mode']) == (True, None, None) and not path.exists()
    assert run_module(module, path=str(path), state='absent')['changed'] is False
    assert os.listdir(str(tmp_path / 'sd')) == []


def test_content_is_written_as_given(run_module, tmp_path):
    path = tmp_path / 'app.json'
    content = '[{"targets": ["a:1"]}, {"targets": ["b:2"], "labels": {"job": "b"}}]\n'
    result = run_module(module, path=str(path), content=content, mode='u=rw,g=r,o=')
    assert not result.failed, result.get('msg')
    assert path.read_text() == content and stat.S_IMODE(os.stat(str(path)).st_mode) == 0o640
    assert result['mode'] == '0640'
    assert run_module(module, path=str(path), content=content, mode='0640')['changed'] is False


def test_a_symbolic_mode_changes_only_what_it_names(run_module, tmp_path):
    path = tmp_path / 'app.json'
    run_module(module, path=str(path), targets=['a:1'], mode='0600')
    result = run_module(module, _diff=True, path=str(path), targets=['a:1'], mode='g+r')
    assert (result['changed'], result['written'], result['mode']) == (True, False, '0640')
    assert result['diff'] == [dict(before_header=str(path), after_header=str(path), before={'mode': '0600'},
                                   after={'mode': '0640'})]


@pytest.mark.parametrize('args, message', [
    (dict(path='relative/node.json', targets=['a:1']), 'path must be the absolute path of a file'),
    (dict(targets=['a:1'], labels={'tier': 3}), 'labels["tier"] is 3; Prometheus label values are text: quote it ("3").'),
    (dict(targets=['a:1'], labels={'bad-name': 'x'}), 'labels has the label name "bad-name"; Prometheus label names'),
    (dict(targets=[]), 'targets is empty; give at least one host:port'),
    (dict(content='{}'), 'content holds dict; a file_sd file is a JSON list of target groups.'),
    (dict(targets=['a:1'], mode='rwx'), 'mode is "rwx"; it must be an octal mode in quotes, such as "0644", or a symbolic'),
    (dict(targets=['a:1'], owner='no-such-user-here'), 'owner "no-such-user-here" is not a user on this host'),
    (dict(), 'state is present but any of the following are missing: targets, content'),
    (dict(content='[]', targets=['a:1']), 'parameters are mutually exclusive: content|targets'),
    (dict(labels={'a': 'b'}, content='[]'), 'parameters are mutually exclusive: content|labels'),
])
def test_bad_arguments_fail_naming_the_value(run_module, tmp_path, args, message):
    args.setdefault('path', str(tmp_path / 'node.json'))
    result = run_module(module, **args)
    assert result.failed and message in result['msg'], result['msg']
    assert os.listdir(str(tmp_path)) == []


def test_a_missing_directory_without_directory_mode_fails_saying_what_to_do(run_module, tmp_path):
    path = tmp_path / 'mnt' / 'node.json'
    result = run_module(module, path=str(path), targets=['a:1'])
    assert result.failed and result['path'] == str(path)
    assert result['msg'] == ('The directory %s of %s does not exist; create (or mount) it, or set directory_mode to '
                             'have it created.' % (tmp_path / 'mnt', path))
