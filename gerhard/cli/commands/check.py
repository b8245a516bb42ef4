"""gerhard check: every run whole, every archived file matching its hash, derived files up to date,
no leftovers of an interrupted registration. For CI and people: exit 1 with one line per problem.

It reads the work tree. A file git converts on checkout (core.autocrlf, a smudge filter) differs
from its MANIFEST there: it is intact when the blob git stores for it matches (git is asked about
a file only when its bytes do not match).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core.program import Program
from gerhard.errors import UserError
from gerhard.git import gitrepo, journal
from gerhard.output import print_json
from gerhard.registry import checks, store

PROGRESS_EVERY_S = 2.0
LEFTOVER_DIRS = ("state", "reports", layout.OUTPUTS, "docs/ops")  # where gerhard writes (temp files of a crash)
CHUNK = 250  # runs checked per task; with more than one chunk, chunks run in parallel processes
Checked = tuple[list[str], list[dict[str, Any]], int]  # problems, the records that parsed, archived files


def check(repo: Path, as_json: bool = False) -> int:
    root = gitrepo.find_root(Path(repo))
    problems = leftovers(root)
    program = store.load_program(root)
    runs = run_ids(root)
    records: list[dict[str, Any]] = []
    files = 0
    shown, done = time.monotonic(), 0
    for found, parsed, counted in checked_chunks(root, program, runs):
        problems, records, files = problems + found, records + parsed, files + counted
        done += min(CHUNK, len(runs) - done)
        if time.monotonic() - shown > PROGRESS_EVERY_S:
            print(f"checked {done}/{len(runs)} runs", file=sys.stderr, flush=True)
            shown = time.monotonic()
    read = worktree_reader(root)
    problems += derived(root, read, program, records, complete=len(records) == len(record_ids(root)))
    report(problems, len(runs), files, as_json)
    return 1 if problems else 0


def checked_chunks(root: Path, program: Program, runs: list[str]) -> Iterator[Checked]:
    """check_chunk over the runs CHUNK at a time, in order; in one process per CPU when there are
    several chunks (parsing and validating records is CPU work: 10,000 runs take 30 s on one)."""
    chunks = [runs[i : i + CHUNK] for i in range(0, len(runs), CHUNK)]
    workers = min(os.cpu_count() or 1, len(chunks), 8)
    pool = None
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with contextlib.suppress(OSError, NotImplementedError):  # no process semaphores here: one process
            pool = ProcessPoolExecutor(max_workers=workers)
    if pool is None:
        yield from (check_chunk(root, program, chunk) for chunk in chunks)
        return
    with pool:
        yield from pool.map(check_chunk, [root] * len(chunks), [program] * len(chunks), chunks)


def check_chunk(root: Path, program: Program, runs: list[str]) -> Checked:
    """Each run's record, MANIFEST and archived bytes. Bundles were checked for their phase when they
    were registered (and by the hook): here the bytes must still be the ones the MANIFEST lists."""
    read, stored = worktree_reader(root), stored_blob(root)
    problems: list[str] = []
    records: list[dict[str, Any]] = []
    files = 0
    for run_id in runs:
        listing = archive_listing(root, run_id)
        files += len(listing)
        problems += checks.check_run(program, run_id, read, listing, root, bundles=False, seen=records, stored=stored)
    return problems, records, files


def report(problems: list[str], runs: int, files: int, as_json: bool) -> None:
    if as_json:
        print_json({"ok": not problems, "runs": runs, "files": files, "problems": problems})
        return
    for line in problems:
        print(line)
    if problems:
        print(f"checked {runs} runs, {files} files: {len(problems)} problem(s)", file=sys.stderr)
    else:
        print(f"checked {runs} runs, {files} files, derived files up to date")


def leftovers(root: Path) -> list[str]:
    """What an interrupted registration left: its journal, git's index lock it held, temporary files."""
    info = gitrepo.info(root)
    txn = journal.load(info)
    if txn is not None:
        subject = txn.data.get("subject")
        return [f"an interrupted transaction ({subject}) is not settled: run 'gerhard doctor' to finish or undo it"]
    found = []
    if info.index_lock.is_file() and info.index_lock.read_bytes()[:12] == b"gerhard-txn ":
        found.append(f"{info.index_lock} was left by an interrupted gerhard command: run 'gerhard doctor'")
    for top in (root / d for d in LEFTOVER_DIRS if (root / d).is_dir()):
        for dirpath, _dirs, names in os.walk(top):
            temp = [Path(dirpath, n).relative_to(root) for n in names if n.endswith(journal.TMP_SUFFIX)]
            found += [f"{rel} is a temporary file of an interrupted write: run 'gerhard doctor'" for rel in temp]
    return found


def record_ids(root: Path) -> set[str]:
    folder = root / layout.RUNS_DIR
    return {p.stem for p in folder.glob("*.yaml")} if folder.is_dir() else set()


def run_ids(root: Path) -> list[str]:
    """Every run with a record or an archive folder."""
    folders = (
        {p.name for p in (root / layout.OUTPUTS).iterdir() if p.is_dir()} if (root / layout.OUTPUTS).is_dir() else set()
    )
    return sorted(record_ids(root) | folders)


def archive_listing(root: Path, run_id: str) -> list[str]:
    """The files of outputs/<run_id>/ (repository paths), a crash's temporary files left out."""
    folder = root / layout.run_dir(run_id)
    return [
        str(p.relative_to(root))
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not (p.name.startswith(".") and p.name.endswith(journal.TMP_SUFFIX))
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


def derived(root: Path, read: checks.Reader, program: Program, records: list[dict], complete: bool) -> list[str]:
    """Derived files against the rebuild from the records just read (when they all read)."""
    from gerhard.core.derive import landing_order, rebuild_files
    from gerhard.core.records import RunRecord

    if not complete:
        return []  # a broken record is already a problem; fix it first, then the rebuild can be compared
    try:
        typed = sorted(map(RunRecord.from_dict, records), key=landing_order)
        expected = rebuild_files(program, typed, lambda rel: store.read_text(root, rel))
    except UserError as e:
        return [f"derived files cannot be rebuilt: {e}"]
    if not records:  # a registry without runs has derived files only once the first run is registered
        expected = {rel: text for rel, text in expected.items() if store.read_text(root, rel) is not None}
    return checks.derived_problems(root, expected, read)
