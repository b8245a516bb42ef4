"""The registry lock: one registration at a time per repository (released if the process dies)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gerhard.errors import UserError
from gerhard.git import gitrepo

LOCK_TIMEOUT_S = 60.0


@contextmanager
def registry_lock(root: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    from filelock import FileLock, Timeout

    path = gitrepo.git_dir(root) / "gerhard.lock"
    lock = FileLock(str(path), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise UserError(
            f"another gerhard command has held {path} for {timeout:.0f}s: wait for it to finish and try again"
        ) from None
    except OSError as e:
        raise UserError(
            f"cannot create the registry lock {path} ({e.strerror}): is the repository read-only? "
            "register from a writable clone"
        ) from None
    try:
        yield
    finally:
        lock.release()
