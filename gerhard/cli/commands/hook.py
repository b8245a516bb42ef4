"""gerhard hook pre-commit: what hooks/pre-commit runs before each `git commit` in a registry.

It refuses a commit while an interrupted registration is unsettled (that commit could revert it),
and a commit whose content is not whole: see gerhard.team.staged for what is checked, and how it stays
as cheap at 10,000 runs as at 10. Inside gerhard's own transaction (GERHARD_TXN names it) the
content is checked and the journal, which is that transaction's, is not.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gerhard.git import gitrepo, journal, rewrite

INSIDE_TXN_ENV = "GERHARD_TXN"  # set by gerhard for the hooks it runs inside its own transaction


def hook(repo: Path, name: str, only: str | None = None) -> int:
    root = gitrepo.find_root(Path(repo))
    if name == "pre-commit":
        return pre_commit(root, only)
    raise AssertionError(f"unknown hook {name}")


def pre_commit(root: Path, only: str | None = None) -> int:
    """0 when the commit may go ahead; 1 with one line per problem on stderr."""
    from gerhard.team.staged import staged_problems

    problems = unsettled(root) or list(dict.fromkeys(staged_problems(root, only)))
    for line in problems:
        print(f"gerhard: {line}", file=sys.stderr)
    return 1 if problems else 0


def unsettled(root: Path) -> list[str]:
    """An interrupted transaction's index is not the one committed yet, so this commit could undo it; an
    interrupted rebase or register --push (a rewrite) would drop this commit from the branch when undone."""
    info = gitrepo.info(root)
    if rewrite.pending(info) and INSIDE_TXN_ENV not in os.environ:
        return [
            "an interrupted 'gerhard rebase' or 'register --push' is not settled, and undoing it would drop this "
            "commit from the branch: run 'gerhard doctor', then commit again"
        ]
    txn = journal.load(info)
    if txn is None or os.environ.get(INSIDE_TXN_ENV) == txn.nonce.strip():
        return []
    subject = txn.data.get("subject", "a registration")
    return [
        f"an interrupted transaction ({subject}) is not settled, and this commit could undo it: "
        "run 'gerhard doctor', then commit again"
    ]
