"""Heavy run files (checkpoints, big binaries) stay out of git.

A bundle file over `heavy.max_bytes` of state/program.yaml, or matching one of its `heavy.patterns`,
is hashed by streaming (never read whole into memory), listed in the MANIFEST with `stored: remote`,
left out of the commit, and git-ignored by a `.gitignore` committed in outputs/<run_id>/. The local
copy stays in outputs/<run_id>/; `gerhard sync` moves it to and from the remote. Files the phase
needs (required, gated or schema-checked) are never heavy: gates and dossiers read only git.

A replay (`gerhard rebase`, `register --push` when the remote moved: gerhard.team.replay) registers a
run again from its archived bundle on another commit, without its heavy files: `git archive` has none,
and the run is replayed as its MANIFEST lists them (load_bundle's absent_remote), so nothing is copied.
Their git-ignored local copies would keep outputs/<run_id>/ in the way: they are checked against the
MANIFEST first (`check_heavy_here`), wait in the rewrite's journal folder (.git/gerhard-rebase/heavy/)
while the branch moves, and go home afterwards, also when the rewrite is undone (gerhard.git.rewrite);
one whose place is taken by then is kept in .git/gerhard-rebase-left/ and named by `gerhard doctor`.
`put_heavy_back` is for the older layout (heavy files beside the archived bundle, in
.git/gerhard-replay/): `gerhard doctor` puts back what an older gerhard's interrupted replay left
there. `set_heavy_aside` wrote that layout; nothing calls it now.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from gerhard import layout
from gerhard.core.program import Phase, Program
from gerhard.errors import UserError
from gerhard.files import TMP_SUFFIX
from gerhard.registry import store
from gerhard.registry.bundle import MANIFEST_NAME, Bundle, sha256_file
from gerhard.registry.root import archive_registry

HeavyRule = Callable[[str, int], bool]  # bundle path, size -> stays out of git
GITIGNORE_HEAD = "# gerhard: these run files are stored remote, not in git (gerhard sync pull fetches them)\n"
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


def registry_rule(registry: Path, phase: str) -> HeavyRule:
    """The heavy rule of a registry's state/program.yaml for one of its phases."""
    program = store.load_program(registry)
    return heavy_rule(program, program.phase(phase))


def gitignore_bytes(remote_paths: Iterable[str]) -> bytes:
    """Anchored lines: bundle names are plain ([0-9A-Za-z_.+-]), so none needs escaping."""
    return (GITIGNORE_HEAD + "".join(f"/{p}\n" for p in sorted(remote_paths))).encode()


def place_local_copies(source: Path, archive: Path, files: dict[str, tuple[int, str]]) -> None:
    """Copy the heavy files of a bundle registered from elsewhere into outputs/<run_id>/: through a
    temporary name, verified against the size and sha256 the MANIFEST lists. One not at the source
    (a replay without them, load_bundle's absent_remote) is left for 'gerhard sync pull'."""
    if source.resolve() == archive.resolve():
        return
    for rel, (size, sha) in sorted(files.items()):
        if not (source / rel).exists():
            continue
        if not copy_verified(source / rel, archive / rel, size, sha):
            raise UserError(
                f"{source / rel} changed while it was registered: the run is registered with the bytes first "
                f"hashed; copy that file into {archive / rel} by hand"
            )


def copy_verified(source: Path, final: Path, size: int, sha: str) -> bool:
    """Copy source to final through a temporary name, streaming and hashing; False (nothing left
    behind) when the bytes are not `size` bytes with sha256 `sha`. The source's times are kept."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(final.name + TMP_SUFFIX)
    h = hashlib.sha256()
    with open(source, "rb") as src, open(tmp, "wb") as dst:
        for chunk in iter(lambda s=src: s.read(CHUNK), b""):  # type: ignore[misc]
            h.update(chunk)
            dst.write(chunk)
    if tmp.stat().st_size != size or h.hexdigest() != sha:
        tmp.unlink()
        return False
    os.replace(tmp, final)
    st = source.stat()
    os.utime(final, ns=(st.st_atime_ns, st.st_mtime_ns))
    return True


def heavy_entries(bundle: Path) -> list[dict]:
    """The MANIFEST entries of an archived bundle's heavy files (`stored: remote`, not in git)."""
    doc = json.loads((bundle / MANIFEST_NAME).read_bytes())
    return [f for f in doc["files"] if f.get("stored") == "remote"]


def check_heavy_here(root: Path, run_id: str, bundle: Path, then: str) -> None:
    """The local copies of a run's heavy files that are here are the bytes its MANIFEST lists (`then`:
    what to run after fetching them), before a replay sets them aside beside its archived bundle. One
    not here (never pulled) is replayed as the MANIFEST lists it (load_bundle's absent_remote)."""
    for entry in heavy_entries(bundle):
        rel = f"{layout.run_dir(run_id)}/{entry['path']}"
        local = root / rel
        if not local.exists():
            continue
        if not local.is_file() or local.stat().st_size != entry["size"] or sha256_file(local) != entry["sha256"]:
            raise UserError(
                f"{rel} changed since run {run_id} was registered (its MANIFEST lists {entry['size']} bytes, sha256 "
                f"{entry['sha256'][:12]}…): the replayed run must carry the same bytes; move yours away and "
                f"fetch the registered one with 'gerhard sync pull --run-id {run_id}', {then}"
            )


def set_heavy_aside(root: Path, bundles: Mapping[str, Path]) -> None:
    """Move each run's heavy files into its archived bundle (run id → folder): outputs/<run_id>/ must
    not exist when the run is registered again (and the replay copies them back, verified)."""
    for run_id, bundle in bundles.items():
        home = root / layout.run_dir(run_id)
        for entry in heavy_entries(bundle):
            if not (home / entry["path"]).exists():  # not here: replayed as the MANIFEST lists it
                continue
            (bundle / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(home / entry["path"], bundle / entry["path"])
            folder = (home / entry["path"]).parent
            while folder != home and not any(folder.iterdir()):  # git leaves folders it never tracked
                folder.rmdir()
                folder = folder.parent


def put_heavy_back(root: Path, aside: Path) -> None:
    """Heavy files set aside under aside/<run_id>/bundle/ and not placed again by a replay go back to
    outputs/<run_id>/; then aside is removed. Also run first, for a replay that was killed mid-way."""
    for manifest in sorted(aside.glob(f"*/bundle/{MANIFEST_NAME}")) if aside.is_dir() else []:
        bundle, run_id = manifest.parent, manifest.parent.parent.name
        for entry in heavy_entries(bundle):
            moved, home = bundle / entry["path"], root / layout.run_dir(run_id) / entry["path"]
            if moved.is_file() and not home.exists():
                home.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(moved, home)
    shutil.rmtree(aside, ignore_errors=True)


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


def heavy_names(bundle: Bundle, run_id: str, phase: str | None) -> frozenset[str]:
    """The heavy files of a bundle (gerhard.registry.heavy), which its dossier lists by hash only: those it keeps
    out of git, and for a folder that is outputs/<run_id>/ of a registry, not yet registered (a notebook
    writes its run there and registers it in place), those the registry's program keeps out of git. So
    the dossier built there is the very one registration archives."""
    if phase is None or (bundle.root / MANIFEST_NAME).exists():
        return bundle.remote
    registry = archive_registry(bundle, run_id)
    if registry is None:
        return bundle.remote
    try:
        rule = registry_rule(registry, phase)
    except UserError:  # no such phase, a broken program: the page says so; nothing is registered from it
        return bundle.remote
    return bundle.remote | {f.path for f in bundle.files if rule(f.path, f.size)}
