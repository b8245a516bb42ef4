"""metrics_history.py and the fast path in schemas.validate: rows are vouched for only when certainly
valid, and whatever jsonschema alone would accept, refuse and say is exactly what validate does.

The slow path, for comparison, is a registry whose schemas/metrics.schema.json is a byte copy of the
shipped one: a registry's own schema always goes to jsonschema whole.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_one_line_error, register, register_ok
from conftest import snapshot
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gerhard.errors import SchemaError
from gerhard.formats import metrics_history, schemas

SHIPPED = json.loads((schemas.schema_dir() / "metrics.schema.json").read_text())
ROW = Draft202012Validator(metrics_history.ROW_SCHEMA)


@pytest.fixture(scope="module")
def copy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry whose own metrics schema is a byte copy of the shipped one (the slow path)."""
    root = tmp_path_factory.mktemp("copy_root")
    (root / "schemas").mkdir()
    shutil.copy(schemas.schema_dir() / "metrics.schema.json", root / "schemas" / "metrics.schema.json")
    return root


def outcome(data: Any, root: Path | None = None) -> str | None:
    """None when valid, else the one-line error a user sees."""
    try:
        schemas.validate(data, "metrics", "metrics.json", root)
    except SchemaError as e:
        return str(e)
    return None


def history_doc(rows: int) -> dict[str, Any]:
    history = [{"step": 10 * i, "train_loss": 4.0 - i / rows, "val_loss": None, "lr": 1e-4} for i in range(rows)]
    return {"final": {"val_loss": 2.41}, "history": history}


# --- the fast path stands in for the schema it was written for -----------------------------


def test_the_shipped_history_rows_are_what_the_fast_check_assumes() -> None:
    """Change metrics.schema.json's history and this fails: change metrics_history.py with it."""
    assert SHIPPED["properties"]["history"]["items"] == metrics_history.ROW_SCHEMA
    assert metrics_history.covers(SHIPPED)
    assert schemas.certainly_valid({"final": {"loss": 1.0}, "history": [{"step": 0, "loss": 2.0}]}, "metrics")


def changed(edit: Any) -> dict[str, Any]:
    schema = copy.deepcopy(SHIPPED)
    edit(schema)
    return schema


@pytest.mark.parametrize(
    "schema",
    [
        changed(lambda s: s["properties"]["history"]["items"]["properties"]["step"].update(minimum=1)),
        changed(lambda s: s["properties"]["history"]["items"].update(maxProperties=3)),
        changed(lambda s: s["properties"]["history"]["items"].update(additionalProperties={"type": "number"})),
        changed(lambda s: s["properties"]["history"].update(minItems=1)),
        changed(lambda s: s["properties"]["history"].update(items={"$ref": "row.json"})),
        changed(lambda s: s.update(allOf=[{"properties": {"history": {"maxItems": 2}}}])),
        changed(lambda s: s.update(patternProperties={"^hist": {"maxItems": 2}})),
        changed(lambda s: s.update(unevaluatedProperties=False)),
        changed(lambda s: s["properties"].pop("history")),
        changed(lambda s: s.pop("properties")),
        True,
        [],
    ],
)
def test_fast_path_is_off_for_a_schema_that_says_anything_else_about_history(schema: Any) -> None:
    assert not metrics_history.covers(schema)


def test_fast_path_ignores_what_does_not_constrain_history() -> None:
    assert metrics_history.covers(changed(lambda s: s["properties"]["history"].update(description="other words")))
    assert metrics_history.covers(changed(lambda s: s["properties"]["final"].update(maxProperties=2)))
    assert metrics_history.covers(changed(lambda s: s.update(required=["final", "history"])))


# --- which rows it vouches for -------------------------------------------------------------


@pytest.mark.parametrize(
    "history",
    [
        [],
        [{"step": 0}],
        [{"step": 10**30, "loss": -1, "acc": 0.5, "missing": None}],
        [{"step": 3, "loss": math.nan, "up": math.inf, "down": -math.inf}],
    ],
)
def test_vouches_for_plain_rows(history: list[Any]) -> None:
    assert metrics_history.rows_certainly_valid(history)
    assert all(ROW.is_valid(row) for row in history)


