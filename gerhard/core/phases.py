"""The phase state machine and the fold of one run into the derived program status (pure).

Status is plain data (what state/program_status.yaml holds). `fold_run(status, program, record)`
returns the status after one more run; folding every record in order from `initial_status`
is exactly what `gerhard rebuild` computes.

`phases` holds the phases program.yaml declares, in its order. Runs of a phase the program no
longer declares stay counted under `removed_phases` (so putting the phase back restores it).
`program_digest` names the program the status was folded with: when the parts of program.yaml
that derived files depend on change, a fold cannot follow incrementally (see gerhard.core.derive).
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from gerhard.core.gates import AMBER, GREEN, RED, Baseline, Gate
from gerhard.core.program import Program
from gerhard.core.records import Decision, RunRecord
from gerhard.errors import UserError

PENDING, ACTIVE, PASSED, BLOCKED = "pending", "active", "passed", "blocked"
REMOVED = "removed"  # the state of a phase under removed_phases
DIGEST, REMOVED_PHASES = "program_digest", "removed_phases"
PASSING_VERDICTS = (GREEN, AMBER)  # AMBER: only advisory gates failed, which by definition do not block
WAIVE, ADVANCE, RERUN, STOP, WITHDRAW = "waive", "advance", "rerun", "stop", "withdraw"
DECISIONS = (WAIVE, ADVANCE, RERUN, STOP, WITHDRAW)
WITHDRAWN = "withdrawn"  # in the status: run id -> when it was withdrawn (decided_at)
PASSING_DECISIONS = (WAIVE, ADVANCE)  # the phase passes with the decided run
STOPPED = "stopped"  # in the status while the last decision is a stop
RESUME = "rerun|waive|advance"  # the decisions that resume a stopped program
LAST_DECISION_KEYS = ("decision", "run_id", "phase", "reason", "decided_at", "decided_by")


def _phase_entry() -> dict[str, Any]:
    return {"state": PENDING, "runs": 0, "latest_run": None, "latest_verdict": None, "passed_by": None, "baselines": {}}


def program_digest(program: Program) -> str:
    """A digest of what derived files depend on beyond the records: the program's name, its phases
    (ids, titles, order) and its relative gates (how baselines are kept). Thresholds and required
    artifacts only judge new runs, so changing them needs no recomputation."""
    phases = [[p.id, p.title, [[g.id, g.baseline, g.better] for g in p.gates if g.is_relative]] for p in program.phases]
    text = json.dumps([program.name, phases], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def initial_status(program: Program) -> dict[str, Any]:
    status: dict[str, Any] = {
        "program": program.name,
        DIGEST: program_digest(program),
        "current_phase": None,
        "run_count": 0,
        "latest_run": None,
        "latest_verdict": None,
        "latest_registered_at": None,
        "last_decision": None,
        "open_needs_input": [],
        "months": {},
        "phases": {p: _phase_entry() for p in program.phase_ids},
    }
    return settle_states(status, program)


def settle_states(status: dict[str, Any], program: Program) -> dict[str, Any]:
    """Recompute current_phase and each phase's state from its runs and passes."""
    current = next((p for p in program.phase_ids if status["phases"][p]["passed_by"] is None), None)
    status["current_phase"] = current
    for pid in program.phase_ids:
        entry = status["phases"][pid]
        if entry["passed_by"] is not None:
            entry["state"] = PASSED
        elif entry["latest_verdict"] == RED and not _rerun_decided(entry):
            entry["state"] = BLOCKED
        elif pid == current or entry["runs"]:
            entry["state"] = ACTIVE
        else:
            entry["state"] = PENDING
    # A phase the program no longer declares needs no decision.
    status["open_needs_input"] = [n for n in status["open_needs_input"] if n["phase"] in status["phases"]]
    return status


def _rerun_decided(entry: dict[str, Any]) -> bool:
    """The phase's latest (RED) run was answered with rerun: the phase is worked on, not blocked."""
    decided = entry.get("decision") or {}
    return decided.get("decision") == RERUN and decided.get("run_id") == entry["latest_run"]


