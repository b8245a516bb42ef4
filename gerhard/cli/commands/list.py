"""gerhard list: registered runs, newest first, filtered by phase, verdict and date."""

from __future__ import annotations

from pathlib import Path

from gerhard.output import print_json
from gerhard.registry import queries
from gerhard.registry.root import registry_root


def list_runs(
    repo: Path,
    phase: str | None = None,
    verdict: str | None = None,
    since: str | None = None,
    limit: int = 20,
    as_json: bool = False,
) -> int:
    root = registry_root(repo)
    rows = queries.list_rows(root, phase=phase, verdict=verdict, since=since, limit=limit)
    if as_json:
        print_json(rows)
        return 0
    if not rows:
        print("no runs match")
        return 0
    width = max(len(r["run_id"]) for r in rows)
    print(f"{'REGISTERED':<20}  {'RUN':<{width}}  PHASE  VERDICT  GATES  SUMMARY")
    for r in rows:
        gates = f"{r['passed']}/{r['total']}"
        summary = f"(withdrawn) {r['summary']}" if r.get("withdrawn") else r["summary"]
        print(
            f"{r['registered_at']:<20}  {r['run_id']:<{width}}  {r['phase']:<5}  {r['verdict']:<7}  "
            f"{gates:<5}  {summary[:60]}"
        )
    return 0
