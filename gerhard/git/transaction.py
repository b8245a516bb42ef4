"""One commit of exactly these files on HEAD, crash-safe, the user's own work left alone.

    lock index → check → journal the plan → write the work tree (with backups) → hash blobs as
    `git add` would → trees → hooks → commit (signed where git signs) → prepare the index →
    journal the commit → update-ref (THE COMMIT POINT) → commit the index → clear the journal

Everything that can fail (a read-only folder, a full disk, a folder where a file goes, a hook)
fails before the commit point and is undone. After it only two renames are left; if the process
dies there, the journal lets the next gerhard command finish the job (gerhard.git.journal).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from gerhard import layout
from gerhard.errors import GitError
from gerhard.git import githooks, gitrepo, journal, rewrite

CRASH_ENV = "GERHARD_TEST_CRASH_AT"  # tests only: "STEP" or "STEP:INT" kills the process at STEP


def checkpoint(step: str) -> None:
    """Where the crash tests stop a registration (SIGKILL, or SIGINT for Ctrl-C)."""
    want = os.environ.get(CRASH_ENV)
    if want and want.split(":")[0] == step:
        os.kill(os.getpid(), signal.SIGINT if want.endswith(":INT") else signal.SIGKILL)


def commit_files(root: Path, files: dict[str, bytes], message: str, verify: bool = True) -> str:
    """One commit of exactly these files on top of HEAD, then the same files in the work tree and index."""
    repo = gitrepo.info(root)
    head = gitrepo.head(root)
    gitrepo.check_committable(root, head)
    trees = gitrepo.read_trees(root, head.sha, gitrepo.parent_dirs(list(files)))
    with terminate_as_interrupt():
        txn = journal.begin(repo, message.splitlines()[0])
        try:
            checkpoint("locked")
            existed, old = check_untouched(root, trees, files)
            check_space(root, files)
            txn.save(
                ref=head.ref,
                old=head.sha,
                paths=[[rel, existed[rel], gitrepo.blob_sha(data, repo.object_format)] for rel, data in files.items()],
                old_blobs=old,
                dirs=journal.created_dirs(root, list(files)),
            )
            checkpoint("planned")
            write_worktree(txn, files, existed)
            checkpoint("worktree")
            blobs = dict(zip(files, gitrepo.hash_paths(root, list(files)), strict=True))
            tree = gitrepo.write_tree(root, trees, blobs)
            message = githooks.run_commit_hooks(root, tree, message, verify, txn.dir, txn.nonce, checkpoint)
            check_unchanged_by_hooks(root, files)
            commit = gitrepo.commit_tree(
                root, tree, head.sha, message, sign=gitrepo.config_bool(root, "commit.gpgSign")
            )
            journal.prepare_index(txn, list(blobs))
            txn.save(commit=commit, blobs=blobs)
            checkpoint("prepared")
            # HEAD as the trees were read, under the lock (a `git commit` moves HEAD only while it holds it):
            # the index is swapped only for a ref update that will land, so no commit beside ever reads it
            # with the old HEAD and commits the registration's files as its own.
            if gitrepo.ref_value(root, head.ref) != head.sha:
                raise GitError(
                    f"{head.ref} moved while registering (another commit or registration?): run the command again"
                )
            journal.swap_index(txn)  # before the ref: a `git commit` running beside must not see new HEAD, old index
            checkpoint("swapped")
            gitrepo.update_ref(root, head.ref, commit, head.sha, message.splitlines()[0])  # the commit point
        except BaseException as e:
            _settle_after_failure(repo, e)
            raise
        _finish(txn)
    githooks.run_hook(root, "post-commit", [])
    return commit


def _finish(txn: journal.Txn) -> None:
    """After the commit point (the index is in place since swap_index): the lock released, the journal cleared."""
    try:
        checkpoint("committed")
        journal.finish(txn)
    except BaseException as e:
        _settle_after_failure(txn.repo, e)
        raise


def _settle_after_failure(repo: gitrepo.RepoInfo, cause: BaseException) -> None:
    """Undo (before the commit point) or finish (after it) in this process; if even that fails, the
    journal stays for `gerhard doctor`. After Ctrl-C, says on stderr which way it went (an error's
    own one line says it all: nothing was registered)."""
    try:
        done = journal.settle(repo, in_process=True)
        # Inside a rebase, the rebase says what became of the whole (this registration was one step).
        if done and isinstance(cause, KeyboardInterrupt) and not rewrite.ACTIVE:
            print(f"gerhard: {done}", file=sys.stderr)
    except Exception as e:  # noqa: BLE001 - the original error is the one to report
        raise GitError(
            f"a registration stopped and could not be settled ({e}): run 'gerhard doctor' to finish or undo it"
        ) from None


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """`kill` (SIGTERM) during a transaction undoes or finishes it like Ctrl-C, instead of stopping mid-way."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals stay as they are
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def write_worktree(txn: journal.Txn, files: dict[str, bytes], existed: dict[str, bool]) -> None:
    try:
        journal.write_worktree(txn, files, existed)
    except OSError as e:
        rel = _relative(txn.repo.root, e.filename) if e.filename else "a file"
        raise GitError(f"cannot write {rel} ({e.strerror}): {_what_to_do(e)}, then register again") from None


