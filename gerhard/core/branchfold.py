"""The fold off the default branch (pure): what a branch's changes write, how the status a branch is
judged by is read, and what a branch holds.

The aggregates (program_status, gate_results, the ledger, the index pages, the status board) are
shared by every run; two pull requests that rewrote them would conflict. So off the default branch
(gerhard.git.branches) a registration writes its run's own files (`own_files`) and a decision its
decision file (`decided_own_files`): names no other pull request writes. The aggregates stay as the
default branch folded them; the records and decisions they do not hold yet are folded on top of the
stored status when it is read (`fold_pending`), so a branch's second run is judged after its first.
The default branch folds them in for good after the merge (its refresh, `gerhard rebuild --commit`).
`branch_files` is every derived file as a branch holds it: what `gerhard check` compares there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gerhard import layout
from gerhard.core.derive import (
    Existing,
    decision_text,
    event_order,
    fold_event,
    needs_input_text,
    rebuild_files,
    record_text,
    resolved_by,
    run_files,
    withdrawals,
)
from gerhard.core.program import Program
from gerhard.core.records import Decision, RunRecord


def own_files(program: Program, record: RunRecord) -> dict[str, str]:
    """A registration off the default branch: the run's own files only (its record, its report, its
    needs-input file when RED), whose names no other run shares, so no merge can conflict on them."""
    return {layout.record_path(record.run_id): record_text(record), **run_files(program, record)}


def decided_own_files(program: Program, decision: Decision, own: RunRecord | None) -> dict[str, str]:
    """A decision off the default branch: the decision file, and the decided run's needs-input file
    answered when the run is the branch's own (`own`: its record, not folded by the default branch yet).
    A run the default branch folded keeps the needs-input file it wrote there: another pull request's
    run may answer it first, and two answers to one file would conflict."""
    files = {layout.decision_path(decision.run_id): decision_text(decision)}
    if own is not None and own.verdict == "RED":
        files[layout.needs_input_path(own.run_id)] = needs_input_text(own, resolved_by(decision))
    return files


def fold_pending(
    program: Program,
    status: dict[str, Any],
    records: Sequence[RunRecord],
    decisions: Sequence[Decision],
    decided: Sequence[RunRecord] = (),
) -> dict[str, Any]:
    """The status with the records and decisions it does not hold folded on top, in the one event
    order; `decided`: the records of the runs those decisions decide that it holds already (their
    sequence numbers place the decisions)."""
    new = {r.run_id for r in records}
    withdrawn = withdrawals(decisions)
    for event in event_order([*records, *decided], list(decisions)):
        if isinstance(event, Decision) or event.run_id in new:
            status = fold_event(status, program, event, withdrawn)
    return status


def branch_files(
    program: Program,
    records: Sequence[RunRecord],
    folded: Sequence[Decision],
    pending: Sequence[Decision],
    held: set[str],
    existing: Existing,
) -> dict[str, str]:
    """Every derived file as a branch holds it: the aggregates, and the files of the runs they hold
    (`held`, with the `folded` decisions), as the default branch's rebuild of those wrote them; each run
    the branch added, as its registration wrote it, its needs-input answered by a `pending` decision
    on it."""
    files = rebuild_files(program, [r for r in records if r.run_id in held], existing, list(folded))
    if not held:  # the default branch has no runs yet: no aggregates until its first refresh
        files = {rel: text for rel, text in files.items() if existing(rel) is not None}
    decided = {d.run_id: d for d in pending}
    for record in (r for r in records if r.run_id not in held):
        decision = decided.get(record.run_id)
        files.update(run_files(program, record, resolved_by(decision) if decision else None))
    return files
