"""indexfile: the staged blobs of a few paths, read from the index file, are what `git ls-files -s` says;
where it cannot tell (a conflict, a split index, another index version) it says so and git is asked."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest
from conftest import git

from gerhard.git import gitrepo, indexfile

# Names of every length modulo 8 (entries are padded to 8 bytes), ending in letters (like an index
# extension's signature), with spaces, unicode, a long one, and ones that sort around each other.
NAMES = [
    "a", "a b", "a.b", "a-b", "a0", "ab", "abc", "abcd", "xxabcd", "schemas/x.json", "schemas/xy.json",
    "ünï/cöde.txt", "outputs/r1/metrics.json", "outputs/r1/config.yaml", "outputs/r10/config.yaml",
    "reports/index.md", "state/program_status.yaml", "state/runs/r1.yaml", "z/" + "/".join(["long" * 20] * 4), "~",
]  # fmt: skip


def make_repo(path: Path, object_format: str = "sha1") -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main", f"--object-format={object_format}")
    for i, rel in enumerate(NAMES):
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(f"{i}\n")
    os.symlink("a", path / "link")
    (path / "run.sh").write_text("#!/bin/sh\n")
    (path / "run.sh").chmod(0o755)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "files")
    (path / "a b").write_text("staged edit\n")
    git(path, "add", "a b")
    git(path, "rm", "-q", "--cached", "abc")
    return path


def git_in(repo: Path, *args: str, input: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, input=input, check=True, capture_output=True, text=True).stdout


def ls_files(repo: Path) -> dict[str, str]:
    out = git(repo, "ls-files", "-s", "-z")
    return {rec.split("\t", 1)[1]: rec.split()[1] for rec in out.split("\0") if rec}


def read(repo: Path, paths: list[str]) -> dict[str, str] | None:
    info = gitrepo.info(repo)
    return indexfile.staged_blobs(info.index, [info.git_dir], gitrepo.hexlen(info.object_format) // 2, paths)


def queries(staged: dict[str, str]) -> list[str]:
    near = [p + "x" for p in staged] + [p[:-1] for p in staged] + ["", "0", "zzz", "outputs/r2/config.yaml"]
    return [*staged, *near]


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_every_path_and_its_neighbours_read_as_git_lists_them(tmp_path: Path, object_format: str) -> None:
    repo = make_repo(tmp_path / "repo", object_format)
    staged = ls_files(repo)
    asked = queries(staged)
    assert read(repo, asked) == {p: staged[p] for p in asked if p in staged}
    for seed in range(20):  # a few paths at a time, as a registration asks
        some = random.Random(seed).sample(asked, 17)
        assert read(repo, some) == {p: staged[p] for p in some if p in staged}


def test_an_index_of_thousands_of_runs(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    blob = git_in(repo, "hash-object", "-w", "--stdin", input="x\n").strip()
    lines = [f"100644 {blob}\toutputs/r{i:05d}/{name}\n" for i in range(3000) for name in ("MANIFEST", "metrics.json")]
    git_in(repo, "update-index", "--index-info", input="".join(lines))
    git(repo, "write-tree")  # a TREE extension after the entries
    staged = ls_files(repo)
    asked = [*random.Random(1).sample(list(staged), 200), "outputs/r03000/MANIFEST", "outputs/r00000/MANIFESTS"]
    assert read(repo, asked) == {p: staged[p] for p in asked if p in staged}


def test_no_index_yet_is_nothing_staged(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    git(tmp_path / "repo", "init", "-q")
    assert read(tmp_path / "repo", ["a"]) == {}


@pytest.mark.parametrize("setup", ["split", "version 4", "conflict"])
def test_what_it_cannot_read_is_left_to_git(tmp_path: Path, setup: str) -> None:
    repo = make_repo(tmp_path / "repo")
    if setup == "split":
        git(repo, "update-index", "--split-index")
    elif setup == "version 4":
        git(repo, "update-index", "--index-version", "4")
    else:
        blob = git_in(repo, "hash-object", "-w", "--stdin", input="theirs\n").strip()
        git_in(
            repo, "update-index", "--index-info", input=f"0 {'0' * 40}\tab\n100644 {blob} 2\tab\n100644 {blob} 3\tab\n"
        )
    assert read(repo, ["ab"]) is None
    assert gitrepo.index_entries(repo, ["a", "ab", "new"]) == {
        p: sha for p, sha in ls_files(repo).items() if p in ("a", "ab")
    }
