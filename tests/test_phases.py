"""phases.py: the phase state machine, needs-input bookkeeping, baselines, and the phase guard."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from gerhard.core.gates import Baseline
from gerhard.core.phases import (
    ACTIVE,
    BLOCKED,
    DIGEST,
    PASSED,
    PENDING,
    REMOVED,
    REMOVED_PHASES,
    baselines_for,
    check_phase_allowed,
    fold_run,
    initial_status,
    program_digest,
    status_for_program,
)
from gerhard.core.program import Program, program_from_dict
from gerhard.core.records import RunRecord
from gerhard.errors import StateError, UserError

PROGRAM = program_from_dict(
    {
        "program": "demo",
        "phases": [
            {
                "id": "A",
                "title": "Dense baseline",
                "required": ["metrics.json"],
                "gates": [
                    {"id": "loss", "artifact": "metrics.json", "path": "final.val_loss", "op": "<=", "value": 2.6}
                ],
            },
            {
                "id": "B",
                "title": "Spiking",
                "required": ["metrics.json"],
                "gates": [
                    {"id": "loss", "artifact": "metrics.json", "path": "final.val_loss", "op": "<=", "value": 2.9},
                    {
                        "id": "best",
                        "artifact": "metrics.json",
                        "path": "final.val_loss",
                        "baseline": "best_green",
                        "better": "lower",
                    },
                    {
                        "id": "last",
                        "artifact": "metrics.json",
                        "path": "final.acc",
                        "baseline": "last_green",
                        "better": "higher",
                    },
                    {
                        "id": "energy",
                        "artifact": "metrics.json",
                        "path": "final.energy",
                        "op": "<=",
                        "value": 0.5,
                        "severity": "advisory",
                    },
                ],
            },
            {"id": "C", "title": "", "required": [], "gates": []},
        ],
    }
)


def record(
    run_id: str,
    phase: str,
    verdict: str,
    failed: tuple[str, ...] = (),
    observed: dict[str, Any] | None = None,
    month: str = "2026-01",
) -> RunRecord:
    ids = [g.id for g in PROGRAM.phase(phase).gates] or ["none"]
    observed = observed or {}
    return RunRecord.from_dict(
        {
            "run_id": run_id,
            "phase": phase,
            "verdict": verdict,
            "registered_at": f"{month}-15T10:00:00Z",
            "gates": [{"id": i, "passed": i not in failed, "observed": observed.get(i, 1.0)} for i in ids],
        }
    )


def fold_all(*records: dict[str, Any], program: Program = PROGRAM) -> dict[str, Any]:
    status = initial_status(program)
    for r in records:
        status = fold_run(status, program, r)
    return status


def states(status: dict[str, Any]) -> dict[str, str]:
    return {p: e["state"] for p, e in status["phases"].items()}


def test_initial_status() -> None:
    status = initial_status(PROGRAM)
    assert status["current_phase"] == "A"
    assert states(status) == {"A": ACTIVE, "B": PENDING, "C": PENDING}
    assert status["run_count"] == 0
    assert status["latest_run"] is None
    assert status["open_needs_input"] == []
    assert status["months"] == {}
    assert status["program"] == "demo"
    assert all(e["runs"] == 0 and e["passed_by"] is None and e["baselines"] == {} for e in status["phases"].values())


def test_green_passes_the_phase_and_moves_current() -> None:
    status = fold_all(record("a1", "A", "GREEN"))
    assert status["current_phase"] == "B"
    assert states(status) == {"A": PASSED, "B": ACTIVE, "C": PENDING}
    a = status["phases"]["A"]
    assert (a["runs"], a["latest_run"], a["latest_verdict"], a["passed_by"]) == (1, "a1", "GREEN", "a1")
    assert (status["run_count"], status["latest_run"], status["latest_verdict"]) == (1, "a1", "GREEN")
    assert status["latest_registered_at"] == "2026-01-15T10:00:00Z"
    assert status["months"] == {"2026-01": 1}


def test_first_pass_is_kept_by_later_runs() -> None:
    status = fold_all(record("a1", "A", "GREEN"), record("a2", "A", "GREEN"), record("a3", "A", "RED", ("loss",)))
    a = status["phases"]["A"]
    assert a["passed_by"] == "a1"
    assert a["state"] == PASSED  # passed stays passed; the RED rerun still asks for input
    assert (a["runs"], a["latest_run"], a["latest_verdict"]) == (3, "a3", "RED")
    assert status["current_phase"] == "B"
    assert status["open_needs_input"] == [{"run_id": "a3", "phase": "A", "failed_gates": ["loss"]}]


def test_red_blocks_and_asks_for_input() -> None:
    status = fold_all(record("a1", "A", "RED", ("loss",)))
    assert status["current_phase"] == "A"
    assert states(status) == {"A": BLOCKED, "B": PENDING, "C": PENDING}
    assert status["phases"]["A"]["passed_by"] is None
    assert status["open_needs_input"] == [{"run_id": "a1", "phase": "A", "failed_gates": ["loss"]}]
    assert status["latest_verdict"] == "RED"


def test_red_lists_every_failed_gate_in_order() -> None:
    status = fold_all(record("a1", "A", "GREEN"), record("b1", "B", "RED", ("loss", "energy", "best")))
    assert status["open_needs_input"] == [{"run_id": "b1", "phase": "B", "failed_gates": ["loss", "best", "energy"]}]
    assert states(status)["B"] == BLOCKED


def test_amber_passes() -> None:
    status = fold_all(record("a1", "A", "AMBER", ("loss",)))
    assert status["phases"]["A"]["passed_by"] == "a1"
    assert status["current_phase"] == "B"
    assert states(status) == {"A": PASSED, "B": ACTIVE, "C": PENDING}
    assert status["open_needs_input"] == []


@pytest.mark.parametrize("verdict", ["GREEN", "AMBER"])
def test_passing_rerun_clears_the_phase_needs_input_only(verdict: str) -> None:
    status = fold_all(
        record("a1", "A", "GREEN"),
        record("a2", "A", "RED", ("loss",)),
        record("b1", "B", "RED", ("loss",)),
        record("b2", "B", "RED", ("best",)),
    )
    assert [n["run_id"] for n in status["open_needs_input"]] == ["a2", "b1", "b2"]
    status = fold_run(status, PROGRAM, record("b3", "B", verdict, ("energy",) if verdict == "AMBER" else ()))
    assert [n["run_id"] for n in status["open_needs_input"]] == ["a2"]
    assert states(status)["B"] == PASSED
    assert status["current_phase"] == "C"


def test_blocked_then_green_unblocks() -> None:
    status = fold_all(record("a1", "A", "RED", ("loss",)), record("a2", "A", "GREEN"))
    assert states(status)["A"] == PASSED
    assert status["phases"]["A"]["passed_by"] == "a2"
    assert status["open_needs_input"] == []


def test_all_passed_means_no_current_phase() -> None:
    status = fold_all(record("a1", "A", "GREEN"), record("b1", "B", "GREEN"), record("c1", "C", "GREEN"))
    assert status["current_phase"] is None
    assert set(states(status).values()) == {PASSED}
    assert status["run_count"] == 3


def test_forced_future_run_makes_its_phase_active_not_current() -> None:
    status = fold_all(record("c1", "C", "GREEN"))
    assert status["current_phase"] == "A"  # the first phase not passed
    assert states(status) == {"A": ACTIVE, "B": PENDING, "C": PASSED}
    status = fold_all(record("b1", "B", "AMBER"))
    assert states(status) == {"A": ACTIVE, "B": PASSED, "C": PENDING}


def test_months_count_runs() -> None:
    status = fold_all(
        record("a1", "A", "RED", ("loss",), month="2026-01"),
        record("a2", "A", "RED", ("loss",), month="2026-02"),
        record("a3", "A", "GREEN", month="2026-02"),
    )
    assert status["months"] == {"2026-01": 1, "2026-02": 2}


def test_fold_run_does_not_mutate_its_input() -> None:
    status = fold_all(record("a1", "A", "GREEN"), record("b1", "B", "RED", ("loss",)))
    rec = record("b2", "B", "GREEN", observed={"best": 2.0, "last": 0.5})
    before, rec_before = copy.deepcopy(status), copy.deepcopy(rec)
    after = fold_run(status, PROGRAM, rec)
    assert status == before
    assert rec == rec_before
    assert after != before
    assert after["phases"]["B"]["baselines"]["best"]["best"]["run_id"] == "b2"
    assert status["phases"]["B"]["baselines"] == {}


def test_fold_run_result_shares_nothing_with_its_input() -> None:
    status = initial_status(PROGRAM)
    after = fold_run(status, PROGRAM, record("a1", "A", "RED", ("loss",)))
    after["phases"]["B"]["runs"] = 99
    after["months"]["2000-01"] = 1
    assert status["phases"]["B"]["runs"] == 0
    assert status["months"] == {}


# --- the phase guard -----------------------------------------------------------------------


def test_future_phase_is_refused_naming_the_current_phase() -> None:
    status = initial_status(PROGRAM)
    with pytest.raises(UserError) as exc:
        check_phase_allowed(PROGRAM, status, "B", force=False)
    assert str(exc.value) == (
        "phase B is not open yet: the current phase is A (Dense baseline); register phase A runs first or pass --force"
    )


def test_future_phase_refusal_without_title() -> None:
    status = fold_all(record("a1", "A", "GREEN"), record("b1", "B", "RED", ("loss",)))
    check_phase_allowed(PROGRAM, status, "B", force=False)
    status = fold_all(record("a1", "A", "GREEN"))
    with pytest.raises(UserError, match=r"^phase C is not open yet: the current phase is B \(Spiking\)"):
        check_phase_allowed(PROGRAM, status, "C", force=False)
    program = program_from_dict({"program": "p", "phases": [{"id": "X", "required": []}, {"id": "Y", "required": []}]})
    with pytest.raises(UserError, match=r"the current phase is X \(not passed\); register phase X runs first"):
        check_phase_allowed(program, initial_status(program), "Y", force=False)


def test_current_and_earlier_phases_are_allowed() -> None:
    status = fold_all(record("a1", "A", "GREEN"), record("b1", "B", "GREEN"))
    for phase in ("A", "B", "C"):
        check_phase_allowed(PROGRAM, status, phase, force=False)


def test_forced_future_phase_is_allowed() -> None:
    check_phase_allowed(PROGRAM, initial_status(PROGRAM), "C", force=True)


def test_everything_allowed_when_all_passed() -> None:
    status = fold_all(record("a1", "A", "GREEN"), record("b1", "B", "GREEN"), record("c1", "C", "GREEN"))
    for phase in ("A", "B", "C"):
        check_phase_allowed(PROGRAM, status, phase, force=False)


def test_unknown_phase_is_refused() -> None:
    with pytest.raises(StateError, match=r"^unknown phase 'Z': state/program.yaml declares A, B, C$"):
        check_phase_allowed(PROGRAM, initial_status(PROGRAM), "Z", force=True)


# --- baselines -----------------------------------------------------------------------------


def b_run(run_id: str, verdict: str, best: float, last: float, failed: tuple[str, ...] = ()) -> dict[str, Any]:
    return record(run_id, "B", verdict, failed, observed={"best": best, "last": last, "loss": best, "energy": 0.1})


def test_baselines_best_and_last_green() -> None:
    status = fold_all(
        b_run("b1", "GREEN", best=2.5, last=0.6),
        b_run("b2", "GREEN", best=2.3, last=0.4),
        b_run("b3", "GREEN", best=2.4, last=0.7),
        b_run("b4", "RED", best=1.0, last=0.9, failed=("loss",)),  # not GREEN: no baseline
        b_run("b5", "AMBER", best=1.0, last=0.9, failed=("energy",)),  # AMBER is not GREEN either
    )
    stored = status["phases"]["B"]["baselines"]
    assert stored["best"] == {"best": {"run_id": "b2", "value": 2.3}, "last": {"run_id": "b3", "value": 2.4}}
    assert stored["last"] == {"best": {"run_id": "b3", "value": 0.7}, "last": {"run_id": "b3", "value": 0.7}}
    assert set(stored) == {"best", "last"}  # only relative gates keep baselines
    gates = PROGRAM.phase("B").gates
    assert baselines_for(status, gates, "B") == {"best": Baseline("b2", 2.3), "last": Baseline("b3", 0.7)}


def test_equal_value_keeps_the_earlier_best() -> None:
    status = fold_all(b_run("b1", "GREEN", 2.0, 0.5), b_run("b2", "GREEN", 2.0, 0.5))
    assert status["phases"]["B"]["baselines"]["best"]["best"]["run_id"] == "b1"
    assert status["phases"]["B"]["baselines"]["best"]["last"]["run_id"] == "b2"


@pytest.mark.parametrize("bad", [math.nan, None, "2.0", True])
def test_non_numeric_or_nan_observed_is_ignored_for_baselines(bad: Any) -> None:
    status = fold_all(b_run("b1", "GREEN", 2.0, 0.5), b_run("b2", "GREEN", bad, bad))
    stored = status["phases"]["B"]["baselines"]
    assert stored["best"] == {"best": {"run_id": "b1", "value": 2.0}, "last": {"run_id": "b1", "value": 2.0}}
    assert stored["last"]["last"] == {"run_id": "b1", "value": 0.5}
    status = fold_all(b_run("b0", "GREEN", bad, bad))
    assert status["phases"]["B"]["baselines"] == {}
    assert baselines_for(status, PROGRAM.phase("B").gates, "B") == {}


def test_no_baselines_before_a_green_run() -> None:
    status = initial_status(PROGRAM)
    assert baselines_for(status, PROGRAM.phase("B").gates, "B") == {}
    assert baselines_for(status, PROGRAM.phase("B").gates, "unknown-phase") == {}


def test_baselines_for_reads_a_loaded_status_file() -> None:
    """Status read back from YAML may carry ints and a missing slot: still usable."""
    status = initial_status(PROGRAM)
    status["phases"]["B"]["baselines"] = {"best": {"best": {"run_id": 20260101, "value": 2}, "last": None}}
    assert baselines_for(status, PROGRAM.phase("B").gates, "B") == {"best": Baseline("20260101", 2.0)}


# --- program.yaml edited after runs --------------------------------------------------------


def edited(change: dict[str, Any] | None = None, drop: tuple[str, ...] = (), order: tuple[str, ...] = ()) -> Program:
    """PROGRAM with phases dropped, reordered, or one phase's fields changed ({"B": {"title": ...}})."""
    phases = []
    for p in PROGRAM.phases:
        if p.id in drop:
            continue
        d: dict[str, Any] = {"id": p.id, "title": p.title, "required": list(p.required)}
        d["gates"] = gates_of(p.id)
        d.update((change or {}).get(p.id, {}))
        phases.append(d)
    if order:
        phases.sort(key=lambda d: order.index(d["id"]))
    return program_from_dict({"program": "demo", "phases": [*phases, *(change or {}).get("new", [])]})


