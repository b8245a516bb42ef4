"""A consistent registry with N prior runs, built in seconds with `git fast-import`.

Records are built the way `gerhard.flows.registration.register` builds them (real gate evaluation,
`build_record`, `fold_run`), the derived files come from `gerhard.core.derive.rebuild_files`, so a
following real `register` works on the result and `gerhard rebuild --check` passes. Then
`git reset --hard` populates the work tree and the index, so every git command pays git's
real cost of a large index, as a user's would.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.cli.commands.init import scaffold
from gerhard.core import derive
from gerhard.core.gates import evaluate_gates
from gerhard.core.phases import baselines_for, fold_run, initial_status
from gerhard.core.program import Program
from gerhard.flows.registration import build_record
from gerhard.registry import store
from gerhard.registry.artifacts import load_artifacts
from gerhard.registry.bundle import Bundle, load_bundle, manifest_bytes

# Bump when the generated history changes (or gerhard's file formats do): cached repos are keyed by it.
VERSION = "1"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
START = dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc)
END = dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)  # runs spread over ~7 months
PHASE_A_SHARE = 0.01  # the first 1% of runs are phase A (all GREEN: phase A passed); the rest phase B
BLOB = "100644"


@dataclass(frozen=True)
class Variant:
    """One bundle on disk that many generated runs share (git stores its files once)."""

    phase: str
    bundle: Bundle
    artifacts: dict[str, Any]
    marks: dict[str, int]  # bundle path -> fast-import blob mark


def git(repo: Path, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, input=input, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode()


def _edit_json(path: Path, edit: Any) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=1) + "\n")


def write_variant(dest: Path, n: int, val_loss: float, pass_rate: float, energy: float) -> Path:
    """A phase-B bundle like examples/phase_b_green with other final values and seed."""
    shutil.copytree(EXAMPLES / "phase_b_green", dest)
    seed = 1000 + n
    _edit_json(dest / "metrics.json", lambda d: d["final"].update(val_loss=val_loss))

    def suite(d: dict[str, Any]) -> None:
        failing = round((1 - pass_rate) * len(d["tasks"]))
        for i, task in enumerate(d["tasks"]):
            task["passed"] = i >= failing
            task["score"] = 0.3 if i < failing else task["score"]
        d["pass_rate"] = pass_rate

    _edit_json(dest / "eval_suite.json", suite)
    _edit_json(dest / "v15_spikingbrain.json", lambda d: d.update(energy_ratio=energy))
    _edit_json(dest / "provenance.json", lambda d: d.update(code_sha=f"{n:02d}" * 20))
    (dest / "seed.txt").write_text(f"{seed}\n")
    config = (dest / "config.yaml").read_text().replace("seed: 1234", f"seed: {seed}")
    (dest / "config.yaml").write_text(config.replace("lr: 3.0e-4", f"lr: {3 + n % 4}.0e-4"))
    return dest


# (val_loss, eval pass_rate, energy_ratio): GREEN within the best-green tolerance, AMBER on the
# advisory energy gate, RED on a blocking gate.
GREEN_SPECS = [(2.70 + i / 100, 1.0 if i % 2 else 0.8, 0.40 + i / 100) for i in range(6)]
AMBER_SPECS = [(2.72, 1.0, 0.56), (2.73, 0.8, 0.61)]
RED_SPECS = [(2.95, 1.0, 0.41), (2.71, 0.6, 0.42)]


def make_variants(work: Path, program: Program, root: Path) -> dict[str, list[Variant]]:
    """Bundles on disk, loaded and validated once: {'A': [...], 'GREEN': [...], 'AMBER': ..., 'RED': ...}."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    dirs: dict[str, list[tuple[str, Path]]] = {"A": [("A", EXAMPLES / "phase_a_green")]}
    n = 0
    for kind, specs in (("GREEN", GREEN_SPECS), ("AMBER", AMBER_SPECS), ("RED", RED_SPECS)):
        for spec in specs:
            n += 1
            dirs.setdefault(kind, []).append(("B", write_variant(work / f"b{n:02d}", n, *spec)))
    out: dict[str, list[Variant]] = {}
    for kind, items in dirs.items():
        for phase, path in items:
            bundle = load_bundle(path)
            artifacts = load_artifacts(program, program.phase(phase), bundle, root)
            out.setdefault(kind, []).append(Variant(phase, bundle, artifacts, {}))
    return out


