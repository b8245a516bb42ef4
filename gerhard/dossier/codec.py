"""The run bundle embedded in a dossier: encode it, find it again without parsing HTML, verify, extract.

The block is `<script type="application/json" id="gerhard-bundle">`. Its JSON writes every '<',
'>', '&' and U+2028/U+2029 as a \\u escape, so nothing inside it can close the script element,
open an HTML comment or break a JavaScript string, whatever the run's files hold. Readers find the
block with byte searches (a dossier can be tens of MB; no DOM is built), check every file's size
and sha256 and the bundle hash, and refuse unsafe names before anything touches the disk.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gerhard.errors import BundleError
from gerhard.formats.bounds import Unreadable, check_json_depth
from gerhard.registry.bundle import (
    Bundle,
    BundleFile,
    bundle_sha256,
    check_bundle_names,
    check_member_name,
    check_relative_name,
    check_run_id,
    load_bundle,
    sha256_bytes,
)
from gerhard.registry.heavy import copy_verified, heavy_names

if TYPE_CHECKING:
    pass

FORMAT, VERSION = "gerhard-dossier-bundle", 1
BLOCK_ID = "gerhard-bundle"
OPEN_TAG = f'<script type="application/json" id="{BLOCK_ID}">'
EMBED_LIMIT = 25 * 1024 * 1024  # per file; larger files are listed by hash and size, not embedded
MAX_DOSSIER_BYTES = 1024 * 1024 * 1024  # a bigger input is refused before it is read
_ID_ATTR = f'id="{BLOCK_ID}"'.encode()
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JSON_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


@dataclass(frozen=True)
class EmbeddedFile:
    path: str
    size: int
    sha256: str
    data: bytes | None  # None: listed by hash and size, not embedded (over the embed limit, or stored remote)
    remote: bool = False  # a heavy file (gerhard.registry.heavy): never embedded, its bytes are not in git


@dataclass(frozen=True)
class DossierBundle:
    run_id: str
    phase: str | None
    summary: str
    next_action: str
    bundle_sha256: str
    files: tuple[EmbeddedFile, ...]

    def not_embedded(self) -> list[EmbeddedFile]:
        return [f for f in self.files if f.data is None]


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024:.1f} KiB" if size < 1024**2 else f"{size / 1024**2:.1f} MiB"


def dossier_name(run_id: str) -> str:
    return f"run_dossier_{run_id}.html"


def script_json(obj: Any) -> str:
    """JSON that is inert inside a <script> element: no '<', '>', '&', U+2028 or U+2029 left raw."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _JSON_ESCAPE_RE.sub(lambda m: _JSON_ESCAPES[m.group()], text)


def encode_file(bundle: Bundle, f: BundleFile, embed_limit: int, heavy: frozenset[str]) -> dict[str, Any]:
    """One file's entry: text as text, anything that is not UTF-8 as base64; too big, or heavy (kept
    out of git, so never in an archived dossier either), as hash and size only."""
    entry: dict[str, Any] = {"path": f.path, "size": f.size, "sha256": f.sha256}
    if f.path in heavy:
        return dict(entry, embedded=False, stored="remote")
    if f.size > embed_limit:
        return dict(entry, embedded=False)
    data = bundle.read_bytes(f.path)
    if sha256_bytes(data) != f.sha256:
        raise BundleError(f"{f.path} in {bundle.root} changed while the dossier was built: build it again")
    try:
        return dict(entry, encoding="utf-8", data=data.decode("utf-8"))
    except UnicodeDecodeError:
        return dict(entry, encoding="base64", data=base64.b64encode(data).decode("ascii"))


def encode_bundle(
    bundle: Bundle, run_id: str, phase: str | None, summary: str, next_action: str, embed_limit: int
) -> str:
    """The text of the bundle block (safe to put between the script tags as is)."""
    heavy = heavy_names(bundle, run_id, phase)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "run_id": run_id,
        "phase": phase,
        "summary": summary,
        "next_action": next_action,
        "bundle_sha256": bundle.sha256,
        "embed_limit": embed_limit,
        "files": [encode_file(bundle, f, embed_limit, heavy) for f in bundle.files],
    }
    return script_json(doc)


