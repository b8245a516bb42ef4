"""gerhard register: one run bundle → one commit."""

from __future__ import annotations

from pathlib import Path

from gerhard.output import print_json
from gerhard.registration import register as register_bundle


def register(
    repo: Path,
    run_id: str,
    phase: str,
    source_dir: Path,
    summary: str,
    next_action: str,
    force: bool = False,
    fail_on_red: bool = False,
    as_json: bool = False,
) -> int:
    result = register_bundle(
        run_id=run_id,
        phase=phase,
        source_dir=source_dir,
        repo_root=repo,
        summary=summary,
        next_action=next_action,
        force=force,
    )
    if as_json:
        print_json(result.as_dict())
    else:
        print(result)
        if not result.already_registered:
            print("next: git push, and review the registration commit in a pull request")
    return 1 if fail_on_red and result.verdict == "RED" else 0
