"""Pull requests merged as a hosting service merges them (issue 16): plain git in a clone with no merge
driver, by merge commit, squash (GitHub's and GitLab's messages) and rebase-and-merge. Branches carry
their runs' own files only, so no merge conflicts; the default branch's refresh folds them in; check,
log, list and show agree after every method."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import git_out, run
from conftest import EXAMPLES, QuietCapture, copy_registry, git, isolate_git, snapshot
from pr_helpers import (
    MERGES,
    assert_checks,
    bare_remote,
    clone,
    decide_on_a_branch,
    host,
    logged_runs,
    refresh,
    register_own,
)

BASE = "base_a"
# branch -> its runs (run id, phase, bundle), registered in this order; pr1 also decides its RED run.
PULL_REQUESTS = {
    "pr1": [("r1_a", "A", "a"), ("r1_b", "B", "red")],
    "pr2": [("r2_heavy", "A", "heavy")],
    "pr3": [("r3_b", "B", "green")],
    "pr4": [("r4_a", "A", "a"), ("r4_b", "B", "red"), ("r4_b2", "B", "green")],
    "pr5": [("r5_b", "B", "red")],
}
DECIDED = ("pr1", "r1_b", "waive")
CHECKPOINT = bytes(range(256)) * 64  # pr2's heavy file: stored remote, git-ignored


def bundles(where: Path) -> dict[str, Path]:
    made = {}
    for name, example in (("a", "phase_a_green"), ("red", "phase_b_red"), ("green", "phase_b_green")):
        made[name] = where / name
        shutil.copytree(EXAMPLES / example, made[name])
    made["heavy"] = where / "heavy"
    shutil.copytree(EXAMPLES / "phase_a_green", made["heavy"])
    (made["heavy"] / "model.pt").write_bytes(CHECKPOINT)
    return made


@pytest.fixture(scope="module")
def pushed(registry_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare remote: main with one run (phase A passed), and five pull-request branches made in their
    own clones with gerhard (origin/HEAD names main: off it, each registers its runs' own files)."""
    tmp = tmp_path_factory.mktemp("pull-requests")
    quiet = QuietCapture()
    with pytest.MonkeyPatch.context() as mp:
        isolate_git(mp, tmp)
        made = bundles(tmp)
        registry = copy_registry(registry_template, tmp / "registry")
        register_own(quiet, registry, BASE, "A", made["a"])  # type: ignore[arg-type]
        remote = bare_remote(registry, tmp)
        for branch, runs in PULL_REQUESTS.items():
            author = clone(remote, tmp / branch, branch)
            for run_id, phase, bundle in runs:
                register_own(quiet, author, run_id, phase, made[bundle])  # type: ignore[arg-type]
            if branch == DECIDED[0]:
                decided = run(quiet, "decide", DECIDED[1], DECIDED[2], "--reason", "fine", "--repo", author)  # type: ignore[arg-type]
                assert decided.rc == 0, decided.err
            git(author, "push", "-q", "origin", branch)
    return remote


