"""Shared by the framework integration tests: the process-wide state a real training run changes, put back."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest


def isolated_run_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variables: Iterable[str]) -> Iterator[None]:
    """For an autouse fixture to yield from: the variables unset, tmp_path/work the working directory (outside
    any registry: pytest runs in this project's own), and torch's determinism switch put back afterwards."""
    for name in variables:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "work").mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path / "work")
    torch = sys.modules.get("torch")
    deterministic = torch.are_deterministic_algorithms_enabled() if torch else False
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.use_deterministic_algorithms(deterministic)


@pytest.fixture(autouse=True)
def framework_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """isolated_run_state, the variables start_run and Lightning's seed_everything set restored too."""
    variables = ("GERHARD_REPO", "GERHARD_OUTPUT_ROOT", "CUBLAS_WORKSPACE_CONFIG", "PL_GLOBAL_SEED", "PL_SEED_WORKERS")
    yield from isolated_run_state(tmp_path, monkeypatch, variables)
