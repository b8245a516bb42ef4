"""gerhard hooks install: gerhard's pre-commit hook, its launcher and the merge driver in this repository.

The hook and the merge driver run `run-gerhard` (installed beside the hook), which finds gerhard each
time it runs: $GERHARD_PYTHON, the repository's .venv, python3 -m gerhard or gerhard on PATH, or the
pre-commit framework's environment. Nothing installed names this machine's python, so the files are the
same bytes in every clone and keep working when the venv is made again. They are hooks/ of this
repository (gerhard/_data/hooks in a wheel).
"""

from __future__ import annotations

import os
from pathlib import Path

from gerhard.errors import UserError
from gerhard.files import atomic_write
from gerhard.git import gitrepo
from gerhard.resources import data_path
from gerhard.team import mergedriver

MARK = "# gerhard's pre-commit hook"
LOCAL = "pre-commit.local"  # a hook that was there before gerhard's: gerhard's runs it after its own checks
INSTALLED = (
    ("pre-commit", "gerhard's pre-commit hook"),
    (mergedriver.LAUNCHER, "gerhard's launcher (it finds gerhard each time the hook or merge driver runs)"),
)


def shipped(name: str) -> bytes:
    return (data_path("hooks") / name).read_bytes()


def put(path: Path, content: bytes) -> bool:
    """The file with this content, executable; False when it already was."""
    if path.is_file() and path.read_bytes() == content and os.access(path, os.X_OK):
        return False
    atomic_write(path, content)
    path.chmod(0o755)
    return True


def keep_existing(hooks: Path) -> list[str]:
    """A pre-commit hook that is not gerhard's becomes pre-commit.local, which gerhard's hook chains."""
    target = hooks / "pre-commit"
    if not target.is_file() or MARK in target.read_text(errors="replace"):
        return []
    if (hooks / LOCAL).exists():
        raise UserError(
            f"{target} is not gerhard's and {hooks / LOCAL} exists too: merge them by hand into {LOCAL}, "
            "remove pre-commit, then run 'gerhard hooks install' again"
        )
    target.rename(hooks / LOCAL)
    return [f"kept your pre-commit hook as {hooks / LOCAL}: gerhard's hook runs it after its own checks"]


def install(repo: Path) -> int:
    root = gitrepo.find_root(Path(repo))
    hooks = gitrepo.info(root).hooks
    hooks.mkdir(parents=True, exist_ok=True)
    done = keep_existing(hooks)
    done += [f"installed {what} in {hooks / name}" for name, what in INSTALLED if put(hooks / name, shipped(name))]
    done += mergedriver.configure(root)
    for line in done or [f"gerhard's hooks are already installed in {hooks}"]:
        print(line)
    return 0
