"""Which branch is the default one, and whether HEAD is on it: where gerhard writes the aggregates.

A registry's aggregates (state/program_status.yaml, state/gate_results.yaml, the ledger, the index pages
and the status board) are shared by every run, so two pull requests that both rewrote them would
conflict. They are written on the default branch only; on any other branch a change of the registry
carries its runs' own files (unique names: they never conflict), and the default branch folds them in
after the merge (the CI workflow's refresh step, or its next registration). This module says which mode
a work tree is in:

- the default branch: `git config gerhard.defaultBranch`, else the branch `refs/remotes/origin/HEAD`
  points at (`git clone` sets it), else unknown;
- on it: when it is unknown (one clone with no remote: everything is as it always was) or HEAD is that
  branch. A detached HEAD with a known default is not on it: CI checks pull requests out detached.

Symbolic refs are read as files where git keeps them there (never packed), so the answer costs one
`git config` process; another ref store is asked through git.
"""

from __future__ import annotations

from pathlib import Path

from gerhard.git import gitrepo

DEFAULT_KEY = "gerhard.defaultBranch"
ORIGIN_HEAD = "refs/remotes/origin/HEAD"
HEADS = "refs/heads/"


def _symref(folder: Path, root: Path, ref: str) -> str | None:
    """The full name `ref` points at (None: not a symbolic ref, or absent)."""
    path = folder / ref
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        if (folder / "reftable").is_dir():  # refs not kept as files: ask git
            out = gitrepo.run_git(root, "symbolic-ref", "-q", ref, check=False).decode().strip()
            return out or None
        return None
    except (OSError, UnicodeDecodeError):
        return None
    return text[len("ref: ") :].strip() if text.startswith("ref: ") else None


def default_branch(root: Path) -> str | None:
    """The default branch's short name (main), or None when it is not known."""
    configured = gitrepo.config_value(root, DEFAULT_KEY)
    if configured:
        return configured.removeprefix(HEADS)
    target = _symref(gitrepo.info(root).common_dir, root, ORIGIN_HEAD)
    prefix = "refs/remotes/origin/"
    return target[len(prefix) :] if target and target.startswith(prefix) else None


def current_branch(root: Path) -> str | None:
    """HEAD's branch (short name), None when HEAD is detached."""
    target = _symref(gitrepo.info(root).git_dir, root, "HEAD")
    return target[len(HEADS) :] if target and target.startswith(HEADS) else None


def on_default_branch(root: Path) -> bool:
    """True where gerhard writes the aggregates: the default branch, or wherever it is unknown."""
    default = default_branch(root)
    return default is None or current_branch(root) == default


def branch_note(root: Path) -> str:
    """How to name the mode in a message: 'branch runs (the default branch is main)'."""
    branch = current_branch(root)
    here = f"branch {branch}" if branch else "a detached HEAD"
    return f"{here} (the default branch is {default_branch(root)})"


def versions(root: Path, rel: str, limit: int) -> list[str]:
    """The newest `limit` commits on HEAD's first-parent line that changed `rel`, newest first (the
    default branch's stored states of a file: merged branches never write the aggregates)."""
    out = gitrepo.run_git(root, "log", "--first-parent", "--format=%H", f"-n{limit}", "--", rel, check=False)
    return out.decode().split()
