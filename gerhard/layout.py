"""Where everything lives in a registry: the paths of its state files, records, reports and run folders (pure).

Every `state/...`, `reports/...` and `outputs/<run_id>` path is spelled here and nowhere else.
"""

from __future__ import annotations

PROGRAM = "state/program.yaml"
STATUS = "state/program_status.yaml"
GATE_RESULTS = "state/gate_results.yaml"
RUNS_DIR = "state/runs"
NEEDS_DIR = "state/needs_input"
DECISIONS_DIR = "state/decisions"
LEDGER_DIR = "state/ledger"
INDEX = "reports/index.md"
BOARD = "docs/ops/STATUS_BOARD.md"

DERIVED_HEADER = (
    "# Written by gerhard from state/ (`gerhard rebuild` recomputes it): edits to values are overwritten;"
    " comments and extra keys you add are kept.\n"
)


def record_path(run_id: str) -> str:
    return f"{RUNS_DIR}/{run_id}.yaml"


def needs_input_path(run_id: str) -> str:
    return f"{NEEDS_DIR}/{run_id}.yaml"


def decision_path(run_id: str) -> str:
    return f"{DECISIONS_DIR}/{run_id}.yaml"


def ledger_path(month: str) -> str:
    return f"{LEDGER_DIR}/{month}.jsonl"
