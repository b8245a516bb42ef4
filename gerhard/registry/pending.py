"""What the stored aggregates do not hold yet: run records and decisions merged from a branch (or made on
this branch) since the default branch last folded its aggregates (gerhard.core.branchfold).

A cheap test first, so a registry whose aggregates are up to date pays a directory listing and nothing
more: the records on disk are as many as the status's run_count, and every decision file is one the
aggregates hold. A decision is held when the status names it (the last decision, a phase's decision) or
its run's needs-input file says it was resolved by it, which a fold writes and a branch never does for
a run the default branch folded (gerhard.core.branchfold.decided_own_files); two lines of each file are
compared as text, and the files are parsed only when they differ. Only then are the records that the
ledger does not list found, and read.

The same finder reads the work tree (a registration, a decision, `status`, `list`, `check`) and the
index of a commit being made (the pre-commit hook): it is handed the names and a reader.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core.derive import Existing, landing_order, stored_record
from gerhard.core.phases import WITHDRAWN
from gerhard.core.records import Decision, RunRecord
from gerhard.errors import UserError
from gerhard.formats import statefiles
from gerhard.formats.yamlio import read_state_yaml, to_plain

_TOP = re.compile(r"^(status|decision|decided_at): *(.*?) *$", re.M)


@dataclass(frozen=True)
class Pending:
    """Sources on disk that the stored aggregates do not hold."""

    records: tuple[RunRecord, ...] = ()  # not in the stored ledger, in landing order
    decisions: tuple[Decision, ...] = ()  # not folded into the stored status
    decided: tuple[RunRecord, ...] = ()  # the records of held runs those decisions decide (their order)
    replaced: dict[str, Decision] = field(default_factory=dict)  # run id -> the held decision a pending one replaced

    @property
    def stale(self) -> bool:
        return bool(self.records or self.decisions)

    @property
    def run_ids(self) -> set[str]:
        return {r.run_id for r in self.records}


NOTHING = Pending()


def names_in(root: Path, folder: str) -> list[str]:
    """The ids of the `<id>.yaml` files in a state folder of the work tree (a listing, nothing read)."""
    try:
        with os.scandir(root / folder) as entries:
            return [e.name[:-5] for e in entries if e.name.endswith(".yaml") and e.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def find_pending(
    status: dict[str, Any] | None, record_ids: Iterable[str], decision_ids: Iterable[str], existing: Existing
) -> Pending:
    """The records and decisions these aggregates (`status`, the stored one) do not hold."""
    record_ids, decision_ids = list(record_ids), list(decision_ids)
    status = status or {}
    records: list[RunRecord] = []
    if len(record_ids) != int(status.get("run_count") or 0):
        listed = ledger_ids(status, existing)
        records = sorted((stored_record(r, existing) for r in record_ids if r not in listed), key=landing_order)
    new = {r.run_id for r in records}
    decisions, replaced = [], {}
    for run_id in decision_ids:
        decision = unheld_decision(status, run_id, run_id in new, existing)
        if decision is not None:
            decisions.append(decision)
            if decision.replaces is not None and run_id not in new:
                replaced[run_id] = replaced_decision(status, decision)
    # A decision on a run with no record: event_order says so, in the fold that needs the order.
    held = [d.run_id for d in decisions if d.run_id not in new]
    decided = [stored_record(r, existing) for r in held if existing(layout.record_path(r)) is not None]
    return Pending(tuple(records), tuple(decisions), tuple(decided), replaced)


def ledger_ids(status: dict[str, Any], existing: Existing) -> set[str]:
    ids: set[str] = set()
    for month in status.get("months") or {}:
        rel = layout.ledger_path(month)
        ids.update(str(row["run_id"]) for row in statefiles.ledger_rows(existing(rel) or "", rel))
    return ids


def unheld_decision(status: dict[str, Any], run_id: str, new_run: bool, existing: Existing) -> Decision | None:
    """The decision on this run when the aggregates do not hold it, else None."""
    rel = layout.decision_path(run_id)
    text = existing(rel) or ""
    if not new_run:
        top = top_values(text)
        if named_in_status(status, run_id, top.get("decided_at", "")):
            return None
        needs = existing(layout.needs_input_path(run_id))
        if needs is not None and resolved_as(top, top_values(needs)):
            return None
    decision = Decision.from_dict(to_plain(statefiles.parse_state_text(text, rel, "decision")))
    if not new_run and needs_resolved_by(existing(layout.needs_input_path(run_id)), decision):
        return None  # held: the two files say the same in other YAML spellings
    return decision


def top_values(text: str) -> dict[str, str]:
    """The first `status:`, `decision:` and `decided_at:` lines at the top level of a YAML text, quotes dropped."""
    found: dict[str, str] = {}
    for key, value in _TOP.findall(text):
        found.setdefault(key, value.strip("'\""))
    return found


def named_in_status(status: dict[str, Any], run_id: str, decided_at: str) -> bool:
    """The status folded this very decision: its last decision, a phase's latest, or a withdrawal (a run
    that is not RED has no needs-input file to say so)."""
    if not decided_at:
        return False
    if str((status.get(WITHDRAWN) or {}).get(run_id)) == decided_at:
        return True
    named = [status.get("last_decision") or {}]
    for key in ("phases", "removed_phases"):
        named += [(entry or {}).get("decision") or {} for entry in (status.get(key) or {}).values()]
    return any(d.get("run_id") == run_id and str(d.get("decided_at")) == decided_at for d in named)


def resolved_as(decision: dict[str, str], needs: dict[str, str]) -> bool:
    keys = ("decision", "decided_at")
    return needs.get("status") == "resolved" and all(decision.get(k) and decision.get(k) == needs.get(k) for k in keys)


def needs_resolved_by(text: str | None, decision: Decision) -> bool:
    if text is None:
        return False
    try:
        doc = to_plain(read_state_yaml(text, "needs-input"))
    except UserError:
        return False
    return isinstance(doc, dict) and resolved_as(
        {"decision": decision.decision, "decided_at": decision.decided_at},
        {k: str(doc.get(k)) for k in ("status", "decision", "decided_at")},
    )


def replaced_decision(status: dict[str, Any], decision: Decision) -> Decision:
    """The held decision a pending one replaced (a stop, resumed on a branch), as the aggregates folded it."""
    old = dict(decision.replaces or {})
    last = status.get("last_decision") or {}
    held = last.get("run_id") == decision.run_id and str(last.get("decided_at")) == str(old.get("decided_at"))
    run_count = int(last.get("run_count") or 0) if held else decision.run_count
    return Decision.from_dict({**old, "run_id": decision.run_id, "phase": decision.phase, "run_count": run_count})


def pending_in(root: Path, status: dict[str, Any] | None, existing: Existing) -> Pending:
    """What the work tree's aggregates do not hold."""
    return find_pending(status, names_in(root, layout.RUNS_DIR), names_in(root, layout.DECISIONS_DIR), existing)
