"""The user's code repository (not the registry): where a run's provenance comes from.

Read only, one git process per question, and never an error: a folder outside git, a repository
without commits or a git that refuses the folder all answer "nothing" (None, empty), because a run
must start wherever its code lives. gerhard.capture.provenance turns the answers into provenance.json.
"""

from __future__ import annotations

from pathlib import Path

from gerhard.git.gitrepo import run_git


def toplevel(start: Path) -> Path | None:
    """The work tree of the git repository around start, or None outside git."""
    top = run_git(start, "rev-parse", "--show-toplevel", check=False).decode().strip()
    return Path(top) if top else None


def head_commit(root: Path) -> str | None:
    """HEAD's commit id, or None on a branch without commits."""
    return run_git(root, "rev-parse", "--verify", "-q", "HEAD", check=False).decode().strip() or None


def changed_entries(root: Path, pathspec: list[str]) -> list[str]:
    """`git status --porcelain -z` entries ("XY path"), untracked files each listed, within pathspec."""
    out = run_git(root, "status", "--porcelain", "-z", "--untracked-files=all", *pathspec, check=False)
    return [e for e in out.decode("utf-8", "replace").split("\0") if e]


def diff_to_head(root: Path, pathspec: list[str]) -> bytes:
    """`git diff --binary HEAD` within pathspec: every tracked change, staged or not, as a patch."""
    return run_git(root, "diff", "--binary", "HEAD", *pathspec, check=False)
