"""Helpers for the dossier tests: build one, read its embedded JSON back, edit it into a bad one."""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gerhard.capture.convert import eval_suite_from_lm_eval
from gerhard.dossier.codec import OPEN_TAG, script_json
from gerhard.dossier.page import build_dossier
from gerhard.registry.bundle import BundleFile, bundle_sha256, sha256_bytes

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RUN_A = "20261101T090000Z_dense"
RUN_B = "20261101T100000Z_v15"


def bundle_folder(tmp_path: Path, example: str, run_id: str) -> Path:
    """A copy of an example bundle in a folder named after the run."""
    dest = tmp_path / "notebook" / run_id
    shutil.copytree(EXAMPLES / example, dest)
    return dest


def make_dossier(folder: Path, phase: str | None = None, **kwargs: Any) -> Path:
    """A dossier built without a registry (so it does not depend on where the tests run)."""
    kwargs.setdefault("repo_root", None)
    return build_dossier(folder, phase=phase, **kwargs)


def figure_titles(html: str) -> list[str]:
    """The titles of a dossier page's figures, in order."""
    return re.findall(r"<figcaption><strong>([^<]*)\.</strong>", html)


def block_span(html: str) -> tuple[int, int]:
    start = html.index(OPEN_TAG) + len(OPEN_TAG)
    return start, html.index("</script>", start)


def embedded(path: Path) -> dict[str, Any]:
    html = path.read_text(encoding="utf-8")
    start, end = block_span(html)
    return json.loads(html[start:end])


def rehash(doc: dict[str, Any]) -> dict[str, Any]:
    """Make the embedded hashes consistent again, as a careful forger would."""
    for f in doc["files"]:
        if "data" in f and isinstance(f.get("path"), str):
            data = f["data"].encode() if f["encoding"] == "utf-8" else base64.b64decode(f["data"])
            f["size"], f["sha256"] = len(data), sha256_bytes(data)
    listed = [BundleFile(str(f["path"]), f["size"], f["sha256"]) for f in doc["files"]]
    doc["bundle_sha256"] = bundle_sha256(listed)
    return doc


def tamper(path: Path, edit: Callable[[dict[str, Any]], Any], consistent: bool = False) -> Path:
    """Rewrite the embedded JSON of a dossier in place; consistent=True recomputes every hash."""
    html = path.read_text(encoding="utf-8")
    start, end = block_span(html)
    doc = json.loads(html[start:end])
    edit(doc)
    if consistent:
        rehash(doc)
    path.write_text(html[:start] + script_json(doc) + html[end:], encoding="utf-8")
    return path


def add_file(doc: dict[str, Any], name: Any, text: str = "x\n", **extra: Any) -> None:
    data = text.encode()
    doc["files"].append(
        dict(
            {"path": name, "size": len(data), "sha256": sha256_bytes(data), "encoding": "utf-8", "data": text}, **extra
        )
    )


# HF Trainer's state.log_history of a real tiny run (test_integration_transformers' 1-layer GPT-2, seed 3, 2 epochs)
# as log_metrics keeps it when a script forwards the rows itself (the callback leaves timings and FLOPs out).
HF_LOG_HISTORY = [
    {"step": 2, "loss": 2.5871, "grad_norm": 0.8201, "learning_rate": 0.00875, "epoch": 0.5},
    {"step": 4, "loss": 2.3883, "grad_norm": 0.9326, "learning_rate": 0.00625, "epoch": 1.0, "eval_loss": 2.252}
    | {"eval_runtime": 0.0124, "eval_samples_per_second": 2571.418, "eval_steps_per_second": 321.427},
    {"step": 6, "loss": 2.2362, "grad_norm": 0.8619, "learning_rate": 0.00375, "epoch": 1.5},
    {"step": 8, "loss": 2.1512, "grad_norm": 0.8355, "learning_rate": 0.00125, "epoch": 2.0, "eval_loss": 2.0978}
    | {"eval_runtime": 0.093, "eval_samples_per_second": 344.256, "eval_steps_per_second": 43.032}
    | {"train_runtime": 0.471, "train_samples_per_second": 135.874, "train_steps_per_second": 16.984}
    | {"total_flos": 20348928.0, "train_loss": 2.3407},
]
HF_MACHINE = ["eval_samples_per_second", "eval_steps_per_second", "train_samples_per_second", "train_steps_per_second"]
HF_MACHINE += ["total_flos"]
# v15_spikingbrain.json's layers as notebooks/v15_spiking_experiment.ipynb writes them (its schema declares spike_rate).
NOTEBOOK_LAYERS = [
    {"name": "lif0", "spike_rate": 0.11, "neurons": 128, "timesteps": 4, "dead_fraction": 0.02, "threshold": 1.0},
    {"name": "lif1", "spike_rate": 0.13, "neurons": 64, "timesteps": 4, "dead_fraction": 0.05, "threshold": 1.0},
]
LM_EVAL_RESULTS = Path(__file__).resolve().parent / "data" / "convert" / "lm_eval_out" / "EleutherAI__pythia-160m"


def lm_eval_suite() -> dict[str, Any]:
    """eval_suite.json of a real lm-eval results file (pythia-160m), as run.log_lm_eval makes it: 3 of 5 tasks pass."""
    data = json.loads(sorted(LM_EVAL_RESULTS.glob("results_*.json"))[-1].read_text())
    suite = eval_suite_from_lm_eval(data, threshold={"arc_easy": 0.5, "*": 0.2})
    return dict(suite, pass_rate=sum(t["passed"] for t in suite["tasks"]) / len(suite["tasks"]))


def real_log_bundle(tmp_path: Path) -> Path:
    """A phase-B bundle of what real tools write: HF Trainer's log_history (with its throughput and FLOP counts),
    the lm-eval suite, the notebook's layers (neurons, timesteps beside the spike rate), and the trainer_state.json
    a Trainer leaves in its output folder (its log_history is a list of numeric rows)."""
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    for name, edit in (
        ("metrics.json", lambda m: dict(m, history=HF_LOG_HISTORY)),
        ("eval_suite.json", lambda _: lm_eval_suite()),
        ("v15_spikingbrain.json", lambda v: dict(v, layers=NOTEBOOK_LAYERS)),
    ):
        (folder / name).write_text(json.dumps(edit(json.loads((folder / name).read_text()))))
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 8, "log_history": HF_LOG_HISTORY}))
    return folder
