"""gerhard dossier: write a run's single-file HTML dossier (report + embedded bundle)."""

from __future__ import annotations

from pathlib import Path

from gerhard.dossier.codec import EMBED_LIMIT
from gerhard.dossier.page import build_dossier
from gerhard.registry.root import find_registry


def dossier(
    run_dir: Path,
    phase: str | None = None,
    output: Path | None = None,
    run_id: str | None = None,
    repo: Path | None = None,
    summary: str | None = None,
    next_action: str | None = None,
    embed_limit: int = EMBED_LIMIT,
) -> int:
    # On the command line the registry may also be the one you stand in (a downloaded folder).
    registry = repo if repo is not None else find_registry(run_dir) or find_registry(Path.cwd())
    path = build_dossier(
        run_dir,
        phase=phase,
        output=output,
        run_id=run_id,
        repo_root=registry,
        summary=summary,
        next_action=next_action,
        embed_limit=embed_limit,
    )
    print(path)
    return 0
