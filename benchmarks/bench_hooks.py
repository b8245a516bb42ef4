"""The pre-commit hook and `gerhard check`, at 10 and 10,000 prior runs, against floors measured in the same run.

    python benchmarks/bench_hooks.py            (make bench runs it)

- the hook on a registration commit (`gerhard hook pre-commit` with a registration staged, as
  `git commit` runs it) at 10 vs 10,000 runs: target <= 1.3x (DESIGN.md, "Cost must not grow");
  floor: `git diff --cached --name-only`, the least a hook that looks at the commit must do;
- the hook on a hand edit (a comment added to state/program_status.yaml), the same two sizes;
- `gerhard check --full` at 10,000 runs, in a registry with one registration commit per run
  (check_history.py; check audits every run against the commit that registered it): target <= 10 s;
- `gerhard check` after one new registration there (incremental: the commits since the last check
  that passed): target <= 1 s.
The check rows are whole processes, reported against floors measured in the same run: `git ls-files -s`
(every path read once) and `git log --format=%(trailers)` (every commit's trailers read once), with
the CPU time (user + system, git and the worker processes included) beside the wall time: on a busy
machine wall time is noise, and CPU time / 2 is what 2 idle cores could take at best. hooks.json holds
the ratios too ('check --full / floor git ls-files -s', wall, and the same with ' cpu'; 'hook / floor
git diff --cached'), the figures that compare across machines and loads.
Medians of --reps (check: --check-reps); writes benchmarks/hooks.json; exits 1 on a missed target
only with --strict.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import check_history  # noqa: E402
import run as bench  # noqa: E402  (benchmarks/ is not a package)

RESULTS = HERE / "hooks.json"
TARGET_GROWTH = bench.TARGET_GROWTH
TARGET_CHECK_FULL_S, TARGET_CHECK_NEW_S = 10.0, 1.0


git, gerhard = bench.history.git, bench.gerhard  # both stop the benchmark when the command fails


def median_ms(fn: Callable[[], object], reps: int) -> float:
    return round(statistics.median(bench.timed(fn)[0] for _ in range(reps)) * 1000, 1)


def staged_registration(repo: Path, bundle: Path, tag: str) -> None:
    """A registration's files staged, not committed: what `git commit` shows the hook."""
    bench.register_in_process(repo, bundle, f"20261125T000000Z_hook{tag}")
    git(repo, "reset", "-q", "--soft", "HEAD~1")


def staged_comment(repo: Path, bundle: Path, tag: str) -> None:
    status = repo / "state" / "program_status.yaml"
    status.write_text(status.read_text() + "# reviewed\n")
    git(repo, "add", "state/program_status.yaml")


def hook_on(repo: Path, stage: Callable[[Path, Path, str], None], bundle: Path, reps: int, tag: str) -> dict:
    stage(repo, bundle, tag)
    figures = {
        "floor git diff --cached": median_ms(lambda: git(repo, "diff", "--cached", "--name-only"), reps),
        "hook": median_ms(lambda: gerhard(repo, "hook", "pre-commit"), reps),
    }
    git(repo, "reset", "-q", "--hard", "HEAD")
    return figures | hook_ratio(figures)


