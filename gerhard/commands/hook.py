"""gerhard hook pre-commit: what hooks/pre-commit runs before each `git commit` in a registry."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from gerhard import gitrepo, journal

INSIDE_TXN_ENV = "GERHARD_TXN"  # set by gerhard for the hooks it runs inside its own transaction


def hook(repo: Path, name: str, only: str | None = None) -> int:
    root = gitrepo.find_root(Path(repo))
    if name == "pre-commit":
        return pre_commit(root, only)
    raise AssertionError(f"unknown hook {name}")


def pre_commit(root: Path, only: str | None = None) -> int:
    """Refuse a commit while a registration is unfinished: its index is not yet the one committed,
    so this commit could revert the registration."""
    txn = journal.load(gitrepo.info(root))
    if txn is None or os.environ.get(INSIDE_TXN_ENV) == txn.nonce.strip():
        problems = staged_problems(root, only)
        for line in problems:
            print(f"gerhard: {line}", file=sys.stderr)
        return 1 if problems else 0
    subject = txn.data.get("subject", "a registration")
    print(
        f"gerhard: an interrupted transaction ({subject}) is not settled, and this commit could undo it: "
        "run 'gerhard doctor', then commit again",
        file=sys.stderr,
    )
    return 1


DERIVED_PREFIXES = ("state/program_status.yaml", "state/gate_results.yaml", "state/ledger/", "reports/", "docs/ops/")


def staged_problems(root: Path, only: str | None = None) -> list[str]:
    """The content this commit adds, checked: only the runs and files it touches (git's index)."""
    from gerhard import checks, state

    touched = staged_paths(root)
    if only == "state":
        touched = [p for p in touched if not p.startswith(("outputs/", f"{state.RUNS_DIR}/"))]
    elif only == "bundles":
        touched = [p for p in touched if p.startswith(("outputs/", f"{state.RUNS_DIR}/"))]
    runs = sorted({p.split("/")[1] for p in touched if p.startswith("outputs/") and p.count("/") >= 2})
    runs += sorted({Path(p).stem for p in touched if p.startswith(f"{state.RUNS_DIR}/")} - set(runs))
    if not runs and not any(p.startswith(DERIVED_PREFIXES) for p in touched):
        return []
    listings = {run_id: index_paths(root, f"outputs/{run_id}/") for run_id in runs}
    wanted = [state.PROGRAM, *(state.record_path(r) for r in runs), *(p for ls in listings.values() for p in ls)]
    read = index_reader(root, wanted)
    program_text = read(state.PROGRAM)
    if program_text is None:
        return []  # not a registry (yet)
    program = state.program_from_text(program_text.decode("utf-8"))
    problems = [p for r in runs for p in checks.check_run(program, r, read, listings[r], root)]
    derived = {p for p in touched if p.startswith(DERIVED_PREFIXES)}
    if derived and not runs and not any(p.startswith("state/decisions/") for p in touched):
        problems += hand_edited(root, derived)
    return problems


def staged_paths(root: Path) -> list[str]:
    out = gitrepo.run_git(root, "diff", "--cached", "--name-only", "--no-renames", "-z", "--diff-filter=AMT")
    return [p for p in out.decode().split("\0") if p]


def index_paths(root: Path, folder: str) -> list[str]:
    return [p for p in gitrepo.run_git(root, "ls-files", "-z", "--", folder).decode().split("\0") if p]


def index_reader(root: Path, paths: list[str]) -> Callable[[str], bytes | None]:
    """Staged content of these paths, read with one git process."""
    found = gitrepo.cat_objects(root, [f":{p}" for p in paths])
    return {p: obj[1] for p, obj in zip(paths, found, strict=True) if obj is not None}.get


def hand_edited(root: Path, derived: set[str]) -> list[str]:
    """A commit that changes derived files and no run: they must be what rebuild computes."""
    from gerhard import checks
    from gerhard.commands.rebuild import rebuilt

    expected = rebuilt(root)
    read = index_reader(root, sorted(derived & set(expected)))
    return checks.derived_problems(root, expected, read, only=derived)
