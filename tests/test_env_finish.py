"""`gerhard env` (what a run records about where it runs) and `gerhard finish` (a run whose notebook died)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, git_out, load_yaml, register_ok, run
from conftest import git, snapshot

# -- gerhard env --------------------------------------------------------------------------------------


def test_env_outside_git(tmp_path: Path, capsys) -> None:
    result = run(capsys, "env", "--path", tmp_path)
    assert result.rc == 0, result.err
    rows = dict(line.split(None, 1) for line in result.out.splitlines())
    assert list(rows) == ["python", "torch", "cuda", "gpu", "code", "runtime", "host"]
    assert rows["python"] == platform.python_version()
    assert rows["code"] == "not in git"
    assert rows["runtime"] == "python"


def test_env_json_names_the_commit_and_the_dirty_flag(tmp_path: Path, capsys) -> None:
    repo = tmp_path / "code"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "train.py").write_text("print('hi')\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "code")
    sha = git_out(repo, "rev-parse", "HEAD").strip()
    clean = json.loads(run(capsys, "env", "--json", "--path", repo).out)
    assert (clean["code_sha"], clean["dirty"], clean["code_root"]) == (sha, False, str(repo))
    (repo / "train.py").write_text("print('patched')\n")
    dirty = json.loads(run(capsys, "env", "--json", "--path", repo).out)
    assert (dirty["code_sha"], dirty["dirty"]) == (sha, True)
    assert set(dirty) >= {"python", "torch", "cuda", "gpu", "gpu_memory_gb", "runtime", "host", "platform"}


# -- gerhard finish -----------------------------------------------------------------------------------

CRASHING = """
import gerhard
run = gerhard.start_run("crash", "A", {{"lr": 0.1}}, 7, repo_root={repo!r}, run_id="r1", flush_seconds=0)
with run:
    for step in range(5):
        run.log_metrics({{"train_loss": 3.0 - step * 0.1, "val_loss": 2.5 - step * 0.1}}, step=step)
    raise RuntimeError("the runtime went away")
"""


@pytest.fixture
def crashed(registry: Path, tmp_path: Path) -> Path:
    """A registry where a run started, logged five steps and died inside its with block."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(CRASHING.format(repo=str(registry))))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1 and "the runtime went away" in proc.stderr
    assert "run r1 failed (RuntimeError: the runtime went away); it is not registered" in proc.stderr
    return registry


def test_finish_registers_what_a_dead_run_logged(crashed: Path, capsys) -> None:
    folder = crashed / "outputs" / "r1"
    result = run(capsys, "finish", folder, "--summary", "finished after the crash")
    assert result.rc == 0, result.err
    assert result.out.splitlines()[:2] == [
        "gerhard: run r1 had failed (RuntimeError: the runtime went away): finishing what it logged",
        "resuming run r1: 5 history rows, 0 eval tasks",
    ]
    record = load_yaml(crashed / "state" / "runs" / "r1.yaml")
    assert (record["verdict"], record["summary"]) == ("GREEN", "finished after the crash")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert [row["step"] for row in metrics["history"]] == [0, 1, 2, 3, 4]
    assert metrics["final"]["val_loss"] == pytest.approx(2.1)
    assert not (folder / ".gerhard-run").exists()
    assert json.loads((folder / "provenance.json").read_text())["resumed"] is True
    assert git_out(crashed, "status", "--porcelain", "--untracked-files=all") == ""
    again = run(capsys, "finish", folder)
    assert_one_line_error(again, "holds no unfinished run")


def test_finish_no_register_writes_the_bundle_only(crashed: Path, capsys) -> None:
    before = git_out(crashed, "rev-parse", "HEAD")
    result = run(capsys, "finish", crashed / "outputs" / "r1", "--no-register")
    assert result.rc == 0, result.err
    assert git_out(crashed, "rev-parse", "HEAD") == before
    assert (crashed / "outputs" / "r1" / "metrics.json").is_file()
    assert "register it later with: python -m gerhard register" in result.out


def test_finish_of_a_folder_that_is_no_run(registry: Path, tmp_path: Path, capsys) -> None:
    before = snapshot(registry)
    assert_one_line_error(run(capsys, "finish", tmp_path), "holds no unfinished run", "state.json is missing")
    assert snapshot(registry) == before


def test_finish_refuses_a_nan_unless_allowed(registry: Path, bundle_a: Path, tmp_path: Path, capsys) -> None:
    register_ok(capsys, registry, "a0", "A", bundle_a)
    script = tmp_path / "nan.py"
    script.write_text(
        "import gerhard\n"
        f"run = gerhard.start_run('nan', 'A', {{'lr': 1.0}}, 1, repo_root={str(registry)!r}, run_id='n1', "
        "flush_seconds=0)\n"
        "run.log_metrics({'val_loss': 2.0}, step=0)\n"
        "run.log_metrics({'val_loss': float('nan')}, step=1)\n"
        "run.flush()\n"
    )
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True, capture_output=True)
    folder = registry / "outputs" / "n1"
    refused = run(capsys, "finish", folder)
    assert refused.rc == 2 and "val_loss at step 1" in refused.err and "--allow-nonfinite" not in refused.out
    assert not (folder / "metrics.json").exists()
    allowed = run(capsys, "finish", folder, "--allow-nonfinite")
    assert allowed.rc == 0, allowed.err  # registered, RED: its gate read the NaN
    assert load_yaml(registry / "state" / "runs" / "n1.yaml")["verdict"] == "RED"
