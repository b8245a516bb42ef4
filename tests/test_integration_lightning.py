"""gerhard.integrations.lightning.GerhardLogger on real, tiny Lightning runs (a 2-layer regression on the CPU,
seconds each): the bundle asserted (validation metrics only in the rows they were logged at: no staircase),
registered GREEN with nothing but the logger added, and the same seed giving byte-identical metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import git_out, load_yaml
from dossier_helpers import figure_titles
from integration_helpers import framework_state  # noqa: F401  (autouse)

L = pytest.importorskip(
    "lightning", reason="lightning is not installed: pip install -e '.[lightning]' (the dev extra has it)"
)
torch = pytest.importorskip("torch", reason="torch is not installed: pip install -e '.[torch]'")

from gerhard.integrations.lightning import GerhardLogger  # noqa: E402


class Regression(L.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loaders() -> tuple[Any, Any]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 4, generator=g)
    y = x @ torch.tensor([[0.5], [-1.0], [0.25], [2.0]])
    data = torch.utils.data.TensorDataset
    train = torch.utils.data.DataLoader(data(x[:64], y[:64]), batch_size=16, shuffle=True)
    return train, torch.utils.data.DataLoader(data(x[64:], y[64:]), batch_size=16)


def fit(root: Path, seed: int, logger: GerhardLogger) -> None:
    L.seed_everything(seed)
    trainer = L.Trainer(
        max_epochs=3,
        logger=logger,
        log_every_n_steps=1,
        accelerator="cpu",
        devices=1,
        deterministic=True,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(root),
    )
    trainer.fit(Regression(), *loaders())


def test_a_lightning_fit_with_the_logger_is_registered_green(registry: Path, tmp_path: Path) -> None:
    logger = GerhardLogger(
        name="tiny-mlp", phase="A", repo_root=registry, run_id="pl1", finish=True, summary="a tiny MLP", download=False
    )
    fit(tmp_path, 7, logger)

    assert logger.result is not None and logger.result is logger.run.finished
    assert (logger.result.registered, logger.result.verdict) == (True, "GREEN")
    assert logger.version == "pl1"
    bundle = registry / "outputs" / "pl1"
    metrics = json.loads((bundle / "metrics.json").read_text())
    history = metrics["history"]
    assert [row["step"] for row in history if "train_loss" in row] == list(range(12))  # 4 batches x 3 epochs
    assert [row["step"] for row in history if "val_loss" in row] == [3, 7, 11]  # once per validation, no repeats
    assert [row["epoch"] for row in history if "val_loss" in row] == [0, 1, 2]  # a counter
    assert sorted(metrics["final"]) == ["train_loss", "val_loss"]
    assert metrics["final"]["val_loss"] == history[-1]["val_loss"] < 2.6

    assert load_yaml(bundle / "config.yaml") == {"lr": 0.1, "hidden": 8}  # save_hyperparameters()
    assert (bundle / "seed.txt").read_text() == "7\n"  # seed_everything's
    assert figure_titles((bundle / "run_dossier_pl1.html").read_text()) == ["Training and validation curves"]
    record = load_yaml(registry / "state" / "runs" / "pl1.yaml")
    assert (record["verdict"], record["summary"]) == ("GREEN", "a tiny MLP")
    assert git_out(registry, "status", "--porcelain", "--untracked-files=all") == ""


def test_the_same_seed_gives_byte_identical_metrics(tmp_path: Path) -> None:
    def metrics_of(run_id: str) -> bytes:
        logger = GerhardLogger(
            name="tiny", phase="A", output_root=tmp_path / "runs", run_id=run_id, finish=True, dossier=False
        )
        fit(tmp_path / run_id, 11, logger)
        return (tmp_path / "runs" / run_id / "metrics.json").read_bytes()

    assert metrics_of("s1") == metrics_of("s2")


def test_without_finish_the_logger_saves_the_history_and_the_run_stays_open(tmp_path: Path) -> None:
    logger = GerhardLogger(name="open", phase="A", output_root=tmp_path / "runs", run_id="o1", dossier=False)
    fit(tmp_path, 3, logger)
    run = logger.run
    assert run is not None and run.finished is None
    saved = (run.folder / ".gerhard-run" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in saved][-1] == 11
    run.log_eval("extra", score=0.9, threshold=0.5)  # the notebook goes on with the same run
    result = run.finish(summary="finished by hand")
    assert json.loads((run.folder / "eval_suite.json").read_text())["pass_rate"] == 1.0
    assert result.folder == tmp_path / "runs" / "o1"
