"""Gates no run of their phase has logged: a path misspelt in state/program.yaml (or in every run) reads
nothing, and each run fails that gate. `gerhard check` prints a warning line per such gate, with the close
names the phase's latest run logged (gerhard.core.metricnames).

Cheap: a phase's latest run's record answers for most gates (its final metrics, and what its gates read).
Only a gate it did not log is looked for in the other records, by git grep (one process), and only the
records that name it are read (parsed once per content, store.read_record). A phase with no run says nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core.gates import Gate, has_path, not_found, not_in_bundle
from gerhard.core.metricnames import FINAL, close_names, close_paths, gated_metric, unlogged_warning
from gerhard.core.program import Phase, Program
from gerhard.core.records import RunRecord
from gerhard.errors import UserError
from gerhard.formats.bounds import Unreadable, check_json_depth
from gerhard.git import gitrepo
from gerhard.registry import store

PLAIN_KEY = re.compile(r"[A-Za-z_][\w/-]*")  # written unquoted as a YAML key
YAML_WORDS = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n"})


def unlogged_gates(root: Path, program: Program) -> list[str]:
    """A warning line per gate whose value no run of its phase has logged (none from a damaged status file
    or record: the check names that damage itself)."""
    try:
        phases = (store.load_status(root) or {}).get("phases") or {}
    except UserError:
        return []
    found: list[str] = []
    for phase in program.phases:
        latest = (phases.get(phase.id) or {}).get("latest_run")
        try:
            record = store.read_record(root, str(latest)) if latest else None
            found += phase_warnings(root, program, phase, record) if record is not None else []
        except UserError:
            continue
    return found


def phase_warnings(root: Path, program: Program, phase: Phase, latest: RunRecord) -> list[str]:
    found = []
    for gate in phase.gates:
        said = logged_by(latest, gate)
        data = archived(root, latest, gate.artifact) if said is None else None
        if said is None and data is None:
            continue  # not in the record, not here (a heavy file not pulled): nothing to go on
        if said or (said is None and has_path(data, gate.path)) or logged_by_another(root, phase.id, gate):
            continue
        metric = gated_metric(gate)
        if metric is not None:
            close = [FINAL + n for n in close_names(metric, latest.metrics, program.metric_aliases)]
        else:
            close = close_paths(data, gate.path, program.metric_aliases) if data is not None else []
        found.append(unlogged_warning(phase.id, gate, close, latest.run_id))
    return found


def logged_by(record: RunRecord, gate: Gate) -> bool | None:
    """Whether the run logged the gate's value; None when its record does not say (no gate of it read
    that path: the program changed since)."""
    metric = gated_metric(gate)
    if metric is not None:
        return metric in record.metrics
    missing = {not_in_bundle(gate.artifact), not_found(gate.path, gate.artifact)}
    read = [g for g in record.gates if g.get("artifact") == gate.artifact and g.get("path") == gate.path]
    return any(g.get("reason") not in missing for g in read) if read else None


def logged_by_another(root: Path, phase: str, gate: Gate) -> bool:
    """Any run of the phase whose record shows the value: only the records git grep finds naming it are read."""
    metric = gated_metric(gate)
    if metric is None:
        text = gate.path
    else:  # a metric's line in a record: `  val_acc: 0.91` (a name YAML quotes: the name alone)
        text = f"{metric}:" if PLAIN_KEY.fullmatch(metric) and metric.lower() not in YAML_WORDS else metric
    for rel in gitrepo.files_containing(root, text, layout.RUNS_DIR):
        record = store.read_record(root, Path(rel).stem)
        if record is not None and record.phase == phase and logged_by(record, gate):
            return True
    return False


def archived(root: Path, record: RunRecord, artifact: str) -> Any:
    """A JSON artifact of a registered run as archived here (None: not here, or not JSON that reads)."""
    path = root / record.artifact_root / artifact
    if not artifact.endswith(".json") or not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
        check_json_depth(text)
        return json.loads(text)
    except (OSError, ValueError, Unreadable):
        return None
