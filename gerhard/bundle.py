"""A run bundle on disk: list its files safely, hash them, build the manifest, load artifacts."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gerhard.errors import BundleError

RUN_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,99}$")
_NAME_RE = re.compile(r"^[0-9A-Za-z_][0-9A-Za-z_.+-]{0,254}$")
# Notebook and OS droppings that are never part of a run.
IGNORED_NAMES = frozenset({".ipynb_checkpoints", "__pycache__", ".DS_Store", "MANIFEST"})
MANIFEST_NAME = "MANIFEST"
RESERVED_RUN_IDS = frozenset({"latest", "all"})  # what `show` and `export` read as the newest / every run
# A dossier beside the artifacts is transport, not content: it embeds the bundle, so it stays out
# of the bundle's identity (registering by folder or by dossier is then the same run) and is
# archived beside it. Only top-level files count; see gerhard.dossier_bundle.folder_dossier.
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

    def names(self) -> set[str]:
        return {f.path for f in self.files}

    def read_bytes(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id) or ".." in run_id:
        raise BundleError(
            f"run id {run_id!r} is not safe: use 1-100 letters, digits, '_', '.', '-', "
            "starting with a letter or digit and without '..' (e.g. 20260223T190000Z_v15)"
        )
    if run_id in RESERVED_RUN_IDS:
        raise BundleError(f"run id {run_id!r} is reserved (gerhard show latest, gerhard export all): pick another id")
    return run_id


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
            f"unsafe file name {name!r} in bundle: use plain relative names without '..' or '/' at the start"
        )
    return name


def is_dossier_name(name: str) -> bool:
    return _DOSSIER_RE.match(name) is not None


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


def _walk(root: Path, rel: str = "") -> list[str]:
    names: list[str] = []
    with os.scandir(root / rel if rel else root) as it:
        for entry in sorted(it, key=lambda e: e.name):
            if entry.name in IGNORED_NAMES:
                continue
            name = f"{rel}/{entry.name}" if rel else entry.name
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise BundleError(f"{name} in {root} is a symlink: copy the real file into the bundle instead")
            check_relative_name(name)
            if stat.S_ISDIR(st.st_mode):
                names.extend(_walk(root, name))
            elif stat.S_ISREG(st.st_mode):
                names.append(name)
            else:
                raise BundleError(f"{name} in {root} is not a regular file: a bundle holds only plain files")
    return names


def load_bundle(source_dir: Path) -> Bundle:
    """List and hash every file under source_dir, refusing symlinks and anything unsafe."""
    root = Path(source_dir)
    if root.is_symlink():
        raise BundleError(f"source dir {root} is a symlink: pass the folder it points to, {root.resolve()}")
    if not root.is_dir():
        problem = "is not a directory" if root.exists() else "does not exist"
        raise BundleError(f"source dir {root} {problem}: pass the folder the notebook wrote")
    names = _walk(root)
    transport = tuple(n for n in names if is_dossier_name(n))
    names = [n for n in names if not is_dossier_name(n)]
    if not names:
        raise BundleError(f"source dir {root} is empty: it must hold the run's artifacts")
    files = tuple(BundleFile(n, (root / n).stat().st_size, sha256_file(root / n)) for n in names)
    return Bundle(root=root, files=files, sha256=bundle_sha256(files), transport=transport)


def manifest_dict(run_id: str, bundle: Bundle) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "bundle_sha256": bundle.sha256,
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in bundle.files],
    }


def manifest_bytes(run_id: str, bundle: Bundle) -> bytes:
    return (json.dumps(manifest_dict(run_id, bundle), indent=2) + "\n").encode()


def parse_artifact(name: str, data: bytes) -> Any:
    """Parse a JSON or YAML artifact; the error names the file and what is wrong."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BundleError(f"{name} is not UTF-8 text ({e.reason} at byte {e.start}): re-export it as UTF-8") from None
    if name.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise BundleError(f"{name} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if name.endswith((".yaml", ".yml")):
        from gerhard.yamlio import load_plain_yaml

        return load_plain_yaml(text, name)
    return text


def parse_seed(data: bytes) -> int:
    text = data.decode("utf-8", errors="replace").strip()
    if not re.fullmatch(r"-?[0-9]{1,20}", text):
        raise BundleError(f"seed.txt must hold one integer, found {text[:40]!r}: write the seed the run used")
    return int(text)


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
