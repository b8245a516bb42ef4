"""The pre-commit hook: what a commit touches, read from git's index. Real repositories, real `git commit`.
`gerhard hooks install`, the launcher that finds gerhard and the pre-commit framework: tests/test_hooks_install.py."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from cli_helpers import commit, copy_run_by_hand, register_ok, rejected, run
from conftest import git
from ruamel.yaml import YAML

RUN_A = "20261101T100000Z_dense"
RUN_B = "20261101T120000Z_v15"
SOURCE = Path(__file__).resolve().parent.parent


def fix(rel: str) -> str:
    return f"run 'gerhard rebuild', then 'git add {rel}' and commit again"


def differs(rel: str) -> str:
    return f"gerhard: {rel} differs from what 'gerhard rebuild' computes from the run records: {fix(rel)}"


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


def registered_in(repo: Path, run_id: str) -> str:
    """The short id of the commit that registered a run (found by its trailer, as gerhard finds it)."""
    return git(repo, "log", "-1", "--format=%H", f"--grep=^Gerhard-Run-Id: {run_id}$")[:12]


def write_once(repo: Path, run_id: str, what: str, fix: str) -> str:
    """What the hook says of a commit that changes a registered run's files."""
    return (
        f"gerhard: run {run_id} is write-once (registered in commit {registered_in(repo, run_id)}), and this commit "
        f"{what}: restore it with {fix} (a run registered by mistake is withdrawn: gerhard decide {run_id} withdraw "
        "--reason '...')"
    )


def manifest_sha(repo: Path, run_id: str, name: str) -> str:
    files = json.loads((repo / "outputs" / run_id / "MANIFEST").read_text())["files"]
    return next(f["sha256"] for f in files if f["path"] == name)[:12]


# --- what passes -------------------------------------------------------------------------------


