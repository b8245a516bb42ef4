"""The commit of a transaction: exactly these files as one commit on HEAD, the user's work left alone."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from gerhard import gitrepo, state
from gerhard.errors import GitError


def check_untouched(root: Path, trees: dict[str, gitrepo.TreeEntries], files: dict[str, bytes]) -> None:
    """Refuse when the user has their own staged or unstaged changes in a path gerhard must write,
    or when the program the run is judged by is not the committed one."""

    def in_head(rel: str) -> str | None:
        parent, _, name = rel.rpartition("/")
        return trees[parent].get(name, (None, ""))[1] or None

    if gitrepo.index_lock_path(root).exists():
        raise GitError(
            "another git process is running here (.git/index.lock exists): wait for it, "
            "or remove the lock file if no git command is running"
        )
    paths = [*files, state.PROGRAM]
    new = {rel: gitrepo.blob_sha(data) for rel, data in files.items()}
    on_disk = gitrepo.worktree_blobs(root, paths, {rel: {in_head(rel), new.get(rel)} for rel in paths})
    if in_head(state.PROGRAM) != on_disk[state.PROGRAM]:
        raise GitError(
            f"{state.PROGRAM} has changes that are not committed: commit it first, so runs are "
            "judged by the gates everyone sees"
        )
    staged = gitrepo.index_entries(root, paths)
    for rel in paths:
        blocker = next((p for p in PurePosixPath(rel).parents if (root / p).is_file()), None)
        if blocker is not None:
            raise GitError(f"{blocker} is a file where gerhard writes a folder: move it away, then register again")
        if rel in files and on_disk[rel] not in (None, in_head(rel), new[rel]):
            if in_head(rel) is None:
                raise GitError(
                    f"{rel} exists but is not in git (left from an earlier attempt?): move it away, then register again"
                )
            raise GitError(f"{rel} has changes that are not committed: commit or stash them, then register again")
        if staged.get(rel) != in_head(rel):  # a staged edit, or a staged deletion (git rm)
            raise GitError(f"{rel} has staged changes: commit or unstage them, then register again")


def commit_files(root: Path, files: dict[str, bytes], message: str) -> str:
    """One commit of exactly these files on top of HEAD, then the same files in the work tree and index."""
    head = gitrepo.head(root)
    trees = gitrepo.read_trees(root, head.sha, gitrepo.parent_dirs(list(files)))
    check_untouched(root, trees, files)
    tree, blobs = gitrepo.write_tree(root, trees, files)
    commit = gitrepo.commit_tree(root, tree, head.sha, message)
    gitrepo.update_ref(root, head.ref, commit, head.sha, message.splitlines()[0])  # the commit point
    for rel, data in files.items():
        state.atomic_write(root / rel, data)
    gitrepo.stage(root, blobs)
    return commit