def pick(variants: dict[str, list[Variant]], i: int, runs: int, rng: random.Random) -> Variant:
    if i < max(1, int(runs * PHASE_A_SHARE)):
        return variants["A"][0]
    roll = rng.random()
    last = i == runs - 1  # end GREEN: no needs-input left open in the generated history
    kind = "GREEN" if last or roll >= 0.15 else ("RED" if roll < 0.05 else "AMBER")
    return rng.choice(variants[kind])


def make_records(
    root: Path, program: Program, variants: dict[str, list[Variant]], runs: int
) -> list[tuple[dict[str, Any], Variant]]:
    """Run records as registration builds them: gates against the folded status's baselines."""
    rng = random.Random(20261123)
    status = initial_status(program)
    step = (END - START) / max(runs, 1)
    out = []
    for i in range(runs):
        variant = pick(variants, i, runs, rng)
        phase = variant.phase
        now = START + step * i
        run_id = f"{now:%Y%m%dT%H%M%SZ}_v15_{i:05d}"
        gates = list(program.phase(phase).gates)
        report = evaluate_gates(gates, variant.artifacts, baselines_for(status, gates, phase))
        summary = f"v15 sweep run {i} on RunPod, seed {variant.artifacts['seed.txt']}."
        next_action = "Compare with the best GREEN run."
        args = (variant.bundle, variant.artifacts, report, status, summary, next_action, False, now, {})
        record = build_record(root, run_id, phase, *args)
        status = fold_run(status, program, record)
        out.append((record, variant))
    return out


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def variant_blobs(variants: dict[str, list[Variant]]) -> list[bytes]:
    """Every variant's files as fast-import blobs, each variant's marks noted (git stores each once)."""
    chunks: list[bytes] = []
    mark = 0
    for variant in (v for vs in variants.values() for v in vs):
        for f in variant.bundle.files:
            mark += 1
            variant.marks[f.path] = mark
            chunks.append(b"blob\nmark :%d\n" % mark + _data(variant.bundle.read_bytes(f.path)))
    return chunks


def fast_import_stream(
    variants: dict[str, list[Variant]], runs: list[tuple[dict[str, Any], Variant]], files: dict[str, str], parent: str
) -> bytes:
    """One commit on top of `parent` adding every archive, record and derived file."""
    chunks = variant_blobs(variants)
    when = int(END.timestamp())
    message = f"benchmark history: {len(runs)} registered runs (generated)\n".encode()
    chunks.append(b"commit refs/heads/main\n")
    chunks.append(b"author Bench <bench@example.com> %d +0000\n" % when)
    chunks.append(b"committer Bench <bench@example.com> %d +0000\n" % when)
    chunks.append(_data(message) + f"from {parent}\n".encode())
    for record, variant in runs:
        base = record["artifact_root"]
        for path, m in variant.marks.items():
            chunks.append(f"M {BLOB} :{m} {base}/{path}\n".encode())
        chunks.append(f"M {BLOB} inline {base}/MANIFEST\n".encode())
        chunks.append(_data(manifest_bytes(record["run_id"], variant.bundle)))
    for rel, text in files.items():
        chunks.append(f"M {BLOB} inline {rel}\n".encode() + _data(text.encode()))
    chunks.append(b"\n")
    return b"".join(chunks)


def init_repo(repo: Path) -> str:
    """`git init` + `gerhard init`, committed; returns the commit."""
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "gc.auto", "0")  # no surprise auto-gc inside a timed git command
    scaffold(repo, example=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "gerhard init")
    return git(repo, "rev-parse", "HEAD").strip()


def build_registry(repo: Path, runs: int, work: Path) -> str:
    """A registry with `runs` registered runs at `repo`, checked out; returns its HEAD commit."""
    parent = init_repo(repo)
    program = store.load_program(repo)
    variants = make_variants(work, program, repo)
    generated = make_records(repo, program, variants, runs)
    records = [r for r, _ in generated]
    files = derive.rebuild_files(program, records, lambda rel: None)
    files.update({layout.record_path(r["run_id"]): derive.record_text(r) for r in records})  # the slow part
    git(repo, "fast-import", "--quiet", input=fast_import_stream(variants, generated, files, parent))
    git(repo, "reset", "-q", "--hard")
    return git(repo, "rev-parse", "HEAD").strip()
