"""gerhard check: every run as the commit that registered it wrote it, every archived file matching its
hash, derived files up to date, no leftovers of an interrupted registration. For CI and people: exit 1
with one line per problem.

Two halves. The history (gerhard.team.history, gerhard.team.contents): what HEAD holds, read from git's
objects, against the commits that registered each run; incremental, from the last commit a passing
check verified (`--full`: every commit). The work tree: `git status` names what differs from HEAD, and
only that is read from disk, as before: a run's files, and the derived files recomputed from the
records on disk when a record, a decision, program.yaml or a derived file differs. A file git converts
on checkout (core.autocrlf, a smudge filter) is not a change to git, and on disk it is intact when the
blob git stores for it matches its MANIFEST.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core.derive import landing_order, run_files
from gerhard.core.program import Program
from gerhard.core.records import RunRecord
from gerhard.errors import UserError
from gerhard.git import gitrepo, journal, rewrite
from gerhard.git import history as git_history
from gerhard.git.blobs import Blobs
from gerhard.output import print_json
from gerhard.registry import checks, pending_runs, store
from gerhard.registry.unlogged import unlogged_gates
from gerhard.team import contents, expected, history

PROGRESS_EVERY_S = 2.0
LEFTOVER_DIRS = ("state", "reports", layout.OUTPUTS, "docs/ops")  # where gerhard writes (temp files of a crash)


@dataclass
class Audit:
    """What the history half found, and how much it read."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what passes but is worth a word (a title-only squash)
    runs: int = 0
    files: int = 0
    commits: int = 0
    since: str | None = None
    head: str | None = None
    records: dict[str, RunRecord] = field(default_factory=dict)
    audited: set[str] = field(default_factory=set)  # the runs read from git
    rendered: dict[str, dict[str, str]] = field(default_factory=dict)  # run id -> its derived per-run files
    complete: bool = True  # every record in HEAD was read and is valid


def check(repo: Path, as_json: bool = False, full: bool = False) -> int:
    root = gitrepo.find_root(Path(repo))
    status = start_worktree_changes(root)  # git walks the run folders while the history is read
    program = store.load_program(root)
    audit = audit_history(
        root, full, derived_clean=lambda: not any(map(layout.is_derived, worktree_changes(status)[0]))
    )
    dirty, ignored = worktree_changes(status)
    problems = (
        leftovers(root, [*dirty, *ignored]) + audit.problems + worktree_problems(root, program, dirty, audit, ignored)
    )
    problems = list(dict.fromkeys(problems))
    report(problems, audit, as_json, unlogged_gates(root, program))  # warnings: they do not fail the check
    if audit.head is not None and not audit.problems:
        history.remember(root, audit.head)
    return 1 if problems else 0


def audit_history(root: Path, full: bool, derived_clean: Callable[[], bool] = lambda: False) -> Audit:
    """Every run of the commits since the last verified one (all of them: full) against its registration,
    its content read from git's objects, and HEAD's derived files (`derived_clean`: the work tree's are
    HEAD's, and are read from disk, which is cheaper than from git's objects)."""
    scope = history.scope(root, full)
    if scope is None:
        return Audit()
    regs = history.registered(root, scope)
    program_of = history.programs_at(root, regs)
    asked = history.start_judging(root, regs)  # git resolves those paths while the runs are read
    tasks = [contents.Task(r, scope.files[r], program_of.get(r)) for r in scope.runs if r in scope.files]
    programs = contents.programs_of(root, set(program_of.values()))
    head_program = contents.program_of(root, Blobs(root, scope.head).text(layout.PROGRAM) or "")
    audit = Audit(runs=len(scope.runs), commits=len(scope.commits), since=scope.since, head=scope.head)
    audit.audited = set(scope.runs)
    found, inputs = read_runs(root, head_program, tasks, programs, audit, render=scope.since is None)
    judged = history.judge(root, scope, regs, asked)
    for run_id in scope.runs:  # a run changed in the history is named with the commit: its bytes tell no more
        untold = judged.intact.get(run_id)
        if untold is not None and untold.untold and run_id in found:  # what its commit added does not hold
            audit.problems.append(history.unregistered(root, run_id))
            del judged.intact[run_id]
            continue
        audit.problems += judged.problems.get(run_id) or found.get(run_id, [])
    said, audit.notes = registration_problems(root, scope.head, judged, programs, program_of, inputs, audit.records)
    audit.problems += said
    audit.problems += head_derived(root, head_program, scope, audit, derived_clean)
    return audit


