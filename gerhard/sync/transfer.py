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
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gerhard import layout
from gerhard.errors import UserError
from gerhard.registry.bundle import MANIFEST_NAME, check_relative_name
from gerhard.registry.heavy import CHUNK, TMP_SUFFIX
from gerhard.sync.committed import GIT_OWN, Committed, Manifest
from gerhard.sync.stores import FileInfo, Side, sha256_at, writing

PROGRESS_DELAY_S = 2.0  # the bar appears only for transfers longer than this
REPLACE = "the remote copy was changed; remove it there and push the run again"
PUSH_IT = "push it from a machine that has it"
NOT_LISTED = "not in its MANIFEST in git: left at the remote"
MAX_GIT_OWN_BYTES = 64 << 20  # a run folder's MANIFEST read from a remote: a bigger one is not gerhard's


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


def check_local_files(side: Side, c: Committed, here: dict[str, FileInfo], checksum: bool) -> None:
    """Refuse to push a run whose files disagree with its MANIFEST in git (before anything is written)."""
    folder = layout.run_dir(c.run_id)
    if MANIFEST_NAME in here and not c.same(MANIFEST_NAME, _read(side, c.run_id, MANIFEST_NAME)):
        raise UserError(
            f"{folder}/{MANIFEST_NAME} differs from the MANIFEST in git (HEAD): restore it with "
            f"'git checkout -- {folder}/{MANIFEST_NAME}' before pushing"
        )
    for rel, (size, sha) in sorted(c.files.items()):
        info = here.get(rel)
        if info is None:
            continue  # a remote-stored file not fetched here: nothing to push
        if info.size != size or (checksum and side.sha256(c.run_id, rel) != sha):
            raise UserError(
                f"{folder}/{rel} does not match its MANIFEST (size {size}, sha256 {sha[:12]}…): "
                f"restore it ('gerhard sync pull --run-id {c.run_id}' or 'git checkout') before pushing"
            )


def _read(side: Side, run_id: str, rel: str) -> bytes | None:
    """A small file of a run folder (its MANIFEST, its .gitignore), None when it cannot be read."""
    try:
        with side.open(f"{side.run_dir(run_id)}/{rel}", "rb") as f:
            return bytes(f.read(MAX_GIT_OWN_BYTES + 1))
    except (OSError, ValueError):
        return None


def plan(
    run_id: str,
    src: Side,
    dst: Side,
    manifest: Manifest,
    checksum: bool,
    have: dict[str, FileInfo] | None = None,
) -> list[Step]:
    """What a push does with each file of one run folder: copy, skip (up to date) or refuse (and why).
    `have`: the source's listing, when the caller has it already. The destination is asked only for
    the source's names, never for an unsafe one (it could lead out of the folder); a file only there
    is left as it is."""
    have = src.listing(run_id) if have is None else have
    there = dst.lookup(run_id, [rel for rel in have if _safe(rel)])
    tolerance = _tolerance(dst)
    steps = []
    for rel in sorted(have):
        s, d = have[rel], there.get(rel)
        if not _safe(rel):
            steps.append(Step(run_id, rel, "refuse", s.size, "unsafe name: not copied"))
        else:
            steps.append(_by_time_or_checksum(run_id, rel, s, d, src, dst, manifest, checksum, tolerance))
    return steps


def _tolerance(dst: Side) -> float:
    return 1e-3 if dst.local else 2.0  # object stores keep whole seconds and the upload time


def _by_time_or_checksum(
    run_id: str,
    rel: str,
    s: FileInfo,
    d: FileInfo | None,
    src: Side,
    dst: Side,
    manifest: Manifest,
    checksum: bool,
    tolerance: float,
) -> Step:
    if d is None:
        return Step(run_id, rel, "copy", s.size, "missing at the destination", s.mtime)
    if checksum:
        return _by_checksum(run_id, rel, s, d, src, dst, manifest, tolerance)
    if s.mtime > d.mtime + tolerance:
        return Step(run_id, rel, "copy", s.size, "newer at the source", s.mtime)
    if d.size == s.size:  # the same time, or the upload's later one
        return Step(run_id, rel, "skip", s.size, "up to date")
    return Step(run_id, rel, "refuse", s.size, "newer at the destination: not overwritten")


