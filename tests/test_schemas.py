"""schemas.py and schemas/: valid Draft 2020-12 schemas, examples that validate, one-line errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gerhard import layout
from gerhard.errors import SchemaError
from gerhard.formats import schemas
from gerhard.formats.parsing import parse_artifact, parse_seed
from gerhard.formats.yamlio import load_state_yaml, to_plain
from gerhard.registry import store

REPO = Path(__file__).resolve().parent.parent
SCHEMA_FILES = sorted((REPO / "schemas").glob("*.json"))
EXAMPLES = sorted(p for p in (REPO / "examples").glob("phase_*") if p.is_dir())  # bundles (examples/ci is not)


def test_the_shipped_schema_dir_is_the_repos() -> None:
    assert sorted(p.name for p in schemas.schema_dir().glob("*.json")) == [p.name for p in SCHEMA_FILES]
    assert "program" in schemas.schema_names()
    assert set(schemas.BUILTIN_ARTIFACT_SCHEMAS.values()) <= set(schemas.schema_names())


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_every_schema_is_valid_draft_2020_12(path: Path) -> None:
    doc = json.loads(path.read_text())
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == f"gerhard/{path.name}"
    assert doc.get("title")


def test_every_schema_name_has_a_validator() -> None:
    for name in schemas.schema_names():
        assert schemas.validator(name) is not None


def test_schema_ids_are_unique() -> None:
    ids = [json.loads(p.read_text())["$id"] for p in SCHEMA_FILES]
    assert len(ids) == len(set(ids))


# --- examples and the repo's own state ------------------------------------------------------


def example_artifacts() -> list[tuple[str, str]]:
    return [(example.name, f.name) for example in EXAMPLES for f in sorted(example.iterdir())]


@pytest.mark.parametrize(("example", "name"), example_artifacts())
def test_example_bundles_validate(example: str, name: str) -> None:
    program = store.load_program(REPO)
    data = (REPO / "examples" / example / name).read_bytes()
    if name == "seed.txt":
        assert isinstance(parse_seed(data), int)
        return
    schema = program.schema_for(name)
    assert schema is not None, f"examples/{example}/{name} has no schema"
    schemas.validate(parse_artifact(name, data), schema, f"examples/{example}/{name}")


def test_example_bundles_carry_what_their_phase_requires() -> None:
    program = store.load_program(REPO)
    for example, phase in [("phase_a_green", "A"), ("phase_b_green", "B"), ("phase_b_red", "B")]:
        names = {p.name for p in (REPO / "examples" / example).iterdir()}
        assert set(program.phase(phase).required) <= names, example


def test_repo_program_yaml_validates() -> None:
    data = to_plain(load_state_yaml((REPO / layout.PROGRAM).read_text(), layout.PROGRAM))
    schemas.validate(data, "program", layout.PROGRAM)


@pytest.mark.parametrize("rel", [layout.STATUS, layout.GATE_RESULTS])
def test_repo_state_files_validate_when_present(rel: str) -> None:
    path = REPO / rel
    if not path.exists():
        pytest.skip(f"{rel} is not in this checkout")
    schema = "program_status" if rel == layout.STATUS else "gate_results"
    schemas.validate(to_plain(load_state_yaml(path.read_text(), rel)), schema, rel)


# --- error messages ------------------------------------------------------------------------


def error_of(data: Any, schema: str, label: str = "metrics.json", root: Path | None = None) -> str:
    with pytest.raises(SchemaError) as exc:
        schemas.validate(data, schema, label, root)
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("data", "schema", "message"),
    [
        ({}, "metrics", "metrics.json: $: 'final' is a required property (schema metrics)"),
        (
            {"final": {"loss": "low"}},
            "metrics",
            "metrics.json: $.final.loss: 'low' is not of type 'number', 'null' (schema metrics)",
        ),
        (
            {"final": {"loss": 1}, "history": [{"step": 0}, {"step": -1}]},
            "metrics",
            "metrics.json: $.history[1].step: -1 is less than the minimum of 0 (schema metrics)",
        ),
        ([], "metrics", "metrics.json: $: [] is not of type 'object' (schema metrics)"),
    ],
)
def test_error_names_file_json_path_and_problem(data: Any, schema: str, message: str) -> None:
    assert error_of(data, schema) == message


def test_error_in_a_referenced_schema() -> None:
    doc = {"phases": {"B": {"run_id": "r", "verdict": "RED", "passed": 0, "total": 1, "gates": [{"id": "g"}]}}}
    message = error_of(doc, "gate_results", "state/gate_results.yaml")
    assert message.startswith("state/gate_results.yaml: $.phases.B.gates[0]: ")
    assert message.endswith(" is a required property (schema gate_results)")


def test_long_problem_is_cut_and_newlines_folded() -> None:
    message = error_of({"final": {"loss": "line one\nline two " + "x" * 400}}, "metrics")
    problem = message.removeprefix("metrics.json: $.final.loss: ").removesuffix(" (schema metrics)")
    assert len(problem) == 160
    assert problem.endswith("...")
    assert problem.startswith("'line one\\nline two xxx")


def test_unknown_schema_name(tmp_path: Path) -> None:
    message = error_of({}, "no_such_thing", root=tmp_path)
    assert message.startswith("no schema named 'no_such_thing' (looked for no_such_thing.schema.json in ")
    assert str(tmp_path / "schemas") in message
    assert message.endswith(": add it or fix the artifacts in state/program.yaml")


def test_broken_schema_file(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "broken.schema.json").write_text("{not json")
    message = error_of({}, "broken", root=tmp_path)
    assert message == (
        f"{tmp_path / 'schemas' / 'broken.schema.json'} is not valid JSON (Expecting property name enclosed in "
        "double quotes, line 1): fix the schema"
    )


# --- a registry's own schemas --------------------------------------------------------------


def write_schema(root: Path, name: str, doc: dict[str, Any]) -> None:
    (root / "schemas").mkdir(parents=True, exist_ok=True)
    (root / "schemas" / f"{name}.schema.json").write_text(json.dumps(doc))


def test_registry_schema_extends_the_shipped_ones(tmp_path: Path) -> None:
    write_schema(
        tmp_path,
        "probe",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "registry/probe.schema.json",
            "type": "object",
            "required": ["accuracy"],
            "properties": {"accuracy": {"type": "number", "minimum": 0, "maximum": 1}},
        },
    )
    schemas.validate({"accuracy": 0.9}, "probe", "probe.json", tmp_path)
    assert error_of({"accuracy": 2}, "probe", "probe.json", tmp_path) == (
        "probe.json: $.accuracy: 2 is greater than the maximum of 1 (schema probe)"
    )
    # the shipped schemas are still there for the same root
    schemas.validate({"final": {"loss": 1.0}}, "metrics", "metrics.json", tmp_path)
    # and without the root the registry's schema is unknown
    with pytest.raises(SchemaError, match="^no schema named 'probe'"):
        schemas.validate({"accuracy": 0.9}, "probe", "probe.json")


def test_registry_schema_overrides_a_shipped_one(tmp_path: Path) -> None:
    write_schema(
        tmp_path,
        "metrics",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "registry/metrics.schema.json",
            "type": "object",
            "required": ["final", "history"],
        },
    )
    assert error_of({"final": {"loss": 1.0}}, "metrics", "metrics.json", tmp_path) == (
        "metrics.json: $: 'history' is a required property (schema metrics)"
    )
    schemas.validate({"final": {"loss": 1.0}}, "metrics", "metrics.json")  # the shipped one is unchanged


@pytest.mark.parametrize("schema_id", [None, "audit.schema.json", "gerhard/audit.schema.json"])
def test_registry_schema_can_reference_shipped_definitions(tmp_path: Path, schema_id: str | None) -> None:
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"gates": {"type": "array", "items": {"$ref": "gate_result.defs.json"}}},
    }
    write_schema(tmp_path, "audit", dict(doc, **({"$id": schema_id} if schema_id else {})))
    good = {"id": "g", "passed": True, "severity": "blocking", "observed": 1, "threshold": "< 2"}
    schemas.validate({"gates": [good]}, "audit", "audit.json", tmp_path)
    message = error_of({"gates": [dict(good, severity="fatal")]}, "audit", "audit.json", tmp_path)
    assert message.startswith("audit.json: $.gates[0].severity: 'fatal' is not one of ['blocking', 'advisory']")


def test_unresolvable_ref_in_a_registry_schema_is_a_user_error(tmp_path: Path) -> None:
    """A $ref that points nowhere is the schema author's mistake: one line, not a traceback."""
    write_schema(
        tmp_path,
        "audit",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "registry/audit.schema.json",
            "type": "object",
            "properties": {"gates": {"type": "array", "items": {"$ref": "no_such.defs.json"}}},
        },
    )
    schemas.validate({"gates": []}, "audit", "audit.json", tmp_path)  # nothing to resolve yet
    assert error_of({"gates": [{}]}, "audit", "audit.json", tmp_path) == (
        "audit.json: schema audit refers to 'no_such.defs.json', which cannot be found: "
        "fix the $ref in audit.schema.json"
    )


