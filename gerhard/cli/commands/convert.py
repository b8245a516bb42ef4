"""gerhard convert {hf,lightning,lm-eval} SOURCE --out FOLDER: a bundle file from another tool's output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gerhard.capture.convert import (
    ANY_TASK,
    EVAL_SUITE,
    METRICS,
    Threshold,
    eval_suite_from_lm_eval,
    find_lm_eval_results,
    metrics_from_hf_trainer_state,
    metrics_from_lightning_csv,
    write_bundle_files,
)
from gerhard.errors import UserError
from gerhard.formats.bounds import shown
from gerhard.formats.parsing import parse_json
from gerhard.output import fmt_value, print_json

KINDS = ("hf", "lightning", "lm-eval")


def convert(
    kind: str,
    source: Path,
    out: Path,
    thresholds: list[str] | None = None,
    metric: str | None = None,
    suite: str | None = None,
    force: bool = False,
    as_json: bool = False,
) -> int:
    lm_eval_only = [
        flag for flag, given in (("--threshold", thresholds), ("--metric", metric), ("--suite", suite)) if given
    ]
    if kind != "lm-eval" and lm_eval_only:
        raise UserError(f"{', '.join(lm_eval_only)}: only for lm-eval results ({kind} writes {METRICS})")
    threshold = parse_thresholds(thresholds) if kind == "lm-eval" else None
    name, doc, used = convert_source(kind, source, threshold=threshold, metric=metric, suite=suite)
    written = write_bundle_files(out, {name: doc}, force=force)[0]
    counts = summary(name, doc)
    if as_json:
        print_json({"kind": kind, "source": str(used), "path": str(written.path), "written": written.changed, **counts})
    else:
        said = ", ".join(f"{fmt_value(v)} {k.replace('_', ' ')}" for k, v in counts.items())
        print(
            f"wrote {written.path} ({said}) from {used}"
            if written.changed
            else f"{written.path} already holds this ({said}) from {used}: nothing written"
        )
    return 0


def parse_thresholds(values: list[str] | None) -> Threshold:
    """--threshold X (every task) and --threshold TASK=X (repeatable) → a number or {task: number, "*": X}."""
    if not values:
        return None
    out: dict[str, float] = {}
    for value in values:
        task, equals, number = value.rpartition("=")
        key = task.strip() or ANY_TASK
        if key in out or (equals and key == ANY_TASK):
            raise UserError(f"--threshold {shown(value)}: give one number for every task and TASK=X once per task")
        try:
            out[key] = float(number)
        except ValueError:
            raise UserError(f"--threshold {shown(value)}: give a number (every task) or TASK=NUMBER") from None
    return out[ANY_TASK] if list(out) == [ANY_TASK] else out


def summary(name: str, doc: dict[str, Any]) -> dict[str, Any]:
    """What was converted, in counts (for the one line printed, and --json)."""
    if name == EVAL_SUITE:
        passed = sum(1 for t in doc["tasks"] if t["passed"])
        return {"tasks": len(doc["tasks"]), "passed": passed, "pass_rate": doc["pass_rate"]}
    return {"final_metrics": len(doc["final"]), "history_steps": len(doc.get("history", []))}


def convert_source(
    kind: str, path: Path, threshold: Threshold = None, metric: str | None = None, suite: str | None = None
) -> tuple[str, dict[str, Any], Path]:
    """(bundle file name, its data, the file read) from a tool's output file or the folder it writes into."""
    file = source_file(kind, path)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{file} is not UTF-8 text: is it the {kind} output?") from None
    except OSError as e:
        raise UserError(f"cannot read {file}: {e.strerror or e}") from None
    if kind == "lightning":
        return METRICS, metrics_from_lightning_csv(text, source=str(file)), file
    data = parse_json(text, str(file))
    if kind == "hf":
        return METRICS, metrics_from_hf_trainer_state(data, source=str(file)), file
    suite_doc = eval_suite_from_lm_eval(data, threshold=threshold, metric=metric, suite=suite, source=str(file))
    return EVAL_SUITE, suite_doc, file


def source_file(kind: str, path: Path) -> Path:
    """The path itself, or where the tool writes its output inside a folder."""
    if kind == "lm-eval":
        return find_lm_eval_results(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise UserError(f"{path} does not exist: check the path")
    if kind == "lightning":
        if (path / "metrics.csv").is_file():
            return path / "metrics.csv"
        raise UserError(
            f"no metrics.csv in {path}: pass CSVLogger's version folder (lightning_logs/version_0) or the file"
        )
    if (path / "trainer_state.json").is_file():
        return path / "trainer_state.json"
    checkpoints = [
        p for p in path.glob("checkpoint-*") if p.name[11:].isdigit() and (p / "trainer_state.json").is_file()
    ]
    if not checkpoints:
        raise UserError(f"no trainer_state.json in {path} or its checkpoint-* folders: call trainer.save_state()")
    return max(checkpoints, key=lambda p: int(p.name[11:])) / "trainer_state.json"
