"""gerhard show latest|RUN_ID: one run, for people (or --json)."""

from __future__ import annotations

from pathlib import Path

from gerhard import layout
from gerhard.core import compare, reports
from gerhard.core.phases import WITHDRAW
from gerhard.core.records import Decision, RunRecord
from gerhard.output import fmt_value, print_json
from gerhard.registry import queries, store
from gerhard.registry.heavy import remote_source, run_remote
from gerhard.registry.root import registry_root


def format_record(r: RunRecord, configured: tuple[str, str] | None = None, withdrawal: Decision | None = None) -> str:
    """`configured`: the remote root configured now and where (gerhard.registry.heavy.remote_source), shown for a
    run whose record names none (registered before a remote was set; records are never rewritten)."""
    dirty = {True: "dirty", False: "clean", None: "unknown"}[r.code_dirty]
    lines = [
        f"run       {r.run_id}  (#{r.seq})",
        f"phase     {r.phase}{'  (forced)' if r.forced else ''}",
        f"verdict   {r.verdict}  {r.passed}/{r.total} gates passed",
        *([f"WITHDRAWN {withdrawal.decided_at} by {withdrawal.decided_by}: {withdrawal.reason}"] if withdrawal else []),
        f"at        {r.registered_at}",
        f"code      {r.code_sha or 'unknown'} ({dirty}, from {r.code_sha_source})",
        f"config    sha256 {r.config_sha256 or 'none'}",
        f"seed      {fmt_value(r.seed)}",
        f"summary   {r.summary or '(none)'}",
        f"next      {r.next_action or '(none)'}",
        "gates",
    ]
    width = max((len(g["id"]) for g in r.gates), default=0)
    for g in r.gates:
        mark = compare.mark(g["passed"], g["severity"])
        reason = f"  ({g['reason']})" if g.get("reason") else ""
        lines.append(f"  {mark}  {g['id']:<{width}}  {fmt_value(g['observed']):>10}  {g['threshold']}{reason}")
    if r.metrics:
        lines.append("metrics   " + "  ".join(f"{k}={fmt_value(v)}" for k, v in sorted(r.metrics.items())))
    lines.append(f"report    {reports.run_report_path(r)}")
    lines.append(f"archive   {r.artifact_root}/")
    if r.artifact_remote:
        lines.append(f"remote    {r.artifact_remote}")
    elif configured:
        url, where = configured
        lines.append(f"remote    {run_remote(url, r.run_id)}  (from {where} now; not recorded at registration)")
    if r.remote_files:
        lines.append(f"          stored remote: {', '.join(r.remote_files)} (gerhard sync pull fetches them)")
    if r.verdict == "RED":
        lines.append(f"needs     {layout.needs_input_path(r.run_id)}")
    return "\n".join(lines)


def show(repo: Path, run: str, as_json: bool = False) -> int:
    root = registry_root(repo)
    record = queries.resolve_run(root, run)
    decision = store.read_decision(root, record.run_id)
    withdrawal = decision if decision is not None and decision.decision == WITHDRAW else None
    if as_json:
        print_json({**record.as_dict(), **({"withdrawn": withdrawal.as_dict()} if withdrawal else {})})
    else:
        configured = None if record.artifact_remote else remote_source(store.load_program(root))
        print(format_record(record, configured, withdrawal))
    return 0
