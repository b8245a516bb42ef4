"""A HF Trainer run as a gerhard run: add one callback, nothing else.

    from gerhard.integrations.transformers import GerhardCallback

    trainer = Trainer(model, args, train_dataset=..., eval_dataset=...,
                      callbacks=[GerhardCallback(name="tiny-gpt2", phase="A", finish=True)])
    trainer.train()   # the run started, its history logged, finished: bundle, dossier, registration

- on_train_begin starts the run (gerhard.start_run): config.yaml is the TrainingArguments (to_dict(), which
  hides tokens; config= adds to or overrides it), the seed is args.seed.
- on_log: every row is a history row at state.global_step, its epoch a counter; timings and total_flos are left
  out (common.py). The row Trainer.train() logs last (train_runtime, train_loss over the run) gives final
  metrics, not a step (log_final), as `gerhard convert hf` does.
- on_evaluate: the evaluation's metrics (eval_loss, ...) as history at the step they were taken.
- on_train_end: finish(summary, next_action) when finish=True, else the history is saved and you call
  callback.run.finish(...) yourself (after trainer.evaluate(), run.log_lm_eval(...), run.save_artifact(...)).

metric_aliases={"eval_loss": "val_loss"} (or metric_aliases: in state/program.yaml) lets a gate on
final.val_loss read HF's eval_loss. Only the main process logs (state.is_world_process_zero).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from gerhard.capture.convert import HF_SUMMARY_KEY, plain_data
from gerhard.capture.run import Run
from gerhard.capture.state import FinishResult
from gerhard.integrations.common import FrameworkRun, split_row


class GerhardCallback(TrainerCallback):
    """Logs a HF Trainer run into a gerhard run; see the module docstring."""

    def __init__(
        self,
        name: str | None = None,
        phase: str | None = None,
        *,
        run: Run | None = None,
        config: Mapping[str, Any] | None = None,
        finish: bool = False,
        summary: str = "",
        next_action: str = "",
        allow_missing: bool = False,
        **start_run_kwargs: Any,
    ) -> None:
        """name, phase and start_run_kwargs (repo_root=, run_id=, metric_aliases=, ...) go to gerhard.start_run
        at on_train_begin; or pass run= a run you started. With finish=True, allow_missing=True goes to finish(): a
        run missing a gated value while it logged a close name (most often a typo) is registered, that gate failed,
        instead of refused."""
        self._run = FrameworkRun(
            "GerhardCallback", name, phase, run, finish, summary, next_action, start_run_kwargs, allow_missing
        )
        self._config = dict(config or {})

    @property
    def run(self) -> Run | None:
        """The gerhard run (None before on_train_begin when the callback starts it)."""
        return self._run.run

    @property
    def result(self) -> FinishResult | None:
        """What finish() returned, when the callback finished the run."""
        return self._run.result

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero:
            config = {**plain_data(args.to_dict(), "TrainingArguments"), **self._config}
            self._run.start(config, args.seed)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        if HF_SUMMARY_KEY in logs:  # the run's totals, logged once at the end of train()
            run = self._run.live()
            totals = split_row(logs)[0]
            if run is not None and totals:
                run.log_final(totals)
            return
        self._run.log(logs, state.global_step)

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if state.is_world_process_zero and metrics:
            self._run.log(metrics, state.global_step)  # on_log had them too: the same row, merged

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero:
            self._run.end()
