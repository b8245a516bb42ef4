"""gerhard's benchmarks: `register` against the by-hand floor at 10 and 10,000 prior runs,
the read commands, and start-up time.

    make bench                      (or: python benchmarks/run.py)
    python benchmarks/run.py --reps 15 --strict

The floor is what registering costs by hand in the same repository, measured in the same
run: copy the bundle to outputs/<id>/, write one small YAML record, `git add` those paths,
`git commit`. Targets (DESIGN.md, "Cost must not grow with the number of runs"):
in-process `register` within 3x the floor; `register` at 10,000 runs at most 1.3x slower
than at 10; `show latest` at 10,000 runs within 0.3 s. The registries are generated once
(benchmarks/history.py) and cached in benchmarks/.work/, reset to their generated commit
before each run. Prints a table, writes benchmarks/results.json; exits 1 on a failed
target only with --strict.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# The gerhard measured is this checkout's (in-process and in every `python -m gerhard`), not an installed
# copy elsewhere; a PYTHONPATH set by hand picks another (e.g. an older commit, to compare).
os.environ.setdefault("PYTHONPATH", str(HERE.parent))
sys.path.insert(0, os.environ["PYTHONPATH"].split(os.pathsep)[0])

import history  # noqa: E402  (benchmarks/ is not a package)

WORK = HERE / ".work"
RESULTS = HERE / "results.json"
SMALL, LARGE, HUGE = 10, 10_000, 100_000
TARGET_VS_FLOOR, TARGET_GROWTH, TARGET_SHOW_S = 3.0, 1.3, 0.3
# issue 19: a whole-process registration within Python's start-up + 0.15 s at 10 runs, and flat in history
TARGET_STARTUP_S, TARGET_WHOLE_GROWTH = 0.15, {LARGE: 1.15, HUGE: 1.3}
READS = {"show latest": ["show", "latest"], "status": ["status"], "list --limit 20": ["list", "--limit", "20"]}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def isolate_git(config: list[str]) -> None:
    """Every git command (ours, gerhard's, in-process or not) ignores the machine's git config and
    gets `config` (KEY=VALUE items, e.g. core.splitIndex=true) instead."""
    home = WORK / "home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_COUNT=str(len(config)))
    for i, item in enumerate(config):
        key, _, value = item.partition("=")
        os.environ.update({f"GIT_CONFIG_KEY_{i}": key, f"GIT_CONFIG_VALUE_{i}": value})
    for who in ("AUTHOR", "COMMITTER"):
        os.environ[f"GIT_{who}_NAME"] = "Bench Researcher"
        os.environ[f"GIT_{who}_EMAIL"] = "bench@example.com"
    for var in ("GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE"):
        os.environ.pop(var, None)


def cache_key() -> str:
    """history.VERSION, plus a digest of what a cached registry must agree with for `register` to
    work on it: the generator, the state schemas and the fold (report wording may drift: --fresh)."""
    root = HERE.parent
    sources = [
        HERE / "history.py",
        root / "gerhard/core/derive.py",
        root / "gerhard/core/phases.py",
        root / "gerhard/core/records.py",
    ]
    digest = hashlib.sha256()
    for path in sources + sorted((root / "schemas").glob("*.json")):
        digest.update(path.read_bytes())
    return f"v{history.VERSION}-{digest.hexdigest()[:10]}"


def registry(runs: int, fresh: bool, split_index: bool = False) -> Path:
    """The cached registry with `runs` prior runs, reset to its generated commit (and index format:
    a run with --git-config core.splitIndex=true leaves a split index behind)."""
    repo = WORK / f"registry-{runs}-{cache_key()}"
    marker = repo.parent / f"{repo.name}.base"
    if fresh or not marker.is_file() or not repo.is_dir():
        for stale in WORK.glob(f"registry-{runs}-*"):  # a 10,000-run work tree is a few hundred MB
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink()
        log(f"generating a registry with {runs:,} runs in {repo} (once; cached) ...")
        start = time.perf_counter()
        marker.write_text(history.build_registry(repo, runs, WORK / f"variants-{runs}") + "\n")
        log(f"  generated in {time.perf_counter() - start:.0f} s")
    history.git(repo, "reset", "-q", "--hard", marker.read_text().strip())
    history.git(repo, "clean", "-fdq")
    history.git(repo, "update-index", "--split-index" if split_index else "--no-split-index")
    time.sleep(1.1)  # files just written are "racily clean": let the refresh below settle them
    history.git(repo, "update-index", "-q", "--refresh")
    return repo


def verify(repo: Path) -> None:
    log(f"verifying {repo} with 'gerhard rebuild --check' (reads every record: slow) ...")
    proc = subprocess.run([sys.executable, "-m", "gerhard", "rebuild", "--check"], cwd=repo, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"generated registry is inconsistent:\n{proc.stdout.decode()}{proc.stderr.decode()}")
    log("  " + proc.stderr.decode().strip())


Sample = tuple[float, float]  # wall seconds, CPU seconds (user + system, this process and its children)


def cpu_seconds() -> float:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def timed(fn: Callable[..., object], *args: Any) -> Sample:
    """Wall time is what a user waits; CPU time barely moves when other processes share the machine."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    fn(*args)
    return time.perf_counter() - wall, cpu_seconds() - cpu


def floor(repo: Path, bundle: Path, run_id: str) -> None:
    """Registering by hand: copy the bundle, write a small record, git add, git commit."""
    dest = repo / "outputs" / run_id
    dest.mkdir(parents=True)
    for f in sorted(bundle.iterdir()):
        shutil.copyfile(f, dest / f.name)
    record = f"run_id: {run_id}\nphase: B\nverdict: GREEN\nartifact_root: outputs/{run_id}\nsummary: by hand\n"
    # Beside state/runs/, not in it: gerhard folds in any record it finds there, and this one is no record.
    (repo / "floor").mkdir(exist_ok=True)
    (repo / "floor" / f"{run_id}.yaml").write_text(record)
    for args in (["add", "--", f"outputs/{run_id}", f"floor/{run_id}.yaml"], ["commit", "-q", "-m", run_id]):
        subprocess.run(["git", *args], cwd=repo, check=True)


def register_in_process(repo: Path, bundle: Path, run_id: str) -> None:
    from gerhard.flows.registration import register

    result = register(
        run_id=run_id, phase="B", source_dir=bundle, repo_root=repo, summary="benchmark", allow_duplicate=True
    )
    if result.commit is None or result.verdict != "GREEN":
        raise SystemExit(f"benchmark registration of {run_id} did not commit a GREEN run: {result}")


def gerhard(repo: Path, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "gerhard", *args], cwd=repo, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"gerhard {' '.join(args)} failed: {proc.stderr.decode().strip()}")