def locate_block(data: bytes, name: str) -> bytes:
    """The bytes between the bundle block's tags, found by byte search (no HTML parsing)."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head.startswith((b"<!doctype html", b"<html")):
        raise BundleError(
            f"{name} is not an HTML dossier: pass the run_dossier_<run_id>.html written by "
            "'gerhard dossier' or the notebook"
        )
    count = data.count(_ID_ATTR)
    if count == 0 and not data.rstrip().lower().endswith(b"</html>"):
        raise BundleError(f"{name} is truncated (it ends before </html>): download or copy the dossier again")
    if count != 1:
        what = "no embedded gerhard bundle" if count == 0 else f"{count} embedded bundles (a dossier has one)"
        raise BundleError(
            f"{name} is HTML but holds {what}: it was not written by 'gerhard dossier'; "
            "register the run folder with --source-dir instead"
        )
    at = data.find(_ID_ATTR)
    start, end = data.rfind(b"<", 0, at), data.find(b">", at)
    if start < 0 or end < 0 or data[start : end + 1] != OPEN_TAG.encode():
        raise BundleError(f"{name} has a damaged bundle block (expected {OPEN_TAG}): rebuild it with 'gerhard dossier'")
    close = data.find(b"</script", end)
    if close < 0:
        raise BundleError(f"{name} is truncated: its embedded bundle has no end; download or copy the dossier again")
    return data[end + 1 : close]


def _malformed(name: str, what: str) -> BundleError:
    return BundleError(f"{name}: the embedded bundle is malformed ({what}): rebuild it with 'gerhard dossier'")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:  # readers disagree on which of two keys wins: the bundle would be ambiguous
            raise ValueError(f"duplicate key {key!r}")
        doc[key] = value
    return doc


def _no_constant(word: str) -> Any:
    raise ValueError(f"{word} is not JSON")


def parse_block(block: bytes, name: str) -> dict[str, Any]:
    try:
        check_json_depth(block)  # before the parser, which recurses once a level
        doc = json.loads(block, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, RecursionError, Unreadable) as e:  # bad JSON or UTF-8, absurd numbers, absurd nesting
        raise BundleError(
            f"{name}: the embedded bundle is not valid JSON ({e}): the file is damaged or truncated; "
            "download or copy it again"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _malformed(name, f"format is not {FORMAT!r}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _malformed(name, "no format version")
    if version > VERSION:
        raise BundleError(f"{name} was written by a newer gerhard (bundle format {version}): upgrade gerhard")
    return doc


def _text_field(doc: dict[str, Any], key: str, name: str, optional: bool = False) -> Any:
    value = doc.get(key)
    if value is None and optional:
        return value
    if isinstance(value, str):  # lone surrogates (valid JSON escapes, not text) would break git and YAML
        return value.encode("utf-8", "replace").decode("utf-8")
    raise _malformed(name, f"{key!r} is not text")


def check_entry_name(path: Any, name: str) -> str:
    """A name safe to create under the extraction folder, held to the rules a folder is held to
    (gerhard.registry.bundle.check_member_name): so a dossier never embeds a MANIFEST, a dropping or a dossier."""
    if not isinstance(path, str):
        raise _malformed(name, "a file without a path")
    try:
        check_relative_name(path)
    except BundleError as e:
        raise BundleError(f"{name}: {e}; refusing to extract it") from None
    return check_member_name(path, f"{name} embeds")


def decode_entry(entry: Any, name: str) -> EmbeddedFile:
    """One file entry, its content checked against its size and sha256."""
    if not isinstance(entry, dict):
        raise _malformed(name, "a file entry that is not an object")
    if entry.get("type", "file") != "file":
        what = f"{entry.get('path')!r} as a {entry.get('type')!r}"
        raise BundleError(f"{name} embeds {what}, not a plain file: refusing it")
    path = check_entry_name(entry.get("path"), name)
    size, sha = entry.get("size"), entry.get("sha256")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(sha, str):
        raise _malformed(name, f"{path} has no valid size and sha256")
    if not _SHA_RE.match(sha):
        raise _malformed(name, f"{path} has no valid sha256")
    if "data" not in entry:
        return EmbeddedFile(path, size, sha, None, remote=entry.get("stored") == "remote")
    data = decode_data(entry, path, name)
    if len(data) != size or sha256_bytes(data) != sha:
        raise BundleError(
            f"{name} does not verify: {path} should be {size} bytes with sha256 {sha[:12]}…, its embedded "
            f"content is {len(data)} bytes with sha256 {sha256_bytes(data)[:12]}…: the dossier was modified "
            "or damaged; use the original file"
        )
    return EmbeddedFile(path, size, sha, data)


def decode_data(entry: dict[str, Any], path: str, name: str) -> bytes:
    data, encoding = entry.get("data"), entry.get("encoding")
    if not isinstance(data, str):
        raise _malformed(name, f"{path} has no text data")
    if encoding == "utf-8":
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError:
            raise _malformed(name, f"{path} is not valid UTF-8 text") from None
    if encoding == "base64":
        try:
            return base64.b64decode(data.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise _malformed(name, f"{path} is not valid base64") from None
    raise _malformed(name, f"{path} has unknown encoding {encoding!r}")


def verify(doc: dict[str, Any], name: str) -> DossierBundle:
    """Every field checked, every file's content against its hash, then the bundle hash."""
    run_id = _text_field(doc, "run_id", name)
    try:
        check_run_id(run_id)
    except BundleError as e:
        raise BundleError(f"{name}: {e}") from None
    entries = doc.get("files")
    if not isinstance(entries, list) or not entries:
        raise _malformed(name, "no files")
    files = tuple(decode_entry(e, name) for e in entries)
    check_bundle_names([f.path for f in files], f"{name} embeds")  # twice, in two cases, file and folder
    claimed = _text_field(doc, "bundle_sha256", name)
    actual = bundle_sha256([BundleFile(f.path, f.size, f.sha256) for f in files])
    if claimed != actual:
        raise BundleError(
            f"{name} does not verify: its bundle sha256 {str(claimed)[:12]}… does not match its files "
            f"({actual[:12]}…): the dossier was modified or damaged; use the original file"
        )
    phase = _text_field(doc, "phase", name, optional=True)
    summary, next_action = (_text_field(doc, k, name, optional=True) or "" for k in ("summary", "next_action"))
    return DossierBundle(run_id, phase, summary, next_action, actual, files)