def test_edited_helper_reproduces_the_program() -> None:
    assert edited() == PROGRAM


def test_status_follows_added_and_reordered_phases() -> None:
    status = fold_all(record("a1", "A", "GREEN"), record("b1", "B", "RED", ("loss",)))
    program = edited({"new": [{"id": "Z", "title": "New", "required": []}]}, order=("C", "A", "B"))
    now = status_for_program(status, program)
    assert list(now["phases"]) == ["C", "A", "B", "Z"]
    assert now["current_phase"] == "C"
    assert states(now) == {"C": ACTIVE, "A": PASSED, "B": BLOCKED, "Z": PENDING}
    assert REMOVED_PHASES not in now
    assert now[DIGEST] == status[DIGEST]  # still folded with the old program: the files need recomputing


def test_removed_phase_keeps_its_runs_apart_and_its_needs_input_closes() -> None:
    status = fold_all(b_run("b0", "GREEN", 2.0, 0.5), record("a1", "A", "GREEN"), record("b1", "B", "RED", ("loss",)))
    now = status_for_program(status, edited(drop=("B",)))
    assert list(now["phases"]) == ["A", "C"]
    assert now["current_phase"] == "C"
    assert now[REMOVED_PHASES] == {
        "B": {
            "state": REMOVED,
            "runs": 2,
            "latest_run": "b1",
            "latest_verdict": "RED",
            "passed_by": "b0",
            "baselines": {},  # no gates judge a removed phase's runs
        }
    }
    assert now["open_needs_input"] == []
    assert status["phases"]["B"]["state"] == PASSED  # the input is not changed


