"""Move run folders between outputs/<run_id>/ and a remote root (gerhard.sync.stores: its two ends).

Copy only what is missing at the destination or older there (with checksum: whose sha256 differs
from the MANIFEST); never delete; never overwrite a newer destination file. A copy never leaves a
truncated or unverified file under its final name. On a file system it is written to a temporary
name, verified (size, and the sha256 the MANIFEST lists), then renamed into place. To an object
store, where an upload appears whole when it completes or not at all (and a rename is a second
copy), the file is hashed and checked against the MANIFEST first (nothing is sent when it
disagrees), then uploaded to its final key by the store's own upload, parts in parallel; a file
that changed meanwhile, or arrived the wrong size, is removed again and refused. Rerunning the same
command finishes the job.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from gerhard import layout
from gerhard.errors import UserError
from gerhard.formats import schemas
from gerhard.registry.bundle import GITIGNORE_NAME, MANIFEST_NAME, check_relative_name
from gerhard.registry.heavy import CHUNK, TMP_SUFFIX
from gerhard.sync.stores import FileInfo, Side, sha256_at

Manifest = dict[str, tuple[int, str]]  # path -> (size, sha256)
PROGRESS_DELAY_S = 2.0  # the bar appears only for transfers longer than this


class Step(NamedTuple):
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
            "files": [s._asdict() for s in self.steps],
        }


def read_manifest(root: Path, run_id: str) -> Manifest:
    """The MANIFEST of a registered run, as checked out (committed with the run)."""
    rel = f"{layout.run_dir(run_id)}/{MANIFEST_NAME}"
    try:
        doc = json.loads((root / rel).read_bytes())
        schemas.validate(doc, "manifest", rel)  # its shape checked in Python; jsonschema only when unsure
    except FileNotFoundError:
        raise UserError(f"{rel} is missing: restore it with 'git checkout -- {rel}'") from None
    except ValueError as e:
        raise UserError(
            f"{rel} is not a MANIFEST gerhard wrote ({e}): restore it with 'git checkout -- {rel}'"
        ) from None
    return {f["path"]: (int(f["size"]), str(f["sha256"])) for f in doc["files"]}


class Manifests(dict[str, Manifest]):
    """Each run's committed MANIFEST, read when first asked for (a no-op push reads none)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, run_id: str) -> Manifest:
        self[run_id] = read_manifest(self.root, run_id)
        return self[run_id]


def check_local_files(side: Side, run_id: str, here: dict[str, FileInfo], manifest: Manifest, checksum: bool) -> None:
    """Refuse to push a run whose files disagree with its MANIFEST (before anything is written)."""
    for rel, (size, sha) in sorted(manifest.items()):
        info = here.get(rel)
        if info is None:
            continue  # a remote-stored file not fetched here: nothing to push
        if info.size != size or (checksum and side.sha256(run_id, rel) != sha):
            raise UserError(
                f"{layout.run_dir(run_id)}/{rel} does not match its MANIFEST (size {size}, sha256 {sha[:12]}…): "
                f"restore it ('gerhard sync pull --run-id {run_id}' or 'git checkout') before pushing"
            )


def plan(
    run_id: str,
    src: Side,
    dst: Side,
    manifest: Manifest,
    checksum: bool,
    direction: str,
    have: dict[str, FileInfo] | None = None,
) -> list[Step]:
    """What to do with each file of one run folder: copy, skip (up to date) or refuse (and why).
    `have`: the source's listing, when the caller has it already. The destination is asked only for
    the names that matter (the source's, and for a pull the MANIFEST's), never for an unsafe one
    (it could lead out of the folder); a file only there is left as it is."""
    have = src.listing(run_id) if have is None else have
    there = dst.lookup(run_id, [rel for rel in have.keys() | manifest.keys() if _safe(rel)])
    tolerance = 1e-3 if dst.local else 2.0  # object stores keep whole seconds and the upload time
    steps = []
    for rel in sorted(have):
        s, d = have[rel], there.get(rel)
        if not _safe(rel):
            steps.append(Step(run_id, rel, "refuse", s.size, "unsafe name: not copied"))
        elif d is None:
            steps.append(Step(run_id, rel, "copy", s.size, "missing at the destination", s.mtime))
        elif checksum:
            steps.append(_by_checksum(run_id, rel, s, d, src, dst, manifest, tolerance))
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


def _by_checksum(
    run_id: str, rel: str, s: FileInfo, d: FileInfo, src: Side, dst: Side, manifest: Manifest, tolerance: float
) -> Step:
    want = manifest[rel][1] if rel in manifest else src.sha256(run_id, rel)
    if dst.sha256(run_id, rel) == want:
        return Step(run_id, rel, "skip", s.size, "same sha256")
    if d.mtime > s.mtime + tolerance:
        return Step(run_id, rel, "refuse", s.size, "differs and is newer at the destination: not overwritten")
    return Step(run_id, rel, "copy", s.size, "sha256 differs", s.mtime)


