"""The history audit of `gerhard check`: every run in HEAD is what the commit that registered it wrote.

- **A registration commit for every run.** A run's registration is the newest commit reachable from HEAD
  whose message holds a Gerhard-* registration block naming it (its trailers; after a squash merge, one
  block each in the body: gerhard.git.history). A record without one was added by hand, or its commit
  lost its trailers: it is named with the commit that added it. But for a squash merge that kept only
  its title (GitLab's): a commit whose message names no run, not gerhard's own subject, that added the
  run's record and MANIFEST together is taken as its registration when all it added holds (its files,
  a bundle of its own, its gates evaluated again: `added_untold`, gerhard.team.contents), with a note.
- **Write-once.** The run's record and archive in HEAD are the very objects that commit holds
  (`C:state/runs/<run_id>.yaml`, the tree `C:outputs/<run_id>`). A change, addition or deletion since is
  named with the commit that made it and its author. None is legitimate: a decision (a withdrawal too)
  writes its decision file and derived files, never a run's own files.
- **Never gone.** A registered run missing from HEAD (a `git revert` of its registration, a `git rm`) is
  named with the commit that deleted it. A run registered by mistake is withdrawn, never removed.
- **Intact trailers** (gerhard.team.contents, once the record is read): the registration's trailers
  agree with the record it wrote, and its gates, evaluated again from the archived files under that
  commit's state/program.yaml, give the recorded results and verdict.

Incremental: after a check that passes, the commit it verified is remembered in the git dir
(gerhard.git.history.VERIFIED, never committed). The next check reads only the commits since: the runs
they register, the runs whose files they touch (one tree diff), and for a run registered earlier, its
registration (`git log --grep`). `--full` reads every commit and every run.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from gerhard import layout
from gerhard.git import gitrepo, history
from gerhard.git.history import Commit
from gerhard.registry.bundle import MANIFEST_NAME

RULES = "1"  # what a check verifies; a commit verified under other rules is verified again
NO_TRAILERS = (
    "gerhard's Gerhard-* trailers register no such run (written by hand, or its commit lost them: a commit-msg "
    "hook, an amend, a squash merge's message)"
)


class Registration(NamedTuple):
    commit: Commit
    block: dict[str, str]  # its Gerhard-* trailers for this run; none: a commit that added the run untold

    @property
    def untold(self) -> bool:
        """Registered by what the commit added, its message naming no run (a title-only squash merge)."""
        return not self.block


class Held(NamedTuple):
    """What a registration commit holds of its run."""

    record: str | None  # blob id of state/runs/<run_id>.yaml
    archive: str | None  # tree id of outputs/<run_id>


@dataclass
class Scope:
    """What one check reads: the commits since the last verified one (every commit: since None), the
    runs they register or touch, and what HEAD holds of those runs."""

    head: str
    since: str | None
    commits: list[Commit]
    registrations: dict[str, Registration]  # run id -> its newest registration in `commits`
    runs: list[str]  # the runs to verify, sorted
    files: dict[str, dict[str, str]]  # run id -> {path: blob id} of its record and archive files in HEAD
    archives: dict[str, str]  # run id -> tree id of outputs/<run_id> in HEAD


class Judged(NamedTuple):
    problems: dict[str, list[str]]  # run id -> what the history says is wrong with it
    intact: dict[str, Registration]  # the runs HEAD holds as their registration wrote them


def remembered(root: Path, head: str) -> str | None:
    """The commit the last passing check verified, when HEAD descends from it under these rules."""
    sha, _, rules = history.read_verified(root).partition(" ")
    if rules != RULES or not sha:
        return None
    return sha if sha == head or gitrepo.is_ancestor(root, sha, head) else None


def remember(root: Path, head: str) -> None:
    history.write_verified(root, f"{head} {RULES}")


def registrations(commits: list[Commit]) -> dict[str, Registration]:
    """run id -> its newest registration among these commits (newest first)."""
    found: dict[str, Registration] = {}
    for commit in commits:
        for block in commit.blocks:
            if "Gerhard-Decision" not in block:
                found.setdefault(block["Gerhard-Run-Id"], Registration(commit, block))
    return found


def registration_of(root: Path, run_id: str) -> Registration | None:
    """A run's newest registration in all of HEAD's history."""
    return registrations(history.commits(root, run_id=run_id)).get(run_id)


def scope(root: Path, full: bool) -> Scope | None:
    """What to verify (None on a branch without commits)."""
    head = gitrepo.head(root).sha
    if head is None:
        return None
    since = None if full else remembered(root, head)
    commits = [] if since == head else history.commits(root, since)
    found = registrations(commits)
    if since is None:
        files = history.listing(root, head, [layout.RUNS_DIR, layout.OUTPUTS])
        archives = history.trees(root, head, [f"{layout.OUTPUTS}/"])
        runs = {r for r in map(layout.run_of, files) if r is not None} | set(found)
    else:
        touched = history.changed(root, since, head, [layout.RUNS_DIR, layout.OUTPUTS]) if commits else {}
        runs = {r for r in map(layout.run_of, touched) if r is not None} | set(found)
        paths = [p for r in sorted(runs) for p in (layout.record_path(r), f"{layout.run_dir(r)}/")]
        files = history.listing(root, head, paths) if paths else {}
        archives = history.trees(root, head, [layout.run_dir(r) for r in sorted(runs)])
    by_run: dict[str, dict[str, str]] = {}
    for path, blob in files.items():
        run = layout.run_of(path)
        if run is not None:
            by_run.setdefault(run, {})[path] = blob
    folders = {path.split("/", 1)[1]: tree for path, tree in archives.items()}
    return Scope(head, since, commits, found, sorted(runs), by_run, folders)


def registered(root: Path, scope: Scope) -> dict[str, Registration]:
    """The registration of each run to verify that has one (earlier than `scope.since`: found by grep), and
    of a run no trailers register, the commit that added it untold, if one did (`added_untold`)."""
    found = {}
    for run_id in scope.runs:
        reg = scope.registrations.get(run_id) or (registration_of(root, run_id) if scope.since else None)
        if reg is not None:
            found[run_id] = reg
    unnamed = [r for r in scope.runs if r not in found and layout.record_path(r) in scope.files.get(r, {})]
    return found | added_untold(root, unnamed)


MANY_PATHS = 64  # more paths than this are asked of git as their folders (pathspecs are matched one by one)


def added_untold(root: Path, runs: list[str]) -> dict[str, Registration]:
    """The runs whose record and MANIFEST one commit added together, its message holding no Gerhard-* block
    and not gerhard's registration subject for the run (a registration whose trailers were lost: a
    commit-msg hook, an amend): a squash merge that kept only its title, as GitLab's does, or a run added
    by hand. `gerhard check` takes such a commit as the run's registration only when what it added holds
    (its content, a bundle no other run holds, its gates evaluated again: gerhard.team.contents)."""
    if not runs:
        return {}
    records = {r: layout.record_path(r) for r in runs}
    manifests = {r: f"{layout.run_dir(r)}/{MANIFEST_NAME}" for r in runs}
    few = len(runs) <= MANY_PATHS  # else git matches each path against the folders, not against every path
    adders = history.last_changes(root, list(records.values()) if few else [f"{layout.RUNS_DIR}/"], added=True)
    shas = sorted({c.sha for c in adders.values()})
    paths = [*records.values(), *manifests.values()] if few else [f"{layout.RUNS_DIR}/", f"{layout.OUTPUTS}/"]
    added = history.added_paths(root, shas, paths)
    found = {}
    for run_id in runs:
        commit = adders.get(records[run_id])
        if commit is None or commit.blocks or commit.subject.startswith(f"register {run_id} "):
            continue
        if {records[run_id], manifests[run_id]} <= added.get(commit.sha, set()):
            found[run_id] = Registration(commit, {})
    return found


def programs_at(root: Path, regs: dict[str, Registration]) -> dict[str, str]:
    """run id -> blob id of the state/program.yaml its registration commit holds (small trees: quick)."""
    runs = sorted(regs)
    ids = history.object_ids(root, [f"{regs[r].commit.sha}:{layout.PROGRAM}" for r in runs])
    return {r: blob for r, blob in zip(runs, ids, strict=True) if blob is not None}


def start_judging(root: Path, regs: dict[str, Registration]) -> history.ObjectIds:
    """What each registration commit holds of its run, asked of git in the background (the slow part)."""
    return history.ObjectIds(
        root,
        [f"{regs[r].commit.sha}:{path}" for r in sorted(regs) for path in (layout.record_path(r), layout.run_dir(r))],
    )


def judge(root: Path, scope: Scope, regs: dict[str, Registration], asked: history.ObjectIds) -> Judged:
    """Each run against its registration: registered, never gone, written once."""
    ids = asked.result()
    held = {r: Held(ids[2 * i], ids[2 * i + 1]) for i, r in enumerate(sorted(regs))}
    problems: dict[str, list[str]] = {}
    intact: dict[str, Registration] = {}
    for run_id in scope.runs:
        reg = regs.get(run_id)
        found = judge_run(root, scope, run_id, reg, held.get(run_id))
        if found:
            problems[run_id] = found
        elif reg is not None:
            intact[run_id] = reg
    return Judged(problems, intact)


def judge_run(root: Path, scope: Scope, run_id: str, reg: Registration | None, held: Held | None) -> list[str]:
    rel, files = layout.record_path(run_id), scope.files.get(run_id, {})
    if reg is None or held is None:
        return [unregistered(root, run_id)] if rel in files else []  # no record: the content check says so
    if held.record is None:
        return [
            f"{reg.commit.named()} names run {run_id} in its Gerhard-* trailers but holds no {rel}: {NO_TRAILERS}"
            f" for the commit that added it; {withdraw_hint(run_id)}"
        ]
    if rel not in files:
        return [gone(root, run_id, reg)]
    if files[rel] == held.record and scope.archives.get(run_id) == held.archive:
        return []
    return changes(root, run_id, reg, held, files)


def unregistered(root: Path, run_id: str) -> str:
    rel = layout.record_path(run_id)
    added = history.last_changes(root, [rel], added=True).get(rel)
    who = added.named() if added is not None else "a commit"
    return (
        f"{rel} was added by {who} without a registration: {NO_TRAILERS}; remove the run "
        f"(git rm -r {rel} {layout.run_dir(run_id)}) and register it with 'gerhard register'"
    )


def gone(root: Path, run_id: str, reg: Registration) -> str:
    rel = layout.record_path(run_id)
    deleted = history.last_changes(root, [rel], since=reg.commit.sha).get(rel)
    who = deleted.named() if deleted is not None else "a later commit"
    return (
        f"run {run_id}, registered in commit {reg.commit.short}, is gone: {who} deleted {rel}; a registered "
        f"run is never removed: restore it with 'git checkout {reg.commit.short} -- {rel} {layout.run_dir(run_id)}' "
        f"and 'gerhard rebuild', commit, and withdraw it if it was a mistake ({withdraw_hint(run_id)})"
    )


def registered_files(root: Path, commit: str, run_id: str, held: Held | None = None) -> dict[str, str]:
    """path -> blob id of every file of the run (record and archive) as its registration commit wrote it."""
    if held is None:
        held = Held(
            *history.object_ids(root, [f"{commit}:{layout.record_path(run_id)}", f"{commit}:{layout.run_dir(run_id)}"])
        )
    files = {layout.record_path(run_id): held.record} if held.record else {}
    if held.archive is not None:
        base = f"{layout.run_dir(run_id)}/"
        files.update({base + name: blob for name, blob in history.tree_files(root, held.archive).items()})
    return files


def changes(root: Path, run_id: str, reg: Registration, held: Held, files: dict[str, str]) -> list[str]:
    """One line per commit that changed the run's files since its registration."""
    then = registered_files(root, reg.commit.sha, run_id, held)
    differ = sorted(p for p in then.keys() | files.keys() if then.get(p) != files.get(p))
    by = history.last_changes(root, differ, since=reg.commit.sha)
    groups: dict[str, list[str]] = {}
    for path in differ:
        groups.setdefault(by[path].sha if path in by else "", []).append(path)
    named = {c.sha: c for c in by.values()}
    lines = []
    for sha, paths in groups.items():
        who = named[sha].named() if sha in named else "a later commit"
        what, fix = what_changed(run_id, reg.commit.short, paths, then, files, PAST)
        lines.append(
            f"run {run_id} was changed after its registration in commit {reg.commit.short}: {who} {what}; "
            f"a run is write-once (a decision changes none of its files): {fix}, then 'gerhard rebuild' and commit"
        )
    return lines


