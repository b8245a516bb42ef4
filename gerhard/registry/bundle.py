"""A run bundle on disk: list its files safely, read each once, hash, build the manifest, load artifacts.

The name rules here are the only ones: a folder (`load_bundle`) and a dossier
(`gerhard.dossier.codec.verify`) are both held to `check_bundle_names`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gerhard.errors import BundleError, UserError
from gerhard.formats import schemas
from gerhard.formats.bounds import shown
from gerhard.formats.parsing import parse_artifact

MAX_RUN_ID_CHARS = 100
RUN_ID_RE = re.compile(rf"^[0-9A-Za-z][0-9A-Za-z_.-]{{0,{MAX_RUN_ID_CHARS - 1}}}$")
_NAME_RE = re.compile(r"^[0-9A-Za-z_][0-9A-Za-z_.+-]{0,254}$")
MAX_FILE_BYTES = 100 * 1024 * 1024  # git hosts refuse larger blobs; checkpoints go through `gerhard sync`
# Windows refuses a path over 260 characters (MAX_PATH). A bundle file is checked out at
# outputs/<run_id>/<path>: 8 + 100 (the longest run id) + 1 + 150 = 259 characters below the clone.
WINDOWS_MAX_PATH = 260
MAX_BUNDLE_PATH_CHARS = WINDOWS_MAX_PATH - len("outputs/") - MAX_RUN_ID_CHARS - len("/") - 1
MAX_PATH_DEPTH = 32  # folders in folders: no run needs more, and walking a deeper tree costs a frame each
# Notebook and OS droppings that are never part of a run: a folder's are skipped (Bundle.skipped
# says which), a dossier that embeds one is refused. .gerhard-run holds a live run's state (gerhard.capture.run).
DROPPINGS = frozenset({".ipynb_checkpoints", "__pycache__", ".DS_Store", ".gerhard-run"})
_DROPPINGS_FOLDED = frozenset(n.casefold() for n in DROPPINGS)
MANIFEST_NAME = "MANIFEST"
GITIGNORE_NAME = ".gitignore"  # in an archived run folder: its heavy files, git-ignored (gerhard.registry.heavy)
# `show latest`, `export all` read these as the newest / every run; reports/YYYY/MM/index.md is a month page.
RESERVED_RUN_IDS = frozenset({"latest", "all", "index"})
# Device names Windows reserves in any folder, with any extension, in any case.
WINDOWS_RESERVED = frozenset({"con", "prn", "aux", "nul"} | {f"{d}{i}" for d in ("com", "lpt") for i in range(10)})
_WINDOWS_RESERVED_TEXT = "CON, PRN, AUX, NUL, COM0-9, LPT0-9"
# A dossier beside the artifacts is transport, not content: it embeds the bundle, so it stays out
# of the bundle's identity (registering by folder or by dossier is then the same run) and is
# archived beside it. Only top-level files count; see gerhard.dossier.archive.check_transport.
_DOSSIER_RE = re.compile(r"^run_dossier_[^/]*\.html$")


@dataclass(frozen=True)
class BundleFile:
    path: str  # relative, '/'-separated
    size: int
    sha256: str


@dataclass(frozen=True)
class Bundle:
    root: Path
    files: tuple[BundleFile, ...]
    sha256: str
    transport: tuple[str, ...] = ()  # run_dossier_*.html found beside the files (not in files/sha256)
    skipped: tuple[str, ...] = ()  # notebook and OS droppings left out (DROPPINGS), for the caller to say so
    # Each file's bytes as read once, the bytes its size and sha256 were computed from: parsing and
    # archiving use these, so a file rewritten during registration cannot disagree with its MANIFEST.
    contents: Mapping[str, bytes] = field(default_factory=dict, repr=False, compare=False)
    # Heavy files (registry.heavy): hashed by streaming, not in contents, not committed (MANIFEST stored: remote).
    remote: frozenset[str] = frozenset()
    # Each file parsed once (parsed()): the gates and the archived dossier's page read the same values.
    parsed_files: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def names(self) -> set[str]:
        return {f.path for f in self.files}

    def parsed(self, name: str) -> Any:
        """The file's content parsed (formats.parsing.parse_artifact), once per bundle: a 10,000-step
        metrics.json takes tens of milliseconds to read and bound. Shared: callers read, never change it."""
        if name not in self.parsed_files:
            self.parsed_files[name] = parse_artifact(name, self.read_bytes(name))
        return self.parsed_files[name]

    def read_bytes(self, name: str) -> bytes:
        if name in self.remote and name not in self.contents:  # a heavy file, read only if someone insists
            if not (self.root / name).is_file():  # stored remote, not fetched (load_bundle's absent_remote)
                raise BundleError(
                    f"{name} is stored remote and not in {self.root}: fetch it with 'gerhard sync pull', then try again"
                )
            return (self.root / name).read_bytes()
        return self.contents[name]  # a name not in the bundle is a bug in the caller (KeyError)


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id) or ".." in run_id:
        raise BundleError(
            f"run id {run_id!r} is not safe: use 1-100 letters, digits, '_', '.', '-', "
            "starting with a letter or digit and without '..' (e.g. 20260223T190000Z_v15)"
        )
    if run_id.casefold() in RESERVED_RUN_IDS:  # casefolded: on macOS and Windows Index.md is index.md
        raise BundleError(
            f"run id {run_id!r} is reserved (gerhard show latest, gerhard export all, reports/YYYY/MM/index.md): "
            "pick another id"
        )
    if is_windows_reserved(run_id):
        raise BundleError(
            f"run id {run_id!r} is a device name Windows reserves ({_WINDOWS_RESERVED_TEXT}): pick another id"
        )
    if run_id.endswith("."):
        raise BundleError(f"run id {run_id!r} ends in '.', which Windows drops from file names: pick another id")
    return run_id


def is_windows_reserved(name: str) -> bool:
    return name.split(".", 1)[0].casefold() in WINDOWS_RESERVED


def check_relative_name(name: str) -> str:
    """Refuse a bundle member name that could escape the bundle or is not a plain relative path."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or any(not _NAME_RE.fullmatch(p) or p in {".", ".."} for p in parts)
    ):
        raise BundleError(
            f"unsafe file name {shown(name)} in bundle: use plain relative names without '..' or '/' at the start"
        )
    return name


