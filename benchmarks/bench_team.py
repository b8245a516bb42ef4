"""The team flow's cost: `register --push` against `register` + `git push` by hand, into a bare
remote on this disk, measured in the same run.

    python benchmarks/bench_team.py            (make bench runs it)

The pre-commit hook and `gerhard check` are measured by benchmarks/bench_hooks.py.
Medians of --reps; writes benchmarks/team.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402  (benchmarks/ is not a package)

RESULTS = HERE / "team.json"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def gerhard(repo: Path, *args: str, ok: tuple[int, ...] = (0,)) -> None:
    proc = subprocess.run([sys.executable, "-m", "gerhard", *args], cwd=repo, capture_output=True)
    if proc.returncode not in ok:
        raise SystemExit(f"gerhard {' '.join(args)} failed: {proc.stderr.decode().strip()}")


def median_ms(samples: list[bench.Sample]) -> float:
    return round(statistics.median(s[0] for s in samples) * 1000, 1)


def push_vs_by_hand(bundle: Path, reps: int) -> dict[str, float]:
    repo = bench.registry(bench.SMALL, fresh=False)
    remote = bench.WORK / "team-remote.git"
    shutil.rmtree(remote, ignore_errors=True)
    git(repo.parent, "clone", "-q", "--bare", str(repo), str(remote))
    if "origin" in _remotes(repo):
        git(repo, "remote", "remove", "origin")
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "fetch", "-q", "origin")
    git(repo, "branch", "-q", "--set-upstream-to=origin/main")
    by_hand, pushed = [], []
    for n in range(reps):
        run_id = f"20261125T000000Z_push_{n:03d}"
        by_hand.append(bench.timed(lambda r=run_id: (bench.register_process(repo, bundle, r), git(repo, "push", "-q"))))
        args = ["register", "--run-id", f"{run_id}_p", "--phase", "B", "--source-dir", str(bundle), "--push"]
        pushed.append(bench.timed(gerhard, repo, *args))
    git(repo, "remote", "remove", "origin")
    return {"register + git push by hand": median_ms(by_hand), "register --push": median_ms(pushed)}


def _remotes(repo: Path) -> str:
    return subprocess.run(["git", "remote"], cwd=repo, capture_output=True, text=True).stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args(argv)
    bench.isolate_git([])
    bundle = bench.WORK / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    shutil.copytree(bench.history.EXAMPLES / "phase_b_green", bundle)
    bench.log("register --push vs by hand ...")
    results = {"push": push_vs_by_hand(bundle, args.reps)}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for name, figures in results.items():
        print(f"{name:<22} " + ", ".join(f"{k} {v:.1f} ms" for k, v in figures.items()))
    push = results["push"]
    print(f"register --push / by hand: {push['register --push'] / push['register + git push by hand']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
