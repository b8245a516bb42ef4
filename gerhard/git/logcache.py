"""`gerhard log`'s entries kept in the git dir, so that a log reads only the commits made since the last one.

A commit never changes: the entries of HEAD's history are those kept for an earlier HEAD plus those of
the commits on top of it, when these are a plain chain on it (no merge: around a merge git orders
commits by their dates, so the history is read again whole). Anything else (another branch checked
out, a reset, a rebase, an amended commit, a damaged or unreadable file) reads the whole history, as
without it, and keeps that for next time. One file, <git dir>/gerhard-cache/log/<commit>.marshal
(marshal: 10,000 entries load in a few ms), never committed, trusted as the git dir is. The entries
kept are git's, before `gerhard log` fills in a decision's phase from the work tree or filters them.
"""

from __future__ import annotations

import contextlib
import marshal
import subprocess
from pathlib import Path

from gerhard.files import atomic_write
from gerhard.git import audit
from gerhard.git.logstream import KEPT, Tip, kept
from gerhard.version import __version__

VERSION = 2  # 2: by field


def entries(where: Path, at: Tip) -> list[audit.Entry] | None:
    """HEAD's entries, newest first, from those kept and the commits since (None: nothing usable kept)."""
    commit = kept(at)
    old = load(at, commit) if commit is not None else None
    if commit is None or old is None:
        return None
    if commit == at.head:
        return old
    if not is_chain(where, commit, at.head):
        return None
    found = list(audit.iter_entries(where, revs=[f"{commit}..{at.head}"])) + old
    save(at, found)
    return found


def is_chain(where: Path, base: str, head: str) -> bool:
    """Are the commits of base..head one line of single-parent commits from head down to base?"""
    proc = subprocess.run(["git", "rev-list", "--parents", f"{base}..{head}"], cwd=where, capture_output=True)
    lines = [line.split() for line in proc.stdout.decode("ascii", "replace").splitlines()]
    if proc.returncode != 0 or not lines or lines[0][0] != head:
        return False
    below = [line[0] for line in lines[1:]] + [base]
    return all(len(line) == 2 and line[1] == parent for line, parent in zip(lines, below, strict=True))


def path(at: Tip, commit: str) -> Path:
    return Path(at.git_dir) / KEPT / f"{commit}.marshal"


def load(at: Tip, commit: str) -> list[audit.Entry] | None:
    try:
        version, made_by, columns = marshal.loads(path(at, commit).read_bytes())
        if version == VERSION and made_by == __version__:
            return [audit.Entry._make(row) for row in zip(*columns, strict=True)]
    except (OSError, ValueError, EOFError, TypeError):
        pass  # damaged, or written by another gerhard: read the history again
    return None


def save(at: Tip, found: list[audit.Entry]) -> None:
    """Keep HEAD's entries (only these: the others are removed)."""
    target = path(at, at.head)
    with contextlib.suppress(OSError):  # unwritable: read whole again next time
        # By field, marshal format 2: half the time of a tuple per entry (format 4 looks for shared objects).
        atomic_write(target, marshal.dumps((VERSION, __version__, list(zip(*found, strict=True))), 2))
        for other in target.parent.glob("*.marshal"):
            if other != target:
                other.unlink()
