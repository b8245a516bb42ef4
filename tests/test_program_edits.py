"""End-to-end: a committed edit of state/program.yaml after runs are registered.

Phases added, removed (with runs), put back, reordered, retitled; gates loosened, added, their
baseline direction flipped; required artifacts changed. After each edit `status` shows the
committed program, the next registration judges by it, and `rebuild --check` passes right after it
(folding equals rebuilding). `rebuild --commit` brings the derived files up to date in one commit.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, git_out, load_yaml, register, register_ok, run
from conftest import git, snapshot

RUN_A = "20261101T100000Z_dense"
RUN_B = "20261101T120000Z_v15"
RUN_NEXT = "20261102T100000Z_next"
STALE = (
    "state/program.yaml changed since these files were derived: 'gerhard rebuild --commit' brings them up "
    "to date (the next registration does too)"
)


@pytest.fixture
def registered(registered_ab: Path, bundle_a: Path, bundle_b_red: Path) -> Path:
    """A GREEN phase-A run, then a RED phase-B run (RUN_A from bundle_a, RUN_B from
    bundle_b_red, as register_ok registers them): conftest's registered_ab, a copy of the session's."""
    return registered_ab


def report_of(repo: Path, run_id: str) -> str:
    """A run's report is filed by the month it was registered (its record says when), not by its run id."""
    registered_at = load_yaml(repo / "state" / "runs" / f"{run_id}.yaml")["registered_at"]
    return f"reports/{registered_at[:4]}/{registered_at[5:7]}/{run_id}.md"


def commit_program(repo: Path, edit: Callable[[str], str], message: str = "edit the program") -> None:
    path = repo / "state" / "program.yaml"
    text = path.read_text()
    assert edit(text) != text, "the edit changed nothing"
    path.write_text(edit(text))
    git(repo, "commit", "-q", "-am", message)


def phase_block(text: str, phase: str) -> str:
    """The lines of one phase in program.yaml, up to the next phase."""
    match = re.search(rf"^  - id: {phase}\n.*?(?=^  - id: |\Z)", text, re.S | re.M)
    assert match, phase
    return match.group(0)


def without_phase(phase: str) -> Callable[[str], str]:
    return lambda text: text.replace(phase_block(text, phase), "")


def new_phase(phase: str, title: str) -> str:
    return f"  - id: {phase}\n    title: {title}\n    required: [metrics.json]\n    gates: []\n\n"


def status_lines(capsys: pytest.CaptureFixture[str], repo: Path) -> list[str]:
    result = run(capsys, "status", "--repo", repo)
    assert result.rc == 0, result.err
    return [line for line in result.out.splitlines() if not line.startswith("latest: ")]


def assert_rebuild_clean(capsys: pytest.CaptureFixture[str], repo: Path) -> None:
    check = run(capsys, "rebuild", "--check", "--repo", repo)
    assert (check.rc, check.out) == (0, ""), check
    assert git_out(repo, "status", "--porcelain") == ""


def assert_rebuild_stale(capsys: pytest.CaptureFixture[str], repo: Path, *differ: str) -> None:
    check = run(capsys, "rebuild", "--check", "--repo", repo)
    assert check.rc == 1
    assert check.out == "".join(f"differs from rebuild: {rel}\n" for rel in differ)
    assert check.err.splitlines()[-1] == STALE


A_LINE = f"  A    passed      1 run   latest {RUN_A} GREEN, passed by {RUN_A}"
B_LINE = f"  B    blocked     1 run   latest {RUN_B} RED"
NEEDS_B = (
    f"needs input: state/needs_input/{RUN_B}.yaml "
    "(failed: val_loss_max, eval_pass_rate_min, spike_rate_band, energy_ratio_advisory)"
)


