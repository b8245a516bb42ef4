"""Evaluate a phase's gates against a run's artifacts → verdict (pure: data in, result out)."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import asdict, dataclass
from typing import Any

GREEN, AMBER, RED = "GREEN", "AMBER", "RED"
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
_MISSING = object()


@dataclass(frozen=True)
class Gate:
    id: str
    artifact: str
    path: str
    severity: str = "blocking"
    description: str = ""
    op: str | None = None
    value: Any = None
    range: tuple[float, float] | None = None
    baseline: str | None = None  # best_green | last_green
    better: str | None = None  # lower | higher
    min_improvement: float | None = None
    min_relative_improvement: float | None = None

    @property
    def is_relative(self) -> bool:
        return self.baseline is not None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Gate:
        rng = d.get("range")
        return cls(
            id=str(d["id"]),
            artifact=str(d["artifact"]),
            path=str(d["path"]),
            severity=str(d.get("severity", "blocking")),
            description=str(d.get("description", "")),
            op=d.get("op"),
            value=d.get("value"),
            range=(float(rng[0]), float(rng[1])) if rng else None,
            baseline=d.get("baseline"),
            better=d.get("better"),
            min_improvement=d.get("min_improvement"),
            min_relative_improvement=d.get("min_relative_improvement"),
        )


@dataclass(frozen=True)
class Baseline:
    run_id: str
    value: float


@dataclass(frozen=True)
class GateResult:
    id: str
    passed: bool
    severity: str
    artifact: str
    path: str
    observed: Any
    threshold: str
    baseline_run: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GateReport:
    results: tuple[GateResult, ...]
    verdict: str

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def total(self) -> int:
        return len(self.results)

    def failed(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]


def not_in_bundle(artifact: str) -> str:
    """A gate's reason when its artifact is missing (one spelling: gerhard check reads it back from records)."""
    return f"{artifact} is not in the bundle"


def not_found(path: str, artifact: str) -> str:
    """A gate's reason when its value is missing from its artifact."""
    return f"{path} not found in {artifact}"


def has_path(data: Any, path: str) -> bool:
    return lookup(data, path) is not _MISSING


def lookup(data: Any, path: str) -> Any:
    """Follow a dotted path (list items by index) into parsed JSON/YAML; _MISSING when absent."""
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and re.fullmatch(r"-?[0-9]+", part) and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def spelled(value: Any) -> str:
    """A value as program.yaml and JSON spell it: booleans `true`/`false`, not Python's True/False."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def threshold_text(gate: Gate, baseline: Baseline | None = None) -> str:
    if gate.range is not None:
        return f"in [{_fmt(gate.range[0])}, {_fmt(gate.range[1])}]"
    if not gate.is_relative:
        return f"{gate.op} {spelled(gate.value)}"
    limit = relative_limit(gate, baseline)
    word = f"{gate.baseline} {baseline.run_id}" if baseline else f"{gate.baseline} (none yet)"
    if limit is None:
        return f"{'<=' if gate.better == 'lower' else '>='} {word}"
    return f"{'<=' if gate.better == 'lower' else '>='} {_fmt(limit)} ({word})"


def relative_limit(gate: Gate, baseline: Baseline | None) -> float | None:
    """The value a run must reach to improve on the baseline by the required margin."""
    if baseline is None:
        return None
    if gate.min_relative_improvement is not None:
        margin = abs(baseline.value) * gate.min_relative_improvement
    else:
        margin = gate.min_improvement or 0.0
    return baseline.value - margin if gate.better == "lower" else baseline.value + margin


def evaluate_gate(gate: Gate, artifacts: dict[str, Any], baseline: Baseline | None = None) -> GateResult:
    def result(passed: bool, observed: Any, reason: str | None = None) -> GateResult:
        return GateResult(
            gate.id,
            passed,
            gate.severity,
            gate.artifact,
            gate.path,
            observed,
            threshold_text(gate, baseline),
            baseline.run_id if baseline else None,
            reason,
        )

    if gate.artifact not in artifacts:
        return result(False, None, not_in_bundle(gate.artifact))
    observed = lookup(artifacts[gate.artifact], gate.path)
    if observed is _MISSING:
        return result(False, None, not_found(gate.path, gate.artifact))
    if gate.op in ("==", "!=") and not _is_number(gate.value):
        # String/bool equality. A value of another type (or null) is not "different": it fails.
        want, word = (bool, "a bool") if isinstance(gate.value, bool) else (str, "a string")
        if not isinstance(observed, want):
            return result(False, observed, f"{gate.path} is {_type_name(observed)}, not {word}")
        return result(_OPS[gate.op](observed, gate.value), observed)
    if not _is_number(observed):
        return result(False, observed, f"{gate.path} is {_type_name(observed)}, not a number")
    if not math.isfinite(observed):
        return result(False, observed, f"{gate.path} is {observed}, not a finite number")
    if gate.range is not None:
        return result(gate.range[0] <= observed <= gate.range[1], observed)
    if not gate.is_relative:
        if not _is_number(gate.value):
            return result(False, observed, f"gate compares a number with {gate.value!r}")
        return result(_OPS[str(gate.op)](observed, gate.value), observed)
    limit = relative_limit(gate, baseline)
    if limit is None:
        return result(True, observed, "no GREEN baseline run of this phase yet: nothing to compare with")
    ok = observed <= limit if gate.better == "lower" else observed >= limit
    return result(ok, observed)


def verdict_of(results: tuple[GateResult, ...] | list[GateResult]) -> str:
    failed = [r for r in results if not r.passed]
    if any(r.severity == "blocking" for r in failed):
        return RED
    return AMBER if failed else GREEN


def evaluate_gates(
    gates: list[Gate], artifacts: dict[str, Any], baselines: dict[str, Baseline] | None = None
) -> GateReport:
    baselines = baselines or {}
    results = tuple(evaluate_gate(g, artifacts, baselines.get(g.id)) for g in gates)
    return GateReport(results, verdict_of(results))
