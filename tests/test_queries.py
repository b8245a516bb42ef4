"""End-to-end: the read side (show, list, export, status) and `gerhard init`, on a real registry."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from pathlib import Path

import pytest
from cli_helpers import load_yaml, run, snapshot_tree
from conftest import git, snapshot
from ruamel.yaml import YAML

from gerhard.cli.commands.init import MINIMAL_PROGRAM
from gerhard.flows.registration import register

RUN_A = "20250105T090000Z_dense"
RUN_RED = "20250310T090000Z_v15"
RUN_GREEN = "20250320T090000Z_v15_fix"


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day + "T09:00:00+00:00")


@pytest.fixture
def runs(registry: Path, bundle_a: Path, bundle_b_red: Path, bundle_b_green: Path) -> Path:
    """A GREEN A run (January), a RED B run and a GREEN B run (March), registered at fixed times."""
    for run_id, phase, source, day in [
        (RUN_A, "A", bundle_a, "2025-01-05"),
        (RUN_RED, "B", bundle_b_red, "2025-03-10"),
        (RUN_GREEN, "B", bundle_b_green, "2025-03-20"),
    ]:
        register(
            run_id=run_id,
            phase=phase,
            source_dir=source,
            repo_root=registry,
            summary=f"summary of {run_id}",
            next_action="next",
            now=at(day),
        )
    return registry


def record(repo: Path, run_id: str) -> dict:
    return load_yaml(repo / "state" / "runs" / f"{run_id}.yaml")


def ids_in_text(text: str) -> list[str]:
    """The RUN column of `gerhard list` output."""
    lines = text.splitlines()
    if lines[:1] == ["no runs match"]:
        return []
    assert lines[0].split()[1] == "RUN"
    return [line.split()[1] for line in lines[1:]]


# --- show -------------------------------------------------------------------------------------


def test_show_latest_text(runs: Path, capsys) -> None:
    result = run(capsys, "show", "latest", "--repo", runs)
    assert result.rc == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"run       {RUN_GREEN}  (#3)"
    assert lines[1] == "phase     B"
    assert lines[2].startswith("verdict   GREEN  ")
    assert "at        2025-03-20T09:00:00Z" in lines
    assert "summary   summary of 20250320T090000Z_v15_fix" in lines
    assert f"report    reports/2025/03/{RUN_GREEN}.md" in lines
    assert f"archive   outputs/{RUN_GREEN}/" in lines
    assert not any(line.startswith("needs") for line in lines)
    gate_lines = lines[lines.index("gates") + 1 : lines.index("gates") + 7]
    assert [line.split()[1] for line in gate_lines] == [g["id"] for g in record(runs, RUN_GREEN)["gates"]]
    assert gate_lines[0].split()[0] == "pass"
    assert (runs / f"reports/2025/03/{RUN_GREEN}.md").is_file()


def test_show_red_run_by_id(runs: Path, capsys) -> None:
    result = run(capsys, "show", RUN_RED, "--repo", runs)
    assert result.rc == 0
    lines = result.out.splitlines()
    assert lines[2] == "verdict   RED  2/6 gates passed"
    assert "code      3f9c2a1d8e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a (clean, from provenance.json)" in lines
    assert "seed      4321" in lines
    table = {line.split()[1]: line for line in lines if line.startswith("  ")}
    assert table["val_loss_max"].split()[0] == "FAIL"
    assert table["val_loss_max"].split()[2:] == ["3.05", "<=", "2.9"]
    assert table["spike_rate_band"].split()[2:] == ["0.025", "in", "[0.05,", "0.25]"]
    assert table["energy_ratio_advisory"].split()[0] == "WARN"
    assert table["val_loss_vs_best_green"].split()[0] == "pass"
    assert "(no GREEN baseline run of this phase yet" in table["val_loss_vs_best_green"]
    assert f"report    reports/2025/03/{RUN_RED}.md" in lines
    assert f"needs     state/needs_input/{RUN_RED}.yaml" in lines
    assert any(line.startswith("metrics   ") and "val_loss=3.05" in line for line in lines)


@pytest.mark.parametrize("which", ["latest", RUN_GREEN, RUN_RED, RUN_A])
def test_show_json_equals_the_record(runs: Path, capsys, which: str) -> None:
    result = run(capsys, "show", which, "--json", "--repo", runs)
    assert result.rc == 0
    expected = record(runs, RUN_GREEN if which == "latest" else which)
    assert json.loads(result.out) == expected


def test_show_reads_nothing_it_writes(runs: Path, capsys) -> None:
    before = snapshot(runs)
    for argv in (["show", "latest"], ["list"], ["status"], ["export", "all", "--format", "csv"]):
        assert run(capsys, *argv, "--repo", runs).rc == 0
    assert snapshot(runs) == before


# --- list -------------------------------------------------------------------------------------


def test_list_newest_first(runs: Path, capsys) -> None:
    result = run(capsys, "list", "--repo", runs)
    assert result.rc == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["REGISTERED", "RUN", "PHASE", "VERDICT", "GATES", "SUMMARY"]
    assert ids_in_text(result.out) == [RUN_GREEN, RUN_RED, RUN_A]
    assert lines[1].split()[:5] == ["2025-03-20T09:00:00Z", RUN_GREEN, "B", "GREEN", "6/6"]
    assert lines[2].split()[:5] == ["2025-03-10T09:00:00Z", RUN_RED, "B", "RED", "2/6"]
    assert lines[3].split()[:5] == ["2025-01-05T09:00:00Z", RUN_A, "A", "GREEN", "1/1"]
    assert lines[3].endswith(f"summary of {RUN_A}")


def test_list_json(runs: Path, capsys) -> None:
    rows = json.loads(run(capsys, "list", "--json", "--repo", runs).out)
    assert [r["run_id"] for r in rows] == [RUN_GREEN, RUN_RED, RUN_A]
    assert rows[1] == {
        "seq": 2,
        "run_id": RUN_RED,
        "phase": "B",
        "verdict": "RED",
        "passed": 2,
        "total": 6,
        "registered_at": "2025-03-10T09:00:00Z",
        "month": "2025-03",
        "summary": f"summary of {RUN_RED}",
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--phase", "B"], [RUN_GREEN, RUN_RED]),
        (["--phase", "A"], [RUN_A]),
        (["--phase", "C"], []),
        (["--verdict", "red"], [RUN_RED]),
        (["--verdict", "RED"], [RUN_RED]),
        (["--verdict", "green"], [RUN_GREEN, RUN_A]),
        (["--since", "2025-03-15"], [RUN_GREEN]),
        (["--since", "2025-02-01"], [RUN_GREEN, RUN_RED]),
        (["--since", "2025-01-05"], [RUN_GREEN, RUN_RED, RUN_A]),
        (["--since", "2025-03-10T00:00:00Z"], [RUN_GREEN, RUN_RED]),
        (["--since", "2026-01-01"], []),
        (["--limit", "1"], [RUN_GREEN]),
        (["--limit", "2"], [RUN_GREEN, RUN_RED]),
        (["--limit", "0"], [RUN_GREEN, RUN_RED, RUN_A]),
        (["--phase", "B", "--verdict", "green", "--limit", "5"], [RUN_GREEN]),
        (["--phase", "A", "--verdict", "red"], []),
    ],
)
def test_list_filters(runs: Path, capsys, args: list[str], expected: list[str]) -> None:
    rows = json.loads(run(capsys, "list", "--json", *args, "--repo", runs).out)
    assert [r["run_id"] for r in rows] == expected
    text = run(capsys, "list", *args, "--repo", runs)
    assert text.rc == 0
    assert ids_in_text(text.out) == expected
    if not expected:
        assert text.out == "no runs match\n"


def test_backdated_runs_across_months_rebuild_cleanly(runs: Path, capsys) -> None:
    check = run(capsys, "rebuild", "--check", "--repo", runs)
    assert check.rc == 0, check.out
    assert (runs / "reports/2025/01/index.md").is_file()
    assert (runs / "reports/2025/03/index.md").is_file()
    ledger = (runs / "state/ledger/2025-03.jsonl").read_text().splitlines()
    assert [json.loads(line)["run_id"] for line in ledger] == [RUN_RED, RUN_GREEN]


def test_list_on_an_empty_registry(registry: Path, capsys) -> None:
    assert run(capsys, "list", "--repo", registry).out == "no runs match\n"
    assert json.loads(run(capsys, "list", "--json", "--repo", registry).out) == []


# --- export -----------------------------------------------------------------------------------


def test_export_json(runs: Path, capsys) -> None:
    latest = json.loads(run(capsys, "export", "latest", "--repo", runs).out)
    assert latest == record(runs, RUN_GREEN)
    one = json.loads(run(capsys, "export", RUN_RED, "--format", "json", "--repo", runs).out)
    assert one == record(runs, RUN_RED)
    every = json.loads(run(capsys, "export", "all", "--format", "json", "--repo", runs).out)
    assert every == [record(runs, r) for r in (RUN_A, RUN_RED, RUN_GREEN)]


def test_export_yaml(runs: Path, capsys) -> None:
    yaml = YAML(typ="safe")
    assert yaml.load(run(capsys, "export", "latest", "--format", "yaml", "--repo", runs).out) == record(runs, RUN_GREEN)
    assert yaml.load(run(capsys, "export", RUN_A, "--format", "yaml", "--repo", runs).out) == record(runs, RUN_A)
    every = yaml.load(run(capsys, "export", "all", "--format", "yaml", "--repo", runs).out)
    assert [r["run_id"] for r in every] == [RUN_A, RUN_RED, RUN_GREEN]
    assert every[1] == record(runs, RUN_RED)


def test_export_csv(runs: Path, capsys) -> None:
    result = run(capsys, "export", "all", "--format", "csv", "--repo", runs)
    assert result.rc == 0
    reader = csv.DictReader(io.StringIO(result.out))
    rows = list(reader)
    assert [r["run_id"] for r in rows] == [RUN_A, RUN_RED, RUN_GREEN]
    fields = reader.fieldnames or []
    assert fields[:4] == ["run_id", "seq", "phase", "verdict"]
    for column in (
        "metric.val_loss",
        "metric.train_loss",
        "gate.val_loss_max.observed",
        "gate.val_loss_max.passed",
        "gate.spike_rate_band.observed",
        "gate.eval_pass_rate_min.observed",
    ):
        assert column in fields, column
    red = rows[1]
    assert (red["verdict"], red["gates_passed"], red["gates_total"]) == ("RED", "2", "6")
    assert red["metric.val_loss"] == "3.05"
    assert red["gate.spike_rate_band.observed"] == "0.025"
    assert red["gate.spike_rate_band.passed"] == "False"
    assert red["code_sha"] == "3f9c2a1d8e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a"
    assert red["summary"] == f"summary of {RUN_RED}"
    assert rows[0]["gate.spike_rate_band.observed"] == ""  # phase A has no such gate
    one = list(csv.DictReader(io.StringIO(run(capsys, "export", "latest", "--format", "csv", "--repo", runs).out)))
    assert [r["run_id"] for r in one] == [RUN_GREEN]


def test_export_csv_is_safe_for_commas_and_newlines_in_summaries(registry: Path, bundle_a: Path, capsys) -> None:
    summary = 'dense, "baseline"\nsecond line'
    register(run_id="r1", phase="A", source_dir=bundle_a, repo_root=registry, summary=summary)
    (row,) = csv.DictReader(io.StringIO(run(capsys, "export", "r1", "--format", "csv", "--repo", registry).out))
    assert row["summary"] == summary


# --- status -----------------------------------------------------------------------------------


def test_status_text(runs: Path, capsys) -> None:
    result = run(capsys, "status", "--repo", runs)
    assert result.rc == 0
    lines = result.out.splitlines()
    assert lines[0] == "asnn-goose-v15: phase C (active), 3 runs registered"
    assert lines[1].split() == ["A", "passed", "1", "run", "latest", RUN_A, "GREEN,", "passed", "by", RUN_A]
    assert lines[2].split() == ["B", "passed", "2", "runs", "latest", RUN_GREEN, "GREEN,", "passed", "by", RUN_GREEN]
    assert lines[3].split() == ["C", "active", "0", "runs", "no", "runs"]
    assert lines[4] == f"latest: {RUN_GREEN} (GREEN) at 2025-03-20T09:00:00Z"
    assert len(lines) == 5  # the GREEN rerun answered the RED run's needs-input


def test_status_text_with_open_needs_input(registry: Path, bundle_a: Path, bundle_b_red: Path, capsys) -> None:
    register(run_id=RUN_A, phase="A", source_dir=bundle_a, repo_root=registry)
    register(run_id=RUN_RED, phase="B", source_dir=bundle_b_red, repo_root=registry)
    lines = run(capsys, "status", "--repo", registry).out.splitlines()
    assert lines[0] == "asnn-goose-v15: phase B (blocked), 2 runs registered"
    assert lines[-1] == (
        f"needs input: state/needs_input/{RUN_RED}.yaml "
        "(failed: val_loss_max, eval_pass_rate_min, spike_rate_band, energy_ratio_advisory)"
    )


def test_status_json(runs: Path, capsys) -> None:
    data = json.loads(run(capsys, "status", "--json", "--repo", runs).out)
    # The stored status, and the runs in outputs/ not registered yet (tests/test_pending_runs.py).
    assert data == {**load_yaml(runs / "state" / "program_status.yaml"), "pending_runs": []}
    assert (data["current_phase"], data["run_count"], data["latest_run"]) == ("C", 3, RUN_GREEN)
    assert data["phases"]["B"]["passed_by"] == RUN_GREEN
    assert data["open_needs_input"] == []
    assert data["months"] == {"2025-01": 1, "2025-03": 2}


def test_status_of_a_fresh_registry(registry: Path, capsys) -> None:
    result = run(capsys, "status", "--repo", registry)
    assert result.rc == 0
    assert result.out.splitlines()[0] == "asnn-goose-v15: phase A (active), 0 runs registered"
    data = json.loads(run(capsys, "status", "--json", "--repo", registry).out)
    assert (data["current_phase"], data["run_count"], data["latest_run"]) == ("A", 0, None)
    assert [p["state"] for p in data["phases"].values()] == ["active", "pending", "pending"]


def test_queries_work_from_a_subdirectory(runs: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(runs / "reports")
    assert json.loads(run(capsys, "show", "latest", "--json").out)["run_id"] == RUN_GREEN


# --- init -------------------------------------------------------------------------------------


@pytest.fixture
def fresh_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "research"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    return repo


def test_init_scaffolds_the_layout(fresh_repo: Path, capsys) -> None:
    result = run(capsys, "init", fresh_repo)
    assert result.rc == 0, result.err
    assert result.err == ""
    assert result.out.splitlines()[0] == f"gerhard registry scaffolded in {fresh_repo}:"
    assert "  created state/program.yaml" in result.out
    assert "  created .gitignore (heavy-file entries)" in result.out
    assert "git add" in result.out and "git commit" in result.out
    for keep in ("state/runs", "state/needs_input", "state/decisions", "outputs", "reports", "docs/ops"):
        assert (fresh_repo / keep / ".gitkeep").is_file(), keep
    assert (fresh_repo / "schemas" / "README.md").is_file()
    program = (fresh_repo / "state" / "program.yaml").read_text()
    assert program == MINIMAL_PROGRAM  # tests/test_init.py: what it says, and --example
    gitignore = (fresh_repo / ".gitignore").read_text().splitlines()
    assert "*.ckpt" in gitignore and "*.gerhard-tmp" in gitignore
    # a scaffolded registry works once committed
    git(fresh_repo, "add", "-A")
    git(fresh_repo, "commit", "-q", "-m", "gerhard init")
    assert run(capsys, "status", "--repo", fresh_repo).out.startswith("my-research: phase A (active)")


def test_init_twice_has_nothing_to_do(fresh_repo: Path, capsys) -> None:
    assert run(capsys, "init", fresh_repo).rc == 0
    before = snapshot_tree(fresh_repo, skip=".git")
    again = run(capsys, "init", fresh_repo)
    assert again.rc == 0
    assert again.out == f"{fresh_repo} already has the gerhard registry layout; nothing to do\n"
    assert snapshot_tree(fresh_repo, skip=".git") == before


def test_init_keeps_an_existing_gitignore_and_program(fresh_repo: Path, capsys) -> None:
    (fresh_repo / ".gitignore").write_text("node_modules/\n*.log")  # no final newline
    (fresh_repo / "state").mkdir()
    (fresh_repo / "state" / "program.yaml").write_text("program: mine\nphases: [{id: X, required: []}]\n")
    result = run(capsys, "init", fresh_repo)
    assert result.rc == 0
    assert "created state/program.yaml" not in result.out
    lines = (fresh_repo / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["node_modules/", "*.log"]
    assert "*.safetensors" in lines
    assert (fresh_repo / "state" / "program.yaml").read_text() == "program: mine\nphases: [{id: X, required: []}]\n"
    assert run(capsys, "init", fresh_repo).out.endswith("nothing to do\n")
    assert (fresh_repo / ".gitignore").read_text().count("node_modules/") == 1


def test_init_defaults_to_the_current_directory_and_finds_the_top(
    fresh_repo: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    (fresh_repo / "notebooks").mkdir()
    monkeypatch.chdir(fresh_repo / "notebooks")
    assert run(capsys, "init").rc == 0
    assert (fresh_repo / "state" / "program.yaml").is_file()
    assert not (fresh_repo / "notebooks" / "state").exists()
    assert os.listdir(fresh_repo / "notebooks") == []  # an existing folder is left as it is


def test_a_fresh_registry_passes_rebuild_check(registry: Path, bundle_a: Path, capsys) -> None:
    """CI runs the check from the first commit on: a registry with no runs has no derived files yet."""
    check = run(capsys, "rebuild", "--check", "--repo", registry)
    assert check.rc == 0, check.out
    assert check.out == ""
    before = snapshot(registry)
    assert run(capsys, "rebuild", "--repo", registry).rc == 0
    assert snapshot(registry) == before  # nothing written, nothing in the way of the first registration
    register(run_id="first", phase="A", source_dir=bundle_a, repo_root=registry)
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0


def test_derived_files_of_an_empty_registry_are_still_checked(registry: Path, capsys) -> None:
    (registry / "reports" / "index.md").write_text("# stale\n")
    check = run(capsys, "rebuild", "--check", "--repo", registry)
    assert (check.rc, check.out) == (1, "differs from rebuild: reports/index.md\n")
    assert run(capsys, "rebuild", "--repo", registry).rc == 0
    assert "No run registered yet." in (registry / "reports" / "index.md").read_text()


def run_into_closed_pipe(*argv: str | Path) -> tuple[int, str]:
    """`gerhard ARGV | head -0`: stdout is a pipe whose reader has already gone away."""
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gerhard", *map(str, argv)], stdout=write_end, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(write_end)
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    "argv", [["list"], ["show", "latest"], ["status", "--json"], ["export", "all", "--format", "csv"]]
)
def test_output_into_a_closed_pipe_is_not_a_bug(runs: Path, argv: list[str]) -> None:
    rc, err = run_into_closed_pipe(*argv, "--repo", runs)
    assert (rc, err) == (141, "")  # like git: quiet, 128 + SIGPIPE


def test_register_into_a_closed_pipe_still_registers(registry: Path, bundle_a: Path) -> None:
    rc, err = run_into_closed_pipe(
        "register", "--repo", registry, "--run-id", "r1", "--phase", "A", "--source-dir", bundle_a
    )
    assert (rc, err) == (141, "")
    assert record(registry, "r1")["verdict"] == "GREEN"
