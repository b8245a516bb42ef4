"""gerhard doctor: finish or undo an interrupted transaction (a registration, a rebase, a register
--push), put back heavy files an older gerhard's replay left aside, clear stale locks and temporary
files, and name what it cannot settle alone. Runs in outputs/ not registered yet are work in progress, not
damage: doctor names each with the command that registers it and leaves it be."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from gerhard import layout
from gerhard.errors import GitError
from gerhard.git import gitrepo, journal, rewrite
from gerhard.git.lock import registry_lock
from gerhard.git.stale import file_age, git_processes_in
from gerhard.output import print_json
from gerhard.registry.heavy import put_heavy_back
from gerhard.registry.pending import names_in
from gerhard.registry.pending_runs import forget_registered, pending_runs, unignore_registered
from gerhard.sync.stores import being_written

LEGACY_REPLAY_DIRS = ("gerhard-replay", rewrite.REWRITE_DIR)  # heavy files in <dir>/<run_id>/bundle/, no journal

WORKTREE_DIRS = ("state", "reports", layout.OUTPUTS, "docs/ops")
STALE_TEMP_S = 24 * 3600  # extraction folders of dossiers left in the system temp folder
FRESH_LOCK_S = 10.0  # git holds index.lock for moments: a younger one is left alone


def doctor(repo: Path, as_json: bool = False) -> int:
    root = gitrepo.find_root(Path(repo))
    info = gitrepo.info(root)
    with registry_lock(root, timeout=10.0):  # no gerhard transaction runs while we look
        done: list[str | None] = [journal.settle(info)]
        settled, problems = settle_rewrite(info)  # removes the locks its own killed git left
        unlocked, lock_problems = check_index_lock(info)
        if problems and unlocked:  # an older stale lock was in its way
            settled, problems = settle_rewrite(info)
        done += settled + put_back_legacy(root, info) + remove_temp_files(root, info) + unlocked + forget_notes(root)
        done += lift_leftover_ignores(root)
        problems += lock_problems + heavy_left_aside(info) + temp_files_in_use(root)
    done = [d for d in done if d]
    pending = pending_runs(root)  # work in progress, not damage: named with what registers each
    if as_json:
        runs = [run.as_dict(root) for run in pending]
        print_json(
            {"repository": str(root), "done": done, "problems": problems, "ok": not problems, "pending_runs": runs}
        )
    else:
        for line in done:
            print(line)
        for line in problems:
            print(f"problem: {line}")
        if not done and not problems:
            print(f"all is well in {root}: no interrupted transaction, no stale lock, no temporary files")
        for run in pending:
            print(f"pending, left as it is: {run.line(root)}")
    return 1 if problems else 0


def settle_rewrite(info: gitrepo.RepoInfo) -> tuple[list[str], list[str]]:
    """An interrupted rebase or register --push finished or undone; (what was done, problems left)."""
    try:
        done = rewrite.settle(info)
    except GitError as e:
        return [], [str(e)]
    return ([done] if done else []), []


def forget_notes(root: Path) -> list[str]:
    """The phases a refused finish() noted for `status` (gerhard.registry.pending_runs), of runs since registered."""
    n = forget_registered(root)
    return [f"removed {n} note{'s' if n != 1 else ''} of runs registered since their finish() was refused"] if n else []


def lift_leftover_ignores(root: Path) -> list[str]:
    """The .gitignore a capture run's folder carries until it is registered, left in a registered run's
    folder by a registration that ended before removing it (it hid new files there from `git status`)."""
    lifted = [run for run in names_in(root, layout.RUNS_DIR) if unignore_registered(root / layout.run_dir(run))]
    if not lifted:
        return []
    folders = f"{len(lifted)} registered run folder{'s' if len(lifted) != 1 else ''}"
    return [f"removed the .gitignore gerhard gives a run until it is registered from {folders}"]


def put_back_legacy(root: Path, info: gitrepo.RepoInfo) -> list[str]:
    """An earlier gerhard's replay, killed, left heavy files beside archived bundles in the git dir."""
    done = []
    for name in LEGACY_REPLAY_DIRS:
        aside = info.git_dir / name
        if aside.is_dir() and not (aside / "journal.json").exists():
            put_heavy_back(root, aside)
            done.append(f"put back the heavy files an interrupted replay had set aside in {aside}")
    return done


