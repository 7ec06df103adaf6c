"""The tables in the guides (docs/*.md) are those the plugin documentation renders (docs/docsite/guide_tables.py).

When this fails, the documentation changed and the guide did not: run
python docs/docsite/guide_tables.py and commit the guide.
"""
import os
import re
import sys

import pytest
import yaml

from collection_path import REPO_ROOT

# The renderer needs antsibull-docs, which the project virtualenv has and the
# per-release virtualenvs of make compat (ansible-core and test tools only) do not.
pytest.importorskip("antsibull_docs_parser")
sys.path.insert(0, os.path.join(REPO_ROOT, "docs", "docsite"))
import guide_tables  # noqa: E402


def test_every_guide_table_is_the_rendered_documentation():
    stale = [os.path.relpath(path, REPO_ROOT) for path, _text in guide_tables.stale_guides()]
    assert stale == [], "run python docs/docsite/guide_tables.py: %s" % stale


def test_the_guides_have_the_reference_tables():
    """facts, lookup and register_instance take their option and fact tables from the documentation."""
    specs = []
    for path in guide_tables.guides():
        with open(path) as f:
            specs += [match.group("spec").split()[:3] for match in guide_tables.TABLE.finditer(f.read())]
    assert ["options", "module", "cloudmeta.imds.metadata_facts"] in specs
    assert ["return", "module", "cloudmeta.imds.metadata_facts"] in specs
    assert ["options", "lookup", "cloudmeta.imds.metadata"] in specs
    assert specs.count(["options", "role", "cloudmeta.imds.register_instance"]) == 9


def test_every_role_variable_is_in_a_table_of_the_role_guide():
    with open(os.path.join(REPO_ROOT, "roles", "register_instance", "meta", "argument_specs.yml")) as f:
        variables = set(yaml.safe_load(f)["argument_specs"]["main"]["options"])
    with open(os.path.join(REPO_ROOT, "docs", "register_instance.md")) as f:
        tabled = set(re.findall(r"^\| `(register_instance_[a-z0-9_]+)` \|", f.read(), re.MULTILINE))
    assert variables - tabled == set()


def test_a_changed_description_makes_the_table_stale():
    text = "<!-- table: options lookup cloudmeta.imds.metadata only=recursive -->\nold\n<!-- end of table -->\n"
    rendered = guide_tables.render(text)
    assert "| `recursive` |" in rendered and "old" not in rendered
    assert guide_tables.render(rendered) == rendered


def test_markup_becomes_markdown_and_pipes_are_escaped():
    cell = guide_tables.markdown(["O(a=b) and V(x|y), M(cloudmeta.imds.metadata_facts).", "I(Second) B(one)."],
                                 "module", "cloudmeta.imds.metadata_facts")
    assert cell == "`a=b` and `x\\|y`, `cloudmeta.imds.metadata_facts`. *Second* **one**."


def test_return_table_flattens_dicts_and_skips_what_has_its_own_table():
    rows = guide_tables.return_table("module", "cloudmeta.imds.metadata_facts", "ansible_facts.ec2",
                                     skip=("network.interfaces", "events"))
    keys = [row.split(" | ")[0][3:-1] for row in rows[2:]]
    assert "placement.group_name" in keys and "iam.role_name" in keys
    assert not any(key.startswith(("network.", "events", "placement |")) for key in keys)


@pytest.mark.parametrize("spec", ["options module", "columns module cloudmeta.imds.metadata_facts",
                                  "options module community.general.foo"])
def test_a_bad_spec_is_an_error(spec):
    with pytest.raises(ValueError):
        guide_tables.table(spec)


def test_a_spec_that_matches_no_option_is_an_error():
    with pytest.raises(ValueError, match="no options"):
        guide_tables.table("options role cloudmeta.imds.register_instance prefix=register_instance_consul_")
