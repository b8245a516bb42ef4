"""Where runs are born: `gerhard.start_run(...)` in a notebook or script, finish() at the end.

    with gerhard.start_run(name="v15", phase="B", config=cfg, seed=1234) as run:
        run.log_metrics({"train_loss": 0.41, "lr": 3e-4}, step=10)
        run.log_eval("arc_easy", score=0.71, passed=True)
        run.save_artifact("v15_spikingbrain.json", obj)
        run.finish(summary="...", next_action="...")

The run folder is outputs/<run_id>/ of the registry when one is at hand (registered in place), else
<output_root>/<run_id>/. While the run is live, its history is kept in memory and a background thread
flushes it to <folder>/.gerhard-run/ every flush_seconds (5) and at exit (nothing is written per call;
capture.flusher), so a runtime that dies mid-training, even killed after a long idle stretch, leaves its
history up to the last flush: `gerhard.resume_run(folder).finish()` (or `gerhard finish FOLDER`) completes it
later. finish() checks everything before it writes a bundle file, writes the bundle, builds the dossier,
registers the run when it can, and offers the dossier for download. When registration is impossible, nothing
is lost: it prints the command for later. Integrations (gerhard.integrations) log through the same calls:
counters= (epoch) are x-axes kept out of the final metrics, log_final records a run's totals, and
metric_aliases rename a framework's metric names to the gates' as they are logged.
"""

from __future__ import annotations

import json
import math
import operator
import os
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from gerhard import layout
from gerhard.capture import finish as capture_finish
from gerhard.capture import provenance
from gerhard.capture.evals import Threshold, lm_eval_tasks
from gerhard.capture.flusher import Flusher
from gerhard.capture.gatewatch import close_warnings, gated_metrics, start_lines
from gerhard.capture.seeding import resolve_seed, seed_everything
from gerhard.capture.state import FinishResult, RunSnapshot, default_run_id, registry_for_run
from gerhard.capture.values import check_aliases, check_new_metric, config_bytes, json_bytes, plain_number
from gerhard.errors import UserError
from gerhard.files import TMP_SUFFIX, atomic_write
from gerhard.formats import schemas
from gerhard.registry import store
from gerhard.registry.bundle import check_bundle_names, check_run_id
from gerhard.registry.pending_runs import ignore_pending

WORK_DIR = ".gerhard-run"  # live state of an unfinished run, inside the run folder
HISTORY = "history.jsonl"
STATE = "state.json"
FINAL = "final.json"  # log_final's values
FAILED = "FAILED"
FLUSH_SECONDS = 5.0
BUILT_IN = ("metrics.json", "eval_suite.json", "config.yaml", "seed.txt", "provenance.json")


