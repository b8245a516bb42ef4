"""A human decision on a RED run's needs-input (waive, advance, rerun, stop), or on any run registered by
mistake (withdraw), as one commit.

`decide` = lock → the run and its open needs-input → the decision file (state/decisions/<run_id>.yaml)
→ the needs-input files it answers and the derived files, folded (gerhard.core.derive.decide_files) →
one commit (`decide <run_id>: <decision>`, the reason in the body, Gerhard-* trailers).

waive and advance pass the phase with the decided run; rerun keeps the phase active (the next run
of the phase is what counts); stop stops the program: nothing is registered while it stands. To
resume, decide the stopped run again (rerun, waive or advance): the new decision replaces the stop
in the decision file (kept under `replaces:`; the stop's commit stays in the history).

withdraw takes a run of any verdict out of the count: its record and archive stay as registered
(write-once: `gerhard check` holds them to their registration commit), its decision file says it is
withdrawn, and the derived files are recomputed without it (gates' baselines, phases, the status, the
needs-input files it superseded), its report and ledger row marked. It replaces an earlier decision on
the run (kept under `replaces:`), but not a stop that stands: resume first.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core import reports
from gerhard.core.branchfold import decided_own_files
from gerhard.core.derive import decide_files
from gerhard.core.gates import RED
from gerhard.core.phases import DECISIONS, RESUME, STOP, STOPPED, WITHDRAW, fold_decision
from gerhard.core.program import Program
from gerhard.core.records import Decision, RunRecord
from gerhard.errors import GitError, UserError
from gerhard.formats import schemas
from gerhard.formats.runtext import clean_text, one_line
from gerhard.git import gitrepo
from gerhard.registry import queries, store
from gerhard.registry.registry import Registry

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class DecisionResult:
    run_id: str
    phase: str
    decision: str
    reason: str
    decided_at: str
    decided_by: str
    commit: str
    decision_file: str
    needs_input: str
    current_phase: str | None
    stopped: bool
    resumed: bool  # this decision replaced a stop

    def __str__(self) -> str:
        if self.decision == WITHDRAW:
            return "\n".join(
                [
                    f"run {self.run_id} (phase {self.phase}): withdrawn, counted by no gate, baseline or status",
                    f"  commit {self.commit}",
                    f"  decision: {self.decision_file}",
                    f"  current phase: {self.current_phase or 'all phases passed'}",
                ]
            )
        if self.stopped:
            after = f"the program is stopped: to resume, gerhard decide {self.run_id} {RESUME} --reason '...'"
        else:
            after = f"current phase: {self.current_phase or 'all phases passed'}"
        return "\n".join(
            [
                f"run {self.run_id} (phase {self.phase}): {self.decision}{' (resumed)' if self.resumed else ''}",
                f"  commit {self.commit}",
                f"  decision: {self.decision_file}",
                f"  needs input resolved: {self.needs_input}",
                f"  {after}",
            ]
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    run_id: str,
    decision: str,
    reason: str,
    repo_root: Path | str = ".",
    now: dt.datetime | None = None,
    verify: bool = True,
) -> DecisionResult:
    """Decide a RED run's open needs-input (waive, advance, rerun or stop) as one commit in repo_root;
    a UserError (nothing changed) when it cannot be. `gerhard.decide`."""
    decision, reason = check_decision(decision), check_reason(reason)
    with Registry.locked(repo_root) as registry:
        root, status = registry.root, registry.status
        record = queries.resolve_run(root, run_id)
        replaced = check_decidable(root, status, record, decision)
        doc = decision_doc(root, status, record, decision, reason, now or dt.datetime.now(dt.timezone.utc), replaced)
        after, files = decided_files(root, registry.program, status, doc, registry)
        commit = registry.commit(files, commit_message(doc), verify=verify)
    return DecisionResult(
        **{k: getattr(doc, k) for k in ("run_id", "phase", "decision", "reason", "decided_at", "decided_by")},
        commit=commit,
        decision_file=layout.decision_path(doc.run_id),
        needs_input=layout.needs_input_path(doc.run_id),
        current_phase=after["current_phase"],
        stopped=bool(after.get(STOPPED)),
        resumed=replaced is not None and replaced.decision == STOP,
    )


def check_decision(word: str) -> str:
    if word not in DECISIONS:
        raise UserError(f"unknown decision {word!r}: decide waive, advance, rerun, stop or withdraw")
    return word


def check_reason(reason: str) -> str:
    try:
        reason = clean_text("the reason", reason).strip()
    except UserError as e:  # runtext's message ends in "register again"
        raise UserError(str(e).replace("register again", "decide again")) from None
    if not reason:
        raise UserError("the reason is empty: say why with --reason '...' (it goes into the commit and the records)")
    return reason


def check_decidable(root: Path, status: dict[str, Any], record: RunRecord, word: str) -> Decision | None:
    """Refuse what cannot be decided; the stop decision this one resumes from, if it does."""
    run_id, phase = record.run_id, record.phase
    last = status.get("last_decision") or {}
    if status.get(STOPPED) and last.get("run_id") != run_id:
        raise UserError(
            f"a decision stopped the program on {last['decided_at'][:10]} (stop on run {last['run_id']}): resume it "
            f"first with gerhard decide {last['run_id']} {RESUME} --reason '...'"
        )
    previous = store.read_decision(root, run_id)
    if word == WITHDRAW:
        return check_withdrawable(status, record, previous)
    if previous is not None:
        on = f"{previous.decision} on {previous.decided_at[:10]}, {layout.decision_path(run_id)}"
        if previous.decision == WITHDRAW:
            raise UserError(f"run {run_id} is withdrawn ({on}): register a new run of phase {phase} instead")
        if not (previous.decision == STOP and status.get(STOPPED)):
            raise UserError(f"run {run_id} is already decided ({on}): register a new run of phase {phase} instead")
        if word == STOP:
            raise UserError(f"run {run_id} already stopped the program ({on}): to resume, decide {RESUME}")
        return previous
    if record.verdict != RED:
        raise UserError(f"run {run_id} is {record.verdict}: only a RED run has a needs-input to decide")
    if not any(n["run_id"] == run_id for n in status["open_needs_input"]):
        raise UserError(not_open_message(root, record))
    return None


def check_withdrawable(status: dict[str, Any], record: RunRecord, previous: Decision | None) -> Decision | None:
    """Any run may be withdrawn, once; the decision it replaces, if any (a stop must be resumed first)."""
    if previous is None:
        return None
    on = f"{previous.decision} on {previous.decided_at[:10]}, {layout.decision_path(record.run_id)}"
    if previous.decision == WITHDRAW:
        raise UserError(f"run {record.run_id} is already withdrawn ({on})")
    if previous.decision == STOP and status.get(STOPPED):
        raise UserError(
            f"run {record.run_id} stopped the program ({on}): resume it first with gerhard decide {record.run_id} "
            f"{RESUME} --reason '...', then withdraw it"
        )
    return previous


def not_open_message(root: Path, record: RunRecord) -> str:
    run_id, phase = record.run_id, record.phase
    doc = store.load_yaml_file(root, layout.needs_input_path(run_id), "needs_input") or {}
    if doc.get("status") == "superseded":
        return f"run {run_id} needs no decision: run {doc['superseded_by']} passed phase {phase} after it"
    return f"run {run_id} needs no decision: phase {phase} is not in {layout.PROGRAM} any more"


def decided_by(root: Path) -> str:
    """The git author, as `git commit` would record it: 'Name <email>'."""
    ident = gitrepo.run_git(root, "var", "GIT_AUTHOR_IDENT", check=False).decode(errors="replace").strip()
    match = re.fullmatch(r"(.+>) -?\d+ [+-]\d{4}", ident)
    if match is None:
        raise GitError("git does not know who you are: set git config user.name and user.email, then decide again")
    return match.group(1)


def decided_at(root: Path, status: dict[str, Any], record: RunRecord, now: dt.datetime) -> str:
    """now in UTC, but never sorting before the last decision made after as many runs: decisions are
    folded by (run_count, decided_at, run seq), so the order they were made is the order rebuild folds."""
    at = now.astimezone(dt.timezone.utc).strftime(TIME_FORMAT)
    last = status.get("last_decision")
    if not last or last["run_count"] != status["run_count"]:
        return at
    last_record = store.read_record(root, last["run_id"])
    if (at, int(record.seq)) > (last["decided_at"], int(last_record.seq if last_record else 0)):
        return at
    later = dt.datetime.strptime(last["decided_at"], TIME_FORMAT) + dt.timedelta(seconds=1)
    return later.strftime(TIME_FORMAT)


def decision_doc(
    root: Path,
    status: dict[str, Any],
    record: RunRecord,
    word: str,
    reason: str,
    now: dt.datetime,
    replaced: Decision | None,
) -> Decision:
    doc = {
        "decision": word,
        "run_id": record.run_id,
        "phase": record.phase,
        "reason": reason,
        "decided_at": decided_at(root, status, record, now),
        "decided_by": decided_by(root),
        "run_count": int(status["run_count"]),
    }
    if replaced is not None:
        doc["replaces"] = {k: getattr(replaced, k) for k in ("decision", "reason", "decided_at", "decided_by")}
    schemas.validate(doc, "decision", layout.decision_path(record.run_id))
    return Decision.from_dict(doc)


def decided_files(
    root: Path, program: Program, status: dict[str, Any], doc: Decision, registry: Registry | None = None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The status after the decision and the files it writes: off the default branch (`registry` says)
    the decision and, for the branch's own run, its needs-input file (gerhard.core.branchfold)."""
    if registry is not None and not registry.on_default_branch:
        own = next((r for r in registry.pending.records if r.run_id == doc.run_id), None)
        after = fold_decision(status, program, doc)
        return after, {rel: text.encode() for rel, text in decided_own_files(program, doc, own).items()}
    stale = list(registry.pending.records) if registry is not None and registry.pending.stale else None
    recent = store.recent_rows(root, list(status.get("months") or {}), reports.INDEX_RECENT)
    after, files = decide_files(
        program, status, store.load_gate_results(root), doc, recent, lambda rel: store.read_text(root, rel), stale
    )
    return after, {rel: text.encode() for rel, text in files.items()}


def commit_message(doc: Decision) -> str:
    body = [f"Reason: {one_line(doc.reason)}"]
    if doc.replaces is not None:
        old = doc.replaces
        replaces = f"the {old['decision']} decided on {old['decided_at']} by {old['decided_by']}"
        body.append(f"Resumes the program: replaces {replaces}" if old["decision"] == STOP else f"Replaces {replaces}")
    trailers = {"Gerhard-Decision": doc.decision, "Gerhard-Run-Id": doc.run_id, "Gerhard-Phase": doc.phase}
    subject = f"decide {doc.run_id}: {doc.decision}"
    return "\n\n".join([subject, "\n".join(body), "\n".join(f"{k}: {v}" for k, v in trailers.items())]) + "\n"
