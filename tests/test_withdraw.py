"""gerhard decide RUN_ID withdraw: a run registered by mistake no longer counts (issue 15 item 3).

One commit; the run's record and archive stay byte for byte as registered (check holds them to their
registration); the decision file says it is withdrawn; phases, baselines, gate results, the status and
the needs-input it superseded are recomputed without it, its report and ledger row marked. Folding
later runs on top equals a rebuild, the hook accepts the commit, the merge driver and check agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, git_out, load_yaml, register_ok, run
from conftest import RUN_A, RUN_B, git, snapshot
from history_helpers import dense2_bundle

WHO = "Test Researcher <researcher@example.com>"
RUN_C = "20261102T090000Z_green"


def withdraw(capsys, repo: Path, run_id: str, reason: str = "registered from the wrong checkpoint", *more: str):
    return run(capsys, "decide", run_id, "withdraw", "--reason", reason, "--repo", repo, *more)


def assert_consistent(repo: Path, capsys) -> None:
    rebuilt = run(capsys, "rebuild", "--check", "--repo", repo)
    assert rebuilt.rc == 0, rebuilt.out + rebuilt.err
    checked = run(capsys, "check", "--repo", repo, "--full")
    assert checked.rc == 0, checked.out + checked.err


def test_withdrawing_a_red_run(registered_ab: Path, capsys) -> None:
    record = (registered_ab / "state" / "runs" / f"{RUN_B}.yaml").read_bytes()
    done = withdraw(capsys, registered_ab, RUN_B)
    assert done.rc == 0, done.err
    head = git_out(registered_ab, "rev-parse", "HEAD").strip()
    assert done.out == (
        f"run {RUN_B} (phase B): withdrawn, counted by no gate, baseline or status\n  commit {head}\n"
        f"  decision: state/decisions/{RUN_B}.yaml\n  current phase: B\n"
        "next: git push, and review the decision commit in a pull request\n"
    )
    assert git_out(registered_ab, "log", "-1", "--format=%B") == (
        f"decide {RUN_B}: withdraw\n\nReason: registered from the wrong checkpoint\n\n"
        f"Gerhard-Decision: withdraw\nGerhard-Run-Id: {RUN_B}\nGerhard-Phase: B\n\n"
    )
    month = load_yaml(registered_ab / f"state/runs/{RUN_B}.yaml")["registered_at"][:7]
    assert git_out(registered_ab, "show", "--name-only", "--format=", "HEAD").split() == [
        "docs/ops/STATUS_BOARD.md",
        f"reports/{month.replace('-', '/')}/{RUN_B}.md",
        f"reports/{month.replace('-', '/')}/index.md",
        "reports/index.md",
        f"state/decisions/{RUN_B}.yaml",
        "state/gate_results.yaml",
        f"state/ledger/{month}.jsonl",
        f"state/needs_input/{RUN_B}.yaml",
        "state/program_status.yaml",
    ]
    assert (registered_ab / "state" / "runs" / f"{RUN_B}.yaml").read_bytes() == record  # write-once
    doc = load_yaml(registered_ab / f"state/decisions/{RUN_B}.yaml")
    assert doc == {
        "decision": "withdraw",
        "run_id": RUN_B,
        "phase": "B",
        "reason": "registered from the wrong checkpoint",
        "decided_at": doc["decided_at"],
        "decided_by": WHO,
        "run_count": 2,
    }
    status = load_yaml(registered_ab / "state/program_status.yaml")
    assert status["withdrawn"] == {RUN_B: doc["decided_at"]}
    assert (status["run_count"], status["latest_run"], status["open_needs_input"]) == (2, RUN_A, [])
    assert status["phases"]["B"] == {
        "state": "active",
        "runs": 0,
        "latest_run": None,
        "latest_verdict": None,
        "passed_by": None,
        "baselines": {},
    }
    assert list(load_yaml(registered_ab / "state/gate_results.yaml")["phases"]) == ["A"]
    needs = load_yaml(registered_ab / f"state/needs_input/{RUN_B}.yaml")
    assert (needs["status"], needs["decision"]) == ("resolved", "withdraw")
    rows = [json.loads(line) for line in (registered_ab / f"state/ledger/{month}.jsonl").read_text().splitlines()]
    assert [(r["run_id"], r.get("withdrawn")) for r in rows] == [(RUN_A, None), (RUN_B, True)]
    report = (registered_ab / f"reports/{month.replace('-', '/')}/{RUN_B}.md").read_text()
    assert (
        f"**Withdrawn** on {doc['decided_at']} by Test Researcher: registered from the wrong checkpoint — not "
        f"counted by gates, baselines or the status ([decision](../../../state/decisions/{RUN_B}.yaml))."
    ) in report
    assert "runs: 2 (1 withdrawn)" in (registered_ab / "reports/index.md").read_text()
    assert_consistent(registered_ab, capsys)


def test_list_and_show_say_so(registered_ab: Path, capsys) -> None:
    assert withdraw(capsys, registered_ab, RUN_B).rc == 0
    listed = run(capsys, "list", "--repo", registered_ab).out.splitlines()
    assert listed[1].endswith(f"(withdrawn) {RUN_B} summary")
    assert json.loads(run(capsys, "list", "--json", "--repo", registered_ab).out)[0]["withdrawn"] is True
    shown = run(capsys, "show", RUN_B, "--repo", registered_ab).out.splitlines()
    decided_at = load_yaml(registered_ab / f"state/decisions/{RUN_B}.yaml")["decided_at"]
    assert shown[3] == f"WITHDRAWN {decided_at} by {WHO}: registered from the wrong checkpoint"
    as_json = json.loads(run(capsys, "show", RUN_B, "--json", "--repo", registered_ab).out)
    assert as_json["withdrawn"]["reason"] == "registered from the wrong checkpoint"


def test_withdrawing_the_run_that_passed_a_phase_reopens_it(registered_ab: Path, tmp_path: Path, capsys) -> None:
    """The run that passed phase A withdrawn: A is current again; the next run of A folds as a rebuild would."""
    assert withdraw(capsys, registered_ab, RUN_A).rc == 0
    bundle_a = dense2_bundle(tmp_path / "dense2")
    status = load_yaml(registered_ab / "state/program_status.yaml")
    assert (status["current_phase"], status["phases"]["A"]["passed_by"], status["latest_run"]) == ("A", None, RUN_B)
    register_ok(capsys, registered_ab, "20261103T090000Z_dense2", "A", bundle_a)
    status = load_yaml(registered_ab / "state/program_status.yaml")
    assert (status["phases"]["A"]["passed_by"], status["run_count"]) == ("20261103T090000Z_dense2", 3)
    assert load_yaml(registered_ab / "state/runs/20261103T090000Z_dense2.yaml")["seq"] == 3
    assert_consistent(registered_ab, capsys)


def test_a_withdrawn_baseline_leaves_the_baselines(registered_ab: Path, bundle_b_green: Path, capsys) -> None:
    register_ok(capsys, registered_ab, RUN_C, "B", bundle_b_green)
    assert load_yaml(registered_ab / "state/program_status.yaml")["phases"]["B"]["baselines"]
    assert withdraw(capsys, registered_ab, RUN_C).rc == 0
    status = load_yaml(registered_ab / "state/program_status.yaml")
    assert status["phases"]["B"]["baselines"] == {}
    assert status["open_needs_input"][0]["run_id"] == RUN_B  # the RED run it superseded is open again
    assert load_yaml(registered_ab / f"state/needs_input/{RUN_B}.yaml")["status"] == "open"
    assert_consistent(registered_ab, capsys)


def test_a_withdrawal_replaces_an_earlier_decision(registered_ab: Path, capsys) -> None:
    assert run(capsys, "decide", RUN_B, "waive", "--reason", "advisory", "--repo", registered_ab).rc == 0
    assert withdraw(capsys, registered_ab, RUN_B).rc == 0
    doc = load_yaml(registered_ab / f"state/decisions/{RUN_B}.yaml")
    assert doc["replaces"]["decision"] == "waive"
    body = git_out(registered_ab, "log", "-1", "--format=%b").splitlines()
    assert body[1] == f"Replaces the waive decided on {doc['replaces']['decided_at']} by {WHO}"
    assert load_yaml(registered_ab / "state/program_status.yaml")["phases"]["B"]["passed_by"] is None
    assert_consistent(registered_ab, capsys)


@pytest.mark.parametrize(
    ("first", "then", "message"),
    [
        (
            ["withdraw"],
            "withdraw",
            "run {run} is already withdrawn (withdraw on {day}, state/decisions/{run}.yaml)",
        ),
        (
            ["withdraw"],
            "waive",
            "run {run} is withdrawn (withdraw on {day}, state/decisions/{run}.yaml): register a new run of phase B "
            "instead",
        ),
        (
            ["stop"],
            "withdraw",
            "run {run} stopped the program (stop on {day}, state/decisions/{run}.yaml): resume it first with "
            "gerhard decide {run} rerun|waive|advance --reason '...', then withdraw it",
        ),
    ],
)
def test_refusals_leave_the_repo_unchanged(
    registered_ab: Path, capsys, first: list[str], then: str, message: str
) -> None:
    for word in first:
        assert run(capsys, "decide", RUN_B, word, "--reason", "first", "--repo", registered_ab).rc == 0
    day = load_yaml(registered_ab / f"state/decisions/{RUN_B}.yaml")["decided_at"][:10]
    before = snapshot(registered_ab)
    refused = run(capsys, "decide", RUN_B, then, "--reason", "again", "--repo", registered_ab)
    assert_one_line_error(refused)
    assert refused.err == f"gerhard decide: error: {message.format(run=RUN_B, day=day)}\n"
    assert snapshot(registered_ab) == before


def test_the_pre_commit_hook_accepts_a_withdrawal(registered_ab: Path, capsys) -> None:
    """Made by gerhard (the hook runs inside its transaction), and the same commit made with `git commit`."""
    assert run(capsys, "hooks", "install", "--repo", registered_ab).rc == 0
    assert withdraw(capsys, registered_ab, RUN_A).rc == 0
    git(registered_ab, "reset", "-q", "--soft", "HEAD~1")
    env = dict(os.environ, GERHARD_PYTHON=sys.executable)
    done = subprocess.run(["git", "commit", "-q", "-m", "withdraw"], cwd=registered_ab, env=env, capture_output=True)
    assert (done.returncode, done.stderr) == (0, b"")


def test_the_merge_driver_keeps_a_withdrawal_from_the_other_branch(registered_ab: Path, bundle_a: Path, capsys) -> None:
    assert run(capsys, "hooks", "install", "--repo", registered_ab).rc == 0
    git(registered_ab, "switch", "-q", "-c", "other")
    assert withdraw(capsys, registered_ab, RUN_B).rc == 0
    git(registered_ab, "switch", "-q", "main")
    register_ok(capsys, registered_ab, "20261103T090000Z_dense2", "A", bundle_a)
    env = dict(os.environ, GERHARD_PYTHON=sys.executable)  # what the merge driver's launcher runs
    merged = subprocess.run(
        ["git", "merge", "-q", "--no-edit", "other"], cwd=registered_ab, env=env, capture_output=True, text=True
    )
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert load_yaml(registered_ab / "state/program_status.yaml")["withdrawn"].keys() == {RUN_B}
    assert_consistent(registered_ab, capsys)