def test_removed_phase_without_runs_is_simply_gone() -> None:
    now = status_for_program(fold_all(record("a1", "A", "GREEN")), edited(drop=("C",)))
    assert list(now["phases"]) == ["A", "B"]
    assert REMOVED_PHASES not in now


def test_phase_put_back_gets_its_runs_back() -> None:
    status = fold_all(record("a1", "A", "GREEN"), record("b1", "B", "GREEN"))
    without_b = status_for_program(status, edited(drop=("B",)))
    assert without_b["current_phase"] == "C"
    back = status_for_program(without_b, PROGRAM)
    assert back["current_phase"] == "C"
    assert back["phases"]["B"]["passed_by"] == "b1"
    assert states(back) == {"A": PASSED, "B": PASSED, "C": ACTIVE}
    assert REMOVED_PHASES not in back


def test_folding_a_run_of_a_removed_phase_does_not_crash() -> None:
    """What rebuild does with the records of a phase program.yaml no longer declares."""
    program = edited(drop=("B",))
    status = initial_status(program)
    for r in (record("a1", "A", "GREEN"), b_run("b1", "GREEN", 2.0, 0.5), record("b2", "B", "RED", ("loss",))):
        status = fold_run(status, program, r)
    assert list(status["phases"]) == ["A", "C"]
    assert status[REMOVED_PHASES]["B"] == {
        "state": REMOVED,
        "runs": 2,
        "latest_run": "b2",
        "latest_verdict": "RED",
        "passed_by": "b1",
        "baselines": {},
    }
    assert status["open_needs_input"] == []
    assert (status["run_count"], status["latest_run"], status["current_phase"]) == (3, "b2", "C")


