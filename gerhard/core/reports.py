"""Markdown reports (per run, per month, index) and the status board, rendered with jinja2 (pure).

Text that comes from a run (summary, names, observed values) is inert in the markdown: `cell` and
`para` escape it so that it adds no block (heading, list, table, quote, fence, HTML), no link,
image or autolink (GFM's bare `https://`, `www.` and e-mail links included) and no emphasis.
Only gerhard's own templates make structure and links.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

from gerhard.core.gates import spelled
from gerhard.core.program import Program
from gerhard.core.records import Decision, RunRecord

INDEX_RECENT = 50
# The first line of every markdown file gerhard derives (invisible when rendered).
DERIVED_NOTE = "<!-- Written by gerhard from state/ (`gerhard rebuild` recomputes it): hand edits are overwritten -->\n"
_VERDICT_WORDS = {
    "GREEN": "GREEN: all gates passed",
    "AMBER": "AMBER: advisory gates failed, blocking gates passed",
    "RED": "RED: blocking gates failed — needs input (rerun, waive or stop)",
}


# What run text must not do inline, one alternative each (see `_inert`):
_INLINE = re.compile(
    r"[\\`*\[|~$]"  # escapes, code spans, emphasis, links and images, table cells, strikethrough, math
    r"|[<>]"  # raw HTML and <autolinks>: written as entities
    r"|&(?=[#A-Za-z0-9])"  # entity references
    r"|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"  # emphasis (an underscore inside a word, val_loss, is inert)
    r"|(?<=[A-Za-z]):(?=\S)|(?<=:)/"  # schemes: GFM's bare http://, mailto: autolinks
    r"|\.(?=[A-Za-z])"  # www. and domain autolinks
    r"|@(?=[A-Za-z0-9])"  # e-mail autolinks and @mentions
)
_EMAIL_TAIL = re.compile(r"[A-Za-z0-9_.-]*\.[A-Za-z0-9]")
_BLOCK_START = re.compile(r"^(?:[#+=-]|\d{1,9}(?=[.)](?:\s|$)))")  # headings, lists, setext underlines


def _inert(m: re.Match[str]) -> str:
    char = m.group()
    if char in "<>":
        return "&lt;" if char == "<" else "&gt;"
    if char != "@":
        return "\\" + char
    before = m.string[m.start() - 1 : m.start()]
    if before.isascii() and before.isalnum() and not _EMAIL_TAIL.match(m.string, m.end()):
        return char  # recall@10: neither an address nor a mention
    # GitHub links addresses after parsing, where escapes are gone: a code span keeps the '@' apart.
    return "`@`"


def inline(text: str) -> str:
    """Run text that renders as itself inside a line: no link, image, autolink, HTML, code or emphasis."""
    return _INLINE.sub(_inert, text)


def cell(value: Any) -> str:
    """Run text safe inside one markdown table cell (or any line): one line, inert, pipes escaped."""
    return inline(" ".join(str(value).split()))


def _unblocked(line: str) -> str:
    """An inert line that cannot open a block either ('# x', '- x', '1. x', '===' are text)."""
    start = _BLOCK_START.match(line)
    if start is None:
        return line
    if start.group().isdigit():
        return f"{line[: start.end()]}\\{line[start.end() :]}"
    return "\\" + line


def para(value: Any) -> str:
    """Run text as paragraphs of inert lines: no line can start a heading, list, quote, fence, table or
    code block (lines are unindented), and blank lines only separate paragraphs."""
    lines = [_unblocked(inline(line.strip())) for line in re.split(r"\r\n|\r|\n", str(value).strip())]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def code(value: Any) -> str:
    """Run text as one inline code span in a table cell: nothing inside it is markdown."""
    text = " ".join(str(value).split()).replace("|", "\\|")
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def num(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return spelled(value)
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
    env.filters.update(cell=cell, para=para, num=num, code=code, verdict=verdict_cell)
    return env


def render(template: str, **context: Any) -> str:
    """A derived markdown file: says who writes it, and ends in exactly one newline (as end-of-file fixers expect)."""
    return DERIVED_NOTE + str(_env().get_template(template).render(**context)).rstrip("\n") + "\n"


def run_report_path(record: RunRecord) -> str:
    return f"reports/{record.registered_at[:4]}/{record.registered_at[5:7]}/{record.run_id}.md"


def month_page_path(month: str) -> str:
    return f"reports/{month[:4]}/{month[5:7]}/index.md"


def render_run_report(
    record: RunRecord, phase_title: str, dossier: str | None = None, withdrawal: Decision | None = None
) -> str:
    return render(
        "run_report.md.j2",
        r=record,
        phase_title=phase_title,
        dossier=dossier,
        up="../../../",
        passed=record.passed,
        total=record.total,
        verdict_line=_VERDICT_WORDS[record.verdict],
        withdrawal=withdrawal,
        withdrawn_by=str(withdrawal.decided_by).split(" <")[0] if withdrawal else "",
    )


def ledger_row(record: RunRecord, withdrawn: bool = False) -> dict[str, Any]:
    """The one-line summary of a run kept in state/ledger/ and shown in index pages (a LedgerRow's keys;
    `withdrawn` only for a withdrawn run, so the other rows read as they always have)."""
    return {
        "seq": record.seq,
        "run_id": record.run_id,
        "phase": record.phase,
        "verdict": record.verdict,
        "passed": record.passed,
        "total": record.total,
        "registered_at": record.registered_at,
        "month": record.month,
        "summary": " ".join(str(record.summary).split())[:200],
    } | ({"withdrawn": True} if withdrawn else {})


def month_header(month: str) -> str:
    return render("month.md.j2", month=month)


def month_row(row: dict[str, Any]) -> str:
    return (
        f"| {row['seq']} | {row['registered_at']} | [`{row['run_id']}`]({row['run_id']}.md) | {row['phase']} "
        f"| {verdict_cell(row)} | {row['passed']}/{row['total']} | {cell(row['summary'])} |\n"
    )


def verdict_cell(row: dict[str, Any]) -> str:
    """A ledger row's verdict as tables show it: a withdrawn run says so."""
    return f"{row['verdict']} (withdrawn)" if row.get("withdrawn") else str(row["verdict"])


