"""The program: phases in order, their required artifacts and gates (parsed from state/program.yaml)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gerhard.core.gates import Gate
from gerhard.errors import StateError
from gerhard.formats.schemas import BUILTIN_ARTIFACT_SCHEMAS


@dataclass(frozen=True)
class Phase:
    id: str
    title: str
    required: tuple[str, ...]
    gates: tuple[Gate, ...]
    # The pass mark of each eval task that brings none (run.log_lm_eval): task -> score, "*" for every other task.
    eval_thresholds: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Program:
    name: str
    phases: tuple[Phase, ...]
    artifact_schemas: dict[str, str]
    # Which bundle files stay out of git (gerhard.registry.heavy): bigger than heavy_max_bytes or matching a pattern.
    heavy_max_bytes: int = 10_000_000
    heavy_patterns: tuple[str, ...] = ("*.pt", "*.ckpt", "*.safetensors", "*.bin")
    artifact_remote: str | None = None  # where `gerhard sync` pushes outputs/<run_id>/ (GERHARD_REMOTE, --remote win)
    # A framework's metric name -> the name the gates read (eval_loss: val_loss), applied as a run logs it.
    metric_aliases: Mapping[str, str] = field(default_factory=dict)

    def phase(self, phase_id: str) -> Phase:
        for p in self.phases:
            if p.id == phase_id:
                return p
        known = ", ".join(p.id for p in self.phases)
        raise StateError(f"unknown phase {phase_id!r}: state/program.yaml declares {known}")

    def index(self, phase_id: str) -> int:
        return self.phases.index(self.phase(phase_id))

    @property
    def phase_ids(self) -> list[str]:
        return [p.id for p in self.phases]

    def schema_for(self, name: str) -> str | None:
        return self.artifact_schemas.get(name)


def check_gate(phase_id: str, gate: Gate) -> None:
    """Refuse gates that can never be evaluated as written (the schema cannot express these)."""
    where = f"state/program.yaml: phase {phase_id} gate {gate.id!r}"
    if gate.range is not None and gate.range[0] > gate.range[1]:
        raise StateError(f"{where}: range [{gate.range[0]}, {gate.range[1]}] is empty: write it as [low, high]")
    if gate.min_improvement is not None and gate.min_relative_improvement is not None:
        raise StateError(f"{where}: give min_improvement or min_relative_improvement, not both")
    for name, value in gate_thresholds(gate):
        check_finite(where, name, value)


ORDERING_OPS = frozenset({"<", "<=", ">", ">="})


def gate_thresholds(gate: Gate) -> list[tuple[str, Any]]:
    """The numbers a gate compares with (a value compared by == or != may also be text or a boolean)."""
    found: list[tuple[str, Any]] = [("range", v) for v in gate.range or ()]
    found += [(k, getattr(gate, k)) for k in ("min_improvement", "min_relative_improvement")]
    if gate.op in ORDERING_OPS or isinstance(gate.value, float):
        found.append(("value", gate.value))
    return [(name, value) for name, value in found if value is not None]


def check_finite(where: str, name: str, value: Any) -> None:
    """A threshold is a finite number: YAML's .nan, .inf, yes (a string) or true are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise StateError(f"{where}: {name} is {_yaml_word(value)}, not a finite number: write a number")


def _yaml_word(value: Any) -> str:
    """A value as program.yaml spells it (true, .nan, 'yes'), cut short when long."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-" if value < 0 else "") + ".inf"
    return repr(value)[:40]


def program_from_dict(data: dict[str, Any]) -> Program:
    """Build a Program from schema-valid program.yaml data; refuse duplicate ids."""
    phases = []
    seen: set[str] = set()
    for p in data["phases"]:
        pid = str(p["id"])
        if pid in seen:
            raise StateError(f"state/program.yaml: phase {pid!r} is declared twice: give each phase its own id")
        seen.add(pid)
        gates = tuple(Gate.from_dict(g) for g in p.get("gates") or [])
        for g in gates:
            check_gate(pid, g)
        ids = [g.id for g in gates]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise StateError(f"state/program.yaml: phase {pid} has gate {dup[0]!r} twice: gate ids must be unique")
        thresholds = {str(k): float(v) for k, v in (p.get("eval_thresholds") or {}).items()}
        for task, mark in thresholds.items():
            check_finite(f"state/program.yaml: phase {pid}", f"the eval_thresholds mark of {task!r}", mark)
        phases.append(Phase(pid, str(p.get("title", "")), tuple(str(r) for r in p["required"]), gates, thresholds))
    schemas = dict(BUILTIN_ARTIFACT_SCHEMAS)
    schemas.update({str(k): str(v) for k, v in (data.get("artifacts") or {}).items()})
    heavy = data.get("heavy") or {}
    defaults = Program("", (), {})
    return Program(
        str(data["program"]),
        tuple(phases),
        schemas,
        int(heavy.get("max_bytes", defaults.heavy_max_bytes)),
        tuple(str(p) for p in heavy.get("patterns", defaults.heavy_patterns)),
        str(data["artifact_remote"]) if data.get("artifact_remote") else None,
        {str(k): str(v) for k, v in (data.get("metric_aliases") or {}).items()},
    )
