"""gerhard.integrations.common (what the framework integrations share) and the promise that no framework is
imported by gerhard itself: `import gerhard`, any of its modules but the two framework modules, and a whole run
leave transformers, lightning, torch, numpy and lm_eval unimported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import gerhard
from gerhard.errors import UserError
from gerhard.integrations.common import FrameworkRun, split_row

FRAMEWORKS = ("transformers", "lightning", "pytorch_lightning", "torch", "numpy", "lm_eval", "accelerate")

IMPORT_EVERYTHING = f"""
import importlib, pkgutil, sys
import gerhard

skip = {{"gerhard.integrations.transformers", "gerhard.integrations.lightning", "gerhard.__main__"}}
names = [m.name for m in pkgutil.walk_packages(gerhard.__path__, "gerhard.") if m.name not in skip]
for name in names:
    importlib.import_module(name)
    found = [m for m in {FRAMEWORKS!r} if m in sys.modules]
    assert not found, f"importing {{name}} imported {{found}}"
print(len(names))
"""


def test_no_gerhard_module_imports_a_framework_but_its_own_integration() -> None:
    proc = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) > 100


def test_the_cli_and_the_facade_import_no_framework() -> None:
    code = (
        "import sys, gerhard, gerhard.cli.main\n"
        "gerhard.start_run, gerhard.register_run, gerhard.decide\n"  # the lazy facade, resolved
        f"print([m for m in {FRAMEWORKS!r} if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (0, "[]\n"), proc.stderr


def test_a_row_splits_into_metrics_and_counters_without_timings() -> None:
    logs = {
        "loss": 2.5,
        "grad_norm": 1,
        "epoch": 0.5,
        "eval_runtime": 0.01,
        "eval_samples_per_second": 1800.0,
        "train_steps_per_second": 2.2,
        "total_flos": 2e7,
        "flag": True,
        "note": "text",
    }
    assert split_row(logs) == ({"loss": 2.5, "grad_norm": 1}, {"epoch": 0.5})


def test_a_framework_run_needs_a_name_and_phase_or_a_run(tmp_path: Path) -> None:
    with pytest.raises(UserError) as e:
        FrameworkRun("GerhardCallback", "tiny", None, None, False, "", "", {})
    assert str(e.value) == ("GerhardCallback: pass name= and phase= (the run to start), or run= a started gerhard run")
    run = gerhard.start_run("given", "A", {"lr": 0.1}, 1, run_id="g1", output_root=tmp_path)
    with pytest.raises(UserError) as e:
        FrameworkRun("GerhardLogger", "tiny", None, run, False, "", "", {"metric_aliases": {"a": "b"}})
    assert str(e.value) == (
        "GerhardLogger: run= is started already: name, metric_aliases would be ignored; pass run= alone"
    )
    run.fail(RuntimeError("test over"))


def test_logs_after_the_run_finished_are_not_recorded_and_said_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = FrameworkRun("GerhardCallback", "late", "A", None, True, "done", "", {"output_root": tmp_path})
    run = bridge.start({"lr": 0.1}, 3)
    bridge.log({"val_loss": 1.0, "epoch": 1.0}, 10)
    result = bridge.end()
    assert result is not None and result is bridge.result and run.finished is result
    capsys.readouterr()
    bridge.log({"val_loss": 0.5}, 12)
    bridge.log({"val_loss": 0.4}, 13)
    assert bridge.end() is result
    assert capsys.readouterr().err == (
        f"gerhard: run {run.run_id} is finished: GerhardCallback logs after it are not recorded\n"
    )
    assert run.history == [{"val_loss": 1.0, "epoch": 1.0, "step": 10}]


def test_allow_missing_reaches_finish_at_the_end(registry: Path) -> None:
    """A gated metric logged under a close name (a typo) at train end: finish() refuses it in one line, and
    registers it RED when the integration was given allow_missing=True."""

    def bridge(run_id: str, allow_missing: bool) -> FrameworkRun:
        options = {"repo_root": registry, "run_id": run_id, "dossier": False, "download": False}
        framework = FrameworkRun("GerhardCallback", "typo", "A", None, True, "", "", options, allow_missing)
        framework.start({"lr": 0.1}, 3)
        framework.log({"train_loss": 2.0, "val_los": 1.0}, 10)
        return framework

    refused = bridge("t1", False)
    with pytest.raises(UserError, match="did you mean"):
        refused.end()
    assert refused.run is not None and refused.run.finished is None
    refused.run.fail(RuntimeError("test over"))
    result = bridge("t2", True).end()
    assert result is not None and (result.registered, result.verdict) == (True, "RED")
