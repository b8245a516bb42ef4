"""Bundle files from values and from other tools' logs: HF Trainer, Lightning CSVLogger, lm-evaluation-harness.

Pure functions turn data into bundle-file data; `write_bundle_files` (and `bundle_from_values`) write it,
each file checked as registration reads it (bytes parsed back, schema, metric names) before any is written.
NaN and infinities are kept (a diverged run registers RED, with the evidence); a value not logged at a
step is left out of its row, never null. No '.' in metric names: gate paths (final.val_loss) split on it.
lm-eval has no pass mark, so a threshold is required (README "Bundle files" says the same).
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import io
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any, NamedTuple

from gerhard.errors import UserError
from gerhard.files import atomic_write
from gerhard.formats import schemas
from gerhard.formats.bounds import MAX_DATA_DEPTH, shown
from gerhard.formats.parsing import is_finite_number, parse_artifact, parse_seed
from gerhard.formats.yamlio import dump_yaml

METRICS, EVAL_SUITE, CONFIG, SEED = "metrics.json", "eval_suite.json", "config.yaml", "seed.txt"
_SCHEMAS = {METRICS: "metrics", EVAL_SUITE: "eval_suite", CONFIG: "config"}
_METRIC_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_/@+:-]{0,127}")
ANY_TASK = "*"  # in a threshold mapping: every task not named
Threshold = float | Mapping[str, float] | None
_RESULTS_RE = re.compile(r"results_([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}(\.[0-9]{1,6})?)\.json")
_LM_EVAL_INFO = ("higher_is_better", "n-shot")  # per task: {metric: bool}, the number of few-shot examples
HF_SUMMARY_KEY = "train_runtime"  # the row Trainer.train() logs last: totals for the run, not a step's values


class WrittenFile(NamedTuple):
    path: Path
    changed: bool  # False: the file already held exactly these bytes


def bundle_from_values(
    folder: Path | str,
    *,
    final: Mapping[str, Any],
    history: Iterable[Mapping[str, Any]] | None = None,
    config: Any = None,
    seed: int | None = None,
    eval_tasks: Iterable[Mapping[str, Any]] | None = None,
    suite: str | None = None,
    force: bool = False,
) -> tuple[WrittenFile, ...]:
    """Write metrics.json, and config.yaml (a mapping or dataclass), seed.txt and eval_suite.json when given,
    into folder. eval_tasks: [{name, score, passed}], or {name, score, threshold}: passed is score >= threshold.
    Every file is checked before any is written; other content in a file is replaced only with force=True."""
    docs: dict[str, Any] = {METRICS: {"final": final, **({"history": list(history)} if history is not None else {})}}
    if config is not None:
        docs[CONFIG] = config
    if seed is not None:
        docs[SEED] = seed
    if eval_tasks is not None:
        docs[EVAL_SUITE] = eval_suite_doc(eval_tasks, suite or "eval")
    elif suite is not None:
        raise UserError("suite= names the eval suite: give eval_tasks= too")
    return write_bundle_files(folder, docs, force=force)


def write_bundle_files(folder: Path | str, docs: Mapping[str, Any], force: bool = False) -> tuple[WrittenFile, ...]:
    """Write {file name: data} into folder (created if missing), each file checked first; nothing is
    written if any is refused. Files already holding the same bytes are left alone."""
    folder = Path(folder)
    encoded = {name: encode(name, doc) for name, doc in docs.items()}
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is a file, not a folder: write the bundle into a folder")
    changed = {name: _must_write(folder / name, data, force) for name, data in encoded.items()}
    for name, data in encoded.items():
        if changed[name]:
            try:
                atomic_write(folder / name, data)
            except OSError as e:
                raise UserError(f"cannot write {folder / name}: {e.strerror or e}") from None
    return tuple(WrittenFile(folder / name, changed[name]) for name in encoded)


def _must_write(path: Path, data: bytes, force: bool) -> bool:
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise UserError(f"{path} is not a plain file: move it away, then try again")
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        return True
    if not force:
        raise UserError(f"{path} already exists with other content: pass --force (force=True) to replace it")
    return True


def encode(name: str, doc: Any) -> bytes:
    """The bytes of a bundle file, checked as registration reads them: parsed back, schema-validated."""
    if name == SEED:
        if type(seed := plain_data(doc, SEED)) is not int:
            raise UserError(f"the seed must be an integer, not {type(doc).__name__} {shown(repr(doc))}")
        parse_seed(data := f"{seed}\n".encode())
        return data
    if name not in _SCHEMAS:
        raise UserError(f"gerhard writes {', '.join([METRICS, EVAL_SUITE, CONFIG, SEED])}, not {shown(name)}")
    plain = plain_data(doc, name)
    if name == CONFIG:
        data = dump_yaml(plain).encode()
    else:
        data = (json.dumps(plain, indent=1, ensure_ascii=False) + "\n").encode()
    parsed = parse_artifact(name, data)
    schemas.validate(parsed, _SCHEMAS[name], name)
    if name == METRICS:
        check_metric_names(parsed)
    return data


def plain_data(value: Any, label: str, path: str = "$", depth: int = 0) -> Any:
    """Plain data (dict, list, str, number, bool, None) of what a notebook holds: dataclasses, enums,
    paths, numpy/torch values (.tolist()), objects with to_dict() (HF TrainingArguments' hides tokens)."""
    if depth > MAX_DATA_DEPTH:
        raise UserError(f"{label}: {path} nests deeper than {MAX_DATA_DEPTH} levels: flatten it")
    if isinstance(value, enum.Enum):
        return plain_data(value.value, label, path, depth + 1)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return int(value) if isinstance(value, int) else float(value)  # numpy's float64 is a float
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {_key(k, label, path): plain_data(v, label, f"{path}.{k}", depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v, label, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    for method in ("to_dict", "tolist"):
        if callable(getattr(value, method, None)):
            return plain_data(getattr(value, method)(), label, path, depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return plain_data(fields, label, path, depth + 1)
    kind = type(value).__name__
    raise UserError(f"{label}: {path} is a {kind}, which a bundle file cannot hold: make it a number, text or list")


def _key(key: Any, label: str, path: str) -> str:
    if not isinstance(key, str):
        raise UserError(f"{label}: {path} has the key {key!r}, a {type(key).__name__}: bundle files need text keys")
    return key


def check_metric_names(metrics: Mapping[str, Any]) -> None:
    """Refuse a metric name no gate could read, or that breaks reports (one line, naming it and where)."""
    for name in metrics["final"]:
        check_metric_name(name, "final")
    seen = set(metrics["final"]) | {"step"}
    for row in metrics.get("history") or []:
        for name in (n for n in row if n not in seen):
            check_metric_name(name, f"the history row of step {row['step']}")
            seen.add(name)


def check_metric_name(name: str, where: str) -> None:
    if _METRIC_NAME_RE.fullmatch(name):
        return
    problem = (
        "has a '.', which gate paths (final.val_loss) split on, so no gate could read it"
        if "." in name and _METRIC_NAME_RE.fullmatch(name.replace(".", "_"))
        else "is not 1-128 letters, digits, '_', '-', '/', '@', '+' or ':' (not starting with '-/@+:')"
    )
    raise UserError(f"{METRICS}: the metric name {shown(name)} in {where} {problem}: rename it")


def eval_suite_doc(tasks: Iterable[Mapping[str, Any]], suite: str, **extra: Any) -> dict[str, Any]:
    """eval_suite.json's data: a task without `passed` passes when score >= its threshold; pass_rate computed."""
    out: list[dict[str, Any]] = []
    for i, task in enumerate(tasks):
        if not isinstance(task, Mapping):
            raise UserError(f"{EVAL_SUITE}: task {i} is a {type(task).__name__}, not a mapping of name, score, passed")
        t = dict(task)
        name = shown(str(t.get("name")))
        if any(o.get("name") == t.get("name") for o in out):
            raise UserError(f"{EVAL_SUITE}: the task {name} is listed twice: list each task once")
        if "passed" not in t:
            if not _is_number(t.get("threshold")):
                raise UserError(f"{EVAL_SUITE}: the task {name} has neither passed nor a threshold: give one")
            t["passed"] = passes(t.get("score"), t["threshold"])
        out.append(t)
    passed = sum(1 for t in out if t.get("passed") is True)
    return {"suite": suite, "tasks": out, "pass_rate": passed / len(out) if out else None, **extra}


def passes(score: Any, threshold: float, higher_is_better: bool = True) -> bool:
    """A missing or non-finite score never passes."""
    return is_finite_number(score) and bool(score >= threshold if higher_is_better else score <= threshold)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def metrics_from_hf_trainer_state(data: Any, *, source: str = "trainer_state.json") -> dict[str, Any]:
    """metrics.json's data from a HF Trainer trainer_state.json (parsed). History: one row per step,
    log rows of the same step merged (a later value wins), epoch kept; final: the last value of every
    metric, with the run's summary row (train_runtime, train_loss, ...) and best_metric."""
    log = data.get("log_history") if isinstance(data, dict) else None
    if not isinstance(log, list) or not all(isinstance(row, dict) for row in log):
        raise UserError(f"{source} is not a HF Trainer trainer_state.json: it has no log_history list of rows")
    rows = [
        _step_row({k: v for k, v in row.items() if _is_number(v)}, f"{source}: log_history[{i}]")
        for i, row in enumerate(log)
    ]
    final = last_values(rows)
    if _is_number(data.get("best_metric")):
        final["best_metric"] = data["best_metric"]
    history = merge_by_step(row for row in rows if HF_SUMMARY_KEY not in row)
    return _metrics(final, history, source)


def metrics_from_lightning_csv(text: str, *, source: str = "metrics.csv") -> dict[str, Any]:
    """metrics.json's data from a Lightning CSVLogger metrics.csv: its sparse rows (train, validation and
    learning-rate rows at the same step) merged by step, empty cells dropped, numbers parsed."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))  # a BOM: the file was saved by Excel
    try:
        header = next(reader, [])
        if "step" not in header or len(set(header)) != len(header):
            found = ", ".join(shown(h) for h in header[:8]) or "nothing"
            raise UserError(f"{source} is not a Lightning CSVLogger metrics.csv: no 'step' column (found {found})")
        rows = [_csv_row(header, cells, f"{source} line {reader.line_num}") for cells in reader if cells]
    except csv.Error as e:
        raise UserError(f"{source} is not readable CSV (line {reader.line_num}: {e})") from None
    history = merge_by_step(rows)
    return _metrics(last_values(history), history, source)


def _csv_row(header: list[str], cells: list[str], where: str) -> dict[str, Any]:
    if len(cells) != len(header):
        raise UserError(f"{where} has {len(cells)} cells for {len(header)} columns: is the file cut short?")
    cells_of = zip(header, cells, strict=True)
    return _step_row(
        {name: _csv_number(cell, f"{where}, column {shown(name)}") for name, cell in cells_of if cell}, where
    )


def _csv_number(cell: str, where: str) -> int | float:
    text = cell.strip()
    if re.fullmatch(r"[-+]?[0-9]{1,300}", text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        raise UserError(f"{where}: {shown(cell)} is not a number") from None


def _step_row(row: dict[str, Any], where: str) -> dict[str, Any]:
    step = row.get("step")
    if type(step) is not int or step < 0:
        raise UserError(f"{where} has no step (a whole number >= 0): every logged row needs one")
    return row


def merge_by_step(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per step, in step order; rows of the same step merged, a later value winning."""
    merged: dict[int, dict[str, Any]] = {}
    for row in rows:
        merged.setdefault(row["step"], {"step": row["step"]}).update(row)
    return [merged[step] for step in sorted(merged)]


def last_values(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The last value of every metric (not step), in the order the metrics first appear."""
    final: dict[str, Any] = {}
    for row in rows:
        final.update((k, v) for k, v in row.items() if k != "step")
    return final


def _metrics(final: dict[str, Any], history: list[dict[str, Any]], source: str) -> dict[str, Any]:
    if not final:
        raise UserError(f"{source} holds no logged values: was the run logged before it ended?")
    return {"final": final, **({"history": history} if history else {})}


def eval_suite_from_lm_eval(
    data: Any,
    *,
    threshold: Threshold = None,
    metric: str | None = None,
    suite: str | None = None,
    source: str = "lm-eval results",
) -> dict[str, Any]:
    """eval_suite.json's data from lm-evaluation-harness 0.4 results (parsed results_<timestamp>.json).

    Each task is scored by `metric` ("acc", "exact_match,strict-match"; a name without a filter takes its
    ",none" value, else its first), by default acc_norm,none, then acc,none, then its first metric.
    threshold: one number for every task, or {task: number} (the key "*": every task not named); it is
    required, lm-eval has no pass mark. Groups (e.g. mmlu over its subjects) are listed under "groups"
    with their score, not judged, so pass_rate counts each task once."""
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict) or not results or not all(isinstance(v, dict) for v in results.values()):
        raise UserError(f"{source} is not lm-evaluation-harness results: it has no 'results' mapping of tasks")
    groups = _lm_eval_groups(data)
    names = [name for name in results if name not in groups]
    thresholds = _thresholds(threshold, names, source)
    tasks = [_lm_eval_task(data, name, metric, thresholds[name], source) for name in names]
    extra: dict[str, Any] = {k: data[k] for k in ("model_name", "lm_eval_version") if isinstance(data.get(k), str)}
    scored = [(name, _metric_key(results[name], metric)) for name in results if name in groups]
    listed = [{"name": name, "score": results[name][key], "metric": key} for name, key in scored if key]
    return eval_suite_doc(tasks, suite or "lm-eval", **extra, **({"groups": listed} if listed else {}))


def _lm_eval_groups(data: dict[str, Any]) -> set[str]:
    subtasks = data.get("group_subtasks")
    groups = set(data.get("groups") or {}) if isinstance(data.get("groups"), dict) else set()
    return groups | ({g for g, s in subtasks.items() if s} if isinstance(subtasks, dict) else set())


def _thresholds(threshold: Threshold, names: list[str], source: str) -> dict[str, Any]:
    tasks = ", ".join(names) or "none"
    if threshold is None:
        raise UserError(
            f"{source}: lm-eval results carry no pass mark: give --threshold X (every task) or TASK=X (tasks: {tasks})"
        )
    if not isinstance(threshold, Mapping):
        threshold = {ANY_TASK: threshold}
    unknown = sorted(set(threshold) - set(names) - {ANY_TASK})
    if unknown:
        raise UserError(f"a threshold for {', '.join(unknown)}, which {source} has no task of (tasks: {tasks})")
    missing = [n for n in names if n not in threshold and ANY_TASK not in threshold]
    if missing:
        raise UserError(f"no threshold for {', '.join(missing)}: give TASK=X for each, or one number for every task")
    for name, value in threshold.items():
        if not is_finite_number(value):
            which = "every task" if name == ANY_TASK else name
            raise UserError(f"the threshold {shown(repr(value))} for {which} is not a finite number")
    return {n: threshold.get(n, threshold.get(ANY_TASK)) for n in names}


def _metric_key(entry: Mapping[str, Any], metric: str | None) -> str | None:
    keys = [k for k, v in entry.items() if "," in k and "_stderr," not in k and _is_number(v)]
    if metric is None:
        return next((k for k in ("acc_norm,none", "acc,none") if k in keys), keys[0] if keys else None)
    if "," in metric:
        return metric if metric in keys else None
    named = [k for k in keys if k.split(",", 1)[0] == metric]
    return f"{metric},none" if f"{metric},none" in named else next(iter(named), None)


def _lm_eval_task(data: dict[str, Any], name: str, metric: str | None, threshold: float, source: str) -> dict[str, Any]:
    entry = data["results"][name]
    better, n_shot = (data[k].get(name) if isinstance(data.get(k), dict) else None for k in _LM_EVAL_INFO)
    key = _metric_key(entry, metric)
    if key is None:
        have = ", ".join(k for k in entry if "," in k and "_stderr," not in k) or "none"
        what = f"no metric {shown(metric)}" if metric else "no numeric metric"
        raise UserError(f"{source}: the task {shown(name)} has {what} (it has: {have}): choose one with --metric")
    base, filt = key.split(",", 1)
    higher = not (isinstance(better, dict) and better.get(base) is False)
    task = {"name": name, "score": entry[key], "threshold": threshold, "passed": passes(entry[key], threshold, higher)}
    task["metric"] = key
    if not higher:
        task["better"] = "lower"
    if _is_number(entry.get(f"{base}_stderr,{filt}")):
        task["stderr"] = entry[f"{base}_stderr,{filt}"]
    if type(n_shot) is int:
        task["n_shot"] = n_shot
    return task


def find_lm_eval_results(path: Path | str) -> Path:
    """The file itself, or the newest results_<timestamp>.json under a folder, by the timestamp in its name
    (a copy or a sync changes mtimes). Results of several models (folders) are refused."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise UserError(f"{path} does not exist: check the path")
    found = [(p, t) for p in path.rglob("results_*.json") if p.is_file() and (t := _results_time(p.name))]
    if not found:
        raise UserError(
            f"no lm-eval results_<timestamp>.json under {path}: pass lm_eval's --output_path folder or the results file"
        )
    folders = sorted({str(p.parent.relative_to(path)) for p, _ in found})
    if len(folders) > 1:
        raise UserError(f"{path} holds lm-eval results of several models ({', '.join(folders)}): pass one's folder")
    return max(found, key=lambda pt: pt[1])[0]


def _results_time(name: str) -> datetime | None:
    match = _RESULTS_RE.fullmatch(name)
    if not match:
        return None
    try:
        return datetime.strptime(match[1], "%Y-%m-%dT%H-%M-%S" + (".%f" if match[2] else ""))
    except ValueError:  # 2024-13-45...
        return None
