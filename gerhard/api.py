"""The public Python API (what notebooks call)."""

from __future__ import annotations

from pathlib import Path

from gerhard.registration import RegistrationResult, register


def register_run(
    run_id: str,
    phase: str,
    source_dir: Path | str,
    repo_root: Path | str = ".",
    summary: str = "",
    next_action: str = "",
    force: bool = False,
) -> RegistrationResult:
    """Register the bundle in source_dir as run `run_id` of `phase`: one git commit in repo_root.

    Raises gerhard.UserError (with a message saying what to do) on bad input; the repository is
    then exactly as before. Registering the same bundle again is a no-op.
    """
    return register(
        run_id=run_id,
        phase=phase,
        source_dir=Path(source_dir),
        repo_root=Path(repo_root),
        summary=summary,
        next_action=next_action,
        force=force,
    )
