"""state.py (+ yamlio.py): round-trip state files, atomic writes, and every way state can be broken."""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from gerhard import layout
from gerhard.core.phases import fold_run, initial_status
from gerhard.core.program import program_from_dict
from gerhard.core.records import RunRecord
from gerhard.errors import StateError
from gerhard.files import atomic_write
from gerhard.formats import statefiles
from gerhard.formats.yamlio import dump_yaml, load_state_yaml, to_plain
from gerhard.registry import store

PROGRAM = program_from_dict(
    {
        "program": "demo",
        "phases": [
            {
                "id": "A",
                "required": [],
                "gates": [{"id": "loss", "artifact": "m.json", "path": "v", "op": "<", "value": 1}],
            },
            {
                "id": "B",
                "required": [],
                "gates": [
                    {"id": "rel", "artifact": "m.json", "path": "v", "baseline": "best_green", "better": "lower"}
                ],
            },
        ],
    }
)


def run(run_id: str, phase: str, verdict: str, value: float = 0.5, when: str = "2026-01-15T10:00:00Z") -> RunRecord:
    gate_id = "loss" if phase == "A" else "rel"
    return RunRecord.from_dict(
        {
            "run_id": run_id,
            "phase": phase,
            "verdict": verdict,
            "registered_at": when,
            "gates": [{"id": gate_id, "passed": verdict != "RED", "observed": value}],
        }
    )


def status_after(*runs: RunRecord) -> dict[str, Any]:
    status = initial_status(PROGRAM)
    for r in runs:
        status = fold_run(status, PROGRAM, r)
    return status