def is_dossier_name(name: str) -> bool:
    return _DOSSIER_RE.match(name) is not None


def check_member_name(path: str, holder: str) -> str:
    """One file or folder path of a bundle, safe to check out on Linux, macOS and Windows.

    `holder` begins the message: "<folder> holds" or "<dossier> embeds"."""
    parts = check_folder_name(path, holder).split("/")
    if len(path) > MAX_BUNDLE_PATH_CHARS:
        raise BundleError(
            f"{holder} {shown(path)}, a path of {len(path)} characters, over the {MAX_BUNDLE_PATH_CHARS} that keep "
            f"outputs/<run_id>/<path> under Windows' {WINDOWS_MAX_PATH}: shorten it"
        )
    for i, part in enumerate(parts):
        problem = _part_problem(part, top=i == 0)
        if problem:
            raise BundleError(f"{holder} {shown(path)}, {problem}")
    return path


def check_folder_name(path: str, holder: str) -> str:
    """A folder on the way to bundle files: a plain relative name, not too deep to walk into. Its
    other rules are checked with the paths of the files in it, the same from a folder or a dossier."""
    check_relative_name(path)
    depth = path.count("/") + 1
    if depth > MAX_PATH_DEPTH:
        raise BundleError(
            f"{holder} {shown(path)}, a path {depth} levels deep, over the {MAX_PATH_DEPTH} a bundle may "
            "have: flatten its folders"
        )
    return path


