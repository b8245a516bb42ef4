"""derive.py: folding runs and decisions one at a time (register, decide) equals rebuilding from
every record and decision.

The property test drives `fold_files` the way registration does and `decide_files` the way
`gerhard decide` does: each step reads the derived files the previous steps wrote (status, gate
results, ledger months for `recent`, existing text for the round-trip merge), evaluates the
phase's gates against the baselines in that status (or decides an open needs-input, or resumes a
stopped program), and writes its output back. Rebuilding from the resulting records and decisions
must give exactly the same files.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import random
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gerhard import layout
from gerhard.core import derive, reports
from gerhard.core.derive import fold_files, gate_results_after, needs_input_doc, rebuild_files, status_now
from gerhard.core.gates import Baseline, evaluate_gates
from gerhard.core.phases import (
    DIGEST,
    STOP,
    STOPPED,
    WITHDRAW,
    baselines_for,
    check_not_stopped,
    initial_status,
    program_digest,
    status_for_program,
)
from gerhard.core.program import Program, program_from_dict
from gerhard.core.records import RunRecord
from gerhard.errors import StateError, UserError
from gerhard.files import atomic_write
from gerhard.flows import decisions
from gerhard.flows.registration import derived_files
from gerhard.formats import schemas, statefiles
from gerhard.formats.yamlio import load_state_yaml
from gerhard.registry import queries, store

PROGRAM_DATA: dict[str, Any] = {
    "program": "property",
    "artifacts": {"v15.json": "v15_spikingbrain"},
    "phases": [
        {
            "id": "A",
            "title": "Dense | baseline",
            "required": ["metrics.json"],
            "gates": [
                {"id": "loss", "artifact": "metrics.json", "path": "final.val_loss", "op": "<=", "value": 2.6},
                {
                    "id": "acc_vs_last",
                    "artifact": "metrics.json",
                    "path": "final.acc",
                    "baseline": "last_green",
                    "better": "higher",
                    "min_relative_improvement": 0.01,
                },
            ],
        },
        {
            "id": "B",
            "title": "Spiking",
            "required": ["metrics.json", "eval_suite.json", "v15.json"],
            "gates": [
                {"id": "loss", "artifact": "metrics.json", "path": "final.val_loss", "op": "<=", "value": 2.9},
                {"id": "pass_rate", "artifact": "eval_suite.json", "path": "pass_rate", "op": ">=", "value": 0.5},
                {"id": "spikes", "artifact": "v15.json", "path": "layers.0.spike_rate", "range": [0.05, 0.25]},
                {
                    "id": "energy",
                    "artifact": "v15.json",
                    "path": "energy_ratio",
                    "op": "<=",
                    "value": 0.5,
                    "severity": "advisory",
                },
                {
                    "id": "loss_vs_best",
                    "artifact": "metrics.json",
                    "path": "final.val_loss",
                    "baseline": "best_green",
                    "better": "lower",
                    "min_improvement": -0.05,
                },
            ],
        },
        {
            "id": "C",
            "title": "Long context",
            "required": ["metrics.json"],
            "gates": [
                {"id": "mode", "artifact": "config.yaml", "path": "model.mode", "op": "==", "value": "spiking"},
                {"id": "loss", "artifact": "metrics.json", "path": "final.val_loss", "op": "<=", "value": 2.7},
            ],
        },
    ],
}
PROGRAM = program_from_dict(PROGRAM_DATA)

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

BAD_VALUES = st.sampled_from([math.nan, math.inf, -math.inf, None, 9.0, -1.0, 1e-05, 5.960464477539063e-08])


def values(low: float, high: float, edges: list[float]) -> st.SearchStrategy[Any]:
    """Mostly values that pass (so phases pass and baselines form), sometimes edges or junk."""
    good = st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
    return st.one_of(good, good, st.sampled_from(edges), BAD_VALUES)


summaries = st.sampled_from(
    ["", "ok", "loss | acc\nboth fine", "<script>alert(1)</script>", "  spaced  out  ", "é ünïcode"]
)
run_specs = st.fixed_dictionaries(
    {
        "phase": st.sampled_from(PROGRAM.phase_ids),
        "loss": values(1.5, 2.6, [2.0, 2.04, 2.05, 2.06, 2.6, 2.9, 1 / 3]),
        "acc": values(0.3, 0.9, [0.5, 0.505, 0.51, 0.0]),
        "pass_rate": values(0.5, 1.0, [0.5, 0.4999]),
        "spike": values(0.05, 0.25, [0.05, 0.25, 0.26]),
        "energy": values(0.0, 1.0, [0.5, 0.51]),
        "mode": st.sampled_from(["spiking", "spiking", "dense", None]),
        "drop_eval": st.sampled_from([False, False, False, True]),  # a missing artifact
        "gap": st.integers(min_value=1, max_value=25 * 24 * 3600),  # seconds since the previous run
        "summary": summaries,
    }
)


# A decision step: decide the open needs-input item `pick` (or, while stopped, resume the stopped run);
# withdraw: the registered run `pick` that is not withdrawn yet, whatever its verdict.
decision_specs = st.fixed_dictionaries(
    {
        "decide": st.sampled_from(["waive", "advance", "rerun", "stop", "withdraw"]),
        "pick": st.integers(min_value=0, max_value=7),
        "gap": st.sampled_from([0, 0, 1, 3600]),  # 0: in the same second as the step before
        "reason": st.sampled_from(["ok", "energy | fine\nreally", "<b>x</b> @mention", "é"]),
    }
)
steps = st.one_of(run_specs, run_specs, decision_specs)


def artifacts_of(spec: dict[str, Any]) -> dict[str, Any]:
    arts: dict[str, Any] = {
        "metrics.json": {"final": {"val_loss": spec["loss"], "acc": spec["acc"]}},
        "v15.json": {
            "model": "m",
            "spike_rate": {"mean": spec["spike"]},
            "energy_ratio": spec["energy"],
            "layers": [{"name": "b0", "spike_rate": spec["spike"]}],
        },
        "config.yaml": {"model": {"mode": spec["mode"]}},
    }
    if not spec["drop_eval"]:
        arts["eval_suite.json"] = {
            "suite": "s",
            "tasks": [{"name": "t", "score": 0.5, "passed": True}],
            "pass_rate": spec["pass_rate"],
        }
    return arts


def build_record(
    spec: dict[str, Any], status: dict[str, Any], when: dt.datetime, program: Program = PROGRAM
) -> RunRecord:
    """What registration.build_record makes of a bundle: the gates evaluated against the baselines
    in the status as it stands before this run."""
    phase = program.phase(spec["phase"])
    arts = artifacts_of(spec)
    report = evaluate_gates(list(phase.gates), arts, baselines_for(status, phase.gates, phase.id))
    seq = int(status["run_count"]) + 1
    run_id = when.strftime("%Y%m%dT%H%M%SZ") + f"_r{seq}"
    return RunRecord.from_dict(
        {
            "run_id": run_id,
            "seq": seq,
            "phase": phase.id,
            "verdict": report.verdict,
            "forced": False,
            "gates": [r.as_dict() for r in report.results],
            "metrics": dict(arts["metrics.json"]["final"]),
            "config_sha256": f"{seq:064x}",
            "config": arts["config.yaml"],
            "seed": seq * 7,
            "code_sha": "3f9c2a1d8e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a",
            "code_dirty": seq % 2 == 0,
            "code_sha_source": "provenance.json",
            "artifact_root": f"outputs/{run_id}",
            "bundle_sha256": f"{seq * 31:064x}",
            "files": 4,
            "registered_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "summary": spec["summary"],
            "next_action": "rerun" if report.verdict == "RED" else "",
        }
    )


def decide_one(root: Path, program: Program, spec: dict[str, Any], when: dt.datetime) -> dict[str, str] | None:
    """One decision as decisions.decide makes it (no commit): an open item, or the stopped run resumed;
    None when there is nothing to decide."""
    reader = lambda rel: store.read_text(root, rel)  # noqa: E731
    status = status_now(program, store.load_status(root), reader)
    word, replaced = spec["decide"], None
    if status.get(STOPPED):
        target = status["last_decision"]["run_id"]
        word = "rerun" if word in (STOP, WITHDRAW) else word
    elif word == WITHDRAW:
        withdrawn = set(status.get("withdrawn") or {})
        live = [r.run_id for r in queries.all_records(root) if r.run_id not in withdrawn]
        if not live:
            return None
        target = live[spec["pick"] % len(live)]
    elif status["open_needs_input"]:
        target = status["open_needs_input"][spec["pick"] % len(status["open_needs_input"])]["run_id"]
    else:
        return None
    record = store.read_record(root, target)
    assert record is not None
    replaced = decisions.check_decidable(root, status, record, word)
    doc = decisions.decision_doc(root, status, record, word, spec["reason"], when, replaced)
    _, files = decisions.decided_files(root, program, status, doc)
    for rel, data in files.items():
        atomic_write(root / rel, data)
    return {rel: data.decode() for rel, data in files.items()}


def register_one_run(
    root: Path, program: Program, status: dict[str, Any], spec: dict[str, Any], when: dt.datetime
) -> tuple[dict[str, Any], dict[str, str]]:
    record = build_record(spec, status, when, program)
    schemas.validate(record.as_dict(), "run_record", "record")
    # Exactly what a registration folds (registration.derived_files), written back as it does.
    files = derived_files(root, program, status, record)
    for rel, data in files.items():
        atomic_write(root / rel, data)
    return record, {rel: data.decode() for rel, data in files.items()}


def register_all(
    root: Path, program: Program, specs: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Fold runs and decisions in one at a time like register and decide; returns records and every
    file written. A run while the program is stopped is refused, as registration refuses it."""
    records: list[dict[str, Any]] = []
    written: dict[str, str] = {}
    when = START
    for spec in specs:
        when += dt.timedelta(seconds=spec["gap"])
        if "decide" in spec:
            written.update(decide_one(root, program, spec, when) or {})
            continue
        status = store.load_status(root) or initial_status(program)  # schema-checked read of the last write
        if status.get(STOPPED):
            with pytest.raises(UserError, match="^a decision stopped the program on "):
                check_not_stopped(status)
            continue
        record, files = register_one_run(root, program, status, spec, when)
        records.append(record)
        written.update(files)
    return records, written


