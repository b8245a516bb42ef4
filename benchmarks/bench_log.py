"""`gerhard log` over 10,000 registration commits against plain `git log --format=%(trailers)`.

    python benchmarks/bench_log.py            (make bench runs it)
    python benchmarks/bench_log.py --reps 15

The history: one commit per run of the cached 10,000-run registry (benchmarks/run.py `registry()`,
which holds them as one generated commit), each with the message `gerhard register` writes for
that record (subject, body, the seven Gerhard-* trailers) and its registration time, plus a
decision commit after every 100th RED run. It is written with `git fast-import` into
benchmarks/.work/ and cached under a digest of this generator. The floor is
`git log --format=%(trailers)` over the same history, the whole of it; `gerhard log` and
`gerhard log --json` run as whole processes (Python start-up included), stdout to /dev/null. After
its first run a log reads the entries it kept (gerhard.git.logcache) and the commits made since;
"nothing kept" removes them before each run: the whole history is read, as on a first log.
Target (issue 19): `gerhard log` at most 1.5x the floor (wall; the CPU ratio is reported too).
Medians of --reps, interleaved; writes benchmarks/log.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402  (benchmarks/ is not a package)

RESULTS = HERE / "log.json"
TARGET = 1.5  # issue 19
DECIDE_EVERY = 100  # a decision after every 100th RED run
FLOOR = "floor: git log --format=%(trailers)"
NOTHING_KEPT = "gerhard log, nothing kept"  # gerhard.git.logcache's file removed first: the whole history read
WAYS = {
    FLOOR: ["git", "log", "--format=%(trailers)"],
    "gerhard log": [sys.executable, "-m", "gerhard", "log"],
    NOTHING_KEPT: [sys.executable, "-m", "gerhard", "log"],
    "gerhard log --json": [sys.executable, "-m", "gerhard", "log", "--json"],
    "gerhard log --phase A": [sys.executable, "-m", "gerhard", "log", "--phase", "A"],
    "gerhard log --limit 20": [sys.executable, "-m", "gerhard", "log", "--limit", "20"],
}


def records(registry: Path) -> list[dict[str, Any]]:
    """Every run record of the registry, in registration order (read as `gerhard` reads state)."""
    from gerhard.formats.yamlio import read_state_yaml, to_plain

    out = [to_plain(read_state_yaml(p.read_text(), p.name)) for p in (registry / "state" / "runs").glob("*.yaml")]
    return sorted(out, key=lambda r: r["seq"])


def message(record: dict[str, Any]) -> str:
    from gerhard.core.gates import GateReport, GateResult
    from gerhard.core.records import RunRecord
    from gerhard.flows.registration import commit_message

    report = GateReport(tuple(GateResult(**g) for g in record["gates"]), record["verdict"])
    return commit_message(RunRecord.from_dict(record), report)


def decision_message(record: dict[str, Any], n: int) -> str:
    """As `gerhard decide` writes it."""
    return (
        f"decide {record['run_id']}: rerun\n\nReason: benchmark decision {n}\n\n"
        f"Gerhard-Decision: rerun\nGerhard-Run-Id: {record['run_id']}\nGerhard-Phase: {record['phase']}\n"
    )


def _commit(when: dt.datetime, text: str) -> bytes:
    """One commit on main; without `from`, fast-import makes it a child of the branch's last one."""
    stamp = int(when.timestamp())
    data = text.encode()
    head = b"commit refs/heads/main\n"
    head += b"author Bench Researcher <bench@example.com> %d +0000\n" % stamp
    head += b"committer Bench Researcher <bench@example.com> %d +0000\n" % stamp
    head += b"data %d\n" % len(data) + data + b"\n"
    return head + b"\n"


def fast_import_stream(runs: list[dict[str, Any]]) -> bytes:
    """A chain of commits (each with the empty tree: `git log` reads commits, not trees)."""
    chunks, reds = [], 0
    for record in runs:
        when = dt.datetime.fromisoformat(record["registered_at"].replace("Z", "+00:00"))
        chunks.append(_commit(when, message(record)))
        if record["verdict"] == "RED":
            reds += 1
            if reds % DECIDE_EVERY == 0:
                chunks.append(_commit(when + dt.timedelta(seconds=1), decision_message(record, reds)))
    return b"".join(chunks)


def generator_key() -> str:
    sources = [Path(__file__), HERE.parent / "gerhard" / "flows" / "registration.py"]
    return hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:10]


