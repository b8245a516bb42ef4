"""gerhard decide RUN_ID waive|advance|rerun|stop --reason ...: a human decision, one commit."""

from __future__ import annotations

from pathlib import Path

from gerhard.flows.decisions import decide as decide_run
from gerhard.output import print_json
from gerhard.registry.root import registry_root


def decide(repo: Path, run_id: str, decision: str, reason: str, as_json: bool = False, verify: bool = True) -> int:
    root = registry_root(repo)
    result = decide_run(run_id, decision, reason, repo_root=root, verify=verify)
    if as_json:
        print_json(result.as_dict())
    else:
        print(result)
        print("next: git push, and review the decision commit in a pull request")
    return 0
