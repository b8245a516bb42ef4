"""gerhard init's program: a minimal one that says what each line means, or --example's spiking program.

The layout itself (folders, .gitignore, running twice) is in tests/test_queries.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import load_yaml, run
from conftest import EXAMPLES, git

from gerhard.cli.commands.init import MINIMAL_PROGRAM
from gerhard.registry.store import load_program

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    repo = tmp_path / "research"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    return repo


def test_every_line_of_the_minimal_program_says_what_it_means() -> None:
    lines = [line for line in MINIMAL_PROGRAM.splitlines() if line.strip()]
    assert lines[0].startswith("# state/program.yaml: your research program.")
    assert [line for line in lines if "#" not in line] == []
    # A value that holds a '#' would be cut at it by YAML: every comment is a comment.
    assert all(line.lstrip().startswith("#") or " # " in line for line in lines)


def test_the_minimal_program_has_one_phase_a_blocking_and_an_advisory_gate(fresh: Path, capsys) -> None:
    assert run(capsys, "init", fresh).rc == 0
    assert (fresh / "state" / "program.yaml").read_text() == MINIMAL_PROGRAM
    program = load_program(fresh)
    assert program.name == "my-research"
    (phase,) = program.phases
    assert (phase.id, phase.required) == ("A", ("metrics.json", "config.yaml", "seed.txt"))
    assert [(g.id, g.severity) for g in phase.gates] == [
        ("val_loss_max", "blocking"),
        ("val_loss_vs_best", "advisory"),
    ]


def bundle(tmp_path: Path, name: str, val_loss: float) -> Path:
    folder = shutil.copytree(EXAMPLES / "phase_a_green", tmp_path / name)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["final"]["val_loss"] = val_loss
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_the_minimal_programs_gates_do_what_their_comments_say(fresh: Path, tmp_path: Path, capsys) -> None:
    """Under the threshold: GREEN; worse than the best GREEN run: AMBER (advisory); over it: RED."""
    assert run(capsys, "init", fresh).rc == 0
    git(fresh, "add", "-A")
    git(fresh, "commit", "-q", "-m", "gerhard init")
    runs = [("r1_first", 2.41, "GREEN"), ("r2_worse", 2.45, "AMBER"), ("r3_over", 2.6, "RED")]
    for run_id, val_loss, verdict in runs:
        source = bundle(tmp_path, run_id, val_loss)
        done = run(capsys, "register", "--repo", fresh, "--run-id", run_id, "--phase", "A", "--source-dir", source)
        assert done.rc == 0, done.err
        record = load_yaml(fresh / "state" / "runs" / f"{run_id}.yaml")
        assert record["verdict"] == verdict, record["gates"]
    assert run(capsys, "check", "--repo", fresh).rc == 0


def test_init_example_writes_the_spiking_program(fresh: Path, capsys) -> None:
    result = run(capsys, "init", "--example", fresh)
    assert (result.rc, result.err) == (0, "")
    assert "  created state/program.yaml" in result.out
    assert (fresh / "state" / "program.yaml").read_bytes() == (ROOT / "state" / "program.yaml").read_bytes()
    assert [p.id for p in load_program(fresh).phases] == ["A", "B", "C"]


def test_init_example_keeps_a_program_that_is_there(fresh: Path, capsys) -> None:
    assert run(capsys, "init", fresh).rc == 0
    again = run(capsys, "init", "--example", fresh)
    assert again.out == f"{fresh} already has the gerhard registry layout; nothing to do\n"
    assert (fresh / "state" / "program.yaml").read_text() == MINIMAL_PROGRAM
