"""gerhard finish FOLDER: complete a run whose notebook died (or raised) before run.finish()."""

from __future__ import annotations

from pathlib import Path


def finish(
    folder: Path, summary: str, next_action: str, allow_nonfinite: bool, register: bool, allow_missing: bool = False
) -> int:
    from gerhard.capture.run import resume_run

    run = resume_run(folder, register=register, download=False)
    print(f"resuming run {run.run_id}: {len(run.history)} history rows, {len(run.evals)} eval tasks")
    result = run.finish(
        summary=summary, next_action=next_action, allow_nonfinite=allow_nonfinite, allow_missing=allow_missing
    )
    print(result)
    return 0 if result.registered or not register else 1