def test_invalid_registry_schema_is_a_user_error(tmp_path: Path) -> None:
    write_schema(tmp_path, "typo", {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "objekt"})
    message = error_of({}, "typo", "typo.json", tmp_path)
    assert message.startswith(f"{tmp_path / 'schemas' / 'typo.schema.json'} is not a valid JSON Schema ($.type: ")
    assert message.endswith("): fix the schema")


def test_json_path() -> None:
    assert schemas.json_path([]) == "$"
    assert schemas.json_path(["phases", 0, "gates", 12, "op"]) == "$.phases[0].gates[12].op"


# --- the run record's fast path (gerhard check reads every record) ------------------------------------


def test_the_record_fast_path_stands_in_for_the_shipped_schemas() -> None:
    for name, digest in schemas.RECORD_SCHEMA_SHA256.items():
        path = schemas.schema_dir() / (f"{name}.schema.json" if name == "run_record" else f"{name}.json")
        assert schemas.canonical_sha256(path) == digest, (
            f"{path.name} changed: make schemas._record_certainly_valid check what it now asks, then set "
            f"RECORD_SCHEMA_SHA256[{name!r}] to its canonical_sha256"
        )
    assert schemas._record_fast_path(None)


def test_a_registry_s_own_run_record_schema_turns_the_fast_path_off(tmp_path: Path) -> None:
    shipped = json.loads((schemas.schema_dir() / "run_record.schema.json").read_text())
    write_schema(tmp_path, "run_record", {**shipped, "required": [*shipped["required"], "owner"]})
    assert not schemas._record_fast_path(str(tmp_path))


