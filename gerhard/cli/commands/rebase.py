"""gerhard rebase [BASE]: replay a branch's registrations on its base (the pull-request fix)."""

from __future__ import annotations

from pathlib import Path

from gerhard.git import gitrepo
from gerhard.git.journal import settle_pending
from gerhard.output import print_json
from gerhard.team.rebase import rebase as replay_branch


def rebase(repo: Path, base: str | None, verify: bool = True, as_json: bool = False) -> int:
    root = gitrepo.find_root(Path(repo))
    settle_pending(root)
    replayed, picked = replay_branch(root, base, verify)
    if as_json:
        print_json({"replayed": [r.__dict__ for r in replayed], "cherry_picked": picked})
        return 0
    if not replayed and not picked:
        print("nothing to replay: the branch has no commits of its own on top of its base")
        return 0
    for r in replayed:
        change = "unchanged" if r.before == r.after else f"was {r.before} on the branch"
        print(f"replayed run {r.run_id}: {r.after} ({change}), commit {r.commit[:12]}")
    for subject in picked:
        print(f"cherry-picked: {subject}")
    print("next: git push --force-with-lease (the branch was rewritten on its base)")
    return 0
