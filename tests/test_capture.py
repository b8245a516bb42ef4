"""The capture API (gerhard.capture.run) end to end: runs started, logged, finished and registered into real
temporary registries (git, `gerhard init`), asserting on the repository afterwards.

Phase A and B runs registered in place, the config and seed files, seeding, a failure inside `with` and
resume_run, the flushed history (and a process killed mid-training), registration that cannot happen (no
registry, a refused phase) and the printed command that registers the run later, and every bad input a
notebook cell can give, refused in one line before anything the registry sees is written.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import git_out, load_yaml, shell
from conftest import snapshot

import gerhard
from gerhard.capture.run import FinishResult, Run

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RUN = "20261101T120000Z_v15"
PHASE_A_RUN = "20261101T100000Z_dense"
CONFIG = {"lr": 3e-4, "layers": 2, "model": "tiny"}
SPIKES = {
    "model": "tiny-snn",
    "spike_rate": {"mean": 0.12, "min": 0.1, "max": 0.14},
    "energy_ratio": 0.4,
    "layers": [{"name": "lif0", "spike_rate": 0.1}, {"name": "lif1", "spike_rate": 0.14}],
}
TASKS = ("copy", "sort", "count", "parity", "recall")
LIVE = [".gerhard-run", "config.yaml", "seed.txt"]  # a started run's folder before finish()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory outside any registry or git repository (pytest runs from this project's own
    registry, which start_run would otherwise find), no GERHARD_* or runtime variables, and torch's
    determinism switch put back afterwards."""
    for name in ("GERHARD_REPO", "GERHARD_OUTPUT_ROOT", "GERHARD_NOTEBOOK", "JPY_SESSION_NAME", "COLAB_RELEASE_TAG"):
        monkeypatch.delenv(name, raising=False)
    for name in ("COLAB_GPU", "KAGGLE_KERNEL_RUN_TYPE", "RUNPOD_POD_ID", "CUBLAS_WORKSPACE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    torch = sys.modules.get("torch")
    deterministic = torch.are_deterministic_algorithms_enabled() if torch else False
    yield work
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.use_deterministic_algorithms(deterministic)


@pytest.fixture
def registry_b(registry: Path) -> Path:
    """A registry whose phase A is passed (a GREEN example run), so phase B is open."""
    gerhard.register_run(PHASE_A_RUN, "A", EXAMPLES / "phase_a_green", registry, summary="dense", next_action="B")
    return registry


def start(registry: Path | None, phase: str = "A", run_id: str | None = RUN, **kw: Any) -> Run:
    """A run with the defaults of these tests: no dossier, no download, in `registry` when given."""
    kw = {"dossier": False, "download": False, **kw}
    if registry is not None:
        kw["repo_root"] = registry
    return gerhard.start_run(
        kw.pop("name", "v15"), phase, kw.pop("config", CONFIG), kw.pop("seed", 1234), run_id=run_id, **kw
    )


def log_phase_a(run: Run, val_loss: float = 2.2) -> None:
    for step in range(3):
        run.log_metrics({"train_loss": 2.5 - 0.1 * step, "val_loss": val_loss + 0.1 * (2 - step)}, step=step * 10)


def log_phase_b(run: Run, failed_tasks: int = 0) -> None:
    log_phase_a(run)
    for i, task in enumerate(TASKS):
        run.log_eval(task, score=0.9 - 0.1 * i, passed=i >= failed_tasks)
    run.save_artifact("v15_spikingbrain.json", SPIKES)


def commits(repo: Path) -> int:
    return int(git_out(repo, "rev-list", "--count", "HEAD"))


def committed_files(repo: Path, rev: str = "HEAD") -> set[str]:
    return set(git_out(repo, "show", "--name-only", "--format=", rev).split())


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def without(snap: dict[str, Any], run_id: str) -> dict[str, Any]:
    """A registry snapshot but for the run folder outputs/<run_id>/ (where a run lives before it registers)."""
    files = {k: v for k, v in snap["files"].items() if not k.startswith(f"outputs/{run_id}")}
    return snap | {"files": files}


def record(repo: Path, run_id: str) -> dict[str, Any]:
    return load_yaml(repo / "state" / "runs" / f"{run_id}.yaml")


def bundle_json(folder: Path, name: str) -> Any:
    return json.loads((folder / name).read_text(encoding="utf-8"))


def user_error(call: Callable[[], Any]) -> str:
    """The message of the gerhard.UserError a call raises; it is one line."""
    with pytest.raises(gerhard.UserError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message, message
    return message


# -- registered in place ---------------------------------------------------------------------------------


def test_phase_a_run_registers_in_place_in_one_commit_with_its_dossier(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = commits(registry)
    earliest = datetime.now(timezone.utc).replace(microsecond=0)
    with gerhard.start_run(name="dense", phase="A", config=CONFIG, seed=7, repo_root=registry) as run:
        log_phase_a(run)
        result = run.finish(summary="dense baseline", next_action="convert to spiking")
    latest = datetime.now(timezone.utc)

    assert re.fullmatch(r"\d{8}T\d{6}Z_dense", run.run_id), run.run_id
    assert earliest <= datetime.strptime(run.run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc) <= latest
    folder = registry / "outputs" / run.run_id
    dossier = folder / f"run_dossier_{run.run_id}.html"
    assert result == FinishResult(
        run_id=run.run_id,
        folder=folder,
        dossier=dossier,
        registered=True,
        verdict="GREEN",
        register_command=(
            f"python -m gerhard register --repo {registry} --run-id {run.run_id} --phase A --source-dir {folder} "
            "--summary 'dense baseline' --next-action 'convert to spiking'"
        ),
    )
    assert commits(registry) == before + 1
    assert git_out(registry, "status", "--porcelain") == ""
    bundle = {"MANIFEST", "config.yaml", "metrics.json", "packages.txt", "provenance.json", "seed.txt"}
    assert listing(folder) == sorted(bundle | {dossier.name})  # no .gerhard-run left behind
    assert {f"outputs/{run.run_id}/{name}" for name in bundle | {dossier.name}} <= committed_files(registry)
    assert f"state/runs/{run.run_id}.yaml" in committed_files(registry)
    assert git_out(registry, "log", "-1", "--format=%(trailers:key=Gerhard-Verdict,valueonly)").strip() == "GREEN"
    assert record(registry, run.run_id)["verdict"] == "GREEN"

    from gerhard.dossier.codec import read_dossier

    embedded, _ = read_dossier(dossier)  # verifies every file's hash and the bundle's
    assert (embedded.run_id, embedded.phase) == (run.run_id, "A")
    assert {f.path for f in embedded.files} >= bundle - {"MANIFEST"}
    assert f"dossier: {dossier}" in capsys.readouterr().out.splitlines()  # plain Python: the path is offered


@pytest.mark.parametrize(("failed_tasks", "verdict"), [(0, "GREEN"), (2, "RED")])
def test_phase_b_run_registers_in_place_with_its_verdict(registry_b: Path, failed_tasks: int, verdict: str) -> None:
    before = commits(registry_b)
    with start(registry_b, "B", dossier=True) as run:
        log_phase_b(run, failed_tasks)
        result = run.finish(summary="v15 spiking", next_action="scale up")

    folder = registry_b / "outputs" / RUN
    assert (result.registered, result.verdict, result.message) == (True, verdict, "")
    assert result.dossier == folder / f"run_dossier_{RUN}.html"
    assert commits(registry_b) == before + 1
    assert git_out(registry_b, "status", "--porcelain") == ""
    files = {"eval_suite.json", "metrics.json", "config.yaml", "seed.txt", "v15_spikingbrain.json", "provenance.json"}
    assert {f"outputs/{RUN}/{n}" for n in files | {result.dossier.name}} <= committed_files(registry_b)
    assert bundle_json(folder, "v15_spikingbrain.json") == SPIKES
    assert bundle_json(folder, "eval_suite.json") == {
        "suite": "phase-B",
        "tasks": [{"name": t, "score": 0.9 - 0.1 * i, "passed": i >= failed_tasks} for i, t in enumerate(TASKS)],
        "pass_rate": (5 - failed_tasks) / 5,
    }
    assert bundle_json(folder, "provenance.json")["execution_order_ok"] is True
    gates = {g["id"]: g["passed"] for g in record(registry_b, RUN)["gates"]}
    assert gates["clean_execution_order"] is True
    assert gates["eval_pass_rate_min"] is (failed_tasks == 0)
    assert record(registry_b, RUN)["verdict"] == verdict


def test_metrics_json_holds_the_history_and_the_last_value_of_each_metric(tmp_path: Path) -> None:
    run = start(None, output_root=tmp_path / "runs")
    run.log_metrics({"train_loss": 2.0}, step=0)
    run.log_metrics({"train_loss": 1.5, "val_loss": 2.4}, step=10)
    run.log_metrics({"lr": 1e-4})  # no step: the next one
    run.log_metrics({"grad_norm": 0.5}, step=11)  # the same step again: the same row
    run.log_metrics({"train_loss": 1.2}, step=20)
    run.finish()
    assert bundle_json(run.folder, "metrics.json") == {
        "final": {"train_loss": 1.2, "val_loss": 2.4, "lr": 1e-4, "grad_norm": 0.5},
        "history": [
            {"train_loss": 2.0, "step": 0},
            {"train_loss": 1.5, "val_loss": 2.4, "step": 10},
            {"lr": 1e-4, "grad_norm": 0.5, "step": 11},
            {"train_loss": 1.2, "step": 20},
        ],
    }


def test_final_values_given_to_finish_win_and_numpy_and_torch_scalars_are_numbers(tmp_path: Path) -> None:
    import numpy
    import torch

    run = start(None, output_root=tmp_path / "runs")
    run.log_metrics({"train_loss": torch.tensor(1.5), "val_loss": numpy.float32(2.5), "tokens": numpy.int64(7)})
    for step in numpy.arange(1, 3):  # steps from numpy or torch are whole numbers too
        run.log_metrics({"tokens": 8}, step=step)
    run.log_metrics({"tokens": 9}, step=torch.tensor(3))
    run.finish(final={"val_loss": torch.tensor([2.25]), "accuracy": numpy.float64(0.5)})
    assert bundle_json(run.folder, "metrics.json") == {
        "final": {"val_loss": 2.25, "accuracy": 0.5},
        "history": [
            {"train_loss": 1.5, "val_loss": 2.5, "tokens": 7, "step": 0},
            {"tokens": 8, "step": 1},
            {"tokens": 8, "step": 2},
            {"tokens": 9, "step": 3},
        ],
    }


def test_leaving_the_with_block_without_finish_finishes_the_run(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with start(registry) as run:
        log_phase_a(run)
    assert run.finished is not None and run.finished.registered and run.finished.verdict == "GREEN"
    assert record(registry, RUN)["verdict"] == "GREEN"
    assert f"gerhard: run {RUN} left its with block without finish(): finishing it" in capsys.readouterr().err


def test_save_file_copies_a_file_into_the_bundle(registry: Path, tmp_path: Path) -> None:
    plot = tmp_path / "loss.png"
    plot.write_bytes(b"\x89PNG not really")
    with start(registry) as run:
        log_phase_a(run)
        assert run.save_file(plot) == registry / "outputs" / RUN / "loss.png"
        run.save_file(plot, name="figures/loss_again.png")
        result = run.finish()
    assert result.registered
    assert (result.folder / "loss.png").read_bytes() == plot.read_bytes()
    assert {f"outputs/{RUN}/loss.png", f"outputs/{RUN}/figures/loss_again.png"} <= committed_files(registry)


# -- config and seed ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class TrainConfig:
    lr: float = 3e-4
    layers: int = 2
    model: str = "tiny"


def test_config_as_a_dict_or_a_dataclass(tmp_path: Path) -> None:
    from_dict = start(None, run_id="d", output_root=tmp_path, config={"lr": 3e-4, "layers": 2, "model": "tiny"})
    from_dataclass = start(None, run_id="c", output_root=tmp_path, config=TrainConfig())
    assert load_yaml(from_dict.folder / "config.yaml") == dataclasses.asdict(TrainConfig())
    assert (from_dataclass.folder / "config.yaml").read_bytes() == (from_dict.folder / "config.yaml").read_bytes()


def test_config_as_a_file_path(tmp_path: Path) -> None:
    text = "# the run's settings\nlr: 0.0003  # warmed up\nlayers: 2\n"
    (tmp_path / "cfg.yaml").write_text(text)
    (tmp_path / "cfg.json").write_text(json.dumps(CONFIG))
    from_yaml = start(None, run_id="y", output_root=tmp_path / "runs", config=tmp_path / "cfg.yaml")
    from_json = start(None, run_id="j", output_root=tmp_path / "runs", config=str(tmp_path / "cfg.json"))
    assert (from_yaml.folder / "config.yaml").read_text() == text  # as written, comments and all
    assert load_yaml(from_json.folder / "config.yaml") == CONFIG


def test_seed_txt_holds_the_seed_given_or_drawn(tmp_path: Path) -> None:
    given = start(None, run_id="given", output_root=tmp_path, seed=1234)
    drawn = start(None, run_id="drawn", output_root=tmp_path, seed=None)
    assert (given.folder / "seed.txt").read_text() == "1234\n"
    assert (drawn.folder / "seed.txt").read_text() == f"{drawn.seed}\n"
    assert 0 <= drawn.seed < 2**32


def test_no_seed_warns_at_once_and_provenance_says_seed_source_random(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drawn = start(None, run_id="drawn", output_root=tmp_path, seed=None)
    assert capsys.readouterr().err == (
        f"gerhard: WARNING: no seed= given: run drawn is seeded with {drawn.seed}, drawn at random (in seed.txt, "
        "and provenance.json says seed_source: random); pass seed= to choose it\n"
    )
    given = start(None, run_id="given", output_root=tmp_path, seed=7)
    assert capsys.readouterr().err == ""
    for run in (drawn, given):
        log_phase_a(run)
        run.finish()
    assert bundle_json(drawn.folder, "provenance.json")["seed_source"] == "random"
    assert bundle_json(given.folder, "provenance.json")["seed_source"] == "given"


def test_a_resumed_run_keeps_its_seed_source(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), start(None, run_id="drawn", output_root=tmp_path, seed=None) as run:
        log_phase_a(run)
        raise KeyboardInterrupt
    resumed = gerhard.resume_run(tmp_path / "drawn", dossier=False, download=False)
    resumed.finish()
    assert bundle_json(resumed.folder, "provenance.json")["seed_source"] == "random"


def train_tiny_model(run: Run) -> None:
    """A few steps of a seeded torch model, plus Python's and NumPy's generators, logged as metrics."""
    import numpy
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    x, y = torch.randn(64, 8), torch.randn(64, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(5):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        noise = {"py_noise": random.random(), "np_noise": float(numpy.random.rand())}
        run.log_metrics({"train_loss": loss, "val_loss": loss.item() + 0.01, **noise}, step=step)


def test_two_runs_with_the_same_seed_give_identical_metrics(tmp_path: Path) -> None:
    made = {}
    for run_id, seed in (("first", 1234), ("second", 1234), ("other", 1235)):
        run = start(None, run_id=run_id, output_root=tmp_path, seed=seed)
        train_tiny_model(run)
        run.finish()
        made[run_id] = (run.folder / "metrics.json").read_bytes()
    assert made["first"] == made["second"]
    assert made["first"] != made["other"]


# -- failure inside `with`, resume_run ---------------------------------------------------------------------


def test_an_exception_inside_with_keeps_what_was_logged_and_registers_nothing(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, count = snapshot(registry), commits(registry)
    rows = [{"train_loss": 2.0, "val_loss": 2.4, "step": 0}, {"train_loss": 1.5, "val_loss": 2.2, "step": 1}]
    with pytest.raises(RuntimeError, match="^CUDA out of memory$"), start(registry) as run:
        for row in rows:
            run.log_metrics({k: v for k, v in row.items() if k != "step"}, step=row["step"])
        raise RuntimeError("CUDA out of memory")

    folder = registry / "outputs" / RUN
    work = folder / ".gerhard-run"
    assert [json.loads(line) for line in (work / "history.jsonl").read_text().splitlines()] == rows
    assert (work / "FAILED").read_text() == "RuntimeError: CUDA out of memory\n"
    assert listing(folder) == LIVE
    assert without(snapshot(registry), RUN) == before  # no commit, no state, no report
    assert (
        f"gerhard: run {RUN} failed (RuntimeError: CUDA out of memory); it is not registered. "
        f"What was logged is in {work}"
    ) in capsys.readouterr().err.splitlines()
    assert user_error(run.finish) == (
        f"finish(): run {RUN} failed (RuntimeError: CUDA out of memory): it is not registered"
    )
    assert without(snapshot(registry), RUN) == before

    # A later session finishes what was logged.
    resumed = gerhard.resume_run(folder, dossier=False, download=False)
    assert (resumed.run_id, resumed.phase, resumed.seed, resumed.history) == (RUN, "A", 1234, rows)
    result = resumed.finish(summary="finished after the crash")
    assert (result.registered, result.verdict) == (True, "GREEN")
    assert commits(registry) == count + 1
    assert git_out(registry, "status", "--porcelain") == ""
    assert bundle_json(folder, "metrics.json") == {"final": {"train_loss": 1.5, "val_loss": 2.2}, "history": rows}
    provenance = bundle_json(folder, "provenance.json")
    assert (provenance["resumed"], provenance["wall_time_s"], provenance["seed"]) == (True, None, 1234)
    assert ".gerhard-run" not in listing(folder)
    assert user_error(lambda: gerhard.resume_run(folder)) == (
        f"resume_run: {folder} holds no unfinished run (.gerhard-run/state.json is missing)"
    )


def test_resume_run_restores_the_evals_and_finds_the_saved_artifact(registry_b: Path) -> None:
    with pytest.raises(KeyboardInterrupt), start(registry_b, "B") as run:
        log_phase_b(run)
        raise KeyboardInterrupt
    resumed = gerhard.resume_run(registry_b / "outputs" / RUN, dossier=False, download=False)
    assert list(resumed.evals) == list(TASKS)
    result = resumed.finish()
    assert (result.registered, result.verdict) == (True, "GREEN")


# -- the flushed history -----------------------------------------------------------------------------------


def history_rows(run: Run) -> list[dict[str, Any]]:
    path = run.folder / ".gerhard-run" / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for_rows(run: Run, count: int, seconds: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while len(rows := history_rows(run)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return rows


def test_history_is_written_by_the_timer_not_per_call(tmp_path: Path) -> None:
    run = start(None, output_root=tmp_path, flush_seconds=0.3)
    run.log_metrics({"loss": 1.0}, step=0)
    run.log_metrics({"loss": 0.9}, step=1)
    assert history_rows(run) == []  # nothing per call
    assert wait_for_rows(run, 2) == [{"loss": 1.0, "step": 0}, {"loss": 0.9, "step": 1}]  # the timer, while idle
    run.log_metrics({"loss": 0.8}, step=2)
    run.flush()
    assert history_rows(run)[-1] == {"loss": 0.8, "step": 2}
    run.log_metrics({"acc": 0.5}, step=2)  # the row on disk grows: written again, read back as one row
    run.flush()
    resumed = gerhard.resume_run(run.folder)
    assert resumed.history == run.history
    assert resumed.history[-1] == {"loss": 0.8, "acc": 0.5, "step": 2}


def test_flush_seconds_zero_writes_every_call(tmp_path: Path) -> None:
    run = start(None, output_root=tmp_path, flush_seconds=0)
    for step in range(3):
        run.log_metrics({"loss": 1.0 - step / 10}, step=step)
        assert len(history_rows(run)) == step + 1


KILLED = """
import os, signal, sys, time
import gerhard

run = gerhard.start_run("crash", "A", {"lr": 0.1}, 7, run_id=sys.argv[2], repo_root=sys.argv[1], flush_seconds=1)
history = os.path.join(run.folder, ".gerhard-run", "history.jsonl")
for step in range(6):
    run.log_metrics({"train_loss": 2.5 - step / 10, "val_loss": 2.4 - step / 10}, step=step)
assert not os.path.exists(history), "written per call"
time.sleep(1.5)  # the timer wrote steps 0 to 5 at 1 s; the next tick is at 2 s
run.log_metrics({"train_loss": 1.8, "val_loss": 1.7}, step=6)  # in memory only when the runtime dies
print("logged", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_process_leaves_its_flushed_history_and_a_later_session_registers_it(registry: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED, str(registry), RUN], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout == "logged\n"
    folder = registry / "outputs" / RUN
    rows = [{"train_loss": 2.5 - s / 10, "val_loss": 2.4 - s / 10, "step": s} for s in range(6)]
    assert [json.loads(line) for line in (folder / ".gerhard-run" / "history.jsonl").read_text().splitlines()] == rows

    resumed = gerhard.resume_run(folder, dossier=False, download=False)
    assert resumed.history == rows
    result = resumed.finish(summary="the runtime died at step 6")
    assert (result.registered, result.verdict) == (True, "GREEN")
    assert bundle_json(folder, "metrics.json")["history"] == rows
    assert git_out(registry, "status", "--porcelain") == ""


# -- registration that cannot happen -----------------------------------------------------------------------


def test_without_a_registry_the_bundle_stays_and_the_printed_command_registers_it(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with start(None, output_root=tmp_path / "runs", dossier=True) as run:
        log_phase_a(run)
        result = run.finish(summary="trained on a laptop", next_action="register it")
    folder = tmp_path / "runs" / RUN
    command = (
        f"python -m gerhard register --repo '<your registry>' --run-id {RUN} --phase A --source-dir {folder} "
        "--summary 'trained on a laptop' --next-action 'register it'"
    )
    why = "no registry at hand (pass repo_root= or set GERHARD_REPO)"
    dossier = folder / f"run_dossier_{RUN}.html"
    assert result == FinishResult(RUN, folder, dossier, False, None, command, why)
    assert str(result) == "\n".join(
        [
            f"run {RUN}: not evaluated",
            f"  bundle: {folder}",
            f"  dossier: {dossier}",
            f"  not registered: {why}",
            f"  register it later with: {command}",
        ]
    )
    err = capsys.readouterr().err.splitlines()
    assert err[-3:] == [
        f"gerhard: run {RUN} is not registered: {why}",
        f"gerhard: the bundle is in {folder}; register it later with:",
        f"  {command}",
    ]
    assert listing(folder) == sorted(
        ["config.yaml", "metrics.json", "packages.txt", "provenance.json", "seed.txt", dossier.name]
    )

    before = commits(registry)
    done = shell(command.replace("'<your registry>'", shlex.quote(str(registry))), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert commits(registry) == before + 1
    assert record(registry, RUN)["verdict"] == "GREEN"
    assert record(registry, RUN)["summary"] == "trained on a laptop"


def test_a_refused_phase_keeps_the_bundle_and_the_printed_command_registers_it_once_the_phase_is_open(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(registry)
    with start(registry, "C") as run:
        log_phase_a(run)
        run.log_eval("long_context", score=0.9, passed=True)
        result = run.finish(summary="it's long context", next_action="write it up")
    folder = registry / "outputs" / RUN
    why = (
        "phase C is not open yet: the current phase is A (Dense baseline reproduction); "
        "register phase A runs first or pass --force"
    )
    command = (
        f"python -m gerhard register --repo {registry} --run-id {RUN} --phase C --source-dir {folder} "
        """--summary 'it'"'"'s long context' --next-action 'write it up'"""
    )
    assert result == FinishResult(RUN, folder, None, False, None, command, why)
    assert capsys.readouterr().err.splitlines()[-3:] == [
        f"gerhard: run {RUN} is not registered: {why}",
        f"gerhard: the bundle is in {folder}; register it later with:",
        f"  {command}",
    ]
    assert without(snapshot(registry), RUN) == before  # refused: no commit, no state
    assert listing(folder) == [
        "config.yaml",
        "eval_suite.json",
        "metrics.json",
        "packages.txt",
        "provenance.json",
        "seed.txt",
    ]

    gerhard.register_run(PHASE_A_RUN, "A", EXAMPLES / "phase_a_green", registry, summary="a", next_action="b")
    gerhard.register_run(
        "20261101T110000Z_v15", "B", EXAMPLES / "phase_b_green", registry, summary="b", next_action="c"
    )
    head = commits(registry)
    done = shell(command, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert commits(registry) == head + 1
    assert (record(registry, RUN)["verdict"], record(registry, RUN)["summary"]) == ("GREEN", "it's long context")
    assert git_out(registry, "status", "--porcelain") == ""


def test_force_registers_before_the_phase_is_open_also_when_a_later_session_finishes(registry: Path) -> None:
    with pytest.raises(RuntimeError), start(registry, "C", force=True) as run:
        log_phase_a(run)
        run.log_eval("long_context", score=0.9, passed=True)
        raise RuntimeError("the runtime is going away")
    resumed = gerhard.resume_run(registry / "outputs" / RUN, dossier=False, download=False)
    assert resumed.register_command("", "").endswith(" --force")
    result = resumed.finish()
    assert (result.registered, result.verdict) == (True, "GREEN")
    assert record(registry, RUN)["phase"] == "C"


def test_register_false_keeps_the_bundle_and_says_so(registry: Path) -> None:
    before = snapshot(registry)
    with start(registry, register=False) as run:
        log_phase_a(run)
        result = run.finish()
    assert (result.registered, result.message) == (False, "register=False")
    assert without(snapshot(registry), RUN) == before


# -- bad input from a notebook cell: one line, naming the mistake ------------------------------------------


def tensor_pair() -> Any:
    import torch

    return torch.tensor([1.0, 2.0])


LOGGING_MISTAKES: list[tuple[str, Callable[[Run], Any], str]] = [
    (
        "metric name with a dot",
        lambda run: run.log_metrics({"val.loss": 1.0}),
        "metrics.json: the metric name 'val.loss' in log_metrics has a '.', which gate paths (final.val_loss) "
        "split on, so no gate could read it: rename it",
    ),
    (
        "metric name 'step'",
        lambda run: run.log_metrics({"step": 3}),
        "log_metrics: 'step' is not a metric name: use text such as 'val_loss' (not 'step')",
    ),
    (
        "a string value",
        lambda run: run.log_metrics({"val_loss": "0.5"}),
        "log_metrics: val_loss is '0.5' (str): log a number",
    ),
    ("None", lambda run: run.log_metrics({"val_loss": None}), "log_metrics: val_loss is None (NoneType): log a number"),
    ("a bool", lambda run: run.log_metrics({"converged": True}), "log_metrics: converged is True (bool): log a number"),
    (
        "a tensor that is not a scalar",
        lambda run: run.log_metrics({"val_loss": tensor_pair()}),
        "log_metrics: val_loss is a Tensor: log a number (for a tensor, .item())",
    ),
    (
        "a list of numbers",
        lambda run: run.log_metrics({"val_loss": [1.0]}),
        "log_metrics: val_loss is a list: log a number (for a tensor, .item())",
    ),
    (
        "not a dict",
        lambda run: run.log_metrics([("val_loss", 1.0)]),
        "log_metrics: pass a dict of name -> number, not a list",
    ),
    (
        "step going back",
        lambda run: (run.log_metrics({"val_loss": 1.0}, step=5), run.log_metrics({"val_loss": 0.9}, step=4)),
        "log_metrics: step 4 after step 5: steps must not go back",
    ),
    (
        "a fractional step",
        lambda run: run.log_metrics({"val_loss": 1.0}, step=1.5),
        "log_metrics: step=1.5 is not a whole number: pass step=<int>",
    ),
    (
        "a float step from numpy",
        lambda run: run.log_metrics({"val_loss": 1.0}, step=__import__("numpy").float64(2.0)),
        "log_metrics: step=np.float64(2.0) is not a whole number: pass step=<int>",
    ),
    (
        "a bool step",
        lambda run: run.log_metrics({"val_loss": 1.0}, step=True),
        "log_metrics: step=True is not a whole number: pass step=<int>",
    ),
    (
        "a negative step",
        lambda run: run.log_metrics({"val_loss": 1.0}, step=-1),
        "log_metrics: step=-1 is negative: count steps from 0",
    ),
    (
        "log_eval without passed or threshold",
        lambda run: run.log_eval("arc_easy", score=0.71),
        "log_eval('arc_easy'): give passed=True/False or threshold= the score must reach",
    ),
    (
        "a duplicate eval task",
        lambda run: (run.log_eval("arc_easy", 0.71, passed=True), run.log_eval("arc_easy", 0.72, passed=True)),
        "log_eval: task 'arc_easy' was logged already in this run: log each task once",
    ),
    (
        "passed that is not a bool",
        lambda run: run.log_eval("arc_easy", 0.71, passed="yes"),
        "log_eval('arc_easy'): passed='yes' is not True or False",
    ),
    (
        "a NaN eval score",
        lambda run: run.log_eval("arc_easy", float("nan"), passed=False),
        "log_eval('arc_easy'): score is nan: log a finite score (None if the task did not run)",
    ),
    (
        "an unknown artifact",
        lambda run: run.save_artifact("spikes.json", SPIKES),
        "save_artifact: spikes.json is not an artifact of state/program.yaml (it declares v15_spikingbrain.json): "
        "check the name, or save other files with run.save_file",
    ),
    (
        "an artifact failing its schema",
        lambda run: run.save_artifact(
            "v15_spikingbrain.json",
            SPIKES | {"layers": [{"name": "lif0", "spike_rate": 0.1}, {"name": "lif1", "spike_rate": "high"}]},
        ),
        "save_artifact('v15_spikingbrain.json'): $.layers[1].spike_rate: 'high' is not of type 'number', 'null' "
        "(schema v15_spikingbrain)",
    ),
    (
        "an artifact missing a required field",
        lambda run: run.save_artifact("v15_spikingbrain.json", {"model": "m", "layers": SPIKES["layers"]}),
        "save_artifact('v15_spikingbrain.json'): $: 'spike_rate' is a required property (schema v15_spikingbrain)",
    ),
    (
        "a built-in file as an artifact",
        lambda run: run.save_artifact("metrics.json", {"final": {"val_loss": 1.0}}),
        "save_artifact: metrics.json is written by finish() (log_metrics, log_eval, config=, seed=)",
    ),
    (
        "a checkpoint as an artifact",
        lambda run: run.save_artifact("model.pt", {}),
        "save_artifact: 'model.pt' is not a .json file name: use save_file for other files",
    ),
    (
        "an artifact that is not JSON",
        lambda run: run.save_artifact("v15_spikingbrain.json", {"model": object()}),
        "save_artifact('v15_spikingbrain.json'): a value of type object cannot be written as JSON: "
        "save plain numbers, text, lists and dicts",
    ),
]


@pytest.mark.parametrize(("call", "message"), [m[1:] for m in LOGGING_MISTAKES], ids=[m[0] for m in LOGGING_MISTAKES])
def test_a_logging_mistake_is_one_line_naming_it_and_writes_nothing(
    registry_b: Path, call: Callable[[Run], Any], message: str
) -> None:
    run = start(registry_b, "B")
    assert user_error(lambda: call(run)) == message
    assert listing(run.folder) == LIVE  # no artifact, no bundle file


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"phase": "Z"}, "unknown phase 'Z': state/program.yaml declares A, B, C"),
        ({"seed": -1}, "start_run: seed=-1 is not a whole number >= 0"),
        ({"seed": 1.5}, "start_run: seed=1.5 is not a whole number >= 0"),
        ({"name": ""}, "start_run: name='': give the run a short name, e.g. name=\"v15\""),
        ({"config": ["lr", 0.1]}, "start_run: config must be a dict, a dataclass or a file, not a list"),
        (
            {"config": "nope.yaml"},
            "start_run: config='nope.yaml' is not a file: pass a dict, dataclass or YAML/JSON file",
        ),
        ({"run_id": "../escape"}, None),
    ],
    ids=[
        "unknown phase",
        "negative seed",
        "fractional seed",
        "no name",
        "a list config",
        "a missing config file",
        "unsafe run id",
    ],
)
def test_a_start_run_mistake_is_one_line_and_creates_nothing(
    registry: Path, kwargs: dict[str, Any], message: str | None
) -> None:
    before, kwargs = snapshot(registry), dict(kwargs)
    phase = kwargs.pop("phase", "A")
    got = user_error(lambda: start(registry, phase, **kwargs))
    if message is not None:
        assert got == message
    else:
        assert got.startswith("run id '../escape' is not safe: ")
    assert snapshot(registry) == before


def test_start_run_refuses_a_folder_in_use_and_a_registered_run_id(registry: Path) -> None:
    with start(registry) as run:
        log_phase_a(run)
    assert user_error(lambda: start(registry)) == (
        f"start_run: run {RUN} is registered already: pass another run_id= (or name)"
    )
    start(registry, run_id="busy")
    before = snapshot(registry)
    assert user_error(lambda: start(registry, run_id="busy", seed=99)) == (
        f"start_run: {registry / 'outputs' / 'busy'} exists and is not empty: pass another run_id= or move that "
        "folder away"
    )
    assert snapshot(registry) == before
    assert (registry / "outputs" / "busy" / "seed.txt").read_text() == "1234\n"


def test_start_run_refuses_a_repo_root_that_is_not_a_registry(tmp_path: Path) -> None:
    assert user_error(lambda: start(tmp_path)) == (
        f"no state/program.yaml in {tmp_path}: pass repo_root= a gerhard registry (gerhard init makes one)"
    )


def assert_refused_finish(run: Run, registry: Path, message: str, **finish: Any) -> None:
    """finish() raises `message` and writes nothing: the run folder and the registry are as they were."""
    folder, before = tree(run.folder), without(snapshot(registry), run.run_id)
    assert user_error(lambda: run.finish(**finish)) == message
    assert tree(run.folder) == folder
    assert not {"metrics.json", "eval_suite.json", "provenance.json", "packages.txt"} & set(listing(run.folder))
    assert without(snapshot(registry), run.run_id) == before
    assert run.finished is None


def test_a_nan_metric_is_refused_at_finish_and_allow_nonfinite_registers_it_red(registry: Path) -> None:
    run = start(registry, flush_seconds=0)
    run.log_metrics({"train_loss": 2.0, "val_loss": 2.2}, step=0)
    run.log_metrics({"train_loss": float("inf"), "val_loss": float("nan")}, step=1)
    assert_refused_finish(
        run,
        registry,
        "finish(): log_metrics got NaN or infinite values (train_loss at step 1, val_loss at step 1): fix the cell "
        "that computes them, or finish(allow_nonfinite=True) to register a diverged run (its gates then fail)",
    )
    result = run.finish(allow_nonfinite=True, summary="diverged")
    assert (result.registered, result.verdict) == (True, "RED")
    metrics = bundle_json(run.folder, "metrics.json")
    assert metrics["final"] == {"train_loss": None, "val_loss": None}  # the last values, not the last finite ones
    assert metrics["history"][1] == {"train_loss": None, "val_loss": None, "step": 1}
    assert [g["passed"] for g in record(registry, RUN)["gates"]] == [False]


def test_a_nan_in_final_is_refused(registry: Path) -> None:
    run = start(registry)
    log_phase_a(run)
    assert_refused_finish(
        run,
        registry,
        "finish(): final val_loss is nan: fix the value (a diverged run: leave final= out)",
        final={"val_loss": float("nan")},
    )


def test_a_missing_phase_b_artifact_is_refused_at_finish_naming_the_call_to_make(registry_b: Path) -> None:
    run = start(registry_b, "B")
    log_phase_a(run)
    assert_refused_finish(
        run,
        registry_b,
        "finish(): phase B requires eval_suite.json, v15_spikingbrain.json, not made by this run "
        "(eval_suite.json: run.log_eval(...); v15_spikingbrain.json: run.save_artifact('v15_spikingbrain.json', ...))",
    )
    run.save_artifact("v15_spikingbrain.json", SPIKES)
    assert_refused_finish(
        run,
        registry_b,
        "finish(): phase B requires eval_suite.json, not made by this run (eval_suite.json: run.log_eval(...))",
    )
    for task in TASKS:
        run.log_eval(task, score=0.9, threshold=0.5)
    result = run.finish()  # the run was not used up by the refusals
    assert (result.registered, result.verdict) == (True, "GREEN")


def test_a_run_without_metrics_is_refused_at_finish(registry: Path) -> None:
    run = start(registry)
    assert_refused_finish(
        run,
        registry,
        "finish(): phase A requires metrics.json, not made by this run (metrics.json: log_metrics(...) or "
        "finish(final={...}))",
    )


def test_an_empty_config_is_refused_at_finish_not_at_registration(registry: Path) -> None:
    run = start(registry, config=None)
    log_phase_a(run)
    assert_refused_finish(
        run,
        registry,
        f"finish(): config.yaml is empty: the registry refuses a run without its settings; pass them to "
        f"start_run(config=...) or write them into {run.folder / 'config.yaml'}",
    )
    (run.folder / "config.yaml").write_text("lr: 0.1\n")
    assert run.finish().registered


def test_summary_must_be_text(registry: Path) -> None:
    run = start(registry)
    log_phase_a(run)
    assert_refused_finish(run, registry, "finish(): summary must be text, not int", summary=3)


def test_a_second_finish_and_logging_after_finish_are_refused(registry: Path, tmp_path: Path) -> None:
    with start(registry) as run:
        log_phase_a(run)
        run.finish()
        before = snapshot(registry)
        finished = f"run {RUN} is finished: start a new run with gerhard.start_run"
        assert user_error(run.finish) == (
            f"finish(): run {RUN} was finished already: start a new run for another result"
        )
        assert user_error(lambda: run.log_metrics({"val_loss": 1.0})) == f"log_metrics: {finished}"
        assert user_error(lambda: run.log_eval("arc_easy", 0.7, passed=True)) == f"log_eval: {finished}"
        assert user_error(lambda: run.save_artifact("v15_spikingbrain.json", SPIKES)) == f"save_artifact: {finished}"
        (tmp_path / "plot.png").write_bytes(b"png")
        assert user_error(lambda: run.save_file(tmp_path / "plot.png")) == f"save_file: {finished}"
    assert snapshot(registry) == before  # leaving the with block after finish() does nothing more


def test_a_refused_row_leaves_no_nan_behind(tmp_path: Path) -> None:
    run = gerhard.start_run("x", "A", {"lr": 0.1}, 1, output_root=tmp_path, dossier=False, download=False)
    with pytest.raises(gerhard.UserError, match="log a number"):
        run.log_metrics({"loss": float("nan"), "acc": "high"}, step=0)
    run.log_metrics({"loss": 0.5, "acc": 0.9}, step=0)
    assert run.history == [{"loss": 0.5, "acc": 0.9, "step": 0}]
    assert run.finish(summary="fine").folder == tmp_path / run.run_id


def test_config_floats_read_back_as_floats_with_pyyaml_too(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    config = {"lr": 2e-05, "big": 1e20, "decay": [1e-06, 0.5], "name": "1e-05"}
    run = gerhard.start_run("x", "A", config, 1, output_root=tmp_path, dossier=False, download=False)
    text = (run.folder / "config.yaml").read_text()
    assert yaml.safe_load(text) == config
    from gerhard.formats.yamlio import load_plain_yaml

    assert load_plain_yaml(text, "config.yaml") == config


# -- what the framework integrations log through: counters, totals, metric aliases, a late config ----------


def test_counters_are_drawn_against_never_final_metrics_and_totals_join_the_final(tmp_path: Path) -> None:
    run = start(None, output_root=tmp_path)
    run.log_metrics({"loss": 2.0}, step=2, counters={"epoch": 0.5})
    run.log_metrics({"loss": 1.5}, step=4, counters={"epoch": 1.0})
    run.log_final({"train_loss": 1.75})
    run.flush()
    resumed = gerhard.resume_run(run.folder, dossier=False, download=False)  # a later session knows them too
    for r in (run, resumed):
        assert r.history == [{"loss": 2.0, "epoch": 0.5, "step": 2}, {"loss": 1.5, "epoch": 1.0, "step": 4}]
    resumed.finish()
    metrics = bundle_json(run.folder, "metrics.json")
    assert metrics["final"] == {"loss": 1.5, "train_loss": 1.75}
    assert metrics["history"][-1] == {"loss": 1.5, "epoch": 1.0, "step": 4}


def test_metric_aliases_from_the_program_and_from_start_run(registry: Path) -> None:
    program = registry / "state" / "program.yaml"
    program.write_text(program.read_text() + "\nmetric_aliases:\n  eval_loss: val_loss\n  loss: train_loss\n")
    git_out(registry, "commit", "-qam", "HF names")
    run = start(registry, metric_aliases={"loss": "step_loss"})  # the argument wins over the program
    run.log_metrics({"loss": 2.4, "eval_loss": 2.3}, step=0)
    run.log_metrics({"loss": 2.2, "eval_loss": 2.1}, step=1)
    run.log_final({"eval_loss": 2.0})
    assert run.history[-1] == {"step_loss": 2.2, "val_loss": 2.1, "step": 1}
    run.flush()
    resumed = gerhard.resume_run(run.folder, dossier=False, download=False)
    resumed.log_metrics({"eval_loss": 1.9}, step=2)  # still renamed after a resume, the replay not twice
    assert resumed.history[-1] == {"val_loss": 1.9, "step": 2}
    result = resumed.finish()
    assert (result.registered, result.verdict, result.message) == (True, "GREEN", "")
    assert bundle_json(run.folder, "metrics.json")["final"] == {"step_loss": 2.2, "val_loss": 2.0}


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        (["eval_loss"], "metric_aliases: pass a dict of logged name -> gate name, not a list"),
        ({1: "val_loss"}, "metric_aliases: the key 1 is not text: name the metric as it is logged"),
        ({"eval_loss": "val.loss"}, "metrics.json: the metric name 'val.loss' in metric_aliases['eval_loss'] has a "
         "'.', which gate paths (final.val_loss) split on, so no gate could read it: rename it"),
    ],
)  # fmt: skip
def test_bad_metric_aliases_are_refused_before_the_run_starts(tmp_path: Path, aliases: Any, message: str) -> None:
    with pytest.raises(gerhard.UserError) as e:
        start(None, output_root=tmp_path, metric_aliases=aliases)
    assert str(e.value) == message
    assert not (tmp_path / RUN).exists()


def test_log_final_refuses_what_is_not_a_finite_number(tmp_path: Path) -> None:
    run = start(None, output_root=tmp_path)
    with pytest.raises(gerhard.UserError) as e:
        run.log_final({"train_loss": float("inf")})
    assert str(e.value) == "log_final: train_loss is inf: log a finite number"
    with pytest.raises(gerhard.UserError) as e:
        run.log_final([1.0])  # type: ignore[arg-type]
    assert str(e.value) == "log_final: pass a dict of name -> number, not a list"
    assert not (run.folder / ".gerhard-run" / "final.json").exists()
    run.fail(RuntimeError("test over"))


def test_set_config_replaces_the_config_until_finish(tmp_path: Path) -> None:
    run = start(None, output_root=tmp_path)
    run.set_config({"lr": 0.1, "hidden": 8})
    assert (run.folder / "config.yaml").read_text() == "lr: 0.1\nhidden: 8\n"
    run.log_metrics({"loss": 1.0})
    run.finish()
    with pytest.raises(gerhard.UserError, match="set_config: run .* is finished"):
        run.set_config({"lr": 0.2})
