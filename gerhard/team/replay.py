"""Registrations made again on another commit: `gerhard rebase` replays a branch on its base, and
`register --push` its registration on a remote that moved. One replay serves both, always inside one
rewrite transaction (gerhard.git.rewrite), so an interruption anywhere leaves the branch as it was or
fully replayed.

    archive each registration's bundle → check and set its heavy files aside → move the branch to the
    target → each step: a registration is registered again, any other commit is cherry-picked → heavy
    files home

A registration is registered again from its own archived bundle (outputs/<run_id>/ as its commit holds
it, MANIFEST kept, so the bundle hash and `stored: remote` entries are the same) and its record's text:
derived files recomputed, gates re-evaluated against the baselines there, the sequence number after
the target's runs. Heavy files (stored remote, git-ignored) are not in the archive: their local copies
are checked against the MANIFEST and moved into the journal folder while outputs/<run_id>/ must be
absent, then moved home again; the run is replayed as its MANIFEST lists them (load_bundle's
absent_remote), so nothing is copied.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.errors import GerhardError, GitError, UserError
from gerhard.flows import registration
from gerhard.flows.registration import RegistrationResult
from gerhard.formats.yamlio import read_state_yaml
from gerhard.git import checkout, gitrepo, rewrite
from gerhard.git.journal import settle_locked
from gerhard.git.lock import registry_lock
from gerhard.git.transaction import checkpoint, terminate_as_interrupt
from gerhard.registry.heavy import check_heavy_here, heavy_entries


@dataclass(frozen=True)
class Step:
    sha: str
    run_id: str | None  # a registration commit's run, else None (cherry-picked)
    subject: str


@dataclass(frozen=True)
class Saved:
    folder: Path  # the archived bundle, extracted into the journal folder
    record: dict[str, Any]  # the run's record as the step's commit holds it


class StepRefused(GitError):
    """A step cannot be made on the target (the registration refused, the commit does not apply); the
    rewrite is undone. `cause` is the step's own message."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


@contextmanager
def rewriting(root: Path, what: str, finished: str) -> Iterator[rewrite.Rewrite]:
    """The registry lock held and the branch's old head journaled for the block. Leaving it with the
    rewrite marked done finishes it (heavy files home); any other way out (an error, Ctrl-C, `kill`)
    undoes it first, and on Ctrl-C says on stderr how it went; `rw.undone` tells the caller."""
    with registry_lock(root), terminate_as_interrupt():
        settle_locked(root)
        head = gitrepo.head(root)
        gitrepo.check_committable(root, head)
        if head.sha is None:
            raise GitError("the branch has no commits yet: there is nothing to replay")
        rw = rewrite.begin(gitrepo.info(root), what, finished, head.ref, head.sha)
        try:
            yield rw
        except BaseException as e:
            settle_here(rw, e)
            raise
        if not rw.data.get("done"):  # left without being done: as if it never began
            rw.undone = rewrite.roll_back(rw)
            return
        left = rw.put_back()
        rewrite.clear(rw)
        if left:
            print(f"gerhard: {rewrite.finish_note(left)}", file=sys.stderr)


def settle_here(rw: rewrite.Rewrite, cause: BaseException) -> None:
    """Stopped by `cause`: finished when it was done (past its commit point), else undone. Says on
    stderr which, unless cause is an error whose own message says what became of the branch."""
    try:
        if rw.data.get("done"):
            said = rewrite.finish(rw)
        else:
            rw.undone = rewrite.roll_back(rw)
            said = rw.undone.message
    except Exception as e:  # noqa: BLE001 - the journal stays: doctor settles it
        rewrite.ACTIVE.discard(rw.dir)
        raise GitError(
            f"the {rw.what} stopped ({cause or type(cause).__name__}) and could not be settled ({e}): "
            "run 'gerhard doctor' to finish or undo it"
        ) from None
    if not isinstance(cause, GerhardError):
        print(f"gerhard: {said}", file=sys.stderr)


