"""Derived state as a pure function of program.yaml and the run records.

`fold_files` folds one new run into the current derived files (registration: reads only the
current derived files); `rebuild_files` recomputes every derived file from all records. Both
render through the same functions, so folding runs one at a time equals rebuilding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gerhard import reports, state
from gerhard.phases import fold_run, initial_status
from gerhard.program import Program
from gerhard.yamlio import dump_yaml

Existing = Callable[[str], "str | None"]  # rel path -> current text (None when absent)

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
    return f"# Run {record['run_id']} is RED: a human decision is needed (rerun, waive or stop).\n" + dump_yaml(
        needs_input_doc(record)
    )


def run_files(program: Program, record: dict[str, Any]) -> dict[str, str]:
    """The derived per-run files: the report, and the needs-input file when RED."""
    files = {
        reports.run_report_path(record): reports.render_run_report(
            record, program.phase(record["phase"]).title, record.get("dossier")
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
    return {
        state.STATUS: state.render_state_yaml(existing(state.STATUS), status, state.STATUS),
        state.GATE_RESULTS: state.render_state_yaml(existing(state.GATE_RESULTS), gate_results, state.GATE_RESULTS),
        state.INDEX: reports.render_index(status, recent),
        state.BOARD: reports.render_board(program, status, gate_results),
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


def rebuild_files(program: Program, records: list[dict[str, Any]], existing: Existing) -> dict[str, str]:
    """Every derived file, recomputed from all run records (in registration order)."""
    status = initial_status(program)
    gate_results: dict[str, Any] = {"phases": {}}
    files: dict[str, str] = {}
    months: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: r["seq"]):
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
    return files
