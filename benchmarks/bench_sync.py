"""`gerhard sync push` against the tools a user would reach for instead, measured in the same run.

    python benchmarks/bench_sync.py            (make bench runs it)
    python benchmarks/bench_sync.py --reps 9 --strict

Three comparisons, each `gerhard` as a whole process (`python -m gerhard sync push ...`, Python
start-up included, as a user runs it) against its floor, medians of --reps, interleaved, after one
untimed call of each (file caches warm, bytecode written):

- a no-op `sync push --all` of a 1,000-run registry (6 files and a MANIFEST per run: the cached
  registry of benchmarks/run.py) to a local path already in sync, against a no-op `rsync -a` of
  outputs/ to a copy already in sync (target <= 1.5x; the row is skipped, and says so, without rsync);
- the first full push to an empty local path against `cp -r outputs/` (target <= 1.5x);
- the push of one run holding a 256 MB checkpoint to an S3-compatible server on loopback
  (moto's standalone server, reached by s3fs over HTTP) against a plain s3fs `put_file` of the same
  file in its own process (target <= 1.2x; skipped, and says so, without s3fs and moto[server]).

Writes benchmarks/sync_results.json; exits 1 on a missed target only with --strict.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402  (benchmarks/ is not a package)

RESULTS = HERE / "sync_results.json"
WORK = bench.WORK / "sync"
RUNS = 1000
TARGETS = {"no-op push --all vs rsync -a": 1.5, "first push vs cp -r": 1.5, "256 MB push to S3 vs s3fs put": 1.2}
PLAIN_PUT = """
import sys, s3fs
s3fs.S3FileSystem(endpoint_url=sys.argv[3]).put_file(sys.argv[1], sys.argv[2])
"""


def python_env() -> dict[str, str]:
    """The environment of the Python processes timed: bytecode cached, as in an installed gerhard (pip
    compiles it; a checkout writes it on first import). PYTHONDONTWRITEBYTECODE, set on some machines,
    would have every run compile gerhard's modules again (about 35 ms of a no-op push here); the
    bytecode goes to the benchmark's work folder, not beside the sources."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(WORK / "pycache")}


