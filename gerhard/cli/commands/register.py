"""gerhard register: one run bundle → one commit."""

from __future__ import annotations

from pathlib import Path

from gerhard.errors import UserError
from gerhard.flows.registration import RegistrationResult
from gerhard.flows.registration import register as register_bundle
from gerhard.output import print_json


def register(
    repo: Path,
    run_id: str | None,
    phase: str | None,
    source_dir: Path | None,
    summary: str,
    next_action: str,
    force: bool = False,
    fail_on_red: bool = False,
    as_json: bool = False,
    dossier: Path | None = None,
    verify: bool = True,
    push: bool = False,
) -> int:
    def first() -> RegistrationResult:
        return _register(repo, run_id, phase, source_dir, summary, next_action, force, dossier, verify)

    if push:
        from gerhard.team.push import register_and_push

        result = register_and_push(repo, first, verify)
    else:
        result = first()
    if as_json:
        print_json(result.as_dict())
    else:
        print(result)
        if push:
            print("  pushed: review the registration commit in a pull request")
        elif not result.already_registered:
            print("next: git push, and review the registration commit in a pull request")
    return 1 if fail_on_red and result.verdict == "RED" else 0


def _register(
    repo: Path,
    run_id: str | None,
    phase: str | None,
    source_dir: Path | None,
    summary: str,
    next_action: str,
    force: bool,
    dossier: Path | None,
    verify: bool = True,
) -> RegistrationResult:
    if dossier is not None:
        from gerhard.flows.from_dossier import register_dossier

        # An empty --summary/--next-action means "not given": the dossier's own text is used.
        return register_dossier(
            dossier, repo, phase, run_id, summary or None, next_action or None, force=force, verify=verify
        )
    if source_dir is None or not run_id or not phase:
        missing = ", ".join(
            f for f, v in (("--run-id", run_id), ("--phase", phase), ("--source-dir", source_dir)) if not v
        )
        raise UserError(f"{missing} required: pass --run-id, --phase and --source-dir, or --dossier FILE")
    return register_bundle(
        run_id=run_id,
        phase=phase,
        source_dir=source_dir,
        repo_root=repo,
        summary=summary,
        next_action=next_action,
        force=force,
        verify=verify,
    )