def decision_line(status: dict[str, Any], up: str, label: str) -> str | None:
    """The last human decision as one markdown line (None before any); `up` leads to the repository root."""
    d = status.get("last_decision")
    if not d:
        return None
    run, who = d["run_id"], str(d["decided_by"]).split(" <")[0]
    line = (
        f"{label}: **{d['decision']}** on [`{run}`]({up}state/decisions/{run}.yaml) (phase {cell(d['phase'])}, "
        f"{d['decided_at']}, by {cell(who)}): {cell(d['reason'])}"
    )
    if status.get("stopped"):
        line += (
            f" — **the program is stopped**: nothing is registered until run `{run}` is decided again "
            f"(`gerhard decide {run} rerun|waive|advance`)"
        )
    return line


def render_index(status: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    latest = None
    if rows:
        top = rows[0]
        latest = dict(
            top,
            verdict_word=_VERDICT_WORDS[top["verdict"]],
            link=f"{top['month'].replace('-', '/')}/{top['run_id']}.md",
        )
    decision = decision_line(status, "../", "Decision")
    # The latest first: a decision made after the latest run comes before it.
    first = decision is not None and status["last_decision"]["run_count"] >= status["run_count"]
    return render("index.md.j2", s=status, rows=rows, latest=latest, decision=decision, decision_first=first)


def render_board(program: Program, status: dict[str, Any], gate_results: dict[str, Any]) -> str:
    phases = [dict(status["phases"][p.id], id=p.id, title=p.title) for p in program.phases]
    return render(
        "status_board.md.j2",
        s=status,
        phases=phases,
        gate_results=gate_results.get("phases", {}),
        decision=decision_line(status, "../../", "Last decision"),
    )
