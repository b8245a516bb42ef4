"""Sync benchmarks: 1,000 runs x 6 files pushed to a local path, against cp -r and rsync -a.

    python benchmarks/bench_sync.py [--runs 1000] [--strict]

Measures the sync engine (gerhard.sync.plan + execute, MANIFESTs read, every file listed on both
sides), not run resolution through the registry. Targets: a first full push at most 1.5x `cp -r`,
a no-op `push --all` at most 1.5x a no-op `rsync -a`. Prints the ratios, writes
benchmarks/sync_results.json; exits 1 on a missed target only with --strict.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "sync"
RESULTS = HERE / "sync_results.json"
FILES = ("config.yaml", "metrics.json", "seed.txt", "provenance.json", "plots/loss.png", "model.pt")
TARGET = 1.5


def make_outputs(root: Path, runs: int) -> list[str]:
    ids = []
    for i in range(runs):
        run_id = f"20260101T{i:06d}Z_bench"
        folder = root / "outputs" / run_id
        entries = []
        for n, name in enumerate(FILES):
            data = (f"{run_id} {name} " * (50 + 40 * n)).encode()
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
            entries.append({"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        manifest = {"run_id": run_id, "bundle_sha256": "0" * 64, "files": entries}
        (folder / "MANIFEST").write_text(json.dumps(manifest))
        ids.append(run_id)
    return ids


def push_all(root: Path, remote: Path, ids: list[str]) -> float:
    from gerhard.sync import SyncResult, execute, local_side, open_side, plan, read_manifest

    start = time.perf_counter()
    here, far = local_side(root), open_side(str(remote))
    manifests = {r: read_manifest(root, r) for r in ids}
    result = SyncResult("push", str(remote), False)
    for r in ids:
        result.steps += plan(r, here, far, manifests[r], False, "push")
    execute(result, here, far, manifests, False)
    return time.perf_counter() - start


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    ids = make_outputs(WORK / "registry", args.runs)
    src = WORK / "registry" / "outputs"
    first = push_all(WORK / "registry", WORK / "remote", ids)
    cp = timed(["cp", "-r", str(src), str(WORK / "cp_copy")])
    noop = push_all(WORK / "registry", WORK / "remote", ids)
    results = {"runs": args.runs, "files": args.runs * (len(FILES) + 1), "first_push_s": first, "cp_r_s": cp}
    results["first_push_vs_cp"] = first / cp
    results["noop_push_s"] = noop
    if shutil.which("rsync"):
        subprocess.run(["rsync", "-a", f"{src}/", str(WORK / "rsync_copy")], check=True)
        rsync = timed(["rsync", "-a", f"{src}/", str(WORK / "rsync_copy")])
        results["rsync_noop_s"] = rsync
        results["noop_push_vs_rsync"] = noop / rsync
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:22} {value:.3f}" if isinstance(value, float) else f"{key:22} {value}")
    missed = [k for k in ("first_push_vs_cp", "noop_push_vs_rsync") if results.get(k, 0) > TARGET]
    if missed:
        print(f"over the {TARGET}x target: {', '.join(missed)}", file=sys.stderr)
    shutil.rmtree(WORK, ignore_errors=True)
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
