"""gerhard.core.records: typed records read from state files and given back key for key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cli_helpers import load_yaml, register_ok

from gerhard.core.records import Decision, LedgerRow, RunRecord, Status, gate_counts
from gerhard.formats.yamlio import dump_yaml
from gerhard.registry import queries, store

RECORD = {
    "run_id": "r1",
    "seq": 3,
    "phase": "B",
    "verdict": "RED",
    "gates": [
        {"id": "loss", "passed": False, "severity": "blocking", "observed": 3.1, "threshold": "< 3"},
        {"id": "energy", "passed": True, "severity": "advisory", "observed": 0.4, "threshold": "< 1"},
    ],
    "registered_at": "2026-02-23T19:05:00Z",
    "reviewer": "alice",  # a key a human added
    "summary": "went up",
}


def test_a_record_reads_typed_and_gives_back_the_same_keys_in_the_same_order() -> None:
    record = RunRecord.from_dict(RECORD)
    assert (record.run_id, record.seq, record.phase, record.verdict) == ("r1", 3, "B", "RED")
    assert (record.passed, record.total, record.failed_gates, record.month) == (1, 2, ["loss"], "2026-02")
    assert record.extra == {"reviewer": "alice"}
    assert record.as_dict() == RECORD and list(record.as_dict()) == list(RECORD)
    assert record["reviewer"] == "alice" and record["gates"] == RECORD["gates"] and record.get("forced") is None


def test_defaults_fill_what_a_file_left_out_and_are_not_written_back() -> None:
    record = RunRecord.from_dict(RECORD)
    assert (record.forced, record.code_sha, record.remote_files, record.dossier) == (False, None, (), None)
    assert "forced" not in record.as_dict()
    with pytest.raises(KeyError):
        record["forced"]


def test_a_record_without_its_identity_is_refused() -> None:
    with pytest.raises(ValueError, match="^a RunRecord needs registered_at$"):
        RunRecord.from_dict({k: v for k, v in RECORD.items() if k != "registered_at"})


def test_records_are_frozen_values() -> None:
    record = RunRecord.from_dict(RECORD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.verdict = "GREEN"  # type: ignore[misc]
    assert record == RunRecord.from_dict(dict(RECORD))


def test_gate_counts_is_the_one_place_gates_are_counted() -> None:
    assert gate_counts(RECORD["gates"]) == (1, 2) and gate_counts([]) == (0, 0)


def test_a_decision_and_a_ledger_row_round_trip() -> None:
    decision = {
        "decision": "waive",
        "run_id": "r1",
        "phase": "B",
        "reason": "advisory until the kernel lands",
        "decided_at": "2026-02-24T09:00:00Z",
        "decided_by": "A Researcher <a@example.com>",
        "run_count": 3,
    }
    assert Decision.from_dict(decision).as_dict() == decision and Decision.from_dict(decision).replaces is None
    row = {"seq": 3, "run_id": "r1", "phase": "B", "verdict": "RED", "passed": 1, "total": 2, "month": "2026-02"}
    typed = LedgerRow.from_dict({**row, "registered_at": "2026-02-23T19:05:00Z"})
    assert typed.extra == {"month": "2026-02"} and typed.passed == 1


def test_the_status_reads_with_typed_phases(registry: Path, bundle_a: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register_ok(capsys, registry, "a1", "A", bundle_a)
    plain = store.load_status(registry)
    assert plain is not None
    status = Status.from_dict(plain)
    assert status.run_count == 1 and status.latest_run == "a1"
    assert status.phases["A"].passed_by == "a1" and status.phases["A"].state == "passed"
    assert set(status.all_phases) == set(plain["phases"])
    assert status.as_dict() == plain


def test_a_registered_record_reads_back_exactly_as_written(
    registry: Path, bundle_a: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_ok(capsys, registry, "a1", "A", bundle_a)
    record = queries.resolve_run(registry, "a1")
    on_disk = load_yaml(registry / "state" / "runs" / "a1.yaml")
    assert record.as_dict() == on_disk and list(record.as_dict()) == list(on_disk)
    assert dump_yaml(record.as_dict()) in (registry / "state" / "runs" / "a1.yaml").read_text()