def arrange_phases(status: dict[str, Any], program: Program) -> dict[str, Any]:
    """In place: the program's phases in its order (one added since starts pending), then the runs of
    phases it no longer declares under removed_phases (sorted, no baselines: no gates judge them)."""
    known = {**(status.get(REMOVED_PHASES) or {}), **status["phases"]}
    status["phases"] = {p: known.pop(p, None) or _phase_entry() for p in program.phase_ids}
    removed = {p: dict(known[p], state=REMOVED, baselines={}) for p in sorted(known) if known[p].get("runs")}
    if removed:
        status[REMOVED_PHASES] = removed
    else:
        status.pop(REMOVED_PHASES, None)
    status["program"] = program.name
    return settle_states(status, program)


def status_for_program(status: dict[str, Any], program: Program) -> dict[str, Any]:
    """The status as the current program.yaml sees it (a new dict): its name, its phases in its
    order, states settled. Its program_digest still names the program it was folded with."""
    return arrange_phases(plain_copy(status), program)


_ATOMS = (str, int, float, bool, type(None))


def plain_copy(data: Any) -> Any:
    """A deep copy of plain data (dicts, lists, scalars), several times faster than copy.deepcopy, which
    the fold of ten thousand runs spends most of its time in; anything else (ruamel's commented
    containers) is copied by copy.deepcopy."""
    kind = type(data)
    if kind is dict:
        return {k: v if type(v) in _ATOMS else plain_copy(v) for k, v in data.items()}
    if kind is list:
        return [v if type(v) in _ATOMS else plain_copy(v) for v in data]
    return data if kind in _ATOMS else copy.deepcopy(data)


def check_not_stopped(status: dict[str, Any]) -> None:
    """Nothing is registered while a stop decision stands; deciding the stopped run again resumes."""
    if not status.get(STOPPED):
        return
    last = status.get("last_decision") or {}
    run = last.get("run_id")
    raise UserError(
        f"a decision stopped the program on {str(last.get('decided_at'))[:10]} (stop on run {run}, phase "
        f"{last.get('phase')}): nothing is registered while it is stopped; to resume, decide that run again: "
        f"gerhard decide {run} {RESUME} --reason '...'"
    )


def check_phase_allowed(program: Program, status: dict[str, Any], phase: str, force: bool) -> None:
    """A run for a phase after the current one is refused unless forced; any run while a stop stands."""
    check_not_stopped(status)
    idx = program.index(phase)
    current = status.get("current_phase")
    if force or current is None or idx <= program.index(current):
        return
    raise UserError(
        f"phase {phase} is not open yet: the current phase is {current} "
        f"({program.phase(current).title or 'not passed'}); register phase {current} runs first or pass --force"
    )


def baselines_for(status: dict[str, Any], gates: tuple[Gate, ...] | list[Gate], phase: str) -> dict[str, Baseline]:
    """The baseline (best or last GREEN run) for each relative gate of a phase."""
    stored = status["phases"].get(phase, {}).get("baselines") or {}
    out = {}
    for g in gates:
        entry = (stored.get(g.id) or {}).get("best" if g.baseline == "best_green" else "last")
        if g.is_relative and entry:
            out[g.id] = Baseline(str(entry["run_id"]), float(entry["value"]))
    return out


def _update_baselines(entry: dict[str, Any], program: Program, record: RunRecord) -> None:
    if record.phase not in program.phase_ids:
        return
    gates = {g.id: g for g in program.phase(record.phase).gates if g.is_relative}
    for res in record.gates:
        gate = gates.get(res["id"])
        value = res.get("observed")
        if gate is None or not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            continue
        slot = entry["baselines"].setdefault(gate.id, {"best": None, "last": None})
        point = {"run_id": record.run_id, "value": value}
        slot["last"] = point
        best = slot.get("best")
        lower = gate.better == "lower"
        if best is None or (value < best["value"] if lower else value > best["value"]):
            slot["best"] = point


