"""Move run folders between outputs/<run_id>/ and a remote root (a path or any fsspec URL).

Copy only what is missing at the destination or older there (with checksum: whose sha256 differs
from the MANIFEST); never delete; never overwrite a newer destination file. Each copy goes to a
temporary name, is verified (size, and the sha256 the MANIFEST lists), then moved into place, so an
interrupted copy never leaves a truncated file under the final name and a rerun finishes the job.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gerhard.bundle import GITIGNORE_NAME, MANIFEST_NAME, check_relative_name
from gerhard.errors import UserError
from gerhard.heavy import CHUNK, TMP_SUFFIX

Manifest = dict[str, tuple[int, str]]  # path -> (size, sha256)
PROGRESS_DELAY_S = 2.0  # the bar appears only for transfers longer than this


@dataclass(frozen=True)
class FileInfo:
    size: int
    mtime: float


@dataclass(frozen=True)
class Side:
    """One end of a sync: an fsspec filesystem and the folder that holds the run folders."""

    fs: Any
    base: str
    label: str  # for messages: "outputs" or the remote URL

    @property
    def local(self) -> bool:
        return "file" in _protocols(self.fs)

    def run_dir(self, run_id: str) -> str:
        return f"{self.base.rstrip('/')}/{run_id}"

    def listing(self, run_id: str) -> dict[str, FileInfo]:
        folder = self.run_dir(run_id)
        self.fs.invalidate_cache(folder)  # object stores cache listings; another process may have written
        try:
            found = self.fs.find(folder, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        prefix = self.fs._strip_protocol(folder).rstrip("/") + "/"
        out = {}
        for path, info in found.items():
            rel = path[len(prefix) :] if path.startswith(prefix) else path
            if info.get("type", "file") == "file" and not rel.endswith(TMP_SUFFIX):
                out[rel] = FileInfo(int(info["size"]), mtime_of(info))
        return out

    def sha256(self, run_id: str, rel: str) -> str:
        return sha256_at(self.fs, f"{self.run_dir(run_id)}/{rel}")


def sha256_at(fs: Any, path: str) -> str:
    h = hashlib.sha256()
    with fs.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Step:
    run_id: str
    path: str
    action: str  # copy | skip | refuse
    size: int
    reason: str
    mtime: float = 0.0  # the source's, given to a local copy


@dataclass
class SyncResult:
    direction: str
    remote: str
    dry_run: bool
    steps: list[Step] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(s.action == action for s in self.steps)

    @property
    def bytes_copied(self) -> int:
        return sum(s.size for s in self.steps if s.action == "copy")

    def summary(self) -> str:
        verb = "would copy" if self.dry_run else "copied"
        return (
            f"{verb} {self.count('copy')} files ({self.bytes_copied / 1e6:.1f} MB), "
            f"skipped {self.count('skip')} up to date, {self.count('refuse')} refused"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "remote": self.remote,
            "dry_run": self.dry_run,
            "copied": self.count("copy"),
            "bytes": self.bytes_copied,
            "skipped": self.count("skip"),
            "refused": self.count("refuse"),
            "files": [vars(s) for s in self.steps],
        }


def _protocols(fs: Any) -> tuple[str, ...]:
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)


def mtime_of(info: dict[str, Any]) -> float:
    """A listing entry's modification time, as local files, S3 and GCS spell it."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, dt.datetime):
            return value.timestamp()
        if isinstance(value, str):
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return 0.0


def open_side(url: str) -> Side:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        extra = " (pip install 'gerhard[s3]' or 'gerhard[gs]')" if isinstance(e, ImportError) else ""
        raise UserError(f"cannot open remote {url}: {str(e).splitlines()[0]}{extra}") from None
    return Side(fs, path, url)


def local_side(root: Path) -> Side:
    from fsspec.implementations.local import LocalFileSystem

    return Side(LocalFileSystem(), str((root / "outputs").resolve()), "outputs")


