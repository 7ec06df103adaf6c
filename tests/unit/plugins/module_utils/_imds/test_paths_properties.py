"""Properties of the path and listing validators, for any input hypothesis can think of.

What must hold whatever a user types as a term or a hostile service lists:
a path that passes validation stays inside /latest/ once the server
resolves it, carries nothing that could change the request line or a
header, and a listing entry can only ever add one plain segment.
"""
import os
import posixpath
import re
import string

import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from collection_path import REPO_ROOT

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.paths import (
    MAX_LISTING_ENTRIES,
    PUBLIC_KEYS_DIR,
    child_of,
    listing_entries,
    validate_path,
)
from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import ImdsPathError, ImdsResponseError
from ansible_collections.cloudmeta.imds.plugins.plugin_utils._metadata_terms import TermRefusedError, plan_term

# The example database and caches stay with the other test output, not in a
# .hypothesis/ directory at the top of the checkout. Set here, not in a
# conftest, so that the other unit tests run where hypothesis is not
# installed (the per-release virtualenvs of make compat).
set_hypothesis_home_dir(os.path.join(REPO_ROOT, ".tmp", "hypothesis"))

SEGMENT_CHARS = string.ascii_letters + string.digits + "-_.:,=+@"
segments = st.text(alphabet=SEGMENT_CHARS, min_size=1, max_size=20).filter(lambda s: s not in (".", ".."))
# 'tag:/' reads as a URL scheme and is refused as one, on purpose (the user
# meant a URL); every other path of plain segments is accepted.
LOOKS_LIKE_A_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/")
plain_paths = st.builds(
    lambda parts, slash: "/".join(parts) + ("/" if slash else ""),
    st.lists(segments, min_size=1, max_size=8), st.booleans(),
).filter(lambda path: not LOOKS_LIKE_A_URL.match(path))
# Anything at all, with the characters that matter for escaping well represented.
hostile_text = st.text(alphabet=st.sampled_from(list(SEGMENT_CHARS + "/\\?#% \t\r\n\x00\x7f.~:")) | st.characters(),
                       max_size=60)

FORBIDDEN = set("?#%\\ \t\r\n\x00\x7f")


def _validated(term):
    try:
        return validate_path(term)
    except ImdsPathError as exc:
        assert exc.term is not None and exc.reason
        return None


@settings(max_examples=400, deadline=None)
@given(hostile_text)
def test_an_accepted_path_never_leaves_the_metadata_tree(term):
    path = _validated(term)
    if path is None:
        return
    assert path == term
    assert not path.startswith("/")
    assert not FORBIDDEN & set(path)
    assert all(char == "/" or char in SEGMENT_CHARS for char in path)
    body = path[:-1] if path.endswith("/") else path
    assert all(segment not in ("", ".", "..") for segment in body.split("/"))
    # What a server makes of it: still below /latest/.
    assert posixpath.normpath("/latest/" + path).startswith("/latest/")


@settings(max_examples=200, deadline=None)
@given(plain_paths)
def test_every_plain_path_is_accepted_unchanged(path):
    assert validate_path(path) == path


@settings(max_examples=200, deadline=None)
@given(plain_paths, st.sampled_from(sorted(FORBIDDEN) + ["/..", "/./", "//", "\n"]), st.booleans())
def test_one_bad_character_or_segment_anywhere_is_refused(path, bad, at_end):
    term = path + bad if at_end else bad + path
    with pytest.raises(ImdsPathError):
        validate_path(term)


@settings(max_examples=200, deadline=None)
@given(hostile_text)
def test_a_lookup_term_is_planned_inside_the_tree_or_refused(term):
    try:
        planned = plan_term(term)
    except TermRefusedError:
        return
    assert planned.path == "user-data" or planned.path.startswith(("meta-data/", "dynamic"))
    assert validate_path(planned.path) == planned.path
    assert "\n" not in planned.path


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["meta-data/", "meta-data/tags/instance/", "dynamic/", PUBLIC_KEYS_DIR]), hostile_text)
def test_a_listed_entry_adds_exactly_one_plain_segment_or_is_skipped(directory, entry):
    child = child_of(directory, entry)
    if child is None:
        return
    _key, path, is_dir = child
    assert path.startswith(directory)
    rest = path[len(directory):]
    assert rest.endswith("/") == is_dir
    assert "/" not in rest.rstrip("/")
    assert validate_path(path) == path


@settings(max_examples=100, deadline=None)
@given(st.lists(hostile_text, max_size=50))
def test_a_listing_gives_back_its_lines(lines):
    body = "\n".join(lines).encode("utf-8", errors="surrogatepass")
    try:
        entries = listing_entries(body, "meta-data/", "http://127.0.0.1:1")
    except UnicodeError:
        return
    assert all("\n" not in entry and entry.strip() for entry in entries)
    assert len(entries) <= MAX_LISTING_ENTRIES


@given(st.integers(min_value=MAX_LISTING_ENTRIES + 1, max_value=MAX_LISTING_ENTRIES * 3))
@settings(max_examples=5, deadline=None)
def test_a_listing_wider_than_the_cap_is_refused_naming_the_path(width):
    body = "\n".join("d%d/" % index for index in range(width)).encode()
    with pytest.raises(ImdsResponseError) as caught:
        listing_entries(body, "meta-data/placement/", "http://127.0.0.1:1")
    assert "meta-data/placement/" in caught.value.message and str(width) in caught.value.message
