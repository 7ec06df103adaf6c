"""The file_sd backend's code on files in tmp_path: rendering, comparing, atomic writes, removal, directories, modes."""
import json
import os
import stat

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.plugins.filter.core import to_nice_json

from ansible_collections.cloudmeta.imds.plugins.module_utils._registration import file_sd

GROUP = {'targets': ['10.0.1.25:9100'],
         'labels': {'service': 'node', 'team': 'équipe', 'instance_id': 'i-0123456789abcdef0', '__scheme__': 'https'}}
# Ansible's own parser, as the module passes it.
SYMBOLIC = AnsibleModule._symbolic_mode_to_octal  # pylint: disable=protected-access


def params(path, **changes):
    base = dict(path=str(path), state='present', content=file_sd.render([GROUP]), mode='0644', owner=None,
                group=None, directory_mode=None)
    base.update(changes)
    return base


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


@pytest.mark.parametrize('groups', [
    [GROUP],
    [],
    [{'targets': ['[2001:db8::7]:9100']}, {'targets': ['a:1', 'b:2'], 'labels': {'z': '1', 'a': 'ü€'}}],
])
def test_render_is_what_the_role_wrote_before(groups):
    """Byte for byte the role's old "[group] | to_nice_json(indent=2)" + newline: old files count as registered."""
    assert file_sd.render(groups) == to_nice_json(groups, indent=2) + '\n'


def test_render_sorts_keys_and_escapes_non_ascii():
    text = file_sd.render([GROUP])
    assert text.startswith('[\n  {\n    "labels": {\n      "__scheme__": "https",\n')
    assert '"team": "\\u00e9quipe"' in text and text.endswith('    ]\n  }\n]\n')


def test_writes_once_then_reports_no_change(tmp_path):
    path = tmp_path / 'node.json'
    first, diff = file_sd.apply(params(path))
    assert first['changed'] is True and first['written'] is True
    assert path.read_text() == file_sd.render([GROUP]) and mode_of(path) == 0o644
    assert diff == [dict(before_header=str(path), after_header=str(path), before='', after=path.read_text())]
    assert (first['uid'], first['gid']) == (os.stat(str(path)).st_uid, os.stat(str(path)).st_gid)
    assert first['mode'] == '0644' and first['content'] == path.read_text()

    again, diff = file_sd.apply(params(path))
    assert again['changed'] is False and diff == []
    assert os.listdir(str(tmp_path)) == ['node.json'], 'no temporary file is left behind'


def test_a_file_written_by_the_old_role_is_already_registered(tmp_path):
    path = tmp_path / 'node.json'
    path.write_text(to_nice_json([GROUP], indent=2) + '\n')
    path.chmod(0o644)
    before = os.stat(str(path))
    result, _diff = file_sd.apply(params(path))
    assert result['changed'] is False
    assert os.stat(str(path)).st_ino == before.st_ino, 'not rewritten'


def test_other_text_is_replaced_by_rename_with_the_diff(tmp_path):
    path = tmp_path / 'node.json'
    path.write_text('[]\n')
    inode = os.stat(str(path)).st_ino
    result, diff = file_sd.apply(params(path))
    assert result['written'] is True
    assert os.stat(str(path)).st_ino != inode, 'a new file renamed over the old one, never rewritten in place'
    assert diff == [dict(before_header=str(path), after_header=str(path), before='[]\n', after=path.read_text())]


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'node.json'
    path.write_text('[]\n')

    def refuse(source, target):
        raise PermissionError(13, 'Permission denied')
    monkeypatch.setattr(os, 'replace', refuse)
    with pytest.raises(file_sd.FileSdError, match='Cannot write .*node.json: Permission denied'):
        file_sd.apply(params(path))
    assert path.read_text() == '[]\n' and os.listdir(str(tmp_path)) == ['node.json']


def test_text_that_is_not_utf8_is_replaced(tmp_path):
    path = tmp_path / 'node.json'
    path.write_bytes(b'\xff\xfe')
    result, diff = file_sd.apply(params(path))
    assert result['written'] is True and diff[0]['before'] == '(not UTF-8 text)\n'


