"""gerhard rebuild: recompute every derived state file and report from program.yaml + state/runs/."""

from __future__ import annotations

import sys
from pathlib import Path

from gerhard import queries, state
from gerhard.derive import rebuild_files
from gerhard.lock import registry_lock


def rebuilt(root: Path) -> dict[str, str]:
    program = state.load_program(root)
    records = queries.all_records(root)
    files = rebuild_files(program, records, lambda rel: state.read_text(root, rel))
    if not records:
        # A registry with no runs yet (just `gerhard init`) has no derived files: the first
        # registration creates them. Those that do exist are still checked.
        files = {rel: text for rel, text in files.items() if state.read_text(root, rel) is not None}
    return files


def rebuild(repo: Path, check: bool = False) -> int:
    root = queries.registry_root(repo)
    with registry_lock(root):
        files = rebuilt(root)
        changed = [rel for rel, text in sorted(files.items()) if state.read_text(root, rel) != text]
        if check:
            for rel in changed:
                print(f"differs from rebuild: {rel}")
            print(f"{len(files)} derived files checked, {len(changed)} differ", file=sys.stderr)
            return 1 if changed else 0
        for rel in changed:
            state.atomic_write(root / rel, files[rel].encode())
            print(f"rewrote {rel}")
    print(
        f"{len(files)} derived files rebuilt, {len(changed)} changed"
        + ("; review with 'git diff' and commit them" if changed else ""),
        file=sys.stderr,
    )
    return 0
