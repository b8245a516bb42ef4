"""registry/regate.py: a run's gates evaluated again from its archived files, against its record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gerhard.core.gates import Baseline, evaluate_gates
from gerhard.core.program import program_from_dict
from gerhard.core.records import RunRecord
from gerhard.registry import regate

PROGRAM = program_from_dict(
    {
        "program": "p",
        "phases": [
            {
                "id": "B",
                "required": ["metrics.json"],
                "gates": [
                    {"id": "loss", "artifact": "metrics.json", "path": "final.val_loss", "op": "<=", "value": 2.9},
                    {"id": "first", "artifact": "eval_suite.json", "path": "tasks.0.passed", "op": "==", "value": True},
                    {
                        "id": "vs_best",
                        "artifact": "metrics.json",
                        "path": "final.val_loss",
                        "baseline": "best_green",
                        "better": "lower",
                        "min_improvement": -0.05,
                    },
                ],
            }
        ],
    }
)
PHASE = PROGRAM.phase("B")


def files(loss: Any = 2.7, suite: bool = True) -> dict[str, bytes]:
    out = {"metrics.json": json.dumps({"final": {"val_loss": loss}, "history": [{"step": 1, "loss": 3.0}]}).encode()}
    if suite:
        out["eval_suite.json"] = json.dumps({"tasks": [{"name": "t", "passed": True}]}).encode()
    return out


def record(loss: Any = 2.7, baseline: Baseline | None = None, suite: bool = True, **changes: Any) -> RunRecord:
    """What registration recorded for these files (evaluate_gates, as registration calls it)."""
    artifacts = {name: json.loads(data) for name, data in files(loss, suite).items()}
    report = evaluate_gates(list(PHASE.gates), artifacts, {"vs_best": baseline} if baseline else {})
    data = {
        "run_id": "r2",
        "phase": "B",
        "verdict": report.verdict,
        "registered_at": "2026-11-02T00:00:00Z",
        "gates": [r.as_dict() for r in report.results],
    }
    return RunRecord.from_dict({**data, **changes})


OBSERVED = {("r1", "vs_best"): 2.6}


def observed(run_id: str, gate_id: str) -> Any:
    return OBSERVED.get((run_id, gate_id))


def again(rec: RunRecord, archived: dict[str, bytes]) -> str | None:
    report = regate.evaluate_again(PHASE, rec, regate.gate_inputs(PHASE, archived), observed)
    return report if isinstance(report, str) else regate.difference(rec, report)


@pytest.mark.parametrize("loss", [2.7, 3.5, float("nan"), "high", None])
def test_what_registration_recorded_is_found_again(loss: Any) -> None:
    assert again(record(loss, Baseline("r1", 2.6)), files(loss)) is None


def test_a_missing_artifact_is_read_as_registration_read_it() -> None:
    assert again(record(suite=False), files(suite=False)) is None


def test_a_verdict_the_files_do_not_give() -> None:
    forged = record(3.5, Baseline("r1", 2.6))
    gates = [dict(g, passed=True) for g in forged.gates]
    assert again(RunRecord.from_dict({**forged.as_dict(), "gates": gates}), files(3.5)) == (
        "gate loss: passed False, the record has True"
    )
    assert again(RunRecord.from_dict({**forged.as_dict(), "verdict": "GREEN"}), files(3.5)) == (
        "verdict RED, the record has GREEN"
    )


def test_an_observed_value_the_files_do_not_hold() -> None:
    assert again(record(2.7, Baseline("r1", 2.6)), files(2.71)) == "gate loss: observed 2.71, the record has 2.7"


def test_the_baseline_value_is_the_baseline_run_s_own_observation() -> None:
    """The record names its baseline run; the value is what that run's record observed for the gate."""
    assert again(record(2.6, Baseline("r1", 2.6)), files(2.6)) is None
    OBSERVED[("r1", "vs_best")] = 2.5  # the baseline run observed 2.5: a record judged against 2.6 is not its
    try:
        assert again(record(2.6, Baseline("r1", 2.5)), files(2.6)) is None
        assert again(record(2.6, Baseline("r1", 2.6)), files(2.6)) == "gate vs_best: passed False, the record has True"
    finally:
        OBSERVED[("r1", "vs_best")] = 2.6


def test_the_words_of_a_threshold_are_not_compared() -> None:
    """A later gerhard may word a threshold otherwise (== True, == true): what the gate says counts."""
    rec = record(2.7, Baseline("r1", 2.6))
    worded = [dict(g, threshold=str(g["threshold"]).lower(), reason="said otherwise") for g in rec.gates]
    assert again(RunRecord.from_dict({**rec.as_dict(), "gates": worded}), files(2.7)) is None


def test_a_baseline_run_without_a_record_is_said() -> None:
    assert again(record(2.7, Baseline("gone", 2.6)), files(2.7)) == "its baseline run gone (gate vs_best) has no record"


def test_an_archived_file_that_does_not_parse_is_said() -> None:
    broken = {**files(), "metrics.json": b"{not json"}
    assert (
        again(record(), broken)
        == "metrics.json is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"
    )


def test_other_gates_than_the_record_s() -> None:
    rec = record(2.7, Baseline("r1", 2.6))
    fewer = RunRecord.from_dict({**rec.as_dict(), "gates": list(rec.gates)[:2]})
    assert again(fewer, files(2.7)) == "gates loss, first, vs_best, the record has loss, first"