PAST, PRESENT = ("changed", "deleted", "added"), ("changes", "deletes", "adds")


def what_changed(
    run_id: str, commit: str, paths: list[str], before: Collection[str], after: Collection[str], verbs: tuple[str, ...]
) -> tuple[str, str]:
    """The change of a run's files in words ('changed a and b; deleted outputs/<run_id>/'), and how to undo
    it (a whole archive deleted is named, and restored, as its folder)."""
    archive = [p for p in before if p.startswith(f"{layout.run_dir(run_id)}/")]
    whole = bool(archive) and set(archive) <= set(paths) and not any(p in after for p in archive)
    shown = [p for p in paths if not (whole and p in archive)]
    kinds: dict[str, list[str]] = {verb: [] for verb in verbs}
    for path in shown:
        kinds[verbs[0] if path in before and path in after else verbs[1] if path in before else verbs[2]].append(path)
    if whole:
        kinds[verbs[1]].insert(0, f"{layout.run_dir(run_id)}/")
    what = "; ".join(f"{verb} {and_list(found)}" for verb, found in kinds.items() if found)
    restore = [layout.run_dir(run_id)] * whole + [p for p in shown if p in before]
    remove = [p for p in shown if p not in before]
    fix = [f"'git checkout {commit} -- {' '.join(restore)}'"] * bool(restore) + [f"'git rm {' '.join(remove)}'"] * bool(
        remove
    )
    return what, f"restore it with {' and '.join(fix)}"


def and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def withdraw_hint(run_id: str) -> str:
    return f"gerhard decide {run_id} withdraw --reason '...'"
