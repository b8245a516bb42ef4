"""gerhard.integrations.transformers.GerhardCallback on real, tiny HF Trainer runs (a 1-layer GPT-2 of 16 tokens on
the CPU, seconds each): the bundle asserted, registered GREEN with nothing but the callback added (eval_loss meets
the gate on val_loss through program.yaml's metric_aliases), and the same seed giving byte-identical metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import git_out, load_yaml
from conftest import git
from dossier_helpers import figure_titles
from integration_helpers import framework_state  # noqa: F401  (autouse)

transformers = pytest.importorskip(
    "transformers", reason="transformers is not installed: pip install -e '.[transformers]' (the dev extra has it)"
)
pytest.importorskip("accelerate", reason="HF Trainer needs accelerate: pip install -e '.[transformers]'")
torch = pytest.importorskip("torch", reason="torch is not installed: pip install -e '.[torch]'")

from gerhard.integrations.transformers import GerhardCallback  # noqa: E402

VOCAB = 16


class Cycles(torch.utils.data.Dataset):
    """Token sequences counting up modulo VOCAB: a pattern a 1-layer model learns in a few steps."""

    def __len__(self) -> int:
        return 32

    def __getitem__(self, i: int) -> dict[str, Any]:
        ids = torch.tensor([(i + j) % VOCAB for j in range(VOCAB)])
        return {"input_ids": ids, "labels": ids}


def tiny_trainer(out: Path, seed: int, callback: GerhardCallback) -> Any:
    transformers.set_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=VOCAB, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0
    )
    model = transformers.GPT2LMHeadModel(config)
    args = transformers.TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        num_train_epochs=2,
        learning_rate=1e-2,
        logging_steps=2,
        eval_strategy="epoch",
        save_strategy="no",
        report_to=[],
        seed=seed,
        use_cpu=True,
        disable_tqdm=True,
    )
    return transformers.Trainer(
        model=model, args=args, train_dataset=Cycles(), eval_dataset=Cycles(), callbacks=[callback]
    )


@pytest.fixture
def hf_registry(registry: Path) -> Path:
    """The scaffolded registry, its program mapping HF's eval_loss to the val_loss phase A's gate reads."""
    program = registry / "state" / "program.yaml"
    program.write_text(program.read_text() + "\nmetric_aliases:\n  eval_loss: val_loss\n")
    git(registry, "commit", "-qam", "HF names")
    return registry


def test_a_trainer_with_the_callback_is_registered_green(hf_registry: Path, tmp_path: Path) -> None:
    callback = GerhardCallback(
        name="tiny-gpt2",
        phase="A",
        repo_root=hf_registry,
        run_id="hf1",
        finish=True,
        summary="a tiny GPT-2",
        next_action="none",
        download=False,
    )
    tiny_trainer(tmp_path / "hf", 3, callback).train()

    assert callback.result is not None and callback.result is callback.run.finished
    assert (callback.result.registered, callback.result.verdict) == (True, "GREEN")
    bundle = hf_registry / "outputs" / "hf1"
    metrics = json.loads((bundle / "metrics.json").read_text())
    history = metrics["history"]
    assert [row["step"] for row in history] == [2, 4, 6, 8]
    assert [row["epoch"] for row in history] == [0.5, 1.0, 1.5, 2.0]  # a counter in every row
    assert [row["step"] for row in history if "val_loss" in row] == [4, 8]  # evaluated at each epoch's end
    assert all(set(row) <= {"step", "epoch", "loss", "grad_norm", "learning_rate", "val_loss"} for row in history)
    assert sorted(metrics["final"]) == ["grad_norm", "learning_rate", "loss", "train_loss", "val_loss"]
    assert metrics["final"]["val_loss"] == history[-1]["val_loss"] < 2.6
    assert metrics["final"]["loss"] == history[-1]["loss"]

    config = load_yaml(bundle / "config.yaml")
    assert (config["seed"], config["learning_rate"], config["per_device_train_batch_size"]) == (3, 0.01, 8)
    assert (bundle / "seed.txt").read_text() == "3\n"
    assert figure_titles((bundle / "run_dossier_hf1.html").read_text()) == ["Training and validation curves"]
    record = load_yaml(hf_registry / "state" / "runs" / "hf1.yaml")
    assert (record["verdict"], record["phase"], record["summary"]) == ("GREEN", "A", "a tiny GPT-2")
    assert git_out(hf_registry, "status", "--porcelain", "--untracked-files=all") == ""


def test_the_same_seed_gives_byte_identical_metrics(tmp_path: Path) -> None:
    def metrics_of(run_id: str) -> bytes:
        callback = GerhardCallback(
            name="tiny",
            phase="A",
            output_root=tmp_path / "runs",
            run_id=run_id,
            metric_aliases={"eval_loss": "val_loss"},
            finish=True,
            dossier=False,
            download=False,
        )
        tiny_trainer(tmp_path / run_id, 5, callback).train()
        return (tmp_path / "runs" / run_id / "metrics.json").read_bytes()

    first, second = metrics_of("s1"), metrics_of("s2")
    assert first == second
    assert '"val_loss"' in first.decode() and "runtime" not in first.decode()
