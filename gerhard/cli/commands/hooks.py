"""gerhard hooks install: gerhard's pre-commit hook and merge driver in this repository."""

from __future__ import annotations

import sys
from pathlib import Path

from gerhard.git import gitrepo
from gerhard.team import mergedriver

MARK = "# gerhard's pre-commit hook"
LOCAL = "pre-commit.local"  # a hook that was there before gerhard's: gerhard's runs it after its own checks


def hook_script(python: str) -> str:
    return f"""#!/bin/sh
{MARK}: refuses a commit whose run bundles, MANIFESTs or state are incomplete or
# inconsistent, or while an interrupted registration is unsettled. Installed by `gerhard hooks install`.
"${{GERHARD_PYTHON:-{python}}}" -m gerhard hook pre-commit || exit $?
local="$(dirname "$0")/{LOCAL}"
if [ -x "$local" ]; then exec "$local" "$@"; fi
"""


def install(repo: Path) -> int:
    root = gitrepo.find_root(Path(repo))
    hooks = gitrepo.info(root).hooks
    hooks.mkdir(parents=True, exist_ok=True)
    target = hooks / "pre-commit"
    done = []
    existing = target.read_text(errors="replace") if target.is_file() else None
    if existing is not None and MARK not in existing:
        if (hooks / LOCAL).exists():
            from gerhard.errors import UserError

            raise UserError(
                f"{target} is not gerhard's and {hooks / LOCAL} exists too: merge them by hand into {LOCAL}, "
                "remove pre-commit, then run 'gerhard hooks install' again"
            )
        target.rename(hooks / LOCAL)
        done.append(f"kept your pre-commit hook as {hooks / LOCAL}: gerhard's hook runs it after its own checks")
    script = hook_script(sys.executable)
    if existing != script:
        target.write_text(script)
        target.chmod(0o755)
        done.append(f"installed gerhard's pre-commit hook in {target}")
    done += mergedriver.configure(root)
    for line in done or [f"gerhard's hooks are already installed in {hooks}"]:
        print(line)
    return 0