SOURCES = (layout.RUNS_DIR + "/", layout.DECISIONS_DIR + "/")


def decisions_on_disk(root: Path) -> list[dict[str, Any]]:
    folder = root / layout.DECISIONS_DIR
    return [store.read_decision(root, p.stem) or {} for p in sorted(folder.glob("*.yaml"))] if folder.is_dir() else []


def assert_needs_input_agrees(root: Path, derived: dict[str, str]) -> None:
    """A needs-input file is open exactly when the status (and so the index) lists it as open."""
    status = store.load_status(root)
    assert status is not None
    listed = {n["run_id"] for n in status["open_needs_input"]}
    for path in sorted((root / layout.NEEDS_DIR).glob("*.yaml")) if (root / layout.NEEDS_DIR).is_dir() else []:
        doc = store.load_yaml_file(root, str(path.relative_to(root)), "needs_input")
        assert (doc["status"] == "open") == (path.stem in listed), (path.stem, doc["status"])
        decision = store.read_decision(root, path.stem)
        assert (doc["status"] == "resolved") == (decision is not None)
    for run_id in listed:
        assert f"[`{run_id}`](../state/needs_input/{run_id}.yaml)" in derived[layout.INDEX]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=run_specs,
    specs=st.lists(steps, max_size=10),
    index_recent=st.sampled_from([3, 50]),
    shuffle_seed=st.integers(0, 99),
)
def test_folding_one_run_at_a_time_equals_rebuilding(
    first: dict[str, Any], specs: list[dict[str, Any]], index_recent: int, shuffle_seed: int
) -> None:
    # A small index window makes `recent` span months and drop rows, as it does after 50 runs.
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(reports, "INDEX_RECENT", index_recent):
        root = Path(tmp)
        records, written = register_all(root, PROGRAM, [first, *specs])
        derived = {rel: text for rel, text in written.items() if not rel.startswith(SOURCES)}
        decided = decisions_on_disk(root)

        shuffled, decided_shuffled = list(records), list(decided)
        random.Random(shuffle_seed).shuffle(shuffled)  # rebuild orders by seq, not by input order
        random.Random(shuffle_seed).shuffle(decided_shuffled)  # and decisions by when they were made
        assert rebuild_files(PROGRAM, shuffled, lambda rel: None, decided_shuffled) == derived
        assert_needs_input_agrees(root, derived)

        # What `gerhard rebuild` does: records read back from state/runs/, existing files on disk.
        from_disk = queries.all_records(root)
        assert [r["run_id"] for r in from_disk] == [r["run_id"] for r in records]
        assert rebuild_files(PROGRAM, from_disk, lambda rel: store.read_text(root, rel)) == derived

        status = store.load_status(root)
        assert status is not None and status["run_count"] == len(records)
        rows = re.findall(r"^\| \d{4}-\d\d-\d\dT[^|]*\| \[`([^`]+)`\]", derived[layout.INDEX], re.M)
        assert rows == [r["run_id"] for r in reversed(records)][:index_recent]