def changed_lines(old: str, new: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


# --- render_state_yaml round trip ----------------------------------------------------------


def test_first_render_has_the_header() -> None:
    text = statefiles.render_state_yaml(None, status_after(), layout.STATUS)
    assert text.startswith(layout.DERIVED_HEADER)
    assert to_plain(load_state_yaml(text, layout.STATUS)) == status_after()


def test_hand_added_comments_and_keys_survive() -> None:
    text = statefiles.render_state_yaml(None, status_after(run("a1", "A", "GREEN")), layout.STATUS)
    text = text.replace("run_count: 1\n", "run_count: 1  # bumped by every registration\n")
    text = text.replace(
        "phases:\n", "# Reviewer note: phase B is on hold until the kernel lands.\nowner: team-spiking\nphases:\n"
    )
    text = text.replace("  B:\n", "  B:\n    reviewer: alice  # assigned in standup\n")
    assert text.count("reviewer: alice") == 1

    new = statefiles.render_state_yaml(
        text, status_after(run("a1", "A", "GREEN"), run("b1", "B", "RED")), layout.STATUS
    )
    assert "run_count: 2  # bumped by every registration\n" in new
    assert "# Reviewer note: phase B is on hold until the kernel lands.\nowner: team-spiking\n" in new
    assert "    reviewer: alice  # assigned in standup\n" in new
    assert new.startswith(layout.DERIVED_HEADER)
    data = to_plain(load_state_yaml(new, layout.STATUS))
    assert data["owner"] == "team-spiking"
    assert data["phases"]["B"]["reviewer"] == "alice"
    assert data["phases"]["B"]["state"] == "blocked"
    assert data["latest_run"] == "b1"


def test_unchanged_data_gives_byte_identical_text() -> None:
    status = status_after(run("a1", "A", "GREEN"), run("b1", "B", "GREEN", 2.5), run("b2", "B", "RED", 2.7))
    text = statefiles.render_state_yaml(None, status, layout.STATUS)
    assert statefiles.render_state_yaml(text, status, layout.STATUS) == text
    hand = text.replace("phases:\n", "phases:  # per phase\n") + "# trailing note\n"
    assert statefiles.render_state_yaml(hand, status, layout.STATUS) == hand


@pytest.mark.parametrize(
    "value",
    [
        5.960464477539063e-08,
        1.3811389124445388e-12,
        2.2250738585072014e-308,
        1e-05,
        0.1,
        1 / 3,
        12345.678,
        1e16,
        -7.1e-09,
    ],
)
def test_rerender_keeps_every_float_exactly(value: float) -> None:
    """A float written by gerhard must come back unchanged when the file is rendered again,
    not re-rounded from the digits ruamel remembers (5.960464477539063e-08 became ...062e-08)."""
    data = {"phases": {"B": {"observed": value, "gates": [{"observed": value}]}}}
    text = statefiles.render_state_yaml(None, data, layout.GATE_RESULTS)
    assert statefiles.render_state_yaml(text, data, layout.GATE_RESULTS) == text
    reloaded = to_plain(load_state_yaml(text, layout.GATE_RESULTS))
    assert dump_yaml(reloaded) == dump_yaml(data)
    assert reloaded["phases"]["B"]["observed"] == value
    # a run record read back from disk renders exactly as the fresh one did (rebuild == register)
    assert statefiles.render_state_yaml(None, reloaded, layout.GATE_RESULTS) == text


def test_human_written_float_formatting_is_kept() -> None:
    text = layout.DERIVED_HEADER + "program: demo\nthreshold_note: 1.0e-3\nlr: 3.0e-4\nrun_count: 1\n"
    new = statefiles.render_state_yaml(text, {"program": "demo", "run_count": 2}, layout.STATUS)
    assert changed_lines(text, new) == ["-run_count: 1", "+run_count: 2"]


def test_only_changed_lines_differ() -> None:
    before = status_after(run("a1", "A", "GREEN"), run("b1", "B", "GREEN", 2.5))
    text = statefiles.render_state_yaml(None, before, layout.STATUS)
    after = fold_run(before, PROGRAM, run("b2", "B", "RED", 2.7, when="2026-01-20T08:00:00Z"))
    new = statefiles.render_state_yaml(text, after, layout.STATUS)
    # phase B stays passed (its first GREEN run), so its state line is untouched; baselines too
    assert changed_lines(text, new) == [
        "-run_count: 2",
        "-latest_run: b1",
        "-latest_verdict: GREEN",
        "-latest_registered_at: '2026-01-15T10:00:00Z'",
        "+run_count: 3",
        "+latest_run: b2",
        "+latest_verdict: RED",
        "+latest_registered_at: '2026-01-20T08:00:00Z'",
        "-open_needs_input: []",
        "+open_needs_input:",
        "+  - run_id: b2",
        "+    phase: B",
        "+    failed_gates:",
        "+      - rel",
        "-  2026-01: 2",
        "+  2026-01: 3",
        "-    runs: 1",
        "-    latest_run: b1",
        "-    latest_verdict: GREEN",
        "+    runs: 2",
        "+    latest_run: b2",
        "+    latest_verdict: RED",
    ]


def test_only_changed_lines_differ_exact_count() -> None:
    base = {"program": "demo", "run_count": 1, "a": {"b": 1, "c": [1, 2]}, "z": "keep"}
    text = statefiles.render_state_yaml(None, base, layout.STATUS)
    new = statefiles.render_state_yaml(text, {**base, "a": {"b": 2, "c": [1, 2]}}, layout.STATUS)
    assert changed_lines(text, new) == ["-  b: 1", "+  b: 2"]


def test_no_anchors_or_aliases_for_shared_objects() -> None:
    point = {"run_id": "b1", "value": 2.5}
    shared = [1, 2]
    data = {"best": point, "last": point, "x": shared, "y": shared}
    for text in (dump_yaml(data), statefiles.render_state_yaml(None, data, layout.STATUS)):
        assert not re.search(r"[&*]id\d+", text)
        assert "&" not in text and "*" not in text
        assert to_plain(load_state_yaml(text, "x"))["last"] == point
    # the baselines of a GREEN run share one dict between best and last
    status = status_after(run("b1", "B", "GREEN", 2.5))
    slot = status["phases"]["B"]["baselines"]["rel"]
    assert slot["best"] is slot["last"]
    assert "&" not in statefiles.render_state_yaml(None, status, layout.STATUS)


def test_state_yaml_quotes_what_would_change_type() -> None:
    data = {"when": "2026-01-15T10:00:00Z", "yes": "yes", "num": "12", "null": "null", "month": "2026-01"}
    text = dump_yaml(data)
    assert to_plain(load_state_yaml(text, "x")) == data


# --- atomic_write --------------------------------------------------------------------------


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".gerhard-tmp"))


def test_atomic_write_writes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "dir" / "f.yaml"
    atomic_write(target, b"one\n")
    atomic_write(target, b"two\n")
    assert target.read_bytes() == b"two\n"
    assert leftovers(target.parent) == []
    assert target.stat().st_mode & 0o777 == 0o644


