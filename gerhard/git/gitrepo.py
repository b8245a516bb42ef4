"""Everything that talks to git, in one place.

A registration commits without `git add`: the new blobs are hashed by `git hash-object -w`
from the files as written to the work tree (so attributes and clean filters apply, as with
`git add`), only the changed trees are written into the object database, `git commit-tree`
makes the commit and `git update-ref NEW OLD` moves the branch as a compare-and-swap.
gerhard.git.transaction orders these steps around git's index lock and a journal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from gerhard.errors import GitError
from gerhard.git import indexfile
from gerhard.git.trees import TREE_MODE, Tree

BLOB_MODE = "100644"
STORE_ABOVE = 64 << 10  # loose objects larger than this are written uncompressed (see write_object)
_PROBE = ["--show-toplevel", "--git-dir", "--git-common-dir", "--git-path", "index", "--git-path", "hooks"]
_PROBE += ["--git-path", "objects", "--show-object-format"]


class RepoInfo(NamedTuple):  # a NamedTuple: dataclasses (with inspect) cost `gerhard log` 5 ms of imports
    """Where this work tree's git files are (linked work trees have their own git dir and index)."""

    root: Path
    git_dir: Path  # this work tree's: HEAD, index, rebase state, gerhard's journal
    common_dir: Path  # shared by every work tree: objects, refs, gerhard's registry lock
    index: Path  # type: ignore[assignment]  # a field, in place of tuple.index (not called on it)
    hooks: Path  # core.hooksPath applied
    objects: Path
    object_format: str  # sha1 or sha256

    @property
    def index_lock(self) -> Path:
        return Path(f"{self.index}.lock")

    @property
    def zero(self) -> str:
        return "0" * hexlen(self.object_format)


_INFO: dict[Path, RepoInfo] = {}


def hexlen(object_format: str) -> int:
    return 64 if object_format == "sha256" else 40


def run_git(root: Path, *args: str, input: bytes | None = None, check: bool = True, env: dict | None = None) -> bytes:
    proc = try_git(root, *args, input=input, env=env)
    if check and proc.returncode != 0:
        raise GitError(f"git {args[0]} failed: {last_line(proc.stderr, proc.returncode)}")
    return proc.stdout


def try_git(
    root: Path, *args: str, input: bytes | None = None, env: dict | None = None
) -> subprocess.CompletedProcess[bytes]:
    """git in root, its exit code, output and messages returned for the caller to read (never raises)."""
    return subprocess.run(["git", *args], cwd=root, input=input, capture_output=True, env=env)


class Started:
    """run_git started now and read later, while the caller does other work: its output goes to a
    temporary file, so git never waits for a reader."""

    def __init__(self, root: Path, *args: str) -> None:
        self.args = args
        import tempfile  # here: it imports shutil and random, which the reading commands do not need

        self._out = tempfile.TemporaryFile()  # noqa: SIM115 - read and closed in result()
        self._proc = subprocess.Popen(["git", *args], cwd=root, stdout=self._out, stderr=subprocess.PIPE)
        self._result: bytes | None = None

    def result(self) -> bytes:
        if self._result is None:
            _, err = self._proc.communicate()
            if self._proc.returncode != 0:
                raise GitError(f"git {self.args[0]} failed: {last_line(err, self._proc.returncode)}")
            self._out.seek(0)
            self._result = self._out.read()
            self._out.close()
        return self._result


def last_line(stderr: bytes, rc: int) -> str:
    lines = [line for line in stderr.decode(errors="replace").strip().splitlines() if line.strip()]
    return lines[-1].removeprefix("fatal: ").removeprefix("error: ") if lines else f"exit {rc}"


OUTSIDE_A_REPO = "pass --repo with the path of your registry repository, or cd into it"


def find_root(path: Path, outside: str = OUTSIDE_A_REPO) -> Path:
    """The top of the git work tree containing path; a clear error when there is none, ending with
    `outside` (a folder outside any repository is most often the wrong folder, not a registry to create:
    only `gerhard init` says 'git init')."""
    path = Path(path)
    if not path.is_dir():
        raise GitError(f"{path} is not a directory: pass --repo with the path of your registry repository")
    proc = subprocess.run(["git", "rev-parse", *_PROBE], cwd=path, capture_output=True)
    lines = proc.stdout.decode().splitlines()
    if proc.returncode != 0 or len(lines) != 7:
        if b"safe.directory" in proc.stderr:
            raise GitError(f"git refuses {path}: {last_line(proc.stderr, proc.returncode)}")
        raise GitError(f"{path} is not inside a git repository: {outside}")
    root = Path(lines[0])
    top, git_dir, common, index, hooks, objects = ((path / p).resolve() for p in lines[:6])
    _INFO[root] = RepoInfo(root, git_dir, common, index, hooks, objects, lines[6].strip())
    return root


