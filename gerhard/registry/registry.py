"""An open registry: its root, and inside the registry lock its program and status, each loaded once.

Every change to a registry (a registration, a decision, a rebuild) is the same sequence, held here once:

    with Registry.locked(repo) as registry:      # the lock, then a crashed transaction settled
        registry.program, registry.status        # loaded on first use, once
        ...                                      # compute the files of the change (pure, from these)
        registry.commit(files, message)          # one commit (gerhard.git.transaction)

Reads outside a change use `Registry.at(repo)` (no lock).

`status` is read as the aggregates stand plus what they do not hold yet (`pending`: records and
decisions merged from branches, or made on this one), folded on top (gerhard.core.branchfold); off the
default branch (`on_default_branch` False) a change writes its runs' own files only.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gerhard.core.branchfold import fold_pending
from gerhard.core.derive import status_now
from gerhard.core.program import Program
from gerhard.git import gitrepo
from gerhard.git.branches import on_default_branch
from gerhard.git.journal import settle_locked
from gerhard.git.lock import registry_lock
from gerhard.git.transaction import commit_files
from gerhard.registry import store
from gerhard.registry.pending import Pending, pending_in


class Registry:
    """The registry at `root` (the top of its git work tree)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def at(cls, repo: Path | str) -> Registry:
        return cls(gitrepo.find_root(Path(repo)))

    @classmethod
    @contextmanager
    def locked(cls, repo: Path | str) -> Iterator[Registry]:
        """The registry, locked for one change, with any transaction a crash left behind settled first."""
        registry = cls.at(repo)
        with registry_lock(registry.root):
            settle_locked(registry.root)
            yield registry

    def read_text(self, rel: str) -> str | None:
        return store.read_text(self.root, rel)

    @functools.cached_property
    def program(self) -> Program:
        return store.load_program(self.root)

    @functools.cached_property
    def stored_status(self) -> dict[str, Any] | None:
        """state/program_status.yaml as it is (None before the first run)."""
        return store.load_status(self.root)

    @functools.cached_property
    def pending(self) -> Pending:
        """The records and decisions on disk that the stored aggregates do not hold."""
        return pending_in(self.root, self.stored_status, self.read_text)

    @functools.cached_property
    def status(self) -> dict[str, Any]:
        """The status a change is judged by: the stored one as program.yaml sees it (core.derive.status_now)
        with the pending records and decisions folded on top."""
        now = status_now(self.program, self.stored_status, self.read_text)
        found = self.pending
        if not found.stale:
            return now
        return fold_pending(self.program, now, found.records, found.decisions, found.decided)

    @functools.cached_property
    def on_default_branch(self) -> bool:
        """Where the aggregates are written (gerhard.git.branches); elsewhere only the runs' own files."""
        return on_default_branch(self.root)

    def commit(self, files: Mapping[str, bytes], message: str, verify: bool = True) -> str:
        """One commit of exactly these files on HEAD (see gerhard.git.transaction)."""
        return commit_files(self.root, dict(files), message, verify=verify)
