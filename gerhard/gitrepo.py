"""Everything that talks to git, in one place.

Registration commits without touching the user's index or work tree: new blobs and the
changed trees are written straight into the object database (gitdb, from GitPython),
`git commit-tree` makes the commit and `git update-ref NEW OLD` moves the branch as a
compare-and-swap. Only the paths gerhard wrote are then added to the user's index.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gerhard.errors import GitError

ZERO_SHA = "0" * 40
TREE_MODE, BLOB_MODE = "40000", "100644"


def run_git(root: Path, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
    proc = subprocess.run(["git", *args], cwd=root, input=input, capture_output=True)
    if check and proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return proc.stdout


def find_root(path: Path) -> Path:
    """The top of the git work tree containing path; a clear error when there is none."""
    path = Path(path)
    if not path.is_dir():
        raise GitError(f"{path} is not a directory: pass --repo with the path of your registry repository")
    args = ["git", "rev-parse", "--show-toplevel", "--git-common-dir", "--git-path", "index.lock"]
    proc = subprocess.run(args, cwd=path, capture_output=True)
    lines = proc.stdout.decode().splitlines()
    if proc.returncode != 0 or len(lines) != 3:
        raise GitError(f"{path} is not inside a git repository: run 'git init' there first or pass --repo")
    root = Path(lines[0])
    # One process answers what the lock, the object writer and the index check ask next.
    _GIT_PATHS[root] = ((path / lines[1]).resolve(), (path / lines[2]).resolve())
    return root


_GIT_PATHS: dict[Path, tuple[Path, Path]] = {}  # work tree -> (common git dir, index.lock path)


@dataclass(frozen=True)
class Head:
    ref: str  # refs/heads/<branch>, or HEAD when detached
    sha: str | None  # None on an unborn branch


def head(root: Path) -> Head:
    out = run_git(root, "rev-parse", "HEAD^{commit}", "--symbolic-full-name", "HEAD", check=False).split()
    if len(out) == 2:  # one git process in the common case; an unborn branch fails it
        return Head(out[1].decode(), out[0].decode())
    ref = run_git(root, "symbolic-ref", "-q", "HEAD", check=False).decode().strip() or "HEAD"
    sha = run_git(root, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False).decode().strip()
    return Head(ref, sha or None)


@functools.lru_cache(maxsize=64)
def git_dir(root: Path) -> Path:
    """The repository's (common) git directory; cached: the lock and the object writer both ask."""
    if root in _GIT_PATHS:
        return _GIT_PATHS[root][0]
    out = run_git(root, "rev-parse", "--git-common-dir").decode().strip()
    return (root / out).resolve()


def index_lock_path(root: Path) -> Path:
    """Where git's index lock for this work tree is (linked work trees have their own index)."""
    if root in _GIT_PATHS:
        return _GIT_PATHS[root][1]
    return root / run_git(root, "rev-parse", "--git-path", "index.lock").decode().strip()


def blob_sha(data: bytes) -> str:
    """The id git gives these bytes as a blob (without writing anything)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def worktree_blobs(root: Path, paths: list[str], known: dict[str, set[str | None]]) -> dict[str, str | None]:
    """path -> the blob id `git add` would store for the work-tree file (None when there is none).
    Raw bytes are hashed first; only a file whose raw hash is none of `known[path]` asks git, which
    applies eol conversion and clean filters (a core.autocrlf checkout holds CRLF text, LF blobs)."""
    shas = {rel: blob_sha((root / rel).read_bytes()) if (root / rel).is_file() else None for rel in paths}
    odd = [rel for rel, sha in shas.items() if sha is not None and sha not in known.get(rel, set())]
    if odd:
        out = run_git(root, "hash-object", "--stdin-paths", input="".join(f"{rel}\n" for rel in odd).encode())
        shas.update(zip(odd, out.decode().split(), strict=True))
    return shas


TreeEntries = dict[str, tuple[str, str]]  # name -> (mode, sha)


def read_trees(root: Path, commit: str | None, dirs: list[str]) -> dict[str, TreeEntries]:
    """The entries of each directory in one commit (empty when absent), with one git process."""
    if commit is None:
        return {d: {} for d in dirs}
    specs = "".join(f"{commit}:{d}\n" if d else f"{commit}^{{tree}}\n" for d in dirs)
    out = run_git(root, "cat-file", "--batch", input=specs.encode())
    trees: dict[str, TreeEntries] = {}
    pos = 0
    for d in dirs:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].split()
        pos = nl + 1
        if header[-1] == b"missing":
            trees[d] = {}
            continue
        size = int(header[2])
        body = out[pos : pos + size]
        pos += size + 1
        if header[1] != b"tree":
            raise GitError(f"{d} is a file in HEAD but gerhard needs a directory there: move it away")
        trees[d] = _parse_tree(body)
    return trees


_TREE_ENTRY = re.compile(rb"([0-7]+) ([^\0]+)\0(.{20})", re.DOTALL)  # mode SP name NUL sha (20 bytes)


def _parse_tree(body: bytes) -> TreeEntries:
    # A regex pass, not a byte loop: trees like outputs/ hold one entry per run.
    return {name.decode(): (mode.decode(), sha.hex()) for mode, name, sha in _TREE_ENTRY.findall(body)}


def _serialize_tree(entries: TreeEntries) -> bytes:
    # git orders a directory's name as if it ended in '/'; str order is UTF-8 byte order.
    names = sorted(entries, key=lambda n: n + "/" if entries[n][0] == TREE_MODE else n)
    return b"".join([f"{entries[n][0]} {n}\0".encode() + bytes.fromhex(entries[n][1]) for n in names])


class ObjectWriter:
    """Writes loose objects into the repository's object database."""

    def __init__(self, root: Path) -> None:
        from gitdb import LooseObjectDB

        self._db = LooseObjectDB(str(git_dir(root) / "objects"))

    def write(self, kind: bytes, data: bytes) -> str:
        from gitdb import IStream

        return self._db.store(IStream(kind, len(data), io.BytesIO(data))).hexsha.decode()


