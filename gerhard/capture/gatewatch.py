"""What a phase's gates read, told when a run starts and watched as it logs: a misspelt metric name is said
while the run is live, not only when finish() refuses it (gerhard.core.metricnames).

Cheap by construction: the gated names are taken from the program once, at start_run; a logged name is
looked at once, the first time the run logs it, and only against the gated names not logged yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gerhard.capture.values import check_new_metric
from gerhard.core.metricnames import FINAL, close_names, gated_metric
from gerhard.core.program import Program
from gerhard.errors import UserError


def gated_metrics(program: Program, phase: str) -> dict[str, str]:
    """metric name -> the (first) gate of the phase that reads it from metrics.json's final values."""
    gated: dict[str, str] = {}
    for gate in program.phase(phase).gates:
        name = gated_metric(gate)
        if name is not None:
            gated.setdefault(name, gate.id)
    return gated


def start_lines(phase: str, gated: Mapping[str, str], aliases: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """What start_run says: the metrics the phase's gates read (one line), and a warning per gated name no run
    can log (not a metric name, or one metric_aliases renames to another as it is logged)."""
    if not gated:
        return None, []
    told = (
        f"gerhard: phase {phase}'s gates read {', '.join(gated)} (metrics.json final): log them under these "
        "names, or map yours with metric_aliases"
    )
    warnings = []
    for name, gate in gated.items():
        where = f"gerhard: WARNING: phase {phase} gate {gate} reads {FINAL}{name}"
        try:
            check_new_metric(name, "a gate")
        except UserError:
            why = "final metrics are flat: a metric name has no '.'" if "." in name else "not a metric name"
            warnings.append(f"{where}, which no run can log ({why}): fix its path in state/program.yaml")
            continue
        if aliases.get(name, name) != name:
            warnings.append(
                f"{where}, but metric_aliases renames {name} to {aliases[name]} as it is logged: the gate never "
                f"sees it; make the gate read {FINAL}{aliases[name]}, or drop that alias"
            )
    return told, warnings


def close_warnings(
    run_id: str, names: Iterable[str], gated: Mapping[str, str], logged: set[str] | frozenset[str]
) -> list[str]:
    """For each name just logged for the first time, a warning when it is close to a gated name the run has
    not logged (val_accuracy for a gate on val_acc)."""
    wanted = [g for g in gated if g not in logged]
    said = []
    for name in names:
        close = close_names(name, wanted) if name not in gated else []
        if close:
            meant = close[0]
            said.append(
                f"gerhard: WARNING: run {run_id} logs {name}, but gate {gated[meant]} reads {FINAL}{meant}: did you "
                f"mean {meant}? Rename it, fix the gate's path in state/program.yaml, or pass metric_aliases="
                f"{{{name!r}: {meant!r}}}; finish() refuses a run missing a gated metric while it logged a close name"
            )
    return said
