"""Build the site into a folder, rewriting only what changed since the last build there.

    OUT/index.html, OUT/assets/     the page and its scripts, copied from gerhard/site/static/
    OUT/data/manifest.js            the program view, the table's chunks and the runs' parts (a digest each),
                                    the link prefix
    OUT/data/rows/<YYYY-MM>.js      the runs table: one row per run registered that month
    OUT/data/runs/<xx>.js           the comparison data, metrics history and report of the runs whose id
                                    hashes to xx (PARTS parts, one member a line), loaded when one is compared
    OUT/.gerhard-site.json          the build's memory: each run's fingerprint and month, the digests

The page loads the manifest and the month chunks first (the table), a run's part only when it is compared
or its report shown. A build takes the registry's snapshot (gerhard.site.snapshot), reads only the runs
whose fingerprint changed (a full build at many runs in worker processes, one per CPU), rewrites their
parts (the other members of a part are kept as text, not decoded) and the chunks of their months, and
writes a file only when its text differs: after one registration at 10,000 runs it reads one run and
writes three files. A change of the data format (FORMAT) rebuilds everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from gerhard.site import extract, snapshot, wire

FORMAT = 2
PARTS = 256  # a run's comparison data is in data/runs/<crc32(run id) % PARTS>.js: ~40 runs a part at 10,000
STATIC = Path(__file__).resolve().parent / "static"
ASSETS = ("uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE", "VERSION", "site.js", "site.css")
CACHE = ".gerhard-site.json"
PARALLEL_FROM = 2000  # runs to read before worker processes pay for themselves (benchmarks/bench_site.py)
BATCH = 1000  # runs read together: at a revision, one `git cat-file --batch` each


@dataclass(frozen=True)
class BuildReport:
    out: Path
    runs: int
    read: int  # runs whose files were read (new or changed)
    removed: int
    written: int  # files written (those whose text changed)

    def line(self) -> str:
        return (
            f"site: {self.runs} runs in {self.out} ({self.read} read, {self.removed} removed, "
            f"{self.written} files written); open {self.out / 'index.html'}"
        )


class Entry(NamedTuple):
    """A run's row in the table, once its part is written."""

    run_id: str
    month: str
    row: dict[str, Any]


class Job(NamedTuple):
    """A part to rewrite: the runs to read into it (id, dossier?, report path, blobs at a revision), the
    runs to drop from it."""

    part: str
    read: list[tuple[str, bool, str | None]]
    gone: list[str]


class Writer:
    """Writes a file only when its text differs (unchanged files keep their time: static hosts and
    browsers' caches see nothing new), and counts what it wrote."""

    def __init__(self, out: Path) -> None:
        self.out, self.written = out, 0

    def text(self, rel: str, text: str) -> str:
        """Write; the text's digest."""
        path = self.out / rel
        try:
            if path.read_text(encoding="utf-8") == text:
                return digest(text)
        except (FileNotFoundError, UnicodeDecodeError):
            path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        self.written += 1
        return digest(text)

    def remove(self, rel: str) -> None:
        (self.out / rel).unlink(missing_ok=True)


def rows_rel(month: str) -> str:
    return f"data/rows/{month}.js"


def part_of(run_id: str) -> str:
    return f"{zlib.crc32(run_id.encode()) % PARTS:02x}"


