"""Markdown reports (per run, per month, index) and the status board, written with plain string
formatting (pure; no template engine to load at each registration, issue 19).

Text that comes from a run (summary, names, observed values) is inert in the markdown: `cell` and
`para` escape it so that it adds no block (heading, list, table, quote, fence, HTML), no link,
image or autolink (GFM's bare `https://`, `www.` and e-mail links included) and no emphasis.
Only gerhard's own templates make structure and links.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
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


_short_inline = functools.lru_cache(maxsize=4096)(inline)  # ten thousand reports repeat their gate and
# metric names, thresholds and values: `gerhard check --full` renders each report again


def cell(value: Any) -> str:
    """Run text safe inside one markdown table cell (or any line): one line, inert, pipes escaped."""
    text = " ".join(str(value).split())
    return _short_inline(text) if len(text) <= 200 else inline(text)


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


def _by_key(mapping: Mapping[str, Any], reverse: bool = False) -> list[tuple[Any, Any]]:
    """A mapping's items by key, letter case ignored (the order the reports have always listed them in)."""
    return sorted(mapping.items(), key=lambda kv: kv[0].lower() if isinstance(kv[0], str) else kv[0], reverse=reverse)


def _derived(text: str) -> str:
    """A derived markdown file: says who writes it, and ends in exactly one newline (as end-of-file fixers expect)."""
    return DERIVED_NOTE + text.rstrip("\n") + "\n"


def _failed_gates(n: Mapping[str, Any]) -> str:
    return ", ".join(cell(g) for g in n["failed_gates"])


def _gate_result(g: Mapping[str, Any], fail: str) -> str:
    return "pass" if g["passed"] else (fail if g["severity"] == "blocking" else "WARN")


def run_report_path(record: RunRecord) -> str:
    return f"reports/{record.registered_at[:4]}/{record.registered_at[5:7]}/{record.run_id}.md"


def month_page_path(month: str) -> str:
    return f"reports/{month[:4]}/{month[5:7]}/index.md"


def render_run_report(
    record: RunRecord, phase_title: str, dossier: str | None = None, withdrawal: Decision | None = None
) -> str:
    r, up = record, "../../../"
    out = [f"# Run {cell(r.run_id)} — phase {cell(r.phase)}: {r.verdict}\n\n{_VERDICT_WORDS[r.verdict]}\n"]
    if withdrawal:
        who = str(withdrawal.decided_by).split(" <")[0]
        out.append(
            f"\n**Withdrawn** on {withdrawal.decided_at} by {cell(who)}: {cell(withdrawal.reason)} — not counted by "
            f"gates, baselines or the status ([decision]({up}state/decisions/{r.run_id}.yaml)).\n"
        )
    title = f" ({cell(phase_title)})" if phase_title else ""
    forced = " — registered with --force" if r.forced else ""
    dirty = " (dirty)" if r.code_dirty else ""
    archived = f" — dossier: [{dossier}]({up}{r.artifact_root}/{dossier})" if dossier else ""
    out += [
        "\n| | |\n| --- | --- |\n",
        f"| Registered | {r.registered_at} |\n",
        f"| Phase | {cell(r.phase)}{title}{forced} |\n",
        f"| Verdict | **{r.verdict}** ({r.passed}/{r.total} gates passed) |\n",
        f"| Code SHA | {code(r.code_sha or 'unknown')}{dirty} — from {r.code_sha_source} |\n",
        f"| Config sha256 | {code(r.config_sha256 or 'none')} |\n",
        f"| Seed | {cell(r.seed if r.seed is not None else 'none')} |\n",
        f"| Bundle sha256 | {code(r.bundle_sha256)} |\n",
        f"| Artifacts | [`{r.artifact_root}/`]({up}{r.artifact_root}/){archived} |\n",
        f"\n## Summary\n\n{para(str(r.summary).strip() or '(none given)')}\n\n",
        f"**Next action:** {para(str(r.next_action).strip() or '(none given)')}\n\n",
        "## Gates\n\n| Gate | Severity | Observed | Threshold | Result |\n| --- | --- | --- | --- | --- |\n",
    ]
    for g in r.gates:
        reason = f": {cell(g['reason'])}" if g["reason"] else ""
        out.append(
            f"| {cell(g['id'])} | {cell(g['severity'])} | {cell(num(g['observed']))} | {cell(g['threshold'])} "
            f"| {_gate_result(g, '**FAIL**')}{reason} |\n"
        )
    out.append("\n## Metrics\n\n")
    if r.metrics:
        out.append("| Metric | Value |\n| --- | --- |\n")
        out += [f"| {cell(k)} | {cell(num(v))} |\n" for k, v in _by_key(r.metrics)]
    else:
        out.append("(no final metrics)\n")
    return _derived("".join(out))


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
    return _derived(
        f"# Runs registered in {month}\n\n[Back to the index](../../index.md)\n\n"
        "| # | Registered | Run | Phase | Verdict | Gates | Summary |\n| --- | --- | --- | --- | --- | --- | --- |\n"
    )


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
    s, decision = status, decision_line(status, "../", "Decision")
    # The latest first: a decision made after the latest run comes before it.
    first = decision is not None and s["last_decision"]["run_count"] >= s["run_count"]
    withdrawn = f" ({len(s['withdrawn'])} withdrawn)" if s.get("withdrawn") else ""
    latest = f"`{s['latest_run']}` ({s['latest_verdict']})" if s["latest_run"] else "none yet"
    out = [f"# Run registry — {cell(s['program'])}\n\n{_progress(s, 'runs')}{withdrawn} · latest: {latest}\n\n"]
    out.append("## Latest decision\n\n")
    if first:
        out.append(f"{decision}\n\n")
    if rows:
        top = rows[0]
        link = f"{top['month'].replace('-', '/')}/{top['run_id']}.md"
        summary = f": {cell(top['summary'])}" if top["summary"] else ""
        out.append(
            f"{_VERDICT_WORDS[top['verdict']]}{' (withdrawn)' if top.get('withdrawn') else ''} — [`{top['run_id']}`]"
            f"({link}) (phase {top['phase']}, {top['passed']}/{top['total']} gates, {top['registered_at']}){summary}\n"
        )
    else:
        out.append("No run registered yet.\n")
    if decision and not first:
        out.append(f"\n{decision}\n")
    out.append("\n## Open needs-input\n\n")
    for n in s["open_needs_input"]:
        out.append(
            f"- [`{n['run_id']}`](../state/needs_input/{n['run_id']}.yaml) — phase {n['phase']}, "
            f"failed: {_failed_gates(n)}\n"
        )
    if not s["open_needs_input"]:
        out.append("None.\n")
    out.append(f"\n## Recent runs (latest {len(rows)} of {s['run_count']})\n\n")
    out.append("| Registered | Run | Phase | Verdict | Gates | Summary |\n| --- | --- | --- | --- | --- | --- |\n")
    for row in rows:
        out.append(
            f"| {row['registered_at']} | [`{row['run_id']}`]({row['month'].replace('-', '/')}/{row['run_id']}.md) "
            f"| {row['phase']} | {verdict_cell(row)} | {row['passed']}/{row['total']} | {cell(row['summary'])} |\n"
        )
    out.append("\n## By month\n\n")
    for month, count in _by_key(s["months"], reverse=True):
        out.append(f"- [{month}]({month.replace('-', '/')}/index.md) — {count} run{'' if count == 1 else 's'}\n")
    return _derived("".join(out))


