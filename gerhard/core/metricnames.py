"""The names gates read against the names runs log: the typo guards (pure: data in, result out).

A gated value missing from a run while a close name is there is most often a typo, in the run's log call or in
the gate's path in state/program.yaml. Registered, it would be permanent RED history; so finish() and
register refuse it (`refuse_typos`) unless allow_missing=True / --allow-missing, start_run and log_metrics say
it while the run is live, and `gerhard check` names every gate no run of its phase has logged
(`unlogged_warning`). "Close" is difflib's ratio, case-insensitive, at CUTOFF (val_acc ~ val_accuracy is
0.74, train_loss ~ val_loss 0.67: a different metric, not a typo) and near the closest name's, or a
metric_aliases entry tying the two names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gerhard.core.gates import Gate, has_path
from gerhard.errors import UserError

CUTOFF = 0.7
NEAR_BEST = 0.1  # a name much further than the closest one is not offered (val_lss: val_loss, not val_ppl)
METRICS = "metrics.json"
FINAL = "final."  # a gate on a run's final metrics reads metrics.json at final.<name>


@dataclass(frozen=True)
class Typo:
    """A gate whose value the run lacks, and the paths it has instead that are probably what was meant."""

    gate: str
    artifact: str
    path: str
    severity: str
    close: tuple[str, ...]


def gated_metric(gate: Gate) -> str | None:
    """The metric a gate reads from metrics.json's final values (None for any other gate)."""
    if gate.artifact == METRICS and gate.path.startswith(FINAL):
        return gate.path.removeprefix(FINAL)
    return None


def close_names(wanted: str, names: Iterable[str], aliases: Mapping[str, str] | None = None) -> list[str]:
    """The names (not `wanted` itself) that are probably `wanted` misspelt, or that metric_aliases ties to it
    (an alias of it, or what it is renamed to), tied ones first."""
    aliases = aliases or {}
    others = [n for n in dict.fromkeys(names) if isinstance(n, str) and n != wanted]
    tied = [n for n in others if aliases.get(n) == wanted or aliases.get(wanted) == n]
    matcher = difflib.SequenceMatcher(b=wanted.lower())
    scored = []
    for name in others:
        matcher.set_seq1(name.lower())
        if matcher.real_quick_ratio() >= CUTOFF and matcher.quick_ratio() >= CUTOFF and matcher.ratio() >= CUTOFF:
            scored.append((matcher.ratio(), name))
    best = max((r for r, _ in scored), default=0.0)
    close = [n for r, n in sorted(scored, key=lambda x: -x[0]) if r >= best - NEAR_BEST][:3]
    return list(dict.fromkeys([*tied, *close]))


def close_paths(data: Any, path: str, aliases: Mapping[str, str] | None = None) -> list[str]:
    """Paths into data, each with one key of `path` replaced by a close name, that hold a value."""
    parts, node = path.split("."), data
    for i, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            node = node[part]
            continue
        if isinstance(node, list) and has_path(node, part):
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            return []
        found = [".".join([*parts[:i], k, *parts[i + 1 :]]) for k in close_names(part, node, aliases)]
        return [p for p in found if has_path(data, p)]
    return []


def typos(gates: Iterable[Gate], artifacts: Mapping[str, Any], aliases: Mapping[str, str] | None = None) -> list[Typo]:
    """The gates whose value is missing from an artifact the run has, while a close path holds one."""
    found = []
    for gate in gates:
        if gate.artifact not in artifacts or has_path(artifacts[gate.artifact], gate.path):
            continue
        close = close_paths(artifacts[gate.artifact], gate.path, aliases)
        if close:
            found.append(Typo(gate.id, gate.artifact, gate.path, gate.severity, tuple(close)))
    return found


def in_artifact(path: str, artifact: str) -> str:
    """A value's place as messages name it: final.val_acc (metrics.json is implied), else `path in artifact`."""
    return path if artifact == METRICS else f"{path} in {artifact}"


def typo_message(found: list[Typo]) -> str:
    """One line: each gate, what it needs, what the run logged instead, and the two ways on."""
    said = "; ".join(
        f"gate {t.gate} needs {in_artifact(t.path, t.artifact)}; this run logged "
        + " or ".join(in_artifact(c, t.artifact) for c in t.close)
        for t in found
    )
    one = len(found) == 1 and len(found[0].close) == 1
    verdict = "RED" if any(t.severity == "blocking" for t in found) else "AMBER"
    return (
        f"{said}: did you mean {'it' if one else 'them'}? Fix the name (in the run or in the gate's path in "
        f"state/program.yaml), or pass allow_missing=True / --allow-missing to register it {verdict}"
    )


def refuse_typos(
    gates: Iterable[Gate], artifacts: Mapping[str, Any], aliases: Mapping[str, str] | None = None, call: str = ""
) -> None:
    """Raise the one-line refusal when a gated value is missing and a close name was logged."""
    found = typos(gates, artifacts, aliases)
    if found:
        raise UserError(call + typo_message(found))


def unlogged_warning(phase: str, gate: Gate, close: list[str], latest: str) -> str:
    """gerhard check's line for a gate whose value no run of its phase has logged."""
    where = in_artifact(gate.path, gate.artifact)
    line = f"warning: phase {phase} gate {gate.id} reads {where}, which no run of phase {phase} has logged"
    if close:
        shown = " or ".join(in_artifact(c, gate.artifact) for c in close)
        return f"{line}; its latest run {latest} logged {shown}: did you mean {'it' if len(close) == 1 else 'them'}?"
    return f"{line}: check the gate's path in state/program.yaml"