def test_check_mode_touches_nothing(tmp_path):
    path = tmp_path / 'sd' / 'node.json'
    result, diff = file_sd.apply(params(path, directory_mode='0750'), check_mode=True)
    assert result['changed'] is True and result['written'] is True
    assert not (tmp_path / 'sd').exists()
    assert diff[0] == dict(before_header=str(tmp_path / 'sd'), after_header=str(tmp_path / 'sd'),
                           before={'state': 'absent'}, after={'state': 'directory', 'mode': '0750'})
    assert (result['uid'], result['gid']) == (os.geteuid(), os.getegid())

    (tmp_path / 'sd').mkdir()
    path.write_text('[]\n')
    path.chmod(0o600)
    result, _diff = file_sd.apply(params(path), check_mode=True)
    assert result['changed'] is True and path.read_text() == '[]\n' and mode_of(path) == 0o600
    result, _diff = file_sd.apply(params(path, state='absent'), check_mode=True)
    assert result['changed'] is True and path.exists()


def test_only_a_wrong_mode_is_set_without_rewriting(tmp_path):
    path = tmp_path / 'node.json'
    file_sd.apply(params(path))
    inode = os.stat(str(path)).st_ino
    result, diff = file_sd.apply(params(path, mode='0600'))
    assert (result['changed'], result['written'], result['mode']) == (True, False, '0600')
    assert mode_of(path) == 0o600 and os.stat(str(path)).st_ino == inode
    assert diff == [dict(before_header=str(path), after_header=str(path), before={'mode': '0644'},
                         after={'mode': '0600'})]


@pytest.mark.parametrize('mode, expected', [('0640', 0o640), ('640', 0o640), (0o640, 0o640),
                                            ('u=rw,g=r,o=', 0o640), ('g-r,o-r', 0o600)])
def test_modes_follow_ansible_builtin_file(tmp_path, mode, expected):
    """An int as it is, text as octal, else symbolic, applied to the file as it is."""
    path = tmp_path / 'node.json'
    file_sd.apply(params(path))
    file_sd.apply(params(path, mode=mode), symbolic=SYMBOLIC)
    assert mode_of(path) == expected


def test_a_symbolic_mode_of_a_new_file_starts_from_the_umask(tmp_path):
    path = tmp_path / 'node.json'
    old = os.umask(0o027)
    try:
        file_sd.apply(params(path, mode='u+x'), symbolic=SYMBOLIC)
    finally:
        os.umask(old)
    assert mode_of(path) == 0o740


@pytest.mark.parametrize('mode, symbolic, message', [
    ('u=rw', None, 'mode is "u=rw"; it must be an octal mode in quotes, such as "0644".'),
    ('rw-r--r--', SYMBOLIC, 'mode is "rw-r--r--"; it must be an octal mode in quotes'),
    (0o17777, SYMBOLIC, 'mode is 8191; it must be an octal mode'),
    (True, SYMBOLIC, 'mode is true; it must be an octal mode'),
])
def test_a_bad_mode_is_refused_naming_it(tmp_path, mode, symbolic, message):
    with pytest.raises(file_sd.FileSdError, match='^' + message.replace('(', r'\(').replace(')', r'\)')):
        file_sd.apply(params(tmp_path / 'node.json', mode=mode), symbolic=symbolic)
    assert os.listdir(str(tmp_path)) == []


def test_a_missing_directory_is_made_with_its_mode_and_parents(tmp_path):
    path = tmp_path / 'a' / 'b' / 'node.json'
    old = os.umask(0o077)
    try:
        result, diff = file_sd.apply(params(path, directory_mode='0751'))
    finally:
        os.umask(old)
    assert result['changed'] is True and path.exists()
    assert mode_of(tmp_path / 'a') == 0o751 and mode_of(tmp_path / 'a' / 'b') == 0o751
    assert diff[0]['before_header'] == str(tmp_path / 'a')


