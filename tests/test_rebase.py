"""gerhard rebase: two pull requests that each register a run both merge, as a hosting service merges."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_helpers import git_out, register_ok, run
from conftest import git


@pytest.fixture
def remote(registry: Path, tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(registry), str(bare))
    return bare


def clone(remote: Path, dest: Path, branch: str | None = None) -> Path:
    git(remote.parent, "clone", "-q", str(remote), str(dest))
    if branch:
        git(dest, "switch", "-q", "-c", branch)
    return dest


def host_merge(remote: Path, tmp_path: Path, branch: str) -> subprocess.CompletedProcess[str]:
    """What a hosting service does: a plain merge of the pull-request branch into main, no custom driver."""
    host = tmp_path / f"host-{branch}"
    shutil.rmtree(host, ignore_errors=True)
    clone(remote, host)
    git(host, "fetch", "-q", "origin", branch)
    merged = subprocess.run(
        ["git", "merge", "--no-ff", "-m", f"Merge {branch}", f"origin/{branch}"],
        cwd=host,
        capture_output=True,
        text=True,
    )
    if merged.returncode == 0:
        git(host, "push", "-q", "origin", "main")
    return merged


def test_second_pull_request_merges_after_gerhard_rebase(
    remote: Path, tmp_path: Path, bundle_a: Path, bundle_b_red: Path, capsys
) -> None:
    pr1, pr2 = clone(remote, tmp_path / "pr1", "pr1"), clone(remote, tmp_path / "pr2", "pr2")
    register_ok(capsys, pr1, "run_pr1", "A", bundle_a)
    git(pr1, "push", "-q", "origin", "pr1")
    register_ok(capsys, pr2, "run_pr2", "A", bundle_a)
    (pr2 / "notes.md").write_text("a note of the author\n")
    git(pr2, "add", "notes.md")
    git(pr2, "commit", "-q", "-m", "notes")
    git(pr2, "push", "-q", "origin", "pr2")
    assert host_merge(remote, tmp_path, "pr1").returncode == 0
    conflicted = host_merge(remote, tmp_path, "pr2")
    assert conflicted.returncode != 0 and "CONFLICT" in conflicted.stdout  # the problem this command solves

    git(pr2, "fetch", "-q", "origin")
    done = run(capsys, "rebase", "--repo", pr2, "origin/main")
    assert done.rc == 0, done.err
    assert done.out.splitlines()[0].startswith("replayed run run_pr2: GREEN (unchanged), commit ")
    assert done.out.splitlines()[1:] == [
        "cherry-picked: notes",
        "next: git push --force-with-lease (the branch was rewritten on its base)",
    ]
    git(pr2, "push", "-q", "--force-with-lease", "origin", "pr2")
    assert host_merge(remote, tmp_path, "pr2").returncode == 0
    merged = clone(remote, tmp_path / "merged")
    assert run(capsys, "rebuild", "--check", "--repo", merged).rc == 0
    record = git_out(merged, "show", "HEAD:state/runs/run_pr2.yaml")
    assert "seq: 2" in record
    assert (merged / "notes.md").read_text() == "a note of the author\n"


def test_rebase_reevaluates_gates_and_says_so(
    remote: Path, tmp_path: Path, bundle_a: Path, bundle_b_green: Path, capsys
) -> None:
    setup = clone(remote, tmp_path / "setup")
    register_ok(capsys, setup, "a_done", "A", bundle_a)
    git(setup, "push", "-q", "origin", "main")
    pr1, pr2 = clone(remote, tmp_path / "pr1", "pr1"), clone(remote, tmp_path / "pr2", "pr2")
    better = tmp_path / "better"
    shutil.copytree(bundle_b_green, better)
    metrics = json.loads((better / "metrics.json").read_text())
    metrics["final"]["val_loss"] -= 0.5
    (better / "metrics.json").write_text(json.dumps(metrics))
    register_ok(capsys, pr1, "b_better", "B", better)
    git(pr1, "push", "-q", "origin", "pr1")
    register_ok(capsys, pr2, "b_plain", "B", bundle_b_green)
    assert host_merge(remote, tmp_path, "pr1").returncode == 0
    git(pr2, "fetch", "-q", "origin")
    done = run(capsys, "rebase", "--repo", pr2, "origin/main", "--json")
    assert done.rc == 0, done.err
    (replayed,) = json.loads(done.out)["replayed"]
    assert (replayed["run_id"], replayed["before"]) == ("b_plain", "GREEN")
    assert replayed["after"] in ("GREEN", "AMBER", "RED")
    assert run(capsys, "rebuild", "--check", "--repo", pr2).rc == 0


def test_rebase_with_nothing_to_replay(remote: Path, tmp_path: Path, capsys) -> None:
    work = clone(remote, tmp_path / "work")
    done = run(capsys, "rebase", "--repo", work)
    assert (done.rc, done.out) == (0, "nothing to replay: the branch has no commits of its own on top of its base\n")


def test_rebase_on_an_unknown_base_is_one_line(registry: Path, capsys) -> None:
    done = run(capsys, "rebase", "--repo", registry, "origin/nowhere")
    assert done.rc == 2
    assert done.err == (
        "gerhard rebase: error: origin/nowhere is not a commit here: fetch it first (git fetch origin), "
        "then pass it again\n"
    )
