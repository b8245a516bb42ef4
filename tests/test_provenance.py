"""gerhard.capture.provenance and the provenance.json a run carries: the code's commit and dirty flag (with the diff
itself), Python, torch, packages, host, runtime kind, times, and the notebook's execution order.

Runs are made with the capture API from inside real temporary git repositories; the notebook checks
run an IPython shell in a separate process, its cells executed with their history, as a kernel does.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from integration_helpers import isolated_run_state

import gerhard
from gerhard.capture.run import Run, provenance

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "provenance.schema.json"
RUN = "20261101T120000Z_v15"
RUNTIME_VARIABLES = ("COLAB_RELEASE_TAG", "COLAB_GPU", "KAGGLE_KERNEL_RUN_TYPE", "RUNPOD_POD_ID")
TIME = "%Y-%m-%dT%H:%M:%SZ"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No registry or git repository around the working directory unless a test makes one; no runtime
    variables; torch's determinism switch put back afterwards."""
    variables = (
        "GERHARD_REPO",
        "GERHARD_OUTPUT_ROOT",
        "GERHARD_NOTEBOOK",
        "JPY_SESSION_NAME",
        "CUBLAS_WORKSPACE_CONFIG",
    )
    yield from isolated_run_state(tmp_path, monkeypatch, (*variables, *RUNTIME_VARIABLES))


