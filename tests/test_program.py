"""program.py: gates that can never be evaluated as written are refused when the program loads."""

from __future__ import annotations

from typing import Any

import pytest

from gerhard.core.program import program_from_dict
from gerhard.errors import StateError


def _program(gate: dict[str, Any]) -> dict[str, Any]:
    base = {"id": "g1", "artifact": "metrics.json", "path": "final.val_loss"}
    return {"program": "p", "phases": [{"id": "A", "required": ["metrics.json"], "gates": [base | gate]}]}


def test_empty_range_is_refused() -> None:
    with pytest.raises(StateError) as e:
        program_from_dict(_program({"range": [0.3, 0.1]}))
    assert str(e.value) == ("state/program.yaml: phase A gate 'g1': range [0.3, 0.1] is empty: write it as [low, high]")


def test_point_range_is_allowed() -> None:
    program = program_from_dict(_program({"range": [0.2, 0.2]}))
    assert program.phase("A").gates[0].range == (0.2, 0.2)


def test_both_improvement_kinds_are_refused() -> None:
    gate = {"baseline": "best_green", "better": "lower", "min_improvement": 0.1, "min_relative_improvement": 0.01}
    with pytest.raises(StateError, match="give min_improvement or min_relative_improvement, not both"):
        program_from_dict(_program(gate))


def test_unknown_phase_lists_the_known_ones() -> None:
    program = program_from_dict(_program({"op": "<", "value": 1}))
    with pytest.raises(StateError, match=r"unknown phase 'Z': state/program.yaml declares A"):
        program.phase("Z")
