"""The demo: a scratch registry, a GREEN and a RED run, and what gerhard tells you about them.

    make demo          (or: python examples/demo.py, with gerhard installed)

Everything happens in ./demo/registry (recreated each time), driven through the same
`python -m gerhard` commands a researcher types.
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


def register_examples() -> None:
    step("phase A: the dense baseline run (GREEN)")
    gerhard("register", "--run-id", "20261101T100000Z_dense_baseline", "--phase", "A",
            "--source-dir", HERE / "phase_a_green", "--summary", "Dense baseline reproduction on a lab box.",
            "--next-action", "Start phase B spiking conversion.")
    step("phase B: a spiking run whose gates fail (RED)")
    gerhard("register", "--run-id", "20261102T090000Z_v15_lr_high", "--phase", "B",
            "--source-dir", HERE / "phase_b_red", "--summary", "v15 notebook pass on RunPod, lr 3e-3.",
            "--next-action", "Rerun with lr 3e-4 if gates are red.")


def report() -> None:
    step("where the program stands")
    gerhard("status")
    step("the latest run")
    gerhard("show", "latest")
    step("the audit trail")
    run("git", "log", "--format=%h %s%n    %(trailers:key=Gerhard-Verdict,key=Gerhard-Bundle-SHA256,separator=%x2C )",
        "--", "state/")
    step("files to read")
    for rel in ("reports/index.md", "docs/ops/STATUS_BOARD.md"):
        print(f"  {REPO / rel}")
    for path in sorted((REPO / "reports").glob("*/*/*.md")):
        if path.name != "index.md":
            print(f"  {path}")
    for path in sorted((REPO / "state" / "needs_input").glob("*.yaml")):
        print(f"  {path}   <- needs input: rerun, waive or stop")


def main() -> int:
    make_registry()
    register_examples()
    report()
    print("\ndemo done: the registry is in", REPO)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