def info(root: Path) -> RepoInfo:
    """The repository's git paths (found once per process per work tree)."""
    if root not in _INFO:
        find_root(root)
    return _INFO[root]


def git_dir(root: Path) -> Path:
    """The common git directory (objects, refs, the registry lock)."""
    return info(root).common_dir


def index_lock_path(root: Path) -> Path:
    return info(root).index_lock


class Head(NamedTuple):
    ref: str  # refs/heads/<branch>, or HEAD when detached
    sha: str | None  # None on an unborn branch


def head(root: Path) -> Head:
    out = run_git(root, "rev-parse", "HEAD^{commit}", "--symbolic-full-name", "HEAD", check=False).split()
    if len(out) == 2:  # one git process in the common case; an unborn branch fails it
        return Head(out[1].decode(), out[0].decode())
    ref = run_git(root, "symbolic-ref", "-q", "HEAD", check=False).decode().strip() or "HEAD"
    sha = run_git(root, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False).decode().strip()
    return Head(ref, sha or None)


def ref_value(root: Path, ref: str) -> str | None:
    out = run_git(root, "rev-parse", "-q", "--verify", f"{ref}^{{commit}}", check=False).decode().strip()
    return out or None


def is_ancestor(root: Path, ancestor: str, descendant: str) -> bool:
    return try_git(root, "merge-base", "--is-ancestor", ancestor, descendant).returncode == 0


def merge_base(root: Path, one: str, other: str) -> str | None:
    """The best common ancestor of two commits, or None when they have none."""
    return run_git(root, "merge-base", one, other, check=False).decode().strip() or None


def object_id(object_format: str, kind: bytes, data: bytes) -> str:
    """The id git gives these bytes as an object of this kind (without writing anything)."""
    import hashlib  # here: its OpenSSL start-up is 2-3 ms of every command that only reads git

    return hashlib.new(object_format, b"%s %d\0" % (kind, len(data)) + data).hexdigest()


def blob_sha(data: bytes, object_format: str = "sha1") -> str:
    return object_id(object_format, b"blob", data)


def worktree_blobs(root: Path, paths: list[str], known: dict[str, set[str | None]]) -> dict[str, str | None]:
    """path -> the blob id `git add` would store for the work-tree file (None when there is none).
    Raw bytes are hashed first; only a file whose raw hash is none of `known[path]` asks git, which
    applies eol conversion and clean filters (a core.autocrlf checkout holds CRLF text, LF blobs)."""
    fmt = info(root).object_format
    shas = {rel: blob_sha((root / rel).read_bytes(), fmt) if (root / rel).is_file() else None for rel in paths}
    odd = [rel for rel, sha in shas.items() if sha is not None and sha not in known.get(rel, set())]
    if odd:
        shas.update(zip(odd, hash_paths(root, odd, write=False), strict=True))
    return shas


def hash_paths(root: Path, paths: list[str], write: bool = True) -> list[str]:
    """Blob ids of work-tree files as `git add` makes them (attributes, eol and clean filters), written."""
    args = ["hash-object", *(["-w"] if write else []), "--stdin-paths"]
    out = run_git(root, *args, input="".join(f"{rel}\n" for rel in paths).encode())
    return out.decode().split()


def cat_objects(root: Path, specs: list[str]) -> list[tuple[bytes, bytes] | None]:
    """(type, content) of each object named (a sha, `rev:path`, `:path` for the index), None when there
    is none (missing, or an ambiguous name); one `git cat-file --batch` process for all."""
    if not specs:
        return []
    out = run_git(root, "cat-file", "--batch", input="".join(f"{s}\n" for s in specs).encode())
    objects: list[tuple[bytes, bytes] | None] = []
    pos = 0
    for _ in specs:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].rsplit(b" ", 2)
        pos = nl + 1
        if header[-1] in (b"missing", b"ambiguous") or len(header) != 3 or not header[2].isdigit():
            objects.append(None)
            continue
        size = int(header[2])
        objects.append((header[1], out[pos : pos + size]))
        pos += size + 1
    return objects


