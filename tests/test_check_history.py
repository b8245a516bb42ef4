"""gerhard check audits the history (issue 15): every run as the commit that registered it wrote it.

Each way a run can be changed behind gerhard's back, made as a user would make it (a hand edit and
`git commit --no-verify`, `git revert`, `git rm`, a copied record, a commit-msg hook, an amended
registration), is named by `check` with the offending commit and its author, exit 1; a withdrawn run
passes. The incremental check (from the commit the last passing check verified) finds the same.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import copy_run_by_hand, register_ok, run
from conftest import RUN_A, RUN_B, git

from gerhard.registry.bundle import BundleFile, bundle_sha256
from gerhard.team import history as team_history

WHO = "Test Researcher <researcher@example.com>"
MALLORY = "Mallory <mallory@example.com>"
RUN_C = "20261102T090000Z_green"
RUN_D = "20261102T100000Z_worse"
CLEAN = "every run as registered, derived files up to date\n"


def short(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "rev-parse", rev).strip()[:12]


def registered_in(repo: Path, run_id: str) -> str:
    return git(repo, "log", "-1", "--format=%H", f"--grep=^Gerhard-Run-Id: {run_id}$")[:12]


def subject(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "log", "-1", "--format=%s", rev).strip()


def as_mallory(monkeypatch: pytest.MonkeyPatch, repo: Path, *args: str) -> str:
    """A commit by someone else (git's author comes from the environment here, as in every test)."""
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Mallory")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "mallory@example.com")
    git(repo, "commit", "-q", "--no-verify", *args)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Researcher")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "researcher@example.com")
    return short(repo)


def check(capsys, repo: Path, *args: str) -> list[str]:
    """check's problems, each way: incremental (from what the last passing check verified) and --full."""
    found = run(capsys, "check", "--repo", repo, *args)
    full = run(capsys, "check", "--repo", repo, "--full")
    assert (found.rc, full.rc) == (1, 1), (found.out, found.err)
    assert found.out == full.out
    return found.out.splitlines()


def changed(run_id: str, registered: str, commit: str, subject: str, who: str, what: str, fix: str) -> str:
    return (
        f"run {run_id} was changed after its registration in commit {registered}: commit {commit} ({subject!r}, "
        f"{who}) {what}; a run is write-once (a decision changes none of its files): restore it with {fix}, "
        "then 'gerhard rebuild' and commit"
    )


@pytest.fixture
def audited(registered_ab: Path, capsys) -> Path:
    """RUN_A (A, GREEN) and RUN_B (B, RED), checked once: the next check starts from HEAD."""
    passed = run(capsys, "check", "--repo", registered_ab)
    assert (passed.rc, passed.err) == (0, ""), passed.out
    head = git(registered_ab, "rev-parse", "HEAD").strip()
    assert (registered_ab / ".git" / "gerhard-check").read_text() == f"{head} 1\n"  # never committed
    return registered_ab


# --- what passes -----------------------------------------------------------------------------------


def test_a_registry_as_registered_passes_and_the_next_check_reads_only_what_is_new(
    audited: Path, bundle_b_green: Path, capsys
) -> None:
    again = run(capsys, "check", "--repo", audited)
    since = short(audited)
    assert again.out == f"checked 0 runs, 0 files, 0 commits since {since}: {CLEAN}"
    before = git(audited, "rev-parse", "HEAD").strip()
    register_ok(capsys, audited, RUN_C, "B", bundle_b_green)
    new = run(capsys, "check", "--repo", audited, "--json")
    assert json.loads(new.out) == {
        "ok": True,
        "runs": 1,
        "files": 7,
        "commits": 1,
        "since": before,
        "problems": [],
        "warnings": [],
        "notes": [],
    }
    full = run(capsys, "check", "--repo", audited, "--full")
    assert full.out == f"checked 3 runs, 19 files, 4 commits: {CLEAN}"


def test_a_withdrawn_run_passes(audited: Path, capsys) -> None:
    done = run(capsys, "decide", RUN_B, "withdraw", "--reason", "registered from the wrong branch", "--repo", audited)
    assert done.rc == 0, done.err
    assert run(capsys, "check", "--repo", audited).rc == 0
    assert run(capsys, "check", "--repo", audited, "--full").rc == 0
    assert (audited / "state" / "runs" / f"{RUN_B}.yaml").is_file()  # the record stays, as registered


def test_a_history_rewritten_since_the_last_check_is_verified_whole(
    audited: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The remembered commit is gone from the branch (an amend, a rebase): nothing to start from."""
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2030-01-01T00:00:00Z")  # an amend in the same second is no new commit
    git(audited, "commit", "-q", "--amend", "--no-edit")
    assert git(audited, "rev-parse", "HEAD").strip() != (audited / ".git" / "gerhard-check").read_text().split()[0]
    checked = run(capsys, "check", "--repo", audited)
    assert checked.out == f"checked 2 runs, 12 files, 3 commits: {CLEAN}"


# --- what is named -----------------------------------------------------------------------------------


def test_a_forged_verdict(audited: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """A RED record edited to GREEN, the derived files rebuilt to match, committed past the hook."""
    rel = f"state/runs/{RUN_B}.yaml"
    path = audited / rel
    path.write_text(path.read_text().replace("verdict: RED", "verdict: GREEN"))
    assert run(capsys, "rebuild", "--repo", audited).rc == 0
    git(audited, "add", "-A")
    forged = as_mallory(monkeypatch, audited, "-m", "fix the verdict")
    reg = registered_in(audited, RUN_B)
    assert check(capsys, audited) == [
        changed(RUN_B, reg, forged, "fix the verdict", MALLORY, f"changed {rel}", f"'git checkout {reg} -- {rel}'")
    ]


def rewrite_metrics(repo: Path, run_id: str, change: Callable[[dict], None]) -> None:
    """A run's metrics.json changed, its MANIFEST and its record's bundle hash rewritten to match: every
    hash agrees."""
    folder = repo / "outputs" / run_id
    metrics = json.loads((folder / "metrics.json").read_text())
    change(metrics)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    manifest = json.loads((folder / "MANIFEST").read_text())
    for entry in manifest["files"]:
        if entry["path"] == "metrics.json":
            data = (folder / "metrics.json").read_bytes()
            entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    old = manifest["bundle_sha256"]
    manifest["bundle_sha256"] = bundle_sha256(
        [BundleFile(e["path"], e["size"], e["sha256"]) for e in manifest["files"]]
    )
    (folder / "MANIFEST").write_text(json.dumps(manifest, indent=2))
    record = repo / "state" / "runs" / f"{run_id}.yaml"
    record.write_text(record.read_text().replace(old, manifest["bundle_sha256"]))


def test_a_consistent_rewrite(audited: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """metrics.json, the MANIFEST and the record's bundle hash rewritten together: every hash agrees."""
    rewrite_metrics(audited, RUN_B, lambda m: m["final"].update(val_loss=2.4))
    assert run(capsys, "rebuild", "--repo", audited).rc == 0
    git(audited, "add", "-A")
    rewrite = as_mallory(monkeypatch, audited, "-m", "better metrics")
    reg = registered_in(audited, RUN_B)
    paths = [f"outputs/{RUN_B}/MANIFEST", f"outputs/{RUN_B}/metrics.json", f"state/runs/{RUN_B}.yaml"]
    assert check(capsys, audited) == [
        changed(
            RUN_B,
            reg,
            rewrite,
            "better metrics",
            MALLORY,
            f"changed {paths[0]}, {paths[1]} and {paths[2]}",
            f"'git checkout {reg} -- {' '.join(paths)}'",
        )
    ]


def test_a_git_revert_of_a_registration(audited: Path, capsys) -> None:
    """git revert runs no pre-commit hook: the run is gone from list, and check says who took it."""
    git(audited, "revert", "--no-edit", "HEAD")
    reg, revert = registered_in(audited, RUN_B), short(audited)
    assert check(capsys, audited) == [
        f"run {RUN_B}, registered in commit {reg}, is gone: commit {revert} ({subject(audited)!r}, {WHO}) deleted "
        f"state/runs/{RUN_B}.yaml; a registered run is never removed: restore it with 'git checkout {reg} -- "
        f"state/runs/{RUN_B}.yaml outputs/{RUN_B}' and 'gerhard rebuild', commit, and withdraw it if it was a "
        f"mistake (gerhard decide {RUN_B} withdraw --reason '...')"
    ]


def test_a_deleted_run_folder(audited: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    git(audited, "rm", "-rq", f"outputs/{RUN_A}")
    tidy = as_mallory(monkeypatch, audited, "-m", "tidy outputs")
    reg = registered_in(audited, RUN_A)
    assert check(capsys, audited) == [
        changed(
            RUN_A,
            reg,
            tidy,
            "tidy outputs",
            MALLORY,
            f"deleted outputs/{RUN_A}/",
            f"'git checkout {reg} -- outputs/{RUN_A}'",
        )
    ]


def test_a_hand_added_record(audited: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of a run's archive and record under another id, its MANIFEST and derived files made to match: a
    commit that adds a run untold is its registration only with a bundle no other run holds."""
    run_id = "20261103T080000Z_copy"
    copy_run_by_hand(audited, RUN_A, run_id, seq=3)
    assert run(capsys, "rebuild", "--repo", audited).rc == 0
    git(audited, "add", "-A")
    added = as_mallory(monkeypatch, audited, "-m", "add a run")
    assert check(capsys, audited) == [hand_added(run_id, f"state/runs/{run_id}.yaml", added, "add a run")]


def hand_added(run_id: str, rel: str, added: str, subject: str) -> str:
    """What check says of a record no registration wrote."""
    return (
        f"{rel} was added by commit {added} ({subject!r}, {MALLORY}) without a registration: gerhard's Gerhard-* "
        "trailers register no such run (written by hand, or its commit lost them: a commit-msg hook, an amend, a "
        f"squash merge's message); remove the run (git rm -r {rel} outputs/{run_id}) and register it with "
        "'gerhard register'"
    )


def own_copy(repo: Path, run_id: str, change: Callable[[dict], None]) -> None:
    """RUN_A copied under another id by hand, its metrics.json changed: a bundle of its own, every hash agreeing."""
    copy_run_by_hand(repo, RUN_A, run_id, seq=3)
    rewrite_metrics(repo, run_id, change)


@pytest.mark.parametrize("many", [64, 0], ids=["paths asked of git", "their folders asked of git"])
def test_a_run_added_untold_with_all_it_needs_is_taken_as_registered_and_said(
    audited: Path, capsys, monkeypatch: pytest.MonkeyPatch, many: int
) -> None:
    """A commit that adds a run's record and archive together and names no run (a title-only squash merge,
    as GitLab writes it) is its registration when all of it holds: files as their MANIFEST says, a bundle of
    its own, its gates evaluated again giving the recorded results. A run made by hand that holds as well
    passes (as it would through 'gerhard register'); check says so, in a note."""
    monkeypatch.setattr(team_history, "MANY_PATHS", many)
    run_id = "20261103T080000Z_mine"
    own_copy(audited, run_id, lambda m: m.update(note="a key no gate reads"))
    assert run(capsys, "rebuild", "--repo", audited).rc == 0
    git(audited, "add", "-A")
    added = as_mallory(monkeypatch, audited, "-m", "Pull request 7")
    note = (
        f"note: run {run_id} has no Gerhard-* trailers: commit {added} ('Pull request 7', {MALLORY}) added its "
        "record and archive together (a squash merge that kept only its title), taken as its registration: its "
        "files match its MANIFEST, no other run holds its bundle, and its gates, evaluated again under "
        "state/program.yaml of that commit, give the recorded results\n"
    )
    for args in ((), ("--full",)):
        checked = run(capsys, "check", "--repo", audited, *args)
        assert (checked.rc, checked.err) == (0, note), checked.out
    as_json = json.loads(run(capsys, "check", "--json", "--full", "--repo", audited).out)
    assert (as_json["ok"], as_json["notes"]) == (True, [note.rstrip("\n")])


def test_a_run_added_untold_whose_gates_say_otherwise(audited: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, its metrics changed past its gate: the record's GREEN is not what its gates give."""
    run_id = "20261103T080000Z_mine"
    own_copy(audited, run_id, lambda m: m["final"].update(val_loss=9.5))
    assert run(capsys, "rebuild", "--repo", audited).rc == 0
    git(audited, "add", "-A")
    added = as_mallory(monkeypatch, audited, "-m", "Pull request 7")
    assert check(capsys, audited) == [hand_added(run_id, f"state/runs/{run_id}.yaml", added, "Pull request 7")]


def test_a_record_added_apart_from_its_archive(audited: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's archive in one commit, its record in the next: no commit added the run, none registered it."""
    run_id = "20261103T080000Z_mine"
    own_copy(audited, run_id, lambda m: m.update(note="a key no gate reads"))
    git(audited, "add", f"outputs/{run_id}")
    as_mallory(monkeypatch, audited, "-m", "the files")
    assert run(capsys, "rebuild", "--repo", audited).rc == 0
    git(audited, "add", "-A")
    added = as_mallory(monkeypatch, audited, "-m", "the record")
    assert check(capsys, audited) == [hand_added(run_id, f"state/runs/{run_id}.yaml", added, "the record")]


def test_a_commit_msg_hook_that_strips_the_trailers(audited: Path, capsys) -> None:
    """gerhard refuses such a hook (tests/test_githooks.py); a registration amended under it lands without them."""
    hook = audited / ".git" / "hooks" / "commit-msg"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text('#!/bin/sh\nsed -i "/^Gerhard-/d" "$1"\n')
    hook.chmod(0o755)
    git(audited, "commit", "-q", "--amend", "--no-edit")
    assert "Gerhard-" not in git(audited, "log", "-1", "--format=%B")
    rel = f"state/runs/{RUN_B}.yaml"
    assert run(capsys, "check", "--repo", audited).out.splitlines() == [
        f"{rel} was added by commit {short(audited)} ({subject(audited)!r}, {WHO}) without a registration: gerhard's "
        "Gerhard-* trailers register no such run (written by hand, or its commit lost them: a commit-msg hook, an "
        f"amend, a squash merge's message); remove the run (git rm -r {rel} outputs/{RUN_B}) and register it with "
        "'gerhard register'"
    ]


def amend_to_green(repo: Path) -> None:
    """The last commit (RUN_B's registration) amended: its Gerhard-Verdict trailer made GREEN."""
    message = git(repo, "log", "-1", "--format=%B").replace("Gerhard-Verdict: RED", "Gerhard-Verdict: GREEN")
    git(repo, "commit", "-q", "--amend", "--no-verify", "-m", message)


def test_an_amended_registration_whose_trailers_say_otherwise(audited: Path, capsys) -> None:
    amend_to_green(audited)
    assert run(capsys, "check", "--repo", audited).out.splitlines() == [
        f"commit {short(audited)} ({subject(audited)!r}, {WHO}) registered run {RUN_B} with trailers that do not "
        "match the record it wrote (Gerhard-Verdict: GREEN, the record: RED): the commit was not written as gerhard "
        f"wrote it; withdraw the run (gerhard decide {RUN_B} withdraw --reason '...') and register it again under a "
        "new id"
    ]


def test_a_forged_registration_commit_is_found_by_its_gates(audited: Path, capsys) -> None:
    """The registration commit itself made GREEN, trailers and all: its gates, evaluated again from the
    archived files under that commit's program.yaml, still say RED."""
    rel = f"state/runs/{RUN_B}.yaml"
    path = audited / rel
    path.write_text(path.read_text().replace("verdict: RED", "verdict: GREEN"))
    assert run(capsys, "rebuild", "--repo", audited).rc == 0
    git(audited, "add", "-A")
    amend_to_green(audited)
    assert run(capsys, "check", "--repo", audited).out.splitlines() == [
        f"{rel} is not what its gates give, evaluated again from outputs/{RUN_B}/ under state/program.yaml of commit "
        f"{short(audited)} (verdict RED, the record has GREEN): withdraw the run (gerhard decide {RUN_B} withdraw "
        "--reason '...') and register it again under a new id"
    ]


def test_a_registration_before_the_last_check_changed_after_it(
    audited: Path, bundle_b_green: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The incremental check finds a run registered before the commit it starts from by its trailers."""
    register_ok(capsys, audited, RUN_C, "B", bundle_b_green)
    seed = f"outputs/{RUN_A}/seed.txt"
    (audited / seed).write_text("12\n")
    git(audited, "add", seed)
    edit = as_mallory(monkeypatch, audited, "-m", "seed")
    reg = registered_in(audited, RUN_A)
    assert check(capsys, audited) == [
        changed(RUN_A, reg, edit, "seed", MALLORY, f"changed {seed}", f"'git checkout {reg} -- {seed}'")
    ]


def test_a_relative_gate_is_evaluated_again_against_its_baseline_run_s_record(
    audited: Path, bundle_b_green: Path, tmp_path: Path, capsys
) -> None:
    """A gate that reads the record of a baseline run (read before the run: its gates are evaluated again
    as its record comes in) passes as registered; the registration forged to pass it, the baseline run's
    observed value says otherwise."""
    register_ok(capsys, audited, RUN_C, "B", bundle_b_green)
    worse = shutil.copytree(bundle_b_green, tmp_path / "worse")
    metrics = json.loads((worse / "metrics.json").read_text())
    metrics["final"]["val_loss"] += 0.1  # under val_loss_max, a regression against RUN_C
    (worse / "metrics.json").write_text(json.dumps(metrics))
    register_ok(capsys, audited, RUN_D, "B", worse)
    assert run(capsys, "check", "--repo", audited, "--full").out == f"checked 4 runs, 26 files, 5 commits: {CLEAN}"
    rel = f"state/runs/{RUN_D}.yaml"
    path = audited / rel
    assert path.read_text().count("passed: false") == 1  # val_loss_vs_best_green, against RUN_C
    path.write_text(path.read_text().replace("passed: false", "passed: true"))
    assert run(capsys, "rebuild", "--repo", audited).rc == 0
    git(audited, "add", "-A")
    git(audited, "commit", "-q", "--amend", "--no-edit", "--no-verify")
    assert check(capsys, audited) == [
        f"{rel} is not what its gates give, evaluated again from outputs/{RUN_D}/ under state/program.yaml of commit "
        f"{short(audited)} (gate val_loss_vs_best_green: passed False, the record has True): withdraw the run "
        f"(gerhard decide {RUN_D} withdraw --reason '...') and register it again under a new id"
    ]
