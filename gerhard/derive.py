"""Derived state as a pure function of program.yaml and the run records.

`fold_files` folds one new run into the current derived files (registration: reads only the
current derived files); `rebuild_files` recomputes every derived file from all records. Both
render through the same functions, so folding runs one at a time equals rebuilding.

A fold follows the program it was folded with (the status's program_digest). After an edit of
program.yaml that derived files depend on (phase titles, order, relative gates), the next fold
recomputes everything from the records the ledger lists, once, so it still equals a rebuild.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gerhard import reports, state
from gerhard.errors import StateError
from gerhard.phases import DIGEST, REMOVED_PHASES, fold_run, initial_status, program_digest, status_for_program
from gerhard.program import Program
from gerhard.yamlio import dump_yaml, to_plain

Existing = Callable[[str], "str | None"]  # rel path -> current text (None when absent)

# The phases' ids (and each phase's baseline slots) in program_status.yaml are gerhard's to remove.
STATUS_OWNED: state.Owned = {"phases": {"baselines": {}}, REMOVED_PHASES: {}}

NEEDS_INPUT_OPTIONS = [
    {"option": "rerun", "means": "fix the cause and register a new run of this phase"},
    {"option": "waive", "means": "accept the failed gates with a written reason and advance"},
    {"option": "stop", "means": "stop this line of work; the phase stays blocked"},
]


def gate_results_after(gate_results: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    phases = dict(gate_results.get("phases") or {})
    phases[record["phase"]] = {
        "run_id": record["run_id"],
        "verdict": record["verdict"],
        "registered_at": record["registered_at"],
        "passed": sum(g["passed"] for g in record["gates"]),
        "total": len(record["gates"]),
        "gates": record["gates"],
    }
    return dict(gate_results, phases=phases)


def needs_input_doc(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": record["run_id"],
        "phase": record["phase"],
        "verdict": "RED",
        "status": "open",
        "registered_at": record["registered_at"],
        "failed_gates": [g for g in record["gates"] if not g["passed"]],
        "options": NEEDS_INPUT_OPTIONS,
        "summary": record.get("summary", ""),
        "next_action": record.get("next_action", ""),
    }


def record_text(record: dict[str, Any]) -> str:
    return (
        f"# Registry record of run {record['run_id']}, written by `gerhard register`.\n"
        "# Append-only: the registration commit is the audit trail.\n" + dump_yaml(record)
    )


def needs_input_text(record: dict[str, Any]) -> str:
    return (
        f"# Run {record['run_id']} is RED: a human decision is needed (rerun, waive or stop); this file is written"
        " by gerhard from state/ (`gerhard rebuild` recomputes it): hand edits are overwritten.\n"
    ) + dump_yaml(needs_input_doc(record))


def phase_title(program: Program, phase: str) -> str:
    return program.phase(phase).title if phase in program.phase_ids else "no longer in the program"


def run_files(program: Program, record: dict[str, Any]) -> dict[str, str]:
    """The derived per-run files: the report, and the needs-input file when RED."""
    files = {
        reports.run_report_path(record): reports.render_run_report(
            record, phase_title(program, record["phase"]), record.get("dossier")
        ),
    }
    if record["verdict"] == "RED":
        files[state.needs_input_path(record["run_id"])] = needs_input_text(record)
    return files


def summary_files(
    program: Program,
    status: dict[str, Any],
    gate_results: dict[str, Any],
    recent: list[dict[str, Any]],
    existing: Existing,
) -> dict[str, str]:
    """program_status, gate_results, the reports index and the status board."""
    on_board = {p: g for p, g in (gate_results.get("phases") or {}).items() if p in program.phase_ids}
    return {
        state.STATUS: state.render_state_yaml(existing(state.STATUS), status, state.STATUS, owned=STATUS_OWNED),
        state.GATE_RESULTS: state.render_state_yaml(existing(state.GATE_RESULTS), gate_results, state.GATE_RESULTS),
        state.INDEX: reports.render_index(status, recent),
        state.BOARD: reports.render_board(program, status, dict(gate_results, phases=on_board)),
    }


def fold_files(
    program: Program,
    status: dict[str, Any] | None,
    gate_results: dict[str, Any],
    record: dict[str, Any],
    recent: list[dict[str, Any]],
    existing: Existing,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Every file a registration writes besides the archive; `recent` = newest ledger rows before it."""
    if status is not None and status.get(DIGEST) != program_digest(program):
        return refold_files(program, status, record, existing)
    status = fold_run(status or initial_status(program), program, record)
    gate_results = gate_results_after(gate_results, record)
    row = reports.ledger_row(record)
    ledger_rel, month_rel = state.ledger_path(row["month"]), reports.month_page_path(row["month"])
    files = run_files(program, record)
    files[state.record_path(record["run_id"])] = record_text(record)
    files[ledger_rel] = (existing(ledger_rel) or "") + state.ledger_line(row)
    files[month_rel] = (existing(month_rel) or reports.month_header(row["month"])) + reports.month_row(row)
    files.update(summary_files(program, status, gate_results, [row, *recent][: reports.INDEX_RECENT], existing))
    return status, files