# --- phases added ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "phases", "current"),
    [
        ("before", ["Z", "A", "B", "C"], "Z"),
        ("between", ["A", "Z", "B", "C"], "Z"),
        ("after", ["A", "B", "C", "Z"], "B"),
    ],
)
def test_added_phase_shows_in_status_and_registers(
    registered: Path, bundle_a: Path, capsys, where: str, phases: list[str], current: str
) -> None:
    def add(text: str) -> str:
        if where == "after":
            return text.rstrip("\n") + "\n\n" + new_phase("Z", "Added")
        before = "A" if where == "before" else "B"
        return text.replace(f"  - id: {before}\n", new_phase("Z", "Added") + f"  - id: {before}\n", 1)

    commit_program(registered, add)
    lines = status_lines(capsys, registered)
    state_of = {"Z": "active" if current == "Z" else "pending", "C": "pending"}
    expected = {"A": A_LINE, "B": B_LINE} | {p: f"  {p:<4} {state_of[p]:<8}    0 runs  no runs" for p in "ZC"}
    assert lines == [
        f"asnn-goose-v15: phase {current} ({'active' if current == 'Z' else 'blocked'}), 2 runs registered",
        *[expected[p] for p in phases],
        NEEDS_B,
    ]
    listed = run(capsys, "list", "--phase", "Z", "--repo", registered)
    assert (listed.rc, listed.out) == (0, "no runs match\n")

    assert (
        register(capsys, registered, RUN_NEXT, "Z", bundle_a, "--force", "--allow-duplicate").rc == 0
    )  # a future phase

    assert load_yaml(registered / "state" / "program_status.yaml")["phases"]["Z"]["passed_by"] == RUN_NEXT
    assert_rebuild_clean(capsys, registered)


def test_board_lists_an_added_phase_after_the_next_registration(registered: Path, bundle_b_green: Path, capsys):
    commit_program(registered, lambda t: t.rstrip("\n") + "\n\n" + new_phase("D", "Deployment"))
    assert_rebuild_stale(capsys, registered, "docs/ops/STATUS_BOARD.md", "state/program_status.yaml")
    register_ok(capsys, registered, RUN_NEXT, "B", bundle_b_green)
    board = (registered / "docs" / "ops" / "STATUS_BOARD.md").read_text()
    assert "| D | Deployment | pending | 0 | — | — | — |\n" in board
    assert_rebuild_clean(capsys, registered)


# --- phases removed ---------------------------------------------------------------------------


def test_removed_phase_with_runs_stays_counted_and_rebuild_works(
    registered: Path, bundle_b_green: Path, capsys
) -> None:
    commit_program(registered, without_phase("B"), "drop phase B")
    assert status_lines(capsys, registered) == [
        "asnn-goose-v15: phase C (active), 2 runs registered",
        A_LINE,
        "  C    active      0 runs  no runs",
        f"  B    removed     1 run   latest {RUN_B} RED (no longer in state/program.yaml)",
    ]  # and no open needs-input: a phase that is gone needs no decision
    listed = json.loads(run(capsys, "list", "--phase", "B", "--json", "--repo", registered).out)
    assert [r["run_id"] for r in listed] == [RUN_B]
    report_b = report_of(registered, RUN_B)
    assert_rebuild_stale(
        capsys,
        registered,
        "docs/ops/STATUS_BOARD.md",
        report_b,
        "reports/index.md",
        "state/program_status.yaml",
    )

    register_ok(capsys, registered, RUN_NEXT, "C", bundle_b_green)

    assert_rebuild_clean(capsys, registered)
    status = load_yaml(registered / "state" / "program_status.yaml")
    assert list(status["phases"]) == ["A", "C"]
    assert status["removed_phases"]["B"]["runs"] == 1
    assert status["removed_phases"]["B"]["state"] == "removed"
    assert status["open_needs_input"] == [{"run_id": RUN_NEXT, "phase": "C", "failed_gates": ["val_loss_max"]}]
    assert "| Phase | B (no longer in the program) |" in (registered / report_b).read_text()
    board = (registered / "docs" / "ops" / "STATUS_BOARD.md").read_text()
    assert "| B |" not in board and "Phase B" not in board


def test_removed_phase_put_back_has_its_runs_again(
    registered: Path, bundle_b_green: Path, tmp_path: Path, capsys
) -> None:
    original = (registered / "state" / "program.yaml").read_text()
    commit_program(registered, without_phase("A"), "drop phase A")
    register_ok(capsys, registered, RUN_NEXT, "B", bundle_b_green)
    assert_rebuild_clean(capsys, registered)

    commit_program(registered, lambda text: original, "put phase A back")
    assert status_lines(capsys, registered) == [
        "asnn-goose-v15: phase C (active), 3 runs registered",
        A_LINE,
        f"  B    passed      2 runs  latest {RUN_NEXT} GREEN, passed by {RUN_NEXT}",
        "  C    active      0 runs  no runs",
    ]
    register_ok(capsys, registered, "20261103T100000Z_c", "C", bundle_b_green)
    assert_rebuild_clean(capsys, registered)
    assert "removed_phases" not in load_yaml(registered / "state" / "program_status.yaml")


