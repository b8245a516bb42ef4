"""A Lightning run as a gerhard run: pass one logger, nothing else.

    from gerhard.integrations.lightning import GerhardLogger

    trainer = L.Trainer(max_epochs=3, logger=GerhardLogger(name="tiny-mlp", phase="A", finish=True))
    trainer.fit(model, train_loader, val_loader)   # the run started, logged, finished: bundle, dossier, registration

- The run starts when Lightning starts fitting (log_hyperparams, then log_graph, before the first batch), or at
  the first metrics: gerhard.start_run with the module's hyperparameters (save_hyperparameters()) and config=
  as config.yaml, the seed given, else Lightning's (seed_everything sets PL_GLOBAL_SEED). A run= you started
  keeps its own config.
- log_metrics: exactly the metrics Lightning hands over, at its step; a validation metric only in the rows of the
  steps it was logged at (never repeated on later batches); the epoch Lightning adds is a counter.
- finalize("success") calls finish(summary, next_action) when finish=True, else saves the history (then call
  logger.run.finish(...) yourself); finalize("failed") saves the history: `gerhard finish FOLDER` completes it.

metric_aliases={"val/loss": "val_loss"} (or metric_aliases: in state/program.yaml) lets a gate on final.val_loss
read another name. Lightning calls these on the main process only (rank_zero_only).
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

from gerhard.capture.convert import plain_data
from gerhard.capture.run import Run
from gerhard.capture.state import FinishResult
from gerhard.integrations.common import FrameworkRun


class GerhardLogger(Logger):
    """Logs a Lightning run into a gerhard run; see the module docstring."""

    def __init__(
        self,
        name: str | None = None,
        phase: str | None = None,
        *,
        run: Run | None = None,
        config: Mapping[str, Any] | None = None,
        seed: int | None = None,
        finish: bool = False,
        summary: str = "",
        next_action: str = "",
        allow_missing: bool = False,
        **start_run_kwargs: Any,
    ) -> None:
        """name, phase and start_run_kwargs (repo_root=, run_id=, metric_aliases=, ...) go to gerhard.start_run
        when fitting starts; or pass run= a run you started. With finish=True, allow_missing=True goes to finish(): a
        run missing a gated value while it logged a close name (most often a typo) is registered, that gate failed,
        instead of refused."""
        super().__init__()
        self._run = FrameworkRun(
            "GerhardLogger", name, phase, run, finish, summary, next_action, start_run_kwargs, allow_missing
        )
        self._config = dict(config or {})
        self._hparams: dict[str, Any] = {}
        self._seed = seed

    @property
    def name(self) -> str:
        return "gerhard"

    @property
    def version(self) -> str | None:
        run = self._run.run
        return run.run_id if run is not None else None

    @property
    def run(self) -> Run | None:
        """The gerhard run (None until fitting starts, when the logger starts it)."""
        return self._run.run

    @property
    def result(self) -> FinishResult | None:
        """What finish() returned, when the logger finished the run."""
        return self._run.result

    def _config_now(self) -> dict[str, Any]:
        return {**self._hparams, **self._config}

    def _started(self) -> Run:
        seed = self._seed
        if seed is None and os.environ.get("PL_GLOBAL_SEED", "").isdigit():
            seed = int(os.environ["PL_GLOBAL_SEED"])
        return self._run.start(self._config_now(), seed)

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        values = vars(params) if isinstance(params, Namespace) else dict(params)
        self._hparams.update(plain_data(values, "log_hyperparams"))
        run = self._run.live()
        if run is not None and not self._run.given:  # a second fit, a test after fit: config.yaml follows
            run.set_config(self._config_now())

    @rank_zero_only
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        self._started()  # Lightning calls this once fitting starts, after log_hyperparams

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._started()
        self._run.log(metrics, None if step is None else int(step))

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._run.run is None:
            return
        if status == "success":
            self._run.end()
        else:
            live = self._run.live()
            if live is not None:
                live.flush()