def _part_problem(part: str, top: bool) -> str | None:
    """What is wrong with one name in a bundle path, and what to do, or None."""
    folded = part.casefold()
    if folded in _DROPPINGS_FOLDED:
        return f"a notebook or OS dropping ({part}), not a run file: remove it"
    if folded == MANIFEST_NAME.casefold():  # the archive's own MANIFEST, on a case-insensitive checkout too
        return f"named like the {MANIFEST_NAME} gerhard writes beside a bundle: rename it"
    if is_windows_reserved(part):
        return f"a device name Windows reserves ({_WINDOWS_RESERVED_TEXT}): rename it"
    if part.endswith("."):
        return "a name ending in '.', which Windows drops: rename it"
    if top and is_dossier_name(folded):
        return "named like a run dossier (run_dossier_*.html), which travels beside a bundle, not in it: rename it"
    return None


def check_bundle_names(paths: Iterable[str], holder: str) -> None:
    """The name rules of a bundle, from a folder or from a dossier: every path safe on every checkout,
    and no two paths that one checkout would make one (case-insensitive on macOS and Windows)."""
    seen: dict[str, tuple[str, bool]] = {}  # casefolded file or folder path → (as spelled, is a file)
    files: set[str] = set()
    for path in paths:
        check_member_name(path, holder)
        if path in files:
            raise BundleError(f"{holder} {shown(path)} twice: rebuild it from the run folder")
        files.add(path)
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            _check_one_spelling(seen, "/".join(parts[:depth]), depth == len(parts), holder)


def _check_one_spelling(seen: dict[str, tuple[str, bool]], here: str, is_file: bool, holder: str) -> None:
    first, was_file = seen.setdefault(here.casefold(), (here, is_file))
    if first != here:
        raise BundleError(
            f"{holder} {shown(first)} and {shown(here)}, which differ only in case "
            "(one path on macOS and Windows): rename one of them"
        )
    if was_file != is_file:
        raise BundleError(f"{holder} {shown(here)} both as a file and as a folder: rebuild it from the run folder")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bundle_sha256(files: tuple[BundleFile, ...] | list[BundleFile]) -> str:
    """One hash over every file's (sha256, size, path): the identity of a bundle."""
    lines = "".join(f"{f.sha256}  {f.size}  {f.path}\n" for f in sorted(files, key=lambda f: f.path))
    return sha256_bytes(lines.encode())


@dataclass
class _Listing:
    files: list[str] = field(default_factory=list)
    transport: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    manifest: bool = False
    gitignore: bool = False


def _walk(root: Path, listing: _Listing, rel: str = "") -> _Listing:
    """Sort a folder's entries into files, dossiers, droppings and a MANIFEST; refuse the unsafe ones
    as they are met (a deep tree is refused before it is walked to the bottom)."""
    with os.scandir(root / rel if rel else root) as it:
        for entry in sorted(it, key=lambda e: e.name):
            name = f"{rel}/{entry.name}" if rel else entry.name
            if entry.name.casefold() in _DROPPINGS_FOLDED:
                listing.skipped.append(name)
                continue
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as e:  # gone since the listing, or not ours to read
                raise _unreadable(root, name, e) from None
            if stat.S_ISLNK(mode):
                raise BundleError(f"{name} in {root} is a symlink: copy the real file into the bundle instead")
            if stat.S_ISREG(mode) and name == MANIFEST_NAME:
                listing.manifest = True
            elif stat.S_ISREG(mode) and name == GITIGNORE_NAME:  # an archived run's list of heavy files
                listing.gitignore = True
            elif stat.S_ISREG(mode) and is_dossier_name(name):
                listing.transport.append(check_relative_name(name))
            elif stat.S_ISDIR(mode):
                _walk(root, listing, check_folder_name(name, f"{root} holds"))
            elif stat.S_ISREG(mode):
                listing.files.append(check_member_name(name, f"{root} holds"))
            else:
                raise BundleError(f"{name} in {root} is not a regular file: a bundle holds only plain files")
    return listing


