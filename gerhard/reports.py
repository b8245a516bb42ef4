"""Markdown reports (per run, per month, index) and the status board, rendered with jinja2 (pure)."""

from __future__ import annotations

import functools
import math
from typing import Any

from gerhard.program import Program

INDEX_RECENT = 50
_VERDICT_WORDS = {
    "GREEN": "GREEN: all gates passed",
    "AMBER": "AMBER: advisory gates failed, blocking gates passed",
    "RED": "RED: blocking gates failed — needs input (rerun, waive or stop)",
}


def cell(value: Any) -> str:
    """Text safe inside one markdown table cell: one line, pipes escaped."""
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def para(value: Any) -> str:
    return str(value).strip().replace("<", "&lt;").replace(">", "&gt;")


def num(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, float):
        return str(value) if not math.isfinite(value) else f"{value:.6g}"
    return str(value)


@functools.lru_cache(maxsize=1)
def _env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gerhard", "templates"),
        autoescape=False,  # markdown; run text goes through the cell/para filters
        keep_trailing_newline=True,
        trim_blocks=False,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(cell=cell, para=para, num=num)
    return env


def render(template: str, **context: Any) -> str:
    # Exactly one trailing newline, as end-of-file fixers expect.
    return str(_env().get_template(template).render(**context)).rstrip("\n") + "\n"


def run_report_path(record: dict[str, Any]) -> str:
    return f"reports/{record['registered_at'][:4]}/{record['registered_at'][5:7]}/{record['run_id']}.md"


def month_page_path(month: str) -> str:
    return f"reports/{month[:4]}/{month[5:7]}/index.md"


def render_run_report(record: dict[str, Any], phase_title: str, dossier: str | None = None) -> str:
    passed = sum(g["passed"] for g in record["gates"])
    return render(
        "run_report.md.j2",
        r=record,
        phase_title=phase_title,
        dossier=dossier,
        up="../../../",
        passed=passed,
        total=len(record["gates"]),
        verdict_line=_VERDICT_WORDS[record["verdict"]],
    )


def ledger_row(record: dict[str, Any]) -> dict[str, Any]:
    """The one-line summary of a run kept in state/ledger/ and shown in index pages."""
    return {
        "seq": record["seq"],
        "run_id": record["run_id"],
        "phase": record["phase"],
        "verdict": record["verdict"],
        "passed": sum(g["passed"] for g in record["gates"]),
        "total": len(record["gates"]),
        "registered_at": record["registered_at"],
        "month": record["registered_at"][:7],
        "summary": " ".join(str(record.get("summary", "")).split())[:200],
    }


def month_header(month: str) -> str:
    return render("month.md.j2", month=month)


def month_row(row: dict[str, Any]) -> str:
    return (
        f"| {row['seq']} | {row['registered_at']} | [`{row['run_id']}`]({row['run_id']}.md) | {row['phase']} "
        f"| {row['verdict']} | {row['passed']}/{row['total']} | {cell(row['summary'])} |\n"
    )


def render_index(status: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    latest = None
    if rows:
        top = rows[0]
        latest = dict(
            top,
            verdict_word=_VERDICT_WORDS[top["verdict"]],
            link=f"{top['month'].replace('-', '/')}/{top['run_id']}.md",
        )
    return render("index.md.j2", s=status, rows=rows, latest=latest)


def render_board(program: Program, status: dict[str, Any], gate_results: dict[str, Any]) -> str:
    phases = [dict(status["phases"][p.id], id=p.id, title=p.title) for p in program.phases]
    return render("status_board.md.j2", s=status, phases=phases, gate_results=gate_results.get("phases", {}))
