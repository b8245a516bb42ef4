"""What run.finish() does (gerhard.capture.run): check and build the bundle files, write provenance.json,
build the dossier, register the run, and report. Functions of the Run; nothing here is written before
bundle_files has checked everything."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shlex
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.capture import provenance as prov
from gerhard.capture.notebook import offer_download
from gerhard.capture.state import FinishResult, RunSnapshot
from gerhard.capture.values import check_new_metric, json_bytes, plain_number
from gerhard.dossier.page import write_dossier
from gerhard.errors import GerhardError, UserError
from gerhard.flows.registration import register
from gerhard.formats import runtext, schemas
from gerhard.formats.yamlio import load_plain_yaml
from gerhard.registry.bundle import sha256_bytes
from gerhard.registry.pending_runs import BUNDLE, PendingRun, note_pending


def bundle_files(
    run: RunSnapshot, summary: str, next_action: str, final: dict[str, Any] | None, allow_nonfinite: bool
) -> dict[str, bytes]:
    for label, text in (("summary", summary), ("next_action", next_action)):
        if not isinstance(text, str):
            raise UserError(f"finish(): {label} must be text, not {type(text).__name__}")
        runtext.clean_text(f"finish(): {label}", text)
    if run.nonfinite and not allow_nonfinite:
        where = ", ".join(f"{k} at step {s}" for k, s in sorted(run.nonfinite.items()))
        raise UserError(
            f"finish(): log_metrics got NaN or infinite values ({where}): fix the cell that computes them, "
            "or finish(allow_nonfinite=True) to register a diverged run (its gates then fail)"
        )
    finals = final_values(run, final)
    files: dict[str, bytes] = {}
    program = run.program
    required = set(program.phase(run.phase).required) if program is not None else set()
    if finals or run.history:
        metrics: dict[str, Any] = {"final": finals}
        if run.history:
            metrics["history"] = list(run.history)
        files["metrics.json"] = json_bytes(metrics, "metrics.json")
    if run.evals:
        tasks = list(run.evals)
        suite = {"suite": run.suite, "tasks": tasks, "pass_rate": sum(t["passed"] for t in tasks) / len(tasks)}
        files["eval_suite.json"] = json_bytes(suite, "eval_suite.json")
    files["provenance.json"] = provenance_document(run, files)
    for name in files:
        if name.endswith(".json"):
            data = json.loads(files[name])
            schema = program.schema_for(name) if program is not None else None
            schemas.validate(data, schema or name.removesuffix(".json"), f"finish(): {name}", run.registry)
    check_config(run, program)
    have = set(files) | {p.name for p in run.folder.iterdir() if p.is_file()}
    missing = sorted(required - have)
    if missing:
        hints = {
            "metrics.json": "no history row was saved before the run stopped"
            if run.resumed
            else "log_metrics(...) or finish(final={...})",
            "eval_suite.json": "run.log_eval(...)",
        }
        how = "; ".join(f"{m}: {hints.get(m, f'run.save_artifact({m!r}, ...)')}" for m in missing)
        raise UserError(f"finish(): phase {run.phase} requires {', '.join(missing)}, not made by this run ({how})")
    return files


def check_config(run: RunSnapshot, program: Any) -> None:
    """config.yaml was written at start_run; the registry validates it, so finish() must first."""
    path = run.folder / "config.yaml"
    if not path.is_file():
        return  # a required file that is missing: the check after this one names it
    config = load_plain_yaml(path.read_text(encoding="utf-8"), f"finish(): {path}")
    if config in ({}, None):
        raise UserError(
            "finish(): config.yaml is empty: the registry refuses a run without its settings; pass them to "
            f"start_run(config=...) or write them into {path}"
        )
    schema = program.schema_for("config.yaml") if program is not None else None
    schemas.validate(config, schema or "config", "finish(): config.yaml", run.registry)


def final_values(run: RunSnapshot, final: dict[str, Any] | None) -> dict[str, Any]:
    if final is None:
        out: dict[str, Any] = {}
        for row in run.history:
            for key, value in row.items():
                if key != "step" and key not in run.counters:  # None: a NaN or inf logged last (diverged)
                    out[key] = value
        out.update(run.final)
        return out
    if not isinstance(final, dict):
        raise UserError(f"finish(): final= must be a dict of name -> number, not a {type(final).__name__}")
    out = {}
    for key, value in final.items():
        if key not in run.names:
            check_new_metric(key, "log_metrics")
        number = plain_number(value, f"finish(): final {key}")
        if not math.isfinite(number):
            raise UserError(f"finish(): final {key} is {number}: fix the value (a diverged run: leave final= out)")
        out[key] = number
    return out


def provenance_document(run: RunSnapshot, files: dict[str, bytes]) -> bytes:
    code_root = prov.toplevel(Path.cwd())
    exclude = []
    if code_root and run.folder.resolve().is_relative_to(code_root.resolve()):
        exclude.append(os.path.relpath(run.folder.resolve(), code_root.resolve()))
    if run.registry is not None and code_root and code_root.resolve() == run.registry:
        exclude.append(layout.OUTPUTS)  # run folders of the registry are data, not code
    code = prov.code_state_at(code_root, exclude)
    order = prov.execution_order()
    if run.resumed and run.start_order.get("problems"):  # finishing later cannot clean the kernel it started in
        order.ok, order.problems = False, [*run.start_order["problems"], *order.problems]
    if not order.ok:
        print(
            f"gerhard: WARNING: run {run.run_id} was not made by a fresh kernel running the notebook top to "
            f"bottom ({'; '.join(order.problems)}): restart the kernel and run all cells before trusting it",
            file=sys.stderr,
        )
    if code.dirty and code.diff:
        files["code.diff"] = code.diff
    files["packages.txt"] = packages = prov.package_list().encode()
    ended = datetime.now(timezone.utc)
    data = {
        "code_sha": code.sha,
        "dirty": code.dirty,
        "code_root": code.root,
        "diff_file": "code.diff" if code.dirty and code.diff else None,
        "python": platform.python_version(),
        **prov.torch_info(),
        "host": socket.gethostname(),
        "host_kind": prov.runtime_kind(),
        "packages_file": "packages.txt",
        "packages_sha256": sha256_bytes(packages),
        "execution_order_ok": order.ok,
        "execution": order.as_dict(),
        "seed": run.seed,
        "seed_source": run.seed_source,
        "determinism_notes": list(run.notes),
        "resumed": run.resumed,
        "started_at": run.started_at,
        "ended_at": ended.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_time_s": run.elapsed_s,
    }
    return json_bytes(data, "provenance.json")


def register_and_report(run: RunSnapshot, summary: str, next_action: str) -> FinishResult:
    command = register_command(run, summary, next_action)
    registered, message = False, ""
    # Built before registering: registration archives it (rebuilt from the bundle, with the verdict).
    dossier, verdict = make_dossier(run, summary, next_action) if run.dossier else (None, None)
    if run.registry is None:
        message = "no registry at hand (pass repo_root= or set GERHARD_REPO)"
    elif not run.register:
        message = "register=False"
    else:
        try:
            reg = register(
                run.run_id,
                run.phase,
                run.folder,
                run.registry,
                summary=summary,
                next_action=next_action,
                force=run.force,
            )
            registered, verdict = True, reg.verdict
            print(reg)
        except GerhardError as e:
            message = str(e)
        except Exception as e:  # never lose the run to a bug of ours: the bundle is on disk
            message = f"{type(e).__name__}: {e}"
    result = FinishResult(run.run_id, run.folder, dossier, registered, verdict, command, message)
    if not registered:
        note_refused(run, summary, next_action)
        print(f"gerhard: run {run.run_id} is not registered: {message}", file=sys.stderr)
        print(f"gerhard: the bundle is in {run.folder}; register it later with:\n  {command}", file=sys.stderr)
    if dossier is not None and run.download:
        offer_download(dossier)
    return result


def note_refused(run: RunSnapshot, summary: str, next_action: str) -> None:
    """A run left in outputs/<run_id>/ of its registry: its phase noted, so that `gerhard status` prints the
    command that registers it (gerhard.registry.pending_runs)."""
    if run.registry is not None and run.folder.resolve() == (run.registry / layout.run_dir(run.run_id)).resolve():
        pending = PendingRun(run.run_id, BUNDLE, run.phase, run.force, summary, next_action)
        with contextlib.suppress(OSError, GerhardError):  # a convenience: the command is printed all the same
            note_pending(run.registry, pending)


def make_dossier(run: RunSnapshot, summary: str, next_action: str) -> tuple[Path | None, str | None]:
    """The dossier built in the run folder (registration archives it) and the verdict it shows."""
    try:
        path, evaluation = write_dossier(
            run.folder,
            run.phase,
            run_id=run.run_id,
            repo_root=run.registry,
            summary=summary,
            next_action=next_action,
        )
    except Exception as e:  # the bundle is what matters; say why there is no dossier
        print(f"gerhard: no dossier for run {run.run_id}: {e}", file=sys.stderr)
        return None, None
    return path, evaluation.verdict


def register_command(run: RunSnapshot, summary: str, next_action: str) -> str:
    """The command that registers the run later, printed when finish() could not."""
    repo = str(run.registry) if run.registry else "<your registry>"
    cmd = (
        f"python -m gerhard register --repo {shlex.quote(repo)} --run-id {run.run_id} --phase {run.phase} "
        f"--source-dir {shlex.quote(str(run.folder))}"
    )
    if summary:
        cmd += f" --summary {shlex.quote(summary)}"
    if next_action:
        cmd += f" --next-action {shlex.quote(next_action)}"
    if run.force:
        cmd += " --force"
    return cmd
