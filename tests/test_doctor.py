"""gerhard doctor: what it finds, what it clears, what it leaves to the user; and the pre-commit hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import register_ok, run
from conftest import git, snapshot

RUN_A = "20261101T100000Z_dense"


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_all_is_well(registry: Path, capsys) -> None:
    before = snapshot(registry)
    result = run(capsys, "doctor", "--repo", registry)
    assert (result.rc, result.err) == (0, "")
    assert result.out == (f"all is well in {registry}: no interrupted transaction, no stale lock, no temporary files\n")
    assert snapshot(registry) == before


def test_clears_temporary_files_and_a_stale_gerhard_lock(registry: Path, bundle_a: Path, capsys) -> None:
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    before = snapshot(registry)
    tmp = registry / "state" / ".program_status.yaml.abc123.gerhard-tmp"
    tmp.write_text("half written")
    (registry / ".git" / "index.lock").write_text("gerhard-txn 12345 00ff00ff00ff00ff\nregister x\n")
    result = run(capsys, "doctor", "--repo", registry, "--json")
    assert result.rc == 0
    report = json.loads(result.out)
    assert report["done"] == [
        "removed a temporary file left by an interrupted write: state/.program_status.yaml.abc123.gerhard-tmp",
        "removed a stale index.lock left by an interrupted gerhard command",
    ]
    assert (report["problems"], report["ok"]) == ([], True)
    assert snapshot(registry) == before
    assert not (registry / ".git" / "index.lock").exists()


def test_a_fresh_git_lock_is_left_alone(registry: Path, capsys) -> None:
    lock = registry / ".git" / "index.lock"
    lock.write_bytes(b"DIRC\0\0\0\2")  # git's own lock: an index being written
    result = run(capsys, "doctor", "--repo", registry)
    assert result.rc == 1
    assert result.out == f"problem: {lock} was created 0s ago: a git command is probably running; run doctor again\n"
    assert lock.exists()


def test_an_old_git_lock_without_git_running_is_removed(registry: Path, capsys) -> None:
    lock = registry / ".git" / "index.lock"
    lock.write_bytes(b"DIRC\0\0\0\2")
    age(lock, 3600)
    result = run(capsys, "doctor", "--repo", registry)
    assert result.rc == 0, result.out
    assert result.out == f"removed a stale index.lock (no git process is running in {registry})\n"
    git(registry, "status")  # git works again


def test_a_lock_while_git_runs_here_is_left_alone(registry: Path, capsys) -> None:
    lock = registry / ".git" / "index.lock"
    lock.write_bytes(b"DIRC\0\0\0\2")
    age(lock, 3600)
    # a git process waiting in this repository (a pager-less `git hash-object --stdin` reading stdin)
    waiting = subprocess.Popen(["git", "hash-object", "--stdin"], cwd=registry, stdin=subprocess.PIPE)
    try:
        time.sleep(0.2)
        result = run(capsys, "doctor", "--repo", registry)
    finally:
        waiting.communicate(b"")
    assert result.rc == 1
    assert result.out == (
        f"problem: {lock} exists and git is running here (pid {waiting.pid}): wait for it to finish; "
        f"if none is, remove {lock} and run doctor again\n"
    )
    assert lock.exists()


def test_stale_dossier_extraction_folders_are_removed(registry: Path, capsys, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    old = tmp_path / "gerhard-dossier-old"
    (old / "bundle").mkdir(parents=True)
    age(old, 3 * 24 * 3600)
    new = tmp_path / "gerhard-dossier-new"
    new.mkdir()
    result = run(capsys, "doctor", "--repo", registry)
    assert result.rc == 0
    assert result.out == f"removed a stale dossier extraction folder: {old}\n"
    assert not old.exists() and new.exists()


def test_doctor_outside_a_repository_is_one_line(tmp_path: Path, capsys) -> None:
    result = run(capsys, "doctor", "--repo", tmp_path)
    assert result.rc == 2
    assert result.err == (
        f"gerhard doctor: error: {tmp_path} is not inside a git repository: pass --repo with the path of your registry "
        "repository, or cd into it\n"
    )


def test_gerhard_hook_passes_when_nothing_is_pending(registry: Path) -> None:
    for name in ("pre-commit", "run-gerhard"):  # the hook and its launcher, as shipped
        hook = registry / ".git" / "hooks" / name
        hook.write_text((Path(__file__).parent.parent / "hooks" / name).read_text())
        hook.chmod(0o755)
    (registry / "x.txt").write_text("x\n")
    git(registry, "add", "x.txt")
    env = dict(os.environ, GERHARD_PYTHON=sys.executable)
    done = subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=registry, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_a_broken_schema_file_of_the_registry_is_one_line(registry: Path, bundle_a: Path, capsys, content: str) -> None:
    (registry / "schemas" / "broken.schema.json").write_text(content)
    git(registry, "add", "-A")
    git(registry, "commit", "-q", "-m", "a schema")
    result = run(capsys, "register", "--repo", registry, "--run-id", RUN_A, "--phase", "A", "--source-dir", bundle_a)
    assert result.rc == 2
    assert len(result.err.splitlines()) == 1
    assert f"schema file {registry / 'schemas' / 'broken.schema.json'}" in result.err
    assert result.err.endswith(": fix or remove it\n")


# -- what an interrupted rebase or replay left -----------------------------------------------------------


def heavy_run(registry: Path, bundle_a: Path, capsys) -> bytes:
    """RUN_A registered with a checkpoint that stays out of git; its bytes."""
    checkpoint = b"weights" * 1000
    (bundle_a / "model.pt").write_bytes(checkpoint)
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    return checkpoint


def test_puts_back_the_heavy_files_an_earlier_gerhard_left_aside(registry: Path, bundle_a: Path, capsys) -> None:
    """A replay of an earlier gerhard, killed, left the checkpoint beside the archived bundle in the git dir."""
    checkpoint = heavy_run(registry, bundle_a, capsys)
    aside = registry / ".git" / "gerhard-replay" / RUN_A / "bundle"
    aside.mkdir(parents=True)
    (aside / "MANIFEST").write_bytes((registry / "outputs" / RUN_A / "MANIFEST").read_bytes())
    os.replace(registry / "outputs" / RUN_A / "model.pt", aside / "model.pt")
    result = run(capsys, "doctor", "--repo", registry)
    assert (result.rc, result.out) == (
        0,
        f"put back the heavy files an interrupted replay had set aside in {registry / '.git' / 'gerhard-replay'}\n",
    )
    assert (registry / "outputs" / RUN_A / "model.pt").read_bytes() == checkpoint
    assert not (registry / ".git" / "gerhard-replay").exists()


def test_names_a_heavy_file_that_could_not_go_back(registry: Path, capsys) -> None:
    left = registry / ".git" / "gerhard-rebase-left" / "outputs" / RUN_A / "model.pt"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"weights")
    result = run(capsys, "doctor", "--repo", registry)
    assert result.rc == 1
    assert result.out == (
        f"problem: {left} was set aside by an interrupted rebase and could not go back to outputs/{RUN_A}/model.pt "
        "(a file is there): keep the right one, then remove the other\n"
    )
    assert left.exists()
