"""gerhard pr-summary [BASE..HEAD]: the markdown CI posts on a pull request (gerhard.team.prsummary)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, git_out, head_sha, register_ok, run
from conftest import snapshot
from history_helpers import (
    RUN_A,
    RUN_A2,
    RUN_GREEN,
    RUN_RED,
    RUN_TUNED,
    History,
    at,
    copy_history,
    decide,
    tuned_bundle,
)

from gerhard.core import reports
from gerhard.team import prsummary


@pytest.fixture
def history(registry: Path, history_template: History, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> History:
    """build_history's registry, bundles and dates: a copy of the session's (conftest's history_template)."""
    return copy_history(history_template, registry, monkeypatch, tmp_path)


def short(h: History, key: str) -> str:
    return h.commits[key][:7]


def expected_after_green(h: History, spec: str) -> str:
    """The summary of the commits after RUN_GREEN's registration (RUN_TUNED, its decision, RUN_A2)."""
    base = short(h, RUN_GREEN)
    return f"""\
## gerhard: 2 runs registered (1 AMBER, 1 GREEN), 1 decision

| verdict | run | phase | gates passed | failed gates | decision | commit |
| --- | --- | --- | --- | --- | --- | --- |
| AMBER | `{RUN_TUNED}` | B | 5/6 | energy_ratio_advisory (advisory) | advance | {short(h, RUN_TUNED)} |
| GREEN | `{RUN_A2}` | A | 1/1 |  |  | {short(h, RUN_A2)} |

Commits in `{spec}` ({base}..{short(h, RUN_A2)}).

### `{RUN_TUNED}`: phase B, AMBER

{RUN_TUNED} summary

| gate | result | observed | threshold |
| --- | --- | --- | --- |
| val_loss_max | pass | 2.65 | &lt;= 2.9 |
| eval_pass_rate_min | pass | 0.8 | &gt;= 0.8 |
| spike_rate_band | pass | 0.105 | in \\[0.05, 0.25] |
| energy_ratio_advisory | WARN | 0.55 | &lt;= 0.5 |
| clean_execution_order | pass | true | == true |
| val_loss_vs_best_green | pass | 2.65 | &lt;= 2.77 (best_green {RUN_GREEN}) |

Metric deltas against `{RUN_GREEN}`, the best GREEN run of phase B at {base}:

| metric | baseline | this run | delta | relative |
| --- | --- | --- | --- | --- |
| train_loss | 2.6525 | 2.6525 | +0 | +0.0% |
| val_acc | missing | 0.61 |  |  |
| val_loss | 2.72 | 2.65 | -0.07 | -2.6% |
| val_ppl | 15.1803 | missing |  |  |

### `{RUN_A2}`: phase A, GREEN

{RUN_A2} summary

| gate | result | observed | threshold |
| --- | --- | --- | --- |
| val_loss_max | pass | 2.38 | &lt;= 2.6 |

Metric deltas against `{RUN_A}`, the latest GREEN run of phase A at {base}:

| metric | baseline | this run | delta | relative |
| --- | --- | --- | --- | --- |
| train_loss | 2.352 | 2.352 | +0 | +0.0% |
| val_loss | 2.41 | 2.38 | -0.03 | -1.2% |
| val_ppl | 11.134 | 10.8 | -0.334 | -3.0% |

### Decisions

| run | decision | by | reason | commit |
| --- | --- | --- | --- | --- |
| `{RUN_TUNED}` | advance | Lead Reviewer | energy kernel lands in phase C see the board | {short(h, "decide " + RUN_TUNED)} |
"""  # noqa: E501


def test_pr_summary_of_a_range(history: History, capsys) -> None:
    spec = f"{history.commits[RUN_GREEN]}..HEAD"
    result = run(capsys, "pr-summary", spec, "--repo", history.repo)
    assert (result.rc, result.err) == (0, "")
    assert result.out == expected_after_green(history, spec)


def test_pr_summary_without_a_baseline(history: History, capsys) -> None:
    """Before RUN_GREEN no GREEN run of phase B exists: its gate table, then 'no baseline'."""
    base = history.commits[RUN_RED]
    out = run(capsys, "pr-summary", f"{base}..{history.commits[RUN_GREEN]}", "--repo", history.repo).out
    assert (
        out
        == f"""\
## gerhard: 1 run registered (1 GREEN), 1 decision

| verdict | run | phase | gates passed | failed gates | decision | commit |
| --- | --- | --- | --- | --- | --- | --- |
| GREEN | `{RUN_GREEN}` | B | 6/6 |  |  | {short(history, RUN_GREEN)} |

Commits in `{base}..{history.commits[RUN_GREEN]}` ({base[:7]}..{short(history, RUN_GREEN)}).

### `{RUN_GREEN}`: phase B, GREEN

{RUN_GREEN} summary

| gate | result | observed | threshold | note |
| --- | --- | --- | --- | --- |
| val_loss_max | pass | 2.72 | &lt;= 2.9 |  |
| eval_pass_rate_min | pass | 1 | &gt;= 0.8 |  |
| spike_rate_band | pass | 0.105 | in \\[0.05, 0.25] |  |
| energy_ratio_advisory | pass | 0.41 | &lt;= 0.5 |  |
| clean_execution_order | pass | true | == true |  |
| val_loss_vs_best_green | pass | 2.72 | &lt;= best_green (none yet) | no GREEN baseline run of this phase yet: nothing to compare with |

No baseline: no GREEN run of phase B at {base[:7]}.

### Decisions

| run | decision | by | reason | commit |
| --- | --- | --- | --- | --- |
| `{RUN_RED}` | rerun | Test Researcher | spike rate collapsed; rerun with warmup | {short(history, "decide " + RUN_RED)} |
"""  # noqa: E501
    )


def test_pr_summary_of_an_empty_range(history: History, capsys) -> None:
    head = head_sha(history.repo)
    result = run(capsys, "pr-summary", "HEAD..HEAD", "--repo", history.repo)
    assert result.out == (
        f"## gerhard: 0 runs registered, 0 decisions\n\nCommits in `HEAD..HEAD` ({head[:7]}..{head[:7]}).\n"
    )


def test_pr_summary_from_the_first_commit(history: History, capsys) -> None:
    """At `gerhard init` there is no program status yet: no run has a baseline."""
    first = git_out(history.repo, "rev-list", "--max-parents=0", "HEAD").strip()
    out = run(capsys, "pr-summary", f"{first}..", "--repo", history.repo).out
    assert out.splitlines()[0] == "## gerhard: 5 runs registered (1 RED, 1 AMBER, 3 GREEN), 2 decisions"
    assert out.count(f"No baseline: no GREEN run of phase B at {first[:7]}.") == 3
    assert out.count(f"No baseline: no GREEN run of phase A at {first[:7]}.") == 2


@pytest.mark.parametrize("form", ["{base}...HEAD", "{base}", "{base}.."])
def test_other_range_forms(history: History, capsys, form: str) -> None:
    spec = form.format(base=history.commits[RUN_GREEN])
    out = run(capsys, "pr-summary", spec, "--repo", history.repo).out
    assert out == expected_after_green(history, spec)


# --- the default range ------------------------------------------------------------------------


def origin_head(repo: Path, sha: str, branch: str = "main") -> None:
    """What `git clone` leaves: the remote's branch and origin/HEAD naming it."""
    git_out(repo, "update-ref", f"refs/remotes/origin/{branch}", sha)
    git_out(repo, "symbolic-ref", "refs/remotes/origin/HEAD", f"refs/remotes/origin/{branch}")


def test_default_range_from_origin_head(history: History, capsys) -> None:
    origin_head(history.repo, history.commits[RUN_GREEN])
    out = run(capsys, "pr-summary", "--repo", history.repo).out
    assert out == expected_after_green(history, "origin/main...HEAD")


def test_the_default_base_is_not_the_branchs_upstream(history: History, capsys) -> None:
    """After `git push -u` the upstream holds the branch's own runs: the base branch is what counts."""
    origin_head(history.repo, history.commits[RUN_GREEN], "trunk")
    git_out(history.repo, "update-ref", "refs/remotes/origin/main", "HEAD")  # the branch, pushed
    git_out(history.repo, "remote", "add", "origin", str(history.repo.parent / "remote.git"))
    git_out(history.repo, "branch", "--set-upstream-to=origin/main")
    out = run(capsys, "pr-summary", "--repo", history.repo).out
    assert out == expected_after_green(history, "origin/trunk...HEAD")


def test_from_where_the_branch_left_its_base(history: History, capsys) -> None:
    """The base moved on after the branch left it: its new runs are not the branch's, and the deltas are
    against the baselines the branch was registered on."""
    git_out(history.repo, "switch", "-q", "-c", "later", history.commits[RUN_GREEN])
    git_out(history.repo, "commit", "-q", "--allow-empty", "-m", "meanwhile on main")
    origin_head(history.repo, head_sha(history.repo))
    git_out(history.repo, "switch", "-q", "main")
    out = run(capsys, "pr-summary", "--repo", history.repo).out
    assert out == expected_after_green(history, "origin/main...HEAD")


def test_without_origin_head_origin_main(history: History, capsys) -> None:
    """A repository pushed with `git remote add` has no origin/HEAD: origin/main, else origin/master."""
    git_out(history.repo, "update-ref", "refs/remotes/origin/master", history.commits[RUN_GREEN])
    out = run(capsys, "pr-summary", "--repo", history.repo).out
    assert out == expected_after_green(history, "origin/master...HEAD")
    git_out(history.repo, "update-ref", "refs/remotes/origin/main", history.commits[RUN_GREEN])
    out = run(capsys, "pr-summary", "--repo", history.repo).out
    assert out == expected_after_green(history, "origin/main...HEAD")


def test_the_remote_of_the_upstream(history: History, capsys) -> None:
    """A branch whose upstream is on another remote goes into that remote's default branch."""
    git_out(history.repo, "update-ref", "refs/remotes/team/main", history.commits[RUN_GREEN])
    git_out(history.repo, "symbolic-ref", "refs/remotes/team/HEAD", "refs/remotes/team/main")
    git_out(history.repo, "config", "branch.main.remote", "team")
    git_out(history.repo, "config", "branch.main.merge", "refs/heads/main")
    out = run(capsys, "pr-summary", "--repo", history.repo).out
    assert out == expected_after_green(history, "team/main...HEAD")


def test_after_git_push_u(registry: Path, bundle_a: Path, bundle_b_green: Path, capsys, tmp_path: Path) -> None:
    """The issue's case: a clone, a feature branch with two runs, `git push -u`, then pr-summary with no
    range lists the branch's runs (it used to compare with the upstream and find none)."""
    git_out(tmp_path, "clone", "-q", "--bare", str(registry), "remote.git")
    git_out(tmp_path, "clone", "-q", "remote.git", "clone")
    clone = tmp_path / "clone"
    git_out(clone, "switch", "-q", "-c", "feature")
    register_ok(capsys, clone, "20261101T100000Z_dense", "A", bundle_a)
    register_ok(capsys, clone, "20261102T100000Z_v15", "B", bundle_b_green)
    git_out(clone, "push", "-q", "-u", "origin", "feature")
    result = run(capsys, "pr-summary", "--repo", clone)
    assert (result.rc, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[0] == "## gerhard: 2 runs registered (2 GREEN), 0 decisions"
    assert [line.split(" | ")[1] for line in lines[4:6]] == ["`20261101T100000Z_dense`", "`20261102T100000Z_v15`"]
    base = head_sha(registry)
    assert lines[7] == f"Commits in `origin/main...HEAD` ({base[:7]}..{head_sha(clone)[:7]})."


def test_base_option(history: History, capsys) -> None:
    origin_head(history.repo, history.commits[RUN_A])
    git_out(history.repo, "branch", "release", history.commits[RUN_GREEN])
    out = run(capsys, "pr-summary", "--base", "release", "--repo", history.repo).out
    assert out == expected_after_green(history, "release...HEAD")


def test_no_base_branch(history: History, capsys) -> None:
    before = snapshot(history.repo)
    result = run(capsys, "pr-summary", "--repo", history.repo)
    assert_one_line_error(result)
    assert (result.out, result.err) == (
        "",
        "gerhard pr-summary: error: no base branch to compare with: origin/HEAD is not set and there is no "
        "origin/main or origin/master: pass the branch the pull request goes into (--base origin/main) or its "
        "range (origin/main..HEAD)\n",
    )
    assert snapshot(history.repo) == before


@pytest.mark.parametrize("base", ["nope", "-x", ""])
def test_a_base_that_is_not_a_commit(history: History, capsys, base: str) -> None:
    result = run(capsys, "pr-summary", "--repo", history.repo, f"--base={base}")
    assert_one_line_error(result)
    assert result.err == (
        f"gerhard pr-summary: error: --base {base!r} is not a commit here: fetch it first (git fetch origin) or "
        "name another branch, e.g. --base origin/main\n"
    )


def test_a_range_and_a_base(history: History, capsys) -> None:
    result = run(capsys, "pr-summary", "HEAD~1..HEAD", "--base", "main", "--repo", history.repo)
    assert_one_line_error(result)
    assert result.err == (
        "gerhard pr-summary: error: argument --base: not allowed with argument BASE..HEAD "
        "(see 'gerhard pr-summary --help')\n"
    )


def test_the_verdict_table(history: History, capsys) -> None:
    """One row per run, in the order registered: the failed gates named (advisory ones marked), the
    decision taken on the run in the same range."""
    first = git_out(history.repo, "rev-list", "--max-parents=0", "HEAD").strip()
    out = run(capsys, "pr-summary", f"{first}..", "--repo", history.repo).out
    c = {k: v[:7] for k, v in history.commits.items()}
    assert out.splitlines()[:9] == [
        "## gerhard: 5 runs registered (1 RED, 1 AMBER, 3 GREEN), 2 decisions",
        "",
        "| verdict | run | phase | gates passed | failed gates | decision | commit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| GREEN | `{RUN_A}` | A | 1/1 |  |  | {c[RUN_A]} |",
        f"| RED | `{RUN_RED}` | B | 2/6 | val_loss_max, eval_pass_rate_min, spike_rate_band, energy_ratio_advisory "
        f"(advisory) | rerun | {c[RUN_RED]} |",
        f"| GREEN | `{RUN_GREEN}` | B | 6/6 |  |  | {c[RUN_GREEN]} |",
        f"| AMBER | `{RUN_TUNED}` | B | 5/6 | energy_ratio_advisory (advisory) | advance | {c[RUN_TUNED]} |",
        f"| GREEN | `{RUN_A2}` | A | 1/1 |  |  | {c[RUN_A2]} |",
    ]


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "rev"),
    [("nope..HEAD", "nope"), ("HEAD..nope", "nope"), ("-x..HEAD", "-x"), ("HEAD..HEAD~99", "HEAD~99"), ("..", None)],
)
def test_bad_range(history: History, capsys, spec: str, rev: str | None) -> None:
    result = run(capsys, "pr-summary", "--repo", history.repo, "--", spec)
    if rev is None:  # '..' is HEAD..HEAD
        assert result.rc == 0 and result.out.startswith("## gerhard: 0 runs registered, 0 decisions\n")
        return
    assert_one_line_error(result)
    assert (result.out, result.err) == (
        "",
        f"gerhard pr-summary: error: range {spec!r}: {rev!r} is not a commit here: fetch it first (git fetch "
        "origin) or pass another range, e.g. origin/main..HEAD\n",
    )


