"""Terms are refused before any request; credentials are never read; values are never templates."""
import pytest

from ansible.errors import AnsibleError


@pytest.mark.parametrize("term, reason", [
    ("../user-data", "'..' segment"),
    ("placement/../../latest/api/token", "'..' segment"),
    ("./instance-id", "'.' segment"),
    ("placement//region", "empty segment"),
    ("/latest/meta-data/instance-id", "starts with '/'"),
    ("", "empty"),
    ("http://169.254.169.254/latest/meta-data/instance-id", "URL"),
    ("http://example.com/", "URL"),
    ("//example.com/x", "starts with '/'"),
    ("instance-id?x=1", "query string"),
    ("instance-id#frag", "fragment"),
    ("%2e%2e/user-data", "percent-encoding"),
    ("tags/instance/Name with space", "whitespace"),
    ("instance-id\n", "whitespace"),
    ("instance-id\x00", "control character"),
    ("instance-id\r\nX-Forwarded-For: 1.2.3.4", "whitespace"),
    ("place\\ment", "backslash"),
    ("tags/instance/{{ x }}", "not allowed"),
])
def test_a_bad_term_is_refused_naming_it_and_why_without_a_request(read, emulator, term, reason):
    with pytest.raises(AnsibleError) as caught:
        read("instance-id", term)

    message = str(caught.value)
    assert repr(term) in message
    assert reason in message
    assert emulator.count() == 0


def test_a_term_that_is_not_a_string_is_refused(read, emulator):
    with pytest.raises(AnsibleError, match="not a string"):
        read(["instance-id"])
    assert emulator.count() == 0


@pytest.mark.parametrize("term", [
    "iam/security-credentials/web-server-role",
    "iam/security-credentials/web-server-role/",
    "iam/security-credentials-extended/web-server-role",
    "IAM/Security-Credentials/web-server-role",
    "identity-credentials/ec2/security-credentials/ec2-instance",
    "identity-credentials/other/security-credentials/anything",
])
def test_credential_values_are_refused_without_a_request(read, emulator, term):
    with pytest.raises(AnsibleError) as caught:
        read("instance-id", term)

    message = str(caught.value)
    assert repr(term) in message
    assert "credentials" in message
    assert "AWS SDKs" in message
    assert emulator.count() == 0


@pytest.mark.parametrize("term", [
    "iam/security-credentials-extended/web-server-role",
    "identity-credentials/ec2/security-credentials/ec2-instance",
])
def test_credential_values_are_refused_with_recursive_too(read, emulator, term):
    with pytest.raises(AnsibleError, match="credentials"):
        read(term, recursive=True)
    assert emulator.count() == 0


def test_the_role_name_can_be_listed(read):
    assert read("iam/security-credentials/", "identity-credentials/ec2/security-credentials/") == [
        ["web-server-role"], ["ec2-instance"]]


def test_no_credential_appears_in_any_recursive_read(read, emulator):
    (iam,) = read("iam", recursive=True)
    (identity,) = read("identity-credentials", recursive=True)

    text = repr(iam) + repr(identity)
    assert "ASIAEMULATOR" not in text
    assert "SecretAccessKey" not in text
    assert identity["ec2"]["security-credentials"] == {"ec2-instance": None}


def _template(source, variables=None):
    """Render SOURCE as a playbook author's (trusted) template would be."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    templar = Templar(loader=DataLoader(), variables=variables or {})
    try:
        from ansible._internal._datatag._tags import TrustedAsTemplate
    except ImportError:  # ansible-core < 2.19 trusts every str given to template()
        return templar.template(source)
    return templar.template(TrustedAsTemplate().tag(source))


def test_metadata_text_is_never_rendered_as_a_template(emulator, builtin_instance, make_emulator):
    builtin_instance["meta-data"]["tags"]["instance"]["Evil"] = "{{ 6 * 7 }}"
    evil = make_emulator(builtin_instance)
    variables = {"imds_url": evil.url}

    value = _template("{{ lookup('cloudmeta.imds.metadata', 'tags/instance/Evil', endpoint=imds_url) }}", variables)
    assert value == "{{ 6 * 7 }}"

    # Used again, through a variable, it is still text.
    variables["evil"] = value
    assert _template("{{ evil }}", variables) == "{{ 6 * 7 }}"

    tree = _template("{{ lookup('cloudmeta.imds.metadata', 'tags/instance', recursive=true, endpoint=imds_url) }}",
                     variables)
    variables["tags"] = tree
    assert _template("{{ tags.Evil }}", variables) == "{{ 6 * 7 }}"
