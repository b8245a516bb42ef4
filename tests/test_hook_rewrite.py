"""The pre-commit hook while an interrupted rebase or register --push is not settled: a commit made then
would be dropped from the branch when the rewrite is undone, so it is refused until `gerhard doctor`."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run
from conftest import git

from gerhard.cli.commands.hook import INSIDE_TXN_ENV
from gerhard.git import gitrepo, rewrite


def test_a_commit_waits_for_an_interrupted_rewrite(
    registry: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (registry / "notes.txt").write_text("the user's work\n")
    git(registry, "add", "notes.txt")
    rewrite.rewrite_dir(gitrepo.info(registry)).mkdir()  # what a killed rebase leaves: its journal folder
    refused = run(capsys, "hook", "pre-commit", "--repo", registry)
    assert (refused.rc, refused.err) == (
        1,
        "gerhard: an interrupted 'gerhard rebase' or 'register --push' is not settled, and undoing it would drop "
        "this commit from the branch: run 'gerhard doctor', then commit again\n",
    )
    monkeypatch.setenv(INSIDE_TXN_ENV, "a replay's own registration")  # gerhard's own commits go ahead
    assert run(capsys, "hook", "pre-commit", "--repo", registry).rc == 0


def test_check_names_an_interrupted_rewrite_in_one_line(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check (CI's gate, and what the hook's refusal sends a user to) is not silent about it either."""
    rewrite.rewrite_dir(gitrepo.info(registry)).mkdir()
    checked = run(capsys, "check", "--repo", registry)
    assert (checked.rc, checked.out) == (
        1,
        "an interrupted rewrite of the branch ('gerhard rebase' or 'register --push') is not settled: run "
        "'gerhard doctor' to finish or undo it\n",
    )
    assert run(capsys, "doctor", "--repo", registry).rc == 0
    assert run(capsys, "check", "--repo", registry).rc == 0
