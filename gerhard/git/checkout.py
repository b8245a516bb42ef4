"""The branch, its index and its work tree moved together: what a replay (gerhard rebase, a
register --push that lands on a moved remote) does to the user's checkout, and how it is undone.

Git compares a file with the index by its stat data first: a clone copied with `cp -a`, or a
`touch`ed file, looks changed although its content is not, and `reset --keep` then refuses ("not
uptodate"). So the index is refreshed (`update-index --refresh`, content compared) before every move.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from gerhard.errors import GitError
from gerhard.git.gitrepo import last_line, run_git, try_git

LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}  # a path with '*' or ':' in it is that path, not a pattern


def refresh_index(root: Path) -> None:
    """Stat data brought up to date where the content did not change (a file changed for real stays changed)."""
    try_git(root, "update-index", "-q", "--refresh")


def reset_keep(root: Path, commit: str, action: str) -> None:
    """The branch, index and work tree to `commit`, keeping local changes in files it does not touch;
    GitError (git's own reason) when one it touches has them. `action` names it in the reflog."""
    refresh_index(root)
    proc = try_git(root, "reset", "-q", "--keep", commit, env=dict(os.environ, GIT_REFLOG_ACTION=action))
    if proc.returncode != 0:
        raise GitError(last_line(proc.stderr, proc.returncode))


def cherry_pick(root: Path, sha: str) -> None:
    """Commit `sha`'s change again on HEAD; when it does not apply, nothing stays (aborted) and GitError says why."""
    proc = try_git(root, "cherry-pick", "--allow-empty", sha)
    if proc.returncode != 0:
        try_git(root, "cherry-pick", "--abort")
        raise GitError(last_line(proc.stderr, proc.returncode))


def quit_cherry_pick(root: Path, git_dir: Path) -> None:
    """Forget a cherry-pick an interrupted process left half done (its files are put right by the caller)."""
    if (git_dir / "CHERRY_PICK_HEAD").exists() or (git_dir / "sequencer").exists():
        try_git(root, "cherry-pick", "--quit")


def export_folder(root: Path, commit: str, folder: str, dest: Path) -> Path:
    """The files below `folder` in `commit`, as `git archive` gives them (attributes and filters applied),
    written into dest (a new folder; what was there is replaced)."""
    archive = run_git(root, "archive", "--format=tar", commit, f"{folder}/")
    prefix = f"{folder}/"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            rel = member.name.removeprefix(prefix).strip("/")
            if not member.name.startswith(prefix) or not rel or ".." in rel.split("/"):
                continue
            target = dest / rel
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.issym():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(member.linkname, target)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                data = tar.extractfile(member)
                target.write_bytes(data.read() if data else b"")
                os.chmod(target, 0o755 if member.mode & 0o111 else 0o644)
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def changed_paths(root: Path, old: str, new: str) -> list[str]:
    """The files that differ between two commits (no rename detection: a rename is two paths)."""
    return _names(run_git(root, "diff", "--name-only", "-z", "--no-renames", old, new, "--"))


def commit_paths(root: Path, sha: str) -> list[str]:
    """The files one commit changes (against its first parent)."""
    args = ["diff-tree", "-r", "--root", "--no-commit-id", "--name-only", "-z", "--no-renames", sha]
    return _names(run_git(root, *args))


def local_changes(root: Path) -> tuple[list[str], list[str]]:
    """(tracked files with staged or unstaged changes, untracked entries: a folder as 'dir/'), read
    without rewriting the index."""
    out = run_git(
        root, "--no-optional-locks", "status", "--porcelain", "-z", "--untracked-files=normal", "--no-renames"
    )
    entries = [e for e in out.decode("utf-8", "surrogateescape").split("\0") if e]
    return [e[3:] for e in entries if not e.startswith("?? ")], [e[3:] for e in entries if e.startswith("?? ")]


def in_commit(root: Path, commit: str, paths: list[str]) -> set[str]:
    """Those of paths that are files (or links) in commit, with one git process."""
    if not paths:
        return set()
    out = run_git(root, "cat-file", "--batch-check", input="".join(f"{commit}:{p}\n" for p in paths).encode())
    lines = out.decode("utf-8", "surrogateescape").splitlines()
    return {p for p, line in zip(paths, lines, strict=True) if line.rsplit(" ", 2)[1:2] == ["blob"]}


def checkout_paths(root: Path, commit: str, paths: list[str]) -> None:
    """These files (each in commit) into the index and the work tree as commit holds them."""
    if paths:
        env = dict(os.environ, **LITERAL)
        spec = "".join(f"{p}\0" for p in paths).encode()
        run_git(root, "checkout", "-q", commit, "--pathspec-from-file=-", "--pathspec-file-nul", input=spec, env=env)


def unstage(root: Path, paths: list[str]) -> None:
    """These paths out of the index (the work-tree files are the caller's)."""
    if paths:
        spec = "".join(f"{p}\0" for p in paths).encode()
        run_git(root, "update-index", "--force-remove", "-z", "--stdin", input=spec)


def differing(root: Path, commit: str, paths: list[str]) -> list[str]:
    """Those of paths whose index entry or work-tree file differs from commit."""
    if not paths:
        return []
    refresh_index(root)
    found: set[str] = set()
    for cached in ([], ["--cached"]):  # `git diff` takes no pathspec file: the whole tree, filtered here
        found.update(_names(run_git(root, "diff", *cached, "--name-only", "-z", "--no-renames", commit, "--")))
    return sorted(found & set(paths))


def _names(out: bytes) -> list[str]:
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]