def test_outside_a_git_repository(tmp_path: Path, capsys) -> None:
    result = run(capsys, "pr-summary", "a..b", "--repo", tmp_path)
    assert_one_line_error(result)
    assert result.err == (
        f"gerhard pr-summary: error: {tmp_path} is not inside a git repository: pass --repo with the "
        "path of your registry repository, or cd into it\n"
    )


# --- run text is inert ------------------------------------------------------------------------------


HOSTILE = "<script>alert(1)</script> [click](https://evil.example) ![x](y.png) **bold** | cell\n# heading"
INERT = (
    "&lt;script&gt;alert(1)&lt;/script&gt; \\[click](https\\:\\//evil\\.example) !\\[x](y\\.png) "
    "\\*\\*bold\\*\\* \\| cell"
)


def test_run_text_is_inert(registry: Path, capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base = head_sha(registry)
    at(monkeypatch, "2025-03-25T09:00:00Z")
    result = run(
        capsys, "register", "--repo", registry, "--run-id", RUN_TUNED, "--phase", "A", "--force",
        "--source-dir", tuned_bundle(tmp_path / "tuned"), "--summary", HOSTILE,
    )  # fmt: skip
    assert result.rc == 0, result.err
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Mallory [me](https://x.example) _x_")
    decision = decide(registry, RUN_TUNED, "waive", f"Reason: {HOSTILE}")
    out = run(capsys, "pr-summary", f"{base}..", "--repo", registry).out
    lines = out.splitlines()
    assert lines[10:12] == [INERT, "\\# heading"]  # the summary: two inert lines
    who = "Mallory \\[me](https\\:\\//x\\.example) \\_x\\_"
    assert lines[-1] == f"| `{RUN_TUNED}` | waive | {who} | {INERT} # heading | {decision[:7]} |"
    for raw in ("<script>", "![x]", "**bold**", "\n# heading", "https:/"):
        assert raw not in out, raw
    made = markup(out)
    assert [tag for kind, tag in made if kind == "heading_open"] == ["h2", "h3", "h3"]
    assert [kind for kind, _ in made if kind in FORBIDDEN] == []
    assert made.count(("tr_open", "tr")) == 2 + 2 + 2  # three tables of a header and one row each


FORBIDDEN = {"link_open", "image", "html_inline", "html_block", "em_open", "strong_open", "s_open", "blockquote_open"}


def markup(text: str) -> list[tuple[str, str]]:
    """What markdown makes of the text, words aside: blocks, and any link, image, HTML or emphasis."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("gfm-like").parse(text)
    inline = [c for t in tokens for c in t.children or [] if c.type not in ("text", "code_inline", "softbreak")]
    return [(t.type, t.tag) for t in tokens if t.type != "inline"] + [(c.type, c.tag) for c in inline]


def test_reason_of_a_decision_body() -> None:
    assert prsummary.reason_of("Reason: slow\n\nGerhard-Decision: stop\nGerhard-Run-Id: r") == "slow"
    assert prsummary.reason_of("first\n\nsecond\n\nGerhard-Decision: stop") == "first\n\nsecond"
    assert prsummary.reason_of("Gerhard-Decision: stop\nGerhard-Run-Id: r") == ""
    assert prsummary.reason_of("no trailers: here\nand text") == "no trailers: here\nand text"


@pytest.mark.parametrize("ghost", ["ghost", "../../up", "a b`c"])
def test_a_registration_without_its_record(history: History, capsys, monkeypatch, ghost: str) -> None:
    """A hand-made commit that claims a registration, with no record in it (or an id no record can have)."""
    at(monkeypatch, "2025-06-01T00:00:00Z")
    trailers = f"Gerhard-Run-Id: {ghost}\nGerhard-Phase: B\nGerhard-Verdict: GREEN"
    message = f"register {ghost} (phase B): GREEN 6/6 gates passed\n\n{trailers}"
    git_out(history.repo, "commit", "-q", "--allow-empty", "-m", message)
    result = run(capsys, "pr-summary", "HEAD~1..HEAD", "--repo", history.repo)
    sha = head_sha(history.repo)[:7]
    shown = reports.code(ghost)
    assert (result.rc, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[3:5] == ["| --- | --- | --- | --- | --- | --- | --- |", f"| GREEN | {shown} | B | ? | ? |  | {sha} |"]
    assert lines[-3:] == [f"### {shown}: phase B, GREEN", "", f"No run record in commit {sha}."]


def test_a_damaged_ledger_line_is_skipped(history: History, capsys) -> None:
    """The latest GREEN run of phase A comes from BASE's ledger; a line that is not JSON is passed over."""
    git_out(history.repo, "switch", "-q", "-c", "base", history.commits[RUN_GREEN])
    for ledger in (history.repo / "state/ledger").glob("*.jsonl"):
        ledger.write_text(ledger.read_text() + "{ damaged\n[1, 2]\n")
    git_out(history.repo, "commit", "-q", "-am", "damage")
    base = head_sha(history.repo)
    git_out(history.repo, "switch", "-q", "main")
    result = run(capsys, "pr-summary", "base..main", "--repo", history.repo)
    assert result.rc == 0, result.err
    assert f"Metric deltas against `{RUN_A}`, the latest GREEN run of phase A at {base[:7]}:" in result.out
