"""gerhard check (the whole registry, for CI and people) and the quick look registration takes first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import register_ok, run
from conftest import git

from gerhard.errors import StateError
from gerhard.registry import checks

RUN_A = "20261101T100000Z_dense"
RUN_B = "20261101T120000Z_v15"
CLEAN = "checked 2 runs, 12 files, 3 commits: every run as registered, derived files up to date\n"


@pytest.fixture
def registered(registry: Path, bundle_a: Path, bundle_b_red: Path, capsys) -> Path:
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    register_ok(capsys, registry, RUN_B, "B", bundle_b_red)
    return registry


def manifest_sha(repo: Path, run_id: str, name: str) -> str:
    files = json.loads((repo / "outputs" / run_id / "MANIFEST").read_text())["files"]
    return next(f["sha256"] for f in files if f["path"] == name)[:12]


def test_a_whole_registry_is_one_line(registered: Path, capsys) -> None:
    result = run(capsys, "check", "--repo", registered)
    assert (result.rc, result.out, result.err) == (0, CLEAN, "")


def test_json(registered: Path, capsys) -> None:
    clean = run(capsys, "check", "--repo", registered, "--json")
    counts = {"runs": 2, "files": 12, "commits": 3, "since": None}
    assert (clean.rc, json.loads(clean.out)) == (
        0,
        {"ok": True, **counts, "problems": [], "warnings": [], "notes": []},
    )
    (registered / "reports" / "index.md").write_text("# typed over\n")
    broken = run(capsys, "check", "--repo", registered, "--json", "--full")
    assert broken.rc == 1
    assert json.loads(broken.out) == {
        "ok": False,
        **counts,
        "problems": [
            "reports/index.md differs from what 'gerhard rebuild' computes from the run records: a hand edit? "
            "run 'gerhard rebuild' and commit the result (or 'gerhard rebuild --commit')"
        ],
        "warnings": [],
        "notes": [],
    }


@pytest.mark.parametrize("chunk", [250, 1], ids=["one process", "a process per CPU"])
def test_archive_and_derived_problems_one_line_each(
    registered: Path, capsys, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    from gerhard.team import contents

    monkeypatch.setattr(contents, "CHUNK", chunk)
    sha = manifest_sha(registered, RUN_A, "seed.txt")
    (registered / "outputs" / RUN_A / "seed.txt").write_text("999\n")
    (registered / "outputs" / RUN_B / "eval_suite.json").unlink()
    (registered / "outputs" / RUN_B / "stray.txt").write_text("x\n")
    (registered / "reports" / "index.md").write_text("# typed over\n")
    (registered / "outputs" / "orphan").mkdir()
    (registered / "outputs" / "orphan" / "metrics.json").write_text("{}")  # a run not registered yet: a note
    (registered / "outputs" / "plots").mkdir()
    (registered / "outputs" / "plots" / "loss.png").write_bytes(b"png")  # no run at all
    result = run(capsys, "check", "--repo", registered)
    assert result.rc == 1
    assert result.out.splitlines() == [
        f"outputs/{RUN_A}/seed.txt does not match its MANIFEST entry (size 3, sha256 {sha}…): the archived file "
        f"was changed; restore it with 'git checkout HEAD -- outputs/{RUN_A}/seed.txt'",
        f"outputs/{RUN_B}/eval_suite.json is listed in the MANIFEST but missing: "
        f"restore it with 'git checkout HEAD -- outputs/{RUN_B}/eval_suite.json'",
        f"outputs/{RUN_B}/stray.txt is in the archive but not in its MANIFEST: remove it "
        f"(git rm outputs/{RUN_B}/stray.txt; rm outputs/{RUN_B}/stray.txt if git does not track it)",
        "outputs/plots/ has no run record state/runs/plots.yaml: register the run, or remove the folder",
        "reports/index.md differs from what 'gerhard rebuild' computes from the run records: a hand edit? "
        "run 'gerhard rebuild' and commit the result (or 'gerhard rebuild --commit')",
    ]
    assert result.err.splitlines() == [
        f"note: outputs/orphan/ (bundle, not registered yet): python -m gerhard register --repo {registered} "
        f"--run-id orphan --phase PHASE --source-dir {registered}/outputs/orphan (put its phase for PHASE)",
        "checked 3 runs, 13 files, 3 commits: 5 problem(s)",
    ]


def test_invalid_records_and_manifests(registered: Path, capsys) -> None:
    record = registered / "state" / "runs" / f"{RUN_A}.yaml"
    record.write_text(record.read_text().replace("verdict: GREEN", "verdict: PURPLE"))
    (registered / "outputs" / RUN_B / "MANIFEST").write_text("{not json")
    result = run(capsys, "check", "--repo", registered)
    assert result.rc == 1
    assert result.out.splitlines() == [
        f"state/runs/{RUN_A}.yaml: $.verdict: 'PURPLE' is not one of ['GREEN', 'AMBER', 'RED'] (schema run_record): "
        f"restore it with 'git checkout HEAD -- state/runs/{RUN_A}.yaml'",
        f"outputs/{RUN_B}/MANIFEST is not a valid MANIFEST (Expecting property name enclosed in double quotes: "
        f"line 1 column 2 (char 1)): restore it with 'git checkout HEAD -- outputs/{RUN_B}/MANIFEST'",
    ]  # the derived files are compared once every record reads


def test_a_record_and_manifest_of_another_run(registered: Path, capsys) -> None:
    runs, outputs = registered / "state" / "runs", registered / "outputs"
    (runs / f"{RUN_A}.yaml").write_text((runs / f"{RUN_B}.yaml").read_text())
    (outputs / RUN_B / "MANIFEST").write_text((outputs / RUN_A / "MANIFEST").read_text())
    result = run(capsys, "check", "--repo", registered)
    assert result.out.splitlines() == [
        f"state/runs/{RUN_A}.yaml is the record of run {RUN_B}, not of this file's run: "
        f"restore it with 'git checkout HEAD -- state/runs/{RUN_A}.yaml'",
        f"outputs/{RUN_B}/MANIFEST is the MANIFEST of run {RUN_A}, not of {RUN_B}: "
        f"restore it with 'git checkout HEAD -- outputs/{RUN_B}/MANIFEST'",
    ]


def test_a_gitignore_hides_no_stray_file_in_a_run(registered: Path, capsys) -> None:
    """A .gitignore in a registered run folder (here one that ignores itself too) hides nothing from check:
    the folder is read whole. A single file one's global excludes ignore (`.DS_Store`, a log) is left to the
    user's rules, as git leaves it: it is not in the history and no `git add` takes it."""
    folder = registered / "outputs" / RUN_B
    (folder / ".gitignore").write_text("*\n")
    (folder / "stray.txt").write_text("x\n")
    git(registered, "config", "core.excludesFile", str(registered.parent / "excludes"))
    (registered.parent / "excludes").write_text("*.log\n")
    (registered / "outputs" / RUN_A / "train.log").write_text("x\n")
    assert git(registered, "status", "--porcelain") == ""
    result = run(capsys, "check", "--repo", registered)
    assert (result.rc, result.out.splitlines()) == (
        1,
        [
            f"outputs/{RUN_B}/.gitignore is in the archive but not in its MANIFEST: remove it "
            f"(git rm outputs/{RUN_B}/.gitignore; rm outputs/{RUN_B}/.gitignore if git does not track it)",
            f"outputs/{RUN_B}/stray.txt is in the archive but not in its MANIFEST: remove it "
            f"(git rm outputs/{RUN_B}/stray.txt; rm outputs/{RUN_B}/stray.txt if git does not track it)",
        ],
    )


