"""End-to-end: `gerhard register` as one transaction in a real git repository.

A GREEN phase-A run, then a RED phase-B run; the commit, the archive, the run record, the
state files, the user's own work, re-registration, and a failure injected at every step
before the commit point (the repository must then be exactly as before).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from cli_helpers import (
    TRAILER_KEYS,
    USERS_STATUS,
    USERS_WORK,
    add_users_work,
    assert_one_line_error,
    assert_users_work,
    git_out,
    head_sha,
    load_yaml,
    python_m_gerhard,
    register,
    register_ok,
    run,
    trailer,
)
from conftest import EXAMPLES, PHASE_B_GATES, RUN_A, RUN_B, git, snapshot

from gerhard import register_run
from gerhard.errors import ConflictError


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_of(repo: Path, run_id: str) -> dict:
    return load_yaml(repo / "state" / "runs" / f"{run_id}.yaml")


def month_dir(record: dict) -> str:
    return f"{record['registered_at'][:4]}/{record['registered_at'][5:7]}"


@pytest.fixture
def registered(registered_ab: Path, bundle_a: Path, bundle_b_red: Path) -> Path:
    """A registry with a GREEN phase-A run and then a RED phase-B run registered (RUN_A from bundle_a, RUN_B from
    bundle_b_red, as register_ok registers them): conftest's registered_ab, a copy of the session's."""
    return registered_ab


# --- the commit ---------------------------------------------------------------------------


def test_red_commit_holds_exactly_the_registration_files(registered: Path) -> None:
    record = record_of(registered, RUN_B)
    month = month_dir(record)
    names = git_out(registered, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(names) == sorted(
        [
            "docs/ops/STATUS_BOARD.md",
            f"outputs/{RUN_B}/MANIFEST",
            f"outputs/{RUN_B}/config.yaml",
            f"outputs/{RUN_B}/eval_suite.json",
            f"outputs/{RUN_B}/metrics.json",
            f"outputs/{RUN_B}/provenance.json",
            f"outputs/{RUN_B}/seed.txt",
            f"outputs/{RUN_B}/v15_spikingbrain.json",
            f"reports/{month}/index.md",
            f"reports/{month}/{RUN_B}.md",
            "reports/index.md",
            "state/gate_results.yaml",
            f"state/ledger/{record['registered_at'][:7]}.jsonl",
            f"state/needs_input/{RUN_B}.yaml",
            "state/program_status.yaml",
            f"state/runs/{RUN_B}.yaml",
        ]
    )
    # one commit per registration, on top of the previous one
    assert git_out(registered, "rev-list", "--count", "HEAD").strip() == "3"
    assert git_out(registered, "log", "-1", "--format=%s", "HEAD~1").strip().startswith(f"register {RUN_A} (phase A)")


def test_green_commit_has_no_needs_input_file(registry: Path, bundle_a: Path, capsys) -> None:
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    names = git_out(registry, "show", "--name-only", "--format=", "HEAD").split()
    assert not [n for n in names if n.startswith("state/needs_input/")]
    assert not (registry / "state" / "needs_input" / f"{RUN_A}.yaml").exists()
    assert f"outputs/{RUN_A}/MANIFEST" in names
    subject = git_out(registry, "log", "-1", "--format=%s").strip()
    assert subject == f"register {RUN_A} (phase A): GREEN 1/1 gates passed"


def test_commit_subject_body_and_trailers(registered: Path, bundle_b_red: Path) -> None:
    record = record_of(registered, RUN_B)
    message = git_out(registered, "log", "-1", "--format=%B")
    subject, body, trailers = message.rstrip("\n").split("\n\n")
    assert subject == f"register {RUN_B} (phase B): RED 2/6 gates passed"
    assert body.splitlines()[:2] == [f"Summary: {RUN_B} summary", "Next action: go on"]
    assert body.splitlines()[2] == (
        "Failed gates: val_loss_max (observed 3.05, <= 2.9), eval_pass_rate_min (observed 0.4, >= 0.8), "
        "spike_rate_band (observed 0.025, in [0.05, 0.25]), energy_ratio_advisory (observed 0.62, <= 0.5)"
    )
    assert [line.split(":")[0] for line in trailers.splitlines()] == TRAILER_KEYS
    config_sha = sha256((bundle_b_red / "config.yaml").read_bytes())
    expected = {
        "Gerhard-Run-Id": RUN_B,
        "Gerhard-Phase": "B",
        "Gerhard-Verdict": "RED",
        "Gerhard-Code-SHA": "3f9c2a1d8e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a",
        "Gerhard-Code-Dirty": "false",
        "Gerhard-Config-SHA256": config_sha,
        "Gerhard-Bundle-SHA256": record["bundle_sha256"],
    }
    for key, value in expected.items():
        assert trailer(registered, key) == value, key
    assert record["config_sha256"] == config_sha
    # the audit trail: trailers of every registration under state/
    verdicts = git_out(registered, "log", "--format=%(trailers:key=Gerhard-Verdict,valueonly)", "--", "state/")
    assert verdicts.split() == ["RED", "GREEN"]


def test_commit_body_says_none_without_summary(registry: Path, bundle_a: Path, capsys) -> None:
    assert register(capsys, registry, RUN_A, "A", bundle_a).rc == 0
    body = git_out(registry, "log", "-1", "--format=%b")
    assert body.startswith("Summary: (none)\nNext action: (none)\n")


# --- the archive and the record ------------------------------------------------------------


def test_archive_is_byte_identical_with_a_manifest(registered: Path, bundle_b_red: Path) -> None:
    out = registered / "outputs" / RUN_B
    sources = sorted(p.name for p in bundle_b_red.iterdir())
    assert sorted(p.name for p in out.iterdir()) == sorted([*sources, "MANIFEST"])
    for name in sources:
        assert (out / name).read_bytes() == (bundle_b_red / name).read_bytes(), name
    manifest = json.loads((out / "MANIFEST").read_text())
    assert manifest["run_id"] == RUN_B
    assert manifest["bundle_sha256"] == record_of(registered, RUN_B)["bundle_sha256"]
    assert {f["path"]: (f["sha256"], f["size"]) for f in manifest["files"]} == {
        name: (sha256((bundle_b_red / name).read_bytes()), (bundle_b_red / name).stat().st_size) for name in sources
    }
    # the committed blobs are the same bytes
    committed = git_out(registered, "show", f"HEAD:outputs/{RUN_B}/metrics.json")
    assert committed == (bundle_b_red / "metrics.json").read_text()


def test_run_record_fields(registered: Path, bundle_b_red: Path) -> None:
    r = record_of(registered, RUN_B)
    config_bytes = (bundle_b_red / "config.yaml").read_bytes()
    assert r["run_id"] == RUN_B
    assert r["seq"] == 2
    assert r["phase"] == "B"
    assert r["verdict"] == "RED"
    assert r["forced"] is False
    gates = {g["id"]: g for g in r["gates"]}
    assert list(gates) == PHASE_B_GATES
    assert (gates["val_loss_max"]["observed"], gates["val_loss_max"]["threshold"]) == (3.05, "<= 2.9")
    assert gates["val_loss_max"]["passed"] is False
    assert gates["val_loss_max"]["severity"] == "blocking"
    assert (gates["eval_pass_rate_min"]["observed"], gates["eval_pass_rate_min"]["threshold"]) == (0.4, ">= 0.8")
    assert (gates["spike_rate_band"]["observed"], gates["spike_rate_band"]["threshold"]) == (0.025, "in [0.05, 0.25]")
    assert gates["energy_ratio_advisory"]["severity"] == "advisory"
    assert gates["energy_ratio_advisory"]["passed"] is False
    assert gates["val_loss_vs_best_green"]["passed"] is True
    assert "no GREEN baseline" in gates["val_loss_vs_best_green"]["reason"]
    assert r["metrics"] == json.loads((bundle_b_red / "metrics.json").read_text())["final"]
    assert r["config_sha256"] == sha256(config_bytes)
    assert r["config"] == load_yaml(bundle_b_red / "config.yaml")
    assert r["seed"] == 4321
    assert r["code_sha"] == "3f9c2a1d8e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a"
    assert r["code_dirty"] is False
    assert r["code_sha_source"] == "provenance.json"
    assert r["artifact_root"] == f"outputs/{RUN_B}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["registered_at"])
    assert r["summary"] == f"{RUN_B} summary"
    assert r["next_action"] == "go on"
    assert r["files"] == 6


def test_code_sha_from_registry_head_without_provenance(registry: Path, bundle_a: Path, capsys) -> None:
    (bundle_a / "provenance.json").unlink()
    before = head_sha(registry)
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    r = record_of(registry, RUN_A)
    assert (r["code_sha"], r["code_dirty"], r["code_sha_source"]) == (before, False, "registry HEAD")
    assert trailer(registry, "Gerhard-Code-SHA") == before
    assert trailer(registry, "Gerhard-Code-Dirty") == "false"
    assert sorted(p.name for p in (registry / "outputs" / RUN_A).iterdir()) == [
        "MANIFEST",
        "config.yaml",
        "metrics.json",
        "seed.txt",
    ]


def test_code_outside_git_is_recorded_as_code_not_in_git_never_the_registry_head(
    registry: Path, bundle_a: Path, capsys
) -> None:
    prov = json.loads((bundle_a / "provenance.json").read_text())
    (bundle_a / "provenance.json").write_text(json.dumps({**prov, "code_sha": None, "dirty": False}))
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    r = record_of(registry, RUN_A)
    assert (r["code_sha"], r["code_dirty"], r["code_sha_source"]) == (None, None, "code not in git")
    assert trailer(registry, "Gerhard-Code-SHA") == "unknown"
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0
    assert run(capsys, "check", "--repo", registry).rc == 0


def test_code_dirty_from_registry_with_uncommitted_tracked_change(registry: Path, bundle_a: Path, capsys) -> None:
    (bundle_a / "provenance.json").unlink()
    (registry / "notes.txt").write_text("v1\n")
    git(registry, "add", "notes.txt")
    git(registry, "commit", "-q", "-m", "notes")
    (registry / "notes.txt").write_text("v2\n")
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    r = record_of(registry, RUN_A)
    assert (r["code_dirty"], r["code_sha_source"]) == (True, "registry HEAD")
    assert trailer(registry, "Gerhard-Code-Dirty") == "true"


def test_needs_input_only_for_red(registered: Path) -> None:
    needs = sorted(p.name for p in (registered / "state" / "needs_input").glob("*.yaml"))
    assert needs == [f"{RUN_B}.yaml"]
    doc = load_yaml(registered / "state" / "needs_input" / f"{RUN_B}.yaml")
    assert doc["run_id"] == RUN_B
    assert doc["status"] == "open"
    assert [g["id"] for g in doc["failed_gates"]] == [
        "val_loss_max",
        "eval_pass_rate_min",
        "spike_rate_band",
        "energy_ratio_advisory",
    ]
    assert {o["option"] for o in doc["options"]} >= {"rerun", "waive", "stop"}


def test_state_files_after_registrations(registered: Path) -> None:
    status = load_yaml(registered / "state" / "program_status.yaml")
    assert status["current_phase"] == "B"
    assert status["run_count"] == 2
    assert (status["latest_run"], status["latest_verdict"]) == (RUN_B, "RED")
    assert status["phases"]["A"]["state"] == "passed"
    assert status["phases"]["A"]["passed_by"] == RUN_A
    assert status["phases"]["B"]["state"] == "blocked"
    assert status["phases"]["C"]["state"] == "pending"
    assert [n["run_id"] for n in status["open_needs_input"]] == [RUN_B]
    gate_results = load_yaml(registered / "state" / "gate_results.yaml")
    assert gate_results["phases"]["A"]["run_id"] == RUN_A
    assert (gate_results["phases"]["B"]["passed"], gate_results["phases"]["B"]["total"]) == (2, 6)
    index = (registered / "reports" / "index.md").read_text()
    assert index.index(RUN_B) < index.index(RUN_A)  # latest first


def test_work_tree_and_index_clean_after_registration(registered: Path) -> None:
    assert git_out(registered, "status", "--porcelain", "--untracked-files=all") == ""
    assert git_out(registered, "diff", "--cached", "--name-only") == ""


# --- the user's own work --------------------------------------------------------------------


def test_users_staged_and_unstaged_changes_survive(registry: Path, bundle_a: Path, capsys) -> None:
    add_users_work(registry)
    staged_before = git_out(registry, "ls-files", "-s", "staged.txt", "user.txt")

    register_ok(capsys, registry, RUN_A, "A", bundle_a)

    names = git_out(registry, "show", "--name-only", "--format=", "HEAD").split()
    assert not set(USERS_WORK) & set(names)
    assert_users_work(registry)
    assert git_out(registry, "ls-files", "-s", "staged.txt", "user.txt") == staged_before
    assert git_out(registry, "status", "--porcelain").splitlines() == USERS_STATUS
    assert git_out(registry, "show", "HEAD:user.txt") == "committed\n"


# --- re-registration ------------------------------------------------------------------------


def test_idempotent_reregistration_is_a_no_op(registered: Path, bundle_b_red: Path, capsys) -> None:
    before = snapshot(registered)
    result = register(capsys, registered, RUN_B, "B", bundle_b_red)
    assert result.rc == 0, result.err
    assert "already registered" in result.out
    assert f"run {RUN_B} (phase B): RED, 2/6 gates passed" in result.out
    assert result.err == ""
    assert snapshot(registered) == before


def test_idempotent_reregistration_from_a_copy_with_json(registered: Path, tmp_path: Path, capsys) -> None:
    copy = shutil.copytree(EXAMPLES / "phase_b_red", tmp_path / "elsewhere")
    before = snapshot(registered)
    result = register(capsys, registered, RUN_B, "B", copy, "--json")
    assert result.rc == 0
    data = json.loads(result.out)
    assert (data["already_registered"], data["commit"], data["verdict"]) == (True, None, "RED")
    assert snapshot(registered) == before


def test_conflicting_reregistration_is_refused(registered: Path, bundle_b_red: Path, capsys) -> None:
    metrics = bundle_b_red / "metrics.json"
    data = metrics.read_bytes()
    metrics.write_bytes(data.replace(b"3.05", b"3.06", 1))  # one byte changed
    before = snapshot(registered)
    result = register(capsys, registered, RUN_B, "B", bundle_b_red)
    assert_one_line_error(result, f"run {RUN_B} is already registered with different content", "--run-id")
    assert snapshot(registered) == before


def test_reregistration_for_another_phase_is_refused(registered: Path, bundle_b_red: Path, capsys) -> None:
    before = snapshot(registered)
    result = register(capsys, registered, RUN_B, "C", bundle_b_red, "--force")
    assert_one_line_error(result, f"run {RUN_B} is already registered for phase B, not C", "--run-id")
    assert snapshot(registered) == before


# --- Python API and output modes ------------------------------------------------------------


def test_python_api_register_run(registry: Path, bundle_a: Path, capsys) -> None:
    from gerhard import register_run

    result = register_run(
        run_id=RUN_A,
        phase="A",
        source_dir=Path(bundle_a),
        repo_root=Path(registry),
        summary="dense baseline on RunPod",
        next_action="start phase B",
    )
    print(result)
    out = capsys.readouterr().out
    commit = head_sha(registry)
    record = record_of(registry, RUN_A)
    report = f"reports/{month_dir(record)}/{RUN_A}.md"
    assert result.commit == commit
    assert (result.run_id, result.verdict, result.gates_passed, result.gates_total) == (RUN_A, "GREEN", 1, 1)
    assert result.report == report
    assert f"run {RUN_A} (phase A): GREEN, 1/1 gates passed" in out
    assert f"commit {commit}" in out
    assert f"report: {report}" in out
    assert (registry / report).is_file()
    assert record["summary"] == "dense baseline on RunPod"
    assert record["next_action"] == "start phase B"


def test_python_api_raises_user_error_and_changes_nothing(registry: Path, bundle_b_red: Path) -> None:
    from gerhard import UserError, register_run

    before = snapshot(registry)
    with pytest.raises(UserError, match="phase B is not open yet: the current phase is A"):
        register_run(run_id=RUN_B, phase="B", source_dir=bundle_b_red, repo_root=registry)
    assert snapshot(registry) == before


def test_json_output(registry: Path, bundle_a: Path, capsys) -> None:
    result = register(capsys, registry, RUN_A, "A", bundle_a, "--json")
    assert result.rc == 0
    data = json.loads(result.out)
    assert data["run_id"] == RUN_A
    assert data["verdict"] == "GREEN"
    assert (data["gates_passed"], data["gates_total"]) == (1, 1)
    assert data["commit"] == head_sha(registry)
    assert data["already_registered"] is False
    assert data["needs_input"] is None
    assert data["artifact_root"] == f"outputs/{RUN_A}"


def test_fail_on_red_exits_1_and_still_commits(registry: Path, bundle_a: Path, bundle_b_red: Path, capsys) -> None:
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    result = register(capsys, registry, RUN_B, "B", bundle_b_red, "--fail-on-red")
    assert result.rc == 1
    assert "RED, 2/6 gates passed" in result.out
    assert trailer(registry, "Gerhard-Verdict") == "RED"
    assert trailer(registry, "Gerhard-Run-Id") == RUN_B
    assert git_out(registry, "status", "--porcelain") == ""


def test_fail_on_red_does_not_fail_green(registry: Path, bundle_a: Path, capsys) -> None:
    assert register(capsys, registry, RUN_A, "A", bundle_a, "--fail-on-red").rc == 0


def test_fail_on_red_exit_code_of_the_whole_process(registry: Path, bundle_a: Path, bundle_b_red: Path) -> None:
    args = ["register", "--repo", registry, "--phase"]
    done = python_m_gerhard(*args, "A", "--run-id", RUN_A, "--source-dir", bundle_a, "--fail-on-red")
    assert done.returncode == 0, done.stderr
    done = python_m_gerhard(*args, "B", "--run-id", RUN_B, "--source-dir", bundle_b_red, "--fail-on-red")
    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    assert trailer(registry, "Gerhard-Verdict") == "RED"


def test_force_registers_a_future_phase(registry: Path, bundle_b_green: Path, capsys) -> None:
    before = snapshot(registry)
    refused = register(capsys, registry, "early_c", "C", bundle_b_green)
    assert_one_line_error(refused, "phase C is not open yet: the current phase is A", "--force")
    assert snapshot(registry) == before
    result = register(capsys, registry, "early_c", "C", bundle_b_green, "--force")
    assert result.rc == 0, result.err
    record = record_of(registry, "early_c")
    assert (record["phase"], record["forced"]) == ("C", True)
    assert trailer(registry, "Gerhard-Phase") == "C"
    status = load_yaml(registry / "state" / "program_status.yaml")
    assert status["current_phase"] == "A"  # forcing C in does not pass A


# --- the program and the state files --------------------------------------------------------


def test_uncommitted_program_edit_is_refused(registry: Path, bundle_a: Path, capsys) -> None:
    program = registry / "state" / "program.yaml"
    program.write_text(program.read_text().replace("value: 2.6", "value: 9.9"))
    before = snapshot(registry)
    result = register(capsys, registry, RUN_A, "A", bundle_a)
    assert_one_line_error(result, "state/program.yaml has changes that are not committed", "commit it first")
    assert snapshot(registry) == before


def test_program_edited_after_runs_folds_like_rebuild(registry: Path, bundle_a: Path, bundle_b_red, capsys) -> None:
    # A phase inserted and the program renamed after a run: the next registration judges by the
    # committed program (its current phase is the new one) and derives what rebuild derives.
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    program = registry / "state" / "program.yaml"
    text = program.read_text().replace("program: asnn-goose-v15", "program: renamed")
    inserted = "  - id: A2\n    title: Inserted\n    required: [metrics.json]\n    gates: []\n\n  - id: B\n"
    program.write_text(text.replace("  - id: B\n", inserted, 1))
    git(registry, "commit", "-q", "-am", "insert phase A2")
    refused = register(capsys, registry, RUN_B, "B", bundle_b_red)
    assert_one_line_error(refused, "phase B is not open yet: the current phase is A2 (Inserted)", "pass --force")
    assert register(capsys, registry, RUN_B, "A2", bundle_b_red).rc == 0
    status = load_yaml(registry / "state" / "program_status.yaml")
    assert status["program"] == "renamed"
    assert status["current_phase"] == "B"
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0


def test_human_comments_in_status_survive_with_a_small_diff(
    registry: Path, bundle_a: Path, bundle_b_red: Path, capsys
) -> None:
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    path = registry / "state" / "program_status.yaml"
    text = path.read_text()
    note = "# Reviewed by Alice: phase A is done.\n"
    text = text.replace("current_phase: B\n", note + "current_phase: B  # we are here\n")
    text = text.replace("run_count: 1\n", "run_count: 1  # every run counts\n")
    text += "owner: alice  # who to ask\n"
    path.write_text(text)
    git(registry, "commit", "-q", "-am", "notes in the status file")
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0

    register_ok(capsys, registry, RUN_B, "B", bundle_b_red)

    after = path.read_text()
    for kept in (
        "# Reviewed by Alice: phase A is done.\n",
        "current_phase: B  # we are here\n",
        "run_count: 2  # every run counts\n",
        "owner: alice  # who to ask\n",
    ):
        assert kept in after, kept
    diff = git_out(registry, "diff", "-U0", "HEAD~1", "HEAD", "--", "state/program_status.yaml")
    removed = [line[1:] for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    must_change = {"run_count", "latest_run", "latest_verdict", "latest_registered_at", "open_needs_input"}
    must_change |= {"state", "runs", record_of(registry, RUN_B)["registered_at"][:7]}
    assert removed, diff
    assert len(removed) <= 11, diff
    for line in removed:
        assert line.strip().split(":")[0].strip("'") in must_change, line
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0  # rebuild keeps the notes too


def test_rebuild_check_is_clean_and_rebuild_reproduces_committed_files(registered: Path, capsys) -> None:
    check = run(capsys, "rebuild", "--check", "--repo", registered)
    assert check.rc == 0, check.out
    assert check.out == ""
    assert "0 differ" in check.err
    before = snapshot(registered)
    assert run(capsys, "rebuild", "--repo", registered).rc == 0
    assert snapshot(registered) == before
    assert git_out(registered, "status", "--porcelain", "--untracked-files=all") == ""


def test_rebuild_restores_a_corrupted_index(registered: Path, capsys) -> None:
    index = registered / "reports" / "index.md"
    committed = index.read_bytes()
    index.write_text("# someone typed over this\n")
    check = run(capsys, "rebuild", "--check", "--repo", registered)
    assert check.rc == 1
    assert check.out == "differs from rebuild: reports/index.md\n"
    fixed = run(capsys, "rebuild", "--repo", registered)
    assert fixed.rc == 0
    assert "rewrote reports/index.md" in fixed.out
    assert index.read_bytes() == committed
    assert git_out(registered, "status", "--porcelain") == ""


# --- a failure at any step before the commit point leaves the repository as it was ----------

INJECTION_POINTS = [
    "gerhard.registry.registry.registry_lock",
    "gerhard.registry.store.load_program",
    "gerhard.flows.registration.load_bundle",
    "gerhard.flows.registration.load_artifacts",
    "gerhard.flows.registration.already_registered",
    "gerhard.flows.registration.check_phase_allowed",
    "gerhard.flows.registration.evaluate_gates",
    "gerhard.flows.registration.build_record",
    "gerhard.flows.registration.archive_files",
    "gerhard.flows.registration.derived_files",
    "gerhard.flows.registration.commit_message",
    "gerhard.git.gitrepo.read_trees",
    "gerhard.git.transaction.check_untouched",
    "gerhard.git.gitrepo.write_tree",
    "gerhard.git.gitrepo.commit_tree",
    "gerhard.git.gitrepo.update_ref",
]


INSIDE_TRANSACTION = INJECTION_POINTS[-4:]  # while git's index lock is held


@pytest.mark.parametrize(
    ("exc", "rc"), [(RuntimeError("injected failure"), 3), (KeyboardInterrupt(), 130)], ids=["error", "ctrl-c"]
)
@pytest.mark.parametrize("target", INJECTION_POINTS)
def test_injected_failure_leaves_repo_unchanged(
    registry: Path,
    bundle_a: Path,
    bundle_b_red: Path,
    capsys,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    exc: BaseException,
    rc: int,
) -> None:
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    (registry / "notes.txt").write_text("the user's unstaged work\n")
    (registry / "staged.txt").write_text("the user's staged work\n")
    git(registry, "add", "staged.txt")
    before = snapshot(registry)

    def boom(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(target, boom)
    result = register(capsys, registry, RUN_B, "B", bundle_b_red)
    assert result.rc == rc, result.err
    lines = result.err.splitlines()
    if isinstance(exc, KeyboardInterrupt) and target in INSIDE_TRANSACTION:  # says that it undid the work
        assert lines[0].startswith(f"gerhard: undid an interrupted transaction (register {RUN_B} (phase B)")
        lines = lines[1:]
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    assert snapshot(registry) == before

    monkeypatch.undo()  # nothing half-written is left in the way of the next attempt
    register_ok(capsys, registry, RUN_B, "B", bundle_b_red)
    assert trailer(registry, "Gerhard-Run-Id") == RUN_B
    assert git_out(registry, "status", "--porcelain").splitlines() == ["A  staged.txt", "?? notes.txt"]


def test_lock_held_by_another_process_is_refused(
    registry: Path, bundle_a: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functools
    import subprocess
    import sys

    from gerhard.git import lock

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from filelock import FileLock; l = FileLock(sys.argv[1]); l.acquire(); "
            "print('locked', flush=True); time.sleep(60)",
            str(registry / ".git" / "gerhard.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setattr(
            "gerhard.registry.registry.registry_lock", functools.partial(lock.registry_lock, timeout=0.2)
        )
        before = snapshot(registry)
        result = register(capsys, registry, RUN_A, "A", bundle_a)
        assert_one_line_error(result, "another gerhard command has held", "gerhard.lock", "try again")
        assert snapshot(registry) == before
    finally:
        holder.kill()
        holder.wait()
    monkeypatch.undo()
    register_ok(capsys, registry, RUN_A, "A", bundle_a)


@pytest.mark.parametrize("target", ["gerhard.flows.registration.archive_files", "gerhard.git.gitrepo.update_ref"])
def test_injected_failure_without_provenance_leaves_index_unchanged(
    registry: Path, bundle_a: Path, bundle_b_red: Path, capsys, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """Without provenance.json gerhard asks git whether the registry is dirty; that must not write the index."""
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    (bundle_b_red / "provenance.json").unlink()
    before = snapshot(registry)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected failure")

    monkeypatch.setattr(target, boom)
    result = register(capsys, registry, RUN_B, "B", bundle_b_red)
    assert result.rc == 3, result.err
    assert snapshot(registry) == before


# --- more of the state machine, end to end ------------------------------------------------


def test_amber_run_passes_its_phase_without_needs_input(
    registry: Path, bundle_a: Path, bundle_b_green: Path, capsys
) -> None:
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    spiking = bundle_b_green / "v15_spikingbrain.json"
    data = json.loads(spiking.read_text())
    data["energy_ratio"] = 0.9  # only the advisory gate fails
    spiking.write_text(json.dumps(data))
    result = register(capsys, registry, "amber", "B", bundle_b_green, "--fail-on-red")
    assert result.rc == 0, result.err
    subject = git_out(registry, "log", "-1", "--format=%s").strip()
    assert subject == "register amber (phase B): AMBER 5/6 gates passed"
    assert not (registry / "state" / "needs_input" / "amber.yaml").exists()
    status = load_yaml(registry / "state" / "program_status.yaml")
    assert (status["phases"]["B"]["state"], status["current_phase"]) == ("passed", "C")
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0


def test_relative_gate_compares_with_the_best_green_run(
    registry: Path, bundle_a: Path, bundle_b_green: Path, tmp_path: Path, capsys
) -> None:
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    register_ok(capsys, registry, "b_green", "B", bundle_b_green)
    best = record_of(registry, "b_green")["metrics"]["val_loss"]
    worse = shutil.copytree(bundle_b_green, tmp_path / "worse")
    metrics = json.loads((worse / "metrics.json").read_text())
    metrics["final"]["val_loss"] = round(best + 0.1, 4)  # still under 2.9, but a regression
    (worse / "metrics.json").write_text(json.dumps(metrics))
    register_ok(capsys, registry, "b_worse", "B", worse)
    gate = {g["id"]: g for g in record_of(registry, "b_worse")["gates"]}["val_loss_vs_best_green"]
    assert gate["passed"] is False
    assert gate["baseline_run"] == "b_green"
    assert gate["threshold"] == f"<= {best + 0.05:.6g} (best_green b_green)"
    assert trailer(registry, "Gerhard-Verdict") == "RED"
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0


def test_forced_run_and_nested_files_rebuild_cleanly(registry: Path, bundle_b_green: Path, capsys) -> None:
    (bundle_b_green / "plots" / "curves").mkdir(parents=True)
    (bundle_b_green / "plots" / "curves" / "loss.png").write_bytes(b"\x89PNG fake")
    (bundle_b_green / ".ipynb_checkpoints").mkdir()  # notebook droppings are not part of the run
    (bundle_b_green / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    assert register(capsys, registry, "early", "C", bundle_b_green, "--force").rc == 0
    archived = registry / "outputs" / "early" / "plots" / "curves" / "loss.png"
    assert archived.read_bytes() == b"\x89PNG fake"
    assert not (registry / "outputs" / "early" / ".ipynb_checkpoints").exists()
    manifest = json.loads((registry / "outputs" / "early" / "MANIFEST").read_text())
    assert "plots/curves/loss.png" in [f["path"] for f in manifest["files"]]
    assert git_out(registry, "ls-tree", "-r", "--name-only", "HEAD", "outputs/early/plots").split() == [
        "outputs/early/plots/curves/loss.png"
    ]
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0
    assert git_out(registry, "status", "--porcelain") == ""


def test_concurrent_registrations_in_one_clone_serialize(
    registry: Path, bundle_a: Path, bundle_b_red: Path, capsys
) -> None:
    import subprocess
    import sys

    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gerhard", "register", "--repo", str(registry), "--phase", "B"]
            + ["--run-id", f"b_{n}", "--source-dir", str(bundle_b_red), "--allow-duplicate"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    outcomes = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert outcomes == [(0, "")] * 4
    assert git_out(registry, "rev-list", "--count", "HEAD").strip() == "6"
    status = load_yaml(registry / "state" / "program_status.yaml")
    assert status["run_count"] == 5
    assert sorted(r["seq"] for r in (record_of(registry, f"b_{n}") for n in range(4))) == [2, 3, 4, 5]
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0
    assert git_out(registry, "status", "--porcelain") == ""


def test_a_commit_made_meanwhile_is_not_overwritten(
    registry: Path, bundle_a: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gerhard.git import gitrepo

    real_commit_tree = gitrepo.commit_tree

    def commit_tree_while_someone_commits(*args: object, **kwargs: object) -> str:
        sha = real_commit_tree(*args, **kwargs)  # type: ignore[arg-type]
        # git's index is locked by the registration, so `git commit` would fail here (see the test of
        # concurrent git commands); a branch moved without the index (another work tree, a script
        # with plumbing) must still be detected.
        tree = git(registry, "rev-parse", "HEAD^{tree}").strip()
        other = git(registry, "commit-tree", tree, "-p", "HEAD", "-m", "someone else, meanwhile").strip()
        git(registry, "update-ref", "refs/heads/main", other)
        return sha

    monkeypatch.setattr("gerhard.git.gitrepo.commit_tree", commit_tree_while_someone_commits)
    result = register(capsys, registry, RUN_A, "A", bundle_a)
    assert_one_line_error(result, "refs/heads/main moved while registering", "run the command again")
    assert git_out(registry, "log", "-1", "--format=%s").strip() == "someone else, meanwhile"
    assert not (registry / "outputs" / RUN_A).exists()
    assert not (registry / "state" / "runs" / f"{RUN_A}.yaml").exists()
    assert git_out(registry, "status", "--porcelain", "--untracked-files=all") == ""
    monkeypatch.undo()
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    assert git_out(registry, "log", "-2", "--format=%s").splitlines()[1] == "someone else, meanwhile"


def test_register_in_a_linked_worktree(registry: Path, bundle_a: Path, tmp_path: Path, capsys) -> None:
    linked = tmp_path / "linked"
    git(registry, "worktree", "add", "-q", "-b", "review", str(linked))
    main_before = head_sha(registry)
    register_ok(capsys, linked, RUN_A, "A", bundle_a)
    assert head_sha(registry) == main_before
    assert git_out(registry, "log", "-1", "--format=%s", "review").startswith(f"register {RUN_A}")
    assert (linked / "state" / "runs" / f"{RUN_A}.yaml").is_file()
    assert not (registry / "state" / "runs" / f"{RUN_A}.yaml").exists()
    assert git_out(linked, "status", "--porcelain") == ""
    assert git_out(registry, "status", "--porcelain") == ""


def test_multiline_summary_cannot_forge_trailers(registry: Path, bundle_a: Path, capsys) -> None:
    summary = "looks fine\n\nGerhard-Verdict: GREEN\nGerhard-Run-Id: forged"
    result = register(capsys, registry, RUN_A, "A", bundle_a, "--summary", summary)
    assert result.rc == 0
    assert trailer(registry, "Gerhard-Run-Id") == RUN_A
    assert trailer(registry, "Gerhard-Verdict") == "GREEN"
    assert record_of(registry, RUN_A)["summary"] == summary


def test_bundle_written_under_outputs_registers_in_place(registry: Path, capsys) -> None:
    """The RunPod handoff: the notebook's save cell writes the canonical bundle to outputs/<run_id>/
    in the repository, then calls register_run on that folder."""
    from gerhard import register_run

    in_place = shutil.copytree(EXAMPLES / "phase_a_green", registry / "outputs" / RUN_A)
    originals = {p.name: p.read_bytes() for p in in_place.iterdir()}
    result = register_run(run_id=RUN_A, phase="A", source_dir=in_place, repo_root=registry)
    assert (result.verdict, result.commit) == ("GREEN", head_sha(registry))
    assert {p.name: p.read_bytes() for p in in_place.iterdir() if p.name != "MANIFEST"} == originals
    names = git_out(registry, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(n for n in names if n.startswith("outputs/")) == sorted(
        [f"outputs/{RUN_A}/{name}" for name in [*originals, "MANIFEST"]]
    )
    assert git_out(registry, "status", "--porcelain", "--untracked-files=all") == ""
    again = register(capsys, registry, RUN_A, "A", in_place)  # and it stays idempotent
    assert (again.rc, "already registered" in again.out) == (0, True)


def test_reregistering_from_a_copy_of_the_archive_is_a_no_op(registered: Path, tmp_path: Path, capsys) -> None:
    """outputs/<run_id>/ (with its MANIFEST) synced elsewhere and registered again: the same run."""
    copy = shutil.copytree(registered / "outputs" / RUN_B, tmp_path / "synced_back")
    before = snapshot(registered)
    result = register(capsys, registered, RUN_B, "B", copy)
    assert result.rc == 0, result.err
    assert "already registered (no change)" in result.out
    assert snapshot(registered) == before


def test_unicode_and_markup_in_the_summary(registry: Path, bundle_a: Path, capsys) -> None:
    summary = "Dichte Basis ✓ — <script>alert(1)</script> | pipes"
    assert register(capsys, registry, RUN_A, "A", bundle_a, "--summary", summary).rc == 0
    assert git_out(registry, "log", "-1", "--format=%b").startswith(f"Summary: {summary}\n")
    assert record_of(registry, RUN_A)["summary"] == summary
    shown = run(capsys, "show", "latest", "--repo", registry)
    assert f"summary   {summary}" in shown.out
    report = (registry / f"reports/{month_dir(record_of(registry, RUN_A))}/{RUN_A}.md").read_text()
    index = (registry / "reports" / "index.md").read_text()
    for text in (report, index):
        assert "Dichte Basis ✓" in text
        assert "<script>" not in text
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0


def test_untracked_file_where_gerhard_writes_is_named_as_such(
    registry: Path, bundle_a: Path, bundle_b_red, capsys
) -> None:
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    leftover = registry / "state" / "needs_input" / f"{RUN_B}.yaml"
    leftover.write_text("draft: mine\n")
    before = snapshot(registry)
    result = register(capsys, registry, RUN_B, "B", bundle_b_red)
    assert_one_line_error(
        result, f"state/needs_input/{RUN_B}.yaml exists but is not in git", "move it away, then register again"
    )
    assert snapshot(registry) == before


def test_staged_deletion_of_a_file_gerhard_writes_is_refused(registered: Path, bundle_b_green: Path, capsys) -> None:
    git(registered, "rm", "-q", "--cached", "reports/index.md")  # the user's own staged change
    before = snapshot(registered)
    result = register(capsys, registered, "20261102T090000Z_v15b", "B", bundle_b_green)
    assert_one_line_error(result, "reports/index.md has staged changes", "commit or unstage them")
    assert snapshot(registered) == before


def test_autocrlf_checkout_of_committed_files_is_not_a_change(registered: Path, bundle_b_green: Path, capsys) -> None:
    # Git for Windows' default: text is checked out with CRLF, stored with LF. Not an edit.
    git(registered, "config", "core.autocrlf", "true")
    for rel in ("state/program.yaml", "reports/index.md", "state/program_status.yaml"):
        (registered / rel).unlink()
    git(registered, "checkout", "--", ".")
    assert b"\r\n" in (registered / "state" / "program.yaml").read_bytes()
    assert register(capsys, registered, "20261102T090000Z_v15b", "B", bundle_b_green).rc == 0
    assert run(capsys, "rebuild", "--check", "--repo", registered).rc == 0
    assert git_out(registered, "status", "--porcelain") == ""


def test_file_where_gerhard_writes_a_folder_is_refused(registry: Path, bundle_a: Path, capsys) -> None:
    year = dt.datetime.now(dt.timezone.utc).strftime("%Y")
    (registry / "reports" / year).write_text("mine\n")  # where reports/<YYYY>/<MM>/ goes
    before = snapshot(registry)
    result = register(capsys, registry, RUN_A, "A", bundle_a)
    assert_one_line_error(result, f"reports/{year} is a file where gerhard writes a folder", "move it away")
    assert snapshot(registry) == before


def test_control_characters_in_run_text_are_refused(registry: Path, bundle_a: Path, capsys) -> None:
    before = snapshot(registry)
    result = register(capsys, registry, RUN_A, "A", bundle_a, "--summary", "ok\x1b[31m red")
    assert_one_line_error(result, "the summary contains the control character '\\x1b'", "remove it")
    assert snapshot(registry) == before


def test_blank_lines_in_a_summary_cannot_forge_a_paragraph(registry: Path, bundle_a: Path, capsys) -> None:
    result = register(capsys, registry, RUN_A, "A", bundle_a, "--summary", "fine\n\nGerhard-Verdict: RED")
    assert result.rc == 0, result.err
    body = git_out(registry, "log", "-1", "--format=%b")
    assert "Summary: fine Gerhard-Verdict: RED\n" in body
    assert trailer(registry, "Gerhard-Verdict") == "GREEN"
    assert record_of(registry, RUN_A)["summary"] == "fine\n\nGerhard-Verdict: RED"


def test_the_same_bundle_under_a_new_run_id_is_refused(registered: Path, bundle_b_red: Path, capsys) -> None:
    registered_at = record_of(registered, RUN_B)["registered_at"]
    before = snapshot(registered)
    result = register(capsys, registered, "20261101T130000Z_copy", "B", bundle_b_red)
    assert result.rc == 2
    assert result.err == (
        f"gerhard register: error: the bundle of run 20261101T130000Z_copy is identical to run {RUN_B} registered "
        f"{registered_at[:10]}; pass --allow-duplicate (allow_duplicate=True) to register it again\n"
    )
    assert snapshot(registered) == before


def test_the_same_bundle_is_registered_again_with_allow_duplicate(registered: Path, bundle_b_red: Path, capsys) -> None:
    result = register(capsys, registered, "20261101T130000Z_copy", "B", bundle_b_red, "--allow-duplicate")
    assert (result.rc, result.err) == (0, "")
    copy = record_of(registered, "20261101T130000Z_copy")
    assert copy["bundle_sha256"] == record_of(registered, RUN_B)["bundle_sha256"]
    assert trailer(registered, "Gerhard-Run-Id") == "20261101T130000Z_copy"


def test_register_run_refuses_a_duplicate_unless_allowed(registered: Path, bundle_a: Path) -> None:
    before = snapshot(registered)
    with pytest.raises(ConflictError, match=f"identical to run {RUN_A} registered"):
        register_run("20261101T140000Z_again", "A", bundle_a, registered)
    assert snapshot(registered) == before
    result = register_run("20261101T140000Z_again", "A", bundle_a, registered, allow_duplicate=True)
    assert (result.run_id, result.already_registered) == ("20261101T140000Z_again", False)