def register_process(repo: Path, bundle: Path, run_id: str) -> None:
    args = ["--run-id", run_id, "--phase", "B", "--source-dir", str(bundle), "--summary", "benchmark"]
    gerhard(repo, "register", *args, "--allow-duplicate")  # every round registers the same bundle


REGISTER_WAYS = {"floor": floor, "in-process": register_in_process, "whole-process": register_process}


def measure_register(repo: Path, bundle: Path, reps: int, tag: str) -> dict[str, list[Sample]]:
    """Each way once untimed (warm caches), then `reps` rounds, each way registering a new run id;
    the order rotates each round so no way always runs right after another."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    times: dict[str, list[Sample]] = {way: [] for way in REGISTER_WAYS}
    ways = list(REGISTER_WAYS)
    for rep in range(-1, reps):
        order = ways[rep % len(ways) :] + ways[: rep % len(ways)]
        for way in order:
            run_id = f"{stamp}_bench{tag}_{way.split('-')[0]}_{rep + 1:03d}"
            sample = timed(REGISTER_WAYS[way], repo, bundle, run_id)
            if rep >= 0:
                times[way].append(sample)
    return times


def measure_reads(repo: Path, reps: int) -> dict[str, list[Sample]]:
    gerhard(repo, "status")  # warm the OS file cache
    return {name: [timed(gerhard, repo, *args) for _ in range(reps)] for name, args in READS.items()}


def measure_startup(reps: int) -> dict[str, list[Sample]]:
    def run(*args: str) -> None:
        subprocess.run([sys.executable, *args], check=True, capture_output=True)

    run("-m", "gerhard", "--help")
    return {
        "python -c pass": [timed(run, "-c", "pass") for _ in range(reps)],
        "gerhard --help": [timed(run, "-m", "gerhard", "--help") for _ in range(reps)],
    }


def summary(samples: dict[str, list[Sample]]) -> dict[str, Any]:
    def ms(values: list[float], stat: Callable[[list[float]], float]) -> float:
        return round(stat(values) * 1000, 1)

    wall = {k: [s[0] for s in v] for k, v in samples.items()}
    cpu = {k: [s[1] for s in v] for k, v in samples.items()}
    return {
        "median_ms": {k: ms(v, statistics.median) for k, v in wall.items()},
        "min_ms": {k: ms(v, min) for k, v in wall.items()},
        "cpu_median_ms": {k: ms(v, statistics.median) for k, v in cpu.items()},
        "wall_s": wall,
        "cpu_s": cpu,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    load_before = round(os.getloadavg()[0], 2)
    bundle = WORK / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    shutil.copytree(history.EXAMPLES / "phase_b_green", bundle)
    compileall.compile_dir(
        Path(history.derive.__file__).parent.parent, quiet=1
    )  # bytecode cached, as in an installed copy
    sizes: dict[str, Any] = {}
    for runs in size_list(args):
        repo = registry(runs, args.fresh, "core.splitindex=true" in (c.lower() for c in args.git_config))
        if args.verify:
            verify(repo)
        log(f"timing at {runs:,} runs ({args.reps} repetitions) ...")
        samples = measure_register(repo, bundle, args.reps, str(runs))
        samples.update(measure_reads(repo, args.reps))
        sizes[str(runs)] = summary(samples) | {"runs": runs}
    startup = measure_startup(args.reps)
    return {
        "meta": {
            "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "load_average_before": load_before,
            "load_average_after": round(os.getloadavg()[0], 2),
            "git_config": args.git_config,
            "reps": args.reps,
            "python": platform.python_version(),
            "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip(),
            "cpus": os.cpu_count(),
            "history": cache_key(),
            "gerhard": str(Path(history.derive.__file__).parent.parent),
            "sizes": size_list(args),
        },
        "sizes": sizes,
        "startup": summary(startup),
    }


def size_list(args: argparse.Namespace) -> list[int]:
    return [SMALL, args.runs] + ([HUGE] if args.huge and args.runs != HUGE else [])


def targets(results: dict[str, Any], large: int) -> list[dict[str, Any]]:
    """PASS/FAIL on wall-time medians; the same figure in CPU time is shown beside it (steadier when
    other processes share the machine)."""
    sizes = {n: results["sizes"][str(n)] for n in results["meta"]["sizes"]}

    def both(fn: Callable[[str], float]) -> tuple[float, float]:
        return fn("median_ms"), fn("cpu_median_ms")

    checks = [
        (
            f"in-process register <= {TARGET_VS_FLOOR:g}x floor at {n:,} runs",
            both(lambda stat, n=n: sizes[n][stat]["in-process"] / sizes[n][stat]["floor"]),
            TARGET_VS_FLOOR,
            "x",
        )
        for n in (SMALL, large)
    ]
    checks.append(
        (
            f"in-process register at {large:,} <= {TARGET_GROWTH:g}x at {SMALL} runs",
            both(lambda stat: sizes[large][stat]["in-process"] / sizes[SMALL][stat]["in-process"]),
            TARGET_GROWTH,
            "x",
        )
    )
    startup = results["startup"]
    checks.append(
        (
            f"whole-process register at {SMALL} runs <= python -c pass + {TARGET_STARTUP_S * 1000:.0f} ms",
            both(lambda stat: sizes[SMALL][stat]["whole-process"] - startup[stat]["python -c pass"]),
            TARGET_STARTUP_S * 1000,
            " ms over",
        )
    )
    checks += [
        (
            f"whole-process register at {n:,} <= {limit:g}x at {SMALL} runs",
            both(lambda stat, n=n: sizes[n][stat]["whole-process"] / sizes[SMALL][stat]["whole-process"]),
            limit,
            "x",
        )
        for n, limit in TARGET_WHOLE_GROWTH.items()
        if n in sizes
    ]
    checks.append(
        (
            f"show latest (whole process) at {large:,} runs <= {TARGET_SHOW_S * 1000:.0f} ms",
            both(lambda stat: sizes[large][stat]["show latest"]),
            TARGET_SHOW_S * 1000,
            " ms",
        )
    )
    return [
        {
            "target": target,
            "value": f"{wall:.2f}{unit}" if unit == "x" else f"{wall:.0f}{unit}",
            "cpu_value": f"{cpu:.2f}{unit}" if unit == "x" else f"{cpu:.0f}{unit}",
            "passed": wall <= limit,
        }
        for target, (wall, cpu), limit, unit in checks
    ]


def table(results: dict[str, Any], large: int) -> str:
    runs = results["meta"]["sizes"]
    per = [results["sizes"][str(n)]["median_ms"] for n in runs]
    cpu = [results["sizes"][str(n)]["cpu_median_ms"] for n in runs]
    startup = results["startup"]["median_ms"]
    m = results["meta"]
    head = f"{'median of ' + str(m['reps']) + ' (wall / CPU)':<36}" + "".join(f"{f'{n:,} runs':>30}" for n in runs)
    head += "".join(f"{f'{n:,}/{SMALL}':>12}" for n in runs[1:])
    lines = [f"gerhard benchmarks: {m['git']}, Python {m['python']}, {m['cpus']} CPUs", "", head, "-" * len(head)]
    rows = [
        ("floor: copy + git add + git commit", "floor"),
        ("register, in-process", "in-process"),
        ("register, whole process", "whole-process"),
        *((f"{name}, whole process", name) for name in READS),
    ]
    for label, key in rows:
        cells = [
            f"{ms[key]:7.1f} / {c[key]:6.1f} ms" + ("" if key == "floor" else f" {ms[key] / ms['floor']:4.1f}x fl")
            for ms, c in zip(per, cpu, strict=True)
        ]
        growth = [f"{ms[key] / per[0][key]:>11.2f}x" for ms in per[1:]]
        lines.append(f"{label:<36}" + "".join(f"{c:>30}" for c in cells) + "".join(growth))
    help_ratio = startup["gerhard --help"] / startup["python -c pass"]
    lines += [
        "",
        f"{'python -c pass':<36}{startup['python -c pass']:8.1f} ms",
        f"{'gerhard --help, whole process':<36}{startup['gerhard --help']:8.1f} ms"
        f"   ({help_ratio:.2f}x python -c pass)",
        "",
        f"x fl = times the floor at the same size (wall); N/{SMALL} = at N runs / at {SMALL} runs (wall)",
    ]
    if max(m["load_average_before"], m["load_average_after"]) > 0.75 * (m["cpus"] or 1):
        lines.append(
            f"warning: the machine was busy (load average {m['load_average_before']} before, "
            f"{m['load_average_after']} after): timings are noisy, ratios less so (measured interleaved)"
        )
    lines += ["", "targets:"]
    lines += [
        f"  {'PASS' if t['passed'] else 'FAIL'}  {t['target']}: {t['value']} (in CPU time: {t['cpu_value']})"
        for t in results["targets"]
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=9, help="timed repetitions per measurement (default 9)")
    parser.add_argument("--runs", type=int, default=LARGE, help=f"prior runs in the large registry (default {LARGE})")
    parser.add_argument("--fresh", action="store_true", help="regenerate the cached registries")
    parser.add_argument("--verify", action="store_true", help="check the generated registries with 'rebuild --check'")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument(
        "--huge", action="store_true", help=f"also measure at {HUGE:,} runs (generating it takes about 15 minutes)"
    )
    parser.add_argument(
        "--git-config", action="append", default=[], metavar="KEY=VALUE", help="git config for every git command"
    )
    args = parser.parse_args(argv)
    isolate_git(args.git_config)
    results = measure(args)
    results["targets"] = targets(results, args.runs)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results, args.runs))
    print(f"\nwritten to {RESULTS.relative_to(HERE.parent)}")
    failed = [t for t in results["targets"] if not t["passed"]]
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