def test_leftovers_of_an_interrupted_registration(registered: Path, capsys) -> None:
    (registered / ".git" / "index.lock").write_text("gerhard-txn 12345 00ff00ff00ff00ff\nregister x\n")
    (registered / "state" / ".program_status.yaml.abc123.gerhard-tmp").write_text("half written")
    (registered / "outputs" / RUN_A / ".seed.txt.abc123.gerhard-tmp").write_text("half written")
    result = run(capsys, "check", "--repo", registered)
    assert result.rc == 1
    assert sorted(result.out.splitlines()) == [
        f"{registered / '.git' / 'index.lock'} was left by an interrupted gerhard command: run 'gerhard doctor'",
        f"outputs/{RUN_A}/.seed.txt.abc123.gerhard-tmp is a temporary file of an interrupted write: "
        "run 'gerhard doctor'",
        "state/.program_status.yaml.abc123.gerhard-tmp is a temporary file of an interrupted write: "
        "run 'gerhard doctor'",
    ]


def test_a_copy_left_by_a_killed_sync_is_named_once_and_doctor_removes_it(registered: Path, capsys) -> None:
    """<name>.gerhard-tmp (a copy's, not atomic_write's dot-named one) in an archive whose files are read
    again (one of them was edited) is a temporary file, as doctor counts it, not a file its MANIFEST lacks."""
    (registered / "outputs" / RUN_A / "model.pt.gerhard-tmp").write_bytes(b"half copied")
    seed = registered / "outputs" / RUN_A / "seed.txt"
    seed.write_text(seed.read_text() + "\n")
    result = run(capsys, "check", "--repo", registered)
    assert result.rc == 1
    assert [line.partition(" ")[::2] for line in result.out.splitlines()] == [
        (f"outputs/{RUN_A}/model.pt.gerhard-tmp", "is a temporary file of an interrupted write: run 'gerhard doctor'"),
        (f"outputs/{RUN_A}/seed.txt", result.out.splitlines()[1].partition(" ")[2]),
    ]
    git(registered, "checkout", "--", f"outputs/{RUN_A}/seed.txt")
    assert run(capsys, "doctor", "--repo", registered).rc == 0
    assert run(capsys, "check", "--repo", registered).rc == 0


