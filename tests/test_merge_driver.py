"""The merge driver: two branches that each registered runs merge or rebase by hand with no conflict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import git_out, register_ok, run
from conftest import git

from gerhard.git import gitrepo
from gerhard.team.mergedriver import configure


@pytest.fixture
def branched(registry: Path, bundle_a: Path, bundle_b_red: Path, capsys) -> Path:
    """main and topic each registered runs since they forked; the merge driver is configured."""
    root = gitrepo.find_root(registry)
    assert configure(root, sys.executable)[0] == "configured the merge driver merge.gerhard in .git/config"
    assert "merge=gerhard" in (registry / ".gitattributes").read_text()  # written and committed by gerhard init
    register_ok(capsys, registry, "base_a", "A", bundle_a)
    git(registry, "switch", "-q", "-c", "topic")
    register_ok(capsys, registry, "topic_b1", "B", bundle_b_red)
    register_ok(capsys, registry, "topic_a2", "A", bundle_a)
    git(registry, "switch", "-q", "main")
    register_ok(capsys, registry, "main_b1", "B", bundle_b_red)
    return registry


def assert_consistent(repo: Path, capsys, runs: set[str]) -> None:
    assert run(capsys, "rebuild", "--check", "--repo", repo).rc == 0
    assert git_out(repo, "status", "--porcelain") == ""
    listed = run(capsys, "list", "--repo", repo, "--limit", "0", "--json")
    assert {row["run_id"] for row in __import__("json").loads(listed.out)} == runs
    assert subprocess.run(["git", "grep", "-n", "^<<<<<<< "], cwd=repo, capture_output=True).returncode == 1


def test_a_hand_merge_recomputes_derived_files(branched: Path, capsys) -> None:
    merged = subprocess.run(["git", "merge", "-q", "--no-edit", "topic"], cwd=branched, capture_output=True, text=True)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert_consistent(branched, capsys, {"base_a", "main_b1", "topic_b1", "topic_a2"})


def test_a_hand_rebase_recomputes_derived_files(branched: Path, capsys) -> None:
    git(branched, "switch", "-q", "topic")
    rebased = subprocess.run(["git", "rebase", "main"], cwd=branched, capture_output=True, text=True)
    assert rebased.returncode == 0, rebased.stdout + rebased.stderr
    assert_consistent(branched, capsys, {"base_a", "main_b1", "topic_b1", "topic_a2"})


def test_without_the_driver_the_same_merge_conflicts(registry: Path, bundle_a: Path, capsys) -> None:
    register_ok(capsys, registry, "base_a", "A", bundle_a)
    git(registry, "switch", "-q", "-c", "topic")
    register_ok(capsys, registry, "topic_a", "A", bundle_a)
    git(registry, "switch", "-q", "main")
    register_ok(capsys, registry, "main_a", "A", bundle_a)
    merged = subprocess.run(["git", "merge", "-q", "--no-edit", "topic"], cwd=registry, capture_output=True, text=True)
    assert merged.returncode != 0 and "CONFLICT" in merged.stdout


def test_configure_is_idempotent(registry: Path) -> None:
    root = gitrepo.find_root(registry)
    configure(root, sys.executable)
    assert configure(root, sys.executable) == []
