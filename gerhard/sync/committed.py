"""A registered run's MANIFEST as git holds it at HEAD: what every file a sync moves is verified against.

Neither the work-tree copy nor the remote's is trusted: a hand, or an earlier pull from a remote someone
changed, could have rewritten either, and a check against the changed copy would vouch for changed
files. So the MANIFEST (and the folder's .gitignore) are read from HEAD, for many runs in one `git
cat-file --batch`, and the other copies are compared with them. Which of a run's files git tracks
follows from it too: every file it lists but those `stored: remote` (heavy files, kept out of git).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.errors import UserError
from gerhard.formats import schemas
from gerhard.formats.parsing import parse_json
from gerhard.git import gitrepo
from gerhard.registry.bundle import GITIGNORE_NAME, MANIFEST_NAME, sha256_file

Manifest = dict[str, tuple[int, str]]  # path -> (size, sha256)
GIT_OWN = (MANIFEST_NAME, GITIGNORE_NAME)  # a run folder's files that are git's alone, never a bundle's


@dataclass(frozen=True)
class Committed:
    """One run's MANIFEST at HEAD: its files, which of them are stored remote, the parsed document
    and the folder's committed .gitignore (None when it has none), to compare other copies with."""

    run_id: str
    files: Manifest
    remote: frozenset[str]
    doc: Any
    gitignore: bytes | None

    def tracked(self, rel: str) -> bool:
        """Whether git holds this file of the run folder (so a sync never writes it)."""
        return rel in GIT_OWN or (rel in self.files and rel not in self.remote)

    def same(self, rel: str, data: bytes | None) -> bool:
        """Whether another copy of the MANIFEST or .gitignore is git's (the MANIFEST compared as
        data: a checkout with CRLF line ends is the same MANIFEST)."""
        if rel == GITIGNORE_NAME:
            return data == self.gitignore or (data is not None and data.replace(b"\r\n", b"\n") == self.gitignore)
        try:
            return data is not None and parse_json(data.decode("utf-8"), rel) == self.doc
        except (UserError, UnicodeDecodeError):
            return False


def read_committed(root: Path, run_ids: Iterable[str]) -> dict[str, Committed]:
    """Each run's MANIFEST and .gitignore at HEAD, in one git process; a run without a committed
    MANIFEST is a one-line error."""
    ids = list(run_ids)
    specs = [f"HEAD:{layout.run_dir(r)}/{name}" for r in ids for name in GIT_OWN]
    found = gitrepo.cat_objects(root, specs) if specs else []
    out = {}
    for i, run_id in enumerate(ids):
        manifest, gitignore = found[2 * i], found[2 * i + 1]
        rel = f"{layout.run_dir(run_id)}/{MANIFEST_NAME}"
        if manifest is None or manifest[0] != b"blob":
            raise UserError(
                f"{rel} is not in git (HEAD): sync moves the files of committed registrations only; "
                "check out the branch that registered the run"
            )
        out[run_id] = committed_of(run_id, manifest[1], gitignore[1] if gitignore and gitignore[0] == b"blob" else None)
    return out


def committed_of(run_id: str, data: bytes, gitignore: bytes | None) -> Committed:
    rel = f"{layout.run_dir(run_id)}/{MANIFEST_NAME}"
    try:
        doc = parse_json(data.decode("utf-8"), f"{rel} in git (HEAD)")
        schemas.validate(doc, "manifest", f"{rel} in git (HEAD)")  # its shape in Python; jsonschema when unsure
    except (UserError, UnicodeDecodeError) as e:
        raise UserError(
            f"{e}: the MANIFEST committed at HEAD is damaged: 'gerhard check' lists every problem"
        ) from None
    files = {f["path"]: (int(f["size"]), str(f["sha256"])) for f in doc["files"]}
    remote = frozenset(f["path"] for f in doc["files"] if f.get("stored") == "remote")
    return Committed(run_id, files, remote, doc, gitignore)


class CommittedManifests(dict[str, Committed]):
    """Each run's committed MANIFEST, read when first asked for (a no-op push reads none), or for
    many runs at once (`load`)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def load(self, run_ids: Iterable[str]) -> None:
        self.update(read_committed(self.root, [r for r in run_ids if r not in self]))

    def __missing__(self, run_id: str) -> Committed:
        self.load([run_id])
        return self[run_id]


def checked_out(root: Path, rel: str, sha: str) -> bool:
    """A tracked work-tree file whose bytes differ from its MANIFEST only by git's checkout conversion
    (core.autocrlf, a smudge filter): git would store it as the committed blob, whose bytes match."""
    found = gitrepo.cat_objects(root, [f"HEAD:{rel}"])[0]
    if found is None or hashlib.sha256(found[1]).hexdigest() != sha:
        return False
    blob = gitrepo.blob_sha(found[1], gitrepo.info(root).object_format)
    return gitrepo.hash_paths(root, [rel], write=False) == [blob]


def local_problems(root: Path, c: Committed) -> list[str]:
    """outputs/<run_id>/ against git: its MANIFEST is git's, every tracked file is there with the bytes
    the MANIFEST lists, and a heavy file that is here has them too (one not here is for a pull)."""
    folder = layout.run_dir(c.run_id)
    problems = []
    try:
        here = (root / folder / MANIFEST_NAME).read_bytes()
    except OSError:
        here = None
    if not c.same(MANIFEST_NAME, here):
        problems.append(
            f"{folder}/{MANIFEST_NAME} differs from the MANIFEST in git (HEAD): "
            f"restore it with 'git checkout -- {folder}/{MANIFEST_NAME}'"
        )
    for rel, (size, sha) in sorted(c.files.items()):
        path = root / folder / rel
        if not path.is_file() or path.is_symlink():
            if rel not in c.remote:
                problems.append(f"{folder}/{rel} is missing: restore it with 'git checkout -- {folder}/{rel}'")
            continue
        if path.stat().st_size == size and sha256_file(path) == sha:
            continue
        if rel in c.remote:
            fix = f"move it away and run 'gerhard sync pull --run-id {c.run_id}'"
        elif checked_out(root, f"{folder}/{rel}", sha):
            continue
        else:
            fix = f"restore it with 'git checkout -- {folder}/{rel}'"
        problems.append(f"{folder}/{rel} differs from its MANIFEST in git (size {size}, sha256 {sha[:12]}…): {fix}")
    return problems
