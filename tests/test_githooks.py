"""The repository's commit hooks run for gerhard's own commits (gerhard.git.githooks): trailers survive.

After the user's prepare-commit-msg and commit-msg hooks, the message must still carry gerhard's
Gerhard-* trailers unchanged, as git reads its trailer block (issue 15 item 4): otherwise nothing is
committed and one line names the hook. A hook may add trailers of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, head_sha, register, run, trailer
from conftest import RUN_B, git, snapshot

RUN = "20261102T090000Z_green"
TRAILERS = ["Gerhard-Run-Id", "Gerhard-Phase", "Gerhard-Verdict", "Gerhard-Code-SHA", "Gerhard-Code-Dirty"]
TRAILERS += ["Gerhard-Config-SHA256", "Gerhard-Bundle-SHA256"]


def hook(repo: Path, name: str, script: str) -> None:
    path = repo / ".git" / "hooks" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


STRIP = 'sed -i "/^Gerhard-/d" "$1"\n'


def test_a_commit_msg_hook_that_strips_the_trailers_is_refused(
    registered_ab: Path, bundle_b_green: Path, capsys
) -> None:
    hook(registered_ab, "commit-msg", STRIP)
    before = snapshot(registered_ab)
    refused = register(capsys, registered_ab, RUN, "B", bundle_b_green)
    assert_one_line_error(refused)
    assert refused.err == (
        "gerhard register: error: the repository's commit-msg hook changed gerhard's trailers in the commit "
        f"message (removed {', '.join(TRAILERS)}), so nothing was committed: make the hook leave the Gerhard-* "
        "lines as they are, or pass --no-verify to skip it\n"
    )
    assert snapshot(registered_ab) == before


def test_a_prepare_commit_msg_hook_that_changes_a_trailer_is_refused(
    registered_ab: Path, bundle_b_green: Path, capsys
) -> None:
    """--no-verify does not skip prepare-commit-msg (as in git): the line does not offer it."""
    hook(registered_ab, "prepare-commit-msg", 'sed -i "s/^Gerhard-Verdict: .*/Gerhard-Verdict: RED/" "$1"\n')
    before = snapshot(registered_ab)
    refused = register(capsys, registered_ab, RUN, "B", bundle_b_green, "--no-verify")
    assert_one_line_error(refused)
    assert refused.err == (
        "gerhard register: error: the repository's prepare-commit-msg hook changed gerhard's trailers in the commit "
        "message (changed Gerhard-Verdict), so nothing was committed: make the hook leave the Gerhard-* lines as "
        "they are\n"
    )
    assert snapshot(registered_ab) == before


def test_a_decision_is_held_to_it_too(registered_ab: Path, capsys) -> None:
    hook(registered_ab, "commit-msg", STRIP)
    before = snapshot(registered_ab)
    refused = run(capsys, "decide", RUN_B, "rerun", "--reason", "seed 2", "--repo", registered_ab)
    assert_one_line_error(refused)
    assert "removed Gerhard-Decision, Gerhard-Run-Id, Gerhard-Phase" in refused.err
    assert snapshot(registered_ab) == before


@pytest.mark.parametrize("name", ["prepare-commit-msg", "commit-msg"])
def test_a_hook_may_add_its_own_trailers(registered_ab: Path, bundle_b_green: Path, capsys, name: str) -> None:
    hook(registered_ab, name, 'printf "Change-Id: I0123\\nSigned-off-by: Test <t@example.com>\\n" >> "$1"\n')
    assert register(capsys, registered_ab, RUN, "B", bundle_b_green).rc == 0
    assert trailer(registered_ab, "Gerhard-Run-Id") == RUN
    assert trailer(registered_ab, "Change-Id") == "I0123"
    assert run(capsys, "check", "--repo", registered_ab).rc == 0


def test_no_verify_skips_a_stripping_commit_msg_hook(registered_ab: Path, bundle_b_green: Path, capsys) -> None:
    hook(registered_ab, "commit-msg", STRIP)
    before = head_sha(registered_ab)
    assert register(capsys, registered_ab, RUN, "B", bundle_b_green, "--no-verify").rc == 0
    assert git(registered_ab, "rev-parse", "HEAD~1").strip() == before
    assert trailer(registered_ab, "Gerhard-Verdict") == "GREEN"