def spec_a(**changes: Any) -> dict[str, Any]:
    """A run spec (as the strategies draw them) of phase A that passes its gates, with these changes."""
    spec = {
        "phase": "A",
        "loss": 2.0,
        "acc": 0.5,
        "pass_rate": 0.9,
        "spike": 0.1,
        "energy": 0.1,
        "mode": "spiking",
        "drop_eval": False,
        "summary": "",
    }
    return {**spec, **changes}


def make_records(n: int, months: list[str]) -> list[dict[str, Any]]:
    out = []
    status = initial_status(PROGRAM)
    for i in range(n):
        month = months[i * len(months) // n]
        when = dt.datetime.fromisoformat(f"{month}-01T00:00:00+00:00") + dt.timedelta(hours=i)
        spec = spec_a(summary=f"run {i}")
        rec = build_record(spec, status, when)
        status["run_count"] += 1  # baselines do not matter here
        out.append(rec)
    return out


def test_index_lists_at_most_50_recent_runs_and_links_month_pages() -> None:
    records = make_records(120, ["2026-01", "2026-02", "2026-03"])
    files = rebuild_files(PROGRAM, records, lambda rel: None)
    index = files[layout.INDEX]
    rows = re.findall(r"^\| 2026-\d\d-\d\dT[^|]*\| \[`([^`]+)`\]\((\d{4}/\d\d)/", index, re.M)
    assert len(rows) == reports.INDEX_RECENT == 50
    assert [r for r, _ in rows] == [r["run_id"] for r in reversed(records)][:50]  # newest first
    assert rows[0][1] == "2026/03" and rows[-1][1] == "2026/02"  # the window crosses a month boundary
    assert "## Recent runs (latest 50 of 120)" in index
    assert (
        "- [2026-03](2026/03/index.md) — 40 runs\n"
        "- [2026-02](2026/02/index.md) — 40 runs\n"
        "- [2026-01](2026/01/index.md) — 40 runs\n" in index
    )
    for month in ("2026/01", "2026/02", "2026/03"):
        page = files[f"reports/{month}/index.md"]
        assert page.count("\n| ") - 2 == 40  # 40 data rows after the header and separator rows
        assert "[Back to the index](../../index.md)" in page
    latest = records[-1]
    assert f"[`{latest['run_id']}`](2026/03/{latest['run_id']}.md)" in index.split("## Open needs-input")[0]


def test_index_with_one_run_in_a_month_says_run() -> None:
    files = rebuild_files(PROGRAM, make_records(1, ["2026-05"]), lambda rel: None)
    assert "- [2026-05](2026/05/index.md) — 1 run\n" in files[layout.INDEX]


def test_rebuild_of_nothing() -> None:
    files = rebuild_files(PROGRAM, [], lambda rel: None)
    assert set(files) == {layout.STATUS, layout.GATE_RESULTS, layout.INDEX, layout.BOARD}
    assert "No run registered yet." in files[layout.INDEX]
    assert "No gates evaluated yet." in files[layout.BOARD]


def test_red_run_writes_needs_input_file() -> None:
    spec = spec_a(loss=9.0, mode="x", summary="bad")
    rec = build_record(spec, initial_status(PROGRAM), START)
    assert rec["verdict"] == "RED"
    _, files = fold_files(PROGRAM, None, {"phases": {}}, rec, [], lambda rel: None)
    rel = layout.needs_input_path(rec["run_id"])
    assert rel in files
    assert files[rel].startswith(f"# Run {rec['run_id']} is RED: a human decision is needed")
    doc = needs_input_doc(rec)
    schemas.validate(doc, "needs_input", rel)
    assert [g["id"] for g in doc["failed_gates"]] == ["loss"]
    assert [o["option"] for o in doc["options"]] == ["rerun", "waive", "stop"]


def test_gate_results_after_keeps_other_phases_and_extra_keys() -> None:
    spec = spec_a(mode="x")
    rec = build_record(spec, initial_status(PROGRAM), START)
    before = {"phases": {"B": {"run_id": "old"}}, "note": "kept"}
    after = gate_results_after(before, rec)
    assert after["note"] == "kept"
    assert after["phases"]["B"] == {"run_id": "old"}
    assert after["phases"]["A"]["passed"] == 2 and after["phases"]["A"]["total"] == 2
    assert before == {"phases": {"B": {"run_id": "old"}}, "note": "kept"}


# --- program.yaml edited between registrations ------------------------------------------------


def edit(change: Callable[[dict[str, Any]], None]) -> Program:
    data = copy.deepcopy(PROGRAM_DATA)
    change(data)
    return program_from_dict(data)


def phases_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in data["phases"]}