def test_an_existing_directory_keeps_its_mode(tmp_path):
    directory = tmp_path / 'sd'
    directory.mkdir()
    directory.chmod(0o750)
    result, diff = file_sd.apply(params(directory / 'node.json', directory_mode='0755'))
    assert result['changed'] is True and mode_of(directory) == 0o750
    assert [entry['before_header'] for entry in diff] == [str(directory / 'node.json')]


def test_a_directory_made_meanwhile_by_another_run_keeps_its_mode(tmp_path, monkeypatch):
    directory = tmp_path / 'sd'
    real_mkdir = os.mkdir

    def raced(path, mode=0o777):
        real_mkdir(path, 0o700)
        os.chmod(path, 0o700)
        raise FileExistsError(17, 'File exists')
    monkeypatch.setattr(os, 'mkdir', raced)
    file_sd.apply(params(directory / 'node.json', directory_mode='0755'))
    monkeypatch.setattr(os, 'mkdir', real_mkdir)
    assert mode_of(directory) == 0o700 and (directory / 'node.json').exists()


def test_a_missing_directory_without_directory_mode_is_an_error(tmp_path):
    with pytest.raises(file_sd.MissingDirectoryError) as caught:
        file_sd.apply(params(tmp_path / 'mnt' / 'node.json'))
    assert caught.value.directory == str(tmp_path / 'mnt')
    assert caught.value.message == ('The directory %s of %s does not exist; create (or mount) it, or set directory_mode '
                                    'to have it created.' % (tmp_path / 'mnt', tmp_path / 'mnt' / 'node.json'))


def test_a_file_where_the_directory_should_be_is_an_error(tmp_path):
    (tmp_path / 'sd').write_text('')
    with pytest.raises(file_sd.FileSdError, match='sd is not a directory; the file_sd file cannot go there'):
        file_sd.apply(params(tmp_path / 'sd' / 'node.json', directory_mode='0755'))


def test_a_directory_at_the_path_is_refused(tmp_path):
    (tmp_path / 'node.json').mkdir()
    for state in ('present', 'absent'):
        with pytest.raises(file_sd.FileSdError, match='node.json is a directory, not a file; remove it'):
            file_sd.apply(params(tmp_path / 'node.json', state=state))


@pytest.mark.parametrize('path', ['relative/node.json', '/srv/file_sd/', '', None,
                                  '/srv/file_sd/node-i-0123456789abcdef0\n.json'])
def test_the_path_must_be_absolute(path):
    with pytest.raises(file_sd.FileSdError, match='path must be the absolute path of a file, such as '
                                                  '/etc/prometheus/file_sd/node-i-0123456789abcdef0.json; got '):
        file_sd.apply(dict(params('/x'), path=path))


def test_absent_removes_the_file_and_tolerates_it_being_gone(tmp_path):
    path = tmp_path / 'node.json'
    (tmp_path / 'other.json').write_text('[]')
    file_sd.apply(params(path))
    text = path.read_text()
    result, diff = file_sd.apply(params(path, state='absent', content=None))
    assert result == dict(changed=True, written=False, path=str(path), state='absent', content=None, mode=None,
                          uid=None, gid=None)
    assert diff == [dict(before_header=str(path), after_header=str(path), before=text, after='')]
    assert os.listdir(str(tmp_path)) == ['other.json']
    result, diff = file_sd.apply(params(path, state='absent', content=None))
    assert result['changed'] is False and diff == []
    result, _diff = file_sd.apply(params(tmp_path / 'gone' / 'node.json', state='absent'))
    assert result['changed'] is False


def test_a_file_removed_meanwhile_by_another_run_is_no_error(tmp_path, monkeypatch):
    path = tmp_path / 'node.json'
    path.write_text('[]')

    def gone(name):
        raise FileNotFoundError(2, 'No such file or directory')
    monkeypatch.setattr(os, 'unlink', gone)
    assert file_sd.apply(params(path, state='absent'))[0]['changed'] is True


