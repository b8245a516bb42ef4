"""The typo guards (gerhard.core.metricnames and its callers): a gated metric missing from a run while a close
name was logged, misspelt in the run or in state/program.yaml, is refused at register (the CLI in a real process,
the API, the handoff scripts) and at finish() before anything is written, and registered RED with --allow-missing
/ allow_missing=True; start_run names the gated metrics and warns of a close name as it is logged; `gerhard check`
warns of a gate no run of its phase has logged. Real registries (git, `gerhard init --example`), real runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import git_out, head_sha, load_yaml, python_m_gerhard, register_ok, run
from conftest import EXAMPLES, git, snapshot
from history_helpers import edit_json, edit_yaml

import gerhard
from gerhard.core.gates import Gate
from gerhard.core.metricnames import close_names, close_paths, refuse_typos, typos

ROOT = Path(__file__).resolve().parent.parent
VAL_LOSS_HINT = (
    "gate val_loss_max needs final.val_loss; this run logged final.val_los: did you mean it? Fix the name (in the "
    "run or in the gate's path in state/program.yaml), or pass allow_missing=True / --allow-missing to register "
    "it RED"
)


def state(repo: Path) -> tuple[dict[str, object], str, str]:
    """What a refusal leaves byte-identical: every file, HEAD, the index and refs, and `git status`."""
    return snapshot(repo), git_out(repo, "status", "--porcelain", "--ignored", "--untracked-files=all"), head_sha(repo)


def bundle(tmp_path: Path, name: str, rename: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> Path:
    """phase_a_green with final metrics renamed or dropped (what a typo in the script leaves)."""
    folder = shutil.copytree(EXAMPLES / "phase_a_green", tmp_path / name)

    def edit(metrics: dict[str, Any]) -> None:
        final = metrics["final"]
        for old, new in (rename or {}).items():
            final[new] = final.pop(old)
        for key in drop:
            del final[key]

    edit_json(folder / "metrics.json", edit)
    return folder


def set_gate_path(repo: Path, phase: str, gate: str, path: str) -> None:
    """state/program.yaml's gate reads another path, committed (a typo in the program)."""

    def edit(program: dict[str, Any]) -> None:
        found = [g for p in program["phases"] if p["id"] == phase for g in p["gates"] if g["id"] == gate]
        found[0]["path"] = path

    edit_yaml(repo / "state" / "program.yaml", edit)
    git(repo, "commit", "-qam", f"program: {gate} reads {path}")


def register_cli(repo: Path, run_id: str, source: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return python_m_gerhard(
        "register", "--repo", repo, "--run-id", run_id, "--phase", "A", "--source-dir", source, *extra
    )


def gate_result(repo: Path, run_id: str) -> dict[str, Any]:
    record = load_yaml(repo / "state" / "runs" / f"{run_id}.yaml")
    assert record["verdict"] == "RED"
    return dict(record["gates"][0])


# -- the pure part ---------------------------------------------------------------------------------------------


def test_close_names_are_typos_not_other_metrics() -> None:
    assert close_names("val_acc", ["val_accuracy", "train_loss", "val_loss"]) == ["val_accuracy"]
    assert close_names("val_loss", ["train_loss", "val_ppl", "lr"]) == []  # another metric, not a typo
    assert close_names("val_lss", ["val_loss", "val_ppl"]) == ["val_loss"]  # the closest only, not val_ppl too
    assert close_names("Val_Loss", ["val_loss", "Val_Loss"]) == ["val_loss"]  # case is a typo too; itself is not
    # metric_aliases ties names difflib would not: the logged name an alias of the gated one, or the other way round
    assert close_names("acc", ["eval_accuracy"], {"eval_accuracy": "acc"}) == ["eval_accuracy"]
    assert close_names("eval_accuracy", ["acc"], {"eval_accuracy": "acc"}) == ["acc"]


def test_typos_find_the_close_path_at_any_depth_and_only_one_that_holds_a_value() -> None:
    data = {"spike_rate": {"mean": 0.1}, "layers": [{"rate": 0.2}], "final": {"val_loss": 2.0}}
    assert close_paths(data, "spike_rate.maen") == ["spike_rate.mean"]
    assert close_paths(data, "spike_rates.mean") == ["spike_rate.mean"]
    assert close_paths(data, "layers.0.rte") == ["layers.0.rate"]
    assert close_paths(data, "spike_rat.max") == []  # spike_rate has no max: nothing to suggest
    gates = [
        Gate("a", "v.json", "spike_rate.maen", severity="advisory"),
        Gate("b", "v.json", "spike_rate.mean"),  # there
        Gate("c", "other.json", "x"),  # its artifact is missing: the required-files check says so
        Gate("d", "v.json", "energy"),  # nothing close: registered RED as "not found"
    ]
    [found] = typos(gates, {"v.json": data})
    assert (found.gate, found.path, found.close) == ("a", "spike_rate.maen", ("spike_rate.mean",))
    with pytest.raises(gerhard.UserError) as refused:
        refuse_typos(gates, {"v.json": data}, call="x: ")
    assert str(refused.value) == (
        "x: gate a needs spike_rate.maen in v.json; this run logged spike_rate.mean in v.json: did you mean it? Fix "
        "the name (in the run or in the gate's path in state/program.yaml), or pass allow_missing=True / "
        "--allow-missing to register it AMBER"
    )


# -- register ----------------------------------------------------------------------------------------------------


def test_a_metric_misspelt_in_the_run_is_refused_by_the_cli_and_nothing_is_written(
    registry: Path, tmp_path: Path
) -> None:
    typo = bundle(tmp_path, "typo", rename={"val_loss": "val_los"})
    before = state(registry)
    done = register_cli(registry, "r1", typo)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"gerhard register: error: {VAL_LOSS_HINT}\n")
    assert state(registry) == before

    done = register_cli(registry, "r1", typo, "--allow-missing")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("run r1 (phase A): RED, 0/1 gates passed")
    assert gate_result(registry, "r1")["reason"] == "final.val_loss not found in metrics.json"