def part_rel(part: str) -> str:
    return f"data/runs/{part}.js"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_cache(out: Path) -> dict[str, Any]:
    empty: dict[str, Any] = {"runs": {}, "months": {}, "parts": {}}
    try:
        cache = json.loads((out / CACHE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return empty
    ok = isinstance(cache, dict) and cache.get("format") == FORMAT
    ok = ok and all(isinstance(cache.get(k), dict) for k in empty)
    return cache if ok else empty


def run_details(out: Path, part: str) -> dict[str, Any]:
    """The comparison data of the runs in a part, as the page reads it (by run id)."""
    members = wire.read_members((out / part_rel(part)).read_text(encoding="utf-8"), "runs", part)
    return {run_id: json.loads(text) for run_id, text in members.items()}


def old_members(out: Path, part: str) -> dict[str, str]:
    """The members a part holds now (the part is its own cache)."""
    try:
        return wire.read_members((out / part_rel(part)).read_text(encoding="utf-8"), "runs", part)
    except (FileNotFoundError, ValueError):
        return {}


def write_parts(
    repo: str, out: str, blobs: dict[str, str] | None, jobs: list[Job]
) -> tuple[list[Entry], dict[str, str | None], int]:
    """Read the jobs' runs and rewrite their parts: (the runs' table entries, each part's digest or None
    when it is empty now, files written). `blobs`: the revision's blobs of these runs' files, else the
    work tree is read."""
    root, writer = Path(repo), Writer(Path(out))
    read = extract.file_reader(root) if blobs is None else snapshot.blob_reader(root, blobs)
    entries: list[Entry] = []
    digests: dict[str, str | None] = {}
    for job in jobs:
        gone = set(job.gone)
        members = {r: text for r, text in old_members(writer.out, job.part).items() if r not in gone}
        for run_id, dossier, report in job.read:
            entry = extract.run_entry(read, root, run_id, dossier, report)
            members[run_id] = wire.dumps(entry.detail, ascii=True)
            entries.append(Entry(run_id, entry.month, {**entry.row, "part": job.part}))
        if members:
            digests[job.part] = writer.text(part_rel(job.part), wire.members_script("runs", job.part, members))
        else:
            writer.remove(part_rel(job.part))
            digests[job.part] = None
    return entries, digests, writer.written


def batches(jobs: list[Job], size: int) -> list[list[Job]]:
    """Jobs in batches of about `size` runs to read."""
    out: list[list[Job]] = [[]]
    count = 0
    for job in jobs:
        if count >= size:
            out.append([])
            count = 0
        out[-1].append(job)
        count += len(job.read)
    return out


def run_jobs(snap: snapshot.Snapshot, out: Path, jobs: list[Job]) -> tuple[list[Entry], dict[str, str | None], int]:
    """write_parts for every job: in worker processes (one per CPU) when there are many runs to read."""
    reading = sum(len(job.read) for job in jobs)
    workers = min(os.cpu_count() or 1, 8)
    size = BATCH if reading < PARALLEL_FROM or workers < 2 else min(BATCH, -(-reading // (workers * 2)))
    groups = batches(jobs, size)
    args = [(str(snap.repo), str(out), blobs_of(snap, group), group) for group in groups]
    if reading < PARALLEL_FROM or workers < 2:
        parts = [write_parts(*a) for a in args]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(write_parts, *zip(*args, strict=True)))
    entries = [e for found, _, _ in parts for e in found]
    digests = {p: d for _, found, _ in parts for p, d in found.items()}
    return entries, digests, sum(written for _, _, written in parts)


def blobs_of(snap: snapshot.Snapshot, jobs: list[Job]) -> dict[str, str] | None:
    """At a revision: the blob ids of the files these jobs read; None in the work tree."""
    if snap.rev is None:
        return None
    paths = [p for job in jobs for run_id, _, report in job.read for p in (*snapshot.run_paths(run_id)[:-1], report)]
    return {p: snap.blobs[p] for p in paths if p and p in snap.blobs}


def month_rows(out: Path, month: str) -> dict[str, dict[str, Any]]:
    """The rows a month's chunk holds now, by run id (the chunk is its own cache)."""
    try:
        chunk = wire.read_script((out / rows_rel(month)).read_text(encoding="utf-8"), "rows", month)
    except (FileNotFoundError, ValueError):
        return {}
    return {row["id"]: row for row in expand(chunk)}


def columnar(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows as a column list and value lists: the keys once per chunk, not once per row; None is absent.
    Columns in one order whatever the rows' history, so a chunk rewritten after a change is the chunk a
    full build writes."""
    keys = {k for row in rows for k in row}
    columns = [k for k in extract.ROW_KEYS if k in keys] + sorted(keys - set(extract.ROW_KEYS))
    return {"columns": columns, "rows": [[row.get(c) for c in columns] for row in rows]}


def expand(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    columns = chunk["columns"]
    return [{c: v for c, v in zip(columns, values, strict=True) if v is not None} for values in chunk["rows"]]


def write_months(writer: Writer, months: Iterable[str], entries: list[Entry], gone: set[str]) -> dict[str, str | None]:
    """Rewrite the chunks of these months: their rows, less the runs gone or re-read, plus the re-read.
    Each month's digest, None when it has no run left."""
    fresh: dict[str, list[Entry]] = {}
    for entry in entries:
        fresh.setdefault(entry.month, []).append(entry)
    digests: dict[str, str | None] = {}
    for month in sorted(months):
        rows = {r: row for r, row in month_rows(writer.out, month).items() if r not in gone}
        rows.update({e.run_id: e.row for e in fresh.get(month, [])})
        if not rows:
            writer.remove(rows_rel(month))
            digests[month] = None
            continue
        ordered = sorted(rows.values(), key=lambda row: (row["at"], row.get("seq") or 0, row["id"]))
        digests[month] = writer.text(rows_rel(month), wire.script("rows", month, columnar(ordered)))
    return digests


def updated(digests: dict[str, str], new: dict[str, str | None]) -> dict[str, str]:
    merged = {**digests, **new}
    return {k: v for k, v in sorted(merged.items()) if v is not None}


def copy_assets(writer: Writer) -> None:
    for name in ASSETS:
        writer.text(f"assets/{name}", (STATIC / name).read_text(encoding="utf-8"))
    writer.text("index.html", (STATIC / "index.html").read_text(encoding="utf-8"))


def build_site(repo: Path, out: Path, rev: str | None = None) -> BuildReport:
    """Build (or bring up to date) the site of the registry at `repo` in `out`: the work tree, or `rev`."""
    snap = snapshot.take(repo, rev)
    out.mkdir(parents=True, exist_ok=True)
    cache = load_cache(out)
    known: dict[str, Any] = cache["runs"]
    changed = [r for r, fp in snap.runs.items() if known.get(r, {}).get("fp") != fp]
    removed = sorted(set(known) - set(snap.runs))
    gone = set(removed) | set(changed)
    if not known:  # a first build here, or of another FORMAT: no data file of an earlier build is kept
        for stale in [*(out / "data" / "runs").glob("*.js"), *(out / "data" / "rows").glob("*.js")]:
            stale.unlink()
    jobs: dict[str, Job] = {}
    for run_id in sorted(gone):
        jobs.setdefault(part_of(run_id), Job(part_of(run_id), [], [])).gone.append(run_id)
    for run_id in changed:
        dossier = snap.has(snapshot.run_paths(run_id)[-1])
        jobs[part_of(run_id)].read.append((run_id, dossier, snap.reports.get(run_id)))
    writer = Writer(out)
    entries, parts, writer.written = run_jobs(snap, out, [jobs[p] for p in sorted(jobs)])
    months = write_months(writer, {known[r]["month"] for r in gone if r in known} | {e.month for e in entries},
                          entries, gone)  # fmt: skip
    for entry in entries:
        known[entry.run_id] = {"fp": snap.runs[entry.run_id], "month": entry.month}
    for run_id in removed:
        del known[run_id]
    cache.update(format=FORMAT, months=updated(cache["months"], months), parts=updated(cache["parts"], parts))
    with snapshot.state_root(snap) as root:
        program = extract.program_data(root)
    link_root = Path(os.path.relpath(repo, out)).as_posix()
    manifest = {"format": FORMAT, "root": link_root, "rev": snap.rev, "commit": snap.commit,
                "months": cache["months"], "parts": cache["parts"], **program}  # fmt: skip
    writer.text("data/manifest.js", wire.script("manifest", "", manifest))
    copy_assets(writer)
    memory = json.dumps(cache, sort_keys=True)
    try:
        same = (out / CACHE).read_text(encoding="utf-8") == memory
    except (FileNotFoundError, UnicodeDecodeError):
        same = False
    if not same:
        (out / CACHE).write_text(memory, encoding="utf-8")
    return BuildReport(out, len(snap.runs), len(changed), len(removed), writer.written)