def not_as_before(rw: rewrite.Rewrite | None) -> str:
    """'' when the undo left everything as before, else what it could not."""
    return "" if rw is None or rw.undone is None or rw.undone.exact else f" ({rw.undone.message})"


def replay(
    root: Path, rw: rewrite.Rewrite, steps: list[Step], target: str, verify: bool, then: str, action: str
) -> tuple[list[tuple[Saved, RegistrationResult]], list[str]]:
    """The steps made again on target, in order: (each registration's saved bundle and record with its
    new result, the subjects of the commits cherry-picked). `then`: what the user runs after fixing a
    refusal; `action`: the reflog's name for the move. A refused step raises StepRefused."""
    saved = save_bundles(root, rw, steps, then)
    set_aside_heavy_files(rw, saved)
    checkpoint("replay-aside")
    move_branch(root, rw, target, action, then)
    checkpoint("replay-moved")
    replayed, picked = [], []
    try:
        for n, step in enumerate(steps, 1):
            if step.run_id is None:
                rw.picking(step.sha)
                pick(root, step)
                picked.append(step.subject)
            else:
                replayed.append((saved[step.run_id], register_again(root, step.run_id, saved[step.run_id], verify)))
            checkpoint(f"replay-step-{n}")
    except UserError as e:
        raise StepRefused(str(e)) from None
    rw.put_back()  # home already: the next replay of a register --push sets them aside again
    return replayed, picked


def save_bundles(root: Path, rw: rewrite.Rewrite, steps: list[Step], then: str) -> dict[str, Saved]:
    """Each registration's archived bundle (its MANIFEST kept) and record, as committed, in the journal
    folder. Refused before anything moves when a heavy file here is not as registered."""
    saved = {}
    for step in steps:
        if step.run_id is None:
            continue
        dest = rw.bundles / step.run_id
        shutil.rmtree(dest, ignore_errors=True)
        checkout.export_folder(root, step.sha, layout.run_dir(step.run_id), dest)
        check_heavy_here(root, step.run_id, dest, then=then)
        rel = layout.record_path(step.run_id)
        text = (gitrepo.show(root, step.sha, rel) or b"").decode("utf-8", "replace")
        saved[step.run_id] = Saved(dest, read_state_yaml(text, rel))
    return saved


def set_aside_heavy_files(rw: rewrite.Rewrite, saved: dict[str, Saved]) -> None:
    """Heavy files here into the journal folder: outputs/<run_id>/ must not exist when the run is
    registered again. One not here (never pulled) is replayed as the MANIFEST lists it."""
    root, moves = rw.repo.root, []
    for run_id, bundle in saved.items():
        for entry in heavy_entries(bundle.folder):
            home = f"{layout.run_dir(run_id)}/{entry['path']}"
            if (root / home).exists():
                moves.append((home, f"heavy/{run_id}/{entry['path']}"))
    rw.set_aside(moves)


def move_branch(root: Path, rw: rewrite.Rewrite, target: str, action: str, then: str) -> None:
    head = gitrepo.head(root)
    rw.going_to(*(c for c in (head.sha, target) if c))
    try:
        checkout.reset_keep(root, target, action)
    except GitError as e:
        raise GitError(
            f"cannot move the branch to {target[:12]} to replay the registration ({e}): commit or stash your "
            f"changes to those files, {then}"
        ) from None


def pick(root: Path, step: Step) -> None:
    try:
        checkout.cherry_pick(root, step.sha)
    except GitError as e:
        raise UserError(
            f"commit {step.sha[:12]} ({step.subject}) does not apply on the new base: {e}; rebase it by hand "
            "(git rebase), then run 'gerhard rebuild --commit'"
        ) from None


def register_again(root: Path, run_id: str, saved: Saved, verify: bool) -> RegistrationResult:
    record = saved.record
    return registration.register(
        run_id, str(record["phase"]), saved.folder, root, str(record.get("summary") or ""),
        str(record.get("next_action") or ""), force=bool(record.get("forced")), verify=verify, absent_remote=True,
        allow_duplicate=True, allow_missing=True,  # accepted when it was first registered
    )  # fmt: skip