def load_bundle(
    source_dir: Path, heavy: Callable[[str, int], bool] | None = None, absent_remote: bool = False
) -> Bundle:
    """List every file under source_dir and read each once, refusing symlinks, unsafe names and files
    over MAX_FILE_BYTES. A MANIFEST on top (an archived run folder) must match what was read.

    A file `heavy(path, size)` says stays out of git (or one the folder's MANIFEST lists as stored
    remote) is hashed by streaming instead, any size, and listed in Bundle.remote. With absent_remote,
    a file the MANIFEST lists as stored remote may be absent (a run registered elsewhere, its heavy
    files not fetched): it is in the bundle as listed, so the bundle hash and MANIFEST are the same."""
    root = Path(source_dir)
    if root.is_symlink():
        raise BundleError(f"source dir {root} is a symlink: pass the folder it points to, {root.resolve()}")
    if not root.is_dir():
        problem = "is not a directory" if root.exists() else "does not exist"
        raise BundleError(f"source dir {root} {problem}: pass the folder the notebook wrote")
    listing = _walk(root, _Listing())
    if not listing.files:
        raise BundleError(f"source dir {root} is empty: it must hold the run's artifacts")
    check_bundle_names(listing.files, f"{root} holds")
    manifest = _read_manifest(root) if listing.manifest else None
    remote = _remote_names(root, listing.files, manifest, heavy)
    contents = {name: read_member(root, name) for name in listing.files if name not in remote}
    files = [
        _stream_member(root, name)
        if name in remote
        else BundleFile(name, len(contents[name]), sha256_bytes(contents[name]))
        for name in listing.files
    ]
    if absent_remote and manifest is not None:
        files, remote = _with_absent_remote(files, remote, manifest)
    bundle = Bundle(
        root, tuple(files), bundle_sha256(files), tuple(listing.transport), tuple(listing.skipped), contents, remote
    )
    if manifest is not None:
        check_manifest(bundle, manifest)
    return bundle


def _remote_names(
    root: Path, names: list[str], manifest: Any, heavy: Callable[[str, int], bool] | None
) -> frozenset[str]:
    listed = {f["path"] for f in manifest["files"] if f.get("stored") == "remote"} if manifest else set()
    if heavy is None and not listed:
        return frozenset()
    found = set()
    for name in names:
        try:
            size = os.stat(root / name, follow_symlinks=False).st_size
        except OSError as e:
            raise _unreadable(root, name, e) from None
        if name in listed or (heavy is not None and heavy(name, size)):
            found.add(name)
    return frozenset(found)


def _with_absent_remote(
    files: list[BundleFile], remote: frozenset[str], manifest: Any
) -> tuple[list[BundleFile], frozenset[str]]:
    """The MANIFEST's `stored: remote` files that are not in the folder added as it lists them, in its
    order (so it is written again byte for byte)."""
    here = {f.path for f in files}
    listed = manifest["files"]
    absent = [BundleFile(f["path"], f["size"], f["sha256"]) for f in listed if f.get("stored") == "remote"]
    absent = [f for f in absent if f.path not in here]
    if not absent:
        return files, remote
    order = {f["path"]: i for i, f in enumerate(listed)}
    return sorted(files + absent, key=lambda f: order.get(f.path, len(order))), remote | {f.path for f in absent}


def _stream_member(root: Path, name: str) -> BundleFile:
    """A heavy file's size and sha256, read in chunks (never whole into memory, never through a symlink)."""
    h = hashlib.sha256()
    size = 0
    try:
        fd = os.open(root / name, _OPEN_FLAGS)
    except OSError as e:
        raise _unreadable(root, name, e) from None
    with open(fd, "rb", buffering=0) as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BundleError(f"{name} in {root} is not a regular file: a bundle holds only plain files")
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return BundleFile(name, size, h.hexdigest())