def gate_of(data: dict[str, Any], phase: str, gate: str) -> dict[str, Any]:
    return next(g for g in phases_of(data)[phase]["gates"] if g["id"] == gate)


def drop_b(data: dict[str, Any]) -> None:
    data["phases"] = [p for p in data["phases"] if p["id"] != "B"]


def reorder(data: dict[str, Any]) -> None:
    data["phases"] = [phases_of(data)[p] for p in ("C", "A", "B")]


def retitle(data: dict[str, Any]) -> None:
    data["program"] = "renamed"
    for p in data["phases"]:
        p["title"] = f"{p['title']} (v2)"


def flip_baselines(data: dict[str, Any]) -> None:
    gate_of(data, "B", "loss_vs_best")["better"] = "higher"
    gate_of(data, "A", "acc_vs_last")["baseline"] = "best_green"


def insert_d(data: dict[str, Any]) -> None:
    loss = {"id": "loss", "artifact": "metrics.json", "path": "final.val_loss", "op": "<=", "value": 2.6}
    data["phases"].insert(0, {"id": "D", "title": "Warm-up", "required": ["metrics.json"], "gates": [loss]})


def absolute_acc(data: dict[str, Any]) -> None:
    gate = gate_of(data, "A", "acc_vs_last")
    for key in ("baseline", "better", "min_relative_improvement"):
        del gate[key]
    gate.update(op=">=", value=0.3)


