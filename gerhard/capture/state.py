"""A run's state as finish() sees it: a frozen snapshot of the live Run, and what finish() returns.

The live Run (capture.run) changes with every log call; finish (capture.finish) works on a snapshot taken
once, so it reads no private attribute of the Run and cannot change it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core.program import Program
from gerhard.errors import UserError
from gerhard.registry.root import find_registry


@dataclass(frozen=True)
class RunSnapshot:
    """Everything finish() needs of a run, taken when it is called."""

    run_id: str
    name: str
    phase: str
    folder: Path
    registry: Path | None
    program: Program | None
    seed: int
    suite: str
    started_at: str
    history: tuple[dict[str, Any], ...]
    evals: tuple[dict[str, Any], ...]
    names: frozenset[str]
    nonfinite: Mapping[str, int]  # metric -> first step with NaN or inf
    notes: tuple[str, ...]
    start_order: Mapping[str, Any]  # the kernel's execution order when the run started
    elapsed_s: float | None  # None for a resumed run: its first process is gone
    resumed: bool
    force: bool
    register: bool
    dossier: bool
    download: bool
    counters: frozenset[str] = frozenset()  # history columns that are x-axes (epoch): not final metrics
    final: Mapping[str, Any] = field(default_factory=dict)  # run.log_final's values
    seed_source: str = "given"  # "random": start_run had no seed= and drew one
    aliases: Mapping[str, str] = field(default_factory=dict)  # metric_aliases: logged name -> gate name


@dataclass
class FinishResult:
    run_id: str
    folder: Path
    dossier: Path | None
    registered: bool
    verdict: str | None
    register_command: str
    message: str = ""  # why it was not registered, when it was not

    def __str__(self) -> str:
        lines = [f"run {self.run_id}: {self.verdict or 'not evaluated'}", f"  bundle: {self.folder}"]
        if self.dossier:
            lines.append(f"  dossier: {self.dossier}")
        if not self.registered:
            lines.append(f"  not registered{': ' + self.message if self.message else ''}")
            lines.append(f"  register it later with: {self.register_command}")
        return "\n".join(lines)


def default_run_id(name: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}_{name}"


def registry_for_run(repo_root: Path | str | None) -> Path | None:
    """repo_root, else $GERHARD_REPO, else the registry around the working directory (None: there is none)."""
    given = repo_root if repo_root is not None else os.environ.get("GERHARD_REPO") or None
    if given is None:
        return find_registry(Path.cwd())
    root = Path(given).expanduser().resolve()
    if not (root / layout.PROGRAM).is_file():
        raise UserError(f"no {layout.PROGRAM} in {root}: pass repo_root= a gerhard registry (gerhard init makes one)")
    return root