def parent_dirs(paths: list[str]) -> list[str]:
    dirs = {""}
    for p in paths:
        parts = p.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return sorted(dirs, key=lambda d: (d.count("/") if d else -1, d))


def write_tree(root: Path, trees: dict[str, TreeEntries], files: dict[str, bytes]) -> tuple[str, dict[str, str]]:
    """Write HEAD's tree (`trees`, from read_trees over parent_dirs(files)) with `files` added or
    replaced; returns (tree sha, path -> blob sha)."""
    writer = ObjectWriter(root)
    trees = {d: dict(entries) for d, entries in trees.items()}
    dirs = list(trees)
    blobs = {}
    for path, data in files.items():
        parent, _, name = path.rpartition("/")
        blobs[path] = writer.write(b"blob", data)
        if trees[parent].get(name, (BLOB_MODE,))[0] == TREE_MODE:
            raise GitError(f"{path} is a directory in HEAD: gerhard cannot write a file there")
        trees[parent][name] = (BLOB_MODE, blobs[path])
    for d in sorted(dirs, key=lambda d: -(d.count("/") + 1 if d else 0)):
        sha = writer.write(b"tree", _serialize_tree(trees[d]))
        if d:
            parent, _, name = d.rpartition("/")
            trees[parent][name] = (TREE_MODE, sha)
        else:
            return sha, blobs
    raise AssertionError("unreachable: the root tree is always written")


def commit_tree(root: Path, tree: str, parent: str | None, message: str) -> str:
    args = ["commit-tree", tree] + (["-p", parent] if parent else []) + ["-F", "-"]
    try:
        return run_git(root, *args, input=message.encode()).decode().strip()
    except GitError as e:
        # git's last line ("no email was given ...") does not say what to do; its hint lines are lost.
        if any(word in str(e) for word in ("email", "ident", "name was given")):
            raise GitError(
                f"{e}: tell git who you are (git config user.name 'Your Name'; "
                "git config user.email you@example.com), then register again"
            ) from None
        raise


def update_ref(root: Path, ref: str, new: str, old: str | None, reason: str) -> None:
    """Move ref to new only if it still points at old (another writer would make this fail)."""
    proc = subprocess.run(["git", "update-ref", "-m", reason, ref, new, old or ZERO_SHA], cwd=root, capture_output=True)
    if proc.returncode != 0:
        raise GitError(f"{ref} moved while registering (another commit or registration?): run the command again")


def stage(root: Path, blobs: dict[str, str]) -> None:
    """Put exactly these paths into the user's index, leaving every other entry as it was."""
    info = "".join(f"{BLOB_MODE} {sha}\t{path}\n" for path, sha in blobs.items())
    run_git(root, "update-index", "--index-info", input=info.encode())


def index_entries(root: Path, paths: list[str]) -> dict[str, str]:
    """path -> staged blob sha, for those of paths that are in the index."""
    if not paths:
        return {}
    out = run_git(root, "ls-files", "-s", "-z", "--", *paths).decode()
    entries = {}
    for rec in filter(None, out.split("\0")):
        meta, path = rec.split("\t", 1)
        entries[path] = meta.split()[1]
    return entries


def is_dirty(root: Path) -> bool:
    """True when tracked files differ from HEAD (staged or not)."""
    # --no-optional-locks: a plain `git status` rewrites the user's index to refresh stat data,
    # so even a registration that fails later would have changed .git/index.
    return bool(run_git(root, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no").strip())


def show(root: Path, rev: str, path: str) -> bytes | None:
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True)
    return proc.stdout if proc.returncode == 0 else None