def read_trees(root: Path, commit: str | None, dirs: list[str]) -> dict[str, Tree]:
    """The entries of each directory in one commit (empty when absent), with one git process."""
    raw_len = hexlen(info(root).object_format) // 2
    if commit is None:
        return {d: Tree(b"", raw_len) for d in dirs}
    specs = [f"{commit}:{d}" if d else f"{commit}^{{tree}}" for d in dirs]
    trees: dict[str, Tree] = {}
    for d, found in zip(dirs, cat_objects(root, specs), strict=True):
        if found is not None and found[0] != b"tree":
            raise GitError(f"{d} is a file in HEAD but gerhard needs a directory there: move it away")
        trees[d] = Tree(found[1] if found else b"", raw_len)
    return trees


def write_object(repo: RepoInfo, kind: bytes, data: bytes) -> str:
    """Store one loose object (SHA-1 or SHA-256 repository) the way git does: zlib, temp file, rename.
    A large one (a tree of thousands of runs) is stored uncompressed (zlib level 0, which git reads
    like any other; `git gc` compresses it when it packs): compressing it cost more than the rest."""
    import zlib  # here: only a registration writes objects

    raw = b"%s %d\0" % (kind, len(data)) + data
    oid = object_id(repo.object_format, kind, data)
    path = repo.objects / oid[:2] / oid[2:]
    if path.exists():
        return oid
    path.parent.mkdir(exist_ok=True)
    tmp = path.parent / f"tmp_obj_gerhard_{os.getpid()}_{oid[:12]}"  # git gc removes stale tmp_obj_*
    with open(tmp, "wb") as f:
        f.write(zlib.compress(raw, 1 if len(raw) < STORE_ABOVE else 0))
    os.chmod(tmp, 0o444)
    os.replace(tmp, path)
    return oid


def parent_dirs(paths: list[str]) -> list[str]:
    dirs = {""}
    for p in paths:
        parts = p.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return sorted(dirs, key=lambda d: (d.count("/") if d else -1, d))


def write_tree(root: Path, trees: Mapping[str, Tree], blobs: Mapping[str, str]) -> str:
    """Write HEAD's tree (`trees`, from read_trees over parent_dirs(blobs)) with `blobs` (path -> blob
    id) added or replaced; returns the new root tree's id."""
    repo = info(root)
    changes: dict[str, dict[str, tuple[str, str]]] = {d: {} for d in trees}
    for path, blob in blobs.items():
        parent, _, name = path.rpartition("/")
        if trees[parent].get(name, (BLOB_MODE,))[0] == TREE_MODE:
            raise GitError(f"{path} is a directory in HEAD: gerhard cannot write a file there")
        changes[parent][name] = (BLOB_MODE, blob)
    for d in sorted(trees, key=lambda d: -(d.count("/") + 1 if d else 0)):
        sha = write_object(repo, b"tree", trees[d].with_entries(changes[d]))
        if not d:
            return sha
        parent, _, name = d.rpartition("/")
        changes[parent][name] = (TREE_MODE, sha)
    raise AssertionError("unreachable: the root tree is always written")


def config_value(root: Path, key: str) -> str | None:
    out = run_git(root, "config", "--get", key, check=False).decode().strip()
    return out or None


def config_bool(root: Path, key: str) -> bool:
    out = run_git(root, "config", "--type=bool", "--get", key, check=False).decode().strip()
    return out == "true"


def commit_tree(root: Path, tree: str, parent: str | None, message: str, sign: bool = False) -> str:
    args = ["commit-tree", tree] + (["-p", parent] if parent else []) + (["-S"] if sign else []) + ["-F", "-"]
    try:
        return run_git(root, *args, input=message.encode()).decode().strip()
    except GitError as e:
        # git's last line ("no email was given ...") does not say what to do; its hint lines are lost.
        if any(word in str(e) for word in ("email", "ident", "name was given")):
            raise GitError(
                f"{e}: tell git who you are (git config user.name 'Your Name'; "
                "git config user.email you@example.com), then register again"
            ) from None
        if sign:
            raise GitError(
                f"{e}: git could not sign the commit (commit.gpgSign is set): check your signing key "
                "(git config user.signingKey) works with 'git commit -S', then register again"
            ) from None
        raise


def update_ref(root: Path, ref: str, new: str, old: str | None, reason: str) -> None:
    """Move ref to new only if it still points at old (another writer would make this fail)."""
    zero = info(root).zero
    proc = try_git(root, "update-ref", "-m", reason, ref, new, old or zero)
    if proc.returncode == 0:
        return
    if ref_value(root, ref) == old:  # not moved by anyone: git itself refused
        said = last_line(proc.stderr, proc.returncode)
        hook_said = proc.stderr.decode(errors="replace").strip().splitlines()[:-1]
        sys.stderr.write("".join(f"{line}\n" for line in hook_said))  # what the hook printed, as git shows it
        raise GitError(
            f"git refused to move {ref}: {said} (a reference-transaction hook of this repository?): "
            "see what the hook reports, or ask who installed it"
        )
    raise GitError(f"{ref} moved while registering (another commit or registration?): run the command again")