@pytest.mark.skipif(os.geteuid() != 0, reason='changing a file\'s owner needs root')
def test_owner_and_group_are_set_before_the_rename_and_kept_on_rewrite(tmp_path):
    import grp
    import pwd

    nobody = pwd.getpwnam('nobody')
    group = grp.getgrgid(nobody.pw_gid).gr_name
    path = tmp_path / 'node.json'
    result, _diff = file_sd.apply(params(path, owner='nobody', group=group))
    assert (os.stat(str(path)).st_uid, os.stat(str(path)).st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert (result['uid'], result['gid']) == (nobody.pw_uid, nobody.pw_gid)
    assert file_sd.apply(params(path, owner=str(nobody.pw_uid), group=group))[0]['changed'] is False
    file_sd.apply(params(path, content='[]\n'))
    assert os.stat(str(path)).st_uid == nobody.pw_uid, 'a rewrite keeps the owner'
    result, diff = file_sd.apply(params(path, content='[]\n', owner='root'))
    assert result['written'] is False and os.stat(str(path)).st_uid == 0
    assert diff[0]['before'] == {'owner': nobody.pw_uid} and diff[0]['after'] == {'owner': 0}


@pytest.mark.parametrize('owner, group, message', [
    ('no-such-user-here', None, 'owner "no-such-user-here" is not a user on this host; create the user first'),
    (None, 'no-such-group-here', 'group "no-such-group-here" is not a group on this host; create the group first'),
])
def test_an_unknown_owner_or_group_is_refused_naming_it(tmp_path, owner, group, message):
    with pytest.raises(file_sd.FileSdError, match=message):
        file_sd.apply(params(tmp_path / 'node.json', owner=owner, group=group))
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize('content, message', [
    ('{"targets": []}', 'content holds dict; a file_sd file is a JSON list of target groups.'),
    ('[', 'content is not JSON'),
    ('[NaN]', 'content is not JSON (NaN is not valid JSON)'),
    ('[{"targets": "a:1"}]', 'content[0].targets is "a:1"; it must be a list of host:port texts'),
    ('[{"targets": ["a:1"], "labels": {"tier": 3}}]',
     'content[0].labels["tier"] is 3; Prometheus label values are text: quote it ("3").'),
    ('[{"targets": ["a:1"], "labels": {"bad-name": "x"}}]', 'content[0].labels has the label name "bad-name"'),
    ('[{"targets": ["a:1"], "job": "x"}]', 'content[0] has unknown key(s) "job"; a target group has only targets'),
    ('[{"targets": ["a:1\\n"]}]', 'content[0].targets[0] is "a:1\\n"; a target is host:port text'),
    (None, 'content is null; it must be the text of the file.'),
])
def test_content_that_prometheus_would_not_read_is_refused(tmp_path, content, message):
    with pytest.raises(file_sd.FileSdError) as caught:
        file_sd.apply(params(tmp_path / 'node.json', content=content))
    assert message in caught.value.message, caught.value.message
    assert os.listdir(str(tmp_path)) == []


def test_target_group_from_targets_and_labels():
    assert file_sd.target_group(['a:1'], {'x': 'y'}) == {'targets': ['a:1'], 'labels': {'x': 'y'}}
    assert file_sd.target_group(['a:1']) == {'targets': ['a:1']}
    with pytest.raises(file_sd.FileSdError, match=r'^labels\["tier"\] is 3; Prometheus label values are text'):
        file_sd.target_group(['a:1'], {'tier': 3})
    with pytest.raises(file_sd.FileSdError, match=r'^targets is empty; give at least one host:port'):
        file_sd.target_group([])
    with pytest.raises(file_sd.FileSdError, match=r'^targets\[1\] is ""; a target is host:port text'):
        file_sd.target_group(['a:1', ''])
    assert json.loads(file_sd.render([file_sd.target_group(['a:1'])])) == [{'targets': ['a:1']}]
