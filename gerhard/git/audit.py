"""The audit trail in git history: registrations and decisions read back from their commit trailers.

One `git log` process prints each commit's id, author date, author, subject and trailer block as
NUL-separated fields; the output is streamed and parsed as it arrives (so `--limit` stops git
early, and with a spare CPU the parsing overlaps git's work). Over ten thousand registrations git
takes ~80 ms, the Python side ~6 µs a commit plus its start-up (~40 ms): measured where both share
one CPU, `gerhard log` takes ~2.6x `git log --format=%(trailers)` (benchmarks/bench_log.py). For one
run, `--grep` on its Gerhard-Run-Id line lets git skip every other commit before formatting it."""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from gerhard.errors import GitError
from gerhard.git import gitrepo

KIND_REGISTRATION, KIND_DECISION = "registration", "decision"
TRAILERS = (
    "Gerhard-Run-Id",
    "Gerhard-Phase",
    "Gerhard-Verdict",
    "Gerhard-Decision",
    "Gerhard-Code-SHA",
    "Gerhard-Code-Dirty",
    "Gerhard-Config-SHA256",
    "Gerhard-Bundle-SHA256",
)
# The trailer block as git finds it, with the plain `%(trailers)` (what `git log --format=%(trailers)`
# prints), split into lines here. Any option (key=, valueonly, separator=, unfold) sends git through
# its slower formatting: eight `key=K,valueonly` placeholders cost 300 ms over 10,000 commits, one
# `key=..,key=..,separator=` placeholder 101 ms, the plain one 83 ms.
_FIELDS = ["%H", "%at", "%an", "%ae", "%s", "%(trailers)"]
FORMAT = "%x00".join(_FIELDS)
N_FIELDS = len(_FIELDS)
# Whatever the user's config says (log.showSignature, i18n.logOutputEncoding), the format alone is printed, in UTF-8.
STEADY = ["--no-show-signature", "--encoding=UTF-8"]
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # UTC, as a record's registered_at (git's own date formatting costs more)
_CHUNK = 1 << 16


class Entry(NamedTuple):  # a tuple: ten thousand of them are built in a few milliseconds
    """One registration or decision commit, as its trailers tell it."""

    kind: str
    date: str
    commit: str
    author: str
    author_email: str
    run_id: str
    phase: str | None
    verdict: str | None
    decision: str | None
    code_sha: str | None
    code_dirty: bool | None
    config_sha256: str | None
    bundle_sha256: str | None
    subject: str

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()


_CANONICAL = {k.lower(): k for k in TRAILERS}
_SPELLED = frozenset(TRAILERS)
_DIRTY = {"true": True, "false": False}


def trailer_values(text: str) -> dict[str, str]:
    """Trailer key -> value, keys spelled as TRAILERS spells them; of a key given twice, the first counts."""
    pairs = [line.partition(": ") for line in reversed(text.split("\n"))]  # reversed: the first one wins
    values = {key: value for key, sep, value in pairs if sep}
    if values.keys() <= _SPELLED and all(values.values()):
        return values  # gerhard's trailers as gerhard writes them (and nothing else: a decision, a registration)
    # Another spelling (gerhard-run-id, 'Key:value'), other trailers (Signed-off-by) or folded lines.
    spelled: dict[str, str] = {}
    for line in text.split("\n"):
        key, sep, value = line.partition(":")
        name = _CANONICAL.get(key.strip().lower())
        if sep and name and value.strip() and not key[:1].isspace():
            spelled.setdefault(name, value.strip())
    return spelled


def entry_of(sha: str, stamp: str, author: str, email: str, subject: str, trailers: str) -> Entry | None:
    """The entry of one commit's fields (FORMAT's), or None when it is not gerhard's."""
    if not trailers:
        return None
    t = trailer_values(trailers)
    run_id, verdict, decision = t.get("Gerhard-Run-Id"), t.get("Gerhard-Verdict"), t.get("Gerhard-Decision")
    if run_id is None or (verdict is None and decision is None):
        return None
    code, config = t.get("Gerhard-Code-SHA"), t.get("Gerhard-Config-SHA256")
    return Entry(
        KIND_DECISION if decision else KIND_REGISTRATION,
        time.strftime(DATE_FORMAT, time.gmtime(int(stamp))),
        sha,
        author,
        email,
        run_id,
        t.get("Gerhard-Phase"),
        None if decision else verdict,
        decision,
        None if code == "unknown" else code,
        _DIRTY.get(t.get("Gerhard-Code-Dirty", "")),
        None if config == "none" else config,
        t.get("Gerhard-Bundle-SHA256"),
        subject,
    )


