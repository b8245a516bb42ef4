"""gerhard log: registrations and decisions read back from commit trailers (gerhard.git.audit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, git_out, head_sha, run, trailer
from conftest import EXAMPLES
from history_helpers import (
    RUN_A,
    RUN_A2,
    RUN_GREEN,
    RUN_RED,
    RUN_TUNED,
    TUNED_SHA,
    History,
    at,
    copy_history,
    decide,
    unsafe_id,
)

from gerhard.git import audit

ME, LEAD = "Test Researcher", "Lead Reviewer"


@pytest.fixture
def history(registry: Path, history_template: History, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> History:
    """build_history's registry, bundles and dates: a copy of the session's (conftest's history_template)."""
    return copy_history(history_template, registry, monkeypatch, tmp_path)


def line(h: History, key: str, date: str, kind: str, run_id: str, phase: str, outcome: str, who: str = ME) -> str:
    return f"{date}  {h.commits[key][:7]}  {kind:<12}  {run_id:<24}  {phase:<5}  {outcome:<7}  {who}"


def all_lines(h: History) -> list[str]:
    return [
        line(h, RUN_A2, "2025-04-01T07:00:00Z", "registration", RUN_A2, "A", "GREEN"),
        line(h, f"decide {RUN_TUNED}", "2025-03-26T12:00:00Z", "decision", RUN_TUNED, "B", "advance", LEAD),
        line(h, RUN_TUNED, "2025-03-25T09:00:00Z", "registration", RUN_TUNED, "B", "AMBER"),
        line(h, RUN_GREEN, "2025-03-20T09:00:00Z", "registration", RUN_GREEN, "B", "GREEN"),
        line(h, f"decide {RUN_RED}", "2025-03-11T10:30:00Z", "decision", RUN_RED, "B", "rerun"),
        line(h, RUN_RED, "2025-03-10T09:00:00Z", "registration", RUN_RED, "B", "RED"),
        line(h, RUN_A, "2025-01-05T09:00:00Z", "registration", RUN_A, "A", "GREEN"),
    ]


def test_log_newest_first(history: History, capsys) -> None:
    result = run(capsys, "log", "--repo", history.repo)
    assert (result.rc, result.err) == (0, "")
    assert result.out.splitlines() == all_lines(history)
    assert result.out.endswith("\n")


@pytest.mark.parametrize(
    ("args", "picked"),
    [
        (["--phase", "B"], [1, 2, 3, 4, 5]),
        (["--phase", "A"], [0, 6]),
        (["--phase", "C"], []),
        (["--run-id", RUN_RED], [4, 5]),
        (["--run-id", RUN_TUNED], [1, 2]),
        (["--run-id", "20250320T090000Z_v15"], []),  # a prefix of other ids is not them
        (["--limit", "2"], [0, 1]),
        (["--limit", "0"], [0, 1, 2, 3, 4, 5, 6]),
        (["--phase", "B", "--limit", "3"], [1, 2, 3]),
        (["--phase", "A", "--run-id", RUN_A], [6]),
        (["--phase", "A", "--run-id", RUN_RED], []),
    ],
)
def test_log_filters(history: History, capsys, args: list[str], picked: list[int]) -> None:
    lines = all_lines(history)
    result = run(capsys, "log", *args, "--repo", history.repo)
    assert result.rc == 0, result.err
    assert result.out.splitlines() == ([lines[i] for i in picked] or ["no registrations or decisions match"])


def test_log_json(history: History, capsys) -> None:
    result = run(capsys, "log", "--json", "--run-id", RUN_TUNED, "--repo", history.repo)
    assert result.rc == 0, result.err
    bundle = trailer(history.repo, "Gerhard-Bundle-SHA256", history.commits[RUN_TUNED])
    config = trailer(history.repo, "Gerhard-Config-SHA256", history.commits[RUN_TUNED])
    assert len(bundle) == len(config) == 64
    assert json.loads(result.out) == [
        {
            "kind": "decision",
            "date": "2025-03-26T12:00:00Z",
            "commit": history.commits[f"decide {RUN_TUNED}"],
            "author": LEAD,
            "author_email": "researcher@example.com",
            "run_id": RUN_TUNED,
            "phase": "B",
            "verdict": None,
            "decision": "advance",
            "code_sha": None,
            "code_dirty": None,
            "config_sha256": None,
            "bundle_sha256": None,
            "subject": f"decide {RUN_TUNED}: advance",
        },
        {
            "kind": "registration",
            "date": "2025-03-25T09:00:00Z",
            "commit": history.commits[RUN_TUNED],
            "author": ME,
            "author_email": "researcher@example.com",
            "run_id": RUN_TUNED,
            "phase": "B",
            "verdict": "AMBER",
            "decision": None,
            "code_sha": TUNED_SHA,
            "code_dirty": True,
            "config_sha256": config,
            "bundle_sha256": bundle,
            "subject": f"register {RUN_TUNED} (phase B): AMBER 5/6 gates passed",
        },
    ]


def test_log_json_of_nothing(registry: Path, capsys) -> None:
    assert run(capsys, "log", "--json", "--repo", registry).out == "[]\n"


# --- what counts as a registration or a decision ---------------------------------------------------


def test_other_commits_are_not_entries(history: History, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = history.repo
    at(monkeypatch, "2025-05-01T00:00:00Z")
    messages = [
        "fix the notebook",  # no trailers
        "notes\n\nGerhard-Run-Id: x1\n\nthe last paragraph has no trailers",  # not a trailer block
        "half\n\nGerhard-Run-Id: x2\nSigned-off-by: Someone <s@example.com>",  # neither verdict nor decision
        "only a verdict\n\nGerhard-Verdict: GREEN",  # no run
    ]
    for message in messages:
        git_out(repo, "commit", "-q", "--allow-empty", "-m", message)
    result = run(capsys, "log", "--repo", repo)
    assert result.out.splitlines() == all_lines(history)


def test_decision_phase_from_its_trailer_or_the_record(history: History, capsys, monkeypatch) -> None:
    repo = history.repo
    at(monkeypatch, "2025-05-02T08:00:00Z")
    stop = decide(repo, RUN_GREEN, "stop", "Reason: budget", "Gerhard-Phase: X")  # the trailer wins
    orphan = decide(repo, "20240101T000000Z_gone", "waive", "Reason: no record")
    lines = run(capsys, "log", "--limit", "2", "--repo", repo).out.splitlines()
    assert lines == [
        f"2025-05-02T08:00:00Z  {orphan[:7]}  decision      20240101T000000Z_gone     -      waive    {ME}",
        f"2025-05-02T08:00:00Z  {stop[:7]}  decision      {RUN_GREEN}  X      stop     {ME}",
    ]


def test_trailer_keys_in_any_case_and_repeated(registry: Path, capsys, monkeypatch) -> None:
    at(monkeypatch, "2025-06-01T00:00:00Z")
    message = "decide r1: waive\n\nwhy\n\ngerhard-decision: waive\nGERHARD-RUN-ID: r1\nGerhard-Run-Id: r2"
    git_out(registry, "commit", "-q", "--allow-empty", "-m", message)
    (entry,) = json.loads(run(capsys, "log", "--json", "--repo", registry).out)
    assert (entry["kind"], entry["run_id"], entry["decision"]) == ("decision", "r1", "waive")


def test_dates_are_utc_whatever_the_time_zone(history: History, capsys, monkeypatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    first = run(capsys, "log", "--limit", "1", "--repo", history.repo).out
    assert first.startswith("2025-04-01T07:00:00Z  ")


def test_log_of_merged_branches_sees_both_sides(history: History, capsys, monkeypatch) -> None:
    repo = history.repo
    git_out(repo, "switch", "-q", "-c", "side", history.commits[RUN_GREEN])
    at(monkeypatch, "2025-03-21T00:00:00Z")
    side = decide(repo, RUN_GREEN, "advance", "Reason: on a branch")
    git_out(repo, "switch", "-q", "main")
    at(monkeypatch, "2025-06-01T00:00:00Z")
    git_out(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    result = run(capsys, "log", "--run-id", RUN_GREEN, "--repo", repo)
    assert result.out.splitlines() == [
        f"2025-03-21T00:00:00Z  {side[:7]}  decision      {RUN_GREEN}  B      advance  {ME}",
        line(history, RUN_GREEN, "2025-03-20T09:00:00Z", "registration", RUN_GREEN, "B", "GREEN"),
    ]


# --- where there is nothing, and bad input ----------------------------------------------------


def test_log_of_a_registry_without_runs(registry: Path, capsys) -> None:
    result = run(capsys, "log", "--repo", registry)
    assert (result.rc, result.out, result.err) == (0, "no registrations or decisions match\n", "")


def test_log_of_a_branch_without_commits(tmp_path: Path, capsys) -> None:
    git_out(tmp_path, "init", "-q", "-b", "main")
    result = run(capsys, "log", "--repo", tmp_path)
    assert (result.rc, result.out, result.err) == (0, "no registrations or decisions match\n", "")


def test_log_outside_a_git_repository(tmp_path: Path, capsys) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    result = run(capsys, "log", "--repo", plain)
    assert_one_line_error(result)
    assert result.err == (
        f"gerhard log: error: {plain} is not inside a git repository: pass --repo with the path of your registry "
        "repository, or cd into it\n"
    )
    missing = run(capsys, "log", "--repo", tmp_path / "nope")
    assert missing.err == (
        f"gerhard log: error: {tmp_path / 'nope'} is not a directory: pass --repo with the path of your "
        "registry repository\n"
    )
    assert missing.rc == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "-1"], "--limit -1 is negative: give a count, or 0 for every entry"),
        (["--phase", "Q"], "unknown phase 'Q': the program has A, B, C"),
        (["--run-id", "../x"], unsafe_id("../x")),
    ],
)
def test_log_bad_input(history: History, capsys, args: list[str], message: str) -> None:
    result = run(capsys, "log", *args, "--repo", history.repo)
    assert_one_line_error(result)
    assert (result.out, result.err) == ("", f"gerhard log: error: {message}\n")


