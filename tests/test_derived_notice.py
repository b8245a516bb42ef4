"""Every derived file says on its first line that gerhard writes it from state/, that `gerhard rebuild`
recomputes it and what happens to hand edits; and the YAML state files keep that promise."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import git_out, load_yaml, register_ok, run
from conftest import git

from gerhard import layout
from gerhard.core import reports
from gerhard.core.derive import rebuild_files
from gerhard.core.program import program_from_dict
from gerhard.core.records import RunRecord

RUN_A = "20260223T180000Z_dense"
RUN_B = "20260223T190000Z_v15"
MARKDOWN_NOTE = "<!-- Written by gerhard from state/ (`gerhard rebuild` recomputes it): hand edits are overwritten -->"
YAML_NOTE = (
    "# Written by gerhard from state/ (`gerhard rebuild` recomputes it): edits to values are overwritten; "
    "comments and extra keys you add are kept."
)


def first_lines(files: dict[str, str]) -> dict[str, str]:
    return {rel: text.splitlines()[0] for rel, text in files.items() if not rel.startswith(layout.LEDGER_DIR)}


def expected_first_line(rel: str, run_id: str) -> str:
    if rel.startswith(layout.NEEDS_DIR):
        return (
            f"# Run {run_id} is RED: a human decision is needed (rerun, waive or stop); this file is written by "
            "gerhard from state/ (`gerhard rebuild` recomputes it): hand edits are overwritten."
        )
    return MARKDOWN_NOTE if rel.endswith(".md") else YAML_NOTE


def test_notes_are_the_constants() -> None:
    assert reports.DERIVED_NOTE == MARKDOWN_NOTE + "\n"
    assert layout.DERIVED_HEADER == YAML_NOTE + "\n"


def test_every_rebuilt_file_starts_with_the_note() -> None:
    program = program_from_dict({"program": "p", "phases": [{"id": "A", "required": []}]})
    gate = {"id": "g", "severity": "blocking", "observed": 1, "threshold": "<= 0", "passed": False, "reason": ""}
    record = {
        "run_id": RUN_B,
        "seq": 1,
        "phase": "A",
        "verdict": "RED",
        "forced": False,
        "gates": [gate],
        "metrics": {},
        "config_sha256": None,
        "seed": None,
        "code_sha": None,
        "code_dirty": None,
        "code_sha_source": "none",
        "registered_at": "2026-02-23T19:05:00Z",
        "summary": "",
        "next_action": "",
        "bundle_sha256": "cd" * 32,
        "artifact_root": f"outputs/{RUN_B}",
    }
    lines = first_lines(rebuild_files(program, [RunRecord.from_dict(record)], lambda rel: None))
    assert sorted(lines) == sorted(
        [
            layout.STATUS,
            layout.GATE_RESULTS,
            layout.INDEX,
            layout.BOARD,
            f"reports/2026/02/{RUN_B}.md",
            "reports/2026/02/index.md",
            layout.needs_input_path(RUN_B),
        ]
    )
    assert lines == {rel: expected_first_line(rel, RUN_B) for rel in lines}


def test_every_committed_derived_file_starts_with_the_note(
    registry: Path, bundle_a: Path, bundle_b_red: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for run_id, phase, bundle in ((RUN_A, "A", bundle_a), (RUN_B, "B", bundle_b_red)):
        register_ok(capsys, registry, run_id, phase, bundle)
    registered = registry
    committed = [p for p in git_out(registered, "ls-files", "state", "reports", "docs").split() if ".gitkeep" not in p]
    derived = [
        rel
        for rel in committed
        if rel.endswith(".md") or rel in (layout.STATUS, layout.GATE_RESULTS) or rel.startswith(layout.NEEDS_DIR)
    ]
    assert len(derived) == 8  # status, gate results, index, board, month page, two reports, needs-input
    for rel in derived:
        first = (registered / rel).read_text().splitlines()[0]
        assert first == expected_first_line(rel, RUN_B), rel


def test_state_yaml_keeps_comments_and_keys_but_not_edited_values(
    registry: Path, bundle_a: Path, bundle_b_red: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    path = registry / layout.STATUS
    text = path.read_text()
    edited = text.replace("run_count: 1\n", "run_count: 99  # counted by hand\nreviewer: ada\n")
    assert edited != text
    path.write_text(edited)
    git(registry, "commit", "-q", "-am", "a human's note")
    register_ok(capsys, registry, RUN_B, "B", bundle_b_red)
    assert run(capsys, "rebuild", "--repo", registry).rc == 0
    after = path.read_text()
    assert after.startswith(YAML_NOTE + "\n")
    assert "# counted by hand" in after and load_yaml(path)["reviewer"] == "ada"
    assert load_yaml(path)["run_count"] == 2
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0
