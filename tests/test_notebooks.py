"""The notebooks in notebooks/: stored clean (no outputs, one config cell on top), and executed top to bottom
under nbclient in a real ipykernel (this interpreter, torch on CPU) against temporary registries, paths
injected through the environment. The assertions are on the registries afterwards."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXPERIMENT = "v15_spiking_experiment.ipynb"
COLAB, RUNPOD = "colab_runner.ipynb", "runpod_runner.ipynb"
CONFIG_NAMES = {
    EXPERIMENT: {"RUN_NAME", "SEED", "STEPS", "FAIL_GATE", "REPO_ROOT", "DEVICE"},
    COLAB: {"RUN_NAME", "DEVICE", "REPO_URL", "DRIVE_ROOT", "WORK_DIR", "EXPERIMENT", "SKIP_INSTALL"},
    RUNPOD: {"RUN_NAME", "DEVICE", "REPO_URL", "WORKSPACE", "REMOTE", "EXPERIMENT", "SKIP_INSTALL"},
}
PHASE_A_RUN = "20261101T100000Z_dense_baseline"  # registered first, so that phase B is open
PHASE_B_FILES = {
    "metrics.json",
    "eval_suite.json",
    "config.yaml",
    "seed.txt",
    "provenance.json",
    "v15_spikingbrain.json",
}
IDENTITY = {"GIT_AUTHOR_NAME": "Test Researcher", "GIT_AUTHOR_EMAIL": "researcher@example.com"}
IDENTITY |= {"GIT_COMMITTER_NAME": "Test Researcher", "GIT_COMMITTER_EMAIL": "researcher@example.com"}

MISSING = [m for m in ("torch", "nbclient", "nbformat", "ipykernel") if importlib.util.find_spec(m) is None]
HOW = "pip install -e '.[torch]' nbclient ipykernel"
needs_kernel = pytest.mark.skipif(bool(MISSING), reason=f"executing notebooks needs {', '.join(MISSING)} ({HOW})")


def code_cells(name: str) -> list[dict[str, Any]]:
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell: dict[str, Any]) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def assigned_upper_names(code: str) -> set[str]:
    """Module-level ALL_CAPS names a cell assigns: what counts as configuration."""
    names = set()
    for node in ast.parse(code).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for t in targets:
            if isinstance(t, ast.Name) and t.id.isupper():
                names.add(t.id)
    return names


# -- stored clean ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIG_NAMES))
def test_notebook_is_stored_without_outputs_or_execution_counts(name: str) -> None:
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{name}: a code cell has stored outputs: clear them before committing"
            assert cell["execution_count"] is None, f"{name}: a code cell has an execution count"
            assert "execution" not in cell["metadata"], f"{name}: a code cell keeps its execution timings"
        assert not cell.get("attachments"), f"{name}: a cell has attachments"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert "widgets" not in nb["metadata"]
    if importlib.util.find_spec("nbformat"):
        import nbformat

        nbformat.validate(nbformat.read(NOTEBOOKS / name, as_version=4))


@pytest.mark.parametrize("name", sorted(CONFIG_NAMES))
def test_notebook_has_exactly_one_config_cell_at_the_top(name: str) -> None:
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    tagged = [i for i, c in enumerate(nb["cells"]) if "parameters" in c.get("metadata", {}).get("tags", [])]
    first_code = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    assert tagged == [first_code], f"{name}: the first code cell, and only it, is the config cell"
    config, *rest = code_cells(name)
    assert assigned_upper_names(source(config)) == CONFIG_NAMES[name]
    for cell in rest:
        assert not assigned_upper_names(source(cell)) - {"E_MAC", "E_AC"}, (
            f"{name}: configuration assigned outside the config cell: {source(cell)[:80]!r}"
        )
    # Every value can come from the environment, so tests, demos and runners need no edited copy.
    for line in source(config).splitlines():
        if line.split("=")[0].strip() in CONFIG_NAMES[name]:
            assert "os.environ.get(" in line, f"{name}: {line!r} cannot be set from the environment"


@pytest.mark.parametrize("name", sorted(CONFIG_NAMES))
def test_notebook_cells_are_plain_python(name: str) -> None:
    """No magics or shell escapes: a cell runs the same in Colab, Jupyter, VS Code and nbclient."""
    for cell in code_cells(name):
        ast.parse(source(cell))


# -- executing them ----------------------------------------------------------------------------------------


def sh(*args: str | Path, cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def gerhard(*args: str | Path, cwd: Path, env: dict[str, str]) -> str:
    return sh(sys.executable, "-m", "gerhard", *args, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The environment every kernel (and the runners' nested kernels) gets: a kernelspec `python3` that runs
    this very interpreter (first on JUPYTER_PATH), an isolated HOME, a fixed git identity."""
    base = tmp_path_factory.mktemp("kernels")
    spec = base / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "gerhard tests", "language": "python"}))
    (base / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GERHARD_", "GIT_", "JPY_", "JUPYTER_"))}
    env |= IDENTITY | {
        "HOME": str(base / "home"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "JUPYTER_PATH": str(base / "jupyter"),
        "MPLCONFIGDIR": str(base / "mpl"),
        "PYTHONHASHSEED": "0",
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", env["JUPYTER_PATH"])  # where this process's nbclient finds the kernelspec
        yield env


def execute(path: Path, env: dict[str, str], cwd: Path, **overrides: str | Path) -> SimpleNamespace:
    """Run the notebook top to bottom in a fresh kernel; GERHARD_NOTEBOOK names it for the clean-order check."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    kernel = env | {"GERHARD_NOTEBOOK": str(path)} | {k: str(v) for k, v in overrides.items()}
    start = time.monotonic()
    client.execute(env=kernel)
    seconds = time.monotonic() - start
    print(f"\n{path.name} ({overrides.get('GERHARD_RUN_NAME', '')}) ran in {seconds:.1f} s under nbclient")
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    return SimpleNamespace(nb=nb, seconds=seconds, text=text)


def make_research_repo(repo: Path, env: dict[str, str]) -> Path:
    """A research repository as a team would have it: `gerhard init`, the experiment notebook committed,
    phase A passed (so phase B is the open phase)."""
    repo.mkdir(parents=True)
    sh("git", "init", "-q", "-b", "main", cwd=repo, env=env)
    gerhard("init", "--example", cwd=repo, env=env)
    shutil.copy2(NOTEBOOKS / EXPERIMENT, repo / "notebooks" / EXPERIMENT)
    sh("git", "add", "-A", cwd=repo, env=env)
    sh("git", "commit", "-q", "-m", "gerhard init, the v15 experiment notebook", cwd=repo, env=env)
    gerhard(
        "register", "--run-id", PHASE_A_RUN, "--phase", "A", "--source-dir", ROOT / "examples" / "phase_a_green",
        cwd=repo, env=env,
    )  # fmt: skip
    return repo


def run_ids(repo: Path, name: str) -> list[str]:
    return sorted(p.stem for p in (repo / "state" / "runs").glob(f"*_{name}.yaml"))


def record(repo: Path, run_id: str) -> dict[str, Any]:
    from gerhard.formats.yamlio import load_plain_yaml

    path = repo / "state" / "runs" / f"{run_id}.yaml"
    return load_plain_yaml(path.read_text(encoding="utf-8"), str(path))


def bundle_json(repo: Path, run_id: str, name: str) -> Any:
    return json.loads((repo / "outputs" / run_id / name).read_text(encoding="utf-8"))


def commit_of(repo: Path, run_id: str, env: dict[str, str]) -> str:
    """The registration commit of a run (its Gerhard-Run-Id trailer)."""
    out = sh("git", "log", "--format=%H", f"--grep=Gerhard-Run-Id: {run_id}", cwd=repo, env=env).split()
    assert len(out) == 1, f"one registration commit for {run_id}, found {out}"
    return out[0]


@pytest.fixture(scope="module")
def lab(kernel_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One research repo; the experiment run GREEN (registry from $GERHARD_REPO) and with FAIL_GATE (registry
    found around the notebook, no $GERHARD_REPO)."""
    repo = make_research_repo(tmp_path_factory.mktemp("lab") / "research", kernel_env)
    notebook = repo / "notebooks" / EXPERIMENT
    before_green = sh("git", "rev-parse", "HEAD", cwd=repo, env=kernel_env).strip()
    green = execute(notebook, kernel_env, notebook.parent, GERHARD_REPO=repo, GERHARD_RUN_NAME="v15_green")
    red = execute(notebook, kernel_env, notebook.parent, GERHARD_RUN_NAME="v15_fail", GERHARD_FAIL_GATE="1")
    (green_id,), (red_id,) = run_ids(repo, "v15_green"), run_ids(repo, "v15_fail")
    return SimpleNamespace(repo=repo, env=kernel_env, green=green, red=red, green_id=green_id, red_id=red_id,
                           before_green=before_green)  # fmt: skip


@needs_kernel
def test_experiment_default_config_registers_a_green_run(lab: SimpleNamespace) -> None:
    rec = record(lab.repo, lab.green_id)
    assert (rec["phase"], rec["verdict"]) == ("B", "GREEN")
    assert all(g["passed"] for g in rec["gates"]), rec["gates"]
    assert {"val_loss_max", "eval_pass_rate_min", "spike_rate_band"} <= {g["id"] for g in rec["gates"]}
    assert "verdict    GREEN" in lab.green.text
    folder = lab.repo / "outputs" / lab.green_id
    assert PHASE_B_FILES | {"MANIFEST", f"run_dossier_{lab.green_id}.html"} <= {p.name for p in folder.iterdir()}
    commit = commit_of(lab.repo, lab.green_id, lab.env)
    message = sh("git", "log", "-1", "--format=%B", commit, cwd=lab.repo, env=lab.env)
    assert message.startswith(f"register {lab.green_id} (phase B): GREEN")
    assert "Gerhard-Verdict: GREEN" in message
    assert sh("git", "rev-parse", f"{commit}^", cwd=lab.repo, env=lab.env).strip() == lab.before_green


@needs_kernel
def test_experiment_bundle_holds_real_measurements(lab: SimpleNamespace) -> None:
    metrics = bundle_json(lab.repo, lab.green_id, "metrics.json")
    assert metrics["final"]["val_loss"] <= 2.9
    steps = [row["step"] for row in metrics["history"]]
    assert steps == list(range(len(steps))) and len(steps) == 400
    assert all({"train_loss", "lr", "spike_rate"} <= set(row) for row in metrics["history"])
    val = [row["val_loss"] for row in metrics["history"] if "val_loss" in row]
    assert val[-1] == metrics["final"]["val_loss"] < val[0] - 1.0  # it learned
    suite = bundle_json(lab.repo, lab.green_id, "eval_suite.json")
    assert len(suite["tasks"]) == 5 and suite["pass_rate"] >= 0.8
    assert all(t["passed"] == (t["score"] >= t["threshold"]) for t in suite["tasks"])
    brain = bundle_json(lab.repo, lab.green_id, "v15_spikingbrain.json")
    rates = [layer["spike_rate"] for layer in brain["layers"]]
    assert [layer["name"] for layer in brain["layers"]] == ["lif1", "lif2"]
    spike = brain["spike_rate"]
    assert (spike["min"], spike["max"]) == (min(rates), max(rates))
    assert spike["min"] <= spike["mean"] <= spike["max"] and 0.05 <= spike["mean"] <= 0.25
    assert 0 < brain["energy_ratio"] <= 0.5
    prov = bundle_json(lab.repo, lab.green_id, "provenance.json")
    assert prov["execution_order_ok"] is True, prov.get("execution")
    assert (prov["code_sha"], prov["dirty"]) == (lab.before_green, False)
    assert prov["torch"].startswith("2.13.0") and prov["host_kind"] == "jupyter"


@needs_kernel
def test_experiment_dossier_verifies_against_the_archive(lab: SimpleNamespace) -> None:
    from gerhard.dossier.codec import read_dossier

    folder = lab.repo / "outputs" / lab.green_id
    embedded, _ = read_dossier(folder / f"run_dossier_{lab.green_id}.html")  # checks every sha256 and the bundle's
    assert (embedded.run_id, embedded.phase) == (lab.green_id, "B")
    assert {f.path for f in embedded.files} >= PHASE_B_FILES
    for f in embedded.files:
        assert hashlib.sha256((folder / f.path).read_bytes()).hexdigest() == f.sha256, f.path
    # The downloaded dossier alone registers the same run: a no-op, since it is registered already.
    head = sh("git", "rev-parse", "HEAD", cwd=lab.repo, env=lab.env)
    gerhard("register", "--dossier", folder / f"run_dossier_{lab.green_id}.html", cwd=lab.repo, env=lab.env)
    assert sh("git", "rev-parse", "HEAD", cwd=lab.repo, env=lab.env) == head


@needs_kernel
def test_experiment_fail_gate_registers_a_red_run_with_needs_input(lab: SimpleNamespace) -> None:
    rec = record(lab.repo, lab.red_id)
    assert (rec["phase"], rec["verdict"]) == ("B", "RED")
    failed = {g["id"] for g in rec["gates"] if not g["passed"] and g["severity"] == "blocking"}
    assert {"spike_rate_band", "val_loss_max", "eval_pass_rate_min"} <= failed
    brain = bundle_json(lab.repo, lab.red_id, "v15_spikingbrain.json")
    assert brain["spike_rate"]["mean"] < 0.05  # the layers went silent, for real
    assert all(layer["threshold"] == 1000.0 for layer in brain["layers"])
    assert bundle_json(lab.repo, lab.red_id, "metrics.json")["final"]["val_loss"] > 2.9
    assert (lab.repo / "state" / "needs_input" / f"{lab.red_id}.yaml").is_file()
    assert "verdict    RED" in lab.red.text
    assert "Gerhard-Verdict: RED" in sh("git", "log", "-1", "--format=%B", cwd=lab.repo, env=lab.env)


@needs_kernel
def test_experiment_same_seed_same_numbers_without_a_registry(lab: SimpleNamespace, tmp_path: Path) -> None:
    """No registry at hand: the bundle lands in $GERHARD_OUTPUT_ROOT, is not registered, and the command to
    register it later is printed; its numbers equal the registered GREEN run's (same seed, same config)."""
    out = tmp_path / "runs"
    alone = execute(NOTEBOOKS / EXPERIMENT, lab.env, tmp_path, GERHARD_OUTPUT_ROOT=out, GERHARD_RUN_NAME="v15_green")
    (folder,) = out.iterdir()
    assert "(not registered)" in alone.text and "python -m gerhard register" in alone.text
    for name in ("metrics.json", "eval_suite.json", "v15_spikingbrain.json", "config.yaml", "seed.txt"):
        assert (folder / name).read_bytes() == (lab.repo / "outputs" / lab.green_id / name).read_bytes(), name


# -- the runners -------------------------------------------------------------------------------------------


def assert_pushed(remote: Path, clone: Path, run_id: str) -> None:
    """The remote holds the run's folder: every file of outputs/<run_id>/ (the MANIFEST's and the dossier),
    byte for byte, and the MANIFEST's hashes hold there."""
    folder = clone / "outputs" / run_id
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert {"MANIFEST", f"run_dossier_{run_id}.html"} | PHASE_B_FILES <= set(files)
    for rel in files:
        assert (remote / run_id / rel).read_bytes() == (folder / rel).read_bytes(), rel
    for f in json.loads((folder / "MANIFEST").read_text(encoding="utf-8"))["files"]:
        data = (remote / run_id / f["path"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (f["size"], f["sha256"]), f["path"]


@needs_kernel
def test_colab_runner_clones_runs_registers_and_pushes_to_drive(kernel_env: dict[str, str], tmp_path: Path) -> None:
    origin = make_research_repo(tmp_path / "origin", kernel_env)
    origin_head = sh("git", "rev-parse", "HEAD", cwd=origin, env=kernel_env)
    content, drive = tmp_path / "content", tmp_path / "drive"
    ran = execute(
        NOTEBOOKS / COLAB, kernel_env, tmp_path,
        GERHARD_RUN_NAME="v15_colab", GERHARD_DEVICE="cpu", GERHARD_REPO_URL=origin, GERHARD_DRIVE_ROOT=drive,
        GERHARD_WORK_DIR=content, GERHARD_SKIP_INSTALL="1",
    )  # fmt: skip
    clone = content / "origin"
    (run_id,) = run_ids(clone, "v15_colab")
    rec = record(clone, run_id)
    assert (rec["verdict"], rec["artifact_remote"]) == ("GREEN", f"{drive}/artifacts/runs/{run_id}")
    assert bundle_json(clone, run_id, "provenance.json")["execution_order_ok"] is True
    assert_pushed(drive / "artifacts" / "runs", clone, run_id)
    assert (content / "executed" / f"v15_colab_{EXPERIMENT}").is_file()
    assert f"run       {run_id}" in ran.text  # gerhard show latest
    assert "next steps" in ran.text and "git push" in ran.text
    assert sh("git", "rev-parse", "HEAD", cwd=origin, env=kernel_env) == origin_head  # pushing is the researcher's


@needs_kernel
def test_runpod_runner_updates_its_clone_runs_registers_and_pushes(kernel_env: dict[str, str], tmp_path: Path) -> None:
    origin = make_research_repo(tmp_path / "origin", kernel_env)
    workspace, remote = tmp_path / "workspace", tmp_path / "remote"
    workspace.mkdir()
    sh("git", "clone", "-q", origin, workspace / "origin", cwd=workspace, env=kernel_env)  # an earlier session's
    (origin / "NOTES.md").write_text("a commit the pod has not seen yet\n")
    sh("git", "add", "NOTES.md", cwd=origin, env=kernel_env)
    sh("git", "commit", "-q", "-m", "notes", cwd=origin, env=kernel_env)
    execute(
        NOTEBOOKS / RUNPOD, kernel_env, tmp_path,
        GERHARD_RUN_NAME="v15_runpod", GERHARD_DEVICE="cpu", GERHARD_REPO_URL=origin, GERHARD_WORKSPACE=workspace,
        GERHARD_REMOTE=remote, GERHARD_SKIP_INSTALL="1",
    )  # fmt: skip
    clone = workspace / "origin"
    assert (clone / "NOTES.md").is_file()  # pulled before running
    (run_id,) = run_ids(clone, "v15_runpod")
    rec = record(clone, run_id)
    assert (rec["verdict"], rec["artifact_remote"]) == ("GREEN", f"{remote}/{run_id}")
    assert_pushed(remote, clone, run_id)
