"""The capture API's cost in a training loop, and a run's own start and finish, against plain Python floors.

    python benchmarks/bench_capture.py            (make bench runs it)
    python benchmarks/bench_capture.py --reps 7 --strict

1. 100,000 `run.log_metrics({4 scalars}, step=i)` calls against appending the same dict to a list
   (target: under 1 s in all).
2. `start_run` + `finish(dossier=False)` of a run with 200 history rows, 5 eval tasks and the phase-B
   artifact, not registered (no registry), against writing the same bundle files with open().write()
   (target: under 1 s beyond the floor). torch is imported first, as a torch notebook has it.
3. The experiment notebook (notebooks/v15_spiking_experiment.ipynb) under nbclient, into a scratch
   registry: its wall time, kernel start included.
Medians of --reps, interleaved with their floors; writes benchmarks/capture.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "capture.json"
CALLS = 100_000


def bench_logging(reps: int) -> dict[str, Any]:
    import gerhard

    tmp = Path(tempfile.mkdtemp(prefix="gerhard-bench-"))
    try:
        plain, logged = [], []
        for _ in range(reps):
            rows: list[dict[str, Any]] = []
            t = time.perf_counter()
            for i in range(CALLS):
                rows.append({"train_loss": 0.5, "val_loss": 0.6, "lr": 3e-4, "grad_norm": 1.0, "step": i})
            plain.append(time.perf_counter() - t)
            run = gerhard.start_run("bench", "B", {}, 1, output_root=tmp, run_id=f"log{len(logged)}")
            t = time.perf_counter()
            for i in range(CALLS):
                run.log_metrics({"train_loss": 0.5, "val_loss": 0.6, "lr": 3e-4, "grad_norm": 1.0}, step=i)
            logged.append(time.perf_counter() - t)
        p, g = statistics.median(plain), statistics.median(logged)
        return {"calls": CALLS, "floor_s": round(p, 4), "log_metrics_s": round(g, 4), "ratio": round(g / p, 2)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bundle_by_hand(folder: Path, history: list[dict[str, Any]], tasks: list[dict[str, Any]], art: Any) -> None:
    folder.mkdir(parents=True)
    (folder / "seed.txt").write_text("1\n")
    (folder / "config.yaml").write_text("lr: 0.001\nsteps: 200\n")
    (folder / "metrics.json").write_text(json.dumps({"final": history[-1], "history": history}, indent=1))
    (folder / "eval_suite.json").write_text(json.dumps({"suite": "s", "tasks": tasks, "pass_rate": 1.0}, indent=1))
    (folder / "v15_spikingbrain.json").write_text(json.dumps(art, indent=1))
    (folder / "provenance.json").write_text(json.dumps({"code_sha": None, "dirty": False}))


def bench_run(reps: int) -> dict[str, Any]:
    import gerhard

    history = [{"step": i, "train_loss": 1 / (i + 1), "val_loss": 1 / (i + 2)} for i in range(200)]
    tasks = [{"name": f"t{i}", "score": 0.9, "passed": True} for i in range(5)]
    art = {"model": "m", "spike_rate": {"mean": 0.1}, "layers": [{"name": "l0", "spike_rate": 0.1}]}
    tmp = Path(tempfile.mkdtemp(prefix="gerhard-bench-"))
    try:
        plain, runs = [], []
        for r in range(reps):
            t = time.perf_counter()
            _bundle_by_hand(tmp / f"plain{r}", history, tasks, art)
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            with gerhard.start_run(
                "bench",
                "B",
                {"lr": 1e-3, "steps": 200},
                1,
                output_root=tmp,
                run_id=f"r{r}",
                dossier=False,
                download=False,
            ) as run:
                for row in history:
                    run.log_metrics({k: v for k, v in row.items() if k != "step"}, step=row["step"])
                for task in tasks:
                    run.log_eval(task["name"], task["score"], passed=True)
                run.save_artifact("v15_spikingbrain.json", art)
                run.finish(summary="bench")
            runs.append(time.perf_counter() - t)
        p, g = statistics.median(plain), statistics.median(runs)
        return {"floor_s": round(p, 4), "start_finish_s": round(g, 4), "beyond_floor_s": round(g - p, 4)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_notebook() -> dict[str, Any]:
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError as e:
        return {"skipped": f"nbclient not installed ({e})"}
    notebook = ROOT / "notebooks" / "v15_spiking_experiment.ipynb"
    tmp = Path(tempfile.mkdtemp(prefix="gerhard-bench-"))
    try:
        repo = tmp / "registry"
        repo.mkdir()
        for cmd in (["git", "init", "-q"], [sys.executable, "-m", "gerhard", "init", "--example"]):
            subprocess.run(cmd, cwd=repo, check=True, capture_output=True)
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(
            ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"], cwd=repo, check=True
        )
        os.environ.update({"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b"})
        os.environ.setdefault("GIT_COMMITTER_EMAIL", "b@b")
        phase_a = ["register", "--run-id", "a1", "--phase", "A", "--source-dir", str(ROOT / "examples/phase_a_green")]
        subprocess.run([sys.executable, "-m", "gerhard", *phase_a], cwd=repo, check=True, capture_output=True)
        env = {"GERHARD_REPO": str(repo), "GERHARD_NOTEBOOK": str(notebook), "GERHARD_RUN_NAME": "bench"}
        os.environ.update(env)
        nb = nbformat.read(notebook, as_version=4)
        t = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp)}}).execute()
        wall = round(time.perf_counter() - t, 2)
        registered = any((repo / "state" / "runs").glob("*_bench.yaml"))
        return {"notebook": notebook.name, "wall_s": wall, "registered": registered}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    with contextlib.suppress(ImportError):
        import torch  # noqa: F401  (a torch notebook has it imported before start_run)
    out = {"log_metrics": bench_logging(args.reps), "start_finish": bench_run(args.reps), "notebook": bench_notebook()}
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    lm, sf = out["log_metrics"], out["start_finish"]
    print(
        f"log_metrics x{CALLS:,}: {lm['log_metrics_s']:.3f} s vs list.append {lm['floor_s']:.3f} s "
        f"({lm['ratio']}x; target < 1 s)"
    )
    print(
        f"start_run + finish (no dossier): {sf['start_finish_s']:.3f} s, {sf['beyond_floor_s']:.3f} s beyond "
        f"writing the files by hand ({sf['floor_s']:.4f} s; target < 1 s)"
    )
    print(f"notebook under nbclient: {out['notebook']}")
    missed = lm["log_metrics_s"] >= 1.0 or sf["beyond_floor_s"] >= 1.0
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    raise SystemExit(main())
