"""The files of one revision (git's index, or a commit), read in batches: how the pre-commit hook
sees the commit being made (the index) and its parent (HEAD), never the work tree.

Reads go through one `git cat-file --batch` per batch and are cached. A caller that asks for the
files of one folder one at a time (a fold that must read every record once after an edit of
program.yaml) gets the whole folder in one batch after BULK_AFTER single reads there.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from gerhard.errors import StateError
from gerhard.git import gitrepo

INDEX = ""  # the revision name of git's index (`:path`)
BULK_AFTER = 8


class Blobs:
    """rel -> content of that file in `rev` (INDEX or a commit such as "HEAD"); None when absent."""

    def __init__(self, root: Path, rev: str = INDEX) -> None:
        self.root, self.rev = root, rev
        self._cache: dict[str, bytes | None] = {}
        self._misses: Counter[str] = Counter()
        self._listed: set[str] = set()
        self._trees: dict[str, bool] = {}

    def prefetch(self, paths: list[str]) -> None:
        """Read these files (those not read yet) with one git process."""
        prefetch((self, paths))

    def read_yet(self, rel: str) -> bool:
        return rel in self._cache

    def has_tree(self, folder: str) -> bool:
        """Is `folder` ('dir/') a folder in this revision? (Asked for by prefetching the folder itself.)"""
        return self._trees.get(folder.rstrip("/"), False)

    def data(self, rel: str) -> bytes | None:
        if rel not in self._cache:
            folder = rel.rpartition("/")[0] + "/"
            self._misses[folder] += 1
            if self._misses[folder] > BULK_AFTER and folder not in self._listed:
                self._listed.add(folder)
                self.prefetch(self.listing(folder))
            self.prefetch([rel])
        return self._cache[rel]

    def text(self, rel: str) -> str | None:
        data = self.data(rel)
        try:
            return None if data is None else data.decode("utf-8")
        except UnicodeDecodeError:
            raise StateError(f"{rel} is not UTF-8 text: restore it with 'git checkout HEAD -- {rel}'") from None

    __call__ = text  # a gerhard.core.derive.Existing

    def listing(self, folder: str) -> list[str]:
        """The files below `folder` ('dir/') in this revision."""
        return self.listings([folder])[folder]

    def listings(self, folders: list[str]) -> dict[str, list[str]]:
        """The files below each folder ('dir/'), with one git process."""
        out: dict[str, list[str]] = {f: [] for f in folders}
        if not folders:
            return out
        if self.rev == INDEX:
            raw = gitrepo.run_git(self.root, "ls-files", "-z", "--", *folders)
        else:
            raw = gitrepo.run_git(
                self.root, "ls-tree", "-r", "-z", "--name-only", self.rev, "--", *folders, check=False
            )
        for path in filter(None, raw.decode("utf-8", "surrogateescape").split("\0")):
            owner = next((f for f in folders if path.startswith(f)), None)
            if owner is not None:
                out[owner].append(path)
        return out


def prefetch(*wanted: tuple[Blobs, list[str]]) -> None:
    """Files of one or more revisions of one repository (index and HEAD), read with one git process.
    A path that is a folder there is remembered as one (Blobs.has_tree)."""
    todo = [(blobs, p) for blobs, paths in wanted for p in dict.fromkeys(paths) if p not in blobs._cache]
    if not todo:
        return
    found = gitrepo.cat_objects(todo[0][0].root, [f"{blobs.rev}:{p}" for blobs, p in todo])
    for (blobs, path), obj in zip(todo, found, strict=True):
        blobs._cache[path] = obj[1] if obj is not None and obj[0] == b"blob" else None
        blobs._trees[path] = obj is not None and obj[0] == b"tree"


class Overlay:
    """Files written so far (a fold's output) over a revision's: the `existing` of the next fold."""

    def __init__(self, below: Blobs) -> None:
        self.below = below
        self.files: dict[str, str] = {}

    def __call__(self, rel: str) -> str | None:
        return self.files[rel] if rel in self.files else self.below.text(rel)