# Never follow a symlink swapped in since the listing; never block on a FIFO swapped in.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_member(root: Path, name: str) -> bytes:
    """One bundle file's bytes, read once, and never more than MAX_FILE_BYTES of them: the size is
    checked before reading and again after (the file may grow while it is read)."""
    try:
        fd = os.open(root / name, _OPEN_FLAGS)
    except OSError as e:
        raise _unreadable(root, name, e) from None
    with open(fd, "rb", buffering=0) as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BundleError(f"{name} in {root} is not a regular file: a bundle holds only plain files")
        check_file_size(name, st.st_size)
        data = read_at_most(f, MAX_FILE_BYTES, st.st_size)
    if len(data) > MAX_FILE_BYTES:
        raise BundleError(
            f"{name} grew past {MAX_FILE_BYTES // 2**20} MiB while it was read, more than a git host accepts: "
            "keep checkpoints out of the bundle"
        )
    return data


def _unreadable(root: Path, name: str, e: OSError) -> BundleError:
    return BundleError(f"{name} in {root} cannot be read ({e.strerror}): make it a plain file you can read")


def check_file_size(name: str, size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise BundleError(
            f"{name} is {size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB a git host accepts: "
            "keep checkpoints out of the bundle"
        )


def read_at_most(f: BinaryIO, limit: int, expected: int) -> bytes:
    """At most limit + 1 bytes of f: one read when the file is still the size it was, then small ones."""
    parts = [f.read(min(expected, limit) + 1)]
    total = len(parts[0])
    while parts[-1] and total <= limit:
        parts.append(f.read(min(1 << 20, limit + 1 - total)))
        total += len(parts[-1])
    return b"".join(p for p in parts if p)  # one part: that very object, not a copy


def check_manifest(bundle: Bundle, doc: Any = None) -> None:
    """The MANIFEST of an archived run folder (outputs/<run_id>/, registered in place or copied) lists
    exactly the files read, or the folder changed since it was archived. doc: the MANIFEST, if read."""
    where = bundle.root / MANIFEST_NAME
    doc = _read_manifest(bundle.root) if doc is None else doc
    listed = {f["path"]: (f["size"], f["sha256"]) for f in doc["files"]}
    found = {f.path: (f.size, f.sha256) for f in bundle.files}
    fix = f"restore the files it lists, or delete {MANIFEST_NAME} to register the folder as a new bundle"
    for path in sorted(listed.keys() | found.keys()):
        if listed.get(path) != found.get(path):
            raise BundleError(f"{where} does not match the folder: {_disagreement(path, listed, found)}: {fix}")
    if doc["bundle_sha256"] != bundle.sha256:
        raise BundleError(
            f"{where} does not match the folder: its bundle_sha256 {doc['bundle_sha256'][:12]}… is not the "
            f"files' {bundle.sha256[:12]}…: {fix}"
        )


def _read_manifest(root: Path) -> Any:
    where = root / MANIFEST_NAME
    try:
        doc = parse_artifact(str(where), read_member(root, MANIFEST_NAME), json_file=True)
        schemas.validate(doc, "manifest", str(where))
    except UserError as e:
        problem = str(e).removeprefix(str(where)).removeprefix(":").removeprefix(" is").strip()
        raise BundleError(
            f"{where} is not a MANIFEST gerhard wrote ({problem}): delete it to register the folder as a new bundle"
        ) from None
    return doc


def _disagreement(path: str, listed: dict[str, tuple[int, str]], found: dict[str, tuple[int, str]]) -> str:
    if path not in listed:
        return f"{path} is not listed in it"
    if path not in found:
        return f"it lists {path}, which is not in the folder"
    (size, sha), (was_size, was_sha) = found[path], listed[path]
    return f"{path} is {size} bytes with sha256 {sha[:12]}…, it lists {was_size} bytes with sha256 {was_sha[:12]}…"


def manifest_dict(run_id: str, bundle: Bundle) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "bundle_sha256": bundle.sha256,
        "files": [
            {
                "path": f.path,
                "size": f.size,
                "sha256": f.sha256,
                **({"stored": "remote"} if f.path in bundle.remote else {}),
            }
            for f in bundle.files
        ],
    }


def manifest_bytes(run_id: str, bundle: Bundle) -> bytes:
    return (json.dumps(manifest_dict(run_id, bundle), indent=2) + "\n").encode()