@functools.lru_cache(maxsize=4096)  # the same few names in every run folder
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
    """Copy one file, verified, never leaving a partial or wrong file under its final name. A failed
    check: refused (and said why)."""
    source, final = f"{src.run_dir(step.run_id)}/{step.path}", f"{dst.run_dir(step.run_id)}/{step.path}"
    folder = final.rsplit("/", 1)[0]
    if made is None or folder not in made:
        dst.makedirs(folder)
        if made is not None:
            made.add(folder)
    if src.local and dst.atomic_uploads:
        return _upload(step, source, dst, final, manifest, checksum, progress)
    problem = _through_temporary(step, src, source, dst, final, manifest, checksum, progress)
    return step._replace(action="refuse", reason=problem) if problem else step


def _through_temporary(
    step: Step,
    src: Side,
    source: str,
    dst: Side,
    final: str,
    manifest: Manifest,
    checksum: bool,
    progress: Callable[[int], Any],
) -> str | None:
    tmp = final + TMP_SUFFIX
    with src.open(source, "rb") as fin, dst.open(tmp, "wb") as fout:
        size, sha = _stream(fin, fout, progress)
    problem = _disagreement(step, size, sha, manifest) or _arrival(dst, tmp, size, sha, checksum)
    if problem:
        dst.remove(tmp)
        return problem
    dst.move(tmp, final)
    if dst.local:  # keep the source's time, so the next sync sees the two as the same (rsync -a does too)
        os.utime(final, (step.mtime, step.mtime))
    return None


def _upload(
    step: Step, source: str, dst: Side, final: str, manifest: Manifest, checksum: bool, progress: Callable[[int], Any]
) -> Step:
    """A local file to an object store: hashed and checked first (nothing is sent when it disagrees),
    then the store's own upload to the final key (the object appears only when it completes), then
    checked unchanged meanwhile. Its size there is checked with the run's other uploads (check_uploads)."""
    from fsspec.callbacks import Callback

    class Progress(Callback):
        def relative_update(self, inc: int = 1) -> None:
            progress(inc)

    before = os.stat(source)
    with open(source, "rb") as fin:
        size, sha = _stream(fin, None, lambda n: None)
    problem = _disagreement(step, size, sha, manifest)
    if problem:
        return step._replace(action="refuse", reason=problem)
    dst.fs.put_file(source, final, callback=Progress())
    after = os.stat(source)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        problem = "changed while it was copied: not copied, run the command again"
    elif checksum and sha256_at(dst, final) != sha:
        problem = "the copy's sha256 differs from what was sent: not copied, run the command again"
    if problem:
        dst.remove(final)  # our own upload, and not what was verified: never left under the final name
        return step._replace(action="refuse", reason=problem)
    return step._replace(size=size)


def check_uploads(steps: list[Step], dst: Side) -> list[Step]:
    """The uploads of one run arrived whole: one listing of its folder for all of them, not a request
    a file. One that did not is removed again (our own upload) and refused."""
    arrived = dst.listing(steps[0].run_id)
    checked = []
    for step in steps:
        got = arrived.get(step.path)
        if step.action == "copy" and (got is None or got.size != step.size):
            if got is not None:
                dst.remove(f"{dst.run_dir(step.run_id)}/{step.path}")
            reason = f"{got.size if got else 0} bytes arrived of {step.size}: not copied, run the command again"
            step = step._replace(action="refuse", reason=reason)
        checked.append(step)
    return checked


def _stream(fin: Any, fout: Any | None, progress: Callable[[int], Any]) -> tuple[int, str]:
    """(size, sha256) of what was read from fin, written to fout (if any) on the way."""
    h, size = hashlib.sha256(), 0
    for chunk in iter(lambda: fin.read(CHUNK), b""):
        h.update(chunk)
        if fout is not None:
            fout.write(chunk)
        size += len(chunk)
        progress(len(chunk))
    return size, h.hexdigest()


def _disagreement(step: Step, size: int, sha: str, manifest: Manifest) -> str | None:
    listed = manifest.get(step.path)
    if listed is not None and (size, sha) != listed:
        return (
            f"does not match the MANIFEST (size {size}, sha256 {sha[:12]}…; MANIFEST: size {listed[0]}, "
            f"sha256 {listed[1][:12]}…): not copied"
        )
    return None


def _arrival(dst: Side, path: str, size: int, sha: str, checksum: bool) -> str | None:
    written = dst.size(path)
    if written != size:
        return f"{written} bytes arrived of {size}: not copied, run the command again"
    if checksum and sha256_at(dst, path) != sha:
        return "the copy's sha256 differs from what was sent: not copied, run the command again"
    return None


def execute(result: SyncResult, src: Side, dst: Side, manifests: dict[str, Manifest], checksum: bool) -> None:
    """Carry out the planned copies (in place in result.steps), with a progress bar for long transfers."""
    copies = [i for i, s in enumerate(result.steps) if s.action == "copy"]
    if not copies:
        return
    from tqdm import tqdm

    total = sum(result.steps[i].size for i in copies)
    with tqdm(total=total, unit="B", unit_scale=True, delay=PROGRESS_DELAY_S, leave=False, file=sys.stderr) as bar:
        made: set[str] = set()  # folders known to exist at the destination
        for _, run in itertools.groupby(copies, key=lambda i: result.steps[i].run_id):
            run_copies = list(run)
            done = [
                copy_one(result.steps[i], src, dst, manifests[result.steps[i].run_id], checksum, bar.update, made)
                for i in run_copies
            ]
            if src.local and dst.atomic_uploads:
                done = check_uploads(done, dst)
            for i, step in zip(run_copies, done, strict=True):
                result.steps[i] = step


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
