"""Off the default branch (gerhard.git.branches): which branch is the default one, what a branch's
commits carry and what the pre-commit hook holds them to, a branch merging its base in, a stopped
program resumed on a branch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import git_out, run
from conftest import git
from pr_helpers import MERGES, assert_checks, bare_remote, clone, decide_on_a_branch, refresh, register_own

from gerhard.git import gitrepo
from gerhard.git.branches import current_branch, default_branch, on_default_branch

AGGREGATES = ("state/program_status.yaml", "state/gate_results.yaml", "reports/index.md", "docs/ops/STATUS_BOARD.md")


def root_of(repo: Path) -> Path:
    return gitrepo.find_root(repo)


def commit(repo: Path, *paths: str, message: str = "by hand") -> subprocess.CompletedProcess[str]:
    if paths:
        git(repo, "add", "--", *paths)
    env = dict(os.environ, GERHARD_PYTHON=sys.executable)
    return subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, env=env, capture_output=True, text=True)


@pytest.fixture
def remote(registry: Path, bundle_a: Path, tmp_path: Path, capsys) -> Path:
    register_own(capsys, registry, "base_a", "A", bundle_a)
    return bare_remote(registry, tmp_path)


# --- which branch is the default one -------------------------------------------------------------


def test_no_remote_no_default_branch_everything_as_before(registry: Path, bundle_a: Path, capsys) -> None:
    root = root_of(registry)
    git(registry, "switch", "-q", "-c", "topic")
    assert (default_branch(root), current_branch(root), on_default_branch(root)) == (None, "topic", True)
    register_own(capsys, registry, "topic_a", "A", bundle_a)
    changed = git_out(registry, "show", "--name-only", "--format=", "HEAD").split()
    assert set(AGGREGATES) <= set(changed)


def test_the_default_branch_from_origin_head_or_the_config(remote: Path, tmp_path: Path) -> None:
    work = clone(remote, tmp_path / "work")
    root = root_of(work)
    assert (default_branch(root), on_default_branch(root)) == ("main", True)
    git(work, "switch", "-q", "-c", "runs")
    assert on_default_branch(root) is False
    git(work, "config", "gerhard.defaultBranch", "runs")  # the config wins
    assert (default_branch(root), on_default_branch(root)) == ("runs", True)
    git(work, "config", "gerhard.defaultBranch", "refs/heads/main")
    assert default_branch(root) == "main"
    git(work, "switch", "-q", "--detach", "HEAD")  # CI checks pull requests out detached
    assert (current_branch(root), on_default_branch(root)) == (None, False)
    git(work, "remote", "set-head", "origin", "-d")
    git(work, "config", "--unset", "gerhard.defaultBranch")
    assert (default_branch(root), on_default_branch(root)) == (None, True)


# --- the pre-commit hook off the default branch --------------------------------------------------------


@pytest.fixture
def hooked_branch(remote: Path, tmp_path: Path, capsys) -> Path:
    author = clone(remote, tmp_path / "author", "runs")
    done = run(capsys, "hooks", "install", "--repo", author)
    assert done.rc == 0, done.err
    return author


def test_a_branch_registration_passes_the_hook(hooked_branch: Path, bundle_b_red: Path, capsys) -> None:
    register_own(capsys, hooked_branch, "runs_b", "B", bundle_b_red)
    decided = run(capsys, "decide", "runs_b", "waive", "--reason", "known", "--repo", hooked_branch)
    assert decided.rc == 0, decided.err
    assert git_out(hooked_branch, "show", "--name-only", "--format=", "HEAD").split() == [
        "state/decisions/runs_b.yaml",
        "state/needs_input/runs_b.yaml",
    ]


def test_the_hook_refuses_an_aggregate_edited_on_a_branch(hooked_branch: Path) -> None:
    rel = "state/program_status.yaml"
    status = hooked_branch / rel
    status.write_text(status.read_text().replace("latest_verdict: GREEN", "latest_verdict: RED"))
    done = commit(hooked_branch, rel)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"gerhard: {rel} is an aggregate of the default branch, and this commit is on branch runs (the default "
        f"branch is main): the default branch folds this branch's runs in after the merge; restore it with "
        f"'git checkout HEAD -- {rel}'"
    ]


def test_the_hook_refuses_a_branch_registration_that_folds_the_aggregates(
    hooked_branch: Path, bundle_a: Path, capsys
) -> None:
    """A registration made as on the default branch (the aggregates folded) is refused on a branch."""
    git(hooked_branch, "config", "gerhard.defaultBranch", "runs")
    register_own(capsys, hooked_branch, "folded_a", "A", bundle_a)
    git(hooked_branch, "reset", "-q", "--soft", "HEAD~1")  # the same commit, made again with git commit
    git(hooked_branch, "config", "gerhard.defaultBranch", "main")
    done = commit(hooked_branch, message="folded")
    assert done.returncode == 1
    refused = done.stderr.splitlines()
    assert all(" is an aggregate of the default branch, and this commit is on branch runs" in line for line in refused)
    assert {line.split()[1] for line in refused} >= {"state/program_status.yaml", "reports/index.md"}


def test_a_branch_merging_its_refreshed_base_passes_the_hook_and_check(
    remote: Path, tmp_path: Path, capsys, bundle_a: Path, bundle_b_green: Path
) -> None:
    author = clone(remote, tmp_path / "author", "runs")
    assert run(capsys, "hooks", "install", "--repo", author).rc == 0
    register_own(capsys, author, "runs_a", "A", bundle_a)
    other = clone(remote, tmp_path / "other", "other")
    register_own(capsys, other, "other_b", "B", bundle_b_green)
    git(other, "push", "-q", "origin", "other")
    MERGES["merge"](remote, tmp_path, "other")
    refresh(remote, tmp_path, capsys, "--refresh")
    git(author, "fetch", "-q", "origin")
    merged = subprocess.run(
        ["git", "merge", "--no-ff", "--no-commit", "origin/main"], cwd=author, capture_output=True, text=True
    )
    assert merged.returncode == 0, merged.stdout + merged.stderr
    done = commit(author, message="Merge main into runs")  # the hook runs: MERGE_HEAD, main's aggregates
    assert done.returncode == 0, done.stderr
    assert run(capsys, "check", "--repo", author).rc == 0
    status = run(capsys, "status", "--repo", author).out
    assert "3 runs registered" in status


# --- a stopped program, resumed on a branch ------------------------------------------------------------


def test_a_stop_resumed_on_a_branch(remote: Path, tmp_path: Path, capsys, bundle_b_red: Path) -> None:
    setup = clone(remote, tmp_path / "setup")
    register_own(capsys, setup, "main_red", "B", bundle_b_red)
    assert run(capsys, "decide", "main_red", "stop", "--reason", "budget", "--repo", setup).rc == 0
    git(setup, "push", "-q", "origin", "main")
    author = decide_on_a_branch(capsys, remote, tmp_path, "resume", "main_red", "rerun", "--reason", "money came")
    assert "STOPPED" not in run(capsys, "status", "--repo", author).out
    checked = run(capsys, "check", "--repo", author)
    assert checked.rc == 0, checked.out
    register_own(capsys, author, "after_resume", "B", bundle_b_red)  # no longer stopped here
    git(author, "push", "-q", "origin", "resume")
    MERGES["merge"](remote, tmp_path, "resume")
    refresh(remote, tmp_path, capsys, "--refresh")
    main = clone(remote, tmp_path / "main")
    assert_checks(capsys, main)


def test_the_hook_checks_a_refresh_without_reading_every_record(
    remote: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, bundle_b_red: Path
) -> None:
    """On the default branch a commit that folds merged runs in (rebuild --refresh, staged by hand here)
    is checked against the refresh from the parent, not a rebuild from every record; an edit in it is
    still refused."""
    from gerhard.team import expected, staged

    author = clone(remote, tmp_path / "author", "runs")
    register_own(capsys, author, "runs_b", "B", bundle_b_red)
    assert run(capsys, "decide", "runs_b", "waive", "--reason", "known", "--repo", author).rc == 0
    git(author, "push", "-q", "origin", "runs")
    MERGES["merge"](remote, tmp_path, "runs")
    main = clone(remote, tmp_path / "main")
    assert run(capsys, "rebuild", "--refresh", "--repo", main).rc == 0
    changed = git_out(main, "diff", "--name-only").split()
    git(main, "add", "--", *changed)

    def no_rebuild(*args: object) -> None:
        raise AssertionError("the hook rebuilt from every record")

    monkeypatch.setattr(expected, "rebuilt_from", no_rebuild)
    assert staged.staged_problems(root_of(main)) == []
    monkeypatch.undo()
    status = main / "state" / "program_status.yaml"
    status.write_text(status.read_text().replace("run_count: 2", "run_count: 7"))
    git(main, "add", "state/program_status.yaml")
    assert staged.staged_problems(root_of(main)) == [
        "state/program_status.yaml differs from what 'gerhard rebuild' computes from the run records: "
        "run 'gerhard rebuild', then 'git add state/program_status.yaml' and commit again"
    ]


def test_a_withdrawal_on_a_branch(remote: Path, tmp_path: Path, capsys, bundle_b_green: Path) -> None:
    """A run of the default branch withdrawn on a branch: the decision file only there; the refresh after
    the merge cannot fold it on top (the run's earlier folds change), so it starts before that run."""
    setup = clone(remote, tmp_path / "setup")
    register_own(capsys, setup, "main_b", "B", bundle_b_green)
    git(setup, "push", "-q", "origin", "main")
    reason = ("--reason", "registered by mistake")
    author = decide_on_a_branch(capsys, remote, tmp_path, "withdraw", "main_b", "withdraw", *reason)
    assert run(capsys, "check", "--repo", author).rc == 0
    git(author, "push", "-q", "origin", "withdraw")
    MERGES["merge"](remote, tmp_path, "withdraw")
    refresh(remote, tmp_path, capsys, "--refresh")
    main = clone(remote, tmp_path / "main")
    assert_checks(capsys, main)
    assert "withdrawn" in (main / "state" / "program_status.yaml").read_text()
