"""`git log` started for the audit trail (gerhard.git.audit reads its output): this module imports only
os and subprocess, so `gerhard log` starts git first and imports the rest while git walks the history."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from typing import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

# The body, whose last paragraph is the trailer block of a commit gerhard made (a squash merge's
# message has them elsewhere: see the module docstring). Trailer options (key=, valueonly, separator=)
# send git through its slower formatting: eight `key=K,valueonly` placeholders cost 300 ms over 10,000
# commits. The first field is the commit and its parents (a merge adds nothing of its own).
_FIELDS = ["%H %P", "%at", "%an", "%ae", "%s", "%b"]
FORMAT = "%x00".join(_FIELDS)
N_FIELDS = len(_FIELDS)
# Whatever the user's config says (log.showSignature, i18n.logOutputEncoding), the format alone is printed, in UTF-8.
STEADY = ["--no-show-signature", "--encoding=UTF-8"]


def grep_args(run_id: str | None) -> list[str]:
    """For one run, only the commits with its Gerhard-Run-Id line: git skips the rest unformatted.
    Without a run, no --grep: in a registry most commits are gerhard's, and matching every message
    costs git more (20 ms over 10,000) than skipping the few others costs here."""
    if run_id is None:
        return []
    pattern = run_id.replace(".", r"\.")  # a checked id: [0-9A-Za-z_.-], only '.' is special
    return [f"--grep=^[[:space:]*-]*Gerhard-Run-Id: {pattern}$"]  # bulleted or indented in a squash


def start(
    where: Path | str, revs: Sequence[str] = ("HEAD",), run_id: str | None = None, extra: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """One `git log` in `where`, its output on a pipe (see gerhard.git.audit.iter_entries)."""
    args = ["git", "log", "-z", f"--format={FORMAT}", *STEADY, *grep_args(run_id), *extra, *revs, "--"]
    # GIT_FLUSH=0: git writes its output in 4 KB blocks, not one write per commit into the pipe (which
    # costs both processes a system call and a wake-up per commit: 160 ms against 110 over 10,000).
    # Unbuffered here: each read returns what git has written so far, so entries flow as git finds them.
    env = dict(os.environ, GIT_FLUSH="0")
    return subprocess.Popen(args, cwd=where, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, env=env)


KEPT = "gerhard-cache/log"  # in the git dir: <commit>.marshal, the entries of that commit's history


class Tip(NamedTuple):
    git_dir: str
    head: str  # HEAD's commit


def tip(where: Path | str) -> Tip | None:
    """This work tree's git dir and HEAD's commit, one git process (None: no commit yet, or no repository)."""
    proc = subprocess.run(
        ["git", "rev-parse", "--absolute-git-dir", "--verify", "-q", "HEAD^{commit}"], cwd=where, capture_output=True
    )
    lines = proc.stdout.decode("utf-8", "surrogateescape").splitlines()
    return Tip(lines[0], lines[1]) if proc.returncode == 0 and len(lines) == 2 else None


def kept(at: Tip) -> str | None:
    """The commit whose history's entries are kept (gerhard.git.logcache), if any."""
    try:
        names = os.listdir(os.path.join(at.git_dir, KEPT))
    except OSError:
        return None
    found = [n.removesuffix(".marshal") for n in names if n.endswith(".marshal")]
    return found[0] if len(found) == 1 else None
