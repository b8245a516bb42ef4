"""gerhard log: registrations and decisions, newest first, read from their commits' trailers."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from gerhard.errors import GerhardError, UserError
from gerhard.git import logstream

TYPE_CHECKING = False
if TYPE_CHECKING:
    from gerhard.git import audit

RUN_WIDTH = 24  # a default run id, 20260223T190000Z_v15_fix; longer ids push their line's tail
NOTHING = "no registrations or decisions match"
BATCH = 500  # lines per write: streamed, yet not a write per line


def format_entry(e: audit.Entry) -> str:
    """date, short sha, kind, run id, phase, verdict or decision, author: one line."""
    outcome = e.verdict if e.decision is None else e.decision
    return (
        f"{e.date}  {e.commit[:7]}  {e.kind:<12}  {e.run_id:<{RUN_WIDTH}}  {e.phase or '-':<5}  "
        f"{outcome or '-':<7}  {e.author}"
    )


class PhaseOfRun:
    """A decision commit by hand may not name the phase: the decided run's record does (read once)."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.root: Path | None = None
        self.known: dict[str, str | None] = {}

    def __call__(self, run_id: str) -> str | None:
        if run_id not in self.known:
            self.known[run_id] = self.read(run_id)
        return self.known[run_id]

    def read(self, run_id: str) -> str | None:
        from gerhard.git import gitrepo

        self.root = self.root or gitrepo.find_root(self.repo)
        if not (self.root / "state" / "runs" / f"{run_id}.yaml").is_file():
            return None  # not here (or not a safe id): no need of the YAML reader
        from gerhard.registry import store

        try:
            record = store.read_record(self.root, run_id)
        except GerhardError:  # a damaged record: the log still shows the commit
            return None
        return str(record["phase"]) if record else None


def check_arguments(run_id: str | None, limit: int) -> None:
    if limit < 0:
        raise UserError(f"--limit {limit} is negative: give a count, or 0 for every entry")
    if run_id is not None:
        from gerhard.registry.bundle import check_run_id

        check_run_id(run_id)


def check_phase(repo: Path, phase: str) -> None:
    """A phase the program declares, or one it no longer declares that has runs (asked only when no
    entry matched: reading the program costs more than the whole log)."""
    from gerhard import layout
    from gerhard.git import gitrepo
    from gerhard.registry import queries

    root = gitrepo.find_root(repo)
    if (root / layout.PROGRAM).is_file():
        queries.check_phase_known(queries.current_status(root), phase)


def entries(repo: Path, phase: str | None = None, run_id: str | None = None, limit: int = 0) -> Iterator[audit.Entry]:
    """Registrations and decisions newest first, filtered; git is stopped once `limit` are found."""
    check_arguments(run_id, limit)
    # The whole of HEAD's history is read, or kept (logcache); --limit reads git's newest commits only.
    at = logstream.tip(repo) if run_id is None and not limit and repo.is_dir() else None
    # git first, when it must walk the whole history: it does while the reader of its output is imported.
    started = None
    if at is None or logstream.kept(at) is None:
        revs = [at.head] if at is not None else ["HEAD"]  # the commit the entries are kept for
        started = logstream.start(repo, revs, run_id) if repo.is_dir() else None
    from gerhard.git import audit, logcache

    found = logcache.entries(repo, at) if at is not None and started is None else None
    if at is not None and found is None and started is None:
        started = logstream.start(repo, [at.head])
    phase_of = PhaseOfRun(repo)
    read: list[audit.Entry] = []
    shown = 0
    if found is not None:
        stream = (e for e in found)
    else:
        stream = audit.iter_entries(repo, [at.head] if at is not None else ["HEAD"], run_id, started=started)
    with contextlib.closing(stream):
        for e in stream:
            read.append(e)
            if e.phase is None:
                e = e._replace(phase=phase_of(e.run_id))
            if phase is not None and e.phase != phase:
                continue
            yield e
            shown += 1
            if limit and shown >= limit:
                return
    if at is not None and found is None:  # the whole history read: kept for the next log
        logcache.save(at, read)
    if not shown and phase is not None:
        check_phase(repo, phase)


def log(repo: Path, phase: str | None = None, run_id: str | None = None, limit: int = 0, as_json: bool = False) -> int:
    # No `git rev-parse` first: git log finds the repository itself (a missing one is explained).
    found = entries(Path(repo), phase, run_id, limit)
    if as_json:
        write_json(found)
    else:
        write_text(found)
    return 0


def write_text(found: Iterator[audit.Entry]) -> None:
    """One line per entry, written in batches (a print per line costs more than parsing the entry)."""
    lines: list[str] = []
    empty = True
    for e in found:
        lines.append(format_entry(e) + "\n")
        empty = False
        if len(lines) >= BATCH:
            flush(lines)
    flush(lines if not empty else [NOTHING + "\n"])


def write_json(found: Iterator[audit.Entry]) -> None:
    """A JSON array, one entry per line: streamed, and made by json's C encoder (`print_json`'s
    indented dump takes five times as long over 10,000 entries)."""
    import json

    encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps with an option makes one per call
    parts: list[str] = []
    empty = True
    for e in found:
        parts.append(("[\n" if empty else ",\n") + encode(e.as_dict()))
        empty = False
        if len(parts) >= BATCH:
            flush(parts)
    flush(parts + ["[]\n" if empty else "\n]\n"])


def flush(parts: list[str]) -> None:
    sys.stdout.write("".join(parts))
    sys.stdout.flush()
    parts.clear()
