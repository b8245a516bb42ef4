"""Talking to a remote: fetch one branch into its tracking ref, push HEAD to it, name its default branch.

A push the remote refused because it moved (someone else pushed first, or was pushing at that
moment) is an answer, not an error: the caller fetches, replays and pushes again.
"""

from __future__ import annotations

from pathlib import Path

from gerhard.errors import GitError
from gerhard.git.gitrepo import config_value, last_line, ref_value, run_git, try_git

# The remote moved (rejected), or another push was updating the branch at that moment (remote rejected).
RETRYABLE = ("[rejected]", "fetch first", "non-fast-forward", "stale info", "cannot lock ref", "failed to update ref")


def fetch(root: Path, remote: str, branch: str, tracking: str) -> None:
    """The remote's branch into `tracking` (refs/remotes/<remote>/<branch>), forced as `git fetch` does."""
    proc = try_git(root, "fetch", "-q", remote, f"+refs/heads/{branch}:{tracking}")
    if proc.returncode != 0:
        said = last_line(proc.stderr, proc.returncode)
        raise GitError(f"cannot fetch from {remote} ({said}): check the remote and your network, then try again")


def push_head(root: Path, remote: str, branch: str) -> bool:
    """Push HEAD to the remote's branch: True when it landed, False when the remote moved (fetch and
    try again); any other failure raises, with git's own last line."""
    proc = try_git(root, "push", "--porcelain", remote, f"HEAD:refs/heads/{branch}")
    if proc.returncode == 0:
        return True
    if any(word in (proc.stdout + proc.stderr).decode(errors="replace") for word in RETRYABLE):
        return False
    raise GitError(f"the push to {remote} failed ({last_line(proc.stderr, proc.returncode)})")


def default_branch(root: Path) -> str | None:
    """The branch a pull request goes into, as <remote>/<branch> (e.g. origin/main), or None: the remote's
    HEAD (set by git clone, or by 'git remote set-head origin --auto'), else its main or master. The remote
    is the one the current branch's upstream is on, else origin. Read from the tracking refs, no network."""
    branch = run_git(root, "symbolic-ref", "-q", "--short", "HEAD", check=False).decode().strip()
    name = (config_value(root, f"branch.{branch}.remote") if branch else None) or "."
    name = "origin" if name == "." else name  # "." is a local upstream
    head = run_git(root, "symbolic-ref", "-q", "--short", f"refs/remotes/{name}/HEAD", check=False).decode().strip()
    for candidate in (head, f"{name}/main", f"{name}/master"):
        if candidate and ref_value(root, f"refs/remotes/{candidate}"):
            return candidate
    return None