def read_runs(
    root: Path,
    program: Program,
    tasks: list[contents.Task],
    programs: contents.Programs,
    audit: Audit,
    render: bool = False,
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Each run's content problems and what its gates read (run id -> ...); its record into `audit`, and
    (`render`: HEAD's derived files will be rebuilt from every record) its derived per-run files, rendered
    here while the workers read the next runs, which leaves the rebuild the fold alone."""
    problems: dict[str, list[str]] = {}
    inputs: dict[str, Any] = {}
    shown = time.monotonic()
    for done, one in enumerate(contents.check_runs(root, program, tasks, programs), start=1):
        audit.files += one.files
        if one.problems:
            problems[one.run_id] = one.problems
        if one.record is not None:
            record = audit.records[one.run_id] = RunRecord.from_dict(one.record)
            if render and record.verdict != "RED":  # a RED run's needs-input file waits for the fold's answer
                audit.rendered[one.run_id] = run_files(program, record)
        elif layout.record_path(one.run_id) in tasks[done - 1].files:
            audit.complete = False  # a record that does not read: the rebuild cannot be compared
        if one.inputs is not None:  # its gates evaluated again now, when the baselines they read are in
            program_then = programs.get(tasks[done - 1].program or "")
            now = None
            if isinstance(one.inputs, dict) and one.run_id in audit.records and isinstance(program_then, Program):
                now = contents.regated(program_then, audit.records[one.run_id], one.inputs, audit.records)
            inputs[one.run_id] = now or one.inputs
        if time.monotonic() - shown > PROGRESS_EVERY_S:
            print(f"checked {done}/{len(tasks)} runs", file=sys.stderr, flush=True)
            shown = time.monotonic()
    return problems, inputs


def registration_problems(
    root: Path,
    head: str,
    judged: history.Judged,
    programs: contents.Programs,
    program_of: dict[str, str],
    inputs: dict[str, Any],
    records: dict[str, RunRecord],
) -> tuple[list[str], list[str]]:
    """The registrations' trailers and gates against the records they wrote (the runs HEAD holds intact);
    of a run a commit added untold, whether it is taken as registered (a note) or named hand-added."""
    others = Blobs(root, head)
    untold = {r: records[r] for r, reg in judged.intact.items() if reg.untold and r in records}
    shared = contents.shared_bundles(root, head, untold) if untold else set()

    def observed(run_id: str, gate_id: str) -> Any:
        record = records.get(run_id) or other_record(others, run_id)
        return contents.observed_in(record, gate_id) if record else None

    problems, notes = [], []
    for run_id, reg in sorted(judged.intact.items()):
        record = records.get(run_id)
        if record is None:
            continue
        said = None if reg.untold else contents.trailer_problem(run_id, reg, record)
        program = programs.get(program_of.get(run_id, ""))
        if said is None and run_id in inputs and isinstance(program, Program):
            said = contents.regate_problem(run_id, reg, program, record, inputs[run_id], observed)
        elif reg.untold:
            said = "its gates cannot be evaluated again"
        if reg.untold and said is None and run_id not in shared:  # taken as registered: all of it holds
            notes.append(contents.untold_note(run_id, reg))
        elif reg.untold:  # named as a run added by hand, as any record no trailers register
            problems.append(history.unregistered(root, run_id))
        elif said:
            problems.append(said)
    return problems, notes


def other_record(blobs: Blobs, run_id: str) -> RunRecord | None:
    """A record HEAD holds that this check did not read (a baseline run registered earlier)."""
    data = blobs.data(layout.record_path(run_id))
    if data is None:
        return None
    record, _ = checks.parse_record(data, layout.record_path(run_id), blobs.root)
    return RunRecord.from_dict(record) if record is not None else None


def head_derived(
    root: Path, program: Program, scope: history.Scope, audit: Audit, clean: Callable[[], bool] = lambda: False
) -> list[str]:
    """HEAD's derived files: recomputed from every record (a full check), or from the change since the last
    verified commit as the pre-commit hook computes it (gerhard.team.expected). `clean`: whether the work
    tree's derived files are HEAD's (then read from disk, cheaper than from git's objects)."""
    if scope.since is None:
        read = worktree_reader(root) if clean() else Blobs(root, scope.head).data
        return derived(root, read, program, list(audit.records.values()), audit.complete, audit.rendered)
    changes = git_history.changed(root, scope.since, scope.head, ["state", "reports", "docs/ops"])
    if not changes:
        return []
    index, before = Blobs(root, scope.head), Blobs(root, scope.since)
    try:
        problems = expected.source_problems(root, changes, index)
        return problems or [checks.differs(rel) for rel in expected.differing(program, changes, index, before)]
    except UserError as e:
        return [str(e)]


def report(problems: list[str], audit: Audit, as_json: bool, warnings: list[str] | None = None) -> None:
    since = f" since {audit.since[:12]}" if audit.since else ""
    commits = f"{audit.commits} commit{'s' if audit.commits != 1 else ''}{since}"
    if as_json:
        print_json(
            {
                "ok": not problems,
                "runs": audit.runs,
                "files": audit.files,
                "commits": audit.commits,
                "since": audit.since,
                "problems": problems,
                "warnings": warnings or [],
                "notes": audit.notes,
            }
        )
        return
    for line in warnings or []:
        print(line, file=sys.stderr)
    for line in problems:
        print(line)
    for line in audit.notes:
        print(line, file=sys.stderr)
    counts = f"checked {audit.runs} run{'s' if audit.runs != 1 else ''}, {audit.files} files, {commits}"
    if problems:
        print(f"{counts}: {len(problems)} problem(s)", file=sys.stderr)
    else:
        print(f"{counts}: every run as registered, derived files up to date")


def leftovers(root: Path, listed: list[str] | None = None) -> list[str]:
    """What an interrupted command left: a rewrite's journal (a rebase, a register --push), a registration's
    journal, git's index lock it held, temporary files
    (among `listed`, what `git status` lists untracked or ignored where gerhard writes, when given:
    the same files a walk of those folders finds, without a second walk of 10,000 run folders)."""
    info = gitrepo.info(root)
    pending = rewrite.load(info) if rewrite.pending(info) else None
    if pending is not None:  # a rebase or register --push: undone, it would move the branch back
        return [
            f"an interrupted {pending.what} ('gerhard rebase' or 'register --push') is not settled: "
            "run 'gerhard doctor' to finish or undo it"
        ]
    txn = journal.load(info)
    if txn is not None:
        subject = txn.data.get("subject")
        return [f"an interrupted transaction ({subject}) is not settled: run 'gerhard doctor' to finish or undo it"]
    found = []
    if info.index_lock.is_file() and info.index_lock.read_bytes()[:12] == b"gerhard-txn ":
        found.append(f"{info.index_lock} was left by an interrupted gerhard command: run 'gerhard doctor'")
    if listed is not None:
        temp = sorted(p for p in listed if p.endswith(journal.TMP_SUFFIX))
        return found + [f"{rel} is a temporary file of an interrupted write: run 'gerhard doctor'" for rel in temp]
    for top in (root / d for d in LEFTOVER_DIRS if (root / d).is_dir()):
        for dirpath, _dirs, names in os.walk(top):
            stray = [Path(dirpath, n).relative_to(root) for n in names if n.endswith(journal.TMP_SUFFIX)]
            found += [f"{rel} is a temporary file of an interrupted write: run 'gerhard doctor'" for rel in stray]
    return found


def start_worktree_changes(root: Path) -> gitrepo.Started:
    """`git status` of the folders where gerhard writes, started (at 10,000 runs it reads 10,000 run
    folders: about as long as the incremental history audit, which runs meanwhile)."""
    return gitrepo.Started(
        root,
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--ignored=matching",
        "--no-renames",
        "--",
        *LEFTOVER_DIRS,
    )


def worktree_changes(status: gitrepo.Started) -> tuple[list[str], list[str]]:
    """The paths where gerhard writes that differ from HEAD (changed in the index or the work tree,
    deleted, or untracked), and apart those git ignores (heavy files' local copies, temporary files)."""
    entries = [e for e in status.result().decode("utf-8", "surrogateescape").split("\0") if len(e) > 3]
    return [e[3:] for e in entries if e[:2] != "!!"], [e[3:] for e in entries if e[:2] == "!!"]


def worktree_problems(
    root: Path, program: Program, dirty: list[str], audit: Audit, ignored: list[str] | None = None
) -> list[str]:
    """The runs and derived files that differ from HEAD, checked on disk (a pending run: a note)."""
    runs, pending = pending_runs.worktree_runs(root, dirty, ignored or [])
    audit.notes += [f"note: {run.line(root)}" for run in pending]
    read, stored = worktree_reader(root), stored_blob(root)
    problems = []
    for run_id in runs:
        listing = archive_listing(root, run_id)
        if run_id not in audit.audited:  # read here only
            audit.runs, audit.files = audit.runs + 1, audit.files + len(listing)
        problems += checks.check_run(program, run_id, read, listing, root, bundles=False, stored=stored)
    if any(layout.is_source(p) or layout.is_derived(p) for p in dirty):
        records, complete = records_on_disk(root)
        problems += derived(root, read, program, records, complete)
    return problems


def records_on_disk(root: Path) -> tuple[list[dict[str, Any]], bool]:
    """Every record in the work tree that is valid, and whether they all are."""
    folder = root / layout.RUNS_DIR
    records: list[dict[str, Any]] = []
    paths = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    for path in paths:
        record, _ = checks.parse_record(path.read_bytes(), layout.record_path(path.stem), root)
        if record is not None:
            records.append(record)
    return records, len(records) == len(paths)


def archive_listing(root: Path, run_id: str) -> list[str]:
    """The files of outputs/<run_id>/ (repository paths), the temporary files of an interrupted write left
    out: every *.gerhard-tmp, as doctor counts them (atomic_write's .<name>.<random>.gerhard-tmp, a copy's
    <name>.gerhard-tmp left by a killed `sync pull`); `leftovers` names them once."""
    folder = root / layout.run_dir(run_id)
    return [
        str(p.relative_to(root))
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(journal.TMP_SUFFIX)
    ]


def worktree_reader(root: Path) -> checks.Reader:
    def read(rel: str) -> bytes | None:
        path = root / rel
        return path.read_bytes() if path.is_file() else None

    return read


def stored_blob(root: Path) -> checks.Reader:
    """The blob git stores for a work-tree file that is its checkout (core.autocrlf, a smudge filter
    convert it), else None: such a file is intact when the blob matches its MANIFEST."""

    def read(rel: str) -> bytes | None:
        staged = gitrepo.index_entries(root, [rel]).get(rel)
        if staged is None or gitrepo.hash_paths(root, [rel], write=False) != [staged]:
            return None  # not in git, or changed in the work tree
        found = gitrepo.cat_objects(root, [staged])[0]
        return found[1] if found is not None else None

    return read


def derived(
    root: Path,
    read: checks.Reader,
    program: Program,
    records: list[dict] | list[RunRecord],
    complete: bool,
    rendered: dict[str, dict[str, str]] | None = None,
) -> list[str]:
    """Derived files against the rebuild from the records just read (when they all read; `rendered`: the
    per-run files of these records, computed already)."""
    from gerhard.registry import derived as derived_files

    if not complete:
        return []  # a broken record is already a problem; fix it first, then the rebuild can be compared
    try:  # off the default branch, what the branch holds (gerhard.registry.derived)
        typed = sorted((r if isinstance(r, RunRecord) else RunRecord.from_dict(r) for r in records), key=landing_order)
        return derived_files.derived_problems(root, program, typed, read, rendered)
    except UserError as e:
        return [f"derived files cannot be rebuilt: {e}"]