def plan_pull(
    c: Committed, src: Side, dst: Side, checksum: bool, have: dict[str, FileInfo] | None = None
) -> list[Step]:
    """What a pull does with each file of one run: only the files of its MANIFEST in git come back, the
    heavy ones (`stored: remote`) and those missing here, each verified against it when copied; a file
    git tracks is never replaced. The remote's MANIFEST and .gitignore must be git's (a changed one is
    refused and named); an unsafe name is refused; any other file there is left there."""
    run_id = c.run_id
    have = src.listing(run_id) if have is None else have
    there = dst.lookup(run_id, [rel for rel in c.files if _safe(rel)])
    tolerance = _tolerance(dst)
    steps = []
    for rel in sorted(have.keys() | c.files.keys()):
        s, size = have.get(rel), c.files.get(rel, (0, ""))[0]
        if not _safe(rel):
            steps.append(Step(run_id, rel, "refuse", s.size if s else size, "unsafe name: not copied"))
        elif rel in GIT_OWN:
            steps.append(_git_own(c, rel, src, s))
        elif rel not in c.files:
            steps.append(Step(run_id, rel, "skip", s.size if s else 0, NOT_LISTED))
        elif s is None:
            if rel not in there:
                steps.append(Step(run_id, rel, "refuse", size, f"not at {src.label}: {PUSH_IT}"))
        elif c.tracked(rel) and rel in there:
            steps.append(Step(run_id, rel, "skip", s.size, "in git: never replaced by a pull"))
        else:
            steps.append(_by_time_or_checksum(run_id, rel, s, there.get(rel), src, dst, c.files, checksum, tolerance))
    return steps


def _git_own(c: Committed, rel: str, src: Side, s: FileInfo | None) -> Step:
    """The remote's copy of the MANIFEST or .gitignore: never pulled (git holds them), compared with git's."""
    if s is None or c.same(rel, _read(src, c.run_id, rel)):
        return Step(c.run_id, rel, "skip", s.size if s else 0, "the same as in git")
    return Step(
        c.run_id,
        rel,
        "refuse",
        s.size,
        f"differs from the {rel} in git (HEAD), not pulled: {REPLACE}",
    )


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
    if rel in GIT_OWN:
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
    with writing(dst, tmp) as ours:  # held until the move: doctor leaves it alone
        if not ours:
            return "another gerhard sync is copying it now: not copied, run the command again when it ends"
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


def execute(result: SyncResult, src: Side, dst: Side, manifests: Mapping[str, Committed], checksum: bool) -> None:
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
                copy_one(result.steps[i], src, dst, manifests[result.steps[i].run_id].files, checksum, bar.update, made)
                for i in run_copies
            ]
            if src.local and dst.atomic_uploads:
                done = check_uploads(done, dst)
            for i, step in zip(run_copies, done, strict=True):
                result.steps[i] = step


def verify_run(c: Committed, side: Side) -> tuple[int, list[str]]:
    """(files checked, problems): the remote has every file of the run's MANIFEST in git with its size
    and sha256, and its copy of the MANIFEST is git's."""
    there = side.listing(c.run_id)
    where = f"{side.label.rstrip('/')}/{c.run_id}"
    problems = []
    if MANIFEST_NAME in there and not c.same(MANIFEST_NAME, _read(side, c.run_id, MANIFEST_NAME)):
        problems.append(f"{where}/{MANIFEST_NAME} differs from the MANIFEST in git (HEAD): {REPLACE}")
    for rel, (size, sha) in sorted(c.files.items()):
        info = there.get(rel)
        if info is None:
            problems.append(f"{where}/{rel} is missing: gerhard sync push --run-id {c.run_id}")
        elif info.size != size:
            problems.append(f"{where}/{rel} is {info.size} bytes, the MANIFEST lists {size}")
        elif side.sha256(c.run_id, rel) != sha:
            problems.append(f"{where}/{rel} has sha256 differing from the MANIFEST ({sha[:12]}…)")
    return len(c.files), problems
