"""gerhard diff RUN_A RUN_B: what changed between two runs, for people (or --json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gerhard.core import compare
from gerhard.core.records import RunRecord
from gerhard.errors import StateError
from gerhard.output import fmt_value, json_safe, print_json
from gerhard.registry import queries
from gerhard.registry.root import registry_root

SIDES = {"a": "A", "b": "B"}


def load_eval_suite(root: Path, record: RunRecord) -> dict[str, Any] | None:
    """The run's archived eval_suite.json, or None when the run has none."""
    rel = f"{record.artifact_root}/eval_suite.json"
    try:
        data = json.loads((root / rel).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise StateError(f"{rel} cannot be read ({e}): restore it with 'git checkout -- {rel}'") from None
    return data if isinstance(data, dict) else None


def literal(value: Any) -> str:
    """A config value as written in JSON: strings quoted, so 'null', '' and ' x' read as what they are."""
    return json.dumps(json_safe(value), ensure_ascii=False, sort_keys=True)


def run_lines(d: compare.RunDiff) -> list[str]:
    width = max(len(d.a["run_id"]), len(d.b["run_id"]))
    lines = []
    for side, run in (("A", d.a), ("B", d.b)):
        lines.append(
            f"{side:<10}{run['run_id']:<{width}}  phase {run['phase']}  {run['verdict']:<5}  "
            f"{run['gates_passed']}/{run['gates_total']} gates passed  {run['registered_at']}"
        )
    return lines


def code_text(run: dict[str, Any]) -> str:
    dirty = {True: "dirty", False: "clean", None: "unknown"}[run["code_dirty"]]
    return f"{run['code_sha'] or 'unknown'} ({dirty})"


def config_lines(changes: list[compare.ConfigChange]) -> list[str]:
    if not changes:
        return ["config    same"]
    lines = [f"config    {len(changes)} {'key' if len(changes) == 1 else 'keys'} changed"]
    for c in changes:
        if c.change == compare.CHANGED:
            lines.append(f"  changed  {c.key}: {literal(c.old)} -> {literal(c.new)}")
        else:
            lines.append(f"  {c.change:<7}  {c.key}: {literal(c.new if c.change == compare.ADDED else c.old)}")
    return lines


def delta_text(m: compare.MetricDelta) -> str:
    if m.missing_in:
        return f"  (only in {SIDES['b' if m.missing_in == 'a' else 'a']})"
    if m.delta is None:
        return ""
    relative = "" if m.relative is None else f" ({m.relative:+.1%})"
    return f"  {m.delta:+.6g}{relative}"


def metric_lines(metrics: list[compare.MetricDelta]) -> list[str]:
    if not metrics:
        return ["metrics   none"]
    a = ["missing" if m.missing_in == "a" else fmt_value(m.a) for m in metrics]
    b = ["missing" if m.missing_in == "b" else fmt_value(m.b) for m in metrics]
    wn, wa, wb = (max(map(len, col)) for col in ([m.name for m in metrics], a, b))
    lines = ["metrics"]
    for m, va, vb in zip(metrics, a, b, strict=True):
        lines.append(f"  {m.name:<{wn}}  {va:>{wa}} -> {vb:<{wb}}{delta_text(m)}".rstrip())
    return lines


def flip_lines(flips: list[compare.Flip], gates: bool) -> list[str]:
    width = max((len(f.id) for f in flips), default=0)
    lines = []
    for f in flips:
        marks = f"{compare.mark(f.passed_a, f.severity):<4} -> {compare.mark(f.passed_b, f.severity):<4}"
        line = f"  {marks}  {f.id:<{width}}  {fmt_value(f.value_a)} -> {fmt_value(f.value_b)}"
        if gates:
            same = f.threshold_a == f.threshold_b
            line += f"  ({f.threshold_b})" if same else f"  ({f.threshold_a} -> {f.threshold_b})"
        lines.append(line)
    return lines


def flipped_header(label: str, count: int) -> str:
    return f"{label:<10}{count or 'none'} flipped"


def eval_lines(d: compare.RunDiff) -> list[str]:
    if d.eval_missing_in:
        where = " and ".join(SIDES[side] for side in d.eval_missing_in)
        return [f"eval      no eval_suite.json in {where}"]
    return [flipped_header("eval", len(d.eval_flipped)), *flip_lines(d.eval_flipped, gates=False)]


def format_diff(d: compare.RunDiff) -> str:
    code = f"same: {code_text(d.a)}" if not d.code_changed else f"{code_text(d.a)} -> {code_text(d.b)}"
    lines = [*run_lines(d), f"code      {code}", *config_lines(d.config), *metric_lines(d.metrics)]
    lines += [flipped_header("gates", len(d.gates_flipped)), *flip_lines(d.gates_flipped, gates=True)]
    return "\n".join(lines + eval_lines(d))


def diff(repo: Path, run_a: str, run_b: str, as_json: bool = False) -> int:
    root = registry_root(repo)
    a, b = queries.resolve_run(root, run_a), queries.resolve_run(root, run_b)
    result = compare.diff_runs(a, b, load_eval_suite(root, a), load_eval_suite(root, b))
    if as_json:
        print_json(result.as_dict())
    else:
        print(format_diff(result))
    return 0
