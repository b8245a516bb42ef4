"""The history as `gerhard check` audits it: commits with their authors and Gerhard-* trailer blocks,
the objects a commit holds at given paths, the paths changed between two commits, the commit that
last changed a path, and the last commit a check verified whole (a file in the git dir, never
committed).

A commit's Gerhard-* blocks are read from its whole message, not only from its final trailer block:
a hosting service's squash merge keeps each squashed commit's message in the body, one block each.
Reading messages costs one `git log` (`%B` is cheaper for git than `%(trailers)`); what a commit
held is asked of one `git cat-file --batch-check`, which resolves `commit:path` without listing the
trees around it.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple

from gerhard.errors import GitError
from gerhard.files import atomic_write
from gerhard.git import gitrepo
from gerhard.git.audit import trailer_values
from gerhard.git.logstream import STEADY, grep_args

VERIFIED = "gerhard-check"  # <git dir>/gerhard-check: the last commit `gerhard check` verified whole
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_MARK = "gerhard-run-id:"
FORMAT = "%H%x00%an <%ae>%x00%B"  # with -z: three NUL-separated fields a commit


class Commit(NamedTuple):
    sha: str
    author: str  # Name <email>
    subject: str
    blocks: tuple[dict[str, str], ...]  # its Gerhard-* blocks (a registration's, a decision's), in order

    @property
    def short(self) -> str:
        return self.sha[:12]

    def named(self) -> str:
        """How a problem names the commit: its short id, subject and author."""
        return f"commit {self.short} ({self.subject!r}, {self.author})"


def gerhard_blocks(message: str) -> tuple[dict[str, str], ...]:
    """Each paragraph of a message that names a run in a Gerhard-Run-Id line, as trailer key -> value."""
    if _MARK not in message.lower():
        return ()
    found = []
    for paragraph in _PARAGRAPH.split(message.strip("\n")):
        if _MARK in paragraph.lower():  # a squash's bullets and indentation dropped, as gerhard.git.audit does
            values = trailer_values("\n".join(line.lstrip(" \t*-") for line in paragraph.split("\n")))
            if "Gerhard-Run-Id" in values:
                found.append(values)
    return tuple(found)


def commits(root: Path, since: str | None = None, head: str = "HEAD", run_id: str | None = None) -> list[Commit]:
    """The commits reachable from `head` (and not from `since`), newest first; with `run_id`, only those
    whose message names it in a Gerhard-Run-Id line (git skips the others unformatted)."""
    revs = [head] if since is None else [f"{since}..{head}"]
    return parse_log(gitrepo.run_git(root, "log", "-z", f"--format={FORMAT}", *STEADY, *grep_args(run_id), *revs, "--"))


def parse_log(out: bytes) -> list[Commit]:
    fields = out.decode("utf-8", "replace").split("\0")
    found = []
    for sha, author, message in zip(fields[0::3], fields[1::3], fields[2::3], strict=False):
        sha = sha.lstrip("\n")
        if sha:
            found.append(Commit(sha, author, message.split("\n", 1)[0], gerhard_blocks(message)))
    return found


def object_ids(root: Path, specs: list[str]) -> list[str | None]:
    """The object id each `rev:path` names (None where there is none), with one git process."""
    return ObjectIds(root, specs).result()


class ObjectIds:
    """object_ids asked of a git process that runs while the caller does other work: its questions and
    answers go through temporary files, so it never waits for a reader (at 10,000 runs its answers take
    git seconds of resolving paths in flat 10,000-entry trees)."""

    def __init__(self, root: Path, specs: list[str]) -> None:
        self.count = len(specs)
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 - read and closed in result()
        self._proc: subprocess.Popen[bytes] | None = None
        if specs:
            with tempfile.TemporaryFile() as questions:
                questions.write("\n".join(specs).encode() + b"\n")
                questions.seek(0)
                cmd = ["git", "cat-file", "--batch-check=%(objectname)"]
                self._proc = subprocess.Popen(cmd, cwd=root, stdin=questions, stdout=self._out, stderr=subprocess.PIPE)

    def result(self) -> list[str | None]:
        if self._proc is None:
            return []
        _, err = self._proc.communicate()
        if self._proc.returncode != 0:
            raise GitError(f"git cat-file failed: {gitrepo.last_line(err, self._proc.returncode)}")
        self._out.seek(0)
        lines = self._out.read().decode().splitlines()
        self._out.close()
        return [None if line.endswith((" missing", " ambiguous")) else line for line in lines[: self.count]]


def listing(root: Path, rev: str, folders: list[str]) -> dict[str, str]:
    """path -> blob id of every file under these folders in `rev` (`ls-tree -r`)."""
    out = gitrepo.run_git(root, "ls-tree", "-r", "-z", "--full-tree", rev, "--", *folders)
    found = {}
    for entry in filter(None, out.decode("utf-8", "surrogateescape").split("\0")):
        meta, path = entry.split("\t", 1)
        found[path] = meta.split(" ")[2]
    return found


def trees(root: Path, rev: str, paths: list[str]) -> dict[str, str]:
    """path -> tree id of each of these paths in `rev` that is a folder there ('dir/': the folders in it)."""
    if not paths:
        return {}
    out = gitrepo.run_git(root, "ls-tree", "-z", "--full-tree", rev, "--", *paths)
    found = {}
    for entry in filter(None, out.decode("utf-8", "surrogateescape").split("\0")):
        meta, path = entry.split("\t", 1)
        _mode, kind, oid = meta.split(" ")
        if kind == "tree":
            found[path] = oid
    return found


def tree_files(root: Path, tree: str) -> dict[str, str]:
    """name -> blob id of every file in a tree (paths relative to it)."""
    return listing(root, tree, [])


def changed(root: Path, old: str, new: str, folders: list[str]) -> dict[str, str]:
    """path -> A, M, D or T for each file under these folders that differs between two commits."""
    out = gitrepo.run_git(root, "diff-tree", "-r", "-z", "--no-renames", "--name-status", old, new, "--", *folders)
    fields = out.decode("utf-8", "surrogateescape").split("\0")
    return {path: letter[:1] for letter, path in zip(fields[0:-1:2], fields[1::2], strict=False)}


def last_changes(root: Path, paths: list[str], since: str | None = None, added: bool = False) -> dict[str, Commit]:
    """path -> the newest commit after `since` (up to HEAD) that changed, added or removed it (`added`:
    that added it), for each of these paths that one did; with one `git log` and one read of those commits."""
    revs = ["HEAD"] if since is None else [f"{since}..HEAD"]
    what = ["--diff-filter=A"] if added else []
    out = gitrepo.run_git(
        root, "log", "-z", "--format=%x01%H", "--name-only", "--no-renames", *what, *revs, "--", *paths
    )
    newest: dict[str, str] = {}
    for chunk in out.decode("utf-8", "surrogateescape").split("\x01")[1:]:
        sha, *names = chunk.replace("\0\n", "\0").split("\0")
        for name in filter(None, names):
            newest.setdefault(name, sha)
    found = {c.sha: c for c in described(root, sorted(set(newest.values())))}
    return {path: found[sha] for path, sha in newest.items() if sha in found}


def added_paths(root: Path, shas: list[str], paths: list[str]) -> dict[str, set[str]]:
    """sha -> which of these paths each commit added (against its first parent), with one git process."""
    if not shas:
        return {}
    out = gitrepo.run_git(
        root, "diff-tree", "--stdin", "--root", "-r", "-z", "--no-renames", "--diff-filter=A", "--name-only",
        "--", *paths, input="".join(f"{sha}\n" for sha in shas).encode(),
    )  # fmt: skip
    found: dict[str, set[str]] = {}
    sha = ""
    for token in out.decode("utf-8", "surrogateescape").split("\0"):
        token = token.strip("\n")
        if token in found or (token in shas and "/" not in token):
            sha = token
            found.setdefault(sha, set())
        elif token and sha:
            found[sha].add(token)
    return found


def files_holding(root: Path, rev: str, folder: str, lines: list[str]) -> dict[str, list[str]]:
    """line -> the files under `folder` in `rev` that hold it as a whole line (`git grep`, one process)."""
    if not lines:
        return {}
    patterns, wanted = [arg for line in lines for arg in ("-e", line)], set(lines)
    proc = gitrepo.try_git(root, "grep", "-z", "-F", *patterns, rev, "--", folder)  # no -x: whole lines below
    if proc.returncode not in (0, 1):  # 1: no file holds any
        raise GitError(f"git grep failed: {gitrepo.last_line(proc.stderr, proc.returncode)}")
    out = proc.stdout
    found: dict[str, list[str]] = {}
    for entry in filter(None, out.decode("utf-8", "surrogateescape").split("\n")):
        name, _, line = entry.partition("\0")
        if line in wanted:
            found.setdefault(line, []).append(name.removeprefix(f"{rev}:"))
    return found


def described(root: Path, shas: list[str]) -> list[Commit]:
    """These commits (author, subject, Gerhard-* blocks), with one git process."""
    if not shas:
        return []
    out = gitrepo.run_git(root, "log", "--no-walk=unsorted", "-z", f"--format={FORMAT}", *STEADY, *shas, "--")
    return parse_log(out)


def read_verified(root: Path) -> str:
    """What the last check that passed left in the git dir ('' when none did)."""
    path = gitrepo.info(root).git_dir / VERIFIED
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def write_verified(root: Path, text: str) -> None:
    atomic_write(gitrepo.info(root).git_dir / VERIFIED, (text + "\n").encode())