def grep_args(run_id: str | None) -> list[str]:
    """For one run, only the commits with its Gerhard-Run-Id line: git skips the rest unformatted.
    Without a run, no --grep: in a registry most commits are gerhard's, and matching every message
    costs git more (20 ms over 10,000) than skipping the few others costs here."""
    if run_id is None:
        return []
    pattern = run_id.replace(".", r"\.")  # a checked id: [0-9A-Za-z_.-], only '.' is special
    return [f"--grep=^Gerhard-Run-Id: {pattern}$"]


def iter_entries(
    where: Path, revs: Sequence[str] = ("HEAD",), run_id: str | None = None, extra: Sequence[str] = ()
) -> Generator[Entry, None, None]:
    """Entries newest first (or as `extra` orders them), streamed from one `git log` run in `where`
    (a work tree or any folder in it). A branch without commits has none."""
    if not Path(where).is_dir():
        _explain_repo(where)
    args = ["git", "log", "-z", f"--format={FORMAT}", *STEADY, *grep_args(run_id), *extra, *revs, "--"]
    # GIT_FLUSH=0: git writes its output in 4 KB blocks, not one write per commit into the pipe (which
    # costs both processes a system call and a wake-up per commit: 160 ms against 110 over 10,000).
    # Unbuffered here: each read returns what git has written so far, so entries flow as git finds them.
    env = dict(os.environ, GIT_FLUSH="0")
    proc = subprocess.Popen(args, cwd=where, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, env=env)
    stdout = proc.stdout
    assert stdout is not None
    done = False
    try:
        for entry in _parse_stream(iter(lambda: stdout.read(_CHUNK), b"")):
            if run_id is None or entry.run_id == run_id:  # --grep also matches a line in a body
                yield entry
        done = True
    finally:
        err, rc = _finish(proc, done)
    if done and rc != 0:
        _explain_repo(where)
        if not _unborn(where):  # a branch without commits has no history yet: no entries
            raise GitError(_git_message(err, rc))


def _unborn(where: Path) -> bool:
    proc = subprocess.run(["git", "rev-parse", "-q", "--verify", "HEAD"], cwd=where, capture_output=True)
    return proc.returncode != 0


def _explain_repo(where: Path) -> None:
    """gitrepo's one-line error when `where` is no git work tree (git log's own says less)."""
    gitrepo.find_root(Path(where))


def _parse_stream(chunks: Iterator[bytes]) -> Iterator[Entry]:
    fields: list[str] = []
    tail = b""
    for chunk in chunks:
        data = tail + chunk
        end = data.rfind(b"\0") + 1  # git ends every field with NUL (-z): what follows is incomplete
        tail = data[end:]
        fields += data[:end].decode("utf-8", "replace").split("\0")[:-1]
        whole = len(fields) - len(fields) % N_FIELDS
        records = iter(fields[:whole])
        for entry in itertools.starmap(entry_of, zip(*[records] * N_FIELDS, strict=True)):
            if entry is not None:
                yield entry
        del fields[:whole]


def _finish(proc: subprocess.Popen[bytes], done: bool) -> tuple[bytes, int]:
    """Reap git: when the reader stopped early (--limit, a closed pipe) git is stopped, not awaited."""
    assert proc.stdout is not None and proc.stderr is not None
    if not done:
        proc.kill()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    return err, proc.wait()


def _git_message(err: bytes, rc: int, command: str = "log") -> str:
    lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
    said = lines[-1].removeprefix("fatal: ") if lines else f"exit {rc}"
    return f"git {command} failed: {said}"


def read_blobs(root: Path, specs: Sequence[str]) -> list[bytes | None]:
    """The content of each `REV:PATH` (None where there is no such file: missing, ambiguous, or a
    folder), with one git process."""
    return [obj[1] if obj and obj[0] == b"blob" else None for obj in gitrepo.cat_objects(root, list(specs))]


def commit_bodies(root: Path, shas: Sequence[str]) -> dict[str, str]:
    """sha -> the message body (all but the subject), with one git process."""
    if not shas:
        return {}
    out = subprocess.run(
        ["git", "log", "--no-walk=unsorted", "-z", "--format=%H%x00%b", *STEADY, *shas, "--"],
        cwd=root,
        capture_output=True,
    )
    if out.returncode != 0:
        raise GitError(_git_message(out.stderr, out.returncode))
    parts = out.stdout.decode("utf-8", "replace").split("\0")
    return dict(zip(parts[0:-1:2], parts[1::2], strict=False))
