"""Where runs are born: `gerhard.start_run(...)` in a notebook or script, finish() at the end.

    with gerhard.start_run(name="v15", phase="B", config=cfg, seed=1234) as run:
        run.log_metrics({"train_loss": 0.41, "lr": 3e-4}, step=10)
        run.log_eval("arc_easy", score=0.71, passed=True)
        run.save_artifact("v15_spikingbrain.json", obj)
        run.finish(summary="...", next_action="...")

The run folder is outputs/<run_id>/ of the registry when one is at hand (registered in place), else
<output_root>/<run_id>/. While the run is live, its history is kept in memory and flushed to
<folder>/.gerhard-run/ every few seconds (nothing is written per call), so a runtime that dies
mid-training leaves its history up to the last flush: `gerhard.resume_run(folder).finish()` (or
`gerhard finish FOLDER`) completes it later. finish() checks everything before it writes a bundle
file, writes the bundle, builds the dossier, registers the run when it can, and offers the dossier
for download. When registration is impossible, nothing is lost: it prints the command for later.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import os
import random
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from gerhard.errors import UserError

WORK_DIR = ".gerhard-run"  # live state of an unfinished run, inside the run folder
HISTORY = "history.jsonl"
STATE = "state.json"
FAILED = "FAILED"
FLUSH_SECONDS = 5.0
BUILT_IN = ("metrics.json", "eval_suite.json", "config.yaml", "seed.txt", "provenance.json")


@dataclass
class FinishResult:
    run_id: str
    folder: Path
    dossier: Path | None
    registered: bool
    verdict: str | None
    register_command: str
    message: str = ""  # why it was not registered, when it was not

    def __str__(self) -> str:
        lines = [f"run {self.run_id}: {self.verdict or 'not evaluated'}", f"  bundle: {self.folder}"]
        if self.dossier:
            lines.append(f"  dossier: {self.dossier}")
        if not self.registered:
            lines.append(f"  not registered{': ' + self.message if self.message else ''}")
            lines.append(f"  register it later with: {self.register_command}")
        return "\n".join(lines)


def default_run_id(name: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}_{name}"


def find_registry(repo_root: Path | str | None) -> Path | None:
    """repo_root, else $GERHARD_REPO, else the folder at or above the working directory with state/program.yaml."""
    from gerhard import dossier, state

    given = repo_root if repo_root is not None else os.environ.get("GERHARD_REPO") or None
    if given is not None:
        root = Path(given).expanduser().resolve()
        if not (root / state.PROGRAM).is_file():
            raise UserError(
                f"no {state.PROGRAM} in {root}: pass repo_root= a gerhard registry (gerhard init makes one)"
            )
        return root
    return dossier.find_registry(Path.cwd())


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _number(value: Any, what: str) -> float | int:
    """A metric value as a Python number (numpy and 0-d torch scalars accepted)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        raise UserError(f"{what} is {value!r} ({type(value).__name__}): log a number")
    if isinstance(value, (int, float)):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            out = item()
        except (TypeError, ValueError, RuntimeError):
            out = None
        if isinstance(out, (int, float)) and not isinstance(out, bool):
            return out
    raise UserError(f"{what} is a {type(value).__name__}: log a number (for a tensor, .item())")


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError, RuntimeError):
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"a value of type {type(value).__name__} cannot be written as JSON")


def _dumps(data: Any, where: str) -> bytes:
    try:
        return (json.dumps(data, indent=1, allow_nan=True, default=_json_default) + "\n").encode()
    except (TypeError, ValueError) as e:
        raise UserError(f"{where}: {e}: save plain numbers, text, lists and dicts") from None