def test_log_limit_argument_must_be_a_number(registry: Path, capsys) -> None:
    result = run(capsys, "log", "--limit", "many", "--repo", registry)
    assert_one_line_error(result, "argument --limit: invalid int value: 'many'")


def test_a_run_id_with_dots_matches_itself_only(registry: Path, capsys, monkeypatch) -> None:
    at(monkeypatch, "2025-06-01T00:00:00Z")
    for run_id in ("v1.5", "v105"):
        decide(registry, run_id, "waive", "why")
    result = json.loads(run(capsys, "log", "--json", "--run-id", "v1.5", "--repo", registry).out)
    assert [e["run_id"] for e in result] == ["v1.5"]


# --- streaming --------------------------------------------------------------------------------


def test_into_a_closed_pipe_git_is_stopped(history: History) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gerhard", "log", "--repo", str(history.repo)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


def test_parse_stream_across_any_chunk_boundary() -> None:
    record = "\0".join(
        ["c" * 40, "1735689600", "Zoë", "z@example.com", "register r (phase A): GREEN 1/1 gates passed",
         "Gerhard-Run-Id: r\nGerhard-Phase: A\nGerhard-Verdict: GREEN\n"]
    ).encode() + b"\0"  # fmt: skip
    data = b"\0".join([b"d" * 40, b"1", b"x", b"y", b"no trailers", b""]) + b"\0" + record * 3
    whole = list(audit._parse_stream(iter([data])))
    assert len(whole) == 3 and whole[0].author == "Zoë" and whole[0].date == "2025-01-01T00:00:00Z"
    for size in (1, 2, 7, 64):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert list(audit._parse_stream(iter(chunks))) == whole