RECORD: dict[str, Any] = {
    "run_id": "20261101T100000Z_dense",
    "seq": 1,
    "phase": "A",
    "verdict": "GREEN",
    "forced": False,
    "gates": [
        {"id": "g", "passed": True, "severity": "blocking", "artifact": "metrics.json", "path": "final.x",
         "observed": 1.5, "threshold": "<= 2", "baseline_run": None, "reason": None},
    ],
    "metrics": {"x": 1.5},
    "config_sha256": None,
    "config": None,
    "seed": 7,
    "code_sha": None,
    "code_dirty": None,
    "code_sha_source": "none",
    "artifact_root": "outputs/20261101T100000Z_dense",
    "bundle_sha256": "0" * 64,
    "registered_at": "2026-11-01T10:00:00Z",
    "summary": "",
    "next_action": "",
}  # fmt: skip
ODD = [None, True, 0, -1, 1.5, 5.0, "x", "GREEN", "0" * 64, "a b", [], {}, [{"id": "g"}], "registry HEAD"]


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.sampled_from([*RECORD, "artifact_remote", "remote_files", "gate"]), st.sampled_from(ODD)),
        max_size=3,
    ),
    drop=st.sampled_from([None, *RECORD]),
)
def test_the_record_fast_path_never_passes_what_jsonschema_refuses(
    edits: list[tuple[str, Any]], drop: str | None
) -> None:
    doc = copy.deepcopy(RECORD)
    for key, value in edits:
        if key == "gate" and isinstance(doc["gates"], list) and doc["gates"] and isinstance(doc["gates"][0], dict):
            doc["gates"][0]["severity" if value == "x" else "passed"] = value
        elif key == "gate":
            continue
        else:
            doc[key] = value
    if drop is not None:
        doc.pop(drop, None)
    if schemas._record_certainly_valid(doc):
        assert schemas.validator("run_record").is_valid(doc), doc
