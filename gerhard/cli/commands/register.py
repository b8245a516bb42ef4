"""gerhard register: one run bundle → one commit (through gerhard.register_run, as a notebook registers)."""

from __future__ import annotations

from pathlib import Path

from gerhard.api import register_run
from gerhard.errors import UserError
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
    allow_duplicate: bool = False,
    allow_missing: bool = False,
) -> int:
    if dossier is None and (source_dir is None or not run_id or not phase):
        missing = ", ".join(
            f for f, v in (("--run-id", run_id), ("--phase", phase), ("--source-dir", source_dir)) if not v
        )
        raise UserError(f"{missing} required: pass --run-id, --phase and --source-dir, or --dossier FILE")
    # An empty --summary/--next-action with --dossier means "not given": the dossier's own text is used.
    result = register_run(
        run_id or None, phase or None, source_dir, repo, summary, next_action, force, dossier, verify, push,
        allow_duplicate=allow_duplicate, allow_missing=allow_missing,
    )  # fmt: skip
    if as_json:
        print_json(result.as_dict())
    else:
        print(result)
        if push:
            print("  pushed: review the registration commit in a pull request")
        elif not result.already_registered:
            print("next: git push, and review the registration commit in a pull request")
    return 1 if fail_on_red and result.verdict == "RED" else 0
