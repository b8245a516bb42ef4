"""Build the site into a folder, rewriting only what changed since the last build there.

    OUT/index.html, OUT/assets/     the page and its scripts, copied from gerhard/site/static/
    OUT/data/manifest.js            the program view, the month chunks (with a digest each), the link prefix
    OUT/data/rows/<YYYY-MM>.js      the runs table: one row per run registered that month
    OUT/data/runs/<run_id>.js       one run's comparison data and metrics history (loaded when compared)
    OUT/.gerhard-site.json          the build's memory: each run's fingerprint and month

The page loads the manifest and the month chunks first (the table), a run's own file only when it is
compared. A build takes the registry's snapshot (gerhard.site.snapshot), reads only the runs whose
fingerprint changed (in worker processes when there are many), rewrites their files and the chunks of
their months, and writes a file only when its text differs, so after one registration at 10,000 runs it
reads one record and writes a handful of files. A change of the data format (FORMAT) rebuilds everything.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from gerhard.site import extract, snapshot, wire

FORMAT = 1
STATIC = Path(__file__).resolve().parent / "static"
ASSETS = ("uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE", "VERSION", "site.js", "site.css")
CACHE = ".gerhard-site.json"
PARALLEL_FROM = 200  # runs to read before worker processes pay for themselves


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
    """A run's row in the table, once its own file is written."""

    run_id: str
    month: str
    row: dict[str, Any]


class Writer:
    """Writes a file only when its text differs (unchanged files keep their time: static hosts and
    browsers' caches see nothing new), and counts what it wrote."""

    def __init__(self, out: Path) -> None:
        self.out, self.written = out, 0

    def text(self, rel: str, text: str) -> None:
        path = self.out / rel
        try:
            if path.read_text(encoding="utf-8") == text:
                return
        except (FileNotFoundError, UnicodeDecodeError):
            path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        self.written += 1

    def remove(self, rel: str) -> None:
        (self.out / rel).unlink(missing_ok=True)


def rows_rel(month: str) -> str:
    return f"data/rows/{month}.js"


def run_rel(run_id: str) -> str:
    return f"data/runs/{run_id}.js"


def load_cache(out: Path) -> dict[str, Any]:
    try:
        cache = json.loads((out / CACHE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {"runs": {}}
    ok = isinstance(cache, dict) and cache.get("format") == FORMAT and isinstance(cache.get("runs"), dict)
    return cache if ok else {"runs": {}}


def write_runs(root: str, out: str, run_ids: list[str], dossiers: list[bool]) -> tuple[list[Entry], int]:
    """Read these runs and write their own files: (their table entries, files written)."""
    writer, entries = Writer(Path(out)), []
    for run_id, dossier in zip(run_ids, dossiers, strict=True):
        entry = extract.run_entry(Path(root), run_id, dossier)
        writer.text(run_rel(run_id), wire.script("run", run_id, entry.detail))
        entries.append(Entry(run_id, entry.month, entry.row))
    return entries, writer.written


def read_runs(root: Path, writer: Writer, run_ids: list[str], dossiers: list[bool]) -> list[Entry]:
    """write_runs, in worker processes (one per CPU) when there are many runs: each writes its runs' files
    and sends back only their rows."""
    workers = min(os.cpu_count() or 1, 8)
    if len(run_ids) < PARALLEL_FROM or workers < 2:
        parts = [write_runs(str(root), str(writer.out), run_ids, dossiers)]
    else:
        size = -(-len(run_ids) // (workers * 4))
        ids, flags = [run_ids[i : i + size] for i in range(0, len(run_ids), size)], []
        flags = [dossiers[i : i + size] for i in range(0, len(run_ids), size)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(write_runs, [str(root)] * len(ids), [str(writer.out)] * len(ids), ids, flags))
    writer.written += sum(written for _, written in parts)
    return [entry for entries, _ in parts for entry in entries]


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


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def write_months(writer: Writer, months: Iterable[str], entries: list[Entry], gone: set[str]) -> None:
    """Rewrite the chunks of these months: their rows, less the runs gone or re-read, plus the re-read."""
    fresh: dict[str, list[Entry]] = {}
    for entry in entries:
        fresh.setdefault(entry.month, []).append(entry)
    for month in sorted(months):
        rows = {r: row for r, row in month_rows(writer.out, month).items() if r not in gone}
        rows.update({e.run_id: e.row for e in fresh.get(month, [])})
        if not rows:
            writer.remove(rows_rel(month))
            continue
        ordered = sorted(rows.values(), key=lambda row: (row["at"], row.get("seq") or 0, row["id"]))
        writer.text(rows_rel(month), wire.script("rows", month, columnar(ordered)))


def manifest(out: Path, repo: Path, snap: snapshot.Snapshot, program: dict[str, Any], months: list[str]) -> Any:
    chunks = {m: digest((out / rows_rel(m)).read_text(encoding="utf-8")) for m in months}
    root = Path(os.path.relpath(repo, out)).as_posix()
    return {"format": FORMAT, "root": root, "rev": snap.rev, "commit": snap.commit, "months": chunks, **program}


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
    dossiers = [snap.has(snapshot.run_paths(r)[-1]) for r in changed]
    writer = Writer(out)
    with snapshot.readable(snap, changed) as root:
        entries = read_runs(root, writer, changed, dossiers)
        program = extract.program_data(root)
    gone = set(removed) | set(changed)
    write_months(writer, {known[r]["month"] for r in gone if r in known} | {e.month for e in entries}, entries, gone)
    for entry in entries:
        known[entry.run_id] = {"fp": snap.runs[entry.run_id], "month": entry.month}
    for run_id in removed:
        writer.remove(run_rel(run_id))
        del known[run_id]
    months = sorted({v["month"] for v in known.values()})
    writer.text("data/manifest.js", wire.script("manifest", "", manifest(out, repo, snap, program, months)))
    copy_assets(writer)
    (out / CACHE).write_text(json.dumps({"format": FORMAT, "runs": known}, sort_keys=True), encoding="utf-8")
    return BuildReport(out, len(snap.runs), len(changed), len(removed), writer.written)
