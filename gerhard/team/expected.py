"""The derived files a commit must carry, computed from what it touches (the pre-commit hook).

By the kind of change, the cheapest computation that gives what `rebuild` would:
- run records added in landing order (a registration, several when replayed): folded one by one
  into the parent commit's derived state, as registration does (gerhard.core.derive.fold_files);
- one decision added or replaced (gerhard decide): folded the same way (decide_files);
- program.yaml edited where derived files follow without a refold (same program_digest): the
  summary files recomputed from the parent's status;
- derived files edited by hand: program_status/gate_results must hold the parent's values (comments
  and keys a human adds are kept), a run report is rendered from its record;
- anything else (a record changed or removed, records merged from another branch, program.yaml's
  phases edited, a first commit): every derived file rebuilt from the index's records.
The first four trust the parent commit to be consistent (this hook checked it; CI's `gerhard check`
checks the whole registry). What they find differing is confirmed against a rebuild from the index
before it is reported, so a rejected commit is one that `rebuild` disagrees with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core import reports
from gerhard.core.derive import (
    GATE_RESULTS_OWNED,
    STATUS_OWNED,
    decide_files,
    fold_files,
    gate_results_after,
    landing_order,
    rebuild_files,
    run_files,
    status_now,
    summary_files,
)
from gerhard.core.phases import DIGEST, program_digest, status_for_program
from gerhard.core.program import Program
from gerhard.core.records import Decision, RunRecord
from gerhard.errors import UserError
from gerhard.flows.refresh import refresh_of
from gerhard.formats import statefiles
from gerhard.formats.yamlio import to_plain
from gerhard.git.blobs import Blobs, Overlay
from gerhard.layout import is_derived, is_source
from gerhard.registry import checks
from gerhard.registry.pending import find_pending

Expected = dict[str, str]  # rel -> the text the commit must hold
Changes = dict[str, str]  # path -> git's status letter for it: A(dded), M(odified), D(eleted), T(ype changed)
MONTHS_PER_READ = 6  # ledger months read together when the newest rows are gathered


def fix_hint(rel: str) -> str:
    return f"run 'gerhard rebuild', then 'git add {rel}' and commit again"


def derived_problems(root: Path, program: Program, changes: Changes, index: Blobs, head: Blobs) -> list[str]:
    """Derived files of the commit that differ from what rebuild computes, one line each."""
    problems = source_problems(root, changes, index)
    if problems:
        return problems  # derived files cannot be computed from invalid sources
    try:
        suspects = differing(program, changes, index, head)
    except UserError as e:
        return [str(e)]
    return [differs(rel, index.text(rel) is None) for rel in suspects]


def differing(program: Program, changes: Changes, index: Blobs, head: Blobs) -> list[str]:
    """The derived files `index` holds otherwise than rebuild computes after `changes` to `head` (sorted);
    a UserError when they cannot be computed. `gerhard check` asks the same of the commits since the last
    one it verified (index: HEAD, head: that commit)."""
    expected, trusted = expected_files(program, changes, index, head)
    suspects = [rel for rel, text in expected.items() if index.text(rel) != text]
    if suspects and trusted:  # computed from the parent commit: confirm with a rebuild before refusing
        rebuilt = rebuilt_from(program, index)
        suspects = [rel for rel in suspects if rel in rebuilt and index.text(rel) != rebuilt[rel]]
    return sorted(suspects)


def source_problems(root: Path, changes: Changes, index: Blobs) -> list[str]:
    """The run records and decisions the commit adds or changes that are not valid."""
    problems = []
    for rel in (rel for rel, how in changes.items() if how != "D" and is_source(rel) and rel != layout.PROGRAM):
        if rel.startswith(f"{layout.RUNS_DIR}/"):
            problems.append(checks.parse_record(index.data(rel) or b"", rel, root)[1])
        else:
            try:
                source(index, rel, "decision")
            except UserError as e:
                problems.append(str(e))
    return [p for p in problems if p]


def differs(rel: str, missing: bool) -> str:
    said = "is missing, but" if missing else "differs from what"
    return f"{rel} {said} 'gerhard rebuild' computes from the run records: {fix_hint(rel)}"


def expected_files(program: Program, changes: Changes, index: Blobs, head: Blobs) -> tuple[Expected, bool]:
    """The derived files to compare and their texts; True when computed from the parent commit."""
    sources = {rel: how for rel, how in changes.items() if is_source(rel)}
    derived = [rel for rel in changes if is_derived(rel)]
    if not sources:
        return refreshed(program, derived, head) or hand_edited(program, derived, index, head), True
    head.prefetch([layout.STATUS, layout.GATE_RESULTS])
    stored = parsed(head, layout.STATUS, "program_status")
    found = None
    if stored is not None:
        found = incremental(program, sources, stored, index, head)
    if found is None:
        return rebuilt_from(program, index), False
    return {**unchanged(derived, head), **{rel: t for rel, t in found.items() if not is_source(rel)}}, True


def refreshed(program: Program, derived: list[str], head: Blobs) -> Expected | None:
    """A commit that folds merged runs into the aggregates and changes no source (`gerhard rebuild
    --refresh`): what the refresh computes from the parent, when the parent's aggregates do not hold every
    record and decision it has. None otherwise (then the files are held to the parent's)."""
    stored = parsed(head, layout.STATUS, "program_status") if any(map(layout.is_aggregate, derived)) else None
    if stored is None:
        return None
    runs, decided = (f"{layout.RUNS_DIR}/", f"{layout.DECISIONS_DIR}/")
    listed = {folder: [p for p in paths if is_source(p)] for folder, paths in head.listings([runs, decided]).items()}
    ids = {folder: [p.rsplit("/", 1)[-1].removesuffix(".yaml") for p in listed[folder]] for folder in listed}
    head.prefetch(listed[decided] + [layout.needs_input_path(r) for r in ids[decided]])
    if not find_pending(stored, ids[runs], ids[decided], head).stale:
        return None
    texts = {r: head.text(layout.decision_path(r)) or "" for r in ids[decided]}
    done = refresh_of(head.root, program, ids[runs], texts, head)
    return None if done is None else {**unchanged(derived, head), **done.files}


def incremental(
    program: Program, sources: Changes, stored: dict[str, Any], index: Blobs, head: Blobs
) -> Expected | None:
    """The derived files after these source changes, from the parent's; None when only a rebuild can say."""
    records = [rel for rel in sources if rel.startswith(f"{layout.RUNS_DIR}/")]
    decisions = [rel for rel in sources if rel.startswith(f"{layout.DECISIONS_DIR}/")]
    if records and not decisions and all(sources[rel] == "A" for rel in records):
        return folded(program, [source_record(index, rel) for rel in records], stored, head)
    if len(decisions) == 1 and set(sources) == set(decisions) and sources[decisions[0]] in "AM":
        decision = Decision.from_dict(source(index, decisions[0], "decision"))
        if index.data(layout.record_path(decision.run_id)) is not None:
            return decided(program, decision, stored, head)
        return None
    if set(sources) == {layout.PROGRAM} and stored.get(DIGEST) == program_digest(program):
        return summaries(program, stored, head)
    return None


def folded(program: Program, records: list[RunRecord], stored: dict[str, Any], head: Blobs) -> Expected | None:
    """Registration's fold of each new record, in landing order, when they land after the parent's runs."""
    records = sorted(records, key=landing_order)
    count = int(stored["run_count"])
    if [int(r.seq) for r in records] != list(range(count + 1, count + 1 + len(records))):
        return None  # not appended (a merge, a renumbering): only a rebuild gives their order
    gate_results = parsed(head, layout.GATE_RESULTS, "gate_results") or {"phases": {}}
    months = sorted({r.month for r in records})
    head.prefetch([*map(layout.ledger_path, months), *map(reports.month_page_path, months)])
    existing = Overlay(head)
    status: dict[str, Any] | None = stored
    for record in records:
        now = status_now(program, status, existing)
        recent = recent_rows(existing, list(now.get("months") or {}))
        status, files = fold_files(program, now if now["run_count"] else None, gate_results, record, recent, existing)
        gate_results = gate_results_after(gate_results, record)
        existing.files.update(files)
    return existing.files


def decided(program: Program, decision: Decision, stored: dict[str, Any], head: Blobs) -> Expected:
    """gerhard decide's fold of one decision into the parent's derived files."""
    now = status_now(program, stored, head)
    gate_results = parsed(head, layout.GATE_RESULTS, "gate_results") or {"phases": {}}
    recent = recent_rows(head, list(now.get("months") or {}))
    return decide_files(program, now, gate_results, decision, recent, head)[1]


def summaries(program: Program, stored: dict[str, Any], head: Blobs) -> Expected:
    """After an edit of program.yaml a fold follows (thresholds, required files): the summary files."""
    status = status_for_program(stored, program)
    gate_results = parsed(head, layout.GATE_RESULTS, "gate_results") or {"phases": {}}
    return summary_files(program, status, gate_results, recent_rows(head, list(status.get("months") or {})), head)


def hand_edited(program: Program, derived: list[str], index: Blobs, head: Blobs) -> Expected:
    """Derived files changed with no source: each as the parent's sources make it."""
    expected = unchanged(derived, head)
    for rel in (r for r in (layout.STATUS, layout.GATE_RESULTS) if r in expected):
        staged, old = index.text(rel), head.text(rel)
        if staged is not None and old is not None:
            data = to_plain(
                statefiles.parse_state_text(old, rel, "program_status" if rel == layout.STATUS else "gate_results")
            )
            owned = STATUS_OWNED if rel == layout.STATUS else GATE_RESULTS_OWNED
            expected[rel] = statefiles.render_state_yaml(staged, data, rel, owned=owned)
    for rel in derived:
        record = report_record(rel, index)
        if record is not None:
            expected[rel] = run_files(program, record)[rel]
    return expected


def unchanged(derived: list[str], head: Blobs) -> Expected:
    """The derived files the commit touches that its parent has: unless a fold rewrites them, as they were."""
    head.prefetch(derived)
    return {rel: text for rel in derived if (text := head.text(rel)) is not None}


def report_record(rel: str, index: Blobs) -> RunRecord | None:
    """The record of the run whose report `rel` is (reports/YYYY/MM/<run_id>.md), if it has one."""
    run_id = rel.rsplit("/", 1)[-1].removesuffix(".md")
    if rel.count("/") != 3 or run_id == "index" or index.data(layout.record_path(run_id)) is None:
        return None
    record = source_record(index, layout.record_path(run_id))
    return record if reports.run_report_path(record) == rel else None


def rebuilt_from(program: Program, index: Blobs) -> Expected:
    """Every derived file as `rebuild` computes it from the index's records and decisions."""
    paths = [p for p in index.listing(f"{layout.RUNS_DIR}/") if is_source(p)]
    index.prefetch(paths + index.listing(f"{layout.DECISIONS_DIR}/"))
    records = sorted((source_record(index, rel) for rel in paths), key=landing_order)
    files = rebuild_files(program, records, index)
    if not records:  # no run yet: derived files appear with the first registration; those there are checked
        files = {rel: text for rel, text in files.items() if index.data(rel) is not None}
    return files


def source(blobs: Blobs, rel: str, schema: str) -> dict[str, Any]:
    return to_plain(statefiles.parse_state_text(blobs.text(rel) or "", rel, schema))


def source_record(blobs: Blobs, rel: str) -> RunRecord:
    return RunRecord.from_dict(source(blobs, rel, "run_record"))


def parsed(blobs: Blobs, rel: str, schema: str) -> dict[str, Any] | None:
    text = blobs.text(rel)
    return None if text is None else to_plain(statefiles.parse_state_text(text, rel, schema))


def recent_rows(existing: Overlay | Blobs, months: list[str]) -> list[dict[str, Any]]:
    """The newest ledger rows, newest first (store.recent_rows, read through `existing`, a few months
    per git process)."""
    head = existing.below if isinstance(existing, Overlay) else existing
    out: list[dict[str, Any]] = []
    newest = sorted(months, reverse=True)
    for n, month in enumerate(newest):
        if len(out) >= reports.INDEX_RECENT:
            break
        rel = layout.ledger_path(month)
        if not head.read_yet(rel):
            head.prefetch([layout.ledger_path(m) for m in newest[n : n + MONTHS_PER_READ]])
        out.extend(reversed(statefiles.ledger_rows(existing(rel) or "", rel)))
    return out[: reports.INDEX_RECENT]