def test_limit_stops_git_early(history: History) -> None:
    stream = audit.iter_entries(history.repo)
    first = next(stream)
    stream.close()  # git killed and reaped, no error
    assert first.run_id == RUN_A2


def test_log_and_pr_summary_read_gerhard_decide(registry: Path, capsys, monkeypatch) -> None:
    """Decisions made with `gerhard decide` itself (not by hand)."""
    at(monkeypatch, "2025-03-10T09:00:00Z")
    result = run(capsys, "register", "--repo", registry, "--run-id", RUN_RED, "--phase", "B", "--force",
                 "--source-dir", EXAMPLES / "phase_b_red")  # fmt: skip
    assert result.rc == 0, result.err
    base = head_sha(registry)
    at(monkeypatch, "2025-03-11T10:30:00Z")
    decided = run(capsys, "decide", RUN_RED, "waive", "--reason", "advisory in practice", "--repo", registry)
    assert decided.rc == 0, decided.err
    sha = head_sha(registry)
    lines = run(capsys, "log", "--repo", registry).out.splitlines()
    assert lines[0] == f"2025-03-11T10:30:00Z  {sha[:7]}  decision      {RUN_RED}      B      waive    {ME}"
    summary = run(capsys, "pr-summary", f"{base}..HEAD", "--repo", registry).out.splitlines()
    assert summary[-1] == f"| `{RUN_RED}` | waive | {ME} | advisory in practice | {sha[:7]} |"