def heavy_left_aside(info: gitrepo.RepoInfo) -> list[str]:
    """Heavy files an undone or finished rebase could not put back (their place was taken)."""
    left = info.git_dir / rewrite.LEFT_DIR
    files = sorted(p for p in left.rglob("*") if p.is_file()) if left.is_dir() else []
    return [
        f"{path} was set aside by an interrupted rebase and could not go back to {path.relative_to(left)} (a "
        "file is there): keep the right one, then remove the other"
        for path in files
    ]


def remove_temp_files(root: Path, info: gitrepo.RepoInfo) -> list[str]:
    """atomic_write's temporary files in the folders gerhard writes, gerhard's loose-object temp
    files, and dossier extraction folders a killed process left in the system temp folder."""
    found = [p for d in WORKTREE_DIRS if (root / d).is_dir() for p in _walk_temp(root / d)]
    found += list(info.objects.glob("??/tmp_obj_gerhard_*"))
    for path in found:
        path.unlink(missing_ok=True)
    done = [f"removed a temporary file left by an interrupted write: {_shown(root, p)}" for p in found]
    old = time.time() - STALE_TEMP_S
    for folder in Path(tempfile.gettempdir()).glob("gerhard-dossier-*"):
        if folder.is_dir() and folder.stat().st_mtime < old and folder.stat().st_uid == os.getuid():
            shutil.rmtree(folder, ignore_errors=True)
            done.append(f"removed a stale dossier extraction folder: {folder}")
    return done


def _walk_temp(top: Path) -> list[Path]:
    out = []
    for dirpath, _dirs, names in os.walk(top):
        out += [Path(dirpath) / n for n in names if _leftover(Path(dirpath) / n)]
    return out


def _shown(root: Path, path: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def check_index_lock(info: gitrepo.RepoInfo) -> tuple[list[str], list[str]]:
    """A stale index.lock (gerhard's, or git's own from a git command that died) is removed when no
    git process runs in this repository; (what was done, problems left)."""
    lock = info.index_lock
    if not lock.exists():
        return [], []
    if journal.lock_is_ours(info, _gerhard_nonce(lock)):
        lock.unlink(missing_ok=True)
        return [f"removed a stale {lock.name} left by an interrupted gerhard command"], []
    running = git_processes_in(info.root)
    if file_age(lock) < FRESH_LOCK_S:
        return [], [
            f"{lock} was created {file_age(lock):.0f}s ago: a git command is probably running; run doctor again"
        ]
    if running is None or running:
        who = f"git is running here (pid {running[0]})" if running else "gerhard cannot tell whether git is running"
        return [], [f"{lock} exists and {who}: wait for it to finish; if none is, remove {lock} and run doctor again"]
    lock.unlink(missing_ok=True)
    return [f"removed a stale {lock.name} (no git process is running in {info.root})"], []


def _gerhard_nonce(lock: Path) -> str | None:
    try:
        head = lock.read_bytes()[:64].decode("utf-8", "replace")
    except OSError:
        return None
    return head.partition("\n")[0] + "\n" if head.startswith("gerhard-txn ") else None


# Every temporary file `gerhard check` names is doctor's (atomic_write's .<name>.<random>.gerhard-tmp, a
# copy's <name>.gerhard-tmp left by a killed `sync pull` or a full disk after a registration's commit
# point), but one a running `gerhard sync` is writing: that sync holds a lock on it until it is in place.


def _leftover(path: Path) -> bool:
    return path.name.endswith(journal.TMP_SUFFIX) and not being_written(path)


def temp_files_in_use(root: Path) -> list[str]:
    """The temporary files doctor left to the running sync that writes them (check names them too)."""
    found = []
    for top in (root / d for d in WORKTREE_DIRS if (root / d).is_dir()):
        for dirpath, _dirs, names in os.walk(top):
            found += [Path(dirpath) / n for n in names if n.endswith(journal.TMP_SUFFIX)]
    return [
        f"{_shown(root, p)} is being written by a running gerhard sync: run doctor again when it ends"
        for p in found
        if being_written(p)
    ]