def test_registration_runs_the_hook_which_passes_it(
    hooked: Path, bundle_b_green: Path, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gerhard runs the repository's pre-commit hook inside its own transaction: content checked, the
    journal (that transaction's own) not held against it."""
    log = tmp_path / "hook-ran"
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\necho "$GERHARD_TXN" >> {log}\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    monkeypatch.setenv("GERHARD_PYTHON", str(python))
    register_ok(capsys, hooked, "20261102T090000Z_green", "B", bundle_b_green)
    assert log.read_text().startswith("gerhard-txn ")
    assert git(hooked, "status", "--porcelain") == ""


def test_a_registration_committed_with_git_commit_passes(hooked: Path, bundle_b_green: Path, capsys) -> None:
    """The registration's files staged as `git commit` sees them: folded from the parent, not rebuilt."""
    register_ok(capsys, hooked, "20261102T090000Z_green", "B", bundle_b_green)
    git(hooked, "reset", "-q", "--soft", "HEAD~1")
    done = commit(hooked)
    assert (done.returncode, done.stderr) == (0, "")


def test_an_unrelated_commit_passes(hooked: Path) -> None:
    (hooked / "notes.md").write_text("notes\n")
    (hooked / "docs" / "ops" / "runbook.md").write_text("# what to do when a run is RED\n")
    done = commit(hooked, "notes.md", "docs/ops/runbook.md")
    assert (done.returncode, done.stderr) == (0, "")


def test_the_first_commit_of_a_new_registry_passes(tmp_path: Path, capsys) -> None:
    repo = tmp_path / "new"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    assert run(capsys, "init", repo).rc == 0
    assert run(capsys, "hooks", "install", "--repo", repo).rc == 0
    done = commit(repo, ".")
    assert (done.returncode, done.stderr) == (0, "")


def test_only_bundles_or_only_state(hooked: Path, capsys) -> None:
    """The two halves the pre-commit framework runs as gerhard-bundles and gerhard-state."""
    (hooked / "outputs" / RUN_A / "seed.txt").write_text("999\n")
    (hooked / "reports" / "index.md").write_text("# typed over\n")
    git(hooked, "add", "-A")
    bundles = run(capsys, "hook", "pre-commit", "--only", "bundles", "--repo", hooked)
    state = run(capsys, "hook", "pre-commit", "--only", "state", "--repo", hooked)
    assert (bundles.rc, state.rc) == (1, 1)
    seed = f"outputs/{RUN_A}/seed.txt"
    commit_a = registered_in(hooked, RUN_A)
    assert bundles.err == write_once(hooked, RUN_A, f"changes {seed}", f"'git checkout {commit_a} -- {seed}'") + "\n"
    assert state.err == differs("reports/index.md") + "\n"


def test_a_comment_in_a_derived_state_file_passes(hooked: Path) -> None:
    path = hooked / "state" / "program_status.yaml"
    path.write_text(path.read_text() + "# reviewed on Monday\n")
    done = commit(hooked, "state/program_status.yaml")
    assert (done.returncode, done.stderr) == (0, "")


def test_a_decision_made_with_gerhard_decide_passes(hooked: Path, capsys) -> None:
    result = run(capsys, "decide", RUN_B, "waive", "--reason", "energy kernel lands next week", "--repo", hooked)
    assert result.rc == 0, result.err
    git(hooked, "reset", "-q", "--soft", "HEAD~1")  # and the same as a `git commit`
    done = commit(hooked)
    assert (done.returncode, done.stderr) == (0, "")


def test_it_checks_only_what_the_commit_touches(hooked: Path, bundle_b_green: Path, capsys) -> None:
    """A run damaged in an earlier commit (--no-verify) is not read again: `gerhard check` finds it."""
    (hooked / "outputs" / RUN_A / "seed.txt").write_text("999\n")
    git(hooked, "commit", "-q", "--no-verify", "-am", "damage")
    register_ok(capsys, hooked, "20261102T090000Z_green", "B", bundle_b_green)
    checked = run(capsys, "check", "--repo", hooked)
    assert checked.rc == 1
    assert checked.out.startswith(f"run {RUN_A} was changed after its registration in commit ")


def stage_registration(repo: Path, bundle: Path, capsys) -> None:
    register_ok(capsys, repo, "20261102T090000Z_green", "B", bundle)
    git(repo, "reset", "-q", "--soft", "HEAD~1")


def stage_decision(repo: Path, bundle: Path, capsys) -> None:
    assert run(capsys, "decide", RUN_B, "rerun", "--reason", "seed 2", "--repo", repo).rc == 0
    git(repo, "reset", "-q", "--soft", "HEAD~1")


def stage_comment(repo: Path, bundle: Path, capsys) -> None:
    for rel in ("state/program_status.yaml", "state/gate_results.yaml"):
        (repo / rel).write_text((repo / rel).read_text() + "# reviewed\n")
        git(repo, "add", rel)


def stage_threshold(repo: Path, bundle: Path, capsys) -> None:
    path = repo / "state" / "program.yaml"
    path.write_text(path.read_text().replace("value: 2.9", "value: 2.8", 1))
    git(repo, "add", "state/program.yaml")


@pytest.mark.parametrize("stage", [stage_registration, stage_decision, stage_comment, stage_threshold])
def test_common_commits_are_checked_without_reading_every_record(
    registered: Path, bundle_b_green: Path, capsys, monkeypatch: pytest.MonkeyPatch, stage
) -> None:
    """What keeps the hook's cost flat: these are folded from the parent commit, not rebuilt."""
    from gerhard.team import expected
    from gerhard.team.staged import staged_problems

    stage(registered, bundle_b_green, capsys)
    assert git(registered, "diff", "--cached", "--name-only")

    def every_record(*args: object) -> None:
        raise AssertionError("rebuilt from every record")

    monkeypatch.setattr(expected, "rebuilt_from", every_record)
    assert staged_problems(registered) == []


# --- what is rejected, one line per problem ------------------------------------------------------


def test_a_tampered_archived_file_is_rejected(hooked: Path) -> None:
    rel = f"outputs/{RUN_A}/seed.txt"
    sha = manifest_sha(hooked, RUN_A, "seed.txt")
    (hooked / rel).write_text("999\n")
    assert rejected(commit(hooked, rel)) == [
        write_once(hooked, RUN_A, f"changes {rel}", f"'git checkout {registered_in(hooked, RUN_A)} -- {rel}'")
    ]
    git(hooked, "commit", "-q", "--no-verify", "-m", "damage")  # what the hook is there for: a run no longer whole
    git(hooked, "revert", "--no-edit", "HEAD")  # a commit that puts it back as registered passes
    assert (hooked / rel).read_text() == "11\n"
    git(hooked, "reset", "-q", "--soft", "HEAD~1")
    done = commit(hooked)
    assert (done.returncode, done.stderr) == (0, "")
    assert sha == manifest_sha(hooked, RUN_A, "seed.txt")


def test_a_removed_archived_file_and_an_added_one_are_rejected(hooked: Path) -> None:
    git(hooked, "rm", "-q", f"outputs/{RUN_B}/eval_suite.json")
    (hooked / "outputs" / RUN_B / "extra.txt").write_text("x\n")
    suite, extra = f"outputs/{RUN_B}/eval_suite.json", f"outputs/{RUN_B}/extra.txt"
    commit_b = registered_in(hooked, RUN_B)
    assert rejected(commit(hooked, extra)) == [
        write_once(
            hooked,
            RUN_B,
            f"deletes {suite}; adds {extra}",
            f"'git checkout {commit_b} -- {suite}' and 'git rm {extra}'",
        )
    ]


def test_an_incomplete_bundle_is_rejected(hooked: Path, capsys) -> None:
    """A run archived by hand without the files its phase requires (its MANIFEST, record and derived
    files made to match): only the bundle is wrong."""
    from gerhard.registry.bundle import load_bundle, manifest_bytes

    run_id = "20261103T080000Z_by_hand"
    folder = hooked / "outputs" / run_id
    folder.mkdir()
    (folder / "seed.txt").write_text("1\n")
    bundle = load_bundle(folder)
    (folder / "MANIFEST").write_bytes(manifest_bytes(run_id, bundle))
    record = YAML(typ="safe").load((hooked / "state" / "runs" / f"{RUN_A}.yaml").read_text())
    record.update(run_id=run_id, seq=3, bundle_sha256=bundle.sha256, artifact_root=f"outputs/{run_id}")
    with (hooked / "state" / "runs" / f"{run_id}.yaml").open("w") as f:
        YAML().dump(record, f)
    assert run(capsys, "rebuild", "--repo", hooked).rc == 0
    assert rejected(commit(hooked, ".")) == [
        f"gerhard: outputs/{run_id}/ is missing metrics.json, config.yaml, required by phase A in state/program.yaml: "
        "archive runs with 'gerhard register' from their complete bundle, not by hand"
    ]


def test_a_run_of_a_phase_the_program_does_not_declare_is_rejected(hooked: Path) -> None:
    run_id = "20261103T080000Z_phase_z"
    shutil.copytree(hooked / "outputs" / RUN_A, hooked / "outputs" / run_id)
    manifest = hooked / "outputs" / run_id / "MANIFEST"
    manifest.write_text(manifest.read_text().replace(RUN_A, run_id))
    record = (hooked / "state" / "runs" / f"{RUN_A}.yaml").read_text().replace(RUN_A, run_id)
    (hooked / "state" / "runs" / f"{run_id}.yaml").write_text(record.replace("\nphase: A\n", "\nphase: Z\n"))
    lines = rejected(commit(hooked, "."))
    assert lines[0] == (
        f"gerhard: state/runs/{run_id}.yaml is a run of phase Z, which state/program.yaml does not declare: "
        "register the run with 'gerhard register --phase A|B|C'"
    )
    assert differs("state/program_status.yaml") in lines  # and the derived files were not folded


def test_an_invalid_run_record_is_rejected(hooked: Path) -> None:
    rel = f"state/runs/{RUN_A}.yaml"
    path = hooked / rel
    path.write_text(path.read_text().replace("verdict: GREEN", "verdict: PURPLE"))
    assert rejected(commit(hooked, rel)) == [
        write_once(hooked, RUN_A, f"changes {rel}", f"'git checkout {registered_in(hooked, RUN_A)} -- {rel}'"),
        f"gerhard: {rel}: $.verdict: 'PURPLE' is not one of ['GREEN', 'AMBER', 'RED'] (schema run_record): "
        f"restore it with 'git checkout HEAD -- {rel}'",
    ]


def test_an_invalid_program_is_rejected(hooked: Path) -> None:
    path = hooked / "state" / "program.yaml"
    path.write_text(path.read_text().replace('op: "<="', 'op: "=<"', 1))
    lines = rejected(commit(hooked, "state/program.yaml"))
    assert len(lines) == 1
    assert lines[0].startswith("gerhard: state/program.yaml: ")
    assert lines[0].endswith(": fix state/program.yaml, then commit again")


def test_a_hand_edited_derived_file_is_rejected_until_rebuilt(hooked: Path, capsys) -> None:
    board = "docs/ops/STATUS_BOARD.md"
    (hooked / board).write_text("# all green, trust me\n")
    assert rejected(commit(hooked, board)) == [differs(board)]
    assert run(capsys, "rebuild", "--repo", hooked).rc == 0  # what the line says to do
    git(hooked, "add", board)
    assert git(hooked, "status", "--porcelain") == ""  # the rebuild put it back: nothing left to commit


def test_a_changed_value_in_a_derived_state_file_is_rejected(hooked: Path) -> None:
    rel = "state/program_status.yaml"
    path = hooked / rel
    path.write_text(path.read_text().replace("current_phase: B", "current_phase: C"))
    assert rejected(commit(hooked, rel)) == [differs(rel)]


def test_a_registration_with_a_hand_edited_derived_file_is_rejected(hooked: Path, bundle_b_green: Path, capsys) -> None:
    register_ok(capsys, hooked, "20261102T090000Z_green", "B", bundle_b_green)
    git(hooked, "reset", "-q", "--soft", "HEAD~1")
    (hooked / "reports" / "index.md").write_text("# nothing to see\n")
    assert rejected(commit(hooked, "reports/index.md")) == [differs("reports/index.md")]


def test_a_decision_without_its_derived_files_is_rejected(hooked: Path, capsys) -> None:
    result = run(capsys, "decide", RUN_B, "waive", "--reason", "energy kernel lands next week", "--repo", hooked)
    assert result.rc == 0, result.err
    git(hooked, "reset", "-q", "--soft", "HEAD~1")
    git(hooked, "reset", "-q", "HEAD", "--", "state/program_status.yaml", "docs/ops/STATUS_BOARD.md")
    assert rejected(commit(hooked)) == [
        differs("docs/ops/STATUS_BOARD.md"),
        differs("state/program_status.yaml"),
    ]


def test_a_program_edit_needs_its_derived_files_rebuilt(hooked: Path, capsys) -> None:
    path = hooked / "state" / "program.yaml"
    path.write_text(path.read_text().replace("title: Dense baseline reproduction", "title: Dense baseline"))
    lines = rejected(commit(hooked, "state/program.yaml"))
    assert differs("docs/ops/STATUS_BOARD.md") in lines
    assert differs("state/program_status.yaml") in lines  # its program_digest
    assert run(capsys, "rebuild", "--repo", hooked).rc == 0
    done = commit(hooked, ".")
    assert (done.returncode, done.stderr) == (0, "")


def test_a_threshold_edit_passes_without_a_rebuild(hooked: Path) -> None:
    """Thresholds judge new runs only: the derived files stay as they are."""
    path = hooked / "state" / "program.yaml"
    path.write_text(path.read_text().replace("value: 2.6", "value: 2.5", 1))
    done = commit(hooked, "state/program.yaml")
    assert (done.returncode, done.stderr) == (0, "")


def test_a_registered_run_is_never_removed(hooked: Path, capsys) -> None:
    """Not even with its derived files rebuilt: a run registered by mistake is withdrawn (gerhard decide)."""
    git(hooked, "rm", "-rq", f"outputs/{RUN_B}", f"state/runs/{RUN_B}.yaml")
    assert run(capsys, "rebuild", "--repo", hooked).rc == 0
    folder, record = f"outputs/{RUN_B}", f"state/runs/{RUN_B}.yaml"
    lines = rejected(commit(hooked, "state", "reports", "docs"))
    assert lines == [
        write_once(
            hooked,
            RUN_B,
            f"deletes {folder}/ and {record}",
            f"'git checkout {registered_in(hooked, RUN_B)} -- {folder} {record}'",
        )
    ]


def test_a_record_added_by_hand_may_be_removed(hooked: Path, capsys) -> None:
    """A record no registration wrote is not a run: the hook lets it go (gerhard check names it meanwhile)."""
    run_id = "20261103T080000Z_copy"
    copy_run_by_hand(hooked, RUN_A, run_id, seq=3)
    assert run(capsys, "rebuild", "--repo", hooked).rc == 0
    done = commit(hooked, ".")
    assert (done.returncode, done.stderr) == (0, "")
    git(hooked, "rm", "-rq", f"outputs/{run_id}", f"state/runs/{run_id}.yaml")
    assert run(capsys, "rebuild", "--repo", hooked).rc == 0
    done = commit(hooked, ".")
    assert (done.returncode, done.stderr) == (0, "")
