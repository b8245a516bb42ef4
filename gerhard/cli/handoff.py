"""The RunPod handoff's three scripts (docs/guide.md, "The handoff's scripts"): what they run.

    python3 scripts/register_dossier_run.py --dossier run_dossier_<run_id>.html --phase B   gerhard register --dossier
    python3 scripts/register_notebook_run.py --run-id <run_id> --phase B --source-dir DIR     gerhard register
    python3 scripts/generate_run_dossier.py --run-dir outputs/<run_id> --phase B             gerhard dossier

Each script is a few lines over script_main: the gerhard command it stands for, on the repository the script lives
in (its scripts/ folder's parent) unless --repo-root (or --repo) names another, with every option of that command,
the same output and the same exit codes. `gerhard init --scripts` copies them into a registry's scripts/.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from gerhard.cli.main import main


def script_repo(script: str | Path) -> Path:
    """The repository a handoff script belongs to: the parent of the scripts/ folder it is in."""
    return Path(script).resolve().parent.parent


def script_main(command: str, script: str | Path, argv: Sequence[str] | None = None) -> int:
    """`gerhard COMMAND --repo <the script's repository> ARGV...` (argv: sys.argv[1:]), --repo-root read as --repo."""
    args = list(sys.argv[1:] if argv is None else argv)
    renamed = ["--repo" + a.removeprefix("--repo-root") if a.split("=")[0] == "--repo-root" else a for a in args]
    return main([command, "--repo", str(script_repo(script)), *renamed])