def test_log_whatever_the_git_config(history: History, capsys, monkeypatch) -> None:
    """Signatures shown by config, another output encoding, and a name that needs UTF-8."""
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Zoë Ångström")
    at(monkeypatch, "2025-06-01T00:00:00Z")
    sha = decide(history.repo, RUN_A, "advance", "Reason: why not")
    for i, (key, value) in enumerate([("log.showSignature", "true"), ("i18n.logOutputEncoding", "ISO-8859-1")]):
        monkeypatch.setenv(f"GIT_CONFIG_KEY_{i}", key)
        monkeypatch.setenv(f"GIT_CONFIG_VALUE_{i}", value)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "2")
    lines = run(capsys, "log", "--limit", "2", "--repo", history.repo).out.splitlines()
    assert lines == [
        f"2025-06-01T00:00:00Z  {sha[:7]}  decision      {RUN_A}    A      advance  Zoë Ångström",
        all_lines(history)[0],
    ]


def test_log_json_is_one_entry_per_line(history: History, capsys) -> None:
    out = run(capsys, "log", "--json", "--phase", "A", "--repo", history.repo).out
    lines = out.splitlines()
    assert (lines[0], lines[-1], len(lines)) == ("[", "]", 4)
    assert [json.loads(line.rstrip(","))["run_id"] for line in lines[1:-1]] == [RUN_A2, RUN_A]


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("Gerhard-Run-Id: r\nGerhard-Verdict: RED\n", {"Gerhard-Run-Id": "r", "Gerhard-Verdict": "RED"}),
        ("Gerhard-Run-Id: r\nGerhard-Run-Id: s\n", {"Gerhard-Run-Id": "r"}),  # the first one counts
        ("gerhard-run-id:r\nSigned-off-by: A <a@example.com>\n", {"Gerhard-Run-Id": "r"}),
        ("Gerhard-Phase: B\n  folded\nGerhard-Decision: stop\n", {"Gerhard-Phase": "B", "Gerhard-Decision": "stop"}),
        ("Gerhard-Phase: \n(cherry picked from commit abc)\n", {}),
        ("", {}),
    ],
)
def test_trailer_values(block: str, expected: dict[str, str]) -> None:
    assert audit.trailer_values(block) == expected


def test_run_id_filter_is_the_trailer_not_a_line_in_the_body(registry: Path, capsys, monkeypatch) -> None:
    at(monkeypatch, "2025-06-01T00:00:00Z")
    body = "decide r2: stop\n\nsee\nGerhard-Run-Id: r1\nabove\n\nGerhard-Decision: stop\nGerhard-Run-Id: r2"
    git_out(registry, "commit", "-q", "--allow-empty", "-m", body)
    assert run(capsys, "log", "--run-id", "r1", "--repo", registry).out == "no registrations or decisions match\n"
    assert len(run(capsys, "log", "--run-id", "r2", "--repo", registry).out.splitlines()) == 1