def read_dossier(path: Path, max_bytes: int | None = None) -> tuple[DossierBundle, bytes]:
    """The verified bundle of a dossier file, and the file's bytes (archived as they are)."""
    path = Path(path)
    limit = MAX_DOSSIER_BYTES if max_bytes is None else max_bytes
    if not path.is_file():
        raise BundleError(f"dossier {path} does not exist or is not a file: pass the run_dossier_<run_id>.html")
    size = path.stat().st_size
    if size > limit:
        raise BundleError(
            f"dossier {path} is {size_text(size)}, over the {size_text(limit)} limit: "
            "register the run folder with --source-dir instead"
        )
    data = path.read_bytes()
    doc = parse_block(locate_block(data, str(path)), str(path))
    return verify(doc, str(path)), data


def extract(bundle: DossierBundle, dest: Path, name: str, beside: Path | None = None) -> Path:
    """Write every embedded file under dest (a new, empty folder), and each file listed but not embedded
    from beside (the dossier's folder), verified; the result re-hashes to the bundle."""
    missing = [f for f in bundle.not_embedded() if beside is None or not _is_beside(beside, f.path)]
    if missing:
        raise not_embedded_error(bundle, missing, name, beside)
    dest.mkdir(parents=True, exist_ok=False)
    root = dest.resolve()
    for f in bundle.files:
        target = (root / f.path).resolve()
        if root not in target.parents:  # check_entry_name already refused this; never trust one check
            raise BundleError(f"{name} embeds {f.path!r}, which would land outside the bundle: refusing it")
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.data is None and beside is not None:
            _copy_beside(bundle, f, beside, target, name)
            continue
        with open(target, "xb") as out:
            out.write(f.data or b"")
    listed = {f.path for f in bundle.not_embedded()}  # streamed, as heavy files are: any size
    if load_bundle(dest, lambda path, size: path in listed).sha256 != bundle.bundle_sha256:
        raise BundleError(f"{name} does not verify after extraction: the dossier is damaged; use the original file")
    return dest


def _is_beside(beside: Path, path: str) -> bool:
    """A plain file at beside/path, not a symlink, not reached through one out of beside."""
    found = beside / path
    return found.is_file() and not found.is_symlink() and beside.resolve() in found.resolve().parents


def _copy_beside(bundle: DossierBundle, f: EmbeddedFile, beside: Path, target: Path, name: str) -> None:
    if not copy_verified(beside / f.path, target, f.size, f.sha256):
        raise BundleError(
            f"{beside / f.path} is not the {f.path} {name} lists ({size_text(f.size)}, sha256 {f.sha256[:12]}…): "
            f"copy the registered file there, or fetch it with 'gerhard sync pull --run-id {bundle.run_id}', "
            "then register again"
        )


def not_embedded_error(
    bundle: DossierBundle, missing: list[EmbeddedFile], name: str, beside: Path | None
) -> BundleError:
    listed = ", ".join(f"{f.path} ({size_text(f.size)}{', stored remote' if f.remote else ''})" for f in missing)
    where = f"beside the dossier (into {beside})" if beside is not None else "beside the dossier"
    if any(f.remote for f in missing):
        return BundleError(
            f"{name} does not embed {listed}: copy the files {where}, or fetch them with "
            f"'gerhard sync pull --run-id {bundle.run_id}', then register again"
        )
    return BundleError(
        f"{name} does not embed {listed} (over its embed limit): register the run folder with --source-dir, "
        f"or copy the files {where}"
    )
