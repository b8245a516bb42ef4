"""Where everything lives in a registry: the paths of its state files, records, reports and run folders (pure).

Every `state/...`, `reports/...` and `outputs/<run_id>` path is spelled here and nowhere else.
"""

from __future__ import annotations

import re

PROGRAM = "state/program.yaml"
STATUS = "state/program_status.yaml"
GATE_RESULTS = "state/gate_results.yaml"
RUNS_DIR = "state/runs"
NEEDS_DIR = "state/needs_input"
DECISIONS_DIR = "state/decisions"
LEDGER_DIR = "state/ledger"
OUTPUTS = "outputs"  # one folder per run: outputs/<run_id>/
INDEX = "reports/index.md"
BOARD = "docs/ops/STATUS_BOARD.md"

DERIVED_HEADER = (
    "# Written by gerhard from state/ (`gerhard rebuild` recomputes it): edits to values are overwritten;"
    " comments and extra keys you add are kept.\n"
)


def run_dir(run_id: str) -> str:
    """The run's folder: its bundle, archived (and its heavy files' local copies, which git ignores)."""
    return f"{OUTPUTS}/{run_id}"


def record_path(run_id: str) -> str:
    return f"{RUNS_DIR}/{run_id}.yaml"


def needs_input_path(run_id: str) -> str:
    return f"{NEEDS_DIR}/{run_id}.yaml"


def decision_path(run_id: str) -> str:
    return f"{DECISIONS_DIR}/{run_id}.yaml"


def ledger_path(month: str) -> str:
    return f"{LEDGER_DIR}/{month}.jsonl"


_LEDGER_RE = re.compile(r"state/ledger/\d{4}-\d{2}\.jsonl")


_REPORT_RE = re.compile(r"reports/\d{4}/\d{2}/[^/]+\.md")


_NEEDS_RE = re.compile(r"state/needs_input/[^/]+\.yaml")


SUMMARY_FILES = (STATUS, GATE_RESULTS, INDEX, BOARD)


def is_derived(rel: str) -> bool:
    """A file `gerhard rebuild` writes (some paths of this shape may be a human's: rebuild says)."""
    return rel in SUMMARY_FILES or any(r.fullmatch(rel) for r in (_LEDGER_RE, _REPORT_RE, _NEEDS_RE))


_MONTH_PAGE_RE = re.compile(r"reports/\d{4}/\d{2}/index\.md")


def is_aggregate(rel: str) -> bool:
    """A derived file every run shares (status, gate results, ledger, index pages, board): written on the
    default branch only (gerhard.git.branches). The other derived files are one run's own."""
    return rel in SUMMARY_FILES or bool(_LEDGER_RE.fullmatch(rel) or _MONTH_PAGE_RE.fullmatch(rel))


def is_source(rel: str) -> bool:
    """A file derived files are computed from: program.yaml, a run record, a decision."""
    return rel == PROGRAM or _in_folder(rel, RUNS_DIR) or _in_folder(rel, DECISIONS_DIR)


def _in_folder(rel: str, folder: str) -> bool:
    return rel.startswith(f"{folder}/") and rel.endswith(".yaml") and rel.count("/") == folder.count("/") + 1


def run_of(rel: str) -> str | None:
    """The run a path belongs to: outputs/<run_id>/..., state/runs/<run_id>.yaml."""
    parts = rel.split("/")
    if parts[0] == OUTPUTS and len(parts) >= 3:
        return parts[1]
    if _in_folder(rel, RUNS_DIR):
        return parts[2].removesuffix(".yaml")
    return None