def test_phase_guard_uses_the_current_program_order() -> None:
    status = status_for_program(fold_all(record("a1", "A", "GREEN")), edited(order=("B", "A", "C")))
    with pytest.raises(UserError, match=r"^phase C is not open yet: the current phase is B \(Spiking\)"):
        check_phase_allowed(edited(order=("B", "A", "C")), status, "C", force=False)


LOSS = {"id": "loss", "artifact": "metrics.json", "path": "final.val_loss"}


def gates_of(phase: str, **changes: dict[str, Any]) -> list[dict[str, Any]]:
    """A phase's gates as program.yaml data, some of them changed ({gate id: fields}; None drops it)."""
    out = []
    for g in PROGRAM.phase(phase).gates:
        d = {k: v for k, v in vars(g).items() if v is not None and k != "range"}
        if g.id in changes:
            d = {**d, **changes[g.id]} if changes[g.id] is not None else {}
        out += [{k: v for k, v in d.items() if v is not None}] if d else []
    return out


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({"A": {"title": "Renamed"}}, False),
        ({"new": [{"id": "D", "required": []}]}, False),
        ({"B": {"gates": gates_of("B", best={"better": "higher"})}}, False),
        ({"B": {"gates": gates_of("B", best={"baseline": "last_green"})}}, False),
        ({"B": {"gates": gates_of("B", best=None)}}, False),
        (
            {
                "B": {
                    "gates": gates_of(
                        "B", loss={"baseline": "best_green", "better": "lower", "op": None, "value": None}
                    )
                }
            },
            False,
        ),
        ({"B": {"gates": gates_of("B", best={"min_improvement": 0.5})}}, True),
        ({"A": {"gates": gates_of("A", loss={"value": 9.0})}}, True),
        ({"A": {"required": ["metrics.json", "seed.txt"]}}, True),
        ({"C": {"gates": [dict(LOSS, op="<=", value=2.0)]}}, True),
        ({"B": {"gates": gates_of("B", energy=None)}}, True),
    ],
)
def test_program_digest_changes_only_with_what_derived_files_depend_on(change: dict[str, Any], same: bool) -> None:
    assert (program_digest(edited(change)) == program_digest(PROGRAM)) is same


def test_program_digest_of_order_and_name() -> None:
    assert program_digest(edited(order=("B", "A", "C"))) != program_digest(PROGRAM)
    renamed = program_from_dict({"program": "other", "phases": [{"id": p, "required": []} for p in "ABC"]})
    plain = program_from_dict({"program": "demo", "phases": [{"id": p, "required": []} for p in "ABC"]})
    assert program_digest(renamed) != program_digest(plain)
    assert initial_status(PROGRAM)[DIGEST] == program_digest(PROGRAM)
