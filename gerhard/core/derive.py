"""Derived state as a pure function of program.yaml, the run records and the decisions.

`fold_files` folds one new run into the current derived files (registration: reads only the
current derived files), `decide_files` one new decision (gerhard decide); `rebuild_files`
recomputes every derived file from all records and decisions. All render through the same
functions, so folding runs and decisions one at a time equals rebuilding.

Events are folded in one order everywhere (`event_order`): runs by landing order; a decision
after the runs registered when it was made (its run_count, and never before its own run), then
by decided_at, tie: the decided run's seq. A needs-input file says what answered it: `resolved`
by a decision on its run, or `superseded` by the run that passed its phase (a GREEN/AMBER run,
or a waive/advance of another run of the phase).

A fold follows the program it was folded with (the status's program_digest). After an edit of
program.yaml that derived files depend on (phase titles, order, relative gates), the next fold
recomputes everything from the records the ledger lists, once, so it still equals a rebuild.

Off the default branch a change writes only its runs' own files (gerhard.core.branchfold). The
default branch folds what the merges brought into its aggregates in its refresh (`rebuild_files`), or
in its next fold, given those records as `stale`: then everything is recomputed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from gerhard import layout
from gerhard.core import reports
from gerhard.core.phases import (
    DIGEST,
    REMOVED_PHASES,
    STOPPED,
    WITHDRAW,
    WITHDRAWN,
    fold_decision,
    fold_run,
    initial_status,
    program_digest,
    status_for_program,
)
from gerhard.core.program import Program
from gerhard.core.records import Decision, RunRecord
from gerhard.errors import StateError
from gerhard.formats import statefiles
from gerhard.formats.yamlio import dump_yaml, to_plain

Existing = Callable[[str], "str | None"]  # rel path -> current text (None when absent)

# The phases' ids (and each phase's baseline slots) in program_status.yaml are gerhard's to remove.
STATUS_OWNED: statefiles.Owned = {
    "phases": {"baselines": {}, "decision": {}},
    REMOVED_PHASES: {},
    STOPPED: {},
    WITHDRAWN: {},
}
# A phase's latest evaluation goes from gate_results.yaml when its only runs are withdrawn.
GATE_RESULTS_OWNED: statefiles.Owned = {"phases": {}}

NEEDS_INPUT_OPTIONS = [
    {"option": "rerun", "means": "fix the cause and register a new run of this phase"},
    {"option": "waive", "means": "accept the failed gates with a written reason and advance"},
    {"option": "stop", "means": "stop this line of work; the phase stays blocked"},
]


def gate_results_after(gate_results: dict[str, Any], record: RunRecord) -> dict[str, Any]:
    phases = dict(gate_results.get("phases") or {})
    phases[record.phase] = {
        "run_id": record.run_id,
        "verdict": record.verdict,
        "registered_at": record.registered_at,
        "passed": record.passed,
        "total": record.total,
        "gates": list(record.gates),
    }
    return dict(gate_results, phases=phases)


def resolved_by(decision: Decision) -> dict[str, Any]:
    """How a decision on a run answers its needs-input file."""
    keys = ("decision", "decided_at", "decided_by", "reason")
    return {"status": "resolved", **{k: getattr(decision, k) for k in keys}}


def superseded_by(run_id: str) -> dict[str, Any]:
    """How the run that passed the phase answers the phase's other open needs-input files."""
    return {"status": "superseded", "superseded_by": run_id}


def needs_input_doc(record: RunRecord, answer: dict[str, Any] | None = None) -> dict[str, Any]:
    """The needs-input file of a RED run: open, or as `answer` (resolved_by / superseded_by) says."""
    return {
        "run_id": record.run_id,
        "phase": record.phase,
        "verdict": "RED",
        "status": "open",
        **(answer or {}),
        "registered_at": record.registered_at,
        "failed_gates": [g for g in record.gates if not g["passed"]],
        "options": NEEDS_INPUT_OPTIONS,
        "summary": record.summary,
        "next_action": record.next_action,
    }


def record_text(record: RunRecord) -> str:
    return (
        f"# Registry record of run {record.run_id}, written by `gerhard register`.\n"
        "# Append-only: the registration commit is the audit trail.\n" + dump_yaml(record.as_dict())
    )


