"""Which runs a site shows and a fingerprint of each: from the work tree, or from a revision (`--rev`).

A run's fingerprint changes whenever anything the site shows of it can: its record, its archived
metrics.json (final values, history) and eval_suite.json, its dossier. The build re-reads only the runs
whose fingerprint changed since the last build, so the fingerprints must be cheap: in the work tree
they are `stat` results (size and modification time, four per run, no file read); at a revision they
are git's blob ids, listed by one `git ls-tree`.

A revision's files are read through the same code as the work tree's: the ones a build needs (the
state files and the changed runs' files) are written into a temporary folder laid out like the
registry, with one `git cat-file --batch`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gerhard import layout
from gerhard.dossier.codec import dossier_name
from gerhard.errors import UserError
from gerhard.git import gitrepo

RUN_FILES = ("metrics.json", "eval_suite.json")  # what the site reads of an archived bundle, besides its dossier


def run_paths(run_id: str) -> list[str]:
    """The files of a run the site reads: its record, then RUN_FILES and its dossier in outputs/<run_id>/."""
    folder = layout.run_dir(run_id)
    return [layout.record_path(run_id), *(f"{folder}/{name}" for name in (*RUN_FILES, dossier_name(run_id)))]


@dataclass(frozen=True)
class Snapshot:
    """The registry as the site sees it: run id -> fingerprint, and (for a revision) each path's blob."""

    repo: Path  # the work tree's top
    rev: str | None  # None: the work tree as it is
    commit: str | None  # the commit `rev` names
    runs: dict[str, str]
    blobs: dict[str, str]  # path -> blob id, at a revision only

    def has(self, rel: str) -> bool:
        return rel in self.blobs if self.rev else (self.repo / rel).is_file()


def _stat(path: Path) -> str:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def worktree_snapshot(repo: Path) -> Snapshot:
    runs_dir = repo / layout.RUNS_DIR
    ids = sorted(e.name[:-5] for e in os.scandir(runs_dir) if e.name.endswith(".yaml")) if runs_dir.is_dir() else []
    runs = {run_id: "|".join(_stat(repo / rel) for rel in run_paths(run_id)) for run_id in ids}
    return Snapshot(repo, None, None, runs, {})


def revision_snapshot(repo: Path, rev: str) -> Snapshot:
    commit = (
        gitrepo.run_git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False).decode().strip()
    )
    if not commit:
        raise UserError(f"--rev {rev!r} names no commit here: give a branch, a tag or a commit id (see 'git log')")
    raw = gitrepo.run_git(repo, "ls-tree", "-r", "-z", "--full-tree", commit, "--", "state", layout.OUTPUTS)
    blobs = {}
    for entry in filter(None, raw.decode("utf-8", "surrogateescape").split("\0")):
        meta, _, path = entry.partition("\t")
        blobs[path] = meta.split()[2]
    prefix, suffix = f"{layout.RUNS_DIR}/", ".yaml"
    ids = sorted(p[len(prefix) : -len(suffix)] for p in blobs if p.startswith(prefix) and p.endswith(suffix))
    runs = {run_id: "|".join(blobs.get(rel, "-") for rel in run_paths(run_id)) for run_id in ids}
    return Snapshot(repo, rev, commit, runs, blobs)


def take(repo: Path, rev: str | None) -> Snapshot:
    return worktree_snapshot(repo) if rev is None else revision_snapshot(repo, rev)


@contextlib.contextmanager
def readable(snap: Snapshot, run_ids: list[str]) -> Iterator[Path]:
    """A registry root where the state files and these runs' files can be read: the work tree itself, or
    (at a revision) a temporary folder holding just those files of the revision."""
    if snap.rev is None:
        yield snap.repo
        return
    wanted = [p for p in snap.blobs if p.startswith("state/") and not p.startswith(f"{layout.RUNS_DIR}/")]
    wanted += [p for run_id in run_ids for p in run_paths(run_id)[:-1] if p in snap.blobs]  # a dossier: only its name
    with tempfile.TemporaryDirectory(prefix="gerhard-site-") as tmp:
        objects = gitrepo.cat_objects(snap.repo, [snap.blobs[p] for p in wanted]) if wanted else []
        made: set[Path] = set()
        for rel, obj in zip(wanted, objects, strict=True):
            target = Path(tmp, rel)
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            target.write_bytes(obj[1] if obj else b"")
        yield Path(tmp)
