"""gerhard hook pre-commit: what hooks/pre-commit runs before each `git commit` in a registry."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gerhard import gitrepo, journal

INSIDE_TXN_ENV = "GERHARD_TXN"  # set by gerhard for the hooks it runs inside its own transaction


def hook(repo: Path, name: str) -> int:
    root = gitrepo.find_root(Path(repo))
    if name == "pre-commit":
        return pre_commit(root)
    raise AssertionError(f"unknown hook {name}")


def pre_commit(root: Path) -> int:
    """Refuse a commit while a registration is unfinished: its index is not yet the one committed,
    so this commit could revert the registration."""
    txn = journal.load(gitrepo.info(root))
    if txn is None or os.environ.get(INSIDE_TXN_ENV) == txn.nonce.strip():
        return 0
    subject = txn.data.get("subject", "a registration")
    print(
        f"gerhard: an interrupted transaction ({subject}) is not settled, and this commit could undo it: "
        "run 'gerhard doctor', then commit again",
        file=sys.stderr,
    )
    return 1