def _progress(s: Mapping[str, Any], runs: str) -> str:
    """The line under a page's title: the current phase, how many runs, the latest."""
    return f"Current phase: **{s['current_phase'] or 'all phases passed'}** · {runs}: {s['run_count']}"


def render_board(program: Program, status: dict[str, Any], gate_results: dict[str, Any]) -> str:
    s, decision = status, decision_line(status, "../../", "Last decision")
    latest = f" · latest: `{s['latest_run']}` ({s['latest_verdict']})" if s["latest_run"] else ""
    out = [f"# Status board — {cell(s['program'])}\n\n{_progress(s, 'runs registered')}{latest}\n"]
    if decision:
        out.append(f"\n{decision}\n")
    out.append("\n| Phase | Title | State | Runs | Latest run | Verdict | Passed by |\n")
    out.append("| --- | --- | --- | --- | --- | --- | --- |\n")
    for ph in program.phases:
        p = status["phases"][ph.id]
        run = f"`{p['latest_run']}`" if p["latest_run"] else "—"
        by = f"`{p['passed_by']}`" if p["passed_by"] else "—"
        out.append(
            f"| {ph.id} | {cell(ph.title)} | {p['state']} | {p['runs']} | {run} | {p['latest_verdict'] or '—'} "
            f"| {by} |\n"
        )
    out.append("\n## Latest gate evaluation per phase\n\n")
    evaluated = _by_key(gate_results.get("phases", {}))
    for pid, g in evaluated:
        out.append(f"### Phase {pid}: {g['verdict']} ({g['passed']}/{g['total']}) — `{g['run_id']}`\n\n")
        out.append("| Gate | Observed | Threshold | Result |\n| --- | --- | --- | --- |\n")
        out += [
            f"| {cell(r['id'])} | {cell(num(r['observed']))} | {cell(r['threshold'])} | {_gate_result(r, 'FAIL')} |\n"
            for r in g["gates"]
        ]
        out.append("\n")
    if not evaluated:
        out.append("No gates evaluated yet.\n")
    if s["open_needs_input"]:
        out.append("\n## Needs input\n\n")
        out += [
            f"- `{n['run_id']}` (phase {n['phase']}): {_failed_gates(n)} — see state/needs_input/{n['run_id']}.yaml\n"
            for n in s["open_needs_input"]
        ]
    return _derived("".join(out))
