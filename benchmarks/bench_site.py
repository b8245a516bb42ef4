"""`gerhard site` at 10 and 10,000 runs: a full build (in worker processes, and in one process), a rebuild
after one new registration, a rebuild with nothing new; each against floors measured in the same run; then,
in headless Chromium, the page at 10,000 runs: load to an interactive table, a filter, a sort (the chart
library's own measurement is in gerhard/site/static/VERSION).

    python benchmarks/bench_site.py [--reps 5] [--runs 10 10000] [--no-browser]

Floors: `read` reads the bytes of every file a full build reads (each run's record, metrics.json,
eval_suite.json and report), nothing parsed, in this process; `ls-tree` is `git ls-tree -r HEAD` (what a
build at a revision starts with), a process. A full build's ratio is against `read`, the rebuilds' against
`ls-tree`. The full builds start without the parse cache (.git/gerhard-cache: a CI checkout has none).

Registries come from history.py (git fast-import), cached in .work/; results go to site.json. Each figure
is the median of --reps (the full builds at 10,000 runs: of 2), wall and CPU (children included), with
the load average before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import history

from gerhard.site import build

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
CHROMIUM = "/usr/bin/chromium"
PARALLEL_SHOWN = build.PARALLEL_FROM  # from this many runs, the full build is timed in one process too
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def timed(fn: Any, *args: Any) -> tuple[float, float]:
    wall, c = time.perf_counter(), cpu()
    fn(*args)
    return time.perf_counter() - wall, cpu() - c


def median(samples: list[tuple[float, float]]) -> dict[str, float]:
    return {"wall": statistics.median(w for w, _ in samples), "cpu": statistics.median(c for _, c in samples)}


def read_floor(repo: Path) -> None:
    """Read every file a full build reads, parse nothing."""
    for record in (repo / "state" / "runs").glob("*.yaml"):
        record.read_bytes()
        for name in ("metrics.json", "eval_suite.json"):
            with contextlib.suppress(FileNotFoundError):
                (repo / "outputs" / record.stem / name).read_bytes()
    for report in (repo / "reports").glob("*/*/*.md"):
        report.read_bytes()


def ls_tree_floor(repo: Path) -> None:
    subprocess.run(["git", "ls-tree", "-r", "HEAD"], cwd=repo, check=True, stdout=subprocess.DEVNULL)


def registry(runs: int) -> Path:
    """history.py's registry with `runs` runs, cached under a digest of the generator; reset to its commit."""
    key = hashlib.sha256((HERE / "history.py").read_bytes()).hexdigest()[:10]
    repo, marker = WORK / f"site-registry-{runs}-v{history.VERSION}-{key}", WORK / f"site-registry-{runs}.base"
    if not repo.is_dir() or not marker.is_file() or marker.read_text().split()[0] != repo.name:
        for stale in WORK.glob(f"site-registry-{runs}-*"):
            shutil.rmtree(stale)
        log(f"generating a registry with {runs:,} runs (once; cached) ...")
        marker.write_text(f"{repo.name} {history.build_registry(repo, runs, WORK / f'site-variants-{runs}')}\n")
    history.git(repo, "reset", "-q", "--hard", marker.read_text().split()[1])
    history.git(repo, "clean", "-fdqx")
    return repo


def register_one(repo: Path, n: int) -> None:
    from gerhard import register_run

    source = history.EXAMPLES / "phase_b_green"
    run_id = f"20261201T{n:06d}Z_bench_site"  # one example bundle for every run: a duplicate, allowed
    register_run(run_id=run_id, phase="B", source_dir=source, repo_root=repo, allow_duplicate=True)


