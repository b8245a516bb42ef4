"""`gerhard hooks install`, the launcher (hooks/run-gerhard) that finds gerhard each time the hook or the
merge driver runs, and the pre-commit framework. Real repositories, real venvs, real `git commit`,
`git merge` and `pre-commit`, with nothing on PATH but git and what a test puts there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
from cli_helpers import register_ok, run
from conftest import git, snapshot
from ruamel.yaml import YAML

import gerhard
from gerhard.team.mergedriver import PORTABLE_DRIVER

RUN_A = "20261101T100000Z_dense"
RUN_B = "20261101T120000Z_v15"
SOURCE = Path(__file__).resolve().parent.parent
HOOKS = SOURCE / "hooks"
NOT_FOUND = (
    "gerhard: cannot find gerhard (not in this repository's .venv, no python3 -m gerhard or gerhard on PATH, no "
    "pre-commit environment with it): install it in .venv (python3 -m venv .venv && .venv/bin/pip install gerhard) "
    "or set GERHARD_PYTHON to a python that has it\n"
)
TAMPERED = f"outputs/{RUN_A}/seed.txt"  # what gerhard's refusal names (its wording is tests/test_hooks.py's)
# What a person adds to .pre-commit-config.yaml (docs/guide.md): the hook repository, then the two hooks.
PRE_COMMIT_CONFIG = """\
repos:
  - repo: {repo}
    rev: {rev}
    hooks:
      - id: gerhard-bundles
      - id: gerhard-state
"""


@pytest.fixture
def registered(registry: Path, bundle_a: Path, capsys) -> Path:
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    (registry / ".git" / "info" / "exclude").write_text(".venv/\n")
    return registry


@pytest.fixture
def bare_path(tmp_path: Path) -> Path:
    """A folder with git and sh alone: PATH for the tests, so that no python or gerhard of this machine is found."""
    folder = tmp_path / "bin-git-sh"
    folder.mkdir()
    for tool in ("git", "sh"):
        (folder / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    return folder


def bare_env(tmp_path: Path, bare_path: Path, *extra_path: Path, **more: str) -> dict[str, str]:
    """The environment of a person whose gerhard is wherever the test put it, and nowhere else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GERHARD_", "PYTHON", "VIRTUAL_ENV", "PRE_COMMIT"))}
    env.update(PATH=os.pathsep.join(map(str, [*extra_path, bare_path])), XDG_CACHE_HOME=str(tmp_path / "cache"))
    return env | more


def wrapper(folder: Path, name: str, python: Path, module: str = "") -> None:
    """`name` on PATH running that python (a symlink would hide the venv from it: python finds its venv
    from the path it was started as)."""
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(f'#!/bin/sh\nexec "{python}" {module}"$@"\n')
    (folder / name).chmod(0o755)


