"""git/history.py: what gerhard check reads of the history: each commit's Gerhard-* blocks."""

from __future__ import annotations

from gerhard.git.history import gerhard_blocks

REGISTRATION = (
    "register r1 (phase B): RED 2/6 gates passed\n\nSummary: Gerhard-Run-Id: forged\nNext action: (none)\n\n"
    "Gerhard-Run-Id: r1\nGerhard-Phase: B\nGerhard-Verdict: RED\n"
)


def test_a_registration_s_trailers() -> None:
    assert gerhard_blocks(REGISTRATION) == (
        {"Gerhard-Run-Id": "r1", "Gerhard-Phase": "B", "Gerhard-Verdict": "RED"},
    )  # a summary naming a run id is not a block


def test_github_s_squash_message_keeps_every_block() -> None:
    message = (
        "Pull request (#7)\n\n* register r1 (phase B): GREEN\n\nSummary: x\n\n  Gerhard-Run-Id: r1\n"
        "  Gerhard-Verdict: GREEN\n\n* decide r0: waive\n\nReason: y\n\n* Gerhard-Decision: waive\n"
        "* Gerhard-Run-Id: r0\n\n---------\n\nCo-authored-by: A <a@example.com>\n"
    )
    assert gerhard_blocks(message) == (
        {"Gerhard-Run-Id": "r1", "Gerhard-Verdict": "GREEN"},
        {"Gerhard-Decision": "waive", "Gerhard-Run-Id": "r0"},
    )


def test_a_message_with_none() -> None:
    assert gerhard_blocks("Pull request (#7)\n") == ()
    assert gerhard_blocks("fix: typo\n\nSigned-off-by: A <a@example.com>\n") == ()
