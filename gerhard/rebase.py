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
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gerhard import gitrepo
from gerhard.bundle import MANIFEST_NAME, sha256_file
from gerhard.errors import GitError, UserError
from gerhard.push import reset_keep

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
    kept in the git dir. Refused before anything moves when a heavy file is not here as registered."""
    from gerhard.state import record_path
    from gerhard.yamlio import read_state_yaml

    saved = {}
    for step in steps:
        if step.run_id is None:
            continue
        dest = aside_dir(root) / step.run_id / "bundle"
        dest.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", step.sha, f"outputs/{step.run_id}/"], cwd=root, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest), "--strip-components=2"], input=archive, check=True)
        check_heavy_here(root, step.run_id, dest)
        text = gitrepo.run_git(root, "show", f"{step.sha}:{record_path(step.run_id)}").decode()
        saved[step.run_id] = (dest, read_state_yaml(text, record_path(step.run_id)))
    return saved


def aside_dir(root: Path) -> Path:
    return gitrepo.info(root).git_dir / REBASE_DIR


def heavy_entries(bundle: Path) -> list[dict]:
    """The MANIFEST entries of an archived bundle's heavy files (`stored: remote`, not in git)."""
    doc = json.loads((bundle / MANIFEST_NAME).read_bytes())
    return [f for f in doc["files"] if f.get("stored") == "remote"]


def check_heavy_here(root: Path, run_id: str, bundle: Path) -> None:
    for entry in heavy_entries(bundle):
        rel = f"outputs/{run_id}/{entry['path']}"
        local = root / rel
        if not local.is_file():
            raise UserError(
                f"{rel} is stored remote and not here: the replayed run must carry the same bytes; fetch it "
                f"with 'gerhard sync pull --run-id {run_id}', then rebase again"
            )
        if local.stat().st_size != entry["size"] or sha256_file(local) != entry["sha256"]:
            raise UserError(
                f"{rel} changed since run {run_id} was registered (its MANIFEST lists {entry['size']} bytes, sha256 "
                f"{entry['sha256'][:12]}…): the replayed run must carry the same bytes; move yours away and "
                f"fetch the registered one with 'gerhard sync pull --run-id {run_id}', then rebase again"
            )


def set_heavy_aside(root: Path, saved: dict[str, tuple[Path, dict]]) -> None:
    """Move the heavy files into their saved bundles: outputs/<run_id>/ must not exist when the run
    is registered again on the base (and the replay copies them back, verified)."""
    for run_id, (bundle, _) in saved.items():
        home = root / "outputs" / run_id
        for entry in heavy_entries(bundle):
            (bundle / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(home / entry["path"], bundle / entry["path"])
            folder = (home / entry["path"]).parent
            while folder != home and not any(folder.iterdir()):  # git leaves folders it never tracked
                folder.rmdir()
                folder = folder.parent


def put_heavy_back(root: Path) -> None:
    """Heavy files set aside and not placed again by a replay go back to outputs/<run_id>/; then the
    saved bundles are removed. Also run first, for a rebase that was killed mid-way."""
    aside = aside_dir(root)
    for bundle in sorted(aside.glob(f"*/bundle/{MANIFEST_NAME}")) if aside.is_dir() else []:
        run_id = bundle.parent.parent.name
        for entry in heavy_entries(bundle.parent):
            moved, home = bundle.parent / entry["path"], root / "outputs" / run_id / entry["path"]
            if moved.is_file() and not home.exists():
                home.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(moved, home)
    shutil.rmtree(aside, ignore_errors=True)


def rebase(root: Path, base: str | None = None, verify: bool = True) -> tuple[list[Replayed], list[str]]:
    """Replay this branch on base; (registrations replayed, other commits cherry-picked)."""
    head = gitrepo.head(root)
    gitrepo.check_committable(root, head)
    put_heavy_back(root)  # a killed rebase's
    target = resolve_base(root, base)
    steps = branch_steps(root, target)
    if not steps:
        return [], []
    original = str(head.sha)
    try:
        saved = save_bundles(root, steps)
        set_heavy_aside(root, saved)
        reset_keep(root, target)
        return replay_steps(root, steps, saved, original, target, verify)
    finally:
        put_heavy_back(root)


def replay_steps(
    root: Path, steps: list[Step], saved: dict[str, tuple[Path, dict]], original: str, target: str, verify: bool
) -> tuple[list[Replayed], list[str]]:
    from gerhard.registration import register

    replayed, picked = [], []
    try:
        for step in steps:
            if step.run_id is None:
                cherry_pick(root, step, original)
                picked.append(step.subject)
                continue
            folder, record = saved[step.run_id]
            result = register(
                step.run_id, record["phase"], folder, root, record.get("summary", ""),
                record.get("next_action", ""), force=bool(record.get("forced")), verify=verify,
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
