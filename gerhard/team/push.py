"""register --push: push the registration commit; when the remote moved, replay it on the new head.

A replay is a new registration of the same bundle on top of the fetched head (gerhard.team.replay):
the per-run files are the same, the derived files are recomputed (never text-merged), the gates are
re-evaluated against the baselines there and the commit carries the replayed verdict and sequence
number. So the order runs land in is the order the registry records. Bounded retries with backoff.

The registration, its replays and the push are one transaction (gerhard.git.rewrite), whose commit
point is the push: if the run cannot be pushed (the replay is refused, the remote keeps moving, the
push fails) or the command is interrupted, the clone is as before the command, and exit 2 means
exactly that; otherwise the run is registered and pushed.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from gerhard.errors import GitError, UserError
from gerhard.flows.registration import RegistrationResult
from gerhard.git import gitrepo, remote, rewrite
from gerhard.git.journal import settle_pending
from gerhard.git.transaction import checkpoint
from gerhard.team import replay

ATTEMPTS = 8
REFLOG_ACTION = "gerhard register --push (replay)"
AGAIN = "then register again with --push"
AS_BEFORE = "nothing was registered or pushed (the clone is as before the command)"


@dataclass(frozen=True)
class Upstream:
    remote: str
    branch: str  # the remote's branch name (refs/heads/ stripped)
    tracking: str  # refs/remotes/<remote>/<branch>


def upstream_of(root: Path, head: gitrepo.Head) -> Upstream:
    name = head.ref.removeprefix("refs/heads/")
    remote_name = gitrepo.config_value(root, f"branch.{name}.remote")
    merge = gitrepo.config_value(root, f"branch.{name}.merge")
    if head.ref == "HEAD" or not remote_name or not merge or remote_name == ".":
        raise GitError(
            f"branch {name} has no upstream to push to: push it once with 'git push -u origin {name}', "
            "then register with --push"
        )
    branch = merge.removeprefix("refs/heads/")
    return Upstream(remote_name, branch, f"refs/remotes/{remote_name}/{branch}")


def check_nothing_else_to_push(root: Path, up: Upstream) -> None:
    """--push publishes the registration only: commits of the user's own waiting on the branch must go first."""
    remote.fetch(root, up.remote, up.branch, up.tracking)
    ahead = gitrepo.run_git(root, "rev-list", "--count", f"{up.tracking}..HEAD").decode().strip()
    if ahead != "0":
        raise GitError(
            f"the branch has {ahead} commit(s) not on {up.remote}/{up.branch}: push or drop them first "
            f"(git push), then register with --push"
        )


def register_and_push(root: Path, first: Callable[[], RegistrationResult], verify: bool = True) -> RegistrationResult:
    """`first()` registers (a folder or a dossier); then push, replaying until it lands. Whatever stops
    it before the push landed leaves the clone as before the command."""
    root = gitrepo.find_root(root)
    settle_pending(root)
    up = upstream_of(root, gitrepo.head(root))
    check_nothing_else_to_push(root, up)
    rw, result = None, None
    try:
        with replay.rewriting(root, "register --push", "the run is registered and pushed") as rw:
            result = first()
            rw.save(what=f"register --push of run {result.run_id}")
            checkpoint("push-registered")
            result = push_until_landed(root, up, rw, result, verify)
            rw.mark_done(str(gitrepo.head(root).sha))
            checkpoint("push-done")
        return result
    except replay.StepRefused as e:
        assert result is not None
        raise GitError(
            f"run {result.run_id} cannot be replayed on {up.remote}/{up.branch} ({e.cause}); {AS_BEFORE}"
            + replay.not_as_before(rw)
        ) from None
    except UserError as e:
        if result is None:  # refused by the registration itself: nothing was made
            raise
        raise GitError(f"{e}; {AS_BEFORE}" + replay.not_as_before(rw)) from None


def push_until_landed(
    root: Path, up: Upstream, rw: rewrite.Rewrite, result: RegistrationResult, verify: bool
) -> RegistrationResult:
    for attempt in range(ATTEMPTS):
        try:
            if remote.push_head(root, up.remote, up.branch):
                return result
        except GitError as e:
            raise GitError(f"{e}: check the remote and your network, {AGAIN}") from None
        time.sleep(random.uniform(0.05, 0.2) * 2 ** min(attempt, 4))  # the others are pushing too
        remote.fetch(root, up.remote, up.branch, up.tracking)
        result = replay_on(root, up, rw, result, verify)
    raise GitError(f"{up.remote}/{up.branch} kept moving: {ATTEMPTS} pushes of run {result.run_id} were rejected")


def replay_on(
    root: Path, up: Upstream, rw: rewrite.Rewrite, result: RegistrationResult, verify: bool
) -> RegistrationResult:
    """The registration commit at HEAD made again on the fetched head (gerhard.team.replay)."""
    head = gitrepo.head(root)
    target = gitrepo.ref_value(root, up.tracking)
    if target is None or head.sha is None or gitrepo.is_ancestor(root, head.sha, target):
        return result  # already on the remote: the next push is a no-op
    step = replay.Step(head.sha, result.run_id, f"register {result.run_id}")
    ((_, replayed),), _ = replay.replay(root, rw, [step], target, verify, AGAIN, REFLOG_ACTION)
    if replayed.verdict != result.verdict:
        print(
            f"gerhard: {up.remote} moved; run {result.run_id} replayed on it: {result.verdict} became "
            f"{replayed.verdict} against the baselines there",
            file=sys.stderr,
        )
    return replace(replayed, skipped=result.skipped)