def log_history(runs: int) -> Path:
    """The cached history repository with `runs` registration commits (generated once)."""
    repo = bench.WORK / f"log-history-{runs}-{generator_key()}"
    if (repo / "ready").is_file():
        return repo
    for stale in bench.WORK.glob(f"log-history-{runs}-*"):
        shutil.rmtree(stale)
    source = records(bench.registry(runs, fresh=False))
    bench.log(f"writing {len(source):,} registration commits to {repo} with git fast-import ...")
    start = time.perf_counter()
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "config", "gc.auto", "0"], cwd=repo, check=True)
    stream = fast_import_stream(source)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=stream, check=True)
    subprocess.run(["git", "reset", "-q", "--hard"], cwd=repo, check=True)
    (repo / "ready").write_text(f"{len(source)}\n")
    bench.log(f"  written in {time.perf_counter() - start:.1f} s")
    return repo


def run_quiet(repo: Path, argv: list[str]) -> None:
    proc = subprocess.run(argv, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode().strip()}")


def measure(repo: Path, reps: int) -> dict[str, list[bench.Sample]]:
    """Each way once untimed, then `reps` rounds in a rotating order."""
    ways = list(WAYS)
    samples: dict[str, list[bench.Sample]] = {w: [] for w in ways}
    for rep in range(-1, reps):
        for way in ways[rep % len(ways) :] + ways[: rep % len(ways)]:
            if way == NOTHING_KEPT:
                from gerhard.git.logstream import KEPT

                shutil.rmtree(repo / ".git" / KEPT, ignore_errors=True)
            sample = bench.timed(run_quiet, repo, WAYS[way])
            if rep >= 0:
                samples[way].append(sample)
    return samples


def count(repo: Path, *args: str) -> int:
    out = subprocess.run(["git", "rev-list", "--count", *args, "HEAD"], cwd=repo, capture_output=True, text=True)
    return int(out.stdout)


def summarize(repo: Path, samples: dict[str, list[bench.Sample]], reps: int, load: list[float]) -> dict[str, Any]:
    median = {w: round(statistics.median(s[0] for s in v) * 1000, 1) for w, v in samples.items()}
    ratio = median["gerhard log"] / median[FLOOR]
    cpu = {w: round(statistics.median(s[1] for s in v) * 1000, 1) for w, v in samples.items()}
    return {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip(),
        "cpus": os.cpu_count(),
        "load_average_before_after": load,
        "commits": count(repo),
        "registrations": count(repo, "--grep=^Gerhard-Verdict: "),
        "reps": reps,
        "median_ms": median,
        "cpu_median_ms": cpu,
        "target": {
            "gerhard log / floor": round(ratio, 2),
            "gerhard log / floor, CPU": round(cpu["gerhard log"] / cpu[FLOOR], 2),
            "nothing kept / floor": round(median[NOTHING_KEPT] / median[FLOOR], 2),
            "nothing kept / floor, CPU": round(cpu[NOTHING_KEPT] / cpu[FLOOR], 2),
            "at most": TARGET,
            "passed": ratio <= TARGET,
        },
    }


def report(r: dict[str, Any]) -> str:
    median, cpu = r["median_ms"], r["cpu_median_ms"]
    lines = [f"gerhard log over {r['commits']:,} commits ({r['registrations']:,} registrations), median of {r['reps']}"]
    for way in WAYS:
        ratio = median[way] / median[FLOOR]
        lines.append(f"  {way:<40}{median[way]:8.1f} ms  {ratio:5.2f}x floor  (CPU {cpu[way]:.1f} ms)")
    if max(r["load_average_before_after"]) > 0.75 * (r["cpus"] or 1):
        lines.append(
            f"warning: the machine was busy (load average {r['load_average_before_after']}): timings are noisy"
        )
    t = r["target"]
    verdict = "PASS" if t["passed"] else "FAIL"
    lines.append(
        f"target: gerhard log <= {TARGET}x the floor: {verdict} ({t['gerhard log / floor']:.2f}x wall, "
        f"{t['gerhard log / floor, CPU']:.2f}x CPU)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=9, help="timed repetitions (default 9)")
    parser.add_argument("--runs", type=int, default=bench.LARGE, help=f"registrations (default {bench.LARGE})")
    args = parser.parse_args(argv)
    bench.isolate_git([])
    repo = log_history(args.runs)
    before = round(os.getloadavg()[0], 2)
    samples = measure(repo, args.reps)
    results = summarize(repo, samples, args.reps, [before, round(os.getloadavg()[0], 2)])
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    print(f"written to {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
