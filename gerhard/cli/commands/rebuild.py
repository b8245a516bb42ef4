"""gerhard rebuild: recompute every derived state file and report from program.yaml + state/runs/.

`--check` only reports what differs; `--commit` makes the rebuilt files one commit (the user's other
work left alone), so a registry whose program.yaml was edited is up to date again in one step.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gerhard import layout
from gerhard.core.derive import rebuild_files
from gerhard.core.phases import DIGEST, program_digest
from gerhard.files import atomic_write
from gerhard.git import gitrepo
from gerhard.git.lock import registry_lock
from gerhard.registry import queries, store

UP_TO_DATE = "'gerhard rebuild --commit' brings them up to date (the next registration does too)"


def rebuilt(root: Path) -> dict[str, str]:
    program = store.load_program(root)
    records = queries.all_records(root)
    files = rebuild_files(program, records, lambda rel: store.read_text(root, rel))
    if not records:
        # A registry with no runs yet (just `gerhard init`) has no derived files: the first
        # registration creates them. Those that do exist are still checked.
        files = {rel: text for rel, text in files.items() if store.read_text(root, rel) is not None}
    return files


def stale_hint(root: Path) -> str | None:
    """Why the derived files differ, when it is program.yaml: the stored status was folded with
    another program than the one there now (or written before gerhard kept its digest)."""
    status = store.load_status(root)
    if status is None or status.get(DIGEST) == program_digest(store.load_program(root)):
        return None
    if DIGEST not in status:
        return f"{layout.STATUS} was written by an older gerhard: {UP_TO_DATE}"
    return f"{layout.PROGRAM} changed since these files were derived: {UP_TO_DATE}"


def rebuild(repo: Path, check: bool = False, commit: bool = False) -> int:
    root = queries.registry_root(repo)
    with registry_lock(root):
        files = rebuilt(root)
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
            return commit_rebuilt(root, files)
        for rel in changed:
            atomic_write(root / rel, files[rel].encode())
            print(f"rewrote {rel}")
    print(
        f"{len(files)} derived files rebuilt, {len(changed)} changed"
        + ("; review with 'git diff' and commit them (or run 'gerhard rebuild --commit')" if changed else ""),
        file=sys.stderr,
    )
    return 0


def differ_from_head(root: Path, files: dict[str, str]) -> list[str]:
    """The files whose rebuilt text is not what HEAD holds."""
    head = gitrepo.head(root)
    trees = gitrepo.read_trees(root, head.sha, gitrepo.parent_dirs(list(files)))
    object_format = gitrepo.info(root).object_format

    def in_head(rel: str) -> str | None:
        parent, _, name = rel.rpartition("/")
        return trees[parent].get(name, (None, ""))[1] or None

    return [rel for rel in sorted(files) if in_head(rel) != gitrepo.blob_sha(files[rel].encode(), object_format)]


def commit_rebuilt(root: Path, files: dict[str, str]) -> int:
    """One commit of the rebuilt files that differ from HEAD (none: no commit)."""
    from gerhard.git.transaction import commit_files

    stale = differ_from_head(root, files)
    if not stale:
        print(f"{len(files)} derived files rebuilt, all as committed: nothing to commit", file=sys.stderr)
        return 0
    files_word = f"{len(stale)} derived file{'s' if len(stale) != 1 else ''}"
    subject = f"rebuild {files_word} from {layout.PROGRAM}, state/runs/ and {layout.DECISIONS_DIR}/"
    body = "\n".join(f"- {rel}" for rel in stale)
    sha = commit_files(root, {rel: files[rel].encode() for rel in stale}, f"{subject}\n\n{body}\n")
    for rel in stale:
        print(f"committed {rel}")
    print(f"{len(files)} derived files rebuilt, {len(stale)} committed in {sha[:12]}", file=sys.stderr)
    return 0