def make_venv(where: Path) -> Path:
    """A new venv whose python has gerhard: this interpreter's site-packages (gerhard and its dependencies,
    editable or not) added by a .pth file, as `pip install` would make them importable; ~0.1 s."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    ours = sysconfig.get_paths()["purelib"]
    package_parent = Path(gerhard.__file__).resolve().parent.parent
    (Path(purelib) / "gerhard-tests.pth").write_text(f"{package_parent}\nimport site; site.addsitedir({ours!r})\n")
    return python


def git_env(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)


def commit(repo: Path, env: dict[str, str], *paths: str) -> subprocess.CompletedProcess[str]:
    git(repo, "add", "-A", "--", *paths)
    return git_env(repo, env, "commit", "-q", "-m", "by hand")


def tamper(repo: Path) -> str:
    (repo / "outputs" / RUN_A / "seed.txt").write_text("999\n")
    return f"outputs/{RUN_A}/seed.txt"


def assert_refused_by_gerhard(done: subprocess.CompletedProcess[str]) -> None:
    """gerhard ran, and refused the commit for the tampered file."""
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("gerhard: ") and TAMPERED in done.stderr.splitlines()[0], done.stderr


def hook_files(repo: Path) -> dict[str, bytes]:
    hooks = repo / ".git" / "hooks"
    return {name: (hooks / name).read_bytes() for name in ("pre-commit", "run-gerhard")}


# --- gerhard hooks install ---------------------------------------------------------------------


def test_install_into_a_repository_without_a_hook(registry: Path, capsys) -> None:
    hooks = registry / ".git" / "hooks"
    done = run(capsys, "hooks", "install", "--repo", registry)
    assert (done.rc, done.err) == (0, "")
    assert done.out.splitlines() == [
        f"installed gerhard's pre-commit hook in {hooks / 'pre-commit'}",
        "installed gerhard's launcher (it finds gerhard each time the hook or merge driver runs) in "
        f"{hooks / 'run-gerhard'}",
        "configured the merge driver merge.gerhard in .git/config",
    ]
    for name in ("pre-commit", "run-gerhard"):
        assert (hooks / name).read_bytes() == (HOOKS / name).read_bytes(), name
        assert os.access(hooks / name, os.X_OK), name
    assert git(registry, "config", "merge.gerhard.driver").strip() == PORTABLE_DRIVER
    again = run(capsys, "hooks", "install", "--repo", registry)
    assert (again.rc, again.out) == (0, f"gerhard's hooks are already installed in {hooks}\n")


def test_nothing_installed_names_this_machines_python(registry: Path, capsys) -> None:
    assert run(capsys, "hooks", "install", "--repo", registry).rc == 0
    installed = b"".join(hook_files(registry).values()) + (registry / ".git" / "config").read_bytes()
    for path in {sys.executable, sys.prefix, str(Path(sys.executable).resolve()), str(SOURCE)}:
        assert path.encode() not in installed, path


def test_install_keeps_and_chains_an_existing_hook(registry: Path, capsys, tmp_path: Path) -> None:
    hooks = registry / ".git" / "hooks"
    ran = tmp_path / "ran"
    (hooks / "pre-commit").write_text(f"#!/bin/sh\ntouch {ran}\ntest ! -e {tmp_path / 'refuse'}\n")
    (hooks / "pre-commit").chmod(0o755)
    done = run(capsys, "hooks", "install", "--repo", registry)
    assert done.out.splitlines()[:2] == [
        f"kept your pre-commit hook as {hooks / 'pre-commit.local'}: gerhard's hook runs it after its own checks",
        f"installed gerhard's pre-commit hook in {hooks / 'pre-commit'}",
    ]
    env = dict(os.environ, GERHARD_PYTHON=sys.executable)
    (registry / "x.txt").write_text("x\n")
    assert commit(registry, env, "x.txt").returncode == 0
    assert ran.exists()  # the user's own hook still runs
    (tmp_path / "refuse").touch()
    (registry / "y.txt").write_text("y\n")
    assert commit(registry, env, "y.txt").returncode == 1  # and its verdict counts


def test_install_refuses_when_a_chained_hook_is_already_there(registry: Path, capsys) -> None:
    hooks = registry / ".git" / "hooks"
    for name in ("pre-commit", "pre-commit.local"):
        (hooks / name).write_text("#!/bin/sh\nexit 0\n")
        (hooks / name).chmod(0o755)
    before = snapshot(registry), (hooks / "pre-commit").read_text(), sorted(os.listdir(hooks))
    done = run(capsys, "hooks", "install", "--repo", registry)
    assert (done.rc, done.out) == (2, "")
    assert done.err == (
        f"gerhard hooks: error: {hooks / 'pre-commit'} is not gerhard's and {hooks / 'pre-commit.local'} exists "
        "too: merge them by hand into pre-commit.local, remove pre-commit, then run 'gerhard hooks install' again\n"
    )
    assert (snapshot(registry), (hooks / "pre-commit").read_text(), sorted(os.listdir(hooks))) == before


def test_install_replaces_a_hook_an_older_gerhard_installed(registry: Path, capsys) -> None:
    """Older hooks named the python that installed them: reinstalling makes them portable."""
    hooks = registry / ".git" / "hooks"
    (hooks / "pre-commit").write_text(
        "#!/bin/sh\n# gerhard's pre-commit hook: refuses a commit whose run bundles ...\n"
        '"${GERHARD_PYTHON:-/gone/venv/bin/python}" -m gerhard hook pre-commit || exit $?\n'
    )
    git(registry, "config", "merge.gerhard.driver", "/gone/venv/bin/python -m gerhard merge-driver %O %A %B %P")
    done = run(capsys, "hooks", "install", "--repo", registry)
    assert "kept your pre-commit hook" not in done.out
    assert not (hooks / "pre-commit.local").exists()
    assert hook_files(registry)["pre-commit"] == (HOOKS / "pre-commit").read_bytes()
    assert git(registry, "config", "merge.gerhard.driver").strip() == PORTABLE_DRIVER


def test_install_follows_core_hooks_path(registered: Path, capsys, tmp_path: Path, bare_path: Path) -> None:
    git(registered, "config", "core.hooksPath", ".githooks")
    done = run(capsys, "hooks", "install", "--repo", registered)
    hooks = registered / ".githooks"
    assert done.out.splitlines()[0] == f"installed gerhard's pre-commit hook in {hooks / 'pre-commit'}"
    assert sorted(os.listdir(hooks)) == ["pre-commit", "run-gerhard"]
    assert not (registered / ".git" / "hooks" / "pre-commit").exists()
    env = bare_env(tmp_path, bare_path, GERHARD_PYTHON=sys.executable)
    done = commit(registered, env, tamper(registered))
    assert_refused_by_gerhard(done)


def test_the_shipped_hooks_are_executable_posix_sh() -> None:
    for name in ("pre-commit", "run-gerhard"):
        assert os.access(HOOKS / name, os.X_OK), name
        assert (HOOKS / name).read_text().startswith("#!/bin/sh\n"), name
        assert subprocess.run(["sh", "-n", str(HOOKS / name)]).returncode == 0, name
        assert re.search(r"/(usr|opt|home|root|work)/", (HOOKS / name).read_text().split("\n", 1)[1]) is None, name


# --- finding gerhard each time it runs ---------------------------------------------------------


def test_the_hook_outlives_the_venv_it_was_installed_from(
    registered: Path, tmp_path: Path, bare_path: Path, capsys
) -> None:
    """Installed from the repository's .venv; that venv deleted (the hook says how to get gerhard and
    refuses the commit); another made in its place: the same hook works, untouched."""
    env = bare_env(tmp_path, bare_path)
    python = make_venv(registered / ".venv")
    installed = subprocess.run(
        [python, "-m", "gerhard", "hooks", "install"], cwd=registered, env=env, capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr
    files = hook_files(registered)
    rel = tamper(registered)
    done = commit(registered, env, rel)
    assert_refused_by_gerhard(done)

    shutil.rmtree(registered / ".venv")
    head = git(registered, "rev-parse", "HEAD")
    done = commit(registered, env, rel)
    assert (done.returncode, done.stderr) == (1, NOT_FOUND)
    assert git(registered, "rev-parse", "HEAD") == head

    make_venv(registered / ".venv")
    done = commit(registered, env, rel)
    assert_refused_by_gerhard(done)
    git(registered, "checkout", "HEAD", "--", rel)
    (registered / "notes.md").write_text("notes\n")
    done = commit(registered, env, "notes.md")
    assert (done.returncode, done.stderr) == (0, "")
    assert hook_files(registered) == files


@pytest.mark.parametrize("found_as", ["python3", "python", "gerhard"])
def test_gerhard_on_path(registered: Path, tmp_path: Path, bare_path: Path, capsys, found_as: str) -> None:
    """No .venv in the repository: python3 -m gerhard, python -m gerhard, or a gerhard command on PATH."""
    assert run(capsys, "hooks", "install", "--repo", registered).rc == 0
    python = make_venv(tmp_path / "elsewhere")
    on_path = tmp_path / "on-path"
    wrapper(on_path, found_as, python, "-m gerhard " if found_as == "gerhard" else "")
    env = bare_env(tmp_path, bare_path, on_path)
    done = commit(registered, env, tamper(registered))
    assert_refused_by_gerhard(done)
    launcher = registered / ".git" / "hooks" / "run-gerhard"
    version = subprocess.run(["sh", launcher, "--version"], cwd=registered, env=env, capture_output=True, text=True)
    assert (version.returncode, version.stdout) == (0, f"gerhard {gerhard.__version__}\n")


def test_a_python_without_gerhard_is_passed_over(registered: Path, tmp_path: Path, bare_path: Path, capsys) -> None:
    """A .venv and a python3 that lack gerhard do not stop the search; with nothing else the launcher says
    how to install it, in one line, exit 2, and the commit is refused with the repository as it was."""
    assert run(capsys, "hooks", "install", "--repo", registered).rc == 0
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(registered / ".venv")], check=True)
    on_path = tmp_path / "on-path"
    wrapper(on_path, "python3", registered / ".venv" / "bin" / "python")
    env = bare_env(tmp_path, bare_path, on_path)
    launcher = registered / ".git" / "hooks" / "run-gerhard"
    alone = subprocess.run(["sh", launcher, "--version"], cwd=registered, env=env, capture_output=True, text=True)
    assert (alone.returncode, alone.stdout, alone.stderr) == (2, "", NOT_FOUND)
    git(registered, "add", tamper(registered))
    before = unchanged(registered)
    done = git_env(registered, env, "commit", "-q", "-m", "by hand")
    assert (done.returncode, done.stderr) == (1, NOT_FOUND)
    assert unchanged(registered) == before


def unchanged(repo: Path) -> tuple[dict[str, object], str]:
    """What a refused commit leaves as it was: HEAD, refs, files, what is staged (git itself refreshes the
    index file's stat data before it runs the hook)."""
    state = snapshot(repo)
    del state["index"]
    return state, git(repo, "ls-files", "-s")


def test_a_hook_copied_without_its_launcher_says_so(registered: Path, tmp_path: Path, bare_path: Path) -> None:
    hooks = registered / ".git" / "hooks"
    shutil.copy2(HOOKS / "pre-commit", hooks / "pre-commit")
    (registered / "notes.md").write_text("notes\n")
    done = commit(registered, bare_env(tmp_path, bare_path, GERHARD_PYTHON=sys.executable), "notes.md")
    assert (done.returncode, done.stderr) == (
        1,
        "gerhard: .git/hooks/run-gerhard is missing: run 'gerhard hooks install' (or copy hooks/run-gerhard "
        "beside this hook)\n",
    )


def test_gerhards_own_registration_runs_the_hook_with_itself(
    registered: Path, bundle_b_green: Path, capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bare_path: Path
) -> None:
    """Inside a registration the repository's hook checks with the gerhard that registers (GERHARD_PYTHON
    defaults to its python), wherever that gerhard lives."""
    assert run(capsys, "hooks", "install", "--repo", registered).rc == 0
    monkeypatch.delenv("GERHARD_PYTHON", raising=False)
    monkeypatch.setenv("PATH", str(bare_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    register_ok(capsys, registered, RUN_B, "B", bundle_b_green)
    launcher = registered / ".git" / "hooks" / "run-gerhard"
    alone = subprocess.run(["sh", launcher, "--version"], cwd=registered, capture_output=True, text=True)
    assert (alone.returncode, alone.stderr) == (2, NOT_FOUND)  # nothing else would have found it


def test_from_a_second_clone_with_its_own_venv(
    registered: Path, tmp_path: Path, bare_path: Path, bundle_b_green: Path, capsys
) -> None:
    """A second clone (another machine, a CI runner) with its own .venv: hooks install writes the same bytes
    as in the first, the hook checks its commits, and when both clones registered a run, `git pull` merges
    the derived files through the merge driver, which the launcher runs with the clone's venv."""
    assert run(capsys, "hooks", "install", "--repo", registered).rc == 0
    git(registered, "add", ".gitattributes")
    git(registered, "commit", "-q", "--no-verify", "--allow-empty", "-m", "derived files merged by gerhard")
    clone = tmp_path / "second"
    git(tmp_path, "clone", "-q", str(registered), str(clone))
    (clone / ".git" / "info" / "exclude").write_text(".venv/\n")
    env = bare_env(tmp_path, bare_path)
    python = make_venv(clone / ".venv")
    installed = subprocess.run(
        [python, "-m", "gerhard", "hooks", "install"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr
    assert hook_files(clone) == hook_files(registered)
    assert git(clone, "config", "merge.gerhard.driver") == git(registered, "config", "merge.gerhard.driver")

    register_ok(capsys, registered, "20261102T090000Z_first", "B", bundle_b_green)
    args = ["register", "--run-id", "20261102T100000Z_second", "--phase", "B", "--source-dir", str(bundle_b_green)]
    done = subprocess.run([python, "-m", "gerhard", *args], cwd=clone, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    pulled = git_env(clone, env | {"GIT_TRACE": "1"}, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert f"{PORTABLE_DRIVER.split(' merge-driver')[0]} merge-driver" in pulled.stderr  # git ran the launcher
    rebuilt = subprocess.run(
        [python, "-m", "gerhard", "rebuild", "--check"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert git(clone, "status", "--porcelain") == ""
    done = commit(clone, env, tamper(clone))
    assert_refused_by_gerhard(done)


# --- the pre-commit framework ------------------------------------------------------------------


def test_the_manifest_declares_both_hooks() -> None:
    hooks = {h["id"]: h for h in YAML(typ="safe").load((SOURCE / ".pre-commit-hooks.yaml").read_text())}
    assert {k: (h["entry"], h["language"], h["files"]) for k, h in hooks.items()} == {
        "gerhard-bundles": ("gerhard hook pre-commit --only bundles", "python", "^(outputs|state/runs)/"),
        "gerhard-state": ("gerhard hook pre-commit --only state", "python", "^(state|reports|docs/ops)/"),
    }
    assert all(h["pass_filenames"] is False for h in hooks.values())


def test_the_guide_documents_the_config_tested_here() -> None:
    guide = (SOURCE / "docs" / "guide.md").read_text()
    blocks = [textwrap.dedent(b) for b in re.findall(r"^ *```yaml\n(.*?)^ *```$", guide, re.MULTILINE | re.DOTALL)]
    documented = PRE_COMMIT_CONFIG.format(repo="https://github.com/<you>/gerhard", rev="<tag or commit>")
    assert documented in blocks


def source_commit(dest: Path) -> Path:
    """This checkout's files as they are now (new files too), committed in a repository of their own:
    the hook repository pre-commit installs gerhard from."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=SOURCE, capture_output=True, check=True
    )
    for rel in filter(None, listed.stdout.decode().split("\0")):
        if (SOURCE / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(SOURCE / rel, dest / rel)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "gerhard as it is now")
    return dest


def offline_pip(env: dict[str, str]) -> dict[str, str]:
    """pre-commit's `pip install .` with no network: no index, no build isolation (hatchling, from the dev
    extra, builds the wheel), no dependencies (this interpreter's, on PYTHONPATH, stand in for them)."""
    ours = sysconfig.get_paths()["purelib"]
    return env | {"PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PIP_NO_DEPS": "1", "PYTHONPATH": ours}


def test_the_two_lines_under_the_pre_commit_framework(
    registered: Path, tmp_path: Path, bare_path: Path, capsys
) -> None:
    """The documented .pre-commit-config.yaml, a local clone of this repository as the hook repository:
    pre-commit installs gerhard into its own environment and runs both hooks; with nothing else on the
    machine, the launcher (and so the merge driver) finds gerhard in that environment."""
    tool = Path(sys.executable).with_name("pre-commit")
    if not tool.exists() or not shutil.which("git"):
        pytest.skip("the pre-commit tool is not installed (pip install -e '.[dev]')")
    try:
        import hatchling  # noqa: F401  (pre-commit's pip builds gerhard with it, offline)
    except ImportError:
        pytest.skip("hatchling is not installed (pip install -e '.[dev]'): pip cannot build gerhard offline")
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=SOURCE, capture_output=True).returncode != 0:
        pytest.skip(f"{SOURCE} is not a git checkout: its files cannot be listed")
    hook_repo = source_commit(tmp_path / "gerhard-source")
    config = PRE_COMMIT_CONFIG.format(repo=hook_repo, rev=git(hook_repo, "rev-parse", "HEAD").strip())
    (registered / ".pre-commit-config.yaml").write_text(config)
    home = tmp_path / "pre-commit-home"
    system = [Path(p) for p in ("/usr/bin", "/bin") if Path(p).is_dir()]  # git's shell helpers need sed, ...
    env = offline_pip(bare_env(tmp_path, bare_path, *system, PRE_COMMIT_HOME=str(home)))

    installed = subprocess.run([tool, "install-hooks"], cwd=registered, env=env, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    git(registered, "add", tamper(registered))
    failed = subprocess.run([tool, "run"], cwd=registered, env=env, capture_output=True, text=True)
    assert failed.returncode == 1, failed.stdout
    assert "- hook id: gerhard-bundles" in failed.stdout, failed.stdout
    assert any(line.startswith("gerhard: ") and TAMPERED in line for line in failed.stdout.splitlines())
    git(registered, "checkout", "HEAD", "--", f"outputs/{RUN_A}/seed.txt")
    (registered / "docs" / "ops" / "STATUS_BOARD.md").write_text("# all green\n")
    git(registered, "add", "docs/ops/STATUS_BOARD.md")
    failed = subprocess.run([tool, "run"], cwd=registered, env=env, capture_output=True, text=True)
    assert failed.returncode == 1, failed.stdout
    assert "gerhard: docs/ops/STATUS_BOARD.md differs from what 'gerhard rebuild' computes" in failed.stdout
    git(registered, "checkout", "HEAD", "--", "docs/ops/STATUS_BOARD.md")
    git(registered, "add", ".pre-commit-config.yaml")
    passed = subprocess.run([tool, "run"], cwd=registered, env=env, capture_output=True, text=True)
    assert passed.returncode == 0, passed.stdout

    # Nothing but git and sh on PATH, no .venv, no PYTHONPATH: the launcher finds pre-commit's gerhard.
    assert run(capsys, "hooks", "install", "--repo", registered).rc == 0
    launcher = registered / ".git" / "hooks" / "run-gerhard"
    alone = bare_env(tmp_path, bare_path, PRE_COMMIT_HOME=str(home))
    version = subprocess.run(["sh", launcher, "--version"], cwd=registered, env=alone, capture_output=True, text=True)
    assert (version.returncode, version.stdout) == (0, f"gerhard {gerhard.__version__}\n"), version.stderr
    alone.pop("PRE_COMMIT_HOME")
    missing = subprocess.run(["sh", launcher, "--version"], cwd=registered, env=alone, capture_output=True, text=True)
    assert (missing.returncode, missing.stderr) == (2, NOT_FOUND)
