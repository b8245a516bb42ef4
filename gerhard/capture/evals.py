"""lm-evaluation-harness results as a live run's eval tasks (run.log_lm_eval): the parsing is convert's (the same
tasks as `gerhard convert lm-eval`); the pass marks come from the call or from the phase's eval_thresholds in
state/program.yaml, since lm-eval has none. Nothing here imports lm_eval: its results are plain JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gerhard.capture.convert import ANY_TASK, Threshold, eval_suite_from_lm_eval, find_lm_eval_results
from gerhard.errors import UserError
from gerhard.formats.bounds import shown

__all__ = ["Threshold", "lm_eval_tasks"]


def lm_eval_tasks(
    results: Mapping[str, Any] | Path | str,
    threshold: Threshold,
    metric: str | None,
    program_marks: Mapping[str, float],
    phase: str,
) -> list[dict[str, Any]]:
    """The eval-suite tasks of lm-eval results (a dict, a results_*.json, or an --output_path folder), each
    judged against threshold, else program_marks (the phase's eval_thresholds, for the tasks these results hold)."""
    data, source = _results(results)
    if threshold is None:
        tasks = data.get("results") if isinstance(data, Mapping) else None
        held = set(tasks) if isinstance(tasks, Mapping) else set()
        # The program's marks cover every task the phase knows; these results may hold a few of them.
        threshold = {task: mark for task, mark in program_marks.items() if task == ANY_TASK or task in held} or None
        if threshold is None and held:
            names = ", ".join(sorted(held))
            raise UserError(
                f"log_lm_eval: {source} carries no pass mark: pass threshold= (a number, or {{task: number}}) or "
                f"give phase {phase} eval_thresholds in state/program.yaml (tasks: {names})"
            )
    suite = eval_suite_from_lm_eval(data, threshold=threshold, metric=metric, source=f"log_lm_eval: {source}")
    return list(suite["tasks"])


def _results(results: Mapping[str, Any] | Path | str) -> tuple[Any, str]:
    if isinstance(results, Mapping):
        return results, "the lm-eval results"
    if not isinstance(results, (str, Path)):
        raise UserError(
            f"log_lm_eval: pass lm-eval's results dict, a results_*.json or its output folder, "
            f"not a {type(results).__name__}"
        )
    path = find_lm_eval_results(results)
    try:
        return json.loads(path.read_text(encoding="utf-8")), path.name
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"log_lm_eval: cannot read {shown(str(path))} as JSON: {e}") from None
