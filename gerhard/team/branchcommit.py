"""The pre-commit hook off the default branch: a commit carries its runs' own files, never the aggregates.

On a branch (gerhard.git.branches) registration writes a run's own files and a decision its decision
file (gerhard.core.branchfold); the aggregates are the default branch's. So a commit made there must:
- carry, for each run record it adds, that run's report and (when RED) its needs-input file, as the
  registration renders them;
- for a decision on a run the branch added (one the parent's ledger does not list), carry that run's
  needs-input file answered by it;
- leave every aggregate as the parent holds it (values: a comment a human adds is kept), and every
  other derived file it touches as the parent's sources make it.
Only what the commit touches is read, as on the default branch. What differs is confirmed against every
derived file as the branch must hold it (gerhard.registry.derived.held_files, from the index) before it
is reported; aggregates are confirmed that way only when the commit concludes a merge (the default
branch's refreshed aggregates come in with it), else refused: editing them on a branch is what makes
two pull requests conflict.
"""

from __future__ import annotations

from pathlib import Path

from gerhard import layout
from gerhard.core.derive import landing_order, needs_input_text, resolved_by, run_files
from gerhard.core.program import Program
from gerhard.core.records import Decision
from gerhard.errors import UserError
from gerhard.formats import statefiles
from gerhard.git import gitrepo
from gerhard.git.blobs import Blobs
from gerhard.git.branches import branch_note
from gerhard.layout import is_aggregate, is_derived, is_source
from gerhard.registry.derived import held_files
from gerhard.registry.pending import find_pending
from gerhard.team.expected import (
    Changes,
    Expected,
    differs,
    hand_edited,
    parsed,
    source,
    source_problems,
    source_record,
)

RUNS, DECISIONS = f"{layout.RUNS_DIR}/", f"{layout.DECISIONS_DIR}/"


def branch_problems(root: Path, program: Program, changes: Changes, index: Blobs, head: Blobs) -> list[str]:
    """The derived files of a commit made off the default branch that are not as it must carry them."""
    problems = source_problems(root, changes, index)
    if problems:
        return problems  # derived files cannot be computed from invalid sources
    try:
        return differing_on_branch(root, program, changes, index, head)
    except UserError as e:
        return [str(e)]


def differing_on_branch(root: Path, program: Program, changes: Changes, index: Blobs, head: Blobs) -> list[str]:
    expected = expected_on_branch(program, changes, index, head)
    suspects = sorted(rel for rel, text in expected.items() if index.text(rel) != text)
    merging = (gitrepo.info(root).git_dir / "MERGE_HEAD").exists()
    refused = [rel for rel in suspects if is_aggregate(rel) and not merging]
    confirm = [rel for rel in suspects if rel not in refused]
    if confirm:
        held = branch_view(program, index)
        confirm = [rel for rel in confirm if rel in held and index.text(rel) != held[rel]]
    note = branch_note(root)
    return [
        f"{rel} is an aggregate of the default branch, and this commit is on {note}: the default branch folds "
        f"this branch's runs in after the merge; restore it with 'git checkout HEAD -- {rel}'"
        for rel in refused
    ] + [differs(rel, index.text(rel) is None) for rel in confirm]


def expected_on_branch(program: Program, changes: Changes, index: Blobs, head: Blobs) -> Expected:
    """The derived files the commit touches or must carry, as computed from what it touches."""
    expected = hand_edited(program, [rel for rel in changes if is_derived(rel)], index, head)
    added = [rel for rel, how in changes.items() if how == "A" and is_source(rel) and rel.startswith(RUNS)]
    for rel in added:
        expected.update(run_files(program, source_record(index, rel)))
    decided = [rel for rel, how in changes.items() if how != "D" and is_source(rel) and rel.startswith(DECISIONS)]
    for rel in decided:
        decision = Decision.from_dict(source(index, rel, "decision"))
        record_rel = layout.record_path(decision.run_id)
        if index.data(record_rel) is None:
            continue  # a decision on no run: the source check says so
        record = source_record(index, record_rel)
        if record.verdict == "RED" and not held_by(head, record.run_id, record.month):
            expected[layout.needs_input_path(record.run_id)] = needs_input_text(record, resolved_by(decision))
    return expected


def held_by(head: Blobs, run_id: str, month: str) -> bool:
    """Does the parent's ledger list this run (the default branch folded it)?"""
    rel = layout.ledger_path(month)
    return any(row.get("run_id") == run_id for row in statefiles.ledger_rows(head.text(rel) or "", rel))


def branch_view(program: Program, index: Blobs) -> Expected:
    """Every derived file as the branch must hold it, from the index's records and decisions (reads
    them all: only to confirm what the cheap computation found differing)."""
    listed = index.listings([RUNS, DECISIONS])
    runs = [p for p in listed[RUNS] if is_source(p)]
    decisions = [p for p in listed[DECISIONS] if is_source(p)]
    index.prefetch(runs + decisions)
    records = sorted((source_record(index, rel) for rel in runs), key=landing_order)
    status = parsed(index, layout.STATUS, "program_status")
    ids = [r.run_id for r in records]
    decided = [rel.rsplit("/", 1)[-1].removesuffix(".yaml") for rel in decisions]
    found = find_pending(status, ids, decided, index)
    return held_files(program, records, found, index)
