"""The registry lock: one registration at a time per repository (released if the process dies).

It is re-entrant within a thread: `gerhard rebase` and `register --push` hold it for their whole
rewrite, and each registration they make takes it again inside.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gerhard.errors import UserError
from gerhard.git import gitrepo

LOCK_TIMEOUT_S = 60.0
_HELD = threading.local()  # lock path -> how many times this thread holds it


@contextmanager
def registry_lock(root: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    from filelock import FileLock, Timeout

    path = gitrepo.git_dir(root) / "gerhard.lock"
    held: dict[Path, int] = _HELD.__dict__.setdefault("counts", {})
    if held.get(path):
        held[path] += 1
        try:
            yield
        finally:
            held[path] -= 1
        return
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
    held[path] = 1
    try:
        yield
    finally:
        held[path] = 0
        lock.release()
