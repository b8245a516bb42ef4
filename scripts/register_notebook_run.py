#!/usr/bin/env python3
"""Register a notebook's output folder (the RunPod handoff, step 3): `gerhard register --source-dir`.

    python3 scripts/register_notebook_run.py --run-id <run_id> --phase B --source-dir <notebook_output_dir>

or in a notebook cell, from the repository root:

    from scripts.register_notebook_run import register_run
    print(register_run(run_id=..., phase="B", source_dir=Path(...), repo_root=Path(...), summary=..., next_action=...))

Registers into this repository unless --repo-root (repo_root=) names another; every option of `gerhard register`
(and of gerhard.register_run) works. Written by `gerhard init --scripts`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import gerhard
from gerhard.cli.handoff import script_main, script_repo


def register_run(
    run_id: str | None = None,
    phase: str | None = None,
    source_dir: Path | str | None = None,
    repo_root: Path | str | None = None,
    summary: str = "",
    next_action: str = "",
    **options: Any,
) -> gerhard.RegistrationResult:
    """gerhard.register_run, into this script's repository unless repo_root= names another."""
    repo = repo_root if repo_root is not None else script_repo(__file__)
    return gerhard.register_run(run_id, phase, source_dir, repo, summary, next_action, **options)


if __name__ == "__main__":
    sys.exit(script_main("register", __file__))