@pytest.fixture
def code_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A research repository with committed code; the working directory, as when a notebook runs from it."""
    repo = tmp_path / "code"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("lr = 0.1\nsteps = 100\n")
    (repo / "README.md").write_text("# research\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "code")
    monkeypatch.chdir(repo)
    return repo


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def finished_run(output_root: Path, registry: Path | None = None, **kw: Any) -> Run:
    """A small phase-A run, finished; in the registry when given, else in output_root."""
    where = {"repo_root": registry} if registry else {"output_root": output_root}
    run = gerhard.start_run("v15", "A", {"lr": 0.1}, 1234, run_id=RUN, dossier=False, download=False, **where, **kw)
    for step in range(3):
        run.log_metrics({"train_loss": 2.5 - step / 10, "val_loss": 2.4 - step / 10}, step=step)
    run.finish()
    return run


def provenance_of(run: Run) -> dict[str, Any]:
    return json.loads((run.folder / "provenance.json").read_text(encoding="utf-8"))


def gpu() -> tuple[str | None, float | None]:
    """What torch says of the first GPU (none with the CPU torch these tests install)."""
    import torch

    if not torch.cuda.is_available():
        return None, None
    props = torch.cuda.get_device_properties(0)
    return str(props.name), round(props.total_memory / 2**30, 1)


def valid(data: dict[str, Any]) -> bool:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(SCHEMA.read_text()))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == []
    return True


# -- provenance.json of a run ------------------------------------------------------------------------------


def test_provenance_of_a_script_run_from_a_clean_repository(code_repo: Path, tmp_path: Path) -> None:
    import torch

    earliest = datetime.now(timezone.utc).replace(microsecond=0)
    run = finished_run(tmp_path / "runs")
    latest = datetime.now(timezone.utc)
    prov = provenance_of(run)
    assert valid(prov)
    packages = (run.folder / "packages.txt").read_text()
    assert {k: prov[k] for k in ("code_sha", "dirty", "code_root", "diff_file")} == {
        "code_sha": head(code_repo),
        "dirty": False,
        "code_root": str(code_repo),
        "diff_file": None,
    }
    assert not (run.folder / "code.diff").exists()
    assert prov["python"] == platform.python_version()
    assert prov["torch"] == torch.__version__
    assert (prov["cuda"], prov["gpu"], prov["gpu_memory_gb"]) == (torch.version.cuda, *gpu())
    assert (prov["host"], prov["host_kind"]) == (socket.gethostname(), "python")
    assert prov["packages_file"] == "packages.txt"
    assert prov["packages_sha256"] == hashlib.sha256(packages.encode()).hexdigest()
    assert f"torch=={metadata.version('torch')}\n" in packages  # the distribution's version (no +cpu/+cu130)
    assert prov["execution_order_ok"] is True
    assert prov["execution"] == {
        "kind": "script",
        "checked_against": "a Python process runs top to bottom",
        "problems": [],
    }
    assert (prov["seed"], prov["resumed"]) == (1234, False)
    assert isinstance(prov["determinism_notes"], list)
    started = datetime.strptime(prov["started_at"], TIME).replace(tzinfo=timezone.utc)
    ended = datetime.strptime(prov["ended_at"], TIME).replace(tzinfo=timezone.utc)
    assert earliest <= started <= ended <= latest
    assert 0 <= prov["wall_time_s"] <= (latest - earliest).total_seconds() + 1


def test_a_dirty_repository_is_recorded_with_its_diff_in_the_bundle(code_repo: Path, tmp_path: Path) -> None:
    (code_repo / "train.py").write_text("lr = 0.3  # patched in the notebook\nsteps = 100\n")
    (code_repo / "helper.py").write_text("def f(): ...\n")
    run = finished_run(tmp_path / "runs")
    prov = provenance_of(run)
    assert valid(prov)
    assert (prov["code_sha"], prov["dirty"], prov["diff_file"]) == (head(code_repo), True, "code.diff")
    diff = (run.folder / "code.diff").read_text()
    assert "-lr = 0.1\n+lr = 0.3  # patched in the notebook\n" in diff
    assert diff.startswith("diff --git a/train.py b/train.py\n")
    assert diff.endswith("# untracked: helper.py\n")


def test_the_run_folder_inside_the_code_repository_does_not_make_it_dirty(code_repo: Path) -> None:
    run = finished_run(code_repo / "runs")
    assert run.folder == code_repo / "runs" / RUN
    prov = provenance_of(run)
    assert (prov["code_sha"], prov["dirty"], prov["diff_file"]) == (head(code_repo), False, None)


def test_a_run_made_inside_the_registry_registers_in_place_and_is_not_dirty(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (registry / "outputs" / "20261030T000000Z_old").mkdir()  # a bundle that was never registered: data, not code
    (registry / "outputs" / "20261030T000000Z_old" / "seed.txt").write_text("1\n")
    monkeypatch.chdir(registry / "notebooks")  # the registry found from the working directory
    code = head(registry)
    run = gerhard.start_run("v15", "A", {"lr": 0.1}, 1, run_id=RUN, dossier=False, download=False)
    run.log_metrics({"val_loss": 2.0})
    result = run.finish()
    assert result.registered and result.folder == registry / "outputs" / RUN
    prov = provenance_of(run)
    assert (prov["code_sha"], prov["dirty"], prov["code_root"]) == (code, False, str(registry))


def test_outside_git_there_is_no_code_sha(tmp_path: Path) -> None:
    prov = provenance_of(finished_run(tmp_path / "runs"))
    assert valid(prov)
    assert (prov["code_sha"], prov["dirty"], prov["code_root"], prov["diff_file"]) == (None, False, None, None)


# -- code_state --------------------------------------------------------------------------------------------


def test_code_state_of_a_repository_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "model.py").write_text("x = 1\n")
    state = provenance.code_state(repo)
    assert (state.root, state.sha, state.dirty, state.untracked) == (str(repo), None, True, ["model.py"])
    assert state.diff == b"# untracked: model.py\n"


def test_code_state_leaves_out_the_excluded_paths(code_repo: Path) -> None:
    (code_repo / "outputs" / "r1").mkdir(parents=True)
    (code_repo / "outputs" / "r1" / "metrics.json").write_text("{}")
    assert provenance.code_state(code_repo / "outputs", ["outputs"]).dirty is False
    state = provenance.code_state(code_repo / "outputs")
    assert (state.dirty, state.untracked) == (True, ["outputs/r1/metrics.json"])


def test_a_huge_diff_is_cut_and_says_so(code_repo: Path) -> None:
    (code_repo / "train.py").write_text("x = 1\n" * (provenance.MAX_DIFF_BYTES // 6 + 10))
    diff = provenance.code_state(code_repo).diff
    assert diff.endswith(f"\n# cut at {provenance.MAX_DIFF_BYTES} bytes\n".encode())
    assert len(diff) < provenance.MAX_DIFF_BYTES + 100


# -- the runtime and the environment -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "kind"),
    [
        ("COLAB_RELEASE_TAG", "colab"),
        ("COLAB_GPU", "colab"),
        ("KAGGLE_KERNEL_RUN_TYPE", "kaggle"),
        ("RUNPOD_POD_ID", "runpod"),
    ],
)
def test_runtime_kind_is_detected_from_the_environment(
    variable: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert provenance.runtime_kind() == "python"
    monkeypatch.setenv(variable, "1")
    assert provenance.runtime_kind() == kind


def test_environment_is_what_gerhard_env_prints(code_repo: Path) -> None:
    import torch

    env = provenance.environment(code_repo)
    assert env == {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": gpu()[0],
        "gpu_memory_gb": gpu()[1],
        "code_root": str(code_repo),
        "code_sha": head(code_repo),
        "dirty": False,
        "runtime": "python",
        "host": socket.gethostname(),
        "platform": platform.platform(),
    }


def test_package_list_is_sorted_name_version_lines() -> None:
    lines = provenance.package_list().splitlines()
    assert lines == sorted(lines, key=lambda line: line.split("==")[0].lower())
    assert all(line.count("==") == 1 for line in lines)
    assert any(line.startswith("jsonschema==") for line in lines)


# -- the notebook's execution order ------------------------------------------------------------------------

SHELL = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
for cell in json.loads(sys.argv[1]):
    shell.run_cell(cell, store_history=True).raise_error()
"""
CHECK = (
    "import json\nimport gerhard.capture.provenance as p\n"
    "o = p.execution_order()\nprint(json.dumps({'ok': o.ok, **o.as_dict()}))"
)


