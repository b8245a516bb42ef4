"""Runs not registered yet (gerhard.registry.pending_runs): a folder a refused finish(), a dead runtime or a
notebook left in outputs/<run_id>/ blocks no unrelated commit (issue 17 item 4): start_run's folder is out of
`git add -A` (gerhard's own .gitignore), and a commit that stages a pending folder's files by hand is refused
in one line that says how to register it; `status`, `doctor` and `check` list it with the command that
registers it, and that command does: every file in HEAD, gerhard's .gitignore gone. Real registries, the real
hook run by `git commit`, the real capture API.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import commit, git_out, python_m_gerhard, register_ok, rejected, run, shell
from conftest import EXAMPLES

import gerhard
from gerhard.capture.run import Run
from gerhard.registry.pending_runs import PENDING_IGNORE

RUN = "20261105T100000Z_v16"
PHASE_A_RUN = "20261101T100000Z_dense"


@pytest.fixture
def hooked(registry: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch) -> Path:
    """A registry with gerhard's pre-commit hook installed; the working directory outside it."""
    assert run(capsys, "hooks", "install", "--repo", registry).rc == 0
    for name in ("GERHARD_REPO", "GERHARD_OUTPUT_ROOT", "GERHARD_NOTEBOOK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return registry


def start(registry: Path, phase: str = "A") -> Run:
    """A run in outputs/RUN/ of the registry, its history written at every log_metrics call."""
    return gerhard.start_run(
        "v16", phase, {"lr": 3e-4}, 7, run_id=RUN, repo_root=registry, dossier=False, download=False, flush_seconds=0
    )


def log_losses(run: Run) -> None:
    for step in range(3):
        run.log_metrics({"train_loss": 2.5 - 0.1 * step, "val_loss": 2.3 - 0.1 * step}, step=step * 10)


def refused_finish(registry: Path) -> None:
    """finish() with nothing logged: refused (phase A requires metrics.json), the folder left as it was."""
    with pytest.raises(gerhard.UserError, match="requires metrics.json"):
        start(registry).finish(summary="a first try", next_action="log something")


def status_of(registry: Path, *flags: str) -> Any:
    done = python_m_gerhard("status", *flags, cwd=registry)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--json" in flags else done.stdout.splitlines()


def assert_registered_whole(registry: Path) -> None:
    """Every file of outputs/RUN/ in HEAD, gerhard's .gitignore gone, nothing git ignores or does not track."""
    folder = registry / "outputs" / RUN
    on_disk = sorted(str(p.relative_to(registry)) for p in folder.rglob("*") if p.is_file())
    assert on_disk == git_out(registry, "ls-tree", "-r", "--name-only", "HEAD", f"outputs/{RUN}/").split()
    assert not (folder / ".gitignore").exists()
    assert git_out(registry, "status", "--porcelain", "--ignored", "--untracked-files=all", f"outputs/{RUN}") == ""


def test_a_refused_finish_blocks_no_unrelated_commit(hooked: Path) -> None:
    """`git add -A` (as the guide commits) leaves the run out: git ignores its folder whole."""
    refused_finish(hooked)
    assert (hooked / "outputs" / RUN / ".gitignore").read_bytes() == PENDING_IGNORE
    (hooked / "train.py").write_text("lr = 3e-4\n")
    done = commit(hooked, ".", message="train.py: a lower learning rate")
    assert (done.returncode, done.stderr) == (0, "")
    assert git_out(hooked, "show", "--name-only", "--format=", "HEAD").split() == ["train.py"]
    (hooked / "state" / "program.yaml").write_text((hooked / "state" / "program.yaml").read_text() + "# tried\n")
    done = commit(hooked, ".", message="program: a note")  # the hook checks this one
    assert (done.returncode, done.stderr) == (0, "")
    assert git_out(hooked, "show", "--name-only", "--format=", "HEAD").split() == ["state/program.yaml"]
    assert git_out(hooked, "status", "--porcelain") == ""
    assert git_out(hooked, "status", "--porcelain", "--ignored") == f"!! outputs/{RUN}/\n"  # left for the user
    command = f"python -m gerhard finish outputs/{RUN}"
    assert status_of(hooked)[-1].startswith(f"  outputs/{RUN}/ (unfinished run, not registered yet): {command}")
    check = python_m_gerhard("check", cwd=hooked)
    assert (check.returncode, check.stderr.splitlines()[0]) == (
        0,
        f"note: outputs/{RUN}/ (unfinished run, not registered yet): {command} (once the process that runs it "
        "has ended)",
    )


def test_staging_a_pending_run_by_hand_is_refused_in_one_line(hooked: Path) -> None:
    """`git add -f` picks the folder up: the commit is refused, naming how to unstage and how to register."""
    refused_finish(hooked)
    (hooked / "train.py").write_text("lr = 3e-4\n")
    head = git_out(hooked, "rev-parse", "HEAD")
    git_out(hooked, "add", "-f", "--", f"outputs/{RUN}")
    assert rejected(commit(hooked, ".")) == [
        f"gerhard: outputs/{RUN}/ is not a registered run (no state/runs/{RUN}.yaml), and this commit adds its "
        f"files by hand: unstage them with 'git reset -q -- outputs/{RUN}/', then register it: "
        f"python -m gerhard finish outputs/{RUN} (once the process that runs it has ended)"
    ]
    assert git_out(hooked, "rev-parse", "HEAD") == head
    git_out(hooked, "reset", "-q", "--", f"outputs/{RUN}/")  # as the line says
    done = commit(hooked)
    assert (done.returncode, done.stderr) == (0, "")


def test_a_folder_that_is_no_run_is_refused_too(hooked: Path) -> None:
    (hooked / "outputs" / "plots").mkdir()
    (hooked / "outputs" / "plots" / "loss.png").write_bytes(b"png")
    assert rejected(commit(hooked, "outputs")) == [
        "gerhard: outputs/plots/ is not a registered run (no state/runs/plots.yaml), and this commit adds its files "
        "by hand: unstage them with 'git reset -q -- outputs/plots/', outputs/ holds registered runs only"
    ]
    assert status_of(hooked, "--json")["pending_runs"] == []  # no bundle file: not a run


def test_status_names_an_unfinished_run_and_its_command_registers_it(hooked: Path) -> None:
    run_ = start(hooked)
    log_losses(run_)
    with pytest.raises(gerhard.UserError, match="final val_loss is nan"):
        run_.finish(summary="v16", next_action="phase B", final={"val_loss": math.nan})
    command = f"python -m gerhard finish outputs/{RUN}"
    assert status_of(hooked)[-2:] == [
        "1 run in outputs/ not registered yet:",
        f"  outputs/{RUN}/ (unfinished run, not registered yet): {command} (once the process that runs it has ended)",
    ]
    pending = {"run_id": RUN, "folder": f"outputs/{RUN}/", "kind": "unfinished", "phase": "A", "command": command}
    assert status_of(hooked, "--json")["pending_runs"] == [pending]
    (hooked / "notes.md").write_text("v16 diverged\n")
    done = shell("git add -A && git commit -q -m notes", cwd=hooked)
    assert done.returncode == 0, done.stderr
    assert git_out(hooked, "show", "--name-only", "--format=", "HEAD").split() == ["notes.md"]

    done = shell(command, cwd=hooked)  # the hook runs for the registration's commit, and passes it
    assert done.returncode == 0, done.stderr
    assert git_out(hooked, "log", "-1", "--format=%(trailers:key=Gerhard-Run-Id,valueonly)").strip() == RUN
    assert "verdict: GREEN" in (hooked / "state" / "runs" / f"{RUN}.yaml").read_text()  # the rows flushed
    assert git_out(hooked, "status", "--porcelain") == ""
    assert_registered_whole(hooked)
    assert status_of(hooked, "--json")["pending_runs"] == []


def test_a_refused_registration_is_listed_with_its_phase_and_registered_by_the_command(
    hooked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """finish() wrote the bundle but phase B is not open: status prints the command finish() printed."""
    run_ = start(hooked, "B")
    log_losses(run_)
    for task in ("copy", "sort", "count", "parity", "recall"):
        run_.log_eval(task, score=0.9, passed=True)
    run_.save_artifact(
        "v15_spikingbrain.json", json.loads((EXAMPLES / "phase_b_green" / "v15_spikingbrain.json").read_text())
    )
    assert not run_.finish(summary="it's v16", next_action="compare").registered
    command = (
        f"python -m gerhard register --run-id {RUN} --phase B --source-dir outputs/{RUN} "
        """--summary 'it'"'"'s v16' --next-action compare"""
    )
    assert status_of(hooked)[-1] == f"  outputs/{RUN}/ (bundle, not registered yet): {command}"
    assert git_out(hooked, "status", "--porcelain", "--ignored") == f"!! outputs/{RUN}/\n"
    check = python_m_gerhard("check", cwd=hooked)
    assert (check.returncode, check.stderr.splitlines()[0]) == (
        0,
        f"note: outputs/{RUN}/ (bundle, not registered yet): {command}",
    )
    doctor = python_m_gerhard("doctor", cwd=hooked)
    assert (doctor.returncode, doctor.stdout.splitlines()[-1]) == (
        0,
        f"pending, left as it is: outputs/{RUN}/ (bundle, not registered yet): {command}",
    )

    register_ok(capsys, hooked, PHASE_A_RUN, "A", EXAMPLES / "phase_a_green")  # phase B opens
    done = shell(command, cwd=hooked)
    assert done.returncode == 0, done.stderr
    record = (hooked / "state" / "runs" / f"{RUN}.yaml").read_text()
    assert "phase: B" in record and "summary: it's v16" in record
    assert git_out(hooked, "status", "--porcelain") == ""
    assert_registered_whole(hooked)
    note = hooked / ".git" / "gerhard-unregistered" / f"{RUN}.json"  # finish()'s note of the phase, no more use
    assert json.loads(note.read_text())["phase"] == "B"
    doctor = python_m_gerhard("doctor", cwd=hooked)
    assert doctor.stdout == "removed 1 note of runs registered since their finish() was refused\n"
    assert not note.exists()


def test_a_folder_a_notebook_wrote_and_what_is_not_listed(hooked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bundle no finish() noted: its phase is the user's to name. Registered runs, heavy files' copies a
    branch switch left and dot folders are not pending runs."""
    register_ok(capsys, hooked, PHASE_A_RUN, "A", EXAMPLES / "phase_a_green")
    shutil.copytree(EXAMPLES / "phase_b_green", hooked / "outputs" / RUN)
    (hooked / "outputs" / "20261104T000000Z_other_branch").mkdir()
    (hooked / "outputs" / "20261104T000000Z_other_branch" / "model.pt").write_bytes(b"weights")
    (hooked / "outputs" / ".cache").mkdir()
    (hooked / "outputs" / ".cache" / "metrics.json").write_text("{}")
    record = hooked / "state" / "runs" / f"{PHASE_A_RUN}.yaml"
    kept = record.read_bytes()
    record.unlink()  # a registered run whose record is gone: damage, not a pending run
    pending = status_of(hooked, "--json")["pending_runs"]
    assert [(p["run_id"], p["folder"], p["kind"], p["phase"]) for p in pending] == [
        (RUN, f"outputs/{RUN}/", "bundle", None)
    ]
    check = python_m_gerhard("check", cwd=hooked)  # the same for check: damage a problem, a pending run a note
    assert check.returncode == 1
    assert sorted(line for line in check.stdout.splitlines() if "has no run record" in line) == [
        f"outputs/{folder}/ has no run record state/runs/{folder}.yaml: register the run, or remove the folder"
        for folder in (".cache", PHASE_A_RUN, "20261104T000000Z_other_branch")
    ]
    assert [line for line in check.stderr.splitlines() if line.startswith("note: ")] == [
        f"note: outputs/{RUN}/ (bundle, not registered yet): python -m gerhard register --run-id {RUN} "
        f"--phase PHASE --source-dir outputs/{RUN} (put its phase for PHASE)"
    ]
    record.write_bytes(kept)
    command = f"python -m gerhard register --run-id {RUN} --phase PHASE --source-dir outputs/{RUN}"
    assert status_of(hooked)[-2:] == [
        "1 run in outputs/ not registered yet:",
        f"  outputs/{RUN}/ (bundle, not registered yet): {command} (put its phase for PHASE)",
    ]
    elsewhere = python_m_gerhard("status", "--repo", hooked, cwd=hooked.parent)  # paths that work from there
    assert elsewhere.stdout.splitlines()[-1] == (
        f"  outputs/{RUN}/ (bundle, not registered yet): python -m gerhard register --repo {hooked} --run-id {RUN} "
        f"--phase PHASE --source-dir {hooked}/outputs/{RUN} (put its phase for PHASE)"
    )
    assert rejected(commit(hooked, f"outputs/{RUN}")) == [
        f"gerhard: outputs/{RUN}/ is not a registered run (no state/runs/{RUN}.yaml), and this commit adds its "
        f"files by hand: unstage them with 'git reset -q -- outputs/{RUN}/', then register it: {command} "
        "(put its phase for PHASE)"
    ]
    git_out(hooked, "reset", "-q")
    doctor = python_m_gerhard("doctor", "--json", cwd=hooked)
    assert doctor.returncode == 0, doctor.stderr
    report = json.loads(doctor.stdout)
    assert (report["ok"], report["problems"], [r["run_id"] for r in report["pending_runs"]]) == (True, [], [RUN])
    done = shell(command.replace("PHASE", "B"), cwd=hooked)
    assert done.returncode == 0, done.stderr
    assert status_of(hooked, "--json")["pending_runs"] == []


def test_a_checkpoint_run_registers_in_place_with_the_heavy_files_list(hooked: Path) -> None:
    """The registration writes the heavy files' .gitignore where gerhard's own was: put back when the commit
    fails (here a commit-msg hook refuses it), replaced when it is made."""
    run_ = start(hooked)
    log_losses(run_)
    Path("model.pt").write_bytes(b"weights")  # in the working directory, outside the registry
    run_.save_file("model.pt")
    hook = hooked / ".git" / "hooks" / "commit-msg"
    hook.write_text("#!/bin/sh\necho no commits today >&2\nexit 1\n")
    hook.chmod(0o755)
    head = git_out(hooked, "rev-parse", "HEAD")
    result = run_.finish(summary="v16", next_action="phase B")
    assert not result.registered and "commit-msg hook rejected" in result.message
    assert git_out(hooked, "rev-parse", "HEAD") == head
    assert (hooked / "outputs" / RUN / ".gitignore").read_bytes() == PENDING_IGNORE
    assert git_out(hooked, "status", "--porcelain", "--ignored") == f"!! outputs/{RUN}/\n"

    hook.unlink()
    done = shell(result.register_command, cwd=hooked)
    assert done.returncode == 0, done.stderr
    base = f"outputs/{RUN}"
    assert (hooked / base / ".gitignore").read_text().splitlines()[1:] == ["/model.pt"]
    tree = git_out(hooked, "ls-tree", "-r", "--name-only", "HEAD", f"{base}/").split()
    assert f"{base}/.gitignore" in tree and f"{base}/metrics.json" in tree and f"{base}/model.pt" not in tree
    assert git_out(hooked, "status", "--porcelain", "--ignored") == f"!! {base}/model.pt\n"
    check = python_m_gerhard("check", cwd=hooked)
    assert (check.returncode, check.stderr) == (0, ""), check.stdout


def test_doctor_lifts_the_pending_gitignore_a_registration_left_behind(
    hooked: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A registration that ended between its commit and removing the folder's .gitignore left a `*` that
    hides new files in a registered run from `git status`: check names it, doctor removes it (only
    gerhard's bytes: a .gitignore of other bytes is left alone), and check passes after."""
    register_ok(capsys, hooked, PHASE_A_RUN, "A", EXAMPLES / "phase_a_green")
    folder = hooked / "outputs" / PHASE_A_RUN
    (folder / ".gitignore").write_bytes(PENDING_IGNORE)
    assert run(capsys, "check", "--repo", hooked).rc == 1
    doctored = run(capsys, "doctor", "--repo", hooked)
    assert doctored.rc == 0
    assert "removed the .gitignore gerhard gives a run until it is registered from 1 registered run folder" in (
        doctored.out
    )
    assert not (folder / ".gitignore").exists()
    assert run(capsys, "check", "--repo", hooked).rc == 0
    (folder / ".gitignore").write_text("*.log\n")  # the user's own: doctor leaves it
    assert "removed the .gitignore" not in run(capsys, "doctor", "--repo", hooked).out
    assert (folder / ".gitignore").read_text() == "*.log\n"
