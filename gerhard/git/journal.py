"""The transaction journal: git's index lock held, and a record in the git dir of what is changing.

A transaction takes `index.lock` the way git does (created exclusively, so concurrent git commands
fail instead of interleaving) and keeps its journal in `<git dir>/gerhard-txn/`: the lock's nonce,
the paths it writes with their old state, hard-linked backups of the files it replaces, and, just
before the commit point, the new commit and blob ids. Whoever finds a journal later (the next
gerhard command, `gerhard doctor`, the pre-commit hook) settles it by the branch alone: if the
branch holds the new commit, roll forward (index and work tree to the commit); otherwise roll
back (the files restored, the lock released). No state is left where `git commit` would revert a
registration.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gerhard.errors import GitError
from gerhard.files import TMP_SUFFIX, atomic_write
from gerhard.git import gitrepo, rewrite
from gerhard.git.lock import registry_lock
from gerhard.git.rewrite import rewrite_dir

TXN_DIR = "gerhard-txn"
TRASH_DIR = "gerhard-trash"  # finished journals, deleted in the background (see `discard`)


@dataclass
class Txn:
    repo: gitrepo.RepoInfo
    nonce: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return txn_dir(self.repo)

    def backup(self, n: int) -> Path:
        return self.dir / "backup" / str(n)

    @property
    def prepared_index(self) -> Path:
        return self.dir / "index"

    def save(self, **changes: Any) -> None:
        self.data.update(changes)
        tmp = self.dir / "journal.json.tmp"
        tmp.write_text(json.dumps(self.data), encoding="utf-8")
        os.replace(tmp, self.dir / "journal.json")


def txn_dir(repo: gitrepo.RepoInfo) -> Path:
    return repo.git_dir / TXN_DIR


def begin(repo: gitrepo.RepoInfo, subject: str) -> Txn:
    """Take git's index lock for this transaction (the caller holds the registry lock). The lock
    file holds a nonce (whose lock it is) and the subject (what it was for)."""
    nonce = f"gerhard-txn {os.getpid()} {secrets.token_hex(8)}\n"
    d = txn_dir(repo)
    try:
        d.mkdir()
        (d / "lock").write_text(nonce + subject + "\n", encoding="utf-8")
    except FileExistsError:
        raise GitError(f"{d} is left from an interrupted registration: run 'gerhard doctor', then try again") from None
    except OSError as e:
        shutil.rmtree(d, ignore_errors=True)
        raise GitError(f"cannot write in {repo.git_dir} ({e.strerror}): is the repository read-only?") from None
    try:
        _create_lock(d / "lock", repo.index_lock, nonce + subject + "\n")
    except BaseException:
        shutil.rmtree(d, ignore_errors=True)
        raise
    return Txn(repo, nonce, {"subject": subject})


def _create_lock(source: Path, lock: Path, nonce: str) -> None:
    # A hard link makes the lock appear with its content at once; without hard links (some mounted
    # drives), an exclusive create and a write.
    try:
        os.link(source, lock)
        return
    except FileExistsError:
        raise busy_error_for(lock) from None
    except OSError:
        pass
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise busy_error_for(lock) from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(nonce)


def busy_error_for(lock: Path) -> GitError:
    shown = next(
        (str(lock.relative_to(p)) for p in (Path.cwd(), *lock.parents[1:]) if lock.is_relative_to(p)), str(lock)
    )
    return GitError(
        f"another git process is running here ({shown} exists): wait for it, or if no git command is running, "
        "run 'gerhard doctor' (or remove the lock file), then try again"
    )


def lock_is_ours(repo: gitrepo.RepoInfo, nonce: str | None) -> bool:
    if not nonce:
        return False
    try:
        with open(repo.index_lock, "rb") as f:
            return f.read(len(nonce.encode())) == nonce.encode()
    except OSError:
        return False


def release_lock(repo: gitrepo.RepoInfo, nonce: str | None) -> None:
    if lock_is_ours(repo, nonce):
        repo.index_lock.unlink(missing_ok=True)


def write_worktree(txn: Txn, files: dict[str, bytes], existed: dict[str, bool]) -> None:
    """Each file written atomically after a hard-linked backup of what it replaces (undo = rename back)."""
    (txn.dir / "backup").mkdir()
    root = txn.repo.root
    for n, (rel, data) in enumerate(files.items()):
        try:
            if existed[rel]:
                _link_or_copy(root / rel, txn.backup(n))
            atomic_write(root / rel, data)
        except OSError as e:
            if e.filename is None or str(e.filename).endswith(TMP_SUFFIX):  # name the file, not its temp
                e.filename = str(root / rel)
            raise


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def created_dirs(root: Path, paths: list[str]) -> list[str]:
    """The folders writing these paths creates (outermost first), so an undo can remove them."""
    out: list[str] = []
    for rel in paths:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in out and not (root / d).exists():
                out.append(d)
    return out


def load(repo: gitrepo.RepoInfo) -> Txn | None:
    d = txn_dir(repo)
    if not d.is_dir():
        return None
    try:
        nonce, _, subject = (d / "lock").read_text(encoding="utf-8").partition("\n")
    except (OSError, UnicodeDecodeError):
        nonce, subject = "", ""
    try:
        data = json.loads((d / "journal.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}  # stopped before the plan was written: nothing in the work tree changed yet
    data = data if isinstance(data, dict) else {}
    return Txn(repo, nonce + "\n" if nonce else "", {"subject": subject.strip() or "a registration", **data})


def roll_back(txn: Txn, in_process: bool = False) -> list[str]:
    """Undo everything before the commit point: files restored from backups, new ones removed. Found
    later, a new file that changed since is left (someone else's); in process, only our own hooks
    can have touched it."""
    root, notes = txn.repo.root, []
    for n, (rel, existed, new_blob) in enumerate(txn.data.get("paths", [])):
        path, backup = root / rel, txn.backup(n)
        _remove_temp_files(path)
        if backup.exists():
            os.replace(backup, path)
        elif not existed and path.is_file():
            if in_process or gitrepo.blob_sha(path.read_bytes(), txn.repo.object_format) == new_blob:
                path.unlink()
            else:
                notes.append(f"left {rel} in place: it changed after the interrupted registration wrote it")
    for d in reversed(txn.data.get("dirs", [])):
        with contextlib.suppress(OSError):  # not empty: something else is in it now
            (root / d).rmdir()
    _unswap_index(txn)
    finish(txn)
    return notes


def _remove_temp_files(path: Path) -> None:
    if path.parent.is_dir():
        for tmp in path.parent.glob(f".{path.name}.*{TMP_SUFFIX}"):
            tmp.unlink(missing_ok=True)


def roll_forward(txn: Txn) -> None:
    """Finish after the commit point: every file as committed, the index holding the new blobs."""
    root, commit = txn.repo.root, txn.data["commit"]
    blobs: dict[str, str] = txn.data["blobs"]
    for rel, _existed, _new in txn.data["paths"]:
        _remove_temp_files(root / rel)
        if not (root / rel).is_file():  # a crash stopped before it was written: write it from the commit
            atomic_write(root / rel, gitrepo.cat_blob(root, commit, rel))
    if lock_is_ours(txn.repo, txn.nonce) and txn.prepared_index.is_file():
        os.replace(txn.prepared_index, txn.repo.index)  # the index was locked since it was prepared
    elif lock_is_ours(txn.repo, txn.nonce) and txn.data.get("index_swapped"):
        pass  # swap_index put it in place before the commit point, under the lock
    else:
        _merge_into_index(txn, blobs)
    finish(txn)


def _merge_into_index(txn: Txn, blobs: dict[str, str]) -> None:
    """The index changed since (its lock was removed by hand): set our paths where nobody staged others."""
    repo = txn.repo
    if repo.index_lock.exists() and not lock_is_ours(repo, txn.nonce):
        raise busy_error_for(repo.index_lock)
    if not lock_is_ours(repo, txn.nonce):
        _create_lock(txn.dir / "lock", repo.index_lock, txn.nonce)
    old = {rel: old_blob for rel, old_blob in txn.data.get("old_blobs", {}).items()}
    staged = gitrepo.index_entries(repo.root, list(blobs))
    entries = {rel: sha for rel, sha in blobs.items() if staged.get(rel) in (old.get(rel), sha)}
    on_disk = gitrepo.worktree_blobs(repo.root, list(entries), {rel: {sha} for rel, sha in entries.items()})
    prepare_index(txn, [rel for rel, sha in entries.items() if on_disk[rel] == sha])  # never the user's edits
    os.replace(txn.prepared_index, repo.index)


def prepare_index(txn: Txn, paths: list[str]) -> None:
    """The user's index plus these entries, in the journal folder (the lock keeps the source still)."""
    repo, target = txn.repo, txn.prepared_index
    target.unlink(missing_ok=True)
    if repo.index.is_file():
        _link_or_copy(repo.index, target)  # git writes the result by rename: the user's file is untouched
    gitrepo.add_to_index(repo.root, target, paths)


def swap_index(txn: Txn) -> None:
    """The prepared index into place before the commit point, the user's kept in the journal for an undo.
    `git commit` reads HEAD, then the index, and only then takes the lock: with the index swapped after
    the ref, a commit that read between the two committed the old index on top of the registration (it
    reverted it; seen once in twenty registrations racing a `git add`/`git commit` loop). Swapped first, a
    commit that read the new index with the old HEAD fails on the moved HEAD."""
    repo, before = txn.repo, txn.dir / "index.before"
    before.unlink(missing_ok=True)
    had_index = repo.index.is_file()
    if had_index:
        _link_or_copy(repo.index, before)
    txn.save(index_swapped=True, had_index=had_index)
    os.replace(txn.prepared_index, repo.index)


def _unswap_index(txn: Txn) -> None:
    """The user's index back, if swap_index had put the prepared one in its place (or begun to)."""
    if not txn.data.get("index_swapped"):
        return
    before = txn.dir / "index.before"
    if before.is_file():
        os.replace(before, txn.repo.index)
    elif not txn.data.get("had_index"):
        txn.repo.index.unlink(missing_ok=True)


def finish(txn: Txn) -> None:
    release_lock(txn.repo, txn.nonce)
    discard(txn.repo, txn.dir)


def discard(repo: gitrepo.RepoInfo, folder: Path) -> None:
    """A finished journal out of the way at once: one rename into <git dir>/gerhard-trash/ (after it no
    journal is left to find, exactly as after deleting it), then the trash emptied without waiting
    (deleting the folder took a registration 15-35 ms): by an `rm` of its own, which outlives this
    process (a command ends milliseconds after its commit, and a thread would end with it: the trash
    grew by a journal, an index copy included, per registration), else by a thread."""
    trash = repo.git_dir / TRASH_DIR
    try:
        trash.mkdir(exist_ok=True)
        os.rename(folder, trash / f"{os.getpid()}-{secrets.token_hex(4)}")
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return
    if not _empty_detached(trash):
        threading.Thread(target=_empty, args=(trash,), name="gerhard-trash", daemon=True).start()


TRASH_BATCH = 1000  # folders one `rm` deletes (its command line stays short); the rest go next time


def _empty_detached(trash: Path) -> bool:
    """Start `rm -rf` on what is in the trash, in a session of its own, not waited for; False where
    there is no `rm` (not POSIX) or it cannot start."""
    rm = "/bin/rm" if os.path.exists("/bin/rm") else shutil.which("rm") if os.name == "posix" else None
    if rm is None:
        return False
    try:
        with os.scandir(trash) as entries:
            names = [entry.path for entry in itertools.islice(entries, TRASH_BATCH)]
        if names:
            null = subprocess.DEVNULL
            subprocess.Popen(  # noqa: S603 - a fixed program on paths gerhard made
                [rm, "-rf", "--", *names], stdin=null, stdout=null, stderr=null, start_new_session=True
            )
    except OSError:
        return False
    return True


def _empty(trash: Path) -> None:
    """Delete what is in the trash (not the folder itself: another process may be moving a journal into it)."""
    with contextlib.suppress(OSError), os.scandir(trash) as entries:
        for entry in list(entries):
            shutil.rmtree(entry.path, ignore_errors=True)


def settle(repo: gitrepo.RepoInfo, in_process: bool = False) -> str | None:
    """Roll an interrupted transaction forward or back; what was done, or None when there was none."""
    txn = load(repo)
    if txn is None:
        return None
    subject = txn.data.get("subject", "a registration")
    commit: str | None = txn.data.get("commit")
    current = gitrepo.ref_value(repo.root, txn.data["ref"]) if commit else None
    if commit and current and (current == commit or gitrepo.is_ancestor(repo.root, commit, current)):
        roll_forward(txn)
        return (
            f"finished an interrupted transaction ({subject}): its commit {commit[:12]} is on the branch; "
            "work tree and index now match it"
        )
    notes = roll_back(txn, in_process)
    # Inside a rebase (or a register --push), the repository is as before only once that is undone too.
    as_before = "" if rewrite_dir(repo).exists() else ": the repository is as before"
    return f"undid an interrupted transaction ({subject}) that had not been committed{as_before}" + (
        "; " + "; ".join(notes) if notes else ""
    )


def settle_all(repo: gitrepo.RepoInfo) -> list[str]:
    """An interrupted registration settled, then an interrupted rebase (a registration may be one of its
    steps); what was done. The caller holds the registry lock."""
    return [done for done in (settle(repo), rewrite.settle(repo)) if done]


def settle_pending(root: Path, timeout: float = 10.0) -> str | None:
    """What every gerhard command does first: settle a transaction a crash left behind (cheap when none)."""
    repo = gitrepo.info(root)
    if not txn_dir(repo).exists() and not rewrite.pending(repo):
        return None
    with registry_lock(root, timeout=timeout):  # a live transaction holds it: wait for it to end
        return settle_locked(root)


def settle_locked(root: Path) -> str | None:
    """settle_pending for a caller that holds the registry lock; says on stderr what it did."""
    done = settle_all(gitrepo.info(root))
    for line in done:
        print(f"gerhard: {line}", file=sys.stderr)
    return "\n".join(done) or None