def fold_run(status: dict[str, Any], program: Program, record: RunRecord, withdrawn: bool = False) -> dict[str, Any]:
    """The status after one more registered run (returns a new dict; the input is not changed). A run
    `withdrawn` (a withdraw decision on it, wherever that falls in the event order) is counted as a
    registration and nothing more: no phase, baseline, needs-input or latest run holds it."""
    status = status_for_program(status, program)
    if withdrawn:
        return _counted(status, record)
    phase, verdict, run_id = record.phase, record.verdict, record.run_id
    removed = status.get(REMOVED_PHASES) or {}
    entry = status["phases"].get(phase) or removed.get(phase) or status["phases"].setdefault(phase, _phase_entry())
    entry["runs"] += 1
    entry["latest_run"], entry["latest_verdict"] = run_id, verdict
    if verdict in PASSING_VERDICTS and entry["passed_by"] is None:
        entry["passed_by"] = run_id
    if verdict == GREEN:
        _update_baselines(entry, program, record)
    if verdict == RED:
        failed = record.failed_gates
        status["open_needs_input"].append({"run_id": run_id, "phase": phase, "failed_gates": failed})
    elif verdict in PASSING_VERDICTS:  # a passing rerun of the phase answers its open needs-input items
        status["open_needs_input"] = [n for n in status["open_needs_input"] if n["phase"] != phase]
    status["latest_run"], status["latest_verdict"] = run_id, verdict
    status["latest_registered_at"] = record.registered_at
    return arrange_phases(_counted(status, record), program)


def _counted(status: dict[str, Any], record: RunRecord) -> dict[str, Any]:
    """One more registration, and its month's ledger row (a run's sequence number counts every one)."""
    status["run_count"] += 1
    month = record.registered_at[:7]
    status["months"][month] = status["months"].get(month, 0) + 1
    return status


def fold_decision(status: dict[str, Any], program: Program, decision: Decision) -> dict[str, Any]:
    """The status after one more decision (a new dict). The decided run's needs-input item closes;
    waive/advance pass the phase with that run (its other open items close too, as after a passing
    run); rerun keeps the phase active; stop stops the program until the next decision."""
    status = status_for_program(status, program)
    word, run_id, phase = decision.decision, decision.run_id, decision.phase
    if word == WITHDRAW:
        return _withdrawn(status, program, decision)
    passes = word in PASSING_DECISIONS
    status["open_needs_input"] = [
        n for n in status["open_needs_input"] if n["run_id"] != run_id and not (passes and n["phase"] == phase)
    ]
    entry = status["phases"].get(phase) or (status.get(REMOVED_PHASES) or {}).get(phase)
    if entry is not None:
        entry["decision"] = {"decision": word, "run_id": run_id, "decided_at": decision.decided_at}
        if passes and entry["passed_by"] is None:
            entry["passed_by"] = run_id
    _last_decision(status, decision)
    if word == STOP:
        status[STOPPED] = True
    else:
        status.pop(STOPPED, None)
    return arrange_phases(status, program)


def _last_decision(status: dict[str, Any], decision: Decision) -> None:
    status["last_decision"] = {k: getattr(decision, k) for k in LAST_DECISION_KEYS}
    # One line: a tab or line break would make the YAML scalar quoted, a style later merges keep.
    status["last_decision"]["reason"] = " ".join(str(decision.reason).split())
    status["last_decision"]["run_count"] = status["run_count"]


def _withdrawn(status: dict[str, Any], program: Program, decision: Decision) -> dict[str, Any]:
    """A withdrawal: the run is named under `withdrawn` (its record stays; its registration was folded as
    withdrawn, see fold_run) and the decision is the last one. A stop stands: only deciding the stopped
    run again resumes the program."""
    status[WITHDRAWN] = {**(status.get(WITHDRAWN) or {}), decision.run_id: decision.decided_at}
    status["open_needs_input"] = [n for n in status["open_needs_input"] if n["run_id"] != decision.run_id]
    _last_decision(status, decision)
    return arrange_phases(status, program)
