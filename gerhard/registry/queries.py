"""Read-side of the registry: resolve a run, list runs from the ledger, load records.

`show latest`, `list` and `status` read the derived files (status + ledger months), never a
scan of every record, so they stay fast with tens of thousands of runs. Records and decisions the
stored aggregates do not hold yet (a branch's own, or merged since the default branch's refresh:
gerhard.registry.pending) are shown too, folded on top.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core import reports
from gerhard.core.branchfold import fold_pending
from gerhard.core.derive import landing_order
from gerhard.core.phases import REMOVED_PHASES, initial_status, status_for_program
from gerhard.core.records import RunRecord
from gerhard.errors import UserError
from gerhard.registry import store
from gerhard.registry.bundle import check_run_id
from gerhard.registry.pending import pending_in


def current_status(root: Path) -> dict[str, Any]:
    """The stored status as program.yaml sees it now: phases added, removed or reordered since the
    last registration show as the program declares them."""
    program = store.load_program(root)
    stored = store.load_status(root)
    status = initial_status(program) if stored is None else status_for_program(stored, program)
    found = pending_in(root, stored, lambda rel: store.read_text(root, rel))
    return fold_pending(program, status, found.records, found.decisions, found.decided) if found.stale else status


def check_phase_known(status: dict[str, Any], phase: str) -> None:
    """A phase of program.yaml, or one it no longer declares that has runs."""
    if phase not in status["phases"] and phase not in (status.get(REMOVED_PHASES) or {}):
        raise UserError(f"unknown phase {phase!r}: the program has {', '.join(status['phases'])}")


def resolve_run(root: Path, run: str) -> RunRecord:
    """The record of a run id, or of the most recently registered run for 'latest'."""
    if run == "latest":
        stored = store.load_status(root)  # no need of program.yaml here
        latest = (stored or {}).get("latest_run")
        found = pending_in(root, stored, lambda rel: store.read_text(root, rel)).records
        latest = found[-1].run_id if found else latest
        if not latest:
            raise UserError("no run registered yet: register one with 'gerhard register'")
        run = latest
    check_run_id(run)
    record = store.read_record(root, run)
    if record is None:
        raise UserError(f"no run {run!r} is registered in {root}: see 'gerhard list' for the ids")
    return record


def parse_since(since: str | None) -> str | None:
    if since is None:
        return None
    try:
        day = dt.date.fromisoformat(since[:10])
    except ValueError:
        raise UserError(f"--since {since!r} is not a date: use YYYY-MM-DD, e.g. --since 2026-11-01") from None
    return day.isoformat()


def list_rows(
    root: Path, phase: str | None = None, verdict: str | None = None, since: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """Ledger rows newest first, filtered; reads months newest first and stops early."""
    if limit < 0:
        raise UserError(f"--limit {limit} is negative: give a count, or 0 for all runs")
    # Only a --phase needs program.yaml (a phase added since the last run is known, one removed too).
    stored = store.load_status(root) or {}
    if phase is not None:
        check_phase_known(current_status(root), phase)
    since_day = parse_since(since)
    # Runs the ledger does not list yet landed after those it does: newest first, before them.
    unfolded = pending_in(root, stored, lambda rel: store.read_text(root, rel)).records
    out: list[dict[str, Any]] = []
    for row in ledger_newest_first(root, stored, [reports.ledger_row(r) for r in unfolded], since_day):
        if (phase and row["phase"] != phase) or (verdict and row["verdict"] != verdict.upper()):
            continue
        if since_day and row["registered_at"][:10] < since_day:
            continue
        out.append(row)
        if limit and len(out) >= limit:
            return out
    return out


def ledger_newest_first(
    root: Path, status: dict[str, Any], unfolded: list[dict[str, Any]], since_day: str | None
) -> Iterator[dict[str, Any]]:
    """The runs newest first: those the ledger does not list yet, then the ledger's, read a month at a
    time and no further back than `since_day`'s month."""
    yield from reversed(unfolded)
    for month in sorted(status.get("months") or {}, reverse=True):
        if since_day and month < since_day[:7]:
            return
        yield from reversed(store.read_ledger(root, month))


def all_records(root: Path) -> list[RunRecord]:
    """Every run record, in registration order (a full scan: export all and rebuild only)."""
    records = []
    runs = root / layout.RUNS_DIR
    for path in sorted(runs.glob("*.yaml")) if runs.is_dir() else []:
        record = store.read_record(root, path.stem)
        if record is not None:
            records.append(record)
    return sorted(records, key=landing_order)
