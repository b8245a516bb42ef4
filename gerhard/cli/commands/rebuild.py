"""gerhard rebuild: recompute every derived state file and report from program.yaml + state/runs/.

`--check` only reports what differs; `--commit` makes the rebuilt files one commit (the user's other
work left alone), so a registry whose program.yaml was edited is up to date again in one step.
`--refresh` folds in only what was merged since the default branch's last stored state (its CI step).
Off the default branch the aggregates are left as the default branch wrote them.
The work is gerhard.flows.rebuild's; this module prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gerhard.files import atomic_write
from gerhard.flows.rebuild import commit_rebuilt, rebuilt, refreshed, stale_hint
from gerhard.git.branches import branch_note, on_default_branch
from gerhard.registry import store
from gerhard.registry.registry import Registry
from gerhard.registry.root import registry_root


def rebuild(repo: Path, check: bool = False, commit: bool = False, refresh: bool = False) -> int:
    root = registry_root(repo)
    with Registry.locked(root) as registry:
        files, merged = refreshed(root) if refresh else (rebuilt(root), None)
        if refresh and not files:
            print("the aggregates hold every run and decision: nothing to refresh", file=sys.stderr)
            return 0
        if not refresh and not on_default_branch(root):
            print(f"on {branch_note(root)}: the aggregates stay as the default branch wrote them", file=sys.stderr)
        changed = [rel for rel, text in sorted(files.items()) if store.read_text(root, rel) != text]
        if check:
            for rel in changed:
                print(f"differs from rebuild: {rel}")
            print(f"{len(files)} derived files checked, {len(changed)} differ", file=sys.stderr)
            hint = stale_hint(root) if changed else None
            if hint:
                print(hint, file=sys.stderr)
            return 1 if changed else 0
        if commit:
            return report_commit(registry, files, merged)
        for rel in changed:
            atomic_write(root / rel, files[rel].encode())
            print(f"rewrote {rel}")
    print(
        f"{len(files)} derived files rebuilt, {len(changed)} changed"
        + ("; review with 'git diff' and commit them (or run 'gerhard rebuild --commit')" if changed else ""),
        file=sys.stderr,
    )
    return 0


def report_commit(registry: Registry, files: dict[str, str], merged: str | None = None) -> int:
    stale, sha = commit_rebuilt(registry, files, merged)
    if sha is None:
        print(f"{len(files)} derived files rebuilt, all as committed: nothing to commit", file=sys.stderr)
        return 0
    for rel in stale:
        print(f"committed {rel}")
    print(f"{len(files)} derived files rebuilt, {len(stale)} committed in {sha[:12]}", file=sys.stderr)
    return 0