def read_manifest(root: Path, run_id: str) -> Manifest:
    """The MANIFEST of a registered run, as checked out (committed with the run)."""
    from gerhard import schemas

    rel = f"outputs/{run_id}/{MANIFEST_NAME}"
    try:
        doc = json.loads((root / rel).read_bytes())
        schemas.validate(doc, "manifest", rel)
    except FileNotFoundError:
        raise UserError(f"{rel} is missing: restore it with 'git checkout -- {rel}'") from None
    except ValueError as e:
        raise UserError(
            f"{rel} is not a MANIFEST gerhard wrote ({e}): restore it with 'git checkout -- {rel}'"
        ) from None
    return {f["path"]: (int(f["size"]), str(f["sha256"])) for f in doc["files"]}


def check_local_files(side: Side, run_id: str, manifest: Manifest, checksum: bool) -> None:
    """Refuse to push a run whose files disagree with its MANIFEST (before anything is written)."""
    here = side.listing(run_id)
    for rel, (size, sha) in sorted(manifest.items()):
        info = here.get(rel)
        if info is None:
            continue  # a remote-stored file not fetched here: nothing to push
        if info.size != size or (checksum and side.sha256(run_id, rel) != sha):
            raise UserError(
                f"outputs/{run_id}/{rel} does not match its MANIFEST (size {size}, sha256 {sha[:12]}…): "
                f"restore it ('gerhard sync pull --run-id {run_id}' or 'git checkout') before pushing"
            )


def plan(run_id: str, src: Side, dst: Side, manifest: Manifest, checksum: bool, direction: str) -> list[Step]:
    """What to do with each file of one run folder: copy, skip (up to date) or refuse (and why)."""
    have, there = src.listing(run_id), dst.listing(run_id)
    tolerance = 1e-3 if dst.local else 2.0  # object stores keep whole seconds and the upload time
    steps = []
    for rel in sorted(have):
        s, d = have[rel], there.get(rel)
        if not _safe(rel):
            steps.append(Step(run_id, rel, "refuse", s.size, "unsafe name: not copied"))
        elif d is None:
            steps.append(Step(run_id, rel, "copy", s.size, "missing at the destination", s.mtime))
        elif checksum:
            want = manifest[rel][1] if rel in manifest else src.sha256(run_id, rel)
            if dst.sha256(run_id, rel) == want:
                steps.append(Step(run_id, rel, "skip", s.size, "same sha256"))
            elif d.mtime > s.mtime + tolerance:
                steps.append(
                    Step(run_id, rel, "refuse", s.size, "differs and is newer at the destination: not overwritten")
                )
            else:
                steps.append(Step(run_id, rel, "copy", s.size, "sha256 differs", s.mtime))
        elif s.mtime > d.mtime + tolerance:
            steps.append(Step(run_id, rel, "copy", s.size, "newer at the source", s.mtime))
        elif d.size == s.size:  # the same time, or the upload's later one
            steps.append(Step(run_id, rel, "skip", s.size, "up to date"))
        else:
            steps.append(Step(run_id, rel, "refuse", s.size, "newer at the destination: not overwritten"))
    if direction == "pull":
        for rel in sorted(set(manifest) - set(have) - set(there)):
            steps.append(
                Step(run_id, rel, "refuse", manifest[rel][0], f"not at {src.label}: push it from a machine that has it")
            )
    return steps


def _safe(rel: str) -> bool:
    if rel in (MANIFEST_NAME, GITIGNORE_NAME):
        return True
    try:
        check_relative_name(rel)
    except UserError:
        return False
    return True


def copy_one(
    step: Step,
    src: Side,
    dst: Side,
    manifest: Manifest,
    checksum: bool,
    progress: Callable[[int], Any],
    made: set[str] | None = None,
) -> Step:
    """Copy one file through a temporary name; verify; move into place. A failed check: refused."""
    source, final = f"{src.run_dir(step.run_id)}/{step.path}", f"{dst.run_dir(step.run_id)}/{step.path}"
    tmp = final + TMP_SUFFIX
    folder = final.rsplit("/", 1)[0]
    if made is None or folder not in made:
        dst.fs.makedirs(folder, exist_ok=True)
        if made is not None:
            made.add(folder)
    h, size = hashlib.sha256(), 0
    with src.fs.open(source, "rb") as fin, dst.fs.open(tmp, "wb") as fout:
        for chunk in iter(lambda: fin.read(CHUNK), b""):
            h.update(chunk)
            fout.write(chunk)
            size += len(chunk)
            progress(len(chunk))
    problem = _copy_problem(step, dst, tmp, size, h.hexdigest(), manifest, checksum)
    if problem:
        dst.fs.rm(tmp)
        return Step(step.run_id, step.path, "refuse", step.size, problem)
    dst.fs.mv(tmp, final)
    if dst.local:  # keep the source's time, so the next sync sees the two as the same (rsync -a does too)
        os.utime(final, (step.mtime, step.mtime))
    return step


