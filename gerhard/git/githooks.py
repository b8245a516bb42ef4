"""The repository's own commit hooks, run for a registration as `git commit` runs them.

pre-commit, prepare-commit-msg and commit-msg see the registration's content through
GIT_INDEX_FILE (an index of the new commit's tree, as `git commit -- paths` gives its hooks);
prepare-commit-msg and commit-msg get the message file and may edit it; post-commit runs after the
commit and cannot undo it. A hook's output goes to stderr, as with git. `--no-verify` skips
pre-commit and commit-msg, as in git.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from gerhard.errors import GitError
from gerhard.git import gitrepo

VERIFY_HOOKS = ("pre-commit", "commit-msg")
TRAILER_PREFIX = "Gerhard-"  # the trailers gerhard writes (gerhard.git.audit.TRAILERS)


def hook_path(root: Path, name: str) -> Path | None:
    """The hook git would run (core.hooksPath applied), or None when there is none or it is not executable."""
    path = gitrepo.info(root).hooks / name
    return path if path.is_file() and os.access(path, os.X_OK) else None


def wanted(root: Path, verify: bool) -> list[str]:
    names = ["prepare-commit-msg", *(VERIFY_HOOKS if verify else ())]
    return [n for n in names if hook_path(root, n) is not None]


def run_hook(root: Path, name: str, args: list[str], index: Path | None = None, txn: str = "") -> None:
    path = hook_path(root, name)
    if path is None:
        return
    env = dict(os.environ, GIT_EDITOR=":", GERHARD_TXN=txn.strip())
    # gerhard's own hook (hooks/run-gerhard) checks the commit with this gerhard, unless told another.
    env.setdefault("GERHARD_PYTHON", sys.executable)
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    # Like git: no stdin, the hook's stdout and stderr onto ours (stdout too: `register --json` stays
    # parseable).
    proc = subprocess.run([str(path), *args], cwd=root, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    sys.stderr.write((proc.stdout + proc.stderr).decode(errors="replace"))
    sys.stderr.flush()
    if proc.returncode != 0 and name != "post-commit":
        raise GitError(
            f"the repository's {name} hook rejected the registration (exit {proc.returncode}; its output is above): "
            "fix what it reports and register again, or pass --no-verify to skip the pre-commit and commit-msg hooks"
        )


def run_commit_hooks(
    root: Path, tree: str, message: str, verify: bool, scratch: Path, txn: str, checkpoint: Callable[[str], None]
) -> str:
    """pre-commit, prepare-commit-msg, commit-msg in git's order; the message as the hooks left it."""
    names = wanted(root, verify)
    if not names:
        return message
    index = scratch / "hook-index"  # git gives all three the index being committed
    gitrepo.read_tree_into(root, index, tree)
    if "pre-commit" in names:
        run_hook(root, "pre-commit", [], index, txn)
        checkpoint("pre-commit-hook")
    msg_file = gitrepo.info(root).git_dir / "COMMIT_EDITMSG"
    msg_file.write_text(message, encoding="utf-8")
    ours = gerhard_trailers(root, message) if {"prepare-commit-msg", "commit-msg"} & set(names) else []
    for name, args in (("prepare-commit-msg", [str(msg_file), "message"]), ("commit-msg", [str(msg_file)])):
        if name in names:
            run_hook(root, name, args, index, txn)
            check_trailers_kept(root, name, ours, msg_file.read_text(encoding="utf-8", errors="replace"))
    edited = msg_file.read_text(encoding="utf-8", errors="replace")
    if not edited.strip():
        raise GitError("a commit hook left the registration's commit message empty: fix the hook, then register again")
    return edited


def gerhard_trailers(root: Path, message: str) -> list[tuple[str, str]]:
    """The Gerhard-* trailers of a message as git reads its trailer block (`git interpret-trailers`)."""
    out = gitrepo.run_git(root, "interpret-trailers", "--parse", input=message.encode("utf-8"))
    pairs = [line.partition(": ") for line in out.decode("utf-8", "replace").splitlines()]
    return [(key, value) for key, _, value in pairs if key.startswith(TRAILER_PREFIX)]


def check_trailers_kept(root: Path, hook: str, ours: list[tuple[str, str]], edited: str) -> None:
    """The message a hook left must still carry gerhard's trailers as gerhard wrote them: `gerhard log`,
    `pr-summary` and `gerhard check` find a registration or a decision by them. A hook may add its own."""
    theirs = gerhard_trailers(root, edited)
    if theirs == ours:
        return
    kept = dict(theirs)
    removed = [key for key, _ in ours if key not in kept]
    changed = [key for key, value in ours if key in kept and kept[key] != value]
    said = "; ".join(f"{verb} {', '.join(keys)}" for verb, keys in (("removed", removed), ("changed", changed)) if keys)
    skip = ", or pass --no-verify to skip it" if hook in VERIFY_HOOKS else ""
    raise GitError(
        f"the repository's {hook} hook changed gerhard's trailers in the commit message ({said or 'reordered them'}), "
        f"so nothing was committed: make the hook leave the Gerhard-* lines as they are{skip}"
    )
