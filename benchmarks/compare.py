"""What a change to registration costs, measured in one run: this tree's in-process `register`
against another revision's, at 10 and 10,000 prior runs, interleaved with the by-hand floor.

    python benchmarks/compare.py --baseline 45e747c          (make bench runs it)
    python benchmarks/compare.py --baseline v0.1.0 --reps 15

Each version runs in a worker process of its own (the baseline from `git archive REV`), registering
into its own copy of the same generated registry; each worker times only its `register` call (wall
and CPU, git children included). Rounds rotate the order of floor, baseline and this tree, so a busy
machine slows all three alike; the figures are medians, reported as ratios to the floor and to the
baseline. Writes benchmarks/compare.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402  (benchmarks/ is not a package)

RESULTS = HERE / "compare.json"
DEFAULT_BASELINE = "45e747c"  # the registration before the crash-safe transaction (issue 7)
WORKER = """
import json, resource, sys, time
from pathlib import Path
from gerhard.flows.registration import register

def cpu():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

for line in sys.stdin:
    job = json.loads(line)
    wall, used = time.perf_counter(), cpu()
    result = register(run_id=job["run_id"], phase="B", source_dir=Path(job["bundle"]),
                      repo_root=Path(job["repo"]), summary="benchmark")
    assert result.commit and result.verdict == "GREEN", result
    print(json.dumps([time.perf_counter() - wall, cpu() - used]), flush=True)
"""


class Worker:
    """A Python process that imports gerhard from `tree` and registers what it is sent."""

    def __init__(self, tree: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(tree))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def register(self, repo: Path, bundle: Path, run_id: str) -> bench.Sample:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"repo": str(repo), "bundle": str(bundle), "run_id": run_id}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"benchmark worker died registering {run_id} (see its error above)")
        wall, cpu = json.loads(line)
        return wall, cpu

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait()


def export(rev: str) -> Path:
    args = ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"]
    sha = subprocess.run(args, cwd=HERE, capture_output=True, text=True)
    if sha.returncode != 0:
        raise SystemExit(f"--baseline {rev} is not a commit of this repository")
    tree = bench.WORK / f"baseline-{sha.stdout.strip()[:12]}"
    if not tree.is_dir():
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", sha.stdout.strip()], cwd=HERE, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def copy_of(repo: Path, name: str) -> Path:
    dest = repo.parent / f"{repo.name}-{name}"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(repo, dest, symlinks=True)
    return dest


def measure(runs: int, reps: int, workers: dict[str, Worker], bundle: Path) -> dict[str, list[bench.Sample]]:
    base = bench.registry(runs, fresh=False)
    repos = {"floor": base, **{name: copy_of(base, name) for name in workers}}
    samples: dict[str, list[bench.Sample]] = {way: [] for way in repos}
    ways = list(repos)
    for rep in range(-1, reps):
        for way in ways[rep % len(ways) :] + ways[: rep % len(ways)]:
            run_id = f"20261125T000000Z_cmp{runs}_{way}_{rep + 1:03d}"
            if way == "floor":
                sample = bench.timed(bench.floor, repos[way], bundle, run_id)
            else:
                sample = workers[way].register(repos[way], bundle, run_id)
            if rep >= 0:
                samples[way].append(sample)
    return samples


def report(results: dict[str, Any], baseline: str) -> str:
    lines = [f"register: this tree vs {baseline}, in-process, median of {results['reps']}", ""]
    for runs, sizes in results["sizes"].items():
        wall, cpu = sizes["median_ms"], sizes["cpu_median_ms"]
        lines.append(
            f"{int(runs):>6,} runs: floor {wall['floor']:7.1f} ms | baseline {wall['baseline']:7.1f} ms "
            f"({wall['baseline'] / wall['floor']:.2f}x floor) | this tree {wall['this']:7.1f} ms "
            f"({wall['this'] / wall['floor']:.2f}x floor) | this/baseline {wall['this'] / wall['baseline']:.3f} "
            f"(CPU time: {cpu['this'] / cpu['baseline']:.3f})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help=f"revision to compare with ({DEFAULT_BASELINE})")
    parser.add_argument("--reps", type=int, default=11, help="timed repetitions (default 11)")
    parser.add_argument("--runs", type=int, default=bench.LARGE, help="prior runs in the large registry")
    args = parser.parse_args(argv)
    bench.isolate_git([])
    bundle = bench.WORK / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    shutil.copytree(bench.history.EXAMPLES / "phase_b_green", bundle)
    workers = {"baseline": Worker(export(args.baseline)), "this": Worker(HERE.parent)}
    try:
        sizes = {}
        for runs in (bench.SMALL, args.runs):
            bench.log(f"comparing at {runs:,} runs ({args.reps} repetitions) ...")
            sizes[str(runs)] = bench.summary(measure(runs, args.reps, workers, bundle))
    finally:
        for worker in workers.values():
            worker.close()
    results = {"baseline": args.baseline, "reps": args.reps, "sizes": sizes}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results, args.baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