class Run:
    """A live run. Made by `start_run` (or `resume_run`); see the module docstring."""

    def __init__(
        self,
        *,
        name: str,
        phase: str,
        run_id: str,
        folder: Path,
        registry: Path | None,
        seed: int,
        suite: str,
        register: bool,
        dossier: bool,
        download: bool,
        started_at: str,
        flush_seconds: float = FLUSH_SECONDS,
        metric_aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.name, self.phase, self.run_id, self.folder = name, phase, run_id, folder
        self.registry, self.seed, self.suite = registry, seed, suite
        self._register, self._dossier, self._download = register, dossier, download
        self.started_at = started_at
        self._t0 = time.monotonic()
        self.history: list[dict[str, Any]] = []
        self._flushed = 0  # rows of history already in history.jsonl
        self._names: set[str] = set()
        self._last_step = -1
        self._nonfinite: dict[str, int] = {}  # metric -> first step with NaN or inf
        self.evals: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []
        self.resumed = False
        self.seed_source = "given"  # "random": no seed= was passed (provenance.json says so)
        self.force = False  # register even if the phase is not open yet (start_run(force=True))
        self.finished: FinishResult | None = None
        self.failed: str | None = None
        self._flush_every = flush_seconds  # 0: every log_metrics call writes (no thread)
        self._flusher: Flusher | None = None
        self._lock = threading.Lock()  # the history and _flushed: log_metrics against the flusher
        self._write_lock = threading.Lock()  # one flush at a time, rows in order
        self._aliases = dict(metric_aliases or {})
        self._counters: set[str] = set()  # names logged as counters= (x-axes such as epoch): not final metrics
        self._final: dict[str, Any] = {}  # log_final's values
        self._gated: dict[str, str] = {}  # gated metric -> its gate (start_run: watched for close names)
        self._unsure: list[str] = []  # names logged for the first time, not yet compared with the gated ones

    # -- the with block ------------------------------------------------------------------------------

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None:
            if self.finished is None:
                print(f"gerhard: run {self.run_id} left its with block without finish(): finishing it", file=sys.stderr)
                self.finish()
            return False
        self.fail(exc)
        return False  # the exception goes on: the cell shows it

    def fail(self, exc: BaseException) -> None:
        """Keep what was logged, mark the run failed; it is never registered."""
        if self.finished is not None:
            return
        what = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
        self.failed = what
        try:
            self.flush()
            (self.folder / WORK_DIR / FAILED).write_text(what + "\n", encoding="utf-8")
        except OSError:
            pass
        self._stop_flusher()
        print(
            f"gerhard: run {self.run_id} failed ({what}); it is not registered. What was logged is in "
            f"{self.folder / WORK_DIR}",
            file=sys.stderr,
        )

    # -- logging ---------------------------------------------------------------------------------------

    def _check_live(self, call: str) -> None:
        if self.finished is not None:
            raise UserError(f"{call}: run {self.run_id} is finished: start a new run with gerhard.start_run")

    def _new_name(self, key: Any) -> None:
        self._names.add(check_new_metric(key, "log_metrics"))
        if self._gated:
            self._unsure.append(key)

    def _watch_names(self) -> None:
        """Warn of a name just logged that is close to a gated one not logged (once: each name is new once)."""
        with self._lock:
            names, self._unsure = self._unsure, []
            logged = frozenset(self._names)
        for line in close_warnings(self.run_id, names, self._gated, logged):
            print(line, file=sys.stderr)

    def log_metrics(
        self, metrics: dict[str, Any], step: int | None = None, *, counters: Mapping[str, Any] | None = None
    ) -> None:
        """Record one row of the per-step history; counters= are the row's x-axes (epoch, tokens seen), kept out
        of the final metrics. Nothing is written here: a background thread flushes every flush_seconds."""
        if self.finished is not None:
            self._check_live("log_metrics")
        with self._lock:
            if type(step) is not int or step < self._last_step or step < 0:  # the common case passes as it is
                step = self._next_step(step)
            if not isinstance(metrics, dict):
                raise UserError(f"log_metrics: pass a dict of name -> number, not a {type(metrics).__name__}")
            nonfinite: list[str] = []  # remembered once the whole row is accepted
            row = self._row(metrics, nonfinite)
            if counters:
                counted = self._row(counters, nonfinite)
                row.update(counted)
                if not self._counters.issuperset(counted):
                    self._counters.update(counted)
                    self._save_state()  # a resumed run must know them too
            for key in nonfinite:
                self._nonfinite.setdefault(key, step)
            if step == self._last_step and self.history:
                self.history[-1].update(row)
                self._flushed = min(self._flushed, len(self.history) - 1)
            else:
                row["step"] = step
                self.history.append(row)
                self._last_step = step
        if self._unsure:
            self._watch_names()
        if self._flush_every <= 0:
            self.flush()

    def _next_step(self, step: Any) -> int:
        if step is None:
            return self._last_step + 1
        if type(step) is not int:
            try:  # numpy and torch integers too (a loop over np.arange), not bools or floats
                if isinstance(step, bool):
                    raise TypeError
                step = operator.index(step)
            except TypeError:
                raise UserError(f"log_metrics: step={step!r} is not a whole number: pass step=<int>") from None
        if step < 0:
            raise UserError(f"log_metrics: step={step} is negative: count steps from 0")
        if step < self._last_step:
            raise UserError(f"log_metrics: step {step} after step {self._last_step}: steps must not go back")
        return step

    def _row(self, values: Mapping[str, Any], nonfinite: list[str]) -> dict[str, Any]:
        names, aliases = self._names, self._aliases
        row: dict[str, Any] = {}
        for key, value in values.items():
            if aliases:
                key = aliases.get(key, key)
            if key not in names:
                self._new_name(key)
            t = type(value)
            if t is not float and t is not int:
                value = plain_number(value, f"log_metrics: {key}")
            if value != value or value in (math.inf, -math.inf):
                nonfinite.append(key)
                value = None
            row[key] = value
        return row

    def log_final(self, metrics: dict[str, Any]) -> None:
        """Record final metrics that are no step's (a run's totals: HF Trainer's train_loss over the run); they
        join the last value of every history metric in metrics.json's final (finish(final=...) replaces all)."""
        self._check_live("log_final")
        if not isinstance(metrics, dict):
            raise UserError(f"log_final: pass a dict of name -> number, not a {type(metrics).__name__}")
        values: dict[str, Any] = {}
        for key, value in metrics.items():
            name = self._aliases.get(key, key) if isinstance(key, str) else key
            if name not in self._names:
                self._new_name(name)
            number = plain_number(value, f"log_final: {name}")
            if not math.isfinite(number):
                raise UserError(f"log_final: {name} is {number}: log a finite number")
            values[name] = number
        self._final.update(values)
        self._write_work(FINAL, json_bytes(self._final, "log_final"))
        if self._unsure:
            self._watch_names()

    def log_eval(
        self, task: str, score: float | None, passed: bool | None = None, threshold: float | None = None
    ) -> None:
        """Record one eval-suite task: its score and whether it passed (or a threshold it must reach)."""
        self._check_live("log_eval")
        if not isinstance(task, str) or not task.strip():
            raise UserError(f"log_eval: task {task!r} is not a name: pass the task's name as text")
        if task in self.evals:
            raise UserError(f"log_eval: task {task!r} was logged already in this run: log each task once")
        if score is not None:
            score = plain_number(score, f"log_eval({task!r}): score")
            if not math.isfinite(score):
                raise UserError(
                    f"log_eval({task!r}): score is {score}: log a finite score (None if the task did not run)"
                )
        if threshold is not None:
            threshold = plain_number(threshold, f"log_eval({task!r}): threshold")
        if passed is None:
            if threshold is None:
                raise UserError(f"log_eval({task!r}): give passed=True/False or threshold= the score must reach")
            passed = score is not None and score >= threshold
        elif not isinstance(passed, bool):
            raise UserError(f"log_eval({task!r}): passed={passed!r} is not True or False")
        entry: dict[str, Any] = {"name": task, "score": score, "passed": passed}
        if threshold is not None:
            entry["threshold"] = threshold
        self.evals[task] = entry
        self._write_work("evals.json", json_bytes(list(self.evals.values()), "log_eval"))

    def log_lm_eval(
        self, results: Mapping[str, Any] | Path | str, threshold: Threshold = None, metric: str | None = None
    ) -> None:
        """Record lm-evaluation-harness results as eval tasks: its results dict (simple_evaluate's), a
        results_<timestamp>.json, or lm_eval's --output_path folder (the newest results in it). A task passes
        when its score reaches threshold= (a number, or {task: number, "*": every other task}), else the phase's
        eval_thresholds in state/program.yaml; metric= picks the score ("acc", "exact_match,strict-match")."""
        self._check_live("log_lm_eval")
        program = self._program()
        marks = program.phase(self.phase).eval_thresholds if program is not None else {}
        tasks = lm_eval_tasks(results, threshold, metric, marks, self.phase)
        for task in tasks:
            if task["name"] in self.evals:
                name = task["name"]
                raise UserError(f"log_lm_eval: task {name!r} was logged already in this run: log each task once")
        self.evals.update((task["name"], task) for task in tasks)
        self._write_work("evals.json", json_bytes(list(self.evals.values()), "log_lm_eval"))

    def set_config(self, config: Any) -> None:
        """Replace config.yaml (start_run wrote config=): for settings known only once the run has started
        (a Lightning module's hyperparameters)."""
        self._check_live("set_config")
        atomic_write(self.folder / "config.yaml", config_bytes(config))

    def save_artifact(self, name: str, obj: Any) -> Path:
        """Write a JSON artifact (the phase artifact, e.g. v15_spikingbrain.json), checked against its schema now."""
        self._check_live("save_artifact")
        if not isinstance(name, str) or not name.endswith(".json") or "/" in name or "\\" in name:
            raise UserError(f"save_artifact: {name!r} is not a .json file name: use save_file for other files")
        if name in BUILT_IN:
            raise UserError(f"save_artifact: {name} is written by finish() (log_metrics, log_eval, config=, seed=)")
        check_bundle_names([name], "save_artifact:")
        program = self._program()
        if program is not None:
            declared = set(program.artifact_schemas) | {n for p in program.phases for n in p.required}
            if name not in declared:
                known = ", ".join(sorted(declared - set(BUILT_IN) - {"MANIFEST"})) or "none"
                raise UserError(
                    f"save_artifact: {name} is not an artifact of state/program.yaml (it declares {known}): "
                    "check the name, or save other files with run.save_file"
                )
        data = json_bytes(obj, f"save_artifact({name!r})")
        parsed = json.loads(data)
        schema = program.schema_for(name) if program is not None else None
        if schema is not None:
            schemas.validate(parsed, schema, f"save_artifact({name!r})", self.registry)

        atomic_write(self.folder / name, data)
        return self.folder / name

    def save_file(self, path: Path | str, name: str | None = None) -> Path:
        """Copy a file (a checkpoint, a plot) into the run's bundle."""
        self._check_live("save_file")
        src = Path(path)
        if src.is_symlink():  # a link can lead anywhere (~/.bashrc): a bundle holds only files saved as such
            raise UserError(f"save_file: {src} is a symbolic link: pass the file it points to, if that is meant")
        if not src.is_file():
            raise UserError(f"save_file: {src} is not a file")
        target = name or src.name
        if target in BUILT_IN or target == "MANIFEST":
            raise UserError(f"save_file: {target} is written by gerhard: save under another name")
        check_bundle_names([target], "save_file:")
        dest = self.folder / target
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.parent.resolve().is_relative_to(self.folder.resolve()):
            raise UserError(f"save_file: {dest.parent} is a symbolic link out of the run folder: remove it")
        if src.resolve() != dest.resolve():
            tmp = dest.with_name(f".{dest.name}{TMP_SUFFIX}")
            shutil.copyfile(src, tmp, follow_symlinks=False)
            os.replace(tmp, dest)
        return dest

    # -- live state ------------------------------------------------------------------------------------

    def _write_work(self, name: str, data: bytes) -> None:

        work = self.folder / WORK_DIR
        work.mkdir(parents=True, exist_ok=True)
        atomic_write(work / name, data)

    def flush(self) -> None:
        """Append the history rows not yet on disk to .gerhard-run/history.jsonl (timer, exit and finish call it)."""
        with self._write_lock:
            with self._lock:  # the rows taken as they stand; a row merged into after this is written again
                start = self._flushed
                text = "".join(json.dumps(row) + "\n" for row in self.history[start:])
                self._flushed = len(self.history)
            if not text:
                return
            try:
                work = self.folder / WORK_DIR
                work.mkdir(parents=True, exist_ok=True)
                with open(work / HISTORY, "a", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
            except BaseException:
                with self._lock:
                    self._flushed = min(self._flushed, start)  # not on disk: the next flush tries again
                raise

    def _start_flusher(self) -> None:
        if self._flush_every > 0 and self._flusher is None:
            self._flusher = Flusher(self, self._flush_every)

    def _stop_flusher(self) -> None:
        if self._flusher is not None:
            self._flusher.stop()
            self._flusher = None

    def _save_state(self) -> None:
        data = {
            "name": self.name,
            "phase": self.phase,
            "run_id": self.run_id,
            "seed": self.seed,
            "seed_source": self.seed_source,
            "suite": self.suite,
            "registry": str(self.registry) if self.registry else None,
            "started_at": self.started_at,
            "notes": self.notes,
            "execution": self._start_order,
            "force": self.force,
            "metric_aliases": self._aliases,
            "counters": sorted(self._counters),
        }
        self._write_work(STATE, json_bytes(data, "state"))

    _start_order: dict[str, Any] = {}

    def _program(self) -> Any:
        if self.registry is None:
            return None
        return store.load_program(self.registry)

    # -- finish ----------------------------------------------------------------------------------------

    def finish(
        self,
        summary: str = "",
        next_action: str = "",
        final: dict[str, Any] | None = None,
        allow_nonfinite: bool = False,
        allow_missing: bool = False,
    ) -> FinishResult:
        """Check, write the bundle, build the dossier, register the run (when a registry is at hand), offer
        the dossier for download. Bad input raises a one-line gerhard.UserError before anything is written;
        so does a gated metric the run lacks while it logged a close name (a typo), unless allow_missing=True,
        which registers the run with that gate failed."""
        if self.finished is not None:
            raise UserError(f"finish(): run {self.run_id} was finished already: start a new run for another result")
        if self.failed is not None:
            raise UserError(f"finish(): run {self.run_id} failed ({self.failed}): it is not registered")
        snapshot = self.snapshot()
        files = capture_finish.bundle_files(snapshot, summary, next_action, final, allow_nonfinite, allow_missing)

        for name, data in files.items():
            atomic_write(self.folder / name, data)
        self._stop_flusher()
        self.flush()
        shutil.rmtree(self.folder / WORK_DIR, ignore_errors=True)  # all of it is in the bundle now
        result = capture_finish.register_and_report(snapshot, summary, next_action, allow_missing)
        self.finished = result
        return result

    def register_command(self, summary: str, next_action: str) -> str:
        """The command that registers this run later (finish() prints it when it could not)."""
        return capture_finish.register_command(self.snapshot(), summary, next_action)

    def snapshot(self) -> RunSnapshot:
        """The run as it stands now, frozen: what finish() works on."""
        with self._lock:
            history = tuple(dict(row) for row in self.history)
        return RunSnapshot(
            run_id=self.run_id,
            name=self.name,
            phase=self.phase,
            folder=self.folder,
            registry=self.registry,
            program=self._program(),
            seed=self.seed,
            seed_source=self.seed_source,
            suite=self.suite,
            started_at=self.started_at,
            history=history,
            evals=tuple(self.evals.values()),
            names=frozenset(self._names),
            nonfinite=dict(self._nonfinite),
            notes=tuple(self.notes),
            start_order=dict(self._start_order),
            elapsed_s=None if self.resumed else round(time.monotonic() - self._t0, 3),
            resumed=self.resumed,
            force=self.force,
            register=self._register,
            dossier=self._dossier,
            download=self._download,
            counters=frozenset(self._counters),
            final=dict(self._final),
            aliases=dict(self._aliases),
        )


def start_run(
    name: str,
    phase: str,
    config: Any = None,
    seed: int | None = None,
    *,
    run_id: str | None = None,
    repo_root: Path | str | None = None,
    output_root: Path | str | None = None,
    suite: str | None = None,
    register: bool = True,
    dossier: bool = True,
    download: bool = True,
    force: bool = False,
    flush_seconds: float = FLUSH_SECONDS,
    metric_aliases: Mapping[str, str] | None = None,
) -> Run:
    """Start a run: seed everything, write seed.txt and config.yaml into its folder, return the Run.

    The folder is <registry>/outputs/<run_id>/ when a registry is at hand (repo_root=, $GERHARD_REPO, or
    the repository around the working directory), else <output_root>/<run_id>/ ($GERHARD_OUTPUT_ROOT,
    default ./gerhard_runs). run_id defaults to YYYYMMDDTHHMMSSZ_<name> (UTC). force=True registers the
    run even if its phase is not open yet (as `gerhard register --force`). flush_seconds: how often the history
    is saved (0: at every log_metrics call). metric_aliases={"eval_loss": "val_loss"} renames metrics as they are
    logged, on top of state/program.yaml's metric_aliases.
    """
    if not isinstance(name, str) or not name:
        raise UserError(f'start_run: name={name!r}: give the run a short name, e.g. name="v15"')
    run_id = check_run_id(run_id if run_id is not None else default_run_id(name))
    # output_root= alone means: no registry (not even the one around the working directory).
    registry = registry_for_run(repo_root) if repo_root is not None or output_root is None else None
    aliases = check_aliases(metric_aliases)
    gated: dict[str, str] = {}
    if registry is not None:
        program = store.load_program(registry)
        gated = gated_metrics(program, phase)  # refuses an unknown phase, naming the known ones
        aliases = {**program.metric_aliases, **aliases}
        folder = registry / layout.run_dir(run_id)
        if store.read_record(registry, run_id) is not None:
            raise UserError(f"start_run: run {run_id} is registered already: pass another run_id= (or name)")
    else:
        if not isinstance(phase, str) or not phase:
            raise UserError(f"start_run: phase={phase!r}: give the program phase this run is for")
        base = output_root if output_root is not None else os.environ.get("GERHARD_OUTPUT_ROOT") or "gerhard_runs"
        folder = Path(base).expanduser().resolve() / run_id
    if folder.exists() and any(p.name != WORK_DIR for p in folder.iterdir()):
        raise UserError(f"start_run: {folder} exists and is not empty: pass another run_id= or move that folder away")
    seed_source = "random" if seed is None else "given"
    seed = resolve_seed(seed)
    config_data = config_bytes(config)
    folder.mkdir(parents=True, exist_ok=True)
    notes = seed_everything(seed)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = Run(
        name=name,
        phase=phase,
        run_id=run_id,
        folder=folder,
        registry=registry,
        seed=seed,
        suite=suite or f"phase-{phase}",
        register=register,
        dossier=dossier,
        download=download,
        started_at=started,
        flush_seconds=flush_seconds,
        metric_aliases=aliases,
    )
    run.notes = notes
    run.force = force
    run.seed_source = seed_source
    run._gated = gated
    atomic_write(folder / "seed.txt", f"{seed}\n".encode())
    atomic_write(folder / "config.yaml", config_data)
    order = provenance.execution_order()
    run._start_order = order.as_dict()
    run._save_state()
    if registry is not None:  # out of `git add -A` until registered (gerhard.registry.pending_runs)
        ignore_pending(folder)
    run._start_flusher()
    if seed_source == "random":
        print(
            f"gerhard: WARNING: no seed= given: run {run_id} is seeded with {seed}, drawn at random (in seed.txt, "
            "and provenance.json says seed_source: random); pass seed= to choose it",
            file=sys.stderr,
        )
    told, warnings = start_lines(phase, gated, aliases)
    if told:
        print(told, file=sys.stderr)
    for line in warnings:
        print(line, file=sys.stderr)
    if not order.ok:
        print(
            f"gerhard: WARNING: this kernel did not run the notebook top to bottom ({'; '.join(order.problems)}): "
            "restart the kernel and run all cells, or the run will fail its clean-execution gate",
            file=sys.stderr,
        )
    return run


def resume_run(folder: Path | str, *, register: bool = True, dossier: bool = True, download: bool = True) -> Run:
    """A run that was not finished (the runtime died, or the with block raised), from what its folder holds:
    its history up to the last flush, its evals and artifacts. Call finish() on it to complete it."""
    folder = Path(folder).expanduser().resolve()
    work = folder / WORK_DIR
    try:
        meta = json.loads((work / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(f"resume_run: {folder} holds no unfinished run ({WORK_DIR}/{STATE} is missing)") from None
    registry = Path(meta["registry"]) if meta.get("registry") else None
    run = Run(
        name=meta["name"],
        phase=meta["phase"],
        run_id=meta["run_id"],
        folder=folder,
        registry=registry,
        seed=int(meta["seed"]),
        suite=meta.get("suite") or f"{meta['name']}-eval",
        register=register,
        dossier=dossier,
        download=download,
        started_at=meta.get("started_at", ""),
    )
    run.resumed = True
    run.seed_source = str(meta.get("seed_source") or "given")
    run.notes = list(meta.get("notes", []))
    run._start_order = dict(meta.get("execution") or {})
    run.force = bool(meta.get("force"))
    if (work / FAILED).is_file():
        # The marker stays until finish() succeeds (it removes the work folder): a refused finish changes nothing.
        print(f"gerhard: run {run.run_id} had failed ({(work / FAILED).read_text().strip()}): finishing what it logged")
    if (work / HISTORY).is_file():
        for line in (work / HISTORY).read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                break  # a line cut by the crash: the rows before it are whole
            run.log_metrics({k: v if v is not None else math.nan for k, v in row.items() if k != "step"}, row["step"])
        run._flushed = len(run.history)
    if (work / "evals.json").is_file():
        for e in json.loads((work / "evals.json").read_text(encoding="utf-8")):
            run.evals[e["name"]] = e
    if (work / FINAL).is_file():
        run._final = dict(json.loads((work / FINAL).read_text(encoding="utf-8")))
    run._counters = set(meta.get("counters") or [])
    run._aliases = dict(meta.get("metric_aliases") or {})  # after the replay: its rows carry the new names
    run._start_flusher()
    return run
