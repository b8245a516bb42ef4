"""The commit being made, checked by what it touches: the pre-commit hook's work.

`git diff --cached` names the paths the commit changes; everything is read from git's index (the
content being committed) and from HEAD (its parent), never from the work tree. A run whose archive
or record changes must be whole: record and MANIFEST schema-valid, every archived file matching the
MANIFEST, the bundle complete and valid for the record's phase (gerhard.registry.checks.check_run). Sources
(records, decisions, program.yaml) must be valid and the derived files what `rebuild` computes from
them (gerhard.team.expected). Nothing else is read, so the check of a registration costs the same at 10
and at 10,000 runs.

A run HEAD holds is write-once: a commit that changes, adds to or deletes its files is refused, unless it
puts them back as the run's registration commit wrote them. Only then is its registration looked up
(one `git log --grep`), so an ordinary commit pays nothing for it. gerhard itself never changes a
registered run's files (a decision writes its decision file; a withdrawal too).
"""

from __future__ import annotations

from pathlib import Path

from gerhard import layout
from gerhard.errors import UserError
from gerhard.git import gitrepo
from gerhard.git.blobs import Blobs, prefetch
from gerhard.git.branches import on_default_branch
from gerhard.layout import is_derived, is_source, run_of
from gerhard.registry import checks, store
from gerhard.registry.pending_runs import pending_run
from gerhard.team import history
from gerhard.team.branchcommit import branch_problems
from gerhard.team.expected import Changes, derived_problems


def staged_changes(root: Path) -> Changes:
    """What the commit changes against HEAD (on an unborn branch: everything staged)."""
    out = gitrepo.run_git(root, "--no-optional-locks", "diff", "--cached", "--name-status", "--no-renames", "-z")
    fields = out.decode("utf-8", "surrogateescape").split("\0")
    return {path: letter[:1] for letter, path in zip(fields[0:-1:2], fields[1::2], strict=False)}


def staged_problems(root: Path, only: str | None = None) -> list[str]:
    """One line per problem of the commit being made; `only` "bundles" or "state" checks half of it."""
    changes = staged_changes(root)
    runs = sorted({r for r in map(run_of, changes) if r is not None})
    derived = [p for p in changes if is_derived(p)]
    if not runs and not derived and not any(map(is_source, changes)):
        return []
    index, head = Blobs(root), Blobs(root, "HEAD")
    # One git process reads all that is known to be needed: what the commit holds, and of its parent
    # the derived state and whether each touched run was there before.
    prefetch(
        (index, [layout.PROGRAM, *map(layout.record_path, runs), *(p for p, how in changes.items() if how != "D")]),
        (head, [layout.STATUS, layout.GATE_RESULTS, *derived, *(layout.run_dir(r) for r in runs)]),
        (head, [layout.record_path(r) for r in runs]),
    )
    listings = archive_listings(runs, changes, index, head)
    text = index.text(layout.PROGRAM)
    if text is None:
        return []  # not a registry (yet)
    try:
        program = store.program_from_text(text)
    except UserError as e:
        return [f"{e}: fix {layout.PROGRAM}, then commit again"]
    problems = []
    if only != "state":
        refused = rewritten(root, changes, runs, head)  # a registered run's files changed: that says it all
        for run_id in runs:
            if run_id in refused:
                problems.append(refused[run_id])
            elif index.data(layout.record_path(run_id)) is None and not in_head(run_id, head) and listings[run_id]:
                problems.append(hand_added(root, run_id))
            elif listings[run_id] or index.data(layout.record_path(run_id)) is not None:  # not a run removed whole
                new = not head.has_tree(layout.run_dir(run_id))
                problems += checks.check_run(program, run_id, index.data, listings[run_id], root, new=new)
    if only != "bundles":  # off the default branch a commit carries its runs' own files only
        check_derived = derived_problems if on_default_branch(root) else branch_problems
        problems += check_derived(root, program, changes, index, head)
    return problems


def in_head(run_id: str, head: Blobs) -> bool:
    return head.has_tree(layout.run_dir(run_id)) or head.data(layout.record_path(run_id)) is not None


def hand_added(root: Path, run_id: str) -> str:
    """A folder under outputs/ that no record names, staged by hand (`git add -A` picks up a pending run):
    not a run until it is registered, which archives it in a commit of its own."""
    folder, found = layout.run_dir(run_id), pending_run(root, run_id)
    then = f"then register it: {found.advice(root, root)}" if found else f"{layout.OUTPUTS}/ holds registered runs only"
    return (
        f"{folder}/ is not a registered run (no {layout.record_path(run_id)}), and this commit adds its files by "
        f"hand: unstage them with 'git reset -q -- {folder}/', {then}"
    )


def archive_listings(runs: list[str], changes: Changes, index: Blobs, head: Blobs) -> dict[str, list[str]]:
    """The files of each run's archive in the index. A run new in this commit has only files the
    commit adds (no need to ask git); one that was there before is listed by git."""
    before = [r for r in runs if head.has_tree(layout.run_dir(r))]
    listed = index.listings([f"{layout.run_dir(r)}/" for r in before])
    out = {r: listed[f"{layout.run_dir(r)}/"] for r in before}
    for run_id in set(runs) - set(before):
        out[run_id] = [p for p, how in changes.items() if p.startswith(f"{layout.run_dir(run_id)}/") and how != "D"]
    index.prefetch([p for r in before for p in out[r]])
    return out


def rewritten(root: Path, changes: Changes, runs: list[str], head: Blobs) -> dict[str, str]:
    """A run HEAD holds is write-once: a commit may change its files only back to what its registration
    commit wrote (a restore). run id -> the line for each run it changes otherwise; a folder no
    registration wrote (a record added by hand) is not a run, and may go."""
    problems = {}
    for run_id in runs:
        if not in_head(run_id, head):
            continue  # a new run
        reg = history.registration_of(root, run_id)
        if reg is None:
            continue
        before = history.registered_files(root, reg.commit.sha, run_id)
        touched = sorted(p for p in changes if run_of(p) == run_id)
        staged = gitrepo.index_entries(root, touched)
        differ = [p for p in touched if staged.get(p) != before.get(p)]
        if differ:
            after = (set(before) - set(touched)) | set(staged)
            what, fix = history.what_changed(run_id, reg.commit.short, differ, before, after, history.PRESENT)
            problems[run_id] = (
                f"run {run_id} is write-once (registered in commit {reg.commit.short}), and this commit {what}: {fix} "
                f"(a run registered by mistake is withdrawn: {history.withdraw_hint(run_id)})"
            )
    return problems