@pytest.fixture
def remote(pushed: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "remote.git"
    shutil.copytree(pushed, copy)
    return copy


def run_ids(*branches: str) -> set[str]:
    return {BASE} | {run_id for b in branches for run_id, _, _ in PULL_REQUESTS[b]}


def verdicts(repo: Path) -> dict[str, str]:
    """run id -> verdict, from each record."""
    out = {}
    for path in (repo / "state" / "runs").glob("*.yaml"):
        out[path.stem] = next(
            line.split(": ")[1] for line in path.read_text().splitlines() if line.startswith("verdict:")
        )
    return out


def assert_audit_agrees(capsys, repo: Path, runs: set[str]) -> None:
    """check passes; log, list and show name every run with the verdict its record holds."""
    assert_checks(capsys, repo)
    recorded = verdicts(repo)
    assert set(recorded) == runs
    assert logged_runs(capsys, repo) == recorded
    listed = json.loads(run(capsys, "list", "--limit", "0", "--json", "--repo", repo).out)
    assert {row["run_id"]: row["verdict"] for row in listed} == recorded
    for run_id, verdict in recorded.items():
        shown = json.loads(run(capsys, "show", run_id, "--json", "--repo", repo).out)
        assert shown["verdict"] == verdict


# --- two pull requests, every merge method -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "order"),
    [
        ("merge", ("pr1", "pr2")),
        ("merge", ("pr2", "pr1")),
        ("squash-github", ("pr1", "pr2")),
        ("squash-gitlab", ("pr2", "pr1")),
        ("rebase", ("pr1", "pr2")),
        ("rebase", ("pr2", "pr1")),
    ],
)
def test_two_pull_requests_merge_with_plain_git(remote: Path, tmp_path: Path, capsys, method: str, order) -> None:
    for branch in order:
        MERGES[method](remote, tmp_path, branch)  # asserts git merged it with no conflict
    behind = host(remote, tmp_path)
    checked = run(capsys, "check", "--repo", behind)
    assert checked.rc == 1
    assert "state/program_status.yaml does not hold the 3 runs and 1 decision merged since the last refresh: " \
        "'gerhard rebuild --refresh --commit' folds them in (the CI workflow's step on the default branch does)" \
        in checked.out.splitlines()  # fmt: skip
    refresh(remote, tmp_path, capsys, "--refresh")
    main = clone(remote, tmp_path / "main")
    assert_audit_agrees(capsys, main, run_ids(*order))
    assert (main / "outputs" / "r2_heavy" / "MANIFEST").is_file()
    assert "model.pt" not in git_out(main, "ls-files", "outputs/r2_heavy")
    needs = (main / "state" / "needs_input" / "r1_b.yaml").read_text()
    assert "status: resolved" in needs and "decision: waive" in needs


def test_a_squash_keeps_every_registration_in_the_log(remote: Path, tmp_path: Path, capsys) -> None:
    """GitHub's squash message: each commit's message a bullet, then a separator and Co-authored-by
    lines; git's own trailer parser sees none of gerhard's trailers."""
    MERGES["squash-github"](remote, tmp_path, "pr4")
    main = clone(remote, tmp_path / "main")
    assert git_out(main, "log", "-1", "--format=%(trailers:key=Gerhard-Run-Id)").strip() == ""
    entries = json.loads(run(capsys, "log", "--json", "--repo", main).out)
    squash = git_out(main, "rev-parse", "HEAD").strip()
    assert [(e["run_id"], e["verdict"], e["commit"]) for e in entries[:3]] == [
        ("r4_a", "GREEN", squash),
        ("r4_b", "RED", squash),
        ("r4_b2", "GREEN", squash),
    ]
    only = json.loads(run(capsys, "log", "--json", "--run-id", "r4_b", "--repo", main).out)
    assert [(e["run_id"], e["kind"]) for e in only] == [("r4_b", "registration")]


def test_a_title_only_squash_is_found_by_what_it_added(remote: Path, tmp_path: Path, capsys) -> None:
    """GitLab's squash message is the title: each run is recognised by the commit that added its
    record, its verdict and hashes read from the record; the decision by the commit that added it."""
    MERGES["squash-gitlab"](remote, tmp_path, "pr1")
    main = clone(remote, tmp_path / "main")
    squash = git_out(main, "rev-parse", "HEAD").strip()
    entries = json.loads(run(capsys, "log", "--json", "--repo", main).out)
    found = {(e["kind"], e["run_id"], e["verdict"] or e["decision"]) for e in entries if e["commit"] == squash}
    assert found == {("registration", "r1_a", "GREEN"), ("registration", "r1_b", "RED"), ("decision", "r1_b", "waive")}
    record = (main / "state" / "runs" / "r1_b.yaml").read_text()
    (entry,) = [e for e in entries if e["run_id"] == "r1_b" and e["kind"] == "registration"]
    assert f"bundle_sha256: {entry['bundle_sha256']}" in record and entry["subject"] == "Pull request pr1 (#7)"
    only = json.loads(run(capsys, "log", "--json", "--run-id", "r1_b", "--repo", main).out)
    assert sorted(e["kind"] for e in only) == ["decision", "registration"]