def needs_input_text(record: RunRecord, answer: dict[str, Any] | None = None) -> str:
    run_id = record.run_id
    if answer is None:
        head = f"# Run {run_id} is RED: a human decision is needed (rerun, waive or stop)"
    elif answer["status"] == "resolved":
        head = f"# Run {run_id} was RED: resolved by a decision ({answer['decision']}, {layout.decision_path(run_id)})"
    else:
        head = f"# Run {run_id} was RED: superseded, run {answer['superseded_by']} passed phase {record.phase}"
    return (
        f"{head}; this file is written by gerhard from state/ (`gerhard rebuild` recomputes it): hand edits are"
        " overwritten.\n"
    ) + dump_yaml(needs_input_doc(record, answer))


def decision_text(decision: Decision) -> str:
    return (
        f"# Decision on run {decision.run_id}, made with `gerhard decide`: the decision commit is the audit"
        " trail; `gerhard rebuild` folds it into the derived files.\n" + dump_yaml(decision.as_dict())
    )


def phase_title(program: Program, phase: str) -> str:
    return program.phase(phase).title if phase in program.phase_ids else "no longer in the program"


def run_files(
    program: Program, record: RunRecord, answer: dict[str, Any] | None = None, withdrawal: Decision | None = None
) -> dict[str, str]:
    """The derived per-run files: the report (saying so when the run is withdrawn), and the needs-input
    file when RED."""
    files = {
        reports.run_report_path(record): reports.render_run_report(
            record, phase_title(program, record.phase), record.dossier, withdrawal
        ),
    }
    if record.verdict == "RED":
        files[layout.needs_input_path(record.run_id)] = needs_input_text(record, answer)
    return files


def answered(before: dict[str, Any], after: dict[str, Any], event: RunRecord | Decision) -> dict[str, dict[str, Any]]:
    """The needs-input files one event answers (run id -> answer): the items it closed, and a decided
    run's own file (closed already when the decision resumes from a stop)."""
    still = {n["run_id"] for n in after["open_needs_input"]}
    closed = [n["run_id"] for n in before["open_needs_input"] if n["run_id"] not in still]
    out = {run_id: superseded_by(event.run_id) for run_id in closed if run_id != event.run_id}
    if isinstance(event, Decision):
        out[event.run_id] = resolved_by(event)
    return out


def fold_event(
    status: dict[str, Any], program: Program, event: RunRecord | Decision, withdrawn: Collection[str] = ()
) -> dict[str, Any]:
    """One event folded; `withdrawn`: the runs a withdraw decision withdraws (their registration counts
    as one, and nothing more, wherever the withdrawal falls in the event order)."""
    if isinstance(event, Decision):
        return fold_decision(status, program, event)
    return fold_run(status, program, event, withdrawn=event.run_id in withdrawn)


def withdrawals(decisions: Iterable[Decision]) -> dict[str, Decision]:
    """run id -> the decision that withdrew it."""
    return {d.run_id: d for d in decisions if d.decision == WITHDRAW}


def answer_files(answers: dict[str, dict[str, Any]], existing: Existing) -> dict[str, str]:
    """The needs-input files of earlier runs, rewritten with their answers (reads their records); only a
    RED run has one (a withdrawal answers any run's)."""
    records = {run_id: stored_record(run_id, existing) for run_id in answers}
    return {
        layout.needs_input_path(run_id): needs_input_text(records[run_id], answer)
        for run_id, answer in answers.items()
        if records[run_id].verdict == "RED"
    }


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
        layout.STATUS: statefiles.render_state_yaml(existing(layout.STATUS), status, layout.STATUS, owned=STATUS_OWNED),
        layout.GATE_RESULTS: statefiles.render_state_yaml(
            existing(layout.GATE_RESULTS), gate_results, layout.GATE_RESULTS, owned=GATE_RESULTS_OWNED
        ),
        layout.INDEX: reports.render_index(status, recent),
        layout.BOARD: reports.render_board(program, status, dict(gate_results, phases=on_board)),
    }


