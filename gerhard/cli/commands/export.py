"""gerhard export latest|RUN_ID|all --format json|yaml|csv: run records to stdout."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

from gerhard.output import json_safe, print_json
from gerhard.registry import queries
from gerhard.registry.root import registry_root

CSV_FIELDS = [
    "run_id",
    "seq",
    "phase",
    "verdict",
    "gates_passed",
    "gates_total",
    "registered_at",
    "code_sha",
    "code_dirty",
    "code_sha_source",
    "config_sha256",
    "seed",
    "bundle_sha256",
    "artifact_root",
    "summary",
    "next_action",
]


def flat_row(r: dict[str, Any]) -> dict[str, Any]:
    """One CSV row: the scalar fields, then metric.<name> and gate.<id>.observed/passed."""
    row = {k: r.get(k) for k in CSV_FIELDS}
    row["gates_passed"] = sum(g["passed"] for g in r["gates"])
    row["gates_total"] = len(r["gates"])
    row.update({f"metric.{k}": v for k, v in sorted((r.get("metrics") or {}).items())})
    for g in r["gates"]:
        row[f"gate.{g['id']}.observed"] = g["observed"]
        row[f"gate.{g['id']}.passed"] = g["passed"]
    return row


def write_csv(records: list[dict[str, Any]]) -> None:
    rows = [flat_row(r) for r in records]
    fields = list(CSV_FIELDS)
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def export(repo: Path, run: str, fmt: str) -> int:
    root = registry_root(repo)
    records = [r.as_dict() for r in (queries.all_records(root) if run == "all" else [queries.resolve_run(root, run)])]
    if fmt == "csv":
        write_csv(records)
    elif fmt == "yaml":
        from gerhard.formats.yamlio import dump_yaml

        sys.stdout.write(dump_yaml(json_safe(records if run == "all" else records[0])))
    else:
        print_json(records if run == "all" else records[0])
    return 0