def fresh(repo: Path, out: Path) -> None:
    """An empty site folder, and no parse cache (as in a CI checkout)."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(repo / ".git" / "gerhard-cache", ignore_errors=True)


def full_build(repo: Path, out: Path, parallel: bool) -> None:
    """A build in worker processes (as `gerhard site` chooses), or in this one."""
    saved = build.PARALLEL_FROM
    build.PARALLEL_FROM = saved if parallel else 1 << 62
    try:
        build.build_site(repo, out)
    finally:
        build.PARALLEL_FROM = saved


def measure_builds(runs: int, reps: int) -> dict[str, Any]:
    repo = registry(runs)
    out = WORK / f"site-out-{runs}"
    load = [os.getloadavg()]
    found: dict[str, list[tuple[float, float]]] = {"floor: read": [], "floor: ls-tree": []}
    kinds = [("full", True)] + ([("full, one process", False)] if runs >= PARALLEL_SHOWN else [])
    for _ in range(2 if runs >= 1000 else reps):  # floors interleaved with the builds: a busy machine slows all
        for kind, parallel in kinds:
            found["floor: read"].append(timed(read_floor, repo))
            fresh(repo, out)
            found.setdefault(kind, []).append(timed(full_build, repo, out, parallel))
    found["nothing new"], found["one new run"] = [], []
    for i in range(reps):
        found["floor: ls-tree"].append(timed(ls_tree_floor, repo))
        found["nothing new"].append(timed(build.build_site, repo, out))
        register_one(repo, i)
        found["one new run"].append(timed(build.build_site, repo, out))
    load.append(os.getloadavg())
    medians = {k: median(v) for k, v in found.items()}
    floors = {"full": "floor: read", "full, one process": "floor: read", "nothing new": "floor: ls-tree",
              "one new run": "floor: ls-tree"}  # fmt: skip
    ratios = {k: {m: medians[k][m] / medians[f][m] for m in ("wall", "cpu")} for k, f in floors.items() if k in medians}
    size = sum(p.stat().st_size for p in (out / "data" / "rows").glob("*.js"))
    log(f"{runs:>6} runs (load {load[0][0]:.1f} -> {load[1][0]:.1f}): " + "; ".join(
        f"{k} {m['wall']:.2f} s (cpu {m['cpu']:.2f} s)" + (f" = {ratios[k]['wall']:.1f}x/{ratios[k]['cpu']:.1f}x "
                                                              f"{floors[k]}" if k in ratios else "")
        for k, m in medians.items()))  # fmt: skip
    return {"median": medians, "ratio": ratios, "floor_of": floors, "samples": found, "loadavg": load,
            "table_bytes": size}  # fmt: skip


def measure_page(out: Path, reps: int) -> dict[str, list[float]]:
    """Load to an interactive table, a filter (verdict RED and a config condition), a sort, a comparison
    of three runs and a report, in ms."""
    from playwright.sync_api import sync_playwright

    found: dict[str, list[float]] = {"load to interactive table": [], "filter": [], "sort": [],
                                     "compare 3 runs (their parts loaded, curves drawn)": [],
                                     "open a report": []}  # fmt: skip
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(reps):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            start = time.perf_counter()
            page.goto((out / "index.html").as_uri())
            page.wait_for_function("window.GERHARD && GERHARD.ready", timeout=120_000)
            found["load to interactive table"].append((time.perf_counter() - start) * 1000)
            found["filter"].append(
                page.evaluate("""() => {
                const f = document.querySelector('#filters'), t = performance.now();
                f.querySelector('input[value=RED]').checked = true;
                f.elements.where.value = 'config.lr >= 0.0005';
                f.dispatchEvent(new Event('input', {bubbles: true}));
                return performance.now() - t; }""")
            )
            found["sort"].append(
                page.evaluate("""() => {
                const h = document.querySelector('[data-col="gates.val_loss_max"]'), t = performance.now();
                h.click(); return performance.now() - t; }""")
            )
            ids = page.evaluate("GERHARD.rows.slice(-3).map(r => r.id)")
            start = time.perf_counter()
            page.evaluate("ids => { location.hash = '#view=compare&sel=' + ids.join(','); }", ids)
            page.wait_for_selector(".chart canvas", timeout=60_000)
            found["compare 3 runs (their parts loaded, curves drawn)"].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            page.evaluate("id => { location.hash = '#view=report&run=' + id; }", ids[0])
            page.wait_for_selector("#report article.report", timeout=60_000)
            found["open a report"].append((time.perf_counter() - start) * 1000)
            page.close()
        browser.close()
    log("page at 10,000 runs: " + ", ".join(f"{k} {statistics.median(v):.0f} ms" for k, v in found.items()))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--runs", type=int, nargs="+", default=[10, 10_000])
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)
    WORK.mkdir(exist_ok=True)
    os.environ.update(GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
                      GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com")  # fmt: skip
    results: dict[str, Any] = {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg(), "builds": {}}
    for runs in args.runs:
        results["builds"][runs] = measure_builds(runs, args.reps)
    browser = not args.no_browser and Path(CHROMIUM).exists()
    if browser and max(args.runs) >= 10_000:
        results["page"] = measure_page(WORK / f"site-out-{max(args.runs)}", args.reps)
    results["loadavg_end"] = os.getloadavg()
    (HERE / "site.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
