"""The audit trail in git history: registrations and decisions read back from their commit trailers.

One `git log` process prints each commit's id, author date, author, subject and trailer block as
NUL-separated fields; the output is streamed and parsed as it arrives (so `--limit` stops git
early, and with a spare CPU the parsing overlaps git's work). Over ten thousand registrations git
takes ~80 ms, the Python side ~6 µs a commit plus its start-up (~40 ms): measured where both share
one CPU, `gerhard log` takes ~2.6x `git log --format=%(trailers)` (benchmarks/bench_log.py). For one
run, `--grep` on its Gerhard-Run-Id line lets git skip every other commit before formatting it.

Any merge method keeps the audit (docs/guide.md, "Pull requests"). A merge commit and rebase-and-merge
keep each registration commit and its trailers. A squash merge folds them into one commit whose message
the hosting service writes: GitHub lists every commit's message as a bullet (its trailers no longer the
last paragraph: a `---------` line and Co-authored-by lines may follow), GitLab keeps only the title. So
the trailers are looked for in every paragraph of a message that has more than one run id (bullets and
indentation dropped: one entry per paragraph), and a commit with none is asked what it added: the
commit that adds state/runs/<run_id>.yaml registered that run (`added_entries`, from the record
itself), one that adds or changes state/decisions/<run_id>.yaml decided it."""

from __future__ import annotations

import operator
import re
import subprocess
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from gerhard.errors import GerhardError, GitError
from gerhard.formats.yamlio import read_state_yaml
from gerhard.git import gitrepo, logstream
from gerhard.git.logstream import FORMAT, N_FIELDS, STEADY

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
_KEY_VALUE = operator.methodcaller("split", ": ", 1)
# A registration's trailer block exactly as gerhard writes it (commit_message): matched in one call, its
# values are what trailer_values and entry_of would make of it.
_OWN_REGISTRATION = re.compile(
    "Gerhard-Run-Id: ([^\n]+)\nGerhard-Phase: ([^\n]+)\nGerhard-Verdict: ([^\n]+)\nGerhard-Code-SHA: ([^\n]+)\n"
    "Gerhard-Code-Dirty: ([^\n]+)\nGerhard-Config-SHA256: ([^\n]+)\nGerhard-Bundle-SHA256: ([^\n]+)"
)


def trailer_values(text: str) -> dict[str, str]:
    """Trailer key -> value, keys spelled as TRAILERS spells them; of a key given twice, the first counts."""
    lines = text.split("\n")
    try:  # C all the way: no Python frame per line (10,000 commits: 7 ms instead of 25)
        values = dict(map(_KEY_VALUE, lines))
    except ValueError:  # a line without ": "
        values = {}
    if len(values) == len(lines) and values.keys() <= _SPELLED and all(values.values()):
        return values  # gerhard's trailers as gerhard writes them (and nothing else: a decision, a registration)
    # Another spelling (gerhard-run-id, 'Key:value'), other trailers (Signed-off-by), folded lines, a key twice.
    spelled: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        name = _CANONICAL.get(key.strip().lower())
        if sep and name and value.strip() and not key[:1].isspace():
            spelled.setdefault(name, value.strip())
    return spelled


def entries_of(shas: str, stamp: str, author: str, email: str, subject: str, body: str) -> list[Entry]:
    """The entries of one commit's fields (FORMAT's): none when it is not gerhard's, several for a
    squash merge of several registrations."""
    runs = body.lower().count("gerhard-run-id")
    if not runs:
        return []
    sha = shas.partition(" ")[0]
    block = body.rstrip("\n").rpartition("\n\n")[2]
    if runs == 1 and (own := _OWN_REGISTRATION.fullmatch(block)) is not None:  # a third of entry_of's cost
        return [_entry(sha, stamp, author, email, subject, *own.groups())]
    entry = entry_of(sha, stamp, author, email, subject, block)
    if entry is not None and runs <= 1:
        return [entry]  # a commit gerhard made: its trailers are the last paragraph
    found = []
    for paragraph in body.split("\n\n"):
        if "gerhard-run-id" in paragraph.lower():
            block = "\n".join(line.lstrip(" \t*-") for line in paragraph.split("\n"))
            found.append(entry_of(sha, stamp, author, email, subject, block))
    return [e for e in found if e is not None]


