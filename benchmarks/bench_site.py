"""`gerhard site` at 10 and 10,000 runs: a full build, a rebuild after one new registration, a rebuild with
nothing new; then, in headless Chromium, the page at 10,000 runs: load to an interactive table, a filter,
a sort (the chart library's own measurement is in gerhard/site/static/VERSION).

    python benchmarks/bench_site.py [--reps 5] [--runs 10 10000] [--no-browser]

Registries come from history.py (git fast-import), cached in .work/; results go to site.json. Each figure
is the median of --reps (the full build at 10,000 runs: of 2), wall and CPU (children included).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import history

from gerhard.site.build import build_site

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
CHROMIUM = "/usr/bin/chromium"
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
    register_run(run_id=f"20261201T{n:06d}Z_bench_site", phase="B", source_dir=source, repo_root=repo)


def measure_builds(runs: int, reps: int) -> dict[str, Any]:
    repo = registry(runs)
    out = WORK / f"site-out-{runs}"
    full = []
    for _ in range(2 if runs >= 1000 else reps):
        shutil.rmtree(out, ignore_errors=True)
        full.append(timed(build_site, repo, out))
    nothing = [timed(build_site, repo, out) for _ in range(reps)]
    one = []
    for i in range(reps):
        register_one(repo, i)
        one.append(timed(build_site, repo, out))
    size = sum(p.stat().st_size for p in (out / "data" / "rows").glob("*.js"))
    result = {"full": full, "one new run": one, "nothing new": nothing, "table_bytes": size}
    log(f"{runs:>6} runs: " + ", ".join(f"{k} {statistics.median(w for w, _ in v):.2f} s (cpu "
                                          f"{statistics.median(c for _, c in v):.2f} s)"
                                          for k, v in result.items() if k != "table_bytes"))  # fmt: skip
    return result


def measure_page(out: Path, reps: int) -> dict[str, list[float]]:
    """Load to an interactive table, a filter (verdict RED and a config condition) and a sort, in ms."""
    from playwright.sync_api import sync_playwright

    found: dict[str, list[float]] = {"load to interactive table": [], "filter": [], "sort": []}
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
    results: dict[str, Any] = {"cpus": os.cpu_count(), "builds": {}}
    for runs in args.runs:
        results["builds"][runs] = measure_builds(runs, args.reps)
    browser = not args.no_browser and Path(CHROMIUM).exists()
    if browser and max(args.runs) >= 10_000:
        results["page"] = measure_page(WORK / f"site-out-{max(args.runs)}", args.reps)
    (HERE / "site.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
