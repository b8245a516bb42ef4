"""A run's gates evaluated again from its archived files, under the program of the commit that registered it:
the gate results and verdict its record holds must be what gerhard computes (`gerhard check`).

In two steps, so that many runs can be read in parallel: `gate_inputs` reads, from one run's archived
files, the value each gate of its phase looks at (the parsing of the files, which is the cost); then
`evaluate_again` evaluates every gate on those values with the baseline each relative gate names in the
record, whose value is the one that baseline run's own record observed (as the fold keeps baselines,
gerhard.core.phases), and `difference` says how the result differs from the record, if it does: each
gate's pass or fail, severity, what it read (artifact, path, observed value) and its baseline run, and
the verdict; not the words of its threshold and reason, which a later gerhard may put otherwise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from gerhard.core.gates import Baseline, Gate, GateReport, GateResult, evaluate_gate, lookup, verdict_of
from gerhard.core.program import Phase
from gerhard.core.records import RunRecord
from gerhard.errors import UserError
from gerhard.formats.bounds import Unreadable, check_json_depth
from gerhard.formats.parsing import parse_artifact, parse_seed

Input = tuple[Any, ...]  # ("value", v) | ("absent",): no such file | ("unfound",): no such path | ("error", why)
ABSENT, UNFOUND, ERROR = ("absent",), ("unfound",), "error"
_NOT_FOUND = lookup({}, "x")
# What a gate result says, compared with the record; its threshold and reason are words a later gerhard
# may put otherwise (== True, == true), so they are not.
_RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(GateResult) if f.name not in ("threshold", "reason"))


def gate_inputs(phase: Phase, files: Mapping[str, bytes]) -> dict[str, Input]:
    """gate id -> what the gate reads from these archived files (bundle name -> bytes)."""
    parsed: dict[str, Any] = {}
    inputs: dict[str, Input] = {}
    for gate in phase.gates:
        if gate.artifact not in files:
            inputs[gate.id] = ABSENT
            continue
        if gate.artifact not in parsed:
            parsed[gate.artifact] = _parsed(gate.artifact, files[gate.artifact])
        data = parsed[gate.artifact]
        if isinstance(data, UserError):
            inputs[gate.id] = (ERROR, str(data))
            continue
        value = lookup(data, gate.path)
        inputs[gate.id] = UNFOUND if value is _NOT_FOUND else ("value", value)
    return inputs


def _parsed(name: str, data: bytes) -> Any:
    """An archived artifact parsed. Its bytes are the ones its MANIFEST lists and registration parsed
    strictly (gerhard.formats.parsing), so JSON is read here by the C parser alone, twice as fast on a
    long metrics history; what that refuses is parsed strictly, for the one line that says why."""
    if name.endswith(".json"):
        with contextlib.suppress(ValueError, Unreadable, RecursionError):
            check_json_depth(data)
            return json.loads(data)
    try:
        return parse_seed(data) if name == "seed.txt" else parse_artifact(name, data)
    except UserError as e:
        return e


def _artifacts(gate: Gate, found: Input) -> dict[str, Any]:
    """The smallest artifacts in which `gate` reads what `found` says (its value, nothing at its path)."""
    if found == ABSENT:
        return {}
    if found == UNFOUND:
        return {gate.artifact: {}}
    node = found[1]
    for part in reversed(gate.path.split(".")):
        node = {part: node}
    return {gate.artifact: node}


def evaluate_again(
    phase: Phase, record: RunRecord, inputs: Mapping[str, Input], observed: Callable[[str, str], Any]
) -> GateReport | str:
    """The gates of `phase` evaluated on `inputs`, or why they cannot be: a file that does not parse,
    a baseline run with no record. `observed(run_id, gate_id)`: what that run's record observed."""
    recorded = {str(g["id"]): g for g in record.gates}
    results = []
    for gate in phase.gates:
        found = inputs.get(gate.id, ABSENT)
        if found[0] == ERROR:
            return f"{found[1]}"
        baseline = None
        named = (recorded.get(gate.id) or {}).get("baseline_run")
        if gate.is_relative and named:
            value = observed(str(named), gate.id)
            if value is None:
                return f"its baseline run {named} (gate {gate.id}) has no record"
            baseline = Baseline(str(named), float(value))
        results.append(evaluate_gate(gate, _artifacts(gate, found), baseline))
    return GateReport(tuple(results), verdict_of(results))


def difference(record: RunRecord, report: GateReport) -> str | None:
    """How the record's gates and verdict differ from `report`, in a few words (None: they do not)."""
    mine = {r.id: r for r in report.results}
    theirs = {str(g["id"]): g for g in record.gates}
    if list(theirs) != list(mine):
        return f"gates {', '.join(mine) or 'none'}, the record has {', '.join(theirs) or 'none'}"
    for gate_id, result in mine.items():
        computed, stored = {f: getattr(result, f) for f in _RESULT_FIELDS}, theirs[gate_id]
        key = _differing_key(computed, stored)
        if key is not None:
            return f"gate {gate_id}: {key} {_shown(computed.get(key))}, the record has {_shown(stored.get(key))}"
    if record.verdict != report.verdict:
        return f"verdict {report.verdict}, the record has {record.verdict}"
    return None


def _differing_key(computed: Mapping[str, Any], stored: Mapping[str, Any]) -> str | None:
    return next((key for key in computed if not _same(computed[key], stored.get(key))), None)


def _same(a: Any, b: Any) -> bool:
    """Equal values of one type (True is not 1, 1 is not 1.0), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
