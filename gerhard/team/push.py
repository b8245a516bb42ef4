"""register --push: push the registration commit; when the remote moved, replay it on the new head.

A replay is a new registration of the same bundle on top of the fetched head: the per-run files
are the same, the derived files are recomputed (never text-merged), the gates are re-evaluated
against the baselines there and the commit carries the replayed verdict and sequence number. So
the order runs land in is the order the registry records. Bounded retries with backoff, then a
clear message; the registration is never lost (it stays a local commit if it cannot be pushed).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from gerhard import layout
from gerhard.errors import GitError, UserError
from gerhard.flows import registration
from gerhard.flows.registration import RegistrationResult
from gerhard.git import gitrepo
from gerhard.registry import store
from gerhard.registry.heavy import check_heavy_here, put_heavy_back, set_heavy_aside

ATTEMPTS = 8
REPLAY_DIR = "gerhard-replay"  # in the git dir: the replayed run's archived bundle, its heavy files moved there
PUSH_LATER = "then run 'gerhard rebase' and 'git push'"
# The remote moved (rejected), or another push was updating the branch at that moment (remote rejected).
RETRYABLE = ("[rejected]", "fetch first", "non-fast-forward", "stale info", "cannot lock ref", "failed to update ref")


@dataclass(frozen=True)
class Upstream:
    remote: str
    branch: str  # the remote's branch name (refs/heads/ stripped)
    tracking: str  # refs/remotes/<remote>/<branch>


def upstream_of(root: Path, head: gitrepo.Head) -> Upstream:
    name = head.ref.removeprefix("refs/heads/")
    remote = gitrepo.config_value(root, f"branch.{name}.remote")
    merge = gitrepo.config_value(root, f"branch.{name}.merge")
    if head.ref == "HEAD" or not remote or not merge or remote == ".":
        raise GitError(
            f"branch {name} has no upstream to push to: push it once with 'git push -u origin {name}', "
            "then register with --push"
        )
    branch = merge.removeprefix("refs/heads/")
    return Upstream(remote, branch, f"refs/remotes/{remote}/{branch}")


def check_nothing_else_to_push(root: Path, up: Upstream) -> None:
    """--push publishes the registration only: commits of the user's own waiting on the branch must go first."""
    fetch(root, up)
    ahead = gitrepo.run_git(root, "rev-list", "--count", f"{up.tracking}..HEAD").decode().strip()
    if ahead != "0":
        raise GitError(
            f"the branch has {ahead} commit(s) not on {up.remote}/{up.branch}: push or drop them first "
            f"(git push), then register with --push"
        )


def fetch(root: Path, up: Upstream) -> None:
    refspec = f"+refs/heads/{up.branch}:{up.tracking}"
    proc = subprocess.run(["git", "fetch", "-q", up.remote, refspec], cwd=root, capture_output=True)
    if proc.returncode != 0:
        said = gitrepo.last_line(proc.stderr, proc.returncode)
        raise GitError(f"cannot fetch from {up.remote} ({said}): check the remote and your network, then try again")


def push_once(root: Path, up: Upstream) -> str | None:
    """None when pushed; 'rejected' when the remote moved; raises on any other failure."""
    proc = subprocess.run(
        ["git", "push", "--porcelain", up.remote, f"HEAD:refs/heads/{up.branch}"], cwd=root, capture_output=True
    )
    if proc.returncode == 0:
        return None
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    if any(word in out for word in RETRYABLE):
        return "rejected"
    raise GitError(
        f"the push to {up.remote} failed ({gitrepo.last_line(proc.stderr, proc.returncode)}): the registration is "
        "committed here; push it later with 'git push'"
    )


