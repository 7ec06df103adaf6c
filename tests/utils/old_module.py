"""amazon.aws.ec2_metadata_facts' own crawler, pointed at an emulator: the independent consumer tests compare with.

Its Ec2Metadata class takes URI overrides in its constructor, so it runs
unchanged in-process against the emulator on 127.0.0.1 (its main() would use
169.254.169.254). Used by the legacy-facts oracle and the emulator's anchor test.
"""
import collections
import socket
import tempfile

import pytest

Crawl = collections.namedtuple("Crawl", "facts warnings")


class ModuleStub:
    """What Ec2Metadata and fetch_url need from an AnsibleModule."""

    def __init__(self, tmpdir):
        # use_proxy off: the emulator must be reached directly whatever the shell exports.
        self.params = {"metadata_token_ttl_seconds": 60, "use_proxy": False}
        self.tmpdir = str(tmpdir)
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)

    def fail_json(self, **kwargs):
        raise AssertionError("ec2_metadata_facts failed: %r" % (kwargs,))


def ec2_metadata_class():
    """The Ec2Metadata class, or a skip when amazon.aws is not installed."""
    # The old module sets a process-wide socket timeout when imported; keep
    # it from leaking into other tests.
    previous = socket.getdefaulttimeout()
    try:
        module = pytest.importorskip("ansible_collections.amazon.aws.plugins.modules.ec2_metadata_facts")
    finally:
        socket.setdefaulttimeout(previous)
    return module.Ec2Metadata


def old_crawler(monkeypatch, tmpdir):
    """crawl(url) -> Crawl(facts, warnings) from the old module's own code; MONKEYPATCH undoes its side effects."""
    from ansible.module_utils import urls

    metadata_class = ec2_metadata_class()
    # fetch_url builds a TLS context, loading the CA store, for every plain
    # HTTP request (~25 ms each, over a hundred per crawl). One shared context
    # changes no fact and keeps the tests quick.
    context = urls.make_context()
    monkeypatch.setattr(urls, "make_context", lambda *args, **kwargs: context)
    # fetch_url repoints tempfile.tempdir at the module's tmpdir.
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)

    def crawl(url):
        module = ModuleStub(tmpdir)
        base = url + "/latest/"
        facts = metadata_class(
            module,
            ec2_metadata_token_uri=base + "api/token",
            ec2_metadata_uri=base + "meta-data/",
            ec2_metadata_instance_tags_uri=base + "meta-data/tags/instance",
            ec2_sshdata_uri=base + "meta-data/public-keys/0/openssh-key",
            ec2_userdata_uri=base + "user-data/",
            ec2_dynamicdata_uri=base + "dynamic/",
        ).run()
        return Crawl(facts, module.warnings)

    return crawl
