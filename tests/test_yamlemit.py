"""yamlemit: the fast emitter writes plain data that reads back exactly, in ruamel's own style."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from gerhard.formats.statefiles import render_state_yaml
from gerhard.formats.yamlemit import emit, same
from gerhard.formats.yamlio import dump_yaml, load_state_yaml, merge_into
from gerhard.layout import DERIVED_HEADER

keys = st.one_of(
    st.sampled_from(["run_id", "phase", "state", "2026-11", "null", "true", "1.5", "a: b", "x #y", "-k", "é"]),
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=12),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["<= 2.9", ">= 0.8", "in [0.05, 0.25]", "2026-11-23T12:35:03Z", "it's", "yes", "~", "", " x"]),
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20),
)
plain = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=25,
)
documents = st.dictionaries(keys, plain, min_size=1, max_size=6)


def pure_round_trip_load(text: str) -> Any:
    """An independent reader: ruamel's pure-Python round-trip loader, not the C loader emit checks with."""
    from gerhard.formats.yamlio import to_plain

    def plainify(value: Any) -> Any:
        value = to_plain(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, str):
            return str(value)
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, dict):
            return {k: plainify(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plainify(v) for v in value]
        return value

    return plainify(YAML().load(text))


@settings(max_examples=300, deadline=None)
@given(documents)
def test_emitted_text_reads_back_exactly(data: dict[str, Any]) -> None:
    text = emit(data)
    if text is not None:
        assert same(pure_round_trip_load(text), data)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_dump_yaml_always_reads_back_exactly(data: dict[str, Any]) -> None:
    assert same(YAML(typ="safe").load(dump_yaml(data)), data)


def test_gerhard_data_is_emitted_fast_and_in_ruamels_style() -> None:
    import io

    record = {
        "run_id": "20261101T120000Z_v15",
        "seq": 3,
        "phase": "B",
        "verdict": "RED",
        "forced": False,
        "gates": [
            {
                "id": "val_loss_max",
                "passed": False,
                "severity": "blocking",
                "observed": 3.05,
                "threshold": "<= 2.9",
                "baseline_run": None,
                "reason": None,
            },
            {
                "id": "band",
                "passed": True,
                "severity": "advisory",
                "observed": float("nan"),
                "threshold": "in [0.05, 0.25]",
                "baseline_run": "r1",
                "reason": "x is nan, not a finite number",
            },
        ],
        "metrics": {"val_loss": 3.05, "val_ppl": 21.1153},
        "config": {"optim": {"lr": 0.0003, "betas": [0.9, 0.95]}, "data": {"name": "tinystories-10k"}},
        "registered_at": "2026-11-23T12:35:03Z",
        "months": {"2026-11": 3},
        "open_needs_input": [],
        "baselines": {},
        "summary": "v15 notebook pass on RunPod, lr 3e-3.",
        "next_action": "it's fine: rerun # maybe",
    }
    buf = io.StringIO()
    from gerhard.formats.yamlio import round_trip

    round_trip().dump(record, buf)
    assert emit(record) == buf.getvalue()


@pytest.mark.parametrize("text", ["...", "---", "...x", "---x"])
def test_document_markers_are_quoted_as_ruamel_does(text: str) -> None:
    import io

    from gerhard.formats.yamlio import round_trip

    for data in ({text: None}, {"run": {text: "v"}}, {"k": text}):
        buf = io.StringIO()
        round_trip().dump(data, buf)
        assert emit(data) == buf.getvalue()


def test_what_it_is_not_sure_of_goes_to_ruamel() -> None:
    assert emit({"text": "two\nlines"}) is None
    assert emit({1: "int key"}) is None
    assert emit({"nested": [[1, 2]]}) is None
    assert emit({"tiny": 1e-300}) is None
    assert emit([1, 2]) is None
    assert "two\n" in dump_yaml({"text": "two\nlines"}) or "two\\n" in dump_yaml({"text": "two\nlines"})


def test_commented_containers_are_never_emitted_here() -> None:
    data = load_state_yaml("# a human's comment\nkey: 1\n", "x.yaml")
    assert emit(data) is None
    assert dump_yaml(data).startswith("# a human's comment")


status_like = st.fixed_dictionaries(
    {
        "program": st.sampled_from(["p", "asnn-goose-v15"]),
        "current_phase": st.sampled_from(["A", "B", None]),
        "run_count": st.integers(0, 10**6),
        "latest_verdict": st.sampled_from(["GREEN", "AMBER", "RED", None]),
        "months": st.dictionaries(st.sampled_from(["2026-10", "2026-11"]), st.integers(1, 99)),
        "phases": st.dictionaries(
            st.sampled_from(["A", "B", "C"]),
            st.fixed_dictionaries(
                {
                    "state": st.sampled_from(["pending", "passed"]),
                    "runs": st.integers(0, 9),
                    "baselines": st.dictionaries(st.sampled_from(["g1", "g2"]), st.floats()),
                }
            ),
        ),
    }
)


@settings(max_examples=150, deadline=None)
@given(status_like, status_like)
def test_fast_merge_equals_the_round_trip_merge(old: dict[str, Any], new: dict[str, Any]) -> None:
    """A file exactly as gerhard wrote it: skipping the round-trip parse must not change the result."""
    existing = DERIVED_HEADER + dump_yaml(old)
    slow = dump_yaml(merge_into(load_state_yaml(existing, "s.yaml"), new))
    fast = render_state_yaml(existing, new, "s.yaml")
    assert fast == (slow if slow != existing else existing)


def test_nan_equal_to_nan_only_in_same() -> None:
    assert same([math.nan], [math.nan])
    assert not same(1, 1.0)
    assert not same(True, 1)


ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=16)
ascii_docs = st.dictionaries(
    st.one_of(keys.filter(str.isascii), ascii_text),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-999, 999), st.floats(allow_nan=False), ascii_text),
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(ascii_text, inner, max_size=3)),
        max_leaves=12,
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(ascii_docs)
def test_emitted_text_is_what_ruamel_writes(data: dict[str, Any]) -> None:
    """Same bytes as ruamel (so a file's style never flips between the two writers)."""
    import io

    from gerhard.formats.yamlio import round_trip

    text = emit(data)
    if text is not None:
        buf = io.StringIO()
        round_trip().dump(data, buf)
        assert text == buf.getvalue()
