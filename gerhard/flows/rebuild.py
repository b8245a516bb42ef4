"""A rebuild: every derived state file and report recomputed from program.yaml, state/runs/ and
state/decisions/ (core.derive.rebuild_files), compared with the work tree and with HEAD, and committed
as one commit of the files that differ (the user's other work left alone)."""

from __future__ import annotations

from pathlib import Path

from gerhard import layout
from gerhard.core.derive import rebuild_files
from gerhard.core.phases import DIGEST, program_digest
from gerhard.git import gitrepo
from gerhard.registry import queries, store
from gerhard.registry.registry import Registry

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


def differ_from_head(root: Path, files: dict[str, str]) -> list[str]:
    """The files whose rebuilt text is not what HEAD holds."""
    head = gitrepo.head(root)
    trees = gitrepo.read_trees(root, head.sha, gitrepo.parent_dirs(list(files)))
    object_format = gitrepo.info(root).object_format

    def in_head(rel: str) -> str | None:
        parent, _, name = rel.rpartition("/")
        return trees[parent].get(name, (None, ""))[1] or None

    return [rel for rel in sorted(files) if in_head(rel) != gitrepo.blob_sha(files[rel].encode(), object_format)]


def commit_rebuilt(registry: Registry, files: dict[str, str]) -> tuple[list[str], str | None]:
    """One commit of the rebuilt files that differ from HEAD: those files and the commit (none: no commit)."""
    stale = differ_from_head(registry.root, files)
    if not stale:
        return [], None
    files_word = f"{len(stale)} derived file{'s' if len(stale) != 1 else ''}"
    subject = f"rebuild {files_word} from {layout.PROGRAM}, state/runs/ and {layout.DECISIONS_DIR}/"
    body = "\n".join(f"- {rel}" for rel in stale)
    return stale, registry.commit({rel: files[rel].encode() for rel in stale}, f"{subject}\n\n{body}\n")