def test_an_unsettled_transaction(registered: Path, capsys) -> None:
    (registered / ".git" / "gerhard-txn").mkdir()
    (registered / ".git" / "gerhard-txn" / "lock").write_text("gerhard-txn 1 ab\nregister x (phase A)\n")
    result = run(capsys, "check", "--repo", registered)
    assert result.rc == 1
    assert result.out.splitlines() == [
        "an interrupted transaction (register x (phase A)) is not settled: run 'gerhard doctor' to finish or undo it"
    ]


def test_progress_on_stderr(registered: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from gerhard.cli.commands import check
    from gerhard.team import contents

    monkeypatch.setattr(check, "PROGRESS_EVERY_S", -1.0)
    monkeypatch.setattr(contents, "CHUNK", 1)  # two chunks: checked in parallel where there are CPUs for it
    result = run(capsys, "check", "--repo", registered)
    assert (result.rc, result.out) == (0, CLEAN)
    assert result.err == "checked 1/2 runs\nchecked 2/2 runs\n"


def test_a_checkout_that_git_converts_is_intact(registered: Path, capsys) -> None:
    """Git for Windows checks text out with CRLF (core.autocrlf): the blobs still match the MANIFEST."""
    git(registered, "config", "core.autocrlf", "true")
    for path in [p for p in (registered / "outputs").rglob("*") if p.is_file()]:
        path.unlink()
    git(registered, "checkout", "--", "outputs")
    assert b"\r\n" in (registered / "outputs" / RUN_A / "config.yaml").read_bytes()
    result = run(capsys, "check", "--repo", registered)
    assert (result.rc, result.out) == (0, CLEAN)
    (registered / "outputs" / RUN_A / "config.yaml").write_bytes(b"lr: 1\r\n")
    assert run(capsys, "check", "--repo", registered).out.startswith(
        f"outputs/{RUN_A}/config.yaml does not match its MANIFEST entry"
    )


def test_an_empty_registry(registry: Path, capsys) -> None:
    result = run(capsys, "check", "--repo", registry)
    assert (result.rc, result.out) == (
        0,
        "checked 0 runs, 0 files, 1 commit: every run as registered, derived files up to date\n",
    )


# --- the quick look before a registration builds on the registry ---------------------------------

DAMAGED = "the registry is damaged: {}; run 'gerhard check' to list every problem and fix them, then try again"


def quick(repo: Path) -> str | None:
    try:
        checks.quick_check_for_registration(repo)
    except StateError as e:
        return str(e)
    return None


def test_quick_check_passes_a_whole_registry(registered: Path, registry: Path) -> None:
    assert quick(registered) is None


def test_quick_check_passes_an_empty_registry(registry: Path) -> None:
    assert quick(registry) is None


def test_quick_check_finds_a_missing_latest_record(registered: Path) -> None:
    (registered / "state" / "runs" / f"{RUN_B}.yaml").unlink()
    assert quick(registered) == DAMAGED.format(
        f"state/program_status.yaml names {RUN_B} as the latest run, but state/runs/{RUN_B}.yaml is missing"
    )


def test_quick_check_finds_an_invalid_latest_record(registered: Path) -> None:
    path = registered / "state" / "runs" / f"{RUN_B}.yaml"
    path.write_text(path.read_text().replace("verdict: RED", "verdict: PURPLE"))
    assert quick(registered) == DAMAGED.format(
        f"state/runs/{RUN_B}.yaml: $.verdict: 'PURPLE' is not one of ['GREEN', 'AMBER', 'RED'] (schema run_record): "
        f"restore it with 'git checkout HEAD -- state/runs/{RUN_B}.yaml'"
    )


def test_quick_check_finds_a_latest_record_that_disagrees(registered: Path) -> None:
    path = registered / "state" / "runs" / f"{RUN_B}.yaml"
    path.write_text(path.read_text().replace("verdict: RED", "verdict: GREEN"))
    assert quick(registered) == DAMAGED.format(
        f"state/runs/{RUN_B}.yaml does not agree with state/program_status.yaml (verdict, registration time)"
    )


def test_quick_check_finds_a_record_of_another_bundle(registered: Path) -> None:
    path = registered / "state" / "runs" / f"{RUN_B}.yaml"
    text = path.read_text()
    sha = text.split("bundle_sha256: ")[1].split()[0]
    path.write_text(text.replace(sha, "f" * 64))
    assert quick(registered) == DAMAGED.format(
        f"state/runs/{RUN_B}.yaml and outputs/{RUN_B}/MANIFEST name different bundles"
    )


def test_quick_check_finds_a_missing_archived_file(registered: Path) -> None:
    (registered / "outputs" / RUN_B / "seed.txt").unlink()
    assert quick(registered) == DAMAGED.format(f"outputs/{RUN_B}/seed.txt is missing (its MANIFEST lists it)")


def test_quick_check_finds_a_ledger_without_the_latest_run(registered: Path) -> None:
    ledger = next((registered / "state" / "ledger").glob("*.jsonl"))
    ledger.write_text(ledger.read_text().splitlines(keepends=True)[0])
    assert quick(registered) == DAMAGED.format(
        f"the last row of state/ledger/{ledger.name} is not the latest run {RUN_B}"
    )
