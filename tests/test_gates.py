"""gates.py: every operator, ranges, relative gates, severities and every way a value can be unusable."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gerhard.core.gates import (
    AMBER,
    GREEN,
    RED,
    Baseline,
    Gate,
    GateResult,
    evaluate_gate,
    evaluate_gates,
    lookup,
    relative_limit,
    threshold_text,
    verdict_of,
)


def gate(**kw: Any) -> Gate:
    base = {"id": "g", "artifact": "metrics.json", "path": "final.val_loss"}
    return Gate.from_dict({**base, **kw})


def observe(observed: Any, /, **kw: Any) -> GateResult:
    return evaluate_gate(gate(**kw), {"metrics.json": {"final": {"val_loss": observed}}})


# --- absolute operators ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "observed", "value", "passed"),
    [
        ("<", 1.0, 2.0, True),
        ("<", 2.0, 2.0, False),
        ("<", 3.0, 2.0, False),
        ("<=", 1.0, 2.0, True),
        ("<=", 2.0, 2.0, True),
        ("<=", 2.0000001, 2.0, False),
        (">", 3.0, 2.0, True),
        (">", 2.0, 2.0, False),
        (">", 1.0, 2.0, False),
        (">=", 3.0, 2.0, True),
        (">=", 2.0, 2.0, True),
        (">=", 1.9999999, 2.0, False),
        ("==", 2.0, 2.0, True),
        ("==", 2, 2.0, True),
        ("==", 2.5, 2.0, False),
        ("!=", 2.5, 2.0, True),
        ("!=", 2.0, 2.0, False),
        ("<", -5, 0, True),
        (">=", 0, 0, True),
    ],
)
def test_numeric_operators(op: str, observed: float, value: float, passed: bool) -> None:
    result = observe(observed, op=op, value=value)
    assert result.passed is passed
    assert result.observed == observed
    assert result.reason is None
    assert result.threshold == f"{op} {value}"


@pytest.mark.parametrize(
    ("op", "observed", "value", "passed"),
    [
        ("==", "spiking", "spiking", True),
        ("==", "dense", "spiking", False),
        ("!=", "dense", "spiking", True),
        ("!=", "spiking", "spiking", False),
        ("==", True, True, True),
        ("==", False, True, False),
        ("!=", False, True, True),
        ("!=", True, True, False),
    ],
)
def test_string_and_bool_equality(op: str, observed: Any, value: Any, passed: bool) -> None:
    result = observe(observed, op=op, value=value)
    assert result.passed is passed
    assert result.observed == observed
    assert result.reason is None


@pytest.mark.parametrize(
    ("value", "text"), [(True, "== true"), (False, "== false"), ("dense", "== dense"), (2, "== 2")]
)
def test_a_boolean_threshold_is_spelled_as_yaml_spells_it(value: Any, text: str) -> None:
    assert threshold_text(gate(op="==", value=value)) == text


@pytest.mark.parametrize(
    ("op", "observed", "value", "reason"),
    [
        # A missing (null) value must never pass a gate, not even '!='.
        ("!=", None, 2.0, "final.val_loss is null, not a number"),
        ("==", None, 2.0, "final.val_loss is null, not a number"),
        ("!=", None, "spiking", "final.val_loss is null, not a string"),
        ("==", None, "spiking", "final.val_loss is null, not a string"),
        ("!=", None, True, "final.val_loss is null, not a bool"),
        # A value of another type is not "different": the gate cannot be judged, so it fails.
        ("!=", "2.0", 2.0, "final.val_loss is str, not a number"),
        ("!=", 1, True, "final.val_loss is int, not a bool"),
        ("==", 1, True, "final.val_loss is int, not a bool"),
        ("!=", True, "yes", "final.val_loss is bool, not a string"),
        ("!=", [1], "x", "final.val_loss is list, not a string"),
        ("!=", {"a": 1}, 3, "final.val_loss is dict, not a number"),
    ],
)
def test_equality_with_missing_or_mistyped_value_fails_with_reason(
    op: str, observed: Any, value: Any, reason: str
) -> None:
    result = observe(observed, op=op, value=value)
    assert result.passed is False
    assert result.reason == reason


def test_number_compared_with_a_string_value_fails_with_reason() -> None:
    result = observe(1.0, op="<", value="2")
    assert result.passed is False
    assert result.reason == "gate compares a number with '2'"


# --- range ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "passed"),
    [(0.05, True), (0.25, True), (0.1, True), (0.0499999, False), (0.2500001, False), (-1, False), (5, False)],
)
def test_range_is_inclusive(observed: float, passed: bool) -> None:
    result = observe(observed, range=[0.05, 0.25])
    assert result.passed is passed
    assert result.threshold == "in [0.05, 0.25]"
    assert result.reason is None


def test_range_with_integer_edges() -> None:
    assert observe(3, range=[1, 3]).passed
    assert not observe(4, range=[1, 3]).passed


# --- relative gates -------------------------------------------------------------------------


def rel(observed: float, baseline: Baseline | None, **kw: Any) -> GateResult:
    g = gate(baseline=kw.pop("baseline_kind", "best_green"), **kw)
    return evaluate_gate(g, {"metrics.json": {"final": {"val_loss": observed}}}, baseline)


@pytest.mark.parametrize("kind", ["best_green", "last_green"])
def test_relative_without_baseline_passes_and_says_why(kind: str) -> None:
    result = rel(99.0, None, baseline_kind=kind, better="lower")
    assert result.passed is True
    assert result.baseline_run is None
    assert result.reason == "no GREEN baseline run of this phase yet: nothing to compare with"
    assert result.threshold == f"<= {kind} (none yet)"


def test_relative_without_baseline_still_fails_a_missing_value() -> None:
    g = gate(baseline="best_green", better="lower")
    result = evaluate_gate(g, {"metrics.json": {"final": {}}}, None)
    assert result.passed is False
    assert result.reason == "final.val_loss not found in metrics.json"


@pytest.mark.parametrize(
    ("better", "observed", "passed"),
    [
        ("lower", 2.4, True),
        ("lower", 2.5, True),
        ("lower", 2.6, False),
        ("higher", 2.6, True),
        ("higher", 2.5, True),
        ("higher", 2.4, False),
    ],
)
def test_relative_plain_improvement(better: str, observed: float, passed: bool) -> None:
    base = Baseline("20260101T000000Z_base", 2.5)
    result = rel(observed, base, better=better)
    assert result.passed is passed
    assert result.baseline_run == "20260101T000000Z_base"
    sign = "<=" if better == "lower" else ">="
    assert result.threshold == f"{sign} 2.5 (best_green 20260101T000000Z_base)"


@pytest.mark.parametrize(
    ("better", "observed", "passed"),
    [
        ("lower", 2.39, True),
        ("lower", 2.4, True),
        ("lower", 2.41, False),
        ("higher", 2.61, True),
        ("higher", 2.59, False),
    ],
)
def test_relative_min_improvement(better: str, observed: float, passed: bool) -> None:
    result = rel(observed, Baseline("r0", 2.5), better=better, min_improvement=0.1)
    assert result.passed is passed


@pytest.mark.parametrize(
    ("better", "observed", "passed"),
    [
        ("lower", 2.54, True),
        ("lower", 2.55, True),
        ("lower", 2.56, False),
        ("higher", 2.46, True),
        ("higher", 2.44, False),
    ],
)
def test_relative_negative_min_improvement_is_a_tolerance(better: str, observed: float, passed: bool) -> None:
    result = rel(observed, Baseline("r0", 2.5), better=better, min_improvement=-0.05)
    assert result.passed is passed
    limit = 2.55 if better == "lower" else 2.45
    assert result.threshold.startswith(f"{'<=' if better == 'lower' else '>='} {limit:.6g} (")


@pytest.mark.parametrize(
    ("better", "base", "observed", "passed"),
    [
        ("lower", 2.0, 1.8, True),  # 10% lower
        ("lower", 2.0, 1.81, False),
        ("higher", 0.5, 0.55, True),
        ("higher", 0.5, 0.549, False),
        ("higher", -2.0, -1.8, True),  # |baseline| so the margin points the right way for negatives
        ("higher", -2.0, -1.9, False),
        ("lower", -2.0, -2.2, True),
        ("lower", -2.0, -2.1, False),
    ],
)
def test_relative_min_relative_improvement(better: str, base: float, observed: float, passed: bool) -> None:
    g = gate(baseline="last_green", better=better, min_relative_improvement=0.1)
    result = evaluate_gate(g, {"metrics.json": {"final": {"val_loss": observed}}}, Baseline("r0", base))
    assert result.passed is passed
    assert "(last_green r0)" in result.threshold


def test_relative_limit() -> None:
    g = gate(baseline="best_green", better="lower", min_improvement=0.25)
    assert relative_limit(g, None) is None
    assert relative_limit(g, Baseline("r", 2.0)) == 1.75
    g = gate(baseline="best_green", better="higher", min_relative_improvement=0.5)
    assert relative_limit(g, Baseline("r", 4.0)) == 6.0


def test_relative_gate_fails_non_finite_even_with_baseline() -> None:
    result = rel(math.nan, Baseline("r0", 2.5), better="lower")
    assert result.passed is False
    assert result.reason == "final.val_loss is nan, not a finite number"


# --- unusable values: every one fails with a reason ------------------------------------------


def test_missing_artifact() -> None:
    result = evaluate_gate(gate(op="<", value=1), {"eval_suite.json": {}})
    assert result.passed is False
    assert result.observed is None
    assert result.reason == "metrics.json is not in the bundle"


@pytest.mark.parametrize(
    "data", [{}, {"final": {}}, {"final": {"other": 1}}, {"final": 3}, {"final": [1, 2]}, [], "text"]
)
def test_missing_path(data: Any) -> None:
    result = evaluate_gate(gate(op="<", value=1), {"metrics.json": data})
    assert result.passed is False
    assert result.observed is None
    assert result.reason == "final.val_loss not found in metrics.json"


SPIKES = {"layers": [{"name": "block0", "spike_rate": 0.02}, {"name": "block1", "spike_rate": 0.3}]}


def spike_gate(path: str) -> GateResult:
    g = Gate.from_dict({"id": "s", "artifact": "v15.json", "path": path, "range": [0.01, 0.1]})
    return evaluate_gate(g, {"v15.json": SPIKES})


def test_list_index_paths() -> None:
    assert spike_gate("layers.0.spike_rate").passed
    assert spike_gate("layers.0.spike_rate").observed == 0.02
    assert not spike_gate("layers.1.spike_rate").passed
    assert spike_gate("layers.1.spike_rate").observed == 0.3
    assert spike_gate("layers.-1.spike_rate").observed == 0.3


@pytest.mark.parametrize(
    "path",
    [
        "layers.2.spike_rate",
        "layers.-3.spike_rate",
        "layers.x.spike_rate",
        "layers.--1.spike_rate",
        "layers.1-.spike_rate",
        "layers.².spike_rate",
        "layers. 0.spike_rate",
        "layers..spike_rate",
    ],
)
def test_list_index_out_of_range_or_malformed_is_not_found(path: str) -> None:
    result = spike_gate(path)
    assert result.passed is False
    assert result.reason == f"{path} not found in v15.json"


def test_lookup() -> None:
    data = {"a": {"b": [10, {"c": None}]}, "0": "zero-key"}
    assert lookup(data, "a.b.0") == 10
    assert lookup(data, "a.b.1.c") is None  # present but null: not the same as missing
    assert lookup(data, "0") == "zero-key"
    assert lookup(data, "a.b.1.d") is not None and lookup(data, "a.b.1.d") is lookup(data, "nope")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2.1", "final.val_loss is str, not a number"),
        (None, "final.val_loss is null, not a number"),
        ([2.1], "final.val_loss is list, not a number"),
        ({"v": 2.1}, "final.val_loss is dict, not a number"),
        (True, "final.val_loss is bool, not a number"),
        (False, "final.val_loss is bool, not a number"),
        (math.nan, "final.val_loss is nan, not a finite number"),
        (math.inf, "final.val_loss is inf, not a finite number"),
        (-math.inf, "final.val_loss is -inf, not a finite number"),
    ],
)
@pytest.mark.parametrize(
    "kind",
    [
        {"op": "<=", "value": 2.6},
        {"op": ">", "value": 0},
        {"op": "!=", "value": 2.6},
        {"range": [0, 10]},
        {"baseline": "best_green", "better": "lower"},
    ],
)
def test_unusable_values_fail_with_reason(value: Any, reason: str, kind: dict[str, Any]) -> None:
    baseline = Baseline("r0", 5.0) if "baseline" in kind else None
    g = gate(**kind)
    result = evaluate_gate(g, {"metrics.json": {"final": {"val_loss": value}}}, baseline)
    assert result.passed is False
    assert result.reason == reason


def test_no_baseline_does_not_excuse_nan() -> None:
    result = rel(math.inf, None, better="higher")
    assert result.passed is False
    assert result.reason == "final.val_loss is inf, not a finite number"


# --- severity and verdict -------------------------------------------------------------------

ARTIFACTS = {"metrics.json": {"final": {"val_loss": 2.5, "energy": 0.7}}}
BLOCKING_OK = Gate.from_dict(
    {"id": "loss", "artifact": "metrics.json", "path": "final.val_loss", "op": "<=", "value": 2.6}
)
BLOCKING_BAD = Gate.from_dict(
    {"id": "loss_tight", "artifact": "metrics.json", "path": "final.val_loss", "op": "<=", "value": 2.0}
)
ADVISORY_BAD = Gate.from_dict(
    {
        "id": "energy",
        "artifact": "metrics.json",
        "path": "final.energy",
        "op": "<=",
        "value": 0.5,
        "severity": "advisory",
    }
)
ADVISORY_OK = Gate.from_dict(
    {
        "id": "energy_loose",
        "artifact": "metrics.json",
        "path": "final.energy",
        "op": "<=",
        "value": 1,
        "severity": "advisory",
    }
)


def test_all_pass_is_green() -> None:
    report = evaluate_gates([BLOCKING_OK, ADVISORY_OK], ARTIFACTS)
    assert report.verdict == GREEN
    assert (report.passed, report.total, report.failed()) == (2, 2, [])


def test_advisory_failure_is_amber() -> None:
    report = evaluate_gates([BLOCKING_OK, ADVISORY_BAD], ARTIFACTS)
    assert report.verdict == AMBER
    assert [r.id for r in report.failed()] == ["energy"]
    assert report.failed()[0].severity == "advisory"


def test_blocking_failure_is_red_even_with_advisory_failures() -> None:
    assert evaluate_gates([BLOCKING_BAD, ADVISORY_OK], ARTIFACTS).verdict == RED
    report = evaluate_gates([BLOCKING_BAD, ADVISORY_BAD, BLOCKING_OK], ARTIFACTS)
    assert report.verdict == RED
    assert (report.passed, report.total) == (1, 3)
    assert [r.id for r in report.failed()] == ["loss_tight", "energy"]


def test_no_gates_is_green() -> None:
    assert evaluate_gates([], ARTIFACTS).verdict == GREEN
    assert verdict_of([]) == GREEN


def test_missing_artifact_on_advisory_gate_is_amber_not_red() -> None:
    g = Gate.from_dict(
        {"id": "x", "artifact": "absent.json", "path": "a", "op": "<", "value": 1, "severity": "advisory"}
    )
    assert evaluate_gates([BLOCKING_OK, g], ARTIFACTS).verdict == AMBER


def test_baselines_are_routed_by_gate_id() -> None:
    g1 = Gate.from_dict(
        {"id": "r1", "artifact": "metrics.json", "path": "final.val_loss", "baseline": "best_green", "better": "lower"}
    )
    g2 = Gate.from_dict(
        {"id": "r2", "artifact": "metrics.json", "path": "final.val_loss", "baseline": "last_green", "better": "lower"}
    )
    report = evaluate_gates([g1, g2], ARTIFACTS, {"r1": Baseline("good", 2.0)})
    assert [(r.passed, r.baseline_run) for r in report.results] == [(False, "good"), (True, None)]
    assert report.verdict == RED


def test_result_as_dict_is_plain() -> None:
    d = observe(2.0, op="<=", value=2.6).as_dict()
    assert d == {
        "id": "g",
        "passed": True,
        "severity": "blocking",
        "artifact": "metrics.json",
        "path": "final.val_loss",
        "observed": 2.0,
        "threshold": "<= 2.6",
        "baseline_run": None,
        "reason": None,
    }


# --- threshold text -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "baseline", "text"),
    [
        ({"op": "<=", "value": 2.6}, None, "<= 2.6"),
        ({"op": "==", "value": "spiking"}, None, "== spiking"),
        ({"op": "!=", "value": True}, None, "!= true"),
        ({"range": [0.05, 0.25]}, None, "in [0.05, 0.25]"),
        ({"range": [1, 1e7]}, None, "in [1, 1e+07]"),
        ({"baseline": "best_green", "better": "lower"}, None, "<= best_green (none yet)"),
        ({"baseline": "last_green", "better": "higher"}, None, ">= last_green (none yet)"),
        ({"baseline": "best_green", "better": "lower"}, Baseline("run1", 2.5), "<= 2.5 (best_green run1)"),
        (
            {"baseline": "best_green", "better": "lower", "min_improvement": -0.05},
            Baseline("run1", 2.5),
            "<= 2.55 (best_green run1)",
        ),
        (
            {"baseline": "last_green", "better": "higher", "min_improvement": 0.1},
            Baseline("run2", 0.8),
            ">= 0.9 (last_green run2)",
        ),
        (
            {"baseline": "last_green", "better": "higher", "min_relative_improvement": 0.05},
            Baseline("run3", 1 / 3),
            ">= 0.35 (last_green run3)",
        ),
    ],
)
def test_threshold_text(spec: dict[str, Any], baseline: Baseline | None, text: str) -> None:
    assert threshold_text(gate(**spec), baseline) == text


def test_from_dict_defaults() -> None:
    g = Gate.from_dict({"id": 7, "artifact": "m.json", "path": "a"})
    assert (g.id, g.severity, g.description, g.is_relative, g.range) == ("7", "blocking", "", False, None)
    assert gate(range=[1, 2]).range == (1.0, 2.0)
    assert gate(baseline="best_green", better="lower").is_relative


def test_equality_gates_from_program_yaml_compare_quoted_strings_and_bools() -> None:
    """program.yaml values load as ruamel's str subclasses (quoted) or bool: equality still works."""
    from gerhard.registry.store import program_from_text

    program = program_from_text(
        "program: p\nphases:\n  - id: A\n    required: []\n    gates:\n"
        "      - {id: mode, artifact: a.json, path: mode, op: '==', value: 'spiking'}\n"
        '      - {id: not_dense, artifact: a.json, path: mode, op: "!=", value: "dense"}\n'
        "      - {id: ok, artifact: a.json, path: ok, op: '==', value: true}\n"
    )
    gates = list(program.phase("A").gates)
    assert evaluate_gates(gates, {"a.json": {"mode": "spiking", "ok": True}}).verdict == GREEN
    report = evaluate_gates(gates, {"a.json": {"mode": None, "ok": 1}})
    assert [(r.passed, r.reason) for r in report.results] == [
        (False, "mode is null, not a string"),
        (False, "mode is null, not a string"),
        (False, "ok is int, not a bool"),
    ]