def _copy_problem(
    step: Step, dst: Side, tmp: str, size: int, sha: str, manifest: Manifest, checksum: bool
) -> str | None:
    listed = manifest.get(step.path)
    if listed is not None and (size, sha) != listed:
        return (
            f"does not match the MANIFEST (size {size}, sha256 {sha[:12]}…; MANIFEST: size {listed[0]}, "
            f"sha256 {listed[1][:12]}…): not copied"
        )
    written = int(dst.fs.info(tmp)["size"])
    if written != size:
        return f"{written} bytes arrived of {size}: not copied, run the command again"
    if checksum and sha256_at(dst.fs, tmp) != sha:
        return "the copy's sha256 differs from what was sent: not copied, run the command again"
    return None


def execute(result: SyncResult, src: Side, dst: Side, manifests: dict[str, Manifest], checksum: bool) -> None:
    """Carry out the planned copies (in place in result.steps), with a progress bar for long transfers."""
    from tqdm import tqdm

    total = sum(s.size for s in result.steps if s.action == "copy")
    with tqdm(total=total, unit="B", unit_scale=True, delay=PROGRESS_DELAY_S, leave=False, file=sys.stderr) as bar:
        made: set[str] = set()  # folders known to exist at the destination
        for i, step in enumerate(result.steps):
            if step.action == "copy":
                result.steps[i] = copy_one(step, src, dst, manifests[step.run_id], checksum, bar.update, made)


def check_writable(side: Side) -> None:
    """Refuse an unwritable remote before anything is copied (one probe file, removed)."""
    probe = f"{side.base.rstrip('/')}/.gerhard-probe{TMP_SUFFIX}"
    try:
        side.fs.makedirs(side.base, exist_ok=True)
        with side.fs.open(probe, "wb") as f:
            f.write(b"gerhard")
        side.fs.rm(probe)
    except OSError as e:
        raise UserError(
            f"remote {side.label} is not writable ({e.strerror or e}): check the path, its permissions or credentials"
        ) from None


def verify_run(run_id: str, side: Side, manifest: Manifest) -> tuple[int, list[str]]:
    """(files checked, problems): the remote has every MANIFEST file with its size and sha256."""
    there = side.listing(run_id)
    problems = []
    for rel, (size, sha) in sorted(manifest.items()):
        where = f"{side.label.rstrip('/')}/{run_id}/{rel}"
        info = there.get(rel)
        if info is None:
            problems.append(f"{where} is missing: gerhard sync push --run-id {run_id}")
        elif info.size != size:
            problems.append(f"{where} is {info.size} bytes, the MANIFEST lists {size}")
        elif side.sha256(run_id, rel) != sha:
            problems.append(f"{where} has sha256 differing from the MANIFEST ({sha[:12]}…)")
    return len(manifest), problems


_CREDENTIALS = {
    "s3": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials",
    "gs": "set GOOGLE_APPLICATION_CREDENTIALS to a service-account JSON file, or run "
    "'gcloud auth application-default login'",
}
_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"}
_UNREACHABLE = {"EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError", "ServerTimeoutError"}


@contextlib.contextmanager
def remote_errors(side: Side) -> Iterator[None]:
    """An object store's missing credentials or unreachable endpoint: one line that says what to do."""
    try:
        yield
    except Exception as e:
        names = {t.__name__ for t in type(e).__mro__}
        if names & _NO_CREDENTIALS:
            scheme = side.label.split("://", 1)[0] if "://" in side.label else "s3"
            fix = _CREDENTIALS.get(scheme, "configure the credentials of its fsspec backend")
            raise UserError(f"no credentials for {side.label}: {fix}") from None
        if names & _UNREACHABLE:
            raise UserError(f"remote {side.label} cannot be reached ({e}): check the URL and the network") from None
        raise
