"""The pre-commit hook and `gerhard check`, at 10 and 10,000 prior runs, against floors measured in the same run.

    python benchmarks/bench_hooks.py            (make bench runs it)

- the hook on a registration commit (`gerhard hook pre-commit` with a registration staged, as
  `git commit` runs it) at 10 vs 10,000 runs: target <= 1.3x (DESIGN.md, "Cost must not grow");
  floor: `git diff --cached --name-only`, the least a hook that looks at the commit must do;
- the hook on a hand edit (a comment added to state/program_status.yaml), the same two sizes;
- `gerhard check` at 10,000 runs; floor: `git ls-files -s` (every path read once).
Medians of --reps (check: --check-reps); writes benchmarks/hooks.json; exits 1 on a missed target
only with --strict.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402  (benchmarks/ is not a package)

RESULTS = HERE / "hooks.json"
TARGET_GROWTH = bench.TARGET_GROWTH


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
    return figures


def check_at(repo: Path, reps: int) -> dict[str, float]:
    return {
        "floor git ls-files -s": median_ms(lambda: git(repo, "ls-files", "-s"), reps),
        "check": median_ms(lambda: gerhard(repo, "check"), reps),
    }


def measure(args: argparse.Namespace, bundle: Path) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for runs in (bench.SMALL, args.runs):
        for name, stage in (("registration", staged_registration), ("comment", staged_comment)):
            bench.log(f"hook on a {name} at {runs:,} runs ...")
            repo = bench.registry(runs, args.fresh and name == "registration")
            results[f"hook on a {name} at {runs}"] = hook_on(repo, stage, bundle, args.reps, str(runs))
    bench.log(f"check at {args.runs:,} runs ...")
    results[f"check at {args.runs}"] = check_at(bench.registry(args.runs, False), args.check_reps)
    return results


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
        print(f"{name:<36} " + ", ".join(f"{k} {v:.1f} ms" for k, v in figures.items()))
    missed = False
    for name in ("registration", "comment"):
        small, big = (results[f"hook on a {name} at {n}"]["hook"] for n in (bench.SMALL, args.runs))
        print(f"hook on a {name}: at {args.runs:,} / at {bench.SMALL} runs: {big / small:.2f}x (target <= 1.3x)")
        missed |= big / small > TARGET_GROWTH
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
