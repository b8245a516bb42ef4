"""gitrepo: HEAD in every state, and trees read and written byte-identical to git's own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import git
from hypothesis import given, settings
from hypothesis import strategies as st

from gerhard.git import gitrepo
from gerhard.git.trees import Tree, serialize_tree


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def commit_files(repo: Path, files: dict[str, str]) -> str:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "files")
    return git(repo, "rev-parse", "HEAD").strip()


def test_head_of_an_unborn_branch(repo: Path) -> None:
    assert gitrepo.head(repo) == gitrepo.Head("refs/heads/main", None)


def test_head_on_a_branch_and_detached(repo: Path) -> None:
    sha = commit_files(repo, {"a.txt": "a\n"})
    assert gitrepo.head(repo) == gitrepo.Head("refs/heads/main", sha)
    git(repo, "checkout", "-q", "--detach")
    assert gitrepo.head(repo) == gitrepo.Head("HEAD", sha)


# Names whose order differs between files and directories ("a" as a directory sorts as "a/"),
# with spaces, unicode, and bytes that also occur inside binary shas.
TRICKY = {
    "a/x.txt": "dir a\n",
    "a.b": "file\n",
    "a-b": "file\n",
    "a0": "file\n",
    "with space.md": "s\n",
    "ünïcode.txt": "u\n",
    "z/deep/er/file.txt": "z\n",
}


def test_trees_parse_and_serialize_byte_identical(repo: Path) -> None:
    sha = commit_files(repo, TRICKY)
    dirs = ["", "a", "z", "z/deep"]
    trees = gitrepo.read_trees(repo, sha, dirs)
    assert set(trees[""]) == {"a", "a.b", "a-b", "a0", "with space.md", "ünïcode.txt", "z"}
    for d in dirs:
        spec = f"{sha}^{{tree}}" if not d else f"{sha}:{d}"
        raw = subprocess.run(["git", "cat-file", "tree", spec], cwd=repo, capture_output=True, check=True).stdout
        assert serialize_tree(trees[d]) == raw


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_write_tree_equals_what_git_commits(tmp_path: Path, object_format: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main", f"--object-format={object_format}")
    base = commit_files(repo, TRICKY)
    new = {"a/new.txt": b"n\n", "a.b": b"changed\n", "b/c/d.txt": b"d\n", "ünïcode.txt": b"v\n"}
    trees = gitrepo.read_trees(repo, base, gitrepo.parent_dirs(list(new)))
    for rel, data in new.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(data)
    blobs = dict(zip(new, gitrepo.hash_paths(repo, list(new)), strict=True))
    assert blobs == {rel: gitrepo.blob_sha(data, object_format) for rel, data in new.items()}
    tree = gitrepo.write_tree(repo, trees, blobs)
    git(repo, "add", "-A")
    assert tree == git(repo, "write-tree").strip()
    git(repo, "fsck", "--strict")  # the loose objects gerhard wrote are well-formed


# Names that sort differently as files and folders, with spaces, tree modes inside ("x 100644 y" reads
# like an entry from its middle) and bytes that also occur in binary ids.
NAMES = ["a", "a.b", "a-b", "a0", "a 100644 b", "b 40000 c", "ü", "z", "zz", "0", "100644 q"]
MODES = [gitrepo.BLOB_MODE, gitrepo.TREE_MODE, "100755", "120000"]


@settings(max_examples=300, deadline=None)
@given(
    entries=st.dictionaries(
        st.sampled_from(NAMES), st.tuples(st.sampled_from(MODES), st.binary(min_size=20, max_size=20))
    ),
    changes=st.dictionaries(
        st.sampled_from([*NAMES, "new", "ax", "ab c"]),
        st.tuples(st.sampled_from([gitrepo.BLOB_MODE, gitrepo.TREE_MODE]), st.binary(min_size=20, max_size=20)),
        max_size=4,
    ),
)
def test_a_raw_tree_reads_and_changes_as_its_parsed_entries(
    entries: dict[str, tuple[str, bytes]], changes: dict[str, tuple[str, bytes]]
) -> None:
    """Tree looks entries up and splices changes into the raw bytes: the same as parsing every entry,
    changing the mapping and writing it in git's order."""
    parsed = {name: (mode, sha.hex()) for name, (mode, sha) in entries.items()}
    tree = Tree(serialize_tree(parsed))
    assert dict(tree) == parsed
    assert all(tree.get(name) == parsed.get(name) for name in [*NAMES, "new", "a/"])
    changed = {name: (mode, sha.hex()) for name, (mode, sha) in changes.items()}
    assert tree.with_entries(changed) == serialize_tree(parsed | changed)
