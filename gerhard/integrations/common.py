"""What the framework integrations share: the run they start on first use (or are given), a framework's logged
row split into metrics and counters, and finish() when asked. No framework is imported here.

What a framework logs that is not a result stays out of the bundle: timings (`*_runtime`, `*_per_second`) differ
from run to run, so the same seed would not give the same metrics.json, and a FLOP count (total_flos) is a cost,
not a result. The epoch is a counter: drawn against, never a final metric.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from gerhard.capture.run import Run, start_run
from gerhard.capture.state import FinishResult
from gerhard.errors import UserError

COUNTERS = frozenset({"epoch"})
TIMING_SUFFIXES = ("_runtime", "_per_second")
NOT_RESULTS = frozenset({"total_flos"})


def split_row(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics, counters) of one logged row: numbers only, timings and FLOP counts left out."""
    metrics: dict[str, Any] = {}
    counters: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue  # text, lists: what a logger prints, not a metric
        if key in NOT_RESULTS or (isinstance(key, str) and key.endswith(TIMING_SUFFIXES)):
            continue
        (counters if key in COUNTERS else metrics)[key] = value
    return metrics, counters


class FrameworkRun:
    """The gerhard run of one framework object: started from its settings on first use, or the run given."""

    def __init__(
        self,
        framework: str,
        name: str | None,
        phase: str | None,
        run: Run | None,
        finish: bool,
        summary: str,
        next_action: str,
        start_run_kwargs: dict[str, Any],
        allow_missing: bool = False,
    ) -> None:
        if run is None and (not name or not phase):
            raise UserError(f"{framework}: pass name= and phase= (the run to start), or run= a started gerhard run")
        if run is not None and (name or phase or start_run_kwargs):
            given = ", ".join([*(k for k, v in (("name", name), ("phase", phase)) if v), *start_run_kwargs])
            raise UserError(f"{framework}: run= is started already: {given} would be ignored; pass run= alone")
        self.framework, self.name, self.phase = framework, name, phase
        self.run, self.finish_at_end = run, finish
        self.given = run is not None  # a run started by the user keeps its config
        self.summary, self.next_action = summary, next_action
        self.allow_missing = allow_missing  # finish(allow_missing=): register a run that lacks a gated value
        self.start_run_kwargs = start_run_kwargs
        self.result: FinishResult | None = None
        self._warned = False

    def start(self, config: Any, seed: int | None) -> Run:
        """The run, started now (seeded, config.yaml written) if it was not given or started before."""
        if self.run is None:
            assert self.name is not None and self.phase is not None
            self.run = start_run(self.name, self.phase, config, seed, **self.start_run_kwargs)
        return self.run

    def live(self) -> Run | None:
        """The run while it takes logs; None once finished (said once: a later evaluate() is not recorded)."""
        run = self.run
        if run is not None and (run.finished is not None or run.failed is not None):
            if not self._warned:
                print(
                    f"gerhard: run {run.run_id} is finished: {self.framework} logs after it are not recorded",
                    file=sys.stderr,
                )
                self._warned = True
            return None
        return run

    def log(self, values: Mapping[str, Any], step: int | None) -> None:
        run = self.live()
        if run is None:
            return
        metrics, counters = split_row(values)
        if metrics or counters:
            run.log_metrics(metrics, step, counters=counters)

    def end(self) -> FinishResult | None:
        """finish() when asked (finish=True), else save the history now; the result is kept as .result."""
        run = self.live()
        if run is None:
            return self.result
        if self.finish_at_end:
            self.result = run.finish(
                summary=self.summary, next_action=self.next_action, allow_missing=self.allow_missing
            )
        else:
            run.flush()
        return self.result