# --- five pull requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "order",
    [("pr1", "pr2", "pr3", "pr4", "pr5"), ("pr5", "pr3", "pr1", "pr4", "pr2"), ("pr4", "pr2", "pr5", "pr1", "pr3")],
)
def test_five_pull_requests_refreshed_after_each_merge(remote: Path, tmp_path: Path, capsys, order) -> None:
    """As the CI workflow runs it: every merge, then the refresh on the default branch. Each refresh
    equals a rebuild (rebuild --check after it), however the runs of parallel branches interleave."""
    for n, branch in enumerate(order):
        MERGES["merge" if n % 2 else "rebase"](remote, tmp_path, branch)
        refresh(remote, tmp_path, capsys, "--refresh")
        main = clone(remote, tmp_path / f"main{n}")
        assert run(capsys, "rebuild", "--check", "--repo", main).rc == 0, branch
    assert_audit_agrees(capsys, main, run_ids(*order))


def test_five_pull_requests_refreshed_once(remote: Path, tmp_path: Path, capsys) -> None:
    for branch in ("pr3", "pr1", "pr5", "pr2", "pr4"):
        MERGES["merge"](remote, tmp_path, branch)
    said = refresh(remote, tmp_path, capsys, "--refresh")
    assert said.startswith("17 derived files rebuilt, 8 committed in ")
    main = clone(remote, tmp_path / "main")
    subject = git_out(main, "log", "-1", "--format=%s%n%(trailers:key=Gerhard-Rebuild,valueonly)")
    assert subject.splitlines()[1:] == ["9 runs", ""]
    assert subject.startswith("refresh ") and subject.splitlines()[0].endswith(
        ": fold in the 8 runs and 1 decision merged"
    )
    assert_audit_agrees(capsys, main, run_ids(*PULL_REQUESTS))
    again = run(capsys, "rebuild", "--refresh", "--commit", "--repo", main)
    assert (again.rc, again.err) == (0, "the aggregates hold every run and decision: nothing to refresh\n")


def test_the_default_branch_heals_at_its_next_registration(
    remote: Path, tmp_path: Path, capsys, bundle_b_green: Path
) -> None:
    """No CI: a registration on the default branch sees the merged runs (status on read) and its fold
    recomputes the aggregates."""
    for branch in ("pr1", "pr3"):
        MERGES["merge"](remote, tmp_path, branch)
    main = clone(remote, tmp_path / "main")
    status = run(capsys, "status", "--repo", main).out
    assert "4 runs registered" in status and "latest: r1_b (RED)" in status  # landing order: seq 3 last
    register_own(capsys, main, "main_b", "B", bundle_b_green)
    assert "seq: 5" in (main / "state" / "runs" / "main_b.yaml").read_text()
    assert_audit_agrees(capsys, main, run_ids("pr1", "pr3") | {"main_b"})


# --- on a branch --------------------------------------------------------------------------------------


def test_a_branch_judges_its_runs_after_its_own(remote: Path, tmp_path: Path, capsys, bundle_a: Path) -> None:
    """status, list and show latest include the branch's runs; the next registration's number follows
    them; check passes with the aggregates as the default branch left them."""
    author = clone(remote, tmp_path / "author")
    git(author, "switch", "-q", "pr4")
    status = run(capsys, "status", "--repo", author).out.splitlines()
    assert status[0] == "asnn-goose-v15: phase C (active), 4 runs registered"
    assert any(line.startswith("latest: r4_b2 (GREEN)") for line in status)
    listed = run(capsys, "list", "--repo", author).out.splitlines()
    assert [line.split()[1] for line in listed[1:]] == ["r4_b2", "r4_b", "r4_a", BASE]
    assert json.loads(run(capsys, "show", "latest", "--json", "--repo", author).out)["run_id"] == "r4_b2"
    register_own(capsys, author, "r4_more", "A", bundle_a)
    assert "seq: 5" in (author / "state" / "runs" / "r4_more.yaml").read_text()
    changed = git_out(author, "show", "--name-only", "--format=", "HEAD").split()
    outside = [p for p in changed if not p.startswith("outputs/r4_more/")]
    assert len(outside) == 2 and outside[1] == "state/runs/r4_more.yaml"
    assert outside[0].startswith("reports/") and outside[0].endswith("/r4_more.md")
    checked = run(capsys, "check", "--repo", author)
    assert checked.rc == 0, checked.out


