"""gerhard rebase: bring a branch that registered runs up to date with its base, without conflicts.

A hosting service merges pull requests without custom merge drivers, so once one pull request that
registered a run is merged, the next one conflicts in every derived file. `gerhard rebase BASE`
replays the branch on BASE: each registration commit is registered again from its own archived
bundle (derived files recomputed, gates re-evaluated against the baselines on BASE, sequence
numbers after BASE's runs), each other commit is cherry-picked. Then the branch fast-forwards.

History and what is recomputed: a run's record (its verdict, gates, sequence number) is what it got
when it was registered on the branch it lands on; replaying it on a new base registers it again, so
the record says what it is on the base it lands on. Phase states, baselines, the ledger, the index
and the status board are always recomputed from the records (`gerhard rebuild`).

The whole rebase is one transaction (gerhard.team.replay, gerhard.git.rewrite): interrupted anywhere
(a refused step, an error, Ctrl-C, a kill), the branch is as it was (commits, index, work tree, heavy
files) or fully replayed, settled by this process, else by the next gerhard command or `gerhard doctor`.
Heavy files (`stored: remote`, git-ignored) are checked against the MANIFEST and set aside while the
branch moves; one that is not here (a clone that never ran `gerhard sync pull`) is replayed as listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gerhard.errors import GitError, UserError
from gerhard.git import gitrepo
from gerhard.git.transaction import checkpoint
from gerhard.team import replay
from gerhard.team.replay import Step

REFLOG_ACTION = "gerhard rebase"


@dataclass(frozen=True)
class Replayed:
    run_id: str
    before: str  # verdict on the branch
    after: str  # verdict on the new base
    commit: str


def branch_steps(root: Path, base: str) -> list[Step]:
    fmt = (
        "%H%x00%(trailers:key=Gerhard-Run-Id,valueonly,separator=)%x00%(trailers:key=Gerhard-Decision,valueonly)%x00%s"
    )
    out = gitrepo.run_git(root, "log", "--reverse", "--first-parent", f"--format={fmt}", f"{base}..HEAD").decode()
    steps = []
    for line in filter(None, out.splitlines()):
        sha, run_id, decision, subject = line.split("\0", 3)
        registration = subject.startswith("register ") and run_id.strip() and not decision.strip()
        steps.append(Step(sha, run_id.strip() if registration else None, subject))
    return steps


def resolve_base(root: Path, base: str | None) -> str:
    candidates = [base] if base else ["@{upstream}", "origin/HEAD", "origin/main"]
    for rev in candidates:
        sha = gitrepo.ref_value(root, rev)
        if sha:
            return sha
    if base:
        raise UserError(f"{base} is not a commit here: fetch it first (git fetch origin), then pass it again")
    raise UserError("this branch has no upstream to rebase on: pass the base, e.g. 'gerhard rebase origin/main'")


def rebase(root: Path, base: str | None = None, verify: bool = True) -> tuple[list[Replayed], list[str]]:
    """Replay this branch on base; (registrations replayed, other commits cherry-picked)."""
    head = gitrepo.head(root)
    gitrepo.check_committable(root, head)
    target = resolve_base(root, base)
    steps = branch_steps(root, target)
    if not steps:
        return [], []
    original, branch = str(head.sha), head.ref.removeprefix("refs/heads/")
    finished = f"branch {branch} holds the full replay on {target[:12]}; next: git push --force-with-lease"
    rw = None
    try:
        with replay.rewriting(root, f"rebase of {branch} on {target[:12]}", finished) as rw:
            if rw.data["old"] != original:  # another gerhard command committed while this one waited for the lock
                raise GitError(f"branch {branch} moved while the rebase waited for the registry lock: rebase again")
            saved, picked = replay.replay(root, rw, steps, target, verify, "then rebase again", REFLOG_ACTION)
            rw.mark_done(str(gitrepo.head(root).sha))
            checkpoint("rebase-done")
    except replay.StepRefused as e:
        raise GitError(
            f"cannot replay the branch on {target[:12]} ({e.cause}); the branch is back at {original[:12]}"
            + replay.not_as_before(rw)
        ) from None
    replayed = [Replayed(r.run_id, str(s.record["verdict"]), r.verdict, str(r.commit)) for s, r in saved]
    return replayed, picked
