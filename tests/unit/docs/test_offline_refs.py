"""The offline docs build resolves references to Ansible's site, and only those (docs/docsite/offline_refs.py)."""
import os
import sys

import pytest

from collection_path import REPO_ROOT

pytest.importorskip("docutils")
sys.path.insert(0, os.path.join(REPO_ROOT, "docs", "docsite"))
import offline_refs  # noqa: E402

SITE = "https://docs.ansible.com/ansible/latest/"


@pytest.mark.parametrize("target, url", [
    ("ansible_collections.ansible.builtin.copy_module", SITE + "collections/ansible/builtin/copy_module.html"),
    ("ansible_collections.ansible.builtin.copy_module__parameter-src",
     SITE + "collections/ansible/builtin/copy_module.html#parameter-src"),
    ("ansible_collections.amazon.aws.ec2_metadata_facts_module",
     SITE + "collections/amazon/aws/ec2_metadata_facts_module.html"),
    ("action_plugins", SITE + "plugins/action.html"),
    ("common_return_values", SITE + "reference_appendices/common_return_values.html"),
])
def test_references_to_ansibles_site_get_its_address(target, url):
    assert offline_refs._url({"reftype": "ref", "reftarget": target}) == url  # pylint: disable=protected-access


@pytest.mark.parametrize("target", [
    "ansible_collections.cloudmeta.imds.metadata_facts_module",  # ours must resolve in this build, or fail it
    "ansible_collections.ansible.builtin.copy_nothing",
    "some_label_of_our_own",
])
def test_other_references_stay_unresolved(target):
    assert offline_refs._url({"reftype": "ref", "reftarget": target}) is None  # pylint: disable=protected-access
