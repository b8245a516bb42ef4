"""formats/yamlfast.py: the state files gerhard wrote, read fast, and only when rendering them again proves
the reading; anything else is left to ruamel (None)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gerhard.formats.yamlemit import emit, same
from gerhard.formats.yamlfast import plain_state
from gerhard.formats.yamlio import read_state_yaml

HEADER = "# Registry record of run x, written by `gerhard register`.\n# Append-only.\n"


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("a: 1\nb: 2.5\nc: true\nd: null\ne: text\n", {"a": 1, "b": 2.5, "c": True, "d": None, "e": "text"}),
        ("a:\n  - 1\n  - x\nb: {}\nc: []\n", {"a": [1, "x"], "b": {}, "c": []}),
        ("gates:\n  - id: g\n    passed: false\n  - id: h\n    passed: true\n", None),
        ("a: '2026-01-01T00:00:00Z'\nb: '0404'\nc: yes\n", {"a": "2026-01-01T00:00:00Z", "b": "0404", "c": "yes"}),
        ("a: .nan\nb: -.inf\n", None),
    ],
)
def test_what_gerhard_writes_reads_as_ruamel_reads_it(text: str, data: dict[str, Any] | None) -> None:
    got = plain_state(HEADER + text)
    assert got is not None
    assert same(got, read_state_yaml(HEADER + text, "x"))
    if data is not None:
        assert same(got, data)


@pytest.mark.parametrize(
    "text",
    [
        "a: 007\n",  # an int written otherwise than gerhard writes it
        "a: 1e5\n",  # a float gerhard writes as 100000.0
        "a: ~\n",  # null in another spelling
        "a: 'x'\n",  # quotes gerhard would not write
        'a: "it\'s"\n',
        "a: 1\na: 2\n",  # a duplicate key
        "a: [1, 2]\n",  # flow style
        "a: b # a comment\n",  # a human's comment
        "a: &x 1\nb: *x\n",  # an anchor and an alias
        "a: " + "9" * 5000 + "\n",  # an integer Python refuses to read
        "a: 2026-01-01\n",  # a date
        "a:\n  b:\n" + "".join(" " * (2 * i) + f"k{i}:\n" for i in range(2, 80)) + " " * 160 + "v: 1\n",  # deep
        "",
        "# only a comment\n",
        "a: 1",  # no line end
    ],
)
def test_anything_else_is_left_to_ruamel(text: str) -> None:
    assert plain_state(HEADER + text) is None


keys = st.sampled_from(["run_id", "gates", "a b", "x: y", "- z", "yes", "007", "1.5", "null", "", "é", "#k", "k"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["yes", "no", "~", "1e5", "0x1F", "2026-01-01", "- a", "a: b", "it's", '"q"', "#", "=", "<<"]),
)
data = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, data, min_size=1, max_size=5))
def test_a_reading_it_proves_is_ruamels(doc: dict[str, Any]) -> None:
    """Whatever yamlemit writes and yamlfast reads, ruamel reads the same (NaN included)."""
    text = emit(doc)
    if text is None:
        return
    got = plain_state(HEADER + text)
    if got is not None:
        assert same(got, read_state_yaml(HEADER + text, "x"))


def test_nan_reads_as_nan() -> None:
    got = plain_state(HEADER + "a: .nan\n")
    assert got is not None and math.isnan(got["a"])
