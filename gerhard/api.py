"""The public Python API (what notebooks call)."""

from __future__ import annotations

from pathlib import Path

from gerhard.errors import UserError
from gerhard.flows.from_dossier import register_dossier
from gerhard.flows.registration import RegistrationResult, register
from gerhard.team.push import register_and_push


def register_run(
    run_id: str | None = None,
    phase: str | None = None,
    source_dir: Path | str | None = None,
    repo_root: Path | str = ".",
    summary: str = "",
    next_action: str = "",
    force: bool = False,
    dossier: Path | str | None = None,
    verify: bool = True,
    push: bool = False,
    allow_duplicate: bool = False,
    allow_missing: bool = False,
) -> RegistrationResult:
    """Register the bundle in source_dir as run `run_id` of `phase`: one git commit in repo_root.

    Or pass dossier= (a run_dossier_<run_id>.html) instead of source_dir: its embedded bundle is
    verified and registered, run_id and phase default to the dossier's, and the dossier is archived.
    Raises gerhard.UserError (with a message saying what to do) on bad input; the repository is
    then exactly as before. Registering the same bundle again is a no-op. verify=False skips the
    repository's pre-commit and commit-msg hooks, like `git commit --no-verify`. push=True pushes
    the commit to the branch's upstream, replaying it on the new head when the remote moved.
    A bundle identical to another run's is refused unless allow_duplicate=True. A bundle missing a gated value
    while it holds a close name (final.val_accuracy for a gate on final.val_acc: a typo) is refused unless
    allow_missing=True, which registers it with that gate failed.
    """
    if push:

        def first() -> RegistrationResult:
            return register_run(
                run_id, phase, source_dir, repo_root, summary, next_action, force, dossier, verify,
                allow_duplicate=allow_duplicate, allow_missing=allow_missing,
            )  # fmt: skip

        return register_and_push(Path(repo_root), first, verify)
    if (source_dir is None) == (dossier is None):
        raise UserError("register_run needs exactly one of source_dir= (a bundle folder) or dossier= (a dossier file)")
    if dossier is not None:
        return register_dossier(
            Path(dossier),
            Path(repo_root),
            phase,
            run_id,
            summary or None,
            next_action or None,
            force=force,
            verify=verify,
            allow_duplicate=allow_duplicate,
            allow_missing=allow_missing,
        )
    if run_id is None or phase is None or source_dir is None:
        raise UserError("register_run with source_dir= needs run_id= and phase=")
    return register(
        run_id=run_id,
        phase=phase,
        source_dir=Path(source_dir),
        repo_root=Path(repo_root),
        summary=summary,
        next_action=next_action,
        force=force,
        verify=verify,
        allow_duplicate=allow_duplicate,
        allow_missing=allow_missing,
    )
