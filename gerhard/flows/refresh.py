"""The default branch's refresh: the runs and decisions merged from pull requests folded into its
aggregates, without reading every record (`gerhard rebuild --refresh`, the CI workflow's step).

A merged branch carries its runs' own files only (gerhard.core.branchfold); the aggregates of the
default branch are behind until they are folded in. Folding them on top of the stored state gives what
a rebuild gives only when they all come after the events it holds in the one event order; runs of
parallel pull requests share sequence numbers, so often they do not. So the refresh starts from the
newest stored state of the default branch (a commit on its first-parent line that wrote
state/program_status.yaml) whose events all come before the ones it does not hold, reads that state's
status, gate results and ledger from git, and folds the rest onto it (core.derive.fold_onto): exactly
the rebuild's files, at the cost of the events since that state. When no such state is found within
CANDIDATES commits (or program.yaml changed since), every file is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core.derive import Existing, fold_onto, stored_record
from gerhard.core.phases import DIGEST, WITHDRAW, program_digest, status_for_program
from gerhard.core.program import Program
from gerhard.core.records import Decision
from gerhard.errors import UserError
from gerhard.formats import statefiles
from gerhard.formats.yamlio import to_plain
from gerhard.git.blobs import Blobs
from gerhard.git.branches import versions
from gerhard.registry import store
from gerhard.registry.pending import find_pending, names_in

CANDIDATES = 16  # stored states looked at, newest first, before rebuilding everything
Key = tuple[int, int, str, int, str]  # core.derive.event_order's key


@dataclass(frozen=True)
class Stored:
    """One stored state of the default branch: what its aggregates hold."""

    rev: str
    status: dict[str, Any]
    gate_results: dict[str, Any]
    months: dict[str, list[dict[str, Any]]]  # its ledger rows by month
    decisions: dict[str, str]  # run id -> the text of its decision file


@dataclass(frozen=True)
class Refresh:
    files: dict[str, str]  # the derived files it writes
    runs: int  # runs folded onto the stored state (those merged, and those held since it)
    decisions: int  # decisions folded onto it
    since: str  # the commit of the stored state it started from


def stored_at(root: Path, rev: str) -> Stored | None:
    """The stored state at commit `rev`, when its aggregates hold every record and decision of its tree."""
    blobs = Blobs(root, rev)
    blobs.prefetch([layout.STATUS, layout.GATE_RESULTS])
    text = blobs.text(layout.STATUS)
    if text is None:
        return None
    status = to_plain(statefiles.parse_state_text(text, layout.STATUS, "program_status"))
    listed = blobs.listings([f"{layout.RUNS_DIR}/", f"{layout.DECISIONS_DIR}/"])
    runs, decided = (ids(listed[f"{d}/"]) for d in (layout.RUNS_DIR, layout.DECISIONS_DIR))
    blobs.prefetch([layout.ledger_path(m) for m in status.get("months") or {}])
    blobs.prefetch([layout.decision_path(r) for r in decided] + [layout.needs_input_path(r) for r in decided])
    if find_pending(status, runs, decided, blobs).stale:
        return None  # not a state the default branch folded whole (a merge, a branch's commit)
    months = {}
    for month in status.get("months") or {}:
        rel = layout.ledger_path(month)
        months[month] = statefiles.ledger_rows(blobs.text(rel) or "", rel)
    gate_results = blobs.text(layout.GATE_RESULTS)
    results = (
        {"phases": {}}
        if gate_results is None
        else to_plain(statefiles.parse_state_text(gate_results, layout.GATE_RESULTS, "gate_results"))
    )
    return Stored(rev, status, results, months, {r: blobs.text(layout.decision_path(r)) or "" for r in decided})


def ids(paths: list[str]) -> list[str]:
    return [p.rsplit("/", 1)[-1].removesuffix(".yaml") for p in paths if layout.is_source(p)]


def run_key(seq: int, registered_at: str, run_id: str) -> Key:
    return (int(seq), 0, str(registered_at), 0, str(run_id))


def decision_key(decision: Decision, seq: int) -> Key:
    return (max(int(decision.run_count), seq), 1, str(decision.decided_at), seq, str(decision.run_id))


def parse_decision(text: str, run_id: str) -> Decision:
    rel = layout.decision_path(run_id)
    return Decision.from_dict(to_plain(statefiles.parse_state_text(text, rel, "decision")))


def refresh_from(
    program: Program, stored: Stored, records: list[str], decisions: dict[str, str], read: Existing
) -> Refresh | None:
    """The refresh folded onto `stored`, when everything it does not hold comes after what it does."""
    if stored.status.get(DIGEST) != program_digest(program):
        return None
    rows = {str(r["run_id"]): r for month in stored.months.values() for r in month}
    if not rows.keys() <= set(records) or any(decisions.get(r) != t for r, t in stored.decisions.items()):
        return None  # a run or decision it holds is gone or changed: an older state may hold neither
    new_runs = [stored_record(r, read) for r in records if r not in rows]
    new_decisions = [parse_decision(t, r) for r, t in decisions.items() if r not in stored.decisions]
    if any(d.decision == WITHDRAW and d.run_id in rows for d in new_decisions):
        return None  # a withdrawal changes what its run was folded into: from before that run, or all
    seqs = {r: int(row["seq"]) for r, row in rows.items()} | {r.run_id: int(r.seq) for r in new_runs}
    held_keys = [run_key(r["seq"], r["registered_at"], r["run_id"]) for r in rows.values()]
    held_keys += [decision_key(parse_decision(t, r), seqs.get(r, 0)) for r, t in stored.decisions.items()]
    new_keys = [run_key(r.seq, r.registered_at, r.run_id) for r in new_runs]
    new_keys += [decision_key(d, seqs.get(d.run_id, 0)) for d in new_decisions]
    if held_keys and new_keys and max(held_keys) >= min(new_keys):
        return None
    held = [stored_record(d.run_id, read) for d in new_decisions if d.run_id in rows]
    status = status_for_program(stored.status, program)
    _, files = fold_onto(program, status, stored.gate_results, stored.months, new_runs, new_decisions, read, held)
    return Refresh(files, len(new_runs), len(new_decisions), stored.rev)


def refresh(root: Path, program: Program) -> Refresh | None:
    """The refresh of the work tree (None: no stored state to start from; rebuild everything)."""
    read: Existing = lambda rel: store.read_text(root, rel)  # noqa: E731
    records = names_in(root, layout.RUNS_DIR)
    decisions = {r: read(layout.decision_path(r)) or "" for r in names_in(root, layout.DECISIONS_DIR)}
    return refresh_of(root, program, records, decisions, read)


def refresh_of(
    root: Path, program: Program, records: list[str], decisions: dict[str, str], read: Existing
) -> Refresh | None:
    """The refresh of these sources (run ids; run id -> decision text), their files read by `read`, from
    the stored states on HEAD's first-parent line (the pre-commit hook asks it of the commit's parent)."""
    for rev in versions(root, layout.STATUS, CANDIDATES):
        try:
            stored = stored_at(root, rev)
        except UserError:
            continue  # a state file of that commit that does not read: look further back
        done = refresh_from(program, stored, records, decisions, read) if stored is not None else None
        if done is not None:
            return done
    return None
