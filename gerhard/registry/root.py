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


def registry_root(repo: Path) -> Path:
    """The top of the registry's work tree, after settling a transaction a crash left behind."""
    root = gitrepo.find_root(Path(repo))
    settle_pending(root)
    if not (root / layout.PROGRAM).is_file():
        raise StateError(f"no {layout.PROGRAM} in {root}: run 'gerhard init' there (or pass --repo)")
    return root
