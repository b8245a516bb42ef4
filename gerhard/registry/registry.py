"""An open registry: its root, and inside the registry lock its program and status, each loaded once.

Every change to a registry (a registration, a decision, a rebuild) is the same sequence, held here once:

    with Registry.locked(repo) as registry:      # the lock, then a crashed transaction settled
        registry.program, registry.status        # loaded on first use, once
        ...                                      # compute the files of the change (pure, from these)
        registry.commit(files, message)          # one commit (gerhard.git.transaction)

Reads outside a change use `Registry.at(repo)` (no lock).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gerhard.core.derive import status_now
from gerhard.core.program import Program
from gerhard.git import gitrepo
from gerhard.git.journal import settle_locked
from gerhard.git.lock import registry_lock
from gerhard.git.transaction import commit_files
from gerhard.registry import store


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
    def status(self) -> dict[str, Any]:
        """The derived status, brought up to date with program.yaml (core.derive.status_now)."""
        return status_now(self.program, store.load_status(self.root), self.read_text)

    def commit(self, files: Mapping[str, bytes], message: str, verify: bool = True) -> str:
        """One commit of exactly these files on HEAD (see gerhard.git.transaction)."""
        return commit_files(self.root, dict(files), message, verify=verify)