def _relative(root: Path, filename: str | bytes) -> str:
    path = Path(os.fsdecode(filename))
    with contextlib.suppress(ValueError):
        path = path.relative_to(root)
    name = str(path)
    return name.split("/.", 1)[0] + "/" if "/." in name and name.endswith(journal.TMP_SUFFIX) else name


def _what_to_do(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return "free some disk space"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "make the repository's folders writable (chmod u+w) or register from a writable clone"
    if e.errno == errno.EISDIR:
        return "a folder is where gerhard writes a file: move it away"
    if e.errno == errno.ENOTDIR:
        return "a file is where gerhard writes a folder: move it away"
    return "fix the file system problem"


def check_space(root: Path, files: dict[str, bytes]) -> None:
    need = sum(len(d) for d in files.values()) * 2 + (1 << 20)  # the files and their blobs, and a margin
    free = shutil.disk_usage(root).free
    if free < need:
        raise GitError(
            f"not enough disk space in {root}: the registration needs about {need >> 20} MiB, "
            f"{free >> 20} MiB are free; free some space, then register again"
        )


def check_untouched(
    root: Path, trees: dict[str, gitrepo.Tree], files: dict[str, bytes]
) -> tuple[dict[str, bool], dict[str, str | None]]:
    """Refuse when the user has their own staged or unstaged changes in a path gerhard must write,
    or when the program the run is judged by is not the committed one. Returns which paths exist in
    the work tree and each path's blob in HEAD (for the journal)."""

    def in_head(rel: str) -> str | None:
        parent, _, name = rel.rpartition("/")
        return trees[parent].get(name, (None, ""))[1] or None

    fmt = gitrepo.info(root).object_format
    paths = [*files, layout.PROGRAM]
    new = {rel: gitrepo.blob_sha(data, fmt) for rel, data in files.items()}
    for rel in paths:
        check_shape(root, rel)
    on_disk = gitrepo.worktree_blobs(root, paths, {rel: {in_head(rel), new.get(rel)} for rel in paths})
    if in_head(layout.PROGRAM) != on_disk[layout.PROGRAM]:
        raise GitError(
            f"{layout.PROGRAM} has changes that are not committed: commit it first, so runs are "
            "judged by the gates everyone sees"
        )
    staged = gitrepo.index_entries(root, paths)
    for rel in paths:
        if rel in files and on_disk[rel] not in (None, in_head(rel), new[rel]):
            if in_head(rel) is None:
                raise GitError(
                    f"{rel} exists but is not in git (left from an earlier attempt?): move it away, then register again"
                )
            raise GitError(f"{rel} has changes that are not committed: commit or stash them, then register again")
        if staged.get(rel) != in_head(rel):  # a staged edit, or a staged deletion (git rm)
            raise GitError(f"{rel} has staged changes: commit or unstage them, then register again")
    return {rel: on_disk[rel] is not None for rel in files}, {rel: in_head(rel) for rel in files}


def check_shape(root: Path, rel: str) -> None:
    """A file where gerhard needs a folder, or a folder where it writes a file."""
    blocker = next((p for p in reversed(PurePosixPath(rel).parents) if (root / p).is_file()), None)
    if blocker is not None:
        raise GitError(f"{blocker} is a file where gerhard writes a folder: move it away, then register again")
    if (root / rel).is_dir():
        raise GitError(f"{rel} is a folder where gerhard writes a file: move it away, then register again")


def check_unchanged_by_hooks(root: Path, files: dict[str, bytes]) -> None:
    """A hook that rewrites a file gerhard wrote (a formatter, an end-of-file fixer) would leave the
    work tree differing from the commit: refuse, as the commit would not hold what the hook wanted."""
    for rel, data in files.items():
        try:
            same = (root / rel).read_bytes() == data
        except OSError:
            same = False
        if not same:
            raise GitError(
                f"a commit hook changed {rel}, which gerhard wrote for this registration: make the hook leave "
                "gerhard's files alone (exclude state/, reports/, outputs/ and docs/ops/), or pass --no-verify"
            )
