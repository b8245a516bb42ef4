"""A registry with a real history for `gerhard check`: one registration commit per run, built with `git fast-import`.

`gerhard check` audits the history: it finds each run's registration commit by its trailers and
compares the run's files in HEAD with that commit's. So unlike history.py's registry (every run in
one generated commit, which `check` would rightly call hand-added), each run here lands in a commit
of its own, as `gerhard register` makes it: the run's archive (its variant's files, its MANIFEST), its
record, its report (and needs-input file when RED), with the message and trailers registration
writes, authored at the run's registration time. A last commit writes the summary files (status,
gate results, ledger, month pages, index, board) as `gerhard rebuild --commit` would. Records and
derived files come from history.py (real gate evaluation, `build_record`, `fold_run`,
`rebuild_files`), so `gerhard check --full` passes on the result.

Generating 10,000 commits takes a few minutes (git fast-import writes 10,000 versions of the
10,000-entry `outputs/` and `state/runs/` trees); the result is cached in benchmarks/.work/ under a
digest of this generator and history.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import time
from pathlib import Path
from typing import Any

import history

from gerhard import layout
from gerhard.core import derive, reports
from gerhard.core.gates import GateReport, GateResult
from gerhard.core.records import RunRecord
from gerhard.flows.registration import commit_message
from gerhard.registry import store
from gerhard.registry.bundle import manifest_bytes

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
AUTHOR = b"Bench Researcher <bench@example.com>"


def generator_key() -> str:
    """This generator, history.py, and what the records and derived files are made by (the fold, the
    reports, the templates, the schemas): a gerhard that writes them otherwise gets a new registry."""
    root = HERE.parent
    sources = [Path(__file__), HERE / "history.py", *sorted((root / "gerhard" / "core").glob("*.py"))]
    sources += [*sorted((root / "gerhard" / "templates").glob("*.j2")), *sorted((root / "schemas").glob("*.json"))]
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def message(record: RunRecord) -> str:
    report = GateReport(tuple(GateResult(**g) for g in record.gates), record.verdict)
    return commit_message(record, report)


def _commit(when: int, text: str) -> bytes:
    data = text.encode()
    return (
        b"commit refs/heads/main\n"
        + b"author %s %d +0000\n" % (AUTHOR, when)
        + b"committer %s %d +0000\n" % (AUTHOR, when)
        + b"data %d\n" % len(data)
        + data
        + b"\n"
    )


def _file(rel: str, text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return f"M {history.BLOB} inline {rel}\n".encode() + b"data %d\n" % len(data) + data + b"\n"


def stream(
    variants: dict[str, list[history.Variant]],
    runs: list[tuple[RunRecord, history.Variant]],
    files: dict[str, str],
    parent: str,
) -> bytes:
    """Every variant file as a blob, one commit per registration, then the summary files."""
    chunks = history.variant_blobs(variants)
    per_run: set[str] = set()
    for n, (record, variant) in enumerate(runs):
        when = int(dt.datetime.fromisoformat(record.registered_at.replace("Z", "+00:00")).timestamp())
        chunks.append(_commit(when, message(record)))
        if n == 0:
            chunks.append(f"from {parent}\n".encode())
        base = record.artifact_root
        chunks += [f"M {history.BLOB} :{m} {base}/{path}\n".encode() for path, m in variant.marks.items()]
        chunks.append(_file(f"{base}/MANIFEST", manifest_bytes(record.run_id, variant.bundle)))
        chunks.append(_file(layout.record_path(record.run_id), derive.record_text(record)))
        for rel in (reports.run_report_path(record), layout.needs_input_path(record.run_id)):
            if rel in files:
                chunks.append(_file(rel, files[rel]))
                per_run.add(rel)
        chunks.append(b"\n")
    chunks.append(_commit(when + 1, "rebuild: the derived files\n"))
    chunks += [_file(rel, text) for rel, text in files.items() if rel not in per_run]
    chunks.append(b"\n")
    return b"".join(chunks)


def build(repo: Path, runs: int, work: Path) -> str:
    """The registry with `runs` registration commits at `repo`, checked out; returns its HEAD."""
    parent = history.init_repo(repo)
    program = store.load_program(repo)
    variants = history.make_variants(work, program, repo)
    generated: list[tuple[Any, history.Variant]] = history.make_records(repo, program, variants, runs)
    files = derive.rebuild_files(program, [r for r, _ in generated], lambda rel: None)
    history.git(repo, "fast-import", "--quiet", input=stream(variants, generated, files, parent))
    history.git(repo, "reset", "-q", "--hard")
    return history.git(repo, "rev-parse", "HEAD").strip()


def registry(runs: int, log: Any = print) -> Path:
    """The cached registry with `runs` registration commits, reset to its generated commit."""
    repo = WORK / f"check-history-{runs}-{generator_key()}"
    marker = repo.parent / f"{repo.name}.base"
    if not marker.is_file() or not repo.is_dir():
        for stale in WORK.glob(f"check-history-{runs}-*"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        log(f"generating a registry with {runs:,} registration commits in {repo} (once; cached) ...")
        start = time.perf_counter()
        marker.write_text(build(repo, runs, WORK / f"check-variants-{runs}") + "\n")
        log(f"  generated in {time.perf_counter() - start:.0f} s")
    history.git(repo, "reset", "-q", "--hard", marker.read_text().strip())
    history.git(repo, "clean", "-fdq")
    return repo