def refold_files(
    program: Program, status: dict[str, Any], record: dict[str, Any], existing: Existing
) -> tuple[dict[str, Any], dict[str, str]]:
    """fold_files after an edit of program.yaml a fold cannot follow: everything recomputed from the
    stored records and this one (reads every record, once per such edit)."""
    status, files = rebuild_all(program, [*stored_records(status, existing), record], existing)
    files[state.record_path(record["run_id"])] = record_text(record)
    return status, files


def landing_order(record: dict[str, Any]) -> tuple[int, str, str]:
    """The order runs are folded in: by sequence number, which registration and a replay (register
    --push, gerhard rebase) give in landing order; two branches merged by hand can hold the same
    number, then the earlier registration first, then the run id: always one order, everywhere."""
    return int(record["seq"]), str(record["registered_at"]), str(record["run_id"])


def stored_records(status: dict[str, Any], existing: Existing) -> list[dict[str, Any]]:
    """The record of every run the ledger months of `status` list."""
    records = []
    for month in sorted(status.get("months") or {}):
        ledger = state.ledger_path(month)
        for row in state.ledger_rows(existing(ledger) or "", ledger):
            rel = state.record_path(str(row["run_id"]))
            text = existing(rel)
            if text is None:
                raise StateError(f"{ledger} lists run {row['run_id']} but {rel} is missing: restore it from git")
            records.append(to_plain(state.parse_state_text(text, rel, "run_record")))
    return records


def status_now(program: Program, status: dict[str, Any] | None, existing: Existing) -> dict[str, Any]:
    """The status a new run is judged by: the stored one as program.yaml sees it; after an edit a fold
    cannot follow, recomputed from the records (baselines of changed relative gates, phases put back).
    Its program_digest stays the stored one, so fold_files still recomputes the files."""
    if status is None:
        return initial_status(program)
    if status.get(DIGEST) == program_digest(program):
        return status_for_program(status, program)
    now = initial_status(program)
    for record in sorted(stored_records(status, existing), key=landing_order):
        now = fold_run(now, program, record)
    now[DIGEST] = status.get(DIGEST)
    return now


def rebuild_files(program: Program, records: list[dict[str, Any]], existing: Existing) -> dict[str, str]:
    """Every derived file, recomputed from all run records (in registration order)."""
    return rebuild_all(program, records, existing)[1]


def rebuild_all(
    program: Program, records: list[dict[str, Any]], existing: Existing
) -> tuple[dict[str, Any], dict[str, str]]:
    """The status and every derived file, recomputed from all run records (in registration order)."""
    status = initial_status(program)
    gate_results: dict[str, Any] = {"phases": {}}
    files: dict[str, str] = {}
    months: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=landing_order):
        status = fold_run(status, program, record)
        gate_results = gate_results_after(gate_results, record)
        row = reports.ledger_row(record)
        months.setdefault(row["month"], []).append(row)
        files.update(run_files(program, record))
    for month, rows in months.items():
        files[state.ledger_path(month)] = "".join(state.ledger_line(r) for r in rows)
        files[reports.month_page_path(month)] = reports.month_header(month) + "".join(map(reports.month_row, rows))
    recent = [r for m in sorted(months, reverse=True) for r in reversed(months[m])][: reports.INDEX_RECENT]
    files.update(summary_files(program, status, gate_results, recent, existing))
    return status, files
