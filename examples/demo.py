"""The demo: a scratch registry; a tiny spiking model trained twice through gerhard's capture API
(a run that fails a phase-B gate, then one that passes), each registered from its notebook.

    make demo          (or: python examples/demo.py, with gerhard[torch,notebook] installed)

Everything happens in ./demo/ (recreated each time). ./demo/registry/ is the research repository,
made with `gerhard init --example`. notebooks/v15_spiking_experiment.ipynb is executed top to bottom by a real
Jupyter kernel (nbclient), as "Restart and run all" would: it trains on the CPU, logs through
gerhard.start_run, and run.finish() writes the bundle and dossier and registers the run in place.
The runs are judged against ./demo/registry's program, never the registry of this clone.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEMO = HERE.parent / "demo"
REPO = DEMO / "registry"
NOTEBOOK = HERE.parent / "notebooks" / "v15_spiking_experiment.ipynb"
PHASE_A = ("phase_a_green", "20261101T100000Z_dense_baseline", "Dense baseline reproduction on a lab box.")
TRAINED = [  # (run name, fail a gate?, what it is)
    ("v15_silent", True, "a spike threshold so high the layers stay silent: a phase-B gate fails (RED)"),
    ("v15", False, "the same model with a working threshold: every gate passes (GREEN)"),
]


def step(title: str) -> None:
    print(f"\n=== {title}")


def run(*args: str | Path, cwd: Path = REPO, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [str(a) for a in args]
    shown = " ".join(shlex.quote(c) for c in cmd).replace(sys.executable, "python")
    print(f"$ {shown}", flush=True)
    proc = subprocess.run(cmd, cwd=cwd, text=True, capture_output=True)
    for stream in (proc.stderr, proc.stdout):
        if stream.strip():
            print(stream.rstrip())
    if check and proc.returncode != 0:
        raise SystemExit(f"demo failed: {shown} exited {proc.returncode}")
    return proc


def gerhard(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "gerhard", *args, check=check)


def make_registry() -> None:
    step("a scratch git repository, scaffolded as a gerhard registry")
    shutil.rmtree(DEMO, ignore_errors=True)
    REPO.mkdir(parents=True)
    run("git", "init", "-q", "-b", "main")
    for key, value in (("user.name", "Demo Researcher"), ("user.email", "demo@example.com")):
        run("git", "config", key, value)
    gerhard("init", "--example")
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "gerhard init")


def register_phase_a() -> None:
    example, run_id, summary = PHASE_A
    step("phase A: the dense baseline, a bundle from an earlier run, registered from its folder (GREEN)")
    gerhard("register", "--run-id", run_id, "--phase", "A", "--source-dir", HERE / example, "--summary", summary)


def train(name: str, fail_gate: bool, what: str) -> None:
    """Execute the experiment notebook in a fresh kernel, its config injected through the environment."""
    import nbformat
    from nbclient import NotebookClient

    step(f"phase B: train {name}, {what}")
    env = {
        "GERHARD_REPO": str(REPO),
        "GERHARD_RUN_NAME": name,
        "GERHARD_FAIL_GATE": "1" if fail_gate else "0",
        "GERHARD_NOTEBOOK": str(NOTEBOOK),  # so the kernel can check it ran every cell once, in order
    }
    print(f"$ {' '.join(f'{k}={shlex.quote(v)}' for k, v in env.items())} <run all> {NOTEBOOK.name}", flush=True)
    os.environ.update(env)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    started = time.monotonic()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(DEMO)}}).execute()
    for cell in nb.cells[-3:]:  # what the last cells printed: the verdict and where things are
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            if text.strip():
                print(text.rstrip())
    print(f"(notebook ran in {time.monotonic() - started:.0f} s)")


def report() -> None:
    step("where the program stands")
    gerhard("status")
    step("the latest run")
    gerhard("show", "latest")
    step("the audit trail")
    run(
        "git",
        "log",
        "--format=%h %s%n    %(trailers:key=Gerhard-Verdict,key=Gerhard-Bundle-SHA256,separator=%x2C )",
        "--",
        "state/",
    )
    step("files to read")
    for rel in ("reports/index.md", "docs/ops/STATUS_BOARD.md"):
        print(f"  {REPO / rel}")
    for path in sorted((REPO / "reports").glob("*/*/*.md")):
        if path.name != "index.md":
            print(f"  {path}")
    for path in sorted((REPO / "state" / "needs_input").glob("*.yaml")):
        print(f"  {path}   <- needs input: the RED run's failed gates (`gerhard decide` answers it)")
    step("dossiers: open one in any browser, no network needed")
    for path in sorted((REPO / "outputs").glob("*/run_dossier_*.html")):
        print(f"  file://{path}")


def main() -> int:
    started = time.monotonic()
    make_registry()
    register_phase_a()
    for name, fail_gate, what in TRAINED:
        train(name, fail_gate, what)
    report()
    print(f"({time.monotonic() - started:.0f} s in all)")
    print("\ndemo done: the registry is in", REPO)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