def medians(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """(wall, CPU) medians in ms."""
    samples = [bench.timed(fn) for _ in range(reps)]
    wall, cpu = (round(statistics.median(s[i] for s in samples) * 1000, 1) for i in (0, 1))
    return wall, cpu


def check_at(runs: int, bundle: Path, reps: int) -> dict[str, float]:
    """check --full on the history registry, then the incremental check after one new registration
    (each repetition from the verified state: reset, the marker put back, one run registered)."""
    repo = check_history.registry(runs, bench.log)
    base = git(repo, "rev-parse", "HEAD").strip()
    figures = {"load average before": round(os.getloadavg()[0], 2)}
    for name, cmd in (("floor git ls-files -s", ["ls-files", "-s"]), ("floor git log trailers", LOG)):
        figures[name], figures[name + " cpu"] = medians(lambda cmd=cmd: git(repo, *cmd), max(reps, 3))
    figures["check --full"], figures["check --full cpu"] = medians(lambda: gerhard(repo, "check", "--full"), reps)
    marker = (repo / ".git" / "gerhard-check").read_text()
    samples = []
    for rep in range(reps):
        git(repo, "reset", "-q", "--hard", base)
        (repo / ".git" / "gerhard-check").write_text(marker)
        bench.register_in_process(repo, bundle, f"20261125T00000{rep}Z_checked")
        samples.append(bench.timed(gerhard, repo, "check"))
    git(repo, "reset", "-q", "--hard", base)
    figures["check after one registration"] = round(statistics.median(s[0] for s in samples) * 1000, 1)
    figures["check after one registration cpu"] = round(statistics.median(s[1] for s in samples) * 1000, 1)
    figures["load average after"] = round(os.getloadavg()[0], 2)
    return figures | check_ratios(figures)


CHECK_ROWS = ("check --full", "check after one registration")
FLOORS = ("floor git ls-files -s", "floor git log trailers")


def check_ratios(figures: dict[str, float]) -> dict[str, float]:
    """Each check row over each floor of the same run, wall over wall and CPU over CPU: the figures that
    compare across machines and loads ('check --full / floor git ls-files -s', '... cpu')."""
    out = {}
    for row in CHECK_ROWS:
        for floor in FLOORS:
            name = f"{row} / {floor}"
            out[name] = round(figures[row] / figures[floor], 1)
            out[name + " cpu"] = round(figures[row + " cpu"] / figures[floor + " cpu"], 1)
    return out


def hook_ratio(figures: dict[str, float]) -> dict[str, float]:
    """The hook over its floor (git diff --cached) in the same run."""
    return {"hook / floor git diff --cached": round(figures["hook"] / figures["floor git diff --cached"], 1)}


LOG = ["log", "--format=%(trailers)"]


def measure(args: argparse.Namespace, bundle: Path) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for runs in (bench.SMALL, args.runs):
        for name, stage in (("registration", staged_registration), ("comment", staged_comment)):
            bench.log(f"hook on a {name} at {runs:,} runs ...")
            repo = bench.registry(runs, args.fresh and name == "registration")
            results[f"hook on a {name} at {runs}"] = hook_on(repo, stage, bundle, args.reps, str(runs))
    bench.log(f"check at {args.runs:,} runs ...")
    results[f"check at {args.runs}"] = check_at(args.runs, bundle, args.check_reps)
    return results


def check_targets(figures: dict[str, float], runs: int) -> bool:
    """Print check's ratios to its floors and its targets; True when one is missed."""
    missed = False
    for row, target in zip(CHECK_ROWS, (TARGET_CHECK_FULL_S, TARGET_CHECK_NEW_S), strict=True):
        wall, cpu = figures[row], figures[row + " cpu"]
        ratios = ", ".join(
            f"{figures[f'{row} / {f}']:.0f}x {f.removeprefix('floor ')} (CPU {figures[f'{row} / {f} cpu']:.0f}x)"
            for f in FLOORS
        )
        verdict = "PASS" if wall <= target * 1000 else "FAIL"
        print(
            f"{row} at {runs:,} runs: {wall / 1000:.2f} s ({ratios}); CPU {cpu / 1000:.2f} s "
            f"(/2 cores: {cpu / 2000:.2f} s); target <= {target:g} s: {verdict}"
        )
        missed |= wall > target * 1000
    load = max(figures["load average before"], figures["load average after"])
    if load > 0.75 * (os.cpu_count() or 1):
        print(f"warning: the machine was busy (load average up to {load}): wall times are noisy, CPU times less so")
    return missed


def unit(name: str) -> str:
    return "x" if " / " in name else "" if name.startswith("load") else " ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--check-reps", type=int, default=2)
    parser.add_argument("--runs", type=int, default=bench.LARGE)
    parser.add_argument("--fresh", action="store_true", help="regenerate the cached registries")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the hook misses its target")
    args = parser.parse_args(argv)
    bench.isolate_git([])
    bundle = bench.WORK / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    shutil.copytree(bench.history.EXAMPLES / "phase_b_green", bundle)
    results = measure(args, bundle)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for name, figures in results.items():
        print(f"{name:<36} " + ", ".join(f"{k} {v:.1f}{unit(k)}" for k, v in figures.items()))
    missed = check_targets(results[f"check at {args.runs}"], args.runs)
    for name in ("registration", "comment"):
        small, big = (results[f"hook on a {name} at {n}"]["hook"] for n in (bench.SMALL, args.runs))
        print(f"hook on a {name}: at {args.runs:,} / at {bench.SMALL} runs: {big / small:.2f}x (target <= 1.3x)")
        missed |= big / small > TARGET_GROWTH
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
