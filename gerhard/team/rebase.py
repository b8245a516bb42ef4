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

Heavy files (`stored: remote` in the MANIFEST, git-ignored) are not in `git archive`: their local
copies are checked against the MANIFEST and moved beside the archived bundle (in the git dir) before
the branch moves, so the replayed run is the same bundle, hash and `stored: remote` entries alike.
Whatever happens, they are put back in outputs/<run_id>/ (by the next rebase, if this one is killed).
One that is not here (a clone that never ran `gerhard sync pull`) is replayed as the MANIFEST lists it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from gerhard.errors import GitError, UserError
from gerhard.flows import registration as flows_registration
from gerhard.formats.yamlio import read_state_yaml
from gerhard.git import gitrepo
from gerhard.layout import record_path
from gerhard.registry.heavy import check_heavy_here, put_heavy_back, set_heavy_aside
from gerhard.team.push import keep_bundle, reset_keep

REBASE_DIR = "gerhard-rebase"  # in the git dir: each replayed run's bundle, its heavy files moved there


@dataclass(frozen=True)
class Step:
    sha: str
    run_id: str | None  # a registration commit's run, else None (cherry-picked)
    subject: str


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
        sha = gitrepo.run_git(root, "rev-parse", "-q", "--verify", f"{rev}^{{commit}}", check=False).decode().strip()
        if sha:
            return sha
    if base:
        raise UserError(f"{base} is not a commit here: fetch it first (git fetch origin), then pass it again")
    raise UserError("this branch has no upstream to rebase on: pass the base, e.g. 'gerhard rebase origin/main'")


def save_bundles(root: Path, steps: list[Step]) -> dict[str, tuple[Path, dict]]:
    """Each registration's archived bundle (its MANIFEST kept) and record, as committed on the branch,
    kept in the git dir. Refused before anything moves when a heavy file here is not as registered."""
    saved = {}
    for step in steps:
        if step.run_id is None:
            continue
        dest = keep_bundle(root, step.sha, step.run_id, aside_dir(root) / step.run_id / "bundle")
        check_heavy_here(root, step.run_id, dest, then="then rebase again")
        text = gitrepo.run_git(root, "show", f"{step.sha}:{record_path(step.run_id)}").decode()
        saved[step.run_id] = (dest, read_state_yaml(text, record_path(step.run_id)))
    return saved


def aside_dir(root: Path) -> Path:
    return gitrepo.info(root).git_dir / REBASE_DIR


def rebase(root: Path, base: str | None = None, verify: bool = True) -> tuple[list[Replayed], list[str]]:
    """Replay this branch on base; (registrations replayed, other commits cherry-picked)."""
    head = gitrepo.head(root)
    gitrepo.check_committable(root, head)
    put_heavy_back(root, aside_dir(root))  # a killed rebase's
    target = resolve_base(root, base)
    steps = branch_steps(root, target)
    if not steps:
        return [], []
    original = str(head.sha)
    try:
        saved = save_bundles(root, steps)
        set_heavy_aside(root, {run_id: folder for run_id, (folder, _) in saved.items()})
        reset_keep(root, target)
        return replay_steps(root, steps, saved, original, target, verify)
    finally:
        put_heavy_back(root, aside_dir(root))


def replay_steps(
    root: Path, steps: list[Step], saved: dict[str, tuple[Path, dict]], original: str, target: str, verify: bool
) -> tuple[list[Replayed], list[str]]:
    replayed, picked = [], []
    try:
        for step in steps:
            if step.run_id is None:
                cherry_pick(root, step, original)
                picked.append(step.subject)
                continue
            folder, record = saved[step.run_id]
            result = flows_registration.register(
                step.run_id, record["phase"], folder, root, record.get("summary", ""),
                record.get("next_action", ""), force=bool(record.get("forced")), verify=verify,
                absent_remote=True,
            )  # fmt: skip
            replayed.append(Replayed(step.run_id, record["verdict"], result.verdict, str(result.commit)))
    except UserError as e:
        reset_keep(root, original)
        raise GitError(
            f"cannot replay the branch on {target[:12]} ({e}); the branch is back at {original[:12]}"
        ) from None
    return replayed, picked


def cherry_pick(root: Path, step: Step, original: str) -> None:
    proc = subprocess.run(["git", "cherry-pick", "--allow-empty", step.sha], cwd=root, capture_output=True)
    if proc.returncode != 0:
        subprocess.run(["git", "cherry-pick", "--abort"], cwd=root, capture_output=True)
        raise UserError(
            f"commit {step.sha[:12]} ({step.subject}) does not apply on the new base: "
            f"{gitrepo.last_line(proc.stderr, proc.returncode)}; rebase it by hand (git rebase), then run "
            "'gerhard rebuild --commit'"
        )
