"""The RunPod handoff as our users follow it (its commands and its register_run(...) cell, verbatim), run from the
root of a clone of this repository with its scripts/ and from a registry made by `gerhard init --scripts`: each
command does what the handoff says (archive, report, index, status, gate results, needs-input when RED), through
the thin scripts over gerhard (gerhard.cli.handoff)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path

import pytest
from cli_helpers import git_out, load_yaml, run, shell
from conftest import git

from gerhard.cli.commands.init import SCRIPTS
from gerhard.cli.handoff import script_main, script_repo

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# The handoff's commands and cell, as written in it (seeds/runpod_notebook_handoff.md, step 3 and the dossier note).
REGISTER_DOSSIER = "python3 scripts/register_dossier_run.py --dossier <path_to_run_dossier_<run_id>.html> --phase B"
REGISTER_FOLDER = (
    "python3 scripts/register_notebook_run.py --run-id <run_id> --phase B --source-dir <notebook_output_dir>"
)
GENERATE_DOSSIER = "python3 scripts/generate_run_dossier.py --run-dir outputs/<run_id> --phase B"
CELL = """
from pathlib import Path
from scripts.register_notebook_run import register_run

result = register_run(
    run_id="20260223T190000Z_v15",
    phase="B",
    source_dir=Path("/workspace/notebook_outputs/v15_run"),
    repo_root=Path("/workspace/gerhard"),
    summary="v15 notebook pass on RunPod",
    next_action="Proceed to next queued autonomous task if gates are green.",
)
print(result)
"""
CELL_RUN = "20260223T190000Z_v15"


def notebook_output(tmp_path: Path, example: str, name: str, val_loss: float) -> Path:
    """A notebook's output folder: an example bundle, its val_loss set (no two runs share a bundle)."""
    folder = shutil.copytree(EXAMPLES / example, tmp_path / name)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["final"]["val_loss"] = val_loss
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return folder


@pytest.fixture(params=["repository root", "gerhard init --scripts"])
def repo(request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """Where the handoff is followed: a clone of this repository (its registry; its package and scripts as in this
    working tree), or a new registry with the scripts `gerhard init --scripts` wrote and phase A passed."""
    if request.param == "repository root":
        clone = tmp_path / "gerhard"
        git(tmp_path, "clone", "-q", str(ROOT), str(clone))
        # This working tree's package and scripts: from the root, `import gerhard` finds the repository's own.
        for folder in ("gerhard", "scripts"):
            shutil.copytree(
                ROOT / folder, clone / folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
            )
        return clone
    fresh = tmp_path / "registry"
    fresh.mkdir()
    git(fresh, "init", "-q", "-b", "main")
    result = run(capsys, "init", "--scripts", "--example", fresh)
    assert result.rc == 0, result.err
    assert [line for line in result.out.splitlines() if "scripts/" in line] == [
        f"  created scripts/{name}" for name in SCRIPTS
    ]
    assert "git add -A state schemas outputs reports docs notebooks scripts .gitignore" in result.out
    git(fresh, "add", "-A")
    git(fresh, "commit", "-qm", "gerhard init --scripts")
    phase_a = notebook_output(tmp_path, "phase_a_green", "a1", 2.4)
    done = shell(f"python3 scripts/register_notebook_run.py --run-id a1 --phase A --source-dir {phase_a}", fresh)
    assert done.returncode == 0, done.stderr
    return fresh


def registered(repo: Path, run_id: str, verdict: str) -> None:
    """What the handoff says either register command does (its list under step 3)."""
    assert (repo / "outputs" / run_id / "MANIFEST").is_file()  # 1. archived
    record = load_yaml(repo / "state" / "runs" / f"{run_id}.yaml")
    assert (record["phase"], record["verdict"]) == ("B", verdict)
    assert list(repo.glob(f"reports/*/*/{run_id}.md"))  # 2. the report
    assert run_id in (repo / "reports" / "index.md").read_text()  # 3. the index
    assert load_yaml(repo / "state" / "program_status.yaml")["latest_run"] == run_id  # 4. the status
    assert load_yaml(repo / "state" / "gate_results.yaml")["phases"]["B"]["run_id"] == run_id  # 5. gate results
    assert (repo / "state" / "needs_input" / f"{run_id}.yaml").is_file() == (verdict == "RED")  # 6. needs-input
    assert git_out(repo, "log", "-1", "--format=%s").startswith(f"register {run_id} (phase B): {verdict}")


def test_the_handoff_verbatim(repo: Path, tmp_path: Path) -> None:
    # The notebook cell, from the repository root (the cell's two /workspace paths are this test's).
    v15_run = notebook_output(tmp_path, "phase_b_green", "v15_run", 2.7)
    cell = CELL.replace("/workspace/notebook_outputs/v15_run", str(v15_run)).replace("/workspace/gerhard", str(repo))
    done = shell(f"python3 -c {shlex.quote(cell)}", repo)  # a kernel's cwd is on sys.path, as with -c
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"run {CELL_RUN} (phase B): GREEN")
    registered(repo, CELL_RUN, "GREEN")
    assert load_yaml(repo / "state" / "runs" / f"{CELL_RUN}.yaml")["summary"] == "v15 notebook pass on RunPod"

    # The folder command (alternative): a RED run, so its needs-input is emitted.
    red = notebook_output(tmp_path, "phase_b_red", "red_out", 3.4)
    done = shell(
        REGISTER_FOLDER.replace("<run_id>", "20260224T090000Z_v15").replace("<notebook_output_dir>", str(red)), repo
    )
    assert done.returncode == 0, done.stderr
    registered(repo, "20260224T090000Z_v15", "RED")

    # A run that predates dossiers gets one in-repo, where step 4 opens it.
    done = shell(GENERATE_DOSSIER.replace("<run_id>", "20260224T090000Z_v15"), repo)
    dossier = repo / "outputs" / "20260224T090000Z_v15" / "run_dossier_20260224T090000Z_v15.html"
    assert (done.returncode, done.stdout) == (0, f"outputs/20260224T090000Z_v15/{dossier.name}\n"), done.stderr
    assert dossier.is_file()

    # The dossier command (preferred): one downloaded file registers the run, and is archived with it.
    downloaded = notebook_output(tmp_path / "download", "phase_b_green", "20260225T080000Z_v15", 2.69)
    made = shell(f"python3 scripts/generate_run_dossier.py --run-dir {downloaded} --phase B", repo)
    assert made.returncode == 0, made.stderr
    html = downloaded / "run_dossier_20260225T080000Z_v15.html"
    done = shell(REGISTER_DOSSIER.replace("<path_to_run_dossier_<run_id>.html>", str(html)), repo)
    assert done.returncode == 0, done.stderr
    registered(repo, "20260225T080000Z_v15", "GREEN")
    assert (repo / "outputs" / "20260225T080000Z_v15" / html.name).is_file()
    registry_files = ("state", "outputs", "reports", "docs")  # every change committed, but the in-repo dossier
    untracked = f"?? outputs/20260224T090000Z_v15/{dossier.name}\n"
    assert git_out(repo, "status", "--porcelain", "--untracked-files=all", "--", *registry_files) == untracked


