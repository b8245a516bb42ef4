"""What the site shows of a run and of the program, read through the registry's own functions.

The one module that knows the shape of a record: a run's files come through a reader (path -> bytes: the
work tree's files, or a revision's blobs), its record's data from `store.record_data` (the parse cache, or
yamlfast for the text gerhard writes), the comparison's inputs from `gerhard.core.compare` (the model behind
`gerhard diff`: `run_summary`, `flatten`, and the same record fields and eval tasks `diff_runs` reads).
Everything returned is plain data for gerhard.site.wire.
"""

from __future__ import annotations

import dataclasses
import json
import operator
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core import compare
from gerhard.core.records import RunRecord
from gerhard.dossier.codec import dossier_name
from gerhard.errors import StateError
from gerhard.registry import queries, store

Reader = Callable[[str], "bytes | None"]  # a path in the registry -> its content, None when absent
EVAL_TASK_KEYS = ("name", "passed", "score", "threshold")  # what compare.eval_flips reads of a task
# A gate's threshold as gerhard.core.gates.threshold_text writes it: "<= 2.9", "in [0.05, 0.25]",
# "<= 2.75 (best_green <run>)"; "<= best_green (none yet)" has no number.
_BOUND = re.compile(r"(<=|<|>=|>|==) ([-+0-9.eE]+|nan|inf|-inf)(?: \(.*\))?")
_RANGE = re.compile(r"in \[([-+0-9.eE]+), ([-+0-9.eE]+)\]")


def plain(obj: Any) -> Any:
    """A record as a dict, whether the registry hands out dicts or typed records."""
    return obj.as_dict() if hasattr(obj, "as_dict") else obj


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    month: str  # YYYY-MM of its registration: the table's data is split by month
    row: dict[str, Any]  # the runs table's row: flat keys (gates.<id>, metrics.<name>, config.<dotted key>)
    detail: dict[str, Any]  # what the comparison reads: compare's inputs and the metrics history


def run_name(run_id: str) -> str:
    """Run ids are <timestamp>_<name>: the name is what follows the first '_' (as `gerhard sync --run-name`)."""
    return run_id.split("_", 1)[1] if "_" in run_id else run_id


def limits(threshold: Any) -> list[float | None] | None:
    """[low, high] of a gate's recorded threshold (None for an open side), or None when it has no number."""
    text = str(threshold or "")
    if m := _RANGE.fullmatch(text):
        return [float(m[1]), float(m[2])]
    if not (m := _BOUND.fullmatch(text)):
        return None
    value = float(m[2])
    return {"<": [None, value], "<=": [None, value], ">": [value, None], ">=": [value, None]}.get(m[1], [value, value])