@pytest.mark.parametrize(
    "history",
    [
        [{"step": 5.0}],  # valid: jsonschema's integer includes 5.0
        [{"step": -0.0}],
        [{"step": 1, "n": 2}, {"step": 2.0}],
    ],
)
def test_leaves_unusual_valid_rows_to_jsonschema(history: list[Any]) -> None:
    assert not metrics_history.rows_certainly_valid(history)
    assert all(ROW.is_valid(row) for row in history)


@pytest.mark.parametrize(
    "history",
    [
        [{}],
        [{"loss": 1.0}],
        [{"step": -1}],
        [{"step": True}],
        [{"step": "1"}],
        [{"step": None}],
        [{"step": 1.5}],
        [{"step": math.nan}],
        [{"step": 1, "loss": "low"}],
        [{"step": 1, "ok": False}],
        [{"step": 1, "loss": [1.0]}],
        [{"step": 1, "loss": {"v": 1}}],
        [{"step": 0}, [0, 1.0]],
        [{"step": 0}, None],
    ],
)
def test_refuses_invalid_rows(history: list[Any]) -> None:
    assert not metrics_history.rows_certainly_valid(history)
    assert not all(ROW.is_valid(row) for row in history)


@pytest.mark.parametrize("history", [{"0": {"step": 0}}, None, "[]", ({"step": 0},)])
def test_refuses_a_history_that_is_not_a_list(history: Any) -> None:
    assert not metrics_history.rows_certainly_valid(history)


def test_refuses_non_string_keys() -> None:
    assert not metrics_history.rows_certainly_valid([{"step": 0, 1: 2.0}])


# --- the fast path equals jsonschema alone ---------------------------------------------------

NUMBERS = st.one_of(st.integers(min_value=-(10**20), max_value=10**20), st.floats(), st.none())
KEYS = st.text(max_size=4).filter(lambda k: k != "step")
PLAIN_ROWS = st.builds(
    lambda step, rest: {"step": step, **rest},
    st.integers(min_value=0, max_value=10**9),
    st.dictionaries(KEYS, NUMBERS, max_size=4),
)
# One change to a plain row: usually invalid, sometimes valid in a way the fast check leaves alone.
ODD_STEPS = {
    "negative": st.integers(max_value=-1),
    "float": st.floats(),
    "integral float": st.sampled_from([0.0, -0.0, 5.0, 1e300]),
    "bool": st.booleans(),
    "null": st.none(),
    "text": st.text(max_size=2),
    "list": st.lists(NUMBERS, max_size=2),
}
ODD_VALUES = {
    "bool": st.booleans(),
    "text": st.text(max_size=3),
    "list": st.lists(NUMBERS, max_size=2),
    "object": st.dictionaries(KEYS, NUMBERS, max_size=1),
}
ROW_CHANGES = [
    *(f"step: {k}" for k in ODD_STEPS),
    *(f"value: {k}" for k in ODD_VALUES),
    "no step",
    "int key",
    "not an object",
    "OrderedDict",
]


@st.composite
def odd_rows(draw: st.DrawFn) -> Any:
    row = draw(PLAIN_ROWS)
    change = draw(st.sampled_from(ROW_CHANGES))
    if change.startswith("step: "):
        row["step"] = draw(ODD_STEPS[change.removeprefix("step: ")])
    elif change.startswith("value: "):
        row[draw(KEYS)] = draw(ODD_VALUES[change.removeprefix("value: ")])
    elif change == "no step":
        del row["step"]
    elif change == "int key":
        row[draw(st.integers())] = draw(NUMBERS)
    elif change == "not an object":
        return draw(st.one_of(NUMBERS, st.text(max_size=2), st.lists(NUMBERS, max_size=2)))
    else:
        return OrderedDict(row)
    return row


@st.composite
def metrics_docs(draw: st.DrawFn) -> Any:
    """Mostly valid documents with up to two odd rows among plain ones, so one bad row hides among good."""
    history: Any = draw(st.lists(PLAIN_ROWS, max_size=6))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        history.insert(draw(st.integers(min_value=0, max_value=len(history))), draw(odd_rows()))
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        history = draw(st.one_of(st.none(), st.text(max_size=3), st.dictionaries(KEYS, PLAIN_ROWS, max_size=2)))
    valid_final = st.dictionaries(KEYS, NUMBERS, min_size=1, max_size=2)
    odd_final = st.one_of(st.dictionaries(KEYS, st.one_of(NUMBERS, *ODD_VALUES.values()), max_size=2), st.none())
    final = draw(valid_final if draw(st.integers(min_value=0, max_value=4)) else odd_final)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        return {"history": history}  # no final
    return {"final": final, "history": history}