def test_removing_the_only_phase_with_runs_keeps_the_program_usable(registered: Path, bundle_b_green, capsys):
    commit_program(registered, lambda t: without_phase("B")(without_phase("A")(t)), "drop A and B")
    lines = status_lines(capsys, registered)
    assert lines[:2] == ["asnn-goose-v15: phase C (active), 2 runs registered", "  C    active      0 runs  no runs"]
    assert lines[2:] == [
        f"  A    removed     1 run   latest {RUN_A} GREEN, passed by {RUN_A} (no longer in state/program.yaml)",
        f"  B    removed     1 run   latest {RUN_B} RED (no longer in state/program.yaml)",
    ]
    assert run(capsys, "rebuild", "--repo", registered).rc == 0
    assert run(capsys, "rebuild", "--check", "--repo", registered).rc == 0


# --- phases reordered and retitled ------------------------------------------------------------


def test_reordered_phases_show_in_the_new_order(registered: Path, bundle_b_green: Path, capsys) -> None:
    def move_a_last(text: str) -> str:
        block = phase_block(text, "A")
        return text.replace(block, "").rstrip("\n") + "\n\n" + block

    commit_program(registered, move_a_last)
    assert status_lines(capsys, registered) == [
        "asnn-goose-v15: phase B (blocked), 2 runs registered",
        B_LINE,
        "  C    pending     0 runs  no runs",
        A_LINE,
        NEEDS_B,
    ]
    register_ok(capsys, registered, RUN_NEXT, "B", bundle_b_green)
    assert_rebuild_clean(capsys, registered)


def test_retitled_phase_and_renamed_program_reach_every_report(registered: Path, bundle_b_green: Path, capsys):
    commit_program(
        registered,
        lambda t: t.replace("Dense baseline reproduction", "Dense | baseline v2").replace(
            "program: asnn-goose-v15", "program: goose-v16"
        ),
    )
    assert status_lines(capsys, registered)[0] == "goose-v16: phase B (blocked), 2 runs registered"

    register_ok(capsys, registered, RUN_NEXT, "B", bundle_b_green)

    assert_rebuild_clean(capsys, registered)  # the earlier run's report was rewritten too
    report_a = (registered / report_of(registered, RUN_A)).read_text()
    assert "| Phase | A (Dense \\| baseline v2) |" in report_a
    changed = git_out(registered, "show", "--name-only", "--format=", "HEAD").split()
    assert report_of(registered, RUN_A) in changed


# --- gates changed ----------------------------------------------------------------------------


def test_loosened_gates_judge_the_next_run_not_the_past(registered: Path, bundle_b_red: Path, tmp_path, capsys):
    def loosen(text: str) -> str:
        block = phase_block(text, "B")
        loose = block.replace("value: 2.9\n", "value: 9.9\n").replace("value: 0.8\n", "value: 0.1\n")
        return text.replace(block, loose.replace("range: [0.05, 0.25]", "range: [0.0, 1.0]"))

    commit_program(registered, loosen)
    assert status_lines(capsys, registered)[2] == B_LINE  # a run keeps the verdict it was given
    assert_rebuild_clean(capsys, registered)  # thresholds judge new runs only: nothing derived changes
    again = shutil.copytree(bundle_b_red, tmp_path / "again")

    result = register_ok(capsys, registered, RUN_NEXT, "B", again)

    assert result.out.splitlines()[0] == f"run {RUN_NEXT} (phase B): AMBER, 5/6 gates passed"
    assert (
        status_lines(capsys, registered)[2]
        == f"  B    passed      2 runs  latest {RUN_NEXT} AMBER, passed by {RUN_NEXT}"
    )
    assert_rebuild_clean(capsys, registered)


def test_added_gate_judges_the_next_run(registered: Path, bundle_b_green: Path, capsys) -> None:
    gate = (
        "      - id: train_loss_max\n        artifact: metrics.json\n        path: final.train_loss\n"
        '        op: "<="\n        value: 2.0\n'
    )
    commit_program(
        registered, lambda t: t.replace(phase_block(t, "B"), phase_block(t, "B").rstrip("\n") + "\n" + gate + "\n")
    )

    result = register(capsys, registered, RUN_NEXT, "B", bundle_b_green)

    assert result.rc == 0
    assert result.out.splitlines()[0] == f"run {RUN_NEXT} (phase B): RED, 6/7 gates passed"
    assert "  failed gates: train_loss_max" in result.out.splitlines()
    assert_rebuild_clean(capsys, registered)