def entry_of(sha: str, stamp: str, author: str, email: str, subject: str, trailers: str) -> Entry | None:
    """The entry of one commit's trailer lines, or None when they are not gerhard's."""
    if not trailers:
        return None
    t = trailer_values(trailers)
    run_id, verdict, decision = t.get("Gerhard-Run-Id"), t.get("Gerhard-Verdict"), t.get("Gerhard-Decision")
    if run_id is None or (verdict is None and decision is None):
        return None
    return _entry(
        sha,
        stamp,
        author,
        email,
        subject,
        run_id,
        t.get("Gerhard-Phase"),
        verdict,
        t.get("Gerhard-Code-SHA"),
        t.get("Gerhard-Code-Dirty", ""),
        t.get("Gerhard-Config-SHA256"),
        t.get("Gerhard-Bundle-SHA256"),
        decision,
    )


def _entry(
    sha: str,
    stamp: str,
    author: str,
    email: str,
    subject: str,
    run_id: str,
    phase: str | None,
    verdict: str | None,
    code: str | None,
    dirty: str,
    config: str | None,
    bundle: str | None,
    decision: str | None = None,
) -> Entry:
    return Entry(
        KIND_DECISION if decision else KIND_REGISTRATION,
        time.strftime(DATE_FORMAT, time.gmtime(int(stamp))),
        sha,
        author,
        email,
        run_id,
        phase,
        None if decision else verdict,
        decision,
        None if code == "unknown" else code,
        _DIRTY.get(dirty),
        None if config == "none" else config,
        bundle,
        subject,
    )


def iter_entries(
    where: Path,
    revs: Sequence[str] = ("HEAD",),
    run_id: str | None = None,
    extra: Sequence[str] = (),
    started: subprocess.Popen[bytes] | None = None,
) -> Generator[Entry, None, None]:
    """Entries newest first (or as `extra` orders them), streamed from one `git log` run in `where`
    (a work tree or any folder in it): `started` (logstream.start with the same arguments), else one
    started here. A branch without commits has none."""
    if started is None:
        if not Path(where).is_dir():
            _explain_repo(where)
        started = logstream.start(where, revs, run_id, extra)
    proc, stdout = started, started.stdout
    assert stdout is not None
    done, seen = False, set()
    added = None if run_id is not None else (lambda others: added_entries(Path(where), others))
    try:
        for entry in _parse_stream(iter(lambda: stdout.read(_CHUNK), b""), added):
            if run_id is None or entry.run_id == run_id:  # --grep also matches a line in a body
                seen.add(entry.commit if entry.kind == KIND_DECISION else KIND_REGISTRATION)
                yield entry
        done = True
    finally:
        err, rc = _finish(proc, done)
    if done and rc != 0:
        _explain_repo(where)
        if not _unborn(where):  # a branch without commits has no history yet: no entries
            raise GitError(_git_message(err, rc))
    if done and run_id is not None and KIND_REGISTRATION not in seen:  # squashed with a title only
        yield from (e for e in touching(Path(where), revs, run_id, extra) if e.commit not in seen)


def _unborn(where: Path) -> bool:
    proc = subprocess.run(["git", "rev-parse", "-q", "--verify", "HEAD"], cwd=where, capture_output=True)
    return proc.returncode != 0


def _explain_repo(where: Path) -> None:
    """gitrepo's one-line error when `where` is no git work tree (git log's own says less)."""
    gitrepo.find_root(Path(where))


Commit = tuple[str, str, str, str, str, str]  # FORMAT's fields of one commit
Added = Callable[[list[Commit]], dict[str, list[Entry]]]  # commits -> the entries of what they added


def _parse_stream(chunks: Iterator[bytes], added: Added | None = None) -> Iterator[Entry]:
    """The entries of git's output, in its order; `added` is asked, once per chunk, for the entries of
    the commits whose messages name none (a squash merge with a title only)."""
    fields: list[str] = []
    tail = b""
    for chunk in chunks:
        data = tail + chunk
        end = data.rfind(b"\0") + 1  # git ends every field with NUL (-z): what follows is incomplete
        tail = data[end:]
        fields += data[:end].decode("utf-8", "replace").split("\0")[:-1]
        whole = len(fields) - len(fields) % N_FIELDS
        records = iter(fields[:whole])
        commits: list[Commit] = list(zip(*[records] * N_FIELDS, strict=True))
        named = [entries_of(*commit) for commit in commits]
        others = [c for c, found in zip(commits, named, strict=True) if not found and _may_add(c)]
        extra = added(others) if added is not None and others else {}
        for commit, found in zip(commits, named, strict=True):
            yield from found or extra.get(commit[0].partition(" ")[0], [])
        del fields[:whole]