def test_a_metric_misspelt_in_program_yaml_is_refused_with_the_name_runs_log(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_gate_path(registry, "A", "val_loss_max", "final.val_lss")
    source = bundle(tmp_path, "good")
    before = state(registry)
    done = run(capsys, "register", "--repo", registry, "--run-id", "r1", "--phase", "A", "--source-dir", source)
    assert (done.rc, done.err) == (
        2,
        "gerhard register: error: gate val_loss_max needs final.val_lss; this run logged final.val_loss: did you "
        "mean it? Fix the name (in the run or in the gate's path in state/program.yaml), or pass allow_missing=True"
        " / --allow-missing to register it RED\n",
    )
    assert state(registry) == before
    with pytest.raises(gerhard.UserError, match="needs final.val_lss; this run logged final.val_loss"):
        gerhard.register_run("r1", "A", source, registry)
    assert state(registry) == before

    result = gerhard.register_run("r1", "A", source, registry, allow_missing=True)
    assert (result.verdict, result.failed_gates) == ("RED", ["val_loss_max"])
    assert gate_result(registry, "r1")["reason"] == "final.val_lss not found in metrics.json"


def test_a_missing_metric_with_no_close_name_is_registered_red_as_before(registry: Path, tmp_path: Path) -> None:
    gone = bundle(tmp_path, "gone", drop=("val_loss",))  # train_loss and val_ppl are other metrics
    done = register_cli(registry, "r1", gone)
    assert done.returncode == 0, done.stderr
    assert gate_result(registry, "r1")["reason"] == "final.val_loss not found in metrics.json"


def test_metric_aliases_of_program_yaml_tie_a_framework_name_to_the_gate(registry: Path, tmp_path: Path) -> None:
    """A folder registered as a framework wrote it (aliases apply as a run logs, not at register)."""
    edit_yaml(registry / "state" / "program.yaml", lambda p: p.update(metric_aliases={"eval_objective": "val_loss"}))
    git(registry, "commit", "-qam", "aliases")
    framework = bundle(tmp_path, "hf", rename={"val_loss": "eval_objective"})
    done = register_cli(registry, "r1", framework)
    assert done.returncode == 2
    assert "gate val_loss_max needs final.val_loss; this run logged final.eval_objective: did you mean it?" in (
        done.stderr
    )


def test_the_handoff_scripts_forward_allow_missing(registry: Path, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "scripts", registry / "scripts")
    typo = bundle(tmp_path, "20261101T100000Z_typo", rename={"val_loss": "val_los"})
    script = [sys.executable, str(registry / "scripts" / "register_notebook_run.py")]
    argv = ["--run-id", "20261101T100000Z_typo", "--phase", "A", "--source-dir", str(typo)]
    before = state(registry)
    done = subprocess.run([*script, *argv], cwd=tmp_path, capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (2, f"gerhard register: error: {VAL_LOSS_HINT}\n")
    assert state(registry) == before

    dossier = python_m_gerhard("dossier", "--run-dir", typo, "--phase", "A", "--repo", registry)
    assert dossier.returncode == 0, dossier.stderr
    html = typo / "run_dossier_20261101T100000Z_typo.html"
    by_dossier = [sys.executable, str(registry / "scripts" / "register_dossier_run.py"), "--dossier", str(html)]
    done = subprocess.run(by_dossier, cwd=tmp_path, capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (2, f"gerhard register: error: {VAL_LOSS_HINT}\n")
    assert state(registry) == before
    done = subprocess.run([*by_dossier, "--allow-missing"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert gate_result(registry, "20261101T100000Z_typo")["reason"] == "final.val_loss not found in metrics.json"

    cell = (
        "import sys; sys.path.insert(0, sys.argv[1]); from scripts.register_notebook_run import register_run; "
        "print(register_run('r2', 'A', sys.argv[2], summary='s', allow_missing=True).verdict)"
    )
    other = bundle(tmp_path, "other", rename={"val_loss": "Val_Loss"})
    done = subprocess.run([sys.executable, "-c", cell, str(registry), str(other)], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "RED\n"), done.stderr


# -- finish() and start_run ---------------------------------------------------------------------------------------


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No registry but the one a test passes, outside any repository."""
    for name in ("GERHARD_REPO", "GERHARD_OUTPUT_ROOT", "GERHARD_NOTEBOOK", "JPY_SESSION_NAME", "COLAB_RELEASE_TAG"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")


def start(registry: Path, run_id: str = "r1", **kw: Any) -> gerhard.Run:
    return gerhard.start_run(
        "t", "A", {"lr": 0.1}, 7, run_id=run_id, repo_root=registry, dossier=False, download=False, **kw
    )


def test_finish_refuses_a_misspelt_metric_before_writing_and_registers_it_red_when_allowed(
    registry: Path, capture: None, capsys: pytest.CaptureFixture[str]
) -> None:
    live = start(registry)
    assert capsys.readouterr().err == (
        "gerhard: phase A's gates read val_loss (metrics.json final): log them under these names, or map yours "
        "with metric_aliases\n"
    )
    live.log_metrics({"train_loss": 2.5, "val_los": 2.4}, step=0)
    assert capsys.readouterr().err == (
        "gerhard: WARNING: run r1 logs val_los, but gate val_loss_max reads final.val_loss: did you mean val_loss? "
        "Rename it, fix the gate's path in state/program.yaml, or pass metric_aliases={'val_los': 'val_loss'}; "
        "finish() refuses a run missing a gated metric while it logged a close name\n"
    )
    live.log_metrics({"train_loss": 2.4, "val_los": 2.3}, step=1)  # said once, when the name is new
    assert capsys.readouterr().err == ""
    live.flush()
    before, folder = state(registry), sorted(p.name for p in live.folder.iterdir())
    with pytest.raises(gerhard.UserError) as refused:
        live.finish()
    assert str(refused.value) == f"finish(): {VAL_LOSS_HINT}"
    assert (state(registry), sorted(p.name for p in live.folder.iterdir())) == (before, folder)

    result = live.finish(allow_missing=True)
    assert (result.registered, result.verdict) == (True, "RED")
    assert gate_result(registry, "r1")["reason"] == "final.val_loss not found in metrics.json"


def test_gerhard_finish_refuses_a_misspelt_metric_and_allow_missing_registers_it(registry: Path, capture: None) -> None:
    with pytest.raises(gerhard.UserError), start(registry) as live:
        live.log_metrics({"val_los": 2.4}, step=0)
        live.finish()  # refused: the with block raises, the run is kept for `gerhard finish`
    before = state(registry)
    done = python_m_gerhard("finish", live.folder)
    assert (done.returncode, done.stderr) == (2, f"gerhard finish: error: finish(): {VAL_LOSS_HINT}\n")
    assert state(registry) == before
    done = python_m_gerhard("finish", live.folder, "--allow-missing")
    assert done.returncode == 0, done.stderr
    assert gate_result(registry, "r1")["reason"] == "final.val_loss not found in metrics.json"


def test_start_run_warns_of_gates_no_run_can_satisfy(
    registry: Path, capture: None, capsys: pytest.CaptureFixture[str]
) -> None:
    set_gate_path(registry, "A", "val_loss_max", "final.val.loss")
    start(registry, "r1")
    assert capsys.readouterr().err == (
        "gerhard: phase A's gates read val.loss (metrics.json final): log them under these names, or map yours "
        "with metric_aliases\n"
        "gerhard: WARNING: phase A gate val_loss_max reads final.val.loss, which no run can log (final metrics are "
        "flat: a metric name has no '.'): fix its path in state/program.yaml\n"
    )
    set_gate_path(registry, "A", "val_loss_max", "final.eval_loss")
    start(registry, "r2", metric_aliases={"eval_loss": "val_loss"})
    assert capsys.readouterr().err == (
        "gerhard: phase A's gates read eval_loss (metrics.json final): log them under these names, or map yours "
        "with metric_aliases\n"
        "gerhard: WARNING: phase A gate val_loss_max reads final.eval_loss, but metric_aliases renames eval_loss to "
        "val_loss as it is logged: the gate never sees it; make the gate read final.val_loss, or drop that alias\n"
    )


def test_a_close_name_logged_beside_the_gated_one_is_not_a_typo(
    registry: Path, capture: None, capsys: pytest.CaptureFixture[str]
) -> None:
    live = start(registry)
    live.log_metrics({"val_loss": 2.4, "val_loss_ema": 2.5}, step=0)
    live.log_final({"Val_Loss": 2.0})  # logged after val_loss: nothing to warn of
    assert "WARNING" not in capsys.readouterr().err
    assert live.finish().verdict == "GREEN"


# -- gerhard check ------------------------------------------------------------------------------------------------


def test_check_warns_of_a_gate_no_run_of_its_phase_has_logged(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_ok(capsys, registry, "r1", "A", bundle(tmp_path, "r1"))
    done = run(capsys, "check", "--repo", registry)
    assert (done.rc, done.err) == (0, "")  # phases B and C have no run: nothing said of them

    set_gate_path(registry, "A", "val_loss_max", "final.val_lss")
    done = run(capsys, "check", "--repo", registry)
    warning = (
        "warning: phase A gate val_loss_max reads final.val_lss, which no run of phase A has logged; its latest run "
        "r1 logged final.val_loss: did you mean it?"
    )
    assert (done.rc, done.err) == (0, warning + "\n")  # a warning: the check passes
    assert "every run as registered" in done.out
    done = run(capsys, "check", "--repo", registry, "--json")
    assert (done.rc, json.loads(done.out)["warnings"]) == (0, [warning])

    set_gate_path(registry, "A", "val_loss_max", "final.energy")  # nothing close
    done = run(capsys, "check", "--repo", registry)
    assert done.err == (
        "warning: phase A gate val_loss_max reads final.energy, which no run of phase A has logged: check the "
        "gate's path in state/program.yaml\n"
    )


def test_check_finds_a_gate_an_earlier_run_logged(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The latest run did not log it, an earlier one did (git grep finds its record): not a typo of the program."""
    register_ok(capsys, registry, "r1", "A", bundle(tmp_path, "r1", rename={"val_loss": "val_acc"}))
    register_ok(capsys, registry, "r2", "A", bundle(tmp_path, "r2", rename={"val_loss": "val_accuracy"}))
    set_gate_path(registry, "A", "val_loss_max", "final.val_acc")
    done = run(capsys, "check", "--repo", registry)
    assert (done.rc, done.err) == (0, "")


def test_check_warns_of_a_gate_on_another_artifact(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_ok(capsys, registry, "a1", "A", bundle(tmp_path, "a1"))
    register_ok(capsys, registry, "b1", "B", EXAMPLES / "phase_b_green")
    set_gate_path(registry, "B", "spike_rate_band", "spike_rate.maen")  # no record read that path: the archive
    done = run(capsys, "check", "--repo", registry)
    assert (done.rc, done.err) == (
        0,
        "warning: phase B gate spike_rate_band reads spike_rate.maen in v15_spikingbrain.json, which no run of "
        "phase B has logged; its latest run b1 logged spike_rate.mean in v15_spikingbrain.json: did you mean it?\n",
    )
