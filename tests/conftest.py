"""Shared fixtures: a real temporary git repository scaffolded as a registry, and sample bundles."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


# A fixture wider than a test (its set-up made once for many tests) in a test file.
WIDER_FIXTURE = re.compile(r"""@pytest\.fixture\([^)]*scope=["'](module|class|package)["']""")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """make test (pytest -n auto): each test goes to whichever worker is free, except that the tests of
    a file with a module- or class-scoped fixture stay on one worker, so that its set-up (a notebook
    run, an S3 server, Chromium) is made once. (xdist's --dist loadgroup would do this with marks, but
    with pytest 9 its group names do not reach the node ids, so it groups nothing.)"""
    if config.getvalue("dist") != "load":
        return None  # --dist loadfile, loadscope, ... asked for by name
    from xdist.scheduler import LoadScopeScheduling

    shared = {
        path.relative_to(config.rootpath).as_posix()
        for path in Path(__file__).parent.glob("test_*.py")
        if WIDER_FIXTURE.search(path.read_text(encoding="utf-8"))
    }

    class SharedSetUpsOnOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in shared else nodeid

    return SharedSetUpsOnOneWorker(config, log)


def isolate_git(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_INDEX_FILE", raising=False)
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test Researcher")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "researcher@example.com")


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never depend on the machine's git config."""
    isolate_git(monkeypatch, tmp_path_factory.mktemp("home"))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def registry_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`git init` + `gerhard init` + commit, made once per session (per xdist worker): copying it is
    four times cheaper than making it, and hundreds of tests start from it."""
    from gerhard.cli.commands.init import scaffold

    repo = tmp_path_factory.mktemp("registry-template") / "registry"
    repo.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        isolate_git(mp, tmp_path_factory.mktemp("home"))
        git(repo, "init", "-q", "-b", "main")
        scaffold(repo, example=True)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "gerhard init")
    return repo


def copy_registry(template: Path, repo: Path) -> Path:
    """A fresh copy of a template registry at repo, in place of what is there."""
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(template, repo, symlinks=True)
    # The copies have new inodes and ctimes: refresh the index now, so that no command under test
    # rewrites it (snapshot() compares the index byte for byte).
    git(repo, "update-index", "-q", "--refresh")
    return repo


@pytest.fixture
def registry(registry_template: Path, tmp_path: Path) -> Path:
    """A git repo with `gerhard init` run and committed (a fresh copy of the session's template)."""
    return copy_registry(registry_template, tmp_path / "registry")


RUN_A, RUN_B = "20261101T100000Z_dense", "20261101T120000Z_v15"
# The phase B gates of the example program (gerhard init --example's state/program.yaml), in order.
PHASE_B_GATES = [
    "val_loss_max",
    "eval_pass_rate_min",
    "spike_rate_band",
    "energy_ratio_advisory",
    "clean_execution_order",
    "val_loss_vs_best_green",
]
Runs = tuple[tuple[str, str, str], ...]  # (run id, phase, example bundle), registered in this order


@pytest.fixture(scope="session")
def registered_template(registry_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """template(*runs): the template registry with runs registered from the examples' bundles, as
    cli_helpers.register_ok registers them; made once per session for each list of runs."""
    made: dict[Runs, Path] = {}

    def template(*runs: tuple[str, str, str]) -> Path:
        if runs not in made:
            made[runs] = register_examples(registry_template, tmp_path_factory.mktemp("registered"), runs)
        return made[runs]

    return template


def register_examples(template: Path, top: Path, runs: Runs) -> Path:
    from gerhard import cli

    repo = copy_registry(template, top / "registry")
    with pytest.MonkeyPatch.context() as mp:
        isolate_git(mp, top / "home")
        for run_id, phase, example in runs:
            source = copy_example(example, top / run_id)
            argv = ["register", "--repo", str(repo), "--run-id", run_id, "--phase", phase, "--source-dir", str(source)]
            said = io.StringIO()
            with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
                rc = cli.main([*argv, "--summary", f"{run_id} summary", "--next-action", "go on"])
            assert rc == 0, said.getvalue()
    return repo


@pytest.fixture(scope="session")
def history_template(registry_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """history_helpers.build_history (five runs, two decisions, at fixed dates) on a copy of the template
    registry, once per session; the `history` fixtures copy it (history_helpers.copy_history)."""
    from history_helpers import build_history

    top = tmp_path_factory.mktemp("history")
    repo = copy_registry(registry_template, top / "registry")
    said = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        isolate_git(mp, tmp_path_factory.mktemp("home"))
        return build_history(QuietCapture(), mp, repo, top)  # type: ignore[arg-type]


class QuietCapture:
    """capsys for a set-up wider than one test: cli_helpers.run reads nothing from it."""

    def readouterr(self) -> SimpleNamespace:
        return SimpleNamespace(out="", err="")


@pytest.fixture
def registered_ab(registry: Path, registered_template: Callable[..., Path]) -> Path:
    """`registry` with RUN_A (phase A, GREEN) and RUN_B (phase B, RED) registered: a fresh copy of
    the session's, for the test files whose every test starts from it."""
    runs = ((RUN_A, "A", "phase_a_green"), (RUN_B, "B", "phase_b_red"))
    return copy_registry(registered_template(*runs), registry)


def copy_example(name: str, dest: Path) -> Path:
    shutil.copytree(EXAMPLES / name, dest)
    return dest


@pytest.fixture
def bundle_a(tmp_path: Path) -> Path:
    return copy_example("phase_a_green", tmp_path / "bundle_a")


@pytest.fixture
def bundle_b_green(tmp_path: Path) -> Path:
    return copy_example("phase_b_green", tmp_path / "bundle_b_green")


@pytest.fixture
def bundle_b_red(tmp_path: Path) -> Path:
    return copy_example("phase_b_red", tmp_path / "bundle_b_red")


def walk(top: Path, skip: tuple[str, ...] = (".git",)) -> list[Path]:
    """Every path under top, but in folders named in skip. A registration run in this process deletes
    its finished journal in a background thread (.git/gerhard-trash/): what vanishes is not an error."""
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in skip]
        found += [Path(dirpath, name) for name in dirnames + filenames]
    return sorted(found)


def leftovers(repo: Path) -> list[str]:
    """What an ended registration must never leave: its journal, git's index lock, temporary files."""
    found = [p for p in ("gerhard-txn", "index.lock") if (repo / ".git" / p).exists()]
    return found + [str(p) for p in walk(repo, skip=("gerhard-trash",)) if p.name.endswith(".gerhard-tmp")]


def snapshot(repo: Path) -> dict[str, object]:
    """Everything a failed command must leave unchanged: HEAD, index, and every work-tree file."""
    files = {}
    for path in walk(repo):
        if path.is_file() or path.is_symlink():
            files[str(path.relative_to(repo))] = path.read_bytes() if path.is_file() else b"->link"
        else:
            files[str(path.relative_to(repo)) + "/"] = b""
    head = subprocess.run(
        ["git", "rev-parse", "-q", "--verify", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout
    index = (repo / ".git" / "index").read_bytes() if (repo / ".git" / "index").exists() else b""
    refs = git(repo, "for-each-ref")
    return {"head": head, "index": index, "refs": refs, "files": files}