def sh(argv: list[str | Path], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed: {proc.stderr.decode().strip()}")


def gerhard_sync(repo: Path, *args: str, env: dict[str, str] | None = None) -> None:
    sh([sys.executable, "-m", "gerhard", "sync", "push", *args], cwd=repo, env=env or python_env())


def wall(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(ways: dict[str, Callable[[], object]], reps: int, before: Callable[[], object] | None = None) -> dict:
    """Median wall seconds of each way (and every sample), after one untimed call of each; `before`
    (untimed) runs before every call."""
    times: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for way in ways.values():
        if before:
            before()
        way()
    for rep in range(reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            if before:
                before()
            times[name].append(wall(ways[name]))
    return {**{name: statistics.median(t) for name, t in times.items()}, "samples": times}


def local_rows(reps: int) -> dict[str, Any]:
    repo = bench.registry(RUNS, fresh=False)
    outputs = repo / "outputs"
    files = sum(1 for _ in outputs.rglob("*") if _.is_file())
    bench.log(f"{RUNS:,} runs, {files:,} files: first push vs cp -r ({reps} repetitions) ...")
    remote, copy = WORK / "remote", WORK / "cp_copy"

    def empty() -> None:
        shutil.rmtree(remote, ignore_errors=True)
        shutil.rmtree(copy, ignore_errors=True)
        os.sync()  # the deletions' writeback is not charged to the next timed copy

    first = interleaved(
        {
            "gerhard": lambda: gerhard_sync(repo, "--all", "--remote", str(remote)),
            "floor": lambda: sh(["cp", "-r", outputs, copy]),
        },
        reps,
        before=empty,
    )
    rows = {"runs": RUNS, "files": files, "first push vs cp -r": first}
    if not shutil.which("rsync"):
        bench.log("rsync is not installed: the no-op row is skipped (apt-get install rsync)")
        rows["no-op push --all vs rsync -a"] = {"skipped": "rsync is not installed"}
        return rows
    bench.log(f"no-op push --all vs rsync -a ({reps} repetitions) ...")
    mirror = WORK / "rsync_copy"
    gerhard_sync(repo, "--all", "--remote", str(remote))
    sh(["rsync", "-a", f"{outputs}/", mirror])
    rows["no-op push --all vs rsync -a"] = interleaved(
        {
            "gerhard": lambda: gerhard_sync(repo, "--all", "--remote", str(remote)),
            "floor": lambda: sh(["rsync", "-a", f"{outputs}/", mirror]),
            "gerhard in-process": lambda: in_process(repo, "--all", "--remote", str(remote)),
        },
        reps,
    )
    return rows


def in_process(repo: Path, *args: str) -> None:
    """The same command through gerhard.cli.main in this process: no interpreter start-up, no imports."""
    from gerhard import cli

    with open(os.devnull, "w") as null, redirect_stdout(null):
        if cli.main(["sync", "push", *args, "--repo", str(repo)]) != 0:
            raise SystemExit(f"gerhard sync push {' '.join(args)} failed")


@contextmanager
def moto_server() -> Iterator[str | None]:
    """An S3-compatible server on loopback, or None (and why, on stderr) when it cannot be had."""
    server = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        bench.log("s3fs is not installed: the S3 row is skipped (pip install 'gerhard[s3]')")
        yield None
        return
    if not Path(server).exists():
        bench.log("moto_server is not installed: the S3 row is skipped (pip install 'moto[server]')")
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def s3_row(reps: int, megabytes: int) -> dict[str, Any]:
    with moto_server() as endpoint:
        if endpoint is None:
            return {"skipped": "s3fs or moto[server] is not installed"}
        import s3fs

        env = dict(
            python_env(), AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
        )
        env["FSSPEC_S3_ENDPOINT_URL"] = endpoint  # how a user points gerhard (fsspec) at an S3-compatible store
        os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
        fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
        fs.mkdir("bench")
        repo, run_id = registry_with_checkpoint(megabytes)
        checkpoint = repo / "outputs" / run_id / "model.pt"
        bench.log(f"one {megabytes} MB checkpoint to S3 on loopback ({reps} repetitions) ...")
        n = iter(range(10**6))

        def clear() -> None:
            fs.rm("bench/*", recursive=True) if fs.ls("bench") else None
            fs.invalidate_cache()

        row = interleaved(
            {
                "gerhard": lambda: gerhard_sync(
                    repo, "--run-id", run_id, "--remote", f"s3://bench/g{next(n)}", env=env
                ),
                "floor": lambda: sh(
                    [sys.executable, "-c", PLAIN_PUT, checkpoint, f"s3://bench/p{next(n)}/model.pt", endpoint], env=env
                ),
            },
            reps,
            before=clear,
        )
        return {"megabytes": megabytes, **row}


def registry_with_checkpoint(megabytes: int) -> tuple[Path, str]:
    """A fresh registry with one registered run whose model.pt (stored remote) is `megabytes` MiB."""
    repo, bundle, run_id = WORK / "s3-registry", WORK / "s3-bundle", "20261125T000000Z_checkpoint"
    for folder in (repo, bundle):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(bench.history.EXAMPLES / "phase_a_green", bundle)
    with open(bundle / "model.pt", "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(megabytes):
            f.write(block)
    repo.mkdir(parents=True)
    sh(["git", "init", "-q", "-b", "main"], cwd=repo)
    sh([sys.executable, "-m", "gerhard", "init", "--example"], cwd=repo)
    sh(["git", "add", "-A"], cwd=repo)
    sh(["git", "commit", "-q", "-m", "gerhard init"], cwd=repo)
    sh(
        [sys.executable, "-m", "gerhard", "register", "--run-id", run_id, "--phase", "A", "--source-dir", bundle],
        cwd=repo,
    )
    shutil.rmtree(bundle)
    return repo, run_id


def ratios(results: dict[str, Any]) -> list[str]:
    """One line per comparison (ratios added to the rows); the in-process figure beside the no-op's."""
    lines = []
    for name, target in TARGETS.items():
        row = results[name]
        if "skipped" in row:
            lines.append(f"{name:<32} skipped: {row['skipped']}")
            continue
        row["ratio"] = round(row["gerhard"] / row["floor"], 2)
        verdict = "PASS" if row["ratio"] <= target else "MISS"
        figures = f"gerhard {row['gerhard']:.3f} s, floor {row['floor']:.3f} s"
        lines.append(f"{name:<32} {figures}: {row['ratio']:.2f}x (target <= {target}x) {verdict}")
        if "gerhard in-process" in row:
            inside = row["gerhard in-process"]
            lines.append(f"{'':<32} in-process (no start-up): {inside:.3f} s, {inside / row['floor']:.2f}x")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--megabytes", type=int, default=256)
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 row")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    bench.isolate_git([])
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    meta: dict[str, Any] = {"reps": args.reps, "cpus": os.cpu_count(), "load_average_before": os.getloadavg()[0]}
    results = local_rows(args.reps)
    meta.update(runs=results.pop("runs"), files=results.pop("files"))
    s3 = {"skipped": "--no-s3"} if args.no_s3 else s3_row(args.reps, args.megabytes)
    results["256 MB push to S3 vs s3fs put"] = s3
    lines = ratios(results)
    meta["load_average_after"] = os.getloadavg()[0]
    RESULTS.write_text(json.dumps({"meta": meta, **results}, indent=2) + "\n")
    print("\n".join(lines))
    shutil.rmtree(WORK, ignore_errors=True)
    return 1 if args.strict and any(line.endswith("MISS") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