def seed_everything(seed: int) -> list[str]:
    """Seed random, NumPy and torch (CPU and CUDA); make torch deterministic where it can. Returns notes
    on what could not be made deterministic."""
    notes: list[str] = []
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed % 2**32)
    except ImportError:
        pass
    if os.environ.get("PYTHONHASHSEED") is None:
        notes.append("PYTHONHASHSEED is not set: the order of sets of strings can differ between processes")
    torch = sys.modules.get("torch")
    if torch is None:
        import importlib.util

        if importlib.util.find_spec("torch") is not None:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            import torch
    if torch is None:
        return notes
    torch.manual_seed(seed)  # seeds CUDA as well
    if os.environ.get("CUBLAS_WORKSPACE_CONFIG") is None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            notes.append(
                "CUDA was initialised before start_run: cuBLAS may not be deterministic "
                "(set CUBLAS_WORKSPACE_CONFIG=:4096:8 before importing torch)"
            )
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
    except Exception as e:  # an old torch
        notes.append(f"torch.use_deterministic_algorithms failed: {e}")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return notes


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
        self.artifacts: list[str] = []
        self.files: list[str] = []
        self.notes: list[str] = []
        self.resumed = False
        self.force = False  # register even if the phase is not open yet (start_run(force=True))
        self.finished: FinishResult | None = None
        self.failed: str | None = None
        self._flush_every = flush_seconds
        self._next_flush = time.monotonic() + flush_seconds

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
        from gerhard.convert import check_metric_name

        if not isinstance(key, str) or key == "step":
            raise UserError(f"log_metrics: {key!r} is not a metric name: use text such as 'val_loss' (not 'step')")
        check_metric_name(key, "log_metrics")
        self._names.add(key)

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Record one row of the per-step history. Nothing is written here; rows are flushed every few seconds."""
        if self.finished is not None:
            self._check_live("log_metrics")
        if step is None:
            step = self._last_step + 1
        elif type(step) is not int:
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
        if not isinstance(metrics, dict):
            raise UserError(f"log_metrics: pass a dict of name -> number, not a {type(metrics).__name__}")
        names = self._names
        row: dict[str, Any] = {}
        for key, value in metrics.items():
            if key not in names:
                self._new_name(key)
            t = type(value)
            if t is not float and t is not int:
                value = _number(value, f"log_metrics: {key}")
            if value != value or value in (math.inf, -math.inf):
                self._nonfinite.setdefault(key, step)
                value = None
            row[key] = value
        if step == self._last_step and self.history:
            self.history[-1].update(row)
            self._flushed = min(self._flushed, len(self.history) - 1)
        else:
            row["step"] = step
            self.history.append(row)
            self._last_step = step
        if time.monotonic() >= self._next_flush:
            self.flush()

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
            score = _number(score, f"log_eval({task!r}): score")
            if not math.isfinite(score):
                raise UserError(
                    f"log_eval({task!r}): score is {score}: log a finite score (None if the task did not run)"
                )
        if threshold is not None:
            threshold = _number(threshold, f"log_eval({task!r}): threshold")
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
        self._write_work("evals.json", _dumps(list(self.evals.values()), "log_eval"))

    def save_artifact(self, name: str, obj: Any) -> Path:
        """Write a JSON artifact (the phase artifact, e.g. v15_spikingbrain.json), checked against its schema now."""
        from gerhard import schemas
        from gerhard.bundle import check_bundle_names

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
        data = _dumps(obj, f"save_artifact({name!r})")
        parsed = json.loads(data)
        schema = program.schema_for(name) if program is not None else None
        if schema is not None:
            schemas.validate(parsed, schema, f"save_artifact({name!r})", self.registry)
        from gerhard import state

        state.atomic_write(self.folder / name, data)
        if name not in self.artifacts:
            self.artifacts.append(name)
        return self.folder / name

    def save_file(self, path: Path | str, name: str | None = None) -> Path:
        """Copy a file (a checkpoint, a plot) into the run's bundle."""
        from gerhard.bundle import check_bundle_names

        self._check_live("save_file")
        src = Path(path)
        if not src.is_file():
            raise UserError(f"save_file: {src} is not a file")
        target = name or src.name
        if target in BUILT_IN or target == "MANIFEST":
            raise UserError(f"save_file: {target} is written by gerhard: save under another name")
        check_bundle_names([target], "save_file:")
        dest = self.folder / target
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.resolve() != dest.resolve():
            tmp = dest.with_name(f".{dest.name}.gerhard-tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        if target not in self.files:
            self.files.append(target)
        return dest

    # -- live state ------------------------------------------------------------------------------------

    def _write_work(self, name: str, data: bytes) -> None:
        from gerhard import state

        work = self.folder / WORK_DIR
        work.mkdir(parents=True, exist_ok=True)
        state.atomic_write(work / name, data)

    def flush(self) -> None:
        """Append the history rows not yet on disk to .gerhard-run/history.jsonl (finish calls it too)."""
        self._next_flush = time.monotonic() + self._flush_every
        rows = self.history[self._flushed :]
        if not rows:
            return
        work = self.folder / WORK_DIR
        work.mkdir(parents=True, exist_ok=True)
        with open(work / HISTORY, "a", encoding="utf-8") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
            f.flush()
            os.fsync(f.fileno())
        self._flushed = len(self.history)

    def _save_state(self) -> None:
        data = {
            "name": self.name,
            "phase": self.phase,
            "run_id": self.run_id,
            "seed": self.seed,
            "suite": self.suite,
            "registry": str(self.registry) if self.registry else None,
            "started_at": self.started_at,
            "notes": self.notes,
            "execution": self._start_order,
            "force": self.force,
        }
        self._write_work(STATE, _dumps(data, "state"))

    _start_order: dict[str, Any] = {}

    def _program(self) -> Any:
        from gerhard import state

        if self.registry is None:
            return None
        return state.load_program(self.registry)

    # -- finish ----------------------------------------------------------------------------------------

    def finish(
        self,
        summary: str = "",
        next_action: str = "",
        final: dict[str, Any] | None = None,
        allow_nonfinite: bool = False,
    ) -> FinishResult:
        """Check, write the bundle, build the dossier, register the run (when a registry is at hand), offer
        the dossier for download. Bad input raises a one-line gerhard.UserError before anything is written."""
        if self.finished is not None:
            raise UserError(f"finish(): run {self.run_id} was finished already: start a new run for another result")
        if self.failed is not None:
            raise UserError(f"finish(): run {self.run_id} failed ({self.failed}): it is not registered")
        files = self._bundle_files(summary, next_action, final, allow_nonfinite)
        from gerhard import state

        for name, data in files.items():
            state.atomic_write(self.folder / name, data)
        self.flush()
        shutil.rmtree(self.folder / WORK_DIR, ignore_errors=True)  # all of it is in the bundle now
        result = self._register_and_report(summary, next_action)
        self.finished = result
        return result

    def _bundle_files(
        self, summary: str, next_action: str, final: dict[str, Any] | None, allow_nonfinite: bool
    ) -> dict[str, bytes]:
        from gerhard import runtext, schemas

        for label, text in (("summary", summary), ("next_action", next_action)):
            if not isinstance(text, str):
                raise UserError(f"finish(): {label} must be text, not {type(text).__name__}")
            runtext.clean_text(f"finish(): {label}", text)
        if self._nonfinite and not allow_nonfinite:
            where = ", ".join(f"{k} at step {s}" for k, s in sorted(self._nonfinite.items()))
            raise UserError(
                f"finish(): log_metrics got NaN or infinite values ({where}): fix the cell that computes them, "
                "or finish(allow_nonfinite=True) to register a diverged run (its gates then fail)"
            )
        final_values = self._final(final)
        files: dict[str, bytes] = {}
        program = self._program()
        required = set(program.phase(self.phase).required) if program is not None else set()
        if final_values or self.history:
            metrics: dict[str, Any] = {"final": final_values}
            if self.history:
                metrics["history"] = self.history
            files["metrics.json"] = _dumps(metrics, "metrics.json")
        if self.evals:
            tasks = list(self.evals.values())
            suite = {"suite": self.suite, "tasks": tasks, "pass_rate": sum(t["passed"] for t in tasks) / len(tasks)}
            files["eval_suite.json"] = _dumps(suite, "eval_suite.json")
        files["provenance.json"] = self._provenance(files)
        for name in files:
            if name.endswith(".json"):
                data = json.loads(files[name])
                schema = program.schema_for(name) if program is not None else None
                schemas.validate(data, schema or name.removesuffix(".json"), f"finish(): {name}", self.registry)
        self._check_config(program)
        have = set(files) | {p.name for p in self.folder.iterdir() if p.is_file()}
        missing = sorted(required - have)
        if missing:
            hints = {
                "metrics.json": "log_metrics(...) or finish(final={...})",
                "eval_suite.json": "run.log_eval(...)",
            }
            how = "; ".join(f"{m}: {hints.get(m, f'run.save_artifact({m!r}, ...)')}" for m in missing)
            raise UserError(f"finish(): phase {self.phase} requires {', '.join(missing)}, not made by this run ({how})")
        return files

    def _check_config(self, program: Any) -> None:
        """config.yaml was written at start_run; the registry validates it, so finish() must first."""
        from gerhard import schemas
        from gerhard.yamlio import load_plain_yaml

        path = self.folder / "config.yaml"
        if not path.is_file():
            return  # a required file that is missing: the check after this one names it
        config = load_plain_yaml(path.read_text(encoding="utf-8"), f"finish(): {path}")
        if config in ({}, None):
            raise UserError(
                "finish(): config.yaml is empty: the registry refuses a run without its settings; pass them to "
                f"start_run(config=...) or write them into {path}"
            )
        schema = program.schema_for("config.yaml") if program is not None else None
        schemas.validate(config, schema or "config", "finish(): config.yaml", self.registry)

    def _final(self, final: dict[str, Any] | None) -> dict[str, Any]:
        if final is None:
            out: dict[str, Any] = {}
            for row in self.history:
                for key, value in row.items():
                    if key != "step":  # None is a NaN or inf logged last: the run ended diverged
                        out[key] = value
            return out
        if not isinstance(final, dict):
            raise UserError(f"finish(): final= must be a dict of name -> number, not a {type(final).__name__}")
        out = {}
        for key, value in final.items():
            if key not in self._names:
                self._new_name(key)
            number = _number(value, f"finish(): final {key}")
            if not math.isfinite(number):
                raise UserError(f"finish(): final {key} is {number}: fix the value (a diverged run: leave final= out)")
            out[key] = number
        return out

    def _provenance(self, files: dict[str, bytes]) -> bytes:
        from gerhard import provenance as prov

        code_root = _toplevel(Path.cwd())
        exclude = []
        if code_root and self.folder.resolve().is_relative_to(Path(code_root).resolve()):
            exclude.append(os.path.relpath(self.folder.resolve(), Path(code_root).resolve()))
        if self.registry is not None and code_root and Path(code_root).resolve() == self.registry:
            exclude.append("outputs")  # run folders of the registry are data, not code
        code = prov.code_state(Path.cwd(), exclude)
        order = prov.execution_order()
        if self.resumed and self._start_order.get("problems"):  # finishing later cannot clean the kernel it started in
            order.ok, order.problems = False, [*self._start_order["problems"], *order.problems]
        if not order.ok:
            print(
                f"gerhard: WARNING: run {self.run_id} was not made by a fresh kernel running the notebook top to "
                f"bottom ({'; '.join(order.problems)}): restart the kernel and run all cells before trusting it",
                file=sys.stderr,
            )
        if code.dirty and code.diff:
            files["code.diff"] = code.diff
        packages = prov.package_list()
        files["packages.txt"] = packages.encode()
        ended = datetime.now(timezone.utc)
        data = {
            "code_sha": code.sha,
            "dirty": code.dirty,
            "code_root": code.root,
            "diff_file": "code.diff" if code.dirty and code.diff else None,
            "python": sys.version.split()[0],
            **prov.torch_info(),
            "host": __import__("socket").gethostname(),
            "host_kind": prov.runtime_kind(),
            "packages_file": "packages.txt",
            "packages_sha256": prov.sha256_text(packages),
            "execution_order_ok": order.ok,
            "execution": order.as_dict(),
            "seed": self.seed,
            "determinism_notes": self.notes,
            "resumed": self.resumed,
            "started_at": self.started_at,
            "ended_at": ended.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "wall_time_s": round(time.monotonic() - self._t0, 3) if not self.resumed else None,
        }
        return _dumps(data, "provenance.json")

    def register_command(self, summary: str, next_action: str) -> str:
        repo = str(self.registry) if self.registry else "<your registry>"
        cmd = (
            f"python -m gerhard register --repo {_quote(repo)} --run-id {self.run_id} --phase {self.phase} "
            f"--source-dir {_quote(str(self.folder))}"
        )
        if summary:
            cmd += f" --summary {_quote(summary)}"
        if next_action:
            cmd += f" --next-action {_quote(next_action)}"
        if self.force:
            cmd += " --force"
        return cmd

    def _register_and_report(self, summary: str, next_action: str) -> FinishResult:
        from gerhard.errors import GerhardError

        command = self.register_command(summary, next_action)
        registered, verdict, message = False, None, ""
        # Built before registering: registration archives it (rebuilt from the bundle, with the verdict).
        dossier = self._make_dossier(summary, next_action) if self._dossier else None
        verdict = self._dossier_verdict
        if self.registry is None:
            message = "no registry at hand (pass repo_root= or set GERHARD_REPO)"
        elif not self._register:
            message = "register=False"
        else:
            from gerhard.api import register_run

            try:
                reg = register_run(
                    self.run_id,
                    self.phase,
                    self.folder,
                    self.registry,
                    summary=summary,
                    next_action=next_action,
                    force=self.force,
                )
                registered, verdict = True, reg.verdict
                print(reg)
            except GerhardError as e:
                message = str(e)
            except Exception as e:  # never lose the run to a bug of ours: the bundle is on disk
                message = f"{type(e).__name__}: {e}"
        result = FinishResult(self.run_id, self.folder, dossier, registered, verdict, command, message)
        if not registered:
            print(f"gerhard: run {self.run_id} is not registered: {message}", file=sys.stderr)
            print(f"gerhard: the bundle is in {self.folder}; register it later with:\n  {command}", file=sys.stderr)
        if dossier is not None and self._download:
            offer_download(dossier)
        return result

    _dossier_verdict: str | None = None

    def _make_dossier(self, summary: str, next_action: str) -> Path | None:
        from gerhard.bundle import load_bundle
        from gerhard.dossier import dossier_name, evaluate

        path = self.folder / dossier_name(self.run_id)
        try:
            from gerhard.dossier import build_dossier

            build_dossier(
                self.folder,
                self.phase,
                run_id=self.run_id,
                repo_root=self.registry,
                summary=summary,
                next_action=next_action,
            )
            self._dossier_verdict = evaluate(self.registry, self.phase, load_bundle(self.folder)).verdict
        except Exception as e:  # the bundle is what matters; say why there is no dossier
            print(f"gerhard: no dossier for run {self.run_id}: {e}", file=sys.stderr)
            return None
        return path


def _toplevel(start: Path) -> str | None:
    import subprocess

    out = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or None if out.returncode == 0 else None


def offer_download(path: Path) -> None:
    """Colab: download the file to the laptop. Jupyter: a link. Plain Python: the path."""
    if "google.colab" in sys.modules:
        try:
            from google.colab import files

            files.download(str(path))
            return
        except Exception as e:
            print(f"gerhard: could not start the download ({e}): the dossier is {path}", file=sys.stderr)
            return
    from gerhard.provenance import runtime_kind

    if runtime_kind() in ("jupyter", "kaggle", "runpod") and "IPython" in sys.modules:
        try:
            from IPython.display import FileLink, display

            display(FileLink(os.path.relpath(path), result_html_prefix="Dossier: "))
            return
        except Exception:
            pass
    print(f"dossier: {path}")


def _resolve_seed(seed: Any) -> int:
    if seed is None:
        return int.from_bytes(os.urandom(4), "big")  # recorded in seed.txt: the run stays reproducible
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"start_run: seed={seed!r} is not a whole number >= 0")
    return seed


