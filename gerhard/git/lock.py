"""The registry lock: one registration at a time per repository (released if the process dies).

It is re-entrant within a thread: `gerhard rebase` and `register --push` hold it for their whole
rewrite, and each registration they make takes it again inside. On POSIX it is a `flock` on
`<git common dir>/gerhard.lock` taken here (the lock `filelock` takes there too, so both agree),
which spares every registration filelock's import; elsewhere filelock takes it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gerhard.errors import UserError
from gerhard.git import gitrepo

LOCK_TIMEOUT_S = 60.0
_HELD = threading.local()  # lock path -> how many times this thread holds it


@contextmanager
def registry_lock(root: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    path = gitrepo.git_dir(root) / "gerhard.lock"
    held: dict[Path, int] = _HELD.__dict__.setdefault("counts", {})
    if held.get(path):
        held[path] += 1
        try:
            yield
        finally:
            held[path] -= 1
        return
    try:
        release = _acquire(path, timeout)
    except TimeoutError:
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
        release()


def _acquire(path: Path, timeout: float) -> Callable[[], None]:
    """Take the lock on path within timeout seconds (TimeoutError otherwise); returns its release."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return _acquire_with_filelock(path, timeout)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise TimeoutError(path) from None
            time.sleep(0.05)
        except BaseException:
            os.close(fd)
            raise

    def release() -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    return release


def _acquire_with_filelock(path: Path, timeout: float) -> Callable[[], None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise TimeoutError(path) from None
    return lock.release
