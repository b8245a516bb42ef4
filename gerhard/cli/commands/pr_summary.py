"""gerhard pr-summary [BASE..HEAD | --base BRANCH]: markdown for a pull request on stdout, ready for CI to post.

It leads with the verdict table (one row per run: verdict, gates passed, the gates that failed, a
decision taken in the pull request), then each run's gate table and metric deltas, then the decisions.

Every value that comes from a run, a program or a commit (ids, names, thresholds, reasons, authors)
goes through reports.cell / reports.code / reports.para, so it renders as text.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from gerhard.core import compare
from gerhard.core.reports import cell, code, num, para
from gerhard.git import gitrepo
from gerhard.team.prsummary import Baseline, Decision, RunSection, Summary, summarize

VERDICT_ORDER = {"RED": 0, "AMBER": 1, "GREEN": 2}  # the headline counts the worst first


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def gates_text(record: dict[str, Any] | None) -> str:
    if record is None:
        return "?"
    return f"{sum(bool(g['passed']) for g in record['gates'])}/{len(record['gates'])}"


def failed_text(record: dict[str, Any] | None) -> str:
    """The gates that failed, advisory ones marked so."""
    if record is None:
        return "?"
    failed = [g for g in record["gates"] if not g["passed"]]
    advisory = " (advisory)"
    return ", ".join(cell(g["id"]) + ("" if g.get("severity", "blocking") == "blocking" else advisory) for g in failed)


def decided_text(run: RunSection, decisions: list[Decision]) -> str:
    """The latest decision on the run in the range (a decision on an older run is in the decisions table)."""
    mine = [d for d in decisions if d.entry.run_id == run.entry.run_id]
    return cell(mine[-1].entry.decision or "?") if mine else ""


def headline(s: Summary) -> str:
    verdicts = Counter(r.entry.verdict or "?" for r in s.runs)
    counts = ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items(), key=lambda vn: VERDICT_ORDER.get(vn[0], 3)))
    runs = plural(len(s.runs), "run") + " registered" + (f" ({cell(counts)})" if s.runs else "")
    return f"## gerhard: {runs}, {plural(len(s.decisions), 'decision')}"


def overview(s: Summary) -> list[str]:
    """The headline and the verdict table: a reviewer's first look, one row per run."""
    rng = s.range
    lines = [headline(s), ""]
    if s.runs:
        rows = [
            [cell(r.entry.verdict or "?"), code(r.entry.run_id), cell(r.entry.phase or "?"), gates_text(r.record),
             failed_text(r.record), decided_text(r, s.decisions), r.entry.commit[:7]]
            for r in s.runs
        ]  # fmt: skip
        lines += [*table(["verdict", "run", "phase", "gates passed", "failed gates", "decision", "commit"], rows), ""]
    return lines + [f"Commits in {code(rng.spec)} ({rng.base[:7]}..{rng.head[:7]})."]


def gate_table(record: dict[str, Any]) -> list[str]:
    notes = any(g.get("reason") for g in record["gates"])
    header = ["gate", "result", "observed", "threshold"] + (["note"] if notes else [])
    rows = []
    for g in record["gates"]:
        row = [
            cell(g["id"]),
            compare.mark(bool(g["passed"]), g.get("severity", "blocking")),
            cell(num(g.get("observed"))),
            cell(g.get("threshold", "")),
        ]
        rows.append(row + ([cell(g.get("reason") or "")] if notes else []))
    return table(header, rows)


def percent(value: float | None) -> str:
    return "" if value is None else f"{value:+.1%}"


def delta_rows(base: dict[str, Any], record: dict[str, Any]) -> list[list[str]]:
    rows = []
    for m in compare.metric_deltas(base.get("metrics"), record.get("metrics")):
        before = "missing" if m.missing_in == "a" else cell(num(m.a))
        after = "missing" if m.missing_in == "b" else cell(num(m.b))
        delta = "" if m.delta is None else f"{m.delta:+.6g}"
        rows.append([cell(m.name), before, after, delta, percent(m.relative)])
    return rows


def baseline_lines(run: RunSection, base_sha: str) -> list[str]:
    phase, at = cell(run.entry.phase or "?"), base_sha[:7]
    b: Baseline | None = run.baseline
    if b is None:
        return [f"No baseline: no GREEN run of phase {phase} at {at}."]
    if b.record is None:
        return [f"No baseline: {b.why} of phase {phase}, {code(b.run_id)}, has no record at {at}."]
    if run.record is None:
        return []
    against = f"{code(b.run_id)}, {b.why} of phase {phase} at {at}"
    rows = delta_rows(b.record, run.record)
    if not rows:
        return [f"No metrics to compare with {against}."]
    return [
        f"Metric deltas against {against}:",
        "",
        *table(["metric", "baseline", "this run", "delta", "relative"], rows),
    ]


def run_section(run: RunSection, base_sha: str) -> list[str]:
    e = run.entry
    lines = [f"### {code(e.run_id)}: phase {cell(e.phase or '?')}, {cell(e.verdict or '?')}", ""]
    if run.record is None:
        return lines + [f"No run record in commit {e.commit[:7]}."]
    if str(run.record.get("summary") or "").strip():
        lines += [para(run.record["summary"]), ""]
    return lines + gate_table(run.record) + ["", *baseline_lines(run, base_sha)]


def decision_lines(decisions: list[Decision]) -> list[str]:
    rows = [
        [code(d.entry.run_id), cell(d.entry.decision or "?"), cell(d.entry.author), cell(d.reason or "(none)"),
         d.entry.commit[:7]]
        for d in decisions
    ]  # fmt: skip
    return ["### Decisions", "", *table(["run", "decision", "by", "reason", "commit"], rows)]


def render(s: Summary) -> str:
    lines = overview(s)
    for run in s.runs:
        lines += ["", *run_section(run, s.range.base)]
    if s.decisions:
        lines += ["", *decision_lines(s.decisions)]
    return "\n".join(lines) + "\n"


def pr_summary(repo: Path, spec: str | None = None, base: str | None = None) -> int:
    root = gitrepo.find_root(Path(repo))
    print(render(summarize(root, spec, base)), end="")
    return 0