def _config_bytes(config: Any) -> bytes:
    from gerhard.yamlio import dump_yaml, load_plain_yaml

    if config is None:
        config = {}
    if isinstance(config, (str, Path)):
        path = Path(config)
        if not path.is_file():
            raise UserError(
                f"start_run: config={str(config)!r} is not a file: pass a dict, dataclass or YAML/JSON file"
            )
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            try:
                config = json.loads(text)
            except ValueError as e:
                raise UserError(f"start_run: config file {path} is not valid JSON: {e}") from None
        else:
            load_plain_yaml(text, str(path))  # refuses what is not YAML
            return text.encode() if text.endswith("\n") else (text + "\n").encode()
    from gerhard.convert import plain_data

    data = plain_data(config, "start_run: config")
    if not isinstance(data, dict):
        raise UserError(f"start_run: config must be a dict, a dataclass or a file, not a {type(config).__name__}")
    return dump_yaml(data).encode()


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
) -> Run:
    """Start a run: seed everything, write seed.txt and config.yaml into its folder, return the Run.

    The folder is <registry>/outputs/<run_id>/ when a registry is at hand (repo_root=, $GERHARD_REPO, or
    the repository around the working directory), else <output_root>/<run_id>/ ($GERHARD_OUTPUT_ROOT,
    default ./gerhard_runs). run_id defaults to YYYYMMDDTHHMMSSZ_<name> (UTC). force=True registers the
    run even if its phase is not open yet (as `gerhard register --force`).
    """
    from gerhard import provenance, state
    from gerhard.bundle import check_run_id

    if not isinstance(name, str) or not name:
        raise UserError(f'start_run: name={name!r}: give the run a short name, e.g. name="v15"')
    run_id = check_run_id(run_id if run_id is not None else default_run_id(name))
    # output_root= alone means: no registry (not even the one around the working directory).
    registry = find_registry(repo_root) if repo_root is not None or output_root is None else None
    if registry is not None:
        program = state.load_program(registry)
        program.phase(phase)  # refuses an unknown phase, naming the known ones
        folder = registry / "outputs" / run_id
        if state.read_record(registry, run_id) is not None:
            raise UserError(f"start_run: run {run_id} is registered already: pass another run_id= (or name)")
    else:
        if not isinstance(phase, str) or not phase:
            raise UserError(f"start_run: phase={phase!r}: give the program phase this run is for")
        base = output_root if output_root is not None else os.environ.get("GERHARD_OUTPUT_ROOT") or "gerhard_runs"
        folder = Path(base).expanduser().resolve() / run_id
    if folder.exists() and any(p.name != WORK_DIR for p in folder.iterdir()):
        raise UserError(f"start_run: {folder} exists and is not empty: pass another run_id= or move that folder away")
    seed = _resolve_seed(seed)
    config_data = _config_bytes(config)
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
    )
    run.notes = notes
    run.force = force
    state.atomic_write(folder / "seed.txt", f"{seed}\n".encode())
    state.atomic_write(folder / "config.yaml", config_data)
    order = provenance.execution_order()
    run._start_order = order.as_dict()
    run._save_state()
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
    run.notes = list(meta.get("notes", []))
    run._start_order = dict(meta.get("execution") or {})
    run.force = bool(meta.get("force"))
    if (work / FAILED).is_file():
        print(f"gerhard: run {run.run_id} had failed ({(work / FAILED).read_text().strip()}): finishing what it logged")
        (work / FAILED).unlink()
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
    return run