def file_reader(root: Path) -> Reader:
    """A reader of the work tree's files."""

    top = os.fspath(root)

    def read(rel: str) -> bytes | None:
        try:
            with open(f"{top}/{rel}", "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    return read


def read_json(read: Reader, rel: str) -> Any:
    """A bundle file's JSON, None when absent (or not JSON: `gerhard check` reports that, the site shows the rest)."""
    raw = read(rel)
    try:
        return None if raw is None else json.loads(raw)
    except ValueError:
        return None


def eval_tasks(suite: Any) -> dict[str, Any] | None:
    """The run's eval suite as compare.eval_flips reads it (None: the run has no eval_suite.json)."""
    if not isinstance(suite, dict):
        return None
    tasks = [t for t in suite.get("tasks") or [] if isinstance(t, dict)]
    return {"tasks": [{k: t[k] for k in EVAL_TASK_KEYS if k in t} for t in tasks]}


def history_columns(metrics: Any) -> dict[str, list[Any]] | None:
    """metrics.json's per-step history as columns (step first), or None when it has none."""
    rows = metrics.get("history") if isinstance(metrics, dict) else None
    rows = [r for r in rows or [] if isinstance(r, dict)]
    if not rows:
        return None
    head = tuple(rows[0])
    if len(head) > 1 and head[0] == "step" and set(map(len, rows)) == {len(head)}:
        try:  # the usual: every row has the first row's keys (as many, and each of them), read in C
            values = list(map(operator.itemgetter(*head), rows))
        except KeyError:
            values = None
        if values is not None:
            return {str(k): list(column) for k, column in zip(head, zip(*values, strict=True), strict=True)}
    keys = list(dict.fromkeys(["step", *(k for r in rows for k in r)]))
    return {str(k): [r.get(k) for r in rows] for k in keys}


# A row's own keys, in the table's column order; gates.<id>, pass:<id>, limit:<id>, metrics.<name> and
# config.<key> follow.
ROW_KEYS = ("id", "phase", "verdict", "at", "seq", "name", "sha", "dirty", "summary", "passed", "total", "report",
            "dossier", "history")  # fmt: skip


def table_row(data: dict[str, Any], report: str | None, dossier: str | None, has_history: bool) -> dict[str, Any]:
    passed, total = sum(bool(g.get("passed")) for g in data.get("gates") or []), len(data.get("gates") or [])
    row: dict[str, Any] = {
        "id": data["run_id"], "phase": data["phase"], "verdict": data["verdict"], "at": data["registered_at"],
        "seq": data.get("seq"), "name": run_name(data["run_id"]), "sha": data.get("code_sha"),
        "dirty": data.get("code_dirty"), "summary": data.get("summary") or "", "passed": passed, "total": total,
        "report": report, "dossier": dossier, "history": has_history,
    }  # fmt: skip
    for g in data.get("gates") or []:
        row[f"gates.{g['id']}"] = g.get("observed")
        row[f"pass:{g['id']}"] = bool(g.get("passed"))
        row[f"limit:{g['id']}"] = limits(g.get("threshold"))
    row.update({f"metrics.{k}": v for k, v in (data.get("metrics") or {}).items()})
    row.update({f"config.{k}": v for k, v in compare.flatten(data.get("config") or {}).items()})
    return {k: v for k, v in row.items() if v is not None}  # the page reads None as absent


def run_entry(read: Reader, cache_root: Path, run_id: str, has_dossier: bool, report: str | None) -> RunEntry:
    """A run's row and comparison data; `report` is the path of its markdown report, when it has one (its
    text goes into the data: the page shows it, which a browser does not do with a .md file)."""
    rel = layout.record_path(run_id)
    raw = read(rel)
    if raw is None:
        raise StateError(f"{rel} cannot be read: restore it with 'git checkout'")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StateError(f"{rel} is not UTF-8 text: restore it with 'git checkout -- {rel}'") from None
    data = store.record_data(cache_root, text, rel)
    folder = data.get("artifact_root") or layout.run_dir(run_id)
    history = history_columns(read_json(read, f"{folder}/metrics.json"))
    dossier = f"{folder}/{dossier_name(run_id)}" if has_dossier else None
    report_text = read(report) if report else None
    detail = {
        "run": compare.run_summary(RunRecord.from_dict(data)),
        "config": compare.flatten(data.get("config") or {}),
        "metrics": data.get("metrics") or {},
        "gates": data.get("gates") or [],
        "suite": eval_tasks(read_json(read, f"{folder}/eval_suite.json")),
        "history": history,
        "summary": data.get("summary") or "",
        "next_action": data.get("next_action") or "",
        "report": None if report_text is None else report_text.decode("utf-8", "replace"),
    }
    row = table_row(data, report if report_text is not None else None, dossier, history is not None)
    return RunEntry(run_id, str(data["registered_at"])[:7], row, detail)


def program_data(root: Path) -> dict[str, Any]:
    """The program view's data: the program's phases and gates, the status, the decisions."""
    program = store.load_program(root)
    status = plain(queries.current_status(root))
    folder = root / layout.DECISIONS_DIR
    names = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
    decisions = [plain(d) for d in (store.read_decision(root, n) for n in names) if d is not None]
    phases = [
        {"id": p.id, "title": p.title, "required": list(p.required), "gates": [dataclasses.asdict(g) for g in p.gates]}
        for p in program.phases
    ]
    return {"program": program.name, "phases": phases, "status": status, "decisions": decisions}