@settings(max_examples=500, deadline=None)
@given(doc=metrics_docs())
def test_fast_path_accepts_refuses_and_words_errors_as_jsonschema_alone(copy_root: Path, doc: Any) -> None:
    assert not schemas.certainly_valid(doc, "metrics", copy_root)
    assert outcome(doc) == outcome(doc, copy_root)
    if schemas.certainly_valid(doc, "metrics"):
        assert schemas.validator("metrics").is_valid(doc)


@settings(max_examples=100, deadline=None)
@given(history=st.lists(PLAIN_ROWS, max_size=20))
def test_fast_path_vouches_for_every_plain_history(history: list[dict[str, Any]]) -> None:
    assert schemas.certainly_valid({"final": {"loss": 1.0}, "history": history}, "metrics")


def test_valid_rows_with_an_invalid_final_get_jsonschemas_message() -> None:
    doc = {"final": {"loss": "low"}, "history": [{"step": 0, "loss": 1.0}]}
    assert not schemas.certainly_valid(doc, "metrics")
    assert outcome(doc) == "metrics.json: $.final.loss: 'low' is not of type 'number', 'null' (schema metrics)"


# --- a registry's own metrics schema ---------------------------------------------------------


def test_a_registry_metrics_schema_turns_the_fast_path_off(copy_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = history_doc(3)
    assert schemas.certainly_valid(doc, "metrics")
    assert not schemas.certainly_valid(doc, "metrics", copy_root)

    def not_here(history: Any) -> bool:
        raise AssertionError("the fast path ran for a registry's own schema")

    monkeypatch.setattr(metrics_history, "rows_certainly_valid", not_here)
    schemas.validate(doc, "metrics", "metrics.json", copy_root)


def test_a_stricter_registry_metrics_schema_is_obeyed(tmp_path: Path) -> None:
    strict = changed(lambda s: s["properties"]["history"]["items"].update(maxProperties=2))
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "metrics.schema.json").write_text(json.dumps(strict))
    doc = {"final": {"loss": 1.0}, "history": [{"step": 0, "loss": 1.0, "lr": 0.1}]}
    schemas.validate(doc, "metrics", "metrics.json")  # the shipped schema accepts it
    assert outcome(doc, tmp_path) == (
        "metrics.json: $.history[0]: {'step': 0, 'loss': 1.0, 'lr': 0.1} has too many properties (schema metrics)"
    )


# --- long histories --------------------------------------------------------------------------


def test_a_10000_step_history(copy_root: Path) -> None:
    doc = history_doc(10_000)
    assert schemas.certainly_valid(doc, "metrics")
    schemas.validate(doc, "metrics", "metrics.json")
    doc["history"][9_999]["step"] = -1
    message = "metrics.json: $.history[9999].step: -1 is less than the minimum of 0 (schema metrics)"
    assert outcome(doc) == message
    assert outcome(doc, copy_root) == message
    doc["history"][9_999]["step"] = 99_990.0  # valid, left to jsonschema
    assert not schemas.certainly_valid(doc, "metrics")
    assert outcome(doc) is None


def test_register_checks_a_10000_step_history_on_the_fast_path(
    registry: Path, bundle_a: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    vouched: list[int] = []

    def spy(history: Any) -> bool:
        vouched.append(len(history))
        return check(history)

    check = metrics_history.rows_certainly_valid
    monkeypatch.setattr(metrics_history, "rows_certainly_valid", spy)
    metrics = json.loads((bundle_a / "metrics.json").read_text())
    metrics["history"] = history_doc(10_000)["history"]
    metrics["history"][9_999]["step"] = -1
    (bundle_a / "metrics.json").write_text(json.dumps(metrics))
    before = snapshot(registry)
    refused = register(capsys, registry, "long_history", "A", bundle_a)
    assert_one_line_error(refused)
    assert refused.err == (
        "gerhard register: error: metrics.json: $.history[9999].step: -1 is less than the minimum of 0 "
        "(schema metrics)\n"
    )
    assert snapshot(registry) == before

    metrics["history"][9_999]["step"] = 99_990
    (bundle_a / "metrics.json").write_text(json.dumps(metrics))
    register_ok(capsys, registry, "long_history", "A", bundle_a)
    assert vouched == [10_000, 10_000]