def test_a_decision_on_a_run_of_the_default_branch(remote: Path, tmp_path: Path, capsys, bundle_b_red: Path) -> None:
    """Off the default branch, deciding a run it folded writes the decision file only: the run's
    needs-input file is the default branch's (another pull request's run may answer it first)."""
    setup = clone(remote, tmp_path / "setup")
    register_own(capsys, setup, "main_red", "B", bundle_b_red)
    git(setup, "push", "-q", "origin", "main")
    author = decide_on_a_branch(capsys, remote, tmp_path, "decide", "main_red", "rerun", "--reason", "fix the data")
    assert "needs input: state/needs_input/main_red.yaml" not in run(capsys, "status", "--repo", author).out
    assert run(capsys, "check", "--repo", author).rc == 0
    git(author, "push", "-q", "origin", "decide")
    MERGES["merge"](remote, tmp_path, "pr3")  # pr3's GREEN run of phase B would answer it otherwise
    refresh(remote, tmp_path, capsys, "--refresh")
    MERGES["merge"](remote, tmp_path, "decide")
    refresh(remote, tmp_path, capsys, "--refresh")
    main = clone(remote, tmp_path / "main")
    assert_audit_agrees(capsys, main, run_ids("pr3") | {"main_red"})


def test_refresh_off_the_default_branch_is_refused(remote: Path, tmp_path: Path, capsys) -> None:
    author = clone(remote, tmp_path / "author")
    git(author, "switch", "-q", "pr1")
    before = snapshot(author)
    refused = run(capsys, "rebuild", "--refresh", "--commit", "--repo", author)
    assert (refused.rc, refused.err) == (
        2,
        "gerhard rebuild: error: --refresh folds merged runs into the default branch's aggregates, and this is "
        "branch pr1 (the default branch is main): run it there (the CI workflow's step does), or 'gerhard rebuild' "
        "here\n",
    )
    assert snapshot(author) == before


def test_rebuild_on_a_branch_restores_what_the_branch_holds(remote: Path, tmp_path: Path, capsys) -> None:
    author = clone(remote, tmp_path / "author")
    git(author, "switch", "-q", "pr1")
    held = (author / "state" / "program_status.yaml").read_text()
    report = next((author / "reports").rglob("r1_a.md"))
    (author / "state" / "program_status.yaml").write_text(held.replace("latest_verdict: GREEN", "latest_verdict: RED"))
    report.write_text("edited\n")
    checked = run(capsys, "check", "--repo", author)
    assert checked.rc == 1 and len(checked.out.splitlines()) == 2
    done = run(capsys, "rebuild", "--repo", author)
    assert done.rc == 0
    assert done.err.splitlines()[0] == (
        "on branch pr1 (the default branch is main): the aggregates stay as the default branch wrote them"
    )
    assert (author / "state" / "program_status.yaml").read_text() == held
    assert git_out(author, "status", "--porcelain") == ""


def test_check_takes_a_title_only_squash_as_the_registration_and_says_so(remote: Path, tmp_path: Path, capsys) -> None:
    """No trailers name the runs: the commit that added each run's record and archive together is its
    registration, all it added holding (files, bundle, gates evaluated again); check passes with a note."""
    MERGES["squash-gitlab"](remote, tmp_path, "pr1")
    refresh(remote, tmp_path, capsys, "--refresh")
    main = clone(remote, tmp_path / "main")
    squash = git_out(main, "log", "-1", "--format=%h", "--abbrev=12", "HEAD~1").strip()
    checked = run(capsys, "check", "--json", "--full", "--repo", main)
    found = json.loads(checked.out)
    assert (checked.rc, found["ok"], found["problems"]) == (0, True, [])
    said = f"has no Gerhard-* trailers: commit {squash} ('Pull request pr1 (#7)', "
    assert [note.partition(said)[0] for note in found["notes"]] == ["note: run r1_a ", "note: run r1_b "]