def test_a_script_registers_into_its_own_repository_from_anywhere(registry: Path, tmp_path: Path) -> None:
    (registry / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "register_notebook_run.py", registry / "scripts")
    bundle = notebook_output(tmp_path, "phase_a_green", "out", 2.4)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = shell(
        f"python3 {registry}/scripts/register_notebook_run.py --run-id a1 --phase A --source-dir {bundle}", elsewhere
    )
    assert done.returncode == 0, done.stderr
    assert load_yaml(registry / "state" / "runs" / "a1.yaml")["verdict"] == "GREEN"


def test_script_main_reads_repo_root_as_repo(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = notebook_output(tmp_path, "phase_a_green", "out", 2.4)
    script = tmp_path / "other" / "scripts" / "register_notebook_run.py"  # its repository is not a registry
    assert script_repo(script) == tmp_path / "other"
    argv = ["--run-id", "a1", "--phase", "A", "--source-dir", str(bundle), f"--repo-root={registry}", "--json"]
    assert script_main("register", script, argv) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "GREEN"
    with pytest.raises(SystemExit) as exited:  # argparse's own exit, as gerhard's
        script_main("register", script, ["--phase", "A"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "gerhard register: error: one of the arguments --source-dir --dossier is required "
        "(see 'gerhard register --help')\n"
    )


def test_init_scripts_writes_the_scripts_of_this_repository_and_never_overwrites(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (registry / "scripts").mkdir()
    (registry / "scripts" / "generate_run_dossier.py").write_text("# our own\n")
    result = run(capsys, "init", "--scripts", registry)
    assert result.rc == 0, result.err
    assert result.out.splitlines()[1:3] == [
        "  created scripts/register_dossier_run.py",
        "  created scripts/register_notebook_run.py",
    ]
    for name in SCRIPTS[:2]:
        assert (registry / "scripts" / name).read_bytes() == (ROOT / "scripts" / name).read_bytes()
        assert os.access(registry / "scripts" / name, os.X_OK)
    assert (registry / "scripts" / "generate_run_dossier.py").read_text() == "# our own\n"
    again = run(capsys, "init", "--scripts", registry)
    assert again.out == f"{registry} already has the gerhard registry layout; nothing to do\n"
    assert not (registry / "scripts" / "__init__.py").exists()
