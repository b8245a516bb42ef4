"""Regenerate the example bundles in examples/ (deterministic; committed output).

python examples/make_examples.py
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _history(rng: random.Random, steps: int, final_loss: float) -> list[dict[str, float]]:
    rows = []
    for step in range(0, steps + 1, 10):
        frac = step / steps
        base = final_loss + 2.5 * math.exp(-4.0 * frac)
        rows.append(
            {
                "step": step,
                "train_loss": round(base - 0.08 + rng.gauss(0, 0.03), 4),
                "val_loss": round(base + rng.gauss(0, 0.02), 4),
                "lr": round(3e-4 * min(1.0, (step + 1) / 200), 8),
            }
        )
    rows[-1]["val_loss"] = final_loss
    return rows


def _write_bundle(
    name: str, *, seed: int, val_loss: float, tasks: dict[str, float], spike: list[float], energy: float, phase_b: bool
) -> None:
    rng = random.Random(seed)
    out = HERE / name
    out.mkdir(exist_ok=True)
    history = _history(rng, 2000, val_loss)
    metrics = {
        "final": {
            "val_loss": val_loss,
            "train_loss": history[-1]["train_loss"],
            "val_ppl": round(math.exp(val_loss), 4),
        },
        "history": history,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    (out / "seed.txt").write_text(f"{seed}\n")
    (out / "config.yaml").write_text(
        "# ASNN-Goose v15 training config\n"
        f"model:\n  name: asnn-goose-v15\n  layers: {len(spike) or 6}\n  d_model: 512\n"
        f"  spiking: {str(phase_b).lower()}\n"
        "optim:\n  lr: 3.0e-4\n  warmup_steps: 200\n  steps: 2000\n"
        f"data:\n  dataset: tinystories-10k\n  seq_len: 512\nseed: {seed}\n"
    )
    (out / "provenance.json").write_text(
        json.dumps(
            {
                "code_sha": "3f9c2a1d8e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a",
                "dirty": False,
                "python": "3.11.7",
                "torch": "2.13.0",
                "cuda": "12.4",
                "gpu": "NVIDIA A100-SXM4-40GB",
                "host_kind": "runpod",
                "execution_order_ok": True,
                "started_at": "2026-11-01T10:00:00Z",
                "ended_at": "2026-11-01T11:42:00Z",
            },
            indent=1,
        )
        + "\n"
    )
    if not phase_b:
        return
    suite = [{"name": k, "score": v, "threshold": 0.5, "passed": v >= 0.5} for k, v in tasks.items()]
    (out / "eval_suite.json").write_text(
        json.dumps(
            {
                "suite": "v15-core",
                "tasks": suite,
                "pass_rate": round(sum(t["passed"] for t in suite) / len(suite), 4),
            },
            indent=1,
        )
        + "\n"
    )
    (out / "v15_spikingbrain.json").write_text(
        json.dumps(
            {
                "model": "asnn-goose-v15",
                "spike_rate": {"mean": round(sum(spike) / len(spike), 4), "min": min(spike), "max": max(spike)},
                "energy_ratio": energy,
                "layers": [{"name": f"block{i}", "spike_rate": r} for i, r in enumerate(spike)],
            },
            indent=1,
        )
        + "\n"
    )


def main() -> None:
    _write_bundle("phase_a_green", seed=11, val_loss=2.41, tasks={}, spike=[], energy=1.0, phase_b=False)
    tasks_ok = {"arithmetic": 0.81, "copy": 0.97, "induction": 0.74, "sorting": 0.66, "qa_short": 0.58}
    _write_bundle(
        "phase_b_green",
        seed=1234,
        val_loss=2.72,
        tasks=tasks_ok,
        spike=[0.08, 0.11, 0.13, 0.12, 0.10, 0.09],
        energy=0.41,
        phase_b=True,
    )
    tasks_bad = {"arithmetic": 0.41, "copy": 0.93, "induction": 0.31, "sorting": 0.52, "qa_short": 0.22}
    _write_bundle(
        "phase_b_red",
        seed=4321,
        val_loss=3.05,
        tasks=tasks_bad,
        spike=[0.02, 0.03, 0.04, 0.02, 0.01, 0.03],
        energy=0.62,
        phase_b=True,
    )


if __name__ == "__main__":
    main()
