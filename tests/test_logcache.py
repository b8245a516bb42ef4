"""gerhard log's kept entries (gerhard.git.logcache): a log after another reads only the commits made
since, and says exactly what a log of the whole history says, whatever happened to the branch between
(new commits, a merge, a reset, an amend, another branch, a damaged file)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_helpers import git_out, head_sha, run
from history_helpers import RUN_GREEN, RUN_RED, History, at, copy_history, decide

from gerhard.git import logcache, logstream


@pytest.fixture
def history(registry: Path, history_template: History, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> History:
    return copy_history(history_template, registry, monkeypatch, tmp_path)


def kept_for(repo: Path) -> list[str]:
    tip = logstream.tip(repo)
    assert tip is not None
    return sorted(p.stem for p in (Path(tip.git_dir) / logstream.KEPT).glob("*.marshal"))


def log_twice(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> str:
    """`gerhard log` with what is kept, then with nothing kept: they must agree; the first's output."""
    kept = run(capsys, "log", "--repo", repo, *args)
    assert kept.rc == 0, kept.err
    tip = logstream.tip(repo)
    assert tip is not None
    shutil.rmtree(Path(tip.git_dir) / logstream.KEPT)
    whole = run(capsys, "log", "--repo", repo, *args)
    assert (whole.rc, whole.out, whole.err) == (0, kept.out, kept.err)
    return kept.out


def test_a_log_keeps_its_entries_and_the_next_reads_them(history: History, capsys) -> None:
    first = run(capsys, "log", "--repo", history.repo).out
    assert kept_for(history.repo) == [head_sha(history.repo)]
    assert run(capsys, "log", "--repo", history.repo).out == first
    assert (
        log_twice(capsys, history.repo, "--phase", "B")
        == run(capsys, "log", "--repo", history.repo, "--phase", "B").out
    )


def test_commits_on_top_are_read_and_kept(history: History, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    run(capsys, "log", "--repo", history.repo)
    at(monkeypatch, "2025-05-01T00:00:00Z")
    decide(history.repo, RUN_RED, "waive", "Reason: later")
    git_out(history.repo, "commit", "-q", "--allow-empty", "-m", "not gerhard's")
    out = run(capsys, "log", "--repo", history.repo).out
    assert out.splitlines()[0].startswith("2025-05-01T00:00:00Z") and " waive " in out.splitlines()[0]
    assert kept_for(history.repo) == [head_sha(history.repo)]
    assert log_twice(capsys, history.repo) == out


def test_a_merge_on_top_reads_the_whole_history(history: History, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = history.repo
    run(capsys, "log", "--repo", repo)
    git_out(repo, "switch", "-q", "-c", "side", history.commits[RUN_GREEN])
    at(monkeypatch, "2025-03-21T00:00:00Z")  # older than main's newest commits: git interleaves by date
    decide(repo, RUN_GREEN, "advance", "Reason: on a branch")
    git_out(repo, "switch", "-q", "main")
    at(monkeypatch, "2025-06-01T00:00:00Z")
    git_out(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    assert not logcache.is_chain(repo, kept_for(repo)[0], head_sha(repo))
    lines = log_twice(capsys, repo).splitlines()
    assert [i for i, x in enumerate(lines) if x.startswith("2025-03-21T00:00:00Z")] == [3]  # by date, not on top


@pytest.mark.parametrize(
    "move",
    [
        ["reset", "-q", "--hard", "HEAD~2"],
        ["commit", "-q", "--amend", "-m", "amended"],
        ["switch", "-q", "-c", "older", "HEAD~3"],
    ],
)
def test_a_history_that_is_not_on_top_reads_the_whole(history: History, capsys, move: list[str]) -> None:
    run(capsys, "log", "--repo", history.repo)
    kept_head = head_sha(history.repo)[:7]
    git_out(history.repo, *move)
    out = log_twice(capsys, history.repo)
    assert kept_head not in out  # the commit kept for is not in this history (amended: its record still is)
    run(capsys, "log", "--repo", history.repo)
    assert kept_for(history.repo) == [head_sha(history.repo)]


def test_a_damaged_file_reads_the_whole_history(history: History, capsys) -> None:
    first = run(capsys, "log", "--repo", history.repo).out
    tip = logstream.tip(history.repo)
    assert tip is not None
    logcache.path(tip, tip.head).write_bytes(b"\x00not marshal")
    assert run(capsys, "log", "--repo", history.repo).out == first
    assert logcache.load(tip, tip.head) is not None  # kept again


def test_only_a_whole_read_is_kept(history: History, capsys) -> None:
    run(capsys, "log", "--repo", history.repo, "--limit", "2")
    run(capsys, "log", "--repo", history.repo, "--run-id", RUN_RED)
    tip = logstream.tip(history.repo)
    assert tip is not None and logstream.kept(tip) is None
