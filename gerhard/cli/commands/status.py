"""gerhard status: where the program stands, in a few lines, and the runs in outputs/ not registered yet
(gerhard.registry.pending_runs), each with the command that registers it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core.phases import REMOVED_PHASES, RESUME, STOPPED
from gerhard.output import print_json
from gerhard.registry import queries
from gerhard.registry.pending_runs import PendingRun, pending_runs
from gerhard.registry.root import registry_root


def phase_line(pid: str, p: dict[str, Any]) -> str:
    latest = f"latest {p['latest_run']} {p['latest_verdict']}" if p["latest_run"] else "no runs"
    passed = f", passed by {p['passed_by']}" if p.get("passed_by") else ""
    return f"  {pid:<4} {p['state']:<8} {p['runs']:>4} run{'s' if p['runs'] != 1 else ' '}  {latest}{passed}"


def decision_lines(s: dict[str, Any]) -> list[str]:
    d = s.get("last_decision")
    if not d:
        return []
    who = str(d["decided_by"]).split(" <")[0]
    lines = [f"last decision: {d['decision']} on {d['run_id']} (phase {d['phase']}) at {d['decided_at']} by {who}"]
    lines.append(f"  reason: {' '.join(str(d['reason']).split())}")
    if s.get(STOPPED):
        lines.append(f"stopped: nothing is registered; to resume, gerhard decide {d['run_id']} {RESUME} --reason '...'")
    return lines


def format_status(s: dict[str, Any]) -> str:
    current = s["current_phase"]
    head = f"phase {current} ({s['phases'][current]['state']})" if current else "all phases passed"
    if s.get(STOPPED):
        head = f"STOPPED by a decision on {str(s['last_decision']['decided_at'])[:10]} at {head}"
    lines = [f"{s['program']}: {head}, {s['run_count']} run{'s' if s['run_count'] != 1 else ''} registered"]
    lines += [phase_line(pid, p) for pid, p in s["phases"].items()]
    removed = s.get(REMOVED_PHASES) or {}
    lines += [phase_line(pid, p) + f" (no longer in {layout.PROGRAM})" for pid, p in removed.items()]
    if s["latest_run"]:
        lines.append(f"latest: {s['latest_run']} ({s['latest_verdict']}) at {s.get('latest_registered_at')}")
    for n in s["open_needs_input"]:
        lines.append(f"needs input: {layout.needs_input_path(n['run_id'])} (failed: {', '.join(n['failed_gates'])})")
    return "\n".join(lines + decision_lines(s))


def pending_lines(root: Path, pending: list[PendingRun]) -> list[str]:
    """The runs under outputs/ not registered yet, each with the command that registers it."""
    if not pending:
        return []
    head = f"{len(pending)} run{'s' if len(pending) != 1 else ''} in {layout.OUTPUTS}/ not registered yet:"
    return [head, *(f"  {run.line(root)}" for run in pending)]


def status(repo: Path, as_json: bool = False) -> int:
    root = registry_root(repo)
    s = queries.current_status(root)
    pending = pending_runs(root)
    if as_json:
        print_json({**s, "pending_runs": [run.as_dict(root) for run in pending]})
    else:
        print("\n".join([format_status(s), *pending_lines(root, pending)]))
    return 0
