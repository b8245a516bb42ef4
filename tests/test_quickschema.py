"""quickschema: it vouches only for documents jsonschema accepts, and it does vouch for the bundle files
every run has (so a registration needs no jsonschema)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gerhard.formats import quickschema, schemas
from gerhard.formats.parsing import parse_artifact

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if p.is_dir() and (p / "metrics.json").is_file())
BUILTIN = {name: schema for name, schema in schemas.BUILTIN_ARTIFACT_SCHEMAS.items() if name != "MANIFEST"}
SHIPPED = {p.name.removesuffix(".schema.json"): json.loads(p.read_text()) for p in schemas.schema_dir().glob("*.json")}


def vouched(schema: Any, data: Any) -> bool:
    return quickschema.certainly_valid(schema, data, quickschema.Reader(schemas.whole_text_regex))


def example_files() -> list[tuple[str, str]]:
    return [(example.name, name) for example in EXAMPLES for name in sorted(BUILTIN) if (example / name).is_file()]


@pytest.mark.parametrize(("example", "name"), example_files())
def test_the_bundle_files_of_every_example_are_vouched_for(example: str, name: str) -> None:
    path = REPO / "examples" / example / name
    assert schemas.certainly_valid(parse_artifact(name, path.read_bytes()), BUILTIN[name])


@pytest.mark.parametrize(
    ("schema", "data"),
    [
        ({"type": "number"}, True),  # a bool is no number to jsonschema either; here it is "not known"
        ({"type": "integer"}, 5.0),  # valid to jsonschema, left to it
        ({"type": "number", "minimum": 0}, float("nan")),
        ({"properties": {"a": {"type": "string"}}, "additionalProperties": False}, {"b": 1}),
        ({"patternProperties": {"^x": {}}}, {}),  # a keyword it does not read
        ({"$ref": "#/$defs/x"}, 1),
        ({"enum": [1]}, True),
        ({"enum": [[1]]}, [1]),
        ({"const": 1}, 1.0),
        ({"type": "string", "pattern": "^a$"}, "a\n"),  # '$' is the end of the text
    ],
)
def test_what_it_does_not_vouch_for(schema: dict[str, Any], data: Any) -> None:
    assert not vouched(schema, data)


def test_additional_properties_are_the_keys_properties_does_not_name() -> None:
    schema = {"properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}}
    assert vouched(schema, {"a": "x", "b": 1})
    assert not vouched(schema, {"a": "x", "b": "y"})
    assert vouched({"properties": {"a": {}}, "additionalProperties": False}, {"a": 1})


GATE = {
    "id": "val_loss_max",
    "passed": True,
    "severity": "blocking",
    "artifact": "metrics.json",
    "path": "final.val_loss",
    "observed": 2.72,
    "threshold": "<= 2.9",
    "baseline_run": None,
    "reason": None,
}
DECISION = {
    "decision": "rerun",
    "run_id": "r1",
    "phase": "B",
    "reason": "flaky",
    "decided_at": "2026-11-02T10:00:00Z",
    "decided_by": "Ann <a@b>",
    "run_count": 3,
}
STATUS = {
    "program": "p", "program_digest": "672557f5cca6c72c", "current_phase": "C", "run_count": 29, "latest_run": "r1",
    "latest_verdict": "GREEN", "latest_registered_at": "2026-12-07T20:12:29Z", "last_decision": None,
    "open_needs_input": [{"run_id": "r0", "phase": "B", "failed_gates": ["g"]}], "months": {"2026-05": 2},
    "phases": {
        "A": {"state": "passed", "runs": 1, "latest_run": "r0", "latest_verdict": "GREEN", "passed_by": "r0",
              "baselines": {}},
        "B": {"state": "active", "runs": 28, "latest_run": "r1", "latest_verdict": "RED", "passed_by": None,
              "baselines": {"v": {"best": {"run_id": "r0", "value": 2.7}}}},
    },
}  # fmt: skip
GATE_RESULTS = {"phases": {"B": {"run_id": "r1", "verdict": "GREEN", "registered_at": "2026-12-07T20:12:29Z",
                                 "passed": 1, "total": 1, "gates": [GATE]}}}  # fmt: skip
STATE = [
    ("program_status", STATUS),
    ("program_status", {**STATUS, "last_decision": DECISION, "stopped": True, "withdrawn": {"r0": "2026-11-03"}}),
    ("gate_results", GATE_RESULTS),
    ("decision", DECISION),
]


@pytest.mark.parametrize(("name", "doc"), STATE)
def test_the_state_files_every_registration_reads_are_vouched_for(name: str, doc: Any) -> None:
    assert Draft202012Validator(SHIPPED[name], registry=schemas._registry(None)).is_valid(doc)
    assert schemas.certainly_valid(doc, name)


def test_a_ref_is_followed_only_without_schemas_of_the_registry_s_own(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "extra.schema.json").write_text('{"type": "object"}')
    assert not schemas.certainly_valid(GATE_RESULTS, "gate_results", tmp_path)


def test_one_of_holds_only_when_the_other_branches_are_ruled_out() -> None:
    assert vouched({"oneOf": [{"type": "null"}, {"type": "object"}]}, None)
    assert not vouched({"oneOf": [{"type": "null"}, {"required": ["a"]}]}, None)
    assert not vouched({"oneOf": [{"type": "number"}, {"type": "integer"}]}, 1)


def docs() -> list[tuple[str, Any]]:
    files = example_files()
    return [
        *STATE,
        *((BUILTIN[name], parse_artifact(name, (REPO / "examples" / ex / name).read_bytes())) for ex, name in files),
    ]


ODD: list[Any] = [None, True, False, 0, -1, 1.5, 5.0, float("nan"), float("inf"), "", "x", "abc1234", [], {}, [{}]]


def mutations(doc: Any) -> list[tuple[list[Any], Any]]:
    """Every (path, value) pair inside doc, so a test can replace one."""
    out: list[tuple[list[Any], Any]] = [([], doc)]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += [([k, *p], x) for p, x in mutations(v)]
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += [([i, *p], x) for p, x in mutations(v)]
    return out


@settings(max_examples=600, deadline=None)
@given(
    base=st.sampled_from(docs()),
    edits=st.lists(st.tuples(st.integers(min_value=0), st.sampled_from([*ODD, "DROP", "ADD"])), max_size=3),
)
def test_it_never_vouches_for_what_jsonschema_refuses(base: tuple[str, Any], edits: list[tuple[int, Any]]) -> None:
    name, doc = base[0], copy.deepcopy(base[1])
    for at, value in edits:
        places = mutations(doc)
        path, _ = places[at % len(places)]
        if not path:
            doc = None if value in ("DROP", "ADD") else copy.deepcopy(value)
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if value == "DROP":
            del parent[path[-1]]
        elif value == "ADD" and isinstance(parent, dict):
            parent["added"] = copy.deepcopy(ODD[at % len(ODD)])
        elif value != "ADD":
            parent[path[-1]] = copy.deepcopy(value)
    if schemas.certainly_valid(doc, name):
        assert schemas.validator(name).is_valid(doc), doc
