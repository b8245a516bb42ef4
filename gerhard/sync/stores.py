"""The two ends of a sync: outputs/ here and the remote root, each a folder of run folders.

A local or mounted path (a Drive folder is one) is read and written with os calls: the same
operations without fsspec's per-call layers, which made a no-op push of thousands of small files
several times slower than `rsync -a` (benchmarks/bench_sync.py); fsspec is not even imported for
one. Any other URL (s3://, gs://, ...) goes through fsspec. This module lists, opens, hashes and
probes a side, and turns an object store's missing credentials or unreachable endpoint into one
line that says what to do; what to copy, and how, is gerhard.sync.transfer's.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from gerhard import layout
from gerhard.errors import UserError
from gerhard.registry.heavy import CHUNK, TMP_SUFFIX

# Object stores whose uploads appear whole when completed, or not at all: written to the final key.
ATOMIC_UPLOADS = frozenset({"s3", "s3a", "gs", "gcs"})
LOCAL_PROTOCOLS = frozenset({"file", "local"})


class FileInfo(NamedTuple):  # tuples: a no-op push of thousands of files makes one per file, twice
    size: int
    mtime: float


@dataclass(frozen=True)
class Side:
    """One end of a sync: the folder that holds the run folders, on an fsspec filesystem or, for a
    local or mounted path (fs None), reached with os calls."""

    fs: Any
    base: str
    label: str  # for messages: "outputs" or the remote URL

    @property
    def local(self) -> bool:
        return self.fs is None

    @property
    def atomic_uploads(self) -> bool:
        return not self.local and bool(ATOMIC_UPLOADS.intersection(_protocols(self.fs)))

    def run_dir(self, run_id: str) -> str:
        return f"{self.base.rstrip('/')}/{run_id}"

    def listing(self, run_id: str) -> dict[str, FileInfo]:
        """Every file under the run folder (temporary copies left out), by '/'-separated relative path."""
        folder = self.run_dir(run_id)
        if self.local:
            return local_listing(folder)
        self.fs.invalidate_cache(folder)  # object stores cache listings; another process may have written
        try:
            found = self.fs.find(folder, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        prefix = self.fs._strip_protocol(folder).rstrip("/") + "/"
        out = {}
        for path, info in found.items():
            rel = path[len(prefix) :] if path.startswith(prefix) else path
            if info.get("type", "file") == "file" and not rel.endswith(TMP_SUFFIX):
                out[rel] = FileInfo(int(info["size"]), mtime_of(info))
        return out

    def lookup(self, run_id: str, names: Iterable[str]) -> dict[str, FileInfo]:
        """The files of the run folder among `names` (the listing's, for an object store: one request).
        On a file system one lstat a name, without reading the folder: the other side's listing
        already says which names matter (a no-op push of 1,000 runs: 22 ms, listing them 34 ms)."""
        if not self.local:
            return self.listing(run_id)
        folder, out = self.run_dir(run_id) + "/", {}
        for rel in names:
            try:
                st = os.lstat(folder + rel)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISREG(st.st_mode) and not rel.endswith(TMP_SUFFIX):  # as local_listing counts files
                out[rel] = FileInfo(st.st_size, st.st_mtime)
        return out

    def open(self, path: str, mode: str) -> Any:
        return open(path, mode) if self.local else self.fs.open(path, mode)  # noqa: SIM115 (the caller closes)

    def size(self, path: str) -> int:
        return os.stat(path).st_size if self.local else int(self.fs.info(path)["size"])

    def exists(self, path: str) -> bool:
        return os.path.exists(path) if self.local else bool(self.fs.exists(path))

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True) if self.local else self.fs.makedirs(path, exist_ok=True)

    def move(self, source: str, dest: str) -> None:
        os.replace(source, dest) if self.local else self.fs.mv(source, dest)

    def remove(self, path: str) -> None:
        os.unlink(path) if self.local else self.fs.rm(path)

    def sha256(self, run_id: str, rel: str) -> str:
        return sha256_at(self, f"{self.run_dir(run_id)}/{rel}")


def local_listing(folder: str) -> dict[str, FileInfo]:
    """A local run folder's files by scandir (symlinks are not followed nor listed)."""
    out: dict[str, FileInfo] = {}
    pending = [("", folder)]
    while pending:
        prefix, path = pending.pop()
        try:
            entries = os.scandir(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    pending.append((f"{prefix}{e.name}/", e.path))
                elif e.is_file(follow_symlinks=False) and not e.name.endswith(TMP_SUFFIX):
                    st = e.stat(follow_symlinks=False)
                    out[prefix + e.name] = FileInfo(st.st_size, st.st_mtime)
    return out


@contextlib.contextmanager
def writing(side: Side, path: str) -> Iterator[bool]:
    """Hold a lock on a local temporary file from before it is written until it is moved into place
    (the lock goes with the process, however it ends): `gerhard doctor` leaves a held one to its
    writer and removes any other. Yields False when another process holds it (a second sync)."""
    if not side.local or sys.platform == "win32":  # no advisory locks: doctor takes any for a leftover
        yield True
        return
    import fcntl

    with open(path, "ab") as held:
        try:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def being_written(path: Path) -> bool:
    """Whether a running process holds the lock `writing` takes on this temporary file."""
    if sys.platform == "win32":
        return False
    import fcntl

    try:
        with open(path, "rb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # gone meanwhile, or unreadable: not another writer's
        return False
    return False


def sha256_at(side: Side, path: str) -> str:
    h = hashlib.sha256()
    with side.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _protocols(fs: Any) -> tuple[str, ...]:
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)


def mtime_of(info: dict[str, Any]) -> float:
    """A listing entry's modification time, as local files, S3 and GCS spell it."""
    import datetime as dt  # object stores only: a path's listing never gets here

    for key in ("mtime", "LastModified", "last_modified", "updated", "modified"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, dt.datetime):
            return value.timestamp()
        if isinstance(value, str):
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return 0.0


def open_side(url: str) -> Side:
    """A remote root: a local or mounted path (also file://...), or any URL fsspec knows."""
    if "://" not in url and "::" not in url:
        return Side(None, os.path.abspath(os.path.expanduser(url)), url)
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        extra = " (pip install 'gerhard[s3]' or 'gerhard[gs]')" if isinstance(e, ImportError) else ""
        raise UserError(f"cannot open remote {url}: {str(e).splitlines()[0]}{extra}") from None
    if LOCAL_PROTOCOLS.issuperset(_protocols(fs)):
        return Side(None, path, url)
    return Side(fs, path, url)


def local_side(root: Path) -> Side:
    return Side(None, str((root / layout.OUTPUTS).resolve()), layout.OUTPUTS)


def check_writable(side: Side) -> None:
    """Refuse an unwritable remote before anything is copied (one probe file, removed)."""
    probe = f"{side.base.rstrip('/')}/.gerhard-probe{TMP_SUFFIX}"
    try:
        side.makedirs(side.base)
        with side.open(probe, "wb") as f:
            f.write(b"gerhard")
        side.remove(probe)
    except OSError as e:
        raise UserError(
            f"remote {side.label} is not writable ({e.strerror or e}): check the path, its permissions or credentials"
        ) from None


_CREDENTIALS = {
    "s3": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials",
    "gs": "set GOOGLE_APPLICATION_CREDENTIALS to a service-account JSON file, or run "
    "'gcloud auth application-default login'",
}
_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"}
_UNREACHABLE = {"EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError", "ServerTimeoutError"}


@contextlib.contextmanager
def remote_errors(side: Side) -> Iterator[None]:
    """An object store's missing credentials or unreachable endpoint: one line that says what to do."""
    try:
        yield
    except Exception as e:
        names = {t.__name__ for t in type(e).__mro__}
        if names & _NO_CREDENTIALS:
            scheme = side.label.split("://", 1)[0] if "://" in side.label else "s3"
            fix = _CREDENTIALS.get(scheme, "configure the credentials of its fsspec backend")
            raise UserError(f"no credentials for {side.label}: {fix}") from None
        if names & _UNREACHABLE:
            raise UserError(f"remote {side.label} cannot be reached ({e}): check the URL and the network") from None
        raise