def test_flipped_baseline_direction_is_followed(registered: Path, bundle_b_green: Path, tmp_path, capsys) -> None:
    better = shutil.copytree(bundle_b_green, tmp_path / "better")
    metrics = better / "metrics.json"
    metrics.write_text(metrics.read_text().replace('"val_loss": 2.72,', '"val_loss": 2.6,', 1))
    register_ok(capsys, registered, "20261101T130000Z_b1", "B", bundle_b_green)
    register_ok(capsys, registered, "20261101T140000Z_b2", "B", better)
    best = load_yaml(registered / "state" / "program_status.yaml")["phases"]["B"]["baselines"]
    assert best["val_loss_vs_best_green"]["best"] == {"run_id": "20261101T140000Z_b2", "value": 2.6}

    commit_program(registered, lambda t: t.replace("better: lower", "better: higher"))
    register_ok(capsys, registered, RUN_NEXT, "C", bundle_b_green)

    best = load_yaml(registered / "state" / "program_status.yaml")["phases"]["B"]["baselines"]
    assert best["val_loss_vs_best_green"]["best"] == {"run_id": "20261101T130000Z_b1", "value": 2.72}
    assert_rebuild_clean(capsys, registered)


def test_required_artifact_added_refuses_a_bundle_without_it(registered: Path, bundle_b_green: Path, capsys):
    commit_program(
        registered,
        lambda t: t.replace("seed.txt, v15_spikingbrain.json]", "seed.txt, v15_spikingbrain.json, notes.txt]"),
    )
    before = snapshot(registered)
    result = register(capsys, registered, RUN_NEXT, "B", bundle_b_green)
    assert_one_line_error(result)
    assert result.err == (
        f"gerhard register: error: bundle {bundle_b_green} is missing notes.txt (required by phase B in "
        "state/program.yaml): export them from the notebook into the folder, or check --phase\n"
    )
    assert snapshot(registered) == before
    (bundle_b_green / "notes.txt").write_text("a note\n")
    register_ok(capsys, registered, RUN_NEXT, "B", bundle_b_green)
    assert_rebuild_clean(capsys, registered)


# --- rebuild after an edit --------------------------------------------------------------------


def test_rebuild_commit_brings_derived_files_up_to_date(registered: Path, bundle_b_green: Path, capsys) -> None:
    commit_program(registered, lambda t: t.replace("Dense baseline reproduction", "Dense baseline, again"))
    head = git_out(registered, "rev-parse", "HEAD")
    (registered / "notes.txt").write_text("my own work\n")

    result = run(capsys, "rebuild", "--commit", "--repo", registered)

    report_a = report_of(registered, RUN_A)
    stale = ["docs/ops/STATUS_BOARD.md", report_a, "state/program_status.yaml"]
    assert result.rc == 0, result.err
    assert result.out == "".join(f"committed {rel}\n" for rel in stale)
    sha = git_out(registered, "rev-parse", "HEAD").strip()
    assert result.err == f"9 derived files rebuilt, 3 committed in {sha[:12]}\n"
    assert git_out(registered, "rev-parse", "HEAD~1") == head
    assert git_out(registered, "log", "-1", "--format=%B") == (
        "rebuild 3 derived files from state/program.yaml, state/runs/ and state/decisions/\n\n"
        + "".join(f"- {r}\n" for r in stale)
        + "\nGerhard-Rebuild: 2 runs\n\n"
    )
    assert git_out(registered, "status", "--porcelain") == "?? notes.txt\n"
    (registered / "notes.txt").unlink()
    assert_rebuild_clean(capsys, registered)

    again = run(capsys, "rebuild", "--commit", "--repo", registered)
    assert (again.rc, again.out) == (0, "")
    assert again.err == "9 derived files rebuilt, all as committed: nothing to commit\n"
    register_ok(capsys, registered, RUN_NEXT, "B", bundle_b_green)
    assert_rebuild_clean(capsys, registered)