def run_shell(tmp_path: Path, notebook: list[str], ran: list[int]) -> subprocess.CompletedProcess[str]:
    """Execute the notebook's cells in the order `ran` in one fresh IPython shell (its input history is what a
    kernel keeps), the notebook saved to disk and named by GERHARD_NOTEBOOK."""
    pytest.importorskip("IPython", reason="IPython is not installed (pip install gerhard[notebook])")
    cells = [
        {"cell_type": "code", "source": c, "metadata": {}, "outputs": [], "execution_count": None} for c in notebook
    ]
    path = tmp_path / "experiment.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    env = os.environ | {"GERHARD_NOTEBOOK": str(path), "IPYTHONDIR": str(tmp_path / "ipython")}
    source = json.dumps([notebook[i] for i in ran])
    proc = subprocess.run([sys.executable, "-c", SHELL, source], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def order_seen(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_notebook_with_two_identical_cells_run_top_to_bottom_is_clean(tmp_path: Path) -> None:
    notebook = ["x = 1", "print('checkpoint')", "x += 1", "print('checkpoint')", CHECK]
    assert order_seen(run_shell(tmp_path, notebook, [0, 1, 2, 3, 4])) == {
        "ok": True,
        "kind": "notebook",
        "checked_against": str(tmp_path / "experiment.ipynb"),
        "problems": [],
    }
    assert order_seen(run_shell(tmp_path, notebook, [0, 1, 2, 3, 3, 4]))["problems"] == [
        "cell \"print('checkpoint')\" ran 3 times"
    ]
    assert order_seen(run_shell(tmp_path, notebook, [0, 2, 1, 3, 4]))["problems"] == [
        "cell 3 ran before cell 2",
        "cell 2 ran after cell 3",
    ]


def test_a_run_started_in_an_unclean_kernel_stays_unclean_when_a_later_session_finishes_it(
    registry: Path, tmp_path: Path
) -> None:
    start = (
        "import gerhard\n"
        f"run = gerhard.start_run('v15', 'A', {{'lr': 0.1}}, 1, run_id={RUN!r}, repo_root={str(registry)!r}, "
        "dossier=False, download=False)\n"
        "run.log_metrics({'val_loss': 2.0})\n"
        "run.fail(RuntimeError('the runtime is going away'))"
    )
    notebook = ["x = 1", start]
    proc = run_shell(tmp_path, notebook, [0, 0, 1])  # the first cell ran twice before the run started
    assert "ran 2 times" in proc.stderr
    resumed = gerhard.resume_run(registry / "outputs" / RUN, dossier=False, download=False)
    result = resumed.finish()  # in this plain Python process, which by itself would count as clean
    prov = provenance_of(resumed)
    assert prov["execution_order_ok"] is False
    assert prov["execution"]["problems"] == ["cell 'x = 1' ran 2 times"]
    assert result.registered