def register_and_push(root: Path, first: Callable[[], RegistrationResult], verify: bool = True) -> RegistrationResult:
    """`first()` registers (a folder or a dossier); then push, replaying until it lands."""
    root = gitrepo.find_root(root)
    up = upstream_of(root, gitrepo.head(root))
    check_nothing_else_to_push(root, up)
    result = first()
    for attempt in range(ATTEMPTS):
        if push_once(root, up) is None:
            return result
        time.sleep(random.uniform(0.05, 0.2) * 2 ** min(attempt, 4))  # the others are pushing too
        fetch(root, up)
        result = replay(root, up, result, verify)
    raise GitError(
        f"{up.remote}/{up.branch} kept moving: {ATTEMPTS} pushes were rejected. Run {result.run_id} is registered "
        f"here as commit {str(result.commit)[:12]}; later, run 'gerhard rebase' and then 'git push'"
    )


def replay(root: Path, up: Upstream, result: RegistrationResult, verify: bool) -> RegistrationResult:
    """The registration commit at HEAD made again on the fetched head: its archived bundle (MANIFEST
    kept, so the bundle hash and `stored: remote` entries are the same) and its heavy files kept aside
    in the git dir meanwhile, the heavy files put back whatever happens (by the next replay if killed)."""
    head = gitrepo.head(root)
    target = gitrepo.ref_value(root, up.tracking)
    if target is None or head.sha is None or gitrepo.is_ancestor(root, head.sha, target):
        return result  # already on the remote: the next push is a no-op
    original, aside = head.sha, gitrepo.info(root).git_dir / REPLAY_DIR
    put_heavy_back(root, aside)  # a killed replay's
    try:
        replayed = register_again(root, result, original, target, aside / result.run_id / "bundle", verify)
    except UserError as e:
        raise GitError(
            f"run {result.run_id} cannot be replayed on {up.remote}/{up.branch} ({e}); it stays registered here "
            f"as commit {original[:12]}, not pushed"
        ) from None
    finally:
        put_heavy_back(root, aside)
    if replayed.verdict != result.verdict:
        print(
            f"gerhard: {up.remote} moved; run {result.run_id} replayed on it: {result.verdict} became "
            f"{replayed.verdict} against the baselines there",
            file=sys.stderr,
        )
    return replace(replayed, skipped=result.skipped)


def register_again(
    root: Path, result: RegistrationResult, original: str, target: str, folder: Path, verify: bool
) -> RegistrationResult:
    """Register the run of commit `original` again on `target`; on a refusal the branch goes back."""
    record = store.read_record(root, result.run_id) or {}
    keep_bundle(root, original, result.run_id, folder)
    check_heavy_here(root, result.run_id, folder, then=PUSH_LATER)
    set_heavy_aside(root, {result.run_id: folder})
    reset_keep(root, target)
    try:
        return registration.register(
            result.run_id,
            result.phase,
            folder,
            root,
            record.get("summary", ""),
            record.get("next_action", ""),
            force=bool(record.get("forced")),
            verify=verify,
            absent_remote=True,
        )
    except UserError:
        reset_keep(root, original)
        raise


def keep_bundle(root: Path, commit: str, run_id: str, dest: Path) -> Path:
    """outputs/<run_id>/ as `commit` holds it (MANIFEST and .gitignore kept; heavy files are not in
    git) extracted into dest, a new folder in the git dir, to register it again."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    archive = gitrepo.run_git(root, "archive", commit, f"{layout.run_dir(run_id)}/")
    subprocess.run(["tar", "-x", "-C", str(dest), "--strip-components=2"], input=archive, check=True)
    return dest


def reset_keep(root: Path, commit: str) -> None:
    env = dict(os.environ, GIT_REFLOG_ACTION="gerhard register --push (replay)")
    proc = subprocess.run(["git", "reset", "-q", "--keep", commit], cwd=root, capture_output=True, env=env)
    if proc.returncode != 0:
        raise GitError(
            f"cannot move the branch to {commit[:12]} to replay the registration "
            f"({gitrepo.last_line(proc.stderr, proc.returncode)}): commit or stash your changes to those files, "
            "then push by hand (git pull --rebase; git push)"
        )