def fold_files(
    program: Program,
    status: dict[str, Any] | None,
    gate_results: dict[str, Any],
    record: RunRecord,
    recent: list[dict[str, Any]],
    existing: Existing,
    stale: Sequence[RunRecord] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Every file a registration writes besides the archive; `recent` = newest ledger rows before it.
    `stale`, given (empty when only decisions are) when the stored aggregates do not hold every record
    and decision on disk: the records they do not list; then everything is recomputed."""
    if stale is not None or (status is not None and status.get(DIGEST) != program_digest(program)):
        return refold_files(program, status, record, existing, stale or ())
    before = status_for_program(status or initial_status(program), program)
    status = fold_run(before, program, record)
    gate_results = gate_results_after(gate_results, record)
    row = reports.ledger_row(record)
    ledger_rel, month_rel = layout.ledger_path(row["month"]), reports.month_page_path(row["month"])
    files = answer_files(answered(before, status, record), existing)
    files.update(run_files(program, record))
    files[layout.record_path(record.run_id)] = record_text(record)
    files[ledger_rel] = (existing(ledger_rel) or "") + statefiles.ledger_line(row)
    files[month_rel] = (existing(month_rel) or reports.month_header(row["month"])) + reports.month_row(row)
    files.update(summary_files(program, status, gate_results, [row, *recent][: reports.INDEX_RECENT], existing))
    return status, files


def refold_files(
    program: Program,
    status: dict[str, Any] | None,
    record: RunRecord,
    existing: Existing,
    stale: Sequence[RunRecord] = (),
) -> tuple[dict[str, Any], dict[str, str]]:
    """fold_files after an edit of program.yaml a fold cannot follow, or after merges the aggregates do
    not hold yet (`stale` records): everything recomputed from the stored records, these, their
    decisions and this run (reads every record, once per such change)."""
    records = [*stored_records(status or {}, existing), *stale, record]
    status, files = rebuild_all(program, records, existing)
    files[layout.record_path(record.run_id)] = record_text(record)
    return status, files


def decide_files(
    program: Program,
    status: dict[str, Any],
    gate_results: dict[str, Any],
    decision: Decision,
    recent: list[dict[str, Any]],
    existing: Existing,
    stale: Sequence[RunRecord] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Every file a decision writes: the decision, the needs-input files it answers, the summary files
    (`status` as status_now gives it; `recent` = the newest ledger rows; `stale` as for fold_files). A
    withdrawal takes the run out of everything it was folded into (phases, baselines, gate results, the
    needs-input it superseded): everything is recomputed, and the files that change are written."""
    withdraws = decision.decision == WITHDRAW
    if withdraws or stale is not None or status.get(DIGEST) != program_digest(program):  # recomputed
        records = [*stored_records(status, existing), *(stale or ())]
        decisions = {d.run_id: d for d in stored_decisions(records, existing)}
        decisions[decision.run_id] = decision  # a resume replaces the stop, a withdrawal any decision
        status, files = rebuild_all(program, records, existing, list(decisions.values()))
        if withdraws:
            files = {rel: text for rel, text in files.items() if existing(rel) != text}
    else:
        before = status_for_program(status, program)
        status = fold_decision(before, program, decision)
        files = answer_files(answered(before, status, decision), existing)
        files.update(summary_files(program, status, gate_results, recent, existing))
    files[layout.decision_path(decision.run_id)] = decision_text(decision)
    return status, files


def landing_order(record: RunRecord) -> tuple[int, str, str]:
    """The order runs are folded in: by sequence number, which registration and a replay (register
    --push, gerhard rebase) give in landing order; two branches merged by hand can hold the same
    number, then the earlier registration first, then the run id: always one order, everywhere."""
    return int(record.seq), str(record.registered_at), record.run_id


def event_order(records: list[RunRecord], decisions: list[Decision]) -> list[RunRecord | Decision]:
    """Runs and decisions in the one order they are folded in (see the module docstring)."""
    seqs = {str(r.run_id): int(r.seq) for r in records}
    keyed: list[tuple[tuple[int, int, str, int, str], RunRecord | Decision]] = [
        ((int(r.seq), 0, str(r.registered_at), 0, str(r.run_id)), r) for r in records
    ]
    for d in decisions:
        run_id = str(d.run_id)
        if run_id not in seqs:
            rel = layout.decision_path(run_id)
            raise StateError(
                f"{rel} decides run {run_id}, which is not registered: restore {layout.record_path(run_id)} "
                f"from git, or remove {rel}"
            )
        at = max(int(d.run_count), seqs[run_id])
        keyed.append(((at, 1, str(d.decided_at), seqs[run_id], run_id), d))
    return [event for _, event in sorted(keyed, key=lambda pair: pair[0])]


def stored_record(run_id: str, existing: Existing, listed_in: str | None = None) -> RunRecord:
    rel = layout.record_path(run_id)
    text = existing(rel)
    if text is None:
        where = f"{listed_in} lists run {run_id}" if listed_in else f"run {run_id} is in {layout.STATUS}"
        raise StateError(f"{where} but {rel} is missing: restore it from git")
    return RunRecord.from_dict(to_plain(statefiles.parse_state_text(text, rel, "run_record")))


def stored_records(status: dict[str, Any], existing: Existing) -> list[RunRecord]:
    """The record of every run the ledger months of `status` list."""
    records = []
    for month in sorted(status.get("months") or {}):
        ledger = layout.ledger_path(month)
        for row in statefiles.ledger_rows(existing(ledger) or "", ledger):
            records.append(stored_record(str(row["run_id"]), existing, ledger))
    return records


def stored_decisions(records: list[RunRecord], existing: Existing) -> list[Decision]:
    """The decision on each of these runs that has one (state/decisions/<run_id>.yaml)."""
    decisions = []
    for record in records:
        rel = layout.decision_path(record.run_id)
        text = existing(rel)
        if text is not None:
            decisions.append(Decision.from_dict(to_plain(statefiles.parse_state_text(text, rel, "decision"))))
    return decisions


def status_now(program: Program, status: dict[str, Any] | None, existing: Existing) -> dict[str, Any]:
    """The status a new run is judged by: the stored one as program.yaml sees it; after an edit a fold
    cannot follow, recomputed from the records (baselines of changed relative gates, phases put back).
    Its program_digest stays the stored one, so fold_files still recomputes the files."""
    if status is None:
        return initial_status(program)
    if status.get(DIGEST) == program_digest(program):
        return status_for_program(status, program)
    now = initial_status(program)
    records = stored_records(status, existing)
    decisions = stored_decisions(records, existing)
    withdrawn = withdrawals(decisions)
    for event in event_order(records, decisions):
        now = fold_event(now, program, event, withdrawn)
    now[DIGEST] = status.get(DIGEST)
    return now


def rebuild_files(
    program: Program,
    records: list[RunRecord],
    existing: Existing,
    decisions: list[Decision] | None = None,
    rendered: Mapping[str, dict[str, str]] | None = None,
) -> dict[str, str]:
    """Every derived file, recomputed from all run records and decisions (by default, the decision
    files `existing` reads for these runs). `rendered`: run id -> run_files(program, record) computed
    already (`gerhard check` renders them while its workers read the runs)."""
    return rebuild_all(program, records, existing, decisions, rendered)[1]


def rebuild_all(
    program: Program,
    records: list[RunRecord],
    existing: Existing,
    decisions: list[Decision] | None = None,
    rendered: Mapping[str, dict[str, str]] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The status and every derived file, recomputed from all run records and decisions."""
    if decisions is None:
        decisions = stored_decisions(records, existing)
    initial = initial_status(program)
    return fold_onto(program, initial, {"phases": {}}, {}, records, decisions, existing, rendered=rendered)


def fold_onto(
    program: Program,
    status: dict[str, Any],
    gate_results: dict[str, Any],
    months: dict[str, list[dict[str, Any]]],
    records: Sequence[RunRecord],
    decisions: Sequence[Decision],
    existing: Existing,
    held: Sequence[RunRecord] = (),
    rendered: Mapping[str, dict[str, str]] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Records and decisions folded in the one event order onto a state that holds none of them and
    whose events all come before them: the status and every derived file they change. From the initial
    state, that is a rebuild; from a state the default branch stored (its status, gate results and
    ledger rows by month), its refresh. `held`: the records of the decided runs that state holds (their
    sequence numbers place the decisions)."""
    months = {month: list(rows) for month, rows in months.items()}
    new = {r.run_id for r in records}
    answers: dict[str, dict[str, Any]] = {}
    withdrawn = withdrawals(decisions)
    for event in event_order([*records, *held], list(decisions)):
        if isinstance(event, RunRecord) and event.run_id not in new:
            continue
        after = fold_event(status, program, event, withdrawn)
        answers.update(answered(status, after, event))
        status = after
        if isinstance(event, RunRecord):
            if event.run_id not in withdrawn:
                gate_results = gate_results_after(gate_results, event)
            row = reports.ledger_row(event, withdrawn=event.run_id in withdrawn)
            months.setdefault(row["month"], []).append(row)
    files: dict[str, str] = {}
    for record in records:
        answer, withdrawal = answers.get(record.run_id), withdrawn.get(record.run_id)
        done = rendered.get(record.run_id) if rendered and answer is None and withdrawal is None else None
        files.update(done if done is not None else run_files(program, record, answer, withdrawal))
    files.update(answer_files({run_id: a for run_id, a in answers.items() if run_id not in new}, existing))
    for month in sorted({r.month for r in records}):
        rows = months[month]
        files[layout.ledger_path(month)] = "".join(statefiles.ledger_line(r) for r in rows)
        files[reports.month_page_path(month)] = reports.month_header(month) + "".join(map(reports.month_row, rows))
    recent = [r for m in sorted(months, reverse=True) for r in reversed(months[m])][: reports.INDEX_RECENT]
    files.update(summary_files(program, status, gate_results, recent, existing))
    return status, files
