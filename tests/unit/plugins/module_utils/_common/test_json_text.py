"""Strict JSON for untrusted metadata text."""
import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._common.json_text import loads_strict


def test_plain_json():
    assert loads_strict('{"a": [1, 2.5, null, true]}') == {"a": [1, 2.5, None, True]}


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', "[-Infinity]"])
def test_non_standard_constants_are_refused(text):
    with pytest.raises(ValueError, match="is not valid JSON"):
        loads_strict(text)


def test_nesting_too_deep_is_a_value_error():
    with pytest.raises(ValueError, match="nested too deeply"):
        loads_strict("[" * 100000 + "]" * 100000)
