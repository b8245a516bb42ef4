"""Shared fixtures: a real temporary git repository scaffolded as a registry, and sample bundles."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never depend on the machine's git config."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_INDEX_FILE", raising=False)
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test Researcher")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "researcher@example.com")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    """A git repo with `gerhard init` run and committed."""
    from gerhard.cli.commands.init import scaffold

    repo = tmp_path / "registry"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    scaffold(repo, example=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "gerhard init")
    return repo


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


def snapshot(repo: Path) -> dict[str, object]:
    """Everything a failed command must leave unchanged: HEAD, index, and every work-tree file."""
    files = {}
    for path in sorted(repo.rglob("*")):
        if ".git" in path.relative_to(repo).parts:
            continue
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
