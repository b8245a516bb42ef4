"""Two runs side by side (pure): config keys changed, metric deltas, gates and eval tasks that flipped.

Records are run records (state/runs/<id>.yaml); eval suites are the runs' eval_suite.json, or None.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from gerhard.core.records import RunRecord

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass(frozen=True)
class ConfigChange:
    key: str  # a dotted path: optim.lr
    change: str  # added, removed or changed
    old: Any
    new: Any


@dataclass(frozen=True)
class MetricDelta:
    name: str
    a: Any
    b: Any
    delta: float | None  # b - a, when both are finite numbers
    relative: float | None  # (b - a) / |a|, when a is a finite non-zero number
    missing_in: str | None  # "a" or "b" when only one run has the metric


@dataclass(frozen=True)
class Flip:
    """A gate or an eval task that passed in one run and failed in the other."""

    id: str
    passed_a: bool
    passed_b: bool
    value_a: Any  # a gate's observed value, an eval task's score
    value_b: Any
    threshold_a: Any
    threshold_b: Any
    severity: str | None = None  # a gate's in B (blocking or advisory); None for an eval task


@dataclass(frozen=True)
class RunDiff:
    a: dict[str, Any]
    b: dict[str, Any]
    code_changed: bool
    config: list[ConfigChange]
    metrics: list[MetricDelta]
    gates_flipped: list[Flip]
    eval_missing_in: list[str]  # "a", "b": runs without an eval_suite.json
    eval_flipped: list[Flip]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested mappings by dotted path; lists and empty mappings are values."""
    if not isinstance(data, dict) or (not data and prefix):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_changes(a: Any, b: Any) -> list[ConfigChange]:
    flat_a, flat_b = flatten(a or {}), flatten(b or {})
    changes = []
    for key in sorted(flat_a.keys() | flat_b.keys()):
        if key not in flat_b:
            changes.append(ConfigChange(key, REMOVED, flat_a[key], None))
        elif key not in flat_a:
            changes.append(ConfigChange(key, ADDED, None, flat_b[key]))
        elif not same_value(flat_a[key], flat_b[key]):
            changes.append(ConfigChange(key, CHANGED, flat_a[key], flat_b[key]))
    return changes


def same_value(x: Any, y: Any) -> bool:
    """Equal, with NaN equal to NaN and True not equal to 1."""
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    return bool(x == y)


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _tidy(x: float) -> float:
    """2.72 - 3.05 is -0.33000000000000007: twelve significant digits say what changed."""
    return float(f"{x:.12g}")


def metric_delta(name: str, a: dict[str, Any], b: dict[str, Any]) -> MetricDelta:
    va: Any = a.get(name)
    vb: Any = b.get(name)
    missing = "a" if name not in a else "b" if name not in b else None
    if missing or not (finite(va) and finite(vb)):
        return MetricDelta(name, va, vb, None, None, missing)
    delta = _tidy(vb - va)
    return MetricDelta(name, va, vb, delta, _tidy(delta / abs(va)) if va else None, None)


def metric_deltas(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[MetricDelta]:
    """Every final metric of either run, in sorted order."""
    a, b = a or {}, b or {}
    return [metric_delta(name, a, b) for name in sorted(a.keys() | b.keys())]


def gate_flips(gates_a: list[dict[str, Any]], gates_b: list[dict[str, Any]]) -> list[Flip]:
    """Gates both runs have (by id) that passed in one and failed in the other, in B's order."""
    by_id = {g["id"]: g for g in gates_a}
    flips = []
    for gb in gates_b:
        ga = by_id.get(gb["id"])
        if ga is not None and bool(ga["passed"]) != bool(gb["passed"]):
            flips.append(
                Flip(gb["id"], bool(ga["passed"]), bool(gb["passed"]), ga.get("observed"), gb.get("observed"),
                     ga.get("threshold"), gb.get("threshold"), gb.get("severity", "blocking"))
            )  # fmt: skip
    return flips


def eval_flips(suite_a: dict[str, Any], suite_b: dict[str, Any]) -> list[Flip]:
    """Eval tasks both suites have (by name) that passed in one and failed in the other, in B's order."""
    tasks_a = {t.get("name"): t for t in suite_a.get("tasks") or [] if isinstance(t, dict)}
    flips = []
    for tb in (t for t in suite_b.get("tasks") or [] if isinstance(t, dict)):
        ta = tasks_a.get(tb.get("name"))
        if ta is not None and bool(ta.get("passed")) != bool(tb.get("passed")):
            flips.append(
                Flip(str(tb["name"]), bool(ta.get("passed")), bool(tb.get("passed")), ta.get("score"),
                     tb.get("score"), ta.get("threshold"), tb.get("threshold"))
            )  # fmt: skip
    return flips


def mark(passed: bool, severity: str | None) -> str:
    """A gate's mark everywhere (show, diff, pr-summary; report.md, the board, the dossier and the site
    spell the same): FAIL blocks, WARN is advisory; an eval task (no severity) fails."""
    if passed:
        return "pass"
    return {"blocking": "FAIL", "advisory": "WARN"}.get(severity or "", "fail")


def run_summary(record: RunRecord) -> dict[str, Any]:
    """What a diff says of each run."""
    return {
        "run_id": record.run_id,
        "phase": record.phase,
        "verdict": record.verdict,
        "gates_passed": record.passed,
        "gates_total": record.total,
        "registered_at": record.registered_at,
        "code_sha": record.code_sha,
        "code_dirty": record.code_dirty,
        "config_sha256": record.config_sha256,
    }


def diff_runs(a: RunRecord, b: RunRecord, suite_a: dict[str, Any] | None, suite_b: dict[str, Any] | None) -> RunDiff:
    missing = [side for side, suite in (("a", suite_a), ("b", suite_b)) if suite is None]
    return RunDiff(
        run_summary(a),
        run_summary(b),
        (a.code_sha, a.code_dirty) != (b.code_sha, b.code_dirty),
        config_changes(a.config, b.config),
        metric_deltas(dict(a.metrics), dict(b.metrics)),
        gate_flips(list(a.gates), list(b.gates)),
        missing,
        eval_flips(suite_a, suite_b) if suite_a is not None and suite_b is not None else [],
    )
