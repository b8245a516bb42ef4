"""Lock files a killed git process left behind, and whether any git process runs here now.

git creates `index.lock`, `HEAD.lock`, `refs/heads/<branch>.lock` while it writes and removes them
when it ends, even on Ctrl-C; only a kill (SIGKILL, a power cut) leaves one. A lock is stale when no
git process has its working folder in the repository: /proc tells (None where it cannot).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from gerhard.git.gitrepo import RepoInfo


def git_processes_in(root: Path) -> list[int] | None:
    """PIDs of git processes whose working folder is inside root (None where /proc cannot tell)."""
    proc = Path("/proc")
    if not (proc / "self" / "cwd").exists():
        return None
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "git":
                continue
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd == root or root in cwd.parents:
            pids.append(int(entry.name))
    return pids


def file_age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def git_locks(repo: RepoInfo, ref: str) -> list[Path]:
    """The lock files git takes to move `ref` with its index and work tree (those that exist)."""
    candidates = [
        repo.index_lock,
        repo.git_dir / "HEAD.lock",
        repo.git_dir / "ORIG_HEAD.lock",
        repo.git_dir / "CHERRY_PICK_HEAD.lock",
        repo.common_dir / f"{ref}.lock",
        repo.common_dir / "packed-refs.lock",
    ]
    return [p for p in candidates if p.exists()]


def remove_locks_left_since(repo: RepoInfo, ref: str, since: float) -> list[Path]:
    """Remove git's locks made at or after `since` (when an interrupted gerhard command began: its
    git processes made them), provided no git process runs here. Returns those still in the way."""
    found = git_locks(repo, ref)
    running = git_processes_in(repo.root) if found else []
    if running is None or running:  # git may be working here (or /proc cannot say): leave its locks
        return found
    left = []
    for lock in found:
        try:
            if lock.stat().st_mtime >= since - 1:
                lock.unlink()
                continue
        except FileNotFoundError:
            continue
        left.append(lock)
    return left
