"""gerhard check, the pre-commit hook that checks what a commit touches, and gerhard hooks install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import register_ok, run
from conftest import git

RUN_A = "20261101T100000Z_dense"
RUN_B = "20261101T120000Z_v15"


@pytest.fixture
def registered(registry: Path, bundle_a: Path, bundle_b_red: Path, capsys) -> Path:
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    register_ok(capsys, registry, RUN_B, "B", bundle_b_red)
    return registry


@pytest.fixture
def hooked(registered: Path, capsys) -> Path:
    done = run(capsys, "hooks", "install", "--repo", registered)
    assert done.rc == 0, done.err
    return registered


def commit(repo: Path, *paths: str, message: str = "by hand") -> subprocess.CompletedProcess[str]:
    git(repo, "add", "--", *paths)
    env = dict(os.environ, GERHARD_PYTHON=sys.executable)
    return subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, env=env, capture_output=True, text=True)


def test_check_clean(registered: Path, capsys) -> None:
    result = run(capsys, "check", "--repo", registered)
    assert (result.rc, result.out, result.err) == (0, "", "checked 2 runs: derived files up to date\n")
    as_json = run(capsys, "check", "--repo", registered, "--json")
    assert json.loads(as_json.out) == {"runs": 2, "problems": [], "ok": True}


def test_check_finds_each_kind_of_problem(registered: Path, capsys) -> None:
    (registered / "outputs" / RUN_A / "seed.txt").write_text("999\n")
    (registered / "outputs" / RUN_B / "stray.txt").write_text("x\n")
    (registered / "reports" / "index.md").write_text("# typed over\n")
    (registered / "outputs" / "orphan").mkdir()
    (registered / "outputs" / "orphan" / "metrics.json").write_text("{}")
    result = run(capsys, "check", "--repo", registered)
    assert result.rc == 1
    sha = result.out.split("sha256 ")[1].split("…")[0]
    assert result.out.splitlines() == [
        f"outputs/{RUN_A}/seed.txt does not match its MANIFEST entry (size 3, sha256 {sha}…): the archived file "
        f"was changed; restore it with 'git checkout -- outputs/{RUN_A}/seed.txt'",
        f"outputs/{RUN_B}/stray.txt is in the archive but not in its MANIFEST: remove it "
        f"(git rm outputs/{RUN_B}/stray.txt)",
        "outputs/orphan/ has no run record state/runs/orphan.yaml: register the run, or remove the folder",
        "reports/index.md differs from what 'gerhard rebuild' computes from the run records: a hand edit? "
        "run 'gerhard rebuild' and commit the result (or 'gerhard rebuild --commit')",
    ]
    assert result.err == "checked 3 runs: 4 problem(s)\n"


def test_check_reports_an_interrupted_registration(registered: Path, capsys) -> None:
    (registered / ".git" / "gerhard-txn").mkdir()
    (registered / ".git" / "gerhard-txn" / "lock").write_text("gerhard-txn 1 ab\nregister x (phase A)\n")
    result = run(capsys, "check", "--repo", registered)
    assert result.rc == 1
    assert result.out.splitlines()[0] == (
        "an interrupted transaction (register x (phase A)) is not settled: run 'gerhard doctor'"
    )


def test_hook_passes_a_registration_and_an_unrelated_commit(hooked: Path, bundle_b_green: Path, capsys) -> None:
    register_ok(capsys, hooked, "green_b", "B", bundle_b_green)  # gerhard runs the repository's hook itself
    (hooked / "notes.md").write_text("notes\n")
    done = commit(hooked, "notes.md")
    assert done.returncode == 0, done.stderr


def test_hook_rejects_a_tampered_archived_file(hooked: Path) -> None:
    (hooked / "outputs" / RUN_A / "seed.txt").write_text("999\n")
    done = commit(hooked, f"outputs/{RUN_A}/seed.txt")
    assert done.returncode == 1
    assert done.stderr.startswith(f"gerhard: outputs/{RUN_A}/seed.txt does not match its MANIFEST entry")


def test_hook_rejects_an_incomplete_bundle(hooked: Path) -> None:
    """A run archived by hand without the files its phase requires (MANIFEST and record made to match)."""
    from gerhard.bundle import load_bundle, manifest_bytes

    run_id = "by_hand"
    folder = hooked / "outputs" / run_id
    folder.mkdir()
    (folder / "seed.txt").write_text("1\n")
    (folder / "MANIFEST").write_bytes(manifest_bytes(run_id, load_bundle(folder)))
    record = (hooked / "state" / "runs" / f"{RUN_A}.yaml").read_text().replace(RUN_A, run_id)
    (hooked / "state" / "runs" / f"{run_id}.yaml").write_text(record)
    done = commit(hooked, f"outputs/{run_id}", f"state/runs/{run_id}.yaml")
    assert done.returncode == 1
    assert done.stderr.startswith(f"gerhard: run {run_id}: bundle ")
    assert "is missing metrics.json, config.yaml (required by phase A" in done.stderr


def test_hook_rejects_an_invalid_state_file(hooked: Path) -> None:
    path = hooked / "state" / "runs" / f"{RUN_A}.yaml"
    path.write_text(path.read_text().replace("verdict: GREEN", "verdict: PURPLE"))
    done = commit(hooked, f"state/runs/{RUN_A}.yaml")
    assert done.returncode == 1
    assert done.stderr.startswith(f"gerhard: state/runs/{RUN_A}.yaml: ")
    assert done.stderr.rstrip().endswith(f"restore it with 'git checkout -- state/runs/{RUN_A}.yaml'")


def test_hook_rejects_a_hand_edited_derived_file(hooked: Path) -> None:
    (hooked / "docs" / "ops" / "STATUS_BOARD.md").write_text("# all green, trust me\n")
    done = commit(hooked, "docs/ops/STATUS_BOARD.md")
    assert done.returncode == 1
    assert done.stderr == (
        "gerhard: docs/ops/STATUS_BOARD.md differs from what 'gerhard rebuild' computes from the run records: "
        "a hand edit? run 'gerhard rebuild' and commit the result (or 'gerhard rebuild --commit')\n"
    )


def test_hooks_install_keeps_and_chains_an_existing_hook(registry: Path, capsys, tmp_path: Path) -> None:
    hooks = registry / ".git" / "hooks"
    ran = tmp_path / "ran"
    (hooks / "pre-commit").write_text(f"#!/bin/sh\ntouch {ran}\n")
    (hooks / "pre-commit").chmod(0o755)
    done = run(capsys, "hooks", "install", "--repo", registry)
    assert done.out.splitlines() == [
        f"kept your pre-commit hook as {hooks / 'pre-commit.local'}: gerhard's hook runs it after its own checks",
        f"installed gerhard's pre-commit hook in {hooks / 'pre-commit'}",
        "configured the merge driver merge.gerhard in .git/config",  # .gitattributes: from gerhard init
    ]
    again = run(capsys, "hooks", "install", "--repo", registry)
    assert again.out == f"gerhard's hooks are already installed in {hooks}\n"
    (registry / "x.txt").write_text("x\n")
    assert commit(registry, "x.txt").returncode == 0
    assert ran.exists()  # the user's own hook still runs


def test_the_manifest_works_under_the_pre_commit_framework(registered: Path, tmp_path: Path) -> None:
    """`pre-commit try-repo` installs gerhard from this repository into its own environment (from PyPI)."""
    import shutil

    tool = shutil.which("pre-commit") or str(Path(sys.executable).with_name("pre-commit"))
    if not Path(tool).exists():
        pytest.skip("the pre-commit tool is not installed (pip install pre-commit, part of the dev extras)")
    source = Path(__file__).resolve().parent.parent
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True).returncode != 0:
        pytest.skip(f"{source} is not a git checkout: pre-commit try-repo needs one")
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    (registered / "outputs" / RUN_A / "seed.txt").write_text("999\n")
    git(registered, "add", f"outputs/{RUN_A}/seed.txt")
    args = [tool, "try-repo", str(source), "gerhard-bundles"]
    failed = subprocess.run(args, cwd=registered, env=env, capture_output=True, text=True)
    if (
        "Installing environment" in failed.stdout
        and "error" in failed.stdout.lower()
        and "MANIFEST" not in failed.stdout
    ):
        pytest.skip(f"pre-commit could not build gerhard's environment: {failed.stdout[-300:]}")
    assert failed.returncode == 1, failed.stdout
    assert f"gerhard: outputs/{RUN_A}/seed.txt does not match its MANIFEST entry" in failed.stdout
    git(registered, "checkout", "HEAD", "--", f"outputs/{RUN_A}/seed.txt")
    (registered / "notes.md").write_text("notes\n")
    git(registered, "add", "notes.md")
    passed = subprocess.run([*args[:3], "gerhard-state"], cwd=registered, env=env, capture_output=True, text=True)
    assert passed.returncode == 0, passed.stdout
