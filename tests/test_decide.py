"""gerhard decide: a human decision on a RED run's needs-input, as one commit (end to end, real repos)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, git_out, load_yaml, register, register_ok, run, trailer
from conftest import copy_registry, git, snapshot

import gerhard
from gerhard import layout
from gerhard.core import derive, phases, reports
from gerhard.core.program import program_from_dict
from gerhard.core.records import Decision, RunRecord
from gerhard.errors import StateError, UserError
from gerhard.flows import registration
from gerhard.formats import statefiles
from gerhard.git import gitrepo
from gerhard.team.mergedriver import configure

RESUME = "rerun|waive|advance"


def decide(capsys, repo: Path, run_id: str, word: str, reason: str = "the energy gate is advisory in practice"):
    return run(capsys, "decide", "--repo", repo, run_id, word, "--reason", reason)


def assert_clean(repo: Path, capsys) -> None:
    assert run(capsys, "rebuild", "--check", "--repo", repo).rc == 0
    checked = run(capsys, "check", "--repo", repo)
    assert checked.rc == 0, checked.out + checked.err


@pytest.fixture
def red_b(registry: Path, bundle_a: Path, bundle_b_red: Path, registered_template: Callable[..., Path]) -> Path:
    """Phase A passed by a1, phase B blocked by the RED run b1 (from bundle_a and bundle_b_red, as
    register_ok registers them): a copy of the session's (conftest's registered_template)."""
    return copy_registry(registered_template(("a1", "A", "phase_a_green"), ("b1", "B", "phase_b_red")), registry)


def test_waive_passes_the_phase_in_one_commit(red_b: Path, capsys) -> None:
    before = git_out(red_b, "rev-parse", "HEAD").strip()
    done = decide(capsys, red_b, "b1", "waive")
    assert done.rc == 0, done.err
    assert done.out.splitlines()[0] == "run b1 (phase B): waive"
    assert git_out(red_b, "rev-parse", "HEAD~1").strip() == before
    assert git_out(red_b, "log", "-1", "--format=%s").strip() == "decide b1: waive"
    assert "Reason: the energy gate is advisory in practice" in git_out(red_b, "log", "-1", "--format=%b")
    assert trailer(red_b, "Gerhard-Decision") == "waive"
    assert trailer(red_b, "Gerhard-Run-Id") == "b1"
    assert trailer(red_b, "Gerhard-Phase") == "B"
    doc = load_yaml(red_b / "state/decisions/b1.yaml")
    assert {k: doc[k] for k in ("decision", "run_id", "phase", "reason", "decided_by")} == {
        "decision": "waive",
        "run_id": "b1",
        "phase": "B",
        "reason": "the energy gate is advisory in practice",
        "decided_by": "Test Researcher <researcher@example.com>",
    }
    assert doc["decided_at"].endswith("Z")
    needs = load_yaml(red_b / "state/needs_input/b1.yaml")
    assert (needs["status"], needs["decision"]) == ("resolved", "waive")
    status = load_yaml(red_b / "state/program_status.yaml")
    assert status["phases"]["B"]["state"] == "passed" and status["current_phase"] == "C"
    assert status["open_needs_input"] == []
    assert git_out(red_b, "status", "--porcelain") == ""
    assert_clean(red_b, capsys)


def test_index_shows_the_latest_decision_first_and_the_board_the_last(red_b: Path, capsys) -> None:
    assert decide(capsys, red_b, "b1", "waive", "advisory | in practice").rc == 0
    index = (red_b / "reports/index.md").read_text()
    latest = index.split("## Latest decision\n\n", 1)[1].splitlines()[0]
    assert latest.startswith("Decision: **waive** on [`b1`](../state/decisions/b1.yaml) (phase B, ")
    assert latest.endswith(r"by Test Researcher): advisory \| in practice")
    board = (red_b / "docs/ops/STATUS_BOARD.md").read_text()
    assert "Last decision: **waive** on [`b1`](../../state/decisions/b1.yaml)" in board


def test_rerun_keeps_the_phase_active_and_closes_the_needs_input(red_b: Path, capsys) -> None:
    assert decide(capsys, red_b, "b1", "rerun", "fix the data loader").rc == 0
    status = load_yaml(red_b / "state/program_status.yaml")
    assert status["phases"]["B"]["state"] == "active" and status["current_phase"] == "B"
    assert status["open_needs_input"] == []
    assert load_yaml(red_b / "state/needs_input/b1.yaml")["status"] == "resolved"
    assert "None." in (red_b / "reports/index.md").read_text().split("## Open needs-input", 1)[1][:20]
    assert_clean(red_b, capsys)


def test_stop_refuses_registrations_until_the_run_is_decided_again(red_b: Path, bundle_b_green: Path, capsys) -> None:
    assert decide(capsys, red_b, "b1", "stop", "out of budget").rc == 0
    assert_clean(red_b, capsys)
    status = load_yaml(red_b / "state/program_status.yaml")
    assert status["stopped"] is True
    shown = run(capsys, "status", "--repo", red_b).out
    assert shown.splitlines()[0].startswith("asnn-goose-v15: STOPPED by a decision on ")
    assert f"stopped: nothing is registered; to resume, gerhard decide b1 {RESUME} --reason '...'" in shown
    assert "**the program is stopped**" in (red_b / "docs/ops/STATUS_BOARD.md").read_text()
    day = load_yaml(red_b / "state/decisions/b1.yaml")["decided_at"][:10]
    before = snapshot(red_b)
    refused = register(capsys, red_b, "b2", "B", bundle_b_green)
    assert_one_line_error(refused)
    assert refused.err == (
        f"gerhard register: error: a decision stopped the program on {day} (stop on run b1, phase B): nothing is "
        f"registered while it is stopped; to resume, decide that run again: gerhard decide b1 {RESUME} "
        "--reason '...'\n"
    )
    again = decide(capsys, red_b, "b1", "stop", "still no budget")
    assert again.err == (
        f"gerhard decide: error: run b1 already stopped the program (stop on {day}, state/decisions/b1.yaml): "
        f"to resume, decide {RESUME}\n"
    )
    assert snapshot(red_b) == before
    resumed = decide(capsys, red_b, "b1", "rerun", "budget is back")
    assert resumed.rc == 0, resumed.err
    assert resumed.out.splitlines()[0] == "run b1 (phase B): rerun (resumed)"
    doc = load_yaml(red_b / "state/decisions/b1.yaml")
    assert (doc["decision"], doc["replaces"]["decision"], doc["replaces"]["reason"]) == (
        "rerun",
        "stop",
        "out of budget",
    )
    assert "stopped" not in load_yaml(red_b / "state/program_status.yaml")
    assert_clean(red_b, capsys)
    register_ok(capsys, red_b, "b2", "B", bundle_b_green)
    assert_clean(red_b, capsys)


def test_while_stopped_another_run_cannot_be_decided(red_b: Path, bundle_b_red: Path, capsys) -> None:
    register_ok(capsys, red_b, "b2", "B", bundle_b_red)  # a second RED run of phase B
    assert decide(capsys, red_b, "b1", "stop", "out of budget").rc == 0
    day = load_yaml(red_b / "state/decisions/b1.yaml")["decided_at"][:10]
    before = snapshot(red_b)
    refused = decide(capsys, red_b, "b2", "waive")
    assert refused.err == (
        f"gerhard decide: error: a decision stopped the program on {day} (stop on run b1): resume it first with "
        f"gerhard decide b1 {RESUME} --reason '...'\n"
    )
    assert snapshot(red_b) == before


@pytest.mark.parametrize(
    ("run_id", "word", "reason", "message"),
    [
        ("nope", "waive", "x", "no run 'nope' is registered in {root}: see 'gerhard list' for the ids"),
        ("a1", "waive", "x", "run a1 is GREEN: only a RED run has a needs-input to decide"),
        ("b1", "frob", "x", "unknown decision 'frob': decide waive, advance, rerun, stop or withdraw"),
        (
            "b1",
            "waive",
            "  ",
            "the reason is empty: say why with --reason '...' (it goes into the commit and the records)",
        ),
    ],
)
def test_refusals_leave_the_repo_unchanged(
    red_b: Path, capsys, run_id: str, word: str, reason: str, message: str
) -> None:
    before = snapshot(red_b)
    refused = decide(capsys, red_b, run_id, word, reason)
    assert_one_line_error(refused)
    assert refused.err == f"gerhard decide: error: {message.format(root=gitrepo.find_root(red_b))}\n"
    assert snapshot(red_b) == before


def test_a_decided_run_cannot_be_decided_again(red_b: Path, capsys) -> None:
    assert decide(capsys, red_b, "b1", "rerun", "fix the loader").rc == 0
    day = load_yaml(red_b / "state/decisions/b1.yaml")["decided_at"][:10]
    before = snapshot(red_b)
    refused = decide(capsys, red_b, "b1", "waive")
    assert refused.err == (
        f"gerhard decide: error: run b1 is already decided (rerun on {day}, state/decisions/b1.yaml): "
        "register a new run of phase B instead\n"
    )
    assert snapshot(red_b) == before


def test_a_passing_run_supersedes_the_open_needs_input(red_b: Path, bundle_b_green: Path, capsys) -> None:
    register_ok(capsys, red_b, "b2", "B", bundle_b_green)
    needs = load_yaml(red_b / "state/needs_input/b1.yaml")
    assert (needs["status"], needs["superseded_by"]) == ("superseded", "b2")
    assert "state/needs_input/b1.yaml" in git_out(red_b, "show", "--name-only", "--format=", "HEAD").split()
    assert "None." in (red_b / "reports/index.md").read_text().split("## Open needs-input", 1)[1][:20]
    assert_clean(red_b, capsys)
    before = snapshot(red_b)
    refused = decide(capsys, red_b, "b1", "waive")
    assert refused.err == "gerhard decide: error: run b1 needs no decision: run b2 passed phase B after it\n"
    assert snapshot(red_b) == before


def test_a_waive_supersedes_the_other_open_items_of_the_phase(red_b: Path, bundle_b_red: Path, capsys) -> None:
    register_ok(capsys, red_b, "b2", "B", bundle_b_red)  # a second RED run of phase B
    assert decide(capsys, red_b, "b1", "advance").rc == 0
    needs = load_yaml(red_b / "state/needs_input/b2.yaml")
    assert (needs["status"], needs["superseded_by"]) == ("superseded", "b1")
    assert_clean(red_b, capsys)


def test_json_output(red_b: Path, capsys) -> None:
    done = run(capsys, "decide", "--repo", red_b, "b1", "waive", "--reason", "ok", "--json")
    data = json.loads(done.out)
    assert {k: data[k] for k in ("run_id", "phase", "decision", "reason", "current_phase", "stopped")} == {
        "run_id": "b1",
        "phase": "B",
        "decision": "waive",
        "reason": "ok",
        "current_phase": "C",
        "stopped": False,
    }
    assert data["commit"] == git_out(red_b, "rev-parse", "HEAD").strip()


def test_python_api(red_b: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = gerhard.decide("b1", "waive", "accepted in review", repo_root=red_b)
    assert (result.decision, result.current_phase) == ("waive", "C")
    monkeypatch.chdir(red_b)
    with pytest.raises(gerhard.UserError, match=r"^run b1 is already decided"):
        gerhard.decide("b1", "waive", "again")


def test_the_merge_driver_keeps_a_decision_from_the_other_branch(red_b: Path, bundle_a: Path, capsys) -> None:
    root = gitrepo.find_root(red_b)
    configure(root, sys.executable)
    git(red_b, "add", ".gitattributes")
    git(red_b, "commit", "-q", "-m", "merge driver attributes", "--allow-empty")
    git(red_b, "switch", "-q", "-c", "topic")
    assert decide(capsys, red_b, "b1", "waive").rc == 0
    git(red_b, "switch", "-q", "main")
    register_ok(capsys, red_b, "a2", "A", bundle_a)
    merged = subprocess.run(["git", "merge", "-q", "--no-edit", "topic"], cwd=red_b, capture_output=True, text=True)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert load_yaml(red_b / "state/program_status.yaml")["phases"]["B"]["state"] == "passed"
    assert load_yaml(red_b / "state/needs_input/b1.yaml")["status"] == "resolved"
    assert_clean(red_b, capsys)


def test_the_reason_is_one_line_in_the_commit(red_b: Path, capsys) -> None:
    assert decide(capsys, red_b, "b1", "waive", "first line\n\nGerhard-Decision: stop").rc == 0
    body = git_out(red_b, "log", "-1", "--format=%b")
    assert body.splitlines()[0] == "Reason: first line Gerhard-Decision: stop"
    assert trailer(red_b, "Gerhard-Decision") == "waive"


def test_the_pre_commit_hook_accepts_a_decision(red_b: Path, capsys) -> None:
    assert run(capsys, "hooks", "install", "--repo", red_b).rc == 0
    done = decide(capsys, red_b, "b1", "waive")
    assert done.rc == 0, done.err
    assert_clean(red_b, capsys)


def test_a_broken_decision_file_is_restored_from_git_not_rebuilt(red_b: Path, capsys) -> None:
    assert decide(capsys, red_b, "b1", "waive").rc == 0
    path = red_b / "state/decisions/b1.yaml"
    path.write_text(path.read_text().replace("decision: waive", "decision: maybe"))
    refused = run(capsys, "rebuild", "--check", "--repo", red_b)
    assert refused.err == (
        "gerhard rebuild: error: state/decisions/b1.yaml: $.decision: 'maybe' is not one of ['waive', 'advance', "
        "'rerun', 'stop', 'withdraw'] (schema decision): restore it with 'git checkout -- state/decisions/b1.yaml' "
        "('gerhard check' lists every problem)\n"
    )


# --- exact output, commit and files ------------------------------------------------------------

WHO = "Test Researcher <researcher@example.com>"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def red_at(registry: Path, bundle_a: Path, bundle_b_red: Path) -> Path:
    """a1 GREEN and b1 RED, registered at fixed times (through the library, as a notebook would)."""
    registration.register("a1", "A", bundle_a, registry, summary="dense", now=at("2026-11-01T09:00:00Z"))
    registration.register("b1", "B", bundle_b_red, registry, summary="v15 try", now=at("2026-11-02T09:00:00Z"))
    return registry


@pytest.mark.parametrize("word", ["waive", "advance"])
def test_the_decision_commit_output_and_status_exactly(red_b: Path, capsys, word: str) -> None:
    done = decide(capsys, red_b, "b1", word, "energy is advisory;\tloss within noise")
    assert done.rc == 0, done.err
    doc = load_yaml(red_b / "state/decisions/b1.yaml")
    head = git_out(red_b, "rev-parse", "HEAD").strip()
    assert done.out == (
        f"run b1 (phase B): {word}\n  commit {head}\n  decision: state/decisions/b1.yaml\n"
        "  needs input resolved: state/needs_input/b1.yaml\n  current phase: C\n"
        "next: git push, and review the decision commit in a pull request\n"
    )
    assert doc == {
        "decision": word,
        "run_id": "b1",
        "phase": "B",
        "reason": "energy is advisory;\tloss within noise",
        "decided_at": doc["decided_at"],
        "decided_by": WHO,
        "run_count": 2,
    }
    assert git_out(red_b, "log", "-1", "--format=%B") == (
        f"decide b1: {word}\n\nReason: energy is advisory; loss within noise\n\n"
        f"Gerhard-Decision: {word}\nGerhard-Run-Id: b1\nGerhard-Phase: B\n\n"
    )
    assert git_out(red_b, "show", "--name-only", "--format=", "HEAD").split() == [
        "docs/ops/STATUS_BOARD.md",
        "reports/index.md",
        "state/decisions/b1.yaml",
        "state/needs_input/b1.yaml",
        "state/program_status.yaml",
    ]
    lines = run(capsys, "status", "--repo", red_b).out.splitlines()
    assert lines[0] == "asnn-goose-v15: phase C (active), 2 runs registered"
    assert lines[2] == "  B    passed      1 run   latest b1 RED, passed by b1"
    assert lines[-2:] == [
        f"last decision: {word} on b1 (phase B) at {doc['decided_at']} by Test Researcher",
        "  reason: energy is advisory; loss within noise",
    ]
    status = load_yaml(red_b / "state/program_status.yaml")
    assert status["last_decision"] == dict(doc, reason="energy is advisory; loss within noise")
    assert status["phases"]["B"]["decision"] == {"decision": word, "run_id": "b1", "decided_at": doc["decided_at"]}
    assert json.loads(run(capsys, "status", "--json", "--repo", red_b).out)["last_decision"] == status["last_decision"]
    assert_clean(red_b, capsys)


def test_the_needs_input_file_says_who_resolved_it(red_b: Path, capsys) -> None:
    assert decide(capsys, red_b, "b1", "rerun", "fix the loader").rc == 0
    text = (red_b / "state/needs_input/b1.yaml").read_text()
    decided_at = load_yaml(red_b / "state/decisions/b1.yaml")["decided_at"]
    assert text.splitlines()[0] == (
        "# Run b1 was RED: resolved by a decision (rerun, state/decisions/b1.yaml); this file is written by gerhard "
        "from state/ (`gerhard rebuild` recomputes it): hand edits are overwritten."
    )
    assert text.splitlines()[1:10] == [
        "run_id: b1",
        "phase: B",
        "verdict: RED",
        "status: resolved",
        "decision: rerun",
        f"decided_at: '{decided_at}'",
        f"decided_by: {WHO}",
        "reason: fix the loader",
        f"registered_at: '{load_yaml(red_b / 'state/runs/b1.yaml')['registered_at']}'",
    ]


def test_rerun_then_a_red_run_blocks_again_and_a_green_run_passes(
    red_b: Path, bundle_b_red: Path, bundle_b_green: Path, capsys
) -> None:
    assert decide(capsys, red_b, "b1", "rerun", "fix the loader").rc == 0
    assert load_yaml(red_b / "state/program_status.yaml")["phases"]["B"]["state"] == "active"
    register_ok(capsys, red_b, "b2", "B", bundle_b_red)
    status = load_yaml(red_b / "state/program_status.yaml")
    assert (status["phases"]["B"]["state"], [n["run_id"] for n in status["open_needs_input"]]) == ("blocked", ["b2"])
    assert_clean(red_b, capsys)
    register_ok(capsys, red_b, "b3", "B", bundle_b_green)
    status = load_yaml(red_b / "state/program_status.yaml")
    assert (status["phases"]["B"]["state"], status["phases"]["B"]["passed_by"]) == ("passed", "b3")
    assert load_yaml(red_b / "state/needs_input/b1.yaml")["status"] == "resolved"  # the decision stands
    assert load_yaml(red_b / "state/needs_input/b2.yaml")["superseded_by"] == "b3"
    assert (
        (red_b / "state/needs_input/b2.yaml")
        .read_text()
        .startswith("# Run b2 was RED: superseded, run b3 passed phase B; this file is written by gerhard")
    )
    assert_clean(red_b, capsys)


def test_decide_latest(red_b: Path, capsys) -> None:
    assert decide(capsys, red_b, "latest", "rerun", "fix it").out.splitlines()[0] == "run b1 (phase B): rerun"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["b1", "waive", "--reason", "bell\x07"],
            "gerhard decide: error: the reason contains the control character '\\x07': remove it and decide again",
        ),
        (
            ["b1", "waive"],
            "gerhard decide: error: the following arguments are required: --reason (see 'gerhard decide --help')",
        ),
        (["../b1", "waive", "--reason", "x"], None),  # an unsafe id: check_run_id's own message
    ],
)
def test_more_refusals_leave_the_repo_unchanged(red_b: Path, capsys, argv: list[str], message: str | None) -> None:
    before = snapshot(red_b)
    refused = run(capsys, "decide", "--repo", red_b, *argv)
    assert_one_line_error(refused)
    if message is not None:
        assert refused.err == message + "\n"
    assert snapshot(red_b) == before


def test_an_unknown_git_identity_is_refused(red_b: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    git(red_b, "config", "user.useConfigOnly", "true")
    git(red_b, "commit", "-q", "--allow-empty", "-m", "settle the index")
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL"):
        monkeypatch.delenv(key)
    before = snapshot(red_b)
    refused = decide(capsys, red_b, "b1", "waive")
    assert refused.err == (
        "gerhard decide: error: git does not know who you are: set git config user.name and user.email, "
        "then decide again\n"
    )
    assert snapshot(red_b) == before


# --- the reports index: the latest decision first --------------------------------------------------


def latest_section(repo: Path) -> str:
    index = (repo / "reports/index.md").read_text()
    return index.split("## Latest decision\n\n", 1)[1].split("## Open needs-input", 1)[0]


def test_index_shows_the_newest_first(red_at: Path, bundle_b_green: Path) -> None:
    result = gerhard.decide("b1", "rerun", "fix the loader", repo_root=red_at, now=at("2026-11-03T10:00:00Z"))
    assert (result.decided_at, result.decided_by) == ("2026-11-03T10:00:00Z", WHO)
    decision = (
        "Decision: **rerun** on [`b1`](../state/decisions/b1.yaml) (phase B, 2026-11-03T10:00:00Z, "
        "by Test Researcher): fix the loader\n"
    )
    red_line = (
        "RED: blocking gates failed — needs input (rerun, waive or stop) — [`b1`](2026/11/b1.md) "
        "(phase B, 2/6 gates, 2026-11-02T09:00:00Z): v15 try\n"
    )
    assert latest_section(red_at) == decision + "\n" + red_line + "\n"
    registration.register("b2", "B", bundle_b_green, red_at, summary="fixed", now=at("2026-11-04T09:00:00Z"))
    green_line = "GREEN: all gates passed — [`b2`](2026/11/b2.md) (phase B, 6/6 gates, 2026-11-04T09:00:00Z): fixed\n"
    assert latest_section(red_at) == green_line + "\n" + decision + "\n"
    board = (red_at / "docs/ops/STATUS_BOARD.md").read_text()
    assert "\n\nLast decision: **rerun** on [`b1`](../../state/decisions/b1.yaml) (phase B, " in board


def test_stop_and_resume_in_the_reports_and_the_commit(red_at: Path) -> None:
    gerhard.decide("b1", "stop", "out of budget", repo_root=red_at, now=at("2026-11-03T10:00:00Z"))
    stopped = (
        "Decision: **stop** on [`b1`](../state/decisions/b1.yaml) (phase B, 2026-11-03T10:00:00Z, by Test "
        "Researcher): out of budget — **the program is stopped**: nothing is registered until run `b1` is decided "
        "again (`gerhard decide b1 rerun|waive|advance`)\n"
    )
    assert latest_section(red_at).startswith(stopped)
    result = gerhard.decide("b1", "advance", "budget is back", repo_root=red_at, now=at("2026-11-05T10:00:00Z"))
    assert (result.resumed, result.stopped, result.current_phase) == (True, False, "C")
    assert git_out(red_at, "log", "-1", "--format=%b").splitlines()[:2] == [
        "Reason: budget is back",
        f"Resumes the program: replaces the stop decided on 2026-11-03T10:00:00Z by {WHO}",
    ]
    assert load_yaml(red_at / "state/decisions/b1.yaml")["replaces"] == {
        "decision": "stop",
        "reason": "out of budget",
        "decided_at": "2026-11-03T10:00:00Z",
        "decided_by": WHO,
    }
    assert "stopped" not in latest_section(red_at)
    assert subprocess.run([sys.executable, "-m", "gerhard", "rebuild", "--check"], cwd=red_at).returncode == 0


def test_run_text_in_the_reason_is_inert_in_the_reports(red_b: Path, capsys) -> None:
    reason = "<script>alert(1)</script> [x](https://evil.example) | # not a heading @someone"
    assert decide(capsys, red_b, "b1", "waive", reason).rc == 0
    for rel in ("reports/index.md", "docs/ops/STATUS_BOARD.md"):
        text = (red_b / rel).read_text()
        assert reports.cell(reason) in text
        assert "<script>" not in text and "](https://evil" not in text


# --- fold order -----------------------------------------------------------------------------------


def test_decisions_in_the_same_second_keep_the_order_they_were_made(red_at: Path, bundle_b_red: Path, capsys) -> None:
    registration.register("b2", "B", bundle_b_red, red_at, now=at("2026-11-02T10:00:00Z"), allow_duplicate=True)
    same = at("2026-11-03T10:00:00Z")
    gerhard.decide("b2", "rerun", "later run first", repo_root=red_at, now=same)
    second = gerhard.decide("b1", "rerun", "earlier run second", repo_root=red_at, now=same)
    # Rebuild folds by (run_count, decided_at, run seq): b1's seq is lower, so it is stamped a second later.
    assert second.decided_at == "2026-11-03T10:00:01Z"
    assert load_yaml(red_at / "state/program_status.yaml")["last_decision"]["run_id"] == "b1"
    assert_clean(red_at, capsys)


def test_a_decision_after_a_program_edit_recomputes_everything(red_b: Path, capsys) -> None:
    program = red_b / "state/program.yaml"
    program.write_text(program.read_text().replace("title: Dense baseline reproduction", "title: Dense (v2)"))
    git(red_b, "commit", "-q", "-am", "retitle phase A")
    assert run(capsys, "rebuild", "--check", "--repo", red_b).rc == 1
    assert decide(capsys, red_b, "b1", "waive").rc == 0
    assert "| A | Dense (v2) | passed |" in (red_b / "docs/ops/STATUS_BOARD.md").read_text()
    assert_clean(red_b, capsys)


def decision_of(run_id: str, word: str, run_count: int, decided_at: str = "2026-01-02T00:00:00Z") -> Decision:
    return Decision.from_dict(
        {
            "decision": word,
            "run_id": run_id,
            "phase": "A",
            "reason": "r",
            "decided_at": decided_at,
            "decided_by": WHO,
            "run_count": run_count,
        }
    )


def records_of(*verdicts: str) -> list[RunRecord]:
    return [
        RunRecord.from_dict(
            {"run_id": f"r{n}", "seq": n, "phase": "A", "verdict": v, "registered_at": f"2026-01-01T00:0{n}:00Z"}
        )
        for n, v in enumerate(verdicts, 1)
    ]


def test_a_decision_folds_after_its_run_even_when_it_counted_fewer_runs() -> None:
    # A run replayed on a new base (gerhard rebase) has a higher seq than the run count its decision saw.
    records = records_of("GREEN", "RED", "RED")
    decision = decision_of("r3", "rerun", 1)
    order = derive.event_order(records, [decision])
    assert [e["run_id"] for e in order] == ["r1", "r2", "r3", "r3"] and order[-1] is decision
    earlier = decision_of("r2", "waive", 3, "2026-01-01T00:00:00Z")  # also after 3 runs, decided before it
    assert derive.event_order(records, [decision, earlier])[-2:] == [earlier, decision]


def test_a_decision_on_an_unregistered_run_is_named() -> None:
    with pytest.raises(StateError) as exc:
        derive.event_order(records_of("RED"), [decision_of("r9", "waive", 1)])
    assert str(exc.value) == (
        "state/decisions/r9.yaml decides run r9, which is not registered: restore state/runs/r9.yaml from git, "
        "or remove state/decisions/r9.yaml"
    )


def test_fold_decision_stop_and_resume() -> None:
    program = program_from_dict({"program": "p", "phases": [{"id": "A", "required": []}, {"id": "B", "required": []}]})
    red = dataclasses.replace(records_of("RED")[0], gates=({"id": "g", "passed": False},))
    status = phases.fold_run(phases.initial_status(program), program, red)
    stopped = phases.fold_decision(status, program, decision_of("r1", "stop", 1))
    assert (stopped["stopped"], stopped["open_needs_input"], stopped["phases"]["A"]["state"]) == (True, [], "blocked")
    with pytest.raises(UserError, match=r"^a decision stopped the program on 2026-01-02 \(stop on run r1, phase A\)"):
        phases.check_phase_allowed(program, stopped, "A", force=True)
    resumed = phases.fold_decision(stopped, program, decision_of("r1", "rerun", 1, "2026-01-03T00:00:00Z"))
    assert "stopped" not in resumed
    assert (resumed["phases"]["A"]["state"], resumed["current_phase"]) == ("active", "A")
    passed = phases.fold_decision(stopped, program, decision_of("r1", "advance", 1, "2026-01-03T00:00:00Z"))
    assert (passed["phases"]["A"]["passed_by"], passed["current_phase"]) == ("r1", "B")
    assert status["open_needs_input"] == [{"run_id": "r1", "phase": "A", "failed_gates": ["g"]}]  # not changed


def test_a_state_file_ruamel_wrote_is_rewritten_as_a_rebuild_writes_it() -> None:
    # A value the fast emitter leaves to ruamel (1e-05) must not keep ruamel's style of the file once it
    # is gone: the fold would then differ from a rebuild ('é' quoted by one, not by the other).
    rel = layout.STATUS
    first = statefiles.render_state_yaml(None, {"a": 1e-05, "reason": "é"}, rel)
    assert "a: 1e-05\n" in first
    assert statefiles.render_state_yaml(first, {"a": 1, "reason": "é"}, rel) == statefiles.render_state_yaml(
        None, {"a": 1, "reason": "é"}, rel
    )


def test_a_run_of_a_removed_phase_needs_no_decision(red_b: Path, capsys) -> None:
    from test_program_edits import commit_program, without_phase

    commit_program(red_b, without_phase("B"))
    before = snapshot(red_b)
    refused = decide(capsys, red_b, "b1", "waive")
    assert (
        refused.err
        == "gerhard decide: error: run b1 needs no decision: phase B is not in state/program.yaml any more\n"
    )
    assert snapshot(red_b) == before
