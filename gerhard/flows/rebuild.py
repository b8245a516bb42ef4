"""A rebuild: every derived state file and report recomputed from program.yaml, state/runs/ and
state/decisions/ (core.derive.rebuild_files), compared with the work tree and with HEAD, and committed
as one commit of the files that differ (the user's other work left alone).

Off the default branch it computes what the branch holds (gerhard.registry.derived): the aggregates
stay the default branch's. On it, `refreshed` folds only what was merged since its last stored state
(gerhard.flows.refresh): the CI workflow's step after every merge. Its commit says how many runs the
aggregates hold in a `Gerhard-Rebuild: <n> runs` trailer."""

from __future__ import annotations

from pathlib import Path

from gerhard import layout
from gerhard.core.phases import DIGEST, program_digest
from gerhard.errors import UserError
from gerhard.flows.refresh import refresh
from gerhard.git import gitrepo
from gerhard.git.branches import branch_note, on_default_branch
from gerhard.registry import queries, store
from gerhard.registry.derived import expected_files, stale_note
from gerhard.registry.pending import pending_in
from gerhard.registry.registry import Registry

TRAILER = "Gerhard-Rebuild"

UP_TO_DATE = "'gerhard rebuild --commit' brings them up to date (the next registration does too)"


def rebuilt(root: Path) -> dict[str, str]:
    """Every derived file as the work tree must hold it (off the default branch: as the branch holds it)."""
    program = store.load_program(root)
    records = queries.all_records(root)
    files, _ = expected_files(root, program, records)
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


def refreshed(root: Path) -> tuple[dict[str, str], str]:
    """The default branch's refresh: the files it changes, and what it folded in, in words ('' when the
    aggregates hold everything already). Off the default branch, a UserError."""
    if not on_default_branch(root):
        raise UserError(
            f"--refresh folds merged runs into the default branch's aggregates, and this is {branch_note(root)}: "
            "run it there (the CI workflow's step does), or 'gerhard rebuild' here"
        )
    program = store.load_program(root)
    found = pending_in(root, store.load_status(root), lambda rel: store.read_text(root, rel))
    if not found.stale and store.load_status(root) is not None:
        return {}, ""
    done = refresh(root, program)
    return (rebuilt(root) if done is None else done.files), stale_note(found) or "the first runs"


def commit_rebuilt(
    registry: Registry, files: dict[str, str], merged: str | None = None
) -> tuple[list[str], str | None]:
    """One commit of the rebuilt files that differ from HEAD: those files and the commit (none: no
    commit). `merged`: a refresh's note of what it folded in (its subject says so)."""
    stale = differ_from_head(registry.root, files)
    if not stale:
        return [], None
    files_word = f"{len(stale)} derived file{'s' if len(stale) != 1 else ''}"
    subject = f"rebuild {files_word} from {layout.PROGRAM}, state/runs/ and {layout.DECISIONS_DIR}/"
    if merged:
        subject = f"refresh {files_word}: fold in the {merged} merged"
    body = "\n".join(f"- {rel}" for rel in stale)
    runs = len(registry.pending.records) + int((registry.stored_status or {}).get("run_count") or 0)
    message = f"{subject}\n\n{body}\n\n{TRAILER}: {runs} run{'s' if runs != 1 else ''}\n"
    return stale, registry.commit({rel: files[rel].encode() for rel in stale}, message)
