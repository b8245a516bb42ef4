"""Heavy run files (checkpoints, big binaries) stay out of git.

A bundle file over `heavy.max_bytes` of state/program.yaml, or matching one of its `heavy.patterns`,
is hashed by streaming (never read whole into memory), listed in the MANIFEST with `stored: remote`,
left out of the commit, and git-ignored by a `.gitignore` committed in outputs/<run_id>/. The local
copy stays in outputs/<run_id>/; `gerhard sync` moves it to and from the remote. Files the phase
needs (required, gated or schema-checked) are never heavy: gates and dossiers read only git.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from gerhard.errors import UserError
from gerhard.program import Phase, Program

HeavyRule = Callable[[str, int], bool]  # bundle path, size -> stays out of git
GITIGNORE_HEAD = "# gerhard: these run files are stored remote, not in git (gerhard sync pull fetches them)\n"
TMP_SUFFIX = ".gerhard-tmp"
CHUNK = 1 << 20


def heavy_rule(program: Program, phase: Phase) -> HeavyRule:
    needed = set(phase.required) | {g.artifact for g in phase.gates}

    def is_heavy(path: str, size: int) -> bool:
        if path in needed or program.schema_for(path) is not None:
            return False
        name = path.rsplit("/", 1)[-1]
        return size > program.heavy_max_bytes or any(
            fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(path, p) for p in program.heavy_patterns
        )

    return is_heavy


def gitignore_bytes(remote_paths: Iterable[str]) -> bytes:
    """Anchored lines: bundle names are plain ([0-9A-Za-z_.+-]), so none needs escaping."""
    return (GITIGNORE_HEAD + "".join(f"/{p}\n" for p in sorted(remote_paths))).encode()


def place_local_copies(source: Path, archive: Path, files: dict[str, tuple[int, str]]) -> None:
    """Copy the heavy files of a bundle registered from elsewhere into outputs/<run_id>/: through a
    temporary name, verified against the size and sha256 the MANIFEST lists."""
    if source.resolve() == archive.resolve():
        return
    for rel, (size, sha) in sorted(files.items()):
        final = archive / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(final.name + TMP_SUFFIX)
        h = hashlib.sha256()
        with open(source / rel, "rb") as src, open(tmp, "wb") as dst:
            for chunk in iter(lambda s=src: s.read(CHUNK), b""):  # type: ignore[misc]
                h.update(chunk)
                dst.write(chunk)
        if tmp.stat().st_size != size or h.hexdigest() != sha:
            tmp.unlink()
            raise UserError(
                f"{source / rel} changed while it was registered: the run is registered with the bytes first "
                f"hashed; copy that file into {final} by hand"
            )
        os.replace(tmp, final)
        st = (source / rel).stat()
        os.utime(final, ns=(st.st_atime_ns, st.st_mtime_ns))


PROGRAM_REMOTE = "artifact_remote in state/program.yaml"


def remote_source(program: Program | None, given: str | None = None) -> tuple[str, str] | None:
    """(the remote root for sync, where it was set): --remote, else GERHARD_REMOTE, else artifact_remote
    in state/program.yaml (not consulted when program is None); None when none is."""
    for url, where in ((given, "--remote"), (os.environ.get("GERHARD_REMOTE"), "GERHARD_REMOTE")):
        if url:
            return url, where
    return (program.artifact_remote, PROGRAM_REMOTE) if program and program.artifact_remote else None


def remote_root(program: Program, given: str | None = None) -> str | None:
    found = remote_source(program, given)
    return found[0] if found else None


def run_remote(root_url: str, run_id: str) -> str:
    """Where a run's folder lives under a remote root: <root>/<run_id>."""
    return f"{root_url.rstrip('/')}/{run_id}"