def _may_add(commit: Commit) -> bool:
    """Could this commit have added a run's record or decision with no trailers naming it? Not a merge
    (its side's commits are in the log), nor gerhard's refresh (it writes derived files only)."""
    return len(commit[0].split()) <= 2 and "gerhard-rebuild:" not in commit[5].lower()


REGISTRY_SOURCES = ("state/runs/", "state/decisions/")


def added_entries(root: Path, commits: list[Commit]) -> dict[str, list[Entry]]:
    """sha -> the entries of the records each commit added and the decisions it added or changed, read
    from those files (two git processes for all the commits)."""
    listed = gitrepo.run_git(
        root, "diff-tree", "--stdin", "-r", "-z", "--no-renames", "--diff-filter=AM", "--name-status",
        "--", *REGISTRY_SOURCES, input="".join(f"{c[0].partition(' ')[0]}\n" for c in commits).encode(),
    ).decode("utf-8", "surrogateescape").split("\0")  # fmt: skip
    found: list[tuple[str, str]] = []
    sha, tokens = "", iter(listed)
    for token in tokens:
        if "/" not in token and len(token) >= 40:
            sha = token
        elif token in ("A", "M"):
            path = next(tokens, "")
            if path.endswith(".yaml") and path.count("/") == 2 and (token == "A" or "decisions" in path):
                found.append((sha, path))
    blobs = read_blobs(root, [f"{s}:{p}" for s, p in found]) if found else []
    fields = {c[0].partition(" ")[0]: c for c in commits}
    out: dict[str, list[Entry]] = {}
    for (sha, path), data in zip(found, blobs, strict=True):
        entry = source_entry(fields[sha], path, data)
        if entry is not None:
            out.setdefault(sha, []).append(entry)
    return out


def source_entry(commit: Commit, path: str, data: bytes | None) -> Entry | None:
    """The entry a run record or decision file stands for, in this commit."""
    try:
        doc = read_state_yaml((data or b"").decode("utf-8"), path)
    except (UnicodeDecodeError, GerhardError):
        return None
    if not isinstance(doc, dict) or not doc.get("run_id"):
        return None
    decision = path.startswith("state/decisions/")
    text = {
        "Gerhard-Run-Id": doc.get("run_id"),
        "Gerhard-Phase": doc.get("phase"),
        "Gerhard-Decision" if decision else "Gerhard-Verdict": doc.get("decision" if decision else "verdict"),
        "Gerhard-Code-SHA": doc.get("code_sha"),
        "Gerhard-Code-Dirty": None if doc.get("code_dirty") is None else str(doc["code_dirty"]).lower(),
        "Gerhard-Config-SHA256": doc.get("config_sha256"),
        "Gerhard-Bundle-SHA256": doc.get("bundle_sha256"),
    }
    sha, stamp, author, email, subject, _ = commit
    block = "\n".join(f"{k}: {v}" for k, v in text.items() if v not in (None, ""))
    return entry_of(sha.partition(" ")[0], stamp, author, email, subject, block)


def touching(root: Path, revs: Sequence[str], run_id: str, extra: Sequence[str]) -> Iterator[Entry]:
    """The entries of one run from the commits that added its record or added or changed its decision."""
    paths = [f"{d}{run_id}.yaml" for d in REGISTRY_SOURCES]
    out = gitrepo.run_git(
        root, "log", "-z", f"--format={FORMAT}", *STEADY, "--diff-filter=AM", *extra, *revs, "--", *paths, check=False
    )
    fields = out.decode("utf-8", "replace").split("\0")
    commits: list[Commit] = list(zip(*[iter(fields[: len(fields) - len(fields) % N_FIELDS])] * N_FIELDS, strict=True))
    found = added_entries(root, commits) if commits else {}
    for commit in commits:
        yield from (e for e in found.get(commit[0].partition(" ")[0], ()) if e.run_id == run_id)


def registrations_by_record(root: Path, rev: str = "HEAD") -> dict[str, str]:
    """run id -> the commit that added its record state/runs/<run_id>.yaml (what registered it, whatever
    the merge method; the oldest when it was added twice), from one `git log`."""
    out = gitrepo.run_git(
        root, "log", "--diff-filter=A", "--format=%x00%H", "--name-only", "--no-renames", rev, "--", "state/runs/"
    )
    found: dict[str, str] = {}
    for block in out.decode("utf-8", "surrogateescape").split("\0")[1:]:
        sha, *paths = block.split("\n")
        for path in filter(None, paths):
            if path.endswith(".yaml") and path.count("/") == 2:
                found[path.rsplit("/", 1)[1].removesuffix(".yaml")] = sha.strip()
    return found


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