def test_rebuild_without_commit_then_commit_unblocks_registration(
    registered: Path, bundle_b_green: Path, capsys
) -> None:
    commit_program(registered, lambda t: t.replace("Dense baseline reproduction", "Dense baseline, again"))
    rewritten = run(capsys, "rebuild", "--repo", registered)
    assert rewritten.err == (
        "9 derived files rebuilt, 3 changed; review with 'git diff' and commit them "
        "(or run 'gerhard rebuild --commit')\n"
    )
    assert run(capsys, "rebuild", "--commit", "--repo", registered).rc == 0
    assert git_out(registered, "status", "--porcelain") == ""
    register_ok(capsys, registered, RUN_NEXT, "B", bundle_b_green)
    assert_rebuild_clean(capsys, registered)


def test_rebuild_commit_refuses_an_uncommitted_program(registered: Path, capsys) -> None:
    program = registered / "state" / "program.yaml"
    program.write_text(program.read_text().replace("Dense baseline reproduction", "Not yet committed"))
    before = snapshot(registered)
    result = run(capsys, "rebuild", "--commit", "--repo", registered)
    assert_one_line_error(result)
    assert result.err == (
        "gerhard rebuild: error: state/program.yaml has changes that are not committed: commit it first, "
        "so runs are judged by the gates everyone sees\n"
    )
    assert snapshot(registered) == before


def test_rebuild_check_and_commit_are_exclusive(registered: Path, capsys) -> None:
    result = run(capsys, "rebuild", "--check", "--commit", "--repo", registered)
    assert_one_line_error(result)
    assert result.err == (
        "gerhard rebuild: error: argument --commit: not allowed with argument --check (see 'gerhard rebuild --help')\n"
    )


def test_rebuild_check_without_program_edit_has_no_hint(registered: Path, capsys) -> None:
    (registered / "reports" / "index.md").write_text("typed over\n")
    check = run(capsys, "rebuild", "--check", "--repo", registered)
    assert (check.rc, check.out) == (1, "differs from rebuild: reports/index.md\n")
    assert check.err == "9 derived files checked, 1 differ\n"


def test_a_run_for_a_removed_phase_is_refused(registered: Path, bundle_b_green: Path, capsys) -> None:
    commit_program(registered, without_phase("B"), "drop phase B")
    before = snapshot(registered)
    result = register(capsys, registered, RUN_NEXT, "B", bundle_b_green)
    assert_one_line_error(result)
    assert result.err == "gerhard register: error: unknown phase 'B': state/program.yaml declares A, C\n"
    assert snapshot(registered) == before


def test_status_written_before_the_digest_is_brought_up_to_date(registered: Path, bundle_b_green, capsys):
    """A registry from a gerhard that kept no program_digest: rebuild says so; the next run refolds."""
    path = registered / "state" / "program_status.yaml"
    path.write_text("".join(line for line in path.read_text().splitlines(True) if "program_digest" not in line))
    git(registered, "commit", "-q", "-am", "as an older gerhard wrote it")
    check = run(capsys, "rebuild", "--check", "--repo", registered)
    assert (check.rc, check.out) == (1, "differs from rebuild: state/program_status.yaml\n")
    assert check.err.splitlines()[-1] == (
        "state/program_status.yaml was written by an older gerhard: 'gerhard rebuild --commit' brings them up "
        "to date (the next registration does too)"
    )
    register_ok(capsys, registered, RUN_NEXT, "B", bundle_b_green)
    assert_rebuild_clean(capsys, registered)


def test_next_run_is_judged_by_baselines_of_the_edited_gate(
    registered: Path, bundle_b_green: Path, tmp_path: Path, capsys
) -> None:
    def with_val_loss(name: str, value: str) -> Path:
        bundle = shutil.copytree(bundle_b_green, tmp_path / name)
        metrics = bundle / "metrics.json"
        metrics.write_text(metrics.read_text().replace('"val_loss": 2.72,', f'"val_loss": {value},', 1))
        return bundle

    register_ok(capsys, registered, "20261101T130000Z_b1", "B", bundle_b_green)  # 2.72
    register_ok(capsys, registered, "20261101T140000Z_b2", "B", with_val_loss("lower", "2.6"))
    commit_program(registered, lambda t: t.replace("better: lower", "better: higher"))

    result = register(capsys, registered, RUN_NEXT, "B", with_val_loss("next", "2.65"))

    # Higher is better now: the best GREEN run is the 2.72 one, and 2.65 is 0.07 below it.
    assert result.out.splitlines()[0] == f"run {RUN_NEXT} (phase B): RED, 5/6 gates passed"
    assert_rebuild_clean(capsys, registered)
