"""Find the registry a command works on: the git work tree holding state/program.yaml.

Every command starts here, so this module imports only what finding it needs (git, the
transaction journal, state's paths): not the fold, the phases or the reports, which
`gerhard sync` and the other commands that do not read the status never use.
"""

from __future__ import annotations

from pathlib import Path

from gerhard import layout
from gerhard.errors import StateError
from gerhard.git import gitrepo
from gerhard.git.journal import settle_pending
from gerhard.registry.bundle import Bundle


def registry_root(repo: Path) -> Path:
    """The top of the registry's work tree, after settling a transaction a crash left behind."""
    root = gitrepo.find_root(Path(repo))
    settle_pending(root)
    if not (root / layout.PROGRAM).is_file():
        raise StateError(f"no {layout.PROGRAM} in {root}: run 'gerhard init' there (or pass --repo)")
    return root


def find_registry(start: Path) -> Path | None:
    """The nearest folder at or above start that holds state/program.yaml."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / layout.PROGRAM).is_file():
            return folder
    return None


def is_archive(registry: Path | None, bundle: Bundle, run_id: str) -> bool:
    return registry is not None and (registry / layout.run_dir(run_id)).resolve() == bundle.root.resolve()


def archive_registry(bundle: Bundle, run_id: str) -> Path | None:
    """The registry whose outputs/<run_id>/ the folder is (a notebook may write its run there and register
    it in place), else None: a folder merely inside some registry is no sign it is registered there."""
    registry = find_registry(bundle.root)
    return registry if is_archive(registry, bundle, run_id) else None