def test_atomic_write_leaves_nothing_when_rename_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.yaml"
    target.write_bytes(b"original\n")

    def boom(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new\n")
    assert target.read_bytes() == b"original\n"
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.yaml"]


def test_atomic_write_leaves_nothing_when_write_fails(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        atomic_write(tmp_path / "f.yaml", "not bytes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_leaves_nothing_on_interrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "chmod", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "f.yaml", b"x")
    assert list(tmp_path.iterdir()) == []


# --- reading broken state ------------------------------------------------------------------


def write(root: Path, rel: str, text: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)


def test_absent_state_files(tmp_path: Path) -> None:
    assert store.load_status(tmp_path) is None
    assert store.load_gate_results(tmp_path) == {"phases": {}}
    assert store.read_record(tmp_path, "r1") is None
    assert store.read_ledger(tmp_path, "2026-01") == []


def test_corrupt_yaml_is_a_state_error_naming_the_file(tmp_path: Path) -> None:
    write(tmp_path, layout.STATUS, "program: demo\nphases: [\n")
    with pytest.raises(StateError) as exc:
        store.load_status(tmp_path)
    message = str(exc.value)
    assert message.startswith("state/program_status.yaml is not valid YAML (")
    assert message.endswith("): fix it by hand or restore it with git checkout")
    assert "\n" not in message


def test_corrupt_gate_results_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, layout.GATE_RESULTS, "phases: {A: [}\n")
    with pytest.raises(StateError, match=r"^state/gate_results.yaml is not valid YAML \("):
        store.load_gate_results(tmp_path)


def test_schema_invalid_status_names_file_and_path(tmp_path: Path) -> None:
    text = statefiles.render_state_yaml(None, status_after(), layout.STATUS).replace("run_count: 0", "run_count: -3")
    write(tmp_path, layout.STATUS, text)
    with pytest.raises(StateError) as exc:
        store.load_status(tmp_path)
    assert str(exc.value) == (
        "state/program_status.yaml: $.run_count: -3 is less than the minimum of 0 (schema program_status): "
        "fix the file or run 'gerhard rebuild' ('gerhard check' lists every problem)"
    )


def test_non_utf8_state_file(tmp_path: Path) -> None:
    write(tmp_path, layout.STATUS, b"program: \xff\xfe\n")
    with pytest.raises(
        StateError,
        match=r"^state/program_status.yaml is not UTF-8 text: "
        r"restore it with 'git checkout -- state/program_status.yaml'$",
    ):
        store.load_status(tmp_path)


def test_corrupt_ledger_line(tmp_path: Path) -> None:
    write(tmp_path, layout.ledger_path("2026-01"), '{"seq": 1}\n{"seq": 2\n')
    corrupt = r"^state/ledger/2026-01.jsonl line 2 is corrupt: run 'gerhard rebuild' \('gerhard check' lists every"
    with pytest.raises(StateError, match=corrupt):
        store.read_ledger(tmp_path, "2026-01")


def test_recent_rows_reads_newest_months_first(tmp_path: Path) -> None:
    for month, seqs in {"2026-01": [1, 2], "2026-02": [3], "2026-03": [4, 5]}.items():
        write(tmp_path, layout.ledger_path(month), "".join(statefiles.ledger_line({"seq": s}) for s in seqs))
    months = ["2026-01", "2026-03", "2026-02"]
    assert [r["seq"] for r in store.recent_rows(tmp_path, months, 10)] == [5, 4, 3, 2, 1]
    assert [r["seq"] for r in store.recent_rows(tmp_path, months, 3)] == [5, 4, 3]
    assert [r["seq"] for r in store.recent_rows(tmp_path, months, 3, extra=[{"seq": 6}, {"seq": 7}])] == [7, 6, 5]
    # months that are not needed are not read: a corrupt old month does not matter
    write(tmp_path, layout.ledger_path("2026-01"), "garbage\n")
    assert [r["seq"] for r in store.recent_rows(tmp_path, months, 2)] == [5, 4]


def test_ledger_line_is_one_sorted_json_line() -> None:
    line = statefiles.ledger_line({"b": 1, "a": "x|y\nz", "é": "ü"})
    assert line.count("\n") == 1 and line.endswith("\n")
    assert line == '{"a": "x|y\\nz", "b": 1, "é": "ü"}\n'
    assert json.loads(line) == {"b": 1, "a": "x|y\nz", "é": "ü"}


# --- load_program --------------------------------------------------------------------------

GOOD = "program: p\nphases:\n  - id: A\n    required: [metrics.json]\n"


def program_error(tmp_path: Path, text: str) -> str:
    write(tmp_path, layout.PROGRAM, text)
    with pytest.raises(StateError) as exc:
        store.load_program(tmp_path)
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_load_program(tmp_path: Path) -> None:
    write(tmp_path, layout.PROGRAM, GOOD + "artifacts:\n  v15.json: v15_spikingbrain\n")
    program = store.load_program(tmp_path)
    assert program.name == "p"
    assert program.phase_ids == ["A"]
    assert program.phase("A").required == ("metrics.json",)
    assert program.schema_for("v15.json") == "v15_spikingbrain"
    assert program.schema_for("metrics.json") == "metrics"
    assert program.schema_for("notes.txt") is None


def test_missing_program(tmp_path: Path) -> None:
    with pytest.raises(StateError) as exc:
        store.load_program(tmp_path)
    assert str(exc.value) == (
        f"no state/program.yaml in {tmp_path}: run 'gerhard init' there (or pass --repo) and describe your phases"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "program: p\nphases:\n  - id: A\n    required: []\n    gates:\n"
            "      - {id: g, artifact: m.json, path: a, op: '<>', value: 1}\n",
            "state/program.yaml: $.phases[0].gates[0].op: '<>' is not one of "
            "['<', '<=', '>', '>=', '==', '!='] (schema program)",
        ),
        (
            "program: p\nphases:\n  - id: A\n",
            "state/program.yaml: $.phases[0]: 'required' is a required property (schema program)",
        ),
        ("program: p\n", "state/program.yaml: $: 'phases' is a required property (schema program)"),
        (
            "program: p\nphases:\n  - id: A\n    required: []\n  - id: B\n    required: []\n    colour: red\n",
            "state/program.yaml: $.phases[1]: Additional properties are not allowed "
            "('colour' was unexpected) (schema program)",
        ),
        (
            "program: p\nphases:\n  - id: A\n    required: []\n    gates:\n"
            "      - {id: g, artifact: m.json, path: a, range: [0, 'x']}\n",
            "state/program.yaml: $.phases[0].gates[0].range[1]: 'x' is not of type 'number' (schema program)",
        ),
    ],
)
def test_program_schema_error_names_the_json_path(tmp_path: Path, text: str, message: str) -> None:
    assert program_error(tmp_path, text) == message