def add_to_index(root: Path, index: Path, paths: list[str]) -> None:
    """`git add` these work-tree files into the index file `index` (blobs as git makes them, and their
    stat data, so git sees them up to date at once), leaving every other entry."""
    env = dict(os.environ, GIT_INDEX_FILE=str(index))
    run_git(root, "update-index", "--add", "-z", "--stdin", input="".join(f"{p}\0" for p in paths).encode(), env=env)


def read_tree_into(root: Path, index: Path, tree: str) -> None:
    run_git(root, "read-tree", tree, env=dict(os.environ, GIT_INDEX_FILE=str(index)))


def index_entries(root: Path, paths: list[str]) -> dict[str, str]:
    """path -> staged blob sha, for those of paths that are in the index: read from the index file
    in-process (gerhard.git.indexfile), or by git where that reader cannot tell."""
    if not paths:
        return {}
    repo = info(root)
    dirs = {repo.git_dir, repo.common_dir}
    found = indexfile.staged_blobs(repo.index, dirs, hexlen(repo.object_format) // 2, paths)
    if found is not None:
        return found
    out = run_git(root, "ls-files", "-s", "-z", "--", *paths).decode()
    entries = {}
    for rec in filter(None, out.split("\0")):
        meta, path = rec.split("\t", 1)
        entries[path] = meta.split()[1]
    return entries


def files_containing(root: Path, text: str, folder: str) -> list[str]:
    """The tracked files under folder whose work tree text contains `text` (git grep: one process,
    C speed, so looking for a value in every record stays cheap with tens of thousands of them)."""
    proc = try_git(root, "grep", "-F", "-l", "-z", "-e", text, "--", f"{folder}/")
    if proc.returncode not in (0, 1):  # 1: nothing found
        raise GitError(f"git grep failed: {last_line(proc.stderr, proc.returncode)}")
    return [p for p in proc.stdout.decode().split("\0") if p]


def is_dirty(root: Path) -> bool:
    """True when tracked files differ from HEAD (staged or not)."""
    # --no-optional-locks: a plain `git status` rewrites the user's index to refresh stat data,
    # so even a registration that fails later would have changed .git/index.
    return bool(run_git(root, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no").strip())


def show(root: Path, rev: str, path: str) -> bytes | None:
    proc = try_git(root, "show", f"{rev}:{path}")
    return proc.stdout if proc.returncode == 0 else None


def cat_blob(root: Path, rev: str, path: str) -> bytes:
    """A committed file as checked out (smudge filters and eol applied)."""
    return run_git(root, "cat-file", "--filters", f"{rev}:{path}")


IN_PROGRESS = [  # git dir entry -> what is going on, what to do
    ("rebase-merge", "a rebase is in progress", "finish it (git rebase --continue) or abort it (git rebase --abort)"),
    ("rebase-apply/applying", "'git am' is in progress", "finish it (git am --continue) or abort it (git am --abort)"),
    ("rebase-apply", "a rebase is in progress", "finish it (git rebase --continue) or abort it (git rebase --abort)"),
    ("MERGE_HEAD", "a merge is in progress", "finish it (git commit) or abort it (git merge --abort)"),
    ("CHERRY_PICK_HEAD", "a cherry-pick is in progress", "finish it (git cherry-pick --continue) or --abort it"),
    ("REVERT_HEAD", "a revert is in progress", "finish it (git revert --continue) or abort it (git revert --abort)"),
    ("sequencer/todo", "a cherry-pick or revert sequence is in progress", "finish it (--continue) or --abort it"),
    ("BISECT_LOG", "a bisect is in progress", "end it with 'git bisect reset'"),
]


def check_committable(root: Path, head: Head) -> None:
    """Refuse where a commit on HEAD would be lost or mixed into another operation."""
    repo = info(root)
    for entry, what, todo in IN_PROGRESS:
        if (repo.git_dir / entry).exists():
            raise GitError(f"{what} in {root}: {todo}, then register again")
    if head.ref == "HEAD":
        raise GitError(
            "HEAD is detached (not on a branch), so the registration commit would be lost at the next "
            "checkout: switch to a branch (git switch main) or make one (git switch -c runs), then register again"
        )
