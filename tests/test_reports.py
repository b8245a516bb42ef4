"""reports.py: markdown escaping, the run report, the month pages, the index and the status board."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from gerhard.core import reports
from gerhard.core.gates import Baseline, Gate, evaluate_gates
from gerhard.core.phases import fold_run, initial_status
from gerhard.core.program import program_from_dict
from gerhard.core.records import RunRecord

PROGRAM = program_from_dict(
    {
        "program": "asnn | goose",
        "phases": [
            {"id": "A", "title": "Dense baseline", "required": []},
            {"id": "B", "title": "Spiking | <conversion>", "required": []},
            {"id": "C", "required": []},
        ],
    }
)
GATES = [
    Gate.from_dict(
        {"id": "val_loss_max", "artifact": "metrics.json", "path": "final.val_loss", "op": "<=", "value": 2.9}
    ),
    Gate.from_dict({"id": "spikes", "artifact": "v15.json", "path": "layers.0.spike_rate", "range": [0.05, 0.25]}),
    Gate.from_dict(
        {"id": "energy", "artifact": "v15.json", "path": "energy", "op": "<=", "value": 0.5, "severity": "advisory"}
    ),
    Gate.from_dict(
        {
            "id": "vs_best",
            "artifact": "metrics.json",
            "path": "final.val_loss",
            "baseline": "best_green",
            "better": "lower",
        }
    ),
    Gate.from_dict({"id": "mode", "artifact": "config.yaml", "path": "mode", "op": "==", "value": "a|b"}),
]
ARTIFACTS = {
    "metrics.json": {"final": {"val_loss": 3.05}},
    "v15.json": {"layers": [{"spike_rate": math.nan}], "energy": 0.62},
    "config.yaml": {"mode": "a|b"},
}
RUN_ID = "20260223T190000Z_v15"


def record(**overrides: Any) -> RunRecord:
    report = evaluate_gates(GATES, ARTIFACTS, {"vs_best": Baseline("20260201T000000Z_best", 2.8)})
    rec = {
        "run_id": RUN_ID,
        "seq": 7,
        "phase": "B",
        "verdict": report.verdict,
        "forced": False,
        "gates": [r.as_dict() for r in report.results],
        "metrics": {
            "val_loss": 3.05,
            "train_loss": 3.0035,
            "val_ppl": math.inf,
            "spikes|total": None,
            "tiny": 5.96e-08,
        },
        "config_sha256": "ab" * 32,
        "config": {"lr": 3e-4},
        "seed": 4321,
        "code_sha": "3f9c2a1d8e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a",
        "code_dirty": False,
        "code_sha_source": "provenance.json",
        "artifact_root": f"outputs/{RUN_ID}",
        "bundle_sha256": "cd" * 32,
        "registered_at": "2026-02-23T19:05:00Z",
        "summary": "Loss went up | spikes died.\nSee <script>alert(1)</script> & notes",
        "next_action": "Rerun with lr 1e-4 <b>today</b>",
    }
    rec.update(overrides)
    return RunRecord.from_dict(rec)


def unescaped_pipes(line: str) -> int:
    """Pipes that split a markdown table row (not preceded by an odd number of backslashes)."""
    return sum(1 for m in re.finditer(r"(\\*)\|", line) if len(m.group(1)) % 2 == 0)


def assert_tables_intact(text: str) -> None:
    """Every row of every table has as many cells as its header: no text broke out of a cell."""
    width = None
    for line in text.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        if width is None:
            width = unescaped_pipes(line)
        assert unescaped_pipes(line) == width, line


# --- escaping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("a|b", "a\\|b"),
        ("line one\nline two\r\n\tthree", "line one line two three"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("back\\slash|pipe", "back\\\\slash\\|pipe"),
        ("\\|", "\\\\\\|"),
        ("  padded  ", "padded"),
        ("", ""),
        (None, "None"),
        (2.5, "2.5"),
        (["x", "y|z"], "\\['x', 'y\\|z']"),
        ("**x** [l](https://e.io) _y_", "\\*\\*x\\*\\* \\[l](https\\:\\//e\\.io) \\_y\\_"),
    ],
)
def test_cell(value: Any, text: str) -> None:
    assert reports.cell(value) == text
    assert "\n" not in reports.cell(value)


def test_cell_keeps_a_table_row_intact() -> None:
    cells = [reports.cell("evil | x"), reports.cell("a\\\\|b"), reports.cell("new\nline")]
    row = "| " + " | ".join(cells) + " |"
    assert unescaped_pipes(row) == 4


def test_para() -> None:
    assert (
        reports.para("  two\nlines <img src=x onerror=alert(1)>  ") == "two\nlines &lt;img src=x onerror=alert(1)&gt;"
    )
    assert reports.para("# not a heading\n  | a | b |") == "\\# not a heading\n\\| a \\| b \\|"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "missing"),
        (math.nan, "nan"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (2.0, "2"),
        (1 / 3, "0.333333"),
        (5.96e-08, "5.96e-08"),
        (3, "3"),
        (True, "true"),
        (False, "false"),
        ("x", "x"),
    ],
)
def test_num(value: Any, text: str) -> None:
    assert reports.num(value) == text


# --- the run report ------------------------------------------------------------------------


def test_run_report_path() -> None:
    assert reports.run_report_path(record()) == f"reports/2026/02/{RUN_ID}.md"
    assert reports.month_page_path("2026-02") == "reports/2026/02/index.md"


@pytest.fixture
def report() -> str:
    return reports.render_run_report(record(), "Spiking | <conversion>")


def test_run_report_heading_and_verdict(report: str) -> None:
    assert report.startswith(
        "<!-- Written by gerhard from state/ (`gerhard rebuild` recomputes it): hand edits are overwritten -->\n"
        f"# Run {RUN_ID} — phase B: RED\n\nRED: blocking gates failed — needs input (rerun, waive or stop)\n"
    )
    assert "| Verdict | **RED** (1/5 gates passed) |\n" in report
    assert "| Phase | B (Spiking \\| &lt;conversion&gt;) |\n" in report
    assert "| Registered | 2026-02-23T19:05:00Z |\n" in report


def test_run_report_gate_table(report: str) -> None:
    rows = report.split("## Gates\n\n")[1].split("\n\n")[0].splitlines()
    assert rows[:2] == ["| Gate | Severity | Observed | Threshold | Result |", "| --- | --- | --- | --- | --- |"]
    assert rows[2:] == [
        "| val_loss_max | blocking | 3.05 | &lt;= 2.9 | **FAIL** |",
        "| spikes | blocking | nan | in \\[0.05, 0.25] | **FAIL**: layers.0\\.spike_rate is nan, not a finite number |",
        "| energy | advisory | 0.62 | &lt;= 0.5 | WARN |",
        "| vs_best | blocking | 3.05 | &lt;= 2.8 (best_green 20260201T000000Z_best) | **FAIL** |",
        "| mode | blocking | a\\|b | == a\\|b | pass |",
    ]


def test_run_report_passing_gate_with_reason() -> None:
    gate = Gate.from_dict(
        {"id": "vs_best", "artifact": "m.json", "path": "v", "baseline": "best_green", "better": "lower"}
    )
    result = evaluate_gates([gate], {"m.json": {"v": 1.0}})
    text = reports.render_run_report(record(gates=[r.as_dict() for r in result.results], verdict="GREEN"), "")
    assert (
        "| vs_best | blocking | 1 | &lt;= best_green (none yet) | pass: "
        "no GREEN baseline run of this phase yet: nothing to compare with |\n"
    ) in text
    assert "GREEN: all gates passed" in text
    assert "| Phase | B |\n" in text  # no title, no parentheses


def test_run_report_metrics(report: str) -> None:
    metrics = report.split("## Metrics\n\n")[1]
    assert metrics.rstrip("\n").splitlines() == [
        "| Metric | Value |",
        "| --- | --- |",
        "| spikes\\|total | missing |",
        "| tiny | 5.96e-08 |",
        "| train_loss | 3.0035 |",
        "| val_loss | 3.05 |",
        "| val_ppl | inf |",
    ]


def test_run_report_without_metrics() -> None:
    text = reports.render_run_report(record(metrics={}), "t")
    assert text.rstrip("\n").endswith("## Metrics\n\n(no final metrics)")


def test_run_report_provenance(report: str) -> None:
    assert "| Code SHA | `3f9c2a1d8e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a` — from provenance.json |\n" in report
    assert f"| Config sha256 | `{'ab' * 32}` |\n" in report
    assert f"| Bundle sha256 | `{'cd' * 32}` |\n" in report
    assert "| Seed | 4321 |\n" in report


def test_run_report_dirty_unknown_and_forced() -> None:
    text = reports.render_run_report(
        record(code_sha="abc1234", code_dirty=True, code_sha_source="registry HEAD", forced=True, seed=0), "T"
    )
    assert "| Code SHA | `abc1234` (dirty) — from registry HEAD |\n" in text
    assert "| Phase | B (T) — registered with --force |\n" in text
    assert "| Seed | 0 |\n" in text  # 0 is a seed, not "none"
    text = reports.render_run_report(
        record(code_sha=None, code_dirty=None, code_sha_source="none", config_sha256=None, seed=None), "T"
    )
    assert "| Code SHA | `unknown` — from none |\n" in text
    assert "| Config sha256 | `none` |\n" in text
    assert "| Seed | none |\n" in text


def test_run_report_summary_and_next_action(report: str) -> None:
    assert (
        "## Summary\n\nLoss went up \\| spikes died.\nSee &lt;script&gt;alert(1)&lt;/script&gt; & notes\n\n"
        "**Next action:** Rerun with lr 1e-4 &lt;b&gt;today&lt;/b&gt;\n"
    ) in report
    assert "<script>" not in report and "<b>" not in report


def test_run_report_without_summary() -> None:
    text = reports.render_run_report(record(summary="", next_action=""), "T")
    assert "## Summary\n\n(none given)\n\n**Next action:** (none given)\n" in text


def test_run_report_links_to_artifacts_and_dossier(report: str) -> None:
    # reports/YYYY/MM/<run>.md → three levels up is the repository root
    assert f"| Artifacts | [`outputs/{RUN_ID}/`](../../../outputs/{RUN_ID}/) |\n" in report
    dossier = f"run_dossier_{RUN_ID}.html"
    text = reports.render_run_report(record(), "t", dossier)
    assert (
        f"| Artifacts | [`outputs/{RUN_ID}/`](../../../outputs/{RUN_ID}/) — "
        f"dossier: [{dossier}](../../../outputs/{RUN_ID}/{dossier}) |\n"
    ) in text


def test_run_report_tables_stay_intact(report: str) -> None:
    assert_tables_intact(report)
    evil = record(
        summary="a|b\n| --- |",
        metrics={"a|b\nc": "x|y", "<t>": 1},
        gates=[dict(record()["gates"][0], id="g|h", reason="r|s\nt", observed="o|p\nq", threshold="t|u")],
    )
    text = reports.render_run_report(evil, "x|y\nz")
    assert_tables_intact(text.split("## Summary")[0])
    assert_tables_intact(text.split("## Gates")[1])


# --- ledger rows, month pages, index -------------------------------------------------------


def test_ledger_row_and_month_row() -> None:
    row = reports.ledger_row(record(summary="  one\ntwo | three  " + "x" * 300))
    assert row["month"] == "2026-02"
    assert (row["seq"], row["passed"], row["total"], row["verdict"]) == (7, 1, 5, "RED")
    assert len(row["summary"]) == 200 and "\n" not in row["summary"]
    line = reports.month_row(row)
    assert line.startswith(
        f"| 7 | 2026-02-23T19:05:00Z | [`{RUN_ID}`]({RUN_ID}.md) | B | RED | 1/5 | one two \\| three xxx"
    )
    assert line.endswith(" |\n") and unescaped_pipes(line) == 8


def test_month_page_header() -> None:
    header = reports.month_header("2026-02")
    assert header.startswith(
        reports.DERIVED_NOTE + "# Runs registered in 2026-02\n\n[Back to the index](../../index.md)\n"
    )
    assert header.endswith(
        "| # | Registered | Run | Phase | Verdict | Gates | Summary |\n| --- | --- | --- | --- | --- | --- | --- |\n"
    )


def status_with(*records: dict[str, Any]) -> dict[str, Any]:
    status = initial_status(PROGRAM)
    for r in records:
        status = fold_run(status, PROGRAM, r)
    return status


def test_index_without_runs() -> None:
    text = reports.render_index(initial_status(PROGRAM), [])
    assert text.startswith(
        reports.DERIVED_NOTE + "# Run registry — asnn \\| goose\n\nCurrent phase: **A** · runs: 0 · latest: none yet\n"
    )
    assert "## Latest decision\n\nNo run registered yet.\n" in text
    assert "## Open needs-input\n\nNone.\n" in text
    assert "## Recent runs (latest 0 of 0)" in text


def test_index_latest_decision_needs_input_and_rows() -> None:
    red = record()
    green = record(
        run_id="20260301T080000Z_v16",
        seq=8,
        verdict="GREEN",
        gates=[dict(g, passed=True) for g in red["gates"]],
        registered_at="2026-03-01T08:00:00Z",
        summary="fixed | ok",
    )
    status = status_with(red, green)
    status_red = status_with(red)
    rows = [reports.ledger_row(green), reports.ledger_row(red)]
    text = reports.render_index(status, rows)
    assert (
        "## Latest decision\n\nGREEN: all gates passed — [`20260301T080000Z_v16`](2026/03/20260301T080000Z_v16.md) "
        "(phase B, 5/5 gates, 2026-03-01T08:00:00Z): fixed \\| ok\n"
    ) in text
    assert "| 2026-03-01T08:00:00Z | [`20260301T080000Z_v16`](2026/03/20260301T080000Z_v16.md) | B | GREEN |" in text
    assert f"| 2026-02-23T19:05:00Z | [`{RUN_ID}`](2026/02/{RUN_ID}.md) | B | RED | 1/5 |" in text
    assert "- [2026-03](2026/03/index.md) — 1 run\n- [2026-02](2026/02/index.md) — 1 run\n" in text
    assert "## Open needs-input\n\nNone.\n" in text  # the GREEN rerun answered it
    assert_tables_intact(text)

    text = reports.render_index(status_red, [reports.ledger_row(red)])
    assert (
        f"- [`{RUN_ID}`](../state/needs_input/{RUN_ID}.yaml) — phase B, failed: val_loss_max, spikes, energy, vs_best\n"
    ) in text
    assert "RED: blocking gates failed — needs input (rerun, waive or stop) — " in text


# --- the status board ----------------------------------------------------------------------


def test_status_board_lists_every_phase() -> None:
    red = record()
    status = status_with(record(run_id="a1", phase="A", verdict="GREEN", gates=[]), red)
    gate_results = {
        "phases": {"B": {"run_id": RUN_ID, "verdict": "RED", "passed": 1, "total": 5, "gates": red["gates"]}}
    }
    board = reports.render_board(PROGRAM, status, gate_results)
    assert board.startswith(
        reports.DERIVED_NOTE + "# Status board — asnn \\| goose\n\nCurrent phase: **B** · runs registered: 2 · latest: "
    )
    phase_rows = [line for line in board.splitlines() if re.match(r"^\| [ABC] \|", line)]
    assert phase_rows == [
        "| A | Dense baseline | passed | 1 | `a1` | GREEN | `a1` |",
        f"| B | Spiking \\| &lt;conversion&gt; | blocked | 1 | `{RUN_ID}` | RED | — |",
        "| C |  | pending | 0 | — | — | — |",
    ]
    assert f"### Phase B: RED (1/5) — `{RUN_ID}`" in board
    assert "| val_loss_max | 3.05 | &lt;= 2.9 | FAIL |" in board
    assert "| energy | 0.62 | &lt;= 0.5 | WARN |" in board
    assert "| mode | a\\|b | == a\\|b | pass |" in board
    assert (
        f"## Needs input\n\n- `{RUN_ID}` (phase B): val_loss_max, spikes, energy, vs_best — "
        f"see state/needs_input/{RUN_ID}.yaml\n" in board
    )
    assert_tables_intact(board)


def test_status_board_before_any_run() -> None:
    board = reports.render_board(PROGRAM, initial_status(PROGRAM), {"phases": {}})
    assert "Current phase: **A** · runs registered: 0\n" in board
    assert "| A | Dense baseline | active | 0 | — | — | — |" in board
    assert "| B | Spiking \\| &lt;conversion&gt; | pending | 0 | — | — | — |" in board
    assert "No gates evaluated yet." in board
    assert "## Needs input" not in board


def test_status_board_all_passed() -> None:
    status = status_with(*(record(run_id=f"r{p}", phase=p, verdict="GREEN", gates=[]) for p in "ABC"))
    board = reports.render_board(PROGRAM, status, {"phases": {}})
    assert "Current phase: **all phases passed**" in board
