"""Pull requests as a hosting service merges them: a bare remote, one clone per author on a branch, and a
host clone where only plain git runs (no gerhard, no merge driver configured), merging by each method."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from cli_helpers import Result, git_out, register_ok, run
from conftest import git

HOST_ENV_KEYS = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL")


def register_own(capsys, repo: Path, run_id: str, phase: str, bundle: Path) -> Result:
    """register_ok with a bundle of the run's own: a copy with a note naming it (a bundle that another
    run registered is a duplicate, which gerhard refuses)."""
    own = bundle.parent / f"{bundle.name}-{run_id}"
    if not own.exists():
        shutil.copytree(bundle, own)
        (own / "note.txt").write_text(f"{run_id}\n")
    return register_ok(capsys, repo, run_id, phase, own)


def bare_remote(registry: Path, tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(registry), str(bare))
    return bare


def clone(remote: Path, dest: Path, branch: str | None = None) -> Path:
    """A clone (origin/HEAD names main: gerhard knows the default branch), on a new branch if given."""
    git(remote.parent, "clone", "-q", str(remote), str(dest))
    if branch:
        git(dest, "switch", "-q", "-c", branch)
    return dest


def host(remote: Path, tmp_path: Path) -> Path:
    """The hosting service's side: a fresh clone of main, with no merge driver in its config."""
    where = tmp_path / "host"
    shutil.rmtree(where, ignore_errors=True)
    clone(remote, where)
    assert "merge.gerhard" not in git_out(where, "config", "--list")
    return where


def plain(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)


def merge_commit(remote: Path, tmp_path: Path, branch: str) -> None:
    """The merge button's 'Create a merge commit': git merge --no-ff."""
    where = host(remote, tmp_path)
    git(where, "fetch", "-q", "origin", branch)
    merged = plain(where, "merge", "--no-ff", "-m", f"Merge pull request from {branch}", f"origin/{branch}")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    git(where, "push", "-q", "origin", "main")


def squash_message(where: Path, branch: str, style: str) -> str:
    """The message a hosting service writes for a squash merge: GitHub's bullets of every commit's
    message, a separator and Co-authored-by lines; or GitLab's title only."""
    title = f"Pull request {branch} (#7)"
    if style == "gitlab":
        return title + "\n"
    messages = git_out(where, "log", "--reverse", "--format=%B%x00", f"main..origin/{branch}").split("\0")
    bullets = ["* " + m.strip() for m in messages if m.strip()]
    tail = "---------\n\nCo-authored-by: Someone Else <someone@example.com>\n"
    return title + "\n\n" + "\n\n".join(bullets) + "\n\n" + tail


def squash(remote: Path, tmp_path: Path, branch: str, style: str = "github") -> None:
    """'Squash and merge': one commit on main holding the branch's changes, with the service's message."""
    where = host(remote, tmp_path)
    git(where, "fetch", "-q", "origin", branch)
    merged = plain(where, "merge", "--squash", f"origin/{branch}")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    message = where / "squash-message.txt"
    message.write_text(squash_message(where, branch, style))
    git(where, "commit", "-q", "--no-verify", "-F", str(message))
    git(where, "push", "-q", "origin", "main")


def rebase_merge(remote: Path, tmp_path: Path, branch: str) -> None:
    """'Rebase and merge': the branch's commits replayed on main by plain git, then a fast-forward."""
    where = host(remote, tmp_path)
    git(where, "fetch", "-q", "origin", branch)
    git(where, "switch", "-q", "-c", "rebasing", f"origin/{branch}")
    rebased = plain(where, "rebase", "main")
    assert rebased.returncode == 0, rebased.stdout + rebased.stderr
    git(where, "switch", "-q", "main")
    git(where, "merge", "-q", "--ff-only", "rebasing")
    git(where, "push", "-q", "origin", "main")


MERGES = {
    "merge": merge_commit,
    "squash-github": lambda r, t, b: squash(r, t, b, "github"),
    "squash-gitlab": lambda r, t, b: squash(r, t, b, "gitlab"),
    "rebase": rebase_merge,
}


def refresh(remote: Path, tmp_path: Path, capsys, *how: str) -> str:
    """The CI workflow's step on a push to main: the merged runs folded into the aggregates, pushed."""
    where = host(remote, tmp_path)
    done = run(capsys, "rebuild", "--commit", "--repo", where, *how)
    assert done.rc == 0, done.err
    git(where, "push", "-q", "origin", "main")
    return done.err


def decide_on_a_branch(capsys, remote: Path, tmp_path: Path, branch: str, run_id: str, *decision: str) -> Path:
    """The author's clone on a new branch off main, where `gerhard decide run_id *decision` (a run of main)
    commits the decision file only: the run's folds and needs-input file are the default branch's."""
    author = clone(remote, tmp_path / "author", branch)
    decided = run(capsys, "decide", run_id, *decision, "--repo", author)
    assert decided.rc == 0, decided.err
    assert git_out(author, "show", "--name-only", "--format=", "HEAD").split() == [f"state/decisions/{run_id}.yaml"]
    return author


def assert_checks(capsys, repo: Path) -> None:
    """gerhard check passes, and the state files are what a rebuild writes."""
    checked = run(capsys, "check", "--repo", repo)
    assert checked.rc == 0, checked.out + checked.err
    assert run(capsys, "rebuild", "--check", "--repo", repo).rc == 0


def logged_runs(capsys, repo: Path) -> dict[str, str]:
    """run id -> verdict of every registration `gerhard log --json` lists."""
    done = run(capsys, "log", "--json", "--repo", repo)
    assert done.rc == 0, done.err
    return {e["run_id"]: e["verdict"] for e in json.loads(done.out) if e["kind"] == "registration"}