def test_program_gate_with_two_kinds_is_refused(tmp_path: Path) -> None:
    message = program_error(
        tmp_path,
        "program: p\nphases:\n  - id: A\n    required: []\n    gates:\n"
        "      - {id: g, artifact: m.json, path: a, op: '<', value: 1, range: [0, 1]}\n",
    )
    assert message.startswith("state/program.yaml: $.phases[0].gates[0]: ")
    assert message.endswith(" (schema program)")


def test_duplicate_phase_id(tmp_path: Path) -> None:
    text = (
        "program: p\nphases:\n  - id: A\n    required: []\n  - id: B\n    required: []\n  - id: A\n    required: []\n"
    )
    assert (
        program_error(tmp_path, text) == "state/program.yaml: phase 'A' is declared twice: give each phase its own id"
    )


def test_duplicate_gate_id(tmp_path: Path) -> None:
    text = (
        "program: p\nphases:\n  - id: A\n    required: []\n    gates:\n"
        "      - {id: g, artifact: m.json, path: a, op: '<', value: 1}\n"
        "      - {id: h, artifact: m.json, path: a, op: '<', value: 1}\n"
        "      - {id: g, artifact: m.json, path: b, range: [0, 1]}\n"
    )
    assert program_error(tmp_path, text) == "state/program.yaml: phase A has gate 'g' twice: gate ids must be unique"


def test_same_gate_id_in_two_phases_is_fine(tmp_path: Path) -> None:
    gate = "    gates:\n      - {id: g, artifact: m.json, path: a, op: '<', value: 1}\n"
    write(
        tmp_path,
        layout.PROGRAM,
        "program: p\nphases:\n  - id: A\n    required: []\n" + gate + "  - id: B\n    required: []\n" + gate,
    )
    assert [p.gates[0].id for p in store.load_program(tmp_path).phases] == ["g", "g"]


def test_program_not_a_mapping(tmp_path: Path) -> None:
    assert (
        program_error(tmp_path, "- A\n- B\n")
        == "state/program.yaml must be a mapping with 'program' and 'phases': see 'gerhard init'"
    )


def test_corrupt_program_yaml(tmp_path: Path) -> None:
    message = program_error(tmp_path, "program: p\nphases: [\n")
    assert message.startswith("state/program.yaml is not valid YAML (")


def test_shipped_program_loads() -> None:
    root = Path(__file__).resolve().parent.parent
    program = store.load_program(root)
    assert program.phase_ids == ["A", "B", "C"]
    gates = {g.id: g for g in program.phase("B").gates}
    assert gates["val_loss_vs_best_green"].min_improvement == -0.05
    assert gates["energy_ratio_advisory"].severity == "advisory"
    assert gates["spike_rate_band"].range == (0.05, 0.25)


def test_recent_rows_parse_only_the_newest_lines_of_a_month(tmp_path: Path) -> None:
    """A month of thousands of runs: the newest rows are read from its end, an older line is not parsed,
    and a corrupt line among the newest is named by its line number in the file."""
    rows = "".join(statefiles.ledger_line({"seq": s}) for s in range(1, 6))
    write(tmp_path, layout.ledger_path("2026-01"), "garbage\n" + rows)
    assert [r["seq"] for r in store.recent_rows(tmp_path, ["2026-01"], 3)] == [5, 4, 3]
    write(tmp_path, layout.ledger_path("2026-01"), rows + '{"seq": 6\n')
    with pytest.raises(StateError, match=r"^state/ledger/2026-01.jsonl line 6 is corrupt"):
        store.recent_rows(tmp_path, ["2026-01"], 2)
