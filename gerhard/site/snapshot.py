"""Which runs a site shows and a fingerprint of each: from the work tree, or from a revision (`--rev`).

A run's fingerprint changes whenever anything the site shows of it can: its record, its archived
metrics.json (final values, history) and eval_suite.json, its dossier, its report. The build re-reads only
the runs whose fingerprint changed since the last build, so the fingerprints must be cheap: in the work
tree they are `stat` results (size and modification time, five per run, no file read; the reports are
found by listing reports/YYYY/MM/); at a revision they are git's blob ids, listed by one `git ls-tree`.

A revision's run files are read from its blobs (gerhard.site.build, one `git cat-file --batch` a batch of
runs); its state files, which the program view reads through the registry's own functions, are written
into a temporary folder laid out like the registry (`state_root`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gerhard import layout
from gerhard.dossier.codec import dossier_name
from gerhard.errors import UserError
from gerhard.git import gitrepo
from gerhard.registry import pending, store

REPORTS = "reports"
RUN_FILES = ("metrics.json", "eval_suite.json")  # what the site reads of an archived bundle, besides its dossier


def run_paths(run_id: str) -> list[str]:
    """The files of a run the site reads: its record, then RUN_FILES and its dossier in outputs/<run_id>/."""
    folder = layout.run_dir(run_id)
    return [layout.record_path(run_id), *(f"{folder}/{name}" for name in (*RUN_FILES, dossier_name(run_id)))]


@dataclass(frozen=True)
class Snapshot:
    """The registry as the site sees it: run id -> fingerprint, the runs' reports, and (for a revision)
    each path's blob."""

    repo: Path  # the work tree's top
    rev: str | None  # None: the work tree as it is
    commit: str | None  # the commit `rev` names
    runs: dict[str, str]
    reports: dict[str, str]  # run id -> reports/YYYY/MM/<run_id>.md, for the runs that have one
    blobs: dict[str, str]  # path -> blob id, at a revision only

    def has(self, rel: str) -> bool:
        return rel in self.blobs if self.rev else (self.repo / rel).is_file()


def _stat(path: str) -> str:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _report_stat(repo: Path, rel: str | None) -> str:
    return "-" if rel is None else _stat(f"{repo}/{rel}")


def report_of(rel: str) -> str | None:
    """The run id whose report `rel` is (reports/YYYY/MM/<run_id>.md), or None."""
    parts = rel.split("/")
    if len(parts) != 4 or parts[0] != REPORTS or not parts[3].endswith(".md") or parts[3] == "index.md":
        return None
    return parts[3][:-3]


def _listed(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return sorted(e.name for e in entries)
    except (FileNotFoundError, NotADirectoryError):
        return []


def worktree_reports(repo: Path) -> dict[str, str]:
    found = {}
    for year in _listed(repo / REPORTS):
        for month in _listed(repo / REPORTS / year):
            for name in _listed(repo / REPORTS / year / month):
                rel = f"{REPORTS}/{year}/{month}/{name}"
                if (run_id := report_of(rel)) is not None:
                    found[run_id] = rel
    return found


def worktree_snapshot(repo: Path) -> Snapshot:
    runs_dir = repo / layout.RUNS_DIR
    ids = sorted(e.name[:-5] for e in os.scandir(runs_dir) if e.name.endswith(".yaml")) if runs_dir.is_dir() else []
    known = set(ids)
    reports = {r: rel for r, rel in worktree_reports(repo).items() if r in known}
    runs = {
        run_id: "|".join(
            [*(_stat(f"{repo}/{rel}") for rel in run_paths(run_id)), _report_stat(repo, reports.get(run_id))]
        )
        for run_id in ids
    }
    return Snapshot(repo, None, None, runs, reports, {})


def revision_snapshot(repo: Path, rev: str) -> Snapshot:
    commit = (
        gitrepo.run_git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False).decode().strip()
    )
    if not commit:
        raise UserError(f"--rev {rev!r} names no commit here: give a branch, a tag or a commit id (see 'git log')")
    raw = gitrepo.run_git(repo, "ls-tree", "-r", "-z", "--full-tree", commit, "--", "state", layout.OUTPUTS, REPORTS)
    blobs = {}
    for entry in filter(None, raw.decode("utf-8", "surrogateescape").split("\0")):
        meta, _, path = entry.partition("\t")
        blobs[path] = meta.split()[2]
    prefix, suffix = f"{layout.RUNS_DIR}/", ".yaml"
    ids = sorted(p[len(prefix) : -len(suffix)] for p in blobs if p.startswith(prefix) and p.endswith(suffix))
    known = set(ids)
    reports = {r: p for p in blobs if (r := report_of(p)) is not None and r in known}
    runs = {
        run_id: "|".join([*(blobs.get(rel, "-") for rel in run_paths(run_id)), blobs.get(reports.get(run_id, ""), "-")])
        for run_id in ids
    }
    return Snapshot(repo, rev, commit, runs, reports, blobs)


def take(repo: Path, rev: str | None) -> Snapshot:
    return worktree_snapshot(repo) if rev is None else revision_snapshot(repo, rev)


@contextlib.contextmanager
def state_root(snap: Snapshot) -> Iterator[Path]:
    """A registry root where the state files (not the run records) can be read: the work tree itself, or
    (at a revision) a temporary folder holding just those files of the revision."""
    if snap.rev is None:
        yield snap.repo
        return
    wanted = [p for p in snap.blobs if p.startswith("state/") and not p.startswith(f"{layout.RUNS_DIR}/")]
    with tempfile.TemporaryDirectory(prefix="gerhard-site-") as tmp:
        root = Path(tmp)
        write_blobs(snap, root, wanted)
        # The records the stored aggregates may not hold (merged from a branch): those its ledger does not
        # list, which the status folds on top (gerhard.registry.pending); the others are never read.
        stored = store.load_status(root) or {}
        if len(snap.runs) != int(stored.get("run_count") or 0):
            listed = pending.ledger_ids(stored, lambda rel: store.read_text(root, rel))
            write_blobs(snap, root, [layout.record_path(r) for r in snap.runs if r not in listed])
        yield root


def write_blobs(snap: Snapshot, root: Path, paths: list[str]) -> None:
    """These paths' blobs at the revision, written under `root` (one `git cat-file --batch`)."""
    objects = gitrepo.cat_objects(snap.repo, [snap.blobs[p] for p in paths]) if paths else []
    made: set[Path] = set()
    for rel, obj in zip(paths, objects, strict=True):
        target = root / rel
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        target.write_bytes(obj[1] if obj else b"")


def blob_reader(repo: Path, blobs: dict[str, str]) -> Callable[[str], bytes | None]:
    """A reader of these paths' blobs, fetched with one `git cat-file --batch` (each distinct blob once)."""
    ids = sorted(set(blobs.values()))
    content = {i: obj[1] for i, obj in zip(ids, gitrepo.cat_objects(repo, ids), strict=True) if obj is not None}
    return lambda rel: content.get(blobs.get(rel, ""))
