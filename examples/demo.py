"""The demo: a scratch registry, GREEN and RED runs, their dossiers, and what gerhard tells you.

    make demo          (or: python examples/demo.py, with gerhard installed)

Everything happens in ./demo/ (recreated each time), driven through the same `python -m gerhard`
commands a researcher types: ./demo/notebook_outputs/ stands for what the notebooks wrote on the
GPU box, ./demo/registry/ is the research repository.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEMO = HERE.parent / "demo"
REPO = DEMO / "registry"
OUTPUTS = DEMO / "notebook_outputs"
RUNS = [  # (example bundle, run id, phase, summary, next action)
    (
        "phase_a_green",
        "20261101T100000Z_dense_baseline",
        "A",
        "Dense baseline reproduction on a lab box.",
        "Start phase B spiking conversion.",
    ),
    (
        "phase_b_red",
        "20261102T090000Z_v15_lr_high",
        "B",
        "v15 notebook pass on RunPod, spike threshold 0.9.",
        "Rerun with spike threshold 0.5.",
    ),
    (
        "phase_b_green",
        "20261103T080000Z_v15_lr_low",
        "B",
        "v15 rerun on Colab with spike threshold 0.5.",
        "Proceed to phase C if gates are green.",
    ),
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
    gerhard("init")
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "gerhard init")


def write_dossiers() -> None:
    step("on the GPU box: each notebook's output folder gets a single-file dossier")
    for example, run_id, phase, summary, next_action in RUNS:
        folder = shutil.copytree(HERE / example, OUTPUTS / run_id)
        gerhard(
            "dossier",
            "--run-dir",
            folder,
            "--run-id",
            run_id,
            "--phase",
            phase,
            "--summary",
            summary,
            "--next-action",
            next_action,
        )


def register_examples() -> None:
    (a_id, a_phase, a_sum, a_next), (r_id, r_phase, r_sum, r_next) = (run[1:] for run in RUNS[:2])
    step("phase A: the dense baseline, registered from its folder (GREEN)")
    gerhard(
        "register",
        "--run-id",
        a_id,
        "--phase",
        a_phase,
        "--source-dir",
        OUTPUTS / a_id,
        "--summary",
        a_sum,
        "--next-action",
        a_next,
    )
    step("phase B: a spiking run whose gates fail, registered from its folder (RED)")
    gerhard(
        "register",
        "--run-id",
        r_id,
        "--phase",
        r_phase,
        "--source-dir",
        OUTPUTS / r_id,
        "--summary",
        r_sum,
        "--next-action",
        r_next,
    )
    step("phase B rerun: registered from its downloaded dossier alone (run id and phase come from the file)")
    dossier = DEMO / "Downloads" / f"run_dossier_{RUNS[2][1]}.html"
    dossier.parent.mkdir()
    shutil.copy2(OUTPUTS / RUNS[2][1] / dossier.name, dossier)
    gerhard("register", "--dossier", dossier)


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
        print(f"  {path}   <- needs input (answered here by the GREEN rerun)")
    step("dossiers: open one in any browser, no network needed")
    for path in sorted((REPO / "outputs").glob("*/run_dossier_*.html")):
        print(f"  file://{path}")
    for path in sorted(OUTPUTS.glob("*/run_dossier_*.html")):
        print(f"  file://{path}")


def main() -> int:
    make_registry()
    write_dossiers()
    register_examples()
    report()
    print("\ndemo done: the registry is in", REPO)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
