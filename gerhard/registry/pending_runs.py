"""Runs not registered yet: the folders under outputs/ that no record in state/runs/ names.

A notebook or a script writes its run into outputs/<run_id>/ and registers it there, in place. Until it is
registered the folder is work in progress, not a damaged archive: a finish() that was refused, a runtime
that died, a registration refused (its phase not open yet, ...), a notebook's own save cell. `gerhard
status` and `gerhard doctor` list these pending runs with the command that registers each; the pre-commit
hook refuses only a commit that adds such a folder's files by hand (gerhard.team.staged), and says how to
register it instead.

Two kinds, told apart by one look into the folder:
- unfinished: start_run's live state is there (.gerhard-run/state.json, gerhard.capture.run): `gerhard
  finish outputs/<run_id>` completes and registers it;
- bundle: its files are written: `gerhard register --run-id .. --phase .. --source-dir outputs/<run_id>`.
  The phase is the one finish() noted when the registration was refused (a note in the git directory,
  beside no tracked file), else the user names it.

A folder HEAD holds is no pending run (its record removed is damage, for `gerhard check`). As cheap at
10,000 runs as at 10: one listing of outputs/ against one of state/runs/; only the folders with no record
(a few) are looked into, and asked of git in one process.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.errors import GerhardError
from gerhard.files import atomic_write
from gerhard.git import gitrepo
from gerhard.git.blobs import Blobs
from gerhard.registry.bundle import check_run_id, is_dossier_name
from gerhard.registry.pending import names_in

CAPTURE_STATE = ".gerhard-run/state.json"  # gerhard.capture.run's WORK_DIR/STATE: a run start_run began
NOTES_DIR = "gerhard-unregistered"  # in the git directory: <run_id>.json, what a refused finish() knew
BUNDLE_NAMES = frozenset({"metrics.json", "eval_suite.json", "config.yaml", "seed.txt", "provenance.json"})
UNFINISHED, BUNDLE = "unfinished", "bundle"
PHASE_PLACEHOLDER = "PHASE"


@dataclass(frozen=True)
class PendingRun:
    """A run folder under outputs/ with no record: what it is and what registers it."""

    run_id: str
    kind: str  # UNFINISHED or BUNDLE
    phase: str | None = None  # None: not known (a folder a notebook wrote itself)
    force: bool = False
    summary: str = ""
    next_action: str = ""

    def command(self, root: Path, cwd: Path | None = None) -> str:
        """The command that registers it, run from `cwd` (relative paths when that is the registry's root)."""
        here = (cwd or Path.cwd()).resolve() == root.resolve()
        folder = layout.run_dir(self.run_id) if here else str(root / layout.run_dir(self.run_id))
        if self.kind == UNFINISHED:
            return f"python -m gerhard finish {shlex.quote(folder)}"
        repo = "" if here else f" --repo {shlex.quote(str(root))}"
        cmd = (
            f"python -m gerhard register{repo} --run-id {self.run_id} --phase {self.phase or PHASE_PLACEHOLDER} "
            f"--source-dir {shlex.quote(folder)}"
        )
        for flag, text in (("--summary", self.summary), ("--next-action", self.next_action)):
            cmd += f" {flag} {shlex.quote(text)}" if text else ""
        return cmd + (" --force" if self.force else "")

    def advice(self, root: Path, cwd: Path | None = None) -> str:
        """The command, and when to run it (a run may still be live) or what to put in it (a phase not known)."""
        if self.kind == UNFINISHED:
            return f"{self.command(root, cwd)} (once the process that runs it has ended)"
        unknown = f" (put its phase for {PHASE_PLACEHOLDER})" if not self.phase else ""
        return self.command(root, cwd) + unknown

    def line(self, root: Path, cwd: Path | None = None) -> str:
        """One line for `status` and `doctor`."""
        what = "unfinished run" if self.kind == UNFINISHED else "bundle"
        return f"{layout.run_dir(self.run_id)}/ ({what}, not registered yet): {self.advice(root, cwd)}"

    def as_dict(self, root: Path, cwd: Path | None = None) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "folder": f"{layout.run_dir(self.run_id)}/",
            "kind": self.kind,
            "phase": self.phase,
            "command": self.command(root, cwd),
        }


def pending_runs(root: Path) -> list[PendingRun]:
    """The run folders under outputs/ that no record names, by run id."""
    recorded = set(names_in(root, layout.RUNS_DIR))
    try:
        with os.scandir(root / layout.OUTPUTS) as entries:
            names = [e.name for e in entries if e.name not in recorded and e.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = [run for run in (pending_run(root, name) for name in sorted(names)) if run is not None]
    return not_committed(root, found) if found else []


def not_committed(root: Path, runs: list[PendingRun]) -> list[PendingRun]:
    """A folder HEAD holds is a registered run whose record is gone from the work tree (damage, which
    `gerhard check` names), not a pending run. One git process, for the few folders with no record."""
    head = Blobs(root, "HEAD")
    head.prefetch([layout.run_dir(run.run_id) for run in runs])
    return [run for run in runs if not head.has_tree(layout.run_dir(run.run_id))]


def run_id_like(name: str) -> bool:
    """A name a run could have (a dot folder, say, is not one)."""
    try:
        check_run_id(name)
    except GerhardError:
        return False
    return not name.startswith(".")


def pending_run(root: Path, run_id: str) -> PendingRun | None:
    """The folder outputs/<run_id>/ as a pending run, or None when it does not look like one (a name no run
    has, heavy files' copies a branch switch left): start_run's state, or a bundle file on top."""
    if not run_id_like(run_id):
        return None
    folder = root / layout.run_dir(run_id)
    state = read_json(folder / CAPTURE_STATE)
    if state is not None:
        return PendingRun(run_id, UNFINISHED, str(state.get("phase") or "") or None)
    try:
        with os.scandir(folder) as entries:
            names = {e.name for e in entries if e.is_file()}
    except OSError:
        return None
    if not (names & BUNDLE_NAMES or any(map(is_dossier_name, names))):
        return None
    note = read_json(notes_dir(root) / f"{run_id}.json") or {}
    return PendingRun(
        run_id,
        BUNDLE,
        str(note.get("phase") or "") or None,
        bool(note.get("force")),
        str(note.get("summary") or ""),
        str(note.get("next_action") or ""),
    )


def note_pending(root: Path, run: PendingRun) -> None:
    """What finish() knew of a run whose registration was refused (its phase above all), for `status` to
    print the command that registers it. In the git directory: nothing the user commits."""
    data = {"phase": run.phase, "force": run.force, "summary": run.summary, "next_action": run.next_action}
    atomic_write(notes_dir(root) / f"{run.run_id}.json", json.dumps(data, indent=1).encode())


def forget_registered(root: Path) -> int:
    """Remove the notes of runs registered since (or whose folder is gone): how many."""
    folder = notes_dir(root)
    try:
        with os.scandir(folder) as entries:
            notes = [e.name for e in entries if e.name.endswith(".json")]
    except OSError:
        return 0
    recorded = set(names_in(root, layout.RUNS_DIR))
    done = [n for n in notes if n[:-5] in recorded or not (root / layout.run_dir(n[:-5])).is_dir()]
    for name in done:
        (folder / name).unlink(missing_ok=True)
    return len(done)


def notes_dir(root: Path) -> Path:
    return gitrepo.info(root).git_dir / NOTES_DIR


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
