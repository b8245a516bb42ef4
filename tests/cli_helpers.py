"""Helpers for the end-to-end tests: drive `gerhard.cli.main` as a user would, read git back."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from ruamel.yaml import YAML

from gerhard import cli


class Result(NamedTuple):
    rc: int
    out: str
    err: str


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> Result:
    """`gerhard ARGV...` in this process; argparse's SystemExit becomes an exit code like the shell sees."""
    capsys.readouterr()  # drop whatever earlier steps printed
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    captured = capsys.readouterr()
    return Result(rc, captured.out, captured.err)


def register(
    capsys: pytest.CaptureFixture[str], repo: Path, run_id: str, phase: str, source: Path, *extra: str
) -> Result:
    return run(capsys, "register", "--repo", repo, "--run-id", run_id, "--phase", phase, "--source-dir", source, *extra)


def register_ok(
    capsys: pytest.CaptureFixture[str], repo: Path, run_id: str, phase: str, source: Path, *more: str
) -> Result:
    """A registration that must land. The example bundles are few, so one may stand for several runs: the
    duplicate-bundle refusal (tested on its own) is waived here."""
    result = register(
        capsys,
        repo,
        run_id,
        phase,
        source,
        "--summary",
        f"{run_id} summary",
        "--next-action",
        "go on",
        "--allow-duplicate",
        *more,
    )
    assert result.rc == 0, result.err
    return result


def python_m_gerhard(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m gerhard ARGV...` as a separate process (real exit code, real stderr)."""
    return subprocess.run([sys.executable, "-m", "gerhard", *map(str, argv)], cwd=cwd, capture_output=True, text=True)


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A printed command run as the user would paste it, with this interpreter as `python` and `python3`."""
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True)


def commit(repo: Path, *paths: str, message: str = "by hand") -> subprocess.CompletedProcess[str]:
    """`git add -A -- PATHS` (when given), then `git commit`: the repository's hooks run with this gerhard."""
    if paths:
        git_out(repo, "add", "-A", "--", *paths)
    env = dict(os.environ, GERHARD_PYTHON=sys.executable)
    return subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, env=env, capture_output=True, text=True)


def rejected(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines of a commit the pre-commit hook refused."""
    assert done.returncode == 1, done.stderr
    return done.stderr.splitlines()


def git_out(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


# The user's own work in a registry (add_users_work): each file's content, and `git status --porcelain`.
USERS_WORK = {"user.txt": "edited, not staged\n", "staged.txt": "staged\n", "notes.txt": "untracked\n"}
USERS_STATUS = ["A  staged.txt", " M user.txt", "?? notes.txt"]


def add_users_work(repo: Path) -> None:
    """USERS_WORK: user.txt committed ("committed\n") then edited unstaged, staged.txt staged, notes.txt untracked."""
    (repo / "user.txt").write_text("committed\n")
    git_out(repo, "add", "user.txt")
    git_out(repo, "commit", "-q", "-m", "the user's file")
    for name, text in USERS_WORK.items():
        (repo / name).write_text(text)
    git_out(repo, "add", "staged.txt")


def assert_users_work(repo: Path) -> None:
    """The files of add_users_work hold what it wrote."""
    assert {name: (repo / name).read_text() for name in USERS_WORK} == USERS_WORK


def head_sha(repo: Path) -> str:
    return git_out(repo, "rev-parse", "HEAD").strip()


# A registration commit's trailers, in order (written out here, not read from the package).
TRAILER_KEYS = [
    "Gerhard-Run-Id",
    "Gerhard-Phase",
    "Gerhard-Verdict",
    "Gerhard-Code-SHA",
    "Gerhard-Code-Dirty",
    "Gerhard-Config-SHA256",
    "Gerhard-Bundle-SHA256",
]


def trailer(repo: Path, key: str, rev: str = "HEAD") -> str:
    return git_out(repo, "log", "-1", f"--format=%(trailers:key={key},valueonly)", rev).strip()


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def load_json(text: str) -> Any:
    return json.loads(text)


def assert_one_line_error(result: Result, *words: str, rc: int = 2) -> None:
    """The user-error contract: exit code, exactly one line on stderr naming the problem, no traceback."""
    assert result.rc == rc, (result.rc, result.err)
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    assert "internal error" not in result.err
    for word in words:
        assert word in lines[0], (word, lines[0])


def snapshot_tree(top: Path, skip: str = "registry") -> dict[str, str]:
    """Every entry under top (but top/skip, which `snapshot` covers): file hashes, link targets, kinds."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        if here == top and skip in dirnames:
            dirnames.remove(skip)
        for name in dirnames + filenames:
            path = here / name
            st = path.lstat()
            rel = str(path.relative_to(top))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = "link " + os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                out[rel] = stat.filemode(st.st_mode)
    return out


def copy_run_by_hand(repo: Path, source: str, run_id: str, seq: int) -> None:
    """A registered run's archive and record copied under another id by hand, its MANIFEST and record made
    to name it: a run no registration wrote."""
    shutil.copytree(repo / "outputs" / source, repo / "outputs" / run_id)
    manifest = repo / "outputs" / run_id / "MANIFEST"
    manifest.write_text(manifest.read_text().replace(source, run_id))
    record = (repo / "state" / "runs" / f"{source}.yaml").read_text().replace(source, run_id)
    record = "\n".join(f"seq: {seq}" if line.startswith("seq: ") else line for line in record.split("\n"))
    (repo / "state" / "runs" / f"{run_id}.yaml").write_text(record)
