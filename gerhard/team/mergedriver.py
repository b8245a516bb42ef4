"""The git merge driver for derived files: recomputed from the merged records, never text-merged.

Two branches that each registered runs both change every derived file (status, gate results, the
ledger, the index pages, the status board). Configured by `gerhard hooks install` (merge.gerhard
in .git/config, `merge=gerhard` in .gitattributes), git calls `gerhard merge-driver %O %A %B %P`
for each such file in a merge, rebase or cherry-pick; the driver writes into %A what `rebuild`
computes from the run records of both sides (per-run files never collide) and program.yaml of ours.
The records of one merge are read once and cached in the git dir for the other files of that merge.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core.derive import rebuild_files
from gerhard.core.records import Decision, RunRecord
from gerhard.errors import GitError
from gerhard.files import atomic_write
from gerhard.formats.yamlio import read_state_yaml, to_plain
from gerhard.git import gitrepo
from gerhard.registry import store

ATTRIBUTES = [
    "state/program_status.yaml",
    "state/gate_results.yaml",
    "state/ledger/*.jsonl",
    "reports/index.md",
    "reports/*/*/index.md",
    "docs/ops/STATUS_BOARD.md",
]
ATTRIBUTES_MARK = "# gerhard: derived files are recomputed when branches merge (gerhard merge-driver)"
CACHE = "gerhard-merge-cache.json"
LAUNCHER = "run-gerhard"  # hooks/run-gerhard, installed beside the pre-commit hook
# git runs a merge driver through the shell, in the work tree's top: the launcher is where git looks
# for hooks (core.hooksPath honoured), whichever clone or machine this is.
PORTABLE_DRIVER = f'sh "$(git rev-parse --git-path hooks/{LAUNCHER})" merge-driver %O %A %B %P'


def configure(root: Path, python: str | None = None) -> list[str]:
    """merge.gerhard in the repository's config and the attributes in .gitattributes; what changed. The
    driver runs the launcher `gerhard hooks install` puts beside the hook, which finds gerhard when git
    runs it (so the config names no python of this machine), or `python` when one is given."""
    done = []
    driver = PORTABLE_DRIVER if python is None else f"{python} -m gerhard merge-driver %O %A %B %P"
    if gitrepo.config_value(root, "merge.gerhard.driver") != driver:
        gitrepo.run_git(root, "config", "merge.gerhard.name", "gerhard: derived files recomputed from the records")
        gitrepo.run_git(root, "config", "merge.gerhard.driver", driver)
        done.append("configured the merge driver merge.gerhard in .git/config")
    if add_attributes(root):
        done.append("added the derived files to .gitattributes (merge=gerhard): commit it so every clone merges them")
    return done


def add_attributes(root: Path) -> bool:
    """The derived files marked merge=gerhard in .gitattributes; False when they already are."""
    attributes = root / ".gitattributes"
    text = attributes.read_text(encoding="utf-8") if attributes.is_file() else ""
    if ATTRIBUTES_MARK in text:
        return False
    lines = [ATTRIBUTES_MARK, *(f"{pattern} merge=gerhard" for pattern in ATTRIBUTES)]
    sep = "\n" if text and not text.endswith("\n") else ""
    atomic_write(attributes, (text + sep + "\n".join(lines) + "\n").encode())
    return True


def other_side(root: Path) -> str:
    """The commit being merged in: git names it in GITHEAD_<sha> (merge), or in the sequencer's state
    (rebase, cherry-pick, revert)."""
    for key in os.environ:
        if key.startswith("GITHEAD_") and re.fullmatch(r"[0-9a-f]{40,64}", key[8:]):
            return key[8:]
    repo = gitrepo.info(root)
    done = repo.git_dir / "rebase-merge" / "done"
    if done.is_file():
        lines = done.read_text().split("\n")
        last = [line for line in lines if line.strip() and not line.startswith("#")][-1].split()
        if len(last) > 1:
            return gitrepo.run_git(root, "rev-parse", last[1]).decode().strip()
    for name in ("CHERRY_PICK_HEAD", "REVERT_HEAD", "MERGE_HEAD"):
        if (repo.git_dir / name).is_file():
            return (repo.git_dir / name).read_text().split()[0]
    raise GitError("gerhard merge-driver: cannot tell which commit is being merged in: run 'gerhard rebuild'")


def records_of(root: Path, commit: str, folder: str = layout.RUNS_DIR) -> dict[str, str]:
    """run id -> record text (or decision text, folder=state/decisions), as committed (one ls-tree and
    one cat-file process)."""
    out = gitrepo.run_git(root, "ls-tree", "-z", commit, "--", f"{folder}/").decode()
    entries = [line.split("\t", 1) for line in out.split("\0") if line]
    blobs = [(meta.split()[2], Path(path).stem) for meta, path in entries if path.endswith(".yaml")]
    if not blobs:
        return {}
    found = gitrepo.cat_objects(root, [sha for sha, _ in blobs])
    texts = {run_id: obj[1].decode("utf-8") for (_, run_id), obj in zip(blobs, found, strict=True) if obj}
    return texts


def merged_records(root: Path, ours: str, theirs: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The run records and the decisions of both sides (a run, or a decision on it, on both sides: ours)."""
    cache = gitrepo.info(root).git_dir / CACHE
    key = f"{ours} {theirs}"
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached.get("key") == key:
            return list(cached["records"]), list(cached["decisions"])
    except (OSError, ValueError, KeyError):
        pass
    merged = []
    for folder, path in ((layout.RUNS_DIR, layout.record_path), (layout.DECISIONS_DIR, layout.decision_path)):
        texts = {**records_of(root, theirs, folder), **records_of(root, ours, folder)}
        merged.append([to_plain(read_state_yaml(text, path(run_id))) for run_id, text in sorted(texts.items())])
    records, decisions = merged
    cache.write_text(json.dumps({"key": key, "records": records, "decisions": decisions}), encoding="utf-8")
    return records, decisions


def merge_driver(root: Path, ours_file: Path, path: str) -> int:
    """Write the recomputed content of `path` into ours_file (git's %A); 0 = merged cleanly."""
    ours = gitrepo.run_git(root, "rev-parse", "HEAD").decode().strip()
    theirs = other_side(root)
    program_text = gitrepo.show(root, ours, layout.PROGRAM)
    if program_text is None:
        raise GitError(
            f"gerhard merge-driver: no {layout.PROGRAM} in HEAD: merge {path} by hand, then 'gerhard rebuild'"
        )
    program = store.program_from_text(program_text.decode("utf-8"))
    mine = ours_file.read_text(encoding="utf-8") if ours_file.is_file() else None
    records, decisions = merged_records(root, ours, theirs)
    typed = [RunRecord.from_dict(r) for r in records], [Decision.from_dict(d) for d in decisions]
    files = rebuild_files(program, typed[0], lambda rel: mine if rel == path else None, typed[1])
    if path in files:
        ours_file.write_text(files[path], encoding="utf-8")
    return 0
