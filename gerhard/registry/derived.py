"""The derived files a registry's work tree must hold, as `gerhard check` and `gerhard rebuild` compute them.

On the default branch (gerhard.git.branches): every derived file recomputed from every record and
decision (core.derive.rebuild_files). Records and decisions merged since its last refresh make the
aggregates stale: that is said as such, with the step that folds them in.

On any other branch: the aggregates and the files of the runs they hold as the default branch's rebuild
of those runs wrote them, and the branch's own runs' files as their registration wrote them
(core.branchfold.branch_files). Aggregates that lag behind the branch's records are what a branch holds,
not a problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gerhard.core.branchfold import branch_files
from gerhard.core.derive import Existing, rebuild_files, stored_decisions
from gerhard.core.program import Program
from gerhard.core.records import RunRecord
from gerhard.git.branches import on_default_branch
from gerhard.registry import store
from gerhard.registry.checks import Reader
from gerhard.registry.pending import Pending, pending_in

REFRESH = "'gerhard rebuild --refresh --commit' folds them in (the CI workflow's step on the default branch does)"


def expected_files(
    root: Path,
    program: Program,
    records: list[RunRecord],
    default: bool | None = None,
    rendered: Mapping[str, dict[str, str]] | None = None,
) -> tuple[dict[str, str], Pending]:
    """Every derived file as this work tree must hold it (records in landing order), and what the stored
    aggregates do not hold. `default`: on the default branch (asked of git when not given); `rendered`:
    the per-run files of some records, computed already (core.derive.rebuild_files)."""
    read = lambda rel: store.read_text(root, rel)  # noqa: E731
    found = pending_in(root, store.load_status(root), read)
    if on_default_branch(root) if default is None else default:
        return rebuild_files(program, records, read, rendered=rendered), found
    return held_files(program, records, found, read), found


def held_files(program: Program, records: list[RunRecord], found: Pending, read: Existing) -> dict[str, str]:
    """Every derived file as a branch holds it, given what its stored aggregates do not hold (`found`)."""
    held = {r.run_id for r in records} - found.run_ids
    waiting = {d.run_id for d in found.decisions}
    folded = [d for d in stored_decisions(records, read) if d.run_id in held and d.run_id not in waiting]
    folded += list(found.replaced.values())
    return branch_files(program, records, folded, found.decisions, held, read)


def stale_note(found: Pending) -> str:
    """What the stored aggregates do not hold, in words: '2 runs and 1 decision merged'."""
    runs, decisions = len(found.records), len(found.decisions)
    parts = [f"{runs} run{'s' if runs != 1 else ''}"] if runs else []
    parts += [f"{decisions} decision{'s' if decisions != 1 else ''}"] if decisions else []
    return " and ".join(parts)


def stale_problem(rel: str, found: Pending) -> str:
    return f"{rel} does not hold the {stale_note(found)} merged since the last refresh: {REFRESH}"


def derived_problems(
    root: Path,
    program: Program,
    records: list[RunRecord],
    read: Reader,
    rendered: Mapping[str, dict[str, str]] | None = None,
) -> list[str]:
    """The derived files of the work tree that differ from what they must hold, one line each."""
    default = on_default_branch(root)
    expected, found = expected_files(root, program, records, default, rendered)
    if not records:  # a registry without runs has derived files only once the first run is registered
        expected = {rel: text for rel, text in expected.items() if store.read_text(root, rel) is not None}
    problems = []
    for rel, text in sorted(expected.items()):
        if (read(rel) or b"").decode("utf-8", "replace") == text:
            continue
        if found.stale and default:  # the aggregates, and needs-input files the merged runs answer
            problems.append(stale_problem(rel, found))
        else:
            problems.append(
                f"{rel} differs from what 'gerhard rebuild' computes from the run records: a hand edit? "
                "run 'gerhard rebuild' and commit the result (or 'gerhard rebuild --commit')"
            )
    return problems