def loosen(data: dict[str, Any]) -> None:
    gate_of(data, "B", "loss")["value"] = 9.0
    phases_of(data)["B"]["required"] = ["metrics.json"]


PROGRAMS = [
    PROGRAM,
    *(edit(c) for c in (drop_b, reorder, retitle, flip_baselines, insert_d, absolute_acc, loosen)),
    edit(lambda d: (drop_b(d), insert_d(d), retitle(d))),
]


def register_one(root: Path, program: Program, spec: dict[str, Any], when: dt.datetime) -> dict[str, Any] | None:
    """One registration as registration.register does it (or one decision as decisions.decide makes
    it), against whatever program.yaml says now."""
    if "decide" in spec:
        decide_one(root, program, spec, when)
        return None
    status = status_now(program, store.load_status(root), lambda rel: store.read_text(root, rel))
    if status.get(STOPPED):
        return None
    phase = spec["phase"] if spec["phase"] in program.phase_ids else program.phase_ids[0]
    record = build_record(dict(spec, phase=phase), status, when, program)
    for rel, data in derived_files(root, program, status, record).items():
        atomic_write(root / rel, data)
    return record


def assert_rebuild_matches_disk(root: Path, program: Program) -> None:
    """`gerhard rebuild --check` passes: every derived file on disk is what a rebuild makes."""
    rebuilt = rebuild_files(program, queries.all_records(root), lambda rel: store.read_text(root, rel))
    assert {rel: store.read_text(root, rel) for rel in rebuilt} == rebuilt


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, len(PROGRAMS) - 1), steps), min_size=1, max_size=8))
def test_folding_after_program_edits_equals_rebuilding(edits: list[tuple[int, dict[str, Any]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        when = START
        for index, spec in edits:
            when += dt.timedelta(seconds=spec["gap"])
            before = store.read_text(root, layout.STATUS)
            register_one(root, PROGRAMS[index], spec, when)
            if store.read_text(root, layout.STATUS) == before:
                continue  # nothing to decide, or a run while stopped: nothing written
            assert_rebuild_matches_disk(root, PROGRAMS[index])
            status = store.load_status(root)
            assert status is not None and status[DIGEST] == program_digest(PROGRAMS[index])
            assert list(status["phases"]) == PROGRAMS[index].phase_ids  # in the file too, in its order


def green_a(acc: float) -> dict[str, Any]:
    return spec_a(acc=acc, gap=3600)


def test_status_now_recomputes_baselines_after_a_gate_edit(tmp_path: Path) -> None:
    register_one(tmp_path, PROGRAM, green_a(0.5), START)
    best = register_one(tmp_path, PROGRAM, green_a(0.7), START + dt.timedelta(hours=1))
    register_one(tmp_path, PROGRAM, green_a(0.6), START + dt.timedelta(hours=2))  # not 1% better than 0.7: RED
    stored = store.load_status(tmp_path)
    assert stored is not None
    program = edit(lambda d: gate_of(d, "A", "acc_vs_last").update(baseline="best_green"))

    now = status_now(program, stored, lambda rel: store.read_text(tmp_path, rel))

    assert baselines_for(now, program.phase("A").gates, "A") == {"acc_vs_last": Baseline(best["run_id"], 0.7)}
    assert now[DIGEST] == stored[DIGEST] != program_digest(program)  # the files still need recomputing
    assert status_now(PROGRAM, stored, lambda rel: store.read_text(tmp_path, rel)) == stored
    assert status_now(PROGRAM, None, lambda rel: None) == initial_status(PROGRAM)


def test_refold_names_a_record_the_ledger_lists_but_is_gone(tmp_path: Path) -> None:
    first = register_one(tmp_path, PROGRAM, green_a(0.5), START)
    (tmp_path / layout.record_path(first["run_id"])).unlink()
    with pytest.raises(StateError) as exc:
        register_one(tmp_path, edit(retitle), green_a(0.6), START + dt.timedelta(hours=1))
    assert str(exc.value) == (
        f"state/ledger/2026-01.jsonl lists run {first['run_id']} but "
        f"state/runs/{first['run_id']}.yaml is missing: restore it from git"
    )


def test_status_file_drops_a_removed_phase_but_keeps_human_notes(tmp_path: Path) -> None:
    register_one(tmp_path, PROGRAM, dict(green_a(0.5), phase="C", mode="spiking"), START)
    path = tmp_path / layout.STATUS
    text = path.read_text()
    assert "  B:\n" in text
    for noted in (False, True):  # gerhard's own text (the fast path), then with a comment (round trip)
        if noted:
            path.write_text(text.replace("run_count: 1\n", "run_count: 1  # a note\n") + "owner: alice\n")
        program = edit(drop_b)
        status = status_for_program(store.load_status(tmp_path) or {}, program)
        rendered = derive.summary_files(program, status, {"phases": {}}, [], lambda rel: path.read_text())
        after = load_state_yaml(rendered[layout.STATUS], layout.STATUS)
        assert list(after["phases"]) == ["A", "C"]
        assert "B:" not in rendered[layout.STATUS]
        assert ("run_count: 1  # a note\n" in rendered[layout.STATUS]) is noted
        assert ("owner: alice\n" in rendered[layout.STATUS]) is noted


def test_status_file_follows_the_program_order_keeping_comments() -> None:
    existing = statefiles.render_state_yaml(
        None, {"program": "p", "phases": {"A": {"runs": 1}, "B": {"runs": 0}}}, layout.STATUS
    )
    # A comment line belongs to the entry above it in ruamel's model: put it inside B's mapping.
    existing = existing.replace("  B:\n", "  B:\n    # B is next\n").replace("runs: 1\n", "runs: 1  # done\n")
    data = {"program": "p", "phases": {"B": {"runs": 0}, "A": {"runs": 1}}}
    text = statefiles.render_state_yaml(existing, data, layout.STATUS, owned=derive.STATUS_OWNED)
    assert text.endswith("phases:\n  B:\n    # B is next\n    runs: 0\n  A:\n    runs: 1  # done\n")
    assert statefiles.render_state_yaml(text, data, layout.STATUS, owned=derive.STATUS_OWNED) == text
